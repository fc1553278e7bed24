#include "controller.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sy_controller {
  sy_datastore_t *ds;
  char *pool_name;
  char *pool_namespace;
  atomic_bool synced;
  void (*on_publish)(void *ctx, const sy_snapshot_t *snap);
  void *on_publish_ctx;
};

int sy_controller_new(sy_controller_t **out, sy_datastore_t *ds, const sy_controller_config_t *cfg) {
  sy_controller_t *c = sy_calloc(1, sizeof(*c));
  if (!c) return -ENOMEM;
  c->ds = ds;
  c->on_publish = cfg->on_publish;
  c->on_publish_ctx = cfg->on_publish_ctx;
  c->pool_name = sy_strdup(cfg->pool_name ? cfg->pool_name : "");
  c->pool_namespace = sy_strdup(cfg->pool_namespace ? cfg->pool_namespace : "default");
  if (!c->pool_name || !c->pool_namespace) {
    sy_controller_free(c);
    return -ENOMEM;
  }
  *out = c;
  return 0;
}

void sy_controller_free(sy_controller_t *c) {
  if (!c) return;
  sy_free(c->pool_name);
  sy_free(c->pool_namespace);
  sy_free(c);
}

bool sy_controller_synced(const sy_controller_t *c) { return atomic_load(&c->synced); }

static int cmp_pool_ptr(const void *a, const void *b) {
  const sy_pool_t *x = *(const sy_pool_t *const *)a, *y = *(const sy_pool_t *const *)b;
  int r = strcmp(x->meta.namespace_name, y->meta.namespace_name);
  return r ? r : strcmp(x->meta.name, y->meta.name);
}

static int cmp_endpoint(const void *a, const void *b) {
  return strcmp(((const sy_endpoint_t *)a)->address, ((const sy_endpoint_t *)b)->address);
}

/* Is `port` listed in the active-ports annotation ("8000,8001")? Absent
 * annotation means every target port is active. */
static bool port_active(const sy_pod_t *pod, int32_t port) {
  const char *v = sy_labels_get(pod->meta.annotations, pod->meta.n_annotations, SY_ACTIVE_PORTS_ANNOTATION);
  if (!v) return true;
  const char *p = v;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    char *end;
    long n = strtol(p, &end, 10);
    if (end == p) { /* garbage token: skip it */
      while (*p && *p != ',') p++;
      continue;
    }
    if (n == port) return true;
    p = end;
  }
  return false;
}

static bool pod_is_member(const sy_pool_t *pool, const sy_pod_t *pod) {
  return pod->ready && !pod->meta.deleting && pod->pod_ip && pod->pod_ip[0] &&
         strcmp(pod->meta.namespace_name, pool->meta.namespace_name) == 0 &&
         sy_labels_match(pool->selector, pool->n_selector, pod->meta.labels, pod->meta.n_labels);
}

static char *arena_printf(sy_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *arena_printf(sy_arena_t *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[512];
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(tmp)) return NULL;
  return sy_arena_strndup(a, tmp, (size_t)n);
}

static sy_endpoint_state_t *carry_state(const sy_snapshot_t *prev, const sy_pool_t *pool, const char *address) {
  if (prev) {
    const sy_pool_snap_t *pp = sy_snapshot_pool(prev, pool->meta.namespace_name, pool->meta.name);
    const sy_endpoint_t *pe = pp ? sy_pool_endpoint(pp, address) : NULL;
    if (pe) return sy_endpoint_state_ref(pe->state);
  }
  return sy_endpoint_state_new();
}

static int cmp_objective_ptr(const void *a, const void *b) {
  return strcmp((*(const sy_objective_t *const *)a)->meta.name, (*(const sy_objective_t *const *)b)->meta.name);
}

/* The pool's InferenceObjectives (same namespace, poolRef to it), sorted by
 * name for binary search. */
static int build_objectives(sy_arena_t *a, sy_pool_snap_t *ps, const sy_pool_t *pool, const sy_objset_t *set) {
  size_t n = 0;
  const sy_objective_t **mine = sy_arena_alloc(a, sizeof(*mine) * (set->n_objectives + 1));
  if (!mine) return -ENOMEM;
  for (size_t i = 0; i < set->n_objectives; i++) {
    const sy_objective_t *o = &set->objectives[i];
    if (!strcmp(o->meta.namespace_name, pool->meta.namespace_name) && !strcmp(o->pool_name, pool->meta.name) &&
        !strcmp(o->pool_group, "inference.networking.k8s.io"))
      mine[n++] = o;
  }
  qsort(mine, n, sizeof(*mine), cmp_objective_ptr);
  const char **names = sy_arena_alloc(a, sizeof(char *) * (n + 1));
  int *prios = sy_arena_alloc(a, sizeof(int) * (n + 1));
  if (!names || !prios) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    names[i] = sy_arena_strndup(a, mine[i]->meta.name, strlen(mine[i]->meta.name));
    if (!names[i]) return -ENOMEM;
    prios[i] = mine[i]->priority;
  }
  ps->objective_names = names;
  ps->objective_priorities = prios;
  ps->n_objectives = n;
  return 0;
}

/* One rule of one InferenceModelRewrite, for ordering. */
typedef struct rw_ref {
  const sy_model_rewrite_t *obj;
  const sy_rewrite_rule_t *rule;
  size_t idx; /* rule index inside the object */
} rw_ref_t;

static int cmp_rw_ref(const void *a, const void *b) {
  const rw_ref_t *x = a, *y = b;
  bool gx = x->rule->n_matches == 0, gy = y->rule->n_matches == 0;
  if (gx != gy) return gx ? 1 : -1; /* exact rules first */
  if (x->obj->created != y->obj->created) return x->obj->created < y->obj->created ? -1 : 1;
  int c = strcmp(x->obj->meta.name, y->obj->meta.name);
  if (c) return c;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static const char *const *arena_strv(sy_arena_t *a, char *const *v, size_t n) {
  const char **out = sy_arena_alloc(a, sizeof(char *) * (n ? n : 1));
  for (size_t i = 0; out && i < n; i++)
    if (!(out[i] = sy_arena_strndup(a, v[i], strlen(v[i])))) return NULL;
  return out;
}

/* The pool's InferenceModelRewrite rules, flattened in precedence order. */
static int build_rewrites(sy_arena_t *a, sy_pool_snap_t *ps, const sy_pool_t *pool, const sy_objset_t *set) {
  size_t n = 0;
  for (size_t i = 0; i < set->n_rewrites; i++) n += set->rewrites[i].n_rules;
  if (n == 0) return 0;
  rw_ref_t *refs = sy_malloc(sizeof(*refs) * n);
  if (!refs) return -ENOMEM;
  size_t m = 0;
  for (size_t i = 0; i < set->n_rewrites; i++) {
    const sy_model_rewrite_t *w = &set->rewrites[i];
    if (strcmp(w->meta.namespace_name, pool->meta.namespace_name) || strcmp(w->pool_name, pool->meta.name) ||
        strcmp(w->pool_group, "inference.networking.k8s.io"))
      continue;
    for (size_t r = 0; r < w->n_rules; r++) refs[m++] = (rw_ref_t){w, &w->rules[r], r};
  }
  qsort(refs, m, sizeof(*refs), cmp_rw_ref);
  sy_rewrite_rule_snap_t *rules = sy_arena_calloc(a, sizeof(*rules) * (m ? m : 1));
  int rc = rules ? 0 : -ENOMEM;
  for (size_t i = 0; !rc && i < m; i++) {
    const sy_rewrite_rule_t *src = refs[i].rule;
    sy_rewrite_rule_snap_t *r = &rules[i];
    const char *obj = refs[i].obj->meta.name;
    char **models = sy_arena_alloc(a, sizeof(char *) * (src->n_targets ? src->n_targets : 1));
    uint32_t *weights = sy_arena_alloc(a, sizeof(uint32_t) * (src->n_targets ? src->n_targets : 1));
    r->object = sy_arena_strndup(a, obj, strlen(obj));
    r->matches = arena_strv(a, src->matches, src->n_matches);
    if (!models || !weights || !r->object || !r->matches) {
      rc = -ENOMEM;
      break;
    }
    r->n_matches = src->n_matches;
    for (size_t t = 0; t < src->n_targets; t++) {
      models[t] = src->targets[t].model;
      weights[t] = (uint32_t)src->targets[t].weight;
      r->total_weight += weights[t];
    }
    if (!(r->targets = arena_strv(a, models, src->n_targets))) rc = -ENOMEM;
    r->weights = weights;
    r->n_targets = src->n_targets;
  }
  sy_free(refs);
  if (rc) return rc;
  ps->rewrite_rules = rules;
  ps->n_rewrite_rules = m;
  return 0;
}

static int build_pool(sy_snapshot_t *snap, sy_pool_snap_t *ps, const sy_pool_t *pool, const sy_objset_t *set,
                      const sy_snapshot_t *prev) {
  sy_arena_t *a = &snap->arena;
  ps->name = sy_arena_strndup(a, pool->meta.name, strlen(pool->meta.name));
  ps->namespace_name = sy_arena_strndup(a, pool->meta.namespace_name, strlen(pool->meta.namespace_name));
  ps->target_ports = sy_arena_memdup(a, pool->target_ports, sizeof(int32_t) * pool->n_target_ports);
  ps->n_target_ports = pool->n_target_ports;
  ps->app_h2c = pool->app_protocol == SY_APP_PROTOCOL_H2C;
  if (!ps->name || !ps->namespace_name || !ps->target_ports) return -ENOMEM;
  if (build_objectives(a, ps, pool, set) != 0 || build_rewrites(a, ps, pool, set) != 0) return -ENOMEM;

  size_t cap = 0;
  for (size_t i = 0; i < set->n_pods; i++) {
    if (strcmp(set->pods[i].meta.namespace_name, pool->meta.namespace_name) == 0 &&
        sy_labels_match(pool->selector, pool->n_selector, set->pods[i].meta.labels, set->pods[i].meta.n_labels))
      ps->n_pods_selected++;
    if (pod_is_member(pool, &set->pods[i])) cap += pool->n_target_ports;
  }
  ps->endpoints = sy_arena_calloc(a, sizeof(sy_endpoint_t) * (cap ? cap : 1));
  if (!ps->endpoints) return -ENOMEM;

  for (size_t i = 0; i < set->n_pods; i++) {
    const sy_pod_t *pod = &set->pods[i];
    if (!pod_is_member(pool, pod)) continue;
    const char **keys = sy_arena_alloc(a, sizeof(char *) * (pod->meta.n_labels + 1));
    const char **vals = sy_arena_alloc(a, sizeof(char *) * (pod->meta.n_labels + 1));
    const char *pod_name = sy_arena_strndup(a, pod->meta.name, strlen(pod->meta.name));
    const char *ip = sy_arena_strndup(a, pod->pod_ip, strlen(pod->pod_ip));
    if (!keys || !vals || !pod_name || !ip) return -ENOMEM;
    for (size_t l = 0; l < pod->meta.n_labels; l++) {
      keys[l] = sy_arena_strndup(a, pod->meta.labels[l].key, strlen(pod->meta.labels[l].key));
      vals[l] = sy_arena_strndup(a, pod->meta.labels[l].value, strlen(pod->meta.labels[l].value));
      if (!keys[l] || !vals[l]) return -ENOMEM;
    }
    bool v6 = strchr(ip, ':') != NULL;
    for (size_t r = 0; r < pool->n_target_ports; r++) {
      int32_t port = pool->target_ports[r];
      if (!port_active(pod, port)) continue;
      sy_endpoint_t *e = &ps->endpoints[ps->n_endpoints];
      e->pod_name = pod_name;
      e->namespace_name = ps->namespace_name;
      e->ip = ip;
      e->port = port;
      e->name = arena_printf(a, "%s-rank-%zu", pod->meta.name, r);
      e->address = v6 ? arena_printf(a, "[%s]:%d", ip, port) : arena_printf(a, "%s:%d", ip, port);
      e->label_keys = keys;
      e->label_values = vals;
      e->n_labels = pod->meta.n_labels;
      if (!e->name || !e->address) return -ENOMEM;
      e->state = carry_state(prev, pool, e->address);
      if (!e->state) return -ENOMEM;
      ps->n_endpoints++;
    }
  }
  qsort(ps->endpoints, ps->n_endpoints, sizeof(sy_endpoint_t), cmp_endpoint);
  /* Two pods claiming one IP would give duplicate addresses; keep the first
   * so address lookups stay unambiguous. */
  size_t w = 0;
  for (size_t i = 0; i < ps->n_endpoints; i++) {
    if (w > 0 && strcmp(ps->endpoints[w - 1].address, ps->endpoints[i].address) == 0) {
      sy_endpoint_state_unref(ps->endpoints[i].state);
      continue;
    }
    ps->endpoints[w++] = ps->endpoints[i];
  }
  ps->n_endpoints = w;
  return 0;
}

sy_snapshot_t *sy_controller_build_snapshot(const sy_objset_t *set, const sy_snapshot_t *prev) {
  sy_snapshot_t *snap = sy_snapshot_new();
  if (!snap) return NULL;
  size_t n = set ? set->n_pools : 0;
  const sy_pool_t **order = sy_calloc(n ? n : 1, sizeof(*order));
  snap->pools = sy_arena_calloc(&snap->arena, sizeof(sy_pool_snap_t) * (n ? n : 1));
  if (!order || !snap->pools) goto fail;
  for (size_t i = 0; i < n; i++) order[i] = &set->pools[i];
  qsort(order, n, sizeof(*order), cmp_pool_ptr);
  for (size_t i = 0; i < n; i++) {
    snap->n_pools++; /* counted first so a failure releases partial endpoints */
    if (build_pool(snap, &snap->pools[i], order[i], set, prev) != 0) goto fail;
  }
  sy_free(order);
  return snap;
fail:
  sy_free(order);
  sy_snapshot_release(snap);
  return NULL;
}

int sy_controller_apply_objset(sy_controller_t *c, sy_objset_t *set) {
  sy_snapshot_t *prev = sy_datastore_acquire(c->ds);
  sy_snapshot_t *snap = sy_controller_build_snapshot(set, prev);
  sy_snapshot_release(prev);
  if (!snap) {
    sy_objset_free(set);
    SY_LOG(SY_LOG_ERROR, "reconcile failed: out of memory; keeping previous snapshot", NULL);
    return -ENOMEM;
  }
  const sy_pool_snap_t *mine = sy_snapshot_pool(snap, c->pool_namespace, c->pool_name);
  char eps[32], pods[32];
  snprintf(eps, sizeof(eps), "%zu", mine ? mine->n_endpoints : 0);
  snprintf(pods, sizeof(pods), "%zu", mine ? mine->n_pods_selected : 0);
  atomic_store(&c->synced, mine != NULL);
  if (c->on_publish) sy_snapshot_ref(snap); /* keep it for the hook after publish */
  sy_datastore_publish(c->ds, snap);
  if (c->on_publish) {
    c->on_publish(c->on_publish_ctx, snap);
    sy_snapshot_release(snap);
  }
  sy_objset_free(set);
  if (!c->pool_name[0]) {
    char pools[32];
    snprintf(pools, sizeof(pools), "%zu", snap->n_pools);
    SY_LOG(SY_LOG_VERBOSE, "pools reconciled", "pools", pools, NULL); /* gateway mode: every pool */
  } else if (mine) {
    SY_LOG(SY_LOG_INFO, "pool reconciled", "pool", c->pool_name, "namespace", c->pool_namespace, "endpoints", eps,
           "pods_selected", pods, NULL);
  } else {
    SY_LOG(SY_LOG_WARN, "pool not found in objects", "pool", c->pool_name, "namespace", c->pool_namespace, NULL);
  }
  return 0;
}
