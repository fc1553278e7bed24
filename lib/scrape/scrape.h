/*
 * scrape — model-server metrics.
 *
 * Four layers, bottom up:
 *   sy_prom_*            a bounded, sans-I/O parser for the Prometheus text
 *                        exposition format 0.0.4. It does not build a model
 *                        of the page: the caller declares the series it wants
 *                        (name + label matchers) and gets one callback per
 *                        matching sample; every other line is skipped with a
 *                        memchr and a length-first name comparison.
 *   sy_scrape_spec_*     PromQL-like selectors (`name`, `name{l=v,l2="v"}`),
 *   sy_scrape_engines_*  the per-engine mappings (vllm, sglang, trtllm-serve,
 *                        triton-tensorrt-llm, plus custom `engineConfigs`),
 *   sy_scrape_extract    one page → sy_model_metrics_t for one engine,
 *   sy_scraper_*         one thread + one CURLM polling every target's
 *                        /metrics (keep-alive, one request in flight per
 *                        target, bounded body), reporting to a sink.
 *
 * Thread-safety: everything except sy_scraper_* is a pure function over
 * caller-owned data (no locks, no I/O, no clock reads); objects may be used
 * from any one thread at a time. The scraper's rules are at its section.
 *
 * Upstream semantics kept (reference §5): the engine comes from the pod label
 * inference.networking.k8s.io/engine-type (unlabeled or unknown → the default
 * engine, vllm); among series matching a spec the one with the latest sample
 * timestamp wins (a missing timestamp counts as 0 and ties keep the FIRST
 * series seen, as upstream's `ts > recent` loop does); for the LoRA info
 * metric the series with the largest value wins; UpdateTime (`update_ns`) is
 * set only when something was extracted.
 */
#ifndef SY_SCRAPE_H
#define SY_SCRAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* ================================================================ parser */

#define SY_PROM_DEFAULT_MAX_PAGE (4u << 20)  /* 4 MiB */
#define SY_PROM_DEFAULT_MAX_LINE (64u << 10) /* 64 KiB */
#define SY_PROM_DEFAULT_MAX_LABELS 64u
#define SY_PROM_MAX_LABELS_CAP 256u /* hard ceiling for max_labels */

/* Limits; a zero field takes its default. */
typedef struct sy_prom_limits {
  size_t max_page_bytes; /* larger pages fail whole with SY_ETOOBIG */
  size_t max_line_bytes; /* longer lines are skipped and counted */
  uint32_t max_labels;   /* per series; more → the line is garbage */
  /* false (default): only wanted sample lines are parsed in full; other
   * sample lines are checked by their first byte and skipped. true: every
   * line is validated (HELP/TYPE too) and counted, e.g. for tests/fuzzing. */
  bool strict;
} sy_prom_limits_t;

typedef struct sy_prom_stats {
  uint32_t lines;    /* non-blank lines */
  uint32_t comments; /* '#' lines */
  uint32_t samples;  /* sample lines parsed in full and valid */
  uint32_t skipped;  /* sample lines not wanted, skipped unparsed */
  uint32_t garbage;  /* lines rejected (includes too_long), page goes on */
  uint32_t too_long; /* lines over max_line_bytes */
  uint32_t first_garbage_line;      /* 1-based; 0 = no garbage */
  const char *first_garbage_reason; /* static string; NULL = no garbage */
} sy_prom_stats_t;

/* One label of a sample. Pointers into the page; `value` is the raw text
 * between the quotes, escapes (\\ \" \n) not yet resolved. */
typedef struct sy_prom_label {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
  bool escaped; /* value contains at least one backslash escape */
} sy_prom_label_t;

/* One sample line. Valid only during the callback. */
typedef struct sy_prom_sample {
  const char *name;
  size_t name_len;
  const sy_prom_label_t *labels;
  size_t n_labels;
  double value; /* NaN, ±Inf and exponents are accepted */
  int64_t timestamp_ms;
  bool has_timestamp;
  uint32_t line_no; /* 1-based */
} sy_prom_sample_t;

/* An equality matcher; `value` is plain (unescaped) text. */
typedef struct sy_prom_matcher {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} sy_prom_matcher_t;

/* A wanted series: the metric name plus labels that must be present with
 * equal values (other labels are ignored). */
typedef struct sy_prom_want {
  const char *name;
  size_t name_len;
  const sy_prom_matcher_t *matchers;
  size_t n_matchers;
} sy_prom_want_t;

/* Called for each (want, sample) pair that matches, in page order. `want` is
 * the index into the wants array, or SIZE_MAX when no wants were given. A
 * non-zero return stops the parse and is returned by sy_prom_parse. */
typedef int (*sy_prom_sample_fn)(void *ctx, size_t want, const sy_prom_sample_t *s);

/* Parses `len` bytes of text exposition (need not be NUL-terminated).
 * With n_wants == 0 every valid sample is reported (and parsed in full).
 * Lines end with '\n' (a trailing '\r' is tolerated); per the format the last
 * line must be terminated too — an unterminated tail is counted as garbage
 * (a truncated "12" must not read as 1). Garbage lines are skipped and
 * counted in `stats` (may be NULL).
 * Returns 0; SY_ETOOBIG when len > max_page_bytes (nothing parsed);
 * SY_EPARSE when lines were present but none of them parsed; SY_EINVAL for
 * bad arguments; or the callback's non-zero return. */
int sy_prom_parse(const char *page, size_t len, const sy_prom_limits_t *lim, const sy_prom_want_t *wants,
                  size_t n_wants, sy_prom_sample_fn fn, void *ctx, sy_prom_stats_t *stats);

/* Incremental form of sy_prom_parse for pages that arrive in pieces (HTTP
 * body callbacks): feed any split of the page and get the same callbacks,
 * stats and result as one sy_prom_parse over the whole, without holding the
 * page. Memory: one partial line (<= max_line_bytes + 2). Plain struct so it
 * can be embedded; fields are private. Not thread-safe. */
typedef struct sy_prom_stream {
  sy_prom_limits_t lim; /* resolved */
  const sy_prom_want_t *wants;
  size_t n_wants;
  sy_prom_sample_fn fn;
  void *ctx;
  sy_prom_stats_t stats;
  size_t total;     /* bytes fed */
  uint32_t line_no; /* lines finished */
  int rc;           /* sticky: callback stop, SY_ETOOBIG, -ENOMEM */
  sy_buf_t carry;   /* the current partial line */
  bool overflow;    /* the partial line is over-long: dropped, tracked */
  bool ov_last_cr;
  uint32_t ov_nonblank;
} sy_prom_stream_t;

/* Arguments as sy_prom_parse; `wants` must outlive the stream. Cannot fail
 * (bad arguments surface from feed/end as SY_EINVAL). */
void sy_prom_stream_init(sy_prom_stream_t *s, const sy_prom_limits_t *lim, const sy_prom_want_t *wants,
                         size_t n_wants, sy_prom_sample_fn fn, void *ctx);
/* Forgets the page so far; keeps configuration and memory. */
void sy_prom_stream_reset(sy_prom_stream_t *s);
/* Returns 0, or a sticky error: SY_ETOOBIG once the fed total passes
 * max_page_bytes, the callback's non-zero return, -ENOMEM. */
int sy_prom_stream_feed(sy_prom_stream_t *s, const char *data, size_t len);
/* Ends the page (an unterminated tail is garbage); copies the stats.
 * Returns what sy_prom_parse would (SY_EPARSE when nothing parsed), or the
 * sticky error. */
int sy_prom_stream_end(sy_prom_stream_t *s, sy_prom_stats_t *stats);
void sy_prom_stream_cleanup(sy_prom_stream_t *s);

/* Resolves the escapes of a label value into `out` (NUL-terminated when
 * cap > 0). Returns the unescaped length; when that is >= cap the output
 * was truncated (like snprintf). */
size_t sy_prom_label_unescape(const sy_prom_label_t *l, char *out, size_t cap);

/* True when the (escaped) label value equals plain text v[0..n). */
bool sy_prom_label_value_eq(const sy_prom_label_t *l, const char *v, size_t n);

/* Parses a sample value as the format (Go's ParseFloat) does: decimal with
 * optional exponent, or [+-]Inf/Infinity/NaN (any case); no hex, no '_'.
 * Correctly rounded; out-of-range gives ±Inf or 0 (Go errors there). At most
 * 128 bytes. Returns false for anything else. */
bool sy_prom_parse_double(const char *s, size_t n, double *out);

/* ================================================================ specs */

#define SY_SCRAPE_SPEC_MAX 256 /* bytes of name + label names + values */
#define SY_SCRAPE_SPEC_MAX_MATCHERS 8

/* A parsed selector. name_len == 0 means "disabled" (empty selector). Plain
 * data: copy freely. Fields are read-only for users. */
typedef struct sy_scrape_spec {
  uint16_t name_len;
  uint8_t n_matchers;
  struct {
    uint16_t name_off, name_len, value_off, value_len;
  } m[SY_SCRAPE_SPEC_MAX_MATCHERS];
  char text[SY_SCRAPE_SPEC_MAX + 1]; /* name at 0; NUL-separated strings */
} sy_scrape_spec_t;

/* Parses `s` in PromQL vector-selector syntax: `name` or
 * `name{label=value, label2="value 2"}`. Unquoted values are taken up to the
 * next ',', '}' or blank; quoted values may not contain '"' (as upstream).
 * Only '=' matchers; `{}` is allowed; a repeated label keeps the last value.
 * NULL, "" or blanks give a disabled spec. Returns 0, or SY_EINVAL with a
 * message in err (may be NULL). */
int sy_scrape_spec_parse(sy_scrape_spec_t *out, const char *s, char *err, size_t errlen);

static inline bool sy_scrape_spec_enabled(const sy_scrape_spec_t *s) { return s->name_len > 0; }

/* Writes the canonical form `name{a="b",c="d"}` ("" when disabled).
 * Returns the length it needed (snprintf semantics). */
size_t sy_scrape_spec_format(const sy_scrape_spec_t *s, char *out, size_t cap);

/* ================================================================ engines */

#define SY_SCRAPE_ENGINE_LABEL_KEY "inference.networking.k8s.io/engine-type"
#define SY_SCRAPE_DEFAULT_ENGINE "vllm"
#define SY_SCRAPE_ENGINE_NAME_MAX 63
#define SY_SCRAPE_MAX_ENGINES 64

/* The metrics an engine mapping can name. The JSON keys of upstream's
 * `engineConfigs` entries are given by sy_scrape_metric_key(). */
typedef enum sy_scrape_metric {
  SY_SCRAPE_QUEUED = 0,         /* queuedRequestsSpec */
  SY_SCRAPE_RUNNING,            /* runningRequestsSpec */
  SY_SCRAPE_KV_USAGE,           /* kvUsageSpec (fraction 0..1) */
  SY_SCRAPE_LORA,               /* loraSpec (info metric, labels) */
  SY_SCRAPE_CACHE_INFO,         /* cacheInfoSpec (info metric, labels) */
  SY_SCRAPE_CACHE_BLOCK_SIZE,   /* cacheBlockSizeSpec (gauge) */
  SY_SCRAPE_CACHE_NUM_BLOCKS,   /* cacheNumBlocksSpec (gauge) */
  SY_SCRAPE_METRIC_COUNT
} sy_scrape_metric_t;

/* "queuedRequestsSpec", ... ; NULL for an out-of-range value. */
const char *sy_scrape_metric_key(sy_scrape_metric_t m);
/* The metric for a JSON key, or -1. */
int sy_scrape_metric_from_key(const char *key);

/* Input for sy_scrape_engines_set: selector strings indexed by
 * sy_scrape_metric_t; NULL or "" disables that metric. */
typedef struct sy_scrape_engine_config {
  const char *name;
  const char *spec[SY_SCRAPE_METRIC_COUNT];
} sy_scrape_engine_config_t;

/* A compiled engine mapping. Plain data. */
typedef struct sy_scrape_engine {
  char name[SY_SCRAPE_ENGINE_NAME_MAX + 1];
  sy_scrape_spec_t spec[SY_SCRAPE_METRIC_COUNT];
} sy_scrape_engine_t;

/* A set of engine mappings plus the default engine and the pod label key.
 * Not thread-safe; the scraper takes copies. */
typedef struct sy_scrape_engines sy_scrape_engines_t;

/* A new set with the four built-ins (reference §5.1), default engine "vllm"
 * and label key SY_SCRAPE_ENGINE_LABEL_KEY. 0 or -ENOMEM. */
int sy_scrape_engines_new(sy_scrape_engines_t **out);
/* A deep copy, or NULL on ENOMEM. */
sy_scrape_engines_t *sy_scrape_engines_copy(const sy_scrape_engines_t *e);
void sy_scrape_engines_free(sy_scrape_engines_t *e); /* accepts NULL */

/* Adds an engine, or REPLACES a built-in/earlier one of the same name whole
 * (upstream `engineConfigs` semantics: unspecified metrics are disabled).
 * The name must be 1..63 bytes and not "default" (reserved upstream).
 * Returns 0; SY_EINVAL with a message naming the engine and metric; SY_ETOOBIG
 * past SY_SCRAPE_MAX_ENGINES; -ENOMEM. On error the set is unchanged. */
int sy_scrape_engines_set(sy_scrape_engines_t *e, const sy_scrape_engine_config_t *cfg, char *err, size_t errlen);
/* `defaultEngine`: must name an engine in the set. 0 or SY_EINVAL. */
int sy_scrape_engines_set_default(sy_scrape_engines_t *e, const char *name, char *err, size_t errlen);
/* `engineLabelKey` (NULL or "" restores the default). 0 or SY_EINVAL (too long). */
int sy_scrape_engines_set_label_key(sy_scrape_engines_t *e, const char *key);
const char *sy_scrape_engines_label_key(const sy_scrape_engines_t *e);
const char *sy_scrape_engines_default(const sy_scrape_engines_t *e);
size_t sy_scrape_engines_count(const sy_scrape_engines_t *e);
const sy_scrape_engine_t *sy_scrape_engines_at(const sy_scrape_engines_t *e, size_t i);
/* Exact lookup; NULL when unknown. */
const sy_scrape_engine_t *sy_scrape_engines_get(const sy_scrape_engines_t *e, const char *name);
/* NULL, "" or an unknown name → the default engine (never NULL). */
const sy_scrape_engine_t *sy_scrape_engines_resolve(const sy_scrape_engines_t *e, const char *name);

/* Looks a pod label up: returns its value or NULL. */
typedef const char *(*sy_scrape_label_get_fn)(void *ctx, const char *key);
/* The engine name for a pod: the value of its engine label when that names a
 * known engine, else the default engine's name. `get` may be NULL (no
 * labels). The string lives as long as `e` is unchanged. */
const char *sy_scrape_engine_for_labels(const sy_scrape_engines_t *e, sy_scrape_label_get_fn get, void *ctx);

/* ================================================================ extract */

#define SY_SCRAPE_MAX_ADAPTERS 16
#define SY_SCRAPE_ADAPTER_NAME_MAX 128 /* bytes, without the NUL */

/* What one scrape of one endpoint yielded. Plain, fixed-size data. */
typedef struct sy_model_metrics {
  uint64_t update_ns; /* sy_now_ns() of the scrape; 0 = nothing extracted */
  int64_t waiting;    /* queued requests */
  int64_t running;
  double kv_usage;    /* fraction 0..1 as the server reports it */
  int64_t cache_block_size; /* tokens per KV block */
  int64_t cache_num_blocks; /* GPU KV blocks */
  int32_t max_lora;         /* MaxActiveModels */
  uint8_t n_running_adapters; /* ActiveModels */
  uint8_t n_waiting_adapters; /* WaitingModels */
  bool has_waiting, has_running, has_kv_usage;
  bool has_cache_block_size, has_cache_num_blocks;
  bool has_lora;           /* the LoRA info series was found */
  bool adapters_truncated; /* > 16 names, or a name > 128 bytes was dropped */
  uint32_t missing; /* bit (1u << sy_scrape_metric_t): enabled but not found */
  char running_adapters[SY_SCRAPE_MAX_ADAPTERS][SY_SCRAPE_ADAPTER_NAME_MAX + 1];
  char waiting_adapters[SY_SCRAPE_MAX_ADAPTERS][SY_SCRAPE_ADAPTER_NAME_MAX + 1];
} sy_model_metrics_t;

/* Extracts the engine's metrics from one page in a single pass.
 * Counts (waiting, running, cache sizes) are the sample value truncated
 * toward zero; a NaN sample counts as not found. Cache info labels are
 * block_size|page_size and num_gpu_blocks|num_pages (vLLM | SGLang); the
 * gauges (trtllm, triton) override them when both exist. Adapter lists are
 * split on ',', trimmed, de-duplicated, bounded.
 * Returns 0 when at least one metric was extracted (out->update_ns = now_ns);
 * SY_ENOTFOUND when none was (out->missing says which); or the parser's
 * SY_ETOOBIG / SY_EPARSE. `out` is always fully written. */
int sy_scrape_extract(const sy_scrape_engine_t *eng, const char *page, size_t len, const sy_prom_limits_t *lim,
                      uint64_t now_ns, sy_model_metrics_t *out, sy_prom_stats_t *stats);

/* The streaming form, for pages that arrive in pieces:
 *   sy_scrape_extractor_begin(&x, eng, lim);      (copies the engine)
 *   sy_scrape_extractor_feed(&x, piece, n) ...    (any split)
 *   rc = sy_scrape_extractor_end(&x, now_ns, &m, &stats);
 * Same results as sy_scrape_extract. begin may be called again to reuse
 * the memory; cleanup releases it. The struct must not move between begin
 * and end. Fields are private. */
typedef struct sy_scrape_extractor {
  sy_scrape_engine_t eng;
  sy_prom_want_t wants[SY_SCRAPE_METRIC_COUNT];
  sy_prom_matcher_t matchers[SY_SCRAPE_METRIC_COUNT][SY_SCRAPE_SPEC_MAX_MATCHERS];
  size_t n_wants;
  int metric_of[SY_SCRAPE_METRIC_COUNT];
  struct {
    bool found;
    int64_t ts;
    double value;
  } pick[SY_SCRAPE_METRIC_COUNT];
  bool block_size_label, num_blocks_label;
  bool inited;
  sy_model_metrics_t m;
  sy_prom_stream_t stream;
} sy_scrape_extractor_t;

void sy_scrape_extractor_begin(sy_scrape_extractor_t *x, const sy_scrape_engine_t *eng, const sy_prom_limits_t *lim);
/* 0 or a sticky error (see sy_prom_stream_feed). */
int sy_scrape_extractor_feed(sy_scrape_extractor_t *x, const char *data, size_t len);
/* Results as sy_scrape_extract. */
int sy_scrape_extractor_end(sy_scrape_extractor_t *x, uint64_t now_ns, sy_model_metrics_t *out, sy_prom_stats_t *stats);
void sy_scrape_extractor_cleanup(sy_scrape_extractor_t *x);

/* Writes "a, b" naming the specs in `missing` ("" when 0). snprintf semantics. */
size_t sy_scrape_missing_str(const sy_scrape_engine_t *eng, uint32_t missing, char *out, size_t cap);

/* ================================================================ scraper */

/*
 * Thread-safety: sy_scraper_new/start/stop/free belong to one owner thread
 * (never a sink callback). sy_scraper_set_targets, sy_scraper_set_engines and
 * sy_scraper_stats may be called from any thread, sink callbacks included
 * (set_targets then does not wait for the list to apply).
 * Sink callbacks run on the scraper thread, one at a time, and must not block
 * for long (they delay every endpoint's next poll).
 * curl_global_init must have happened before threads start: sy_scraper_new
 * calls it (it is reference-counted), so create the scraper early in main, or
 * call curl_global_init yourself first.
 *
 * Mechanics: one thread, one CURLM driven by curl_multi_perform +
 * curl_multi_poll (curl_multi_wakeup for stop and new lists); one easy handle
 * per target, re-added for each poll, so the HTTP/1.1 keep-alive connection
 * is reused (the multi's connection cache is sized to the target count); the
 * body is parsed as it arrives (sy_scrape_extractor_t, no page copy) and only
 * for HTTP 200; targets due within interval/10 (<= 5 ms) start together to
 * batch wakeups, each keeping its own phase and period (ticker semantics: a
 * slow poll delays the next one, missed ticks are not queued). No PIPEWAIT
 * and no per-host connection cap (reference P22).
 */

typedef struct sy_scrape_target {
  const char *key;    /* endpoint identity, e.g. "10.0.0.5:8000"; unique */
  const char *url;    /* e.g. "http://10.0.0.5:8000/metrics" */
  const char *engine; /* engine name; NULL, "" or unknown → default engine */
} sy_scrape_target_t;

typedef struct sy_scraper_sink {
  /* Every successful scrape (something extracted). `key` and `m` are valid
   * during the call only. */
  void (*on_metrics)(void *ctx, const char *key, const sy_model_metrics_t *m);
  /* Once per transition into failure (the first failure, or the first after
   * a success): connect error, timeout, HTTP status != 200, page too large,
   * parse error, nothing extracted. `err` is a negative SY_E* / -errno
   * code: -ECONNREFUSED, -ETIMEDOUT, SY_ETOOBIG, SY_EPARSE, SY_ENOTFOUND,
   * -EPROTO (HTTP status), -EIO (other transport errors). The consumer keeps
   * old values, which age. */
  void (*on_error)(void *ctx, const char *key, int err, const char *reason);
  void *ctx;
} sy_scraper_sink_t;

typedef struct sy_scraper_config {
  uint32_t interval_ms;    /* per-target poll period; 0 → 50 */
  uint32_t timeout_ms;     /* per poll, connect included; 0 → 1000 */
  sy_prom_limits_t limits; /* max_page_bytes also bounds the HTTP body */
  const sy_scrape_engines_t *engines; /* copied; NULL → built-ins */
  sy_scraper_sink_t sink;
} sy_scraper_config_t;

typedef struct sy_scraper_stats {
  uint64_t scrapes_ok;
  uint64_t scrapes_failed;
  uint64_t bytes;         /* page bytes received */
  uint64_t parse_ns;      /* wall time in sy_scrape_extract */
  uint64_t garbage_lines; /* over all pages */
  uint64_t connects;      /* new TCP connections (keep-alive misses) */
  uint64_t cpu_ns;        /* CPU time of the scraper thread so far */
  uint32_t targets;
} sy_scraper_stats_t;

typedef struct sy_scraper sy_scraper_t;

/* Creates a stopped scraper. 0, SY_EINVAL (bad config), -ENOMEM, -EIO (curl). */
int sy_scraper_new(sy_scraper_t **out, const sy_scraper_config_t *cfg);
/* Starts the thread. 0, SY_EINVAL (already started) or -errno. */
int sy_scraper_start(sy_scraper_t *sc);

/* Replaces the target list (copied). New keys start polling (spread over one
 * interval), removed keys are dropped with their in-flight request aborted,
 * kept keys keep their connection and failure state (a changed URL or engine
 * takes effect at the next poll). Duplicate keys: the last entry wins.
 * When the thread runs, returns only after the scraper thread has applied
 * the list, so no callback for a removed key happens after it returns.
 * 0, SY_EINVAL or -ENOMEM (the old list stays). */
int sy_scraper_set_targets(sy_scraper_t *sc, const sy_scrape_target_t *targets, size_t n);

/* Replaces the engine mappings (copied); targets re-resolve their engine.
 * Applied before the next poll. 0 or -ENOMEM. */
int sy_scraper_set_engines(sy_scraper_t *sc, const sy_scrape_engines_t *e);

/* Snapshot of the counters. Any thread. */
void sy_scraper_stats(sy_scraper_t *sc, sy_scraper_stats_t *out);

/* Stops and joins the thread (prompt: in-flight requests are aborted).
 * Idempotent; the scraper may be started again. */
void sy_scraper_stop(sy_scraper_t *sc);
/* Stops if needed and frees. Accepts NULL. */
void sy_scraper_free(sy_scraper_t *sc);

#endif /* SY_SCRAPE_H */
