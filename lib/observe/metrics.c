/*
 * The EPP's own Prometheus metrics with upstream's (GAIE v1.5.0) names,
 * types, labels and bucket layouts, fed by the director's hooks, the
 * scheduler's per-call observer, and collectors that read snapshots at
 * render time. Label values that come from requests (model names) are
 * bounded by the registry's per-family child cap.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "observe_int.h"
#include "plugins/plugins.h"

#define A SY_METRICS_ALPHA


static int hist(sy_metrics_registry_t *r, const char *name, const char *help, const char *const *labels, size_t nl,
                const sy_metrics_buckets_t *b, sy_metric_family_t **out) {
  return sy_metrics_histogram_new(r, name, help, labels, nl, b->v, b->n, out);
}

static void on_decided(void *ctx, const sy_director_event_t *ev) {
  sy_observe_t *o = ctx;
  const char *mt[2] = {ev->model, ev->target_model};
  if (ev->rewrite_object) {
    const char *v[3] = {ev->rewrite_object, ev->model, ev->target_model};
    sy_counter_inc(sy_counter_with(o->m.rewrite_decisions, v));
  }
  if (ev->status == 0 || ev->endpoint) {
    char prio[16];
    snprintf(prio, sizeof(prio), "%d", ev->priority);
    const char *v[3] = {ev->model, ev->target_model, prio};
    sy_counter_inc(sy_counter_with(o->m.request_total, v));
    sy_histogram_observe(sy_histogram_with(o->m.request_sizes, mt), (double)ev->request_bytes);
    sy_gauge_add(sy_gauge_with(o->m.running_requests, mt), 1);
  }
  if (ev->status != 0) {
    const char *v[3] = {ev->model, ev->target_model, ev->error_kind ? ev->error_kind : "Unknown"};
    sy_counter_inc(sy_counter_with(o->m.request_error_total, v));
  }
  if (ev->endpoint) {
    sy_histogram_observe(sy_histogram_with(o->m.scheduler_e2e, NULL), ev->schedule_seconds);
    char port[16];
    snprintf(port, sizeof(port), "%d", ev->endpoint->port);
    const char *v[5] = {"success", ev->target_model, ev->endpoint->pod_name, ev->endpoint->namespace_name, port};
    sy_counter_inc(sy_counter_with(o->m.scheduler_attempts, v));
    if (ev->prefix_known) {
      sy_histogram_observe(sy_histogram_with(o->m.prefix_hit_ratio, NULL), ev->prefix_hit_ratio);
      sy_histogram_observe(sy_histogram_with(o->m.prefix_hit_bytes, NULL), (double)ev->prefix_hit_bytes);
    }
  } else if (ev->status == 429 || ev->status == 503) {
    const char *v[5] = {"failure", ev->target_model, "", "", ""};
    sy_counter_inc(sy_counter_with(o->m.scheduler_attempts, v));
  }
}

static void on_done(void *ctx, const sy_director_done_t *ev) {
  sy_observe_t *o = ctx;
  const char *mt[2] = {ev->model, ev->target_model};
  sy_gauge_add(sy_gauge_with(o->m.running_requests, mt), -1);
  sy_histogram_observe(sy_histogram_with(o->m.request_duration, mt), ev->duration_seconds);
  sy_histogram_observe(sy_histogram_with(o->m.response_sizes, mt), (double)ev->response_bytes);
  if (ev->status >= 400) {
    const char *v[3] = {ev->model, ev->target_model, "ModelServerError"};
    sy_counter_inc(sy_counter_with(o->m.request_error_total, v));
  }
  if (ev->usage_found) {
    sy_histogram_observe(sy_histogram_with(o->m.input_tokens, mt), (double)ev->prompt_tokens);
    sy_histogram_observe(sy_histogram_with(o->m.output_tokens, mt), (double)ev->completion_tokens);
    sy_histogram_observe(sy_histogram_with(o->m.cached_tokens, mt), (double)ev->cached_tokens);
    if (ev->completion_tokens > 0)
      sy_histogram_observe(sy_histogram_with(o->m.ntpot, mt), ev->duration_seconds / (double)ev->completion_tokens);
  }
}

static void on_plugin_call(void *ctx, const char *ext, const char *type, const char *name, double seconds) {
  sy_observe_t *o = ctx;
  const char *v[3] = {ext, type, name};
  sy_histogram_observe(sy_histogram_with(o->m.plugin_duration, v), seconds);
}

/* Pool gauges over endpoints with fresh metrics, as upstream computes them. */
static void collect_pools(sy_metrics_writer_t *w, void *ctx) {
  sy_observe_t *o = ctx;
  sy_snapshot_t *s = sy_datastore_acquire(o->cfg.ds);
  uint64_t now = sy_now_ns();
  static const char *const L_NAME[] = {"name"};
  static const char *const L_POD[] = {"name", "model_server_pod"};
  struct {
    const char *name, *help;
  } fams[] = {
      {"inference_pool_average_kv_cache_utilization", A "The average kv cache utilization for an inference server pool."},
      {"inference_pool_average_queue_size", A "The average number of requests pending in the model server queue."},
      {"inference_pool_average_running_requests", A "The average number of requests currently being processed by the model servers."},
      {"inference_pool_ready_pods", A "The number of ready pods in the inference server pool."},
  };
  for (size_t f = 0; f < SY_ARRAY_LEN(fams); f++) {
    for (size_t i = 0; i < s->n_pools; i++) {
      const sy_pool_snap_t *p = &s->pools[i];
      double sum = 0;
      size_t fresh = 0;
      for (size_t k = 0; k < p->n_endpoints; k++) {
        sy_endpoint_metrics_t m;
        sy_endpoint_metrics_load(p->endpoints[k].state, &m);
        if (!m.update_ns || now - m.update_ns > o->cfg.stale_after_ns) continue;
        fresh++;
        sum += f == 0 ? m.kv_usage : f == 1 ? m.waiting : f == 2 ? m.running : 0;
      }
      double v = f == 3 ? (double)fresh : fresh ? sum / (double)fresh : 0;
      const char *lv[1] = {p->name};
      sy_metrics_write_gauge(w, fams[f].name, fams[f].help, L_NAME, lv, 1, v);
    }
  }
  for (size_t i = 0; i < s->n_pools; i++) {
    const sy_pool_snap_t *p = &s->pools[i];
    for (size_t k = 0; k < p->n_endpoints; k++) {
      sy_endpoint_metrics_t m;
      sy_endpoint_metrics_load(p->endpoints[k].state, &m);
      if (!m.has_waiting) continue;
      const char *lv[2] = {p->name, p->endpoints[k].name};
      sy_metrics_write_gauge(w, "inference_pool_per_pod_queue_size",
                             A "The total number of requests pending in the model server queue for each underlying pod.",
                             L_POD, lv, 2, m.waiting);
    }
  }
  sy_snapshot_release(s);
  const sy_sched_plugin_type_t *t = NULL;
  void *prod = sy_sched_plugin_find(o->cfg.sched, "approx-prefix-cache-producer", &t);
  if (prod && t == &sy_plugin_approx_prefix_cache_producer)
    sy_metrics_write_gauge(w, "inference_extension_prefix_indexer_size", A "Size of the prefix indexer.", NULL, NULL, 0,
                           (double)sy_prefix_index_size(prod));
}

int sy_observe_metrics_register(sy_observe_t *o, sy_metrics_registry_t *r, const char *version) {
  static const char *const L_PRIO[] = {"model_name", "target_model_name", "priority"};
  static const char *const L_ERR[] = {"model_name", "target_model_name", "error_code"};
  static const char *const L_MODEL[] = {"model_name", "target_model_name"};
  static const char *const L_INFO[] = {"commit", "build_ref"};
  static const char *const L_ATTEMPT[] = {"status", "target_model_name", "pod_name", "namespace", "port"};
  static const char *const L_PLUGIN[] = {"extension_point", "plugin_type", "plugin_name"};
  sy_observe_metrics_t *m = &o->m;
  static const char *const L_REWRITE[] = {"model_rewrite_name", "model_name", "target_model"};
  sy_metric_family_t *info;
  int rc = sy_metrics_counter_new(r, "inference_objective_request_total",
                                  A "Counter of inference objective requests broken out for each model and target model.",
                                  L_PRIO, 3, &m->request_total);
  if (!rc) rc = sy_metrics_counter_new(r, "inference_extension_model_rewrite_decisions_total",
                                       A "Counter of model rewrite decisions by InferenceModelRewrite, model and target model.",
                                       L_REWRITE, 3, &m->rewrite_decisions);
  if (!rc) rc = sy_metrics_counter_new(r, "inference_objective_request_error_total",
                                       A "Counter of inference objective requests errors broken out for each model and target model.",
                                       L_ERR, 3, &m->request_error_total);
  if (!rc) rc = hist(r, "inference_objective_request_duration_seconds",
                     A "Inference objective response latency distribution in seconds for each model and target model.",
                     L_MODEL, 2, &sy_metrics_buckets_request_duration, &m->request_duration);
  if (!rc) rc = hist(r, "inference_objective_request_sizes",
                     A "Inference objective requests size distribution in bytes for each model and target model.", L_MODEL,
                     2, &sy_metrics_buckets_request_sizes, &m->request_sizes);
  if (!rc) rc = hist(r, "inference_objective_response_sizes",
                     A "Inference objective responses size distribution in bytes for each model and target model.", L_MODEL,
                     2, &sy_metrics_buckets_response_sizes, &m->response_sizes);
  if (!rc) rc = hist(r, "inference_objective_input_tokens",
                     A "Inference objective input token count distribution for requests in each model.", L_MODEL, 2,
                     &sy_metrics_buckets_tokens, &m->input_tokens);
  if (!rc) rc = hist(r, "inference_objective_output_tokens",
                     A "Inference objective output token count distribution for requests in each model.", L_MODEL, 2,
                     &sy_metrics_buckets_output_tokens, &m->output_tokens);
  if (!rc) rc = hist(r, "inference_objective_prompt_cached_tokens",
                     A "Inference objective prompt cached token count distribution for requests in each model.", L_MODEL,
                     2, &sy_metrics_buckets_tokens, &m->cached_tokens);
  if (!rc) rc = hist(r, "inference_objective_normalized_time_per_output_token_seconds",
                     A "Inference objective latency divided by number of output tokens in seconds for each model and target model.",
                     L_MODEL, 2, &sy_metrics_buckets_ntpot, &m->ntpot);
  if (!rc) rc = sy_metrics_gauge_new(r, "inference_objective_running_requests",
                                     A "Inference objective number of running requests in each model.", L_MODEL, 2,
                                     &m->running_requests);
  if (!rc) rc = sy_metrics_register_collector(r, collect_pools, o);
  if (!rc) rc = sy_metrics_gauge_new(r, "inference_extension_info", A "General information of the current build of Inference Extension.",
                                     L_INFO, 2, &info);
  if (!rc) {
    const char *v[2] = {version, "switchyard"};
    sy_gauge_set(sy_gauge_with(info, v), 1);
  }
  if (!rc) rc = hist(r, "inference_extension_scheduler_e2e_duration_seconds",
                     A "Scheduling latency distribution in seconds for scheduling algorithms.", NULL, 0,
                     &sy_metrics_buckets_scheduler_e2e, &m->scheduler_e2e);
  if (!rc) rc = sy_metrics_counter_new(r, "inference_extension_scheduler_attempts_total",
                                       A "Number of scheduling attempts with its status and the picked endpoint.", L_ATTEMPT,
                                       5, &m->scheduler_attempts);
  if (!rc) rc = hist(r, "inference_extension_plugin_duration_seconds",
                     A "Plugin processing latency distribution in seconds for each extension point, plugin type and plugin name.",
                     L_PLUGIN, 3, &sy_metrics_buckets_plugin_duration, &m->plugin_duration);
  if (!rc) rc = hist(r, "inference_extension_prefix_indexer_hit_ratio",
                     A "Ratio of prefix length matched to total prefix length in the cache lookup.", NULL, 0,
                     &sy_metrics_buckets_prefix_hit_ratio, &m->prefix_hit_ratio);
  if (!rc) rc = hist(r, "inference_extension_prefix_indexer_hit_bytes",
                     A "Length of the prefix match in number of bytes in the cache lookup.", NULL, 0,
                     &sy_metrics_buckets_prefix_hit_bytes, &m->prefix_hit_bytes);
  if (!rc) rc = sy_metrics_register_process_collector(r);
  if (!rc) sy_sched_set_observer(o->cfg.sched, on_plugin_call, o);
  return rc;
}

sy_director_hooks_t sy_observe_director_hooks(sy_observe_t *o) {
  return (sy_director_hooks_t){.decided = on_decided, .done = on_done, .ctx = o};
}
