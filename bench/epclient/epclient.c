/* epclient — Envoy-like ext_proc client on gRPC C-core (see epclient.h). */
#include "epclient.h"

#include <errno.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

typedef Envoy__Config__Core__V3__HeaderValue pb_hv_t;
typedef Envoy__Config__Core__V3__HeaderValueOption pb_hvo_t;
typedef Envoy__Config__Core__V3__HeaderMap pb_hmap_t;
typedef Envoy__Config__Core__V3__Metadata pb_md_t;
typedef Envoy__Config__Core__V3__Metadata__FilterMetadataEntry pb_md_entry_t;
typedef Envoy__Service__ExtProc__V3__HttpHeaders pb_hh_t;
typedef Envoy__Service__ExtProc__V3__HttpBody pb_hb_t;
typedef Envoy__Service__ExtProc__V3__HttpTrailers pb_ht_t;
typedef Envoy__Service__ExtProc__V3__HeaderMutation pb_hmut_t;
typedef Google__Protobuf__Struct pb_struct_t;
typedef Google__Protobuf__Struct__FieldsEntry pb_field_t;
typedef Google__Protobuf__Value pb_value_t;
typedef Google__Protobuf__ListValue pb_list_t;

/* ------------------------------------------------------------------ time */

static gpr_timespec deadline_in_ms(int ms) {
  if (ms <= 0) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static gpr_timespec deadline_at_ns(uint64_t when_ns) {
  if (when_ns == 0) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  uint64_t now = sy_now_ns();
  int64_t delta = when_ns > now ? (int64_t)(when_ns - now) : 0;
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(delta, GPR_TIMESPAN));
}

/* --------------------------------------------------------------- channel */

struct sy_epc_channel {
  grpc_channel *ch;
};

int sy_epc_channel_new(sy_epc_channel_t **out, const char *target,
                       const sy_epc_channel_opts_t *opts) {
  sy_epc_channel_opts_t dflt = {0};
  if (!opts) opts = &dflt;
  *out = NULL;
  sy_epc_channel_t *c = sy_calloc(1, sizeof(*c));
  if (!c) return -ENOMEM;

  grpc_arg args[5];
  size_t n = 0;
  /* Write each message at once, as Envoy's codec does at the end of every
   * dispatcher pass (chttp2's default may hold writes to combine them). */
  args[n].type = GRPC_ARG_STRING;
  args[n].key = (char *)GRPC_ARG_OPTIMIZATION_TARGET;
  args[n].value.string = (char *)"latency";
  n++;
  args[n].type = GRPC_ARG_INTEGER;
  args[n].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[n].value.integer = opts->max_recv_bytes > 0 ? opts->max_recv_bytes : 64 * 1024 * 1024;
  n++;
  args[n].type = GRPC_ARG_INTEGER;
  args[n].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[n].value.integer = 64 * 1024 * 1024;
  n++;
  if (opts->own_connection) {
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[n].value.integer = 1;
    n++;
  }
  if (opts->tls && opts->tls_authority) {
    args[n].type = GRPC_ARG_STRING;
    args[n].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
    args[n].value.string = (char *)opts->tls_authority;
    n++;
  }
  grpc_channel_args cargs = {n, args};

  grpc_channel_credentials *creds;
  if (opts->tls) {
    /* The reference EPP serves a self-signed certificate and gateways dial it
     * without verification (gaie §2.8): do the same. */
    grpc_tls_credentials_options *to = grpc_tls_credentials_options_create();
    grpc_tls_credentials_options_set_verify_server_cert(to, 0);
    grpc_tls_certificate_verifier *v = grpc_tls_certificate_verifier_no_op_create();
    grpc_tls_credentials_options_set_certificate_verifier(to, v);
    grpc_tls_certificate_verifier_release(v);
    grpc_tls_credentials_options_set_check_call_host(to, 0);
    creds = grpc_tls_credentials_create(to); /* takes ownership of `to` */
  } else {
    creds = grpc_insecure_credentials_create();
  }
  if (!creds) {
    sy_free(c);
    return SY_EINTERNAL;
  }
  c->ch = grpc_channel_create(target, creds, &cargs);
  grpc_channel_credentials_release(creds);
  if (!c->ch) {
    sy_free(c);
    return SY_EINTERNAL;
  }
  *out = c;
  return 0;
}

void sy_epc_channel_free(sy_epc_channel_t *c) {
  if (!c) return;
  if (c->ch) grpc_channel_destroy(c->ch);
  sy_free(c);
}

grpc_channel *sy_epc_channel_grpc(sy_epc_channel_t *c) { return c->ch; }

int sy_epc_channel_wait_ready(sy_epc_channel_t *c, int timeout_ms) {
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  uint64_t end = sy_now_ns() + (uint64_t)timeout_ms * 1000000u;
  int rc = -ETIMEDOUT;
  for (;;) {
    grpc_connectivity_state st = grpc_channel_check_connectivity_state(c->ch, 1);
    if (st == GRPC_CHANNEL_READY) {
      rc = 0;
      break;
    }
    if (sy_now_ns() >= end) break;
    /* Wake at most every 50 ms so a transient failure is retried promptly. */
    uint64_t next = sy_now_ns() + 50000000u;
    if (next > end) next = end;
    int tag;
    grpc_channel_watch_connectivity_state(c->ch, st, deadline_at_ns(next), cq, &tag);
    grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
  }
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
  return rc;
}

/* -------------------------------------------------------------- encoding */

typedef struct buf_appender {
  ProtobufCBuffer base;
  sy_buf_t *b;
  int rc;
} buf_appender_t;

static void buf_append_cb(ProtobufCBuffer *pb, size_t len, const uint8_t *data) {
  buf_appender_t *a = (buf_appender_t *)pb;
  if (a->rc == 0) a->rc = sy_buf_append(a->b, data, len);
}

static int pack_into(const ProtobufCMessage *m, sy_buf_t *out) {
  buf_appender_t a = {{buf_append_cb}, out, 0};
  sy_buf_reset(out);
  protobuf_c_message_pack_to_buffer(m, &a.base);
  return a.rc;
}

int sy_epc_req_encode(const sy_epc_req_t *r, sy_buf_t *out) {
  int rc = 0;
  pb_hv_t *hv = NULL;
  pb_hv_t **hvp = NULL;
  pb_value_t *items = NULL;
  pb_value_t **itemp = NULL;

  sy_epc_pb_req_t req = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__INIT;
  pb_hmap_t map = ENVOY__CONFIG__CORE__V3__HEADER_MAP__INIT;
  pb_hh_t hh = ENVOY__SERVICE__EXT_PROC__V3__HTTP_HEADERS__INIT;
  pb_hb_t hb = ENVOY__SERVICE__EXT_PROC__V3__HTTP_BODY__INIT;
  pb_ht_t ht = ENVOY__SERVICE__EXT_PROC__V3__HTTP_TRAILERS__INIT;

  if (r->n_headers) {
    hv = sy_calloc(r->n_headers, sizeof(*hv));
    hvp = sy_calloc(r->n_headers, sizeof(*hvp));
    if (!hv || !hvp) {
      rc = -ENOMEM;
      goto out;
    }
    for (size_t i = 0; i < r->n_headers; i++) {
      envoy__config__core__v3__header_value__init(&hv[i]);
      hv[i].key = (char *)r->headers[i].key;
      const char *v = r->headers[i].value ? r->headers[i].value : "";
      hv[i].raw_value.data = (uint8_t *)v;
      hv[i].raw_value.len = strlen(v);
      hvp[i] = &hv[i];
    }
  }
  map.n_headers = r->n_headers;
  map.headers = hvp;

  switch (r->kind) {
    case SY_EPC_REQUEST_HEADERS:
    case SY_EPC_RESPONSE_HEADERS:
      hh.headers = &map;
      hh.end_of_stream = r->end_of_stream;
      if (r->kind == SY_EPC_REQUEST_HEADERS) {
        req.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_HEADERS;
        req.request_headers = &hh;
      } else {
        req.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_HEADERS;
        req.response_headers = &hh;
      }
      break;
    case SY_EPC_REQUEST_BODY:
    case SY_EPC_RESPONSE_BODY:
      hb.body.data = (uint8_t *)r->body;
      hb.body.len = r->body_len;
      hb.end_of_stream = r->end_of_stream;
      if (r->kind == SY_EPC_REQUEST_BODY) {
        req.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_BODY;
        req.request_body = &hb;
      } else {
        req.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_BODY;
        req.response_body = &hb;
      }
      break;
    case SY_EPC_REQUEST_TRAILERS:
    case SY_EPC_RESPONSE_TRAILERS:
      ht.trailers = &map;
      if (r->kind == SY_EPC_REQUEST_TRAILERS) {
        req.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_TRAILERS;
        req.request_trailers = &ht;
      } else {
        req.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_TRAILERS;
        req.response_trailers = &ht;
      }
      break;
    default:
      rc = SY_EINVAL;
      goto out;
  }
  req.observability_mode = r->observability_mode;

  /* metadata_context: up to two namespaces, each a Struct with one field. */
  pb_md_t md = ENVOY__CONFIG__CORE__V3__METADATA__INIT;
  pb_md_entry_t ent[2];
  pb_md_entry_t *entp[2];
  pb_struct_t st[2];
  pb_field_t fld[2];
  pb_field_t *fldp[2];
  pb_value_t val[2];
  pb_list_t list = GOOGLE__PROTOBUF__LIST_VALUE__INIT;
  size_t ne = 0;
  if (r->has_subset) {
    if (r->n_subset) {
      items = sy_calloc(r->n_subset, sizeof(*items));
      itemp = sy_calloc(r->n_subset, sizeof(*itemp));
      if (!items || !itemp) {
        rc = -ENOMEM;
        goto out;
      }
      for (size_t i = 0; i < r->n_subset; i++) {
        google__protobuf__value__init(&items[i]);
        items[i].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        items[i].string_value = (char *)r->subset[i];
        itemp[i] = &items[i];
      }
    }
    list.n_values = r->n_subset;
    list.values = itemp;
    google__protobuf__value__init(&val[ne]);
    val[ne].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
    val[ne].list_value = &list;
    google__protobuf__struct__fields_entry__init(&fld[ne]);
    fld[ne].key = (char *)SY_EPC_KEY_SUBSET;
    fld[ne].value = &val[ne];
    fldp[ne] = &fld[ne];
    google__protobuf__struct__init(&st[ne]);
    st[ne].n_fields = 1;
    st[ne].fields = &fldp[ne];
    envoy__config__core__v3__metadata__filter_metadata_entry__init(&ent[ne]);
    ent[ne].key = (char *)SY_EPC_NS_SUBSET;
    ent[ne].value = &st[ne];
    entp[ne] = &ent[ne];
    ne++;
  }
  if (r->served) {
    google__protobuf__value__init(&val[ne]);
    val[ne].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    val[ne].string_value = (char *)r->served;
    google__protobuf__struct__fields_entry__init(&fld[ne]);
    fld[ne].key = (char *)SY_EPC_KEY_SERVED;
    fld[ne].value = &val[ne];
    fldp[ne] = &fld[ne];
    google__protobuf__struct__init(&st[ne]);
    st[ne].n_fields = 1;
    st[ne].fields = &fldp[ne];
    envoy__config__core__v3__metadata__filter_metadata_entry__init(&ent[ne]);
    ent[ne].key = (char *)SY_EPC_NS_LB;
    ent[ne].value = &st[ne];
    entp[ne] = &ent[ne];
    ne++;
  }
  if (ne) {
    md.n_filter_metadata = ne;
    md.filter_metadata = entp;
    req.metadata_context = &md;
  }

  rc = pack_into(&req.base, out);
out:
  sy_free(hv);
  sy_free(hvp);
  sy_free(items);
  sy_free(itemp);
  return rc;
}

/* -------------------------------------------------------------- decoding */

int sy_epc_resp_decode(const void *p, size_t n, sy_epc_resp_t **out) {
  *out = NULL;
  sy_epc_resp_t *r = sy_calloc(1, sizeof(*r));
  if (!r) return -ENOMEM;
  r->msg = envoy__service__ext_proc__v3__processing_response__unpack(NULL, n, p);
  if (!r->msg) {
    sy_free(r);
    return SY_EPARSE;
  }
  *out = r;
  return 0;
}

void sy_epc_resp_free(sy_epc_resp_t *r) {
  if (!r) return;
  if (r->msg) envoy__service__ext_proc__v3__processing_response__free_unpacked(r->msg, NULL);
  sy_free(r);
}

const char *sy_epc_resp_kind_name(sy_epc_resp_kind_t k) {
  switch (k) {
    case SY_EPC_RESP_NONE: return "none";
    case SY_EPC_RESP_REQUEST_HEADERS: return "request_headers";
    case SY_EPC_RESP_RESPONSE_HEADERS: return "response_headers";
    case SY_EPC_RESP_REQUEST_BODY: return "request_body";
    case SY_EPC_RESP_RESPONSE_BODY: return "response_body";
    case SY_EPC_RESP_REQUEST_TRAILERS: return "request_trailers";
    case SY_EPC_RESP_RESPONSE_TRAILERS: return "response_trailers";
    case SY_EPC_RESP_IMMEDIATE: return "immediate_response";
  }
  return "?";
}

sy_epc_resp_kind_t sy_epc_resp_kind(const sy_epc_resp_t *r) {
  if (!r || !r->msg) return SY_EPC_RESP_NONE;
  return (sy_epc_resp_kind_t)r->msg->response_case;
}

const sy_epc_pb_common_t *sy_epc_resp_common(const sy_epc_resp_t *r) {
  switch (sy_epc_resp_kind(r)) {
    case SY_EPC_RESP_REQUEST_HEADERS:
      return r->msg->request_headers ? r->msg->request_headers->response : NULL;
    case SY_EPC_RESP_RESPONSE_HEADERS:
      return r->msg->response_headers ? r->msg->response_headers->response : NULL;
    case SY_EPC_RESP_REQUEST_BODY:
      return r->msg->request_body ? r->msg->request_body->response : NULL;
    case SY_EPC_RESP_RESPONSE_BODY:
      return r->msg->response_body ? r->msg->response_body->response : NULL;
    default:
      return NULL;
  }
}

bool sy_epc_resp_clear_route_cache(const sy_epc_resp_t *r) {
  const sy_epc_pb_common_t *c = sy_epc_resp_common(r);
  return c && c->clear_route_cache;
}

static const pb_hmut_t *resp_mutation(const sy_epc_resp_t *r) {
  const sy_epc_pb_common_t *c = sy_epc_resp_common(r);
  if (c) return c->header_mutation;
  switch (sy_epc_resp_kind(r)) {
    case SY_EPC_RESP_REQUEST_TRAILERS:
      return r->msg->request_trailers ? r->msg->request_trailers->header_mutation : NULL;
    case SY_EPC_RESP_RESPONSE_TRAILERS:
      return r->msg->response_trailers ? r->msg->response_trailers->header_mutation : NULL;
    case SY_EPC_RESP_IMMEDIATE:
      return r->msg->immediate_response ? r->msg->immediate_response->headers : NULL;
    default:
      return NULL;
  }
}

size_t sy_epc_resp_set_header_count(const sy_epc_resp_t *r) {
  const pb_hmut_t *m = resp_mutation(r);
  return m ? m->n_set_headers : 0;
}

bool sy_epc_resp_set_header_at(const sy_epc_resp_t *r, size_t i, const char **key,
                               const char **val, size_t *val_len) {
  const pb_hmut_t *m = resp_mutation(r);
  if (!m || i >= m->n_set_headers || !m->set_headers[i] || !m->set_headers[i]->header)
    return false;
  const pb_hv_t *h = m->set_headers[i]->header;
  *key = h->key ? h->key : "";
  if (h->raw_value.len || !h->value || !h->value[0]) {
    *val = (const char *)h->raw_value.data;
    *val_len = h->raw_value.len;
    if (!*val) *val = "";
  } else {
    *val = h->value;
    *val_len = strlen(h->value);
  }
  return true;
}

int sy_epc_resp_set_header(const sy_epc_resp_t *r, const char *key, const char **val,
                           size_t *val_len) {
  int found = 0;
  size_t n = sy_epc_resp_set_header_count(r);
  for (size_t i = 0; i < n; i++) {
    const char *k, *v;
    size_t vl;
    if (!sy_epc_resp_set_header_at(r, i, &k, &v, &vl)) continue;
    if (sy_str_ieq(k, strlen(k), key)) {
      if (!found && val) {
        *val = v;
        if (val_len) *val_len = vl;
      }
      found++;
    }
  }
  return found;
}

static const pb_value_t *struct_get(const pb_struct_t *s, const char *key) {
  if (!s) return NULL;
  for (size_t i = 0; i < s->n_fields; i++)
    if (s->fields[i] && s->fields[i]->key && strcmp(s->fields[i]->key, key) == 0)
      return s->fields[i]->value;
  return NULL;
}

const char *sy_epc_resp_dynmeta_str(const sy_epc_resp_t *r, const char *ns, const char *key) {
  if (!r || !r->msg) return NULL;
  const pb_value_t *v = struct_get(r->msg->dynamic_metadata, ns);
  if (!v || v->kind_case != GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE) return NULL;
  v = struct_get(v->struct_value, key);
  if (!v || v->kind_case != GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE) return NULL;
  return v->string_value;
}

int sy_epc_resp_streamed(const sy_epc_resp_t *r, const uint8_t **body, size_t *len, bool *eos) {
  sy_epc_resp_kind_t k = sy_epc_resp_kind(r);
  if (k != SY_EPC_RESP_REQUEST_BODY && k != SY_EPC_RESP_RESPONSE_BODY) return SY_ENOTFOUND;
  const sy_epc_pb_common_t *c = sy_epc_resp_common(r);
  if (!c || !c->body_mutation ||
      c->body_mutation->mutation_case !=
          ENVOY__SERVICE__EXT_PROC__V3__BODY_MUTATION__MUTATION_STREAMED_RESPONSE ||
      !c->body_mutation->streamed_response)
    return SY_ENOTFOUND;
  const Envoy__Service__ExtProc__V3__StreamedBodyResponse *sb = c->body_mutation->streamed_response;
  *body = sb->body.data;
  *len = sb->body.len;
  *eos = sb->end_of_stream;
  return 0;
}

int sy_epc_resp_immediate(const sy_epc_resp_t *r, int *code, const uint8_t **body,
                          size_t *len) {
  if (sy_epc_resp_kind(r) != SY_EPC_RESP_IMMEDIATE || !r->msg->immediate_response)
    return SY_ENOTFOUND;
  const sy_epc_pb_immediate_t *im = r->msg->immediate_response;
  *code = im->status ? (int)im->status->code : 0;
  *body = im->body.data;
  *len = im->body.len;
  return 0;
}

const char *sy_epc_status_name(grpc_status_code c) {
  static const char *const names[] = {
      "OK",        "CANCELLED",         "UNKNOWN",        "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",      "UNAVAILABLE",    "DATA_LOSS",
      "UNAUTHENTICATED"};
  if ((int)c >= 0 && (size_t)c < SY_ARRAY_LEN(names)) return names[c];
  return "?";
}

/* Copies a received byte buffer out into one sy_malloc'd block. */
static int bb_to_mem(grpc_byte_buffer *bb, uint8_t **buf, size_t *len) {
  grpc_byte_buffer_reader rd;
  if (!grpc_byte_buffer_reader_init(&rd, bb)) return SY_EPARSE;
  grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
  grpc_byte_buffer_reader_destroy(&rd);
  size_t n = GRPC_SLICE_LENGTH(s);
  uint8_t *p = sy_malloc(n ? n : 1);
  if (!p) {
    grpc_slice_unref(s);
    return -ENOMEM;
  }
  if (n) memcpy(p, GRPC_SLICE_START_PTR(s), n);
  grpc_slice_unref(s);
  *buf = p;
  *len = n;
  return 0;
}

/* ------------------------------------------------------------ sync stream */

struct sy_epc_stream {
  grpc_completion_queue *cq; /* pluck queue owned by this stream */
  grpc_call *call;
  /* Tags: the addresses of these bytes. */
  char t_init, t_send, t_recv, t_status, t_close;
  bool init_pending, send_pending, recv_pending, status_pending, close_pending;
  bool ended;   /* no more messages will arrive */
  bool closed;  /* half-close sent */
  grpc_metadata_array init_md, trail_md;
  grpc_byte_buffer *recv_bb;
  grpc_byte_buffer *send_bb;
  grpc_status_code status;
  grpc_slice details;
  char *details_str;
};

static bool pluck(sy_epc_stream_t *s, void *tag, gpr_timespec deadline, bool *ok) {
  grpc_event ev = grpc_completion_queue_pluck(s->cq, tag, deadline, NULL);
  if (ev.type != GRPC_OP_COMPLETE) return false;
  *ok = ev.success != 0;
  return true;
}

int sy_epc_stream_open(sy_epc_channel_t *ch, const char *method, int timeout_ms,
                       sy_epc_stream_t **out) {
  *out = NULL;
  sy_epc_stream_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_metadata_array_init(&s->init_md);
  grpc_metadata_array_init(&s->trail_md);
  s->details = grpc_empty_slice();
  grpc_slice m = grpc_slice_from_static_string(method ? method : SY_EPC_METHOD_PROCESS);
  gpr_timespec dl = timeout_ms > 0 ? deadline_in_ms(timeout_ms) : gpr_inf_future(GPR_CLOCK_REALTIME);
  s->call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, m, NULL, dl, NULL);
  if (!s->call) {
    sy_epc_stream_free(s);
    return SY_EINTERNAL;
  }
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
  if (grpc_call_start_batch(s->call, ops, 2, &s->t_init, NULL) != GRPC_CALL_OK) {
    sy_epc_stream_free(s);
    return SY_EINTERNAL;
  }
  s->init_pending = true;
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[0].data.recv_status_on_client.trailing_metadata = &s->trail_md;
  ops[0].data.recv_status_on_client.status = &s->status;
  ops[0].data.recv_status_on_client.status_details = &s->details;
  if (grpc_call_start_batch(s->call, ops, 1, &s->t_status, NULL) != GRPC_CALL_OK) {
    sy_epc_stream_free(s);
    return SY_EINTERNAL;
  }
  s->status_pending = true;
  *out = s;
  return 0;
}

int sy_epc_stream_send_raw(sy_epc_stream_t *s, const void *p, size_t n) {
  if (s->send_pending || s->closed) return SY_EINVAL;
  grpc_slice sl = grpc_slice_from_copied_buffer(p, n);
  s->send_bb = grpc_raw_byte_buffer_create(&sl, 1);
  grpc_slice_unref(sl);
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = s->send_bb;
  if (grpc_call_start_batch(s->call, &op, 1, &s->t_send, NULL) != GRPC_CALL_OK) {
    grpc_byte_buffer_destroy(s->send_bb);
    s->send_bb = NULL;
    return SY_EINTERNAL;
  }
  s->send_pending = true;
  bool ok = false;
  /* Flow control can hold a large message back while the peer drains it. */
  if (!pluck(s, &s->t_send, deadline_in_ms(30000), &ok)) return -ETIMEDOUT;
  s->send_pending = false;
  grpc_byte_buffer_destroy(s->send_bb);
  s->send_bb = NULL;
  return ok ? 0 : -EPIPE;
}

int sy_epc_stream_send(sy_epc_stream_t *s, const sy_epc_req_t *r) {
  sy_buf_t b;
  sy_buf_init(&b, (size_t)1 << 30);
  int rc = sy_epc_req_encode(r, &b);
  if (rc == 0) rc = sy_epc_stream_send_raw(s, b.data ? b.data : "", b.len);
  sy_buf_cleanup(&b);
  return rc;
}

int sy_epc_stream_recv_raw(sy_epc_stream_t *s, int timeout_ms, uint8_t **buf, size_t *len,
                           bool *ended) {
  *buf = NULL;
  *len = 0;
  *ended = false;
  if (!s->recv_pending) {
    if (s->ended) {
      *ended = true;
      return 0;
    }
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv_bb;
    if (grpc_call_start_batch(s->call, &op, 1, &s->t_recv, NULL) != GRPC_CALL_OK)
      return SY_EINTERNAL;
    s->recv_pending = true;
  }
  bool ok = false;
  if (!pluck(s, &s->t_recv, deadline_in_ms(timeout_ms), &ok)) return -ETIMEDOUT;
  s->recv_pending = false;
  if (!ok || !s->recv_bb) {
    s->ended = true;
    *ended = true;
    return 0;
  }
  int rc = bb_to_mem(s->recv_bb, buf, len);
  grpc_byte_buffer_destroy(s->recv_bb);
  s->recv_bb = NULL;
  return rc;
}

int sy_epc_stream_recv(sy_epc_stream_t *s, int timeout_ms, sy_epc_resp_t **out) {
  *out = NULL;
  uint8_t *buf;
  size_t len;
  bool ended;
  int rc = sy_epc_stream_recv_raw(s, timeout_ms, &buf, &len, &ended);
  if (rc || ended) return rc;
  rc = sy_epc_resp_decode(buf, len, out);
  sy_free(buf);
  return rc;
}

int sy_epc_stream_half_close(sy_epc_stream_t *s) {
  if (s->closed) return 0;
  if (s->send_pending) return SY_EINVAL;
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  if (grpc_call_start_batch(s->call, &op, 1, &s->t_close, NULL) != GRPC_CALL_OK)
    return SY_EINTERNAL;
  s->closed = true;
  bool ok = false;
  if (!pluck(s, &s->t_close, deadline_in_ms(10000), &ok)) {
    s->close_pending = true;
    return -ETIMEDOUT;
  }
  return ok ? 0 : -EPIPE;
}

void sy_epc_stream_cancel(sy_epc_stream_t *s) {
  if (s->call) grpc_call_cancel(s->call, NULL);
}

int sy_epc_stream_status(sy_epc_stream_t *s, int timeout_ms, grpc_status_code *code,
                         const char **details) {
  if (s->status_pending) {
    bool ok = false;
    if (!pluck(s, &s->t_status, deadline_in_ms(timeout_ms), &ok)) return -ETIMEDOUT;
    s->status_pending = false;
    char *d = grpc_slice_to_c_string(s->details);
    s->details_str = sy_strdup(d ? d : "");
    gpr_free(d);
  }
  if (code) *code = s->status;
  if (details) *details = s->details_str ? s->details_str : "";
  return 0;
}

void sy_epc_stream_free(sy_epc_stream_t *s) {
  if (!s) return;
  if (s->call) {
    if (s->status_pending || s->recv_pending || s->send_pending || s->init_pending ||
        s->close_pending)
      grpc_call_cancel(s->call, NULL);
    gpr_timespec inf = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    bool ok;
    if (s->init_pending) pluck(s, &s->t_init, inf, &ok);
    if (s->send_pending) pluck(s, &s->t_send, inf, &ok);
    if (s->recv_pending) pluck(s, &s->t_recv, inf, &ok);
    if (s->close_pending) pluck(s, &s->t_close, inf, &ok);
    if (s->status_pending) pluck(s, &s->t_status, inf, &ok);
    grpc_call_unref(s->call);
  }
  if (s->recv_bb) grpc_byte_buffer_destroy(s->recv_bb);
  if (s->send_bb) grpc_byte_buffer_destroy(s->send_bb);
  grpc_metadata_array_destroy(&s->init_md);
  grpc_metadata_array_destroy(&s->trail_md);
  grpc_slice_unref(s->details);
  sy_free(s->details_str);
  if (s->cq) {
    grpc_completion_queue_shutdown(s->cq);
    for (;;) {
      grpc_event ev =
          grpc_completion_queue_pluck(s->cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
      if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    }
    grpc_completion_queue_destroy(s->cq);
  }
  sy_free(s);
}

/* ----------------------------------------------------------------- unary */

int sy_epc_unary_raw(sy_epc_channel_t *ch, const char *method, const void *req, size_t req_len,
                     int timeout_ms, grpc_status_code *code, uint8_t **resp, size_t *resp_len) {
  if (resp) *resp = NULL;
  if (resp_len) *resp_len = 0;
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_slice m = grpc_slice_from_static_string(method);
  grpc_call *call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                             timeout_ms > 0 ? deadline_in_ms(timeout_ms)
                                                            : gpr_inf_future(GPR_CLOCK_REALTIME),
                                             NULL);
  int rc = 0;
  grpc_metadata_array imd, tmd;
  grpc_metadata_array_init(&imd);
  grpc_metadata_array_init(&tmd);
  grpc_slice details = grpc_empty_slice();
  grpc_byte_buffer *rbb = NULL;
  grpc_slice sl = grpc_slice_from_copied_buffer(req, req_len);
  grpc_byte_buffer *sbb = grpc_raw_byte_buffer_create(&sl, 1);
  grpc_slice_unref(sl);
  grpc_status_code st = GRPC_STATUS_UNKNOWN;

  grpc_op ops[6];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = sbb;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &imd;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &rbb;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &tmd;
  ops[5].data.recv_status_on_client.status = &st;
  ops[5].data.recv_status_on_client.status_details = &details;
  int tag;
  if (!call || grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) {
    rc = SY_EINTERNAL;
    goto out;
  }
  /* The call deadline bounds this wait; add slack for the status to arrive. */
  grpc_event ev = grpc_completion_queue_pluck(
      cq, &tag, timeout_ms > 0 ? deadline_in_ms(timeout_ms + 2000) : gpr_inf_future(GPR_CLOCK_MONOTONIC),
      NULL);
  if (ev.type != GRPC_OP_COMPLETE) {
    grpc_call_cancel(call, NULL);
    grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    rc = -ETIMEDOUT;
    goto out;
  }
  if (code) *code = st;
  if (rbb && resp) rc = bb_to_mem(rbb, resp, resp_len);
out:
  if (rbb) grpc_byte_buffer_destroy(rbb);
  grpc_byte_buffer_destroy(sbb);
  grpc_metadata_array_destroy(&imd);
  grpc_metadata_array_destroy(&tmd);
  grpc_slice_unref(details);
  if (call) grpc_call_unref(call);
  grpc_completion_queue_shutdown(cq);
  for (;;) {
    grpc_event e = grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (e.type == GRPC_QUEUE_SHUTDOWN) break;
  }
  grpc_completion_queue_destroy(cq);
  return rc;
}

/* ---------------------------------------------------------------- health */

static int health_req_encode(const char *service, sy_buf_t *b) {
  Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = (char *)(service ? service : "");
  return pack_into(&req.base, b);
}

static int health_resp_decode(const uint8_t *p, size_t n, int *serving) {
  Grpc__Health__V1__HealthCheckResponse *r =
      grpc__health__v1__health_check_response__unpack(NULL, n, p);
  if (!r) return SY_EPARSE;
  *serving = (int)r->status;
  grpc__health__v1__health_check_response__free_unpacked(r, NULL);
  return 0;
}

int sy_epc_health_check(sy_epc_channel_t *ch, const char *service, int timeout_ms,
                        grpc_status_code *grpc_code, int *serving) {
  sy_buf_t b;
  sy_buf_init(&b, 4096);
  int rc = health_req_encode(service, &b);
  uint8_t *resp = NULL;
  size_t rlen = 0;
  grpc_status_code code = GRPC_STATUS_UNKNOWN;
  if (rc == 0)
    rc = sy_epc_unary_raw(ch, SY_EPC_METHOD_HEALTH_CHECK, b.data ? b.data : "", b.len, timeout_ms,
                          &code, &resp, &rlen);
  sy_buf_cleanup(&b);
  if (rc == 0) {
    *grpc_code = code;
    *serving = -1;
    if (code == GRPC_STATUS_OK) rc = resp ? health_resp_decode(resp, rlen, serving) : SY_EPARSE;
  }
  sy_free(resp);
  return rc;
}

int sy_epc_health_watch(sy_epc_channel_t *ch, const char *service, int timeout_ms,
                        sy_epc_stream_t **out) {
  int rc = sy_epc_stream_open(ch, SY_EPC_METHOD_HEALTH_WATCH, timeout_ms, out);
  if (rc) return rc;
  sy_buf_t b;
  sy_buf_init(&b, 4096);
  rc = health_req_encode(service, &b);
  if (rc == 0) rc = sy_epc_stream_send_raw(*out, b.data ? b.data : "", b.len);
  sy_buf_cleanup(&b);
  if (rc == 0) rc = sy_epc_stream_half_close(*out);
  if (rc) {
    sy_epc_stream_free(*out);
    *out = NULL;
  }
  return rc;
}

int sy_epc_health_watch_next(sy_epc_stream_t *s, int timeout_ms, int *serving) {
  uint8_t *buf;
  size_t len;
  bool ended;
  int rc = sy_epc_stream_recv_raw(s, timeout_ms, &buf, &len, &ended);
  if (rc) return rc;
  if (ended) return 1;
  rc = health_resp_decode(buf, len, serving);
  sy_free(buf);
  return rc;
}

/* ---------------------------------------------------------- async streams */

enum { T_INIT = 1, T_SEND, T_RECV, T_STATUS };

typedef struct atag {
  int kind;
  sy_epc_astream_t *s;
} atag_t;

typedef struct qitem {
  grpc_slice payload;
  uint64_t cookie;
} qitem_t;

#define AQ_CAP 8 /* messages queued per stream; plenty for an ext_proc stream */

struct sy_epc_astream {
  grpc_call *call;
  grpc_completion_queue *cq;
  void *user;
  atag_t t_init, t_send, t_recv, t_status;
  grpc_metadata_array init_md, trail_md;
  grpc_byte_buffer *recv_bb;
  grpc_byte_buffer *send_bb;
  grpc_slice last_msg; /* the payload of the last MESSAGE event */
  bool have_last_msg;
  grpc_status_code status;
  grpc_slice details;
  int outstanding;      /* batches in flight */
  bool send_inflight;
  bool status_done;
  bool done_reported;
  bool close_queued, close_sent;
  uint64_t cur_cookie, cur_start_ns;
  qitem_t q[AQ_CAP];
  size_t qhead, qlen;
};

/* A DONE event produced while another event was being returned. */
static __thread sy_epc_astream_t *pending_done;

static int astream_pump(sy_epc_astream_t *s) {
  if (s->send_inflight || s->status_done) return 0;
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof(ops));
  if (s->qlen) {
    qitem_t *it = &s->q[s->qhead];
    s->send_bb = grpc_raw_byte_buffer_create(&it->payload, 1);
    grpc_slice_unref(it->payload);
    s->cur_cookie = it->cookie;
    s->qhead = (s->qhead + 1) % AQ_CAP;
    s->qlen--;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = s->send_bb;
    n++;
    if (s->qlen == 0 && s->close_queued && !s->close_sent) {
      ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
      s->close_sent = true;
    }
  } else if (s->close_queued && !s->close_sent) {
    ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    s->close_sent = true;
    s->cur_cookie = 0;
  } else {
    return 0;
  }
  s->cur_start_ns = sy_now_ns();
  if (grpc_call_start_batch(s->call, ops, n, &s->t_send, NULL) != GRPC_CALL_OK) {
    if (s->send_bb) grpc_byte_buffer_destroy(s->send_bb);
    s->send_bb = NULL;
    return SY_EINTERNAL;
  }
  s->send_inflight = true;
  s->outstanding++;
  return 0;
}

static int astream_post_recv(sy_epc_astream_t *s) {
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &s->recv_bb;
  if (grpc_call_start_batch(s->call, &op, 1, &s->t_recv, NULL) != GRPC_CALL_OK)
    return SY_EINTERNAL;
  s->outstanding++;
  return 0;
}

int sy_epc_astream_start(sy_epc_channel_t *ch, grpc_completion_queue *cq, const char *method,
                         int timeout_ms, void *user, sy_epc_astream_t **out) {
  *out = NULL;
  sy_epc_astream_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->cq = cq;
  s->user = user;
  s->t_init = (atag_t){T_INIT, s};
  s->t_send = (atag_t){T_SEND, s};
  s->t_recv = (atag_t){T_RECV, s};
  s->t_status = (atag_t){T_STATUS, s};
  grpc_metadata_array_init(&s->init_md);
  grpc_metadata_array_init(&s->trail_md);
  s->details = grpc_empty_slice();
  grpc_slice m = grpc_slice_from_static_string(method ? method : SY_EPC_METHOD_PROCESS);
  s->call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                     timeout_ms > 0 ? deadline_in_ms(timeout_ms)
                                                    : gpr_inf_future(GPR_CLOCK_REALTIME),
                                     NULL);
  if (!s->call) goto fail;

  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
  if (grpc_call_start_batch(s->call, ops, 2, &s->t_init, NULL) != GRPC_CALL_OK) goto fail;
  s->outstanding++;
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[0].data.recv_status_on_client.trailing_metadata = &s->trail_md;
  ops[0].data.recv_status_on_client.status = &s->status;
  ops[0].data.recv_status_on_client.status_details = &s->details;
  if (grpc_call_start_batch(s->call, ops, 1, &s->t_status, NULL) != GRPC_CALL_OK) goto fail;
  s->outstanding++;
  if (astream_post_recv(s)) goto fail;
  *out = s;
  return 0;
fail:
  /* Batches already started complete on the caller's queue; cancel so they
   * do, and let the DONE event free the stream. */
  if (s->call && s->outstanding) {
    grpc_call_cancel(s->call, NULL);
    *out = s;
    return 0;
  }
  if (s->call) grpc_call_unref(s->call);
  grpc_metadata_array_destroy(&s->init_md);
  grpc_metadata_array_destroy(&s->trail_md);
  sy_free(s);
  return SY_EINTERNAL;
}

int sy_epc_astream_send(sy_epc_astream_t *s, grpc_slice payload, uint64_t cookie) {
  if (s->qlen == AQ_CAP || s->close_queued) return SY_EINVAL;
  if (s->status_done) return -EPIPE;
  size_t tail = (s->qhead + s->qlen) % AQ_CAP;
  s->q[tail].payload = grpc_slice_ref(payload);
  s->q[tail].cookie = cookie;
  s->qlen++;
  return astream_pump(s);
}

int sy_epc_astream_half_close(sy_epc_astream_t *s) {
  if (s->close_queued) return 0;
  s->close_queued = true;
  return astream_pump(s);
}

void sy_epc_astream_cancel(sy_epc_astream_t *s) {
  if (s->call) grpc_call_cancel(s->call, NULL);
}

void sy_epc_astream_free(sy_epc_astream_t *s) {
  if (!s) return;
  while (s->qlen) {
    grpc_slice_unref(s->q[s->qhead].payload);
    s->qhead = (s->qhead + 1) % AQ_CAP;
    s->qlen--;
  }
  if (s->have_last_msg) grpc_slice_unref(s->last_msg);
  if (s->send_bb) grpc_byte_buffer_destroy(s->send_bb);
  if (s->recv_bb) grpc_byte_buffer_destroy(s->recv_bb);
  grpc_metadata_array_destroy(&s->init_md);
  grpc_metadata_array_destroy(&s->trail_md);
  grpc_slice_unref(s->details);
  if (s->call) grpc_call_unref(s->call);
  if (pending_done == s) pending_done = NULL;
  sy_free(s);
}

static bool astream_is_done(sy_epc_astream_t *s) {
  return s->status_done && s->outstanding == 0 && !s->done_reported;
}

static void fill_done(sy_epc_astream_t *s, sy_epc_event_t *ev) {
  s->done_reported = true;
  ev->type = SY_EPC_EV_DONE;
  ev->stream = s;
  ev->user = s->user;
  ev->status = s->status;
}

int sy_epc_cq_next(grpc_completion_queue *cq, uint64_t deadline_ns, sy_epc_event_t *ev) {
  memset(ev, 0, sizeof(*ev));
  if (pending_done && pending_done->cq == cq) {
    sy_epc_astream_t *s = pending_done;
    pending_done = NULL;
    fill_done(s, ev);
    return 0;
  }
  gpr_timespec dl = deadline_at_ns(deadline_ns);
  for (;;) {
    grpc_event ge = grpc_completion_queue_next(cq, dl, NULL);
    if (ge.type == GRPC_QUEUE_TIMEOUT) {
      ev->type = SY_EPC_EV_TIMEOUT;
      return 0;
    }
    if (ge.type == GRPC_QUEUE_SHUTDOWN) {
      ev->type = SY_EPC_EV_SHUTDOWN;
      return 0;
    }
    atag_t *t = ge.tag;
    sy_epc_astream_t *s = t->s;
    s->outstanding--;
    switch (t->kind) {
      case T_INIT:
        break;
      case T_STATUS:
        s->status_done = true;
        break;
      case T_SEND: {
        s->send_inflight = false;
        if (s->send_bb) grpc_byte_buffer_destroy(s->send_bb);
        s->send_bb = NULL;
        ev->type = SY_EPC_EV_SENT;
        ev->stream = s;
        ev->user = s->user;
        ev->ok = ge.success != 0;
        ev->cookie = s->cur_cookie;
        ev->send_start_ns = s->cur_start_ns;
        if (ge.success) astream_pump(s);
        if (astream_is_done(s)) pending_done = s;
        return 0;
      }
      case T_RECV:
        if (ge.success && s->recv_bb) {
          grpc_byte_buffer_reader rd;
          if (s->have_last_msg) grpc_slice_unref(s->last_msg);
          s->have_last_msg = false;
          if (grpc_byte_buffer_reader_init(&rd, s->recv_bb)) {
            s->last_msg = grpc_byte_buffer_reader_readall(&rd);
            grpc_byte_buffer_reader_destroy(&rd);
            s->have_last_msg = true;
          }
          grpc_byte_buffer_destroy(s->recv_bb);
          s->recv_bb = NULL;
          if (astream_post_recv(s)) grpc_call_cancel(s->call, NULL);
          ev->type = SY_EPC_EV_MESSAGE;
          ev->stream = s;
          ev->user = s->user;
          ev->ok = true;
          ev->data = s->have_last_msg ? GRPC_SLICE_START_PTR(s->last_msg) : NULL;
          ev->len = s->have_last_msg ? GRPC_SLICE_LENGTH(s->last_msg) : 0;
          return 0;
        }
        if (s->recv_bb) grpc_byte_buffer_destroy(s->recv_bb);
        s->recv_bb = NULL;
        break;
    }
    if (astream_is_done(s)) {
      fill_done(s, ev);
      return 0;
    }
  }
}
