#include "datastore.h"

#include <pthread.h>
#include <errno.h>
#include <string.h>

sy_endpoint_state_t *sy_endpoint_state_new(void) {
  sy_endpoint_state_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return NULL;
  atomic_init(&s->refs, 1);
  s->metrics.max_lora = -1;
  return s;
}

sy_endpoint_state_t *sy_endpoint_state_ref(sy_endpoint_state_t *s) {
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

void sy_endpoint_state_unref(sy_endpoint_state_t *s) {
  if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) sy_free(s);
}

void sy_endpoint_metrics_store(sy_endpoint_state_t *s, const sy_endpoint_metrics_t *m) {
  unsigned seq = atomic_load_explicit(&s->metrics_seq, memory_order_relaxed);
  atomic_store_explicit(&s->metrics_seq, seq + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
  /* Byte copy through a volatile-free path: readers detect overlap by seq. */
  memcpy(&s->metrics, m, sizeof(*m));
  atomic_store_explicit(&s->metrics_seq, seq + 2, memory_order_release);
}

void sy_endpoint_metrics_load(sy_endpoint_state_t *s, sy_endpoint_metrics_t *out) {
  for (;;) {
    unsigned a = atomic_load_explicit(&s->metrics_seq, memory_order_acquire);
    if (a & 1) continue;
    memcpy(out, &s->metrics, sizeof(*out));
    atomic_thread_fence(memory_order_acquire);
    unsigned b = atomic_load_explicit(&s->metrics_seq, memory_order_relaxed);
    if (a == b) return;
  }
}

uint64_t sy_lora_hash(const char *name, size_t len) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a: short names, no dependency */
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)name[i];
    h *= 1099511628211ull;
  }
  return h;
}

sy_snapshot_t *sy_snapshot_new(void) {
  sy_snapshot_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return NULL;
  atomic_init(&s->refs, 1);
  sy_arena_init(&s->arena, 16384, 0);
  return s;
}

sy_snapshot_t *sy_snapshot_ref(sy_snapshot_t *s) {
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

void sy_snapshot_release(sy_snapshot_t *s) {
  if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  for (size_t i = 0; i < s->n_pools; i++) {
    for (size_t j = 0; j < s->pools[i].n_endpoints; j++) sy_endpoint_state_unref(s->pools[i].endpoints[j].state);
  }
  sy_arena_cleanup(&s->arena);
  sy_free(s);
}

static int pool_cmp(const char *ns, const char *name, const sy_pool_snap_t *p) {
  int c = strcmp(ns, p->namespace_name);
  return c ? c : strcmp(name, p->name);
}

const sy_pool_snap_t *sy_snapshot_pool(const sy_snapshot_t *s, const char *ns, const char *name) {
  size_t lo = 0, hi = s->n_pools;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = pool_cmp(ns, name, &s->pools[mid]);
    if (c == 0) return &s->pools[mid];
    if (c < 0) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return NULL;
}

const char *sy_pool_model_rewrite(const sy_pool_snap_t *pool, const char *model, uint64_t rnd, const char **object) {
  if (!pool || !model) return NULL;
  const sy_rewrite_rule_snap_t *hit = NULL;
  for (size_t i = 0; i < pool->n_rewrite_rules && !hit; i++) {
    const sy_rewrite_rule_snap_t *r = &pool->rewrite_rules[i];
    if (r->n_matches == 0) {
      hit = r; /* generic rules sort after every exact one */
      break;
    }
    for (size_t k = 0; k < r->n_matches && !hit; k++)
      if (!strcmp(r->matches[k], model)) hit = r;
  }
  if (!hit || hit->n_targets == 0) return NULL;
  if (object) *object = hit->object;
  size_t pick = 0;
  if (hit->total_weight == 0) {
    pick = (size_t)(rnd % hit->n_targets);
  } else {
    uint64_t x = rnd % hit->total_weight;
    while (pick + 1 < hit->n_targets && x >= hit->weights[pick]) x -= hit->weights[pick++];
  }
  return hit->targets[pick];
}

int sy_pool_objective_priority(const sy_pool_snap_t *pool, const char *name) {
  if (!name) return 0;
  size_t lo = 0, hi = pool->n_objectives;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(name, pool->objective_names[mid]);
    if (c == 0) return pool->objective_priorities[mid];
    if (c < 0) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return 0;
}

const sy_endpoint_t *sy_pool_endpoint(const sy_pool_snap_t *pool, const char *address) {
  size_t lo = 0, hi = pool->n_endpoints;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(address, pool->endpoints[mid].address);
    if (c == 0) return &pool->endpoints[mid];
    if (c < 0) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return NULL;
}

struct sy_datastore {
  pthread_mutex_t mu;
  sy_snapshot_t *current;
  uint64_t next_generation;
};

int sy_datastore_new(sy_datastore_t **out) {
  sy_datastore_t *ds = sy_calloc(1, sizeof(*ds));
  if (!ds) return -ENOMEM;
  pthread_mutex_init(&ds->mu, NULL);
  ds->current = sy_snapshot_new();
  if (!ds->current) {
    sy_free(ds);
    return -ENOMEM;
  }
  ds->next_generation = 1;
  *out = ds;
  return 0;
}

void sy_datastore_free(sy_datastore_t *ds) {
  if (!ds) return;
  sy_snapshot_release(ds->current);
  pthread_mutex_destroy(&ds->mu);
  sy_free(ds);
}

void sy_datastore_publish(sy_datastore_t *ds, sy_snapshot_t *snap) {
  pthread_mutex_lock(&ds->mu);
  snap->generation = ds->next_generation++;
  sy_snapshot_t *old = ds->current;
  ds->current = snap;
  pthread_mutex_unlock(&ds->mu);
  /* Freed outside the lock: releasing a large snapshot must not stall readers. */
  sy_snapshot_release(old);
}

sy_snapshot_t *sy_datastore_acquire(sy_datastore_t *ds) {
  pthread_mutex_lock(&ds->mu);
  sy_snapshot_t *s = sy_snapshot_ref(ds->current);
  pthread_mutex_unlock(&ds->mu);
  return s;
}
