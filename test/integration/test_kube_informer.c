/*
 * lib/kube's informer against a real kube-apiserver + etcd
 * (test/support/kubeapi.h; SY_KUBE_TOOLS from hack/kube-tools.sh):
 *
 *  - a pods reflector (page size 500) over 1200 pods: the paginated LIST
 *    fills the cache exactly; status updates, deletions and creations
 *    arrive through the WATCH; short server-side watch timeouts make the
 *    watch resume from its resourceVersion several times;
 *  - the apiserver is restarted: the watch breaks, the reflector backs off
 *    and resumes (or relists on 410), and changes made afterwards are seen,
 *    with the cache equal to the server's state (nothing lost, nothing
 *    duplicated, nothing stale);
 *  - label and field selectors: objects entering and leaving the selection
 *    (relabelled pods, pods becoming Running) appear and disappear; a
 *    cluster-scoped reflector (namespaces) keys by name alone;
 *  - a watch from a resourceVersion the server has forgotten gets 410 Gone
 *    and relists, replacing the cache (deletions missed meanwhile applied);
 *  - on_change is called only once every reflector has listed.
 *
 * The writes go through sy_kube_request (the module's own client), the
 * informer through a kubeconfig written by the harness (CA-verified TLS,
 * admin bearer token). Exits 77 (skipped) without SY_KUBE_TOOLS unless
 * SY_E2E_REQUIRE=1. The control plane is started once in main() and the
 * tests run in-process (CK_NOFORK): they restart the apiserver, which only
 * its owner may do (kubeapi.h).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "informer_int.h" /* one white-box step: forcing a stale resourceVersion */
#include "kube.h"
#include "kubeapi.h"
#include "test_support.h"

static sy_kubeapi_t g_k;
static sy_kube_client_t *g_client;

/* ---------------------------------------------------------------- requests */

/* One request through the client; a transport error (a connection the
 * restarted apiserver dropped) is retried. Returns the HTTP status. */
static long kreq(const char *method, const char *path, const char *ctype, const char *body) {
  long st = 0;
  for (int attempt = 0; attempt < 20; attempt++) {
    sy_kube_response_t resp;
    sy_kube_response_init(&resp);
    int rc = sy_kube_request(g_client, method, path, ctype, body, body ? strlen(body) : 0, 30000, &resp);
    st = rc == 0 ? resp.status : 0;
    if (st != 0 && (st < 200 || st > 299) && st != 404)
      fprintf(stderr, "%s %s: HTTP %ld: %s\n", method, path, st, resp.err);
    if (st == 0) fprintf(stderr, "%s %s: %s (retrying)\n", method, path, resp.err);
    sy_kube_response_cleanup(&resp);
    if (st != 0 && st != 429 && st != 503) break;
    sy_sleep_ms(250);
  }
  return st;
}

static void create_ns(const char *ns, const char *label) {
  char body[256];
  snprintf(body, sizeof(body), "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"%s%s%s}}",
           ns, label ? ",\"labels\":{" : "", label ? label : "", label ? "}" : "");
  ck_assert_int_eq(kreq("POST", "/api/v1/namespaces", "application/json", body), 201);
}

static long create_pod(const char *ns, const char *name, const char *labels_json, const char *node) {
  char path[256], body[1024];
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", ns);
  snprintf(body, sizeof(body),
           "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"%s%s%s},"
           "\"spec\":{\"nodeName\":\"%s\",\"terminationGracePeriodSeconds\":0,"
           "\"containers\":[{\"name\":\"sim\",\"image\":\"sim\"}]}}",
           name, ns, labels_json ? ",\"labels\":{" : "", labels_json ? labels_json : "", labels_json ? "}" : "",
           node ? node : "node-1");
  return kreq("POST", path, "application/json", body);
}

static long set_ip(const char *ns, const char *name, const char *ip) {
  char path[256], body[256];
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status", ns, name);
  snprintf(body, sizeof(body), "{\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\",\"podIPs\":[{\"ip\":\"%s\"}]}}",
           ip, ip);
  return kreq("PATCH", path, "application/merge-patch+json", body);
}

static long patch_labels(const char *ns, const char *name, const char *labels_json) {
  char path[256], body[256];
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, name);
  snprintf(body, sizeof(body), "{\"metadata\":{\"labels\":{%s}}}", labels_json);
  return kreq("PATCH", path, "application/merge-patch+json", body);
}

static long delete_pod(const char *ns, const char *name) {
  char path[256];
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s?gracePeriodSeconds=0", ns, name);
  return kreq("DELETE", path, NULL, NULL);
}

/* ------------------------------------------------------- decoded objects */

typedef struct pod {
  char ns[64];
  char name[64];
  char ip[48];
} pod_t;

static atomic_int g_live; /* decoded values not yet freed */

static int decode_pod(void *ctx, const cJSON *obj, void **out, char *err, size_t errlen) {
  (void)ctx;
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
  const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
  const char *ip =
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "status"), "podIP"));
  if (!name) {
    snprintf(err, errlen, "no name");
    return -1;
  }
  pod_t *p = sy_calloc(1, sizeof(*p));
  if (!p) return -1;
  snprintf(p->ns, sizeof(p->ns), "%s", ns ? ns : "");
  snprintf(p->name, sizeof(p->name), "%s", name);
  snprintf(p->ip, sizeof(p->ip), "%s", ip ? ip : "");
  atomic_fetch_add(&g_live, 1);
  *out = p;
  return 0;
}

static void free_pod(void *ctx, void *v) {
  (void)ctx;
  if (v) atomic_fetch_sub(&g_live, 1);
  sy_free(v);
}

/* ---------------------------------------------------------------- snapshot */

/* What on_change saw last: per reflector, every object (copied, since the
 * caches may be read only inside the callback). */
#define MAX_OBJS 4096
#define MAX_REFS 4

typedef struct snap {
  pthread_mutex_t mu;
  sy_kube_informer_t *inf;
  sy_kube_reflector_t *r[MAX_REFS];
  size_t nref;
  int calls;
  bool unsynced_call; /* on_change before every reflector listed */
  size_t n[MAX_REFS];
  pod_t objs[MAX_REFS][MAX_OBJS];
} snap_t;

typedef struct copy_ctx {
  snap_t *s;
  size_t ri;
} copy_ctx_t;

static void copy_one(void *ctx, const void *value) {
  copy_ctx_t *c = ctx;
  if (c->s->n[c->ri] < MAX_OBJS) c->s->objs[c->ri][c->s->n[c->ri]] = *(const pod_t *)value;
  c->s->n[c->ri]++;
}

static void on_change(void *ctx) {
  snap_t *s = ctx;
  pthread_mutex_lock(&s->mu);
  if (!sy_kube_informer_synced(s->inf)) s->unsynced_call = true;
  s->calls++;
  for (size_t i = 0; i < s->nref; i++) {
    s->n[i] = 0;
    copy_ctx_t c = {s, i};
    sy_kube_reflector_foreach(s->r[i], copy_one, &c);
    if (s->n[i] != sy_kube_reflector_size(s->r[i])) s->unsynced_call = true; /* foreach and size disagree */
  }
  pthread_mutex_unlock(&s->mu);
}

/* Expected state of pods "p-%04d": ip NULL = absent, "" = present, no IP. */
#define NPODS 1400
static const char *g_want[NPODS];
static char g_ips[NPODS][32];

/* Does reflector ri's snapshot equal g_want exactly? On mismatch, `why`
 * says where. */
static bool matches(snap_t *s, size_t ri, char *why, size_t n) {
  static unsigned char seen[NPODS];
  memset(seen, 0, sizeof(seen));
  size_t want = 0;
  for (int i = 0; i < NPODS; i++) want += g_want[i] != NULL;
  if (s->n[ri] != want) {
    snprintf(why, n, "%zu objects, want %zu", s->n[ri], want);
    return false;
  }
  for (size_t k = 0; k < s->n[ri]; k++) {
    const pod_t *p = &s->objs[ri][k];
    int i = -1;
    if (sscanf(p->name, "p-%d", &i) != 1 || i < 0 || i >= NPODS) {
      snprintf(why, n, "unexpected object %s", p->name);
      return false;
    }
    if (seen[i]++) {
      snprintf(why, n, "duplicate %s", p->name);
      return false;
    }
    if (!g_want[i]) {
      snprintf(why, n, "%s should be gone", p->name);
      return false;
    }
    if (strcmp(g_want[i], p->ip) != 0) {
      snprintf(why, n, "%s has ip '%s', want '%s'", p->name, p->ip, g_want[i]);
      return false;
    }
  }
  return true;
}

/* Waits (up to timeout_ms) until reflector ri matches g_want. */
static void wait_match(snap_t *s, size_t ri, int timeout_ms, const char *what) {
  char why[256] = "";
  uint64_t t0 = sy_now_ns();
  for (;;) {
    pthread_mutex_lock(&s->mu);
    bool ok = matches(s, ri, why, sizeof(why));
    pthread_mutex_unlock(&s->mu);
    if (ok) return;
    if (sy_now_ns() - t0 > (uint64_t)timeout_ms * 1000000u) break;
    sy_sleep_ms(20);
  }
  ck_abort_msg("%s: cache did not converge in %d ms: %s", what, timeout_ms, why);
}

/* Waits until reflector ri holds exactly the names in `names` (NULL-ended). */
static void wait_names(snap_t *s, size_t ri, const char *const *names, int timeout_ms, const char *what) {
  char why[256] = "";
  uint64_t t0 = sy_now_ns();
  for (;;) {
    pthread_mutex_lock(&s->mu);
    size_t want = 0;
    bool ok = true;
    for (; names[want]; want++) {
      bool found = false;
      for (size_t k = 0; k < s->n[ri] && !found; k++) found = strcmp(s->objs[ri][k].name, names[want]) == 0;
      if (!found) {
        ok = false;
        snprintf(why, sizeof(why), "%s missing", names[want]);
      }
    }
    if (ok && s->n[ri] != want) {
      ok = false;
      snprintf(why, sizeof(why), "%zu objects, want %zu", s->n[ri], want);
    }
    pthread_mutex_unlock(&s->mu);
    if (ok) return;
    if (sy_now_ns() - t0 > (uint64_t)timeout_ms * 1000000u) break;
    sy_sleep_ms(20);
  }
  ck_abort_msg("%s: not converged in %d ms: %s", what, timeout_ms, why);
}

/* ---------------------------------------------------- parallel creation */

typedef struct batch {
  const char *ns;
  int from, to, stride, off;
  int failed;
} batch_t;

static void *create_range(void *arg) {
  batch_t *b = arg;
  for (int i = b->from + b->off; i < b->to; i += b->stride) {
    char name[32];
    snprintf(name, sizeof(name), "p-%04d", i);
    if (create_pod(b->ns, name, NULL, NULL) != 201) b->failed++;
  }
  return NULL;
}

static void create_pods(const char *ns, int from, int to) {
  enum { T = 4 };
  pthread_t th[T];
  batch_t b[T];
  for (int t = 0; t < T; t++) {
    b[t] = (batch_t){ns, from, to, T, t, 0};
    ck_assert_int_eq(pthread_create(&th[t], NULL, create_range, &b[t]), 0);
  }
  int failed = 0;
  for (int t = 0; t < T; t++) {
    pthread_join(th[t], NULL);
    failed += b[t].failed;
  }
  ck_assert_int_eq(failed, 0);
  for (int i = from; i < to; i++) g_want[i] = "";
}

static const char *ip_of(int i) {
  snprintf(g_ips[i], sizeof(g_ips[i]), "10.%d.%d.%d", 1 + i / 65536, (i / 256) % 256, i % 256);
  return g_ips[i];
}

static void set_ips(const char *ns, int from, int to) {
  for (int i = from; i < to; i++) {
    char name[32];
    snprintf(name, sizeof(name), "p-%04d", i);
    ck_assert_int_eq(set_ip(ns, name, ip_of(i)), 200);
    g_want[i] = g_ips[i];
  }
}

static void delete_pods(const char *ns, int from, int to) {
  for (int i = from; i < to; i++) {
    char name[32];
    snprintf(name, sizeof(name), "p-%04d", i);
    ck_assert_int_eq(delete_pod(ns, name), 200);
    g_want[i] = NULL;
  }
}

static snap_t *snap_new(void) {
  snap_t *s = sy_calloc(1, sizeof(*s));
  ck_assert_ptr_nonnull(s);
  pthread_mutex_init(&s->mu, NULL);
  return s;
}

static void snap_free(snap_t *s) {
  pthread_mutex_destroy(&s->mu);
  sy_free(s);
}

/* ==================================================================== tests */

#define NS_A "inf-a"

START_TEST(test_pods_list_watch_restart) {
  create_ns(NS_A, NULL);
  uint64_t t0 = sy_now_ns();
  create_pods(NS_A, 0, 1200);
  fprintf(stderr, "created 1200 pods in %.1f s\n", (double)(sy_now_ns() - t0) / 1e9);

  snap_t *s = snap_new();
  sy_kube_informer_config_t ic = {.on_change = on_change,
                                  .ctx = s,
                                  .watch_timeout_s = 4, /* resumes every 4-8 s */
                                  .backoff_min_ms = 100,
                                  .backoff_max_ms = 1000};
  ck_assert_int_eq(sy_kube_informer_new(&s->inf, g_client, &ic), 0);
  sy_kube_reflector_config_t rc = {.name = "pods",
                                   .path = "/api/v1/namespaces/" NS_A "/pods",
                                   .page_size = 500,
                                   .decode = decode_pod,
                                   .free = free_pod};
  ck_assert_int_eq(sy_kube_informer_add(s->inf, &rc, &s->r[0]), 0);
  s->nref = 1;
  ck_assert(!sy_kube_informer_synced(s->inf));
  t0 = sy_now_ns();
  ck_assert_int_eq(sy_kube_informer_start(s->inf), 0);

  wait_match(s, 0, 60000, "initial paginated list of 1200 pods");
  fprintf(stderr, "synced 1200 pods in %.2f s\n", (double)(sy_now_ns() - t0) / 1e9);
  ck_assert(sy_kube_informer_synced(s->inf));
  sy_kube_reflector_stats_t st;
  sy_kube_reflector_stats(s->r[0], &st);
  ck_assert_uint_eq(st.lists, 1);
  ck_assert_uint_eq(st.rejected, 0);
  ck_assert_str_ne(st.resource_version, "");

  /* watch: updates, deletions, creations */
  set_ips(NS_A, 0, 300);
  wait_match(s, 0, 30000, "300 pod IPs");
  delete_pods(NS_A, 1100, 1200);
  wait_match(s, 0, 30000, "100 deletions");
  create_pods(NS_A, 1200, 1250);
  wait_match(s, 0, 30000, "50 creations");

  /* outlive a few server-side watch timeouts, changing things meanwhile */
  for (int i = 0; i < 5; i++) {
    sy_sleep_ms(2500);
    set_ips(NS_A, 300 + i * 10, 310 + i * 10);
  }
  wait_match(s, 0, 30000, "changes across watch timeouts");
  sy_kube_reflector_stats(s->r[0], &st);
  ck_assert_uint_ge(st.watches, 2);
  ck_assert_uint_eq(st.lists, 1); /* normal ends resume, never relist */
  fprintf(stderr, "before restart: watches=%llu events=%llu bookmarks=%llu errors=%llu rv=%s\n",
          (unsigned long long)st.watches, (unsigned long long)st.events, (unsigned long long)st.bookmarks,
          (unsigned long long)st.errors, st.resource_version);

  /* apiserver restart: the watch is cut and must come back */
  sy_kube_reflector_stats_t before = st;
  ck_assert_int_eq(sy_kubeapi_restart(&g_k), 0);
  fprintf(stderr, "apiserver restarted in %.1f s\n", g_k.last_start_s);
  set_ips(NS_A, 350, 400);
  delete_pods(NS_A, 0, 50);
  create_pods(NS_A, 1250, 1280);
  wait_match(s, 0, 60000, "changes after the apiserver restart");
  sy_kube_reflector_stats(s->r[0], &st);
  fprintf(stderr, "after restart: lists=%llu relists_expired=%llu watches=%llu events=%llu errors=%llu rv=%s\n",
          (unsigned long long)st.lists, (unsigned long long)st.relists_expired, (unsigned long long)st.watches,
          (unsigned long long)st.events, (unsigned long long)st.errors, st.resource_version);
  ck_assert_uint_gt(st.watches, before.watches);
  ck_assert_uint_eq(st.lists - before.lists, st.relists_expired - before.relists_expired);

  /* and it keeps following */
  set_ips(NS_A, 400, 420);
  delete_pods(NS_A, 50, 60);
  wait_match(s, 0, 30000, "changes well after the restart");

  pthread_mutex_lock(&s->mu);
  ck_assert(!s->unsynced_call);
  ck_assert_int_ge(s->calls, 1);
  pthread_mutex_unlock(&s->mu);

  /* 410 Gone for real: stopped, the world changes, and the reflector comes
   * back with a resourceVersion the apiserver no longer has ("too old
   * resource version"): it must relist and REPLACE, applying the deletions
   * it never saw as events. (White-box: the RV is set through
   * informer_int.h; everything else is the real server.) */
  sy_kube_informer_stop(s->inf);
  delete_pods(NS_A, 60, 80);
  create_pods(NS_A, 1280, 1300);
  set_ips(NS_A, 420, 430);
  sy_kube_reflector_stats(s->r[0], &before);
  sy_free(s->r[0]->rv);
  s->r[0]->rv = sy_strdup("1");
  s->r[0]->next = SY_KUBE__REQ_WATCH;
  ck_assert_int_eq(sy_kube_informer_start(s->inf), 0);
  wait_match(s, 0, 30000, "relist after 410 Gone");
  sy_kube_reflector_stats(s->r[0], &st);
  fprintf(stderr, "after 410: lists=%llu relists_expired=%llu rv=%s\n", (unsigned long long)st.lists,
          (unsigned long long)st.relists_expired, st.resource_version);
  ck_assert_uint_eq(st.relists_expired, before.relists_expired + 1);
  ck_assert_uint_eq(st.lists, before.lists + 1);

  /* after stop, the caches may be read from here */
  sy_kube_informer_stop(s->inf);
  sy_kube_informer_stop(s->inf);
  size_t want = 0;
  for (int i = 0; i < NPODS; i++) want += g_want[i] != NULL;
  ck_assert_uint_eq(sy_kube_reflector_size(s->r[0]), want);
  const pod_t *p = sy_kube_reflector_get(s->r[0], NS_A, "p-0300");
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(p->ip, ip_of(300));
  ck_assert_ptr_null(sy_kube_reflector_get(s->r[0], NS_A, "p-0000"));
  ck_assert_ptr_null(sy_kube_reflector_get(s->r[0], "other", "p-0300"));
  ck_assert_int_eq(atomic_load(&g_live), (int)want);
  sy_kube_informer_free(s->inf);
  ck_assert_int_eq(atomic_load(&g_live), 0);
  snap_free(s);
}
END_TEST

#define NS_B "inf-b"

START_TEST(test_selectors_and_cluster_scope) {
  create_ns(NS_B, "\"sy-test\":\"inf\"");
  static const char *labels[] = {
      "\"app\":\"sel\",\"tier\":\"gold\"",   "\"app\":\"sel\",\"tier\":\"gold\"",   "\"app\":\"sel\",\"tier\":\"gold\"",
      "\"app\":\"sel\",\"tier\":\"gold\"",   "\"app\":\"sel\",\"tier\":\"gold\"",   "\"app\":\"sel\",\"tier\":\"silver\"",
      "\"app\":\"sel\",\"tier\":\"silver\"", "\"app\":\"sel\",\"tier\":\"silver\"", "\"other\":\"x\"",
      "\"other\":\"x\""};
  for (int i = 0; i < 10; i++) {
    char name[16];
    snprintf(name, sizeof(name), "s%d", i);
    ck_assert_int_eq(create_pod(NS_B, name, labels[i], i == 9 ? "node-b" : NULL), 201);
  }

  snap_t *s = snap_new();
  sy_kube_informer_config_t ic = {.on_change = on_change, .ctx = s, .backoff_min_ms = 100, .backoff_max_ms = 1000};
  ck_assert_int_eq(sy_kube_informer_new(&s->inf, g_client, &ic), 0);
  sy_kube_reflector_config_t by_label = {.name = "gold-pods",
                                         .path = "/api/v1/namespaces/" NS_B "/pods",
                                         .label_selector = "app=sel,tier in (gold)",
                                         .page_size = 2,
                                         .decode = decode_pod,
                                         .free = free_pod};
  sy_kube_reflector_config_t by_field = {.name = "running-pods",
                                         .path = "/api/v1/namespaces/" NS_B "/pods",
                                         .field_selector = "status.phase=Running,spec.nodeName!=node-b",
                                         .decode = decode_pod,
                                         .free = free_pod};
  sy_kube_reflector_config_t nss = {.name = "namespaces",
                                    .path = "/api/v1/namespaces",
                                    .label_selector = "sy-test=inf",
                                    .decode = decode_pod,
                                    .free = free_pod};
  ck_assert_int_eq(sy_kube_informer_add(s->inf, &by_label, &s->r[0]), 0);
  ck_assert_int_eq(sy_kube_informer_add(s->inf, &by_field, &s->r[1]), 0);
  ck_assert_int_eq(sy_kube_informer_add(s->inf, &nss, &s->r[2]), 0);
  s->nref = 3;
  ck_assert_int_eq(sy_kube_informer_start(s->inf), 0);
  ck_assert_int_eq(sy_kube_informer_add(s->inf, &nss, NULL), SY_EINVAL); /* not after start */

  static const char *gold0[] = {"s0", "s1", "s2", "s3", "s4", NULL};
  static const char *none[] = {NULL};
  static const char *ns0[] = {NS_B, NULL};
  wait_names(s, 0, gold0, 30000, "label selector, initial list (pages of 2)");
  wait_names(s, 1, none, 30000, "field selector, initial list");
  wait_names(s, 2, ns0, 30000, "namespaces, initial list");
  pthread_mutex_lock(&s->mu);
  ck_assert(!s->unsynced_call);
  pthread_mutex_unlock(&s->mu);

  /* entering the field selection: Running (s9 runs on node-b: excluded) */
  ck_assert_int_eq(set_ip(NS_B, "s1", "10.9.0.1"), 200);
  ck_assert_int_eq(set_ip(NS_B, "s6", "10.9.0.6"), 200);
  ck_assert_int_eq(set_ip(NS_B, "s9", "10.9.0.9"), 200);
  static const char *running[] = {"s1", "s6", NULL};
  wait_names(s, 1, running, 30000, "field selector after status updates");

  /* leaving and entering the label selection */
  ck_assert_int_eq(patch_labels(NS_B, "s2", "\"tier\":\"silver\""), 200);
  ck_assert_int_eq(patch_labels(NS_B, "s5", "\"tier\":\"gold\""), 200);
  ck_assert_int_eq(delete_pod(NS_B, "s0"), 200);
  static const char *gold1[] = {"s1", "s3", "s4", "s5", NULL};
  wait_names(s, 0, gold1, 30000, "label selector after relabels");
  ck_assert_int_eq(delete_pod(NS_B, "s6"), 200);
  static const char *running1[] = {"s1", NULL};
  wait_names(s, 1, running1, 30000, "field selector after a deletion");

  /* cluster-scoped: keyed by name alone */
  create_ns("inf-c", "\"sy-test\":\"inf\"");
  create_ns("inf-d", NULL);
  static const char *ns1[] = {NS_B, "inf-c", NULL};
  wait_names(s, 2, ns1, 30000, "namespaces after creations");

  sy_kube_informer_stop(s->inf);
  ck_assert_ptr_nonnull(sy_kube_reflector_get(s->r[2], NULL, "inf-c"));
  ck_assert_ptr_nonnull(sy_kube_reflector_get(s->r[2], "", "inf-c"));
  ck_assert_ptr_null(sy_kube_reflector_get(s->r[2], NULL, "inf-d"));
  const pod_t *p = sy_kube_reflector_get(s->r[0], NS_B, "s1");
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(p->ip, "10.9.0.1");
  sy_kube_reflector_stats_t st;
  for (size_t i = 0; i < 3; i++) {
    sy_kube_reflector_stats(s->r[i], &st);
    ck_assert_uint_eq(st.lists, 1);
    ck_assert_uint_eq(st.rejected, 0);
  }
  sy_kube_informer_free(s->inf);
  ck_assert_int_eq(atomic_load(&g_live), 0);
  snap_free(s);
}
END_TEST

/* A reflector the server refuses (no such resource): the informer never
 * syncs, counts errors, backs off, and stops promptly. */
START_TEST(test_unsynced_and_stop) {
  snap_t *s = snap_new();
  sy_kube_informer_config_t ic = {.on_change = on_change, .ctx = s, .backoff_min_ms = 50, .backoff_max_ms = 200};
  ck_assert_int_eq(sy_kube_informer_new(&s->inf, g_client, &ic), 0);
  sy_kube_reflector_config_t ok = {
      .name = "pods", .path = "/api/v1/namespaces/" NS_B "/pods", .decode = decode_pod, .free = free_pod};
  sy_kube_reflector_config_t bad = {
      .name = "nothing", .path = "/apis/example.com/v1/widgets", .decode = decode_pod, .free = free_pod};
  ck_assert_int_eq(sy_kube_informer_add(s->inf, &ok, &s->r[0]), 0);
  ck_assert_int_eq(sy_kube_informer_add(s->inf, &bad, &s->r[1]), 0);
  s->nref = 2;
  ck_assert_int_eq(sy_kube_informer_start(s->inf), 0);
  sy_sleep_ms(1500);
  ck_assert(!sy_kube_informer_synced(s->inf));
  sy_kube_reflector_stats_t st;
  sy_kube_reflector_stats(s->r[1], &st);
  ck_assert_uint_ge(st.errors, 3);
  ck_assert_uint_eq(st.lists, 0);
  sy_kube_reflector_stats(s->r[0], &st);
  ck_assert_uint_eq(st.lists, 1);
  pthread_mutex_lock(&s->mu);
  ck_assert_int_eq(s->calls, 0);
  pthread_mutex_unlock(&s->mu);
  uint64_t t0 = sy_now_ns();
  sy_kube_informer_free(s->inf); /* stops, with a watch in flight */
  ck_assert_uint_lt(sy_now_ns() - t0, 2000000000ull);
  ck_assert_int_eq(atomic_load(&g_live), 0);
  snap_free(s);
}
END_TEST

int main(void) {
  int rc = sy_kubeapi_start(&g_k);
  if (rc == SY_KUBEAPI_SKIP) return SY_KUBEAPI_SKIP;
  if (rc != 0) return 1;
  char kc[700];
  snprintf(kc, sizeof(kc), "%s/kubeconfig", g_k.dir);
  char err[512];
  sy_kube_config_t *cfg = NULL;
  if (sy_kubeapi_write_kubeconfig(&g_k, NULL, kc) != 0 || sy_kube_config_load(kc, &cfg, err, sizeof(err)) != 0 ||
      sy_kube_client_new(&g_client, cfg, err, sizeof(err)) != 0) {
    fprintf(stderr, "kube client: %s\n", err);
    sy_kube_config_free(cfg);
    sy_kubeapi_stop(&g_k);
    return 1;
  }
  sy_kube_config_free(cfg);

  Suite *s = suite_create("kube_informer");
  TCase *tc = tcase_create("informer");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_pods_list_watch_restart);
  tcase_add_test(tc, test_selectors_and_cluster_scope);
  tcase_add_test(tc, test_unsynced_and_stop);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (failed) sy_kubeapi_dump_logs(&g_k, 40);
  sy_kube_client_free(g_client);
  sy_kubeapi_stop(&g_k);
  return failed ? 1 : 0;
}
