/* Unit tests for the in-tree scheduler plugins (lib/scheduler/plugins/):
 * scores, kept sets and picks on small hand-built candidate sets, computed by
 * hand from the upstream formulas; parameter defaults and validation errors;
 * then a few whole-config runs through sy_sched_new_from_config +
 * sy_sched_schedule. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "datastore.h"
#include "plugins/plugins.h"
#include "scheduler.h"
#include "test_support.h"
#include "yaml.h"

#define NOW (1000ull * 1000000000ull) /* cycle time: t = 1000 s */
#define MS 1000000ull
#define MAXC 16

/* ------------------------------------------------------------- fixture */

typedef struct fx {
  sy_arena_t arena; /* strings */
  sy_arena_t cyc;   /* the cycle's arena */
  sy_endpoint_t eps[MAXC];
  const char *lk[MAXC][4], *lv[MAXC][4];
  sy_sched_cand_t cands[MAXC];
  sy_sched_cand_t *v[MAXC];
  size_t n;
  sy_sched_header_t hdrs[4];
  sy_sched_request_t req;
  sy_sched_result_t out;
  sy_sched_cycle_t c;
  double scores[MAXC];
} fx_t;

static fx_t F;

static void fx_reset(void) {
  sy_arena_cleanup(&F.arena);
  sy_arena_cleanup(&F.cyc);
  memset(&F, 0, sizeof(F));
  sy_arena_init(&F.arena, 64 * 1024, 0);
  sy_arena_init(&F.cyc, 64 * 1024, 0);
  F.req.request_id = "req-1";
  F.req.model = "base-model";
  F.req.headers = F.hdrs;
  F.c.arena = &F.cyc;
  F.c.req = &F.req;
  F.c.now_ns = NOW;
  F.c.cands = F.cands;
  F.c.out = &F.out;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof(buf), f, ap);
  va_end(ap);
  return sy_arena_strndup(&F.arena, buf, strlen(buf));
}

/* Adds endpoint "<pod>-rank-0" at ip:port with fresh metrics (updated 10 ms
 * before the cycle); returns its candidate. */
static sy_sched_cand_t *add_ip(const char *pod, const char *ip, int port) {
  ck_assert_uint_lt(F.n, MAXC);
  size_t i = F.n++;
  sy_endpoint_t *e = &F.eps[i];
  e->pod_name = pod;
  e->namespace_name = "default";
  e->name = fmt("%s-rank-0", pod);
  e->ip = ip;
  e->port = port;
  e->address = strchr(ip, ':') ? fmt("[%s]:%d", ip, port) : fmt("%s:%d", ip, port);
  e->label_keys = F.lk[i];
  e->label_values = F.lv[i];
  sy_sched_cand_t *c = &F.cands[i];
  c->ep = e;
  c->m.update_ns = NOW - 10 * MS;
  c->m.has_waiting = c->m.has_running = c->m.has_kv = true;
  c->m.max_lora = -1;
  F.v[i] = c;
  F.c.n_cands = F.n;
  return c;
}

static sy_sched_cand_t *add(const char *pod) {
  return add_ip(pod, fmt("10.0.0.%zu", F.n + 1), 8000);
}

static void label(sy_sched_cand_t *c, const char *k, const char *v) {
  size_t i = (size_t)(c - F.cands);
  sy_endpoint_t *e = &F.eps[i];
  ck_assert_uint_lt(e->n_labels, 4);
  F.lk[i][e->n_labels] = k;
  F.lv[i][e->n_labels] = v;
  e->n_labels++;
}

static void header(const char *k, const char *v) {
  F.hdrs[F.req.n_headers].key = k;
  F.hdrs[F.req.n_headers].value = v;
  F.req.n_headers++;
}

/* Resets the candidate view to every candidate, in order. */
static void view_all(void) {
  for (size_t i = 0; i < F.n; i++) F.v[i] = &F.cands[i];
}

/* ----------------------------------------------------- plugin creation */

/* Creates a plugin of type t from parameters written as YAML ("" = none).
 * The YAML tree is freed right after create, so a plugin keeping pointers
 * into it shows up under ASan. */
static int create(const sy_sched_plugin_type_t *t, const char *yaml, void **st, sy_sched_error_t *err) {
  sy_yaml_stream_t *s = NULL;
  const sy_yaml_node_t *params = NULL;
  if (yaml && *yaml) {
    sy_yaml_error_t ye;
    ck_assert_int_eq(sy_yaml_parse("params.yaml", yaml, strlen(yaml), NULL, &s, &ye), 0);
    params = s->docs[0].root;
  }
  sy_sched_plugin_args_t a = {.name = t->type, .params = params, .sched = NULL};
  memset(err, 0, sizeof(*err));
  *st = NULL;
  int rc = t->create(&a, st, err);
  sy_yaml_stream_free(s);
  return rc;
}

static void *mk(const sy_sched_plugin_type_t *t, const char *yaml) {
  void *st;
  sy_sched_error_t err;
  int rc = create(t, yaml, &st, &err);
  ck_assert_msg(rc == 0, "%s: create failed: %s", t->type, err.msg);
  return st;
}

static void rm(const sy_sched_plugin_type_t *t, void *st) {
  if (t->destroy) t->destroy(st);
}

/* Asserts that create fails with a message containing `needle`, located at
 * `line` (0: not checked). */
static void mk_fails(const sy_sched_plugin_type_t *t, const char *yaml, const char *needle, int line) {
  void *st;
  sy_sched_error_t err;
  int rc = create(t, yaml, &st, &err);
  ck_assert_msg(rc == SY_EINVAL, "%s: [%s] should fail, rc=%d", t->type, yaml, rc);
  ck_assert_msg(strstr(err.msg, needle) != NULL, "%s: [%s]: message \"%s\" lacks \"%s\"", t->type, yaml, err.msg,
                needle);
  if (line) ck_assert_int_eq(err.line, line);
}

static void score(const sy_sched_plugin_type_t *t, void *st) {
  for (size_t i = 0; i < F.n; i++) F.scores[i] = -1;
  t->score(st, &F.c, F.v, F.n, F.scores);
}

#define EPS 1e-9
#define ck_score(i, want) ck_assert_msg(fabs(F.scores[i] - (want)) < EPS, "score[%d] = %.12g, want %.12g", (int)(i), \
                                        F.scores[i], (double)(want))

/* ================================================================ scorers */

START_TEST(test_queue_scorer) {
  fx_reset();
  add("a")->m.waiting = 0;
  add("b")->m.waiting = 5;
  add("c")->m.waiting = 10;
  void *st = mk(&sy_plugin_queue_scorer, "");
  score(&sy_plugin_queue_scorer, st);
  ck_score(0, 1.0);
  ck_score(1, 0.5);
  ck_score(2, 0.0);
  /* all equal → 1.0 */
  F.cands[0].m.waiting = F.cands[1].m.waiting = F.cands[2].m.waiting = 3;
  score(&sy_plugin_queue_scorer, st);
  ck_score(0, 1.0);
  ck_score(2, 1.0);
  /* never scraped: unscored (0) and out of the min/max: {-, 2, 4} */
  F.cands[0].m.update_ns = 0;
  F.cands[0].m.waiting = 0;
  F.cands[1].m.waiting = 2;
  F.cands[2].m.waiting = 4;
  score(&sy_plugin_queue_scorer, st);
  ck_score(0, 0.0);
  ck_score(1, 1.0);
  ck_score(2, 0.0);
  /* a subset view: min/max over the candidates passed in only */
  F.v[0] = &F.cands[1];
  F.v[1] = &F.cands[2];
  F.n = 2;
  score(&sy_plugin_queue_scorer, st);
  ck_score(0, 1.0);
  ck_score(1, 0.0);
  mk_fails(&sy_plugin_queue_scorer, "foo: 1", "unknown parameter \"foo\"", 1);
}
END_TEST

START_TEST(test_kv_and_running_scorers) {
  fx_reset();
  sy_sched_cand_t *a = add("a"), *b = add("b"), *c = add("c");
  a->m.kv_usage = 0.25;
  b->m.kv_usage = 1.0;
  c->m.kv_usage = 0.6;
  void *st = mk(&sy_plugin_kv_cache_utilization_scorer, NULL);
  score(&sy_plugin_kv_cache_utilization_scorer, st);
  ck_score(0, 0.75);
  ck_score(1, 0.0);
  ck_score(2, 0.4);
  c->m.update_ns = 0; /* never scraped: unscored */
  score(&sy_plugin_kv_cache_utilization_scorer, st);
  ck_score(2, 0.0);

  a->m.running = 2;
  b->m.running = 6;
  c->m.running = 4;
  st = mk(&sy_plugin_running_requests_size_scorer, "");
  score(&sy_plugin_running_requests_size_scorer, st);
  ck_score(0, 1.0);
  ck_score(1, 0.0);
  ck_score(2, 0.5); /* running scorer uses every candidate, scraped or not */
  a->m.running = b->m.running = c->m.running = 7;
  score(&sy_plugin_running_requests_size_scorer, st);
  ck_score(1, 1.0);
  mk_fails(&sy_plugin_running_requests_size_scorer, "x: y", "unknown parameter \"x\"", 1);
}
END_TEST

static void set_loras(sy_sched_cand_t *c, int max, const char *running, const char *waiting) {
  c->m.max_lora = max;
  const char *lists[2] = {running, waiting};
  for (int w = 0; w < 2; w++) {
    int n = 0;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", lists[w]);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      (w ? c->m.waiting_loras : c->m.running_loras)[n++] = sy_lora_hash(t, strlen(t));
    }
    if (w) c->m.n_waiting_loras = n;
    else c->m.n_running_loras = n;
  }
}

START_TEST(test_lora_affinity_scorer) {
  fx_reset();
  F.req.model = "sql-lora";
  set_loras(add("active"), 2, "sql-lora,x", "");             /* active → 1.0 */
  set_loras(add("room"), 4, "x", "sql-lora");                /* 2 < 4: capacity (before waiting) → 0.8 */
  set_loras(add("waiting"), 2, "x", "sql-lora");             /* full, waiting → 0.6 */
  set_loras(add("full"), 2, "x,y", "");                      /* full, absent → 0 */
  set_loras(add("dups"), 3, "x,x,x", "y,y");                 /* distinct 1+1 < 3 → 0.8 */
  set_loras(add("unknown"), -1, "", "");                     /* max unknown → 0 */
  void *st = mk(&sy_plugin_lora_affinity_scorer, "");
  score(&sy_plugin_lora_affinity_scorer, st);
  ck_score(0, 1.0);
  ck_score(1, 0.8);
  ck_score(2, 0.6);
  ck_score(3, 0.0);
  ck_score(4, 0.8);
  ck_score(5, 0.0);
}
END_TEST

START_TEST(test_token_load_scorer) {
  fx_reset();
  add("a")->in_flight_tokens = 0;
  add("b")->in_flight_tokens = 2097152;
  add("c")->in_flight_tokens = 5000000;
  add("d")->in_flight_tokens = 25;
  void *st = mk(&sy_plugin_token_load_scorer, ""); /* default 4194304 */
  score(&sy_plugin_token_load_scorer, st);
  ck_score(0, 1.0);
  ck_score(1, 0.5);
  ck_score(2, 0.0);
  rm(&sy_plugin_token_load_scorer, st);
  st = mk(&sy_plugin_token_load_scorer, "queueThresholdTokens: 100\ninFlightLoadProducerName: ilp");
  score(&sy_plugin_token_load_scorer, st);
  ck_score(3, 0.75);
  ck_score(2, 0.0);
  rm(&sy_plugin_token_load_scorer, st);
  st = mk(&sy_plugin_token_load_scorer, "queueThresholdTokens: 0"); /* non-positive → default */
  score(&sy_plugin_token_load_scorer, st);
  ck_score(1, 0.5);
  rm(&sy_plugin_token_load_scorer, st);
  mk_fails(&sy_plugin_token_load_scorer, "queueThresholdTokens: \"100\"", "\"queueThresholdTokens\" must be an integer",
           1);
  mk_fails(&sy_plugin_token_load_scorer, "queueThresholdTokens: 1.5", "must be an integer", 1);
  mk_fails(&sy_plugin_token_load_scorer, "queueThresholdTokens: 5\nthreshold: 2", "unknown parameter \"threshold\"", 2);
  mk_fails(&sy_plugin_token_load_scorer, "[1, 2]", "parameters must be a mapping", 1);
}
END_TEST

START_TEST(test_active_request_scorer) {
  fx_reset();
  add("a")->in_flight = 0;
  add("b")->in_flight = 2;
  add("c")->in_flight = 4;
  void *st = mk(&sy_plugin_active_request_scorer, "");
  score(&sy_plugin_active_request_scorer, st);
  ck_score(0, 1.0);
  ck_score(1, 0.5); /* (4-2)/4 */
  ck_score(2, 0.0);
  rm(&sy_plugin_active_request_scorer, st);

  add("d")->in_flight = 3;
  st = mk(&sy_plugin_active_request_scorer, "idleThreshold: 2\nmaxBusyScore: 0.5");
  score(&sy_plugin_active_request_scorer, st);
  ck_score(0, 1.0);
  ck_score(1, 1.0);   /* 2 <= idleThreshold */
  ck_score(2, 0.0);   /* busiest */
  ck_score(3, 0.125); /* (4-3)/4 * 0.5 */
  rm(&sy_plugin_active_request_scorer, st);

  /* upstream falls back: maxBusyScore outside [0,1] → 1.0, idleThreshold < 0 → 0 */
  st = mk(&sy_plugin_active_request_scorer, "idleThreshold: -3\nmaxBusyScore: 7\nrequestTimeout: 2m");
  score(&sy_plugin_active_request_scorer, st);
  ck_score(0, 1.0);
  ck_score(1, 0.5);
  ck_score(3, 0.25);
  rm(&sy_plugin_active_request_scorer, st);

  /* all idle: maxCount 0 never divides */
  for (size_t i = 0; i < F.n; i++) F.cands[i].in_flight = 0;
  st = mk(&sy_plugin_active_request_scorer, NULL);
  score(&sy_plugin_active_request_scorer, st);
  ck_score(2, 1.0);
  rm(&sy_plugin_active_request_scorer, st);
  mk_fails(&sy_plugin_active_request_scorer, "maxBusyScore: high", "\"maxBusyScore\" must be a number", 1);
  mk_fails(&sy_plugin_active_request_scorer, "idleThreshold: true", "\"idleThreshold\" must be an integer", 1);
}
END_TEST

START_TEST(test_load_aware_scorer) {
  fx_reset();
  add("a")->m.waiting = 0;
  add("b")->m.waiting = 64;
  add("c")->m.waiting = 128;
  add("d")->m.waiting = 500;
  add("e")->m.waiting = 5;
  void *st = mk(&sy_plugin_load_aware_scorer, ""); /* threshold 128 */
  score(&sy_plugin_load_aware_scorer, st);
  ck_score(0, 0.5);
  ck_score(1, 0.25);
  ck_score(2, 0.0);
  ck_score(3, 0.0);
  ck_score(4, 0.5 * (1 - 5.0 / 128));
  rm(&sy_plugin_load_aware_scorer, st);
  st = mk(&sy_plugin_load_aware_scorer, "threshold: 10");
  score(&sy_plugin_load_aware_scorer, st);
  ck_score(4, 0.25);
  ck_score(1, 0.0);
  rm(&sy_plugin_load_aware_scorer, st);
  st = mk(&sy_plugin_load_aware_scorer, "threshold: -1"); /* non-positive → 128 */
  score(&sy_plugin_load_aware_scorer, st);
  ck_score(1, 0.25);
  rm(&sy_plugin_load_aware_scorer, st);
  mk_fails(&sy_plugin_load_aware_scorer, "threshold: 1.5", "\"threshold\" must be an integer", 1);
  mk_fails(&sy_plugin_load_aware_scorer, "config:\n  threshold: 1", "unknown parameter \"config\"", 1);
}
END_TEST

/* base64("default/b-rank-0") */
#define TOKEN_B "ZGVmYXVsdC9iLXJhbmstMA=="

START_TEST(test_session_affinity) {
  fx_reset();
  add("a");
  add("b");
  add("c");
  void *st = mk(&sy_plugin_session_affinity_scorer, "");
  score(&sy_plugin_session_affinity_scorer, st); /* no header: all 0 */
  ck_score(0, 0.0);
  ck_score(1, 0.0);
  header("x-session-token", TOKEN_B);
  score(&sy_plugin_session_affinity_scorer, st);
  ck_score(0, 0.0);
  ck_score(1, 1.0);
  ck_score(2, 0.0);
  F.hdrs[0].value = "b3RoZXIvYi1yYW5rLTA="; /* other/b-rank-0: wrong namespace */
  score(&sy_plugin_session_affinity_scorer, st);
  ck_score(1, 0.0);
  F.eps[1].namespace_name = NULL; /* no namespace known: the name part decides */
  score(&sy_plugin_session_affinity_scorer, st);
  ck_score(1, 1.0);
  F.eps[1].namespace_name = "default";
  F.hdrs[0].value = "not base64!";
  score(&sy_plugin_session_affinity_scorer, st);
  ck_score(1, 0.0);
  F.hdrs[0].value = "ZGVmYXVsdC9iLXJhbmstMA"; /* padding is mandatory (Go StdEncoding) */
  score(&sy_plugin_session_affinity_scorer, st);
  ck_score(1, 0.0);
  rm(&sy_plugin_session_affinity_scorer, st);

  /* a configured header name is trimmed and lower-cased */
  F.hdrs[0].key = "x-my-session";
  F.hdrs[0].value = TOKEN_B;
  st = mk(&sy_plugin_session_affinity_scorer,
          "strategy: encoded_endpoint_header\nencodedEndpointHeaderConfig:\n  header: \" X-My-Session \"\n"
          "profileName: prefill\nevictionTtlSeconds: 300");
  score(&sy_plugin_session_affinity_scorer, st);
  ck_score(1, 1.0);
  rm(&sy_plugin_session_affinity_scorer, st);
  st = mk(&sy_plugin_session_affinity_scorer, "headerName: x-my-session");
  score(&sy_plugin_session_affinity_scorer, st);
  ck_score(1, 1.0);
  rm(&sy_plugin_session_affinity_scorer, st);

  mk_fails(&sy_plugin_session_affinity_scorer, "strategy: session_id", "not supported", 1);
  mk_fails(&sy_plugin_session_affinity_scorer, "strategy: cookie", "unknown strategy", 1);
  mk_fails(&sy_plugin_session_affinity_scorer, "encodedEndpointHeaderConfig:\n  name: x", "unknown parameter "
           "\"encodedEndpointHeaderConfig.name\"", 2);
  mk_fails(&sy_plugin_session_affinity_scorer, "encodedEndpointHeaderConfig: x", "must be a mapping", 1);

  /* the filter: a hard pin that never empties the set */
  st = mk(&sy_plugin_session_affinity_filter, "headerName: X-My-Session");
  ck_assert_uint_eq(sy_plugin_session_affinity_filter.filter(st, &F.c, F.v, 3), 1);
  ck_assert_ptr_eq(F.v[0], &F.cands[1]);
  view_all();
  F.hdrs[0].value = "ZGVmYXVsdC96LXJhbmstMA=="; /* default/z-rank-0: not a candidate */
  ck_assert_uint_eq(sy_plugin_session_affinity_filter.filter(st, &F.c, F.v, 3), 3);
  F.req.n_headers = 0;
  ck_assert_uint_eq(sy_plugin_session_affinity_filter.filter(st, &F.c, F.v, 3), 3);
  ck_assert_ptr_eq(F.v[1], &F.cands[1]);
  rm(&sy_plugin_session_affinity_filter, st);
}
END_TEST

/* ================================================================ filters */

static size_t filter(const sy_sched_plugin_type_t *t, void *st) {
  view_all();
  return t->filter(st, &F.c, F.v, F.n);
}

/* Asserts the kept set, by pod name, in order: "a,c". */
static void ck_kept(size_t k, const char *want) {
  char got[256] = "";
  for (size_t i = 0; i < k; i++) {
    if (i) strcat(got, ",");
    strcat(got, F.v[i]->ep->pod_name);
  }
  ck_assert_str_eq(got, want);
}

START_TEST(test_role_filters) {
  fx_reset();
  const char *roles[] = {"decode", "prefill", "both", "prefill-decode", "encode-prefill-decode", "encode",
                         "encode-prefill", NULL};
  for (int i = 0; roles[i]; i++) label(add(roles[i]), "llm-d.ai/role", roles[i]);
  add("none");
  label(add("other"), "app", "x");
  void *st = mk(&sy_plugin_decode_filter, "");
  ck_kept(filter(&sy_plugin_decode_filter, st), "decode,both,prefill-decode,encode-prefill-decode,none,other");
  rm(&sy_plugin_decode_filter, st);
  st = mk(&sy_plugin_prefill_filter, "");
  ck_kept(filter(&sy_plugin_prefill_filter, st), "prefill,both,prefill-decode,encode-prefill-decode,encode-prefill");
  rm(&sy_plugin_prefill_filter, st);
  st = mk(&sy_plugin_encode_filter, "");
  ck_kept(filter(&sy_plugin_encode_filter, st), "encode-prefill-decode,encode,encode-prefill");
  rm(&sy_plugin_encode_filter, st);
  mk_fails(&sy_plugin_decode_filter, "role: decode", "unknown parameter \"role\"", 1);
}
END_TEST

START_TEST(test_label_selector_filter) {
  fx_reset();
  sy_sched_cand_t *a = add("a"), *b = add("b"), *c = add("c"), *d = add("d");
  label(a, "app", "vllm");
  label(a, "tier", "gold");
  label(b, "app", "vllm");
  label(b, "tier", "silver");
  label(c, "app", "sglang");
  label(d, "app", "vllm");
  label(d, "canary", "true");
  void *st = mk(&sy_plugin_label_selector_filter, "matchLabels:\n  app: vllm");
  ck_kept(filter(&sy_plugin_label_selector_filter, st), "a,b,d");
  rm(&sy_plugin_label_selector_filter, st);
  st = mk(&sy_plugin_label_selector_filter, "matchLabels: {app: vllm}\n"
                                            "matchExpressions:\n"
                                            /* a missing label passes NotIn */
                                            "- {key: tier, operator: NotIn, values: [silver]}\n"
                                            "- {key: canary, operator: DoesNotExist}\n");
  ck_kept(filter(&sy_plugin_label_selector_filter, st), "a");
  rm(&sy_plugin_label_selector_filter, st);
  st = mk(&sy_plugin_label_selector_filter, "matchExpressions:\n"
                                            "- {key: tier, operator: In, values: [gold, silver]}\n"
                                            "- {key: app, operator: Exists}\n");
  ck_kept(filter(&sy_plugin_label_selector_filter, st), "a,b");
  rm(&sy_plugin_label_selector_filter, st);
  st = mk(&sy_plugin_label_selector_filter, ""); /* empty selector: everything */
  ck_kept(filter(&sy_plugin_label_selector_filter, st), "a,b,c,d");
  rm(&sy_plugin_label_selector_filter, st);
  st = mk(&sy_plugin_by_label_selector, "matchLabels: {app: sglang}"); /* deprecated name */
  ck_kept(filter(&sy_plugin_by_label_selector, st), "c");
  rm(&sy_plugin_by_label_selector, st);

  mk_fails(&sy_plugin_label_selector_filter, "matchExpressions:\n- {key: a, operator: In}", "can't be empty", 2);
  mk_fails(&sy_plugin_label_selector_filter, "matchExpressions:\n- {key: a, operator: Exists, values: [x]}",
           "must be empty", 2);
  mk_fails(&sy_plugin_label_selector_filter, "matchExpressions:\n- {key: a, operator: Gt, values: [1]}",
           "not a valid label selector operator", 2);
  mk_fails(&sy_plugin_label_selector_filter, "matchExpressions:\n- {key: a, op: In}", "matchExpressions[0].op", 2);
  mk_fails(&sy_plugin_label_selector_filter, "matchExpressions:\n- {operator: Exists}", "key must be", 2);
  mk_fails(&sy_plugin_label_selector_filter, "matchLabels:\n  app: 5", "matchLabels[\"app\"] must be a string", 2);
  mk_fails(&sy_plugin_label_selector_filter, "matchLabels: [app]", "must be a mapping", 1);
  mk_fails(&sy_plugin_label_selector_filter, "selector: {}", "unknown parameter \"selector\"", 1);
}
END_TEST

START_TEST(test_by_label_filter) {
  fx_reset();
  label(add("gold"), "tier", "gold");
  label(add("silver"), "tier", "silver");
  add("none");
  void *st = mk(&sy_plugin_by_label, "label: tier\nvalidValues: [gold]");
  ck_kept(filter(&sy_plugin_by_label, st), "gold");
  rm(&sy_plugin_by_label, st);
  st = mk(&sy_plugin_by_label, "label: tier\nvalidValues: [gold]\nallowsNoLabel: true");
  ck_kept(filter(&sy_plugin_by_label, st), "gold,none");
  rm(&sy_plugin_by_label, st);
  st = mk(&sy_plugin_by_label, "label: tier\nallowsNoLabel: true");
  ck_kept(filter(&sy_plugin_by_label, st), "none");
  rm(&sy_plugin_by_label, st);
  mk_fails(&sy_plugin_by_label, "validValues: [gold]", "'label' must be specified", 1);
  mk_fails(&sy_plugin_by_label, "label: tier", "either 'allowsNoLabel'", 1);
  mk_fails(&sy_plugin_by_label, "label: tier\nvalidValues: gold", "\"validValues\" must be a list", 2);
  mk_fails(&sy_plugin_by_label, "label: tier\nvalidValues: [1]", "list of strings", 2);
  mk_fails(&sy_plugin_by_label, "label: tier\nallowsNoLabel: yes", "\"allowsNoLabel\" must be a boolean", 2);
}
END_TEST

START_TEST(test_header_based_testing_filter) {
  fx_reset();
  add_ip("a0", "10.0.0.1", 8000);
  add_ip("a1", "10.0.0.1", 8001);
  add_ip("b", "10.0.0.2", 8000);
  add_ip("v6", "fd00::1", 8000);
  void *st = mk(&sy_plugin_header_based_testing_filter, "");
  ck_kept(filter(&sy_plugin_header_based_testing_filter, st), ""); /* missing header → empty */
  header("test-epp-endpoint-selection", "  ");
  ck_kept(filter(&sy_plugin_header_based_testing_filter, st), "");
  /* header order; ip:port exact; bare ip → the last endpoint with that ip;
   * unknown entries skipped; de-duplicated by ip */
  F.hdrs[0].value = "10.0.0.2, 10.0.0.9, 10.0.0.1:8000, 10.0.0.1, 10.0.0.2:8000";
  ck_kept(filter(&sy_plugin_header_based_testing_filter, st), "b,a0");
  F.hdrs[0].value = "10.0.0.1";
  ck_kept(filter(&sy_plugin_header_based_testing_filter, st), "a1");
  F.hdrs[0].value = "10.0.0.1:9999";
  ck_kept(filter(&sy_plugin_header_based_testing_filter, st), "");
  F.hdrs[0].value = "[fd00::1]:8000,10.0.0.1:8001";
  ck_kept(filter(&sy_plugin_header_based_testing_filter, st), "v6,a1");
  F.hdrs[0].value = "fd00::1";
  ck_kept(filter(&sy_plugin_header_based_testing_filter, st), "v6");
  F.hdrs[0].value = "[fd00::1]";
  ck_kept(filter(&sy_plugin_header_based_testing_filter, st), "v6");
  mk_fails(&sy_plugin_header_based_testing_filter, "header: x", "unknown parameter", 1);
}
END_TEST

/* ================================================================ pickers */

static size_t pick(const sy_sched_plugin_type_t *t, void *st, sy_sched_cand_t **out) {
  view_all();
  return t->pick(st, &F.c, F.v, F.n, out, SY_SCHED_MAX_RESULT);
}

static size_t idx(const sy_sched_cand_t *c) { return (size_t)(c - F.cands); }

START_TEST(test_max_score_picker) {
  fx_reset();
  add("a")->score = 0.2;
  add("b")->score = 0.9;
  add("c")->score = 0.5;
  add("d")->score = 0.1;
  sy_sched_cand_t *out[SY_SCHED_MAX_RESULT];
  void *st = mk(&sy_plugin_max_score_picker, "");
  ck_assert_uint_eq(pick(&sy_plugin_max_score_picker, st, out), 1);
  ck_assert_uint_eq(idx(out[0]), 1);
  rm(&sy_plugin_max_score_picker, st);
  st = mk(&sy_plugin_max_score_picker, "maxNumOfEndpoints: 3");
  ck_assert_uint_eq(pick(&sy_plugin_max_score_picker, st, out), 3);
  ck_assert_uint_eq(idx(out[0]), 1);
  ck_assert_uint_eq(idx(out[1]), 2);
  ck_assert_uint_eq(idx(out[2]), 0);
  /* the framework's max caps the count */
  view_all();
  ck_assert_uint_eq(sy_plugin_max_score_picker.pick(st, &F.c, F.v, F.n, out, 2), 2);
  rm(&sy_plugin_max_score_picker, st);
  st = mk(&sy_plugin_max_score_picker, "maxNumOfEndpoints: 0"); /* invalid → 1, as upstream */
  ck_assert_uint_eq(pick(&sy_plugin_max_score_picker, st, out), 1);
  rm(&sy_plugin_max_score_picker, st);

  /* ties: deterministic round-robin inside the top tier (llm-d PR #2515):
   * 3 equal best → 3 successive picks visit each once, in order */
  F.cands[0].score = F.cands[2].score = F.cands[3].score = 0.7;
  F.cands[1].score = 0.1;
  st = mk(&sy_plugin_max_score_picker, "");
  size_t seen[MAXC] = {0};
  size_t order[6];
  for (int r = 0; r < 6; r++) {
    ck_assert_uint_eq(pick(&sy_plugin_max_score_picker, st, out), 1);
    order[r] = idx(out[0]);
    seen[order[r]]++;
  }
  ck_assert_uint_eq(order[0], 0); /* rotation 0: the stable order a, c, d */
  ck_assert_uint_eq(order[1], 2);
  ck_assert_uint_eq(order[2], 3);
  ck_assert_uint_eq(order[3], 0);
  ck_assert_uint_eq(seen[0], 2);
  ck_assert_uint_eq(seen[2], 2);
  ck_assert_uint_eq(seen[3], 2);
  ck_assert_uint_eq(seen[1], 0);
  rm(&sy_plugin_max_score_picker, st);

  mk_fails(&sy_plugin_max_score_picker, "maxNumOfEndpoints: 9", "out of range", 1);
  mk_fails(&sy_plugin_max_score_picker, "maxNumOfEndpoints: \"2\"", "must be an integer", 1);
  mk_fails(&sy_plugin_max_score_picker, "maxEndpoints: 2", "unknown parameter \"maxEndpoints\"", 1);
}
END_TEST

START_TEST(test_random_picker) {
  fx_reset();
  for (int i = 0; i < 4; i++) add(fmt("p%d", i))->score = i == 0 ? 1.0 : 0.0;
  sy_sched_cand_t *out[SY_SCHED_MAX_RESULT];
  void *st = mk(&sy_plugin_random_picker, "maxNumOfEndpoints: 3");
  ck_assert_uint_eq(pick(&sy_plugin_random_picker, st, out), 3);
  ck_assert(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
  rm(&sy_plugin_random_picker, st);
  st = mk(&sy_plugin_random_picker, "maxNumOfEndpoints: 8"); /* more than candidates */
  ck_assert_uint_eq(pick(&sy_plugin_random_picker, st, out), 4);
  rm(&sy_plugin_random_picker, st);
  /* uniform regardless of score: 4000 picks, expect 1000 each (σ ≈ 27) */
  st = mk(&sy_plugin_random_picker, "");
  int hist[4] = {0};
  for (int r = 0; r < 4000; r++) {
    ck_assert_uint_eq(pick(&sy_plugin_random_picker, st, out), 1);
    hist[idx(out[0])]++;
    sy_arena_reset(&F.cyc);
  }
  for (int i = 0; i < 4; i++) ck_assert_msg(hist[i] > 850 && hist[i] < 1150, "p%d picked %d times", i, hist[i]);
  rm(&sy_plugin_random_picker, st);
}
END_TEST

START_TEST(test_weighted_random_picker) {
  fx_reset();
  add("w1")->score = 1.0;
  add("w2")->score = 2.0;
  add("w3")->score = 3.0;
  add("zero")->score = 0.0;
  sy_sched_cand_t *out[SY_SCHED_MAX_RESULT];
  void *st = mk(&sy_plugin_weighted_random_picker, "");
  /* A-Res with k = 1 picks i with probability w_i / Σw: 1/6, 2/6, 3/6, 0 */
  int hist[4] = {0};
  const int trials = 12000;
  for (int r = 0; r < trials; r++) {
    ck_assert_uint_eq(pick(&sy_plugin_weighted_random_picker, st, out), 1);
    hist[idx(out[0])]++;
    sy_arena_reset(&F.cyc);
  }
  ck_assert_int_eq(hist[3], 0);
  for (int i = 0; i < 3; i++) {
    double want = trials * (i + 1) / 6.0;
    ck_assert_msg(fabs(hist[i] - want) < 0.08 * want, "w%d picked %d times, want ≈ %.0f", i + 1, hist[i], want);
  }
  rm(&sy_plugin_weighted_random_picker, st);

  /* top N: distinct, zero-score last */
  st = mk(&sy_plugin_weighted_random_picker, "maxNumOfEndpoints: 4");
  ck_assert_uint_eq(pick(&sy_plugin_weighted_random_picker, st, out), 4);
  ck_assert_uint_eq(idx(out[3]), 3);
  rm(&sy_plugin_weighted_random_picker, st);

  /* all zero → uniform random */
  for (size_t i = 0; i < F.n; i++) F.cands[i].score = 0;
  st = mk(&sy_plugin_weighted_random_picker, "");
  memset(hist, 0, sizeof(hist));
  for (int r = 0; r < 4000; r++) {
    ck_assert_uint_eq(pick(&sy_plugin_weighted_random_picker, st, out), 1);
    hist[idx(out[0])]++;
    sy_arena_reset(&F.cyc);
  }
  for (int i = 0; i < 4; i++) ck_assert_msg(hist[i] > 850 && hist[i] < 1150, "%d picked %d times", i, hist[i]);
  rm(&sy_plugin_weighted_random_picker, st);
}
END_TEST

/* ============================================================== detectors */

static double saturation(const sy_sched_plugin_type_t *t, void *st) {
  view_all();
  return t->saturation(st, &F.c, F.v, F.n);
}

START_TEST(test_utilization_detector) {
  fx_reset();
  sy_sched_cand_t *a = add("a"), *b = add("b"), *c = add("c"), *d = add("d");
  a->m.waiting = 0;
  a->m.kv_usage = 0.4; /* max(0/5, 0.4/0.8) = 0.5 */
  b->m.waiting = 10;
  b->m.kv_usage = 0.1; /* max(2, 0.125) = 2 */
  c->m.update_ns = NOW - 300 * MS; /* stale (> 200ms) → 1 */
  c->m.waiting = 0;
  d->m.update_ns = 0; /* never scraped → 1 */
  void *st = mk(&sy_plugin_utilization_detector, "");
  ck_assert_double_eq_tol(saturation(&sy_plugin_utilization_detector, st), (0.5 + 2 + 1 + 1) / 4, EPS);
  F.n = 0;
  ck_assert_double_eq_tol(saturation(&sy_plugin_utilization_detector, st), 1.0, EPS); /* no candidates */
  F.n = 4;
  /* filter: waiting < 5, kv < 0.8, fresh → a only */
  ck_kept(filter(&sy_plugin_utilization_detector, st), "a");
  a->m.kv_usage = 0.8; /* not < 0.8: nobody passes → keep all */
  ck_kept(filter(&sy_plugin_utilization_detector, st), "a,b,c,d");
  rm(&sy_plugin_utilization_detector, st);

  /* headroom 0.2 relaxes the filter (q < 6, kv < 0.96), not the saturation;
   * a 1s staleness threshold makes c fresh again */
  a->m.kv_usage = 0.9;
  b->m.waiting = 5.5;
  st = mk(&sy_plugin_utilization_detector, "headroom: 0.2\nmetricsStalenessThreshold: 1s");
  ck_kept(filter(&sy_plugin_utilization_detector, st), "a,b,c");
  ck_assert_double_eq_tol(saturation(&sy_plugin_utilization_detector, st), (0.9 / 0.8 + 5.5 / 5 + 0 + 1) / 4, EPS);
  rm(&sy_plugin_utilization_detector, st);
  st = mk(&sy_plugin_utilization_detector, "queueDepthThreshold: 10\nkvCacheUtilThreshold: 0.9\n"
                                           "metricsStalenessThreshold: 250");
  /* 250 ms: c (300 ms old) stale again */
  ck_assert_double_eq_tol(saturation(&sy_plugin_utilization_detector, st), (1.0 + 0.55 + 1 + 1) / 4, EPS);
  rm(&sy_plugin_utilization_detector, st);
  st = mk(&sy_plugin_utilization_detector, "metricsStalenessThreshold: \"0.35s\"");
  ck_assert_double_eq_tol(saturation(&sy_plugin_utilization_detector, st), (0.9 / 0.8 + 1.1 + 0 + 1) / 4, EPS);
  rm(&sy_plugin_utilization_detector, st);
  st = mk(&sy_plugin_utilization_detector, "metricsStalenessThreshold: 1m30s");
  rm(&sy_plugin_utilization_detector, st);

  mk_fails(&sy_plugin_utilization_detector, "queueDepthThreshold: 0", "out of range", 1);
  mk_fails(&sy_plugin_utilization_detector, "kvCacheUtilThreshold: 1.5", "must be in (0.0, 1.0]", 1);
  mk_fails(&sy_plugin_utilization_detector, "kvCacheUtilThreshold: 0", "must be in (0.0, 1.0]", 1);
  mk_fails(&sy_plugin_utilization_detector, "headroom: -0.1", "out of range", 1);
}
END_TEST

START_TEST(test_utilization_detector_errors) {
  mk_fails(&sy_plugin_utilization_detector, "metricsStalenessThreshold: fast", "must be a duration", 1);
  mk_fails(&sy_plugin_utilization_detector, "metricsStalenessThreshold: 200xs", "must be a duration", 1);
  mk_fails(&sy_plugin_utilization_detector, "metricsStalenessThreshold: 0", "positive duration", 1);
  mk_fails(&sy_plugin_utilization_detector, "metricsStalenessThreshold: \"0s\"", "positive duration", 1);
  mk_fails(&sy_plugin_utilization_detector, "metricsStalenessThreshold: -1s", "must be a duration", 1);
}
END_TEST

START_TEST(test_concurrency_detector) {
  fx_reset();
  sy_sched_cand_t *a = add("a"), *b = add("b");
  a->in_flight = 10;
  a->in_flight_tokens = 300000;
  b->in_flight = 100;
  b->in_flight_tokens = 900000;
  void *st = mk(&sy_plugin_concurrency_detector, "");
  ck_assert_double_eq_tol(saturation(&sy_plugin_concurrency_detector, st), 110.0 / 200, EPS);
  ck_kept(filter(&sy_plugin_concurrency_detector, st), "a"); /* 100 is not < 100 */
  rm(&sy_plugin_concurrency_detector, st);
  st = mk(&sy_plugin_concurrency_detector, "headroom: 0.1"); /* limit 110 */
  ck_kept(filter(&sy_plugin_concurrency_detector, st), "a,b");
  rm(&sy_plugin_concurrency_detector, st);
  st = mk(&sy_plugin_concurrency_detector, "concurrencyMode: tokens\nmaxTokenConcurrency: 600000");
  ck_assert_double_eq_tol(saturation(&sy_plugin_concurrency_detector, st), 1200000.0 / 1200000, EPS);
  ck_kept(filter(&sy_plugin_concurrency_detector, st), "a");
  rm(&sy_plugin_concurrency_detector, st);
  st = mk(&sy_plugin_concurrency_detector, "concurrencyMode: hybrid\nmaxConcurrency: 50");
  /* requests 110/100 = 1.1, tokens 1.2e6/2e6 = 0.6 → 1.1; keep only under both limits */
  ck_assert_double_eq_tol(saturation(&sy_plugin_concurrency_detector, st), 1.1, EPS);
  ck_kept(filter(&sy_plugin_concurrency_detector, st), "a");
  b->in_flight = 60;
  a->in_flight = 70;
  ck_kept(filter(&sy_plugin_concurrency_detector, st), ""); /* no keep-all fallback */
  F.n = 0;
  ck_assert_double_eq_tol(saturation(&sy_plugin_concurrency_detector, st), 1.0, EPS);
  rm(&sy_plugin_concurrency_detector, st);
  mk_fails(&sy_plugin_concurrency_detector, "concurrencyMode: bytes", "unsupported concurrencyMode", 1);
  mk_fails(&sy_plugin_concurrency_detector, "maxConcurrency: 0", "out of range", 1);
  mk_fails(&sy_plugin_concurrency_detector, "maxTokenConcurrency: -5", "out of range", 1);
  mk_fails(&sy_plugin_concurrency_detector, "headroom: -1", "out of range", 1);
}
END_TEST

/* ======================================================== whole configs */

typedef struct cfg_fx {
  sy_sched_t *s;
  sy_endpoint_t eps[MAXC];
  const sy_endpoint_t *pe[MAXC];
  const char *lk[MAXC][2], *lv[MAXC][2];
  char names[MAXC][32], ips[MAXC][32], addrs[MAXC][48];
  size_t n;
  sy_arena_t arena;
  sy_sched_result_t out;
} cfg_fx_t;

static cfg_fx_t G;

static int cfg_new(const char *yaml, sy_sched_error_t *err) {
  memset(&G, 0, sizeof(G));
  sy_arena_init(&G.arena, 64 * 1024, 0);
  return sy_sched_new_from_config(&G.s, "test.yaml", yaml, strlen(yaml), err);
}

static void cfg_ok(const char *yaml) {
  sy_sched_error_t err;
  int rc = cfg_new(yaml, &err);
  ck_assert_msg(rc == 0, "config: %s:%d:%d: %s", err.file, err.line, err.column, err.msg);
}

static void cfg_fails(const char *yaml, const char *needle) {
  sy_sched_error_t err;
  int rc = cfg_new(yaml, &err);
  ck_assert_msg(rc != 0, "config should fail with \"%s\"", needle);
  ck_assert_msg(strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
  sy_arena_cleanup(&G.arena);
}

/* Endpoint "<pod>-rank-0" at 10.1.0.<i+1>:8000 with a role label (or NULL)
 * and fresh metrics at NOW. */
static const sy_endpoint_t *cfg_ep(const char *pod, const char *role, double waiting) {
  size_t i = G.n++;
  sy_endpoint_t *e = &G.eps[i];
  snprintf(G.names[i], sizeof(G.names[i]), "%s-rank-0", pod);
  snprintf(G.ips[i], sizeof(G.ips[i]), "10.1.0.%zu", i + 1);
  snprintf(G.addrs[i], sizeof(G.addrs[i]), "10.1.0.%zu:8000", i + 1);
  e->name = G.names[i];
  e->pod_name = pod;
  e->ip = G.ips[i];
  e->port = 8000;
  e->address = G.addrs[i];
  e->label_keys = G.lk[i];
  e->label_values = G.lv[i];
  if (role) {
    G.lk[i][0] = "llm-d.ai/role";
    G.lv[i][0] = role;
    e->n_labels = 1;
  }
  e->state = sy_endpoint_state_new();
  ck_assert_ptr_nonnull(e->state);
  sy_endpoint_metrics_t m = {.update_ns = NOW - 10 * MS, .has_waiting = true, .waiting = waiting, .max_lora = -1};
  sy_endpoint_metrics_store(e->state, &m);
  G.pe[i] = e;
  return e;
}

static int run(const char *prompt, const sy_sched_header_t *hdrs, size_t nh) {
  sy_sched_request_t req = {.request_id = "r", .model = "m", .prompt = prompt, .prompt_len = strlen(prompt),
                            .headers = hdrs, .n_headers = nh};
  sy_arena_reset(&G.arena);
  return sy_sched_schedule(G.s, &G.arena, NOW, &req, G.pe, G.n, &G.out);
}

static const char *out_header(const char *key) {
  for (size_t i = 0; i < G.out.n_headers; i++) {
    if (!strcmp(G.out.headers[i].key, key)) return G.out.headers[i].value;
  }
  return NULL;
}

/* Drops every endpoint (to rebuild the candidate list). */
static void cfg_drop_eps(void) {
  for (size_t i = 0; i < G.n; i++) sy_endpoint_state_unref(G.eps[i].state);
  memset(G.eps, 0, sizeof(G.eps));
  G.n = 0;
}

static void cfg_free(void) {
  sy_sched_free(G.s);
  for (size_t i = 0; i < G.n; i++) sy_endpoint_state_unref(G.eps[i].state);
  sy_arena_cleanup(&G.arena);
}

#define HDR "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"

START_TEST(test_config_default_pipeline) {
  /* load-aware + queue through the whole framework: queue 0/3/6 → the idle one */
  cfg_ok(HDR "plugins:\n"
             "- type: queue-scorer\n"
             "- type: load-aware-scorer\n"
             "  parameters: {threshold: 10}\n"
             "- type: max-score-picker\n"
             "  parameters: {maxNumOfEndpoints: 2}\n");
  cfg_ep("a", NULL, 3);
  cfg_ep("b", NULL, 0);
  cfg_ep("c", NULL, 6);
  ck_assert_int_eq(run("hello", NULL, 0), 0);
  /* totals: a 0.5+0.35 = 0.85, b 1+0.5 = 1.5, c 0+0.2 = 0.2 */
  ck_assert_uint_eq(G.out.n, 2);
  ck_assert_str_eq(G.out.endpoints[0]->pod_name, "b");
  ck_assert_str_eq(G.out.endpoints[1]->pod_name, "a");
  /* saturation via the auto-created utilization-detector: waiting/5 */
  ck_assert_double_eq_tol(sy_sched_saturation(G.s, &G.arena, NOW, G.pe, G.n), (0.6 + 0 + 1.2) / 3, EPS);
  cfg_free();
}
END_TEST

START_TEST(test_config_filters_and_errors) {
  cfg_ok(HDR "plugins:\n"
             "- type: decode-filter\n"
             "- type: header-based-testing-filter\n"
             "- type: utilization-detector\n"
             "  parameters: {queueDepthThreshold: 4}\n"
             "schedulingProfiles:\n"
             "- name: default\n"
             "  plugins: [{pluginRef: decode-filter}, {pluginRef: utilization-detector}, "
             "{pluginRef: header-based-testing-filter}]\n");
  cfg_ep("p", "prefill", 0);
  cfg_ep("d1", "decode", 0);
  cfg_ep("d2", NULL, 9);
  cfg_ep("d3", "decode", 1);
  sy_sched_header_t h[] = {{"test-epp-endpoint-selection", "10.1.0.1,10.1.0.3,10.1.0.4"}};
  ck_assert_int_eq(run("x", h, 1), 0); /* p filtered by role, d2 by queue (9 ≥ 4) → d3 */
  ck_assert_str_eq(G.out.endpoints[0]->pod_name, "d3");
  ck_assert_int_eq(run("x", NULL, 0), SY_ENOTFOUND); /* no test header → nothing */
  cfg_free();

  cfg_fails(HDR "plugins:\n- type: queue-scorer\n  parameters: {foo: 1}\n", "unknown parameter \"foo\"");
  cfg_fails(HDR "plugins:\n- type: single-profile-handler\n- type: queue-scorer\n"
                "schedulingProfiles:\n- name: a\n  plugins: [{pluginRef: queue-scorer}]\n"
                "- name: b\n  plugins: [{pluginRef: queue-scorer}]\n",
            "exactly one scheduling profile");
}
END_TEST

#define PD_CONFIG \
  HDR "plugins:\n" \
                                   "- type: prefill-filter\n" \
                                   "- type: decode-filter\n" \
                                   "- type: queue-scorer\n" \
                                   "- type: %s\n" \
                                   "  parameters: %s\n" \
                                   "%s" \
                                   "schedulingProfiles:\n" \
                                   "- name: prefill\n" \
                                   "  plugins: [{pluginRef: prefill-filter}, {pluginRef: queue-scorer}]\n" \
                                   "- name: decode\n" \
                                   "  plugins: [{pluginRef: decode-filter}, {pluginRef: queue-scorer}]\n" \
                                   "%s"

static void pd_cfg(const char *handler, const char *params, const char *extra_plugins, const char *extra_profiles,
                   const char *fail) {
  char buf[4096];
  snprintf(buf, sizeof(buf), PD_CONFIG, handler, params, extra_plugins, extra_profiles);
  if (fail) {
    cfg_fails(buf, fail);
    return;
  }
  cfg_ok(buf);
  cfg_ep("p1", "prefill", 3);
  cfg_ep("p2", "prefill", 1); /* the prefill pick */
  cfg_ep("d1", "decode", 0);  /* the decode pick */
  cfg_ep("d2", "decode", 2);
}

/* A prompt of n characters (deterministic). */
static const char *prompt_of(size_t n, char seed) {
  static char buf[4][2048];
  static int k;
  char *b = buf[k++ & 3];
  for (size_t i = 0; i < n; i++) b[i] = (char)('a' + (i * 7 + (size_t)seed) % 26);
  b[n] = '\0';
  return b;
}

START_TEST(test_disagg_profile_handler) {
  /* no decider: decode only */
  pd_cfg("disagg-profile-handler", "{}", "", "", NULL);
  ck_assert_int_eq(run("hi", NULL, 0), 0);
  ck_assert_uint_eq(G.out.n, 1);
  ck_assert_str_eq(G.out.endpoints[0]->pod_name, "d1");
  ck_assert_ptr_null(out_header("x-prefiller-host-port"));
  cfg_free();

  /* always-disagg: decode is primary, the prefill pick goes in the header */
  pd_cfg("disagg-profile-handler", "{deciders: {prefill: always-disagg-pd-decider}}",
         "- type: always-disagg-pd-decider\n", "", NULL);
  ck_assert_int_eq(run("hi", NULL, 0), 0);
  ck_assert_str_eq(G.out.endpoints[0]->pod_name, "d1");
  ck_assert_str_eq(out_header("x-prefiller-host-port"), "10.1.0.2:8000");
  cfg_free();

  /* prefix-based decider, nonCachedTokens 16: a 60-char prompt is 15 tokens
   * → decode only; 400 chars (100 tokens, nothing cached) → P/D; the same
   * prompt again is cached on d1 (6 blocks × 16 tokens = 96) → 4 uncached
   * tokens < 16 → decode only. */
  pd_cfg("disagg-profile-handler", "{deciders: {prefill: pdd}}",
         "- name: pdd\n  type: prefix-based-pd-decider\n  parameters: {nonCachedTokens: 16}\n"
         "- type: approx-prefix-cache-producer\n  parameters: {autoTune: false}\n",
         "", NULL);
  ck_assert_int_eq(run(prompt_of(60, 1), NULL, 0), 0);
  ck_assert_ptr_null(out_header("x-prefiller-host-port"));
  const char *longp = prompt_of(400, 2);
  ck_assert_int_eq(run(longp, NULL, 0), 0);
  ck_assert_str_eq(G.out.endpoints[0]->pod_name, "d1");
  ck_assert_str_eq(out_header("x-prefiller-host-port"), "10.1.0.2:8000");
  ck_assert_int_eq(run(longp, NULL, 0), 0);
  ck_assert_str_eq(G.out.endpoints[0]->pod_name, "d1");
  ck_assert_ptr_null(out_header("x-prefiller-host-port"));
  cfg_free();

  /* fallback: no decode pods at all → the aggregated profile */
  {
    char buf[4096];
    snprintf(buf, sizeof(buf), PD_CONFIG, "disagg-profile-handler",
             "{profiles: {fallback: agg}, deciders: {prefill: always-disagg-pd-decider}}",
             "- type: always-disagg-pd-decider\n", "- name: agg\n  plugins: [{pluginRef: queue-scorer}]\n");
    cfg_ok(buf);
    cfg_ep("p1", "prefill", 3);
    cfg_ep("p2", "prefill", 1);
    ck_assert_int_eq(run("hi", NULL, 0), 0);
    ck_assert_str_eq(G.out.endpoints[0]->pod_name, "p2");
    ck_assert_ptr_null(out_header("x-prefiller-host-port"));
    cfg_free();
  }
  /* prefill wanted but no prefill pod: the request fails (upstream) */
  pd_cfg("disagg-profile-handler", "{deciders: {prefill: always-disagg-pd-decider}}",
         "- type: always-disagg-pd-decider\n", "", NULL);
  cfg_drop_eps();
  cfg_ep("d1", "decode", 0);
  ck_assert_int_eq(run("hi", NULL, 0), SY_ENOTFOUND);
  cfg_free();
  /* prefill-first: prefill always runs, decode is primary */
  pd_cfg("disagg-profile-handler", "{stageOrder: Prefill_First}", "", "", NULL);
  ck_assert_int_eq(run("hi", NULL, 0), 0);
  ck_assert_str_eq(G.out.endpoints[0]->pod_name, "d1");
  ck_assert_str_eq(out_header("x-prefiller-host-port"), "10.1.0.2:8000");
  cfg_free();

  /* E/P/D: an encode profile and decider → x-encoder-hosts-ports (every
   * encode target, comma-separated) */
  {
    char buf[4096];
    snprintf(buf, sizeof(buf), PD_CONFIG, "disagg-profile-handler",
             "{deciders: {prefill: always-disagg-pd-decider, encode: always-disagg-pd-decider}}",
             "- type: always-disagg-pd-decider\n- type: encode-filter\n- type: max-score-picker\n"
             "  name: two\n  parameters: {maxNumOfEndpoints: 2}\n",
             "- name: encode\n  plugins: [{pluginRef: encode-filter}, {pluginRef: queue-scorer}, {pluginRef: two}]\n");
    cfg_ok(buf);
    cfg_ep("p1", "prefill", 3);
    cfg_ep("p2", "prefill", 1);
    cfg_ep("d1", "decode", 0);
    cfg_ep("e1", "encode", 4);
    cfg_ep("e2", "encode-prefill", 2);
    ck_assert_int_eq(run("hi", NULL, 0), 0);
    ck_assert_str_eq(G.out.endpoints[0]->pod_name, "d1");
    ck_assert_str_eq(out_header("x-encoder-hosts-ports"), "10.1.0.5:8000,10.1.0.4:8000");
    /* e2 (encode-prefill) is also a prefill candidate; p2 still wins */
    ck_assert_str_eq(out_header("x-prefiller-host-port"), "10.1.0.2:8000");
    cfg_free();
  }
  pd_cfg("disagg-profile-handler", "{profiles: {decode: dec}}", "", "", "decode profile \"dec\" is not configured");
  pd_cfg("disagg-profile-handler", "{deciders: {prefill: nope}}", "", "", "deciders.prefill plugin not found: nope");
  pd_cfg("disagg-profile-handler", "{deciders: {prefill: queue-scorer}}", "", "", "is not a disaggregation decider");
  pd_cfg("disagg-profile-handler", "{stageOrder: sideways}", "", "", "invalid stage order");
  pd_cfg("disagg-profile-handler", "{stageOrder: prefill-first, deciders: {prefill: x}}", "", "",
         "not supported in prefill-first");
  pd_cfg("disagg-profile-handler", "{profiles: {fallback: decode}}", "", "", "must differ from profiles.decode");
  pd_cfg("disagg-profile-handler", "{profiles: {fallback: agg}}", "", "", "fallback profile \"agg\" is not configured");
  pd_cfg("disagg-profile-handler", "{decoders: {}}", "", "", "unknown parameter \"decoders\"");
  pd_cfg("disagg-profile-handler", "{}", "- type: prefix-based-pd-decider\n  parameters: {nonCachedTokens: -1}\n", "",
         "out of range");
}
END_TEST

START_TEST(test_pd_profile_handler) {
  /* v0.4.0 threshold 0: always P/D */
  pd_cfg("pd-profile-handler", "{threshold: 0, hashBlockSize: 5}", "", "", NULL);
  ck_assert_int_eq(run("hi", NULL, 0), 0);
  ck_assert_str_eq(G.out.endpoints[0]->pod_name, "d1");
  ck_assert_str_eq(out_header("x-prefiller-host-port"), "10.1.0.2:8000");
  cfg_free();
  /* threshold 100 characters: a 50-char prompt stays decode-only, 150 → P/D */
  pd_cfg("pd-profile-handler", "{threshold: 100}",
         "- type: approx-prefix-cache-producer\n  parameters: {autoTune: false}\n", "", NULL);
  ck_assert_int_eq(run(prompt_of(50, 3), NULL, 0), 0);
  ck_assert_ptr_null(out_header("x-prefiller-host-port"));
  ck_assert_int_eq(run(prompt_of(150, 4), NULL, 0), 0);
  ck_assert_str_eq(out_header("x-prefiller-host-port"), "10.1.0.2:8000");
  cfg_free();
  /* current form: the decider plugin (default name prefix-based-pd-decider) */
  pd_cfg("pd-profile-handler", "{deciderPluginName: always}", "- name: always\n  type: always-disagg-pd-decider\n", "",
         NULL);
  ck_assert_int_eq(run("hi", NULL, 0), 0);
  ck_assert_str_eq(out_header("x-prefiller-host-port"), "10.1.0.2:8000");
  cfg_drop_eps(); /* no prefill pod: pd-profile-handler stays decode-only */
  cfg_ep("d1", "decode", 0);
  ck_assert_int_eq(run("hi", NULL, 0), 0);
  ck_assert_str_eq(G.out.endpoints[0]->pod_name, "d1");
  ck_assert_ptr_null(out_header("x-prefiller-host-port"));
  cfg_free();
  /* the deprecated prefill-header-handler next to it: one header, same value */
  pd_cfg("pd-profile-handler", "{threshold: 0}",
         "- type: prefill-header-handler\n  parameters: {prefillProfile: prefill}\n",
         "", NULL);
  ck_assert_int_eq(run("hi", NULL, 0), 0);
  ck_assert_uint_eq(G.out.n_headers, 1);
  ck_assert_str_eq(out_header("x-prefiller-host-port"), "10.1.0.2:8000");
  cfg_free();
  pd_cfg("pd-profile-handler", "{}", "", "", "decider plugin not found: prefix-based-pd-decider");
  pd_cfg("pd-profile-handler", "{primaryPort: 8000}", "", "", "primaryPort");
  pd_cfg("pd-profile-handler", "{threshold: -5}", "", "", "out of range");
}
END_TEST

START_TEST(test_no_hit_lru_scorer) {
  /* Round-robin of cold requests through the whole pipeline: never-used
   * endpoints first, then the least recently used. */
  cfg_ok(HDR "plugins:\n"
             "- type: approx-prefix-cache-producer\n"
             "  parameters: {autoTune: false}\n"
             "- type: no-hit-lru-scorer\n"
             "schedulingProfiles:\n"
             "- name: default\n"
             "  plugins: [{pluginRef: no-hit-lru-scorer}]\n");
  cfg_ep("a", NULL, 0);
  cfg_ep("b", NULL, 0);
  cfg_ep("c", NULL, 0);
  const char *want = "abcab";
  for (int r = 0; r < 5; r++) {
    ck_assert_int_eq(run(prompt_of(100, (char)r), NULL, 0), 0); /* distinct prompts: cold */
    ck_assert_msg(G.out.endpoints[0]->pod_name[0] == want[r], "request %d went to %s", r, G.out.endpoints[0]->pod_name);
  }

  /* Exact scores through the vtable, on the configured instance. */
  const sy_sched_plugin_type_t *t = NULL;
  void *st = sy_sched_plugin_find(G.s, "no-hit-lru-scorer", &t);
  ck_assert_ptr_eq(t, &sy_plugin_no_hit_lru_scorer);
  const sy_sched_plugin_type_t *pt = NULL;
  void *pst = sy_sched_plugin_find(G.s, "approx-prefix-cache-producer", &pt);
  int slot = sy_prefix_match_slot(pt, pst, NULL, NULL);
  ck_assert_int_ge(slot, 0);
  fx_reset();
  add_ip("a", "10.1.0.1", 8000);
  add_ip("b", "10.1.0.2", 8000);
  add_ip("c", "10.1.0.3", 8000);
  add_ip("d", "10.1.0.4", 8000);
  int dummy;
  F.c.data[slot] = &dummy; /* the producer published (no hits) */
  /* LRU (oldest first) after "abcab": c, a, b. d never used. N = 4. */
  score(t, st);
  ck_score(3, 1.0);                   /* never used #0 */
  ck_score(2, 1.0 - (1 + 0) / 3.0);   /* c: pos 0 */
  ck_score(0, 1.0 - (1 + 1) / 3.0);   /* a: pos 1 */
  ck_score(1, 0.0);                   /* b: pos 2 → 1 - 3/3 */
  /* a warm request (any hit on any candidate): 0.5 everywhere, no touch */
  F.cands[1].slot[slot] = 2;
  score(t, st);
  for (int i = 0; i < 4; i++) ck_score(i, 0.5);
  F.c.results[0].profile = "default";
  F.c.results[0].endpoints[0] = &F.cands[3];
  F.c.results[0].n = 1;
  F.c.n_results = 1;
  F.c.primary_profile = "default";
  t->pre_request(st, &F.c);
  F.cands[1].slot[slot] = 0; /* cold again: d still never used */
  score(t, st);
  ck_score(3, 1.0);
  /* cold pre_request touches the primary target and the "prefill" target */
  F.c.results[1].profile = "prefill";
  F.c.results[1].endpoints[0] = &F.cands[0];
  F.c.results[1].n = 1;
  F.c.n_results = 2;
  t->pre_request(st, &F.c);
  score(t, st); /* LRU: c, b, d, a */
  ck_score(2, 1.0);
  ck_score(1, 1.0 - 1 / 3.0);
  ck_score(3, 1.0 - 2 / 3.0);
  ck_score(0, 0.0);
  /* one candidate → 1.0 */
  F.n = 1;
  score(t, st);
  ck_score(0, 1.0);
  cfg_free();

  /* a bounded LRU forgets the oldest: lruSize 2 */
  cfg_ok(HDR "plugins:\n"
             "- type: no-hit-lru-scorer\n"
             "  parameters: {lruSize: 2}\n"
             "schedulingProfiles:\n"
             "- name: default\n"
             "  plugins: [{pluginRef: no-hit-lru-scorer}]\n");
  cfg_ep("a", NULL, 0);
  cfg_ep("b", NULL, 0);
  cfg_ep("c", NULL, 0);
  cfg_ep("d", NULL, 0);
  /* without a prefix producer every request is cold: a, b, c; then a was
   * evicted (the LRU holds b, c), so a and d are both "never used" and a
   * comes first (an unbounded LRU would pick d) */
  const char *want2 = "abca";
  for (int r = 0; r < 4; r++) {
    ck_assert_int_eq(run("p", NULL, 0), 0);
    ck_assert_msg(G.out.endpoints[0]->pod_name[0] == want2[r], "request %d went to %s", r,
                  G.out.endpoints[0]->pod_name);
  }
  cfg_free();

  cfg_fails(HDR "plugins:\n- type: no-hit-lru-scorer\n  parameters: {prefixMatchInfoProducerName: nope}\n",
            "prefix-match producer \"nope\" not found");
  cfg_fails(HDR "plugins:\n- type: queue-scorer\n- type: no-hit-lru-scorer\n"
                "  parameters: {prefixMatchInfoProducerName: queue-scorer}\n",
            "does not produce prefix-match data");
  cfg_fails(HDR "plugins:\n- type: no-hit-lru-scorer\n  parameters: {lruSize: many}\n", "must be an integer");
}
END_TEST

START_TEST(test_go_duration_and_base64) {
  /* through the utilization detector's staleness threshold: 1.5s vs ages */
  fx_reset();
  add("a")->m.update_ns = NOW - 1400 * MS;
  add("b")->m.update_ns = NOW - 1600 * MS;
  void *st = mk(&sy_plugin_utilization_detector, "metricsStalenessThreshold: 1.5s");
  ck_assert_double_eq_tol(saturation(&sy_plugin_utilization_detector, st), (0 + 1) / 2.0, EPS);
  rm(&sy_plugin_utilization_detector, st);
  st = mk(&sy_plugin_utilization_detector, "metricsStalenessThreshold: 1s500ms");
  ck_assert_double_eq_tol(saturation(&sy_plugin_utilization_detector, st), 0.5, EPS);
  rm(&sy_plugin_utilization_detector, st);
  st = mk(&sy_plugin_utilization_detector, "metricsStalenessThreshold: 1500000us");
  ck_assert_double_eq_tol(saturation(&sy_plugin_utilization_detector, st), 0.5, EPS);
  rm(&sy_plugin_utilization_detector, st);
  st = mk(&sy_plugin_utilization_detector, "metricsStalenessThreshold: 2s");
  ck_assert_double_eq_tol(saturation(&sy_plugin_utilization_detector, st), 0.0, EPS);
  rm(&sy_plugin_utilization_detector, st);
  /* metrics updated after the cycle started count as fresh */
  F.cands[1].m.update_ns = NOW + 5 * MS;
  st = mk(&sy_plugin_utilization_detector, "");
  ck_assert_double_eq_tol(saturation(&sy_plugin_utilization_detector, st), 0.5, EPS);
  rm(&sy_plugin_utilization_detector, st);
}
END_TEST

/* Concurrent decisions share plugin state (the max-score picker's rotation
 * counter, the no-hit LRU, the prefix index): run them from 4 threads (for
 * ASan/TSan builds) and check every decision picked something. */
typedef struct worker {
  int ok;
  int id;
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = arg;
  sy_arena_t arena;
  sy_arena_init(&arena, 16 * 1024, 0);
  char prompt[160];
  for (int r = 0; r < 500; r++) {
    for (size_t i = 0; i + 1 < sizeof(prompt); i++) {
      prompt[i] = (char)('a' + (i * 3 + (size_t)r * 7 + (size_t)w->id) % 26);
    }
    prompt[sizeof(prompt) - 1] = '\0';
    sy_sched_request_t req = {.request_id = "r", .model = "m", .prompt = prompt, .prompt_len = strlen(prompt)};
    sy_sched_result_t out;
    sy_arena_reset(&arena);
    if (sy_sched_schedule(G.s, &arena, NOW, &req, G.pe, G.n, &out) == 0 && out.n == 1) w->ok++;
  }
  sy_arena_cleanup(&arena);
  return NULL;
}

START_TEST(test_concurrent_decisions) {
  cfg_ok(HDR "plugins:\n"
             "- type: approx-prefix-cache-producer\n"
             "  parameters: {autoTune: false}\n"
             "- type: prefix-cache-scorer\n"
             "- type: no-hit-lru-scorer\n"
             "- type: active-request-scorer\n"
             "- type: max-score-picker\n");
  for (int i = 0; i < 6; i++) cfg_ep(i % 2 ? "odd" : "even", NULL, i);
  pthread_t th[4];
  worker_t w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker_t){0, i};
    ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    ck_assert_int_eq(w[i].ok, 500);
  }
  cfg_free();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("plugins");
  TCase *tc = tcase_create("scorers");
  tcase_add_test(tc, test_queue_scorer);
  tcase_add_test(tc, test_kv_and_running_scorers);
  tcase_add_test(tc, test_lora_affinity_scorer);
  tcase_add_test(tc, test_token_load_scorer);
  tcase_add_test(tc, test_active_request_scorer);
  tcase_add_test(tc, test_load_aware_scorer);
  tcase_add_test(tc, test_session_affinity);
  suite_add_tcase(s, tc);
  tc = tcase_create("filters");
  tcase_add_test(tc, test_role_filters);
  tcase_add_test(tc, test_label_selector_filter);
  tcase_add_test(tc, test_by_label_filter);
  tcase_add_test(tc, test_header_based_testing_filter);
  suite_add_tcase(s, tc);
  tc = tcase_create("pickers");
  tcase_add_test(tc, test_max_score_picker);
  tcase_add_test(tc, test_random_picker);
  tcase_add_test(tc, test_weighted_random_picker);
  suite_add_tcase(s, tc);
  tc = tcase_create("detectors");
  tcase_add_test(tc, test_utilization_detector);
  tcase_add_test(tc, test_utilization_detector_errors);
  tcase_add_test(tc, test_concurrency_detector);
  tcase_add_test(tc, test_go_duration_and_base64);
  suite_add_tcase(s, tc);
  tc = tcase_create("configs");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_config_default_pipeline);
  tcase_add_test(tc, test_config_filters_and_errors);
  tcase_add_test(tc, test_disagg_profile_handler);
  tcase_add_test(tc, test_pd_profile_handler);
  tcase_add_test(tc, test_no_hit_lru_scorer);
  tcase_add_test(tc, test_concurrent_decisions);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
