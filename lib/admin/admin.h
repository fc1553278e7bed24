/*
 * admin — the operator-facing HTTP server: /metrics, /healthz, /readyz, a
 * read-only debug JSON API under /debug/, and a live dashboard (static page
 * embedded in the binary + a WebSocket at /live pushing one JSON frame every
 * live_interval_ms). See lib/admin/README.md for routes and the frame schema.
 *
 * The server knows nothing about scheduling: every body comes from the
 * consumer's providers (rule 5: consumer-defined narrow interface).
 *
 * Threads: sy_admin_start creates one service thread that owns the
 * libwebsockets context; every provider callback runs on that thread, one at
 * a time, so providers need only make their own reads of shared state safe
 * (snapshot acquire, atomics). sy_admin_start/stop/port are called from one
 * controlling thread.
 */
#ifndef SY_ADMIN_H
#define SY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "core.h"

typedef struct sy_admin sy_admin_t;

typedef struct sy_admin_providers {
  /* Each appends its response body to `out` (bounded, SY_ADMIN_BODY_MAX) and
   * returns 0, or a negative error → 500. Called on the admin thread. A NULL
   * provider makes its route answer 404 (metrics, debug_json) or 200 (ready). */
  int (*metrics)(void *ctx, sy_buf_t *out); /* Prometheus text exposition */
  bool (*ready)(void *ctx);                 /* /readyz 200 vs 503; /healthz is 200 "ok" while the loop runs */
  /* what = "pools", "endpoints", "routes", "config", "decisions";
   * SY_ENOTFOUND → 404. */
  int (*debug_json)(void *ctx, const char *what, sy_buf_t *out);
  /* One dashboard frame (JSON object, schema in README.md), pushed to every
   * WebSocket client every live_interval_ms; only called while at least one
   * client is connected. */
  int (*live_json)(void *ctx, sy_buf_t *out);
  void *ctx;
} sy_admin_providers_t;

typedef struct sy_admin_config {
  const char *listen_host;   /* NULL or "" or "0.0.0.0" = all IPv4 interfaces */
  int port;                  /* --metrics-port (9090); 0 = ephemeral (tests), see sy_admin_port */
  const char *bearer_token;  /* NULL = open; else /metrics, /debug/... and /live need it */
  unsigned live_interval_ms; /* 0 → 500 */
} sy_admin_config_t;

/* Largest response body or live frame (bytes); beyond it → 500. */
#define SY_ADMIN_BODY_MAX (8u << 20)
/* WebSocket subprotocol the dashboard speaks on /live. */
#define SY_ADMIN_LIVE_PROTOCOL "switchyard-live"

/* Binds, then starts the service thread. `cfg` strings are copied; `p` is
 * copied, and p->ctx must stay valid until sy_admin_stop returns.
 * Returns 0, -errno (e.g. -EADDRINUSE), SY_EINVAL or -ENOMEM, with a
 * message in `err` (may be NULL). */
int sy_admin_start(sy_admin_t **out, const sy_admin_config_t *cfg, const sy_admin_providers_t *p, char *err,
                   size_t errlen);

/* The TCP port actually bound (useful with cfg->port == 0). */
int sy_admin_port(const sy_admin_t *a);

/* Stops the service thread (lws_cancel_service + join), closes every
 * connection and frees `a`. NULL is a no-op. No provider is called after it
 * returns. */
void sy_admin_stop(sy_admin_t *a);

#endif /* SY_ADMIN_H */
