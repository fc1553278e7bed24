/*
 * A real Kubernetes control plane for tests, like controller-runtime's
 * envtest but in C: etcd + kube-apiserver (built by hack/kube-tools.sh) on
 * free loopback ports, with data, certificates and logs in a private temp
 * directory (under /dev/shm when it exists). No controller-manager, no
 * scheduler, no kubelet: tests create Pods with spec.nodeName set and write
 * their status themselves (sy_kubeapi_set_pod_status).
 *
 * Independent of the code under test: it talks to the apiserver with libcurl
 * and parses with cJSON, never through lib/kube.
 *
 * Authentication: a static token file with one admin user (group
 * system:masters, token in k->admin_token); service-account tokens are real
 * signed JWTs from the TokenRequest API (sy_kubeapi_sa_token), checked by the
 * apiserver's RBAC authorizer (--authorization-mode=RBAC). The apiserver
 * generates its own self-signed serving certificate in <dir>/pki; every
 * request here verifies it (k->ca_file holds the chain, its CA included), and
 * sy_kubeapi_write_kubeconfig points certificate-authority at it.
 *
 * Environment:
 *   SY_KUBE_TOOLS    directory holding bin/etcd and bin/kube-apiserver (the
 *                    output of hack/kube-tools.sh)
 *   SY_E2E_REQUIRE   "1": missing tools are a failure instead of a skip
 *
 * Errors: functions returning int give 0, SY_KUBEAPI_SKIP (start only), or a
 * negative -errno / SY_E* code (core.h), and print the reason to stderr
 * (this is test code: the message is the diagnostic). Functions returning
 * long give the HTTP status, 0 when no response came.
 *
 * Threads: one sy_kubeapi_t belongs to the thread that started it (child
 * processes die with that thread, see proc.h), and its functions must not
 * be called concurrently. Fork-mode Check tests may use it from the forked
 * child (the processes stay owned by the parent; the child must not stop
 * them).
 */
#ifndef SY_TEST_KUBEAPI_H
#define SY_TEST_KUBEAPI_H

#include <stdbool.h>
#include <stddef.h>

#include "proc.h"

/* sy_kubeapi_start: tools are not available and SY_E2E_REQUIRE != 1; the
 * test should exit with this code (ctest SKIP_RETURN_CODE). */
#define SY_KUBEAPI_SKIP 77

typedef struct sy_kubeapi {
  /* Read-only for callers once started. */
  char dir[512];          /* temp dir: etcd/, pki/, sa.key, tokens.csv, *.log */
  char server[64];        /* "https://127.0.0.1:<port>" */
  char ca_file[640];      /* <dir>/pki/apiserver.crt: serving cert + its CA */
  char admin_token[64];   /* bearer token of user "admin" (system:masters) */
  int port;               /* apiserver secure port */
  int etcd_port;          /* etcd client port (http) */
  double last_start_s;    /* spawn -> /readyz ok, seconds, of the last start */

  /* Private. */
  char bin_dir[512];
  sy_proc_t etcd;
  sy_proc_t apiserver;
  int etcd_peer_port;
  bool started;
} sy_kubeapi_t;

/* $SY_KUBE_TOOLS when set and non-empty, else NULL. */
const char *sy_kubeapi_tools_dir(void);

/* Starts etcd and kube-apiserver and waits (60 s) until /readyz answers
 * "ok" (admin token). Returns 0; SY_KUBEAPI_SKIP when the tools are missing and
 * SY_E2E_REQUIRE is not "1" (a message says so); otherwise a negative code
 * after dumping the tails of both logs. On failure everything started is
 * stopped again; `k` needs no cleanup, but sy_kubeapi_stop is harmless. */
int sy_kubeapi_start(sy_kubeapi_t *k);

/* Stops the apiserver with SIGTERM (SIGKILL after 5 s), starts it again on
 * the same port and etcd, and waits for /readyz and then until every
 * Established CRD's collection answers LIST with 200 (a custom resource's
 * storage answers 429 "storage is (re)initializing" for a moment after
 * /readyz is already ok; real clients see that, tests here do not).
 * Data survives (it is in etcd), and so do tokens (same signing key);
 * watches held by clients are cut. 0 or a negative code. */
int sy_kubeapi_restart(sy_kubeapi_t *k);

/* Stops both processes and removes the temp dir
 * (kept when SY_KUBEAPI_KEEP=1, for debugging). Safe to call twice and on a
 * never-started or failed `k`. */
void sy_kubeapi_stop(sy_kubeapi_t *k);

/* Prints the last `lines` lines of both logs to stderr. */
void sy_kubeapi_dump_logs(const sy_kubeapi_t *k, int lines);

/* One HTTP request to the apiserver. `token` NULL means the admin token;
 * `path` starts with "/" (query allowed); `content_type` and `body` may be
 * NULL (no body). When resp_body is not NULL it receives the response body
 * (NUL-terminated, sy_free it; NULL when none or on transport error).
 * Returns the HTTP status, or 0 on a transport error (printed). Requests
 * time out after 30 s, so watches need ?watch=1&timeoutSeconds=N, N < 30.
 * Each call uses a fresh connection, so it is safe in a forked child. */
long sy_kubeapi_request(sy_kubeapi_t *k, const char *token, const char *method,
                        const char *path, const char *content_type, const char *body,
                        char **resp_body);

/* The collection path ("/api/v1/namespaces/ns/pods",
 * "/apis/inference.networking.k8s.io/v1/namespaces/ns/inferencepools",
 * "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", ...) for one
 * YAML document, from its apiVersion, kind and metadata.namespace (default
 * "default" for namespaced kinds). The kind must be in the harness's table
 * (CustomResourceDefinition, Namespace, ServiceAccount, Role, RoleBinding,
 * ClusterRole, ClusterRoleBinding, Pod, Service, Secret, ConfigMap, Lease,
 * InferencePool, InferenceObjective, InferenceModelRewrite). When `name` is
 * not NULL it receives metadata.name. 0, SY_EPARSE (no apiVersion/kind) or
 * SY_ENOTFOUND (kind not in the table). */
int sy_kubeapi_yaml_path(const char *doc, char *path, size_t n, char *name, size_t name_n);

/* POSTs one YAML document (Content-Type application/yaml) to its collection
 * as `token` (NULL = admin). Returns the HTTP status (201 created, 409
 * exists, 422 invalid, 403 forbidden, ...), 0 on transport error, or -1 when
 * the collection path cannot be derived. resp_body as sy_kubeapi_request. */
long sy_kubeapi_create_yaml(sy_kubeapi_t *k, const char *token, const char *doc,
                            char **resp_body);

/* Creates (as admin) every document of a multi-document YAML text; documents
 * are separated by lines equal to "---", and empty or comment-only documents
 * are skipped. For a CustomResourceDefinition it then waits (30 s) until its
 * condition Established is True. Any status other than 201 is an error
 * (printed with the response), except 409 when `exist_ok`. Stops at the
 * first error. 0 or a negative code. */
int sy_kubeapi_apply_yaml_opts(sy_kubeapi_t *k, const char *text, bool exist_ok);
static inline int sy_kubeapi_apply_yaml(sy_kubeapi_t *k, const char *text) {
  return sy_kubeapi_apply_yaml_opts(k, text, false);
}
/* The same for a file. */
int sy_kubeapi_apply_yaml_file(sy_kubeapi_t *k, const char *path);

/* Returns a sy_malloc'd copy of `text` with every occurrence of `from`
 * replaced by `to` (e.g. "namespace: default" -> "namespace: test"), or
 * NULL on allocation failure. */
char *sy_kubeapi_subst(const char *text, const char *from, const char *to);

/* Creates a namespace (as admin). 0, or a negative code (409 included). */
int sy_kubeapi_create_namespace(sy_kubeapi_t *k, const char *ns);

/* Creates Pod ns/name with one container (name "sim", image "sim") and
 * spec.nodeName = node (no scheduler needed; NULL = "node-1"). labels and
 * annotations are "k=v,k2=v2" lists (may be NULL or ""). The pod stays
 * Pending until sy_kubeapi_set_pod_status. 0 or a negative code. */
int sy_kubeapi_create_pod(sy_kubeapi_t *k, const char *ns, const char *name, const char *labels,
                          const char *annotations, const char *node);

/* Merge-patches the pod's status subresource: phase Running, podIP/podIPs
 * = ip (both removed when ip is NULL), and conditions Ready and
 * ContainersReady = True/False. 0 or a negative code. */
int sy_kubeapi_set_pod_status(sy_kubeapi_t *k, const char *ns, const char *name, const char *ip,
                              bool ready);

/* PATCH `path` (as admin) with a JSON merge patch. 0 on 200, else a
 * negative code (status printed). */
int sy_kubeapi_patch(sy_kubeapi_t *k, const char *path, const char *merge_patch_json);

/* DELETE `path` (as admin). 0 on 200/202, SY_ENOTFOUND on 404, else a
 * negative code. */
int sy_kubeapi_delete(sy_kubeapi_t *k, const char *path);

/* Gets a real, signed token for ServiceAccount ns/sa (which must exist)
 * through the TokenRequest API, valid for 1 hour. 0, or a negative code
 * (SY_ETOOBIG when it does not fit in n bytes). */
int sy_kubeapi_sa_token(sy_kubeapi_t *k, const char *ns, const char *sa, char *out, size_t n);

/* Writes a kubeconfig for this apiserver: server k->server,
 * certificate-authority k->ca_file, the bearer `token` (NULL = admin),
 * namespace "default". 0 or -errno. */
int sy_kubeapi_write_kubeconfig(sy_kubeapi_t *k, const char *token, const char *path);

#endif /* SY_TEST_KUBEAPI_H */
