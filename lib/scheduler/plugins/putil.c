/* Strict parameter parsing and small helpers for the in-tree plugins. */
#include "putil.h"

#include "plugins.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>


int sy_pp_check(const sy_sched_plugin_args_t *args, const char *const *allowed, sy_sched_error_t *err) {
  const sy_yaml_node_t *p = args->params;
  if (sy_yaml_is_null(p)) return 0;
  if (p->kind != SY_YAML_MAPPING) {
    return sy_sched_errorf(err, p, "parameters must be a mapping, got %s", sy_yaml_type_name(sy_yaml_type(p)));
  }
  for (size_t i = 0; i < p->n; i++) {
    const char *k = p->keys[i]->text;
    bool ok = false;
    for (size_t j = 0; allowed && allowed[j]; j++) {
      if (!strcmp(allowed[j], k)) {
        ok = true;
        break;
      }
    }
    if (!ok) return sy_sched_errorf(err, p->keys[i], "unknown parameter \"%s\"", k);
  }
  return 0;
}

static const sy_yaml_node_t *get(const sy_yaml_node_t *m, const char *key) {
  const sy_yaml_node_t *v = sy_yaml_get(m, key);
  return sy_yaml_is_null(v) ? NULL : v;
}

int sy_pp_int(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key, int64_t min,
              int64_t max, int64_t *out, sy_sched_error_t *err) {
  SY_UNUSED(args);
  const sy_yaml_node_t *v = get(m, key);
  if (!v) return 0;
  int64_t x;
  if (sy_yaml_as_int(v, &x) != 0) {
    return sy_sched_errorf(err, v, "parameter \"%s\" must be an integer, got %s", key,
                           sy_yaml_type_name(sy_yaml_type(v)));
  }
  if (x < min || x > max) {
    return sy_sched_errorf(err, v, "parameter \"%s\" = %lld is out of range [%lld, %lld]", key, (long long)x,
                           (long long)min, (long long)max);
  }
  *out = x;
  return 0;
}

int sy_pp_double(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key, double min,
                 double max, double *out, sy_sched_error_t *err) {
  SY_UNUSED(args);
  const sy_yaml_node_t *v = get(m, key);
  if (!v) return 0;
  double x;
  if (sy_yaml_as_double(v, &x) != 0 || !isfinite(x)) {
    return sy_sched_errorf(err, v, "parameter \"%s\" must be a number, got %s", key,
                           sy_yaml_type_name(sy_yaml_type(v)));
  }
  if (x < min || x > max) {
    return sy_sched_errorf(err, v, "parameter \"%s\" = %g is out of range [%g, %g]", key, x,
                           min, max);
  }
  *out = x;
  return 0;
}

int sy_pp_bool(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key, bool *out,
               sy_sched_error_t *err) {
  SY_UNUSED(args);
  const sy_yaml_node_t *v = get(m, key);
  if (!v) return 0;
  if (sy_yaml_as_bool(v, out) != 0) {
    return sy_sched_errorf(err, v, "parameter \"%s\" must be a boolean, got %s", key,
                           sy_yaml_type_name(sy_yaml_type(v)));
  }
  return 0;
}

int sy_pp_str(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key, const char **out,
              sy_sched_error_t *err) {
  SY_UNUSED(args);
  const sy_yaml_node_t *v = get(m, key);
  if (!v) return 0;
  if (!sy_yaml_is_string(v) || strlen(v->text) != v->len) {
    return sy_sched_errorf(err, v, "parameter \"%s\" must be a string, got %s", key,
                           sy_yaml_type_name(sy_yaml_type(v)));
  }
  *out = v->text;
  return 0;
}

int sy_pp_duration(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key, uint64_t *out_ns,
                   sy_sched_error_t *err) {
  SY_UNUSED(args);
  const sy_yaml_node_t *v = get(m, key);
  if (!v) return 0;
  int64_t ms;
  uint64_t ns = 0;
  if (sy_yaml_as_int(v, &ms) == 0) {
    if (ms <= 0 || ms > (int64_t)(UINT64_MAX / 2000000u)) {
      return sy_sched_errorf(err, v, "parameter \"%s\" must be a positive duration", key);
    }
    ns = (uint64_t)ms * 1000000u;
  } else if (v->kind == SY_YAML_SCALAR && sy_parse_go_duration(v->text, v->len, &ns) == 0) {
    if (ns == 0) {
      return sy_sched_errorf(err, v, "parameter \"%s\" must be a positive duration", key);
    }
  } else {
    return sy_sched_errorf(err, v,
                           "parameter \"%s\" must be a duration such as \"200ms\" or \"1.5s\" "
                           "(or an integer number of milliseconds)",
                           key);
  }
  *out_ns = ns;
  return 0;
}

int sy_pp_map(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key,
              const char *const *allowed, const sy_yaml_node_t **out, sy_sched_error_t *err) {
  SY_UNUSED(args);
  const sy_yaml_node_t *v = get(m, key);
  *out = NULL;
  if (!v) return 0;
  if (v->kind != SY_YAML_MAPPING) {
    return sy_sched_errorf(err, v, "parameter \"%s\" must be a mapping, got %s", key,
                           sy_yaml_type_name(sy_yaml_type(v)));
  }
  for (size_t i = 0; i < v->n; i++) {
    const char *k = v->keys[i]->text;
    bool ok = false;
    for (size_t j = 0; allowed && allowed[j]; j++) {
      if (!strcmp(allowed[j], k)) {
        ok = true;
        break;
      }
    }
    if (!ok) return sy_sched_errorf(err, v->keys[i], "unknown parameter \"%s.%s\"", key, k);
  }
  *out = v;
  return 0;
}

/* Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ or "0". Negative
 * values are rejected here (no caller wants them). */
int sy_parse_go_duration(const char *s, size_t len, uint64_t *out_ns) {
  static const struct {
    const char *unit;
    double ns;
  } units[] = {{"ns", 1.0},   {"us", 1e3},         {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
               {"ms", 1e6},   {"s", 1e9},          {"m", 60e9},        {"h", 3600e9}};
  size_t i = 0;
  if (len > 0 && s[0] == '+') i++;
  if (i == len) return SY_EPARSE;
  if (len - i == 1 && s[i] == '0') {
    *out_ns = 0;
    return 0;
  }
  double total = 0;
  while (i < len) {
    double v = 0, scale = 1;
    bool digits = false;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (s[i++] - '0');
      digits = true;
    }
    if (i < len && s[i] == '.') {
      i++;
      while (i < len && s[i] >= '0' && s[i] <= '9') {
        scale /= 10;
        v += (s[i++] - '0') * scale;
        digits = true;
      }
    }
    if (!digits) return SY_EPARSE;
    size_t u0 = i;
    while (i < len && !(s[i] >= '0' && s[i] <= '9') && s[i] != '.') i++;
    if (i == u0) return SY_EPARSE; /* missing unit */
    bool found = false;
    for (size_t k = 0; k < SY_ARRAY_LEN(units); k++) {
      if (strlen(units[k].unit) == i - u0 && !memcmp(units[k].unit, s + u0, i - u0)) {
        total += v * units[k].ns;
        found = true;
        break;
      }
    }
    if (!found) return SY_EPARSE;
  }
  if (total > 9.2e18) return SY_EPARSE; /* Go: overflow */
  *out_ns = (uint64_t)llround(total);
  return 0;
}

static int b64val(unsigned char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+') return 62;
  if (ch == '/') return 63;
  return -1;
}

long sy_base64_decode(const char *in, size_t len, char *out, size_t cap) {
  /* Go's StdEncoding ignores \r and \n; padding is mandatory. */
  unsigned char q[4];
  size_t nq = 0, o = 0;
  bool done = false;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)in[i];
    if (ch == '\r' || ch == '\n') continue;
    if (done) return -1; /* data after the padded final quantum */
    q[nq++] = ch;
    if (nq < 4) continue;
    nq = 0;
    int a = b64val(q[0]), b = b64val(q[1]);
    if (a < 0 || b < 0) return -1;
    int c = q[2] == '=' ? -2 : b64val(q[2]);
    int d = q[3] == '=' ? -2 : b64val(q[3]);
    if (c == -1 || d == -1 || (c == -2 && d != -2)) return -1;
    size_t n = c == -2 ? 1 : d == -2 ? 2 : 3;
    if (o + n + 1 > cap) return -1;
    uint32_t w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 | (uint32_t)(d < 0 ? 0 : d);
    /* Go rejects non-zero trailing bits in the last quantum (strict mode
     * off by default: it accepts them), so accept them too. */
    out[o++] = (char)(w >> 16);
    if (n > 1) out[o++] = (char)(w >> 8 & 0xff);
    if (n > 2) out[o++] = (char)(w & 0xff);
    if (n < 3) done = true;
  }
  if (nq != 0) return -1;
  if (cap == 0) return -1;
  out[o] = '\0';
  return (long)o;
}

const char *sy_ep_label(const sy_endpoint_t *ep, const char *key) {
  for (size_t i = 0; i < ep->n_labels; i++) {
    if (!strcmp(ep->label_keys[i], key)) return ep->label_values[i];
  }
  return NULL;
}

double sy_rand_double(void) { return (double)(sy_rand_u64() >> 11) * 0x1.0p-53; }

int sy_pp_set_header(sy_sched_cycle_t *c, const char *key, const char *value) {
  sy_sched_result_t *o = c->out;
  char *v = sy_arena_strndup(c->arena, value, strlen(value));
  if (!v) return -ENOMEM;
  for (size_t i = 0; i < o->n_headers; i++) {
    if (!strcmp(o->headers[i].key, key)) {
      o->headers[i].value = v;
      return 0;
    }
  }
  if (o->n_headers >= SY_SCHED_MAX_HEADERS) return SY_ETOOBIG;
  o->headers[o->n_headers].key = key;
  o->headers[o->n_headers].value = v;
  o->n_headers++;
  return 0;
}

/* ---------------------------------------------------- prefix-match data */

#define DEFAULT_PREFIX_PRODUCER "approx-prefix-cache-producer"

int sy_pp_prefix_link(sy_sched_t *s, const char *name, bool required, sy_pp_prefix_t *out, sy_sched_error_t *err) {
  memset(out, 0, sizeof(*out));
  out->slot = -1;
  const sy_sched_plugin_type_t *t = NULL;
  void *st = sy_sched_plugin_find(s, name ? name : DEFAULT_PREFIX_PRODUCER, &t);
  if (!t) {
    if (required && name) return sy_sched_errorf(err, NULL, "prefix-match producer \"%s\" not found", name);
    return 0;
  }
  int slot = sy_prefix_match_slot(t, st, NULL, NULL);
  if (slot < 0) {
    return sy_sched_errorf(err, NULL, "plugin \"%s\" (%s) does not produce prefix-match data",
                           name ? name : DEFAULT_PREFIX_PRODUCER, t->type);
  }
  out->type = t;
  out->state = st;
  out->slot = slot;
  return 0;
}

/* The producer published data for this cycle when c->data[slot] is set
 * (even with 0 blocks hashed: upstream then still has match info 0/0). */
bool sy_pp_prefix_match(const sy_pp_prefix_t *p, const sy_sched_cycle_t *c, const sy_sched_cand_t *cand,
                        double *blocks) {
  *blocks = 0;
  if (!p->type || p->slot < 0 || p->slot >= SY_SCHED_MAX_SLOTS || !c->data[p->slot]) return false;
  *blocks = cand->slot[p->slot];
  return true;
}

int sy_pp_prefix_block_tokens(const sy_pp_prefix_t *p, const sy_sched_cycle_t *c) {
  if (!p->type || p->slot < 0) return 0;
  int bt = 0;
  if (sy_prefix_match_slot(p->type, p->state, c, &bt) < 0) return 0;
  return bt;
}
