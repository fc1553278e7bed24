/*
 * End-to-end through real Envoy with switchyard fed by a REAL kube-apiserver:
 * curl -> Envoy (ext_proc, ORIGINAL_DST) -> switchyard (--kubeconfig, a
 * service-account token bound only by config/rbac) -> switchyard-sim model
 * servers whose Pods live in the apiserver (test/support/kubeapi.h). Every
 * Pod's podIP and the pool's targetPort point at a real simulator process on
 * a loopback address, so a routing mistake shows as a failed request.
 *
 * The stack starts once (an unchecked fixture); the cases run in order and
 * each leaves the cluster in the state the next one expects:
 *   sims 0-2 Ready -> 0 NotReady (avoided) -> 0 Ready again (served) ->
 *   1 deleted gracefully (terminating, avoided) -> 0 force-deleted (gone,
 *   avoided) -> 3 joins on a new IP, 0 re-created under the same name (both
 *   served) -> all NotReady (503) -> one Ready (200) -> SIGTERM (clean exit).
 * Cluster changes must reach the data path within PICKUP_MS (2 s); the time
 * switchyard's /debug/endpoints took to reflect each is printed.
 *
 * Environment (set by test/e2e/CMakeLists.txt, SY_KUBE_TOOLS by the caller):
 *   SY_SWITCHYARD_BIN, SY_SIM_BIN, SY_ENVOY_BIN, SY_ENVOY_TEMPLATE,
 *   SY_CONFIG_DIR (config/: CRDs and RBAC), SY_KUBE_TOOLS
 *   SY_E2E_REQUIRE   1: missing binaries or tools fail instead of exit 77
 *   SY_E2E_KEEP      1: keep the temp dir (logs, rendered config) afterwards
 * Check runs in no-fork mode: the stack lives in this process.
 */
#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "e2e.h"
#include "kubeapi.h"
#include "proc.h"
#include "test_support.h"

#define N_SIMS 4   /* 0-2 from the start, 3 joins later */
#define N_START 3
#define IP_BASE 41 /* 127.0.0.41..44: not used by the other e2e runs */
#define NS "e2e-kube"
#define POOL "e2e-kube-pool"
#define APP "e2e-kube-sim"
#define MODEL "e2e-model"
#define PODS_PATH "/api/v1/namespaces/" NS "/pods"
#define PICKUP_MS 2000 /* budget for a cluster change to reach the data path */
#define SPREAD_N 60
#define AVOID_N 40

/* --------------------------------------------------------------- the stack */

static struct {
  sy_e2e_stack_t e; /* the processes, ports and temp dir */
  sy_kubeapi_t kube;
  char kubeconfig[640];
  int seq; /* makes every prompt unique: no prefix-cache affinity */
  const char *config_dir;
} S;

/* ------------------------------------------------------------------ HTTP */

/* A completion (chat when `chat`) whose prompt starts with a fresh sequence
 * number, so the prefix-cache scorer sees nothing in common between
 * requests and the spread is the scheduler's tie rotation. */
static void post_unique(bool chat, sy_e2e_resp_t *r) {
  char body[512];
  int n = ++S.seq;
  if (chat)
    snprintf(body, sizeof(body),
             "{\"model\":\"" MODEL "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\","
             "\"content\":\"request %d: hello\"}]}",
             n);
  else
    snprintf(body, sizeof(body),
             "{\"model\":\"" MODEL "\",\"prompt\":\"request %d: say hello\",\"max_tokens\":2}", n);
  const char *path = chat ? "/v1/chat/completions" : "/v1/completions";
  ck_assert_int_eq(sy_e2e_post(S.e.base_url, path, body, strlen(body), 30000, r), 0);
}

/* One unique completion that must succeed; returns the simulator's index. */
static int request_ok(const char *step) {
  sy_e2e_resp_t r;
  sy_e2e_resp_init(&r);
  post_unique(S.seq % 2 == 1, &r);
  ck_assert_msg(r.cerr == CURLE_OK && r.status == 200, "%s: curl %d status %ld: %.200s", step,
                r.cerr, r.status, sy_e2e_resp_text(&r));
  int i = sy_e2e_served_by(&S.e, &r);
  sy_e2e_resp_cleanup(&r);
  return i;
}

/* ------------------------------------------------------ switchyard's view */

/* 1 when `addr` is an endpoint of our pool in switchyard's /debug/endpoints,
 * 0 when not, -1 when the page could not be read. */
static int endpoint_listed(const char *addr) {
  char list[4096], *save = NULL;
  if (sy_e2e_endpoints(S.e.metrics_port, NS, POOL, list, sizeof(list)) == -1) return -1;
  for (char *it = strtok_r(list, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
    const char *at = strrchr(it, '@'); /* "name@address" */
    if (at && strcmp(at + 1, addr) == 0) return 1;
  }
  return 0;
}

static double ms_since(uint64_t t0) { return (double)(sy_now_ns() - t0) / 1e6; }

/* After a change at t0 that takes sim `victim` out of the pool: requests keep
 * succeeding (on the others) while switchyard catches up, which must happen
 * within PICKUP_MS; from then on AVOID_N requests in a row avoid the victim,
 * and every other simulator in `expect` (a bitmask) serves some of them. */
static void expect_avoided(int victim, unsigned expect, uint64_t t0, const char *step) {
  int n = 0, listed = 1;
  double last_hit = -1;
  while ((listed = endpoint_listed(S.e.sims[victim].addr)) != 0) {
    ck_assert_msg(ms_since(t0) < PICKUP_MS,
                  "%s: %s still an endpoint %d ms after the change (/debug/endpoints: %d)", step,
                  S.e.sims[victim].addr, PICKUP_MS, listed);
    if (request_ok(step) == victim) last_hit = ms_since(t0);
    n++;
  }
  double pickup = ms_since(t0);
  int per_sim[N_SIMS] = {0};
  for (int i = 0; i < AVOID_N; i++) per_sim[request_ok(step)]++;
  char hit[48] = "none served by it";
  if (last_hit >= 0) snprintf(hit, sizeof(hit), "last served by it at %.0f ms", last_hit);
  fprintf(stderr,
          "e2e-kube: %s: left /debug/endpoints after %.0f ms (%d requests meanwhile, %s);"
          " next %d: per simulator %d/%d/%d/%d\n",
          step, pickup, n, hit, AVOID_N, per_sim[0], per_sim[1], per_sim[2], per_sim[3]);
  ck_assert_msg(per_sim[victim] == 0, "%s: %s served %d of %d requests after it left the pool",
                step, S.e.sims[victim].addr, per_sim[victim], AVOID_N);
  for (int i = 0; i < N_SIMS; i++)
    if (expect & (1u << i))
      ck_assert_msg(per_sim[i] > 0, "%s: %s served none of %d requests", step, S.e.sims[i].addr,
                    AVOID_N);
}

/* After a change at t0 that brings sim `idx` into the pool: it serves a
 * request within PICKUP_MS. */
static void expect_served(int idx, uint64_t t0, const char *step) {
  int n = 0;
  for (;;) {
    n++;
    if (request_ok(step) == idx) break;
    ck_assert_msg(ms_since(t0) < PICKUP_MS, "%s: %s served none of %d requests in %d ms", step,
                  S.e.sims[idx].addr, n, PICKUP_MS);
  }
  fprintf(stderr, "e2e-kube: %s: %s served request %d, %.0f ms after the change\n", step,
          S.e.sims[idx].addr, n, ms_since(t0));
}

/* ----------------------------------------------------------- pods in k8s */

static int pod_create(int i, bool ready) {
  int rc = sy_kubeapi_create_pod(&S.kube, NS, S.e.sims[i].name, "app=" APP, NULL, NULL);
  if (rc == 0) rc = sy_kubeapi_set_pod_status(&S.kube, NS, S.e.sims[i].name, S.e.sims[i].ip, ready);
  return rc;
}

static int pod_ready(int i, bool ready) {
  return sy_kubeapi_set_pod_status(&S.kube, NS, S.e.sims[i].name, S.e.sims[i].ip, ready);
}

/* Graceful: the Pod gets a deletionTimestamp and stays (no kubelet here to
 * finish it), as a terminating pod does for its grace period. Forced
 * (gracePeriodSeconds=0): the object is gone at once. */
static int pod_delete(int i, bool graceful) {
  char path[256];
  snprintf(path, sizeof(path), PODS_PATH "/%s%s", S.e.sims[i].name,
           graceful ? "" : "?gracePeriodSeconds=0");
  return sy_kubeapi_delete(&S.kube, path);
}

/* ------------------------------------------------------------ lifecycle */

/* CRDs, namespace, the shipped RBAC in it, and a kubeconfig holding the
 * service account's real token: switchyard gets exactly what a deployment
 * grants it. */
static int setup_cluster(void) {
  static const char *const crds[] = {"inference.networking.k8s.io_inferencepools.yaml",
                                     "llm-d.ai_inferenceobjectives.yaml",
                                     "llm-d.ai_inferencemodelrewrites.yaml",
                                     "inference.networking.x-k8s.io_inferenceobjectives.yaml",
                                     "inference.networking.x-k8s.io_inferencemodelrewrites.yaml"};
  static const char *const rbac[] = {"service_account.yaml", "role.yaml", "role_binding.yaml"};
  char path[1024];
  for (size_t i = 0; i < SY_ARRAY_LEN(crds); i++) {
    snprintf(path, sizeof(path), "%s/crd/%s", S.config_dir, crds[i]);
    if (sy_kubeapi_apply_yaml_file(&S.kube, path) != 0) return -1;
  }
  if (sy_kubeapi_create_namespace(&S.kube, NS) != 0) return -1;
  for (size_t i = 0; i < SY_ARRAY_LEN(rbac); i++) {
    snprintf(path, sizeof(path), "%s/rbac/%s", S.config_dir, rbac[i]);
    size_t len;
    char *text = sy_test_read_file(path, &len);
    if (!text) return -1;
    char *ns_text = sy_kubeapi_subst(text, "namespace: default", "namespace: " NS);
    sy_free(text);
    int rc = ns_text ? sy_kubeapi_apply_yaml(&S.kube, ns_text) : -1;
    sy_free(ns_text);
    if (rc != 0) return -1;
  }
  char token[4096];
  if (sy_kubeapi_sa_token(&S.kube, NS, "switchyard-epp", token, sizeof(token)) != 0) return -1;
  snprintf(S.kubeconfig, sizeof(S.kubeconfig), "%s/kubeconfig", S.e.dir);
  if (sy_kubeapi_write_kubeconfig(&S.kube, token, S.kubeconfig) != 0) return -1;

  char pool[1024];
  snprintf(pool, sizeof(pool),
           "apiVersion: inference.networking.k8s.io/v1\n"
           "kind: InferencePool\n"
           "metadata:\n  name: " POOL "\n  namespace: " NS "\n"
           "spec:\n"
           "  selector: {matchLabels: {app: " APP "}}\n"
           "  targetPorts: [{number: %d}]\n"
           "  endpointPickerRef: {name: " POOL "-epp, port: {number: %d}}\n",
           S.e.sim_port, S.e.grpc_port);
  if (sy_kubeapi_apply_yaml(&S.kube, pool) != 0) return -1;

  for (int i = 0; i < N_START; i++)
    if (pod_create(i, true) != 0) return -1;
  /* Decoys that must never be endpoints: a pending pod of the pool (no IP
   * yet) and a ready pod outside the selector on 127.0.0.44, where nothing
   * listens until sim 3 joins (a request sent there would fail). */
  if (sy_kubeapi_create_pod(&S.kube, NS, "pending", "app=" APP, NULL, NULL) != 0) return -1;
  if (sy_kubeapi_create_pod(&S.kube, NS, "stranger", "app=other", NULL, NULL) != 0 ||
      sy_kubeapi_set_pod_status(&S.kube, NS, "stranger", S.e.sims[3].ip, true) != 0)
    return -1;
  return 0;
}

static int start_switchyard(void) {
  char gp[16], hp[16], mp[16];
  snprintf(gp, sizeof(gp), "%d", S.e.grpc_port);
  snprintf(hp, sizeof(hp), "%d", S.e.health_port);
  snprintf(mp, sizeof(mp), "%d", S.e.metrics_port);
  /* TLS: switchyard's default; stack_setup has Envoy dial it with TLS. */
  char *argv[] = {(char *)S.e.sy_bin,
                  "--kubeconfig",       S.kubeconfig,
                  "--pool-name",        POOL,
                  "--pool-namespace",   NS,
                  "--grpc-port",        gp,
                  "--grpc-health-port", hp,
                  "--metrics-port",     mp,
                  "--listen-address",   "127.0.0.1",
                  "--drain-seconds",    "1",
                  "--v",                "3",
                  NULL};
  return sy_e2e_switchyard_start(&S.e, argv);
}

/* Polls a completion through the whole chain until it answers 200. */
static int wait_chain_ready(int timeout_ms) {
  uint64_t t0 = sy_now_ns();
  long last = 0;
  while (ms_since(t0) < timeout_ms) {
    sy_e2e_resp_t r;
    sy_e2e_resp_init(&r);
    post_unique(false, &r);
    last = r.status;
    sy_e2e_resp_cleanup(&r);
    if (last == 200) {
      fprintf(stderr, "e2e-kube: chain answered 200 %.0f ms after Envoy was ready\n", ms_since(t0));
      return 0;
    }
    if (!sy_proc_alive(&S.e.sy) || !sy_proc_alive(&S.e.envoy)) break;
    sy_sleep_ms(100);
  }
  fprintf(stderr, "e2e-kube: chain not ready (last status %ld)\n", last);
  return -1;
}

static void dump_all_logs(void) {
  sy_e2e_stack_dump_logs(&S.e);
  sy_kubeapi_dump_logs(&S.kube, 20);
}

static void stack_setup(void) {
  uint64_t t0 = sy_now_ns();
  S.e.up = false;
  S.e.model = MODEL;
  /* N_SIMS addresses share one port: the pool's single targetPort. */
  if (sy_e2e_stack_ports(&S.e) != 0 || sy_e2e_stack_sims(&S.e, IP_BASE, N_SIMS) != 0) goto fail;
  fprintf(stderr, "e2e-kube: dir %s, apiserver %s (up in %.1f s), epp TLS on %d, envoy on %d, "
                  "sims 127.0.0.%d-%d:%d\n",
          S.e.dir, S.kube.server, S.kube.last_start_s, S.e.grpc_port, S.e.listen_port, IP_BASE,
          IP_BASE + N_SIMS - 1, S.e.sim_port);

  if (sy_e2e_sims_start(&S.e, 0, N_START) != 0) goto fail;
  if (setup_cluster() != 0) goto fail;
  if (start_switchyard() != 0) goto fail;
  if (sy_e2e_envoy_start(&S.e, true) != 0) goto fail;
  if (wait_chain_ready(20000) != 0) goto fail;
  fprintf(stderr, "e2e-kube: stack up in %.1f s (after the apiserver)\n", ms_since(t0) / 1000);
  S.e.up = true;
  return;
fail:
  dump_all_logs();
}

static void stack_teardown(void) { sy_e2e_stack_stop(&S.e); }

#define REQUIRE_STACK() sy_e2e_require_up(&S.e)

/* ------------------------------------------------------------------ tests */

/* Completions and chats alternate; every ready pod's simulator serves some,
 * and nothing goes to the pending pod or the pod outside the selector. */
START_TEST(test_spread) {
  REQUIRE_STACK();
  int per_sim[N_SIMS] = {0};
  for (int i = 0; i < SPREAD_N; i++) per_sim[request_ok("spread")]++;
  fprintf(stderr, "e2e-kube: %d requests: per simulator %d/%d/%d/%d\n", SPREAD_N, per_sim[0],
          per_sim[1], per_sim[2], per_sim[3]);
  for (int i = 0; i < N_START; i++)
    ck_assert_msg(per_sim[i] > 0, "%s served none of %d requests", S.e.sims[i].addr, SPREAD_N);
  ck_assert_int_eq(per_sim[3], 0);
  ck_assert_int_eq(endpoint_listed(S.e.sims[3].addr), 0); /* the stranger */
}
END_TEST

/* The kubelet reports sim-0 NotReady: it leaves the pool; Ready again: back. */
START_TEST(test_pod_not_ready) {
  REQUIRE_STACK();
  uint64_t t0 = sy_now_ns();
  ck_assert_int_eq(pod_ready(0, false), 0);
  expect_avoided(0, 1u << 1 | 1u << 2, t0, "sim-0 NotReady");
  t0 = sy_now_ns();
  ck_assert_int_eq(pod_ready(0, true), 0);
  expect_served(0, t0, "sim-0 Ready again");
}
END_TEST

/* A graceful delete leaves a terminating Pod (deletionTimestamp set, still
 * Ready: nothing here finishes it) that must leave the pool at once; a
 * forced delete removes the object. Afterwards only sim-2 is left. */
START_TEST(test_pod_deleted) {
  REQUIRE_STACK();
  uint64_t t0 = sy_now_ns();
  ck_assert_int_eq(pod_delete(1, true), 0);
  expect_avoided(1, 1u << 0 | 1u << 2, t0, "sim-1 deleted (terminating)");
  t0 = sy_now_ns();
  ck_assert_int_eq(pod_delete(0, false), 0);
  expect_avoided(0, 1u << 2, t0, "sim-0 deleted (forced)");
}
END_TEST

/* Scale-up: a new simulator on a new IP joins with its Pod; and a Pod is
 * re-created under the name of the one force-deleted before (new UID). */
START_TEST(test_pod_added) {
  REQUIRE_STACK();
  ck_assert_int_eq(sy_e2e_sims_start(&S.e, 3, 1), 0);
  uint64_t t0 = sy_now_ns();
  ck_assert_int_eq(pod_create(3, true), 0);
  expect_served(3, t0, "sim-3 added");
  t0 = sy_now_ns();
  ck_assert_int_eq(pod_create(0, true), 0);
  expect_served(0, t0, "sim-0 re-created");
  int per_sim[N_SIMS] = {0};
  for (int i = 0; i < AVOID_N; i++) per_sim[request_ok("after scale-up")]++;
  fprintf(stderr, "e2e-kube: after scale-up: %d/%d/%d/%d\n", per_sim[0], per_sim[1], per_sim[2],
          per_sim[3]);
  ck_assert_int_eq(per_sim[1], 0); /* still terminating */
  ck_assert(per_sim[0] > 0 && per_sim[2] > 0 && per_sim[3] > 0);
}
END_TEST

/* Posts unique completions until one answers `want` (with a body starting
 * with `prefix` when not NULL) or PICKUP_MS passes since t0. */
static bool poll_status(long want, const char *prefix, uint64_t t0, sy_e2e_resp_t *out) {
  for (;;) {
    sy_e2e_resp_init(out);
    post_unique(false, out);
    bool ok = out->status == want &&
              (!prefix || (out->body.data && strncmp(out->body.data, prefix, strlen(prefix)) == 0));
    if (ok || ms_since(t0) >= PICKUP_MS) return ok;
    sy_e2e_resp_cleanup(out);
    sy_sleep_ms(20);
  }
}

/* Every pod NotReady: Envoy answers the client 503 with switchyard's
 * "inference error: ..." body and no simulator is reached. One pod Ready:
 * traffic flows again. */
START_TEST(test_no_ready_pods) {
  REQUIRE_STACK();
  uint64_t t0 = sy_now_ns();
  for (int i = 0; i < N_SIMS; i++)
    if (i != 1) ck_assert_int_eq(pod_ready(i, false), 0);
  sy_e2e_resp_t r;
  bool got = poll_status(503, "inference error:", t0, &r);
  ck_assert_msg(got, "no ready pods: status %ld body %.200s, want 503 \"inference error: ...\"",
                r.status, sy_e2e_resp_text(&r));
  ck_assert_msg(!r.sim_instance[0], "a simulator answered although no pod is ready");
  fprintf(stderr, "e2e-kube: no ready pods: 503 after %.0f ms: %.120s\n", ms_since(t0),
          sy_e2e_resp_text(&r));
  sy_e2e_resp_cleanup(&r);
  for (int i = 0; i < 5; i++) {
    sy_e2e_resp_init(&r);
    post_unique(i % 2 == 1, &r);
    ck_assert_msg(r.status == 503 && !r.sim_instance[0], "no ready pods, request %d: status %ld",
                  i, r.status);
    sy_e2e_resp_cleanup(&r);
  }
  t0 = sy_now_ns();
  ck_assert_int_eq(pod_ready(2, true), 0);
  got = poll_status(200, NULL, t0, &r);
  ck_assert_msg(got, "sim-2 Ready again: status %ld, want 200", r.status);
  ck_assert_int_eq(sy_e2e_served_by(&S.e, &r), 2);
  sy_e2e_resp_cleanup(&r);
}
END_TEST

/* SIGTERM: exit code 0 (under ASan that includes LeakSanitizer) and no
 * sanitizer report in the log. */
static void assert_clean_stop(sy_proc_t *p) {
  int code = sy_proc_stop(p, 10000);
  ck_assert_msg(code == 0, "%s exit code after SIGTERM: %d", p->name, code);
  size_t len = 0;
  char *log = sy_test_read_file(p->log_path, &len);
  ck_assert_ptr_nonnull(log);
  bool dirty = strstr(log, "Sanitizer") || strstr(log, "runtime error:");
  sy_free(log);
  ck_assert_msg(!dirty, "sanitizer report in %s", p->log_path);
}

/* Nothing the apiserver sent was rejected; switchyard and the simulators
 * stop cleanly. */
START_TEST(test_clean_exit) {
  REQUIRE_STACK();
  ck_assert_double_eq(sy_e2e_metric(S.e.metrics_port, "switchyard_kube_synced"), 1);
  ck_assert_double_eq(
      sy_e2e_metric(S.e.metrics_port, "switchyard_kube_rejected_total{resource=\"pods\"}"), 0);
  assert_clean_stop(&S.e.sy);
  ck_assert(sy_proc_alive(&S.e.envoy));
  for (int i = 0; i < N_SIMS; i++) assert_clean_stop(&S.e.sims[i].proc);
}
END_TEST

/* ------------------------------------------------------------------- main */

static Suite *e2e_suite(void) {
  Suite *s = suite_create("e2e_kube");
  TCase *tc = sy_e2e_chain_tcase(&S.e, stack_setup, stack_teardown);
  tcase_add_test(tc, test_spread);
  tcase_add_test(tc, test_pod_not_ready);
  tcase_add_test(tc, test_pod_deleted);
  tcase_add_test(tc, test_pod_added);
  tcase_add_test(tc, test_no_ready_pods);
  tcase_add_test(tc, test_clean_exit);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  bool missing = !sy_e2e_stack_env(&S.e);
  S.config_dir = sy_e2e_need_file("SY_CONFIG_DIR", &missing);
  if (missing) return sy_e2e_skip();
  signal(SIGPIPE, SIG_IGN);
  /* The apiserver first: without its tools the test is skipped (77) or,
   * with SY_E2E_REQUIRE=1, failed. It belongs to this thread, like every
   * process of the stack (Check runs in no-fork mode). */
  int rc = sy_kubeapi_start(&S.kube);
  if (rc == SY_KUBEAPI_SKIP) return 77;
  if (rc != 0) return 1;
  if (sy_tmpdir_make("sy-e2e-kube-", S.e.dir, sizeof(S.e.dir)) != 0) {
    sy_kubeapi_stop(&S.kube);
    return 1;
  }
  rc = sy_e2e_run(&S.e, e2e_suite());
  if (rc != 0) sy_kubeapi_dump_logs(&S.kube, 20);
  sy_kubeapi_stop(&S.kube);
  return rc;
}
