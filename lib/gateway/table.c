/* gateway — the route table: an immutable snapshot built from the attachment
 * model, looked up per request without allocating.
 *
 * Layout
 *   ports (sorted) -> listeners: exact hostname / wildcard suffix in a hash,
 *     the listener without hostname in the port entry (listener isolation);
 *   listener -> host groups: the (listener-intersected) route hostname, exact
 *     or wildcard suffix, in a hash; routes without hostname in the
 *     listener's catch-all group;
 *   group -> candidates, one per (rule, match), sorted by precedence:
 *     Exact paths in a hash by path, PathPrefix in a hash by the normalised
 *     prefix (no trailing '/', "/" is ""), RegularExpression in one run per
 *     group. Within a hash bucket candidates are sorted by the remaining
 *     precedence (prefix characters, method, headers, query params, age,
 *     namespace/name, rule, match), so the first one whose method, headers
 *     and query params match wins.
 *   A lookup walks host groups from the most specific, and in each group
 *   Exact, then prefixes from the longest element boundary of the path to
 *   "/", then regular expressions. */
#include <errno.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_int.h"

enum { K_EXACT = 0, K_PREFIX = 1, K_REGEX = 2 }; /* candidate kinds = path types */
enum { H_EXACT = 0, H_WILD = 1 };                /* hostname hash kinds */
#define NONE UINT32_MAX
#define MAX_HOST 256
#define MAX_QUERY_VALUE 1024

typedef struct mkv {
  const char *name;
  uint32_t name_len;
  const char *value;
  uint32_t value_len;
  regex_t *re; /* RegularExpression */
} mkv_t;

/* A compiled match: what is checked after the path. */
typedef struct cmatch {
  const char *method;
  uint32_t method_len;
  uint32_t n_headers;
  uint32_t n_query;
  bool never; /* a regex that did not compile: never matches */
  const mkv_t *headers;
  const mkv_t *query;
  regex_t *path_re;
  const char *re_lit; /* literal prefix every path the regex matches starts with */
  uint32_t re_lit_len;
} cmatch_t;

typedef struct cand {
  const sy_gw_rule_t *rule;
  const cmatch_t *m;
  uint32_t match_index;
  sy_gw_path_type_t path_type;
} cand_t;

typedef struct range {
  uint32_t start;
  uint32_t count;
} range_t;

typedef struct group {
  uint32_t regex_start;
  uint32_t regex_count;
  uint32_t max_prefix; /* longest prefix key */
  bool has_exact;
  bool has_prefix;
} group_t;

typedef struct tlistener {
  const char *gw_namespace;
  const char *gw_name;
  const char *name;
  sy_gw_protocol_t protocol;
  uint32_t any_group; /* routes without hostname; NONE */
  bool has_exact;     /* exact host groups exist */
  bool has_wild;
} tlistener_t;

typedef struct tport {
  int32_t port;
  uint32_t any_listener; /* listener without hostname; NONE */
  bool has_exact;
  bool has_wild;
} tport_t;

struct sy_gw_table {
  atomic_int refs;
  tport_t *ports;
  size_t n_ports;
  tlistener_t *listeners;
  size_t n_listeners;
  group_t *groups;
  size_t n_groups;
  cand_t *cands;
  size_t n_cands;
  range_t *ranges;
  sy_gw__htab_t lhash; /* (port index, H_*, hostname or ".suffix") -> listener */
  sy_gw__htab_t ghash; /* (listener, H_*, host or ".suffix") -> group */
  sy_gw__htab_t phash; /* (group, K_EXACT/K_PREFIX, path key) -> range */
  regex_t **res;
  size_t n_res;
  size_t n_rules;
  sy_arena_t arena;
};

/* ---------------------------------------------------------- lifecycle */

sy_gw_table_t *sy_gw_table_ref(sy_gw_table_t *t) {
  if (t) atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
  return t;
}

static void table_free(sy_gw_table_t *t) {
  for (size_t i = 0; i < t->n_res; i++) regfree(t->res[i]);
  sy_arena_cleanup(&t->arena);
  sy_free(t);
}

void sy_gw_table_unref(sy_gw_table_t *t) {
  if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) table_free(t);
}

void sy_gw_table_stats(const sy_gw_table_t *t, sy_gw_table_stats_t *out) {
  memset(out, 0, sizeof(*out));
  if (!t) return;
  out->n_listeners = t->n_listeners;
  out->n_rules = t->n_rules;
  out->n_match_entries = t->n_cands;
  out->bytes = t->arena.total + sizeof(*t);
}

/* --------------------------------------------------------------- build */

typedef struct tcand {
  uint32_t group;
  uint32_t kind;
  const char *key;
  uint32_t key_len;
  uint32_t orig_len;
  uint32_t n_headers;
  uint32_t n_query;
  bool has_method;
  int64_t created;
  const char *ns;
  const char *name;
  uint32_t rule;      /* rule slot */
  uint32_t rule_index;
  uint32_t match_index;
} tcand_t;

typedef struct epset {
  const char *const *eps;
  size_t n;
} epset_t;

typedef struct builder {
  const sy_gw__model_t *m;
  sy_gw_table_t *t;
  sy_arena_t *a;   /* the table's */
  sy_arena_t tmp;  /* scratch, freed after the build */
  sy_gw__htab_t re_cache; /* pattern -> index in t->res */
  size_t cap_res;
  sy_gw__htab_t ep_cache; /* "ns/name:port" -> epset */
  epset_t *epsets;
  size_t n_epsets;
  uint32_t *rule_base;  /* per route: first rule slot; NONE when unused */
  sy_gw_rule_t **slots; /* per rule slot: the rule, NULL when invalid */
  cmatch_t **cms;       /* per rule slot: compiled matches */
} builder_t;

static int tcand_cmp(const void *pa, const void *pb) {
  const tcand_t *a = pa, *b = pb;
  if (a->group != b->group) return a->group < b->group ? -1 : 1;
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  if (a->key_len != b->key_len) return a->key_len < b->key_len ? -1 : 1;
  int c = memcmp(a->key, b->key, a->key_len);
  if (c) return c;
  if (a->orig_len != b->orig_len) return a->orig_len > b->orig_len ? -1 : 1; /* more characters first */
  if (a->has_method != b->has_method) return a->has_method ? -1 : 1;
  if (a->n_headers != b->n_headers) return a->n_headers > b->n_headers ? -1 : 1;
  if (a->n_query != b->n_query) return a->n_query > b->n_query ? -1 : 1;
  if (a->created != b->created) return a->created < b->created ? -1 : 1; /* oldest first */
  if ((c = sy_gw__nn_cmp(a->ns, a->name, b->ns, b->name))) return c;
  if (a->rule_index != b->rule_index) return a->rule_index < b->rule_index ? -1 : 1;
  return a->match_index < b->match_index ? -1 : a->match_index > b->match_index;
}

static const char *copy(builder_t *b, const char *s) {
  return s ? sy_arena_strndup(b->a, s, strlen(s)) : NULL;
}
#define COPY(b, dst, src)                      \
  do {                                         \
    const char *s_ = (src);                    \
    if (s_ && !((dst) = copy((b), s_))) return -ENOMEM; \
    if (!s_) (dst) = NULL;                     \
  } while (0)

/* Compiles ^(pattern)$ once per pattern per table. NULL when it does not compile. */
static int regex_get(builder_t *b, const char *pattern, regex_t **out) {
  sy_gw_table_t *t = b->t;
  size_t len = strlen(pattern);
  *out = NULL;
  uint32_t i = sy_gw__htab_get(&b->re_cache, 0, 0, pattern, len);
  if (i != NONE) {
    *out = i == NONE - 1 ? NULL : t->res[i];
    return 0;
  }
  char *buf = sy_arena_alloc(&b->tmp, len + 5);
  if (!buf) return -ENOMEM;
  snprintf(buf, len + 5, "^(%s)$", pattern);
  regex_t *re = sy_arena_alloc(b->a, sizeof(*re));
  if (!re) return -ENOMEM;
  uint32_t val = NONE - 1;
  if (sy_gw__regex_safe(pattern) && regcomp(re, buf, REG_EXTENDED | REG_NOSUB) == 0) {
    if (t->n_res == b->cap_res) {
      size_t ncap = b->cap_res ? b->cap_res * 2 : 16;
      regex_t **nr = sy_arena_alloc(b->a, ncap * sizeof(*nr));
      if (!nr) {
        regfree(re);
        return -ENOMEM;
      }
      if (t->n_res) memcpy(nr, t->res, t->n_res * sizeof(*nr));
      t->res = nr;
      b->cap_res = ncap;
    }
    val = (uint32_t)t->n_res;
    t->res[t->n_res++] = re;
    *out = re;
  }
  const char *key = sy_arena_strndup(&b->tmp, pattern, len);
  if (!key) return -ENOMEM;
  return sy_gw__htab_put(&b->re_cache, 0, 0, key, len, val, NULL) ? -ENOMEM : 0;
}

static int copy_hmod(builder_t *b, sy_gw_header_mod_t *d, const sy_gw_header_mod_t *s) {
  sy_gw_header_t *set = NULL, *add = NULL;
  const char **rm = NULL;
  if (s->n_set && !(set = sy_arena_alloc(b->a, s->n_set * sizeof(*set)))) return -ENOMEM;
  if (s->n_add && !(add = sy_arena_alloc(b->a, s->n_add * sizeof(*add)))) return -ENOMEM;
  if (s->n_remove && !(rm = sy_arena_alloc(b->a, s->n_remove * sizeof(*rm)))) return -ENOMEM;
  for (size_t i = 0; i < s->n_set; i++) {
    COPY(b, set[i].name, s->set[i].name);
    COPY(b, set[i].value, s->set[i].value);
  }
  for (size_t i = 0; i < s->n_add; i++) {
    COPY(b, add[i].name, s->add[i].name);
    COPY(b, add[i].value, s->add[i].value);
  }
  for (size_t i = 0; i < s->n_remove; i++) COPY(b, rm[i], s->remove[i]);
  *d = (sy_gw_header_mod_t){set, s->n_set, add, s->n_add, rm, s->n_remove};
  return 0;
}

static int copy_filters(builder_t *b, const sy_gw_filter_t *src, size_t n, const sy_gw_filter_t **out,
                        bool *ext) {
  *out = NULL;
  if (!n) return 0;
  sy_gw_filter_t *f = sy_arena_calloc(b->a, n * sizeof(*f));
  if (!f) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const sy_gw_filter_t *s = &src[i];
    int rc;
    f[i].type = s->type;
    COPY(b, f[i].type_text, s->type_text);
    if ((rc = copy_hmod(b, &f[i].headers, &s->headers))) return rc;
    COPY(b, f[i].rewrite.hostname, s->rewrite.hostname);
    f[i].rewrite.path.type = s->rewrite.path.type;
    COPY(b, f[i].rewrite.path.value, s->rewrite.path.value);
    f[i].redirect = s->redirect;
    COPY(b, f[i].redirect.scheme, s->redirect.scheme);
    COPY(b, f[i].redirect.hostname, s->redirect.hostname);
    COPY(b, f[i].redirect.path.value, s->redirect.path.value);
    COPY(b, f[i].extension.group, s->extension.group);
    COPY(b, f[i].extension.kind, s->extension.kind);
    COPY(b, f[i].extension_name, s->extension_name);
    if (s->type == SY_GW_FILTER_EXTENSION_REF || s->type == SY_GW_FILTER_UNSUPPORTED) *ext = true;
  }
  *out = f;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Ready endpoints "ip:port" of Service ns/name port `port`, cached per build. */
static int endpoints(builder_t *b, const char *ns, const char *name, int32_t port, epset_t *out) {
  char key[600];
  int kl = snprintf(key, sizeof(key), "%s/%s:%d", ns, name, (int)port);
  if (kl < 0 || (size_t)kl >= sizeof(key)) return SY_EINVAL;
  uint32_t i = sy_gw__htab_get(&b->ep_cache, 0, 0, key, (size_t)kl);
  if (i != NONE) {
    *out = b->epsets[i];
    return 0;
  }
  const sy_gw_service_t *svc = sy_gw__service_find(b->m, ns, name);
  const sy_gw_service_port_t *sp = NULL;
  for (size_t k = 0; svc && k < svc->n_ports && !sp; k++)
    if (svc->ports[k].port == port) sp = &svc->ports[k];
  size_t first, n = sp ? sy_gw__slices_find(b->m, ns, name, &first) : 0, total = 0;
  for (size_t s = 0; s < n; s++) total += b->m->slices[first + s]->n_endpoints;
  const char **eps = total ? sy_arena_alloc(b->a, total * sizeof(*eps)) : NULL;
  size_t ne = 0;
  if (total && !eps) return -ENOMEM;
  for (size_t s = 0; s < n; s++) {
    const sy_gw_endpointslice_t *sl = b->m->slices[first + s];
    if (sl->address_type == SY_GW_ADDR_FQDN) continue;
    int32_t tport = 0;
    for (size_t k = 0; k < sl->n_ports && !tport; k++)
      if (strcmp(sl->ports[k].name, sp->name) == 0) tport = sl->ports[k].port;
    if (tport <= 0) continue;
    for (size_t e = 0; e < sl->n_endpoints; e++) {
      const sy_gw_slice_endpoint_t *ep = &sl->endpoints[e];
      if (!ep->ready || ep->n_addresses == 0) continue;
      char buf[128];
      const char *addr = ep->addresses[0]; /* the addresses are fungible */
      bool v6 = sl->address_type == SY_GW_ADDR_IPV6 || strchr(addr, ':');
      int len = snprintf(buf, sizeof(buf), v6 ? "[%s]:%d" : "%s:%d", addr, (int)tport);
      if (len < 0 || (size_t)len >= sizeof(buf)) continue;
      if (!(eps[ne] = sy_arena_strndup(b->a, buf, (size_t)len))) return -ENOMEM;
      ne++;
    }
  }
  if (ne > 1) {
    qsort(eps, ne, sizeof(*eps), cmp_str);
    size_t u = 1;
    for (size_t k = 1; k < ne; k++)
      if (strcmp(eps[k], eps[u - 1]) != 0) eps[u++] = eps[k];
    ne = u;
  }
  out->eps = eps;
  out->n = ne;
  const char *k = sy_arena_strndup(&b->tmp, key, (size_t)kl);
  if (!k) return -ENOMEM;
  b->epsets[b->n_epsets] = *out;
  return sy_gw__htab_put(&b->ep_cache, 0, 0, k, (size_t)kl, (uint32_t)b->n_epsets++, NULL) ? -ENOMEM : 0;
}

/* The literal prefix of a POSIX ERE that must open every full match (a cheap
 * prefilter before regexec): the characters before the first operator; none
 * when the pattern has an alternation; the last one dropped when the
 * operator may repeat it zero times. */
static size_t regex_literal_prefix(const char *re) {
  if (strchr(re, '|')) return 0;
  size_t n = 0;
  while (re[n] && !strchr(".[]()*+?{}^$\\", re[n])) n++;
  if (n > 0 && (re[n] == '*' || re[n] == '?' || re[n] == '{')) n--;
  return n;
}

static int build_rule(builder_t *b, const sy_gw_httproute_t *r, size_t k, sy_gw_rule_t *out, cmatch_t **cms_out) {
  const sy_gw_route_rule_t *src = &r->rules[k];
  int rc;
  char msg[300];
  COPY(b, out->route_namespace, r->meta.namespace_name);
  COPY(b, out->route_name, r->meta.name);
  COPY(b, out->rule_name, src->name);
  out->rule_index = (uint32_t)k;
  out->timeout_request_ms = src->timeout_request_ms;
  out->timeout_backend_ms = src->timeout_backend_ms;
  bool ext = false;
  if ((rc = copy_filters(b, src->filters, src->n_filters, &out->filters, &ext))) return rc;
  out->n_filters = src->n_filters;
  out->filter_error = ext;
  for (size_t i = 0; i < out->n_filters; i++) {
    if (out->filters[i].type == SY_GW_FILTER_REDIRECT) out->redirect = &out->filters[i];
    if (out->filters[i].type == SY_GW_FILTER_URL_REWRITE) out->rewrite = &out->filters[i];
  }
  if (src->n_backends) {
    sy_gw_backend_t *bs = sy_arena_calloc(b->a, src->n_backends * sizeof(*bs));
    if (!bs) return -ENOMEM;
    for (size_t i = 0; i < src->n_backends; i++) {
      const sy_gw_backend_ref_t *br = &src->backends[i];
      sy_gw_backend_type_t type;
      bs[i].invalid_reason = sy_gw__backend_check(b->m, r, br, &type, msg, sizeof(msg));
      bs[i].type = type;
      COPY(b, bs[i].group, br->group);
      COPY(b, bs[i].kind, br->kind);
      COPY(b, bs[i].namespace_name, br->namespace_name);
      COPY(b, bs[i].name, br->name);
      bs[i].port = br->port;
      bs[i].weight = br->weight;
      bool bext = false;
      if ((rc = copy_filters(b, br->filters, br->n_filters, &bs[i].filters, &bext))) return rc;
      bs[i].n_filters = br->n_filters;
      if (bext) { /* a backend filter we cannot apply: its share gets 500 */
        bs[i].type = SY_GW_BACKEND_INVALID;
        bs[i].invalid_reason = "UnsupportedValue";
      }
      if (bs[i].type == SY_GW_BACKEND_SERVICE) {
        epset_t es;
        if ((rc = endpoints(b, br->namespace_name, br->name, br->port, &es)) == -ENOMEM) return rc;
        if (rc == 0) {
          bs[i].endpoints = es.eps;
          bs[i].n_endpoints = es.n;
        }
      }
      out->total_weight += br->weight;
    }
    out->backends = bs;
    out->n_backends = src->n_backends;
  }
  /* compiled matches */
  cmatch_t *cms = sy_arena_calloc(b->a, src->n_matches * sizeof(*cms));
  if (!cms) return -ENOMEM;
  for (size_t j = 0; j < src->n_matches; j++) {
    const sy_gw_match_t *m = &src->matches[j];
    cmatch_t *c = &cms[j];
    if (m->method) {
      COPY(b, c->method, m->method);
      c->method_len = (uint32_t)strlen(m->method);
    }
    for (int q = 0; q < 2; q++) {
      const sy_gw_kv_match_t *kv = q ? m->query : m->headers;
      size_t n = q ? m->n_query : m->n_headers;
      if (!n) continue;
      mkv_t *o = sy_arena_calloc(b->a, n * sizeof(*o));
      if (!o) return -ENOMEM;
      for (size_t x = 0; x < n; x++) {
        COPY(b, o[x].name, kv[x].name);
        COPY(b, o[x].value, kv[x].value);
        o[x].name_len = (uint32_t)strlen(kv[x].name);
        o[x].value_len = (uint32_t)strlen(kv[x].value);
        if (kv[x].type == SY_GW_VALUE_REGEX) {
          if ((rc = regex_get(b, kv[x].value, &o[x].re))) return rc;
          if (!o[x].re) c->never = true;
        }
      }
      if (q) {
        c->query = o;
        c->n_query = (uint32_t)n;
      } else {
        c->headers = o;
        c->n_headers = (uint32_t)n;
      }
    }
    if (m->path_type == SY_GW_PATH_REGEX) {
      if ((rc = regex_get(b, m->path, &c->path_re))) return rc;
      if (!c->path_re) c->never = true;
      c->re_lit_len = (uint32_t)regex_literal_prefix(m->path);
      if (c->re_lit_len && !(c->re_lit = sy_arena_strndup(b->a, m->path, c->re_lit_len))) return -ENOMEM;
    }
  }
  *cms_out = cms;
  return 0;
}

typedef struct pair {
  uint32_t listener;
  uint32_t route;
} pair_t;

static int pair_cmp(const void *pa, const void *pb) {
  const pair_t *a = pa, *b = pb;
  if (a->listener != b->listener) return a->listener < b->listener ? -1 : 1;
  return a->route < b->route ? -1 : a->route > b->route;
}

static int port_cmp(const void *pa, const void *pb) {
  const tport_t *a = pa, *b = pb;
  return a->port < b->port ? -1 : a->port > b->port;
}

static uint32_t port_index(const sy_gw_table_t *t, int32_t port) {
  size_t lo = 0, hi = t->n_ports;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->ports[mid].port == port) return (uint32_t)mid;
    if (t->ports[mid].port < port) lo = mid + 1;
    else hi = mid;
  }
  return NONE;
}

/* The group of (listener, effective hostname), created on first use. */
static int group_get(builder_t *b, uint32_t lid, const char *host, uint32_t *out) {
  sy_gw_table_t *t = b->t;
  tlistener_t *l = &t->listeners[lid];
  if (!host) {
    if (l->any_group == NONE) {
      l->any_group = (uint32_t)t->n_groups;
      t->groups[t->n_groups++] = (group_t){0};
    }
    *out = l->any_group;
    return 0;
  }
  bool wild = sy_gw__is_wild(host);
  const char *key = wild ? host + 1 : host;
  size_t len = strlen(key);
  uint32_t g = sy_gw__htab_get(&t->ghash, lid, wild ? H_WILD : H_EXACT, key, len);
  if (g == NONE) {
    const char *k = sy_arena_strndup(b->a, key, len);
    if (!k) return -ENOMEM;
    g = (uint32_t)t->n_groups;
    t->groups[t->n_groups++] = (group_t){0};
    if (sy_gw__htab_put(&t->ghash, lid, wild ? H_WILD : H_EXACT, k, len, g, NULL)) return -ENOMEM;
    if (wild) l->has_wild = true;
    else l->has_exact = true;
  }
  *out = g;
  return 0;
}

int sy_gw__table_build(const sy_gw__model_t *m, sy_gw_table_t **out) {
  const sy_gw_input_t *in = m->in;
  int rc = -ENOMEM;
  pair_t *pairs = NULL;
  tcand_t *tc = NULL;
  *out = NULL;
  sy_gw_table_t *t = sy_calloc(1, sizeof(*t));
  if (!t) return -ENOMEM;
  atomic_init(&t->refs, 1);
  sy_arena_init(&t->arena, 65536, 0);
  builder_t b = {.m = m, .t = t, .a = &t->arena};
  sy_arena_init(&b.tmp, 65536, 0);

  /* 1. Programmed listeners of accepted Gateways, and their ports. */
  uint32_t **lid_of = m->n_gws ? sy_arena_calloc(&b.tmp, m->n_gws * sizeof(*lid_of)) : NULL;
  if (m->n_gws && !lid_of) goto out;
  size_t nl = 0;
  for (size_t g = 0; g < m->n_gws; g++) {
    const sy_gw__gateway_t *gw = &m->gws[g];
    if (!(lid_of[g] = sy_arena_alloc(&b.tmp, (gw->gw->n_listeners + 1) * sizeof(**lid_of)))) goto out;
    for (size_t i = 0; i < gw->gw->n_listeners; i++)
      lid_of[g][i] = (gw->accepted && gw->listeners[i].programmed) ? (uint32_t)nl++ : NONE;
  }
  const char **lhost_of = NULL; /* listener hostname per listener id */
  if (nl) {
    if (!(t->listeners = sy_arena_calloc(&t->arena, nl * sizeof(*t->listeners))) ||
        !(t->ports = sy_arena_calloc(&t->arena, nl * sizeof(*t->ports))) ||
        !(lhost_of = sy_arena_calloc(&b.tmp, nl * sizeof(*lhost_of))))
      goto out;
  }
  for (size_t g = 0; g < m->n_gws; g++) {
    const sy_gw__gateway_t *gw = &m->gws[g];
    for (size_t i = 0; i < gw->gw->n_listeners; i++) {
      if (lid_of[g][i] == NONE) continue;
      tlistener_t *l = &t->listeners[lid_of[g][i]];
      const sy_gw_listener_t *s = gw->listeners[i].spec;
      if (!(l->gw_namespace = copy(&b, gw->gw->meta.namespace_name)) || !(l->gw_name = copy(&b, gw->gw->meta.name)) ||
          !(l->name = copy(&b, s->name)))
        goto out;
      l->protocol = s->protocol;
      l->any_group = NONE;
      lhost_of[lid_of[g][i]] = s->hostname;
      bool seen = false;
      for (size_t p = 0; p < t->n_ports && !seen; p++) seen = t->ports[p].port == s->port;
      if (!seen) t->ports[t->n_ports++] = (tport_t){s->port, NONE, false, false};
    }
  }
  t->n_listeners = nl;
  if (t->n_ports) qsort(t->ports, t->n_ports, sizeof(*t->ports), port_cmp);
  if (sy_gw__htab_init(&t->lhash, &t->arena, nl)) goto out;
  for (size_t g = 0; g < m->n_gws; g++) {
    const sy_gw__gateway_t *gw = &m->gws[g];
    for (size_t i = 0; i < gw->gw->n_listeners; i++) {
      uint32_t lid = lid_of[g][i];
      if (lid == NONE) continue;
      const sy_gw_listener_t *s = gw->listeners[i].spec;
      uint32_t pi = port_index(t, s->port);
      tport_t *p = &t->ports[pi];
      if (!s->hostname) {
        if (p->any_listener == NONE) p->any_listener = lid;
        continue;
      }
      bool wild = sy_gw__is_wild(s->hostname);
      const char *key = copy(&b, wild ? s->hostname + 1 : s->hostname);
      if (!key || sy_gw__htab_put(&t->lhash, pi, wild ? H_WILD : H_EXACT, key, strlen(key), lid, NULL)) goto out;
      if (wild) p->has_wild = true;
      else p->has_exact = true;
    }
  }

  /* 2. (listener, route) pairs of accepted attachments. */
  size_t npairs = 0;
  for (size_t i = 0; i < m->n_parents; i++)
    if (m->parents[i].accepted) npairs += (size_t)__builtin_popcountll(m->parents[i].mask);
  if (npairs && !(pairs = sy_malloc(npairs * sizeof(*pairs)))) goto out;
  npairs = 0;
  for (size_t i = 0; i < m->n_parents; i++) {
    const sy_gw__parent_t *p = &m->parents[i];
    if (!p->accepted) continue;
    for (size_t l = 0; l < 64; l++)
      if ((p->mask >> l) & 1 && lid_of[p->gw][l] != NONE) pairs[npairs++] = (pair_t){lid_of[p->gw][l], p->route};
  }
  if (npairs) qsort(pairs, npairs, sizeof(*pairs), pair_cmp);
  size_t u = 0;
  for (size_t i = 0; i < npairs; i++)
    if (u == 0 || pair_cmp(&pairs[i], &pairs[u - 1]) != 0) pairs[u++] = pairs[i];
  npairs = u;

  /* 3. Rules of the routes in use. */
  if (in->n_routes && !(b.rule_base = sy_arena_alloc(&b.tmp, in->n_routes * sizeof(*b.rule_base)))) goto out;
  for (size_t i = 0; i < in->n_routes; i++) b.rule_base[i] = NONE;
  size_t nslots = 0, n_backends = 0, n_patterns = 0;
  for (size_t i = 0; i < npairs; i++) {
    uint32_t r = pairs[i].route;
    if (b.rule_base[r] != NONE) continue;
    b.rule_base[r] = (uint32_t)nslots;
    const sy_gw_httproute_t *rt = in->routes[r];
    nslots += rt->n_rules;
    for (size_t k = 0; k < rt->n_rules; k++) {
      n_backends += rt->rules[k].n_backends;
      for (size_t j = 0; j < rt->rules[k].n_matches; j++)
        n_patterns += 1 + rt->rules[k].matches[j].n_headers + rt->rules[k].matches[j].n_query;
    }
  }
  if (nslots && (!(b.slots = sy_arena_calloc(&b.tmp, nslots * sizeof(*b.slots))) ||
                 !(b.cms = sy_arena_calloc(&b.tmp, nslots * sizeof(*b.cms)))))
    goto out;
  if (sy_gw__htab_init(&b.re_cache, &b.tmp, n_patterns) || sy_gw__htab_init(&b.ep_cache, &b.tmp, n_backends)) goto out;
  if (n_backends && !(b.epsets = sy_arena_alloc(&b.tmp, n_backends * sizeof(*b.epsets)))) goto out;
  size_t nrules = 0;
  for (size_t i = 0; i < in->n_routes; i++) {
    if (b.rule_base[i] == NONE) continue;
    const sy_gw_httproute_t *rt = in->routes[i];
    for (size_t k = 0; k < rt->n_rules; k++) nrules += rt->rules[k].invalid_reason == NULL;
  }
  sy_gw_rule_t *rules = nrules ? sy_arena_calloc(&t->arena, nrules * sizeof(*rules)) : NULL;
  if (nrules && !rules) goto out;
  for (size_t i = 0; i < in->n_routes; i++) {
    if (b.rule_base[i] == NONE) continue;
    const sy_gw_httproute_t *rt = in->routes[i];
    for (size_t k = 0; k < rt->n_rules; k++) {
      if (rt->rules[k].invalid_reason) continue;
      sy_gw_rule_t *rule = &rules[t->n_rules++];
      if ((rc = build_rule(&b, rt, k, rule, &b.cms[b.rule_base[i] + k]))) goto out;
      b.slots[b.rule_base[i] + k] = rule;
    }
  }
  rc = -ENOMEM;

  /* 4. Host groups and candidates. */
  size_t ngroups = nl, ncands = 0;
  for (size_t i = 0; i < npairs; i++) {
    const sy_gw_httproute_t *rt = in->routes[pairs[i].route];
    size_t nh = rt->n_hostnames ? rt->n_hostnames : 1, nm = 0;
    ngroups += nh;
    for (size_t k = 0; k < rt->n_rules; k++) nm += rt->rules[k].invalid_reason ? 0 : rt->rules[k].n_matches;
    ncands += nh * nm;
  }
  if (!(t->groups = sy_arena_calloc(&t->arena, (ngroups ? ngroups : 1) * sizeof(*t->groups)))) goto out;
  if (sy_gw__htab_init(&t->ghash, &t->arena, ngroups)) goto out;
  if (ncands && !(tc = sy_malloc(ncands * sizeof(*tc)))) goto out;
  size_t ntc = 0;
  for (size_t i = 0; i < npairs; i++) {
    uint32_t lid = pairs[i].listener, ri = pairs[i].route;
    const sy_gw_httproute_t *rt = in->routes[ri];
    const char *lhost = lhost_of[lid];
    const char *eff[16];
    size_t neff = 0;
    size_t nh = rt->n_hostnames ? rt->n_hostnames : 1;
    for (size_t h = 0; h < nh && neff < 16; h++) {
      bool ok;
      const char *e = sy_gw_hostname_intersect(lhost, rt->n_hostnames ? rt->hostnames[h] : NULL, &ok);
      if (!ok) continue;
      bool dupe = false;
      for (size_t x = 0; x < neff && !dupe; x++)
        dupe = (!eff[x] && !e) || (eff[x] && e && strcmp(eff[x], e) == 0);
      if (!dupe) eff[neff++] = e;
    }
    for (size_t h = 0; h < neff; h++) {
      uint32_t gid;
      if ((rc = group_get(&b, lid, eff[h], &gid))) goto out;
      rc = -ENOMEM;
      for (size_t k = 0; k < rt->n_rules; k++) {
        uint32_t slot = b.rule_base[ri] + (uint32_t)k;
        if (!b.slots[slot]) continue;
        const sy_gw_route_rule_t *rule = &rt->rules[k];
        for (size_t j = 0; j < rule->n_matches; j++) {
          const sy_gw_match_t *mt = &rule->matches[j];
          if (b.cms[slot][j].never) continue;
          tcand_t *c = &tc[ntc++];
          *c = (tcand_t){.group = gid, .kind = (uint32_t)mt->path_type, .key = "", .key_len = 0,
                         .n_headers = (uint32_t)mt->n_headers, .n_query = (uint32_t)mt->n_query,
                         .has_method = mt->method != NULL, .created = rt->meta.created,
                         .ns = rt->meta.namespace_name, .name = rt->meta.name, .rule = slot,
                         .rule_index = (uint32_t)k, .match_index = (uint32_t)j};
          if (mt->path_type != SY_GW_PATH_REGEX) {
            size_t len = strlen(mt->path);
            c->orig_len = (uint32_t)len;
            if (mt->path_type == SY_GW_PATH_PREFIX && len > 0 && mt->path[len - 1] == '/') len--;
            c->key = mt->path;
            c->key_len = (uint32_t)len;
          }
        }
      }
    }
  }

  /* 5. Sort by precedence; runs of (group, kind, key) become hash entries. */
  if (ntc) qsort(tc, ntc, sizeof(*tc), tcand_cmp);
  if (ntc && (!(t->cands = sy_arena_alloc(&t->arena, ntc * sizeof(*t->cands))) ||
              !(t->ranges = sy_arena_alloc(&t->arena, ntc * sizeof(*t->ranges)))))
    goto out;
  size_t nruns = 0;
  for (size_t i = 0; i < ntc; i++) nruns += i == 0 || tc[i].group != tc[i - 1].group || tc[i].kind != tc[i - 1].kind ||
                                            tc[i].key_len != tc[i - 1].key_len ||
                                            memcmp(tc[i].key, tc[i - 1].key, tc[i].key_len) != 0;
  if (sy_gw__htab_init(&t->phash, &t->arena, nruns)) goto out;
  size_t nr = 0;
  for (size_t i = 0; i < ntc;) {
    size_t j = i + 1;
    while (j < ntc && tc[j].group == tc[i].group && tc[j].kind == tc[i].kind && tc[j].key_len == tc[i].key_len &&
           memcmp(tc[j].key, tc[i].key, tc[i].key_len) == 0)
      j++;
    for (size_t k = i; k < j; k++) {
      t->cands[k] = (cand_t){b.slots[tc[k].rule], &b.cms[tc[k].rule][tc[k].match_index], tc[k].match_index,
                             (sy_gw_path_type_t)tc[k].kind};
    }
    group_t *g = &t->groups[tc[i].group];
    if (tc[i].kind == K_REGEX) {
      g->regex_start = (uint32_t)i;
      g->regex_count = (uint32_t)(j - i);
    } else {
      const char *key = sy_arena_strndup(&t->arena, tc[i].key, tc[i].key_len);
      if (!key) goto out;
      t->ranges[nr] = (range_t){(uint32_t)i, (uint32_t)(j - i)};
      if (sy_gw__htab_put(&t->phash, tc[i].group, tc[i].kind, key, tc[i].key_len, (uint32_t)nr, NULL)) goto out;
      nr++;
      if (tc[i].kind == K_EXACT) g->has_exact = true;
      else {
        g->has_prefix = true;
        if (tc[i].key_len > g->max_prefix) g->max_prefix = tc[i].key_len;
      }
    }
    i = j;
  }
  t->n_cands = ntc;
  rc = 0;
out:
  sy_free(pairs);
  sy_free(tc);
  sy_arena_cleanup(&b.tmp);
  if (rc) {
    table_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

/* -------------------------------------------------------------- lookup */

static bool rx_full(const regex_t *re, const char *s, size_t len) {
  regmatch_t pm[1];
  pm[0].rm_so = 0;
  pm[0].rm_eo = (regoff_t)len;
  return regexec(re, s ? s : "", 1, pm, REG_STARTEND) == 0;
}

static inline int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes enc[0..elen) into out (n bytes). Returns the decoded
 * length, or SIZE_MAX when it does not fit. */
static size_t pct_decode(const char *enc, size_t elen, char *out, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < elen; i++) {
    char c = enc[i];
    int h, l;
    if (c == '%' && i + 2 < elen && (h = hexval(enc[i + 1])) >= 0 && (l = hexval(enc[i + 2])) >= 0) {
      c = (char)(h * 16 + l);
      i += 2;
    }
    if (o >= n) return SIZE_MAX;
    out[o++] = c;
  }
  return o;
}

/* Equality of a percent-encoded string with a plain one, without copying. */
static bool pct_eq(const char *enc, size_t elen, const char *plain, size_t plen) {
  size_t o = 0;
  for (size_t i = 0; i < elen; i++) {
    char c = enc[i];
    int h, l;
    if (c == '%' && i + 2 < elen && (h = hexval(enc[i + 1])) >= 0 && (l = hexval(enc[i + 2])) >= 0) {
      c = (char)(h * 16 + l);
      i += 2;
    }
    if (o >= plen || plain[o] != c) return false;
    o++;
  }
  return o == plen;
}

/* The first value of query parameter `name` (decoded comparison). */
static bool query_find(const char *q, size_t qlen, const char *name, size_t nlen, const char **v, size_t *vlen) {
  size_t i = 0;
  while (i <= qlen) {
    size_t end = i;
    while (end < qlen && q[end] != '&') end++;
    if (end > i) {
      const char *eq = memchr(q + i, '=', end - i);
      size_t klen = eq ? (size_t)(eq - (q + i)) : end - i;
      if (pct_eq(q + i, klen, name, nlen)) {
        *v = eq ? eq + 1 : q + end;
        *vlen = eq ? (size_t)(q + end - (eq + 1)) : 0;
        return true;
      }
    }
    i = end + 1;
  }
  return false;
}

static bool rest_matches(const cmatch_t *cm, const sy_gw_request_t *r) {
  if (cm->method && (cm->method_len != r->method_len || memcmp(cm->method, r->method, r->method_len) != 0))
    return false;
  for (uint32_t i = 0; i < cm->n_headers; i++) {
    const mkv_t *h = &cm->headers[i];
    const sy_gw_req_header_t *rh = NULL;
    for (size_t k = 0; k < r->n_headers && !rh; k++)
      if (sy_gw__ieq(r->headers[k].name, r->headers[k].name_len, h->name, h->name_len)) rh = &r->headers[k];
    if (!rh) return false;
    if (h->re) {
      if (!rx_full(h->re, rh->value, rh->value_len)) return false;
    } else if (rh->value_len != h->value_len || memcmp(rh->value, h->value, h->value_len) != 0) {
      return false;
    }
  }
  for (uint32_t i = 0; i < cm->n_query; i++) {
    const mkv_t *q = &cm->query[i];
    const char *v;
    size_t vlen;
    if (!r->query || !query_find(r->query, r->query_len, q->name, q->name_len, &v, &vlen)) return false;
    if (q->re) {
      char buf[MAX_QUERY_VALUE];
      size_t dl = pct_decode(v, vlen, buf, sizeof(buf));
      if (dl == SIZE_MAX || !rx_full(q->re, buf, dl)) return false;
    } else if (!pct_eq(v, vlen, q->value, q->value_len)) {
      return false;
    }
  }
  return true;
}

static const cand_t *scan(const cand_t *c, uint32_t n, const sy_gw_request_t *r) {
  for (uint32_t i = 0; i < n; i++)
    if (rest_matches(c[i].m, r)) return &c[i];
  return NULL;
}

static const cand_t *try_group(const sy_gw_table_t *t, uint32_t gid, const sy_gw_request_t *r, size_t *prefix_len) {
  const group_t *g = &t->groups[gid];
  const char *path = r->path ? r->path : "";
  size_t plen = r->path ? r->path_len : 0;
  const cand_t *c;
  if (g->has_exact) {
    uint32_t ri = sy_gw__htab_get(&t->phash, gid, K_EXACT, path, plen);
    if (ri != NONE && (c = scan(&t->cands[t->ranges[ri].start], t->ranges[ri].count, r))) return c;
  }
  if (g->has_prefix) {
    size_t k = plen < g->max_prefix ? plen : g->max_prefix;
    for (;; k--) {
      if (k == plen || path[k] == '/') {
        uint32_t ri = sy_gw__htab_get(&t->phash, gid, K_PREFIX, path, k);
        if (ri != NONE && (c = scan(&t->cands[t->ranges[ri].start], t->ranges[ri].count, r))) {
          *prefix_len = k;
          return c;
        }
      }
      if (k == 0) break;
    }
  }
  for (uint32_t i = 0; i < g->regex_count; i++) {
    c = &t->cands[g->regex_start + i];
    const cmatch_t *cm = c->m;
    if (cm->re_lit_len && (plen < cm->re_lit_len || memcmp(path, cm->re_lit, cm->re_lit_len) != 0)) continue;
    if (rx_full(cm->path_re, path, plen) && rest_matches(cm, r)) return c;
  }
  return NULL;
}

const sy_gw_rule_t *sy_gw_table_lookup(const sy_gw_table_t *t, const sy_gw_request_t *r, sy_gw_match_info_t *info) {
  if (!t || !r) return NULL;
  uint32_t pi = port_index(t, r->port);
  if (pi == NONE) return NULL;
  const tport_t *p = &t->ports[pi];
  char host[MAX_HOST];
  size_t hlen = r->host ? sy_gw__host_normalize(r->host, r->host_len, host, sizeof(host)) : 0;
  bool named = hlen != SIZE_MAX && hlen > 0;
  if (!named) hlen = 0;

  /* Listener isolation: the most specific listener hostname. */
  uint32_t lid = NONE;
  if (named && p->has_exact) lid = sy_gw__htab_get(&t->lhash, pi, H_EXACT, host, hlen);
  if (lid == NONE && named && p->has_wild) {
    for (size_t i = 1; i < hlen && lid == NONE; i++)
      if (host[i] == '.') lid = sy_gw__htab_get(&t->lhash, pi, H_WILD, host + i, hlen - i);
  }
  if (lid == NONE) lid = p->any_listener;
  if (lid == NONE) return NULL;
  const tlistener_t *l = &t->listeners[lid];

  /* Host groups from the most specific; the first matching rule wins. */
  const cand_t *c = NULL;
  size_t prefix_len = 0;
  if (named && l->has_exact) {
    uint32_t g = sy_gw__htab_get(&t->ghash, lid, H_EXACT, host, hlen);
    if (g != NONE) c = try_group(t, g, r, &prefix_len);
  }
  if (!c && named && l->has_wild) {
    for (size_t i = 1; i < hlen && !c; i++) {
      if (host[i] != '.') continue;
      uint32_t g = sy_gw__htab_get(&t->ghash, lid, H_WILD, host + i, hlen - i);
      if (g != NONE) c = try_group(t, g, r, &prefix_len);
    }
  }
  if (!c && l->any_group != NONE) c = try_group(t, l->any_group, r, &prefix_len);
  if (!c) return NULL;
  if (info) {
    info->gateway_namespace = l->gw_namespace;
    info->gateway_name = l->gw_name;
    info->listener_name = l->name;
    info->listener_protocol = l->protocol;
    info->match_index = c->match_index;
    info->path_type = c->path_type;
    info->prefix_len = c->path_type == SY_GW_PATH_PREFIX ? prefix_len : 0;
  }
  return c->rule;
}

/* ---------------------------------------------------------------- pick */

sy_gw_pick_t sy_gw_rule_pick(const sy_gw_rule_t *rule, uint64_t rnd, const sy_gw_backend_t **out) {
  *out = NULL;
  if (!rule || rule->filter_error || rule->total_weight == 0) return SY_GW_PICK_500;
  uint64_t x = rnd % rule->total_weight;
  for (size_t i = 0; i < rule->n_backends; i++) {
    const sy_gw_backend_t *b = &rule->backends[i];
    if (x >= b->weight) {
      x -= b->weight;
      continue;
    }
    if (b->type == SY_GW_BACKEND_INVALID) return SY_GW_PICK_500;
    *out = b;
    return (b->type == SY_GW_BACKEND_SERVICE && b->n_endpoints == 0) ? SY_GW_PICK_503 : SY_GW_PICK_OK;
  }
  return SY_GW_PICK_500;
}
