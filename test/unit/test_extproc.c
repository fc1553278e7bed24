/* Unit tests for the ext_proc stream state machine (lib/extproc/stream.c),
 * driven with serialized ProcessingRequests and a fake director. */
#include <stdio.h>
#include <string.h>

#include "envoy/service/ext_proc/v3/external_processor.pb-c.h"
#include <grpc/grpc.h>

#include "extproc.h"
#include "test_support.h"

typedef Envoy__Service__ExtProc__V3__ProcessingRequest req_t;
typedef Envoy__Service__ExtProc__V3__ProcessingResponse resp_t;

#define MAX_OUT 64

/* ------------------------------------------------------------ fixtures */

typedef struct fake_dir {
  int decides, finishes;
  sy_extproc_request_t last; /* shallow copy; strings valid while stream lives */
  char last_body[256];
  int status; /* error to answer with, 0 = route */
  const char *dest;
  const char *new_body;
  const char *served, *requested; /* model rewrite to report */
  int last_finish_status;
  sy_extproc_usage_t last_usage;
  int handle_token;
} fake_dir_t;

static int fake_decide(void *ctx, const sy_extproc_request_t *req, sy_extproc_decision_t *out) {
  fake_dir_t *f = ctx;
  f->decides++;
  f->last = *req;
  if (req->body) snprintf(f->last_body, sizeof(f->last_body), "%.*s", (int)SY_MIN(req->body_len, 255), req->body);
  if (f->status) {
    out->http_status = f->status;
    out->error_kind = "BadRequest";
    out->error_msg = "model not found in request body";
    return 0;
  }
  out->destination = f->dest ? f->dest : "10.0.0.1:8000";
  if (f->new_body) {
    out->body = f->new_body;
    out->body_len = strlen(f->new_body);
  }
  out->model_served = f->served;
  out->model_requested = f->requested;
  out->handle = &f->handle_token;
  return 0;
}

static void fake_finish(void *ctx, void *handle, int status, const sy_extproc_usage_t *usage) {
  fake_dir_t *f = ctx;
  ck_assert_ptr_eq(handle, &f->handle_token);
  f->finishes++;
  f->last_finish_status = status;
  if (usage) f->last_usage = *usage;
}

static const sy_extproc_director_ops_t FAKE_OPS = {fake_decide, fake_finish};

typedef struct sink {
  resp_t *out[MAX_OUT];
  int n;
} sink_t;

static void sink_emit(void *ctx, const void *msg) {
  sink_t *s = ctx;
  ck_assert_int_lt(s->n, MAX_OUT);
  /* Round-trip through the wire format: what Envoy would receive. */
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = sy_malloc(len + 1);
  protobuf_c_message_pack(msg, buf);
  s->out[s->n++] = envoy__service__ext_proc__v3__processing_response__unpack(NULL, len, buf);
  ck_assert_ptr_nonnull(s->out[s->n - 1]);
  sy_free(buf);
}

static void sink_clear(sink_t *s) {
  for (int i = 0; i < s->n; i++) envoy__service__ext_proc__v3__processing_response__free_unpacked(s->out[i], NULL);
  s->n = 0;
}

static sy_extproc_config_t CFG = {.max_request_body = 1 << 20, .max_usage_body = 1 << 16};

typedef struct hdr {
  const char *k, *v;
} hdr_t;

static int feed(sy_extproc_stream_t *st, req_t *m) {
  size_t len = protobuf_c_message_get_packed_size(&m->base);
  uint8_t *buf = sy_malloc(len + 1);
  protobuf_c_message_pack(&m->base, buf);
  int rc = sy_extproc_stream_on_message(st, buf, len);
  sy_free(buf);
  return rc;
}

static int send_headers(sy_extproc_stream_t *st, bool response, const hdr_t *h, size_t n, bool eos) {
  Envoy__Config__Core__V3__HeaderValue hv[16];
  Envoy__Config__Core__V3__HeaderValue *hp[16];
  for (size_t i = 0; i < n; i++) {
    envoy__config__core__v3__header_value__init(&hv[i]);
    hv[i].key = (char *)h[i].k;
    hv[i].raw_value.data = (uint8_t *)h[i].v;
    hv[i].raw_value.len = strlen(h[i].v);
    hp[i] = &hv[i];
  }
  Envoy__Config__Core__V3__HeaderMap map = ENVOY__CONFIG__CORE__V3__HEADER_MAP__INIT;
  map.headers = hp;
  map.n_headers = n;
  Envoy__Service__ExtProc__V3__HttpHeaders hh = ENVOY__SERVICE__EXT_PROC__V3__HTTP_HEADERS__INIT;
  hh.headers = &map;
  hh.end_of_stream = eos;
  req_t m = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__INIT;
  if (response) {
    m.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_HEADERS;
    m.response_headers = &hh;
  } else {
    m.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_HEADERS;
    m.request_headers = &hh;
  }
  return feed(st, &m);
}

static int send_body(sy_extproc_stream_t *st, bool response, const char *data, size_t len, bool eos) {
  Envoy__Service__ExtProc__V3__HttpBody b = ENVOY__SERVICE__EXT_PROC__V3__HTTP_BODY__INIT;
  b.body.data = (uint8_t *)data;
  b.body.len = len;
  b.end_of_stream = eos;
  req_t m = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__INIT;
  if (response) {
    m.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_BODY;
    m.response_body = &b;
  } else {
    m.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_BODY;
    m.request_body = &b;
  }
  return feed(st, &m);
}

static const char *set_header(const resp_t *r, const char *key, char *buf, size_t cap) {
  const Envoy__Service__ExtProc__V3__HeadersResponse *hr =
      r->response_case == ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_HEADERS
          ? r->request_headers
          : r->response_headers;
  if (!hr || !hr->response || !hr->response->header_mutation) return NULL;
  const Envoy__Service__ExtProc__V3__HeaderMutation *hm = hr->response->header_mutation;
  for (size_t i = 0; i < hm->n_set_headers; i++) {
    const Envoy__Config__Core__V3__HeaderValue *h = hm->set_headers[i]->header;
    if (!strcmp(h->key, key)) {
      snprintf(buf, cap, "%.*s", (int)h->raw_value.len, (const char *)h->raw_value.data);
      return buf;
    }
  }
  return NULL;
}

static const Envoy__Service__ExtProc__V3__StreamedBodyResponse *streamed(const resp_t *r) {
  const Envoy__Service__ExtProc__V3__BodyResponse *b =
      r->response_case == ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_BODY ? r->request_body
                                                                                                 : r->response_body;
  ck_assert_ptr_nonnull(b);
  ck_assert_ptr_nonnull(b->response->body_mutation);
  ck_assert_int_eq(b->response->body_mutation->mutation_case,
                   ENVOY__SERVICE__EXT_PROC__V3__BODY_MUTATION__MUTATION_STREAMED_RESPONSE);
  return b->response->body_mutation->streamed_response;
}

static const hdr_t POST_HDRS[] = {{":method", "POST"}, {":path", "/v1/completions"}, {"content-type", "application/json"},
                                  {"x-request-id", "req-1"}};
static const char BODY[] = "{\"model\":\"m\",\"prompt\":\"hello\"}";

/* --------------------------------------------------------------- tests */

START_TEST(test_full_duplex_order) {
  fake_dir_t f = {0};
  sink_t sk = {0};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  ck_assert_int_eq(send_headers(st, false, POST_HDRS, 4, false), 0);
  ck_assert_int_eq(sk.n, 0); /* nothing until the body ends */
  ck_assert_int_eq(send_body(st, false, BODY, 10, false), 0);
  ck_assert_int_eq(sk.n, 0);
  ck_assert_int_eq(send_body(st, false, BODY + 10, strlen(BODY) - 10, true), 0);
  ck_assert_int_eq(f.decides, 1);
  ck_assert_str_eq(f.last_body, BODY);
  ck_assert_str_eq(f.last.path, "/v1/completions");
  ck_assert_str_eq(f.last.request_id, "req-1");
  ck_assert_int_eq(sk.n, 2);
  /* 1: request_headers response with destination, metadata, length */
  resp_t *h = sk.out[0];
  ck_assert_int_eq(h->response_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_HEADERS);
  ck_assert(h->request_headers->response->clear_route_cache);
  char buf[128];
  ck_assert_str_eq(set_header(h, "x-gateway-destination-endpoint", buf, sizeof(buf)), "10.0.0.1:8000");
  char want_len[32];
  snprintf(want_len, sizeof(want_len), "%zu", strlen(BODY));
  ck_assert_str_eq(set_header(h, "content-length", buf, sizeof(buf)), want_len);
  /* incoming headers are re-set with their own values (not a new id) */
  ck_assert_str_eq(set_header(h, "x-request-id", buf, sizeof(buf)), "req-1");
  ck_assert_str_eq(set_header(h, "content-type", buf, sizeof(buf)), "application/json");
  ck_assert_ptr_nonnull(h->dynamic_metadata);
  ck_assert_int_eq(h->dynamic_metadata->n_fields, 1);
  ck_assert_str_eq(h->dynamic_metadata->fields[0]->key, "envoy.lb");
  Google__Protobuf__Struct *lb = h->dynamic_metadata->fields[0]->value->struct_value;
  ck_assert_str_eq(lb->fields[0]->key, "x-gateway-destination-endpoint");
  ck_assert_str_eq(lb->fields[0]->value->string_value, "10.0.0.1:8000");
  /* 2: the body as one streamed chunk with end_of_stream */
  const Envoy__Service__ExtProc__V3__StreamedBodyResponse *sr = streamed(sk.out[1]);
  ck_assert_int_eq(sr->body.len, strlen(BODY));
  ck_assert(memcmp(sr->body.data, BODY, strlen(BODY)) == 0);
  ck_assert(sr->end_of_stream);
  sink_clear(&sk);

  /* Response path: headers tagged, body echoed, usage parsed, finish once. */
  const hdr_t rh[] = {{":status", "200"}, {"content-type", "application/json"}};
  send_headers(st, true, rh, 2, false);
  ck_assert_int_eq(sk.n, 1);
  ck_assert_str_eq(set_header(sk.out[0], "x-went-into-resp-headers", buf, sizeof(buf)), "true");
  const char *rb = "{\"object\":\"text_completion\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}";
  send_body(st, true, rb, 20, false);
  send_body(st, true, rb + 20, strlen(rb) - 20, true);
  ck_assert_int_eq(sk.n, 3);
  ck_assert_int_eq(streamed(sk.out[1])->body.len, 20);
  ck_assert(!streamed(sk.out[1])->end_of_stream);
  ck_assert(streamed(sk.out[2])->end_of_stream);
  ck_assert_int_eq(f.finishes, 1);
  ck_assert_int_eq(f.last_finish_status, 200);
  ck_assert(f.last_usage.found);
  ck_assert_int_eq(f.last_usage.prompt_tokens, 5);
  ck_assert_int_eq(f.last_usage.completion_tokens, 7);
  sy_extproc_stream_on_half_close(st);
  ck_assert(sy_extproc_stream_done(st));
  sy_extproc_stream_free(st);
  ck_assert_int_eq(f.finishes, 1); /* never twice */
  sink_clear(&sk);
}
END_TEST

START_TEST(test_large_body_chunked) {
  fake_dir_t f = {0};
  sink_t sk = {0};
  size_t n = 150000;
  char *big = sy_malloc(n);
  for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  send_headers(st, false, POST_HDRS, 4, false);
  for (size_t off = 0; off < n; off += 16384) send_body(st, false, big + off, SY_MIN(16384, n - off), off + 16384 >= n);
  ck_assert_int_eq(sk.n, 1 + 3); /* 62000 + 62000 + 26000 */
  size_t off = 0;
  for (int i = 1; i < sk.n; i++) {
    const Envoy__Service__ExtProc__V3__StreamedBodyResponse *sr = streamed(sk.out[i]);
    ck_assert_uint_le(sr->body.len, 62000);
    ck_assert(memcmp(sr->body.data, big + off, sr->body.len) == 0);
    ck_assert(sr->end_of_stream == (i == sk.n - 1));
    off += sr->body.len;
  }
  ck_assert_uint_eq(off, n);
  sy_free(big);
  sy_extproc_stream_free(st);
  ck_assert_int_eq(f.finishes, 1);
  sink_clear(&sk);
}
END_TEST

START_TEST(test_rewritten_body_length) {
  fake_dir_t f = {.new_body = "{\"model\":\"other\",\"prompt\":\"hello\"}"};
  sink_t sk = {0};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  const hdr_t hdrs[] = {{":path", "/v1/completions"}, {"x-gateway-model-name-rewrite", "old"},
                        {"x-llm-d-model-name-rewrite", "other"}, {"content-length", "31"}};
  send_headers(st, false, hdrs, 4, false);
  send_body(st, false, BODY, strlen(BODY), true);
  char buf[64], want[32];
  snprintf(want, sizeof(want), "%zu", strlen(f.new_body));
  ck_assert_str_eq(set_header(sk.out[0], "content-length", buf, sizeof(buf)), want);
  ck_assert_int_eq(streamed(sk.out[1])->body.len, strlen(f.new_body));
  /* llm-d's header name wins; control headers are never re-set */
  ck_assert_str_eq(f.last.model_rewrite, "other");
  ck_assert_ptr_null(set_header(sk.out[0], "x-gateway-model-name-rewrite", buf, sizeof(buf)));
  ck_assert_ptr_null(set_header(sk.out[0], "x-llm-d-model-name-rewrite", buf, sizeof(buf)));
  sy_extproc_stream_free(st);
  sink_clear(&sk);
}
END_TEST

START_TEST(test_headers_only_and_generated_id) {
  fake_dir_t f = {0};
  sink_t sk = {0};
  const hdr_t get[] = {{":method", "GET"}, {":path", "/v1/models"}};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  send_headers(st, false, get, 2, true);
  ck_assert_int_eq(f.decides, 1);
  ck_assert(f.last.headers_only);
  ck_assert_int_eq(sk.n, 1);
  char buf[64];
  ck_assert_ptr_null(set_header(sk.out[0], "content-length", buf, sizeof(buf)));
  ck_assert_ptr_nonnull(set_header(sk.out[0], "x-request-id", buf, sizeof(buf)));
  ck_assert_int_eq(strlen(buf), 36); /* a UUID */
  ck_assert_int_eq(buf[14], '4');
  sy_extproc_stream_free(st);
  sink_clear(&sk);
}
END_TEST

START_TEST(test_immediate_error) {
  fake_dir_t f = {.status = 400};
  sink_t sk = {0};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  send_headers(st, false, POST_HDRS, 4, false);
  send_body(st, false, "{}", 2, true);
  ck_assert_int_eq(sk.n, 1);
  resp_t *r = sk.out[0];
  ck_assert_int_eq(r->response_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_IMMEDIATE_RESPONSE);
  ck_assert_int_eq(r->immediate_response->status->code, 400);
  ck_assert_int_eq(r->immediate_response->body.len, strlen("inference error: BadRequest - model not found in request body"));
  ck_assert(memcmp(r->immediate_response->body.data, "inference error: BadRequest - model not found in request body",
                   r->immediate_response->body.len) == 0);
  ck_assert(sy_extproc_stream_done(st));
  /* later messages are ignored */
  send_headers(st, true, POST_HDRS, 1, false);
  ck_assert_int_eq(sk.n, 1);
  sy_extproc_stream_free(st);
  sink_clear(&sk);
}
END_TEST

START_TEST(test_body_over_limit) {
  fake_dir_t f = {0};
  sink_t sk = {0};
  sy_extproc_config_t small = {.max_request_body = 100, .max_usage_body = 100};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&small, &FAKE_OPS, &f, sink_emit, &sk);
  send_headers(st, false, POST_HDRS, 4, false);
  char body[80];
  memset(body, 'x', sizeof(body));
  send_body(st, false, body, sizeof(body), false);
  ck_assert_int_eq(sk.n, 0);
  send_body(st, false, body, sizeof(body), true);
  ck_assert_int_eq(sk.n, 1);
  ck_assert_int_eq(sk.out[0]->immediate_response->status->code, 413);
  ck_assert_int_eq(f.decides, 0);
  sy_extproc_stream_free(st);
  sink_clear(&sk);
}
END_TEST

static int send_subset(sy_extproc_stream_t *st, const char **items, size_t n, const char *single) {
  Google__Protobuf__Value vals[8], *vp[8];
  for (size_t i = 0; i < n; i++) {
    google__protobuf__value__init(&vals[i]);
    vals[i].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    vals[i].string_value = (char *)items[i];
    vp[i] = &vals[i];
  }
  Google__Protobuf__ListValue lv = GOOGLE__PROTOBUF__LIST_VALUE__INIT;
  lv.values = vp;
  lv.n_values = n;
  Google__Protobuf__Value v = GOOGLE__PROTOBUF__VALUE__INIT;
  if (single) {
    v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    v.string_value = (char *)single;
  } else {
    v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
    v.list_value = &lv;
  }
  Google__Protobuf__Struct__FieldsEntry fe = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
  fe.key = "x-gateway-destination-endpoint-subset";
  fe.value = &v;
  Google__Protobuf__Struct__FieldsEntry *fep = &fe;
  Google__Protobuf__Struct s = GOOGLE__PROTOBUF__STRUCT__INIT;
  s.fields = &fep;
  s.n_fields = 1;
  Envoy__Config__Core__V3__Metadata__FilterMetadataEntry me = ENVOY__CONFIG__CORE__V3__METADATA__FILTER_METADATA_ENTRY__INIT;
  me.key = "envoy.lb.subset_hint";
  me.value = &s;
  Envoy__Config__Core__V3__Metadata__FilterMetadataEntry *mep = &me;
  Envoy__Config__Core__V3__Metadata md = ENVOY__CONFIG__CORE__V3__METADATA__INIT;
  md.filter_metadata = &mep;
  md.n_filter_metadata = 1;
  Envoy__Config__Core__V3__HeaderMap map = ENVOY__CONFIG__CORE__V3__HEADER_MAP__INIT;
  Envoy__Service__ExtProc__V3__HttpHeaders hh = ENVOY__SERVICE__EXT_PROC__V3__HTTP_HEADERS__INIT;
  hh.headers = &map;
  req_t m = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__INIT;
  m.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_HEADERS;
  m.request_headers = &hh;
  m.metadata_context = &md;
  return feed(st, &m);
}

START_TEST(test_subset_hint_list_and_string) {
  fake_dir_t f = {0};
  sink_t sk = {0};
  const char *items[] = {"10.0.0.1:8000", "10.0.0.2:8000"};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  send_subset(st, items, 2, NULL);
  send_body(st, false, BODY, strlen(BODY), true);
  ck_assert(f.last.subset_present);
  ck_assert_int_eq(f.last.n_subset, 2);
  ck_assert_str_eq(f.last.subset[1], "10.0.0.2:8000");
  sy_extproc_stream_free(st);
  sink_clear(&sk);

  st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  send_subset(st, NULL, 0, "10.0.0.3:8000, 10.0.0.4");
  send_body(st, false, BODY, strlen(BODY), true);
  ck_assert_int_eq(f.last.n_subset, 2);
  ck_assert_str_eq(f.last.subset[0], "10.0.0.3:8000");
  ck_assert_str_eq(f.last.subset[1], "10.0.0.4");
  sy_extproc_stream_free(st);
  sink_clear(&sk);

  st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  send_subset(st, NULL, 0, NULL); /* present but empty list */
  send_body(st, false, BODY, strlen(BODY), true);
  ck_assert(f.last.subset_present);
  ck_assert_int_eq(f.last.n_subset, 0);
  sy_extproc_stream_free(st);
  sink_clear(&sk);
}
END_TEST

START_TEST(test_trailers_end_body) {
  fake_dir_t f = {0};
  sink_t sk = {0};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  send_headers(st, false, POST_HDRS, 4, false);
  send_body(st, false, BODY, strlen(BODY), false);
  Envoy__Service__ExtProc__V3__HttpTrailers tr = ENVOY__SERVICE__EXT_PROC__V3__HTTP_TRAILERS__INIT;
  req_t m = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__INIT;
  m.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_TRAILERS;
  m.request_trailers = &tr;
  feed(st, &m);
  ck_assert_int_eq(f.decides, 1);
  ck_assert_int_eq(sk.n, 3); /* headers, body (no eos), trailers */
  ck_assert(!streamed(sk.out[1])->end_of_stream);
  ck_assert_int_eq(sk.out[2]->response_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_TRAILERS);
  m.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_TRAILERS;
  m.response_trailers = &tr;
  feed(st, &m);
  ck_assert_int_eq(sk.out[3]->response_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_RESPONSE_TRAILERS);
  ck_assert_int_eq(f.finishes, 1);
  sy_extproc_stream_free(st);
  sink_clear(&sk);
}
END_TEST

START_TEST(test_sse_usage) {
  fake_dir_t f = {0};
  sink_t sk = {0};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  send_headers(st, false, POST_HDRS, 4, false);
  send_body(st, false, BODY, strlen(BODY), true);
  const hdr_t rh[] = {{":status", "200"}, {"content-type", "text/event-stream"}};
  send_headers(st, true, rh, 2, false);
  const char *ev =
      "data: {\"object\":\"text_completion\",\"choices\":[{\"text\":\"a\"}]}\n\n"
      "data: {\"object\":\"text_completion\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n"
      "data: [DONE]\n\n";
  size_t len = strlen(ev);
  for (size_t off = 0; off < len; off += 7) send_body(st, true, ev + off, SY_MIN(7, len - off), false);
  send_body(st, true, "", 0, true);
  ck_assert_int_eq(f.finishes, 1);
  ck_assert(f.last_usage.found);
  ck_assert_int_eq(f.last_usage.total_tokens, 5);
  sy_extproc_stream_free(st);
  sink_clear(&sk);
}
END_TEST

/* After a model rewrite the response body names the model the client asked
 * for again (chunk borders inside the pattern included), and the response
 * loses its content-length. */
START_TEST(test_response_model_unrewritten) {
  fake_dir_t f = {.served = "served-model", .requested = "m"};
  sink_t sk = {0};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  send_headers(st, false, POST_HDRS, 4, false);
  send_body(st, false, BODY, strlen(BODY), true);
  int before = sk.n;
  const hdr_t rh[] = {{":status", "200"}, {"content-type", "application/json"}, {"content-length", "60"}};
  send_headers(st, true, rh, 3, false);
  ck_assert_int_eq(sk.n, before + 1);
  const Envoy__Service__ExtProc__V3__HeaderMutation *hm = sk.out[before]->response_headers->response->header_mutation;
  ck_assert_ptr_nonnull(hm);
  bool removed = false;
  for (size_t i = 0; i < hm->n_remove_headers; i++) removed = removed || !strcmp(hm->remove_headers[i], "content-length");
  ck_assert_msg(removed, "content-length kept");
  const char *body = "{\"id\":\"cmpl-1\",\"model\":\"served-model\",\"choices\":[{\"text\":\"hi\"}]}";
  size_t len = strlen(body), cut = 20; /* inside "model":"served-model" */
  send_body(st, true, body, cut, false);
  send_body(st, true, body + cut, len - cut, true);
  char got[256] = "";
  for (int i = before + 1; i < sk.n; i++) {
    const Envoy__Service__ExtProc__V3__StreamedBodyResponse *sr = streamed(sk.out[i]);
    strncat(got, (const char *)sr->body.data, SY_MIN(sr->body.len, sizeof(got) - strlen(got) - 1));
    ck_assert(sr->end_of_stream == (i == sk.n - 1));
  }
  ck_assert_str_eq(got, "{\"id\":\"cmpl-1\",\"model\":\"m\",\"choices\":[{\"text\":\"hi\"}]}");
  ck_assert_int_eq(f.finishes, 1);
  sy_extproc_stream_free(st);
  sink_clear(&sk);
}
END_TEST

START_TEST(test_observability_mode_silent) {
  fake_dir_t f = {0};
  sink_t sk = {0};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  req_t m = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__INIT;
  Envoy__Service__ExtProc__V3__HttpHeaders hh = ENVOY__SERVICE__EXT_PROC__V3__HTTP_HEADERS__INIT;
  m.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_HEADERS;
  m.request_headers = &hh;
  m.observability_mode = 1;
  feed(st, &m);
  send_body(st, false, BODY, strlen(BODY), true);
  send_headers(st, true, POST_HDRS, 1, false);
  send_body(st, true, "x", 1, true);
  ck_assert_int_eq(sk.n, 0);
  sy_extproc_stream_on_half_close(st);
  ck_assert(sy_extproc_stream_done(st));
  sy_extproc_stream_free(st);
}
END_TEST

START_TEST(test_garbage_rejected) {
  fake_dir_t f = {0};
  sink_t sk = {0};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x80};
  ck_assert_int_eq(sy_extproc_stream_on_message(st, junk, sizeof(junk)), SY_EPARSE);
  ck_assert_int_eq(sk.n, 0);
  sy_extproc_stream_free(st);
}
END_TEST

START_TEST(test_cancel_releases_decision) {
  fake_dir_t f = {0};
  sink_t sk = {0};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&CFG, &FAKE_OPS, &f, sink_emit, &sk);
  send_headers(st, false, POST_HDRS, 4, false);
  send_body(st, false, BODY, strlen(BODY), true);
  ck_assert_int_eq(f.finishes, 0);
  sy_extproc_stream_free(st); /* cancelled before any response */
  ck_assert_int_eq(f.finishes, 1);
  sink_clear(&sk);
}
END_TEST

/* The server switches off abseil's debug deadlock detection (Debian's abseil
 * keeps it on; it costs 8 % of a worker's instructions). This fails when
 * abseil's switch can no longer be found, e.g. after an abseil upgrade
 * renames Debian's inline namespace. */
START_TEST(test_abseil_deadlock_detection_off) {
  grpc_init();
  ck_assert_msg(sy_abseil_deadlock_detection_off(), "absl::SetMutexDeadlockDetectionMode not found");
  grpc_shutdown();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("extproc");
  TCase *tc = tcase_create("stream");
  tcase_add_test(tc, test_full_duplex_order);
  tcase_add_test(tc, test_abseil_deadlock_detection_off);
  tcase_add_test(tc, test_large_body_chunked);
  tcase_add_test(tc, test_rewritten_body_length);
  tcase_add_test(tc, test_headers_only_and_generated_id);
  tcase_add_test(tc, test_immediate_error);
  tcase_add_test(tc, test_body_over_limit);
  tcase_add_test(tc, test_subset_hint_list_and_string);
  tcase_add_test(tc, test_trailers_end_body);
  tcase_add_test(tc, test_sse_usage);
  tcase_add_test(tc, test_response_model_unrewritten);
  tcase_add_test(tc, test_observability_mode_silent);
  tcase_add_test(tc, test_garbage_rejected);
  tcase_add_test(tc, test_cancel_releases_decision);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
