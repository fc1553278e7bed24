/*
 * scheduler (sy_sched_*) — endpoint selection: the GAIE/llm-d plugin pipeline
 * configured by an EndpointPickerConfig. Not named sched.h, which would
 * shadow the system header.
 *
 *   producers.prepare → profile handler → for each profile:
 *       filters (in order, stop when empty) → scorers (Σ clamp(score,0,1)·weight)
 *       → picker → profile handler combines → producers.pre_request
 *
 * Decisions are pure functions over the request and a candidate list taken
 * from an immutable snapshot: no I/O and no clock reads on the decision path
 * (the caller passes `now_ns`). Plugins that keep state across requests (the
 * prefix index, LRUs, in-flight accounting) protect it themselves: decisions
 * run concurrently on every ext_proc worker.
 *
 * Plugins are const vtables listed in one registry table (registry.c); the
 * framework, not the plugin, measures each call.
 */
#ifndef SY_SCHEDULER_H
#define SY_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "datastore.h"
#include "yaml.h"

#define SY_SCHED_MAX_RESULT 8    /* endpoints per profile result (primary + fallbacks) */
#define SY_SCHED_MAX_PROFILES 8
#define SY_SCHED_MAX_SLOTS 4     /* producer data slots per candidate */
#define SY_SCHED_MAX_HEADERS 4   /* extra request headers a decision may set */

/* ------------------------------------------------------------ requests */

typedef struct sy_sched_header {
  const char *key; /* lower-case */
  const char *value;
} sy_sched_header_t;

/* What plugins may look at. Borrowed for the duration of the call. */
typedef struct sy_sched_request {
  const char *request_id;
  const char *model;      /* target model (after rewrite) */
  const char *prompt;     /* text the prefix index hashes (sy_openai prompt) */
  size_t prompt_len;
  const char *cache_salt; /* or NULL */
  int priority;           /* InferenceObjective priority, 0 by default */
  const sy_sched_header_t *headers; /* request headers (lower-case keys) */
  size_t n_headers;
} sy_sched_request_t;

/* Returns the value of request header `key` (lower-case) or NULL. */
const char *sy_sched_request_header(const sy_sched_request_t *r, const char *key);

/* One candidate endpoint during a scheduling cycle. */
typedef struct sy_sched_cand {
  const sy_endpoint_t *ep;
  sy_endpoint_metrics_t m; /* copied from ep->state at cycle start */
  int in_flight;           /* ep->state->in_flight at cycle start */
  long in_flight_tokens;
  double score;            /* weighted total in the current profile */
  double slot[SY_SCHED_MAX_SLOTS]; /* producer outputs (e.g. prefix blocks matched) */
} sy_sched_cand_t;

typedef struct sy_sched_profile_result {
  const char *profile;     /* profile name */
  sy_sched_cand_t *endpoints[SY_SCHED_MAX_RESULT];
  size_t n;
} sy_sched_profile_result_t;

/* The outcome of one decision. */
typedef struct sy_sched_result {
  const sy_endpoint_t *endpoints[SY_SCHED_MAX_RESULT]; /* primary profile: primary first */
  size_t n;
  sy_sched_header_t headers[SY_SCHED_MAX_HEADERS]; /* e.g. x-prefiller-host-port */
  size_t n_headers;
  long prompt_tokens_estimate; /* for in-flight token accounting */
  /* Set by a prefix producer: the primary pick's match (for metrics). */
  bool prefix_known;
  double prefix_hit_ratio; /* matched blocks / hashed blocks, 0..1 */
  long prefix_hit_bytes;   /* matched blocks × block size × 4 characters */
} sy_sched_result_t;

/* Per-request scheduling state, allocated from the request's arena. */
typedef struct sy_sched_cycle {
  sy_arena_t *arena;
  const sy_sched_request_t *req;
  uint64_t now_ns;
  sy_sched_cand_t *cands; /* every candidate, in snapshot order */
  size_t n_cands;
  double slot_total[SY_SCHED_MAX_SLOTS]; /* producer per-request values (e.g. total blocks) */
  sy_sched_profile_result_t results[SY_SCHED_MAX_PROFILES];
  size_t n_results;
  const char *primary_profile;
  sy_sched_result_t *out;
  void *data[SY_SCHED_MAX_SLOTS]; /* producer per-request data, indexed by slot */
} sy_sched_cycle_t;

/* ------------------------------------------------------------- plugins */

typedef enum sy_sched_kind {
  SY_SCHED_FILTER = 1u << 0,
  SY_SCHED_SCORER = 1u << 1,
  SY_SCHED_PICKER = 1u << 2,
  SY_SCHED_PROFILE_HANDLER = 1u << 3,
  SY_SCHED_PRODUCER = 1u << 4,  /* prepare / pre_request / complete hooks */
  SY_SCHED_DETECTOR = 1u << 5,  /* saturation detector */
  SY_SCHED_OTHER = 1u << 6,     /* accepted config plugins with no scheduling role (data sources, parsers) */
} sy_sched_kind_t;

typedef struct sy_sched sy_sched_t;
typedef struct sy_sched_profile sy_sched_profile_t;

/* A located configuration error. */
typedef struct sy_sched_error {
  char file[256];
  int line, column;
  char msg[512];
} sy_sched_error_t;

/* Sets err's message (and position from `at`, which may be NULL) and returns
 * SY_EINVAL, for `return sy_sched_errorf(err, node, "...", ...);`. */
int sy_sched_errorf(sy_sched_error_t *err, const sy_yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Passed to a plugin's create(). */
typedef struct sy_sched_plugin_args {
  const char *name;                /* instance name (defaults to the type) */
  const sy_yaml_node_t *params;    /* "parameters" mapping, or NULL */
  sy_sched_t *sched;               /* for sy_sched_plugin_find / slot allocation */
} sy_sched_plugin_args_t;

/* The completion of a routed request (response finished or stream over). */
typedef struct sy_sched_completion {
  sy_endpoint_state_t *state; /* primary endpoint's state (valid during the call) */
  int status;              /* HTTP status, 0 if unknown */
  long prompt_tokens;      /* from usage, or the estimate */
  long completion_tokens;
} sy_sched_completion_t;

typedef struct sy_sched_plugin_type {
  const char *type;   /* registered type name, e.g. "queue-scorer" */
  unsigned kinds;     /* sy_sched_kind_t bits */
  /* Parses args->params (strictly: unknown keys are errors naming the key)
   * and creates the state. 0 or SY_EINVAL with err set (use sy_sched_errorf). */
  int (*create)(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err);
  void (*destroy)(void *state);
  /* Called once all plugins exist (e.g. to look up a producer). Optional. */
  int (*link)(void *state, sy_sched_t *s, sy_sched_error_t *err);

  /* Filter: compacts cands[0..n) in place (keeping order); returns the new n. */
  size_t (*filter)(void *state, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n);
  /* Scorer: writes scores[i] for cands[i] (the framework clamps to [0,1]). */
  void (*score)(void *state, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, double *scores);
  /* Picker: chooses up to `max` of cands by cands[i]->score into out[];
   * returns how many. */
  size_t (*pick)(void *state, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, sy_sched_cand_t **out,
                 size_t max);
  /* Profile handler: runs the profiles it wants (sy_sched_run_profile) and
   * fills c->results / c->primary_profile / c->out. Returns 0, or
   * SY_ENOTFOUND when no endpoint could be chosen. */
  int (*handle)(void *state, sy_sched_t *s, sy_sched_cycle_t *c);

  /* Producer hooks. */
  void (*prepare)(void *state, sy_sched_cycle_t *c);                 /* before profiles */
  void (*pre_request)(void *state, sy_sched_cycle_t *c);             /* after a successful pick */
  void (*complete)(void *state, const sy_sched_completion_t *done);  /* any thread */

  /* Saturation detector: pool saturation over candidates (>= 1.0 saturated). */
  double (*saturation)(void *state, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n);
} sy_sched_plugin_type_t;

/* The registry (registry.c): every in-tree plugin type, NULL-terminated. */
extern const sy_sched_plugin_type_t *const sy_sched_registry[];
const sy_sched_plugin_type_t *sy_sched_registry_find(const char *type);

/* Finds a plugin instance by name; returns its state and type (or NULL). */
void *sy_sched_plugin_find(sy_sched_t *s, const char *name, const sy_sched_plugin_type_t **type);
/* Reserves a candidate data slot for a producer; returns its index or -1. */
int sy_sched_slot_alloc(sy_sched_t *s);

/* Runs one profile over the cycle's candidates (filters → scorers → picker)
 * and appends its result to c->results. Returns the result or NULL when the
 * filters left nothing / the picker chose nothing. For profile handlers. */
sy_sched_profile_result_t *sy_sched_run_profile(sy_sched_t *s, sy_sched_cycle_t *c, const sy_sched_profile_t *p);
/* Profiles by index/name, for profile handlers. */
size_t sy_sched_profile_count(const sy_sched_t *s);
const sy_sched_profile_t *sy_sched_profile_at(const sy_sched_t *s, size_t i);
const sy_sched_profile_t *sy_sched_profile_by_name(const sy_sched_t *s, const char *name);
const char *sy_sched_profile_name(const sy_sched_profile_t *p);

/* ------------------------------------------------------ the scheduler */

/* Builds a scheduler from an EndpointPickerConfig document (YAML text;
 * apiVersion llm-d.ai/v1alpha1 or inference.networking.x-k8s.io/v1alpha1,
 * kind EndpointPickerConfig), applying upstream's defaulting rules. `origin`
 * names the file in errors. text == NULL selects the built-in default
 * configuration (queue 2, kv-cache 2, prefix 3, max-score picker).
 * Returns 0, or SY_EINVAL with err located (file:line:column). */
int sy_sched_new_from_config(sy_sched_t **out, const char *origin, const char *text, size_t len,
                             sy_sched_error_t *err);
void sy_sched_free(sy_sched_t *s);

/* Runs a scheduling cycle over `cands` (n may be 0 → SY_ENOTFOUND).
 * `arena` is the request's. Returns 0 with out->n >= 1, SY_ENOTFOUND when
 * no endpoint survived, or -ENOMEM. Any thread, concurrently. */
int sy_sched_schedule(sy_sched_t *s, sy_arena_t *arena, uint64_t now_ns, const sy_sched_request_t *req,
                      const sy_endpoint_t *const *cands, size_t n, sy_sched_result_t *out);

/* Pool saturation for admission (the configured detector, default
 * utilization-detector), over the given candidates. */
double sy_sched_saturation(sy_sched_t *s, sy_arena_t *arena, uint64_t now_ns, const sy_endpoint_t *const *cands,
                           size_t n);

/* Tells completion hooks a routed request is over. Any thread. */
void sy_sched_complete(sy_sched_t *s, const sy_sched_completion_t *done);

/* Per-plugin call statistics (the framework times every call). */
typedef struct sy_sched_plugin_stats {
  const char *name, *type;
  const char *extension; /* "filter", "score", "pick", "prepare", "pre_request" */
  uint64_t calls;
  uint64_t total_ns;
} sy_sched_plugin_stats_t;
/* Optional per-call observer (e.g. a latency histogram): called after every
 * plugin call with upstream's extension-point name (ProfilePicker, Filter,
 * Scorer, Picker, PrepareData, PreRequest). Set once at start-up. */
typedef void (*sy_sched_observer_fn)(void *ctx, const char *extension_point, const char *plugin_type,
                                     const char *plugin_name, double seconds);
void sy_sched_set_observer(sy_sched_t *s, sy_sched_observer_fn fn, void *ctx);

/* Fills up to `max` entries; returns how many exist. */
size_t sy_sched_stats(const sy_sched_t *s, sy_sched_plugin_stats_t *out, size_t max);

/* Data-layer settings from metrics-data-source / core-metrics-extractor
 * (consumed by the scraper; the scheduler only carries them). */
#define SY_SCHED_MAX_ENGINES 16
typedef struct sy_sched_engine_config {
  char *name;
  char *queued, *running, *kv_usage, *lora, *cache_info; /* selector specs; "" disables; NULL = unset */
  char *cache_block_size, *cache_num_blocks;
} sy_sched_engine_config_t;

typedef struct sy_sched_datalayer {
  bool enabled;        /* false when dataLayer.sources is an explicit [] */
  char *scheme;        /* "http" */
  char *path;          /* "/metrics" */
  bool insecure_skip_verify;
  char *engine_label_key; /* "inference.networking.k8s.io/engine-type" */
  char *default_engine;   /* "vllm" */
  sy_sched_engine_config_t engines[SY_SCHED_MAX_ENGINES];
  size_t n_engines;
} sy_sched_datalayer_t;

const sy_sched_datalayer_t *sy_sched_datalayer(const sy_sched_t *s);

/* Recent decisions, for the debug API: why an endpoint won. A bounded ring
 * (SY_SCHED_RECENT entries) filled by every successful profile run. */
#define SY_SCHED_RECENT 64
#define SY_SCHED_MAX_SCORERS 8
typedef struct sy_sched_decision {
  uint64_t seq;          /* increasing; 0 = empty slot */
  double wall_time;      /* seconds since the epoch */
  char request_id[64];
  char profile[32];
  char endpoint[64];     /* address of the first pick */
  double total;          /* weighted total of the pick */
  size_t n_candidates, n_after_filters;
  size_t n_scorers;
  char scorer[SY_SCHED_MAX_SCORERS][48]; /* instance names */
  double weight[SY_SCHED_MAX_SCORERS];
  double score[SY_SCHED_MAX_SCORERS];    /* the pick's clamped score per scorer */
} sy_sched_decision_t;

/* Copies up to `max` most recent decisions, newest first; returns how many. */
size_t sy_sched_recent_decisions(sy_sched_t *s, sy_sched_decision_t *out, size_t max);

/* The configuration text the scheduler was built from (for /debug/config). */
const char *sy_sched_config_text(const sy_sched_t *s);

/* The built-in default EndpointPickerConfig text (for docs and tests). */
extern const char sy_sched_default_config[];

#endif /* SY_SCHEDULER_H */
