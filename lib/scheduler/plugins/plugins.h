/* Declarations of every in-tree plugin type (defined in plugins/ and
 * config.c) for the registry. */
#ifndef SY_SCHED_PLUGINS_H
#define SY_SCHED_PLUGINS_H

#include "scheduler.h"

/* config.c: accepted configuration types with no scheduling role */
extern const sy_sched_plugin_type_t sy_plugin_metrics_data_source;
extern const sy_sched_plugin_type_t sy_plugin_core_metrics_extractor;
extern const sy_sched_plugin_type_t sy_plugin_openai_parser;
extern const sy_sched_plugin_type_t sy_plugin_inflight_load_producer;

/* prefix.c: approximate prefix cache (producer + scorer) */
extern const sy_sched_plugin_type_t sy_plugin_approx_prefix_cache_producer;
extern const sy_sched_plugin_type_t sy_plugin_prefix_cache_scorer;
/* (hash, endpoint) entries in an approx-prefix-cache-producer's index, for
 * the prefix_indexer_size gauge. Any thread, lock-free. */
size_t sy_prefix_index_size(void *producer_state);
/* For consumers of prefix-match data: the slot k of a prefix producer
 * instance (type t, state st) — cand->slot[k] = blocks matched,
 * c->slot_total[k] = blocks hashed — or -1 when t is not a prefix producer.
 * *block_tokens (may be NULL) gets the block size in tokens used in cycle c
 * (autoTune may change it per cycle; c may be NULL: the configured size). */
int sy_prefix_match_slot(const sy_sched_plugin_type_t *t, void *st, const sy_sched_cycle_t *c, int *block_tokens);

/* plugins/scorers.c, nohitlru.c, session.c */
extern const sy_sched_plugin_type_t sy_plugin_queue_scorer;
extern const sy_sched_plugin_type_t sy_plugin_kv_cache_utilization_scorer;
extern const sy_sched_plugin_type_t sy_plugin_running_requests_size_scorer;
extern const sy_sched_plugin_type_t sy_plugin_lora_affinity_scorer;
extern const sy_sched_plugin_type_t sy_plugin_token_load_scorer;
extern const sy_sched_plugin_type_t sy_plugin_active_request_scorer;
extern const sy_sched_plugin_type_t sy_plugin_load_aware_scorer;
extern const sy_sched_plugin_type_t sy_plugin_no_hit_lru_scorer;
extern const sy_sched_plugin_type_t sy_plugin_session_affinity_scorer;
extern const sy_sched_plugin_type_t sy_plugin_session_affinity_filter;
/* plugins/filters.c */
extern const sy_sched_plugin_type_t sy_plugin_decode_filter;
extern const sy_sched_plugin_type_t sy_plugin_prefill_filter;
extern const sy_sched_plugin_type_t sy_plugin_encode_filter;
extern const sy_sched_plugin_type_t sy_plugin_label_selector_filter;
extern const sy_sched_plugin_type_t sy_plugin_by_label_selector;
extern const sy_sched_plugin_type_t sy_plugin_by_label;
extern const sy_sched_plugin_type_t sy_plugin_header_based_testing_filter;
/* plugins/pickers.c */
extern const sy_sched_plugin_type_t sy_plugin_max_score_picker;
extern const sy_sched_plugin_type_t sy_plugin_random_picker;
extern const sy_sched_plugin_type_t sy_plugin_weighted_random_picker;
/* plugins/profile.c */
extern const sy_sched_plugin_type_t sy_plugin_single_profile_handler;
extern const sy_sched_plugin_type_t sy_plugin_disagg_profile_handler;
extern const sy_sched_plugin_type_t sy_plugin_pd_profile_handler;
extern const sy_sched_plugin_type_t sy_plugin_prefill_header_handler;
extern const sy_sched_plugin_type_t sy_plugin_prefix_based_pd_decider;
extern const sy_sched_plugin_type_t sy_plugin_always_disagg_pd_decider;
/* plugins/detectors.c */
extern const sy_sched_plugin_type_t sy_plugin_utilization_detector;
extern const sy_sched_plugin_type_t sy_plugin_concurrency_detector;

#endif
