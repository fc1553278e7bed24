/* Private structures shared by framework.c and config.c. */
#ifndef SY_SCHEDULER_INT_H
#define SY_SCHEDULER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "scheduler.h"

typedef enum ext_id { EXT_FILTER, EXT_SCORE, EXT_PICK, EXT_PREPARE, EXT_PRE_REQUEST, EXT_HANDLE, EXT_N } ext_id_t;

typedef struct inst {
  char *name;
  const sy_sched_plugin_type_t *type;
  void *state;
  atomic_uint_fast64_t calls[EXT_N];
  atomic_uint_fast64_t ns[EXT_N];
} inst_t;

typedef struct scorer_ref {
  inst_t *inst;
  double weight;
} scorer_ref_t;

struct sy_sched_profile {
  char *name;
  inst_t **filters;
  size_t n_filters;
  scorer_ref_t *scorers;
  size_t n_scorers;
  inst_t *picker;
};

struct sy_sched {
  inst_t *insts; /* every plugin instance, config order (auto-created ones appended) */
  size_t n_insts, cap_insts;
  sy_sched_profile_t *profiles;
  size_t n_profiles;
  inst_t *handler;
  inst_t *detector;
  int next_slot;
  sy_sched_datalayer_t datalayer;
  char *config_text;
  sy_sched_observer_fn observer;
  void *observer_ctx;
  /* recent decisions ring */
  pthread_mutex_t recent_mu;
  sy_sched_decision_t recent[SY_SCHED_RECENT];
  uint64_t recent_seq;
};

/* Adds an instance (name and type copied/borrowed); returns it or NULL. */
inst_t *sy_sched__inst_add(sy_sched_t *s, const char *name, const sy_sched_plugin_type_t *type);
inst_t *sy_sched__inst_find(sy_sched_t *s, const char *name);

#endif
