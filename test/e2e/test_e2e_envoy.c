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
#define BODY_MAX (16u << 20)

/* --------------------------------------------------------------- the stack */

typedef struct sim {
  sy_proc_t proc;
  char ip[32];
  char addr[64]; /* ip:port, also the simulator's default instance id */
} sim_t;

static struct {
  bool up;
  bool tls;
  int ip_base;
  char dir[512];  /* temp dir: logs, rendered Envoy config */
  char mdir[600]; /* manifests dir given to switchyard */
  int sim_port;
  sim_t sims[N_SIMS];
  sy_proc_t sy;
  sy_proc_t envoy;
  int grpc_port, health_port, admin_port, listen_port, metrics_port;
  char *metrics_under_load; /* /metrics fetched while 200 requests were in flight */
  char base_url[128];
  const char *sy_bin, *sim_bin, *envoy_bin, *envoy_tpl;
} S;

static void path_in(char *out, size_t n, const char *dir, const char *name) {
  snprintf(out, n, "%s/%s", dir, name);
}

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

/* Renders a template with the same two rules as hack/lib.sh's
 * sy_render_template: ${VAR} substitution (unknown names are errors) and
 * trailing "# when:VAR" / "# unless:VAR" line conditions; full-line comments
 * are copied unchanged. Returns 0, or -1 with a message on stderr. */
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
    /* A trailing "# when:VAR" / "# unless:VAR" marker. */
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
           POOL, NAMESPACE, POOL, S.sim_port, POOL, S.grpc_port);
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
                  i ? "---\n" : "", i, NAMESPACE, POOL, S.sims[i].ip, ready[i] ? "True" : "False");
  }
  path_in(path, sizeof(path), S.mdir, "pods.yaml");
  int rc = sy_file_write_atomic(path, b.data, b.len);
  sy_buf_cleanup(&b);
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
  char body_sha[80];
  char content_type[128];
  uint64_t t_start_ns, t_first_byte_ns, t_done_ns;
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
    /* A new response (e.g. after 100 Continue): forget earlier headers. */
    r->sim_instance[0] = r->dest[0] = r->upstream[0] = r->body_sha[0] = r->content_type[0] = 0;
    return len;
  }
  capture("x-sim-instance", buf, len, r->sim_instance, sizeof(r->sim_instance));
  capture("x-gateway-destination-endpoint", buf, len, r->dest, sizeof(r->dest));
  capture("x-upstream-host", buf, len, r->upstream, sizeof(r->upstream));
  capture("x-sim-body-sha256", buf, len, r->body_sha, sizeof(r->body_sha));
  capture("content-type", buf, len, r->content_type, sizeof(r->content_type));
  return len;
}

/* A POST of `body` to Envoy at `path`; the caller keeps `body` alive. */
static CURL *req_new(const char *path, const char *body, size_t len, http_resp_t *r,
                     long timeout_ms) {
  char url[256];
  snprintf(url, sizeof(url), "%s%s", S.base_url, path);
  CURL *c = curl_easy_init();
  if (!c) return NULL;
  r->hdrs = curl_slist_append(r->hdrs, "content-type: application/json");
  r->hdrs = curl_slist_append(r->hdrs, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->hdrs);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_PRIVATE, r);
  r->t_start_ns = sy_now_ns();
  return c;
}

static void req_finish(CURL *c, CURLcode cerr, http_resp_t *r) {
  r->cerr = cerr;
  r->t_done_ns = sy_now_ns();
  if (cerr == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
}

static void post(const char *path, const char *body, http_resp_t *r) {
  CURL *c = req_new(path, body, strlen(body), r, 30000);
  ck_assert_ptr_nonnull(c);
  req_finish(c, curl_easy_perform(c), r);
  curl_easy_cleanup(c);
}

static void post_n(const char *path, const char *body, size_t len, http_resp_t *r) {
  CURL *c = req_new(path, body, len, r, 60000);
  ck_assert_ptr_nonnull(c);
  req_finish(c, curl_easy_perform(c), r);
  curl_easy_cleanup(c);
}

static const char *COMPLETION_BODY =
    "{\"model\":\"" MODEL "\",\"prompt\":\"Say hello to switchyard\",\"max_tokens\":3}";

/* The chosen endpoint must be the one that served the request: switchyard's
 * header (echoed by Envoy), Envoy's upstream host and the simulator's own
 * identity agree, and it is one of our simulators. Returns its index. */
static int assert_routing_consistent(const http_resp_t *r) {
  ck_assert_msg(r->dest[0], "no x-gateway-destination-endpoint in the response");
  ck_assert_str_eq(r->sim_instance, r->dest);
  ck_assert_str_eq(r->upstream, r->dest);
  for (int i = 0; i < N_SIMS; i++)
    if (strcmp(r->dest, S.sims[i].addr) == 0) return i;
  ck_abort_msg("destination %s is not one of the simulators", r->dest);
  return -1;
}

/* ------------------------------------------------------------ lifecycle */

static bool env_true(const char *name, bool dflt) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  return truthy(v);
}

static int start_sims(void) {
  const char *ips[N_SIMS];
  for (int i = 0; i < N_SIMS; i++) {
    snprintf(S.sims[i].ip, sizeof(S.sims[i].ip), "127.0.0.%d", S.ip_base + i);
    ips[i] = S.sims[i].ip;
  }
  S.sim_port = sy_port_free_on_all(ips, N_SIMS);
  if (S.sim_port < 0) {
    fprintf(stderr, "e2e: no common free port on the simulator addresses\n");
    return -1;
  }
  for (int i = 0; i < N_SIMS; i++) {
    sim_t *s = &S.sims[i];
    snprintf(s->addr, sizeof(s->addr), "127.0.0.%d:%d", S.ip_base + i, S.sim_port);
    char log[700], name[32];
    snprintf(name, sizeof(name), "sim-%d", i);
    snprintf(log, sizeof(log), "%s/sim-%d.log", S.dir, i);
    char *argv[] = {(char *)S.sim_bin, "--listen", s->addr, "--model", MODEL,
                    "--ttft-ms",       "2",        "--itl-ms", "5",   NULL};
    if (sy_proc_spawn(&s->proc, name, argv, NULL, log) != 0) return -1;
  }
  for (int i = 0; i < N_SIMS; i++) {
    char url[128];
    snprintf(url, sizeof(url), "http://%s/health", S.sims[i].addr);
    if (sy_wait_http_200(url, 15000, &S.sims[i].proc) != 0) {
      fprintf(stderr, "e2e: simulator %s not healthy\n", S.sims[i].addr);
      return -1;
    }
  }
  return 0;
}

static int start_switchyard(void) {
  char gp[16], hp[16], poll[16], log[700];
  snprintf(gp, sizeof(gp), "%d", S.grpc_port);
  snprintf(hp, sizeof(hp), "%d", S.health_port);
  snprintf(poll, sizeof(poll), "%d", MANIFEST_POLL_MS);
  path_in(log, sizeof(log), S.dir, "switchyard.log");
  char *argv[24];
  int n = 0;
  argv[n++] = (char *)S.sy_bin;
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
  snprintf(mp, sizeof(mp), "%d", S.metrics_port);
  argv[n++] = "--metrics-port";
  argv[n++] = mp;
  argv[n++] = "-v";
  argv[n++] = "3";
  argv[n] = NULL;
  if (sy_proc_spawn(&S.sy, "switchyard", argv, NULL, log) != 0) return -1;
  if (sy_wait_tcp("127.0.0.1", S.grpc_port, 15000, &S.sy) != 0) {
    fprintf(stderr, "e2e: switchyard not listening on %d\n", S.grpc_port);
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
                      {"EPP_TLS", S.tls ? "1" : "0"}};
  path_in(cfg, sizeof(cfg), S.dir, "envoy.yaml");
  path_in(log, sizeof(log), S.dir, "envoy.log");
  if (render_template(S.envoy_tpl, cfg, vars, SY_ARRAY_LEN(vars)) != 0) return -1;
  char *argv[] = {(char *)S.envoy_bin,   "-c",          cfg, "--concurrency", "1",
                  "--disable-hot-restart", "--log-level", "warn", NULL};
  if (sy_proc_spawn(&S.envoy, "envoy", argv, NULL, log) != 0) return -1;
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", S.admin_port);
  if (sy_wait_http_200(url, 30000, &S.envoy) != 0) {
    fprintf(stderr, "e2e: envoy not ready\n");
    return -1;
  }
  return 0;
}

/* Polls a completion through the whole chain until it answers 200. */
static int wait_chain_ready(int timeout_ms) {
  uint64_t deadline = sy_now_ns() + (uint64_t)timeout_ms * 1000000u;
  long last = 0;
  while (sy_now_ns() < deadline) {
    http_resp_t r;
    resp_init(&r);
    CURL *c = req_new("/v1/completions", COMPLETION_BODY, strlen(COMPLETION_BODY), &r, 2000);
    if (c) {
      req_finish(c, curl_easy_perform(c), &r);
      curl_easy_cleanup(c);
    }
    last = r.status;
    resp_cleanup(&r);
    if (last == 200) return 0;
    if (!sy_proc_alive(&S.sy) || !sy_proc_alive(&S.envoy)) break;
    sy_sleep_ms(100);
  }
  fprintf(stderr, "e2e: chain not ready (last status %ld)\n", last);
  return -1;
}

static void dump_all_logs(void) {
  for (int i = 0; i < N_SIMS; i++) sy_proc_dump_log(&S.sims[i].proc, 30);
  sy_proc_dump_log(&S.sy, 80);
  sy_proc_dump_log(&S.envoy, 60);
}

static void stack_setup(void) {
  S.up = false;
  bool all_ready[N_SIMS] = {true, true, true};
  if (sy_tmpdir_make("sy-e2e-", S.dir, sizeof(S.dir)) != 0) return;
  path_in(S.mdir, sizeof(S.mdir), S.dir, "manifests");
  if (mkdir(S.mdir, 0755) != 0) return;
  S.grpc_port = sy_port_free("127.0.0.1");
  S.health_port = sy_port_free("127.0.0.1");
  S.admin_port = sy_port_free("127.0.0.1");
  S.listen_port = sy_port_free("127.0.0.1");
  S.metrics_port = sy_port_free("127.0.0.1");
  /* Four probes in a row can hand out the same port once closed; retry. */
  for (int i = 0; i < 50 && (S.health_port == S.grpc_port); i++)
    S.health_port = sy_port_free("127.0.0.1");
  for (int i = 0; i < 50 && (S.admin_port == S.grpc_port || S.admin_port == S.health_port); i++)
    S.admin_port = sy_port_free("127.0.0.1");
  for (int i = 0; i < 50 && (S.listen_port == S.grpc_port || S.listen_port == S.health_port ||
                             S.listen_port == S.admin_port);
       i++)
    S.listen_port = sy_port_free("127.0.0.1");
  snprintf(S.base_url, sizeof(S.base_url), "http://127.0.0.1:%d", S.listen_port);
  fprintf(stderr, "e2e: dir %s, epp %s on %d, envoy on %d, sims 127.0.0.%d-%d\n", S.dir,
          S.tls ? "TLS" : "plaintext", S.grpc_port, S.listen_port, S.ip_base, S.ip_base + 2);

  if (start_sims() != 0) goto fail;
  if (write_pool() != 0 || write_pods(all_ready) != 0) goto fail;
  if (start_switchyard() != 0) goto fail;
  if (start_envoy() != 0) goto fail;
  if (wait_chain_ready(20000) != 0) goto fail;
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
  post("/v1/completions", COMPLETION_BODY, &r);
  ck_assert_int_eq(r.cerr, CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  assert_routing_consistent(&r);
  cJSON *j = cJSON_Parse(r.body.data);
  ck_assert_msg(j != NULL, "response is not JSON: %s", r.body.data);
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "object")), "text_completion");
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")), MODEL);
  ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")));
  cJSON *choices = cJSON_GetObjectItem(j, "choices");
  ck_assert(cJSON_IsArray(choices) && cJSON_GetArraySize(choices) >= 1);
  ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(choices, 0), "text")));
  cJSON *usage = cJSON_GetObjectItem(j, "usage");
  ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(usage, "prompt_tokens")));
  ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(usage, "completion_tokens")));
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
       &r);
  ck_assert_int_eq(r.cerr, CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  assert_routing_consistent(&r);
  cJSON *j = cJSON_Parse(r.body.data);
  ck_assert_msg(j != NULL, "response is not JSON: %s", r.body.data);
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "object")), "chat.completion");
  cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
  cJSON *msg = cJSON_GetObjectItem(c0, "message");
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "role")), "assistant");
  ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "content")));
  ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "total_tokens")));
  cJSON_Delete(j);
  resp_cleanup(&r);
}
END_TEST

START_TEST(test_streaming) {
  REQUIRE_STACK();
  http_resp_t r;
  resp_init(&r);
  /* 20 tokens at 5 ms each: the stream lasts about 100 ms, so chunks that
   * arrive all at once would mean something buffered the response. */
  post("/v1/completions",
       "{\"model\":\"" MODEL "\",\"prompt\":\"count to twenty\",\"max_tokens\":20,"
       "\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
       &r);
  ck_assert_int_eq(r.cerr, CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  assert_routing_consistent(&r);
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
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "object")), "text_completion");
    cJSON *usage = cJSON_GetObjectItem(j, "usage");
    if (cJSON_IsObject(usage)) {
      usage_seen = true;
      ck_assert_int_eq(cJSON_GetObjectItem(usage, "completion_tokens")->valueint, 20);
    }
    cJSON *choices = cJSON_GetObjectItem(j, "choices");
    if (cJSON_GetArraySize(choices) > 0) content_events++;
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

  http_resp_t r;
  resp_init(&r);
  post_n("/v1/completions", body, len, &r);
  ck_assert_int_eq(r.cerr, CURLE_OK);
  ck_assert_msg(r.status == 200, "status %ld: %.300s", r.status, r.body.data ? r.body.data : "");
  assert_routing_consistent(&r);
  ck_assert_msg(strcasecmp(r.body_sha, hex) == 0, "body changed on the way: sent %s, sim saw %s",
                hex, r.body_sha);
  resp_cleanup(&r);
  sy_free(body);
}
END_TEST

/* GET http://127.0.0.1:<metrics_port><path> into a malloc'd string. */
static size_t grow_cb(char *p, size_t sz, size_t n, void *ud) {
  return sy_buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}
static char *admin_get(const char *path, long *status) {
  char url[256];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", S.metrics_port, path);
  CURL *c = curl_easy_init();
  sy_buf_t b;
  sy_buf_init(&b, 16u << 20);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  CURLcode rc = curl_easy_perform(c);
  *status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    sy_buf_cleanup(&b);
    return NULL;
  }
  return b.data ? b.data : sy_strdup("");
}

/* Value of the first sample line starting with `prefix`, or -1. */
static double sample_value(const char *page, const char *prefix) {
  for (const char *p = page; p && *p;) {
    if (!strncmp(p, prefix, strlen(prefix))) {
      const char *v = strchr(p + strlen(prefix), ' '); /* labels contain no spaces here */
      return v ? strtod(v + 1, NULL) : -1;
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

START_TEST(test_concurrent) {
  REQUIRE_STACK();
  CURLM *m = curl_multi_init();
  ck_assert_ptr_nonnull(m);
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  http_resp_t *rs = sy_calloc(CONCURRENT, sizeof(*rs));
  ck_assert_ptr_nonnull(rs);
  for (int i = 0; i < CONCURRENT; i++) {
    resp_init(&rs[i]);
    CURL *c = req_new("/v1/completions", COMPLETION_BODY, strlen(COMPLETION_BODY), &rs[i], 60000);
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
      http_resp_t *r = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
      req_finish(msg->easy_handle, msg->data.result, r);
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
    http_resp_t *r = &rs[i];
    if (r->cerr == CURLE_OK && r->status == 200) {
      ok++;
      per_sim[assert_routing_consistent(r)]++;
    } else if (shown++ < 5) {
      fprintf(stderr, "e2e: request %d: curl %d (%s) status %ld body %.200s\n", i, r->cerr,
              curl_easy_strerror(r->cerr), r->status, r->body.data ? r->body.data : "");
    }
  }
  fprintf(stderr, "e2e: %d concurrent: %d ok; per simulator %d/%d/%d\n", CONCURRENT, ok,
          per_sim[0], per_sim[1], per_sim[2]);
  for (int i = 0; i < CONCURRENT; i++) resp_cleanup(&rs[i]);
  sy_free(rs);
  ck_assert_int_eq(ok, CONCURRENT);
  for (int i = 0; i < N_SIMS; i++)
    ck_assert_msg(per_sim[i] > 0, "simulator %s got none of %d requests", S.sims[i].addr,
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
    path_in(tmp, sizeof(tmp), S.dir, "metrics-under-load.txt");
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
  double total = sample_value(page, want);
  ck_assert_msg(total >= CONCURRENT, "%s = %g, expected >= %d", want, total, CONCURRENT);
  snprintf(want, sizeof(want), "inference_objective_request_duration_seconds_count{model_name=\"%s\"", MODEL);
  ck_assert_msg(sample_value(page, want) >= CONCURRENT, "request durations not recorded");
  snprintf(want, sizeof(want), "inference_pool_ready_pods{name=\"%s\"}", POOL);
  ck_assert_msg(sample_value(page, want) == N_SIMS, "ready pods (fresh metrics) != %d", N_SIMS);
  ck_assert_msg(sample_value(page, "inference_extension_scheduler_e2e_duration_seconds_count") >= CONCURRENT,
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
  http_resp_t r;
  resp_init(&r);
  post("/v1/completions", "{\"prompt\":\"no model here\",\"max_tokens\":1}", &r);
  ck_assert_int_eq(r.cerr, CURLE_OK);
  ck_assert_int_eq(r.status, 400);
  ck_assert_msg(r.body.data && strncmp(r.body.data, "inference error:", 16) == 0, "body: %s",
                r.body.data ? r.body.data : "(none)");
  ck_assert_msg(!r.sim_instance[0], "a simulator answered a request the EPP rejected");
  resp_cleanup(&r);
}
END_TEST

/* Posts completions until one answers `want` (with a body starting with
 * `prefix`, when not NULL) or timeout_ms passes. Returns whether it did;
 * *out (caller cleans up) holds the last response. */
static bool poll_status(long want, const char *prefix, int timeout_ms, http_resp_t *out) {
  uint64_t deadline = sy_now_ns() + (uint64_t)timeout_ms * 1000000u;
  for (;;) {
    resp_init(out);
    post("/v1/completions", COMPLETION_BODY, out);
    bool ok = out->status == want &&
              (!prefix || (out->body.data && strncmp(out->body.data, prefix, strlen(prefix)) == 0));
    if (ok) return true;
    if (sy_now_ns() >= deadline) return false;
    resp_cleanup(out);
    sy_sleep_ms(50);
  }
}

START_TEST(test_no_ready_pods) {
  REQUIRE_STACK();
  bool none[N_SIMS] = {false, false, false}, all[N_SIMS] = {true, true, true};
  ck_assert_int_eq(write_pods(none), 0);
  http_resp_t r;
  bool got = poll_status(503, "inference error:", PICKUP_WAIT_MS, &r);
  ck_assert_msg(got, "with no ready pods: status %ld body %.200s, want 503 \"inference error: ...\"",
                r.status, r.body.data ? r.body.data : "(none)");
  ck_assert_msg(!r.sim_instance[0], "a simulator answered although no pod is ready");
  resp_cleanup(&r);
  /* Back to three ready pods. */
  ck_assert_int_eq(write_pods(all), 0);
  got = poll_status(200, NULL, PICKUP_WAIT_MS, &r);
  ck_assert_msg(got, "pods ready again: status %ld, want 200", r.status);
  resp_cleanup(&r);
}
END_TEST

START_TEST(test_sim_killed) {
  REQUIRE_STACK();
  /* The simulator dies hard and its Pod turns NotReady, as the kubelet
   * would report; switchyard must stop routing to it. */
  sim_t *dead = &S.sims[0];
  ck_assert_int_eq(sy_proc_signal(&dead->proc, SIGKILL), 0);
  ck_assert_int_eq(sy_proc_wait(&dead->proc, 5000), 0);
  bool ready[N_SIMS] = {false, true, true};
  ck_assert_int_eq(write_pods(ready), 0);
  sy_sleep_ms(PICKUP_WAIT_MS);

  int per_sim[N_SIMS] = {0};
  for (int i = 0; i < SEQUENTIAL; i++) {
    http_resp_t r;
    resp_init(&r);
    post("/v1/completions", COMPLETION_BODY, &r);
    ck_assert_msg(r.cerr == CURLE_OK && r.status == 200, "request %d: curl %d status %ld: %.200s",
                  i, r.cerr, r.status, r.body.data ? r.body.data : "");
    per_sim[assert_routing_consistent(&r)]++;
    resp_cleanup(&r);
  }
  fprintf(stderr, "e2e: after kill: per simulator %d/%d/%d\n", per_sim[0], per_sim[1], per_sim[2]);
  ck_assert_int_eq(per_sim[0], 0);
}
END_TEST

START_TEST(test_sigterm_clean_exit) {
  REQUIRE_STACK();
  int code = sy_proc_stop(&S.sy, 10000);
  ck_assert_msg(code == 0, "switchyard exit code after SIGTERM: %d", code);
  ck_assert(sy_proc_alive(&S.envoy));
}
END_TEST

/* ------------------------------------------------------------------- main */

static Suite *e2e_suite(void) {
  Suite *s = suite_create(S.tls ? "e2e_envoy_tls" : "e2e_envoy_plaintext");
  TCase *tc = tcase_create("chain");
  tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_completion);
  tcase_add_test(tc, test_chat);
  tcase_add_test(tc, test_streaming);
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

static const char *need_file(const char *env, bool *missing) {
  const char *v = getenv(env);
  if (!v || !*v || access(v, R_OK) != 0) {
    fprintf(stderr, "e2e: %s=%s is not available\n", env, v ? v : "(unset)");
    *missing = true;
  }
  return v;
}

int main(void) {
  bool missing = false;
  S.sy_bin = need_file("SY_SWITCHYARD_BIN", &missing);
  S.sim_bin = need_file("SY_SIM_BIN", &missing);
  S.envoy_bin = need_file("SY_ENVOY_BIN", &missing);
  S.envoy_tpl = need_file("SY_ENVOY_TEMPLATE", &missing);
  if (missing) {
    if (env_true("SY_E2E_REQUIRE", false)) return 1;
    fprintf(stderr, "e2e: skipped (run hack/envoy.sh, or set SY_E2E_REQUIRE=1 to fail)\n");
    return 77;
  }
  S.tls = env_true("SY_E2E_EPP_TLS", true);
  long base = 11;
  const char *b = getenv("SY_E2E_IP_BASE");
  if (b && sy_parse_int(b, 2, 250, &base) != 0) base = 11;
  S.ip_base = (int)base;
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_ALL);

  SRunner *sr = srunner_create(e2e_suite());
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);

  if (failed) dump_all_logs();
  if (failed || env_true("SY_E2E_KEEP", false))
    fprintf(stderr, "e2e: logs and config kept in %s\n", S.dir);
  else
    sy_tmpdir_remove(S.dir);
  curl_global_cleanup();
  return failed ? 1 : 0;
}
