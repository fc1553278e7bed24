/*
 * Private to lib/kube (informer side): JSON helpers, the watch-stream line
 * splitter, the object cache, and the sans-I/O reflector that informer.c
 * drives with libcurl and the unit/fuzz tests drive with bytes.
 *
 * Everything here is owned by one thread at a time (the informer thread
 * while it runs), except the reflector's stats (under its mutex).
 */
#ifndef SY_KUBE_INFORMER_INT_H
#define SY_KUBE_INFORMER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "kube.h"

/* ------------------------------------------------------------------- JSON */

/* Parses exactly one JSON value from text[0..len) (whitespace around it
 * allowed, anything else after it rejected). NULL with a message in err. */
struct cJSON *sy_kube__json_parse(const char *text, size_t len, char *err, size_t errlen);
/* Member `key` of an object, last duplicate winning (as Go reads JSON). */
const struct cJSON *sy_kube__json_get(const struct cJSON *obj, const char *key);
/* String member: 1 and *out when a string, 0 when absent or null, -1 when
 * of another type. */
int sy_kube__json_str(const struct cJSON *obj, const char *key, const char **out);

/* An object's identity, borrowed from its JSON. */
typedef struct sy_kube__meta {
  const char *name;             /* NULL when absent or "" */
  const char *namespace_name;   /* "" when absent */
  const char *resource_version; /* NULL when absent or "" */
} sy_kube__meta_t;

/* Reads obj.metadata. 0, or SY_EPARSE (no metadata object, or a field of
 * the wrong type) with a message in err. Missing fields are not errors. */
int sy_kube__meta(const struct cJSON *obj, sy_kube__meta_t *m, char *err, size_t errlen);

const char *sy_kube__event_type_name(sy_kube_event_type_t t);

/* ---------------------------------------------------------- line splitter */

/* Cuts a byte stream, arriving in arbitrary chunks, into '\n'-terminated
 * lines. A line (without "\n" / "\r\n") longer than max_line bytes poisons
 * the splitter: feed returns SY_ETOOBIG from then on, until reset. Memory
 * held: at most max_line + 1 bytes (the unfinished line). */
typedef struct sy_kube__lines {
  sy_buf_t part; /* the unfinished line */
  size_t max_line;
  bool overflow;
} sy_kube__lines_t;

/* Called for each complete non-blank line (line[0..len), without its line
 * terminator, not NUL-terminated). A non-zero return stops feed, which
 * returns that value; the rest of the chunk is dropped. */
typedef int (*sy_kube__line_fn)(void *ctx, const char *line, size_t len);

void sy_kube__lines_init(sy_kube__lines_t *l, size_t max_line);
/* 0, SY_ETOOBIG (over-long line), -ENOMEM, or the callback's non-zero return. */
int sy_kube__lines_feed(sy_kube__lines_t *l, const char *p, size_t n, sy_kube__line_fn fn, void *ctx);
/* Bytes of an unfinished line held (a stream that ends here was cut). */
size_t sy_kube__lines_pending(const sy_kube__lines_t *l);
void sy_kube__lines_reset(sy_kube__lines_t *l);
void sy_kube__lines_cleanup(sy_kube__lines_t *l);

/* ------------------------------------------------------------------ cache */

typedef struct sy_kube__entry sy_kube__entry_t;

/* Hash map "namespace/name" (or "name") -> value. Not thread-safe. */
typedef struct sy_kube__map {
  sy_kube__entry_t **slots;
  size_t nslots; /* 0 or a power of two */
  size_t n;
  uint64_t seed;
} sy_kube__map_t;

void sy_kube__map_init(sy_kube__map_t *m);
/* Inserts or replaces. On replace the old value is returned in *old (else
 * *old = NULL) for the caller to free. 0 or -ENOMEM (map unchanged). */
int sy_kube__map_put(sy_kube__map_t *m, const char *ns, const char *name, void *value, void **old);
void *sy_kube__map_get(const sy_kube__map_t *m, const char *ns, const char *name, bool *found);
/* Removes; true and *value when the key was present. */
bool sy_kube__map_del(sy_kube__map_t *m, const char *ns, const char *name, void **value);
void sy_kube__map_foreach(const sy_kube__map_t *m, void (*fn)(void *ctx, const char *key, void *value), void *ctx);
/* Removes everything, handing each value to free_fn (may be NULL). */
void sy_kube__map_clear(sy_kube__map_t *m, sy_kube_free_fn free_fn, void *ctx);

/* -------------------------------------------------------------- reflector */

typedef enum sy_kube__req {
  SY_KUBE__REQ_LIST = 0,
  SY_KUBE__REQ_WATCH = 1,
} sy_kube__req_t;

/* Decisions taken while a watch streams, applied when it ends. */
typedef enum sy_kube__abort {
  SY_KUBE__ABORT_NONE = 0,
  SY_KUBE__ABORT_RELIST,  /* 410 Gone in an ERROR event: list again now */
  SY_KUBE__ABORT_BACKOFF, /* other ERROR event, garbage, over-long line: re-watch after backoff */
} sy_kube__abort_t;

/* The protocol of one reflector, without I/O: the driver asks for the next
 * request (begin), performs it, and reports the outcome (list_done;
 * watch_data as the body streams in, then watch_done). Clock passed in. */
struct sy_kube_reflector {
  /* configuration (copied) */
  char *name, *path, *label_selector, *field_selector;
  unsigned page_size;
  sy_kube_decode_fn decode;
  sy_kube_free_fn free_fn;
  void *ctx;
  bool (*relevant)(void *relevant_ctx, const void *old_value, const void *new_value);
  void *relevant_ctx;
  unsigned watch_timeout_s, backoff_min_ms, backoff_max_ms;
  size_t max_event_bytes;

  /* driver-thread state */
  sy_kube__map_t cache;
  sy_kube__map_t pending; /* pages of the LIST in progress */
  char *list_continue;    /* token for the next page; NULL: first page */
  unsigned list_pages;
  char *rv;               /* last seen resourceVersion; NULL: none (list first) */
  sy_kube__req_t next;    /* what begin() issues */
  uint64_t due_ns;        /* ... not before this time */
  bool in_flight;
  sy_kube__req_t cur;     /* the request in flight */
  unsigned cur_timeout_s; /* watch: timeoutSeconds asked for */
  uint64_t started_ns;
  unsigned failures;      /* consecutive failures (backoff exponent) */
  bool synced;            /* a LIST completed once */
  bool changed;           /* the cache changed since the driver last looked */
  sy_kube__lines_t lines; /* watch body */
  sy_kube__abort_t abort; /* watch ended by us, and why */
  uint64_t watch_lines;   /* events seen by the current watch */

  /* stats, any thread */
  pthread_mutex_t mu;
  sy_kube_reflector_stats_t st;
};

/* A reflector for `cfg` with the informer's tunables (icfg may be NULL for
 * defaults). 0, SY_EINVAL (no name, path not starting with '/', no decode)
 * or -ENOMEM. */
int sy_kube__reflector_new(sy_kube_reflector_t **out, const sy_kube_reflector_config_t *cfg,
                           const sy_kube_informer_config_t *icfg);
/* Frees the caches (values through cfg->free) and the reflector. NULL ok. */
void sy_kube__reflector_free(sy_kube_reflector_t *r);

/* Starts the next request (call when !in_flight && due_ns <= now):
 * *kind and the path with query ("/api/v1/pods?limit=500") in `url`
 * (reset first). 0 or -ENOMEM (nothing started). */
int sy_kube__reflector_begin(sy_kube_reflector_t *r, uint64_t now_ns, sy_buf_t *url, sy_kube__req_t *kind);

/* A LIST page finished: HTTP `status` and its body, or status 0 and a
 * transport error message. Applies the page, commits the list (replacing
 * the cache) after the last one, or schedules a retry. */
void sy_kube__reflector_list_done(sy_kube_reflector_t *r, uint64_t now_ns, long status, const char *body,
                                  size_t len, const char *transport_err);

/* Bytes of a 2xx watch body. 0 to continue, non-zero to abort the transfer
 * (the reason is kept in r->abort for watch_done). */
int sy_kube__reflector_watch_data(sy_kube_reflector_t *r, const char *p, size_t n);

/* The watch ended: HTTP `status` (2xx: the stream ended; else `body` holds
 * the Status), or status 0 and a transport error (also when watch_data
 * aborted it). Schedules the next request. */
void sy_kube__reflector_watch_done(sy_kube_reflector_t *r, uint64_t now_ns, long status, const char *body,
                                   size_t len, const char *transport_err);

/* Applies one parsed watch event to the cache and resourceVersion. Returns
 * SY_KUBE__ABORT_NONE to go on, or what to do with the watch. */
sy_kube__abort_t sy_kube__reflector_apply_event(sy_kube_reflector_t *r, const sy_kube_event_t *ev);

/* The delay before retry number `failures` (>= 1): min * 2^(failures-1)
 * capped at max, with equal jitter (half fixed, half random). */
uint64_t sy_kube__backoff_ns(unsigned min_ms, unsigned max_ms, unsigned failures);

#endif /* SY_KUBE_INFORMER_INT_H */
