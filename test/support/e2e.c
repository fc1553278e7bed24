/* See e2e.h. */
#include "e2e.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "test_support.h"

#define ADMIN_TIMEOUT_MS 2000
#define ENDPOINTS_MAX 128
#define RESP_BODY_MAX (16u << 20)

/* ------------------------------------------------------------ environment */

bool sy_e2e_truthy(const char *s) {
  return s && (strcasecmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0);
}

bool sy_e2e_env_true(const char *name, bool dflt) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  return sy_e2e_truthy(v);
}

const char *sy_e2e_need_file(const char *env, bool *missing) {
  const char *v = getenv(env);
  if (!v || !*v || access(v, R_OK) != 0) {
    fprintf(stderr, "e2e: %s=%s is not available\n", env, v ? v : "(unset)");
    *missing = true;
  }
  return v;
}

int sy_e2e_skip(void) {
  if (sy_e2e_env_true("SY_E2E_REQUIRE", false)) return 1;
  fprintf(stderr, "e2e: skipped: a binary or tool above is missing (hack/envoy.sh, "
                  "hack/kube-tools.sh, hack/helm.sh; SY_E2E_REQUIRE=1 makes this a failure)\n");
  return 77;
}

/* ----------------------------------------------------------- the template */

static const char *tpl_lookup(const sy_e2e_tpl_var_t *vars, size_t n, const char *name,
                              size_t len) {
  for (size_t i = 0; i < n; i++)
    if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0) return vars[i].value;
  return NULL;
}

int sy_e2e_render_template(const char *src, const char *dst, const sy_e2e_tpl_var_t *vars,
                           size_t nvars) {
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
        bool keep = when ? sy_e2e_truthy(v) : !sy_e2e_truthy(v);
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

/* -------------------------------------------------------------- the stack */

bool sy_e2e_stack_env(sy_e2e_stack_t *st) {
  bool missing = false;
  st->sy_bin = sy_e2e_need_file("SY_SWITCHYARD_BIN", &missing);
  st->sim_bin = sy_e2e_need_file("SY_SIM_BIN", &missing);
  st->envoy_bin = sy_e2e_need_file("SY_ENVOY_BIN", &missing);
  const char *tpl = getenv("SY_ENVOY_TEMPLATE");
  st->envoy_tpl = tpl && *tpl ? sy_e2e_need_file("SY_ENVOY_TEMPLATE", &missing) : NULL;
  return !missing;
}

int sy_e2e_stack_ports(sy_e2e_stack_t *st) {
  int p[6];
  if (sy_port_free_distinct("127.0.0.1", p, 6) != 0) {
    fprintf(stderr, "e2e: no free ports on 127.0.0.1\n");
    return -1;
  }
  st->grpc_port = p[0];
  st->health_port = p[1];
  st->metrics_port = p[2];
  st->admin_port = p[3];
  st->listen_port = p[4];
  st->ready_port = p[5];
  snprintf(st->base_url, sizeof(st->base_url), "http://127.0.0.1:%d", st->listen_port);
  return 0;
}

int sy_e2e_stack_sims(sy_e2e_stack_t *st, int ip_base, int n) {
  const char *ips[SY_E2E_SIMS_MAX];
  if (n < 1 || n > SY_E2E_SIMS_MAX) return -1;
  st->n_sims = n;
  for (int i = 0; i < n; i++) {
    sy_e2e_sim_t *s = &st->sims[i];
    snprintf(s->name, sizeof(s->name), "sim-%d", i);
    snprintf(s->ip, sizeof(s->ip), "127.0.0.%d", ip_base + i);
    ips[i] = s->ip;
  }
  st->sim_port = sy_port_free_on_all(ips, (size_t)n);
  if (st->sim_port <= 0) {
    fprintf(stderr, "e2e: no common free port on 127.0.0.%d-%d\n", ip_base, ip_base + n - 1);
    return -1;
  }
  for (int i = 0; i < n; i++)
    snprintf(st->sims[i].addr, sizeof(st->sims[i].addr), "%s:%d", st->sims[i].ip, st->sim_port);
  return 0;
}

int sy_e2e_sims_start(sy_e2e_stack_t *st, int first, int n) {
  if (first < 0 || n < 0 || first + n > st->n_sims) return -1;
  for (int i = first; i < first + n; i++) {
    sy_e2e_sim_t *s = &st->sims[i];
    char log[700];
    snprintf(log, sizeof(log), "%s/%s.log", st->dir, s->name);
    char *argv[] = {(char *)st->sim_bin, "--listen", s->addr,   "--model", (char *)st->model,
                    "--ttft-ms",         "2",        "--itl-ms", "5",       NULL};
    if (sy_proc_spawn(&s->proc, s->name, argv, NULL, log) != 0) return -1;
  }
  for (int i = first; i < first + n; i++) {
    char url[128];
    snprintf(url, sizeof(url), "http://%s/health", st->sims[i].addr);
    if (sy_wait_http_200(url, 15000, &st->sims[i].proc) != 0) {
      fprintf(stderr, "e2e: simulator %s not healthy\n", st->sims[i].addr);
      return -1;
    }
  }
  return 0;
}

int sy_e2e_switchyard_start(sy_e2e_stack_t *st, char *const argv[]) {
  return sy_e2e_switchyard_start_env(st, argv, NULL);
}

int sy_e2e_switchyard_start_env(sy_e2e_stack_t *st, char *const argv[], char *const env[]) {
  char log[700];
  snprintf(log, sizeof(log), "%s/switchyard.log", st->dir);
  if (sy_proc_spawn(&st->sy, "switchyard", argv, env, log) != 0) return -1;
  if (sy_wait_tcp("127.0.0.1", st->grpc_port, 15000, &st->sy) != 0) {
    fprintf(stderr, "e2e: switchyard not listening on %d\n", st->grpc_port);
    return -1;
  }
  return 0;
}

int sy_e2e_envoy_start(sy_e2e_stack_t *st, bool epp_tls) {
  char ap[16], lp[16], ep[16], cfg[700];
  if (!st->envoy_tpl) {
    fprintf(stderr, "e2e: SY_ENVOY_TEMPLATE is not set\n");
    return -1;
  }
  snprintf(ap, sizeof(ap), "%d", st->admin_port);
  snprintf(lp, sizeof(lp), "%d", st->listen_port);
  snprintf(ep, sizeof(ep), "%d", st->grpc_port);
  sy_e2e_tpl_var_t vars[] = {{"ADMIN_PORT", ap},
                             {"LISTEN_ADDR", "127.0.0.1"},
                             {"LISTEN_PORT", lp},
                             {"EPP_PORT", ep},
                             {"EPP_TLS", epp_tls ? "1" : "0"}};
  snprintf(cfg, sizeof(cfg), "%s/envoy.yaml", st->dir);
  if (sy_e2e_render_template(st->envoy_tpl, cfg, vars, SY_ARRAY_LEN(vars)) != 0) return -1;
  char *argv[] = {(char *)st->envoy_bin,   "-c",          cfg,    "--concurrency", "1",
                  "--disable-hot-restart", "--log-level", "warn", NULL};
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", st->admin_port);
  return sy_e2e_envoy_start_argv(st, argv, url);
}

int sy_e2e_envoy_start_argv(sy_e2e_stack_t *st, char *const argv[], const char *ready_url) {
  char log[700];
  snprintf(log, sizeof(log), "%s/envoy.log", st->dir);
  if (sy_proc_spawn(&st->envoy, "envoy", argv, NULL, log) != 0) return -1;
  if (sy_wait_http_200(ready_url, 30000, &st->envoy) != 0) {
    fprintf(stderr, "e2e: envoy not ready (%s)\n", ready_url);
    return -1;
  }
  return 0;
}

void sy_e2e_stack_stop(sy_e2e_stack_t *st) {
  sy_proc_stop(&st->envoy, 5000);
  sy_proc_stop(&st->sy, 5000);
  for (int i = 0; i < st->n_sims; i++) sy_proc_stop(&st->sims[i].proc, 5000);
}

void sy_e2e_stack_dump_logs(const sy_e2e_stack_t *st) {
  for (int i = 0; i < st->n_sims; i++)
    if (st->sims[i].proc.pid) sy_proc_dump_log(&st->sims[i].proc, 30);
  sy_proc_dump_log(&st->sy, 80);
  sy_proc_dump_log(&st->envoy, 60);
}

int sy_e2e_run(sy_e2e_stack_t *st, Suite *s) {
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_ALL);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (failed) sy_e2e_stack_dump_logs(st);
  if (failed || sy_e2e_env_true("SY_E2E_KEEP", false))
    fprintf(stderr, "e2e: logs and config kept in %s\n", st->dir);
  else
    sy_tmpdir_remove(st->dir);
  curl_global_cleanup();
  return failed ? 1 : 0;
}

/* -------------------------------------------------------------- commands */

int sy_e2e_capture(char *const argv[], const char *out_path, int timeout_ms) {
  char err_path[1024];
  snprintf(err_path, sizeof(err_path), "%s.err", out_path);
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (in < 0 || out < 0 || err < 0) {
    fprintf(stderr, "e2e: %s: cannot open %s or %s: %s\n", argv[0], out_path, err_path,
            strerror(errno));
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    return -1;
  }
  pid_t parent = getpid();
  fflush(NULL);
  pid_t pid = fork();
  int fork_errno = errno;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
    dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(in);
  close(out);
  close(err);
  if (pid < 0) {
    fprintf(stderr, "e2e: fork for %s: %s\n", argv[0], strerror(fork_errno));
    return -1;
  }
  /* sy_proc's waiting, for a child started here. */
  sy_proc_t p;
  memset(&p, 0, sizeof(p));
  p.pid = pid;
  snprintf(p.name, sizeof(p.name), "%s", argv[0]);
  int code;
  if (sy_proc_wait(&p, timeout_ms) != 0) {
    sy_proc_signal(&p, SIGKILL);
    sy_proc_wait(&p, -1);
    fprintf(stderr, "e2e: %s timed out after %d ms\n", argv[0], timeout_ms);
    code = -1;
  } else {
    code = sy_proc_exit_code(&p);
  }
  size_t err_len = 0;
  char *text = sy_test_read_file(err_path, &err_len);
  if (code != 0)
    fprintf(stderr, "e2e: %s exited %d:\n%s\n", argv[0], code, text ? text : "(no stderr)");
  else if (text && err_len == 0)
    unlink(err_path);
  sy_free(text);
  return code;
}

char *sy_e2e_helm_template(const sy_e2e_stack_t *st, const char *helm, const char *chart,
                           const char *release, const char *ns, const char *const *args,
                           const char *name) {
  const char *argv[64] = {helm, "template", release, chart, "--namespace", ns};
  size_t n = 6;
  for (size_t i = 0; args && args[i]; i++) {
    if (n + 1 >= SY_ARRAY_LEN(argv)) {
      fprintf(stderr, "e2e: helm template: too many arguments\n");
      return NULL;
    }
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", st->dir, name);
  if (sy_e2e_capture((char *const *)argv, path, 60000) != 0) return NULL;
  char *text = sy_test_read_file(path, NULL);
  if (!text) fprintf(stderr, "e2e: cannot read %s\n", path);
  return text;
}

/* ------------------------------------------------------ requests via Envoy */

void sy_e2e_resp_init(sy_e2e_resp_t *r) {
  memset(r, 0, sizeof(*r));
  sy_buf_init(&r->body, RESP_BODY_MAX);
}

void sy_e2e_resp_cleanup(sy_e2e_resp_t *r) {
  sy_buf_cleanup(&r->body);
  curl_slist_free_all(r->hdrs);
  r->hdrs = NULL;
}

const char *sy_e2e_resp_text(const sy_e2e_resp_t *r) { return r->body.data ? r->body.data : ""; }

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
  sy_e2e_resp_t *r = ud;
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
  sy_e2e_resp_t *r = ud;
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

CURL *sy_e2e_req_new(const char *base_url, const char *path, const char *body, size_t len,
                     long timeout_ms, sy_e2e_resp_t *r) {
  char url[256];
  snprintf(url, sizeof(url), "%s%s", base_url, path);
  CURL *c = curl_easy_init();
  if (!c) return NULL;
  r->hdrs = curl_slist_append(r->hdrs, "content-type: application/json");
  /* No "Expect: 100-continue" round trip before large bodies. */
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

void sy_e2e_req_finish(CURL *c, CURLcode cerr, sy_e2e_resp_t *r) {
  r->cerr = cerr;
  r->t_done_ns = sy_now_ns();
  if (cerr == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
}

int sy_e2e_post(const char *base_url, const char *path, const char *body, size_t len,
                long timeout_ms, sy_e2e_resp_t *r) {
  CURL *c = sy_e2e_req_new(base_url, path, body, len, timeout_ms, r);
  if (!c) return -1;
  sy_e2e_req_finish(c, curl_easy_perform(c), r);
  curl_easy_cleanup(c);
  return 0;
}

/* ------------------------------------------------------------- assertions */

void sy_e2e_require_up(const sy_e2e_stack_t *st) {
  ck_assert_msg(st->up, "the e2e stack did not start (logs above)");
}

void sy_e2e_assert_routed(const sy_e2e_resp_t *r) {
  ck_assert_msg(r->dest[0], "no x-gateway-destination-endpoint in the response");
  ck_assert_str_eq(r->sim_instance, r->dest);
  ck_assert_str_eq(r->upstream, r->dest);
}

int sy_e2e_served_by(const sy_e2e_stack_t *st, const sy_e2e_resp_t *r) {
  sy_e2e_assert_routed(r);
  for (int i = 0; i < st->n_sims; i++)
    if (strcmp(r->dest, st->sims[i].addr) == 0) return i;
  ck_abort_msg("destination %s is not one of the simulators", r->dest);
  return -1;
}

void sy_e2e_assert_stream(sy_e2e_resp_t *r, int tokens) {
  ck_assert_msg(strstr(r->content_type, "text/event-stream"), "content-type %s", r->content_type);
  int events = 0, content_events = 0;
  bool done = false, usage_seen = false, after_done = false;
  char *save = NULL;
  for (char *ln = strtok_r(r->body.data, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
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
      ck_assert_int_eq(cJSON_GetObjectItem(usage, "completion_tokens")->valueint, tokens);
    }
    if (cJSON_GetArraySize(cJSON_GetObjectItem(j, "choices")) > 0) content_events++;
    cJSON_Delete(j);
  }
  ck_assert_msg(done, "stream did not end with data: [DONE]");
  ck_assert_msg(!after_done, "events after [DONE]");
  ck_assert_msg(usage_seen, "no usage chunk despite include_usage");
  ck_assert_int_ge(content_events, 2);
  ck_assert_int_ge(events, 4);
  uint64_t spread_ms = (r->t_done_ns - r->t_first_byte_ns) / 1000000u;
  ck_assert_msg(spread_ms >= 40, "stream arrived in one burst (%llu ms): buffered somewhere?",
                (unsigned long long)spread_ms);
}

/* The stack the chain cases run on (Check tests take no argument). */
static sy_e2e_stack_t *g_stack;

/* POSTs {"model":<the stack's model>,<fields>} to its Envoy at `path` and
 * asserts a 200 from one of its simulators; *r holds the answer (the caller
 * cleans it up). */
static void chain_post(const char *path, const char *fields, sy_e2e_resp_t *r) {
  sy_e2e_require_up(g_stack);
  char body[512];
  snprintf(body, sizeof(body), "{\"model\":\"%s\",%s}", g_stack->model, fields);
  sy_e2e_resp_init(r);
  ck_assert_int_eq(sy_e2e_post(g_stack->base_url, path, body, strlen(body), 30000, r), 0);
  ck_assert_int_eq(r->cerr, CURLE_OK);
  ck_assert_msg(r->status == 200, "status %ld: %.200s", r->status, sy_e2e_resp_text(r));
  sy_e2e_served_by(g_stack, r);
}

/* chain_post's answer parsed as JSON (cJSON_Delete it). */
static cJSON *chain_json(const char *path, const char *fields) {
  sy_e2e_resp_t r;
  chain_post(path, fields, &r);
  cJSON *j = cJSON_Parse(r.body.data);
  ck_assert_msg(j != NULL, "response is not JSON: %s", sy_e2e_resp_text(&r));
  sy_e2e_resp_cleanup(&r);
  return j;
}

START_TEST(test_completion) {
  cJSON *j = chain_json("/v1/completions", "\"prompt\":\"Say hello to switchyard\",\"max_tokens\":3");
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "object")), "text_completion");
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")), g_stack->model);
  ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")));
  cJSON *choices = cJSON_GetObjectItem(j, "choices");
  ck_assert(cJSON_IsArray(choices) && cJSON_GetArraySize(choices) >= 1);
  ck_assert_ptr_nonnull(
      cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(choices, 0), "text")));
  cJSON *usage = cJSON_GetObjectItem(j, "usage");
  ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(usage, "prompt_tokens")));
  ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(usage, "completion_tokens")));
  ck_assert_int_gt(cJSON_GetObjectItem(usage, "completion_tokens")->valueint, 0);
  cJSON_Delete(j);
}
END_TEST

START_TEST(test_chat) {
  cJSON *j = chain_json("/v1/chat/completions",
                        "\"max_tokens\":3,\"messages\":[{\"role\":\"system\",\"content\":"
                        "\"be brief\"},{\"role\":\"user\",\"content\":\"hello\"}]");
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "object")), "chat.completion");
  cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
  cJSON *msg = cJSON_GetObjectItem(c0, "message");
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "role")), "assistant");
  ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "content")));
  ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "total_tokens")));
  cJSON_Delete(j);
}
END_TEST

START_TEST(test_streaming) {
  /* 20 tokens at 5 ms each: the stream lasts about 100 ms, so chunks that
   * arrive all at once would mean something buffered the response. */
  sy_e2e_resp_t r;
  chain_post("/v1/completions",
             "\"prompt\":\"count to twenty\",\"max_tokens\":20,"
             "\"stream\":true,\"stream_options\":{\"include_usage\":true}",
             &r);
  sy_e2e_assert_stream(&r, 20);
  sy_e2e_resp_cleanup(&r);
}
END_TEST

TCase *sy_e2e_chain_tcase(sy_e2e_stack_t *st, void (*setup)(void), void (*teardown)(void)) {
  g_stack = st;
  TCase *tc = tcase_create("chain");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_completion);
  tcase_add_test(tc, test_chat);
  tcase_add_test(tc, test_streaming);
  return tc;
}

/* ------------------------------------------------ switchyard's admin port */

long sy_e2e_admin_get(int port, const char *path, int timeout_ms, char **body) {
  char url[256];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
  return sy_http_get(url, timeout_ms, body);
}

double sy_e2e_sample_value(const char *page, const char *prefix) {
  size_t n = strlen(prefix);
  for (const char *p = page; p && *p;) {
    if (strncmp(p, prefix, n) == 0) {
      const char *v = strchr(p + n, ' '); /* labels contain no spaces here */
      return v ? strtod(v + 1, NULL) : -1;
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

double sy_e2e_metric(int port, const char *prefix) {
  char *page = NULL;
  double v = -1;
  if (sy_e2e_admin_get(port, "/metrics", ADMIN_TIMEOUT_MS, &page) == 200)
    v = sy_e2e_sample_value(page, prefix);
  sy_free(page);
  return v;
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

int sy_e2e_endpoints(int port, const char *ns, const char *pool, char *out, size_t n) {
  char *page = NULL;
  out[0] = '\0';
  if (sy_e2e_admin_get(port, "/debug/endpoints", ADMIN_TIMEOUT_MS, &page) != 200) {
    sy_free(page);
    return -1;
  }
  cJSON *root = cJSON_Parse(page);
  sy_free(page);
  if (!root) return -1;
  int rc = SY_ENOTFOUND;
  const cJSON *pl, *ep;
  cJSON_ArrayForEach(pl, cJSON_GetObjectItem(root, "pools")) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(pl, "name"));
    const char *pns = cJSON_GetStringValue(cJSON_GetObjectItem(pl, "namespace"));
    if (!name || strcmp(name, pool) != 0 || (ns && (!pns || strcmp(pns, ns) != 0))) continue;
    /* Sorted, so callers compare whole sets as strings. */
    char items[ENDPOINTS_MAX][128];
    size_t k = 0;
    cJSON_ArrayForEach(ep, cJSON_GetObjectItem(pl, "endpoints")) {
      const char *en = cJSON_GetStringValue(cJSON_GetObjectItem(ep, "name"));
      const char *ea = cJSON_GetStringValue(cJSON_GetObjectItem(ep, "address"));
      if (k < ENDPOINTS_MAX)
        snprintf(items[k++], sizeof(items[0]), "%s@%s", en ? en : "", ea ? ea : "");
    }
    qsort(items, k, sizeof(items[0]), cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < k; i++) {
      size_t len = strlen(out);
      snprintf(out + len, n - len, "%s%s", i ? "," : "", items[i]);
    }
    rc = 0;
  }
  cJSON_Delete(root);
  return rc;
}
