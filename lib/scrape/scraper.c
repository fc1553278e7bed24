/* The scraper thread: one CURLM polling every target's /metrics.
 *
 * Ownership: everything under "loop-owned" is touched only by the scraper
 * thread while it runs (and by the owner thread while it does not). Other
 * threads hand over target lists and engine tables through `mu` and wake the
 * loop with curl_multi_wakeup().
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scrape.h"

#define DEFAULT_INTERVAL_MS 50u
#define DEFAULT_TIMEOUT_MS 1000u

enum { ST_UNKNOWN = 0, ST_OK = 1, ST_FAILING = 2 };

typedef struct tspec {
  char *blk; /* "key\0url\0engine\0", owned */
  const char *key, *url, *engine;
  size_t idx;
} tspec_t;

typedef struct target {
  char *blk;
  const char *key, *url, *engine_name;
  const sy_scrape_engine_t *engine; /* into sc->engines */
  CURL *easy;
  sy_scrape_extractor_t x; /* the page is parsed as it arrives */
  size_t body_len;
  uint64_t parse_ns;
  bool in_flight;
  bool too_big;
  bool http_checked, http_ok; /* status looked at; 200 */
  bool url_changed;
  int state;
  uint64_t next_due_ns;
  char errbuf[CURL_ERROR_SIZE];
} target_t;

struct sy_scraper {
  sy_scraper_sink_t sink;
  uint64_t interval_ns;
  uint64_t slack_ns; /* targets due within this window start together */
  uint32_t timeout_ms;
  sy_prom_limits_t limits;
  size_t max_page;
  CURLM *multi;
  struct curl_slist *headers;
  bool curl_inited;

  /* owner thread */
  pthread_t th;
  bool started;
  atomic_bool stop;

  /* handover, under mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool loop_alive;
  bool loop_th_set; /* loop_th is valid */
  pthread_t loop_th; /* the scraper thread, as it reports itself */
  tspec_t *pend;
  size_t pend_n;
  bool pend_set;
  sy_scrape_engines_t *pend_engines;
  uint64_t gen_req, gen_applied;
  clockid_t cpu_clock;
  uint64_t cpu_done_ns; /* CPU of finished runs */

  /* loop-owned */
  target_t **t;
  size_t n;
  sy_scrape_engines_t *engines;

  /* counters */
  atomic_uint_fast64_t ok, failed, bytes, parse_ns, garbage, connects;
  atomic_uint_fast32_t n_targets;
};

/* ------------------------------------------------------------------ helpers */

static void tspecs_free(tspec_t *v, size_t n) {
  for (size_t i = 0; v && i < n; i++) sy_free(v[i].blk);
  sy_free(v);
}

static int tspec_cmp(const void *a, const void *b) {
  const tspec_t *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  if (c) return c;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static uint64_t thread_cpu_ns(clockid_t c) {
  struct timespec ts;
  if (clock_gettime(c, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* FNV-1a, to spread first polls over one interval deterministically. */
static uint64_t hash_key(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Body bytes: parsed as they come (no page copy), only for HTTP 200. A
 * return other than n aborts the transfer (CURLE_WRITE_ERROR). */
static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud) {
  target_t *t = ud;
  size_t n = size * nmemb;
  if (!t->http_checked) {
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    t->http_checked = true;
    t->http_ok = code == 200;
  }
  if (n > t->x.stream.lim.max_page_bytes - t->body_len) {
    t->too_big = true;
    return 0;
  }
  t->body_len += n;
  if (t->http_ok) {
    uint64_t t0 = sy_now_ns();
    (void)sy_scrape_extractor_feed(&t->x, p, n); /* errors are sticky; seen at the end */
    t->parse_ns += sy_now_ns() - t0;
  }
  return n;
}

static void target_destroy(sy_scraper_t *sc, target_t *t) {
  if (!t) return;
  if (t->easy) {
    if (t->in_flight) curl_multi_remove_handle(sc->multi, t->easy); /* aborts it */
    curl_easy_cleanup(t->easy);
  }
  sy_scrape_extractor_cleanup(&t->x);
  sy_free(t->blk);
  sy_free(t);
}

static int easy_setup(sy_scraper_t *sc, target_t *t) {
  CURL *e = curl_easy_init();
  if (!e) return -ENOMEM;
  CURLcode c = CURLE_OK;
#define SET(opt, val) \
  if (c == CURLE_OK) c = curl_easy_setopt(e, opt, val)
  SET(CURLOPT_URL, t->url);
  SET(CURLOPT_PRIVATE, (void *)t);
  SET(CURLOPT_WRITEFUNCTION, write_cb);
  SET(CURLOPT_WRITEDATA, (void *)t);
  SET(CURLOPT_ERRORBUFFER, t->errbuf);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_TIMEOUT_MS, (long)sc->timeout_ms);
  SET(CURLOPT_CONNECTTIMEOUT_MS, (long)sc->timeout_ms);
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  SET(CURLOPT_HTTPHEADER, sc->headers);
  SET(CURLOPT_TCP_NODELAY, 1L);
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_PROXY, ""); /* pod IPs: never through an environment proxy */
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sc->max_page);
  /* upstream's metrics-data-source: insecureSkipVerify true for https */
  SET(CURLOPT_SSL_VERIFYPEER, 0L);
  SET(CURLOPT_SSL_VERIFYHOST, 0L);
#undef SET
  if (c != CURLE_OK) {
    curl_easy_cleanup(e);
    return -EIO;
  }
  t->easy = e;
  return 0;
}

/* ------------------------------------------------------------ apply changes */

static void resolve_engines(sy_scraper_t *sc) {
  for (size_t i = 0; i < sc->n; i++) sc->t[i]->engine = sy_scrape_engines_resolve(sc->engines, sc->t[i]->engine_name);
}

/* Merges a sorted, de-duplicated pending list into the sorted target array.
 * Takes ownership of pend (and its blocks). On ENOMEM keeps the old list. */
static void apply_targets(sy_scraper_t *sc, tspec_t *pend, size_t m) {
  target_t **nt = m ? sy_calloc(m, sizeof(*nt)) : NULL;
  if (m && !nt) {
    SY_LOG(SY_LOG_ERROR, "scraper: out of memory applying targets", NULL);
    tspecs_free(pend, m);
    return;
  }
  /* pre-allocate new targets first, so failure leaves everything intact */
  size_t i = 0, j = 0;
  for (j = 0; j < m; j++) {
    while (i < sc->n && strcmp(sc->t[i]->key, pend[j].key) < 0) i++;
    if (i < sc->n && strcmp(sc->t[i]->key, pend[j].key) == 0) continue;
    nt[j] = sy_calloc(1, sizeof(target_t));
    if (!nt[j]) {
      SY_LOG(SY_LOG_ERROR, "scraper: out of memory applying targets", NULL);
      for (size_t k = 0; k < m; k++) sy_free(nt[k]);
      sy_free(nt);
      tspecs_free(pend, m);
      return;
    }
  }
  uint64_t now = sy_now_ns();
  i = 0;
  for (j = 0; j < m; j++) {
    while (i < sc->n && strcmp(sc->t[i]->key, pend[j].key) < 0) target_destroy(sc, sc->t[i++]);
    target_t *t;
    if (i < sc->n && strcmp(sc->t[i]->key, pend[j].key) == 0) {
      t = sc->t[i++];
      if (strcmp(t->url, pend[j].url) != 0 || strcmp(t->engine_name, pend[j].engine) != 0) {
        t->url_changed = t->url_changed || strcmp(t->url, pend[j].url) != 0;
        sy_free(t->blk);
        t->blk = pend[j].blk;
        pend[j].blk = NULL;
      }
    } else {
      t = nt[j];
      t->blk = pend[j].blk;
      pend[j].blk = NULL;
      t->next_due_ns = now + hash_key(t->blk) % sc->interval_ns;
    }
    t->key = t->blk;
    t->url = t->key + strlen(t->key) + 1;
    t->engine_name = t->url + strlen(t->url) + 1;
    t->engine = sy_scrape_engines_resolve(sc->engines, t->engine_name);
    nt[j] = t;
  }
  while (i < sc->n) target_destroy(sc, sc->t[i++]);
  sy_free(sc->t);
  sc->t = nt;
  sc->n = m;
  atomic_store(&sc->n_targets, (uint_fast32_t)m);
  /* the default cache (4 × easy handles added) would shrink while few
   * transfers are in flight and close idle keep-alive connections */
  curl_multi_setopt(sc->multi, CURLMOPT_MAXCONNECTS, (long)(m + 16));
  tspecs_free(pend, m);
}

static void apply_pending(sy_scraper_t *sc) {
  pthread_mutex_lock(&sc->mu);
  if (sc->gen_applied == sc->gen_req && !sc->pend_engines) {
    pthread_mutex_unlock(&sc->mu);
    return;
  }
  tspec_t *pend = sc->pend;
  size_t pend_n = sc->pend_n;
  bool have = sc->pend_set;
  sy_scrape_engines_t *eng = sc->pend_engines;
  uint64_t gen = sc->gen_req;
  sc->pend = NULL;
  sc->pend_n = 0;
  sc->pend_set = false;
  sc->pend_engines = NULL;
  pthread_mutex_unlock(&sc->mu);

  if (eng) {
    sy_scrape_engines_free(sc->engines);
    sc->engines = eng;
    resolve_engines(sc);
  }
  if (have) apply_targets(sc, pend, pend_n);

  pthread_mutex_lock(&sc->mu);
  sc->gen_applied = gen;
  pthread_cond_broadcast(&sc->cv);
  pthread_mutex_unlock(&sc->mu);
}

/* ---------------------------------------------------------------- the loop */

static void start_one(sy_scraper_t *sc, target_t *t, uint64_t now) {
  /* ticker semantics: keep the phase, never queue up missed ticks */
  t->next_due_ns += sc->interval_ns;
  if (t->next_due_ns < now) t->next_due_ns = now;
  if (!t->easy) {
    if (easy_setup(sc, t) != 0) return;
  } else if (t->url_changed) {
    curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
  }
  t->url_changed = false;
  sy_scrape_extractor_begin(&t->x, t->engine, &sc->limits);
  t->body_len = 0;
  t->parse_ns = 0;
  t->http_checked = t->http_ok = false;
  t->too_big = false;
  t->errbuf[0] = '\0';
  if (curl_multi_add_handle(sc->multi, t->easy) != CURLM_OK) return;
  t->in_flight = true;
}

static void report(sy_scraper_t *sc, target_t *t, int err, const char *reason, const sy_model_metrics_t *m) {
  if (!err) {
    atomic_fetch_add(&sc->ok, 1);
    if (t->state == ST_FAILING) SY_LOG(SY_LOG_INFO, "metrics scrape recovered", "endpoint", t->key, NULL);
    t->state = ST_OK;
    if (sc->sink.on_metrics) sc->sink.on_metrics(sc->sink.ctx, t->key, m);
    return;
  }
  atomic_fetch_add(&sc->failed, 1);
  if (t->state == ST_FAILING) return;
  t->state = ST_FAILING;
  SY_LOG(SY_LOG_WARN, "metrics scrape failing", "endpoint", t->key, "url", t->url, "error", reason, NULL);
  if (sc->sink.on_error) sc->sink.on_error(sc->sink.ctx, t->key, err, reason);
}

static void finish_one(sy_scraper_t *sc, target_t *t, CURLcode res) {
  curl_multi_remove_handle(sc->multi, t->easy);
  t->in_flight = false;
  long nconn = 0, code = 0;
  curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &nconn);
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  if (nconn > 0) atomic_fetch_add(&sc->connects, (uint_fast64_t)nconn);
  atomic_fetch_add(&sc->bytes, t->body_len);

  char reason[512];
  int err = 0;
  sy_model_metrics_t m;
  bool transport_ok = res == CURLE_OK || (t->too_big && res == CURLE_WRITE_ERROR) || res == CURLE_FILESIZE_EXCEEDED;
  if (transport_ok && code != 200 && code != 0) {
    err = -EPROTO;
    snprintf(reason, sizeof(reason), "GET %s: HTTP status %ld", t->url, code);
  } else if (res != CURLE_OK) {
    switch (res) {
    case CURLE_COULDNT_CONNECT: err = -ECONNREFUSED; break;
    case CURLE_OPERATION_TIMEDOUT: err = -ETIMEDOUT; break;
    case CURLE_FILESIZE_EXCEEDED: err = SY_ETOOBIG; break;
    case CURLE_WRITE_ERROR: err = t->too_big ? SY_ETOOBIG : -EIO; break;
    default: err = -EIO; break;
    }
    if (err == SY_ETOOBIG) {
      snprintf(reason, sizeof(reason), "metrics page larger than %zu bytes", sc->max_page);
    } else {
      snprintf(reason, sizeof(reason), "GET %s: %s", t->url, t->errbuf[0] ? t->errbuf : curl_easy_strerror(res));
    }
  } else {
    sy_prom_stats_t st;
    uint64_t t0 = sy_now_ns();
    err = sy_scrape_extractor_end(&t->x, t0, &m, &st);
    atomic_fetch_add(&sc->parse_ns, t->parse_ns + (sy_now_ns() - t0));
    atomic_fetch_add(&sc->garbage, st.garbage);
    if (err == SY_ENOTFOUND) {
      char miss[400];
      sy_scrape_missing_str(&t->x.eng, m.missing, miss, sizeof(miss));
      snprintf(reason, sizeof(reason), "no metrics extracted for engine %s (missing %s)", t->x.eng.name,
               miss[0] ? miss : "all: no metric enabled");
    } else if (err == SY_EPARSE) {
      snprintf(reason, sizeof(reason), "unparseable metrics page: %s at line %u",
               st.first_garbage_reason ? st.first_garbage_reason : "?", st.first_garbage_line);
    } else if (err == SY_ETOOBIG) {
      snprintf(reason, sizeof(reason), "metrics page larger than %zu bytes", sc->max_page);
    } else if (err) {
      snprintf(reason, sizeof(reason), "extracting metrics: %s", sy_strerror(err));
    }
  }
  report(sc, t, err, reason, &m);
}

static void *loop_main(void *arg) {
  sy_scraper_t *sc = arg;
  pthread_mutex_lock(&sc->mu);
  sc->loop_th = pthread_self();
  sc->loop_th_set = true;
  pthread_mutex_unlock(&sc->mu);
  while (!atomic_load(&sc->stop)) {
    apply_pending(sc);
    /* Start everything due within the slack window at once: one wakeup per
     * batch instead of one per target (phases stay spread, each target keeps
     * its own period; a poll may start up to slack early). */
    uint64_t now = sy_now_ns();
    for (size_t i = 0; i < sc->n; i++) {
      target_t *t = sc->t[i];
      if (!t->in_flight && now + sc->slack_ns >= t->next_due_ns) start_one(sc, t, now);
    }
    int running = 0;
    curl_multi_perform(sc->multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(sc->multi, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      target_t *t = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
      if (t) finish_one(sc, t, msg->data.result);
    }
    if (atomic_load(&sc->stop)) break;

    /* sleep until the next due target, a socket event, curl's own timer or
     * a wakeup (new targets, stop) */
    now = sy_now_ns();
    uint64_t due = UINT64_MAX;
    for (size_t i = 0; i < sc->n; i++) {
      if (!sc->t[i]->in_flight && sc->t[i]->next_due_ns < due) due = sc->t[i]->next_due_ns;
    }
    long ms = 1000;
    if (due != UINT64_MAX) {
      due = due > sc->slack_ns ? due - sc->slack_ns : 0;
      ms = due <= now ? 0 : (long)((due - now + 999999u) / 1000000u);
    }
    if (ms > 1000) ms = 1000;
    long cto = -1;
    curl_multi_timeout(sc->multi, &cto);
    if (cto >= 0 && cto < ms) ms = cto;
    if (ms > 0) curl_multi_poll(sc->multi, NULL, 0, (int)ms, NULL);
  }
  /* abort what is in flight; connections stay in the multi's cache */
  for (size_t i = 0; i < sc->n; i++) {
    target_t *t = sc->t[i];
    if (t->in_flight) {
      curl_multi_remove_handle(sc->multi, t->easy);
      t->in_flight = false;
    }
  }
  pthread_mutex_lock(&sc->mu);
  sc->cpu_done_ns += thread_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  sc->loop_alive = false;
  sc->loop_th_set = false;
  pthread_cond_broadcast(&sc->cv);
  pthread_mutex_unlock(&sc->mu);
  return NULL;
}

/* -------------------------------------------------------------- public API */

int sy_scraper_new(sy_scraper_t **out, const sy_scraper_config_t *cfg) {
  *out = NULL;
  if (!cfg) return SY_EINVAL;
  if (cfg->interval_ms > 3600000u || cfg->timeout_ms > 3600000u) return SY_EINVAL;
  sy_scraper_t *sc = sy_calloc(1, sizeof(*sc));
  if (!sc) return -ENOMEM;
  int rc = 0;
  sc->sink = cfg->sink;
  sc->interval_ns = (uint64_t)(cfg->interval_ms ? cfg->interval_ms : DEFAULT_INTERVAL_MS) * 1000000u;
  sc->slack_ns = SY_MIN(sc->interval_ns / 10u, 5000000u);
  sc->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
  sc->limits = cfg->limits;
  sc->max_page = sc->limits.max_page_bytes ? sc->limits.max_page_bytes : SY_PROM_DEFAULT_MAX_PAGE;
  pthread_mutex_init(&sc->mu, NULL);
  pthread_cond_init(&sc->cv, NULL);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    rc = -EIO;
    goto fail;
  }
  sc->curl_inited = true;
  if (cfg->engines) {
    sc->engines = sy_scrape_engines_copy(cfg->engines);
    if (!sc->engines) rc = -ENOMEM;
  } else {
    rc = sy_scrape_engines_new(&sc->engines);
  }
  if (rc) goto fail;
  sc->multi = curl_multi_init();
  sc->headers = curl_slist_append(NULL, "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1");
  if (!sc->multi || !sc->headers) {
    rc = -ENOMEM;
    goto fail;
  }
  *out = sc;
  return 0;
fail:
  sy_scraper_free(sc);
  return rc;
}

int sy_scraper_start(sy_scraper_t *sc) {
  if (sc->started) return SY_EINVAL;
  atomic_store(&sc->stop, false);
  pthread_mutex_lock(&sc->mu);
  sc->loop_alive = true;
  pthread_mutex_unlock(&sc->mu);
  int rc = pthread_create(&sc->th, NULL, loop_main, sc);
  if (rc) {
    pthread_mutex_lock(&sc->mu);
    sc->loop_alive = false;
    pthread_mutex_unlock(&sc->mu);
    return -rc;
  }
  pthread_mutex_lock(&sc->mu);
  if (pthread_getcpuclockid(sc->th, &sc->cpu_clock) != 0) sc->cpu_clock = (clockid_t)-1;
  pthread_mutex_unlock(&sc->mu);
  sc->started = true;
  return 0;
}

int sy_scraper_set_targets(sy_scraper_t *sc, const sy_scrape_target_t *targets, size_t n) {
  if (n && !targets) return SY_EINVAL;
  tspec_t *v = n ? sy_calloc(n, sizeof(*v)) : NULL;
  if (n && !v) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const char *k = targets[i].key, *u = targets[i].url, *e = targets[i].engine ? targets[i].engine : "";
    if (!k || !*k || !u || !*u) {
      tspecs_free(v, n);
      return SY_EINVAL;
    }
    size_t kl = strlen(k), ul = strlen(u), el = strlen(e);
    char *blk = sy_malloc(kl + ul + el + 3);
    if (!blk) {
      tspecs_free(v, n);
      return -ENOMEM;
    }
    memcpy(blk, k, kl + 1);
    memcpy(blk + kl + 1, u, ul + 1);
    memcpy(blk + kl + ul + 2, e, el + 1);
    v[i] = (tspec_t){blk, blk, blk + kl + 1, blk + kl + ul + 2, i};
  }
  if (n > 1) qsort(v, n, sizeof(*v), tspec_cmp);
  /* duplicates: keep the last entry of each key */
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (i + 1 < n && strcmp(v[i].key, v[i + 1].key) == 0) {
      sy_free(v[i].blk);
      continue;
    }
    v[m++] = v[i];
  }

  pthread_mutex_lock(&sc->mu);
  tspecs_free(sc->pend, sc->pend_n);
  sc->pend = v;
  sc->pend_n = m;
  sc->pend_set = true;
  uint64_t gen = ++sc->gen_req;
  /* from a sink callback (the loop itself) waiting would deadlock */
  bool wait = sc->loop_alive && !(sc->loop_th_set && pthread_equal(pthread_self(), sc->loop_th));
  pthread_mutex_unlock(&sc->mu);
  curl_multi_wakeup(sc->multi);
  if (wait) {
    pthread_mutex_lock(&sc->mu);
    while (sc->loop_alive && sc->gen_applied < gen) pthread_cond_wait(&sc->cv, &sc->mu);
    pthread_mutex_unlock(&sc->mu);
  }
  return 0;
}

int sy_scraper_set_engines(sy_scraper_t *sc, const sy_scrape_engines_t *e) {
  sy_scrape_engines_t *c = e ? sy_scrape_engines_copy(e) : NULL;
  if (!c && e) return -ENOMEM;
  if (!c && sy_scrape_engines_new(&c) != 0) return -ENOMEM;
  pthread_mutex_lock(&sc->mu);
  sy_scrape_engines_free(sc->pend_engines);
  sc->pend_engines = c;
  pthread_mutex_unlock(&sc->mu);
  curl_multi_wakeup(sc->multi);
  return 0;
}

void sy_scraper_stats(sy_scraper_t *sc, sy_scraper_stats_t *out) {
  memset(out, 0, sizeof(*out));
  out->scrapes_ok = atomic_load(&sc->ok);
  out->scrapes_failed = atomic_load(&sc->failed);
  out->bytes = atomic_load(&sc->bytes);
  out->parse_ns = atomic_load(&sc->parse_ns);
  out->garbage_lines = atomic_load(&sc->garbage);
  out->connects = atomic_load(&sc->connects);
  out->targets = (uint32_t)atomic_load(&sc->n_targets);
  pthread_mutex_lock(&sc->mu);
  out->cpu_ns = sc->cpu_done_ns;
  if (sc->loop_alive && sc->cpu_clock != (clockid_t)-1) out->cpu_ns += thread_cpu_ns(sc->cpu_clock);
  pthread_mutex_unlock(&sc->mu);
}

void sy_scraper_stop(sy_scraper_t *sc) {
  if (!sc || !sc->started) return;
  atomic_store(&sc->stop, true);
  curl_multi_wakeup(sc->multi);
  pthread_join(sc->th, NULL);
  sc->started = false;
}

void sy_scraper_free(sy_scraper_t *sc) {
  if (!sc) return;
  sy_scraper_stop(sc);
  for (size_t i = 0; i < sc->n; i++) target_destroy(sc, sc->t[i]); /* none in flight now */
  sy_free(sc->t);
  tspecs_free(sc->pend, sc->pend_n);
  sy_scrape_engines_free(sc->pend_engines);
  sy_scrape_engines_free(sc->engines);
  if (sc->multi) curl_multi_cleanup(sc->multi);
  curl_slist_free_all(sc->headers);
  if (sc->curl_inited) curl_global_cleanup();
  pthread_cond_destroy(&sc->cv);
  pthread_mutex_destroy(&sc->mu);
  sy_free(sc);
}
