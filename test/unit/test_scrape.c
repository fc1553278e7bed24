/* Unit tests for lib/scrape: the Prometheus text parser, selectors, engine
 * mappings, extraction from realistic pages, and the scraper thread against
 * a real HTTP server on loopback (written here: one epoll thread serving a
 * page we control on one or many ports). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "scrape.h"
#include "test_support.h"

/* ================================================================ helpers */

static char *corpus_page(const char *name, size_t *len) {
  char rel[256];
  snprintf(rel, sizeof(rel), "../fuzz/corpus/fuzz_prometheus/%s", name);
  char *p = sy_test_read_file(sy_test_data_path(rel), len);
  ck_assert_msg(p != NULL, "cannot read %s", sy_test_data_path(rel));
  return p;
}

#define MAX_SEEN 64
typedef struct seen {
  size_t n;
  struct {
    char name[64];
    size_t want;
    size_t n_labels;
    char l0[128]; /* "name=unescaped value" of the first label */
    double value;
    bool has_ts;
    int64_t ts;
    uint32_t line;
  } s[MAX_SEEN];
} seen_t;

static int collect(void *ctx, size_t want, const sy_prom_sample_t *s) {
  seen_t *x = ctx;
  if (x->n == MAX_SEEN) return 0;
  typeof(x->s[0]) *e = &x->s[x->n++];
  snprintf(e->name, sizeof(e->name), "%.*s", (int)s->name_len, s->name);
  e->want = want;
  e->n_labels = s->n_labels;
  e->l0[0] = '\0';
  if (s->n_labels) {
    char v[100];
    sy_prom_label_unescape(&s->labels[0], v, sizeof(v));
    snprintf(e->l0, sizeof(e->l0), "%.*s=%s", (int)s->labels[0].name_len, s->labels[0].name, v);
  }
  e->value = s->value;
  e->has_ts = s->has_timestamp;
  e->ts = s->timestamp_ms;
  e->line = s->line_no;
  return 0;
}

static int parse_all(const char *page, const sy_prom_limits_t *lim, seen_t *x, sy_prom_stats_t *st) {
  memset(x, 0, sizeof(*x));
  sy_prom_limits_t l = lim ? *lim : (sy_prom_limits_t){.strict = true};
  return sy_prom_parse(page, strlen(page), &l, NULL, 0, collect, x, st);
}

static sy_scrape_engines_t *engines(void) {
  sy_scrape_engines_t *e = NULL;
  ck_assert_int_eq(sy_scrape_engines_new(&e), 0);
  return e;
}

static int extract(const char *engine, const char *page, sy_model_metrics_t *m) {
  sy_scrape_engines_t *e = engines();
  const sy_scrape_engine_t *eng = sy_scrape_engines_get(e, engine);
  ck_assert_ptr_nonnull(eng);
  int rc = sy_scrape_extract(eng, page, strlen(page), NULL, 4242, m, NULL);
  sy_scrape_engines_free(e);
  return rc;
}

/* ================================================================ parser */

START_TEST(test_prom_syntax) {
  const char *page =
      "# HELP up Whether the target is up.\n"
      "# TYPE up gauge\n"
      "\n"
      "# a free-form comment { with \"junk\n"
      "up 1\n"
      "   \t\n"
      "up{job=\"a\",instance=\"10.0.0.1:80\"} 0 1700000000123\n"
      "\tspaced \t { a = \"x\" , b=\"y\" , } \t 2.5e-3 \t -17 \t\n"
      "empty{} 7\n"
      "colon:name_1{le=\"+Inf\"} 3\n";
  seen_t x;
  sy_prom_stats_t st;
  ck_assert_int_eq(parse_all(page, NULL, &x, &st), 0);
  ck_assert_uint_eq(x.n, 5);
  ck_assert_str_eq(x.s[0].name, "up");
  ck_assert_uint_eq(x.s[0].n_labels, 0);
  ck_assert(x.s[0].value == 1.0 && !x.s[0].has_ts);
  ck_assert_uint_eq(x.s[0].want, SIZE_MAX);
  ck_assert_uint_eq(x.s[0].line, 5);
  ck_assert_uint_eq(x.s[1].n_labels, 2);
  ck_assert_str_eq(x.s[1].l0, "job=a");
  ck_assert(x.s[1].value == 0.0 && x.s[1].has_ts && x.s[1].ts == 1700000000123);
  ck_assert_str_eq(x.s[2].name, "spaced");
  ck_assert_uint_eq(x.s[2].n_labels, 2);
  ck_assert_str_eq(x.s[2].l0, "a=x");
  ck_assert(x.s[2].value == 2.5e-3 && x.s[2].ts == -17);
  ck_assert_uint_eq(x.s[3].n_labels, 0);
  ck_assert(x.s[3].value == 7);
  ck_assert_str_eq(x.s[4].name, "colon:name_1");
  ck_assert_str_eq(x.s[4].l0, "le=+Inf");
  ck_assert_uint_eq(st.comments, 3);
  ck_assert_uint_eq(st.samples, 5);
  ck_assert_uint_eq(st.garbage, 0);
  ck_assert_uint_eq(st.lines, 8);
}
END_TEST

START_TEST(test_prom_escapes) {
  const char *page = "m{v=\"a\\\\b\\\"c\\nd\",w=\"plain\"} 1\n"
                     "m{v=\"bad \\q escape\"} 2\n"
                     "m{v=\"ends with backslash\\\"} 3\n";
  seen_t x;
  sy_prom_stats_t st;
  ck_assert_int_eq(parse_all(page, NULL, &x, &st), 0);
  ck_assert_uint_eq(x.n, 1);
  ck_assert_str_eq(x.s[0].l0, "v=a\\b\"c\nd");
  ck_assert_uint_eq(st.garbage, 2);
  ck_assert_uint_eq(st.first_garbage_line, 2);
  ck_assert_str_eq(st.first_garbage_reason, "invalid escape in label value");

  /* matchers compare against the unescaped value */
  sy_prom_matcher_t mt = {"v", 1, "a\\b\"c\nd", 7};
  sy_prom_want_t w = {"m", 1, &mt, 1};
  memset(&x, 0, sizeof(x));
  ck_assert_int_eq(sy_prom_parse(page, strlen(page), NULL, &w, 1, collect, &x, NULL), 0);
  ck_assert_uint_eq(x.n, 1);
  ck_assert_uint_eq(x.s[0].want, 0);

  /* unescape truncates like snprintf */
  sy_prom_label_t l = {"v", 1, "ab\\\"cd", 6, true};
  char small[4];
  ck_assert_uint_eq(sy_prom_label_unescape(&l, small, sizeof(small)), 5);
  ck_assert_str_eq(small, "ab\"");
  ck_assert(sy_prom_label_value_eq(&l, "ab\"cd", 5));
  ck_assert(!sy_prom_label_value_eq(&l, "ab\"c", 4));
  ck_assert(!sy_prom_label_value_eq(&l, "ab\\\"cd", 6));
}
END_TEST

START_TEST(test_prom_values) {
  struct {
    const char *s;
    bool ok;
    double v;
  } cases[] = {
      {"0", true, 0},          {"1", true, 1},          {"-1.5E-2", true, -0.015}, {"1e3", true, 1000},
      {"+2.5", true, 2.5},     {".5", true, 0.5},       {"5.", true, 5},           {"1.0e+09", true, 1e9},
      {"0.4375", true, 0.4375}, {"1e308", true, 1e308}, {"1e-320", true, 1e-320},  {"1e999", true, INFINITY},
      {"0x10", false, 0},      {"1_000", false, 0},     {"", false, 0},            {"e5", false, 0},
      {"1e", false, 0},        {"1.2.3", false, 0},     {"--1", false, 0},         {".", false, 0},
      {"1,5", false, 0},       {"Inf", true, INFINITY}, {"+Inf", true, INFINITY},  {"-Inf", true, -INFINITY},
      {"infinity", true, INFINITY}, {"iNf", true, INFINITY}, {"infx", false, 0},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    double v = -99;
    bool ok = sy_prom_parse_double(cases[i].s, strlen(cases[i].s), &v);
    ck_assert_msg(ok == cases[i].ok, "%s: ok=%d", cases[i].s, ok);
    if (ok) ck_assert_msg(v == cases[i].v, "%s: got %.17g", cases[i].s, v);
  }
  double v;
  ck_assert(sy_prom_parse_double("NaN", 3, &v) && isnan(v));
  ck_assert(sy_prom_parse_double("nan", 3, &v) && isnan(v));
  ck_assert(sy_prom_parse_double("-0.0", 4, &v) && v == 0 && signbit(v));
  /* exact (correctly rounded) on both the fast path and the fallback */
  const char *exact[] = {"0.1", "0.3", "3.14159265358979", "123456789012345678901234567890", "1763051234.5",
                         "2.2250738585072014e-308", "9007199254740993", "0.000000000000000000000001234",
                         "1.7976931348623157e308", "4.9e-324", "1234567.891e-3", "0.1e23", "123456789012345e10"};
  for (size_t i = 0; i < SY_ARRAY_LEN(exact); i++) {
    ck_assert(sy_prom_parse_double(exact[i], strlen(exact[i]), &v));
    ck_assert_msg(v == strtod(exact[i], NULL), "%s: %.17g vs %.17g", exact[i], v, strtod(exact[i], NULL));
  }
  /* NaN/Inf in a page */
  seen_t x;
  ck_assert_int_eq(parse_all("a NaN\nb +Inf\nc -Inf\n", NULL, &x, NULL), 0);
  ck_assert_uint_eq(x.n, 3);
  ck_assert(isnan(x.s[0].value) && x.s[1].value == INFINITY && x.s[2].value == -INFINITY);
}
END_TEST

START_TEST(test_prom_timestamps) {
  const char *page = "a 1 1700000000000\n"
                     "b 2 -5\n"
                     "c 3 9223372036854775807\n"
                     "d 4 9223372036854775808\n" /* overflow */
                     "e 5 12.5\n"                /* not an integer */
                     "f 6 7 8\n"                 /* trailing text */
                     "g 7 -9223372036854775808\n";
  seen_t x;
  sy_prom_stats_t st;
  ck_assert_int_eq(parse_all(page, NULL, &x, &st), 0);
  ck_assert_uint_eq(x.n, 4);
  ck_assert(x.s[0].ts == 1700000000000 && x.s[1].ts == -5 && x.s[2].ts == INT64_MAX && x.s[3].ts == INT64_MIN);
  ck_assert_uint_eq(st.garbage, 3);
  ck_assert_str_eq(st.first_garbage_reason, "invalid timestamp");
  ck_assert_uint_eq(st.first_garbage_line, 4);
}
END_TEST

START_TEST(test_prom_comments_strict) {
  const char *page = "#\n"
                     "#no space is a comment\n"
                     "# HELP x a \\\\ valid \\n help\n"
                     "# HELP x bad \\t escape\n"
                     "# TYPE x gauge\n"
                     "# TYPE x bogus\n"
                     "# TYPE 1x gauge\n"
                     "# TYPE x counter extra\n"
                     "x 1\n";
  sy_prom_stats_t st;
  seen_t x;
  ck_assert_int_eq(parse_all(page, NULL, &x, &st), 0);
  ck_assert_uint_eq(st.comments, 4);
  ck_assert_uint_eq(st.garbage, 4);
  ck_assert_uint_eq(st.first_garbage_line, 4);
  /* fast mode does not look inside comments */
  sy_prom_limits_t fast = {0};
  ck_assert_int_eq(parse_all(page, &fast, &x, &st), 0);
  ck_assert_uint_eq(st.comments, 8);
  ck_assert_uint_eq(st.garbage, 0);
}
END_TEST

START_TEST(test_prom_long_lines) {
  /* default limit: 64 KiB */
  size_t big = SY_PROM_DEFAULT_MAX_LINE + 10;
  sy_buf_t b;
  sy_buf_init(&b, 1 << 20);
  ck_assert_int_eq(sy_buf_append_str(&b, "a{l=\""), 0);
  for (size_t i = 0; i < big; i++) ck_assert_int_eq(sy_buf_append(&b, "x", 1), 0);
  ck_assert_int_eq(sy_buf_append_str(&b, "\"} 1\nb 2\n"), 0);
  seen_t x;
  sy_prom_stats_t st;
  memset(&x, 0, sizeof(x));
  ck_assert_int_eq(sy_prom_parse(b.data, b.len, NULL, NULL, 0, collect, &x, &st), 0);
  ck_assert_uint_eq(x.n, 1);
  ck_assert_str_eq(x.s[0].name, "b");
  ck_assert_uint_eq(st.too_long, 1);
  ck_assert_uint_eq(st.garbage, 1);
  ck_assert_str_eq(st.first_garbage_reason, "line too long");
  sy_buf_cleanup(&b);

  /* configured limit; a line of exactly the limit passes */
  sy_prom_limits_t lim = {.max_line_bytes = 8, .strict = true};
  ck_assert_int_eq(parse_all("abcd 123\nabcd 1234\nz 1\n", &lim, &x, &st), 0);
  ck_assert_uint_eq(x.n, 2);
  ck_assert_uint_eq(st.too_long, 1);

  /* max labels */
  sy_prom_limits_t ml = {.max_labels = 2, .strict = true};
  ck_assert_int_eq(parse_all("a{x=\"1\",y=\"2\"} 1\na{x=\"1\",y=\"2\",z=\"3\"} 2\n", &ml, &x, &st), 0);
  ck_assert_uint_eq(x.n, 1);
  ck_assert_str_eq(st.first_garbage_reason, "too many labels");
  /* the hard cap applies to absurd configurations */
  sy_prom_limits_t huge = {.max_labels = 100000, .strict = true};
  char many[8192];
  size_t o = (size_t)snprintf(many, sizeof(many), "m{");
  for (int i = 0; i < 300; i++) o += (size_t)snprintf(many + o, sizeof(many) - o, "l%d=\"v\",", i);
  snprintf(many + o, sizeof(many) - o, "} 1\nok 1\n");
  ck_assert_int_eq(parse_all(many, &huge, &x, &st), 0);
  ck_assert_uint_eq(x.n, 1);
  ck_assert_str_eq(x.s[0].name, "ok");
}
END_TEST

START_TEST(test_prom_truncated_and_limits) {
  seen_t x;
  sy_prom_stats_t st;
  /* "x 12" cut to "x 1" must not read as 1: an unterminated tail is garbage */
  ck_assert_int_eq(parse_all("a 5\nx 1", NULL, &x, &st), 0);
  ck_assert_uint_eq(x.n, 1);
  ck_assert_str_eq(x.s[0].name, "a");
  ck_assert_uint_eq(st.garbage, 1);
  ck_assert_uint_eq(st.first_garbage_line, 2);
  /* cut inside a label value */
  ck_assert_int_eq(parse_all("a 5\nx{l=\"ab", NULL, &x, &st), 0);
  ck_assert_uint_eq(st.garbage, 1);
  /* CRLF line ends are tolerated */
  ck_assert_int_eq(parse_all("a 5\r\nb{l=\"v\"} 6\r\n", NULL, &x, &st), 0);
  ck_assert_uint_eq(x.n, 2);
  ck_assert(x.s[1].value == 6);
  /* empty page: fine, nothing */
  ck_assert_int_eq(parse_all("", NULL, &x, &st), 0);
  ck_assert_uint_eq(x.n, 0);
  /* only garbage: the page fails */
  ck_assert_int_eq(parse_all("<html>\n<body>oops</body>\n", NULL, &x, &st), SY_EPARSE);
  ck_assert_uint_eq(st.garbage, 2);
  ck_assert_int_eq(parse_all("{\"error\":\"x\"}", NULL, &x, &st), SY_EPARSE);
  /* page limit */
  sy_prom_limits_t lim = {.max_page_bytes = 10};
  ck_assert_int_eq(parse_all("a 1\nb 2\nc 3\n", &lim, &x, &st), SY_ETOOBIG);
  ck_assert_uint_eq(x.n, 0);
  /* bad arguments */
  ck_assert_int_eq(sy_prom_parse(NULL, 5, NULL, NULL, 0, collect, &x, NULL), SY_EINVAL);
  ck_assert_int_eq(sy_prom_parse("a 1\n", 4, NULL, NULL, 0, NULL, NULL, NULL), SY_EINVAL);
}
END_TEST

START_TEST(test_prom_garbage_counted) {
  const char *page = "good 1\n"
                     "1bad 2\n"                      /* invalid metric name */
                     "bad-name 3\n"                  /* blank expected */
                     "novalue\n"                     /* missing value */
                     "x{a=\"1\" b=\"2\"} 4\n"        /* missing comma */
                     "x{a=1} 5\n"                    /* unquoted value */
                     "x{1a=\"1\"} 6\n"               /* bad label name */
                     "x{a=\"1\"} abc\n"              /* bad value */
                     "x{a=\"1\" 7\n"                 /* unterminated set */
                     "also_good{a=\"1\"} 8\n";
  seen_t x;
  sy_prom_stats_t st;
  ck_assert_int_eq(parse_all(page, NULL, &x, &st), 0);
  ck_assert_uint_eq(x.n, 2);
  ck_assert(x.s[1].value == 8);
  ck_assert_uint_eq(st.garbage, 8);
  ck_assert_uint_eq(st.samples, 2);
  ck_assert_uint_eq(st.first_garbage_line, 2);
  ck_assert_str_eq(st.first_garbage_reason, "invalid metric name");
}
END_TEST

START_TEST(test_prom_wants) {
  const char *page = "x_bucket{le=\"1\"} 1\n"
                     "x{kind=\"a\"} 2\n"
                     "x_sum 3\n"
                     "x{kind=\"b\",other=\"z\"} 4\n"
                     "xx 5\n"
                     "x 6\n"
                     "unwanted{broken 7\n"
                     "y{kind=\"b\"} 8\n";
  sy_prom_matcher_t ma = {"kind", 4, "a", 1}, mb = {"kind", 4, "b", 1};
  sy_prom_want_t w[] = {{"x", 1, &ma, 1}, {"x", 1, &mb, 1}, {"x", 1, NULL, 0}, {"y", 1, NULL, 0}};
  seen_t x;
  memset(&x, 0, sizeof(x));
  sy_prom_stats_t st;
  ck_assert_int_eq(sy_prom_parse(page, strlen(page), NULL, w, 4, collect, &x, &st), 0);
  /* x{a}: wants 0 and 2; x{b}: 1 and 2; x: 2; y: 3 */
  ck_assert_uint_eq(x.n, 6);
  size_t wants[] = {0, 2, 1, 2, 2, 3};
  double vals[] = {2, 2, 4, 4, 6, 8};
  for (size_t i = 0; i < 6; i++) {
    ck_assert_uint_eq(x.s[i].want, wants[i]);
    ck_assert(x.s[i].value == vals[i]);
  }
  /* fast mode: the broken unwanted line is skipped, not counted */
  ck_assert_uint_eq(st.skipped, 4);
  ck_assert_uint_eq(st.samples, 4);
  ck_assert_uint_eq(st.garbage, 0);
  /* strict mode validates it */
  sy_prom_limits_t strict = {.strict = true};
  ck_assert_int_eq(sy_prom_parse(page, strlen(page), &strict, w, 4, collect, &x, &st), 0);
  ck_assert_uint_eq(st.garbage, 1);
  ck_assert_uint_eq(st.samples, 7);
}
END_TEST

static int stop_at_second(void *ctx, size_t want, const sy_prom_sample_t *s) {
  (void)want;
  (void)s;
  return ++*(int *)ctx == 2 ? 77 : 0;
}

START_TEST(test_prom_callback_stop) {
  int calls = 0;
  ck_assert_int_eq(sy_prom_parse("a 1\na 2\na 3\n", 12, NULL, NULL, 0, stop_at_second, &calls, NULL), 77);
  ck_assert_int_eq(calls, 2);
}
END_TEST

static void stream_equiv(const char *page, size_t len, const sy_prom_limits_t *lim, size_t chunk) {
  static seen_t a, b;
  sy_prom_stats_t sa, sb;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  int ra = sy_prom_parse(page, len, lim, NULL, 0, collect, &a, &sa);
  sy_prom_stream_t st;
  sy_prom_stream_init(&st, lim, NULL, 0, collect, &b);
  for (size_t off = 0; off < len; off += chunk) {
    size_t n = SY_MIN(chunk, len - off);
    ck_assert_int_eq(sy_prom_stream_feed(&st, page + off, n), 0);
  }
  int rb = sy_prom_stream_end(&st, &sb);
  sy_prom_stream_cleanup(&st);
  ck_assert_msg(ra == rb, "chunk %zu: rc %d vs %d", chunk, ra, rb);
  ck_assert_msg(sa.lines == sb.lines && sa.comments == sb.comments && sa.samples == sb.samples &&
                    sa.skipped == sb.skipped && sa.garbage == sb.garbage && sa.too_long == sb.too_long &&
                    sa.first_garbage_line == sb.first_garbage_line &&
                    sa.first_garbage_reason == sb.first_garbage_reason,
                "chunk %zu: stats differ (lines %u/%u garbage %u/%u too_long %u/%u first %u/%u)", chunk, sa.lines,
                sb.lines, sa.garbage, sb.garbage, sa.too_long, sb.too_long, sa.first_garbage_line,
                sb.first_garbage_line);
  ck_assert_msg(memcmp(&a, &b, sizeof(a)) == 0, "chunk %zu: samples differ", chunk);
}

START_TEST(test_prom_stream) {
  /* every split of tricky pages gives exactly the one-shot result */
  const char *pages[] = {
      "a 1\n# HELP a x\nb{l=\"v\\\"w\"} 2 33\n\n  \r\nc 3\r\nbad line\nd 4",
      "x 1\n      \n\t\t\t\t\t\t\t\t\t\t\t\r\nlonglonglonglonglong{a=\"b\"} 1\nshort 2\n",
      /* 12 bytes + '\r' is still legal with max_line 12; 13 bytes is not */
      "abcdefgh 1\nabcdefghij 1\r\nabcdefghijk 1\r\nabcdefg 12\r\n          x\n            \r\n z 1",
      "",
      "\n\n\n",
      "no newline at all",
  };
  sy_prom_limits_t lim = {.max_line_bytes = 12, .strict = true};
  for (size_t i = 0; i < SY_ARRAY_LEN(pages); i++) {
    size_t len = strlen(pages[i]);
    for (size_t chunk = 1; chunk <= len + 1; chunk++) {
      stream_equiv(pages[i], len, &lim, chunk);
      stream_equiv(pages[i], len, NULL, chunk);
    }
  }
  size_t len;
  char *page = corpus_page("vllm_0_11.txt", &len);
  size_t chunks[] = {1, 2, 3, 7, 100, 1000, 16384, 65536};
  for (size_t i = 0; i < SY_ARRAY_LEN(chunks); i++) stream_equiv(page, len, NULL, chunks[i]);
  /* extractor: same metrics however the page arrives */
  sy_scrape_engines_t *e = engines();
  sy_model_metrics_t one, two;
  ck_assert_int_eq(sy_scrape_extract(sy_scrape_engines_get(e, "vllm"), page, len, NULL, 9, &one, NULL), 0);
  sy_scrape_extractor_t *x = sy_calloc(1, sizeof(*x));
  for (size_t i = 0; i < SY_ARRAY_LEN(chunks); i++) {
    sy_scrape_extractor_begin(x, sy_scrape_engines_get(e, "vllm"), NULL);
    for (size_t off = 0; off < len; off += chunks[i]) {
      ck_assert_int_eq(sy_scrape_extractor_feed(x, page + off, SY_MIN(chunks[i], len - off)), 0);
    }
    ck_assert_int_eq(sy_scrape_extractor_end(x, 9, &two, NULL), 0);
    ck_assert_msg(memcmp(&one, &two, sizeof(one)) == 0, "chunk %zu", chunks[i]);
  }
  /* the page limit applies to the sum of the pieces */
  sy_prom_limits_t small = {.max_page_bytes = 1000};
  sy_scrape_extractor_begin(x, sy_scrape_engines_get(e, "vllm"), &small);
  ck_assert_int_eq(sy_scrape_extractor_feed(x, page, 600), 0);
  ck_assert_int_eq(sy_scrape_extractor_feed(x, page + 600, 600), SY_ETOOBIG);
  ck_assert_int_eq(sy_scrape_extractor_feed(x, page, 1), SY_ETOOBIG); /* sticky */
  ck_assert_int_eq(sy_scrape_extractor_end(x, 9, &two, NULL), SY_ETOOBIG);
  ck_assert_uint_eq(two.update_ns, 0);
  sy_scrape_extractor_cleanup(x);
  sy_free(x);
  sy_scrape_engines_free(e);
  sy_free(page);
}
END_TEST

/* ================================================================ specs */

static void spec_ok(const char *in, const char *canon) {
  sy_scrape_spec_t s;
  char err[512], out[512];
  ck_assert_msg(sy_scrape_spec_parse(&s, in, err, sizeof(err)) == 0, "%s: %s", in, err);
  sy_scrape_spec_format(&s, out, sizeof(out));
  ck_assert_msg(strcmp(out, canon) == 0, "%s -> %s (want %s)", in, out, canon);
}

static void spec_bad(const char *in) {
  sy_scrape_spec_t s;
  char err[512];
  ck_assert_msg(sy_scrape_spec_parse(&s, in, err, sizeof(err)) == SY_EINVAL, "%s accepted", in);
  ck_assert_msg(strstr(err, "invalid metric spec") != NULL, "%s: %s", in, err);
}

START_TEST(test_spec_parse) {
  spec_ok("vllm:num_requests_waiting", "vllm:num_requests_waiting");
  spec_ok("  name  ", "name");
  spec_ok("n{request_type=waiting}", "n{request_type=\"waiting\"}");
  spec_ok("n{ a = b , c=\"d e\" }", "n{a=\"b\",c=\"d e\"}");
  spec_ok("n {a=\"x}y\"}", "n{a=\"x}y\"}");
  spec_ok("n{}", "n");
  spec_ok("n{a=\"\"}", "n{a=\"\"}");
  spec_ok("n{a=1,a=2}", "n{a=\"2\"}"); /* repeated label: last wins, as upstream's map */
  spec_ok("n{a=v-1.2:x}", "n{a=\"v-1.2:x\"}");
  spec_ok("", "");
  spec_ok("   ", "");
  sy_scrape_spec_t s;
  ck_assert_int_eq(sy_scrape_spec_parse(&s, NULL, NULL, 0), 0);
  ck_assert(!sy_scrape_spec_enabled(&s));
  ck_assert_int_eq(sy_scrape_spec_parse(&s, "x{a=b}", NULL, 0), 0);
  ck_assert(sy_scrape_spec_enabled(&s));
  ck_assert_uint_eq(s.n_matchers, 1);

  spec_bad("1name");
  spec_bad("na-me");
  spec_bad("name{");
  spec_bad("name}");
  spec_bad("name{a}");
  spec_bad("name{a=}");
  spec_bad("name{a!=b}");
  spec_bad("name{a=~b}");
  spec_bad("name{a==b}");
  spec_bad("name{a=\"b}");
  spec_bad("name{a=b,}");
  spec_bad("name{,a=b}");
  spec_bad("name{a=b c}");
  spec_bad("name{1a=b}");
  spec_bad("name x");
  spec_bad("name{a=b}x");
  spec_bad("name{a=b c=d}");
  spec_bad("n{a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9}");
  char longname[400];
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  spec_bad(longname);
}
END_TEST

START_TEST(test_engines_builtin) {
  sy_scrape_engines_t *e = engines();
  ck_assert_uint_eq(sy_scrape_engines_count(e), 4);
  ck_assert_str_eq(sy_scrape_engines_default(e), "vllm");
  ck_assert_str_eq(sy_scrape_engines_label_key(e), "inference.networking.k8s.io/engine-type");
  struct {
    const char *engine;
    const char *spec[SY_SCRAPE_METRIC_COUNT];
  } want[] = {
      {"vllm",
       {"vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc",
        "vllm:lora_requests_info", "vllm:cache_config_info", "", ""}},
      {"sglang", {"sglang:num_queue_reqs", "sglang:num_running_reqs", "sglang:token_usage", "", "sglang:cache_config_info", "", ""}},
      {"trtllm-serve",
       {"trtllm_num_requests_waiting", "trtllm_num_requests_running", "trtllm_kv_cache_utilization", "", "",
        "trtllm_kv_cache_tokens_per_block", "trtllm_kv_cache_max_blocks"}},
      {"triton-tensorrt-llm",
       {"nv_trt_llm_request_metrics{request_type=\"waiting\"}", "nv_trt_llm_request_metrics{request_type=\"scheduled\"}",
        "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\"}", "", "",
        "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"tokens_per\"}",
        "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"max\"}"}},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(want); i++) {
    const sy_scrape_engine_t *eng = sy_scrape_engines_get(e, want[i].engine);
    ck_assert_ptr_nonnull(eng);
    for (int m = 0; m < SY_SCRAPE_METRIC_COUNT; m++) {
      char out[512];
      sy_scrape_spec_format(&eng->spec[m], out, sizeof(out));
      ck_assert_msg(strcmp(out, want[i].spec[m]) == 0, "%s %s: %s", want[i].engine, sy_scrape_metric_key(m), out);
    }
  }
  ck_assert_str_eq(sy_scrape_engines_resolve(e, NULL)->name, "vllm");
  ck_assert_str_eq(sy_scrape_engines_resolve(e, "")->name, "vllm");
  ck_assert_str_eq(sy_scrape_engines_resolve(e, "no-such")->name, "vllm");
  ck_assert_str_eq(sy_scrape_engines_resolve(e, "sglang")->name, "sglang");
  ck_assert_ptr_null(sy_scrape_engines_get(e, "no-such"));
  ck_assert_str_eq(sy_scrape_metric_key(SY_SCRAPE_KV_USAGE), "kvUsageSpec");
  ck_assert_int_eq(sy_scrape_metric_from_key("cacheNumBlocksSpec"), SY_SCRAPE_CACHE_NUM_BLOCKS);
  ck_assert_int_eq(sy_scrape_metric_from_key("nope"), -1);
  ck_assert_ptr_null(sy_scrape_metric_key(SY_SCRAPE_METRIC_COUNT));
  sy_scrape_engines_free(e);
}
END_TEST

typedef struct kv {
  const char *k, *v;
} kv_t;

static const char *get_label(void *ctx, const char *key) {
  for (const kv_t *p = ctx; p->k; p++) {
    if (strcmp(p->k, key) == 0) return p->v;
  }
  return NULL;
}

START_TEST(test_engines_custom) {
  sy_scrape_engines_t *e = engines();
  char err[512];
  /* replacing a built-in replaces it whole: unspecified metrics go away */
  sy_scrape_engine_config_t c = {.name = "vllm", .spec = {[SY_SCRAPE_QUEUED] = "vllm:num_requests_waiting",
                                                          [SY_SCRAPE_KV_USAGE] = "vllm:gpu_cache_usage_perc"}};
  ck_assert_int_eq(sy_scrape_engines_set(e, &c, err, sizeof(err)), 0);
  const sy_scrape_engine_t *v = sy_scrape_engines_get(e, "vllm");
  ck_assert(sy_scrape_spec_enabled(&v->spec[SY_SCRAPE_QUEUED]));
  ck_assert(!sy_scrape_spec_enabled(&v->spec[SY_SCRAPE_RUNNING]));
  ck_assert(!sy_scrape_spec_enabled(&v->spec[SY_SCRAPE_LORA]));
  ck_assert_uint_eq(sy_scrape_engines_count(e), 4);
  /* a new engine */
  sy_scrape_engine_config_t n = {.name = "my-engine", .spec = {[SY_SCRAPE_QUEUED] = "q{pool=a}", [SY_SCRAPE_RUNNING] = ""}};
  ck_assert_int_eq(sy_scrape_engines_set(e, &n, err, sizeof(err)), 0);
  ck_assert_uint_eq(sy_scrape_engines_count(e), 5);
  /* errors name the engine and the metric, and change nothing */
  sy_scrape_engine_config_t bad = {.name = "sglang", .spec = {[SY_SCRAPE_KV_USAGE] = "bad{"}};
  ck_assert_int_eq(sy_scrape_engines_set(e, &bad, err, sizeof(err)), SY_EINVAL);
  ck_assert_msg(strstr(err, "sglang") && strstr(err, "kvUsageSpec"), "%s", err);
  ck_assert(sy_scrape_spec_enabled(&sy_scrape_engines_get(e, "sglang")->spec[SY_SCRAPE_RUNNING]));
  sy_scrape_engine_config_t reserved = {.name = "default"};
  ck_assert_int_eq(sy_scrape_engines_set(e, &reserved, err, sizeof(err)), SY_EINVAL);
  sy_scrape_engine_config_t noname = {.name = ""};
  ck_assert_int_eq(sy_scrape_engines_set(e, &noname, err, sizeof(err)), SY_EINVAL);
  /* default engine and label key */
  ck_assert_int_eq(sy_scrape_engines_set_default(e, "nope", err, sizeof(err)), SY_EINVAL);
  ck_assert_int_eq(sy_scrape_engines_set_default(e, "my-engine", err, sizeof(err)), 0);
  ck_assert_str_eq(sy_scrape_engines_resolve(e, "unknown")->name, "my-engine");
  kv_t labels[] = {{"app", "x"}, {SY_SCRAPE_ENGINE_LABEL_KEY, "sglang"}, {NULL, NULL}};
  ck_assert_str_eq(sy_scrape_engine_for_labels(e, get_label, labels), "sglang");
  kv_t unknown[] = {{SY_SCRAPE_ENGINE_LABEL_KEY, "whatever"}, {NULL, NULL}};
  ck_assert_str_eq(sy_scrape_engine_for_labels(e, get_label, unknown), "my-engine");
  ck_assert_str_eq(sy_scrape_engine_for_labels(e, NULL, NULL), "my-engine");
  ck_assert_int_eq(sy_scrape_engines_set_label_key(e, "engine"), 0);
  ck_assert_str_eq(sy_scrape_engine_for_labels(e, get_label, labels), "my-engine");
  kv_t custom[] = {{"engine", "trtllm-serve"}, {NULL, NULL}};
  ck_assert_str_eq(sy_scrape_engine_for_labels(e, get_label, custom), "trtllm-serve");
  /* copies are deep */
  sy_scrape_engines_t *cp = sy_scrape_engines_copy(e);
  ck_assert_ptr_nonnull(cp);
  sy_scrape_engines_free(e);
  ck_assert_str_eq(sy_scrape_engines_default(cp), "my-engine");
  ck_assert_uint_eq(sy_scrape_engines_count(cp), 5);
  sy_scrape_engines_free(cp);
  sy_scrape_engines_free(NULL);
}
END_TEST

/* ================================================================ extract */

/* Two realistic vLLM pages (all families / engine families only), same values. */
static const char *const VLLM_PAGES[] = {"vllm_0_11.txt", "vllm_core_small.txt"};

START_TEST(test_extract_vllm_page) {
  size_t len;
  char *page = corpus_page(VLLM_PAGES[_i], &len);
  sy_scrape_engines_t *e = engines();
  sy_model_metrics_t m;
  sy_prom_stats_t st;
  ck_assert_int_eq(sy_scrape_extract(sy_scrape_engines_get(e, "vllm"), page, len, NULL, 777, &m, &st), 0);
  ck_assert_uint_eq(m.update_ns, 777);
  ck_assert(m.has_waiting && m.waiting == 5);
  ck_assert(m.has_running && m.running == 12);
  ck_assert(m.has_kv_usage && m.kv_usage == 0.4375);
  ck_assert(m.has_cache_block_size && m.cache_block_size == 16);
  ck_assert(m.has_cache_num_blocks && m.cache_num_blocks == 27000);
  /* the LoRA series with the largest value wins, not the last one */
  ck_assert(m.has_lora);
  ck_assert_int_eq(m.max_lora, 4);
  ck_assert_uint_eq(m.n_running_adapters, 2);
  ck_assert_str_eq(m.running_adapters[0], "sql-lora");
  ck_assert_str_eq(m.running_adapters[1], "chat-lora");
  ck_assert_uint_eq(m.n_waiting_adapters, 0);
  ck_assert_uint_eq(m.missing, 0);
  ck_assert_uint_eq(st.garbage, 0);
  ck_assert_uint_eq(st.samples, 6);
  ck_assert_uint_gt(st.skipped, _i == 0 ? 400 : 150);

  /* the whole page is valid text format */
  sy_prom_limits_t strict = {.strict = true};
  sy_model_metrics_t m2;
  ck_assert_int_eq(sy_scrape_extract(sy_scrape_engines_get(e, "vllm"), page, len, &strict, 777, &m2, &st), 0);
  ck_assert_uint_eq(st.garbage, 0);
  ck_assert_uint_gt(st.samples, _i == 0 ? 400 : 150);
  ck_assert(memcmp(&m, &m2, sizeof(m)) == 0);

  /* the same page read as sglang: nothing */
  ck_assert_int_eq(sy_scrape_extract(sy_scrape_engines_get(e, "sglang"), page, len, NULL, 1, &m, NULL), SY_ENOTFOUND);
  ck_assert_uint_eq(m.update_ns, 0);
  ck_assert_uint_eq(m.missing, (1u << SY_SCRAPE_QUEUED) | (1u << SY_SCRAPE_RUNNING) | (1u << SY_SCRAPE_KV_USAGE) |
                                   (1u << SY_SCRAPE_CACHE_INFO));
  char miss[512];
  sy_scrape_missing_str(sy_scrape_engines_get(e, "sglang"), m.missing, miss, sizeof(miss));
  ck_assert_str_eq(miss, "sglang:num_queue_reqs, sglang:num_running_reqs, sglang:token_usage, sglang:cache_config_info");
  sy_scrape_engines_free(e);
  sy_free(page);
}
END_TEST

START_TEST(test_extract_sglang_page) {
  size_t len;
  char *page = corpus_page("sglang_0_5.txt", &len);
  sy_model_metrics_t m;
  ck_assert_int_eq(extract("sglang", page, &m), 0);
  ck_assert(m.has_waiting && m.waiting == 3);
  ck_assert(m.has_running && m.running == 7);
  ck_assert(m.has_kv_usage && m.kv_usage == 0.28);
  ck_assert(m.has_cache_block_size && m.cache_block_size == 1); /* page_size */
  ck_assert(m.has_cache_num_blocks && m.cache_num_blocks == 325000);
  ck_assert(!m.has_lora);
  ck_assert_uint_eq(m.missing, 0); /* LoRA is disabled for sglang, not missing */
  sy_free(page);
}
END_TEST

START_TEST(test_extract_trtllm_triton) {
  size_t len;
  char *page = corpus_page("trtllm.txt", &len);
  sy_model_metrics_t m;
  ck_assert_int_eq(extract("trtllm-serve", page, &m), 0);
  ck_assert(m.waiting == 2 && m.running == 9 && m.kv_usage == 0.61);
  ck_assert(m.has_cache_block_size && m.cache_block_size == 32);
  ck_assert(m.has_cache_num_blocks && m.cache_num_blocks == 4096);
  ck_assert_int_eq(extract("triton-tensorrt-llm", page, &m), 0);
  ck_assert(m.has_waiting && m.waiting == 4);
  ck_assert(m.has_running && m.running == 6);
  ck_assert(m.has_kv_usage && m.kv_usage == 0.25);
  ck_assert(m.cache_block_size == 64 && m.cache_num_blocks == 1000);
  ck_assert_uint_eq(m.missing, 0);
  sy_free(page);
}
END_TEST

START_TEST(test_extract_latest_timestamp) {
  sy_model_metrics_t m;
  /* latest timestamp wins wherever it is */
  ck_assert_int_eq(extract("vllm",
                           "vllm:num_requests_waiting{m=\"a\"} 1 100\n"
                           "vllm:num_requests_waiting{m=\"b\"} 2 300\n"
                           "vllm:num_requests_waiting{m=\"c\"} 3 200\n",
                           &m),
                   0);
  ck_assert_int_eq(m.waiting, 2);
  /* no timestamps: the first series (upstream's `ts > recent` loop) */
  ck_assert_int_eq(extract("vllm", "vllm:num_requests_waiting{m=\"a\"} 7\nvllm:num_requests_waiting{m=\"b\"} 8\n", &m), 0);
  ck_assert_int_eq(m.waiting, 7);
  /* a timestamped series beats untimestamped ones (they count as 0) */
  ck_assert_int_eq(extract("vllm",
                           "vllm:num_requests_waiting 7\nvllm:num_requests_waiting 8 5\nvllm:num_requests_waiting 9\n",
                           &m),
                   0);
  ck_assert_int_eq(m.waiting, 8);
  /* a missing metric is reported, the others still extracted */
  ck_assert_int_eq(extract("vllm", "vllm:num_requests_running 4\n", &m), 0);
  ck_assert(m.has_running && !m.has_waiting && !m.has_kv_usage);
  ck_assert_uint_eq(m.missing, (1u << SY_SCRAPE_QUEUED) | (1u << SY_SCRAPE_KV_USAGE) | (1u << SY_SCRAPE_LORA) |
                                   (1u << SY_SCRAPE_CACHE_INFO));
  /* NaN counts as not found; fractions truncate toward zero like Go's int() */
  ck_assert_int_eq(extract("vllm", "vllm:num_requests_waiting NaN\nvllm:num_requests_running 3.9\n", &m), 0);
  ck_assert(!m.has_waiting && m.running == 3);
  /* labels select among series (triton), other labels are ignored */
  ck_assert_int_eq(extract("triton-tensorrt-llm",
                           "nv_trt_llm_request_metrics{request_type=\"scheduled\",x=\"1\"} 11\n"
                           "nv_trt_llm_request_metrics{request_type=\"waiting\",x=\"1\"} 12\n"
                           "nv_trt_llm_request_metrics{request_type=\"waitingX\"} 13\n",
                           &m),
                   0);
  ck_assert(m.waiting == 12 && m.running == 11);
  /* nothing at all */
  ck_assert_int_eq(extract("vllm", "other 1\n", &m), SY_ENOTFOUND);
  ck_assert_int_eq(extract("vllm", "<html>\n", &m), SY_EPARSE);
}
END_TEST

START_TEST(test_extract_lora) {
  sy_model_metrics_t m;
  ck_assert_int_eq(extract("vllm",
                           "vllm:lora_requests_info{max_lora=\"8\",running_lora_adapters=\" a ,b,, a,c \","
                           "waiting_lora_adapters=\"\"} 10\n",
                           &m),
                   0);
  ck_assert(m.has_lora && m.max_lora == 8);
  ck_assert_uint_eq(m.n_running_adapters, 3);
  ck_assert_str_eq(m.running_adapters[0], "a");
  ck_assert_str_eq(m.running_adapters[1], "b");
  ck_assert_str_eq(m.running_adapters[2], "c");
  ck_assert_uint_eq(m.n_waiting_adapters, 0);
  ck_assert(!m.adapters_truncated);
  /* A name with a control character or a NUL byte (found by fuzzing: it
   * became an empty C string) is dropped, the others kept. */
  static const char nul_page[] = "vllm:lora_requests_info{max_lora=\"4\",running_lora_adapters=\"sql-lora,\0\0 chat,"
                                 "ok-lora,bad\x01name\",waiting_lora_adapters=\"\"} 10\n";
  {
    sy_scrape_engines_t *e = engines();
    const sy_scrape_engine_t *eng = sy_scrape_engines_get(e, "vllm");
    ck_assert_int_eq(sy_scrape_extract(eng, nul_page, sizeof(nul_page) - 1, NULL, 1, &m, NULL), 0);
    sy_scrape_engines_free(e);
  }
  ck_assert_uint_eq(m.n_running_adapters, 2);
  ck_assert_str_eq(m.running_adapters[0], "sql-lora");
  ck_assert_str_eq(m.running_adapters[1], "ok-lora");
  ck_assert(m.adapters_truncated);
  /* largest value wins; later smaller or equal values do not replace it */
  ck_assert_int_eq(extract("vllm",
                           "vllm:lora_requests_info{max_lora=\"1\",running_lora_adapters=\"old\",waiting_lora_adapters=\"\"} 5\n"
                           "vllm:lora_requests_info{max_lora=\"2\",running_lora_adapters=\"new\",waiting_lora_adapters=\"w1,w2\"} 9\n"
                           "vllm:lora_requests_info{max_lora=\"3\",running_lora_adapters=\"tie\",waiting_lora_adapters=\"\"} 9\n"
                           "vllm:lora_requests_info{max_lora=\"4\",running_lora_adapters=\"older\",waiting_lora_adapters=\"\"} 1\n",
                           &m),
                   0);
  ck_assert_int_eq(m.max_lora, 2);
  ck_assert_uint_eq(m.n_running_adapters, 1);
  ck_assert_str_eq(m.running_adapters[0], "new");
  ck_assert_uint_eq(m.n_waiting_adapters, 2);
  ck_assert_str_eq(m.waiting_adapters[1], "w2");
  /* a NaN value is replaced by any real one */
  ck_assert_int_eq(extract("vllm",
                           "vllm:lora_requests_info{running_lora_adapters=\"x\"} NaN\n"
                           "vllm:lora_requests_info{running_lora_adapters=\"y\"} 1\n",
                           &m),
                   0);
  ck_assert_str_eq(m.running_adapters[0], "y");
  ck_assert_int_eq(m.max_lora, 0); /* absent max_lora */
  /* non-integer max_lora is ignored; escapes resolve; bounds */
  char big[8192];
  size_t o = (size_t)snprintf(big, sizeof(big), "vllm:lora_requests_info{max_lora=\"x4\",running_lora_adapters=\"");
  for (int i = 0; i < 20; i++) o += (size_t)snprintf(big + o, sizeof(big) - o, "%sad%d", i ? "," : "", i);
  o += (size_t)snprintf(big + o, sizeof(big) - o, "\",waiting_lora_adapters=\"q\\\"uote,");
  for (int i = 0; i < 130; i++) big[o++] = 'L';
  o += (size_t)snprintf(big + o, sizeof(big) - o, ",ok\"} 3\n");
  ck_assert_int_eq(extract("vllm", big, &m), 0);
  ck_assert_int_eq(m.max_lora, 0);
  ck_assert_uint_eq(m.n_running_adapters, 16);
  ck_assert_str_eq(m.running_adapters[15], "ad15");
  ck_assert_uint_eq(m.n_waiting_adapters, 2);
  ck_assert_str_eq(m.waiting_adapters[0], "q\"uote");
  ck_assert_str_eq(m.waiting_adapters[1], "ok");
  ck_assert(m.adapters_truncated);
}
END_TEST

START_TEST(test_extract_cache_info) {
  sy_model_metrics_t m;
  /* the gauge overrides the info label when an engine has both */
  sy_scrape_engines_t *e = engines();
  sy_scrape_engine_config_t c = {.name = "mix",
                                 .spec = {[SY_SCRAPE_CACHE_INFO] = "info", [SY_SCRAPE_CACHE_BLOCK_SIZE] = "bs"}};
  ck_assert_int_eq(sy_scrape_engines_set(e, &c, NULL, 0), 0);
  const char *page = "info{block_size=\"16\",num_gpu_blocks=\"100\"} 1\nbs 32\n";
  ck_assert_int_eq(sy_scrape_extract(sy_scrape_engines_get(e, "mix"), page, strlen(page), NULL, 1, &m, NULL), 0);
  ck_assert(m.cache_block_size == 32 && m.cache_num_blocks == 100);
  /* bad numbers in labels are ignored */
  const char *bad = "info{block_size=\"sixteen\",num_gpu_blocks=\"None\"} 1\n";
  ck_assert_int_eq(sy_scrape_extract(sy_scrape_engines_get(e, "mix"), bad, strlen(bad), NULL, 1, &m, NULL), 0);
  ck_assert(!m.has_cache_block_size && !m.has_cache_num_blocks);
  ck_assert_uint_eq(m.missing, 1u << SY_SCRAPE_CACHE_BLOCK_SIZE);
  sy_scrape_engines_free(e);
}
END_TEST

START_TEST(test_parse_cost) {
  /* A measurement, printed for the record; asserts only a generous bound. */
  size_t len;
  char *page = corpus_page(VLLM_PAGES[_i], &len);
  sy_scrape_engines_t *e = engines();
  const sy_scrape_engine_t *v = sy_scrape_engines_get(e, "vllm");
  sy_model_metrics_t m;
  sy_prom_limits_t strict = {.strict = true};
  int iters = 2000;
  uint64_t t0 = sy_now_ns();
  for (int i = 0; i < iters; i++) ck_assert_int_eq(sy_scrape_extract(v, page, len, NULL, 1, &m, NULL), 0);
  uint64_t t1 = sy_now_ns();
  for (int i = 0; i < iters / 4; i++) ck_assert_int_eq(sy_scrape_extract(v, page, len, &strict, 1, &m, NULL), 0);
  uint64_t t2 = sy_now_ns();
  double fast = (double)(t1 - t0) / iters, full = (double)(t2 - t1) / (iters / 4);
  fprintf(stderr, "parse cost: %s (%zu bytes): extract %.0f ns/page (%.2f GB/s), strict full parse %.0f ns/page\n",
          VLLM_PAGES[_i], len, fast, (double)len / fast, full);
  ck_assert(fast < 2e6); /* 2 ms per page would be absurd even under sanitizers */
  sy_scrape_engines_free(e);
  sy_free(page);
}
END_TEST

/* ================================================================ server */

#define TS_MAX_PORTS 128
#define TS_MAX_FD 4096

typedef struct tsrv {
  int n;
  int lfd[TS_MAX_PORTS];
  int port[TS_MAX_PORTS];
  int epfd, evfd;
  pthread_t th;
  pthread_mutex_t mu;
  char *page;
  size_t page_len;
  int status;
  bool hang; /* read requests, never answer */
  atomic_long requests, accepts;
  char *rbuf[TS_MAX_FD];
  size_t rlen[TS_MAX_FD];
} tsrv_t;

static void ts_close(tsrv_t *s, int fd) {
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  sy_free(s->rbuf[fd]);
  s->rbuf[fd] = NULL;
  s->rlen[fd] = 0;
}

static bool is_listener(tsrv_t *s, int fd) {
  for (int i = 0; i < s->n; i++) {
    if (s->lfd[i] == fd) return true;
  }
  return false;
}

static void ts_serve(tsrv_t *s, int fd) {
  for (;;) {
    ssize_t r = recv(fd, s->rbuf[fd] + s->rlen[fd], 8191 - s->rlen[fd], MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
      ts_close(s, fd);
      return;
    }
    if (r < 0) return;
    s->rlen[fd] += (size_t)r;
    s->rbuf[fd][s->rlen[fd]] = '\0';
    char *end;
    while ((end = strstr(s->rbuf[fd], "\r\n\r\n"))) {
      size_t used = (size_t)(end + 4 - s->rbuf[fd]);
      memmove(s->rbuf[fd], s->rbuf[fd] + used, s->rlen[fd] - used + 1);
      s->rlen[fd] -= used;
      atomic_fetch_add(&s->requests, 1);
      pthread_mutex_lock(&s->mu);
      if (!s->hang) {
        char hdr[256];
        int hl = snprintf(hdr, sizeof(hdr),
                          "HTTP/1.1 %d X\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %zu\r\n\r\n",
                          s->status, s->page_len);
        struct iovec iov[2] = {{hdr, (size_t)hl}, {s->page, s->page_len}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
        size_t total = (size_t)hl + s->page_len, sent = 0;
        while (sent < total) {
          ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
          if (w <= 0) break;
          sent += (size_t)w;
          while (w > 0 && mh.msg_iovlen) {
            if ((size_t)w >= mh.msg_iov[0].iov_len) {
              w -= (ssize_t)mh.msg_iov[0].iov_len;
              mh.msg_iov++;
              mh.msg_iovlen--;
            } else {
              mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + w;
              mh.msg_iov[0].iov_len -= (size_t)w;
              w = 0;
            }
          }
        }
      }
      pthread_mutex_unlock(&s->mu);
    }
    if (s->rlen[fd] >= 8000) { /* junk request */
      ts_close(s, fd);
      return;
    }
  }
}

static void *ts_main(void *arg) {
  tsrv_t *s = arg;
  struct epoll_event ev[64];
  for (;;) {
    int n = epoll_wait(s->epfd, ev, 64, 1000);
    for (int i = 0; i < n; i++) {
      int fd = ev[i].data.fd;
      if (fd == s->evfd) goto out;
      if (is_listener(s, fd)) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        if (c >= TS_MAX_FD) {
          close(c);
          continue;
        }
        atomic_fetch_add(&s->accepts, 1);
        s->rbuf[c] = sy_calloc(1, 8192);
        if (!s->rbuf[c]) {
          close(c);
          continue;
        }
        struct timeval tv = {2, 0};
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, c, &e);
      } else {
        ts_serve(s, fd);
      }
    }
  }
out:
  /* listeners first: from now on a (re)connect is refused, not reset */
  for (int i = 0; i < s->n; i++) {
    close(s->lfd[i]);
    s->lfd[i] = -1;
  }
  for (int fd = 0; fd < TS_MAX_FD; fd++) {
    if (s->rbuf[fd]) ts_close(s, fd);
  }
  return NULL;
}

/* Starts a server on n ports of 127.0.0.1 (ports[i] == 0: any free port). */
static tsrv_t *ts_start(int n, const int *ports, const char *page, int status) {
  tsrv_t *s = sy_calloc(1, sizeof(*s));
  ck_assert_ptr_nonnull(s);
  pthread_mutex_init(&s->mu, NULL);
  s->page = sy_strdup(page);
  s->page_len = strlen(page);
  s->status = status;
  s->n = n;
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  s->evfd = eventfd(0, EFD_CLOEXEC);
  struct epoll_event e = {.events = EPOLLIN, .data.fd = s->evfd};
  epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &e);
  for (int i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(ports ? ports[i] : 0))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind: %s", strerror(errno));
    ck_assert_int_eq(listen(fd, 128), 0);
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    s->lfd[i] = fd;
    s->port[i] = ntohs(a.sin_port);
    struct epoll_event le = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &le);
  }
  ck_assert_int_eq(pthread_create(&s->th, NULL, ts_main, s), 0);
  return s;
}

static void ts_set(tsrv_t *s, const char *page, int status, bool hang) {
  pthread_mutex_lock(&s->mu);
  sy_free(s->page);
  s->page = sy_strdup(page);
  s->page_len = strlen(page);
  s->status = status;
  s->hang = hang;
  pthread_mutex_unlock(&s->mu);
}

/* Stops the server: every listener and connection is closed. */
static void ts_stop(tsrv_t *s) {
  if (!s) return;
  uint64_t one = 1;
  ck_assert_int_eq(write(s->evfd, &one, sizeof(one)), (ssize_t)sizeof(one));
  pthread_join(s->th, NULL);
  close(s->epfd);
  close(s->evfd);
  sy_free(s->page);
  pthread_mutex_destroy(&s->mu);
  sy_free(s);
}

/* ================================================================ sink */

#define REC_MAX 128
typedef struct rec {
  pthread_mutex_t mu;
  int n_metrics, n_errors;
  sy_model_metrics_t last;
  char last_key[64];
  int last_err;
  char last_reason[512];
  int per[REC_MAX]; /* metrics per key index ("k<i>") */
  int per_err[REC_MAX];
} rec_t;

static int key_index(const char *key) {
  return (key[0] == 'k') ? (int)strtol(key + 1, NULL, 10) : -1;
}

static void rec_metrics(void *ctx, const char *key, const sy_model_metrics_t *m) {
  rec_t *r = ctx;
  pthread_mutex_lock(&r->mu);
  r->n_metrics++;
  r->last = *m;
  snprintf(r->last_key, sizeof(r->last_key), "%s", key);
  int i = key_index(key);
  if (i >= 0 && i < REC_MAX) r->per[i]++;
  pthread_mutex_unlock(&r->mu);
}

static void rec_error(void *ctx, const char *key, int err, const char *reason) {
  rec_t *r = ctx;
  pthread_mutex_lock(&r->mu);
  r->n_errors++;
  r->last_err = err;
  snprintf(r->last_key, sizeof(r->last_key), "%s", key);
  snprintf(r->last_reason, sizeof(r->last_reason), "%s", reason);
  int i = key_index(key);
  if (i >= 0 && i < REC_MAX) r->per_err[i]++;
  pthread_mutex_unlock(&r->mu);
}

static rec_t *rec_new(void) {
  rec_t *r = sy_calloc(1, sizeof(*r));
  ck_assert_ptr_nonnull(r);
  pthread_mutex_init(&r->mu, NULL);
  return r;
}

static rec_t rec_get(rec_t *r) {
  pthread_mutex_lock(&r->mu);
  rec_t c = *r;
  pthread_mutex_unlock(&r->mu);
  return c;
}

typedef bool (*pred_fn)(rec_t *r, const void *arg);

static bool wait_for(rec_t *r, pred_fn p, const void *arg, int timeout_ms) {
  uint64_t end = sy_now_ns() + (uint64_t)timeout_ms * 1000000u;
  while (sy_now_ns() < end) {
    pthread_mutex_lock(&r->mu);
    bool ok = p(r, arg);
    pthread_mutex_unlock(&r->mu);
    if (ok) return true;
    usleep(2000);
  }
  return false;
}

static bool p_waiting_is(rec_t *r, const void *arg) { return r->n_metrics > 0 && r->last.waiting == *(const int *)arg; }
static bool p_errors_ge(rec_t *r, const void *arg) { return r->n_errors >= *(const int *)arg; }
static bool p_metrics_ge(rec_t *r, const void *arg) { return r->n_metrics >= *(const int *)arg; }

static const char *vpage(int waiting) {
  static char buf[512];
  snprintf(buf, sizeof(buf),
           "# TYPE vllm:num_requests_waiting gauge\n"
           "vllm:num_requests_waiting{model_name=\"m\"} %d\n"
           "vllm:num_requests_running{model_name=\"m\"} 1\n"
           "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.5\n",
           waiting);
  return buf;
}

static sy_scraper_t *scraper(rec_t *r, uint32_t interval_ms, uint32_t timeout_ms, size_t max_page) {
  sy_scraper_config_t c = {.interval_ms = interval_ms,
                           .timeout_ms = timeout_ms,
                           .limits = {.max_page_bytes = max_page},
                           .sink = {rec_metrics, rec_error, r}};
  sy_scraper_t *sc = NULL;
  ck_assert_int_eq(sy_scraper_new(&sc, &c), 0);
  ck_assert_int_eq(sy_scraper_start(sc), 0);
  return sc;
}

static void target(sy_scrape_target_t *t, char *key, char *url, int idx, int port, const char *engine) {
  snprintf(key, 32, "k%d", idx);
  snprintf(url, 64, "http://127.0.0.1:%d/metrics", port);
  *t = (sy_scrape_target_t){key, url, engine};
}

/* ================================================================ scraper */

START_TEST(test_scraper_lifecycle) {
  rec_t *r = rec_new();
  tsrv_t *s = ts_start(1, NULL, vpage(3), 200);
  int port = s->port[0];
  sy_scraper_t *sc = scraper(r, 20, 500, 0);
  sy_scrape_target_t t;
  char key[32], url[64];
  target(&t, key, url, 0, port, NULL);
  ck_assert_int_eq(sy_scraper_set_targets(sc, &t, 1), 0);

  int three = 3, seven = 7;
  ck_assert_msg(wait_for(r, p_waiting_is, &three, 3000), "no metrics");
  rec_t c = rec_get(r);
  ck_assert_str_eq(c.last_key, "k0");
  ck_assert(c.last.has_running && c.last.running == 1 && c.last.kv_usage == 0.5);
  ck_assert_uint_gt(c.last.update_ns, 0);
  ck_assert_int_eq(c.n_errors, 0);

  /* a new page → new values */
  ts_set(s, vpage(7), 200, false);
  ck_assert_msg(wait_for(r, p_waiting_is, &seven, 3000), "page change not seen");
  /* keep-alive: many polls, one connection */
  int many = rec_get(r).n_metrics + 10;
  ck_assert(wait_for(r, p_metrics_ge, &many, 3000));
  ck_assert_int_le(atomic_load(&s->accepts), 1);
  sy_scraper_stats_t st;
  sy_scraper_stats(sc, &st);
  ck_assert_uint_le(st.connects, 1);
  ck_assert_uint_ge(st.scrapes_ok, 10);
  ck_assert_uint_eq(st.targets, 1);

  /* server down → exactly one on_error */
  ts_stop(s);
  int one = 1;
  ck_assert_msg(wait_for(r, p_errors_ge, &one, 3000), "no error after server stop");
  usleep(300000);
  c = rec_get(r);
  ck_assert_int_eq(c.n_errors, 1);
  ck_assert_int_eq(c.last_err, -ECONNREFUSED);
  ck_assert_msg(strstr(c.last_reason, url) != NULL, "%s", c.last_reason);
  sy_scraper_stats(sc, &st);
  ck_assert_uint_ge(st.scrapes_failed, 5); /* it kept trying */

  /* back up → values again, then a second failure is reported again */
  s = ts_start(1, &port, vpage(9), 200);
  int nine = 9;
  ck_assert_msg(wait_for(r, p_waiting_is, &nine, 3000), "no recovery");
  ts_set(s, vpage(9), 500, false);
  int two = 2;
  ck_assert(wait_for(r, p_errors_ge, &two, 3000));
  c = rec_get(r);
  ck_assert_int_eq(c.last_err, -EPROTO);
  ck_assert_msg(strstr(c.last_reason, "HTTP status 500") != NULL, "%s", c.last_reason);
  ts_set(s, vpage(10), 200, false);
  int ten = 10;
  ck_assert(wait_for(r, p_waiting_is, &ten, 3000));

  /* target removed → no more callbacks once set_targets returns */
  ck_assert_int_eq(sy_scraper_set_targets(sc, NULL, 0), 0);
  c = rec_get(r);
  usleep(200000);
  rec_t d = rec_get(r);
  ck_assert_int_eq(d.n_metrics, c.n_metrics);
  ck_assert_int_eq(d.n_errors, c.n_errors);
  sy_scraper_stats(sc, &st);
  ck_assert_uint_eq(st.targets, 0);

  uint64_t t0 = sy_now_ns();
  sy_scraper_free(sc);
  ck_assert_uint_lt(sy_now_ns() - t0, 100000000u);
  ts_stop(s);
  sy_free(r);
}
END_TEST

START_TEST(test_scraper_failures) {
  rec_t *r = rec_new();
  tsrv_t *s = ts_start(4, NULL, vpage(1), 200);
  sy_scraper_t *sc = scraper(r, 20, 300, 4096);
  /* k0: garbage page, k1: page too large, k2: hangs (timeout), k3: wrong engine */
  tsrv_t *g = ts_start(1, NULL, "<html>\n<body>Bad Gateway</body>\n</html>\n", 200);
  sy_buf_t big;
  sy_buf_init(&big, 1 << 20);
  for (int i = 0; i < 500; i++) sy_buf_printf(&big, "filler_metric{i=\"%d\"} %d\n", i, i);
  tsrv_t *b = ts_start(1, NULL, big.data, 200);
  tsrv_t *h = ts_start(1, NULL, vpage(1), 200);
  ts_set(h, vpage(1), 200, true);
  sy_scrape_target_t t[4];
  char keys[4][32], urls[4][64];
  target(&t[0], keys[0], urls[0], 0, g->port[0], NULL);
  target(&t[1], keys[1], urls[1], 1, b->port[0], NULL);
  target(&t[2], keys[2], urls[2], 2, h->port[0], NULL);
  target(&t[3], keys[3], urls[3], 3, s->port[0], "sglang");
  ck_assert_int_eq(sy_scraper_set_targets(sc, t, 4), 0);
  int four = 4;
  ck_assert_msg(wait_for(r, p_errors_ge, &four, 3000), "errors: %d", rec_get(r).n_errors);
  usleep(700000); /* several timeouts later: still one error each */
  rec_t c = rec_get(r);
  for (int i = 0; i < 4; i++) ck_assert_msg(c.per_err[i] == 1, "k%d: %d errors", i, c.per_err[i]);
  ck_assert_int_eq(c.n_metrics, 0);

  /* a stop while a request hangs is prompt */
  uint64_t t0 = sy_now_ns();
  sy_scraper_stop(sc);
  uint64_t dt = sy_now_ns() - t0;
  ck_assert_msg(dt < 100000000u, "stop took %llu ns", (unsigned long long)dt);
  sy_scraper_stats_t st;
  sy_scraper_stats(sc, &st);
  ck_assert_uint_gt(st.cpu_ns, 0);
  sy_scraper_free(sc);
  ts_stop(g);
  ts_stop(b);
  ts_stop(h);
  ts_stop(s);
  sy_buf_cleanup(&big);
  sy_free(r);
}
END_TEST

static void expect_error(int err, const char *page, uint32_t timeout_ms, size_t max_page, bool hang,
                         const char *reason_part) {
  rec_t *r = rec_new();
  tsrv_t *s = ts_start(1, NULL, page, 200);
  if (hang) ts_set(s, page, 200, true);
  sy_scraper_t *sc = scraper(r, 20, timeout_ms, max_page);
  sy_scrape_target_t t;
  char key[32], url[64];
  target(&t, key, url, 0, s->port[0], NULL);
  ck_assert_int_eq(sy_scraper_set_targets(sc, &t, 1), 0);
  int one = 1;
  ck_assert(wait_for(r, p_errors_ge, &one, 3000));
  rec_t c = rec_get(r);
  ck_assert_msg(c.last_err == err, "err %d (%s), want %d", c.last_err, c.last_reason, err);
  ck_assert_msg(strstr(c.last_reason, reason_part) != NULL, "%s", c.last_reason);
  sy_scraper_free(sc);
  ts_stop(s);
  sy_free(r);
}

START_TEST(test_scraper_error_kinds) {
  expect_error(SY_EPARSE, "<html>\n<body>x</body>\n", 500, 0, false, "unparseable metrics page: invalid metric name at line 1");
  expect_error(SY_ENOTFOUND, "other_metric 1\n", 500, 0, false, "missing vllm:num_requests_waiting");
  char big[3000];
  memset(big, 'x', sizeof(big) - 2);
  big[sizeof(big) - 2] = '\n';
  big[sizeof(big) - 1] = '\0';
  expect_error(SY_ETOOBIG, big, 500, 1000, false, "larger than 1000 bytes");
  expect_error(-ETIMEDOUT, vpage(1), 150, 0, true, "GET http://127.0.0.1:");
}
END_TEST

START_TEST(test_scraper_targets_and_engines) {
  rec_t *r = rec_new();
  tsrv_t *s = ts_start(3, NULL, vpage(4), 200);
  size_t slen;
  char *sg = corpus_page("sglang_0_5.txt", &slen);
  tsrv_t *g = ts_start(1, NULL, sg, 200);
  sy_scraper_t *sc = scraper(r, 20, 500, 0);
  sy_scrape_target_t t[4];
  char keys[4][32], urls[4][64];
  target(&t[0], keys[0], urls[0], 0, s->port[0], NULL);
  target(&t[1], keys[1], urls[1], 1, s->port[1], "vllm");
  target(&t[2], keys[2], urls[2], 2, g->port[0], "sglang");
  target(&t[3], keys[3], urls[3], 1, s->port[2], "vllm"); /* duplicate key k1: last wins */
  ck_assert_int_eq(sy_scraper_set_targets(sc, t, 4), 0);
  sy_scraper_stats_t st;
  sy_scraper_stats(sc, &st);
  ck_assert_uint_eq(st.targets, 3);
  int n = 30;
  ck_assert(wait_for(r, p_metrics_ge, &n, 3000));
  rec_t c = rec_get(r);
  ck_assert(c.per[0] > 3 && c.per[1] > 3 && c.per[2] > 3);
  ck_assert_int_eq(c.n_errors, 0);

  /* keep k0, drop k1 and k2, add k5; k0 keeps its connection */
  long acc = atomic_load(&s->accepts);
  sy_scrape_target_t t2[2];
  char keys2[2][32], urls2[2][64];
  target(&t2[0], keys2[0], urls2[0], 0, s->port[0], NULL);
  target(&t2[1], keys2[1], urls2[1], 5, s->port[1], NULL);
  ck_assert_int_eq(sy_scraper_set_targets(sc, t2, 2), 0);
  c = rec_get(r);
  usleep(300000);
  rec_t d = rec_get(r);
  ck_assert_int_eq(d.per[1], c.per[1]);
  ck_assert_int_eq(d.per[2], c.per[2]);
  ck_assert_int_gt(d.per[0], c.per[0]);
  ck_assert_int_gt(d.per[5], 0);
  ck_assert_int_le(atomic_load(&s->accepts), acc + 1); /* only k5's new connection */

  /* custom engine mappings apply to running targets: k0 now reads another metric */
  sy_scrape_engines_t *e = engines();
  sy_scrape_engine_config_t cv = {.name = "vllm", .spec = {[SY_SCRAPE_QUEUED] = "vllm:num_requests_running"}};
  ck_assert_int_eq(sy_scrape_engines_set(e, &cv, NULL, 0), 0);
  ck_assert_int_eq(sy_scraper_set_engines(sc, e), 0);
  sy_scrape_engines_free(e);
  int one = 1; /* running is 1 in vpage() */
  ck_assert(wait_for(r, p_waiting_is, &one, 3000));
  c = rec_get(r);
  ck_assert(!c.last.has_running && !c.last.has_kv_usage);
  sy_scraper_free(sc);
  ts_stop(s);
  ts_stop(g);
  sy_free(sg);
  sy_free(r);
}
END_TEST

typedef struct reentrant {
  sy_scraper_t *sc;
  atomic_int calls;
  atomic_int set_rc;
} reentrant_t;

static void drop_all(void *ctx, const char *key, const sy_model_metrics_t *m) {
  reentrant_t *r = ctx;
  (void)key;
  (void)m;
  if (atomic_fetch_add(&r->calls, 1) == 0) atomic_store(&r->set_rc, sy_scraper_set_targets(r->sc, NULL, 0));
}

START_TEST(test_scraper_set_from_callback) {
  /* a sink may change the list; it must not deadlock waiting for itself */
  tsrv_t *s = ts_start(1, NULL, vpage(1), 200);
  reentrant_t r = {.sc = NULL};
  atomic_store(&r.set_rc, -1);
  sy_scraper_config_t c = {.interval_ms = 10, .sink = {drop_all, NULL, &r}};
  ck_assert_int_eq(sy_scraper_new(&r.sc, &c), 0);
  ck_assert_int_eq(sy_scraper_start(r.sc), 0);
  sy_scrape_target_t t;
  char key[32], url[64];
  target(&t, key, url, 0, s->port[0], NULL);
  ck_assert_int_eq(sy_scraper_set_targets(r.sc, &t, 1), 0);
  for (int i = 0; i < 300 && atomic_load(&r.calls) == 0; i++) usleep(10000);
  usleep(200000);
  ck_assert_int_eq(atomic_load(&r.calls), 1);
  ck_assert_int_eq(atomic_load(&r.set_rc), 0);
  sy_scraper_stats_t st;
  sy_scraper_stats(r.sc, &st);
  ck_assert_uint_eq(st.targets, 0);
  sy_scraper_free(r.sc);
  ts_stop(s);
}
END_TEST

/* Cost of 100 endpoints at 50 ms with the realistic vLLM page. Prints the
 * scraper thread's CPU; SY_SCRAPE_LOAD_SECONDS (default 2) sets the length. */
START_TEST(test_scraper_load) {
  enum { N = 100 };
  const char *env = getenv("SY_SCRAPE_LOAD_SECONDS");
  double secs = env ? strtod(env, NULL) : 2.0;
  if (secs <= 0) secs = 2.0;
  env = getenv("SY_SCRAPE_LOAD_INTERVAL_MS");
  int interval = env ? (int)strtol(env, NULL, 10) : 50;
  if (interval <= 0) interval = 50;
  env = getenv("SY_SCRAPE_LOAD_PAGE");
  size_t len;
  char *page = corpus_page(env ? env : "vllm_0_11.txt", &len);
  tsrv_t *s = ts_start(N, NULL, page, 200);
  rec_t *r = rec_new();
  sy_scraper_t *sc = scraper(r, (uint32_t)interval, 1000, 0);
  static sy_scrape_target_t t[N];
  static char keys[N][32], urls[N][64];
  for (int i = 0; i < N; i++) target(&t[i], keys[i], urls[i], i, s->port[i], NULL);
  ck_assert_int_eq(sy_scraper_set_targets(sc, t, N), 0);
  usleep(300000); /* warm up: connections open */
  sy_scraper_stats_t a, b;
  sy_scraper_stats(sc, &a);
  struct timespec p0, p1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p0);
  uint64_t t0 = sy_now_ns();
  usleep((useconds_t)(secs * 1e6));
  uint64_t wall = sy_now_ns() - t0;
  sy_scraper_stats(sc, &b);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p1);
  double cpu = (double)(b.cpu_ns - a.cpu_ns);
  double scrapes = (double)(b.scrapes_ok - a.scrapes_ok);
  double proc = (double)(p1.tv_sec - p0.tv_sec) * 1e9 + (double)(p1.tv_nsec - p0.tv_nsec);
  fprintf(stderr,
          "scraper load: %d endpoints, %d ms, %zu-byte page, %.1f s: %.0f scrapes/s (expected %d), "
          "scraper thread CPU %.2f%% of a core (%.1f us/scrape, parse %.1f us/scrape), "
          "new connections %llu, failures %llu; whole process incl. test server %.1f%%\n",
          N, interval, len, (double)wall / 1e9, scrapes * 1e9 / (double)wall, N * 1000 / interval,
          100.0 * cpu / (double)wall,
          cpu / scrapes / 1000.0, (double)(b.parse_ns - a.parse_ns) / scrapes / 1000.0,
          (unsigned long long)(b.connects - a.connects), (unsigned long long)(b.scrapes_failed - a.scrapes_failed),
          100.0 * proc / (double)wall);
  rec_t c = rec_get(r);
  for (int i = 0; i < N; i++) ck_assert_msg(c.per[i] >= 3, "k%d scraped %d times", i, c.per[i]);
  ck_assert_uint_eq(b.scrapes_failed, 0);
  ck_assert_uint_le(b.connects, N + 5); /* keep-alive holds */
  ck_assert(scrapes * 1e9 / (double)wall > N * 1000.0 / interval * 0.5);
  sy_scraper_free(sc);
  ts_stop(s);
  sy_free(page);
  sy_free(r);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("scrape");
  TCase *tc = tcase_create("prom");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_prom_syntax);
  tcase_add_test(tc, test_prom_escapes);
  tcase_add_test(tc, test_prom_values);
  tcase_add_test(tc, test_prom_timestamps);
  tcase_add_test(tc, test_prom_comments_strict);
  tcase_add_test(tc, test_prom_long_lines);
  tcase_add_test(tc, test_prom_truncated_and_limits);
  tcase_add_test(tc, test_prom_garbage_counted);
  tcase_add_test(tc, test_prom_wants);
  tcase_add_test(tc, test_prom_callback_stop);
  tcase_add_test(tc, test_prom_stream);
  suite_add_tcase(s, tc);

  tc = tcase_create("spec");
  tcase_add_test(tc, test_spec_parse);
  tcase_add_test(tc, test_engines_builtin);
  tcase_add_test(tc, test_engines_custom);
  suite_add_tcase(s, tc);

  tc = tcase_create("extract");
  tcase_set_timeout(tc, 30);
  tcase_add_loop_test(tc, test_extract_vllm_page, 0, (int)SY_ARRAY_LEN(VLLM_PAGES));
  tcase_add_test(tc, test_extract_sglang_page);
  tcase_add_test(tc, test_extract_trtllm_triton);
  tcase_add_test(tc, test_extract_latest_timestamp);
  tcase_add_test(tc, test_extract_lora);
  tcase_add_test(tc, test_extract_cache_info);
  tcase_add_loop_test(tc, test_parse_cost, 0, (int)SY_ARRAY_LEN(VLLM_PAGES));
  suite_add_tcase(s, tc);

  tc = tcase_create("scraper");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_scraper_lifecycle);
  tcase_add_test(tc, test_scraper_failures);
  tcase_add_test(tc, test_scraper_error_kinds);
  tcase_add_test(tc, test_scraper_targets_and_engines);
  tcase_add_test(tc, test_scraper_set_from_callback);
  suite_add_tcase(s, tc);

  tc = tcase_create("load"); /* CK_RUN_CASE=load SY_SCRAPE_LOAD_SECONDS=10 for the report */
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_scraper_load);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
