/*
 * The shipped manifests against a real kube-apiserver + etcd
 * (test/support/kubeapi.h; SY_KUBE_TOOLS from hack/kube-tools.sh):
 *
 *  - the CRDs in config/crd/ are structural and accepted; every CRD becomes
 *    Established; the InferencePool validation and defaults behave as the
 *    API says (duplicate ports, 0 or 9 targetPorts, 65 selector labels, a
 *    Service picker without port -> 422; appProtocol http, failureMode
 *    FailClose, kind Service by default); objectives and rewrites work in
 *    both groups (llm-d.ai and inference.networking.x-k8s.io);
 *  - the manifests in config/rbac/, applied in a test namespace, grant
 *    exactly least privilege: with a real ServiceAccount token (TokenRequest) the EPP's
 *    reads, watches and lease writes succeed, and everything else tried here
 *    is 403; a SelfSubjectRulesReview returns exactly the expected rules;
 *  - after an apiserver restart the data and the token still work.
 *
 * Exits 77 (skipped) without SY_KUBE_TOOLS unless SY_E2E_REQUIRE=1. The
 * control plane is started once in main(); the Check tests run in forked
 * children and only send requests (see kubeapi.h).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "kubeapi.h"
#include "test_support.h"

#define NS "sy-epp"
#define OTHER_NS "sy-other"
#define SA "switchyard-epp"
#define POOL "pool-a"

static sy_kubeapi_t g_k;
static char g_token[4096]; /* the SA's token */

static const char *config_dir(void) {
  const char *d = getenv("SY_CONFIG_DIR");
  return d && *d ? d : "config";
}

/* ---------------------------------------------------------------- helpers */

/* Request as the SA (or admin when admin is true); returns the status and
 * frees the body. */
static long req(bool admin, const char *method, const char *path, const char *ctype,
                const char *body) {
  char *resp = NULL;
  long code = sy_kubeapi_request(&g_k, admin ? NULL : g_token, method, path, ctype, body, &resp);
  sy_free(resp);
  return code;
}

static long sa(const char *method, const char *path) {
  return req(false, method, path, NULL, NULL);
}

/* GET as admin, parsed; NULL unless 200. */
static cJSON *get_json(const char *path) {
  char *resp = NULL;
  long code = sy_kubeapi_request(&g_k, NULL, "GET", path, NULL, NULL, &resp);
  cJSON *j = code == 200 && resp ? cJSON_Parse(resp) : NULL;
  sy_free(resp);
  return j;
}

static const char *jstr(const cJSON *j, const char *dotted) {
  char buf[256];
  snprintf(buf, sizeof(buf), "%s", dotted);
  const cJSON *cur = j;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
    cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
  return cJSON_GetStringValue(cur);
}

/* Creates a YAML document as admin and expects `want`; on mismatch the
 * response is in the failure message. */
static void expect_create(const char *doc, long want, const char *expect_in_body) {
  char *resp = NULL;
  long code = sy_kubeapi_create_yaml(&g_k, NULL, doc, &resp);
  ck_assert_msg(code == want, "HTTP %ld (want %ld) for\n%s\nresponse: %s", code, want, doc,
                resp ? resp : "");
  if (expect_in_body)
    ck_assert_msg(resp && strstr(resp, expect_in_body), "response lacks \"%s\": %s",
                  expect_in_body, resp ? resp : "");
  sy_free(resp);
}

/* A pool document; `extra_spec` is appended under spec (2-space indent). */
static char *pool_doc(const char *name, const char *labels_block, const char *ports_block,
                      const char *extra_spec) {
  sy_buf_t b;
  sy_buf_init(&b, 1 << 20);
  sy_buf_printf(&b,
                "apiVersion: inference.networking.k8s.io/v1\n"
                "kind: InferencePool\n"
                "metadata:\n"
                "  name: %s\n"
                "  namespace: " NS "\n"
                "spec:\n"
                "  selector:\n"
                "    matchLabels:\n%s"
                "  targetPorts:\n%s%s",
                name, labels_block, ports_block, extra_spec ? extra_spec : "");
  return b.data;
}

#define PICKER "  endpointPickerRef:\n    name: epp\n    port:\n      number: 9002\n"

/* ------------------------------------------------------------------- CRDs */

START_TEST(test_crds_established) {
  static const char *const names[] = {
      "inferencepools.inference.networking.k8s.io",
      "inferenceobjectives.llm-d.ai",
      "inferencemodelrewrites.llm-d.ai",
      "inferenceobjectives.inference.networking.x-k8s.io",
      "inferencemodelrewrites.inference.networking.x-k8s.io",
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(names); i++) {
    char path[256];
    snprintf(path, sizeof(path), "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s",
             names[i]);
    cJSON *crd = get_json(path);
    ck_assert_msg(crd, "CRD %s missing", names[i]);
    bool established = false, names_ok = false, structural = true;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "status"), "conditions")) {
      const char *t = jstr(c, "type"), *s = jstr(c, "status");
      if (!t || !s) continue;
      if (!strcmp(t, "Established")) established = !strcmp(s, "True");
      if (!strcmp(t, "NamesAccepted")) names_ok = !strcmp(s, "True");
      if (!strcmp(t, "NonStructuralSchema")) structural = false;
      if (!strcmp(t, "KubernetesAPIApprovalPolicyConformant"))
        ck_assert_msg(!strcmp(s, "True"), "%s: API approval condition %s", names[i], s);
    }
    ck_assert_msg(established && names_ok && structural,
                  "%s: established=%d names=%d structural=%d", names[i], established, names_ok,
                  structural);
    cJSON_Delete(crd);
  }
  /* The short name is registered (kubectl get infpool). */
  cJSON *res = get_json("/apis/inference.networking.k8s.io/v1");
  ck_assert_ptr_nonnull(res);
  char *txt = cJSON_PrintUnformatted(res);
  ck_assert_msg(strstr(txt, "\"infpool\""), "no shortName infpool in %s", txt);
  cJSON_free(txt);
  cJSON_Delete(res);
}
END_TEST

START_TEST(test_pool_defaults) {
  char *doc = pool_doc(POOL, "      app: vllm\n", "  - number: 8000\n  - number: 8001\n", PICKER);
  expect_create(doc, 201, NULL);
  sy_free(doc);
  cJSON *p = get_json("/apis/inference.networking.k8s.io/v1/namespaces/" NS
                      "/inferencepools/" POOL);
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(jstr(p, "spec.appProtocol"), "http");
  ck_assert_str_eq(jstr(p, "spec.endpointPickerRef.failureMode"), "FailClose");
  ck_assert_str_eq(jstr(p, "spec.endpointPickerRef.kind"), "Service");
  ck_assert_str_eq(jstr(p, "spec.endpointPickerRef.group"), "");
  ck_assert_ptr_null(cJSON_GetObjectItem(p, "status"));
  cJSON_Delete(p);

  /* h2c is accepted; no endpointPickerRef at all is accepted (optional). */
  doc = pool_doc("pool-h2c", "      app: vllm\n", "  - number: 8000\n",
                 "  appProtocol: kubernetes.io/h2c\n");
  expect_create(doc, 201, NULL);
  sy_free(doc);
  /* A non-Service picker needs no port. */
  doc = pool_doc("pool-ext", "      app: vllm\n", "  - number: 8000\n",
                 "  endpointPickerRef:\n    kind: Backend\n    group: example.com\n    name: x\n"
                 "    failureMode: FailOpen\n");
  expect_create(doc, 201, NULL);
  sy_free(doc);
  /* 64 labels is the maximum, 8 ports too. */
  sy_buf_t labels;
  sy_buf_init(&labels, 1 << 16);
  for (int i = 0; i < 64; i++) sy_buf_printf(&labels, "      l%d: v\n", i);
  sy_buf_t ports;
  sy_buf_init(&ports, 1 << 16);
  for (int i = 0; i < 8; i++) sy_buf_printf(&ports, "  - number: %d\n", 8000 + i);
  doc = pool_doc("pool-max", labels.data, ports.data, NULL);
  expect_create(doc, 201, NULL);
  sy_free(doc);
  sy_buf_cleanup(&labels);
  sy_buf_cleanup(&ports);
}
END_TEST

START_TEST(test_pool_validation) {
  sy_buf_t many;
  sy_buf_init(&many, 1 << 16);
  for (int i = 0; i < 65; i++) sy_buf_printf(&many, "      l%d: v\n", i);
  sy_buf_t nine;
  sy_buf_init(&nine, 1 << 16);
  for (int i = 0; i < 9; i++) sy_buf_printf(&nine, "  - number: %d\n", 8000 + i);
  const struct {
    const char *what, *labels, *ports, *extra, *msg;
  } bad[] = {
      {"duplicate ports", "      app: vllm\n", "  - number: 8000\n  - number: 8000\n", PICKER,
       "port number must be unique"},
      {"0 targetPorts", "      app: vllm\n", "    []\n", PICKER, "targetPorts"},
      {"9 targetPorts", "      app: vllm\n", nine.data, PICKER, "targetPorts"},
      {"65 labels", many.data, "  - number: 8000\n", PICKER, "matchLabels"},
      {"0 labels", "      {}\n", "  - number: 8000\n", PICKER, "matchLabels"},
      {"port 0", "      app: vllm\n", "  - number: 0\n", PICKER, "number"},
      {"port 65536", "      app: vllm\n", "  - number: 65536\n", PICKER, "number"},
      {"bad label value", "      app: \"-bad-\"\n", "  - number: 8000\n", PICKER, "matchLabels"},
      {"bad label key", "      \"a b\": x\n", "  - number: 8000\n", PICKER, "qualified names"},
      {"unknown appProtocol", "      app: vllm\n", "  - number: 8000\n",
       "  appProtocol: grpc\n", "appProtocol"},
      {"Service picker without port", "      app: vllm\n", "  - number: 8000\n",
       "  endpointPickerRef:\n    name: epp\n", "port is required"},
      {"bad failureMode", "      app: vllm\n", "  - number: 8000\n",
       "  endpointPickerRef:\n    name: epp\n    port:\n      number: 9002\n"
       "    failureMode: Maybe\n",
       "failureMode"},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(bad); i++) {
    char name[32];
    snprintf(name, sizeof(name), "bad-%zu", i);
    char *doc = pool_doc(name, bad[i].labels, bad[i].ports, bad[i].extra);
    char *resp = NULL;
    long code = sy_kubeapi_create_yaml(&g_k, NULL, doc, &resp);
    ck_assert_msg(code == 422 && resp && strstr(resp, bad[i].msg),
                  "%s: HTTP %ld (want 422 mentioning \"%s\"): %s", bad[i].what, code, bad[i].msg,
                  resp ? resp : "");
    sy_free(resp);
    sy_free(doc);
  }
  /* Missing required fields. */
  expect_create("apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
                "metadata:\n  name: no-spec-ports\n  namespace: " NS "\n"
                "spec:\n  selector:\n    matchLabels:\n      app: x\n",
                422, "targetPorts");
  sy_buf_cleanup(&many);
  sy_buf_cleanup(&nine);
}
END_TEST

START_TEST(test_pool_status_subresource) {
  /* The status subresource: status written via /status only, parentRef
   * defaults applied, spec untouched. */
  const char *path =
      "/apis/inference.networking.k8s.io/v1/namespaces/" NS "/inferencepools/" POOL "/status";
  ck_assert_int_eq(
      sy_kubeapi_patch(&g_k, path,
                       "{\"status\":{\"parents\":[{\"parentRef\":{\"name\":\"gw\","
                       "\"namespace\":\"" NS "\"},\"controllerName\":\"example.com/gw\","
                       "\"conditions\":[{\"type\":\"Accepted\",\"status\":\"True\","
                       "\"reason\":\"Accepted\",\"message\":\"\",\"lastTransitionTime\":"
                       "\"2026-01-01T00:00:00Z\"}]}]}}"),
      0);
  cJSON *p = get_json("/apis/inference.networking.k8s.io/v1/namespaces/" NS
                      "/inferencepools/" POOL);
  ck_assert_ptr_nonnull(p);
  const cJSON *parent = cJSON_GetArrayItem(
      cJSON_GetObjectItem(cJSON_GetObjectItem(p, "status"), "parents"), 0);
  ck_assert_ptr_nonnull(parent);
  ck_assert_str_eq(jstr(parent, "parentRef.group"), "gateway.networking.k8s.io");
  ck_assert_str_eq(jstr(parent, "parentRef.kind"), "Gateway");
  cJSON_Delete(p);
  /* A status with a bad reason is rejected. */
  char *resp = NULL;
  long code = sy_kubeapi_request(&g_k, NULL, "PATCH", path, "application/merge-patch+json",
                                 "{\"status\":{\"parents\":[{\"parentRef\":{\"name\":\"gw\"},"
                                 "\"conditions\":[{\"type\":\"Accepted\",\"status\":\"Yes\","
                                 "\"reason\":\"Accepted\",\"message\":\"\","
                                 "\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}]}]}}",
                                 &resp);
  ck_assert_msg(code == 422, "HTTP %ld: %s", code, resp ? resp : "");
  sy_free(resp);
}
END_TEST

static const char *const OLD_GROUPS[] = {"llm-d.ai", "inference.networking.x-k8s.io"};

START_TEST(test_objectives_and_rewrites) {
  for (size_t g = 0; g < SY_ARRAY_LEN(OLD_GROUPS); g++) {
    const char *grp = OLD_GROUPS[g];
    char doc[2048], path[512];
    snprintf(doc, sizeof(doc),
             "apiVersion: %s/v1alpha2\nkind: InferenceObjective\nmetadata:\n"
             "  name: critical\n  namespace: " NS "\n"
             "spec:\n  priority: 10\n  poolRef:\n    name: " POOL "\n",
             grp);
    expect_create(doc, 201, NULL);
    snprintf(path, sizeof(path), "/apis/%s/v1alpha2/namespaces/" NS "/inferenceobjectives/critical",
             grp);
    cJSON *o = get_json(path);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(jstr(o, "spec.poolRef.group"), "inference.networking.k8s.io");
    ck_assert_str_eq(jstr(o, "spec.poolRef.kind"), "InferencePool");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "priority")->valueint,
                     10);
    cJSON_Delete(o);
    snprintf(doc, sizeof(doc),
             "apiVersion: %s/v1alpha2\nkind: InferenceObjective\nmetadata:\n"
             "  name: no-pool\n  namespace: " NS "\nspec:\n  priority: 1\n",
             grp);
    expect_create(doc, 422, "poolRef");

    snprintf(doc, sizeof(doc),
             "apiVersion: %s/v1alpha2\nkind: InferenceModelRewrite\nmetadata:\n"
             "  name: rw\n  namespace: " NS "\n"
             "spec:\n  poolRef:\n    name: " POOL "\n"
             "  rules:\n  - matches:\n    - model:\n        value: food-review\n"
             "    targets:\n    - modelRewrite: food-review-v1\n      weight: 90\n"
             "    - modelRewrite: food-review-v2\n      weight: 10\n"
             "  - targets:\n    - modelRewrite: base\n",
             grp);
    expect_create(doc, 201, NULL);
    snprintf(path, sizeof(path),
             "/apis/%s/v1alpha2/namespaces/" NS "/inferencemodelrewrites/rw", grp);
    cJSON *r = get_json(path);
    ck_assert_ptr_nonnull(r);
    const cJSON *rule0 =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "spec"), "rules"), 0);
    const cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(rule0, "matches"), 0);
    ck_assert_str_eq(jstr(m0, "model.type"), "Exact");
    cJSON_Delete(r);
    const char *bad_rules[] = {
        "  rules:\n  - targets: []\n",                                    /* no target */
        "  rules:\n  - targets:\n    - modelRewrite: x\n      weight: 0\n", /* weight 0 */
        "  rules:\n  - targets:\n    - modelRewrite: x\n      weight: 1000001\n",
        "  rules:\n  - matches:\n    - model:\n        type: Prefix\n        value: a\n"
        "    targets:\n    - modelRewrite: x\n",
        "  rules:\n  - matches:\n    - model:\n        value: \"\"\n"
        "    targets:\n    - modelRewrite: x\n",
    };
    for (size_t i = 0; i < SY_ARRAY_LEN(bad_rules); i++) {
      snprintf(doc, sizeof(doc),
               "apiVersion: %s/v1alpha2\nkind: InferenceModelRewrite\nmetadata:\n"
               "  name: bad-%zu\n  namespace: " NS "\nspec:\n  poolRef:\n    name: " POOL "\n%s",
               grp, i, bad_rules[i]);
      expect_create(doc, 422, NULL);
    }
  }
}
END_TEST

/* ------------------------------------------------------------------- RBAC */

START_TEST(test_sa_identity) {
  char *resp = NULL;
  long code = sy_kubeapi_request(
      &g_k, g_token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      "application/json",
      "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}", &resp);
  ck_assert_msg(code == 201, "HTTP %ld: %s", code, resp ? resp : "");
  cJSON *j = cJSON_Parse(resp);
  ck_assert_str_eq(jstr(j, "status.userInfo.username"), "system:serviceaccount:" NS ":" SA);
  cJSON_Delete(j);
  sy_free(resp);
  /* A forged token is not a user at all. */
  code = sy_kubeapi_request(&g_k, "not-a-token", "GET", "/api/v1/namespaces/" NS "/pods", NULL,
                            NULL, NULL);
  ck_assert_int_eq(code, 401);
}
END_TEST

START_TEST(test_sa_allowed) {
  /* Pods: get, list, watch (the watch streams until timeoutSeconds). */
  ck_assert_int_eq(sa("GET", "/api/v1/namespaces/" NS "/pods"), 200);
  ck_assert_int_eq(sa("GET", "/api/v1/namespaces/" NS "/pods/p1"), 200);
  ck_assert_int_eq(sa("GET", "/api/v1/namespaces/" NS "/pods?labelSelector=app%3Dvllm"), 200);
  ck_assert_int_eq(sa("GET", "/api/v1/namespaces/" NS "/pods?watch=1&timeoutSeconds=1"), 200);
  /* Pools: get, list, watch (the EPP watches its pool by name). */
  ck_assert_int_eq(sa("GET", "/apis/inference.networking.k8s.io/v1/namespaces/" NS
                             "/inferencepools"),
                   200);
  ck_assert_int_eq(sa("GET", "/apis/inference.networking.k8s.io/v1/namespaces/" NS
                             "/inferencepools/" POOL),
                   200);
  ck_assert_int_eq(sa("GET", "/apis/inference.networking.k8s.io/v1/namespaces/" NS
                             "/inferencepools?watch=1&timeoutSeconds=1"
                             "&fieldSelector=metadata.name%3D" POOL),
                   200);
  /* Objectives and rewrites, both groups. */
  for (size_t g = 0; g < SY_ARRAY_LEN(OLD_GROUPS); g++) {
    const char *res[] = {"inferenceobjectives", "inferencemodelrewrites"};
    for (size_t r = 0; r < 2; r++) {
      char path[512];
      snprintf(path, sizeof(path), "/apis/%s/v1alpha2/namespaces/" NS "/%s", OLD_GROUPS[g],
               res[r]);
      ck_assert_msg(sa("GET", path) == 200, "list %s", path);
      snprintf(path, sizeof(path),
               "/apis/%s/v1alpha2/namespaces/" NS "/%s?watch=1&timeoutSeconds=1", OLD_GROUPS[g],
               res[r]);
      ck_assert_msg(sa("GET", path) == 200, "watch %s", path);
    }
  }
  /* Leases: create, get, update (leader election). */
  const char *leases = "/apis/coordination.k8s.io/v1/namespaces/" NS "/leases";
  char *resp = NULL;
  long code = sy_kubeapi_request(
      &g_k, g_token, "POST", leases, "application/json",
      "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
      "\"metadata\":{\"name\":\"switchyard-epp-lock\"},"
      "\"spec\":{\"holderIdentity\":\"epp-0\",\"leaseDurationSeconds\":15}}",
      &resp);
  ck_assert_msg(code == 201, "create lease: HTTP %ld: %s", code, resp ? resp : "");
  sy_free(resp);
  resp = NULL;
  code = sy_kubeapi_request(&g_k, g_token, "GET",
                            "/apis/coordination.k8s.io/v1/namespaces/" NS
                            "/leases/switchyard-epp-lock",
                            NULL, NULL, &resp);
  ck_assert_int_eq(code, 200);
  cJSON *lease = cJSON_Parse(resp);
  sy_free(resp);
  ck_assert_ptr_nonnull(lease);
  cJSON *spec = cJSON_GetObjectItem(lease, "spec");
  cJSON_ReplaceItemInObject(spec, "holderIdentity", cJSON_CreateString("epp-1"));
  char *body = cJSON_PrintUnformatted(lease); /* carries metadata.resourceVersion */
  cJSON_Delete(lease);
  resp = NULL;
  code = sy_kubeapi_request(&g_k, g_token, "PUT",
                            "/apis/coordination.k8s.io/v1/namespaces/" NS
                            "/leases/switchyard-epp-lock",
                            "application/json", body, &resp);
  cJSON_free(body);
  ck_assert_msg(code == 200, "update lease: HTTP %ld: %s", code, resp ? resp : "");
  sy_free(resp);
}
END_TEST

START_TEST(test_sa_forbidden) {
  const char *pod_json = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p1\","
                         "\"namespace\":\"" NS "\"},\"spec\":{\"containers\":[{\"name\":\"c\","
                         "\"image\":\"x\"}]}}";
  const char *merge = "application/merge-patch+json";
  const struct {
    const char *what, *method, *path, *ctype, *body;
  } cases[] = {
      {"list pods in another namespace", "GET", "/api/v1/namespaces/" OTHER_NS "/pods", NULL,
       NULL},
      {"get a pod in another namespace", "GET", "/api/v1/namespaces/" OTHER_NS "/pods/p2", NULL,
       NULL},
      {"list pods cluster-wide", "GET", "/api/v1/pods", NULL, NULL},
      {"watch pods cluster-wide", "GET", "/api/v1/pods?watch=1&timeoutSeconds=1", NULL, NULL},
      {"list secrets", "GET", "/api/v1/namespaces/" NS "/secrets", NULL, NULL},
      {"get a secret", "GET", "/api/v1/namespaces/" NS "/secrets/s1", NULL, NULL},
      {"list configmaps", "GET", "/api/v1/namespaces/" NS "/configmaps", NULL, NULL},
      {"update a pod", "PUT", "/api/v1/namespaces/" NS "/pods/p1", "application/json", pod_json},
      {"patch a pod", "PATCH", "/api/v1/namespaces/" NS "/pods/p1", merge,
       "{\"metadata\":{\"labels\":{\"x\":\"y\"}}}"},
      {"patch pod status", "PATCH", "/api/v1/namespaces/" NS "/pods/p1/status", merge,
       "{\"status\":{\"phase\":\"Failed\"}}"},
      {"delete a pod", "DELETE", "/api/v1/namespaces/" NS "/pods/p1", NULL, NULL},
      {"delete pods (collection)", "DELETE", "/api/v1/namespaces/" NS "/pods", NULL, NULL},
      {"create a pod", "POST", "/api/v1/namespaces/" NS "/pods", "application/json", pod_json},
      {"evict a pod", "POST", "/api/v1/namespaces/" NS "/pods/p1/eviction", "application/json",
       "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"p1\"}}"},
      {"exec into a pod", "POST", "/api/v1/namespaces/" NS "/pods/p1/exec?command=sh", NULL,
       NULL},
      {"update a pool", "PUT",
       "/apis/inference.networking.k8s.io/v1/namespaces/" NS "/inferencepools/" POOL,
       "application/json",
       "{\"apiVersion\":\"inference.networking.k8s.io/v1\",\"kind\":\"InferencePool\","
       "\"metadata\":{\"name\":\"" POOL "\"},\"spec\":{\"selector\":{\"matchLabels\":"
       "{\"a\":\"b\"}},\"targetPorts\":[{\"number\":1}]}}"},
      {"patch a pool", "PATCH",
       "/apis/inference.networking.k8s.io/v1/namespaces/" NS "/inferencepools/" POOL, merge,
       "{\"spec\":{\"appProtocol\":\"kubernetes.io/h2c\"}}"},
      {"patch pool status", "PATCH",
       "/apis/inference.networking.k8s.io/v1/namespaces/" NS "/inferencepools/" POOL "/status",
       merge, "{\"status\":{\"parents\":[]}}"},
      {"create a pool", "POST", "/apis/inference.networking.k8s.io/v1/namespaces/" NS
       "/inferencepools", "application/json", "{}"},
      {"delete a pool", "DELETE",
       "/apis/inference.networking.k8s.io/v1/namespaces/" NS "/inferencepools/" POOL, NULL, NULL},
      {"list pools in another namespace", "GET",
       "/apis/inference.networking.k8s.io/v1/namespaces/" OTHER_NS "/inferencepools", NULL,
       NULL},
      {"patch an objective", "PATCH",
       "/apis/llm-d.ai/v1alpha2/namespaces/" NS "/inferenceobjectives/critical", merge,
       "{\"spec\":{\"priority\":99}}"},
      {"delete a rewrite", "DELETE",
       "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/" NS
       "/inferencemodelrewrites/rw",
       NULL, NULL},
      {"list nodes", "GET", "/api/v1/nodes", NULL, NULL},
      {"list namespaces", "GET", "/api/v1/namespaces", NULL, NULL},
      {"list services", "GET", "/api/v1/namespaces/" NS "/services", NULL, NULL},
      {"list endpointslices", "GET", "/apis/discovery.k8s.io/v1/namespaces/" NS "/endpointslices",
       NULL, NULL},
      {"list CRDs", "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", NULL, NULL},
      {"create a lease in another namespace", "POST",
       "/apis/coordination.k8s.io/v1/namespaces/" OTHER_NS "/leases", "application/json",
       "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
       "\"metadata\":{\"name\":\"x\"},\"spec\":{}}"},
      {"list leases", "GET", "/apis/coordination.k8s.io/v1/namespaces/" NS "/leases", NULL, NULL},
      {"delete a lease", "DELETE",
       "/apis/coordination.k8s.io/v1/namespaces/" NS "/leases/switchyard-epp-lock", NULL, NULL},
      {"create events", "POST", "/api/v1/namespaces/" NS "/events", "application/json", "{}"},
      {"mint SA tokens", "POST", "/api/v1/namespaces/" NS "/serviceaccounts/" SA "/token",
       "application/json", "{}"},
      {"create a rolebinding", "POST",
       "/apis/rbac.authorization.k8s.io/v1/namespaces/" NS "/rolebindings", "application/json",
       "{}"},
      {"update its own role", "PATCH",
       "/apis/rbac.authorization.k8s.io/v1/namespaces/" NS "/roles/" SA, merge, "{}"},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    char *resp = NULL;
    long code = sy_kubeapi_request(&g_k, g_token, cases[i].method, cases[i].path, cases[i].ctype,
                                   cases[i].body, &resp);
    ck_assert_msg(code == 403, "%s (%s %s): HTTP %ld, want 403: %s", cases[i].what,
                  cases[i].method, cases[i].path, code, resp ? resp : "");
    sy_free(resp);
  }
}
END_TEST

/* Expands a rule into "group/resource:verb" strings, added to `set` (a
 * cJSON object used as a set). Returns false for rules this test does not
 * expect at all (resourceNames). */
static bool add_triples(cJSON *set, const cJSON *rule) {
  if (cJSON_GetArraySize(cJSON_GetObjectItem(rule, "resourceNames")) > 0) return false;
  const cJSON *g, *r, *v;
  cJSON_ArrayForEach(g, cJSON_GetObjectItem(rule, "apiGroups")) {
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(rule, "resources")) {
      cJSON_ArrayForEach(v, cJSON_GetObjectItem(rule, "verbs")) {
        char key[512];
        snprintf(key, sizeof(key), "%s/%s:%s", g->valuestring, r->valuestring, v->valuestring);
        if (!cJSON_HasObjectItem(set, key)) cJSON_AddTrueToObject(set, key);
      }
    }
  }
  return true;
}

static bool rule_in_scope(const cJSON *rule) {
  static const char *const groups[] = {"", "inference.networking.k8s.io", "llm-d.ai",
                                       "inference.networking.x-k8s.io", "coordination.k8s.io",
                                       "*"};
  const cJSON *g;
  cJSON_ArrayForEach(g, cJSON_GetObjectItem(rule, "apiGroups")) {
    for (size_t i = 0; i < SY_ARRAY_LEN(groups); i++)
      if (cJSON_IsString(g) && strcmp(g->valuestring, groups[i]) == 0) return true;
  }
  return false;
}

START_TEST(test_rules_review) {
  char *resp = NULL;
  long code = sy_kubeapi_request(
      &g_k, g_token, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
      "application/json",
      "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SelfSubjectRulesReview\","
      "\"spec\":{\"namespace\":\"" NS "\"}}",
      &resp);
  ck_assert_msg(code == 201, "HTTP %ld: %s", code, resp ? resp : "");
  cJSON *j = cJSON_Parse(resp);
  ck_assert_ptr_nonnull(j);
  const cJSON *st = cJSON_GetObjectItem(j, "status");
  ck_assert_msg(!cJSON_IsTrue(cJSON_GetObjectItem(st, "incomplete")), "incomplete review: %s",
                resp);
  cJSON *got = cJSON_CreateObject();
  const cJSON *rule;
  cJSON_ArrayForEach(rule, cJSON_GetObjectItem(st, "resourceRules")) {
    if (!rule_in_scope(rule)) continue;
    ck_assert_msg(add_triples(got, rule), "unexpected resourceNames rule in %s", resp);
  }
  static const char *const want[] = {
      "/pods:get",
      "/pods:list",
      "/pods:watch",
      "inference.networking.k8s.io/inferencepools:get",
      "inference.networking.k8s.io/inferencepools:list",
      "inference.networking.k8s.io/inferencepools:watch",
      "llm-d.ai/inferenceobjectives:get",
      "llm-d.ai/inferenceobjectives:list",
      "llm-d.ai/inferenceobjectives:watch",
      "llm-d.ai/inferencemodelrewrites:get",
      "llm-d.ai/inferencemodelrewrites:list",
      "llm-d.ai/inferencemodelrewrites:watch",
      "inference.networking.x-k8s.io/inferenceobjectives:get",
      "inference.networking.x-k8s.io/inferenceobjectives:list",
      "inference.networking.x-k8s.io/inferenceobjectives:watch",
      "inference.networking.x-k8s.io/inferencemodelrewrites:get",
      "inference.networking.x-k8s.io/inferencemodelrewrites:list",
      "inference.networking.x-k8s.io/inferencemodelrewrites:watch",
      "coordination.k8s.io/leases:get",
      "coordination.k8s.io/leases:create",
      "coordination.k8s.io/leases:update",
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(want); i++)
    ck_assert_msg(cJSON_HasObjectItem(got, want[i]), "missing rule %s in %s", want[i], resp);
  char *gs = cJSON_PrintUnformatted(got);
  ck_assert_msg(cJSON_GetArraySize(got) == (int)SY_ARRAY_LEN(want), "extra rules: got %s", gs);
  cJSON_free(gs);
  cJSON_Delete(got);

  /* In another namespace the SA has no resource rules in these groups. */
  sy_free(resp);
  resp = NULL;
  cJSON_Delete(j);
  code = sy_kubeapi_request(
      &g_k, g_token, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
      "application/json",
      "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SelfSubjectRulesReview\","
      "\"spec\":{\"namespace\":\"" OTHER_NS "\"}}",
      &resp);
  ck_assert_int_eq(code, 201);
  j = cJSON_Parse(resp);
  cJSON_ArrayForEach(rule, cJSON_GetObjectItem(cJSON_GetObjectItem(j, "status"), "resourceRules"))
      ck_assert_msg(!rule_in_scope(rule), "unexpected rule in " OTHER_NS ": %s", resp);
  cJSON_Delete(j);
  sy_free(resp);
}
END_TEST

/* --------------------------------------------------------- after restart */

START_TEST(test_after_restart) {
  cJSON *p = get_json("/apis/inference.networking.k8s.io/v1/namespaces/" NS
                      "/inferencepools/" POOL);
  ck_assert_msg(p, "pool gone after restart");
  ck_assert_str_eq(jstr(p, "spec.appProtocol"), "http");
  cJSON_Delete(p);
  /* The token was signed with the same key: still valid, still limited. */
  ck_assert_int_eq(sa("GET", "/api/v1/namespaces/" NS "/pods"), 200);
  ck_assert_int_eq(sa("GET", "/apis/llm-d.ai/v1alpha2/namespaces/" NS "/inferenceobjectives"),
                   200);
  ck_assert_int_eq(sa("GET", "/api/v1/namespaces/" OTHER_NS "/pods"), 403);
  ck_assert_int_eq(sa("DELETE", "/api/v1/namespaces/" NS "/pods/p1"), 403);
}
END_TEST

/* ---------------------------------------------------------------- harness */

START_TEST(test_harness_yaml_path) {
  char path[256], name[64];
  ck_assert_int_eq(sy_kubeapi_yaml_path("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n"
                                        "  labels:\n    namespace: nope\n",
                                        path, sizeof(path), name, sizeof(name)),
                   0);
  ck_assert_str_eq(path, "/api/v1/namespaces/default/pods");
  ck_assert_str_eq(name, "a");
  ck_assert_int_eq(sy_kubeapi_yaml_path("# c\nkind: InferencePool\nmetadata:\n"
                                        "    namespace: \"ns1\"  # x\n    name: p\n"
                                        "apiVersion: inference.networking.k8s.io/v1\n",
                                        path, sizeof(path), name, sizeof(name)),
                   0);
  ck_assert_str_eq(path, "/apis/inference.networking.k8s.io/v1/namespaces/ns1/inferencepools");
  ck_assert_str_eq(name, "p");
  ck_assert_int_eq(sy_kubeapi_yaml_path("apiVersion: rbac.authorization.k8s.io/v1\n"
                                        "kind: ClusterRole\nmetadata:\n  name: r\n",
                                        path, sizeof(path), NULL, 0),
                   0);
  ck_assert_str_eq(path, "/apis/rbac.authorization.k8s.io/v1/clusterroles");
  ck_assert_int_eq(sy_kubeapi_yaml_path("apiVersion: v1\nkind: Widget\n", path, sizeof(path),
                                        NULL, 0),
                   SY_ENOTFOUND);
  ck_assert_int_eq(sy_kubeapi_yaml_path("kind: Pod\n", path, sizeof(path), NULL, 0), SY_EPARSE);
}
END_TEST

START_TEST(test_harness_kubeconfig) {
  const char *path = sy_test_write_temp("kubeconfig", "");
  ck_assert_ptr_nonnull(path);
  ck_assert_int_eq(sy_kubeapi_write_kubeconfig(&g_k, g_token, path), 0);
  char *text = sy_test_read_file(path, NULL);
  ck_assert_ptr_nonnull(text);
  char want[sizeof(g_token) + 64];
  snprintf(want, sizeof(want), "server: %s\n", g_k.server);
  ck_assert_msg(strstr(text, want), "%s", text);
  snprintf(want, sizeof(want), "certificate-authority: %s\n", g_k.ca_file);
  ck_assert_msg(strstr(text, want), "%s", text);
  snprintf(want, sizeof(want), "token: %s\n", g_token);
  ck_assert_msg(strstr(text, want), "%s", text);
  sy_free(text);
  /* The CA file holds the apiserver's self-signed CA: every request here
   * verifies the serving certificate against it. */
  text = sy_test_read_file(g_k.ca_file, NULL);
  ck_assert_ptr_nonnull(text);
  ck_assert_msg(strstr(text, "BEGIN CERTIFICATE"), "no certificate in %s", g_k.ca_file);
  sy_free(text);
}
END_TEST

/* ------------------------------------------------------------------ setup */

/* CRDs, namespaces, the RBAC manifests (namespace substituted), two pods
 * and the SA token. Prints why and returns non-zero on failure. */
static int setup(void) {
  char pattern[1024];
  glob_t gl;
  snprintf(pattern, sizeof(pattern), "%s/crd/*.yaml", config_dir());
  if (glob(pattern, 0, NULL, &gl) != 0 || gl.gl_pathc != 5) {
    fprintf(stderr, "setup: want 5 CRD files matching %s\n", pattern);
    return 1;
  }
  for (size_t i = 0; i < gl.gl_pathc; i++) {
    if (sy_kubeapi_apply_yaml_file(&g_k, gl.gl_pathv[i]) != 0) {
      fprintf(stderr, "setup: CRD %s rejected\n", gl.gl_pathv[i]);
      globfree(&gl);
      return 1;
    }
  }
  globfree(&gl);
  if (sy_kubeapi_create_namespace(&g_k, NS) != 0 ||
      sy_kubeapi_create_namespace(&g_k, OTHER_NS) != 0)
    return 1;

  snprintf(pattern, sizeof(pattern), "%s/rbac/*.yaml", config_dir());
  if (glob(pattern, 0, NULL, &gl) != 0 || gl.gl_pathc == 0) {
    fprintf(stderr, "setup: no RBAC files matching %s\n", pattern);
    return 1;
  }
  for (size_t i = 0; i < gl.gl_pathc; i++) {
    char *text = sy_test_read_file(gl.gl_pathv[i], NULL);
    char *subst = text ? sy_kubeapi_subst(text, "namespace: default", "namespace: " NS) : NULL;
    int rc = subst ? sy_kubeapi_apply_yaml(&g_k, subst) : -1;
    sy_free(text);
    sy_free(subst);
    if (rc != 0) {
      fprintf(stderr, "setup: %s rejected\n", gl.gl_pathv[i]);
      globfree(&gl);
      return 1;
    }
  }
  globfree(&gl);

  if (sy_kubeapi_create_pod(&g_k, NS, "p1", "app=vllm",
                            "inference.networking.k8s.io/active-ports=8000", NULL) != 0 ||
      sy_kubeapi_set_pod_status(&g_k, NS, "p1", "10.1.0.1", true) != 0 ||
      sy_kubeapi_create_pod(&g_k, OTHER_NS, "p2", "app=vllm", NULL, "node-2") != 0 ||
      sy_kubeapi_set_pod_status(&g_k, OTHER_NS, "p2", NULL, false) != 0)
    return 1;
  if (sy_kubeapi_apply_yaml(&g_k, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s1\n"
                                  "  namespace: " NS "\nstringData:\n  k: v\n") != 0)
    return 1;
  if (sy_kubeapi_sa_token(&g_k, NS, SA, g_token, sizeof(g_token)) != 0) {
    fprintf(stderr, "setup: TokenRequest for %s/%s failed\n", NS, SA);
    return 1;
  }
  /* The harness's pod helpers did what they say. */
  cJSON *pod = get_json("/api/v1/namespaces/" NS "/pods/p1");
  bool ok = pod && jstr(pod, "status.podIP") && !strcmp(jstr(pod, "status.podIP"), "10.1.0.1") &&
            !strcmp(jstr(pod, "status.phase"), "Running");
  cJSON_Delete(pod);
  if (!ok) {
    fprintf(stderr, "setup: pod p1 status not as set\n");
    return 1;
  }
  return 0;
}

static Suite *main_suite(void) {
  Suite *s = suite_create("kube_rbac");
  TCase *crd = tcase_create("crd");
  tcase_add_test(crd, test_crds_established);
  tcase_add_test(crd, test_pool_defaults);
  tcase_add_test(crd, test_pool_validation);
  tcase_add_test(crd, test_pool_status_subresource);
  tcase_add_test(crd, test_objectives_and_rewrites);
  suite_add_tcase(s, crd);
  TCase *rbac = tcase_create("rbac");
  tcase_add_test(rbac, test_sa_identity);
  tcase_add_test(rbac, test_sa_allowed);
  tcase_add_test(rbac, test_sa_forbidden);
  tcase_add_test(rbac, test_rules_review);
  suite_add_tcase(s, rbac);
  TCase *harness = tcase_create("harness");
  tcase_add_test(harness, test_harness_yaml_path);
  tcase_add_test(harness, test_harness_kubeconfig);
  suite_add_tcase(s, harness);
  return s;
}

static Suite *restart_suite(void) {
  Suite *s = suite_create("kube_rbac_restart");
  TCase *tc = tcase_create("restart");
  tcase_add_test(tc, test_after_restart);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  int rc = sy_kubeapi_start(&g_k);
  if (rc == SY_KUBEAPI_SKIP) return SY_KUBEAPI_SKIP;
  if (rc != 0) return 1;
  fprintf(stderr, "kube_rbac: apiserver %s ready in %.2f s\n", g_k.server, g_k.last_start_s);
  int failed = setup();
  if (failed == 0) failed = sy_test_run(main_suite());
  if (failed == 0) {
    if (sy_kubeapi_restart(&g_k) != 0) {
      fprintf(stderr, "kube_rbac: restart failed\n");
      failed = 1;
    } else {
      fprintf(stderr, "kube_rbac: apiserver restarted, ready in %.2f s\n", g_k.last_start_s);
      failed = sy_test_run(restart_suite());
    }
  }
  if (failed) sy_kubeapi_dump_logs(&g_k, 30);
  sy_kubeapi_stop(&g_k);
  return failed ? 1 : 0;
}
