/* Pickers: max-score-picker (llm-d-router: stable sort + deterministic
 * round-robin rotation inside equal-score tiers, PR #2515), random-picker,
 * weighted-random-picker (A-Res). See plugins/README.md. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "plugins.h"
#include "putil.h"

typedef struct picker {
  size_t max_endpoints;
  pthread_mutex_t mu; /* max-score-picker's rotation counter */
  size_t counter;
} picker_t;

static int picker_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"maxNumOfEndpoints", NULL};
  int64_t max = 1;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) ||
      (rc = sy_pp_int(args, args->params, "maxNumOfEndpoints", INT32_MIN, SY_SCHED_MAX_RESULT, &max, err))) {
    return rc;
  }
  if (max <= 0) max = 1; /* upstream: invalid values fall back to the default */
  picker_t *p = sy_calloc(1, sizeof(*p));
  if (!p) return -ENOMEM;
  if (pthread_mutex_init(&p->mu, NULL) != 0) {
    sy_free(p);
    return -ENOMEM;
  }
  p->max_endpoints = (size_t)max;
  *state = p;
  return 0;
}

static void picker_destroy(void *st) {
  picker_t *p = st;
  if (!p) return;
  pthread_mutex_destroy(&p->mu);
  sy_free(p);
}

/* ------------------------------------------------------------ max-score */

typedef struct ranked {
  double key;
  size_t idx;
  sy_sched_cand_t *cand;
} ranked_t;

/* Descending key, then ascending original index (a stable sort). */
static int ranked_cmp(const void *a, const void *b) {
  const ranked_t *x = a, *y = b;
  if (x->key > y->key) return -1;
  if (x->key < y->key) return 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Upstream's shared counter: rotation = counter % n, then counter++, reset
 * to 0 once it reaches n. */
static size_t next_rotation(picker_t *p, size_t n) {
  pthread_mutex_lock(&p->mu);
  size_t r = p->counter % n;
  if (++p->counter >= n) p->counter = 0;
  pthread_mutex_unlock(&p->mu);
  return r;
}

static size_t max_score_pick(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n,
                             sy_sched_cand_t **out, size_t max) {
  picker_t *p = st;
  size_t want = SY_MIN(max, p->max_endpoints);
  if (n == 0 || want == 0) return 0;
  ranked_t *r = sy_arena_alloc(c->arena, n * sizeof(*r));
  if (!r) return 0;
  for (size_t i = 0; i < n; i++) r[i] = (ranked_t){cands[i]->score, i, cands[i]};
  qsort(r, n, sizeof(*r), ranked_cmp);
  /* Rotate each equal-score tier that starts inside the top `want`. */
  for (size_t start = 0; start < n && start < want;) {
    size_t end = start + 1;
    while (end < n && r[end].key == r[start].key) end++;
    size_t len = end - start;
    if (len > 1) {
      size_t rot = next_rotation(p, len);
      if (rot) {
        ranked_t *tmp = sy_arena_alloc(c->arena, len * sizeof(*tmp));
        if (!tmp) return 0;
        for (size_t i = 0; i < len; i++) tmp[i] = r[start + (i + rot) % len];
        memcpy(r + start, tmp, len * sizeof(*tmp));
      }
    }
    start = end;
  }
  size_t k = SY_MIN(want, n);
  for (size_t i = 0; i < k; i++) out[i] = r[i].cand;
  return k;
}

const sy_sched_plugin_type_t sy_plugin_max_score_picker = {
    .type = "max-score-picker",
    .kinds = SY_SCHED_PICKER,
    .create = picker_create,
    .destroy = picker_destroy,
    .pick = max_score_pick,
};

/* --------------------------------------------------------------- random */

/* "Shuffle, take N" = a partial Fisher-Yates over a copy. */
static size_t random_take(sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, sy_sched_cand_t **out, size_t want) {
  if (n == 0 || want == 0) return 0;
  sy_sched_cand_t **tmp = sy_arena_alloc(c->arena, n * sizeof(*tmp));
  if (!tmp) return 0;
  memcpy(tmp, cands, n * sizeof(*tmp));
  size_t k = SY_MIN(want, n);
  for (size_t i = 0; i < k; i++) {
    size_t j = i + (size_t)sy_rand_below(n - i);
    sy_sched_cand_t *t = tmp[i];
    tmp[i] = tmp[j];
    tmp[j] = t;
    out[i] = tmp[i];
  }
  return k;
}

static size_t random_pick(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, sy_sched_cand_t **out,
                          size_t max) {
  const picker_t *p = st;
  return random_take(c, cands, n, out, SY_MIN(max, p->max_endpoints));
}

const sy_sched_plugin_type_t sy_plugin_random_picker = {
    .type = "random-picker",
    .kinds = SY_SCHED_PICKER,
    .create = picker_create,
    .destroy = picker_destroy,
    .pick = random_pick,
};

/* ------------------------------------------------------ weighted random */

static size_t weighted_random_pick(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n,
                                   sy_sched_cand_t **out, size_t max) {
  const picker_t *p = st;
  size_t want = SY_MIN(max, p->max_endpoints);
  if (n == 0 || want == 0) return 0;
  bool any = false;
  for (size_t i = 0; i < n && !any; i++) any = cands[i]->score > 0;
  if (!any) return random_take(c, cands, n, out, want); /* all zero: uniform */
  ranked_t *r = sy_arena_alloc(c->arena, n * sizeof(*r));
  if (!r) return 0;
  for (size_t i = 0; i < n; i++) {
    double s = cands[i]->score, key = 0.0;
    if (s > 0) {
      double u = sy_rand_double();
      if (u == 0) u = 1e-10;
      key = pow(u, 1.0 / s); /* A-Res: key = U^(1/w) */
    }
    r[i] = (ranked_t){key, i, cands[i]};
  }
  qsort(r, n, sizeof(*r), ranked_cmp);
  size_t k = SY_MIN(want, n);
  for (size_t i = 0; i < k; i++) out[i] = r[i].cand;
  return k;
}

const sy_sched_plugin_type_t sy_plugin_weighted_random_picker = {
    .type = "weighted-random-picker",
    .kinds = SY_SCHED_PICKER,
    .create = picker_create,
    .destroy = picker_destroy,
    .pick = weighted_random_pick,
};
