/*
 * extproc — Envoy's External Processing protocol as the GAIE endpoint-picker
 * protocol defines it, in two layers:
 *
 *  1. A sans-I/O stream state machine (sy_extproc_stream_*): feed it the
 *     bytes of each ProcessingRequest, it emits ProcessingResponse messages
 *     through a callback. No sockets, no threads, no clock: unit tests and the
 *     fuzz target drive it directly.
 *  2. The gRPC C-core server (sy_extproc_server_*): worker threads, one
 *     completion queue each, one state machine per Process stream, plus the
 *     grpc.health.v1 service on the health port.
 *
 * Routing decisions are delegated to a director through the narrow
 * sy_extproc_director_ops_t interface below (implemented by lib/director;
 * tests supply fakes). extproc knows nothing about Kubernetes.
 */
#ifndef SY_EXTPROC_H
#define SY_EXTPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* Exact protocol strings (reference §2.1). */
#define SY_HDR_DESTINATION "x-gateway-destination-endpoint"
#define SY_HDR_DESTINATION_SERVED "x-gateway-destination-endpoint-served"
#define SY_HDR_SUBSET "x-gateway-destination-endpoint-subset"
#define SY_HDR_FAIRNESS "x-gateway-inference-fairness-id"
#define SY_HDR_OBJECTIVE "x-gateway-inference-objective"
#define SY_EXTPROC_SERVICE "envoy.service.ext_proc.v3.ExternalProcessor"
#define SY_HDR_MODEL_REWRITE "x-gateway-model-name-rewrite"
#define SY_HDR_REQUEST_ID "x-request-id"
/* llm-d-router's names for the control headers (read first). */
#define SY_HDR_LLMD_FAIRNESS "x-llm-d-inference-fairness-id"
#define SY_HDR_LLMD_OBJECTIVE "x-llm-d-inference-objective"
#define SY_HDR_LLMD_MODEL_REWRITE "x-llm-d-model-name-rewrite"
#define SY_HDR_WENT_INTO_RESP "x-went-into-resp-headers"
#define SY_MD_NS_LB "envoy.lb"
#define SY_MD_NS_SUBSET "envoy.lb.subset_hint"
/* Largest body chunk sent back in a streamed body mutation. */
#define SY_EXTPROC_BODY_CHUNK 62000

/* ------------------------------------------------------------ director */

/* The request as the director sees it, once complete. All memory belongs to
 * the stream's arena and lives until the stream ends. */
typedef struct sy_extproc_request {
  sy_arena_t *arena;
  const char *request_id; /* from x-request-id, or generated */
  const char *method;     /* :method, or "" */
  const char *path;       /* :path (or x-original-path / x-forwarded-path), or "" */
  bool headers_only;      /* request had no body (GET); body is NULL */
  const char *body;
  size_t body_len;
  const char *model_rewrite; /* x-gateway-model-name-rewrite or NULL */
  const char *objective;     /* x-gateway-inference-objective or NULL */
  const char *fairness_id;   /* x-gateway-inference-fairness-id or "default-flow" */
  const char *const *header_keys;   /* request headers except the system-owned */
  const char *const *header_values; /* control headers, NUL-terminated values */
  size_t n_headers;
  bool subset_present;       /* envoy.lb.subset_hint carried the subset key */
  const char *const *subset; /* its "ip:port" (or "ip") entries */
  size_t n_subset;
} sy_extproc_request_t;

/* The director's answer. Either http_status == 0 and destination is set, or
 * http_status is an error code and the stream answers with an
 * ImmediateResponse whose body is "inference error: <error_kind> - <error_msg>". */
typedef struct sy_extproc_decision {
  int http_status;
  const char *error_kind; /* "BadRequest", "ServiceUnavailable", "Internal", ... */
  const char *error_msg;
  const char *destination; /* "ip:port[,ip:port...]", primary first */
  const char *body;        /* body to forward (may equal the input) */
  size_t body_len;
  bool stream;  /* the request asked for a streamed response */
  void *handle; /* director's per-request state, handed back below */
  const char *const *set_keys; /* extra request headers to set (e.g. x-prefiller-host-port) */
  const char *const *set_values;
  size_t n_set;
  /* Gateway mode (HTTPRoute filters). Request headers to remove; a header
   * both set and received is sent once, with the set value. */
  const char *const *remove;
  size_t n_remove;
  /* Response header mutations, applied to the upstream's response headers:
   * set overwrites, add appends (comma-joined to an existing value), remove
   * drops. All strings live in the request arena. */
  const char *const *resp_set_keys;
  const char *const *resp_set_values;
  size_t n_resp_set;
  const char *const *resp_add_keys;
  const char *const *resp_add_values;
  size_t n_resp_add;
  const char *const *resp_remove;
  size_t n_resp_remove;
  /* A 3xx http_status with this Location is a redirect: answered with an
   * empty body instead of the "inference error" text. */
  const char *location;
  /* Set when the model was rewritten (InferenceModelRewrite or the rewrite
   * header): the name sent upstream and the one the client asked for.
   * Response bodies get "model":"<served>" turned back into <requested>,
   * as upstream, and lose their content-length. */
  const char *model_served;
  const char *model_requested;
} sy_extproc_decision_t;

typedef struct sy_extproc_usage {
  bool found;
  long prompt_tokens, completion_tokens, total_tokens, cached_tokens;
  size_t response_bytes; /* response body bytes seen (always set) */
} sy_extproc_usage_t;

typedef struct sy_extproc_director_ops {
  /* Decides where the request goes. Must not block. Returns 0 (the decision
   * in *out, routed or error) or a negative code for an internal failure
   * (answered as 500). */
  int (*decide)(void *ctx, const sy_extproc_request_t *req, sy_extproc_decision_t *out);
  /* The stream is over (response finished, error, or cancelled): release
   * whatever decide() took (in-flight counts). Called exactly once for every
   * decision that returned a non-NULL handle. `usage` may be NULL (no
   * response seen). */
  void (*finish)(void *ctx, void *handle, int response_status, const sy_extproc_usage_t *usage);
} sy_extproc_director_ops_t;

/* --------------------------------------------------------- state machine */

typedef struct sy_extproc_config {
  size_t max_request_body; /* bytes; over it → ImmediateResponse 413 */
  size_t max_usage_body;   /* bytes of a non-streamed response kept for usage parsing */
  bool disable_subset_filter;
} sy_extproc_config_t;

/* Emits one ProcessingResponse (a ProtobufCMessage, typed as void to keep
 * protobuf-c out of this header). The message and everything it points to
 * is valid only during the call: pack or copy it. */
typedef void (*sy_extproc_emit_fn)(void *ctx, const void *processing_response);

typedef struct sy_extproc_stream sy_extproc_stream_t;

/* Creates a stream state machine. `cfg` and `dir` are borrowed (must outlive
 * the stream). Returns NULL on ENOMEM. Owned by one thread at a time. */
sy_extproc_stream_t *sy_extproc_stream_new(const sy_extproc_config_t *cfg, const sy_extproc_director_ops_t *dir,
                                           void *dir_ctx, sy_extproc_emit_fn emit, void *emit_ctx);

/* Handles one serialized ProcessingRequest. Returns 0, or SY_EPARSE when the
 * bytes are not a ProcessingRequest (the transport answers INVALID_ARGUMENT).
 * Messages arriving after the stream is done are ignored. */
int sy_extproc_stream_on_message(sy_extproc_stream_t *s, const uint8_t *data, size_t len);

/* The client half-closed. */
void sy_extproc_stream_on_half_close(sy_extproc_stream_t *s);

/* True once the stream has nothing more to say (an ImmediateResponse was
 * sent, or the response completed after a half-close): the transport sends
 * status OK once its send queue drains. */
bool sy_extproc_stream_done(const sy_extproc_stream_t *s);

/* Releases the stream; calls the director's finish() if a decision is
 * still open (e.g. cancelled mid-response). Accepts NULL. */
void sy_extproc_stream_free(sy_extproc_stream_t *s);

/* ---------------------------------------------------------------- server */

typedef struct sy_extproc_server_config {
  const char *listen_host; /* "0.0.0.0" */
  int grpc_port;           /* ext_proc, 9002 */
  int health_port;         /* grpc.health.v1, 9003 */
  bool health_on_grpc_port; /* --health-checking */
  bool secure;             /* --secure-serving */
  const char *cert_path;   /* dir with tls.crt / tls.key; NULL → self-signed */
  int workers;             /* completion-queue threads, default 2 */
  size_t max_recv_message; /* gRPC max receive message, default 16 MiB */
  sy_extproc_config_t stream;
} sy_extproc_server_config_t;

typedef enum sy_health {
  SY_HEALTH_SERVING = 0,
  SY_HEALTH_NOT_SERVING = 1,
  SY_HEALTH_UNKNOWN = 2, /* answered as SERVICE_UNKNOWN */
} sy_health_t;

/* Status of health service `service` (`len` bytes, not NUL-terminated;
 * "" for the server as a whole). Called on a worker thread per check and
 * per Watch poll; must be cheap and thread-safe. While draining, the server
 * answers NOT_SERVING without asking. */
typedef sy_health_t (*sy_extproc_ready_fn)(void *ctx, const char *service, size_t len);

typedef struct sy_extproc_server sy_extproc_server_t;

/* Binds both ports and starts the workers. Returns 0 or a negative code with
 * a message in errbuf (e.g. port in use, bad certificate). */
int sy_extproc_server_start(sy_extproc_server_t **out, const sy_extproc_server_config_t *cfg,
                            const sy_extproc_director_ops_t *dir, void *dir_ctx, sy_extproc_ready_fn ready,
                            void *ready_ctx, char *errbuf, size_t errlen);

/* Graceful stop: health reports NOT_SERVING, new streams are refused,
 * open streams get up to `drain_ms` to finish, then are cancelled. Joins the
 * workers and frees the server. Call from the main thread. */
void sy_extproc_server_stop(sy_extproc_server_t *srv, unsigned drain_ms);

/* Number of Process streams currently open (for tests and logs). */
long sy_extproc_server_open_streams(const sy_extproc_server_t *srv);

#endif /* SY_EXTPROC_H */
