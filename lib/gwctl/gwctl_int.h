/* gwctl — declarations shared between the module's files (not public). */
#ifndef SY_GWCTL_INT_H
#define SY_GWCTL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "gwctl.h"

/* Reflector slots: the gateway kinds (sy_gw_kind_t order), then ours. */
enum {
  SY_GWCTL__R_POOLS = SY_GW_KIND_COUNT,
  SY_GWCTL__R_PODS,
  SY_GWCTL__R_OBJ_LLMD,
  SY_GWCTL__R_OBJ_X,
  SY_GWCTL__R_RW_LLMD,
  SY_GWCTL__R_RW_X,
  SY_GWCTL__R_COUNT
};

struct sy_gwctl {
  char *controller_name;
  char *address; /* NULL: no status.addresses */
  sy_gw_listen_port_t *ports;
  size_t n_ports;
  sy_kube_client_t *client;
  char *manifests;
  void (*on_objset)(void *ctx, sy_objset_t *set);
  void *ctx;
  bool (*may_write)(void *ctx);

  pthread_mutex_t mu; /* guards table */
  sy_gw_table_t *table;
  atomic_bool synced;
  _Atomic uint64_t tables, status_writes, status_conflicts, status_errors;

  sy_kube_informer_t *inf;
  sy_kube_reflector_t *refl[SY_GWCTL__R_COUNT];
  sy_manifests_watch_t *watch;

  /* status writer */
  pthread_t st_thread;
  bool st_started;
  pthread_mutex_t st_mu;
  pthread_cond_t st_cv;
  bool st_stop;              /* under st_mu */
  bool st_kick;              /* under st_mu: re-check may_write now */
  sy_gw_status_t *st_pending; /* under st_mu: newest status not yet taken */
  /* status thread only */
  sy_gw_status_t *st_current; /* what we are (re)trying to write */
  bool st_done;               /* st_current fully written */
  uint64_t st_digest;         /* of st_current */
  char **owned;               /* "route|ns/name" / "pool|ns/name" holding our entries */
  size_t n_owned;
  bool owned_seeded;          /* entries from before this process were looked up */
};

/* Hands a new status to the writer (ownership passes; replaces a pending one). */
void sy_gwctl__status_submit(sy_gwctl_t *g, sy_gw_status_t *st);
int sy_gwctl__status_start(sy_gwctl_t *g, char *err, size_t errlen);
void sy_gwctl__status_stop(sy_gwctl_t *g);

/* Moves every object of `from` into `into` and frees `from`. 0 or -ENOMEM
 * (then `from` is freed with its objects). */
int sy_gwctl__objects_merge(sy_gw_objects_t *into, sy_gw_objects_t *from);

#endif
