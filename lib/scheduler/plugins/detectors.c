/* Saturation detectors, each also a filter (GAIE v1.5.0 / llm-d-router):
 * utilization-detector (default) and concurrency-detector. See
 * plugins/README.md. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "plugins.h"
#include "putil.h"

static void destroy_free(void *st) { sy_free(st); }

/* -------------------------------------------------- utilization-detector */

typedef struct utilization {
  int64_t queue_threshold;
  double kv_threshold;
  uint64_t staleness_ns;
  double headroom;
} utilization_t;

static int utilization_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"queueDepthThreshold", "kvCacheUtilThreshold", "metricsStalenessThreshold",
                                     "headroom", "inFlightLoadProducerName", NULL};
  const sy_yaml_node_t *p = args->params;
  int64_t q = 5;
  double kv = 0.8, headroom = 0.0;
  uint64_t stale = 200u * 1000000u;
  const char *ignored = NULL;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) ||
      (rc = sy_pp_int(args, p, "queueDepthThreshold", 1, INT32_MAX, &q, err)) ||
      (rc = sy_pp_double(args, p, "headroom", 0.0, INFINITY, &headroom, err)) ||
      (rc = sy_pp_duration(args, p, "metricsStalenessThreshold", &stale, err)) ||
      (rc = sy_pp_str(args, p, "inFlightLoadProducerName", &ignored, err)) ||
      (rc = sy_pp_double(args, p, "kvCacheUtilThreshold", -INFINITY, INFINITY, &kv, err))) {
    return rc;
  }
  if (kv <= 0.0 || kv > 1.0) {
    return sy_sched_errorf(err, sy_yaml_get(p, "kvCacheUtilThreshold"),
                           "parameter \"kvCacheUtilThreshold\" must be in (0.0, 1.0], got %g", kv);
  }
  utilization_t *u = sy_calloc(1, sizeof(*u));
  if (!u) return -ENOMEM;
  *u = (utilization_t){q, kv, stale, headroom};
  *state = u;
  return 0;
}

/* Stale: never scraped, or older than the threshold at cycle start. */
static bool is_stale(const utilization_t *u, const sy_sched_cycle_t *c, const sy_endpoint_metrics_t *m) {
  if (m->update_ns == 0) return true;
  return c->now_ns > m->update_ns && c->now_ns - m->update_ns > u->staleness_ns;
}

static double utilization_saturation(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n) {
  const utilization_t *u = st;
  if (n == 0) return 1.0;
  double total = 0;
  for (size_t i = 0; i < n; i++) {
    const sy_endpoint_metrics_t *m = &cands[i]->m;
    if (is_stale(u, c, m)) {
      total += 1.0;
      continue;
    }
    double qr = m->waiting / (double)u->queue_threshold;
    double kr = m->kv_usage / u->kv_threshold;
    total += qr > kr ? qr : kr;
  }
  return total / (double)n;
}

static size_t utilization_filter(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n) {
  const utilization_t *u = st;
  double qlim = (double)u->queue_threshold * (1.0 + u->headroom);
  double kvlim = u->kv_threshold * (1.0 + u->headroom);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const sy_endpoint_metrics_t *m = &cands[i]->m;
    if (!is_stale(u, c, m) && m->waiting < qlim && m->kv_usage < kvlim) k++;
  }
  if (k == 0) return n; /* none passes: keep all */
  k = 0;
  for (size_t i = 0; i < n; i++) {
    const sy_endpoint_metrics_t *m = &cands[i]->m;
    if (!is_stale(u, c, m) && m->waiting < qlim && m->kv_usage < kvlim) cands[k++] = cands[i];
  }
  return k;
}

const sy_sched_plugin_type_t sy_plugin_utilization_detector = {
    .type = "utilization-detector",
    .kinds = SY_SCHED_DETECTOR | SY_SCHED_FILTER,
    .create = utilization_create,
    .destroy = destroy_free,
    .filter = utilization_filter,
    .saturation = utilization_saturation,
};

/* -------------------------------------------------- concurrency-detector */

typedef enum { MODE_REQUESTS, MODE_TOKENS, MODE_HYBRID } conc_mode_t;

typedef struct concurrency {
  conc_mode_t mode;
  int64_t max_requests;
  int64_t max_tokens;
  double headroom;
} concurrency_t;

static int concurrency_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"concurrencyMode", "maxConcurrency", "maxTokenConcurrency", "headroom",
                                     "inFlightLoadProducerName", NULL};
  const sy_yaml_node_t *p = args->params;
  int64_t maxr = 100, maxt = 1000000;
  double headroom = 0.0;
  const char *mode = "requests", *ignored = NULL;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) || (rc = sy_pp_str(args, p, "concurrencyMode", &mode, err)) ||
      (rc = sy_pp_int(args, p, "maxConcurrency", 1, INT64_MAX / 4, &maxr, err)) ||
      (rc = sy_pp_int(args, p, "maxTokenConcurrency", 1, INT64_MAX / 4, &maxt, err)) ||
      (rc = sy_pp_double(args, p, "headroom", 0.0, INFINITY, &headroom, err)) ||
      (rc = sy_pp_str(args, p, "inFlightLoadProducerName", &ignored, err))) {
    return rc;
  }
  conc_mode_t m;
  if (!strcmp(mode, "requests")) {
    m = MODE_REQUESTS;
  } else if (!strcmp(mode, "tokens")) {
    m = MODE_TOKENS;
  } else if (!strcmp(mode, "hybrid")) {
    m = MODE_HYBRID;
  } else {
    return sy_sched_errorf(err, sy_yaml_get(p, "concurrencyMode"),
                           "unsupported concurrencyMode \"%s\" (requests, tokens or hybrid)", mode);
  }
  concurrency_t *cd = sy_calloc(1, sizeof(*cd));
  if (!cd) return -ENOMEM;
  *cd = (concurrency_t){m, maxr, maxt, headroom};
  *state = cd;
  return 0;
}

static double concurrency_saturation(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n) {
  SY_UNUSED(c);
  const concurrency_t *cd = st;
  if (n == 0) return 1.0; /* no capacity */
  double reqs = 0, toks = 0;
  for (size_t i = 0; i < n; i++) {
    reqs += cands[i]->in_flight;
    toks += (double)cands[i]->in_flight_tokens;
  }
  double rs = reqs / ((double)cd->max_requests * (double)n);
  double ts = toks / ((double)cd->max_tokens * (double)n);
  switch (cd->mode) {
  case MODE_REQUESTS: return rs;
  case MODE_TOKENS: return ts;
  default: return rs > ts ? rs : ts; /* whichever saturates first */
  }
}

static size_t concurrency_filter(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n) {
  SY_UNUSED(c);
  const concurrency_t *cd = st;
  /* Upstream truncates the limit to an integer. */
  int64_t rlim = (int64_t)((double)cd->max_requests * (1.0 + cd->headroom));
  int64_t tlim = (int64_t)((double)cd->max_tokens * (1.0 + cd->headroom));
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    bool rok = (int64_t)cands[i]->in_flight < rlim;
    bool tok = (int64_t)cands[i]->in_flight_tokens < tlim;
    bool keep = cd->mode == MODE_REQUESTS ? rok : cd->mode == MODE_TOKENS ? tok : (rok && tok);
    if (keep) cands[k++] = cands[i];
  }
  return k; /* may be empty: no keep-all fallback upstream */
}

const sy_sched_plugin_type_t sy_plugin_concurrency_detector = {
    .type = "concurrency-detector",
    .kinds = SY_SCHED_DETECTOR | SY_SCHED_FILTER,
    .create = concurrency_create,
    .destroy = destroy_free,
    .filter = concurrency_filter,
    .saturation = concurrency_saturation,
};
