/* libFuzzer target: bytes -> the watch-stream line splitter ->
 * sy_kube_event_parse, and the same bytes through a reflector (as a watch
 * body after a one-item LIST, and as a LIST body) with a trivial decoder.
 *
 * Checks beyond "no crash" (ASan/UBSan catch those):
 *   - splitting is independent of chunking: one call and pieces (sizes
 *     derived from the input) deliver the same lines;
 *   - a parsed event has the fields its type promises; a rejected one is
 *     zeroed and has a message;
 *   - the reflector's cache stays coherent: every value is found under its
 *     own key, the count matches, no value leaks (live count) and the
 *     splitter never holds more than max_event_bytes + 1.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "informer_int.h"
#include "kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINE 4096

typedef struct digest {
  uint64_t h;
  size_t lines;
} digest_t;

static int digest_line(void *ctx, const char *line, size_t len) {
  digest_t *d = ctx;
  const unsigned char *b = (const unsigned char *)line;
  if (len == 0 || len > MAX_LINE) __builtin_trap();
  for (size_t i = 0; i < len; i++) {
    if (b[i] == '\n') __builtin_trap();
    d->h = (d->h ^ b[i]) * 1099511628211ull;
  }
  d->h = (d->h ^ 0x100) * 1099511628211ull;
  d->lines++;

  sy_kube_event_t ev;
  char err[256];
  err[0] = '\0';
  int rc = sy_kube_event_parse(line, len, &ev, err, sizeof(err));
  if (rc == 0) {
    if (!ev.root || !cJSON_IsObject(ev.object)) __builtin_trap();
    switch (ev.type) {
    case SY_KUBE_EV_ADDED:
    case SY_KUBE_EV_MODIFIED:
    case SY_KUBE_EV_DELETED:
      if (!ev.name || !*ev.name || !ev.namespace_name || !ev.resource_version || !*ev.resource_version)
        __builtin_trap();
      break;
    case SY_KUBE_EV_BOOKMARK:
      if (ev.name || !ev.resource_version) __builtin_trap();
      break;
    case SY_KUBE_EV_ERROR:
      if (ev.name || ev.resource_version || ev.error_code < 0 || ev.error_code > 999) __builtin_trap();
      break;
    default: __builtin_trap();
    }
  } else {
    if (rc != SY_EPARSE || ev.root || ev.object || !err[0]) __builtin_trap();
  }
  sy_kube_event_cleanup(&ev);
  return 0;
}

static size_t piece(const uint8_t *data, size_t size, size_t k) {
  if (!size) return 1;
  return 1 + (size_t)data[(k * 7919u) % size] % 61u;
}

static void check_split(const uint8_t *data, size_t size) {
  digest_t d1 = {1469598103934665603ull, 0}, d2 = d1;
  sy_kube__lines_t l;
  sy_kube__lines_init(&l, MAX_LINE);
  int r1 = sy_kube__lines_feed(&l, (const char *)data, size, digest_line, &d1);
  size_t p1 = sy_kube__lines_pending(&l);
  sy_kube__lines_cleanup(&l);

  sy_kube__lines_init(&l, MAX_LINE);
  int r2 = 0;
  for (size_t off = 0, k = 0; off < size && r2 == 0; k++) {
    size_t n = piece(data, size, k);
    if (n > size - off) n = size - off;
    r2 = sy_kube__lines_feed(&l, (const char *)data + off, n, digest_line, &d2);
    if (l.part.cap > MAX_LINE + 2) __builtin_trap();
    off += n;
  }
  size_t p2 = sy_kube__lines_pending(&l);
  sy_kube__lines_cleanup(&l);
  if (r1 != r2 || d1.h != d2.h || d1.lines != d2.lines) __builtin_trap();
  if (r1 == 0 && p1 != p2) __builtin_trap();
}

/* ----------------------------------------------------------- reflector */

static long live;

/* value: the "ns/name" key (or "name"); objects with "bad" are rejected */
static int dec(void *ctx, const cJSON *obj, void **out, char *err, size_t n) {
  (void)ctx;
  sy_kube__meta_t m;
  if (sy_kube__json_get(obj, "bad") || sy_kube__meta(obj, &m, err, n) != 0 || !m.name) {
    snprintf(err, n, "rejected");
    return -1;
  }
  size_t nl = strlen(m.namespace_name), kl = strlen(m.name);
  char *k = sy_malloc(nl + kl + 2);
  if (!k) return -1;
  snprintf(k, nl + kl + 2, "%s%s%s", m.namespace_name, nl ? "/" : "", m.name);
  live++;
  *out = k;
  return 0;
}

static void fre(void *ctx, void *v) {
  (void)ctx;
  if (v) live--;
  sy_free(v);
}

typedef struct coh {
  const sy_kube_reflector_t *r;
  size_t n;
} coh_t;

static void check_entry(void *ctx, const char *key, void *value) {
  coh_t *c = ctx;
  if (!value || strcmp(key, value) != 0) __builtin_trap();
  /* the whole key works as a cluster-scoped name ("ns/name" is one string;
   * real names and namespaces cannot contain '/', fuzzed ones can) */
  if (sy_kube_reflector_get(c->r, "", key) != value) __builtin_trap();
  const char *slash = strchr(key, '/');
  if (slash && slash != key && (size_t)(slash - key) < 512) {
    char ns[512];
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    if (sy_kube_reflector_get(c->r, ns, slash + 1) != value) __builtin_trap();
  }
  c->n++;
}

static void check_cache(const sy_kube_reflector_t *r) {
  coh_t c = {r, 0};
  sy_kube__map_foreach(&r->cache, check_entry, &c);
  if (c.n != sy_kube_reflector_size(r)) __builtin_trap();
  if ((long)(r->cache.n + r->pending.n) != live) __builtin_trap();
}

static void check_reflector(const uint8_t *data, size_t size) {
  sy_kube_reflector_config_t c = {.name = "fuzz", .path = "/api/v1/pods", .decode = dec, .free = fre};
  sy_kube_informer_config_t ic = {.max_event_bytes = MAX_LINE, .backoff_min_ms = 1, .backoff_max_ms = 10};
  sy_kube_reflector_t *r = NULL;
  sy_buf_t url;
  sy_kube__req_t kind;
  sy_buf_init(&url, 1 << 16);
  live = 0;

  /* as a watch body after a LIST of one object */
  if (sy_kube__reflector_new(&r, &c, &ic) != 0) __builtin_trap();
  if (sy_kube__reflector_begin(r, 0, &url, &kind) != 0 || kind != SY_KUBE__REQ_LIST) __builtin_trap();
  const char *list = "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[{\"metadata\":{\"name\":\"a\","
                     "\"namespace\":\"ns\",\"resourceVersion\":\"1\"}}]}";
  sy_kube__reflector_list_done(r, 0, 200, list, strlen(list), NULL);
  if (!r->synced || sy_kube_reflector_size(r) != 1) __builtin_trap();
  if (sy_kube__reflector_begin(r, 0, &url, &kind) != 0 || kind != SY_KUBE__REQ_WATCH) __builtin_trap();
  int rc = 0;
  for (size_t off = 0, k = 0; off < size && rc == 0; k++) {
    size_t n = piece(data, size, k + 3);
    if (n > size - off) n = size - off;
    rc = sy_kube__reflector_watch_data(r, (const char *)data + off, n);
    if (r->lines.part.cap > MAX_LINE + 2) __builtin_trap();
    off += n;
  }
  if (rc && r->abort == SY_KUBE__ABORT_NONE) __builtin_trap();
  check_cache(r);
  sy_kube__reflector_watch_done(r, 5000000000ull, 200, NULL, 0, NULL);
  if (r->in_flight || !r->rv) __builtin_trap();
  if (r->next == SY_KUBE__REQ_WATCH) {
    if (sy_kube__reflector_begin(r, r->due_ns, &url, &kind) != 0 || kind != SY_KUBE__REQ_WATCH) __builtin_trap();
    sy_kube__reflector_watch_done(r, r->due_ns + 1, 0, NULL, 0, "cut");
  }
  check_cache(r);
  sy_kube__reflector_free(r);
  if (live != 0) __builtin_trap();

  /* as a LIST page */
  r = NULL;
  if (sy_kube__reflector_new(&r, &c, &ic) != 0) __builtin_trap();
  if (sy_kube__reflector_begin(r, 0, &url, &kind) != 0) __builtin_trap();
  sy_kube__reflector_list_done(r, 0, 200, (const char *)data, size, NULL);
  check_cache(r);
  if (r->next == SY_KUBE__REQ_LIST && r->list_continue) {
    /* a continue page: the next one 410s, the list starts over */
    if (sy_kube__reflector_begin(r, r->due_ns, &url, &kind) != 0 || !strstr(url.data, "continue=")) __builtin_trap();
    sy_kube__reflector_list_done(r, r->due_ns, 410, NULL, 0, NULL);
    if (r->list_continue || r->pending.n) __builtin_trap();
  }
  check_cache(r);
  sy_kube__reflector_free(r);
  if (live != 0) __builtin_trap();
  sy_buf_cleanup(&url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool quiet;
  if (!quiet) {
    sy_log_set_level(-1); /* rejected objects are logged at warning: too chatty here */
    quiet = true;
  }
  if (size > (1u << 20)) return 0;
  check_split(data, size);
  check_reflector(data, size);
  return 0;
}
