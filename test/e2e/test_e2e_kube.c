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
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core.h"
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
#define BODY_MAX (1u << 20)

/* --------------------------------------------------------------- the stack */

typedef struct sim {
  sy_proc_t proc;
  char ip[32];
  char addr[64]; /* ip:port, also the simulator's default instance id */
  char pod[32];  /* its Pod's name */
} sim_t;

static struct {
  bool up;
  sy_kubeapi_t kube;
  char dir[512];
  char kubeconfig[640];
  int sim_port;
  sim_t sims[N_SIMS];
  sy_proc_t sy;
  sy_proc_t envoy;
  int grpc_port, health_port, metrics_port, admin_port, listen_port;
  char base_url[128];
  int seq; /* makes every prompt unique: no prefix-cache affinity */
  const char *sy_bin, *sim_bin, *envoy_bin, *envoy_tpl, *config_dir;
} S;

/* ---------------------------------------------------------- the template */

typedef struct tpl_var {
  const char *name;
  const char *value;
} tpl_var_t;

static const char *tpl_lookup(const tpl_var_t *vars, size_t n, const char *name, size_t len) {
  for (size_t i = 0; i < n; i++)
    if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0) return vars[i].value;
  return NULL;
}

static bool truthy(const char *s) {
  return s && (strcasecmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0);
}

/* Renders the Envoy template with hack/lib.sh's sy_render_template rules (as
 * test_e2e_envoy.c does): ${VAR} substitution, unknown names are errors, and
 * trailing "# when:VAR" / "# unless:VAR" keep a line conditionally; full-line
 * comments are copied. 0, or -1 with a message on stderr. */
static int render_template(const char *src, const char *dst, const tpl_var_t *vars, size_t nvars) {
  size_t len = 0;
  char *text = sy_test_read_file(src, &len);
  if (!text) {
    fprintf(stderr, "template: cannot read %s\n", src);
    return -1;
  }
  sy_buf_t out;
  sy_buf_init(&out, 1u << 20);
  int rc = 0, lineno = 0;
  char *line = text;
  while (line && *line) {
    char *nl = strchr(line, '\n');
    size_t ll = nl ? (size_t)(nl - line) : strlen(line);
    lineno++;
    const char *p = line;
    while (p < line + ll && (*p == ' ' || *p == '\t')) p++;
    if (p < line + ll && *p == '#') {
      sy_buf_append(&out, line, ll);
      sy_buf_append(&out, "\n", 1);
      line = nl ? nl + 1 : NULL;
      continue;
    }
    size_t body = ll;
    char *hash = NULL;
    for (size_t i = ll; i-- > 0;)
      if (line[i] == '#') {
        hash = line + i;
        break;
      }
    if (hash) {
      const char *t = hash + 1;
      while (*t == ' ') t++;
      bool when = strncmp(t, "when:", 5) == 0, unless = strncmp(t, "unless:", 7) == 0;
      if (when || unless) {
        const char *name = t + (when ? 5 : 7);
        size_t nl2 = 0;
        while (name + nl2 < line + ll && name[nl2] != ' ' && name[nl2] != '\t') nl2++;
        const char *v = tpl_lookup(vars, nvars, name, nl2);
        if (!v) {
          fprintf(stderr, "template: %s:%d: unknown variable %.*s\n", src, lineno, (int)nl2, name);
          rc = -1;
        }
        bool keep = when ? truthy(v) : !truthy(v);
        if (!keep) {
          line = nl ? nl + 1 : NULL;
          continue;
        }
        body = (size_t)(hash - line);
        while (body > 0 && (line[body - 1] == ' ' || line[body - 1] == '\t')) body--;
      }
    }
    for (size_t i = 0; i < body;) {
      if (line[i] == '$' && i + 1 < body && line[i + 1] == '{') {
        const char *close = memchr(line + i + 2, '}', body - i - 2);
        if (close) {
          const char *name = line + i + 2;
          size_t nlen = (size_t)(close - name);
          const char *v = tpl_lookup(vars, nvars, name, nlen);
          if (!v) {
            fprintf(stderr, "template: %s:%d: unknown variable ${%.*s}\n", src, lineno, (int)nlen,
                    name);
            rc = -1;
          } else {
            sy_buf_append_str(&out, v);
          }
          i = (size_t)(close - line) + 1;
          continue;
        }
      }
      sy_buf_append(&out, line + i, 1);
      i++;
    }
    if (sy_buf_append(&out, "\n", 1) != 0) rc = -1;
    line = nl ? nl + 1 : NULL;
  }
  if (rc == 0 && sy_file_write_atomic(dst, out.data, out.len) != 0) {
    fprintf(stderr, "template: cannot write %s\n", dst);
    rc = -1;
  }
  sy_buf_cleanup(&out);
  sy_free(text);
  return rc;
}

/* ------------------------------------------------------------------ HTTP */

typedef struct http_resp {
  long status;
  CURLcode cerr;
  sy_buf_t body;
  char sim_instance[128];
  char dest[128];
  char upstream[128];
  char content_type[128];
  uint64_t t_first_byte_ns, t_done_ns;
  struct curl_slist *hdrs;
} http_resp_t;

static void resp_init(http_resp_t *r) {
  memset(r, 0, sizeof(*r));
  sy_buf_init(&r->body, BODY_MAX);
}

static void resp_cleanup(http_resp_t *r) {
  sy_buf_cleanup(&r->body);
  curl_slist_free_all(r->hdrs);
  r->hdrs = NULL;
}

static const char *resp_text(const http_resp_t *r) { return r->body.data ? r->body.data : ""; }

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
  http_resp_t *r = ud;
  if (!r->t_first_byte_ns) r->t_first_byte_ns = sy_now_ns();
  return sy_buf_append(&r->body, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

static void capture(const char *name, const char *line, size_t len, char *dst, size_t dstlen) {
  size_t nl = strlen(name);
  if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0) return;
  const char *v = line + nl + 1;
  const char *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
  snprintf(dst, dstlen, "%.*s", (int)(end - v), v);
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud) {
  http_resp_t *r = ud;
  size_t len = size * nitems;
  if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
    r->sim_instance[0] = r->dest[0] = r->upstream[0] = r->content_type[0] = 0;
    return len;
  }
  capture("x-sim-instance", buf, len, r->sim_instance, sizeof(r->sim_instance));
  capture("x-gateway-destination-endpoint", buf, len, r->dest, sizeof(r->dest));
  capture("x-upstream-host", buf, len, r->upstream, sizeof(r->upstream));
  capture("content-type", buf, len, r->content_type, sizeof(r->content_type));
  return len;
}

/* POSTs `body` to Envoy at `path` into *r (resp_init'ed by the caller). */
static void post(const char *path, const char *body, http_resp_t *r, long timeout_ms) {
  char url[256];
  snprintf(url, sizeof(url), "%s%s", S.base_url, path);
  CURL *c = curl_easy_init();
  ck_assert_ptr_nonnull(c);
  r->hdrs = curl_slist_append(r->hdrs, "content-type: application/json");
  r->hdrs = curl_slist_append(r->hdrs, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->hdrs);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  r->cerr = curl_easy_perform(c);
  r->t_done_ns = sy_now_ns();
  if (r->cerr == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_cleanup(c);
}

/* A completion (chat when `chat`) whose prompt starts with a fresh sequence
 * number, so the prefix-cache scorer sees nothing in common between
 * requests and the spread is the scheduler's tie rotation. */
static void post_unique(bool chat, http_resp_t *r) {
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
  post(chat ? "/v1/chat/completions" : "/v1/completions", body, r, 30000);
}

/* The chosen endpoint must be the one that served the request: switchyard's
 * header (echoed by Envoy), Envoy's upstream host and the simulator's own
 * identity agree, and it is one of our simulators. Returns its index. */
static int served_by(const http_resp_t *r) {
  ck_assert_msg(r->dest[0], "no x-gateway-destination-endpoint in the response");
  ck_assert_str_eq(r->sim_instance, r->dest);
  ck_assert_str_eq(r->upstream, r->dest);
  for (int i = 0; i < N_SIMS; i++)
    if (strcmp(r->dest, S.sims[i].addr) == 0) return i;
  ck_abort_msg("destination %s is not one of the simulators", r->dest);
  return -1;
}

/* One unique completion that must succeed; returns the simulator's index. */
static int request_ok(const char *step) {
  http_resp_t r;
  resp_init(&r);
  post_unique(S.seq % 2 == 1, &r);
  ck_assert_msg(r.cerr == CURLE_OK && r.status == 200, "%s: curl %d status %ld: %.200s", step,
                r.cerr, r.status, resp_text(&r));
  int i = served_by(&r);
  resp_cleanup(&r);
  return i;
}

/* ------------------------------------------------------ switchyard's view */

/* 1 when `addr` is an endpoint of our pool in switchyard's /debug/endpoints,
 * 0 when not, -1 when the page could not be read. */
static int endpoint_listed(const char *addr) {
  char url[128], *body = NULL;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/debug/endpoints", S.metrics_port);
  if (sy_http_get(url, 2000, &body) != 200) {
    sy_free(body);
    return -1;
  }
  cJSON *root = cJSON_Parse(body);
  sy_free(body);
  int found = root ? 0 : -1;
  const cJSON *pool, *ep;
  cJSON_ArrayForEach(pool, cJSON_GetObjectItem(root, "pools")) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(pool, "name"));
    if (!name || strcmp(name, POOL) != 0) continue;
    cJSON_ArrayForEach(ep, cJSON_GetObjectItem(pool, "endpoints")) {
      const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(ep, "address"));
      if (a && strcmp(a, addr) == 0) found = 1;
    }
  }
  cJSON_Delete(root);
  return found;
}

/* The value of the first sample line starting with `prefix` on switchyard's
 * /metrics, or -1. */
static double metric(const char *prefix) {
  char url[128], *body = NULL;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", S.metrics_port);
  double v = -1;
  if (sy_http_get(url, 2000, &body) == 200) {
    for (const char *p = body; p && *p;) {
      if (strncmp(p, prefix, strlen(prefix)) == 0) {
        const char *sp = strchr(p + strlen(prefix), ' ');
        if (sp) v = strtod(sp + 1, NULL);
        break;
      }
      p = strchr(p, '\n');
      if (p) p++;
    }
  }
  sy_free(body);
  return v;
}

static double ms_since(uint64_t t0) { return (double)(sy_now_ns() - t0) / 1e6; }

/* After a change at t0 that takes sim `victim` out of the pool: requests keep
 * succeeding (on the others) while switchyard catches up, which must happen
 * within PICKUP_MS; from then on AVOID_N requests in a row avoid the victim,
 * and every other simulator in `expect` (a bitmask) serves some of them. */
static void expect_avoided(int victim, unsigned expect, uint64_t t0, const char *step) {
  int n = 0, listed = 1;
  double last_hit = -1;
  while ((listed = endpoint_listed(S.sims[victim].addr)) != 0) {
    ck_assert_msg(ms_since(t0) < PICKUP_MS,
                  "%s: %s still an endpoint %d ms after the change (/debug/endpoints: %d)", step,
                  S.sims[victim].addr, PICKUP_MS, listed);
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
                step, S.sims[victim].addr, per_sim[victim], AVOID_N);
  for (int i = 0; i < N_SIMS; i++)
    if (expect & (1u << i))
      ck_assert_msg(per_sim[i] > 0, "%s: %s served none of %d requests", step, S.sims[i].addr,
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
                  S.sims[idx].addr, n, PICKUP_MS);
  }
  fprintf(stderr, "e2e-kube: %s: %s served request %d, %.0f ms after the change\n", step,
          S.sims[idx].addr, n, ms_since(t0));
}

/* ----------------------------------------------------------- pods in k8s */

static int pod_create(int i, bool ready) {
  int rc = sy_kubeapi_create_pod(&S.kube, NS, S.sims[i].pod, "app=" APP, NULL, NULL);
  if (rc == 0) rc = sy_kubeapi_set_pod_status(&S.kube, NS, S.sims[i].pod, S.sims[i].ip, ready);
  return rc;
}

static int pod_ready(int i, bool ready) {
  return sy_kubeapi_set_pod_status(&S.kube, NS, S.sims[i].pod, S.sims[i].ip, ready);
}

/* Graceful: the Pod gets a deletionTimestamp and stays (no kubelet here to
 * finish it), as a terminating pod does for its grace period. Forced
 * (gracePeriodSeconds=0): the object is gone at once. */
static int pod_delete(int i, bool graceful) {
  char path[256];
  snprintf(path, sizeof(path), PODS_PATH "/%s%s", S.sims[i].pod,
           graceful ? "" : "?gracePeriodSeconds=0");
  return sy_kubeapi_delete(&S.kube, path);
}

/* ------------------------------------------------------------ lifecycle */

static bool env_true(const char *name) { return truthy(getenv(name)); }

static int sim_start(int i) {
  sim_t *s = &S.sims[i];
  char log[700];
  snprintf(log, sizeof(log), "%s/sim-%d.log", S.dir, i);
  char *argv[] = {(char *)S.sim_bin, "--listen", s->addr, "--model", MODEL,
                  "--ttft-ms",       "2",        "--itl-ms", "5",   NULL};
  if (sy_proc_spawn(&s->proc, s->pod, argv, NULL, log) != 0) return -1;
  char url[128];
  snprintf(url, sizeof(url), "http://%s/health", s->addr);
  if (sy_wait_http_200(url, 15000, &s->proc) != 0) {
    fprintf(stderr, "e2e-kube: simulator %s not healthy\n", s->addr);
    return -1;
  }
  return 0;
}

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
  snprintf(S.kubeconfig, sizeof(S.kubeconfig), "%s/kubeconfig", S.dir);
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
           S.sim_port, S.grpc_port);
  if (sy_kubeapi_apply_yaml(&S.kube, pool) != 0) return -1;

  for (int i = 0; i < N_START; i++)
    if (pod_create(i, true) != 0) return -1;
  /* Decoys that must never be endpoints: a pending pod of the pool (no IP
   * yet) and a ready pod outside the selector on 127.0.0.44, where nothing
   * listens until sim 3 joins (a request sent there would fail). */
  if (sy_kubeapi_create_pod(&S.kube, NS, "pending", "app=" APP, NULL, NULL) != 0) return -1;
  if (sy_kubeapi_create_pod(&S.kube, NS, "stranger", "app=other", NULL, NULL) != 0 ||
      sy_kubeapi_set_pod_status(&S.kube, NS, "stranger", S.sims[3].ip, true) != 0)
    return -1;
  return 0;
}

static int start_switchyard(void) {
  char gp[16], hp[16], mp[16], log[700];
  snprintf(gp, sizeof(gp), "%d", S.grpc_port);
  snprintf(hp, sizeof(hp), "%d", S.health_port);
  snprintf(mp, sizeof(mp), "%d", S.metrics_port);
  snprintf(log, sizeof(log), "%s/switchyard.log", S.dir);
  /* TLS: switchyard's default, and what the Envoy template dials with
   * EPP_TLS=1. */
  char *argv[] = {(char *)S.sy_bin,
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
  if (sy_proc_spawn(&S.sy, "switchyard", argv, NULL, log) != 0) return -1;
  if (sy_wait_tcp("127.0.0.1", S.grpc_port, 15000, &S.sy) != 0) {
    fprintf(stderr, "e2e-kube: switchyard not listening on %d\n", S.grpc_port);
    return -1;
  }
  return 0;
}

static int start_envoy(void) {
  char ap[16], lp[16], ep[16], cfg[700], log[700];
  snprintf(ap, sizeof(ap), "%d", S.admin_port);
  snprintf(lp, sizeof(lp), "%d", S.listen_port);
  snprintf(ep, sizeof(ep), "%d", S.grpc_port);
  tpl_var_t vars[] = {{"ADMIN_PORT", ap},
                      {"LISTEN_ADDR", "127.0.0.1"},
                      {"LISTEN_PORT", lp},
                      {"EPP_PORT", ep},
                      {"EPP_TLS", "1"}};
  snprintf(cfg, sizeof(cfg), "%s/envoy.yaml", S.dir);
  snprintf(log, sizeof(log), "%s/envoy.log", S.dir);
  if (render_template(S.envoy_tpl, cfg, vars, SY_ARRAY_LEN(vars)) != 0) return -1;
  char *argv[] = {(char *)S.envoy_bin,     "-c",          cfg,    "--concurrency", "1",
                  "--disable-hot-restart", "--log-level", "warn", NULL};
  if (sy_proc_spawn(&S.envoy, "envoy", argv, NULL, log) != 0) return -1;
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", S.admin_port);
  if (sy_wait_http_200(url, 30000, &S.envoy) != 0) {
    fprintf(stderr, "e2e-kube: envoy not ready\n");
    return -1;
  }
  return 0;
}

/* Polls a completion through the whole chain until it answers 200. */
static int wait_chain_ready(int timeout_ms) {
  uint64_t t0 = sy_now_ns();
  long last = 0;
  while (ms_since(t0) < timeout_ms) {
    http_resp_t r;
    resp_init(&r);
    post_unique(false, &r);
    last = r.status;
    resp_cleanup(&r);
    if (last == 200) {
      fprintf(stderr, "e2e-kube: chain answered 200 %.0f ms after Envoy was ready\n", ms_since(t0));
      return 0;
    }
    if (!sy_proc_alive(&S.sy) || !sy_proc_alive(&S.envoy)) break;
    sy_sleep_ms(100);
  }
  fprintf(stderr, "e2e-kube: chain not ready (last status %ld)\n", last);
  return -1;
}

/* n distinct free ports on 127.0.0.1 (a closed probe can be handed out again). */
static int free_ports(int *out, int n) {
  for (int i = 0; i < n; i++) {
    int tries = 0;
    bool dup;
    do {
      out[i] = sy_port_free("127.0.0.1");
      if (out[i] <= 0) return -1;
      dup = false;
      for (int j = 0; j < i; j++) dup |= out[j] == out[i];
    } while (dup && ++tries < 50);
    if (dup) return -1;
  }
  return 0;
}

static void dump_all_logs(void) {
  for (int i = 0; i < N_SIMS; i++)
    if (S.sims[i].proc.pid) sy_proc_dump_log(&S.sims[i].proc, 20);
  sy_proc_dump_log(&S.sy, 80);
  sy_proc_dump_log(&S.envoy, 40);
  sy_kubeapi_dump_logs(&S.kube, 20);
}

static void stack_setup(void) {
  uint64_t t0 = sy_now_ns();
  S.up = false;
  int ports[5];
  const char *ips[N_SIMS];
  if (free_ports(ports, 5) != 0) goto fail;
  S.grpc_port = ports[0];
  S.health_port = ports[1];
  S.metrics_port = ports[2];
  S.admin_port = ports[3];
  S.listen_port = ports[4];
  snprintf(S.base_url, sizeof(S.base_url), "http://127.0.0.1:%d", S.listen_port);
  for (int i = 0; i < N_SIMS; i++) {
    snprintf(S.sims[i].ip, sizeof(S.sims[i].ip), "127.0.0.%d", IP_BASE + i);
    snprintf(S.sims[i].pod, sizeof(S.sims[i].pod), "sim-%d", i);
    ips[i] = S.sims[i].ip;
  }
  /* One port free on all four addresses: the pool's single targetPort. */
  S.sim_port = sy_port_free_on_all(ips, N_SIMS);
  if (S.sim_port <= 0) {
    fprintf(stderr, "e2e-kube: no common free port on 127.0.0.%d-%d\n", IP_BASE,
            IP_BASE + N_SIMS - 1);
    goto fail;
  }
  for (int i = 0; i < N_SIMS; i++)
    snprintf(S.sims[i].addr, sizeof(S.sims[i].addr), "%s:%d", S.sims[i].ip, S.sim_port);
  fprintf(stderr, "e2e-kube: dir %s, apiserver %s (up in %.1f s), epp TLS on %d, envoy on %d, "
                  "sims 127.0.0.%d-%d:%d\n",
          S.dir, S.kube.server, S.kube.last_start_s, S.grpc_port, S.listen_port, IP_BASE,
          IP_BASE + N_SIMS - 1, S.sim_port);

  for (int i = 0; i < N_START; i++)
    if (sim_start(i) != 0) goto fail;
  if (setup_cluster() != 0) goto fail;
  if (start_switchyard() != 0) goto fail;
  if (start_envoy() != 0) goto fail;
  if (wait_chain_ready(20000) != 0) goto fail;
  fprintf(stderr, "e2e-kube: stack up in %.1f s (after the apiserver)\n", ms_since(t0) / 1000);
  S.up = true;
  return;
fail:
  dump_all_logs();
}

static void stack_teardown(void) {
  sy_proc_stop(&S.envoy, 5000);
  sy_proc_stop(&S.sy, 5000);
  for (int i = 0; i < N_SIMS; i++) sy_proc_stop(&S.sims[i].proc, 5000);
}

#define REQUIRE_STACK() ck_assert_msg(S.up, "the e2e stack did not start (logs above)")

/* ------------------------------------------------------------------ tests */

START_TEST(test_completion) {
  REQUIRE_STACK();
  http_resp_t r;
  resp_init(&r);
  post("/v1/completions",
       "{\"model\":\"" MODEL "\",\"prompt\":\"Say hello to switchyard\",\"max_tokens\":3}", &r,
       30000);
  ck_assert_int_eq(r.cerr, CURLE_OK);
  ck_assert_msg(r.status == 200, "status %ld: %.200s", r.status, resp_text(&r));
  served_by(&r);
  cJSON *j = cJSON_Parse(r.body.data);
  ck_assert_msg(j != NULL, "response is not JSON: %s", resp_text(&r));
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "object")), "text_completion");
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")), MODEL);
  cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
  ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "text")));
  cJSON *usage = cJSON_GetObjectItem(j, "usage");
  ck_assert_int_gt(cJSON_GetObjectItem(usage, "completion_tokens")->valueint, 0);
  cJSON_Delete(j);
  resp_cleanup(&r);
}
END_TEST

START_TEST(test_chat) {
  REQUIRE_STACK();
  http_resp_t r;
  resp_init(&r);
  post("/v1/chat/completions",
       "{\"model\":\"" MODEL "\",\"max_tokens\":3,\"messages\":[{\"role\":\"system\",\"content\":"
       "\"be brief\"},{\"role\":\"user\",\"content\":\"hello\"}]}",
       &r, 30000);
  ck_assert_int_eq(r.cerr, CURLE_OK);
  ck_assert_msg(r.status == 200, "status %ld: %.200s", r.status, resp_text(&r));
  served_by(&r);
  cJSON *j = cJSON_Parse(r.body.data);
  ck_assert_msg(j != NULL, "response is not JSON: %s", resp_text(&r));
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "object")), "chat.completion");
  cJSON *msg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "role")), "assistant");
  ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "content")));
  cJSON_Delete(j);
  resp_cleanup(&r);
}
END_TEST

/* Completions and chats alternate; every ready pod's simulator serves some,
 * and nothing goes to the pending pod or the pod outside the selector. */
START_TEST(test_spread) {
  REQUIRE_STACK();
  int per_sim[N_SIMS] = {0};
  for (int i = 0; i < SPREAD_N; i++) per_sim[request_ok("spread")]++;
  fprintf(stderr, "e2e-kube: %d requests: per simulator %d/%d/%d/%d\n", SPREAD_N, per_sim[0],
          per_sim[1], per_sim[2], per_sim[3]);
  for (int i = 0; i < N_START; i++)
    ck_assert_msg(per_sim[i] > 0, "%s served none of %d requests", S.sims[i].addr, SPREAD_N);
  ck_assert_int_eq(per_sim[3], 0);
  ck_assert_int_eq(endpoint_listed(S.sims[3].addr), 0); /* the stranger */
}
END_TEST

START_TEST(test_streaming) {
  REQUIRE_STACK();
  http_resp_t r;
  resp_init(&r);
  /* 20 tokens at 5 ms each: about 100 ms of stream, so chunks arriving all
   * at once would mean something buffered the response. */
  post("/v1/completions",
       "{\"model\":\"" MODEL "\",\"prompt\":\"count to twenty\",\"max_tokens\":20,"
       "\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
       &r, 30000);
  ck_assert_int_eq(r.cerr, CURLE_OK);
  ck_assert_msg(r.status == 200, "status %ld: %.200s", r.status, resp_text(&r));
  served_by(&r);
  ck_assert_msg(strstr(r.content_type, "text/event-stream"), "content-type %s", r.content_type);
  int events = 0, content_events = 0;
  bool done = false, usage_seen = false, after_done = false;
  char *save = NULL;
  for (char *ln = strtok_r(r.body.data, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
    size_t l = strlen(ln);
    if (l && ln[l - 1] == '\r') ln[--l] = '\0';
    if (strncmp(ln, "data: ", 6) != 0) continue;
    const char *data = ln + 6;
    events++;
    if (done) after_done = true;
    if (strcmp(data, "[DONE]") == 0) {
      done = true;
      continue;
    }
    cJSON *j = cJSON_Parse(data);
    ck_assert_msg(j != NULL, "SSE event is not JSON: %s", data);
    cJSON *usage = cJSON_GetObjectItem(j, "usage");
    if (cJSON_IsObject(usage)) {
      usage_seen = true;
      ck_assert_int_eq(cJSON_GetObjectItem(usage, "completion_tokens")->valueint, 20);
    }
    if (cJSON_GetArraySize(cJSON_GetObjectItem(j, "choices")) > 0) content_events++;
    cJSON_Delete(j);
  }
  ck_assert_msg(done, "stream did not end with data: [DONE]");
  ck_assert_msg(!after_done, "events after [DONE]");
  ck_assert_msg(usage_seen, "no usage chunk despite include_usage");
  ck_assert_int_ge(content_events, 2);
  ck_assert_int_ge(events, 4);
  uint64_t spread_ms = (r.t_done_ns - r.t_first_byte_ns) / 1000000u;
  ck_assert_msg(spread_ms >= 40, "stream arrived in one burst (%llu ms): buffered somewhere?",
                (unsigned long long)spread_ms);
  resp_cleanup(&r);
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
  ck_assert_int_eq(sim_start(3), 0);
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
static bool poll_status(long want, const char *prefix, uint64_t t0, http_resp_t *out) {
  for (;;) {
    resp_init(out);
    post_unique(false, out);
    bool ok = out->status == want &&
              (!prefix || (out->body.data && strncmp(out->body.data, prefix, strlen(prefix)) == 0));
    if (ok || ms_since(t0) >= PICKUP_MS) return ok;
    resp_cleanup(out);
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
  http_resp_t r;
  bool got = poll_status(503, "inference error:", t0, &r);
  ck_assert_msg(got, "no ready pods: status %ld body %.200s, want 503 \"inference error: ...\"",
                r.status, resp_text(&r));
  ck_assert_msg(!r.sim_instance[0], "a simulator answered although no pod is ready");
  fprintf(stderr, "e2e-kube: no ready pods: 503 after %.0f ms: %.120s\n", ms_since(t0),
          resp_text(&r));
  resp_cleanup(&r);
  for (int i = 0; i < 5; i++) {
    resp_init(&r);
    post_unique(i % 2 == 1, &r);
    ck_assert_msg(r.status == 503 && !r.sim_instance[0], "no ready pods, request %d: status %ld",
                  i, r.status);
    resp_cleanup(&r);
  }
  t0 = sy_now_ns();
  ck_assert_int_eq(pod_ready(2, true), 0);
  got = poll_status(200, NULL, t0, &r);
  ck_assert_msg(got, "sim-2 Ready again: status %ld, want 200", r.status);
  ck_assert_int_eq(served_by(&r), 2);
  resp_cleanup(&r);
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
  ck_assert_double_eq(metric("switchyard_kube_synced"), 1);
  ck_assert_double_eq(metric("switchyard_kube_rejected_total{resource=\"pods\"}"), 0);
  assert_clean_stop(&S.sy);
  ck_assert(sy_proc_alive(&S.envoy));
  for (int i = 0; i < N_SIMS; i++) assert_clean_stop(&S.sims[i].proc);
}
END_TEST

/* ------------------------------------------------------------------- main */

static Suite *e2e_suite(void) {
  Suite *s = suite_create("e2e_kube");
  TCase *tc = tcase_create("chain");
  tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_completion);
  tcase_add_test(tc, test_chat);
  tcase_add_test(tc, test_spread);
  tcase_add_test(tc, test_streaming);
  tcase_add_test(tc, test_pod_not_ready);
  tcase_add_test(tc, test_pod_deleted);
  tcase_add_test(tc, test_pod_added);
  tcase_add_test(tc, test_no_ready_pods);
  tcase_add_test(tc, test_clean_exit);
  suite_add_tcase(s, tc);
  return s;
}

static const char *need(const char *env, bool *missing) {
  const char *v = getenv(env);
  if (!v || !*v || access(v, R_OK) != 0) {
    fprintf(stderr, "e2e-kube: %s=%s is not available\n", env, v ? v : "(unset)");
    *missing = true;
  }
  return v;
}

int main(void) {
  bool missing = false;
  S.sy_bin = need("SY_SWITCHYARD_BIN", &missing);
  S.sim_bin = need("SY_SIM_BIN", &missing);
  S.envoy_bin = need("SY_ENVOY_BIN", &missing);
  S.envoy_tpl = need("SY_ENVOY_TEMPLATE", &missing);
  S.config_dir = need("SY_CONFIG_DIR", &missing);
  if (missing) {
    if (env_true("SY_E2E_REQUIRE")) return 1;
    fprintf(stderr, "e2e-kube: skipped (run hack/envoy.sh, or set SY_E2E_REQUIRE=1 to fail)\n");
    return 77;
  }
  signal(SIGPIPE, SIG_IGN);
  /* The apiserver first: without its tools the test is skipped (77) or,
   * with SY_E2E_REQUIRE=1, failed. It belongs to this thread, like every
   * process of the stack (Check runs in no-fork mode). */
  int rc = sy_kubeapi_start(&S.kube);
  if (rc == SY_KUBEAPI_SKIP) return 77;
  if (rc != 0) return 1;
  if (sy_tmpdir_make("sy-e2e-kube-", S.dir, sizeof(S.dir)) != 0) {
    sy_kubeapi_stop(&S.kube);
    return 1;
  }
  curl_global_init(CURL_GLOBAL_ALL);

  SRunner *sr = srunner_create(e2e_suite());
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);

  if (failed) dump_all_logs();
  sy_kubeapi_stop(&S.kube);
  if (failed || env_true("SY_E2E_KEEP"))
    fprintf(stderr, "e2e-kube: logs and config kept in %s\n", S.dir);
  else
    sy_tmpdir_remove(S.dir);
  curl_global_cleanup();
  return failed ? 1 : 0;
}
