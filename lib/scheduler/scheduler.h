/*
 * scheduler (sy_sched_*) — endpoint selection. Pure functions over a request description and
 * a candidate list taken from an immutable snapshot: no I/O, no locks, no
 * clock reads, so a decision is safe on any ext_proc worker thread.
 *
 * This is the first picker (least in-flight requests, or random). The full
 * plugin pipeline (profiles, filters, weighted scorers, pickers from an
 * EndpointPickerConfig) will grow behind this same sy_sched_schedule() call.
 */
#ifndef SY_SCHEDULER_H
#define SY_SCHEDULER_H

#include <stddef.h>

#include "datastore.h"

#define SY_SCHED_MAX_RESULT 8

typedef enum sy_sched_picker {
  SY_SCHED_PICKER_LEAST_REQUEST = 0, /* fewest in-flight, random among ties */
  SY_SCHED_PICKER_RANDOM = 1,
} sy_sched_picker_t;

typedef struct sy_sched_config {
  sy_sched_picker_t picker;
  size_t max_endpoints; /* primary + fallbacks, 1..SY_SCHED_MAX_RESULT (default 1) */
} sy_sched_config_t;

/* What the scheduler may look at. Strings are borrowed for the call. */
typedef struct sy_sched_request {
  const char *request_id;
  const char *model;
  const char *prompt;
  size_t prompt_len;
} sy_sched_request_t;

typedef struct sy_sched_result {
  const sy_endpoint_t *endpoints[SY_SCHED_MAX_RESULT]; /* primary first */
  size_t n;
} sy_sched_result_t;

typedef struct sy_sched sy_sched_t;

/* Creates a scheduler from cfg (copied). 0, SY_EINVAL or -ENOMEM. */
int sy_sched_new(sy_sched_t **out, const sy_sched_config_t *cfg);
void sy_sched_free(sy_sched_t *s);
/* Parses a picker name ("least-request", "random"); 0 or SY_EINVAL. */
int sy_sched_picker_parse(const char *name, sy_sched_picker_t *out);

/* Chooses up to cfg.max_endpoints distinct endpoints among `cands` (n > 0).
 * Returns 0 with out->n >= 1, or SY_ENOTFOUND when n == 0. Reads endpoint
 * state atomics; never blocks. Any thread, concurrently. */
int sy_sched_schedule(const sy_sched_t *s, const sy_sched_request_t *req, const sy_endpoint_t *const *cands,
                      size_t n, sy_sched_result_t *out);

#endif /* SY_SCHEDULER_H */
