/* source — declarations shared between the module's files (not public). */
#ifndef SY_SOURCE_INT_H
#define SY_SOURCE_INT_H

#include <stdint.h>

#include "source.h"
#include "yaml.h"

/* Where a decoded object starts, for duplicate errors. `file` points into
 * the loader's file list. */
typedef struct sy_source__loc {
  const char *file;
  int line;
  int column;
} sy_source__loc_t;

/* Accumulates the objects of one load (one or many files). */
typedef struct sy_source__loader {
  sy_pool_t *pools;
  sy_source__loc_t *pool_locs;
  size_t n_pools, cap_pools;
  sy_pod_t *pods;
  sy_source__loc_t *pod_locs;
  size_t n_pods, cap_pods;
  sy_objective_t *objs;
  sy_source__loc_t *obj_locs;
  size_t n_objs, cap_objs;
  sy_model_rewrite_t *rws;
  sy_source__loc_t *rw_locs;
  size_t n_rws, cap_rws;
  char **files; /* names of the streams seen, owned */
  size_t n_files, cap_files;
  sy_source_error_t *err; /* may be NULL */
} sy_source__loader_t;

void sy_source__loader_init(sy_source__loader_t *ld, sy_source_error_t *err);
void sy_source__loader_cleanup(sy_source__loader_t *ld);

/* Decodes every document of `s` into the loader (sans I/O). 0, SY_EINVAL
 * (invalid object, err filled) or -ENOMEM. */
int sy_source__decode_stream(sy_source__loader_t *ld, const sy_yaml_stream_t *s);

/* Rejects a namespace/name that appears twice for one kind; then moves the
 * objects into a new set. 0, SY_EINVAL or -ENOMEM. */
int sy_source__loader_finish(sy_source__loader_t *ld, sy_objset_t **out);

/* Copies a yaml error into a source error (NULL-safe). */
void sy_source__error_from_yaml(sy_source_error_t *err, const sy_yaml_error_t *ye);
void sy_source__error_set(sy_source_error_t *err, const char *file, int line, int column,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));

void sy_source__pool_cleanup(sy_pool_t *p);
void sy_source__pod_cleanup(sy_pod_t *p);
void sy_source__objective_cleanup(sy_objective_t *o);
void sy_source__rewrite_cleanup(sy_model_rewrite_t *w);

/* Loads like sy_manifests_load and also returns a hash of the bytes read
 * (names and contents), so the watcher can skip publishing unchanged data. */
int sy_source__load(const char *path, sy_objset_t **out, sy_source_error_t *err,
                    uint64_t *content_hash);

/* The files a load of `path` reads: `path` itself when it is not a directory,
 * else its *.yaml, *.yml and *.json entries (not hidden, regular after following
 * symlinks) as full paths in name order. 0 with *out (n entries, free with
 * sy_source__names_free) or -errno. */
int sy_source__list(const char *path, bool *is_dir, char ***out, size_t *n);
void sy_source__names_free(char **names, size_t n);

uint64_t sy_source__hash(uint64_t h, const void *p, size_t n);
#define SY_SOURCE_HASH_INIT 1469598103934665603ull

#endif
