/* Gateway mode: sources -> sy_gw_compute -> route table + status + objset. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "gwctl.h"
#include "gwctl_int.h"
#include "yaml.h"

/* ------------------------------------------------------------- reflectors */

#define R_POOLS SY_GWCTL__R_POOLS
#define R_PODS SY_GWCTL__R_PODS
#define R_OBJ_LLMD SY_GWCTL__R_OBJ_LLMD
#define R_OBJ_X SY_GWCTL__R_OBJ_X
#define R_RW_LLMD SY_GWCTL__R_RW_LLMD
#define R_RW_X SY_GWCTL__R_RW_X

static size_t gw_kind_size(sy_gw_kind_t k) {
  switch (k) {
    case SY_GW_KIND_GATEWAY_CLASS: return sizeof(sy_gw_class_t);
    case SY_GW_KIND_GATEWAY: return sizeof(sy_gw_gateway_t);
    case SY_GW_KIND_HTTPROUTE: return sizeof(sy_gw_httproute_t);
    case SY_GW_KIND_REFERENCE_GRANT: return sizeof(sy_gw_refgrant_t);
    case SY_GW_KIND_SERVICE: return sizeof(sy_gw_service_t);
    case SY_GW_KIND_ENDPOINT_SLICE: return sizeof(sy_gw_endpointslice_t);
    case SY_GW_KIND_NAMESPACE: return sizeof(sy_gw_namespace_t);
  }
  return 0;
}

static int decode_gw(void *ctx, const cJSON *obj, void **out, char *err, size_t errlen) {
  sy_gw_kind_t kind = (sy_gw_kind_t)(uintptr_t)ctx;
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t ye;
  int rc = sy_yaml_from_json("apiserver", obj, &s, &ye);
  if (rc) {
    snprintf(err, errlen, "%s", ye.msg);
    return rc;
  }
  void *v = sy_calloc(1, gw_kind_size(kind));
  if (!v) {
    sy_yaml_stream_free(s);
    return -ENOMEM;
  }
  sy_gw_error_t ge;
  rc = sy_gw_object_decode(kind, s->docs[0].root, "apiserver", SY_GW_DECODE_LENIENT, v, &ge);
  sy_yaml_stream_free(s);
  if (rc) {
    snprintf(err, errlen, "%s", ge.msg);
    sy_free(v);
    return rc;
  }
  *out = v;
  return 0;
}

static void free_gw(void *ctx, void *value) {
  if (!value) return;
  sy_gw_object_cleanup((sy_gw_kind_t)(uintptr_t)ctx, value);
  sy_free(value);
}

/* ---------------------------------------------------------- publication */

static void publish_table(sy_gwctl_t *g, sy_gw_table_t *t) {
  pthread_mutex_lock(&g->mu);
  sy_gw_table_t *old = g->table;
  g->table = t;
  pthread_mutex_unlock(&g->mu);
  sy_gw_table_unref(old);
  atomic_store(&g->synced, true);
  atomic_fetch_add(&g->tables, 1);
}

sy_gw_table_t *sy_gwctl_table(sy_gwctl_t *g) {
  pthread_mutex_lock(&g->mu);
  sy_gw_table_t *t = g->table ? sy_gw_table_ref(g->table) : NULL;
  pthread_mutex_unlock(&g->mu);
  return t;
}

bool sy_gwctl_synced(const sy_gwctl_t *g) { return atomic_load(&((sy_gwctl_t *)g)->synced); }

void sy_gwctl_stats(sy_gwctl_t *g, sy_gwctl_stats_t *out) {
  memset(out, 0, sizeof(*out));
  out->tables = atomic_load(&g->tables);
  out->status_writes = atomic_load(&g->status_writes);
  out->status_conflicts = atomic_load(&g->status_conflicts);
  out->status_errors = atomic_load(&g->status_errors);
  sy_gw_table_t *t = sy_gwctl_table(g);
  if (t) {
    sy_gw_table_stats(t, &out->table);
    sy_gw_table_unref(t);
  }
}

/* Runs sy_gw_compute over `in` (objects filled by the caller), publishes the
 * table and hands the status to the writer (or drops it). */
static void compute_and_publish(sy_gwctl_t *g, sy_gw_input_t *in) {
  in->controller_name = g->controller_name;
  in->ports = g->ports;
  in->n_ports = g->n_ports;
  sy_gw_status_t *st = NULL;
  sy_gw_table_t *t = NULL;
  if (sy_gw_compute(in, g->client ? &st : NULL, &t) != 0) {
    SY_LOG(SY_LOG_ERROR, "gateway: out of memory computing routes; keeping the previous table", NULL);
    return;
  }
  sy_gw_table_stats_t ts;
  sy_gw_table_stats(t, &ts);
  char rules[32], listeners[32];
  snprintf(rules, sizeof(rules), "%zu", ts.n_rules);
  snprintf(listeners, sizeof(listeners), "%zu", ts.n_listeners);
  SY_LOG(SY_LOG_VERBOSE, "gateway: route table published", "listeners", listeners, "rules", rules, NULL);
  publish_table(g, t);
  if (st) sy_gwctl__status_submit(g, st);
}

/* ------------------------------------------------------------ kube source */

typedef struct gather {
  sy_arena_t *a;
  const void **items;
  size_t n, cap;
  bool oom;
} gather_t;

static void gather_one(void *ctx, const void *value) {
  gather_t *ga = ctx;
  if (ga->n == ga->cap) {
    size_t ncap = ga->cap ? ga->cap * 2 : 16;
    const void **ni = sy_arena_alloc(ga->a, sizeof(*ni) * ncap);
    if (!ni) {
      ga->oom = true;
      return;
    }
    if (ga->n) memcpy(ni, ga->items, sizeof(*ni) * ga->n);
    ga->items = ni;
    ga->cap = ncap;
  }
  ga->items[ga->n++] = value;
}

static gather_t gather(sy_arena_t *a, const sy_kube_reflector_t *r) {
  gather_t ga = {.a = a};
  if (r) sy_kube_reflector_foreach(r, gather_one, &ga);
  return ga;
}

/* Copies `n` objects of `kind` into a new array. -ENOMEM leaves *dst NULL. */
static int copy_objs(sy_kind_t kind, size_t size, const void *const *src, size_t n, void **dst, size_t *dn) {
  *dst = NULL;
  *dn = 0;
  if (!n) return 0;
  char *arr = sy_calloc(n, size);
  if (!arr) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (sy_source_object_copy(kind, arr + i * size, src[i]) != 0) {
      for (size_t k = 0; k < i; k++) sy_source_object_cleanup(kind, arr + k * size);
      sy_free(arr);
      return -ENOMEM;
    }
  }
  *dst = arr;
  *dn = n;
  return 0;
}

static bool pod_selected(const sy_pod_t *p, const sy_pool_t *const *pools, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(p->meta.namespace_name, pools[i]->meta.namespace_name) &&
        sy_labels_match(pools[i]->selector, pools[i]->n_selector, p->meta.labels, p->meta.n_labels))
      return true;
  return false;
}

static void on_kube_change(void *ctx) {
  sy_gwctl_t *g = ctx;
  sy_arena_t a;
  sy_arena_init(&a, 64 * 1024, 0);
  gather_t gk[SY_GW_KIND_COUNT];
  bool oom = false;
  for (int k = 0; k < SY_GW_KIND_COUNT; k++) {
    gk[k] = gather(&a, g->refl[k]);
    oom |= gk[k].oom;
  }
  gather_t pools = gather(&a, g->refl[R_POOLS]), pods = gather(&a, g->refl[R_PODS]);
  gather_t objs[2] = {gather(&a, g->refl[R_OBJ_LLMD]), gather(&a, g->refl[R_OBJ_X])};
  gather_t rws[2] = {gather(&a, g->refl[R_RW_LLMD]), gather(&a, g->refl[R_RW_X])};
  oom |= pools.oom || pods.oom || objs[0].oom || objs[1].oom || rws[0].oom || rws[1].oom;
  sy_gw_pool_ref_t *prefs = sy_arena_calloc(&a, sizeof(*prefs) * (pools.n ? pools.n : 1));
  if (oom || !prefs) {
    SY_LOG(SY_LOG_ERROR, "gateway: out of memory gathering objects", NULL);
    sy_arena_cleanup(&a);
    return;
  }
  for (size_t i = 0; i < pools.n; i++) {
    const sy_pool_t *p = pools.items[i];
    prefs[i] = (sy_gw_pool_ref_t){.namespace_name = p->meta.namespace_name,
                                  .name = p->meta.name,
                                  .generation = p->meta.generation,
                                  .epp_group = p->epp_group,
                                  .epp_kind = p->epp_kind,
                                  .epp_name = p->epp_name};
  }
  sy_gw_input_t in;
  memset(&in, 0, sizeof(in));
  in.classes = (const sy_gw_class_t *const *)gk[SY_GW_KIND_GATEWAY_CLASS].items;
  in.n_classes = gk[SY_GW_KIND_GATEWAY_CLASS].n;
  in.gateways = (const sy_gw_gateway_t *const *)gk[SY_GW_KIND_GATEWAY].items;
  in.n_gateways = gk[SY_GW_KIND_GATEWAY].n;
  in.routes = (const sy_gw_httproute_t *const *)gk[SY_GW_KIND_HTTPROUTE].items;
  in.n_routes = gk[SY_GW_KIND_HTTPROUTE].n;
  in.grants = (const sy_gw_refgrant_t *const *)gk[SY_GW_KIND_REFERENCE_GRANT].items;
  in.n_grants = gk[SY_GW_KIND_REFERENCE_GRANT].n;
  in.services = (const sy_gw_service_t *const *)gk[SY_GW_KIND_SERVICE].items;
  in.n_services = gk[SY_GW_KIND_SERVICE].n;
  in.slices = (const sy_gw_endpointslice_t *const *)gk[SY_GW_KIND_ENDPOINT_SLICE].items;
  in.n_slices = gk[SY_GW_KIND_ENDPOINT_SLICE].n;
  in.namespaces = (const sy_gw_namespace_t *const *)gk[SY_GW_KIND_NAMESPACE].items;
  in.n_namespaces = gk[SY_GW_KIND_NAMESPACE].n;
  in.pools = prefs;
  in.n_pools = pools.n;
  compute_and_publish(g, &in);

  /* Every pool and the pods any pool selects, for the controller. */
  sy_objset_t *set = sy_calloc(1, sizeof(*set));
  const void **sel = sy_arena_alloc(&a, sizeof(*sel) * (pods.n ? pods.n : 1));
  size_t n_sel = 0;
  for (size_t i = 0; sel && i < pods.n; i++)
    if (pod_selected(pods.items[i], (const sy_pool_t *const *)pools.items, pools.n)) sel[n_sel++] = pods.items[i];
  const void **ob = sy_arena_alloc(&a, sizeof(*ob) * (objs[0].n + objs[1].n + 1));
  const void **rw = sy_arena_alloc(&a, sizeof(*rw) * (rws[0].n + rws[1].n + 1));
  int rc = set && sel && ob && rw ? 0 : -ENOMEM;
  size_t n_ob = 0, n_rw = 0;
  for (int k = 0; !rc && k < 2; k++) {
    for (size_t i = 0; i < objs[k].n; i++) ob[n_ob++] = objs[k].items[i];
    for (size_t i = 0; i < rws[k].n; i++) rw[n_rw++] = rws[k].items[i];
  }
  if (!rc)
    rc = copy_objs(SY_KIND_POOL, sizeof(sy_pool_t), pools.items, pools.n, (void **)&set->pools, &set->n_pools);
  if (!rc) rc = copy_objs(SY_KIND_POD, sizeof(sy_pod_t), sel, n_sel, (void **)&set->pods, &set->n_pods);
  if (!rc)
    rc = copy_objs(SY_KIND_OBJECTIVE, sizeof(sy_objective_t), ob, n_ob, (void **)&set->objectives, &set->n_objectives);
  if (!rc)
    rc = copy_objs(SY_KIND_REWRITE, sizeof(sy_model_rewrite_t), rw, n_rw, (void **)&set->rewrites, &set->n_rewrites);
  sy_arena_cleanup(&a);
  if (rc) {
    SY_LOG(SY_LOG_ERROR, "gateway: out of memory building the object set", NULL);
    sy_objset_free(set);
    return;
  }
  g->on_objset(g->ctx, set);
}

static int add_refl(sy_gwctl_t *g, int slot, const char *name, const char *path, sy_kube_decode_fn dec,
                    sy_kube_free_fn fr, uintptr_t kind) {
  sy_kube_reflector_config_t rc = {.name = name, .path = path, .decode = dec, .free = fr, .ctx = (void *)kind};
  return sy_kube_informer_add(g->inf, &rc, &g->refl[slot]);
}

/* Is group/version/resource served? 404: no. */
static bool served(sy_kube_client_t *c, const char *gv, const char *resource) {
  char path[256];
  snprintf(path, sizeof(path), "/apis/%s", gv);
  sy_kube_response_t r;
  sy_kube_response_init(&r);
  bool ok = false;
  if (sy_kube_request(c, "GET", path, NULL, NULL, 0, 10000, &r) == 0 && r.status == 200) {
    cJSON *root = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "resources")) {
      const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
      if (cJSON_IsString(n) && !strcmp(n->valuestring, resource)) ok = true;
    }
    cJSON_Delete(root);
  }
  sy_kube_response_cleanup(&r);
  return ok;
}

static int start_kube(sy_gwctl_t *g, char *err, size_t errlen) {
  sy_kube_informer_config_t icfg = {.on_change = on_kube_change, .ctx = g};
  int rc = sy_kube_informer_new(&g->inf, g->client, &icfg);
  if (rc) {
    snprintf(err, errlen, "cannot create the informer: %s", sy_strerror(rc));
    return rc;
  }
  static const struct {
    sy_gw_kind_t kind;
    const char *name, *path;
  } GW[] = {
      {SY_GW_KIND_GATEWAY_CLASS, "gatewayclasses", "/apis/gateway.networking.k8s.io/v1/gatewayclasses"},
      {SY_GW_KIND_GATEWAY, "gateways", "/apis/gateway.networking.k8s.io/v1/gateways"},
      {SY_GW_KIND_HTTPROUTE, "httproutes", "/apis/gateway.networking.k8s.io/v1/httproutes"},
      {SY_GW_KIND_REFERENCE_GRANT, "referencegrants", "/apis/gateway.networking.k8s.io/v1beta1/referencegrants"},
      {SY_GW_KIND_SERVICE, "services", "/api/v1/services"},
      {SY_GW_KIND_ENDPOINT_SLICE, "endpointslices", "/apis/discovery.k8s.io/v1/endpointslices"},
      {SY_GW_KIND_NAMESPACE, "namespaces", "/api/v1/namespaces"},
  };
  for (size_t i = 0; !rc && i < SY_ARRAY_LEN(GW); i++)
    rc = add_refl(g, (int)GW[i].kind, GW[i].name, GW[i].path, decode_gw, free_gw, (uintptr_t)GW[i].kind);
  if (!rc)
    rc = add_refl(g, R_POOLS, "inferencepools", "/apis/inference.networking.k8s.io/v1/inferencepools",
                  sy_kube_decode_source, sy_kube_free_source, SY_KIND_POOL);
  if (!rc) rc = add_refl(g, R_PODS, "pods", "/api/v1/pods", sy_kube_decode_source, sy_kube_free_source, SY_KIND_POD);
  static const struct {
    int slot;
    const char *gv, *res;
    sy_kind_t kind;
  } ALPHA[] = {
      {R_OBJ_LLMD, "llm-d.ai/v1alpha2", "inferenceobjectives", SY_KIND_OBJECTIVE},
      {R_OBJ_X, "inference.networking.x-k8s.io/v1alpha2", "inferenceobjectives", SY_KIND_OBJECTIVE},
      {R_RW_LLMD, "llm-d.ai/v1alpha2", "inferencemodelrewrites", SY_KIND_REWRITE},
      {R_RW_X, "inference.networking.x-k8s.io/v1alpha2", "inferencemodelrewrites", SY_KIND_REWRITE},
  };
  for (size_t i = 0; !rc && i < SY_ARRAY_LEN(ALPHA); i++) {
    if (!served(g->client, ALPHA[i].gv, ALPHA[i].res)) continue;
    char path[256];
    snprintf(path, sizeof(path), "/apis/%s/%s", ALPHA[i].gv, ALPHA[i].res);
    rc = add_refl(g, ALPHA[i].slot, ALPHA[i].res, path, sy_kube_decode_source, sy_kube_free_source, ALPHA[i].kind);
  }
  if (!rc) rc = sy_kube_informer_start(g->inf);
  if (rc) snprintf(err, errlen, "cannot start the informer: %s", sy_strerror(rc));
  return rc;
}

/* -------------------------------------------------------- manifests source */

/* The manifests watcher loaded pools/pods/objectives: load the gateway
 * kinds from the same files, compute, then hand the set on. */
static void on_manifests(void *ctx, sy_objset_t *set) {
  sy_gwctl_t *g = ctx;
  char **files = NULL;
  size_t n_files = 0;
  sy_gw_objects_t *all = sy_calloc(1, sizeof(*all));
  int rc = all ? sy_manifests_list(g->manifests, &files, &n_files) : -ENOMEM;
  for (size_t i = 0; !rc && i < n_files; i++) {
    char *data = NULL;
    size_t len = 0;
    sy_yaml_error_t ye;
    if (sy_yaml_read_file(files[i], 0, &data, &len, &ye) != 0) continue; /* the watcher reports file errors */
    sy_gw_objects_t *o = NULL;
    sy_gw_error_t ge;
    rc = sy_gw_objects_load_buffer(files[i], data, len, 0, &o, &ge);
    sy_free(data);
    if (rc) {
      char where[700];
      snprintf(where, sizeof(where), "%s:%d:%d", ge.file, ge.line, ge.column);
      SY_LOG(SY_LOG_ERROR, "invalid gateway manifests; keeping the previous routes", "at", where, "error", ge.msg, NULL);
      break;
    }
    rc = sy_gwctl__objects_merge(all, o);
  }
  sy_manifests_list_free(files, n_files);
  if (!rc) {
    sy_gw_pool_ref_t *prefs = sy_calloc(set->n_pools ? set->n_pools : 1, sizeof(*prefs));
    if (prefs) {
      for (size_t i = 0; i < set->n_pools; i++)
        prefs[i] = (sy_gw_pool_ref_t){.namespace_name = set->pools[i].meta.namespace_name,
                                      .name = set->pools[i].meta.name,
                                      .generation = set->pools[i].meta.generation,
                                      .epp_group = set->pools[i].epp_group,
                                      .epp_kind = set->pools[i].epp_kind,
                                      .epp_name = set->pools[i].epp_name};
      sy_gw_input_t in;
      memset(&in, 0, sizeof(in));
      sy_gw_objects_input(all, &in);
      in.pools = prefs;
      in.n_pools = set->n_pools;
      compute_and_publish(g, &in);
      sy_free(prefs);
    }
  }
  sy_gw_objects_free(all);
  g->on_objset(g->ctx, set);
}

static void on_manifests_error(void *ctx, const sy_source_error_t *err) {
  SY_UNUSED(ctx);
  char where[600];
  snprintf(where, sizeof(where), "%s:%d:%d", err->file, err->line, err->column);
  SY_LOG(SY_LOG_ERROR, "invalid manifests; keeping the previous state", "at", where, "error", err->msg, NULL);
}

/* ------------------------------------------------------------------ start */

int sy_gwctl_start(sy_gwctl_t **out, const sy_gwctl_config_t *cfg, char *err, size_t errlen) {
  *out = NULL;
  if (!!cfg->client == !!(cfg->manifests && cfg->manifests[0]) || !cfg->on_objset || cfg->n_ports == 0) {
    snprintf(err, errlen, "gateway mode needs exactly one source, on_objset and at least one listener port");
    return SY_EINVAL;
  }
  sy_gwctl_t *g = sy_calloc(1, sizeof(*g));
  if (!g) return -ENOMEM;
  pthread_mutex_init(&g->mu, NULL);
  g->client = cfg->client;
  g->on_objset = cfg->on_objset;
  g->ctx = cfg->ctx;
  g->may_write = cfg->may_write;
  g->n_ports = cfg->n_ports;
  int rc = -ENOMEM;
  g->controller_name = sy_strdup(cfg->controller_name ? cfg->controller_name : SY_GWCTL_DEFAULT_CONTROLLER);
  g->ports = sy_calloc(cfg->n_ports, sizeof(*g->ports));
  if (!g->controller_name || !g->ports) goto fail;
  memcpy(g->ports, cfg->ports, sizeof(*g->ports) * cfg->n_ports);
  if (cfg->address && cfg->address[0] && !(g->address = sy_strdup(cfg->address))) goto fail;
  if (g->client) {
    if ((rc = sy_gwctl__status_start(g, err, errlen))) goto fail;
    if ((rc = start_kube(g, err, errlen))) goto fail;
  } else {
    if (!(g->manifests = sy_strdup(cfg->manifests))) goto fail;
    sy_source_error_t serr;
    memset(&serr, 0, sizeof(serr));
    rc = sy_manifests_watch_start(&g->watch, g->manifests, cfg->poll_ms, on_manifests, on_manifests_error, g, &serr);
    if (rc) {
      if (serr.line > 0) {
        snprintf(err, errlen, "%s:%d:%d: %s", serr.file, serr.line, serr.column, serr.msg);
      } else {
        snprintf(err, errlen, "%s: %s", serr.file, serr.msg);
      }
      goto fail;
    }
  }
  SY_LOG(SY_LOG_INFO, "gateway mode started", "controller", g->controller_name, "source",
         g->client ? "apiserver" : g->manifests, NULL);
  *out = g;
  return 0;
fail:
  sy_gwctl_stop(g);
  return rc;
}

void sy_gwctl_stop(sy_gwctl_t *g) {
  if (!g) return;
  sy_manifests_watch_stop(g->watch);
  sy_kube_informer_free(g->inf);
  sy_gwctl__status_stop(g);
  sy_gw_table_unref(g->table);
  pthread_mutex_destroy(&g->mu);
  sy_free(g->manifests);
  sy_free(g->controller_name);
  sy_free(g->address);
  sy_free(g->ports);
  sy_free(g);
}
