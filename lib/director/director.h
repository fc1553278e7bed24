/*
 * director — the request lifecycle between the ext_proc protocol and the
 * scheduler (upstream's "requestcontrol"): parse the OpenAI body, apply the
 * model-name rewrite header, gather candidates from the current snapshot
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
#include "scheduler.h"

typedef struct sy_director_config {
  const char *pool_name;      /* copied */
  const char *pool_namespace; /* copied */
} sy_director_config_t;

typedef struct sy_director sy_director_t;

/* `ds` and `sched` are borrowed and must outlive the director. */
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
