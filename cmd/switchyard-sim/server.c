/*
 * HTTP front on libwebsockets 4.1. Each request gets a heap sim_http_t hung
 * off the connection's per-session data; it lives until its response is
 * fully written (then the connection goes back to keep-alive) or the
 * connection closes. Timers (lws_sul) drive token emission and completion;
 * all output is written from LWS_CALLBACK_HTTP_WRITEABLE.
 */
#include "server.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/evp.h>

#define WCHUNK (32 * 1024)     /* bytes of body per lws_write */
#define OUT_MAX (8u << 20)     /* pending response bytes per request (slow readers) */
#define REQUEST_ID_MAX 128

typedef enum route {
  ROUTE_NOT_FOUND = 0,
  ROUTE_HEALTH,
  ROUTE_METRICS,
  ROUTE_MODELS,
  ROUTE_COMPLETIONS,
  ROUTE_CHAT,
} route_t;

typedef enum method { METHOD_GET = 0, METHOD_POST, METHOD_OTHER } method_t;

typedef struct sim_http {
  sy_sim_server_t *srv;
  struct lws *wsi;
  route_t route;
  method_t method;
  char request_id[REQUEST_ID_MAX + 1]; /* x-request-id, "" if absent */

  /* request body */
  EVP_MD_CTX *sha;
  unsigned char digest[32];
  char sha_hex[65];
  sy_buf_t body;
  bool body_too_big;
  bool body_done;
  bool chunked_in; /* chunked upload: we decode the framing ourselves */
  bool bad_framing;
  sy_sim_chunked_t dechunk;

  /* response */
  int status; /* 0 until decided */
  const char *ctype;
  bool chunked; /* streaming: chunked framing, final_queued set at the end */
  bool headers_sent;
  bool final_queued; /* every body byte is in `out` */
  bool close_after;  /* framing of the request was lost: no keep-alive */
  sy_buf_t out;
  size_t out_off; /* bytes of `out` already written */

  /* generation */
  sy_sim_request_t req;
  sy_sim_req_t mreq;
  bool in_model; /* mreq is WAITING or RUNNING */
  sy_sim_resp_t resp;
  char id[REQUEST_ID_MAX + 16];
  int emitted; /* streamed tokens rendered so far */
  bool started; /* entered RUNNING: cached tokens are known */
  lws_sorted_usec_list_t sul;
} sim_http_t;

/* lws_container_of casts through char *, which clang's -Wcast-align flags. */
#define SIM_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

typedef struct pss {
  sim_http_t *h;
} pss_t;

struct sy_sim_server {
  const sy_sim_config_t *cfg;
  struct lws_context *ctx;
  struct lws_protocols protocols[2];
  sy_sim_model_t model;
  uint64_t base_seed;
  uint64_t id_counter;
  atomic_int stop;
  bool closing;
  long live; /* sim_http_t alive: must be 0 after the context is gone */
  unsigned char wbuf[LWS_PRE + WCHUNK + 64];
};

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* ------------------------------------------------------------ lifecycle */

static void on_tick(lws_sorted_usec_list_t *sul);

static void schedule(sim_http_t *h, uint64_t due_ns, uint64_t now_ns) {
  /* Round up so the timer never fires before the token is due. */
  lws_usec_t us = due_ns > now_ns ? (lws_usec_t)((due_ns - now_ns + 999) / 1000) : 0;
  lws_sul_schedule(h->srv->ctx, 0, &h->sul, on_tick, us);
}

/* The request entered RUNNING: its cached tokens are known now. A stream's
 * headers go out here (at once unless it queued), so they can carry
 * x-sim-cached-tokens; events follow on the timer. */
static void start_running(sim_http_t *h, uint64_t now_ns) {
  h->started = true;
  h->resp.cached_tokens = h->mreq.cached_tokens;
  if (h->req.stream) {
    h->status = 200;
    h->ctype = "text/event-stream; charset=utf-8";
    h->chunked = true;
    lws_callback_on_writable(h->wsi);
  }
  if (SY_LOG_DEBUG <= sy_log_level_current) {
    char cached[16], prompt[16], ttft[32];
    snprintf(cached, sizeof(cached), "%d", h->mreq.cached_tokens);
    snprintf(prompt, sizeof(prompt), "%d", h->mreq.prompt_tokens);
    snprintf(ttft, sizeof(ttft), "%.3f", (double)(h->mreq.first_ns - h->mreq.arrive_ns) / 1e6);
    SY_LOG(SY_LOG_DEBUG, "request running", "id", h->id, "prompt_tokens", prompt, "cached_tokens", cached,
           "ttft_ms", ttft, NULL);
  }
  schedule(h, sy_sim_model_token_due_ns(&h->srv->model, &h->mreq, 1), now_ns);
}

/* Starts whatever the queue head allows after a slot or blocks came free. */
static void admit_waiting(sy_sim_server_t *s, uint64_t now_ns) {
  if (s->closing) return;
  sy_sim_req_t *r;
  while ((r = sy_sim_model_admit(&s->model, now_ns)) != NULL)
    start_running(SIM_CONTAINER(r, sim_http_t, mreq), now_ns);
}

static sim_http_t *http_new(sy_sim_server_t *s, struct lws *wsi) {
  sim_http_t *h = sy_calloc(1, sizeof(*h));
  if (!h) return NULL;
  h->srv = s;
  h->wsi = wsi;
  h->req.lora = -1;
  sy_buf_init(&h->body, (size_t)s->cfg->max_body_bytes);
  sy_buf_init(&h->out, OUT_MAX);
  s->live++;
  return h;
}

static void http_free(sim_http_t *h) {
  if (!h) return;
  sy_sim_server_t *s = h->srv;
  lws_sul_cancel(&h->sul);
  if (h->in_model) {
    uint64_t now = sy_now_ns();
    sy_sim_model_abort(&s->model, &h->mreq, now);
    h->in_model = false;
    SY_LOG(SY_LOG_DEBUG, "request aborted", "id", h->id, NULL);
    admit_waiting(s, now);
  }
  EVP_MD_CTX_free(h->sha);
  sy_buf_cleanup(&h->body);
  sy_buf_cleanup(&h->out);
  sy_sim_request_cleanup(&h->req);
  s->live--;
  sy_free(h);
}

/* Drops the connection from outside its own callback (timer context). */
static void kill_async(sim_http_t *h) {
  lws_sul_cancel(&h->sul);
  lws_set_timeout(h->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* ------------------------------------------------------------ responses */

static void respond(sim_http_t *h, int status, const char *ctype) {
  h->status = status;
  h->ctype = ctype;
  h->chunked = false;
  h->final_queued = true;
  lws_callback_on_writable(h->wsi);
}

static void respond_json_error(sim_http_t *h, int status, const char *type, const char *msg) {
  sy_buf_reset(&h->out);
  h->out_off = 0;
  if (sy_sim_render_error(&h->out, status, type, msg)) sy_buf_reset(&h->out);
  respond(h, status, "application/json");
}

static void respond_detail(sim_http_t *h, int status, const char *detail) {
  sy_buf_reset(&h->out);
  h->out_off = 0;
  if (sy_sim_render_detail(&h->out, detail)) sy_buf_reset(&h->out);
  respond(h, status, "application/json");
}

static int add_header(struct lws *wsi, const char *name, const char *val, unsigned char **p, unsigned char *end) {
  return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)val, (int)strlen(val), p,
                                     end);
}

static int write_headers(sim_http_t *h) {
  sy_sim_server_t *s = h->srv;
  struct lws *wsi = h->wsi;
  unsigned char *start = s->wbuf + LWS_PRE, *p = start, *end = s->wbuf + sizeof(s->wbuf) - 1;
  if (lws_add_http_header_status(wsi, (unsigned int)h->status, &p, end)) return -1;
  if (h->ctype && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)h->ctype,
                                               (int)strlen(h->ctype), &p, end))
    return -1;
  if (h->chunked) {
    /* lws would fall back to connection-close framing for an unknown
     * length; chunked keeps the connection reusable, and we frame it. */
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, (const unsigned char *)"chunked", 7, &p,
                                     end) ||
        add_header(wsi, "cache-control:", "no-cache", &p, end))
      return -1;
  } else if (lws_add_http_header_content_length(wsi, h->out.len - h->out_off, &p, end)) {
    return -1;
  }
  if (h->close_after &&
      lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, &p, end))
    return -1;
  if (add_header(wsi, "x-sim-instance:", s->cfg->instance_id, &p, end)) return -1;
  if (h->method != METHOD_GET && h->sha_hex[0] && add_header(wsi, "x-sim-body-sha256:", h->sha_hex, &p, end))
    return -1;
  if (h->request_id[0] && add_header(wsi, "x-sim-request-id:", h->request_id, &p, end)) return -1;
  if (h->started) {
    char cached[16];
    snprintf(cached, sizeof(cached), "%d", h->resp.cached_tokens);
    if (add_header(wsi, "x-sim-cached-tokens:", cached, &p, end)) return -1;
  }
  return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/* The response is out: free the request and wait for the next one. */
static int transaction_done(pss_t *pss, struct lws *wsi) {
  bool close = pss->h->close_after;
  http_free(pss->h);
  pss->h = NULL;
  if (close) return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_writeable(pss_t *pss, struct lws *wsi) {
  sim_http_t *h = pss->h;
  if (!h || !h->status) return 0;
  size_t pending = h->out.len - h->out_off;
  if (!h->headers_sent) {
    if (write_headers(h)) return -1;
    h->headers_sent = true;
    if (!h->chunked && h->final_queued && pending == 0) return transaction_done(pss, wsi);
    if (pending || h->final_queued) lws_callback_on_writable(wsi);
    return 0;
  }
  size_t n = SY_MIN(pending, (size_t)WCHUNK);
  bool last = h->final_queued && n == pending;
  if (!n && !last) return 0;
  unsigned char *start = h->srv->wbuf + LWS_PRE, *p = start;
  if (h->chunked && n) p += snprintf((char *)p, 24, "%zx\r\n", n);
  if (n) memcpy(p, h->out.data + h->out_off, n);
  p += n;
  if (h->chunked && n) {
    memcpy(p, "\r\n", 2);
    p += 2;
  }
  if (h->chunked && last) {
    memcpy(p, "0\r\n\r\n", 5);
    p += 5;
  }
  size_t wl = (size_t)(p - start);
  if (wl && lws_write(wsi, start, wl, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0) return -1;
  h->out_off += n;
  if (h->out_off == h->out.len) {
    sy_buf_reset(&h->out);
    h->out_off = 0;
  }
  if (last) return transaction_done(pss, wsi);
  if (h->out.len || h->final_queued) lws_callback_on_writable(wsi);
  return 0;
}

/* ----------------------------------------------------------- generation */

static void on_tick(lws_sorted_usec_list_t *sul) {
  sim_http_t *h = SIM_CONTAINER(sul, sim_http_t, sul);
  sy_sim_server_t *s = h->srv;
  sy_sim_model_t *m = &s->model;
  uint64_t now = sy_now_ns();
  int n = h->mreq.output_tokens;
  int due = sy_sim_model_tokens_at(m, &h->mreq, now);

  if (!h->req.stream) {
    if (due >= 1) sy_sim_model_first_token(m, &h->mreq, now);
    if (due < n) {
      /* The body goes out in one piece when the last token is due. */
      schedule(h, sy_sim_model_token_due_ns(m, &h->mreq, due < 1 ? 1 : n), now);
      return;
    }
    sy_sim_model_finish(m, &h->mreq, now);
    h->in_model = false;
    admit_waiting(s, now);
    if (sy_sim_render_response(&h->out, &h->resp)) {
      kill_async(h);
      return;
    }
    respond(h, 200, "application/json");
    return;
  }

  int rc = 0;
  /* Catch up if the loop lagged: every due token becomes its own event. */
  while (!rc && h->emitted < due) {
    h->emitted++;
    if (h->emitted == 1) sy_sim_model_first_token(m, &h->mreq, now);
    rc = sy_sim_render_token_event(&h->out, &h->resp, h->emitted, h->emitted == n);
  }
  if (!rc && h->emitted == n) {
    if (h->req.include_usage) rc = sy_sim_render_usage_event(&h->out, &h->resp);
    if (!rc) rc = sy_sim_render_done_event(&h->out);
    sy_sim_model_finish(m, &h->mreq, now);
    h->in_model = false;
    h->final_queued = true;
    admit_waiting(s, now);
  } else if (!rc) {
    schedule(h, sy_sim_model_token_due_ns(m, &h->mreq, h->emitted + 1), now);
  }
  if (rc) {
    /* The client is not reading (buffer full) or memory ran out. */
    SY_LOG(SY_LOG_WARN, "dropping slow stream", "id", h->id, "err", sy_strerror(rc), NULL);
    kill_async(h);
    return;
  }
  lws_callback_on_writable(h->wsi);
}

static void begin_generation(sim_http_t *h) {
  sy_sim_server_t *s = h->srv;
  const sy_sim_config_t *c = s->cfg;
  bool chat = h->req.api == SY_SIM_API_CHAT;
  /* vLLM derives the response id from X-Request-Id when the client sets it. */
  if (h->request_id[0]) {
    snprintf(h->id, sizeof(h->id), "%s-%s", chat ? "chatcmpl" : "cmpl", h->request_id);
  } else {
    uint64_t a = mix64(s->base_seed ^ ++s->id_counter), b = mix64(a ^ s->id_counter);
    snprintf(h->id, sizeof(h->id), "%s-%016llx%016llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)a,
             (unsigned long long)b);
  }
  uint64_t body_seed = 0;
  memcpy(&body_seed, h->digest, sizeof(body_seed));
  int n = sy_sim_request_output_tokens(&h->req, c);
  h->resp = (sy_sim_resp_t){
      .api = h->req.api,
      .id = h->id,
      .model = h->req.model,
      .created = (long)sy_wall_time(),
      .text_seed = s->base_seed ^ body_seed,
      .prompt_tokens = h->req.prompt_tokens,
      .completion_tokens = n,
  };
  h->mreq.prompt_tokens = h->req.prompt_tokens;
  h->mreq.output_tokens = n;
  h->mreq.lora = h->req.lora;
  h->mreq.block_hashes = h->req.block_hashes;
  h->mreq.n_block_hashes = h->req.n_block_hashes;

  uint64_t now = sy_now_ns();
  int rc = sy_sim_model_submit(&s->model, &h->mreq, now);
  if (rc == SY_ETOOBIG) {
    char msg[160];
    sy_sim_model_note_rejected(&s->model);
    snprintf(msg, sizeof(msg), "The server is overloaded: the waiting queue is full (%d requests).", c->max_queue);
    respond_json_error(h, 503, "ServiceUnavailableError", msg);
    return;
  }
  h->in_model = true;
  SY_LOG(SY_LOG_DEBUG, "request accepted", "id", h->id, "model", h->req.model, "state",
         rc == 1 ? "running" : "waiting", NULL);
  if (rc == 1) start_running(h, now);
}

/* ------------------------------------------------------------- dispatch */

static int on_body_done(sim_http_t *h);

static route_t route_of(const char *path, size_t len) {
  static const struct {
    const char *path;
    route_t route;
  } routes[] = {
      {"/health", ROUTE_HEALTH},           {"/metrics", ROUTE_METRICS}, {"/v1/models", ROUTE_MODELS},
      {"/v1/completions", ROUTE_COMPLETIONS}, {"/v1/chat/completions", ROUTE_CHAT},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(routes); i++)
    if (strlen(routes[i].path) == len && memcmp(routes[i].path, path, len) == 0) return routes[i].route;
  return ROUTE_NOT_FOUND;
}

static void dispatch_get(sim_http_t *h) {
  sy_sim_server_t *s = h->srv;
  int rc = 0;
  switch (h->route) {
    case ROUTE_HEALTH:
      respond(h, 200, NULL);
      return;
    case ROUTE_METRICS:
      rc = sy_sim_render_metrics(&h->out, &s->model, s->cfg, sy_now_ns(), sy_wall_time());
      if (rc) break;
      respond(h, 200, "text/plain; version=0.0.4; charset=utf-8");
      return;
    case ROUTE_MODELS:
      rc = sy_sim_render_models(&h->out, s->cfg, (long)sy_wall_time());
      if (rc) break;
      respond(h, 200, "application/json");
      return;
    case ROUTE_COMPLETIONS:
    case ROUTE_CHAT:
      respond_detail(h, 405, "Method Not Allowed");
      return;
    default:
      respond_detail(h, 404, "Not Found");
      return;
  }
  respond_json_error(h, 500, "InternalServerError", sy_strerror(rc));
}

static void dispatch_body(sim_http_t *h) {
  sy_sim_server_t *s = h->srv;
  if (h->route == ROUTE_NOT_FOUND) {
    respond_detail(h, 404, "Not Found");
    return;
  }
  if (h->method != METHOD_POST || (h->route != ROUTE_COMPLETIONS && h->route != ROUTE_CHAT)) {
    respond_detail(h, 405, "Method Not Allowed");
    return;
  }
  if (h->bad_framing) {
    h->close_after = true;
    respond_json_error(h, 400, "BadRequestError", "Malformed chunked request body");
    return;
  }
  if (h->body_too_big) {
    char msg[128];
    snprintf(msg, sizeof(msg), "Request body too large: the limit is %ld bytes.", s->cfg->max_body_bytes);
    respond_json_error(h, 413, "BadRequestError", msg);
    return;
  }
  sy_sim_error_t err;
  sy_sim_api_t api = h->route == ROUTE_CHAT ? SY_SIM_API_CHAT : SY_SIM_API_COMPLETIONS;
  int rc = sy_sim_request_parse(&h->req, api, h->body.data ? h->body.data : "", h->body.len, s->cfg, &err);
  /* The body is not needed past parsing; a 32 MiB prompt should not sit
   * in memory while the request waits or streams. */
  sy_buf_cleanup(&h->body);
  if (rc == -ENOMEM) {
    respond_json_error(h, 500, "InternalServerError", "out of memory");
    return;
  }
  if (rc) {
    SY_LOG(SY_LOG_VERBOSE, "bad request", "error", err.message, NULL);
    respond_json_error(h, err.status, err.type, err.message);
    return;
  }
  begin_generation(h);
}

static int on_body_done(sim_http_t *h) {
  if (h->body_done) return 0;
  h->body_done = true;
  unsigned int dl = 0;
  if (EVP_DigestFinal_ex(h->sha, h->digest, &dl) != 1 || dl != sizeof(h->digest)) return -1;
  for (unsigned i = 0; i < dl; i++) snprintf(h->sha_hex + 2 * i, 3, "%02x", h->digest[i]);
  /* lws guards body reception with a timeout; a queued request may now wait
   * far longer than that, legitimately. */
  lws_set_timeout(h->wsi, NO_PENDING_TIMEOUT, 0);
  if (h->method == METHOD_GET) dispatch_get(h);
  else dispatch_body(h);
  return 0;
}

/* Takes decoded body bytes: hashes all of them, keeps them up to the limit
 * (beyond it the request fails with 413 once the body is complete). */
static int body_sink(void *ctx, const char *data, size_t len) {
  sim_http_t *h = ctx;
  if (EVP_DigestUpdate(h->sha, data, len) != 1) return SY_EINTERNAL;
  if (h->body_too_big) return 0;
  if (sy_buf_append(&h->body, data, len)) {
    h->body_too_big = true;
    sy_buf_cleanup(&h->body);
  }
  return 0;
}

static int on_body(sim_http_t *h, const void *in, size_t len) {
  if (!h->chunked_in) return body_sink(h, in, len) ? -1 : 0;
  if (sy_sim_chunked_feed(&h->dechunk, in, len, body_sink, h)) h->bad_framing = true;
  /* lws thinks the body runs on (it assumes 100 MiB without a length), so
   * the end of the chunked framing is ours to detect. */
  if (h->dechunk.done || h->bad_framing) return on_body_done(h);
  return 0;
}

static bool header_has(struct lws *wsi, enum lws_token_indexes t, const char *needle) {
  char v[128];
  if (lws_hdr_copy(wsi, v, sizeof(v), t) <= 0) return false;
  for (char *p = v; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
  return strstr(v, needle) != NULL;
}

/* Without a Content-Length lws 4.1 takes the body to be 100 MiB long and
 * feeds whatever follows on the connection to HTTP_BODY, even after the
 * transaction completed; there is no API to reset that. Such requests
 * (chunked uploads, or no length at all) therefore get "connection: close". */
static bool body_expected(sim_http_t *h) {
  char cl[32];
  struct lws *wsi = h->wsi;
  bool lws_assumes_body = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 ||
                          lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0 ||
                          lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0;
  if (lws_hdr_total_length(h->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
    h->close_after = true;
    h->chunked_in = header_has(h->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, "chunked");
    if (!h->chunked_in) h->bad_framing = true; /* a coding we cannot undo */
    return h->chunked_in;
  }
  if (lws_hdr_copy(h->wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
    h->close_after = lws_assumes_body;
    return false;
  }
  long v;
  return sy_parse_int(cl, 1, 0x7fffffffffffffffL, &v) == 0;
}

/* lws 4.1 ignores "Expect: 100-continue"; without the interim response
 * curl and others stall a second before sending the body. */
static int send_continue(struct lws *wsi, sy_sim_server_t *s) {
  static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
  unsigned char *p = s->wbuf + LWS_PRE;
  memcpy(p, msg, sizeof(msg) - 1);
  return lws_write(wsi, p, sizeof(msg) - 1, LWS_WRITE_HTTP) < 0 ? -1 : 0;
}

static void copy_request_id(struct lws *wsi, char *dst, size_t cap) {
  static const char name[] = "x-request-id:";
  dst[0] = 0;
  int n = lws_hdr_custom_length(wsi, name, (int)sizeof(name) - 1);
  if (n <= 0 || (size_t)n >= cap) return; /* absent, or too long to echo */
  if (lws_hdr_custom_copy(wsi, dst, (int)cap, name, (int)sizeof(name) - 1) < 0) {
    dst[0] = 0;
    return;
  }
  /* It is echoed into a header and a JSON id: keep visible ASCII only. */
  for (char *p = dst; *p; p++)
    if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) *p = '_';
}

static int on_http(sy_sim_server_t *s, pss_t *pss, struct lws *wsi, const char *path, size_t len) {
  http_free(pss->h); /* a previous transaction that never completed */
  pss->h = http_new(s, wsi);
  sim_http_t *h = pss->h;
  if (!h) return -1;
  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) h->method = METHOD_GET;
  else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) h->method = METHOD_POST;
  else h->method = METHOD_OTHER;
  h->route = route_of(path, len);
  copy_request_id(wsi, h->request_id, sizeof(h->request_id));
  SY_LOG(SY_LOG_TRACE, "http request", "path", path, "method",
         h->method == METHOD_GET ? "GET" : h->method == METHOD_POST ? "POST" : "other", NULL);

  /* Every method goes through the body path: a GET may carry a body too,
   * and lws feeds it to HTTP_BODY before the next request. */
  h->sha = EVP_MD_CTX_new();
  if (!h->sha || EVP_DigestInit_ex(h->sha, EVP_sha256(), NULL) != 1) return -1;
  sy_sim_chunked_init(&h->dechunk);
  /* With no body lws may send no BODY_COMPLETION: finish now. */
  if (!body_expected(h)) return on_body_done(h);
  if (header_has(wsi, WSI_TOKEN_HTTP_EXPECT, "100-continue")) return send_continue(wsi, s);
  return 0;
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  pss_t *pss = user;
  struct lws_context *ctx = lws_get_context(wsi);
  sy_sim_server_t *s = ctx ? lws_context_user(ctx) : NULL;

  switch (reason) {
    case LWS_CALLBACK_HTTP:
      if (!pss || !s) return -1;
      return on_http(s, pss, wsi, in ? (const char *)in : "", in ? strlen((const char *)in) : 0);
    case LWS_CALLBACK_HTTP_BODY:
      if (pss && pss->h && !pss->h->body_done) return on_body(pss->h, in, len);
      return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      if (pss && pss->h) return on_body_done(pss->h);
      return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
      return pss ? on_writeable(pss, wsi) : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
      if (pss && pss->h) {
        http_free(pss->h);
        pss->h = NULL;
      }
      break;
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ------------------------------------------------------------ lifecycle */

static void lws_log_bridge(int level, const char *line) {
  char msg[512];
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  if (n >= sizeof(msg)) n = sizeof(msg) - 1;
  memcpy(msg, line, n);
  msg[n] = 0;
  SY_LOG(level == LLL_ERR ? SY_LOG_ERROR : level == LLL_WARN ? SY_LOG_WARN : SY_LOG_DEBUG, "lws", "line", msg, NULL);
}


int sy_sim_server_new(sy_sim_server_t **out, const sy_sim_config_t *cfg) {
  *out = NULL;
  const char *host = (cfg->listen_host[0] && strcmp(cfg->listen_host, "0.0.0.0") != 0) ? cfg->listen_host : NULL;
  int prc = sy_tcp_probe_bind(host, cfg->listen_port);
  if (prc) return prc;
  sy_sim_server_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->cfg = cfg;
  s->base_seed = cfg->seed_set ? mix64(cfg->seed) : sy_rand_u64();
  atomic_init(&s->stop, 0);
  sy_sim_model_params_t mp = {
      .latency = cfg->latency,
      .ttft_ms = cfg->ttft_ms,
      .itl_ms = cfg->itl_ms,
      .prefill_overhead_ms = cfg->prefill_overhead_ms,
      .prefill_ms_per_token = cfg->prefill_ms_per_token,
      .ttft_std_ms = cfg->ttft_std_ms,
      .itl_std_ms = cfg->itl_std_ms,
      .itl_load_factor = cfg->itl_load_factor,
      .lora_load_ms = cfg->lora_load_ms,
      .serial_prefill = cfg->serial_prefill,
      .prefix_caching = cfg->prefix_caching,
      .max_num_seqs = cfg->max_num_seqs,
      .max_queue = cfg->max_queue,
      .kv_blocks = cfg->kv_blocks,
      .block_size = cfg->block_size,
      .n_loras = cfg->n_loras,
      .max_loras = cfg->max_loras,
      .seed = mix64(s->base_seed ^ 0x6a69747465720000ull), /* "jitter" stream */
  };
  int rc = sy_sim_model_init(&s->model, &mp);
  if (rc) {
    sy_free(s);
    return rc;
  }

  int lws_levels = LLL_ERR | LLL_WARN;
  if (cfg->verbosity >= SY_LOG_DEBUG) lws_levels |= LLL_NOTICE;
  if (cfg->verbosity >= SY_LOG_TRACE) lws_levels |= LLL_INFO | LLL_DEBUG;
  lws_set_log_level(lws_levels, lws_log_bridge);

  s->protocols[0] = (struct lws_protocols){
      .name = "http",
      .callback = http_cb,
      .per_session_data_size = sizeof(pss_t),
  };
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = cfg->listen_port;
  info.iface = host;
  info.protocols = s->protocols;
  info.gid = -1;
  info.uid = -1;
  info.user = s;
  info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
  /* Proxies add many headers (x-envoy-*, x-forwarded-*, routing hints). */
  info.max_http_header_data = 16384;
  info.pt_serv_buf_size = 64 * 1024;
  /* Idle keep-alive connections live long, so a proxy's pooled connection
   * is not closed under it between test steps. */
  info.keepalive_timeout = 300;
  /* lws kills a connection that holds its header table for longer than
   * this (+360 s); a long stream holds it throughout. */
  info.timeout_secs_ah_idle = 3600;
  s->ctx = lws_create_context(&info);
  if (!s->ctx) {
    sy_sim_model_cleanup(&s->model);
    sy_free(s);
    return SY_EINVAL;
  }
  *out = s;
  return 0;
}

int sy_sim_server_run(sy_sim_server_t *s) {
  while (!atomic_load(&s->stop)) {
    if (lws_service(s->ctx, 0) < 0) return SY_EINTERNAL;
  }
  return 0;
}

void sy_sim_server_stop(sy_sim_server_t *s) {
  atomic_store(&s->stop, 1);
  lws_cancel_service(s->ctx);
}

void sy_sim_server_free(sy_sim_server_t *s) {
  if (!s) return;
  s->closing = true;
  lws_context_destroy(s->ctx);
  if (s->live != 0) {
    char n[32];
    snprintf(n, sizeof(n), "%ld", s->live);
    SY_LOG(SY_LOG_WARN, "requests still allocated at exit", "count", n, NULL);
  }
  sy_sim_model_cleanup(&s->model);
  sy_free(s);
}
