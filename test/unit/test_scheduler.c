/* Unit tests for the scheduler framework and the EndpointPickerConfig loader:
 * defaults, located validation errors, weighted scoring, profile runs. */
#include <stdio.h>
#include <string.h>

#include "scheduler.h"
#include "test_support.h"

static sy_sched_t *load_ok(const char *text) {
  sy_sched_t *s = NULL;
  sy_sched_error_t err;
  int rc = sy_sched_new_from_config(&s, "cfg.yaml", text, text ? strlen(text) : 0, &err);
  ck_assert_msg(rc == 0, "expected success: %s:%d:%d: %s", err.file, err.line, err.column, err.msg);
  return s;
}

/* Asserts the config fails at `line` with a message containing `want`. */
static void load_bad(const char *text, int line, const char *want) {
  sy_sched_t *s = NULL;
  sy_sched_error_t err;
  int rc = sy_sched_new_from_config(&s, "cfg.yaml", text, strlen(text), &err);
  ck_assert_msg(rc != 0, "expected failure for:\n%s", text);
  ck_assert_ptr_null(s);
  ck_assert_str_eq(err.file, "cfg.yaml");
  ck_assert_msg(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
  ck_assert_msg(err.line == line, "error at line %d, expected %d (%s)", err.line, line, err.msg);
}

START_TEST(test_default_config) {
  sy_sched_t *s = load_ok(NULL);
  ck_assert_int_eq(sy_sched_profile_count(s), 1);
  ck_assert_str_eq(sy_sched_profile_name(sy_sched_profile_at(s, 0)), "default");
  const sy_sched_plugin_type_t *t;
  sy_sched_plugin_find(s, "queue-scorer", &t);
  ck_assert_ptr_nonnull(t);
  /* auto-created: producer for the prefix scorer, picker, handler, detector */
  sy_sched_plugin_find(s, "approx-prefix-cache-producer", &t);
  ck_assert_ptr_nonnull(t);
  sy_sched_plugin_find(s, "max-score-picker", &t);
  ck_assert_ptr_nonnull(t);
  sy_sched_plugin_find(s, "single-profile-handler", &t);
  ck_assert_ptr_nonnull(t);
  sy_sched_plugin_find(s, "utilization-detector", &t);
  ck_assert_ptr_nonnull(t);
  const sy_sched_datalayer_t *dl = sy_sched_datalayer(s);
  ck_assert(dl->enabled);
  ck_assert_str_eq(dl->path, "/metrics");
  ck_assert_str_eq(dl->default_engine, "vllm");
  sy_sched_free(s);
  /* The same text, given explicitly, under the old apiVersion too. */
  char text[2048];
  snprintf(text, sizeof(text), "%s", sy_sched_default_config);
  char *api = strstr(text, "llm-d.ai/v1alpha1");
  ck_assert_ptr_nonnull(api);
  char old[2100];
  snprintf(old, sizeof(old), "apiVersion: inference.networking.x-k8s.io/v1alpha1\n%s", strchr(text, '\n') + 1);
  sy_sched_free(load_ok(old));
}
END_TEST

START_TEST(test_upstream_user_config) {
  /* An upstream-style file with parameters, names and data layer settings. */
  const char *cfg =
      "apiVersion: inference.networking.x-k8s.io/v1alpha1\n"
      "kind: EndpointPickerConfig\n"
      "plugins:\n"
      "- name: prefix\n"
      "  type: prefix-cache-scorer\n"
      "  parameters:\n"
      "    blockSizeTokens: 32\n"
      "    lruCapacityPerServer: 1000\n"
      "- type: queue-scorer\n"
      "- type: max-score-picker\n"
      "  parameters: {maxNumOfEndpoints: 2}\n"
      "- type: single-profile-handler\n"
      "- type: metrics-data-source\n"
      "  parameters: {scheme: http, path: /custom/metrics}\n"
      "- type: core-metrics-extractor\n"
      "  parameters:\n"
      "    engineConfigs:\n"
      "    - name: my-engine\n"
      "      queuedRequestsSpec: 'my_queue{kind=\"waiting\"}'\n"
      "      kvUsageSpec: ''\n"
      "schedulingProfiles:\n"
      "- name: default\n"
      "  plugins:\n"
      "  - pluginRef: prefix\n"
      "    weight: 3\n"
      "  - pluginRef: queue-scorer\n"
      "  - pluginRef: max-score-picker\n"
      "dataLayer:\n"
      "  sources:\n"
      "  - pluginRef: metrics-data-source\n"
      "    extractors: [{pluginRef: core-metrics-extractor}]\n";
  sy_sched_t *s = load_ok(cfg);
  const sy_sched_datalayer_t *dl = sy_sched_datalayer(s);
  ck_assert_str_eq(dl->path, "/custom/metrics");
  ck_assert_int_eq(dl->n_engines, 1);
  ck_assert_str_eq(dl->engines[0].name, "my-engine");
  ck_assert_str_eq(dl->engines[0].queued, "my_queue{kind=\"waiting\"}");
  ck_assert_str_eq(dl->engines[0].kv_usage, "");
  ck_assert_ptr_null(dl->engines[0].running);
  const sy_sched_plugin_type_t *t;
  sy_sched_plugin_find(s, "approx-prefix-cache-producer", &t); /* auto-created with the scorer's params */
  ck_assert_ptr_nonnull(t);
  sy_sched_free(s);
}
END_TEST

START_TEST(test_llmd_example_config) {
  /* Shaped like llm-d's shipped estimate-prefix config, with legacy params. */
  const char *cfg =
      "apiVersion: llm-d.ai/v1alpha1\n"
      "kind: EndpointPickerConfig\n"
      "plugins:\n"
      "- type: decode-filter\n"
      "- type: prefix-cache-scorer\n"
      "  parameters: {hashBlockSize: 5, maxPrefixBlocksToMatch: 256, lruCapacityPerServer: 31250, matchLengthWeight: 0.0}\n"
      "- type: load-aware-scorer\n"
      "  parameters: {threshold: 100}\n"
      "- type: max-score-picker\n"
      "schedulingProfiles:\n"
      "- name: default\n"
      "  plugins:\n"
      "  - pluginRef: decode-filter\n"
      "  - pluginRef: prefix-cache-scorer\n"
      "    weight: 1.0\n"
      "  - pluginRef: load-aware-scorer\n"
      "    weight: 1.0\n"
      "  - pluginRef: max-score-picker\n";
  sy_sched_free(load_ok(cfg));
  /* plugins we do not implement fail clearly */
  load_bad("kind: EndpointPickerConfig\nplugins:\n- type: precise-prefix-cache-scorer\n", 3, "not implemented by switchyard");
  load_bad("kind: EndpointPickerConfig\nplugins:\n- type: prefix-cache-scorer\n  parameters: {matchLengthWeight: 0.5}\n", 4,
           "not supported");
}
END_TEST

START_TEST(test_invalid_configs) {
  load_bad("kind: EndpointPickerConfig\nplugins:\n- type: no-such-plugin\n", 3, "unknown plugin type \"no-such-plugin\"");
  load_bad("kind: EndpointPickerConfig\nplugins:\n- name: x\n", 3, "type is required");
  load_bad("kind: EndpointPickerConfig\nplugins:\n- type: queue-scorer\n- type: queue-scorer\n", 4,
           "duplicate plugin name \"queue-scorer\"");
  load_bad("kind: EndpointPickerConfig\nplugins: []\nbogus: 1\n", 3, "unknown field \"bogus\"");
  load_bad("apiVersion: v2\nkind: EndpointPickerConfig\nplugins: []\n", 1, "apiVersion");
  load_bad("kind: Pod\nplugins: []\n", 1, "kind: must be EndpointPickerConfig");
  load_bad("kind: EndpointPickerConfig\nfeatureGates: [warpDrive]\nplugins: []\n", 2, "unknown feature gate");
  load_bad("kind: EndpointPickerConfig\n", 1, "plugins: required");
  load_bad("kind: EndpointPickerConfig\nplugins:\n- type: queue-scorer\nschedulingProfiles:\n- plugins: []\n", 5,
           "name is required");
  load_bad("kind: EndpointPickerConfig\nplugins:\n- type: queue-scorer\nschedulingProfiles:\n"
           "- name: a\n  plugins: [{pluginRef: nope}]\n",
           6, "no plugin named \"nope\"");
  load_bad("kind: EndpointPickerConfig\nplugins:\n- type: queue-scorer\nschedulingProfiles:\n"
           "- name: a\n- name: a\n",
           6, "duplicate profile name");
  load_bad("kind: EndpointPickerConfig\nplugins:\n- type: queue-scorer\nschedulingProfiles:\n"
           "- name: a\n  plugins:\n  - pluginRef: queue-scorer\n    weight: -1\n",
           8, "weight");
  load_bad("kind: EndpointPickerConfig\nplugins:\n- type: single-profile-handler\n- name: h2\n  type: single-profile-handler\n",
           4, "more than one profile handler");
  load_bad("kind: EndpointPickerConfig\nplugins:\n- type: metrics-data-source\n  parameters: {schema: http}\n", 4,
           "unknown field \"schema\"");
  load_bad("kind: EndpointPickerConfig\nplugins: [\n", 3, "");               /* YAML syntax error */
  load_bad("kind: EndpointPickerConfig\nfeatureGates: [flowControl]\nplugins: []\n", 2, "not supported");
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("scheduler");
  TCase *tc = tcase_create("config");
  tcase_add_test(tc, test_default_config);
  tcase_add_test(tc, test_upstream_user_config);
  tcase_add_test(tc, test_invalid_configs);
  tcase_add_test(tc, test_llmd_example_config);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
