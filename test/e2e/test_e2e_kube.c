/*
 * End-to-end through real Envoy with switchyard fed by a REAL kube-apiserver,
 * both run exactly as the Helm chart (helm/switchyard) deploys them:
 * curl -> Envoy (the chart's bootstrap and command line: ext_proc over TLS,
 * ORIGINAL_DST, gRPC health checks of switchyard) -> switchyard (the chart's
 * epp container args and EndpointPickerConfig, a real token of the chart's
 * ServiceAccount bound by the chart's Role) -> switchyard-sim model servers
 * whose Pods live in the apiserver (test/support/kubeapi.h), selected by the
 * chart's InferencePool. Every Pod's podIP and the pool's targetPort point
 * at a real simulator process on a loopback address, so a routing mistake
 * shows as a failed request.
 *
 * The chart is rendered with `$SY_HELM template` and only values the test
 * must choose (chart_values: free ports, listen address 127.0.0.1, the
 * simulators' labels and port, debug response headers, log verbosity); what
 * a pod has and a host process does not is emulated (ConfigMap mounts, the
 * downward API) or added (--kubeconfig, --listen-address); see render_chart.
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
 * Environment (set by test/e2e/CMakeLists.txt; SY_KUBE_TOOLS and SY_HELM by
 * the caller, e.g. hack/test.sh):
 *   SY_SWITCHYARD_BIN, SY_SIM_BIN, SY_ENVOY_BIN, SY_HELM_CHART (the chart),
 *   SY_CONFIG_DIR (config/: the CRDs), SY_KUBE_TOOLS, SY_HELM (hack/helm.sh)
 *   SY_E2E_REQUIRE   1: missing binaries or tools fail instead of exit 77
 *   SY_E2E_KEEP      1: keep the temp dir (logs, renders, pod/) afterwards
 * Check runs in no-fork mode: the stack lives in this process.
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "e2e.h"
#include "kubeapi.h"
#include "proc.h"
#include "test_support.h"
#include "yaml.h"

#define N_SIMS 4   /* 0-2 from the start, 3 joins later */
#define N_START 3
#define IP_BASE 41 /* 127.0.0.41..44: not used by the other e2e runs */
#define NS "e2e-kube"
#define REL "e2e-kube" /* the Helm release */
#define POOL REL       /* the chart names its InferencePool after the release */
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
  const char *config_dir, *helm, *chart;
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

/* ----------------------------------------------------- the chart's pod */

/* What the chart renders, as the pod would run it. */
#define ARGS_MAX 48
#define STORE_MAX 96

static struct {
  char *sy_argv[ARGS_MAX], *sy_env[8], *envoy_argv[ARGS_MAX];
  char ready_url[256];
  char sa[128];       /* the pod's serviceAccountName */
  char pod_name[128]; /* what the downward API would give as metadata.name */
  char store[STORE_MAX][1024];
  int n_store;
  char mounts[8][256]; /* mountPaths emulated under <dir>/pod */
  int n_mounts;
} C;

static char *keep(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *keep(const char *fmt, ...) {
  if (C.n_store >= STORE_MAX) {
    fprintf(stderr, "e2e-kube: out of argument storage\n");
    return NULL;
  }
  char *dst = C.store[C.n_store++];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(dst, sizeof(C.store[0]), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(C.store[0])) {
    fprintf(stderr, "e2e-kube: argument too long: %.80s...\n", dst);
    return NULL;
  }
  return dst;
}

/* The chart values the test sets (helm --set): where its processes are.
 * Everything else is the chart's default. debug_headers:
 * router.proxy.debugResponseHeaders, which adds x-gateway-destination-endpoint
 * and x-upstream-host to responses (check_debug_headers_only proves it adds
 * nothing else). The result is valid until the next call. */
static const char *const *chart_values(bool debug_headers) {
  static char b[16][128];
  static const char *v[40];
  int n = 0, k = 0;
#define SET(...) (snprintf(b[k], sizeof(b[k]), __VA_ARGS__), v[n++] = "--set", v[n++] = b[k++])
  SET("router.modelServers.matchLabels.app=%s", APP);       /* the simulators' Pods */
  SET("router.modelServers.targetPorts[0].number=%d", S.e.sim_port);
  SET("router.epp.extProcPort=%d", S.e.grpc_port);          /* free loopback ports: */
  SET("router.epp.grpcHealthPort=%d", S.e.health_port);    /* the chart's defaults */
  SET("router.epp.metricsPort=%d", S.e.metrics_port);       /* would collide with */
  SET("router.proxy.listenerPort=%d", S.e.listen_port);     /* other runs */
  SET("router.proxy.readyPort=%d", S.e.ready_port);
  SET("router.proxy.adminPort=%d", S.e.admin_port);
  SET("router.proxy.listenAddress=127.0.0.1");              /* not 0.0.0.0 on a host */
  SET("router.proxy.debugResponseHeaders=%s", debug_headers ? "true" : "false");
  SET("router.epp.flags.v=3");                              /* verbose logs on failure */
#undef SET
  v[n] = NULL;
  return v;
}

static sy_yaml_stream_t *parse_render(const char *name, const char *text) {
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t err;
  if (!text) return NULL;
  if (sy_yaml_parse(name, text, strlen(text), NULL, &s, &err) != 0) {
    char msg[1200];
    fprintf(stderr, "e2e-kube: %s\n", sy_yaml_error_str(&err, msg, sizeof(msg)));
    return NULL;
  }
  return s;
}

/* The object of `kind` named `name` in a render, or NULL. */
static const sy_yaml_node_t *find_obj(const sy_yaml_stream_t *s, const char *kind,
                                      const char *name) {
  for (size_t i = 0; i < s->n_docs; i++) {
    const sy_yaml_node_t *d = s->docs[i].root;
    if (sy_yaml_text_eq(sy_yaml_get(d, "kind"), kind) &&
        sy_yaml_text_eq(sy_yaml_path(d, "metadata.name"), name))
      return d;
  }
  return NULL;
}

static const sy_yaml_node_t *named_item(const sy_yaml_node_t *seq, const char *name) {
  for (size_t i = 0; seq && i < seq->n; i++)
    if (sy_yaml_text_eq(sy_yaml_get(seq->items[i], "name"), name)) return seq->items[i];
  return NULL;
}

/* Trees a and b are equal (kinds, scalar texts, order), except that the
 * mapping entry of b whose value is `skip` is ignored. */
static bool yaml_same(const sy_yaml_node_t *a, const sy_yaml_node_t *b,
                      const sy_yaml_node_t *skip) {
  if (!a || !b) return a == b;
  if (a->kind != b->kind) return false;
  switch (a->kind) {
    case SY_YAML_NULL:
      return true;
    case SY_YAML_SCALAR:
      return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
    case SY_YAML_SEQUENCE:
      if (a->n != b->n) return false;
      for (size_t i = 0; i < a->n; i++)
        if (!yaml_same(a->items[i], b->items[i], skip)) return false;
      return true;
    case SY_YAML_MAPPING: {
      size_t seen = 0;
      for (size_t i = 0; i < b->n; i++) {
        if (b->items[i] == skip) continue;
        seen++;
        if (!yaml_same(sy_yaml_get(a, b->keys[i]->text), b->items[i], skip)) return false;
      }
      return seen == a->n;
    }
  }
  return false;
}

/* The envoy.yaml of the chart's Envoy ConfigMap in a render, parsed. */
static sy_yaml_stream_t *envoy_config(const sy_yaml_stream_t *render) {
  const sy_yaml_node_t *cm = find_obj(render, "ConfigMap", REL "-envoy");
  const sy_yaml_node_t *cfg = sy_yaml_get(sy_yaml_get(cm, "data"), "envoy.yaml");
  if (!sy_yaml_is_string(cfg)) {
    fprintf(stderr, "e2e-kube: no ConfigMap " REL "-envoy with envoy.yaml in the render\n");
    return NULL;
  }
  return parse_render("envoy.yaml", cfg->text);
}

/* router.proxy.debugResponseHeaders=true (which the test needs to see who
 * routed and who served) changes the chart's Envoy config by the two
 * response headers only: the config Envoy runs here is the production one
 * plus response_headers_to_add on the inference listener's virtual host. */
static int check_debug_headers_only(const sy_yaml_stream_t *with) {
  char *text = sy_e2e_helm_template(&S.e, S.helm, S.chart, REL, NS, chart_values(false),
                                    "chart-no-debug-headers.yaml");
  sy_yaml_stream_t *plain_render = parse_render("chart-no-debug-headers.yaml", text);
  sy_free(text);
  sy_yaml_stream_t *a = plain_render ? envoy_config(plain_render) : NULL;
  sy_yaml_stream_t *b = envoy_config(with);
  int rc = -1;
  if (a && b && a->n_docs == 1 && b->n_docs == 1) {
    const sy_yaml_node_t *l = named_item(sy_yaml_path(b->docs[0].root, "static_resources.listeners"),
                                         "inference");
    const sy_yaml_node_t *hdrs = sy_yaml_path(
        l, "filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0]."
           "response_headers_to_add");
    bool two = hdrs && hdrs->kind == SY_YAML_SEQUENCE && hdrs->n == 2 &&
               sy_yaml_text_eq(sy_yaml_path(hdrs, "[0].header.key"),
                               "x-gateway-destination-endpoint") &&
               sy_yaml_text_eq(sy_yaml_path(hdrs, "[1].header.key"), "x-upstream-host");
    if (!two)
      fprintf(stderr, "e2e-kube: debugResponseHeaders=true: no response_headers_to_add with the "
                      "two headers on the inference listener's virtual host\n");
    else if (!yaml_same(a->docs[0].root, b->docs[0].root, hdrs))
      fprintf(stderr, "e2e-kube: debugResponseHeaders=true changes more of the Envoy config than "
                      "response_headers_to_add (compare %s/chart*.yaml)\n",
              S.e.dir);
    else
      rc = 0;
  }
  sy_yaml_stream_free(a);
  sy_yaml_stream_free(b);
  sy_yaml_stream_free(plain_render);
  return rc;
}

static int mkdir_p(const char *path) {
  char buf[1024];
  snprintf(buf, sizeof(buf), "%s", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "e2e-kube: mkdir %s: %s\n", buf, strerror(errno));
        return -1;
      }
      if (!c) return 0;
      *p = c;
    }
  }
}

static int write_text(const char *dir, const char *file, const sy_yaml_node_t *text) {
  char path[1400];
  snprintf(path, sizeof(path), "%s/%s", dir, file);
  if (!sy_yaml_is_string(text) || mkdir_p(dir) != 0 ||
      sy_file_write_atomic(path, text->text, text->len) != 0) {
    fprintf(stderr, "e2e-kube: cannot write %s\n", path);
    return -1;
  }
  return 0;
}

/* What the kubelet does for container `c` of pod spec `pod`: every volume
 * it mounts must be a ConfigMap of the render, whose data (every key, or
 * the volume's items key -> path) is written under <dir>/pod<mountPath>.
 * Remembers the mount paths for pod_path(). */
static int mount_config_maps(const sy_yaml_stream_t *s, const sy_yaml_node_t *pod,
                             const sy_yaml_node_t *c) {
  const sy_yaml_node_t *mounts = sy_yaml_get(c, "volumeMounts");
  for (size_t i = 0; mounts && i < mounts->n; i++) {
    const sy_yaml_node_t *m = mounts->items[i];
    const sy_yaml_node_t *name = sy_yaml_get(m, "name"), *at = sy_yaml_get(m, "mountPath");
    const sy_yaml_node_t *vol = named_item(sy_yaml_get(pod, "volumes"), name ? name->text : "");
    const sy_yaml_node_t *ref = sy_yaml_get(vol, "configMap");
    const sy_yaml_node_t *cmname = sy_yaml_get(ref, "name");
    const sy_yaml_node_t *data =
        sy_yaml_get(find_obj(s, "ConfigMap", cmname ? cmname->text : ""), "data");
    if (!at || !data || data->kind != SY_YAML_MAPPING || C.n_mounts >= 8) {
      fprintf(stderr, "e2e-kube: volume mount %s is not a ConfigMap of the render\n",
              name ? name->text : "?");
      return -1;
    }
    snprintf(C.mounts[C.n_mounts++], sizeof(C.mounts[0]), "%s", at->text);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/pod%s", S.e.dir, at->text);
    const sy_yaml_node_t *items = sy_yaml_get(ref, "items");
    if (items) {
      for (size_t j = 0; j < items->n; j++) {
        const sy_yaml_node_t *key = sy_yaml_get(items->items[j], "key");
        const sy_yaml_node_t *path = sy_yaml_get(items->items[j], "path");
        if (!key || !path || write_text(dir, path->text, sy_yaml_get(data, key->text)) != 0)
          return -1;
      }
    } else {
      for (size_t j = 0; j < data->n; j++)
        if (write_text(dir, data->keys[j]->text, data->items[j]) != 0) return -1;
    }
  }
  return 0;
}

/* `arg`, or "--flag=value" with its value, moved under <dir>/pod when it is
 * a path in one of the mounted ConfigMaps. */
static char *pod_path(const char *arg) {
  const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
  const char *value = eq ? eq + 1 : arg;
  for (int i = 0; i < C.n_mounts; i++) {
    size_t n = strlen(C.mounts[i]);
    if (strncmp(value, C.mounts[i], n) == 0 && value[n] == '/')
      return keep("%.*s%s/pod%s", (int)(value - arg), arg, S.e.dir, value);
  }
  return keep("%s", arg);
}

/* argv of container `name` of the render's Deployment: `bin` for the
 * image's binary (the container's one-word command, or the image's
 * entrypoint when it has none), then its args with mounted paths moved
 * under <dir>/pod (mount_config_maps). NULL-terminated; returns the count
 * or -1. */
static int container_argv(const sy_yaml_stream_t *s, const char *name, const char *bin,
                          char **argv) {
  const sy_yaml_node_t *dep = find_obj(s, "Deployment", REL "-epp");
  const sy_yaml_node_t *pod = sy_yaml_path(dep, "spec.template.spec");
  const sy_yaml_node_t *c = named_item(sy_yaml_get(pod, "containers"), name);
  const sy_yaml_node_t *cmd = sy_yaml_get(c, "command"), *args = sy_yaml_get(c, "args");
  if (!c || (cmd && cmd->n != 1) || !args || args->kind != SY_YAML_SEQUENCE ||
      args->n + 2 > ARGS_MAX) {
    fprintf(stderr, "e2e-kube: no container %s with args in the rendered Deployment\n", name);
    return -1;
  }
  if (mount_config_maps(s, pod, c) != 0) return -1;
  int n = 0;
  argv[n++] = (char *)bin;
  for (size_t i = 0; i < args->n; i++)
    if (!(argv[n++] = pod_path(args->items[i]->text))) return -1;
  argv[n] = NULL;
  return n;
}

/* The epp container's environment: literal values, and the downward API
 * fields the chart uses (metadata.namespace, metadata.name). */
static int container_env(const sy_yaml_stream_t *s, const char *name, char **env, size_t cap) {
  const sy_yaml_node_t *pod =
      sy_yaml_path(find_obj(s, "Deployment", REL "-epp"), "spec.template.spec");
  const sy_yaml_node_t *list = sy_yaml_get(named_item(sy_yaml_get(pod, "containers"), name), "env");
  size_t n = 0;
  for (size_t i = 0; list && i < list->n; i++) {
    const sy_yaml_node_t *e = list->items[i];
    const sy_yaml_node_t *k = sy_yaml_get(e, "name"), *v = sy_yaml_get(e, "value");
    const sy_yaml_node_t *field = sy_yaml_path(e, "valueFrom.fieldRef.fieldPath");
    const char *val = NULL;
    if (v) val = v->text;
    else if (sy_yaml_text_eq(field, "metadata.namespace")) val = NS;
    else if (sy_yaml_text_eq(field, "metadata.name")) val = C.pod_name;
    if (!k || !val || n + 1 >= cap) {
      fprintf(stderr, "e2e-kube: %s: env %s: cannot emulate it\n", name, k ? k->text : "?");
      return -1;
    }
    if (!(env[n++] = keep("%s=%s", k->text, val))) return -1;
  }
  env[n] = NULL;
  return 0;
}

static bool has_flag(char *const *argv, const char *flag) {
  size_t n = strlen(flag);
  for (int i = 1; argv[i]; i++)
    if (strncmp(argv[i], flag, n) == 0 && (argv[i][n] == '\0' || argv[i][n] == '=')) return true;
  return false;
}

static void print_cmd(const char *what, char *const *argv, char *const *env) {
  fprintf(stderr, "e2e-kube: %s:", what);
  for (int i = 0; env && env[i]; i++) fprintf(stderr, " %s", env[i]);
  for (int i = 0; argv[i]; i++) fprintf(stderr, " %s", argv[i]);
  fputc('\n', stderr);
}

/* Renders the chart with the test's values (chart_values(true)) and derives
 * from it, with nothing added to its config files:
 *  - Envoy: the envoy container's command line, its -c file the ConfigMap
 *    <release>-envoy's envoy.yaml; ready when its readinessProbe answers;
 *  - switchyard: the epp container's args and env, its --config-file the
 *    ConfigMap <release>-epp's default-plugins.yaml. Outside a pod two
 *    things differ, and only these are added (the chart must not render
 *    them itself, or this would override it):
 *      --kubeconfig=<dir>/kubeconfig  in-cluster config (the mounted token
 *        of the pod's ServiceAccount) becomes a kubeconfig holding a real
 *        token of that same ServiceAccount (setup_cluster);
 *      --listen-address=127.0.0.1     the pod binds 0.0.0.0 in its own
 *        network namespace; here that would be every address of the host.
 *    Ports, pool name and namespace are not overridden: they come from the
 *    values and `--namespace`, and the config the chart gives Envoy is
 *    rendered from the same values;
 *  - the pod's ServiceAccount, for setup_cluster. */
static int render_chart(void) {
  char *text = sy_e2e_helm_template(&S.e, S.helm, S.chart, REL, NS, chart_values(true),
                                    "chart.yaml");
  sy_yaml_stream_t *s = parse_render("chart.yaml", text);
  sy_free(text);
  if (!s) return -1;
  int rc = -1;
  const sy_yaml_node_t *pod =
      sy_yaml_path(find_obj(s, "Deployment", REL "-epp"), "spec.template.spec");
  const sy_yaml_node_t *sa = sy_yaml_get(pod, "serviceAccountName");
  const sy_yaml_node_t *probe = sy_yaml_path(
      named_item(sy_yaml_get(pod, "containers"), "envoy"), "readinessProbe.httpGet");
  int64_t probe_port = 0;
  if (!sa || sy_yaml_as_int(sy_yaml_get(probe, "port"), &probe_port) != 0 ||
      !sy_yaml_is_string(sy_yaml_get(probe, "path"))) {
    fprintf(stderr, "e2e-kube: rendered Deployment lacks serviceAccountName or Envoy's "
                    "readinessProbe.httpGet\n");
    goto out;
  }
  snprintf(C.sa, sizeof(C.sa), "%s", sa->text);
  snprintf(C.pod_name, sizeof(C.pod_name), REL "-epp-5f7d9c6b8-x4k2q");
  snprintf(C.ready_url, sizeof(C.ready_url), "http://127.0.0.1:%d%s", (int)probe_port,
           sy_yaml_get(probe, "path")->text);
  if (check_debug_headers_only(s) != 0) goto out;

  int n = container_argv(s, "envoy", S.e.envoy_bin, C.envoy_argv);
  if (n < 0) goto out;
  n = container_argv(s, "epp", S.e.sy_bin, C.sy_argv);
  if (n < 0 || n + 2 >= ARGS_MAX || container_env(s, "epp", C.sy_env, SY_ARRAY_LEN(C.sy_env)) != 0)
    goto out;
  static const char *const added[] = {"--kubeconfig", "--listen-address", "--manifests"};
  for (size_t i = 0; i < SY_ARRAY_LEN(added); i++)
    if (has_flag(C.sy_argv, added[i])) {
      fprintf(stderr, "e2e-kube: the chart now renders %s: review what the test adds\n", added[i]);
      goto out;
    }
  if (!(C.sy_argv[n++] = keep("--kubeconfig=%s", S.kubeconfig)) ||
      !(C.sy_argv[n++] = keep("--listen-address=127.0.0.1")))
    goto out;
  C.sy_argv[n] = NULL;
  print_cmd("envoy (the chart's envoy container)", C.envoy_argv, NULL);
  print_cmd("switchyard (the chart's epp container + --kubeconfig, --listen-address)", C.sy_argv,
            C.sy_env);
  rc = 0;
out:
  sy_yaml_stream_free(s);
  return rc;
}

/* ------------------------------------------------------------ lifecycle */

/* CRDs, namespace, then the chart's ServiceAccount, Role, RoleBinding and
 * InferencePool for that namespace (helm template --show-only), and a
 * kubeconfig holding the pod's service account's real token: switchyard
 * gets exactly what an installed chart grants it. */
static int setup_cluster(void) {
  static const char *const crds[] = {"inference.networking.k8s.io_inferencepools.yaml",
                                     "llm-d.ai_inferenceobjectives.yaml",
                                     "llm-d.ai_inferencemodelrewrites.yaml",
                                     "inference.networking.x-k8s.io_inferenceobjectives.yaml",
                                     "inference.networking.x-k8s.io_inferencemodelrewrites.yaml"};
  char path[1024];
  for (size_t i = 0; i < SY_ARRAY_LEN(crds); i++) {
    snprintf(path, sizeof(path), "%s/crd/%s", S.config_dir, crds[i]);
    if (sy_kubeapi_apply_yaml_file(&S.kube, path) != 0) return -1;
  }
  if (sy_kubeapi_create_namespace(&S.kube, NS) != 0) return -1;

  const char *args[40];
  size_t n = 0;
  for (const char *const *v = chart_values(true); *v; v++) args[n++] = *v;
  static const char *const only[] = {"templates/serviceaccount.yaml", "templates/rbac.yaml",
                                     "templates/inferencepool.yaml"};
  for (size_t i = 0; i < SY_ARRAY_LEN(only); i++) {
    args[n++] = "--show-only";
    args[n++] = only[i];
  }
  args[n] = NULL;
  char *objects = sy_e2e_helm_template(&S.e, S.helm, S.chart, REL, NS, args, "chart-apply.yaml");
  if (!objects) return -1;
  /* Exactly the four objects, as the chart renders them. */
  static const char *const want[] = {"ServiceAccount", "Role", "RoleBinding", "InferencePool"};
  sy_yaml_stream_t *s = parse_render("chart-apply.yaml", objects);
  bool shape = s && s->n_docs == SY_ARRAY_LEN(want);
  for (size_t i = 0; shape && i < SY_ARRAY_LEN(want); i++)
    shape = sy_yaml_text_eq(sy_yaml_get(s->docs[i].root, "kind"), want[i]) &&
            sy_yaml_text_eq(sy_yaml_path(s->docs[i].root, "metadata.namespace"), NS);
  sy_yaml_stream_free(s);
  if (!shape) fprintf(stderr, "e2e-kube: %s/chart-apply.yaml is not %s/%s/%s/%s in " NS "\n",
                      S.e.dir, want[0], want[1], want[2], want[3]);
  int rc = shape ? sy_kubeapi_apply_yaml(&S.kube, objects) : -1;
  sy_free(objects);
  if (rc != 0) return -1;

  char token[4096];
  if (sy_kubeapi_sa_token(&S.kube, NS, C.sa, token, sizeof(token)) != 0) return -1;
  if (sy_kubeapi_write_kubeconfig(&S.kube, token, S.kubeconfig) != 0) return -1;

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

/* switchyard as the chart runs it (render_chart), then, as the pod's
 * readiness probe would, until it reports ready (pool synced): so Envoy's
 * first gRPC health check of it passes. */
static int start_switchyard(void) {
  if (sy_e2e_switchyard_start_env(&S.e, C.sy_argv, C.sy_env) != 0) return -1;
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", S.e.metrics_port);
  if (sy_wait_http_200(url, 15000, &S.e.sy) != 0) {
    fprintf(stderr, "e2e-kube: switchyard not ready (%s)\n", url);
    return -1;
  }
  return 0;
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

  snprintf(S.kubeconfig, sizeof(S.kubeconfig), "%s/kubeconfig", S.e.dir);
  if (render_chart() != 0) goto fail;
  if (sy_e2e_sims_start(&S.e, 0, N_START) != 0) goto fail;
  if (setup_cluster() != 0) goto fail;
  if (start_switchyard() != 0) goto fail;
  if (sy_e2e_envoy_start_argv(&S.e, C.envoy_argv, C.ready_url) != 0) goto fail;
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

/* The value of "<name>: <n>" in Envoy's /stats text, or -1. */
static long envoy_stat(const char *page, const char *name) {
  size_t n = strlen(name);
  for (const char *p = page; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, name, n) == 0 && p[n] == ':') return strtol(p + n + 1, NULL, 10);
  return -1;
}

/* The chart's Envoy health-checks its ext_proc cluster with gRPC health on
 * the ext_proc port, which works only because the chart also gives
 * switchyard --health-checking: the host is healthy, checks passed and none
 * failed. */
START_TEST(test_ext_proc_health_checked) {
  REQUIRE_STACK();
  char url[160], host[96], *page = NULL;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/clusters", S.e.admin_port);
  ck_assert_int_eq(sy_http_get(url, 5000, &page), 200);
  snprintf(host, sizeof(host), "ext_proc::127.0.0.1:%d::health_flags::healthy\n", S.e.grpc_port);
  bool healthy = strstr(page, host) != NULL;
  sy_free(page);
  ck_assert_msg(healthy, "Envoy's /clusters lacks %s", host);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/stats?filter=cluster.ext_proc.health_check",
           S.e.admin_port);
  ck_assert_int_eq(sy_http_get(url, 5000, &page), 200);
  long ok = envoy_stat(page, "cluster.ext_proc.health_check.success");
  long failed = envoy_stat(page, "cluster.ext_proc.health_check.failure");
  fprintf(stderr, "e2e-kube: Envoy's ext_proc health checks: %ld passed, %ld failed\n", ok, failed);
  sy_free(page);
  ck_assert_int_ge(ok, 1);
  ck_assert_int_eq(failed, 0);
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
  tcase_add_test(tc, test_ext_proc_health_checked);
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
  S.chart = sy_e2e_need_file("SY_HELM_CHART", &missing);
  S.helm = sy_e2e_need_file("SY_HELM", &missing);
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
