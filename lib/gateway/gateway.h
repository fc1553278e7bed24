/*
 * gateway — the Gateway API v1 part of "Gateway mode", sans I/O.
 *
 *  1. Decoders: GatewayClass, Gateway, HTTPRoute, ReferenceGrant, Service,
 *     EndpointSlice and Namespace objects (YAML manifests, or API-server JSON
 *     through sy_yaml_from_json) into small structs with the spec's defaults
 *     applied, and errors that name the object, the field path and the
 *     line:column.
 *  2. sy_gw_compute(): attachment of routes to listeners and the status of
 *     every object our controller is responsible for (GatewayClass, Gateway
 *     and its listeners, HTTPRoute parents, InferencePool parents), as plain
 *     structs the caller serialises.
 *  3. The route table: an immutable refcounted snapshot of the accepted
 *     routes; sy_gw_table_lookup() finds the winning rule of a request with
 *     the spec's precedence, sy_gw_rule_pick() chooses a backend by weight.
 *
 * Prefix: sy_gw_ (the module is lib/gateway). Dependencies: yaml, core.
 *
 * Decoding modes
 *   strict (flags 0, local manifests): unknown fields, enum values we do not
 *     know and everything the CRD schema / CEL rules reject are errors.
 *   SY_GW_DECODE_LENIENT (API-server objects, already validated by the API
 *     server against its CRD version): unknown fields are ignored; an enum
 *     value newer than this code (the spec: "implementations must ensure
 *     that unknown values will not cause a crash") does not fail the decode
 *     but marks the rule invalid, which sy_gw_compute reports as
 *     Accepted=False/UnsupportedValue (or PartiallyInvalid). Pattern checks
 *     the API server already made are not repeated.
 *   Type errors and missing required fields fail in both modes.
 *
 * Spec defaults applied by the decoders
 *   HTTPRoute: rules default to one rule matching PathPrefix "/"; a rule
 *   without matches gets one PathPrefix "/" match; a match without path gets
 *   PathPrefix "/", a path without type PathPrefix, without value "/";
 *   header and query matches default to Exact; of header (query) matches
 *   with equivalent names (case-insensitive for headers) only the first is
 *   kept; parentRef group gateway.networking.k8s.io, kind Gateway, namespace
 *   the route's; backendRef group "" (core), kind Service, namespace the
 *   route's, weight 1; RequestRedirect statusCode 302.
 *   Gateway: allowedRoutes.namespaces.from Same; allowedRoutes.kinds group
 *   gateway.networking.k8s.io; tls.mode Terminate; certificateRefs group "",
 *   kind Secret, namespace the Gateway's. Listener protocols are compared
 *   case-insensitively (core protocol values).
 *
 * Precedence (sy_gw_table_lookup), first difference wins:
 *   0. Listener isolation: on a port, the request goes to the one listener
 *      whose hostname matches it most specifically (exact, then the longest
 *      wildcard suffix, then a listener without hostname); only routes
 *      attached to that listener are considered.
 *   1. Hostname: rules of routes whose (listener-intersected) hostname
 *      equals the Host come first, then wildcard hostnames from the longest
 *      suffix to the shortest, then routes without any hostname. A lower
 *      group is consulted only when no rule of a higher one matches
 *      (precedence, not isolation). Precedence uses the intersected
 *      hostname (the spec allows this; GatewayRouteHostnameIntersection-
 *      Precedence is not claimed).
 *   2. Exact path match, then PathPrefix with the most characters, then
 *      RegularExpression (implementation-specific: after every prefix match).
 *   3. A method match; 4. more header matches; 5. more query-param matches.
 *   6. Older route creationTimestamp; 7. "{namespace}/{name}" alphabetical;
 *   8. first rule, then first match, in list order.
 *
 * Matching semantics
 *   Host: the port (and a trailing dot) is removed and the rest compared
 *   case-insensitively; "*.example.com" matches "a.example.com" and
 *   "a.b.example.com", not "example.com". Path: as given by the caller
 *   (no normalisation or percent-decoding here); PathPrefix matches on
 *   path-element boundaries ("/foo" and "/foo/" match "/foo", "/foo/" and
 *   "/foo/bar", not "/foobar"). Header names are case-insensitive; a header
 *   repeated in the request is matched on its first occurrence. Query
 *   parameters: names and values are percent-decoded before comparison, the
 *   first occurrence of a name counts. RegularExpression (path, header,
 *   query) is POSIX extended (regcomp REG_EXTENDED) and must match the whole
 *   value (the pattern is compiled as ^(pattern)$); back-references ("\1",
 *   a glibc extension with exponential matching) are rejected.
 *
 * Ownership and threads: every decoded object owns its strings (one arena,
 *   released with sy_gw_object_cleanup); a decoded struct may be moved but
 *   not copied. Decoding, sy_gw_compute and table building are pure and
 *   thread-safe (no shared state). A built table is immutable: lookups and
 *   picks may run on any number of threads at once without locks; the
 *   table lives while a reference is held.
 */
#ifndef SY_GATEWAY_H
#define SY_GATEWAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "yaml.h"

#define SY_GW_GROUP "gateway.networking.k8s.io"
#define SY_GW_POOL_GROUP "inference.networking.k8s.io"

/* ------------------------------------------------------------------ errors */

/* A located error: file (or origin), 1-based line and column (0 for JSON
 * from an API server), and a message naming the object and field path, e.g.
 * "HTTPRoute ns/r: spec.rules[0].matches[1].path.type: must be ...". */
typedef struct sy_gw_error {
  char file[512];
  int line;
  int column;
  char msg[512];
} sy_gw_error_t;

/* "file:line:column: msg" ("file: msg" without a position) into buf, always
 * NUL-terminated when n > 0. Returns buf. */
const char *sy_gw_error_str(const sy_gw_error_t *err, char *buf, size_t n);

/* ----------------------------------------------------------------- objects */

typedef struct sy_gw_label {
  const char *key;
  const char *value;
} sy_gw_label_t;

typedef enum sy_gw_selector_op {
  SY_GW_SEL_IN = 0,
  SY_GW_SEL_NOT_IN = 1,
  SY_GW_SEL_EXISTS = 2,
  SY_GW_SEL_DOES_NOT_EXIST = 3,
} sy_gw_selector_op_t;

typedef struct sy_gw_selector_expr {
  const char *key;
  sy_gw_selector_op_t op;
  const char *const *values;
  size_t n_values;
} sy_gw_selector_expr_t;

/* A metav1.LabelSelector. An empty selector matches everything. */
typedef struct sy_gw_selector {
  const sy_gw_label_t *match_labels;
  size_t n_match_labels;
  const sy_gw_selector_expr_t *exprs;
  size_t n_exprs;
} sy_gw_selector_t;

/* True when `labels` satisfy the selector (all matchLabels and all
 * matchExpressions). Pure. */
bool sy_gw_selector_matches(const sy_gw_selector_t *sel, const sy_gw_label_t *labels, size_t n_labels);

typedef struct sy_gw_meta {
  const char *name;
  const char *namespace_name; /* "default" when omitted; "" for cluster-scoped kinds */
  const char *uid;            /* NULL when unset */
  int64_t generation;         /* metadata.generation; 0 when unset */
  int64_t created;            /* metadata.creationTimestamp, Unix seconds; 0 when unset */
  const sy_gw_label_t *labels;
  size_t n_labels;
  bool deleting; /* metadata.deletionTimestamp is set */
  const char *origin; /* "file:line" or the origin given to the decoder */
} sy_gw_meta_t;

/* --- GatewayClass (gateway.networking.k8s.io/v1, cluster-scoped) --- */
typedef struct sy_gw_class {
  sy_gw_meta_t meta;
  const char *controller_name; /* spec.controllerName */
  bool has_parameters_ref;     /* spec.parametersRef set (we support none) */
  const char *parameters_kind; /* for messages; NULL when unset */
  sy_arena_t arena_;
} sy_gw_class_t;

/* --- Gateway (gateway.networking.k8s.io/v1) --- */
typedef enum sy_gw_protocol {
  SY_GW_PROTO_HTTP = 0,
  SY_GW_PROTO_HTTPS = 1,
  SY_GW_PROTO_OTHER = 2, /* TLS, TCP, UDP, domain-prefixed...: unsupported */
} sy_gw_protocol_t;

typedef enum sy_gw_from {
  SY_GW_FROM_SAME = 0,
  SY_GW_FROM_ALL = 1,
  SY_GW_FROM_SELECTOR = 2,
  SY_GW_FROM_UNKNOWN = 3, /* lenient decode of a newer value: allows nothing */
} sy_gw_from_t;

typedef struct sy_gw_group_kind {
  const char *group;
  const char *kind;
} sy_gw_group_kind_t;

typedef struct sy_gw_object_ref {
  const char *group;
  const char *kind;
  const char *namespace_name; /* defaulted to the referrer's namespace */
  const char *name;
} sy_gw_object_ref_t;

typedef enum sy_gw_tls_mode {
  SY_GW_TLS_TERMINATE = 0,
  SY_GW_TLS_PASSTHROUGH = 1,
  SY_GW_TLS_UNKNOWN = 2,
} sy_gw_tls_mode_t;

typedef struct sy_gw_listener {
  const char *name;
  const char *hostname; /* NULL: every hostname */
  int32_t port;
  sy_gw_protocol_t protocol;
  const char *protocol_text; /* as written */
  bool has_tls;
  sy_gw_tls_mode_t tls_mode;
  const sy_gw_object_ref_t *cert_refs; /* tls.certificateRefs */
  size_t n_cert_refs;
  sy_gw_from_t from;
  sy_gw_selector_t selector; /* from == SELECTOR */
  const sy_gw_group_kind_t *kinds; /* allowedRoutes.kinds; none: by protocol */
  size_t n_kinds;
} sy_gw_listener_t;

#define SY_GW_MAX_LISTENERS 64

typedef struct sy_gw_gateway {
  sy_gw_meta_t meta;
  const char *class_name; /* spec.gatewayClassName */
  const sy_gw_listener_t *listeners; /* 1..64 */
  size_t n_listeners;
  size_t n_addresses; /* spec.addresses (unsupported: Accepted=False) */
  sy_arena_t arena_;
} sy_gw_gateway_t;

/* --- HTTPRoute (gateway.networking.k8s.io/v1) --- */
typedef struct sy_gw_parent_ref {
  const char *group;          /* default gateway.networking.k8s.io */
  const char *kind;           /* default Gateway */
  const char *namespace_name; /* resolved: the route's when unset */
  bool namespace_set;         /* written in the spec (echo it in status) */
  const char *name;
  const char *section_name;   /* NULL when unset */
  int32_t port;               /* 0 when unset */
} sy_gw_parent_ref_t;

typedef enum sy_gw_path_type {
  SY_GW_PATH_EXACT = 0,
  SY_GW_PATH_PREFIX = 1,
  SY_GW_PATH_REGEX = 2,
} sy_gw_path_type_t;

typedef enum sy_gw_value_type {
  SY_GW_VALUE_EXACT = 0,
  SY_GW_VALUE_REGEX = 1,
} sy_gw_value_type_t;

/* A header or query-parameter match. */
typedef struct sy_gw_kv_match {
  sy_gw_value_type_t type;
  const char *name;
  const char *value;
} sy_gw_kv_match_t;

typedef struct sy_gw_match {
  sy_gw_path_type_t path_type;
  const char *path; /* never NULL */
  const sy_gw_kv_match_t *headers;
  size_t n_headers;
  const sy_gw_kv_match_t *query;
  size_t n_query;
  const char *method; /* NULL: any method */
} sy_gw_match_t;

typedef struct sy_gw_header {
  const char *name;
  const char *value;
} sy_gw_header_t;

/* RequestHeaderModifier / ResponseHeaderModifier. */
typedef struct sy_gw_header_mod {
  const sy_gw_header_t *set;
  size_t n_set;
  const sy_gw_header_t *add;
  size_t n_add;
  const char *const *remove;
  size_t n_remove;
} sy_gw_header_mod_t;

typedef enum sy_gw_path_mod_type {
  SY_GW_PATHMOD_NONE = 0,
  SY_GW_PATHMOD_FULL = 1,   /* ReplaceFullPath */
  SY_GW_PATHMOD_PREFIX = 2, /* ReplacePrefixMatch */
} sy_gw_path_mod_type_t;

typedef struct sy_gw_path_mod {
  sy_gw_path_mod_type_t type;
  const char *value; /* replaceFullPath / replacePrefixMatch ("" allowed) */
} sy_gw_path_mod_t;

typedef struct sy_gw_url_rewrite {
  const char *hostname; /* NULL: keep */
  sy_gw_path_mod_t path;
} sy_gw_url_rewrite_t;

typedef struct sy_gw_redirect {
  const char *scheme;   /* "http" / "https"; NULL: the request's */
  const char *hostname; /* NULL: the request's */
  sy_gw_path_mod_t path;
  int32_t port;         /* 0: derived (see sy_gw_redirect_location) */
  int status_code;      /* 301, 302 (default), 303, 307, 308 */
} sy_gw_redirect_t;

typedef enum sy_gw_filter_type {
  SY_GW_FILTER_REQUEST_HEADER = 0,  /* RequestHeaderModifier */
  SY_GW_FILTER_RESPONSE_HEADER = 1, /* ResponseHeaderModifier */
  SY_GW_FILTER_URL_REWRITE = 2,
  SY_GW_FILTER_REDIRECT = 3,        /* RequestRedirect */
  SY_GW_FILTER_EXTENSION_REF = 4,   /* never resolvable here: the rule answers 500 */
  SY_GW_FILTER_UNSUPPORTED = 5,     /* RequestMirror, CORS, ExternalAuth, newer types */
} sy_gw_filter_type_t;

typedef struct sy_gw_filter {
  sy_gw_filter_type_t type;
  const char *type_text; /* as written */
  sy_gw_header_mod_t headers; /* REQUEST_HEADER, RESPONSE_HEADER */
  sy_gw_url_rewrite_t rewrite; /* URL_REWRITE */
  sy_gw_redirect_t redirect;   /* REDIRECT */
  sy_gw_group_kind_t extension; /* EXTENSION_REF (+ extension_name) */
  const char *extension_name;
} sy_gw_filter_t;

typedef struct sy_gw_backend_ref {
  const char *group; /* "" = core */
  const char *kind;  /* default Service */
  const char *namespace_name; /* resolved: the route's when unset */
  const char *name;
  int32_t port;      /* 0 when unset (required for Service) */
  uint32_t weight;   /* 0..1000000, default 1 */
  const sy_gw_filter_t *filters; /* backend-level (implementation-specific) */
  size_t n_filters;
} sy_gw_backend_ref_t;

typedef struct sy_gw_route_rule {
  const char *name; /* NULL when unset */
  const sy_gw_match_t *matches; /* >= 1 (defaulted) */
  size_t n_matches;
  const sy_gw_filter_t *filters;
  size_t n_filters;
  const sy_gw_backend_ref_t *backends;
  size_t n_backends;
  int64_t timeout_request_ms; /* timeouts.request; -1 unset, 0 disabled */
  int64_t timeout_backend_ms; /* timeouts.backendRequest; -1 unset */
  /* Set when the rule cannot be programmed (unsupported or unknown value,
   * incompatible filters): Route reason and message. NULL when valid. */
  const char *invalid_reason;
  const char *invalid_message;
} sy_gw_route_rule_t;

typedef struct sy_gw_httproute {
  sy_gw_meta_t meta;
  const sy_gw_parent_ref_t *parents;
  size_t n_parents;
  const char *const *hostnames; /* lower case */
  size_t n_hostnames;
  const sy_gw_route_rule_t *rules; /* >= 1 (defaulted) */
  size_t n_rules;
  sy_arena_t arena_;
} sy_gw_httproute_t;

/* --- ReferenceGrant (gateway.networking.k8s.io/v1beta1 or v1) --- */
typedef struct sy_gw_grant_from {
  const char *group;
  const char *kind;
  const char *namespace_name;
} sy_gw_grant_from_t;

typedef struct sy_gw_grant_to {
  const char *group;
  const char *kind;
  const char *name; /* NULL: every object of that group/kind */
} sy_gw_grant_to_t;

typedef struct sy_gw_refgrant {
  sy_gw_meta_t meta;
  const sy_gw_grant_from_t *from;
  size_t n_from;
  const sy_gw_grant_to_t *to;
  size_t n_to;
  sy_arena_t arena_;
} sy_gw_refgrant_t;

/* --- Service (v1) --- */
typedef struct sy_gw_service_port {
  const char *name;        /* "" when unnamed */
  int32_t port;
  int32_t target_port;     /* numeric targetPort (defaults to port); 0 when named */
  const char *target_port_name; /* named targetPort; NULL when numeric */
  const char *protocol;    /* default TCP */
  const char *app_protocol; /* NULL when unset */
} sy_gw_service_port_t;

typedef struct sy_gw_service {
  sy_gw_meta_t meta;
  const char *type; /* default ClusterIP */
  const sy_gw_service_port_t *ports;
  size_t n_ports;
  sy_arena_t arena_;
} sy_gw_service_t;

/* --- EndpointSlice (discovery.k8s.io/v1) --- */
typedef enum sy_gw_addr_type {
  SY_GW_ADDR_IPV4 = 0,
  SY_GW_ADDR_IPV6 = 1,
  SY_GW_ADDR_FQDN = 2,
} sy_gw_addr_type_t;

typedef struct sy_gw_slice_endpoint {
  const char *const *addresses;
  size_t n_addresses;
  bool ready; /* conditions.ready; unset counts as ready (API semantics) */
  bool serving;
  bool terminating;
} sy_gw_slice_endpoint_t;

typedef struct sy_gw_slice_port {
  const char *name; /* "" when unnamed */
  int32_t port;     /* 0 when unset (then no port is usable) */
  const char *protocol;
} sy_gw_slice_port_t;

typedef struct sy_gw_endpointslice {
  sy_gw_meta_t meta;
  const char *service_name; /* label kubernetes.io/service-name; NULL when absent */
  sy_gw_addr_type_t address_type;
  const sy_gw_slice_endpoint_t *endpoints;
  size_t n_endpoints;
  const sy_gw_slice_port_t *ports;
  size_t n_ports;
  sy_arena_t arena_;
} sy_gw_endpointslice_t;

/* --- Namespace (v1): labels for allowedRoutes selectors --- */
typedef struct sy_gw_namespace {
  sy_gw_meta_t meta; /* meta.name is the namespace; namespace_name is "" */
  sy_arena_t arena_;
} sy_gw_namespace_t;

/* ---------------------------------------------------------------- decoding */

typedef enum sy_gw_kind {
  SY_GW_KIND_GATEWAY_CLASS = 0,
  SY_GW_KIND_GATEWAY = 1,
  SY_GW_KIND_HTTPROUTE = 2,
  SY_GW_KIND_REFERENCE_GRANT = 3,
  SY_GW_KIND_SERVICE = 4,
  SY_GW_KIND_ENDPOINT_SLICE = 5,
  SY_GW_KIND_NAMESPACE = 6,
} sy_gw_kind_t;
#define SY_GW_KIND_COUNT 7

#define SY_GW_DECODE_LENIENT 1u /* API-server object: see the file comment */

/* "GatewayClass", "Gateway", ... */
const char *sy_gw_kind_name(sy_gw_kind_t kind);
/* The kind an apiVersion + kind pair decodes as (Gateway API kinds in
 * gateway.networking.k8s.io/v1 or v1beta1, Service and Namespace in v1,
 * EndpointSlice in discovery.k8s.io/v1), or -1 for anything else. */
int sy_gw_kind_of(const char *api_version, const char *kind);

/* Decodes one object of `kind` from its YAML node (a mapping; apiVersion and
 * kind are not checked: API list items carry none) into *out, a zeroed
 * struct of the kind's type. `file` names the source in errors ("m.yaml",
 * "apiserver") and in meta.origin. flags: 0 or SY_GW_DECODE_LENIENT.
 * Returns 0; SY_EINVAL with `err` (may be NULL) filled; or -ENOMEM. On
 * failure *out is left clean (zeroed). Thread-safe. */
int sy_gw_object_decode(sy_gw_kind_t kind, const sy_yaml_node_t *obj, const char *file,
                        unsigned flags, void *out, sy_gw_error_t *err);
/* Releases what a decoded object owns (not the struct itself) and zeroes
 * it. Accepts a zeroed object. */
void sy_gw_object_cleanup(sy_gw_kind_t kind, void *obj);

/* A set of decoded objects (tests, fuzzing, local manifests). Each object
 * is heap-allocated and owns its memory. */
typedef struct sy_gw_objects {
  sy_gw_class_t **classes;
  size_t n_classes;
  sy_gw_gateway_t **gateways;
  size_t n_gateways;
  sy_gw_httproute_t **routes;
  size_t n_routes;
  sy_gw_refgrant_t **grants;
  size_t n_grants;
  sy_gw_service_t **services;
  size_t n_services;
  sy_gw_endpointslice_t **slices;
  size_t n_slices;
  sy_gw_namespace_t **namespaces;
  size_t n_namespaces;
} sy_gw_objects_t;

/* Parses `len` bytes of YAML (one or more documents, v1 Lists allowed) and
 * decodes every object of a kind above; other kinds and empty documents are
 * skipped. A namespace/name that appears twice for one kind is an error.
 * `name` stands for the file in errors. 0 with *out (free with
 * sy_gw_objects_free), or *out NULL and SY_EPARSE / SY_ETOOBIG (YAML),
 * SY_EINVAL (an invalid object), -ENOMEM; `err` may be NULL. Thread-safe. */
int sy_gw_objects_load_buffer(const char *name, const char *data, size_t len, unsigned flags,
                              sy_gw_objects_t **out, sy_gw_error_t *err);
/* Frees the set and every object. Accepts NULL. */
void sy_gw_objects_free(sy_gw_objects_t *o);

/* ------------------------------------------------------- compute (status) */

/* One port the data plane serves, with its protocol. */
typedef struct sy_gw_listen_port {
  int32_t port;
  sy_gw_protocol_t protocol; /* HTTP or HTTPS */
} sy_gw_listen_port_t;

/* An InferencePool as the gateway sees it (lib/source decodes the pool). */
typedef struct sy_gw_pool_ref {
  const char *namespace_name;
  const char *name;
  int64_t generation;
  /* spec.endpointPickerRef; epp_name NULL when absent (we are the picker) */
  const char *epp_group;
  const char *epp_kind;
  const char *epp_name;
} sy_gw_pool_ref_t;

/* A Secret known to exist (namespace + name). */
typedef struct sy_gw_secret_ref {
  const char *namespace_name;
  const char *name;
} sy_gw_secret_ref_t;

/* Everything sy_gw_compute reads. All pointers are borrowed for the call
 * only; arrays of pointers so callers can keep objects in their own caches.
 * A namespace missing from `namespaces` has only the label
 * kubernetes.io/metadata.name. */
typedef struct sy_gw_input {
  const char *controller_name; /* e.g. "switchyard.dev/gateway-controller" */
  const sy_gw_listen_port_t *ports; /* what the data plane serves */
  size_t n_ports;
  const sy_gw_class_t *const *classes;
  size_t n_classes;
  const sy_gw_gateway_t *const *gateways;
  size_t n_gateways;
  const sy_gw_httproute_t *const *routes;
  size_t n_routes;
  const sy_gw_refgrant_t *const *grants;
  size_t n_grants;
  const sy_gw_service_t *const *services;
  size_t n_services;
  const sy_gw_endpointslice_t *const *slices;
  size_t n_slices;
  const sy_gw_namespace_t *const *namespaces;
  size_t n_namespaces;
  const sy_gw_pool_ref_t *pools;
  size_t n_pools;
  /* When secrets_known, a certificateRef to a Secret not listed here is
   * InvalidCertificateRef; otherwise Secrets are assumed to exist. */
  bool secrets_known;
  const sy_gw_secret_ref_t *secrets;
  size_t n_secrets;
} sy_gw_input_t;

/* Points `in`'s object arrays at the objects of `o` (other fields are left
 * as they are). */
void sy_gw_objects_input(const sy_gw_objects_t *o, sy_gw_input_t *in);

typedef enum sy_gw_cond_status {
  SY_GW_COND_FALSE = 0,
  SY_GW_COND_TRUE = 1,
  SY_GW_COND_UNKNOWN = 2,
} sy_gw_cond_status_t;

/* One metav1.Condition without lastTransitionTime (the caller keeps the old
 * time when type+status are unchanged). */
typedef struct sy_gw_condition {
  const char *type;
  sy_gw_cond_status_t status;
  const char *reason;
  const char *message;
  int64_t observed_generation;
} sy_gw_condition_t;

/* "True" / "False" / "Unknown". */
const char *sy_gw_cond_status_str(sy_gw_cond_status_t s);

typedef struct sy_gw_class_status {
  const char *name;
  sy_gw_condition_t conds[1]; /* Accepted */
  size_t n_conds;
} sy_gw_class_status_t;

typedef struct sy_gw_listener_status {
  const char *name;
  const sy_gw_group_kind_t *supported_kinds;
  size_t n_supported_kinds;
  int32_t attached_routes;
  sy_gw_condition_t conds[4]; /* Accepted, Programmed, ResolvedRefs, Conflicted */
  size_t n_conds;
} sy_gw_listener_status_t;

typedef struct sy_gw_gateway_status {
  const char *namespace_name;
  const char *name;
  sy_gw_condition_t conds[2]; /* Accepted, Programmed */
  size_t n_conds;
  sy_gw_listener_status_t *listeners; /* in spec order */
  size_t n_listeners;
} sy_gw_gateway_status_t;

typedef struct sy_gw_route_parent_status {
  sy_gw_parent_ref_t parent_ref; /* as in the spec (namespace_set says if written) */
  const char *controller_name;
  sy_gw_condition_t conds[3]; /* Accepted, ResolvedRefs[, PartiallyInvalid] */
  size_t n_conds;
} sy_gw_route_parent_status_t;

typedef struct sy_gw_route_status {
  const char *namespace_name;
  const char *name;
  sy_gw_route_parent_status_t *parents; /* one per parentRef to one of our Gateways */
  size_t n_parents;
} sy_gw_route_status_t;

typedef struct sy_gw_pool_parent_status {
  /* parentRef: group gateway.networking.k8s.io, kind Gateway, explicit namespace */
  const char *gateway_namespace;
  const char *gateway_name;
  sy_gw_condition_t conds[2]; /* Accepted, ResolvedRefs */
  size_t n_conds;
} sy_gw_pool_parent_status_t;

typedef struct sy_gw_pool_status {
  const char *namespace_name;
  const char *name;
  sy_gw_pool_parent_status_t *parents; /* one per Gateway of ours routing to it */
  size_t n_parents;
} sy_gw_pool_status_t;

/* The status of every object we are responsible for. Objects we are not
 * responsible for (other controllers' classes, their Gateways, routes
 * without a parentRef to ours) do not appear; the caller removes stale
 * entries carrying our controllerName. Owns all its strings. */
typedef struct sy_gw_status {
  sy_gw_class_status_t *classes;
  size_t n_classes;
  sy_gw_gateway_status_t *gateways;
  size_t n_gateways;
  sy_gw_route_status_t *routes;
  size_t n_routes;
  sy_gw_pool_status_t *pools;
  size_t n_pools;
  sy_arena_t arena_;
} sy_gw_status_t;

void sy_gw_status_free(sy_gw_status_t *st);

/* ------------------------------------------------------------ route table */

typedef enum sy_gw_backend_type {
  SY_GW_BACKEND_SERVICE = 0,
  SY_GW_BACKEND_POOL = 1,    /* an InferencePool: the endpoint picker decides */
  SY_GW_BACKEND_INVALID = 2, /* unresolvable: its share of traffic gets 500 */
} sy_gw_backend_type_t;

typedef struct sy_gw_backend {
  sy_gw_backend_type_t type;
  const char *group;
  const char *kind;
  const char *namespace_name;
  const char *name;
  int32_t port;
  uint32_t weight;
  const char *invalid_reason; /* INVALID: BackendNotFound, RefNotPermitted, InvalidKind */
  /* SERVICE: the ready endpoints "ip:port" (IPv6 bracketed), sorted; empty
   * means no ready endpoint (the spec suggests 503). */
  const char *const *endpoints;
  size_t n_endpoints;
  const sy_gw_filter_t *filters; /* backend-level filters */
  size_t n_filters;
} sy_gw_backend_t;

typedef struct sy_gw_rule {
  const char *route_namespace;
  const char *route_name;
  const char *rule_name; /* NULL when unset */
  uint32_t rule_index;
  const sy_gw_filter_t *filters; /* in spec order */
  size_t n_filters;
  const sy_gw_filter_t *redirect; /* the RequestRedirect filter or NULL */
  const sy_gw_filter_t *rewrite;  /* the URLRewrite filter or NULL */
  bool filter_error; /* an ExtensionRef filter we cannot resolve: answer 500 */
  const sy_gw_backend_t *backends;
  size_t n_backends;
  uint64_t total_weight; /* over every backend, invalid ones included */
  int64_t timeout_request_ms;
  int64_t timeout_backend_ms;
} sy_gw_rule_t;

typedef struct sy_gw_table sy_gw_table_t;

/* Computes status and/or the route table from `in` (either out may be NULL).
 * *status_out: free with sy_gw_status_free. *table_out: a new table with one
 * reference (sy_gw_table_unref). Only listeners that are Accepted and
 * Programmed and routes Accepted by them enter the table; invalid rules are
 * left out. 0 or -ENOMEM (both outs NULL). Pure; thread-safe. */
int sy_gw_compute(const sy_gw_input_t *in, sy_gw_status_t **status_out, sy_gw_table_t **table_out);

sy_gw_table_t *sy_gw_table_ref(sy_gw_table_t *t);
/* Drops a reference; the last one frees the table. Accepts NULL. Any thread. */
void sy_gw_table_unref(sy_gw_table_t *t);

/* Sizes, for logs and debug views. */
typedef struct sy_gw_table_stats {
  size_t n_listeners;
  size_t n_rules;
  size_t n_match_entries;
  size_t bytes;
} sy_gw_table_stats_t;
void sy_gw_table_stats(const sy_gw_table_t *t, sy_gw_table_stats_t *out);

typedef struct sy_gw_req_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} sy_gw_req_header_t;

/* One request, borrowed. host may carry ":port"; path excludes the query;
 * query excludes the '?'. Lengths, not NUL terminators, delimit strings. */
typedef struct sy_gw_request {
  int32_t port; /* the listener port the request arrived on */
  const char *host;
  size_t host_len;
  const char *method;
  size_t method_len;
  const char *path;
  size_t path_len;
  const char *query;
  size_t query_len;
  const sy_gw_req_header_t *headers;
  size_t n_headers;
} sy_gw_request_t;

/* What matched, for filters that depend on it. */
typedef struct sy_gw_match_info {
  const char *gateway_namespace;
  const char *gateway_name;
  const char *listener_name;
  sy_gw_protocol_t listener_protocol;
  uint32_t match_index;     /* the rule's match that won */
  sy_gw_path_type_t path_type;
  size_t prefix_len;        /* PathPrefix: bytes of the request path the prefix
                               covers (trailing '/' excluded); else 0 */
} sy_gw_match_info_t;

/* The winning rule for `req`, or NULL when no rule matches (answer 404).
 * `info` may be NULL. No allocation; any thread; the rule lives as long as
 * the table. */
const sy_gw_rule_t *sy_gw_table_lookup(const sy_gw_table_t *t, const sy_gw_request_t *req,
                                       sy_gw_match_info_t *info);

typedef enum sy_gw_pick {
  SY_GW_PICK_OK = 0,
  SY_GW_PICK_500 = 1, /* no backend, all weights 0, an invalid backend's share,
                         or an unresolvable filter: answer 500 */
  SY_GW_PICK_503 = 2, /* a Service backend without ready endpoints */
} sy_gw_pick_t;

/* Chooses a backend by weight with `rnd` (uniform 64-bit random); *out gets
 * it (also for 503, NULL for 500). A rule with a redirect filter should be
 * answered by the caller before picking. No allocation; any thread. */
sy_gw_pick_t sy_gw_rule_pick(const sy_gw_rule_t *rule, uint64_t rnd, const sy_gw_backend_t **out);

/* --------------------------------------------------------- filter helpers */

/* The path after a URLRewrite / RequestRedirect path modifier: ReplaceFullPath
 * gives the value; ReplacePrefixMatch replaces the matched prefix
 * (info->prefix_len bytes) keeping element boundaries ("/foo/bar" with
 * prefix "/foo" and "/xyz" or "/xyz/" gives "/xyz/bar"; "" gives "/bar");
 * NONE copies the path. Writes a NUL-terminated path into buf. Returns its
 * length, or SY_ETOOBIG when n is too small. */
int sy_gw_path_rewrite(const sy_gw_path_mod_t *mod, const char *path, size_t path_len,
                       size_t prefix_len, char *buf, size_t n);

/* The Location of a RequestRedirect: scheme (redirect's or req_scheme),
 * host (redirect's or the request host without port), port (redirect's; else
 * 80/443 when the redirect sets a scheme; else listener_port), omitted for
 * http:80 and https:443; path per sy_gw_path_rewrite; "?query" kept. Returns
 * the length written (NUL-terminated) or SY_ETOOBIG. */
int sy_gw_redirect_location(const sy_gw_redirect_t *r, const char *req_scheme, const char *host,
                            size_t host_len, int32_t listener_port, const char *path,
                            size_t path_len, size_t prefix_len, const char *query,
                            size_t query_len, char *buf, size_t n);

/* ---------------------------------------------------------------- hostnames */

/* The hostname a route hostname and a listener hostname (either NULL =
 * unset) have in common, per the HTTPRoute spec: NULL with *ok false when
 * they do not intersect; otherwise *ok true and the more specific of the
 * two (NULL when both are unset). Pure. */
const char *sy_gw_hostname_intersect(const char *listener, const char *route, bool *ok);
/* True when `host` (lower case, no port) matches `pattern` ("a.b" exact or
 * "*.b" suffix with at least one label before it). */
bool sy_gw_hostname_matches(const char *pattern, const char *host, size_t host_len);

#endif /* SY_GATEWAY_H */
