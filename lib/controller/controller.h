/*
 * controller — reconciles Kubernetes objects (from local manifests now, from
 * the API server later) into routing snapshots and publishes them.
 *
 * Pool membership follows upstream's EPP: a pod belongs to a pool when it is
 * in the pool's namespace, its labels match spec.selector.matchLabels, its
 * Ready condition is True, it has a podIP and no deletionTimestamp. Each
 * member yields one endpoint per targetPort ("<pod>-rank-<i>"), restricted by
 * the pod annotation inference.networking.k8s.io/active-ports when present.
 *
 * Threading: sy_controller_apply_objset() is called from one source thread
 * at a time. sy_controller_synced() may be called from any thread.
 */
#ifndef SY_CONTROLLER_H
#define SY_CONTROLLER_H

#include <stdbool.h>

#include "datastore.h"
#include "source.h"

#define SY_ACTIVE_PORTS_ANNOTATION "inference.networking.k8s.io/active-ports"

typedef struct sy_controller_config {
  const char *pool_name;      /* the pool this EPP serves (copied) */
  const char *pool_namespace; /* copied */
  /* Optional: called on the controller's thread after each publish with the
   * new snapshot (borrowed for the call), e.g. to retarget scraping. */
  void (*on_publish)(void *ctx, const sy_snapshot_t *snap);
  void *on_publish_ctx;
} sy_controller_config_t;

typedef struct sy_controller sy_controller_t;

/* Creates a controller publishing into `ds` (borrowed; must outlive it). */
int sy_controller_new(sy_controller_t **out, sy_datastore_t *ds, const sy_controller_config_t *cfg);
void sy_controller_free(sy_controller_t *c);

/* Replaces the controller's view of the world with `set` (takes ownership),
 * builds a new snapshot and publishes it. Endpoint runtime state is carried
 * over for endpoints that persist. 0 or -ENOMEM (the previous snapshot then
 * stays in force). */
int sy_controller_apply_objset(sy_controller_t *c, sy_objset_t *set);

/* True once a set containing the configured pool has been applied (and it
 * is still present). Any thread. */
bool sy_controller_synced(const sy_controller_t *c);

/* Builds a snapshot from `set` without publishing (exposed for tests and
 * benchmarks). `prev` (may be NULL) supplies endpoint state to carry over. */
sy_snapshot_t *sy_controller_build_snapshot(const sy_objset_t *set, const sy_snapshot_t *prev);

#endif /* SY_CONTROLLER_H */
