/* YAML documents -> InferencePool / Pod structs, with located errors.
 * Sans I/O: works on an already parsed stream. */
#include <arpa/inet.h>
#include <time.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "source_int.h"
#include "yaml.h"

#define POOL_API "inference.networking.k8s.io/v1"
#define MAX_SELECTOR 64
#define MAX_LIST_DEPTH 4

/* Context of the object being decoded, for error messages. */
typedef struct dctx {
  sy_source__loader_t *ld;
  const char *file;
  const char *kind;
  const char *ns;   /* NULL until known */
  const char *name; /* NULL until known and valid */
  /* Objects from an API server were validated by it against the CRD's
   * schema; fields newer than ours are tolerated there, not in manifests. */
  bool lenient;
} dctx_t;

/* ----------------------------------------------------------------- errors */

void sy_source__error_set(sy_source_error_t *err, const char *file, int line, int column,
                          const char *fmt, ...) {
  if (!err) return;
  snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
  err->line = line;
  err->column = column;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
}

void sy_source__error_from_yaml(sy_source_error_t *err, const sy_yaml_error_t *ye) {
  if (!err || !ye) return;
  memcpy(err->file, ye->file, sizeof(err->file));
  err->line = ye->line;
  err->column = ye->column;
  memcpy(err->msg, ye->msg, sizeof(err->msg));
}

/* "Kind ns/name: path: message" located at node `at`. Returns SY_EINVAL. */
__attribute__((format(printf, 4, 5))) static int derr(dctx_t *d, const sy_yaml_node_t *at,
                                                     const char *path, const char *fmt, ...) {
  sy_source_error_t *err = d->ld->err;
  if (!err) return SY_EINVAL;
  char what[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  char obj[300];
  if (d->name) snprintf(obj, sizeof(obj), "%s %s/%s", d->kind, d->ns ? d->ns : "", d->name);
  else snprintf(obj, sizeof(obj), "%s", d->kind);
  if (path) {
    sy_source__error_set(err, d->file, at ? at->line : 0, at ? at->column : 0, "%s: %s: %s", obj,
                         path, what);
  } else {
    sy_source__error_set(err, d->file, at ? at->line : 0, at ? at->column : 0, "%s %s", obj, what);
  }
  return SY_EINVAL;
}

/* Writes s as a double-quoted, escaped, possibly truncated string. */
static const char *quote(const char *s, size_t len, char *buf, size_t n) {
  size_t o = 0;
  const size_t limit = n > 8 ? n - 8 : 0; /* room for "...", quote, NUL */
  buf[o++] = '"';
  for (size_t i = 0; i < len && o < limit; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
    } else {
      buf[o++] = (char)c;
    }
    if (i + 1 < len && o >= limit) {
      memcpy(buf + o, "...", 3);
      o += 3;
    }
  }
  buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}

#define QUOTE(node, buf) quote((node)->text, (node)->len, (buf), sizeof(buf))

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

/* ------------------------------------------------------------- validators */

static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
static const char MSG_SUBDOMAIN[] =
    "must be a lowercase RFC 1123 subdomain (lower case alphanumerics, '-' or '.', starting and "
    "ending with an alphanumeric, at most 253 characters)";
static const char MSG_LABEL_KEY[] =
    "not a valid label key: an optional DNS subdomain prefix and '/', then a name of at most 63 "
    "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
static const char MSG_LABEL_VALUE[] =
    "not a valid label value: at most 63 alphanumerics, '-', '_' or '.', starting and ending "
    "with an alphanumeric (or empty)";

/* --------------------------------------------------------- field helpers */

/* Checks that v is a string without embedded NULs. */
static int want_string(dctx_t *d, const sy_yaml_node_t *v, const char *path) {
  char q[96];
  if (sy_yaml_is_string(v)) {
    if (strlen(v->text) != v->len) return derr(d, v, path, "must not contain NUL characters");
    return 0;
  }
  if (v->kind == SY_YAML_SCALAR || v->kind == SY_YAML_NULL) {
    return derr(d, v, path, "must be a string, not %s (quote it: %s)", type_phrase(v),
                QUOTE(v, q));
  }
  return derr(d, v, path, "must be a string, not %s", type_phrase(v));
}

static int want_kind(dctx_t *d, const sy_yaml_node_t *v, sy_yaml_kind_t kind, const char *path) {
  if (v->kind == kind) return 0;
  return derr(d, v, path, "must be a %s, not %s", kind == SY_YAML_MAPPING ? "mapping" : "sequence",
              type_phrase(v));
}

/* Optional/required string field `key` of mapping `m` (path names the
 * field). *out gets a copy, or NULL when absent/null and not required. */
static int get_string(dctx_t *d, const sy_yaml_node_t *m, const char *key, const char *path,
                      bool required, char **out) {
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  *out = NULL;
  if (sy_yaml_is_null(v)) return required ? derr(d, v ? v : m, path, "required") : 0;
  int rc = want_string(d, v, path);
  if (rc) return rc;
  if (!(*out = sy_strndup(v->text, v->len))) return -ENOMEM;
  return 0;
}

/* Integer field in [min, max]. *present tells whether it was set. */
static int get_int(dctx_t *d, const sy_yaml_node_t *m, const char *key, const char *path,
                   bool required, int64_t min, int64_t max, int64_t *out, bool *present) {
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  *present = false;
  if (sy_yaml_is_null(v)) return required ? derr(d, v ? v : m, path, "required") : 0;
  char q[96];
  int64_t x;
  int rc = sy_yaml_as_int(v, &x);
  if (rc == SY_EPARSE) {
    if (v->kind == SY_YAML_SCALAR)
      return derr(d, v, path, "must be an integer, not %s %s", type_phrase(v), QUOTE(v, q));
    return derr(d, v, path, "must be an integer, not %s", type_phrase(v));
  }
  if (rc || x < min || x > max) {
    return derr(d, v, path, "must be between %lld and %lld, got %s", (long long)min,
                (long long)max, QUOTE(v, q));
  }
  *out = x;
  *present = true;
  return 0;
}

/* Rejects keys of mapping m that are not in `allowed` (NULL-terminated). */
static int no_unknown_fields(dctx_t *d, const sy_yaml_node_t *m, const char *path,
                             const char *const *allowed) {
  if (d->lenient) return 0;
  for (size_t i = 0; i < m->n; i++) {
    const sy_yaml_node_t *k = m->keys[i];
    bool ok = false;
    for (const char *const *a = allowed; *a && !ok; a++) ok = sy_yaml_text_eq(k, *a);
    if (!ok) {
      char q[96], p[256];
      snprintf(p, sizeof(p), "%s%s%.*s", path ? path : "", path ? "." : "",
               (int)SY_MIN(k->len, 100), k->text);
      return derr(d, k, p, "unknown field %s", QUOTE(k, q));
    }
  }
  return 0;
}

static void labels_free(sy_label_t *l, size_t n) {
  for (size_t i = 0; i < n; i++) {
    sy_free(l[i].key);
    sy_free(l[i].value);
  }
  sy_free(l);
}

/* A string->string mapping (labels, annotations, matchLabels). Keys must be
 * qualified names; values label values when `label_values`. Null or absent
 * gives an empty list. */
static int get_labels(dctx_t *d, const sy_yaml_node_t *m, const char *key, const char *path,
                      bool label_values, sy_label_t **out, size_t *n_out) {
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  *out = NULL;
  *n_out = 0;
  if (sy_yaml_is_null(v)) return 0;
  int rc = want_kind(d, v, SY_YAML_MAPPING, path);
  if (rc) return rc;
  if (v->n == 0) return 0;
  sy_label_t *l = sy_calloc(v->n, sizeof(*l));
  if (!l) return -ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < v->n; i++) {
    const sy_yaml_node_t *k = v->keys[i], *val = v->items[i];
    char p[300], q[96];
    snprintf(p, sizeof(p), "%s.%.*s", path, (int)SY_MIN(k->len, 100), k->text);
    if ((rc = want_string(d, k, p))) goto fail;
    if (!sy_k8s_qualified_name(k->text, k->len)) {
      rc = derr(d, k, p, "%s %s", QUOTE(k, q), MSG_LABEL_KEY);
      goto fail;
    }
    if ((rc = want_string(d, val, p))) goto fail;
    if (label_values && !sy_k8s_label_word(val->text, val->len, true)) {
      rc = derr(d, val, p, "%s %s", QUOTE(val, q), MSG_LABEL_VALUE);
      goto fail;
    }
    l[n].key = sy_strndup(k->text, k->len);
    l[n].value = sy_strndup(val->text, val->len);
    n++;
    if (!l[n - 1].key || !l[n - 1].value) {
      rc = -ENOMEM;
      goto fail;
    }
  }
  *out = l;
  *n_out = n;
  return 0;
fail:
  labels_free(l, n);
  return rc;
}

/* --------------------------------------------------------------- cleanup */

static void meta_cleanup(sy_objmeta_t *m) {
  sy_free(m->name);
  sy_free(m->namespace_name);
  sy_free(m->uid);
  sy_free(m->resource_version);
  labels_free(m->labels, m->n_labels);
  labels_free(m->annotations, m->n_annotations);
  sy_free(m->origin);
  memset(m, 0, sizeof(*m));
}

void sy_source__pool_cleanup(sy_pool_t *p) {
  meta_cleanup(&p->meta);
  labels_free(p->selector, p->n_selector);
  sy_free(p->epp_group);
  sy_free(p->epp_kind);
  sy_free(p->epp_name);
  memset(p, 0, sizeof(*p));
}

void sy_source__pod_cleanup(sy_pod_t *p) {
  meta_cleanup(&p->meta);
  sy_free(p->pod_ip);
  memset(p, 0, sizeof(*p));
}

/* --------------------------------------------------------------- metadata */

static int decode_meta(dctx_t *d, const sy_yaml_node_t *root, sy_objmeta_t *meta) {
  char q[96];
  const sy_yaml_node_t *m = sy_yaml_get(root, "metadata");
  if (sy_yaml_is_null(m)) return derr(d, m ? m : root, "metadata", "required");
  int rc = want_kind(d, m, SY_YAML_MAPPING, "metadata");
  if (rc) return rc;

  if ((rc = get_string(d, m, "namespace", "metadata.namespace", false, &meta->namespace_name)))
    return rc;
  if (meta->namespace_name && meta->namespace_name[0] == '\0') SY_FREE(&meta->namespace_name);
  if (meta->namespace_name) {
    const sy_yaml_node_t *v = sy_yaml_get(m, "namespace");
    if (!sy_k8s_dns_label(meta->namespace_name, strlen(meta->namespace_name))) {
      return derr(d, v, "metadata.namespace",
                  "%s must be a lowercase RFC 1123 label (lower case alphanumerics or '-', "
                  "starting and ending with an alphanumeric, at most 63 characters)",
                  QUOTE(v, q));
    }
  } else if (!(meta->namespace_name = sy_strdup("default"))) {
    return -ENOMEM;
  }
  d->ns = meta->namespace_name;

  if ((rc = get_string(d, m, "name", "metadata.name", true, &meta->name))) return rc;
  if (!sy_k8s_dns_subdomain(meta->name, strlen(meta->name), 253)) {
    const sy_yaml_node_t *v = sy_yaml_get(m, "name");
    return derr(d, v, "metadata.name", "%s %s", QUOTE(v, q), MSG_SUBDOMAIN);
  }
  d->name = meta->name;

  if ((rc = get_string(d, m, "uid", "metadata.uid", false, &meta->uid))) return rc;
  if ((rc = get_string(d, m, "resourceVersion", "metadata.resourceVersion", false, &meta->resource_version)))
    return rc;
  if ((rc = get_labels(d, m, "labels", "metadata.labels", true, &meta->labels, &meta->n_labels)))
    return rc;
  if ((rc = get_labels(d, m, "annotations", "metadata.annotations", false, &meta->annotations,
                       &meta->n_annotations)))
    return rc;
  meta->deleting = !sy_yaml_is_null(sy_yaml_get(m, "deletionTimestamp"));
  const sy_yaml_node_t *gen = sy_yaml_get(m, "generation");
  int64_t g;
  if (gen && gen->kind == SY_YAML_SCALAR && sy_yaml_as_int(gen, &g) == 0) meta->generation = g;
  return 0;
}

static int set_origin(sy_objmeta_t *meta, const char *file, const sy_yaml_node_t *root) {
  char buf[600];
  snprintf(buf, sizeof(buf), "%s:%d", file, root->line);
  return (meta->origin = sy_strdup(buf)) ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------- pool */

static int decode_epp_ref(dctx_t *d, const sy_yaml_node_t *ref, sy_pool_t *p) {
  static const char *const fields[] = {"group", "kind", "name", "port", "failureMode", NULL};
  const char *path = "spec.endpointPickerRef";
  char q[96];
  int rc = want_kind(d, ref, SY_YAML_MAPPING, path);
  if (rc || (rc = no_unknown_fields(d, ref, path, fields))) return rc;

  if ((rc = get_string(d, ref, "group", "spec.endpointPickerRef.group", false, &p->epp_group)))
    return rc;
  if (p->epp_group && p->epp_group[0] &&
      !sy_k8s_dns_subdomain(p->epp_group, strlen(p->epp_group), 253)) {
    const sy_yaml_node_t *v = sy_yaml_get(ref, "group");
    return derr(d, v, "spec.endpointPickerRef.group", "%s %s", QUOTE(v, q), MSG_SUBDOMAIN);
  }

  if ((rc = get_string(d, ref, "kind", "spec.endpointPickerRef.kind", false, &p->epp_kind)))
    return rc;
  if (p->epp_kind) {
    const char *k = p->epp_kind;
    size_t len = strlen(k);
    bool ok = len >= 1 && len <= 63 && ((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z')) &&
              is_alnum(k[len - 1]);
    for (size_t i = 0; ok && i < len; i++) ok = is_alnum(k[i]) || k[i] == '-';
    if (!ok) {
      const sy_yaml_node_t *v = sy_yaml_get(ref, "kind");
      return derr(d, v, "spec.endpointPickerRef.kind",
                  "%s must start with a letter and contain only alphanumerics or '-' (1-63 "
                  "characters)",
                  QUOTE(v, q));
    }
  } else if (!(p->epp_kind = sy_strdup("Service"))) {
    return -ENOMEM;
  }

  if ((rc = get_string(d, ref, "name", "spec.endpointPickerRef.name", true, &p->epp_name)))
    return rc;
  size_t nlen = strlen(p->epp_name);
  if (nlen == 0 || nlen > 253) {
    return derr(d, sy_yaml_get(ref, "name"), "spec.endpointPickerRef.name",
                "must be 1 to 253 characters long");
  }

  const sy_yaml_node_t *port = sy_yaml_get(ref, "port");
  if (!sy_yaml_is_null(port)) {
    static const char *const pfields[] = {"number", NULL};
    if ((rc = want_kind(d, port, SY_YAML_MAPPING, "spec.endpointPickerRef.port")) ||
        (rc = no_unknown_fields(d, port, "spec.endpointPickerRef.port", pfields)))
      return rc;
    int64_t num;
    bool present;
    if ((rc = get_int(d, port, "number", "spec.endpointPickerRef.port.number", true, 1, 65535,
                      &num, &present)))
      return rc;
    p->epp_port = (int32_t)num;
  } else if (strcmp(p->epp_kind, "Service") == 0) {
    return derr(d, ref, path,
                "port is required when kind is 'Service' or unspecified (defaults to 'Service')");
  }

  const sy_yaml_node_t *fm = sy_yaml_get(ref, "failureMode");
  if (!sy_yaml_is_null(fm)) {
    if ((rc = want_string(d, fm, "spec.endpointPickerRef.failureMode"))) return rc;
    if (sy_yaml_text_eq(fm, "FailOpen")) p->epp_fail_open = true;
    else if (sy_yaml_text_eq(fm, "FailClose")) p->epp_fail_open = false;
    else
      return derr(d, fm, "spec.endpointPickerRef.failureMode",
                  "must be \"FailOpen\" or \"FailClose\", got %s", QUOTE(fm, q));
  }
  return 0;
}

static int decode_pool(dctx_t *d, const sy_yaml_node_t *root, sy_pool_t *p) {
  static const char *const spec_fields[] = {"selector", "targetPorts", "appProtocol",
                                            "endpointPickerRef", NULL};
  static const char *const sel_fields[] = {"matchLabels", NULL};
  static const char *const port_fields[] = {"number", NULL};
  char q[96], path[128];
  int rc = decode_meta(d, root, &p->meta);
  if (rc) return rc;

  const sy_yaml_node_t *spec = sy_yaml_get(root, "spec");
  if (sy_yaml_is_null(spec)) return derr(d, spec ? spec : root, "spec", "required");
  if ((rc = want_kind(d, spec, SY_YAML_MAPPING, "spec")) ||
      (rc = no_unknown_fields(d, spec, "spec", spec_fields)))
    return rc;

  /* selector */
  const sy_yaml_node_t *sel = sy_yaml_get(spec, "selector");
  if (sy_yaml_is_null(sel)) return derr(d, sel ? sel : spec, "spec.selector", "required");
  if ((rc = want_kind(d, sel, SY_YAML_MAPPING, "spec.selector")) ||
      (rc = no_unknown_fields(d, sel, "spec.selector", sel_fields)))
    return rc;
  const sy_yaml_node_t *ml = sy_yaml_get(sel, "matchLabels");
  if (sy_yaml_is_null(ml)) return derr(d, ml ? ml : sel, "spec.selector.matchLabels", "required");
  if ((rc = want_kind(d, ml, SY_YAML_MAPPING, "spec.selector.matchLabels"))) return rc;
  if (ml->n < 1 || ml->n > MAX_SELECTOR) {
    return derr(d, ml, "spec.selector.matchLabels", "must have 1 to %d entries, has %zu",
                MAX_SELECTOR, ml->n);
  }
  if ((rc = get_labels(d, sel, "matchLabels", "spec.selector.matchLabels", true, &p->selector,
                       &p->n_selector)))
    return rc;

  /* targetPorts */
  const sy_yaml_node_t *tp = sy_yaml_get(spec, "targetPorts");
  if (sy_yaml_is_null(tp)) return derr(d, tp ? tp : spec, "spec.targetPorts", "required");
  if ((rc = want_kind(d, tp, SY_YAML_SEQUENCE, "spec.targetPorts"))) return rc;
  if (tp->n < 1 || tp->n > SY_POOL_MAX_PORTS) {
    return derr(d, tp, "spec.targetPorts", "must have 1 to %d items, has %zu", SY_POOL_MAX_PORTS,
                tp->n);
  }
  for (size_t i = 0; i < tp->n; i++) {
    const sy_yaml_node_t *item = tp->items[i];
    snprintf(path, sizeof(path), "spec.targetPorts[%zu]", i);
    if ((rc = want_kind(d, item, SY_YAML_MAPPING, path)) ||
        (rc = no_unknown_fields(d, item, path, port_fields)))
      return rc;
    snprintf(path, sizeof(path), "spec.targetPorts[%zu].number", i);
    int64_t num;
    bool present;
    if ((rc = get_int(d, item, "number", path, true, 1, 65535, &num, &present))) return rc;
    for (size_t j = 0; j < p->n_target_ports; j++) {
      if (p->target_ports[j] == (int32_t)num) {
        return derr(d, sy_yaml_get(item, "number"), path, "port number must be unique (%lld)",
                    (long long)num);
      }
    }
    p->target_ports[p->n_target_ports++] = (int32_t)num;
  }

  /* appProtocol */
  const sy_yaml_node_t *ap = sy_yaml_get(spec, "appProtocol");
  p->app_protocol = SY_APP_PROTOCOL_HTTP;
  if (!sy_yaml_is_null(ap)) {
    if ((rc = want_string(d, ap, "spec.appProtocol"))) return rc;
    if (sy_yaml_text_eq(ap, "http")) p->app_protocol = SY_APP_PROTOCOL_HTTP;
    else if (sy_yaml_text_eq(ap, "kubernetes.io/h2c")) p->app_protocol = SY_APP_PROTOCOL_H2C;
    else
      return derr(d, ap, "spec.appProtocol", "must be \"http\" or \"kubernetes.io/h2c\", got %s",
                  QUOTE(ap, q));
  }

  const sy_yaml_node_t *ref = sy_yaml_get(spec, "endpointPickerRef");
  if (!sy_yaml_is_null(ref) && (rc = decode_epp_ref(d, ref, p))) return rc;
  return 0;
}

/* -------------------------------------------------------------------- pod */

static int decode_pod(dctx_t *d, const sy_yaml_node_t *root, sy_pod_t *p) {
  char q[96], path[128];
  int rc = decode_meta(d, root, &p->meta);
  if (rc) return rc;
  const sy_yaml_node_t *st = sy_yaml_get(root, "status");
  if (sy_yaml_is_null(st)) return 0;
  if ((rc = want_kind(d, st, SY_YAML_MAPPING, "status"))) return rc;

  if ((rc = get_string(d, st, "podIP", "status.podIP", false, &p->pod_ip))) return rc;
  if (p->pod_ip && p->pod_ip[0] == '\0') SY_FREE(&p->pod_ip);
  if (p->pod_ip) {
    unsigned char addr[16];
    if (inet_pton(AF_INET, p->pod_ip, addr) != 1 && inet_pton(AF_INET6, p->pod_ip, addr) != 1) {
      const sy_yaml_node_t *v = sy_yaml_get(st, "podIP");
      return derr(d, v, "status.podIP", "not a valid IP address %s", QUOTE(v, q));
    }
  }

  const sy_yaml_node_t *conds = sy_yaml_get(st, "conditions");
  if (sy_yaml_is_null(conds)) return 0;
  if ((rc = want_kind(d, conds, SY_YAML_SEQUENCE, "status.conditions"))) return rc;
  bool seen_ready = false;
  for (size_t i = 0; i < conds->n; i++) {
    const sy_yaml_node_t *c = conds->items[i];
    snprintf(path, sizeof(path), "status.conditions[%zu]", i);
    if ((rc = want_kind(d, c, SY_YAML_MAPPING, path))) return rc;
    const sy_yaml_node_t *type = sy_yaml_get(c, "type");
    snprintf(path, sizeof(path), "status.conditions[%zu].type", i);
    if (sy_yaml_is_null(type)) return derr(d, type ? type : c, path, "required");
    if ((rc = want_string(d, type, path))) return rc;
    const sy_yaml_node_t *status = sy_yaml_get(c, "status");
    snprintf(path, sizeof(path), "status.conditions[%zu].status", i);
    if (sy_yaml_is_null(status)) return derr(d, status ? status : c, path, "required");
    if ((rc = want_string(d, status, path))) return rc;
    if (sy_yaml_text_eq(type, "Ready") && !seen_ready) {
      seen_ready = true;
      p->ready = sy_yaml_text_eq(status, "True");
    }
  }
  return 0;
}

/* ------------------------------------------------------------- objective */

void sy_source__objective_cleanup(sy_objective_t *o) {
  meta_cleanup(&o->meta);
  sy_free(o->pool_group);
  sy_free(o->pool_name);
  memset(o, 0, sizeof(*o));
}

static int decode_pool_ref(dctx_t *d, const sy_yaml_node_t *spec, char **group, char **name);

static int decode_objective(dctx_t *d, const sy_yaml_node_t *root, sy_objective_t *o) {
  static const char *const spec_fields[] = {"priority", "poolRef", NULL};
  int rc = decode_meta(d, root, &o->meta);
  if (rc) return rc;
  const sy_yaml_node_t *spec = sy_yaml_get(root, "spec");
  if (sy_yaml_is_null(spec)) return derr(d, spec ? spec : root, "spec", "required");
  if ((rc = want_kind(d, spec, SY_YAML_MAPPING, "spec")) ||
      (rc = no_unknown_fields(d, spec, "spec", spec_fields)))
    return rc;
  const sy_yaml_node_t *pr = sy_yaml_get(spec, "priority");
  if (!sy_yaml_is_null(pr)) {
    int64_t v;
    if (pr->kind != SY_YAML_SCALAR || sy_yaml_as_int(pr, &v) != 0 || v < -1000000000 || v > 1000000000)
      return derr(d, pr, "spec.priority", "must be an integer");
    o->priority = (int)v;
  }
  return decode_pool_ref(d, spec, &o->pool_group, &o->pool_name);
}

/* --------------------------------------------------------------- rewrite */

static void rewrite_rules_free(sy_rewrite_rule_t *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < r[i].n_matches; j++) sy_free(r[i].matches[j]);
    sy_free(r[i].matches);
    for (size_t j = 0; j < r[i].n_targets; j++) sy_free(r[i].targets[j].model);
    sy_free(r[i].targets);
  }
  sy_free(r);
}

void sy_source__rewrite_cleanup(sy_model_rewrite_t *w) {
  meta_cleanup(&w->meta);
  sy_free(w->pool_group);
  sy_free(w->pool_name);
  rewrite_rules_free(w->rules, w->n_rules);
  memset(w, 0, sizeof(*w));
}

/* RFC 3339 "2006-01-02T15:04:05Z" (what the API server writes) -> Unix
 * seconds; fractional seconds and offsets are accepted. 0 when unparsable. */
static int64_t parse_rfc3339(const char *s) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!p) return 0;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9') p++;
  }
  int64_t t = (int64_t)timegm(&tm);
  if ((*p == '+' || *p == '-') && p[1] && p[2] && p[3] == ':' && p[4] && p[5]) {
    int off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
    t += *p == '+' ? -off : off;
  }
  return t;
}

static int decode_pool_ref(dctx_t *d, const sy_yaml_node_t *spec, char **group, char **name) {
  static const char *const ref_fields[] = {"group", "kind", "name", NULL};
  const sy_yaml_node_t *ref = sy_yaml_get(spec, "poolRef");
  int rc;
  if (sy_yaml_is_null(ref)) return derr(d, ref ? ref : spec, "spec.poolRef", "required");
  if ((rc = want_kind(d, ref, SY_YAML_MAPPING, "spec.poolRef")) ||
      (rc = no_unknown_fields(d, ref, "spec.poolRef", ref_fields)))
    return rc;
  if ((rc = get_string(d, ref, "name", "spec.poolRef.name", true, name))) return rc;
  if ((rc = get_string(d, ref, "group", "spec.poolRef.group", false, group))) return rc;
  if (!*group && !(*group = sy_strdup("inference.networking.k8s.io"))) return -ENOMEM;
  char *kind = NULL;
  if ((rc = get_string(d, ref, "kind", "spec.poolRef.kind", false, &kind))) return rc;
  if (kind && strcmp(kind, "InferencePool") != 0) {
    sy_free(kind);
    return derr(d, sy_yaml_get(ref, "kind"), "spec.poolRef.kind", "must be InferencePool");
  }
  sy_free(kind);
  return 0;
}

static int decode_rewrite_rule(dctx_t *d, const sy_yaml_node_t *r, size_t ri, sy_rewrite_rule_t *out) {
  static const char *const rule_fields[] = {"matches", "targets", NULL};
  static const char *const match_fields[] = {"model", NULL};
  static const char *const model_fields[] = {"type", "value", NULL};
  static const char *const target_fields[] = {"weight", "modelRewrite", NULL};
  char path[160];
  int rc;
  snprintf(path, sizeof(path), "spec.rules[%zu]", ri);
  if ((rc = want_kind(d, r, SY_YAML_MAPPING, path)) || (rc = no_unknown_fields(d, r, path, rule_fields))) return rc;

  const sy_yaml_node_t *ms = sy_yaml_get(r, "matches");
  if (!sy_yaml_is_null(ms)) {
    snprintf(path, sizeof(path), "spec.rules[%zu].matches", ri);
    if ((rc = want_kind(d, ms, SY_YAML_SEQUENCE, path))) return rc;
    if (ms->n && !(out->matches = sy_calloc(ms->n, sizeof(*out->matches)))) return -ENOMEM;
    for (size_t i = 0; i < ms->n; i++) {
      const sy_yaml_node_t *m = ms->items[i];
      snprintf(path, sizeof(path), "spec.rules[%zu].matches[%zu]", ri, i);
      if ((rc = want_kind(d, m, SY_YAML_MAPPING, path)) || (rc = no_unknown_fields(d, m, path, match_fields))) return rc;
      const sy_yaml_node_t *model = sy_yaml_get(m, "model");
      snprintf(path, sizeof(path), "spec.rules[%zu].matches[%zu].model", ri, i);
      if (sy_yaml_is_null(model)) return derr(d, model ? model : m, path, "required");
      if ((rc = want_kind(d, model, SY_YAML_MAPPING, path)) || (rc = no_unknown_fields(d, model, path, model_fields)))
        return rc;
      char *type = NULL;
      snprintf(path, sizeof(path), "spec.rules[%zu].matches[%zu].model.type", ri, i);
      if ((rc = get_string(d, model, "type", path, false, &type))) return rc;
      bool exact = !type || strcmp(type, "Exact") == 0;
      sy_free(type);
      if (!exact) return derr(d, sy_yaml_get(model, "type"), path, "must be Exact");
      snprintf(path, sizeof(path), "spec.rules[%zu].matches[%zu].model.value", ri, i);
      if ((rc = get_string(d, model, "value", path, true, &out->matches[i]))) return rc;
      out->n_matches = i + 1;
      if (!out->matches[i][0]) return derr(d, sy_yaml_get(model, "value"), path, "must not be empty");
    }
  }

  /* targets may be absent (the CRD requires none): a matching rule then
   * keeps the model as it is, and still wins over later rules. */
  const sy_yaml_node_t *ts = sy_yaml_get(r, "targets");
  snprintf(path, sizeof(path), "spec.rules[%zu].targets", ri);
  if (sy_yaml_is_null(ts)) return 0;
  if ((rc = want_kind(d, ts, SY_YAML_SEQUENCE, path))) return rc;
  if (ts->n == 0) return derr(d, ts, path, "must have at least one target");
  if (!(out->targets = sy_calloc(ts->n, sizeof(*out->targets)))) return -ENOMEM;
  for (size_t i = 0; i < ts->n; i++) {
    const sy_yaml_node_t *t = ts->items[i];
    snprintf(path, sizeof(path), "spec.rules[%zu].targets[%zu]", ri, i);
    if ((rc = want_kind(d, t, SY_YAML_MAPPING, path)) || (rc = no_unknown_fields(d, t, path, target_fields))) return rc;
    out->n_targets = i + 1;
    snprintf(path, sizeof(path), "spec.rules[%zu].targets[%zu].modelRewrite", ri, i);
    if ((rc = get_string(d, t, "modelRewrite", path, true, &out->targets[i].model))) return rc;
    int64_t w = 1;
    bool present;
    snprintf(path, sizeof(path), "spec.rules[%zu].targets[%zu].weight", ri, i);
    if ((rc = get_int(d, t, "weight", path, false, 1, 1000000, &w, &present))) return rc;
    out->targets[i].weight = (int32_t)w;
  }
  return 0;
}

static int decode_rewrite(dctx_t *d, const sy_yaml_node_t *root, sy_model_rewrite_t *w) {
  static const char *const spec_fields[] = {"poolRef", "rules", NULL};
  int rc = decode_meta(d, root, &w->meta);
  if (rc) return rc;
  const sy_yaml_node_t *ct = sy_yaml_path(root, "metadata.creationTimestamp");
  if (sy_yaml_is_string(ct)) w->created = parse_rfc3339(ct->text);
  const sy_yaml_node_t *spec = sy_yaml_get(root, "spec");
  if (sy_yaml_is_null(spec)) return derr(d, spec ? spec : root, "spec", "required");
  if ((rc = want_kind(d, spec, SY_YAML_MAPPING, "spec")) || (rc = no_unknown_fields(d, spec, "spec", spec_fields)))
    return rc;
  if ((rc = decode_pool_ref(d, spec, &w->pool_group, &w->pool_name))) return rc;
  const sy_yaml_node_t *rules = sy_yaml_get(spec, "rules");
  if (sy_yaml_is_null(rules)) return derr(d, rules ? rules : spec, "spec.rules", "required");
  if ((rc = want_kind(d, rules, SY_YAML_SEQUENCE, "spec.rules"))) return rc;
  if (rules->n == 0) return derr(d, rules, "spec.rules", "must have at least one rule");
  if (!(w->rules = sy_calloc(rules->n, sizeof(*w->rules)))) return -ENOMEM;
  for (size_t i = 0; i < rules->n; i++) {
    w->n_rules = i + 1;
    if ((rc = decode_rewrite_rule(d, rules->items[i], i, &w->rules[i]))) return rc;
  }
  return 0;
}

/* ----------------------------------------------------------------- loader */

void sy_source__loader_init(sy_source__loader_t *ld, sy_source_error_t *err) {
  memset(ld, 0, sizeof(*ld));
  ld->err = err;
}

void sy_source__loader_cleanup(sy_source__loader_t *ld) {
  for (size_t i = 0; i < ld->n_pools; i++) sy_source__pool_cleanup(&ld->pools[i]);
  for (size_t i = 0; i < ld->n_pods; i++) sy_source__pod_cleanup(&ld->pods[i]);
  for (size_t i = 0; i < ld->n_objs; i++) sy_source__objective_cleanup(&ld->objs[i]);
  for (size_t i = 0; i < ld->n_rws; i++) sy_source__rewrite_cleanup(&ld->rws[i]);
  sy_free(ld->rws);
  sy_free(ld->rw_locs);
  sy_free(ld->pools);
  sy_free(ld->pool_locs);
  sy_free(ld->pods);
  sy_free(ld->pod_locs);
  sy_free(ld->objs);
  sy_free(ld->obj_locs);
  for (size_t i = 0; i < ld->n_files; i++) sy_free(ld->files[i]);
  sy_free(ld->files);
  memset(ld, 0, sizeof(*ld));
}

/* Grows an object array and its parallel location array by one slot. */
static int grow(void **arr, sy_source__loc_t **locs, size_t *cap, size_t n, size_t elem) {
  if (n < *cap) return 0;
  size_t ncap = *cap ? *cap * 2 : 8;
  void *na = sy_realloc(*arr, ncap * elem);
  if (!na) return -ENOMEM;
  *arr = na;
  sy_source__loc_t *nl = sy_realloc(*locs, ncap * sizeof(*nl));
  if (!nl) return -ENOMEM;
  *locs = nl;
  *cap = ncap;
  return 0;
}

static int decode_object(sy_source__loader_t *ld, const char *file, const sy_yaml_node_t *root,
                         unsigned list_depth);

static int decode_list(sy_source__loader_t *ld, const char *file, const sy_yaml_node_t *root,
                       unsigned list_depth) {
  dctx_t d = {.ld = ld, .file = file, .kind = "List"};
  const sy_yaml_node_t *items = sy_yaml_get(root, "items");
  if (sy_yaml_is_null(items)) return 0;
  int rc = want_kind(&d, items, SY_YAML_SEQUENCE, "items");
  for (size_t i = 0; rc == 0 && i < items->n; i++) {
    rc = decode_object(ld, file, items->items[i], list_depth + 1);
  }
  return rc;
}

static int decode_object(sy_source__loader_t *ld, const char *file, const sy_yaml_node_t *root,
                         unsigned list_depth) {
  dctx_t d = {.ld = ld, .file = file, .kind = "document"};
  if (root->kind != SY_YAML_MAPPING) {
    return derr(&d, root, NULL, "must be a mapping (a Kubernetes object), not %s",
                type_phrase(root));
  }
  const sy_yaml_node_t *api = sy_yaml_get(root, "apiVersion");
  const sy_yaml_node_t *kind = sy_yaml_get(root, "kind");
  if (sy_yaml_is_null(api)) return derr(&d, root, NULL, "has no apiVersion");
  if (sy_yaml_is_null(kind)) return derr(&d, root, NULL, "has no kind");
  int rc;
  if ((rc = want_string(&d, api, "apiVersion")) || (rc = want_string(&d, kind, "kind"))) return rc;

  if (sy_yaml_text_eq(api, POOL_API) && sy_yaml_text_eq(kind, "InferencePool")) {
    d.kind = "InferencePool";
    if ((rc = grow((void **)&ld->pools, &ld->pool_locs, &ld->cap_pools, ld->n_pools,
                   sizeof(*ld->pools))))
      return rc;
    sy_pool_t *p = &ld->pools[ld->n_pools];
    memset(p, 0, sizeof(*p));
    if ((rc = decode_pool(&d, root, p)) || (rc = set_origin(&p->meta, file, root))) {
      sy_source__pool_cleanup(p);
      return rc;
    }
    ld->pool_locs[ld->n_pools] = (sy_source__loc_t){file, root->line, root->column};
    ld->n_pools++;
    return 0;
  }
  if (sy_yaml_text_eq(api, "v1") && sy_yaml_text_eq(kind, "Pod")) {
    d.kind = "Pod";
    if ((rc = grow((void **)&ld->pods, &ld->pod_locs, &ld->cap_pods, ld->n_pods,
                   sizeof(*ld->pods))))
      return rc;
    sy_pod_t *p = &ld->pods[ld->n_pods];
    memset(p, 0, sizeof(*p));
    if ((rc = decode_pod(&d, root, p)) || (rc = set_origin(&p->meta, file, root))) {
      sy_source__pod_cleanup(p);
      return rc;
    }
    ld->pod_locs[ld->n_pods] = (sy_source__loc_t){file, root->line, root->column};
    ld->n_pods++;
    return 0;
  }
  if ((sy_yaml_text_eq(api, "llm-d.ai/v1alpha2") || sy_yaml_text_eq(api, "inference.networking.x-k8s.io/v1alpha2")) &&
      sy_yaml_text_eq(kind, "InferenceObjective")) {
    d.kind = "InferenceObjective";
    if ((rc = grow((void **)&ld->objs, &ld->obj_locs, &ld->cap_objs, ld->n_objs, sizeof(*ld->objs)))) return rc;
    sy_objective_t *o = &ld->objs[ld->n_objs];
    memset(o, 0, sizeof(*o));
    if ((rc = decode_objective(&d, root, o)) || (rc = set_origin(&o->meta, file, root))) {
      sy_source__objective_cleanup(o);
      return rc;
    }
    ld->obj_locs[ld->n_objs] = (sy_source__loc_t){file, root->line, root->column};
    ld->n_objs++;
    return 0;
  }
  if ((sy_yaml_text_eq(api, "llm-d.ai/v1alpha2") || sy_yaml_text_eq(api, "inference.networking.x-k8s.io/v1alpha2")) &&
      sy_yaml_text_eq(kind, "InferenceModelRewrite")) {
    d.kind = "InferenceModelRewrite";
    if ((rc = grow((void **)&ld->rws, &ld->rw_locs, &ld->cap_rws, ld->n_rws, sizeof(*ld->rws)))) return rc;
    sy_model_rewrite_t *w = &ld->rws[ld->n_rws];
    memset(w, 0, sizeof(*w));
    if ((rc = decode_rewrite(&d, root, w)) || (rc = set_origin(&w->meta, file, root))) {
      sy_source__rewrite_cleanup(w);
      return rc;
    }
    ld->rw_locs[ld->n_rws] = (sy_source__loc_t){file, root->line, root->column};
    ld->n_rws++;
    return 0;
  }
  if (sy_yaml_text_eq(api, "v1") && sy_yaml_text_eq(kind, "List")) {
    if (list_depth >= MAX_LIST_DEPTH) {
      d.kind = "List";
      return derr(&d, root, NULL, "is nested more than %d deep", MAX_LIST_DEPTH);
    }
    return decode_list(ld, file, root, list_depth);
  }
  return 0; /* another kind: not ours */
}

int sy_source__decode_stream(sy_source__loader_t *ld, const sy_yaml_stream_t *s) {
  if (ld->n_files == ld->cap_files) {
    size_t ncap = ld->cap_files ? ld->cap_files * 2 : 8;
    char **nf = sy_realloc(ld->files, ncap * sizeof(*nf));
    if (!nf) return -ENOMEM;
    ld->files = nf;
    ld->cap_files = ncap;
  }
  char *file = sy_strdup(s->name);
  if (!file) return -ENOMEM;
  ld->files[ld->n_files++] = file;
  for (size_t i = 0; i < s->n_docs; i++) {
    const sy_yaml_node_t *root = s->docs[i].root;
    if (!root) continue; /* empty document */
    int rc = decode_object(ld, file, root, 0);
    if (rc) return rc;
  }
  return 0;
}

/* ------------------------------------------------------------ duplicates */

typedef struct dupref {
  const sy_objmeta_t *meta;
  const sy_source__loc_t *loc;
  size_t idx;
} dupref_t;

static int dupref_cmp(const void *a, const void *b) {
  const dupref_t *x = a, *y = b;
  int c = strcmp(x->meta->namespace_name, y->meta->namespace_name);
  if (!c) c = strcmp(x->meta->name, y->meta->name);
  if (!c) c = x->idx < y->idx ? -1 : x->idx > y->idx;
  return c;
}

/* Finds the duplicate whose second occurrence comes first in load order.
 * Sorts r (n entries, idx = load order). */
static int check_dups(sy_source__loader_t *ld, const char *kind, dupref_t *r, size_t n) {
  qsort(r, n, sizeof(*r), dupref_cmp);
  size_t best = SIZE_MAX;
  for (size_t i = 1; i < n; i++) {
    if (strcmp(r[i].meta->namespace_name, r[i - 1].meta->namespace_name) == 0 &&
        strcmp(r[i].meta->name, r[i - 1].meta->name) == 0 &&
        (best == SIZE_MAX || r[i].idx < r[best].idx)) {
      best = i;
    }
  }
  if (best == SIZE_MAX) return 0;
  const dupref_t *dup = &r[best], *first = &r[best - 1];
  sy_source__error_set(ld->err, dup->loc->file, dup->loc->line, dup->loc->column,
                       "%s %s/%s: duplicate: already defined at %s:%d:%d", kind,
                       dup->meta->namespace_name, dup->meta->name, first->loc->file,
                       first->loc->line, first->loc->column);
  return SY_EINVAL;
}

int sy_source__loader_finish(sy_source__loader_t *ld, sy_objset_t **out) {
  *out = NULL;
  size_t n = SY_MAX(SY_MAX(SY_MAX(ld->n_pools, ld->n_pods), ld->n_objs), ld->n_rws);
  if (n > 1) {
    dupref_t *r = sy_malloc(n * sizeof(*r));
    if (!r) return -ENOMEM;
    for (size_t i = 0; i < ld->n_pools; i++)
      r[i] = (dupref_t){&ld->pools[i].meta, &ld->pool_locs[i], i};
    int rc = check_dups(ld, "InferencePool", r, ld->n_pools);
    if (rc == 0) {
      for (size_t i = 0; i < ld->n_pods; i++)
        r[i] = (dupref_t){&ld->pods[i].meta, &ld->pod_locs[i], i};
      rc = check_dups(ld, "Pod", r, ld->n_pods);
    }
    if (rc == 0) {
      for (size_t i = 0; i < ld->n_objs; i++) r[i] = (dupref_t){&ld->objs[i].meta, &ld->obj_locs[i], i};
      rc = check_dups(ld, "InferenceObjective", r, ld->n_objs);
    }
    if (rc == 0) {
      for (size_t i = 0; i < ld->n_rws; i++) r[i] = (dupref_t){&ld->rws[i].meta, &ld->rw_locs[i], i};
      rc = check_dups(ld, "InferenceModelRewrite", r, ld->n_rws);
    }
    sy_free(r);
    if (rc) return rc;
  }
  sy_objset_t *set = sy_calloc(1, sizeof(*set));
  if (!set) return -ENOMEM;
  set->pools = ld->pools;
  set->n_pools = ld->n_pools;
  set->pods = ld->pods;
  set->n_pods = ld->n_pods;
  set->objectives = ld->objs;
  set->n_objectives = ld->n_objs;
  set->rewrites = ld->rws;
  set->n_rewrites = ld->n_rws;
  ld->rws = NULL;
  ld->n_rws = ld->cap_rws = 0;
  ld->pools = NULL;
  ld->pods = NULL;
  ld->objs = NULL;
  ld->n_pools = ld->n_pods = ld->n_objs = 0;
  ld->cap_pools = ld->cap_pods = ld->cap_objs = 0;
  *out = set;
  return 0;
}

/* ------------------------------------------------------ API server (JSON) */

int sy_source_decode_json(sy_kind_t kind, const char *origin, const struct cJSON *obj, void *out,
                          sy_source_error_t *err) {
  static const char *const names[] = {"InferencePool", "Pod", "InferenceObjective", "InferenceModelRewrite"};
  if ((unsigned)kind > SY_KIND_REWRITE) return SY_EINVAL;
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t ye;
  int rc = sy_yaml_from_json(origin, obj, &s, &ye);
  if (rc) {
    sy_source__error_from_yaml(err, &ye);
    return rc == -ENOMEM ? rc : SY_EINVAL;
  }
  sy_source__loader_t ld;
  sy_source__loader_init(&ld, err);
  dctx_t d = {.ld = &ld, .file = origin, .kind = names[kind], .lenient = true};
  const sy_yaml_node_t *root = s->docs[0].root;
  if (root->kind != SY_YAML_MAPPING) {
    rc = derr(&d, root, NULL, "must be an object, not %s", type_phrase(root));
  } else {
    switch (kind) {
      case SY_KIND_POOL: rc = decode_pool(&d, root, out); break;
      case SY_KIND_POD: rc = decode_pod(&d, root, out); break;
      case SY_KIND_OBJECTIVE: rc = decode_objective(&d, root, out); break;
      case SY_KIND_REWRITE: rc = decode_rewrite(&d, root, out); break;
    }
  }
  if (!rc) {
    sy_objmeta_t *meta = out; /* every object struct starts with its metadata */
    if (!(meta->origin = sy_strdup(origin ? origin : "apiserver"))) rc = -ENOMEM;
  }
  if (rc) sy_source_object_cleanup(kind, out);
  sy_source__loader_cleanup(&ld);
  sy_yaml_stream_free(s);
  return rc;
}

void sy_source_object_cleanup(sy_kind_t kind, void *obj) {
  switch (kind) {
    case SY_KIND_POOL: sy_source__pool_cleanup(obj); break;
    case SY_KIND_POD: sy_source__pod_cleanup(obj); break;
    case SY_KIND_OBJECTIVE: sy_source__objective_cleanup(obj); break;
    case SY_KIND_REWRITE: sy_source__rewrite_cleanup(obj); break;
  }
}
