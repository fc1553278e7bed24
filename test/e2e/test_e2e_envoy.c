/*
 * End-to-end through real Envoy: curl -> Envoy (ext_proc filter, ORIGINAL_DST
 * cluster) -> switchyard (the Endpoint Picker) -> one of three switchyard-sim
 * model servers, all real processes on loopback.
 *
 * The process starts the whole stack once (an unchecked fixture) and runs the
 * cases in order; the destructive ones (no ready pods, a killed simulator,
 * SIGTERM) come last. Environment (set by test/e2e/CMakeLists.txt):
 *   SY_SWITCHYARD_BIN, SY_SIM_BIN, SY_ENVOY_BIN, SY_ENVOY_TEMPLATE
 *   SY_E2E_EPP_TLS   1: Envoy dials switchyard over TLS (default), 0: plaintext
 *   SY_E2E_IP_BASE   simulators listen on 127.0.0.<base>..<base+2> (default 11)
 *   SY_E2E_REQUIRE   1: a missing binary is a failure, not a skip (exit 77)
 *   SY_E2E_KEEP      1: keep the temp dir (logs, rendered config) afterwards
 * Check runs in no-fork mode: the stack lives in this process.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "e2e.h"
#include "proc.h"
#include "test_support.h"

#define N_SIMS 3
#define MODEL "e2e-model"
#define POOL "e2e-pool"
#define NAMESPACE "default"
#define CONCURRENT 200
#define SEQUENTIAL 100
#define MANIFEST_POLL_MS 100
/* How long to wait after editing manifests before relying on the change:
 * 2 s is the budget the product promises for the default poll of 100 ms. */
#define PICKUP_WAIT_MS 2000

/* --------------------------------------------------------------- the stack */

static struct {
  sy_e2e_stack_t e; /* the processes, ports and temp dir */
  bool tls;
  int ip_base;
  char mdir[600]; /* manifests dir given to switchyard */
  char *metrics_under_load; /* /metrics fetched while 200 requests were in flight */
} S;

static void path_in(char *out, size_t n, const char *dir, const char *name) {
  snprintf(out, n, "%s/%s", dir, name);
}

/* -------------------------------------------------------------- manifests */

static int write_pool(void) {
  char path[700], yaml[1024];
  path_in(path, sizeof(path), S.mdir, "pool.yaml");
  snprintf(yaml, sizeof(yaml),
           "apiVersion: inference.networking.k8s.io/v1\n"
           "kind: InferencePool\n"
           "metadata:\n"
           "  name: %s\n"
           "  namespace: %s\n"
           "spec:\n"
           "  selector:\n"
           "    matchLabels:\n"
           "      app: %s\n"
           "  targetPorts:\n"
           "  - number: %d\n"
           "  endpointPickerRef:\n"
           "    name: %s-epp\n"
           "    port:\n"
           "      number: %d\n",
           POOL, NAMESPACE, POOL, S.e.sim_port, POOL, S.e.grpc_port);
  return sy_file_write_atomic(path, yaml, strlen(yaml));
}

/* Writes pods.yaml: one Pod per simulator, Ready as given. */
static int write_pods(const bool ready[N_SIMS]) {
  char path[700];
  sy_buf_t b;
  sy_buf_init(&b, 64 * 1024);
  for (int i = 0; i < N_SIMS; i++) {
    sy_buf_printf(&b,
                  "%s"
                  "apiVersion: v1\n"
                  "kind: Pod\n"
                  "metadata:\n"
                  "  name: sim-%d\n"
                  "  namespace: %s\n"
                  "  labels:\n"
                  "    app: %s\n"
                  "status:\n"
                  "  phase: Running\n"
                  "  podIP: %s\n"
                  "  conditions:\n"
                  "  - type: Ready\n"
                  "    status: \"%s\"\n",
                  i ? "---\n" : "", i, NAMESPACE, POOL, S.e.sims[i].ip, ready[i] ? "True" : "False");
  }
  path_in(path, sizeof(path), S.mdir, "pods.yaml");
  int rc = sy_file_write_atomic(path, b.data, b.len);
  sy_buf_cleanup(&b);
  return rc;
}

/* ------------------------------------------------------------------ HTTP */

/* POSTs JSON `body` to Envoy at `path` into *r (sy_e2e_resp_init'ed). */
static void post(const char *path, const char *body, sy_e2e_resp_t *r) {
  ck_assert_int_eq(sy_e2e_post(S.e.base_url, path, body, strlen(body), 30000, r), 0);
}

/* The same for `len` bytes: a large body gets a longer timeout. */
static void post_n(const char *path, const char *body, size_t len, sy_e2e_resp_t *r) {
  ck_assert_int_eq(sy_e2e_post(S.e.base_url, path, body, len, 60000, r), 0);
}

static const char *COMPLETION_BODY =
    "{\"model\":\"" MODEL "\",\"prompt\":\"Say hello to switchyard\",\"max_tokens\":3}";

/* ------------------------------------------------------------ lifecycle */

static int start_switchyard(void) {
  char gp[16], hp[16], poll[16];
  snprintf(gp, sizeof(gp), "%d", S.e.grpc_port);
  snprintf(hp, sizeof(hp), "%d", S.e.health_port);
  snprintf(poll, sizeof(poll), "%d", MANIFEST_POLL_MS);
  char *argv[24];
  int n = 0;
  argv[n++] = (char *)S.e.sy_bin;
  argv[n++] = "--grpc-port";
  argv[n++] = gp;
  argv[n++] = "--grpc-health-port";
  argv[n++] = hp;
  argv[n++] = "--listen-address";
  argv[n++] = "127.0.0.1";
  if (!S.tls) argv[n++] = "--secure-serving=false";
  argv[n++] = "--manifests";
  argv[n++] = S.mdir;
  argv[n++] = "--pool-name";
  argv[n++] = POOL;
  argv[n++] = "--pool-namespace";
  argv[n++] = NAMESPACE;
  argv[n++] = "--manifests-poll-ms";
  argv[n++] = poll;
  char mp[16];
  snprintf(mp, sizeof(mp), "%d", S.e.metrics_port);
  argv[n++] = "--metrics-port";
  argv[n++] = mp;
  argv[n++] = "-v";
  argv[n++] = "3";
  argv[n] = NULL;
  return sy_e2e_switchyard_start(&S.e, argv);
}

/* Polls a completion through the whole chain until it answers 200. */
static int wait_chain_ready(int timeout_ms) {
  uint64_t deadline = sy_now_ns() + (uint64_t)timeout_ms * 1000000u;
  long last = 0;
  while (sy_now_ns() < deadline) {
    sy_e2e_resp_t r;
    sy_e2e_resp_init(&r);
    sy_e2e_post(S.e.base_url, "/v1/completions", COMPLETION_BODY, strlen(COMPLETION_BODY), 2000,
                &r);
    last = r.status;
    sy_e2e_resp_cleanup(&r);
    if (last == 200) return 0;
    if (!sy_proc_alive(&S.e.sy) || !sy_proc_alive(&S.e.envoy)) break;
    sy_sleep_ms(100);
  }
  fprintf(stderr, "e2e: chain not ready (last status %ld)\n", last);
  return -1;
}

static void stack_setup(void) {
  S.e.up = false;
  S.e.model = MODEL;
  bool all_ready[N_SIMS] = {true, true, true};
  if (sy_tmpdir_make("sy-e2e-", S.e.dir, sizeof(S.e.dir)) != 0) return;
  path_in(S.mdir, sizeof(S.mdir), S.e.dir, "manifests");
  if (mkdir(S.mdir, 0755) != 0) return;
  if (sy_e2e_stack_ports(&S.e) != 0 || sy_e2e_stack_sims(&S.e, S.ip_base, N_SIMS) != 0) goto fail;
  fprintf(stderr, "e2e: dir %s, epp %s on %d, envoy on %d, sims 127.0.0.%d-%d\n", S.e.dir,
          S.tls ? "TLS" : "plaintext", S.e.grpc_port, S.e.listen_port, S.ip_base, S.ip_base + 2);

  if (sy_e2e_sims_start(&S.e, 0, N_SIMS) != 0) goto fail;
  if (write_pool() != 0 || write_pods(all_ready) != 0) goto fail;
  if (start_switchyard() != 0) goto fail;
  if (sy_e2e_envoy_start(&S.e, S.tls) != 0) goto fail;
  if (wait_chain_ready(20000) != 0) goto fail;
  S.e.up = true;
  return;
fail:
  sy_e2e_stack_dump_logs(&S.e);
}

static void stack_teardown(void) { sy_e2e_stack_stop(&S.e); }

#define REQUIRE_STACK() sy_e2e_require_up(&S.e)

/* ------------------------------------------------------------------ tests */

/* A model rewrite (here by the x-gateway-model-name-rewrite header) is
 * undone in the response, as upstream: the client sees the name it asked
 * for, in a complete body (content-length dropped, Envoy re-frames it),
 * streamed or not. */
START_TEST(test_model_rewrite_back) {
  REQUIRE_STACK();
  for (int stream = 0; stream < 2; stream++) {
    char body[256];
    snprintf(body, sizeof(body),
             "{\"model\":\"alias-model\",\"prompt\":\"rewrite me back\",\"max_tokens\":4,\"stream\":%s}",
             stream ? "true" : "false");
    sy_e2e_resp_t r;
    sy_e2e_resp_init(&r);
    CURL *c = sy_e2e_req_new(S.e.base_url, "/v1/completions", body, strlen(body), 30000, &r);
    ck_assert_ptr_nonnull(c);
    r.hdrs = curl_slist_append(r.hdrs, "x-gateway-model-name-rewrite: " MODEL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, r.hdrs);
    sy_e2e_req_finish(c, curl_easy_perform(c), &r);
    curl_easy_cleanup(c);
    const char *text = sy_e2e_resp_text(&r);
    ck_assert_msg(r.cerr == CURLE_OK && r.status == 200, "stream=%d: curl %d, HTTP %ld: %.300s", stream, r.cerr,
                  r.status, text);
    ck_assert_msg(strstr(text, "\"model\":\"alias-model\"") && !strstr(text, "\"model\":\"" MODEL "\""),
                  "stream=%d: model not rewritten back: %.400s", stream, text);
    if (!stream) {
      cJSON *j = cJSON_Parse(text);
      ck_assert_msg(j != NULL, "not JSON: %.300s", text);
      ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")), "alias-model");
      ck_assert_ptr_nonnull(cJSON_GetObjectItem(j, "usage"));
      cJSON_Delete(j);
    } else {
      ck_assert_msg(strstr(text, "data: [DONE]") != NULL, "stream cut short: %.400s", text);
    }
    sy_e2e_resp_cleanup(&r);
  }
  fprintf(stderr, "e2e: model rewrite undone in the response (JSON and SSE)\n");
}
END_TEST

START_TEST(test_large_body) {
  REQUIRE_STACK();
  /* A 1 MiB prompt. Keys sorted, no whitespace, plain ASCII: the same bytes
   * whether the EPP forwards the body untouched or re-serialises it. */
  const size_t prompt_len = 1u << 20;
  const char *head = "{\"max_tokens\":1,\"model\":\"" MODEL "\",\"prompt\":\"";
  const char *tail = "\"}";
  size_t len = strlen(head) + prompt_len + strlen(tail);
  char *body = sy_malloc(len + 1);
  ck_assert_ptr_nonnull(body);
  size_t off = strlen(head);
  memcpy(body, head, off);
  static const char words[] = "the quick brown fox jumps over the lazy dog ";
  for (size_t i = 0; i < prompt_len; i++) body[off + i] = words[i % (sizeof(words) - 1)];
  memcpy(body + off + prompt_len, tail, strlen(tail) + 1);

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  ck_assert(EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL) == 1);
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned int i = 0; i < mdlen; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);

  sy_e2e_resp_t r;
  sy_e2e_resp_init(&r);
  post_n("/v1/completions", body, len, &r);
  ck_assert_int_eq(r.cerr, CURLE_OK);
  ck_assert_msg(r.status == 200, "status %ld: %.300s", r.status, r.body.data ? r.body.data : "");
  sy_e2e_served_by(&S.e, &r);
  ck_assert_msg(strcasecmp(r.body_sha, hex) == 0, "body changed on the way: sent %s, sim saw %s",
                hex, r.body_sha);
  sy_e2e_resp_cleanup(&r);
  sy_free(body);
}
END_TEST

/* GET http://127.0.0.1:<metrics_port><path> into a sy_malloc'd string. */
static char *admin_get(const char *path, long *status) {
  char *body = NULL;
  *status = sy_e2e_admin_get(S.e.metrics_port, path, 5000, &body);
  return body;
}

START_TEST(test_concurrent) {
  REQUIRE_STACK();
  CURLM *m = curl_multi_init();
  ck_assert_ptr_nonnull(m);
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  sy_e2e_resp_t *rs = sy_calloc(CONCURRENT, sizeof(*rs));
  ck_assert_ptr_nonnull(rs);
  for (int i = 0; i < CONCURRENT; i++) {
    sy_e2e_resp_init(&rs[i]);
    CURL *c = sy_e2e_req_new(S.e.base_url, "/v1/completions", COMPLETION_BODY,
                             strlen(COMPLETION_BODY), 60000, &rs[i]);
    ck_assert_ptr_nonnull(c);
    curl_multi_add_handle(m, c);
  }
  int running = 0, done = 0;
  do {
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      sy_e2e_resp_t *r = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
      sy_e2e_req_finish(msg->easy_handle, msg->data.result, r);
      curl_multi_remove_handle(m, msg->easy_handle);
      curl_easy_cleanup(msg->easy_handle);
      done++;
    }
    if (running) curl_multi_poll(m, NULL, 0, 200, NULL);
    if (!S.metrics_under_load && done >= CONCURRENT / 4) { /* mid-load scrape of our own metrics */
      long st;
      S.metrics_under_load = admin_get("/metrics", &st);
    }
  } while (running || done < CONCURRENT);
  curl_multi_cleanup(m);

  int per_sim[N_SIMS] = {0}, ok = 0, shown = 0;
  for (int i = 0; i < CONCURRENT; i++) {
    sy_e2e_resp_t *r = &rs[i];
    if (r->cerr == CURLE_OK && r->status == 200) {
      ok++;
      per_sim[sy_e2e_served_by(&S.e, r)]++;
    } else if (shown++ < 5) {
      fprintf(stderr, "e2e: request %d: curl %d (%s) status %ld body %.200s\n", i, r->cerr,
              curl_easy_strerror(r->cerr), r->status, r->body.data ? r->body.data : "");
    }
  }
  fprintf(stderr, "e2e: %d concurrent: %d ok; per simulator %d/%d/%d\n", CONCURRENT, ok,
          per_sim[0], per_sim[1], per_sim[2]);
  for (int i = 0; i < CONCURRENT; i++) sy_e2e_resp_cleanup(&rs[i]);
  sy_free(rs);
  ck_assert_int_eq(ok, CONCURRENT);
  for (int i = 0; i < N_SIMS; i++)
    ck_assert_msg(per_sim[i] > 0, "simulator %s got none of %d requests", S.e.sims[i].addr,
                  CONCURRENT);
}
END_TEST

/* Our own /metrics through the run: a valid Prometheus page during load
 * (promcheck, built by hack/promcheck.sh), and counters that moved. */
START_TEST(test_metrics_page) {
  REQUIRE_STACK();
  ck_assert_msg(S.metrics_under_load != NULL, "no /metrics page was fetched during the concurrent test");
  const char *checker = getenv("SY_PROMCHECK");
  if (checker && access(checker, X_OK) == 0) {
    char cmd[1200], tmp[700];
    path_in(tmp, sizeof(tmp), S.e.dir, "metrics-under-load.txt");
    ck_assert_int_eq(sy_file_write_atomic(tmp, S.metrics_under_load, strlen(S.metrics_under_load)), 0);
    snprintf(cmd, sizeof(cmd), "'%s' < '%s'", checker, tmp);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "promcheck rejected /metrics captured under load (%s)", tmp);
  } else {
    ck_assert_msg(getenv("SY_E2E_REQUIRE") == NULL || strcmp(getenv("SY_E2E_REQUIRE"), "1") != 0,
                  "SY_PROMCHECK (%s) is not executable; run hack/promcheck.sh", checker ? checker : "unset");
  }
  long st;
  char *page = admin_get("/metrics", &st);
  ck_assert_ptr_nonnull(page);
  ck_assert_int_eq(st, 200);
  char want[256];
  snprintf(want, sizeof(want), "inference_objective_request_total{model_name=\"%s\",target_model_name=\"%s\",priority=\"0\"}", MODEL, MODEL);
  double total = sy_e2e_sample_value(page, want);
  ck_assert_msg(total >= CONCURRENT, "%s = %g, expected >= %d", want, total, CONCURRENT);
  snprintf(want, sizeof(want), "inference_objective_request_duration_seconds_count{model_name=\"%s\"", MODEL);
  ck_assert_msg(sy_e2e_sample_value(page, want) >= CONCURRENT, "request durations not recorded");
  snprintf(want, sizeof(want), "inference_pool_ready_pods{name=\"%s\"}", POOL);
  ck_assert_msg(sy_e2e_sample_value(page, want) == N_SIMS, "ready pods (fresh metrics) != %d", N_SIMS);
  ck_assert_msg(sy_e2e_sample_value(page, "inference_extension_scheduler_e2e_duration_seconds_count") >= CONCURRENT,
                "scheduler durations not recorded");
  sy_free(page);
  page = admin_get("/debug/decisions", &st);
  ck_assert_ptr_nonnull(page);
  ck_assert_int_eq(st, 200);
  ck_assert_ptr_nonnull(strstr(page, "\"scores\":{\"queue-scorer\""));
  sy_free(page);
  sy_free(S.metrics_under_load);
  S.metrics_under_load = NULL;
}
END_TEST

START_TEST(test_missing_model) {
  REQUIRE_STACK();
  sy_e2e_resp_t r;
  sy_e2e_resp_init(&r);
  post("/v1/completions", "{\"prompt\":\"no model here\",\"max_tokens\":1}", &r);
  ck_assert_int_eq(r.cerr, CURLE_OK);
  ck_assert_int_eq(r.status, 400);
  ck_assert_msg(r.body.data && strncmp(r.body.data, "inference error:", 16) == 0, "body: %s",
                r.body.data ? r.body.data : "(none)");
  ck_assert_msg(!r.sim_instance[0], "a simulator answered a request the EPP rejected");
  sy_e2e_resp_cleanup(&r);
}
END_TEST

/* Posts completions until one answers `want` (with a body starting with
 * `prefix`, when not NULL) or timeout_ms passes. Returns whether it did;
 * *out (caller cleans up) holds the last response. */
static bool poll_status(long want, const char *prefix, int timeout_ms, sy_e2e_resp_t *out) {
  uint64_t deadline = sy_now_ns() + (uint64_t)timeout_ms * 1000000u;
  for (;;) {
    sy_e2e_resp_init(out);
    post("/v1/completions", COMPLETION_BODY, out);
    bool ok = out->status == want &&
              (!prefix || (out->body.data && strncmp(out->body.data, prefix, strlen(prefix)) == 0));
    if (ok) return true;
    if (sy_now_ns() >= deadline) return false;
    sy_e2e_resp_cleanup(out);
    sy_sleep_ms(50);
  }
}

START_TEST(test_no_ready_pods) {
  REQUIRE_STACK();
  bool none[N_SIMS] = {false, false, false}, all[N_SIMS] = {true, true, true};
  ck_assert_int_eq(write_pods(none), 0);
  sy_e2e_resp_t r;
  bool got = poll_status(503, "inference error:", PICKUP_WAIT_MS, &r);
  ck_assert_msg(got, "with no ready pods: status %ld body %.200s, want 503 \"inference error: ...\"",
                r.status, r.body.data ? r.body.data : "(none)");
  ck_assert_msg(!r.sim_instance[0], "a simulator answered although no pod is ready");
  sy_e2e_resp_cleanup(&r);
  /* Back to three ready pods. */
  ck_assert_int_eq(write_pods(all), 0);
  got = poll_status(200, NULL, PICKUP_WAIT_MS, &r);
  ck_assert_msg(got, "pods ready again: status %ld, want 200", r.status);
  sy_e2e_resp_cleanup(&r);
}
END_TEST

START_TEST(test_sim_killed) {
  REQUIRE_STACK();
  /* The simulator dies hard and its Pod turns NotReady, as the kubelet
   * would report; switchyard must stop routing to it. */
  sy_e2e_sim_t *dead = &S.e.sims[0];
  ck_assert_int_eq(sy_proc_signal(&dead->proc, SIGKILL), 0);
  ck_assert_int_eq(sy_proc_wait(&dead->proc, 5000), 0);
  bool ready[N_SIMS] = {false, true, true};
  ck_assert_int_eq(write_pods(ready), 0);
  sy_sleep_ms(PICKUP_WAIT_MS);

  int per_sim[N_SIMS] = {0};
  for (int i = 0; i < SEQUENTIAL; i++) {
    sy_e2e_resp_t r;
    sy_e2e_resp_init(&r);
    post("/v1/completions", COMPLETION_BODY, &r);
    ck_assert_msg(r.cerr == CURLE_OK && r.status == 200, "request %d: curl %d status %ld: %.200s",
                  i, r.cerr, r.status, r.body.data ? r.body.data : "");
    per_sim[sy_e2e_served_by(&S.e, &r)]++;
    sy_e2e_resp_cleanup(&r);
  }
  fprintf(stderr, "e2e: after kill: per simulator %d/%d/%d\n", per_sim[0], per_sim[1], per_sim[2]);
  ck_assert_int_eq(per_sim[0], 0);
}
END_TEST

START_TEST(test_sigterm_clean_exit) {
  REQUIRE_STACK();
  int code = sy_proc_stop(&S.e.sy, 10000);
  ck_assert_msg(code == 0, "switchyard exit code after SIGTERM: %d", code);
  ck_assert(sy_proc_alive(&S.e.envoy));
}
END_TEST

/* ------------------------------------------------------------------- main */

static Suite *e2e_suite(void) {
  Suite *s = suite_create(S.tls ? "e2e_envoy_tls" : "e2e_envoy_plaintext");
  TCase *tc = sy_e2e_chain_tcase(&S.e, stack_setup, stack_teardown);
  tcase_add_test(tc, test_model_rewrite_back);
  tcase_add_test(tc, test_large_body);
  tcase_add_test(tc, test_concurrent);
  tcase_add_test(tc, test_metrics_page);
  tcase_add_test(tc, test_missing_model);
  tcase_add_test(tc, test_no_ready_pods);
  tcase_add_test(tc, test_sim_killed);
  tcase_add_test(tc, test_sigterm_clean_exit);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!sy_e2e_stack_env(&S.e)) return sy_e2e_skip();
  S.tls = sy_e2e_env_true("SY_E2E_EPP_TLS", true);
  long base = 11;
  const char *b = getenv("SY_E2E_IP_BASE");
  if (b && sy_parse_int(b, 2, 250, &base) != 0) base = 11;
  S.ip_base = (int)base;
  return sy_e2e_run(&S.e, e2e_suite());
}
