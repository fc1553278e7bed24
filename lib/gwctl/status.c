/* Gateway mode: writing status to the API server.
 *
 * One thread. For each object: GET it, build its new status from the old one
 * (other controllers' entries kept untouched, lastTransitionTime kept when a
 * condition's status did not change), and PUT /status with the object's
 * resourceVersion only when something changed — so a conflict (409) means
 * someone else wrote meanwhile, and the whole round is retried. Entries of
 * ours on objects we no longer route for are removed; those written before
 * this process started are found by one LIST of routes and pools on the
 * first round (seed_owned). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "core.h"
#include "gwctl_int.h"

#define RETRY_MS 1000
#define RECHECK_MS 2000

/* ------------------------------------------------------------ conditions */

static void now_rfc3339(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const cJSON *find_by_str(const cJSON *arr, const char *key, const char *value) {
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, key);
    if (cJSON_IsString(v) && !strcmp(v->valuestring, value)) return it;
  }
  return NULL;
}

/* metav1.Condition list for `conds`, keeping lastTransitionTime from `old`
 * (may be NULL) where type and status are unchanged. */
static cJSON *conditions_json(const cJSON *old, const sy_gw_condition_t *conds, size_t n, const char *now) {
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; arr && i < n; i++) {
    const sy_gw_condition_t *c = &conds[i];
    const char *status = sy_gw_cond_status_str(c->status);
    const cJSON *prev = find_by_str(old, "type", c->type);
    const cJSON *ps = prev ? cJSON_GetObjectItemCaseSensitive(prev, "status") : NULL;
    const cJSON *pt = prev ? cJSON_GetObjectItemCaseSensitive(prev, "lastTransitionTime") : NULL;
    const char *ltt = cJSON_IsString(ps) && !strcmp(ps->valuestring, status) && cJSON_IsString(pt) ? pt->valuestring : now;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "type", c->type) || !cJSON_AddStringToObject(o, "status", status) ||
        !cJSON_AddNumberToObject(o, "observedGeneration", (double)c->observed_generation) ||
        !cJSON_AddStringToObject(o, "lastTransitionTime", ltt) ||
        !cJSON_AddStringToObject(o, "reason", c->reason ? c->reason : "") ||
        !cJSON_AddStringToObject(o, "message", c->message ? c->message : "") || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      cJSON_Delete(arr);
      return NULL;
    }
  }
  return arr;
}

/* ------------------------------------------------------------- builders */

typedef cJSON *(*build_fn)(const sy_gwctl_t *g, const cJSON *old_status, const void *item, const char *now);

static cJSON *status_base(const cJSON *old) {
  return cJSON_IsObject(old) ? cJSON_Duplicate(old, true) : cJSON_CreateObject();
}

static cJSON *build_class(const sy_gwctl_t *g, const cJSON *old, const void *item, const char *now) {
  SY_UNUSED(g);
  const sy_gw_class_status_t *cs = item;
  cJSON *st = status_base(old);
  cJSON *conds = conditions_json(cJSON_GetObjectItemCaseSensitive(old, "conditions"), cs->conds, cs->n_conds, now);
  if (!st || !conds) goto fail;
  cJSON_DeleteItemFromObjectCaseSensitive(st, "conditions");
  if (!cJSON_AddItemToObject(st, "conditions", conds)) goto fail;
  return st;
fail:
  cJSON_Delete(conds);
  cJSON_Delete(st);
  return NULL;
}

/* status.addresses: the configured data-plane address, if any. */
static bool set_addresses(const sy_gwctl_t *g, cJSON *st) {
  cJSON_DeleteItemFromObjectCaseSensitive(st, "addresses");
  if (!g->address) return true;
  unsigned char buf[16];
  bool ip = inet_pton(AF_INET, g->address, buf) == 1 || inet_pton(AF_INET6, g->address, buf) == 1;
  cJSON *arr = cJSON_AddArrayToObject(st, "addresses"), *a = cJSON_CreateObject();
  if (!arr || !a || !cJSON_AddStringToObject(a, "type", ip ? "IPAddress" : "Hostname") ||
      !cJSON_AddStringToObject(a, "value", g->address) || !cJSON_AddItemToArray(arr, a)) {
    cJSON_Delete(a);
    return false;
  }
  return true;
}

static cJSON *build_gateway(const sy_gwctl_t *g, const cJSON *old, const void *item, const char *now) {
  const sy_gw_gateway_status_t *gs = item;
  cJSON *st = status_base(old), *listeners = cJSON_CreateArray();
  cJSON *conds = conditions_json(cJSON_GetObjectItemCaseSensitive(old, "conditions"), gs->conds, gs->n_conds, now);
  if (!st || !conds || !listeners) goto fail;
  const cJSON *old_ls = cJSON_GetObjectItemCaseSensitive(old, "listeners");
  for (size_t i = 0; i < gs->n_listeners; i++) {
    const sy_gw_listener_status_t *ls = &gs->listeners[i];
    const cJSON *prev = find_by_str(old_ls, "name", ls->name);
    cJSON *o = cJSON_CreateObject(), *kinds = cJSON_CreateArray();
    cJSON *lc = conditions_json(prev ? cJSON_GetObjectItemCaseSensitive(prev, "conditions") : NULL, ls->conds,
                                ls->n_conds, now);
    bool ok = o && kinds && lc && cJSON_AddItemToArray(listeners, o);
    if (!ok) {
      cJSON_Delete(o);
      cJSON_Delete(kinds);
      cJSON_Delete(lc);
      goto fail;
    }
    for (size_t k = 0; k < ls->n_supported_kinds; k++) {
      cJSON *gk = cJSON_CreateObject();
      if (!gk || !cJSON_AddStringToObject(gk, "group", ls->supported_kinds[k].group) ||
          !cJSON_AddStringToObject(gk, "kind", ls->supported_kinds[k].kind) || !cJSON_AddItemToArray(kinds, gk)) {
        cJSON_Delete(gk);
        ok = false;
      }
    }
    ok = ok && cJSON_AddStringToObject(o, "name", ls->name) && cJSON_AddItemToObject(o, "supportedKinds", kinds);
    if (!ok) cJSON_Delete(kinds);
    ok = ok && cJSON_AddNumberToObject(o, "attachedRoutes", ls->attached_routes) &&
         cJSON_AddItemToObject(o, "conditions", lc);
    if (!ok) goto fail;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(st, "conditions");
  cJSON_DeleteItemFromObjectCaseSensitive(st, "listeners");
  if (!cJSON_AddItemToObject(st, "conditions", conds)) goto fail;
  conds = NULL;
  if (!cJSON_AddItemToObject(st, "listeners", listeners)) goto fail;
  if (!set_addresses(g, st)) {
    cJSON_Delete(st);
    return NULL;
  }
  return st;
fail:
  cJSON_Delete(conds);
  cJSON_Delete(listeners);
  cJSON_Delete(st);
  return NULL;
}

static bool is_ours(const sy_gwctl_t *g, const cJSON *entry) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(entry, "controllerName");
  return cJSON_IsString(c) && !strcmp(c->valuestring, g->controller_name);
}

/* Two parentRefs name the same parent (group/kind defaults applied). */
static bool same_parent(const cJSON *ref, const char *group, const char *kind, const char *ns, const char *name,
                        const char *section, int32_t port) {
  const cJSON *v;
  const char *rg = (v = cJSON_GetObjectItemCaseSensitive(ref, "group")) && cJSON_IsString(v) ? v->valuestring
                                                                                            : SY_GW_GROUP;
  const char *rk = (v = cJSON_GetObjectItemCaseSensitive(ref, "kind")) && cJSON_IsString(v) ? v->valuestring : "Gateway";
  const char *rn = (v = cJSON_GetObjectItemCaseSensitive(ref, "name")) && cJSON_IsString(v) ? v->valuestring : "";
  const char *rns = (v = cJSON_GetObjectItemCaseSensitive(ref, "namespace")) && cJSON_IsString(v) ? v->valuestring : NULL;
  const char *rs = (v = cJSON_GetObjectItemCaseSensitive(ref, "sectionName")) && cJSON_IsString(v) ? v->valuestring : NULL;
  int32_t rp = (v = cJSON_GetObjectItemCaseSensitive(ref, "port")) && cJSON_IsNumber(v) ? (int32_t)v->valuedouble : 0;
  return !strcmp(rg, group) && !strcmp(rk, kind) && !strcmp(rn, name) && (!rns || !ns || !strcmp(rns, ns)) &&
         ((!rs && !section) || (rs && section && !strcmp(rs, section))) && rp == port;
}

/* Copies the entries of old "parents" that are not ours into a new array. */
static cJSON *foreign_parents(const sy_gwctl_t *g, const cJSON *old) {
  cJSON *arr = cJSON_CreateArray();
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(old, "parents")) {
    if (is_ours(g, it)) continue;
    cJSON *d = cJSON_Duplicate(it, true);
    if (!d || !cJSON_AddItemToArray(arr, d)) {
      cJSON_Delete(d);
      cJSON_Delete(arr);
      return NULL;
    }
  }
  return arr;
}

static const cJSON *our_old_entry(const sy_gwctl_t *g, const cJSON *old, const char *group, const char *kind,
                                  const char *ns, const char *name, const char *section, int32_t port) {
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(old, "parents")) {
    if (is_ours(g, it) && same_parent(cJSON_GetObjectItemCaseSensitive(it, "parentRef"), group, kind, ns, name, section, port))
      return it;
  }
  return NULL;
}

static cJSON *with_parents(const cJSON *old, cJSON *parents) {
  cJSON *st = status_base(old);
  if (!st || !parents) {
    cJSON_Delete(st);
    cJSON_Delete(parents);
    return NULL;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(st, "parents");
  if (!cJSON_AddItemToObject(st, "parents", parents)) {
    cJSON_Delete(parents);
    cJSON_Delete(st);
    return NULL;
  }
  return st;
}

static cJSON *build_route(const sy_gwctl_t *g, const cJSON *old, const void *item, const char *now) {
  const sy_gw_route_status_t *rs = item;
  cJSON *parents = foreign_parents(g, old);
  for (size_t i = 0; parents && rs && i < rs->n_parents; i++) {
    const sy_gw_route_parent_status_t *p = &rs->parents[i];
    const sy_gw_parent_ref_t *r = &p->parent_ref;
    const cJSON *prev = our_old_entry(g, old, r->group, r->kind, r->namespace_name, r->name, r->section_name, r->port);
    cJSON *o = cJSON_CreateObject(), *ref = cJSON_CreateObject();
    cJSON *conds = conditions_json(prev ? cJSON_GetObjectItemCaseSensitive(prev, "conditions") : NULL, p->conds,
                                   p->n_conds, now);
    bool ok = o && ref && conds && cJSON_AddStringToObject(ref, "group", r->group) &&
              cJSON_AddStringToObject(ref, "kind", r->kind) &&
              (!r->namespace_set || cJSON_AddStringToObject(ref, "namespace", r->namespace_name)) &&
              cJSON_AddStringToObject(ref, "name", r->name) &&
              (!r->section_name || cJSON_AddStringToObject(ref, "sectionName", r->section_name)) &&
              (!r->port || cJSON_AddNumberToObject(ref, "port", r->port));
    ok = ok && cJSON_AddItemToObject(o, "parentRef", ref);
    if (!ok) cJSON_Delete(ref);
    ok = ok && cJSON_AddStringToObject(o, "controllerName", g->controller_name);
    ok = ok && cJSON_AddItemToObject(o, "conditions", conds);
    if (!ok && conds && !cJSON_GetObjectItemCaseSensitive(o, "conditions")) cJSON_Delete(conds);
    if (!ok || !cJSON_AddItemToArray(parents, o)) {
      cJSON_Delete(o);
      cJSON_Delete(parents);
      return NULL;
    }
  }
  return with_parents(old, parents);
}

static cJSON *build_pool(const sy_gwctl_t *g, const cJSON *old, const void *item, const char *now) {
  const sy_gw_pool_status_t *ps = item;
  cJSON *parents = foreign_parents(g, old);
  for (size_t i = 0; parents && ps && i < ps->n_parents; i++) {
    const sy_gw_pool_parent_status_t *p = &ps->parents[i];
    const cJSON *prev = our_old_entry(g, old, SY_GW_GROUP, "Gateway", p->gateway_namespace, p->gateway_name, NULL, 0);
    cJSON *o = cJSON_CreateObject(), *ref = cJSON_CreateObject();
    cJSON *conds = conditions_json(prev ? cJSON_GetObjectItemCaseSensitive(prev, "conditions") : NULL, p->conds,
                                   p->n_conds, now);
    /* GAIE conformance: the parentRef namespace is always explicit */
    bool ok = o && ref && conds && cJSON_AddStringToObject(ref, "group", SY_GW_GROUP) &&
              cJSON_AddStringToObject(ref, "kind", "Gateway") &&
              cJSON_AddStringToObject(ref, "namespace", p->gateway_namespace) &&
              cJSON_AddStringToObject(ref, "name", p->gateway_name);
    ok = ok && cJSON_AddItemToObject(o, "parentRef", ref);
    if (!ok) cJSON_Delete(ref);
    ok = ok && cJSON_AddStringToObject(o, "controllerName", g->controller_name);
    ok = ok && cJSON_AddItemToObject(o, "conditions", conds);
    if (!ok && conds && !cJSON_GetObjectItemCaseSensitive(o, "conditions")) cJSON_Delete(conds);
    if (!ok || !cJSON_AddItemToArray(parents, o)) {
      cJSON_Delete(o);
      cJSON_Delete(parents);
      return NULL;
    }
  }
  return with_parents(old, parents);
}

/* ---------------------------------------------------------------- writing */

typedef enum wres { W_OK, W_RETRY } wres_t;

/* GET, build, compare, PUT /status. A missing object is fine (gone). */
static wres_t write_status(sy_gwctl_t *g, const char *path, build_fn build, const void *item, const char *now) {
  sy_kube_response_t r;
  sy_kube_response_init(&r);
  int rc = sy_kube_request(g->client, "GET", path, NULL, NULL, 0, 10000, &r);
  if (rc == 0 && r.status == 404) {
    sy_kube_response_cleanup(&r);
    return W_OK;
  }
  if (rc != 0 || r.status != 200) {
    SY_LOG(SY_LOG_WARN, "gateway status: read failed", "path", path, "error", r.err[0] ? r.err : sy_strerror(rc), NULL);
    sy_kube_response_cleanup(&r);
    atomic_fetch_add(&g->status_errors, 1);
    return W_RETRY;
  }
  cJSON *root = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
  sy_kube_response_cleanup(&r);
  if (!root) return W_RETRY;
  const cJSON *old = cJSON_GetObjectItemCaseSensitive(root, "status");
  cJSON *st = build(g, old, item, now);
  wres_t res = W_OK;
  if (!st) {
    res = W_RETRY;
  } else if (old && cJSON_Compare(old, st, true)) {
    cJSON_Delete(st); /* unchanged: no write */
  } else {
    cJSON_DeleteItemFromObjectCaseSensitive(root, "status");
    cJSON_AddItemToObject(root, "status", st);
    char *body = cJSON_PrintUnformatted(root);
    char spath[600];
    snprintf(spath, sizeof(spath), "%s/status", path);
    sy_kube_response_t w;
    sy_kube_response_init(&w);
    rc = body ? sy_kube_request(g->client, "PUT", spath, "application/json", body, strlen(body), 10000, &w) : -ENOMEM;
    if (rc == 0 && w.status == 200) {
      atomic_fetch_add(&g->status_writes, 1);
      SY_LOG(SY_LOG_DEBUG, "gateway status written", "path", path, NULL);
    } else if (rc == 0 && w.status == 409) {
      atomic_fetch_add(&g->status_conflicts, 1);
      res = W_RETRY;
    } else if (!(rc == 0 && w.status == 404)) {
      char code[16];
      snprintf(code, sizeof(code), "%ld", w.status);
      SY_LOG(SY_LOG_WARN, "gateway status: write failed", "path", spath, "status", code, "error",
             w.err[0] ? w.err : sy_strerror(rc), NULL);
      atomic_fetch_add(&g->status_errors, 1);
      res = W_RETRY;
    }
    sy_kube_response_cleanup(&w);
    cJSON_free(body);
  }
  cJSON_Delete(root);
  return res;
}

static bool owned_has(char **list, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(list[i], key)) return true;
  return false;
}

/* Percent-encodes `in` (a continue token) into out; false when it does not fit. */
static bool query_escape(const char *in, char *out, size_t n) {
  static const char HEX[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
    bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                 *p == '_' || *p == '.' || *p == '~';
    if (o + (plain ? 1 : 3) >= n) return false;
    if (plain) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = HEX[*p >> 4];
      out[o++] = HEX[*p & 15];
    }
  }
  out[o] = '\0';
  return true;
}

/* Entries of ours written before this process started (a restart, a new
 * leader) are unknown to g->owned, so an object no route or Gateway of ours
 * refers to any more would keep a stale entry forever. Once, LIST every
 * HTTPRoute and InferencePool and add those carrying an entry of ours to
 * g->owned: the cleanup in write_all then removes what is stale. true when
 * both lists were read (else retried next round). */
static bool seed_owned(sy_gwctl_t *g) {
  static const struct {
    const char *key, *group, *resource;
  } KINDS[] = {{"route|", SY_GW_GROUP, "httproutes"}, {"pool|", SY_GW_POOL_GROUP, "inferencepools"}};
  for (size_t k = 0; k < SY_ARRAY_LEN(KINDS); k++) {
    char cont[2048] = "";
    do {
      char path[2600], key[640];
      snprintf(path, sizeof(path), "/apis/%s/v1/%s?limit=500%s%s", KINDS[k].group, KINDS[k].resource,
               cont[0] ? "&continue=" : "", cont);
      sy_kube_response_t r;
      sy_kube_response_init(&r);
      int rc = sy_kube_request(g->client, "GET", path, NULL, NULL, 0, 30000, &r);
      if (rc == 0 && r.status == 404) { /* the kind is not served: nothing of ours there */
        sy_kube_response_cleanup(&r);
        break;
      }
      cJSON *root = rc == 0 && r.status == 200 ? cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len)
                                               : NULL;
      if (!root) {
        SY_LOG(SY_LOG_WARN, "gateway status: listing our earlier entries failed", "path", path, "error",
               r.err[0] ? r.err : sy_strerror(rc), NULL);
        sy_kube_response_cleanup(&r);
        atomic_fetch_add(&g->status_errors, 1);
        return false;
      }
      sy_kube_response_cleanup(&r);
      const cJSON *it, *e;
      cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "items")) {
        bool ours = false;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it, "status"),
                                                               "parents")) ours |= is_ours(g, e);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(it, "metadata");
        const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
        if (!ours || !ns || !name) continue;
        snprintf(key, sizeof(key), "%s/apis/%s/v1/namespaces/%s/%s/%s", KINDS[k].key, KINDS[k].group, ns,
                 KINDS[k].resource, name);
        if (owned_has(g->owned, g->n_owned, key)) continue;
        char **no = sy_realloc(g->owned, sizeof(*no) * (g->n_owned + 1));
        if (!no) break;
        g->owned = no;
        if ((g->owned[g->n_owned] = sy_strdup(key))) g->n_owned++;
      }
      const char *next =
          cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "metadata"), "continue"));
      if (!next || !next[0] || !query_escape(next, cont, sizeof(cont))) cont[0] = '\0';
      cJSON_Delete(root);
    } while (cont[0]);
  }
  return true;
}

/* Writes every status of `st`; then removes our entries from routes and
 * pools that no longer have any. true when everything went through. */
static bool write_all(sy_gwctl_t *g, const sy_gw_status_t *st) {
  char now[40], path[600], key[640];
  now_rfc3339(now, sizeof(now));
  bool ok = true;
  for (size_t i = 0; i < st->n_classes; i++) {
    snprintf(path, sizeof(path), "/apis/%s/v1/gatewayclasses/%s", SY_GW_GROUP, st->classes[i].name);
    ok &= write_status(g, path, build_class, &st->classes[i], now) == W_OK;
  }
  for (size_t i = 0; i < st->n_gateways; i++) {
    const sy_gw_gateway_status_t *x = &st->gateways[i];
    snprintf(path, sizeof(path), "/apis/%s/v1/namespaces/%s/gateways/%s", SY_GW_GROUP, x->namespace_name, x->name);
    ok &= write_status(g, path, build_gateway, x, now) == W_OK;
  }
  size_t cap = st->n_routes + st->n_pools;
  char **owned = sy_calloc(cap ? cap : 1, sizeof(*owned));
  size_t n_owned = 0;
  if (!owned) return false;
  for (size_t i = 0; i < st->n_routes; i++) {
    const sy_gw_route_status_t *x = &st->routes[i];
    snprintf(path, sizeof(path), "/apis/%s/v1/namespaces/%s/httproutes/%s", SY_GW_GROUP, x->namespace_name, x->name);
    ok &= write_status(g, path, build_route, x, now) == W_OK;
    snprintf(key, sizeof(key), "route|%s", path);
    if ((owned[n_owned] = sy_strdup(key))) n_owned++;
  }
  for (size_t i = 0; i < st->n_pools; i++) {
    const sy_gw_pool_status_t *x = &st->pools[i];
    snprintf(path, sizeof(path), "/apis/%s/v1/namespaces/%s/inferencepools/%s", SY_GW_POOL_GROUP, x->namespace_name,
             x->name);
    ok &= write_status(g, path, build_pool, x, now) == W_OK;
    snprintf(key, sizeof(key), "pool|%s", path);
    if ((owned[n_owned] = sy_strdup(key))) n_owned++;
  }
  /* Objects we wrote entries to before and no longer route for: drop ours. */
  if (!g->owned_seeded && !(g->owned_seeded = seed_owned(g))) ok = false;
  for (size_t i = 0; i < g->n_owned; i++) {
    if (owned_has(owned, n_owned, g->owned[i])) continue;
    const char *bar = strchr(g->owned[i], '|');
    bool is_route = !strncmp(g->owned[i], "route|", 6);
    if (write_status(g, bar + 1, is_route ? build_route : build_pool, NULL, now) != W_OK) {
      ok = false;
      if ((owned = sy_realloc(owned, sizeof(*owned) * (n_owned + 1))) != NULL && (owned[n_owned] = sy_strdup(g->owned[i])))
        n_owned++; /* keep trying to clean it up */
    }
  }
  for (size_t i = 0; i < g->n_owned; i++) sy_free(g->owned[i]);
  sy_free(g->owned);
  g->owned = owned;
  g->n_owned = owned ? n_owned : 0;
  return ok;
}

static uint64_t mix(uint64_t h, const void *p, size_t n) { return XXH3_64bits_withSeed(p, n, h); }
static uint64_t mix_str(uint64_t h, const char *s) { return s ? mix(h, s, strlen(s) + 1) : mix(h, "\xff", 1); }

static uint64_t conds_digest(uint64_t h, const sy_gw_condition_t *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h = mix_str(mix_str(mix_str(h, c[i].type), c[i].reason), c[i].message);
    int64_t v[2] = {c[i].status, c[i].observed_generation};
    h = mix(h, v, sizeof(v));
  }
  return mix(h, &n, sizeof(n));
}

/* Everything a status round would write, hashed. */
static uint64_t status_digest(const sy_gw_status_t *st) {
  uint64_t h = 1;
  for (size_t i = 0; i < st->n_classes; i++)
    h = conds_digest(mix_str(h, st->classes[i].name), st->classes[i].conds, st->classes[i].n_conds);
  for (size_t i = 0; i < st->n_gateways; i++) {
    const sy_gw_gateway_status_t *x = &st->gateways[i];
    h = conds_digest(mix_str(mix_str(h, x->namespace_name), x->name), x->conds, x->n_conds);
    for (size_t l = 0; l < x->n_listeners; l++) {
      const sy_gw_listener_status_t *ls = &x->listeners[l];
      h = conds_digest(mix(mix_str(h, ls->name), &ls->attached_routes, sizeof(ls->attached_routes)), ls->conds,
                       ls->n_conds);
      for (size_t k = 0; k < ls->n_supported_kinds; k++)
        h = mix_str(mix_str(h, ls->supported_kinds[k].group), ls->supported_kinds[k].kind);
    }
  }
  for (size_t i = 0; i < st->n_routes; i++) {
    const sy_gw_route_status_t *x = &st->routes[i];
    h = mix_str(mix_str(h, x->namespace_name), x->name);
    for (size_t p = 0; p < x->n_parents; p++) {
      const sy_gw_parent_ref_t *r = &x->parents[p].parent_ref;
      h = mix_str(mix_str(mix_str(mix_str(mix_str(h, r->group), r->kind), r->namespace_name), r->name), r->section_name);
      h = mix(h, &r->port, sizeof(r->port));
      h = conds_digest(h, x->parents[p].conds, x->parents[p].n_conds);
    }
  }
  for (size_t i = 0; i < st->n_pools; i++) {
    const sy_gw_pool_status_t *x = &st->pools[i];
    h = mix_str(mix_str(h, x->namespace_name), x->name);
    for (size_t p = 0; p < x->n_parents; p++)
      h = conds_digest(mix_str(mix_str(h, x->parents[p].gateway_namespace), x->parents[p].gateway_name),
                       x->parents[p].conds, x->parents[p].n_conds);
  }
  return h;
}

static void *status_main(void *arg) {
  sy_gwctl_t *g = arg;
  for (;;) {
    pthread_mutex_lock(&g->st_mu);
    if (!g->st_stop && !g->st_pending && !g->st_kick) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      unsigned ms = g->st_done ? RECHECK_MS : RETRY_MS;
      ts.tv_sec += ms / 1000;
      ts.tv_nsec += (long)(ms % 1000) * 1000000L;
      if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
      pthread_cond_timedwait(&g->st_cv, &g->st_mu, &ts);
    }
    bool stop = g->st_stop;
    g->st_kick = false;
    sy_gw_status_t *fresh = g->st_pending;
    g->st_pending = NULL;
    pthread_mutex_unlock(&g->st_mu);
    if (stop) {
      sy_gw_status_free(fresh);
      break;
    }
    if (fresh) {
      /* A recompute with the same outcome (most watch events: pods, our own
       * status writes) needs no round of GETs once it has been written. */
      uint64_t h = status_digest(fresh);
      bool same = g->st_current && h == g->st_digest;
      sy_gw_status_free(g->st_current);
      g->st_current = fresh;
      g->st_digest = h;
      if (!same) g->st_done = false;
    }
    /* Only the leader writes; a new leader writes what it computed. */
    if (!g->st_current || g->st_done || (g->may_write && !g->may_write(g->ctx))) continue;
    g->st_done = write_all(g, g->st_current);
  }
  return NULL;
}

void sy_gwctl_kick_status(sy_gwctl_t *g) {
  if (!g || !g->st_started) return;
  pthread_mutex_lock(&g->st_mu);
  g->st_kick = true;
  pthread_cond_signal(&g->st_cv);
  pthread_mutex_unlock(&g->st_mu);
}

void sy_gwctl__status_submit(sy_gwctl_t *g, sy_gw_status_t *st) {
  pthread_mutex_lock(&g->st_mu);
  sy_gw_status_t *old = g->st_pending;
  g->st_pending = st;
  pthread_cond_signal(&g->st_cv);
  pthread_mutex_unlock(&g->st_mu);
  sy_gw_status_free(old);
}

int sy_gwctl__status_start(sy_gwctl_t *g, char *err, size_t errlen) {
  pthread_mutex_init(&g->st_mu, NULL);
  pthread_cond_init(&g->st_cv, NULL);
  if (pthread_create(&g->st_thread, NULL, status_main, g) != 0) {
    snprintf(err, errlen, "cannot start the status thread");
    pthread_cond_destroy(&g->st_cv);
    pthread_mutex_destroy(&g->st_mu);
    return -EAGAIN;
  }
  g->st_started = true;
  return 0;
}

void sy_gwctl__status_stop(sy_gwctl_t *g) {
  if (!g->st_started) return;
  pthread_mutex_lock(&g->st_mu);
  g->st_stop = true;
  pthread_cond_signal(&g->st_cv);
  pthread_mutex_unlock(&g->st_mu);
  pthread_join(g->st_thread, NULL);
  g->st_started = false;
  sy_gw_status_free(g->st_pending);
  sy_gw_status_free(g->st_current);
  for (size_t i = 0; i < g->n_owned; i++) sy_free(g->owned[i]);
  sy_free(g->owned);
  pthread_cond_destroy(&g->st_cv);
  pthread_mutex_destroy(&g->st_mu);
}

/* ------------------------------------------------------------ objects merge */

static int move_ptrs(void ***into, size_t *n_into, void **from, size_t n_from) {
  if (!n_from) return 0;
  void **na = sy_realloc(*into, sizeof(void *) * (*n_into + n_from));
  if (!na) return -ENOMEM;
  memcpy(na + *n_into, from, sizeof(void *) * n_from);
  *into = na;
  *n_into += n_from;
  return 0;
}

int sy_gwctl__objects_merge(sy_gw_objects_t *into, sy_gw_objects_t *from) {
  int rc = move_ptrs((void ***)&into->classes, &into->n_classes, (void **)from->classes, from->n_classes);
  if (!rc) from->n_classes = 0;
  if (!rc && !(rc = move_ptrs((void ***)&into->gateways, &into->n_gateways, (void **)from->gateways, from->n_gateways)))
    from->n_gateways = 0;
  if (!rc && !(rc = move_ptrs((void ***)&into->routes, &into->n_routes, (void **)from->routes, from->n_routes)))
    from->n_routes = 0;
  if (!rc && !(rc = move_ptrs((void ***)&into->grants, &into->n_grants, (void **)from->grants, from->n_grants)))
    from->n_grants = 0;
  if (!rc && !(rc = move_ptrs((void ***)&into->services, &into->n_services, (void **)from->services, from->n_services)))
    from->n_services = 0;
  if (!rc && !(rc = move_ptrs((void ***)&into->slices, &into->n_slices, (void **)from->slices, from->n_slices)))
    from->n_slices = 0;
  if (!rc &&
      !(rc = move_ptrs((void ***)&into->namespaces, &into->n_namespaces, (void **)from->namespaces, from->n_namespaces)))
    from->n_namespaces = 0;
  sy_gw_objects_free(from); /* frees what was not moved */
  return rc;
}
