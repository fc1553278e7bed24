/* Unit tests for the approximate prefix cache: block hashing (exact values
 * from the formula), the index (longest-prefix match, LRU eviction, reverse
 * map, purge, bounds), the approx-prefix-cache-producer / prefix-cache-scorer
 * plugins driven through their vtables, parameter validation, and
 * concurrent decisions on shared state. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "core.h"
#include "plugins/plugins.h"
#include "plugins/prefix_index.h"
#include "scheduler.h"
#include "test_support.h"
#include "yaml.h"

#define S_NS 1000000000ull

/* ------------------------------------------------------------- helpers */

/* The formula, computed independently (one-shot XXH64 over a concatenation). */
static uint64_t h_seed(const char *model, const char *salt) {
  char buf[256];
  int n = snprintf(buf, sizeof(buf), "%s%s", model, salt ? salt : "");
  return XXH64(buf, (size_t)n, 0);
}
static uint64_t h_next(const char *block, size_t len, uint64_t prev) {
  unsigned char buf[512];
  memcpy(buf, block, len);
  for (int b = 0; b < 8; b++) buf[len + (size_t)b] = (unsigned char)(prev >> (8 * b));
  return XXH64(buf, len + 8, 0);
}

/* A parsed parameters document (NULL text: no parameters). */
typedef struct params {
  sy_yaml_stream_t *ys;
  const sy_yaml_node_t *node;
} params_t;

static params_t params(const char *text) {
  params_t p = {0};
  if (!text) return p;
  sy_yaml_error_t yerr;
  ck_assert_int_eq(sy_yaml_parse("params.yaml", text, strlen(text), NULL, &p.ys, &yerr), 0);
  p.node = p.ys->docs[0].root;
  return p;
}

static int create(const sy_sched_plugin_type_t *t, const char *text, void **st, sy_sched_error_t *err) {
  params_t p = params(text);
  sy_sched_plugin_args_t args = {.name = t->type, .params = p.node, .sched = NULL};
  memset(err, 0, sizeof(*err));
  *st = NULL;
  int rc = t->create(&args, st, err);
  sy_yaml_stream_free(p.ys);
  return rc;
}

static void *producer(const char *text) {
  void *st;
  sy_sched_error_t err;
  int rc = create(&sy_plugin_approx_prefix_cache_producer, text, &st, &err);
  ck_assert_msg(rc == 0, "create: %s", err.msg);
  return st;
}

#define MAXC 16
typedef struct fix {
  sy_arena_t arena;
  char addr[MAXC][32];
  sy_endpoint_t eps[MAXC];
  sy_sched_cand_t cands[MAXC];
  sy_sched_cycle_t c;
  sy_sched_request_t req;
  sy_sched_result_t out;
  size_t n;
} fix_t;

static void fix_init(fix_t *f, size_t n) {
  memset(f, 0, sizeof(*f));
  sy_arena_init(&f->arena, 64 * 1024, 0);
  f->n = n;
  for (size_t i = 0; i < n; i++) {
    snprintf(f->addr[i], sizeof(f->addr[i]), "10.0.0.%zu:8000", i + 1);
    f->eps[i].address = f->addr[i];
    f->eps[i].ip = "10.0.0.x";
    f->eps[i].port = 8000;
    f->cands[i].ep = &f->eps[i];
  }
}

/* Runs prepare for `prompt` over the fixture's candidates (metrics kept). */
static void prepare(void *prod, fix_t *f, const char *model, const char *salt, const char *prompt, uint64_t now) {
  sy_arena_reset(&f->arena);
  memset(&f->c, 0, sizeof(f->c));
  memset(&f->out, 0, sizeof(f->out));
  for (size_t i = 0; i < f->n; i++) memset(f->cands[i].slot, 0, sizeof(f->cands[i].slot));
  f->req = (sy_sched_request_t){.request_id = "r", .model = model, .prompt = prompt,
                                .prompt_len = prompt ? strlen(prompt) : 0, .cache_salt = salt};
  f->c.arena = &f->arena;
  f->c.req = &f->req;
  f->c.now_ns = now;
  f->c.cands = f->cands;
  f->c.n_cands = f->n;
  f->c.out = &f->out;
  sy_plugin_approx_prefix_cache_producer.prepare(prod, &f->c);
}

/* Pretends the primary profile picked cands[pick] (and "prefill" picked
 * cands[prefill] when >= 0), then runs pre_request. */
static void commit(void *prod, fix_t *f, int pick, int prefill) {
  f->c.results[0] = (sy_sched_profile_result_t){.profile = "decode", .n = 1};
  f->c.results[0].endpoints[0] = &f->cands[pick];
  f->c.n_results = 1;
  if (prefill >= 0) {
    f->c.results[1] = (sy_sched_profile_result_t){.profile = "prefill", .n = 1};
    f->c.results[1].endpoints[0] = &f->cands[prefill];
    f->c.n_results = 2;
  }
  f->c.primary_profile = "decode";
  f->out.endpoints[0] = f->cands[pick].ep;
  f->out.n = 1;
  sy_plugin_approx_prefix_cache_producer.pre_request(prod, &f->c);
}

static void decide(void *prod, fix_t *f, const char *prompt, int pick, uint64_t now) {
  prepare(prod, f, "m", NULL, prompt, now);
  commit(prod, f, pick, -1);
}

static double matched(const fix_t *f, size_t i) { return f->cands[i].slot[0]; }
static double total(const fix_t *f) { return f->c.slot_total[0]; }

static void scores(void *scorer, fix_t *f, double *out) {
  sy_sched_cand_t *v[MAXC];
  for (size_t i = 0; i < f->n; i++) v[i] = &f->cands[i];
  sy_plugin_prefix_cache_scorer.score(scorer, &f->c, v, f->n, out);
}

static sy_pfx_index_t *ix_of(void *prod) { return sy_prefix_producer_index(prod); }

/* 16-char blocks (blockSizeTokens 4, autoTune off) */
#define P4 "{autoTune: false, blockSizeTokens: 4}"
#define B0 "aaaaaaaaaaaaaaaa"
#define B1 "bbbbbbbbbbbbbbbb"
#define B2 "cccccccccccccccc"
#define B3 "dddddddddddddddd"
#define BX "xxxxxxxxxxxxxxxx"
#define BY "yyyyyyyyyyyyyyyy"

/* --------------------------------------------------------------- hashing */

START_TEST(test_xxh64_vector) {
  /* the library is the reference xxHash64: known test vector */
  ck_assert_uint_eq(XXH64("", 0, 0), 0xEF46DB3751D8E999ull);
}
END_TEST

START_TEST(test_hash_exact) {
  const char *prompt = B0 B1 "01234567"; /* 40 chars: 2 full blocks + 8 */
  uint64_t got[8];
  size_t n = sy_pfx_hash_prompt("m", 1, NULL, 0, prompt, strlen(prompt), 16, 256, got);
  ck_assert_uint_eq(n, 2);
  uint64_t h0 = h_seed("m", NULL);
  ck_assert_uint_eq(h0, XXH64("m", 1, 0));
  uint64_t h1 = h_next(B0, 16, h0), h2 = h_next(B1, 16, h1);
  ck_assert_uint_eq(got[0], h1);
  ck_assert_uint_eq(got[1], h2);
  ck_assert_uint_ne(got[0], got[1]);
  /* the same through the producer: what it records is what we computed */
  void *p = producer(P4);
  fix_t f;
  fix_init(&f, 2);
  decide(p, &f, prompt, 1, 1 * S_NS);
  ck_assert_double_eq(total(&f), 2);
  ck_assert(sy_pfx_index_holds(ix_of(p), f.addr[1], h1));
  ck_assert(sy_pfx_index_holds(ix_of(p), f.addr[1], h2));
  ck_assert(!sy_pfx_index_holds(ix_of(p), f.addr[0], h1));
  ck_assert_uint_eq(sy_prefix_index_size(p), 2);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  sy_arena_cleanup(&f.arena);
}
END_TEST

START_TEST(test_hash_partial_block_ignored) {
  uint64_t a[4], b[4];
  const char *full = B0 B1;
  const char *more = B0 B1 "123456789012345"; /* 47: trailing 15 ignored */
  ck_assert_uint_eq(sy_pfx_hash_prompt("m", 1, NULL, 0, full, 32, 16, 256, a), 2);
  ck_assert_uint_eq(sy_pfx_hash_prompt("m", 1, NULL, 0, more, 47, 16, 256, b), 2);
  ck_assert_uint_eq(a[0], b[0]);
  ck_assert_uint_eq(a[1], b[1]);
  ck_assert_uint_eq(sy_pfx_block_count(47, 16, 256), 2);
  ck_assert_uint_eq(sy_pfx_block_count(48, 16, 256), 3);
}
END_TEST

START_TEST(test_under_one_block_scores_zero) {
  void *p = producer(P4);
  void *sc;
  sy_sched_error_t err;
  ck_assert_int_eq(create(&sy_plugin_prefix_cache_scorer, NULL, &sc, &err), 0);
  sy_prefix_scorer_bind(sc, p);
  fix_t f;
  fix_init(&f, 3);
  decide(p, &f, B0 B1, 0, S_NS); /* endpoint 0 holds 2 blocks */
  prepare(p, &f, "m", NULL, "aaaaaaaaaaaaaaa", 2 * S_NS); /* 15 chars: < 1 block */
  ck_assert_double_eq(total(&f), 0);
  double s[MAXC];
  scores(sc, &f, s);
  for (size_t i = 0; i < 3; i++) ck_assert_double_eq(s[i], 0.0);
  ck_assert_uint_eq(sy_pfx_block_count(15, 16, 256), 0);
  /* nothing is recorded for a request without hashes */
  size_t before = sy_prefix_index_size(p);
  commit(p, &f, 2, -1);
  ck_assert_uint_eq(sy_prefix_index_size(p), before);
  ck_assert_uint_eq(sy_pfx_index_ep_entries(ix_of(p), f.addr[2]), 0);
  sy_plugin_prefix_cache_scorer.destroy(sc);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  sy_arena_cleanup(&f.arena);
}
END_TEST

START_TEST(test_max_blocks_truncation) {
  uint64_t h[8];
  const char *prompt = B0 B1 B2 B3; /* 4 blocks */
  ck_assert_uint_eq(sy_pfx_hash_prompt("m", 1, NULL, 0, prompt, 64, 16, 3, h), 3);
  ck_assert_uint_eq(h[2], h_next(B2, 16, h_next(B1, 16, h_next(B0, 16, h_seed("m", NULL)))));
  fix_t f;
  fix_init(&f, 1);
  void *p = producer("{autoTune: false, blockSizeTokens: 4, maxPrefixBlocksToMatch: 1}");
  prepare(p, &f, "m", NULL, prompt, S_NS);
  ck_assert_double_eq(total(&f), 1);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  /* maxPrefixTokensToMatch wins when > 0: 8 tokens / 4 per block = 2 */
  p = producer("{autoTune: false, blockSizeTokens: 4, maxPrefixBlocksToMatch: 1, maxPrefixTokensToMatch: 8}");
  prepare(p, &f, "m", NULL, prompt, S_NS);
  ck_assert_double_eq(total(&f), 2);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  /* ... and rounds down: 3 tokens / 4 = 0 blocks */
  p = producer("{autoTune: false, blockSizeTokens: 4, maxPrefixTokensToMatch: 3}");
  prepare(p, &f, "m", NULL, prompt, S_NS);
  ck_assert_double_eq(total(&f), 0);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  /* default: 256 blocks */
  p = producer("{autoTune: false, blockSizeTokens: 1}");
  char *big = sy_malloc(4 * 300 + 1);
  memset(big, 'q', 4 * 300);
  big[4 * 300] = 0;
  prepare(p, &f, "m", NULL, big, S_NS);
  ck_assert_double_eq(total(&f), 256);
  sy_free(big);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  sy_arena_cleanup(&f.arena);
}
END_TEST

START_TEST(test_cache_salt_and_model_change_h0) {
  uint64_t a[2], b[2], c[2];
  const char *prompt = B0;
  sy_pfx_hash_prompt("m", 1, NULL, 0, prompt, 16, 16, 256, a);
  sy_pfx_hash_prompt("m", 1, "salt", 4, prompt, 16, 16, 256, b);
  sy_pfx_hash_prompt("m2", 2, NULL, 0, prompt, 16, 16, 256, c);
  ck_assert_uint_ne(a[0], b[0]);
  ck_assert_uint_ne(a[0], c[0]);
  ck_assert_uint_eq(b[0], h_next(B0, 16, h_seed("m", "salt")));
  ck_assert_uint_eq(h_seed("m", "salt"), XXH64("msalt", 5, 0));
  /* through the producer: a salted request does not match an unsalted one */
  void *p = producer(P4);
  fix_t f;
  fix_init(&f, 2);
  decide(p, &f, B0 B1, 0, S_NS);
  prepare(p, &f, "m", NULL, B0 B1, 2 * S_NS);
  ck_assert_double_eq(matched(&f, 0), 2);
  prepare(p, &f, "m", "tenant-a", B0 B1, 3 * S_NS);
  ck_assert_double_eq(matched(&f, 0), 0);
  prepare(p, &f, "other-model", NULL, B0 B1, 4 * S_NS);
  ck_assert_double_eq(matched(&f, 0), 0);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  sy_arena_cleanup(&f.arena);
}
END_TEST

START_TEST(test_autotune_block_size) {
  const char *prompt = B0 B1 "01234567"; /* 40 chars */
  fix_t f;
  fix_init(&f, 2);
  f.cands[0].m.block_size = 2; /* first candidate: 2 tokens = 8 chars */
  f.cands[1].m.block_size = 8; /* ignored: only the first candidate counts */
  void *p = producer("{blockSizeTokens: 4}"); /* autoTune defaults to true */
  prepare(p, &f, "m", NULL, prompt, S_NS);
  ck_assert_double_eq(total(&f), 5);
  int bt = 0;
  ck_assert_int_eq(sy_prefix_match_slot(&sy_plugin_approx_prefix_cache_producer, p, &f.c, &bt), 0);
  ck_assert_int_eq(bt, 2);
  ck_assert_int_eq(sy_prefix_match_slot(&sy_plugin_prefix_cache_scorer, p, &f.c, &bt), -1);
  /* the hashes are the 8-char ones */
  commit(p, &f, 0, -1);
  uint64_t h1 = h_next("aaaaaaaa", 8, h_seed("m", NULL));
  ck_assert(sy_pfx_index_holds(ix_of(p), f.addr[0], h1));
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  /* unknown block size (0) → blockSizeTokens */
  f.cands[0].m.block_size = 0;
  p = producer("{blockSizeTokens: 4}");
  prepare(p, &f, "m", NULL, prompt, S_NS);
  ck_assert_double_eq(total(&f), 2);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  /* autoTune off ignores the metric */
  f.cands[0].m.block_size = 2;
  p = producer(P4);
  prepare(p, &f, "m", NULL, prompt, S_NS);
  ck_assert_double_eq(total(&f), 2);
  ck_assert_int_eq(sy_prefix_match_slot(&sy_plugin_approx_prefix_cache_producer, p, &f.c, &bt), 0);
  ck_assert_int_eq(bt, 4);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  /* autoTune with blockSizeTokens 0 is valid; with no metric nothing is hashed */
  f.cands[0].m.block_size = 0;
  p = producer("{blockSizeTokens: 0}");
  prepare(p, &f, "m", NULL, prompt, S_NS);
  ck_assert_double_eq(total(&f), 0);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  sy_arena_cleanup(&f.arena);
}
END_TEST

/* ----------------------------------------------------------------- match */

START_TEST(test_match_stops_at_first_missing_hash) {
  sy_pfx_index_t *ix = sy_pfx_index_new();
  ck_assert_ptr_nonnull(ix);
  uint64_t h[5] = {101, 102, 103, 104, 105};
  sy_pfx_target_t A = {"A:1", 100}, B = {"B:1", 100}, C = {"C:1", 100}, D = {"D:1", 100};
  /* A: 101 102 103; B: 101; C: 103 (not 102); D: 101 103 105 */
  ck_assert_int_eq(sy_pfx_index_add(ix, h, 3, &A, 1, S_NS), 0);
  ck_assert_int_eq(sy_pfx_index_add(ix, h, 1, &B, 1, S_NS), 0);
  ck_assert_int_eq(sy_pfx_index_add(ix, &h[2], 1, &C, 1, S_NS), 0);
  uint64_t d[3] = {101, 103, 105};
  ck_assert_int_eq(sy_pfx_index_add(ix, d, 3, &D, 1, S_NS), 0);
  const char *addrs[5] = {"A:1", "B:1", "C:1", "D:1", "E:1"};
  uint32_t cnt[5];
  uint16_t scratch[5];
  /* walk 101 (A B D), 102 (A), 103 (A C D); 104: nobody → stop; 105 not walked */
  sy_pfx_index_match(ix, h, 5, addrs, 5, cnt, scratch, S_NS);
  ck_assert_uint_eq(cnt[0], 3);
  ck_assert_uint_eq(cnt[1], 1);
  ck_assert_uint_eq(cnt[2], 1); /* holds 103 without 102: still +1 (102 was held by A) */
  ck_assert_uint_eq(cnt[3], 2); /* 105 is past the stop */
  ck_assert_uint_eq(cnt[4], 0);
  /* the walk goes on through a hash held only by a non-candidate (upstream:
   * "stop at the first hash that no pod has") */
  const char *only_c[1] = {"C:1"};
  sy_pfx_index_match(ix, h, 5, only_c, 1, cnt, scratch, S_NS);
  ck_assert_uint_eq(cnt[0], 1);
  /* a first hash nobody holds → all zero */
  uint64_t miss[2] = {999, 101};
  sy_pfx_index_match(ix, miss, 2, addrs, 5, cnt, scratch, S_NS);
  for (int i = 0; i < 5; i++) ck_assert_uint_eq(cnt[i], 0);
  /* duplicated candidate addresses both get the count */
  const char *dup[3] = {"A:1", "B:1", "A:1"};
  sy_pfx_index_match(ix, h, 5, dup, 3, cnt, scratch, S_NS);
  ck_assert_uint_eq(cnt[0], 3);
  ck_assert_uint_eq(cnt[1], 1);
  ck_assert_uint_eq(cnt[2], 3);
  /* consecutive blocks with equally sized but different holder sets:
   * 201 {A B}, 202 {A C}, 203 {A C}, 204 {C A} */
  uint64_t g[4] = {201, 202, 203, 204};
  sy_pfx_index_add(ix, g, 4, &A, 1, S_NS);
  sy_pfx_index_add(ix, g, 1, &B, 1, S_NS);
  sy_pfx_index_add(ix, &g[1], 2, &C, 1, S_NS);
  sy_pfx_index_add(ix, &g[3], 1, &C, 1, S_NS);
  sy_pfx_index_match(ix, g, 4, addrs, 5, cnt, scratch, S_NS);
  ck_assert_uint_eq(cnt[0], 4);
  ck_assert_uint_eq(cnt[1], 1);
  ck_assert_uint_eq(cnt[2], 3);
  ck_assert_uint_eq(cnt[3], 0);
  ck_assert_int_eq(sy_pfx_index_check(ix), 0);
  sy_pfx_index_free(ix);
}
END_TEST

START_TEST(test_scores_partial_overlap) {
  void *p = producer(P4);
  void *sc;
  sy_sched_error_t err;
  ck_assert_int_eq(create(&sy_plugin_prefix_cache_scorer, "{prefixMatchInfoProducerName: x}", &sc, &err), 0);
  sy_prefix_scorer_bind(sc, p);
  fix_t f;
  fix_init(&f, 4);
  decide(p, &f, B0 B1 B2 B3, 0, S_NS);       /* endpoint 0: blocks 0-3 */
  decide(p, &f, B0 B1 BX BY, 1, 2 * S_NS);   /* endpoint 1: 0, 1, then diverges */
  decide(p, &f, B0 BX BY B3, 2, 3 * S_NS);   /* endpoint 2: 0 only in common */
  prepare(p, &f, "m", NULL, B0 B1 B2 BX "tail", 4 * S_NS); /* 4 blocks (tail ignored) */
  ck_assert_double_eq(total(&f), 4);
  ck_assert_double_eq(matched(&f, 0), 3);
  ck_assert_double_eq(matched(&f, 1), 2);
  ck_assert_double_eq(matched(&f, 2), 1);
  ck_assert_double_eq(matched(&f, 3), 0);
  double s[MAXC];
  scores(sc, &f, s);
  ck_assert_double_eq(s[0], 0.75);
  ck_assert_double_eq(s[1], 0.5);
  ck_assert_double_eq(s[2], 0.25);
  ck_assert_double_eq(s[3], 0.0);
  /* an unbound scorer (no producer) scores 0 */
  void *lonely;
  ck_assert_int_eq(create(&sy_plugin_prefix_cache_scorer, NULL, &lonely, &err), 0);
  scores(lonely, &f, s);
  ck_assert_double_eq(s[0], 0.0);
  sy_plugin_prefix_cache_scorer.destroy(lonely);
  /* the P/D prefill target is recorded too */
  prepare(p, &f, "m", NULL, B3 B2 B1 B0, 5 * S_NS);
  commit(p, &f, 1, 3);
  prepare(p, &f, "m", NULL, B3 B2 B1 B0, 6 * S_NS);
  ck_assert_double_eq(matched(&f, 1), 4);
  ck_assert_double_eq(matched(&f, 3), 4);
  ck_assert_double_eq(matched(&f, 0), 0);
  ck_assert_int_eq(sy_pfx_index_check(ix_of(p)), 0);
  sy_plugin_prefix_cache_scorer.destroy(sc);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  sy_arena_cleanup(&f.arena);
}
END_TEST

/* ----------------------------------------------------------------- index */

START_TEST(test_lru_eviction_capacity_from_num_blocks) {
  void *p = producer("{blockSizeTokens: 4, lruCapacityPerServer: 1000}"); /* autoTune on */
  sy_pfx_index_t *ix = ix_of(p);
  fix_t f;
  fix_init(&f, 2);
  f.cands[0].m.num_blocks = 3; /* capacity 3 for endpoint 0 */
  uint64_t r1_0 = h_next(B0, 16, h_seed("m", NULL)), r1_1 = h_next(B1, 16, r1_0);
  uint64_t r2_0 = h_next(B2, 16, h_seed("m", NULL)), r2_1 = h_next(B3, 16, r2_0);
  decide(p, &f, B0 B1, 0, S_NS);
  ck_assert_uint_eq(sy_pfx_index_ep_capacity(ix, f.addr[0]), 3);
  ck_assert_uint_eq(sy_pfx_index_ep_entries(ix, f.addr[0]), 2);
  decide(p, &f, B2 B3, 0, 2 * S_NS); /* 4th entry evicts the oldest: r1_0 */
  ck_assert_uint_eq(sy_pfx_index_ep_entries(ix, f.addr[0]), 3);
  ck_assert(!sy_pfx_index_holds(ix, f.addr[0], r1_0));
  ck_assert(sy_pfx_index_holds(ix, f.addr[0], r1_1));
  ck_assert(sy_pfx_index_holds(ix, f.addr[0], r2_0));
  ck_assert(sy_pfx_index_holds(ix, f.addr[0], r2_1));
  /* reverse map cleaned: nobody holds r1_0, so R1 now matches nothing
   * (its first block is gone) */
  ck_assert_uint_eq(sy_pfx_index_holders(ix, r1_0), 0);
  ck_assert_uint_eq(sy_pfx_index_hashes(ix), 3);
  prepare(p, &f, "m", NULL, B0 B1, 3 * S_NS);
  ck_assert_double_eq(matched(&f, 0), 0);
  /* LRU now (newest first): r2_1, r2_0, r1_1. Re-sending R1: r1_0 enters
   * and evicts r1_1, then r1_1 re-enters and evicts r2_0. */
  decide(p, &f, B0 B1, 0, 4 * S_NS);
  ck_assert(sy_pfx_index_holds(ix, f.addr[0], r1_0));
  ck_assert(sy_pfx_index_holds(ix, f.addr[0], r1_1));
  ck_assert(sy_pfx_index_holds(ix, f.addr[0], r2_1));
  ck_assert(!sy_pfx_index_holds(ix, f.addr[0], r2_0));
  /* endpoint 1 has no num_blocks → lruCapacityPerServer */
  decide(p, &f, B0 B1, 1, 5 * S_NS);
  ck_assert_uint_eq(sy_pfx_index_ep_capacity(ix, f.addr[1]), 1000);
  ck_assert_uint_eq(sy_pfx_index_holders(ix, r1_0), 2);
  /* capacity follows num_blocks when it changes (shrink evicts) */
  f.cands[0].m.num_blocks = 1;
  decide(p, &f, B0 B1, 0, 6 * S_NS);
  ck_assert_uint_eq(sy_pfx_index_ep_entries(ix, f.addr[0]), 1);
  ck_assert(sy_pfx_index_holds(ix, f.addr[0], r1_1)); /* the last hash is the most recent */
  ck_assert_uint_eq(sy_pfx_index_holders(ix, r2_1), 0);
  ck_assert_int_eq(sy_pfx_index_check(ix), 0);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  /* autoTune off: num_blocks ignored */
  p = producer("{autoTune: false, blockSizeTokens: 4, lruCapacityPerServer: 7}");
  f.cands[0].m.num_blocks = 3;
  decide(p, &f, B0 B1, 0, S_NS);
  ck_assert_uint_eq(sy_pfx_index_ep_capacity(ix_of(p), f.addr[0]), 7);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
  sy_arena_cleanup(&f.arena);
}
END_TEST

START_TEST(test_reverse_map_cleanup_and_growth) {
  sy_pfx_index_t *ix = sy_pfx_index_new();
  enum { NE = 40, NH = 3000 };
  static uint64_t h[NH];
  for (size_t i = 0; i < NH; i++) h[i] = 0x9e3779b97f4a7c15ull * (i + 1);
  char addr[NE][16];
  for (int e = 0; e < NE; e++) {
    snprintf(addr[e], sizeof(addr[e]), "e%d:1", e);
    sy_pfx_target_t t = {addr[e], 500};
    /* every endpoint holds the shared first 10 hashes, then its own slice */
    ck_assert_int_eq(sy_pfx_index_add(ix, h, 10, &t, 1, S_NS), 0);
    ck_assert_int_eq(sy_pfx_index_add(ix, &h[10 + (size_t)e * 50], 700, &t, 1, S_NS), 0);
  }
  ck_assert_int_eq(sy_pfx_index_check(ix), 0);
  /* capacity 500 and 700 newer hashes: the shared 10 were evicted everywhere */
  ck_assert_uint_eq(sy_pfx_index_holders(ix, h[0]), 0);
  ck_assert_uint_eq(sy_pfx_index_size(ix), (size_t)NE * 500);
  /* re-add the shared prefix to all: 40 holders (heap holder arrays) */
  for (int e = 0; e < NE; e++) {
    sy_pfx_target_t t = {addr[e], 500};
    sy_pfx_index_add(ix, h, 10, &t, 1, 2 * S_NS);
  }
  ck_assert_uint_eq(sy_pfx_index_holders(ix, h[0]), NE);
  ck_assert_int_eq(sy_pfx_index_check(ix), 0);
  /* shrink every endpoint to 5: the shared hashes (most recent) partly stay */
  for (int e = 0; e < NE; e++) {
    sy_pfx_target_t t = {addr[e], 5};
    sy_pfx_index_add(ix, NULL, 0, &t, 1, 3 * S_NS);
  }
  ck_assert_uint_eq(sy_pfx_index_size(ix), (size_t)NE * 5);
  ck_assert_uint_eq(sy_pfx_index_holders(ix, h[9]), NE);
  ck_assert_uint_eq(sy_pfx_index_holders(ix, h[0]), 0);
  ck_assert_uint_eq(sy_pfx_index_hashes(ix), 5);
  ck_assert_int_eq(sy_pfx_index_check(ix), 0);
  /* explicit purge of everything */
  ck_assert_uint_eq(sy_pfx_index_purge(ix, 10 * S_NS), NE);
  ck_assert_uint_eq(sy_pfx_index_size(ix), 0);
  ck_assert_uint_eq(sy_pfx_index_hashes(ix), 0);
  ck_assert_uint_eq(sy_pfx_index_endpoints(ix), 0);
  ck_assert_int_eq(sy_pfx_index_check(ix), 0);
  sy_pfx_index_free(ix);
}
END_TEST

START_TEST(test_purge_vanished_endpoints) {
  sy_pfx_index_t *ix = sy_pfx_index_new();
  uint64_t ha[2] = {1, 2}, hb[2] = {3, 4}, hc[1] = {5};
  sy_pfx_target_t A = {"A:1", 10}, B = {"B:1", 10}, C = {"C:1", 10};
  uint64_t t0 = 1000 * S_NS;
  sy_pfx_index_add(ix, ha, 2, &A, 1, t0);
  sy_pfx_index_add(ix, hb, 2, &B, 1, t0);
  ck_assert_uint_eq(sy_pfx_index_endpoints(ix), 2);
  /* A stays a candidate; B vanished */
  const char *only_a[1] = {"A:1"};
  uint32_t cnt[1];
  uint16_t scr[1];
  sy_pfx_index_match(ix, ha, 2, only_a, 1, cnt, scr, t0 + 61 * S_NS);
  ck_assert_uint_eq(cnt[0], 2);
  sy_pfx_index_add(ix, ha, 2, &A, 1, t0 + 61 * S_NS);
  ck_assert_uint_eq(sy_pfx_index_endpoints(ix), 2); /* not yet: 2 min not over */
  sy_pfx_index_match(ix, ha, 2, only_a, 1, cnt, scr, t0 + 119 * S_NS);
  sy_pfx_index_add(ix, ha, 2, &A, 1, t0 + 121 * S_NS);
  ck_assert_uint_eq(sy_pfx_index_endpoints(ix), 1);
  ck_assert_uint_eq(sy_pfx_index_ep_entries(ix, "B:1"), 0);
  ck_assert_uint_eq(sy_pfx_index_holders(ix, 3), 0);
  ck_assert_uint_eq(sy_pfx_index_holders(ix, 1), 1);
  ck_assert_uint_eq(sy_pfx_index_size(ix), 2);
  ck_assert_int_eq(sy_pfx_index_check(ix), 0);
  /* after an idle gap the clock restarts: A (seen at +121 s) survives the
   * first request 15 min later, and is purged 2 min after that */
  uint64_t t1 = t0 + 1000 * S_NS;
  sy_pfx_index_add(ix, hc, 1, &C, 1, t1);
  ck_assert_uint_eq(sy_pfx_index_endpoints(ix), 2);
  sy_pfx_index_add(ix, hc, 1, &C, 1, t1 + 60 * S_NS);
  ck_assert_uint_eq(sy_pfx_index_endpoints(ix), 2);
  sy_pfx_index_add(ix, hc, 1, &C, 1, t1 + 121 * S_NS);
  ck_assert_uint_eq(sy_pfx_index_endpoints(ix), 1);
  ck_assert_uint_eq(sy_pfx_index_ep_entries(ix, "C:1"), 1);
  ck_assert_int_eq(sy_pfx_index_check(ix), 0);
  sy_pfx_index_free(ix);
}
END_TEST

START_TEST(test_bounds) {
  sy_pfx_index_t *ix = sy_pfx_index_new();
  uint64_t h[3] = {7, 8, 9};
  /* capacity clamps */
  sy_pfx_target_t big = {"big:1", (uint64_t)1 << 40}, zero = {"zero:1", 0};
  sy_pfx_index_add(ix, h, 3, &big, 1, S_NS);
  sy_pfx_index_add(ix, h, 3, &zero, 1, S_NS);
  ck_assert_uint_eq(sy_pfx_index_ep_capacity(ix, "big:1"), SY_PFX_MAX_CAPACITY);
  ck_assert_uint_eq(sy_pfx_index_ep_capacity(ix, "zero:1"), 1);
  ck_assert_uint_eq(sy_pfx_index_ep_entries(ix, "zero:1"), 1);
  ck_assert(sy_pfx_index_holds(ix, "zero:1", 9));
  /* endpoint cap: the one seen least recently makes room */
  char a[32];
  for (unsigned i = 0; i < SY_PFX_MAX_ENDPOINTS; i++) {
    snprintf(a, sizeof(a), "10.1.%u.%u:80", i / 256, i % 256);
    sy_pfx_target_t t = {a, 4};
    uint64_t hh = 1000 + i;
    sy_pfx_index_add(ix, &hh, 1, &t, 1, 2 * S_NS + i);
  }
  ck_assert_uint_eq(sy_pfx_index_endpoints(ix), SY_PFX_MAX_ENDPOINTS);
  ck_assert_uint_eq(sy_pfx_index_ep_entries(ix, "big:1"), 0);  /* dropped (oldest) */
  ck_assert_uint_eq(sy_pfx_index_ep_entries(ix, "zero:1"), 0); /* dropped */
  ck_assert_uint_eq(sy_pfx_index_ep_entries(ix, "10.1.0.0:80"), 1);
  ck_assert_uint_eq(sy_pfx_index_holders(ix, 7), 0);
  ck_assert_uint_eq(sy_pfx_index_size(ix), SY_PFX_MAX_ENDPOINTS); /* one hash each */
  ck_assert_int_eq(sy_pfx_index_check(ix), 0);
  sy_pfx_index_free(ix);
}
END_TEST

START_TEST(test_alloc_failures_keep_index_consistent) {
  static uint64_t h[600];
  for (size_t i = 0; i < 600; i++) h[i] = 0xabcdef12345ull * (i + 3);
  for (long k = 1; k < 400; k += 3) {
    sy_pfx_index_t *ix = sy_pfx_index_new();
    ck_assert_ptr_nonnull(ix);
    sy_alloc_fail_after(k);
    char a[16];
    for (int e = 0; e < 8; e++) {
      snprintf(a, sizeof(a), "e%d:1", e);
      sy_pfx_target_t t[2] = {{a, 300}, {"shared:1", 1000}};
      (void)sy_pfx_index_add(ix, &h[(size_t)e * 20], 400, t, 2, S_NS);
    }
    sy_alloc_fail_after(0);
    ck_assert_msg(sy_pfx_index_check(ix) == 0, "k=%ld: check %d", k, sy_pfx_index_check(ix));
    ck_assert_uint_le(sy_pfx_index_size(ix), 8 * 300 + 1000);
    sy_pfx_index_free(ix);
  }
}
END_TEST

/* ---------------------------------------------------------------- params */

static void expect_error(const sy_sched_plugin_type_t *t, const char *text, const char *needle, int line) {
  void *st;
  sy_sched_error_t err;
  int rc = create(t, text, &st, &err);
  ck_assert_msg(rc == SY_EINVAL, "%s: %s accepted", t->type, text);
  ck_assert_msg(strstr(err.msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", text, err.msg, needle);
  if (line) ck_assert_int_eq(err.line, line);
  ck_assert_ptr_null(st);
}

static void expect_ok(const sy_sched_plugin_type_t *t, const char *text) {
  void *st;
  sy_sched_error_t err;
  int rc = create(t, text, &st, &err);
  ck_assert_msg(rc == 0, "%s: %s rejected: %s", t->type, text ? text : "(none)", err.msg);
  t->destroy(st);
}

START_TEST(test_params) {
  const sy_sched_plugin_type_t *types[2] = {&sy_plugin_approx_prefix_cache_producer, &sy_plugin_prefix_cache_scorer};
  for (int i = 0; i < 2; i++) {
    const sy_sched_plugin_type_t *t = types[i];
    expect_ok(t, NULL);
    expect_ok(t, "~");
    expect_ok(t, "{}");
    expect_ok(t,
              "autoTune: true\nblockSizeTokens: 64\nmaxPrefixBlocksToMatch: 2048\nmaxPrefixTokensToMatch: 131072\n"
              "lruCapacityPerServer: 100\nprefixMatchInfoProducerName: approx-prefix-cache-producer\n");
    expect_ok(t, "{autoTune: true, blockSizeTokens: 0}");
    /* the deprecated blockSize alone is accepted (blockSizeTokens defaults to 16) */
    expect_ok(t, "{blockSize: 64}");
    expect_ok(t, "{blockSize: 64, blockSizeTokens: 16}");
    expect_ok(t, "autoTune: true\nhashBlockSize: 5\n"); /* llm-d legacy key: accepted, ignored */
    expect_error(t, "autoTune: true\nhashBlockSizes: 5\n", "unknown parameter \"hashBlockSizes\"", 2);
    expect_error(t, "{blockSizeTokens: \"16\"}", "\"blockSizeTokens\" must be an integer", 1);
    expect_error(t, "{blockSizeTokens: 1.5}", "\"blockSizeTokens\" must be an integer", 1);
    expect_error(t, "{autoTune: 1}", "\"autoTune\" must be a boolean", 1);
    expect_error(t, "{autoTune: \"true\"}", "\"autoTune\" must be a boolean", 1);
    expect_error(t, "{lruCapacityPerServer: 0}", "lruCapacityPerServer", 1);
    expect_error(t, "{maxPrefixBlocksToMatch: -1}", "maxPrefixBlocksToMatch", 1);
    expect_error(t, "{maxPrefixTokensToMatch: -5}", "maxPrefixTokensToMatch", 1);
    expect_error(t, "{blockSizeTokens: -1}", "blockSizeTokens", 1);
    expect_error(t, "\n\nblockSize: 64\nblockSizeTokens: 0\n", "\"blockSize\" (64) is deprecated", 3);
    expect_error(t, "{autoTune: false, blockSizeTokens: 0}", "must be > 0 when autoTune is false", 1);
    expect_error(t, "{autoTune: false, blockSize: 64, blockSizeTokens: 0}", "deprecated", 1);
    expect_error(t, "[1, 2]", "parameters must be a mapping", 1);
    expect_error(t, "{prefixMatchInfoProducerName: 5}", "must be a string", 1);
    expect_error(t, "{prefixMatchInfoProducerName: \"\"}", "must not be empty", 1);
  }
}
END_TEST

/* ------------------------------------------------------- with the framework */

static const char *const HDR =
    "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n";

static int from_config(const char *body, sy_sched_t **s, sy_sched_error_t *err) {
  char text[2048];
  snprintf(text, sizeof(text), "%s%s", HDR, body);
  memset(err, 0, sizeof(*err));
  return sy_sched_new_from_config(s, "cfg.yaml", text, strlen(text), err);
}

START_TEST(test_default_config_sticks_to_prefix) {
  sy_sched_t *s;
  sy_sched_error_t err;
  ck_assert_int_eq(sy_sched_new_from_config(&s, "default", NULL, 0, &err), 0);
  enum { NE = 6 };
  sy_endpoint_t eps[NE];
  const sy_endpoint_t *ptr[NE];
  char addr[NE][32];
  memset(eps, 0, sizeof(eps));
  for (int i = 0; i < NE; i++) {
    snprintf(addr[i], sizeof(addr[i]), "10.9.0.%d:8000", i + 1);
    eps[i].address = eps[i].name = eps[i].ip = addr[i];
    eps[i].port = 8000;
    eps[i].state = sy_endpoint_state_new();
    ptr[i] = &eps[i];
  }
  char prompt[4096 + 1];
  for (size_t i = 0; i < 4096; i++) prompt[i] = (char)('a' + (i * 13 + i / 7) % 26);
  prompt[4096] = 0;
  sy_sched_request_t req = {.request_id = "r1", .model = "m", .prompt = prompt, .prompt_len = 4096};
  sy_arena_t a;
  sy_arena_init(&a, 64 * 1024, 0);
  sy_sched_result_t out;
  ck_assert_int_eq(sy_sched_schedule(s, &a, S_NS, &req, ptr, NE, &out), 0);
  const sy_endpoint_t *first = out.endpoints[0];
  for (int i = 0; i < 20; i++) {
    sy_arena_reset(&a);
    ck_assert_int_eq(sy_sched_schedule(s, &a, S_NS + (uint64_t)i, &req, ptr, NE, &out), 0);
    ck_assert_ptr_eq(out.endpoints[0], first);
  }
  /* the auto-created producer: 4096 / 64 = 64 blocks recorded once */
  const sy_sched_plugin_type_t *t;
  void *st = sy_sched_plugin_find(s, "approx-prefix-cache-producer", &t);
  ck_assert_ptr_eq(t, &sy_plugin_approx_prefix_cache_producer);
  ck_assert_uint_eq(sy_prefix_index_size(st), 64);
  int bt = 0;
  ck_assert_int_ge(sy_prefix_match_slot(t, st, NULL, &bt), 0);
  ck_assert_int_eq(bt, 16);
  sy_arena_cleanup(&a);
  sy_sched_free(s);
  for (int i = 0; i < NE; i++) sy_endpoint_state_unref(eps[i].state);
}
END_TEST

START_TEST(test_config_wiring) {
  sy_sched_t *s;
  sy_sched_error_t err;
  /* the scorer's parameters reach the auto-created producer */
  int rc = from_config("plugins:\n- type: prefix-cache-scorer\n  parameters: {autoTune: false, blockSizeTokens: 4}\n",
                       &s, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  const sy_sched_plugin_type_t *t;
  void *st = sy_sched_plugin_find(s, "approx-prefix-cache-producer", &t);
  int bt = 0;
  ck_assert_int_ge(sy_prefix_match_slot(t, st, NULL, &bt), 0);
  ck_assert_int_eq(bt, 4);
  sy_sched_free(s);
  /* a named producer */
  rc = from_config("plugins:\n- name: px\n  type: approx-prefix-cache-producer\n"
                   "- type: prefix-cache-scorer\n  parameters: {prefixMatchInfoProducerName: px}\n",
                   &s, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  sy_sched_free(s);
  /* a missing or mistyped producer is a config error */
  rc = from_config("plugins:\n- type: approx-prefix-cache-producer\n"
                   "- type: prefix-cache-scorer\n  parameters: {prefixMatchInfoProducerName: nope}\n",
                   &s, &err);
  ck_assert_int_eq(rc, SY_EINVAL);
  ck_assert_msg(strstr(err.msg, "producer \"nope\" not found"), "%s", err.msg);
  rc = from_config("plugins:\n- type: approx-prefix-cache-producer\n- type: queue-scorer\n"
                   "- type: prefix-cache-scorer\n  parameters: {prefixMatchInfoProducerName: queue-scorer}\n",
                   &s, &err);
  ck_assert_int_eq(rc, SY_EINVAL);
  ck_assert_msg(strstr(err.msg, "is a queue-scorer"), "%s", err.msg);
  /* parameter errors are located */
  rc = from_config("plugins:\n- type: prefix-cache-scorer\n  parameters:\n    blockSizeToken: 4\n", &s, &err);
  ck_assert_int_eq(rc, SY_EINVAL);
  ck_assert_msg(strstr(err.msg, "unknown parameter \"blockSizeToken\""), "%s", err.msg);
  ck_assert_int_eq(err.line, 6);
}
END_TEST

/* ------------------------------------------------------------ concurrency */

typedef struct worker {
  void *prod, *scorer;
  unsigned seed;
  long hits;
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = arg;
  static const char *prefixes[4] = {B0 B1 B2, B1 B2 B3, BX BY B0, B3 B3 B3};
  fix_t *f = sy_malloc(sizeof(*f));
  fix_init(f, 12);
  char prompt[256];
  for (int i = 0; i < 10000; i++) {
    w->seed = w->seed * 1103515245u + 12345u;
    unsigned r = w->seed >> 8;
    snprintf(prompt, sizeof(prompt), "%s%08u%s", prefixes[r % 4], r % 50, "................................");
    f->cands[0].m.num_blocks = (long)(r % 3 == 0 ? 64 : 0);
    prepare(w->prod, f, "m", NULL, prompt, (uint64_t)(i + 1) * 1000000ull);
    double s[MAXC];
    scores(w->scorer, f, s);
    int best = (int)(r % f->n);
    for (size_t k = 0; k < f->n; k++) {
      if (s[k] > s[best]) best = (int)k;
    }
    if (s[best] > 0) w->hits++;
    commit(w->prod, f, best, r % 7 == 0 ? (int)((r >> 4) % f->n) : -1);
    (void)sy_prefix_index_size(w->prod);
  }
  sy_arena_cleanup(&f->arena);
  sy_free(f);
  return NULL;
}

START_TEST(test_concurrent_decisions) {
  void *p = producer("{autoTune: true, blockSizeTokens: 2, lruCapacityPerServer: 200}");
  void *sc;
  sy_sched_error_t err;
  ck_assert_int_eq(create(&sy_plugin_prefix_cache_scorer, NULL, &sc, &err), 0);
  sy_prefix_scorer_bind(sc, p);
  pthread_t th[2];
  worker_t w[2] = {{p, sc, 1, 0}, {p, sc, 2, 0}};
  for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  ck_assert_int_eq(sy_pfx_index_check(ix_of(p)), 0);
  ck_assert_uint_gt(w[0].hits + w[1].hits, 10000); /* shared prefixes do match */
  ck_assert_uint_le(sy_prefix_index_size(p), 12 * 200);
  ck_assert_uint_gt(sy_prefix_index_size(p), 0);
  sy_plugin_prefix_cache_scorer.destroy(sc);
  sy_plugin_approx_prefix_cache_producer.destroy(p);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("prefix");
  TCase *tc = tcase_create("hashing");
  tcase_add_test(tc, test_xxh64_vector);
  tcase_add_test(tc, test_hash_exact);
  tcase_add_test(tc, test_hash_partial_block_ignored);
  tcase_add_test(tc, test_under_one_block_scores_zero);
  tcase_add_test(tc, test_max_blocks_truncation);
  tcase_add_test(tc, test_cache_salt_and_model_change_h0);
  tcase_add_test(tc, test_autotune_block_size);
  suite_add_tcase(s, tc);
  tc = tcase_create("index");
  tcase_add_test(tc, test_match_stops_at_first_missing_hash);
  tcase_add_test(tc, test_scores_partial_overlap);
  tcase_add_test(tc, test_lru_eviction_capacity_from_num_blocks);
  tcase_add_test(tc, test_reverse_map_cleanup_and_growth);
  tcase_add_test(tc, test_purge_vanished_endpoints);
  tcase_add_test(tc, test_bounds);
  tcase_add_test(tc, test_alloc_failures_keep_index_consistent);
  suite_add_tcase(s, tc);
  tc = tcase_create("params");
  tcase_add_test(tc, test_params);
  suite_add_tcase(s, tc);
  tc = tcase_create("framework");
  tcase_add_test(tc, test_default_config_sticks_to_prefix);
  tcase_add_test(tc, test_config_wiring);
  suite_add_tcase(s, tc);
  tc = tcase_create("threads");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_concurrent_decisions);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
