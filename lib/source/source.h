/*
 * source — Kubernetes objects decoded into small domain structs, and the
 * local-manifests source that reads them from YAML files.
 *
 * The same structs will be produced by the Kubernetes API client (kube) in
 * a later module; the controller only ever sees these, never YAML or JSON.
 *
 * Ownership: an sy_objset_t owns every string and array hanging off it and is
 * released with sy_objset_free(). Objects are plain data: no locking, they
 * are built by one thread and handed over whole.
 */
#ifndef SY_SOURCE_H
#define SY_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sy_label {
  char *key;
  char *value;
} sy_label_t;

/* Where an object came from, for error messages: "pods.yaml:12" or
 * "apiserver". Always set. */
typedef struct sy_objmeta {
  char *name;
  char *namespace_name; /* "default" when the manifest omits it */
  char *uid;            /* may be NULL for local manifests */
  char *resource_version; /* metadata.resourceVersion; NULL for local manifests */
  sy_label_t *labels;
  size_t n_labels;
  sy_label_t *annotations;
  size_t n_annotations;
  bool deleting; /* metadata.deletionTimestamp is set */
  int64_t generation; /* metadata.generation; 0 when unset */
  char *origin;
} sy_objmeta_t;

#define SY_POOL_MAX_PORTS 8

typedef enum sy_app_protocol {
  SY_APP_PROTOCOL_HTTP = 0, /* "http" (the default) */
  SY_APP_PROTOCOL_H2C = 1,  /* "kubernetes.io/h2c" */
} sy_app_protocol_t;

/* InferencePool, inference.networking.k8s.io/v1. */
typedef struct sy_pool {
  sy_objmeta_t meta;
  sy_label_t *selector; /* spec.selector.matchLabels (1..64 entries) */
  size_t n_selector;
  int32_t target_ports[SY_POOL_MAX_PORTS]; /* spec.targetPorts[].number */
  size_t n_target_ports;
  sy_app_protocol_t app_protocol;
  /* spec.endpointPickerRef (optional; epp_name NULL when absent) */
  char *epp_group;
  char *epp_kind; /* "Service" when unset */
  char *epp_name;
  int32_t epp_port; /* 0 when unset */
  bool epp_fail_open; /* failureMode: FailOpen (default FailClose) */
} sy_pool_t;

/* Pod, core/v1: only what endpoint membership needs. */
typedef struct sy_pod {
  sy_objmeta_t meta;
  char *pod_ip; /* status.podIP; NULL when not yet assigned */
  bool ready;   /* status.conditions[type=Ready].status == "True" */
} sy_pod_t;

/* InferenceObjective (llm-d.ai/v1alpha2, or the older
 * inference.networking.x-k8s.io/v1alpha2): a named priority for requests
 * that carry its name in the objective header. */
typedef struct sy_objective {
  sy_objmeta_t meta;
  int priority;      /* spec.priority; 0 when unset */
  char *pool_group;  /* spec.poolRef.group (default inference.networking.k8s.io) */
  char *pool_name;   /* spec.poolRef.name (required; same namespace) */
} sy_objective_t;

/* One rewrite target: the model name to send and its relative weight. */
typedef struct sy_rewrite_target {
  char *model;     /* modelRewrite */
  int32_t weight;  /* 1..1000000 (default 1) */
} sy_rewrite_target_t;

/* One rule: when any match is the request's model (or matches is empty:
 * every model), pick a target by weight. */
typedef struct sy_rewrite_rule {
  char **matches; /* exact model names; n_matches == 0 matches all */
  size_t n_matches;
  sy_rewrite_target_t *targets; /* none: a match keeps the model unchanged */
  size_t n_targets;
} sy_rewrite_rule_t;

/* InferenceModelRewrite (llm-d.ai/v1alpha2, or the older
 * inference.networking.x-k8s.io/v1alpha2). */
typedef struct sy_model_rewrite {
  sy_objmeta_t meta;
  char *pool_group;
  char *pool_name;
  int64_t created;        /* metadata.creationTimestamp, Unix seconds; 0 when unset */
  sy_rewrite_rule_t *rules; /* >= 1 */
  size_t n_rules;
} sy_model_rewrite_t;

/* A complete set of objects as one source sees them at one moment. */
typedef struct sy_objset {
  sy_pool_t *pools;
  size_t n_pools;
  sy_pod_t *pods;
  size_t n_pods;
  sy_objective_t *objectives;
  size_t n_objectives;
  sy_model_rewrite_t *rewrites;
  size_t n_rewrites;
} sy_objset_t;

/* A located error: file, 1-based line and column, and a message. */
typedef struct sy_source_error {
  char file[512];
  int line;
  int column;
  char msg[512];
} sy_source_error_t;

/* The object kinds a source decodes. */
typedef enum sy_kind {
  SY_KIND_POOL = 0,
  SY_KIND_POD = 1,
  SY_KIND_OBJECTIVE = 2,
  SY_KIND_REWRITE = 3,
} sy_kind_t;

/* Decodes one API object of a known kind (no apiVersion/kind needed: list
 * items carry none) from a cJSON object (borrowed) into *out, a zeroed
 * sy_pool_t / sy_pod_t / sy_objective_t / sy_model_rewrite_t as `kind` says.
 * The same validation as for manifests; `origin` names the source in
 * messages and becomes meta.origin. 0, SY_EINVAL (err filled) or -ENOMEM;
 * on failure *out is left clean. Thread-safe. */
struct cJSON;
int sy_source_decode_json(sy_kind_t kind, const char *origin, const struct cJSON *obj, void *out,
                          sy_source_error_t *err);
/* Releases what an object of `kind` owns (not the struct itself). */
void sy_source_object_cleanup(sy_kind_t kind, void *obj);
/* Deep-copies an object of `kind` into the zeroed *dst. 0 or -ENOMEM (dst
 * left clean). */
int sy_source_object_copy(sy_kind_t kind, void *dst, const void *src);

/* Frees the set and everything it owns. Accepts NULL. */
void sy_objset_free(sy_objset_t *set);

/* Returns the value of label/annotation `key` or NULL. */
const char *sy_labels_get(const sy_label_t *labels, size_t n, const char *key);
/* True when every selector entry is present with an equal value in labels. */
bool sy_labels_match(const sy_label_t *selector, size_t n_selector, const sy_label_t *labels,
                     size_t n_labels);

/* -------------------------------------------------------- local manifests */

/* Formats `err` as "file:line:column: msg" ("file: msg" when line is 0)
 * into buf (NUL-terminated when n > 0). Returns what snprintf returns. */
int sy_source_error_format(const sy_source_error_t *err, char *buf, size_t n);

/* Loads `path`: a YAML file holding one or more documents ("---"), or a
 * directory whose *.yaml / *.yml / *.json files are loaded in name order (not
 * recursive; hidden files and subdirectories skipped; symlinks followed).
 * JSON is YAML, so .json files hold one object (or several "---"-separated
 * YAML documents). Documents of kind InferencePool
 * (inference.networking.k8s.io/v1), Pod (v1), InferenceObjective and
 * InferenceModelRewrite (llm-d.ai/v1alpha2 or
 * inference.networking.x-k8s.io/v1alpha2) are decoded, also inside a
 * v1 List's items; other kinds are skipped; an empty document is skipped. Any
 * syntax error, a recognised object with a missing or invalid field, or a
 * duplicate namespace/name of one kind fails the whole load. Objects keep
 * load order. Limits per file: 16 MiB, 64 nesting levels, 1,000,000 nodes.
 *
 * Returns 0 and a new set in *out (caller frees), or with *out NULL and `err`
 * (may be NULL) filled (file:line:column and a message that names the
 * object and field): SY_EPARSE (YAML syntax), SY_EINVAL (invalid or
 * duplicate object), SY_ETOOBIG (a limit), -errno (I/O), -ENOMEM.
 * Blocking file I/O: call from a background thread or at start-up. */
int sy_manifests_load(const char *path, sy_objset_t **out, sy_source_error_t *err);

/* Like sy_manifests_load for one in-memory document stream of `len` bytes
 * (need not be NUL-terminated); `name` stands for the file name in errors
 * and origins. No I/O; thread-safe. */
int sy_manifests_load_buffer(const char *name, const char *data, size_t len, sy_objset_t **out,
                             sy_source_error_t *err);

/* The files sy_manifests_load(path) reads, as full paths in name order
 * (just `path` when it is a file). 0 with *out (free with
 * sy_manifests_list_free) or -errno. */
int sy_manifests_list(const char *path, char ***out, size_t *n);
void sy_manifests_list_free(char **names, size_t n);

/* Watches `path` (file or directory) and re-loads it when anything changes
 * (mtime/size/inode of any file, files added or removed), polled every
 * `poll_ms` (0 = 1000) on its own thread. Each successful load calls `on_load` with a
 * new set (ownership passes to the callee). A failed load calls `on_error`
 * (may be NULL) and keeps the previous state: nothing is published until the
 * files are valid again. The first load happens synchronously inside
 * sy_manifests_watch_start: if it fails, start fails with the error.
 * Callbacks run on the watcher thread (the first one on the caller's). */
typedef struct sy_manifests_watch sy_manifests_watch_t;
typedef void (*sy_manifests_on_load_fn)(void *ctx, sy_objset_t *set);
typedef void (*sy_manifests_on_error_fn)(void *ctx, const sy_source_error_t *err);

/* A set equal in bytes to the last published one is not published again
 * (e.g. after `touch`), except right after a failed load.
 * Returns 0 and *out, or the first load's error (see sy_manifests_load), or
 * a negative code when the thread cannot be started. */
int sy_manifests_watch_start(sy_manifests_watch_t **out, const char *path, unsigned poll_ms,
                             sy_manifests_on_load_fn on_load, sy_manifests_on_error_fn on_error,
                             void *ctx, sy_source_error_t *err);
/* Stops the thread (promptly: it waits on a condition variable, not a
 * sleep), waits for a running callback to return, and frees the watcher.
 * Accepts NULL. Must not be called from inside a callback. */
void sy_manifests_watch_stop(sy_manifests_watch_t *w);

#endif /* SY_SOURCE_H */
