/* Private to the observe module. */
#ifndef SY_OBSERVE_INT_H
#define SY_OBSERVE_INT_H

#include "metrics.h"
#include "observe.h"

typedef struct sy_observe_metrics {
  sy_metric_family_t *rewrite_decisions;
  sy_metric_family_t *request_total, *request_error_total, *request_duration, *request_sizes, *response_sizes;
  sy_metric_family_t *input_tokens, *output_tokens, *cached_tokens, *ntpot, *running_requests;
  sy_metric_family_t *scheduler_e2e, *scheduler_attempts, *plugin_duration, *prefix_hit_ratio, *prefix_hit_bytes;
} sy_observe_metrics_t;

struct sy_observe {
  sy_observe_config_t cfg;
  /* decisions/s: previous sample (admin thread only) */
  uint64_t last_decisions;
  uint64_t last_ns;
  double rate;
  sy_observe_metrics_t m;
};

#endif
