/*
 * prefix_index — the approximate prefix-cache index behind
 * approx-prefix-cache-producer (GAIE v1.5.0 approximateprefix), and the
 * prompt block hashing. Internal to the scheduler's plugins (and tests).
 *
 * Model: every tracked endpoint (by "ip:port" address) has an LRU of the
 * block hashes it was sent; a reverse map gives, for a hash, the set of
 * endpoints holding it. Evicting a hash from an endpoint's LRU removes the
 * endpoint from that hash's set (and the set when it becomes empty).
 *
 * Memory bound: at most SY_PFX_MAX_ENDPOINTS endpoints are tracked (the one
 * seen least recently is dropped to admit a new one); an endpoint's LRU
 * holds at most min(capacity, SY_PFX_MAX_CAPACITY) hashes; and the whole
 * index holds at most SY_PFX_MAX_ENTRIES (hash, endpoint) entries, so
 * entries <= min(Σ capacities, SY_PFX_MAX_ENTRIES). Each entry costs about
 * 16 B (LRU node) + 8-16 B (per-endpoint table) + 24-48 B (reverse map,
 * shared by the endpoints holding the hash), i.e. ≲ 80 B: ≲ 1.3 GiB at the
 * global cap, ≈ 250 MB for 100 endpoints at the default 31250. Tables grow
 * by doubling (never on a lookup), and shrink back when endpoints are
 * purged.
 *
 * Threads: one pthread rwlock (writer-preferring). Lookups (match) take it
 * shared, updates (add, purge) exclusively; hashing happens outside it.
 */
#ifndef SY_SCHED_PREFIX_INDEX_H
#define SY_SCHED_PREFIX_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SY_PFX_MAX_ENDPOINTS 4096u
#define SY_PFX_MAX_CAPACITY (1u << 20)  /* per-endpoint LRU entries (num_blocks is clamped) */
#define SY_PFX_MAX_ENTRIES (1u << 24)   /* (hash, endpoint) entries in the whole index */
#define SY_PFX_CHARS_PER_TOKEN 4        /* upstream averageCharactersPerToken */
/* Endpoints not seen (as a candidate or a target) for PURGE_AGE are dropped;
 * checked at most every PURGE_INTERVAL (upstream: every 2 min, pods no
 * longer in the datastore). */
#define SY_PFX_PURGE_INTERVAL_NS (120ull * 1000000000ull)
#define SY_PFX_PURGE_AGE_NS (120ull * 1000000000ull)

/* Number of full blocks hashed for a prompt of `len` bytes: 0 when the
 * prompt is shorter than one block, else min(len / block_chars, max_blocks). */
size_t sy_pfx_block_count(size_t len, size_t block_chars, size_t max_blocks);

/* Block hashes (upstream hashPrompt): h0 = XXH64(model ‖ salt, seed 0);
 * for each full block i of `block_chars` bytes (at most max_blocks),
 * h_i = XXH64(block_i ‖ LE64(h_{i-1})). A trailing partial block is
 * ignored. Writes sy_pfx_block_count() hashes to out; returns that count.
 * `salt` may be NULL. */
size_t sy_pfx_hash_prompt(const char *model, size_t model_len, const char *salt, size_t salt_len, const char *prompt,
                          size_t len, size_t block_chars, size_t max_blocks, uint64_t *out);

typedef struct sy_pfx_index sy_pfx_index_t;

/* NULL on ENOMEM. */
sy_pfx_index_t *sy_pfx_index_new(void);
void sy_pfx_index_free(sy_pfx_index_t *ix);

/* Longest-prefix match (upstream matchLongestPrefix): walks hashes[0..n) and
 * stops at the first hash no tracked endpoint holds; every endpoint holding
 * a walked hash gets +1. counts[i] receives the count of addrs[i] (0 when
 * untracked). `scratch` holds n_addrs entries. Marks the tracked addresses
 * as seen at now_ns. Shared lock; any thread. */
void sy_pfx_index_match(sy_pfx_index_t *ix, const uint64_t *hashes, size_t n, const char *const *addrs,
                        size_t n_addrs, uint32_t *counts, uint16_t *scratch, uint64_t now_ns);

typedef struct sy_pfx_target {
  const char *addr; /* "ip:port" */
  uint64_t capacity; /* LRU capacity for this endpoint (clamped to [1, SY_PFX_MAX_CAPACITY]) */
} sy_pfx_target_t;

/* Records that hashes[0..n) were sent to each target (upstream indexer.Add,
 * in order, so hashes[n-1] is the most recent), creating endpoints as
 * needed, resizing their LRU to `capacity`, and purging endpoints not seen
 * for SY_PFX_PURGE_AGE_NS (at most every SY_PFX_PURGE_INTERVAL_NS; after an
 * idle gap the clock restarts so live endpoints can be seen again first).
 * Exclusive lock. 0, or -ENOMEM (the index stays consistent, partially
 * updated). */
int sy_pfx_index_add(sy_pfx_index_t *ix, const uint64_t *hashes, size_t n, const sy_pfx_target_t *targets,
                     size_t n_targets, uint64_t now_ns);

/* Drops every endpoint last seen before `cutoff_ns`; returns how many. */
size_t sy_pfx_index_purge(sy_pfx_index_t *ix, uint64_t cutoff_ns);

/* (hash, endpoint) entries; any thread, lock-free (relaxed). */
size_t sy_pfx_index_size(const sy_pfx_index_t *ix);

/* Introspection for tests and debugging (take the lock). */
size_t sy_pfx_index_endpoints(sy_pfx_index_t *ix);           /* tracked endpoints */
size_t sy_pfx_index_ep_entries(sy_pfx_index_t *ix, const char *addr); /* LRU length, 0 if untracked */
uint64_t sy_pfx_index_ep_capacity(sy_pfx_index_t *ix, const char *addr);
bool sy_pfx_index_holds(sy_pfx_index_t *ix, const char *addr, uint64_t hash); /* per-endpoint LRU */
size_t sy_pfx_index_holders(sy_pfx_index_t *ix, uint64_t hash);            /* reverse map set size */
size_t sy_pfx_index_hashes(sy_pfx_index_t *ix);                            /* reverse map entries */
/* Verifies every internal invariant (LRU lists, tables, reverse map, counts);
 * returns 0 or a negative line number of the failed check. */
int sy_pfx_index_check(sy_pfx_index_t *ix);

/* prefix.c, for tests that drive the plugins without a scheduler: binds a
 * prefix-cache-scorer state to a producer state (what link() does), and
 * returns a producer's index. */
void sy_prefix_scorer_bind(void *scorer_state, void *producer_state);
sy_pfx_index_t *sy_prefix_producer_index(void *producer_state);

#endif
