/* Unit tests for lib/gateway: decoding and defaults, attachment and status,
 * the route table's precedence, weighted picks and the filter helpers. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "gateway.h"
#include "test_support.h"
#include "yaml.h"

#define CTL "switchyard.dev/gateway-controller"

/* ---------------------------------------------------------------- fixtures */

#define CLASS                                          \
  "apiVersion: gateway.networking.k8s.io/v1\n"         \
  "kind: GatewayClass\n"                               \
  "metadata: {name: sy}\n"                             \
  "spec: {controllerName: " CTL "}\n"

/* One HTTP listener on port 80 that admits routes of its own namespace. */
#define GATEWAY                                                    \
  "---\n"                                                          \
  "apiVersion: gateway.networking.k8s.io/v1\n"                     \
  "kind: Gateway\n"                                                \
  "metadata: {name: gw, generation: 3}\n"                          \
  "spec:\n"                                                        \
  "  gatewayClassName: sy\n"                                       \
  "  listeners: [{name: http, port: 80, protocol: HTTP}]\n"

#define ROUTE_AT(name, created)                          \
  "---\n"                                                \
  "apiVersion: gateway.networking.k8s.io/v1\n"           \
  "kind: HTTPRoute\n"                                    \
  "metadata: {name: " name ", creationTimestamp: \"" created "\"}\n" \
  "spec:\n"                                              \
  "  parentRefs: [{name: gw}]\n"

#define ROUTE(name) ROUTE_AT(name, "2024-01-01T00:00:00Z")

/* A route whose parentRefs line the caller writes. */
#define ROUTE_NP(name)                                   \
  "---\n"                                                \
  "apiVersion: gateway.networking.k8s.io/v1\n"           \
  "kind: HTTPRoute\n"                                    \
  "metadata: {name: " name ", creationTimestamp: \"2024-01-01T00:00:00Z\"}\n" \
  "spec:\n"

static const sy_gw_listen_port_t PORTS[] = {
    {80, SY_GW_PROTO_HTTP}, {443, SY_GW_PROTO_HTTPS}, {8080, SY_GW_PROTO_HTTP}};

typedef struct world {
  sy_gw_objects_t *o;
  sy_gw_input_t in;
  sy_gw_status_t *st;
  sy_gw_table_t *t;
} world_t;

static void world_init_pools(world_t *w, const char *yaml, const sy_gw_pool_ref_t *pools, size_t n_pools) {
  memset(w, 0, sizeof(*w));
  sy_gw_error_t err;
  int rc = sy_gw_objects_load_buffer("w.yaml", yaml, strlen(yaml), 0, &w->o, &err);
  char buf[1200];
  ck_assert_msg(rc == 0, "load failed (%d): %s", rc, sy_gw_error_str(&err, buf, sizeof(buf)));
  w->in.controller_name = CTL;
  w->in.ports = PORTS;
  w->in.n_ports = SY_ARRAY_LEN(PORTS);
  w->in.pools = pools;
  w->in.n_pools = n_pools;
  sy_gw_objects_input(w->o, &w->in);
  ck_assert_int_eq(sy_gw_compute(&w->in, &w->st, &w->t), 0);
}

static void world_init(world_t *w, const char *yaml) { world_init_pools(w, yaml, NULL, 0); }

static void world_free(world_t *w) {
  sy_gw_table_unref(w->t);
  sy_gw_status_free(w->st);
  sy_gw_objects_free(w->o);
}

static const sy_gw_condition_t *cond_of(const sy_gw_condition_t *c, size_t n, const char *type) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(c[i].type, type) == 0) return &c[i];
  return NULL;
}

#define EXPECT_COND(conds, n, type, want_status, want_reason)                                     \
  do {                                                                                            \
    const sy_gw_condition_t *c_ = cond_of((conds), (n), (type));                                  \
    ck_assert_msg(c_ != NULL, "no %s condition", (type));                                         \
    ck_assert_msg(c_->status == (want_status) && strcmp(c_->reason, (want_reason)) == 0,          \
                  "%s: got %s/%s (%s), want %s/%s", (type), sy_gw_cond_status_str(c_->status),    \
                  c_->reason, c_->message, sy_gw_cond_status_str(want_status), (want_reason));    \
  } while (0)

static const sy_gw_gateway_status_t *gw_status(const sy_gw_status_t *st, const char *ns, const char *name) {
  for (size_t i = 0; i < st->n_gateways; i++)
    if (strcmp(st->gateways[i].namespace_name, ns) == 0 && strcmp(st->gateways[i].name, name) == 0)
      return &st->gateways[i];
  return NULL;
}

static const sy_gw_listener_status_t *listener_status(const sy_gw_status_t *st, const char *gw, const char *l) {
  const sy_gw_gateway_status_t *g = gw_status(st, "default", gw);
  ck_assert_ptr_nonnull(g);
  for (size_t i = 0; i < g->n_listeners; i++)
    if (strcmp(g->listeners[i].name, l) == 0) return &g->listeners[i];
  ck_abort_msg("no listener %s", l);
  return NULL;
}

static const sy_gw_route_status_t *route_status(const sy_gw_status_t *st, const char *ns, const char *name) {
  for (size_t i = 0; i < st->n_routes; i++)
    if (strcmp(st->routes[i].namespace_name, ns) == 0 && strcmp(st->routes[i].name, name) == 0) return &st->routes[i];
  return NULL;
}

/* Accepted reason of the route's parent `i` ("-" when the route has no status). */
static const sy_gw_route_parent_status_t *rparent(const sy_gw_status_t *st, const char *ns, const char *name, size_t i) {
  const sy_gw_route_status_t *r = route_status(st, ns, name);
  ck_assert_msg(r != NULL, "no status for route %s/%s", ns, name);
  ck_assert_uint_gt(r->n_parents, i);
  return &r->parents[i];
}

/* "ns/name#rule" of the winning rule, or "404". Headers are "name: value". */
static const char *route_for(const sy_gw_table_t *t, int port, const char *host, const char *method,
                             const char *path, const char *query, const char *const *headers,
                             sy_gw_match_info_t *info) {
  static char out[256];
  sy_gw_req_header_t h[16];
  size_t nh = 0;
  for (; headers && headers[nh] && nh < 16; nh++) {
    const char *colon = strchr(headers[nh], ':');
    h[nh].name = headers[nh];
    h[nh].name_len = (size_t)(colon - headers[nh]);
    h[nh].value = colon + 2;
    h[nh].value_len = strlen(colon + 2);
  }
  sy_gw_request_t req = {.port = port, .host = host, .host_len = host ? strlen(host) : 0,
                         .method = method ? method : "GET", .method_len = strlen(method ? method : "GET"),
                         .path = path, .path_len = strlen(path), .query = query, .query_len = query ? strlen(query) : 0,
                         .headers = h, .n_headers = nh};
  const sy_gw_rule_t *r = sy_gw_table_lookup(t, &req, info);
  if (!r) return "404";
  snprintf(out, sizeof(out), "%s/%s#%u", r->route_namespace, r->route_name, r->rule_index);
  return out;
}

/* ------------------------------------------------------------ decoding */

static sy_gw_objects_t *load_ok(const char *yaml, unsigned flags) {
  sy_gw_objects_t *o = NULL;
  sy_gw_error_t err;
  char buf[1200];
  int rc = sy_gw_objects_load_buffer("m.yaml", yaml, strlen(yaml), flags, &o, &err);
  ck_assert_msg(rc == 0, "load failed: %s", sy_gw_error_str(&err, buf, sizeof(buf)));
  return o;
}

START_TEST(test_route_defaults) {
  sy_gw_objects_t *o = load_ok("apiVersion: gateway.networking.k8s.io/v1\n"
                               "kind: HTTPRoute\n"
                               "metadata: {name: r, namespace: apps, generation: 7, creationTimestamp: \"2024-02-03T04:05:06Z\"}\n"
                               "spec:\n"
                               "  parentRefs: [{name: gw}, {name: gw2, namespace: infra, sectionName: https, port: 443}]\n"
                               "  hostnames: [foo.example.com, \"*.example.org\"]\n"
                               "---\n"
                               "apiVersion: gateway.networking.k8s.io/v1\n"
                               "kind: HTTPRoute\n"
                               "metadata: {name: r2, namespace: apps}\n"
                               "spec:\n"
                               "  rules:\n"
                               "  - backendRefs: [{name: svc, port: 8000}]\n"
                               "  - matches:\n"
                               "    - headers: [{name: X-A, value: \"1\"}, {name: x-a, value: \"2\"}, {name: x-b, value: v, type: RegularExpression}]\n"
                               "      queryParams: [{name: q, value: \"1\"}, {name: q, value: \"2\"}, {name: Q, value: \"3\"}]\n"
                               "      method: POST\n"
                               "    - path: {value: /x}\n"
                               "    - path: {type: Exact}\n"
                               "    backendRefs: [{name: pool, group: inference.networking.k8s.io, kind: InferencePool, namespace: ml, weight: 0}]\n",
                               0);
  ck_assert_uint_eq(o->n_routes, 2);
  const sy_gw_httproute_t *r = o->routes[0];
  ck_assert_str_eq(r->meta.namespace_name, "apps");
  ck_assert_int_eq(r->meta.generation, 7);
  ck_assert_int_eq(r->meta.created, 1706933106);
  ck_assert_uint_eq(r->n_parents, 2);
  ck_assert_str_eq(r->parents[0].group, "gateway.networking.k8s.io");
  ck_assert_str_eq(r->parents[0].kind, "Gateway");
  ck_assert_str_eq(r->parents[0].namespace_name, "apps");
  ck_assert(!r->parents[0].namespace_set);
  ck_assert_ptr_null(r->parents[0].section_name);
  ck_assert_int_eq(r->parents[0].port, 0);
  ck_assert_str_eq(r->parents[1].namespace_name, "infra");
  ck_assert(r->parents[1].namespace_set);
  ck_assert_str_eq(r->parents[1].section_name, "https");
  ck_assert_int_eq(r->parents[1].port, 443);
  ck_assert_uint_eq(r->n_hostnames, 2);
  ck_assert_str_eq(r->hostnames[0], "foo.example.com");
  /* no rules: one rule with PathPrefix "/" */
  ck_assert_uint_eq(r->n_rules, 1);
  ck_assert_uint_eq(r->rules[0].n_matches, 1);
  ck_assert_int_eq(r->rules[0].matches[0].path_type, SY_GW_PATH_PREFIX);
  ck_assert_str_eq(r->rules[0].matches[0].path, "/");
  ck_assert_int_eq(r->rules[0].timeout_request_ms, -1);

  r = o->routes[1];
  ck_assert_uint_eq(r->n_parents, 0);
  ck_assert_uint_eq(r->n_rules, 2);
  const sy_gw_route_rule_t *rule = &r->rules[0];
  ck_assert_uint_eq(rule->n_matches, 1);
  ck_assert_int_eq(rule->matches[0].path_type, SY_GW_PATH_PREFIX);
  ck_assert_str_eq(rule->matches[0].path, "/");
  ck_assert_uint_eq(rule->n_backends, 1);
  ck_assert_str_eq(rule->backends[0].group, "");
  ck_assert_str_eq(rule->backends[0].kind, "Service");
  ck_assert_str_eq(rule->backends[0].namespace_name, "apps");
  ck_assert_uint_eq(rule->backends[0].weight, 1);
  ck_assert_int_eq(rule->backends[0].port, 8000);
  rule = &r->rules[1];
  ck_assert_ptr_null(rule->invalid_reason);
  ck_assert_uint_eq(rule->n_matches, 3);
  const sy_gw_match_t *m = &rule->matches[0];
  ck_assert_int_eq(m->path_type, SY_GW_PATH_PREFIX); /* no path: PathPrefix "/" */
  ck_assert_str_eq(m->path, "/");
  ck_assert_str_eq(m->method, "POST");
  ck_assert_uint_eq(m->n_headers, 2); /* x-a repeated (case-insensitively): first kept */
  ck_assert_str_eq(m->headers[0].name, "X-A");
  ck_assert_str_eq(m->headers[0].value, "1");
  ck_assert_int_eq(m->headers[0].type, SY_GW_VALUE_EXACT);
  ck_assert_int_eq(m->headers[1].type, SY_GW_VALUE_REGEX);
  ck_assert_uint_eq(m->n_query, 2); /* q repeated: first kept; Q is another name */
  ck_assert_str_eq(m->query[0].value, "1");
  ck_assert_str_eq(m->query[1].name, "Q");
  ck_assert_int_eq(m->query[0].type, SY_GW_VALUE_EXACT);
  ck_assert_int_eq(rule->matches[1].path_type, SY_GW_PATH_PREFIX); /* type defaults to PathPrefix */
  ck_assert_str_eq(rule->matches[1].path, "/x");
  ck_assert_int_eq(rule->matches[2].path_type, SY_GW_PATH_EXACT); /* value defaults to "/" */
  ck_assert_str_eq(rule->matches[2].path, "/");
  ck_assert_ptr_null(rule->matches[2].method);
  ck_assert_str_eq(rule->backends[0].group, "inference.networking.k8s.io");
  ck_assert_str_eq(rule->backends[0].namespace_name, "ml");
  ck_assert_uint_eq(rule->backends[0].weight, 0);
  sy_gw_objects_free(o);
}
END_TEST

START_TEST(test_filters_decode) {
  sy_gw_objects_t *o = load_ok(
      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  rules:\n"
      "  - matches: [{path: {type: PathPrefix, value: /api}}]\n"
      "    filters:\n"
      "    - type: RequestHeaderModifier\n"
      "      requestHeaderModifier:\n"
      "        set: [{name: x-set, value: s}]\n"
      "        add: [{name: x-add, value: a}, {name: x-add2, value: b}]\n"
      "        remove: [x-gone]\n"
      "    - type: ResponseHeaderModifier\n"
      "      responseHeaderModifier: {set: [{name: x-r, value: \"1\"}]}\n"
      "    - type: URLRewrite\n"
      "      urlRewrite: {hostname: internal.example.com, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}\n"
      "    - type: ExtensionRef\n"
      "      extensionRef: {group: example.com, kind: Thing, name: t}\n"
      "    backendRefs: [{name: s, port: 80, filters: [{type: RequestHeaderModifier, requestHeaderModifier: {remove: [x-b]}}]}]\n"
      "  - filters:\n"
      "    - type: RequestRedirect\n"
      "      requestRedirect: {scheme: https, hostname: secure.example.com, port: 8443, statusCode: 301,\n"
      "                        path: {type: ReplaceFullPath, replaceFullPath: /moved}}\n"
      "  - filters: [{type: RequestRedirect, requestRedirect: {}}]\n"
      "  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}}}]\n"
      "  - timeouts: {request: 2m, backendRequest: 1m500ms}\n"
      "  - retry: {attempts: 2}\n",
      0);
  const sy_gw_httproute_t *r = o->routes[0];
  ck_assert_uint_eq(r->n_rules, 6);
  const sy_gw_route_rule_t *rule = &r->rules[0];
  ck_assert_ptr_null(rule->invalid_reason);
  ck_assert_uint_eq(rule->n_filters, 4);
  const sy_gw_filter_t *f = &rule->filters[0];
  ck_assert_int_eq(f->type, SY_GW_FILTER_REQUEST_HEADER);
  ck_assert_uint_eq(f->headers.n_set, 1);
  ck_assert_str_eq(f->headers.set[0].name, "x-set");
  ck_assert_str_eq(f->headers.set[0].value, "s");
  ck_assert_uint_eq(f->headers.n_add, 2);
  ck_assert_str_eq(f->headers.add[1].name, "x-add2");
  ck_assert_uint_eq(f->headers.n_remove, 1);
  ck_assert_str_eq(f->headers.remove[0], "x-gone");
  f = &rule->filters[1];
  ck_assert_int_eq(f->type, SY_GW_FILTER_RESPONSE_HEADER);
  ck_assert_str_eq(f->headers.set[0].name, "x-r");
  f = &rule->filters[2];
  ck_assert_int_eq(f->type, SY_GW_FILTER_URL_REWRITE);
  ck_assert_str_eq(f->rewrite.hostname, "internal.example.com");
  ck_assert_int_eq(f->rewrite.path.type, SY_GW_PATHMOD_PREFIX);
  ck_assert_str_eq(f->rewrite.path.value, "/v2");
  f = &rule->filters[3];
  ck_assert_int_eq(f->type, SY_GW_FILTER_EXTENSION_REF);
  ck_assert_str_eq(f->extension.group, "example.com");
  ck_assert_str_eq(f->extension.kind, "Thing");
  ck_assert_str_eq(f->extension_name, "t");
  ck_assert_uint_eq(rule->backends[0].n_filters, 1);
  ck_assert_str_eq(rule->backends[0].filters[0].headers.remove[0], "x-b");

  f = &r->rules[1].filters[0];
  ck_assert_int_eq(f->type, SY_GW_FILTER_REDIRECT);
  ck_assert_str_eq(f->redirect.scheme, "https");
  ck_assert_str_eq(f->redirect.hostname, "secure.example.com");
  ck_assert_int_eq(f->redirect.port, 8443);
  ck_assert_int_eq(f->redirect.status_code, 301);
  ck_assert_int_eq(f->redirect.path.type, SY_GW_PATHMOD_FULL);
  ck_assert_str_eq(f->redirect.path.value, "/moved");
  f = &r->rules[2].filters[0]; /* defaults */
  ck_assert_int_eq(f->redirect.status_code, 302);
  ck_assert_ptr_null(f->redirect.scheme);
  ck_assert_int_eq(f->redirect.port, 0);
  ck_assert_int_eq(f->redirect.path.type, SY_GW_PATHMOD_NONE);
  /* RequestMirror is valid but not implemented: the rule is not programmed */
  ck_assert_int_eq(r->rules[3].filters[0].type, SY_GW_FILTER_UNSUPPORTED);
  ck_assert_str_eq(r->rules[3].invalid_reason, "UnsupportedValue");
  ck_assert_ptr_nonnull(strstr(r->rules[3].invalid_message, "RequestMirror"));
  ck_assert_int_eq(r->rules[4].timeout_request_ms, 120000);
  ck_assert_int_eq(r->rules[4].timeout_backend_ms, 60500);
  ck_assert_str_eq(r->rules[5].invalid_reason, "UnsupportedValue");
  sy_gw_objects_free(o);
}
END_TEST

START_TEST(test_gateway_decode) {
  sy_gw_objects_t *o = load_ok(
      CLASS GATEWAY
      "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2, namespace: infra}\n"
      "spec:\n  gatewayClassName: sy\n  listeners:\n"
      "  - {name: a, port: 80, protocol: http, hostname: \"*.example.com\",\n"
      "     allowedRoutes: {namespaces: {from: All}}}\n"
      "  - name: b\n    port: 443\n    protocol: HTTPS\n"
      "    tls: {certificateRefs: [{name: cert}, {name: c2, namespace: certs, kind: Secret, group: \"\"}]}\n"
      "    allowedRoutes:\n"
      "      namespaces:\n"
      "        from: Selector\n"
      "        selector:\n"
      "          matchLabels: {team: a}\n"
      "          matchExpressions: [{key: env, operator: In, values: [prod, staging]}, {key: off, operator: DoesNotExist}]\n"
      "      kinds: [{kind: HTTPRoute}, {group: example.com, kind: FooRoute}]\n"
      "  - {name: c, port: 9000, protocol: TCP}\n"
      "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: certs}\n"
      "spec:\n  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}]\n"
      "  to: [{group: \"\", kind: Secret}, {group: \"\", kind: Service, name: s}]\n"
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: apps}\n"
      "spec: {type: ClusterIP, clusterIP: 10.0.0.1, selector: {app: x},\n"
      "       ports: [{name: http, port: 80, targetPort: 8080}, {port: 81, targetPort: web}, {port: 82}]}\n"
      "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
      "metadata: {name: s-abc, namespace: apps, labels: {kubernetes.io/service-name: s}}\n"
      "addressType: IPv4\n"
      "endpoints: [{addresses: [10.1.0.1], conditions: {ready: true}}, {addresses: [10.1.0.2], conditions: {ready: false}},\n"
      "            {addresses: [10.1.0.3]}]\n"
      "ports: [{name: http, port: 8080, protocol: TCP}]\n"
      "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {team: a}}\n"
      "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored}\n",
      0);
  ck_assert_uint_eq(o->n_classes, 1);
  ck_assert_str_eq(o->classes[0]->controller_name, CTL);
  ck_assert_str_eq(o->classes[0]->meta.namespace_name, "");
  ck_assert_uint_eq(o->n_gateways, 2);
  const sy_gw_gateway_t *g = o->gateways[0];
  ck_assert_str_eq(g->meta.namespace_name, "default");
  ck_assert_int_eq(g->listeners[0].from, SY_GW_FROM_SAME); /* default */
  ck_assert_ptr_null(g->listeners[0].hostname);
  g = o->gateways[1];
  ck_assert_uint_eq(g->n_listeners, 3);
  const sy_gw_listener_t *l = &g->listeners[0];
  ck_assert_int_eq(l->protocol, SY_GW_PROTO_HTTP); /* case-insensitive */
  ck_assert_str_eq(l->hostname, "*.example.com");
  ck_assert_int_eq(l->from, SY_GW_FROM_ALL);
  l = &g->listeners[1];
  ck_assert_int_eq(l->protocol, SY_GW_PROTO_HTTPS);
  ck_assert(l->has_tls);
  ck_assert_int_eq(l->tls_mode, SY_GW_TLS_TERMINATE);
  ck_assert_uint_eq(l->n_cert_refs, 2);
  ck_assert_str_eq(l->cert_refs[0].kind, "Secret");
  ck_assert_str_eq(l->cert_refs[0].group, "");
  ck_assert_str_eq(l->cert_refs[0].namespace_name, "infra");
  ck_assert_str_eq(l->cert_refs[1].namespace_name, "certs");
  ck_assert_int_eq(l->from, SY_GW_FROM_SELECTOR);
  ck_assert_uint_eq(l->selector.n_match_labels, 1);
  ck_assert_uint_eq(l->selector.n_exprs, 2);
  ck_assert_int_eq(l->selector.exprs[1].op, SY_GW_SEL_DOES_NOT_EXIST);
  ck_assert_uint_eq(l->n_kinds, 2);
  ck_assert_str_eq(l->kinds[0].group, "gateway.networking.k8s.io");
  ck_assert_int_eq(g->listeners[2].protocol, SY_GW_PROTO_OTHER);

  ck_assert_uint_eq(o->n_grants, 1);
  ck_assert_str_eq(o->grants[0]->from[0].kind, "Gateway");
  ck_assert_ptr_null(o->grants[0]->to[0].name);
  ck_assert_str_eq(o->grants[0]->to[1].name, "s");

  const sy_gw_service_t *s = o->services[0];
  ck_assert_uint_eq(s->n_ports, 3);
  ck_assert_str_eq(s->ports[0].name, "http");
  ck_assert_int_eq(s->ports[0].target_port, 8080);
  ck_assert_str_eq(s->ports[1].target_port_name, "web");
  ck_assert_int_eq(s->ports[2].target_port, 82);
  ck_assert_str_eq(s->ports[2].name, "");

  const sy_gw_endpointslice_t *es = o->slices[0];
  ck_assert_str_eq(es->service_name, "s");
  ck_assert_int_eq(es->address_type, SY_GW_ADDR_IPV4);
  ck_assert_uint_eq(es->n_endpoints, 3);
  ck_assert(es->endpoints[0].ready);
  ck_assert(!es->endpoints[1].ready);
  ck_assert(es->endpoints[2].ready); /* unset counts as ready */
  ck_assert_int_eq(es->ports[0].port, 8080);

  ck_assert_uint_eq(o->n_namespaces, 1);
  ck_assert_str_eq(o->namespaces[0]->meta.labels[0].value, "a");

  /* selectors */
  sy_gw_label_t yes[] = {{"team", "a"}, {"env", "prod"}};
  sy_gw_label_t no1[] = {{"team", "a"}, {"env", "dev"}};
  sy_gw_label_t no2[] = {{"team", "a"}, {"env", "prod"}, {"off", ""}};
  const sy_gw_selector_t *sel = &o->gateways[1]->listeners[1].selector;
  ck_assert(sy_gw_selector_matches(sel, yes, 2));
  ck_assert(!sy_gw_selector_matches(sel, no1, 2));
  ck_assert(!sy_gw_selector_matches(sel, no2, 3));
  sy_gw_objects_free(o);
}
END_TEST

/* Strict decoding: each case must fail with a message containing `want`
 * at the given line (0: any). */
typedef struct bad_case {
  const char *yaml;
  const char *want;
  int line;
} bad_case_t;

#define HR "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"
#define GW_HEAD "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n"

static const bad_case_t bad_cases[] = {
    {HR "spec:\n  rules:\n  - bogus: 1\n", "HTTPRoute default/r: spec.rules[0].bogus: unknown field", 6},
    {HR "spec:\n  rules: [{matches: [{path: {type: Prefix, value: /}}]}]\n",
     "spec.rules[0].matches[0].path.type: must be one of Exact, PathPrefix, RegularExpression", 5},
    {HR "spec:\n  rules: [{matches: [{path: {value: foo}}]}]\n", "must be an absolute path", 5},
    {HR "spec:\n  rules: [{matches: [{path: {value: /a//b}}]}]\n", "must not contain '//'", 5},
    {HR "spec:\n  rules: [{matches: [{path: {value: \"/a b\"}}]}]\n", "not allowed in a path", 5},
    {HR "spec:\n  rules: [{matches: [{path: {type: RegularExpression, value: \"(\"}}]}]\n",
     "not a valid POSIX extended regular expression", 5},
    {HR "spec:\n  rules: [{matches: [{headers: [{name: x, type: RegularExpression, value: \"(a*)*\\\\1\"}]}]}]\n",
     "not a valid POSIX extended regular expression", 5},
    {HR "spec:\n  rules: [{matches: [{method: FETCH}]}]\n", "spec.rules[0].matches[0].method: must be one of GET", 5},
    {HR "spec:\n  rules: [{matches: [{headers: [{name: \"bad name\", value: x}]}]}]\n", "not a valid HTTP header name", 5},
    {HR "spec:\n  rules: [{matches: [{headers: [{name: x}]}]}]\n", "spec.rules[0].matches[0].headers[0].value: required", 5},
    {HR "spec:\n  rules: [{backendRefs: [{name: s, port: 80, weight: 2000000}]}]\n",
     "spec.rules[0].backendRefs[0].weight: must be between 0 and 1000000", 5},
    {HR "spec:\n  rules: [{backendRefs: [{name: s}]}]\n", "must have port for Service reference", 5},
    {HR "spec:\n  rules: [{backendRefs: [{name: s, port: \"80\"}]}]\n", "must be an integer, not a string", 5},
    {HR "spec:\n  rules: [{backendRefs: [{name: s, port: 80}], filters: [{type: RequestRedirect, requestRedirect: {}}]}]\n",
     "RequestRedirect filter must not be used together with backendRefs", 5},
    {HR "spec:\n  rules: [{filters: [{type: RequestRedirect, requestRedirect: {}}, {type: URLRewrite, urlRewrite: {}}]}]\n",
     "either RequestRedirect or URLRewrite", 5},
    {HR "spec:\n  rules: [{filters: [{type: RequestHeaderModifier, requestHeaderModifier: {}},\n"
        "                     {type: RequestHeaderModifier, requestHeaderModifier: {}}]}]\n",
     "RequestHeaderModifier filter cannot be repeated", 5},
    {HR "spec:\n  rules: [{filters: [{type: RequestHeaderModifier}]}]\n",
     "filter.requestHeaderModifier must be specified for RequestHeaderModifier", 5},
    {HR "spec:\n  rules: [{filters: [{type: CORS, requestHeaderModifier: {}}]}]\n",
     "filter.requestHeaderModifier must be nil if the filter.type is not RequestHeaderModifier", 5},
    {HR "spec:\n  rules: [{filters: [{type: Compress}]}]\n", "must be one of RequestHeaderModifier", 5},
    {HR "spec:\n  rules: [{matches: [{path: {type: Exact, value: /a}}],\n"
        "           filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}]}]\n",
     "exactly one PathPrefix match", 5},
    {HR "spec:\n  rules: [{filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath}}}]}]\n",
     "replaceFullPath must be specified", 5},
    {HR "spec:\n  rules: [{filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-A, value: v}], remove: [x-a]}}]}]\n",
     "has more than one action", 5},
    {HR "spec:\n  rules: [{filters: [{type: RequestRedirect, requestRedirect: {statusCode: 304}}]}]\n",
     "statusCode: must be one of 301, 302, 303, 307, 308", 5},
    {HR "spec:\n  rules: [{filters: [{type: RequestRedirect, requestRedirect: {scheme: ftp}}]}]\n",
     "scheme: must be one of http, https", 5},
    {HR "spec:\n  rules: [{timeouts: {request: 10 seconds}}]\n", "is not a Gateway API duration", 5},
    {HR "spec:\n  rules: [{timeouts: {request: 1s, backendRequest: 2s}}]\n", "cannot be longer than request", 5},
    {HR "spec:\n  hostnames: [Foo.example.com]\n", "spec.hostnames[0]: \"Foo.example.com\" is not a valid hostname", 5},
    {HR "spec:\n  hostnames: [\"10.0.0.1.\"]\n", "is not a valid hostname", 5},
    {HR "spec:\n  parentRefs: [{name: gw}, {name: gw}]\n", "must be unique when parentRefs includes 2 or more", 5},
    {HR "spec:\n  parentRefs: [{name: gw, sectionName: a}, {name: gw}]\n", "must be specified when parentRefs includes 2", 5},
    {HR "spec:\n  parentRefs: [{name: gw, port: 0}]\n", "port: must be between 1 and 65535", 5},
    {HR "spec:\n  rules: [{name: a}, {name: a}]\n", "rule name must be unique", 5},
    {HR "spec: {rules: [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}]}\n",
     "spec.rules: must have at most 16 items, has 17", 4},
    {"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: Bad_Name}\nspec: {}\n",
     "metadata.name: \"Bad_Name\" must be a lowercase RFC 1123 subdomain", 3},
    {"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n", "HTTPRoute default/r: spec: required", 1},
    {GW_HEAD "spec: {gatewayClassName: sy}\n", "Gateway default/g: spec.listeners: required", 4},
    {GW_HEAD "spec: {gatewayClassName: sy, listeners: []}\n", "spec.listeners: must have 1 to 64 items, has 0", 4},
    {GW_HEAD "spec: {gatewayClassName: sy, listeners: [{name: a, port: 443, protocol: HTTPS}]}\n",
     "spec.listeners[0]: tls is required for protocol HTTPS", 4},
    {GW_HEAD "spec: {gatewayClassName: sy, listeners: [{name: a, port: 80, protocol: HTTP, tls: {certificateRefs: [{name: c}]}}]}\n",
     "tls must not be specified for protocol HTTP", 4},
    {GW_HEAD "spec: {gatewayClassName: sy, listeners: [{name: a, port: 80, protocol: HTTP}, {name: a, port: 81, protocol: HTTP}]}\n",
     "must be unique within the Gateway", 4},
    {GW_HEAD "spec: {gatewayClassName: sy, listeners: [{name: a, port: 80, protocol: HTTP}, {name: b, port: 80, protocol: HTTP}]}\n",
     "combination of port, protocol and hostname must be unique", 4},
    {GW_HEAD "spec: {gatewayClassName: sy, listeners: [{name: a, port: 70000, protocol: HTTP}]}\n",
     "spec.listeners[0].port: must be between 1 and 65535", 4},
    {GW_HEAD "spec: {gatewayClassName: sy, listeners: [{name: a, port: 80, protocol: HTTP, hostname: \"*\"}]}\n",
     "is not a valid (optionally \"*.\"-prefixed) hostname", 4},
    {GW_HEAD "spec: {gatewayClassName: sy, listeners: [{name: a, port: 80, protocol: HTTP,\n"
             "  allowedRoutes: {namespaces: {from: Selector}}}]}\n",
     "selector must be specified when from is Selector", 5},
    {GW_HEAD "spec: {gatewayClassName: sy, listeners: [{name: a, port: 80, protocol: HTTP,\n"
             "  allowedRoutes: {namespaces: {from: Elsewhere}}}]}\n",
     "from: must be one of Same, All, Selector", 5},
    {GW_HEAD "spec: {gatewayClassName: sy, listeners: [{name: a, port: 80, protocol: HTTP,\n"
             "  allowedRoutes: {namespaces: {from: Selector, selector: {matchExpressions: [{key: a, operator: In}]}}}}]}\n",
     "values must be non-empty for operator In", 5},
    {"apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: c}\nspec: {controllerName: nopath}\n",
     "must be a domain-prefixed path", 4},
    {"apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g}\n"
     "spec: {from: [{group: \"\", kind: HTTPRoute, namespace: a}]}\n",
     "ReferenceGrant default/g: spec.to: required", 4},
    {"apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g}\n"
     "spec: {from: [{kind: HTTPRoute, namespace: a}], to: [{group: \"\", kind: Service}]}\n",
     "spec.from[0].group: required", 4},
    {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\nendpoints: []\n",
     "EndpointSlice default/e: addressType: required", 1},
    {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: 0}]}\n",
     "targetPort: must be between 1 and 65535", 4},
    {CLASS "---\n" CLASS, "GatewayClass sy: duplicate: already defined at m.yaml:1:1", 6},
    {"kind: HTTPRoute\n", "document has no apiVersion", 1},
    {"- a\n", "must be a mapping", 1},
    {"apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: List, items: [\n"
     "  {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: List, items: []}]}]}]}]\n",
     "is nested more than 4 deep", 0},
};

START_TEST(test_bad_objects) {
  const bad_case_t *c = &bad_cases[_i];
  sy_gw_objects_t *o = (sy_gw_objects_t *)1;
  sy_gw_error_t err;
  memset(&err, 0, sizeof(err));
  int rc = sy_gw_objects_load_buffer("m.yaml", c->yaml, strlen(c->yaml), 0, &o, &err);
  char buf[1200];
  ck_assert_msg(rc != 0, "case %d unexpectedly decoded:\n%s", _i, c->yaml);
  ck_assert_ptr_null(o);
  sy_gw_error_str(&err, buf, sizeof(buf));
  ck_assert_msg(strstr(err.msg, c->want) != NULL, "case %d: want \"%s\" in \"%s\"", _i, c->want, buf);
  if (c->line) ck_assert_msg(err.line == c->line, "case %d: line %d, want %d (%s)", _i, err.line, c->line, buf);
  ck_assert_str_eq(err.file, "m.yaml");
}
END_TEST

/* API-server objects: unknown fields are ignored; an enum value newer than
 * us marks the rule invalid instead of failing. */
START_TEST(test_lenient) {
  const char *doc = HR "spec:\n  futureField: 1\n  rules:\n"
                       "  - matches: [{path: {type: Glob, value: /a}, futureMatch: 1}]\n"
                       "  - matches: [{method: QUERY}]\n"
                       "  - filters: [{type: Compress, compress: {}}]\n"
                       "  - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 399}}]\n"
                       "  - matches: [{headers: [{type: Glob, name: a, value: b}]}]\n"
                       "  - matches: [{path: {value: /ok}}]\n";
  sy_gw_objects_t *o = load_ok(doc, SY_GW_DECODE_LENIENT);
  const sy_gw_httproute_t *r = o->routes[0];
  ck_assert_uint_eq(r->n_rules, 6);
  for (size_t i = 0; i < 5; i++) {
    ck_assert_msg(r->rules[i].invalid_reason && strcmp(r->rules[i].invalid_reason, "UnsupportedValue") == 0,
                  "rule %zu", i);
  }
  ck_assert_ptr_nonnull(strstr(r->rules[0].invalid_message, "\"Glob\""));
  ck_assert_ptr_null(r->rules[5].invalid_reason);
  sy_gw_objects_free(o);
  /* strict mode rejects the same document */
  sy_gw_error_t err;
  ck_assert_int_eq(sy_gw_objects_load_buffer("m.yaml", doc, strlen(doc), 0, &o, &err), SY_EINVAL);
}
END_TEST

/* API-server JSON goes through sy_yaml_from_json and the same decoder. */
START_TEST(test_json) {
  const char *json = "{\"metadata\":{\"name\":\"r\",\"namespace\":\"apps\",\"uid\":\"u-1\",\"generation\":4,"
                     "\"creationTimestamp\":\"2024-01-01T00:00:01Z\",\"managedFields\":[]},"
                     "\"spec\":{\"parentRefs\":[{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"Gateway\",\"name\":\"gw\"}],"
                     "\"rules\":[{\"matches\":[{\"path\":{\"type\":\"PathPrefix\",\"value\":\"/v1\"}}],"
                     "\"backendRefs\":[{\"group\":\"\",\"kind\":\"Service\",\"name\":\"s\",\"port\":80,\"weight\":1}]}]},"
                     "\"status\":{\"parents\":[]}}";
  cJSON *root = cJSON_Parse(json);
  ck_assert_ptr_nonnull(root);
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t ye;
  ck_assert_int_eq(sy_yaml_from_json("apiserver", root, &s, &ye), 0);
  sy_gw_httproute_t r;
  sy_gw_error_t err;
  ck_assert_int_eq(sy_gw_object_decode(SY_GW_KIND_HTTPROUTE, s->docs[0].root, "apiserver", SY_GW_DECODE_LENIENT, &r, &err), 0);
  ck_assert_str_eq(r.meta.uid, "u-1");
  ck_assert_int_eq(r.meta.generation, 4);
  ck_assert_str_eq(r.meta.origin, "apiserver");
  ck_assert_str_eq(r.rules[0].matches[0].path, "/v1");
  ck_assert_int_eq(r.rules[0].backends[0].port, 80);
  sy_gw_object_cleanup(SY_GW_KIND_HTTPROUTE, &r);
  /* a JSON type error is located by field path (no line) */
  cJSON_Delete(root);
  root = cJSON_Parse("{\"metadata\":{\"name\":\"r\"},\"spec\":{\"rules\":[{\"backendRefs\":[{\"name\":\"s\",\"port\":\"x\"}]}]}}");
  sy_yaml_stream_free(s);
  ck_assert_int_eq(sy_yaml_from_json("apiserver", root, &s, &ye), 0);
  ck_assert_int_eq(sy_gw_object_decode(SY_GW_KIND_HTTPROUTE, s->docs[0].root, "apiserver", SY_GW_DECODE_LENIENT, &r, &err),
                   SY_EINVAL);
  ck_assert_ptr_nonnull(strstr(err.msg, "HTTPRoute default/r: spec.rules[0].backendRefs[0].port: must be an integer"));
  ck_assert_int_eq(err.line, 0);
  ck_assert_ptr_null(r.meta.name); /* left clean */
  sy_yaml_stream_free(s);
  cJSON_Delete(root);
}
END_TEST

START_TEST(test_kind_of) {
  ck_assert_int_eq(sy_gw_kind_of("gateway.networking.k8s.io/v1", "HTTPRoute"), SY_GW_KIND_HTTPROUTE);
  ck_assert_int_eq(sy_gw_kind_of("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"), SY_GW_KIND_REFERENCE_GRANT);
  ck_assert_int_eq(sy_gw_kind_of("gateway.networking.k8s.io/v1", "ReferenceGrant"), SY_GW_KIND_REFERENCE_GRANT);
  ck_assert_int_eq(sy_gw_kind_of("discovery.k8s.io/v1", "EndpointSlice"), SY_GW_KIND_ENDPOINT_SLICE);
  ck_assert_int_eq(sy_gw_kind_of("v1", "Service"), SY_GW_KIND_SERVICE);
  ck_assert_int_eq(sy_gw_kind_of("v1", "Pod"), -1);
  ck_assert_int_eq(sy_gw_kind_of("gateway.networking.k8s.io/v1", "GRPCRoute"), -1);
  ck_assert_str_eq(sy_gw_kind_name(SY_GW_KIND_GATEWAY_CLASS), "GatewayClass");
}
END_TEST

/* ------------------------------------------------------------- hostnames */

START_TEST(test_hostname_intersect) {
  static const struct {
    const char *listener, *route, *want; /* want "-" = no intersection */
  } cases[] = {
      {NULL, NULL, NULL},
      {NULL, "a.example.com", "a.example.com"},
      {"a.example.com", NULL, "a.example.com"},
      {"a.example.com", "a.example.com", "a.example.com"},
      {"a.example.com", "b.example.com", "-"},
      {"*.example.com", "a.example.com", "a.example.com"},
      {"*.example.com", "a.b.example.com", "a.b.example.com"},
      {"*.example.com", "example.com", "-"},
      {"*.example.com", "a.example.net", "-"},
      {"a.example.com", "*.example.com", "a.example.com"},
      {"example.com", "*.example.com", "-"},
      {"*.example.com", "*.example.com", "*.example.com"},
      {"*.example.com", "*.a.example.com", "*.a.example.com"},
      {"*.a.example.com", "*.example.com", "*.a.example.com"},
      {"*.example.com", "*.example.net", "-"},
      {"*.example.com", "*.xexample.com", "-"},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    bool ok;
    const char *got = sy_gw_hostname_intersect(cases[i].listener, cases[i].route, &ok);
    if (cases[i].want && strcmp(cases[i].want, "-") == 0) {
      ck_assert_msg(!ok, "case %zu intersected", i);
    } else {
      ck_assert_msg(ok, "case %zu did not intersect", i);
      if (!cases[i].want) ck_assert_ptr_null(got);
      else ck_assert_str_eq(got, cases[i].want);
    }
  }
  ck_assert(sy_gw_hostname_matches("*.example.com", "a.example.com", 13));
  ck_assert(!sy_gw_hostname_matches("*.example.com", "example.com", 11));
  ck_assert(!sy_gw_hostname_matches("*.example.com", ".example.com", 12));
  ck_assert(sy_gw_hostname_matches(NULL, "x", 1));
}
END_TEST

/* --------------------------------------------------------------- status */

START_TEST(test_status_basic) {
  world_t w;
  world_init(&w, CLASS
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: other}\n"
             "spec: {controllerName: example.com/other}\n"
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: params, generation: 2}\n"
             "spec: {controllerName: " CTL ", parametersRef: {group: example.com, kind: Config, name: c}}\n"
             GATEWAY
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: theirs}\n"
             "spec: {gatewayClassName: other, listeners: [{name: http, port: 80, protocol: HTTP}]}\n"
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gp}\n"
             "spec: {gatewayClassName: params, listeners: [{name: http, port: 8080, protocol: HTTP}]}\n"
             ROUTE("r") "  rules: [{backendRefs: [{name: s, port: 80}]}]\n"
             "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n");
  /* classes: ours only */
  ck_assert_uint_eq(w.st->n_classes, 2);
  ck_assert_str_eq(w.st->classes[0].name, "sy");
  EXPECT_COND(w.st->classes[0].conds, w.st->classes[0].n_conds, "Accepted", SY_GW_COND_TRUE, "Accepted");
  ck_assert_str_eq(w.st->classes[1].name, "params");
  EXPECT_COND(w.st->classes[1].conds, 1, "Accepted", SY_GW_COND_FALSE, "InvalidParameters");
  ck_assert_int_eq(w.st->classes[1].conds[0].observed_generation, 2);
  /* gateways: ours only */
  ck_assert_uint_eq(w.st->n_gateways, 2);
  ck_assert_ptr_null(gw_status(w.st, "default", "theirs"));
  const sy_gw_gateway_status_t *g = gw_status(w.st, "default", "gw");
  EXPECT_COND(g->conds, g->n_conds, "Accepted", SY_GW_COND_TRUE, "Accepted");
  EXPECT_COND(g->conds, g->n_conds, "Programmed", SY_GW_COND_TRUE, "Programmed");
  ck_assert_int_eq(g->conds[0].observed_generation, 3);
  const sy_gw_listener_status_t *l = &g->listeners[0];
  ck_assert_int_eq(l->attached_routes, 1);
  ck_assert_uint_eq(l->n_supported_kinds, 1);
  ck_assert_str_eq(l->supported_kinds[0].kind, "HTTPRoute");
  ck_assert_str_eq(l->supported_kinds[0].group, "gateway.networking.k8s.io");
  EXPECT_COND(l->conds, l->n_conds, "Accepted", SY_GW_COND_TRUE, "Accepted");
  EXPECT_COND(l->conds, l->n_conds, "Programmed", SY_GW_COND_TRUE, "Programmed");
  EXPECT_COND(l->conds, l->n_conds, "ResolvedRefs", SY_GW_COND_TRUE, "ResolvedRefs");
  EXPECT_COND(l->conds, l->n_conds, "Conflicted", SY_GW_COND_FALSE, "NoConflicts");
  g = gw_status(w.st, "default", "gp");
  EXPECT_COND(g->conds, g->n_conds, "Accepted", SY_GW_COND_FALSE, "Invalid");
  EXPECT_COND(g->listeners[0].conds, 4, "Programmed", SY_GW_COND_FALSE, "Invalid");
  /* route */
  const sy_gw_route_parent_status_t *p = rparent(w.st, "default", "r", 0);
  ck_assert_str_eq(p->controller_name, CTL);
  ck_assert_str_eq(p->parent_ref.name, "gw");
  ck_assert(!p->parent_ref.namespace_set);
  EXPECT_COND(p->conds, p->n_conds, "Accepted", SY_GW_COND_TRUE, "Accepted");
  EXPECT_COND(p->conds, p->n_conds, "ResolvedRefs", SY_GW_COND_TRUE, "ResolvedRefs");
  ck_assert_uint_eq(p->n_conds, 2);
  world_free(&w);
}
END_TEST

START_TEST(test_status_listeners) {
  world_t w;
  world_init(&w, CLASS
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"
             "spec:\n  gatewayClassName: sy\n  listeners:\n"
             "  - {name: http, port: 80, protocol: HTTP, hostname: a.example.com}\n"
             "  - {name: tcp, port: 9000, protocol: TCP}\n"
             "  - {name: unserved, port: 81, protocol: HTTP}\n"
             "  - {name: wrongproto, port: 8080, protocol: HTTPS, tls: {certificateRefs: [{name: c}]}}\n"
             "  - {name: kinds, port: 80, protocol: HTTP, hostname: b.example.com,\n"
             "     allowedRoutes: {kinds: [{kind: HTTPRoute}, {kind: GRPCRoute}]}}\n"
             "  - {name: badkinds, port: 80, protocol: HTTP, hostname: c.example.com,\n"
             "     allowedRoutes: {kinds: [{group: example.com, kind: HTTPRoute}]}}\n"
             "  - {name: xns, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: c, namespace: certs}]}}\n"
             "  - {name: granted, port: 443, protocol: HTTPS, hostname: g.example.com,\n"
             "     tls: {certificateRefs: [{name: c, namespace: certs2}]}}\n"
             "  - {name: notsecret, port: 443, protocol: HTTPS, hostname: n.example.com,\n"
             "     tls: {certificateRefs: [{name: c, kind: ConfigMap}]}}\n"
             "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: rg, namespace: certs2}\n"
             "spec: {from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}], to: [{group: \"\", kind: Secret}]}\n"
             "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: wrong, namespace: certs}\n"
             "spec: {from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}], to: [{group: \"\", kind: Secret}]}\n"
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: none}\n"
             "spec: {gatewayClassName: sy, listeners: [{name: x, port: 9001, protocol: UDP}]}\n"
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: addr}\n"
             "spec: {gatewayClassName: sy, addresses: [{value: 1.2.3.4}], listeners: [{name: x, port: 80, protocol: HTTP, hostname: addr.example.com}]}\n");
  const sy_gw_gateway_status_t *g = gw_status(w.st, "default", "gw");
  EXPECT_COND(g->conds, 2, "Accepted", SY_GW_COND_TRUE, "ListenersNotValid");
  const sy_gw_listener_status_t *l = listener_status(w.st, "gw", "http");
  EXPECT_COND(l->conds, 4, "Accepted", SY_GW_COND_TRUE, "Accepted");
  l = listener_status(w.st, "gw", "tcp");
  EXPECT_COND(l->conds, 4, "Accepted", SY_GW_COND_FALSE, "UnsupportedProtocol");
  EXPECT_COND(l->conds, 4, "Programmed", SY_GW_COND_FALSE, "Invalid");
  ck_assert_uint_eq(l->n_supported_kinds, 0);
  l = listener_status(w.st, "gw", "unserved");
  EXPECT_COND(l->conds, 4, "Accepted", SY_GW_COND_FALSE, "PortUnavailable");
  l = listener_status(w.st, "gw", "wrongproto");
  EXPECT_COND(l->conds, 4, "Accepted", SY_GW_COND_FALSE, "PortUnavailable");
  ck_assert_ptr_nonnull(strstr(cond_of(l->conds, 4, "Accepted")->message, "another protocol"));
  l = listener_status(w.st, "gw", "kinds");
  EXPECT_COND(l->conds, 4, "ResolvedRefs", SY_GW_COND_FALSE, "InvalidRouteKinds");
  EXPECT_COND(l->conds, 4, "Programmed", SY_GW_COND_TRUE, "Programmed");
  ck_assert_uint_eq(l->n_supported_kinds, 1);
  l = listener_status(w.st, "gw", "badkinds");
  EXPECT_COND(l->conds, 4, "ResolvedRefs", SY_GW_COND_FALSE, "InvalidRouteKinds");
  ck_assert_uint_eq(l->n_supported_kinds, 0);
  l = listener_status(w.st, "gw", "xns");
  EXPECT_COND(l->conds, 4, "ResolvedRefs", SY_GW_COND_FALSE, "RefNotPermitted");
  EXPECT_COND(l->conds, 4, "Programmed", SY_GW_COND_FALSE, "Invalid");
  l = listener_status(w.st, "gw", "granted");
  EXPECT_COND(l->conds, 4, "ResolvedRefs", SY_GW_COND_TRUE, "ResolvedRefs");
  EXPECT_COND(l->conds, 4, "Programmed", SY_GW_COND_TRUE, "Programmed");
  l = listener_status(w.st, "gw", "notsecret");
  EXPECT_COND(l->conds, 4, "ResolvedRefs", SY_GW_COND_FALSE, "InvalidCertificateRef");
  g = gw_status(w.st, "default", "none");
  EXPECT_COND(g->conds, 2, "Accepted", SY_GW_COND_FALSE, "ListenersNotValid");
  EXPECT_COND(g->conds, 2, "Programmed", SY_GW_COND_FALSE, "Invalid");
  g = gw_status(w.st, "default", "addr");
  EXPECT_COND(g->conds, 2, "Accepted", SY_GW_COND_FALSE, "UnsupportedAddress");
  world_free(&w);

  /* Secrets, when known, must exist. */
  world_init(&w, CLASS "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"
                       "spec: {gatewayClassName: sy, listeners: [{name: a, port: 443, protocol: HTTPS, hostname: a.x.io,\n"
                       "  tls: {certificateRefs: [{name: present}]}}, {name: b, port: 443, protocol: HTTPS, hostname: b.x.io,\n"
                       "  tls: {certificateRefs: [{name: absent}]}}]}\n");
  sy_gw_secret_ref_t secrets[] = {{"default", "present"}};
  w.in.secrets_known = true;
  w.in.secrets = secrets;
  w.in.n_secrets = 1;
  sy_gw_status_t *st;
  ck_assert_int_eq(sy_gw_compute(&w.in, &st, NULL), 0);
  EXPECT_COND(listener_status(st, "gw", "a")->conds, 4, "ResolvedRefs", SY_GW_COND_TRUE, "ResolvedRefs");
  EXPECT_COND(listener_status(st, "gw", "b")->conds, 4, "ResolvedRefs", SY_GW_COND_FALSE, "InvalidCertificateRef");
  sy_gw_status_free(st);
  world_free(&w);
}
END_TEST

START_TEST(test_status_conflicts) {
  world_t w;
  world_init(&w, CLASS
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
             "metadata: {name: old, creationTimestamp: \"2024-01-01T00:00:00Z\"}\n"
             "spec:\n  gatewayClassName: sy\n  listeners:\n"
             "  - {name: a, port: 80, protocol: HTTP, hostname: a.example.com}\n"
             "  - {name: any, port: 8080, protocol: HTTP}\n"
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
             "metadata: {name: new, creationTimestamp: \"2024-06-01T00:00:00Z\"}\n"
             "spec:\n  gatewayClassName: sy\n  listeners:\n"
             "  - {name: a, port: 80, protocol: HTTP, hostname: a.example.com}\n"
             "  - {name: b, port: 80, protocol: HTTP, hostname: b.example.com}\n"
             "  - {name: p1, port: 443, protocol: HTTPS, hostname: p.example.com, tls: {certificateRefs: [{name: c}]}}\n"
             "  - {name: p2, port: 443, protocol: HTTP, hostname: q.example.com}\n");
  /* across our Gateways (one data plane) the older Gateway keeps the port */
  EXPECT_COND(listener_status(w.st, "old", "a")->conds, 4, "Conflicted", SY_GW_COND_FALSE, "NoConflicts");
  const sy_gw_listener_status_t *l = listener_status(w.st, "new", "a");
  EXPECT_COND(l->conds, 4, "Conflicted", SY_GW_COND_TRUE, "HostnameConflict");
  EXPECT_COND(l->conds, 4, "Accepted", SY_GW_COND_FALSE, "HostnameConflict");
  EXPECT_COND(l->conds, 4, "Programmed", SY_GW_COND_FALSE, "HostnameConflict");
  EXPECT_COND(listener_status(w.st, "new", "b")->conds, 4, "Conflicted", SY_GW_COND_FALSE, "NoConflicts");
  EXPECT_COND(listener_status(w.st, "new", "p1")->conds, 4, "Conflicted", SY_GW_COND_TRUE, "ProtocolConflict");
  EXPECT_COND(listener_status(w.st, "new", "p2")->conds, 4, "Conflicted", SY_GW_COND_TRUE, "ProtocolConflict");
  EXPECT_COND(gw_status(w.st, "default", "new")->conds, 2, "Accepted", SY_GW_COND_TRUE, "ListenersNotValid");
  world_free(&w);
}
END_TEST

START_TEST(test_status_conflicts_within) {
  /* Within one Gateway every indistinct listener loses (no winner). The CRD
   * rejects exact duplicates, so this comes through the lenient decoder. */
  const char *doc = CLASS "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: self}\n"
                          "spec:\n  gatewayClassName: sy\n  listeners:\n"
                          "  - {name: x, port: 80, protocol: HTTP, hostname: x.example.com}\n"
                          "  - {name: y, port: 80, protocol: http, hostname: x.example.com}\n"
                          "  - {name: z, port: 80, protocol: HTTP, hostname: z.example.com}\n";
  sy_gw_objects_t *o = load_ok(doc, SY_GW_DECODE_LENIENT);
  sy_gw_input_t in = {.controller_name = CTL, .ports = PORTS, .n_ports = SY_ARRAY_LEN(PORTS)};
  sy_gw_objects_input(o, &in);
  sy_gw_status_t *st;
  ck_assert_int_eq(sy_gw_compute(&in, &st, NULL), 0);
  EXPECT_COND(listener_status(st, "self", "x")->conds, 4, "Conflicted", SY_GW_COND_TRUE, "HostnameConflict");
  EXPECT_COND(listener_status(st, "self", "y")->conds, 4, "Conflicted", SY_GW_COND_TRUE, "HostnameConflict");
  EXPECT_COND(listener_status(st, "self", "z")->conds, 4, "Conflicted", SY_GW_COND_FALSE, "NoConflicts");
  sy_gw_status_free(st);
  sy_gw_objects_free(o);
}
END_TEST

#define NS(name, labels) "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: " name ", labels: " labels "}\n"
#define XROUTE(ns, name, parent) \
  "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: " name ", namespace: " ns "}\n" \
  "spec:\n  parentRefs: [" parent "]\n"

START_TEST(test_status_attachment) {
  world_t w;
  world_init(&w, CLASS
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: infra}\n"
             "spec:\n  gatewayClassName: sy\n  listeners:\n"
             "  - {name: same, port: 80, protocol: HTTP, hostname: same.example.com}\n"
             "  - {name: all, port: 80, protocol: HTTP, hostname: \"*.all.example.com\", allowedRoutes: {namespaces: {from: All}}}\n"
             "  - {name: sel, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector,\n"
             "       selector: {matchLabels: {gw-access: \"yes\"}}}}}\n"
             "  - {name: byname, port: 80, protocol: HTTP, hostname: byname.example.com, allowedRoutes: {namespaces: {from: Selector,\n"
             "       selector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [teamb]}]}}}}\n"
             NS("teama", "{gw-access: \"yes\"}") NS("teamc", "{gw-access: \"no\"}")
             XROUTE("infra", "r-same", "{name: gw}")
             XROUTE("teama", "r-all", "{name: gw, namespace: infra, sectionName: all}") "  hostnames: [x.all.example.com]\n"
             XROUTE("teama", "r-notallowed", "{name: gw, namespace: infra, sectionName: same}")
             XROUTE("teama", "r-sel", "{name: gw, namespace: infra, port: 8080}")
             XROUTE("teamc", "r-sel-no", "{name: gw, namespace: infra, port: 8080}")
             XROUTE("teamb", "r-byname", "{name: gw, namespace: infra, sectionName: byname}")
             XROUTE("teama", "r-nohost", "{name: gw, namespace: infra, sectionName: all}") "  hostnames: [x.other.com]\n"
             XROUTE("teama", "r-nosection", "{name: gw, namespace: infra, sectionName: missing}")
             XROUTE("teama", "r-noport", "{name: gw, namespace: infra, port: 9999}")
             XROUTE("teama", "r-both", "{name: gw, namespace: infra, sectionName: sel, port: 80}")
             XROUTE("teama", "r-whole", "{name: gw, namespace: infra}") "  hostnames: [a.all.example.com]\n"
             XROUTE("teama", "r-twice", "{name: gw, namespace: infra, sectionName: all}, {name: gw, namespace: infra, sectionName: sel}")
             XROUTE("teama", "r-foreign", "{name: gw, namespace: elsewhere}, {name: svc, kind: Service, group: \"\"}"));
  EXPECT_COND(rparent(w.st, "infra", "r-same", 0)->conds, 2, "Accepted", SY_GW_COND_TRUE, "Accepted");
  EXPECT_COND(rparent(w.st, "teama", "r-all", 0)->conds, 2, "Accepted", SY_GW_COND_TRUE, "Accepted");
  EXPECT_COND(rparent(w.st, "teama", "r-notallowed", 0)->conds, 2, "Accepted", SY_GW_COND_FALSE, "NotAllowedByListeners");
  EXPECT_COND(rparent(w.st, "teama", "r-sel", 0)->conds, 2, "Accepted", SY_GW_COND_TRUE, "Accepted");
  EXPECT_COND(rparent(w.st, "teamc", "r-sel-no", 0)->conds, 2, "Accepted", SY_GW_COND_FALSE, "NotAllowedByListeners");
  EXPECT_COND(rparent(w.st, "teamb", "r-byname", 0)->conds, 2, "Accepted", SY_GW_COND_TRUE, "Accepted");
  EXPECT_COND(rparent(w.st, "teama", "r-nohost", 0)->conds, 2, "Accepted", SY_GW_COND_FALSE, "NoMatchingListenerHostname");
  EXPECT_COND(rparent(w.st, "teama", "r-nosection", 0)->conds, 2, "Accepted", SY_GW_COND_FALSE, "NoMatchingParent");
  EXPECT_COND(rparent(w.st, "teama", "r-noport", 0)->conds, 2, "Accepted", SY_GW_COND_FALSE, "NoMatchingParent");
  EXPECT_COND(rparent(w.st, "teama", "r-both", 0)->conds, 2, "Accepted", SY_GW_COND_FALSE, "NoMatchingParent");
  /* a whole-Gateway parentRef: accepted when one listener accepts it */
  EXPECT_COND(rparent(w.st, "teama", "r-whole", 0)->conds, 2, "Accepted", SY_GW_COND_TRUE, "Accepted");
  ck_assert_uint_eq(route_status(w.st, "teama", "r-twice")->n_parents, 2);
  /* a parentRef to a Gateway that is not ours (or a Service) gets no entry */
  ck_assert_ptr_null(route_status(w.st, "teama", "r-foreign"));
  ck_assert_str_eq(rparent(w.st, "teama", "r-all", 0)->parent_ref.namespace_name, "infra");
  ck_assert(rparent(w.st, "teama", "r-all", 0)->parent_ref.namespace_set);
  ck_assert_str_eq(rparent(w.st, "teama", "r-all", 0)->parent_ref.section_name, "all");
  /* attachedRoutes counts routes (r-twice once per listener) */
  const sy_gw_gateway_status_t *g = gw_status(w.st, "infra", "gw");
  ck_assert_int_eq(g->listeners[0].attached_routes, 1);
  ck_assert_int_eq(g->listeners[1].attached_routes, 4); /* r-same too: whole-Gateway ref, from All */
  ck_assert_int_eq(g->listeners[2].attached_routes, 3); /* r-whole too: no listener hostname */
  ck_assert_int_eq(g->listeners[3].attached_routes, 1);
  world_free(&w);
}
END_TEST

START_TEST(test_status_resolved_refs) {
  world_t w;
  sy_gw_pool_ref_t pools[] = {
      {.namespace_name = "default", .name = "pool", .generation = 5},
      {.namespace_name = "ml", .name = "xpool"},
      {.namespace_name = "default", .name = "badepp", .epp_name = "missing"},
      {.namespace_name = "default", .name = "kindepp", .epp_kind = "Deployment", .epp_name = "e"},
      {.namespace_name = "default", .name = "okepp", .epp_name = "s"},
  };
  world_init_pools(
      &w,
      CLASS GATEWAY
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n"
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: other}\nspec: {ports: [{port: 80}]}\n"
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: t, namespace: other}\nspec: {ports: [{port: 80}]}\n"
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {type: ExternalName, externalName: a.b}\n"
      "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: other}\n"
      "spec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]\n"
      "  to: [{group: \"\", kind: Service, name: s}]\n"
      "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: ml}\n"
      "spec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: teamx}]\n"
      "  to: [{group: inference.networking.k8s.io, kind: InferencePool}]\n"
      ROUTE("ok") "  rules: [{backendRefs: [{name: s, port: 80}, {name: s, namespace: other, port: 80}]}]\n"
      ROUTE("missing") "  rules: [{backendRefs: [{name: nope, port: 80}]}]\n"
      ROUTE("noport") "  rules: [{backendRefs: [{name: s, port: 81}]}]\n"
      ROUTE("xns") "  rules: [{backendRefs: [{name: t, namespace: other, port: 80}]}]\n"
      ROUTE("xns-missing") "  rules: [{backendRefs: [{name: nope, namespace: other, port: 80}]}]\n"
      ROUTE("kind") "  rules: [{backendRefs: [{name: x, group: example.com, kind: Backend}]}]\n"
      ROUTE("extname") "  rules: [{backendRefs: [{name: ext, port: 80}]}]\n"
      ROUTE("pool") "  rules: [{backendRefs: [{name: pool, group: inference.networking.k8s.io, kind: InferencePool}]}]\n"
      ROUTE("xpool") "  rules: [{backendRefs: [{name: xpool, namespace: ml, group: inference.networking.k8s.io, kind: InferencePool}]}]\n"
      ROUTE("nopool") "  rules: [{backendRefs: [{name: gone, group: inference.networking.k8s.io, kind: InferencePool}]}]\n"
      ROUTE("epp") "  rules: [{backendRefs: [{name: badepp, group: inference.networking.k8s.io, kind: InferencePool},\n"
      "                         {name: kindepp, group: inference.networking.k8s.io, kind: InferencePool},\n"
      "                         {name: okepp, group: inference.networking.k8s.io, kind: InferencePool}]}]\n"
      "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: rejected}\n"
      "spec:\n  parentRefs: [{name: gw, sectionName: nope}]\n"
      "  rules: [{backendRefs: [{name: pool, group: inference.networking.k8s.io, kind: InferencePool}]}]\n",
      pools, SY_ARRAY_LEN(pools));
  EXPECT_COND(rparent(w.st, "default", "ok", 0)->conds, 2, "ResolvedRefs", SY_GW_COND_TRUE, "ResolvedRefs");
  EXPECT_COND(rparent(w.st, "default", "missing", 0)->conds, 2, "ResolvedRefs", SY_GW_COND_FALSE, "BackendNotFound");
  /* a route with an unresolvable backend is still Accepted */
  EXPECT_COND(rparent(w.st, "default", "missing", 0)->conds, 2, "Accepted", SY_GW_COND_TRUE, "Accepted");
  EXPECT_COND(rparent(w.st, "default", "noport", 0)->conds, 2, "ResolvedRefs", SY_GW_COND_FALSE, "BackendNotFound");
  /* grant names only Service s: t is not permitted, and a missing object in
   * another namespace reports RefNotPermitted, not its absence */
  EXPECT_COND(rparent(w.st, "default", "xns", 0)->conds, 2, "ResolvedRefs", SY_GW_COND_FALSE, "RefNotPermitted");
  EXPECT_COND(rparent(w.st, "default", "xns-missing", 0)->conds, 2, "ResolvedRefs", SY_GW_COND_FALSE, "RefNotPermitted");
  EXPECT_COND(rparent(w.st, "default", "kind", 0)->conds, 2, "ResolvedRefs", SY_GW_COND_FALSE, "InvalidKind");
  EXPECT_COND(rparent(w.st, "default", "extname", 0)->conds, 2, "ResolvedRefs", SY_GW_COND_FALSE, "InvalidKind");
  EXPECT_COND(rparent(w.st, "default", "pool", 0)->conds, 2, "ResolvedRefs", SY_GW_COND_TRUE, "ResolvedRefs");
  /* the ml grant admits HTTPRoutes from teamx, not default */
  EXPECT_COND(rparent(w.st, "default", "xpool", 0)->conds, 2, "ResolvedRefs", SY_GW_COND_FALSE, "RefNotPermitted");
  EXPECT_COND(rparent(w.st, "default", "nopool", 0)->conds, 2, "ResolvedRefs", SY_GW_COND_FALSE, "BackendNotFound");

  /* InferencePool parents */
  const sy_gw_pool_status_t *pool = NULL, *bad = NULL, *kind = NULL, *ok = NULL;
  for (size_t i = 0; i < w.st->n_pools; i++) {
    const sy_gw_pool_status_t *p = &w.st->pools[i];
    if (!strcmp(p->name, "pool")) pool = p;
    if (!strcmp(p->name, "badepp")) bad = p;
    if (!strcmp(p->name, "kindepp")) kind = p;
    if (!strcmp(p->name, "okepp")) ok = p;
    ck_assert_str_ne(p->name, "xpool");
  }
  ck_assert_uint_eq(w.st->n_pools, 4);
  ck_assert_ptr_nonnull(pool);
  ck_assert_uint_eq(pool->n_parents, 1);
  ck_assert_str_eq(pool->parents[0].gateway_namespace, "default");
  ck_assert_str_eq(pool->parents[0].gateway_name, "gw");
  /* accepted through "pool" although "rejected" is not */
  EXPECT_COND(pool->parents[0].conds, 2, "Accepted", SY_GW_COND_TRUE, "Accepted");
  EXPECT_COND(pool->parents[0].conds, 2, "ResolvedRefs", SY_GW_COND_TRUE, "ResolvedRefs");
  ck_assert_int_eq(pool->parents[0].conds[0].observed_generation, 5);
  EXPECT_COND(bad->parents[0].conds, 2, "ResolvedRefs", SY_GW_COND_FALSE, "InvalidExtensionRef");
  EXPECT_COND(kind->parents[0].conds, 2, "ResolvedRefs", SY_GW_COND_FALSE, "InvalidExtensionRef");
  EXPECT_COND(ok->parents[0].conds, 2, "ResolvedRefs", SY_GW_COND_TRUE, "ResolvedRefs");
  world_free(&w);

  /* Only a rejected route: the pool's parent says HTTPRouteNotAccepted. */
  world_init_pools(&w, CLASS GATEWAY
                   "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: rejected}\n"
                   "spec:\n  parentRefs: [{name: gw, sectionName: nope}]\n"
                   "  rules: [{backendRefs: [{name: pool, group: inference.networking.k8s.io, kind: InferencePool}]}]\n",
                   pools, 1);
  ck_assert_uint_eq(w.st->n_pools, 1);
  EXPECT_COND(w.st->pools[0].parents[0].conds, 2, "Accepted", SY_GW_COND_FALSE, "HTTPRouteNotAccepted");
  world_free(&w);
}
END_TEST

START_TEST(test_status_invalid_rules) {
  const char *doc = CLASS GATEWAY ROUTE("partial")
      "  rules:\n  - matches: [{path: {value: /ok}}]\n  - filters: [{type: CORS, cors: {}}]\n"
      ROUTE("allbad") "  rules:\n  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}}}]\n"
      ROUTE("incompat") "  rules:\n  - filters: [{type: RequestRedirect, requestRedirect: {}}, {type: URLRewrite, urlRewrite: {}}]\n";
  sy_gw_objects_t *o = load_ok(doc, SY_GW_DECODE_LENIENT);
  sy_gw_input_t in = {.controller_name = CTL, .ports = PORTS, .n_ports = SY_ARRAY_LEN(PORTS)};
  sy_gw_objects_input(o, &in);
  sy_gw_status_t *st;
  sy_gw_table_t *t;
  ck_assert_int_eq(sy_gw_compute(&in, &st, &t), 0);
  const sy_gw_route_parent_status_t *p = rparent(st, "default", "partial", 0);
  EXPECT_COND(p->conds, p->n_conds, "Accepted", SY_GW_COND_TRUE, "Accepted");
  EXPECT_COND(p->conds, p->n_conds, "PartiallyInvalid", SY_GW_COND_TRUE, "UnsupportedValue");
  ck_assert_ptr_nonnull(strstr(cond_of(p->conds, p->n_conds, "PartiallyInvalid")->message, "Dropped Rule(s) 1:"));
  p = rparent(st, "default", "allbad", 0);
  EXPECT_COND(p->conds, p->n_conds, "Accepted", SY_GW_COND_FALSE, "UnsupportedValue");
  ck_assert_uint_eq(p->n_conds, 2);
  p = rparent(st, "default", "incompat", 0);
  EXPECT_COND(p->conds, p->n_conds, "Accepted", SY_GW_COND_FALSE, "IncompatibleFilters");
  /* attachedRoutes counts only accepted routes */
  ck_assert_int_eq(listener_status(st, "gw", "http")->attached_routes, 1);
  /* only the valid rule is programmed */
  ck_assert_str_eq(route_for(t, 80, "h", "GET", "/ok", NULL, NULL, NULL), "default/partial#0");
  ck_assert_str_eq(route_for(t, 80, "h", "GET", "/", NULL, NULL, NULL), "404");
  sy_gw_table_unref(t);
  sy_gw_status_free(st);
  sy_gw_objects_free(o);
}
END_TEST

/* ---------------------------------------------------------- precedence */

typedef struct req_case {
  const char *host;
  const char *method;
  const char *path;
  const char *query;
  const char *headers[4];
  const char *want; /* "ns/route#rule" or "404" */
  int port;         /* 0: 80 */
} req_case_t;

typedef struct prec_case {
  const char *name;
  const char *objects; /* appended to CLASS (and GATEWAY unless gateway is set) */
  const char *gateway;
  req_case_t reqs[8];
} prec_case_t;

#define M(x) "  - matches: [" x "]\n"

static const prec_case_t prec_cases[] = {
    {"host: exact hostname before wildcard, even with a weaker path",
     ROUTE_AT("exact", "2024-05-01T00:00:00Z") "  hostnames: [foo.example.com]\n  rules:\n" M("{path: {value: /}}")
     ROUTE_AT("wild", "2024-01-01T00:00:00Z") "  hostnames: [\"*.example.com\"]\n  rules:\n" M("{path: {type: Exact, value: /x}}"),
     NULL,
     {{"foo.example.com", NULL, "/x", NULL, {NULL}, "default/exact#0"},
      {"bar.example.com", NULL, "/x", NULL, {NULL}, "default/wild#0"},
      {"a.b.example.com", NULL, "/x", NULL, {NULL}, "default/wild#0"},
      {"example.com", NULL, "/x", NULL, {NULL}, "404"},
      {NULL}}},
    {"host: longer wildcard suffix first",
     ROUTE_AT("short", "2024-01-01T00:00:00Z") "  hostnames: [\"*.example.com\"]\n"
     ROUTE_AT("long", "2024-05-01T00:00:00Z") "  hostnames: [\"*.b.example.com\"]\n",
     NULL,
     {{"a.b.example.com", NULL, "/", NULL, {NULL}, "default/long#0"},
      {"x.a.b.example.com", NULL, "/", NULL, {NULL}, "default/long#0"},
      {"b.example.com", NULL, "/", NULL, {NULL}, "default/short#0"},
      {"a.c.example.com", NULL, "/", NULL, {NULL}, "default/short#0"},
      {NULL}}},
    {"host: falls through to less specific hostnames, then routes without hostname",
     ROUTE("exact") "  hostnames: [foo.example.com]\n  rules:\n" M("{path: {value: /a}}")
     ROUTE("wild") "  hostnames: [\"*.example.com\"]\n  rules:\n" M("{path: {value: /b}}")
     ROUTE("any") "  rules:\n" M("{path: {value: /}}"),
     NULL,
     {{"foo.example.com", NULL, "/a", NULL, {NULL}, "default/exact#0"},
      {"foo.example.com", NULL, "/b", NULL, {NULL}, "default/wild#0"},
      {"foo.example.com", NULL, "/c", NULL, {NULL}, "default/any#0"},
      {"other.org", NULL, "/a", NULL, {NULL}, "default/any#0"},
      {NULL, NULL, "/a", NULL, {NULL}, "default/any#0"},
      {"", NULL, "/b", NULL, {NULL}, "default/any#0"},
      {NULL}}},
    {"host: port, case and a trailing dot are ignored",
     ROUTE("r") "  hostnames: [foo.example.com]\n",
     NULL,
     {{"FOO.Example.COM:8080", NULL, "/", NULL, {NULL}, "default/r#0"},
      {"foo.example.com.", NULL, "/", NULL, {NULL}, "default/r#0"},
      {"foo.example.com:80", NULL, "/", NULL, {NULL}, "default/r#0"},
      {"foo.example.comx", NULL, "/", NULL, {NULL}, "404"},
      {"[::1]:80", NULL, "/", NULL, {NULL}, "404"},
      {NULL}}},
    {"path: Exact before PathPrefix",
     ROUTE_AT("prefix", "2020-01-01T00:00:00Z") "  rules:\n" M("{path: {type: PathPrefix, value: /p}}")
     ROUTE_AT("exact", "2024-01-01T00:00:00Z") "  rules:\n" M("{path: {type: Exact, value: /p}}"),
     NULL,
     {{"h", NULL, "/p", NULL, {NULL}, "default/exact#0"},
      {"h", NULL, "/p/", NULL, {NULL}, "default/prefix#0"},
      {"h", NULL, "/p/q", NULL, {NULL}, "default/prefix#0"},
      {"h", NULL, "/P", NULL, {NULL}, "404"},
      {NULL}}},
    {"path: the longest prefix wins",
     ROUTE_AT("a", "2020-01-01T00:00:00Z") "  rules:\n" M("{path: {value: /a}}")
     ROUTE_AT("ab", "2024-01-01T00:00:00Z") "  rules:\n" M("{path: {value: /a/b}}")
     ROUTE_AT("root", "2019-01-01T00:00:00Z"),
     NULL,
     {{"h", NULL, "/a/b/c", NULL, {NULL}, "default/ab#0"},
      {"h", NULL, "/a/b", NULL, {NULL}, "default/ab#0"},
      {"h", NULL, "/a/bc", NULL, {NULL}, "default/a#0"},
      {"h", NULL, "/a", NULL, {NULL}, "default/a#0"},
      {"h", NULL, "/ab", NULL, {NULL}, "default/root#0"},
      {"h", NULL, "/", NULL, {NULL}, "default/root#0"},
      {NULL}}},
    {"path: PathPrefix matches whole path elements; a trailing slash is ignored",
     ROUTE("foo") "  rules:\n" M("{path: {value: /foo}}")
     ROUTE("bar") "  rules:\n" M("{path: {value: /bar/}}"),
     NULL,
     {{"h", NULL, "/foo", NULL, {NULL}, "default/foo#0"},
      {"h", NULL, "/foo/", NULL, {NULL}, "default/foo#0"},
      {"h", NULL, "/foo/bar", NULL, {NULL}, "default/foo#0"},
      {"h", NULL, "/foobar", NULL, {NULL}, "404"},
      {"h", NULL, "/bar", NULL, {NULL}, "default/bar#0"},
      {"h", NULL, "/bar/x", NULL, {NULL}, "default/bar#0"},
      {"h", NULL, "/barx", NULL, {NULL}, "404"},
      {NULL}}},
    {"path: more prefix characters win (\"/foo/\" over \"/foo\")",
     ROUTE_AT("short", "2020-01-01T00:00:00Z") "  rules:\n" M("{path: {value: /foo}}")
     ROUTE_AT("slash", "2024-01-01T00:00:00Z") "  rules:\n" M("{path: {value: /foo/}}"),
     NULL,
     {{"h", NULL, "/foo/x", NULL, {NULL}, "default/slash#0"}, {"h", NULL, "/foo", NULL, {NULL}, "default/slash#0"}, {NULL}}},
    {"path: RegularExpression after every prefix match (implementation-specific), full match",
     ROUTE_AT("re", "2020-01-01T00:00:00Z") "  rules:\n" M("{path: {type: RegularExpression, value: \"/v[0-9]+\"}}")
     ROUTE_AT("prefix", "2024-01-01T00:00:00Z") "  rules:\n" M("{path: {value: /v1}}")
     ROUTE_AT("re2", "2020-01-01T00:00:00Z") "  rules:\n" M("{path: {type: RegularExpression, value: \"/x/.*\"}}"),
     NULL,
     {{"h", NULL, "/v1", NULL, {NULL}, "default/prefix#0"},
      {"h", NULL, "/v12", NULL, {NULL}, "default/re#0"},
      {"h", NULL, "/v12/x", NULL, {NULL}, "404"},
      {"h", NULL, "/x/anything/here", NULL, {NULL}, "default/re2#0"},
      {"h", NULL, "/y/x/", NULL, {NULL}, "404"},
      {NULL}}},
    {"regex: literal-prefix prefilter keeps the semantics (optional chars, alternation, anchors)",
     ROUTE("star") "  rules:\n" M("{path: {type: RegularExpression, value: \"/ab*c\"}}")
     ROUTE("alt") "  rules:\n" M("{path: {type: RegularExpression, value: \"/x1|/y1\"}}")
     ROUTE("rep") "  rules:\n" M("{path: {type: RegularExpression, value: \"/q{0,1}z\"}}")
     ROUTE("anch") "  rules:\n" M("{path: {type: RegularExpression, value: \"^/k$\"}}"),
     NULL,
     {{"h", NULL, "/ac", NULL, {NULL}, "default/star#0"},
      {"h", NULL, "/abbbc", NULL, {NULL}, "default/star#0"},
      {"h", NULL, "/y1", NULL, {NULL}, "default/alt#0"},
      {"h", NULL, "/x1", NULL, {NULL}, "default/alt#0"},
      {"h", NULL, "/z", NULL, {NULL}, "default/rep#0"},
      {"h", NULL, "/qz", NULL, {NULL}, "default/rep#0"},
      {"h", NULL, "/k", NULL, {NULL}, "default/anch#0"},
      {"h", NULL, "/a", NULL, {NULL}, "404"}}},
    {"match: method before header count",
     ROUTE_AT("headers", "2020-01-01T00:00:00Z") "  rules:\n" M("{headers: [{name: x-a, value: \"1\"}, {name: x-b, value: \"2\"}]}")
     ROUTE_AT("method", "2024-01-01T00:00:00Z") "  rules:\n" M("{method: GET}"),
     NULL,
     {{"h", "GET", "/", NULL, {"x-a: 1", "x-b: 2"}, "default/method#0"},
      {"h", "POST", "/", NULL, {"x-a: 1", "x-b: 2"}, "default/headers#0"},
      {"h", "POST", "/", NULL, {"x-a: 1"}, "404"},
      {NULL}}},
    {"match: more header matches win",
     ROUTE_AT("one", "2020-01-01T00:00:00Z") "  rules:\n" M("{headers: [{name: x-a, value: \"1\"}]}")
     ROUTE_AT("two", "2024-01-01T00:00:00Z") "  rules:\n" M("{headers: [{name: x-a, value: \"1\"}, {name: x-b, value: \"2\"}]}"),
     NULL,
     {{"h", NULL, "/", NULL, {"x-a: 1", "x-b: 2"}, "default/two#0"},
      {"h", NULL, "/", NULL, {"x-a: 1"}, "default/one#0"},
      {"h", NULL, "/", NULL, {"x-b: 2"}, "404"},
      {NULL}}},
    {"match: headers before query params",
     ROUTE_AT("query", "2020-01-01T00:00:00Z") "  rules:\n" M("{queryParams: [{name: a, value: \"1\"}, {name: b, value: \"2\"}]}")
     ROUTE_AT("header", "2024-01-01T00:00:00Z") "  rules:\n" M("{headers: [{name: x-a, value: \"1\"}]}"),
     NULL,
     {{"h", NULL, "/", "a=1&b=2", {"x-a: 1"}, "default/header#0"}, {"h", NULL, "/", "a=1&b=2", {NULL}, "default/query#0"}, {NULL}}},
    {"match: more query matches win",
     ROUTE_AT("one", "2020-01-01T00:00:00Z") "  rules:\n" M("{queryParams: [{name: a, value: \"1\"}]}")
     ROUTE_AT("two", "2024-01-01T00:00:00Z") "  rules:\n" M("{queryParams: [{name: a, value: \"1\"}, {name: b, value: \"2\"}]}"),
     NULL,
     {{"h", NULL, "/", "a=1&b=2", {NULL}, "default/two#0"},
      {"h", NULL, "/", "b=2&a=1", {NULL}, "default/two#0"},
      {"h", NULL, "/", "a=1", {NULL}, "default/one#0"},
      {"h", NULL, "/", "a=2", {NULL}, "404"},
      {NULL}}},
    {"tie: the oldest route wins",
     ROUTE_AT("newer", "2024-01-01T00:00:01Z") ROUTE_AT("older", "2024-01-01T00:00:00Z"),
     NULL,
     {{"h", NULL, "/x", NULL, {NULL}, "default/older#0"}, {NULL}}},
    {"tie: then namespace/name alphabetically",
     ROUTE("b-route") ROUTE("a-route")
     "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
     "metadata: {name: 0-route, namespace: zz, creationTimestamp: \"2024-01-01T00:00:00Z\"}\n"
     "spec: {parentRefs: [{name: gw, namespace: default}]}\n",
     "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"
     "spec: {gatewayClassName: sy, listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]}\n",
     {{"h", NULL, "/", NULL, {NULL}, "default/a-route#0"}, {NULL}}},
    {"tie: then the first rule, then the first match",
     ROUTE("r") "  rules:\n" M("{path: {value: /x}, method: PUT}") M("{path: {value: /x}}, {path: {value: /x}}") M("{path: {value: /x}}"),
     NULL,
     {{"h", "GET", "/x", NULL, {NULL}, "default/r#1"}, {"h", "PUT", "/x", NULL, {NULL}, "default/r#0"}, {NULL}}},
    {"headers: names case-insensitive, values exact; regex full match; first occurrence",
     ROUTE("exact") "  rules:\n" M("{path: {value: /e}, headers: [{name: X-Env, value: Prod}]}")
     ROUTE("re") "  rules:\n" M("{path: {value: /r}, headers: [{name: x-v, type: RegularExpression, value: \"v[0-9]+\"}]}"),
     NULL,
     {{"h", NULL, "/e", NULL, {"x-env: Prod"}, "default/exact#0"},
      {"h", NULL, "/e", NULL, {"X-ENV: Prod"}, "default/exact#0"},
      {"h", NULL, "/e", NULL, {"x-env: prod"}, "404"},
      {"h", NULL, "/e", NULL, {"x-env: other", "x-env: Prod"}, "404"},
      {"h", NULL, "/r", NULL, {"x-v: v12"}, "default/re#0"},
      {"h", NULL, "/r", NULL, {"x-v: v12x"}, "404"},
      {"h", NULL, "/r", NULL, {NULL}, "404"},
      {NULL}}},
    {"query: names and values percent-decoded, exact or regex, first occurrence",
     ROUTE("q") "  rules:\n" M("{path: {value: /q}, queryParams: [{name: a~b, value: \"x&y\"}]}")
     ROUTE("re") "  rules:\n" M("{path: {value: /r}, queryParams: [{name: n, type: RegularExpression, value: \"[0-9]{3}\"}]}"),
     NULL,
     {{"h", NULL, "/q", "a%7Eb=x%26y", {NULL}, "default/q#0"},
      {"h", NULL, "/q", "z=1&a%7Eb=x%26y&a%7Eb=no", {NULL}, "default/q#0"},
      {"h", NULL, "/q", "a%7Eb=no&a%7Eb=x%26y", {NULL}, "404"},
      {"h", NULL, "/q", "a~c=x%26y", {NULL}, "404"},
      {"h", NULL, "/r", "n=123", {NULL}, "default/re#0"},
      {"h", NULL, "/r", "n=%31%32%33", {NULL}, "default/re#0"},
      {"h", NULL, "/r", "n=1234", {NULL}, "404"},
      {"h", NULL, "/r", "n", {NULL}, "404"}}},
    {"method: a rule that does not match falls through to the next",
     ROUTE("post") "  rules:\n" M("{path: {value: /x}, method: POST}")
     ROUTE("any") "  rules:\n" M("{path: {value: /}}"),
     NULL,
     {{"h", "GET", "/x", NULL, {NULL}, "default/any#0"}, {"h", "POST", "/x", NULL, {NULL}, "default/post#0"}, {NULL}}},
    {"listener isolation: a request goes to its most specific listener only",
     ROUTE_NP("wild") "  parentRefs: [{name: gw, sectionName: wild}]\n"
     ROUTE_NP("foo") "  parentRefs: [{name: gw, sectionName: foo}]\n  rules:\n" M("{path: {value: /only}}")
     ROUTE_NP("catchall") "  parentRefs: [{name: gw, sectionName: any}]\n",
     "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"
     "spec: {gatewayClassName: sy, listeners: [{name: foo, port: 80, protocol: HTTP, hostname: foo.example.com},\n"
     "  {name: wild, port: 80, protocol: HTTP, hostname: \"*.example.com\"}, {name: any, port: 80, protocol: HTTP},\n"
     "  {name: other, port: 8080, protocol: HTTP}]}\n",
     {{"foo.example.com", NULL, "/only", NULL, {NULL}, "default/foo#0"},
      {"foo.example.com", NULL, "/x", NULL, {NULL}, "404"},
      {"bar.example.com", NULL, "/x", NULL, {NULL}, "default/wild#0"},
      {"example.com", NULL, "/x", NULL, {NULL}, "default/catchall#0"},
      {NULL, NULL, "/x", NULL, {NULL}, "default/catchall#0"},
      {"bar.example.com", NULL, "/x", NULL, {NULL}, "404", 8080},
      {"bar.example.com", NULL, "/x", NULL, {NULL}, "404", 9999},
      {NULL}}},
    {"hostname intersection: only route hostnames that match the listener count",
     ROUTE("r") "  hostnames: [foo.example.com, bar.other.com]\n"
     ROUTE("w") "  hostnames: [\"*.com\"]\n",
     "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"
     "spec: {gatewayClassName: sy, listeners: [{name: wild, port: 80, protocol: HTTP, hostname: \"*.example.com\"}]}\n",
     {{"foo.example.com", NULL, "/", NULL, {NULL}, "default/r#0"},
      {"bar.other.com", NULL, "/", NULL, {NULL}, "404"},
      {"baz.example.com", NULL, "/", NULL, {NULL}, "default/w#0"},
      {NULL}}},
};

START_TEST(test_precedence) {
  const prec_case_t *c = &prec_cases[_i];
  char doc[8192];
  snprintf(doc, sizeof(doc), "%s%s%s", CLASS, c->gateway ? c->gateway : GATEWAY, c->objects);
  world_t w;
  world_init(&w, doc);
  for (size_t i = 0; i < SY_ARRAY_LEN(c->reqs) && c->reqs[i].path; i++) {
    const req_case_t *r = &c->reqs[i];
    const char *got = route_for(w.t, r->port ? r->port : 80, r->host, r->method, r->path, r->query, r->headers, NULL);
    ck_assert_msg(strcmp(got, r->want) == 0, "%s: request %zu (%s %s%s%s): got %s, want %s", c->name, i,
                  r->host ? r->host : "(no host)", r->path, r->query ? "?" : "", r->query ? r->query : "", got, r->want);
  }
  world_free(&w);
}
END_TEST

START_TEST(test_match_info) {
  world_t w;
  world_init(&w, CLASS GATEWAY ROUTE("r") "  rules:\n" M("{path: {type: Exact, value: /e}}, {path: {value: /api/}}")
                 M("{path: {type: RegularExpression, value: \"/re.*\"}}"));
  sy_gw_match_info_t info;
  ck_assert_str_eq(route_for(w.t, 80, "h", NULL, "/api/v1/x", NULL, NULL, &info), "default/r#0");
  ck_assert_int_eq(info.path_type, SY_GW_PATH_PREFIX);
  ck_assert_uint_eq(info.match_index, 1);
  ck_assert_uint_eq(info.prefix_len, 4); /* "/api" */
  ck_assert_str_eq(info.gateway_name, "gw");
  ck_assert_str_eq(info.listener_name, "http");
  ck_assert_int_eq(info.listener_protocol, SY_GW_PROTO_HTTP);
  ck_assert_str_eq(route_for(w.t, 80, "h", NULL, "/e", NULL, NULL, &info), "default/r#0");
  ck_assert_int_eq(info.path_type, SY_GW_PATH_EXACT);
  ck_assert_uint_eq(info.match_index, 0);
  ck_assert_str_eq(route_for(w.t, 80, "h", NULL, "/rex", NULL, NULL, &info), "default/r#1");
  ck_assert_int_eq(info.path_type, SY_GW_PATH_REGEX);
  /* lookups and picks do not allocate: the armed failure is still pending */
  sy_alloc_fail_after(1);
  for (int i = 0; i < 100; i++) {
    const char *hdr[] = {"x-a: 1", NULL};
    route_for(w.t, 80, "Some.Host:80", "GET", i % 2 ? "/api/v1/x" : "/e", "a=1&b=%20", hdr, &info);
    const sy_gw_backend_t *b;
    sy_gw_rule_pick(sy_gw_table_lookup(w.t, &(sy_gw_request_t){.port = 80, .path = "/e", .path_len = 2}, NULL), 7, &b);
  }
  void *probe = sy_malloc(1);
  sy_alloc_fail_after(0);
  ck_assert_ptr_null(probe);
  sy_gw_table_stats_t ts;
  sy_gw_table_stats(w.t, &ts);
  ck_assert_uint_eq(ts.n_listeners, 1);
  ck_assert_uint_eq(ts.n_rules, 2);
  ck_assert_uint_eq(ts.n_match_entries, 3);
  ck_assert_uint_gt(ts.bytes, 0);
  /* the table outlives the objects it was built from */
  sy_gw_table_t *t = sy_gw_table_ref(w.t);
  world_free(&w);
  ck_assert_str_eq(route_for(t, 80, "h", NULL, "/api", NULL, NULL, NULL), "default/r#0");
  const sy_gw_rule_t *rule = sy_gw_table_lookup(t, &(sy_gw_request_t){.port = 80, .path = "/e", .path_len = 2}, NULL);
  ck_assert_ptr_nonnull(rule);
  ck_assert_str_eq(rule->route_name, "r");
  sy_gw_table_unref(t);
  sy_gw_table_unref(NULL);
}
END_TEST

/* --------------------------------------------------------- backends, pick */

#define SVC(name, ports) "---\napiVersion: v1\nkind: Service\nmetadata: {name: " name "}\nspec: {ports: " ports "}\n"
#define SLICE(name, svc, type, eps, ports)                                                              \
  "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"                                          \
  "metadata: {name: " name ", labels: {kubernetes.io/service-name: " svc "}}\naddressType: " type "\n"  \
  "endpoints: " eps "\nports: " ports "\n"

START_TEST(test_pick_weights) {
  world_t w;
  world_init(&w, CLASS GATEWAY
             SVC("a", "[{name: http, port: 80, targetPort: 8000}]") SVC("b", "[{port: 80}]") SVC("empty", "[{port: 80}]")
             SVC("v6", "[{name: web, port: 90, targetPort: web}]")
             SLICE("a-1", "a", "IPv4", "[{addresses: [10.0.0.2]}, {addresses: [10.0.0.1], conditions: {ready: true}},"
                                       " {addresses: [10.0.0.9], conditions: {ready: false}}]",
                   "[{name: http, port: 8000}]")
             SLICE("a-2", "a", "IPv4", "[{addresses: [10.0.0.1]}, {addresses: [10.0.0.3]}]", "[{name: http, port: 8000}]")
             SLICE("a-3", "a", "IPv4", "[{addresses: [10.9.9.9]}]", "[{name: other, port: 1}]")
             SLICE("b-1", "b", "IPv4", "[{addresses: [10.1.0.1]}]", "[{port: 80}]")
             SLICE("v6-1", "v6", "IPv6", "[{addresses: [\"fd00::1\"]}]", "[{name: web, port: 9090}]")
             ROUTE("r") "  rules:\n"
             "  - matches: [{path: {value: /w}}]\n    backendRefs: [{name: a, port: 80, weight: 1}, {name: b, port: 80, weight: 3}, {name: c, port: 80, weight: 0}]\n"
             "  - matches: [{path: {value: /zero}}]\n    backendRefs: [{name: a, port: 80, weight: 0}]\n"
             "  - matches: [{path: {value: /half}}]\n    backendRefs: [{name: a, port: 80}, {name: missing, port: 80}]\n"
             "  - matches: [{path: {value: /none}}]\n"
             "  - matches: [{path: {value: /empty}}]\n    backendRefs: [{name: empty, port: 80}]\n"
             "  - matches: [{path: {value: /v6}}]\n    backendRefs: [{name: v6, port: 90}]\n"
             "  - matches: [{path: {value: /ext}}]\n    filters: [{type: ExtensionRef, extensionRef: {group: x.io, kind: K, name: n}}]\n"
             "    backendRefs: [{name: a, port: 80}]\n");
  sy_gw_request_t req = {.port = 80, .path = "/w", .path_len = 2};
  const sy_gw_rule_t *rule = sy_gw_table_lookup(w.t, &req, NULL);
  ck_assert_ptr_nonnull(rule);
  ck_assert_uint_eq(rule->total_weight, 4);
  ck_assert_uint_eq(rule->n_backends, 3);
  const sy_gw_backend_t *a = &rule->backends[0];
  ck_assert_int_eq(a->type, SY_GW_BACKEND_SERVICE);
  ck_assert_uint_eq(a->n_endpoints, 3); /* ready only, deduplicated, matching port name, sorted */
  ck_assert_str_eq(a->endpoints[0], "10.0.0.1:8000");
  ck_assert_str_eq(a->endpoints[1], "10.0.0.2:8000");
  ck_assert_str_eq(a->endpoints[2], "10.0.0.3:8000");
  ck_assert_int_eq(rule->backends[2].type, SY_GW_BACKEND_INVALID);
  ck_assert_str_eq(rule->backends[2].invalid_reason, "BackendNotFound");
  /* weights 1:3:0 over every residue of 4 */
  int counts[3] = {0};
  for (uint64_t rnd = 0; rnd < 4000; rnd++) {
    const sy_gw_backend_t *b;
    ck_assert_int_eq(sy_gw_rule_pick(rule, rnd * 7919u + 13u, &b), SY_GW_PICK_OK);
    counts[b - rule->backends]++;
  }
  ck_assert_int_eq(counts[0], 1000);
  ck_assert_int_eq(counts[1], 3000);
  ck_assert_int_eq(counts[2], 0);
  const sy_gw_backend_t *b;
  /* all weights zero: 500 */
  req.path = "/zero";
  req.path_len = 5;
  ck_assert_int_eq(sy_gw_rule_pick(sy_gw_table_lookup(w.t, &req, NULL), 1, &b), SY_GW_PICK_500);
  ck_assert_ptr_null(b);
  /* an invalid backend's share gets 500 */
  req.path = "/half";
  req.path_len = 5;
  rule = sy_gw_table_lookup(w.t, &req, NULL);
  int n500 = 0;
  for (uint64_t rnd = 0; rnd < 1000; rnd++) n500 += sy_gw_rule_pick(rule, rnd, &b) == SY_GW_PICK_500;
  ck_assert_int_eq(n500, 500);
  /* no backendRefs: 500 */
  req.path = "/none";
  req.path_len = 5;
  ck_assert_int_eq(sy_gw_rule_pick(sy_gw_table_lookup(w.t, &req, NULL), 0, &b), SY_GW_PICK_500);
  /* a Service without ready endpoints: 503 */
  req.path = "/empty";
  req.path_len = 6;
  ck_assert_int_eq(sy_gw_rule_pick(sy_gw_table_lookup(w.t, &req, NULL), 0, &b), SY_GW_PICK_503);
  ck_assert_str_eq(b->name, "empty");
  /* named targetPort through the slice's port name; IPv6 bracketed */
  req.path = "/v6";
  req.path_len = 3;
  ck_assert_int_eq(sy_gw_rule_pick(sy_gw_table_lookup(w.t, &req, NULL), 0, &b), SY_GW_PICK_OK);
  ck_assert_uint_eq(b->n_endpoints, 1);
  ck_assert_str_eq(b->endpoints[0], "[fd00::1]:9090");
  /* an ExtensionRef filter cannot be resolved: 500, never skipped */
  req.path = "/ext";
  req.path_len = 4;
  rule = sy_gw_table_lookup(w.t, &req, NULL);
  ck_assert(rule->filter_error);
  ck_assert_int_eq(sy_gw_rule_pick(rule, 0, &b), SY_GW_PICK_500);
  ck_assert_int_eq(sy_gw_rule_pick(NULL, 0, &b), SY_GW_PICK_500);
  world_free(&w);
}
END_TEST

START_TEST(test_pool_backend) {
  world_t w;
  sy_gw_pool_ref_t pools[] = {{.namespace_name = "default", .name = "llm"}};
  world_init_pools(&w, CLASS GATEWAY ROUTE("r") "  rules: [{backendRefs: [{name: llm, group: inference.networking.k8s.io, kind: InferencePool}]}]\n",
                   pools, 1);
  sy_gw_request_t req = {.port = 80, .path = "/v1/chat/completions", .path_len = 20};
  const sy_gw_backend_t *b;
  ck_assert_int_eq(sy_gw_rule_pick(sy_gw_table_lookup(w.t, &req, NULL), 42, &b), SY_GW_PICK_OK);
  ck_assert_int_eq(b->type, SY_GW_BACKEND_POOL);
  ck_assert_str_eq(b->name, "llm");
  ck_assert_str_eq(b->namespace_name, "default");
  world_free(&w);
}
END_TEST

START_TEST(test_filters_in_table) {
  world_t w;
  world_init(&w, CLASS GATEWAY SVC("s", "[{port: 80}]") ROUTE("r") "  rules:\n"
             "  - matches: [{path: {value: /old}}]\n"
             "    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}},\n"
             "              {type: RequestHeaderModifier, requestHeaderModifier: {add: [{name: x-a, value: \"1\"}]}}]\n"
             "    backendRefs: [{name: s, port: 80}]\n"
             "  - matches: [{path: {value: /go}}]\n"
             "    filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 308}}]\n");
  sy_gw_match_info_t info;
  sy_gw_request_t req = {.port = 80, .path = "/old/x", .path_len = 6};
  const sy_gw_rule_t *rule = sy_gw_table_lookup(w.t, &req, &info);
  ck_assert_ptr_nonnull(rule->rewrite);
  ck_assert_ptr_null(rule->redirect);
  ck_assert_uint_eq(rule->n_filters, 2);
  ck_assert_str_eq(rule->filters[1].headers.add[0].name, "x-a");
  char buf[256];
  ck_assert_int_eq(sy_gw_path_rewrite(&rule->rewrite->rewrite.path, req.path, req.path_len, info.prefix_len, buf, sizeof(buf)), 6);
  ck_assert_str_eq(buf, "/new/x");
  req.path = "/go/a";
  req.path_len = 5;
  rule = sy_gw_table_lookup(w.t, &req, &info);
  ck_assert_ptr_nonnull(rule->redirect);
  ck_assert_int_eq(rule->redirect->redirect.status_code, 308);
  ck_assert_int_gt(sy_gw_redirect_location(&rule->redirect->redirect, "http", "h.example.com:80", 16, 80, req.path,
                                           req.path_len, info.prefix_len, "q=1", 3, buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "https://h.example.com/go/a?q=1");
  world_free(&w);
}
END_TEST

/* ------------------------------------------------------- filter helpers */

START_TEST(test_path_rewrite) {
  /* The ReplacePrefixMatch table of the HTTPPathModifier spec. */
  static const struct {
    const char *path, *prefix, *repl, *want;
  } cases[] = {
      {"/foo/bar", "/foo", "/xyz", "/xyz/bar"}, {"/foo/bar", "/foo", "/xyz/", "/xyz/bar"},
      {"/foo/bar", "/foo/", "/xyz", "/xyz/bar"}, {"/foo/bar", "/foo/", "/xyz/", "/xyz/bar"},
      {"/foo", "/foo", "/xyz", "/xyz"},         {"/foo/", "/foo", "/xyz", "/xyz/"},
      {"/foo/bar", "/foo", "", "/bar"},         {"/foo/", "/foo", "", "/"},
      {"/foo", "/foo", "", "/"},                {"/foo/", "/foo", "/", "/"},
      {"/foo", "/foo", "/", "/"},
  };
  char buf[64];
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    size_t plen = strlen(cases[i].prefix);
    if (plen > 1 && cases[i].prefix[plen - 1] == '/') plen--; /* as the lookup reports it */
    sy_gw_path_mod_t mod = {SY_GW_PATHMOD_PREFIX, cases[i].repl};
    int n = sy_gw_path_rewrite(&mod, cases[i].path, strlen(cases[i].path), plen, buf, sizeof(buf));
    ck_assert_msg(n >= 0 && strcmp(buf, cases[i].want) == 0, "case %zu: got %s want %s", i, buf, cases[i].want);
    ck_assert_int_eq(n, (int)strlen(cases[i].want));
  }
  sy_gw_path_mod_t full = {SY_GW_PATHMOD_FULL, "/all"};
  ck_assert_int_eq(sy_gw_path_rewrite(&full, "/x/y", 4, 2, buf, sizeof(buf)), 4);
  ck_assert_str_eq(buf, "/all");
  ck_assert_int_eq(sy_gw_path_rewrite(NULL, "/x/y", 4, 0, buf, sizeof(buf)), 4);
  ck_assert_int_eq(sy_gw_path_rewrite(&full, "/x", 2, 0, buf, 3), SY_ETOOBIG);
}
END_TEST

START_TEST(test_redirect_location) {
  static const struct {
    sy_gw_redirect_t r;
    const char *scheme, *host;
    int32_t lport;
    const char *want;
  } cases[] = {
      {{.status_code = 302}, "http", "a.com", 80, "http://a.com/p"},
      {{.status_code = 302}, "http", "a.com:8080", 8080, "http://a.com:8080/p"},
      {{.scheme = "https"}, "http", "a.com:8080", 8080, "https://a.com/p"},
      {{.scheme = "http"}, "https", "a.com", 443, "http://a.com/p"},
      {{.scheme = "https", .port = 8443}, "http", "a.com", 80, "https://a.com:8443/p"},
      {{.hostname = "b.com"}, "https", "a.com", 443, "https://b.com/p"},
      {{.hostname = "b.com"}, "http", "a.com:80", 8080, "http://b.com:8080/p"},
      {{.path = {SY_GW_PATHMOD_FULL, "/new"}}, "http", "[::1]:80", 80, "http://[::1]/new"},
  };
  char buf[128];
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    int n = sy_gw_redirect_location(&cases[i].r, cases[i].scheme, cases[i].host, strlen(cases[i].host), cases[i].lport,
                                    "/p", 2, 0, NULL, 0, buf, sizeof(buf));
    ck_assert_msg(n > 0 && strcmp(buf, cases[i].want) == 0, "case %zu: got %s want %s", i, buf, cases[i].want);
  }
  ck_assert_int_eq(sy_gw_redirect_location(&cases[0].r, "http", "a.com", 5, 80, "/p", 2, 0, NULL, 0, buf, 8), SY_ETOOBIG);
}
END_TEST

/* ---------------------------------------------------------- robustness */

static const char *const ALLOC_DOC = CLASS GATEWAY
    SVC("a", "[{name: http, port: 80, targetPort: 8000}]")
    SLICE("a-1", "a", "IPv4", "[{addresses: [10.0.0.2]}, {addresses: [10.0.0.1]}]", "[{name: http, port: 8000}]")
    "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: x}\n"
    "spec: {from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}], to: [{group: \"\", kind: Service}]}\n"
    NS("default", "{a: b}")
    ROUTE("r") "  hostnames: [a.example.com, \"*.example.com\"]\n  rules:\n"
    "  - matches: [{path: {value: /x}, headers: [{name: h, value: v}, {name: r, type: RegularExpression, value: \"a+\"}],\n"
    "               queryParams: [{name: q, value: \"1\"}], method: GET}, {path: {type: RegularExpression, value: \"/r.*\"}}]\n"
    "    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: b}], remove: [c]}}]\n"
    "    backendRefs: [{name: a, port: 80}, {name: a, namespace: x, port: 80}]\n";

START_TEST(test_alloc_failures) {
  int failures = 0;
  sy_gw_pool_ref_t pools[] = {{.namespace_name = "default", .name = "p"}};
  for (long n = 1; n < 5000; n++) {
    sy_gw_objects_t *o = NULL;
    sy_gw_status_t *st = NULL;
    sy_gw_table_t *t = NULL;
    sy_gw_error_t err;
    sy_alloc_fail_after(n);
    int rc = sy_gw_objects_load_buffer("m.yaml", ALLOC_DOC, strlen(ALLOC_DOC), 0, &o, &err);
    if (rc == 0) {
      sy_gw_input_t in = {.controller_name = CTL, .ports = PORTS, .n_ports = SY_ARRAY_LEN(PORTS), .pools = pools, .n_pools = 1};
      sy_gw_objects_input(o, &in);
      rc = sy_gw_compute(&in, &st, &t);
    }
    sy_alloc_fail_after(0);
    if (rc == 0) {
      ck_assert_uint_eq(st->n_routes, 1);
      ck_assert_str_eq(route_for(t, 80, "a.example.com", "GET", "/rx", NULL, NULL, NULL), "default/r#0");
      sy_gw_table_unref(t);
      sy_gw_status_free(st);
      sy_gw_objects_free(o);
      break;
    }
    ck_assert_int_eq(rc, -ENOMEM);
    ck_assert_ptr_null(st);
    ck_assert_ptr_null(t);
    sy_gw_objects_free(o);
    failures++;
  }
  ck_assert_int_gt(failures, 50);
}
END_TEST

START_TEST(test_empty_input) {
  sy_gw_input_t in = {.controller_name = CTL};
  sy_gw_status_t *st;
  sy_gw_table_t *t;
  ck_assert_int_eq(sy_gw_compute(&in, &st, &t), 0);
  ck_assert_uint_eq(st->n_gateways + st->n_routes + st->n_classes + st->n_pools, 0);
  ck_assert_str_eq(route_for(t, 80, "h", NULL, "/", NULL, NULL, NULL), "404");
  ck_assert_ptr_null(sy_gw_table_lookup(NULL, NULL, NULL));
  sy_gw_table_unref(t);
  sy_gw_status_free(st);
  sy_gw_status_free(NULL);
  sy_gw_objects_free(NULL);
  sy_gw_object_cleanup(SY_GW_KIND_HTTPROUTE, NULL);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("gateway");
  TCase *tc = tcase_create("decode");
  tcase_add_test(tc, test_route_defaults);
  tcase_add_test(tc, test_filters_decode);
  tcase_add_test(tc, test_gateway_decode);
  tcase_add_loop_test(tc, test_bad_objects, 0, (int)SY_ARRAY_LEN(bad_cases));
  tcase_add_test(tc, test_lenient);
  tcase_add_test(tc, test_json);
  tcase_add_test(tc, test_kind_of);
  tcase_add_test(tc, test_hostname_intersect);
  suite_add_tcase(s, tc);
  tc = tcase_create("status");
  tcase_add_test(tc, test_status_basic);
  tcase_add_test(tc, test_status_listeners);
  tcase_add_test(tc, test_status_conflicts);
  tcase_add_test(tc, test_status_conflicts_within);
  tcase_add_test(tc, test_status_attachment);
  tcase_add_test(tc, test_status_resolved_refs);
  tcase_add_test(tc, test_status_invalid_rules);
  suite_add_tcase(s, tc);
  tc = tcase_create("table");
  tcase_add_loop_test(tc, test_precedence, 0, (int)SY_ARRAY_LEN(prec_cases));
  tcase_add_test(tc, test_match_info);
  tcase_add_test(tc, test_pick_weights);
  tcase_add_test(tc, test_pool_backend);
  tcase_add_test(tc, test_filters_in_table);
  tcase_add_test(tc, test_path_rewrite);
  tcase_add_test(tc, test_redirect_location);
  suite_add_tcase(s, tc);
  tc = tcase_create("robustness");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_alloc_failures);
  tcase_add_test(tc, test_empty_input);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
