/* Unit tests for the API-server side of lib/source (objects decoded from
 * JSON, deep copies), InferenceModelRewrite decoding, and the rewrite
 * tables the controller builds into snapshots. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "controller.h"
#include "core.h"
#include "datastore.h"
#include "source.h"
#include "test_support.h"

static int decode(sy_kind_t kind, const char *json, void *out, sy_source_error_t *err) {
  cJSON *j = cJSON_Parse(json);
  ck_assert_ptr_nonnull(j);
  memset(err, 0, sizeof(*err));
  int rc = sy_source_decode_json(kind, "apiserver", j, out, err);
  cJSON_Delete(j);
  return rc;
}

START_TEST(test_pod_from_json) {
  /* A list item: no apiVersion/kind, extra fields the API server adds. */
  const char *json =
      "{\"metadata\":{\"name\":\"vllm-0\",\"namespace\":\"llm\",\"uid\":\"u1\",\"resourceVersion\":\"42\","
      "\"labels\":{\"app\":\"vllm\"},\"annotations\":{\"inference.networking.k8s.io/active-ports\":\"8000\"},"
      "\"managedFields\":[{\"manager\":\"x\"}]},"
      "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]},"
      "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.7\",\"hostIP\":\"1.2.3.4\","
      "\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"True\"},{\"type\":\"Ready\",\"status\":\"True\","
      "\"lastProbeTime\":null}]}}";
  sy_pod_t p;
  memset(&p, 0, sizeof(p));
  sy_source_error_t err;
  ck_assert_int_eq(decode(SY_KIND_POD, json, &p, &err), 0);
  ck_assert_str_eq(p.meta.name, "vllm-0");
  ck_assert_str_eq(p.meta.namespace_name, "llm");
  ck_assert_str_eq(p.meta.resource_version, "42");
  ck_assert_str_eq(p.pod_ip, "10.0.0.7");
  ck_assert(p.ready);
  ck_assert_str_eq(sy_labels_get(p.meta.labels, p.meta.n_labels, "app"), "vllm");
  ck_assert_str_eq(p.meta.origin, "apiserver");

  sy_pod_t c;
  memset(&c, 0, sizeof(c));
  ck_assert_int_eq(sy_source_object_copy(SY_KIND_POD, &c, &p), 0);
  sy_source_object_cleanup(SY_KIND_POD, &p);
  ck_assert_str_eq(c.meta.name, "vllm-0");
  ck_assert_str_eq(c.pod_ip, "10.0.0.7");
  ck_assert_str_eq(c.meta.resource_version, "42");
  ck_assert_str_eq(sy_labels_get(c.meta.annotations, c.meta.n_annotations, "inference.networking.k8s.io/active-ports"),
                   "8000");
  sy_source_object_cleanup(SY_KIND_POD, &c);
}
END_TEST

START_TEST(test_pool_from_json_lenient_and_validated) {
  /* Unknown spec fields (a newer CRD) are tolerated from the API server... */
  const char *json =
      "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"x\"}},"
      "\"targetPorts\":[{\"number\":8000},{\"number\":8001}],\"futureField\":true,"
      "\"endpointPickerRef\":{\"name\":\"epp\",\"port\":{\"number\":9002}}}}";
  sy_pool_t p;
  memset(&p, 0, sizeof(p));
  sy_source_error_t err;
  ck_assert_int_eq(decode(SY_KIND_POOL, json, &p, &err), 0);
  ck_assert_uint_eq(p.n_target_ports, 2);
  ck_assert_int_eq(p.target_ports[1], 8001);
  ck_assert_str_eq(p.epp_name, "epp");
  sy_pool_t c;
  memset(&c, 0, sizeof(c));
  ck_assert_int_eq(sy_source_object_copy(SY_KIND_POOL, &c, &p), 0);
  ck_assert_int_eq(c.target_ports[0], 8000);
  ck_assert_str_eq(c.selector[0].value, "x");
  sy_source_object_cleanup(SY_KIND_POOL, &p);
  sy_source_object_cleanup(SY_KIND_POOL, &c);

  /* ...but values are still checked, and the error names object and field. */
  memset(&p, 0, sizeof(p));
  ck_assert_int_eq(decode(SY_KIND_POOL,
                          "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},\"spec\":{\"selector\":{\"matchLabels\":"
                          "{\"app\":\"x\"}},\"targetPorts\":[{\"number\":70000}]}}",
                          &p, &err),
                   SY_EINVAL);
  ck_assert_msg(strstr(err.msg, "InferencePool ns/p") && strstr(err.msg, "targetPorts[0].number"), "%s", err.msg);
  ck_assert_ptr_null(p.meta.name);
}
END_TEST

START_TEST(test_json_garbage_rejected) {
  sy_source_error_t err;
  sy_pod_t p;
  memset(&p, 0, sizeof(p));
  ck_assert_int_eq(decode(SY_KIND_POD, "[1,2]", &p, &err), SY_EINVAL);
  ck_assert_int_eq(decode(SY_KIND_POD, "{\"metadata\":{}}", &p, &err), SY_EINVAL);
  ck_assert_msg(strstr(err.msg, "metadata.name"), "%s", err.msg);
  ck_assert_int_eq(decode(SY_KIND_POD, "{\"metadata\":{\"name\":\"a\"},\"status\":{\"podIP\":\"nope\"}}", &p, &err),
                   SY_EINVAL);
  ck_assert_msg(strstr(err.msg, "status.podIP"), "%s", err.msg);
  /* duplicate keys are rejected rather than silently resolved */
  ck_assert_int_eq(decode(SY_KIND_POD, "{\"metadata\":{\"name\":\"a\",\"name\":\"b\"}}", &p, &err), SY_EINVAL);
  ck_assert_msg(strstr(err.msg, "duplicate"), "%s", err.msg);
  ck_assert_ptr_null(p.meta.name);
}
END_TEST

static const char REWRITES_YAML[] =
    "apiVersion: llm-d.ai/v1alpha2\n"
    "kind: InferenceModelRewrite\n"
    "metadata: {name: newer, namespace: default, creationTimestamp: \"2026-01-02T00:00:00Z\"}\n"
    "spec:\n"
    "  poolRef: {name: pool}\n"
    "  rules:\n"
    "  - matches: [{model: {value: base}}]\n"
    "    targets: [{modelRewrite: from-newer}]\n"
    "---\n"
    "apiVersion: inference.networking.x-k8s.io/v1alpha2\n"
    "kind: InferenceModelRewrite\n"
    "metadata: {name: older, namespace: default, creationTimestamp: \"2026-01-01T00:00:00Z\"}\n"
    "spec:\n"
    "  poolRef: {group: inference.networking.k8s.io, kind: InferencePool, name: pool}\n"
    "  rules:\n"
    "  - targets: [{modelRewrite: generic}]\n"
    "  - matches: [{model: {type: Exact, value: other}}, {model: {value: base}}]\n"
    "    targets: [{modelRewrite: a, weight: 1}, {modelRewrite: b, weight: 3}]\n"
    "---\n"
    "apiVersion: llm-d.ai/v1alpha2\n"
    "kind: InferenceModelRewrite\n"
    "metadata: {name: elsewhere, namespace: default}\n"
    "spec:\n"
    "  poolRef: {name: another-pool}\n"
    "  rules: [{targets: [{modelRewrite: never}]}]\n"
    "---\n"
    "apiVersion: inference.networking.k8s.io/v1\n"
    "kind: InferencePool\n"
    "metadata: {name: pool, namespace: default}\n"
    "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 8000}]}\n";

START_TEST(test_rewrite_decode_and_precedence) {
  sy_objset_t *set = NULL;
  sy_source_error_t err;
  ck_assert_int_eq(sy_manifests_load_buffer("rw.yaml", REWRITES_YAML, strlen(REWRITES_YAML), &set, &err), 0);
  ck_assert_uint_eq(set->n_rewrites, 3);
  const sy_model_rewrite_t *older = &set->rewrites[1];
  ck_assert_str_eq(older->meta.name, "older");
  ck_assert_int_eq(older->created, 1767225600);
  ck_assert_uint_eq(older->n_rules, 2);
  ck_assert_uint_eq(older->rules[0].n_matches, 0);
  ck_assert_uint_eq(older->rules[1].n_matches, 2);
  ck_assert_int_eq(older->rules[1].targets[1].weight, 3);
  ck_assert_int_eq(older->rules[0].targets[0].weight, 1); /* default */

  sy_snapshot_t *snap = sy_controller_build_snapshot(set, NULL);
  ck_assert_ptr_nonnull(snap);
  const sy_pool_snap_t *pool = sy_snapshot_pool(snap, "default", "pool");
  ck_assert_ptr_nonnull(pool);
  /* exact rules first (older object first), then the generic one; the
   * other pool's rewrite is not ours */
  ck_assert_uint_eq(pool->n_rewrite_rules, 3);
  const char *obj = NULL;
  /* "base": the older object's exact rule wins over the newer object's */
  int a = 0, b = 0;
  for (uint64_t r = 0; r < 400; r++) {
    const char *t = sy_pool_model_rewrite(pool, "base", r, &obj);
    ck_assert_str_eq(obj, "older");
    if (!strcmp(t, "a")) a++;
    else if (!strcmp(t, "b")) b++;
    else ck_abort_msg("unexpected target %s", t);
  }
  ck_assert_int_eq(a, 100); /* weights 1:3 over rnd 0..399 */
  ck_assert_int_eq(b, 300);
  /* a model no exact rule names falls to the generic rule */
  ck_assert_str_eq(sy_pool_model_rewrite(pool, "unknown", 7, &obj), "generic");
  ck_assert_str_eq(obj, "older");
  sy_snapshot_release(snap);
  sy_objset_free(set);

  /* A rule without targets keeps the model, and still shadows later rules. */
  static const char NOTARGET[] =
      "apiVersion: llm-d.ai/v1alpha2\nkind: InferenceModelRewrite\n"
      "metadata: {name: keep, namespace: default}\n"
      "spec: {poolRef: {name: pool}, rules: [{matches: [{model: {value: base}}]}, {targets: [{modelRewrite: g}]}]}\n"
      "---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
      "metadata: {name: pool, namespace: default}\n"
      "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 8000}]}\n";
  set = NULL;
  ck_assert_int_eq(sy_manifests_load_buffer("nt.yaml", NOTARGET, strlen(NOTARGET), &set, &err), 0);
  snap = sy_controller_build_snapshot(set, NULL);
  pool = sy_snapshot_pool(snap, "default", "pool");
  ck_assert_ptr_null(sy_pool_model_rewrite(pool, "base", 1, &obj));
  ck_assert_str_eq(sy_pool_model_rewrite(pool, "other", 1, &obj), "g");
  sy_snapshot_release(snap);
  sy_objset_free(set);
}
END_TEST

START_TEST(test_rewrite_invalid) {
  static const char *const bad[][2] = {
      {"spec: {poolRef: {name: p}, rules: []}", "spec.rules"},
      {"spec: {poolRef: {name: p}, rules: [{targets: []}]}", "spec.rules[0].targets"},
      {"spec: {poolRef: {name: p}, rules: [{targets: [{weight: 2}]}]}", "spec.rules[0].targets[0].modelRewrite"},
      {"spec: {poolRef: {name: p}, rules: [{targets: [{modelRewrite: x, weight: 0}]}]}",
       "spec.rules[0].targets[0].weight"},
      {"spec: {poolRef: {name: p}, rules: [{matches: [{model: {type: Regex, value: x}}], targets: [{modelRewrite: "
       "x}]}]}",
       "spec.rules[0].matches[0].model.type"},
      {"spec: {rules: [{targets: [{modelRewrite: x}]}]}", "spec.poolRef"},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(bad); i++) {
    char doc[512];
    snprintf(doc, sizeof(doc), "apiVersion: llm-d.ai/v1alpha2\nkind: InferenceModelRewrite\nmetadata: {name: r}\n%s\n",
             bad[i][0]);
    sy_objset_t *set = NULL;
    sy_source_error_t err;
    ck_assert_int_eq(sy_manifests_load_buffer("bad.yaml", doc, strlen(doc), &set, &err), SY_EINVAL);
    ck_assert_msg(strstr(err.msg, bad[i][1]) != NULL, "case %zu: %s", i, err.msg);
    ck_assert_int_eq(err.line, 4);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("source_api");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_pod_from_json);
  tcase_add_test(tc, test_pool_from_json_lenient_and_validated);
  tcase_add_test(tc, test_json_garbage_rejected);
  tcase_add_test(tc, test_rewrite_decode_and_precedence);
  tcase_add_test(tc, test_rewrite_invalid);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
