/*
 * datalayer — connects model-server metric scraping to routing: for every
 * published snapshot it derives the scrape targets (one per endpoint:
 * scheme://ip:port/path, engine from the pod's engine-type label) and hands
 * them to the scraper; scraped values are stored into the endpoints'
 * sy_endpoint_state_t (seqlock), where scheduling cycles read them.
 *
 * Threads: sy_datalayer_on_snapshot is called by the controller thread after
 * each publish; sink callbacks run on the scraper thread; the two meet only
 * under the datalayer's mutex (a sorted address → state table).
 */
#ifndef SY_DATALAYER_H
#define SY_DATALAYER_H

#include "datastore.h"
#include "scrape.h"

typedef struct sy_datalayer_config {
  const char *scheme;        /* "http" */
  const char *path;          /* "/metrics" */
  uint32_t interval_ms;      /* --refresh-metrics-interval, 50 */
  const sy_scrape_engines_t *engines; /* copied; NULL = built-ins */
} sy_datalayer_config_t;

typedef struct sy_datalayer sy_datalayer_t;

/* Creates and starts the scraper thread. 0 or a negative code. */
int sy_datalayer_start(sy_datalayer_t **out, const sy_datalayer_config_t *cfg);
/* Stops the scraper and frees. Accepts NULL. */
void sy_datalayer_stop(sy_datalayer_t *dl);

/* Points scraping at the endpoints of `snap` (borrowed for the call). */
void sy_datalayer_on_snapshot(sy_datalayer_t *dl, const sy_snapshot_t *snap);

/* Converts scraped metrics into the endpoint-state form (exposed for tests). */
void sy_datalayer_convert(const sy_model_metrics_t *in, sy_endpoint_metrics_t *out);

/* Stores metrics for endpoint `key` ("ip:port") as the scraper's sink does
 * (exposed for tests). Unknown keys are ignored. */
void sy_datalayer_store(sy_datalayer_t *dl, const char *key, const sy_model_metrics_t *m);

#endif
