#include "scheduler.h"

#include <errno.h>
#include <string.h>

struct sy_sched {
  sy_sched_config_t cfg;
};

int sy_sched_new(sy_sched_t **out, const sy_sched_config_t *cfg) {
  if (cfg->max_endpoints > SY_SCHED_MAX_RESULT) return SY_EINVAL;
  sy_sched_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->cfg = *cfg;
  if (s->cfg.max_endpoints == 0) s->cfg.max_endpoints = 1;
  *out = s;
  return 0;
}

void sy_sched_free(sy_sched_t *s) { sy_free(s); }

int sy_sched_picker_parse(const char *name, sy_sched_picker_t *out) {
  if (!strcmp(name, "least-request")) {
    *out = SY_SCHED_PICKER_LEAST_REQUEST;
  } else if (!strcmp(name, "random")) {
    *out = SY_SCHED_PICKER_RANDOM;
  } else {
    return SY_EINVAL;
  }
  return 0;
}

static bool already(const sy_sched_result_t *r, const sy_endpoint_t *e) {
  for (size_t i = 0; i < r->n; i++) {
    if (r->endpoints[i] == e) return true;
  }
  return false;
}

/* Least in-flight among candidates not yet chosen; ties broken uniformly at
 * random (reservoir sampling) so equal endpoints share load evenly. */
static const sy_endpoint_t *pick_least(const sy_endpoint_t *const *c, size_t n, const sy_sched_result_t *r) {
  const sy_endpoint_t *best = NULL;
  int best_load = 0;
  uint64_t ties = 0;
  for (size_t i = 0; i < n; i++) {
    if (already(r, c[i])) continue;
    int load = atomic_load_explicit(&c[i]->state->in_flight, memory_order_relaxed);
    if (!best || load < best_load) {
      best = c[i];
      best_load = load;
      ties = 1;
    } else if (load == best_load && sy_rand_below(++ties) == 0) {
      best = c[i];
    }
  }
  return best;
}

static const sy_endpoint_t *pick_random(const sy_endpoint_t *const *c, size_t n, const sy_sched_result_t *r) {
  size_t start = (size_t)sy_rand_below(n);
  for (size_t k = 0; k < n; k++) {
    const sy_endpoint_t *e = c[(start + k) % n];
    if (!already(r, e)) return e;
  }
  return NULL;
}

int sy_sched_schedule(const sy_sched_t *s, const sy_sched_request_t *req, const sy_endpoint_t *const *cands,
                      size_t n, sy_sched_result_t *out) {
  SY_UNUSED(req);
  out->n = 0;
  if (n == 0) return SY_ENOTFOUND;
  size_t want = SY_MIN(s->cfg.max_endpoints, n);
  while (out->n < want) {
    const sy_endpoint_t *e = s->cfg.picker == SY_SCHED_PICKER_RANDOM ? pick_random(cands, n, out)
                                                                      : pick_least(cands, n, out);
    if (!e) break;
    out->endpoints[out->n++] = e;
  }
  return 0;
}
