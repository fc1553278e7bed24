/* gateway — declarations shared between the module's files (not public). */
#ifndef SY_GATEWAY_INT_H
#define SY_GATEWAY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway.h"

/* ------------------------------------------------------------------ utils */

/* Case-insensitive ASCII equality of two length-delimited strings. */
bool sy_gw__ieq(const char *a, size_t alen, const char *b, size_t blen);
/* 64-bit FNV-1a of `n` bytes, continuing from `h`. */
uint64_t sy_gw__hash(uint64_t h, const void *p, size_t n);
#define SY_GW_HASH_INIT 1469598103934665603ull
/* RFC 3339 timestamp -> Unix seconds; 0 when it does not parse. */
int64_t sy_gw__parse_time(const char *s);
/* Gateway API duration (GEP-2257: 1-4 of [0-9]{1,5}(h|m|s|ms)) -> ms. 0 or SY_EPARSE. */
int sy_gw__duration_ms(const char *s, int64_t *out);
/* Lower-cases `host`, drops ":port" and one trailing '.', keeps "[v6]"
 * literals whole. Writes at most n-1 bytes and a NUL; returns the length,
 * or SIZE_MAX when it does not fit. */
size_t sy_gw__host_normalize(const char *host, size_t len, char *buf, size_t n);
/* Value of label `key`, or NULL. */
const char *sy_gw__label_get(const sy_gw_label_t *l, size_t n, const char *key);
/* strcmp over (namespace, name). */
int sy_gw__nn_cmp(const char *ns1, const char *n1, const char *ns2, const char *n2);
/* Lengths of a wildcard-free hostname / the suffix of "*.x" ("x" incl. dot). */
static inline bool sy_gw__is_wild(const char *h) { return h && h[0] == '*' && h[1] == '.'; }

/* True when a RegularExpression value is acceptable: at most 1024 bytes, no
 * back-reference (glibc accepts "\\1" in ERE; matching it can take
 * exponential time on the request path), and ^(pattern)$ compiles as POSIX
 * extended. */
bool sy_gw__regex_ok(const char *pattern);
/* The length and back-reference checks of sy_gw__regex_ok, without compiling. */
bool sy_gw__regex_safe(const char *pattern);

/* ------------------------------------------------------------ hash table */

/* Open addressing, keys (scope, kind, bytes) -> uint32 value. Keys point at
 * memory owned elsewhere (the table arena). Built once, then read-only. */
typedef struct sy_gw__hent {
  uint64_t hash;
  const char *key;
  uint32_t len;
  uint32_t scope;
  uint32_t kind;
  uint32_t value;
} sy_gw__hent_t;

typedef struct sy_gw__htab {
  sy_gw__hent_t *slots; /* cap entries; key == NULL means empty */
  size_t cap;           /* power of two */
  size_t n;
} sy_gw__htab_t;

/* Allocates room for `expected` keys from `a`. 0 or -ENOMEM. */
int sy_gw__htab_init(sy_gw__htab_t *h, sy_arena_t *a, size_t expected);
/* Inserts; when the key exists its value is kept and *existing set. 0 or SY_ETOOBIG (full). */
int sy_gw__htab_put(sy_gw__htab_t *h, uint32_t scope, uint32_t kind, const char *key, size_t len,
                    uint32_t value, uint32_t *existing);
/* Value of the key, or UINT32_MAX. */
uint32_t sy_gw__htab_get(const sy_gw__htab_t *h, uint32_t scope, uint32_t kind, const char *key,
                         size_t len);

/* ------------------------------------------------------------------ model */

/* Attachment facts shared by status and the table. */
typedef struct sy_gw__listener {
  const sy_gw_listener_t *spec;
  bool allows_httproute;   /* HTTPRoute is among the supported kinds */
  bool accepted;
  const char *accepted_reason;
  const char *accepted_msg;
  bool programmed;
  const char *refs_reason; /* NULL when ResolvedRefs */
  const char *refs_msg;
  const char *conflict_reason; /* NULL when not conflicted */
  const char *conflict_msg;
  const sy_gw_group_kind_t *supported; /* supportedKinds */
  size_t n_supported;
  int32_t attached;
} sy_gw__listener_t;

typedef struct sy_gw__gateway {
  const sy_gw_gateway_t *gw;
  bool accepted;
  const char *accepted_reason;
  const char *accepted_msg;
  bool programmed;
  const char *programmed_reason;
  const char *programmed_msg;
  sy_gw__listener_t *listeners;
} sy_gw__gateway_t;

/* A parentRef of a route that names one of our Gateways. */
typedef struct sy_gw__parent {
  uint32_t route;  /* index into in->routes */
  uint32_t parent; /* index into the route's parents */
  uint32_t gw;     /* index into model->gws */
  uint64_t mask;   /* listeners the route is attached to (when accepted) */
  bool accepted;
  const char *reason;
  const char *msg;
} sy_gw__parent_t;

typedef struct sy_gw__route {
  size_t n_invalid_rules;
  const char *invalid_reason; /* of the first invalid rule */
  const char *invalid_msg;
  const char *refs_reason;    /* NULL: ResolvedRefs */
  const char *refs_msg;
} sy_gw__route_t;

typedef struct sy_gw__model {
  const sy_gw_input_t *in;
  sy_arena_t arena;
  sy_gw__gateway_t *gws; /* ours (class with our controllerName), by namespace/name */
  size_t n_gws;
  sy_gw__route_t *routes; /* parallel to in->routes */
  sy_gw__parent_t *parents;
  size_t n_parents;
  /* sorted views for lookups */
  const sy_gw_service_t **svcs;
  size_t n_svcs;
  const sy_gw_pool_ref_t **pools;
  size_t n_pools;
  const sy_gw_namespace_t **nss;
  size_t n_nss;
  const sy_gw_refgrant_t **grants; /* by namespace */
  size_t n_grants;
  const sy_gw_endpointslice_t **slices; /* by namespace, service name */
  size_t n_slices;
  const sy_gw_secret_ref_t **secrets;
  size_t n_secrets;
} sy_gw__model_t;

/* Builds the model (attachment, listener and route facts). 0 or -ENOMEM;
 * the model must be cleaned up either way. */
int sy_gw__model_build(const sy_gw_input_t *in, sy_gw__model_t *m);
void sy_gw__model_cleanup(sy_gw__model_t *m);

/* Validity of one backendRef of `route`: NULL when it resolves (*type set),
 * else a ResolvedRefs reason with a message in msg. */
const char *sy_gw__backend_check(const sy_gw__model_t *m, const sy_gw_httproute_t *route,
                                 const sy_gw_backend_ref_t *b, sy_gw_backend_type_t *type,
                                 char *msg, size_t n);
const sy_gw_service_t *sy_gw__service_find(const sy_gw__model_t *m, const char *ns, const char *name);
/* Range [*first, *first + return) of slices of service ns/name in m->slices. */
size_t sy_gw__slices_find(const sy_gw__model_t *m, const char *ns, const char *name, size_t *first);

/* Builds the route table from a model. 0 or -ENOMEM. */
int sy_gw__table_build(const sy_gw__model_t *m, sy_gw_table_t **out);

#endif
