/* no-hit-lru-scorer (llm-d): spreads cold requests (no prefix-cache hit on
 * any candidate) over the endpoints least recently given a cold request;
 * warm requests score a neutral 0.5 everywhere. The LRU (bounded, keyed by
 * endpoint address) is touched in pre_request, for cold requests only.
 * See plugins/README.md. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "plugins.h"
#include "putil.h"

#define LRU_DEFAULT 1024
#define PREFILL_PROFILE "prefill" /* upstream: hard-coded */

/* Per-cycle state in c->slot_total[slot]: 0 not scored, 1 warm, 2 cold. */
#define STATE_WARM 1.0
#define STATE_COLD 2.0

typedef struct lru_node {
  char *key;
  uint64_t hash;
  size_t pos; /* position from the oldest, refreshed while scoring */
  struct lru_node *prev, *next; /* prev: older, next: newer */
  struct lru_node *hnext;       /* bucket chain */
} lru_node_t;

typedef struct nohit {
  char *producer; /* prefixMatchInfoProducerName or NULL */
  sy_pp_prefix_t prefix;
  int slot;
  pthread_mutex_t mu;
  size_t cap, count;
  lru_node_t *oldest, *newest;
  lru_node_t **buckets;
  size_t n_buckets; /* power of two */
} nohit_t;

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static lru_node_t *lru_find(const nohit_t *n, const char *key, uint64_t h) {
  for (lru_node_t *x = n->buckets[h & (n->n_buckets - 1)]; x; x = x->hnext) {
    if (x->hash == h && !strcmp(x->key, key)) return x;
  }
  return NULL;
}

static void list_unlink(nohit_t *n, lru_node_t *x) {
  if (x->prev) x->prev->next = x->next;
  else n->oldest = x->next;
  if (x->next) x->next->prev = x->prev;
  else n->newest = x->prev;
  x->prev = x->next = NULL;
}

static void list_append(nohit_t *n, lru_node_t *x) {
  x->prev = n->newest;
  x->next = NULL;
  if (n->newest) n->newest->next = x;
  else n->oldest = x;
  n->newest = x;
}

static void lru_evict_oldest(nohit_t *n) {
  lru_node_t *x = n->oldest;
  if (!x) return;
  list_unlink(n, x);
  lru_node_t **pp = &n->buckets[x->hash & (n->n_buckets - 1)];
  while (*pp != x) pp = &(*pp)->hnext;
  *pp = x->hnext;
  sy_free(x->key);
  sy_free(x);
  n->count--;
}

/* Adds key as the most recent entry (hashicorp/golang-lru Add). Under mu. */
static void lru_touch(nohit_t *n, const char *key) {
  uint64_t h = fnv1a(key);
  lru_node_t *x = lru_find(n, key, h);
  if (x) {
    list_unlink(n, x);
    list_append(n, x);
    return;
  }
  x = sy_calloc(1, sizeof(*x));
  if (!x || !(x->key = sy_strdup(key))) {
    sy_free(x);
    return; /* out of memory: the entry is simply not recorded */
  }
  if (n->count >= n->cap) lru_evict_oldest(n);
  x->hash = h;
  lru_node_t **b = &n->buckets[h & (n->n_buckets - 1)];
  x->hnext = *b;
  *b = x;
  list_append(n, x);
  n->count++;
}

static void nohit_destroy(void *st) {
  nohit_t *n = st;
  if (!n) return;
  while (n->oldest) lru_evict_oldest(n);
  sy_free(n->buckets);
  sy_free(n->producer);
  pthread_mutex_destroy(&n->mu);
  sy_free(n);
}

static int nohit_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"prefixPluginType", "prefixPluginName", "lruSize", "prefixMatchInfoProducerName",
                                     NULL};
  const sy_yaml_node_t *p = args->params;
  const char *ignored = NULL, *producer = NULL;
  int64_t size = LRU_DEFAULT;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) || (rc = sy_pp_str(args, p, "prefixPluginType", &ignored, err)) ||
      (rc = sy_pp_str(args, p, "prefixPluginName", &ignored, err)) ||
      (rc = sy_pp_int(args, p, "lruSize", INT32_MIN, 1 << 20, &size, err)) ||
      (rc = sy_pp_str(args, p, "prefixMatchInfoProducerName", &producer, err))) {
    return rc;
  }
  if (size <= 0) size = LRU_DEFAULT; /* upstream: only positive values override */
  nohit_t *n = sy_calloc(1, sizeof(*n));
  if (!n) return -ENOMEM;
  if (pthread_mutex_init(&n->mu, NULL) != 0) {
    sy_free(n);
    return -ENOMEM;
  }
  n->cap = (size_t)size;
  n->slot = -1;
  n->prefix.slot = -1;
  n->n_buckets = 16;
  while (n->n_buckets < 2 * n->cap) n->n_buckets *= 2;
  n->buckets = sy_calloc(n->n_buckets, sizeof(*n->buckets));
  if (!n->buckets || (producer && *producer && !(n->producer = sy_strdup(producer)))) {
    nohit_destroy(n);
    return -ENOMEM;
  }
  *state = n;
  return 0;
}

static int nohit_link(void *st, sy_sched_t *s, sy_sched_error_t *err) {
  nohit_t *n = st;
  /* Upstream does not require the prefix producer: without its data every
   * request is cold. A producer named explicitly must exist. */
  int rc = sy_pp_prefix_link(s, n->producer, true, &n->prefix, err);
  if (rc) return rc;
  if ((n->slot = sy_sched_slot_alloc(s)) < 0) {
    return sy_sched_errorf(err, NULL, "no free per-request data slot (at most %d)", SY_SCHED_MAX_SLOTS);
  }
  return 0;
}

static void nohit_score(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, double *scores) {
  nohit_t *h = st;
  bool cold = true;
  for (size_t i = 0; i < n && cold; i++) {
    double blocks;
    if (sy_pp_prefix_match(&h->prefix, c, cands[i], &blocks) && blocks > 0) cold = false;
  }
  if (h->slot >= 0) c->slot_total[h->slot] = cold ? STATE_COLD : STATE_WARM;
  if (!cold) {
    for (size_t i = 0; i < n; i++) scores[i] = 0.5;
    return;
  }
  if (n == 1) {
    scores[0] = 1.0;
    return;
  }
  /* positions[i]: LRU position of cands[i] (0 = oldest) or SIZE_MAX. */
  size_t *pos = sy_arena_alloc(c->arena, n * sizeof(*pos));
  if (!pos) return; /* scores stay 0 */
  pthread_mutex_lock(&h->mu);
  size_t k = 0;
  for (lru_node_t *x = h->oldest; x; x = x->next) x->pos = k++;
  for (size_t i = 0; i < n; i++) {
    const char *addr = cands[i]->ep->address ? cands[i]->ep->address : "";
    lru_node_t *x = lru_find(h, addr, fnv1a(addr));
    pos[i] = x ? x->pos : SIZE_MAX;
  }
  pthread_mutex_unlock(&h->mu);
  double denom = (double)(n - 1);
  size_t never = 0;
  for (size_t i = 0; i < n; i++) {
    if (pos[i] == SIZE_MAX) scores[i] = 1.0 - (double)never++ / denom;
  }
  for (size_t i = 0; i < n; i++) {
    if (pos[i] == SIZE_MAX) continue;
    double sc = 1.0 - (double)(never + pos[i]) / denom;
    scores[i] = sc < 0 ? 0 : sc;
  }
}

static const sy_sched_profile_result_t *find_result(const sy_sched_cycle_t *c, const char *profile) {
  for (size_t i = 0; profile && i < c->n_results; i++) {
    if (!strcmp(c->results[i].profile, profile)) return &c->results[i];
  }
  return NULL;
}

static void nohit_pre_request(void *st, sy_sched_cycle_t *c) {
  nohit_t *h = st;
  if (h->slot < 0 || c->slot_total[h->slot] != STATE_COLD) return; /* warm, or never scored */
  const sy_sched_profile_result_t *prim = find_result(c, c->primary_profile);
  const sy_sched_profile_result_t *pre = find_result(c, PREFILL_PROFILE);
  pthread_mutex_lock(&h->mu);
  if (prim && prim->n && prim->endpoints[0]->ep->address) lru_touch(h, prim->endpoints[0]->ep->address);
  if (pre && pre->n && pre->endpoints[0]->ep->address) lru_touch(h, pre->endpoints[0]->ep->address);
  pthread_mutex_unlock(&h->mu);
}

const sy_sched_plugin_type_t sy_plugin_no_hit_lru_scorer = {
    .type = "no-hit-lru-scorer",
    .kinds = SY_SCHED_SCORER | SY_SCHED_PRODUCER,
    .create = nohit_create,
    .destroy = nohit_destroy,
    .link = nohit_link,
    .score = nohit_score,
    .pre_request = nohit_pre_request,
};
