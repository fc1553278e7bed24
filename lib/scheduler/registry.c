/* The one explicit table of in-tree plugin types. Add a type here (and
 * declare it in plugins/plugins.h) when you add a plugin. */
#include <string.h>

#include "plugins/plugins.h"
#include "scheduler.h"

const sy_sched_plugin_type_t *const sy_sched_registry[] = {
    /* framework-level configuration types (config.c) */
    &sy_plugin_metrics_data_source,
    &sy_plugin_core_metrics_extractor,
    &sy_plugin_openai_parser,
    &sy_plugin_inflight_load_producer,
    /* plugins (plugins/ directory), grouped by file */
    &sy_plugin_approx_prefix_cache_producer, /* prefix.c */
    &sy_plugin_prefix_cache_scorer,
    /* scorers.c, nohitlru.c, session.c, filters.c, pickers.c, profile.c, detectors.c */
    &sy_plugin_queue_scorer,
    &sy_plugin_kv_cache_utilization_scorer,
    &sy_plugin_running_requests_size_scorer,
    &sy_plugin_lora_affinity_scorer,
    &sy_plugin_token_load_scorer,
    &sy_plugin_active_request_scorer,
    &sy_plugin_load_aware_scorer,
    &sy_plugin_no_hit_lru_scorer,
    &sy_plugin_session_affinity_scorer,
    &sy_plugin_session_affinity_filter,
    &sy_plugin_decode_filter,
    &sy_plugin_prefill_filter,
    &sy_plugin_encode_filter,
    &sy_plugin_label_selector_filter,
    &sy_plugin_by_label_selector,
    &sy_plugin_by_label,
    &sy_plugin_header_based_testing_filter,
    &sy_plugin_max_score_picker,
    &sy_plugin_random_picker,
    &sy_plugin_weighted_random_picker,
    &sy_plugin_single_profile_handler,
    &sy_plugin_disagg_profile_handler,
    &sy_plugin_pd_profile_handler,
    &sy_plugin_prefill_header_handler,
    &sy_plugin_prefix_based_pd_decider,
    &sy_plugin_always_disagg_pd_decider,
    &sy_plugin_utilization_detector,
    &sy_plugin_concurrency_detector,
    NULL,
};

const sy_sched_plugin_type_t *sy_sched_registry_find(const char *type) {
  for (size_t i = 0; sy_sched_registry[i]; i++) {
    if (!strcmp(sy_sched_registry[i]->type, type)) return sy_sched_registry[i];
  }
  return NULL;
}
