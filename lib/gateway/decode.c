/* gateway — Kubernetes objects (YAML node trees) -> Gateway API structs, with
 * the spec's defaults and located errors. Sans I/O. */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gateway_int.h"

#define PATHMAX 256
#define MAX_LIST_DEPTH 4
#define ARENA_BLOCK 2048

/* The object being decoded, for messages, and where its memory comes from. */
typedef struct dctx {
  sy_gw_error_t *err;
  const char *file;
  const char *kind;
  const char *ns;   /* NULL until known */
  const char *name; /* NULL until known */
  bool lenient;
  bool core;        /* Service/EndpointSlice/Namespace: unknown fields always ignored */
  sy_arena_t *a;
} dctx_t;

/* ----------------------------------------------------------------- errors */

static void error_set(sy_gw_error_t *err, const char *file, int line, int column, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));
static void error_set(sy_gw_error_t *err, const char *file, int line, int column, const char *fmt,
                      ...) {
  if (!err) return;
  snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
  err->line = line;
  err->column = column;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
}

/* "Kind ns/name: path: message" at node `at`. Returns SY_EINVAL. */
__attribute__((format(printf, 4, 5))) static int derr(dctx_t *d, const sy_yaml_node_t *at,
                                                     const char *path, const char *fmt, ...) {
  if (!d->err) return SY_EINVAL;
  char what[320], obj[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  if (d->name && d->ns && d->ns[0]) snprintf(obj, sizeof(obj), "%s %.80s/%.80s", d->kind, d->ns, d->name);
  else if (d->name) snprintf(obj, sizeof(obj), "%s %.150s", d->kind, d->name);
  else snprintf(obj, sizeof(obj), "%s", d->kind);
  int line = at ? at->line : 0, col = at ? at->column : 0;
  if (path) error_set(d->err, d->file, line, col, "%s: %s: %s", obj, path, what);
  else error_set(d->err, d->file, line, col, "%s %s", obj, what);
  return SY_EINVAL;
}

/* A scalar's text as a bounded, escaped, double-quoted string. */
static const char *quote(const sy_yaml_node_t *v, char *buf, size_t n) {
  size_t o = 0;
  const size_t limit = n > 8 ? n - 8 : 0;
  buf[o++] = '"';
  for (size_t i = 0; v && i < v->len && o < limit; i++) {
    unsigned char c = (unsigned char)v->text[i];
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
    } else {
      buf[o++] = (char)c;
    }
    if (i + 1 < v->len && o >= limit) {
      memcpy(buf + o, "...", 3);
      o += 3;
    }
  }
  buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}
#define Q(node, buf) quote((node), (buf), sizeof(buf))

static const char *type_phrase(const sy_yaml_node_t *v) {
  switch (sy_yaml_type(v)) {
    case SY_YAML_TYPE_NULL: return "null";
    case SY_YAML_TYPE_BOOL: return "a boolean";
    case SY_YAML_TYPE_INT: return "an integer";
    case SY_YAML_TYPE_FLOAT: return "a number";
    case SY_YAML_TYPE_STR: return "a string";
    case SY_YAML_TYPE_MAPPING: return "a mapping";
    case SY_YAML_TYPE_SEQUENCE: return "a sequence";
  }
  return "unknown";
}

/* ------------------------------------------------------------------ paths */

/* Field paths are cut at PATHMAX-1 characters (only ever shown in messages). */
static const char *cat(char *buf, const char *base, const char *key) {
  int n = (base && base[0]) ? snprintf(buf, PATHMAX, "%s.%s", base, key) : snprintf(buf, PATHMAX, "%s", key);
  if (n < 0) buf[0] = '\0';
  return buf;
}

static const char *idx(char *buf, const char *base, size_t i) {
  if (snprintf(buf, PATHMAX, "%s[%zu]", base, i) < 0) buf[0] = '\0';
  return buf;
}

/* ------------------------------------------------------------- validators */

static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Hostname: optional "*." then a subdomain (253 max). */
static bool hostname_ok(const char *s, bool allow_wild) {
  size_t len = strlen(s);
  if (len == 0 || len > 253) return false;
  if (allow_wild && sy_gw__is_wild(s)) return sy_k8s_dns_subdomain(s + 2, len - 2, 251);
  return sy_k8s_dns_subdomain(s, len, 253);
}

/* Kind: ^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$, at most 63. */
static bool kind_ok(const char *s) {
  size_t len = strlen(s);
  if (len == 0 || len > 63) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) || !is_alnum(s[len - 1])) return false;
  for (size_t i = 0; i < len; i++)
    if (!is_alnum(s[i]) && s[i] != '-') return false;
  return true;
}

/* RFC 7230 token (header names), at most 256. */
static bool token_ok(const char *s) {
  size_t len = strlen(s);
  if (len == 0 || len > 256) return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!is_alnum(c) && !strchr("!#$%&'*+-.^_`|~", c)) return false;
  }
  return true;
}

/* Exact / PathPrefix values: the CEL rules of HTTPPathMatch. NULL when ok. */
static const char *path_problem(const char *v) {
  size_t len = strlen(v);
  if (len == 0 || v[0] != '/') return "must be an absolute path starting with '/'";
  if (len > 1024) return "must be at most 1024 characters";
  if (strstr(v, "//")) return "must not contain '//'";
  if (strstr(v, "/./")) return "must not contain '/./'";
  if (strstr(v, "/../")) return "must not contain '/../'";
  if (strstr(v, "%2f") || strstr(v, "%2F")) return "must not contain '%2f'";
  if (strchr(v, '#')) return "must not contain '#'";
  if ((len >= 3 && strcmp(v + len - 3, "/..") == 0) || (len >= 2 && strcmp(v + len - 2, "/.") == 0))
    return "must not end with '/.' or '/..'";
  for (size_t i = 0; i < len; i++) {
    char c = v[i];
    if (c == '%') {
      if (i + 2 >= len || !strchr("0123456789abcdefABCDEF", v[i + 1]) ||
          !strchr("0123456789abcdefABCDEF", v[i + 2]))
        return "has an invalid percent-encoding";
      i += 2;
    } else if (!is_alnum(c) && !strchr("-/._~!$&'()*+,;=:@", c)) {
      return "contains a character that is not allowed in a path";
    }
  }
  return NULL;
}

/* ------------------------------------------------------------ field access */

static const sy_yaml_node_t *opt(const sy_yaml_node_t *m, const char *key) {
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  return sy_yaml_is_null(v) ? NULL : v;
}

static int want_string(dctx_t *d, const sy_yaml_node_t *v, const char *path) {
  char q[96];
  if (sy_yaml_is_string(v)) {
    if (strlen(v->text) != v->len) return derr(d, v, path, "must not contain NUL characters");
    return 0;
  }
  if (v->kind == SY_YAML_SCALAR || v->kind == SY_YAML_NULL)
    return derr(d, v, path, "must be a string, not %s (quote it: %s)", type_phrase(v), Q(v, q));
  return derr(d, v, path, "must be a string, not %s", type_phrase(v));
}

static int want_kind(dctx_t *d, const sy_yaml_node_t *v, sy_yaml_kind_t kind, const char *path) {
  if (v->kind == kind) return 0;
  return derr(d, v, path, "must be a %s, not %s", kind == SY_YAML_MAPPING ? "mapping" : "sequence",
              type_phrase(v));
}

/* Unknown keys of mapping m (strict mode only). */
static int fields(dctx_t *d, const sy_yaml_node_t *m, const char *path, const char *const *allowed) {
  if (d->lenient || d->core) return 0;
  for (size_t i = 0; i < m->n; i++) {
    const sy_yaml_node_t *k = m->keys[i];
    bool ok = false;
    for (const char *const *a = allowed; *a && !ok; a++) ok = sy_yaml_text_eq(k, *a);
    if (!ok) {
      char q[96], p[PATHMAX + 128];
      if (snprintf(p, sizeof(p), "%s%s%.*s", path && path[0] ? path : "", path && path[0] ? "." : "",
                   (int)SY_MIN(k->len, 100), k->text) < 0)
        p[0] = '\0';
      return derr(d, k, p, "unknown field %s", Q(k, q));
    }
  }
  return 0;
}

static int dup(dctx_t *d, const sy_yaml_node_t *v, const char **out) {
  *out = sy_arena_strndup(d->a, v->text, v->len);
  return *out ? 0 : -ENOMEM;
}

/* String field `key` of mapping m; *out NULL when absent and optional. */
static int get_str(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char *key,
                   bool required, const char **out) {
  char p[PATHMAX];
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  *out = NULL;
  if (sy_yaml_is_null(v)) return required ? derr(d, v ? v : m, cat(p, base, key), "required") : 0;
  int rc = want_string(d, v, cat(p, base, key));
  return rc ? rc : dup(d, v, out);
}

static int get_int(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char *key,
                   bool required, int64_t min, int64_t max, int64_t *out, bool *present) {
  char p[PATHMAX], q[96];
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  if (present) *present = false;
  if (sy_yaml_is_null(v)) return required ? derr(d, v ? v : m, cat(p, base, key), "required") : 0;
  int64_t x;
  int rc = sy_yaml_as_int(v, &x);
  if (rc == SY_EPARSE) {
    if (v->kind == SY_YAML_SCALAR)
      return derr(d, v, cat(p, base, key), "must be an integer, not %s %s", type_phrase(v), Q(v, q));
    return derr(d, v, cat(p, base, key), "must be an integer, not %s", type_phrase(v));
  }
  if (rc || x < min || x > max)
    return derr(d, v, cat(p, base, key), "must be between %lld and %lld, got %s", (long long)min,
                (long long)max, Q(v, q));
  *out = x;
  if (present) *present = true;
  return 0;
}

static int get_bool(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char *key,
                    bool *out, bool *present) {
  char p[PATHMAX], q[96];
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  *present = false;
  if (sy_yaml_is_null(v)) return 0;
  if (sy_yaml_as_bool(v, out) != 0) return derr(d, v, cat(p, base, key), "must be true or false, got %s", Q(v, q));
  *present = true;
  return 0;
}

/* Mapping field; *out NULL when absent. */
static int get_map(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char *key,
                   bool required, const sy_yaml_node_t **out) {
  char p[PATHMAX];
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  *out = NULL;
  if (sy_yaml_is_null(v)) return required ? derr(d, v ? v : m, cat(p, base, key), "required") : 0;
  int rc = want_kind(d, v, SY_YAML_MAPPING, cat(p, base, key));
  if (!rc) *out = v;
  return rc;
}

/* Sequence field with at most `max` items (checked in strict mode; 0 = no
 * limit) and at least `min` when present. *out NULL when absent. */
static int get_seq(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char *key,
                   bool required, size_t min, size_t max, const sy_yaml_node_t **out) {
  char p[PATHMAX];
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  *out = NULL;
  if (sy_yaml_is_null(v)) return required ? derr(d, v ? v : m, cat(p, base, key), "required") : 0;
  int rc = want_kind(d, v, SY_YAML_SEQUENCE, cat(p, base, key));
  if (rc) return rc;
  if (!d->lenient && ((max && v->n > max) || v->n < min)) {
    if (min && max) return derr(d, v, cat(p, base, key), "must have %zu to %zu items, has %zu", min, max, v->n);
    if (max) return derr(d, v, cat(p, base, key), "must have at most %zu items, has %zu", max, v->n);
    return derr(d, v, cat(p, base, key), "must have at least %zu item(s)", min);
  }
  *out = v;
  return 0;
}

static void *alloc_array(dctx_t *d, size_t n, size_t size) {
  if (n == 0) return NULL;
  if (n > SIZE_MAX / size) return NULL;
  return sy_arena_calloc(d->a, n * size);
}
#define ARRAY(d, ptr, n) ((ptr) = alloc_array((d), (n), sizeof(*(ptr))))

/* An enum field: *out the index into names, dflt when absent, -1 when the
 * value is unknown (lenient only: strict fails). */
static int get_enum(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char *key,
                    const char *const *names, int dflt, bool required, int *out,
                    const sy_yaml_node_t **node) {
  char p[PATHMAX], q[96], list[200];
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  *out = dflt;
  if (node) *node = v;
  if (sy_yaml_is_null(v)) return required ? derr(d, v ? v : m, cat(p, base, key), "required") : 0;
  int rc = want_string(d, v, cat(p, base, key));
  if (rc) return rc;
  size_t o = 0;
  list[0] = '\0';
  for (int i = 0; names[i]; i++) {
    if (sy_yaml_text_eq(v, names[i])) {
      *out = i;
      return 0;
    }
    o += (size_t)snprintf(list + o, sizeof(list) - SY_MIN(o, sizeof(list)), "%s%s", i ? ", " : "", names[i]);
    if (o >= sizeof(list)) o = sizeof(list) - 1;
  }
  *out = -1;
  if (d->lenient) return 0;
  return derr(d, v, cat(p, base, key), "must be one of %s, got %s", list, Q(v, q));
}

/* Marks a rule as not programmable (first reason wins). 0 or -ENOMEM. */
__attribute__((format(printf, 4, 5))) static int rule_invalid(dctx_t *d, sy_gw_route_rule_t *r,
                                                             const char *reason, const char *fmt, ...) {
  if (r->invalid_reason) return 0;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  r->invalid_reason = reason;
  r->invalid_message = sy_arena_strndup(d->a, msg, strlen(msg));
  return r->invalid_message ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------- labels */

/* string->string mapping (labels, matchLabels). */
static int get_labels(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char *key,
                      const sy_gw_label_t **out, size_t *n_out) {
  char p[PATHMAX], pk[PATHMAX + 128], q[96];
  const sy_yaml_node_t *v;
  *out = NULL;
  *n_out = 0;
  int rc = get_map(d, m, base, key, false, &v);
  if (rc || !v || v->n == 0) return rc;
  sy_gw_label_t *l;
  if (!ARRAY(d, l, v->n)) return -ENOMEM;
  cat(p, base, key);
  for (size_t i = 0; i < v->n; i++) {
    const sy_yaml_node_t *k = v->keys[i], *val = v->items[i];
    snprintf(pk, sizeof(pk), "%s.%.*s", p, (int)SY_MIN(k->len, 100), k->text);
    if ((rc = want_string(d, k, pk)) || (rc = want_string(d, val, pk))) return rc;
    if (!d->lenient && !sy_k8s_qualified_name(k->text, k->len))
      return derr(d, k, pk, "%s is not a valid label key (an optional DNS subdomain prefix and '/', then "
                            "a name of at most 63 alphanumerics, '-', '_' or '.')", Q(k, q));
    if (!d->lenient && !sy_k8s_label_word(val->text, val->len, true))
      return derr(d, val, pk, "%s is not a valid label value (at most 63 alphanumerics, '-', '_' or '.', "
                              "starting and ending with an alphanumeric, or empty)", Q(val, q));
    if ((rc = dup(d, k, &l[i].key)) || (rc = dup(d, val, &l[i].value))) return rc;
  }
  *out = l;
  *n_out = v->n;
  return 0;
}

/* metav1.LabelSelector. *invalid set for an unknown operator (lenient). */
static int get_selector(dctx_t *d, const sy_yaml_node_t *sel, const char *path, sy_gw_selector_t *out,
                        bool *invalid) {
  static const char *const sel_fields[] = {"matchLabels", "matchExpressions", NULL};
  static const char *const expr_fields[] = {"key", "operator", "values", NULL};
  static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
  char p[PATHMAX], pe[PATHMAX];
  int rc;
  if ((rc = fields(d, sel, path, sel_fields))) return rc;
  if ((rc = get_labels(d, sel, path, "matchLabels", &out->match_labels, &out->n_match_labels))) return rc;
  const sy_yaml_node_t *ex;
  if ((rc = get_seq(d, sel, path, "matchExpressions", false, 0, 0, &ex)) || !ex) return rc;
  if (!ex->n) return 0;
  sy_gw_selector_expr_t *e;
  if (!ARRAY(d, e, ex->n)) return -ENOMEM;
  cat(p, path, "matchExpressions");
  for (size_t i = 0; i < ex->n; i++) {
    const sy_yaml_node_t *it = ex->items[i];
    idx(pe, p, i);
    if ((rc = want_kind(d, it, SY_YAML_MAPPING, pe)) || (rc = fields(d, it, pe, expr_fields))) return rc;
    if ((rc = get_str(d, it, pe, "key", true, &e[i].key))) return rc;
    int op;
    if ((rc = get_enum(d, it, pe, "operator", ops, 0, true, &op, NULL))) return rc;
    if (op < 0) {
      *invalid = true;
      op = 0;
    }
    e[i].op = (sy_gw_selector_op_t)op;
    const sy_yaml_node_t *vals;
    if ((rc = get_seq(d, it, pe, "values", false, 0, 0, &vals))) return rc;
    if (vals && vals->n) {
      const char **vv;
      if (!ARRAY(d, vv, vals->n)) return -ENOMEM;
      char pv[PATHMAX], pvi[PATHMAX];
      cat(pv, pe, "values");
      for (size_t j = 0; j < vals->n; j++) {
        if ((rc = want_string(d, vals->items[j], idx(pvi, pv, j))) || (rc = dup(d, vals->items[j], &vv[j])))
          return rc;
      }
      e[i].values = vv;
      e[i].n_values = vals->n;
    }
    bool needs = e[i].op == SY_GW_SEL_IN || e[i].op == SY_GW_SEL_NOT_IN;
    if (!d->lenient && needs != (e[i].n_values > 0))
      return derr(d, it, pe, needs ? "values must be non-empty for operator In or NotIn"
                                   : "values must be empty for operator Exists or DoesNotExist");
  }
  out->exprs = e;
  out->n_exprs = ex->n;
  return 0;
}

/* --------------------------------------------------------------- metadata */

static int decode_meta(dctx_t *d, const sy_yaml_node_t *root, bool namespaced, sy_gw_meta_t *meta) {
  char q[96];
  const sy_yaml_node_t *m;
  int rc = get_map(d, root, "", "metadata", true, &m);
  if (rc) return rc;
  if (namespaced) {
    if ((rc = get_str(d, m, "metadata", "namespace", false, &meta->namespace_name))) return rc;
    if (meta->namespace_name && !meta->namespace_name[0]) meta->namespace_name = NULL;
    if (meta->namespace_name && !d->lenient &&
        !sy_k8s_dns_label(meta->namespace_name, strlen(meta->namespace_name)))
      return derr(d, sy_yaml_get(m, "namespace"), "metadata.namespace",
                  "%s must be a lowercase RFC 1123 label", Q(sy_yaml_get(m, "namespace"), q));
    if (!meta->namespace_name) meta->namespace_name = "default";
  } else {
    meta->namespace_name = "";
  }
  d->ns = meta->namespace_name;
  if ((rc = get_str(d, m, "metadata", "name", true, &meta->name))) return rc;
  if (!d->lenient && !sy_k8s_dns_subdomain(meta->name, strlen(meta->name), 253))
    return derr(d, sy_yaml_get(m, "name"), "metadata.name",
                "%s must be a lowercase RFC 1123 subdomain (lower case alphanumerics, '-' or '.', at most "
                "253 characters)", Q(sy_yaml_get(m, "name"), q));
  d->name = meta->name;
  if ((rc = get_str(d, m, "metadata", "uid", false, &meta->uid))) return rc;
  int64_t gen = 0;
  if ((rc = get_int(d, m, "metadata", "generation", false, 0, INT64_MAX, &gen, NULL))) return rc;
  meta->generation = gen;
  const sy_yaml_node_t *ct = opt(m, "creationTimestamp");
  if (ct) {
    if ((rc = want_string(d, ct, "metadata.creationTimestamp"))) return rc;
    meta->created = sy_gw__parse_time(ct->text);
    if (!meta->created && !d->lenient)
      return derr(d, ct, "metadata.creationTimestamp", "not an RFC 3339 time: %s", Q(ct, q));
  }
  if ((rc = get_labels(d, m, "metadata", "labels", &meta->labels, &meta->n_labels))) return rc;
  meta->deleting = opt(m, "deletionTimestamp") != NULL;
  return 0;
}

static int set_origin(dctx_t *d, sy_gw_meta_t *meta, const sy_yaml_node_t *root) {
  char buf[600];
  if (root->line > 0) snprintf(buf, sizeof(buf), "%s:%d", d->file ? d->file : "", root->line);
  else snprintf(buf, sizeof(buf), "%s", d->file ? d->file : "apiserver");
  meta->origin = sy_arena_strndup(d->a, buf, strlen(buf));
  return meta->origin ? 0 : -ENOMEM;
}

/* A group field: "" or an RFC 1123 subdomain; `dflt` when absent. */
static int get_group(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char *dflt,
                     const char **out) {
  char p[PATHMAX], q[96];
  int rc = get_str(d, m, base, "group", false, out);
  if (rc) return rc;
  if (!*out) {
    *out = dflt;
    return 0;
  }
  if (!d->lenient && (*out)[0] && !sy_k8s_dns_subdomain(*out, strlen(*out), 253))
    return derr(d, sy_yaml_get(m, "group"), cat(p, base, "group"), "%s must be empty or an RFC 1123 subdomain",
                Q(sy_yaml_get(m, "group"), q));
  return 0;
}

static int get_kind(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char *dflt,
                    const char **out) {
  char p[PATHMAX], q[96];
  int rc = get_str(d, m, base, "kind", dflt == NULL, out);
  if (rc) return rc;
  if (!*out) {
    *out = dflt;
    return 0;
  }
  if (!d->lenient && !kind_ok(*out))
    return derr(d, sy_yaml_get(m, "kind"), cat(p, base, "kind"),
                "%s must start with a letter and contain only alphanumerics or '-' (1-63 characters)",
                Q(sy_yaml_get(m, "kind"), q));
  return 0;
}

static int get_namespace(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char **out,
                         bool *set) {
  char p[PATHMAX], q[96];
  int rc = get_str(d, m, base, "namespace", false, out);
  if (rc) return rc;
  if (*out && !(*out)[0]) *out = NULL;
  if (set) *set = *out != NULL;
  if (*out && !d->lenient && !sy_k8s_dns_label(*out, strlen(*out)))
    return derr(d, sy_yaml_get(m, "namespace"), cat(p, base, "namespace"), "%s must be a lowercase RFC 1123 label",
                Q(sy_yaml_get(m, "namespace"), q));
  return 0;
}

static int get_name(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char **out) {
  char p[PATHMAX];
  int rc = get_str(d, m, base, "name", true, out);
  if (rc) return rc;
  size_t len = strlen(*out);
  if (!d->lenient && (len == 0 || len > 253))
    return derr(d, sy_yaml_get(m, "name"), cat(p, base, "name"), "must be 1 to 253 characters long");
  return 0;
}

static int get_hostname(dctx_t *d, const sy_yaml_node_t *m, const char *base, const char *key,
                        bool allow_wild, const char **out) {
  char p[PATHMAX], q[96];
  int rc = get_str(d, m, base, key, false, out);
  if (rc || !*out) return rc;
  if (!d->lenient && !hostname_ok(*out, allow_wild))
    return derr(d, sy_yaml_get(m, key), cat(p, base, key),
                "%s is not a valid %shostname (lower case RFC 1123, no IP addresses)",
                Q(sy_yaml_get(m, key), q), allow_wild ? "(optionally \"*.\"-prefixed) " : "");
  /* Lenient objects were validated by the API server; lower-case defensively. */
  for (char *c = (char *)*out; *c; c++)
    if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
  return 0;
}

/* ---------------------------------------------------------- GatewayClass */

static int decode_class(dctx_t *d, const sy_yaml_node_t *root, sy_gw_class_t *c) {
  static const char *const spec_fields[] = {"controllerName", "parametersRef", "description", NULL};
  static const char *const ref_fields[] = {"group", "kind", "name", "namespace", NULL};
  char q[96];
  int rc = decode_meta(d, root, false, &c->meta);
  if (rc) return rc;
  const sy_yaml_node_t *spec;
  if ((rc = get_map(d, root, "", "spec", true, &spec)) || (rc = fields(d, spec, "spec", spec_fields))) return rc;
  if ((rc = get_str(d, spec, "spec", "controllerName", true, &c->controller_name))) return rc;
  const char *slash = strchr(c->controller_name, '/');
  if (!d->lenient && (!slash || slash == c->controller_name || !slash[1] ||
                      !sy_k8s_dns_subdomain(c->controller_name, (size_t)(slash - c->controller_name), 253)))
    return derr(d, sy_yaml_get(spec, "controllerName"), "spec.controllerName",
                "%s must be a domain-prefixed path such as example.net/gateway-controller",
                Q(sy_yaml_get(spec, "controllerName"), q));
  const sy_yaml_node_t *ref;
  if ((rc = get_map(d, spec, "spec", "parametersRef", false, &ref))) return rc;
  if (ref) {
    if ((rc = fields(d, ref, "spec.parametersRef", ref_fields))) return rc;
    const char *g, *name;
    if ((rc = get_str(d, ref, "spec.parametersRef", "group", true, &g)) ||
        (rc = get_kind(d, ref, "spec.parametersRef", NULL, &c->parameters_kind)) ||
        (rc = get_name(d, ref, "spec.parametersRef", &name)))
      return rc;
    c->has_parameters_ref = true;
  }
  return 0;
}

/* ---------------------------------------------------------------- Gateway */

static int decode_listener(dctx_t *d, const sy_yaml_node_t *l, const char *path, sy_gw_listener_t *out) {
  static const char *const lfields[] = {"name", "hostname", "port", "protocol", "tls", "allowedRoutes", NULL};
  static const char *const tls_fields[] = {"mode", "certificateRefs", "options", "frontendValidation", NULL};
  static const char *const cert_fields[] = {"group", "kind", "name", "namespace", NULL};
  static const char *const ar_fields[] = {"namespaces", "kinds", NULL};
  static const char *const ns_fields[] = {"from", "selector", NULL};
  static const char *const kind_fields[] = {"group", "kind", NULL};
  static const char *const modes[] = {"Terminate", "Passthrough", NULL};
  static const char *const froms[] = {"Same", "All", "Selector", NULL};
  char p[PATHMAX], p2[PATHMAX], pi[PATHMAX], q[96];
  int rc;
  if ((rc = want_kind(d, l, SY_YAML_MAPPING, path)) || (rc = fields(d, l, path, lfields))) return rc;
  if ((rc = get_str(d, l, path, "name", true, &out->name))) return rc;
  if (!d->lenient && !sy_k8s_dns_subdomain(out->name, strlen(out->name), 253))
    return derr(d, sy_yaml_get(l, "name"), cat(p, path, "name"), "%s must be a lowercase RFC 1123 subdomain",
                Q(sy_yaml_get(l, "name"), q));
  if ((rc = get_hostname(d, l, path, "hostname", true, &out->hostname))) return rc;
  int64_t port;
  if ((rc = get_int(d, l, path, "port", true, 1, 65535, &port, NULL))) return rc;
  out->port = (int32_t)port;
  if ((rc = get_str(d, l, path, "protocol", true, &out->protocol_text))) return rc;
  size_t plen = strlen(out->protocol_text);
  if (!d->lenient && (plen == 0 || plen > 255))
    return derr(d, sy_yaml_get(l, "protocol"), cat(p, path, "protocol"), "must be 1 to 255 characters long");
  if (sy_gw__ieq(out->protocol_text, plen, "HTTP", 4)) out->protocol = SY_GW_PROTO_HTTP;
  else if (sy_gw__ieq(out->protocol_text, plen, "HTTPS", 5)) out->protocol = SY_GW_PROTO_HTTPS;
  else out->protocol = SY_GW_PROTO_OTHER;

  const sy_yaml_node_t *tls;
  if ((rc = get_map(d, l, path, "tls", false, &tls))) return rc;
  if (tls) {
    cat(p, path, "tls");
    if ((rc = fields(d, tls, p, tls_fields))) return rc;
    out->has_tls = true;
    int mode;
    if ((rc = get_enum(d, tls, p, "mode", modes, 0, false, &mode, NULL))) return rc;
    out->tls_mode = mode < 0 ? SY_GW_TLS_UNKNOWN : (sy_gw_tls_mode_t)mode;
    const sy_yaml_node_t *refs;
    if ((rc = get_seq(d, tls, p, "certificateRefs", false, 0, 64, &refs))) return rc;
    if (refs && refs->n) {
      sy_gw_object_ref_t *cr;
      if (!ARRAY(d, cr, refs->n)) return -ENOMEM;
      cat(p2, p, "certificateRefs");
      for (size_t i = 0; i < refs->n; i++) {
        const sy_yaml_node_t *r = refs->items[i];
        idx(pi, p2, i);
        if ((rc = want_kind(d, r, SY_YAML_MAPPING, pi)) || (rc = fields(d, r, pi, cert_fields)) ||
            (rc = get_group(d, r, pi, "", &cr[i].group)) || (rc = get_kind(d, r, pi, "Secret", &cr[i].kind)) ||
            (rc = get_name(d, r, pi, &cr[i].name)) || (rc = get_namespace(d, r, pi, &cr[i].namespace_name, NULL)))
          return rc;
        if (!cr[i].namespace_name) cr[i].namespace_name = d->ns;
      }
      out->cert_refs = cr;
      out->n_cert_refs = refs->n;
    }
    if (!d->lenient) {
      if (out->protocol == SY_GW_PROTO_HTTP)
        return derr(d, tls, p, "tls must not be specified for protocol HTTP");
      if (out->protocol == SY_GW_PROTO_HTTPS && out->tls_mode != SY_GW_TLS_TERMINATE)
        return derr(d, tls, p, "tls mode must be Terminate for protocol HTTPS");
      if (out->tls_mode == SY_GW_TLS_TERMINATE && out->n_cert_refs == 0 && !opt(tls, "options"))
        return derr(d, tls, p, "certificateRefs or options must be specified when mode is Terminate");
    }
  } else if (!d->lenient && out->protocol == SY_GW_PROTO_HTTPS) {
    return derr(d, l, path, "tls is required for protocol HTTPS");
  }

  out->from = SY_GW_FROM_SAME;
  const sy_yaml_node_t *ar;
  if ((rc = get_map(d, l, path, "allowedRoutes", false, &ar))) return rc;
  if (ar) {
    cat(p, path, "allowedRoutes");
    if ((rc = fields(d, ar, p, ar_fields))) return rc;
    const sy_yaml_node_t *ns;
    if ((rc = get_map(d, ar, p, "namespaces", false, &ns))) return rc;
    if (ns) {
      cat(p2, p, "namespaces");
      if ((rc = fields(d, ns, p2, ns_fields))) return rc;
      int from;
      if ((rc = get_enum(d, ns, p2, "from", froms, 0, false, &from, NULL))) return rc;
      out->from = from < 0 ? SY_GW_FROM_UNKNOWN : (sy_gw_from_t)from;
      const sy_yaml_node_t *sel;
      if ((rc = get_map(d, ns, p2, "selector", false, &sel))) return rc;
      if (sel) {
        bool invalid = false;
        if ((rc = get_selector(d, sel, cat(pi, p2, "selector"), &out->selector, &invalid))) return rc;
        if (invalid && out->from == SY_GW_FROM_SELECTOR) out->from = SY_GW_FROM_UNKNOWN;
      } else if (out->from == SY_GW_FROM_SELECTOR) {
        if (!d->lenient) return derr(d, ns, p2, "selector must be specified when from is Selector");
        out->from = SY_GW_FROM_UNKNOWN; /* allows nothing rather than everything */
      }
    }
    const sy_yaml_node_t *kinds;
    if ((rc = get_seq(d, ar, p, "kinds", false, 0, 8, &kinds))) return rc;
    if (kinds && kinds->n) {
      sy_gw_group_kind_t *k;
      if (!ARRAY(d, k, kinds->n)) return -ENOMEM;
      cat(p2, p, "kinds");
      for (size_t i = 0; i < kinds->n; i++) {
        const sy_yaml_node_t *it = kinds->items[i];
        idx(pi, p2, i);
        if ((rc = want_kind(d, it, SY_YAML_MAPPING, pi)) || (rc = fields(d, it, pi, kind_fields)) ||
            (rc = get_group(d, it, pi, SY_GW_GROUP, &k[i].group)) || (rc = get_kind(d, it, pi, NULL, &k[i].kind)))
          return rc;
      }
      out->kinds = k;
      out->n_kinds = kinds->n;
    }
  }
  return 0;
}

static int decode_gateway(dctx_t *d, const sy_yaml_node_t *root, sy_gw_gateway_t *g) {
  static const char *const spec_fields[] = {"gatewayClassName", "listeners", "addresses", "infrastructure", NULL};
  static const char *const addr_fields[] = {"type", "value", NULL};
  char p[PATHMAX];
  int rc = decode_meta(d, root, true, &g->meta);
  if (rc) return rc;
  const sy_yaml_node_t *spec;
  if ((rc = get_map(d, root, "", "spec", true, &spec)) || (rc = fields(d, spec, "spec", spec_fields))) return rc;
  if ((rc = get_str(d, spec, "spec", "gatewayClassName", true, &g->class_name))) return rc;
  if (!d->lenient && (!g->class_name[0] || strlen(g->class_name) > 253))
    return derr(d, sy_yaml_get(spec, "gatewayClassName"), "spec.gatewayClassName", "must be 1 to 253 characters long");
  const sy_yaml_node_t *ls;
  if ((rc = get_seq(d, spec, "spec", "listeners", true, 1, SY_GW_MAX_LISTENERS, &ls))) return rc;
  if (ls->n > SY_GW_MAX_LISTENERS || ls->n == 0)
    return derr(d, ls, "spec.listeners", "must have 1 to %d items, has %zu", SY_GW_MAX_LISTENERS, ls->n);
  sy_gw_listener_t *l;
  if (!ARRAY(d, l, ls->n)) return -ENOMEM;
  for (size_t i = 0; i < ls->n; i++) {
    if ((rc = decode_listener(d, ls->items[i], idx(p, "spec.listeners", i), &l[i]))) return rc;
    if (d->lenient) continue;
    for (size_t j = 0; j < i; j++) {
      if (strcmp(l[i].name, l[j].name) == 0)
        return derr(d, ls->items[i], p, "listener name %s must be unique within the Gateway", l[i].name);
      bool same_host = (!l[i].hostname && !l[j].hostname) ||
                       (l[i].hostname && l[j].hostname && strcmp(l[i].hostname, l[j].hostname) == 0);
      if (l[i].port == l[j].port && strcmp(l[i].protocol_text, l[j].protocol_text) == 0 && same_host)
        return derr(d, ls->items[i], p, "the combination of port, protocol and hostname must be unique for each listener");
    }
  }
  g->listeners = l;
  g->n_listeners = ls->n;
  const sy_yaml_node_t *addrs;
  if ((rc = get_seq(d, spec, "spec", "addresses", false, 0, 16, &addrs))) return rc;
  if (addrs) {
    for (size_t i = 0; i < addrs->n; i++) {
      const char *t, *v;
      idx(p, "spec.addresses", i);
      if ((rc = want_kind(d, addrs->items[i], SY_YAML_MAPPING, p)) || (rc = fields(d, addrs->items[i], p, addr_fields)) ||
          (rc = get_str(d, addrs->items[i], p, "type", false, &t)) || (rc = get_str(d, addrs->items[i], p, "value", false, &v)))
        return rc;
    }
    g->n_addresses = addrs->n;
  }
  return 0;
}

/* -------------------------------------------------------------- HTTPRoute */

static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL};

#define regex_ok sy_gw__regex_ok

static int decode_kv_matches(dctx_t *d, sy_gw_route_rule_t *rule, const sy_yaml_node_t *m,
                             const char *base, const char *key, bool header,
                             const sy_gw_kv_match_t **out, size_t *n_out) {
  static const char *const kv_fields[] = {"type", "name", "value", NULL};
  static const char *const types[] = {"Exact", "RegularExpression", NULL};
  char p[PATHMAX], pi[PATHMAX], q[96];
  const sy_yaml_node_t *seq;
  int rc = get_seq(d, m, base, key, false, 0, 16, &seq);
  if (rc || !seq || !seq->n) return rc;
  sy_gw_kv_match_t *kv;
  if (!ARRAY(d, kv, seq->n)) return -ENOMEM;
  size_t n = 0;
  cat(p, base, key);
  for (size_t i = 0; i < seq->n; i++) {
    const sy_yaml_node_t *it = seq->items[i];
    idx(pi, p, i);
    if ((rc = want_kind(d, it, SY_YAML_MAPPING, pi)) || (rc = fields(d, it, pi, kv_fields))) return rc;
    sy_gw_kv_match_t x = {0};
    int type;
    const sy_yaml_node_t *tn;
    if ((rc = get_enum(d, it, pi, "type", types, 0, false, &type, &tn)) || (rc = get_str(d, it, pi, "name", true, &x.name)) ||
        (rc = get_str(d, it, pi, "value", true, &x.value)))
      return rc;
    if (!d->lenient) {
      char pn[PATHMAX];
      if (!token_ok(x.name))
        return derr(d, sy_yaml_get(it, "name"), cat(pn, pi, "name"), "%s is not a valid HTTP header name",
                    Q(sy_yaml_get(it, "name"), q));
      size_t vl = strlen(x.value);
      if (vl == 0 || vl > (header ? 4096u : 1024u))
        return derr(d, sy_yaml_get(it, "value"), cat(pn, pi, "value"), "must be 1 to %u characters long",
                    header ? 4096u : 1024u);
    }
    if (type < 0) {
      if ((rc = rule_invalid(d, rule, "UnsupportedValue", "%s.type: unsupported value %s", pi, Q(tn, q)))) return rc;
      type = 0;
    }
    x.type = (sy_gw_value_type_t)type;
    if (x.type == SY_GW_VALUE_REGEX && !regex_ok(x.value)) {
      if (!d->lenient)
        return derr(d, sy_yaml_get(it, "value"), pi, "not a valid POSIX extended regular expression: %s",
                    Q(sy_yaml_get(it, "value"), q));
      if ((rc = rule_invalid(d, rule, "UnsupportedValue", "%s.value: not a valid POSIX extended regular expression", pi)))
        return rc;
    }
    /* Equivalent names: only the first entry counts. */
    bool seen = false;
    for (size_t j = 0; j < n && !seen; j++)
      seen = header ? sy_gw__ieq(kv[j].name, strlen(kv[j].name), x.name, strlen(x.name)) : strcmp(kv[j].name, x.name) == 0;
    if (!seen) kv[n++] = x;
  }
  *out = kv;
  *n_out = n;
  return 0;
}

static int decode_match(dctx_t *d, sy_gw_route_rule_t *rule, const sy_yaml_node_t *m, const char *path,
                        sy_gw_match_t *out) {
  static const char *const mfields[] = {"path", "headers", "queryParams", "method", NULL};
  static const char *const pfields[] = {"type", "value", NULL};
  static const char *const ptypes[] = {"Exact", "PathPrefix", "RegularExpression", NULL};
  char p[PATHMAX], q[96];
  int rc;
  if ((rc = want_kind(d, m, SY_YAML_MAPPING, path)) || (rc = fields(d, m, path, mfields))) return rc;
  out->path_type = SY_GW_PATH_PREFIX;
  out->path = "/";
  const sy_yaml_node_t *pm;
  if ((rc = get_map(d, m, path, "path", false, &pm))) return rc;
  if (pm) {
    cat(p, path, "path");
    int type;
    const sy_yaml_node_t *tn;
    if ((rc = fields(d, pm, p, pfields)) || (rc = get_enum(d, pm, p, "type", ptypes, SY_GW_PATH_PREFIX, false, &type, &tn)))
      return rc;
    const char *v;
    if ((rc = get_str(d, pm, p, "value", false, &v))) return rc;
    if (v) out->path = v;
    if (type < 0) {
      if ((rc = rule_invalid(d, rule, "UnsupportedValue", "%s.type: unsupported value %s", p, Q(tn, q)))) return rc;
      type = SY_GW_PATH_PREFIX;
    }
    out->path_type = (sy_gw_path_type_t)type;
    if (out->path_type != SY_GW_PATH_REGEX) {
      const char *why = path_problem(out->path);
      if (why) {
        char pv[PATHMAX];
        if (!d->lenient) return derr(d, opt(pm, "value") ? opt(pm, "value") : pm, cat(pv, p, "value"), "%s", why);
        if ((rc = rule_invalid(d, rule, "UnsupportedValue", "%s.value: %s", p, why))) return rc;
      }
    } else if (!regex_ok(out->path)) {
      if (!d->lenient) return derr(d, pm, p, "not a valid POSIX extended regular expression: \"%.200s\"", out->path);
      if ((rc = rule_invalid(d, rule, "UnsupportedValue", "%s.value: not a valid POSIX extended regular expression", p)))
        return rc;
    }
  }
  if ((rc = decode_kv_matches(d, rule, m, path, "headers", true, &out->headers, &out->n_headers)) ||
      (rc = decode_kv_matches(d, rule, m, path, "queryParams", false, &out->query, &out->n_query)))
    return rc;
  int method;
  const sy_yaml_node_t *mn;
  if ((rc = get_enum(d, m, path, "method", METHODS, -2, false, &method, &mn))) return rc;
  if (method >= 0) out->method = METHODS[method];
  else if (method == -1) {
    if ((rc = rule_invalid(d, rule, "UnsupportedValue", "%s.method: unsupported value %s", path, Q(mn, q)))) return rc;
  }
  return 0;
}

static int decode_header_mod(dctx_t *d, sy_gw_route_rule_t *rule, const sy_yaml_node_t *m,
                             const char *path, sy_gw_header_mod_t *out) {
  static const char *const hfields[] = {"set", "add", "remove", NULL};
  static const char *const kv_fields[] = {"name", "value", NULL};
  char p[PATHMAX], pi[PATHMAX], q[96];
  int rc;
  if ((rc = fields(d, m, path, hfields))) return rc;
  for (int which = 0; which < 2; which++) {
    const char *key = which ? "add" : "set";
    const sy_yaml_node_t *seq;
    if ((rc = get_seq(d, m, path, key, false, 0, 16, &seq))) return rc;
    if (!seq || !seq->n) continue;
    sy_gw_header_t *h;
    if (!ARRAY(d, h, seq->n)) return -ENOMEM;
    cat(p, path, key);
    for (size_t i = 0; i < seq->n; i++) {
      const sy_yaml_node_t *it = seq->items[i];
      idx(pi, p, i);
      if ((rc = want_kind(d, it, SY_YAML_MAPPING, pi)) || (rc = fields(d, it, pi, kv_fields)) ||
          (rc = get_str(d, it, pi, "name", true, &h[i].name)) || (rc = get_str(d, it, pi, "value", true, &h[i].value)))
        return rc;
      if (!d->lenient && !token_ok(h[i].name))
        return derr(d, sy_yaml_get(it, "name"), pi, "%s is not a valid HTTP header name", Q(sy_yaml_get(it, "name"), q));
    }
    if (which) {
      out->add = h;
      out->n_add = seq->n;
    } else {
      out->set = h;
      out->n_set = seq->n;
    }
  }
  const sy_yaml_node_t *rm;
  if ((rc = get_seq(d, m, path, "remove", false, 0, 16, &rm))) return rc;
  if (rm && rm->n) {
    const char **r;
    if (!ARRAY(d, r, rm->n)) return -ENOMEM;
    cat(p, path, "remove");
    for (size_t i = 0; i < rm->n; i++) {
      if ((rc = want_string(d, rm->items[i], idx(pi, p, i))) || (rc = dup(d, rm->items[i], &r[i]))) return rc;
      if (!d->lenient && !token_ok(r[i]))
        return derr(d, rm->items[i], pi, "%s is not a valid HTTP header name", Q(rm->items[i], q));
    }
    out->remove = r;
    out->n_remove = rm->n;
  }
  /* Only one action per header name (case-insensitive), across set/add/remove. */
  size_t total = out->n_set + out->n_add + out->n_remove;
  for (size_t i = 0; i < total; i++) {
    const char *a = i < out->n_set ? out->set[i].name
                    : i < out->n_set + out->n_add ? out->add[i - out->n_set].name
                                                  : out->remove[i - out->n_set - out->n_add];
    for (size_t j = 0; j < i; j++) {
      const char *b = j < out->n_set ? out->set[j].name
                      : j < out->n_set + out->n_add ? out->add[j - out->n_set].name
                                                    : out->remove[j - out->n_set - out->n_add];
      if (sy_gw__ieq(a, strlen(a), b, strlen(b))) {
        if (!d->lenient) return derr(d, m, path, "header \"%.100s\" has more than one action", a);
        return rule_invalid(d, rule, "UnsupportedValue", "%s: header \"%.100s\" has more than one action", path, a);
      }
    }
  }
  return 0;
}

static int decode_path_mod(dctx_t *d, sy_gw_route_rule_t *rule, const sy_yaml_node_t *m,
                           const char *path, sy_gw_path_mod_t *out) {
  static const char *const pfields[] = {"type", "replaceFullPath", "replacePrefixMatch", NULL};
  static const char *const types[] = {"ReplaceFullPath", "ReplacePrefixMatch", NULL};
  char q[96];
  int rc, type;
  const sy_yaml_node_t *tn;
  if ((rc = fields(d, m, path, pfields)) || (rc = get_enum(d, m, path, "type", types, 0, true, &type, &tn))) return rc;
  const char *full, *prefix;
  if ((rc = get_str(d, m, path, "replaceFullPath", false, &full)) ||
      (rc = get_str(d, m, path, "replacePrefixMatch", false, &prefix)))
    return rc;
  if (type < 0) return rule_invalid(d, rule, "UnsupportedValue", "%s.type: unsupported value %s", path, Q(tn, q));
  out->type = type == 0 ? SY_GW_PATHMOD_FULL : SY_GW_PATHMOD_PREFIX;
  out->value = type == 0 ? full : prefix;
  bool ok = type == 0 ? (full && !prefix) : (prefix && !full);
  if (!ok) {
    const char *msg = type == 0 ? "replaceFullPath must be specified (and only it) when type is ReplaceFullPath"
                                : "replacePrefixMatch must be specified (and only it) when type is ReplacePrefixMatch";
    if (!d->lenient) return derr(d, m, path, "%s", msg);
    if (!out->value) out->value = "";
    return rule_invalid(d, rule, "UnsupportedValue", "%s: %s", path, msg);
  }
  if (!d->lenient && strlen(out->value) > 1024) return derr(d, m, path, "the path must be at most 1024 characters");
  return 0;
}

static const char *const FILTER_TYPES[] = {"RequestHeaderModifier", "ResponseHeaderModifier", "URLRewrite",
                                           "RequestRedirect", "ExtensionRef", "RequestMirror", "CORS",
                                           "ExternalAuth", NULL};
static const char *const FILTER_FIELDS[] = {"requestHeaderModifier", "responseHeaderModifier", "urlRewrite",
                                            "requestRedirect", "extensionRef", "requestMirror", "cors",
                                            "externalAuth", NULL};

static int decode_filter(dctx_t *d, sy_gw_route_rule_t *rule, const sy_yaml_node_t *f, const char *path,
                         sy_gw_filter_t *out) {
  static const char *const all_fields[] = {"type", "requestHeaderModifier", "responseHeaderModifier", "urlRewrite",
                                           "requestRedirect", "extensionRef", "requestMirror", "cors",
                                           "externalAuth", NULL};
  static const char *const rw_fields[] = {"hostname", "path", NULL};
  static const char *const rd_fields[] = {"scheme", "hostname", "path", "port", "statusCode", NULL};
  static const char *const ext_fields[] = {"group", "kind", "name", NULL};
  static const char *const schemes[] = {"http", "https", NULL};
  char p[PATHMAX], q[96];
  int rc, type;
  const sy_yaml_node_t *tn;
  if ((rc = want_kind(d, f, SY_YAML_MAPPING, path)) || (rc = fields(d, f, path, all_fields)) ||
      (rc = get_enum(d, f, path, "type", FILTER_TYPES, 0, true, &type, &tn)) ||
      (rc = dup(d, tn, &out->type_text)))
    return rc;
  /* CEL: the field of the type is set, the others are not. */
  for (int i = 0; FILTER_FIELDS[i]; i++) {
    bool has = opt(f, FILTER_FIELDS[i]) != NULL;
    if (has == (i == type)) continue;
    if (type < 0 && !has) continue;
    if (!d->lenient)
      return derr(d, f, path, has ? "filter.%s must be nil if the filter.type is not %s"
                                  : "filter.%s must be specified for %s filter.type",
                  FILTER_FIELDS[i], FILTER_TYPES[i]);
    out->type = SY_GW_FILTER_UNSUPPORTED;
    return rule_invalid(d, rule, "UnsupportedValue", "%s: filter configuration does not match its type", path);
  }
  if (type < 0) {
    out->type = SY_GW_FILTER_UNSUPPORTED;
    return rule_invalid(d, rule, "UnsupportedValue", "%s.type: unsupported filter type %s", path, Q(tn, q));
  }
  const sy_yaml_node_t *cfg;
  if ((rc = get_map(d, f, path, FILTER_FIELDS[type], true, &cfg))) return rc;
  cat(p, path, FILTER_FIELDS[type]);
  switch (type) {
    case 0:
    case 1:
      out->type = type == 0 ? SY_GW_FILTER_REQUEST_HEADER : SY_GW_FILTER_RESPONSE_HEADER;
      return decode_header_mod(d, rule, cfg, p, &out->headers);
    case 2: {
      out->type = SY_GW_FILTER_URL_REWRITE;
      if ((rc = fields(d, cfg, p, rw_fields)) || (rc = get_hostname(d, cfg, p, "hostname", false, &out->rewrite.hostname)))
        return rc;
      const sy_yaml_node_t *pm;
      char pp[PATHMAX];
      if ((rc = get_map(d, cfg, p, "path", false, &pm))) return rc;
      return pm ? decode_path_mod(d, rule, pm, cat(pp, p, "path"), &out->rewrite.path) : 0;
    }
    case 3: {
      out->type = SY_GW_FILTER_REDIRECT;
      sy_gw_redirect_t *r = &out->redirect;
      int scheme;
      const sy_yaml_node_t *sn, *cn;
      if ((rc = fields(d, cfg, p, rd_fields)) || (rc = get_enum(d, cfg, p, "scheme", schemes, -2, false, &scheme, &sn)) ||
          (rc = get_hostname(d, cfg, p, "hostname", false, &r->hostname)))
        return rc;
      if (scheme >= 0) r->scheme = schemes[scheme];
      else if (scheme == -1 && (rc = rule_invalid(d, rule, "UnsupportedValue", "%s.scheme: unsupported value %s", p, Q(sn, q))))
        return rc;
      int64_t port = 0, code = 302;
      bool has_code;
      if ((rc = get_int(d, cfg, p, "port", false, 1, 65535, &port, NULL))) return rc;
      r->port = (int32_t)port;
      if ((rc = get_int(d, cfg, p, "statusCode", false, 0, 999, &code, &has_code))) return rc;
      cn = sy_yaml_get(cfg, "statusCode");
      if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
        char pc[PATHMAX];
        if (!d->lenient) return derr(d, cn, cat(pc, p, "statusCode"), "must be one of 301, 302, 303, 307, 308, got %s", Q(cn, q));
        if ((rc = rule_invalid(d, rule, "UnsupportedValue", "%s.statusCode: unsupported value %s", p, Q(cn, q)))) return rc;
        code = 302;
      }
      r->status_code = (int)code;
      const sy_yaml_node_t *pm;
      char pp[PATHMAX];
      if ((rc = get_map(d, cfg, p, "path", false, &pm))) return rc;
      return pm ? decode_path_mod(d, rule, pm, cat(pp, p, "path"), &r->path) : 0;
    }
    case 4:
      out->type = SY_GW_FILTER_EXTENSION_REF;
      if ((rc = fields(d, cfg, p, ext_fields)) || (rc = get_group(d, cfg, p, "", &out->extension.group)) ||
          (rc = get_kind(d, cfg, p, NULL, &out->extension.kind)) || (rc = get_name(d, cfg, p, &out->extension_name)))
        return rc;
      return 0;
    default:
      /* RequestMirror, CORS, ExternalAuth: valid, not implemented here. */
      out->type = SY_GW_FILTER_UNSUPPORTED;
      return rule_invalid(d, rule, "UnsupportedValue", "%s: filter type %s is not supported", path, FILTER_TYPES[type]);
  }
}

/* The CEL rules over a list of filters (rule or backend level). */
static int check_filters(dctx_t *d, sy_gw_route_rule_t *rule, const sy_gw_filter_t *f, size_t n,
                         const sy_yaml_node_t *at, const char *path) {
  bool seen[SY_GW_FILTER_UNSUPPORTED + 1] = {0};
  for (size_t i = 0; i < n; i++) {
    sy_gw_filter_type_t t = f[i].type;
    if (t <= SY_GW_FILTER_REDIRECT && seen[t]) {
      if (!d->lenient) return derr(d, at, path, "%s filter cannot be repeated", f[i].type_text);
      return rule_invalid(d, rule, "IncompatibleFilters", "%s: %s filter cannot be repeated", path, f[i].type_text);
    }
    seen[t] = true;
  }
  if (seen[SY_GW_FILTER_REDIRECT] && seen[SY_GW_FILTER_URL_REWRITE]) {
    if (!d->lenient) return derr(d, at, path, "may specify either RequestRedirect or URLRewrite, but not both");
    return rule_invalid(d, rule, "IncompatibleFilters", "%s: RequestRedirect and URLRewrite cannot be combined", path);
  }
  return 0;
}

static int decode_filters(dctx_t *d, sy_gw_route_rule_t *rule, const sy_yaml_node_t *m, const char *base,
                          const sy_gw_filter_t **out, size_t *n_out) {
  char p[PATHMAX], pi[PATHMAX];
  const sy_yaml_node_t *seq;
  int rc = get_seq(d, m, base, "filters", false, 0, 16, &seq);
  if (rc || !seq || !seq->n) return rc;
  sy_gw_filter_t *f;
  if (!ARRAY(d, f, seq->n)) return -ENOMEM;
  cat(p, base, "filters");
  for (size_t i = 0; i < seq->n; i++)
    if ((rc = decode_filter(d, rule, seq->items[i], idx(pi, p, i), &f[i]))) return rc;
  *out = f;
  *n_out = seq->n;
  return check_filters(d, rule, f, seq->n, seq, p);
}

static int decode_backend(dctx_t *d, sy_gw_route_rule_t *rule, const sy_yaml_node_t *b, const char *path,
                          sy_gw_backend_ref_t *out) {
  static const char *const bfields[] = {"group", "kind", "name", "namespace", "port", "weight", "filters", NULL};
  int rc;
  if ((rc = want_kind(d, b, SY_YAML_MAPPING, path)) || (rc = fields(d, b, path, bfields)) ||
      (rc = get_group(d, b, path, "", &out->group)) || (rc = get_kind(d, b, path, "Service", &out->kind)) ||
      (rc = get_name(d, b, path, &out->name)) || (rc = get_namespace(d, b, path, &out->namespace_name, NULL)))
    return rc;
  if (!out->namespace_name) out->namespace_name = d->ns;
  int64_t port = 0, weight = 1;
  if ((rc = get_int(d, b, path, "port", false, 1, 65535, &port, NULL)) ||
      (rc = get_int(d, b, path, "weight", false, 0, 1000000, &weight, NULL)))
    return rc;
  out->port = (int32_t)port;
  out->weight = (uint32_t)weight;
  if (!d->lenient && !out->group[0] && strcmp(out->kind, "Service") == 0 && !out->port)
    return derr(d, b, path, "must have port for Service reference");
  return decode_filters(d, rule, b, path, &out->filters, &out->n_filters);
}

static int decode_rule(dctx_t *d, const sy_yaml_node_t *r, const char *path, sy_gw_route_rule_t *out) {
  static const char *const rfields[] = {"name", "matches", "filters", "backendRefs", "timeouts", "retry",
                                        "sessionPersistence", NULL};
  static const char *const tfields[] = {"request", "backendRequest", NULL};
  char p[PATHMAX], pi[PATHMAX], q[96];
  int rc;
  out->timeout_request_ms = out->timeout_backend_ms = -1;
  if ((rc = want_kind(d, r, SY_YAML_MAPPING, path)) || (rc = fields(d, r, path, rfields))) return rc;
  if ((rc = get_str(d, r, path, "name", false, &out->name))) return rc;
  if (out->name && !d->lenient && !sy_k8s_dns_subdomain(out->name, strlen(out->name), 253))
    return derr(d, sy_yaml_get(r, "name"), cat(p, path, "name"), "%s must be a lowercase RFC 1123 subdomain",
                Q(sy_yaml_get(r, "name"), q));

  const sy_yaml_node_t *ms;
  if ((rc = get_seq(d, r, path, "matches", false, 0, 64, &ms))) return rc;
  size_t nm = ms && ms->n ? ms->n : 1;
  sy_gw_match_t *m;
  if (!ARRAY(d, m, nm)) return -ENOMEM;
  if (ms && ms->n) {
    cat(p, path, "matches");
    for (size_t i = 0; i < ms->n; i++)
      if ((rc = decode_match(d, out, ms->items[i], idx(pi, p, i), &m[i]))) return rc;
  } else {
    m[0].path_type = SY_GW_PATH_PREFIX;
    m[0].path = "/";
  }
  out->matches = m;
  out->n_matches = nm;

  if ((rc = decode_filters(d, out, r, path, &out->filters, &out->n_filters))) return rc;

  const sy_yaml_node_t *bs;
  if ((rc = get_seq(d, r, path, "backendRefs", false, 0, 16, &bs))) return rc;
  if (bs && bs->n) {
    sy_gw_backend_ref_t *b;
    if (!ARRAY(d, b, bs->n)) return -ENOMEM;
    cat(p, path, "backendRefs");
    for (size_t i = 0; i < bs->n; i++)
      if ((rc = decode_backend(d, out, bs->items[i], idx(pi, p, i), &b[i]))) return rc;
    out->backends = b;
    out->n_backends = bs->n;
  }

  /* Rule-level CEL rules that involve matches and backends. */
  bool redirect = false;
  for (size_t i = 0; i < out->n_filters; i++) {
    const sy_gw_filter_t *f = &out->filters[i];
    const sy_gw_path_mod_t *pm = f->type == SY_GW_FILTER_REDIRECT      ? &f->redirect.path
                                 : f->type == SY_GW_FILTER_URL_REWRITE ? &f->rewrite.path
                                                                       : NULL;
    redirect |= f->type == SY_GW_FILTER_REDIRECT;
    if (pm && pm->type == SY_GW_PATHMOD_PREFIX && (nm != 1 || m[0].path_type != SY_GW_PATH_PREFIX)) {
      const char *msg = "when using ReplacePrefixMatch, exactly one PathPrefix match must be specified";
      if (!d->lenient) return derr(d, r, path, "%s", msg);
      if ((rc = rule_invalid(d, out, "UnsupportedValue", "%s: %s", path, msg))) return rc;
    }
  }
  for (size_t i = 0; i < out->n_backends; i++) {
    for (size_t j = 0; j < out->backends[i].n_filters; j++) {
      const sy_gw_filter_t *f = &out->backends[i].filters[j];
      if (f->type == SY_GW_FILTER_REDIRECT || f->type == SY_GW_FILTER_URL_REWRITE) {
        const sy_gw_path_mod_t *pm = f->type == SY_GW_FILTER_REDIRECT ? &f->redirect.path : &f->rewrite.path;
        if (pm->type == SY_GW_PATHMOD_PREFIX && (nm != 1 || m[0].path_type != SY_GW_PATH_PREFIX)) {
          const char *msg = "within backendRefs, ReplacePrefixMatch needs exactly one PathPrefix match";
          if (!d->lenient) return derr(d, r, path, "%s", msg);
          if ((rc = rule_invalid(d, out, "UnsupportedValue", "%s: %s", path, msg))) return rc;
        }
      }
    }
  }
  if (redirect && out->n_backends) {
    if (!d->lenient) return derr(d, r, path, "RequestRedirect filter must not be used together with backendRefs");
    if ((rc = rule_invalid(d, out, "IncompatibleFilters", "%s: RequestRedirect with backendRefs", path))) return rc;
  }

  const sy_yaml_node_t *to;
  if ((rc = get_map(d, r, path, "timeouts", false, &to))) return rc;
  if (to) {
    cat(p, path, "timeouts");
    if ((rc = fields(d, to, p, tfields))) return rc;
    const char *keys[2] = {"request", "backendRequest"};
    int64_t *dst[2] = {&out->timeout_request_ms, &out->timeout_backend_ms};
    for (int i = 0; i < 2; i++) {
      const char *s;
      if ((rc = get_str(d, to, p, keys[i], false, &s))) return rc;
      if (s && sy_gw__duration_ms(s, dst[i]) != 0) {
        if (!d->lenient)
          return derr(d, sy_yaml_get(to, keys[i]), cat(pi, p, keys[i]),
                      "%s is not a Gateway API duration (e.g. 10s, 1m30s, 500ms)", Q(sy_yaml_get(to, keys[i]), q));
        if ((rc = rule_invalid(d, out, "UnsupportedValue", "%s.%s: not a duration", p, keys[i]))) return rc;
      }
    }
    if (!d->lenient && out->timeout_request_ms > 0 && out->timeout_backend_ms > out->timeout_request_ms)
      return derr(d, to, p, "backendRequest timeout cannot be longer than request timeout");
  }
  if (opt(r, "retry") && (rc = rule_invalid(d, out, "UnsupportedValue", "%s.retry: retries are not supported", path)))
    return rc;
  if (opt(r, "sessionPersistence") &&
      (rc = rule_invalid(d, out, "UnsupportedValue", "%s.sessionPersistence: session persistence is not supported", path)))
    return rc;
  return 0;
}

static int decode_route(dctx_t *d, const sy_yaml_node_t *root, sy_gw_httproute_t *rt) {
  static const char *const spec_fields[] = {"parentRefs", "hostnames", "rules", "useDefaultGateways", NULL};
  static const char *const pfields[] = {"group", "kind", "namespace", "name", "sectionName", "port", NULL};
  char p[PATHMAX], pi[PATHMAX], q[96];
  int rc = decode_meta(d, root, true, &rt->meta);
  if (rc) return rc;
  const sy_yaml_node_t *spec;
  if ((rc = get_map(d, root, "", "spec", true, &spec)) || (rc = fields(d, spec, "spec", spec_fields))) return rc;

  const sy_yaml_node_t *ps;
  if ((rc = get_seq(d, spec, "spec", "parentRefs", false, 0, 32, &ps))) return rc;
  if (ps && ps->n) {
    sy_gw_parent_ref_t *pr;
    if (!ARRAY(d, pr, ps->n)) return -ENOMEM;
    for (size_t i = 0; i < ps->n; i++) {
      const sy_yaml_node_t *it = ps->items[i];
      idx(pi, "spec.parentRefs", i);
      if ((rc = want_kind(d, it, SY_YAML_MAPPING, pi)) || (rc = fields(d, it, pi, pfields)) ||
          (rc = get_group(d, it, pi, SY_GW_GROUP, &pr[i].group)) || (rc = get_kind(d, it, pi, "Gateway", &pr[i].kind)) ||
          (rc = get_name(d, it, pi, &pr[i].name)) ||
          (rc = get_namespace(d, it, pi, &pr[i].namespace_name, &pr[i].namespace_set)) ||
          (rc = get_str(d, it, pi, "sectionName", false, &pr[i].section_name)))
        return rc;
      if (!pr[i].namespace_name) pr[i].namespace_name = rt->meta.namespace_name;
      if (pr[i].section_name && !pr[i].section_name[0]) pr[i].section_name = NULL;
      int64_t port = 0;
      if ((rc = get_int(d, it, pi, "port", false, 1, 65535, &port, NULL))) return rc;
      pr[i].port = (int32_t)port;
      if (d->lenient) continue;
      for (size_t j = 0; j < i; j++) {
        if (strcmp(pr[i].group, pr[j].group) || strcmp(pr[i].kind, pr[j].kind) || strcmp(pr[i].name, pr[j].name) ||
            strcmp(pr[i].namespace_name, pr[j].namespace_name))
          continue;
        bool si = pr[i].section_name != NULL, sj = pr[j].section_name != NULL;
        bool pi_ = pr[i].port != 0, pj = pr[j].port != 0;
        if (si != sj || pi_ != pj)
          return derr(d, it, pi, "sectionName or port must be specified when parentRefs includes 2 or more "
                                 "references to the same parent");
        if ((!si || strcmp(pr[i].section_name, pr[j].section_name) == 0) && pr[i].port == pr[j].port)
          return derr(d, it, pi, "sectionName or port must be unique when parentRefs includes 2 or more "
                                 "references to the same parent");
      }
    }
    rt->parents = pr;
    rt->n_parents = ps->n;
  }

  const sy_yaml_node_t *hs;
  if ((rc = get_seq(d, spec, "spec", "hostnames", false, 0, 16, &hs))) return rc;
  if (hs && hs->n) {
    char **h;
    if (!ARRAY(d, h, hs->n)) return -ENOMEM;
    for (size_t i = 0; i < hs->n; i++) {
      idx(pi, "spec.hostnames", i);
      if ((rc = want_string(d, hs->items[i], pi)) || (rc = dup(d, hs->items[i], (const char **)&h[i]))) return rc;
      if (!d->lenient && !hostname_ok(h[i], true))
        return derr(d, hs->items[i], pi, "%s is not a valid hostname (lower case RFC 1123, optionally \"*.\"-prefixed, "
                                         "no IP addresses)", Q(hs->items[i], q));
      for (char *c = h[i]; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
    }
    rt->hostnames = (const char *const *)h;
    rt->n_hostnames = hs->n;
  }

  const sy_yaml_node_t *rs;
  if ((rc = get_seq(d, spec, "spec", "rules", false, 0, 16, &rs))) return rc;
  size_t nr = rs && rs->n ? rs->n : 1;
  sy_gw_route_rule_t *rules;
  if (!ARRAY(d, rules, nr)) return -ENOMEM;
  if (rs && rs->n) {
    size_t total = 0;
    for (size_t i = 0; i < rs->n; i++) {
      if ((rc = decode_rule(d, rs->items[i], idx(p, "spec.rules", i), &rules[i]))) return rc;
      total += rules[i].n_matches;
      if (!d->lenient && rules[i].name) {
        for (size_t j = 0; j < i; j++)
          if (rules[j].name && strcmp(rules[j].name, rules[i].name) == 0)
            return derr(d, rs->items[i], p, "rule name must be unique within the route");
      }
    }
    if (!d->lenient && total > 128)
      return derr(d, rs, "spec.rules", "the total number of matches across all rules must be at most 128, has %zu", total);
  } else {
    sy_gw_match_t *m;
    if (!ARRAY(d, m, 1)) return -ENOMEM;
    m->path_type = SY_GW_PATH_PREFIX;
    m->path = "/";
    rules[0].matches = m;
    rules[0].n_matches = 1;
    rules[0].timeout_request_ms = rules[0].timeout_backend_ms = -1;
  }
  rt->rules = rules;
  rt->n_rules = nr;
  return 0;
}

/* --------------------------------------------------------- ReferenceGrant */

static int decode_grant(dctx_t *d, const sy_yaml_node_t *root, sy_gw_refgrant_t *g) {
  static const char *const spec_fields[] = {"from", "to", NULL};
  static const char *const from_fields[] = {"group", "kind", "namespace", NULL};
  static const char *const to_fields[] = {"group", "kind", "name", NULL};
  char pi[PATHMAX];
  int rc = decode_meta(d, root, true, &g->meta);
  if (rc) return rc;
  const sy_yaml_node_t *spec, *from, *to;
  if ((rc = get_map(d, root, "", "spec", true, &spec)) || (rc = fields(d, spec, "spec", spec_fields)) ||
      (rc = get_seq(d, spec, "spec", "from", true, 1, 16, &from)) || (rc = get_seq(d, spec, "spec", "to", true, 1, 16, &to)))
    return rc;
  sy_gw_grant_from_t *f = NULL;
  sy_gw_grant_to_t *t = NULL;
  if ((from->n && !ARRAY(d, f, from->n)) || (to->n && !ARRAY(d, t, to->n))) return -ENOMEM;
  for (size_t i = 0; i < from->n; i++) {
    const sy_yaml_node_t *it = from->items[i];
    idx(pi, "spec.from", i);
    if ((rc = want_kind(d, it, SY_YAML_MAPPING, pi)) || (rc = fields(d, it, pi, from_fields)) ||
        (rc = get_str(d, it, pi, "group", true, &f[i].group)) || (rc = get_kind(d, it, pi, NULL, &f[i].kind)) ||
        (rc = get_str(d, it, pi, "namespace", true, &f[i].namespace_name)))
      return rc;
  }
  for (size_t i = 0; i < to->n; i++) {
    const sy_yaml_node_t *it = to->items[i];
    idx(pi, "spec.to", i);
    if ((rc = want_kind(d, it, SY_YAML_MAPPING, pi)) || (rc = fields(d, it, pi, to_fields)) ||
        (rc = get_str(d, it, pi, "group", true, &t[i].group)) || (rc = get_kind(d, it, pi, NULL, &t[i].kind)) ||
        (rc = get_str(d, it, pi, "name", false, &t[i].name)))
      return rc;
    if (t[i].name && !t[i].name[0]) t[i].name = NULL;
  }
  g->from = f;
  g->n_from = from->n;
  g->to = t;
  g->n_to = to->n;
  return 0;
}

/* ---------------------------------------------------------------- Service */

static int decode_service(dctx_t *d, const sy_yaml_node_t *root, sy_gw_service_t *s) {
  char pi[PATHMAX], q[96];
  int rc = decode_meta(d, root, true, &s->meta);
  if (rc) return rc;
  const sy_yaml_node_t *spec, *ports;
  if ((rc = get_map(d, root, "", "spec", false, &spec))) return rc;
  s->type = "ClusterIP";
  if (!spec) return 0;
  const char *type;
  if ((rc = get_str(d, spec, "spec", "type", false, &type))) return rc;
  if (type) s->type = type;
  if ((rc = get_seq(d, spec, "spec", "ports", false, 0, 0, &ports)) || !ports || !ports->n) return rc;
  sy_gw_service_port_t *p;
  if (!ARRAY(d, p, ports->n)) return -ENOMEM;
  for (size_t i = 0; i < ports->n; i++) {
    const sy_yaml_node_t *it = ports->items[i];
    idx(pi, "spec.ports", i);
    int64_t port;
    if ((rc = want_kind(d, it, SY_YAML_MAPPING, pi)) || (rc = get_str(d, it, pi, "name", false, &p[i].name)) ||
        (rc = get_int(d, it, pi, "port", true, 1, 65535, &port, NULL)) ||
        (rc = get_str(d, it, pi, "protocol", false, &p[i].protocol)) ||
        (rc = get_str(d, it, pi, "appProtocol", false, &p[i].app_protocol)))
      return rc;
    if (!p[i].name) p[i].name = "";
    if (!p[i].protocol) p[i].protocol = "TCP";
    p[i].port = (int32_t)port;
    p[i].target_port = (int32_t)port;
    const sy_yaml_node_t *tp = opt(it, "targetPort");
    if (tp) {
      int64_t n;
      char pt[PATHMAX];
      cat(pt, pi, "targetPort");
      if (tp->kind == SY_YAML_SCALAR && tp->plain && sy_yaml_as_int(tp, &n) == 0) {
        if (n < 1 || n > 65535) return derr(d, tp, pt, "must be between 1 and 65535, got %s", Q(tp, q));
        p[i].target_port = (int32_t)n;
      } else {
        if ((rc = want_string(d, tp, pt))) return rc;
        if ((rc = dup(d, tp, &p[i].target_port_name))) return rc;
        p[i].target_port = 0;
      }
    }
  }
  s->ports = p;
  s->n_ports = ports->n;
  return 0;
}

/* ---------------------------------------------------------- EndpointSlice */

static int decode_slice(dctx_t *d, const sy_yaml_node_t *root, sy_gw_endpointslice_t *s) {
  static const char *const types[] = {"IPv4", "IPv6", "FQDN", NULL};
  char pi[PATHMAX], p2[PATHMAX], p3[PATHMAX];
  int rc = decode_meta(d, root, true, &s->meta);
  if (rc) return rc;
  s->service_name = sy_gw__label_get(s->meta.labels, s->meta.n_labels, "kubernetes.io/service-name");
  int type;
  if ((rc = get_enum(d, root, "", "addressType", types, 0, true, &type, NULL))) return rc;
  s->address_type = type < 0 ? SY_GW_ADDR_FQDN : (sy_gw_addr_type_t)type; /* unknown: unusable */
  const sy_yaml_node_t *eps, *ports;
  if ((rc = get_seq(d, root, "", "endpoints", false, 0, 0, &eps))) return rc;
  if (eps && eps->n) {
    sy_gw_slice_endpoint_t *e;
    if (!ARRAY(d, e, eps->n)) return -ENOMEM;
    for (size_t i = 0; i < eps->n; i++) {
      const sy_yaml_node_t *it = eps->items[i], *addrs, *cond;
      idx(pi, "endpoints", i);
      if ((rc = want_kind(d, it, SY_YAML_MAPPING, pi)) || (rc = get_seq(d, it, pi, "addresses", true, 0, 0, &addrs)))
        return rc;
      if (addrs->n) {
        const char **a;
        if (!ARRAY(d, a, addrs->n)) return -ENOMEM;
        cat(p2, pi, "addresses");
        for (size_t j = 0; j < addrs->n; j++)
          if ((rc = want_string(d, addrs->items[j], idx(p3, p2, j))) || (rc = dup(d, addrs->items[j], &a[j]))) return rc;
        e[i].addresses = a;
        e[i].n_addresses = addrs->n;
      }
      e[i].ready = true; /* a nil condition is interpreted as ready */
      e[i].serving = true;
      if ((rc = get_map(d, it, pi, "conditions", false, &cond))) return rc;
      if (cond) {
        bool v, present;
        cat(p2, pi, "conditions");
        if ((rc = get_bool(d, cond, p2, "ready", &v, &present))) return rc;
        if (present) e[i].ready = v;
        if ((rc = get_bool(d, cond, p2, "serving", &v, &present))) return rc;
        e[i].serving = present ? v : e[i].ready;
        if ((rc = get_bool(d, cond, p2, "terminating", &v, &present))) return rc;
        e[i].terminating = present && v;
      }
    }
    s->endpoints = e;
    s->n_endpoints = eps->n;
  }
  if ((rc = get_seq(d, root, "", "ports", false, 0, 0, &ports))) return rc;
  if (ports && ports->n) {
    sy_gw_slice_port_t *p;
    if (!ARRAY(d, p, ports->n)) return -ENOMEM;
    for (size_t i = 0; i < ports->n; i++) {
      const sy_yaml_node_t *it = ports->items[i];
      idx(pi, "ports", i);
      int64_t port = 0;
      if ((rc = want_kind(d, it, SY_YAML_MAPPING, pi)) || (rc = get_str(d, it, pi, "name", false, &p[i].name)) ||
          (rc = get_int(d, it, pi, "port", false, 1, 65535, &port, NULL)) ||
          (rc = get_str(d, it, pi, "protocol", false, &p[i].protocol)))
        return rc;
      if (!p[i].name) p[i].name = "";
      if (!p[i].protocol) p[i].protocol = "TCP";
      p[i].port = (int32_t)port;
    }
    s->ports = p;
    s->n_ports = ports->n;
  }
  return 0;
}

/* -------------------------------------------------------------- dispatch */

static const char *const KIND_NAMES[SY_GW_KIND_COUNT] = {"GatewayClass", "Gateway", "HTTPRoute", "ReferenceGrant",
                                                         "Service", "EndpointSlice", "Namespace"};

const char *sy_gw_kind_name(sy_gw_kind_t kind) {
  return (unsigned)kind < SY_GW_KIND_COUNT ? KIND_NAMES[kind] : "unknown";
}

int sy_gw_kind_of(const char *api_version, const char *kind) {
  if (!api_version || !kind) return -1;
  bool gw = strcmp(api_version, SY_GW_GROUP "/v1") == 0 || strcmp(api_version, SY_GW_GROUP "/v1beta1") == 0;
  if (gw) {
    if (strcmp(kind, "GatewayClass") == 0) return SY_GW_KIND_GATEWAY_CLASS;
    if (strcmp(kind, "Gateway") == 0) return SY_GW_KIND_GATEWAY;
    if (strcmp(kind, "HTTPRoute") == 0) return SY_GW_KIND_HTTPROUTE;
    if (strcmp(kind, "ReferenceGrant") == 0) return SY_GW_KIND_REFERENCE_GRANT;
    return -1;
  }
  if (strcmp(api_version, "v1") == 0) {
    if (strcmp(kind, "Service") == 0) return SY_GW_KIND_SERVICE;
    if (strcmp(kind, "Namespace") == 0) return SY_GW_KIND_NAMESPACE;
    return -1;
  }
  if (strcmp(api_version, "discovery.k8s.io/v1") == 0 && strcmp(kind, "EndpointSlice") == 0)
    return SY_GW_KIND_ENDPOINT_SLICE;
  return -1;
}

static sy_arena_t *object_arena(sy_gw_kind_t kind, void *obj) {
  switch (kind) {
    case SY_GW_KIND_GATEWAY_CLASS: return &((sy_gw_class_t *)obj)->arena_;
    case SY_GW_KIND_GATEWAY: return &((sy_gw_gateway_t *)obj)->arena_;
    case SY_GW_KIND_HTTPROUTE: return &((sy_gw_httproute_t *)obj)->arena_;
    case SY_GW_KIND_REFERENCE_GRANT: return &((sy_gw_refgrant_t *)obj)->arena_;
    case SY_GW_KIND_SERVICE: return &((sy_gw_service_t *)obj)->arena_;
    case SY_GW_KIND_ENDPOINT_SLICE: return &((sy_gw_endpointslice_t *)obj)->arena_;
    case SY_GW_KIND_NAMESPACE: return &((sy_gw_namespace_t *)obj)->arena_;
  }
  return NULL;
}

static size_t object_size(sy_gw_kind_t kind) {
  switch (kind) {
    case SY_GW_KIND_GATEWAY_CLASS: return sizeof(sy_gw_class_t);
    case SY_GW_KIND_GATEWAY: return sizeof(sy_gw_gateway_t);
    case SY_GW_KIND_HTTPROUTE: return sizeof(sy_gw_httproute_t);
    case SY_GW_KIND_REFERENCE_GRANT: return sizeof(sy_gw_refgrant_t);
    case SY_GW_KIND_SERVICE: return sizeof(sy_gw_service_t);
    case SY_GW_KIND_ENDPOINT_SLICE: return sizeof(sy_gw_endpointslice_t);
    case SY_GW_KIND_NAMESPACE: return sizeof(sy_gw_namespace_t);
  }
  return 0;
}

void sy_gw_object_cleanup(sy_gw_kind_t kind, void *obj) {
  if (!obj || (unsigned)kind >= SY_GW_KIND_COUNT) return;
  sy_arena_cleanup(object_arena(kind, obj));
  memset(obj, 0, object_size(kind));
}

int sy_gw_object_decode(sy_gw_kind_t kind, const sy_yaml_node_t *obj, const char *file, unsigned flags,
                        void *out, sy_gw_error_t *err) {
  if ((unsigned)kind >= SY_GW_KIND_COUNT || !obj || !out) return SY_EINVAL;
  memset(out, 0, object_size(kind));
  sy_arena_t *a = object_arena(kind, out);
  sy_arena_init(a, ARENA_BLOCK, 0);
  dctx_t d = {.err = err, .file = file ? file : "", .kind = KIND_NAMES[kind],
              .lenient = (flags & SY_GW_DECODE_LENIENT) != 0, .a = a,
              .core = kind == SY_GW_KIND_SERVICE || kind == SY_GW_KIND_ENDPOINT_SLICE || kind == SY_GW_KIND_NAMESPACE};
  int rc;
  sy_gw_meta_t *meta = NULL;
  if (obj->kind != SY_YAML_MAPPING) {
    rc = derr(&d, obj, NULL, "must be a mapping (a Kubernetes object), not %s", type_phrase(obj));
    goto out;
  }
  switch (kind) {
    case SY_GW_KIND_GATEWAY_CLASS:
      meta = &((sy_gw_class_t *)out)->meta;
      rc = decode_class(&d, obj, out);
      break;
    case SY_GW_KIND_GATEWAY:
      meta = &((sy_gw_gateway_t *)out)->meta;
      rc = decode_gateway(&d, obj, out);
      break;
    case SY_GW_KIND_HTTPROUTE:
      meta = &((sy_gw_httproute_t *)out)->meta;
      rc = decode_route(&d, obj, out);
      break;
    case SY_GW_KIND_REFERENCE_GRANT:
      meta = &((sy_gw_refgrant_t *)out)->meta;
      rc = decode_grant(&d, obj, out);
      break;
    case SY_GW_KIND_SERVICE:
      meta = &((sy_gw_service_t *)out)->meta;
      rc = decode_service(&d, obj, out);
      break;
    case SY_GW_KIND_ENDPOINT_SLICE:
      meta = &((sy_gw_endpointslice_t *)out)->meta;
      rc = decode_slice(&d, obj, out);
      break;
    case SY_GW_KIND_NAMESPACE:
      meta = &((sy_gw_namespace_t *)out)->meta;
      rc = decode_meta(&d, obj, false, meta);
      break;
    default:
      rc = SY_EINVAL;
  }
  if (!rc) rc = set_origin(&d, meta, obj);
out:
  if (rc == -ENOMEM) error_set(err, d.file, obj->line, obj->column, "out of memory");
  if (rc) sy_gw_object_cleanup(kind, out);
  return rc;
}

/* ----------------------------------------------------------------- loader */

typedef struct loader {
  void **objs[SY_GW_KIND_COUNT];
  const sy_yaml_node_t **roots[SY_GW_KIND_COUNT]; /* where each object starts */
  size_t n[SY_GW_KIND_COUNT];
  size_t cap[SY_GW_KIND_COUNT];
  unsigned flags;
  const char *file;
  sy_gw_error_t *err;
} loader_t;

static int load_object(loader_t *ld, const sy_yaml_node_t *root, unsigned depth);

static int load_list(loader_t *ld, const sy_yaml_node_t *root, unsigned depth) {
  dctx_t d = {.err = ld->err, .file = ld->file, .kind = "List"};
  if (depth >= MAX_LIST_DEPTH) return derr(&d, root, NULL, "is nested more than %d deep", MAX_LIST_DEPTH);
  const sy_yaml_node_t *items = opt(root, "items");
  if (!items) return 0;
  int rc = want_kind(&d, items, SY_YAML_SEQUENCE, "items");
  for (size_t i = 0; rc == 0 && i < items->n; i++) rc = load_object(ld, items->items[i], depth + 1);
  return rc;
}

static int load_object(loader_t *ld, const sy_yaml_node_t *root, unsigned depth) {
  dctx_t d = {.err = ld->err, .file = ld->file, .kind = "document"};
  if (root->kind != SY_YAML_MAPPING) return derr(&d, root, NULL, "must be a mapping (a Kubernetes object), not %s", type_phrase(root));
  const sy_yaml_node_t *api = opt(root, "apiVersion"), *kind = opt(root, "kind");
  if (!api) return derr(&d, root, NULL, "has no apiVersion");
  if (!kind) return derr(&d, root, NULL, "has no kind");
  int rc;
  if ((rc = want_string(&d, api, "apiVersion")) || (rc = want_string(&d, kind, "kind"))) return rc;
  if (strcmp(api->text, "v1") == 0 && strcmp(kind->text, "List") == 0) return load_list(ld, root, depth);
  int k = sy_gw_kind_of(api->text, kind->text);
  if (k < 0) return 0;
  if (ld->n[k] == ld->cap[k]) {
    size_t ncap = ld->cap[k] ? ld->cap[k] * 2 : 8;
    void **na = sy_realloc(ld->objs[k], ncap * sizeof(*na));
    if (!na) return -ENOMEM;
    ld->objs[k] = na;
    const sy_yaml_node_t **nr = sy_realloc(ld->roots[k], ncap * sizeof(*nr));
    if (!nr) return -ENOMEM;
    ld->roots[k] = nr;
    ld->cap[k] = ncap;
  }
  void *obj = sy_calloc(1, object_size((sy_gw_kind_t)k));
  if (!obj) return -ENOMEM;
  if ((rc = sy_gw_object_decode((sy_gw_kind_t)k, root, ld->file, ld->flags, obj, ld->err))) {
    sy_free(obj);
    return rc;
  }
  ld->objs[k][ld->n[k]] = obj;
  ld->roots[k][ld->n[k]] = root;
  ld->n[k]++;
  return 0;
}

/* Every object struct starts with its metadata. */
static const sy_gw_meta_t *meta_of(const void *obj) { return (const sy_gw_meta_t *)obj; }

#define FREE_OBJECTS(arr, n, kind)           \
  do {                                       \
    for (size_t i_ = 0; i_ < (n); i_++) {    \
      sy_gw_object_cleanup((kind), (arr)[i_]); \
      sy_free((arr)[i_]);                    \
    }                                        \
    sy_free(arr);                            \
  } while (0)

void sy_gw_objects_free(sy_gw_objects_t *o) {
  if (!o) return;
  FREE_OBJECTS(o->classes, o->n_classes, SY_GW_KIND_GATEWAY_CLASS);
  FREE_OBJECTS(o->gateways, o->n_gateways, SY_GW_KIND_GATEWAY);
  FREE_OBJECTS(o->routes, o->n_routes, SY_GW_KIND_HTTPROUTE);
  FREE_OBJECTS(o->grants, o->n_grants, SY_GW_KIND_REFERENCE_GRANT);
  FREE_OBJECTS(o->services, o->n_services, SY_GW_KIND_SERVICE);
  FREE_OBJECTS(o->slices, o->n_slices, SY_GW_KIND_ENDPOINT_SLICE);
  FREE_OBJECTS(o->namespaces, o->n_namespaces, SY_GW_KIND_NAMESPACE);
  sy_free(o);
}

/* Moves the loader's objects of each kind into typed arrays. */
#define TAKE(field, nfield, kind)                                          \
  do {                                                                     \
    if (ld.n[kind]) {                                                      \
      if (!(o->field = sy_calloc(ld.n[kind], sizeof(*o->field)))) goto nomem; \
      for (size_t i_ = 0; i_ < ld.n[kind]; i_++) o->field[i_] = ld.objs[kind][i_]; \
      o->nfield = ld.n[kind];                                              \
      ld.n[kind] = 0;                                                      \
    }                                                                      \
  } while (0)

int sy_gw_objects_load_buffer(const char *name, const char *data, size_t len, unsigned flags,
                              sy_gw_objects_t **out, sy_gw_error_t *err) {
  *out = NULL;
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t ye;
  int rc = sy_yaml_parse(name, data, len, NULL, &s, &ye);
  if (rc) {
    if (err) {
      memcpy(err->file, ye.file, sizeof(err->file));
      err->line = ye.line;
      err->column = ye.column;
      memcpy(err->msg, ye.msg, sizeof(err->msg));
    }
    return rc;
  }
  sy_gw_objects_t *o = NULL;
  loader_t ld = {.flags = flags, .file = s->name, .err = err};
  for (size_t i = 0; rc == 0 && i < s->n_docs; i++)
    if (s->docs[i].root) rc = load_object(&ld, s->docs[i].root, 0);
  /* A namespace/name twice for one kind. */
  for (int k = 0; rc == 0 && k < SY_GW_KIND_COUNT; k++) {
    for (size_t i = 1; rc == 0 && i < ld.n[k]; i++) {
      const sy_gw_meta_t *mi = meta_of(ld.objs[k][i]);
      for (size_t j = 0; j < i; j++) {
        const sy_gw_meta_t *mj = meta_of(ld.objs[k][j]);
        if (sy_gw__nn_cmp(mi->namespace_name, mi->name, mj->namespace_name, mj->name) == 0) {
          error_set(err, s->name, ld.roots[k][i]->line, ld.roots[k][i]->column,
                    "%s %s%s%s: duplicate: already defined at %s:%d:%d", KIND_NAMES[k], mi->namespace_name,
                    mi->namespace_name[0] ? "/" : "", mi->name, s->name, ld.roots[k][j]->line, ld.roots[k][j]->column);
          rc = SY_EINVAL;
          break;
        }
      }
    }
  }
  if (rc == 0) {
    if (!(o = sy_calloc(1, sizeof(*o)))) goto nomem;
    TAKE(classes, n_classes, SY_GW_KIND_GATEWAY_CLASS);
    TAKE(gateways, n_gateways, SY_GW_KIND_GATEWAY);
    TAKE(routes, n_routes, SY_GW_KIND_HTTPROUTE);
    TAKE(grants, n_grants, SY_GW_KIND_REFERENCE_GRANT);
    TAKE(services, n_services, SY_GW_KIND_SERVICE);
    TAKE(slices, n_slices, SY_GW_KIND_ENDPOINT_SLICE);
    TAKE(namespaces, n_namespaces, SY_GW_KIND_NAMESPACE);
  }
  goto out;
nomem:
  rc = -ENOMEM;
out:
  for (int k = 0; k < SY_GW_KIND_COUNT; k++) {
    for (size_t i = 0; i < ld.n[k]; i++) {
      sy_gw_object_cleanup((sy_gw_kind_t)k, ld.objs[k][i]);
      sy_free(ld.objs[k][i]);
    }
    sy_free(ld.objs[k]);
    sy_free(ld.roots[k]);
  }
  sy_yaml_stream_free(s);
  if (rc) {
    sy_gw_objects_free(o);
    return rc;
  }
  *out = o;
  return 0;
}

void sy_gw_objects_input(const sy_gw_objects_t *o, sy_gw_input_t *in) {
  in->classes = (const sy_gw_class_t *const *)o->classes;
  in->n_classes = o->n_classes;
  in->gateways = (const sy_gw_gateway_t *const *)o->gateways;
  in->n_gateways = o->n_gateways;
  in->routes = (const sy_gw_httproute_t *const *)o->routes;
  in->n_routes = o->n_routes;
  in->grants = (const sy_gw_refgrant_t *const *)o->grants;
  in->n_grants = o->n_grants;
  in->services = (const sy_gw_service_t *const *)o->services;
  in->n_services = o->n_services;
  in->slices = (const sy_gw_endpointslice_t *const *)o->slices;
  in->n_slices = o->n_slices;
  in->namespaces = (const sy_gw_namespace_t *const *)o->namespaces;
  in->n_namespaces = o->n_namespaces;
}
