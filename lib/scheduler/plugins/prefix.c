/* approx-prefix-cache-producer and prefix-cache-scorer (GAIE v1.5.0
 * approximateprefix / scorer/prefix), written from the algorithm's
 * description (reference §4.4):
 *
 *  prepare      block size = first candidate's scraped block_size when
 *               autoTune and known, else blockSizeTokens; block = size × 4
 *               bytes of the request's prompt text; at most maxBlocks =
 *               maxPrefixTokensToMatch / size (when > 0) or
 *               maxPrefixBlocksToMatch full blocks are hashed (prefix_index.h);
 *               each candidate gets the number of leading-run blocks it
 *               holds (cand->slot[k]) and the cycle the total (slot_total[k]).
 *  pre_request  the hashes are recorded for the primary profile's first
 *               endpoint and the first endpoint of a profile named "prefill",
 *               with LRU capacity = scraped num_blocks when autoTune and
 *               known, else lruCapacityPerServer. Inline, under the index's
 *               write lock (upstream: asynchronously).
 *  scorer       matched / total, 0 when there are no hashes.
 *
 * Both types take the same parameters (the config loader auto-creates the
 * producer with the scorer's parameters). Deviations from upstream, on
 * purpose: parameters are strict (upstream ignores unknown keys) and
 * negative sizes are rejected; the LRU capacity fallback is the configured
 * lruCapacityPerServer (upstream's code always falls back to the constant
 * 31250, leaving the parameter unused); an endpoint's capacity follows its
 * latest num_blocks (upstream fixes it when the pod is first seen).
 */
#include <errno.h>
#include <string.h>

#include "plugins.h"
#include "prefix_index.h"
#include "putil.h"

#define PRODUCER_TYPE "approx-prefix-cache-producer"
#define PREFILL_PROFILE "prefill" /* upstream experimentalDefaultPrefillProfile */

typedef struct prefix_params {
  bool auto_tune;
  int64_t block_size_tokens;
  int64_t block_size_chars; /* deprecated blockSize: validated, otherwise ignored */
  int64_t max_blocks;
  int64_t max_tokens;
  int64_t lru_capacity;
  const char *producer_name; /* borrowed from the YAML tree during create */
} prefix_params_t;

typedef struct producer {
  prefix_params_t p;
  sy_pfx_index_t *ix;
  int slot;
} producer_t;

/* Per-cycle producer data (c->data[slot]), in the request's arena. */
typedef struct cycle_data {
  uint64_t *hashes;
  size_t n;
  int block_tokens;
} cycle_data_t;

typedef struct scorer {
  char *producer_name;
  producer_t *prod;
} scorer_t;

static int parse_params(const sy_sched_plugin_args_t *args, prefix_params_t *p, sy_sched_error_t *err) {
  static const char *const keys[] = {"autoTune",
                                     "blockSizeTokens",
                                     "maxPrefixBlocksToMatch",
                                     "maxPrefixTokensToMatch",
                                     "lruCapacityPerServer",
                                     "blockSize",
                                     "prefixMatchInfoProducerName",
                                     /* llm-d's: accepted so its configs load unchanged */
                                     "hashBlockSize",
                                     "matchLengthWeight",
                                     "matchLengthScaleTokens",
                                     NULL};
  *p = (prefix_params_t){.auto_tune = true,
                         .block_size_tokens = 16,
                         .max_blocks = 256,
                         .max_tokens = 0,
                         .lru_capacity = 31250,
                         .producer_name = PRODUCER_TYPE};
  int rc = sy_pp_check(args, keys, err);
  const sy_yaml_node_t *m = args->params;
  if (!rc) rc = sy_pp_bool(args, m, "autoTune", &p->auto_tune, err);
  if (!rc) rc = sy_pp_int(args, m, "blockSizeTokens", 0, 1 << 20, &p->block_size_tokens, err);
  if (!rc) rc = sy_pp_int(args, m, "blockSize", 0, INT32_MAX, &p->block_size_chars, err);
  if (!rc) rc = sy_pp_int(args, m, "maxPrefixBlocksToMatch", 0, INT32_MAX, &p->max_blocks, err);
  if (!rc) rc = sy_pp_int(args, m, "maxPrefixTokensToMatch", 0, INT32_MAX, &p->max_tokens, err);
  if (!rc) rc = sy_pp_int(args, m, "lruCapacityPerServer", 1, INT32_MAX, &p->lru_capacity, err);
  if (!rc) rc = sy_pp_str(args, m, "prefixMatchInfoProducerName", &p->producer_name, err);
  int64_t legacy_hash_block = 0, scale_tokens = 0;
  double match_weight = 0;
  if (!rc) rc = sy_pp_int(args, m, "hashBlockSize", 0, INT32_MAX, &legacy_hash_block, err);
  if (!rc) rc = sy_pp_int(args, m, "matchLengthScaleTokens", 0, INT32_MAX, &scale_tokens, err);
  if (!rc) rc = sy_pp_double(args, m, "matchLengthWeight", 0, 1e9, &match_weight, err);
  if (rc) return rc;
  if (match_weight != 0)
    return sy_sched_errorf(err, sy_yaml_get(m, "matchLengthWeight"),
                           "parameter \"matchLengthWeight\" other than 0 is not supported by switchyard");
  if (legacy_hash_block > 0)
    SY_LOG(SY_LOG_WARN, "legacy prefix-cache parameter hashBlockSize ignored; use blockSizeTokens", "plugin",
           args->name ? args->name : "?", NULL);
  const char *name = args->name ? args->name : "?";
  if (!p->producer_name[0]) {
    return sy_sched_errorf(err, sy_yaml_get(m, "prefixMatchInfoProducerName"),
                           "parameter \"prefixMatchInfoProducerName\" must not be empty");
  }
  /* Upstream's rule, applied after defaults (blockSizeTokens defaults to 16,
   * so a lone blockSize is accepted and ignored). */
  if (p->block_size_chars > 0 && p->block_size_tokens <= 0) {
    return sy_sched_errorf(err, sy_yaml_get(m, "blockSize"),
                           "parameter \"blockSize\" (%lld) is deprecated; use \"blockSizeTokens\" to set the cache "
                           "block size in tokens",
                           (long long)p->block_size_chars);
  }
  if (!p->auto_tune && p->block_size_tokens <= 0) {
    return sy_sched_errorf(err, sy_yaml_get(m, "blockSizeTokens"),
                           "parameter \"blockSizeTokens\" must be > 0 when autoTune is false");
  }
  if (p->block_size_chars > 0) {
    SY_LOG(SY_LOG_WARN, "deprecated prefix-cache parameter blockSize ignored; use blockSizeTokens", "plugin", name,
           NULL);
  }
  return 0;
}

/* -------------------------------------------------------------- producer */

static int producer_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  prefix_params_t p;
  int rc = parse_params(args, &p, err);
  if (rc) return rc;
  int slot = args->sched ? sy_sched_slot_alloc(args->sched) : 0;
  if (slot < 0) {
    return sy_sched_errorf(err, NULL, "no producer data slot left (at most %d producers)", SY_SCHED_MAX_SLOTS);
  }
  producer_t *st = sy_calloc(1, sizeof(*st));
  if (!st) return -ENOMEM;
  st->p = p;
  st->p.producer_name = NULL; /* not used by the producer; the YAML tree goes away */
  st->slot = slot;
  st->ix = sy_pfx_index_new();
  if (!st->ix) {
    sy_free(st);
    return -ENOMEM;
  }
  *state = st;
  return 0;
}

static void producer_destroy(void *state) {
  producer_t *st = state;
  if (!st) return;
  sy_pfx_index_free(st->ix);
  sy_free(st);
}

static int block_tokens_for(const producer_t *st, const sy_sched_cycle_t *c) {
  if (st->p.auto_tune && c->n_cands > 0 && c->cands[0].m.block_size > 0) return c->cands[0].m.block_size;
  return (int)st->p.block_size_tokens;
}

static void producer_prepare(void *state, sy_sched_cycle_t *c) {
  producer_t *st = state;
  int k = st->slot;
  c->data[k] = NULL;
  c->slot_total[k] = 0;
  for (size_t i = 0; i < c->n_cands; i++) c->cands[i].slot[k] = 0;
  cycle_data_t *d = sy_arena_calloc(c->arena, sizeof(*d));
  if (!d) return;
  d->block_tokens = block_tokens_for(st, c);
  c->data[k] = d;
  const sy_sched_request_t *req = c->req;
  if (!req || !req->prompt || d->block_tokens <= 0) return;

  size_t bt = (size_t)d->block_tokens;
  size_t block_chars = bt * SY_PFX_CHARS_PER_TOKEN;
  size_t max_blocks = (size_t)st->p.max_blocks;
  if (st->p.max_tokens > 0) max_blocks = (size_t)st->p.max_tokens / bt;
  size_t n = sy_pfx_block_count(req->prompt_len, block_chars, max_blocks);
  if (n == 0) return;
  uint64_t *h = sy_arena_alloc(c->arena, sizeof(uint64_t) * n);
  const char **addrs = sy_arena_alloc(c->arena, sizeof(char *) * (c->n_cands ? c->n_cands : 1));
  uint32_t *counts = sy_arena_alloc(c->arena, sizeof(uint32_t) * (c->n_cands ? c->n_cands : 1));
  uint16_t *scratch = sy_arena_alloc(c->arena, sizeof(uint16_t) * (c->n_cands ? c->n_cands : 1));
  if (!h || !addrs || !counts || !scratch) return;

  const char *model = req->model ? req->model : "";
  const char *salt = req->cache_salt;
  d->n = sy_pfx_hash_prompt(model, strlen(model), salt, salt ? strlen(salt) : 0, req->prompt, req->prompt_len,
                            block_chars, max_blocks, h);
  d->hashes = h;
  c->slot_total[k] = (double)d->n;
  for (size_t i = 0; i < c->n_cands; i++) addrs[i] = c->cands[i].ep->address;
  sy_pfx_index_match(st->ix, h, d->n, addrs, c->n_cands, counts, scratch, c->now_ns);
  for (size_t i = 0; i < c->n_cands; i++) c->cands[i].slot[k] = counts[i];
}

static uint64_t capacity_for(const producer_t *st, const sy_sched_cand_t *cand) {
  if (st->p.auto_tune && cand->m.num_blocks > 0) return (uint64_t)cand->m.num_blocks;
  return (uint64_t)st->p.lru_capacity;
}

static void producer_pre_request(void *state, sy_sched_cycle_t *c) {
  producer_t *st = state;
  const cycle_data_t *d = c->data[st->slot];
  if (!d || d->n == 0) return;
  const sy_sched_cand_t *primary = NULL, *prefill = NULL;
  for (size_t r = 0; r < c->n_results; r++) {
    const sy_sched_profile_result_t *pr = &c->results[r];
    if (pr->n == 0 || !pr->profile) continue;
    if (!primary && c->primary_profile && !strcmp(pr->profile, c->primary_profile)) primary = pr->endpoints[0];
    if (!prefill && !strcmp(pr->profile, PREFILL_PROFILE)) prefill = pr->endpoints[0];
  }
  if (!primary && c->out && c->out->n > 0) { /* a handler that filled c->out itself */
    for (size_t i = 0; i < c->n_cands && !primary; i++) {
      if (c->cands[i].ep == c->out->endpoints[0]) primary = &c->cands[i];
    }
  }
  if (!primary) return;
  if (c->out) {
    double matched = primary->slot[st->slot];
    c->out->prefix_known = true;
    c->out->prefix_hit_ratio = matched / (double)d->n;
    c->out->prefix_hit_bytes = (long)matched * d->block_tokens * 4;
  }
  sy_pfx_target_t t[2];
  size_t nt = 0;
  t[nt++] = (sy_pfx_target_t){primary->ep->address, capacity_for(st, primary)};
  if (prefill) t[nt++] = (sy_pfx_target_t){prefill->ep->address, capacity_for(st, prefill)};
  (void)sy_pfx_index_add(st->ix, d->hashes, d->n, t, nt, c->now_ns);
}

const sy_sched_plugin_type_t sy_plugin_approx_prefix_cache_producer = {
    .type = PRODUCER_TYPE,
    .kinds = SY_SCHED_PRODUCER,
    .create = producer_create,
    .destroy = producer_destroy,
    .prepare = producer_prepare,
    .pre_request = producer_pre_request,
};

size_t sy_prefix_index_size(void *producer_state) {
  const producer_t *st = producer_state;
  return st ? sy_pfx_index_size(st->ix) : 0;
}

int sy_prefix_match_slot(const sy_sched_plugin_type_t *t, void *st, const sy_sched_cycle_t *c, int *block_tokens) {
  if (t != &sy_plugin_approx_prefix_cache_producer || !st) return -1;
  const producer_t *p = st;
  if (block_tokens) {
    const cycle_data_t *d = c ? c->data[p->slot] : NULL;
    *block_tokens = d ? d->block_tokens : (int)p->p.block_size_tokens;
  }
  return p->slot;
}

/* ---------------------------------------------------------------- scorer */

static int scorer_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  prefix_params_t p;
  int rc = parse_params(args, &p, err);
  if (rc) return rc;
  scorer_t *st = sy_calloc(1, sizeof(*st));
  if (!st) return -ENOMEM;
  st->producer_name = sy_strdup(p.producer_name);
  if (!st->producer_name) {
    sy_free(st);
    return -ENOMEM;
  }
  *state = st;
  return 0;
}

static void scorer_destroy(void *state) {
  scorer_t *st = state;
  if (!st) return;
  sy_free(st->producer_name);
  sy_free(st);
}

static int scorer_link(void *state, sy_sched_t *s, sy_sched_error_t *err) {
  scorer_t *st = state;
  const sy_sched_plugin_type_t *t = NULL;
  void *ps = sy_sched_plugin_find(s, st->producer_name, &t);
  if (!t) {
    return sy_sched_errorf(err, NULL, "producer \"%s\" not found", st->producer_name);
  }
  if (t != &sy_plugin_approx_prefix_cache_producer) {
    return sy_sched_errorf(err, NULL, "plugin \"%s\" is a %s, not an %s",
                           st->producer_name, t->type, PRODUCER_TYPE);
  }
  st->prod = ps;
  return 0;
}

static void scorer_score(void *state, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, double *scores) {
  const scorer_t *st = state;
  double total = st->prod ? c->slot_total[st->prod->slot] : 0;
  for (size_t i = 0; i < n; i++) scores[i] = total > 0 ? cands[i]->slot[st->prod->slot] / total : 0.0;
}

const sy_sched_plugin_type_t sy_plugin_prefix_cache_scorer = {
    .type = "prefix-cache-scorer",
    .kinds = SY_SCHED_SCORER,
    .create = scorer_create,
    .destroy = scorer_destroy,
    .link = scorer_link,
    .score = scorer_score,
};

void sy_prefix_scorer_bind(void *scorer_state, void *producer_state) {
  ((scorer_t *)scorer_state)->prod = producer_state;
}

sy_pfx_index_t *sy_prefix_producer_index(void *producer_state) { return ((producer_t *)producer_state)->ix; }
