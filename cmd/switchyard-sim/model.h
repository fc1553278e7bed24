/*
 * model — the simulated engine: a FIFO waiting queue, a bounded running set,
 * KV-cache block accounting and the latency model, plus the counters and
 * histograms /metrics exposes. Pure: no I/O, no clock reads (every call that
 * needs time takes `now_ns`, a monotonic timestamp), so it is unit-testable
 * and deterministic.
 *
 * Memory: requests are caller-owned (embedded in the server's per-request
 * state); the model only links them into its lists. A request must be
 * finished or aborted before its storage is released.
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

typedef struct sy_sim_model_params {
  double ttft_ms;   /* time to first token, counted from the start of RUNNING */
  double itl_ms;    /* inter-token latency */
  int max_num_seqs; /* running slots (>= 1) */
  int max_queue;    /* waiting-queue capacity (>= 0) */
  int kv_blocks;    /* KV-cache capacity in blocks (>= 1) */
  int block_size;   /* tokens per block (>= 1) */
  int n_loras;      /* adapters the server knows, 0..SY_SIM_MAX_LORAS */
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
  /* Owned by the model. */
  sy_sim_req_state_t state;
  uint64_t arrive_ns;
  uint64_t start_ns; /* when it entered RUNNING */
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

typedef struct sy_sim_model {
  sy_sim_model_params_t p;
  sy_sim_req_t *wait_head, *wait_tail;
  sy_sim_req_t *run_head;
  int n_waiting, n_running;
  int lora_running[SY_SIM_MAX_LORAS];
  int lora_waiting[SY_SIM_MAX_LORAS];
  uint64_t prompt_tokens_total;
  uint64_t generation_tokens_total;
  uint64_t finished_length; /* completed requests (finish_reason "length") */
  uint64_t finished_abort;  /* client went away before the end */
  uint64_t rejected;        /* queue full */
  sy_sim_hist_t ttft;       /* arrival → first token, seconds */
  sy_sim_hist_t e2e;        /* arrival → last token, seconds */
  sy_sim_hist_t queue_time; /* arrival → RUNNING, seconds */
} sy_sim_model_t;

/* Validates `p` and initialises `m`. 0 or SY_EINVAL. */
int sy_sim_model_init(sy_sim_model_t *m, const sy_sim_model_params_t *p);

/* Admits `r` (state NEW). Returns 1 when it started RUNNING at once, 0 when
 * it was queued (WAITING), or SY_ETOOBIG when the queue is full (r is left
 * NEW and untouched by the model). A request runs at once only when nobody is
 * waiting (FIFO), a slot is free and its prompt's blocks fit in free KV. */
int sy_sim_model_submit(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns);

/* Moves the head of the waiting queue to RUNNING if it may start now and
 * returns it, else NULL. Call in a loop after a finish or abort. */
sy_sim_req_t *sy_sim_model_admit(sy_sim_model_t *m, uint64_t now_ns);

/* Nanoseconds after the start of RUNNING at which token k (1-based) is
 * produced: ttft + (k-1)*itl. */
uint64_t sy_sim_model_token_offset_ns(const sy_sim_model_t *m, int k);

/* Absolute monotonic time of token k of a RUNNING request. */
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

/* KV blocks held by running requests at `now_ns` (prompt plus tokens
 * generated so far, rounded up to whole blocks). May exceed kv_blocks when
 * a lone oversized request runs or decode outgrows the cache. */
long sy_sim_model_blocks_used(const sy_sim_model_t *m, uint64_t now_ns);

/* blocks_used / kv_blocks, clamped to [0, 1]. */
double sy_sim_model_kv_usage(const sy_sim_model_t *m, uint64_t now_ns);

/* Blocks needed for `tokens` tokens. */
long sy_sim_model_blocks_for(const sy_sim_model_t *m, long tokens);

/* Adds one observation (seconds) to a histogram. */
void sy_sim_hist_observe(sy_sim_hist_t *h, double v);

#endif /* SY_SIM_MODEL_H */
