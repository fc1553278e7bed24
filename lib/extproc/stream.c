/*
 * The ext_proc stream state machine for the GAIE endpoint-picker protocol
 * (FULL_DUPLEX_STREAMED bodies). Sans-I/O: bytes in, messages out.
 *
 * Request path: headers are recorded and nothing is answered until the body
 * ends (Envoy keeps streaming the body meanwhile); then the director decides
 * and we answer the request_headers message (destination header, envoy.lb
 * metadata, content-length, clear_route_cache) followed by the body as
 * streamed body mutations of at most 62000 bytes. A header-only request is
 * answered at once. Errors become one ImmediateResponse and end the stream.
 *
 * Response path: headers get x-went-into-resp-headers; body chunks are
 * echoed immediately (never buffered: streaming latency matters) while a
 * bounded copy or an SSE scanner extracts token usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "extproc.h"
#include "openai.h"
#include "pb.h"

typedef enum phase {
  PHASE_REQ_HEADERS = 0, /* waiting for request headers */
  PHASE_REQ_BODY,        /* headers seen, accumulating the body */
  PHASE_ROUTED,          /* decision sent; response path */
  PHASE_DONE,            /* immediate response sent or response finished */
} phase_t;

struct sy_extproc_stream {
  const sy_extproc_config_t *cfg;
  const sy_extproc_director_ops_t *dir;
  void *dir_ctx;
  sy_extproc_emit_fn emit;
  void *emit_ctx;

  sy_arena_t arena;   /* lives as long as the stream */
  sy_arena_t scratch; /* reset after every message: unpacked requests, responses */
  ProtobufCAllocator pb_alloc;

  phase_t phase;
  bool observability;
  bool body_mode_none; /* protocol_config says no request body will come */

  sy_extproc_request_t req;
  bool request_id_generated;
  /* Incoming request headers that are re-set in the header response, as
   * upstream does (everything but the system-owned control headers). */
  const char **hdr_keys;
  const char **hdr_vals;
  size_t *hdr_lens;
  size_t n_hdrs;
  sy_buf_t body;

  /* Response header mutations the director asked for (request arena). */
  const sy_extproc_decision_t *resp_mut;
  bool decided; /* director returned a handle that finish() must release */
  void *handle;
  int response_status;
  bool resp_headers_seen;
  bool response_sse;
  bool response_stream;
  sy_buf_t resp_body; /* bounded copy of a non-streamed response for usage */
  size_t resp_bytes;
  bool resp_body_truncated;
  sy_openai_sse_t sse;
  bool sse_active;
  /* model rewrite: names from the decision (request arena) and, once the
   * response headers came, the reverse rewriter of the body */
  const char *model_served, *model_requested;
  sy_openai_unrewrite_t unrw;
  bool unrw_active;
};

/* ------------------------------------------------------------ allocation */

static void *pb_alloc_fn(void *ctx, size_t n) { return sy_arena_alloc(ctx, n); }
static void pb_free_fn(void *ctx, void *p) {
  SY_UNUSED(ctx);
  SY_UNUSED(p); /* arena memory is released in bulk */
}

sy_extproc_stream_t *sy_extproc_stream_new(const sy_extproc_config_t *cfg, const sy_extproc_director_ops_t *dir,
                                           void *dir_ctx, sy_extproc_emit_fn emit, void *emit_ctx) {
  sy_extproc_stream_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->cfg = cfg;
  s->dir = dir;
  s->dir_ctx = dir_ctx;
  s->emit = emit;
  s->emit_ctx = emit_ctx;
  sy_arena_init(&s->arena, 4096, 0);
  sy_arena_init(&s->scratch, 65536, 0);
  s->pb_alloc.alloc = pb_alloc_fn;
  s->pb_alloc.free = pb_free_fn;
  s->pb_alloc.allocator_data = &s->scratch;
  sy_buf_init(&s->body, cfg->max_request_body);
  sy_buf_init(&s->resp_body, cfg->max_usage_body);
  s->req.arena = &s->arena;
  s->req.method = "";
  s->req.path = "";
  s->req.fairness_id = "default-flow";
  return s;
}

static void finish_decision(sy_extproc_stream_t *s, const sy_extproc_usage_t *usage) {
  if (!s->decided) return;
  s->decided = false;
  if (s->dir->finish) s->dir->finish(s->dir_ctx, s->handle, s->response_status, usage);
  s->handle = NULL;
}

void sy_extproc_stream_free(sy_extproc_stream_t *s) {
  if (!s) return;
  finish_decision(s, NULL);
  sy_buf_cleanup(&s->body);
  sy_buf_cleanup(&s->resp_body);
  if (s->sse_active) sy_openai_sse_cleanup(&s->sse);
  if (s->unrw_active) sy_openai_unrewrite_cleanup(&s->unrw);
  sy_arena_cleanup(&s->scratch);
  sy_arena_cleanup(&s->arena);
  sy_free(s);
}

bool sy_extproc_stream_done(const sy_extproc_stream_t *s) { return s->phase == PHASE_DONE; }

/* -------------------------------------------------------------- emitting */


static pb_hvo_t *make_header(sy_extproc_stream_t *s, const char *key, const char *val, size_t vlen) {
  pb_hvo_t *o = sy_arena_alloc(&s->scratch, sizeof(*o));
  pb_hv_t *h = sy_arena_alloc(&s->scratch, sizeof(*h));
  if (!o || !h) return NULL;
  envoy__config__core__v3__header_value_option__init(o);
  envoy__config__core__v3__header_value__init(h);
  h->key = (char *)key;
  h->raw_value.data = (uint8_t *)val;
  h->raw_value.len = vlen;
  o->header = h;
  return o;
}

/* Struct{ ns: Struct{ key: "value" } } */
static pb_struct_t *make_metadata(sy_extproc_stream_t *s, const char *ns, const char *key, const char *value) {
  pb_struct_t *outer = sy_arena_alloc(&s->scratch, sizeof(*outer));
  pb_struct_t *inner = sy_arena_alloc(&s->scratch, sizeof(*inner));
  pb_field_t *of = sy_arena_alloc(&s->scratch, sizeof(*of));
  pb_field_t *inf = sy_arena_alloc(&s->scratch, sizeof(*inf));
  pb_value_t *ov = sy_arena_alloc(&s->scratch, sizeof(*ov));
  pb_value_t *iv = sy_arena_alloc(&s->scratch, sizeof(*iv));
  pb_field_t **ofs = sy_arena_alloc(&s->scratch, sizeof(*ofs));
  pb_field_t **ifs = sy_arena_alloc(&s->scratch, sizeof(*ifs));
  if (!outer || !inner || !of || !inf || !ov || !iv || !ofs || !ifs) return NULL;
  google__protobuf__struct__init(outer);
  google__protobuf__struct__init(inner);
  google__protobuf__struct__fields_entry__init(of);
  google__protobuf__struct__fields_entry__init(inf);
  google__protobuf__value__init(ov);
  google__protobuf__value__init(iv);
  iv->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
  iv->string_value = (char *)value;
  inf->key = (char *)key;
  inf->value = iv;
  ifs[0] = inf;
  inner->n_fields = 1;
  inner->fields = ifs;
  ov->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
  ov->struct_value = inner;
  of->key = (char *)ns;
  of->value = ov;
  ofs[0] = of;
  outer->n_fields = 1;
  outer->fields = ofs;
  return outer;
}

static void emit(sy_extproc_stream_t *s, const pb_resp_t *resp) {
  if (!s->observability) s->emit(s->emit_ctx, resp);
}

static void send_immediate(sy_extproc_stream_t *s, int code, const char *kind, const char *msg) {
  char body[1024];
  int n = snprintf(body, sizeof(body), "inference error: %s - %s", kind ? kind : "Internal", msg ? msg : "");
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof(body)) n = (int)sizeof(body) - 1;
  pb_resp_t resp = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
  pb_immediate_t imm = ENVOY__SERVICE__EXT_PROC__V3__IMMEDIATE_RESPONSE__INIT;
  Envoy__Type__V3__HttpStatus st = ENVOY__TYPE__V3__HTTP_STATUS__INIT;
  st.code = (Envoy__Type__V3__StatusCode)code;
  imm.status = &st;
  imm.body.data = (uint8_t *)body;
  imm.body.len = (size_t)n;
  resp.response_case = PB_RESP(IMMEDIATE_RESPONSE);
  resp.immediate_response = &imm;
  emit(s, &resp);
  s->response_status = code;
  s->phase = PHASE_DONE;
  finish_decision(s, NULL);
  if (!s->decided && code == 413) /* the director never saw it: it logs every other rejection with the pool */
    SY_LOG(SY_LOG_VERBOSE, "request body too large", "request_id", s->req.request_id ? s->req.request_id : "",
           "msg", msg ? msg : "", NULL);
}

/* A redirect: the 3xx status and Location, no body. */
static void send_redirect(sy_extproc_stream_t *s, int code, const char *location) {
  pb_hvo_t *set[1] = {make_header(s, "location", location, strlen(location))};
  if (!set[0]) {
    send_immediate(s, 500, "Internal", "out of memory");
    return;
  }
  pb_hmut_t hm = ENVOY__SERVICE__EXT_PROC__V3__HEADER_MUTATION__INIT;
  hm.set_headers = set;
  hm.n_set_headers = 1;
  pb_resp_t resp = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
  pb_immediate_t imm = ENVOY__SERVICE__EXT_PROC__V3__IMMEDIATE_RESPONSE__INIT;
  Envoy__Type__V3__HttpStatus st = ENVOY__TYPE__V3__HTTP_STATUS__INIT;
  st.code = (Envoy__Type__V3__StatusCode)code;
  imm.status = &st;
  imm.headers = &hm;
  resp.response_case = PB_RESP(IMMEDIATE_RESPONSE);
  resp.immediate_response = &imm;
  emit(s, &resp);
  s->response_status = code;
  s->phase = PHASE_DONE;
  finish_decision(s, NULL);
}

static bool in_list(const char *k, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (sy_str_ieq(k, strlen(k), list[i])) return true;
  return false;
}

/* Emits one FULL_DUPLEX_STREAMED body mutation on the request or response
 * side. `data` is only referenced during the call. */
static void emit_streamed_body(sy_extproc_stream_t *s, bool request_side, const uint8_t *data, size_t len, bool eos) {
  pb_streamed_t sr = ENVOY__SERVICE__EXT_PROC__V3__STREAMED_BODY_RESPONSE__INIT;
  sr.body.data = (uint8_t *)data;
  sr.body.len = len;
  sr.end_of_stream = eos;
  pb_bmut_t bm;
  envoy__service__ext_proc__v3__body_mutation__init(&bm);
  bm.mutation_case = ENVOY__SERVICE__EXT_PROC__V3__BODY_MUTATION__MUTATION_STREAMED_RESPONSE;
  bm.streamed_response = &sr;
  pb_common_t bc = ENVOY__SERVICE__EXT_PROC__V3__COMMON_RESPONSE__INIT;
  bc.body_mutation = &bm;
  pb_body_resp_t br = ENVOY__SERVICE__EXT_PROC__V3__BODY_RESPONSE__INIT;
  br.response = &bc;
  pb_resp_t r = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
  if (request_side) {
    r.response_case = PB_RESP(REQUEST_BODY);
    r.request_body = &br;
  } else {
    r.response_case = PB_RESP(RESPONSE_BODY);
    r.response_body = &br;
  }
  emit(s, &r);
}

/* Sends the request_headers response carrying the destination, then the body
 * (unless header-only) as streamed mutations. `body_eos` is false when the
 * request ended with trailers rather than an end-of-stream body chunk. */
static void send_routed(sy_extproc_stream_t *s, const sy_extproc_decision_t *d, bool body_eos) {
  pb_hvo_t **set = sy_arena_alloc(&s->scratch, sizeof(*set) * (3 + s->n_hdrs + d->n_set));
  size_t nset = 0;
  if (!set) {
    send_immediate(s, 500, "Internal", "out of memory");
    return;
  }
  char clen[32];
  set[nset++] = make_header(s, SY_HDR_DESTINATION, d->destination, strlen(d->destination));
  if (!s->req.headers_only) {
    int n = snprintf(clen, sizeof(clen), "%zu", d->body_len);
    set[nset++] = make_header(s, "content-length", clen, (size_t)n);
  }
  if (s->request_id_generated) set[nset++] = make_header(s, SY_HDR_REQUEST_ID, s->req.request_id, strlen(s->req.request_id));
  for (size_t i = 0; i < s->n_hdrs; i++) {
    /* a header the director sets or removes is not re-set as received */
    if (in_list(s->hdr_keys[i], d->set_keys, d->n_set) || in_list(s->hdr_keys[i], d->remove, d->n_remove)) continue;
    set[nset++] = make_header(s, s->hdr_keys[i], s->hdr_vals[i], s->hdr_lens[i]);
  }
  for (size_t i = 0; i < d->n_set; i++) set[nset++] = make_header(s, d->set_keys[i], d->set_values[i], strlen(d->set_values[i]));
  pb_struct_t *md = make_metadata(s, SY_MD_NS_LB, SY_HDR_DESTINATION, d->destination);
  for (size_t i = 0; i < nset; i++) {
    if (!set[i]) md = NULL;
  }
  if (!md) {
    send_immediate(s, 500, "Internal", "out of memory");
    return;
  }
  pb_hmut_t hm = ENVOY__SERVICE__EXT_PROC__V3__HEADER_MUTATION__INIT;
  hm.set_headers = set;
  hm.n_set_headers = nset;
  hm.remove_headers = (char **)d->remove;
  hm.n_remove_headers = d->n_remove;
  pb_common_t common = ENVOY__SERVICE__EXT_PROC__V3__COMMON_RESPONSE__INIT;
  common.header_mutation = &hm;
  common.clear_route_cache = 1;
  pb_headers_resp_t hr = ENVOY__SERVICE__EXT_PROC__V3__HEADERS_RESPONSE__INIT;
  hr.response = &common;
  pb_resp_t resp = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
  resp.response_case = PB_RESP(REQUEST_HEADERS);
  resp.request_headers = &hr;
  resp.dynamic_metadata = md;
  emit(s, &resp);
  s->phase = PHASE_ROUTED;
  if (s->req.headers_only) return;

  size_t off = 0;
  do {
    size_t n = SY_MIN((size_t)SY_EXTPROC_BODY_CHUNK, d->body_len - off);
    emit_streamed_body(s, true, (const uint8_t *)d->body + off, n, off + n >= d->body_len && body_eos);
    off += n;
  } while (off < d->body_len);
}

static void decide_and_answer(sy_extproc_stream_t *s, bool body_eos) {
  if (s->observability) { /* nothing we say would be used */
    s->phase = PHASE_ROUTED;
    return;
  }
  if (!s->req.request_id) {
    char id[37];
    sy_uuid4(id);
    s->req.request_id = sy_arena_strndup(&s->arena, id, 36);
    s->request_id_generated = true;
  }
  if (!s->req.headers_only) {
    s->req.body = s->body.data ? s->body.data : "";
    s->req.body_len = s->body.len;
  }
  sy_extproc_decision_t d;
  memset(&d, 0, sizeof(d));
  int rc = s->dir->decide(s->dir_ctx, &s->req, &d);
  if (rc != 0) {
    send_immediate(s, 500, "Internal", sy_strerror(rc));
    return;
  }
  if (d.handle) {
    s->decided = true;
    s->handle = d.handle;
  }
  if (d.model_served && d.model_requested && strcmp(d.model_served, d.model_requested) != 0) {
    s->model_served = d.model_served;
    s->model_requested = d.model_requested;
  }
  if (d.n_resp_set || d.n_resp_add || d.n_resp_remove) {
    sy_extproc_decision_t *keep = sy_arena_alloc(&s->arena, sizeof(*keep));
    if (keep) *keep = d;
    s->resp_mut = keep;
  }
  if (d.http_status >= 300 && d.http_status < 400 && d.location) {
    send_redirect(s, d.http_status, d.location);
    return;
  }
  s->response_stream = d.stream;
  if (d.http_status != 0) {
    send_immediate(s, d.http_status, d.error_kind, d.error_msg);
    return;
  }
  if (!d.destination || !d.destination[0]) {
    send_immediate(s, 500, "Internal", "director returned no destination");
    return;
  }
  if (!d.body) {
    d.body = s->req.body;
    d.body_len = s->req.body_len;
  }
  send_routed(s, &d, body_eos);
}

/* ------------------------------------------------------- request parsing */

static void header_value(const pb_hv_t *h, const char **v, size_t *n) {
  if (h->raw_value.len > 0 || !h->value || !h->value[0]) {
    *v = (const char *)h->raw_value.data;
    *n = h->raw_value.len;
  } else {
    *v = h->value;
    *n = strlen(h->value);
  }
  if (!*v) {
    *v = "";
    *n = 0;
  }
}

static const char *dup_val(sy_extproc_stream_t *s, const char *v, size_t n) { return sy_arena_strndup(&s->arena, v, n); }

/* Headers upstream never re-sets in its header response. */
static bool system_owned(const char *k) {
  static const char *const owned[] = {"content-length",
                                      SY_HDR_DESTINATION,
                                      SY_HDR_DESTINATION_SERVED,
                                      SY_HDR_SUBSET,
                                      SY_HDR_FAIRNESS,
                                      SY_HDR_OBJECTIVE,
                                      SY_HDR_MODEL_REWRITE,
                                      SY_HDR_LLMD_FAIRNESS,
                                      SY_HDR_LLMD_OBJECTIVE,
                                      SY_HDR_LLMD_MODEL_REWRITE};
  for (size_t i = 0; i < SY_ARRAY_LEN(owned); i++) {
    if (!strcmp(k, owned[i])) return true;
  }
  return false;
}

static void record_request_headers(sy_extproc_stream_t *s, const pb_headers_t *h) {
  if (!h->headers) return;
  const char *orig_path = NULL, *fwd_path = NULL;
  /* llm-d-router's x-llm-d-* names win over the x-gateway-* aliases. */
  const char *rewrite_new = NULL, *objective_new = NULL, *fairness_new = NULL;
  size_t n = h->headers->n_headers;
  s->hdr_keys = sy_arena_alloc(&s->arena, sizeof(char *) * (n ? n : 1));
  s->hdr_vals = sy_arena_alloc(&s->arena, sizeof(char *) * (n ? n : 1));
  s->hdr_lens = sy_arena_alloc(&s->arena, sizeof(size_t) * (n ? n : 1));
  if (!s->hdr_keys || !s->hdr_vals || !s->hdr_lens) return;
  for (size_t i = 0; i < n; i++) {
    const pb_hv_t *hv = h->headers->headers[i];
    if (!hv || !hv->key) continue;
    const char *k = hv->key, *v;
    size_t vlen;
    header_value(hv, &v, &vlen);
    const char *dv = dup_val(s, v, vlen);
    if (!dv) return;
    if (!system_owned(k)) {
      const char *dk = sy_arena_strndup(&s->arena, k, strlen(k));
      if (!dk) return;
      s->hdr_keys[s->n_hdrs] = dk;
      s->hdr_vals[s->n_hdrs] = dv;
      s->hdr_lens[s->n_hdrs] = vlen;
      s->n_hdrs++;
    }
    /* Envoy sends lower-case keys; the control headers are matched exactly
     * as upstream does, x-request-id case-insensitively. */
    if (!strcmp(k, ":path")) {
      s->req.path = dv;
    } else if (!strcmp(k, ":method")) {
      s->req.method = dv;
    } else if (!strcmp(k, "x-original-path")) {
      orig_path = dv;
    } else if (!strcmp(k, "x-forwarded-path")) {
      fwd_path = dv;
    } else if (!strcmp(k, SY_HDR_MODEL_REWRITE)) {
      s->req.model_rewrite = vlen ? dv : NULL;
    } else if (!strcmp(k, SY_HDR_LLMD_MODEL_REWRITE)) {
      rewrite_new = vlen ? dv : NULL;
    } else if (!strcmp(k, SY_HDR_OBJECTIVE)) {
      s->req.objective = vlen ? dv : NULL;
    } else if (!strcmp(k, SY_HDR_LLMD_OBJECTIVE)) {
      objective_new = vlen ? dv : NULL;
    } else if (!strcmp(k, SY_HDR_FAIRNESS)) {
      if (vlen) s->req.fairness_id = dv;
    } else if (!strcmp(k, SY_HDR_LLMD_FAIRNESS)) {
      fairness_new = vlen ? dv : NULL;
    } else if (sy_str_ieq(k, strlen(k), SY_HDR_REQUEST_ID)) {
      if (vlen) s->req.request_id = dv;
    }
  }
  s->req.header_keys = s->hdr_keys;
  s->req.header_values = s->hdr_vals;
  s->req.n_headers = s->n_hdrs;
  if (rewrite_new) s->req.model_rewrite = rewrite_new;
  if (objective_new) s->req.objective = objective_new;
  if (fairness_new) s->req.fairness_id = fairness_new;
  if ((!s->req.path || !s->req.path[0]) && orig_path) s->req.path = orig_path;
  if ((!s->req.path || !s->req.path[0]) && fwd_path) s->req.path = fwd_path;
  if (!s->req.path) s->req.path = "";
  if (!s->req.method) s->req.method = "";
}

static void add_subset_entry(sy_extproc_stream_t *s, const char **list, size_t *n, size_t cap, const char *v, size_t len) {
  while (len && (*v == ' ')) v++, len--;
  while (len && v[len - 1] == ' ') len--;
  if (!len || *n >= cap) return;
  const char *d = sy_arena_strndup(&s->arena, v, len);
  if (d) list[(*n)++] = d;
}

/* envoy.lb.subset_hint → x-gateway-destination-endpoint-subset: a list of
 * strings (upstream), or one comma-separated string (as the lightweight EPP
 * also accepts). Non-string list items are ignored, as upstream does. */
static void record_metadata(sy_extproc_stream_t *s, const pb_req_t *m) {
  if (!m->metadata_context || s->cfg->disable_subset_filter) return;
  const Envoy__Config__Core__V3__Metadata *md = m->metadata_context;
  for (size_t i = 0; i < md->n_filter_metadata; i++) {
    const Envoy__Config__Core__V3__Metadata__FilterMetadataEntry *e = md->filter_metadata[i];
    if (!e || !e->key || strcmp(e->key, SY_MD_NS_SUBSET) != 0 || !e->value) continue;
    for (size_t j = 0; j < e->value->n_fields; j++) {
      const pb_field_t *f = e->value->fields[j];
      if (!f || !f->key || strcmp(f->key, SY_HDR_SUBSET) != 0 || !f->value) continue;
      const pb_value_t *v = f->value;
      size_t cap = 0;
      if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE && v->list_value) {
        cap = v->list_value->n_values;
      } else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE && v->string_value) {
        cap = 1;
        for (const char *p = v->string_value; *p; p++) cap += *p == ',';
      }
      const char **list = sy_arena_alloc(&s->arena, sizeof(char *) * (cap ? cap : 1));
      if (!list) return;
      size_t n = 0;
      if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE && v->list_value) {
        for (size_t k = 0; k < v->list_value->n_values; k++) {
          const pb_value_t *it = v->list_value->values[k];
          if (it && it->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE && it->string_value)
            add_subset_entry(s, list, &n, cap, it->string_value, strlen(it->string_value));
        }
      } else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE && v->string_value) {
        const char *p = v->string_value;
        while (*p) {
          const char *c = strchr(p, ',');
          size_t len = c ? (size_t)(c - p) : strlen(p);
          add_subset_entry(s, list, &n, cap, p, len);
          p += len;
          if (*p == ',') p++;
        }
      }
      s->req.subset_present = true;
      s->req.subset = list;
      s->req.n_subset = n;
    }
  }
}

/* ------------------------------------------------------ response parsing */

static void on_response_headers(sy_extproc_stream_t *s, const pb_headers_t *h) {
  if (h->headers) {
    for (size_t i = 0; i < h->headers->n_headers; i++) {
      const pb_hv_t *hv = h->headers->headers[i];
      if (!hv || !hv->key) continue;
      const char *v;
      size_t n;
      header_value(hv, &v, &n);
      if (!strcmp(hv->key, ":status") || !strcmp(hv->key, "status")) {
        int code = 0;
        for (size_t k = 0; k < n && k < 4 && v[k] >= '0' && v[k] <= '9'; k++) code = code * 10 + (v[k] - '0');
        s->response_status = code;
      } else if (!strcmp(hv->key, "content-type")) {
        if (memmem(v, n, "text/event-stream", 17)) s->response_sse = true;
      }
    }
  }
  if (s->response_sse || s->response_stream) {
    sy_openai_sse_init(&s->sse, 1 << 20);
    s->sse_active = true;
  }
  /* A rewritten model is turned back in the body, whose length then
   * changes: the upstream's content-length must go. */
  if (s->model_served && !s->unrw_active)
    s->unrw_active = sy_openai_unrewrite_init(&s->unrw, s->model_served, s->model_requested) == 0;
  const sy_extproc_decision_t *m = s->resp_mut;
  size_t cap = 1 + (m ? m->n_resp_set + m->n_resp_add : 0);
  pb_hvo_t **set = sy_arena_alloc(&s->scratch, sizeof(*set) * cap);
  size_t nset = 0;
  if (set) set[nset] = make_header(s, SY_HDR_WENT_INTO_RESP, "true", 4), nset += set[nset] != NULL;
  for (size_t i = 0; set && m && i < m->n_resp_set; i++) {
    pb_hvo_t *o = make_header(s, m->resp_set_keys[i], m->resp_set_values[i], strlen(m->resp_set_values[i]));
    if (o) set[nset++] = o;
  }
  for (size_t i = 0; set && m && i < m->n_resp_add; i++) {
    /* HTTPRoute "add" appends: join with what the upstream sent, if any */
    const char *cur = NULL;
    size_t cur_len = 0;
    for (size_t k = 0; h->headers && k < h->headers->n_headers && !cur; k++) {
      const pb_hv_t *hv = h->headers->headers[k];
      if (hv && hv->key && sy_str_ieq(hv->key, strlen(hv->key), m->resp_add_keys[i])) header_value(hv, &cur, &cur_len);
    }
    const char *v = m->resp_add_values[i];
    size_t vlen = strlen(v);
    if (cur && cur_len) {
      char *j = sy_arena_alloc(&s->scratch, cur_len + 1 + vlen + 1);
      if (!j) continue;
      memcpy(j, cur, cur_len);
      j[cur_len] = ',';
      memcpy(j + cur_len + 1, v, vlen + 1);
      v = j;
      vlen += cur_len + 1;
    }
    pb_hvo_t *o = make_header(s, m->resp_add_keys[i], v, vlen);
    if (o) set[nset++] = o;
  }
  pb_hmut_t hm = ENVOY__SERVICE__EXT_PROC__V3__HEADER_MUTATION__INIT;
  hm.set_headers = set;
  hm.n_set_headers = nset;
  size_t n_rm = m ? m->n_resp_remove : 0;
  char **rm = sy_arena_alloc(&s->scratch, sizeof(*rm) * (n_rm + 1));
  if (rm) {
    for (size_t i = 0; i < n_rm; i++) rm[i] = (char *)m->resp_remove[i];
    if (s->unrw_active) rm[n_rm++] = (char *)"content-length";
    hm.remove_headers = rm;
    hm.n_remove_headers = n_rm;
  }
  pb_common_t common = ENVOY__SERVICE__EXT_PROC__V3__COMMON_RESPONSE__INIT;
  common.header_mutation = &hm;
  pb_headers_resp_t hr = ENVOY__SERVICE__EXT_PROC__V3__HEADERS_RESPONSE__INIT;
  hr.response = &common;
  pb_resp_t resp = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
  resp.response_case = PB_RESP(RESPONSE_HEADERS);
  resp.response_headers = &hr;
  emit(s, &resp);
  if (h->end_of_stream) finish_decision(s, NULL);
}

static void complete_response(sy_extproc_stream_t *s) {
  sy_extproc_usage_t usage;
  memset(&usage, 0, sizeof(usage));
  sy_openai_usage_t u;
  memset(&u, 0, sizeof(u));
  if (s->sse_active) {
    u = s->sse.usage;
  } else if (s->resp_body.len && !s->resp_body_truncated) {
    sy_openai_usage_from_json(s->resp_body.data, s->resp_body.len, &u);
  }
  usage.response_bytes = s->resp_bytes;
  usage.found = u.found;
  usage.prompt_tokens = u.prompt_tokens;
  usage.completion_tokens = u.completion_tokens;
  usage.total_tokens = u.total_tokens;
  usage.cached_tokens = u.cached_tokens;
  finish_decision(s, &usage);
}

/* Bytes the reverse rewriter still holds go out now (the body ends with
 * trailers, or the rewriter gives up). */
static void flush_unrewrite(sy_extproc_stream_t *s) {
  if (!s->unrw_active || !s->unrw.carry_len) return;
  emit_streamed_body(s, false, (const uint8_t *)s->unrw.carry, s->unrw.carry_len, false);
  s->unrw.carry_len = 0;
}

static void on_response_body(sy_extproc_stream_t *s, const pb_body_t *b) {
  const char *data = (const char *)b->body.data;
  size_t len = b->body.len;
  s->resp_bytes += len;
  if (len) {
    if (s->sse_active) {
      sy_openai_sse_feed(&s->sse, data, len);
    } else if (!s->resp_body_truncated && sy_buf_append(&s->resp_body, data, len) != 0) {
      s->resp_body_truncated = true; /* too large to keep: skip usage, still pass it through */
      sy_buf_cleanup(&s->resp_body);
    }
  }
  const uint8_t *out = b->body.data;
  size_t out_len = b->body.len;
  if (s->unrw_active) {
    const char *t;
    if (sy_openai_unrewrite_feed(&s->unrw, data, len, b->end_of_stream, &t, &out_len) == 0) {
      out = (const uint8_t *)t;
    } else { /* out of memory: pass the rest through untouched */
      flush_unrewrite(s);
      sy_openai_unrewrite_cleanup(&s->unrw);
      s->unrw_active = false;
      out_len = b->body.len;
    }
  }
  emit_streamed_body(s, false, out, out_len, b->end_of_stream);
  if (b->end_of_stream) complete_response(s);
}

static void send_trailers_response(sy_extproc_stream_t *s, bool request_side) {
  pb_trailers_resp_t tr = ENVOY__SERVICE__EXT_PROC__V3__TRAILERS_RESPONSE__INIT;
  pb_resp_t r = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
  if (request_side) {
    r.response_case = PB_RESP(REQUEST_TRAILERS);
    r.request_trailers = &tr;
  } else {
    r.response_case = PB_RESP(RESPONSE_TRAILERS);
    r.response_trailers = &tr;
  }
  emit(s, &r);
}

/* ------------------------------------------------------------- dispatch */

static void handle(sy_extproc_stream_t *s, const pb_req_t *m) {
  if (m->observability_mode) s->observability = true;
  if (m->protocol_config &&
      m->protocol_config->request_body_mode ==
          ENVOY__EXTENSIONS__FILTERS__HTTP__EXT_PROC__V3__PROCESSING_MODE__BODY_SEND_MODE__NONE &&
      s->phase == PHASE_REQ_HEADERS)
    s->body_mode_none = true;
  if (s->phase < PHASE_ROUTED) record_metadata(s, m);

  switch (m->request_case) {
    case PB_REQ(REQUEST_HEADERS):
      if (s->phase != PHASE_REQ_HEADERS || !m->request_headers) break; /* duplicate: ignore */
      record_request_headers(s, m->request_headers);
      s->phase = PHASE_REQ_BODY;
      if (m->request_headers->end_of_stream || s->body_mode_none) {
        s->req.headers_only = true;
        decide_and_answer(s, true);
      }
      break;
    case PB_REQ(REQUEST_BODY):
      if (s->phase != PHASE_REQ_BODY || !m->request_body) break;
      if (m->request_body->body.len) {
        int rc = sy_buf_append(&s->body, m->request_body->body.data, m->request_body->body.len);
        if (rc == SY_ETOOBIG) {
          char msg[128];
          snprintf(msg, sizeof(msg), "request body exceeds the limit of %zu bytes", s->cfg->max_request_body);
          send_immediate(s, 413, "PayloadTooLarge", msg);
          break;
        }
        if (rc) {
          send_immediate(s, 500, "Internal", "out of memory buffering the request body");
          break;
        }
      }
      if (m->request_body->end_of_stream) decide_and_answer(s, true);
      break;
    case PB_REQ(REQUEST_TRAILERS):
      /* Trailers end the request body when no end_of_stream chunk came. */
      if (s->phase == PHASE_REQ_BODY) decide_and_answer(s, false);
      if (s->phase != PHASE_DONE) send_trailers_response(s, true);
      break;
    case PB_REQ(RESPONSE_HEADERS):
      if (s->phase != PHASE_ROUTED || !m->response_headers || s->resp_headers_seen) break; /* duplicates ignored */
      s->resp_headers_seen = true;
      on_response_headers(s, m->response_headers);
      break;
    case PB_REQ(RESPONSE_BODY):
      if (s->phase != PHASE_ROUTED || !m->response_body) break;
      on_response_body(s, m->response_body);
      break;
    case PB_REQ(RESPONSE_TRAILERS):
      if (s->phase != PHASE_ROUTED) break;
      flush_unrewrite(s);
      send_trailers_response(s, false);
      complete_response(s);
      break;
    default:
      break;
  }
}

int sy_extproc_stream_on_message(sy_extproc_stream_t *s, const uint8_t *data, size_t len) {
  if (s->phase == PHASE_DONE) return 0;
  pb_req_t *m = envoy__service__ext_proc__v3__processing_request__unpack(&s->pb_alloc, len, data);
  if (!m) {
    sy_arena_reset(&s->scratch);
    return SY_EPARSE;
  }
  handle(s, m);
  /* Everything unpacked or built for this message lives in scratch. */
  sy_arena_reset(&s->scratch);
  return 0;
}

void sy_extproc_stream_on_half_close(sy_extproc_stream_t *s) {
  /* Envoy half-closes when the HTTP stream is over; whatever the response
   * did, the decision is released now. */
  finish_decision(s, NULL);
  s->phase = PHASE_DONE;
}
