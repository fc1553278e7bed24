/* The informer thread: one CURLM carrying every reflector's LIST and WATCH
 * transfers (multiplexed over HTTP/2 when the server offers it).
 *
 * The protocol decisions live in reflector.c (sans I/O); this file only
 * turns "begin" into a libcurl transfer, streams watch bodies into the
 * reflector as they arrive, and reports how each transfer ended.
 *
 * Threads: everything below "loop-owned" belongs to the informer thread
 * while it runs (and to the owner before start / after stop). Other threads
 * touch only `stop` and `synced` (atomics) and reflector stats (their
 * mutex). Stop wakes the loop with curl_multi_wakeup().
 */
#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "informer_int.h"
#include "kube.h"
#include "kube_int.h"

#define LIST_MAX_BYTES (64u << 20)  /* one LIST page, as sy_kube_response_t */
#define ERROR_MAX_BYTES (64u << 10) /* the Status body of a failed watch */
#define LIST_TIMEOUT_MS 120000L
#define LIST_STALL_S 10L
#define WATCH_SLACK_S 30L /* past timeoutSeconds, the server is deemed gone */
#define MAX_POLL_MS 1000L

typedef struct xfer {
  sy_kube_informer_t *inf;
  sy_kube_reflector_t *r;
  CURL *easy; /* non-NULL while in flight */
  struct curl_slist *headers;
  sy_kube__req_t kind;
  sy_buf_t body; /* LIST body, or the Status of a non-2xx watch */
  bool checked, ok2xx, too_big, aborted;
  char errbuf[CURL_ERROR_SIZE];
} xfer_t;

struct sy_kube_informer {
  sy_kube_client_t *client;
  sy_kube_informer_config_t cfg;
  CURLM *multi;
  bool curl_inited;

  /* owner thread */
  pthread_t th;
  bool started;
  atomic_bool stop;
  atomic_bool synced;

  /* loop-owned */
  sy_kube_reflector_t **r;
  xfer_t **x;
  size_t n;
  bool sync_reported;
  sy_buf_t url;
};

/* ---------------------------------------------------------------- transfer */

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud) {
  xfer_t *x = ud;
  size_t n = size * nmemb;
  if (!x->checked) {
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    x->checked = true;
    x->ok2xx = code >= 200 && code <= 299;
  }
  if (x->kind == SY_KUBE__REQ_WATCH && x->ok2xx) {
    if (sy_kube__reflector_watch_data(x->r, p, n) != 0) {
      x->aborted = true;
      return 0; /* CURLE_WRITE_ERROR: the reflector has decided what comes next */
    }
    return n;
  }
  if (sy_buf_append(&x->body, p, n) != 0) {
    x->too_big = true;
    return 0;
  }
  return n;
}

static void xfer_release(xfer_t *x) {
  if (x->easy) curl_easy_cleanup(x->easy);
  x->easy = NULL;
  /* the list carries the bearer token: scrub it before it goes back */
  for (struct curl_slist *p = x->headers; p; p = p->next) explicit_bzero(p->data, strlen(p->data));
  curl_slist_free_all(x->headers);
  x->headers = NULL;
  if (x->body.cap > 65536) sy_buf_cleanup(&x->body);
  else sy_buf_reset(&x->body);
}

/* Reports a transfer's outcome to its reflector. */
static void report(xfer_t *x, long status, const char *terr) {
  uint64_t now = sy_now_ns();
  if (x->kind == SY_KUBE__REQ_LIST)
    sy_kube__reflector_list_done(x->r, now, status, x->body.data, x->body.len, terr);
  else
    sy_kube__reflector_watch_done(x->r, now, status, x->body.data, x->body.len, terr);
}

static void start_one(sy_kube_informer_t *inf, xfer_t *x, uint64_t now) {
  sy_kube_reflector_t *r = x->r;
  sy_kube__req_t kind;
  int rc = sy_kube__reflector_begin(r, now, &inf->url, &kind);
  if (rc) {
    r->due_ns = now + 1000000000ull; /* out of memory building a URL: try again later */
    SY_LOG(SY_LOG_ERROR, "kube request not started", "reflector", r->name, "error", sy_strerror(rc), NULL);
    return;
  }
  x->kind = kind;
  x->checked = x->ok2xx = x->too_big = x->aborted = false;
  x->errbuf[0] = '\0';
  sy_buf_cleanup(&x->body);
  sy_buf_init(&x->body, kind == SY_KUBE__REQ_LIST ? LIST_MAX_BYTES : ERROR_MAX_BYTES);

  char why[300], perr[256] = "";
  void *hdrs = NULL;
  CURL *e = curl_easy_init();
  if (!e) {
    report(x, 0, "cannot create a curl handle");
    return;
  }
  x->easy = e;
  rc = sy_kube__client_prepare(inf->client, e, inf->url.data, NULL, &hdrs, perr, sizeof(perr));
  x->headers = hdrs;
  if (rc) {
    snprintf(why, sizeof(why), "preparing the request: %s", perr[0] ? perr : sy_strerror(rc));
    xfer_release(x);
    report(x, 0, why);
    return;
  }
  long timeout_ms =
      kind == SY_KUBE__REQ_LIST ? LIST_TIMEOUT_MS : ((long)r->cur_timeout_s + WATCH_SLACK_S) * 1000L;
  CURLcode c = CURLE_OK;
#define SET(opt, val) \
  if (c == CURLE_OK) c = curl_easy_setopt(e, opt, val)
  SET(CURLOPT_HTTPGET, 1L);
  SET(CURLOPT_PRIVATE, (void *)x);
  SET(CURLOPT_WRITEFUNCTION, write_cb);
  SET(CURLOPT_WRITEDATA, (void *)x);
  SET(CURLOPT_ERRORBUFFER, x->errbuf);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_TIMEOUT_MS, timeout_ms);
  if (kind == SY_KUBE__REQ_LIST) {
    /* LISTs over HTTP/1.1: with libcurl 7.88 against Go's HTTP/2 server ~3 %
     * of large LIST pages stalled mid-body for ~60 s (flow control; measured
     * by bench/kube, 0 stalls in 202 starts over HTTP/1.1). Each transfer has
     * its own connection anyway. And should a LIST still send nothing for
     * LIST_STALL_S, abort it and retry rather than wait. */
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, LIST_STALL_S);
  }
#undef SET
  if (c != CURLE_OK) {
    snprintf(why, sizeof(why), "setting up the request: %s", curl_easy_strerror(c));
    xfer_release(x);
    report(x, 0, why);
    return;
  }
  if (curl_multi_add_handle(inf->multi, e) != CURLM_OK) {
    xfer_release(x);
    report(x, 0, "cannot add the transfer to the multi handle");
    return;
  }
}

static void finish_one(sy_kube_informer_t *inf, xfer_t *x, CURLcode res) {
  curl_multi_remove_handle(inf->multi, x->easy);
  long code = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
  char why[CURL_ERROR_SIZE + 64];
  const char *terr = NULL;
  long status = code;
  if (x->too_big) {
    status = 0;
    snprintf(why, sizeof(why), "response larger than %zu bytes", x->body.max);
    terr = why;
  } else if (res != CURLE_OK && !x->aborted) {
    status = 0;
    snprintf(why, sizeof(why), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
    terr = why;
  }
  bool was_list = x->kind == SY_KUBE__REQ_LIST;
  report(x, status, terr);
  xfer_release(x);
  /* A LIST page is megabytes of JSON parsed into short-lived cJSON nodes;
   * glibc keeps freed pages mapped. Hand them back after each page so RSS
   * follows the cache, not the parse's peak (LISTs are rare). */
  if (was_list) malloc_trim(0);
}

/* After a pass: on_change once when a cache changed and all are synced
 * (and once when they all become synced). */
static void notify(sy_kube_informer_t *inf) {
  bool all = true, changed = false;
  for (size_t i = 0; i < inf->n; i++) {
    all = all && inf->r[i]->synced;
    changed = changed || inf->r[i]->changed;
  }
  if (!all) return;
  if (!atomic_load(&inf->synced)) {
    atomic_store(&inf->synced, true);
    char n[16];
    snprintf(n, sizeof(n), "%zu", inf->n);
    SY_LOG(SY_LOG_INFO, "kube informer synced", "reflectors", n, NULL);
  }
  if (!changed && inf->sync_reported) return;
  for (size_t i = 0; i < inf->n; i++) inf->r[i]->changed = false;
  inf->sync_reported = true;
  if (inf->cfg.on_change) inf->cfg.on_change(inf->cfg.ctx);
}

static void *loop_main(void *arg) {
  sy_kube_informer_t *inf = arg;
  while (!atomic_load(&inf->stop)) {
    uint64_t now = sy_now_ns();
    for (size_t i = 0; i < inf->n; i++) {
      sy_kube_reflector_t *r = inf->r[i];
      if (!r->in_flight && r->due_ns <= now) start_one(inf, inf->x[i], now);
    }
    int running = 0;
    curl_multi_perform(inf->multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(inf->multi, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      xfer_t *x = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
      if (x) finish_one(inf, x, msg->data.result);
    }
    notify(inf);
    if (atomic_load(&inf->stop)) break;

    /* sleep until a reflector is due, a socket event, curl's own timer or
     * a wakeup (stop) */
    now = sy_now_ns();
    long ms = MAX_POLL_MS;
    for (size_t i = 0; i < inf->n; i++) {
      sy_kube_reflector_t *r = inf->r[i];
      if (r->in_flight) continue;
      uint64_t d = r->due_ns <= now ? 0 : (r->due_ns - now + 999999u) / 1000000u;
      if ((long)SY_MIN(d, (uint64_t)MAX_POLL_MS) < ms) ms = (long)SY_MIN(d, (uint64_t)MAX_POLL_MS);
    }
    long cto = -1;
    curl_multi_timeout(inf->multi, &cto);
    if (cto >= 0 && cto < ms) ms = cto;
    if (ms > 0) curl_multi_poll(inf->multi, NULL, 0, (int)ms, NULL);
  }
  /* abort what is in flight; the next start (if any) begins afresh */
  for (size_t i = 0; i < inf->n; i++) {
    xfer_t *x = inf->x[i];
    if (!x->easy) continue;
    curl_multi_remove_handle(inf->multi, x->easy);
    xfer_release(x);
    sy_kube_reflector_t *r = x->r;
    r->in_flight = false;
    r->abort = SY_KUBE__ABORT_NONE;
    sy_kube__lines_reset(&r->lines);
    r->due_ns = 0;
  }
  return NULL;
}

/* -------------------------------------------------------------- public API */

int sy_kube_informer_new(sy_kube_informer_t **out, sy_kube_client_t *client, const sy_kube_informer_config_t *cfg) {
  *out = NULL;
  if (!client) return SY_EINVAL;
  sy_kube_informer_t *inf = sy_calloc(1, sizeof(*inf));
  if (!inf) return -ENOMEM;
  int rc = 0;
  inf->client = client;
  if (cfg) inf->cfg = *cfg;
  atomic_init(&inf->stop, false);
  atomic_init(&inf->synced, false);
  sy_buf_init(&inf->url, 64 * 1024);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    rc = -EIO;
    goto fail;
  }
  inf->curl_inited = true;
  if (!(inf->multi = curl_multi_init())) {
    rc = -ENOMEM;
    goto fail;
  }
  *out = inf;
  return 0;
fail:
  sy_kube_informer_free(inf);
  return rc;
}

int sy_kube_informer_add(sy_kube_informer_t *inf, const sy_kube_reflector_config_t *cfg, sy_kube_reflector_t **out) {
  if (out) *out = NULL;
  if (!inf || inf->started) return SY_EINVAL;
  sy_kube_reflector_t *r = NULL;
  int rc = sy_kube__reflector_new(&r, cfg, &inf->cfg);
  if (rc) return rc;
  xfer_t *x = sy_calloc(1, sizeof(*x));
  sy_kube_reflector_t **nr = sy_realloc(inf->r, (inf->n + 1) * sizeof(*nr));
  if (nr) inf->r = nr;
  xfer_t **nx = nr ? sy_realloc(inf->x, (inf->n + 1) * sizeof(*nx)) : NULL;
  if (nx) inf->x = nx;
  if (!x || !nr || !nx) {
    sy_free(x);
    sy_kube__reflector_free(r);
    return -ENOMEM;
  }
  x->inf = inf;
  x->r = r;
  sy_buf_init(&x->body, LIST_MAX_BYTES);
  inf->r[inf->n] = r;
  inf->x[inf->n] = x;
  inf->n++;
  if (out) *out = r;
  return 0;
}

int sy_kube_informer_start(sy_kube_informer_t *inf) {
  if (!inf || inf->started) return SY_EINVAL;
  atomic_store(&inf->stop, false);
  int rc = pthread_create(&inf->th, NULL, loop_main, inf);
  if (rc) return -rc;
  inf->started = true;
  return 0;
}

void sy_kube_informer_stop(sy_kube_informer_t *inf) {
  if (!inf || !inf->started) return;
  atomic_store(&inf->stop, true);
  curl_multi_wakeup(inf->multi);
  if (pthread_equal(pthread_self(), inf->th)) return; /* from on_change: the loop exits after it */
  pthread_join(inf->th, NULL);
  inf->started = false;
}

void sy_kube_informer_free(sy_kube_informer_t *inf) {
  if (!inf) return;
  sy_kube_informer_stop(inf);
  for (size_t i = 0; i < inf->n; i++) {
    xfer_release(inf->x[i]);
    sy_buf_cleanup(&inf->x[i]->body);
    sy_free(inf->x[i]);
    sy_kube__reflector_free(inf->r[i]);
  }
  sy_free(inf->x);
  sy_free(inf->r);
  sy_buf_cleanup(&inf->url);
  if (inf->multi) curl_multi_cleanup(inf->multi);
  if (inf->curl_inited) curl_global_cleanup();
  sy_free(inf);
}

bool sy_kube_informer_synced(const sy_kube_informer_t *inf) {
  return inf && atomic_load(&((sy_kube_informer_t *)inf)->synced);
}
