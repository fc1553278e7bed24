/* Unit tests for lib/metrics: exact rendering (labels, escaping, cumulative
 * histogram buckets, float spelling), lock-free concurrent updates, the
 * child cap, collector ordering, upstream bucket lists, process metrics and
 * (when hack/promcheck.sh has built it) validation of a full page by
 * Prometheus' own text parser + promlint.
 *
 *   test_metrics               the Check suite
 *   test_metrics --promcheck   only the promcheck validation; exit 77 (skip)
 *                              when the promcheck binary is missing */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"
#include "metrics.h"
#include "test_support.h"

static char *render(sy_metrics_registry_t *reg, int *rc_out) {
  static sy_buf_t b;
  sy_buf_cleanup(&b);
  sy_buf_init(&b, 16u << 20);
  int rc = sy_metrics_render(reg, &b);
  if (rc_out)
    *rc_out = rc;
  else
    ck_assert_int_eq(rc, 0);
  return b.data ? b.data : (char *)"";
}

/* ------------------------------------------------------------ rendering */

START_TEST(test_render_exact) {
  sy_metrics_registry_t *reg = sy_metrics_registry_new();
  ck_assert_ptr_nonnull(reg);
  sy_metric_family_t *req, *up, *lat, *e2e, *empty;
  const char *ml[] = {"model_name", "target_model_name"};
  const char *m[] = {"m"};
  const double lb[] = {0.5, 1, 2.5, INFINITY}; /* trailing +Inf is dropped */
  const double eb[] = {0.0001, 1e6};
  ck_assert_int_eq(sy_metrics_counter_new(reg, "req_total", SY_METRICS_ALPHA "Requests.", ml, 2, &req), 0);
  ck_assert_int_eq(sy_metrics_gauge_new(reg, "up", "Line1\nback\\slash \"q\"", NULL, 0, &up), 0);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "lat_seconds", "Latency.", m, 1, lb, 4, &lat), 0);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "e2e_seconds", "E2E.", NULL, 0, eb, 2, &e2e), 0);
  ck_assert_int_eq(sy_metrics_gauge_new(reg, "empty", "No children.", m, 1, &empty), 0);

  sy_counter_add(sy_counter_with(req, (const char *[]){"b", "x"}), 2);
  sy_counter_add(sy_counter_with(req, (const char *[]){"a", "y"}), 1.5);
  sy_counter_inc(sy_counter_with(req, (const char *[]){"a", "q\"u\\o\nte"}));
  sy_counter_add(sy_counter_with(req, (const char *[]){"a", "y"}), -5); /* ignored */
  sy_counter_add(sy_counter_with(req, (const char *[]){"a", "y"}), NAN); /* ignored */
  sy_gauge_set(sy_gauge_with(up, NULL), 3);
  sy_gauge_add(sy_gauge_with(up, NULL), -2);
  sy_metric_child_t *h = sy_histogram_with(lat, (const char *[]){"m1"});
  sy_histogram_observe(h, 0.25);
  sy_histogram_observe(h, 0.5); /* le is inclusive */
  sy_histogram_observe(h, 1.75);
  sy_histogram_observe(h, 9);
  ck_assert_uint_eq(sy_metric_child_count(h), 4);
  ck_assert(sy_metric_child_sum(h) == 11.5);

  const char *want =
      "# HELP req_total [ALPHA] Requests.\n"
      "# TYPE req_total counter\n"
      "req_total{model_name=\"a\",target_model_name=\"q\\\"u\\\\o\\nte\"} 1\n"
      "req_total{model_name=\"a\",target_model_name=\"y\"} 1.5\n"
      "req_total{model_name=\"b\",target_model_name=\"x\"} 2\n"
      "# HELP up Line1\\nback\\\\slash \"q\"\n"
      "# TYPE up gauge\n"
      "up 1\n"
      "# HELP lat_seconds Latency.\n"
      "# TYPE lat_seconds histogram\n"
      "lat_seconds_bucket{m=\"m1\",le=\"0.5\"} 2\n"
      "lat_seconds_bucket{m=\"m1\",le=\"1\"} 2\n"
      "lat_seconds_bucket{m=\"m1\",le=\"2.5\"} 3\n"
      "lat_seconds_bucket{m=\"m1\",le=\"+Inf\"} 4\n"
      "lat_seconds_sum{m=\"m1\"} 11.5\n"
      "lat_seconds_count{m=\"m1\"} 4\n"
      "# HELP e2e_seconds E2E.\n"
      "# TYPE e2e_seconds histogram\n"
      "e2e_seconds_bucket{le=\"0.0001\"} 0\n"
      "e2e_seconds_bucket{le=\"1e+06\"} 0\n"
      "e2e_seconds_bucket{le=\"+Inf\"} 0\n"
      "e2e_seconds_sum 0\n"
      "e2e_seconds_count 0\n";
  ck_assert_str_eq(render(reg, NULL), want);
  /* rendering twice gives the same page; render appends */
  ck_assert_str_eq(render(reg, NULL), want);
  sy_metrics_registry_free(reg);
}
END_TEST

START_TEST(test_format_double) {
  static const struct {
    double v;
    const char *s;
  } cases[] = {
      {0.005, "0.005"},       {3600, "3600"},       {1048576, "1.048576e+06"},
      {65536, "65536"},       {123456, "123456"},   {1e6, "1e+06"},
      {0.0001, "0.0001"},     {0.00001, "1e-05"},   {1.25, "1.25"},
      {-2.5, "-2.5"},         {0, "0"},             {-0.0, "0"},
      {0.1 + 0.2, "0.30000000000000004"},           {1e21, "1e+21"},
      {1073741824, "1.073741824e+09"},              {32778, "32778"},
      {5e-324, "5e-324"},     {1.7976931348623157e308, "1.7976931348623157e+308"},
      {NAN, "NaN"},           {INFINITY, "+Inf"},   {-INFINITY, "-Inf"},
  };
  char buf[32];
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++)
    ck_assert_str_eq(sy_metrics_format_double(cases[i].v, buf), cases[i].s);
}
END_TEST

/* ---------------------------------------------------------- concurrency */

typedef struct {
  sy_metric_family_t *c, *g, *h;
  int id;
} worker_arg_t;

#define N_THREADS 4
#define N_ITERS 100000

static void *worker(void *p) {
  worker_arg_t *a = p;
  sy_metric_child_t *cached = sy_counter_with(a->c, (const char *[]){"shared"});
  sy_metric_child_t *g = sy_gauge_with(a->g, NULL);
  sy_metric_child_t *h = sy_histogram_with(a->h, NULL);
  for (int i = 0; i < N_ITERS; i++) {
    sy_counter_add(cached, 1);
    /* a fresh lookup each time for half the adds: lookup + create race */
    sy_counter_add(sy_counter_with(a->c, (const char *[]){(i & 1) ? "odd" : "even"}), 0.5);
    sy_gauge_add(g, (i & 1) ? 2 : -1);
    sy_histogram_observe(h, (i & 1) ? 0.5 : 2);
  }
  return NULL;
}

START_TEST(test_concurrent_exact) {
  sy_metrics_registry_t *reg = sy_metrics_registry_new();
  worker_arg_t arg = {0};
  const char *k[] = {"k"};
  const double b[] = {1, 10};
  ck_assert_int_eq(sy_metrics_counter_new(reg, "c_total", "c", k, 1, &arg.c), 0);
  ck_assert_int_eq(sy_metrics_gauge_new(reg, "g", "g", NULL, 0, &arg.g), 0);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "h", "h", NULL, 0, b, 2, &arg.h), 0);
  pthread_t t[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) ck_assert_int_eq(pthread_create(&t[i], NULL, worker, &arg), 0);
  /* render concurrently with the updates: must not crash or tear */
  for (int i = 0; i < 20; i++) ck_assert_ptr_nonnull(strstr(render(reg, NULL), "# TYPE h histogram"));
  for (int i = 0; i < N_THREADS; i++) pthread_join(t[i], NULL);

  const double total = (double)N_THREADS * N_ITERS;
  ck_assert(sy_metric_child_value(sy_counter_with(arg.c, (const char *[]){"shared"})) == total);
  ck_assert(sy_metric_child_value(sy_counter_with(arg.c, (const char *[]){"odd"})) == total / 4);
  ck_assert(sy_metric_child_value(sy_counter_with(arg.c, (const char *[]){"even"})) == total / 4);
  ck_assert_uint_eq(sy_metrics_family_children(arg.c), 3);
  ck_assert(sy_metric_child_value(sy_gauge_with(arg.g, NULL)) == total / 2);
  sy_metric_child_t *h = sy_histogram_with(arg.h, NULL);
  ck_assert_uint_eq(sy_metric_child_count(h), (uint64_t)total);
  ck_assert(sy_metric_child_sum(h) == total / 2 * 0.5 + total / 2 * 2);
  const char *page = render(reg, NULL);
  ck_assert_ptr_nonnull(strstr(page, "c_total{k=\"shared\"} 400000\n"));
  ck_assert_ptr_nonnull(strstr(page, "h_bucket{le=\"1\"} 200000\n"));
  ck_assert_ptr_nonnull(strstr(page, "h_bucket{le=\"10\"} 400000\n"));
  ck_assert_ptr_nonnull(strstr(page, "h_bucket{le=\"+Inf\"} 400000\n"));
  ck_assert_ptr_nonnull(strstr(page, "h_sum 500000\nh_count 400000\n"));
  ck_assert_ptr_nonnull(strstr(page, "\ng 200000\n"));
  sy_metrics_registry_free(reg);
}
END_TEST

/* ------------------------------------------------------------- the cap */

START_TEST(test_child_cap_overflow) {
  sy_metrics_registry_t *reg = sy_metrics_registry_new();
  sy_metric_family_t *f, *def;
  const char *l[] = {"pod", "port"};
  ck_assert_int_eq(sy_metrics_counter_new(reg, "x_total", "x", l, 2, &f), 0);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "y_total", "y", l, 2, &def), 0);
  sy_metrics_family_set_max_children(f, 3);
  sy_metric_child_t *c[6];
  char name[16];
  for (int i = 0; i < 6; i++) {
    snprintf(name, sizeof(name), "p%d", i);
    c[i] = sy_counter_with(f, (const char *[]){name, "80"});
    ck_assert_ptr_nonnull(c[i]);
    sy_counter_inc(c[i]);
  }
  ck_assert_ptr_ne(c[0], c[1]);
  ck_assert_ptr_ne(c[1], c[2]);
  ck_assert_ptr_ne(c[2], c[3]);
  ck_assert_ptr_eq(c[3], c[4]); /* the shared overflow child */
  ck_assert_ptr_eq(c[4], c[5]);
  ck_assert_uint_eq(sy_metrics_family_children(f), 3);
  ck_assert_uint_eq(sy_metrics_family_overflows(f), 3);
  /* existing children are still found, and are stable */
  ck_assert_ptr_eq(sy_counter_with(f, (const char *[]){"p1", "80"}), c[1]);
  /* the literal overflow values name the same child, never a duplicate */
  ck_assert_ptr_eq(sy_counter_with(f, (const char *[]){"_overflow", "_overflow"}), c[3]);
  const char *page = render(reg, NULL);
  ck_assert_ptr_nonnull(strstr(page, "x_total{pod=\"_overflow\",port=\"_overflow\"} 3\n"));
  ck_assert_ptr_nonnull(strstr(page, "x_total{pod=\"p2\",port=\"80\"} 1\n"));
  ck_assert_ptr_null(strstr(page, "p3"));

  /* the default cap is 10,000: growth stops there */
  for (int i = 0; i < SY_METRICS_DEFAULT_MAX_CHILDREN + 50; i++) {
    snprintf(name, sizeof(name), "%d", i);
    sy_counter_inc(sy_counter_with(def, (const char *[]){name, "1"}));
  }
  ck_assert_uint_eq(sy_metrics_family_children(def), SY_METRICS_DEFAULT_MAX_CHILDREN);
  ck_assert_uint_eq(sy_metrics_family_overflows(def), 50);
  ck_assert_ptr_nonnull(strstr(render(reg, NULL), "y_total{pod=\"_overflow\",port=\"_overflow\"} 50\n"));

  /* over-long values are truncated (bounded memory), at a UTF-8 boundary */
  char big[SY_METRICS_MAX_VALUE_LEN + 10];
  memset(big, 'a', sizeof(big));
  big[SY_METRICS_MAX_VALUE_LEN - 1] = (char)0xc3; /* 2-byte sequence across the limit */
  big[SY_METRICS_MAX_VALUE_LEN] = (char)0xa9;
  big[sizeof(big) - 1] = '\0';
  sy_metric_family_t *z;
  ck_assert_int_eq(sy_metrics_gauge_new(reg, "z", "z", l, 1, &z), 0);
  sy_gauge_set(sy_gauge_with(z, (const char *[]){big}), 1);
  page = render(reg, NULL);
  const char *p = strstr(page, "z{pod=\"");
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_eq(strchr(p + 7, '"'), p + 7 + SY_METRICS_MAX_VALUE_LEN - 1);
  sy_metrics_registry_free(reg);
}
END_TEST

/* ------------------------------------------------------------ collectors */

static void collect_pools(sy_metrics_writer_t *w, void *ctx) {
  int *calls = ctx;
  (*calls)++;
  const char *n[] = {"name"};
  const char *pn[] = {"name", "model_server_pod"};
  ck_assert_int_eq(sy_metrics_write_gauge(w, "inference_pool_ready_pods", "[ALPHA] Ready.", n,
                                          (const char *[]){"pool-a"}, 1, 2), 0);
  ck_assert_int_eq(sy_metrics_write_gauge(w, "inference_pool_ready_pods", "[ALPHA] Ready.", n,
                                          (const char *[]){"pool\"b"}, 1, 0), 0);
  ck_assert_int_eq(sy_metrics_write_gauge(w, "inference_pool_per_pod_queue_size", "[ALPHA] Queue.",
                                          pn, (const char *[]){"pool-a", "p-rank-0"}, 2, 7), 0);
}

static void collect_bad(sy_metrics_writer_t *w, void *ctx) {
  SY_UNUSED(ctx);
  /* repeats a registered family, an earlier collector family, bad names */
  ck_assert_int_eq(sy_metrics_write_gauge(w, "first_total", "x", NULL, NULL, 0, 1), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_write_gauge(w, "first_total_sum", "x", NULL, NULL, 0, 1), 0);
  ck_assert_int_eq(sy_metrics_write_gauge(w, "inference_pool_ready_pods", "x", NULL, NULL, 0, 1),
                   SY_EINVAL);
  ck_assert_int_eq(sy_metrics_write_gauge(w, "1bad", "x", NULL, NULL, 0, 1), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_write_counter(w, "ok_total", "x", (const char *[]){"__x"},
                                            (const char *[]){"v"}, 1, 1), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_write_counter(w, "ok_total", "x", (const char *[]){"a"},
                                            (const char *[]){"v"}, 1, 1), 0);
}

START_TEST(test_collector_order) {
  sy_metrics_registry_t *reg = sy_metrics_registry_new();
  sy_metric_family_t *first, *last;
  int calls = 0;
  ck_assert_int_eq(sy_metrics_counter_new(reg, "first_total", "First.", NULL, 0, &first), 0);
  ck_assert_int_eq(sy_metrics_register_collector(reg, collect_pools, &calls), 0);
  ck_assert_int_eq(sy_metrics_gauge_new(reg, "last", "Last.", NULL, 0, &last), 0);
  ck_assert_int_eq(sy_metrics_register_collector(reg, NULL, NULL), SY_EINVAL);
  sy_counter_add(sy_counter_with(first, NULL), 1e6);
  sy_gauge_set(sy_gauge_with(last, NULL), NAN);
  const char *want =
      "# HELP first_total First.\n"
      "# TYPE first_total counter\n"
      "first_total 1e+06\n"
      "# HELP inference_pool_ready_pods [ALPHA] Ready.\n"
      "# TYPE inference_pool_ready_pods gauge\n"
      "inference_pool_ready_pods{name=\"pool-a\"} 2\n"
      "inference_pool_ready_pods{name=\"pool\\\"b\"} 0\n"
      "# HELP inference_pool_per_pod_queue_size [ALPHA] Queue.\n"
      "# TYPE inference_pool_per_pod_queue_size gauge\n"
      "inference_pool_per_pod_queue_size{name=\"pool-a\",model_server_pod=\"p-rank-0\"} 7\n"
      "# HELP last Last.\n"
      "# TYPE last gauge\n"
      "last NaN\n";
  ck_assert_str_eq(render(reg, NULL), want);
  ck_assert_int_eq(calls, 1);

  /* a misbehaving collector: its bad samples are dropped, the page stays
   * valid, and render reports SY_EINVAL */
  ck_assert_int_eq(sy_metrics_register_collector(reg, collect_bad, NULL), 0);
  int rc;
  const char *page = render(reg, &rc);
  ck_assert_int_eq(rc, SY_EINVAL);
  ck_assert_ptr_nonnull(strstr(page, want));
  ck_assert_ptr_nonnull(strstr(page, "# TYPE first_total_sum gauge\nfirst_total_sum 1\n"));
  ck_assert_ptr_nonnull(strstr(page, "# TYPE ok_total counter\nok_total{a=\"v\"} 1\n"));
  ck_assert_ptr_null(strstr(page, "1bad"));
  ck_assert_ptr_null(strstr(page, "__x"));
  ck_assert_int_eq(calls, 2);

  /* a full buffer is reported, not overrun */
  sy_buf_t small;
  sy_buf_init(&small, 64);
  ck_assert_int_eq(sy_metrics_render(reg, &small), SY_ETOOBIG);
  ck_assert_uint_le(small.len, 64);
  sy_buf_cleanup(&small);
  sy_metrics_registry_free(reg);
}
END_TEST

/* --------------------------------------------------------- registration */

START_TEST(test_registration_rules) {
  sy_metrics_registry_t *reg = sy_metrics_registry_new();
  sy_metric_family_t *f = NULL, *h = NULL;
  const double b[] = {1, 2};
  const double bad_b[] = {1, 1};
  const double nan_b[] = {1, NAN};
  const char *seven[] = {"a", "b", "c", "d", "e", "f", "g"};
  ck_assert_int_eq(sy_metrics_counter_new(reg, "ok:name_1", "", NULL, 0, &f), 0);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "ok:name_1", "", NULL, 0, &f), SY_EINVAL);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "9x", "", NULL, 0, &f), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "a-b", "", NULL, 0, &f), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "", "", NULL, 0, &f), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "l1", "", (const char *[]){"a:b"}, 1, &f), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "l2", "", (const char *[]){"__a"}, 1, &f), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "l3", "", (const char *[]){"a", "a"}, 2, &f), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "l4", "", seven, 7, &f), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "l5", "", seven, 6, &f), 0);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "h1", "", (const char *[]){"le"}, 1, b, 2, &h), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "h2", "", NULL, 0, bad_b, 2, &h), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "h3", "", NULL, 0, nan_b, 2, &h), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "h4", "", NULL, 0, b, 0, &h), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "h5", "", NULL, 0, b, 2, &h), 0);
  /* series-name clashes with a histogram's _bucket/_sum/_count, both ways */
  ck_assert_int_eq(sy_metrics_gauge_new(reg, "h5_count", "", NULL, 0, &f), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_gauge_new(reg, "h5_bucket", "", NULL, 0, &f), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_gauge_new(reg, "h6_sum", "", NULL, 0, &f), 0);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "h6", "", NULL, 0, b, 2, &h), SY_EINVAL);
  /* the kind accessors and NULL children */
  ck_assert_ptr_nonnull(sy_gauge_with(f, NULL));
  ck_assert_ptr_null(sy_counter_with(f, NULL));
  ck_assert_ptr_null(sy_histogram_with(f, NULL));
  ck_assert_ptr_null(sy_counter_with(NULL, NULL));
  sy_counter_add(NULL, 1);
  sy_gauge_set(NULL, 1);
  sy_histogram_observe(NULL, 1);
  sy_histogram_observe(sy_gauge_with(f, NULL), 1); /* wrong kind: no-op */
  ck_assert(sy_metric_child_value(sy_gauge_with(f, NULL)) == 0);
  sy_metrics_registry_free(reg);
  sy_metrics_registry_free(NULL);
}
END_TEST

/* -------------------------------------------------------------- buckets */

static void assert_list(const sy_metrics_buckets_t *b, const double *want, size_t n) {
  ck_assert_uint_eq(b->n, n);
  for (size_t i = 0; i < n; i++) ck_assert_msg(b->v[i] == want[i], "bucket %zu: %g != %g", i, b->v[i], want[i]);
}

START_TEST(test_bucket_lists) {
  static const double dur[] = {0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2,
                               3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60, 120, 180, 240, 300, 360,
                               480, 600, 900, 1200, 1800, 2700, 3600};
  static const double e2e[] = {0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1};
  static const double ratio[] = {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1};
  static const double hitb[] = {0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
  static const double resp[] = {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536};
  static const double outt[] = {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
  static const double ntpot[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
  assert_list(&sy_metrics_buckets_request_duration, dur, 35);
  assert_list(&sy_metrics_buckets_scheduler_e2e, e2e, 10);
  assert_list(&sy_metrics_buckets_plugin_duration, e2e, 10);
  assert_list(&sy_metrics_buckets_prefix_hit_ratio, ratio, 11);
  assert_list(&sy_metrics_buckets_prefix_hit_bytes, hitb, 14);
  assert_list(&sy_metrics_buckets_response_sizes, resp, 15);
  assert_list(&sy_metrics_buckets_output_tokens, outt, 12);
  assert_list(&sy_metrics_buckets_ntpot, ntpot, 13);
  ck_assert_uint_eq(sy_metrics_buckets_flow_control_queue.n, 16);

  double ex[25];
  ck_assert_int_eq(sy_metrics_buckets_exponential(64, 2, 25, ex), 0);
  assert_list(&sy_metrics_buckets_request_sizes, ex, 25);
  ck_assert(ex[24] == 1073741824.0); /* 1 GiB */
  /* tokens = 1, then 8..2^20 with upstream's 32778 */
  ck_assert_uint_eq(sy_metrics_buckets_tokens.n, 19);
  ck_assert(sy_metrics_buckets_tokens.v[0] == 1 && sy_metrics_buckets_tokens.v[13] == 32778 &&
            sy_metrics_buckets_tokens.v[18] == 1048576);
  double lin[4];
  ck_assert_int_eq(sy_metrics_buckets_linear(-1, 0.5, 4, lin), 0);
  ck_assert(lin[0] == -1 && lin[1] == -0.5 && lin[2] == 0 && lin[3] == 0.5);
  ck_assert_int_eq(sy_metrics_buckets_linear(0, 0, 4, lin), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_buckets_exponential(0, 2, 4, lin), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_buckets_exponential(1, 1, 4, lin), SY_EINVAL);
  ck_assert_int_eq(sy_metrics_buckets_exponential(1, 2, 0, lin), SY_EINVAL);

  /* every upstream list is accepted by the histogram constructor */
  sy_metrics_registry_t *reg = sy_metrics_registry_new();
  sy_metric_family_t *h;
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "d", "", NULL, 0, sy_metrics_buckets_request_duration.v,
                                            sy_metrics_buckets_request_duration.n, &h), 0);
  const char *page = render(reg, NULL);
  ck_assert_ptr_nonnull(strstr(page, "d_bucket{le=\"0.005\"} 0\nd_bucket{le=\"0.025\"} 0\n"));
  ck_assert_ptr_nonnull(strstr(page, "d_bucket{le=\"2700\"} 0\nd_bucket{le=\"3600\"} 0\nd_bucket{le=\"+Inf\"} 0\n"));
  sy_metrics_registry_free(reg);
}
END_TEST

/* ------------------------------------------------------------- process */

static double sample_value(const char *page, const char *name) {
  char key[128];
  snprintf(key, sizeof(key), "\n%s ", name);
  const char *p = strstr(page, key);
  ck_assert_msg(p != NULL, "missing %s", name);
  return strtod(p + strlen(key), NULL);
}

START_TEST(test_process_metrics) {
  sy_metrics_registry_t *reg = sy_metrics_registry_new();
  ck_assert_int_eq(sy_metrics_register_process_collector(reg), 0);
  volatile double spin = 0;
  for (int i = 0; i < 3000000; i++) spin += i; /* some CPU time */
  ck_assert(spin > 0);
  const char *page = render(reg, NULL);
  ck_assert_ptr_nonnull(strstr(page, "# TYPE process_cpu_seconds_total counter\n"));
  ck_assert_ptr_nonnull(strstr(page, "# TYPE process_open_fds gauge\n"));
  double cpu = sample_value(page, "process_cpu_seconds_total");
  double rss = sample_value(page, "process_resident_memory_bytes");
  double vsz = sample_value(page, "process_virtual_memory_bytes");
  double fds = sample_value(page, "process_open_fds");
  double maxfds = sample_value(page, "process_max_fds");
  double start = sample_value(page, "process_start_time_seconds");
  double now = sy_wall_time();
  ck_assert(cpu >= 0 && cpu < 1e6);
  ck_assert(rss > 1 << 20 && rss < 64.0 * (1 << 30));
  ck_assert(vsz >= rss);
  ck_assert(fds >= 3 && (maxfds < 0 || fds <= maxfds));
  ck_assert_msg(start <= now + 1 && start > now - 86400, "start %f now %f", start, now);
  /* open_fds tracks reality */
  int extra = dup(0);
  ck_assert_int_ge(extra, 0);
  ck_assert(sample_value(render(reg, NULL), "process_open_fds") == fds + 1);
  close(extra);
  sy_metrics_registry_free(reg);
}
END_TEST

/* ------------------------------------------------------------ promcheck */

static const char *promcheck_path(void) {
  static char path[4096];
  const char *env = getenv("SY_PROMCHECK");
  if (env && *env) return access(env, X_OK) == 0 ? env : NULL;
  /* SY_TEST_DATA is <src>/test/data */
  snprintf(path, sizeof(path), "%s/../../.cache/tools/promcheck", sy_test_data_path(""));
  return access(path, X_OK) == 0 ? path : NULL;
}

/* Runs promcheck over `page`; returns its exit status. */
static int run_promcheck(const char *bin, const char *page) {
  const char *file = sy_test_write_temp("page.txt", page);
  char cmd[8400];
  snprintf(cmd, sizeof(cmd), "'%s' < '%s'", bin, file);
  int st = system(cmd);
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", file);
  unlink(file);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = '\0';
    rmdir(dir);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A page shaped like the real EPP's: upstream families (names we must keep
 * even where promlint objects), a pool collector, process metrics, escaping,
 * the overflow child and special values. */
static char *full_page(sy_metrics_registry_t *reg) {
  const char *mt[] = {"model_name", "target_model_name"};
  const char *err[] = {"model_name", "target_model_name", "error_code"};
  const char *plug[] = {"extension_point", "plugin_type", "plugin_name"};
  sy_metric_family_t *req, *errs, *dur, *sizes, *running, *e2e, *pd, *ratio, *info;
  ck_assert_int_eq(sy_metrics_counter_new(reg, "inference_objective_request_total",
                                          SY_METRICS_ALPHA "Counter of inference objective requests.", mt, 2, &req), 0);
  ck_assert_int_eq(sy_metrics_counter_new(reg, "inference_objective_request_error_total",
                                          SY_METRICS_ALPHA "Errors.", err, 3, &errs), 0);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "inference_objective_request_duration_seconds",
                                            SY_METRICS_ALPHA "Latency.", mt, 2, sy_metrics_buckets_request_duration.v,
                                            sy_metrics_buckets_request_duration.n, &dur), 0);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "inference_objective_request_sizes",
                                            SY_METRICS_ALPHA "Sizes.", mt, 2, sy_metrics_buckets_request_sizes.v,
                                            sy_metrics_buckets_request_sizes.n, &sizes), 0);
  ck_assert_int_eq(sy_metrics_gauge_new(reg, "inference_objective_running_requests",
                                        SY_METRICS_ALPHA "Running.", mt, 1, &running), 0);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "inference_extension_scheduler_e2e_duration_seconds",
                                            SY_METRICS_ALPHA "E2E.", NULL, 0, sy_metrics_buckets_scheduler_e2e.v,
                                            sy_metrics_buckets_scheduler_e2e.n, &e2e), 0);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "inference_extension_plugin_duration_seconds",
                                            SY_METRICS_ALPHA "Plugins.", plug, 3, sy_metrics_buckets_plugin_duration.v,
                                            sy_metrics_buckets_plugin_duration.n, &pd), 0);
  ck_assert_int_eq(sy_metrics_histogram_new(reg, "inference_extension_prefix_indexer_hit_ratio",
                                            SY_METRICS_ALPHA "Ratio.", NULL, 0, sy_metrics_buckets_prefix_hit_ratio.v,
                                            sy_metrics_buckets_prefix_hit_ratio.n, &ratio), 0);
  ck_assert_int_eq(sy_metrics_gauge_new(reg, "inference_extension_info", SY_METRICS_ALPHA "Info.",
                                        (const char *[]){"commit", "build_ref"}, 2, &info), 0);
  static int calls_static;
  ck_assert_int_eq(sy_metrics_register_collector(reg, collect_pools, &calls_static), 0);
  ck_assert_int_eq(sy_metrics_register_process_collector(reg), 0);
  sy_metrics_family_set_max_children(req, 2);

  sy_counter_inc(sy_counter_with(req, (const char *[]){"m\"1\\", "t\n1"}));
  sy_counter_inc(sy_counter_with(req, (const char *[]){"m2", ""}));
  sy_counter_inc(sy_counter_with(req, (const char *[]){"m3", "t3"})); /* overflow */
  sy_counter_inc(sy_counter_with(errs, (const char *[]){"m", "t", "ResourceExhausted"}));
  sy_metric_child_t *d = sy_histogram_with(dur, (const char *[]){"m", "t"});
  for (int i = 0; i < 100; i++) sy_histogram_observe(d, i * 0.37);
  sy_histogram_observe(sy_histogram_with(sizes, (const char *[]){"m", "t"}), 2e9);
  sy_gauge_add(sy_gauge_with(running, (const char *[]){"m"}), -1);
  sy_histogram_observe(sy_histogram_with(e2e, NULL), 0.00015);
  sy_histogram_observe(sy_histogram_with(pd, (const char *[]){"Scorer", "queue-scorer", "q"}), 1e-5);
  sy_histogram_observe(sy_histogram_with(ratio, NULL), 0.3);
  sy_gauge_set(sy_gauge_with(info, (const char *[]){"abc123", "v0.1.0"}), 1);
  return render(reg, NULL);
}

START_TEST(test_promcheck_page) {
  const char *bin = promcheck_path();
  if (!bin) {
    fprintf(stderr, "test_promcheck_page: promcheck not built (hack/promcheck.sh); skipped\n");
    return;
  }
  sy_metrics_registry_t *reg = sy_metrics_registry_new();
  ck_assert_int_eq(run_promcheck(bin, full_page(reg)), 0);
  /* and promcheck can fail: a duplicate series and a non-cumulative bucket */
  ck_assert_int_eq(run_promcheck(bin, "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n"), 1);
  ck_assert_int_eq(run_promcheck(bin, "# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                                      "h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n"), 1);
  sy_metrics_registry_free(reg);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("render");
  tcase_add_test(tc, test_render_exact);
  tcase_add_test(tc, test_format_double);
  tcase_add_test(tc, test_collector_order);
  tcase_add_test(tc, test_registration_rules);
  tcase_add_test(tc, test_bucket_lists);
  suite_add_tcase(s, tc);
  tc = tcase_create("concurrency");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_concurrent_exact);
  tcase_add_test(tc, test_child_cap_overflow);
  suite_add_tcase(s, tc);
  tc = tcase_create("process");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_process_metrics);
  tcase_add_test(tc, test_promcheck_page);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--promcheck") == 0) {
    if (!promcheck_path()) {
      fprintf(stderr, "promcheck not built (run hack/promcheck.sh); skipping\n");
      return 77;
    }
    Suite *s = suite_create("metrics-promcheck");
    TCase *tc = tcase_create("promcheck");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_promcheck_page);
    suite_add_tcase(s, tc);
    return sy_test_run(s);
  }
  return sy_test_run(suite());
}
