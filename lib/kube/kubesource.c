/* The EPP source: InferencePool, Pods, InferenceObjectives and
 * InferenceModelRewrites from the API server -> sy_objset_t for the
 * controller.
 *
 * Threads: start/stop on the caller's thread; everything else on the
 * informer's thread (decode callbacks and on_change), which is the only
 * one touching the caches. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "core.h"
#include "kube.h"

#define POOL_GROUP "inference.networking.k8s.io"
#define DISCOVERY_ATTEMPTS 30
#define DISCOVERY_RETRY_MS 1000

/* Groups that may serve InferenceObjective / InferenceModelRewrite, newest
 * home first. */
static const char *const ALPHA_GROUPS[] = {"llm-d.ai", "inference.networking.x-k8s.io"};
#define N_ALPHA SY_ARRAY_LEN(ALPHA_GROUPS)

struct sy_kube_source {
  char *pool_name, *ns;
  sy_label_t *sel; /* endpoint-selector mode when n_sel > 0 */
  size_t n_sel;
  int32_t ports[SY_POOL_MAX_PORTS];
  size_t n_ports;
  void (*on_load)(void *ctx, sy_objset_t *set);
  void *ctx;
  sy_kube_informer_t *inf;
  sy_kube_reflector_t *pools, *pods;
  sy_kube_reflector_t *objs[N_ALPHA], *rws[N_ALPHA];
  bool obj_served, rw_served;
  /* informer thread only: what the last published set was made of */
  bool published;
  uint64_t last_hash;
  _Atomic uint64_t publishes;
  _Atomic uint64_t walks;
};

/* ------------------------------------------------------------- selectors */

void sy_kube_labels_free(sy_label_t *l, size_t n) {
  for (size_t i = 0; l && i < n; i++) {
    sy_free(l[i].key);
    sy_free(l[i].value);
  }
  sy_free(l);
}

static char *trimmed_dup(const char *s, size_t len) {
  while (len && (*s == ' ' || *s == '\t')) s++, len--;
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
  return sy_strndup(s, len);
}

int sy_kube_parse_selector(const char *text, sy_label_t **out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  if (!text || !*text) {
    snprintf(err, errlen, "empty selector");
    return SY_EINVAL;
  }
  size_t cap = 1;
  for (const char *p = text; *p; p++) cap += *p == ',';
  sy_label_t *l = sy_calloc(cap, sizeof(*l));
  if (!l) return -ENOMEM;
  size_t k = 0;
  int rc = 0;
  for (const char *p = text; !rc;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    if (!eq) {
      snprintf(err, errlen, "%.*s: want key=value", (int)SY_MIN(len, 100), p);
      rc = SY_EINVAL;
      break;
    }
    size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
    const char *v = eq + 1;
    if (vlen && *v == '=') v++, vlen--; /* "k==v" is the same as "k=v" */
    if (!(l[k].key = trimmed_dup(p, klen)) || !(l[k].value = trimmed_dup(v, vlen))) {
      rc = -ENOMEM;
      k++;
      break;
    }
    k++;
    if (!l[k - 1].key[0] || strchr(l[k - 1].value, '!') || strchr(l[k - 1].key, '!')) {
      snprintf(err, errlen, "%.*s: want key=value (only equality is supported)", (int)SY_MIN(len, 100), p);
      rc = SY_EINVAL;
      break;
    }
    if (!end) break;
    p = end + 1;
  }
  if (rc) {
    sy_kube_labels_free(l, k);
    return rc;
  }
  *out = l;
  *n = k;
  return 0;
}

/* --------------------------------------------------------------- decoding */

static size_t kind_size(sy_kind_t k) {
  switch (k) {
    case SY_KIND_POOL: return sizeof(sy_pool_t);
    case SY_KIND_POD: return sizeof(sy_pod_t);
    case SY_KIND_OBJECTIVE: return sizeof(sy_objective_t);
    case SY_KIND_REWRITE: return sizeof(sy_model_rewrite_t);
  }
  return 0;
}

/* A pod as the API server sends it is mostly spec and managedFields we
 * never read: decode a pruned view (references, no copies) instead. */
static cJSON *pruned_view(const cJSON *obj, sy_kind_t kind) {
  static const char *const META[] = {"name", "namespace", "uid", "resourceVersion", "labels",
                                     "annotations", "deletionTimestamp", "creationTimestamp", "generation"};
  cJSON *v = cJSON_CreateObject(), *meta = cJSON_CreateObject();
  if (!v || !meta) goto fail;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  if (cJSON_IsObject(m)) {
    for (size_t i = 0; i < SY_ARRAY_LEN(META); i++) {
      cJSON *f = cJSON_GetObjectItemCaseSensitive(m, META[i]);
      if (f && !cJSON_AddItemReferenceToObject(meta, META[i], f)) goto fail;
    }
    if (!cJSON_AddItemToObject(v, "metadata", meta)) goto fail;
  } else {
    cJSON_Delete(meta);
    if (m && !cJSON_AddItemReferenceToObject(v, "metadata", (cJSON *)m)) goto fail_v;
  }
  meta = NULL;
  const char *keep = kind == SY_KIND_POD ? "status" : "spec";
  cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, keep);
  if (f && !cJSON_AddItemReferenceToObject(v, keep, f)) goto fail_v;
  return v;
fail:
  cJSON_Delete(meta);
fail_v:
  cJSON_Delete(v);
  return NULL;
}

int sy_kube_decode_source(void *ctx, const cJSON *obj, void **out, char *err, size_t errlen) {
  sy_kind_t kind = (sy_kind_t)(uintptr_t)ctx;
  cJSON *view = pruned_view(obj, kind);
  void *v = sy_calloc(1, kind_size(kind));
  if (!view || !v) {
    cJSON_Delete(view);
    sy_free(v);
    return -ENOMEM;
  }
  sy_source_error_t e;
  memset(&e, 0, sizeof(e));
  int rc = sy_source_decode_json(kind, "apiserver", view, v, &e);
  cJSON_Delete(view);
  if (rc) {
    snprintf(err, errlen, "%s", e.msg);
    sy_free(v);
    return rc;
  }
  *out = v;
  return 0;
}

void sy_kube_free_source(void *ctx, void *value) {
  if (!value) return;
  sy_source_object_cleanup((sy_kind_t)(uintptr_t)ctx, value);
  sy_free(value);
}

/* ----------------------------------------------------------- building sets */

/* Order-independent digest of the objects a set is made of: identity plus
 * resourceVersion, so any write to a relevant object changes it. */
typedef struct digest {
  uint64_t sum, mix;
  size_t n;
} digest_t;

static void digest_add(digest_t *d, const char *kind, const sy_objmeta_t *m, uint64_t extra) {
  char buf[640];
  int len = snprintf(buf, sizeof(buf), "%s/%s/%s/%s/%llu", kind, m->namespace_name, m->name,
                     m->resource_version ? m->resource_version : "", (unsigned long long)extra);
  uint64_t h = XXH3_64bits(buf, (size_t)SY_MIN((size_t)len, sizeof(buf) - 1));
  d->sum += h;
  d->mix ^= h * 0x9E3779B97F4A7C15ull;
  d->n++;
}

typedef struct walk {
  sy_kube_source_t *s;
  const sy_pool_t *pool;
  digest_t dg;
  sy_objset_t *set; /* NULL while only digesting */
  size_t cap_pools, cap_pods, cap_objs, cap_rws;
  int rc;
} walk_t;

/* Appends a deep copy of obj to *arr (n entries, capacity *cap). */
static void grow_append(walk_t *w, sy_kind_t kind, void **arr, size_t *n, size_t *cap, const void *obj) {
  if (w->rc) return;
  size_t sz = kind_size(kind);
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 8;
    void *na = sy_realloc(*arr, ncap * sz);
    if (!na) {
      w->rc = -ENOMEM;
      return;
    }
    *arr = na;
    *cap = ncap;
  }
  void *dst = (char *)*arr + *n * sz;
  memset(dst, 0, sz);
  if ((w->rc = sy_source_object_copy(kind, dst, obj)) == 0) (*n)++;
}

static void visit_pod(void *ctx, const void *value) {
  walk_t *w = ctx;
  const sy_pod_t *p = value;
  if (strcmp(p->meta.namespace_name, w->s->ns) != 0) return;
  if (!sy_labels_match(w->pool->selector, w->pool->n_selector, p->meta.labels, p->meta.n_labels)) return;
  digest_add(&w->dg, "Pod", &p->meta, 0);
  if (w->set) grow_append(w, SY_KIND_POD, (void **)&w->set->pods, &w->set->n_pods, &w->cap_pods, p);
}

static bool pool_ref_is_ours(const walk_t *w, const char *ns, const char *group, const char *name) {
  return !strcmp(ns, w->s->ns) && !strcmp(group, POOL_GROUP) && !strcmp(name, w->s->pool_name);
}

static void visit_objective(void *ctx, const void *value) {
  walk_t *w = ctx;
  const sy_objective_t *o = value;
  if (!pool_ref_is_ours(w, o->meta.namespace_name, o->pool_group, o->pool_name)) return;
  digest_add(&w->dg, "InferenceObjective", &o->meta, 0);
  if (w->set) grow_append(w, SY_KIND_OBJECTIVE, (void **)&w->set->objectives, &w->set->n_objectives, &w->cap_objs, o);
}

static void visit_rewrite(void *ctx, const void *value) {
  walk_t *w = ctx;
  const sy_model_rewrite_t *o = value;
  if (!pool_ref_is_ours(w, o->meta.namespace_name, o->pool_group, o->pool_name)) return;
  digest_add(&w->dg, "InferenceModelRewrite", &o->meta, 0);
  if (w->set) grow_append(w, SY_KIND_REWRITE, (void **)&w->set->rewrites, &w->set->n_rewrites, &w->cap_rws, o);
}

/* One pass over the caches: the digest always, the set when w->set. The
 * same object may be served under both alpha groups: the newer group's
 * copy is kept (it comes first). */
static void walk(walk_t *w, const sy_pool_t *pool) {
  w->pool = pool;
  if (pool) {
    digest_add(&w->dg, "InferencePool", &pool->meta, 0);
    if (w->set) grow_append(w, SY_KIND_POOL, (void **)&w->set->pools, &w->set->n_pools, &w->cap_pools, pool);
    sy_kube_reflector_foreach(w->s->pods, visit_pod, w);
  }
  for (size_t g = 0; g < N_ALPHA; g++) {
    if (w->s->objs[g]) sy_kube_reflector_foreach(w->s->objs[g], visit_objective, w);
    if (w->s->rws[g]) sy_kube_reflector_foreach(w->s->rws[g], visit_rewrite, w);
  }
  if (!w->set) return;
  /* drop older-group duplicates (same namespace/name) */
  sy_objset_t *set = w->set;
  for (size_t i = 0; i < set->n_objectives; i++)
    for (size_t j = i + 1; j < set->n_objectives;) {
      if (!strcmp(set->objectives[i].meta.name, set->objectives[j].meta.name)) {
        sy_source_object_cleanup(SY_KIND_OBJECTIVE, &set->objectives[j]);
        set->objectives[j] = set->objectives[--set->n_objectives];
      } else {
        j++;
      }
    }
  for (size_t i = 0; i < set->n_rewrites; i++)
    for (size_t j = i + 1; j < set->n_rewrites;) {
      if (!strcmp(set->rewrites[i].meta.name, set->rewrites[j].meta.name)) {
        sy_source_object_cleanup(SY_KIND_REWRITE, &set->rewrites[j]);
        set->rewrites[j] = set->rewrites[--set->n_rewrites];
      } else {
        j++;
      }
    }
}

/* The pool in endpoint-selector mode: built from flags, not the API. */
static int synth_pool(const sy_kube_source_t *s, sy_pool_t *p) {
  memset(p, 0, sizeof(*p));
  p->meta.name = s->pool_name;
  p->meta.namespace_name = s->ns;
  p->meta.origin = (char *)"--endpoint-selector";
  p->selector = s->sel;
  p->n_selector = s->n_sel;
  memcpy(p->target_ports, s->ports, sizeof(p->target_ports));
  p->n_target_ports = s->n_ports;
  return 0;
}

/* The pool as the caches have it now (endpoint-selector mode: *synth). */
static const sy_pool_t *current_pool(const sy_kube_source_t *s, sy_pool_t *synth) {
  if (s->n_sel) {
    synth_pool(s, synth);
    return synth;
  }
  return sy_kube_reflector_get(s->pools, s->ns, s->pool_name);
}

static bool pod_selected(const sy_kube_source_t *s, const sy_pool_t *pool, const sy_pod_t *p) {
  return p && !strcmp(p->meta.namespace_name, s->ns) &&
         sy_labels_match(pool->selector, pool->n_selector, p->meta.labels, p->meta.n_labels);
}

/* A pod change matters only when the pod is selected before or after it:
 * churn among the namespace's other pods costs no walk over the cache. A
 * selector change comes with a pool change, which always walks. */
static bool pod_relevant(void *ctx, const void *old_value, const void *new_value) {
  const sy_kube_source_t *s = ctx;
  sy_pool_t synth;
  const sy_pool_t *pool = current_pool(s, &synth);
  return pool && (pod_selected(s, pool, old_value) || pod_selected(s, pool, new_value));
}

static void on_change(void *ctx) {
  sy_kube_source_t *s = ctx;
  sy_pool_t synth;
  const sy_pool_t *pool = current_pool(s, &synth);
  atomic_fetch_add(&s->walks, 1);
  walk_t w = {.s = s};
  walk(&w, pool);
  uint64_t h = w.dg.sum ^ (w.dg.mix * 31) ^ w.dg.n;
  if (s->published && h == s->last_hash) return; /* nothing relevant changed */

  sy_objset_t *set = sy_calloc(1, sizeof(*set));
  walk_t full = {.s = s, .set = set, .rc = set ? 0 : -ENOMEM};
  if (set) walk(&full, pool);
  if (full.rc) {
    SY_LOG(SY_LOG_ERROR, "kube source: out of memory building the object set; will retry on the next change", NULL);
    sy_objset_free(set);
    return;
  }
  s->last_hash = h;
  s->published = true;
  atomic_fetch_add(&s->publishes, 1);
  char n[64];
  snprintf(n, sizeof(n), "%zu", set->n_pods);
  SY_LOG(SY_LOG_DEBUG, "kube source: publishing", "pool_found", pool ? "true" : "false", "pods", n, NULL);
  s->on_load(s->ctx, set);
}

/* -------------------------------------------------------------- discovery */

/* Which of `resources` the API server serves under group/version: bit i
 * set when resources[i] is listed. 404 means the group is not served (0).
 * Transport errors and other statuses retry a while, then fail. */
static int discover(sy_kube_client_t *c, const char *group, const char *version, const char *const *resources,
                    size_t n, unsigned *mask, char *err, size_t errlen) {
  char path[256];
  snprintf(path, sizeof(path), "/apis/%s/%s", group, version);
  *mask = 0;
  for (int attempt = 1;; attempt++) {
    sy_kube_response_t r;
    sy_kube_response_init(&r);
    int rc = sy_kube_request(c, "GET", path, NULL, NULL, 0, 10000, &r);
    if (rc == 0 && r.status == 404) {
      sy_kube_response_cleanup(&r);
      return 0;
    }
    if (rc == 0 && r.status == 200) {
      cJSON *root = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
      const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "resources");
      const cJSON *it;
      cJSON_ArrayForEach(it, list) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        for (size_t i = 0; cJSON_IsString(name) && i < n; i++)
          if (!strcmp(name->valuestring, resources[i])) *mask |= 1u << i;
      }
      cJSON_Delete(root);
      sy_kube_response_cleanup(&r);
      return 0;
    }
    if (attempt >= DISCOVERY_ATTEMPTS || (rc == 0 && (r.status == 401 || r.status == 403))) {
      snprintf(err, errlen, "discovery GET %s: %s%s%ld", path, r.err[0] ? r.err : "", r.err[0] ? "; status " : "status ",
               r.status);
      sy_kube_response_cleanup(&r);
      return rc ? rc : -EIO;
    }
    sy_kube_response_cleanup(&r);
    struct timespec ts = {DISCOVERY_RETRY_MS / 1000, (DISCOVERY_RETRY_MS % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* ------------------------------------------------------------------ start */

static int add_reflector(sy_kube_source_t *s, const char *name, const char *path, const char *field_selector,
                         sy_kind_t kind, sy_kube_reflector_t **out) {
  sy_kube_reflector_config_t rc = {.name = name,
                                   .path = path,
                                   .field_selector = field_selector,
                                   .decode = sy_kube_decode_source,
                                   .free = sy_kube_free_source,
                                   .ctx = (void *)(uintptr_t)kind,
                                   .relevant = kind == SY_KIND_POD ? pod_relevant : NULL,
                                   .relevant_ctx = s};
  return sy_kube_informer_add(s->inf, &rc, out);
}

int sy_kube_source_start(sy_kube_source_t **out, sy_kube_client_t *client, const sy_kube_source_config_t *cfg,
                         char *err, size_t errlen) {
  *out = NULL;
  if (!cfg->pool_name || !cfg->pool_name[0] || !cfg->pool_namespace || !cfg->pool_namespace[0] || !cfg->on_load) {
    snprintf(err, errlen, "pool name, namespace and on_load are required");
    return SY_EINVAL;
  }
  if (cfg->pool_group && cfg->pool_group[0] && strcmp(cfg->pool_group, POOL_GROUP) != 0) {
    snprintf(err, errlen, "pool group %s is not supported (only %s)", cfg->pool_group, POOL_GROUP);
    return SY_EINVAL;
  }
  sy_kube_source_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->on_load = cfg->on_load;
  s->ctx = cfg->ctx;
  int rc = -ENOMEM;
  if (!(s->pool_name = sy_strdup(cfg->pool_name)) || !(s->ns = sy_strdup(cfg->pool_namespace))) goto fail;
  if (cfg->endpoint_selector && cfg->endpoint_selector[0]) {
    char perr[256];
    if ((rc = sy_kube_parse_selector(cfg->endpoint_selector, &s->sel, &s->n_sel, perr, sizeof(perr)))) {
      snprintf(err, errlen, "--endpoint-selector: %s", perr);
      goto fail;
    }
    if (cfg->n_target_ports < 1 || cfg->n_target_ports > SY_POOL_MAX_PORTS) {
      snprintf(err, errlen, "--endpoint-target-ports: want 1 to %d ports with --endpoint-selector", SY_POOL_MAX_PORTS);
      rc = SY_EINVAL;
      goto fail;
    }
    for (size_t i = 0; i < cfg->n_target_ports; i++) {
      if (cfg->target_ports[i] < 1 || cfg->target_ports[i] > 65535) {
        snprintf(err, errlen, "--endpoint-target-ports: %d is not a port", (int)cfg->target_ports[i]);
        rc = SY_EINVAL;
        goto fail;
      }
      s->ports[i] = cfg->target_ports[i];
    }
    s->n_ports = cfg->n_target_ports;
  }

  /* Discovery first: the alpha CRDs are optional, as upstream. */
  static const char *const RES[] = {"inferenceobjectives", "inferencemodelrewrites"};
  unsigned mask[N_ALPHA];
  for (size_t g = 0; g < N_ALPHA; g++) {
    if ((rc = discover(client, ALPHA_GROUPS[g], "v1alpha2", RES, 2, &mask[g], err, errlen))) goto fail;
  }

  sy_kube_informer_config_t icfg = {.on_change = on_change, .ctx = s};
  if ((rc = sy_kube_informer_new(&s->inf, client, &icfg))) {
    snprintf(err, errlen, "cannot create the informer: %s", sy_strerror(rc));
    goto fail;
  }
  char path[512], field[300];
  if (!s->n_sel) {
    snprintf(path, sizeof(path), "/apis/%s/v1/namespaces/%s/inferencepools", POOL_GROUP, s->ns);
    snprintf(field, sizeof(field), "metadata.name=%s", s->pool_name);
    if ((rc = add_reflector(s, "inferencepools", path, field, SY_KIND_POOL, &s->pools))) goto fail_add;
  }
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", s->ns);
  if ((rc = add_reflector(s, "pods", path, NULL, SY_KIND_POD, &s->pods))) goto fail_add;
  for (size_t g = 0; g < N_ALPHA; g++) {
    if (mask[g] & 1u) {
      snprintf(path, sizeof(path), "/apis/%s/v1alpha2/namespaces/%s/inferenceobjectives", ALPHA_GROUPS[g], s->ns);
      if ((rc = add_reflector(s, "inferenceobjectives", path, NULL, SY_KIND_OBJECTIVE, &s->objs[g]))) goto fail_add;
      s->obj_served = true;
    }
    if (mask[g] & 2u) {
      snprintf(path, sizeof(path), "/apis/%s/v1alpha2/namespaces/%s/inferencemodelrewrites", ALPHA_GROUPS[g], s->ns);
      if ((rc = add_reflector(s, "inferencemodelrewrites", path, NULL, SY_KIND_REWRITE, &s->rws[g]))) goto fail_add;
      s->rw_served = true;
    }
  }
  if ((rc = sy_kube_informer_start(s->inf))) {
    snprintf(err, errlen, "cannot start the informer: %s", sy_strerror(rc));
    goto fail;
  }
  SY_LOG(SY_LOG_INFO, "watching the API server", "namespace", s->ns, "pool", s->pool_name, "mode",
         s->n_sel ? "endpoint-selector" : "inferencepool", "objectives", s->obj_served ? "served" : "not served",
         "rewrites", s->rw_served ? "served" : "not served", NULL);
  *out = s;
  return 0;
fail_add:
  snprintf(err, errlen, "cannot add a reflector: %s", sy_strerror(rc));
fail:
  sy_kube_source_stop(s);
  return rc;
}

void sy_kube_source_stop(sy_kube_source_t *s) {
  if (!s) return;
  sy_kube_informer_free(s->inf);
  sy_kube_labels_free(s->sel, s->n_sel);
  sy_free(s->pool_name);
  sy_free(s->ns);
  sy_free(s);
}

void sy_kube_source_stats(const sy_kube_source_t *s, sy_kube_source_stats_t *out) {
  memset(out, 0, sizeof(*out));
  out->synced = s->inf && sy_kube_informer_synced(s->inf);
  out->objectives_served = s->obj_served;
  out->rewrites_served = s->rw_served;
  out->publishes = atomic_load(&((sy_kube_source_t *)s)->publishes);
  out->walks = atomic_load(&((sy_kube_source_t *)s)->walks);
  if (s->pools) sy_kube_reflector_stats(s->pools, &out->pools);
  if (s->pods) sy_kube_reflector_stats(s->pods, &out->pods);
}
