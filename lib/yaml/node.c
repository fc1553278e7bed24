/* Navigation and lazy scalar resolution (YAML 1.2 core schema). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "yaml.h"
#include "yaml_int.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

static bool text_is(const char *s, size_t len, const char *lit) {
  return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

bool sy_yaml__text_is_null(const char *s, size_t len) {
  return len == 0 || text_is(s, len, "~") || text_is(s, len, "null") || text_is(s, len, "Null") ||
         text_is(s, len, "NULL");
}

static int text_bool(const char *s, size_t len) {
  if (text_is(s, len, "true") || text_is(s, len, "True") || text_is(s, len, "TRUE")) return 1;
  if (text_is(s, len, "false") || text_is(s, len, "False") || text_is(s, len, "FALSE")) return 0;
  return -1;
}

static bool is_digit_base(char c, unsigned base) {
  if (base == 16) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  if (base == 8) return c >= '0' && c <= '7';
  return c >= '0' && c <= '9';
}

static unsigned digit_value(char c) {
  if (c >= '0' && c <= '9') return (unsigned)(c - '0');
  if (c >= 'a' && c <= 'f') return (unsigned)(c - 'a' + 10);
  return (unsigned)(c - 'A' + 10);
}

/* 1 = an integer that fits (value in *out), 0 = not an integer,
 * -1 = an integer that does not fit in int64. */
static int text_int(const char *s, size_t len, int64_t *out) {
  size_t i = 0;
  bool neg = false;
  unsigned base = 10;
  if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    base = s[1] == 'x' ? 16 : 8;
    i = 2;
  } else if (len > 0 && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (i == len) return 0;
  uint64_t v = 0;
  bool overflow = false;
  for (; i < len; i++) {
    if (!is_digit_base(s[i], base)) return 0;
    uint64_t d = digit_value(s[i]);
    if (v > (UINT64_MAX - d) / base) overflow = true;
    else v = v * base + d;
  }
  uint64_t lim = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
  if (overflow || v > lim) return -1;
  if (out) *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 1;
}

static bool text_is_float(const char *s, size_t len) {
  size_t i = 0;
  if (text_is(s, len, ".nan") || text_is(s, len, ".NaN") || text_is(s, len, ".NAN")) return true;
  if (len > 0 && (s[0] == '-' || s[0] == '+')) i = 1;
  const char *r = s + i;
  size_t rl = len - i;
  if (text_is(r, rl, ".inf") || text_is(r, rl, ".Inf") || text_is(r, rl, ".INF")) return true;
  size_t int_digits = 0, frac_digits = 0;
  while (i < len && s[i] >= '0' && s[i] <= '9') i++, int_digits++;
  if (i < len && s[i] == '.') {
    i++;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++, frac_digits++;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '-' || s[i] == '+')) i++;
    size_t exp_digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++, exp_digits++;
    if (exp_digits == 0) return false;
  }
  return i == len;
}

sy_yaml_type_t sy_yaml_type(const sy_yaml_node_t *node) {
  if (!node) return SY_YAML_TYPE_NULL;
  switch (node->kind) {
    case SY_YAML_NULL: return SY_YAML_TYPE_NULL;
    case SY_YAML_MAPPING: return SY_YAML_TYPE_MAPPING;
    case SY_YAML_SEQUENCE: return SY_YAML_TYPE_SEQUENCE;
    case SY_YAML_SCALAR: break;
  }
  const char *s = node->text;
  size_t len = node->len;
  if (node->tag) {
    if (strncmp(node->tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0) return SY_YAML_TYPE_STR;
    const char *t = node->tag + strlen(TAG_PREFIX);
    if (strcmp(t, "bool") == 0 && text_bool(s, len) >= 0) return SY_YAML_TYPE_BOOL;
    if (strcmp(t, "int") == 0 && text_int(s, len, NULL) != 0) return SY_YAML_TYPE_INT;
    if (strcmp(t, "float") == 0 && (text_int(s, len, NULL) != 0 || text_is_float(s, len)))
      return SY_YAML_TYPE_FLOAT;
    return SY_YAML_TYPE_STR;
  }
  if (!node->plain) return SY_YAML_TYPE_STR;
  if (text_bool(s, len) >= 0) return SY_YAML_TYPE_BOOL;
  if (text_int(s, len, NULL) != 0) return SY_YAML_TYPE_INT;
  if (text_is_float(s, len)) return SY_YAML_TYPE_FLOAT;
  return SY_YAML_TYPE_STR;
}

const char *sy_yaml_type_name(sy_yaml_type_t t) {
  switch (t) {
    case SY_YAML_TYPE_NULL: return "null";
    case SY_YAML_TYPE_BOOL: return "boolean";
    case SY_YAML_TYPE_INT: return "integer";
    case SY_YAML_TYPE_FLOAT: return "number";
    case SY_YAML_TYPE_STR: return "string";
    case SY_YAML_TYPE_MAPPING: return "mapping";
    case SY_YAML_TYPE_SEQUENCE: return "sequence";
  }
  return "unknown";
}

bool sy_yaml_is_null(const sy_yaml_node_t *node) { return !node || node->kind == SY_YAML_NULL; }

bool sy_yaml_is_string(const sy_yaml_node_t *node) {
  return sy_yaml_type(node) == SY_YAML_TYPE_STR;
}

bool sy_yaml_text_eq(const sy_yaml_node_t *node, const char *s) {
  if (!node || (node->kind != SY_YAML_SCALAR && node->kind != SY_YAML_NULL) || !s) return false;
  return text_is(node->text, node->len, s);
}

int sy_yaml_as_int(const sy_yaml_node_t *node, int64_t *out) {
  if (sy_yaml_type(node) != SY_YAML_TYPE_INT) return SY_EPARSE;
  int64_t v;
  if (text_int(node->text, node->len, &v) != 1) return SY_ETOOBIG;
  *out = v;
  return 0;
}

int sy_yaml_as_bool(const sy_yaml_node_t *node, bool *out) {
  if (sy_yaml_type(node) != SY_YAML_TYPE_BOOL) return SY_EPARSE;
  *out = text_bool(node->text, node->len) == 1;
  return 0;
}

int sy_yaml_as_double(const sy_yaml_node_t *node, double *out) {
  sy_yaml_type_t t = sy_yaml_type(node);
  if (t != SY_YAML_TYPE_INT && t != SY_YAML_TYPE_FLOAT) return SY_EPARSE;
  const char *s = node->text;
  size_t len = node->len;
  if (t == SY_YAML_TYPE_INT) {
    int64_t v;
    if (text_int(s, len, &v) == 1) {
      *out = (double)v;
      return 0;
    }
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) return SY_ETOOBIG;
    /* a huge decimal: fall through to strtod */
  }
  bool neg = len > 0 && s[0] == '-';
  size_t off = (len > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (len - off == 4 && s[off] == '.' && (s[off + 1] == 'i' || s[off + 1] == 'I')) {
    *out = neg ? -INFINITY : INFINITY;
    return 0;
  }
  if (len == 4 && s[0] == '.' && (s[1] == 'n' || s[1] == 'N')) {
    *out = NAN;
    return 0;
  }
  /* text is NUL-terminated and matched the float grammar (a subset of what
   * strtod accepts). */
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (end != s + len) return SY_EPARSE;
  if (errno == ERANGE && isinf(v)) return SY_ETOOBIG;
  *out = v;
  return 0;
}

/* ------------------------------------------------------------ navigation */

static const sy_yaml_node_t *get_n(const sy_yaml_node_t *node, const char *key, size_t klen) {
  if (!node || node->kind != SY_YAML_MAPPING || node->n == 0) return NULL;
  size_t lo = 0, hi = node->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const sy_yaml_node_t *k = node->keys[node->sorted_[mid]];
    int c = sy_yaml__keycmp(k->text, k->len, key, klen);
    if (c == 0) return node->items[node->sorted_[mid]];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

const sy_yaml_node_t *sy_yaml_get(const sy_yaml_node_t *node, const char *key) {
  if (!key) return NULL;
  return get_n(node, key, strlen(key));
}

const sy_yaml_node_t *sy_yaml_at(const sy_yaml_node_t *node, size_t i) {
  if (!node || node->kind != SY_YAML_SEQUENCE || i >= node->n) return NULL;
  return node->items[i];
}

const sy_yaml_node_t *sy_yaml_path(const sy_yaml_node_t *node, const char *path) {
  if (!path) return NULL;
  const char *p = path;
  while (node) {
    size_t klen = strcspn(p, ".[");
    if (klen > 0) node = get_n(node, p, klen);
    else if (*p != '[') return NULL; /* empty key: "a..b" or a trailing '.' */
    p += klen;
    while (node && *p == '[') {
      p++;
      size_t idx = 0, digits = 0;
      while (*p >= '0' && *p <= '9') {
        if (idx > (SIZE_MAX - 9) / 10) return NULL;
        idx = idx * 10 + (size_t)(*p++ - '0');
        digits++;
      }
      if (digits == 0 || *p != ']') return NULL;
      p++;
      node = sy_yaml_at(node, idx);
    }
    if (*p == '\0') return node;
    if (*p != '.') return NULL;
    p++;
  }
  return NULL;
}

typedef struct keyref {
  const sy_yaml_node_t *key;
  uint32_t idx;
} keyref_t;

static int keyref_cmp(const void *a, const void *b) {
  const keyref_t *x = a, *y = b;
  int c = sy_yaml__keycmp(x->key->text, x->key->len, y->key->text, y->key->len);
  if (c) return c;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int sy_yaml__index_mapping(sy_yaml_node_t *m, const sy_yaml_node_t **dup, const sy_yaml_node_t **first) {
  size_t n = m->n;
  keyref_t *refs = sy_malloc(n * sizeof(*refs));
  if (!refs) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    refs[i].key = m->keys[i];
    refs[i].idx = (uint32_t)i;
  }
  qsort(refs, n, sizeof(*refs), keyref_cmp);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    m->sorted_[i] = refs[i].idx;
    if (i > 0 && rc == 0 &&
        sy_yaml__keycmp(refs[i - 1].key->text, refs[i - 1].key->len, refs[i].key->text, refs[i].key->len) == 0) {
      *dup = refs[i].key;
      *first = refs[i - 1].key;
      rc = SY_EPARSE;
    }
  }
  sy_free(refs);
  return rc;
}
