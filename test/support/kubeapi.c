/* See kubeapi.h. */
#include "kubeapi.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define READY_TIMEOUT_MS 60000
#define ETCD_TIMEOUT_MS 20000
/* SIGTERM grace for the apiserver: with clients holding watches it waits for
 * them (HTTP/2 streams never go idle), so a stop would take the full grace;
 * 5 s is plenty for it to flush, and etcd holds the data anyway. */
#define APISERVER_STOP_MS 5000
#define CRD_TIMEOUT_MS 30000
#define REQUEST_TIMEOUT_MS 30000L
#define MAX_RESPONSE (64u << 20)

static uint64_t now_ms(void) { return sy_now_ns() / 1000000u; }

const char *sy_kubeapi_tools_dir(void) {
  const char *d = getenv("SY_KUBE_TOOLS");
  return d && *d ? d : NULL;
}

static bool env_is_1(const char *name) {
  const char *v = getenv(name);
  return v && strcmp(v, "1") == 0;
}

static bool is_exec(const char *dir, const char *name) {
  char p[1024];
  int n = snprintf(p, sizeof(p), "%s/bin/%s", dir, name);
  return n > 0 && (size_t)n < sizeof(p) && access(p, X_OK) == 0;
}

/* ------------------------------------------------------------------ files */

static int write_file(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  if (!f) return -errno;
  bool ok = fputs(text, f) >= 0;
  ok = (fclose(f) == 0) && ok;
  if (!ok) return -EIO;
  return chmod(path, mode) == 0 ? 0 : -errno;
}

/* RSA-2048 service-account signing key (PKCS#8 PEM) and its public key. */
static int write_sa_keys(const char *key_path, const char *pub_path) {
  int rc = -EIO;
  EVP_PKEY *pkey = EVP_RSA_gen(2048);
  FILE *kf = NULL, *pf = NULL;
  if (!pkey) goto out;
  kf = fopen(key_path, "w");
  pf = fopen(pub_path, "w");
  if (!kf || !pf) {
    rc = -errno;
    goto out;
  }
  if (PEM_write_PrivateKey(kf, pkey, NULL, NULL, 0, NULL, NULL) != 1) goto out;
  if (PEM_write_PUBKEY(pf, pkey) != 1) goto out;
  rc = 0;
out:
  if (kf && fclose(kf) != 0) rc = -EIO;
  if (pf && fclose(pf) != 0) rc = -EIO;
  EVP_PKEY_free(pkey);
  return rc;
}

/* A fresh directory under /dev/shm (RAM: etcd writes stay cheap), else
 * under $TMPDIR or /tmp. */
static int make_dir(char *out, size_t n) {
  const char *bases[3] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};
  for (size_t i = 0; i < SY_ARRAY_LEN(bases); i++) {
    const char *b = bases[i];
    struct stat st;
    if (!b || !*b || stat(b, &st) != 0 || !S_ISDIR(st.st_mode) || access(b, W_OK) != 0)
      continue;
    int len = snprintf(out, n, "%s/sy-kubeapi-XXXXXX", b);
    if (len < 0 || (size_t)len >= n) return -ENAMETOOLONG;
    if (mkdtemp(out)) return 0;
  }
  return -errno;
}

/* ------------------------------------------------------------------- http */

static size_t buf_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
  sy_buf_t *b = ud;
  size_t n = size * nmemb;
  return sy_buf_append(b, ptr, n) == 0 ? n : 0;
}

/* Like sy_kubeapi_request with a caller-chosen timeout and without the
 * transport-error message (the readiness poll expects refusals). */
static long do_request(sy_kubeapi_t *k, const char *token, const char *method, const char *path,
                       const char *content_type, const char *body, char **resp_body,
                       long timeout_ms, char *err, size_t err_n) {
  if (resp_body) *resp_body = NULL;
  CURL *c = curl_easy_init();
  if (!c) {
    snprintf(err, err_n, "curl_easy_init failed");
    return 0;
  }
  char url[2048], auth[4200], ctype[256];
  snprintf(url, sizeof(url), "%s%s", k->server, path);
  snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : k->admin_token);
  struct curl_slist *hdrs = NULL, *h;
  h = curl_slist_append(hdrs, auth);
  if (h) hdrs = h;
  h = curl_slist_append(hdrs, "Accept: application/json");
  if (h) hdrs = h;
  if (content_type) {
    snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
    h = curl_slist_append(hdrs, ctype);
    if (h) hdrs = h;
  }
  sy_buf_t b;
  sy_buf_init(&b, MAX_RESPONSE);
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
  } else if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0 &&
             strcmp(method, "HEAD") != 0) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
  }
  if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  long code = 0;
  CURLcode cc = curl_easy_perform(c);
  if (cc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  } else {
    snprintf(err, err_n, "%s %s: %s", method, path, errbuf[0] ? errbuf : curl_easy_strerror(cc));
  }
  curl_easy_cleanup(c);
  curl_slist_free_all(hdrs);
  if (code != 0 && resp_body && b.data) {
    *resp_body = b.data; /* ownership moves to the caller */
    b.data = NULL;
  }
  sy_buf_cleanup(&b);
  return code;
}

long sy_kubeapi_request(sy_kubeapi_t *k, const char *token, const char *method, const char *path,
                        const char *content_type, const char *body, char **resp_body) {
  char err[CURL_ERROR_SIZE + 512] = "";
  long code = do_request(k, token, method, path, content_type, body, resp_body,
                         REQUEST_TIMEOUT_MS, err, sizeof(err));
  if (code == 0) fprintf(stderr, "kubeapi: %s\n", err);
  return code;
}

/* GET returning parsed JSON (cJSON_Delete it) when the status is 200. */
static cJSON *get_json(sy_kubeapi_t *k, const char *path, long *status) {
  char *resp = NULL;
  long code = sy_kubeapi_request(k, NULL, "GET", path, NULL, NULL, &resp);
  if (status) *status = code;
  cJSON *j = code == 200 && resp ? cJSON_Parse(resp) : NULL;
  sy_free(resp);
  return j;
}

/* -------------------------------------------------------------- processes */

static int wait_all_crds(sy_kubeapi_t *k);

static int spawn_etcd(sy_kubeapi_t *k) {
  char bin[1024], data[700], log[700], client[64], peer[64], cluster[96];
  snprintf(bin, sizeof(bin), "%s/bin/etcd", k->bin_dir);
  snprintf(data, sizeof(data), "--data-dir=%s/etcd", k->dir);
  snprintf(log, sizeof(log), "%s/etcd.log", k->dir);
  snprintf(client, sizeof(client), "http://127.0.0.1:%d", k->etcd_port);
  snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", k->etcd_peer_port);
  snprintf(cluster, sizeof(cluster), "--initial-cluster=sy=%s", peer);
  char lc[96], ac[96], lp[96], ap[96];
  snprintf(lc, sizeof(lc), "--listen-client-urls=%s", client);
  snprintf(ac, sizeof(ac), "--advertise-client-urls=%s", client);
  snprintf(lp, sizeof(lp), "--listen-peer-urls=%s", peer);
  snprintf(ap, sizeof(ap), "--initial-advertise-peer-urls=%s", peer);
  char *argv[] = {bin, "--name=sy", data, lc, ac, lp, ap, cluster, "--unsafe-no-fsync=true",
                  "--log-level=warn", NULL};
  int rc = sy_proc_spawn(&k->etcd, "etcd", argv, NULL, log);
  if (rc != 0) {
    fprintf(stderr, "kubeapi: spawn etcd: %s\n", sy_strerror(rc));
    return rc;
  }
  char health[128];
  snprintf(health, sizeof(health), "%s/health", client);
  rc = sy_wait_http_200(health, ETCD_TIMEOUT_MS, &k->etcd);
  if (rc != 0) fprintf(stderr, "kubeapi: etcd not healthy: %s\n", sy_strerror(rc));
  return rc;
}

/* Spawns kube-apiserver and waits for /readyz = ok. */
static int spawn_apiserver(sy_kubeapi_t *k) {
  char bin[1024], log[700];
  snprintf(bin, sizeof(bin), "%s/bin/kube-apiserver", k->bin_dir);
  snprintf(log, sizeof(log), "%s/kube-apiserver.log", k->dir);
  char etcd[96], certdir[700], port[48], issuer[96], sakey[700], sasign[700], tokens[700];
  snprintf(etcd, sizeof(etcd), "--etcd-servers=http://127.0.0.1:%d", k->etcd_port);
  snprintf(certdir, sizeof(certdir), "--cert-dir=%s/pki", k->dir);
  snprintf(port, sizeof(port), "--secure-port=%d", k->port);
  snprintf(issuer, sizeof(issuer), "--service-account-issuer=%s", k->server);
  snprintf(sakey, sizeof(sakey), "--service-account-key-file=%s/sa.pub", k->dir);
  snprintf(sasign, sizeof(sasign), "--service-account-signing-key-file=%s/sa.key", k->dir);
  snprintf(tokens, sizeof(tokens), "--token-auth-file=%s/tokens.csv", k->dir);
  char *argv[] = {bin,
                  etcd,
                  certdir,
                  port,
                  "--bind-address=127.0.0.1",
                  "--advertise-address=127.0.0.1",
                  "--service-cluster-ip-range=10.0.0.0/24",
                  issuer,
                  sakey,
                  sasign,
                  tokens,
                  "--authorization-mode=RBAC",
                  "--disable-admission-plugins=ServiceAccount",
                  "--allow-privileged=true",
                  /* Less work at start and per request; the watch cache
                   * stays on (the default), as in a real cluster. */
                  "--enable-priority-and-fairness=false",
                  "--profiling=false",
                  "--endpoint-reconciler-type=none",
                  NULL};
  uint64_t t0 = now_ms();
  int rc = sy_proc_spawn(&k->apiserver, "kube-apiserver", argv, NULL, log);
  if (rc != 0) {
    fprintf(stderr, "kubeapi: spawn kube-apiserver: %s\n", sy_strerror(rc));
    return rc;
  }
  char err[CURL_ERROR_SIZE + 512] = "";
  long last = 0;
  for (;;) {
    if (!sy_proc_alive(&k->apiserver)) {
      fprintf(stderr, "kubeapi: kube-apiserver exited (code %d) before ready\n",
              sy_proc_exit_code(&k->apiserver));
      return -ESRCH;
    }
    if (access(k->ca_file, R_OK) == 0) {
      char *resp = NULL;
      last = do_request(k, NULL, "GET", "/readyz", NULL, NULL, &resp, 2000, err, sizeof(err));
      bool ok = last == 200 && resp && strcmp(resp, "ok") == 0;
      sy_free(resp);
      if (ok) break;
    }
    if (now_ms() - t0 > READY_TIMEOUT_MS) {
      fprintf(stderr, "kubeapi: kube-apiserver not ready after %d ms (last /readyz: %ld %s)\n",
              READY_TIMEOUT_MS, last, last ? "" : err);
      if (k->apiserver.pid > 0) {
        char *resp = NULL;
        do_request(k, NULL, "GET", "/readyz?verbose", NULL, NULL, &resp, 2000, err,
                   sizeof(err));
        if (resp) fprintf(stderr, "%s\n", resp);
        sy_free(resp);
      }
      return -ETIMEDOUT;
    }
    sy_sleep_ms(100);
  }
  if ((rc = wait_all_crds(k)) != 0) return rc;
  k->last_start_s = (double)(now_ms() - t0) / 1000.0;
  return 0;
}

void sy_kubeapi_dump_logs(const sy_kubeapi_t *k, int lines) {
  if (k->etcd.pid > 0) sy_proc_dump_log(&k->etcd, lines);
  if (k->apiserver.pid > 0) sy_proc_dump_log(&k->apiserver, lines);
}

int sy_kubeapi_start(sy_kubeapi_t *k) {
  memset(k, 0, sizeof(*k));
  const char *tools = sy_kubeapi_tools_dir();
  if (!tools || !is_exec(tools, "etcd") || !is_exec(tools, "kube-apiserver")) {
    bool req = env_is_1("SY_E2E_REQUIRE");
    fprintf(stderr,
            "kubeapi: %s: SY_KUBE_TOOLS %s%s%s (run hack/kube-tools.sh and export "
            "SY_KUBE_TOOLS=$(hack/kube-tools.sh))\n",
            req ? "FAILED (SY_E2E_REQUIRE=1)" : "skipped", tools ? "=" : "is not set",
            tools ? tools : "", tools ? " lacks bin/etcd or bin/kube-apiserver" : "");
    return req ? -ENOENT : SY_KUBEAPI_SKIP;
  }
  snprintf(k->bin_dir, sizeof(k->bin_dir), "%s", tools);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  int rc = make_dir(k->dir, sizeof(k->dir));
  if (rc != 0) {
    fprintf(stderr, "kubeapi: temp dir: %s\n", sy_strerror(rc));
    return rc;
  }
  k->started = true; /* from here on, sy_kubeapi_stop cleans up */

  char path[700], line[256];
  snprintf(path, sizeof(path), "%s/sa.key", k->dir);
  char pub[700];
  snprintf(pub, sizeof(pub), "%s/sa.pub", k->dir);
  if ((rc = write_sa_keys(path, pub)) != 0) {
    fprintf(stderr, "kubeapi: service-account key: %s\n", sy_strerror(rc));
    goto fail;
  }
  snprintf(k->admin_token, sizeof(k->admin_token), "sy-admin-%016llx%016llx",
           (unsigned long long)sy_rand_u64(), (unsigned long long)sy_rand_u64());
  snprintf(line, sizeof(line), "%s,admin,admin-uid,\"system:masters\"\n", k->admin_token);
  snprintf(path, sizeof(path), "%s/tokens.csv", k->dir);
  if ((rc = write_file(path, line, 0600)) != 0) {
    fprintf(stderr, "kubeapi: %s: %s\n", path, sy_strerror(rc));
    goto fail;
  }

  /* Three distinct free ports. */
  int ports[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    for (int attempt = 0; attempt < 50; attempt++) {
      int p = sy_port_free("127.0.0.1");
      if (p < 0) {
        rc = p;
        fprintf(stderr, "kubeapi: free port: %s\n", sy_strerror(rc));
        goto fail;
      }
      bool dup = false;
      for (int j = 0; j < i; j++) dup = dup || ports[j] == p;
      if (!dup) {
        ports[i] = p;
        break;
      }
    }
  }
  k->etcd_port = ports[0];
  k->etcd_peer_port = ports[1];
  k->port = ports[2];
  snprintf(k->server, sizeof(k->server), "https://127.0.0.1:%d", k->port);
  snprintf(k->ca_file, sizeof(k->ca_file), "%s/pki/apiserver.crt", k->dir);

  if ((rc = spawn_etcd(k)) != 0) goto fail;
  if ((rc = spawn_apiserver(k)) != 0) goto fail;
  return 0;
fail:
  sy_kubeapi_dump_logs(k, 60);
  sy_kubeapi_stop(k);
  return rc < 0 ? rc : -EIO;
}

int sy_kubeapi_restart(sy_kubeapi_t *k) {
  if (!k->started || k->apiserver.pid <= 0) return SY_EINVAL;
  sy_proc_stop(&k->apiserver, APISERVER_STOP_MS);
  int rc = spawn_apiserver(k);
  if (rc != 0) sy_kubeapi_dump_logs(k, 60);
  return rc;
}

void sy_kubeapi_stop(sy_kubeapi_t *k) {
  if (!k->started) return;
  sy_proc_stop(&k->apiserver, APISERVER_STOP_MS);
  sy_proc_stop(&k->etcd, 10000);
  if (env_is_1("SY_KUBEAPI_KEEP"))
    fprintf(stderr, "kubeapi: keeping %s (SY_KUBEAPI_KEEP=1)\n", k->dir);
  else
    sy_tmpdir_remove(k->dir);
  k->started = false;
}

/* ------------------------------------------------------------------- yaml */

typedef struct kind_info {
  const char *kind;
  const char *plural;
  bool namespaced;
} kind_info_t;

static const kind_info_t KINDS[] = {
    {"CustomResourceDefinition", "customresourcedefinitions", false},
    {"Namespace", "namespaces", false},
    {"ClusterRole", "clusterroles", false},
    {"ClusterRoleBinding", "clusterrolebindings", false},
    {"ServiceAccount", "serviceaccounts", true},
    {"Role", "roles", true},
    {"RoleBinding", "rolebindings", true},
    {"Pod", "pods", true},
    {"Service", "services", true},
    {"Secret", "secrets", true},
    {"ConfigMap", "configmaps", true},
    {"Lease", "leases", true},
    {"InferencePool", "inferencepools", true},
    {"InferencePoolImport", "inferencepoolimports", true},
    {"InferenceObjective", "inferenceobjectives", true},
    {"InferenceModelRewrite", "inferencemodelrewrites", true},
};

/* Copies a scalar value (s..e) into out: trims blanks, a trailing " #"
 * comment and one level of quotes. */
static void scalar_copy(const char *s, const char *e, char *out, size_t n) {
  while (s < e && (*s == ' ' || *s == '\t')) s++;
  if (s < e && (*s == '"' || *s == '\'')) {
    char q = *s++;
    const char *qe = memchr(s, q, (size_t)(e - s));
    if (qe) e = qe;
  } else {
    for (const char *p = s; p < e; p++)
      if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
        e = p;
        break;
      }
  }
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
  snprintf(out, n, "%.*s", (int)(e - s), s);
}

/* If line (ls..le) at `indent` spaces is "key: value", copies value. */
static bool key_value(const char *ls, const char *le, const char *key, char *out, size_t n) {
  size_t kl = strlen(key);
  if ((size_t)(le - ls) <= kl || memcmp(ls, key, kl) != 0 || ls[kl] != ':') return false;
  scalar_copy(ls + kl + 1, le, out, n);
  return true;
}

int sy_kubeapi_yaml_path(const char *doc, char *path, size_t n, char *name, size_t name_n) {
  char api[128] = "", kind[128] = "", ns[128] = "", nm[256] = "";
  bool in_meta = false;
  int child_indent = -1;
  for (const char *ls = doc; *ls;) {
    const char *le = strchr(ls, '\n');
    if (!le) le = ls + strlen(ls);
    int indent = 0;
    while (ls[indent] == ' ') indent++;
    const char *t = ls + indent;
    bool blank = t >= le || *t == '#' || *t == '\r';
    if (!blank) {
      if (indent == 0) {
        in_meta = strncmp(t, "metadata:", 9) == 0;
        child_indent = -1;
        key_value(t, le, "apiVersion", api, sizeof(api));
        key_value(t, le, "kind", kind, sizeof(kind));
      } else if (in_meta) {
        if (child_indent < 0) child_indent = indent;
        if (indent == child_indent) {
          key_value(t, le, "namespace", ns, sizeof(ns));
          key_value(t, le, "name", nm, sizeof(nm));
        }
      }
    }
    ls = *le ? le + 1 : le;
  }
  if (name) snprintf(name, name_n, "%s", nm);
  if (!api[0] || !kind[0]) return SY_EPARSE;
  const kind_info_t *ki = NULL;
  for (size_t i = 0; i < SY_ARRAY_LEN(KINDS); i++)
    if (strcmp(KINDS[i].kind, kind) == 0) ki = &KINDS[i];
  if (!ki) return SY_ENOTFOUND;
  const char *prefix = strchr(api, '/') ? "/apis/" : "/api/";
  int len;
  if (ki->namespaced)
    len = snprintf(path, n, "%s%s/namespaces/%s/%s", prefix, api, ns[0] ? ns : "default",
                   ki->plural);
  else
    len = snprintf(path, n, "%s%s/%s", prefix, api, ki->plural);
  return len > 0 && (size_t)len < n ? 0 : SY_ETOOBIG;
}

long sy_kubeapi_create_yaml(sy_kubeapi_t *k, const char *token, const char *doc,
                            char **resp_body) {
  char path[512];
  if (resp_body) *resp_body = NULL;
  int rc = sy_kubeapi_yaml_path(doc, path, sizeof(path), NULL, 0);
  if (rc != 0) {
    fprintf(stderr, "kubeapi: cannot derive the collection of this document (%s):\n%s\n",
            sy_strerror(rc), doc);
    return -1;
  }
  return sy_kubeapi_request(k, token, "POST", path, "application/yaml", doc, resp_body);
}

/* Waits until every served version of the CRD (parsed JSON) answers a LIST
 * with 200: after Established, and after an apiserver restart, a custom
 * resource's storage answers 429 "storage is (re)initializing" for a while. */
static int wait_crd_served(sy_kubeapi_t *k, const cJSON *crd, uint64_t deadline) {
  const cJSON *spec = cJSON_GetObjectItem(crd, "spec");
  const char *group = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "group"));
  const char *plural =
      cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "names"), "plural"));
  const cJSON *v;
  cJSON_ArrayForEach(v, cJSON_GetObjectItem(spec, "versions")) {
    const char *vn = cJSON_GetStringValue(cJSON_GetObjectItem(v, "name"));
    if (!group || !plural || !vn || !cJSON_IsTrue(cJSON_GetObjectItem(v, "served"))) continue;
    char lpath[512];
    snprintf(lpath, sizeof(lpath), "/apis/%s/%s/%s?limit=1", group, vn, plural);
    long code;
    while ((code = sy_kubeapi_request(k, NULL, "GET", lpath, NULL, NULL, NULL)) != 200) {
      if (now_ms() > deadline) {
        fprintf(stderr, "kubeapi: GET %s still HTTP %ld after %d ms\n", lpath, code,
                CRD_TIMEOUT_MS);
        return -ETIMEDOUT;
      }
      sy_sleep_ms(50);
    }
  }
  return 0;
}

static bool crd_established(const cJSON *crd) {
  const cJSON *c;
  cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "status"), "conditions")) {
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(c, "type"));
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(c, "status"));
    if (type && st && strcmp(type, "Established") == 0 && strcmp(st, "True") == 0) return true;
  }
  return false;
}

/* Waits until CRD `name` is Established and each served version lists. */
static int wait_crd(sy_kubeapi_t *k, const char *name) {
  char path[512];
  snprintf(path, sizeof(path), "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s",
           name);
  uint64_t deadline = now_ms() + CRD_TIMEOUT_MS;
  for (;;) {
    cJSON *crd = get_json(k, path, NULL);
    if (crd_established(crd)) {
      int rc = wait_crd_served(k, crd, deadline);
      cJSON_Delete(crd);
      return rc;
    }
    cJSON_Delete(crd);
    if (now_ms() > deadline) {
      fprintf(stderr, "kubeapi: CRD %s not Established after %d ms\n", name, CRD_TIMEOUT_MS);
      return -ETIMEDOUT;
    }
    sy_sleep_ms(50);
  }
}

/* After (re)start: every Established CRD already stored serves its lists. */
static int wait_all_crds(sy_kubeapi_t *k) {
  long code = 0;
  cJSON *list = get_json(k, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", &code);
  if (!list) {
    fprintf(stderr, "kubeapi: list CRDs: HTTP %ld\n", code);
    return -EIO;
  }
  uint64_t deadline = now_ms() + CRD_TIMEOUT_MS;
  int rc = 0;
  const cJSON *crd;
  cJSON_ArrayForEach(crd, cJSON_GetObjectItem(list, "items")) {
    if (crd_established(crd) && (rc = wait_crd_served(k, crd, deadline)) != 0) break;
  }
  cJSON_Delete(list);
  return rc;
}

/* True when the document has something besides blanks and comments. */
static bool doc_has_content(const char *s, size_t n) {
  bool line_start = true, in_comment = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\n') {
      line_start = true;
      in_comment = false;
      continue;
    }
    if (in_comment || c == ' ' || c == '\t' || c == '\r') continue;
    if (c == '#' && line_start) {
      in_comment = true;
      continue;
    }
    return true;
  }
  return false;
}

/* One document: create, and wait for CRDs. */
static int apply_doc(sy_kubeapi_t *k, const char *doc, bool exist_ok) {
  char path[512], name[256];
  int rc = sy_kubeapi_yaml_path(doc, path, sizeof(path), name, sizeof(name));
  if (rc != 0) {
    fprintf(stderr, "kubeapi: apply: cannot derive the collection (%s) of:\n%s\n",
            sy_strerror(rc), doc);
    return rc;
  }
  char *resp = NULL;
  long code = sy_kubeapi_request(k, NULL, "POST", path, "application/yaml", doc, &resp);
  if (code != 201 && !(code == 409 && exist_ok)) {
    fprintf(stderr, "kubeapi: apply: POST %s (%s): HTTP %ld\n%s\n", path, name, code,
            resp ? resp : "");
    sy_free(resp);
    return code == 409 ? -EEXIST : -EIO;
  }
  sy_free(resp);
  if (strstr(path, "/customresourcedefinitions")) return wait_crd(k, name);
  return 0;
}

int sy_kubeapi_apply_yaml_opts(sy_kubeapi_t *k, const char *text, bool exist_ok) {
  sy_buf_t doc;
  sy_buf_init(&doc, MAX_RESPONSE);
  int rc = 0;
  const char *ls = text;
  for (;;) {
    const char *le = strchr(ls, '\n');
    size_t len = le ? (size_t)(le - ls) : strlen(ls);
    size_t tl = len;
    while (tl > 0 && (ls[tl - 1] == ' ' || ls[tl - 1] == '\t' || ls[tl - 1] == '\r')) tl--;
    bool sep = tl == 3 && memcmp(ls, "---", 3) == 0;
    bool end = !le;
    if (!sep && (len > 0 || !end)) {
      if ((rc = sy_buf_append(&doc, ls, len)) != 0 || (rc = sy_buf_append(&doc, "\n", 1)) != 0)
        break;
    }
    if (sep || end) {
      if (doc.len > 0 && doc_has_content(doc.data, doc.len)) {
        rc = apply_doc(k, doc.data, exist_ok);
        if (rc != 0) break;
      }
      sy_buf_reset(&doc);
    }
    if (end) break;
    ls = le + 1;
  }
  sy_buf_cleanup(&doc);
  return rc;
}

int sy_kubeapi_apply_yaml_file(sy_kubeapi_t *k, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    fprintf(stderr, "kubeapi: %s: %s\n", path, strerror(e));
    return -e;
  }
  sy_buf_t b;
  sy_buf_init(&b, MAX_RESPONSE);
  char chunk[8192];
  size_t n;
  int rc = 0;
  while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) rc = sy_buf_append(&b, chunk, n);
  if (rc == 0 && ferror(f)) rc = -EIO;
  fclose(f);
  if (rc == 0) rc = sy_kubeapi_apply_yaml(k, b.data ? b.data : "");
  else fprintf(stderr, "kubeapi: read %s: %s\n", path, sy_strerror(rc));
  sy_buf_cleanup(&b);
  return rc;
}

char *sy_kubeapi_subst(const char *text, const char *from, const char *to) {
  sy_buf_t b;
  sy_buf_init(&b, SIZE_MAX / 2);
  size_t fl = strlen(from);
  const char *p = text;
  int rc = 0;
  if (fl > 0) {
    const char *hit;
    while (rc == 0 && (hit = strstr(p, from)) != NULL) {
      rc = sy_buf_append(&b, p, (size_t)(hit - p));
      if (rc == 0) rc = sy_buf_append_str(&b, to);
      p = hit + fl;
    }
  }
  if (rc == 0) rc = sy_buf_append_str(&b, p);
  if (rc == 0 && !b.data) rc = sy_buf_append(&b, "", 0);
  if (rc != 0 || !b.data) {
    sy_buf_cleanup(&b);
    return NULL;
  }
  return b.data;
}

/* --------------------------------------------------------------- objects */

int sy_kubeapi_create_namespace(sy_kubeapi_t *k, const char *ns) {
  char body[512];
  snprintf(body, sizeof(body),
           "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns);
  char *resp = NULL;
  long code =
      sy_kubeapi_request(k, NULL, "POST", "/api/v1/namespaces", "application/json", body, &resp);
  if (code != 201) fprintf(stderr, "kubeapi: create namespace %s: HTTP %ld\n%s\n", ns, code,
                           resp ? resp : "");
  sy_free(resp);
  return code == 201 ? 0 : code == 409 ? -EEXIST : -EIO;
}

/* Adds "k=v,k2=v2" pairs as string members of a new object `key` in obj. */
static int add_kv_object(cJSON *obj, const char *key, const char *list) {
  if (!list || !*list) return 0;
  cJSON *o = cJSON_AddObjectToObject(obj, key);
  if (!o) return -ENOMEM;
  const char *p = list;
  while (*p) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (!eq) return SY_EINVAL;
    char kbuf[320], vbuf[1024];
    snprintf(kbuf, sizeof(kbuf), "%.*s", (int)(eq - p), p);
    snprintf(vbuf, sizeof(vbuf), "%.*s", (int)(end - eq - 1), eq + 1);
    if (!cJSON_AddStringToObject(o, kbuf, vbuf)) return -ENOMEM;
    p = *end ? end + 1 : end;
  }
  return 0;
}

/* Sends a cJSON body; frees it. Returns the HTTP status (0 = none), prints
 * the response when it is not `want`. */
static long send_json(sy_kubeapi_t *k, const char *method, const char *path, const char *ctype,
                      cJSON *j, long want, char **resp_out) {
  char *body = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!body) return 0;
  char *resp = NULL;
  long code = sy_kubeapi_request(k, NULL, method, path, ctype, body, &resp);
  cJSON_free(body);
  if (code != want)
    fprintf(stderr, "kubeapi: %s %s: HTTP %ld\n%s\n", method, path, code, resp ? resp : "");
  if (resp_out)
    *resp_out = resp;
  else
    sy_free(resp);
  return code;
}

int sy_kubeapi_create_pod(sy_kubeapi_t *k, const char *ns, const char *name, const char *labels,
                          const char *annotations, const char *node) {
  cJSON *pod = cJSON_CreateObject();
  cJSON *meta = cJSON_AddObjectToObject(pod, "metadata");
  cJSON *spec = cJSON_AddObjectToObject(pod, "spec");
  cJSON *containers = cJSON_AddArrayToObject(spec, "containers");
  cJSON *c = cJSON_CreateObject();
  if (!pod || !meta || !spec || !containers || !c) {
    cJSON_Delete(c);
    cJSON_Delete(pod);
    return -ENOMEM;
  }
  cJSON_AddItemToArray(containers, c);
  cJSON_AddStringToObject(pod, "apiVersion", "v1");
  cJSON_AddStringToObject(pod, "kind", "Pod");
  cJSON_AddStringToObject(meta, "name", name);
  cJSON_AddStringToObject(meta, "namespace", ns);
  int rc = add_kv_object(meta, "labels", labels);
  if (rc == 0) rc = add_kv_object(meta, "annotations", annotations);
  if (rc != 0) {
    fprintf(stderr, "kubeapi: create pod %s/%s: bad labels/annotations\n", ns, name);
    cJSON_Delete(pod);
    return rc;
  }
  cJSON_AddStringToObject(spec, "nodeName", node ? node : "node-1");
  cJSON_AddNumberToObject(spec, "terminationGracePeriodSeconds", 0);
  cJSON_AddStringToObject(c, "name", "sim");
  cJSON_AddStringToObject(c, "image", "sim");
  char path[512];
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", ns);
  long code = send_json(k, "POST", path, "application/json", pod, 201, NULL);
  return code == 201 ? 0 : code == 409 ? -EEXIST : -EIO;
}

int sy_kubeapi_set_pod_status(sy_kubeapi_t *k, const char *ns, const char *name, const char *ip,
                              bool ready) {
  char now[32];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
  cJSON *patch = cJSON_CreateObject();
  cJSON *st = cJSON_AddObjectToObject(patch, "status");
  if (!st) {
    cJSON_Delete(patch);
    return -ENOMEM;
  }
  cJSON_AddStringToObject(st, "phase", "Running");
  if (ip) {
    cJSON_AddStringToObject(st, "podIP", ip);
    cJSON *ips = cJSON_AddArrayToObject(st, "podIPs");
    cJSON *one = cJSON_CreateObject();
    cJSON_AddStringToObject(one, "ip", ip);
    cJSON_AddItemToArray(ips, one);
  } else {
    cJSON_AddNullToObject(st, "podIP");
    cJSON_AddNullToObject(st, "podIPs");
  }
  cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
  const char *types[] = {"Ready", "ContainersReady"};
  for (size_t i = 0; i < SY_ARRAY_LEN(types); i++) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", types[i]);
    cJSON_AddStringToObject(c, "status", ready ? "True" : "False");
    cJSON_AddStringToObject(c, "lastTransitionTime", now);
    cJSON_AddItemToArray(conds, c);
  }
  char path[512];
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status", ns, name);
  long code = send_json(k, "PATCH", path, "application/merge-patch+json", patch, 200, NULL);
  return code == 200 ? 0 : -EIO;
}

int sy_kubeapi_patch(sy_kubeapi_t *k, const char *path, const char *merge_patch_json) {
  char *resp = NULL;
  long code = sy_kubeapi_request(k, NULL, "PATCH", path, "application/merge-patch+json",
                                 merge_patch_json, &resp);
  if (code != 200)
    fprintf(stderr, "kubeapi: PATCH %s: HTTP %ld\n%s\n", path, code, resp ? resp : "");
  sy_free(resp);
  return code == 200 ? 0 : code == 404 ? SY_ENOTFOUND : -EIO;
}

int sy_kubeapi_delete(sy_kubeapi_t *k, const char *path) {
  char *resp = NULL;
  long code = sy_kubeapi_request(k, NULL, "DELETE", path, NULL, NULL, &resp);
  if (code != 200 && code != 202 && code != 404)
    fprintf(stderr, "kubeapi: DELETE %s: HTTP %ld\n%s\n", path, code, resp ? resp : "");
  sy_free(resp);
  return code == 200 || code == 202 ? 0 : code == 404 ? SY_ENOTFOUND : -EIO;
}

int sy_kubeapi_sa_token(sy_kubeapi_t *k, const char *ns, const char *sa, char *out, size_t n) {
  char path[512];
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, sa);
  cJSON *req = cJSON_Parse("{\"apiVersion\":\"authentication.k8s.io/v1\","
                           "\"kind\":\"TokenRequest\",\"spec\":{\"expirationSeconds\":3600}}");
  if (!req) return -ENOMEM;
  char *resp = NULL;
  long code = send_json(k, "POST", path, "application/json", req, 201, &resp);
  int rc = -EIO;
  if (code == 201 && resp) {
    cJSON *j = cJSON_Parse(resp);
    const char *tok =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "status"), "token"));
    if (tok) {
      int len = snprintf(out, n, "%s", tok);
      rc = len >= 0 && (size_t)len < n ? 0 : SY_ETOOBIG;
    } else {
      rc = SY_EPARSE;
    }
    cJSON_Delete(j);
  }
  sy_free(resp);
  return rc;
}

int sy_kubeapi_write_kubeconfig(sy_kubeapi_t *k, const char *token, const char *path) {
  sy_buf_t b;
  sy_buf_init(&b, 1 << 16);
  int rc = sy_buf_printf(&b,
                         "apiVersion: v1\n"
                         "kind: Config\n"
                         "clusters:\n"
                         "- name: sy-kubeapi\n"
                         "  cluster:\n"
                         "    server: %s\n"
                         "    certificate-authority: %s\n"
                         "users:\n"
                         "- name: sy-user\n"
                         "  user:\n"
                         "    token: %s\n"
                         "contexts:\n"
                         "- name: sy\n"
                         "  context:\n"
                         "    cluster: sy-kubeapi\n"
                         "    user: sy-user\n"
                         "    namespace: default\n"
                         "current-context: sy\n",
                         k->server, k->ca_file, token ? token : k->admin_token);
  if (rc == 0) rc = write_file(path, b.data, 0600);
  sy_buf_cleanup(&b);
  return rc;
}
