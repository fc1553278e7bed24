/* Profile handlers and P/D deciders:
 *   single-profile-handler (GAIE), disagg-profile-handler (llm-d v0.9+),
 *   pd-profile-handler (deprecated llm-d name; also accepts the v0.4.0
 *   threshold/hashBlockSize parameters), prefill-header-handler (deprecated
 *   PreRequest plugin), prefix-based-pd-decider, always-disagg-pd-decider.
 * See plugins/README.md. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "plugins.h"
#include "putil.h"

#define PREFILL_HEADER "x-prefiller-host-port"
#define ENCODER_HEADER "x-encoder-hosts-ports"
#define CHARS_PER_TOKEN 4 /* upstream AverageCharactersPerToken */


static char *dup_or(const char *s, const char *def) { return sy_strdup(s && *s ? s : def); }

/* ------------------------------------------------- single-profile-handler */

static int single_link(void *st, sy_sched_t *s, sy_sched_error_t *err) {
  SY_UNUSED(st);
  size_t n = sy_sched_profile_count(s);
  if (n != 1) return sy_sched_errorf(err, NULL, "requires exactly one scheduling profile, found %zu", n);
  return 0;
}

static int single_handle(void *st, sy_sched_t *s, sy_sched_cycle_t *c) {
  SY_UNUSED(st);
  const sy_sched_profile_t *p = sy_sched_profile_at(s, 0);
  if (!p || !sy_sched_run_profile(s, c, p)) return SY_ENOTFOUND;
  c->primary_profile = sy_sched_profile_name(p);
  return 0;
}

const sy_sched_plugin_type_t sy_plugin_single_profile_handler = {
    .type = "single-profile-handler",
    .kinds = SY_SCHED_PROFILE_HANDLER,
    .create = sy_plugin_create_noparams,
    .link = single_link,
    .handle = single_handle,
};

/* -------------------------------------------------------------- deciders */

typedef struct prefix_decider {
  int64_t non_cached_tokens;
  int64_t prompt_tokens;
  char *producer; /* prefixMatchInfoProducerName or NULL */
  sy_pp_prefix_t prefix;
} prefix_decider_t;

static void prefix_decider_destroy(void *st) {
  prefix_decider_t *d = st;
  if (!d) return;
  sy_free(d->producer);
  sy_free(d);
}

static int prefix_decider_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"nonCachedTokens", "promptTokens", "prefixMatchInfoProducerName", NULL};
  int64_t nct = 0, pt = 0;
  const char *producer = NULL;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) ||
      (rc = sy_pp_int(args, args->params, "nonCachedTokens", 0, INT32_MAX, &nct, err)) ||
      (rc = sy_pp_int(args, args->params, "promptTokens", 0, INT32_MAX, &pt, err)) ||
      (rc = sy_pp_str(args, args->params, "prefixMatchInfoProducerName", &producer, err))) {
    return rc;
  }
  prefix_decider_t *d = sy_calloc(1, sizeof(*d));
  if (!d) return -ENOMEM;
  d->non_cached_tokens = nct;
  d->prompt_tokens = pt;
  d->prefix.slot = -1;
  if (producer && *producer && !(d->producer = sy_strdup(producer))) {
    sy_free(d);
    return -ENOMEM;
  }
  *state = d;
  return 0;
}

static int prefix_decider_link(void *st, sy_sched_t *s, sy_sched_error_t *err) {
  prefix_decider_t *d = st;
  return sy_pp_prefix_link(s, d->producer, true, &d->prefix, err);
}

/* Upstream disaggregate(): off when nonCachedTokens == 0; the prompt length
 * in tokens is len/4; gates on promptTokens, then on the uncached suffix
 * measured on the decode endpoint's prefix-match data. */
static bool prefix_decide(const prefix_decider_t *d, const sy_sched_cycle_t *c, const sy_sched_cand_t *decode) {
  if (d->non_cached_tokens == 0 || !decode || !c->req) return false;
  int64_t input = (int64_t)(c->req->prompt_len / CHARS_PER_TOKEN);
  if (d->prompt_tokens > 0 && input < d->prompt_tokens) return false;
  if (input < d->non_cached_tokens) return false;
  double blocks;
  if (!sy_pp_prefix_match(&d->prefix, c, decode, &blocks)) return false; /* no prefix state */
  int64_t hit = (int64_t)blocks * sy_pp_prefix_block_tokens(&d->prefix, c);
  return input - hit >= d->non_cached_tokens;
}

const sy_sched_plugin_type_t sy_plugin_prefix_based_pd_decider = {
    .type = "prefix-based-pd-decider",
    .kinds = SY_SCHED_OTHER,
    .create = prefix_decider_create,
    .destroy = prefix_decider_destroy,
    .link = prefix_decider_link,
};

const sy_sched_plugin_type_t sy_plugin_always_disagg_pd_decider = {
    .type = "always-disagg-pd-decider",
    .kinds = SY_SCHED_OTHER,
    .create = sy_plugin_create_noparams,
};

typedef struct decider {
  const sy_sched_plugin_type_t *type; /* NULL: none configured */
  void *state;
} decider_t;

static int decider_link(sy_sched_t *s, const char *name, const char *what, decider_t *out, sy_sched_error_t *err) {
  out->type = NULL;
  out->state = NULL;
  if (!name) return 0;
  const sy_sched_plugin_type_t *t = NULL;
  void *st = sy_sched_plugin_find(s, name, &t);
  if (!t) return sy_sched_errorf(err, NULL, "%s plugin not found: %s", what, name);
  if (t != &sy_plugin_prefix_based_pd_decider && t != &sy_plugin_always_disagg_pd_decider) {
    return sy_sched_errorf(err, NULL, "plugin %s (%s) is not a disaggregation decider", name, t->type);
  }
  out->type = t;
  out->state = st;
  return 0;
}

static bool decide(const decider_t *d, const sy_sched_cycle_t *c, const sy_sched_cand_t *decode) {
  if (!d->type) return false;
  if (d->type == &sy_plugin_always_disagg_pd_decider) return true;
  return prefix_decide(d->state, c, decode);
}

/* ------------------------------------------------------- header helpers */

static int set_prefill_header(sy_sched_cycle_t *c, const sy_sched_profile_result_t *r) {
  if (!r || r->n == 0 || !r->endpoints[0]->ep->address) return 0;
  return sy_pp_set_header(c, PREFILL_HEADER, r->endpoints[0]->ep->address);
}

static int set_encoder_header(sy_sched_cycle_t *c, const sy_sched_profile_result_t *r) {
  if (!r || r->n == 0) return 0;
  size_t len = 0;
  for (size_t i = 0; i < r->n; i++) len += strlen(r->endpoints[i]->ep->address) + 1;
  char *v = sy_arena_alloc(c->arena, len + 1);
  if (!v) return -ENOMEM;
  size_t o = 0;
  for (size_t i = 0; i < r->n; i++) {
    if (i) v[o++] = ',';
    size_t l = strlen(r->endpoints[i]->ep->address);
    memcpy(v + o, r->endpoints[i]->ep->address, l);
    o += l;
  }
  v[o] = '\0';
  return sy_pp_set_header(c, ENCODER_HEADER, v);
}

static const sy_sched_profile_result_t *find_result(const sy_sched_cycle_t *c, const char *profile) {
  for (size_t i = 0; i < c->n_results; i++) {
    if (!strcmp(c->results[i].profile, profile)) return &c->results[i];
  }
  return NULL;
}

/* ------------------------------------------------- disagg-profile-handler */

typedef struct disagg {
  bool prefill_first; /* stageOrder */
  char *decode, *prefill, *encode, *fallback; /* profile names (fallback may be NULL) */
  char *prefill_decider_name, *encode_decider_name;
  decider_t prefill_decider, encode_decider;
  const sy_sched_profile_t *p_decode, *p_prefill, *p_encode, *p_fallback; /* resolved at link */
  /* pd-profile-handler compatibility */
  bool legacy;           /* pd-profile-handler: no encode stage, prefill failure → decode-only */
  bool legacy_threshold; /* v0.4.0 `threshold` given: decide on uncached characters */
  int64_t threshold;     /* characters; 0 = always P/D */
  int64_t hash_block_size; /* characters per block, 0 = the producer's */
  char *producer;        /* prefixMatchInfoProducerName */
  sy_pp_prefix_t prefix;
} disagg_t;

static void disagg_destroy(void *st) {
  disagg_t *h = st;
  if (!h) return;
  sy_free(h->decode);
  sy_free(h->prefill);
  sy_free(h->encode);
  sy_free(h->fallback);
  sy_free(h->prefill_decider_name);
  sy_free(h->encode_decider_name);
  sy_free(h->producer);
  sy_free(h);
}

/* ParseStageOrder: case-insensitive, '-' and '_' ignored. */
static int parse_stage_order(const char *s, bool *prefill_first) {
  char norm[32];
  size_t n = 0;
  for (; s && *s && n + 1 < sizeof(norm); s++) {
    if (*s == '-' || *s == '_') continue;
    norm[n++] = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
  }
  norm[n] = '\0';
  if (s && *s) return SY_EINVAL;
  if (!strcmp(norm, "") || !strcmp(norm, "decodefirst") || !strcmp(norm, "decode")) {
    *prefill_first = false;
  } else if (!strcmp(norm, "prefillfirst") || !strcmp(norm, "prefill")) {
    *prefill_first = true;
  } else {
    return SY_EINVAL;
  }
  return 0;
}

static int disagg_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"stageOrder", "profiles", "deciders", NULL};
  static const char *const pkeys[] = {"decode", "prefill", "encode", "fallback", NULL};
  static const char *const dkeys[] = {"prefill", "encode", NULL};
  const sy_yaml_node_t *p = args->params, *profiles = NULL, *deciders = NULL;
  const char *order = NULL, *dec = NULL, *pre = NULL, *enc = NULL, *fb = NULL, *dpre = NULL, *denc = NULL;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) || (rc = sy_pp_str(args, p, "stageOrder", &order, err)) ||
      (rc = sy_pp_map(args, p, "profiles", pkeys, &profiles, err)) ||
      (rc = sy_pp_map(args, p, "deciders", dkeys, &deciders, err)) ||
      (rc = sy_pp_str(args, profiles, "decode", &dec, err)) || (rc = sy_pp_str(args, profiles, "prefill", &pre, err)) ||
      (rc = sy_pp_str(args, profiles, "encode", &enc, err)) || (rc = sy_pp_str(args, profiles, "fallback", &fb, err)) ||
      (rc = sy_pp_str(args, deciders, "prefill", &dpre, err)) ||
      (rc = sy_pp_str(args, deciders, "encode", &denc, err))) {
    return rc;
  }
  bool prefill_first = false;
  if (parse_stage_order(order, &prefill_first)) {
    return sy_sched_errorf(err, sy_yaml_get(p, "stageOrder"),
                           "invalid stage order \"%s\", must be \"decode-first\" or \"prefill-first\"", order);
  }
  if (prefill_first && dpre && *dpre) {
    return sy_sched_errorf(err, sy_yaml_get(deciders, "prefill"),
                           "prefill decider is not supported in prefill-first stage order");
  }
  disagg_t *h = sy_calloc(1, sizeof(*h));
  if (!h) return -ENOMEM;
  h->prefill_first = prefill_first;
  h->prefix.slot = -1;
  h->decode = dup_or(dec, "decode");
  h->prefill = dup_or(pre, "prefill");
  h->encode = dup_or(enc, "encode");
  bool oom = !h->decode || !h->prefill || !h->encode;
  if (fb && *fb) oom |= !(h->fallback = sy_strdup(fb));
  if (dpre && *dpre) oom |= !(h->prefill_decider_name = sy_strdup(dpre));
  if (denc && *denc) oom |= !(h->encode_decider_name = sy_strdup(denc));
  if (oom) {
    disagg_destroy(h);
    return -ENOMEM;
  }
  if (h->fallback) {
    if (prefill_first) {
      disagg_destroy(h);
      return sy_sched_errorf(err, sy_yaml_get(profiles, "fallback"),
                             "aggregated fallback is only supported in decode-first stage order");
    }
    const char *stage = !strcmp(h->fallback, h->decode)    ? "decode"
                        : !strcmp(h->fallback, h->prefill) ? "prefill"
                        : !strcmp(h->fallback, h->encode)  ? "encode"
                                                           : NULL;
    if (stage) {
      disagg_destroy(h);
      return sy_sched_errorf(err, sy_yaml_get(profiles, "fallback"), "profiles.fallback must differ from profiles.%s",
                             stage);
    }
  }
  *state = h;
  return 0;
}

static int disagg_link(void *st, sy_sched_t *s, sy_sched_error_t *err) {
  disagg_t *h = st;
  int rc;
  h->p_decode = sy_sched_profile_by_name(s, h->decode);
  if (!h->p_decode) return sy_sched_errorf(err, NULL, "decode profile \"%s\" is not configured", h->decode);
  h->p_prefill = sy_sched_profile_by_name(s, h->prefill);
  h->p_encode = h->legacy ? NULL : sy_sched_profile_by_name(s, h->encode);
  if (h->fallback && !(h->p_fallback = sy_sched_profile_by_name(s, h->fallback))) {
    return sy_sched_errorf(err, NULL, "fallback profile \"%s\" is not configured", h->fallback);
  }
  if ((rc = decider_link(s, h->prefill_decider_name, h->legacy ? "decider" : "deciders.prefill", &h->prefill_decider,
                         err)) ||
      (rc = decider_link(s, h->encode_decider_name, "deciders.encode", &h->encode_decider, err))) {
    return rc;
  }
  if (h->legacy_threshold) return sy_pp_prefix_link(s, h->producer, true, &h->prefix, err);
  return 0;
}

/* pd-profile-handler v0.4.0: disaggregate unless the uncached part of the
 * prompt, in characters, is below `threshold` (0 = always). */
static bool legacy_threshold_decide(const disagg_t *h, const sy_sched_cycle_t *c, const sy_sched_cand_t *decode) {
  if (h->threshold == 0) return true;
  size_t len = c->req ? c->req->prompt_len : 0;
  double blocks = 0;
  sy_pp_prefix_match(&h->prefix, c, decode, &blocks);
  int64_t block_chars =
      h->hash_block_size > 0 ? h->hash_block_size : (int64_t)sy_pp_prefix_block_tokens(&h->prefix, c) * CHARS_PER_TOKEN;
  int64_t uncached = (int64_t)len - (int64_t)blocks * block_chars;
  if (uncached < 0) uncached = 0;
  return uncached >= h->threshold;
}

static bool prefill_wanted(const disagg_t *h, const sy_sched_cycle_t *c, const sy_sched_cand_t *decode) {
  if (h->legacy_threshold) return legacy_threshold_decide(h, c, decode);
  return decide(&h->prefill_decider, c, decode);
}

/* Finishes with only the fallback profile, or fails. */
static int run_fallback(const disagg_t *h, sy_sched_t *s, sy_sched_cycle_t *c) {
  if (!h->p_fallback || !sy_sched_run_profile(s, c, h->p_fallback)) return SY_ENOTFOUND;
  c->primary_profile = h->fallback;
  return 0;
}

static int disagg_handle(void *st, sy_sched_t *s, sy_sched_cycle_t *c) {
  const disagg_t *h = st;
  const sy_sched_profile_result_t *d = NULL, *p = NULL, *e = NULL;
  if (h->prefill_first) {
    if (h->p_prefill && !(p = sy_sched_run_profile(s, c, h->p_prefill))) return SY_ENOTFOUND; /* required */
    if (h->p_encode && decide(&h->encode_decider, c, NULL)) e = sy_sched_run_profile(s, c, h->p_encode);
    if (!(d = sy_sched_run_profile(s, c, h->p_decode))) return SY_ENOTFOUND;
  } else {
    if (!(d = sy_sched_run_profile(s, c, h->p_decode))) return run_fallback(h, s, c);
    if (h->p_encode && decide(&h->encode_decider, c, d->endpoints[0])) e = sy_sched_run_profile(s, c, h->p_encode);
    if (h->p_prefill && prefill_wanted(h, c, d->endpoints[0])) {
      p = sy_sched_run_profile(s, c, h->p_prefill);
      /* disagg: a prefill that was wanted but found nothing fails the
       * request (or falls back); pd-profile-handler stays decode-only. */
      if (!p && !h->legacy) return run_fallback(h, s, c);
    }
  }
  c->primary_profile = h->decode;
  int rc;
  if ((rc = set_prefill_header(c, p)) || (rc = set_encoder_header(c, e))) return rc == SY_ETOOBIG ? 0 : rc;
  return 0;
}

const sy_sched_plugin_type_t sy_plugin_disagg_profile_handler = {
    .type = "disagg-profile-handler",
    .kinds = SY_SCHED_PROFILE_HANDLER,
    .create = disagg_create,
    .destroy = disagg_destroy,
    .link = disagg_link,
    .handle = disagg_handle,
};

/* --------------------------------------------------- pd-profile-handler */

static int pd_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"decodeProfile",    "prefillProfile",    "prefixPluginType",
                                     "prefixPluginName", "primaryPort",       "deciderPluginName",
                                     "prefixMatchInfoProducerName", "threshold", "hashBlockSize", NULL};
  const sy_yaml_node_t *p = args->params;
  const char *dec = NULL, *pre = NULL, *ignored = NULL, *decider = NULL, *producer = NULL;
  int64_t port = 0, threshold = -1, hbs = 0;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) || (rc = sy_pp_str(args, p, "decodeProfile", &dec, err)) ||
      (rc = sy_pp_str(args, p, "prefillProfile", &pre, err)) ||
      (rc = sy_pp_str(args, p, "prefixPluginType", &ignored, err)) ||
      (rc = sy_pp_str(args, p, "prefixPluginName", &ignored, err)) ||
      (rc = sy_pp_int(args, p, "primaryPort", 0, 65535, &port, err)) ||
      (rc = sy_pp_str(args, p, "deciderPluginName", &decider, err)) ||
      (rc = sy_pp_str(args, p, "prefixMatchInfoProducerName", &producer, err)) ||
      (rc = sy_pp_int(args, p, "threshold", 0, INT32_MAX, &threshold, err)) ||
      (rc = sy_pp_int(args, p, "hashBlockSize", 1, INT32_MAX, &hbs, err))) {
    return rc;
  }
  if (port != 0) {
    return sy_sched_errorf(err, sy_yaml_get(p, "primaryPort"),
                           "primaryPort (data-parallel port rewrite) is not supported by switchyard");
  }
  if (threshold >= 0 && decider) {
    return sy_sched_errorf(err, sy_yaml_get(p, "threshold"),
                           "threshold (v0.4.0) and deciderPluginName are mutually exclusive");
  }
  disagg_t *h = sy_calloc(1, sizeof(*h));
  if (!h) return -ENOMEM;
  h->legacy = true;
  h->prefix.slot = -1;
  h->decode = dup_or(dec, "decode");
  h->prefill = dup_or(pre, "prefill");
  h->encode = sy_strdup("encode");
  bool oom = !h->decode || !h->prefill || !h->encode;
  if (threshold >= 0) {
    h->legacy_threshold = true;
    h->threshold = threshold;
    h->hash_block_size = hbs;
  } else {
    oom |= !(h->prefill_decider_name = dup_or(decider, "prefix-based-pd-decider"));
  }
  if (producer && *producer) oom |= !(h->producer = sy_strdup(producer));
  if (oom) {
    disagg_destroy(h);
    return -ENOMEM;
  }
  *state = h;
  return 0;
}

const sy_sched_plugin_type_t sy_plugin_pd_profile_handler = {
    .type = "pd-profile-handler",
    .kinds = SY_SCHED_PROFILE_HANDLER,
    .create = pd_create,
    .destroy = disagg_destroy,
    .link = disagg_link,
    .handle = disagg_handle,
};

/* ------------------------------------------------ prefill-header-handler */

typedef struct prefill_header {
  char *profile;
} prefill_header_t;

static void prefill_header_destroy(void *st) {
  prefill_header_t *ph = st;
  if (!ph) return;
  sy_free(ph->profile);
  sy_free(ph);
}

static int prefill_header_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"prefillProfile", NULL};
  const char *profile = NULL;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) || (rc = sy_pp_str(args, args->params, "prefillProfile", &profile, err))) {
    return rc;
  }
  prefill_header_t *ph = sy_calloc(1, sizeof(*ph));
  if (!ph || !(ph->profile = dup_or(profile, "prefill"))) {
    prefill_header_destroy(ph);
    return -ENOMEM;
  }
  *state = ph;
  return 0;
}

/* Sets x-prefiller-host-port from the prefill profile's first target (the
 * P/D handlers above already do; this keeps legacy configs valid). */
static void prefill_header_pre_request(void *st, sy_sched_cycle_t *c) {
  const prefill_header_t *ph = st;
  (void)set_prefill_header(c, find_result(c, ph->profile));
}

const sy_sched_plugin_type_t sy_plugin_prefill_header_handler = {
    .type = "prefill-header-handler",
    .kinds = SY_SCHED_PRODUCER,
    .create = prefill_header_create,
    .destroy = prefill_header_destroy,
    .pre_request = prefill_header_pre_request,
};
