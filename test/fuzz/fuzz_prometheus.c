/* libFuzzer target: bytes -> Prometheus text parser, every engine's
 * extraction, and the selector parser (first line of the input).
 *
 * Checks beyond "no crash" (ASan/UBSan catch those):
 *   - every reported sample lies inside the input; escapes resolve and
 *     compare equal to their own unescaping;
 *   - differential: extracting in fast mode (unwanted lines skipped) and in
 *     strict mode (every line validated) gives the same metrics whenever
 *     both succeed — skipping must never change what is extracted;
 *   - streaming: feeding the input in pieces (split points derived from the
 *     input) gives the same callbacks, stats and metrics as one call;
 *   - selectors round-trip: parse(format(parse(s))) formats identically.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "scrape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct span {
  const char *lo, *hi;
} span_t;

#define INSIDE(sp, p, n) ((p) >= (sp)->lo && (p) + (n) <= (sp)->hi)

static int check_sample(void *ctx, size_t want, const sy_prom_sample_t *s) {
  span_t *sp = ctx;
  (void)want;
  if (!INSIDE(sp, s->name, s->name_len) || s->name_len == 0) __builtin_trap();
  for (size_t i = 0; i < s->n_labels; i++) {
    const sy_prom_label_t *l = &s->labels[i];
    if (!INSIDE(sp, l->name, l->name_len) || !INSIDE(sp, l->value, l->value_len)) __builtin_trap();
    char buf[256];
    size_t n = sy_prom_label_unescape(l, buf, sizeof(buf));
    if (n > l->value_len) __builtin_trap();
    if (n < sizeof(buf) && !sy_prom_label_value_eq(l, buf, n)) __builtin_trap();
  }
  return 0;
}

/* FNV-1a over everything a callback sees, to compare two parses. */
typedef struct digest {
  uint64_t h;
} digest_t;

static void mix(digest_t *d, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) d->h = (d->h ^ b[i]) * 1099511628211ull;
}

static int digest_sample(void *ctx, size_t want, const sy_prom_sample_t *s) {
  digest_t *d = ctx;
  mix(d, &want, sizeof(want));
  mix(d, s->name, s->name_len);
  mix(d, &s->value, sizeof(s->value));
  mix(d, &s->timestamp_ms, sizeof(s->timestamp_ms));
  mix(d, &s->has_timestamp, sizeof(s->has_timestamp));
  mix(d, &s->line_no, sizeof(s->line_no));
  for (size_t i = 0; i < s->n_labels; i++) {
    mix(d, s->labels[i].name, s->labels[i].name_len);
    mix(d, s->labels[i].value, s->labels[i].value_len);
  }
  return 0;
}

static bool same_stats(const sy_prom_stats_t *a, const sy_prom_stats_t *b) {
  return a->lines == b->lines && a->comments == b->comments && a->samples == b->samples &&
         a->skipped == b->skipped && a->garbage == b->garbage && a->too_long == b->too_long &&
         a->first_garbage_line == b->first_garbage_line && a->first_garbage_reason == b->first_garbage_reason;
}

/* Piece sizes from the input itself: deterministic, varied. */
static size_t piece(const uint8_t *data, size_t size, size_t k) {
  if (!size) return 1;
  return 1 + (size_t)data[(k * 7919u) % size] % 97u;
}

static void check_stream(const uint8_t *data, size_t size, const sy_prom_limits_t *lim) {
  const char *page = (const char *)data;
  digest_t d1 = {1469598103934665603ull}, d2 = d1;
  sy_prom_stats_t s1, s2;
  int r1 = sy_prom_parse(page, size, lim, NULL, 0, digest_sample, &d1, &s1);
  sy_prom_stream_t st;
  sy_prom_stream_init(&st, lim, NULL, 0, digest_sample, &d2);
  for (size_t off = 0, k = 0; off < size; k++) {
    size_t n = piece(data, size, k);
    if (n > size - off) n = size - off;
    if (sy_prom_stream_feed(&st, page + off, n) != 0) break;
    off += n;
  }
  int r2 = sy_prom_stream_end(&st, &s2);
  sy_prom_stream_cleanup(&st);
  if (r1 != SY_ETOOBIG && (r1 != r2 || d1.h != d2.h || !same_stats(&s1, &s2))) __builtin_trap();
}

static void check_spec(const char *line, size_t n) {
  char s[400];
  if (n >= sizeof(s)) n = sizeof(s) - 1;
  memcpy(s, line, n);
  s[n] = '\0';
  sy_scrape_spec_t a, b;
  char err[600];
  if (sy_scrape_spec_parse(&a, s, err, sizeof(err)) != 0) return;
  char f1[1200], f2[1200];
  sy_scrape_spec_format(&a, f1, sizeof(f1));
  if (sy_scrape_spec_parse(&b, f1, err, sizeof(err)) != 0) __builtin_trap();
  sy_scrape_spec_format(&b, f2, sizeof(f2));
  if (strcmp(f1, f2) != 0) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *page = (const char *)data;
  span_t sp = {page, page + size};
  /* small limits so the bounds are hit with small inputs */
  sy_prom_limits_t strict = {.max_page_bytes = 1 << 20, .max_line_bytes = 4096, .max_labels = 16, .strict = true};
  sy_prom_limits_t fast = strict;
  fast.strict = false;
  sy_prom_stats_t st;
  (void)sy_prom_parse(page, size, &strict, NULL, 0, check_sample, &sp, &st);
  if (st.garbage > st.lines || st.too_long > st.garbage) __builtin_trap();

  static sy_scrape_engines_t *engines;
  if (!engines && sy_scrape_engines_new(&engines) != 0) return 0;
  for (size_t i = 0; i < sy_scrape_engines_count(engines); i++) {
    const sy_scrape_engine_t *eng = sy_scrape_engines_at(engines, i);
    sy_model_metrics_t m1, m2;
    int r1 = sy_scrape_extract(eng, page, size, &fast, 1, &m1, NULL);
    int r2 = sy_scrape_extract(eng, page, size, &strict, 1, &m2, NULL);
    if (r1 == 0 && r2 == 0 && memcmp(&m1, &m2, sizeof(m1)) != 0) __builtin_trap();
    if (r1 == 0 && (m1.update_ns != 1 || m1.n_running_adapters > SY_SCRAPE_MAX_ADAPTERS ||
                    m1.n_waiting_adapters > SY_SCRAPE_MAX_ADAPTERS)) {
      __builtin_trap();
    }
    for (size_t a = 0; r1 == 0 && a < m1.n_running_adapters; a++) {
      size_t n = strlen(m1.running_adapters[a]);
      if (n == 0 || n > SY_SCRAPE_ADAPTER_NAME_MAX) __builtin_trap();
    }
  }

  check_stream(data, size, &strict);
  check_stream(data, size, &fast);

  /* the streaming extractor agrees with the one-shot one */
  static sy_scrape_extractor_t x;
  const sy_scrape_engine_t *v = sy_scrape_engines_get(engines, "vllm");
  sy_model_metrics_t one, two;
  int r1 = sy_scrape_extract(v, page, size, &fast, 5, &one, NULL);
  sy_scrape_extractor_begin(&x, v, &fast);
  for (size_t off = 0, k = 0; off < size; k++) {
    size_t n = piece(data, size, k + 3);
    if (n > size - off) n = size - off;
    (void)sy_scrape_extractor_feed(&x, page + off, n);
    off += n;
  }
  int r2 = sy_scrape_extractor_end(&x, 5, &two, NULL);
  if (r1 != r2 || memcmp(&one, &two, sizeof(one)) != 0) __builtin_trap();

  const char *nl = memchr(page, '\n', size);
  check_spec(page, nl ? (size_t)(nl - page) : size);
  double d;
  (void)sy_prom_parse_double(page, size < 64 ? size : 64, &d);
  return 0;
}
