/* The reflector protocol without I/O (client-go's Reflector, ListAndWatch):
 *
 *   LIST  path?limit=N[&continue=T][&labelSelector=..][&fieldSelector=..]
 *         pages accumulate in a fresh map; after the last page the map
 *         REPLACES the cache (objects missing from the list are dropped, so
 *         deletions missed while not watching are applied), and the list's
 *         resourceVersion becomes the watch's starting point.
 *   WATCH path?watch=1&allowWatchBookmarks=true&resourceVersion=RV
 *         &timeoutSeconds=T[&selectors]; every event moves RV forward.
 *
 *   410 Gone (HTTP status on a watch or a continue page, or an ERROR event
 *   with code 410) -> LIST again from scratch, immediately.
 *   Other failures -> exponential backoff with jitter, then WATCH from the
 *   last RV (LIST when there is none yet, or when a LIST failed).
 *   A watch that ends normally (the server's timeoutSeconds) -> WATCH again
 *   from the last RV at once, unless it lasted under a second with no event
 *   (client-go's "very short watch"), which counts as a failure.
 *
 * informer.c performs the requests; tests and fuzz_kube_event call these
 * functions directly with bytes and a fake clock.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "informer_int.h"
#include "kube.h"
#include "kube_int.h"

/* client-go uses 500; 250 halves the transient parse memory of each page
 * (cJSON trees are ~10x the JSON) at a few more round trips. */
#define DEFAULT_PAGE_SIZE 250u
#define DEFAULT_WATCH_TIMEOUT_S 300u
#define DEFAULT_MAX_EVENT_BYTES (8u << 20)
#define DEFAULT_BACKOFF_MIN_MS 250u
#define DEFAULT_BACKOFF_MAX_MS 30000u
/* a watch or list that ran this long resets the backoff exponent */
#define HEALTHY_NS (10ull * 1000000000ull)
#define SHORT_WATCH_NS (1000000000ull)

/* ================================================================== cache */

struct sy_kube__entry {
  sy_kube__entry_t *next;
  uint64_t h;
  void *value;
  char key[]; /* "ns/name" or "name" */
};

void sy_kube__map_init(sy_kube__map_t *m) {
  memset(m, 0, sizeof(*m));
  m->seed = sy_rand_u64();
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static uint64_t key_hash(const sy_kube__map_t *m, const char *ns, const char *name) {
  uint64_t h = 1469598103934665603ull ^ m->seed;
  if (ns && *ns) h = fnv(fnv(h, ns), "/");
  h = fnv(h, name);
  /* splitmix64 finaliser: spread FNV's low bits */
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

static bool key_eq(const char *key, const char *ns, const char *name) {
  if (ns && *ns) {
    size_t nl = strlen(ns);
    if (strncmp(key, ns, nl) != 0 || key[nl] != '/') return false;
    key += nl + 1;
  }
  return strcmp(key, name) == 0;
}

static sy_kube__entry_t **find_slot(const sy_kube__map_t *m, const char *ns, const char *name, uint64_t h) {
  if (!m->nslots) return NULL;
  sy_kube__entry_t **pp = &m->slots[h & (m->nslots - 1)];
  for (; *pp; pp = &(*pp)->next)
    if ((*pp)->h == h && key_eq((*pp)->key, ns, name)) return pp;
  return NULL;
}

static int grow(sy_kube__map_t *m) {
  size_t ns = m->nslots ? m->nslots * 2 : 16;
  sy_kube__entry_t **s = sy_calloc(ns, sizeof(*s));
  if (!s) return -ENOMEM;
  for (size_t i = 0; i < m->nslots; i++) {
    sy_kube__entry_t *e = m->slots[i];
    while (e) {
      sy_kube__entry_t *nx = e->next;
      size_t b = e->h & (ns - 1);
      e->next = s[b];
      s[b] = e;
      e = nx;
    }
  }
  sy_free(m->slots);
  m->slots = s;
  m->nslots = ns;
  return 0;
}

int sy_kube__map_put(sy_kube__map_t *m, const char *ns, const char *name, void *value, void **old) {
  *old = NULL;
  uint64_t h = key_hash(m, ns, name);
  sy_kube__entry_t **pp = find_slot(m, ns, name, h);
  if (pp) {
    *old = (*pp)->value;
    (*pp)->value = value;
    return 0;
  }
  if (m->n >= m->nslots && grow(m) != 0 && !m->nslots) return -ENOMEM;
  size_t nl = (ns && *ns) ? strlen(ns) + 1 : 0, kl = strlen(name);
  sy_kube__entry_t *e = sy_malloc(sizeof(*e) + nl + kl + 1);
  if (!e) return -ENOMEM;
  if (nl) {
    memcpy(e->key, ns, nl - 1);
    e->key[nl - 1] = '/';
  }
  memcpy(e->key + nl, name, kl + 1);
  e->h = h;
  e->value = value;
  size_t b = h & (m->nslots - 1);
  e->next = m->slots[b];
  m->slots[b] = e;
  m->n++;
  return 0;
}

void *sy_kube__map_get(const sy_kube__map_t *m, const char *ns, const char *name, bool *found) {
  sy_kube__entry_t **pp = name ? find_slot(m, ns, name, key_hash(m, ns, name)) : NULL;
  if (found) *found = pp != NULL;
  return pp ? (*pp)->value : NULL;
}

bool sy_kube__map_del(sy_kube__map_t *m, const char *ns, const char *name, void **value) {
  sy_kube__entry_t **pp = find_slot(m, ns, name, key_hash(m, ns, name));
  *value = NULL;
  if (!pp) return false;
  sy_kube__entry_t *e = *pp;
  *pp = e->next;
  *value = e->value;
  sy_free(e);
  m->n--;
  return true;
}

void sy_kube__map_foreach(const sy_kube__map_t *m, void (*fn)(void *ctx, const char *key, void *value), void *ctx) {
  for (size_t i = 0; i < m->nslots; i++)
    for (sy_kube__entry_t *e = m->slots[i]; e; e = e->next) fn(ctx, e->key, e->value);
}

void sy_kube__map_clear(sy_kube__map_t *m, sy_kube_free_fn free_fn, void *ctx) {
  for (size_t i = 0; i < m->nslots; i++) {
    sy_kube__entry_t *e = m->slots[i];
    while (e) {
      sy_kube__entry_t *nx = e->next;
      if (free_fn) free_fn(ctx, e->value);
      sy_free(e);
      e = nx;
    }
  }
  SY_FREE(&m->slots);
  m->nslots = 0;
  m->n = 0;
}

/* ================================================================ helpers */

#define STAT_ADD(r, field, k)        \
  do {                               \
    pthread_mutex_lock(&(r)->mu);    \
    (r)->st.field += (k);            \
    pthread_mutex_unlock(&(r)->mu);  \
  } while (0)

static void free_value(sy_kube_reflector_t *r, void *v) {
  if (r->free_fn) r->free_fn(r->ctx, v);
}

/* Moves the resourceVersion forward (to `rv`, which the server orders; we
 * do not compare, RVs are opaque). -ENOMEM keeps the old one. */
static int set_rv(sy_kube_reflector_t *r, const char *rv) {
  if (r->rv && strcmp(r->rv, rv) == 0) return 0;
  char *c = sy_strdup(rv);
  if (!c) return -ENOMEM;
  sy_free(r->rv);
  r->rv = c;
  pthread_mutex_lock(&r->mu);
  snprintf(r->st.resource_version, sizeof(r->st.resource_version), "%s", rv);
  pthread_mutex_unlock(&r->mu);
  return 0;
}

uint64_t sy_kube__backoff_ns(unsigned min_ms, unsigned max_ms, unsigned failures) {
  if (!failures) return 0;
  if (max_ms < min_ms) max_ms = min_ms;
  uint64_t d = min_ms;
  for (unsigned i = 1; i < failures && d < max_ms; i++) d *= 2;
  if (d > max_ms) d = max_ms;
  d *= 1000000ull;
  /* equal jitter: never under half the delay, never in lockstep */
  uint64_t half = d / 2;
  return half + sy_rand_below(d - half + 1);
}

static void log_retry(sy_kube_reflector_t *r, const char *what, const char *why, uint64_t delay_ns) {
  char ms[32], fails[16];
  snprintf(ms, sizeof(ms), "%" PRIu64, delay_ns / 1000000u);
  snprintf(fails, sizeof(fails), "%u", r->failures);
  SY_LOG(r->failures > 1 ? SY_LOG_INFO : SY_LOG_WARN, what, "reflector", r->name, "path", r->path, "error", why,
         "retry_in_ms", ms, "failures", fails, NULL);
}

/* A failure: back off, then resume (WATCH from the last RV when there is
 * one and `can_watch`, else LIST from the first page). */
static void retry(sy_kube_reflector_t *r, uint64_t now, bool can_watch, const char *what, const char *why) {
  if (now - r->started_ns >= HEALTHY_NS) r->failures = 0; /* it had been working */
  if (r->failures < 64) r->failures++;
  uint64_t d = sy_kube__backoff_ns(r->backoff_min_ms, r->backoff_max_ms, r->failures);
  r->due_ns = now + d;
  r->next = (can_watch && r->rv) ? SY_KUBE__REQ_WATCH : SY_KUBE__REQ_LIST;
  log_retry(r, what, why, d);
}

static void list_reset(sy_kube_reflector_t *r) {
  sy_kube__map_clear(&r->pending, r->free_fn, r->ctx);
  SY_FREE(&r->list_continue);
  r->list_pages = 0;
}

/* =============================================================== lifecycle */

static char *dup_opt(const char *s, bool *oom) {
  if (!s || !*s) return NULL;
  char *c = sy_strdup(s);
  if (!c) *oom = true;
  return c;
}

int sy_kube__reflector_new(sy_kube_reflector_t **out, const sy_kube_reflector_config_t *cfg,
                           const sy_kube_informer_config_t *icfg) {
  *out = NULL;
  if (!cfg || !cfg->name || !*cfg->name || !cfg->path || cfg->path[0] != '/' || !cfg->decode) return SY_EINVAL;
  sy_kube_reflector_t *r = sy_calloc(1, sizeof(*r));
  if (!r) return -ENOMEM;
  bool oom = false;
  r->name = dup_opt(cfg->name, &oom);
  r->path = dup_opt(cfg->path, &oom);
  r->label_selector = dup_opt(cfg->label_selector, &oom);
  r->field_selector = dup_opt(cfg->field_selector, &oom);
  r->page_size = cfg->page_size ? cfg->page_size : DEFAULT_PAGE_SIZE;
  r->decode = cfg->decode;
  r->free_fn = cfg->free;
  r->ctx = cfg->ctx;
  r->relevant = cfg->relevant;
  r->relevant_ctx = cfg->relevant_ctx;
  sy_kube_informer_config_t ic = icfg ? *icfg : (sy_kube_informer_config_t){0};
  r->watch_timeout_s = ic.watch_timeout_s ? ic.watch_timeout_s : DEFAULT_WATCH_TIMEOUT_S;
  r->max_event_bytes = ic.max_event_bytes ? ic.max_event_bytes : DEFAULT_MAX_EVENT_BYTES;
  r->backoff_min_ms = ic.backoff_min_ms ? ic.backoff_min_ms : DEFAULT_BACKOFF_MIN_MS;
  r->backoff_max_ms = ic.backoff_max_ms ? ic.backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
  if (r->backoff_max_ms < r->backoff_min_ms) r->backoff_max_ms = r->backoff_min_ms;
  sy_kube__map_init(&r->cache);
  sy_kube__map_init(&r->pending);
  sy_kube__lines_init(&r->lines, r->max_event_bytes);
  r->next = SY_KUBE__REQ_LIST;
  pthread_mutex_init(&r->mu, NULL);
  if (oom) {
    sy_kube__reflector_free(r);
    return -ENOMEM;
  }
  *out = r;
  return 0;
}

void sy_kube__reflector_free(sy_kube_reflector_t *r) {
  if (!r) return;
  sy_kube__map_clear(&r->cache, r->free_fn, r->ctx);
  list_reset(r);
  sy_kube__lines_cleanup(&r->lines);
  sy_free(r->rv);
  sy_free(r->name);
  sy_free(r->path);
  sy_free(r->label_selector);
  sy_free(r->field_selector);
  pthread_mutex_destroy(&r->mu);
  sy_free(r);
}

/* ================================================================ requests */

static int add_param(sy_buf_t *b, const char *key, const char *val) {
  char *esc = curl_easy_escape(NULL, val, 0);
  if (!esc) return -ENOMEM;
  int rc = sy_buf_printf(b, "%c%s=%s", strchr(b->data, '?') ? '&' : '?', key, esc);
  curl_free(esc);
  return rc;
}

static int add_selectors(const sy_kube_reflector_t *r, sy_buf_t *b) {
  int rc = 0;
  if (!rc && r->label_selector) rc = add_param(b, "labelSelector", r->label_selector);
  if (!rc && r->field_selector) rc = add_param(b, "fieldSelector", r->field_selector);
  return rc;
}

int sy_kube__reflector_begin(sy_kube_reflector_t *r, uint64_t now_ns, sy_buf_t *url, sy_kube__req_t *kind) {
  int rc;
  sy_buf_reset(url);
  if (r->next == SY_KUBE__REQ_WATCH && !r->rv) r->next = SY_KUBE__REQ_LIST;
  if ((rc = sy_buf_append_str(url, r->path)) != 0) return rc;
  if (r->next == SY_KUBE__REQ_LIST) {
    char lim[16];
    snprintf(lim, sizeof(lim), "%u", r->page_size);
    if (!r->list_continue) list_reset(r); /* a fresh list */
    rc = add_param(url, "limit", lim);
    if (!rc && r->list_continue) rc = add_param(url, "continue", r->list_continue);
    if (!rc) rc = add_selectors(r, url);
  } else {
    char to[16];
    unsigned t = r->watch_timeout_s;
    r->cur_timeout_s = t + (unsigned)sy_rand_below(t); /* [t, 2t), as client-go */
    snprintf(to, sizeof(to), "%u", r->cur_timeout_s);
    rc = add_param(url, "watch", "1");
    if (!rc) rc = add_param(url, "allowWatchBookmarks", "true");
    if (!rc) rc = add_param(url, "resourceVersion", r->rv);
    if (!rc) rc = add_param(url, "timeoutSeconds", to);
    if (!rc) rc = add_selectors(r, url);
    sy_kube__lines_reset(&r->lines);
    r->abort = SY_KUBE__ABORT_NONE;
    r->watch_lines = 0;
  }
  if (rc) return rc;
  r->cur = r->next;
  r->in_flight = true;
  r->started_ns = now_ns;
  if (r->cur == SY_KUBE__REQ_WATCH) {
    STAT_ADD(r, watches, 1);
    SY_LOG(SY_LOG_DEBUG, "kube watch started", "reflector", r->name, "resource_version", r->rv, NULL);
  }
  *kind = r->cur;
  return 0;
}

/* ==================================================================== LIST */

/* Applies one page. 0, or a negative code with a message in why. */
static int list_page(sy_kube_reflector_t *r, const char *body, size_t len, const char **rv_out, char **cont_out,
                     cJSON **root_out, char *why, size_t whylen) {
  char err[256];
  *rv_out = NULL;
  *cont_out = NULL;
  cJSON *root = sy_kube__json_parse(body, len, err, sizeof(err));
  *root_out = root;
  if (!root) {
    snprintf(why, whylen, "list response: %s", err);
    return SY_EPARSE;
  }
  if (!cJSON_IsObject(root)) {
    snprintf(why, whylen, "list response: not a JSON object");
    return SY_EPARSE;
  }
  const cJSON *md = sy_kube__json_get(root, "metadata");
  const char *rv = NULL, *cont = NULL;
  if (!cJSON_IsObject(md) || sy_kube__json_str(md, "resourceVersion", &rv) <= 0 || !*rv ||
      sy_kube__json_str(md, "continue", &cont) < 0) {
    snprintf(why, whylen, "list response: no metadata.resourceVersion");
    return SY_EPARSE;
  }
  const cJSON *items = sy_kube__json_get(root, "items");
  if (items && !cJSON_IsNull(items) && !cJSON_IsArray(items)) {
    snprintf(why, whylen, "list response: items is not an array");
    return SY_EPARSE;
  }
  uint64_t rejected = 0;
  size_t idx = 0;
  for (const cJSON *it = items ? items->child : NULL; it; it = it->next, idx++) {
    sy_kube__meta_t m = {0};
    void *val = NULL, *old = NULL;
    const char *reason = NULL;
    err[0] = '\0';
    if (!cJSON_IsObject(it)) reason = "not an object";
    else if (sy_kube__meta(it, &m, err, sizeof(err)) != 0) reason = err;
    else if (!m.name) reason = "no metadata.name";
    else if (r->decode(r->ctx, it, &val, err, sizeof(err)) != 0) reason = err[0] ? err : "rejected by the decoder";
    if (reason) {
      char ix[24];
      rejected++;
      snprintf(ix, sizeof(ix), "%zu", idx);
      SY_LOG(SY_LOG_WARN, "kube list item rejected", "reflector", r->name, "item", ix, "namespace",
             m.namespace_name ? m.namespace_name : "", "name", m.name ? m.name : "?", "reason", reason, NULL);
      continue;
    }
    if (sy_kube__map_put(&r->pending, m.namespace_name, m.name, val, &old) != 0) {
      free_value(r, val);
      if (rejected) STAT_ADD(r, rejected, rejected);
      snprintf(why, whylen, "out of memory");
      return -ENOMEM;
    }
    free_value(r, old); /* the same key twice in one list: the later wins */
  }
  if (rejected) STAT_ADD(r, rejected, rejected);
  *rv_out = rv;
  if (cont && *cont) {
    *cont_out = sy_strdup(cont);
    if (!*cont_out) {
      snprintf(why, whylen, "out of memory");
      return -ENOMEM;
    }
  }
  return 0;
}

void sy_kube__reflector_list_done(sy_kube_reflector_t *r, uint64_t now_ns, long status, const char *body,
                                  size_t len, const char *transport_err) {
  char why[512];
  r->in_flight = false;
  if (status == 0) {
    STAT_ADD(r, errors, 1);
    list_reset(r);
    retry(r, now_ns, false, "kube list failed", transport_err ? transport_err : "transport error");
    return;
  }
  if (status == 410 && r->list_continue) {
    /* the continue token's snapshot was compacted away: start over */
    STAT_ADD(r, relists_expired, 1);
    SY_LOG(SY_LOG_INFO, "kube list continue token expired; listing again", "reflector", r->name, NULL);
    list_reset(r);
    r->next = SY_KUBE__REQ_LIST;
    r->due_ns = now_ns;
    return;
  }
  if (status < 200 || status > 299) {
    char msg[300];
    sy_kube__status_message(body, len, msg, sizeof(msg));
    snprintf(why, sizeof(why), "HTTP %ld%s%s", status, msg[0] ? ": " : "", msg);
    STAT_ADD(r, errors, 1);
    list_reset(r);
    retry(r, now_ns, false, "kube list failed", why);
    return;
  }

  const char *rv = NULL;
  char *cont = NULL;
  cJSON *root = NULL;
  int rc = list_page(r, body, len, &rv, &cont, &root, why, sizeof(why));
  if (rc) {
    cJSON_Delete(root);
    sy_free(cont);
    STAT_ADD(r, errors, 1);
    list_reset(r);
    retry(r, now_ns, false, "kube list failed", why);
    return;
  }
  r->list_pages++;
  if (cont) {
    sy_free(r->list_continue);
    r->list_continue = cont;
    r->next = SY_KUBE__REQ_LIST;
    r->due_ns = now_ns;
    cJSON_Delete(root);
    return;
  }
  if (set_rv(r, rv) != 0) {
    cJSON_Delete(root);
    STAT_ADD(r, errors, 1);
    list_reset(r);
    retry(r, now_ns, false, "kube list failed", "out of memory");
    return;
  }
  cJSON_Delete(root);

  /* replace: the list is the whole truth as of its resourceVersion */
  sy_kube__map_t old = r->cache;
  r->cache = r->pending;
  r->pending = old;
  unsigned pages = r->list_pages;
  list_reset(r); /* frees the old cache's values */
  r->synced = true;
  r->changed = true;
  r->failures = 0;
  r->next = SY_KUBE__REQ_WATCH;
  r->due_ns = now_ns;
  STAT_ADD(r, lists, 1);

  char n[24], pg[16];
  snprintf(n, sizeof(n), "%zu", r->cache.n);
  snprintf(pg, sizeof(pg), "%u", pages);
  SY_LOG(SY_LOG_INFO, "kube list complete", "reflector", r->name, "objects", n, "pages", pg, "resource_version",
         r->rv, NULL);
}

/* =================================================================== WATCH */

sy_kube__abort_t sy_kube__reflector_apply_event(sy_kube_reflector_t *r, const sy_kube_event_t *ev) {
  char err[256];
  void *val = NULL, *old = NULL;
  r->watch_lines++;
  switch (ev->type) {
  case SY_KUBE_EV_ADDED:
  case SY_KUBE_EV_MODIFIED:
    err[0] = '\0';
    if (r->decode(r->ctx, ev->object, &val, err, sizeof(err)) != 0) {
      /* garbage stays out; the cache keeps what it had */
      STAT_ADD(r, rejected, 1);
      SY_LOG(SY_LOG_WARN, "kube watch object rejected", "reflector", r->name, "event",
             sy_kube__event_type_name(ev->type), "namespace", ev->namespace_name, "name", ev->name, "reason",
             err[0] ? err : "rejected by the decoder", NULL);
      break;
    }
    if (sy_kube__map_put(&r->cache, ev->namespace_name, ev->name, val, &old) != 0) {
      free_value(r, val);
      return SY_KUBE__ABORT_BACKOFF; /* RV not advanced: the event comes again */
    }
    if (!r->relevant || r->relevant(r->relevant_ctx, old, val)) r->changed = true;
    free_value(r, old);
    STAT_ADD(r, events, 1);
    break;
  case SY_KUBE_EV_DELETED:
    if (sy_kube__map_del(&r->cache, ev->namespace_name, ev->name, &old)) {
      if (!r->relevant || r->relevant(r->relevant_ctx, old, NULL)) r->changed = true;
      free_value(r, old);
    }
    STAT_ADD(r, events, 1);
    break;
  case SY_KUBE_EV_BOOKMARK:
    STAT_ADD(r, bookmarks, 1);
    break;
  case SY_KUBE_EV_ERROR:
  default: {
    char code[16];
    snprintf(code, sizeof(code), "%d", ev->error_code);
    if (ev->error_code == 410) {
      STAT_ADD(r, relists_expired, 1);
      SY_LOG(SY_LOG_INFO, "kube watch expired (410); listing again", "reflector", r->name, "resource_version",
             r->rv, "message", ev->error_message ? ev->error_message : "", NULL);
      return SY_KUBE__ABORT_RELIST;
    }
    STAT_ADD(r, errors, 1);
    SY_LOG(SY_LOG_WARN, "kube watch error event", "reflector", r->name, "code", code, "message",
           ev->error_message ? ev->error_message : "", NULL);
    return SY_KUBE__ABORT_BACKOFF;
  }
  }
  if (ev->resource_version && set_rv(r, ev->resource_version) != 0) return SY_KUBE__ABORT_BACKOFF;
  return SY_KUBE__ABORT_NONE;
}

static int on_line(void *ctx, const char *line, size_t len) {
  sy_kube_reflector_t *r = ctx;
  sy_kube_event_t ev;
  char err[256];
  int rc = sy_kube_event_parse(line, len, &ev, err, sizeof(err));
  if (rc) {
    /* like client-go's StreamWatcher: a line we cannot decode ends the
     * watch; it resumes from the last RV (nothing after it is skipped) */
    STAT_ADD(r, rejected, 1);
    SY_LOG(SY_LOG_WARN, "kube watch event rejected; restarting the watch", "reflector", r->name, "reason", err,
           NULL);
    r->abort = SY_KUBE__ABORT_BACKOFF;
    return 1;
  }
  sy_kube__abort_t a = sy_kube__reflector_apply_event(r, &ev);
  sy_kube_event_cleanup(&ev);
  if (a != SY_KUBE__ABORT_NONE) {
    r->abort = a;
    return 1;
  }
  return 0;
}

int sy_kube__reflector_watch_data(sy_kube_reflector_t *r, const char *p, size_t n) {
  if (r->abort != SY_KUBE__ABORT_NONE) return 1;
  int rc = sy_kube__lines_feed(&r->lines, p, n, on_line, r);
  if (rc == 0 || rc == 1) return rc;
  if (rc == SY_ETOOBIG) {
    char lim[24];
    snprintf(lim, sizeof(lim), "%zu", r->max_event_bytes);
    STAT_ADD(r, rejected, 1);
    SY_LOG(SY_LOG_WARN, "kube watch event too long; restarting the watch", "reflector", r->name, "max_event_bytes",
           lim, "resource_version", r->rv, NULL);
  }
  r->abort = SY_KUBE__ABORT_BACKOFF;
  return 1;
}

void sy_kube__reflector_watch_done(sy_kube_reflector_t *r, uint64_t now_ns, long status, const char *body,
                                   size_t len, const char *transport_err) {
  char why[512];
  r->in_flight = false;
  sy_kube__abort_t a = r->abort;
  size_t cut = sy_kube__lines_pending(&r->lines);
  sy_kube__lines_reset(&r->lines);
  r->abort = SY_KUBE__ABORT_NONE;

  if (a == SY_KUBE__ABORT_RELIST) {
    r->next = SY_KUBE__REQ_LIST;
    r->due_ns = now_ns;
    return;
  }
  if (a == SY_KUBE__ABORT_BACKOFF) {
    retry(r, now_ns, true, "kube watch restarting", "aborted (see above)");
    return;
  }
  if (status == 0) {
    STAT_ADD(r, errors, 1);
    retry(r, now_ns, true, "kube watch failed", transport_err ? transport_err : "transport error");
    return;
  }
  if (status == 410) {
    STAT_ADD(r, relists_expired, 1);
    SY_LOG(SY_LOG_INFO, "kube watch expired (HTTP 410); listing again", "reflector", r->name, "resource_version",
           r->rv, NULL);
    r->next = SY_KUBE__REQ_LIST;
    r->due_ns = now_ns;
    return;
  }
  if (status < 200 || status > 299) {
    char msg[300];
    sy_kube__status_message(body, len, msg, sizeof(msg));
    snprintf(why, sizeof(why), "HTTP %ld%s%s", status, msg[0] ? ": " : "", msg);
    STAT_ADD(r, errors, 1);
    retry(r, now_ns, true, "kube watch failed", why);
    return;
  }
  if (cut) {
    STAT_ADD(r, errors, 1);
    retry(r, now_ns, true, "kube watch failed", "stream ended inside an event");
    return;
  }
  if (now_ns - r->started_ns < SHORT_WATCH_NS && r->watch_lines == 0) {
    STAT_ADD(r, errors, 1);
    retry(r, now_ns, true, "kube watch failed", "very short watch: closed within a second with no event");
    return;
  }
  /* the server's timeoutSeconds: carry on from where we are */
  r->failures = 0;
  r->next = SY_KUBE__REQ_WATCH;
  r->due_ns = now_ns;
  SY_LOG(SY_LOG_DEBUG, "kube watch ended; resuming", "reflector", r->name, "resource_version", r->rv, NULL);
}

/* ============================================================ public cache */

size_t sy_kube_reflector_size(const sy_kube_reflector_t *r) { return r ? r->cache.n : 0; }

const void *sy_kube_reflector_get(const sy_kube_reflector_t *r, const char *namespace_name, const char *name) {
  if (!r || !name) return NULL;
  return sy_kube__map_get(&r->cache, namespace_name, name, NULL);
}

typedef struct fe_ctx {
  void (*fn)(void *ctx, const void *value);
  void *ctx;
} fe_ctx_t;

static void fe_tramp(void *ctx, const char *key, void *value) {
  fe_ctx_t *f = ctx;
  (void)key;
  f->fn(f->ctx, value);
}

void sy_kube_reflector_foreach(const sy_kube_reflector_t *r, void (*fn)(void *ctx, const void *value), void *ctx) {
  if (!r || !fn) return;
  fe_ctx_t f = {fn, ctx};
  sy_kube__map_foreach(&r->cache, fe_tramp, &f);
}

void sy_kube_reflector_stats(const sy_kube_reflector_t *r, sy_kube_reflector_stats_t *out) {
  memset(out, 0, sizeof(*out));
  if (!r) return;
  sy_kube_reflector_t *m = (sy_kube_reflector_t *)r; /* the mutex is not part of the value */
  pthread_mutex_lock(&m->mu);
  *out = r->st;
  pthread_mutex_unlock(&m->mu);
}
