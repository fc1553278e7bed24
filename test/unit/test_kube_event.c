/* Unit tests for lib/kube's informer side, without a network: watch-event
 * parsing, the watch-stream line splitter, the object cache, and the
 * reflector protocol (LIST pages, REPLACE, WATCH events, 410 relists,
 * backoff) driven with bytes and a fake clock. The informer thread against
 * a real kube-apiserver is test/integration/test_kube_informer.c. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "informer_int.h"
#include "kube.h"
#include "test_support.h"

#define SEC 1000000000ull

/* ================================================================ events */

static int parse(const char *s, sy_kube_event_t *ev, char *err, size_t n) {
  return sy_kube_event_parse(s, strlen(s), ev, err, n);
}

START_TEST(ev_added_modified_deleted) {
  static const struct {
    const char *type;
    sy_kube_event_type_t t;
  } c[] = {{"ADDED", SY_KUBE_EV_ADDED}, {"MODIFIED", SY_KUBE_EV_MODIFIED}, {"DELETED", SY_KUBE_EV_DELETED}};
  for (size_t i = 0; i < SY_ARRAY_LEN(c); i++) {
    char line[512], err[256];
    snprintf(line, sizeof(line),
             "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p1\","
             "\"namespace\":\"ns\",\"resourceVersion\":\"1234\"},\"status\":{\"podIP\":\"10.0.0.1\"}}}",
             c[i].type);
    sy_kube_event_t ev;
    ck_assert_int_eq(parse(line, &ev, err, sizeof(err)), 0);
    ck_assert_int_eq(ev.type, c[i].t);
    ck_assert_ptr_nonnull(ev.root);
    ck_assert(cJSON_IsObject(ev.object));
    ck_assert_str_eq(ev.name, "p1");
    ck_assert_str_eq(ev.namespace_name, "ns");
    ck_assert_str_eq(ev.resource_version, "1234");
    ck_assert_int_eq(ev.error_code, 0);
    ck_assert_ptr_null(ev.error_message);
    sy_kube_event_cleanup(&ev);
    ck_assert_ptr_null(ev.root);
    sy_kube_event_cleanup(&ev); /* twice is harmless */
  }
}
END_TEST

START_TEST(ev_cluster_scoped) {
  sy_kube_event_t ev;
  char err[256];
  ck_assert_int_eq(parse("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"n\",\"resourceVersion\":\"7\"}}}",
                         &ev, err, sizeof(err)),
                   0);
  ck_assert_str_eq(ev.namespace_name, "");
  ck_assert_str_eq(ev.name, "n");
  sy_kube_event_cleanup(&ev);
  /* "namespace": null is the same as absent */
  ck_assert_int_eq(parse("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"n\",\"namespace\":null,"
                         "\"resourceVersion\":\"7\"}}}",
                         &ev, err, sizeof(err)),
                   0);
  ck_assert_str_eq(ev.namespace_name, "");
  sy_kube_event_cleanup(&ev);
}
END_TEST

START_TEST(ev_bookmark) {
  sy_kube_event_t ev;
  char err[256];
  const char *s = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
                  "\"resourceVersion\":\"9001\",\"creationTimestamp\":null,\"annotations\":{"
                  "\"k8s.io/initial-events-end\":\"true\"}},\"spec\":{\"containers\":null}}}";
  ck_assert_int_eq(parse(s, &ev, err, sizeof(err)), 0);
  ck_assert_int_eq(ev.type, SY_KUBE_EV_BOOKMARK);
  ck_assert_str_eq(ev.resource_version, "9001");
  ck_assert_ptr_null(ev.name);
  ck_assert_ptr_null(ev.namespace_name);
  sy_kube_event_cleanup(&ev);
}
END_TEST

START_TEST(ev_error_status) {
  sy_kube_event_t ev;
  char err[256];
  /* what kube-apiserver sends when the watch's RV was compacted */
  ck_assert_int_eq(parse("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                         "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (200)\","
                         "\"reason\":\"Expired\",\"code\":410}}",
                         &ev, err, sizeof(err)),
                   0);
  ck_assert_int_eq(ev.type, SY_KUBE_EV_ERROR);
  ck_assert_int_eq(ev.error_code, 410);
  ck_assert_str_eq(ev.error_message, "too old resource version: 1 (200)");
  ck_assert_ptr_null(ev.resource_version);
  ck_assert_ptr_null(ev.name);
  sy_kube_event_cleanup(&ev);

  /* no code, reason Gone: still 410; reason stands in for the message */
  ck_assert_int_eq(parse("{\"type\":\"ERROR\",\"object\":{\"reason\":\"Gone\"}}", &ev, err, sizeof(err)), 0);
  ck_assert_int_eq(ev.error_code, 410);
  ck_assert_str_eq(ev.error_message, "Gone");
  sy_kube_event_cleanup(&ev);

  ck_assert_int_eq(parse("{\"type\":\"ERROR\",\"object\":{\"code\":500,\"message\":\"\",\"reason\":\"InternalError\"}}",
                         &ev, err, sizeof(err)),
                   0);
  ck_assert_int_eq(ev.error_code, 500);
  ck_assert_str_eq(ev.error_message, "InternalError");
  sy_kube_event_cleanup(&ev);

  ck_assert_int_eq(parse("{\"type\":\"ERROR\",\"object\":{}}", &ev, err, sizeof(err)), 0);
  ck_assert_int_eq(ev.error_code, 0);
  ck_assert_ptr_null(ev.error_message);
  sy_kube_event_cleanup(&ev);
}
END_TEST

START_TEST(ev_whitespace_and_cr) {
  sy_kube_event_t ev;
  char err[256];
  const char *s = "  {\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"2\"}}} \t\r";
  ck_assert_int_eq(parse(s, &ev, err, sizeof(err)), 0);
  ck_assert_int_eq(ev.type, SY_KUBE_EV_DELETED);
  sy_kube_event_cleanup(&ev);
  /* not NUL-terminated: only len bytes are read */
  char buf[128];
  const char *t = "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"5\"}}}";
  size_t n = strlen(t);
  memcpy(buf, t, n);
  memset(buf + n, 'x', sizeof(buf) - n);
  ck_assert_int_eq(sy_kube_event_parse(buf, n, &ev, err, sizeof(err)), 0);
  ck_assert_str_eq(ev.resource_version, "5");
  sy_kube_event_cleanup(&ev);
}
END_TEST

START_TEST(ev_duplicate_keys_last_wins) {
  sy_kube_event_t ev;
  char err[256];
  ck_assert_int_eq(parse("{\"type\":\"BOGUS\",\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\","
                         "\"name\":\"b\",\"resourceVersion\":\"3\"}}}",
                         &ev, err, sizeof(err)),
                   0);
  ck_assert_int_eq(ev.type, SY_KUBE_EV_ADDED);
  ck_assert_str_eq(ev.name, "b");
  sy_kube_event_cleanup(&ev);
}
END_TEST

static const struct {
  const char *line;
  const char *want; /* substring of the message */
} rejects[] = {
    {"", "empty"},
    {"   \r", "empty"},
    {"{", "invalid JSON"},
    {"{\"type\":\"ADDED\"", "invalid JSON"},
    {"nope", "invalid JSON"},
    {"{\"type\":\"ADDED\",\"object\":{}} {}", "trailing"},
    {"{\"type\":\"ADDED\",\"object\":{}}x", "trailing"},
    {"[1,2]", "not a JSON object"},
    {"\"ADDED\"", "not a JSON object"},
    {"null", "not a JSON object"},
    {"{}", "no \"type\""},
    {"{\"object\":{}}", "no \"type\""},
    {"{\"type\":1,\"object\":{}}", "\"type\" is not a string"},
    {"{\"type\":\"added\",\"object\":{}}", "unknown type"},
    {"{\"type\":\"SYNC\",\"object\":{}}", "unknown type"},
    {"{\"type\":\"ADDED\"}", "no \"object\""},
    {"{\"type\":\"ERROR\"}", "no \"object\""},
    {"{\"type\":\"ADDED\",\"object\":[]}", "not an object"},
    {"{\"type\":\"ADDED\",\"object\":null}", "not an object"},
    {"{\"type\":\"ERROR\",\"object\":\"gone\"}", "not an object"},
    {"{\"type\":\"ADDED\",\"object\":{}}", "no metadata"},
    {"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":7}}", "metadata is not an object"},
    {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}", "no metadata.name"},
    {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"\",\"resourceVersion\":\"1\"}}}", "no metadata.name"},
    {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":5,\"resourceVersion\":\"1\"}}}", "name is not a string"},
    {"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}", "no metadata.resourceVersion"},
    {"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"\"}}}",
     "no metadata.resourceVersion"},
    {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":12}}}",
     "resourceVersion is not a string"},
    {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":[],\"resourceVersion\":\"1\"}}}",
     "namespace is not a string"},
    {"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}", "no metadata.resourceVersion"},
    {"{\"type\":\"BOOKMARK\",\"object\":{}}", "no metadata"},
    {"{\"type\":\"ERROR\",\"object\":{\"code\":\"410\"}}", "not an HTTP status"},
    {"{\"type\":\"ERROR\",\"object\":{\"code\":410.5}}", "not an HTTP status"},
    {"{\"type\":\"ERROR\",\"object\":{\"code\":-1}}", "not an HTTP status"},
    {"{\"type\":\"ERROR\",\"object\":{\"code\":1e300}}", "not an HTTP status"},
    {"{\"type\":\"ERROR\",\"object\":{\"code\":410,\"message\":{}}}", "message/reason"},
};

START_TEST(ev_rejects) {
  sy_kube_event_t ev;
  char err[256];
  for (size_t i = 0; i < SY_ARRAY_LEN(rejects); i++) {
    memset(&ev, 0x5a, sizeof(ev));
    err[0] = '\0';
    int rc = parse(rejects[i].line, &ev, err, sizeof(err));
    ck_assert_msg(rc == SY_EPARSE, "case %zu (%s): rc %d", i, rejects[i].line, rc);
    ck_assert_msg(strstr(err, rejects[i].want) != NULL, "case %zu (%s): message '%s', want '%s'", i,
                  rejects[i].line, err, rejects[i].want);
    ck_assert_ptr_null(ev.root);
    ck_assert_ptr_null(ev.object);
    sy_kube_event_cleanup(&ev);
  }
}
END_TEST

START_TEST(ev_rejects_binary_and_deep) {
  sy_kube_event_t ev;
  char err[256];
  /* a NUL inside the line */
  const char nul[] = "{\"type\":\"ADDED\"\0,\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}";
  ck_assert_int_eq(sy_kube_event_parse(nul, sizeof(nul) - 1, &ev, err, sizeof(err)), SY_EPARSE);
  /* nesting far beyond cJSON's limit: rejected, no stack overflow */
  size_t depth = 100000;
  char *deep = sy_malloc(depth * 2 + 64);
  size_t k = (size_t)snprintf(deep, 64, "{\"type\":\"ADDED\",\"object\":");
  for (size_t i = 0; i < depth; i++) deep[k++] = '[';
  for (size_t i = 0; i < depth; i++) deep[k++] = ']';
  deep[k++] = '}';
  ck_assert_int_eq(sy_kube_event_parse(deep, k, &ev, err, sizeof(err)), SY_EPARSE);
  sy_free(deep);
  /* invalid UTF-8 / control bytes outside strings */
  ck_assert_int_eq(parse("\x01{}", &ev, err, sizeof(err)), SY_EPARSE);
  ck_assert_int_eq(parse("{\"type\":\"ADDED\",\"object\":{}}\xff", &ev, err, sizeof(err)), SY_EPARSE);
  /* arguments */
  ck_assert_int_eq(sy_kube_event_parse(NULL, 3, &ev, err, sizeof(err)), SY_EINVAL);
  ck_assert_int_eq(sy_kube_event_parse("{}", 2, NULL, err, sizeof(err)), SY_EINVAL);
  ck_assert_int_eq(sy_kube_event_parse(NULL, 0, &ev, NULL, 0), SY_EPARSE);
}
END_TEST

/* ================================================================= lines */

typedef struct linebag {
  char *lines[256];
  size_t n;
  size_t stop_at; /* return 7 at this line (0 = never) */
} linebag_t;

static int collect_line(void *ctx, const char *line, size_t len) {
  linebag_t *b = ctx;
  ck_assert_uint_lt(b->n, SY_ARRAY_LEN(b->lines));
  b->lines[b->n++] = sy_strndup(line, len);
  if (b->stop_at && b->n == b->stop_at) return 7;
  return 0;
}

static void bag_free(linebag_t *b) {
  for (size_t i = 0; i < b->n; i++) sy_free(b->lines[i]);
  b->n = 0;
}

START_TEST(lines_basic) {
  sy_kube__lines_t l;
  linebag_t b = {0};
  sy_kube__lines_init(&l, 100);
  const char *s = "one\ntwo\r\n\n  \r\nthree\n";
  ck_assert_int_eq(sy_kube__lines_feed(&l, s, strlen(s), collect_line, &b), 0);
  ck_assert_uint_eq(b.n, 3);
  ck_assert_str_eq(b.lines[0], "one");
  ck_assert_str_eq(b.lines[1], "two");
  ck_assert_str_eq(b.lines[2], "three");
  ck_assert_uint_eq(sy_kube__lines_pending(&l), 0);
  /* an unfinished line is held until its newline */
  ck_assert_int_eq(sy_kube__lines_feed(&l, "fo", 2, collect_line, &b), 0);
  ck_assert_uint_eq(sy_kube__lines_pending(&l), 2);
  ck_assert_int_eq(sy_kube__lines_feed(&l, "ur", 2, collect_line, &b), 0);
  ck_assert_int_eq(sy_kube__lines_feed(&l, "\nfi", 3, collect_line, &b), 0);
  ck_assert_uint_eq(b.n, 4);
  ck_assert_str_eq(b.lines[3], "four");
  ck_assert_uint_eq(sy_kube__lines_pending(&l), 2);
  sy_kube__lines_reset(&l);
  ck_assert_uint_eq(sy_kube__lines_pending(&l), 0);
  bag_free(&b);
  sy_kube__lines_cleanup(&l);
}
END_TEST

START_TEST(lines_callback_stops) {
  sy_kube__lines_t l;
  linebag_t b = {.stop_at = 2};
  sy_kube__lines_init(&l, 100);
  ck_assert_int_eq(sy_kube__lines_feed(&l, "a\nb\nc\n", 6, collect_line, &b), 7);
  ck_assert_uint_eq(b.n, 2);
  bag_free(&b);
  sy_kube__lines_cleanup(&l);
}
END_TEST

START_TEST(lines_random_chunking) {
  /* a stream of lines of many lengths, fed in random pieces: the same
   * lines come out every time */
  srand(12345);
  sy_buf_t stream;
  sy_buf_init(&stream, 1 << 20);
  char *want[200];
  size_t nwant = 0;
  for (size_t i = 0; i < 200; i++) {
    size_t len = 1 + (size_t)rand() % 300;
    char *s = sy_malloc(len + 1);
    for (size_t k = 0; k < len; k++) s[k] = (char)('a' + rand() % 26);
    s[len] = '\0';
    want[nwant++] = s;
    ck_assert_int_eq(sy_buf_append_str(&stream, s), 0);
    ck_assert_int_eq(sy_buf_append_str(&stream, (i % 3) ? "\n" : "\r\n"), 0);
    if (i % 17 == 0) ck_assert_int_eq(sy_buf_append_str(&stream, "\n"), 0); /* keep-alive blank line */
  }
  for (int round = 0; round < 60; round++) {
    sy_kube__lines_t l;
    linebag_t b = {0};
    sy_kube__lines_init(&l, 300);
    size_t off = 0;
    while (off < stream.len) {
      size_t n = round == 0 ? 1 : 1 + (size_t)rand() % (round < 30 ? 16 : 2000);
      if (n > stream.len - off) n = stream.len - off;
      if (sy_kube__lines_feed(&l, stream.data + off, n, collect_line, &b) != 0 || l.part.cap > 302)
        ck_abort_msg("feed failed or buffer grew (cap %zu) at offset %zu", l.part.cap, off);
      off += n;
    }
    ck_assert_uint_eq(b.n, nwant);
    for (size_t i = 0; i < nwant; i++) ck_assert_str_eq(b.lines[i], want[i]);
    ck_assert_uint_eq(sy_kube__lines_pending(&l), 0);
    bag_free(&b);
    sy_kube__lines_cleanup(&l);
  }
  for (size_t i = 0; i < nwant; i++) sy_free(want[i]);
  sy_buf_cleanup(&stream);
}
END_TEST

START_TEST(lines_too_long) {
  srand(777);
  for (int round = 0; round < 100; round++) {
    sy_kube__lines_t l;
    linebag_t b = {0};
    sy_kube__lines_init(&l, 64);
    /* exactly 64 bytes is fine, also with \r\n */
    char ok[66];
    memset(ok, 'x', 64);
    ok[64] = '\r';
    ok[65] = '\n';
    ck_assert_int_eq(sy_kube__lines_feed(&l, ok, 66, collect_line, &b), 0);
    ck_assert_int_eq(sy_kube__lines_feed(&l, ok + 1, 65, collect_line, &b), 0);
    ck_assert_uint_eq(b.n, 2);
    /* 65 bytes, in random pieces, is not; memory stays bounded */
    char bad[10000];
    memset(bad, 'y', sizeof(bad));
    size_t len = round == 0 ? 65 : 65 + (size_t)rand() % (sizeof(bad) - 66);
    bad[len] = '\n';
    size_t off = 0;
    int rc = 0;
    while (off <= len && rc == 0) {
      size_t n = 1 + (size_t)rand() % 40;
      if (n > len + 1 - off) n = len + 1 - off;
      rc = sy_kube__lines_feed(&l, bad + off, n, collect_line, &b);
      ck_assert_uint_le(l.part.cap, 66);
      off += n;
    }
    ck_assert_int_eq(rc, SY_ETOOBIG);
    ck_assert_uint_eq(b.n, 2);
    /* poisoned until reset */
    ck_assert_int_eq(sy_kube__lines_feed(&l, "a\n", 2, collect_line, &b), SY_ETOOBIG);
    sy_kube__lines_reset(&l);
    ck_assert_int_eq(sy_kube__lines_feed(&l, "a\n", 2, collect_line, &b), 0);
    ck_assert_uint_eq(b.n, 3);
    bag_free(&b);
    sy_kube__lines_cleanup(&l);
  }
}
END_TEST

/* ================================================================= cache */

static void count_cb(void *ctx, const char *key, void *value) {
  size_t *n = ctx;
  (void)key;
  ck_assert_ptr_nonnull(value);
  (*n)++;
}

static int freed;
static void count_free(void *ctx, void *v) {
  (void)ctx;
  (void)v;
  freed++;
}

START_TEST(map_ops) {
  sy_kube__map_t m;
  sy_kube__map_init(&m);
  void *old;
  bool found;
  static int vals[3];
  ck_assert_ptr_null(sy_kube__map_get(&m, "ns", "a", &found));
  ck_assert(!found);
  ck_assert_int_eq(sy_kube__map_put(&m, "ns", "a", &vals[0], &old), 0);
  ck_assert_ptr_null(old);
  ck_assert_int_eq(sy_kube__map_put(&m, "", "a", &vals[1], &old), 0); /* cluster-scoped "a" differs */
  ck_assert_int_eq(sy_kube__map_put(&m, "ns", "a", &vals[2], &old), 0);
  ck_assert_ptr_eq(old, &vals[0]);
  ck_assert_uint_eq(m.n, 2);
  ck_assert_ptr_eq(sy_kube__map_get(&m, "ns", "a", NULL), &vals[2]);
  ck_assert_ptr_eq(sy_kube__map_get(&m, NULL, "a", NULL), &vals[1]);
  ck_assert_ptr_null(sy_kube__map_get(&m, "n", "s/a", NULL));
  /* keys are "namespace/name" strings (names cannot contain '/') */
  ck_assert_ptr_eq(sy_kube__map_get(&m, "", "ns/a", NULL), &vals[2]);
  ck_assert(sy_kube__map_del(&m, "ns", "a", &old));
  ck_assert_ptr_eq(old, &vals[2]);
  ck_assert(!sy_kube__map_del(&m, "ns", "a", &old));
  ck_assert_uint_eq(m.n, 1);

  /* many keys: growth keeps everything findable */
  for (int i = 0; i < 5000; i++) {
    char ns[16], nm[16];
    snprintf(ns, sizeof(ns), "ns%d", i % 7);
    snprintf(nm, sizeof(nm), "pod-%d", i);
    ck_assert_int_eq(sy_kube__map_put(&m, ns, nm, &vals[i % 3], &old), 0);
  }
  ck_assert_uint_eq(m.n, 5001);
  for (int i = 0; i < 5000; i++) {
    char ns[16], nm[16];
    snprintf(ns, sizeof(ns), "ns%d", i % 7);
    snprintf(nm, sizeof(nm), "pod-%d", i);
    ck_assert_ptr_eq(sy_kube__map_get(&m, ns, nm, NULL), &vals[i % 3]);
  }
  size_t n = 0;
  sy_kube__map_foreach(&m, count_cb, &n);
  ck_assert_uint_eq(n, 5001);
  freed = 0;
  sy_kube__map_clear(&m, count_free, NULL);
  ck_assert_int_eq(freed, 5001);
  ck_assert_uint_eq(m.n, 0);
  sy_kube__map_clear(&m, NULL, NULL);
}
END_TEST

/* ============================================================= reflector */

/* The decoded value: what a pods reflector would keep. */
typedef struct obj {
  char key[128];
  long v;
} obj_t;

static int live; /* decoded values not yet freed */

static int dec(void *ctx, const cJSON *o, void **out, char *err, size_t n) {
  (void)ctx;
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
  const cJSON *nm = cJSON_GetObjectItemCaseSensitive(md, "name");
  const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "bad"))) {
    snprintf(err, n, "bad object");
    return -1;
  }
  obj_t *x = sy_calloc(1, sizeof(*x));
  if (!x) return -1;
  snprintf(x->key, sizeof(x->key), "%s/%s", cJSON_IsString(ns) ? ns->valuestring : "",
           cJSON_IsString(nm) ? nm->valuestring : "?");
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v");
  x->v = cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
  live++;
  *out = x;
  return 0;
}

static void fre(void *ctx, void *v) {
  (void)ctx;
  if (v) live--;
  sy_free(v);
}

static sy_kube_reflector_t *mkref(const char *label, const char *field, unsigned page) {
  sy_kube_reflector_config_t c = {.name = "pods",
                                  .path = "/api/v1/namespaces/ns/pods",
                                  .label_selector = label,
                                  .field_selector = field,
                                  .page_size = page,
                                  .decode = dec,
                                  .free = fre};
  sy_kube_informer_config_t ic = {.watch_timeout_s = 60, .max_event_bytes = 4096, .backoff_min_ms = 100,
                                  .backoff_max_ms = 3000};
  sy_kube_reflector_t *r = NULL;
  ck_assert_int_eq(sy_kube__reflector_new(&r, &c, &ic), 0);
  return r;
}

/* begin(), expecting `kind`; returns the URL (static buffer). */
static const char *begin(sy_kube_reflector_t *r, uint64_t now, sy_kube__req_t kind) {
  static char out[4096];
  sy_buf_t url;
  sy_buf_init(&url, 8192);
  sy_kube__req_t k;
  ck_assert(!r->in_flight);
  ck_assert_uint_le(r->due_ns, now);
  ck_assert_int_eq(sy_kube__reflector_begin(r, now, &url, &k), 0);
  ck_assert_int_eq(k, kind);
  ck_assert(r->in_flight);
  snprintf(out, sizeof(out), "%s", url.data);
  sy_buf_cleanup(&url);
  return out;
}

static const char *item(const char *name, const char *rv, long v) {
  static char b[8][256];
  static int i;
  char *s = b[i++ % 8];
  snprintf(s, 256, "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns\",\"resourceVersion\":\"%s\"},\"v\":%ld}", name,
           rv, v);
  return s;
}

static void list_page(sy_kube_reflector_t *r, uint64_t now, const char *rv, const char *cont, const char *items) {
  char body[16384];
  snprintf(body, sizeof(body),
           "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"%s\"%s%s%s},"
           "\"items\":[%s]}",
           rv, cont ? ",\"continue\":\"" : "", cont ? cont : "", cont ? "\"" : "", items);
  sy_kube__reflector_list_done(r, now, 200, body, strlen(body), NULL);
}

/* Feeds `s` to the watch in random pieces; returns watch_data's first
 * non-zero return (0: all consumed). */
static int feed(sy_kube_reflector_t *r, const char *s) {
  size_t len = strlen(s), off = 0;
  while (off < len) {
    size_t n = 1 + (size_t)rand() % 50;
    if (n > len - off) n = len - off;
    int rc = sy_kube__reflector_watch_data(r, s + off, n);
    if (rc) return rc;
    off += n;
  }
  return 0;
}

static const char *ev(const char *type, const char *name, const char *rv, long v) {
  static char b[8][320];
  static int i;
  char *s = b[i++ % 8];
  snprintf(s, 320, "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",%s}\n", type,
           item(name, rv, v) + 1);
  return s;
}

static long val(sy_kube_reflector_t *r, const char *name) {
  const obj_t *o = sy_kube_reflector_get(r, "ns", name);
  return o ? o->v : -100;
}

static sy_kube_reflector_stats_t stats(sy_kube_reflector_t *r) {
  sy_kube_reflector_stats_t s;
  sy_kube_reflector_stats(r, &s);
  return s;
}

START_TEST(ref_config) {
  sy_kube_reflector_t *r = NULL;
  sy_kube_reflector_config_t c = {.name = "x", .path = "/api/v1/pods", .decode = dec};
  ck_assert_int_eq(sy_kube__reflector_new(&r, &c, NULL), 0);
  ck_assert_uint_eq(r->page_size, 250);
  ck_assert_uint_eq(r->watch_timeout_s, 300);
  ck_assert_uint_eq(r->max_event_bytes, 8u << 20);
  ck_assert_uint_eq(r->backoff_min_ms, 250);
  ck_assert_uint_eq(r->backoff_max_ms, 30000);
  sy_kube__reflector_free(r);
  c.path = "api/v1/pods";
  ck_assert_int_eq(sy_kube__reflector_new(&r, &c, NULL), SY_EINVAL);
  c.path = "/api/v1/pods";
  c.decode = NULL;
  ck_assert_int_eq(sy_kube__reflector_new(&r, &c, NULL), SY_EINVAL);
  c.decode = dec;
  c.name = "";
  ck_assert_int_eq(sy_kube__reflector_new(&r, &c, NULL), SY_EINVAL);
  ck_assert_ptr_null(r);
  sy_kube__reflector_free(NULL);
}
END_TEST

START_TEST(ref_list_pages_then_watch) {
  live = 0;
  sy_kube_reflector_t *r = mkref("app=x,tier in (a,b)", "spec.nodeName=n1", 2);
  const char *u = begin(r, 0, SY_KUBE__REQ_LIST);
  ck_assert_str_eq(u, "/api/v1/namespaces/ns/pods?limit=2&labelSelector=app%3Dx%2Ctier%20in%20%28a%2Cb%29"
                      "&fieldSelector=spec.nodeName%3Dn1");
  char items[1024];
  snprintf(items, sizeof(items), "%s,%s", item("a", "5", 1), item("b", "6", 2));
  list_page(r, 1, "10", "tok+/=", items);
  ck_assert(!r->in_flight);
  ck_assert(!r->synced);
  ck_assert_uint_eq(sy_kube_reflector_size(r), 0); /* nothing visible before the last page */
  u = begin(r, 1, SY_KUBE__REQ_LIST);
  ck_assert_str_eq(u, "/api/v1/namespaces/ns/pods?limit=2&continue=tok%2B%2F%3D&labelSelector="
                      "app%3Dx%2Ctier%20in%20%28a%2Cb%29&fieldSelector=spec.nodeName%3Dn1");
  list_page(r, 2, "10", NULL, item("c", "7", 3));
  ck_assert(r->synced);
  ck_assert(r->changed);
  ck_assert_uint_eq(sy_kube_reflector_size(r), 3);
  ck_assert_int_eq(val(r, "a"), 1);
  ck_assert_int_eq(val(r, "c"), 3);
  ck_assert_int_eq(live, 3);
  sy_kube_reflector_stats_t s = stats(r);
  ck_assert_uint_eq(s.lists, 1);
  ck_assert_str_eq(s.resource_version, "10");

  u = begin(r, 3, SY_KUBE__REQ_WATCH);
  unsigned to = 0;
  char sel[512];
  ck_assert_int_eq(sscanf(u,
                          "/api/v1/namespaces/ns/pods?watch=1&allowWatchBookmarks=true&resourceVersion=10&"
                          "timeoutSeconds=%u&%511s",
                          &to, sel),
                   2);
  ck_assert_uint_ge(to, 60);
  ck_assert_uint_lt(to, 120);
  ck_assert_str_eq(sel, "labelSelector=app%3Dx%2Ctier%20in%20%28a%2Cb%29&fieldSelector=spec.nodeName%3Dn1");
  ck_assert_uint_eq(stats(r).watches, 1);
  sy_kube__reflector_free(r);
  ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(ref_watch_events) {
  live = 0;
  srand(42);
  sy_kube_reflector_t *r = mkref(NULL, NULL, 0);
  ck_assert_str_eq(begin(r, 0, SY_KUBE__REQ_LIST), "/api/v1/namespaces/ns/pods?limit=250");
  char items[1024];
  snprintf(items, sizeof(items), "%s,%s", item("a", "5", 1), item("b", "6", 2));
  list_page(r, 0, "10", NULL, items);
  r->changed = false;
  begin(r, 0, SY_KUBE__REQ_WATCH);

  ck_assert_int_eq(feed(r, ev("ADDED", "c", "11", 3)), 0);
  ck_assert_int_eq(val(r, "c"), 3);
  ck_assert(r->changed);
  ck_assert_int_eq(feed(r, ev("MODIFIED", "a", "12", 10)), 0);
  ck_assert_int_eq(val(r, "a"), 10);
  ck_assert_int_eq(feed(r, ev("DELETED", "b", "13", 0)), 0);
  ck_assert_ptr_null(sy_kube_reflector_get(r, "ns", "b"));
  ck_assert_int_eq(feed(r, ev("DELETED", "zz", "14", 0)), 0); /* unknown: no-op */
  ck_assert_int_eq(feed(r, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"20\"}}}\n"),
                   0);
  ck_assert_str_eq(r->rv, "20");
  ck_assert_uint_eq(sy_kube_reflector_size(r), 2);
  ck_assert_int_eq(live, 2);

  /* a MODIFIED the decoder rejects: counted, old value kept, RV moves on */
  r->changed = false;
  ck_assert_int_eq(feed(r, "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\","
                           "\"resourceVersion\":\"21\"},\"bad\":true}}\n"),
                   0);
  ck_assert_int_eq(val(r, "a"), 10);
  ck_assert(!r->changed);
  ck_assert_str_eq(r->rv, "21");
  sy_kube_reflector_stats_t s = stats(r);
  ck_assert_uint_eq(s.events, 4);
  ck_assert_uint_eq(s.bookmarks, 1);
  ck_assert_uint_eq(s.rejected, 1);
  ck_assert_str_eq(s.resource_version, "21");

  /* the server's timeout: resume from RV at once */
  sy_kube__reflector_watch_done(r, 100 * SEC, 200, NULL, 0, NULL);
  ck_assert_int_eq(r->next, SY_KUBE__REQ_WATCH);
  ck_assert_uint_eq(r->due_ns, 100 * SEC);
  const char *u = begin(r, 100 * SEC, SY_KUBE__REQ_WATCH);
  ck_assert_ptr_nonnull(strstr(u, "&resourceVersion=21&"));
  sy_kube__reflector_free(r);
  ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(ref_error_410_relists_with_replace) {
  live = 0;
  srand(43);
  sy_kube_reflector_t *r = mkref(NULL, NULL, 0);
  begin(r, 0, SY_KUBE__REQ_LIST);
  char items[1024];
  snprintf(items, sizeof(items), "%s,%s,%s", item("a", "5", 1), item("b", "6", 2), item("c", "7", 3));
  list_page(r, 0, "10", NULL, items);
  begin(r, 0, SY_KUBE__REQ_WATCH);
  ck_assert_int_eq(feed(r, ev("MODIFIED", "a", "11", 4)), 0);
  ck_assert_int_ne(feed(r, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
                           "\"message\":\"too old resource version\"}}\n" /* what follows is not read */
                           "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\","
                           "\"resourceVersion\":\"12\"}}}\n"),
                   0);
  ck_assert_int_eq(val(r, "a"), 4);
  /* further data of the aborted transfer is refused */
  ck_assert_int_ne(sy_kube__reflector_watch_data(r, "x", 1), 0);
  sy_kube__reflector_watch_done(r, 5 * SEC, 0, NULL, 0, "aborted by callback");
  ck_assert_int_eq(r->next, SY_KUBE__REQ_LIST);
  ck_assert_uint_eq(r->due_ns, 5 * SEC);
  ck_assert_uint_eq(stats(r).relists_expired, 1);
  ck_assert_uint_eq(stats(r).errors, 0);

  /* the relist: b was deleted and d created meanwhile; a changed */
  ck_assert_str_eq(begin(r, 5 * SEC, SY_KUBE__REQ_LIST), "/api/v1/namespaces/ns/pods?limit=250");
  ck_assert_uint_eq(sy_kube_reflector_size(r), 3); /* the old cache serves until the list completes */
  snprintf(items, sizeof(items), "%s,%s,%s", item("a", "15", 7), item("c", "7", 3), item("d", "16", 8));
  r->changed = false;
  list_page(r, 6 * SEC, "30", NULL, items);
  ck_assert(r->changed);
  ck_assert_uint_eq(sy_kube_reflector_size(r), 3);
  ck_assert_int_eq(val(r, "a"), 7);
  ck_assert_int_eq(val(r, "b"), -100);
  ck_assert_int_eq(val(r, "d"), 8);
  ck_assert_int_eq(live, 3);
  ck_assert_str_eq(r->rv, "30");
  ck_assert_uint_eq(stats(r).lists, 2);

  /* HTTP 410 on the watch itself: the same */
  begin(r, 6 * SEC, SY_KUBE__REQ_WATCH);
  sy_kube__reflector_watch_done(r, 7 * SEC, 410, "{\"kind\":\"Status\",\"code\":410}", 28, NULL);
  ck_assert_int_eq(r->next, SY_KUBE__REQ_LIST);
  ck_assert_uint_eq(r->due_ns, 7 * SEC);
  ck_assert_uint_eq(stats(r).relists_expired, 2);
  sy_kube__reflector_free(r);
  ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(ref_continue_expired_restarts_list) {
  live = 0;
  sy_kube_reflector_t *r = mkref(NULL, NULL, 1);
  begin(r, 0, SY_KUBE__REQ_LIST);
  list_page(r, 0, "10", "c1", item("a", "5", 1));
  const char *u = begin(r, 0, SY_KUBE__REQ_LIST);
  ck_assert_ptr_nonnull(strstr(u, "continue=c1"));
  ck_assert_int_eq(live, 1); /* page 1 held aside */
  sy_kube__reflector_list_done(r, 1, 410, "{\"code\":410,\"reason\":\"Expired\"}", 31, NULL);
  ck_assert_int_eq(live, 0);
  ck_assert_int_eq(r->next, SY_KUBE__REQ_LIST);
  ck_assert_uint_eq(r->due_ns, 1);
  ck_assert_uint_eq(stats(r).relists_expired, 1);
  u = begin(r, 1, SY_KUBE__REQ_LIST);
  ck_assert_str_eq(u, "/api/v1/namespaces/ns/pods?limit=1");
  list_page(r, 2, "40", NULL, item("b", "5", 2));
  ck_assert_uint_eq(sy_kube_reflector_size(r), 1);
  ck_assert_int_eq(val(r, "b"), 2);
  ck_assert_int_eq(val(r, "a"), -100);

  /* another error on a later page: back off, then list from scratch */
  r->next = SY_KUBE__REQ_LIST; /* as after a 410 */
  begin(r, 10 * SEC, SY_KUBE__REQ_LIST);
  list_page(r, 10 * SEC, "50", "c2", item("x", "5", 9));
  begin(r, 10 * SEC, SY_KUBE__REQ_LIST);
  sy_kube__reflector_list_done(r, 11 * SEC, 500, "{\"message\":\"etcd is sad\"}", 25, NULL);
  ck_assert_int_eq(r->next, SY_KUBE__REQ_LIST);
  ck_assert_uint_ge(r->due_ns, 11 * SEC + 50000000ull);
  ck_assert_uint_le(r->due_ns, 11 * SEC + 100000000ull);
  ck_assert_ptr_null(r->list_continue);
  ck_assert_int_eq(val(r, "b"), 2); /* the cache is untouched */
  ck_assert_int_eq(live, 1);
  ck_assert_uint_eq(stats(r).errors, 1);
  ck_assert_str_eq(begin(r, r->due_ns, SY_KUBE__REQ_LIST), "/api/v1/namespaces/ns/pods?limit=1");
  sy_kube__reflector_free(r);
  ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(ref_list_garbage) {
  live = 0;
  static const char *bodies[] = {
      "",
      "not json",
      "[]",
      "{\"items\":[]}",
      "{\"metadata\":{},\"items\":[]}",
      "{\"metadata\":{\"resourceVersion\":5},\"items\":[]}",
      "{\"metadata\":{\"resourceVersion\":\"5\",\"continue\":7},\"items\":[]}",
      "{\"metadata\":{\"resourceVersion\":\"5\"},\"items\":{}}",
      "{\"metadata\":{\"resourceVersion\":\"5\"},\"items\":[]} trailing",
  };
  sy_kube_reflector_t *r = mkref(NULL, NULL, 0);
  for (size_t i = 0; i < SY_ARRAY_LEN(bodies); i++) {
    uint64_t now = (uint64_t)(i + 1) * 100 * SEC;
    r->due_ns = 0;
    begin(r, now, SY_KUBE__REQ_LIST);
    sy_kube__reflector_list_done(r, now, 200, bodies[i], strlen(bodies[i]), NULL);
    ck_assert_msg(!r->synced, "body %zu accepted", i);
    ck_assert_int_eq(r->next, SY_KUBE__REQ_LIST);
    ck_assert_uint_gt(r->due_ns, now);
  }
  ck_assert_uint_eq(stats(r).errors, SY_ARRAY_LEN(bodies));
  /* items the decoder or the metadata check rejects are skipped, the rest kept;
   * items: null is an empty list */
  r->due_ns = 0;
  begin(r, 0, SY_KUBE__REQ_LIST);
  char items[2048];
  snprintf(items, sizeof(items),
           "%s,7,{},{\"metadata\":{\"namespace\":\"ns\"}},{\"metadata\":{\"name\":\"q\"},\"bad\":true},%s,%s",
           item("a", "1", 1), item("b", "2", 2), item("a", "3", 3) /* a twice: the later wins */);
  list_page(r, 0, "9", NULL, items);
  ck_assert(r->synced);
  ck_assert_uint_eq(sy_kube_reflector_size(r), 2);
  ck_assert_int_eq(val(r, "a"), 3);
  ck_assert_int_eq(live, 2);
  ck_assert_uint_eq(stats(r).rejected, 4);
  r->next = SY_KUBE__REQ_LIST;
  begin(r, 0, SY_KUBE__REQ_LIST);
  const char *nul = "{\"metadata\":{\"resourceVersion\":\"5\"},\"items\":null}";
  sy_kube__reflector_list_done(r, 0, 200, nul, strlen(nul), NULL);
  ck_assert_uint_eq(sy_kube_reflector_size(r), 0);
  ck_assert_int_eq(live, 0);
  sy_kube__reflector_free(r);
}
END_TEST

START_TEST(ref_watch_failures_backoff) {
  live = 0;
  srand(44);
  sy_kube_reflector_t *r = mkref(NULL, NULL, 0);
  /* a transport error before any list: list again after backoff */
  begin(r, 0, SY_KUBE__REQ_LIST);
  sy_kube__reflector_list_done(r, 0, 0, NULL, 0, "Connection refused");
  ck_assert_int_eq(r->next, SY_KUBE__REQ_LIST);
  ck_assert_uint_ge(r->due_ns, 50000000ull);
  begin(r, r->due_ns, SY_KUBE__REQ_LIST);
  list_page(r, SEC, "10", NULL, item("a", "5", 1));
  ck_assert_uint_eq(r->failures, 0);

  /* watch failures grow the backoff up to the cap, and resume from RV */
  uint64_t now = 2 * SEC;
  uint64_t prev = 0;
  for (unsigned i = 1; i <= 10; i++) {
    begin(r, now, SY_KUBE__REQ_WATCH);
    if (i % 3 == 0) sy_kube__reflector_watch_done(r, now, 0, NULL, 0, "Connection refused");
    else if (i % 3 == 1) sy_kube__reflector_watch_done(r, now, 500, "{\"message\":\"x\"}", 15, NULL);
    else sy_kube__reflector_watch_done(r, now, 200, NULL, 0, NULL); /* very short, no event */
    ck_assert_uint_eq(r->failures, i);
    ck_assert_int_eq(r->next, SY_KUBE__REQ_WATCH);
    uint64_t d = r->due_ns - now, full = SY_MIN(100000000ull << (i - 1), 3000000000ull);
    ck_assert_uint_ge(d, full / 2);
    ck_assert_uint_le(d, full);
    if (full < 3000000000ull) ck_assert_uint_ge(d, prev / 2);
    prev = d;
    now = r->due_ns;
  }
  ck_assert_uint_eq(stats(r).errors, 11); /* the list's, and ten watches' */

  /* an ERROR event (not 410): back off, re-watch from the last RV */
  begin(r, now, SY_KUBE__REQ_WATCH);
  ck_assert_int_eq(feed(r, ev("ADDED", "b", "11", 2)), 0);
  ck_assert_int_ne(feed(r, "{\"type\":\"ERROR\",\"object\":{\"code\":500,\"message\":\"internal error\"}}\n"), 0);
  sy_kube__reflector_watch_done(r, now + 20 * SEC, 0, NULL, 0, "aborted");
  ck_assert_uint_eq(r->failures, 1); /* it ran 20 s: the exponent starts over */
  ck_assert_int_eq(r->next, SY_KUBE__REQ_WATCH);
  ck_assert_uint_gt(r->due_ns, now + 20 * SEC);
  now = r->due_ns;
  ck_assert_ptr_nonnull(strstr(begin(r, now, SY_KUBE__REQ_WATCH), "resourceVersion=11&"));

  /* a watch that ran long and ended normally resets the backoff */
  sy_kube__reflector_watch_done(r, now + 70 * SEC, 200, NULL, 0, NULL);
  ck_assert_uint_eq(r->failures, 0);
  ck_assert_uint_eq(r->due_ns, now + 70 * SEC);

  /* a stream cut inside an event is a failure, not a normal end */
  now += 70 * SEC;
  begin(r, now, SY_KUBE__REQ_WATCH);
  ck_assert_int_eq(feed(r, "{\"type\":\"ADDED\",\"obj"), 0);
  sy_kube__reflector_watch_done(r, now + 5 * SEC, 200, NULL, 0, NULL);
  ck_assert_uint_eq(r->failures, 1);
  ck_assert_uint_gt(r->due_ns, now + 5 * SEC);
  sy_kube__reflector_free(r);
  ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(ref_watch_garbage_and_long_lines) {
  live = 0;
  srand(45);
  sy_kube_reflector_t *r = mkref(NULL, NULL, 0);
  begin(r, 0, SY_KUBE__REQ_LIST);
  list_page(r, 0, "10", NULL, item("a", "5", 1));
  begin(r, 0, SY_KUBE__REQ_WATCH);
  ck_assert_int_eq(feed(r, ev("MODIFIED", "a", "11", 2)), 0);
  ck_assert_int_ne(feed(r, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}\n"), 0);
  sy_kube__reflector_watch_done(r, SEC, 0, NULL, 0, "aborted");
  ck_assert_uint_eq(stats(r).rejected, 1);
  ck_assert_int_eq(r->next, SY_KUBE__REQ_WATCH);
  ck_assert_ptr_nonnull(strstr(begin(r, r->due_ns, SY_KUBE__REQ_WATCH), "resourceVersion=11&"));

  /* a line over max_event_bytes (4096): aborted, restarted from RV */
  ck_assert_int_eq(feed(r, ev("ADDED", "b", "12", 3)), 0);
  char *big = sy_malloc(20000);
  int k = snprintf(big, 20000, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"c\",\"namespace\":\"ns\","
                               "\"resourceVersion\":\"13\"},\"pad\":\"");
  memset(big + k, 'p', 10000);
  snprintf(big + k + 10000, 20000 - (size_t)k - 10000, "\"}}\n");
  ck_assert_int_ne(feed(r, big), 0);
  ck_assert_uint_le(r->lines.part.cap, 4097);
  sy_kube__reflector_watch_done(r, 2 * SEC, 0, NULL, 0, "aborted");
  ck_assert_uint_eq(stats(r).rejected, 2);
  ck_assert_int_eq(val(r, "c"), -100);
  ck_assert_int_eq(val(r, "b"), 3);
  ck_assert_ptr_nonnull(strstr(begin(r, r->due_ns, SY_KUBE__REQ_WATCH), "resourceVersion=12&"));
  /* the new watch starts with a clean splitter */
  ck_assert_int_eq(feed(r, ev("ADDED", "d", "14", 4)), 0);
  ck_assert_int_eq(val(r, "d"), 4);
  sy_free(big);
  sy_kube__reflector_free(r);
  ck_assert_int_eq(live, 0);
}
END_TEST

/* A model API server: objects with versions, an event log, and random
 * failures (410s, cut connections, error events) between the two. Whatever
 * happens, after the reflector catches up its cache equals the model. */
#define NOBJ 40
typedef struct model {
  long v[NOBJ]; /* -1: absent */
  unsigned long rv;
} model_t;

static void model_list(sy_kube_reflector_t *r, model_t *m, uint64_t now, unsigned page) {
  /* paginated list of the model as of now */
  size_t i = 0;
  char items[16384];
  int pg = 0;
  for (;;) {
    begin(r, now, SY_KUBE__REQ_LIST);
    items[0] = '\0';
    size_t len = 0, inpage = 0;
    for (; i < NOBJ && inpage < page; i++) {
      if (m->v[i] < 0) continue;
      char nm[16], rv[16];
      snprintf(nm, sizeof(nm), "o%zu", i);
      snprintf(rv, sizeof(rv), "%lu", m->rv);
      len += (size_t)snprintf(items + len, sizeof(items) - len, "%s%s", inpage ? "," : "", item(nm, rv, m->v[i]));
      inpage++;
    }
    while (i < NOBJ && m->v[i] < 0) i++;
    char rv[16], cont[16];
    snprintf(rv, sizeof(rv), "%lu", m->rv);
    snprintf(cont, sizeof(cont), "p%d", ++pg);
    list_page(r, now, rv, i < NOBJ ? cont : NULL, items);
    if (i >= NOBJ) break;
  }
}

START_TEST(ref_model_no_loss_no_dup) {
  srand(2024);
  for (int round = 0; round < 30; round++) {
    live = 0;
    model_t m;
    for (int i = 0; i < NOBJ; i++) m.v[i] = (rand() % 2) ? i : -1;
    m.rv = 100;
    sy_kube_reflector_t *r = mkref(NULL, NULL, 7);
    uint64_t now = 0;
    model_list(r, &m, now, 7);
    for (int step = 0; step < 300; step++) {
      now = SY_MAX(now + SEC, r->due_ns);
      if (r->next == SY_KUBE__REQ_LIST) {
        model_list(r, &m, now, 1 + (unsigned)rand() % 9);
        continue;
      }
      begin(r, now, SY_KUBE__REQ_WATCH);
      /* a burst of changes, delivered as events */
      int n = rand() % 8, fate = rand() % 10;
      int rc = 0;
      for (int k = 0; k < n && rc == 0; k++) {
        int i = rand() % NOBJ;
        char nm[16], rv[16];
        snprintf(nm, sizeof(nm), "o%d", i);
        snprintf(rv, sizeof(rv), "%lu", ++m.rv);
        const char *line;
        if (m.v[i] < 0) {
          m.v[i] = rand() % 1000;
          line = ev("ADDED", nm, rv, m.v[i]);
        } else if (rand() % 3 == 0) {
          m.v[i] = -1;
          line = ev("DELETED", nm, rv, 0);
        } else {
          m.v[i] = rand() % 1000;
          line = ev("MODIFIED", nm, rv, m.v[i]);
        }
        if (fate == 0 && k == n / 2) {
          /* the history was compacted: this and later events are lost to
           * the watch; the relist must bring them in */
          rc = feed(r, "{\"type\":\"ERROR\",\"object\":{\"code\":410}}\n");
          ck_assert_int_ne(rc, 0);
          break;
        }
        rc = feed(r, line);
        ck_assert_int_eq(rc, 0);
      }
      if (rc) {
        sy_kube__reflector_watch_done(r, now, 0, NULL, 0, "aborted");
        continue;
      }
      if (fate == 1) {
        /* connection cut: events the reflector saw are kept; a resumed
         * watch from RV would replay later ones (none here) */
        sy_kube__reflector_watch_done(r, now + 2 * SEC, 0, NULL, 0, "reset");
      } else if (fate == 2) {
        sy_kube__reflector_watch_done(r, now + 2 * SEC, 410, NULL, 0, NULL);
      } else {
        if (rand() % 2) {
          char b[128];
          snprintf(b, sizeof(b), "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"%lu\"}}}\n",
                   m.rv);
          ck_assert_int_eq(feed(r, b), 0);
        }
        sy_kube__reflector_watch_done(r, now + 2 * SEC, 200, NULL, 0, NULL);
      }
      if (r->next == SY_KUBE__REQ_WATCH) {
        /* caught up: the cache is the model */
        size_t want = 0;
        for (int i = 0; i < NOBJ; i++) {
          char nm[16];
          snprintf(nm, sizeof(nm), "o%d", i);
          if (m.v[i] >= 0) want++;
          ck_assert_int_eq(val(r, nm), m.v[i] < 0 ? -100 : m.v[i]);
        }
        ck_assert_uint_eq(sy_kube_reflector_size(r), want);
        ck_assert_int_eq(live, (int)want);
      }
    }
    sy_kube__reflector_free(r);
    ck_assert_int_eq(live, 0);
  }
}
END_TEST

START_TEST(backoff_bounds) {
  for (unsigned f = 1; f < 80; f++) {
    for (int k = 0; k < 50; k++) {
      uint64_t d = sy_kube__backoff_ns(250, 30000, f);
      uint64_t full = SY_MIN(250ull << SY_MIN(f - 1, 20u), 30000ull) * 1000000ull;
      ck_assert_uint_ge(d, full / 2);
      ck_assert_uint_le(d, full);
    }
  }
  ck_assert_uint_eq(sy_kube__backoff_ns(250, 30000, 0), 0);
  /* max below min: min wins */
  ck_assert_uint_le(sy_kube__backoff_ns(500, 100, 3), 500000000ull);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("kube_event");
  TCase *tc = tcase_create("event");
  tcase_add_test(tc, ev_added_modified_deleted);
  tcase_add_test(tc, ev_cluster_scoped);
  tcase_add_test(tc, ev_bookmark);
  tcase_add_test(tc, ev_error_status);
  tcase_add_test(tc, ev_whitespace_and_cr);
  tcase_add_test(tc, ev_duplicate_keys_last_wins);
  tcase_add_test(tc, ev_rejects);
  tcase_add_test(tc, ev_rejects_binary_and_deep);
  suite_add_tcase(s, tc);

  tc = tcase_create("lines");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, lines_basic);
  tcase_add_test(tc, lines_callback_stops);
  tcase_add_test(tc, lines_random_chunking);
  tcase_add_test(tc, lines_too_long);
  suite_add_tcase(s, tc);

  tc = tcase_create("cache");
  tcase_add_test(tc, map_ops);
  suite_add_tcase(s, tc);

  tc = tcase_create("reflector");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, ref_config);
  tcase_add_test(tc, ref_list_pages_then_watch);
  tcase_add_test(tc, ref_watch_events);
  tcase_add_test(tc, ref_error_410_relists_with_replace);
  tcase_add_test(tc, ref_continue_expired_restarts_list);
  tcase_add_test(tc, ref_list_garbage);
  tcase_add_test(tc, ref_watch_failures_backoff);
  tcase_add_test(tc, ref_watch_garbage_and_long_lines);
  tcase_add_test(tc, ref_model_no_loss_no_dup);
  tcase_add_test(tc, backoff_bounds);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  sy_log_set_level(SY_LOG_ERROR);
  return sy_test_run(suite());
}
