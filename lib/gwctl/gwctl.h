/*
 * gwctl — Gateway mode: switchyard as the controller of its own
 * GatewayClass. Keeps the route table (lib/gateway) in step with the
 * Gateway API objects, feeds the controller every InferencePool and the
 * Pods they select (many pools in one process), and writes the status of
 * the GatewayClass, its Gateways, their HTTPRoutes and the InferencePools
 * they route to.
 *
 * Sources: the API server (one informer over GatewayClasses, Gateways,
 * HTTPRoutes, ReferenceGrants, Services, EndpointSlices, Namespaces,
 * InferencePools, Pods, and InferenceObjectives / InferenceModelRewrites when
 * served) or local manifests (the same kinds from YAML; no status writes).
 *
 * Threads: the informer (or manifests watcher) thread computes; a status
 * thread writes (only while may_write says so: the leader). The route table
 * is published like the endpoint snapshots: readers take a reference with
 * sy_gwctl_table() and never wait on a rebuild.
 */
#ifndef SY_GWCTL_H
#define SY_GWCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway.h"
#include "kube.h"
#include "source.h"

#define SY_GWCTL_DEFAULT_CONTROLLER "switchyard.dev/gateway-controller"

typedef struct sy_gwctl_config {
  const char *controller_name;        /* spec.controllerName we own (copied) */
  const sy_gw_listen_port_t *ports;   /* what the data plane serves (copied) */
  size_t n_ports;
  /* Exactly one source. */
  /* Written to every Gateway's status.addresses (type IPAddress or
   * Hostname): where clients reach the data plane, e.g. the Envoy
   * Service's DNS name. NULL/"": no addresses. Copied. */
  const char *address;
  sy_kube_client_t *client;           /* the API server (borrowed) */
  const char *manifests;              /* or a file/directory of YAML */
  unsigned poll_ms;                   /* manifests poll period (0 = 1000) */
  /* Every InferencePool and the Pods of their namespaces, InferenceObjectives
   * and InferenceModelRewrites, for the controller; ownership passes. */
  void (*on_objset)(void *ctx, sy_objset_t *set);
  void *ctx;
  /* Status is written only while this returns true (NULL: always). */
  bool (*may_write)(void *ctx);
} sy_gwctl_config_t;

typedef struct sy_gwctl sy_gwctl_t;

/* Starts the source (discovery and the first manifests load are
 * synchronous) and the status thread. 0 or a negative code with err. */
int sy_gwctl_start(sy_gwctl_t **out, const sy_gwctl_config_t *cfg, char *err, size_t errlen);
/* Stops everything and frees. Accepts NULL. */
void sy_gwctl_stop(sy_gwctl_t *g);

/* The current route table with a reference (sy_gw_table_unref), or NULL
 * before the first one. Any thread; one mutex-protected pointer copy. */
sy_gw_table_t *sy_gwctl_table(sy_gwctl_t *g);

/* True once the first table has been published. Any thread. */
bool sy_gwctl_synced(const sy_gwctl_t *g);

/* Wakes the status writer to ask may_write again now (leadership was just
 * gained), instead of at its next periodic check. Any thread. */
void sy_gwctl_kick_status(sy_gwctl_t *g);

typedef struct sy_gwctl_stats {
  uint64_t tables;          /* tables published */
  uint64_t status_writes;   /* status updates written */
  uint64_t status_conflicts;/* 409s (retried) */
  uint64_t status_errors;
  sy_gw_table_stats_t table;
} sy_gwctl_stats_t;
void sy_gwctl_stats(sy_gwctl_t *g, sy_gwctl_stats_t *out);

#endif /* SY_GWCTL_H */
