/* Watch-stream events: one JSON object per line,
 *   {"type":"ADDED","object":{...,"metadata":{"name":..,"resourceVersion":..}}}
 * and the line splitter that cuts a watch body into such lines.
 *
 * Both are pure (no I/O, no clock): the informer feeds them the bytes libcurl
 * hands it, the unit tests and fuzz_kube_event feed them anything.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "informer_int.h"
#include "kube.h"

/* ----------------------------------------------------------------- helpers */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The member `key` of an object; like Go's encoding/json the last duplicate
 * wins. NULL when absent or `obj` is not an object. */
const cJSON *sy_kube__json_get(const cJSON *obj, const char *key) {
  const cJSON *found = NULL;
  if (!cJSON_IsObject(obj)) return NULL;
  for (const cJSON *c = obj->child; c; c = c->next)
    if (c->string && strcmp(c->string, key) == 0) found = c;
  return found;
}

/* A string member: 1 and *out when present as a string, 0 when absent or
 * null, -1 when present with another type. */
int sy_kube__json_str(const cJSON *obj, const char *key, const char **out) {
  const cJSON *v = sy_kube__json_get(obj, key);
  *out = NULL;
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsString(v) || !v->valuestring) return -1;
  *out = v->valuestring;
  return 1;
}

int sy_kube__meta(const cJSON *obj, sy_kube__meta_t *m, char *err, size_t errlen) {
  memset(m, 0, sizeof(*m));
  const cJSON *md = sy_kube__json_get(obj, "metadata");
  if (!md) {
    set_err(err, errlen, "object has no metadata");
    return SY_EPARSE;
  }
  if (!cJSON_IsObject(md)) {
    set_err(err, errlen, "metadata is not an object");
    return SY_EPARSE;
  }
  if (sy_kube__json_str(md, "name", &m->name) < 0) {
    set_err(err, errlen, "metadata.name is not a string");
    return SY_EPARSE;
  }
  if (sy_kube__json_str(md, "namespace", &m->namespace_name) < 0) {
    set_err(err, errlen, "metadata.namespace is not a string");
    return SY_EPARSE;
  }
  if (sy_kube__json_str(md, "resourceVersion", &m->resource_version) < 0) {
    set_err(err, errlen, "metadata.resourceVersion is not a string");
    return SY_EPARSE;
  }
  if (m->name && !*m->name) m->name = NULL;
  if (m->resource_version && !*m->resource_version) m->resource_version = NULL;
  if (!m->namespace_name) m->namespace_name = "";
  return 0;
}

cJSON *sy_kube__json_parse(const char *text, size_t len, char *err, size_t errlen) {
  size_t i = 0;
  if (!text) len = 0;
  while (i < len && is_ws(text[i])) i++;
  if (i == len) {
    set_err(err, errlen, "empty document");
    return NULL;
  }
  /* raw NUL is never valid JSON, and cJSON would skip it as whitespace */
  const char *nul = memchr(text, '\0', len);
  if (nul) {
    set_err(err, errlen, "invalid JSON: NUL byte at byte %zu", (size_t)(nul - text));
    return NULL;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
  size_t off = (end && end >= text && end <= text + len) ? (size_t)(end - text) : len;
  if (!root) {
    set_err(err, errlen, "invalid JSON at byte %zu", off);
    return NULL;
  }
  while (off < len && is_ws(text[off])) off++;
  if (off < len) {
    cJSON_Delete(root);
    set_err(err, errlen, "invalid JSON: trailing data at byte %zu", off);
    return NULL;
  }
  return root;
}

/* ------------------------------------------------------------------ events */

static const struct {
  const char *name;
  sy_kube_event_type_t type;
} ev_types[] = {
    {"ADDED", SY_KUBE_EV_ADDED},       {"MODIFIED", SY_KUBE_EV_MODIFIED}, {"DELETED", SY_KUBE_EV_DELETED},
    {"BOOKMARK", SY_KUBE_EV_BOOKMARK}, {"ERROR", SY_KUBE_EV_ERROR},
};

const char *sy_kube__event_type_name(sy_kube_event_type_t t) {
  for (size_t i = 0; i < SY_ARRAY_LEN(ev_types); i++)
    if (ev_types[i].type == t) return ev_types[i].name;
  return "?";
}

/* The Status object of an ERROR event: code, and message (else reason).
 * A Status without a numeric code but with reason Expired/Gone is a 410,
 * as client-go's apierrors.IsResourceExpired/IsGone read it. */
static int parse_status(const cJSON *st, sy_kube_event_t *ev, char *err, size_t errlen) {
  const cJSON *code = sy_kube__json_get(st, "code");
  const char *msg = NULL, *reason = NULL;
  if (code && !cJSON_IsNull(code)) {
    if (!cJSON_IsNumber(code) || code->valuedouble < 0 || code->valuedouble > 999 ||
        code->valuedouble != (double)(int)code->valuedouble) {
      set_err(err, errlen, "ERROR event: object.code is not an HTTP status");
      return SY_EPARSE;
    }
    ev->error_code = (int)code->valuedouble;
  }
  if (sy_kube__json_str(st, "message", &msg) < 0 || sy_kube__json_str(st, "reason", &reason) < 0) {
    set_err(err, errlen, "ERROR event: object.message/reason is not a string");
    return SY_EPARSE;
  }
  if (ev->error_code == 0 && reason && (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0))
    ev->error_code = 410;
  ev->error_message = (msg && *msg) ? msg : (reason && *reason) ? reason : NULL;
  return 0;
}

int sy_kube_event_parse(const char *line, size_t len, sy_kube_event_t *ev, char *err, size_t errlen) {
  if (!ev) return SY_EINVAL;
  memset(ev, 0, sizeof(*ev));
  if (!line && len) return SY_EINVAL;
  if (err && errlen) err[0] = '\0';

  int rc = SY_EPARSE;
  char why[160];
  cJSON *root = sy_kube__json_parse(line, len, why, sizeof(why));
  if (!root) {
    set_err(err, errlen, "watch event: %s", why);
    return SY_EPARSE;
  }
  if (!cJSON_IsObject(root)) {
    set_err(err, errlen, "watch event: not a JSON object");
    goto fail;
  }
  const char *type = NULL;
  int t = sy_kube__json_str(root, "type", &type);
  if (t <= 0) {
    set_err(err, errlen, t < 0 ? "watch event: \"type\" is not a string" : "watch event: no \"type\"");
    goto fail;
  }
  size_t k = 0;
  while (k < SY_ARRAY_LEN(ev_types) && strcmp(type, ev_types[k].name) != 0) k++;
  if (k == SY_ARRAY_LEN(ev_types)) {
    set_err(err, errlen, "watch event: unknown type \"%.40s\"", type);
    goto fail;
  }
  ev->type = ev_types[k].type;
  const cJSON *obj = sy_kube__json_get(root, "object");
  if (!obj) {
    set_err(err, errlen, "%s event: no \"object\"", type);
    goto fail;
  }
  if (!cJSON_IsObject(obj)) {
    set_err(err, errlen, "%s event: \"object\" is not an object", type);
    goto fail;
  }
  ev->object = obj;

  if (ev->type == SY_KUBE_EV_ERROR) {
    if ((rc = parse_status(obj, ev, err, errlen)) != 0) goto fail;
  } else {
    sy_kube__meta_t m;
    if (sy_kube__meta(obj, &m, why, sizeof(why)) != 0) {
      set_err(err, errlen, "%s event: %s", type, why);
      goto fail;
    }
    if (ev->type != SY_KUBE_EV_BOOKMARK && !m.name) {
      set_err(err, errlen, "%s event: object has no metadata.name", type);
      goto fail;
    }
    if (!m.resource_version) {
      set_err(err, errlen, "%s event: object has no metadata.resourceVersion", type);
      goto fail;
    }
    ev->resource_version = m.resource_version;
    if (ev->type != SY_KUBE_EV_BOOKMARK) {
      ev->name = m.name;
      ev->namespace_name = m.namespace_name;
    }
  }
  ev->root = root;
  return 0;

fail:
  cJSON_Delete(root);
  memset(ev, 0, sizeof(*ev));
  return rc ? rc : SY_EPARSE;
}

void sy_kube_event_cleanup(sy_kube_event_t *ev) {
  if (!ev) return;
  cJSON_Delete(ev->root);
  memset(ev, 0, sizeof(*ev));
}

/* ------------------------------------------------------------ line splitter */

void sy_kube__lines_init(sy_kube__lines_t *l, size_t max_line) {
  l->max_line = max_line ? max_line : 1;
  l->overflow = false;
  /* one byte over max_line: the '\r' of a max_line-long line ending in "\r\n" */
  sy_buf_init(&l->part, l->max_line + 1);
}

void sy_kube__lines_reset(sy_kube__lines_t *l) {
  if (l->part.cap > 65536) sy_buf_cleanup(&l->part); /* do not sit on a huge line's buffer */
  else sy_buf_reset(&l->part);
  l->overflow = false;
}

void sy_kube__lines_cleanup(sy_kube__lines_t *l) {
  sy_buf_cleanup(&l->part);
  l->overflow = false;
}

size_t sy_kube__lines_pending(const sy_kube__lines_t *l) { return l->part.len; }

/* A line without its '\n' (and without one '\r' before it); blank lines
 * (keep-alive newlines) are not delivered. */
static int deliver(sy_kube__lines_t *l, const char *p, size_t n, sy_kube__line_fn fn, void *ctx) {
  if (n && p[n - 1] == '\r') n--;
  if (n > l->max_line) {
    l->overflow = true;
    return SY_ETOOBIG;
  }
  size_t i = 0;
  while (i < n && is_ws(p[i])) i++;
  if (i == n) return 0;
  return fn(ctx, p, n);
}

int sy_kube__lines_feed(sy_kube__lines_t *l, const char *p, size_t n, sy_kube__line_fn fn, void *ctx) {
  if (l->overflow) return SY_ETOOBIG;
  while (n) {
    const char *nl = memchr(p, '\n', n);
    if (!nl) {
      /* a partial line: keep it, unless it is already too long */
      if (n > l->part.max - l->part.len) {
        l->overflow = true;
        sy_buf_reset(&l->part);
        return SY_ETOOBIG;
      }
      int rc = sy_buf_append(&l->part, p, n);
      if (rc) return rc;
      return 0;
    }
    size_t seg = (size_t)(nl - p);
    int rc;
    if (l->part.len) {
      /* completes a buffered line */
      if (seg > l->part.max - l->part.len) {
        l->overflow = true;
        sy_buf_reset(&l->part);
        return SY_ETOOBIG;
      }
      if ((rc = sy_buf_append(&l->part, p, seg)) != 0) return rc;
      rc = deliver(l, l->part.data, l->part.len, fn, ctx);
      if (l->part.cap > 65536) sy_buf_cleanup(&l->part); /* after a huge event, give the memory back */
      else sy_buf_reset(&l->part);
    } else {
      rc = deliver(l, p, seg, fn, ctx); /* straight from the chunk, no copy */
    }
    if (rc) return rc;
    p = nl + 1;
    n -= seg + 1;
  }
  return 0;
}
