/* Load and affinity scorers: queue-scorer, kv-cache-utilization-scorer,
 * running-requests-size-scorer, lora-affinity-scorer (GAIE), token-load-
 * scorer, active-request-scorer, load-aware-scorer (llm-d). Scores are in
 * [0, 1]; the framework clamps and weights them. See plugins/README.md. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "plugins.h"
#include "putil.h"

/* Parameterless plugins: any parameter is an error. State is NULL. */
int sy_plugin_create_noparams(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const none[] = {NULL};
  *state = NULL;
  return sy_pp_check(args, none, err);
}

static void destroy_free(void *state) { sy_free(state); }

/* ---------------------------------------------------------------- queue */

/* Upstream (llm-d-router queuedepth): endpoints whose metrics were never
 * written are left unscored (0 here) and do not take part in the min/max. */
static void min_max_score(sy_sched_cand_t **cands, size_t n, double *scores, bool waiting) {
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    const sy_endpoint_metrics_t *m = &cands[i]->m;
    if (waiting && m->update_ns == 0) continue;
    double v = waiting ? m->waiting : m->running;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  for (size_t i = 0; i < n; i++) {
    const sy_endpoint_metrics_t *m = &cands[i]->m;
    if (waiting && m->update_ns == 0) {
      scores[i] = 0.0;
      continue;
    }
    double v = waiting ? m->waiting : m->running;
    scores[i] = hi == lo ? 1.0 : (hi - v) / (hi - lo);
  }
}

static void queue_score(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, double *scores) {
  SY_UNUSED(st);
  SY_UNUSED(c);
  min_max_score(cands, n, scores, true);
}

const sy_sched_plugin_type_t sy_plugin_queue_scorer = {
    .type = "queue-scorer",
    .kinds = SY_SCHED_SCORER,
    .create = sy_plugin_create_noparams,
    .score = queue_score,
};

/* ---------------------------------------------------------- running reqs */

/* Upstream (runningrequests) scores every candidate, unscraped ones as 0
 * running requests. */
static void running_score(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, double *scores) {
  SY_UNUSED(st);
  SY_UNUSED(c);
  min_max_score(cands, n, scores, false);
}

const sy_sched_plugin_type_t sy_plugin_running_requests_size_scorer = {
    .type = "running-requests-size-scorer",
    .kinds = SY_SCHED_SCORER,
    .create = sy_plugin_create_noparams,
    .score = running_score,
};

/* ------------------------------------------------------------- kv cache */

static void kv_score(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, double *scores) {
  SY_UNUSED(st);
  SY_UNUSED(c);
  for (size_t i = 0; i < n; i++) {
    const sy_endpoint_metrics_t *m = &cands[i]->m;
    scores[i] = m->update_ns == 0 ? 0.0 : 1.0 - m->kv_usage; /* never scraped: unscored */
  }
}

const sy_sched_plugin_type_t sy_plugin_kv_cache_utilization_scorer = {
    .type = "kv-cache-utilization-scorer",
    .kinds = SY_SCHED_SCORER,
    .create = sy_plugin_create_noparams,
    .score = kv_score,
};

/* ----------------------------------------------------------------- lora */

static bool has_hash(const uint64_t *a, int n, uint64_t h) {
  for (int i = 0; i < n; i++) {
    if (a[i] == h) return true;
  }
  return false;
}

/* Upstream keeps the adapters in maps, so duplicates count once. */
static int distinct(const uint64_t *a, int n) {
  int d = 0;
  for (int i = 0; i < n; i++) {
    if (!has_hash(a, i, a[i])) d++;
  }
  return d;
}

static void lora_score(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, double *scores) {
  SY_UNUSED(st);
  const char *model = c->req && c->req->model ? c->req->model : "";
  uint64_t h = sy_lora_hash(model, strlen(model));
  for (size_t i = 0; i < n; i++) {
    const sy_endpoint_metrics_t *m = &cands[i]->m;
    int nr = SY_MIN(SY_MAX(m->n_running_loras, 0), SY_MAX_LORAS);
    int nw = SY_MIN(SY_MAX(m->n_waiting_loras, 0), SY_MAX_LORAS);
    if (has_hash(m->running_loras, nr, h)) {
      scores[i] = 1.0;
    } else if (distinct(m->running_loras, nr) + distinct(m->waiting_loras, nw) < m->max_lora) {
      scores[i] = 0.8;
    } else if (has_hash(m->waiting_loras, nw, h)) {
      scores[i] = 0.6;
    } else {
      scores[i] = 0.0;
    }
  }
}

const sy_sched_plugin_type_t sy_plugin_lora_affinity_scorer = {
    .type = "lora-affinity-scorer",
    .kinds = SY_SCHED_SCORER,
    .create = sy_plugin_create_noparams,
    .score = lora_score,
};

/* ----------------------------------------------------------- token load */

#define TOKEN_LOAD_DEFAULT 4194304

typedef struct {
  double threshold;
} token_load_t;

static int token_load_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"queueThresholdTokens", "inFlightLoadProducerName", NULL};
  int64_t thr = TOKEN_LOAD_DEFAULT;
  const char *producer = NULL;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) ||
      (rc = sy_pp_int(args, args->params, keys[0], INT64_MIN, INT64_MAX, &thr, err)) ||
      (rc = sy_pp_str(args, args->params, keys[1], &producer, err))) {
    return rc;
  }
  if (thr <= 0) thr = TOKEN_LOAD_DEFAULT; /* upstream: non-positive falls back to the default */
  token_load_t *t = sy_calloc(1, sizeof(*t));
  if (!t) return -ENOMEM;
  t->threshold = (double)thr;
  *state = t;
  return 0;
}

static void token_load_score(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, double *scores) {
  SY_UNUSED(c);
  const token_load_t *t = st;
  for (size_t i = 0; i < n; i++) {
    double load = (double)cands[i]->in_flight_tokens;
    scores[i] = load <= 0 ? 1.0 : 1.0 - SY_MIN(load, t->threshold) / t->threshold;
  }
}

const sy_sched_plugin_type_t sy_plugin_token_load_scorer = {
    .type = "token-load-scorer",
    .kinds = SY_SCHED_SCORER,
    .create = token_load_create,
    .destroy = destroy_free,
    .score = token_load_score,
};

/* ------------------------------------------------------- active request */

typedef struct {
  int64_t idle_threshold;
  double max_busy_score;
} active_request_t;

static int active_request_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"idleThreshold", "maxBusyScore", "requestTimeout", "inFlightLoadProducerName",
                                     NULL};
  int64_t idle = 0;
  double busy = 1.0;
  const char *ignored = NULL;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) ||
      (rc = sy_pp_int(args, args->params, "idleThreshold", INT32_MIN, INT32_MAX, &idle, err)) ||
      (rc = sy_pp_double(args, args->params, "maxBusyScore", -INFINITY, INFINITY, &busy, err)) ||
      (rc = sy_pp_str(args, args->params, "requestTimeout", &ignored, err)) ||
      (rc = sy_pp_str(args, args->params, "inFlightLoadProducerName", &ignored, err))) {
    return rc;
  }
  /* Upstream falls back instead of failing: negative idleThreshold → 0,
   * maxBusyScore outside [0, 1] → 1.0 (logged). */
  if (idle < 0) idle = 0;
  if (busy < 0.0 || busy > 1.0) {
    SY_LOG(SY_LOG_WARN, "active-request-scorer: ignoring out-of-range maxBusyScore; using 1.0", "plugin", args->name,
           NULL);
    busy = 1.0;
  }
  active_request_t *a = sy_calloc(1, sizeof(*a));
  if (!a) return -ENOMEM;
  a->idle_threshold = idle;
  a->max_busy_score = busy;
  *state = a;
  return 0;
}

static void active_request_score(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n,
                                 double *scores) {
  SY_UNUSED(c);
  const active_request_t *a = st;
  int64_t max_count = 0;
  for (size_t i = 0; i < n; i++) max_count = SY_MAX(max_count, (int64_t)cands[i]->in_flight);
  for (size_t i = 0; i < n; i++) {
    int64_t count = cands[i]->in_flight;
    if (count <= a->idle_threshold) {
      scores[i] = 1.0;
    } else {
      /* count > idleThreshold >= 0, so max_count > 0 */
      scores[i] = (double)(max_count - count) / (double)max_count * a->max_busy_score;
    }
  }
}

const sy_sched_plugin_type_t sy_plugin_active_request_scorer = {
    .type = "active-request-scorer",
    .kinds = SY_SCHED_SCORER,
    .create = active_request_create,
    .destroy = destroy_free,
    .score = active_request_score,
};

/* ----------------------------------------------------------- load aware */

#define LOAD_AWARE_DEFAULT 128

typedef struct {
  double threshold;
} load_aware_t;

static int load_aware_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"threshold", NULL};
  int64_t thr = LOAD_AWARE_DEFAULT;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) ||
      (rc = sy_pp_int(args, args->params, "threshold", INT32_MIN, INT32_MAX, &thr, err))) {
    return rc;
  }
  if (thr <= 0) thr = LOAD_AWARE_DEFAULT; /* upstream: non-positive falls back to the default */
  load_aware_t *l = sy_calloc(1, sizeof(*l));
  if (!l) return -ENOMEM;
  l->threshold = (double)thr;
  *state = l;
  return 0;
}

static void load_aware_score(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, double *scores) {
  SY_UNUSED(c);
  const load_aware_t *l = st;
  for (size_t i = 0; i < n; i++) {
    double q = cands[i]->m.waiting;
    if (q == 0) {
      scores[i] = 0.5;
    } else {
      if (q > l->threshold) q = l->threshold;
      scores[i] = 0.5 * (1.0 - q / l->threshold);
    }
  }
}

const sy_sched_plugin_type_t sy_plugin_load_aware_scorer = {
    .type = "load-aware-scorer",
    .kinds = SY_SCHED_SCORER,
    .create = load_aware_create,
    .destroy = destroy_free,
    .score = load_aware_score,
};
