/*
 * switchyard — inference-aware router: Endpoint Picker (Envoy ext_proc) fed
 * by a controller over Kubernetes objects, from the API server (watches) or
 * from local manifests (--manifests).
 *
 * main only parses flags and wires modules; it holds no logic.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "controller.h"
#include "datalayer.h"
#include "core.h"
#include "datastore.h"
#include "director.h"
#include "extproc.h"
#include "flags.h"
#include "gwctl.h"
#include "kube.h"
#include "metrics.h"
#include "observe.h"
#include "scheduler.h"
#include "source.h"

#define SY_VERSION "0.1.0"

typedef struct options {
  long grpc_port, health_port, workers, poll_ms, drain_s, verbosity, max_body, refresh_ms, metrics_port;
  long le_duration_ms, le_deadline_ms, le_retry_ms;
  bool secure, health_checking, disable_subset, help, version, leader_election, gateway_mode;
  const char *cert_path, *pool_name, *pool_namespace, *pool_group, *manifests, *picker, *log_format, *listen;
  const char *config_file, *config_text, *metrics_token, *kubeconfig, *endpoint_selector, *endpoint_ports;
  const char *gw_controller, *gw_ports, *gw_address;
} options_t;

static const sy_flag_t FLAGS[] = {
    {"grpc-port", SY_FLAG_INT, offsetof(options_t, grpc_port), "9002", "port of the ext_proc gRPC server (0 = any free port)"},
    {"grpc-health-port", SY_FLAG_INT, offsetof(options_t, health_port), "9003",
     "port of the gRPC health server (0 = any free port)"},
    {"metrics-port", SY_FLAG_INT, offsetof(options_t, metrics_port), "9090",
     "port of the admin HTTP server: /metrics, /healthz, /readyz, /debug/*, the dashboard (0 = off)"},
    {"metrics-bearer-token", SY_FLAG_STR, offsetof(options_t, metrics_token), "",
     "if set, /metrics, /debug/* and the dashboard's live feed require 'Authorization: Bearer <token>'"},
    {"listen-address", SY_FLAG_STR, offsetof(options_t, listen), "0.0.0.0", "address both gRPC servers bind"},
    {"secure-serving", SY_FLAG_BOOL, offsetof(options_t, secure), "true",
     "serve ext_proc over TLS (self-signed unless --cert-path)"},
    {"cert-path", SY_FLAG_STR, offsetof(options_t, cert_path), "", "directory holding tls.crt and tls.key"},
    {"health-checking", SY_FLAG_BOOL, offsetof(options_t, health_checking), "false",
     "also serve grpc.health.v1 on the ext_proc port"},
    {"pool-name", SY_FLAG_STR, offsetof(options_t, pool_name), "", "name of the InferencePool to serve"},
    {"pool-namespace", SY_FLAG_STR, offsetof(options_t, pool_namespace), "",
     "namespace of the pool (default: $NAMESPACE, else \"default\")"},
    {"pool-group", SY_FLAG_STR, offsetof(options_t, pool_group), "inference.networking.k8s.io", "API group of the pool"},
    {"manifests", SY_FLAG_STR, offsetof(options_t, manifests), "",
     "YAML file or directory of Kubernetes objects (InferencePool, Pods) to serve from instead of the API server"},
    {"kubeconfig", SY_FLAG_STR, offsetof(options_t, kubeconfig), "",
     "kubeconfig file (default: $KUBECONFIG, in-cluster config, ~/.kube/config)"},
    {"endpoint-selector", SY_FLAG_STR, offsetof(options_t, endpoint_selector), "",
     "serve the pods matching this label selector (k=v,k2=v2) without an InferencePool"},
    {"endpoint-target-ports", SY_FLAG_STR, offsetof(options_t, endpoint_ports), "",
     "target ports of --endpoint-selector endpoints (comma list, 1 to 8)"},
    {"gateway-mode", SY_FLAG_BOOL, offsetof(options_t, gateway_mode), "false",
     "run as the controller of a GatewayClass: route every request by HTTPRoute to InferencePools and Services"},
    {"gateway-controller-name", SY_FLAG_STR, offsetof(options_t, gw_controller), SY_GWCTL_DEFAULT_CONTROLLER,
     "spec.controllerName of the GatewayClass this process implements (--gateway-mode)"},
    {"gateway-listener-ports", SY_FLAG_STR, offsetof(options_t, gw_ports), "8081",
     "ports the data plane (Envoy) listens on for Gateway listeners, comma list (--gateway-mode)"},
    {"gateway-address", SY_FLAG_STR, offsetof(options_t, gw_address), "",
     "address (IP or hostname) of the data plane, written to every Gateway's status.addresses (--gateway-mode)"},
    {"ha-enable-leader-election", SY_FLAG_BOOL, offsetof(options_t, leader_election), "false",
     "elect a leader with a Lease; only the leader reports ready (all replicas serve ext_proc)"},
    {"leader-election-lease-duration", SY_FLAG_DURATION, offsetof(options_t, le_duration_ms), "15s",
     "how long a leader's lease lasts without renewal"},
    {"leader-election-renew-deadline", SY_FLAG_DURATION, offsetof(options_t, le_deadline_ms), "10s",
     "how long the leader keeps trying to renew before it steps down"},
    {"leader-election-retry-period", SY_FLAG_DURATION, offsetof(options_t, le_retry_ms), "2s",
     "how often candidates try to acquire and the leader renews"},
    {"manifests-poll-ms", SY_FLAG_INT, offsetof(options_t, poll_ms), "250", "how often to check manifests for changes"},
    {"refresh-metrics-interval", SY_FLAG_DURATION, offsetof(options_t, refresh_ms), "50ms",
     "how often each model server's /metrics is scraped"},
    {"disable-endpoint-subset-filter", SY_FLAG_BOOL, offsetof(options_t, disable_subset), "false",
     "ignore the envoy.lb.subset_hint metadata"},
    {"grpc-workers", SY_FLAG_INT, offsetof(options_t, workers), "2", "ext_proc worker threads"},
    {"max-request-body-bytes", SY_FLAG_INT, offsetof(options_t, max_body), "16777216",
     "largest request body buffered for a decision (413 above)"},
    {"drain-seconds", SY_FLAG_INT, offsetof(options_t, drain_s), "5",
     "on SIGTERM, how long open streams may finish before they are cancelled"},
    {"config-file", SY_FLAG_STR, offsetof(options_t, config_file), "",
     "EndpointPickerConfig YAML file (default: the built-in default profile)"},
    {"config-text", SY_FLAG_STR, offsetof(options_t, config_text), "", "EndpointPickerConfig YAML text"},
    {"picker", SY_FLAG_STR, offsetof(options_t, picker), "",
     "shorthand config instead of --config-*: least-request | random"},
    {"v", SY_FLAG_INT, offsetof(options_t, verbosity), "2", "log verbosity (0 error .. 5 trace)"},
    {"log-format", SY_FLAG_STR, offsetof(options_t, log_format), "kv", "kv | json"},
    {"help", SY_FLAG_BOOL, offsetof(options_t, help), "false", "show this help"},
    {"version", SY_FLAG_BOOL, offsetof(options_t, version), "false", "print the version"},
};

typedef struct app {
  bool leader_election;
  sy_gwctl_t *gw;
  sy_gwctl_t *_Atomic gw_started; /* gw once started: the lease thread kicks it */
  sy_kube_lease_t *lease;
  sy_kube_source_t *kube;
  sy_datastore_t *ds;
  sy_controller_t *ctrl;
  sy_datalayer_t *dl;
  sy_metrics_registry_t *metrics;
  sy_observe_t *observe;
} app_t;

static int admin_metrics(void *ctx, sy_buf_t *out) { return sy_metrics_render(((app_t *)ctx)->metrics, out); }
static bool admin_ready(void *ctx);
static int admin_debug(void *ctx, const char *what, sy_buf_t *out) {
  return sy_observe_debug_json(((app_t *)ctx)->observe, what, out);
}
static int admin_live(void *ctx, sy_buf_t *out) { return sy_observe_live_json(((app_t *)ctx)->observe, out); }

static void on_publish(void *ctx, const sy_snapshot_t *snap) {
  app_t *app = ctx;
  sy_datalayer_on_snapshot(app->dl, snap);
}

/* Starts scraping as the config's data layer says (engineConfigs from
 * core-metrics-extractor, scheme/path from metrics-data-source). */
static int start_datalayer(app_t *app, const sy_sched_t *sched, long refresh_ms) {
  const sy_sched_datalayer_t *cfg = sy_sched_datalayer(sched);
  if (!cfg->enabled) {
    SY_LOG(SY_LOG_INFO, "model server scraping disabled (dataLayer.sources is empty)", NULL);
    return 0;
  }
  sy_scrape_engines_t *eng = NULL;
  char err[256];
  int rc = sy_scrape_engines_new(&eng);
  for (size_t i = 0; !rc && i < cfg->n_engines; i++) {
    const sy_sched_engine_config_t *ec = &cfg->engines[i];
    sy_scrape_engine_config_t sc = {.name = ec->name};
    sc.spec[SY_SCRAPE_QUEUED] = ec->queued;
    sc.spec[SY_SCRAPE_RUNNING] = ec->running;
    sc.spec[SY_SCRAPE_KV_USAGE] = ec->kv_usage;
    sc.spec[SY_SCRAPE_LORA] = ec->lora;
    sc.spec[SY_SCRAPE_CACHE_INFO] = ec->cache_info;
    sc.spec[SY_SCRAPE_CACHE_BLOCK_SIZE] = ec->cache_block_size;
    sc.spec[SY_SCRAPE_CACHE_NUM_BLOCKS] = ec->cache_num_blocks;
    rc = sy_scrape_engines_set(eng, &sc, err, sizeof(err));
    if (rc) fprintf(stderr, "switchyard: engineConfigs %s: %s\n", ec->name, err);
  }
  if (!rc && cfg->default_engine) rc = sy_scrape_engines_set_default(eng, cfg->default_engine, err, sizeof(err));
  if (!rc && cfg->engine_label_key) rc = sy_scrape_engines_set_label_key(eng, cfg->engine_label_key);
  if (!rc) {
    sy_datalayer_config_t dc = {.scheme = cfg->scheme, .path = cfg->path, .interval_ms = (uint32_t)refresh_ms, .engines = eng};
    rc = sy_datalayer_start(&app->dl, &dc);
    if (rc) fprintf(stderr, "switchyard: cannot start metrics scraping: %s\n", sy_strerror(rc));
  }
  sy_scrape_engines_free(eng);
  return rc;
}

static void on_manifests(void *ctx, sy_objset_t *set) {
  app_t *app = ctx;
  sy_controller_apply_objset(app->ctrl, set);
}

static void on_manifests_error(void *ctx, const sy_source_error_t *err) {
  SY_UNUSED(ctx);
  char where[600];
  snprintf(where, sizeof(where), "%s:%d:%d", err->file, err->line, err->column);
  SY_LOG(SY_LOG_ERROR, "invalid manifests; keeping the previous state", "at", where, "error", err->msg, NULL);
}

static const char PICKER_RANDOM[] =
    "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
    "plugins: [{type: random-picker}]\n";
static const char PICKER_LEAST_REQUEST[] =
    "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
    "plugins: [{type: active-request-scorer}, {type: max-score-picker}]\n";

/* Builds the scheduler from --config-file / --config-text / --picker, or the
 * built-in default. Errors name file:line:column. */
static int load_scheduler(const options_t *o, sy_sched_t **out) {
  const char *origin = NULL, *text = NULL;
  char *file_text = NULL;
  size_t len = 0;
  if (o->config_file[0]) {
    FILE *f = fopen(o->config_file, "rb");
    if (!f) {
      fprintf(stderr, "switchyard: --config-file %s: %s\n", o->config_file, strerror(errno));
      return -1;
    }
    sy_buf_t b;
    sy_buf_init(&b, 4u << 20);
    char tmp[8192];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(tmp, 1, sizeof(tmp), f)) > 0) rc = sy_buf_append(&b, tmp, n);
    fclose(f);
    if (rc) {
      fprintf(stderr, "switchyard: --config-file %s: %s\n", o->config_file, sy_strerror(rc));
      sy_buf_cleanup(&b);
      return -1;
    }
    file_text = b.data ? b.data : sy_strdup("");
    origin = o->config_file;
    text = file_text;
    len = b.len;
  } else if (o->config_text[0]) {
    origin = "--config-text";
    text = o->config_text;
    len = strlen(text);
  } else if (o->picker[0]) {
    origin = "--picker";
    if (!strcmp(o->picker, "random")) {
      text = PICKER_RANDOM;
    } else if (!strcmp(o->picker, "least-request")) {
      text = PICKER_LEAST_REQUEST;
    } else {
      fprintf(stderr, "switchyard: --picker must be least-request or random\n");
      return -1;
    }
    len = strlen(text);
  }
  sy_sched_error_t err;
  int rc = sy_sched_new_from_config(out, origin, text, len, &err);
  sy_free(file_text);
  if (rc) {
    if (err.line > 0) {
      fprintf(stderr, "switchyard: %s:%d:%d: %s\n", err.file, err.line, err.column, err.msg);
    } else {
      fprintf(stderr, "switchyard: %s: %s\n", err.file, err.msg);
    }
    return -1;
  }
  return 0;
}

/* Upstream's health semantics: without leader election every service name
 * reports whether the pool has synced; with it, liveness is always
 * SERVING, readiness (also "" and the ext_proc service) needs sync AND
 * leadership, and other names are unknown. */
static sy_health_t health(void *ctx, const char *service, size_t len) {
  app_t *app = ctx;
  bool synced = app->gw ? sy_gwctl_synced(app->gw) : sy_controller_synced(app->ctrl);
  if (!app->leader_election) return synced ? SY_HEALTH_SERVING : SY_HEALTH_NOT_SERVING;
  if (sy_str_ieq(service, len, "liveness")) return SY_HEALTH_SERVING;
  if (len == 0 || sy_str_ieq(service, len, "readiness") ||
      (len == strlen(SY_EXTPROC_SERVICE) && !memcmp(service, SY_EXTPROC_SERVICE, len)))
    return synced && sy_kube_lease_is_leader(app->lease) ? SY_HEALTH_SERVING : SY_HEALTH_NOT_SERVING;
  return SY_HEALTH_UNKNOWN;
}

static bool admin_ready(void *ctx) { return health(ctx, "", 0) == SY_HEALTH_SERVING; }

/* API-server watch counters for /metrics. */
static void collect_kube(sy_metrics_writer_t *w, void *ctx) {
  app_t *app = ctx;
  if (!app->kube) return;
  static const char *const L[] = {"resource"};
  sy_kube_source_stats_t st;
  sy_kube_source_stats(app->kube, &st);
  const char *pools[] = {"inferencepools"}, *pods[] = {"pods"};
  sy_metrics_write_gauge(w, "switchyard_kube_synced", "1 once every watched resource has been listed.", NULL, NULL, 0,
                         st.synced ? 1 : 0);
  sy_metrics_write_counter(w, "switchyard_kube_lists_total", "LISTs completed, per resource.", L, pools, 1,
                           (double)st.pools.lists);
  sy_metrics_write_counter(w, "switchyard_kube_lists_total", NULL, L, pods, 1, (double)st.pods.lists);
  sy_metrics_write_counter(w, "switchyard_kube_relists_expired_total", "Re-lists after 410 Gone, per resource.", L,
                           pools, 1, (double)st.pools.relists_expired);
  sy_metrics_write_counter(w, "switchyard_kube_relists_expired_total", NULL, L, pods, 1,
                           (double)st.pods.relists_expired);
  sy_metrics_write_counter(w, "switchyard_kube_watch_events_total", "Watch events applied, per resource.", L, pools, 1,
                           (double)st.pools.events);
  sy_metrics_write_counter(w, "switchyard_kube_watch_events_total", NULL, L, pods, 1, (double)st.pods.events);
  sy_metrics_write_counter(w, "switchyard_kube_rejected_total", "Objects or events rejected as invalid, per resource.",
                           L, pools, 1, (double)st.pools.rejected);
  sy_metrics_write_counter(w, "switchyard_kube_rejected_total", NULL, L, pods, 1, (double)st.pods.rejected);
  sy_metrics_write_counter(w, "switchyard_kube_request_errors_total", "Failed list/watch requests, per resource.", L,
                           pools, 1, (double)st.pools.errors);
  sy_metrics_write_counter(w, "switchyard_kube_request_errors_total", NULL, L, pods, 1, (double)st.pods.errors);
  sy_metrics_write_counter(w, "switchyard_kube_source_walks_total",
                           "Rebuilds of the endpoint set's inputs after a relevant change (changes to pods outside "
                           "the pool's selector cause none).",
                           NULL, NULL, 0, (double)st.walks);
  sy_metrics_write_counter(w, "switchyard_kube_source_publishes_total",
                           "Object sets handed to the controller (walks that found a relevant difference).", NULL, NULL,
                           0, (double)st.publishes);
}

/* Leadership for /metrics, in every mode that elects (EPP and gateway). */
static void collect_leader(sy_metrics_writer_t *w, void *ctx) {
  app_t *app = ctx;
  sy_metrics_write_gauge(w, "switchyard_leader", "1 while this replica holds the leader-election lease.", NULL, NULL, 0,
                         sy_kube_lease_is_leader(app->lease) ? 1 : 0);
}

static sy_gw_table_t *routes_acquire(void *ctx) { return sy_gwctl_table(((app_t *)ctx)->gw); }

/* A new gateway leader writes status at once, not at the writer's next
 * periodic check. Lease thread. */
static void on_gateway_leadership(void *ctx, bool leader) {
  app_t *app = ctx;
  sy_gwctl_t *gw = atomic_load(&app->gw_started);
  if (leader && gw) sy_gwctl_kick_status(gw);
}

/* Status writes: the leader only (every replica when not electing). */
static bool may_write_status(void *ctx) {
  app_t *app = ctx;
  return !app->leader_election || sy_kube_lease_is_leader(app->lease);
}

/* "8000,8001" -> ports. 0 or -1 (message printed). */
static int parse_ports(const char *flag, const char *text, int32_t *ports, size_t *n) {
  *n = 0;
  const char *p = text;
  while (*p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 1 || v > 65535 || (*end && *end != ',') || *n == SY_POOL_MAX_PORTS) {
      fprintf(stderr, "switchyard: --%s %s: want 1 to %d comma-separated ports\n", flag, text, SY_POOL_MAX_PORTS);
      return -1;
    }
    ports[(*n)++] = (int32_t)v;
    p = *end ? end + 1 : end;
  }
  return 0;
}

/* The Deployment name upstream derives from POD_NAME in endpoint-selector
 * mode (^(.+)-[a-z0-9]+-[a-z0-9]+$), used as the synthetic pool's name. */
static bool alnum_lower(const char *s, size_t n) {
  if (!n) return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) return false;
  return true;
}

static void derive_pool_name(char *out, size_t n) {
  const char *pod = getenv("POD_NAME");
  snprintf(out, n, "%s", pod && *pod ? pod : "endpoint-selector");
  char *d2 = strrchr(out, '-');
  if (!d2 || !alnum_lower(d2 + 1, strlen(d2 + 1))) return;
  *d2 = '\0';
  char *d1 = strrchr(out, '-');
  if (!d1 || d1 == out || !alnum_lower(d1 + 1, strlen(d1 + 1))) {
    *d2 = '-'; /* no match: keep the pod name */
    return;
  }
  *d1 = '\0';
}

int main(int argc, char **argv) {
  /* Before anything initialises OpenSSL (libcurl, gRPC's TLS): no
   * OPENSSL_cleanup at exit. Otherwise a gRPC thread that used TLS and ends
   * after that atexit handler leaves its per-thread error state behind (904
   * bytes; grpc/grpc#38539), which LeakSanitizer reports as a leak and which
   * made a clean SIGTERM exit fail under ASan. The OS reclaims the rest. */
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
  options_t o;
  memset(&o, 0, sizeof(o));
  char err[1024];
  if (sy_flags_parse(FLAGS, SY_ARRAY_LEN(FLAGS), &o, argc, argv, err, sizeof(err)) != 0) {
    fprintf(stderr, "switchyard: %s\nRun 'switchyard --help' for usage.\n", err);
    return 2;
  }
  if (o.help) {
    printf("Usage: switchyard [flags]\n\nFlags:\n");
    sy_flags_usage(FLAGS, SY_ARRAY_LEN(FLAGS), stdout);
    return 0;
  }
  if (o.version) {
    printf("switchyard %s\n", SY_VERSION);
    return 0;
  }
  sy_log_set_level((int)o.verbosity);
  if (!strcmp(o.log_format, "json")) {
    sy_log_set_format(SY_LOG_FMT_JSON);
  } else if (strcmp(o.log_format, "kv") != 0) {
    fprintf(stderr, "switchyard: --log-format must be kv or json\n");
    return 2;
  }
  if (!o.pool_namespace[0]) {
    const char *env = getenv("NAMESPACE");
    o.pool_namespace = env && env[0] ? env : "default";
  }
  /* As upstream: exactly one of --pool-name and --endpoint-selector
   * (neither in gateway mode: pools come from HTTPRoutes). */
  char derived_pool[256];
  int32_t ep_ports[SY_POOL_MAX_PORTS] = {0}, gw_port_nums[SY_POOL_MAX_PORTS] = {0};
  size_t n_ep_ports = 0, n_gw_ports = 0;
  if (o.gateway_mode) {
    if (o.pool_name[0] || o.endpoint_selector[0]) {
      fprintf(stderr, "switchyard: --gateway-mode routes by HTTPRoute; --pool-name and --endpoint-selector do not apply\n");
      return 2;
    }
    if (parse_ports("gateway-listener-ports", o.gw_ports, gw_port_nums, &n_gw_ports) != 0 || n_gw_ports == 0) return 2;
    o.pool_name = "";
  } else if (!!o.pool_name[0] == !!o.endpoint_selector[0]) {
    fprintf(stderr, "switchyard: exactly one of --pool-name and --endpoint-selector must be set\n");
    return 2;
  }
  if (o.endpoint_selector[0]) {
    if (o.manifests[0]) {
      fprintf(stderr, "switchyard: --endpoint-selector works with the API server, not --manifests\n");
      return 2;
    }
    if (!o.endpoint_ports[0]) {
      fprintf(stderr, "switchyard: --endpoint-target-ports is required with --endpoint-selector\n");
      return 2;
    }
    if (parse_ports("endpoint-target-ports", o.endpoint_ports, ep_ports, &n_ep_ports) != 0) return 2;
    derive_pool_name(derived_pool, sizeof(derived_pool));
    o.pool_name = derived_pool;
  }
  if (strcmp(o.pool_group, "inference.networking.k8s.io") != 0) {
    fprintf(stderr, "switchyard: --pool-group %s is not supported (only inference.networking.k8s.io, v1)\n", o.pool_group);
    return 2;
  }
  if (o.leader_election && o.manifests[0]) {
    fprintf(stderr, "switchyard: --ha-enable-leader-election needs the API server, not --manifests\n");
    return 2;
  }
  app_t app = {.leader_election = o.leader_election};
  int n_cfg = (o.config_file[0] != 0) + (o.config_text[0] != 0) + (o.picker[0] != 0);
  if (n_cfg > 1) {
    fprintf(stderr, "switchyard: --config-file, --config-text and --picker are mutually exclusive\n");
    return 2;
  }
  if (o.grpc_port < 0 || o.grpc_port > 65535 || o.health_port < 0 || o.health_port > 65535 || o.workers < 1 ||
      o.workers > 64 || o.metrics_port < 0 || o.metrics_port > 65535 || o.max_body < 1 || o.poll_ms < 10 || o.drain_s < 0 || o.refresh_ms < 1 ||
      o.refresh_ms > 3600000) {
    fprintf(stderr, "switchyard: a numeric flag is out of range (see --help)\n");
    return 2;
  }

  /* gRPC starts threads of its own: block the signals we sigwait() for
   * before any thread exists so they are delivered to main only. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  sy_kube_config_t *kcfg = NULL;
  sy_kube_client_t *kclient = NULL;
  sy_sched_t *sched = NULL;
  sy_director_t *dir = NULL;
  sy_manifests_watch_t *watch = NULL;
  sy_extproc_server_t *srv = NULL;
  sy_admin_t *admin = NULL;
  int exit_code = 1;

  if (load_scheduler(&o, &sched) != 0) goto out;
  if (sy_datastore_new(&app.ds) != 0) goto out;
  if (start_datalayer(&app, sched, o.refresh_ms) != 0) goto out;
  sy_controller_config_t ccfg = {
      .pool_name = o.pool_name, .pool_namespace = o.pool_namespace, .on_publish = on_publish, .on_publish_ctx = &app};
  if (sy_controller_new(&app.ctrl, app.ds, &ccfg) != 0) goto out;
  sy_observe_config_t ocfg = {.ds = app.ds, .sched = sched};
  app.metrics = sy_metrics_registry_new();
  if (!app.metrics || sy_observe_new(&app.observe, &ocfg) != 0 ||
      sy_observe_metrics_register(app.observe, app.metrics, SY_VERSION) != 0)
    goto out;
  sy_director_routes_t routes = {.acquire = routes_acquire,
                                 .ctx = &app,
                                 .default_port = gw_port_nums[0],
                                 .sched_origin = "scheduler config",
                                 .sched_text = sy_sched_config_text(sched)};
  routes.sched_len = routes.sched_text ? strlen(routes.sched_text) : 0;
  sy_director_config_t dcfg = {.pool_name = o.pool_name,
                               .pool_namespace = o.pool_namespace,
                               .hooks = sy_observe_director_hooks(app.observe),
                               .routes = o.gateway_mode ? &routes : NULL};
  if (sy_director_new(&dir, &dcfg, app.ds, sched) != 0) goto out;
  sy_observe_set_director(app.observe, dir);

  int rc;
  sy_gw_listen_port_t gw_listen[SY_POOL_MAX_PORTS];
  for (size_t i = 0; i < n_gw_ports; i++) gw_listen[i] = (sy_gw_listen_port_t){gw_port_nums[i], SY_GW_PROTO_HTTP};
  if (o.gateway_mode && !o.manifests[0] &&
      (sy_kube_config_load(o.kubeconfig, &kcfg, err, sizeof(err)) != 0 ||
       sy_kube_client_new(&kclient, kcfg, err, sizeof(err)) != 0)) {
    fprintf(stderr, "switchyard: %s\n", err);
    goto out;
  }
  if (o.gateway_mode && o.leader_election) {
    sy_kube_lease_config_t lcfg = {.namespace_name = o.pool_namespace,
                                   .name = "switchyard-gateway-controller",
                                   .lease_duration_ms = (unsigned)o.le_duration_ms,
                                   .renew_deadline_ms = (unsigned)o.le_deadline_ms,
                                   .retry_period_ms = (unsigned)o.le_retry_ms,
                                   .on_change = on_gateway_leadership,
                                   .ctx = &app};
    if (sy_kube_lease_start(&app.lease, kclient, &lcfg, err, sizeof(err)) != 0) {
      fprintf(stderr, "switchyard: %s\n", err);
      goto out;
    }
  }
  if (o.gateway_mode) {
    sy_gwctl_config_t gcfg = {.controller_name = o.gw_controller,
                              .address = o.gw_address,
                              .ports = gw_listen,
                              .n_ports = n_gw_ports,
                              .client = kclient,
                              .manifests = o.manifests[0] ? o.manifests : NULL,
                              .poll_ms = (unsigned)o.poll_ms,
                              .on_objset = on_manifests,
                              .ctx = &app,
                              .may_write = may_write_status};
    if (sy_gwctl_start(&app.gw, &gcfg, err, sizeof(err)) != 0) {
      fprintf(stderr, "switchyard: gateway mode: %s\n", err);
      goto out;
    }
    atomic_store(&app.gw_started, app.gw);
  } else if (o.manifests[0]) {
    sy_source_error_t serr;
    memset(&serr, 0, sizeof(serr));
    rc = sy_manifests_watch_start(&watch, o.manifests, (unsigned)o.poll_ms, on_manifests, on_manifests_error, &app, &serr);
    if (rc != 0) {
      if (serr.line > 0) {
        fprintf(stderr, "switchyard: %s:%d:%d: %s\n", serr.file, serr.line, serr.column, serr.msg);
      } else {
        fprintf(stderr, "switchyard: %s: %s\n", serr.file, serr.msg);
      }
      goto out;
    }
  } else {
    if (sy_kube_config_load(o.kubeconfig, &kcfg, err, sizeof(err)) != 0 ||
        sy_kube_client_new(&kclient, kcfg, err, sizeof(err)) != 0) {
      fprintf(stderr, "switchyard: %s\n", err);
      goto out;
    }
    sy_kube_source_config_t kscfg = {.pool_name = o.pool_name,
                                     .pool_namespace = o.pool_namespace,
                                     .pool_group = o.pool_group,
                                     .endpoint_selector = o.endpoint_selector,
                                     .target_ports = ep_ports,
                                     .n_target_ports = n_ep_ports,
                                     .on_load = on_manifests,
                                     .ctx = &app};
    if (sy_kube_source_start(&app.kube, kclient, &kscfg, err, sizeof(err)) != 0) {
      fprintf(stderr, "switchyard: %s: %s\n", kcfg->origin, err);
      goto out;
    }
    if (sy_metrics_register_collector(app.metrics, collect_kube, &app) != 0) goto out;
    if (o.leader_election) {
      char lease[512];
      snprintf(lease, sizeof(lease), "epp-%s-%s.gateway-api-inference-extension.sigs.k8s.io", o.pool_namespace,
               o.pool_name);
      sy_kube_lease_config_t lcfg = {.namespace_name = o.pool_namespace,
                                     .name = lease,
                                     .lease_duration_ms = (unsigned)o.le_duration_ms,
                                     .renew_deadline_ms = (unsigned)o.le_deadline_ms,
                                     .retry_period_ms = (unsigned)o.le_retry_ms};
      if (sy_kube_lease_start(&app.lease, kclient, &lcfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "switchyard: %s\n", err);
        goto out;
      }
    }
  }

  if (app.lease && sy_metrics_register_collector(app.metrics, collect_leader, &app) != 0) goto out;

  sy_extproc_server_config_t xcfg = {
      .listen_host = o.listen,
      .grpc_port = (int)o.grpc_port,
      .health_port = (int)o.health_port,
      .health_on_grpc_port = o.health_checking,
      .secure = o.secure,
      .cert_path = o.cert_path,
      .workers = (int)o.workers,
      .max_recv_message = (size_t)o.max_body + (1u << 20),
      .stream = {.max_request_body = (size_t)o.max_body,
                 .max_usage_body = 4u << 20,
                 .disable_subset_filter = o.disable_subset},
  };
  err[0] = '\0';
  rc = sy_extproc_server_start(&srv, &xcfg, &sy_director_ops, dir, health, &app, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "switchyard: %s\n", err[0] ? err : sy_strerror(rc));
    goto out;
  }
  if (o.metrics_port > 0) {
    sy_admin_config_t acfg = {.listen_host = o.listen,
                              .port = (int)o.metrics_port,
                              .bearer_token = o.metrics_token[0] ? o.metrics_token : NULL,
                              .live_interval_ms = 500};
    sy_admin_providers_t prov = {.metrics = admin_metrics,
                                 .ready = admin_ready,
                                 .debug_json = admin_debug,
                                 .live_json = admin_live,
                                 .ctx = &app};
    err[0] = '\0';
    if (sy_admin_start(&admin, &acfg, &prov, err, sizeof(err)) != 0) {
      fprintf(stderr, "switchyard: --metrics-port %ld: %s\n", o.metrics_port, err);
      goto out;
    }
  }
  char ports[64];
  snprintf(ports, sizeof(ports), "%ld/%ld/%ld", o.grpc_port, o.health_port, o.metrics_port);
  SY_LOG(SY_LOG_INFO, "switchyard ready", "version", SY_VERSION, "grpc_health_metrics_ports", ports, "tls",
         o.secure ? "true" : "false", "pool", o.pool_name, "namespace", o.pool_namespace, "source",
         o.manifests[0] ? o.manifests : (kcfg ? kcfg->origin : "apiserver"), NULL);

  int sig = 0;
  sigwait(&sigs, &sig);
  SY_LOG(SY_LOG_INFO, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
  exit_code = 0;
out:
  /* Release leadership first so a successor becomes ready while we drain. */
  sy_kube_lease_release(app.lease);
  sy_extproc_server_stop(srv, (unsigned)o.drain_s * 1000u);
  sy_kube_lease_stop(app.lease);
  sy_admin_stop(admin);
  sy_manifests_watch_stop(watch);
  sy_kube_source_stop(app.kube);
  app.kube = NULL;
  sy_gwctl_stop(app.gw);
  app.gw = NULL;
  sy_kube_client_free(kclient);
  sy_kube_config_free(kcfg);
  sy_datalayer_stop(app.dl);
  sy_director_free(dir);
  sy_controller_free(app.ctrl);
  sy_sched_free(sched);
  sy_datastore_free(app.ds);
  sy_observe_free(app.observe);
  sy_metrics_registry_free(app.metrics);
  if (exit_code == 0) SY_LOG(SY_LOG_INFO, "stopped", NULL);
  return exit_code;
}
