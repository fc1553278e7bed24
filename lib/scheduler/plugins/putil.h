/* Internal helpers shared by the in-tree plugins (plugins/ directory):
 * strict parameter parsing (unknown keys and wrong types are located errors
 * naming the key; `args` is kept for context: the framework prefixes every
 * message with the plugin name and type) and small utilities. Not part of
 * the scheduler's public interface. */
#ifndef SY_SCHED_PUTIL_H
#define SY_SCHED_PUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler.h"

/* Checks that `params` (args->params; NULL or a YAML null mean "no
 * parameters") is a mapping whose keys are all listed in `allowed`
 * (NULL-terminated). Returns 0 or SY_EINVAL with err located at the first
 * offending node. */
int sy_pp_check(const sy_sched_plugin_args_t *args, const char *const *allowed, sy_sched_error_t *err);

/* Typed getters: a missing (or null) key leaves *out unchanged and returns
 * 0; a present key of the wrong type or outside [min, max] is SY_EINVAL
 * with a located error naming the key. `m` is a mapping node or NULL. */
int sy_pp_int(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key, int64_t min,
              int64_t max, int64_t *out, sy_sched_error_t *err);
int sy_pp_double(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key, double min,
                 double max, double *out, sy_sched_error_t *err);
int sy_pp_bool(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key, bool *out,
               sy_sched_error_t *err);
/* *out points into the YAML tree (valid during create only: copy it). */
int sy_pp_str(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key, const char **out,
              sy_sched_error_t *err);
/* A Go duration ("200ms", "1.5s", "1m30s", "250us") or a plain integer
 * meaning milliseconds; must be > 0. *out_ns unchanged when absent. */
int sy_pp_duration(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key, uint64_t *out_ns,
                   sy_sched_error_t *err);
/* A nested mapping (or NULL when absent/null); error when not a mapping.
 * Its keys are checked against `allowed` (NULL-terminated). */
int sy_pp_map(const sy_sched_plugin_args_t *args, const sy_yaml_node_t *m, const char *key,
              const char *const *allowed, const sy_yaml_node_t **out, sy_sched_error_t *err);

/* Parses a Go duration string; 0 or SY_EPARSE. */
int sy_parse_go_duration(const char *s, size_t len, uint64_t *out_ns);

/* Standard base64 (with padding, as Go's StdEncoding) into out (NUL-
 * terminated); returns the decoded length or -1 on malformed input or when
 * out (cap bytes incl. the NUL) is too small. */
long sy_base64_decode(const char *in, size_t len, char *out, size_t cap);

/* The label value of `key` on ep, or NULL when the label is absent. */
const char *sy_ep_label(const sy_endpoint_t *ep, const char *key);

/* Uniform double in [0, 1) from sy_rand_u64(). */
double sy_rand_double(void);

/* Parameterless plugins' create(): any parameter is an error; state NULL. */
int sy_plugin_create_noparams(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err);

/* Sets (or replaces) request header `key` (a static lower-case string) in
 * c->out; the value is copied into c->arena. 0, -ENOMEM, or SY_ETOOBIG when
 * c->out already holds SY_SCHED_MAX_HEADERS other headers. */
int sy_pp_set_header(sy_sched_cycle_t *c, const char *key, const char *value);

/* ------------------------------------------------- prefix-match data
 * Consumers of a prefix producer's per-candidate match data (no-hit-lru-
 * scorer, the P/D deciders) go through these, so the coupling with
 * prefix*.c lives in one place. */
typedef struct sy_pp_prefix {
  const sy_sched_plugin_type_t *type; /* NULL: no producer (no data) */
  void *state;
  int slot;
} sy_pp_prefix_t;

/* Resolves the producer instance `name` (NULL: the default instance
 * "approx-prefix-cache-producer"). A named producer that does not exist is
 * an error when `required`; otherwise out->type stays NULL. */
int sy_pp_prefix_link(sy_sched_t *s, const char *name, bool required, sy_pp_prefix_t *out, sy_sched_error_t *err);
/* Matched blocks of `cand` in cycle c (0 without data), and false when the
 * producer published nothing for this cycle. */
bool sy_pp_prefix_match(const sy_pp_prefix_t *p, const sy_sched_cycle_t *c, const sy_sched_cand_t *cand,
                        double *blocks);
/* The block size in tokens the producer used for cycle c (0 if unknown). */
int sy_pp_prefix_block_tokens(const sy_pp_prefix_t *p, const sy_sched_cycle_t *c);

#endif
