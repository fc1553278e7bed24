/* The scheduling cycle: producers, profile handler, profiles (filters →
 * weighted scorers → picker), with per-plugin call timing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "scheduler_int.h"

int sy_sched_errorf(sy_sched_error_t *err, const sy_yaml_node_t *at, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->line = at ? at->line : 0;
    err->column = at ? at->column : 0;
  }
  return SY_EINVAL;
}

const char *sy_sched_request_header(const sy_sched_request_t *r, const char *key) {
  for (size_t i = 0; i < r->n_headers; i++) {
    if (!strcmp(r->headers[i].key, key)) return r->headers[i].value;
  }
  return NULL;
}

inst_t *sy_sched__inst_find(sy_sched_t *s, const char *name) {
  for (size_t i = 0; i < s->n_insts; i++) {
    if (!strcmp(s->insts[i].name, name)) return &s->insts[i];
  }
  return NULL;
}

void *sy_sched_plugin_find(sy_sched_t *s, const char *name, const sy_sched_plugin_type_t **type) {
  inst_t *i = sy_sched__inst_find(s, name);
  if (type) *type = i ? i->type : NULL;
  return i ? i->state : NULL;
}

int sy_sched_slot_alloc(sy_sched_t *s) { return s->next_slot < SY_SCHED_MAX_SLOTS ? s->next_slot++ : -1; }

size_t sy_sched_profile_count(const sy_sched_t *s) { return s->n_profiles; }
const sy_sched_profile_t *sy_sched_profile_at(const sy_sched_t *s, size_t i) {
  return i < s->n_profiles ? &s->profiles[i] : NULL;
}
const sy_sched_profile_t *sy_sched_profile_by_name(const sy_sched_t *s, const char *name) {
  for (size_t i = 0; i < s->n_profiles; i++) {
    if (!strcmp(s->profiles[i].name, name)) return &s->profiles[i];
  }
  return NULL;
}
const char *sy_sched_profile_name(const sy_sched_profile_t *p) { return p->name; }
const sy_sched_datalayer_t *sy_sched_datalayer(const sy_sched_t *s) { return &s->datalayer; }

void sy_sched_set_observer(sy_sched_t *s, sy_sched_observer_fn fn, void *ctx) {
  s->observer = fn;
  s->observer_ctx = ctx;
}

static const char *const EXT_POINT[EXT_N] = {"Filter", "Scorer", "Picker", "PrepareData", "PreRequest", "ProfilePicker"};

static inline void account(const sy_sched_t *s, inst_t *i, ext_id_t e, uint64_t t0) {
  uint64_t dt = sy_now_ns() - t0;
  atomic_fetch_add_explicit(&i->calls[e], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&i->ns[e], dt, memory_order_relaxed);
  if (s->observer) s->observer(s->observer_ctx, EXT_POINT[e], i->type->type, i->name, (double)dt / 1e9);
}

static void copy_str(char *dst, size_t cap, const char *src) {
  size_t n = src ? strnlen(src, cap - 1) : 0;
  memcpy(dst, src ? src : "", n);
  dst[n] = '\0';
}

/* Appends the decision of one profile run to the recent-decisions ring. */
static void record(sy_sched_t *s, const sy_sched_cycle_t *c, const sy_sched_profile_t *p,
                   const sy_sched_profile_result_t *r, sy_sched_cand_t *const *v, size_t n, const double *kept,
                   size_t n_keep) {
  size_t pick = 0; /* index of the first pick among the filtered candidates */
  while (pick < n && v[pick] != r->endpoints[0]) pick++;
  if (pick == n) return;
  sy_sched_decision_t d;
  d.wall_time = sy_wall_time();
  copy_str(d.request_id, sizeof(d.request_id), c->req ? c->req->request_id : NULL);
  copy_str(d.profile, sizeof(d.profile), p->name);
  copy_str(d.endpoint, sizeof(d.endpoint), r->endpoints[0]->ep->address);
  d.total = r->endpoints[0]->score;
  d.n_candidates = c->n_cands;
  d.n_after_filters = n;
  d.n_scorers = n_keep;
  for (size_t k = 0; k < n_keep; k++) {
    copy_str(d.scorer[k], sizeof(d.scorer[k]), p->scorers[k].inst->name);
    d.weight[k] = p->scorers[k].weight;
    d.score[k] = kept[k * n + pick];
  }
  pthread_mutex_lock(&s->recent_mu);
  d.seq = ++s->recent_seq;
  s->recent[d.seq % SY_SCHED_RECENT] = d;
  pthread_mutex_unlock(&s->recent_mu);
}

size_t sy_sched_recent_decisions(sy_sched_t *s, sy_sched_decision_t *out, size_t max) {
  size_t k = 0;
  pthread_mutex_lock(&s->recent_mu);
  for (uint64_t seq = s->recent_seq; seq > 0 && k < max && k < SY_SCHED_RECENT; seq--) {
    const sy_sched_decision_t *d = &s->recent[seq % SY_SCHED_RECENT];
    if (d->seq != seq) break;
    out[k++] = *d;
  }
  pthread_mutex_unlock(&s->recent_mu);
  return k;
}

const char *sy_sched_config_text(const sy_sched_t *s) { return s->config_text ? s->config_text : ""; }

sy_sched_profile_result_t *sy_sched_run_profile(sy_sched_t *s, sy_sched_cycle_t *c, const sy_sched_profile_t *p) {
  if (c->n_results >= SY_SCHED_MAX_PROFILES || c->n_cands == 0) return NULL;
  sy_sched_cand_t **v = sy_arena_alloc(c->arena, sizeof(*v) * c->n_cands);
  double *scores = sy_arena_alloc(c->arena, sizeof(double) * c->n_cands);
  if (!v || !scores) return NULL;
  size_t n = c->n_cands;
  for (size_t i = 0; i < n; i++) {
    v[i] = &c->cands[i];
    v[i]->score = 0;
  }
  for (size_t f = 0; f < p->n_filters && n > 0; f++) {
    inst_t *in = p->filters[f];
    uint64_t t0 = sy_now_ns();
    n = in->type->filter(in->state, c, v, n);
    account(s, in, EXT_FILTER, t0);
  }
  if (n == 0) return NULL;
  /* Per-scorer clamped scores are kept (arena) so the decision can be
   * explained afterwards. */
  size_t n_keep = SY_MIN(p->n_scorers, (size_t)SY_SCHED_MAX_SCORERS);
  double *kept = sy_arena_alloc(c->arena, sizeof(double) * (n_keep * n + 1));
  if (!kept) return NULL;
  for (size_t k = 0; k < p->n_scorers; k++) {
    inst_t *in = p->scorers[k].inst;
    double w = p->scorers[k].weight;
    for (size_t i = 0; i < n; i++) scores[i] = 0;
    uint64_t t0 = sy_now_ns();
    in->type->score(in->state, c, v, n, scores);
    account(s, in, EXT_SCORE, t0);
    for (size_t i = 0; i < n; i++) {
      double x = scores[i];
      if (!(x > 0)) x = 0; /* also maps NaN to 0 */
      if (x > 1) x = 1;
      v[i]->score += x * w;
      if (k < n_keep) kept[k * n + i] = x;
    }
  }
  sy_sched_profile_result_t *r = &c->results[c->n_results];
  memset(r, 0, sizeof(*r));
  r->profile = p->name;
  uint64_t t0 = sy_now_ns();
  r->n = p->picker->type->pick(p->picker->state, c, v, n, r->endpoints, SY_SCHED_MAX_RESULT);
  account(s, p->picker, EXT_PICK, t0);
  if (r->n == 0) return NULL;
  if (r->n > SY_SCHED_MAX_RESULT) r->n = SY_SCHED_MAX_RESULT;
  c->n_results++;
  record(s, c, p, r, v, n, kept, n_keep);
  return r;
}

static sy_sched_cand_t *fill_cands(sy_arena_t *arena, const sy_endpoint_t *const *eps, size_t n) {
  sy_sched_cand_t *cands = sy_arena_alloc(arena, sizeof(*cands) * n);
  if (!cands) return NULL;
  for (size_t i = 0; i < n; i++) {
    sy_sched_cand_t *c = &cands[i];
    c->ep = eps[i];
    sy_endpoint_metrics_load(eps[i]->state, &c->m);
    c->in_flight = atomic_load_explicit(&eps[i]->state->in_flight, memory_order_relaxed);
    /* The scraped queue is up to one scrape interval old. Our own in-flight
     * count is exact and current: whatever we sent beyond what the server
     * reported running must be queued there. Using the larger of the two
     * keeps a burst between scrapes from herding onto the endpoint that
     * looked best at the last scrape, with no reset discontinuity. */
    if (c->m.has_waiting && c->m.has_running) {
      double excess = (double)c->in_flight - c->m.running;
      if (excess > c->m.waiting) c->m.waiting = excess;
    }
    c->in_flight_tokens = atomic_load_explicit(&eps[i]->state->in_flight_tokens, memory_order_relaxed);
    c->score = 0;
    for (int k = 0; k < SY_SCHED_MAX_SLOTS; k++) c->slot[k] = 0;
  }
  return cands;
}

int sy_sched_schedule(sy_sched_t *s, sy_arena_t *arena, uint64_t now_ns, const sy_sched_request_t *req,
                      const sy_endpoint_t *const *eps, size_t n, sy_sched_result_t *out) {
  memset(out, 0, sizeof(*out));
  if (n == 0) return SY_ENOTFOUND;
  sy_sched_cycle_t *c = sy_arena_calloc(arena, sizeof(*c));
  sy_sched_cand_t *cands = fill_cands(arena, eps, n);
  if (!c || !cands) return -ENOMEM;
  c->arena = arena;
  c->req = req;
  c->now_ns = now_ns;
  c->cands = cands;
  c->n_cands = n;
  c->out = out;
  out->prompt_tokens_estimate = (long)(req->prompt_len / 4);

  for (size_t i = 0; i < s->n_insts; i++) {
    inst_t *in = &s->insts[i];
    if (!in->type->prepare) continue;
    uint64_t t0 = sy_now_ns();
    in->type->prepare(in->state, c);
    account(s, in, EXT_PREPARE, t0);
  }
  uint64_t t0 = sy_now_ns();
  int rc = s->handler->type->handle(s->handler->state, s, c);
  account(s, s->handler, EXT_HANDLE, t0);
  if (rc != 0) return rc;
  if (out->n == 0) {
    /* The handler named a primary profile: copy its endpoints out. */
    for (size_t r = 0; r < c->n_results; r++) {
      const sy_sched_profile_result_t *pr = &c->results[r];
      if (c->primary_profile && strcmp(pr->profile, c->primary_profile) != 0) continue;
      for (size_t i = 0; i < pr->n; i++) out->endpoints[out->n++] = pr->endpoints[i]->ep;
      if (!c->primary_profile) c->primary_profile = pr->profile;
      break;
    }
  }
  if (out->n == 0) return SY_ENOTFOUND;
  for (size_t i = 0; i < s->n_insts; i++) {
    inst_t *in = &s->insts[i];
    if (!in->type->pre_request) continue;
    uint64_t t1 = sy_now_ns();
    in->type->pre_request(in->state, c);
    account(s, in, EXT_PRE_REQUEST, t1);
  }
  return 0;
}

double sy_sched_saturation(sy_sched_t *s, sy_arena_t *arena, uint64_t now_ns, const sy_endpoint_t *const *eps,
                           size_t n) {
  if (!s->detector || !s->detector->type->saturation) return 0.0;
  if (n == 0) return 1.0;
  sy_sched_cycle_t c;
  memset(&c, 0, sizeof(c));
  c.arena = arena;
  c.now_ns = now_ns;
  c.cands = fill_cands(arena, eps, n);
  sy_sched_cand_t **v = sy_arena_alloc(arena, sizeof(*v) * n);
  if (!c.cands || !v) return 1.0;
  c.n_cands = n;
  for (size_t i = 0; i < n; i++) v[i] = &c.cands[i];
  return s->detector->type->saturation(s->detector->state, &c, v, n);
}

void sy_sched_complete(sy_sched_t *s, const sy_sched_completion_t *done) {
  for (size_t i = 0; i < s->n_insts; i++) {
    inst_t *in = &s->insts[i];
    if (in->type->complete) in->type->complete(in->state, done);
  }
}

size_t sy_sched_stats(const sy_sched_t *s, sy_sched_plugin_stats_t *out, size_t max) {
  static const char *const names[EXT_N] = {"filter", "score", "pick", "prepare", "pre_request", "handle"};
  size_t k = 0;
  for (size_t i = 0; i < s->n_insts; i++) {
    const inst_t *in = &s->insts[i];
    for (int e = 0; e < EXT_N; e++) {
      uint64_t calls = atomic_load_explicit(&in->calls[e], memory_order_relaxed);
      if (!calls) continue;
      if (k < max) {
        out[k].name = in->name;
        out[k].type = in->type->type;
        out[k].extension = names[e];
        out[k].calls = calls;
        out[k].total_ns = atomic_load_explicit(&in->ns[e], memory_order_relaxed);
      }
      k++;
    }
  }
  return k;
}
