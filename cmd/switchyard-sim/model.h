/*
 * model — the simulated engine: a FIFO waiting queue, a bounded running set,
 * a vLLM-APC-like prefix cache over KV blocks, LoRA adapter slots and the
 * latency model, plus the counters and histograms /metrics exposes. Pure: no
 * I/O, no clock reads (every call that needs time takes `now_ns`, a
 * monotonic timestamp), and every random draw comes from a PRNG seeded by
 * the params, so the same calls give the same results.
 *
 * Latency of one request (all times from when it enters RUNNING, `start`),
 * per-token calculator:
 *
 *   ready       = max(start, adapter loaded [--lora-load-ms], the cached
 *                 prefix blocks it reuses are computed)
 *   p_start     = max(ready, engine's prefill lane free)   (serial prefill)
 *   p_end       = p_start + uncached_tokens × prefill_ms_per_token
 *   first token = p_end + prefill_overhead_ms + jitter
 *
 * constant calculator: first token = max(start, adapter loaded) + ttft_ms
 * + jitter (the prefix cache is still tracked and reported). Both:
 *
 *   token k     = first token + (k-1) × itl
 *   itl         = itl_ms × (1 + itl_load_factor × (running − 1)) + jitter,
 *                 fixed when the request starts (running includes it)
 *
 * KV cache: the prompt's full blocks carry chained hashes (see
 * sy_sim_hasher_t). At admission the leading blocks already present are
 * reused (cached tokens = hits × block_size, at most prompt − 1 tokens, as
 * vLLM), the others are inserted; all are pinned while the request runs and
 * become free-but-cached afterwards, evicted LRU (a finished request's tail
 * block first) when space is needed. The partial last prompt block and the
 * generated tokens live in private blocks, freed at the end.
 *
 * Memory: requests are caller-owned (embedded in the server's per-request
 * state, with their block hashes); the model only links them into its lists.
 * A request must be finished or aborted before its storage is released.
 *
 * Thread-safety: none; one thread (the lws service thread) owns a model.
 */
#ifndef SY_SIM_MODEL_H
#define SY_SIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SY_SIM_MAX_LORAS 64
#define SY_SIM_HIST_MAX_BUCKETS 32
#define SY_SIM_MAX_KV_BLOCKS (1 << 22)

typedef enum sy_sim_latency {
  SY_SIM_LATENCY_PER_TOKEN = 0, /* prefill cost from uncached tokens */
  SY_SIM_LATENCY_CONSTANT,      /* ttft_ms, whatever the prompt */
} sy_sim_latency_t;

typedef struct sy_sim_model_params {
  sy_sim_latency_t latency;    /* TTFT calculator */
  double ttft_ms;              /* constant calculator: time to first token from RUNNING */
  double itl_ms;               /* inter-token latency */
  double prefill_overhead_ms;  /* fixed cost of every prefill */
  double prefill_ms_per_token; /* cost of each uncached prompt token */
  double ttft_std_ms;          /* std-dev of gaussian TTFT jitter (0 = none) */
  double itl_std_ms;           /* std-dev of gaussian per-request ITL jitter (0 = none) */
  double itl_load_factor;      /* itl × (1 + f × (running − 1)); 0 = off */
  double lora_load_ms;         /* cost of loading an adapter into a slot */
  bool serial_prefill;         /* prefills share one lane (FIFO); else independent */
  bool prefix_caching;         /* false: no reuse, every block private */
  int max_num_seqs;            /* running slots (>= 1) */
  int max_queue;               /* waiting-queue capacity (>= 0) */
  int kv_blocks;               /* KV-cache capacity in blocks (1..SY_SIM_MAX_KV_BLOCKS) */
  int block_size;              /* tokens per block (>= 1) */
  int n_loras;                 /* adapters the server knows, 0..SY_SIM_MAX_LORAS */
  int max_loras;               /* adapters loaded at once (>= 1 when n_loras > 0) */
  uint64_t seed;               /* PRNG seed for jitter */
} sy_sim_model_params_t;

typedef enum sy_sim_req_state {
  SY_SIM_REQ_NEW = 0,
  SY_SIM_REQ_WAITING,
  SY_SIM_REQ_RUNNING,
  SY_SIM_REQ_DONE,
} sy_sim_req_state_t;

typedef struct sy_sim_req sy_sim_req_t;
struct sy_sim_req {
  /* Set by the caller before sy_sim_model_submit. */
  int prompt_tokens; /* >= 1 */
  int output_tokens; /* >= 1 */
  int lora;          /* adapter index, or -1 for the base model */
  /* Chained hashes of the prompt's full blocks (NULL/0: nothing cacheable).
   * Borrowed: must stay valid until the request is DONE. */
  const uint64_t *block_hashes;
  int n_block_hashes;
  /* Owned by the model. */
  sy_sim_req_state_t state;
  uint64_t arrive_ns;
  uint64_t start_ns;    /* when it entered RUNNING */
  uint64_t first_ns;    /* when token 1 is produced */
  uint64_t prefill_start_ns, prefill_end_ns; /* its turn on the prefill lane */
  uint64_t itl_ns;      /* its inter-token latency */
  int cached_tokens;    /* prompt tokens served from the prefix cache */
  int n_pinned;         /* leading block_hashes pinned in the cache */
  long final_private;   /* private blocks it will hold at its last token */
  bool lora_loaded_now; /* its start paid for loading the adapter */
  bool first_token_seen;
  sy_sim_req_t *prev, *next; /* waiting queue or running list */
};

/* A Prometheus histogram with fixed upper bounds (+Inf implied). */
typedef struct sy_sim_hist {
  const double *bounds;
  size_t n_bounds;
  uint64_t counts[SY_SIM_HIST_MAX_BUCKETS + 1]; /* non-cumulative; last = +Inf */
  double sum;
  uint64_t count;
} sy_sim_hist_t;

/* One cached block. Indices, not pointers: -1 ends a list. */
typedef struct sy_sim_kv_entry {
  uint64_t hash;
  uint64_t ready_ns; /* when its KV is computed (prefill end of the inserter) */
  int32_t chain;     /* next entry in the same bucket, or next unused slot */
  int32_t lru_prev, lru_next;
  int32_t refs;      /* running requests holding it; 0 = free but cached */
} sy_sim_kv_entry_t;

typedef struct sy_sim_model {
  sy_sim_model_params_t p;
  sy_sim_req_t *wait_head, *wait_tail;
  sy_sim_req_t *run_head;
  int n_waiting, n_running;
  int lora_running[SY_SIM_MAX_LORAS];
  int lora_waiting[SY_SIM_MAX_LORAS];
  /* LoRA slots */
  bool lora_loaded[SY_SIM_MAX_LORAS];
  uint64_t lora_used_seq[SY_SIM_MAX_LORAS]; /* LRU order among loaded adapters */
  uint64_t lora_ready_ns[SY_SIM_MAX_LORAS]; /* when its load completes */
  int n_loras_loaded;
  uint64_t use_seq;
  uint64_t lora_loads; /* adapter loads so far */
  /* prefix cache */
  sy_sim_kv_entry_t *kv;   /* p.kv_blocks slots */
  int32_t *buckets;        /* hash → first entry */
  uint32_t bucket_mask;
  int32_t kv_unused;       /* stack of unused slots */
  int32_t lru_head, lru_tail; /* free-but-cached entries, least recent first */
  long kv_entries;         /* cached blocks (pinned + free) */
  long kv_pinned;          /* cached blocks with refs > 0 */
  long reserved_private;   /* Σ final_private over running requests */
  uint64_t evictions;      /* cached blocks evicted so far */
  /* prefill lane and PRNG */
  uint64_t prefill_free_ns;
  uint64_t rng;
  /* counters */
  uint64_t prompt_tokens_total;
  uint64_t generation_tokens_total;
  uint64_t prefix_queries_total; /* prompt tokens of started requests */
  uint64_t prefix_hits_total;    /* of which served from the cache */
  uint64_t finished_length; /* completed requests (finish_reason "length") */
  uint64_t finished_abort;  /* client went away before the end */
  uint64_t rejected;        /* queue full */
  sy_sim_hist_t ttft;       /* arrival → first token, seconds */
  sy_sim_hist_t e2e;        /* arrival → last token, seconds */
  sy_sim_hist_t queue_time; /* arrival → RUNNING, seconds */
} sy_sim_model_t;

/* Validates `p` and initialises `m` (allocates the cache). 0, SY_EINVAL or
 * -ENOMEM. Call sy_sim_model_cleanup when 0 was returned. */
int sy_sim_model_init(sy_sim_model_t *m, const sy_sim_model_params_t *p);
void sy_sim_model_cleanup(sy_sim_model_t *m);

/* Admits `r` (state NEW). Returns 1 when it started RUNNING at once, 0 when
 * it was queued (WAITING), or SY_ETOOBIG when the queue is full (r is left
 * NEW and untouched by the model). It starts at once only when no waiting
 * request is ahead of it (requests waiting only for a LoRA slot are passed,
 * as vLLM's scheduler skips them) and it may start (see
 * sy_sim_model_admit). */
int sy_sim_model_submit(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns);

/* Starts the first waiting request that may start now and returns it, else
 * NULL. Call in a loop after a finish or abort. A request may start when a
 * running slot is free, its adapter is loaded or a slot for it can be had
 * (a free one, or the least recently used adapter with no running request,
 * which is unloaded), and — unless nothing runs — the KV cache can hold
 * its new blocks: pinned + Σ reserved + its uncached blocks + its private
 * blocks at full length ≤ kv_blocks. The queue is FIFO: a request blocked
 * on slots or KV stops the scan; one blocked on a LoRA slot is skipped. */
sy_sim_req_t *sy_sim_model_admit(sy_sim_model_t *m, uint64_t now_ns);

/* Absolute monotonic time of token k (1-based) of a RUNNING or DONE
 * request: first_ns + (k-1) × itl. */
uint64_t sy_sim_model_token_due_ns(const sy_sim_model_t *m, const sy_sim_req_t *r, int k);

/* Tokens produced by `now_ns` (0..output_tokens); 0 unless RUNNING. */
int sy_sim_model_tokens_at(const sy_sim_model_t *m, const sy_sim_req_t *r, uint64_t now_ns);

/* Records the first token of a RUNNING request: TTFT histogram and prompt
 * tokens (prefill is done). Idempotent. */
void sy_sim_model_first_token(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns);

/* Completes a RUNNING request: frees its slot and blocks, counts its tokens.
 * Call sy_sim_model_admit afterwards. */
void sy_sim_model_finish(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns);

/* Drops a WAITING or RUNNING request (client disconnected). No-op in any
 * other state. Call sy_sim_model_admit afterwards. */
void sy_sim_model_abort(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns);

/* Counts a request refused because the queue was full. */
void sy_sim_model_note_rejected(sy_sim_model_t *m);

/* KV blocks held by running requests at `now_ns`: pinned cached blocks
 * (each counted once however many requests share it) plus every running
 * request's private blocks (partial prompt block and generated tokens).
 * Free-but-cached blocks do not count, as in vLLM. May exceed kv_blocks
 * when a lone oversized request runs. */
long sy_sim_model_blocks_used(const sy_sim_model_t *m, uint64_t now_ns);

/* blocks_used / kv_blocks, clamped to [0, 1]: vllm:kv_cache_usage_perc. */
double sy_sim_model_kv_usage(const sy_sim_model_t *m, uint64_t now_ns);

/* Blocks needed for `tokens` tokens. */
long sy_sim_model_blocks_for(const sy_sim_model_t *m, long tokens);

/* Whether a block with this hash is in the cache (pinned or free). */
bool sy_sim_model_block_cached(const sy_sim_model_t *m, uint64_t hash);

/* Prompt tokens `r` would find cached if it started now (no side effects). */
int sy_sim_model_peek_cached_tokens(const sy_sim_model_t *m, const sy_sim_req_t *r);

/* Adds one observation (seconds) to a histogram. */
void sy_sim_hist_observe(sy_sim_hist_t *h, double v);

/* ------------------------------------------------------------- hashing */

/* Chained block hashes of a prompt text, as the EPP's approximate prefix
 * index computes them (GAIE approximateprefix): h0 = XXH64(model ‖ salt),
 * h_i = XXH64(block_i ‖ LE64(h_{i-1})) over full blocks of `block_chars`
 * bytes; a trailing partial block has no hash. Feed the text in pieces. */
typedef struct sy_sim_hasher {
  uint64_t prev;
  size_t block_chars;
  unsigned char *blk; /* block_chars + 8 bytes */
  size_t blk_len;
  uint64_t *hashes;
  int n, cap, max;
  size_t total; /* bytes fed */
} sy_sim_hasher_t;

/* `max_blocks` caps the hashes kept (0: count bytes only, hash nothing).
 * 0 or -ENOMEM; call sy_sim_hasher_cleanup in every case. */
int sy_sim_hasher_init(sy_sim_hasher_t *h, const char *model, const char *salt, size_t block_chars, int max_blocks);
/* 0 or -ENOMEM. */
int sy_sim_hasher_feed(sy_sim_hasher_t *h, const void *data, size_t n);
/* Hands the hash array to the caller (free with sy_free); *n its length. */
uint64_t *sy_sim_hasher_take(sy_sim_hasher_t *h, int *n);
void sy_sim_hasher_cleanup(sy_sim_hasher_t *h);

#endif /* SY_SIM_MODEL_H */
