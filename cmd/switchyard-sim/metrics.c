/* /metrics in Prometheus text format 0.0.4, with vLLM's metric names. */
#include <math.h>
#include <string.h>

#include "sim.h"

/* Label values escape backslash, quote and newline (exposition format). */
static int label_val(sy_buf_t *b, const char *s) {
  int rc = sy_buf_append(b, "\"", 1);
  for (; !rc && *s; s++) {
    if (*s == '\\') rc = sy_buf_append(b, "\\\\", 2);
    else if (*s == '"') rc = sy_buf_append(b, "\\\"", 2);
    else if (*s == '\n') rc = sy_buf_append(b, "\\n", 2);
    else rc = sy_buf_append(b, s, 1);
  }
  return rc ? rc : sy_buf_append(b, "\"", 1);
}

static int help_type(sy_buf_t *b, const char *name, const char *help, const char *type) {
  return sy_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{model_name="M"} value` */
static int sample_model(sy_buf_t *b, const char *name, const char *model, const char *extra_labels, double v) {
  int rc = sy_buf_printf(b, "%s{", name);
  if (!rc && extra_labels) rc = sy_buf_printf(b, "%s,", extra_labels);
  if (!rc) rc = sy_buf_append_str(b, "model_name=");
  if (!rc) rc = label_val(b, model);
  if (!rc) rc = sy_buf_printf(b, "} %.17g\n", v);
  return rc;
}

static int gauge(sy_buf_t *b, const char *name, const char *help, const char *model, double v) {
  int rc = help_type(b, name, help, "gauge");
  return rc ? rc : sample_model(b, name, model, NULL, v);
}

static int counter(sy_buf_t *b, const char *name, const char *help, const char *model, double v) {
  int rc = help_type(b, name, help, "counter");
  return rc ? rc : sample_model(b, name, model, NULL, v);
}

/* Bucket bounds printed the way Python's client prints floats ("1.0"). */
static int put_le(sy_buf_t *b, double v) {
  if (v == floor(v) && fabs(v) < 1e15) return sy_buf_printf(b, "%.1f", v);
  return sy_buf_printf(b, "%g", v);
}

static int histogram(sy_buf_t *b, const char *name, const char *help, const char *model, const sy_sim_hist_t *h) {
  int rc = help_type(b, name, help, "histogram");
  uint64_t cum = 0;
  for (size_t i = 0; !rc && i <= h->n_bounds; i++) {
    cum += h->counts[i];
    rc = sy_buf_printf(b, "%s_bucket{model_name=", name);
    if (!rc) rc = label_val(b, model);
    if (!rc) rc = sy_buf_append_str(b, ",le=\"");
    if (!rc) rc = i < h->n_bounds ? put_le(b, h->bounds[i]) : sy_buf_append_str(b, "+Inf");
    if (!rc) rc = sy_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
  }
  if (!rc) rc = sy_buf_printf(b, "%s_sum{model_name=", name);
  if (!rc) rc = label_val(b, model);
  if (!rc) rc = sy_buf_printf(b, "} %.17g\n", h->sum);
  if (!rc) rc = sy_buf_printf(b, "%s_count{model_name=", name);
  if (!rc) rc = label_val(b, model);
  if (!rc) rc = sy_buf_printf(b, "} %llu\n", (unsigned long long)h->count);
  return rc;
}

/* Comma-separated adapters whose count is > 0. */
static int lora_list(sy_buf_t *b, const sy_sim_config_t *c, const int *counts) {
  sy_buf_t names;
  sy_buf_init(&names, 64 * 1024);
  int rc = sy_buf_append(&names, "", 0);
  for (int i = 0; !rc && i < c->n_loras; i++) {
    if (counts[i] <= 0) continue;
    if (names.len) rc = sy_buf_append(&names, ",", 1);
    if (!rc) rc = sy_buf_append_str(&names, c->loras[i]);
  }
  if (!rc) rc = label_val(b, names.data ? names.data : "");
  sy_buf_cleanup(&names);
  return rc;
}

int sy_sim_render_metrics(sy_buf_t *b, const sy_sim_model_t *m, const sy_sim_config_t *c, uint64_t now_ns,
                          double wall_now) {
  const char *model = c->model;
  int rc = gauge(b, "vllm:num_requests_running", "Number of requests in model execution batches.", model,
                 m->n_running);
  if (!rc)
    rc = gauge(b, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", model, m->n_waiting);
  if (!rc)
    rc = gauge(b, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", model,
               sy_sim_model_kv_usage(m, now_ns));

  /* vLLM sets this gauge to the time of the last change and the EPP keeps
   * the series with the largest value; one series stamped "now" is
   * equivalent and always the freshest. */
  if (!rc) rc = help_type(b, "vllm:lora_requests_info", "Running stats on lora requests.", "gauge");
  if (!rc) rc = sy_buf_printf(b, "vllm:lora_requests_info{max_lora=\"%d\",running_lora_adapters=", c->max_loras);
  if (!rc) rc = lora_list(b, c, m->lora_running);
  if (!rc) rc = sy_buf_append_str(b, ",waiting_lora_adapters=");
  if (!rc) rc = lora_list(b, c, m->lora_waiting);
  if (!rc) rc = sy_buf_printf(b, "} %.6f\n", wall_now);

  if (!rc) rc = help_type(b, "vllm:cache_config_info", "Information of the LLMEngine CacheConfig", "gauge");
  if (!rc)
    rc = sy_buf_printf(b,
                       "vllm:cache_config_info{block_size=\"%d\",cache_dtype=\"auto\",enable_prefix_caching=\"%s\","
                       "num_cpu_blocks=\"0\",num_gpu_blocks=\"%d\"} 1.0\n",
                       m->p.block_size, m->p.prefix_caching ? "True" : "False", m->p.kv_blocks);

  if (!rc)
    rc = counter(b, "vllm:prompt_tokens_total", "Number of prefill tokens processed.", model,
                 (double)m->prompt_tokens_total);
  if (!rc)
    rc = counter(b, "vllm:prefix_cache_queries_total",
                 "Prefix cache queries, in terms of number of queried tokens.", model,
                 (double)m->prefix_queries_total);
  if (!rc)
    rc = counter(b, "vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.",
                 model, (double)m->prefix_hits_total);
  if (!rc)
    rc = counter(b, "vllm:generation_tokens_total", "Number of generation tokens processed.", model,
                 (double)m->generation_tokens_total);
  if (!rc) rc = help_type(b, "vllm:request_success_total", "Count of successfully processed requests.", "counter");
  if (!rc) rc = sample_model(b, "vllm:request_success_total", model, "finished_reason=\"stop\"", 0);
  if (!rc)
    rc = sample_model(b, "vllm:request_success_total", model, "finished_reason=\"length\"", (double)m->finished_length);
  if (!rc)
    rc = sample_model(b, "vllm:request_success_total", model, "finished_reason=\"abort\"", (double)m->finished_abort);

  if (!rc)
    rc = histogram(b, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", model,
                   &m->ttft);
  if (!rc)
    rc = histogram(b, "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", model,
                   &m->e2e);
  if (!rc)
    rc = histogram(b, "vllm:request_queue_time_seconds",
                   "Histogram of time spent in WAITING phase for request.", model, &m->queue_time);
  return rc;
}
