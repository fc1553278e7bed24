/*
 * End-to-end for gateway mode: switchyard as the controller of GatewayClass
 * "switchyard" against a REAL kube-apiserver (test/support/kubeapi.h) with
 * the upstream Gateway API CRDs (standard channel) and ours, a service
 * account bound by exactly the ClusterRole of manifests/gateway.yaml, real
 * Envoy rendered from examples/envoy/gateway.yaml, and switchyard-sim model
 * servers:
 *
 *   curl -> Envoy :P (listener of Gateway e2eg-infra/gw) -> ext_proc ->
 *   switchyard --gateway-mode --kubeconfig -> sim (pool A: sims 0-1,
 *   pool B: sim 2, Service svc-chat via an EndpointSlice: sim 3,
 *   pool C in another namespace: sim 4)
 *
 * Namespaces: e2eg-infra (the Gateways), e2eg-app (routes, pools A, B and
 * D, the Service; labelled so the "http" listener's selector allows it),
 * e2eg-models (pool C), e2eg-outside (a route the listener does not allow),
 * e2eg-other (GatewayClass "other" of another controller: its Gateway,
 * route and pool must stay untouched).
 *
 * Routes in e2eg-app (parentRef gw, sectionName http unless noted):
 *   split     /v1 -> A w70 + B w30; /v1 + "x-pool: b" -> B
 *   svc       /svc -> URLRewrite ReplacePrefixMatch /v1 -> Service
 *             svc-chat:8000 (its EndpointSlice names sim 3, which listens on
 *             a non-loopback address of this host: the API server refuses
 *             loopback addresses in EndpointSlices; without one, that
 *             routing check is skipped)
 *   filters   /v1 + "x-filter: yes" -> B with RequestHeaderModifier (set
 *             x-request-id, echoed by the sim as x-sim-request-id) and
 *             ResponseHeaderModifier (add x-gw-resp); /rewrite -> URLRewrite
 *             ReplacePrefixMatch /v1 -> B; /old -> RequestRedirect 301
 *   missing   /missing -> a pool that does not exist (BackendNotFound)
 *   badkind   /badkind -> example.com/Widget (InvalidKind)
 *   xns       /v1 + "x-pool: c" -> pool C in e2eg-models (RefNotPermitted
 *             until a ReferenceGrant allows it)
 *   api-host  sectionName api (hostname api.example.com), route hostname
 *             api.example.com: every path -> B (listener isolation: requests
 *             for that host never see the routes of listener http)
 *   hostname  sectionName api, route hostname other.example.org
 *             (NoMatchingListenerHostname)
 *   dref      /dref -> pool D (deleted while switchyard is down: the stale
 *             pool entry must go after the restart)
 * and "outsider" in e2eg-outside (NotAllowedByListeners). Gateway gw-badport
 * has a listener on a port Envoy does not serve (PortUnavailable). Later
 * cases add and remove "h2c" (/v1 + "x-pool: h2c" -> pool-h2c, appProtocol
 * kubernetes.io/h2c, whose one endpoint is an HTTP/2-only Envoy in front of
 * sim 4 on 127.0.0.56) and "le-missing" (BackendNotFound, written while the
 * leader of two replicas with --ha-enable-leader-election is frozen).
 *
 * Status is read back through the API (polled, STATUS_MS at most); entries
 * written by another controller (other.example/ctrl) into a route's and a
 * pool's status.parents must survive our writes untouched. The last cases
 * restart switchyard, run it as two replicas electing a leader (the Lease
 * switchyard-gateway-controller in $NAMESPACE=default, where the Role of
 * manifests/gateway.yaml grants leases), then run a second switchyard +
 * Envoy from local manifests (--manifests, no API server) over the same
 * simulators.
 *
 * Environment (test/e2e/CMakeLists.txt): SY_SWITCHYARD_BIN, SY_SIM_BIN,
 * SY_ENVOY_BIN, SY_ENVOY_TEMPLATE (examples/envoy/gateway.yaml),
 * SY_CONFIG_DIR (config/: our CRDs), SY_GATEWAY_MANIFESTS
 * (manifests/gateway.yaml: the RBAC), SY_UPSTREAM_GATEWAY_CRDS or
 * SY_UPSTREAM_CRDS_SCRIPT (hack/upstream-crds.sh), SY_KUBE_TOOLS;
 * SY_E2E_REQUIRE=1 fails instead of skipping (77); SY_E2E_KEEP=1 keeps logs.
 * Check runs in no-fork mode: the stack lives in this process.
 */
#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "e2e.h"
#include "kubeapi.h"
#include "proc.h"
#include "test_support.h"

#define N_SIMS 5
#define IP_BASE 51 /* 127.0.0.51..55 */
#define SIM_B 2
#define SIM_SVC 3
#define SIM_C 4
#define MODEL "e2eg-model"
#define CTRL "switchyard.dev/gateway-controller"
#define OTHER_CTRL "other.example/ctrl"
#define NS_INFRA "e2eg-infra"
#define NS_APP "e2eg-app"
#define NS_MODELS "e2eg-models"
#define NS_OUT "e2eg-outside"
#define NS_LOCAL "e2eg-local"
#define NS_OTHER "e2eg-other" /* another controller's Gateway */
#define GW "gw"
#define GWAPI "/apis/gateway.networking.k8s.io"
#define POOLAPI "/apis/inference.networking.k8s.io/v1"
#define STATUS_MS 20000 /* budget for status to converge */
#define PICKUP_MS 10000 /* budget for a cluster change to reach the data path */
#define SPLIT_N 2000
#define LOCAL_N 1000
#define CONC 16
#define N_HTTP_ROUTES 7 /* routes accepted by listener http */

static struct {
  sy_e2e_stack_t e; /* API-server mode */
  sy_e2e_stack_t m; /* local manifests mode (its own ports, dir, switchyard, Envoy) */
  sy_kubeapi_t kube;
  char kubeconfig[640];
  const char *config_dir, *gw_manifests;
  char *gw_crds;
  int unserved_port;
  bool svc_local; /* sim 3 listens on a non-loopback address of this host */
  int seq;
  bool m_started, m_ok;
  /* h2c front: an HTTP/2-only Envoy before sim SIM_C (test_h2c_pool) */
  sy_proc_t front;
  char front_ip[32];
  int front_port, front_admin;
  /* a second gateway-mode replica (test_leader_status_writes) */
  sy_proc_t sy2;
  int sy2_grpc, sy2_health, sy2_metrics;
  bool front_ok, le_ok; /* those cases passed: no logs to dump */
} S;

static double ms_since(uint64_t t0) { return (double)(sy_now_ns() - t0) / 1e6; }

/* ------------------------------------------------------------ API server */

/* POSTs one YAML object to `coll` (a collection path) as admin: 0 on 201. */
static int kcreate(const char *coll, const char *yaml) {
  char *resp = NULL;
  long st = sy_kubeapi_request(&S.kube, NULL, "POST", coll, "application/yaml", yaml, &resp);
  if (st != 201) fprintf(stderr, "e2e-gw: POST %s: HTTP %ld\n%s\n%s\n", coll, st, yaml, resp ? resp : "");
  sy_free(resp);
  return st == 201 ? 0 : -1;
}

/* GET `path` as admin, parsed; NULL unless 200 (cJSON_Delete it). */
static cJSON *kget(const char *path) {
  char *body = NULL;
  long st = sy_kubeapi_request(&S.kube, NULL, "GET", path, NULL, NULL, &body);
  cJSON *j = st == 200 && body ? cJSON_Parse(body) : NULL;
  sy_free(body);
  return j;
}

/* Appends `entry` (JSON text) to status.parents of the object at `path`
 * through its /status subresource, retrying on conflicts (switchyard writes
 * the same objects). 0 or -1. */
static int add_status_parent(const char *path, const char *entry) {
  char spath[512];
  snprintf(spath, sizeof(spath), "%s/status", path);
  for (int attempt = 0; attempt < 50; attempt++) {
    cJSON *root = kget(path);
    if (!root) return -1;
    cJSON *st = cJSON_GetObjectItem(root, "status");
    if (!st) st = cJSON_AddObjectToObject(root, "status");
    cJSON *parents = cJSON_GetObjectItem(st, "parents");
    if (!parents) parents = cJSON_AddArrayToObject(st, "parents");
    cJSON_AddItemToArray(parents, cJSON_Parse(entry));
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char *resp = NULL;
    long code = sy_kubeapi_request(&S.kube, NULL, "PUT", spath, "application/json", body, &resp);
    cJSON_free(body);
    if (code == 200) {
      sy_free(resp);
      return 0;
    }
    if (code != 409) {
      fprintf(stderr, "e2e-gw: PUT %s: HTTP %ld\n%s\n", spath, code, resp ? resp : "");
      sy_free(resp);
      return -1;
    }
    sy_free(resp);
    sy_sleep_ms(20);
  }
  return -1;
}

/* ---------------------------------------------------------- status checks */

static const char *jstr(const cJSON *o, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static bool str_is(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* Where the conditions live in an object: NULL when not there (yet). */
typedef const cJSON *(*locate_fn)(const cJSON *root, const char *arg);

static const cJSON *loc_status(const cJSON *root, const char *arg) {
  SY_UNUSED(arg);
  return cJSON_GetObjectItemCaseSensitive(root, "status");
}

static const cJSON *loc_listener(const cJSON *root, const char *name) {
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(loc_status(root, NULL), "listeners")) {
    if (str_is(jstr(it, "name"), name)) return it;
  }
  return NULL;
}

/* A status.parents entry of controller `ctrl` for Gateway NS_INFRA/<name>
 * (the parentRef's namespace written explicitly). */
static const cJSON *parent_of(const cJSON *root, const char *ctrl, const char *gw) {
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(loc_status(root, NULL), "parents")) {
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(it, "parentRef");
    if (str_is(jstr(it, "controllerName"), ctrl) && str_is(jstr(ref, "name"), gw) &&
        str_is(jstr(ref, "namespace"), NS_INFRA))
      return it;
  }
  return NULL;
}

static const cJSON *loc_ours(const cJSON *root, const char *gw) { return parent_of(root, CTRL, gw); }

static const cJSON *loc_foreign(const cJSON *root, const char *gw) { return parent_of(root, OTHER_CTRL, gw); }

typedef struct want {
  const char *type, *status, *reason;
} want_t;

/* True when holder.conditions has every wanted condition, observed at
 * generation `gen` (< 0: not checked); else why says what differs. */
static bool conds_match(const cJSON *holder, const want_t *w, size_t n, double gen, char *why, size_t wn) {
  if (!holder) {
    snprintf(why, wn, "not there");
    return false;
  }
  const cJSON *conds = cJSON_GetObjectItemCaseSensitive(holder, "conditions");
  for (size_t i = 0; i < n; i++) {
    const cJSON *c = NULL, *it;
    cJSON_ArrayForEach(it, conds) {
      if (str_is(jstr(it, "type"), w[i].type)) c = it;
    }
    if (!c || !str_is(jstr(c, "status"), w[i].status) || (w[i].reason && !str_is(jstr(c, "reason"), w[i].reason))) {
      snprintf(why, wn, "%s is %s/%s (%s), want %s/%s", w[i].type, c ? jstr(c, "status") : "missing",
               c ? jstr(c, "reason") : "-", c ? jstr(c, "message") : "-", w[i].status,
               w[i].reason ? w[i].reason : "*");
      return false;
    }
    double og = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "observedGeneration"));
    if (gen >= 0 && og != gen) {
      snprintf(why, wn, "%s observedGeneration %.0f, metadata.generation %.0f", w[i].type, og, gen);
      return false;
    }
  }
  return true;
}

/* Polls `path` until loc(root, arg) has the wanted conditions (STATUS_MS);
 * returns the object (cJSON_Delete it) or fails the test. */
static cJSON *await_conds(const char *what, const char *path, locate_fn loc, const char *arg, const want_t *w,
                          size_t n) {
  uint64_t t0 = sy_now_ns();
  char why[1024] = "no object";
  for (;;) {
    cJSON *root = kget(path);
    double gen = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "metadata"), "generation"));
    if (root && conds_match(loc(root, arg), w, n, gen, why, sizeof(why))) return root;
    if (ms_since(t0) > STATUS_MS) {
      char *txt = root ? cJSON_PrintUnformatted(cJSON_GetObjectItem(root, "status")) : NULL;
      fprintf(stderr, "e2e-gw: %s: status after %d ms: %s\n", what, STATUS_MS, txt ? txt : "(none)");
      cJSON_free(txt);
      cJSON_Delete(root);
      ck_abort_msg("%s: %s", what, why);
    }
    cJSON_Delete(root);
    sy_sleep_ms(100);
  }
}

/* Polls until loc(root, arg) finds nothing; returns the object. */
static cJSON *await_absent(const char *what, const char *path, locate_fn loc, const char *arg) {
  uint64_t t0 = sy_now_ns();
  for (;;) {
    cJSON *root = kget(path);
    if (root && !loc(root, arg)) return root;
    if (ms_since(t0) > STATUS_MS) {
      char *txt = root ? cJSON_PrintUnformatted(cJSON_GetObjectItem(root, "status")) : NULL;
      fprintf(stderr, "e2e-gw: %s: status after %d ms: %s\n", what, STATUS_MS, txt ? txt : "(none)");
      cJSON_free(txt);
      cJSON_Delete(root);
      ck_abort_msg("%s: still there after %d ms", what, STATUS_MS);
    }
    cJSON_Delete(root);
    sy_sleep_ms(100);
  }
}

static int count_parents(const cJSON *root, const char *ctrl) {
  int n = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(loc_status(root, NULL), "parents")) {
    n += str_is(jstr(it, "controllerName"), ctrl);
  }
  return n;
}

/* Our one HTTPRoute parent entry: Accepted True, ResolvedRefs as wanted,
 * parentRef echoed with its namespace and sectionName. */
static void expect_route(const char *name, const char *ns, const char *section, const char *acc_status,
                         const char *acc_reason, const char *refs_status, const char *refs_reason) {
  char path[256], what[128];
  snprintf(path, sizeof(path), GWAPI "/v1/namespaces/%s/httproutes/%s", ns, name);
  snprintf(what, sizeof(what), "HTTPRoute %s/%s", ns, name);
  want_t w[] = {{"Accepted", acc_status, acc_reason}, {"ResolvedRefs", refs_status, refs_reason}};
  cJSON *root = await_conds(what, path, loc_ours, GW, w, SY_ARRAY_LEN(w));
  const cJSON *p = loc_ours(root, GW);
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(p, "parentRef");
  ck_assert_str_eq(jstr(p, "controllerName"), CTRL);
  ck_assert_str_eq(jstr(ref, "sectionName"), section);
  ck_assert_str_eq(jstr(ref, "kind"), "Gateway");
  ck_assert_int_eq(count_parents(root, CTRL), 1);
  fprintf(stderr, "e2e-gw: %s: Accepted=%s/%s ResolvedRefs=%s/%s\n", what, acc_status, acc_reason, refs_status,
          refs_reason);
  cJSON_Delete(root);
}

/* ---------------------------------------------------------------- HTTP */

typedef struct gresp {
  long status;
  CURLcode cerr;
  sy_buf_t body, hdrs;
  struct curl_slist *sl;
  char req_body[256];
} gresp_t;

static void gresp_init(gresp_t *r) {
  memset(r, 0, sizeof(*r));
  sy_buf_init(&r->body, 1u << 20);
  sy_buf_init(&r->hdrs, 1u << 16);
}

static void gresp_cleanup(gresp_t *r) {
  sy_buf_cleanup(&r->body);
  sy_buf_cleanup(&r->hdrs);
  curl_slist_free_all(r->sl);
  r->sl = NULL;
}

static size_t g_write(char *p, size_t size, size_t n, void *ud) {
  gresp_t *r = ud;
  return sy_buf_append(&r->body, p, size * n) == 0 ? size * n : 0;
}

static size_t g_header(char *p, size_t size, size_t n, void *ud) {
  gresp_t *r = ud;
  if (size * n >= 5 && strncmp(p, "HTTP/", 5) == 0) sy_buf_reset(&r->hdrs);
  return sy_buf_append(&r->hdrs, p, size * n) == 0 ? size * n : 0;
}

/* The value of response header `name` (first occurrence) into out; "" when
 * absent. Returns out. */
static const char *hdr(const gresp_t *r, const char *name, char *out, size_t n) {
  out[0] = '\0';
  size_t nl = strlen(name);
  const char *p = r->hdrs.data, *end = p ? p + r->hdrs.len : NULL;
  while (p && p < end) {
    const char *le = memchr(p, '\n', (size_t)(end - p));
    if (!le) le = end;
    if ((size_t)(le - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1, *ve = le;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
      snprintf(out, n, "%.*s", (int)(ve - v), v);
      return out;
    }
    p = le + 1;
  }
  return out;
}

/* Sets up `c` for one request to <base><path>: GET when `post` is false,
 * else a unique completion (chat when the path ends in chat/completions).
 * `hdrs` is a NULL-terminated list of "name: value" (may be NULL). */
static void req_setup(CURL *c, const char *base, const char *path, bool post, const char *const *hdrs, gresp_t *r) {
  char url[512];
  snprintf(url, sizeof(url), "%s%s", base, path);
  curl_slist_free_all(r->sl);
  r->sl = curl_slist_append(NULL, "Expect:");
  for (size_t i = 0; hdrs && hdrs[i]; i++) r->sl = curl_slist_append(r->sl, hdrs[i]);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, g_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, g_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_PRIVATE, r);
  if (post) {
    int n = ++S.seq;
    size_t pl = strlen(path);
    bool chat = pl >= 16 && strcmp(path + pl - 16, "chat/completions") == 0;
    if (chat)
      snprintf(r->req_body, sizeof(r->req_body),
               "{\"model\":\"" MODEL "\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":"
               "\"gateway request %d\"}]}",
               n);
    else
      snprintf(r->req_body, sizeof(r->req_body),
               "{\"model\":\"" MODEL "\",\"prompt\":\"gateway request %d\",\"max_tokens\":1}", n);
    r->sl = curl_slist_append(r->sl, "content-type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->req_body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->req_body));
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->sl);
}

/* One request through Envoy at `base` into *r (gresp_init'ed). */
static void req_at(const char *base, const char *path, bool post, const char *const *hdrs, gresp_t *r) {
  CURL *c = curl_easy_init();
  ck_assert_ptr_nonnull(c);
  req_setup(c, base, path, post, hdrs, r);
  r->cerr = curl_easy_perform(c);
  if (r->cerr == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_cleanup(c);
}

static void req(const char *path, bool post, const char *const *hdrs, gresp_t *r) {
  req_at(S.e.base_url, path, post, hdrs, r);
}

/* The simulator that served a 200: switchyard's pick
 * (x-gateway-destination-endpoint), Envoy's upstream and the simulator's
 * identity agree and name one of ours. -1 otherwise (why in `why`). */
static int served_by(const gresp_t *r, char *why, size_t wn) {
  char dest[128], up[128], inst[128];
  hdr(r, "x-gateway-destination-endpoint", dest, sizeof(dest));
  hdr(r, "x-upstream-host", up, sizeof(up));
  hdr(r, "x-sim-instance", inst, sizeof(inst));
  if (r->cerr != CURLE_OK || r->status != 200) {
    snprintf(why, wn, "curl %d status %ld: %.200s", r->cerr, r->status, r->body.data ? r->body.data : "");
    return -1;
  }
  if (!dest[0] || strcmp(dest, up) != 0 || strcmp(dest, inst) != 0) {
    snprintf(why, wn, "destination %s, upstream %s, simulator %s disagree", dest, up, inst);
    return -1;
  }
  for (int i = 0; i < N_SIMS; i++)
    if (strcmp(dest, S.e.sims[i].addr) == 0) return i;
  snprintf(why, wn, "destination %s is not a simulator", dest);
  return -1;
}

/* One POST that must be answered 200 by a simulator; returns its index. */
static int post_ok(const char *path, const char *const *hdrs, const char *step) {
  gresp_t r;
  gresp_init(&r);
  req(path, true, hdrs, &r);
  char why[512];
  int i = served_by(&r, why, sizeof(why));
  gresp_cleanup(&r);
  ck_assert_msg(i >= 0, "%s: %s", step, why);
  return i;
}

/* `n` POSTs of `path` through Envoy at `base`, CONC at a time on kept-alive
 * connections; per[] counts the simulator that served each. Fails the test
 * on any answer that is not a routed 200. Returns the elapsed ms. */
static double bulk(const char *base, const char *path, const char *const *hdrs, int n, int per[N_SIMS]) {
  CURLM *m = curl_multi_init();
  ck_assert_ptr_nonnull(m);
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)CONC);
  static gresp_t slots[CONC];
  CURL *easy[CONC];
  int started = 0, done = 0, bad = 0;
  char first_bad[512] = "";
  uint64_t t0 = sy_now_ns();
  for (int i = 0; i < CONC; i++) {
    gresp_init(&slots[i]);
    easy[i] = curl_easy_init();
    ck_assert_ptr_nonnull(easy[i]);
    if (started < n) {
      req_setup(easy[i], base, path, true, hdrs, &slots[i]);
      curl_multi_add_handle(m, easy[i]);
      started++;
    }
  }
  while (done < n && ms_since(t0) < 120000) {
    int running = 0;
    curl_multi_perform(m, &running);
    curl_multi_poll(m, NULL, 0, 50, NULL);
    CURLMsg *msg;
    int q;
    while ((msg = curl_multi_info_read(m, &q)) != NULL) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL *c = msg->easy_handle;
      void *priv = NULL;
      curl_easy_getinfo(c, CURLINFO_PRIVATE, &priv);
      gresp_t *r = priv;
      r->cerr = msg->data.result;
      r->status = 0;
      if (r->cerr == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
      char why[512];
      int i = served_by(r, why, sizeof(why));
      if (i < 0) {
        if (!bad++) snprintf(first_bad, sizeof(first_bad), "%s", why);
      } else {
        per[i]++;
      }
      done++;
      curl_multi_remove_handle(m, c);
      if (started < n) {
        sy_buf_reset(&r->body);
        sy_buf_reset(&r->hdrs);
        req_setup(c, base, path, true, hdrs, r);
        curl_multi_add_handle(m, c);
        started++;
      }
    }
  }
  double el = ms_since(t0);
  for (int i = 0; i < CONC; i++) {
    curl_multi_remove_handle(m, easy[i]);
    curl_easy_cleanup(easy[i]);
    gresp_cleanup(&slots[i]);
  }
  curl_multi_cleanup(m);
  ck_assert_msg(done == n, "%s: only %d of %d requests completed in %.0f ms", path, done, n, el);
  ck_assert_msg(bad == 0, "%s: %d of %d requests failed; first: %s", path, bad, n, first_bad);
  return el;
}

/* Posts to `path` (with hdrs) until the answer has status `want` and, for
 * 200, comes from sim `sim` (-1: any); PICKUP_MS. Returns the ms it took. */
static double await_answer(const char *path, const char *const *hdrs, long want, int sim, const char *step) {
  uint64_t t0 = sy_now_ns();
  for (;;) {
    gresp_t r;
    gresp_init(&r);
    req(path, true, hdrs, &r);
    char why[512] = "";
    int i = r.status == 200 ? served_by(&r, why, sizeof(why)) : -1;
    bool ok = r.cerr == CURLE_OK && r.status == want && (want != 200 || (i >= 0 && (sim < 0 || i == sim)));
    if (ok) {
      gresp_cleanup(&r);
      return ms_since(t0);
    }
    if (ms_since(t0) > PICKUP_MS) {
      ck_abort_msg("%s: after %d ms still status %ld (sim %d, %s): %.200s; want %ld from sim %d", step,
                   PICKUP_MS, r.status, i, why, r.body.data ? r.body.data : "", want, sim);
    }
    gresp_cleanup(&r);
    sy_sleep_ms(50);
  }
}

/* -------------------------------------------------------------- cluster */

/* The first non-loopback IPv4 address of an interface that is up, into ip;
 * false when there is none. */
static bool host_ipv4(char *ip, size_t n) {
  struct ifaddrs *ifs = NULL, *it;
  bool found = false;
  if (getifaddrs(&ifs) != 0) return false;
  for (it = ifs; it && !found; it = it->ifa_next) {
    if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET || !(it->ifa_flags & IFF_UP) ||
        (it->ifa_flags & IFF_LOOPBACK))
      continue;
    struct sockaddr_in sin;
    memcpy(&sin, it->ifa_addr, sizeof(sin));
    found = inet_ntop(AF_INET, &sin.sin_addr, ip, (socklen_t)n) != NULL && strncmp(ip, "127.", 4) != 0;
  }
  freeifaddrs(ifs);
  return found;
}

/* Moves sim 3 to a non-loopback address when the host has one, and picks
 * one port free on every simulator address again. */
static int place_service_sim(void) {
  char ip[INET_ADDRSTRLEN];
  if (!host_ipv4(ip, sizeof(ip))) {
    fprintf(stderr, "e2e-gw: no non-loopback IPv4 address: the Service backend's routing is not checked\n");
    return 0;
  }
  snprintf(S.e.sims[SIM_SVC].ip, sizeof(S.e.sims[SIM_SVC].ip), "%s", ip);
  const char *ips[N_SIMS];
  for (int i = 0; i < N_SIMS; i++) ips[i] = S.e.sims[i].ip;
  S.e.sim_port = sy_port_free_on_all(ips, N_SIMS);
  if (S.e.sim_port <= 0) return -1;
  for (int i = 0; i < N_SIMS; i++)
    snprintf(S.e.sims[i].addr, sizeof(S.e.sims[i].addr), "%s:%d", S.e.sims[i].ip, S.e.sim_port);
  S.svc_local = true;
  return 0;
}

/* $name, else the output of `$SY_UPSTREAM_CRDS_SCRIPT name` (sy_free it),
 * or NULL (reason printed). */
static char *upstream_dir(const char *name) {
  const char *v = getenv(name);
  if (v && *v) return sy_strdup(v);
  const char *script = getenv("SY_UPSTREAM_CRDS_SCRIPT");
  if (!script || !*script) {
    fprintf(stderr, "e2e-gw: neither %s nor SY_UPSTREAM_CRDS_SCRIPT is set\n", name);
    return NULL;
  }
  char cmd[1024], line[1024] = "";
  snprintf(cmd, sizeof(cmd), "'%s' '%s'", script, name);
  FILE *p = popen(cmd, "r");
  if (!p) return NULL;
  if (!fgets(line, sizeof(line), p)) line[0] = '\0';
  int rc = pclose(p);
  line[strcspn(line, "\r\n")] = '\0';
  if (rc != 0 || !line[0]) {
    fprintf(stderr, "e2e-gw: %s failed (status %d)\n", cmd, rc);
    return NULL;
  }
  return sy_strdup(line);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Applies every *.yaml of `dir` in name order. */
static int apply_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "e2e-gw: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  char *names[64];
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL && n < SY_ARRAY_LEN(names)) {
    size_t l = strlen(de->d_name);
    if (l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0) names[n++] = sy_strdup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof(*names), cmp_name);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    if (!rc) rc = sy_kubeapi_apply_yaml_file(&S.kube, path);
    sy_free(names[i]);
  }
  return rc;
}

/* The RBAC documents of the rendered gateway manifests (ServiceAccount,
 * ClusterRole(Binding), Role(Binding)), applied as they are: switchyard runs
 * with exactly what an install grants it. */
static int apply_rendered_rbac(void) {
  static const char *const KEEP[] = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"};
  size_t len = 0;
  char *text = sy_test_read_file(S.gw_manifests, &len);
  if (!text) return -1;
  sy_buf_t out;
  sy_buf_init(&out, 1u << 20);
  int n_kept = 0, rc = 0;
  /* documents are separated by "---" lines */
  for (char *doc = text; doc && !rc;) {
    char *sep = strstr(doc, "\n---");
    if (sep) *sep = '\0';
    const char *k = strstr(doc, "\nkind: ");
    if (k) {
      char kind[64];
      sscanf(k + 7, "%63s", kind);
      for (size_t i = 0; i < SY_ARRAY_LEN(KEEP); i++)
        if (!strcmp(kind, KEEP[i])) {
          rc = sy_buf_printf(&out, "---\n%s\n", doc);
          n_kept++;
        }
    }
    doc = sep ? sep + 4 : NULL;
  }
  if (!rc && n_kept != 5) {
    fprintf(stderr, "e2e-gw: %s: %d RBAC documents, want 5\n", S.gw_manifests, n_kept);
    rc = -1;
  }
  if (!rc) rc = sy_kubeapi_apply_yaml(&S.kube, out.data);
  sy_buf_cleanup(&out);
  sy_free(text);
  return rc;
}

static int create_pool(const char *ns, const char *name, const char *app) {
  char y[1024];
  snprintf(y, sizeof(y),
           "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
           "metadata: {name: %s, namespace: %s}\n"
           "spec:\n  selector: {matchLabels: {app: %s}}\n  targetPorts: [{number: %d}]\n",
           name, ns, app, S.e.sim_port);
  char coll[256];
  snprintf(coll, sizeof(coll), POOLAPI "/namespaces/%s/inferencepools", ns);
  return kcreate(coll, y);
}

static int create_pod(const char *ns, int sim, const char *app) {
  char labels[64];
  snprintf(labels, sizeof(labels), "app=%s", app);
  int rc = sy_kubeapi_create_pod(&S.kube, ns, S.e.sims[sim].name, labels, NULL, NULL);
  return rc ? rc : sy_kubeapi_set_pod_status(&S.kube, ns, S.e.sims[sim].name, S.e.sims[sim].ip, true);
}

#define SLOW_TIMEOUT "400ms"
#define SLOW_TIMEOUT_MS 400
#define PARENT_HTTP "  parentRefs: [{name: " GW ", namespace: " NS_INFRA ", sectionName: http}]\n"
#define POOL_REF(n) "{group: inference.networking.k8s.io, kind: InferencePool, name: " n "}"

static int create_route(const char *ns, const char *name, const char *spec) {
  char y[4096], coll[256];
  snprintf(y, sizeof(y), "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
                         "metadata: {name: %s, namespace: %s}\nspec:\n%s", name, ns, spec);
  snprintf(coll, sizeof(coll), GWAPI "/v1/namespaces/%s/httproutes", ns);
  return kcreate(coll, y);
}

static int setup_cluster(void) {
  char path[1024], y[4096];
  /* CRDs: the Gateway API standard channel and ours. */
  if (apply_dir(S.gw_crds) != 0) return -1;
  snprintf(path, sizeof(path), "%s/crd", S.config_dir);
  if (apply_dir(path) != 0) return -1;
  /* Namespaces: the http listener admits those labelled e2eg/routes=allowed. */
  snprintf(y, sizeof(y),
           "apiVersion: v1\nkind: Namespace\nmetadata: {name: " NS_INFRA "}\n---\n"
           "apiVersion: v1\nkind: Namespace\nmetadata: {name: " NS_APP ", labels: {e2eg/routes: allowed}}\n---\n"
           "apiVersion: v1\nkind: Namespace\nmetadata: {name: " NS_MODELS "}\n---\n"
           "apiVersion: v1\nkind: Namespace\nmetadata: {name: " NS_OUT "}\n---\n"
           "apiVersion: v1\nkind: Namespace\nmetadata: {name: " NS_OTHER "}\n");
  if (sy_kubeapi_apply_yaml(&S.kube, y) != 0) return -1;
  if (apply_rendered_rbac() != 0) return -1;
  char token[4096];
  if (sy_kubeapi_sa_token(&S.kube, "default", "switchyard-epp", token, sizeof(token)) != 0) return -1;
  snprintf(S.kubeconfig, sizeof(S.kubeconfig), "%s/kubeconfig", S.e.dir);
  if (sy_kubeapi_write_kubeconfig(&S.kube, token, S.kubeconfig) != 0) return -1;

  /* Another controller's class, Gateway (on our port) and route: none of
   * them is ours to touch. */
  if (kcreate(GWAPI "/v1/gatewayclasses", "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
                                          "metadata: {name: other}\nspec: {controllerName: " OTHER_CTRL "}\n"))
    return -1;
  snprintf(y, sizeof(y),
           "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: other-gw, namespace: " NS_OTHER
           "}\nspec:\n  gatewayClassName: other\n  listeners: [{name: http, protocol: HTTP, port: %d}]\n",
           S.e.listen_port);
  if (kcreate(GWAPI "/v1/namespaces/" NS_OTHER "/gateways", y) || create_pool(NS_OTHER, "pool-o", "pool-o")) return -1;

  /* GatewayClass and Gateways. */
  if (kcreate(GWAPI "/v1/gatewayclasses", "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
                                          "metadata: {name: switchyard}\nspec: {controllerName: " CTRL "}\n"))
    return -1;
  snprintf(y, sizeof(y),
           "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: " GW ", namespace: " NS_INFRA
           "}\n"
           "spec:\n  gatewayClassName: switchyard\n  listeners:\n"
           "  - name: http\n    protocol: HTTP\n    port: %d\n"
           "    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {e2eg/routes: allowed}}}}\n"
           "  - name: api\n    protocol: HTTP\n    port: %d\n    hostname: api.example.com\n"
           "    allowedRoutes: {namespaces: {from: All}}\n",
           S.e.listen_port, S.e.listen_port);
  if (kcreate(GWAPI "/v1/namespaces/" NS_INFRA "/gateways", y)) return -1;
  snprintf(y, sizeof(y),
           "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw-badport, namespace: " NS_INFRA
           "}\n"
           "spec:\n  gatewayClassName: switchyard\n  listeners:\n"
           "  - {name: http, protocol: HTTP, port: %d}\n",
           S.unserved_port);
  if (kcreate(GWAPI "/v1/namespaces/" NS_INFRA "/gateways", y)) return -1;

  /* Pools and their pods; the Service and its EndpointSlice. */
  if (create_pool(NS_APP, "pool-a", "pool-a") || create_pool(NS_APP, "pool-b", "pool-b") ||
      create_pool(NS_MODELS, "pool-c", "pool-c") || create_pool(NS_APP, "pool-d", "pool-d"))
    return -1;
  if (create_pod(NS_APP, 0, "pool-a") || create_pod(NS_APP, 1, "pool-a") || create_pod(NS_APP, SIM_B, "pool-b") ||
      create_pod(NS_MODELS, SIM_C, "pool-c"))
    return -1;
  if (kcreate("/api/v1/namespaces/" NS_APP "/services",
              "apiVersion: v1\nkind: Service\nmetadata: {name: svc-chat, namespace: " NS_APP "}\n"
              "spec:\n  clusterIP: None\n  ports: [{name: http, port: 8000, protocol: TCP}]\n"))
    return -1;
  snprintf(y, sizeof(y),
           "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
           "metadata: {name: svc-chat-1, namespace: " NS_APP ", labels: {kubernetes.io/service-name: svc-chat}}\n"
           "addressType: IPv4\n"
           "endpoints: [{addresses: [\"%s\"], conditions: {ready: true}}]\n"
           "ports: [{name: http, port: %d, protocol: TCP}]\n",
           S.svc_local ? S.e.sims[SIM_SVC].ip : "203.0.113.54", S.e.sim_port);
  if (kcreate("/apis/discovery.k8s.io/v1/namespaces/" NS_APP "/endpointslices", y)) return -1;

  /* Routes. */
  if (create_route(NS_APP, "split",
                   PARENT_HTTP "  rules:\n"
                               "  - matches: [{path: {type: PathPrefix, value: /v1}}]\n"
                               "    backendRefs:\n"
                               "    - {group: inference.networking.k8s.io, kind: InferencePool, name: pool-a, weight: 70}\n"
                               "    - {group: inference.networking.k8s.io, kind: InferencePool, name: pool-b, weight: 30}\n"
                               "  - matches: [{path: {type: PathPrefix, value: /v1}, headers: [{name: x-pool, value: b}]}]\n"
                               "    backendRefs: [" POOL_REF("pool-b") "]\n") ||
      create_route(NS_APP, "svc",
                   PARENT_HTTP
                   "  rules:\n"
                   "  - matches: [{path: {type: PathPrefix, value: /svc}}]\n"
                   "    filters:\n"
                   "    - type: URLRewrite\n"
                   "      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v1}}\n"
                   "    backendRefs: [{name: svc-chat, port: 8000}]\n") ||
      create_route(NS_APP, "filters",
                   PARENT_HTTP
                   "  rules:\n"
                   "  - matches: [{path: {type: PathPrefix, value: /v1}, headers: [{name: x-filter, value: \"yes\"}]}]\n"
                   "    filters:\n"
                   "    - type: RequestHeaderModifier\n"
                   "      requestHeaderModifier: {set: [{name: x-request-id, value: gw-e2e-set}]}\n"
                   "    - type: ResponseHeaderModifier\n"
                   "      responseHeaderModifier: {add: [{name: x-gw-resp, value: added}]}\n"
                   "    backendRefs: [" POOL_REF("pool-b") "]\n"
                   "  - matches: [{path: {type: PathPrefix, value: /rewrite}}]\n"
                   "    filters:\n"
                   "    - type: URLRewrite\n"
                   "      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v1}}\n"
                   "    backendRefs: [" POOL_REF("pool-b") "]\n"
                   "  - matches: [{path: {type: PathPrefix, value: /old}}]\n"
                   "    filters:\n"
                   "    - type: RequestRedirect\n"
                   "      requestRedirect: {hostname: redirect.example.com, statusCode: 301,\n"
                   "                        path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}\n"
                   "  - matches: [{path: {type: PathPrefix, value: /v1}, headers: [{name: x-slow, value: \"yes\"}]}]\n"
                   "    timeouts: {request: " SLOW_TIMEOUT "}\n"
                   "    backendRefs: [" POOL_REF("pool-b") "]\n") ||
      create_route(NS_APP, "missing",
                   PARENT_HTTP "  rules:\n"
                               "  - matches: [{path: {type: PathPrefix, value: /missing}}]\n"
                               "    backendRefs: [" POOL_REF("no-such-pool") "]\n") ||
      create_route(NS_APP, "badkind",
                   PARENT_HTTP "  rules:\n"
                               "  - matches: [{path: {type: PathPrefix, value: /badkind}}]\n"
                               "    backendRefs: [{group: example.com, kind: Widget, name: w}]\n") ||
      create_route(NS_APP, "xns",
                   PARENT_HTTP
                   "  rules:\n"
                   "  - matches: [{path: {type: PathPrefix, value: /v1}, headers: [{name: x-pool, value: c}]}]\n"
                   "    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: pool-c,"
                   " namespace: " NS_MODELS "}]\n") ||
      create_route(NS_APP, "hostname",
                   "  parentRefs: [{name: " GW ", namespace: " NS_INFRA ", sectionName: api}]\n"
                   "  hostnames: [other.example.org]\n"
                   "  rules:\n  - backendRefs: [" POOL_REF("pool-a") "]\n") ||
      create_route(NS_APP, "api-host",
                   "  parentRefs: [{name: " GW ", namespace: " NS_INFRA ", sectionName: api}]\n"
                   "  hostnames: [api.example.com]\n"
                   "  rules:\n  - backendRefs: [" POOL_REF("pool-b") "]\n") ||
      create_route(NS_APP, "dref",
                   PARENT_HTTP "  rules:\n"
                               "  - matches: [{path: {type: PathPrefix, value: /dref}}]\n"
                               "    backendRefs: [" POOL_REF("pool-d") "]\n") ||
      create_route(NS_OTHER, "other-route",
                   "  parentRefs: [{name: other-gw}]\n  rules:\n  - backendRefs: [" POOL_REF("pool-o") "]\n") ||
      create_route(NS_OUT, "outsider", PARENT_HTTP "  rules:\n  - matches: [{path: {type: PathPrefix, value: /out}}]\n"))
    return -1;
  return 0;
}

/* switchyard's flags for this Gateway (listener S.e.listen_port) with its
 * own gRPC, health and admin ports (b holds their text); with leader
 * election on short timings (lease 3 s, renew 2 s, retry 250 ms) when `le`. */
typedef struct sy_args {
  char gp[16], hp[16], mp[16], lp[16];
  char *argv[40];
} sy_args_t;

static char *const *sy_argv(sy_args_t *b, int grpc, int health, int metrics, bool le) {
  snprintf(b->gp, sizeof(b->gp), "%d", grpc);
  snprintf(b->hp, sizeof(b->hp), "%d", health);
  snprintf(b->mp, sizeof(b->mp), "%d", metrics);
  snprintf(b->lp, sizeof(b->lp), "%d", S.e.listen_port);
  char *const base[] = {(char *)S.e.sy_bin,
                        "--gateway-mode",
                        "--gateway-controller-name", CTRL,
                        "--gateway-listener-ports",  b->lp,
                        "--gateway-address",         "127.0.0.1",
                        "--kubeconfig",              S.kubeconfig,
                        "--grpc-port",               b->gp,
                        "--grpc-health-port",        b->hp,
                        "--metrics-port",            b->mp,
                        "--listen-address",          "127.0.0.1",
                        "--drain-seconds",           "1",
                        "--v",                       "3"};
  size_t n = 0;
  for (; n < SY_ARRAY_LEN(base); n++) b->argv[n] = base[n];
  if (le) {
    char *const el[] = {"--ha-enable-leader-election",    "--leader-election-lease-duration", "3s",
                        "--leader-election-renew-deadline", "2s", "--leader-election-retry-period", "250ms"};
    for (size_t i = 0; i < SY_ARRAY_LEN(el); i++) b->argv[n++] = el[i];
  }
  b->argv[n] = NULL;
  return b->argv;
}

/* As the Deployment: the Lease lives in $NAMESPACE (the release's, where
 * the Role of manifests/gateway.yaml grants leases). */
static char *const SY_ENV[] = {"NAMESPACE=default", NULL};

static int start_switchyard_le(bool le) {
  sy_args_t b;
  return sy_e2e_switchyard_start_env(&S.e, sy_argv(&b, S.e.grpc_port, S.e.health_port, S.e.metrics_port, le),
                                     le ? SY_ENV : NULL);
}

static int start_switchyard(void) { return start_switchyard_le(false); }

/* Posts completions until the whole chain answers 200. */
static int wait_chain_ready(const char *base, int timeout_ms, const sy_proc_t *sy, const sy_proc_t *envoy) {
  uint64_t t0 = sy_now_ns();
  long last = 0;
  while (ms_since(t0) < timeout_ms) {
    gresp_t r;
    gresp_init(&r);
    req_at(base, "/v1/completions", true, NULL, &r);
    last = r.status;
    gresp_cleanup(&r);
    if (last == 200) {
      fprintf(stderr, "e2e-gw: %s answered 200 %.0f ms after Envoy was ready\n", base, ms_since(t0));
      return 0;
    }
    if (!sy_proc_alive((sy_proc_t *)sy) || !sy_proc_alive((sy_proc_t *)envoy)) break;
    sy_sleep_ms(100);
  }
  fprintf(stderr, "e2e-gw: %s not ready (last status %ld)\n", base, last);
  return -1;
}

static void stack_setup(void) {
  uint64_t t0 = sy_now_ns();
  S.e.up = false;
  S.e.model = MODEL;
  if (sy_e2e_stack_ports(&S.e) != 0 || sy_e2e_stack_sims(&S.e, IP_BASE, N_SIMS) != 0 || place_service_sim() != 0)
    goto fail;
  S.unserved_port = S.e.listen_port < 65535 ? S.e.listen_port + 1 : S.e.listen_port - 1;
  fprintf(stderr, "e2e-gw: dir %s, apiserver %s (up in %.1f s), epp %d, envoy listener %d, sims 127.0.0.%d-%d:%d\n",
          S.e.dir, S.kube.server, S.kube.last_start_s, S.e.grpc_port, S.e.listen_port, IP_BASE,
          IP_BASE + N_SIMS - 1, S.e.sim_port);
  if (sy_e2e_sims_start(&S.e, 0, N_SIMS) != 0) goto fail;
  uint64_t tc = sy_now_ns();
  if (setup_cluster() != 0) goto fail;
  fprintf(stderr, "e2e-gw: cluster objects created in %.1f s\n", ms_since(tc) / 1000);
  if (start_switchyard() != 0) goto fail;
  if (sy_e2e_envoy_start(&S.e, true) != 0) goto fail;
  if (wait_chain_ready(S.e.base_url, 20000, &S.e.sy, &S.e.envoy) != 0) goto fail;
  fprintf(stderr, "e2e-gw: stack up in %.1f s (after the apiserver)\n", ms_since(t0) / 1000);
  S.e.up = true;
  return;
fail:
  sy_e2e_stack_dump_logs(&S.e);
  sy_kubeapi_dump_logs(&S.kube, 20);
}

static void stack_teardown(void) {
  if (S.m_started && !S.m_ok) {
    sy_proc_dump_log(&S.m.sy, 60);
    sy_proc_dump_log(&S.m.envoy, 40);
  }
  if (S.front.pid && !S.front_ok) sy_proc_dump_log(&S.front, 40);
  if (S.sy2.pid && !S.le_ok) sy_proc_dump_log(&S.sy2, 80);
  /* a case that failed midway may have left a replica stopped */
  sy_proc_signal(&S.e.sy, SIGCONT);
  sy_proc_signal(&S.sy2, SIGCONT);
  sy_proc_stop(&S.sy2, 5000);
  sy_proc_stop(&S.front, 5000);
  sy_e2e_stack_stop(&S.m);
  sy_e2e_stack_stop(&S.e);
}

#define REQUIRE_STACK() sy_e2e_require_up(&S.e)

/* ------------------------------------------------------------------ tests */

/* GatewayClass Accepted; Gateway gw Accepted + Programmed with both
 * listeners valid, the attached routes counted; gw-badport's listener is on
 * a port Envoy does not serve. */
START_TEST(test_gateway_status) {
  REQUIRE_STACK();
  want_t cls[] = {{"Accepted", "True", "Accepted"}};
  cJSON *root = await_conds("GatewayClass switchyard", GWAPI "/v1/gatewayclasses/switchyard", loc_status, NULL, cls,
                            1);
  cJSON_Delete(root);
  const char *gw_path = GWAPI "/v1/namespaces/" NS_INFRA "/gateways/" GW;
  want_t gw[] = {{"Accepted", "True", "Accepted"}, {"Programmed", "True", "Programmed"}};
  cJSON_Delete(await_conds("Gateway gw", gw_path, loc_status, NULL, gw, SY_ARRAY_LEN(gw)));
  want_t ls[] = {{"Accepted", "True", "Accepted"},
                 {"Programmed", "True", "Programmed"},
                 {"ResolvedRefs", "True", "ResolvedRefs"},
                 {"Conflicted", "False", "NoConflicts"}};
  cJSON_Delete(await_conds("listener api", gw_path, loc_listener, "api", ls, SY_ARRAY_LEN(ls)));
  root = await_conds("listener http", gw_path, loc_listener, "http", ls, SY_ARRAY_LEN(ls));
  /* attachedRoutes converges once every route is seen */
  uint64_t t0 = sy_now_ns();
  for (;;) {
    const cJSON *l = loc_listener(root, "http");
    int attached = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(l, "attachedRoutes"));
    int api = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(loc_listener(root, "api"), "attachedRoutes"));
    const cJSON *k0 = cJSON_GetArrayItem(cJSON_GetObjectItem(l, "supportedKinds"), 0);
    if (attached == N_HTTP_ROUTES && api == 1) {
      /* status.addresses: the data plane's address (--gateway-address) */
      const cJSON *addr = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "status"), "addresses"), 0);
      ck_assert_msg(addr != NULL, "Gateway gw has no status.addresses");
      ck_assert_str_eq(jstr(addr, "type"), "IPAddress");
      ck_assert_str_eq(jstr(addr, "value"), "127.0.0.1");
      ck_assert_str_eq(jstr(k0, "kind"), "HTTPRoute");
      ck_assert_str_eq(jstr(k0, "group"), "gateway.networking.k8s.io");
      fprintf(stderr, "e2e-gw: Gateway gw Accepted+Programmed; listener http attachedRoutes %d, api %d\n",
              attached, api);
      break;
    }
    ck_assert_msg(ms_since(t0) < STATUS_MS, "listener attachedRoutes http %d (want %d), api %d (want 1)", attached,
                  N_HTTP_ROUTES, api);
    cJSON_Delete(root);
    sy_sleep_ms(100);
    root = kget(gw_path);
    ck_assert_ptr_nonnull(root);
  }
  cJSON_Delete(root);

  const char *bad_path = GWAPI "/v1/namespaces/" NS_INFRA "/gateways/gw-badport";
  want_t bl[] = {{"Accepted", "False", "PortUnavailable"}, {"Programmed", "False", NULL}};
  root = await_conds("gw-badport listener http", bad_path, loc_listener, "http", bl, SY_ARRAY_LEN(bl));
  const char *msg = NULL;
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(loc_listener(root, "http"), "conditions")) {
    if (str_is(jstr(it, "type"), "Accepted")) msg = jstr(it, "message");
  }
  fprintf(stderr, "e2e-gw: gw-badport listener on port %d: Accepted=False/PortUnavailable (%s)\n", S.unserved_port,
          msg ? msg : "");
  cJSON_Delete(root);
  want_t bg[] = {{"Accepted", "False", "ListenersNotValid"}, {"Programmed", "False", NULL}};
  cJSON_Delete(await_conds("Gateway gw-badport", bad_path, loc_status, NULL, bg, SY_ARRAY_LEN(bg)));
}
END_TEST

/* Every HTTPRoute's entry with our controllerName and its reasons. */
START_TEST(test_route_status) {
  REQUIRE_STACK();
  expect_route("split", NS_APP, "http", "True", "Accepted", "True", "ResolvedRefs");
  expect_route("svc", NS_APP, "http", "True", "Accepted", "True", "ResolvedRefs");
  expect_route("filters", NS_APP, "http", "True", "Accepted", "True", "ResolvedRefs");
  expect_route("missing", NS_APP, "http", "True", "Accepted", "False", "BackendNotFound");
  expect_route("badkind", NS_APP, "http", "True", "Accepted", "False", "InvalidKind");
  expect_route("xns", NS_APP, "http", "True", "Accepted", "False", "RefNotPermitted");
  expect_route("api-host", NS_APP, "api", "True", "Accepted", "True", "ResolvedRefs");
  expect_route("hostname", NS_APP, "api", "False", "NoMatchingListenerHostname", "True", NULL);
  expect_route("outsider", NS_OUT, "http", "False", "NotAllowedByListeners", "True", NULL);
}
END_TEST

/* Pools A and B carry a parent entry for the Gateway (namespace explicit),
 * Accepted/Accepted; pool C none while the route to it is not permitted. */
START_TEST(test_pool_status) {
  REQUIRE_STACK();
  want_t w[] = {{"Accepted", "True", "Accepted"}, {"ResolvedRefs", "True", "ResolvedRefs"}};
  const char *names[] = {"pool-a", "pool-b"};
  for (size_t i = 0; i < SY_ARRAY_LEN(names); i++) {
    char path[256], what[64];
    snprintf(path, sizeof(path), POOLAPI "/namespaces/" NS_APP "/inferencepools/%s", names[i]);
    snprintf(what, sizeof(what), "InferencePool %s", names[i]);
    cJSON *root = await_conds(what, path, loc_ours, GW, w, SY_ARRAY_LEN(w));
    const cJSON *ref = cJSON_GetObjectItem(loc_ours(root, GW), "parentRef");
    ck_assert_str_eq(jstr(ref, "namespace"), NS_INFRA);
    ck_assert_str_eq(jstr(ref, "kind"), "Gateway");
    ck_assert_str_eq(jstr(ref, "group"), "gateway.networking.k8s.io");
    ck_assert_int_eq(count_parents(root, CTRL), 1);
    cJSON_Delete(root);
  }
  cJSON *root = kget(POOLAPI "/namespaces/" NS_MODELS "/inferencepools/pool-c");
  ck_assert_ptr_nonnull(root);
  ck_assert_int_eq(count_parents(root, CTRL), 0);
  cJSON_Delete(root);
  fprintf(stderr, "e2e-gw: pool-a, pool-b: parent %s/%s Accepted=True/Accepted; pool-c: no parent\n", NS_INFRA, GW);
}
END_TEST

/* Envoy's count of downstream connections accepted so far, -1 unknown. */
static double envoy_connections(int admin_port) {
  char url[128], *page = NULL;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/stats?filter=^http.inference.downstream_cx_total$", admin_port);
  double v = -1;
  if (sy_http_get(url, 2000, &page) == 200 && page) {
    const char *c = strchr(page, ':');
    if (c) v = strtod(c + 1, NULL);
  }
  sy_free(page);
  return v;
}

/* backendRefs A weight 70 / B weight 30: over SPLIT_N requests A's share is
 * within 3 points of 70 %. */
START_TEST(test_weighted_split) {
  REQUIRE_STACK();
  int per[N_SIMS] = {0};
  double cx0 = envoy_connections(S.e.admin_port);
  double el = bulk(S.e.base_url, "/v1/completions", NULL, SPLIT_N, per);
  double cx = envoy_connections(S.e.admin_port) - cx0;
  int a = per[0] + per[1], b = per[SIM_B];
  double share = 100.0 * a / SPLIT_N;
  fprintf(stderr,
          "e2e-gw: weighted split over %d requests (%d parallel on %.0f connections) in %.0f ms (%.0f req/s): "
          "pool-a %d (%.2f %%: sim-0 %d, sim-1 %d), pool-b %d (%.2f %%), others %d\n",
          SPLIT_N, CONC, cx, el, SPLIT_N / (el / 1000), a, share, per[0], per[1], b, 100.0 * b / SPLIT_N,
          per[SIM_SVC] + per[SIM_C]);
  ck_assert_msg(cx >= 1 && cx <= 4 * CONC, "%.0f client connections for %d requests: no keep-alive?", cx, SPLIT_N);
  ck_assert_int_eq(a + b, SPLIT_N);
  ck_assert_msg(fabs(share - 70.0) <= 3.0, "pool-a share %.2f %% is not within 70 +- 3", share);
}
END_TEST

/* A header match sends only to B; the /svc path rule goes to the
 * Service's endpoint (from its EndpointSlice) beside the pools. */
START_TEST(test_header_and_service) {
  REQUIRE_STACK();
  const char *xb[] = {"x-pool: b", NULL};
  int per[N_SIMS] = {0};
  bulk(S.e.base_url, "/v1/completions", xb, 100, per);
  ck_assert_msg(per[SIM_B] == 100, "x-pool: b: %d of 100 to pool-b", per[SIM_B]);
  fprintf(stderr, "e2e-gw: x-pool: b -> %d/100 pool-b\n", per[SIM_B]);
  /* Host api.example.com selects listener api: only its route applies. */
  const char *api[] = {"Host: api.example.com", NULL}, *api2[] = {"Host: API.Example.COM:8081", NULL};
  memset(per, 0, sizeof(per));
  bulk(S.e.base_url, "/v1/completions", api, 50, per);
  bulk(S.e.base_url, "/v1/completions", api2, 50, per);
  ck_assert_msg(per[SIM_B] == 100, "Host api.example.com: %d of 100 to pool-b", per[SIM_B]);
  gresp_t r;
  gresp_init(&r);
  req("/old/thing", false, api, &r); /* listener http's redirect does not apply */
  ck_assert_msg(r.status != 301, "Host api.example.com got listener http's redirect");
  gresp_cleanup(&r);
  fprintf(stderr, "e2e-gw: Host api.example.com (any case, with a port) -> %d/100 pool-b via listener api\n",
          per[SIM_B]);
  if (!S.svc_local) {
    fprintf(stderr, "e2e-gw: Service backend routing skipped (no non-loopback address)\n");
    return;
  }
  memset(per, 0, sizeof(per));
  bulk(S.e.base_url, "/svc/chat/completions", NULL, 50, per);
  bulk(S.e.base_url, "/svc/completions", NULL, 50, per);
  ck_assert_msg(per[SIM_SVC] == 100, "/svc: %d of 100 to the Service endpoint %s", per[SIM_SVC],
                S.e.sims[SIM_SVC].addr);
  fprintf(stderr, "e2e-gw: /svc -> %d/100 Service svc-chat (endpoint %s)\n", per[SIM_SVC], S.e.sims[SIM_SVC].addr);
}
END_TEST

/* RequestHeaderModifier reaches the simulator (it echoes x-request-id as
 * x-sim-request-id), ResponseHeaderModifier reaches the client, URLRewrite
 * turns /rewrite/completions into /v1/completions (the simulator answers
 * 404 to anything else). */
START_TEST(test_filters) {
  REQUIRE_STACK();
  const char *xf[] = {"x-filter: yes", NULL};
  gresp_t r;
  gresp_init(&r);
  req("/v1/completions", true, xf, &r);
  char why[512], v[256];
  ck_assert_msg(served_by(&r, why, sizeof(why)) == SIM_B, "filters: %s", why);
  ck_assert_str_eq(hdr(&r, "x-sim-request-id", v, sizeof(v)), "gw-e2e-set");
  ck_assert_str_eq(hdr(&r, "x-gw-resp", v, sizeof(v)), "added");
  ck_assert_msg(strstr(r.body.data, "cmpl-gw-e2e-set") != NULL, "response id: %.200s", r.body.data);
  gresp_cleanup(&r);

  gresp_init(&r);
  req("/rewrite/completions", true, NULL, &r);
  ck_assert_msg(served_by(&r, why, sizeof(why)) == SIM_B, "rewrite: %s", why);
  ck_assert_msg(strstr(r.body.data, "\"text_completion\"") != NULL, "rewrite body: %.200s", r.body.data);
  gresp_cleanup(&r);
  /* Without the rewrite the simulator does not know the path. */
  gresp_init(&r);
  req_at(S.e.base_url, "/v1/nope/completions", true, NULL, &r);
  ck_assert_int_eq(r.status, 404);
  gresp_cleanup(&r);
  fprintf(stderr, "e2e-gw: RequestHeaderModifier seen by the sim, ResponseHeaderModifier by the client, "
                  "URLRewrite /rewrite -> /v1 served\n");
}
END_TEST

/* A completion of n tokens (the simulators emit one per 5 ms) on
 * /v1/completions; returns the wall time in ms. */
static double req_tokens(const char *const *hdrs, int n, gresp_t *r) {
  CURL *c = curl_easy_init();
  ck_assert_ptr_nonnull(c);
  req_setup(c, S.e.base_url, "/v1/completions", true, hdrs, r);
  snprintf(r->req_body, sizeof(r->req_body), "{\"model\":\"" MODEL "\",\"prompt\":\"slow %d\",\"max_tokens\":%d}",
           ++S.seq, n);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->req_body));
  uint64_t t0 = sy_now_ns();
  r->cerr = curl_easy_perform(c);
  double ms = (double)(sy_now_ns() - t0) / 1e6;
  if (r->cerr == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_cleanup(c);
  return ms;
}

/* HTTPRoute timeouts.request is enforced by Envoy's router: a completion
 * that takes ~1.5 s gets 504 after ~400 ms. (A client's own
 * x-envoy-upstream-rq-timeout-ms is removed by switchyard — test_director —
 * and, for external requests, ignored by Envoy anyway.) */
START_TEST(test_timeouts) {
  REQUIRE_STACK();
  const char *slow[] = {"x-slow: yes", NULL};
  gresp_t r;
  gresp_init(&r);
  double ms = req_tokens(slow, 300, &r);
  ck_assert_msg(r.cerr == CURLE_OK && r.status == 504, "slow rule: curl %d, HTTP %ld after %.0f ms: %.200s", r.cerr,
                r.status, ms, r.body.data ? r.body.data : "");
  ck_assert_msg(ms >= SLOW_TIMEOUT_MS - 50 && ms < 1300, "504 after %.0f ms (timeout " SLOW_TIMEOUT ")", ms);
  gresp_cleanup(&r);

  fprintf(stderr, "e2e-gw: timeouts.request " SLOW_TIMEOUT ": 504 after %.0f ms\n", ms);
}
END_TEST

/* RequestRedirect answers 301 with Location; no match is 404; a rule whose
 * backend does not exist or is of an unsupported kind is 500. */
START_TEST(test_redirect_404_500) {
  REQUIRE_STACK();
  gresp_t r;
  char loc[512], want[512], inst[128];
  gresp_init(&r);
  req("/old/thing?x=1", false, NULL, &r);
  snprintf(want, sizeof(want), "http://redirect.example.com:%d/new/thing?x=1", S.e.listen_port);
  ck_assert_int_eq(r.status, 301);
  ck_assert_str_eq(hdr(&r, "location", loc, sizeof(loc)), want);
  ck_assert_str_eq(hdr(&r, "x-sim-instance", inst, sizeof(inst)), "");
  gresp_cleanup(&r);
  fprintf(stderr, "e2e-gw: GET /old/thing?x=1 -> 301 Location %s\n", want);

  const char *paths[] = {"/nothing", "/missing/v1/completions", "/badkind/v1/completions"};
  const long codes[] = {404, 500, 500};
  for (size_t i = 0; i < SY_ARRAY_LEN(paths); i++) {
    gresp_init(&r);
    req(paths[i], i > 0, NULL, &r);
    ck_assert_msg(r.cerr == CURLE_OK && r.status == codes[i], "%s: status %ld, want %ld", paths[i], r.status,
                  codes[i]);
    ck_assert_str_eq(hdr(&r, "x-sim-instance", inst, sizeof(inst)), "");
    gresp_cleanup(&r);
  }
  fprintf(stderr, "e2e-gw: /nothing -> 404, BackendNotFound -> 500, InvalidKind -> 500\n");
}
END_TEST

#define OTHER_ENTRY                                                                                          \
  "{\"parentRef\":{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"Gateway\",\"namespace\":\"" NS_INFRA \
  "\",\"name\":\"other-gw\"},\"controllerName\":\"" OTHER_CTRL "\",\"conditions\":[{\"type\":\"Accepted\","  \
  "\"status\":\"True\",\"reason\":\"Accepted\",\"message\":\"someone else's\",\"observedGeneration\":1,"   \
  "\"lastTransitionTime\":\"2024-01-02T03:04:05Z\"}]}"

/* The other controller's entry at `path` is exactly what was written. */
static void expect_foreign_intact(const char *path, const char *what) {
  cJSON *root = kget(path);
  ck_assert_ptr_nonnull(root);
  cJSON *want = cJSON_Parse(OTHER_ENTRY);
  const cJSON *got = loc_foreign(root, "other-gw");
  ck_assert_msg(got != NULL, "%s: the %s entry is gone", what, OTHER_CTRL);
  ck_assert_msg(cJSON_Compare(got, want, true), "%s: the %s entry was changed", what, OTHER_CTRL);
  ck_assert_int_eq(count_parents(root, OTHER_CTRL), 1);
  cJSON_Delete(want);
  cJSON_Delete(root);
}

/* lastTransitionTime of condition `type` of our entry for gw in `path`. */
static void our_ltt(const char *path, const char *type, char *out, size_t n) {
  out[0] = '\0';
  cJSON *root = kget(path);
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(loc_ours(root, GW), "conditions")) {
    if (str_is(jstr(it, "type"), type)) snprintf(out, n, "%s", jstr(it, "lastTransitionTime"));
  }
  cJSON_Delete(root);
}

#define GRANTS GWAPI "/v1beta1/namespaces/" NS_MODELS "/referencegrants"
#define GRANT                                                                                        \
  "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\n"                            \
  "metadata: {name: app-routes, namespace: " NS_MODELS "}\n"                                          \
  "spec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: " NS_APP "}]\n" \
  "  to: [{group: inference.networking.k8s.io, kind: InferencePool}]\n"

/* Route in e2eg-app to pool C in e2eg-models: 500 and RefNotPermitted until
 * a ReferenceGrant allows it, then routed; revoking the grant stops it
 * again. Entries another controller wrote into the route's and the pool's
 * status stay untouched while we rewrite ours; an unchanged condition keeps
 * its lastTransitionTime; deleting the route removes our entry from the
 * pool (and only ours). */
START_TEST(test_cross_namespace) {
  REQUIRE_STACK();
  const char *xc[] = {"x-pool: c", NULL};
  const char *route = GWAPI "/v1/namespaces/" NS_APP "/httproutes/xns";
  const char *pool = POOLAPI "/namespaces/" NS_MODELS "/inferencepools/pool-c";
  want_t pool_ok[] = {{"Accepted", "True", "Accepted"}, {"ResolvedRefs", "True", "ResolvedRefs"}};
  gresp_t r;
  char inst[128];
  gresp_init(&r);
  req("/v1/completions", true, xc, &r);
  ck_assert_msg(r.status == 500, "x-pool: c without a grant: status %ld, want 500", r.status);
  ck_assert_str_eq(hdr(&r, "x-sim-instance", inst, sizeof(inst)), "");
  gresp_cleanup(&r);
  expect_route("xns", NS_APP, "http", "True", "Accepted", "False", "RefNotPermitted");

  ck_assert_int_eq(add_status_parent(route, OTHER_ENTRY), 0);
  ck_assert_int_eq(add_status_parent(pool, OTHER_ENTRY), 0);
  char acc0[64], refs0[64], acc1[64], refs1[64];
  our_ltt(route, "Accepted", acc0, sizeof(acc0));
  our_ltt(route, "ResolvedRefs", refs0, sizeof(refs0));
  sy_sleep_ms(1100); /* lastTransitionTime has one-second resolution */

  uint64_t t0 = sy_now_ns();
  ck_assert_int_eq(kcreate(GRANTS, GRANT), 0);
  double ms = await_answer("/v1/completions", xc, 200, SIM_C, "x-pool: c with a grant");
  expect_route("xns", NS_APP, "http", "True", "Accepted", "True", "ResolvedRefs");
  cJSON *root = await_conds("pool-c parent", pool, loc_ours, GW, pool_ok, SY_ARRAY_LEN(pool_ok));
  ck_assert_str_eq(jstr(cJSON_GetObjectItem(loc_ours(root, GW), "parentRef"), "namespace"), NS_INFRA);
  cJSON_Delete(root);
  fprintf(stderr, "e2e-gw: ReferenceGrant created: pool-c serves x-pool: c after %.0f ms; xns ResolvedRefs=True, "
                  "pool-c parent Accepted after %.0f ms\n", ms, ms_since(t0));
  our_ltt(route, "Accepted", acc1, sizeof(acc1));
  our_ltt(route, "ResolvedRefs", refs1, sizeof(refs1));
  ck_assert_msg(!strcmp(acc0, acc1), "Accepted stayed True but its lastTransitionTime moved %s -> %s", acc0, acc1);
  ck_assert_msg(strcmp(refs0, refs1) != 0, "ResolvedRefs flipped but lastTransitionTime stayed %s", refs0);
  expect_foreign_intact(route, "HTTPRoute xns after our update");
  expect_foreign_intact(pool, "pool-c after our update");

  /* Revoked: traffic stops, the reason comes back, our pool entry goes. */
  t0 = sy_now_ns();
  ck_assert_int_eq(sy_kubeapi_delete(&S.kube, GRANTS "/app-routes"), 0);
  ms = await_answer("/v1/completions", xc, 500, -1, "x-pool: c after the grant was deleted");
  expect_route("xns", NS_APP, "http", "True", "Accepted", "False", "RefNotPermitted");
  cJSON_Delete(await_absent("pool-c: our parent after the grant was deleted", pool, loc_ours, GW));
  fprintf(stderr, "e2e-gw: ReferenceGrant deleted: 500 after %.0f ms, RefNotPermitted and pool-c entry gone after "
                  "%.0f ms\n", ms, ms_since(t0));
  expect_foreign_intact(pool, "pool-c after the grant was deleted");
  ck_assert_int_eq(kcreate(GRANTS, GRANT), 0);
  await_answer("/v1/completions", xc, 200, SIM_C, "x-pool: c with the grant again");
  cJSON_Delete(await_conds("pool-c parent again", pool, loc_ours, GW, pool_ok, SY_ARRAY_LEN(pool_ok)));

  t0 = sy_now_ns();
  ck_assert_int_eq(sy_kubeapi_delete(&S.kube, route), 0);
  cJSON_Delete(await_absent("pool-c: our parent after the route was deleted", pool, loc_ours, GW));
  fprintf(stderr, "e2e-gw: route xns deleted: pool-c parent entry removed after %.0f ms\n", ms_since(t0));
  expect_foreign_intact(pool, "pool-c after our entry was removed");
  /* The listener counts one route fewer; x-pool: c falls back to the split. */
  uint64_t t1 = sy_now_ns();
  for (;;) {
    cJSON *gw = kget(GWAPI "/v1/namespaces/" NS_INFRA "/gateways/" GW);
    int attached = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(loc_listener(gw, "http"), "attachedRoutes"));
    cJSON_Delete(gw);
    if (attached == N_HTTP_ROUTES - 1) break;
    ck_assert_msg(ms_since(t1) < STATUS_MS, "attachedRoutes %d after deleting xns, want %d", attached,
                  N_HTTP_ROUTES - 1);
    sy_sleep_ms(100);
  }
  int i = post_ok("/v1/completions", xc, "x-pool: c after the route was deleted");
  ck_assert_msg(i <= SIM_B, "x-pool: c after deleting xns went to sim %d", i);
}
END_TEST

/* ------------------------------------------------------------------ h2c */

#define FRONT_POD "h2c-front"
#define H2C_POOL POOLAPI "/namespaces/" NS_APP "/inferencepools/pool-h2c"

/* A second Envoy in front of sim SIM_C whose listener speaks HTTP/2
 * cleartext ONLY (codec_type HTTP2: prior knowledge, no HTTP/1.1, no
 * Upgrade) and proxies over HTTP/1.1 to the simulator; it names the
 * protocol its client spoke in x-h2c-front (%PROTOCOL%: "HTTP/2",
 * "HTTP/1.1"). Listens on 127.0.0.<IP_BASE + N_SIMS>, next to the sims. */
static int start_h2c_front(void) {
  snprintf(S.front_ip, sizeof(S.front_ip), "127.0.0.%d", IP_BASE + N_SIMS);
  S.front_port = sy_port_free(S.front_ip);
  S.front_admin = sy_port_free("127.0.0.1");
  if (S.front_port <= 0 || S.front_admin <= 0) return -1;
  char y[4096], cfg[700], logp[700], url[128];
  int n = snprintf(
      y, sizeof(y),
      "admin:\n  address: {socket_address: {address: 127.0.0.1, port_value: %d}}\n"
      "static_resources:\n"
      "  listeners:\n"
      "  - name: h2c_front\n"
      "    address: {socket_address: {address: %s, port_value: %d}}\n"
      "    filter_chains:\n"
      "    - filters:\n"
      "      - name: envoy.filters.network.http_connection_manager\n"
      "        typed_config:\n"
      "          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
      "HttpConnectionManager\n"
      "          stat_prefix: h2c_front\n"
      "          codec_type: HTTP2\n"
      "          delayed_close_timeout: 0s\n"
      "          route_config:\n"
      "            virtual_hosts:\n"
      "            - name: all\n"
      "              domains: [\"*\"]\n"
      "              routes: [{match: {prefix: \"/\"}, route: {cluster: sim, timeout: 0s}}]\n"
      "              response_headers_to_add:\n"
      "              - header: {key: x-h2c-front, value: \"%%PROTOCOL%%\"}\n"
      "          http_filters:\n"
      "          - name: envoy.filters.http.router\n"
      "            typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}\n"
      "  clusters:\n"
      "  - name: sim\n"
      "    type: STATIC\n"
      "    connect_timeout: 1s\n"
      "    load_assignment:\n"
      "      cluster_name: sim\n"
      "      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: %s, port_value: %d}}}}]}]\n",
      S.front_admin, S.front_ip, S.front_port, S.e.sims[SIM_C].ip, S.e.sim_port);
  if (n <= 0 || (size_t)n >= sizeof(y)) return -1;
  snprintf(cfg, sizeof(cfg), "%s/h2c-front.yaml", S.e.dir);
  snprintf(logp, sizeof(logp), "%s/h2c-front.log", S.e.dir);
  if (sy_file_write_atomic(cfg, y, (size_t)n) != 0) return -1;
  char *argv[] = {(char *)S.e.envoy_bin,   "-c",          cfg,    "--concurrency", "1",
                  "--disable-hot-restart", "--log-level", "warn", NULL};
  if (sy_proc_spawn(&S.front, "h2c-front", argv, NULL, logp) != 0) return -1;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", S.front_admin);
  if (sy_wait_http_200(url, 30000, &S.front) != 0 || sy_wait_tcp(S.front_ip, S.front_port, 5000, &S.front) != 0) {
    sy_proc_dump_log(&S.front, 40);
    return -1;
  }
  return 0;
}

/* One x-pool: h2c completion (plus `extra` header, may be NULL); *proto
 * gets x-h2c-front. True when it was a 200 served by sim SIM_C through the
 * front, with switchyard's pick, Envoy's upstream and the front agreeing. */
static bool h2c_req(const char *extra, gresp_t *r, char *proto, size_t pn) {
  const char *hs[] = {"x-pool: h2c", extra, NULL};
  char dest[128], up[128], inst[128], front[96];
  gresp_init(r);
  req("/v1/completions", true, hs, r);
  hdr(r, "x-h2c-front", proto, pn);
  hdr(r, "x-gateway-destination-endpoint", dest, sizeof(dest));
  hdr(r, "x-upstream-host", up, sizeof(up));
  hdr(r, "x-sim-instance", inst, sizeof(inst));
  snprintf(front, sizeof(front), "%s:%d", S.front_ip, S.front_port);
  return r->cerr == CURLE_OK && r->status == 200 && !strcmp(dest, front) && !strcmp(up, front) &&
         !strcmp(inst, S.e.sims[SIM_C].addr);
}

/* What a response looked like, for messages. */
static void describe(const gresp_t *r, const char *proto, char *out, size_t n) {
  char up[128];
  hdr(r, "x-upstream-host", up, sizeof(up));
  snprintf(out, n, "curl %d, HTTP %ld, x-h2c-front \"%s\", x-upstream-host \"%s\", body %.160s", r->cerr, r->status,
           proto, up, r->body.data ? r->body.data : "");
}

/* A pool with appProtocol kubernetes.io/h2c is reached over HTTP/2
 * cleartext: its only endpoint is the HTTP/2-only front, and the front
 * reports that the hop into the pool was HTTP/2. Control: with the pool's
 * appProtocol patched to http, Envoy speaks HTTP/1.1 to the same endpoint,
 * which an HTTP/2-only listener cannot serve, and a client cannot ask for
 * h2c itself with switchyard's x-switchyard-upstream-protocol header. */
START_TEST(test_h2c_pool) {
  REQUIRE_STACK();
  uint64_t t0 = sy_now_ns();
  ck_assert_int_eq(start_h2c_front(), 0);
  char y[1024];
  snprintf(y, sizeof(y),
           "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
           "metadata: {name: pool-h2c, namespace: " NS_APP "}\n"
           "spec:\n  selector: {matchLabels: {app: pool-h2c}}\n  targetPorts: [{number: %d}]\n"
           "  appProtocol: kubernetes.io/h2c\n",
           S.front_port);
  ck_assert_int_eq(kcreate(POOLAPI "/namespaces/" NS_APP "/inferencepools", y), 0);
  ck_assert_int_eq(sy_kubeapi_create_pod(&S.kube, NS_APP, FRONT_POD, "app=pool-h2c", NULL, NULL), 0);
  ck_assert_int_eq(sy_kubeapi_set_pod_status(&S.kube, NS_APP, FRONT_POD, S.front_ip, true), 0);
  ck_assert_int_eq(create_route(NS_APP, "h2c",
                                PARENT_HTTP "  rules:\n"
                                            "  - matches: [{path: {type: PathPrefix, value: /v1}, headers: [{name: "
                                            "x-pool, value: h2c}]}]\n"
                                            "    backendRefs: [" POOL_REF("pool-h2c") "]\n"),
                   0);
  gresp_t r;
  char proto[64], what[768];
  for (;;) {
    bool ok = h2c_req(NULL, &r, proto, sizeof(proto));
    describe(&r, proto, what, sizeof(what));
    gresp_cleanup(&r);
    if (ok) break;
    ck_assert_msg(ms_since(t0) < PICKUP_MS + 5000, "x-pool: h2c: %s", what);
    sy_sleep_ms(50);
  }
  ck_assert_msg(!strcmp(proto, "HTTP/2"), "the front saw %s, want HTTP/2 (%s)", proto, what);
  double ms = ms_since(t0);
  for (int i = 0; i < 10; i++) {
    ck_assert_msg(h2c_req(NULL, &r, proto, sizeof(proto)), "x-pool: h2c request %d failed", i);
    ck_assert_str_eq(proto, "HTTP/2");
    gresp_cleanup(&r);
  }
  expect_route("h2c", NS_APP, "http", "True", "Accepted", "True", "ResolvedRefs");
  want_t pool_ok[] = {{"Accepted", "True", "Accepted"}, {"ResolvedRefs", "True", "ResolvedRefs"}};
  cJSON_Delete(await_conds("pool-h2c parent", H2C_POOL, loc_ours, GW, pool_ok, SY_ARRAY_LEN(pool_ok)));
  fprintf(stderr, "e2e-gw: h2c pool: 11/11 served by sim %s through the HTTP/2-only front %s:%d, which saw %s "
                  "(front up and routed after %.0f ms)\n", S.e.sims[SIM_C].addr, S.front_ip, S.front_port, proto, ms);

  /* Control: appProtocol http. */
  uint64_t t1 = sy_now_ns();
  ck_assert_int_eq(sy_kubeapi_patch(&S.kube, H2C_POOL, "{\"spec\":{\"appProtocol\":\"http\"}}"), 0);
  for (;;) {
    bool ok = h2c_req(NULL, &r, proto, sizeof(proto));
    describe(&r, proto, what, sizeof(what));
    gresp_cleanup(&r);
    if (!ok || strcmp(proto, "HTTP/2") != 0) break;
    ck_assert_msg(ms_since(t1) < PICKUP_MS, "appProtocol http: still served over HTTP/2 after %d ms", PICKUP_MS);
    sy_sleep_ms(50);
  }
  ms = ms_since(t1);
  fprintf(stderr, "e2e-gw: h2c control, appProtocol http (after %.0f ms): %s\n", ms, what);
  /* Steady: never HTTP/2 again, one outcome every time. */
  long first = -1;
  for (int i = 0; i < 5; i++) {
    bool ok = h2c_req(NULL, &r, proto, sizeof(proto));
    describe(&r, proto, what, sizeof(what));
    ck_assert_msg(strcmp(proto, "HTTP/2") != 0, "appProtocol http: request %d reached the front over HTTP/2", i);
    ck_assert_msg(!ok || !strcmp(proto, "HTTP/1.1"), "appProtocol http: %s", what);
    if (first < 0) first = r.status;
    ck_assert_msg(r.status == first, "appProtocol http: status %ld then %ld", first, r.status);
    gresp_cleanup(&r);
  }
  /* The data plane's protocol header is switchyard's, not the client's. */
  for (int i = 0; i < 5; i++) {
    h2c_req("x-switchyard-upstream-protocol: h2c", &r, proto, sizeof(proto));
    describe(&r, proto, what, sizeof(what));
    long st = r.status;
    gresp_cleanup(&r);
    ck_assert_msg(strcmp(proto, "HTTP/2") != 0 && st == first,
                  "appProtocol http, client sent x-switchyard-upstream-protocol: h2c: %s (without it: HTTP %ld)",
                  what, first);
  }
  fprintf(stderr, "e2e-gw: h2c control steady (5/5 HTTP %ld, never HTTP/2); a client's own "
                  "x-switchyard-upstream-protocol: h2c changes nothing\n", first);

  /* Back to h2c: HTTP/2 again; then the objects and the front go. */
  ck_assert_int_eq(sy_kubeapi_patch(&S.kube, H2C_POOL, "{\"spec\":{\"appProtocol\":\"kubernetes.io/h2c\"}}"), 0);
  t1 = sy_now_ns();
  for (;;) {
    bool ok = h2c_req(NULL, &r, proto, sizeof(proto));
    describe(&r, proto, what, sizeof(what));
    gresp_cleanup(&r);
    if (ok && !strcmp(proto, "HTTP/2")) break;
    ck_assert_msg(ms_since(t1) < PICKUP_MS, "appProtocol h2c again: %s", what);
    sy_sleep_ms(50);
  }
  fprintf(stderr, "e2e-gw: appProtocol kubernetes.io/h2c again: HTTP/2 after %.0f ms\n", ms_since(t1));
  ck_assert_int_eq(sy_kubeapi_delete(&S.kube, GWAPI "/v1/namespaces/" NS_APP "/httproutes/h2c"), 0);
  ck_assert_int_eq(sy_kubeapi_delete(&S.kube, H2C_POOL), 0);
  ck_assert_int_eq(sy_kubeapi_delete(&S.kube, "/api/v1/namespaces/" NS_APP "/pods/" FRONT_POD "?gracePeriodSeconds=0"), 0);
  ck_assert_int_eq(sy_proc_stop(&S.front, 5000), 0);
  S.front_ok = true;
}
END_TEST

/* Objects of another controller's GatewayClass keep the API server's
 * default status (Accepted Unknown/Pending) and get no entry of ours. */
START_TEST(test_not_ours) {
  REQUIRE_STACK();
  /* our status has converged (test_route_status), so any write is done */
  want_t pending[] = {{"Accepted", "Unknown", "Pending"}};
  char why[512];
  cJSON *root = kget(GWAPI "/v1/gatewayclasses/other");
  ck_assert_ptr_nonnull(root);
  ck_assert_msg(conds_match(loc_status(root, NULL), pending, 1, -1, why, sizeof(why)), "GatewayClass other: %s", why);
  cJSON_Delete(root);
  root = kget(GWAPI "/v1/namespaces/" NS_OTHER "/gateways/other-gw");
  ck_assert_ptr_nonnull(root);
  ck_assert_msg(conds_match(loc_status(root, NULL), pending, 1, -1, why, sizeof(why)), "Gateway other-gw: %s", why);
  ck_assert_ptr_null(cJSON_GetObjectItem(loc_status(root, NULL), "listeners"));
  cJSON_Delete(root);
  root = kget(GWAPI "/v1/namespaces/" NS_OTHER "/httproutes/other-route");
  ck_assert_ptr_nonnull(root);
  ck_assert_int_eq(count_parents(root, CTRL), 0);
  cJSON_Delete(root);
  root = kget(POOLAPI "/namespaces/" NS_OTHER "/inferencepools/pool-o");
  ck_assert_ptr_nonnull(root);
  ck_assert_int_eq(count_parents(root, CTRL), 0);
  cJSON_Delete(root);
  fprintf(stderr, "e2e-gw: GatewayClass other, Gateway other-gw, its route and pool: untouched\n");
}
END_TEST

/* A route to pool-d is deleted while switchyard is down: after the restart
 * our now stale entry on pool-d must still go (InferencePool: "when no
 * route references the pool any more, status.parents must become empty"),
 * and routing works again. */
START_TEST(test_restart_cleanup) {
  REQUIRE_STACK();
  const char *pool = POOLAPI "/namespaces/" NS_APP "/inferencepools/pool-d";
  want_t w[] = {{"Accepted", "True", "Accepted"}};
  cJSON_Delete(await_conds("pool-d parent", pool, loc_ours, GW, w, 1));
  ck_assert_int_eq(sy_proc_stop(&S.e.sy, 10000), 0);
  ck_assert_int_eq(sy_kubeapi_delete(&S.kube, GWAPI "/v1/namespaces/" NS_APP "/httproutes/dref"), 0);
  uint64_t t0 = sy_now_ns();
  ck_assert_int_eq(start_switchyard(), 0);
  ck_assert_int_eq(wait_chain_ready(S.e.base_url, 20000, &S.e.sy, &S.e.envoy), 0);
  fprintf(stderr, "e2e-gw: switchyard restarted, chain ready after %.0f ms\n", ms_since(t0));
  cJSON_Delete(await_absent("pool-d: our stale parent after a restart", pool, loc_ours, GW));
  fprintf(stderr, "e2e-gw: pool-d stale parent removed %.0f ms after the restart\n", ms_since(t0));
}
END_TEST

/* ------------------------------------------------- leader election */

static long readyz(int admin_port) {
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", admin_port);
  return sy_http_get_status(url, 1000);
}

/* The second replica: same Gateway, same flags, its own ports and log. */
static int start_sy2(void) {
  int ports[3];
  if (sy_port_free_distinct("127.0.0.1", ports, 3) != 0) return -1; /* the first replica's are taken */
  S.sy2_grpc = ports[0];
  S.sy2_health = ports[1];
  S.sy2_metrics = ports[2];
  sy_args_t b;
  char logp[700], url[128];
  snprintf(logp, sizeof(logp), "%s/switchyard-2.log", S.e.dir);
  if (sy_proc_spawn(&S.sy2, "switchyard-2", sy_argv(&b, S.sy2_grpc, S.sy2_health, S.sy2_metrics, true), SY_ENV,
                    logp) != 0)
    return -1;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", S.sy2_metrics);
  return sy_wait_http_200(url, 15000, &S.sy2);
}

static void assert_clean_stop(sy_proc_t *p);
static void assert_log_clean(const sy_proc_t *p);

/* Two gateway-mode replicas with leader election: exactly one is ready (the
 * leader), and only the leader writes status. With the leader frozen
 * (SIGSTOP), a change that needs a status write (a route to a missing pool)
 * gets none while its lease is still valid — the follower computes it but
 * must not write — and gets it once the lease has expired and the follower
 * took over. Resumed, the old leader steps down (no two leaders); the
 * second replica stops cleanly and the first ends as the leader. */
START_TEST(test_leader_status_writes) {
  REQUIRE_STACK();
  uint64_t t0 = sy_now_ns();
  ck_assert_int_eq(sy_proc_stop(&S.e.sy, 10000), 0);
  ck_assert_int_eq(start_switchyard_le(true), 0);
  ck_assert_int_eq(start_sy2(), 0);
  sy_proc_t *procs[2] = {&S.e.sy, &S.sy2};
  const int admin[2] = {S.e.metrics_port, S.sy2_metrics};
  int li = -1;
  while (li < 0) {
    bool r0 = readyz(admin[0]) == 200, r1 = readyz(admin[1]) == 200;
    ck_assert_msg(!(r0 && r1), "both replicas ready (two leaders)");
    li = r0 ? 0 : r1 ? 1 : -1;
    ck_assert_msg(li >= 0 || ms_since(t0) < 20000, "no replica became leader (ready) in 20 s");
    if (li < 0) sy_sleep_ms(50);
  }
  int fi = 1 - li;
  sy_sleep_ms(750); /* a few renewals: still exactly one */
  ck_assert_int_eq(readyz(admin[li]), 200);
  ck_assert_int_ne(readyz(admin[fi]), 200);
  double ml = sy_e2e_metric(admin[li], "switchyard_leader"), mf = sy_e2e_metric(admin[fi], "switchyard_leader");
  ck_assert_msg(ml == 1 && mf == 0, "switchyard_leader: leader %g, follower %g (want 1, 0)", ml, mf);
  /* every replica serves ext_proc: the chain through the first works */
  ck_assert_int_eq(wait_chain_ready(S.e.base_url, 20000, &S.e.sy, &S.e.envoy), 0);
  fprintf(stderr, "e2e-gw: leader election: %s leads, %s follows (%.1f s after the restart)\n", procs[li]->name,
          procs[fi]->name, ms_since(t0) / 1000);

  /* Freeze the leader, then change what status says. */
  const char *route = GWAPI "/v1/namespaces/" NS_APP "/httproutes/le-missing";
  ck_assert_int_eq(sy_proc_signal(procs[li], SIGSTOP), 0);
  t0 = sy_now_ns();
  ck_assert_int_eq(create_route(NS_APP, "le-missing",
                                PARENT_HTTP "  rules:\n"
                                            "  - matches: [{path: {type: PathPrefix, value: /le-missing}}]\n"
                                            "    backendRefs: [" POOL_REF("no-such-pool-le") "]\n"),
                   0);
  int polls = 0;
  while (ms_since(t0) < 1500) {
    cJSON *root = kget(route);
    ck_assert_ptr_nonnull(root);
    bool written = loc_ours(root, GW) != NULL;
    cJSON_Delete(root);
    ck_assert_msg(!written, "status of le-missing written %.0f ms after the leader froze: the follower wrote",
                  ms_since(t0));
    polls++;
    sy_sleep_ms(100);
  }
  double ready_ms = -1, status_ms = -1;
  want_t w[] = {{"Accepted", "True", "Accepted"}, {"ResolvedRefs", "False", "BackendNotFound"}};
  char why[512];
  while (status_ms < 0 || ready_ms < 0) {
    if (ready_ms < 0 && readyz(admin[fi]) == 200) ready_ms = ms_since(t0);
    if (status_ms < 0) {
      cJSON *root = kget(route);
      double gen = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "metadata"), "generation"));
      if (root && conds_match(loc_ours(root, GW), w, SY_ARRAY_LEN(w), gen, why, sizeof(why))) status_ms = ms_since(t0);
      cJSON_Delete(root);
    }
    ck_assert_msg(ms_since(t0) < STATUS_MS, "after the leader froze: follower ready after %.0f ms, status %s", ready_ms,
                  status_ms >= 0 ? "written" : why);
    sy_sleep_ms(50);
  }
  fprintf(stderr, "e2e-gw: leader frozen: no status in the first 1.5 s (%d reads); %s ready after %.0f ms, "
                  "le-missing ResolvedRefs=False/BackendNotFound after %.0f ms (lease 3 s)\n",
          polls, procs[fi]->name, ready_ms, status_ms);
  /* The new leader writes at once (the lease callback wakes the status
   * writer), not at the writer's next periodic check (1 s). */
  ck_assert_msg(status_ms - ready_ms < 700, "status written %.0f ms after the new leader was ready", status_ms - ready_ms);
  /* The lease (3 s) was renewed at most a retry period (250 ms) before the
   * freeze: nobody could take over sooner than that. */
  ck_assert_msg(status_ms >= 2500, "status written %.0f ms after the leader froze: before its lease expired",
                status_ms);
  ck_assert_double_eq(sy_e2e_metric(admin[fi], "switchyard_leader"), 1);
  expect_route("le-missing", NS_APP, "http", "True", "Accepted", "False", "BackendNotFound");

  /* Thawed, the old leader finds the lease taken and steps down. */
  ck_assert_int_eq(sy_proc_signal(procs[li], SIGCONT), 0);
  uint64_t t1 = sy_now_ns();
  while (readyz(admin[li]) == 200) {
    ck_assert_msg(ms_since(t1) < 5000, "%s still ready (leader) 5 s after it resumed", procs[li]->name);
    sy_sleep_ms(50);
  }
  double down_ms = ms_since(t1);
  sy_sleep_ms(600);
  ck_assert_int_ne(readyz(admin[li]), 200);
  ck_assert_int_eq(readyz(admin[fi]), 200);
  ck_assert_double_eq(sy_e2e_metric(admin[li], "switchyard_leader"), 0);
  fprintf(stderr, "e2e-gw: %s resumed: stepped down after %.0f ms; %s stays the leader\n", procs[li]->name, down_ms,
          procs[fi]->name);

  /* The second replica goes (releasing the lease if it holds it); the
   * first leads and keeps status written. */
  assert_log_clean(&S.sy2);
  assert_clean_stop(&S.sy2);
  t1 = sy_now_ns();
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", S.e.metrics_port);
  ck_assert_int_eq(sy_wait_http_200(url, 10000, &S.e.sy), 0);
  fprintf(stderr, "e2e-gw: %s stopped; %s ready (leader) after %.0f ms\n", S.sy2.name, S.e.sy.name, ms_since(t1));
  t1 = sy_now_ns();
  ck_assert_int_eq(sy_kubeapi_delete(&S.kube, route), 0);
  post_ok("/v1/completions", NULL, "after the hand-over");
  /* the route is gone from the listener's count: status still written */
  for (;;) {
    cJSON *gw = kget(GWAPI "/v1/namespaces/" NS_INFRA "/gateways/" GW);
    int attached = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(loc_listener(gw, "http"), "attachedRoutes"));
    cJSON_Delete(gw);
    if (attached == N_HTTP_ROUTES - 2) break;
    ck_assert_msg(ms_since(t1) < STATUS_MS, "attachedRoutes %d after deleting le-missing, want %d", attached,
                  N_HTTP_ROUTES - 2);
    sy_sleep_ms(100);
  }
  S.le_ok = true;
}
END_TEST

/* --------------------------------------------------- local manifests mode */

static int write_local_manifests(const char *dir) {
  char y[8192];
  int n = snprintf(
      y, sizeof(y),
      "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: switchyard}\n"
      "spec: {controllerName: " CTRL "}\n---\n"
      "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: " NS_LOCAL "}\n"
      "spec:\n  gatewayClassName: switchyard\n  listeners: [{name: http, protocol: HTTP, port: %d}]\n---\n"
      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: split, namespace: " NS_LOCAL "}\n"
      "spec:\n  parentRefs: [{name: gw}]\n  rules:\n  - backendRefs:\n"
      "    - {group: inference.networking.k8s.io, kind: InferencePool, name: pool-a, weight: 70}\n"
      "    - {group: inference.networking.k8s.io, kind: InferencePool, name: pool-b, weight: 30}\n---\n"
      "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: pool-a, namespace: " NS_LOCAL
      "}\nspec: {selector: {matchLabels: {app: pool-a}}, targetPorts: [{number: %d}]}\n---\n"
      "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: pool-b, namespace: " NS_LOCAL
      "}\nspec: {selector: {matchLabels: {app: pool-b}}, targetPorts: [{number: %d}]}\n",
      S.m.listen_port, S.e.sim_port, S.e.sim_port);
  for (int i = 0; i <= SIM_B && n > 0 && (size_t)n < sizeof(y); i++)
    n += snprintf(y + n, sizeof(y) - (size_t)n,
                  "---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: " NS_LOCAL
                  ", labels: {app: %s}}\n"
                  "status:\n  podIP: %s\n  conditions: [{type: Ready, status: \"True\"}]\n",
                  S.e.sims[i].name, i == SIM_B ? "pool-b" : "pool-a", S.e.sims[i].ip);
  if (n <= 0 || (size_t)n >= sizeof(y)) return -1;
  if (mkdir(dir, 0700) != 0) return -1;
  char path[800];
  int pl = snprintf(path, sizeof(path), "%s/gateway.yaml", dir);
  if (pl < 0 || (size_t)pl >= sizeof(path)) return -1;
  return sy_file_write_atomic(path, y, (size_t)n);
}

/* switchyard --gateway-mode --manifests (no API server) with its own Envoy
 * routes the 70/30 split over the same simulators. */
START_TEST(test_local_manifests) {
  REQUIRE_STACK();
  uint64_t t0 = sy_now_ns();
  S.m.sy_bin = S.e.sy_bin;
  S.m.sim_bin = S.e.sim_bin;
  S.m.envoy_bin = S.e.envoy_bin;
  S.m.envoy_tpl = S.e.envoy_tpl;
  S.m.model = MODEL;
  int dl = snprintf(S.m.dir, sizeof(S.m.dir), "%.400s/local", S.e.dir);
  ck_assert(dl > 0 && (size_t)dl < sizeof(S.m.dir));
  ck_assert_int_eq(mkdir(S.m.dir, 0700), 0);
  ck_assert_int_eq(sy_e2e_stack_ports(&S.m), 0);
  char mdir[700];
  snprintf(mdir, sizeof(mdir), "%s/manifests", S.m.dir);
  ck_assert_int_eq(write_local_manifests(mdir), 0);
  char gp[16], hp[16], mp[16], lp[16];
  snprintf(gp, sizeof(gp), "%d", S.m.grpc_port);
  snprintf(hp, sizeof(hp), "%d", S.m.health_port);
  snprintf(mp, sizeof(mp), "%d", S.m.metrics_port);
  snprintf(lp, sizeof(lp), "%d", S.m.listen_port);
  char *argv[] = {(char *)S.m.sy_bin,
                  "--gateway-mode",
                  "--gateway-controller-name", CTRL,
                  "--gateway-listener-ports",  lp,
                  "--manifests",               mdir,
                  "--grpc-port",               gp,
                  "--grpc-health-port",        hp,
                  "--metrics-port",            mp,
                  "--listen-address",          "127.0.0.1",
                  "--drain-seconds",           "1",
                  NULL};
  S.m_started = true;
  ck_assert_int_eq(sy_e2e_switchyard_start(&S.m, argv), 0);
  ck_assert_int_eq(sy_e2e_envoy_start(&S.m, true), 0);
  ck_assert_int_eq(wait_chain_ready(S.m.base_url, 20000, &S.m.sy, &S.m.envoy), 0);
  int per[N_SIMS] = {0};
  double el = bulk(S.m.base_url, "/v1/completions", NULL, LOCAL_N, per);
  int a = per[0] + per[1];
  double share = 100.0 * a / LOCAL_N;
  fprintf(stderr,
          "e2e-gw: local manifests: up in %.1f s; split over %d requests in %.0f ms: pool-a %d (%.2f %%), "
          "pool-b %d\n",
          ms_since(t0) / 1000 - el / 1000, LOCAL_N, el, a, share, per[SIM_B]);
  ck_assert_int_eq(a + per[SIM_B], LOCAL_N);
  /* 1000 requests: sd 1.45 points; 5 points is over 3 sd. */
  ck_assert_msg(fabs(share - 70.0) <= 5.0, "local pool-a share %.2f %% is not within 70 +- 5", share);
  S.m_ok = true;
}
END_TEST

/* SIGTERM: exit code 0 (LeakSanitizer included under ASan), no sanitizer
 * report in the log. */
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

/* No 403 (the RBAC sufficed) and no failed status write in p's log. */
static void assert_log_clean(const sy_proc_t *p) {
  size_t len = 0;
  char *log = sy_test_read_file(p->log_path, &len);
  ck_assert_ptr_nonnull(log);
  const char *bad[] = {"forbidden", "Forbidden", "\"403\"", "=403", "write failed", "read failed"};
  for (size_t i = 0; i < SY_ARRAY_LEN(bad); i++) {
    const char *hit = strstr(log, bad[i]);
    if (hit) {
      const char *ls = hit;
      while (ls > log && ls[-1] != '\n') ls--;
      const char *le = strchr(hit, '\n');
      fprintf(stderr, "e2e-gw: %s log: %.*s\n", p->name, (int)(le ? le - ls : (long)strlen(ls)), ls);
    }
    ck_assert_msg(!hit, "%s log contains \"%s\" (RBAC or status writes failing)", p->name, bad[i]);
  }
  sy_free(log);
}

/* The service account's RBAC sufficed (no 403 in switchyard's log, no
 * failed status write); both switchyards and the simulators stop cleanly. */
START_TEST(test_clean_exit) {
  REQUIRE_STACK();
  assert_log_clean(&S.e.sy);
  assert_clean_stop(&S.e.sy);
  if (S.m_started) assert_clean_stop(&S.m.sy);
  ck_assert(sy_proc_alive(&S.e.envoy));
  for (int i = 0; i < N_SIMS; i++) assert_clean_stop(&S.e.sims[i].proc);
}
END_TEST

/* ------------------------------------------------------------------- main */

static Suite *e2e_suite(void) {
  Suite *s = suite_create("e2e_gateway");
  TCase *tc = sy_e2e_chain_tcase(&S.e, stack_setup, stack_teardown);
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_gateway_status);
  tcase_add_test(tc, test_route_status);
  tcase_add_test(tc, test_not_ours);
  tcase_add_test(tc, test_pool_status);
  tcase_add_test(tc, test_weighted_split);
  tcase_add_test(tc, test_header_and_service);
  tcase_add_test(tc, test_filters);
  tcase_add_test(tc, test_timeouts);
  tcase_add_test(tc, test_redirect_404_500);
  tcase_add_test(tc, test_cross_namespace);
  tcase_add_test(tc, test_h2c_pool);
  tcase_add_test(tc, test_restart_cleanup);
  tcase_add_test(tc, test_leader_status_writes);
  tcase_add_test(tc, test_local_manifests);
  tcase_add_test(tc, test_clean_exit);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  uint64_t t0 = sy_now_ns();
  bool missing = !sy_e2e_stack_env(&S.e);
  S.config_dir = sy_e2e_need_file("SY_CONFIG_DIR", &missing);
  S.gw_manifests = sy_e2e_need_file("SY_GATEWAY_MANIFESTS", &missing);
  if (missing) return sy_e2e_skip();
  signal(SIGPIPE, SIG_IGN);
  S.gw_crds = upstream_dir("SY_UPSTREAM_GATEWAY_CRDS");
  if (!S.gw_crds) return sy_e2e_skip();
  int rc = sy_kubeapi_start(&S.kube);
  if (rc == SY_KUBEAPI_SKIP) {
    sy_free(S.gw_crds);
    return 77;
  }
  if (rc != 0) {
    sy_free(S.gw_crds);
    return 1;
  }
  if (sy_tmpdir_make("sy-e2e-gw-", S.e.dir, sizeof(S.e.dir)) != 0) {
    sy_kubeapi_stop(&S.kube);
    sy_free(S.gw_crds);
    return 1;
  }
  rc = sy_e2e_run(&S.e, e2e_suite());
  if (rc != 0) sy_kubeapi_dump_logs(&S.kube, 20);
  sy_kubeapi_stop(&S.kube);
  sy_free(S.gw_crds);
  fprintf(stderr, "e2e-gw: total %.1f s\n", ms_since(t0) / 1000);
  return rc;
}
