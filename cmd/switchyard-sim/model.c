/* The simulated engine: queue, running set, KV blocks, latency. */
#include "model.h"

#include <math.h>
#include <string.h>

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

int sy_sim_model_init(sy_sim_model_t *m, const sy_sim_model_params_t *p) {
  if (!m || !p) return SY_EINVAL;
  if (!(p->ttft_ms >= 0) || !(p->itl_ms >= 0) || !isfinite(p->ttft_ms) || !isfinite(p->itl_ms)) return SY_EINVAL;
  if (p->max_num_seqs < 1 || p->max_queue < 0 || p->kv_blocks < 1 || p->block_size < 1) return SY_EINVAL;
  if (p->n_loras < 0 || p->n_loras > SY_SIM_MAX_LORAS) return SY_EINVAL;
  memset(m, 0, sizeof(*m));
  m->p = *p;
  hist_init(&m->ttft, ttft_bounds, SY_ARRAY_LEN(ttft_bounds));
  hist_init(&m->e2e, e2e_bounds, SY_ARRAY_LEN(e2e_bounds));
  hist_init(&m->queue_time, e2e_bounds, SY_ARRAY_LEN(e2e_bounds));
  return 0;
}

static double secs(uint64_t from, uint64_t to) { return to > from ? (double)(to - from) / 1e9 : 0.0; }

static bool lora_ok(const sy_sim_model_t *m, int lora) { return lora >= 0 && lora < m->p.n_loras; }

long sy_sim_model_blocks_for(const sy_sim_model_t *m, long tokens) {
  if (tokens <= 0) return 0;
  return (tokens + m->p.block_size - 1) / m->p.block_size;
}

uint64_t sy_sim_model_token_offset_ns(const sy_sim_model_t *m, int k) {
  if (k < 1) k = 1;
  double ms = m->p.ttft_ms + (double)(k - 1) * m->p.itl_ms;
  return (uint64_t)llround(ms * 1e6);
}

uint64_t sy_sim_model_token_due_ns(const sy_sim_model_t *m, const sy_sim_req_t *r, int k) {
  return r->start_ns + sy_sim_model_token_offset_ns(m, k);
}

int sy_sim_model_tokens_at(const sy_sim_model_t *m, const sy_sim_req_t *r, uint64_t now_ns) {
  if (r->state != SY_SIM_REQ_RUNNING) return r->state == SY_SIM_REQ_DONE ? r->output_tokens : 0;
  if (now_ns < r->start_ns) return 0;
  uint64_t el = now_ns - r->start_ns;
  uint64_t first = sy_sim_model_token_offset_ns(m, 1);
  if (el < first) return 0;
  uint64_t itl = (uint64_t)llround(m->p.itl_ms * 1e6);
  /* Zero ITL: every token is out the moment the first one is. */
  if (itl == 0) return r->output_tokens;
  uint64_t k = 1 + (el - first) / itl;
  return k >= (uint64_t)r->output_tokens ? r->output_tokens : (int)k;
}

long sy_sim_model_blocks_used(const sy_sim_model_t *m, uint64_t now_ns) {
  long used = 0;
  for (const sy_sim_req_t *r = m->run_head; r; r = r->next)
    used += sy_sim_model_blocks_for(m, (long)r->prompt_tokens + sy_sim_model_tokens_at(m, r, now_ns));
  return used;
}

double sy_sim_model_kv_usage(const sy_sim_model_t *m, uint64_t now_ns) {
  double u = (double)sy_sim_model_blocks_used(m, now_ns) / (double)m->p.kv_blocks;
  return u > 1.0 ? 1.0 : u;
}

/* A request may start when a slot is free and its prompt fits in the free
 * KV blocks. An idle engine always takes it, even when it does not fit, so
 * an oversized prompt cannot block the queue forever (vLLM would reject it
 * against max-model-len; the sim has no such limit). */
static bool can_start(const sy_sim_model_t *m, const sy_sim_req_t *r, uint64_t now_ns) {
  if (m->n_running >= m->p.max_num_seqs) return false;
  if (m->n_running == 0) return true;
  long need = sy_sim_model_blocks_for(m, r->prompt_tokens);
  return sy_sim_model_blocks_used(m, now_ns) + need <= m->p.kv_blocks;
}

static void run_push(sy_sim_model_t *m, sy_sim_req_t *r, uint64_t now_ns) {
  r->state = SY_SIM_REQ_RUNNING;
  r->start_ns = now_ns;
  r->prev = NULL;
  r->next = m->run_head;
  if (m->run_head) m->run_head->prev = r;
  m->run_head = r;
  m->n_running++;
  if (lora_ok(m, r->lora)) m->lora_running[r->lora]++;
  sy_sim_hist_observe(&m->queue_time, secs(r->arrive_ns, now_ns));
}

static void run_unlink(sy_sim_model_t *m, sy_sim_req_t *r) {
  if (r->prev) r->prev->next = r->next;
  else m->run_head = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
  m->n_running--;
  if (lora_ok(m, r->lora)) m->lora_running[r->lora]--;
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
  r->prev = r->next = NULL;
  if (m->n_waiting == 0 && can_start(m, r, now_ns)) {
    r->arrive_ns = now_ns;
    run_push(m, r, now_ns);
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
  sy_sim_req_t *r = m->wait_head;
  if (!r || !can_start(m, r, now_ns)) return NULL;
  wait_unlink(m, r);
  run_push(m, r, now_ns);
  return r;
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
  run_unlink(m, r);
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
    m->generation_tokens_total += (uint64_t)sy_sim_model_tokens_at(m, r, now_ns);
    if (!r->first_token_seen && sy_sim_model_tokens_at(m, r, now_ns) > 0)
      m->prompt_tokens_total += (uint64_t)r->prompt_tokens;
    run_unlink(m, r);
  } else {
    return;
  }
  r->state = SY_SIM_REQ_DONE;
  m->finished_abort++;
}

void sy_sim_model_note_rejected(sy_sim_model_t *m) { m->rejected++; }
