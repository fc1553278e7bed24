/* One page + one engine mapping → sy_model_metrics_t, in one parser pass. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scrape.h"

static const sy_prom_label_t *label(const sy_prom_sample_t *s, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < s->n_labels; i++) {
    if (s->labels[i].name_len == n && memcmp(s->labels[i].name, name, n) == 0) return &s->labels[i];
  }
  return NULL;
}

/* Go's strconv.Atoi on a label value. */
static bool label_int(const sy_prom_label_t *l, long min, long max, long *out) {
  char buf[32];
  if (!l || l->value_len == 0 || sy_prom_label_unescape(l, buf, sizeof(buf)) >= sizeof(buf)) return false;
  return sy_parse_int(buf, min, max, out) == 0;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* A name we can carry as a C string and print: no control characters
 * (a NUL would silently shorten it, e.g. to ""). */
static bool printable_name(const char *a, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)a[i];
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

/* Splits a comma-separated adapter list into names[], trimmed, without
 * empties or duplicates. Returns the count; sets *trunc when something had
 * to be dropped (too long, too many, or not printable). */
static uint8_t split_adapters(const sy_prom_label_t *l, char names[][SY_SCRAPE_ADAPTER_NAME_MAX + 1], bool *trunc) {
  if (!l) return 0;
  char buf[SY_SCRAPE_MAX_ADAPTERS * (SY_SCRAPE_ADAPTER_NAME_MAX + 8)];
  size_t len = sy_prom_label_unescape(l, buf, sizeof(buf));
  if (len >= sizeof(buf)) {
    len = sizeof(buf) - 1;
    *trunc = true;
  }
  uint8_t n = 0;
  const char *p = buf, *end = buf + len;
  while (p <= end) {
    const char *c = memchr(p, ',', (size_t)(end - p));
    const char *e = c ? c : end;
    const char *a = p, *b = e;
    while (a < b && is_space(*a)) a++;
    while (b > a && is_space(b[-1])) b--;
    size_t nl = (size_t)(b - a);
    if (nl > SY_SCRAPE_ADAPTER_NAME_MAX || !printable_name(a, nl)) {
      *trunc = true;
    } else if (nl) {
      bool dup = false;
      for (uint8_t i = 0; i < n && !dup; i++) dup = strlen(names[i]) == nl && memcmp(names[i], a, nl) == 0;
      if (!dup) {
        if (n == SY_SCRAPE_MAX_ADAPTERS) {
          *trunc = true;
        } else {
          memcpy(names[n], a, nl);
          names[n][nl] = '\0';
          n++;
        }
      }
    }
    if (!c) break;
    p = c + 1;
  }
  return n;
}

static void take_lora(sy_scrape_extractor_t *x, const sy_prom_sample_t *s) {
  sy_model_metrics_t *o = &x->m;
  o->max_lora = 0;
  o->adapters_truncated = false;
  memset(o->running_adapters, 0, sizeof(o->running_adapters));
  memset(o->waiting_adapters, 0, sizeof(o->waiting_adapters));
  long v;
  if (label_int(label(s, "max_lora"), 0, INT32_MAX, &v)) o->max_lora = (int32_t)v;
  o->n_running_adapters = split_adapters(label(s, "running_lora_adapters"), o->running_adapters, &o->adapters_truncated);
  o->n_waiting_adapters = split_adapters(label(s, "waiting_lora_adapters"), o->waiting_adapters, &o->adapters_truncated);
}

static void take_cache_info(sy_scrape_extractor_t *x, const sy_prom_sample_t *s) {
  sy_model_metrics_t *o = &x->m;
  const sy_prom_label_t *bs = label(s, "block_size");
  if (!bs) bs = label(s, "page_size");
  const sy_prom_label_t *nb = label(s, "num_gpu_blocks");
  if (!nb) nb = label(s, "num_pages");
  long v;
  x->block_size_label = label_int(bs, 0, INT64_MAX, &v);
  o->cache_block_size = x->block_size_label ? v : 0;
  x->num_blocks_label = label_int(nb, 0, INT64_MAX, &v);
  o->cache_num_blocks = x->num_blocks_label ? v : 0;
}

static int on_sample(void *ctx, size_t want, const sy_prom_sample_t *s) {
  sy_scrape_extractor_t *x = ctx;
  int m = x->metric_of[want];
  typeof(x->pick[0]) *pk = &x->pick[m];
  if (m == SY_SCRAPE_LORA) {
    /* the value is the series' last-update time: the largest one wins */
    if (pk->found && !isnan(pk->value) && !(s->value > pk->value)) return 0;
    pk->found = true;
    pk->value = s->value;
    take_lora(x, s);
    return 0;
  }
  /* upstream: ts := GetTimestampMs() (0 when absent); if ts > recent
   * (starting at -1) take it — the first of equal timestamps wins */
  int64_t ts = s->has_timestamp ? s->timestamp_ms : 0;
  if (ts <= (pk->found ? pk->ts : -1)) return 0;
  pk->found = true;
  pk->ts = ts;
  pk->value = s->value;
  if (m == SY_SCRAPE_CACHE_INFO) take_cache_info(x, s);
  return 0;
}

/* double → count: truncation toward zero, saturated. */
static int64_t to_count(double v) {
  if (v >= 9.2e18) return INT64_MAX;
  if (v <= -9.2e18) return INT64_MIN;
  return (int64_t)v;
}

/* Copies the engine and builds the wants that point into the copy. */
static void x_setup(sy_scrape_extractor_t *x, const sy_scrape_engine_t *eng) {
  x->eng = *eng;
  x->n_wants = 0;
  memset(x->pick, 0, sizeof(x->pick));
  x->block_size_label = x->num_blocks_label = false;
  memset(&x->m, 0, sizeof(x->m));
  for (int m = 0; m < SY_SCRAPE_METRIC_COUNT; m++) {
    const sy_scrape_spec_t *sp = &x->eng.spec[m];
    if (!sp->name_len) continue;
    size_t w = x->n_wants++;
    for (size_t i = 0; i < sp->n_matchers; i++) {
      x->matchers[w][i] = (sy_prom_matcher_t){sp->text + sp->m[i].name_off, sp->m[i].name_len,
                                              sp->text + sp->m[i].value_off, sp->m[i].value_len};
    }
    x->wants[w] = (sy_prom_want_t){sp->text, sp->name_len, x->matchers[w], sp->n_matchers};
    x->metric_of[w] = m;
  }
}

/* Turns the picks into the result. `rc` is the parser's result. */
static int x_finish(sy_scrape_extractor_t *x, int rc, uint64_t now_ns, sy_model_metrics_t *out) {
  sy_model_metrics_t *o = &x->m;
  if (rc || x->n_wants == 0) {
    memset(out, 0, sizeof(*out));
    return rc ? rc : SY_ENOTFOUND;
  }
  bool any = false;
  for (int m = 0; m < SY_SCRAPE_METRIC_COUNT; m++) {
    if (!x->eng.spec[m].name_len) continue;
    typeof(x->pick[0]) *pk = &x->pick[m];
    if (pk->found && isnan(pk->value) && m != SY_SCRAPE_LORA && m != SY_SCRAPE_CACHE_INFO) pk->found = false;
    if (!pk->found) {
      o->missing |= 1u << m;
      continue;
    }
    any = true;
    switch ((sy_scrape_metric_t)m) {
    case SY_SCRAPE_QUEUED:
      o->waiting = to_count(pk->value);
      o->has_waiting = true;
      break;
    case SY_SCRAPE_RUNNING:
      o->running = to_count(pk->value);
      o->has_running = true;
      break;
    case SY_SCRAPE_KV_USAGE:
      o->kv_usage = pk->value;
      o->has_kv_usage = true;
      break;
    case SY_SCRAPE_LORA:
      o->has_lora = true;
      break;
    case SY_SCRAPE_CACHE_INFO:
      o->has_cache_block_size = x->block_size_label;
      o->has_cache_num_blocks = x->num_blocks_label;
      break;
    case SY_SCRAPE_CACHE_BLOCK_SIZE:
    case SY_SCRAPE_CACHE_NUM_BLOCKS:
    case SY_SCRAPE_METRIC_COUNT:
      break;
    }
  }
  /* gauges after the info labels, so they win when both exist */
  if (x->pick[SY_SCRAPE_CACHE_BLOCK_SIZE].found) {
    o->cache_block_size = to_count(x->pick[SY_SCRAPE_CACHE_BLOCK_SIZE].value);
    o->has_cache_block_size = true;
  }
  if (x->pick[SY_SCRAPE_CACHE_NUM_BLOCKS].found) {
    o->cache_num_blocks = to_count(x->pick[SY_SCRAPE_CACHE_NUM_BLOCKS].value);
    o->has_cache_num_blocks = true;
  }
  if (any) o->update_ns = now_ns;
  *out = *o;
  return any ? 0 : SY_ENOTFOUND;
}

int sy_scrape_extract(const sy_scrape_engine_t *eng, const char *page, size_t len, const sy_prom_limits_t *lim,
                      uint64_t now_ns, sy_model_metrics_t *out, sy_prom_stats_t *stats) {
  sy_scrape_extractor_t x;
  x_setup(&x, eng);
  sy_prom_stats_t local;
  if (!stats) stats = &local;
  int rc = 0;
  if (x.n_wants) rc = sy_prom_parse(page, len, lim, x.wants, x.n_wants, on_sample, &x, stats);
  else memset(stats, 0, sizeof(*stats));
  return x_finish(&x, rc, now_ns, out);
}

void sy_scrape_extractor_begin(sy_scrape_extractor_t *x, const sy_scrape_engine_t *eng, const sy_prom_limits_t *lim) {
  if (!x->inited) {
    memset(x, 0, sizeof(*x));
    x_setup(x, eng);
    sy_prom_stream_init(&x->stream, lim, x->wants, x->n_wants, on_sample, x);
    x->inited = true;
    return;
  }
  /* reuse: keep the partial-line buffer's memory, take the new limits */
  x_setup(x, eng);
  sy_buf_t carry = x->stream.carry;
  sy_prom_stream_init(&x->stream, lim, x->wants, x->n_wants, on_sample, x);
  x->stream.carry = carry;
  x->stream.carry.max = x->stream.lim.max_line_bytes + 2;
  sy_buf_reset(&x->stream.carry);
}

int sy_scrape_extractor_feed(sy_scrape_extractor_t *x, const char *data, size_t len) {
  if (!x->n_wants) return 0;
  return sy_prom_stream_feed(&x->stream, data, len);
}

int sy_scrape_extractor_end(sy_scrape_extractor_t *x, uint64_t now_ns, sy_model_metrics_t *out,
                            sy_prom_stats_t *stats) {
  sy_prom_stats_t local;
  if (!stats) stats = &local;
  int rc = 0;
  if (x->n_wants) rc = sy_prom_stream_end(&x->stream, stats);
  else memset(stats, 0, sizeof(*stats));
  return x_finish(x, rc, now_ns, out);
}

void sy_scrape_extractor_cleanup(sy_scrape_extractor_t *x) {
  if (x->inited) sy_prom_stream_cleanup(&x->stream);
  x->inited = false;
}

size_t sy_scrape_missing_str(const sy_scrape_engine_t *eng, uint32_t missing, char *out, size_t cap) {
  size_t n = 0;
  if (cap) out[0] = '\0';
  for (int m = 0; m < SY_SCRAPE_METRIC_COUNT; m++) {
    if (!(missing & (1u << m))) continue;
    char sel[SY_SCRAPE_SPEC_MAX * 2];
    sy_scrape_spec_format(&eng->spec[m], sel, sizeof(sel));
    int w = snprintf(n < cap ? out + n : NULL, n < cap ? cap - n : 0, "%s%s", n ? ", " : "", sel);
    if (w > 0) n += (size_t)w;
  }
  return n;
}
