/* Unit tests for lib/source: decoding, validation, loading, watching. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "source.h"
#include "test_support.h"

/* ---------------------------------------------------------------- helpers */

static sy_objset_t *load_ok(const char *text) {
  sy_objset_t *set = NULL;
  sy_source_error_t err;
  int rc = sy_manifests_load_buffer("m.yaml", text, strlen(text), &set, &err);
  ck_assert_msg(rc == 0, "load failed: %d %s:%d:%d: %s", rc, err.file, err.line, err.column,
                err.msg);
  return set;
}

static int load_err(const char *text, sy_source_error_t *err) {
  sy_objset_t *set = (sy_objset_t *)1;
  memset(err, 0, sizeof(*err));
  int rc = sy_manifests_load_buffer("m.yaml", text, strlen(text), &set, err);
  ck_assert_msg(rc != 0, "load unexpectedly succeeded: %s", text);
  ck_assert_ptr_null(set);
  return rc;
}

static const sy_pod_t *find_pod(const sy_objset_t *set, const char *name) {
  for (size_t i = 0; i < set->n_pods; i++)
    if (strcmp(set->pods[i].meta.name, name) == 0) return &set->pods[i];
  return NULL;
}

#define POOL_HEAD                                   \
  "apiVersion: inference.networking.k8s.io/v1\n" /* 1 */ \
  "kind: InferencePool\n"                        /* 2 */ \
  "metadata:\n"                                  /* 3 */ \
  "  name: pool\n"                               /* 4 */

/* A valid pool; cases below vary one thing. */
#define POOL_VALID                 \
  POOL_HEAD                        \
  "spec:\n"              /* 5 */  \
  "  selector:\n"        /* 6 */  \
  "    matchLabels:\n"   /* 7 */  \
  "      app: x\n"       /* 8 */  \
  "  targetPorts:\n"     /* 9 */  \
  "    - number: 8000\n" /* 10 */

#define POD_HEAD      \
  "apiVersion: v1\n"  \
  "kind: Pod\n"       \
  "metadata:\n"       \
  "  name: vllm-1\n"

/* ----------------------------------------------------------------- decode */

START_TEST(test_pool_full) {
  sy_objset_t *set = load_ok(POOL_HEAD
                             "  namespace: ml\n"
                             "  uid: 1234-abcd\n"
                             "  labels: {team: serving, app.kubernetes.io/name: pool}\n"
                             "  annotations: {note: \"any text, even spaces\"}\n"
                             "spec:\n"
                             "  selector:\n"
                             "    matchLabels:\n"
                             "      app: vllm\n"
                             "      example.com/tier: \"\"\n"
                             "  targetPorts: [{number: 8000}, {number: 8001}, {number: 65535}]\n"
                             "  appProtocol: kubernetes.io/h2c\n"
                             "  endpointPickerRef:\n"
                             "    group: \"\"\n"
                             "    name: pool-epp\n"
                             "    port: {number: 9002}\n"
                             "    failureMode: FailOpen\n");
  ck_assert_uint_eq(set->n_pools, 1);
  ck_assert_uint_eq(set->n_pods, 0);
  const sy_pool_t *p = &set->pools[0];
  ck_assert_str_eq(p->meta.name, "pool");
  ck_assert_str_eq(p->meta.namespace_name, "ml");
  ck_assert_str_eq(p->meta.uid, "1234-abcd");
  ck_assert_str_eq(p->meta.origin, "m.yaml:1");
  ck_assert(!p->meta.deleting);
  ck_assert_uint_eq(p->meta.n_labels, 2);
  ck_assert_str_eq(sy_labels_get(p->meta.labels, p->meta.n_labels, "app.kubernetes.io/name"),
                   "pool");
  ck_assert_str_eq(sy_labels_get(p->meta.annotations, p->meta.n_annotations, "note"),
                   "any text, even spaces");
  ck_assert_uint_eq(p->n_selector, 2);
  ck_assert_str_eq(p->selector[0].key, "app");
  ck_assert_str_eq(p->selector[0].value, "vllm");
  ck_assert_str_eq(p->selector[1].value, "");
  ck_assert_uint_eq(p->n_target_ports, 3);
  ck_assert_int_eq(p->target_ports[0], 8000);
  ck_assert_int_eq(p->target_ports[2], 65535);
  ck_assert_int_eq(p->app_protocol, SY_APP_PROTOCOL_H2C);
  ck_assert_str_eq(p->epp_group, "");
  ck_assert_str_eq(p->epp_kind, "Service");
  ck_assert_str_eq(p->epp_name, "pool-epp");
  ck_assert_int_eq(p->epp_port, 9002);
  ck_assert(p->epp_fail_open);
  sy_objset_free(set);
}
END_TEST

START_TEST(test_pool_defaults) {
  sy_objset_t *set = load_ok(POOL_VALID);
  const sy_pool_t *p = &set->pools[0];
  ck_assert_str_eq(p->meta.namespace_name, "default");
  ck_assert_ptr_null(p->meta.uid);
  ck_assert_uint_eq(p->meta.n_labels, 0);
  ck_assert_int_eq(p->app_protocol, SY_APP_PROTOCOL_HTTP);
  ck_assert_ptr_null(p->epp_name);
  ck_assert_int_eq(p->epp_port, 0);
  ck_assert(!p->epp_fail_open);
  sy_objset_free(set);

  /* explicit defaults, and a non-Service ref may omit the port */
  set = load_ok(POOL_VALID "  appProtocol: http\n"
                           "  endpointPickerRef:\n"
                           "    group: example.com\n"
                           "    kind: Gateway-Thing2\n"
                           "    name: epp\n"
                           "    failureMode: FailClose\n");
  p = &set->pools[0];
  ck_assert_int_eq(p->app_protocol, SY_APP_PROTOCOL_HTTP);
  ck_assert_str_eq(p->epp_kind, "Gateway-Thing2");
  ck_assert_str_eq(p->epp_group, "example.com");
  ck_assert_int_eq(p->epp_port, 0);
  ck_assert(!p->epp_fail_open);
  sy_objset_free(set);
}
END_TEST

/* One invalid manifest: where the error must point and what it must say. */
typedef struct bad_case {
  const char *yaml;
  int line;
  int column;
  const char *msg; /* exact when it starts with '=', else a substring */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    /* ---- metadata */
    {"apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nspec: {}\n", 1, 1,
     "=InferencePool: metadata: required"},
    {"apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: [a]\n", 3, 11,
     "=InferencePool: metadata: must be a mapping, not a sequence"},
    {"apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata:\n"
     "  namespace: ns\n",
     4, 3, "=InferencePool: metadata.name: required"},
    {"apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata:\n"
     "  name: Pool_1\n",
     4, 9, "InferencePool: metadata.name: \"Pool_1\" must be a lowercase RFC 1123 subdomain"},
    {"apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata:\n"
     "  name: 42\n",
     4, 9, "=InferencePool: metadata.name: must be a string, not an integer (quote it: \"42\")"},
    {"apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata:\n"
     "  name: p\n  namespace: My-NS\n",
     5, 14, "metadata.namespace: \"My-NS\" must be a lowercase RFC 1123 label"},
    {POOL_HEAD "  labels:\n    app: true\n", 6, 10,
     "=InferencePool default/pool: metadata.labels.app: must be a string, not a boolean (quote "
     "it: \"true\")"},
    {POOL_HEAD "  labels:\n    bad key: x\n", 6, 5,
     "InferencePool default/pool: metadata.labels.bad key: \"bad key\" not a valid label key"},
    /* ---- spec */
    {POOL_HEAD, 1, 1, "=InferencePool default/pool: spec: required"},
    {POOL_HEAD "spec:\n  targetPorts: [{number: 1}]\n", 6, 3,
     "=InferencePool default/pool: spec.selector: required"},
    {POOL_VALID "  targetPort: 8000\n", 11, 3,
     "=InferencePool default/pool: spec.targetPort: unknown field \"targetPort\""},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}, matchExpressions: []}\n"
               "  targetPorts: [{number: 1}]\n",
     6, 37, "spec.selector.matchExpressions: unknown field"},
    {POOL_HEAD "spec:\n  selector: {}\n  targetPorts: [{number: 1}]\n", 6, 13,
     "=InferencePool default/pool: spec.selector.matchLabels: required"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {}}\n  targetPorts: [{number: 1}]\n", 6, 27,
     "=InferencePool default/pool: spec.selector.matchLabels: must have 1 to 64 entries, has 0"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: 1}}\n  targetPorts: [{number: 1}]\n", 6,
     33, "spec.selector.matchLabels.app: must be a string, not an integer (quote it: \"1\")"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: -x}}\n  targetPorts: [{number: 1}]\n", 6,
     33, "spec.selector.matchLabels.app: \"-x\" not a valid label value"},
    {POOL_HEAD "spec:\n  selector:\n    matchLabels:\n"
               "      app: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
               "  targetPorts: [{number: 1}]\n",
     8, 12, "not a valid label value"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {Example.com/app: x}}\n"
               "  targetPorts: [{number: 1}]\n",
     6, 28, "spec.selector.matchLabels.Example.com/app: \"Example.com/app\" not a valid label key"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {example.com/: x}}\n"
               "  targetPorts: [{number: 1}]\n",
     6, 28, "not a valid label key"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {a/b/c: x}}\n  targetPorts: [{number: 1}]\n", 6,
     28, "not a valid label key"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}}\n", 6, 3,
     "=InferencePool default/pool: spec.targetPorts: required"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}}\n  targetPorts: []\n", 7, 16,
     "=InferencePool default/pool: spec.targetPorts: must have 1 to 8 items, has 0"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}}\n  targetPorts: [{number: 1}, "
               "{number: 2}, {number: 3}, {number: 4}, {number: 5}, {number: 6}, {number: 7}, "
               "{number: 8}, {number: 9}]\n",
     7, 16, "must have 1 to 8 items, has 9"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}}\n  targetPorts: {number: 1}\n", 7, 16,
     "=InferencePool default/pool: spec.targetPorts: must be a sequence, not a mapping"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}}\n  targetPorts:\n    - number: 0\n",
     8, 15, "=InferencePool default/pool: spec.targetPorts[0].number: must be between 1 and 65535, "
            "got \"0\""},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}}\n  targetPorts:\n    - number: 1\n"
               "    - number: 65536\n",
     9, 15, "spec.targetPorts[1].number: must be between 1 and 65535, got \"65536\""},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}}\n  targetPorts:\n"
               "    - number: \"8000\"\n",
     8, 15, "=InferencePool default/pool: spec.targetPorts[0].number: must be an integer, not a "
            "string \"8000\""},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}}\n  targetPorts:\n    - {}\n", 8, 7,
     "=InferencePool default/pool: spec.targetPorts[0].number: required"},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}}\n  targetPorts:\n    - number: 8000\n"
               "    - port: 8001\n",
     9, 7, "spec.targetPorts[1].port: unknown field \"port\""},
    {POOL_HEAD "spec:\n  selector: {matchLabels: {app: x}}\n  targetPorts:\n    - number: 8000\n"
               "    - number: 8001\n"
               "    - number: 8000\n",
     10, 15, "=InferencePool default/pool: spec.targetPorts[2].number: port number must be unique "
             "(8000)"},
    {POOL_VALID "  appProtocol: grpc\n", 11, 16,
     "=InferencePool default/pool: spec.appProtocol: must be \"http\" or \"kubernetes.io/h2c\", "
     "got \"grpc\""},
    /* ---- endpointPickerRef */
    {POOL_VALID "  endpointPickerRef:\n    name: epp\n", 12, 5,
     "=InferencePool default/pool: spec.endpointPickerRef: port is required when kind is "
     "'Service' or unspecified (defaults to 'Service')"},
    {POOL_VALID "  endpointPickerRef:\n    kind: Service\n    name: epp\n", 12, 5,
     "port is required when kind is 'Service' or unspecified (defaults to 'Service')"},
    {POOL_VALID "  endpointPickerRef:\n    port: {number: 9002}\n", 12, 5,
     "=InferencePool default/pool: spec.endpointPickerRef.name: required"},
    {POOL_VALID "  endpointPickerRef:\n    name: epp\n    port: {number: 0}\n", 13, 20,
     "spec.endpointPickerRef.port.number: must be between 1 and 65535"},
    {POOL_VALID "  endpointPickerRef:\n    name: epp\n    port: {}\n", 13, 11,
     "spec.endpointPickerRef.port.number: required"},
    {POOL_VALID "  endpointPickerRef:\n    name: epp\n    port: {number: 1}\n"
                "    failureMode: Open\n",
     14, 18, "spec.endpointPickerRef.failureMode: must be \"FailOpen\" or \"FailClose\", got \"Open\""},
    {POOL_VALID "  endpointPickerRef:\n    group: Bad_Group\n    name: epp\n    port: {number: 1}\n",
     12, 12, "spec.endpointPickerRef.group: \"Bad_Group\" must be a lowercase RFC 1123 subdomain"},
    {POOL_VALID "  endpointPickerRef:\n    kind: 1Service\n    name: epp\n", 12, 11,
     "spec.endpointPickerRef.kind: \"1Service\" must start with a letter"},
    {POOL_VALID "  endpointPickerRef:\n    name: \"\"\n    port: {number: 1}\n", 12, 11,
     "spec.endpointPickerRef.name: must be 1 to 253 characters long"},
    {POOL_VALID "  endpointPickerRef:\n    name: e\n    port: {number: 1}\n    namespace: x\n", 14,
     5, "spec.endpointPickerRef.namespace: unknown field"},
    /* ---- pods */
    {POD_HEAD "status:\n  podIP: 1.2.3\n", 6, 10,
     "=Pod default/vllm-1: status.podIP: not a valid IP address \"1.2.3\""},
    {POD_HEAD "status:\n  podIP: 10.0.0.256\n", 6, 10, "not a valid IP address \"10.0.0.256\""},
    {POD_HEAD "status:\n  podIP: \"fe80::1%eth0\"\n", 6, 10, "not a valid IP address"},
    {POD_HEAD "status:\n  podIP: [10.0.0.1]\n", 6, 10,
     "=Pod default/vllm-1: status.podIP: must be a string, not a sequence"},
    {POD_HEAD "status: running\n", 5, 9,
     "=Pod default/vllm-1: status: must be a mapping, not a string"},
    {POD_HEAD "status:\n  conditions: {type: Ready}\n", 6, 15,
     "=Pod default/vllm-1: status.conditions: must be a sequence, not a mapping"},
    {POD_HEAD "status:\n  conditions:\n    - type: Ready\n      status: True\n", 8, 15,
     "=Pod default/vllm-1: status.conditions[0].status: must be a string, not a boolean (quote "
     "it: \"True\")"},
    {POD_HEAD "status:\n  conditions:\n    - {type: PodScheduled, status: \"True\"}\n"
              "    - {type: Ready}\n",
     8, 7, "=Pod default/vllm-1: status.conditions[1].status: required"},
    {POD_HEAD "status:\n  conditions: [{status: \"True\"}]\n", 6, 16,
     "status.conditions[0].type: required"},
    {POD_HEAD "  labels:\n    app: \"has space\"\n", 6, 10, "not a valid label value"},
    {POD_HEAD "  annotations:\n    note: 5\n", 6, 11,
     "=Pod default/vllm-1: metadata.annotations.note: must be a string, not an integer (quote it: "
     "\"5\")"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"a\\0b\"\n", 4, 9,
     "metadata.name: must not contain NUL characters"},
    /* ---- documents */
    {"kind: Pod\nmetadata: {name: p}\n", 1, 1, "=document has no apiVersion"},
    {"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n# comment\napiVersion: v1\n"
     "metadata: {name: q}\n",
     6, 1, "=document has no kind"},
    {"just a string\n", 1, 1, "=document must be a mapping (a Kubernetes object), not a string"},
    {"- a\n- b\n", 1, 1, "=document must be a mapping (a Kubernetes object), not a sequence"},
    {"apiVersion: v1\nkind: 5\n", 2, 7, "document: kind: must be a string, not an integer (quote it: \"5\")"},
    {"apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n"
     "    metadata: {name: Bad}\n",
     6, 22, "Pod: metadata.name: \"Bad\" must be a lowercase RFC 1123 subdomain"},
    {"apiVersion: v1\nkind: List\nitems:\n  - 5\n", 4, 5, "=document must be a mapping (a Kubernetes object), not an integer"},
    /* ---- YAML errors surface with their position */
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {a: b\n", 6, 1,
     "did not find expected ',' or '}'"},
    {"a: 1\na: 2\n", 2, 1, "=duplicate mapping key \"a\" (first at line 1 column 1)"},
    /* ---- duplicates within one stream */
    {POD_HEAD "---\n" POD_HEAD "  namespace: default\n", 6, 1,
     "=Pod default/vllm-1: duplicate: already defined at m.yaml:1:1"},
};

START_TEST(test_bad_manifest) {
  const bad_case_t *c = &bad_cases[_i];
  sy_source_error_t err;
  load_err(c->yaml, &err);
  ck_assert_str_eq(err.file, "m.yaml");
  bool ok = c->msg[0] == '=' ? strcmp(err.msg, c->msg + 1) == 0 : strstr(err.msg, c->msg) != NULL;
  ck_assert_msg(ok, "case %d: got \"%s\", want \"%s\"", _i, err.msg, c->msg);
  ck_assert_msg(err.line == c->line && err.column == c->column,
                "case %d (%s): got %d:%d, want %d:%d", _i, err.msg, err.line, err.column, c->line,
                c->column);
}
END_TEST

START_TEST(test_pod_fields) {
  sy_objset_t *set = load_ok(POD_HEAD
                             "  namespace: ml\n"
                             "  labels: {app: vllm}\n"
                             "  annotations:\n"
                             "    inference.networking.k8s.io/active-ports: \"8000,8001\"\n"
                             "    free-form: \"any value: at all, 100% { }\"\n"
                             "spec:\n"
                             "  containers: [{name: vllm, image: x}]\n"
                             "status:\n"
                             "  phase: Running\n"
                             "  podIP: 10.1.2.3\n"
                             "  conditions:\n"
                             "    - {type: Initialized, status: \"True\"}\n"
                             "    - {type: Ready, status: \"True\"}\n"
                             "---\n"
                             "apiVersion: v1\n"
                             "kind: Pod\n"
                             "metadata: {name: pending}\n"
                             "---\n"
                             "apiVersion: v1\n"
                             "kind: Pod\n"
                             "metadata: {name: v6, deletionTimestamp: \"2025-01-01T00:00:00Z\"}\n"
                             "status:\n"
                             "  podIP: \"fd00::1:2\"\n"
                             "  conditions: [{type: Ready, status: \"False\"}]\n"
                             "---\n"
                             "apiVersion: v1\n"
                             "kind: Pod\n"
                             "metadata: {name: empty-ip, deletionTimestamp: null}\n"
                             "status: {podIP: \"\", conditions: [{type: Ready, status: Unknown}]}\n");
  ck_assert_uint_eq(set->n_pods, 4);
  const sy_pod_t *p = find_pod(set, "vllm-1");
  ck_assert_str_eq(p->meta.namespace_name, "ml");
  ck_assert_str_eq(p->pod_ip, "10.1.2.3");
  ck_assert(p->ready);
  ck_assert(!p->meta.deleting);
  ck_assert_uint_eq(p->meta.n_annotations, 2);
  ck_assert_str_eq(
      sy_labels_get(p->meta.annotations, p->meta.n_annotations,
                    "inference.networking.k8s.io/active-ports"),
      "8000,8001");
  ck_assert_str_eq(sy_labels_get(p->meta.labels, p->meta.n_labels, "app"), "vllm");
  p = find_pod(set, "pending");
  ck_assert_ptr_null(p->pod_ip);
  ck_assert(!p->ready);
  ck_assert_str_eq(p->meta.namespace_name, "default");
  ck_assert_str_eq(p->meta.origin, "m.yaml:19");
  p = find_pod(set, "v6");
  ck_assert_str_eq(p->pod_ip, "fd00::1:2");
  ck_assert(!p->ready);
  ck_assert(p->meta.deleting);
  p = find_pod(set, "empty-ip");
  ck_assert_ptr_null(p->pod_ip);
  ck_assert(!p->ready);
  ck_assert(!p->meta.deleting);
  /* load order is kept */
  ck_assert_str_eq(set->pods[0].meta.name, "vllm-1");
  ck_assert_str_eq(set->pods[3].meta.name, "empty-ip");
  sy_objset_free(set);
}
END_TEST

START_TEST(test_skip_other_kinds) {
  sy_objset_t *set = load_ok("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
                             "spec: {ports: [{port: 80}]}\n"
                             "---\n"
                             "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
                             "metadata: {name: r}\n"
                             "---\n"
                             "# an old API version of the pool is not ours either\n"
                             "apiVersion: inference.networking.x-k8s.io/v1alpha2\n"
                             "kind: InferencePool\nmetadata: {name: old}\nspec: {}\n"
                             "---\n"
                             "apiVersion: apps/v1\nkind: Pod\n"
                             "---\n"
                             "---\n");
  ck_assert_uint_eq(set->n_pools, 0);
  ck_assert_uint_eq(set->n_pods, 0);
  sy_objset_free(set);
  /* an empty stream is an empty set */
  set = load_ok("");
  ck_assert_uint_eq(set->n_pools + set->n_pods, 0);
  sy_objset_free(set);
}
END_TEST

START_TEST(test_selector_limits) {
  sy_buf_t b;
  sy_buf_init(&b, 1 << 16);
  ck_assert_int_eq(sy_buf_append_str(&b, POOL_HEAD "spec:\n  targetPorts: [{number: 1}]\n"
                                                   "  selector:\n    matchLabels:\n"),
                   0);
  for (int i = 0; i < 64; i++) ck_assert_int_eq(sy_buf_printf(&b, "      k%d: v\n", i), 0);
  sy_objset_t *set = load_ok(b.data);
  ck_assert_uint_eq(set->pools[0].n_selector, 64);
  sy_objset_free(set);
  ck_assert_int_eq(sy_buf_append_str(&b, "      k64: v\n"), 0);
  sy_source_error_t err;
  ck_assert_int_eq(load_err(b.data, &err), SY_EINVAL);
  ck_assert_str_eq(err.msg, "InferencePool default/pool: spec.selector.matchLabels: must have 1 "
                            "to 64 entries, has 65");
  ck_assert_int_eq(err.line, 9);
  sy_buf_cleanup(&b);

  /* label key and name length limits */
  char name[300], yaml[800];
  memset(name, 'a', 253);
  name[253] = '\0';
  snprintf(yaml, sizeof(yaml), "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\n", name);
  set = load_ok(yaml);
  sy_objset_free(set);
  snprintf(yaml, sizeof(yaml), "apiVersion: v1\nkind: Pod\nmetadata: {name: %sa}\n", name);
  load_err(yaml, &err);
  ck_assert_ptr_nonnull(strstr(err.msg, "metadata.name"));
  memset(name, 'k', 63);
  name[63] = '\0';
  snprintf(yaml, sizeof(yaml),
           "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {example.com/%s: x}}\n", name);
  set = load_ok(yaml);
  sy_objset_free(set);
  snprintf(yaml, sizeof(yaml),
           "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {example.com/%sk: x}}\n", name);
  load_err(yaml, &err);
  ck_assert_ptr_nonnull(strstr(err.msg, "not a valid label key"));
}
END_TEST

START_TEST(test_labels_match) {
  sy_label_t sel[] = {{"app", "vllm"}, {"tier", "gpu"}};
  sy_label_t exact[] = {{"tier", "gpu"}, {"app", "vllm"}};
  sy_label_t extra[] = {{"app", "vllm"}, {"x", "y"}, {"tier", "gpu"}};
  sy_label_t missing[] = {{"app", "vllm"}};
  sy_label_t differ[] = {{"app", "vllm"}, {"tier", "cpu"}};
  sy_label_t empty_val[] = {{"app", "vllm"}, {"tier", ""}};
  ck_assert(sy_labels_match(sel, 2, exact, 2));
  ck_assert(sy_labels_match(sel, 2, extra, 3));
  ck_assert(!sy_labels_match(sel, 2, missing, 1));
  ck_assert(!sy_labels_match(sel, 2, differ, 2));
  ck_assert(!sy_labels_match(sel, 2, empty_val, 2));
  ck_assert(!sy_labels_match(sel, 2, NULL, 0));
  /* an empty selector selects everything */
  ck_assert(sy_labels_match(NULL, 0, extra, 3));
  ck_assert(sy_labels_match(NULL, 0, NULL, 0));
  /* keys are case-sensitive */
  sy_label_t upper[] = {{"App", "vllm"}, {"tier", "gpu"}};
  ck_assert(!sy_labels_match(sel, 2, upper, 2));
  ck_assert_str_eq(sy_labels_get(extra, 3, "x"), "y");
  ck_assert_ptr_null(sy_labels_get(extra, 3, "y"));
  ck_assert_ptr_null(sy_labels_get(NULL, 0, "x"));

  /* end to end: the demo's selector against decoded pods */
  sy_objset_t *set = load_ok(POOL_VALID "---\n" POD_HEAD "  labels: {app: x, v: \"1\"}\n"
                                        "---\napiVersion: v1\nkind: Pod\n"
                                        "metadata: {name: other, labels: {app: y}}\n");
  const sy_pool_t *p = &set->pools[0];
  ck_assert(sy_labels_match(p->selector, p->n_selector, set->pods[0].meta.labels,
                            set->pods[0].meta.n_labels));
  ck_assert(!sy_labels_match(p->selector, p->n_selector, set->pods[1].meta.labels,
                             set->pods[1].meta.n_labels));
  sy_objset_free(set);
}
END_TEST

START_TEST(test_error_format) {
  sy_source_error_t err;
  char buf[1200];
  load_err(POD_HEAD "status:\n  podIP: 1.2.3\n", &err);
  sy_source_error_format(&err, buf, sizeof(buf));
  ck_assert_str_eq(buf, "m.yaml:6:10: Pod default/vllm-1: status.podIP: not a valid IP address "
                        "\"1.2.3\"");
  /* control characters in values are escaped, long values truncated */
  load_err(POD_HEAD "status:\n  podIP: \"1.2.3\\x01\\tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n",
           &err);
  ck_assert_msg(strstr(err.msg, "\"1.2.3\\x01\\x09AAA") != NULL, "%s", err.msg);
  ck_assert_msg(strstr(err.msg, "...\"") != NULL, "%s", err.msg);
  ck_assert_int_eq(sy_manifests_load_buffer("x", "a: [", 4, &(sy_objset_t *){NULL}, NULL),
                   SY_EPARSE);
}
END_TEST

/* Every allocation failure is reported and leaks nothing (ASan). */
START_TEST(test_alloc_failures) {
  const char *doc = POOL_VALID "  endpointPickerRef: {name: e, port: {number: 1}}\n"
                               "---\n" POD_HEAD
                               "  labels: {app: x}\n  annotations: {a: b}\n"
                               "status: {podIP: 10.0.0.1, conditions: [{type: Ready, status: "
                               "\"True\"}]}\n";
  int failures = 0;
  for (long n = 1; n < 500; n++) {
    sy_objset_t *set = NULL;
    sy_source_error_t err;
    sy_alloc_fail_after(n);
    int rc = sy_manifests_load_buffer("m.yaml", doc, strlen(doc), &set, &err);
    sy_alloc_fail_after(0);
    if (rc == 0) {
      ck_assert_uint_eq(set->n_pods, 1);
      sy_objset_free(set);
      break;
    }
    ck_assert_int_eq(rc, -ENOMEM);
    ck_assert_ptr_null(set);
    failures++;
  }
  ck_assert_int_gt(failures, 20);
}
END_TEST

/* ------------------------------------------------------------------ files */

START_TEST(test_load_dir) {
  sy_objset_t *set = NULL;
  sy_source_error_t err;
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", sy_test_data_path("manifests/dir"));
  int rc = sy_manifests_load(dir, &set, &err);
  ck_assert_msg(rc == 0, "%s:%d:%d: %s", err.file, err.line, err.column, err.msg);
  ck_assert_uint_eq(set->n_pools, 1);
  ck_assert_str_eq(set->pools[0].meta.name, "pool-a");
  ck_assert_str_eq(set->pools[0].meta.namespace_name, "ns1");
  ck_assert_uint_eq(set->pools[0].n_target_ports, 2);
  ck_assert_int_eq(set->pools[0].app_protocol, SY_APP_PROTOCOL_H2C);
  ck_assert(set->pools[0].epp_fail_open);
  /* name order: 20-pods.yaml, 30-pods.json, 40-list.yml; hidden files,
   * non-manifest suffixes and directories are skipped */
  ck_assert_uint_eq(set->n_pods, 4);
  ck_assert_str_eq(set->pods[0].meta.name, "a-0");
  ck_assert_str_eq(set->pods[1].meta.name, "a-1");
  ck_assert_str_eq(set->pods[2].meta.name, "a-2");
  ck_assert_str_eq(set->pods[3].meta.name, "b-0");
  char want[4200];
  snprintf(want, sizeof(want), "%s/20-pods.yaml:1", dir);
  ck_assert_str_eq(set->pods[0].meta.origin, want);
  ck_assert(set->pods[0].ready);
  ck_assert_str_eq(set->pods[0].pod_ip, "10.0.0.1");
  ck_assert_ptr_null(set->pods[1].pod_ip);
  ck_assert_str_eq(set->pods[2].pod_ip, "fd00::2");
  ck_assert(set->pods[2].meta.deleting);
  ck_assert(!set->pods[2].ready);
  ck_assert_str_eq(set->pods[3].meta.namespace_name, "default");
  sy_objset_free(set);

  /* a trailing slash is fine */
  snprintf(want, sizeof(want), "%s/", dir);
  ck_assert_int_eq(sy_manifests_load(want, &set, &err), 0);
  ck_assert_uint_eq(set->n_pods, 4);
  sy_objset_free(set);
}
END_TEST

START_TEST(test_load_errors) {
  sy_objset_t *set = (sy_objset_t *)1;
  sy_source_error_t err;
  char want[4200];
  ck_assert_int_eq(sy_manifests_load("/nonexistent/manifests", &set, &err), -ENOENT);
  ck_assert_ptr_null(set);
  ck_assert_str_eq(err.file, "/nonexistent/manifests");
  ck_assert_int_eq(err.line, 0);

  /* duplicates across files name both places */
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", sy_test_data_path("manifests/dup"));
  ck_assert_int_eq(sy_manifests_load(dir, &set, &err), SY_EINVAL);
  snprintf(want, sizeof(want), "%s/b.yaml", dir);
  ck_assert_str_eq(err.file, want);
  ck_assert_int_eq(err.line, 6);
  ck_assert_int_eq(err.column, 1);
  snprintf(want, sizeof(want), "Pod default/p: duplicate: already defined at %s/a.yaml:1:1", dir);
  ck_assert_str_eq(err.msg, want);

  /* syntax error in a single file */
  const char *p = sy_test_data_path("manifests/bad_syntax.yaml");
  ck_assert_int_eq(sy_manifests_load(p, &set, &err), SY_EPARSE);
  ck_assert_str_eq(err.file, p);
  ck_assert_int_eq(err.line, 6);
  ck_assert_msg(strstr(err.msg, "while parsing a flow mapping, line 5 column 11") != NULL, "%s",
                err.msg);

  /* the document without a kind is named by its line */
  p = sy_test_data_path("manifests/no_kind.yaml");
  ck_assert_int_eq(sy_manifests_load(p, &set, &err), SY_EINVAL);
  ck_assert_int_eq(err.line, 6);
  ck_assert_str_eq(err.msg, "document has no kind");
}
END_TEST

START_TEST(test_examples) {
  /* the demo's manifests (examples/manifests) are valid and as documented */
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", sy_test_data_path("../../examples/manifests"));
  sy_objset_t *set = NULL;
  sy_source_error_t err;
  int rc = sy_manifests_load(dir, &set, &err);
  ck_assert_msg(rc == 0, "%s:%d:%d: %s", err.file, err.line, err.column, err.msg);
  ck_assert_uint_eq(set->n_pools, 1);
  const sy_pool_t *pool = &set->pools[0];
  ck_assert_str_eq(pool->meta.name, "vllm-llama3-8b-instruct");
  ck_assert_str_eq(pool->meta.namespace_name, "default");
  ck_assert_uint_eq(pool->n_target_ports, 1);
  ck_assert_int_eq(pool->target_ports[0], 8000);
  ck_assert_str_eq(sy_labels_get(pool->selector, pool->n_selector, "app"),
                   "vllm-llama3-8b-instruct");
  ck_assert_uint_eq(set->n_pods, 3);
  for (size_t i = 0; i < 3; i++) {
    const sy_pod_t *pod = &set->pods[i];
    char name[16], ip[16];
    snprintf(name, sizeof(name), "vllm-%zu", i);
    snprintf(ip, sizeof(ip), "127.0.0.%zu", i + 2);
    ck_assert_str_eq(pod->meta.name, name);
    ck_assert_str_eq(pod->pod_ip, ip);
    ck_assert(pod->ready);
    ck_assert(!pod->meta.deleting);
    ck_assert(sy_labels_match(pool->selector, pool->n_selector, pod->meta.labels,
                              pod->meta.n_labels));
  }
  sy_objset_free(set);
}
END_TEST

/* ---------------------------------------------------------------- watcher */

/* Records watcher callbacks (C11 threads: mutex + condvar). */
typedef struct rec {
  mtx_t mu;
  cnd_t cv;
  int loads;
  int errors;
  sy_objset_t *last;
  sy_source_error_t last_err;
} rec_t;

static void rec_init(rec_t *r) {
  memset(r, 0, sizeof(*r));
  ck_assert_int_eq(mtx_init(&r->mu, mtx_plain), thrd_success);
  ck_assert_int_eq(cnd_init(&r->cv), thrd_success);
}

static void rec_cleanup(rec_t *r) {
  sy_objset_free(r->last);
  mtx_destroy(&r->mu);
  cnd_destroy(&r->cv);
}

static void on_load(void *ctx, sy_objset_t *set) {
  rec_t *r = ctx;
  mtx_lock(&r->mu);
  sy_objset_free(r->last);
  r->last = set;
  r->loads++;
  cnd_broadcast(&r->cv);
  mtx_unlock(&r->mu);
}

static void on_error(void *ctx, const sy_source_error_t *err) {
  rec_t *r = ctx;
  mtx_lock(&r->mu);
  r->last_err = *err;
  r->errors++;
  cnd_broadcast(&r->cv);
  mtx_unlock(&r->mu);
}

/* Waits until *counter >= target; false after timeout_ms. */
static bool rec_wait(rec_t *r, const int *counter, int target, int timeout_ms) {
  struct timespec dl;
  timespec_get(&dl, TIME_UTC);
  dl.tv_sec += timeout_ms / 1000;
  dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) {
    dl.tv_sec++;
    dl.tv_nsec -= 1000000000L;
  }
  mtx_lock(&r->mu);
  int rc = thrd_success;
  while (*counter < target && rc != thrd_timedout) rc = cnd_timedwait(&r->cv, &r->mu, &dl);
  bool ok = *counter >= target;
  mtx_unlock(&r->mu);
  return ok;
}

static int rec_get(rec_t *r, const int *counter) {
  mtx_lock(&r->mu);
  int v = *counter;
  mtx_unlock(&r->mu);
  return v;
}

static size_t rec_pods(rec_t *r) {
  mtx_lock(&r->mu);
  size_t n = r->last ? r->last->n_pods : 0;
  mtx_unlock(&r->mu);
  return n;
}

static void write_file(const char *dir, const char *name, const char *content) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fputs(content, f) >= 0, 1);
  ck_assert_int_eq(fclose(f), 0);
}

/* Like an editor: write a hidden temp file, then rename it over the target. */
static void replace_file(const char *dir, const char *name, const char *content) {
  char tmp[4096], path[4096];
  snprintf(tmp, sizeof(tmp), "%s/.%s.swp", dir, name);
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(tmp, "w");
  ck_assert_ptr_nonnull(f);
  fputs(content, f);
  ck_assert_int_eq(fclose(f), 0);
  ck_assert_int_eq(rename(tmp, path), 0);
}

static void rm_dir(const char *dir, const char *const *names) {
  char path[4096];
  for (; *names; names++) {
    snprintf(path, sizeof(path), "%s/%s", dir, *names);
    unlink(path);
  }
  rmdir(dir);
}

static char *pod_doc(const char *name, const char *ip) {
  static char buf[512];
  snprintf(buf, sizeof(buf),
           "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  labels: {app: x}\n"
           "status:\n  podIP: %s\n  conditions: [{type: Ready, status: \"True\"}]\n",
           name, ip);
  return buf;
}

START_TEST(test_watch) {
  char dir[] = "/tmp/sy_watch_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  write_file(dir, "pool.yaml", POOL_VALID);
  write_file(dir, "pods-a.yaml", pod_doc("a", "10.0.0.1"));
  rec_t r;
  rec_init(&r);
  sy_manifests_watch_t *w = NULL;
  sy_source_error_t err;
  int rc = sy_manifests_watch_start(&w, dir, 20, on_load, on_error, &r, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  /* the first load is synchronous */
  ck_assert_int_eq(r.loads, 1);
  ck_assert_uint_eq(r.last->n_pools, 1);
  ck_assert_uint_eq(r.last->n_pods, 1);

  /* a new file -> a new set within a second */
  write_file(dir, "pods-b.yaml", pod_doc("b", "10.0.0.2"));
  ck_assert(rec_wait(&r, &r.loads, 2, 1000));
  for (int i = 0; i < 50 && rec_pods(&r) != 2; i++)
    rec_wait(&r, &r.loads, rec_get(&r, &r.loads) + 1, 100);
  ck_assert_uint_eq(rec_pods(&r), 2);

  /* modify in place */
  int before = rec_get(&r, &r.loads);
  write_file(dir, "pods-b.yaml", pod_doc("b", "10.0.0.22"));
  ck_assert(rec_wait(&r, &r.loads, before + 1, 1000));
  for (int i = 0; i < 50; i++) {
    mtx_lock(&r.mu);
    bool done = r.last && r.last->n_pods == 2 && strcmp(r.last->pods[1].pod_ip, "10.0.0.22") == 0;
    mtx_unlock(&r.mu);
    if (done) break;
    rec_wait(&r, &r.loads, rec_get(&r, &r.loads) + 1, 100);
  }
  mtx_lock(&r.mu);
  ck_assert_str_eq(r.last->pods[1].pod_ip, "10.0.0.22");
  mtx_unlock(&r.mu);

  /* an invalid edit (atomic rename): on_error, and nothing published */
  before = rec_get(&r, &r.loads);
  int errs = rec_get(&r, &r.errors);
  replace_file(dir, "pods-b.yaml", pod_doc("b", "1.2.3"));
  ck_assert(rec_wait(&r, &r.errors, errs + 1, 1000));
  mtx_lock(&r.mu);
  ck_assert_int_eq(r.last_err.line, 7);
  ck_assert_str_eq(r.last_err.msg, "Pod default/b: status.podIP: not a valid IP address \"1.2.3\"");
  mtx_unlock(&r.mu);
  usleep(200 * 1000);
  ck_assert_int_eq(rec_get(&r, &r.loads), before);
  ck_assert_int_eq(rec_get(&r, &r.errors), errs + 1); /* reported once, not every poll */

  /* fixed (back to the last published content): published again */
  replace_file(dir, "pods-b.yaml", pod_doc("b", "10.0.0.22"));
  ck_assert(rec_wait(&r, &r.loads, before + 1, 1000));
  ck_assert_uint_eq(rec_pods(&r), 2);

  /* touching a file without changing it publishes nothing */
  before = rec_get(&r, &r.loads);
  char path[4096];
  snprintf(path, sizeof(path), "%s/pool.yaml", dir);
  ck_assert_int_eq(utimensat(AT_FDCWD, path, NULL, 0), 0);
  usleep(300 * 1000);
  ck_assert_int_eq(rec_get(&r, &r.loads), before);

  /* removing a pod file removes its pods */
  snprintf(path, sizeof(path), "%s/pods-a.yaml", dir);
  ck_assert_int_eq(unlink(path), 0);
  ck_assert(rec_wait(&r, &r.loads, before + 1, 1000));
  mtx_lock(&r.mu);
  ck_assert_uint_eq(r.last->n_pods, 1);
  ck_assert_str_eq(r.last->pods[0].meta.name, "b");
  mtx_unlock(&r.mu);

  /* a half-written file fails, the completed one succeeds */
  before = rec_get(&r, &r.loads);
  errs = rec_get(&r, &r.errors);
  replace_file(dir, "pods-c.yaml",
               "apiVersion: v1\nkind: Pod\nmetadata:\n  name: c\n  labels: {app");
  ck_assert(rec_wait(&r, &r.errors, errs + 1, 1000));
  ck_assert_int_eq(rec_get(&r, &r.loads), before);
  replace_file(dir, "pods-c.yaml", pod_doc("c", "10.0.0.3"));
  ck_assert(rec_wait(&r, &r.loads, before + 1, 1000));
  ck_assert_uint_eq(rec_pods(&r), 2);

  uint64_t t0 = sy_now_ns();
  sy_manifests_watch_stop(w);
  ck_assert_msg(sy_now_ns() - t0 < 200000000ull, "stop took too long");
  rec_cleanup(&r);
  static const char *const files[] = {"pool.yaml", "pods-a.yaml", "pods-b.yaml", "pods-c.yaml",
                                      NULL};
  rm_dir(dir, files);
}
END_TEST

START_TEST(test_watch_single_file) {
  char dir[] = "/tmp/sy_watch_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[4096];
  snprintf(path, sizeof(path), "%s/all.yaml", dir);
  write_file(dir, "all.yaml", POOL_VALID);
  rec_t r;
  rec_init(&r);
  sy_manifests_watch_t *w = NULL;
  sy_source_error_t err;
  ck_assert_int_eq(sy_manifests_watch_start(&w, path, 20, on_load, on_error, &r, &err), 0);
  ck_assert_int_eq(r.loads, 1);
  /* the file is replaced by rename: a new inode at the same path */
  sy_buf_t b;
  sy_buf_init(&b, 4096);
  sy_buf_printf(&b, "%s---\n%s", POOL_VALID, pod_doc("a", "10.0.0.1"));
  replace_file(dir, "all.yaml", b.data);
  sy_buf_cleanup(&b);
  ck_assert(rec_wait(&r, &r.loads, 2, 1000));
  ck_assert_uint_eq(rec_pods(&r), 1);
  /* the file disappears: an error, the last set stays */
  int errs = rec_get(&r, &r.errors);
  ck_assert_int_eq(unlink(path), 0);
  ck_assert(rec_wait(&r, &r.errors, errs + 1, 1000));
  ck_assert_int_eq(rec_get(&r, &r.loads), 2);
  mtx_lock(&r.mu);
  ck_assert_str_eq(r.last_err.file, path);
  mtx_unlock(&r.mu);
  /* and comes back */
  write_file(dir, "all.yaml", POOL_VALID);
  ck_assert(rec_wait(&r, &r.loads, 3, 1000));
  ck_assert_uint_eq(rec_pods(&r), 0);
  sy_manifests_watch_stop(w);
  rec_cleanup(&r);
  static const char *const files[] = {"all.yaml", NULL};
  rm_dir(dir, files);
}
END_TEST

START_TEST(test_watch_start_fails_and_stops_promptly) {
  char dir[] = "/tmp/sy_watch_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  write_file(dir, "bad.yaml", "a: [\n");
  rec_t r;
  rec_init(&r);
  sy_manifests_watch_t *w = (sy_manifests_watch_t *)1;
  sy_source_error_t err;
  ck_assert_int_eq(sy_manifests_watch_start(&w, dir, 20, on_load, on_error, &r, &err), SY_EPARSE);
  ck_assert_ptr_null(w);
  ck_assert_int_eq(r.loads, 0);
  ck_assert_int_eq(r.errors, 0);
  ck_assert_int_eq(err.line, 2);

  /* a long poll interval does not delay stop; NULL callbacks are fine */
  write_file(dir, "bad.yaml", POOL_VALID);
  ck_assert_int_eq(sy_manifests_watch_start(&w, dir, 10000, NULL, NULL, NULL, &err), 0);
  usleep(50 * 1000);
  uint64_t t0 = sy_now_ns();
  sy_manifests_watch_stop(w);
  ck_assert_msg(sy_now_ns() - t0 < 200000000ull, "stop took too long");
  sy_manifests_watch_stop(NULL);
  rec_cleanup(&r);
  static const char *const files[] = {"bad.yaml", NULL};
  rm_dir(dir, files);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("source");
  TCase *tc = tcase_create("decode");
  tcase_add_test(tc, test_pool_full);
  tcase_add_test(tc, test_pool_defaults);
  tcase_add_loop_test(tc, test_bad_manifest, 0, (int)SY_ARRAY_LEN(bad_cases));
  tcase_add_test(tc, test_pod_fields);
  tcase_add_test(tc, test_skip_other_kinds);
  tcase_add_test(tc, test_selector_limits);
  tcase_add_test(tc, test_labels_match);
  tcase_add_test(tc, test_error_format);
  tcase_add_test(tc, test_alloc_failures);
  suite_add_tcase(s, tc);
  tc = tcase_create("files");
  tcase_add_test(tc, test_load_dir);
  tcase_add_test(tc, test_load_errors);
  tcase_add_test(tc, test_examples);
  suite_add_tcase(s, tc);
  tc = tcase_create("watch");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_watch);
  tcase_add_test(tc, test_watch_single_file);
  tcase_add_test(tc, test_watch_start_fails_and_stops_promptly);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
