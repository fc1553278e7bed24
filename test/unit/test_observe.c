/* Unit tests for the observe module: the debug JSON documents and the live
 * frame are valid JSON and say what the snapshot and scheduler hold. */
#include <cjson/cJSON.h>
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

static Suite *suite(void) {
  Suite *s = suite_create("observe");
  TCase *tc = tcase_create("views");
  tcase_add_test(tc, test_views);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
