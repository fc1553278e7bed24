/* Metric selectors (PromQL vector-selector subset) and engine mappings. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scrape.h"

/* ------------------------------------------------------------------- specs */

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int fail(char *err, size_t errlen, const char *spec, const char *why) {
  if (err && errlen) snprintf(err, errlen, "invalid metric spec \"%s\": %s", spec, why);
  return SY_EINVAL;
}

/* Appends s[0..n) + NUL to the spec's text pool; the offset or -1. */
static int pool_add(sy_scrape_spec_t *sp, size_t *used, const char *s, size_t n) {
  if (n > SY_SCRAPE_SPEC_MAX || *used + n + 1 > sizeof(sp->text)) return -1;
  size_t off = *used;
  memcpy(sp->text + off, s, n);
  sp->text[off + n] = '\0';
  *used += n + 1;
  return (int)off;
}

int sy_scrape_spec_parse(sy_scrape_spec_t *out, const char *s, char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  if (err && errlen) err[0] = '\0';
  if (!s) return 0;
  const char *p = s, *end = s + strlen(s);
  while (p < end && is_blank(*p)) p++;
  while (end > p && is_blank(end[-1])) end--;
  if (p == end) return 0; /* disabled */

  sy_scrape_spec_t sp;
  memset(&sp, 0, sizeof(sp));
  size_t used = 0;
  const char *n0 = p;
  if (!(is_alpha_(*p) || *p == ':')) return fail(err, errlen, s, "metric name must start with [a-zA-Z_:]");
  while (p < end && (is_alpha_(*p) || is_digit(*p) || *p == ':')) p++;
  if (pool_add(&sp, &used, n0, (size_t)(p - n0)) != 0) return fail(err, errlen, s, "too long");
  sp.name_len = (uint16_t)(p - n0);
  while (p < end && is_blank(*p)) p++;
  if (p < end) {
    if (*p != '{') return fail(err, errlen, s, "expected '{' or end after the metric name");
    if (end[-1] != '}') return fail(err, errlen, s, "missing '}'");
    p++;
    const char *lend = end - 1; /* the '}' */
    const char *q = p;
    while (q < lend && is_blank(*q)) q++;
    if (q == lend) goto done; /* {} */
    for (;;) {
      while (p < lend && is_blank(*p)) p++;
      const char *ln = p;
      if (p == lend || !is_alpha_(*p)) return fail(err, errlen, s, "label name must start with [a-zA-Z_]");
      while (p < lend && (is_alpha_(*p) || is_digit(*p))) p++;
      size_t lnl = (size_t)(p - ln);
      while (p < lend && is_blank(*p)) p++;
      if (p == lend || *p != '=') return fail(err, errlen, s, "expected '=' after label name");
      p++;
      if (p < lend && (*p == '~' || *p == '=')) return fail(err, errlen, s, "only '=' matchers are supported");
      while (p < lend && is_blank(*p)) p++;
      const char *v, *ve;
      if (p < lend && *p == '"') {
        v = ++p;
        while (p < lend && *p != '"') p++;
        if (p == lend) return fail(err, errlen, s, "unterminated quoted value");
        ve = p++;
      } else {
        v = p;
        while (p < lend && *p != ',' && *p != '}' && *p != '"' && !is_blank(*p)) p++;
        ve = p;
        if (ve == v) return fail(err, errlen, s, "empty unquoted label value");
      }
      while (p < lend && is_blank(*p)) p++;
      /* a repeated label keeps the last value (upstream builds a map) */
      size_t slot = sp.n_matchers;
      for (size_t i = 0; i < sp.n_matchers; i++) {
        if (sp.m[i].name_len == lnl && memcmp(sp.text + sp.m[i].name_off, ln, lnl) == 0) slot = i;
      }
      if (slot == SY_SCRAPE_SPEC_MAX_MATCHERS) return fail(err, errlen, s, "too many label matchers");
      int no = pool_add(&sp, &used, ln, lnl);
      int vo = no < 0 ? -1 : pool_add(&sp, &used, v, (size_t)(ve - v));
      if (no < 0 || vo < 0) return fail(err, errlen, s, "too long");
      sp.m[slot].name_off = (uint16_t)no;
      sp.m[slot].name_len = (uint16_t)lnl;
      sp.m[slot].value_off = (uint16_t)vo;
      sp.m[slot].value_len = (uint16_t)(ve - v);
      if (slot == sp.n_matchers) sp.n_matchers++;
      if (p == lend) break;
      if (*p != ',') return fail(err, errlen, s, "expected ',' between label matchers");
      p++;
    }
  }
done:
  *out = sp;
  return 0;
}

size_t sy_scrape_spec_format(const sy_scrape_spec_t *s, char *out, size_t cap) {
  sy_buf_t b;
  sy_buf_init(&b, 4096);
  size_t need = 0;
  if (s->name_len) {
    int rc = sy_buf_append(&b, s->text, s->name_len);
    if (!rc && s->n_matchers) rc = sy_buf_append(&b, "{", 1);
    for (size_t i = 0; !rc && i < s->n_matchers; i++) {
      rc = sy_buf_printf(&b, "%s%s=\"%s\"", i ? "," : "", s->text + s->m[i].name_off, s->text + s->m[i].value_off);
    }
    if (!rc && s->n_matchers) rc = sy_buf_append(&b, "}", 1);
    need = rc ? 0 : b.len;
  }
  if (cap) snprintf(out, cap, "%s", need ? b.data : "");
  sy_buf_cleanup(&b);
  return need;
}

/* ----------------------------------------------------------------- engines */

static const char *const metric_keys[SY_SCRAPE_METRIC_COUNT] = {
    [SY_SCRAPE_QUEUED] = "queuedRequestsSpec",
    [SY_SCRAPE_RUNNING] = "runningRequestsSpec",
    [SY_SCRAPE_KV_USAGE] = "kvUsageSpec",
    [SY_SCRAPE_LORA] = "loraSpec",
    [SY_SCRAPE_CACHE_INFO] = "cacheInfoSpec",
    [SY_SCRAPE_CACHE_BLOCK_SIZE] = "cacheBlockSizeSpec",
    [SY_SCRAPE_CACHE_NUM_BLOCKS] = "cacheNumBlocksSpec",
};

const char *sy_scrape_metric_key(sy_scrape_metric_t m) {
  return (unsigned)m < SY_SCRAPE_METRIC_COUNT ? metric_keys[m] : NULL;
}

int sy_scrape_metric_from_key(const char *key) {
  for (int i = 0; key && i < SY_SCRAPE_METRIC_COUNT; i++) {
    if (strcmp(key, metric_keys[i]) == 0) return i;
  }
  return -1;
}

/* Reference §5.1 (GAIE v1.5.0 core-metrics-extractor defaults). */
static const sy_scrape_engine_config_t builtin[] = {
    {.name = "vllm",
     .spec = {[SY_SCRAPE_QUEUED] = "vllm:num_requests_waiting",
              [SY_SCRAPE_RUNNING] = "vllm:num_requests_running",
              [SY_SCRAPE_KV_USAGE] = "vllm:kv_cache_usage_perc",
              [SY_SCRAPE_LORA] = "vllm:lora_requests_info",
              [SY_SCRAPE_CACHE_INFO] = "vllm:cache_config_info"}},
    {.name = "sglang",
     .spec = {[SY_SCRAPE_QUEUED] = "sglang:num_queue_reqs",
              [SY_SCRAPE_RUNNING] = "sglang:num_running_reqs",
              [SY_SCRAPE_KV_USAGE] = "sglang:token_usage",
              [SY_SCRAPE_CACHE_INFO] = "sglang:cache_config_info"}},
    {.name = "trtllm-serve",
     .spec = {[SY_SCRAPE_QUEUED] = "trtllm_num_requests_waiting",
              [SY_SCRAPE_RUNNING] = "trtllm_num_requests_running",
              [SY_SCRAPE_KV_USAGE] = "trtllm_kv_cache_utilization",
              [SY_SCRAPE_CACHE_BLOCK_SIZE] = "trtllm_kv_cache_tokens_per_block",
              [SY_SCRAPE_CACHE_NUM_BLOCKS] = "trtllm_kv_cache_max_blocks"}},
    {.name = "triton-tensorrt-llm",
     .spec = {[SY_SCRAPE_QUEUED] = "nv_trt_llm_request_metrics{request_type=waiting}",
              [SY_SCRAPE_RUNNING] = "nv_trt_llm_request_metrics{request_type=scheduled}",
              [SY_SCRAPE_KV_USAGE] = "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=fraction}",
              [SY_SCRAPE_CACHE_BLOCK_SIZE] = "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=tokens_per}",
              [SY_SCRAPE_CACHE_NUM_BLOCKS] = "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=max}"}},
};

struct sy_scrape_engines {
  sy_scrape_engine_t *v;
  size_t n;
  char default_name[SY_SCRAPE_ENGINE_NAME_MAX + 1];
  char label_key[256];
};

static int compile(sy_scrape_engine_t *out, const sy_scrape_engine_config_t *cfg, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  size_t nl = cfg->name ? strlen(cfg->name) : 0;
  if (nl == 0) {
    if (err && errlen) snprintf(err, errlen, "engine config name cannot be empty");
    return SY_EINVAL;
  }
  if (nl > SY_SCRAPE_ENGINE_NAME_MAX) {
    if (err && errlen) snprintf(err, errlen, "engine name \"%.64s...\" longer than %d bytes", cfg->name,
                                SY_SCRAPE_ENGINE_NAME_MAX);
    return SY_EINVAL;
  }
  if (strcmp(cfg->name, "default") == 0) {
    if (err && errlen) snprintf(err, errlen, "engine config name cannot be \"default\" (reserved)");
    return SY_EINVAL;
  }
  memset(out, 0, sizeof(*out));
  memcpy(out->name, cfg->name, nl + 1);
  for (int m = 0; m < SY_SCRAPE_METRIC_COUNT; m++) {
    char why[400];
    if (sy_scrape_spec_parse(&out->spec[m], cfg->spec[m], why, sizeof(why)) != 0) {
      if (err && errlen) snprintf(err, errlen, "engine \"%s\" %s: %s", cfg->name, metric_keys[m], why);
      return SY_EINVAL;
    }
  }
  return 0;
}

static sy_scrape_engine_t *find(const sy_scrape_engines_t *e, const char *name) {
  for (size_t i = 0; name && i < e->n; i++) {
    if (strcmp(e->v[i].name, name) == 0) return &e->v[i];
  }
  return NULL;
}

int sy_scrape_engines_new(sy_scrape_engines_t **out) {
  *out = NULL;
  sy_scrape_engines_t *e = sy_calloc(1, sizeof(*e));
  if (!e) return -ENOMEM;
  snprintf(e->default_name, sizeof(e->default_name), "%s", SY_SCRAPE_DEFAULT_ENGINE);
  snprintf(e->label_key, sizeof(e->label_key), "%s", SY_SCRAPE_ENGINE_LABEL_KEY);
  for (size_t i = 0; i < SY_ARRAY_LEN(builtin); i++) {
    int rc = sy_scrape_engines_set(e, &builtin[i], NULL, 0);
    if (rc) {
      sy_scrape_engines_free(e);
      return rc;
    }
  }
  *out = e;
  return 0;
}

sy_scrape_engines_t *sy_scrape_engines_copy(const sy_scrape_engines_t *src) {
  sy_scrape_engines_t *e = sy_calloc(1, sizeof(*e));
  if (!e) return NULL;
  *e = *src;
  e->v = NULL;
  if (src->n) {
    e->v = sy_malloc(src->n * sizeof(*e->v));
    if (!e->v) {
      sy_free(e);
      return NULL;
    }
    memcpy(e->v, src->v, src->n * sizeof(*e->v));
  }
  return e;
}

void sy_scrape_engines_free(sy_scrape_engines_t *e) {
  if (!e) return;
  sy_free(e->v);
  sy_free(e);
}

int sy_scrape_engines_set(sy_scrape_engines_t *e, const sy_scrape_engine_config_t *cfg, char *err, size_t errlen) {
  sy_scrape_engine_t eng;
  int rc = compile(&eng, cfg, err, errlen);
  if (rc) return rc;
  sy_scrape_engine_t *slot = find(e, eng.name);
  if (!slot) {
    if (e->n >= SY_SCRAPE_MAX_ENGINES) {
      if (err && errlen) snprintf(err, errlen, "more than %d engine configs", SY_SCRAPE_MAX_ENGINES);
      return SY_ETOOBIG;
    }
    sy_scrape_engine_t *v = sy_realloc(e->v, (e->n + 1) * sizeof(*v));
    if (!v) return -ENOMEM;
    e->v = v;
    slot = &e->v[e->n++];
  }
  *slot = eng;
  return 0;
}

int sy_scrape_engines_set_default(sy_scrape_engines_t *e, const char *name, char *err, size_t errlen) {
  if (!name || !*name) name = SY_SCRAPE_DEFAULT_ENGINE;
  if (!find(e, name)) {
    if (err && errlen) snprintf(err, errlen, "defaultEngine \"%s\" not found in engineConfigs", name);
    return SY_EINVAL;
  }
  snprintf(e->default_name, sizeof(e->default_name), "%s", name);
  return 0;
}

int sy_scrape_engines_set_label_key(sy_scrape_engines_t *e, const char *key) {
  if (!key || !*key) key = SY_SCRAPE_ENGINE_LABEL_KEY;
  if (strlen(key) >= sizeof(e->label_key)) return SY_EINVAL;
  snprintf(e->label_key, sizeof(e->label_key), "%s", key);
  return 0;
}

const char *sy_scrape_engines_label_key(const sy_scrape_engines_t *e) { return e->label_key; }
const char *sy_scrape_engines_default(const sy_scrape_engines_t *e) { return e->default_name; }
size_t sy_scrape_engines_count(const sy_scrape_engines_t *e) { return e->n; }

const sy_scrape_engine_t *sy_scrape_engines_at(const sy_scrape_engines_t *e, size_t i) {
  return i < e->n ? &e->v[i] : NULL;
}

const sy_scrape_engine_t *sy_scrape_engines_get(const sy_scrape_engines_t *e, const char *name) {
  return find(e, name);
}

const sy_scrape_engine_t *sy_scrape_engines_resolve(const sy_scrape_engines_t *e, const char *name) {
  const sy_scrape_engine_t *eng = (name && *name) ? find(e, name) : NULL;
  if (!eng) eng = find(e, e->default_name);
  /* The default always exists: set_default checks it and nothing removes
   * engines. The fallback keeps the promise "never NULL" regardless. */
  return eng ? eng : &e->v[0];
}

const char *sy_scrape_engine_for_labels(const sy_scrape_engines_t *e, sy_scrape_label_get_fn get, void *ctx) {
  const char *v = get ? get(ctx, e->label_key) : NULL;
  return sy_scrape_engines_resolve(e, v)->name;
}
