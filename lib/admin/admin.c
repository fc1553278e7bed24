/*
 * Admin server on libwebsockets 4.1 (one service thread, LWS_MAX_SMP 1).
 *
 * HTTP: every response body is produced whole into a bounded per-connection
 * buffer (SY_ADMIN_BODY_MAX) when the request arrives, then written in
 * WCHUNK pieces from LWS_CALLBACK_HTTP_WRITEABLE with a Content-Length, so
 * the connection stays keep-alive. Embedded assets are written straight from
 * their static arrays.
 *
 * WebSocket (/live, subprotocol "switchyard-live"): a timer (lws_sul) on the
 * service thread renders one frame per interval while clients are connected
 * and bumps a generation; each client copies the newest frame when it is
 * ready for one and sends it as WCHUNK fragments. A slow client skips
 * frames instead of queueing them.
 */
#include "admin.h"
#include "admin_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#define WCHUNK (16 * 1024)
#define TOKEN_MAX 512

#define ADMIN_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static const char CT_PROM[] = "text/plain; version=0.0.4; charset=utf-8";
static const char CT_TEXT[] = "text/plain; charset=utf-8";
static const char CT_JSON[] = "application/json";

typedef struct http_pss {
  int status;
  const char *ctype;
  bool active;       /* a response is pending */
  bool headers_sent;
  bool unauthorized; /* add WWW-Authenticate */
  bool close_after;  /* answer, then drop the connection */
  const unsigned char *sdata; /* static body (asset), else body.data */
  size_t slen;
  size_t off;
  sy_buf_t body;
} http_pss_t;

typedef struct ws_pss {
  struct ws_pss *next;
  struct lws *wsi;
  unsigned long gen; /* generation of the frame being / last sent */
  sy_buf_t frame;    /* copy of the frame being sent */
  size_t off;
  bool sending;
} ws_pss_t;

struct sy_admin {
  sy_admin_providers_t p;
  char *host;
  char *token;
  unsigned interval_ms;
  int port;
  struct lws_context *ctx;
  struct lws_protocols protocols[3];
  pthread_t thread;
  bool thread_started;
  atomic_int stop;
  lws_sorted_usec_list_t tick;
  ws_pss_t *clients;
  sy_buf_t frame;       /* newest live frame */
  sy_buf_t scratch;     /* the next frame, swapped in only when complete */
  unsigned long gen;    /* 0 = no frame yet */
  int live_rc;          /* last live_json result: log changes only */
  unsigned char wbuf[LWS_PRE + WCHUNK + 1024];
};

/* ---------------------------------------------------------------- auth */

static bool token_eq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char d = (unsigned char)(la != lb);
  for (size_t i = 0; i < la; i++) d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
  return d == 0;
}

/* Authorization: Bearer <token>; for the WebSocket also ?token=<token>
 * (browsers cannot set headers on a WebSocket). */
static bool authorized(sy_admin_t *a, struct lws *wsi, bool allow_query) {
  if (!a->token) return true;
  char v[TOKEN_MAX + 16];
  int n = lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_AUTHORIZATION);
  if (n > 7 && strncasecmp(v, "Bearer ", 7) == 0) {
    const char *t = v + 7;
    while (*t == ' ') t++;
    if (token_eq(t, a->token)) return true;
  }
  if (allow_query) {
    char q[TOKEN_MAX + 8];
    const char *t = lws_get_urlarg_by_name(wsi, "token=", q, (int)sizeof(q));
    if (t && token_eq(t, a->token)) return true;
  }
  return false;
}

/* ---------------------------------------------------------------- http */

static void respond_buf(struct lws *wsi, http_pss_t *h, int status, const char *ctype) {
  h->status = status;
  h->ctype = ctype;
  h->sdata = NULL;
  h->slen = h->body.len;
  h->off = 0;
  h->active = true;
  lws_callback_on_writable(wsi);
}

static void respond_text(struct lws *wsi, http_pss_t *h, int status, const char *text) {
  sy_buf_reset(&h->body);
  if (sy_buf_append_str(&h->body, text)) sy_buf_reset(&h->body);
  respond_buf(wsi, h, status, CT_TEXT);
}

static void respond_error(struct lws *wsi, http_pss_t *h, int rc) {
  char msg[128];
  snprintf(msg, sizeof(msg), "internal error: %s\n", sy_strerror(rc));
  respond_text(wsi, h, 500, msg);
}

static const sy_admin_asset_t *asset_find(const char *name) {
  for (const sy_admin_asset_t *s = sy_admin__assets; s->name; s++)
    if (strcmp(s->name, name) == 0) return s;
  return NULL;
}

static void respond_asset(struct lws *wsi, http_pss_t *h, const char *name) {
  const sy_admin_asset_t *s = asset_find(name);
  if (!s) {
    respond_text(wsi, h, 404, "not found\n");
    return;
  }
  h->status = 200;
  h->ctype = s->ctype;
  h->sdata = s->data;
  h->slen = s->len;
  h->off = 0;
  h->active = true;
  lws_callback_on_writable(wsi);
}

static const char *const DEBUG_WHAT[] = {"pools", "endpoints", "routes", "config", "decisions"};

static int on_http(sy_admin_t *a, http_pss_t *h, struct lws *wsi, const char *path) {
  if (!h->body.data) sy_buf_init(&h->body, SY_ADMIN_BODY_MAX); /* pss starts zeroed */
  sy_buf_reset(&h->body);
  h->headers_sent = false;
  h->unauthorized = false;
  h->close_after = false;
  h->off = 0;
  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
    /* Read-only server. lws holds the response until the request body is
     * in (HTTP_BODY_COMPLETION answers 405), and without a Content-Length
     * it would wait for a body forever: drop those at once. The connection
     * is closed after the 405 so no body bytes can be taken for a request. */
    char cl[32];
    long v = 0;
    bool lws_assumes_body = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 ||
                            lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0 ||
                            lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0;
    if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
      if (sy_parse_int(cl, 0, 0x7fffffffL, &v) != 0) return -1;
    } else if (lws_assumes_body) {
      return -1;
    }
    h->close_after = true;
    if (v == 0) respond_text(wsi, h, 405, "method not allowed\n");
    return 0;
  }
  int rc;
  if (strcmp(path, "/healthz") == 0) {
    respond_text(wsi, h, 200, "ok\n");
  } else if (strcmp(path, "/readyz") == 0) {
    bool ok = !a->p.ready || a->p.ready(a->p.ctx);
    respond_text(wsi, h, ok ? 200 : 503, ok ? "ok\n" : "not ready\n");
  } else if (strcmp(path, "/metrics") == 0 || strncmp(path, "/debug/", 7) == 0) {
    if (!authorized(a, wsi, false)) {
      h->unauthorized = true;
      respond_text(wsi, h, 401, "unauthorized\n");
      return 0;
    }
    if (path[1] == 'm') {
      if (!a->p.metrics) {
        respond_text(wsi, h, 404, "not found\n");
        return 0;
      }
      rc = a->p.metrics(a->p.ctx, &h->body);
      if (rc) respond_error(wsi, h, rc);
      else respond_buf(wsi, h, 200, CT_PROM);
      return 0;
    }
    const char *what = path + 7;
    bool known = false;
    for (size_t i = 0; i < SY_ARRAY_LEN(DEBUG_WHAT); i++) known |= strcmp(what, DEBUG_WHAT[i]) == 0;
    if (!known || !a->p.debug_json) {
      respond_text(wsi, h, 404, "not found\n");
      return 0;
    }
    rc = a->p.debug_json(a->p.ctx, what, &h->body);
    if (rc == SY_ENOTFOUND) respond_text(wsi, h, 404, "not found\n");
    else if (rc) respond_error(wsi, h, rc);
    else respond_buf(wsi, h, 200, CT_JSON);
  } else if (strcmp(path, "/") == 0 || strcmp(path, "/dashboard") == 0 || strcmp(path, "/dashboard/") == 0) {
    respond_asset(wsi, h, "index.html");
  } else if (strncmp(path, "/dashboard/", 11) == 0 && !strchr(path + 11, '/')) {
    respond_asset(wsi, h, path + 11);
  } else {
    respond_text(wsi, h, 404, "not found\n");
  }
  return 0;
}

static int write_headers(sy_admin_t *a, http_pss_t *h, struct lws *wsi) {
  unsigned char *start = a->wbuf + LWS_PRE, *p = start, *end = a->wbuf + sizeof(a->wbuf) - 1;
  if (lws_add_http_header_status(wsi, (unsigned int)h->status, &p, end)) return -1;
  if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)h->ctype,
                                   (int)strlen(h->ctype), &p, end))
    return -1;
  if (lws_add_http_header_content_length(wsi, h->slen, &p, end)) return -1;
  static const char nocache[] = "no-store";
  if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)nocache,
                                   (int)sizeof(nocache) - 1, &p, end))
    return -1;
  if (h->close_after &&
      lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, &p, end))
    return -1;
  if (h->unauthorized) {
    static const char www[] = "Bearer realm=\"switchyard\"";
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE, (const unsigned char *)www,
                                     (int)sizeof(www) - 1, &p, end))
      return -1;
  }
  return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

static int transaction_done(http_pss_t *h, struct lws *wsi) {
  h->active = false;
  if (h->close_after) return -1;
  h->sdata = NULL;
  /* Keep a small buffer around for the next keep-alive request only. */
  if (h->body.cap > 64 * 1024) sy_buf_cleanup(&h->body);
  else sy_buf_reset(&h->body);
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_http_writeable(sy_admin_t *a, http_pss_t *h, struct lws *wsi) {
  if (!h->active) return 0;
  if (!h->headers_sent) {
    if (write_headers(a, h, wsi)) return -1;
    h->headers_sent = true;
    if (h->slen == 0) return transaction_done(h, wsi);
    lws_callback_on_writable(wsi);
    return 0;
  }
  const unsigned char *src = h->sdata ? h->sdata : (const unsigned char *)h->body.data;
  size_t n = SY_MIN(h->slen - h->off, (size_t)WCHUNK);
  bool last = h->off + n == h->slen;
  memcpy(a->wbuf + LWS_PRE, src + h->off, n);
  if (lws_write(wsi, a->wbuf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0) return -1;
  h->off += n;
  if (last) return transaction_done(h, wsi);
  lws_callback_on_writable(wsi);
  return 0;
}

static bool live_path(struct lws *wsi) {
  char uri[64];
  int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
  return n > 0 && strcmp(uri, "/live") == 0;
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  struct lws_context *ctx = lws_get_context(wsi);
  sy_admin_t *a = ctx ? lws_context_user(ctx) : NULL;
  http_pss_t *h = user;
  switch (reason) {
    case LWS_CALLBACK_HTTP:
      if (!a || !h) return -1;
      return on_http(a, h, wsi, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_WRITEABLE:
      return (a && h) ? on_http_writeable(a, h, wsi) : 0;
    case LWS_CALLBACK_HTTP_BODY:
      return 0; /* discarded: only non-GET requests have one, and get 405 */
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      if (h && h->close_after && !h->active) respond_text(wsi, h, 405, "method not allowed\n");
      return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
      /* An upgrade without our subprotocol lands here: refuse it. */
      return -1;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
      if (h) {
        sy_buf_cleanup(&h->body);
        h->active = false;
      }
      break;
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ------------------------------------------------------------ websocket */

static void client_unlink(sy_admin_t *a, ws_pss_t *c) {
  for (ws_pss_t **pp = &a->clients; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  }
  c->next = NULL;
}

static int ws_writeable(sy_admin_t *a, ws_pss_t *c) {
  if (!c->sending) {
    if (a->gen == 0 || c->gen == a->gen) return 0;
    sy_buf_reset(&c->frame);
    if (sy_buf_append(&c->frame, a->frame.data, a->frame.len)) return -1;
    c->gen = a->gen;
    c->off = 0;
    c->sending = true;
  }
  size_t n = SY_MIN(c->frame.len - c->off, (size_t)WCHUNK);
  bool first = c->off == 0, last = c->off + n == c->frame.len;
  int flags = lws_write_ws_flags(LWS_WRITE_TEXT, first, last);
  memcpy(a->wbuf + LWS_PRE, c->frame.data + c->off, n);
  if (lws_write(c->wsi, a->wbuf + LWS_PRE, n, (enum lws_write_protocol)flags) < (int)n) return -1;
  c->off += n;
  if (last) {
    c->sending = false;
    if (c->frame.cap > 256 * 1024) sy_buf_cleanup(&c->frame);
  }
  /* Continue the fragment train, or catch up to a newer frame. */
  if (c->sending || c->gen != a->gen) lws_callback_on_writable(c->wsi);
  return 0;
}

/* Renders a new frame (only while someone watches) and wakes the clients. */
static void render_frame(sy_admin_t *a) {
  if (!a->clients || !a->p.live_json) return;
  sy_buf_reset(&a->scratch);
  int rc = a->p.live_json(a->p.ctx, &a->scratch);
  if (rc == 0 && a->scratch.len > 0) {
    sy_buf_t t = a->frame;
    a->frame = a->scratch;
    a->scratch = t;
    a->gen++;
    lws_callback_on_writable_all_protocol(a->ctx, &a->protocols[1]);
  }
  if (rc && rc != a->live_rc) SY_LOG(SY_LOG_WARN, "admin: live frame failed", "err", sy_strerror(rc), NULL);
  a->live_rc = rc;
}

static int live_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  struct lws_context *ctx = lws_get_context(wsi);
  sy_admin_t *a = ctx ? lws_context_user(ctx) : NULL;
  ws_pss_t *c = user;
  SY_UNUSED(in);
  SY_UNUSED(len);
  switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
      if (!a || !live_path(wsi) || !authorized(a, wsi, true)) return -1;
      return 0;
    case LWS_CALLBACK_ESTABLISHED:
      if (!a || !c) return -1;
      memset(c, 0, sizeof(*c));
      c->wsi = wsi;
      sy_buf_init(&c->frame, SY_ADMIN_BODY_MAX);
      c->next = a->clients;
      a->clients = c;
      /* The first watcher gets a fresh frame now, not one left over from
       * the last time someone watched. */
      if (!c->next) render_frame(a);
      else if (a->gen) lws_callback_on_writable(wsi);
      return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
      return (a && c) ? ws_writeable(a, c) : 0;
    case LWS_CALLBACK_RECEIVE:
      return 0; /* clients have nothing to say */
    case LWS_CALLBACK_CLOSED:
      if (a && c && c->wsi) {
        client_unlink(a, c);
        sy_buf_cleanup(&c->frame);
        c->wsi = NULL;
      }
      return 0;
    default:
      return 0;
  }
}

static void on_tick(lws_sorted_usec_list_t *sul) {
  sy_admin_t *a = ADMIN_CONTAINER(sul, sy_admin_t, tick);
  render_frame(a);
  lws_sul_schedule(a->ctx, 0, &a->tick, on_tick, (lws_usec_t)a->interval_ms * 1000);
}

/* ------------------------------------------------------------ lifecycle */

static void lws_log_bridge(int level, const char *line) {
  char msg[512];
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  if (n >= sizeof(msg)) n = sizeof(msg) - 1;
  memcpy(msg, line, n);
  msg[n] = 0;
  /* lws warns about every refused upgrade (scanners, wrong token): verbose. */
  SY_LOG(level == LLL_ERR ? SY_LOG_ERROR : SY_LOG_VERBOSE, "lws", "line", msg, NULL);
}


static void *service_main(void *arg) {
  sy_admin_t *a = arg;
  while (!atomic_load(&a->stop))
    if (lws_service(a->ctx, 0) < 0) break;
  return NULL;
}

static void admin_free(sy_admin_t *a) {
  if (!a) return;
  if (a->ctx) {
    lws_sul_cancel(&a->tick);
    lws_context_destroy(a->ctx);
  }
  sy_buf_cleanup(&a->frame);
  sy_buf_cleanup(&a->scratch);
  sy_free(a->host);
  sy_free(a->token);
  sy_free(a);
}

int sy_admin_start(sy_admin_t **out, const sy_admin_config_t *cfg, const sy_admin_providers_t *p, char *err,
                   size_t errlen) {
  char dummy[1];
  if (!err || !errlen) {
    err = dummy;
    errlen = sizeof(dummy);
  }
  err[0] = 0;
  *out = NULL;
  if (!cfg || !p || cfg->port < 0 || cfg->port > 65535) {
    snprintf(err, errlen, "admin: invalid configuration");
    return SY_EINVAL;
  }
  if (cfg->bearer_token && (!cfg->bearer_token[0] || strlen(cfg->bearer_token) > TOKEN_MAX)) {
    snprintf(err, errlen, "admin: bearer token must be 1..%d bytes", TOKEN_MAX);
    return SY_EINVAL;
  }
  const char *host =
      (cfg->listen_host && cfg->listen_host[0] && strcmp(cfg->listen_host, "0.0.0.0") != 0) ? cfg->listen_host : NULL;
  int rc = sy_tcp_probe_bind(host, cfg->port);
  if (rc) {
    snprintf(err, errlen, "admin: cannot listen on %s:%d: %s", host ? host : "0.0.0.0", cfg->port, sy_strerror(rc));
    return rc;
  }
  sy_admin_t *a = sy_calloc(1, sizeof(*a));
  if (!a) goto nomem;
  a->p = *p;
  a->interval_ms = cfg->live_interval_ms ? cfg->live_interval_ms : 500;
  atomic_init(&a->stop, 0);
  sy_buf_init(&a->frame, SY_ADMIN_BODY_MAX);
  sy_buf_init(&a->scratch, SY_ADMIN_BODY_MAX);
  if (host && !(a->host = sy_strdup(host))) goto nomem;
  if (cfg->bearer_token && !(a->token = sy_strdup(cfg->bearer_token))) goto nomem;

  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_bridge);
  a->protocols[0] = (struct lws_protocols){
      .name = "http",
      .callback = http_cb,
      .per_session_data_size = sizeof(http_pss_t),
  };
  a->protocols[1] = (struct lws_protocols){
      .name = SY_ADMIN_LIVE_PROTOCOL,
      .callback = live_cb,
      .per_session_data_size = sizeof(ws_pss_t),
      .rx_buffer_size = 1024,
  };
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = cfg->port;
  info.iface = a->host;
  info.protocols = a->protocols;
  info.gid = -1;
  info.uid = -1;
  info.user = a;
  info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
  info.max_http_header_data = 8192;
  info.keepalive_timeout = 60;
  a->ctx = lws_create_context(&info);
  if (!a->ctx) {
    snprintf(err, errlen, "admin: libwebsockets context creation failed");
    admin_free(a);
    return SY_EINTERNAL;
  }
  struct lws_vhost *vh = lws_get_vhost_by_name(a->ctx, "default");
  a->port = vh ? lws_get_vhost_listen_port(vh) : cfg->port;
  /* Scheduled before the thread starts; afterwards only it touches lws. */
  lws_sul_schedule(a->ctx, 0, &a->tick, on_tick, (lws_usec_t)a->interval_ms * 1000);
  rc = pthread_create(&a->thread, NULL, service_main, a);
  if (rc) {
    snprintf(err, errlen, "admin: pthread_create: %s", strerror(rc));
    admin_free(a);
    return -rc;
  }
  a->thread_started = true;
  *out = a;
  return 0;
nomem:
  snprintf(err, errlen, "admin: out of memory");
  admin_free(a);
  return -ENOMEM;
}

int sy_admin_port(const sy_admin_t *a) { return a ? a->port : 0; }

void sy_admin_stop(sy_admin_t *a) {
  if (!a) return;
  if (a->thread_started) {
    atomic_store(&a->stop, 1);
    lws_cancel_service(a->ctx);
    pthread_join(a->thread, NULL);
  }
  /* Destroying the context closes every connection (CLOSED callbacks run
   * here, on this thread, after the service thread is gone). */
  admin_free(a);
}
