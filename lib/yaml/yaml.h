/*
 * yaml — a YAML (and therefore JSON) document stream parsed by libyaml into
 * a small read-only tree with source positions.
 *
 * Generic: no Kubernetes or switchyard knowledge. Used by the manifests
 * source and by configuration loaders.
 *
 * Model
 *  - A stream holds zero or more documents ("---"); each document has one
 *    root node (NULL for an empty document).
 *  - Nodes are scalars, mappings, sequences, or null (a plain "", "~",
 *    "null", "Null", "NULL", or a missing value such as "key:").
 *  - Scalars keep their text exactly as written (after YAML unescaping and
 *    folding) and are resolved lazily by the sy_yaml_as_* helpers using the
 *    YAML 1.2 core schema: only *plain* (unquoted, untagged) scalars resolve
 *    to int / bool / float / null; a quoted scalar is always a string.
 *  - Every node carries the 1-based line and column where it starts.
 *  - Aliases (*name) are kept by reference: the alias points at the anchored
 *    node, so the tree is a DAG and never grows exponentially. For the
 *    limits below an alias counts as a full copy of its target (weight and
 *    height), so a consumer that expands aliases while walking stays bounded
 *    too ("billion laughs" is rejected, not expanded).
 *  - Mapping keys must be scalars and unique within their mapping; the YAML
 *    1.1 merge key "<<" is rejected (it is not part of YAML 1.2, and silently
 *    ignoring it would lose fields).
 *
 * Limits (defaults, overridable per call): input of at most 16 MiB, nesting
 * at most 64 levels, at most 1,000,000 nodes per stream. Exceeding one is a
 * located error, not a crash.
 *
 * Ownership and threads: a stream owns all its nodes and text (one arena);
 * free it with sy_yaml_stream_free(). Nodes are immutable after parsing, so
 * a stream may be read from any number of threads at once.
 */
#ifndef SY_YAML_H
#define SY_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

typedef enum sy_yaml_kind {
  SY_YAML_NULL = 0,
  SY_YAML_SCALAR = 1,
  SY_YAML_MAPPING = 2,
  SY_YAML_SEQUENCE = 3,
} sy_yaml_kind_t;

/* What a scalar resolves to (YAML 1.2 core schema, see above). */
typedef enum sy_yaml_type {
  SY_YAML_TYPE_NULL = 0,
  SY_YAML_TYPE_BOOL = 1,
  SY_YAML_TYPE_INT = 2,
  SY_YAML_TYPE_FLOAT = 3,
  SY_YAML_TYPE_STR = 4,
  SY_YAML_TYPE_MAPPING = 5,
  SY_YAML_TYPE_SEQUENCE = 6,
} sy_yaml_type_t;

typedef struct sy_yaml_node sy_yaml_node_t;
struct sy_yaml_node {
  sy_yaml_kind_t kind;
  int line;   /* 1-based */
  int column; /* 1-based, in characters */
  bool plain; /* scalar/null written without quotes or block style */
  const char *tag; /* explicit tag, resolved ("tag:yaml.org,2002:str"), or NULL */
  /* SY_YAML_SCALAR and SY_YAML_NULL: the text, always NUL-terminated; it may
   * contain embedded NULs (from "\0" escapes): compare with len. */
  const char *text;
  size_t len;
  /* SY_YAML_MAPPING: n pairs keys[i] -> items[i], in document order.
   * SY_YAML_SEQUENCE: n items. Otherwise n == 0. */
  size_t n;
  sy_yaml_node_t **items;
  sy_yaml_node_t **keys;
  /* private: mapping key order sorted by text, for lookups */
  uint32_t *sorted_;
};

typedef struct sy_yaml_doc {
  sy_yaml_node_t *root; /* NULL for an empty document */
  int line;             /* where the document starts (1-based) */
  int column;
} sy_yaml_doc_t;

typedef struct sy_yaml_stream {
  char *name; /* the name given to the parser (file path), owned */
  sy_yaml_doc_t *docs;
  size_t n_docs;
  sy_arena_t arena_; /* private */
} sy_yaml_stream_t;

/* A located error. `file` is the stream name; line/column are 1-based (0
 * when no position applies, e.g. the file cannot be opened). */
typedef struct sy_yaml_error {
  char file[512];
  int line;
  int column;
  char msg[512];
} sy_yaml_error_t;

typedef struct sy_yaml_limits {
  size_t max_bytes; /* input size; 0 = default 16 MiB */
  unsigned max_depth; /* nesting of collections; 0 = default 64 */
  size_t max_nodes;   /* per stream, aliases weighed expanded; 0 = 1,000,000 */
} sy_yaml_limits_t;

#define SY_YAML_DEFAULT_MAX_BYTES ((size_t)16 * 1024 * 1024)
#define SY_YAML_DEFAULT_MAX_DEPTH 64u
#define SY_YAML_DEFAULT_MAX_NODES ((size_t)1000000)

/* Parses `len` bytes at `data` (need not be NUL-terminated) as a YAML stream.
 * `name` is used in errors and kept in the stream. `limits` may be NULL for
 * the defaults. Returns 0 and a new stream in *out (caller frees with
 * sy_yaml_stream_free), or on failure leaves *out NULL, fills `err` (may be
 * NULL) and returns SY_EPARSE (syntax, duplicate key, alias to an unknown
 * anchor...), SY_ETOOBIG (a limit was exceeded) or -ENOMEM.
 * Thread-safe: no shared state. */
int sy_yaml_parse(const char *name, const void *data, size_t len, const sy_yaml_limits_t *limits,
                  sy_yaml_stream_t **out, sy_yaml_error_t *err);

/* Reads the file at `path` (bounded by limits->max_bytes) and parses it like
 * sy_yaml_parse, using `path` as the name. Adds -errno returns for I/O
 * errors. Blocking file I/O. */
int sy_yaml_parse_file(const char *path, const sy_yaml_limits_t *limits, sy_yaml_stream_t **out,
                       sy_yaml_error_t *err);

/* Reads the whole file at `path` into a new NUL-terminated buffer (*out,
 * caller sy_free()s; *len excludes the NUL). Fails with SY_ETOOBIG when the
 * file holds more than max_bytes (0 = 16 MiB), -errno on I/O errors; `err`
 * (may be NULL) then names the file. Blocking file I/O. */
int sy_yaml_read_file(const char *path, size_t max_bytes, char **out, size_t *len,
                      sy_yaml_error_t *err);

/* Frees the stream and every node. Accepts NULL. */
void sy_yaml_stream_free(sy_yaml_stream_t *s);

/* Builds a one-document stream from a cJSON tree (borrowed; JSON from an
 * API server), so code written against this tree decodes JSON too. Strings
 * become quoted scalars, numbers/booleans plain ones, null a null node.
 * Nodes carry line 0 (no positions). Rejects duplicate object keys
 * (SY_EPARSE) and the depth/node limits (SY_ETOOBIG); -ENOMEM. `err` may be
 * NULL. The result is independent of `root`. */
struct cJSON;
int sy_yaml_from_json(const char *name, const struct cJSON *root, sy_yaml_stream_t **out, sy_yaml_error_t *err);

/* Formats "file:line:column: msg" (or "file: msg" without a position) into
 * buf (always NUL-terminated when n > 0). Returns buf. */
const char *sy_yaml_error_str(const sy_yaml_error_t *err, char *buf, size_t n);

/* ------------------------------------------------------------ navigation
 * All accessors accept a NULL node and return NULL/false for it, so chains
 * like sy_yaml_get(sy_yaml_get(root, "spec"), "selector") are safe. */

/* The value for `key` in a mapping, or NULL when `node` is not a mapping or
 * has no such key. A key written as null (e.g. "key: ~") returns a node of
 * kind SY_YAML_NULL, which sy_yaml_is_null() reports like a missing one.
 * O(log n). */
const sy_yaml_node_t *sy_yaml_get(const sy_yaml_node_t *node, const char *key);

/* Follows a dotted path of mapping keys with optional [index] for sequences:
 * "spec.selector.matchLabels", "status.conditions[0].type". Keys containing
 * '.' or '[' cannot be addressed this way (use sy_yaml_get). NULL when any
 * step is missing or of the wrong kind. */
const sy_yaml_node_t *sy_yaml_path(const sy_yaml_node_t *node, const char *path);

/* Sequence item i, or NULL when out of range / not a sequence. */
const sy_yaml_node_t *sy_yaml_at(const sy_yaml_node_t *node, size_t i);

/* --------------------------------------------------------------- scalars */

/* The resolved type of a node (core schema; see the file comment). */
sy_yaml_type_t sy_yaml_type(const sy_yaml_node_t *node);
/* "null", "boolean", "integer", "number", "string", "mapping", "sequence". */
const char *sy_yaml_type_name(sy_yaml_type_t t);

/* True for a missing node (NULL) or one that resolves to null. */
bool sy_yaml_is_null(const sy_yaml_node_t *node);
/* True when the node resolves to a string (quoted, block, !!str, or a plain
 * scalar that is not null/bool/int/float). */
bool sy_yaml_is_string(const sy_yaml_node_t *node);
/* True when `node` is a scalar (any resolved type) whose text is exactly `s`. */
bool sy_yaml_text_eq(const sy_yaml_node_t *node, const char *s);

/* Resolve a scalar: 0 and *out set, SY_EPARSE when the node does not resolve
 * to that type (a quoted "8000" is not an integer), SY_ETOOBIG when an
 * integer does not fit in int64. Integers: [-+]?[0-9]+, 0o[0-7]+,
 * 0x[0-9a-fA-F]+. Booleans: true/True/TRUE/false/False/FALSE.
 * sy_yaml_as_double also accepts integers. */
int sy_yaml_as_int(const sy_yaml_node_t *node, int64_t *out);
int sy_yaml_as_bool(const sy_yaml_node_t *node, bool *out);
int sy_yaml_as_double(const sy_yaml_node_t *node, double *out);

#endif /* SY_YAML_H */
