/* gateway — attachment of routes to listeners and the status of the objects
 * we are responsible for. Pure functions over the decoded objects. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_int.h"

/* ----------------------------------------------------------------- helpers */

__attribute__((format(printf, 2, 3))) static const char *fmt(sy_arena_t *a, const char *f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  int n = vsnprintf(buf, sizeof(buf), f, ap);
  va_end(ap);
  if (n < 0) n = 0;
  return sy_arena_strndup(a, buf, SY_MIN((size_t)n, sizeof(buf) - 1));
}

static int cmp_svc(const void *a, const void *b) {
  const sy_gw_service_t *x = *(const sy_gw_service_t *const *)a, *y = *(const sy_gw_service_t *const *)b;
  return sy_gw__nn_cmp(x->meta.namespace_name, x->meta.name, y->meta.namespace_name, y->meta.name);
}
static int cmp_pool(const void *a, const void *b) {
  const sy_gw_pool_ref_t *x = *(const sy_gw_pool_ref_t *const *)a, *y = *(const sy_gw_pool_ref_t *const *)b;
  return sy_gw__nn_cmp(x->namespace_name, x->name, y->namespace_name, y->name);
}
static int cmp_ns(const void *a, const void *b) {
  const sy_gw_namespace_t *x = *(const sy_gw_namespace_t *const *)a, *y = *(const sy_gw_namespace_t *const *)b;
  return strcmp(x->meta.name, y->meta.name);
}
static int cmp_grant(const void *a, const void *b) {
  const sy_gw_refgrant_t *x = *(const sy_gw_refgrant_t *const *)a, *y = *(const sy_gw_refgrant_t *const *)b;
  return strcmp(x->meta.namespace_name, y->meta.namespace_name);
}
static int cmp_slice(const void *a, const void *b) {
  const sy_gw_endpointslice_t *x = *(const sy_gw_endpointslice_t *const *)a,
                              *y = *(const sy_gw_endpointslice_t *const *)b;
  int c = sy_gw__nn_cmp(x->meta.namespace_name, x->service_name, y->meta.namespace_name, y->service_name);
  return c ? c : strcmp(x->meta.name, y->meta.name);
}
static int cmp_secret(const void *a, const void *b) {
  const sy_gw_secret_ref_t *x = *(const sy_gw_secret_ref_t *const *)a, *y = *(const sy_gw_secret_ref_t *const *)b;
  return sy_gw__nn_cmp(x->namespace_name, x->name, y->namespace_name, y->name);
}
static int cmp_gw(const void *a, const void *b) {
  const sy_gw__gateway_t *x = a, *y = b;
  return sy_gw__nn_cmp(x->gw->meta.namespace_name, x->gw->meta.name, y->gw->meta.namespace_name, y->gw->meta.name);
}

/* Copies n pointers into a sorted array from the model arena. */
static int sorted_view(sy_gw__model_t *m, const void *src, size_t n, int (*cmp)(const void *, const void *),
                       void *out) {
  const void **v = NULL;
  if (n) {
    if (!(v = sy_arena_alloc(&m->arena, n * sizeof(*v)))) return -ENOMEM;
    memcpy(v, src, n * sizeof(*v));
    qsort(v, n, sizeof(*v), cmp);
  }
  memcpy(out, &v, sizeof(v));
  return 0;
}

/* Lower bound over a sorted pointer array with a (namespace, name) key. */
typedef int (*key_cmp_fn)(const void *elem, const char *ns, const char *name);

static size_t lower_bound(const void *const *arr, size_t n, const char *ns, const char *name, key_cmp_fn cmp) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cmp(arr[mid], ns, name) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static int key_svc(const void *e, const char *ns, const char *name) {
  const sy_gw_service_t *s = e;
  return sy_gw__nn_cmp(s->meta.namespace_name, s->meta.name, ns, name);
}
static int key_pool(const void *e, const char *ns, const char *name) {
  const sy_gw_pool_ref_t *p = e;
  return sy_gw__nn_cmp(p->namespace_name, p->name, ns, name);
}
static int key_ns(const void *e, const char *ns, const char *name) {
  SY_UNUSED(name);
  return strcmp(((const sy_gw_namespace_t *)e)->meta.name, ns);
}
static int key_grant(const void *e, const char *ns, const char *name) {
  SY_UNUSED(name);
  return strcmp(((const sy_gw_refgrant_t *)e)->meta.namespace_name, ns);
}
static int key_slice(const void *e, const char *ns, const char *name) {
  const sy_gw_endpointslice_t *s = e;
  return sy_gw__nn_cmp(s->meta.namespace_name, s->service_name, ns, name);
}
static int key_secret(const void *e, const char *ns, const char *name) {
  const sy_gw_secret_ref_t *s = e;
  return sy_gw__nn_cmp(s->namespace_name, s->name, ns, name);
}

#define FIND(m, arr, n, ns, name, keyfn)                                                      \
  __extension__({                                                                            \
    size_t i_ = lower_bound((const void *const *)(arr), (n), (ns), (name), (keyfn));          \
    (i_ < (n) && keyfn((arr)[i_], (ns), (name)) == 0) ? (arr)[i_] : NULL;                    \
  })

const sy_gw_service_t *sy_gw__service_find(const sy_gw__model_t *m, const char *ns, const char *name) {
  return FIND(m, m->svcs, m->n_svcs, ns, name, key_svc);
}

static const sy_gw_pool_ref_t *pool_find(const sy_gw__model_t *m, const char *ns, const char *name) {
  return FIND(m, m->pools, m->n_pools, ns, name, key_pool);
}

size_t sy_gw__slices_find(const sy_gw__model_t *m, const char *ns, const char *name, size_t *first) {
  size_t lo = lower_bound((const void *const *)m->slices, m->n_slices, ns, name, key_slice);
  size_t hi = lo;
  while (hi < m->n_slices && key_slice(m->slices[hi], ns, name) == 0) hi++;
  *first = lo;
  return hi - lo;
}

static sy_gw__gateway_t *gw_find(const sy_gw__model_t *m, const char *ns, const char *name) {
  size_t lo = 0, hi = m->n_gws;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = sy_gw__nn_cmp(m->gws[mid].gw->meta.namespace_name, m->gws[mid].gw->meta.name, ns, name);
    if (c == 0) return &m->gws[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

/* True when a ReferenceGrant in `to_ns` allows the reference. */
static bool grant_allows(const sy_gw__model_t *m, const char *from_group, const char *from_kind,
                         const char *from_ns, const char *to_ns, const char *to_group, const char *to_kind,
                         const char *to_name) {
  size_t i = lower_bound((const void *const *)m->grants, m->n_grants, to_ns, NULL, key_grant);
  for (; i < m->n_grants && strcmp(m->grants[i]->meta.namespace_name, to_ns) == 0; i++) {
    const sy_gw_refgrant_t *g = m->grants[i];
    bool from_ok = false, to_ok = false;
    for (size_t j = 0; j < g->n_from && !from_ok; j++)
      from_ok = strcmp(g->from[j].group, from_group) == 0 && strcmp(g->from[j].kind, from_kind) == 0 &&
                strcmp(g->from[j].namespace_name, from_ns) == 0;
    for (size_t j = 0; from_ok && j < g->n_to && !to_ok; j++)
      to_ok = strcmp(g->to[j].group, to_group) == 0 && strcmp(g->to[j].kind, to_kind) == 0 &&
              (!g->to[j].name || strcmp(g->to[j].name, to_name) == 0);
    if (from_ok && to_ok) return true;
  }
  return false;
}

static const sy_gw_label_t *ns_labels(const sy_gw__model_t *m, const char *ns, size_t *n,
                                      sy_gw_label_t *fallback) {
  const sy_gw_namespace_t *o = FIND(m, m->nss, m->n_nss, ns, NULL, key_ns);
  if (o) {
    *n = o->meta.n_labels;
    return o->meta.labels;
  }
  fallback->key = "kubernetes.io/metadata.name";
  fallback->value = ns;
  *n = 1;
  return fallback;
}

const char *sy_gw__backend_check(const sy_gw__model_t *m, const sy_gw_httproute_t *route,
                                 const sy_gw_backend_ref_t *b, sy_gw_backend_type_t *type, char *msg, size_t n) {
  bool svc = b->group[0] == '\0' && strcmp(b->kind, "Service") == 0;
  bool pool = strcmp(b->group, SY_GW_POOL_GROUP) == 0 && strcmp(b->kind, "InferencePool") == 0;
  *type = SY_GW_BACKEND_INVALID;
  if (!svc && !pool) {
    snprintf(msg, n, "backendRef %s: unsupported kind %s%s%s (Service and %s/InferencePool are supported)",
             b->name, b->group, b->group[0] ? "/" : "", b->kind, SY_GW_POOL_GROUP);
    return "InvalidKind";
  }
  if (strcmp(b->namespace_name, route->meta.namespace_name) != 0 &&
      !grant_allows(m, SY_GW_GROUP, "HTTPRoute", route->meta.namespace_name, b->namespace_name, b->group, b->kind,
                    b->name)) {
    snprintf(msg, n, "backendRef %s %s/%s in another namespace is not permitted by any ReferenceGrant", b->kind,
             b->namespace_name, b->name);
    return "RefNotPermitted";
  }
  if (pool) {
    if (!pool_find(m, b->namespace_name, b->name)) {
      snprintf(msg, n, "InferencePool %s/%s not found", b->namespace_name, b->name);
      return "BackendNotFound";
    }
    *type = SY_GW_BACKEND_POOL;
    return NULL;
  }
  const sy_gw_service_t *s = sy_gw__service_find(m, b->namespace_name, b->name);
  if (!s) {
    snprintf(msg, n, "Service %s/%s not found", b->namespace_name, b->name);
    return "BackendNotFound";
  }
  if (strcmp(s->type, "ExternalName") == 0) {
    snprintf(msg, n, "Service %s/%s: ExternalName Services are not supported", b->namespace_name, b->name);
    return "InvalidKind";
  }
  if (b->port == 0) {
    snprintf(msg, n, "backendRef Service %s/%s: port is required", b->namespace_name, b->name);
    return "BackendNotFound";
  }
  bool has_port = false;
  for (size_t i = 0; i < s->n_ports && !has_port; i++) has_port = s->ports[i].port == b->port;
  if (!has_port) {
    snprintf(msg, n, "Service %s/%s has no port %d", b->namespace_name, b->name, (int)b->port);
    return "BackendNotFound";
  }
  *type = SY_GW_BACKEND_SERVICE;
  return NULL;
}

/* ---------------------------------------------------------------- listeners */

static bool served(const sy_gw_input_t *in, int32_t port, sy_gw_protocol_t proto, bool *other_proto) {
  *other_proto = false;
  for (size_t i = 0; i < in->n_ports; i++) {
    if (in->ports[i].port != port) continue;
    if (in->ports[i].protocol == proto) return true;
    *other_proto = true;
  }
  return false;
}

static int eval_listener(sy_gw__model_t *m, const sy_gw_gateway_t *g, sy_gw__listener_t *l) {
  static const sy_gw_group_kind_t HTTPROUTE = {SY_GW_GROUP, "HTTPRoute"};
  const sy_gw_listener_t *s = l->spec;
  sy_arena_t *a = &m->arena;
  /* supportedKinds and InvalidRouteKinds */
  if (s->protocol != SY_GW_PROTO_OTHER) {
    if (s->n_kinds == 0) {
      l->supported = &HTTPROUTE;
      l->n_supported = 1;
      l->allows_httproute = true;
    } else {
      for (size_t i = 0; i < s->n_kinds; i++) {
        bool ok = strcmp(s->kinds[i].group, SY_GW_GROUP) == 0 && strcmp(s->kinds[i].kind, "HTTPRoute") == 0;
        if (ok && !l->allows_httproute) {
          l->supported = &HTTPROUTE;
          l->n_supported = 1;
          l->allows_httproute = true;
        } else if (!ok && !l->refs_reason) {
          l->refs_reason = "InvalidRouteKinds";
          l->refs_msg = fmt(a, "route kind %s/%s is not supported on a %s listener (supported: HTTPRoute)",
                            s->kinds[i].group, s->kinds[i].kind, s->protocol_text);
          if (!l->refs_msg) return -ENOMEM;
        }
      }
    }
  }
  /* HTTPS certificates (Secrets are not read here, see secrets_known) */
  if (s->protocol == SY_GW_PROTO_HTTPS) {
    const char *reason = NULL, *msg = NULL;
    if (!s->has_tls || s->n_cert_refs == 0) {
      reason = "InvalidCertificateRef";
      msg = fmt(a, "listener %s: an HTTPS listener needs tls.certificateRefs", s->name);
    } else if (s->tls_mode != SY_GW_TLS_TERMINATE) {
      reason = "InvalidCertificateRef";
      msg = fmt(a, "listener %s: tls.mode must be Terminate for HTTPS", s->name);
    }
    for (size_t i = 0; !reason && i < s->n_cert_refs; i++) {
      const sy_gw_object_ref_t *c = &s->cert_refs[i];
      if (c->group[0] || strcmp(c->kind, "Secret") != 0) {
        reason = "InvalidCertificateRef";
        msg = fmt(a, "certificateRef %s: unsupported kind %s%s%s (core Secret only)", c->name, c->group,
                  c->group[0] ? "/" : "", c->kind);
      } else if (strcmp(c->namespace_name, g->meta.namespace_name) != 0 &&
                 !grant_allows(m, SY_GW_GROUP, "Gateway", g->meta.namespace_name, c->namespace_name, "", "Secret",
                               c->name)) {
        reason = "RefNotPermitted";
        msg = fmt(a, "certificateRef Secret %s/%s in another namespace is not permitted by any ReferenceGrant",
                  c->namespace_name, c->name);
      } else if (m->in->secrets_known && !FIND(m, m->secrets, m->n_secrets, c->namespace_name, c->name, key_secret)) {
        reason = "InvalidCertificateRef";
        msg = fmt(a, "Secret %s/%s not found", c->namespace_name, c->name);
      }
    }
    if (reason) {
      if (!msg) return -ENOMEM;
      l->refs_reason = reason; /* a certificate problem outranks InvalidRouteKinds */
      l->refs_msg = msg;
    }
  }
  /* Accepted (conflicts are added later) */
  l->accepted = true;
  l->accepted_reason = "Accepted";
  l->accepted_msg = "Listener is accepted";
  if (s->protocol == SY_GW_PROTO_OTHER) {
    l->accepted = false;
    l->accepted_reason = "UnsupportedProtocol";
    l->accepted_msg = fmt(a, "protocol %s is not supported (HTTP and HTTPS are)", s->protocol_text);
  } else {
    bool other;
    if (!served(m->in, s->port, s->protocol, &other)) {
      l->accepted = false;
      l->accepted_reason = "PortUnavailable";
      l->accepted_msg = other ? fmt(a, "port %d is served with another protocol, not %s", (int)s->port, s->protocol_text)
                              : fmt(a, "port %d is not served by the data plane", (int)s->port);
    }
  }
  return l->accepted_msg ? 0 : -ENOMEM;
}

static bool same_host(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int gw_age_cmp(const void *a, const void *b) {
  const sy_gw__gateway_t *x = *(sy_gw__gateway_t *const *)a, *y = *(sy_gw__gateway_t *const *)b;
  if (x->gw->meta.created != y->gw->meta.created) return x->gw->meta.created < y->gw->meta.created ? -1 : 1;
  return sy_gw__nn_cmp(x->gw->meta.namespace_name, x->gw->meta.name, y->gw->meta.namespace_name, y->gw->meta.name);
}

/* Listeners that are not distinct are Conflicted. Within a Gateway all of
 * them lose; across our Gateways (one data plane: they are merged) the
 * listeners of the older Gateway keep the port/hostname. */
static int conflicts(sy_gw__model_t *m) {
  sy_arena_t *a = &m->arena;
  if (!m->n_gws) return 0;
  sy_gw__gateway_t **order = sy_arena_alloc(a, m->n_gws * sizeof(*order));
  const sy_gw__listener_t **claimed = NULL;
  size_t n_claimed = 0, total = 0;
  if (!order) return -ENOMEM;
  for (size_t i = 0; i < m->n_gws; i++) {
    order[i] = &m->gws[i];
    total += m->gws[i].gw->n_listeners;
  }
  if (!(claimed = sy_arena_alloc(a, (total ? total : 1) * sizeof(*claimed)))) return -ENOMEM;
  qsort(order, m->n_gws, sizeof(*order), gw_age_cmp);
  for (size_t gi = 0; gi < m->n_gws; gi++) {
    sy_gw__gateway_t *g = order[gi];
    if (!g->accepted) continue; /* a Gateway we do not program claims nothing */
    size_t nl = g->gw->n_listeners;
    for (size_t i = 0; i < nl; i++) {
      sy_gw__listener_t *l = &g->listeners[i];
      if (l->spec->protocol == SY_GW_PROTO_OTHER) continue;
      for (size_t j = 0; j < nl; j++) {
        const sy_gw__listener_t *o = &g->listeners[j];
        if (i == j || o->spec->protocol == SY_GW_PROTO_OTHER || o->spec->port != l->spec->port) continue;
        if (o->spec->protocol != l->spec->protocol) {
          l->conflict_reason = "ProtocolConflict";
          l->conflict_msg = fmt(a, "listener %s: port %d is also used with protocol %s by listener %s", l->spec->name,
                                (int)l->spec->port, o->spec->protocol_text, o->spec->name);
        } else if (same_host(o->spec->hostname, l->spec->hostname) && !l->conflict_reason) {
          l->conflict_reason = "HostnameConflict";
          l->conflict_msg = fmt(a, "listener %s: port %d and hostname %s are also used by listener %s", l->spec->name,
                                (int)l->spec->port, l->spec->hostname ? l->spec->hostname : "(any)", o->spec->name);
        }
        if (l->conflict_reason && !l->conflict_msg) return -ENOMEM;
      }
      if (l->conflict_reason) continue;
      for (size_t c = 0; c < n_claimed; c++) {
        const sy_gw__listener_t *o = claimed[c];
        if (o->spec->port != l->spec->port) continue;
        if (o->spec->protocol != l->spec->protocol) {
          l->conflict_reason = "ProtocolConflict";
          l->conflict_msg = fmt(a, "port %d is used with protocol %s by an older Gateway", (int)l->spec->port,
                                o->spec->protocol_text);
        } else if (same_host(o->spec->hostname, l->spec->hostname)) {
          l->conflict_reason = "HostnameConflict";
          l->conflict_msg = fmt(a, "port %d and hostname %s are used by an older Gateway", (int)l->spec->port,
                                l->spec->hostname ? l->spec->hostname : "(any)");
        }
        if (l->conflict_reason) {
          if (!l->conflict_msg) return -ENOMEM;
          break;
        }
      }
    }
    for (size_t i = 0; i < nl; i++) {
      const sy_gw__listener_t *l = &g->listeners[i];
      if (l->spec->protocol != SY_GW_PROTO_OTHER && !l->conflict_reason) claimed[n_claimed++] = l;
    }
  }
  return 0;
}

static int eval_gateway(sy_gw__model_t *m, sy_gw__gateway_t *g, const sy_gw_class_t *cls) {
  sy_arena_t *a = &m->arena;
  size_t nl = g->gw->n_listeners;
  g->listeners = sy_arena_calloc(a, (nl ? nl : 1) * sizeof(*g->listeners));
  if (!g->listeners) return -ENOMEM;
  for (size_t i = 0; i < nl; i++) {
    g->listeners[i].spec = &g->gw->listeners[i];
    int rc = eval_listener(m, g->gw, &g->listeners[i]);
    if (rc) return rc;
  }
  g->accepted = true;
  if (cls->has_parameters_ref) {
    g->accepted = false;
    g->accepted_reason = "Invalid";
    g->accepted_msg = fmt(a, "GatewayClass %s is not accepted", cls->meta.name);
  } else if (g->gw->n_addresses) {
    g->accepted = false;
    g->accepted_reason = "UnsupportedAddress";
    g->accepted_msg = "spec.addresses is not supported: the data plane's addresses are fixed";
  }
  return (g->accepted || g->accepted_msg) ? 0 : -ENOMEM;
}

/* After conflicts: listener Accepted/Programmed and the Gateway summary. */
static int finish_gateway(sy_gw__model_t *m, sy_gw__gateway_t *g) {
  sy_arena_t *a = &m->arena;
  size_t nl = g->gw->n_listeners, n_ok = 0;
  bool gw_ok = g->accepted;
  for (size_t i = 0; i < nl; i++) {
    sy_gw__listener_t *l = &g->listeners[i];
    if (l->conflict_reason && l->accepted) {
      l->accepted = false;
      l->accepted_reason = l->conflict_reason;
      l->accepted_msg = l->conflict_msg;
    }
    bool cert_bad = l->refs_reason && strcmp(l->refs_reason, "InvalidRouteKinds") != 0;
    l->programmed = l->accepted && gw_ok && !cert_bad;
    if (l->accepted) n_ok++;
  }
  if (gw_ok) {
    if (n_ok == 0) {
      g->accepted = false;
      g->accepted_reason = "ListenersNotValid";
      g->accepted_msg = "no listener is valid";
    } else if (n_ok < nl) {
      g->accepted_reason = "ListenersNotValid";
      g->accepted_msg = fmt(a, "%zu of %zu listeners are not valid (see the listener conditions)", nl - n_ok, nl);
      if (!g->accepted_msg) return -ENOMEM;
    } else {
      g->accepted_reason = "Accepted";
      g->accepted_msg = "Gateway is accepted";
    }
  }
  g->programmed = g->accepted;
  g->programmed_reason = g->accepted ? "Programmed" : "Invalid";
  g->programmed_msg = g->accepted ? "Gateway is programmed in the data plane" : g->accepted_msg;
  return 0;
}

/* ------------------------------------------------------------- attachment */

static bool ns_allowed(const sy_gw__model_t *m, const sy_gw_gateway_t *g, const sy_gw_listener_t *l,
                       const char *route_ns) {
  switch (l->from) {
    case SY_GW_FROM_SAME: return strcmp(route_ns, g->meta.namespace_name) == 0;
    case SY_GW_FROM_ALL: return true;
    case SY_GW_FROM_SELECTOR: {
      sy_gw_label_t fb;
      size_t n;
      const sy_gw_label_t *labels = ns_labels(m, route_ns, &n, &fb);
      return sy_gw_selector_matches(&l->selector, labels, n);
    }
    case SY_GW_FROM_UNKNOWN: break;
  }
  return false;
}

static bool host_intersects(const sy_gw_httproute_t *r, const sy_gw_listener_t *l) {
  if (!l->hostname || r->n_hostnames == 0) return true;
  for (size_t i = 0; i < r->n_hostnames; i++) {
    bool ok;
    sy_gw_hostname_intersect(l->hostname, r->hostnames[i], &ok);
    if (ok) return true;
  }
  return false;
}

/* `counted`: listeners of g this route was already counted on (another
 * parentRef of the same route): attachedRoutes counts routes, not refs. */
static int attach(sy_gw__model_t *m, uint32_t ri, uint32_t pi, sy_gw__gateway_t *g, uint64_t counted,
                  sy_gw__parent_t *p) {
  sy_arena_t *a = &m->arena;
  const sy_gw_httproute_t *r = m->in->routes[ri];
  const sy_gw_parent_ref_t *ref = &r->parents[pi];
  const sy_gw__route_t *rf = &m->routes[ri];
  uint64_t cand = 0, allowed = 0, hosts = 0;
  for (size_t i = 0; i < g->gw->n_listeners; i++) {
    const sy_gw_listener_t *l = &g->gw->listeners[i];
    if (ref->section_name && strcmp(ref->section_name, l->name) != 0) continue;
    if (ref->port && ref->port != l->port) continue;
    cand |= 1ull << i;
    if (!g->listeners[i].allows_httproute || !ns_allowed(m, g->gw, l, r->meta.namespace_name)) continue;
    allowed |= 1ull << i;
    if (host_intersects(r, l)) hosts |= 1ull << i;
  }
  p->route = ri;
  p->parent = pi;
  p->gw = (uint32_t)(g - m->gws);
  p->accepted = false;
  if (!cand) {
    p->reason = "NoMatchingParent";
    if (ref->section_name && ref->port)
      p->msg = fmt(a, "Gateway %s/%s has no listener named %s on port %d", g->gw->meta.namespace_name,
                   g->gw->meta.name, ref->section_name, (int)ref->port);
    else if (ref->section_name)
      p->msg = fmt(a, "Gateway %s/%s has no listener named %s", g->gw->meta.namespace_name, g->gw->meta.name,
                   ref->section_name);
    else
      p->msg = fmt(a, "Gateway %s/%s has no listener on port %d", g->gw->meta.namespace_name, g->gw->meta.name,
                   (int)ref->port);
  } else if (!allowed) {
    p->reason = "NotAllowedByListeners";
    p->msg = fmt(a, "no listener of Gateway %s/%s allows HTTPRoutes from namespace %s", g->gw->meta.namespace_name,
                 g->gw->meta.name, r->meta.namespace_name);
  } else if (!hosts) {
    p->reason = "NoMatchingListenerHostname";
    p->msg = fmt(a, "no listener of Gateway %s/%s has a hostname matching the route's hostnames",
                 g->gw->meta.namespace_name, g->gw->meta.name);
  } else if (rf->n_invalid_rules == r->n_rules) {
    p->reason = rf->invalid_reason;
    p->msg = rf->invalid_msg;
  } else {
    p->accepted = true;
    p->mask = hosts;
    p->reason = "Accepted";
    p->msg = "Route is accepted";
    for (size_t i = 0; i < g->gw->n_listeners; i++)
      if ((hosts & ~counted) & (1ull << i)) g->listeners[i].attached++;
  }
  return p->msg ? 0 : -ENOMEM;
}

static int eval_route(sy_gw__model_t *m, size_t ri) {
  const sy_gw_httproute_t *r = m->in->routes[ri];
  sy_gw__route_t *rf = &m->routes[ri];
  char msg[400];
  for (size_t i = 0; i < r->n_rules; i++) {
    const sy_gw_route_rule_t *rule = &r->rules[i];
    if (rule->invalid_reason) {
      if (!rf->n_invalid_rules++) {
        rf->invalid_reason = rule->invalid_reason;
        rf->invalid_msg = rule->invalid_message;
      }
    }
    for (size_t j = 0; !rf->refs_reason && j < rule->n_backends; j++) {
      sy_gw_backend_type_t type;
      const char *reason = sy_gw__backend_check(m, r, &rule->backends[j], &type, msg, sizeof(msg));
      if (reason) {
        rf->refs_reason = reason;
        if (!(rf->refs_msg = fmt(&m->arena, "%s", msg))) return -ENOMEM;
      }
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ model */

void sy_gw__model_cleanup(sy_gw__model_t *m) {
  sy_arena_cleanup(&m->arena);
  memset(m, 0, sizeof(*m));
}

int sy_gw__model_build(const sy_gw_input_t *in, sy_gw__model_t *m) {
  int rc;
  memset(m, 0, sizeof(*m));
  m->in = in;
  sy_arena_init(&m->arena, 16384, 0);
  if ((rc = sorted_view(m, in->services, in->n_services, cmp_svc, &m->svcs)) ||
      (rc = sorted_view(m, in->namespaces, in->n_namespaces, cmp_ns, &m->nss)) ||
      (rc = sorted_view(m, in->grants, in->n_grants, cmp_grant, &m->grants)) ||
      (rc = sorted_view(m, in->slices, in->n_slices, cmp_slice, &m->slices)))
    return rc;
  m->n_svcs = in->n_services;
  m->n_nss = in->n_namespaces;
  m->n_grants = in->n_grants;
  m->n_slices = in->n_slices;
  /* Slices without the service-name label sort first (NULL name) and are
   * never found; pools and secrets are arrays of structs. */
  if (in->n_pools) {
    if (!(m->pools = sy_arena_alloc(&m->arena, in->n_pools * sizeof(*m->pools)))) return -ENOMEM;
    for (size_t i = 0; i < in->n_pools; i++) m->pools[i] = &in->pools[i];
    qsort(m->pools, in->n_pools, sizeof(*m->pools), cmp_pool);
    m->n_pools = in->n_pools;
  }
  if (in->n_secrets) {
    if (!(m->secrets = sy_arena_alloc(&m->arena, in->n_secrets * sizeof(*m->secrets)))) return -ENOMEM;
    for (size_t i = 0; i < in->n_secrets; i++) m->secrets[i] = &in->secrets[i];
    qsort(m->secrets, in->n_secrets, sizeof(*m->secrets), cmp_secret);
    m->n_secrets = in->n_secrets;
  }

  /* Our Gateways: class exists and names our controller. */
  const char *ctl = in->controller_name ? in->controller_name : "";
  if (in->n_gateways) {
    if (!(m->gws = sy_arena_calloc(&m->arena, in->n_gateways * sizeof(*m->gws)))) return -ENOMEM;
  }
  const sy_gw_class_t **gw_cls = in->n_gateways ? sy_arena_calloc(&m->arena, in->n_gateways * sizeof(*gw_cls)) : NULL;
  if (in->n_gateways && !gw_cls) return -ENOMEM;
  for (size_t i = 0; i < in->n_gateways; i++) {
    const sy_gw_gateway_t *g = in->gateways[i];
    const sy_gw_class_t *cls = NULL;
    for (size_t j = 0; j < in->n_classes && !cls; j++)
      if (strcmp(in->classes[j]->meta.name, g->class_name) == 0) cls = in->classes[j];
    if (!cls || strcmp(cls->controller_name, ctl) != 0) continue;
    m->gws[m->n_gws].gw = g;
    gw_cls[m->n_gws] = cls;
    m->n_gws++;
  }
  /* Sort gateways and their classes together. */
  for (size_t i = 1; i < m->n_gws; i++) {
    sy_gw__gateway_t g = m->gws[i];
    const sy_gw_class_t *c = gw_cls[i];
    size_t j = i;
    while (j > 0 && cmp_gw(&m->gws[j - 1], &g) > 0) {
      m->gws[j] = m->gws[j - 1];
      gw_cls[j] = gw_cls[j - 1];
      j--;
    }
    m->gws[j] = g;
    gw_cls[j] = c;
  }
  for (size_t i = 0; i < m->n_gws; i++)
    if ((rc = eval_gateway(m, &m->gws[i], gw_cls[i]))) return rc;
  if ((rc = conflicts(m))) return rc;
  for (size_t i = 0; i < m->n_gws; i++)
    if ((rc = finish_gateway(m, &m->gws[i]))) return rc;

  /* Routes and their parents. */
  if (in->n_routes && !(m->routes = sy_arena_calloc(&m->arena, in->n_routes * sizeof(*m->routes)))) return -ENOMEM;
  size_t n_refs = 0;
  for (size_t i = 0; i < in->n_routes; i++) n_refs += in->routes[i]->n_parents;
  if (n_refs && !(m->parents = sy_arena_calloc(&m->arena, n_refs * sizeof(*m->parents)))) return -ENOMEM;
  for (size_t i = 0; i < in->n_routes; i++) {
    const sy_gw_httproute_t *r = in->routes[i];
    bool any = false;
    for (size_t j = 0; j < r->n_parents && !any; j++)
      any = strcmp(r->parents[j].group, SY_GW_GROUP) == 0 && strcmp(r->parents[j].kind, "Gateway") == 0 &&
            gw_find(m, r->parents[j].namespace_name, r->parents[j].name);
    if (!any) continue;
    if ((rc = eval_route(m, i))) return rc;
    size_t first = m->n_parents;
    for (size_t j = 0; j < r->n_parents; j++) {
      const sy_gw_parent_ref_t *ref = &r->parents[j];
      if (strcmp(ref->group, SY_GW_GROUP) != 0 || strcmp(ref->kind, "Gateway") != 0) continue;
      sy_gw__gateway_t *g = gw_find(m, ref->namespace_name, ref->name);
      if (!g) continue;
      uint64_t counted = 0;
      for (size_t k = first; k < m->n_parents; k++)
        if (m->parents[k].gw == (uint32_t)(g - m->gws) && m->parents[k].accepted) counted |= m->parents[k].mask;
      if ((rc = attach(m, (uint32_t)i, (uint32_t)j, g, counted, &m->parents[m->n_parents]))) return rc;
      m->n_parents++;
    }
  }
  return 0;
}

/* ----------------------------------------------------------------- status */

static sy_gw_condition_t cond(const char *type, bool ok, const char *reason, const char *msg, int64_t gen) {
  return (sy_gw_condition_t){type, ok ? SY_GW_COND_TRUE : SY_GW_COND_FALSE, reason, msg ? msg : "", gen};
}

/* Copies a string into the status arena (model strings die with the model). */
static const char *keep(sy_arena_t *a, const char *s, bool *oom) {
  if (!s) return NULL;
  char *c = sy_arena_strndup(a, s, strlen(s));
  if (!c) *oom = true;
  return c;
}

static void keep_cond(sy_arena_t *a, sy_gw_condition_t *c, bool *oom) {
  c->message = keep(a, c->message, oom);
}

typedef struct poolref {
  size_t pool;
  uint32_t gw;
  bool accepted;
} poolref_t;

static int cmp_poolref(const void *a, const void *b) {
  const poolref_t *x = a, *y = b;
  if (x->pool != y->pool) return x->pool < y->pool ? -1 : 1;
  return x->gw < y->gw ? -1 : x->gw > y->gw;
}

static int status_build(const sy_gw__model_t *m, sy_gw_status_t **out) {
  const sy_gw_input_t *in = m->in;
  sy_gw_status_t *st = sy_calloc(1, sizeof(*st));
  if (!st) return -ENOMEM;
  sy_arena_init(&st->arena_, 16384, 0);
  sy_arena_t *a = &st->arena_;
  bool oom = false;
  poolref_t *prs = NULL;
  const char *ctl = in->controller_name ? in->controller_name : "";

  /* GatewayClasses */
  size_t nc = 0;
  for (size_t i = 0; i < in->n_classes; i++) nc += strcmp(in->classes[i]->controller_name, ctl) == 0;
  if (nc && !(st->classes = sy_arena_calloc(a, nc * sizeof(*st->classes)))) goto nomem;
  for (size_t i = 0; i < in->n_classes; i++) {
    const sy_gw_class_t *c = in->classes[i];
    if (strcmp(c->controller_name, ctl) != 0) continue;
    sy_gw_class_status_t *cs = &st->classes[st->n_classes++];
    cs->name = keep(a, c->meta.name, &oom);
    cs->conds[0] = c->has_parameters_ref
                       ? cond("Accepted", false, "InvalidParameters",
                              fmt(a, "parametersRef (%s) is not supported by this controller",
                                  c->parameters_kind ? c->parameters_kind : "?"),
                              c->meta.generation)
                       : cond("Accepted", true, "Accepted", "GatewayClass is accepted", c->meta.generation);
    cs->n_conds = 1;
    if (!cs->conds[0].message) goto nomem;
  }

  /* Gateways */
  if (m->n_gws && !(st->gateways = sy_arena_calloc(a, m->n_gws * sizeof(*st->gateways)))) goto nomem;
  for (size_t i = 0; i < m->n_gws; i++) {
    const sy_gw__gateway_t *g = &m->gws[i];
    sy_gw_gateway_status_t *gs = &st->gateways[st->n_gateways++];
    int64_t gen = g->gw->meta.generation;
    gs->namespace_name = keep(a, g->gw->meta.namespace_name, &oom);
    gs->name = keep(a, g->gw->meta.name, &oom);
    gs->conds[0] = cond("Accepted", g->accepted, g->accepted_reason, g->accepted_msg, gen);
    gs->conds[1] = cond("Programmed", g->programmed, g->programmed_reason, g->programmed_msg, gen);
    gs->n_conds = 2;
    keep_cond(a, &gs->conds[0], &oom);
    keep_cond(a, &gs->conds[1], &oom);
    size_t nl = g->gw->n_listeners;
    if (!(gs->listeners = sy_arena_calloc(a, nl * sizeof(*gs->listeners)))) goto nomem;
    gs->n_listeners = nl;
    for (size_t j = 0; j < nl; j++) {
      const sy_gw__listener_t *l = &g->listeners[j];
      sy_gw_listener_status_t *ls = &gs->listeners[j];
      ls->name = keep(a, l->spec->name, &oom);
      if (l->n_supported) {
        sy_gw_group_kind_t *k = sy_arena_alloc(a, l->n_supported * sizeof(*k));
        if (!k) goto nomem;
        for (size_t x = 0; x < l->n_supported; x++) {
          k[x].group = keep(a, l->supported[x].group, &oom);
          k[x].kind = keep(a, l->supported[x].kind, &oom);
        }
        ls->supported_kinds = k;
        ls->n_supported_kinds = l->n_supported;
      }
      ls->attached_routes = l->attached;
      ls->conds[0] = cond("Accepted", l->accepted, l->accepted_reason, l->accepted_msg, gen);
      ls->conds[1] = l->programmed ? cond("Programmed", true, "Programmed", "Listener is programmed", gen)
                                   : cond("Programmed", false, l->conflict_reason ? l->conflict_reason : "Invalid",
                                          !l->accepted ? l->accepted_msg
                                          : l->refs_reason ? l->refs_msg
                                                           : "the Gateway is not accepted",
                                          gen);
      ls->conds[2] = l->refs_reason ? cond("ResolvedRefs", false, l->refs_reason, l->refs_msg, gen)
                                    : cond("ResolvedRefs", true, "ResolvedRefs", "All references are resolved", gen);
      ls->conds[3] = l->conflict_reason ? (sy_gw_condition_t){"Conflicted", SY_GW_COND_TRUE, l->conflict_reason,
                                                              l->conflict_msg, gen}
                                        : (sy_gw_condition_t){"Conflicted", SY_GW_COND_FALSE, "NoConflicts",
                                                              "No conflicts", gen};
      ls->n_conds = 4;
      for (size_t x = 0; x < 4; x++) keep_cond(a, &ls->conds[x], &oom);
    }
  }

  /* HTTPRoutes: one entry per parentRef to one of our Gateways. */
  size_t nr = 0;
  for (size_t i = 0; i < m->n_parents; i++) nr += i == 0 || m->parents[i].route != m->parents[i - 1].route;
  if (nr && !(st->routes = sy_arena_calloc(a, nr * sizeof(*st->routes)))) goto nomem;
  for (size_t i = 0; i < m->n_parents;) {
    uint32_t ri = m->parents[i].route;
    size_t j = i;
    while (j < m->n_parents && m->parents[j].route == ri) j++;
    const sy_gw_httproute_t *r = in->routes[ri];
    const sy_gw__route_t *rf = &m->routes[ri];
    int64_t gen = r->meta.generation;
    sy_gw_route_status_t *rs = &st->routes[st->n_routes++];
    rs->namespace_name = keep(a, r->meta.namespace_name, &oom);
    rs->name = keep(a, r->meta.name, &oom);
    if (!(rs->parents = sy_arena_calloc(a, (j - i) * sizeof(*rs->parents)))) goto nomem;
    const char *dropped = NULL;
    if (rf->n_invalid_rules && rf->n_invalid_rules < r->n_rules) {
      char list[200];
      size_t o = 0;
      list[0] = '\0';
      for (size_t k = 0; k < r->n_rules && o < sizeof(list) - 8; k++)
        if (r->rules[k].invalid_reason)
          o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%zu", o ? ", " : "", k);
      dropped = fmt(a, "Dropped Rule(s) %s: %s", list, rf->invalid_msg ? rf->invalid_msg : "");
      if (!dropped) goto nomem;
    }
    for (size_t k = i; k < j; k++) {
      const sy_gw__parent_t *p = &m->parents[k];
      sy_gw_route_parent_status_t *ps = &rs->parents[rs->n_parents++];
      const sy_gw_parent_ref_t *ref = &r->parents[p->parent];
      ps->parent_ref = *ref;
      ps->parent_ref.group = keep(a, ref->group, &oom);
      ps->parent_ref.kind = keep(a, ref->kind, &oom);
      ps->parent_ref.namespace_name = keep(a, ref->namespace_name, &oom);
      ps->parent_ref.name = keep(a, ref->name, &oom);
      ps->parent_ref.section_name = keep(a, ref->section_name, &oom);
      ps->controller_name = keep(a, ctl, &oom);
      ps->conds[0] = cond("Accepted", p->accepted, p->reason, p->msg, gen);
      ps->conds[1] = rf->refs_reason ? cond("ResolvedRefs", false, rf->refs_reason, rf->refs_msg, gen)
                                     : cond("ResolvedRefs", true, "ResolvedRefs", "All references are resolved", gen);
      ps->n_conds = 2;
      if (dropped && p->accepted) {
        ps->conds[2] = (sy_gw_condition_t){"PartiallyInvalid", SY_GW_COND_TRUE, "UnsupportedValue", dropped, gen};
        ps->n_conds = 3;
      }
      for (size_t x = 0; x < 2; x++) keep_cond(a, &ps->conds[x], &oom);
    }
    i = j;
  }

  /* InferencePools: one parent per Gateway of ours routing to the pool. */
  size_t n_prs = 0, cap_prs = 0;
  for (size_t i = 0; i < m->n_parents; i++) {
    const sy_gw__parent_t *p = &m->parents[i];
    const sy_gw_httproute_t *r = in->routes[p->route];
    for (size_t k = 0; k < r->n_rules; k++) {
      for (size_t b = 0; b < r->rules[k].n_backends; b++) {
        const sy_gw_backend_ref_t *br = &r->rules[k].backends[b];
        if (strcmp(br->group, SY_GW_POOL_GROUP) != 0 || strcmp(br->kind, "InferencePool") != 0) continue;
        char msg[300];
        sy_gw_backend_type_t type;
        if (sy_gw__backend_check(m, r, br, &type, msg, sizeof(msg))) continue;
        const sy_gw_pool_ref_t *pool = pool_find(m, br->namespace_name, br->name);
        size_t pidx = (size_t)(pool - in->pools);
        if (n_prs == cap_prs) {
          cap_prs = cap_prs ? cap_prs * 2 : 16;
          poolref_t *np = sy_realloc(prs, cap_prs * sizeof(*np));
          if (!np) goto nomem;
          prs = np;
        }
        prs[n_prs++] = (poolref_t){pidx, p->gw, p->accepted};
      }
    }
  }
  if (n_prs) qsort(prs, n_prs, sizeof(*prs), cmp_poolref);
  size_t npools = 0;
  for (size_t i = 0; i < n_prs; i++) npools += i == 0 || prs[i].pool != prs[i - 1].pool;
  if (npools && !(st->pools = sy_arena_calloc(a, npools * sizeof(*st->pools)))) goto nomem;
  for (size_t i = 0; i < n_prs;) {
    size_t j = i, ngw = 0;
    while (j < n_prs && prs[j].pool == prs[i].pool) {
      ngw += j == i || prs[j].gw != prs[j - 1].gw;
      j++;
    }
    const sy_gw_pool_ref_t *pool = &in->pools[prs[i].pool];
    sy_gw_pool_status_t *ps = &st->pools[st->n_pools++];
    ps->namespace_name = keep(a, pool->namespace_name, &oom);
    ps->name = keep(a, pool->name, &oom);
    if (!(ps->parents = sy_arena_calloc(a, ngw * sizeof(*ps->parents)))) goto nomem;
    /* endpointPickerRef */
    const char *refs_reason = NULL, *refs_msg = "All references are resolved";
    if (pool->epp_name) {
      const char *kind = pool->epp_kind ? pool->epp_kind : "Service";
      const char *group = pool->epp_group ? pool->epp_group : "";
      if (group[0] || strcmp(kind, "Service") != 0) {
        refs_reason = "InvalidExtensionRef";
        refs_msg = fmt(a, "endpointPickerRef kind %s%s%s is not supported (core Service only)", group,
                       group[0] ? "/" : "", kind);
      } else if (!sy_gw__service_find(m, pool->namespace_name, pool->epp_name)) {
        refs_reason = "InvalidExtensionRef";
        refs_msg = fmt(a, "endpointPickerRef Service %s/%s not found", pool->namespace_name, pool->epp_name);
      }
      if (!refs_msg) goto nomem;
    }
    for (size_t k = i; k < j;) {
      size_t e = k;
      bool accepted = false;
      while (e < j && prs[e].gw == prs[k].gw) accepted |= prs[e++].accepted;
      const sy_gw__gateway_t *g = &m->gws[prs[k].gw];
      sy_gw_pool_parent_status_t *pp = &ps->parents[ps->n_parents++];
      pp->gateway_namespace = keep(a, g->gw->meta.namespace_name, &oom);
      pp->gateway_name = keep(a, g->gw->meta.name, &oom);
      pp->conds[0] = accepted ? cond("Accepted", true, "Accepted", "InferencePool is accepted by the Gateway",
                                     pool->generation)
                              : cond("Accepted", false, "HTTPRouteNotAccepted",
                                     "no HTTPRoute referencing this InferencePool is accepted by the Gateway",
                                     pool->generation);
      pp->conds[1] = refs_reason ? cond("ResolvedRefs", false, refs_reason, refs_msg, pool->generation)
                                 : cond("ResolvedRefs", true, "ResolvedRefs", refs_msg, pool->generation);
      pp->n_conds = 2;
      k = e;
    }
    i = j;
  }
  sy_free(prs);
  prs = NULL;
  if (oom) goto nomem;
  *out = st;
  return 0;
nomem:
  sy_free(prs);
  sy_gw_status_free(st);
  return -ENOMEM;
}

void sy_gw_status_free(sy_gw_status_t *st) {
  if (!st) return;
  sy_arena_cleanup(&st->arena_);
  sy_free(st);
}

int sy_gw_compute(const sy_gw_input_t *in, sy_gw_status_t **status_out, sy_gw_table_t **table_out) {
  sy_gw__model_t m;
  sy_gw_status_t *st = NULL;
  sy_gw_table_t *t = NULL;
  if (status_out) *status_out = NULL;
  if (table_out) *table_out = NULL;
  int rc = sy_gw__model_build(in, &m);
  if (!rc && status_out) rc = status_build(&m, &st);
  if (!rc && table_out) rc = sy_gw__table_build(&m, &t);
  sy_gw__model_cleanup(&m);
  if (rc) {
    sy_gw_status_free(st);
    sy_gw_table_unref(t);
    return rc;
  }
  if (status_out) *status_out = st;
  if (table_out) *table_out = t;
  return 0;
}
