/* Unit tests for the observe module: the debug JSON documents and the live
 * frame are valid JSON and say what the snapshot and scheduler hold. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "controller.h"
#include "director.h"
#include "observe.h"
#include "test_support.h"

static const char *WORLD =
    "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: p}\n"
    "spec: {selector: {matchLabels: {app: m}}, targetPorts: [{number: 8000}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: \"a\", labels: {app: m}}\n"
    "status: {podIP: 127.0.0.2, conditions: [{type: Ready, status: \"True\"}]}\n"
    "---\napiVersion: llm-d.ai/v1alpha2\nkind: InferenceObjective\nmetadata: {name: batch}\n"
    "spec: {priority: -3, poolRef: {name: p}}\n";

static cJSON *render(sy_observe_t *o, const char *what) {
  sy_buf_t b;
  sy_buf_init(&b, 1 << 20);
  int rc = what ? sy_observe_debug_json(o, what, &b) : sy_observe_live_json(o, &b);
  ck_assert_int_eq(rc, 0);
  cJSON *j = cJSON_ParseWithLength(b.data, b.len);
  ck_assert_msg(j != NULL, "invalid JSON for %s: %s", what ? what : "live", b.data);
  sy_buf_cleanup(&b);
  return j;
}

START_TEST(test_views) {
  sy_datastore_t *ds;
  sy_controller_t *ctrl;
  sy_sched_t *sched;
  sy_director_t *dir;
  ck_assert_int_eq(sy_datastore_new(&ds), 0);
  sy_controller_config_t cc = {.pool_name = "p", .pool_namespace = "default"};
  ck_assert_int_eq(sy_controller_new(&ctrl, ds, &cc), 0);
  sy_sched_error_t err;
  ck_assert_int_eq(sy_sched_new_from_config(&sched, NULL, NULL, 0, &err), 0);
  sy_director_config_t dc = {.pool_name = "p", .pool_namespace = "default"};
  ck_assert_int_eq(sy_director_new(&dir, &dc, ds, sched), 0);
  sy_objset_t *set;
  sy_source_error_t serr;
  ck_assert_int_eq(sy_manifests_load_buffer("w", WORLD, strlen(WORLD), &set, &serr), 0);
  ck_assert_int_eq(sy_controller_apply_objset(ctrl, set), 0);

  /* one routed request, one bad request */
  sy_arena_t arena;
  sy_arena_init(&arena, 4096, 0);
  const char *body = "{\"model\":\"m\",\"prompt\":\"hello there, this prompt is long enough for a block or two of prefix\"}";
  sy_extproc_request_t r = {.arena = &arena, .request_id = "rid-\"7\"", .method = "POST", .path = "/v1/completions",
                            .body = body, .body_len = strlen(body), .fairness_id = "default-flow"};
  sy_extproc_decision_t d = {0};
  ck_assert_int_eq(sy_director_ops.decide(dir, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 0);
  sy_extproc_decision_t bad = {0};
  r.body = "{}";
  r.body_len = 2;
  ck_assert_int_eq(sy_director_ops.decide(dir, &r, &bad), 0);
  ck_assert_int_eq(bad.http_status, 400);

  sy_observe_t *o;
  sy_observe_config_t oc = {.ds = ds, .sched = sched, .dir = dir};
  ck_assert_int_eq(sy_observe_new(&o, &oc), 0);

  cJSON *j = render(o, "endpoints");
  cJSON *pool = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "pools"), 0);
  ck_assert_str_eq(cJSON_GetObjectItem(pool, "name")->valuestring, "p");
  ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(pool, "objectives"), "batch")->valueint, -3);
  cJSON *ep = cJSON_GetArrayItem(cJSON_GetObjectItem(pool, "endpoints"), 0);
  ck_assert_str_eq(cJSON_GetObjectItem(ep, "address")->valuestring, "127.0.0.2:8000");
  ck_assert_int_eq(cJSON_GetObjectItem(ep, "in_flight")->valueint, 1);
  ck_assert(cJSON_IsNull(cJSON_GetObjectItem(ep, "waiting"))); /* never scraped */
  ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(ep, "stale")));
  cJSON_Delete(j);

  j = render(o, "decisions");
  cJSON *dec = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "decisions"), 0);
  ck_assert_str_eq(cJSON_GetObjectItem(dec, "request_id")->valuestring, "rid-\"7\"");
  ck_assert_str_eq(cJSON_GetObjectItem(dec, "endpoint")->valuestring, "127.0.0.2:8000");
  cJSON *scores = cJSON_GetObjectItem(dec, "scores");
  ck_assert_ptr_nonnull(cJSON_GetObjectItem(scores, "queue-scorer"));
  ck_assert_ptr_nonnull(cJSON_GetObjectItem(scores, "prefix-cache-scorer"));
  ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(dec, "weights"), "prefix-cache-scorer")->valueint, 3);
  cJSON_Delete(j);

  j = render(o, "config");
  ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(j, "endpoint_picker_config")->valuestring, "prefix-cache-scorer"));
  ck_assert_int_gt(cJSON_GetArraySize(cJSON_GetObjectItem(j, "plugins")), 3);
  cJSON_Delete(j);

  j = render(o, NULL);
  ck_assert_int_eq(cJSON_GetObjectItem(j, "decisions_total")->valueint, 1);
  ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "errors_by_code"), "400")->valueint, 1);
  ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "recent_decisions")), 1);
  cJSON_Delete(j);

  sy_buf_t b;
  sy_buf_init(&b, 100);
  ck_assert_int_eq(sy_observe_debug_json(o, "nope", &b), SY_ENOTFOUND);
  ck_assert_int_eq(sy_observe_debug_json(o, "endpoints", &b), SY_ETOOBIG); /* bounded */
  sy_buf_cleanup(&b);

  sy_director_ops.finish(dir, d.handle, 200, NULL);
  sy_observe_free(o);
  sy_arena_cleanup(&arena);
  sy_director_free(dir);
  sy_sched_free(sched);
  sy_controller_free(ctrl);
  sy_datastore_free(ds);
}
END_TEST

/* The reference's metric list (GAIE v1.5.0 §7) for what switchyard exports:
 * name, type and label set, checked on a page rendered after real decisions. */
START_TEST(test_metric_names_types_labels) {
  static const struct {
    const char *name, *type, *labels; /* labels of one sample, in order */
  } want[] = {
      {"inference_objective_request_total", "counter", "model_name,target_model_name,priority"},
      {"inference_objective_request_error_total", "counter", "model_name,target_model_name,error_code"},
      {"inference_objective_request_duration_seconds", "histogram", "model_name,target_model_name"},
      {"inference_objective_request_sizes", "histogram", "model_name,target_model_name"},
      {"inference_objective_response_sizes", "histogram", "model_name,target_model_name"},
      {"inference_objective_input_tokens", "histogram", "model_name,target_model_name"},
      {"inference_objective_output_tokens", "histogram", "model_name,target_model_name"},
      {"inference_objective_prompt_cached_tokens", "histogram", "model_name,target_model_name"},
      {"inference_objective_normalized_time_per_output_token_seconds", "histogram", "model_name,target_model_name"},
      {"inference_objective_running_requests", "gauge", "model_name,target_model_name"},
      {"inference_pool_average_kv_cache_utilization", "gauge", "name"},
      {"inference_pool_average_queue_size", "gauge", "name"},
      {"inference_pool_average_running_requests", "gauge", "name"},
      {"inference_pool_ready_pods", "gauge", "name"},
      {"inference_pool_per_pod_queue_size", "gauge", "name,model_server_pod"},
      {"inference_extension_info", "gauge", "commit,build_ref"},
      {"inference_extension_scheduler_e2e_duration_seconds", "histogram", ""},
      {"inference_extension_scheduler_attempts_total", "counter", "status,target_model_name,pod_name,namespace,port"},
      {"inference_extension_plugin_duration_seconds", "histogram", "extension_point,plugin_type,plugin_name"},
      {"inference_extension_prefix_indexer_size", "gauge", ""},
      {"inference_extension_prefix_indexer_hit_ratio", "histogram", ""},
      {"inference_extension_prefix_indexer_hit_bytes", "histogram", ""},
      {"process_resident_memory_bytes", "gauge", ""},
  };
  sy_datastore_t *ds;
  sy_controller_t *ctrl;
  sy_sched_t *sched;
  sy_director_t *dir;
  sy_observe_t *o;
  ck_assert_int_eq(sy_datastore_new(&ds), 0);
  sy_controller_config_t cc = {.pool_name = "p", .pool_namespace = "default"};
  ck_assert_int_eq(sy_controller_new(&ctrl, ds, &cc), 0);
  sy_sched_error_t err;
  ck_assert_int_eq(sy_sched_new_from_config(&sched, NULL, NULL, 0, &err), 0);
  sy_observe_config_t oc = {.ds = ds, .sched = sched};
  ck_assert_int_eq(sy_observe_new(&o, &oc), 0);
  sy_metrics_registry_t *reg = sy_metrics_registry_new();
  ck_assert_int_eq(sy_observe_metrics_register(o, reg, "test"), 0);
  sy_director_config_t dc = {.pool_name = "p", .pool_namespace = "default", .hooks = sy_observe_director_hooks(o)};
  ck_assert_int_eq(sy_director_new(&dir, &dc, ds, sched), 0);
  sy_objset_t *set;
  sy_source_error_t serr;
  ck_assert_int_eq(sy_manifests_load_buffer("w", WORLD, strlen(WORLD), &set, &serr), 0);
  ck_assert_int_eq(sy_controller_apply_objset(ctrl, set), 0);
  sy_snapshot_t *snap = sy_datastore_acquire(ds);
  sy_endpoint_metrics_t m = {.update_ns = sy_now_ns(), .has_waiting = true, .has_kv = true, .has_running = true,
                             .waiting = 2, .kv_usage = 0.5, .running = 1};
  sy_endpoint_metrics_store(sy_snapshot_pool(snap, "default", "p")->endpoints[0].state, &m);
  sy_snapshot_release(snap);

  sy_arena_t arena;
  sy_arena_init(&arena, 4096, 0);
  const char *body = "{\"model\":\"m\",\"prompt\":\"a prompt that is long enough to be hashed into a prefix block or more\"}";
  sy_extproc_request_t r = {.arena = &arena, .request_id = "r1", .path = "/v1/completions", .method = "POST",
                            .body = body, .body_len = strlen(body), .fairness_id = "default-flow"};
  sy_extproc_decision_t d = {0}, bad = {0};
  ck_assert_int_eq(sy_director_ops.decide(dir, &r, &d), 0);
  sy_extproc_usage_t u = {.found = true, .prompt_tokens = 20, .completion_tokens = 5, .cached_tokens = 16, .response_bytes = 300};
  sy_director_ops.finish(dir, d.handle, 200, &u);
  r.body = "{}";
  r.body_len = 2;
  ck_assert_int_eq(sy_director_ops.decide(dir, &r, &bad), 0);

  sy_buf_t page;
  sy_buf_init(&page, 4 << 20);
  ck_assert_int_eq(sy_metrics_render(reg, &page), 0);
  for (size_t i = 0; i < SY_ARRAY_LEN(want); i++) {
    char line[256];
    snprintf(line, sizeof(line), "\n# TYPE %s %s\n", want[i].name, want[i].type);
    ck_assert_msg(strstr(page.data, line) != NULL, "missing or mistyped: %s %s", want[i].name, want[i].type);
    /* first sample's label names, in order */
    snprintf(line, sizeof(line), "\n%s%s", want[i].name, !strcmp(want[i].type, "histogram") ? "_bucket" : "");
    const char *sample = strstr(page.data, line);
    ck_assert_msg(sample != NULL, "no sample for %s", want[i].name);
    sample += strlen(line);
    char names[256] = "";
    if (*sample == '{') {
      const char *p = sample + 1;
      while (*p && *p != '}') {
        const char *eq = strchr(p, '=');
        ck_assert_ptr_nonnull(eq);
        if (strncmp(p, "le", 2) != 0 || eq != p + 2) {
          if (names[0]) strcat(names, ","); /* checksrc:ok test-only, bounded by the label list */
          strncat(names, p, (size_t)(eq - p));
        }
        p = strchr(eq + 2, '"'); /* closing quote (test values have no escapes) */
        ck_assert_ptr_nonnull(p);
        p++;
        if (*p == ',') p++;
      }
    }
    ck_assert_msg(!strcmp(names, want[i].labels), "%s labels: got {%s}, want {%s}", want[i].name, names, want[i].labels);
  }
  /* counters moved */
  ck_assert_ptr_nonnull(strstr(page.data, "inference_objective_request_total{model_name=\"m\",target_model_name=\"m\",priority=\"0\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(page.data, "error_code=\"BadRequest\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(page.data, "inference_pool_ready_pods{name=\"p\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(page.data, "inference_pool_average_queue_size{name=\"p\"} 2\n"));
  sy_buf_cleanup(&page);
  sy_arena_cleanup(&arena);
  sy_director_free(dir);
  sy_metrics_registry_free(reg);
  sy_observe_free(o);
  sy_sched_free(sched);
  sy_controller_free(ctrl);
  sy_datastore_free(ds);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("observe");
  TCase *tc = tcase_create("views");
  tcase_add_test(tc, test_views);
  tcase_add_test(tc, test_metric_names_types_labels);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
