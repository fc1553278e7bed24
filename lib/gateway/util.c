/* gateway — small pure helpers: strings, time, hostnames, selectors, the
 * build-time hash table, and the filter helpers of the public API. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "gateway_int.h"

/* ----------------------------------------------------------------- strings */

static inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

bool sy_gw__ieq(const char *a, size_t alen, const char *b, size_t blen) {
  if (alen != blen) return false;
  for (size_t i = 0; i < alen; i++)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

uint64_t sy_gw__hash(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 1099511628211ull;
  }
  return h;
}

int sy_gw__nn_cmp(const char *ns1, const char *n1, const char *ns2, const char *n2) {
  int c = strcmp(ns1 ? ns1 : "", ns2 ? ns2 : "");
  return c ? c : strcmp(n1 ? n1 : "", n2 ? n2 : "");
}

const char *sy_gw__label_get(const sy_gw_label_t *l, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(l[i].key, key) == 0) return l[i].value;
  return NULL;
}

const char *sy_gw_error_str(const sy_gw_error_t *err, char *buf, size_t n) {
  if (!buf || n == 0) return buf;
  if (!err) {
    buf[0] = '\0';
  } else if (err->line > 0) {
    snprintf(buf, n, "%s:%d:%d: %s", err->file, err->line, err->column, err->msg);
  } else {
    snprintf(buf, n, "%s: %s", err->file, err->msg);
  }
  return buf;
}

const char *sy_gw_cond_status_str(sy_gw_cond_status_t s) {
  switch (s) {
    case SY_GW_COND_TRUE: return "True";
    case SY_GW_COND_FALSE: return "False";
    case SY_GW_COND_UNKNOWN: break;
  }
  return "Unknown";
}

/* -------------------------------------------------------------------- time */

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int64_t sy_gw__parse_time(const char *s) {
  int y, mo, d, h, mi, se;
  if (!s || strlen(s) < 19) return 0;
  if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
      !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
      !digits(s + 17, 2, &se))
    return 0;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return 0;
  const char *p = s + 19;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9') p++;
  }
  int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
  if (*p == 'Z' || *p == 'z') return t;
  int oh, om;
  if ((*p == '+' || *p == '-') && digits(p + 1, 2, &oh) && p[3] == ':' && digits(p + 4, 2, &om)) {
    int off = oh * 3600 + om * 60;
    return *p == '+' ? t - off : t + off;
  }
  return t;
}

int sy_gw__duration_ms(const char *s, int64_t *out) {
  int64_t total = 0;
  int units = 0;
  const char *p = s;
  if (!s || !*s) return SY_EPARSE;
  while (*p) {
    int nd = 0;
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') {
      if (++nd > 5) return SY_EPARSE;
      v = v * 10 + (*p++ - '0');
    }
    if (nd == 0) return SY_EPARSE;
    if (p[0] == 'm' && p[1] == 's') {
      total += v;
      p += 2;
    } else if (*p == 'h') {
      total += v * 3600000;
      p++;
    } else if (*p == 'm') {
      total += v * 60000;
      p++;
    } else if (*p == 's') {
      total += v * 1000;
      p++;
    } else {
      return SY_EPARSE;
    }
    if (++units > 4) return SY_EPARSE;
  }
  *out = total;
  return 0;
}

/* --------------------------------------------------------------- hostnames */

size_t sy_gw__host_normalize(const char *host, size_t len, char *buf, size_t n) {
  size_t end = len;
  if (len > 0 && host[0] == '[') {
    const char *rb = memchr(host, ']', len);
    end = rb ? (size_t)(rb - host) + 1 : len;
  } else {
    const char *colon = memchr(host, ':', len);
    if (colon) end = (size_t)(colon - host);
    if (end > 0 && host[end - 1] == '.') end--;
  }
  if (end + 1 > n) return SIZE_MAX;
  for (size_t i = 0; i < end; i++) buf[i] = lower(host[i]);
  buf[end] = '\0';
  return end;
}

bool sy_gw_hostname_matches(const char *pattern, const char *host, size_t host_len) {
  if (!pattern) return true;
  if (sy_gw__is_wild(pattern)) {
    const char *suf = pattern + 1; /* ".example.com" */
    size_t slen = strlen(suf);
    return host_len > slen && memcmp(host + host_len - slen, suf, slen) == 0;
  }
  return strlen(pattern) == host_len && memcmp(pattern, host, host_len) == 0;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

const char *sy_gw_hostname_intersect(const char *listener, const char *route, bool *ok) {
  *ok = true;
  if (!listener) return route;
  if (!route) return listener;
  bool lw = sy_gw__is_wild(listener), rw = sy_gw__is_wild(route);
  if (!lw && !rw) {
    if (strcmp(listener, route) == 0) return route;
  } else if (lw && !rw) {
    if (sy_gw_hostname_matches(listener, route, strlen(route))) return route;
  } else if (!lw && rw) {
    if (sy_gw_hostname_matches(route, listener, strlen(listener))) return listener;
  } else {
    if (ends_with(route + 1, listener + 1)) return route;
    if (ends_with(listener + 1, route + 1)) return listener;
  }
  *ok = false;
  return NULL;
}

/* ------------------------------------------------------------------ regex */

bool sy_gw__regex_safe(const char *pattern) {
  size_t len = strlen(pattern);
  if (len > 1024) return false;
  for (size_t i = 0; i + 1 < len; i++) {
    if (pattern[i] != '\\') continue;
    if (pattern[i + 1] >= '1' && pattern[i + 1] <= '9') return false;
    i++; /* skip the escaped character */
  }
  return true;
}

bool sy_gw__regex_ok(const char *pattern) {
  if (!sy_gw__regex_safe(pattern)) return false;
  char buf[1100];
  snprintf(buf, sizeof(buf), "^(%s)$", pattern);
  regex_t re;
  if (regcomp(&re, buf, REG_EXTENDED | REG_NOSUB) != 0) return false;
  regfree(&re);
  return true;
}

/* --------------------------------------------------------------- selectors */

bool sy_gw_selector_matches(const sy_gw_selector_t *sel, const sy_gw_label_t *labels,
                            size_t n_labels) {
  for (size_t i = 0; i < sel->n_match_labels; i++) {
    const char *v = sy_gw__label_get(labels, n_labels, sel->match_labels[i].key);
    if (!v || strcmp(v, sel->match_labels[i].value) != 0) return false;
  }
  for (size_t i = 0; i < sel->n_exprs; i++) {
    const sy_gw_selector_expr_t *e = &sel->exprs[i];
    const char *v = sy_gw__label_get(labels, n_labels, e->key);
    bool in = false;
    for (size_t j = 0; v && j < e->n_values && !in; j++) in = strcmp(v, e->values[j]) == 0;
    switch (e->op) {
      case SY_GW_SEL_IN:
        if (!in) return false;
        break;
      case SY_GW_SEL_NOT_IN:
        if (in) return false;
        break;
      case SY_GW_SEL_EXISTS:
        if (!v) return false;
        break;
      case SY_GW_SEL_DOES_NOT_EXIST:
        if (v) return false;
        break;
    }
  }
  return true;
}

/* -------------------------------------------------------------- hash table */

int sy_gw__htab_init(sy_gw__htab_t *h, sy_arena_t *a, size_t expected) {
  size_t cap = 8;
  while (cap < expected * 2 + 1) cap <<= 1;
  h->slots = sy_arena_calloc(a, cap * sizeof(*h->slots));
  if (!h->slots) return -ENOMEM;
  h->cap = cap;
  h->n = 0;
  return 0;
}

static inline uint64_t key_hash(uint32_t scope, uint32_t kind, const char *key, size_t len) {
  uint64_t h = SY_GW_HASH_INIT ^ ((uint64_t)scope * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)kind << 56);
  h = sy_gw__hash(h, key, len);
  return h ^ (h >> 29);
}

int sy_gw__htab_put(sy_gw__htab_t *h, uint32_t scope, uint32_t kind, const char *key, size_t len,
                    uint32_t value, uint32_t *existing) {
  if (existing) *existing = UINT32_MAX;
  if (h->n + 1 >= h->cap) return SY_ETOOBIG;
  uint64_t hv = key_hash(scope, kind, key, len);
  size_t mask = h->cap - 1;
  for (size_t i = (size_t)hv & mask;; i = (i + 1) & mask) {
    sy_gw__hent_t *e = &h->slots[i];
    if (!e->key) {
      *e = (sy_gw__hent_t){hv, key, (uint32_t)len, scope, kind, value};
      h->n++;
      return 0;
    }
    if (e->hash == hv && e->scope == scope && e->kind == kind && e->len == len &&
        memcmp(e->key, key, len) == 0) {
      if (existing) *existing = e->value;
      return 0;
    }
  }
}

uint32_t sy_gw__htab_get(const sy_gw__htab_t *h, uint32_t scope, uint32_t kind, const char *key,
                         size_t len) {
  if (!h->cap) return UINT32_MAX;
  uint64_t hv = key_hash(scope, kind, key, len);
  size_t mask = h->cap - 1;
  for (size_t i = (size_t)hv & mask;; i = (i + 1) & mask) {
    const sy_gw__hent_t *e = &h->slots[i];
    if (!e->key) return UINT32_MAX;
    if (e->hash == hv && e->scope == scope && e->kind == kind && e->len == len &&
        memcmp(e->key, key, len) == 0)
      return e->value;
  }
}

/* ---------------------------------------------------------- filter helpers */

static int put(char *buf, size_t n, size_t *o, const char *s, size_t len) {
  if (*o + len + 1 > n) return SY_ETOOBIG;
  memcpy(buf + *o, s, len);
  *o += len;
  buf[*o] = '\0';
  return 0;
}

int sy_gw_path_rewrite(const sy_gw_path_mod_t *mod, const char *path, size_t path_len,
                       size_t prefix_len, char *buf, size_t n) {
  size_t o = 0;
  int rc = 0;
  if (!buf || n == 0) return SY_ETOOBIG;
  buf[0] = '\0';
  sy_gw_path_mod_type_t type = mod ? mod->type : SY_GW_PATHMOD_NONE;
  if (type == SY_GW_PATHMOD_FULL) {
    const char *v = mod->value ? mod->value : "";
    rc = put(buf, n, &o, v, strlen(v));
  } else if (type == SY_GW_PATHMOD_PREFIX) {
    const char *v = mod->value ? mod->value : "";
    size_t vlen = strlen(v);
    if (vlen > 0 && v[vlen - 1] == '/') vlen--; /* "/xyz/" + "/bar": one slash */
    if (prefix_len > path_len) prefix_len = path_len;
    if (!(rc = put(buf, n, &o, v, vlen))) rc = put(buf, n, &o, path + prefix_len, path_len - prefix_len);
  } else {
    rc = put(buf, n, &o, path, path_len);
  }
  if (rc) return rc;
  if (o == 0 && (rc = put(buf, n, &o, "/", 1))) return rc;
  return (int)o;
}

int sy_gw_redirect_location(const sy_gw_redirect_t *r, const char *req_scheme, const char *host,
                            size_t host_len, int32_t listener_port, const char *path,
                            size_t path_len, size_t prefix_len, const char *query,
                            size_t query_len, char *buf, size_t n) {
  if (!buf || n == 0) return SY_ETOOBIG;
  const char *scheme = r->scheme ? r->scheme : (req_scheme ? req_scheme : "http");
  /* The request host without its port. */
  size_t hlen = host_len;
  if (!r->hostname) {
    if (host_len > 0 && host[0] == '[') {
      const char *rb = memchr(host, ']', host_len);
      if (rb) hlen = (size_t)(rb - host) + 1;
    } else {
      const char *colon = memchr(host, ':', host_len);
      if (colon) hlen = (size_t)(colon - host);
    }
  }
  int32_t port = r->port;
  if (!port) port = r->scheme ? (strcmp(r->scheme, "https") == 0 ? 443 : 80) : listener_port;
  bool omit = (strcmp(scheme, "http") == 0 && port == 80) || (strcmp(scheme, "https") == 0 && port == 443);
  size_t o = 0;
  int rc;
  if ((rc = put(buf, n, &o, scheme, strlen(scheme))) || (rc = put(buf, n, &o, "://", 3))) return rc;
  if (r->hostname) rc = put(buf, n, &o, r->hostname, strlen(r->hostname));
  else rc = put(buf, n, &o, host, hlen);
  if (rc) return rc;
  if (!omit && port > 0) {
    char pb[16];
    int pl = snprintf(pb, sizeof(pb), ":%d", (int)port);
    if ((rc = put(buf, n, &o, pb, (size_t)pl))) return rc;
  }
  if (o >= n) return SY_ETOOBIG;
  int pl = sy_gw_path_rewrite(&r->path, path, path_len, prefix_len, buf + o, n - o);
  if (pl < 0) return pl;
  o += (size_t)pl;
  if (query_len > 0) {
    if ((rc = put(buf, n, &o, "?", 1)) || (rc = put(buf, n, &o, query, query_len))) return rc;
  }
  return (int)o;
}
