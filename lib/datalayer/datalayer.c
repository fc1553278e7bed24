#include "datalayer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  char *key;                  /* "ip:port" */
  char *url;
  const char *engine;         /* lives as long as dl->engines */
  sy_endpoint_state_t *state; /* owned reference */
} entry_t;

struct sy_datalayer {
  sy_scraper_t *scraper;
  sy_scrape_engines_t *engines; /* for engine-by-label */
  char *scheme, *path;
  pthread_mutex_t mu;
  entry_t *map; /* sorted by key */
  size_t n_map;
  uint64_t last_generation;
};

void sy_datalayer_convert(const sy_model_metrics_t *in, sy_endpoint_metrics_t *out) {
  memset(out, 0, sizeof(*out));
  out->update_ns = in->update_ns;
  out->has_waiting = in->has_waiting;
  out->has_running = in->has_running;
  out->has_kv = in->has_kv_usage;
  out->waiting = (double)in->waiting;
  out->running = (double)in->running;
  out->kv_usage = in->kv_usage;
  out->block_size = in->has_cache_block_size ? (int)in->cache_block_size : 0;
  out->num_blocks = in->has_cache_num_blocks ? (long)in->cache_num_blocks : 0;
  out->max_lora = in->has_lora ? in->max_lora : -1;
  out->n_running_loras = SY_MIN(in->n_running_adapters, SY_MAX_LORAS);
  out->n_waiting_loras = SY_MIN(in->n_waiting_adapters, SY_MAX_LORAS);
  for (int i = 0; i < out->n_running_loras; i++)
    out->running_loras[i] = sy_lora_hash(in->running_adapters[i], strlen(in->running_adapters[i]));
  for (int i = 0; i < out->n_waiting_loras; i++)
    out->waiting_loras[i] = sy_lora_hash(in->waiting_adapters[i], strlen(in->waiting_adapters[i]));
}

static int entry_cmp(const void *a, const void *b) {
  return strcmp(((const entry_t *)a)->key, ((const entry_t *)b)->key);
}

void sy_datalayer_store(sy_datalayer_t *dl, const char *key, const sy_model_metrics_t *m) {
  sy_endpoint_metrics_t em;
  sy_datalayer_convert(m, &em);
  pthread_mutex_lock(&dl->mu);
  entry_t probe = {.key = (char *)key};
  entry_t *e = dl->n_map ? bsearch(&probe, dl->map, dl->n_map, sizeof(entry_t), entry_cmp) : NULL;
  if (e) sy_endpoint_metrics_store(e->state, &em);
  pthread_mutex_unlock(&dl->mu);
}

static void on_metrics(void *ctx, const char *key, const sy_model_metrics_t *m) { sy_datalayer_store(ctx, key, m); }

/* The scraper logs failures once per transition; the stored values simply
 * age (staleness is judged by the consumers, as upstream). */
static void on_error(void *ctx, const char *key, int err, const char *reason) {
  SY_UNUSED(ctx);
  SY_UNUSED(key);
  SY_UNUSED(err);
  SY_UNUSED(reason);
}

int sy_datalayer_start(sy_datalayer_t **out, const sy_datalayer_config_t *cfg) {
  sy_datalayer_t *dl = sy_calloc(1, sizeof(*dl));
  if (!dl) return -ENOMEM;
  pthread_mutex_init(&dl->mu, NULL);
  dl->scheme = sy_strdup(cfg->scheme ? cfg->scheme : "http");
  dl->path = sy_strdup(cfg->path ? cfg->path : "/metrics");
  int rc = cfg->engines ? ((dl->engines = sy_scrape_engines_copy(cfg->engines)) ? 0 : -ENOMEM)
                        : sy_scrape_engines_new(&dl->engines);
  if (!rc && (!dl->scheme || !dl->path)) rc = -ENOMEM;
  sy_scraper_config_t sc = {.interval_ms = cfg->interval_ms,
                            .engines = dl->engines,
                            .sink = {.on_metrics = on_metrics, .on_error = on_error, .ctx = dl}};
  if (!rc) rc = sy_scraper_new(&dl->scraper, &sc);
  if (!rc) rc = sy_scraper_start(dl->scraper);
  if (rc) {
    sy_datalayer_stop(dl);
    return rc;
  }
  *out = dl;
  return 0;
}

static void entry_cleanup(entry_t *e) {
  sy_free(e->key);
  sy_free(e->url);
  sy_endpoint_state_unref(e->state);
}

static void map_free(entry_t *map, size_t n) {
  for (size_t i = 0; i < n; i++) entry_cleanup(&map[i]);
  sy_free(map);
}

void sy_datalayer_stop(sy_datalayer_t *dl) {
  if (!dl) return;
  sy_scraper_free(dl->scraper); /* joins: no callback runs after this */
  map_free(dl->map, dl->n_map);
  sy_scrape_engines_free(dl->engines);
  sy_free(dl->scheme);
  sy_free(dl->path);
  pthread_mutex_destroy(&dl->mu);
  sy_free(dl);
}

typedef struct label_ctx {
  const sy_endpoint_t *ep;
} label_ctx_t;

static const char *ep_label(void *ctx, const char *key) {
  const sy_endpoint_t *e = ((label_ctx_t *)ctx)->ep;
  for (size_t i = 0; i < e->n_labels; i++) {
    if (!strcmp(e->label_keys[i], key)) return e->label_values[i];
  }
  return NULL;
}

void sy_datalayer_on_snapshot(sy_datalayer_t *dl, const sy_snapshot_t *snap) {
  if (!dl || snap->generation == dl->last_generation) return;
  size_t n = 0;
  for (size_t p = 0; p < snap->n_pools; p++) n += snap->pools[p].n_endpoints;
  entry_t *map = sy_calloc(n ? n : 1, sizeof(*map));
  sy_scrape_target_t *targets = sy_calloc(n ? n : 1, sizeof(*targets));
  size_t k = 0;
  bool ok = map && targets;
  for (size_t p = 0; ok && p < snap->n_pools; p++) {
    for (size_t i = 0; ok && i < snap->pools[p].n_endpoints; i++) {
      const sy_endpoint_t *e = &snap->pools[p].endpoints[i];
      char url[512];
      snprintf(url, sizeof(url), "%s://%s%s", dl->scheme, e->address, dl->path);
      label_ctx_t lc = {e};
      entry_t *en = &map[k++];
      en->key = sy_strdup(e->address);
      en->url = sy_strdup(url);
      en->engine = sy_scrape_engine_for_labels(dl->engines, ep_label, &lc);
      en->state = sy_endpoint_state_ref(e->state);
      ok = en->key && en->url;
    }
  }
  if (!ok) {
    SY_LOG(SY_LOG_ERROR, "out of memory building scrape targets", NULL);
    if (map) map_free(map, k);
    sy_free(targets);
    return;
  }
  qsort(map, k, sizeof(*map), entry_cmp);
  size_t w = 0; /* one endpoint in two pools: keep the first */
  for (size_t i = 0; i < k; i++) {
    if (w && !strcmp(map[w - 1].key, map[i].key)) {
      entry_cleanup(&map[i]);
      continue;
    }
    map[w++] = map[i];
  }
  for (size_t i = 0; i < w; i++) targets[i] = (sy_scrape_target_t){map[i].key, map[i].url, map[i].engine};
  pthread_mutex_lock(&dl->mu);
  entry_t *old = dl->map;
  size_t n_old = dl->n_map;
  dl->map = map;
  dl->n_map = w;
  pthread_mutex_unlock(&dl->mu);
  map_free(old, n_old);
  if (sy_scraper_set_targets(dl->scraper, targets, w) != 0) SY_LOG(SY_LOG_ERROR, "cannot update scrape targets", NULL);
  dl->last_generation = snap->generation;
  sy_free(targets);
}
