/* Unit tests for switchyard-sim's pure parts: engine model, flags, request
 * parsing, rendering, chunked decoding and /metrics. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "sim.h"
#include "test_support.h"

#define MS 1000000ull

static sy_sim_model_params_t params(void) {
  return (sy_sim_model_params_t){.latency = SY_SIM_LATENCY_CONSTANT,
                                 .ttft_ms = 20,
                                 .itl_ms = 5,
                                 .max_num_seqs = 2,
                                 .max_queue = 2,
                                 .kv_blocks = 100,
                                 .block_size = 16,
                                 .n_loras = 2,
                                 .max_loras = 2,
                                 .prefix_caching = true};
}

/* The per-token calculator: 1 ms per uncached token, 5 ms overhead, 1 ms
 * ITL, 4-token blocks. */
static sy_sim_model_params_t prefill_params(void) {
  return (sy_sim_model_params_t){.latency = SY_SIM_LATENCY_PER_TOKEN,
                                 .ttft_ms = 1000, /* ignored by this calculator */
                                 .itl_ms = 1,
                                 .prefill_overhead_ms = 5,
                                 .prefill_ms_per_token = 1,
                                 .max_num_seqs = 8,
                                 .max_queue = 8,
                                 .kv_blocks = 100,
                                 .block_size = 4,
                                 .prefix_caching = true};
}

static sy_sim_req_t mk(int prompt, int out, int lora) {
  sy_sim_req_t r;
  memset(&r, 0, sizeof(r));
  r.prompt_tokens = prompt;
  r.output_tokens = out;
  r.lora = lora;
  return r;
}

static sy_sim_req_t mkh(int prompt, int out, const uint64_t *hashes, int n) {
  sy_sim_req_t r = mk(prompt, out, -1);
  r.block_hashes = hashes;
  r.n_block_hashes = n;
  return r;
}

/* ----------------------------------------------------------------- model */

START_TEST(model_rejects_bad_params) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  p.max_num_seqs = 0;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), SY_EINVAL);
  p = params();
  p.itl_ms = -1;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), SY_EINVAL);
  p = params();
  p.n_loras = SY_SIM_MAX_LORAS + 1;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), SY_EINVAL);
  p = params();
  p.max_loras = 0;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), SY_EINVAL);
  p = params();
  p.kv_blocks = SY_SIM_MAX_KV_BLOCKS + 1;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), SY_EINVAL);
  p = params();
  p.prefill_ms_per_token = -0.1;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), SY_EINVAL);
  p = params();
  p.latency = (sy_sim_latency_t)7;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), SY_EINVAL);
}
END_TEST

START_TEST(model_slots_queue_fifo) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  sy_sim_req_t a = mk(10, 3, -1), b = mk(10, 3, -1), c = mk(10, 3, 0), d = mk(10, 3, 1), e = mk(10, 3, -1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &a, 0), 1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &b, 0), 1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &c, 1 * MS), 0);
  ck_assert_int_eq(sy_sim_model_submit(&m, &d, 2 * MS), 0);
  ck_assert_int_eq(sy_sim_model_submit(&m, &e, 3 * MS), SY_ETOOBIG);
  ck_assert_int_eq(e.state, SY_SIM_REQ_NEW);
  ck_assert_int_eq(m.n_running, 2);
  ck_assert_int_eq(m.n_waiting, 2);
  ck_assert_int_eq(m.lora_waiting[0], 1);
  ck_assert_int_eq(m.lora_waiting[1], 1);
  ck_assert_ptr_null(sy_sim_model_admit(&m, 5 * MS));

  sy_sim_model_finish(&m, &b, 30 * MS);
  ck_assert_int_eq(b.state, SY_SIM_REQ_DONE);
  ck_assert_ptr_eq(sy_sim_model_admit(&m, 30 * MS), &c); /* FIFO head first */
  ck_assert_ptr_null(sy_sim_model_admit(&m, 30 * MS));
  ck_assert_int_eq(c.start_ns, 30 * MS);
  ck_assert_int_eq(m.lora_running[0], 1);
  ck_assert_int_eq(m.lora_waiting[0], 0);

  /* Aborting a waiting request unlinks it. */
  sy_sim_model_abort(&m, &d, 31 * MS);
  ck_assert_int_eq(m.n_waiting, 0);
  ck_assert_int_eq(m.lora_waiting[1], 0);
  ck_assert_uint_eq(m.finished_abort, 1);
  sy_sim_model_abort(&m, &d, 31 * MS); /* no-op once done */
  ck_assert_uint_eq(m.finished_abort, 1);

  sy_sim_model_finish(&m, &a, 40 * MS);
  sy_sim_model_finish(&m, &c, 70 * MS);
  ck_assert_int_eq(m.n_running, 0);
  ck_assert_int_eq(m.lora_running[0], 0);
  ck_assert_uint_eq(m.finished_length, 3);
  ck_assert_uint_eq(m.generation_tokens_total, 9);
  ck_assert_uint_eq(m.prompt_tokens_total, 30);
  ck_assert_uint_eq(m.ttft.count, 3);
  ck_assert_uint_eq(m.e2e.count, 3);
  ck_assert_uint_eq(m.queue_time.count, 3);
  sy_sim_model_cleanup(&m);
}
END_TEST

START_TEST(model_latency) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  sy_sim_req_t r = mk(16, 4, -1);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 100 * MS), 0); /* not submitted */
  ck_assert_int_eq(sy_sim_model_submit(&m, &r, 1000 * MS), 1);
  ck_assert_uint_eq(sy_sim_model_token_due_ns(&m, &r, 1), 1020 * MS);
  ck_assert_uint_eq(sy_sim_model_token_due_ns(&m, &r, 4), 1035 * MS);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 1019 * MS), 0);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 1020 * MS), 1);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 1024 * MS), 1);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 1025 * MS), 2);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 5000 * MS), 4); /* capped */
  sy_sim_model_cleanup(&m);

  /* Zero ITL: all tokens at the first. */
  p.itl_ms = 0;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  r = mk(16, 7, -1);
  sy_sim_model_submit(&m, &r, 0);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 19 * MS), 0);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 20 * MS), 7);
  sy_sim_model_cleanup(&m);

  /* TTFT counts queueing: arrival at 0, started at 50 ms, first token at 70. */
  p = params();
  p.max_num_seqs = 1;
  sy_sim_model_init(&m, &p);
  sy_sim_req_t a = mk(1, 1, -1), b = mk(1, 1, -1);
  sy_sim_model_submit(&m, &a, 0);
  sy_sim_model_submit(&m, &b, 0);
  sy_sim_model_finish(&m, &a, 50 * MS);
  ck_assert_ptr_eq(sy_sim_model_admit(&m, 50 * MS), &b);
  ck_assert_uint_eq(b.first_ns, 70 * MS);
  sy_sim_model_first_token(&m, &b, 70 * MS);
  sy_sim_model_first_token(&m, &b, 80 * MS); /* idempotent */
  ck_assert_uint_eq(m.ttft.count, 2);
  ck_assert(m.ttft.sum > 0.069 && m.ttft.sum < 0.121);
  sy_sim_model_cleanup(&m);

  /* The constant calculator ignores the prompt; the per-token one charges
   * 5 + 1000 × 0.05 = 55 ms (and ignores ttft_ms). */
  p = params();
  p.prefill_overhead_ms = 5;
  p.prefill_ms_per_token = 0.05;
  sy_sim_model_init(&m, &p);
  a = mk(1000, 1, -1);
  sy_sim_model_submit(&m, &a, 0);
  ck_assert_uint_eq(a.first_ns, 20 * MS);
  sy_sim_model_cleanup(&m);
  p.latency = SY_SIM_LATENCY_PER_TOKEN;
  sy_sim_model_init(&m, &p);
  b = mk(1000, 1, -1);
  sy_sim_model_submit(&m, &b, 0);
  ck_assert_uint_eq(b.first_ns, 55 * MS);
  sy_sim_model_cleanup(&m);
}
END_TEST

START_TEST(model_kv_blocks) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  p.max_num_seqs = 10;
  p.max_queue = 10;
  p.kv_blocks = 10;
  p.block_size = 16;
  p.itl_ms = 1;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  ck_assert_int_eq(sy_sim_model_blocks_for(&m, 0), 0);
  ck_assert_int_eq(sy_sim_model_blocks_for(&m, 1), 1);
  ck_assert_int_eq(sy_sim_model_blocks_for(&m, 16), 1);
  ck_assert_int_eq(sy_sim_model_blocks_for(&m, 17), 2);

  /* Admission reserves prompt + output: a needs ⌈96/16⌉ = 6 blocks in the
   * end, b 3, c 5 (6 + 3 + 5 > 10). */
  sy_sim_req_t a = mk(64, 32, -1), b = mk(32, 16, -1), c = mk(64, 1, -1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &a, 0), 1);
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, 0), 4);
  ck_assert_int_eq(sy_sim_model_submit(&m, &b, 0), 1);
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, 0), 6);
  ck_assert(sy_sim_model_kv_usage(&m, 0) > 0.59 && sy_sim_model_kv_usage(&m, 0) < 0.61);
  ck_assert_int_eq(sy_sim_model_submit(&m, &c, 0), 0); /* queued although slots are free */
  /* Decode grows the running requests: 17 tokens out at 36 ms → a holds
   * ⌈81/16⌉ = 6 blocks, b (16 tokens, done) 3. */
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, 36 * MS), 9);
  ck_assert(sy_sim_model_kv_usage(&m, 36 * MS) > 0.89 && sy_sim_model_kv_usage(&m, 36 * MS) < 0.91);
  sy_sim_model_finish(&m, &a, 60 * MS);
  ck_assert_ptr_eq(sy_sim_model_admit(&m, 60 * MS), &c);

  /* An idle engine takes an oversized prompt rather than block forever. */
  sy_sim_model_finish(&m, &b, 61 * MS);
  sy_sim_model_finish(&m, &c, 62 * MS);
  sy_sim_req_t huge = mk(100000, 1, -1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &huge, 70 * MS), 1);
  ck_assert(sy_sim_model_kv_usage(&m, 70 * MS) == 1.0); /* clamped */
  sy_sim_model_abort(&m, &huge, 71 * MS);
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, 71 * MS), 0);
  sy_sim_model_cleanup(&m);
}
END_TEST

START_TEST(model_abort_running_counts_tokens) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  sy_sim_model_init(&m, &p);
  sy_sim_req_t r = mk(8, 100, -1);
  sy_sim_model_submit(&m, &r, 0);
  sy_sim_model_abort(&m, &r, 30 * MS); /* tokens at 20, 25 and 30 ms */
  ck_assert_uint_eq(m.generation_tokens_total, 3);
  ck_assert_uint_eq(m.prompt_tokens_total, 8);
  ck_assert_int_eq(m.n_running, 0);
  sy_sim_model_cleanup(&m);
}
END_TEST

/* Shared prefixes across requests: cached tokens, exact TTFTs, counters. */
START_TEST(model_prefix_cache_hits) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = prefill_params();
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  /* 26 tokens = 6 full 4-token blocks + 2 tokens; the first 4 shared. */
  static const uint64_t ha[] = {1, 2, 3, 4, 10, 11}, hb[] = {1, 2, 3, 4, 20, 21};
  sy_sim_req_t a = mkh(26, 2, ha, 6), b = mkh(26, 2, hb, 6), c = mkh(26, 2, ha, 6);

  /* Cold: 26 uncached tokens → 5 + 26 = 31 ms. */
  ck_assert_int_eq(sy_sim_model_peek_cached_tokens(&m, &a), 0);
  ck_assert_int_eq(sy_sim_model_submit(&m, &a, 0), 1);
  ck_assert_int_eq(a.cached_tokens, 0);
  ck_assert_uint_eq(a.first_ns, 31 * MS);
  sy_sim_model_finish(&m, &a, 32 * MS);
  for (int i = 0; i < 6; i++) ck_assert(sy_sim_model_block_cached(&m, ha[i]));
  ck_assert(!sy_sim_model_block_cached(&m, 20));

  /* Shares 4 blocks: 10 uncached tokens → 5 + 10 = 15 ms. */
  ck_assert_int_eq(sy_sim_model_peek_cached_tokens(&m, &b), 16);
  ck_assert_int_eq(sy_sim_model_submit(&m, &b, 100 * MS), 1);
  ck_assert_int_eq(b.cached_tokens, 16);
  ck_assert_uint_eq(b.first_ns, 115 * MS);
  sy_sim_model_finish(&m, &b, 120 * MS);

  /* The same prompt again: all 6 blocks hit, 2 tokens left → 7 ms. */
  ck_assert_int_eq(sy_sim_model_submit(&m, &c, 200 * MS), 1);
  ck_assert_int_eq(c.cached_tokens, 24);
  ck_assert_uint_eq(c.first_ns, 207 * MS);
  sy_sim_model_finish(&m, &c, 210 * MS);

  /* A prompt that is exactly 4 blocks: the last token is always computed
   * (as vLLM), so only 3 blocks count → 12 cached, 4 uncached → 9 ms. */
  sy_sim_req_t d = mkh(16, 1, ha, 4);
  ck_assert_int_eq(sy_sim_model_submit(&m, &d, 300 * MS), 1);
  ck_assert_int_eq(d.cached_tokens, 12);
  ck_assert_uint_eq(d.first_ns, 309 * MS);
  sy_sim_model_finish(&m, &d, 310 * MS);

  /* TTFT grows with uncached tokens: 100 tokens, nothing cacheable. */
  sy_sim_req_t e = mk(100, 1, -1);
  sy_sim_model_submit(&m, &e, 400 * MS);
  ck_assert_uint_eq(e.first_ns, 505 * MS);
  sy_sim_model_finish(&m, &e, 505 * MS);

  ck_assert_uint_eq(m.prefix_queries_total, 26 * 3 + 16 + 100);
  ck_assert_uint_eq(m.prefix_hits_total, 16 + 24 + 12);
  sy_sim_model_cleanup(&m);

  /* Prefix caching off: the same sequence never hits. */
  p.prefix_caching = false;
  sy_sim_model_init(&m, &p);
  a = mkh(26, 2, ha, 6);
  c = mkh(26, 2, ha, 6);
  sy_sim_model_submit(&m, &a, 0);
  sy_sim_model_finish(&m, &a, 40 * MS);
  sy_sim_model_submit(&m, &c, 100 * MS);
  ck_assert_int_eq(c.cached_tokens, 0);
  ck_assert_uint_eq(c.first_ns, 131 * MS);
  ck_assert_uint_eq(m.prefix_hits_total, 0);
  sy_sim_model_cleanup(&m);
}
END_TEST

/* A hit on blocks still being prefilled by another request waits for them;
 * blocks of a request that left mid-prefill are not kept. */
START_TEST(model_prefix_cache_inflight) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = prefill_params();
  sy_sim_model_init(&m, &p);
  static const uint64_t ha[] = {1, 2, 3, 4, 10, 11}, hb[] = {1, 2, 3, 4, 20, 21}, hc[] = {7, 8};
  sy_sim_req_t a = mkh(26, 2, ha, 6), b = mkh(26, 2, hb, 6), c = mkh(9, 1, hc, 2);
  sy_sim_model_submit(&m, &a, 0); /* its blocks are computed at 26 ms */
  sy_sim_model_submit(&m, &b, 10 * MS);
  ck_assert_int_eq(b.cached_tokens, 16);
  ck_assert_uint_eq(b.first_ns, (26 + 10 + 5) * MS);

  sy_sim_model_submit(&m, &c, 50 * MS); /* prefill ends at 59 ms */
  ck_assert(sy_sim_model_block_cached(&m, 7));
  sy_sim_model_abort(&m, &c, 55 * MS);
  ck_assert(!sy_sim_model_block_cached(&m, 7));
  ck_assert(!sy_sim_model_block_cached(&m, 8));
  sy_sim_model_cleanup(&m);
}
END_TEST

/* Prefills share one lane when serial: the second waits for the first. */
START_TEST(model_serial_prefill) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = prefill_params();
  p.serial_prefill = true;
  sy_sim_model_init(&m, &p);
  sy_sim_req_t a = mk(100, 1, -1), b = mk(50, 1, -1);
  sy_sim_model_submit(&m, &a, 0);
  sy_sim_model_submit(&m, &b, 0);
  ck_assert_uint_eq(a.first_ns, 105 * MS);
  ck_assert_uint_eq(b.first_ns, 155 * MS);
  sy_sim_model_finish(&m, &a, 105 * MS);
  sy_sim_model_finish(&m, &b, 155 * MS);
  /* An idle lane starts at once. */
  sy_sim_req_t c = mk(10, 1, -1);
  sy_sim_model_submit(&m, &c, 1000 * MS);
  ck_assert_uint_eq(c.first_ns, 1015 * MS);
  sy_sim_model_finish(&m, &c, 1015 * MS);
  /* The last one on the lane leaves mid-prefill: the lane is free again. */
  sy_sim_req_t d = mk(1000, 1, -1), e = mk(10, 1, -1);
  sy_sim_model_submit(&m, &d, 2000 * MS); /* lane busy until 3000 ms */
  sy_sim_model_abort(&m, &d, 2100 * MS);
  sy_sim_model_submit(&m, &e, 2100 * MS);
  ck_assert_uint_eq(e.first_ns, 2115 * MS);
  sy_sim_model_cleanup(&m);

  p.serial_prefill = false;
  sy_sim_model_init(&m, &p);
  a = mk(100, 1, -1);
  b = mk(50, 1, -1);
  sy_sim_model_submit(&m, &a, 0);
  sy_sim_model_submit(&m, &b, 0);
  ck_assert_uint_eq(b.first_ns, 55 * MS);
  sy_sim_model_cleanup(&m);
}
END_TEST

/* Free cached blocks go LRU, a finished request's tail block first; pinned
 * blocks are never evicted. 9-token prompts: 2 full blocks + 1 private. */
START_TEST(model_prefix_cache_lru_and_pinning) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = prefill_params();
  p.kv_blocks = 8;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  static const uint64_t h1[] = {11, 12}, h2[] = {21, 22}, h3[] = {31, 32}, h4[] = {41, 42}, h5[] = {51, 52},
                        h6[] = {61}, h7[] = {71};
  sy_sim_req_t r1 = mkh(9, 1, h1, 2), r2 = mkh(9, 1, h2, 2), r3 = mkh(9, 1, h3, 2);
  uint64_t t = 0;
  sy_sim_req_t *seq[] = {&r1, &r2, &r3};
  for (int i = 0; i < 3; i++, t += 100 * MS) {
    ck_assert_int_eq(sy_sim_model_submit(&m, seq[i], t), 1);
    sy_sim_model_finish(&m, seq[i], t + 50 * MS);
  }
  ck_assert_int_eq(m.kv_entries, 6);
  ck_assert_int_eq(m.kv_pinned, 0);
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, t), 0); /* cached but free */

  /* r4: 2 new blocks fill the cache, its private block evicts r1's tail. */
  sy_sim_req_t r4 = mkh(9, 1, h4, 2);
  ck_assert_int_eq(sy_sim_model_submit(&m, &r4, t), 1);
  ck_assert(!sy_sim_model_block_cached(&m, 12));
  ck_assert(sy_sim_model_block_cached(&m, 11));
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, t), 3);

  /* r5: evicts 11 (for a slot), then r2's 22 and 21 (for private blocks). */
  sy_sim_req_t r5 = mkh(9, 1, h5, 2);
  ck_assert_int_eq(sy_sim_model_submit(&m, &r5, t + 1 * MS), 1);
  ck_assert(!sy_sim_model_block_cached(&m, 11));
  ck_assert(!sy_sim_model_block_cached(&m, 22));
  ck_assert(!sy_sim_model_block_cached(&m, 21));
  ck_assert(sy_sim_model_block_cached(&m, 31) && sy_sim_model_block_cached(&m, 32));
  ck_assert_uint_eq(m.evictions, 4);

  /* r6 (5 tokens: 1 block + 1 private) takes the last 2 blocks: r3's go,
   * the pinned ones of r4 and r5 stay; the cache is full. */
  sy_sim_req_t r6 = mkh(5, 1, h6, 1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &r6, t + 2 * MS), 1);
  ck_assert(!sy_sim_model_block_cached(&m, 31) && !sy_sim_model_block_cached(&m, 32));
  for (size_t i = 0; i < 2; i++) ck_assert(sy_sim_model_block_cached(&m, h4[i]) && sy_sim_model_block_cached(&m, h5[i]));
  ck_assert(sy_sim_model_block_cached(&m, 61));
  ck_assert_int_eq(m.kv_pinned, 5);
  ck_assert(sy_sim_model_kv_usage(&m, t + 2 * MS) == 1.0);

  /* r7 does not fit next to the pinned blocks: it waits for space. */
  sy_sim_req_t r7 = mkh(5, 1, h7, 1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &r7, t + 3 * MS), 0);
  ck_assert(sy_sim_model_block_cached(&m, 41));
  sy_sim_model_finish(&m, &r4, t + 100 * MS);
  ck_assert_ptr_eq(sy_sim_model_admit(&m, t + 100 * MS), &r7);
  /* r4's freed blocks are the only free ones; its tail went first. */
  ck_assert(!sy_sim_model_block_cached(&m, 42));
  ck_assert(sy_sim_model_block_cached(&m, 41));
  ck_assert(sy_sim_model_block_cached(&m, 71));

  sy_sim_model_finish(&m, &r5, t + 200 * MS);
  sy_sim_model_finish(&m, &r6, t + 200 * MS);
  sy_sim_model_finish(&m, &r7, t + 200 * MS);
  ck_assert_int_eq(m.kv_pinned, 0);
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, t + 200 * MS), 0);
  ck_assert(m.kv_entries <= p.kv_blocks);
  sy_sim_model_cleanup(&m);
}
END_TEST

/* kv_cache_usage_perc: shared blocks count once, free cached ones not. */
START_TEST(model_kv_usage_shared) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = prefill_params();
  p.kv_blocks = 20;
  sy_sim_model_init(&m, &p);
  static const uint64_t ha[] = {1, 2, 3, 4, 10, 11}, hb[] = {1, 2, 3, 4, 20, 21};
  sy_sim_req_t a = mkh(26, 2, ha, 6), b = mkh(26, 2, hb, 6);
  sy_sim_model_submit(&m, &a, 0);
  sy_sim_model_submit(&m, &b, 0);
  /* 4 shared + 2 + 2 own blocks, plus one private block each. */
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, 0), 10);
  ck_assert(sy_sim_model_kv_usage(&m, 0) == 0.5);
  /* Decode: 26 + 2 tokens still fit the private block. */
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, 100 * MS), 10);
  sy_sim_model_finish(&m, &a, 100 * MS);
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, 100 * MS), 7); /* a's 2 own + 1 private freed */
  sy_sim_model_finish(&m, &b, 100 * MS);
  ck_assert(sy_sim_model_kv_usage(&m, 100 * MS) == 0.0);
  ck_assert_int_eq(m.kv_entries, 8);
  sy_sim_model_cleanup(&m);
}
END_TEST

/* LoRA slots: loading costs TTFT, a request whose adapter cannot get a
 * slot waits (others pass it), the LRU idle adapter is evicted. */
START_TEST(model_lora_slots) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = prefill_params();
  p.prefill_ms_per_token = 0;
  p.n_loras = 3;
  p.max_loras = 2;
  p.lora_load_ms = 50;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  sy_sim_req_t r0 = mk(4, 1, 0), r1 = mk(4, 1, 1), r0b = mk(4, 1, 0), r2 = mk(4, 1, 2), rb = mk(4, 1, -1),
               r1c = mk(4, 1, 1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &r0, 0), 1);
  ck_assert(r0.lora_loaded_now);
  ck_assert_uint_eq(r0.first_ns, 55 * MS); /* load 50 + overhead 5 */
  ck_assert_int_eq(sy_sim_model_submit(&m, &r1, 1 * MS), 1);
  ck_assert_uint_eq(r1.first_ns, 56 * MS);
  /* Adapter 0 is still loading: the second request waits for the load. */
  ck_assert_int_eq(sy_sim_model_submit(&m, &r0b, 2 * MS), 1);
  ck_assert(!r0b.lora_loaded_now);
  ck_assert_uint_eq(r0b.first_ns, 55 * MS);
  ck_assert_uint_eq(m.lora_loads, 2);

  /* Both slots busy: r2 waits, the base-model request behind it runs. */
  ck_assert_int_eq(sy_sim_model_submit(&m, &r2, 3 * MS), 0);
  ck_assert_int_eq(m.lora_waiting[2], 1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &rb, 4 * MS), 1);
  ck_assert_uint_eq(rb.first_ns, 9 * MS);
  ck_assert_ptr_null(sy_sim_model_admit(&m, 5 * MS));

  /* Adapter 1 goes idle: r2 evicts it. */
  sy_sim_model_finish(&m, &r1, 100 * MS);
  ck_assert_ptr_eq(sy_sim_model_admit(&m, 100 * MS), &r2);
  ck_assert(r2.lora_loaded_now);
  ck_assert_uint_eq(r2.first_ns, 155 * MS);
  ck_assert(m.lora_loaded[0] && !m.lora_loaded[1] && m.lora_loaded[2]);
  ck_assert_int_eq(m.lora_waiting[2], 0);
  ck_assert_int_eq(m.lora_running[2], 1);

  /* Adapter 1 again: 0 and 2 are busy, so it waits until 0 is idle. */
  ck_assert_int_eq(sy_sim_model_submit(&m, &r1c, 110 * MS), 0);
  sy_sim_model_finish(&m, &r0, 120 * MS);
  ck_assert_ptr_null(sy_sim_model_admit(&m, 120 * MS)); /* r0b still uses adapter 0 */
  sy_sim_model_finish(&m, &r0b, 121 * MS);
  ck_assert_ptr_eq(sy_sim_model_admit(&m, 121 * MS), &r1c);
  ck_assert(!m.lora_loaded[0] && m.lora_loaded[1] && m.lora_loaded[2]);
  ck_assert_uint_eq(r1c.first_ns, 176 * MS);
  ck_assert_uint_eq(m.lora_loads, 4);

  /* LRU among idle adapters: finish both, then load 0: 2 (used longer ago) goes. */
  sy_sim_model_finish(&m, &r2, 200 * MS);
  sy_sim_model_finish(&m, &r1c, 210 * MS);
  sy_sim_model_finish(&m, &rb, 210 * MS);
  sy_sim_req_t r0c = mk(4, 1, 0);
  ck_assert_int_eq(sy_sim_model_submit(&m, &r0c, 300 * MS), 1);
  ck_assert(m.lora_loaded[0] && m.lora_loaded[1] && !m.lora_loaded[2]);
  sy_sim_model_finish(&m, &r0c, 400 * MS);
  sy_sim_model_cleanup(&m);
}
END_TEST

/* ITL grows with the running batch when the load factor is set. */
START_TEST(model_itl_load_factor) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = prefill_params();
  p.itl_ms = 10;
  p.itl_load_factor = 0.5;
  sy_sim_model_init(&m, &p);
  sy_sim_req_t a = mk(4, 10, -1), b = mk(4, 10, -1), c = mk(4, 10, -1);
  sy_sim_model_submit(&m, &a, 0);
  sy_sim_model_submit(&m, &b, 0);
  sy_sim_model_submit(&m, &c, 0);
  ck_assert_uint_eq(a.itl_ns, 10 * MS);
  ck_assert_uint_eq(b.itl_ns, 15 * MS);
  ck_assert_uint_eq(c.itl_ns, 20 * MS);
  ck_assert_uint_eq(sy_sim_model_token_due_ns(&m, &c, 3), c.first_ns + 40 * MS);
  sy_sim_model_cleanup(&m);
}
END_TEST

typedef struct run_out {
  uint64_t first[16], itl[16];
  int cached[16];
} run_out_t;

/* A fixed scenario with jitter: shared prefixes, queueing, finishes. */
static void run_scenario(uint64_t seed, run_out_t *o) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = prefill_params();
  p.seed = seed;
  p.ttft_std_ms = 3;
  p.itl_std_ms = 0.3;
  p.max_num_seqs = 3;
  p.max_queue = 16;
  p.serial_prefill = true;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  static const uint64_t hs[4][3] = {{1, 2, 3}, {1, 2, 4}, {1, 5, 6}, {7, 8, 9}};
  sy_sim_req_t r[16];
  for (int i = 0; i < 16; i++) {
    r[i] = mkh(13, 4, hs[i % 4], 3);
    sy_sim_model_submit(&m, &r[i], (uint64_t)i * 7 * MS);
    /* Finish whatever is due, then admit. */
    for (int j = 0; j <= i; j++)
      if (r[j].state == SY_SIM_REQ_RUNNING && sy_sim_model_token_due_ns(&m, &r[j], 4) <= (uint64_t)i * 7 * MS)
        sy_sim_model_finish(&m, &r[j], (uint64_t)i * 7 * MS);
    while (sy_sim_model_admit(&m, (uint64_t)i * 7 * MS)) {
    }
  }
  for (uint64_t t = 112 * MS; m.n_running + m.n_waiting > 0; t += MS) {
    for (int j = 0; j < 16; j++)
      if (r[j].state == SY_SIM_REQ_RUNNING && sy_sim_model_token_due_ns(&m, &r[j], 4) <= t)
        sy_sim_model_finish(&m, &r[j], t);
    while (sy_sim_model_admit(&m, t)) {
    }
  }
  for (int i = 0; i < 16; i++) {
    o->first[i] = r[i].first_ns - r[i].start_ns;
    o->itl[i] = r[i].itl_ns;
    o->cached[i] = r[i].cached_tokens;
    ck_assert_int_eq(r[i].state, SY_SIM_REQ_DONE);
  }
  sy_sim_model_cleanup(&m);
}

START_TEST(model_deterministic_seed) {
  run_out_t a, b, c;
  run_scenario(42, &a);
  run_scenario(42, &b);
  run_scenario(43, &c);
  ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
  ck_assert(memcmp(a.first, c.first, sizeof(a.first)) != 0);
  int hits = 0;
  for (int i = 0; i < 16; i++) {
    hits += a.cached[i] > 0;
    /* ITL jitter is clamped to ±70 %. */
    ck_assert(a.itl[i] >= 300000 && a.itl[i] <= 1700000);
  }
  ck_assert_int_gt(hits, 8);
}
END_TEST

/* Block hashes: the EPP's chaining, fed in any pieces. */
START_TEST(hasher_chain) {
  sy_sim_hasher_t h;
  const char text[] = "abcdefghijklmnopqrstuvwxyz"; /* 26 bytes: 3 blocks of 8 */
  ck_assert_int_eq(sy_sim_hasher_init(&h, "mod", "salt", 8, 100), 0);
  for (size_t i = 0; i < 26; i++) ck_assert_int_eq(sy_sim_hasher_feed(&h, text + i, 1), 0);
  ck_assert_uint_eq(h.total, 26);
  int n = 0;
  uint64_t *got = sy_sim_hasher_take(&h, &n);
  sy_sim_hasher_cleanup(&h);
  ck_assert_int_eq(n, 3);
  uint64_t prev = XXH64("modsalt", 7, 0);
  for (int i = 0; i < 3; i++) {
    unsigned char buf[16];
    memcpy(buf, text + 8 * i, 8);
    for (int k = 0; k < 8; k++) buf[8 + k] = (unsigned char)(prev >> (8 * k));
    prev = XXH64(buf, 16, 0);
    ck_assert_uint_eq(got[i], prev);
  }
  /* In one piece, with a cap of 2 blocks: the same first two hashes. */
  ck_assert_int_eq(sy_sim_hasher_init(&h, "mod", "salt", 8, 2), 0);
  ck_assert_int_eq(sy_sim_hasher_feed(&h, text, 26), 0);
  ck_assert_uint_eq(h.total, 26);
  int n2 = 0;
  uint64_t *got2 = sy_sim_hasher_take(&h, &n2);
  sy_sim_hasher_cleanup(&h);
  ck_assert_int_eq(n2, 2);
  ck_assert(got2[0] == got[0] && got2[1] == got[1]);
  /* Another model: other hashes. max 0: bytes counted, nothing hashed. */
  ck_assert_int_eq(sy_sim_hasher_init(&h, "other", "salt", 8, 100), 0);
  sy_sim_hasher_feed(&h, text, 26);
  ck_assert(h.n == 3 && h.hashes[0] != got[0]);
  sy_sim_hasher_cleanup(&h);
  ck_assert_int_eq(sy_sim_hasher_init(&h, "mod", NULL, 8, 0), 0);
  sy_sim_hasher_feed(&h, text, 26);
  ck_assert(h.total == 26 && h.n == 0);
  sy_sim_hasher_cleanup(&h);
  sy_free(got);
  sy_free(got2);
}
END_TEST

START_TEST(hist_buckets) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  sy_sim_model_init(&m, &p);
  sy_sim_hist_observe(&m.ttft, 0.001); /* on the edge: le="0.001" */
  sy_sim_hist_observe(&m.ttft, 0.0011);
  sy_sim_hist_observe(&m.ttft, 99999);
  ck_assert_uint_eq(m.ttft.counts[0], 1);
  ck_assert_uint_eq(m.ttft.counts[1], 1);
  ck_assert_uint_eq(m.ttft.counts[m.ttft.n_bounds], 1);
  ck_assert_uint_eq(m.ttft.count, 3);
  sy_sim_model_cleanup(&m);
}
END_TEST

/* ----------------------------------------------------------------- flags */

static int parse(sy_sim_config_t *c, const char *const *args, int n, char *err) {
  char *argv[32];
  argv[0] = (char *)"switchyard-sim";
  for (int i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
  return sy_sim_config_parse(c, n + 1, argv, err, 256);
}

START_TEST(flags_defaults_and_forms) {
  sy_sim_config_t c;
  char err[256];
  const char *a[] = {"--listen", "127.0.0.2:8000"};
  ck_assert_int_eq(parse(&c, a, 2, err), 0);
  ck_assert_str_eq(c.listen_host, "127.0.0.2");
  ck_assert_int_eq(c.listen_port, 8000);
  ck_assert_str_eq(c.model, SY_SIM_DEFAULT_MODEL);
  ck_assert_str_eq(c.instance_id, "127.0.0.2:8000");
  ck_assert(c.ttft_ms == 20 && c.itl_ms == 5);
  ck_assert_int_eq(c.max_num_seqs, 8);
  ck_assert_int_eq(c.max_queue, 1000);
  ck_assert_int_eq(c.kv_blocks, 1024);
  ck_assert_int_eq(c.block_size, 16);
  ck_assert_int_eq(c.max_body_bytes, 33554432);
  ck_assert_int_eq(c.max_loras, 1);
  ck_assert(!c.seed_set);
  ck_assert_int_eq(c.chars_per_token, 4);
  ck_assert(c.prefill_overhead_ms == 5 && c.prefill_ms_per_token == 0.05 && c.lora_load_ms == 50);
  ck_assert(c.itl_load_factor == 0 && c.ttft_std_ms == 0 && c.itl_std_ms == 0);
  ck_assert(c.prefix_caching && c.serial_prefill);
  ck_assert_int_eq(c.latency, SY_SIM_LATENCY_PER_TOKEN);
  sy_sim_config_cleanup(&c);

  /* Calculator: --ttft-ms alone keeps the constant TTFT; with a prefill
   * flag, or when named, the choice follows. */
  const char *l1[] = {"--listen=:1", "--ttft-ms=3"};
  ck_assert_int_eq(parse(&c, l1, 2, err), 0);
  ck_assert_int_eq(c.latency, SY_SIM_LATENCY_CONSTANT);
  sy_sim_config_cleanup(&c);
  const char *l2[] = {"--listen=:1", "--ttft-ms=3", "--prefill-overhead-ms=1"};
  ck_assert_int_eq(parse(&c, l2, 3, err), 0);
  ck_assert_int_eq(c.latency, SY_SIM_LATENCY_PER_TOKEN);
  sy_sim_config_cleanup(&c);
  const char *l3[] = {"--listen=:1", "--latency-calculator=constant"};
  ck_assert_int_eq(parse(&c, l3, 2, err), 0);
  ck_assert_int_eq(c.latency, SY_SIM_LATENCY_CONSTANT);
  sy_sim_config_cleanup(&c);
  const char *l4[] = {"--listen=:1", "--ttft-ms=3", "--latency-calculator", "per-token"};
  ck_assert_int_eq(parse(&c, l4, 4, err), 0);
  ck_assert_int_eq(c.latency, SY_SIM_LATENCY_PER_TOKEN);
  sy_sim_config_cleanup(&c);

  const char *nb[] = {"--listen=:1",         "--prefix-caching=false", "--serial-prefill", "false",
                      "--prefill-ms-per-token", "0.1",               "--lora=a,b,c",     "--max-loras=2",
                      "--itl-load-factor=0.25", "--chars-per-token=3", "--lora-load-ms=7", "--ttft-std-dev-ms=1",
                      "--itl-std-dev-ms=0.5", "--prefill-overhead-ms=0"};
  ck_assert_int_eq(parse(&c, nb, 14, err), 0);
  ck_assert(!c.prefix_caching && !c.serial_prefill);
  ck_assert(c.prefill_ms_per_token == 0.1 && c.itl_load_factor == 0.25 && c.lora_load_ms == 7);
  ck_assert(c.ttft_std_ms == 1 && c.itl_std_ms == 0.5 && c.prefill_overhead_ms == 0);
  ck_assert_int_eq(c.max_loras, 2);
  ck_assert_int_eq(c.chars_per_token, 3);
  sy_sim_config_cleanup(&c);
  /* A bare boolean flag is true and leaves the next flag alone. */
  const char *bare[] = {"--prefix-caching=0", "--prefix-caching", "--listen=:1"};
  ck_assert_int_eq(parse(&c, bare, 3, err), 0);
  ck_assert(c.prefix_caching);
  sy_sim_config_cleanup(&c);

  const char *b[] = {"-listen=:9000",  "--model=m",   "--lora", " x , y,,z ", "--instance-id=pod-1",
                     "--ttft-ms", "1.5", "--itl-ms=0", "-v",     "4",          "--seed=42",
                     "--max-num-seqs=3", "--kv-blocks", "7"};
  ck_assert_int_eq(parse(&c, b, 14, err), 0);
  ck_assert_str_eq(c.listen_host, "");
  ck_assert_int_eq(c.listen_port, 9000);
  ck_assert_str_eq(c.model, "m");
  ck_assert_int_eq(c.n_loras, 3);
  ck_assert_str_eq(c.loras[0], "x");
  ck_assert_str_eq(c.loras[1], "y");
  ck_assert_str_eq(c.loras[2], "z");
  ck_assert_int_eq(c.max_loras, 3);
  ck_assert_int_eq(sy_sim_config_lora_index(&c, "z"), 2);
  ck_assert_int_eq(sy_sim_config_lora_index(&c, "m"), -1);
  ck_assert_str_eq(c.instance_id, "pod-1");
  ck_assert(c.ttft_ms == 1.5 && c.itl_ms == 0);
  ck_assert_int_eq(c.verbosity, 4);
  ck_assert(c.seed_set && c.seed == 42);
  ck_assert_int_eq(c.max_num_seqs, 3);
  ck_assert_int_eq(c.kv_blocks, 7);
  sy_sim_config_cleanup(&c);
}
END_TEST

START_TEST(flags_errors) {
  sy_sim_config_t c;
  char err[256];
  const char *none[] = {"--model", "x"};
  ck_assert_int_eq(parse(&c, none, 2, err), SY_EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "--listen"));
  sy_sim_config_cleanup(&c);
  const char *cases[][2] = {
      {"--listen", "nohostport"}, {"--listen", "1.2.3.4:0"}, {"--ttft-ms", "-1"},
      {"--itl-ms", "abc"},        {"--max-num-seqs", "0"},  {"--output-tokens", "5000"},
      {"--bogus", "1"},           {"--seed", "-3"},         {"-v", "9"},
      {"--max-loras", "0"},       {"--chars-per-token", "0"}, {"--prefix-caching=maybe", "-v=1"},
      {"--kv-blocks", "99999999"}, {"--prefill-ms-per-token", "-1"}, {"--latency-calculator", "fast"},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    const char *a[] = {"--listen=127.0.0.1:1", cases[i][0], cases[i][1]};
    ck_assert_msg(parse(&c, a, 3, err) == SY_EINVAL, "case %zu accepted", i);
    sy_sim_config_cleanup(&c);
  }
  const char *missing[] = {"--listen=127.0.0.1:1", "--model"};
  ck_assert_int_eq(parse(&c, missing, 2, err), SY_EINVAL);
  sy_sim_config_cleanup(&c);
  const char *dup[] = {"--listen=127.0.0.1:1", "--lora=a,a"};
  ck_assert_int_eq(parse(&c, dup, 2, err), SY_EINVAL);
  sy_sim_config_cleanup(&c);
  const char *help[] = {"--help"};
  ck_assert_int_eq(parse(&c, help, 1, err), 1);
  sy_sim_config_cleanup(&c);
}
END_TEST

/* ------------------------------------------------------------- requests */

static sy_sim_config_t test_cfg(void) {
  sy_sim_config_t c;
  char err[256];
  const char *a[] = {"--listen=127.0.0.1:1", "--model=base", "--lora=l1,l2", "--output-tokens=7"};
  ck_assert_int_eq(parse(&c, a, 4, err), 0);
  return c;
}

static int preq(sy_sim_request_t *r, sy_sim_api_t api, const char *body, sy_sim_error_t *e, const sy_sim_config_t *c) {
  return sy_sim_request_parse(r, api, body, strlen(body), c, e);
}

START_TEST(request_completions) {
  sy_sim_config_t c = test_cfg();
  sy_sim_request_t r;
  sy_sim_error_t e;
  ck_assert_int_eq(preq(&r, SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"abcdefghi\"}", &e, &c), 0);
  ck_assert_str_eq(r.model, "base");
  ck_assert_int_eq(r.lora, -1);
  ck_assert_int_eq(r.prompt_tokens, 3); /* 9 bytes / 4, rounded up */
  ck_assert(!r.stream && !r.include_usage);
  ck_assert_int_eq(r.max_tokens, 0);
  ck_assert_int_eq(sy_sim_request_output_tokens(&r, &c), 7);
  sy_sim_request_cleanup(&r);

  ck_assert_int_eq(preq(&r, SY_SIM_API_COMPLETIONS,
                        "{\"model\":\"l2\",\"prompt\":[\"abcd\",\"efgh\"],\"max_tokens\":9000,\"stream\":true,"
                        "\"stream_options\":{\"include_usage\":true}}  \n",
                        &e, &c),
                   0);
  ck_assert_int_eq(r.lora, 1);
  ck_assert_int_eq(r.prompt_bytes, 9); /* "abcd efgh": joined with a space, as the EPP does */
  ck_assert_int_eq(r.prompt_tokens, 3);
  ck_assert(r.stream && r.include_usage);
  ck_assert_int_eq(sy_sim_request_output_tokens(&r, &c), SY_SIM_MAX_OUTPUT_TOKENS);
  sy_sim_request_cleanup(&r);

  ck_assert_int_eq(preq(&r, SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":[[1,2,3],[4]],\"max_tokens\":2}",
                        &e, &c),
                   0);
  ck_assert_int_eq(r.prompt_tokens, 4);
  ck_assert_int_eq(sy_sim_request_output_tokens(&r, &c), 2);
  sy_sim_request_cleanup(&r);
  sy_sim_config_cleanup(&c);
}
END_TEST

START_TEST(request_chat) {
  sy_sim_config_t c = test_cfg();
  sy_sim_request_t r;
  sy_sim_error_t e;
  const char *body =
      "{\"model\":\"l1\",\"max_tokens\":3,\"max_completion_tokens\":5,\"messages\":["
      "{\"role\":\"system\",\"content\":\"abcd\"},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"efgh\"},{\"type\":\"image_url\"}]},"
      "{\"role\":\"assistant\",\"content\":null}]}";
  ck_assert_int_eq(preq(&r, SY_SIM_API_CHAT, body, &e, &c), 0);
  ck_assert_int_eq(r.lora, 0);
  ck_assert_int_eq(r.prompt_bytes, 27); /* "system" "abcd" "user" "efgh" "assistant" */
  ck_assert_int_eq(r.prompt_tokens, 7);
  ck_assert_int_eq(r.max_tokens, 5);
  sy_sim_request_cleanup(&r);
  sy_sim_config_cleanup(&c);
}
END_TEST

START_TEST(request_errors) {
  sy_sim_config_t c = test_cfg();
  static const struct {
    sy_sim_api_t api;
    const char *body;
    int status;
  } cases[] = {
      {SY_SIM_API_COMPLETIONS, "", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":", 400},
      {SY_SIM_API_COMPLETIONS, "{} x", 400},
      {SY_SIM_API_COMPLETIONS, "[]", 400},
      {SY_SIM_API_COMPLETIONS, "{\"prompt\":\"x\"}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":7,\"prompt\":\"x\"}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"other\",\"prompt\":\"x\"}", 404},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\"}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"\"}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":[]}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":{}}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"x\",\"max_tokens\":0}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"x\",\"max_tokens\":1.5}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"x\",\"stream\":\"yes\"}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"x\",\"stream_options\":3}", 400},
      {SY_SIM_API_CHAT, "{\"model\":\"base\"}", 400},
      {SY_SIM_API_CHAT, "{\"model\":\"base\",\"messages\":[]}", 400},
      {SY_SIM_API_CHAT, "{\"model\":\"base\",\"messages\":[{\"content\":\"x\"}]}", 400},
      {SY_SIM_API_CHAT, "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    sy_sim_request_t r;
    sy_sim_error_t e;
    ck_assert_msg(preq(&r, cases[i].api, cases[i].body, &e, &c) == SY_EPARSE, "case %zu accepted", i);
    ck_assert_msg(e.status == cases[i].status, "case %zu: status %d", i, e.status);
    ck_assert(e.message[0] && e.type);
    ck_assert_ptr_null(r.model);
  }
  sy_sim_request_t r;
  sy_sim_error_t e;
  preq(&r, SY_SIM_API_COMPLETIONS, "{\"model\":\"nope\",\"prompt\":\"x\"}", &e, &c);
  ck_assert_str_eq(e.message, "The model `nope` does not exist.");
  ck_assert_str_eq(e.type, "NotFoundError");
  sy_sim_config_cleanup(&c);
}
END_TEST

static void expect_hashes(const sy_sim_request_t *r, const char *model, const char *salt, const char *text,
                          size_t block_chars) {
  sy_sim_hasher_t h;
  ck_assert_int_eq(sy_sim_hasher_init(&h, model, salt, block_chars, 1000), 0);
  sy_sim_hasher_feed(&h, text, strlen(text));
  ck_assert_int_eq(r->n_block_hashes, h.n);
  for (int i = 0; i < h.n; i++) ck_assert_uint_eq(r->block_hashes[i], h.hashes[i]);
  sy_sim_hasher_cleanup(&h);
}

START_TEST(request_block_hashes) {
  sy_sim_config_t c;
  char err[256];
  const char *a[] = {"--listen=127.0.0.1:1", "--model=base", "--lora=l1", "--block-size=4"};
  ck_assert_int_eq(parse(&c, a, 4, err), 0);
  sy_sim_request_t r, r2;
  sy_sim_error_t e;
  /* 40 bytes, 16-byte blocks: 2 hashes, 10 tokens. */
  const char *prompt = "0123456789abcdef0123456789ABCDEF01234567";
  char body[512];
  snprintf(body, sizeof(body), "{\"model\":\"base\",\"prompt\":\"%s\"}", prompt);
  ck_assert_int_eq(preq(&r, SY_SIM_API_COMPLETIONS, body, &e, &c), 0);
  ck_assert_int_eq(r.prompt_tokens, 10);
  ck_assert_int_eq(r.n_block_hashes, 2);
  expect_hashes(&r, "base", NULL, prompt, 16);
  /* An adapter is another model: other hashes; so is a cache_salt. */
  snprintf(body, sizeof(body), "{\"model\":\"l1\",\"prompt\":\"%s\"}", prompt);
  ck_assert_int_eq(preq(&r2, SY_SIM_API_COMPLETIONS, body, &e, &c), 0);
  expect_hashes(&r2, "l1", NULL, prompt, 16);
  ck_assert(r2.block_hashes[0] != r.block_hashes[0]);
  sy_sim_request_cleanup(&r2);
  snprintf(body, sizeof(body), "{\"model\":\"base\",\"cache_salt\":\"s\",\"prompt\":\"%s\"}", prompt);
  ck_assert_int_eq(preq(&r2, SY_SIM_API_COMPLETIONS, body, &e, &c), 0);
  expect_hashes(&r2, "base", "s", prompt, 16);
  sy_sim_request_cleanup(&r2);
  sy_sim_request_cleanup(&r);
  ck_assert_int_eq(preq(&r, SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"cache_salt\":1,\"prompt\":\"x\"}", &e, &c),
                   SY_EPARSE);

  /* Chat: role + content; the same system prompt gives the same leading
   * blocks whatever the user asks. */
  const char *chat1 = "{\"model\":\"base\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful bot.\"},"
                      "{\"role\":\"user\",\"content\":\"first question here\"}]}";
  const char *chat2 = "{\"model\":\"base\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful bot.\"},"
                      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"another one, longer\"}]}]}";
  ck_assert_int_eq(preq(&r, SY_SIM_API_CHAT, chat1, &e, &c), 0);
  ck_assert_int_eq(preq(&r2, SY_SIM_API_CHAT, chat2, &e, &c), 0);
  expect_hashes(&r, "base", NULL, "systemYou are a helpful bot.userfirst question here", 16);
  expect_hashes(&r2, "base", NULL, "systemYou are a helpful bot.useranother one, longer", 16);
  ck_assert_int_eq(r.n_block_hashes, 3);
  ck_assert_int_eq(r2.n_block_hashes, 3);
  ck_assert_uint_eq(r.block_hashes[1], r2.block_hashes[1]);
  ck_assert_uint_ne(r.block_hashes[2], r2.block_hashes[2]);
  sy_sim_request_cleanup(&r);
  sy_sim_request_cleanup(&r2);
  sy_sim_config_cleanup(&c);

  /* Token ids: chars_per_token bytes each. Caching off: no hashes. */
  const char *b2[] = {"--listen=127.0.0.1:1", "--model=base", "--block-size=2", "--chars-per-token=2",
                      "--prefix-caching=false"};
  ck_assert_int_eq(parse(&c, b2, 5, err), 0);
  ck_assert_int_eq(preq(&r, SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"abcdefghij\"}", &e, &c), 0);
  ck_assert_int_eq(r.prompt_tokens, 5);
  ck_assert_int_eq(r.n_block_hashes, 0);
  sy_sim_request_cleanup(&r);
  sy_sim_config_cleanup(&c);
  const char *b3[] = {"--listen=127.0.0.1:1", "--model=base", "--block-size=2"};
  ck_assert_int_eq(parse(&c, b3, 3, err), 0);
  ck_assert_int_eq(preq(&r, SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":[1,2,3,4,5]}", &e, &c), 0);
  ck_assert_int_eq(r.prompt_tokens, 5);
  ck_assert_int_eq(r.n_block_hashes, 2);
  ck_assert_int_eq(preq(&r2, SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":[1,2,3,4,6,7]}", &e, &c), 0);
  ck_assert_uint_eq(r.block_hashes[1], r2.block_hashes[1]);
  ck_assert_int_eq(r2.n_block_hashes, 3);
  sy_sim_request_cleanup(&r);
  sy_sim_request_cleanup(&r2);
  sy_sim_config_cleanup(&c);
}
END_TEST

/* ------------------------------------------------------------ rendering */

static cJSON *parse_json(const sy_buf_t *b) {
  cJSON *j = cJSON_ParseWithLength(b->data, b->len);
  ck_assert_msg(j != NULL, "not JSON: %s", b->data);
  return j;
}

static sy_sim_resp_t resp_fixture(sy_sim_api_t api) {
  return (sy_sim_resp_t){.api = api,
                         .id = "cmpl-x",
                         .model = "m\"odel",
                         .created = 123,
                         .text_seed = 99,
                         .prompt_tokens = 4,
                         .completion_tokens = 3,
                         .cached_tokens = 2};
}

START_TEST(render_responses) {
  sy_buf_t b;
  sy_buf_init(&b, 1 << 20);
  sy_sim_resp_t r = resp_fixture(SY_SIM_API_COMPLETIONS);
  ck_assert_int_eq(sy_sim_render_response(&b, &r), 0);
  cJSON *j = parse_json(&b);
  ck_assert_str_eq(cJSON_GetObjectItem(j, "object")->valuestring, "text_completion");
  ck_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, "m\"odel");
  cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
  ck_assert_str_eq(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "length");
  ck_assert(cJSON_IsNull(cJSON_GetObjectItem(ch, "logprobs")));
  const char *text = cJSON_GetObjectItem(ch, "text")->valuestring;
  char want[128];
  snprintf(want, sizeof(want), "%s %s %s", sy_sim_token_word(99, 1, NULL), sy_sim_token_word(99, 2, NULL),
           sy_sim_token_word(99, 3, NULL));
  ck_assert_str_eq(text, want);
  cJSON *u = cJSON_GetObjectItem(j, "usage");
  ck_assert_int_eq(cJSON_GetObjectItem(u, "total_tokens")->valueint, 7);
  ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(u, "prompt_tokens_details"), "cached_tokens")->valueint, 2);
  cJSON_Delete(j);

  sy_buf_reset(&b);
  r.api = SY_SIM_API_CHAT;
  ck_assert_int_eq(sy_sim_render_response(&b, &r), 0);
  j = parse_json(&b);
  ck_assert_str_eq(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion");
  ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
  cJSON *msg = cJSON_GetObjectItem(ch, "message");
  ck_assert_str_eq(cJSON_GetObjectItem(msg, "role")->valuestring, "assistant");
  ck_assert_str_eq(cJSON_GetObjectItem(msg, "content")->valuestring, want);
  cJSON_Delete(j);

  sy_buf_reset(&b);
  ck_assert_int_eq(sy_sim_render_error(&b, 404, "NotFoundError", "no \"such\" model"), 0);
  j = parse_json(&b);
  cJSON *err = cJSON_GetObjectItem(j, "error");
  ck_assert_int_eq(cJSON_GetObjectItem(err, "code")->valueint, 404);
  ck_assert_str_eq(cJSON_GetObjectItem(err, "message")->valuestring, "no \"such\" model");
  cJSON_Delete(j);
  sy_buf_cleanup(&b);
}
END_TEST

START_TEST(render_stream_events) {
  sy_buf_t b;
  sy_buf_init(&b, 1 << 20);
  sy_sim_resp_t r = resp_fixture(SY_SIM_API_CHAT);
  ck_assert_int_eq(sy_sim_render_token_event(&b, &r, 1, false), 0);
  /* First chat token: a role-only chunk, then the content chunk. */
  char *second = strstr(b.data, "\n\ndata: ");
  ck_assert_ptr_nonnull(second);
  ck_assert(strncmp(b.data, "data: {", 7) == 0);
  *second = 0;
  cJSON *j = cJSON_Parse(b.data + 6);
  cJSON *delta = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "delta");
  ck_assert_str_eq(cJSON_GetObjectItem(delta, "role")->valuestring, "assistant");
  ck_assert_str_eq(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion.chunk");
  cJSON_Delete(j);
  sy_buf_reset(&b);

  ck_assert_int_eq(sy_sim_render_token_event(&b, &r, 3, true), 0);
  ck_assert(b.len > 8 && strcmp(b.data + b.len - 2, "\n\n") == 0);
  b.data[b.len - 2] = 0;
  j = cJSON_Parse(b.data + 6);
  cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
  ck_assert_str_eq(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "length");
  char want[64];
  snprintf(want, sizeof(want), " %s", sy_sim_token_word(99, 3, NULL));
  ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "delta"), "content")->valuestring, want);
  cJSON_Delete(j);
  sy_buf_reset(&b);

  r.api = SY_SIM_API_COMPLETIONS;
  ck_assert_int_eq(sy_sim_render_usage_event(&b, &r), 0);
  b.data[b.len - 2] = 0;
  j = cJSON_Parse(b.data + 6);
  ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "choices")), 0);
  ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens")->valueint, 3);
  ck_assert_int_eq(
      cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "prompt_tokens_details"), "cached_tokens")
          ->valueint,
      2);
  cJSON_Delete(j);
  sy_buf_reset(&b);
  ck_assert_int_eq(sy_sim_render_done_event(&b), 0);
  ck_assert_str_eq(b.data, "data: [DONE]\n\n");
  sy_buf_cleanup(&b);
}
END_TEST

START_TEST(render_bounded) {
  sy_buf_t b;
  sy_buf_init(&b, 64);
  sy_sim_resp_t r = resp_fixture(SY_SIM_API_COMPLETIONS);
  r.completion_tokens = 4096;
  ck_assert_int_eq(sy_sim_render_response(&b, &r), SY_ETOOBIG);
  sy_buf_cleanup(&b);
}
END_TEST

START_TEST(render_models_and_json_escape) {
  sy_sim_config_t c = test_cfg();
  sy_buf_t b;
  sy_buf_init(&b, 1 << 16);
  ck_assert_int_eq(sy_sim_render_models(&b, &c, 5), 0);
  cJSON *j = parse_json(&b);
  cJSON *data = cJSON_GetObjectItem(j, "data");
  ck_assert_int_eq(cJSON_GetArraySize(data), 3);
  ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 2), "id")->valuestring, "l2");
  ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 2), "parent")->valuestring, "base");
  cJSON_Delete(j);
  sy_buf_reset(&b);
  const char raw[] = "a\"b\\c\n\x01z";
  ck_assert_int_eq(sy_sim_json_str(&b, raw, sizeof(raw) - 1), 0);
  ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\u0001z\"");
  sy_buf_cleanup(&b);
  sy_sim_config_cleanup(&c);
}
END_TEST

START_TEST(token_words_deterministic) {
  bool sp;
  ck_assert_str_eq(sy_sim_token_word(1, 5, &sp), sy_sim_token_word(1, 5, NULL));
  ck_assert(sp);
  sy_sim_token_word(1, 1, &sp);
  ck_assert(!sp);
  int differ = 0;
  for (int k = 1; k < 50; k++) differ += strcmp(sy_sim_token_word(1, k, NULL), sy_sim_token_word(2, k, NULL)) != 0;
  ck_assert_int_gt(differ, 10);
}
END_TEST

/* -------------------------------------------------------------- chunked */

static int sink(void *ctx, const char *d, size_t n) { return sy_buf_append(ctx, d, n); }

START_TEST(chunked_any_split) {
  const char wire[] = "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: v\r\n\r\nNEXT";
  size_t len = sizeof(wire) - 1;
  for (size_t cut = 0; cut <= len; cut++) {
    sy_sim_chunked_t d;
    sy_buf_t out;
    sy_buf_init(&out, 1024);
    sy_sim_chunked_init(&d);
    ck_assert_int_eq(sy_sim_chunked_feed(&d, wire, cut, sink, &out), 0);
    ck_assert_int_eq(sy_sim_chunked_feed(&d, wire + cut, len - cut, sink, &out), 0);
    ck_assert(d.done);
    ck_assert_str_eq(out.data, "Wikipedia in\r\n\r\nchunks.");
    sy_buf_cleanup(&out);
  }
  /* Byte by byte, bare LF line ends. */
  const char lf[] = "3\nabc\n0\n\n";
  sy_sim_chunked_t d;
  sy_buf_t out;
  sy_buf_init(&out, 1024);
  sy_sim_chunked_init(&d);
  for (size_t i = 0; i < sizeof(lf) - 1; i++) {
    ck_assert(!d.done);
    ck_assert_int_eq(sy_sim_chunked_feed(&d, lf + i, 1, sink, &out), 0);
  }
  ck_assert(d.done);
  ck_assert_str_eq(out.data, "abc");
  sy_buf_cleanup(&out);
}
END_TEST

START_TEST(chunked_bad) {
  const char *bad[] = {"x\r\n", "\r\n", "3\r\nabcX", "3\r\nabc\rX", "1234567890abcdef0\r\n", "3\rX"};
  for (size_t i = 0; i < SY_ARRAY_LEN(bad); i++) {
    sy_sim_chunked_t d;
    sy_sim_chunked_init(&d);
    ck_assert_msg(sy_sim_chunked_feed(&d, bad[i], strlen(bad[i]), NULL, NULL) == SY_EPARSE, "case %zu", i);
  }
  /* A sink error stops decoding. */
  sy_sim_chunked_t d;
  sy_buf_t small;
  sy_buf_init(&small, 2);
  sy_sim_chunked_init(&d);
  ck_assert_int_eq(sy_sim_chunked_feed(&d, "3\r\nabc\r\n", 8, sink, &small), SY_ETOOBIG);
  sy_buf_cleanup(&small);
}
END_TEST

/* -------------------------------------------------------------- metrics */

START_TEST(metrics_text) {
  sy_sim_config_t c = test_cfg();
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  p.max_num_seqs = 1;
  sy_sim_model_init(&m, &p);
  sy_sim_req_t a = mk(16, 2, 1), b = mk(16, 2, 0);
  sy_sim_model_submit(&m, &a, 0);
  sy_sim_model_submit(&m, &b, 0);
  sy_sim_model_first_token(&m, &a, 20 * MS);
  sy_buf_t out;
  sy_buf_init(&out, 1 << 20);
  ck_assert_int_eq(sy_sim_render_metrics(&out, &m, &c, 20 * MS, 1700000000.5), 0);
  const char *t = out.data;
  ck_assert_ptr_nonnull(strstr(t, "# TYPE vllm:num_requests_running gauge\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:num_requests_running{model_name=\"base\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:num_requests_waiting{model_name=\"base\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:kv_cache_usage_perc{model_name=\"base\"} 0.02\n")); /* 2 of 100 */
  ck_assert_ptr_nonnull(strstr(
      t, "vllm:lora_requests_info{max_lora=\"2\",running_lora_adapters=\"l2\",waiting_lora_adapters=\"l1\"} "
         "1700000000.500000\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\","
                                  "enable_prefix_caching=\"True\",num_cpu_blocks=\"0\",num_gpu_blocks=\"100\"} 1.0\n"));
  ck_assert_ptr_nonnull(strstr(t, "# TYPE vllm:prefix_cache_queries_total counter\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:prefix_cache_queries_total{model_name=\"base\"} 16\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:prefix_cache_hits_total{model_name=\"base\"} 0\n"));
  ck_assert_ptr_nonnull(strstr(t, "# TYPE vllm:prompt_tokens_total counter\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:prompt_tokens_total{model_name=\"base\"} 16\n"));
  ck_assert_ptr_nonnull(strstr(t, "# TYPE vllm:time_to_first_token_seconds histogram\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:time_to_first_token_seconds_bucket{model_name=\"base\",le=\"0.01\"} 0\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:time_to_first_token_seconds_bucket{model_name=\"base\",le=\"0.02\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:time_to_first_token_seconds_bucket{model_name=\"base\",le=\"1.0\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:time_to_first_token_seconds_bucket{model_name=\"base\",le=\"+Inf\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:time_to_first_token_seconds_count{model_name=\"base\"} 1\n"));
  ck_assert_ptr_nonnull(
      strstr(t, "vllm:request_success_total{finished_reason=\"length\",model_name=\"base\"} 0\n"));
  /* Every sample line is "name{labels} value" or "name value". */
  for (const char *line = t; *line;) {
    const char *nl = strchr(line, '\n');
    ck_assert_ptr_nonnull(nl);
    if (*line != '#') ck_assert_ptr_nonnull(memchr(line, ' ', (size_t)(nl - line)));
    line = nl + 1;
  }
  sy_buf_cleanup(&out);
  sy_sim_model_cleanup(&m);
  sy_sim_config_cleanup(&c);
}
END_TEST

static Suite *sim_suite(void) {
  Suite *s = suite_create("sim");
  TCase *tc = tcase_create("model");
  tcase_add_test(tc, model_rejects_bad_params);
  tcase_add_test(tc, model_slots_queue_fifo);
  tcase_add_test(tc, model_latency);
  tcase_add_test(tc, model_kv_blocks);
  tcase_add_test(tc, model_abort_running_counts_tokens);
  tcase_add_test(tc, model_prefix_cache_hits);
  tcase_add_test(tc, model_prefix_cache_inflight);
  tcase_add_test(tc, model_serial_prefill);
  tcase_add_test(tc, model_prefix_cache_lru_and_pinning);
  tcase_add_test(tc, model_kv_usage_shared);
  tcase_add_test(tc, model_lora_slots);
  tcase_add_test(tc, model_itl_load_factor);
  tcase_add_test(tc, model_deterministic_seed);
  tcase_add_test(tc, hasher_chain);
  tcase_add_test(tc, hist_buckets);
  suite_add_tcase(s, tc);
  tc = tcase_create("flags");
  tcase_add_test(tc, flags_defaults_and_forms);
  tcase_add_test(tc, flags_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("request");
  tcase_add_test(tc, request_completions);
  tcase_add_test(tc, request_chat);
  tcase_add_test(tc, request_errors);
  tcase_add_test(tc, request_block_hashes);
  suite_add_tcase(s, tc);
  tc = tcase_create("render");
  tcase_add_test(tc, render_responses);
  tcase_add_test(tc, render_stream_events);
  tcase_add_test(tc, render_bounded);
  tcase_add_test(tc, render_models_and_json_escape);
  tcase_add_test(tc, token_words_deterministic);
  suite_add_tcase(s, tc);
  tc = tcase_create("chunked");
  tcase_add_test(tc, chunked_any_split);
  tcase_add_test(tc, chunked_bad);
  suite_add_tcase(s, tc);
  tc = tcase_create("metrics");
  tcase_add_test(tc, metrics_text);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(sim_suite()); }
