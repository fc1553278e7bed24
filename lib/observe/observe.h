/*
 * observe — read-only views of the running router for operators: the debug
 * JSON documents (/debug/pools, /debug/endpoints, /debug/config,
 * /debug/decisions, /debug/routes) and the live dashboard frame.
 *
 * Everything is read from immutable snapshots, endpoint-state atomics and
 * the scheduler's decision ring: rendering never blocks the hot path.
 * Functions are called from the admin thread (one at a time).
 */
#ifndef SY_OBSERVE_H
#define SY_OBSERVE_H

#include "core.h"
#include "datastore.h"
#include "director.h"
#include "metrics.h"
#include "scheduler.h"

typedef struct sy_observe_config {
  sy_datastore_t *ds;        /* borrowed */
  sy_sched_t *sched;         /* borrowed */
  const sy_director_t *dir;  /* borrowed; may be NULL */
  uint64_t stale_after_ns;   /* metrics older than this are "stale" (2 s, as --metrics-staleness-threshold) */
} sy_observe_config_t;

typedef struct sy_observe sy_observe_t;

int sy_observe_new(sy_observe_t **out, const sy_observe_config_t *cfg);
/* Sets the director whose counters the live frame shows (created after the
 * observer, since the director takes the observer's hooks). */
void sy_observe_set_director(sy_observe_t *o, const sy_director_t *dir);
void sy_observe_free(sy_observe_t *o);

/* Appends the JSON document `what` ("pools", "endpoints", "config",
 * "decisions", "routes") to out. 0, SY_ENOTFOUND (unknown what),
 * SY_ETOOBIG / -ENOMEM (buffer). */
int sy_observe_debug_json(sy_observe_t *o, const char *what, sy_buf_t *out);

/* Appends one live dashboard frame (JSON; schema in lib/admin/README.md). */
int sy_observe_live_json(sy_observe_t *o, sy_buf_t *out);

/* Registers upstream's EPP metric families and collectors in `reg` and
 * attaches the scheduler's per-call observer. Start-up thread, once. */
int sy_observe_metrics_register(sy_observe_t *o, sy_metrics_registry_t *reg, const char *version);
/* Hooks to pass in sy_director_config_t so request metrics are recorded. */
sy_director_hooks_t sy_observe_director_hooks(sy_observe_t *o);

/* Appends a JSON string literal for s (escaped), for other renderers. */
int sy_observe_json_str(sy_buf_t *out, const char *s);

#endif
