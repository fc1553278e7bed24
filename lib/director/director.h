/*
 * director — the request lifecycle between the ext_proc protocol and the
 * scheduler (upstream's "requestcontrol"): parse the OpenAI body, apply the
 * model-name rewrite (header, then InferenceModelRewrite), gather candidates from the current snapshot
 * (subset hint, readiness), schedule, and account in-flight requests until
 * the response completes.
 *
 * It implements extproc's sy_extproc_director_ops_t. decide() and finish()
 * run on ext_proc worker threads, concurrently; they never block (snapshot
 * acquire is one uncontended mutex) and do no I/O.
 */
#ifndef SY_DIRECTOR_H
#define SY_DIRECTOR_H

#include "datastore.h"
#include "extproc.h"
#include "gateway.h"
#include "scheduler.h"

/* What the director reports about each request, for metrics. Strings are
 * valid during the call only. Hooks run on ext_proc worker threads and must
 * not block. */
typedef struct sy_director_event {
  const char *model;        /* as requested ("" when unknown) */
  const char *target_model; /* after rewrite */
  const char *rewrite_object; /* the InferenceModelRewrite applied, or NULL */
  int priority;
  int status;               /* 0 = routed, else the ImmediateResponse code */
  const char *error_kind;   /* "BadRequest", ... when status != 0 */
  size_t request_bytes;
  /* routed requests only: */
  const sy_endpoint_t *endpoint;
  double schedule_seconds;  /* sy_sched_schedule wall time */
  bool prefix_known;
  double prefix_hit_ratio;
  long prefix_hit_bytes;
} sy_director_event_t;

typedef struct sy_director_done {
  const char *model, *target_model;
  double duration_seconds;  /* decision to end of response */
  int status;               /* response HTTP status, 0 if unknown */
  bool usage_found;
  long prompt_tokens, completion_tokens, cached_tokens;
  size_t response_bytes;
} sy_director_done_t;

typedef struct sy_director_hooks {
  void (*decided)(void *ctx, const sy_director_event_t *ev);
  void (*done)(void *ctx, const sy_director_done_t *ev);
  void *ctx;
} sy_director_hooks_t;

/* Gateway mode: where the current route table comes from. */
typedef struct sy_director_routes {
  /* Returns the current table with a reference (NULL until the first one is
   * built: requests then get 503). Called once per request; must be cheap
   * and thread-safe. */
  sy_gw_table_t *(*acquire)(void *ctx);
  void *ctx;
  /* The listener port of a request that does not carry the
   * x-switchyard-listener-port header (the data plane sets it per listener). */
  int32_t default_port;
  /* Every InferencePool gets a scheduler of its own built from this
   * EndpointPickerConfig text (NULL text: the built-in default), so pools
   * share no plugin state (prefix index, LRUs) on the hot path. */
  const char *sched_origin;
  const char *sched_text;
  size_t sched_len;
} sy_director_routes_t;

#define SY_HDR_LISTENER_PORT "x-switchyard-listener-port"
/* Set on requests to a pool whose appProtocol is kubernetes.io/h2c, so the
 * data plane's route picks its HTTP/2 cleartext cluster. */
#define SY_HDR_UPSTREAM_PROTOCOL "x-switchyard-upstream-protocol"
/* Envoy's router reads these per request (the ext_proc filter must allow
 * x-envoy-* mutations: mutation_rules.allow_envoy). */
#define SY_HDR_RQ_TIMEOUT "x-envoy-upstream-rq-timeout-ms"
#define SY_HDR_RQ_PER_TRY_TIMEOUT "x-envoy-upstream-rq-per-try-timeout-ms"

typedef struct sy_director_config {
  const char *pool_name;      /* copied; EPP mode */
  const char *pool_namespace; /* copied; EPP mode */
  sy_director_hooks_t hooks;  /* optional */
  /* Set for gateway mode (pool_name is then ignored); the struct is copied,
   * its strings must outlive the director. */
  const sy_director_routes_t *routes;
} sy_director_config_t;

typedef struct sy_director sy_director_t;

/* `ds` and `sched` are borrowed and must outlive the director (in gateway
 * mode `sched` serves requests whose pool has no scheduler of its own yet
 * only if building one fails; it may be the same config). */
int sy_director_new(sy_director_t **out, const sy_director_config_t *cfg, sy_datastore_t *ds, sy_sched_t *sched);
void sy_director_free(sy_director_t *d);

/* Counters since start (any thread). */
typedef struct sy_director_stats {
  uint64_t decisions;      /* requests routed */
  uint64_t errors_400, errors_413, errors_429, errors_500, errors_503, errors_other;
  uint64_t completed;      /* routed requests whose stream ended */
} sy_director_stats_t;
void sy_director_stats(const sy_director_t *d, sy_director_stats_t *out);

/* The ops table to hand to extproc, with the director as ctx. */
extern const sy_extproc_director_ops_t sy_director_ops;

#endif /* SY_DIRECTOR_H */
