/*
 * metrics — switchyard's own Prometheus metrics: a registry of counter,
 * gauge and histogram families with labelled children, collect-time
 * callbacks for values that live elsewhere, and a renderer for the text
 * exposition format 0.0.4. Names, labels and buckets follow the GAIE EPP
 * (v1.5.0 pkg/epp/metrics) so existing Grafana dashboards work unchanged;
 * floats are spelled exactly as client_golang spells them (le="0.005",
 * le="1.048576e+06", +Inf, NaN).
 *
 * Ownership: main creates one registry per process (sy_metrics_registry_new)
 * and frees it last. The registry owns every family, child and collector
 * registration; family and child pointers stay valid until
 * sy_metrics_registry_free, so callers may cache them.
 *
 * Thread-safety:
 *  - register families and collectors at start-up, on one thread, before
 *    any other thread uses the registry;
 *  - sy_counter_with & co. (child lookup/creation) from any thread: a short
 *    per-family mutex;
 *  - updates (sy_counter_add, sy_gauge_set/add, sy_histogram_observe) from
 *    any thread, lock-free (relaxed atomics);
 *  - sy_metrics_render from any thread; renders are serialised internally.
 *    Collectors run on the rendering thread.
 *
 * Boundedness: each family holds at most `max_children` label sets (default
 * SY_METRICS_DEFAULT_MAX_CHILDREN); lookups beyond that return one shared
 * overflow child whose label values are all SY_METRICS_OVERFLOW_VALUE, and a
 * warning is logged once per family. Label values longer than
 * SY_METRICS_MAX_VALUE_LEN bytes are truncated (at a UTF-8 boundary).
 */
#ifndef SY_METRICS_H
#define SY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define SY_METRICS_MAX_LABELS 6
#define SY_METRICS_MAX_BUCKETS 64
#define SY_METRICS_DEFAULT_MAX_CHILDREN 10000
#define SY_METRICS_MAX_VALUE_LEN 1024
#define SY_METRICS_OVERFLOW_VALUE "_overflow"
/* Upstream's help strings carry this stability prefix. */
#define SY_METRICS_ALPHA "[ALPHA] "

typedef enum sy_metric_type {
  SY_METRIC_COUNTER = 0,
  SY_METRIC_GAUGE = 1,
  SY_METRIC_HISTOGRAM = 2,
} sy_metric_type_t;

typedef struct sy_metrics_registry sy_metrics_registry_t;
typedef struct sy_metric_family sy_metric_family_t;
typedef struct sy_metric_child sy_metric_child_t;
typedef struct sy_metrics_writer sy_metrics_writer_t;

/* ------------------------------------------------------------- registry */

/* A new empty registry, or NULL when out of memory. */
sy_metrics_registry_t *sy_metrics_registry_new(void);
/* Frees the registry and everything registered in it. NULL is a no-op. No
 * other thread may use it, or any family/child pointer, afterwards. */
void sy_metrics_registry_free(sy_metrics_registry_t *reg);

/* Registers a family. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*, be unique
 * in the registry and, for histograms, leave room for the _bucket/_sum/_count
 * series. `help` is copied as is (prefix SY_METRICS_ALPHA yourself to match
 * upstream). `label_names` has `nlabels` (0..SY_METRICS_MAX_LABELS) valid,
 * distinct names, none starting with "__" (and no "le" for histograms).
 * Histogram `buckets` are `nbuckets` (1..SY_METRICS_MAX_BUCKETS) finite,
 * strictly increasing upper bounds; a trailing +Inf is accepted and dropped
 * (it is always rendered). All inputs are copied.
 * A family without labels has its single child created at once, so it is
 * always rendered (like client_golang's plain Counter); a labelled family
 * is rendered only once it has a child.
 * Returns 0 and *out, SY_EINVAL or -ENOMEM. Start-up thread only. */
int sy_metrics_counter_new(sy_metrics_registry_t *reg, const char *name, const char *help,
                           const char *const *label_names, size_t nlabels,
                           sy_metric_family_t **out);
int sy_metrics_gauge_new(sy_metrics_registry_t *reg, const char *name, const char *help,
                         const char *const *label_names, size_t nlabels,
                         sy_metric_family_t **out);
int sy_metrics_histogram_new(sy_metrics_registry_t *reg, const char *name, const char *help,
                             const char *const *label_names, size_t nlabels,
                             const double *buckets, size_t nbuckets, sy_metric_family_t **out);

/* Changes the child cap of `fam` (>= 1). Start-up thread only, before the
 * first child lookup. */
void sy_metrics_family_set_max_children(sy_metric_family_t *fam, size_t max_children);
/* Number of distinct label sets created (the overflow child not counted) and
 * number of lookups that were sent to the overflow child. Any thread. */
size_t sy_metrics_family_children(sy_metric_family_t *fam);
uint64_t sy_metrics_family_overflows(sy_metric_family_t *fam);

/* ------------------------------------------------------------- children */

/* The child of `fam` for `values` (exactly as many as the family has label
 * names, in the same order; NULL entries mean ""; `values` may be NULL for a
 * family without labels). Created on first use; the pointer is stable, so
 * callers may cache it. Returns the overflow child when the family is at its
 * cap, and NULL only when `fam` is NULL or memory is exhausted. The kind
 * checks are advisory: each accessor returns NULL for a family of another
 * type. Any thread. */
sy_metric_child_t *sy_counter_with(sy_metric_family_t *fam, const char *const *values);
sy_metric_child_t *sy_gauge_with(sy_metric_family_t *fam, const char *const *values);
sy_metric_child_t *sy_histogram_with(sy_metric_family_t *fam, const char *const *values);

/* Lock-free updates, any thread. A NULL child is a no-op, so results of the
 * _with functions need no check. Counters ignore negative and NaN deltas. */
void sy_counter_add(sy_metric_child_t *c, double delta);
static inline void sy_counter_inc(sy_metric_child_t *c) { sy_counter_add(c, 1.0); }
void sy_gauge_set(sy_metric_child_t *c, double v);
void sy_gauge_add(sy_metric_child_t *c, double delta);
/* Counts `v` in the first bucket with v <= le (else +Inf) and adds it to the
 * sum. */
void sy_histogram_observe(sy_metric_child_t *c, double v);

/* Current values (for tests and for code that reads its own metrics).
 * Counter/gauge value; histogram: sample count and sum. */
double sy_metric_child_value(const sy_metric_child_t *c);
uint64_t sy_metric_child_count(const sy_metric_child_t *c);
double sy_metric_child_sum(const sy_metric_child_t *c);

/* ----------------------------------------------------------- collectors */

/* Called at render time, on the rendering thread, to write computed
 * samples through the sy_metrics_write_* functions. Must not block for long
 * and must not call back into the registry's render. */
typedef void (*sy_metrics_collect_fn)(sy_metrics_writer_t *w, void *ctx);

/* Registers `fn(ctx)`; its output is rendered at this point of the
 * registration order, between the families registered before and after it.
 * `ctx` is borrowed and must outlive the registry (or the last render).
 * 0, SY_EINVAL or -ENOMEM. Start-up thread only. */
int sy_metrics_register_collector(sy_metrics_registry_t *reg, sy_metrics_collect_fn fn, void *ctx);

/* Writes one sample of family `name` (HELP `help`, TYPE gauge/counter).
 * # HELP and # TYPE are emitted when `name` differs from the previous sample
 * written in this render, so a collector writes all samples of one family
 * consecutively. A name already rendered (a registered family or an earlier
 * family of any collector), an invalid name or label name, or more than
 * SY_METRICS_MAX_LABELS labels: the sample is dropped and SY_EINVAL is
 * returned and remembered (sy_metrics_render returns it). 0, SY_EINVAL,
 * -ENOMEM or SY_ETOOBIG. */
int sy_metrics_write_gauge(sy_metrics_writer_t *w, const char *name, const char *help,
                           const char *const *label_names, const char *const *label_values,
                           size_t nlabels, double value);
int sy_metrics_write_counter(sy_metrics_writer_t *w, const char *name, const char *help,
                             const char *const *label_names, const char *const *label_values,
                             size_t nlabels, double value);

/* Registers the standard process collector: process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds (Linux
 * /proc/self; metrics that cannot be read are omitted). 0 or -ENOMEM. */
int sy_metrics_register_process_collector(sy_metrics_registry_t *reg);

/* ------------------------------------------------------------- rendering */

/* Appends the whole page (text format 0.0.4; Content-Type
 * SY_METRICS_CONTENT_TYPE) to `out`: families and collectors in
 * registration order, children sorted by label values. Returns 0; -ENOMEM or
 * SY_ETOOBIG when `out` cannot hold the page (its content is then
 * incomplete); SY_EINVAL when a collector wrote an invalid or repeated family
 * (those samples are omitted, the page is otherwise complete and valid).
 * Any thread; renders are serialised. */
int sy_metrics_render(sy_metrics_registry_t *reg, sy_buf_t *out);
#define SY_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Formats `v` as client_golang does (strconv 'g', shortest round-trip;
 * "+Inf", "-Inf", "NaN"), e.g. 0.005 -> "0.005", 1048576 -> "1.048576e+06".
 * `out` needs 32 bytes. Returns `out`. */
char *sy_metrics_format_double(double v, char out[32]);

/* ------------------------------------------------------------- buckets */

/* `n` buckets start, start*factor, ... (start > 0, factor > 1) /
 * start, start+width, ... (width > 0) into out[n]. 0 or SY_EINVAL. */
int sy_metrics_buckets_exponential(double start, double factor, size_t n, double *out);
int sy_metrics_buckets_linear(double start, double width, size_t n, double *out);

typedef struct sy_metrics_buckets {
  const double *v;
  size_t n;
} sy_metrics_buckets_t;

/* Upstream's exact bucket lists (GAIE pkg/epp/metrics/metrics.go), including
 * its typo 32778 (for 32768) in the response-size and token lists: bucket
 * boundaries are part of the dashboard contract, so they are kept. */
extern const sy_metrics_buckets_t sy_metrics_buckets_request_duration;  /* 0.005..3600, 35 */
extern const sy_metrics_buckets_t sy_metrics_buckets_request_sizes;     /* 64..2^30, 25 */
extern const sy_metrics_buckets_t sy_metrics_buckets_response_sizes;    /* 1..65536, 15 */
extern const sy_metrics_buckets_t sy_metrics_buckets_tokens;            /* input/cached: 1..1048576, 19 */
extern const sy_metrics_buckets_t sy_metrics_buckets_output_tokens;     /* 1..8192, 12 */
extern const sy_metrics_buckets_t sy_metrics_buckets_ntpot;             /* 0.001..10, 13 */
extern const sy_metrics_buckets_t sy_metrics_buckets_scheduler_e2e;     /* 0.0001..0.1, 10 */
extern const sy_metrics_buckets_t sy_metrics_buckets_plugin_duration;   /* 0.0001..0.1, 10 */
extern const sy_metrics_buckets_t sy_metrics_buckets_prefix_hit_ratio;  /* 0..1 step 0.1, 11 */
extern const sy_metrics_buckets_t sy_metrics_buckets_prefix_hit_bytes;  /* 0,16..65536, 14 */
extern const sy_metrics_buckets_t sy_metrics_buckets_flow_control_queue; /* 0.0001..60, 16 */

#endif /* SY_METRICS_H */
