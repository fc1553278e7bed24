/*
 * The deployment deliverables against real tools: the Helm chart
 * (helm/switchyard), the generated manifests/ and crds/, and the Envoy
 * bootstrap the chart renders.
 *
 *  - `helm lint` and `helm template` pass for every mode (standalone with a
 *    pool, standalone with --endpoint-selector, gateway, 3 replicas, a
 *    custom EndpointPickerConfig, a TLS secret, the plain EPP behind another
 *    gateway, ...), and the output says what the mode promises; bad values
 *    fail rendering with a message that names the key;
 *  - everything rendered (and every file of manifests/) is accepted by
 *    `kubectl apply --dry-run=server` against a real kube-apiserver with the
 *    CRDs installed, in a namespace enforcing Pod Security "restricted"
 *    (no warnings allowed);
 *  - `helm install` and `helm upgrade` into that apiserver succeed and leave
 *    the expected objects (no kubelet: pods never start, which is fine);
 *  - the chart's Role has exactly the rules of config/rbac/role.yaml (the
 *    set test_kube_rbac proves least-privilege);
 *  - manifests/ and crds/ equal a fresh `hack/render-manifests.sh`;
 *  - the Envoy bootstrap in the ConfigMap is the one envoyBootstrapOnly
 *    prints, real Envoy accepts it (TLS and plaintext) and a running Envoy
 *    answers /ready; with SY_SWITCHYARD_BIN, the rendered switchyard args
 *    and config files start the real binary.
 *
 * Environment: SY_HELM (hack/helm.sh), SY_KUBE_TOOLS (hack/kube-tools.sh:
 * kube-apiserver, etcd, kubectl), SY_SOURCE_DIR (repository root, from
 * ctest); optional SY_ENVOY_BIN, SY_SWITCHYARD_BIN, SY_UPSTREAM_GATEWAY_CRDS
 * (else `$SY_UPSTREAM_CRDS_SCRIPT SY_UPSTREAM_GATEWAY_CRDS`). Exits 77
 * (skipped) when helm or the kube tools are missing, unless
 * SY_E2E_REQUIRE=1, which also makes Envoy and the Gateway API CRDs
 * required. The control plane is started once in main(); the Check tests
 * run in forked children (see kubeapi.h).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "core.h"
#include "kubeapi.h"
#include "proc.h"
#include "test_support.h"

#define DRY_NS "sy-helm-dry"
#define INSTALL_NS "sy-helm"
#define GW_NS "sy-helm-gw"
#define REL "sy"

static sy_kubeapi_t g_k;
static char g_src[512];        /* repository root */
static char g_chart[600];      /* <src>/helm/switchyard */
static char g_helm[512];
static char g_kubectl[600];
static char g_tmp[512];        /* private scratch dir */
static char g_kubeconfig[640]; /* admin kubeconfig for helm and kubectl */
static char g_custom[640];     /* values file of the "custom" scenario */
static const char *g_envoy;      /* NULL: Envoy checks skipped */
static const char *g_switchyard; /* NULL: binary checks skipped */
static bool g_have_gateway_crds;
static bool g_require;

/* ------------------------------------------------------------ processes */

typedef struct run {
  int code;  /* exit code; 128+signal; -1 when it could not run or timed out */
  char *out; /* stdout, NUL-terminated (sy_free) */
  char *err; /* stderr */
} run_t;

static void run_free(run_t *r) {
  sy_free(r->out);
  sy_free(r->err);
  r->out = r->err = NULL;
}

/* Runs argv (argv[0] a path) with stdout and stderr captured, killing it
 * after timeout_s. Never fails the test itself: look at r->code. */
static void run_argv(const char *const *argv, int timeout_s, run_t *r) {
  static int seq;
  char outp[700], errp[700];
  snprintf(outp, sizeof(outp), "%s/run-%d-%d.out", g_tmp, (int)getpid(), seq);
  snprintf(errp, sizeof(errp), "%s/run-%d-%d.err", g_tmp, (int)getpid(), seq);
  seq++;
  memset(r, 0, sizeof(*r));
  r->code = -1;
  pid_t pid = fork();
  if (pid < 0) return;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int in = open("/dev/null", O_RDONLY);
    int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || o < 0 || e < 0) _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int st = 0;
  bool done = false;
  for (int waited = 0; waited < timeout_s * 1000; waited += 20) {
    if (waitpid(pid, &st, WNOHANG) == pid) {
      done = true;
      break;
    }
    sy_sleep_ms(20);
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fprintf(stderr, "helm test: %s timed out after %d s\n", argv[0], timeout_s);
  } else {
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  r->out = sy_test_read_file(outp, NULL);
  r->err = sy_test_read_file(errp, NULL);
  if (!r->out) r->out = sy_strdup("");
  if (!r->err) r->err = sy_strdup("");
  unlink(outp);
  unlink(errp);
}

/* A growing argv. Strings are not copied: they must outlive the run. */
typedef struct args {
  const char *v[128];
  int n;
} args_t;

static void args_add(args_t *a, const char *s) {
  ck_assert_int_lt(a->n, 126);
  a->v[a->n++] = s;
  a->v[a->n] = NULL;
}

static void args_add_list(args_t *a, const char *const *list) {
  for (int i = 0; list && list[i]; i++) args_add(a, strcmp(list[i], "@CUSTOM@") ? list[i] : g_custom);
}

/* helm template RELEASE CHART --namespace NS EXTRA... */
static void helm_template(const char *release, const char *ns, const char *const *extra, run_t *r) {
  args_t a = {.n = 0};
  args_add(&a, g_helm);
  args_add(&a, "template");
  args_add(&a, release);
  args_add(&a, g_chart);
  args_add(&a, "--namespace");
  args_add(&a, ns);
  args_add_list(&a, extra);
  run_argv(a.v, 60, r);
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return -errno;
  size_t n = strlen(text);
  int rc = fwrite(text, 1, n, f) == n ? 0 : -EIO;
  if (fclose(f) != 0) rc = -EIO;
  return rc;
}

/* ----------------------------------------------------------------- YAML */

static cJSON *node_json(yaml_document_t *d, yaml_node_t *n, int depth) {
  if (!n || depth > 64) return NULL;
  switch (n->type) {
    case YAML_SCALAR_NODE:
      return cJSON_CreateString((const char *)n->data.scalar.value);
    case YAML_SEQUENCE_NODE: {
      cJSON *arr = cJSON_CreateArray();
      for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
        cJSON_AddItemToArray(arr, node_json(d, yaml_document_get_node(d, *it), depth + 1));
      return arr;
    }
    case YAML_MAPPING_NODE: {
      cJSON *obj = cJSON_CreateObject();
      for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) continue;
        const char *key = (const char *)k->data.scalar.value;
        ck_assert_msg(!cJSON_HasObjectItem(obj, key), "duplicate YAML key \"%s\" at line %lu", key,
                      (unsigned long)k->start_mark.line + 1);
        cJSON_AddItemToObject(obj, key, node_json(d, yaml_document_get_node(d, p->value), depth + 1));
      }
      return obj;
    }
    default:
      return NULL;
  }
}

/* Every document of a multi-document YAML text, as a JSON array (scalars
 * become strings). Fails the test on a syntax error. cJSON_Delete it. */
static cJSON *yaml_docs(const char *text) {
  yaml_parser_t p;
  ck_assert(yaml_parser_initialize(&p));
  yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
  cJSON *docs = cJSON_CreateArray();
  for (;;) {
    yaml_document_t d;
    if (!yaml_parser_load(&p, &d)) {
      ck_abort_msg("YAML error: %s at line %lu", p.problem ? p.problem : "?",
                   (unsigned long)p.problem_mark.line + 1);
    }
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (!root) {
      yaml_document_delete(&d);
      break;
    }
    cJSON *j = node_json(&d, root, 0);
    if (j && !cJSON_IsNull(j)) cJSON_AddItemToArray(docs, j);
    yaml_document_delete(&d);
  }
  yaml_parser_delete(&p);
  return docs;
}

static const cJSON *jget(const cJSON *j, const char *dotted) {
  char buf[256];
  snprintf(buf, sizeof(buf), "%s", dotted);
  const cJSON *cur = j;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
    cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
  return cur;
}

static const char *jstr(const cJSON *j, const char *dotted) { return cJSON_GetStringValue(jget(j, dotted)); }

/* The object of `kind` (and `name`, NULL = any) in a document array. */
static const cJSON *find_obj(const cJSON *docs, const char *kind, const char *name) {
  const cJSON *d;
  cJSON_ArrayForEach(d, docs) {
    const char *k = jstr(d, "kind"), *n = jstr(d, "metadata.name");
    if (k && !strcmp(k, kind) && (!name || (n && !strcmp(n, name)))) return d;
  }
  return NULL;
}

/* The epp container of the Deployment in docs. */
static const cJSON *epp_container(const cJSON *docs) {
  const cJSON *dep = find_obj(docs, "Deployment", NULL);
  ck_assert_msg(dep != NULL, "no Deployment rendered");
  const cJSON *c;
  cJSON_ArrayForEach(c, jget(dep, "spec.template.spec.containers")) {
    if (jstr(c, "name") && !strcmp(jstr(c, "name"), "epp")) return c;
  }
  ck_abort_msg("no epp container");
  return NULL;
}

/* -------------------------------------------------------------- scenarios */

#define ML "--set", "router.modelServers.matchLabels.app=vllm"

typedef struct scenario {
  const char *name;
  const char *args[24];   /* helm values arguments; "@CUSTOM@" = g_custom */
  const char *want[28];   /* substrings of the rendered output */
  const char *reject[12]; /* must not appear */
  bool gateway;           /* needs the Gateway API CRDs to apply */
  bool run_binary;        /* start switchyard with the rendered args */
} scenario_t;

static const scenario_t SCENARIOS[] = {
    {.name = "standalone",
     .args = {ML, "--set", "router.inferenceObjectives[0].name=premium", "--set",
              "router.inferenceObjectives[0].priority=10"},
     .want = {"\nkind: InferencePool\n", "- --pool-name=" REL "\n", "- --pool-namespace=" DRY_NS "\n",
              "failureMode: FailClose", "appProtocol: http\n", "name: " REL "-envoy\n", "- --health-checking\n",
              "- --grpc-port=9002\n", "- --grpc-health-port=9003\n", "- --metrics-port=9090\n",
              "- --config-file=/config/default-plugins.yaml\n", "service: inference-extension",
              "terminationGracePeriodSeconds: 130", "readOnlyRootFilesystem: true", "type: Recreate",
              "kind: InferenceObjective", "apiVersion: llm-d.ai/v1alpha2", "priority: 10",
              "request_body_mode: FULL_DUPLEX_STREAMED", "http_header_name: x-gateway-destination-endpoint",
              "type: ORIGINAL_DST", "UpstreamTlsContext", "name: grpc-ext-proc", "name: http-metrics",
              "fieldPath: metadata.namespace", "image: switchyard:0.1.0",
              "image: docker.io/envoyproxy/envoy:distroless-v1.39.3"},
     .reject = {"- --ha-enable-leader-election", "- --endpoint-selector", "- --secure-serving=false",
                "kind: GatewayClass", "kind: ServiceMonitor", "kind: PodDisruptionBudget", "x-upstream-host",
                "- --gateway-mode"},
     .run_binary = true},
    {.name = "selector",
     .args = {ML, "--set", "router.modelServers.matchLabels.tier=gpu", "--set", "router.inferencePool.create=false",
              "--set-json", "router.modelServers.targetPorts=[{\"number\":8000},{\"number\":8001}]", "--set",
              "router.inferenceObjectives[0].name=batch", "--set", "router.inferenceObjectives[0].priority=-1"},
     .want = {"- --endpoint-selector=app=vllm,tier=gpu\n", "- --endpoint-target-ports=8000,8001\n",
              "inference.networking.k8s.io/igw-mode: standalone", "kind: InferencePool\n    name: " REL "-epp\n",
              "priority: -1", "name: " REL "-envoy\n"},
     .reject = {"\nkind: InferencePool\n", "- --pool-name", "igw-mode: inferencepool"}},
    {.name = "gateway",
     .args = {"--set", "mode=gateway", ML, "--set", "gateway.create=true", "--set", "httpRoute.create=true"},
     .want = {"kind: GatewayClass", "controllerName: switchyard.dev/gateway-controller", "- --gateway-mode\n",
              "- --gateway-controller-name=switchyard.dev/gateway-controller\n", "- --gateway-listener-ports=8081\n",
              "kind: ClusterRole\n", "kind: ClusterRoleBinding", "\"gatewayclasses/status\"", "\"referencegrants\"",
              "\"endpointslices\"", "\"inferencepools/status\"", "kind: Gateway\n", "gatewayClassName: switchyard",
              "kind: HTTPRoute", "request: 300s", "\nkind: InferencePool\n", "kind: Role\n",
              "key: x-switchyard-listener-port, value: \"8081\"", "allow_all_routing: true", "allow_envoy: true",
              "cluster: original_destination_cluster_h2c"},
     .reject = {"- --pool-name", "- --endpoint-selector"},
     .gateway = true,
     .run_binary = true},
    {.name = "gateway-nopool",
     .args = {"--set", "mode=gateway", "--set", "router.inferencePool.create=false"},
     .want = {"kind: GatewayClass", "- --gateway-mode\n"},
     .reject = {"\nkind: InferencePool\n", "kind: HTTPRoute", "kind: Gateway\n", "- --endpoint-selector"},
     .gateway = true},
    {.name = "replicas3",
     .args = {ML, "--set", "router.epp.replicas=3", "--set", "pdb.enabled=true", "--set", "pdb.minAvailable=2"},
     .want = {"replicas: 3", "- --ha-enable-leader-election\n", "service: liveness", "service: readiness",
              "kind: PodDisruptionBudget", "minAvailable: 2", "resources: [\"leases\"]"},
     .reject = {"service: inference-extension"}},
    {.name = "custom",
     .args = {"-f", "@CUSTOM@"},
     .want = {"- --config-file=/config/my-plugins.yaml\n", "my-plugins.yaml: |", "- type: max-score-picker",
              "\"--max-request-body-bytes=16777216\"", "\"--v=3\"", "\"--disable-endpoint-subset-filter=true\"",
              "defaultEngine: \"sglang\"", "app: \"vllm\""},
     .reject = {"e+07", "- --config-file=/config/default-plugins.yaml"},
     .run_binary = true},
    {.name = "tls",
     .args = {ML, "--set", "router.epp.tls.secretName=sy-tls"},
     .want = {"- --cert-path=/etc/switchyard/tls\n", "secretName: sy-tls", "mountPath: /etc/switchyard/tls",
              "UpstreamTlsContext"},
     .reject = {"- --secure-serving=false"}},
    {.name = "epp-only",
     .args = {ML, "--set", "router.proxy.enabled=false", "--set", "router.epp.secureServing=false", "--set",
              "router.inferencePool.failureMode=FailOpen"},
     .want = {"- --secure-serving=false\n", "failureMode: FailOpen", "- --pool-name=" REL "\n",
              "name: grpc-ext-proc"},
     .reject = {"name: envoy", REL "-envoy", "- --health-checking", "name: http\n", "kind: GatewayClass",
                "UpstreamTlsContext"},
     .run_binary = true},
    {.name = "extras",
     .args = {ML, "--set", "router.modelServers.type=trtllm-serve", "--set", "router.modelServers.protocol=grpc",
              "--set", "router.monitoring.prometheus.enabled=true", "--set", "router.proxy.debugResponseHeaders=true",
              "--set", "router.proxy.failOpen=true", "--set", "router.service.type=LoadBalancer", "--set",
              "router.proxy.extProcHealthCheck=false"},
     .want = {"kind: ServiceMonitor", "port: http-metrics", "defaultEngine: \"trtllm-serve\"",
              "path: \"/prometheus/metrics\"", "appProtocol: kubernetes.io/h2c", "http2_protocol_options: {}",
              "x-upstream-host", "failure_mode_allow: true", "type: LoadBalancer"},
     .reject = {"- --health-checking", "grpc_health_check"},
     .run_binary = true},
};
#define N_SCENARIOS ((int)SY_ARRAY_LEN(SCENARIOS))

static void check_render(const scenario_t *s, const run_t *r) {
  ck_assert_msg(r->code == 0, "%s: helm template exit %d:\n%s", s->name, r->code, r->err);
  for (int i = 0; s->want[i]; i++)
    ck_assert_msg(strstr(r->out, s->want[i]), "%s: rendered output lacks \"%s\"", s->name, s->want[i]);
  for (int i = 0; s->reject[i]; i++)
    ck_assert_msg(!strstr(r->out, s->reject[i]), "%s: rendered output has \"%s\"", s->name, s->reject[i]);
}

START_TEST(test_lint) {
  const scenario_t *s = &SCENARIOS[_i];
  args_t a = {.n = 0};
  args_add(&a, g_helm);
  args_add(&a, "lint");
  args_add(&a, "--strict");
  args_add(&a, g_chart);
  args_add_list(&a, s->args);
  run_t r;
  run_argv(a.v, 60, &r);
  ck_assert_msg(r.code == 0, "%s: helm lint exit %d:\n%s\n%s", s->name, r.code, r.out, r.err);
  ck_assert_msg(strstr(r.out, "0 chart(s) failed"), "%s: %s", s->name, r.out);
  run_free(&r);
}
END_TEST

/* Renders, checks the text, parses it (no duplicate keys), and applies it
 * with --dry-run=server in a namespace enforcing Pod Security "restricted". */
START_TEST(test_template_and_dry_run) {
  const scenario_t *s = &SCENARIOS[_i];
  run_t r;
  helm_template(REL, DRY_NS, s->args, &r);
  check_render(s, &r);
  cJSON *docs = yaml_docs(r.out);
  ck_assert_int_gt(cJSON_GetArraySize(docs), 5);
  const cJSON *d;
  cJSON_ArrayForEach(d, docs) {
    ck_assert_msg(jstr(d, "apiVersion") && jstr(d, "kind") && jstr(d, "metadata.name"),
                  "%s: a document without apiVersion/kind/name", s->name);
    const char *ns = jstr(d, "metadata.namespace");
    ck_assert_msg(!ns || !strcmp(ns, DRY_NS), "%s: object in namespace %s", s->name, ns);
  }
  cJSON_Delete(docs);
  if (s->gateway && !g_have_gateway_crds) {
    fprintf(stderr, "helm test: %s: no Gateway API CRDs; dry-run skipped\n", s->name);
    run_free(&r);
    return;
  }
  char path[700];
  snprintf(path, sizeof(path), "%s/%s.yaml", g_tmp, s->name);
  ck_assert_int_eq(write_file(path, r.out), 0);
  run_free(&r);
  const char *argv[] = {g_kubectl, "--kubeconfig", g_kubeconfig, "apply", "--dry-run=server", "-f", path, NULL};
  run_argv(argv, 60, &r);
  ck_assert_msg(r.code == 0, "%s: kubectl apply --dry-run=server exit %d:\n%s\n%s", s->name, r.code, r.out, r.err);
  ck_assert_msg(!strstr(r.err, "PodSecurity") && !strstr(r.err, "Warning"), "%s: warnings:\n%s", s->name, r.err);
  ck_assert_msg(strstr(r.out, "deployment.apps/" REL "-epp created (server dry run)"), "%s: %s", s->name, r.out);
  run_free(&r);
}
END_TEST

/* The rendered switchyard args (ports made free, config files from the
 * rendered ConfigMap, objects from an empty manifests dir) start the real
 * binary: no unknown flag, and the EndpointPickerConfig loads. */
START_TEST(test_binary_accepts_render) {
  const scenario_t *s = &SCENARIOS[_i];
  if (!s->run_binary) return;
  if (!g_switchyard) {
    fprintf(stderr, "helm test: %s: SY_SWITCHYARD_BIN not set; binary check skipped\n", s->name);
    return;
  }
  run_t r;
  helm_template(REL, DRY_NS, s->args, &r);
  ck_assert_int_eq(r.code, 0);
  cJSON *docs = yaml_docs(r.out);
  run_free(&r);
  char dir[700], mdir[760];
  snprintf(dir, sizeof(dir), "%s/bin-%s", g_tmp, s->name);
  snprintf(mdir, sizeof(mdir), "%s/manifests", dir);
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  ck_assert_int_eq(mkdir(mdir, 0700), 0);
  const cJSON *cm = find_obj(docs, "ConfigMap", REL "-epp");
  ck_assert(cm != NULL);
  const cJSON *f;
  cJSON_ArrayForEach(f, jget(cm, "data")) {
    char p[1100];
    snprintf(p, sizeof(p), "%s/%s", dir, f->string);
    ck_assert_int_eq(write_file(p, cJSON_GetStringValue(f)), 0);
  }
  static char argbuf[64][1200];
  args_t a = {.n = 0};
  args_add(&a, g_switchyard);
  const cJSON *arg;
  int k = 0;
  cJSON_ArrayForEach(arg, jget(epp_container(docs), "args")) {
    const char *v = cJSON_GetStringValue(arg);
    ck_assert(v && k < 60);
    if (!strncmp(v, "--grpc-port=", 12) || !strncmp(v, "--grpc-health-port=", 19) ||
        !strncmp(v, "--metrics-port=", 15)) {
      snprintf(argbuf[k], sizeof(argbuf[k]), "%.*s0", (int)(strchr(v, '=') - v + 1), v);
    } else if (!strncmp(v, "--config-file=/config/", 22)) {
      snprintf(argbuf[k], sizeof(argbuf[k]), "--config-file=%s/%s", dir, v + 22);
    } else {
      snprintf(argbuf[k], sizeof(argbuf[k]), "%s", v);
    }
    args_add(&a, argbuf[k++]);
  }
  snprintf(argbuf[k], sizeof(argbuf[k]), "--manifests=%s", mdir);
  args_add(&a, argbuf[k++]);
  args_add(&a, "--listen-address=127.0.0.1");
  cJSON_Delete(docs);

  char log[800];
  snprintf(log, sizeof(log), "%s/switchyard.log", dir);
  sy_proc_t p;
  ck_assert_int_eq(sy_proc_spawn(&p, "switchyard", (char *const *)a.v, NULL, log), 0);
  bool ready = false;
  for (int i = 0; i < 200 && !ready && sy_proc_alive(&p); i++) {
    char *text = sy_test_read_file(log, NULL);
    ready = text && strstr(text, "switchyard ready");
    sy_free(text);
    if (!ready) sy_sleep_ms(50);
  }
  if (!ready) sy_proc_dump_log(&p, 30);
  int code = sy_proc_stop(&p, 5000);
  ck_assert_msg(ready, "%s: switchyard did not start with the rendered args (exit %d)", s->name, code);
  ck_assert_int_eq(code, 0);
}
END_TEST

/* Values the chart must refuse, and the message that says why. */
typedef struct bad_values {
  const char *args[12];
  const char *message;
} bad_values_t;

static const bad_values_t BAD[] = {
    {{"--set", "router.epp.replicas=1"}, "router.modelServers.matchLabels is required"},
    {{"--set", "mode=bogus", ML}, "value must be one of 'standalone', 'gateway'"},
    {{"--set", "inferenceExtension.replicas=2", ML}, "additional properties 'inferenceExtension' not allowed"},
    {{ML, "--set", "router.modelServers.type=triton"}, "/router/modelServers/type"},
    {{ML, "--set", "router.inferencePool.failureMode=FailClosed"}, "/router/inferencePool/failureMode"},
    {{ML, "--set", "router.epp.pluginsConfigFile=nope.yaml"}, "neither default-plugins.yaml"},
    {{"--set", "mode=gateway", ML, "--set", "router.inferencePool.create=false", "--set", "httpRoute.create=true"},
     "needs router.inferencePool.create"},
    {{ML, "--set-json", "router.modelServers.targetPorts=[]"}, "1 to 8 ports"},
    {{ML, "--set", "router.proxy.enabled=false", "--set", "router.inferencePool.create=false"}, "serves nobody"},
    {{ML, "--set", "router.epp.extProcPort=70000"}, "/router/epp/extProcPort"},
    {{ML, "--set", "router.epp.flags.secure-serving=false"}, "use router.epp.secureServing"},
    {{ML, "--set", "router.epp.flags.grpc-port=9100"}, "use router.epp.extProcPort"},
};

START_TEST(test_bad_values) {
  const bad_values_t *b = &BAD[_i];
  run_t r;
  helm_template(REL, DRY_NS, b->args, &r);
  ck_assert_msg(r.code != 0, "case %d rendered:\n%.400s", _i, r.out);
  ck_assert_msg(strstr(r.err, b->message), "case %d: stderr lacks \"%s\":\n%s", _i, b->message, r.err);
  run_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ RBAC */

static cJSON *role_rules_from_file(void) {
  char path[700];
  snprintf(path, sizeof(path), "%s/config/rbac/role.yaml", g_src);
  char *text = sy_test_read_file(path, NULL);
  ck_assert_msg(text != NULL, "cannot read %s", path);
  cJSON *docs = yaml_docs(text);
  sy_free(text);
  const cJSON *role = find_obj(docs, "Role", NULL);
  ck_assert(role != NULL);
  cJSON *rules = cJSON_Duplicate(jget(role, "rules"), true);
  cJSON_Delete(docs);
  ck_assert(rules && cJSON_GetArraySize(rules) >= 4);
  return rules;
}

static void expect_same_rules(const cJSON *want, const cJSON *got, const char *what) {
  char *w = cJSON_PrintUnformatted(want), *g = cJSON_PrintUnformatted(got);
  bool same = cJSON_Compare(want, got, true);
  ck_assert_msg(same, "%s: Role rules differ from config/rbac/role.yaml\nwant %s\ngot  %s", what, w, g ? g : "(none)");
  cJSON_free(w);
  cJSON_free(g);
}

START_TEST(test_role_equals_config_rbac) {
  cJSON *want = role_rules_from_file();
  static const char *const modes[][12] = {
      {ML, NULL},
      {ML, "--set", "router.inferencePool.create=false", NULL},
      {"--set", "mode=gateway", ML, NULL},
      {ML, "--set", "router.epp.replicas=1", "--set", "router.proxy.enabled=false", NULL},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(modes); i++) {
    const char *extra[16];
    int n = 0;
    for (int j = 0; modes[i][j]; j++) extra[n++] = modes[i][j];
    extra[n++] = "--show-only";
    extra[n++] = "templates/rbac.yaml";
    extra[n] = NULL;
    run_t r;
    helm_template(REL, DRY_NS, extra, &r);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cJSON *docs = yaml_docs(r.out);
    const cJSON *role = find_obj(docs, "Role", REL "-epp");
    ck_assert(role != NULL);
    expect_same_rules(want, jget(role, "rules"), "rendered");
    const cJSON *rb = find_obj(docs, "RoleBinding", REL "-epp");
    ck_assert(rb && !strcmp(jstr(rb, "roleRef.name"), REL "-epp"));
    const cJSON *subj = cJSON_GetArrayItem(jget(rb, "subjects"), 0);
    ck_assert_str_eq(jstr(subj, "name"), REL "-epp");
    ck_assert_str_eq(jstr(subj, "namespace"), DRY_NS);
    cJSON_Delete(docs);
    run_free(&r);
  }
  cJSON_Delete(want);
}
END_TEST

/* ------------------------------------------------------------- manifests */

START_TEST(test_manifests_fresh) {
  char script[700];
  snprintf(script, sizeof(script), "%s/hack/render-manifests.sh", g_src);
  const char *argv[] = {script, "--check", NULL};
  run_t r;
  run_argv(argv, 120, &r);
  ck_assert_msg(r.code == 0, "manifests/ or crds/ drifted from the chart (exit %d); run hack/render-manifests.sh\n%s",
                r.code, r.err);
  run_free(&r);
}
END_TEST

START_TEST(test_manifests_dry_run) {
  static const char *const files[] = {"standalone.yaml", "standalone-selector.yaml", "epp.yaml", "gateway.yaml"};
  for (size_t i = 0; i < SY_ARRAY_LEN(files); i++) {
    if (!strcmp(files[i], "gateway.yaml") && !g_have_gateway_crds) continue;
    char path[800];
    snprintf(path, sizeof(path), "%s/manifests/%s", g_src, files[i]);
    const char *argv[] = {g_kubectl, "--kubeconfig", g_kubeconfig, "apply", "--dry-run=server", "-f", path, NULL};
    run_t r;
    run_argv(argv, 60, &r);
    ck_assert_msg(r.code == 0, "%s: exit %d\n%s\n%s", files[i], r.code, r.out, r.err);
    ck_assert_msg(strstr(r.out, "deployment.apps/switchyard-epp created (server dry run)"), "%s: %s", files[i], r.out);
    run_free(&r);
  }
}
END_TEST

/* ----------------------------------------------------------------- Envoy */

/* The bare bootstrap (envoyBootstrapOnly) for the given extra values. */
static char *render_bootstrap(const char *const *extra) {
  args_t a = {.n = 0};
  args_add(&a, "--set");
  args_add(&a, "envoyBootstrapOnly=true");
  args_add_list(&a, extra);
  run_t r;
  helm_template("t", "default", a.v, &r);
  ck_assert_msg(r.code == 0, "%s", r.err);
  ck_assert_msg(!strstr(r.out, "kind:"), "envoyBootstrapOnly rendered Kubernetes objects");
  sy_free(r.err);
  return r.out;
}

/* Drops helm's "---" and "# Source:" header lines and trailing newlines. */
static const char *strip_helm_header(char *text) {
  char *p = text;
  while (!strncmp(p, "---\n", 4) || !strncmp(p, "# Source:", 9)) {
    char *nl = strchr(p, '\n');
    if (!nl) break;
    p = nl + 1;
  }
  size_t n = strlen(p);
  while (n && p[n - 1] == '\n') p[--n] = '\0';
  return p;
}

START_TEST(test_envoy_configmap_is_bootstrap) {
  static const char *const variants[][8] = {
      {NULL},
      {"--set", "router.epp.secureServing=false", "--set", "router.proxy.listenerPort=9000", NULL},
      {"--set", "mode=gateway", NULL},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(variants); i++) {
    const char *extra[16] = {ML};
    int n = 2;
    for (int j = 0; variants[i][j]; j++) extra[n++] = variants[i][j];
    extra[n] = NULL;
    char *bare = render_bootstrap(extra);
    extra[n++] = "--show-only";
    extra[n++] = "templates/envoy-configmap.yaml";
    extra[n] = NULL;
    run_t r;
    helm_template("t", "default", extra, &r);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cJSON *docs = yaml_docs(r.out);
    const cJSON *cm = find_obj(docs, "ConfigMap", "t-envoy");
    ck_assert(cm != NULL);
    const char *data = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jget(cm, "data"), "envoy.yaml"));
    ck_assert(data != NULL);
    char *in_cm = sy_strdup(data);
    const char *a = strip_helm_header(bare), *b = strip_helm_header(in_cm);
    ck_assert_msg(!strcmp(a, b), "ConfigMap envoy.yaml differs from the envoyBootstrapOnly render");
    ck_assert(strstr(a, "FULL_DUPLEX_STREAMED"));
    sy_free(in_cm);
    cJSON_Delete(docs);
    run_free(&r);
    sy_free(bare);
  }
}
END_TEST

static bool need_envoy(void) {
  if (g_envoy) return true;
  ck_assert_msg(!g_require, "SY_ENVOY_BIN is required (SY_E2E_REQUIRE=1)");
  fprintf(stderr, "helm test: SY_ENVOY_BIN not set; Envoy checks skipped\n");
  return false;
}

START_TEST(test_envoy_validates) {
  if (!need_envoy()) return;
  static const char *const variants[][12] = {
      {NULL},
      {"--set", "router.epp.secureServing=false", NULL},
      {"--set", "router.proxy.debugResponseHeaders=true", "--set", "router.modelServers.protocol=grpc", "--set",
       "router.proxy.failOpen=true", "--set", "router.proxy.extProcHealthCheck=false", NULL},
      {"--set", "mode=gateway", "--set", "router.proxy.debugResponseHeaders=true", NULL},
      {"--set", "mode=gateway", "--set", "router.epp.secureServing=false", NULL},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(variants); i++) {
    char *boot = render_bootstrap(variants[i]);
    char path[700];
    snprintf(path, sizeof(path), "%s/envoy-%zu.yaml", g_tmp, i);
    ck_assert_int_eq(write_file(path, boot), 0);
    sy_free(boot);
    const char *argv[] = {g_envoy, "--mode", "validate", "-c", path, "--disable-hot-restart", NULL};
    run_t r;
    run_argv(argv, 60, &r);
    ck_assert_msg(r.code == 0, "envoy --mode validate (variant %zu) exit %d:\n%s\n%s", i, r.code, r.out, r.err);
    run_free(&r);
  }
}
END_TEST

/* A real Envoy on free loopback ports from the rendered bootstrap: /ready
 * answers, its metrics are served, and without an EPP a request fails
 * closed (ext_proc unreachable, failure_mode_allow false). */
START_TEST(test_envoy_runs) {
  if (!need_envoy()) return;
  int ports[4];
  ck_assert_int_eq(sy_port_free_distinct("127.0.0.1", ports, 4), 0);
  char listener[64], ready[64], admin[64], epp[64];
  snprintf(listener, sizeof(listener), "router.proxy.listenerPort=%d", ports[0]);
  snprintf(ready, sizeof(ready), "router.proxy.readyPort=%d", ports[1]);
  snprintf(admin, sizeof(admin), "router.proxy.adminPort=%d", ports[2]);
  snprintf(epp, sizeof(epp), "router.epp.extProcPort=%d", ports[3]);
  const char *extra[] = {"--set", "router.proxy.listenAddress=127.0.0.1", "--set", listener, "--set", ready,
                         "--set", admin, "--set", epp, "--set", "router.epp.secureServing=false", NULL};
  char *boot = render_bootstrap(extra);
  char path[700], log[700];
  snprintf(path, sizeof(path), "%s/envoy-run.yaml", g_tmp);
  snprintf(log, sizeof(log), "%s/envoy-run.log", g_tmp);
  ck_assert_int_eq(write_file(path, boot), 0);
  sy_free(boot);
  const char *argv[] = {g_envoy, "-c", path, "--concurrency", "1", "--disable-hot-restart",
                        "--log-level", "warn", NULL};
  sy_proc_t p;
  ck_assert_int_eq(sy_proc_spawn(&p, "envoy", (char *const *)argv, NULL, log), 0);
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", ports[1]);
  int rc = sy_wait_http_200(url, 30000, &p);
  if (rc != 0) sy_proc_dump_log(&p, 40);
  ck_assert_msg(rc == 0, "Envoy /ready on %d: %d", ports[1], rc);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/stats/prometheus", ports[1]);
  ck_assert_int_eq(sy_http_get_status(url, 5000), 200);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/models", ports[0]);
  long code = sy_http_get_status(url, 10000);
  ck_assert_msg(code >= 500, "no EPP: want a 5xx (fail closed), got %ld", code);
  ck_assert(sy_proc_alive(&p));
  sy_proc_stop(&p, 5000);
}
END_TEST

/* -------------------------------------------------------- install/upgrade */

static long get(const char *path, cJSON **out) {
  char *resp = NULL;
  long code = sy_kubeapi_request(&g_k, NULL, "GET", path, NULL, NULL, &resp);
  if (out) *out = code == 200 && resp ? cJSON_Parse(resp) : NULL;
  sy_free(resp);
  return code;
}

static void expect_exists(const char *path) {
  long code = get(path, NULL);
  ck_assert_msg(code == 200, "GET %s: HTTP %ld", path, code);
}

static bool args_have(const cJSON *container, const char *arg) {
  const cJSON *a;
  cJSON_ArrayForEach(a, jget(container, "args")) {
    if (cJSON_GetStringValue(a) && !strcmp(cJSON_GetStringValue(a), arg)) return true;
  }
  return false;
}

static const cJSON *deploy_epp(const cJSON *dep) {
  const cJSON *c;
  cJSON_ArrayForEach(c, jget(dep, "spec.template.spec.containers")) {
    if (jstr(c, "name") && !strcmp(jstr(c, "name"), "epp")) return c;
  }
  return NULL;
}

static void helm_cmd(const char *verb, const char *release, const char *ns, const char *const *extra) {
  args_t a = {.n = 0};
  args_add(&a, g_helm);
  args_add(&a, verb);
  args_add(&a, release);
  if (strcmp(verb, "uninstall") != 0) args_add(&a, g_chart);
  args_add(&a, "--namespace");
  args_add(&a, ns);
  args_add(&a, "--kubeconfig");
  args_add(&a, g_kubeconfig);
  args_add_list(&a, extra);
  run_t r;
  run_argv(a.v, 120, &r);
  ck_assert_msg(r.code == 0, "helm %s %s: exit %d\n%s\n%s", verb, release, r.code, r.out, r.err);
  run_free(&r);
}

START_TEST(test_install_upgrade) {
  static const char *const v1[] = {ML, "--set", "router.inferenceObjectives[0].name=premium", "--set",
                                   "router.inferenceObjectives[0].priority=10", NULL};
  helm_cmd("install", REL, INSTALL_NS, v1);
  expect_exists("/api/v1/namespaces/" INSTALL_NS "/serviceaccounts/" REL "-epp");
  expect_exists("/api/v1/namespaces/" INSTALL_NS "/services/" REL "-epp");
  expect_exists("/api/v1/namespaces/" INSTALL_NS "/configmaps/" REL "-epp");
  expect_exists("/api/v1/namespaces/" INSTALL_NS "/configmaps/" REL "-envoy");
  expect_exists("/apis/rbac.authorization.k8s.io/v1/namespaces/" INSTALL_NS "/rolebindings/" REL "-epp");
  expect_exists("/apis/inference.networking.k8s.io/v1/namespaces/" INSTALL_NS "/inferencepools/" REL);
  expect_exists("/apis/llm-d.ai/v1alpha2/namespaces/" INSTALL_NS "/inferenceobjectives/premium");
  expect_exists("/api/v1/namespaces/" INSTALL_NS "/secrets/sh.helm.release.v1." REL ".v1");

  /* The Role as the API server stored it equals config/rbac/role.yaml's. */
  cJSON *role = NULL, *want = role_rules_from_file();
  ck_assert_int_eq(get("/apis/rbac.authorization.k8s.io/v1/namespaces/" INSTALL_NS "/roles/" REL "-epp", &role), 200);
  expect_same_rules(want, jget(role, "rules"), "installed");
  cJSON_Delete(role);
  cJSON_Delete(want);

  cJSON *pool = NULL;
  ck_assert_int_eq(get("/apis/inference.networking.k8s.io/v1/namespaces/" INSTALL_NS "/inferencepools/" REL, &pool),
                   200);
  ck_assert_str_eq(jstr(pool, "spec.endpointPickerRef.name"), REL "-epp");
  ck_assert_str_eq(jstr(pool, "spec.selector.matchLabels.app"), "vllm");
  cJSON_Delete(pool);

  cJSON *dep = NULL;
  ck_assert_int_eq(get("/apis/apps/v1/namespaces/" INSTALL_NS "/deployments/" REL "-epp", &dep), 200);
  ck_assert_int_eq(cJSON_GetNumberValue(jget(dep, "spec.replicas")), 1);
  ck_assert(args_have(deploy_epp(dep), "--pool-name=" REL));
  ck_assert(!args_have(deploy_epp(dep), "--ha-enable-leader-election"));
  cJSON_Delete(dep);

  static const char *const v2[] = {ML, "--set", "router.epp.replicas=3", "--set", "pdb.enabled=true", NULL};
  helm_cmd("upgrade", REL, INSTALL_NS, v2);
  expect_exists("/api/v1/namespaces/" INSTALL_NS "/secrets/sh.helm.release.v1." REL ".v2");
  expect_exists("/apis/policy/v1/namespaces/" INSTALL_NS "/poddisruptionbudgets/" REL "-epp");
  ck_assert_int_eq(get("/apis/llm-d.ai/v1alpha2/namespaces/" INSTALL_NS "/inferenceobjectives/premium", NULL), 404);
  ck_assert_int_eq(get("/apis/apps/v1/namespaces/" INSTALL_NS "/deployments/" REL "-epp", &dep), 200);
  ck_assert_int_eq(cJSON_GetNumberValue(jget(dep, "spec.replicas")), 3);
  ck_assert(args_have(deploy_epp(dep), "--ha-enable-leader-election"));
  ck_assert_str_eq(jstr(deploy_epp(dep), "readinessProbe.grpc.service"), "readiness");
  cJSON_Delete(dep);

  helm_cmd("uninstall", REL, INSTALL_NS, NULL);
  ck_assert_int_eq(get("/apis/apps/v1/namespaces/" INSTALL_NS "/deployments/" REL "-epp", NULL), 404);
  ck_assert_int_eq(get("/apis/inference.networking.k8s.io/v1/namespaces/" INSTALL_NS "/inferencepools/" REL, NULL),
                   404);
}
END_TEST

START_TEST(test_install_gateway_mode) {
  if (!g_have_gateway_crds) {
    ck_assert_msg(!g_require, "Gateway API CRDs are required (SY_E2E_REQUIRE=1)");
    return;
  }
  static const char *const v[] = {"--set", "mode=gateway", ML, "--set", "gateway.create=true", "--set",
                                  "httpRoute.create=true", NULL};
  helm_cmd("install", "gw", GW_NS, v);
  expect_exists("/apis/gateway.networking.k8s.io/v1/gatewayclasses/switchyard");
  expect_exists("/apis/gateway.networking.k8s.io/v1/namespaces/" GW_NS "/gateways/gw");
  expect_exists("/apis/gateway.networking.k8s.io/v1/namespaces/" GW_NS "/httproutes/gw");
  expect_exists("/apis/rbac.authorization.k8s.io/v1/clusterroles/gw-" GW_NS "-epp");
  expect_exists("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/gw-" GW_NS "-epp");
  expect_exists("/apis/rbac.authorization.k8s.io/v1/namespaces/" GW_NS "/roles/gw-epp");
  cJSON *gc = NULL;
  ck_assert_int_eq(get("/apis/gateway.networking.k8s.io/v1/gatewayclasses/switchyard", &gc), 200);
  ck_assert_str_eq(jstr(gc, "spec.controllerName"), "switchyard.dev/gateway-controller");
  cJSON_Delete(gc);
  helm_cmd("uninstall", "gw", GW_NS, NULL);
  ck_assert_int_eq(get("/apis/gateway.networking.k8s.io/v1/gatewayclasses/switchyard", NULL), 404);
  ck_assert_int_eq(get("/apis/rbac.authorization.k8s.io/v1/clusterroles/gw-" GW_NS "-epp", NULL), 404);
}
END_TEST

/* ----------------------------------------------------------------- setup */

/* A stand-in for prometheus-operator's CRD: the API server then accepts
 * ServiceMonitor objects (their schema is not checked). */
static const char SERVICEMONITOR_CRD[] =
    "apiVersion: apiextensions.k8s.io/v1\n"
    "kind: CustomResourceDefinition\n"
    "metadata:\n"
    "  name: servicemonitors.monitoring.coreos.com\n"
    "spec:\n"
    "  group: monitoring.coreos.com\n"
    "  scope: Namespaced\n"
    "  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}\n"
    "  versions:\n"
    "  - name: v1\n"
    "    served: true\n"
    "    storage: true\n"
    "    schema:\n"
    "      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n";

static const char CUSTOM_VALUES[] =
    "router:\n"
    "  modelServers:\n"
    "    matchLabels: {app: vllm}\n"
    "    type: sglang\n"
    "  epp:\n"
    "    pluginsConfigFile: my-plugins.yaml\n"
    "    pluginsCustomConfig:\n"
    "      my-plugins.yaml: |\n"
    "        apiVersion: llm-d.ai/v1alpha1\n"
    "        kind: EndpointPickerConfig\n"
    "        plugins:\n"
    "        - type: queue-scorer\n"
    "        - type: max-score-picker\n"
    "        schedulingProfiles:\n"
    "        - name: default\n"
    "          plugins:\n"
    "          - pluginRef: queue-scorer\n"
    "          - pluginRef: max-score-picker\n"
    "    flags:\n"
    "      max-request-body-bytes: 16777216\n"
    "      v: 3\n"
    "      disable-endpoint-subset-filter: true\n";

static int apply_dir(const char *dir) {
  char pat[700];
  snprintf(pat, sizeof(pat), "%s/*.yaml", dir);
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0) {
    fprintf(stderr, "helm test: no YAML in %s\n", dir);
    return -1;
  }
  int rc = 0;
  for (size_t i = 0; i < g.gl_pathc && !rc; i++) rc = sy_kubeapi_apply_yaml_file(&g_k, g.gl_pathv[i]);
  globfree(&g);
  return rc;
}

/* $SY_UPSTREAM_GATEWAY_CRDS, else `$SY_UPSTREAM_CRDS_SCRIPT SY_UPSTREAM_GATEWAY_CRDS`. */
static bool gateway_crds_dir(char *out, size_t n) {
  const char *d = getenv("SY_UPSTREAM_GATEWAY_CRDS");
  if (d && *d) {
    snprintf(out, n, "%s", d);
    return true;
  }
  const char *script = getenv("SY_UPSTREAM_CRDS_SCRIPT");
  if (!script || !*script) return false;
  const char *argv[] = {script, "SY_UPSTREAM_GATEWAY_CRDS", NULL};
  run_t r;
  run_argv(argv, 300, &r);
  bool ok = r.code == 0 && r.out[0];
  if (ok) {
    snprintf(out, n, "%s", r.out);
    out[strcspn(out, "\n")] = '\0';
  } else {
    fprintf(stderr, "helm test: %s failed (%d):\n%s\n", script, r.code, r.err);
  }
  run_free(&r);
  return ok;
}

static int setup(void) {
  if (sy_kubeapi_write_kubeconfig(&g_k, NULL, g_kubeconfig) != 0) return 1;
  char dir[700];
  snprintf(dir, sizeof(dir), "%s/config/crd", g_src);
  if (apply_dir(dir) != 0) return 1;
  if (sy_kubeapi_apply_yaml(&g_k, SERVICEMONITOR_CRD) != 0) return 1;
  char gw[600];
  if (gateway_crds_dir(gw, sizeof(gw))) {
    if (apply_dir(gw) != 0) return 1;
    g_have_gateway_crds = true;
  } else if (g_require) {
    fprintf(stderr, "helm test: Gateway API CRDs not found (SY_UPSTREAM_GATEWAY_CRDS)\n");
    return 1;
  } else {
    fprintf(stderr, "helm test: Gateway API CRDs not found; gateway-mode apply checks skipped\n");
  }
  /* Pod Security "restricted" is enforced (and warned about) here, so the
   * chart's pod spec must satisfy it. */
  char *resp = NULL;
  long code = sy_kubeapi_request(
      &g_k, NULL, "POST", "/api/v1/namespaces", "application/json",
      "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" DRY_NS "\",\"labels\":{"
      "\"pod-security.kubernetes.io/enforce\":\"restricted\",\"pod-security.kubernetes.io/warn\":\"restricted\","
      "\"pod-security.kubernetes.io/audit\":\"restricted\"}}}",
      &resp);
  sy_free(resp);
  if (code != 201) {
    fprintf(stderr, "helm test: create namespace " DRY_NS ": HTTP %ld\n", code);
    return 1;
  }
  if (sy_kubeapi_create_namespace(&g_k, INSTALL_NS) != 0 || sy_kubeapi_create_namespace(&g_k, GW_NS) != 0) return 1;
  int rc = sy_kubeapi_create_namespace(&g_k, "default");
  if (rc != 0 && rc != -EEXIST) return 1;
  return 0;
}

static Suite *helm_suite(void) {
  Suite *s = suite_create("helm");
  TCase *render = tcase_create("render");
  tcase_add_loop_test(render, test_lint, 0, N_SCENARIOS);
  tcase_add_loop_test(render, test_template_and_dry_run, 0, N_SCENARIOS);
  tcase_add_loop_test(render, test_binary_accepts_render, 0, N_SCENARIOS);
  tcase_add_loop_test(render, test_bad_values, 0, (int)SY_ARRAY_LEN(BAD));
  tcase_add_test(render, test_role_equals_config_rbac);
  suite_add_tcase(s, render);
  TCase *manifests = tcase_create("manifests");
  tcase_add_test(manifests, test_manifests_fresh);
  tcase_add_test(manifests, test_manifests_dry_run);
  suite_add_tcase(s, manifests);
  TCase *envoy = tcase_create("envoy");
  tcase_add_test(envoy, test_envoy_configmap_is_bootstrap);
  tcase_add_test(envoy, test_envoy_validates);
  tcase_add_test(envoy, test_envoy_runs);
  suite_add_tcase(s, envoy);
  TCase *install = tcase_create("install");
  tcase_add_test(install, test_install_upgrade);
  tcase_add_test(install, test_install_gateway_mode);
  suite_add_tcase(s, install);
  return s;
}

static bool executable(const char *p) { return p && *p && access(p, X_OK) == 0; }

int main(void) {
  g_require = getenv("SY_E2E_REQUIRE") && !strcmp(getenv("SY_E2E_REQUIRE"), "1");
  const char *helm = getenv("SY_HELM");
  const char *tools = sy_kubeapi_tools_dir();
  if (!executable(helm) || !tools) {
    fprintf(stderr, "helm test: needs SY_HELM (hack/helm.sh) and SY_KUBE_TOOLS (hack/kube-tools.sh)%s\n",
            g_require ? "" : "; skipped");
    return g_require ? 1 : SY_KUBEAPI_SKIP;
  }
  snprintf(g_helm, sizeof(g_helm), "%s", helm);
  snprintf(g_kubectl, sizeof(g_kubectl), "%s/bin/kubectl", tools);
  if (!executable(g_kubectl)) {
    fprintf(stderr, "helm test: %s is missing (rerun hack/kube-tools.sh)\n", g_kubectl);
    return g_require ? 1 : SY_KUBEAPI_SKIP;
  }
  const char *src = getenv("SY_SOURCE_DIR");
  snprintf(g_src, sizeof(g_src), "%s", src && *src ? src : ".");
  snprintf(g_chart, sizeof(g_chart), "%s/helm/switchyard", g_src);
  g_envoy = executable(getenv("SY_ENVOY_BIN")) ? getenv("SY_ENVOY_BIN") : NULL;
  g_switchyard = executable(getenv("SY_SWITCHYARD_BIN")) ? getenv("SY_SWITCHYARD_BIN") : NULL;

  if (sy_tmpdir_make("sy-helm-", g_tmp, sizeof(g_tmp)) != 0) return 1;
  /* helm keeps its caches and config here, not in $HOME. */
  char d[700];
  static const char *const helm_dirs[] = {"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"};
  for (size_t i = 0; i < SY_ARRAY_LEN(helm_dirs); i++) {
    snprintf(d, sizeof(d), "%s/%s", g_tmp, helm_dirs[i]);
    mkdir(d, 0700);
    setenv(helm_dirs[i], d, 1);
  }
  setenv("HELM", g_helm, 1); /* for hack/render-manifests.sh */
  snprintf(g_kubeconfig, sizeof(g_kubeconfig), "%s/kubeconfig", g_tmp);
  snprintf(g_custom, sizeof(g_custom), "%s/custom-values.yaml", g_tmp);
  if (write_file(g_custom, CUSTOM_VALUES) != 0) return 1;

  int rc = sy_kubeapi_start(&g_k);
  if (rc == SY_KUBEAPI_SKIP) {
    sy_tmpdir_remove(g_tmp);
    return SY_KUBEAPI_SKIP;
  }
  if (rc != 0) return 1;
  fprintf(stderr, "helm test: apiserver %s ready in %.2f s\n", g_k.server, g_k.last_start_s);
  int failed = setup();
  if (failed == 0) failed = sy_test_run(helm_suite());
  if (failed) sy_kubeapi_dump_logs(&g_k, 20);
  sy_kubeapi_stop(&g_k);
  sy_tmpdir_remove(g_tmp);
  return failed ? 1 : 0;
}
