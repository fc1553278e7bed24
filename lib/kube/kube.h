/*
 * kube — a small Kubernetes API client in C: connection config (kubeconfig or
 * in-cluster), blocking requests, and informers (paginated LIST + WATCH
 * reflectors with a local cache each), all watches driven by one thread over
 * libcurl's multi interface.
 *
 * The client, events and informer are generic API machinery (lists, watch
 * events, resourceVersion, Status objects). On top of them, at the end of
 * this header: the EPP source (InferencePool, Pods, InferenceObjectives and
 * InferenceModelRewrites -> sy_objset_t) and Lease leader election.
 *
 * Wire formats stay here: callers get decoded values from their own decode
 * callback (handed a cJSON object) and never see HTTP or JSON text.
 */
#ifndef SY_KUBE_H
#define SY_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

struct cJSON;

/* ------------------------------------------------------------------ config */

#define SY_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Where and how to reach the API server. Every pointer is owned (free with
 * sy_kube_config_free). PEM blobs are held in memory whether they came from
 * *-data fields (base64-decoded) or files (read at load time), except
 * token_file, which is re-read by the client whenever it changes
 * (projected service-account tokens rotate). */
typedef struct sy_kube_config {
  char *server;          /* "https://host:port" (no trailing '/') */
  char *ca_pem;          /* NULL: system trust store */
  size_t ca_len;
  char *cert_pem;        /* client certificate; NULL if none */
  size_t cert_len;
  char *key_pem;         /* client key; NULL if none */
  size_t key_len;
  char *token;           /* static bearer token; NULL if none */
  char *token_file;      /* bearer token file, re-read on change; NULL if none */
  bool insecure;         /* insecure-skip-tls-verify */
  char *namespace_name;  /* the context's namespace / the pod's namespace; NULL if unset */
  char *origin;          /* for messages: "kubeconfig /p (context c)" or "in-cluster" */
} sy_kube_config_t;

/* Loads a config the way client tools do: `explicit_path` (--kubeconfig) if
 * non-empty; else the first file of $KUBECONFIG (a ':' list) that exists;
 * else in-cluster (KUBERNETES_SERVICE_HOST set and the service-account token
 * readable); else ~/.kube/config. 0 and *out, or a negative code with a
 * message in err that names the file, and the field when one is at fault
 * ("kubeconfig /p:12:7: users[0].user.client-certificate-data: not valid base64"). */
int sy_kube_config_load(const char *explicit_path, sy_kube_config_t **out, char *err, size_t errlen);

/* One kubeconfig document held in memory (`name` stands for its path in
 * messages; relative file references resolve against `base_dir`, which may be
 * NULL for the current directory). `context` NULL means current-context.
 * Reads the files the document references. */
int sy_kube_config_from_kubeconfig(const char *name, const char *data, size_t len, const char *base_dir,
                                   const char *context, sy_kube_config_t **out, char *err, size_t errlen);

/* In-cluster: KUBERNETES_SERVICE_HOST/PORT, and token, ca.crt and namespace
 * from `sa_dir` (NULL = SY_KUBE_SA_DIR). The token is used as token_file. */
int sy_kube_config_in_cluster(const char *sa_dir, sy_kube_config_t **out, char *err, size_t errlen);

void sy_kube_config_free(sy_kube_config_t *cfg);

/* ------------------------------------------------------------------ client */

typedef struct sy_kube_client sy_kube_client_t;

/* A client holds a copy of `cfg`. HTTP/2 over TLS when the server offers it;
 * connect timeout 10 s. Thread-safe: any number of threads may issue
 * requests at once. 0 or a negative code (err filled). */
int sy_kube_client_new(sy_kube_client_t **out, const sy_kube_config_t *cfg, char *err, size_t errlen);
void sy_kube_client_free(sy_kube_client_t *c);
const sy_kube_config_t *sy_kube_client_config(const sy_kube_client_t *c);

/* Prepares a libcurl easy handle (passed as void * so this header does not
 * pull in curl.h) for a request to `path_and_query` ("/api/v1/pods?watch=1"):
 * URL, TLS material, bearer token (the token file re-read if it changed),
 * HTTP/2, Accept: application/json, connect timeout. The caller owns the
 * returned header list (*headers, to curl_slist_free_all after the transfer)
 * and sets method, body, write callback and total timeout itself.
 * 0 or a negative code. Thread-safe. */
int sy_kube_client_prepare(sy_kube_client_t *c, void *easy, const char *path_and_query,
                           const char *content_type, void **headers);

typedef struct sy_kube_response {
  long status;   /* HTTP status; 0 when no response arrived */
  sy_buf_t body; /* response body (bounded: 64 MiB) */
  char err[256]; /* transport error when status == 0; the Status message otherwise, if any */
} sy_kube_response_t;

void sy_kube_response_init(sy_kube_response_t *r);
void sy_kube_response_cleanup(sy_kube_response_t *r);

/* A blocking request: `method` ("GET", "POST", "PUT", "PATCH", "DELETE"),
 * `path` ("/apis/coordination.k8s.io/v1/namespaces/ns/leases/x"), optional
 * body with its content type (default application/json; PATCH callers pass
 * e.g. "application/merge-patch+json"). timeout_ms 0 = 30 s.
 * Returns 0 once any HTTP response arrived (check resp->status; for
 * non-2xx the Status object's message is copied to resp->err), or a negative
 * code for transport errors (resp->err says what). */
int sy_kube_request(sy_kube_client_t *c, const char *method, const char *path, const char *content_type,
                    const void *body, size_t len, long timeout_ms, sy_kube_response_t *resp);

/* ------------------------------------------------------------ watch events */

typedef enum sy_kube_event_type {
  SY_KUBE_EV_ADDED = 0,
  SY_KUBE_EV_MODIFIED = 1,
  SY_KUBE_EV_DELETED = 2,
  SY_KUBE_EV_BOOKMARK = 3,
  SY_KUBE_EV_ERROR = 4,
} sy_kube_event_type_t;

/* One decoded watch event (a line of a watch stream). */
typedef struct sy_kube_event {
  sy_kube_event_type_t type;
  struct cJSON *root;          /* owned: the whole event */
  const struct cJSON *object;  /* borrowed from root: "object" */
  const char *resource_version; /* object.metadata.resourceVersion (ADDED..BOOKMARK); NULL for ERROR */
  const char *namespace_name;  /* object.metadata.namespace; "" when cluster-scoped; NULL for BOOKMARK/ERROR */
  const char *name;            /* object.metadata.name; NULL for BOOKMARK/ERROR */
  int error_code;              /* ERROR: the Status's code (410 = expired; also when the code is
                                  missing and the reason is Expired or Gone), else 0 */
  const char *error_message;   /* ERROR: the Status's message or reason, may be NULL */
} sy_kube_event_t;

/* Decodes one watch-stream line of `len` bytes (not NUL-terminated; a
 * trailing '\r' is ignored). Rejects, with a message in err: invalid JSON
 * (a raw NUL byte, anything after the value but whitespace), a missing or
 * unknown "type", a missing or non-object "object", and for
 * ADDED/MODIFIED/DELETED a missing metadata.name or resourceVersion, and for
 * BOOKMARK a missing resourceVersion. Duplicate keys: the last wins (as Go
 * reads JSON). Returns 0 (ev filled; release with sy_kube_event_cleanup),
 * SY_EPARSE for any rejection (cJSON reports running out of memory as a
 * parse failure, so that is SY_EPARSE too), or SY_EINVAL (ev NULL, or line
 * NULL with len > 0); on error *ev is zeroed. Pure, thread-safe (but see
 * cJSON's process-global error position, written by every parse). */
int sy_kube_event_parse(const char *line, size_t len, sy_kube_event_t *ev, char *err, size_t errlen);
void sy_kube_event_cleanup(sy_kube_event_t *ev);

/* ----------------------------------------------------------------- informer */

/* Decodes one object of a list or watch (`obj` borrowed, a JSON object with
 * metadata) into a caller-typed value. 0 and *out, or a non-zero code and a
 * message in err: the object is then rejected (logged and counted) and the
 * cache keeps what it had. Runs on the informer thread. */
typedef int (*sy_kube_decode_fn)(void *ctx, const struct cJSON *obj, void **out, char *err, size_t errlen);
typedef void (*sy_kube_free_fn)(void *ctx, void *value);

typedef struct sy_kube_reflector_config {
  const char *name;           /* for logs and stats: "pods", "inferencepools" */
  const char *path;           /* collection: "/api/v1/namespaces/ns/pods" */
  const char *label_selector; /* NULL or "a=b,c" */
  const char *field_selector; /* NULL or "metadata.name=x" */
  unsigned page_size;         /* LIST limit; 0 = 250 */
  sy_kube_decode_fn decode;
  sy_kube_free_fn free;
  void *ctx;
  /* Optional: does a change matter to on_change? Called on the informer
   * thread for every ADDED/MODIFIED/DELETED applied to the cache, with the
   * value replaced or removed (NULL when none) and the new one (NULL on
   * delete), both valid for the call only. false: the cache is updated but
   * the change alone does not trigger on_change (a LIST always does). NULL:
   * every change matters. */
  bool (*relevant)(void *relevant_ctx, const void *old_value, const void *new_value);
  void *relevant_ctx;
} sy_kube_reflector_config_t;

typedef struct sy_kube_informer sy_kube_informer_t;
typedef struct sy_kube_reflector sy_kube_reflector_t;

/* Called on the informer thread after a batch of events changed at least
 * one cache, once every reflector has completed its first LIST (the first
 * call therefore means "initially synced"; a completed LIST counts as a
 * change, so it comes even when every cache is empty). A batch is what one
 * curl_multi pass delivered: many events, one call. Caches may be read only
 * here (and after the informer stopped). */
typedef void (*sy_kube_on_change_fn)(void *ctx);

typedef struct sy_kube_informer_config {
  sy_kube_on_change_fn on_change;
  void *ctx;
  unsigned watch_timeout_s; /* server-side timeoutSeconds, randomised in [t, 2t); 0 = 300 */
  unsigned max_event_bytes; /* longest watch line accepted; 0 = 8 MiB (longer: watch restarted) */
  unsigned backoff_min_ms;  /* reconnect backoff, doubled per failure with jitter; 0 = 250 */
  unsigned backoff_max_ms;  /* 0 = 30000 */
} sy_kube_informer_config_t;

/* A new informer using `client` (borrowed; must outlive it). */
int sy_kube_informer_new(sy_kube_informer_t **out, sy_kube_client_t *client, const sy_kube_informer_config_t *cfg);

/* Adds a reflector (before start; SY_EINVAL after). The config's strings
 * are copied. 0, SY_EINVAL (no name or decode, path not starting with '/')
 * or -ENOMEM. *out (may be NULL) stays valid until the informer is freed. */
int sy_kube_informer_add(sy_kube_informer_t *inf, const sy_kube_reflector_config_t *cfg, sy_kube_reflector_t **out);

/* Starts the thread: each reflector LISTs (paginated, limit/continue; a 410
 * on a continue token restarts the list), then WATCHes from the list's
 * resourceVersion with allowWatchBookmarks. A watch that ends is resumed
 * from the last seen resourceVersion; 410 Gone (HTTP status or an ERROR
 * event) relists, replacing the cache (deletions missed meanwhile are
 * applied). Failures reconnect with exponential backoff and jitter. */
int sy_kube_informer_start(sy_kube_informer_t *inf);

/* Stops the thread promptly (aborts transfers) and waits for it. Safe to
 * call twice. The caches stay; start may be called again (each reflector
 * resumes from its last resourceVersion). From inside on_change it only
 * asks the thread to stop (no wait); free must not be called from there. */
void sy_kube_informer_stop(sy_kube_informer_t *inf);
/* Stops if needed and frees everything, caches included. Accepts NULL. */
void sy_kube_informer_free(sy_kube_informer_t *inf);

/* True once every reflector has completed a LIST. Any thread. */
bool sy_kube_informer_synced(const sy_kube_informer_t *inf);

/* Cache access (informer thread: inside on_change or a relevant callback;
 * or after stop). Objects
 * are keyed "namespace/name" ("name" when cluster-scoped). foreach visits in
 * no particular order. */
size_t sy_kube_reflector_size(const sy_kube_reflector_t *r);
const void *sy_kube_reflector_get(const sy_kube_reflector_t *r, const char *namespace_name, const char *name);
void sy_kube_reflector_foreach(const sy_kube_reflector_t *r, void (*fn)(void *ctx, const void *value), void *ctx);

typedef struct sy_kube_reflector_stats {
  uint64_t lists;            /* LISTs completed (initial and re-lists) */
  uint64_t relists_expired;  /* re-lists caused by 410 Gone */
  uint64_t watches;          /* WATCH requests started */
  uint64_t events;           /* ADDED/MODIFIED/DELETED applied */
  uint64_t bookmarks;
  uint64_t rejected;         /* events or objects rejected as garbage */
  uint64_t errors;           /* failed requests (transport, non-2xx) */
  char resource_version[64]; /* last seen */
} sy_kube_reflector_stats_t;

/* A consistent-enough copy of the counters. Any thread. */
void sy_kube_reflector_stats(const sy_kube_reflector_t *r, sy_kube_reflector_stats_t *out);

/* -------------------------------------------------------------- EPP source */

#include "source.h"

/* Feeds the controller from the API server the way upstream's EPP does:
 * the InferencePool (field selector metadata.name=<pool>), every Pod of the
 * pool's namespace, and InferenceObjectives / InferenceModelRewrites of that
 * namespace when discovery finds them served (llm-d.ai/v1alpha2 and the
 * older inference.networking.x-k8s.io/v1alpha2; both when both are served).
 * With endpoint_selector set there is no InferencePool: a pool named
 * pool_name is synthesised from the selector and target ports. */
typedef struct sy_kube_source_config {
  const char *pool_name;
  const char *pool_namespace;
  const char *pool_group;        /* only inference.networking.k8s.io (v1) */
  const char *endpoint_selector; /* "k=v,k2=v2", or NULL/"" for pool mode */
  const int32_t *target_ports;   /* endpoint-selector mode: 1..8 ports */
  size_t n_target_ports;
  /* Called on the informer thread with a set holding the pool (when it
   * exists), the pods its selector matches, and the namespace's objectives
   * and rewrites for it; ownership passes. Called once initially synced and
   * then only when something relevant changed. */
  void (*on_load)(void *ctx, sy_objset_t *set);
  void *ctx;
} sy_kube_source_config_t;

typedef struct sy_kube_source sy_kube_source_t;

/* Runs discovery (blocking, bounded by the client's timeouts), then starts
 * the informer. 0, or a negative code with err filled (e.g. the selector is
 * malformed, or discovery failed). `client` is borrowed. */
int sy_kube_source_start(sy_kube_source_t **out, sy_kube_client_t *client, const sy_kube_source_config_t *cfg,
                         char *err, size_t errlen);
/* Stops and frees. Accepts NULL. */
void sy_kube_source_stop(sy_kube_source_t *s);

typedef struct sy_kube_source_stats {
  bool synced;           /* every reflector listed once */
  bool objectives_served, rewrites_served;
  uint64_t publishes;    /* sets handed to on_load */
  uint64_t walks;        /* cache walks after a relevant change (pods outside
                            the selector cause none) */
  sy_kube_reflector_stats_t pools, pods;
} sy_kube_source_stats_t;
void sy_kube_source_stats(const sy_kube_source_t *s, sy_kube_source_stats_t *out);

/* Decoders for reflectors of source kinds (sy_kube_reflector_config_t
 * decode/free with ctx = (void *)(uintptr_t)kind): a pruned view of the
 * object (metadata, and spec or a pod's status) through
 * sy_source_decode_json into a heap-allocated struct of the kind. */
int sy_kube_decode_source(void *ctx, const struct cJSON *obj, void **out, char *err, size_t errlen);
void sy_kube_free_source(void *ctx, void *value);

/* Parses "k=v,k2=v2" (equality-based selector, as --endpoint-selector)
 * into labels (free with sy_kube_labels_free). 0 or SY_EINVAL (err says
 * why). */
int sy_kube_parse_selector(const char *text, sy_label_t **out, size_t *n, char *err, size_t errlen);
void sy_kube_labels_free(sy_label_t *l, size_t n);

/* ---------------------------------------------------------- leader election */

/* coordination.k8s.io/v1 Lease leader election with client-go's algorithm
 * and defaults: try to acquire or renew every retry period; a foreign
 * holder's lease counts as expired lease_duration after this process last
 * saw it change (local clock, so skew between replicas does not matter);
 * a leader that cannot renew within renew_deadline steps down. Updates use
 * optimistic concurrency (resourceVersion), so two candidates never both
 * win. On stop, a leader releases the lease (holder cleared) so a
 * successor takes over at once (upstream's ReleaseOnCancel). */
typedef struct sy_kube_lease_config {
  const char *namespace_name;
  const char *name;      /* upstream: epp-<ns>-<pool>.gateway-api-inference-extension.sigs.k8s.io */
  const char *identity;  /* unique per process; NULL = "<hostname>_<uuid>" */
  unsigned lease_duration_ms; /* 0 = 15000 */
  unsigned renew_deadline_ms; /* 0 = 10000 */
  unsigned retry_period_ms;   /* 0 = 2000 */
  /* Optional: called on the election thread when leadership changes. */
  void (*on_change)(void *ctx, bool leader);
  void *ctx;
} sy_kube_lease_config_t;

typedef struct sy_kube_lease sy_kube_lease_t;

int sy_kube_lease_start(sy_kube_lease_t **out, sy_kube_client_t *client, const sy_kube_lease_config_t *cfg,
                        char *err, size_t errlen);
/* True while this process holds the lease. Any thread, lock-free. */
bool sy_kube_lease_is_leader(const sy_kube_lease_t *l);
const char *sy_kube_lease_identity(const sy_kube_lease_t *l);
/* Stops campaigning and releases the lease if held (is_leader is false
 * afterwards). The object stays valid for is_leader until stop. Accepts
 * NULL; idempotent. */
void sy_kube_lease_release(sy_kube_lease_t *l);
/* Releases if needed, then frees. Accepts NULL. */
void sy_kube_lease_stop(sy_kube_lease_t *l);

#endif /* SY_KUBE_H */
