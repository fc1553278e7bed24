/* Unit tests for datastore snapshots and the controller's reconcile:
 * membership rules, endpoints per target port, active-ports, state carried
 * across snapshots, synced flag. Objects come from real manifests text. */
#include <stdio.h>
#include <string.h>

#include "controller.h"
#include "datastore.h"
#include "test_support.h"

static const char *POOL =
    "apiVersion: inference.networking.k8s.io/v1\n"
    "kind: InferencePool\n"
    "metadata: {name: p, namespace: ns}\n"
    "spec:\n"
    "  selector: {matchLabels: {app: m}}\n"
    "  targetPorts: [{number: 8000}, {number: 8001}]\n";

static char *pod(char *buf, size_t cap, const char *name, const char *ns, const char *app, const char *ip,
                 const char *ready, const char *extra_meta) {
  snprintf(buf, cap,
           "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {app: %s}\n%s"
           "status:\n  podIP: %s\n  conditions: [{type: Ready, status: \"%s\"}]\n",
           name, ns, app, extra_meta, ip, ready);
  return buf;
}

static sy_objset_t *load(const char *text) {
  sy_objset_t *set = NULL;
  sy_source_error_t err;
  int rc = sy_manifests_load_buffer("test.yaml", text, strlen(text), &set, &err);
  ck_assert_msg(rc == 0, "load failed: %s:%d: %s", err.file, err.line, err.msg);
  return set;
}

static sy_objset_t *world(void) {
  static char text[8192];
  char b[5][512];
  snprintf(text, sizeof(text), "%s%s%s%s%s%s", POOL, pod(b[0], 512, "a", "ns", "m", "10.0.0.1", "True", ""),
           pod(b[1], 512, "b", "ns", "m", "10.0.0.2", "False", ""),       /* not ready */
           pod(b[2], 512, "c", "other", "m", "10.0.0.3", "True", ""),     /* other namespace */
           pod(b[3], 512, "d", "ns", "x", "10.0.0.4", "True", ""),        /* label mismatch */
           pod(b[4], 512, "e", "ns", "m", "10.0.0.5", "True",
               "  annotations: {inference.networking.k8s.io/active-ports: \"8001\"}\n"));
  return load(text);
}

START_TEST(test_membership_and_ports) {
  sy_objset_t *set = world();
  sy_snapshot_t *snap = sy_controller_build_snapshot(set, NULL);
  ck_assert_ptr_nonnull(snap);
  const sy_pool_snap_t *p = sy_snapshot_pool(snap, "ns", "p");
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_null(sy_snapshot_pool(snap, "other", "p"));
  ck_assert_int_eq(p->n_pods_selected, 3); /* a, b, e */
  ck_assert_int_eq(p->n_endpoints, 3);     /* a:8000 a:8001 e:8001 */
  ck_assert_str_eq(p->endpoints[0].address, "10.0.0.1:8000");
  ck_assert_str_eq(p->endpoints[0].name, "a-rank-0");
  ck_assert_str_eq(p->endpoints[1].address, "10.0.0.1:8001");
  ck_assert_str_eq(p->endpoints[1].name, "a-rank-1");
  ck_assert_str_eq(p->endpoints[2].address, "10.0.0.5:8001");
  ck_assert_str_eq(p->endpoints[2].name, "e-rank-1");
  ck_assert_ptr_nonnull(sy_pool_endpoint(p, "10.0.0.5:8001"));
  ck_assert_ptr_null(sy_pool_endpoint(p, "10.0.0.5:8000"));
  sy_snapshot_release(snap);
  sy_objset_free(set);
}
END_TEST

START_TEST(test_state_carried_and_published) {
  sy_datastore_t *ds;
  ck_assert_int_eq(sy_datastore_new(&ds), 0);
  sy_controller_t *c;
  sy_controller_config_t cfg = {.pool_name = "p", .pool_namespace = "ns"};
  ck_assert_int_eq(sy_controller_new(&c, ds, &cfg), 0);
  ck_assert(!sy_controller_synced(c));
  ck_assert_int_eq(sy_controller_apply_objset(c, world()), 0);
  ck_assert(sy_controller_synced(c));

  sy_snapshot_t *s1 = sy_datastore_acquire(ds);
  const sy_endpoint_t *e1 = sy_pool_endpoint(sy_snapshot_pool(s1, "ns", "p"), "10.0.0.1:8000");
  atomic_fetch_add(&e1->state->in_flight, 3);
  sy_endpoint_state_t *st = e1->state;

  ck_assert_int_eq(sy_controller_apply_objset(c, world()), 0);
  sy_snapshot_t *s2 = sy_datastore_acquire(ds);
  ck_assert_uint_gt(s2->generation, s1->generation);
  const sy_endpoint_t *e2 = sy_pool_endpoint(sy_snapshot_pool(s2, "ns", "p"), "10.0.0.1:8000");
  ck_assert_ptr_eq(e2->state, st); /* same state object: counters survive */
  ck_assert_int_eq(atomic_load(&e2->state->in_flight), 3);
  /* the old snapshot stays readable while held */
  ck_assert_str_eq(e1->address, "10.0.0.1:8000");
  sy_snapshot_release(s1);
  sy_snapshot_release(s2);

  /* the pool disappears: not synced any more, endpoints gone */
  ck_assert_int_eq(sy_controller_apply_objset(c, load("apiVersion: v1\nkind: Pod\nmetadata: {name: z}\n")), 0);
  ck_assert(!sy_controller_synced(c));
  sy_snapshot_t *s3 = sy_datastore_acquire(ds);
  ck_assert_ptr_null(sy_snapshot_pool(s3, "ns", "p"));
  sy_snapshot_release(s3);
  sy_controller_free(c);
  sy_datastore_free(ds);
}
END_TEST

START_TEST(test_ipv6_bracketed) {
  char text[2048], b[512];
  snprintf(text, sizeof(text), "%s%s", POOL, pod(b, sizeof(b), "v6", "ns", "m", "fd00::1", "True", ""));
  sy_objset_t *set = load(text);
  sy_snapshot_t *snap = sy_controller_build_snapshot(set, NULL);
  const sy_pool_snap_t *p = sy_snapshot_pool(snap, "ns", "p");
  ck_assert_int_eq(p->n_endpoints, 2);
  ck_assert_str_eq(p->endpoints[0].address, "[fd00::1]:8000");
  ck_assert_str_eq(p->endpoints[0].ip, "fd00::1");
  sy_snapshot_release(snap);
  sy_objset_free(set);
}
END_TEST

START_TEST(test_datastore_empty_initial) {
  sy_datastore_t *ds;
  ck_assert_int_eq(sy_datastore_new(&ds), 0);
  sy_snapshot_t *s = sy_datastore_acquire(ds);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(s->n_pools, 0);
  sy_datastore_free(ds); /* reader's reference keeps it alive */
  ck_assert_int_eq(s->n_pools, 0);
  sy_snapshot_release(s);
}
END_TEST

START_TEST(test_objectives) {
  char text[4096];
  snprintf(text, sizeof(text),
           "%s---\napiVersion: llm-d.ai/v1alpha2\nkind: InferenceObjective\n"
           "metadata: {name: batch, namespace: ns}\nspec: {priority: -1, poolRef: {name: p}}\n"
           "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceObjective\n"
           "metadata: {name: chat, namespace: ns}\nspec: {priority: 10, poolRef: {name: p, group: inference.networking.k8s.io}}\n"
           "---\napiVersion: llm-d.ai/v1alpha2\nkind: InferenceObjective\n"
           "metadata: {name: other-pool, namespace: ns}\nspec: {priority: 5, poolRef: {name: q}}\n"
           "---\napiVersion: llm-d.ai/v1alpha2\nkind: InferenceObjective\n"
           "metadata: {name: unset, namespace: ns}\nspec: {poolRef: {name: p}}\n",
           POOL);
  sy_objset_t *set = load(text);
  ck_assert_int_eq(set->n_objectives, 4);
  sy_snapshot_t *snap = sy_controller_build_snapshot(set, NULL);
  const sy_pool_snap_t *p = sy_snapshot_pool(snap, "ns", "p");
  ck_assert_int_eq(p->n_objectives, 3);
  ck_assert_int_eq(sy_pool_objective_priority(p, "batch"), -1);
  ck_assert_int_eq(sy_pool_objective_priority(p, "chat"), 10);
  ck_assert_int_eq(sy_pool_objective_priority(p, "unset"), 0);
  ck_assert_int_eq(sy_pool_objective_priority(p, "other-pool"), 0); /* belongs to pool q */
  ck_assert_int_eq(sy_pool_objective_priority(p, "missing"), 0);
  ck_assert_int_eq(sy_pool_objective_priority(p, NULL), 0);
  sy_snapshot_release(snap);
  sy_objset_free(set);

  /* errors are located */
  const char *bad = "apiVersion: llm-d.ai/v1alpha2\nkind: InferenceObjective\nmetadata: {name: x}\n"
                    "spec:\n  priority: high\n  poolRef: {name: p}\n";
  sy_objset_t *out = NULL;
  sy_source_error_t err;
  ck_assert_int_ne(sy_manifests_load_buffer("o.yaml", bad, strlen(bad), &out, &err), 0);
  ck_assert_int_eq(err.line, 5);
  ck_assert_ptr_nonnull(strstr(err.msg, "spec.priority"));
  const char *noref = "apiVersion: llm-d.ai/v1alpha2\nkind: InferenceObjective\nmetadata: {name: x}\nspec: {priority: 1}\n";
  ck_assert_int_ne(sy_manifests_load_buffer("o.yaml", noref, strlen(noref), &out, &err), 0);
  ck_assert_ptr_nonnull(strstr(err.msg, "spec.poolRef"));
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("controller");
  TCase *tc = tcase_create("reconcile");
  tcase_add_test(tc, test_membership_and_ports);
  tcase_add_test(tc, test_state_carried_and_published);
  tcase_add_test(tc, test_ipv6_bracketed);
  tcase_add_test(tc, test_datastore_empty_initial);
  tcase_add_test(tc, test_objectives);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
