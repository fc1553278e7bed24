/* Unit tests for the director (request lifecycle) and the first picker:
 * error mapping, subset hint, header-only requests, model rewrite, in-flight
 * accounting and least-request balancing, over a real snapshot. */
#include <stdio.h>
#include <string.h>

#include "controller.h"
#include "director.h"
#include "gateway.h"
#include "scheduler.h"
#include "test_support.h"

static const char *WORLD =
    "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: p}\n"
    "spec: {selector: {matchLabels: {app: m}}, targetPorts: [{number: 8000}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {app: m}}\n"
    "status: {podIP: 10.0.0.1, conditions: [{type: Ready, status: \"True\"}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, labels: {app: m}}\n"
    "status: {podIP: 10.0.0.2, conditions: [{type: Ready, status: \"True\"}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: c, labels: {app: m}}\n"
    "status: {podIP: 10.0.0.3, conditions: [{type: Ready, status: \"True\"}]}\n";

typedef struct fix {
  sy_datastore_t *ds;
  sy_controller_t *ctrl;
  sy_sched_t *sched;
  sy_director_t *dir;
  sy_arena_t arena;
} fix_t;

/* Scheduler configurations the tests use. */
static const char LEAST[] =
    "kind: EndpointPickerConfig\nplugins: [{type: active-request-scorer}, {type: max-score-picker}]\n";
static const char RANDOM[] = "kind: EndpointPickerConfig\nplugins: [{type: random-picker}]\n";

static void fix_init(fix_t *f, const char *world, const char *config) {
  memset(f, 0, sizeof(*f));
  ck_assert_int_eq(sy_datastore_new(&f->ds), 0);
  sy_controller_config_t cc = {.pool_name = "p", .pool_namespace = "default"};
  ck_assert_int_eq(sy_controller_new(&f->ctrl, f->ds, &cc), 0);
  sy_sched_error_t cerr;
  int rc = sy_sched_new_from_config(&f->sched, "test", config, strlen(config), &cerr);
  ck_assert_msg(rc == 0, "config: %d:%d: %s", cerr.line, cerr.column, cerr.msg);
  sy_director_config_t dc = {.pool_name = "p", .pool_namespace = "default"};
  ck_assert_int_eq(sy_director_new(&f->dir, &dc, f->ds, f->sched), 0);
  if (world) {
    sy_objset_t *set = NULL;
    sy_source_error_t err;
    ck_assert_int_eq(sy_manifests_load_buffer("w.yaml", world, strlen(world), &set, &err), 0);
    ck_assert_int_eq(sy_controller_apply_objset(f->ctrl, set), 0);
  }
  sy_arena_init(&f->arena, 4096, 0);
}

static void fix_cleanup(fix_t *f) {
  sy_arena_cleanup(&f->arena);
  sy_director_free(f->dir);
  sy_sched_free(f->sched);
  sy_controller_free(f->ctrl);
  sy_datastore_free(f->ds);
}

static sy_extproc_request_t request(fix_t *f, const char *body) {
  sy_extproc_request_t r;
  memset(&r, 0, sizeof(r));
  r.arena = &f->arena;
  r.request_id = "id-1";
  r.method = "POST";
  r.path = "/v1/completions";
  r.body = body;
  r.body_len = body ? strlen(body) : 0;
  r.headers_only = body == NULL;
  r.fairness_id = "default-flow";
  return r;
}

static int decide(fix_t *f, const sy_extproc_request_t *r, sy_extproc_decision_t *d) {
  memset(d, 0, sizeof(*d));
  return sy_director_ops.decide(f->dir, r, d);
}

static const char *BODY = "{\"model\":\"m\",\"prompt\":\"hi\",\"stream\":true}";

START_TEST(test_routes_and_accounts) {
  fix_t f;
  fix_init(&f, WORLD, LEAST);
  sy_extproc_request_t r = request(&f, BODY);
  sy_extproc_decision_t d[3];
  const char *seen[3];
  /* least-request: three concurrent requests land on three distinct pods */
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(decide(&f, &r, &d[i]), 0);
    ck_assert_int_eq(d[i].http_status, 0);
    ck_assert(d[i].stream);
    ck_assert_ptr_nonnull(d[i].handle);
    seen[i] = d[i].destination;
    for (int k = 0; k < i; k++) ck_assert_str_ne(seen[k], seen[i]);
  }
  sy_snapshot_t *s = sy_datastore_acquire(f.ds);
  const sy_pool_snap_t *p = sy_snapshot_pool(s, "default", "p");
  for (size_t i = 0; i < p->n_endpoints; i++) ck_assert_int_eq(atomic_load(&p->endpoints[i].state->in_flight), 1);
  for (int i = 0; i < 3; i++) sy_director_ops.finish(f.dir, d[i].handle, 200, NULL);
  for (size_t i = 0; i < p->n_endpoints; i++) ck_assert_int_eq(atomic_load(&p->endpoints[i].state->in_flight), 0);
  /* the decisions are explained, newest first */
  sy_sched_decision_t rec[8];
  ck_assert_uint_eq(sy_sched_recent_decisions(f.sched, rec, 8), 3);
  ck_assert_str_eq(rec[0].endpoint, d[2].destination);
  ck_assert_str_eq(rec[2].endpoint, d[0].destination);
  ck_assert_uint_gt(rec[0].seq, rec[1].seq);
  ck_assert_str_eq(rec[0].request_id, "id-1");
  ck_assert_str_eq(rec[0].profile, "default");
  ck_assert_uint_eq(rec[0].n_candidates, 3);
  ck_assert_uint_eq(rec[0].n_scorers, 1);
  ck_assert_str_eq(rec[0].scorer[0], "active-request-scorer");
  /* the third request saw in-flight 1,1,0: the idle endpoint scored 1.0 */
  ck_assert(rec[0].score[0] == 1.0);
  ck_assert(rec[0].total == 1.0);
  sy_snapshot_release(s);
  fix_cleanup(&f);
}
END_TEST

START_TEST(test_bad_request_400) {
  fix_t f;
  fix_init(&f, WORLD, LEAST);
  sy_extproc_request_t r = request(&f, "{\"prompt\":\"x\"}");
  sy_extproc_decision_t d;
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 400);
  ck_assert_str_eq(d.error_kind, "BadRequest");
  ck_assert_str_eq(d.error_msg, "model not found in request body");
  ck_assert_ptr_null(d.handle);
  r = request(&f, "not json");
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 400);
  fix_cleanup(&f);
}
END_TEST

START_TEST(test_no_endpoints_503_and_get_500) {
  fix_t f;
  fix_init(&f, NULL, LEAST);
  sy_extproc_request_t r = request(&f, BODY);
  sy_extproc_decision_t d;
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 503);
  ck_assert_str_eq(d.error_kind, "ServiceUnavailable");
  ck_assert_str_eq(d.error_msg, "failed to find endpoint candidates for serving the request");
  r = request(&f, NULL);
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 500);
  ck_assert_str_eq(d.error_msg, "no pods available in datastore");
  fix_cleanup(&f);
}
END_TEST

START_TEST(test_subset_hint) {
  fix_t f;
  fix_init(&f, WORLD, RANDOM);
  sy_extproc_request_t r = request(&f, BODY);
  const char *only[] = {"10.0.0.2:8000"};
  r.subset_present = true;
  r.subset = only;
  r.n_subset = 1;
  sy_extproc_decision_t d;
  for (int i = 0; i < 20; i++) {
    ck_assert_int_eq(decide(&f, &r, &d), 0);
    ck_assert_str_eq(d.destination, "10.0.0.2:8000");
    sy_director_ops.finish(f.dir, d.handle, 200, NULL);
  }
  const char *other_port[] = {"10.0.0.1:9999"}; /* IP-only match, as upstream */
  r.subset = other_port;
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_str_eq(d.destination, "10.0.0.1:8000");
  sy_director_ops.finish(f.dir, d.handle, 200, NULL);
  const char *bare[] = {"10.0.0.3"}; /* bare IP */
  r.subset = bare;
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_str_eq(d.destination, "10.0.0.3:8000");
  sy_director_ops.finish(f.dir, d.handle, 200, NULL);
  const char *none[] = {"10.9.9.9:8000"};
  r.subset = none;
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 503);
  r.n_subset = 0; /* present but empty → no candidates */
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 503);
  /* header-only requests ignore the subset, as upstream */
  r = request(&f, NULL);
  r.subset_present = true;
  r.subset = none;
  r.n_subset = 1;
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 0);
  ck_assert_ptr_null(d.handle);
  fix_cleanup(&f);
}
END_TEST

START_TEST(test_model_rewrite) {
  fix_t f;
  fix_init(&f, WORLD, RANDOM);
  sy_extproc_request_t r = request(&f, "{\"model\":\"alias\",\"prompt\":\"hi\"}");
  r.model_rewrite = "real-model";
  sy_extproc_decision_t d;
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 0);
  ck_assert_ptr_nonnull(strstr(d.body, "\"model\":\"real-model\""));
  ck_assert_ptr_nonnull(strstr(d.body, "\"prompt\":\"hi\""));
  ck_assert_uint_eq(d.body_len, strlen(d.body));
  sy_director_ops.finish(f.dir, d.handle, 200, NULL);
  fix_cleanup(&f);
}
END_TEST

START_TEST(test_picker_random_spreads) {
  fix_t f;
  fix_init(&f, WORLD, RANDOM);
  sy_extproc_request_t r = request(&f, BODY);
  int counts[3] = {0};
  for (int i = 0; i < 3000; i++) {
    sy_extproc_decision_t d;
    ck_assert_int_eq(decide(&f, &r, &d), 0);
    counts[d.destination[7] - '1']++;
    sy_director_ops.finish(f.dir, d.handle, 200, NULL);
    if (i % 256 == 0) sy_arena_reset(&f.arena);
  }
  for (int i = 0; i < 3; i++) ck_assert_int_gt(counts[i], 800);
  fix_cleanup(&f);
}
END_TEST


START_TEST(test_sheddable_admission) {
  /* A world with an objective of negative priority (sheddable). */
  char world[4096];
  snprintf(world, sizeof(world),
           "%s---\napiVersion: llm-d.ai/v1alpha2\nkind: InferenceObjective\nmetadata: {name: batch}\n"
           "spec: {priority: -1, poolRef: {name: p}}\n",
           WORLD);
  fix_t f;
  fix_init(&f, world, "kind: EndpointPickerConfig\nplugins: [{type: queue-scorer}, {type: utilization-detector}]\n");
  sy_extproc_request_t r = request(&f, BODY);
  r.objective = "batch";
  sy_extproc_decision_t d;
  /* never scraped → stale → saturation 1.0 → sheddable request dropped */
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 429);
  ck_assert_str_eq(d.error_msg, "system saturated, sheddable request dropped");
  /* priority 0 (no or unknown objective) is never shed */
  r.objective = NULL;
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 0);
  sy_director_ops.finish(f.dir, d.handle, 200, NULL);
  /* fresh, idle metrics: not saturated, the sheddable request is admitted */
  sy_snapshot_t *s = sy_datastore_acquire(f.ds);
  const sy_pool_snap_t *p = sy_snapshot_pool(s, "default", "p");
  for (size_t i = 0; i < p->n_endpoints; i++) {
    sy_endpoint_metrics_t m = {.update_ns = sy_now_ns(), .has_waiting = true, .has_kv = true, .waiting = 0, .kv_usage = 0.1};
    sy_endpoint_metrics_store(p->endpoints[i].state, &m);
  }
  r.objective = "batch";
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 0);
  sy_director_ops.finish(f.dir, d.handle, 200, NULL);
  /* queues over the threshold (5): saturated again */
  for (size_t i = 0; i < p->n_endpoints; i++) {
    sy_endpoint_metrics_t m = {.update_ns = sy_now_ns(), .has_waiting = true, .has_kv = true, .waiting = 9, .kv_usage = 0.1};
    sy_endpoint_metrics_store(p->endpoints[i].state, &m);
  }
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 429);
  sy_snapshot_release(s);
  fix_cleanup(&f);
}
END_TEST

START_TEST(test_burst_between_scrapes_spreads) {
  /* Default profile; fresh metrics with equal (empty) queues, nothing
   * running and different KV use. Without estimating the queue from our own
   * in-flight count, every request of a burst would go to the lowest-KV
   * endpoint until the next scrape. */
  fix_t f;
  fix_init(&f, WORLD, sy_sched_default_config);
  sy_snapshot_t *s = sy_datastore_acquire(f.ds);
  const sy_pool_snap_t *p = sy_snapshot_pool(s, "default", "p");
  for (size_t i = 0; i < p->n_endpoints; i++) {
    sy_endpoint_metrics_t m = {.update_ns = sy_now_ns(), .has_waiting = true, .has_kv = true, .has_running = true,
                               .waiting = 0, .kv_usage = 0.1 * (double)(i + 1)};
    sy_endpoint_metrics_store(p->endpoints[i].state, &m);
  }
  sy_extproc_request_t r = request(&f, BODY);
  int counts[3] = {0};
  sy_extproc_decision_t d[30];
  for (int i = 0; i < 30; i++) {
    ck_assert_int_eq(decide(&f, &r, &d[i]), 0);
    ck_assert_int_eq(d[i].http_status, 0);
    counts[d[i].destination[7] - '1']++;
  }
  for (int i = 0; i < 3; i++) ck_assert_msg(counts[i] >= 5, "endpoint %d got %d of 30", i, counts[i]);
  for (int i = 0; i < 30; i++) sy_director_ops.finish(f.dir, d[i].handle, 200, NULL);
  sy_snapshot_release(s);
  fix_cleanup(&f);
}
END_TEST

START_TEST(test_fallback_endpoints) {
  /* maxNumOfEndpoints 3: primary then fallbacks, comma-joined, all distinct */
  fix_t f;
  fix_init(&f, WORLD,
           "kind: EndpointPickerConfig\nplugins: [{type: active-request-scorer}, "
           "{type: max-score-picker, parameters: {maxNumOfEndpoints: 3}}]\n");
  sy_extproc_request_t r = request(&f, BODY);
  sy_extproc_decision_t d;
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 0);
  ck_assert_int_eq(strlen(d.destination), 3 * strlen("10.0.0.1:8000") + 2);
  ck_assert(d.destination[13] == ',' && d.destination[27] == ',');
  ck_assert(strstr(d.destination, "10.0.0.1:8000") && strstr(d.destination, "10.0.0.2:8000") &&
            strstr(d.destination, "10.0.0.3:8000"));
  ck_assert_ptr_null(strchr(d.destination, ' '));
  sy_director_ops.finish(f.dir, d.handle, 200, NULL);
  fix_cleanup(&f);
}
END_TEST

/* The decided hook runs after the decision; a snapshot published in
 * between (the controller thread does this at any time) must not free the
 * endpoint the event points at. The hook publishes one itself, then reads
 * the endpoint: with the snapshot not held, ASan reports a use-after-free. */
typedef struct publish_hook {
  fix_t *f;
  char pod[64];
  int calls;
} publish_hook_t;

static void publish_then_read(void *ctx, const sy_director_event_t *ev) {
  publish_hook_t *h = ctx;
  h->calls++;
  sy_objset_t *set = NULL;
  sy_source_error_t err;
  static const char ONE[] =
      "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: p}\n"
      "spec: {selector: {matchLabels: {app: m}}, targetPorts: [{number: 8000}]}\n";
  ck_assert_int_eq(sy_manifests_load_buffer("w2.yaml", ONE, strlen(ONE), &set, &err), 0);
  ck_assert_int_eq(sy_controller_apply_objset(h->f->ctrl, set), 0);
  ck_assert_ptr_nonnull(ev->endpoint);
  snprintf(h->pod, sizeof(h->pod), "%s", ev->endpoint->pod_name);
}

START_TEST(test_hook_survives_publish) {
  fix_t f;
  fix_init(&f, NULL, LEAST);
  publish_hook_t h = {.f = &f};
  sy_director_free(f.dir);
  sy_director_config_t dc = {.pool_name = "p", .pool_namespace = "default",
                             .hooks = {.decided = publish_then_read, .ctx = &h}};
  ck_assert_int_eq(sy_director_new(&f.dir, &dc, f.ds, f.sched), 0);
  sy_objset_t *set = NULL;
  sy_source_error_t err;
  ck_assert_int_eq(sy_manifests_load_buffer("w.yaml", WORLD, strlen(WORLD), &set, &err), 0);
  ck_assert_int_eq(sy_controller_apply_objset(f.ctrl, set), 0);
  sy_extproc_request_t r = request(&f, BODY);
  sy_extproc_decision_t d;
  ck_assert_int_eq(decide(&f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 0);
  ck_assert_int_eq(h.calls, 1);
  ck_assert(strcmp(h.pod, "a") == 0 || strcmp(h.pod, "b") == 0 || strcmp(h.pod, "c") == 0);
  sy_director_ops.finish(f.dir, d.handle, 200, NULL);
  fix_cleanup(&f);
}
END_TEST

/* Gateway mode: the decision's header edits come from the route table, and
 * the response edits are applied when the response arrives, after any
 * number of table publishes. Nothing in the decision may point into the
 * table: the test drops the last table reference before reading them. */
static sy_gw_table_t *g_table;
static sy_gw_table_t *acquire_table(void *ctx) {
  (void)ctx;
  return sy_gw_table_ref(g_table);
}

/* A GatewayClass, Gateway (port 80) and the start of an HTTPRoute attached
 * to it; the test appends the rules. */
#define GW_ROUTE_PREAMBLE                                                                      \
  "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: sy}\n"      \
  "spec: {controllerName: sy.dev/gw}\n"                                                        \
  "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"     \
  "spec: {gatewayClassName: sy, listeners: [{name: http, port: 80, protocol: HTTP}]}\n"        \
  "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"   \
  "spec:\n  parentRefs: [{name: gw}]\n  rules:\n"

/* Gateway mode over the pool of WORLD: a director routing by `gw_yaml`. */
typedef struct gwfix {
  fix_t f;
  sy_gw_objects_t *o;
  sy_gw_status_t *st;
  sy_director_routes_t routes;
} gwfix_t;

static void gwfix_init(gwfix_t *g, const char *gw_yaml) {
  memset(g, 0, sizeof(*g));
  fix_init(&g->f, WORLD, LEAST);
  sy_gw_error_t gerr;
  ck_assert_int_eq(sy_gw_objects_load_buffer("gw.yaml", gw_yaml, strlen(gw_yaml), 0, &g->o, &gerr), 0);
  sy_gw_pool_ref_t pools[] = {{.namespace_name = "default", .name = "p", .generation = 1}};
  sy_gw_input_t in = {.controller_name = "sy.dev/gw",
                      .ports = (sy_gw_listen_port_t[]){{80, SY_GW_PROTO_HTTP}},
                      .n_ports = 1,
                      .pools = pools,
                      .n_pools = 1};
  sy_gw_objects_input(g->o, &in);
  ck_assert_int_eq(sy_gw_compute(&in, &g->st, &g_table), 0);
  sy_director_free(g->f.dir);
  g->routes = (sy_director_routes_t){.acquire = acquire_table, .default_port = 80};
  sy_director_config_t dc = {.routes = &g->routes};
  ck_assert_int_eq(sy_director_new(&g->f.dir, &dc, g->f.ds, g->f.sched), 0);
}

static void gwfix_cleanup(gwfix_t *g) {
  sy_gw_table_unref(g_table);
  g_table = NULL;
  sy_gw_status_free(g->st);
  sy_gw_objects_free(g->o);
  fix_cleanup(&g->f);
}

static const char *set_value(const sy_extproc_decision_t *d, const char *key) {
  for (size_t i = 0; i < d->n_set; i++)
    if (strcmp(d->set_keys[i], key) == 0) return d->set_values[i];
  return NULL;
}

static bool removes(const sy_extproc_decision_t *d, const char *key) {
  for (size_t i = 0; i < d->n_remove; i++)
    if (strcmp(d->remove[i], key) == 0) return true;
  return false;
}

START_TEST(test_gateway_decision_outlives_table) {
  static const char GW[] =
      GW_ROUTE_PREAMBLE
      "  - filters:\n"
      "    - type: RequestHeaderModifier\n"
      "      requestHeaderModifier: {set: [{name: x-set, value: s1}], add: [{name: x-add, value: a1}], remove: [x-gone]}\n"
      "    - type: ResponseHeaderModifier\n"
      "      responseHeaderModifier: {set: [{name: x-rset, value: r1}], add: [{name: x-radd, value: r2}], "
      "remove: [x-rgone]}\n"
      "    - type: URLRewrite\n"
      "      urlRewrite: {hostname: internal.example.com}\n"
      "    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: p}]\n";
  gwfix_t g;
  gwfix_init(&g, GW);
  fix_t *f = &g.f;

  sy_extproc_request_t r = request(f, BODY);
  const char *keys[] = {":authority", "x-add"}, *values[] = {"gw.example.com", "a0"};
  r.header_keys = keys;
  r.header_values = values;
  r.n_headers = 2;
  sy_extproc_decision_t d;
  ck_assert_int_eq(decide(f, &r, &d), 0);
  ck_assert_int_eq(d.http_status, 0);
  /* the table goes away (a publish), then the edits are read */
  sy_gw_table_unref(g_table);
  g_table = NULL;
  char got[512] = "";
  for (size_t i = 0; i < d.n_set; i++)
    snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s=%s;", d.set_keys[i], d.set_values[i]);
  ck_assert_msg(strstr(got, "x-set=s1;") && strstr(got, "x-add=a0,a1;") &&
                    strstr(got, ":authority=internal.example.com;"),
                "request edits: %s", got);
  ck_assert_uint_eq(d.n_remove, 1);
  ck_assert_str_eq(d.remove[0], "x-gone");
  ck_assert_uint_eq(d.n_resp_set, 1);
  ck_assert_str_eq(d.resp_set_keys[0], "x-rset");
  ck_assert_str_eq(d.resp_set_values[0], "r1");
  ck_assert_uint_eq(d.n_resp_add, 1);
  ck_assert_str_eq(d.resp_add_keys[0], "x-radd");
  ck_assert_str_eq(d.resp_add_values[0], "r2");
  ck_assert_uint_eq(d.n_resp_remove, 1);
  ck_assert_str_eq(d.resp_remove[0], "x-rgone");
  sy_director_ops.finish(f->dir, d.handle, 200, NULL);
  gwfix_cleanup(&g);
}
END_TEST

/* HTTPRoute timeouts become Envoy's per-request timeout headers; a client's
 * own values are removed when the rule sets none. */
START_TEST(test_gateway_timeouts) {
  static const char GW[] =
      GW_ROUTE_PREAMBLE
      "  - matches: [{path: {type: PathPrefix, value: /both}}]\n"
      "    timeouts: {request: 2m, backendRequest: 1s500ms}\n"
      "    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: p}]\n"
      "  - matches: [{path: {type: PathPrefix, value: /off}}]\n"
      "    timeouts: {request: 0s}\n"
      "    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: p}]\n"
      "  - matches: [{path: {type: PathPrefix, value: /none}}]\n"
      "    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: p}]\n";
  gwfix_t g;
  gwfix_init(&g, GW);
  const char *keys[] = {SY_HDR_RQ_TIMEOUT, SY_HDR_RQ_PER_TRY_TIMEOUT}, *values[] = {"5", "6"};
  struct {
    const char *path, *rq, *try_;
  } cases[] = {{"/both/v1/completions", "120000", "1500"}, {"/off/v1/completions", "0", NULL},
               {"/none/v1/completions", NULL, NULL}};
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    sy_extproc_request_t r = request(&g.f, BODY);
    r.path = cases[i].path;
    r.header_keys = keys;
    r.header_values = values;
    r.n_headers = 2;
    sy_extproc_decision_t d;
    ck_assert_int_eq(decide(&g.f, &r, &d), 0);
    ck_assert_msg(d.http_status == 0, "%s: %d %s", cases[i].path, d.http_status, d.error_msg);
    const char *rq = set_value(&d, SY_HDR_RQ_TIMEOUT), *pt = set_value(&d, SY_HDR_RQ_PER_TRY_TIMEOUT);
    if (cases[i].rq) {
      ck_assert_msg(rq && strcmp(rq, cases[i].rq) == 0, "%s: request timeout %s", cases[i].path, rq ? rq : "-");
    } else {
      ck_assert_ptr_null(rq);
      ck_assert_msg(removes(&d, SY_HDR_RQ_TIMEOUT), "%s: client's timeout kept", cases[i].path);
    }
    if (cases[i].try_) {
      ck_assert_msg(pt && strcmp(pt, cases[i].try_) == 0, "%s: per-try %s", cases[i].path, pt ? pt : "-");
    } else {
      ck_assert_ptr_null(pt);
      ck_assert_msg(removes(&d, SY_HDR_RQ_PER_TRY_TIMEOUT), "%s: client's per-try kept", cases[i].path);
    }
    sy_director_ops.finish(g.f.dir, d.handle, 200, NULL);
  }
  gwfix_cleanup(&g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("director");
  TCase *tc = tcase_create("decide");
  tcase_add_test(tc, test_routes_and_accounts);
  tcase_add_test(tc, test_bad_request_400);
  tcase_add_test(tc, test_no_endpoints_503_and_get_500);
  tcase_add_test(tc, test_subset_hint);
  tcase_add_test(tc, test_model_rewrite);
  tcase_add_test(tc, test_picker_random_spreads);
  tcase_add_test(tc, test_sheddable_admission);
  tcase_add_test(tc, test_burst_between_scrapes_spreads);
  tcase_add_test(tc, test_fallback_endpoints);
  tcase_add_test(tc, test_hook_survives_publish);
  tcase_add_test(tc, test_gateway_decision_outlives_table);
  tcase_add_test(tc, test_gateway_timeouts);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
