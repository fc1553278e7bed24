/* switchyard as an EPP fed by a REAL kube-apiserver (test/support/kubeapi):
 * the shipped CRDs and RBAC are applied, switchyard runs with a real
 * service-account token bound only by config/rbac, and the endpoint set it
 * publishes (read back from /debug/endpoints) must converge after every kind
 * of change a cluster produces: pod add / ready / not-ready / delete / label
 * change, pool selector and port changes, the active-ports annotation,
 * InferenceObjectives and InferenceModelRewrites (both API groups), an
 * apiserver restart (watches cut, resourceVersions possibly expired), and
 * leader election hand-over between replicas.
 *
 * Exits 77 (skipped) when the apiserver binaries are missing, unless
 * SY_E2E_REQUIRE=1 (CI), where that is a failure. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "e2e.h"
#include "kubeapi.h"
#include "proc.h"
#include "test_support.h"

#define NS "llm"
#define POOL_PATH "/apis/inference.networking.k8s.io/v1/namespaces/" NS "/inferencepools/pool"
#define CONVERGE_MS 15000

static sy_kubeapi_t K;
static char g_dir[512];
static char g_kubeconfig[640];

static const char POOL_YAML[] =
    "apiVersion: inference.networking.k8s.io/v1\n"
    "kind: InferencePool\n"
    "metadata:\n  name: pool\n  namespace: " NS "\n"
    "spec:\n"
    "  selector: {matchLabels: {app: vllm}}\n"
    "  targetPorts: [{number: 8000}]\n";

/* ------------------------------------------------------------- switchyard */

typedef struct epp {
  sy_proc_t proc;
  int admin_port;
  char name[32];
} epp_t;

/* selector: NULL for pool mode, else --endpoint-selector with ports 8000,8001. */
static void epp_start_mode(epp_t *e, const char *name, bool leader_election, const char *selector) {
  memset(e, 0, sizeof(*e));
  snprintf(e->name, sizeof(e->name), "%s", name);
  e->admin_port = sy_port_free("127.0.0.1");
  ck_assert_int_gt(e->admin_port, 0);
  char admin[16], logp[700];
  snprintf(admin, sizeof(admin), "%d", e->admin_port);
  snprintf(logp, sizeof(logp), "%s/%s.log", g_dir, name);
  const char *bin = getenv("SY_SWITCHYARD_BIN");
  ck_assert_ptr_nonnull(bin);
  char *argv[32];
  int n = 0;
  argv[n++] = (char *)bin;
  argv[n++] = "--kubeconfig";
  argv[n++] = g_kubeconfig;
  if (selector) {
    argv[n++] = "--endpoint-selector";
    argv[n++] = (char *)selector;
    argv[n++] = "--endpoint-target-ports";
    argv[n++] = "8000,8001";
  } else {
    argv[n++] = "--pool-name";
    argv[n++] = "pool";
  }
  argv[n++] = "--pool-namespace";
  argv[n++] = NS;
  argv[n++] = "--grpc-port";
  argv[n++] = "0";
  argv[n++] = "--grpc-health-port";
  argv[n++] = "0";
  argv[n++] = "--metrics-port";
  argv[n++] = admin;
  argv[n++] = "--listen-address";
  argv[n++] = "127.0.0.1";
  argv[n++] = "--drain-seconds";
  argv[n++] = "0";
  argv[n++] = "--v";
  argv[n++] = "3";
  if (leader_election) {
    argv[n++] = "--ha-enable-leader-election";
    argv[n++] = "--leader-election-lease-duration";
    argv[n++] = "3s";
    argv[n++] = "--leader-election-renew-deadline";
    argv[n++] = "2s";
    argv[n++] = "--leader-election-retry-period";
    argv[n++] = "250ms";
  }
  argv[n] = NULL;
  /* endpoint-selector mode names its pool after the Deployment in POD_NAME */
  char *env[] = {"POD_NAME=sel-epp-7d9f8b6c5-x2x4z", NULL};
  ck_assert_int_eq(sy_proc_spawn(&e->proc, name, argv, env, logp), 0);
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", e->admin_port);
  if (sy_wait_http_200(url, 20000, &e->proc) != 0) {
    sy_proc_dump_log(&e->proc, 60);
    ck_abort_msg("%s did not come up", name);
  }
}

static void epp_start(epp_t *e, const char *name, bool leader_election) {
  epp_start_mode(e, name, leader_election, NULL);
}

static const char *g_pool_name = "pool";

/* "name@address" of every ready endpoint of the pool, sorted, comma-joined;
 * "<no pool>" when the pool is absent. */
static void endpoints_of(const epp_t *e, char *out, size_t n) {
  int rc = sy_e2e_endpoints(e->admin_port, NS, g_pool_name, out, n);
  if (rc == -1) snprintf(out, n, "<no answer>");
  if (rc == SY_ENOTFOUND) snprintf(out, n, "<no pool>");
}

/* Polls until the endpoint set equals `want`; fails with the last value. */
static void expect_endpoints(const epp_t *e, const char *want, const char *step) {
  char got[4096] = "";
  uint64_t deadline = sy_now_ns() + (uint64_t)CONVERGE_MS * 1000000ull;
  while (sy_now_ns() < deadline) {
    endpoints_of(e, got, sizeof(got));
    if (!strcmp(got, want)) return;
    sy_sleep_ms(50);
  }
  sy_proc_t *p = (sy_proc_t *)&e->proc;
  bool alive = sy_proc_alive(p);
  sy_proc_dump_log(p, 40);
  ck_abort_msg("%s: endpoints of %s: want [%s], got [%s] (process %s, exit %d)", step, e->name, want, got,
               alive ? "running" : "ended", sy_proc_exit_code(p));
}

/* A field of the pool in /debug/pools, as a JSON text ("" when absent). */
static void pool_field(const epp_t *e, const char *field, char *out, size_t n) {
  char *body = NULL;
  out[0] = '\0';
  if (sy_e2e_admin_get(e->admin_port, "/debug/pools", 2000, &body) != 200) {
    sy_free(body);
    return;
  }
  cJSON *root = cJSON_Parse(body);
  sy_free(body);
  const cJSON *pool;
  cJSON_ArrayForEach(pool, cJSON_GetObjectItem(root, "pools")) {
    const cJSON *f = cJSON_GetObjectItem(pool, field);
    if (!f) continue;
    char *txt = cJSON_PrintUnformatted(f);
    snprintf(out, n, "%s", txt);
    cJSON_free(txt);
  }
  cJSON_Delete(root);
}

static void expect_pool_field(const epp_t *e, const char *field, const char *want) {
  char got[1024] = "";
  uint64_t deadline = sy_now_ns() + (uint64_t)CONVERGE_MS * 1000000ull;
  while (sy_now_ns() < deadline) {
    pool_field(e, field, got, sizeof(got));
    if (!strcmp(got, want)) return;
    sy_sleep_ms(50);
  }
  ck_abort_msg("pool.%s: want %s, got %s", field, want, got);
}

/* The value of an unlabelled or first-matching metric line "name{...} v". */
static double metric(const epp_t *e, const char *prefix) { return sy_e2e_metric(e->admin_port, prefix); }

static long readyz(const epp_t *e) {
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", e->admin_port);
  return sy_http_get_status(url, 2000);
}

static void ready_pod(const char *name, const char *labels, const char *ann, const char *ip) {
  ck_assert_int_eq(sy_kubeapi_create_pod(&K, NS, name, labels, ann, NULL), 0);
  ck_assert_int_eq(sy_kubeapi_set_pod_status(&K, NS, name, ip, true), 0);
}

/* ------------------------------------------------------------------ setup */

static void setup_cluster(void) {
  int rc = sy_kubeapi_start(&K);
  if (rc == SY_KUBEAPI_SKIP) exit(77);
  ck_assert_int_eq(rc, 0);
  ck_assert_int_eq(sy_tmpdir_make("sy-kctl-", g_dir, sizeof(g_dir)), 0);
  const char *cfg = getenv("SY_CONFIG_DIR");
  ck_assert_ptr_nonnull(cfg);
  static const char *const crds[] = {"inference.networking.k8s.io_inferencepools.yaml",
                                     "llm-d.ai_inferenceobjectives.yaml", "llm-d.ai_inferencemodelrewrites.yaml",
                                     "inference.networking.x-k8s.io_inferenceobjectives.yaml",
                                     "inference.networking.x-k8s.io_inferencemodelrewrites.yaml"};
  char path[1024];
  for (size_t i = 0; i < SY_ARRAY_LEN(crds); i++) {
    snprintf(path, sizeof(path), "%s/crd/%s", cfg, crds[i]);
    ck_assert_int_eq(sy_kubeapi_apply_yaml_file(&K, path), 0);
  }
  ck_assert_int_eq(sy_kubeapi_create_namespace(&K, NS), 0);
  /* The RBAC the deployment ships, in our namespace. */
  static const char *const rbac[] = {"service_account.yaml", "role.yaml", "role_binding.yaml"};
  for (size_t i = 0; i < SY_ARRAY_LEN(rbac); i++) {
    snprintf(path, sizeof(path), "%s/rbac/%s", cfg, rbac[i]);
    size_t len;
    char *text = sy_test_read_file(path, &len);
    ck_assert_ptr_nonnull(text);
    char *ns_text = sy_kubeapi_subst(text, "namespace: default", "namespace: " NS);
    ck_assert_int_eq(sy_kubeapi_apply_yaml(&K, ns_text), 0);
    sy_free(ns_text);
    sy_free(text);
  }
  char token[4096];
  ck_assert_int_eq(sy_kubeapi_sa_token(&K, NS, "switchyard-epp", token, sizeof(token)), 0);
  snprintf(g_kubeconfig, sizeof(g_kubeconfig), "%s/kubeconfig", g_dir);
  ck_assert_int_eq(sy_kubeapi_write_kubeconfig(&K, token, g_kubeconfig), 0);
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_controller_converges) {
  setup_cluster();
  epp_t e;
  epp_start(&e, "epp", false);
  /* No pool yet: serving nothing, not ready. */
  expect_endpoints(&e, "<no pool>", "before the pool exists");
  ck_assert_int_ne(readyz(&e), 200);

  ck_assert_int_eq(sy_kubeapi_apply_yaml(&K, POOL_YAML), 0);
  expect_endpoints(&e, "", "empty pool");
  ck_assert_int_eq(readyz(&e), 200);

  /* pod add: pending (no IP) pods are not endpoints; ready ones are */
  ck_assert_int_eq(sy_kubeapi_create_pod(&K, NS, "a", "app=vllm", NULL, NULL), 0);
  ready_pod("b", "app=vllm", NULL, "127.0.0.3");
  ready_pod("other", "app=other", NULL, "127.0.0.9");
  expect_endpoints(&e, "b-rank-0@127.0.0.3:8000", "one ready pod");
  ck_assert_int_eq(sy_kubeapi_set_pod_status(&K, NS, "a", "127.0.0.2", true), 0);
  expect_endpoints(&e, "a-rank-0@127.0.0.2:8000,b-rank-0@127.0.0.3:8000", "pod becomes ready");

  /* not ready, ready again */
  ck_assert_int_eq(sy_kubeapi_set_pod_status(&K, NS, "a", "127.0.0.2", false), 0);
  expect_endpoints(&e, "b-rank-0@127.0.0.3:8000", "pod not ready");
  ck_assert_int_eq(sy_kubeapi_set_pod_status(&K, NS, "a", "127.0.0.2", true), 0);
  expect_endpoints(&e, "a-rank-0@127.0.0.2:8000,b-rank-0@127.0.0.3:8000", "pod ready again");

  /* label change out of and back into the selector */
  ck_assert_int_eq(sy_kubeapi_patch(&K, "/api/v1/namespaces/" NS "/pods/b", "{\"metadata\":{\"labels\":{\"app\":\"x\"}}}"),
                   0);
  expect_endpoints(&e, "a-rank-0@127.0.0.2:8000", "label no longer matches");
  ck_assert_int_eq(sy_kubeapi_patch(&K, "/api/v1/namespaces/" NS "/pods/b", "{\"metadata\":{\"labels\":{\"app\":\"vllm\"}}}"),
                   0);
  expect_endpoints(&e, "a-rank-0@127.0.0.2:8000,b-rank-0@127.0.0.3:8000", "label matches again");

  /* churn among pods the pool does not select costs no walk over the cache;
   * a change to a selected pod does */
  double walks0 = metric(&e, "switchyard_kube_source_walks_total");
  double events0 = metric(&e, "switchyard_kube_watch_events_total{resource=\"pods\"}");
  ck_assert(walks0 >= 1 && events0 >= 1);
  for (int i = 0; i < 5; i++) {
    char patch[128];
    snprintf(patch, sizeof(patch), "{\"metadata\":{\"annotations\":{\"churn\":\"%d\"}}}", i);
    ck_assert_int_eq(sy_kubeapi_patch(&K, "/api/v1/namespaces/" NS "/pods/other", patch), 0);
  }
  uint64_t until = sy_now_ns() + (uint64_t)CONVERGE_MS * 1000000ull;
  while (metric(&e, "switchyard_kube_watch_events_total{resource=\"pods\"}") < events0 + 5 && sy_now_ns() < until)
    sy_sleep_ms(20);
  ck_assert_msg(metric(&e, "switchyard_kube_watch_events_total{resource=\"pods\"}") >= events0 + 5,
                "the 5 pod events did not arrive");
  ck_assert_msg(metric(&e, "switchyard_kube_source_walks_total") == walks0, "walks %g -> %g for unselected pods", walks0,
                metric(&e, "switchyard_kube_source_walks_total"));
  ck_assert_int_eq(sy_kubeapi_patch(&K, "/api/v1/namespaces/" NS "/pods/b", "{\"metadata\":{\"annotations\":{\"churn\":\"1\"}}}"),
                   0);
  until = sy_now_ns() + (uint64_t)CONVERGE_MS * 1000000ull;
  while (metric(&e, "switchyard_kube_source_walks_total") == walks0 && sy_now_ns() < until) sy_sleep_ms(20);
  ck_assert_msg(metric(&e, "switchyard_kube_source_walks_total") > walks0, "a selected pod's change did not walk");

  /* pool port change: two target ports -> two ranks per pod */
  ck_assert_int_eq(sy_kubeapi_patch(&K, POOL_PATH, "{\"spec\":{\"targetPorts\":[{\"number\":8000},{\"number\":8001}]}}"),
                   0);
  expect_endpoints(&e,
                   "a-rank-0@127.0.0.2:8000,a-rank-1@127.0.0.2:8001,b-rank-0@127.0.0.3:8000,b-rank-1@127.0.0.3:8001",
                   "two target ports");
  expect_pool_field(&e, "target_ports", "[8000,8001]");
  /* active-ports annotation restricts a pod's ranks */
  ck_assert_int_eq(sy_kubeapi_patch(&K, "/api/v1/namespaces/" NS "/pods/b",
                                    "{\"metadata\":{\"annotations\":{\"inference.networking.k8s.io/active-ports\":\"8001\"}}}"),
                   0);
  expect_endpoints(&e, "a-rank-0@127.0.0.2:8000,a-rank-1@127.0.0.2:8001,b-rank-1@127.0.0.3:8001", "active-ports");

  /* pool selector change: now only app=other matches */
  ck_assert_int_eq(sy_kubeapi_patch(&K, POOL_PATH,
                                    "{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"other\"}},"
                                    "\"targetPorts\":[{\"number\":8000}]}}"),
                   0);
  expect_endpoints(&e, "other-rank-0@127.0.0.9:8000", "selector change");
  ck_assert_int_eq(sy_kubeapi_patch(&K, POOL_PATH, "{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"vllm\"}}}}"), 0);
  /* b's active-ports (8001) is no longer a target port: b has no endpoint */
  expect_endpoints(&e, "a-rank-0@127.0.0.2:8000", "selector back, b's active port gone");
  ck_assert_int_eq(sy_kubeapi_patch(&K, "/api/v1/namespaces/" NS "/pods/b",
                                    "{\"metadata\":{\"annotations\":{\"inference.networking.k8s.io/active-ports\":null}}}"),
                   0);
  expect_endpoints(&e, "a-rank-0@127.0.0.2:8000,b-rank-0@127.0.0.3:8000", "annotation removed");

  /* pod delete */
  ck_assert_int_eq(sy_kubeapi_delete(&K, "/api/v1/namespaces/" NS "/pods/a"), 0);
  expect_endpoints(&e, "b-rank-0@127.0.0.3:8000", "pod deleted");

  /* InferenceObjectives (both groups) and InferenceModelRewrites feed the
   * snapshot; an objective of another pool does not. */
  ck_assert_int_eq(sy_kubeapi_apply_yaml(&K,
                                         "apiVersion: llm-d.ai/v1alpha2\nkind: InferenceObjective\n"
                                         "metadata:\n  name: critical\n  namespace: " NS "\n"
                                         "spec: {priority: 5, poolRef: {name: pool}}\n"
                                         "---\n"
                                         "apiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceObjective\n"
                                         "metadata:\n  name: batch\n  namespace: " NS "\n"
                                         "spec: {priority: -1, poolRef: {name: pool}}\n"
                                         "---\n"
                                         "apiVersion: llm-d.ai/v1alpha2\nkind: InferenceObjective\n"
                                         "metadata:\n  name: not-ours\n  namespace: " NS "\n"
                                         "spec: {priority: 9, poolRef: {name: another}}\n"
                                         "---\n"
                                         "apiVersion: llm-d.ai/v1alpha2\nkind: InferenceModelRewrite\n"
                                         "metadata:\n  name: rw\n  namespace: " NS "\n"
                                         "spec:\n  poolRef: {name: pool}\n"
                                         "  rules: [{matches: [{model: {value: m}}], targets: [{modelRewrite: m2}]},"
                                         " {targets: [{modelRewrite: m3}]}]\n"),
                   0);
  expect_pool_field(&e, "objectives", "{\"batch\":-1,\"critical\":5}");
  expect_pool_field(&e, "rewrite_rules", "2");
  ck_assert_int_eq(sy_kubeapi_patch(&K, "/apis/llm-d.ai/v1alpha2/namespaces/" NS "/inferenceobjectives/critical",
                                    "{\"spec\":{\"priority\":7}}"),
                   0);
  expect_pool_field(&e, "objectives", "{\"batch\":-1,\"critical\":7}");

  /* The pool deleted: no pool, not ready. Re-created: back. */
  ck_assert_int_eq(sy_kubeapi_delete(&K, POOL_PATH), 0);
  expect_endpoints(&e, "<no pool>", "pool deleted");
  ck_assert_int_ne(readyz(&e), 200);
  ck_assert_int_eq(sy_kubeapi_apply_yaml(&K, POOL_YAML), 0);
  expect_endpoints(&e, "b-rank-0@127.0.0.3:8000", "pool re-created");
  ck_assert_int_eq(readyz(&e), 200);
  ck_assert_double_eq(metric(&e, "switchyard_kube_synced"), 1);
  ck_assert_double_eq(metric(&e, "switchyard_kube_rejected_total{resource=\"pods\"}"), 0);

  /* API server restart: watches are cut and resume (or relist after 410)
   * without losing or duplicating endpoints; changes made right after the
   * restart are seen. */
  double lists_before = metric(&e, "switchyard_kube_lists_total{resource=\"pods\"}");
  ck_assert_int_eq(sy_kubeapi_restart(&K), 0);
  ready_pod("c", "app=vllm", NULL, "127.0.0.4");
  expect_endpoints(&e, "b-rank-0@127.0.0.3:8000,c-rank-0@127.0.0.4:8000", "after apiserver restart");
  ck_assert_int_eq(sy_kubeapi_delete(&K, "/api/v1/namespaces/" NS "/pods/b"), 0);
  expect_endpoints(&e, "c-rank-0@127.0.0.4:8000", "delete after restart");
  double relists = metric(&e, "switchyard_kube_relists_expired_total{resource=\"pods\"}");
  double lists_after = metric(&e, "switchyard_kube_lists_total{resource=\"pods\"}");
  fprintf(stderr, "apiserver restart: pods lists %.0f -> %.0f, relists after 410: %.0f\n", lists_before, lists_after,
          relists);
  /* The restarted apiserver's watch cache starts after our resourceVersion
   * (it wrote its own objects while starting), so resuming the watch got
   * 410 Gone and the reflector re-listed: the path under test ran. */
  ck_assert_msg(relists >= 1 && lists_after > lists_before, "no re-list after 410 (lists %.0f -> %.0f, relists %.0f)",
                lists_before, lists_after, relists);
  ck_assert(sy_proc_alive(&e.proc));
  ck_assert_int_eq(sy_proc_stop(&e.proc, 5000), 0);
}
END_TEST

/* Leader election: of two replicas exactly one is ready; stopping the leader
 * (SIGTERM: it releases the lease) hands over at once; killing one
 * (SIGKILL: no release) hands over after the lease duration. Every replica
 * keeps its endpoint set either way. */
START_TEST(test_leader_election) {
  setup_cluster();
  ck_assert_int_eq(sy_kubeapi_apply_yaml(&K, POOL_YAML), 0);
  ready_pod("p", "app=vllm", NULL, "127.0.0.5");
  epp_t a, b, c;
  epp_start(&a, "epp-a", true);
  epp_start(&b, "epp-b", true);
  expect_endpoints(&a, "p-rank-0@127.0.0.5:8000", "replica a");
  expect_endpoints(&b, "p-rank-0@127.0.0.5:8000", "replica b");
  /* exactly one leader */
  epp_t *leader = NULL, *follower = NULL;
  for (int i = 0; i < 200 && !leader; i++) {
    bool ra = readyz(&a) == 200, rb = readyz(&b) == 200;
    ck_assert_msg(!(ra && rb), "both replicas ready");
    if (ra) leader = &a, follower = &b;
    if (rb) leader = &b, follower = &a;
    if (!leader) sy_sleep_ms(50);
  }
  ck_assert_msg(leader != NULL, "no leader elected");
  ck_assert_double_eq(metric(leader, "switchyard_leader"), 1);
  ck_assert_double_eq(metric(follower, "switchyard_leader"), 0);
  sy_sleep_ms(1500); /* several renewals: still exactly one */
  ck_assert_int_eq(readyz(leader), 200);
  ck_assert_int_ne(readyz(follower), 200);

  /* graceful stop: released, the follower takes over well before the
   * 3 s lease would expire */
  uint64_t t0 = sy_now_ns();
  ck_assert_int_eq(sy_proc_stop(&leader->proc, 5000), 0);
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", follower->admin_port);
  ck_assert_int_eq(sy_wait_http_200(url, 10000, &follower->proc), 0);
  double handover_s = (double)(sy_now_ns() - t0) / 1e9;
  fprintf(stderr, "leader election: hand-over after release %.2f s\n", handover_s);
  ck_assert_msg(handover_s < 2.5, "hand-over took %.2f s", handover_s);

  /* crash: no release; a new replica takes over after the lease expires */
  epp_start(&c, "epp-c", true);
  expect_endpoints(&c, "p-rank-0@127.0.0.5:8000", "replica c");
  ck_assert_int_ne(readyz(&c), 200);
  t0 = sy_now_ns();
  sy_proc_signal(&follower->proc, SIGKILL);
  sy_proc_wait(&follower->proc, 5000);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", c.admin_port);
  ck_assert_int_eq(sy_wait_http_200(url, 15000, &c.proc), 0);
  handover_s = (double)(sy_now_ns() - t0) / 1e9;
  fprintf(stderr, "leader election: hand-over after a crash %.2f s (lease 3 s)\n", handover_s);
  ck_assert_msg(handover_s >= 1.0, "took over before the lease could have expired (%.2f s)", handover_s);
  ck_assert_int_eq(sy_proc_stop(&c.proc, 5000), 0);
}
END_TEST

/* --endpoint-selector mode: no InferencePool object; the pods matching the
 * selector, on the flag's ports, under a pool named after the Deployment. */
START_TEST(test_endpoint_selector_mode) {
  setup_cluster();
  ready_pod("s1", "role=decode,app=vllm", NULL, "127.0.0.6");
  ready_pod("s2", "role=prefill,app=vllm", NULL, "127.0.0.7");
  epp_t e;
  epp_start_mode(&e, "epp-sel", false, "app=vllm,role=decode");
  g_pool_name = "sel-epp";
  expect_endpoints(&e, "s1-rank-0@127.0.0.6:8000,s1-rank-1@127.0.0.6:8001", "selector mode");
  ck_assert_int_eq(readyz(&e), 200);
  ck_assert_int_eq(sy_kubeapi_patch(&K, "/api/v1/namespaces/" NS "/pods/s2", "{\"metadata\":{\"labels\":{\"role\":\"decode\"}}}"),
                   0);
  expect_endpoints(&e, "s1-rank-0@127.0.0.6:8000,s1-rank-1@127.0.0.6:8001,s2-rank-0@127.0.0.7:8000,s2-rank-1@127.0.0.7:8001",
                   "selector mode, label change");
  g_pool_name = "pool";
  ck_assert_int_eq(sy_proc_stop(&e.proc, 5000), 0);
}
END_TEST

static void teardown(void) {
  sy_kubeapi_stop(&K);
  memset(&K, 0, sizeof(K));
  if (g_dir[0]) sy_tmpdir_remove(g_dir);
  g_dir[0] = '\0';
}

static Suite *suite(void) {
  Suite *s = suite_create("kube_controller");
  TCase *tc = tcase_create("apiserver");
  tcase_set_timeout(tc, 240);
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_add_test(tc, test_controller_converges);
  tcase_add_test(tc, test_leader_election);
  tcase_add_test(tc, test_endpoint_selector_mode);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  /* Processes die with the thread that spawned them: no fork mode. */
  setenv("CK_FORK", "no", 1);
  return sy_test_run(suite());
}
