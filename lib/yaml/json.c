/* A cJSON tree (as decoded from the Kubernetes API) -> the same read-only
 * node tree the YAML parser builds, so one set of object decoders serves
 * manifests and the API server alike. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "yaml.h"
#include "yaml_int.h"

typedef struct jstate {
  sy_yaml_stream_t *s;
  const char *name;
  sy_yaml_error_t *err;
  size_t nodes;
} jstate_t;

#define JSON_MAX_DEPTH SY_YAML_DEFAULT_MAX_DEPTH
#define JSON_MAX_NODES SY_YAML_DEFAULT_MAX_NODES

static sy_yaml_node_t *scalar(jstate_t *st, sy_yaml_kind_t kind, const char *text, size_t len, bool plain) {
  sy_yaml_node_t *n = sy_arena_calloc(&st->s->arena_, sizeof(*n));
  if (!n) return NULL;
  n->kind = kind;
  n->plain = plain;
  n->text = sy_arena_strndup(&st->s->arena_, text, len);
  n->len = len;
  return n->text ? n : NULL;
}

/* Numbers keep an integer spelling when they are integral, so
 * sy_yaml_as_int accepts them exactly as it would the YAML text. */
static sy_yaml_node_t *number(jstate_t *st, double v) {
  char buf[64];
  int n;
  if (isfinite(v) && v == floor(v) && fabs(v) < 9007199254740992.0) {
    n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
  } else {
    n = snprintf(buf, sizeof(buf), "%.17g", v);
  }
  return scalar(st, SY_YAML_SCALAR, buf, (size_t)n, true);
}

static int convert(jstate_t *st, const cJSON *j, unsigned depth, sy_yaml_node_t **out) {
  if (++st->nodes > JSON_MAX_NODES) {
    sy_yaml__error_set(st->err, st->name, 0, 0, "too many nodes (limit %zu)", (size_t)JSON_MAX_NODES);
    return SY_ETOOBIG;
  }
  if (depth > JSON_MAX_DEPTH) {
    sy_yaml__error_set(st->err, st->name, 0, 0, "nested more than %u levels", JSON_MAX_DEPTH);
    return SY_ETOOBIG;
  }
  sy_yaml_node_t *n = NULL;
  if (cJSON_IsString(j)) {
    const char *v = j->valuestring ? j->valuestring : "";
    n = scalar(st, SY_YAML_SCALAR, v, strlen(v), false);
  } else if (cJSON_IsNumber(j)) {
    n = number(st, j->valuedouble);
  } else if (cJSON_IsBool(j)) {
    n = cJSON_IsTrue(j) ? scalar(st, SY_YAML_SCALAR, "true", 4, true) : scalar(st, SY_YAML_SCALAR, "false", 5, true);
  } else if (cJSON_IsNull(j)) {
    n = scalar(st, SY_YAML_NULL, "null", 4, true);
  } else if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
    bool map = cJSON_IsObject(j);
    n = sy_arena_calloc(&st->s->arena_, sizeof(*n));
    if (!n) return -ENOMEM;
    n->kind = map ? SY_YAML_MAPPING : SY_YAML_SEQUENCE;
    n->text = "";
    size_t count = (size_t)cJSON_GetArraySize(j);
    if (count) {
      n->items = sy_arena_alloc(&st->s->arena_, count * sizeof(*n->items));
      if (!n->items) return -ENOMEM;
      if (map) {
        n->keys = sy_arena_alloc(&st->s->arena_, count * sizeof(*n->keys));
        n->sorted_ = sy_arena_alloc(&st->s->arena_, count * sizeof(*n->sorted_));
        if (!n->keys || !n->sorted_) return -ENOMEM;
      }
      size_t i = 0;
      for (const cJSON *c = j->child; c && i < count; c = c->next, i++) {
        if (map) {
          const char *k = c->string ? c->string : "";
          if (!(n->keys[i] = scalar(st, SY_YAML_SCALAR, k, strlen(k), false))) return -ENOMEM;
        }
        int rc = convert(st, c, depth + 1, &n->items[i]);
        if (rc) return rc;
      }
      n->n = i;
      if (map) {
        const sy_yaml_node_t *dup = NULL, *first = NULL;
        int rc = sy_yaml__index_mapping(n, &dup, &first);
        if (rc == SY_EPARSE) {
          sy_yaml__error_set(st->err, st->name, 0, 0, "duplicate object key \"%.*s\"", (int)SY_MIN(dup->len, 200),
                             dup->text);
        }
        if (rc) return rc;
      }
    }
  } else {
    sy_yaml__error_set(st->err, st->name, 0, 0, "invalid JSON value");
    return SY_EPARSE;
  }
  if (!n) return -ENOMEM;
  *out = n;
  return 0;
}

int sy_yaml_from_json(const char *name, const struct cJSON *root, sy_yaml_stream_t **out, sy_yaml_error_t *err) {
  *out = NULL;
  if (!root) {
    sy_yaml__error_set(err, name, 0, 0, "no JSON value");
    return SY_EPARSE;
  }
  jstate_t st = {.name = name ? name : "json", .err = err};
  int rc = -ENOMEM;
  if (!(st.s = sy_calloc(1, sizeof(*st.s)))) goto fail;
  sy_arena_init(&st.s->arena_, 4096, 0);
  if (!(st.s->name = sy_strdup(st.name))) goto fail;
  if (!(st.s->docs = sy_calloc(1, sizeof(*st.s->docs)))) goto fail;
  st.s->n_docs = 1;
  st.s->docs[0].line = 0;
  if ((rc = convert(&st, root, 0, &st.s->docs[0].root))) goto fail;
  *out = st.s;
  return 0;
fail:
  if (rc == -ENOMEM) sy_yaml__error_set(err, st.name, 0, 0, "out of memory");
  sy_yaml_stream_free(st.s);
  return rc;
}
