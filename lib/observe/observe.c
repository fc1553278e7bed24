#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "observe_int.h"

int sy_observe_new(sy_observe_t **out, const sy_observe_config_t *cfg) {
  sy_observe_t *o = sy_calloc(1, sizeof(*o));
  if (!o) return -ENOMEM;
  o->cfg = *cfg;
  if (!o->cfg.stale_after_ns) o->cfg.stale_after_ns = 2000000000ull;
  *out = o;
  return 0;
}

void sy_observe_free(sy_observe_t *o) { sy_free(o); }

void sy_observe_set_director(sy_observe_t *o, const sy_director_t *dir) { o->cfg.dir = dir; }

int sy_observe_json_str(sy_buf_t *b, const char *s) {
  int rc = sy_buf_append(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); !rc && *p; p++) {
    if (*p == '"' || *p == '\\') {
      char e[2] = {'\\', (char)*p};
      rc = sy_buf_append(b, e, 2);
    } else if (*p < 0x20) {
      rc = sy_buf_printf(b, "\\u%04x", *p);
    } else {
      rc = sy_buf_append(b, p, 1);
    }
  }
  return rc ? rc : sy_buf_append(b, "\"", 1);
}

/* A number, or null for NaN/inf/unknown. */
static int num(sy_buf_t *b, bool known, double v) {
  if (!known || !isfinite(v)) return sy_buf_append_str(b, "null");
  return sy_buf_printf(b, "%.6g", v);
}

static int endpoint_json(const sy_observe_t *o, sy_buf_t *b, const sy_endpoint_t *e, uint64_t now) {
  sy_endpoint_metrics_t m;
  sy_endpoint_metrics_load(e->state, &m);
  uint64_t samples = atomic_load(&e->state->prefix_samples);
  double hit = samples ? (double)atomic_load(&e->state->prefix_milli) / 1000.0 / (double)samples : 0;
  bool scraped = m.update_ns != 0;
  double age_ms = scraped ? (double)(now - m.update_ns) / 1e6 : 0;
  int rc = sy_buf_append_str(b, "{\"name\":");
  rc = rc ? rc : sy_observe_json_str(b, e->name);
  rc = rc ? rc : sy_buf_append_str(b, ",\"address\":");
  rc = rc ? rc : sy_observe_json_str(b, e->address);
  rc = rc ? rc : sy_buf_append_str(b, ",\"pod\":");
  rc = rc ? rc : sy_observe_json_str(b, e->pod_name);
  rc = rc ? rc : sy_buf_append_str(b, ",\"waiting\":");
  rc = rc ? rc : num(b, m.has_waiting, m.waiting);
  rc = rc ? rc : sy_buf_append_str(b, ",\"running\":");
  rc = rc ? rc : num(b, m.has_running, m.running);
  rc = rc ? rc : sy_buf_append_str(b, ",\"kv_usage\":");
  rc = rc ? rc : num(b, m.has_kv, m.kv_usage);
  rc = rc ? rc : sy_buf_printf(b, ",\"in_flight\":%d,\"in_flight_tokens\":%ld,\"picked\":%llu,\"prefix_hit_rate\":",
                               atomic_load(&e->state->in_flight), atomic_load(&e->state->in_flight_tokens),
                               (unsigned long long)atomic_load(&e->state->picked));
  rc = rc ? rc : num(b, samples > 0, hit);
  rc = rc ? rc : sy_buf_append_str(b, ",\"stale_ms\":");
  rc = rc ? rc : num(b, scraped, age_ms);
  rc = rc ? rc : sy_buf_printf(b, ",\"stale\":%s,\"block_size\":%d,\"num_blocks\":%ld,\"max_lora\":%d}",
                               !scraped || (now - m.update_ns) > o->cfg.stale_after_ns ? "true" : "false",
                               m.block_size, m.num_blocks, m.max_lora);
  return rc;
}

static int pools_json(const sy_observe_t *o, sy_buf_t *b, const sy_snapshot_t *s, bool with_endpoints) {
  uint64_t now = sy_now_ns();
  int rc = sy_buf_append_str(b, "[");
  for (size_t i = 0; !rc && i < s->n_pools; i++) {
    const sy_pool_snap_t *p = &s->pools[i];
    rc = sy_buf_append_str(b, i ? ",{\"namespace\":" : "{\"namespace\":");
    rc = rc ? rc : sy_observe_json_str(b, p->namespace_name);
    rc = rc ? rc : sy_buf_append_str(b, ",\"name\":");
    rc = rc ? rc : sy_observe_json_str(b, p->name);
    rc = rc ? rc : sy_buf_printf(b, ",\"app_protocol\":\"%s\",\"pods_selected\":%zu,\"ready_endpoints\":%zu,\"target_ports\":[",
                                 p->app_h2c ? "kubernetes.io/h2c" : "http", p->n_pods_selected, p->n_endpoints);
    for (size_t k = 0; !rc && k < p->n_target_ports; k++) rc = sy_buf_printf(b, k ? ",%d" : "%d", p->target_ports[k]);
    rc = rc ? rc : sy_buf_append_str(b, "],\"objectives\":{");
    for (size_t k = 0; !rc && k < p->n_objectives; k++) {
      if (k) rc = sy_buf_append_str(b, ",");
      rc = rc ? rc : sy_observe_json_str(b, p->objective_names[k]);
      rc = rc ? rc : sy_buf_printf(b, ":%d", p->objective_priorities[k]);
    }
    rc = rc ? rc : sy_buf_printf(b, "},\"rewrite_rules\":%zu", p->n_rewrite_rules);
    if (with_endpoints) {
      rc = rc ? rc : sy_buf_append_str(b, ",\"endpoints\":[");
      for (size_t k = 0; !rc && k < p->n_endpoints; k++) {
        if (k) rc = sy_buf_append_str(b, ",");
        rc = rc ? rc : endpoint_json(o, b, &p->endpoints[k], now);
      }
      rc = rc ? rc : sy_buf_append_str(b, "]");
    }
    rc = rc ? rc : sy_buf_append_str(b, "}");
  }
  return rc ? rc : sy_buf_append_str(b, "]");
}

static int decisions_json(sy_observe_t *o, sy_buf_t *b, size_t max) {
  sy_sched_decision_t *d = sy_calloc(SY_SCHED_RECENT, sizeof(*d));
  if (!d) return -ENOMEM;
  size_t n = sy_sched_recent_decisions(o->cfg.sched, d, SY_MIN(max, (size_t)SY_SCHED_RECENT));
  int rc = sy_buf_append_str(b, "[");
  for (size_t i = 0; !rc && i < n; i++) {
    rc = sy_buf_printf(b, "%s{\"seq\":%llu,\"time\":%.3f,\"request_id\":", i ? "," : "", (unsigned long long)d[i].seq,
                       d[i].wall_time);
    rc = rc ? rc : sy_observe_json_str(b, d[i].request_id);
    rc = rc ? rc : sy_buf_append_str(b, ",\"profile\":");
    rc = rc ? rc : sy_observe_json_str(b, d[i].profile);
    rc = rc ? rc : sy_buf_append_str(b, ",\"endpoint\":");
    rc = rc ? rc : sy_observe_json_str(b, d[i].endpoint);
    rc = rc ? rc : sy_buf_printf(b, ",\"total\":%.4g,\"candidates\":%zu,\"after_filters\":%zu,\"scores\":{", d[i].total,
                                 d[i].n_candidates, d[i].n_after_filters);
    for (size_t k = 0; !rc && k < d[i].n_scorers; k++) {
      if (k) rc = sy_buf_append_str(b, ",");
      rc = rc ? rc : sy_observe_json_str(b, d[i].scorer[k]);
      rc = rc ? rc : sy_buf_printf(b, ":%.4g", d[i].score[k]);
    }
    rc = rc ? rc : sy_buf_append_str(b, "},\"weights\":{");
    for (size_t k = 0; !rc && k < d[i].n_scorers; k++) {
      if (k) rc = sy_buf_append_str(b, ",");
      rc = rc ? rc : sy_observe_json_str(b, d[i].scorer[k]);
      rc = rc ? rc : sy_buf_printf(b, ":%.4g", d[i].weight[k]);
    }
    rc = rc ? rc : sy_buf_append_str(b, "}}");
  }
  sy_free(d);
  return rc ? rc : sy_buf_append_str(b, "]");
}

static int errors_json(const sy_director_stats_t *st, sy_buf_t *b) {
  return sy_buf_printf(b, "{\"400\":%llu,\"413\":%llu,\"429\":%llu,\"500\":%llu,\"503\":%llu,\"other\":%llu}",
                       (unsigned long long)st->errors_400, (unsigned long long)st->errors_413,
                       (unsigned long long)st->errors_429, (unsigned long long)st->errors_500,
                       (unsigned long long)st->errors_503, (unsigned long long)st->errors_other);
}

int sy_observe_debug_json(sy_observe_t *o, const char *what, sy_buf_t *out) {
  int rc;
  if (!strcmp(what, "pools") || !strcmp(what, "endpoints")) {
    sy_snapshot_t *s = sy_datastore_acquire(o->cfg.ds);
    rc = sy_buf_printf(out, "{\"generation\":%llu,\"pools\":", (unsigned long long)s->generation);
    rc = rc ? rc : pools_json(o, out, s, !strcmp(what, "endpoints"));
    sy_snapshot_release(s);
    return rc ? rc : sy_buf_append_str(out, "}");
  }
  if (!strcmp(what, "config")) {
    rc = sy_buf_append_str(out, "{\"endpoint_picker_config\":");
    rc = rc ? rc : sy_observe_json_str(out, sy_sched_config_text(o->cfg.sched));
    rc = rc ? rc : sy_buf_append_str(out, ",\"plugins\":[");
    sy_sched_plugin_stats_t st[128];
    size_t n = SY_MIN(sy_sched_stats(o->cfg.sched, st, 128), (size_t)128);
    for (size_t i = 0; !rc && i < n; i++) {
      rc = sy_buf_append_str(out, i ? ",{\"name\":" : "{\"name\":");
      rc = rc ? rc : sy_observe_json_str(out, st[i].name);
      rc = rc ? rc : sy_buf_append_str(out, ",\"type\":");
      rc = rc ? rc : sy_observe_json_str(out, st[i].type);
      rc = rc ? rc : sy_buf_printf(out, ",\"extension\":\"%s\",\"calls\":%llu,\"mean_us\":%.3f}", st[i].extension,
                                   (unsigned long long)st[i].calls,
                                   st[i].calls ? (double)st[i].total_ns / (double)st[i].calls / 1e3 : 0.0);
    }
    return rc ? rc : sy_buf_append_str(out, "]}");
  }
  if (!strcmp(what, "decisions")) {
    rc = sy_buf_append_str(out, "{\"decisions\":");
    rc = rc ? rc : decisions_json(o, out, SY_SCHED_RECENT);
    return rc ? rc : sy_buf_append_str(out, "}");
  }
  if (!strcmp(what, "routes")) {
    /* Gateway mode (HTTPRoute → route table) is not built yet: every request
     * goes to the configured pool. */
    return sy_buf_append_str(out, "{\"routes\":[]}");
  }
  return SY_ENOTFOUND;
}

int sy_observe_live_json(sy_observe_t *o, sy_buf_t *out) {
  sy_director_stats_t st;
  memset(&st, 0, sizeof(st));
  if (o->cfg.dir) sy_director_stats(o->cfg.dir, &st);
  uint64_t now = sy_now_ns();
  if (o->last_ns && now > o->last_ns) {
    double dt = (double)(now - o->last_ns) / 1e9;
    if (dt >= 0.2) {
      o->rate = (double)(st.decisions - o->last_decisions) / dt;
      o->last_decisions = st.decisions;
      o->last_ns = now;
    }
  } else {
    o->last_decisions = st.decisions;
    o->last_ns = now;
  }
  sy_snapshot_t *s = sy_datastore_acquire(o->cfg.ds);
  int rc = sy_buf_printf(out, "{\"ts\":%.3f,\"generation\":%llu,\"pools\":", sy_wall_time(), (unsigned long long)s->generation);
  rc = rc ? rc : pools_json(o, out, s, true);
  sy_snapshot_release(s);
  rc = rc ? rc : sy_buf_printf(out, ",\"decisions_total\":%llu,\"decisions_per_sec\":%.1f,\"errors_by_code\":",
                               (unsigned long long)st.decisions, o->rate);
  rc = rc ? rc : errors_json(&st, out);
  rc = rc ? rc : sy_buf_append_str(out, ",\"recent_decisions\":");
  rc = rc ? rc : decisions_json(o, out, 20);
  return rc ? rc : sy_buf_append_str(out, ",\"routes\":[]}");
}
