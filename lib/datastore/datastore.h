/*
 * datastore — the routing view of the world as immutable, refcounted
 * snapshots, and the per-endpoint runtime state that outlives them.
 *
 * Writers (the controller thread) build a complete sy_snapshot_t and publish
 * it; readers (ext_proc workers) acquire the current snapshot at request
 * start and release it at the end. A published snapshot is never modified,
 * so readers need no locks beyond the tiny one in acquire: "load pointer then
 * ref++" would race with the final release, so both happen under one mutex.
 *
 * Endpoint runtime state (in-flight requests; scraped metrics later) is a
 * separate refcounted object keyed by pool and address and carried over from
 * one snapshot to the next, so counters survive reconciles.
 */
#ifndef SY_DATASTORE_H
#define SY_DATASTORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define SY_MAX_LORAS 16
#define SY_LORA_NAME_MAX 128

/* Model-server metrics of one endpoint as last scraped (plain data). */
typedef struct sy_endpoint_metrics {
  uint64_t update_ns; /* monotonic time of the last successful extraction; 0 = never */
  bool has_waiting, has_running, has_kv;
  double waiting;  /* queued requests */
  double running;  /* running requests */
  double kv_usage; /* fraction 0..1 */
  int block_size;  /* tokens per KV block (cache config), 0 = unknown */
  long num_blocks; /* KV blocks (cache config), 0 = unknown */
  int max_lora;    /* -1 = unknown */
  int n_running_loras, n_waiting_loras;
  uint64_t running_loras[SY_MAX_LORAS]; /* sy_lora_hash() of adapter names */
  uint64_t waiting_loras[SY_MAX_LORAS];
} sy_endpoint_metrics_t;

/* Hash used for LoRA adapter names in metrics (compare with a model name). */
uint64_t sy_lora_hash(const char *name, size_t len);

/* Mutable per-endpoint state shared by every snapshot that contains the
 * endpoint. Counters are atomics; metrics are behind a seqlock with a single
 * writer (the scraper thread), so readers never block and never see a torn
 * copy. */
typedef struct sy_endpoint_state {
  atomic_int refs;
  atomic_int in_flight;              /* requests routed here, response not finished */
  atomic_long in_flight_tokens;      /* estimated prompt tokens of those requests */
  atomic_uint_fast64_t picked;       /* total times picked */
  atomic_uint_fast64_t prefix_milli; /* Σ prefix hit ratio × 1000 of requests picked here */
  atomic_uint_fast64_t prefix_samples; /* requests with a known prefix match */
  atomic_uint metrics_seq;           /* odd while the writer is copying */
  sy_endpoint_metrics_t metrics;
} sy_endpoint_state_t;

/* Publishes new metrics (one writer thread at a time). */
void sy_endpoint_metrics_store(sy_endpoint_state_t *s, const sy_endpoint_metrics_t *m);
/* Copies the latest metrics; any thread, never blocks (retries on a race). */
void sy_endpoint_metrics_load(sy_endpoint_state_t *s, sy_endpoint_metrics_t *out);

/* Returns a new state with refcount 1, or NULL on ENOMEM. */
sy_endpoint_state_t *sy_endpoint_state_new(void);
sy_endpoint_state_t *sy_endpoint_state_ref(sy_endpoint_state_t *s);
/* Drops a reference; the last one frees. Accepts NULL. */
void sy_endpoint_state_unref(sy_endpoint_state_t *s);

/* One routable endpoint: a ready pod's IP × one target port. */
typedef struct sy_endpoint {
  const char *name;     /* "<pod>-rank-<i>" */
  const char *pod_name;
  const char *namespace_name; /* the pod's (= the pool's) namespace */
  const char *ip;
  int port;
  const char *address;  /* "ip:port", IPv6 bracketed */
  const char *const *label_keys; /* pod labels, parallel arrays */
  const char *const *label_values;
  size_t n_labels;
  sy_endpoint_state_t *state; /* owned reference */
} sy_endpoint_t;

/* One InferenceModelRewrite rule, flattened for lookup. */
typedef struct sy_rewrite_rule_snap {
  const char *object;              /* the InferenceModelRewrite's name */
  const char *const *matches;      /* exact model names; none = every model */
  size_t n_matches;
  const char *const *targets;      /* model names to send */
  const uint32_t *weights;         /* parallel to targets */
  size_t n_targets;
  uint64_t total_weight;
} sy_rewrite_rule_snap_t;

typedef struct sy_pool_snap {
  const char *name;
  const char *namespace_name;
  const int32_t *target_ports;
  size_t n_target_ports;
  bool app_h2c; /* appProtocol kubernetes.io/h2c */
  sy_endpoint_t *endpoints; /* ready endpoints, sorted by address */
  size_t n_endpoints;
  size_t n_pods_selected; /* pods matching the selector, ready or not */
  const char *const *objective_names; /* InferenceObjectives of this pool, sorted */
  const int *objective_priorities;
  size_t n_objectives;
  /* InferenceModelRewrite rules of this pool in precedence order: rules
   * with exact matches first, then generic ones; each group by the owning
   * object's creationTimestamp (oldest first, then name), then rule order. */
  const sy_rewrite_rule_snap_t *rewrite_rules;
  size_t n_rewrite_rules;
} sy_pool_snap_t;

typedef struct sy_snapshot {
  atomic_int refs;
  uint64_t generation;
  sy_pool_snap_t *pools; /* sorted by namespace/name */
  size_t n_pools;
  sy_arena_t arena; /* owns every string and array above */
} sy_snapshot_t;

/* Builds snapshots. Usage: sy_snapshot_new(), allocate from snap->arena,
 * fill pools/endpoints (taking state references), then publish. */
sy_snapshot_t *sy_snapshot_new(void);
/* Adds a reference. */
sy_snapshot_t *sy_snapshot_ref(sy_snapshot_t *s);
/* Drops a reference; the last one frees the snapshot and unrefs endpoint
 * states. Accepts NULL. Any thread. */
void sy_snapshot_release(sy_snapshot_t *s);

/* Finds a pool by namespace and name (binary search), or NULL. */
const sy_pool_snap_t *sy_snapshot_pool(const sy_snapshot_t *s, const char *ns, const char *name);
/* Priority of the pool's InferenceObjective `name`; 0 when unknown (as upstream). */
int sy_pool_objective_priority(const sy_pool_snap_t *pool, const char *name);
/* The model `model` is rewritten to, per the pool's InferenceModelRewrites
 * (upstream's precedence: the first exact-match rule, else the first generic
 * rule; a target picked by weight using `rnd`), or NULL when none applies.
 * *object (may be NULL) gets the rule's object name. */
const char *sy_pool_model_rewrite(const sy_pool_snap_t *pool, const char *model, uint64_t rnd, const char **object);
/* Finds an endpoint of `pool` by "ip:port" address, or NULL. */
const sy_endpoint_t *sy_pool_endpoint(const sy_pool_snap_t *pool, const char *address);

/* The publication point. */
typedef struct sy_datastore sy_datastore_t;

/* Creates a datastore whose current snapshot is an empty one (generation 0). */
int sy_datastore_new(sy_datastore_t **out);
/* Frees the datastore and drops its reference to the current snapshot.
 * Readers may still hold snapshots; they stay valid until released. */
void sy_datastore_free(sy_datastore_t *ds);
/* Publishes `snap` (takes ownership of the caller's reference) and drops the
 * datastore's reference to the previous one. Assigns snap->generation. Any
 * thread; writers are expected to be one controller thread. */
void sy_datastore_publish(sy_datastore_t *ds, sy_snapshot_t *snap);
/* Returns the current snapshot with a reference the caller must release.
 * Never NULL. Any thread; never blocks for long (one uncontended mutex). */
sy_snapshot_t *sy_datastore_acquire(sy_datastore_t *ds);

#endif /* SY_DATASTORE_H */
