/*
 * epclient — an Envoy-like ext_proc client on the gRPC C-core API, for the
 * protocol integration tests and the load generator. It plays the data-plane
 * side of the endpoint-picker protocol (reference gaie §2): it encodes
 * ProcessingRequest messages, sends them on a bidi
 * /envoy.service.ext_proc.v3.ExternalProcessor/Process stream and decodes the
 * ProcessingResponse messages that come back. It also speaks the unary gRPC
 * health Check and the server-streaming Watch.
 *
 * Two APIs share the encoders and decoders:
 *   - a synchronous one (sy_epc_stream_*) with one pluck completion queue per
 *     stream, for tests;
 *   - an asynchronous one (sy_epc_astream_*) where many streams share one
 *     caller-owned completion queue, for the benchmark.
 *
 * gRPC lifetime: the caller calls grpc_init() before anything here and
 * grpc_shutdown_blocking() after every channel is freed.
 *
 * Thread-safety: a channel may be shared between threads. A stream (sync or
 * async) belongs to one thread; the async API is driven by whichever single
 * thread calls sy_epc_cq_next() on the queue its streams were started on.
 *
 * Errors: int returns are 0 on success, negative (-errno or SY_E*) on failure.
 */
#ifndef SY_EPCLIENT_H
#define SY_EPCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "core.h"
#include "envoy/service/ext_proc/v3/external_processor.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"

/* Short aliases for the generated names. */
typedef Envoy__Service__ExtProc__V3__ProcessingRequest sy_epc_pb_req_t;
typedef Envoy__Service__ExtProc__V3__ProcessingResponse sy_epc_pb_resp_t;
typedef Envoy__Service__ExtProc__V3__CommonResponse sy_epc_pb_common_t;
typedef Envoy__Service__ExtProc__V3__ImmediateResponse sy_epc_pb_immediate_t;

#define SY_EPC_METHOD_PROCESS "/envoy.service.ext_proc.v3.ExternalProcessor/Process"
#define SY_EPC_METHOD_HEALTH_CHECK "/grpc.health.v1.Health/Check"
#define SY_EPC_METHOD_HEALTH_WATCH "/grpc.health.v1.Health/Watch"

/* Protocol strings (reference gaie §2.1). */
#define SY_EPC_NS_SUBSET "envoy.lb.subset_hint"
#define SY_EPC_KEY_SUBSET "x-gateway-destination-endpoint-subset"
#define SY_EPC_NS_LB "envoy.lb"
#define SY_EPC_KEY_DEST "x-gateway-destination-endpoint"
#define SY_EPC_KEY_SERVED "x-gateway-destination-endpoint-served"

/* Body chunk size the reference EPP uses for streamed_response. */
#define SY_EPC_BODY_CHUNK 62000

/* ------------------------------------------------------------- channel */

typedef struct sy_epc_channel_opts {
  bool tls;                 /* TLS without server-certificate verification */
  const char *tls_authority;/* SNI / authority override for TLS (may be NULL) */
  bool own_connection;      /* GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL: no sharing */
  int max_recv_bytes;       /* max inbound message; 0 = 64 MiB */
} sy_epc_channel_opts_t;

typedef struct sy_epc_channel sy_epc_channel_t;

/* Creates a channel to `target` ("host:port"). opts may be NULL (plaintext,
 * shared connection). The connection is made lazily. Free with
 * sy_epc_channel_free (NULL-safe). */
int sy_epc_channel_new(sy_epc_channel_t **out, const char *target,
                       const sy_epc_channel_opts_t *opts);
void sy_epc_channel_free(sy_epc_channel_t *ch);
grpc_channel *sy_epc_channel_grpc(sy_epc_channel_t *ch);
/* Blocks until the channel is READY or timeout_ms elapses: 0 or -ETIMEDOUT. */
int sy_epc_channel_wait_ready(sy_epc_channel_t *ch, int timeout_ms);

/* ------------------------------------------------------- request builder */

typedef enum sy_epc_kind {
  SY_EPC_REQUEST_HEADERS = 2,
  SY_EPC_RESPONSE_HEADERS = 3,
  SY_EPC_REQUEST_BODY = 4,
  SY_EPC_RESPONSE_BODY = 5,
  SY_EPC_REQUEST_TRAILERS = 6,
  SY_EPC_RESPONSE_TRAILERS = 7,
} sy_epc_kind_t;

typedef struct sy_epc_header {
  const char *key;
  const char *value; /* sent as raw_value (what Envoy does) */
} sy_epc_header_t;

/* One ProcessingRequest. Unused fields stay zero. */
typedef struct sy_epc_req {
  sy_epc_kind_t kind;
  const sy_epc_header_t *headers; /* headers / trailers kinds */
  size_t n_headers;
  const void *body; /* body kinds */
  size_t body_len;
  bool end_of_stream; /* headers and body kinds */
  bool observability_mode;
  /* metadata_context.filter_metadata["envoy.lb.subset_hint"]
   *   ["x-gateway-destination-endpoint-subset"] = ListValue of strings;
   * sent when has_subset is true (an empty list when n_subset is 0). */
  bool has_subset;
  const char *const *subset;
  size_t n_subset;
  /* metadata_context.filter_metadata["envoy.lb"]
   *   ["x-gateway-destination-endpoint-served"] when non-NULL. */
  const char *served;
} sy_epc_req_t;

/* Serialises `r` into `out` (replacing its content). 0, -ENOMEM, SY_EINVAL. */
int sy_epc_req_encode(const sy_epc_req_t *r, sy_buf_t *out);

/* ------------------------------------------------------ response decoder */

typedef enum sy_epc_resp_kind {
  SY_EPC_RESP_NONE = 0,
  SY_EPC_RESP_REQUEST_HEADERS = 1,
  SY_EPC_RESP_RESPONSE_HEADERS = 2,
  SY_EPC_RESP_REQUEST_BODY = 3,
  SY_EPC_RESP_RESPONSE_BODY = 4,
  SY_EPC_RESP_REQUEST_TRAILERS = 5,
  SY_EPC_RESP_RESPONSE_TRAILERS = 6,
  SY_EPC_RESP_IMMEDIATE = 7,
} sy_epc_resp_kind_t;

/* A decoded ProcessingResponse (the protobuf-c message). */
typedef struct sy_epc_resp {
  sy_epc_pb_resp_t *msg;
} sy_epc_resp_t;

/* Decodes bytes into a new response: 0 or SY_EPARSE / -ENOMEM. */
int sy_epc_resp_decode(const void *p, size_t n, sy_epc_resp_t **out);
void sy_epc_resp_free(sy_epc_resp_t *r);
/* Short name of a kind for messages ("request_headers", ...). */
const char *sy_epc_resp_kind_name(sy_epc_resp_kind_t k);

sy_epc_resp_kind_t sy_epc_resp_kind(const sy_epc_resp_t *r);
/* The CommonResponse of a headers or body response, else NULL. */
const sy_epc_pb_common_t *sy_epc_resp_common(const sy_epc_resp_t *r);
bool sy_epc_resp_clear_route_cache(const sy_epc_resp_t *r);
/* set_headers of the headers/body/trailers response's header mutation. */
size_t sy_epc_resp_set_header_count(const sy_epc_resp_t *r);
/* The i-th set header: key and raw_value (falls back to `value` when
 * raw_value is empty). Returns false when i is out of range. */
bool sy_epc_resp_set_header_at(const sy_epc_resp_t *r, size_t i, const char **key,
                               const char **val, size_t *val_len);
/* Case-insensitive lookup of a set header; number of matches found (the
 * first one is returned in val/val_len). */
int sy_epc_resp_set_header(const sy_epc_resp_t *r, const char *key, const char **val,
                           size_t *val_len);
/* dynamic_metadata[ns][key] when it is a string value, else NULL. */
const char *sy_epc_resp_dynmeta_str(const sy_epc_resp_t *r, const char *ns, const char *key);
/* body_mutation.streamed_response of a body response: 0, or SY_ENOTFOUND. */
int sy_epc_resp_streamed(const sy_epc_resp_t *r, const uint8_t **body, size_t *len, bool *eos);
/* immediate_response: 0 with the HTTP status code and body, or SY_ENOTFOUND. */
int sy_epc_resp_immediate(const sy_epc_resp_t *r, int *code, const uint8_t **body,
                          size_t *len);

/* ---------------------------------------------------------- sync stream */

typedef struct sy_epc_stream sy_epc_stream_t;

/* Opens a bidi stream for `method` (NULL = Process) with an overall deadline
 * of timeout_ms (0 = none). Sends initial metadata. */
int sy_epc_stream_open(sy_epc_channel_t *ch, const char *method, int timeout_ms,
                       sy_epc_stream_t **out);
/* Encodes and sends one message; blocks until gRPC accepted it.
 * 0, or -EPIPE when the call is already over (e.g. after a server-side
 * close), -ETIMEDOUT. */
int sy_epc_stream_send(sy_epc_stream_t *s, const sy_epc_req_t *r);
/* Sends arbitrary bytes as one gRPC message (e.g. garbage). */
int sy_epc_stream_send_raw(sy_epc_stream_t *s, const void *p, size_t n);
/* Waits up to timeout_ms for the next message.
 *   0 and *out set  — a ProcessingResponse arrived (caller frees it);
 *   0 and *out NULL — the server ended the stream (no more messages);
 *   -ETIMEDOUT      — nothing within the timeout (the receive stays posted,
 *                     a later call continues waiting for it);
 *   SY_EPARSE       — a message arrived that is not a ProcessingResponse. */
int sy_epc_stream_recv(sy_epc_stream_t *s, int timeout_ms, sy_epc_resp_t **out);
/* Same, returning the raw bytes (sy_free *buf) for non-ext_proc methods. */
int sy_epc_stream_recv_raw(sy_epc_stream_t *s, int timeout_ms, uint8_t **buf, size_t *len,
                           bool *ended);
/* Half-closes the sending side (SEND_CLOSE_FROM_CLIENT). */
int sy_epc_stream_half_close(sy_epc_stream_t *s);
/* Cancels the call (like an aborted downstream request). */
void sy_epc_stream_cancel(sy_epc_stream_t *s);
/* Waits up to timeout_ms for the final status: 0 with code and details
 * (static until the stream is freed), or -ETIMEDOUT. */
int sy_epc_stream_status(sy_epc_stream_t *s, int timeout_ms, grpc_status_code *code,
                         const char **details);
/* Cancels if still running, drains every pending operation and frees. */
void sy_epc_stream_free(sy_epc_stream_t *s);

/* ------------------------------------------------------------- health */

/* Unary /grpc.health.v1.Health/Check: 0 with the serving status (enum value
 * of HealthCheckResponse.ServingStatus) or the non-OK gRPC code in *grpc_code.
 * Returns -ETIMEDOUT or SY_EPARSE on transport/decoding problems. */
int sy_epc_health_check(sy_epc_channel_t *ch, const char *service, int timeout_ms,
                        grpc_status_code *grpc_code, int *serving);
/* Opens a Watch stream for `service`; read statuses with
 * sy_epc_health_watch_next. */
int sy_epc_health_watch(sy_epc_channel_t *ch, const char *service, int timeout_ms,
                        sy_epc_stream_t **out);
/* 0 with *serving; 1 when the stream ended; -ETIMEDOUT; SY_EPARSE. */
int sy_epc_health_watch_next(sy_epc_stream_t *s, int timeout_ms, int *serving);

/* Unary call of any method with a raw request payload; returns the status.
 * Useful for UNIMPLEMENTED checks. */
int sy_epc_unary_raw(sy_epc_channel_t *ch, const char *method, const void *req, size_t req_len,
                     int timeout_ms, grpc_status_code *code, uint8_t **resp, size_t *resp_len);

/* --------------------------------------------------------- async streams */

typedef struct sy_epc_astream sy_epc_astream_t;

typedef enum sy_epc_ev_type {
  SY_EPC_EV_TIMEOUT = 0, /* the deadline passed with nothing to report */
  SY_EPC_EV_SENT,        /* a send completed; cookie identifies it */
  SY_EPC_EV_MESSAGE,     /* a message arrived: data/len stay valid until the
                            stream's next MESSAGE event or its free */
  SY_EPC_EV_DONE,        /* the call is over and idle; status set; free it now */
  SY_EPC_EV_SHUTDOWN,    /* the queue was shut down and drained */
} sy_epc_ev_type_t;

typedef struct sy_epc_event {
  sy_epc_ev_type_t type;
  sy_epc_astream_t *stream;
  void *user;             /* the stream's user pointer */
  bool ok;                /* for SENT: the send succeeded */
  uint64_t cookie;        /* for SENT: the cookie given to send */
  uint64_t send_start_ns; /* for SENT: when the batch was started */
  const uint8_t *data;    /* for MESSAGE */
  size_t len;
  grpc_status_code status; /* for DONE */
} sy_epc_event_t;

/* Starts a call on `cq` (created with grpc_completion_queue_create_for_next;
 * the caller owns it). Initial metadata, the final status and a receive are
 * posted at once; the stream keeps one receive posted until the server ends
 * the stream. Every started stream ends with exactly one DONE event (also
 * when a batch failed to start: the call is then cancelled), after which the
 * caller frees it. Returns non-zero only when no call could be created. */
int sy_epc_astream_start(sy_epc_channel_t *ch, grpc_completion_queue *cq, const char *method,
                         int timeout_ms, void *user, sy_epc_astream_t **out);
/* Queues a message (takes a reference on `payload`); one send is in flight at
 * a time, the rest wait in order. `cookie` comes back in the SENT event. */
int sy_epc_astream_send(sy_epc_astream_t *s, grpc_slice payload, uint64_t cookie);
/* Queues a half-close after every queued message. */
int sy_epc_astream_half_close(sy_epc_astream_t *s);
void sy_epc_astream_cancel(sy_epc_astream_t *s);
/* Frees a stream after its DONE event. */
void sy_epc_astream_free(sy_epc_astream_t *s);

/* Waits until `deadline_ns` (sy_now_ns clock; 0 = forever) for the next event
 * of any stream on `cq`. Internal completions are handled silently. */
int sy_epc_cq_next(grpc_completion_queue *cq, uint64_t deadline_ns, sy_epc_event_t *ev);

/* gRPC status code name ("OK", "INVALID_ARGUMENT", ...). */
const char *sy_epc_status_name(grpc_status_code c);

#endif /* SY_EPCLIENT_H */
