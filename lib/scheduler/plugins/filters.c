/* Label filters (llm-d: decode-filter, prefill-filter, encode-filter,
 * label-selector-filter / by-label-selector, by-label) and GAIE's
 * header-based-testing-filter. See plugins/README.md. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "plugins.h"
#include "putil.h"

/* ------------------------------------------------------------- by-label */

typedef struct by_label {
  char *label;
  char **values;
  size_t n_values;
  bool allows_no_label;
} by_label_t;

static void by_label_destroy(void *st) {
  by_label_t *b = st;
  if (!b) return;
  for (size_t i = 0; i < b->n_values; i++) sy_free(b->values[i]);
  sy_free(b->values);
  sy_free(b->label);
  sy_free(b);
}

static by_label_t *by_label_new(const char *label, bool allows_no_label, const char *const *values, size_t n) {
  by_label_t *b = sy_calloc(1, sizeof(*b));
  if (!b) return NULL;
  b->allows_no_label = allows_no_label;
  b->label = sy_strdup(label);
  b->values = n ? sy_calloc(n, sizeof(char *)) : NULL;
  if (!b->label || (n && !b->values)) goto oom;
  for (size_t i = 0; i < n; i++) {
    if (!(b->values[i] = sy_strdup(values[i]))) goto oom;
    b->n_values = i + 1;
  }
  return b;
oom:
  by_label_destroy(b);
  return NULL;
}

/* Upstream: keep when (label undefined && allowsNoLabel) || value ∈ valid,
 * where an undefined label reads as "". */
static size_t by_label_filter(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n) {
  SY_UNUSED(c);
  const by_label_t *b = st;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *v = sy_ep_label(cands[i]->ep, b->label);
    bool keep = !v && b->allows_no_label;
    for (size_t j = 0; !keep && j < b->n_values; j++) keep = !strcmp(b->values[j], v ? v : "");
    if (keep) cands[k++] = cands[i];
  }
  return k;
}

#define ROLE_LABEL "llm-d.ai/role"

static int role_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err, bool allows_no_label,
                       const char *const *roles, size_t n) {
  static const char *const none[] = {NULL};
  int rc = sy_pp_check(args, none, err);
  if (rc) return rc;
  by_label_t *b = by_label_new(ROLE_LABEL, allows_no_label, roles, n);
  if (!b) return -ENOMEM;
  *state = b;
  return 0;
}

static int decode_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const roles[] = {"decode", "prefill-decode", "both", "encode-prefill-decode"};
  return role_create(args, state, err, true, roles, SY_ARRAY_LEN(roles));
}

static int prefill_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const roles[] = {"prefill", "encode-prefill", "prefill-decode", "both", "encode-prefill-decode"};
  return role_create(args, state, err, false, roles, SY_ARRAY_LEN(roles));
}

static int encode_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const roles[] = {"encode", "encode-prefill", "encode-prefill-decode"};
  return role_create(args, state, err, false, roles, SY_ARRAY_LEN(roles));
}

const sy_sched_plugin_type_t sy_plugin_decode_filter = {
    .type = "decode-filter",
    .kinds = SY_SCHED_FILTER,
    .create = decode_create,
    .destroy = by_label_destroy,
    .filter = by_label_filter,
};

const sy_sched_plugin_type_t sy_plugin_prefill_filter = {
    .type = "prefill-filter",
    .kinds = SY_SCHED_FILTER,
    .create = prefill_create,
    .destroy = by_label_destroy,
    .filter = by_label_filter,
};

const sy_sched_plugin_type_t sy_plugin_encode_filter = {
    .type = "encode-filter",
    .kinds = SY_SCHED_FILTER,
    .create = encode_create,
    .destroy = by_label_destroy,
    .filter = by_label_filter,
};

/* A sequence of strings (NULL/absent → none). *out points into the tree. */
static int str_list(const sy_yaml_node_t *v, const char *what,
                    const char **out, size_t cap, size_t *n, sy_sched_error_t *err) {
  *n = 0;
  if (sy_yaml_is_null(v)) return 0;
  if (v->kind != SY_YAML_SEQUENCE) {
    return sy_sched_errorf(err, v, "parameter \"%s\" must be a list of strings, got %s", what,
                           sy_yaml_type_name(sy_yaml_type(v)));
  }
  if (v->n > cap) return sy_sched_errorf(err, v, "parameter \"%s\" has more than %zu values", what, cap);
  for (size_t i = 0; i < v->n; i++) {
    const sy_yaml_node_t *s = v->items[i];
    if (!sy_yaml_is_string(s) || strlen(s->text) != s->len) {
      return sy_sched_errorf(err, s, "parameter \"%s\" must be a list of strings, got %s", what,
                             sy_yaml_type_name(sy_yaml_type(s)));
    }
    out[(*n)++] = s->text;
  }
  return 0;
}

#define MAX_VALUES 256

static int by_label_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"label", "validValues", "allowsNoLabel", NULL};
  const char *label = NULL;
  bool allows = false;
  const char *values[MAX_VALUES];
  size_t n = 0;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) || (rc = sy_pp_str(args, args->params, "label", &label, err)) ||
      (rc = sy_pp_bool(args, args->params, "allowsNoLabel", &allows, err)) ||
      (rc = str_list(sy_yaml_get(args->params, "validValues"), "validValues", values, MAX_VALUES, &n, err))) {
    return rc;
  }
  if (!label || !*label) {
    return sy_sched_errorf(err, args->params, "invalid configuration for 'by-label' filter: 'label' must be "
                           "specified");
  }
  if (n == 0 && !allows) {
    return sy_sched_errorf(err, args->params,
                           "invalid configuration for 'by-label' filter: either 'allowsNoLabel' must be true "
                           "or at least one entry in 'validValues' must be specified");
  }
  by_label_t *b = by_label_new(label, allows, values, n);
  if (!b) return -ENOMEM;
  *state = b;
  return 0;
}

const sy_sched_plugin_type_t sy_plugin_by_label = {
    .type = "by-label",
    .kinds = SY_SCHED_FILTER,
    .create = by_label_create,
    .destroy = by_label_destroy,
    .filter = by_label_filter,
};

/* ------------------------------------------------------- label selector */

typedef enum { OP_IN, OP_NOT_IN, OP_EXISTS, OP_NOT_EXISTS } sel_op_t;

typedef struct sel_req {
  char *key;
  sel_op_t op;
  char **values; /* OP_IN/OP_NOT_IN; for matchLabels one value with OP_IN */
  size_t n_values;
} sel_req_t;

typedef struct selector {
  sel_req_t *reqs;
  size_t n;
} selector_t;

static void selector_destroy(void *st) {
  selector_t *s = st;
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) {
    for (size_t j = 0; j < s->reqs[i].n_values; j++) sy_free(s->reqs[i].values[j]);
    sy_free(s->reqs[i].values);
    sy_free(s->reqs[i].key);
  }
  sy_free(s->reqs);
  sy_free(s);
}

static int sel_add(selector_t *s, const char *key, sel_op_t op, const char *const *values, size_t n) {
  sel_req_t *r = &s->reqs[s->n++];
  r->op = op;
  if (!(r->key = sy_strdup(key))) return -ENOMEM;
  if (n && !(r->values = sy_calloc(n, sizeof(char *)))) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (!(r->values[i] = sy_strdup(values[i]))) return -ENOMEM;
    r->n_values = i + 1;
  }
  return 0;
}

static int selector_parse(const sy_sched_plugin_args_t *args, selector_t *s, sy_sched_error_t *err) {
  const sy_yaml_node_t *p = args->params;
  const sy_yaml_node_t *ml = sy_yaml_get(p, "matchLabels");
  const sy_yaml_node_t *me = sy_yaml_get(p, "matchExpressions");
  if (!sy_yaml_is_null(ml) && ml->kind != SY_YAML_MAPPING) {
    return sy_sched_errorf(err, ml, "parameter \"matchLabels\" must be a mapping, got %s",
                           sy_yaml_type_name(sy_yaml_type(ml)));
  }
  if (!sy_yaml_is_null(me) && me->kind != SY_YAML_SEQUENCE) {
    return sy_sched_errorf(err, me, "parameter \"matchExpressions\" must be a list, got %s",
                           sy_yaml_type_name(sy_yaml_type(me)));
  }
  size_t total = (sy_yaml_is_null(ml) ? 0 : ml->n) + (sy_yaml_is_null(me) ? 0 : me->n);
  if (total && !(s->reqs = sy_calloc(total, sizeof(sel_req_t)))) return -ENOMEM;
  int rc;
  for (size_t i = 0; !sy_yaml_is_null(ml) && i < ml->n; i++) {
    const sy_yaml_node_t *v = ml->items[i];
    if (!sy_yaml_is_string(v) || strlen(v->text) != v->len) {
      return sy_sched_errorf(err, v, "matchLabels[\"%s\"] must be a string, got %s", ml->keys[i]->text,
                             sy_yaml_type_name(sy_yaml_type(v)));
    }
    const char *val = v->text;
    if ((rc = sel_add(s, ml->keys[i]->text, OP_IN, &val, 1))) return rc;
  }
  for (size_t i = 0; !sy_yaml_is_null(me) && i < me->n; i++) {
    const sy_yaml_node_t *e = me->items[i];
    if (e->kind != SY_YAML_MAPPING) {
      return sy_sched_errorf(err, e, "matchExpressions[%zu] must be a mapping", i);
    }
    for (size_t j = 0; j < e->n; j++) {
      const char *k = e->keys[j]->text;
      if (strcmp(k, "key") && strcmp(k, "operator") && strcmp(k, "values")) {
        return sy_sched_errorf(err, e->keys[j], "unknown parameter \"matchExpressions[%zu].%s\"",
                               i, k);
      }
    }
    const sy_yaml_node_t *key = sy_yaml_get(e, "key"), *opn = sy_yaml_get(e, "operator");
    if (sy_yaml_is_null(key) || !sy_yaml_is_string(key) || !key->len) {
      return sy_sched_errorf(err, key ? key : e, "matchExpressions[%zu].key must be a non-empty string",
                             i);
    }
    sel_op_t op;
    if (sy_yaml_text_eq(opn, "In")) {
      op = OP_IN;
    } else if (sy_yaml_text_eq(opn, "NotIn")) {
      op = OP_NOT_IN;
    } else if (sy_yaml_text_eq(opn, "Exists")) {
      op = OP_EXISTS;
    } else if (sy_yaml_text_eq(opn, "DoesNotExist")) {
      op = OP_NOT_EXISTS;
    } else {
      return sy_sched_errorf(err, opn ? opn : e,
                             "matchExpressions[%zu].operator: \"%s\" is not a valid label selector "
                             "operator (In, NotIn, Exists, DoesNotExist)",
                             i, opn && opn->text ? opn->text : "");
    }
    const char *values[MAX_VALUES];
    size_t n = 0;
    if ((rc = str_list(sy_yaml_get(e, "values"), "matchExpressions.values", values, MAX_VALUES, &n, err))) {
      return rc;
    }
    if ((op == OP_IN || op == OP_NOT_IN) && n == 0) {
      return sy_sched_errorf(err, e, "matchExpressions[%zu]: for 'in', 'notin' operators, values set can't "
                             "be empty", i);
    }
    if ((op == OP_EXISTS || op == OP_NOT_EXISTS) && n != 0) {
      return sy_sched_errorf(err, e, "matchExpressions[%zu]: values set must be empty for exists and does "
                             "not exist", i);
    }
    if ((rc = sel_add(s, key->text, op, values, n))) return rc;
  }
  return 0;
}

static int selector_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"matchLabels", "matchExpressions", NULL};
  int rc = sy_pp_check(args, keys, err);
  if (rc) return rc;
  selector_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  if ((rc = selector_parse(args, s, err))) {
    selector_destroy(s);
    return rc;
  }
  *state = s;
  return 0;
}

static bool sel_match(const selector_t *s, const sy_endpoint_t *ep) {
  for (size_t i = 0; i < s->n; i++) {
    const sel_req_t *r = &s->reqs[i];
    const char *v = sy_ep_label(ep, r->key);
    bool in = false;
    for (size_t j = 0; v && j < r->n_values; j++) in = in || !strcmp(r->values[j], v);
    bool ok;
    switch (r->op) {
    case OP_IN: ok = v && in; break;
    case OP_NOT_IN: ok = !v || !in; break; /* Kubernetes: a missing label satisfies NotIn */
    case OP_EXISTS: ok = v != NULL; break;
    default: ok = v == NULL; break;
    }
    if (!ok) return false;
  }
  return true; /* an empty selector matches everything */
}

static size_t selector_filter(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n) {
  SY_UNUSED(c);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (sel_match(st, cands[i]->ep)) cands[k++] = cands[i];
  }
  return k;
}

const sy_sched_plugin_type_t sy_plugin_label_selector_filter = {
    .type = "label-selector-filter",
    .kinds = SY_SCHED_FILTER,
    .create = selector_create,
    .destroy = selector_destroy,
    .filter = selector_filter,
};

/* Deprecated name (llm-d v0.9.0), same plugin. */
const sy_sched_plugin_type_t sy_plugin_by_label_selector = {
    .type = "by-label-selector",
    .kinds = SY_SCHED_FILTER,
    .create = selector_create,
    .destroy = selector_destroy,
    .filter = selector_filter,
};

/* ------------------------------------------------- header-based testing */

#define TEST_HEADER "test-epp-endpoint-selection"

/* Go's net.SplitHostPort for the forms that matter here. Returns false on
 * the inputs it rejects (missing port, too many colons). */
static bool split_host_port(const char *s, size_t len, const char **h, size_t *hl, const char **p, size_t *pl) {
  if (len && s[0] == '[') {
    const char *end = memchr(s, ']', len);
    if (!end) return false;
    size_t after = (size_t)(end - s) + 1;
    if (after == len || s[after] != ':') return false;
    if (memchr(s + after + 1, ':', len - after - 1)) return false;
    *h = s + 1;
    *hl = (size_t)(end - s) - 1;
    *p = s + after + 1;
    *pl = len - after - 1;
    return true;
  }
  const char *colon = memchr(s, ':', len);
  if (!colon || memchr(colon + 1, ':', len - (size_t)(colon - s) - 1)) return false;
  if (memchr(s, '[', len) || memchr(s, ']', len)) return false;
  *h = s;
  *hl = (size_t)(colon - s);
  *p = colon + 1;
  *pl = len - *hl - 1;
  return true;
}

static void trim_brackets(const char **s, size_t *len) {
  while (*len && **s == '[') (*s)++, (*len)--;
  while (*len && (*s)[*len - 1] == ']') (*len)--;
}

static bool ip_eq(const sy_endpoint_t *ep, const char *h, size_t hl) {
  const char *ip = ep->ip ? ep->ip : "";
  size_t il = strlen(ip);
  trim_brackets(&ip, &il);
  return il == hl && !memcmp(ip, h, hl);
}

/* Upstream: the result is in header order, "ip:port" needs an exact match,
 * a bare ip selects the last candidate with that ip, entries are de-duplicated
 * by ip; a missing or blank header keeps nothing. */
static size_t header_filter(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n) {
  SY_UNUSED(st);
  const char *hv = c->req ? sy_sched_request_header(c->req, TEST_HEADER) : NULL;
  if (!hv || n == 0) return 0;
  sy_sched_cand_t **out = sy_arena_alloc(c->arena, n * sizeof(*out));
  if (!out) return 0;
  size_t k = 0;
  const char *s = hv;
  while (s) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    const char *item = s;
    s = comma ? comma + 1 : NULL;
    while (len && (*item == ' ' || *item == '\t' || *item == '\r' || *item == '\n')) item++, len--;
    while (len && (item[len - 1] == ' ' || item[len - 1] == '\t' || item[len - 1] == '\r' || item[len - 1] == '\n')) {
      len--;
    }
    if (!len) continue;
    const char *h = item, *p = NULL;
    size_t hl = len, pl = 0;
    if (!split_host_port(item, len, &h, &hl, &p, &pl)) {
      h = item;
      hl = len;
      p = NULL;
      pl = 0;
    }
    trim_brackets(&h, &hl);
    sy_sched_cand_t *found = NULL;
    for (size_t i = 0; i < n; i++) {
      if (!ip_eq(cands[i]->ep, h, hl)) continue;
      if (pl) {
        char port[16];
        int w = snprintf(port, sizeof(port), "%d", cands[i]->ep->port);
        if (w > 0 && (size_t)w == pl && !memcmp(port, p, pl)) {
          found = cands[i];
          break;
        }
      } else {
        found = cands[i]; /* last one wins, as upstream's map */
      }
    }
    if (!found) continue;
    bool dup = false;
    const char *fip = found->ep->ip ? found->ep->ip : "";
    for (size_t j = 0; j < k && !dup; j++) dup = !strcmp(out[j]->ep->ip ? out[j]->ep->ip : "", fip);
    if (!dup) out[k++] = found;
  }
  memcpy(cands, out, k * sizeof(*out));
  return k;
}

const sy_sched_plugin_type_t sy_plugin_header_based_testing_filter = {
    .type = "header-based-testing-filter",
    .kinds = SY_SCHED_FILTER,
    .create = sy_plugin_create_noparams,
    .filter = header_filter,
};
