/* The simulated engine: queue, running set, prefix cache, LoRA slots, latency. */
#include "model.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <xxhash.h>

#include "core.h"

/* Bucket edges as vLLM documents them, so dashboards built for vLLM work. */
static const double ttft_bounds[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                     0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0,
                                     20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
static const double e2e_bounds[] = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,    10.0,   15.0,  20.0,
                                    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

static void hist_init(sy_sim_hist_t *h, const double *bounds, size_t n) {
  memset(h, 0, sizeof(*h));
  h->bounds = bounds;
  h->n_bounds = n;
}

void sy_sim_hist_observe(sy_sim_hist_t *h, double v) {
  size_t i = 0;
  while (i < h->n_bounds && v > h->bounds[i]) i++;
  h->counts[i]++;
  h->sum += v;
  h->count++;
}

/* ------------------------------------------------------------------ util */

static double secs(uint64_t from, uint64_t to) { return to > from ? (double)(to - from) / 1e9 : 0.0; }

static uint64_t ms_to_ns(double ms) { return ms > 0 ? (uint64_t)llround(ms * 1e6) : 0; }

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static bool valid_ms(double v) { return v >= 0 && isfinite(v); }

/* splitmix64: small, seedable, and the same on every platform. */
static uint64_t rng_next(sy_sim_model_t *m) {
  uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A standard normal draw (Box-Muller; u1 in (0, 1]). */
static double rng_gauss(sy_sim_model_t *m) {
  double u1 = (double)((rng_next(m) >> 11) + 1) * 0x1.0p-53;
  double u2 = (double)(rng_next(m) >> 11) * 0x1.0p-53;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

/* Gaussian noise of std-dev `std_ns`, clamped to ±70 % of `base_ns` so a
 * latency never turns negative (llm-d-inference-sim clamps the same way).
 * No draw at all when std is 0, so jitter-free runs use no randomness. */
static int64_t jitter_ns(sy_sim_model_t *m, double std_ns, uint64_t base_ns) {
  if (!(std_ns > 0)) return 0;
  double d = rng_gauss(m) * std_ns, lim = 0.7 * (double)base_ns;
  if (d > lim) d = lim;
  if (d < -lim) d = -lim;
  return (int64_t)llround(d);
}

/* ------------------------------------------------------------ KV cache */

static int32_t kv_lookup(const sy_sim_model_t *m, uint64_t hash) {
  for (int32_t i = m->buckets[hash & m->bucket_mask]; i >= 0; i = m->kv[i].chain)
    if (m->kv[i].hash == hash) return i;
  return -1;
}

static void lru_unlink(sy_sim_model_t *m, int32_t i) {
  sy_sim_kv_entry_t *e = &m->kv[i];
  if (e->lru_prev >= 0) m->kv[e->lru_prev].lru_next = e->lru_next;
  else m->lru_head = e->lru_next;
  if (e->lru_next >= 0) m->kv[e->lru_next].lru_prev = e->lru_prev;
  else m->lru_tail = e->lru_prev;
  e->lru_prev = e->lru_next = -1;
}

static void lru_push_tail(sy_sim_model_t *m, int32_t i) {
  sy_sim_kv_entry_t *e = &m->kv[i];
  e->lru_next = -1;
  e->lru_prev = m->lru_tail;
  if (m->lru_tail >= 0) m->kv[m->lru_tail].lru_next = i;
  else m->lru_head = i;
  m->lru_tail = i;
}

/* Drops a free entry (refs == 0, already off the LRU list) from the table. */
static void kv_remove(sy_sim_model_t *m, int32_t i) {
  int32_t *pp = &m->buckets[m->kv[i].hash & m->bucket_mask];
  while (*pp != i) pp = &m->kv[*pp].chain;
  *pp = m->kv[i].chain;
  m->kv[i].chain = m->kv_unused;
  m->kv_unused = i;
  m->kv_entries--;
}

static bool kv_evict_one(sy_sim_model_t *m) {
  int32_t i = m->lru_head;
  if (i < 0) return false;
  lru_unlink(m, i);
  kv_remove(m, i);
  m->evictions++;
  return true;
}

/* Inserts a free entry; evicts the LRU free block when every slot is taken.
 * The entry index, or -1 when all blocks are pinned. */
static int32_t kv_insert(sy_sim_model_t *m, uint64_t hash, uint64_t ready_ns) {
  if (m->kv_unused < 0 && !kv_evict_one(m)) return -1;
  int32_t i = m->kv_unused;
  sy_sim_kv_entry_t *e = &m->kv[i];
  m->kv_unused = e->chain;
  uint32_t b = (uint32_t)(hash & m->bucket_mask);
  *e = (sy_sim_kv_entry_t){.hash = hash, .ready_ns = ready_ns, .chain = m->buckets[b], .lru_prev = -1,
                           .lru_next = -1, .refs = 0};
  m->buckets[b] = i;
  m->kv_entries++;
  return i;
}

static void kv_pin(sy_sim_model_t *m, int32_t i) {
  if (m->kv[i].refs++ == 0) {
    m->kv_pinned++;
    /* A fresh entry is on no list yet; a free cached one is on the LRU. */
    if (m->kv[i].lru_prev >= 0 || m->lru_head == i) lru_unlink(m, i);
  }
}

/* A block whose KV was never computed (its request left during prefill)
 * is dropped rather than kept as a false hit. */
static void kv_unpin(sy_sim_model_t *m, int32_t i, uint64_t now_ns) {
  if (--m->kv[i].refs > 0) return;
  m->kv_pinned--;
  if (m->kv[i].ready_ns > now_ns) kv_remove(m, i);
  else lru_push_tail(m, i);
}

static int kv_init(sy_sim_model_t *m) {
  int n = m->p.kv_blocks;
  uint32_t nb = 16;
  while (nb < 2u * (uint32_t)n) nb <<= 1;
  m->kv = sy_calloc((size_t)n, sizeof(*m->kv));
  m->buckets = sy_malloc((size_t)nb * sizeof(*m->buckets));
  if (!m->kv || !m->buckets) return -ENOMEM;
  for (uint32_t i = 0; i < nb; i++) m->buckets[i] = -1;
  for (int i = 0; i < n; i++) m->kv[i].chain = i + 1 < n ? i + 1 : -1;
  m->bucket_mask = nb - 1;
  m->kv_unused = 0;
  m->lru_head = m->lru_tail = -1;
  return 0;
}

/* --------------------------------------------------------------- model */

int sy_sim_model_init(sy_sim_model_t *m, const sy_sim_model_params_t *p) {
  if (!m || !p) return SY_EINVAL;
  if (p->latency != SY_SIM_LATENCY_PER_TOKEN && p->latency != SY_SIM_LATENCY_CONSTANT) return SY_EINVAL;
  if (!valid_ms(p->ttft_ms) || !valid_ms(p->itl_ms) || !valid_ms(p->prefill_overhead_ms) ||
      !valid_ms(p->prefill_ms_per_token) || !valid_ms(p->ttft_std_ms) || !valid_ms(p->itl_std_ms) ||
      !valid_ms(p->itl_load_factor) || !valid_ms(p->lora_load_ms))
    return SY_EINVAL;
  if (p->max_num_seqs < 1 || p->max_queue < 0 || p->kv_blocks < 1 || p->kv_blocks > SY_SIM_MAX_KV_BLOCKS ||
      p->block_size < 1)
    return SY_EINVAL;
  if (p->n_loras < 0 || p->n_loras > SY_SIM_MAX_LORAS || (p->n_loras > 0 && p->max_loras < 1)) return SY_EINVAL;
  memset(m, 0, sizeof(*m));
  m->p = *p;
  m->rng = p->seed;
  hist_init(&m->ttft, ttft_bounds, SY_ARRAY_LEN(ttft_bounds));
  hist_init(&m->e2e, e2e_bounds, SY_ARRAY_LEN(e2e_bounds));
  hist_init(&m->queue_time, e2e_bounds, SY_ARRAY_LEN(e2e_bounds));
  if (kv_init(m)) {
    sy_sim_model_cleanup(m);
    return -ENOMEM;
  }
  return 0;
}

void sy_sim_model_cleanup(sy_sim_model_t *m) {
  if (!m) return;
  SY_FREE(&m->kv);
  SY_FREE(&m->buckets);
}

static bool lora_ok(const sy_sim_model_t *m, int lora) { return lora >= 0 && lora < m->p.n_loras; }

long sy_sim_model_blocks_for(const sy_sim_model_t *m, long tokens) {
  if (tokens <= 0) return 0;
  return (tokens + m->p.block_size - 1) / m->p.block_size;
}

/* Leading block hashes of `r` the cache may hold: only full prompt blocks,
 * never more than the cache. */
static int usable_hashes(const sy_sim_model_t *m, const sy_sim_req_t *r) {
  if (!m->p.prefix_caching || !r->block_hashes || r->n_block_hashes <= 0) return 0;
  long n = r->n_block_hashes;
  n = SY_MIN(n, (long)r->prompt_tokens / m->p.block_size);
  n = SY_MIN(n, (long)m->p.kv_blocks);
  return (int)n;
}

/* Leading blocks present in the cache, capped (as vLLM) so at least the
 * last prompt token is computed; *ready = when the last of them is. */
static int hit_blocks(const sy_sim_model_t *m, const sy_sim_req_t *r, int n, uint64_t *ready) {
  int max = (r->prompt_tokens - 1) / m->p.block_size;
  int h = 0;
  uint64_t rd = 0;
  for (; h < n && h < max; h++) {
    int32_t i = kv_lookup(m, r->block_hashes[h]);
    if (i < 0) break;
    rd = max_u64(rd, m->kv[i].ready_ns);
  }
  if (ready) *ready = rd;
  return h;
}

static long private_blocks(const sy_sim_model_t *m, const sy_sim_req_t *r, int generated, int pinned) {
  long b = sy_sim_model_blocks_for(m, (long)r->prompt_tokens + generated) - pinned;
  return b > 0 ? b : 0;
}

uint64_t sy_sim_model_token_due_ns(const sy_sim_model_t *m, const sy_sim_req_t *r, int k) {
  (void)m;
  if (k < 1) k = 1;
  return r->first_ns + (uint64_t)(k - 1) * r->itl_ns;
}

int sy_sim_model_tokens_at(const sy_sim_model_t *m, const sy_sim_req_t *r, uint64_t now_ns) {
  (void)m;
  if (r->state != SY_SIM_REQ_RUNNING) return r->state == SY_SIM_REQ_DONE ? r->output_tokens : 0;
  if (now_ns < r->first_ns) return 0;
  /* Zero ITL: every token is out the moment the first one is. */
  if (r->itl_ns == 0) return r->output_tokens;
  uint64_t k = 1 + (now_ns - r->first_ns) / r->itl_ns;
  return k >= (uint64_t)r->output_tokens ? r->output_tokens : (int)k;
}

long sy_sim_model_blocks_used(const sy_sim_model_t *m, uint64_t now_ns) {
  long used = m->kv_pinned;
  for (const sy_sim_req_t *r = m->run_head; r; r = r->next)
    used += private_blocks(m, r, sy_sim_model_tokens_at(m, r, now_ns), r->n_pinned);
  return used;
}

double sy_sim_model_kv_usage(const sy_sim_model_t *m, uint64_t now_ns) {
  double u = (double)sy_sim_model_blocks_used(m, now_ns) / (double)m->p.kv_blocks;
  return u > 1.0 ? 1.0 : u;
}

bool sy_sim_model_block_cached(const sy_sim_model_t *m, uint64_t hash) { return kv_lookup(m, hash) >= 0; }

int sy_sim_model_peek_cached_tokens(const sy_sim_model_t *m, const sy_sim_req_t *r) {
  return hit_blocks(m, r, usable_hashes(m, r), NULL) * m->p.block_size;
}

/* Evicts free cached blocks while blocks in use plus cached ones exceed the
 * capacity (decode grows the running requests' private blocks). */
static void kv_trim(sy_sim_model_t *m, uint64_t now_ns) {
  long used = sy_sim_model_blocks_used(m, now_ns);
  while (m->kv_entries > m->kv_pinned && used + (m->kv_entries - m->kv_pinned) > m->p.kv_blocks)
    if (!kv_evict_one(m)) break;
}

/* ---------------------------------------------------------------- LoRA */

/* The least recently used loaded adapter with no running request, or -1. */
static int lora_idle_victim(const sy_sim_model_t *m) {
  int v = -1;
  for (int i = 0; i < m->p.n_loras; i++)
    if (m->lora_loaded[i] && m->lora_running[i] == 0 && (v < 0 || m->lora_used_seq[i] < m->lora_used_seq[v]))
      v = i;
  return v;
}

static bool lora_available(const sy_sim_model_t *m, int lora) {
  if (!lora_ok(m, lora) || m->lora_loaded[lora] || m->n_loras_loaded < m->p.max_loras) return true;
  return lora_idle_victim(m) >= 0;
}

/* Makes sure `r`'s adapter is loaded; returns when it is usable. */
static uint64_t lora_acquire(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns) {
  int l = r->lora;
  if (!lora_ok(m, l)) return now_ns;
  if (!m->lora_loaded[l]) {
    if (m->n_loras_loaded >= m->p.max_loras) {
      int v = lora_idle_victim(m);
      if (v >= 0) {
        m->lora_loaded[v] = false;
        m->n_loras_loaded--;
      }
    }
    m->lora_loaded[l] = true;
    m->n_loras_loaded++;
    m->lora_ready_ns[l] = now_ns + ms_to_ns(m->p.lora_load_ms);
    m->lora_loads++;
    r->lora_loaded_now = true;
  }
  m->lora_used_seq[l] = ++m->use_seq;
  return max_u64(now_ns, m->lora_ready_ns[l]);
}

/* ------------------------------------------------------------ admission */

typedef enum block { CAN_START = 0, BLOCKED_SLOTS, BLOCKED_LORA, BLOCKED_KV } block_t;

static block_t check_start(const sy_sim_model_t *m, const sy_sim_req_t *r) {
  if (m->n_running >= m->p.max_num_seqs) return BLOCKED_SLOTS;
  if (!lora_available(m, r->lora)) return BLOCKED_LORA;
  /* An idle engine always takes the request, even when it does not fit,
   * so an oversized prompt cannot block the queue forever (vLLM would
   * reject it against max-model-len; the sim has no such limit). */
  if (m->n_running == 0) return CAN_START;
  int n = usable_hashes(m, r);
  long new_pins = 0;
  for (int j = 0; j < n; j++) {
    int32_t i = kv_lookup(m, r->block_hashes[j]);
    if (i < 0 || m->kv[i].refs == 0) new_pins++;
  }
  long need = new_pins + private_blocks(m, r, r->output_tokens, n);
  return m->kv_pinned + m->reserved_private + need <= m->p.kv_blocks ? CAN_START : BLOCKED_KV;
}

static void start(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns) {
  const sy_sim_model_params_t *p = &m->p;
  kv_trim(m, now_ns);
  r->start_ns = now_ns;
  uint64_t lora_ready = lora_acquire(m, r, now_ns), ready = lora_ready;

  int n = usable_hashes(m, r);
  uint64_t hit_ready = 0;
  int hits = hit_blocks(m, r, n, &hit_ready);
  ready = max_u64(ready, hit_ready);
  r->cached_tokens = hits * p->block_size;
  long uncached = (long)r->prompt_tokens - r->cached_tokens;

  uint64_t p_start = ready, p_end = ready, first;
  if (p->latency == SY_SIM_LATENCY_CONSTANT) {
    first = max_u64(now_ns, lora_ready) + ms_to_ns(p->ttft_ms);
  } else {
    if (p->serial_prefill) p_start = max_u64(ready, m->prefill_free_ns);
    p_end = p_start + (uint64_t)llround((double)uncached * p->prefill_ms_per_token * 1e6);
    if (p->serial_prefill) m->prefill_free_ns = p_end;
    first = p_end + ms_to_ns(p->prefill_overhead_ms);
  }
  r->prefill_start_ns = p_start;
  r->prefill_end_ns = p_end;
  uint64_t base = first - now_ns;
  r->first_ns = (uint64_t)((int64_t)first + jitter_ns(m, p->ttft_std_ms * 1e6, base));

  double itl = p->itl_ms * (1.0 + p->itl_load_factor * (double)m->n_running);
  uint64_t itl_ns = ms_to_ns(itl);
  r->itl_ns = (uint64_t)((int64_t)itl_ns + jitter_ns(m, p->itl_std_ms * 1e6, itl_ns));

  /* Reused blocks are pinned first (they are the leading ones), so the
   * evictions new blocks may cause never touch them. */
  r->n_pinned = 0;
  for (int j = 0; j < n; j++) {
    int32_t i = kv_lookup(m, r->block_hashes[j]);
    if (i < 0) i = kv_insert(m, r->block_hashes[j], p_end);
    if (i < 0) break; /* every block pinned: the rest stays private */
    kv_pin(m, i);
    r->n_pinned = j + 1;
  }
  r->final_private = private_blocks(m, r, r->output_tokens, r->n_pinned);
  m->reserved_private += r->final_private;
  m->prefix_queries_total += (uint64_t)r->prompt_tokens;
  m->prefix_hits_total += (uint64_t)r->cached_tokens;

  r->state = SY_SIM_REQ_RUNNING;
  r->prev = NULL;
  r->next = m->run_head;
  if (m->run_head) m->run_head->prev = r;
  m->run_head = r;
  m->n_running++;
  if (lora_ok(m, r->lora)) m->lora_running[r->lora]++;
  sy_sim_hist_observe(&m->queue_time, secs(r->arrive_ns, now_ns));
  kv_trim(m, now_ns); /* its private blocks may push cached ones out */
}

static void run_unlink(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns) {
  if (r->prev) r->prev->next = r->next;
  else m->run_head = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
  m->n_running--;
  m->reserved_private -= r->final_private;
  /* Left during its prefill as the last one on the lane: the lane is free
   * again (earlier requests' turns are already fixed). */
  if (m->p.latency == SY_SIM_LATENCY_PER_TOKEN && m->p.serial_prefill && m->prefill_free_ns == r->prefill_end_ns &&
      now_ns < r->prefill_end_ns)
    m->prefill_free_ns = max_u64(now_ns, r->prefill_start_ns);
  /* Tail block first onto the LRU list, so it is evicted before the
   * prefix it extends (vLLM frees a request's blocks in reverse too). */
  for (int j = r->n_pinned - 1; j >= 0; j--) {
    int32_t i = kv_lookup(m, r->block_hashes[j]);
    if (i >= 0) kv_unpin(m, i, now_ns);
  }
  r->n_pinned = 0;
  if (lora_ok(m, r->lora)) {
    m->lora_running[r->lora]--;
    m->lora_used_seq[r->lora] = ++m->use_seq;
  }
}

static void wait_unlink(sy_sim_model_t *m, sy_sim_req_t *r) {
  if (r->prev) r->prev->next = r->next;
  else m->wait_head = r->next;
  if (r->next) r->next->prev = r->prev;
  else m->wait_tail = r->prev;
  r->prev = r->next = NULL;
  m->n_waiting--;
  if (lora_ok(m, r->lora)) m->lora_waiting[r->lora]--;
}

int sy_sim_model_submit(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns) {
  if (r->prompt_tokens < 1) r->prompt_tokens = 1;
  if (r->output_tokens < 1) r->output_tokens = 1;
  r->first_token_seen = false;
  r->lora_loaded_now = false;
  r->cached_tokens = r->n_pinned = 0;
  r->final_private = 0;
  r->first_ns = r->start_ns = r->prefill_start_ns = r->prefill_end_ns = 0;
  r->itl_ns = 0;
  r->prev = r->next = NULL;
  /* FIFO: anyone waiting for something other than a LoRA slot is ahead. */
  bool ahead = false;
  for (const sy_sim_req_t *w = m->wait_head; w && !ahead; w = w->next) ahead = check_start(m, w) != BLOCKED_LORA;
  if (!ahead && check_start(m, r) == CAN_START) {
    r->arrive_ns = now_ns;
    start(m, r, now_ns);
    return 1;
  }
  if (m->n_waiting >= m->p.max_queue) return SY_ETOOBIG;
  r->arrive_ns = now_ns;
  r->state = SY_SIM_REQ_WAITING;
  r->prev = m->wait_tail;
  if (m->wait_tail) m->wait_tail->next = r;
  else m->wait_head = r;
  m->wait_tail = r;
  m->n_waiting++;
  if (lora_ok(m, r->lora)) m->lora_waiting[r->lora]++;
  return 0;
}

sy_sim_req_t *sy_sim_model_admit(sy_sim_model_t *m, uint64_t now_ns) {
  for (sy_sim_req_t *r = m->wait_head; r; r = r->next) {
    block_t b = check_start(m, r);
    if (b == BLOCKED_LORA) continue; /* vLLM skips it and looks further */
    if (b != CAN_START) return NULL;
    wait_unlink(m, r);
    start(m, r, now_ns);
    return r;
  }
  return NULL;
}

void sy_sim_model_first_token(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns) {
  if (r->state != SY_SIM_REQ_RUNNING || r->first_token_seen) return;
  r->first_token_seen = true;
  m->prompt_tokens_total += (uint64_t)r->prompt_tokens;
  sy_sim_hist_observe(&m->ttft, secs(r->arrive_ns, now_ns));
}

void sy_sim_model_finish(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns) {
  if (r->state != SY_SIM_REQ_RUNNING) return;
  sy_sim_model_first_token(m, r, now_ns);
  run_unlink(m, r, now_ns);
  r->state = SY_SIM_REQ_DONE;
  m->generation_tokens_total += (uint64_t)r->output_tokens;
  m->finished_length++;
  sy_sim_hist_observe(&m->e2e, secs(r->arrive_ns, now_ns));
}

void sy_sim_model_abort(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns) {
  if (r->state == SY_SIM_REQ_WAITING) {
    wait_unlink(m, r);
  } else if (r->state == SY_SIM_REQ_RUNNING) {
    /* Tokens already produced count, as they do in a real engine. */
    int done = sy_sim_model_tokens_at(m, r, now_ns);
    m->generation_tokens_total += (uint64_t)done;
    if (!r->first_token_seen && done > 0) m->prompt_tokens_total += (uint64_t)r->prompt_tokens;
    run_unlink(m, r, now_ns);
  } else {
    return;
  }
  r->state = SY_SIM_REQ_DONE;
  m->finished_abort++;
}

void sy_sim_model_note_rejected(sy_sim_model_t *m) { m->rejected++; }

/* -------------------------------------------------------------- hashing */

static void put_le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int sy_sim_hasher_init(sy_sim_hasher_t *h, const char *model, const char *salt, size_t block_chars, int max_blocks) {
  memset(h, 0, sizeof(*h));
  h->block_chars = block_chars ? block_chars : 1;
  h->max = max_blocks > 0 ? max_blocks : 0;
  if (!h->max) return 0;
  size_t ml = model ? strlen(model) : 0, sl = salt ? strlen(salt) : 0;
  unsigned char *seed = sy_malloc(ml + sl + 1);
  if (!seed) return -ENOMEM;
  if (ml) memcpy(seed, model, ml);
  if (sl) memcpy(seed + ml, salt, sl);
  h->prev = XXH64(seed, ml + sl, 0);
  sy_free(seed);
  h->blk = sy_malloc(h->block_chars + 8);
  return h->blk ? 0 : -ENOMEM;
}

int sy_sim_hasher_feed(sy_sim_hasher_t *h, const void *data, size_t n) {
  const unsigned char *d = data;
  h->total += n;
  while (h->blk && n) {
    size_t take = SY_MIN(n, h->block_chars - h->blk_len);
    memcpy(h->blk + h->blk_len, d, take);
    h->blk_len += take;
    d += take;
    n -= take;
    if (h->blk_len < h->block_chars) break;
    h->blk_len = 0;
    if (h->n == h->cap) {
      int cap = h->cap ? SY_MIN(h->cap * 2, h->max) : SY_MIN(16, h->max);
      uint64_t *nh = sy_realloc(h->hashes, (size_t)cap * sizeof(*nh));
      if (!nh) return -ENOMEM;
      h->hashes = nh;
      h->cap = cap;
    }
    put_le64(h->blk + h->block_chars, h->prev);
    h->prev = XXH64(h->blk, h->block_chars + 8, 0);
    h->hashes[h->n++] = h->prev;
    if (h->n == h->max) SY_FREE(&h->blk); /* enough blocks: only count from here */
  }
  return 0;
}

uint64_t *sy_sim_hasher_take(sy_sim_hasher_t *h, int *n) {
  uint64_t *out = h->hashes;
  *n = h->n;
  h->hashes = NULL;
  h->n = h->cap = 0;
  return out;
}

void sy_sim_hasher_cleanup(sy_sim_hasher_t *h) {
  if (!h) return;
  SY_FREE(&h->blk);
  SY_FREE(&h->hashes);
}
