/* Unit tests for lib/admin: the server on a free loopback port with fake
 * providers, driven by libcurl (routes, status codes, content types, bodies,
 * bearer token, keep-alive, large and oversized bodies) and by a minimal
 * raw-socket WebSocket client (/live frames, subprotocol, auth). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "admin.h"
#include "core.h"
#include "test_support.h"

/* ================================================================ fakes */

#define BIG_BODY (1u << 20) /* > many WCHUNKs */

typedef struct fake {
  atomic_bool ready;
  atomic_int live_calls;
} fake_t;

static int f_metrics(void *ctx, sy_buf_t *out) {
  SY_UNUSED(ctx);
  return sy_buf_append_str(out, "# TYPE sy_up gauge\nsy_up 1\n");
}

static bool f_ready(void *ctx) { return atomic_load(&((fake_t *)ctx)->ready); }

static int f_debug(void *ctx, const char *what, sy_buf_t *out) {
  SY_UNUSED(ctx);
  if (strcmp(what, "pools") == 0) return sy_buf_append_str(out, "{\"pools\":[{\"name\":\"p\"}]}");
  if (strcmp(what, "routes") == 0) return SY_ENOTFOUND;
  if (strcmp(what, "config") == 0) return SY_EINTERNAL;
  if (strcmp(what, "endpoints") == 0) {
    /* A large, patterned body: must arrive complete and in order. */
    int rc = 0;
    for (unsigned i = 0; !rc && i < BIG_BODY; i++) rc = sy_buf_append(out, &"0123456789abcdef"[i % 16], 1);
    return rc;
  }
  if (strcmp(what, "decisions") == 0) {
    /* Over the bounded buffer: the provider gets SY_ETOOBIG and passes it on. */
    static char chunk[64 * 1024];
    memset(chunk, 'x', sizeof(chunk));
    int rc = 0;
    while (!rc) rc = sy_buf_append(out, chunk, sizeof(chunk));
    return rc;
  }
  return SY_ENOTFOUND;
}

static int f_live(void *ctx, sy_buf_t *out) {
  fake_t *f = ctx;
  int n = atomic_fetch_add(&f->live_calls, 1) + 1;
  /* ~40 KiB so the frame goes out in several fragments. */
  int rc = sy_buf_printf(out, "{\"ts\":%d,\"pad\":\"", n);
  for (int i = 0; !rc && i < 40000; i++) rc = sy_buf_append(out, "p", 1);
  return rc ? rc : sy_buf_append_str(out, "\"}");
}

static fake_t g_fake;
static sy_admin_t *g_admin;
static int g_port;

static void start_with(const char *token) {
  atomic_store(&g_fake.ready, true);
  atomic_store(&g_fake.live_calls, 0);
  sy_admin_providers_t p = {
      .metrics = f_metrics, .ready = f_ready, .debug_json = f_debug, .live_json = f_live, .ctx = &g_fake};
  sy_admin_config_t cfg = {.listen_host = "127.0.0.1", .port = 0, .bearer_token = token, .live_interval_ms = 50};
  char err[256];
  int rc = sy_admin_start(&g_admin, &cfg, &p, err, sizeof(err));
  ck_assert_msg(rc == 0, "start: %s", err);
  g_port = sy_admin_port(g_admin);
  ck_assert_int_gt(g_port, 0);
}

static void setup_open(void) { start_with(NULL); }
static void setup_token(void) { start_with("s3cret-token"); }
static void teardown(void) {
  sy_admin_stop(g_admin);
  g_admin = NULL;
}

/* ================================================================ curl */

typedef struct resp {
  long status;
  char ctype[128];
  char www_auth[128];
  sy_buf_t body;
  long connects;
} resp_t;

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
  return sy_buf_append(ud, p, sz * n) ? 0 : sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  resp_t *r = ud;
  size_t len = sz * n;
  static const char wa[] = "www-authenticate:";
  if (len > sizeof(wa) && strncasecmp(p, wa, sizeof(wa) - 1) == 0) {
    const char *v = p + sizeof(wa) - 1;
    while (*v == ' ') v++;
    snprintf(r->www_auth, sizeof(r->www_auth), "%.*s", (int)(p + len - v), v);
    char *e = r->www_auth + strlen(r->www_auth);
    while (e > r->www_auth && (e[-1] == '\r' || e[-1] == '\n')) *--e = 0;
  }
  return len;
}

/* GET path on the server with `curl` (reused for keep-alive when given). */
static void get_on(CURL *c, const char *path, const char *auth, resp_t *r) {
  char url[256], hdr[256];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", g_port, path);
  memset(r, 0, sizeof(*r));
  sy_buf_init(&r->body, 16u << 20);
  struct curl_slist *h = NULL;
  if (auth) {
    snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
    h = curl_slist_append(h, hdr);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  CURLcode cc = curl_easy_perform(c);
  ck_assert_msg(cc == CURLE_OK, "GET %s: %s", path, curl_easy_strerror(cc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  char *ct = NULL;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
  snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(h);
}

static void get(const char *path, const char *auth, resp_t *r) {
  CURL *c = curl_easy_init();
  ck_assert_ptr_nonnull(c);
  get_on(c, path, auth, r);
  curl_easy_cleanup(c);
}

static const char *body(resp_t *r) { return r->body.data ? r->body.data : ""; }

/* ================================================================ http */

START_TEST(test_health_ready) {
  resp_t r;
  get("/healthz", NULL, &r);
  ck_assert_int_eq(r.status, 200);
  ck_assert_str_eq(r.ctype, "text/plain; charset=utf-8");
  ck_assert_str_eq(body(&r), "ok\n");
  sy_buf_cleanup(&r.body);
  get("/readyz", NULL, &r);
  ck_assert_int_eq(r.status, 200);
  sy_buf_cleanup(&r.body);
  atomic_store(&g_fake.ready, false);
  get("/readyz", NULL, &r);
  ck_assert_int_eq(r.status, 503);
  sy_buf_cleanup(&r.body);
  get("/healthz", NULL, &r); /* liveness does not follow readiness */
  ck_assert_int_eq(r.status, 200);
  sy_buf_cleanup(&r.body);
}
END_TEST

START_TEST(test_metrics) {
  resp_t r;
  get("/metrics", NULL, &r);
  ck_assert_int_eq(r.status, 200);
  ck_assert_str_eq(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
  ck_assert_str_eq(body(&r), "# TYPE sy_up gauge\nsy_up 1\n");
  sy_buf_cleanup(&r.body);
  get("/metrics?x=1", NULL, &r); /* query strings are ignored */
  ck_assert_int_eq(r.status, 200);
  sy_buf_cleanup(&r.body);
}
END_TEST

START_TEST(test_debug_routes) {
  resp_t r;
  get("/debug/pools", NULL, &r);
  ck_assert_int_eq(r.status, 200);
  ck_assert_str_eq(r.ctype, "application/json");
  ck_assert_str_eq(body(&r), "{\"pools\":[{\"name\":\"p\"}]}");
  sy_buf_cleanup(&r.body);
  get("/debug/routes", NULL, &r); /* provider says SY_ENOTFOUND */
  ck_assert_int_eq(r.status, 404);
  sy_buf_cleanup(&r.body);
  get("/debug/config", NULL, &r); /* provider error */
  ck_assert_int_eq(r.status, 500);
  sy_buf_cleanup(&r.body);
  get("/debug/secrets", NULL, &r); /* not a known `what`: provider not asked */
  ck_assert_int_eq(r.status, 404);
  sy_buf_cleanup(&r.body);
  get("/debug/", NULL, &r);
  ck_assert_int_eq(r.status, 404);
  sy_buf_cleanup(&r.body);
}
END_TEST

START_TEST(test_unknown_paths) {
  const char *paths[] = {"/nope", "/metricsx", "/dashboard/nope.js", "/dashboard/../admin.c", "/healthz/x"};
  for (size_t i = 0; i < SY_ARRAY_LEN(paths); i++) {
    resp_t r;
    get(paths[i], NULL, &r);
    ck_assert_msg(r.status == 404, "%s: %ld", paths[i], r.status);
    sy_buf_cleanup(&r.body);
  }
}
END_TEST

START_TEST(test_methods) {
  /* Read-only: other methods get 405 (with or without a body), and the
   * server keeps serving. */
  const char *methods[] = {"POST", "PUT", "DELETE", "HEAD"};
  for (size_t i = 0; i < SY_ARRAY_LEN(methods); i++) {
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    resp_t r;
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, methods[i]);
    if (strcmp(methods[i], "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(methods[i], "DELETE") != 0) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "abc");
    get_on(c, "/metrics", NULL, &r);
    ck_assert_msg(r.status == 405, "%s: %ld", methods[i], r.status);
    sy_buf_cleanup(&r.body);
    curl_easy_cleanup(c);
  }
  resp_t r;
  get("/healthz", NULL, &r);
  ck_assert_int_eq(r.status, 200);
  sy_buf_cleanup(&r.body);
}
END_TEST

START_TEST(test_large_and_oversized) {
  resp_t r;
  get("/debug/endpoints", NULL, &r);
  ck_assert_int_eq(r.status, 200);
  ck_assert_uint_eq(r.body.len, BIG_BODY);
  for (size_t i = 0; i < r.body.len; i++)
    if (r.body.data[i] != "0123456789abcdef"[i % 16]) ck_abort_msg("byte %zu corrupted", i);
  sy_buf_cleanup(&r.body);
  get("/debug/decisions", NULL, &r); /* > SY_ADMIN_BODY_MAX */
  ck_assert_int_eq(r.status, 500);
  ck_assert_ptr_nonnull(strstr(body(&r), "internal error"));
  sy_buf_cleanup(&r.body);
}
END_TEST

START_TEST(test_keepalive) {
  CURL *c = curl_easy_init();
  resp_t r;
  get_on(c, "/debug/endpoints", NULL, &r); /* large body, then reuse */
  ck_assert_int_eq(r.status, 200);
  sy_buf_cleanup(&r.body);
  for (int i = 0; i < 3; i++) {
    get_on(c, i == 1 ? "/nope" : "/metrics", NULL, &r);
    ck_assert_int_eq(r.connects, 0); /* no new connection */
    sy_buf_cleanup(&r.body);
  }
  curl_easy_cleanup(c);
}
END_TEST

START_TEST(test_dashboard_assets) {
  const struct {
    const char *path, *ctype, *needle;
  } want[] = {
      {"/", "text/html; charset=utf-8", "<title>switchyard</title>"},
      {"/dashboard/", "text/html; charset=utf-8", "/dashboard/app.js"},
      {"/dashboard/app.js", "text/javascript; charset=utf-8", "switchyard-live"},
      {"/dashboard/style.css", "text/css; charset=utf-8", ".kv"},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(want); i++) {
    resp_t r;
    get(want[i].path, NULL, &r);
    ck_assert_msg(r.status == 200, "%s: %ld", want[i].path, r.status);
    ck_assert_str_eq(r.ctype, want[i].ctype);
    ck_assert_msg(strstr(body(&r), want[i].needle), "%s lacks %s", want[i].path, want[i].needle);
    sy_buf_cleanup(&r.body);
  }
}
END_TEST

START_TEST(test_bearer_token) {
  resp_t r;
  const char *guarded[] = {"/metrics", "/debug/pools"};
  for (size_t i = 0; i < SY_ARRAY_LEN(guarded); i++) {
    get(guarded[i], NULL, &r);
    ck_assert_int_eq(r.status, 401);
    ck_assert_str_eq(r.www_auth, "Bearer realm=\"switchyard\"");
    sy_buf_cleanup(&r.body);
    get(guarded[i], "Bearer wrong", &r);
    ck_assert_int_eq(r.status, 401);
    sy_buf_cleanup(&r.body);
    get(guarded[i], "Bearer s3cret-token-longer", &r);
    ck_assert_int_eq(r.status, 401);
    sy_buf_cleanup(&r.body);
    get(guarded[i], "Basic s3cret-token", &r);
    ck_assert_int_eq(r.status, 401);
    sy_buf_cleanup(&r.body);
    get(guarded[i], "Bearer s3cret-token", &r);
    ck_assert_int_eq(r.status, 200);
    sy_buf_cleanup(&r.body);
    get(guarded[i], "bearer s3cret-token", &r); /* scheme is case-insensitive */
    ck_assert_int_eq(r.status, 200);
    sy_buf_cleanup(&r.body);
  }
  /* Probes and the page itself stay open. */
  const char *open_paths[] = {"/healthz", "/readyz", "/", "/dashboard/app.js"};
  for (size_t i = 0; i < SY_ARRAY_LEN(open_paths); i++) {
    get(open_paths[i], NULL, &r);
    ck_assert_msg(r.status == 200, "%s: %ld", open_paths[i], r.status);
    sy_buf_cleanup(&r.body);
  }
}
END_TEST

/* ============================================================ websocket */

static int tcp_connect(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  return fd;
}

static int read_full(int fd, void *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 5000) != 1) return -1;
    ssize_t k = read(fd, (char *)p + got, n - got);
    if (k <= 0) return -1;
    got += (size_t)k;
  }
  return 0;
}

/* Sends the upgrade; returns the HTTP status of the answer (101 on success)
 * or -1 if the server closed without one. */
static int ws_handshake(int fd, const char *path, const char *protocol) {
  char req[512];
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                   path, protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "", protocol ? "\r\n" : "");
  ck_assert_int_eq(write(fd, req, (size_t)n), n);
  char hdr[2048];
  size_t len = 0;
  while (len < sizeof(hdr) - 1) { /* byte by byte: stop exactly at the blank line */
    if (read_full(fd, hdr + len, 1)) break;
    len++;
    hdr[len] = 0;
    if (len >= 4 && memcmp(hdr + len - 4, "\r\n\r\n", 4) == 0) break;
  }
  hdr[len] = 0;
  int status = -1;
  if (sscanf(hdr, "HTTP/1.1 %d", &status) != 1) return -1;
  if (status == 101) {
    ck_assert_msg(strcasestr(hdr, "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "%s", hdr);
    ck_assert_msg(strcasestr(hdr, "sec-websocket-protocol: switchyard-live"), "%s", hdr);
  }
  return status;
}

/* Reads one complete text message (reassembling fragments) into `out`. */
static void ws_read_message(int fd, sy_buf_t *out) {
  bool fin = false;
  int frames = 0;
  while (!fin) {
    unsigned char h[2];
    ck_assert_int_eq(read_full(fd, h, 2), 0);
    fin = h[0] & 0x80;
    int op = h[0] & 0x0f;
    ck_assert_msg(op == (frames ? 0 : 1), "opcode %d in frame %d", op, frames);
    ck_assert_msg(!(h[1] & 0x80), "server frames must not be masked");
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
      unsigned char e[2];
      ck_assert_int_eq(read_full(fd, e, 2), 0);
      len = ((uint64_t)e[0] << 8) | e[1];
    } else if (len == 127) {
      unsigned char e[8];
      ck_assert_int_eq(read_full(fd, e, 8), 0);
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | e[i];
    }
    ck_assert_uint_lt(len, 1u << 24);
    size_t old = out->len;
    char *tmp = sy_malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(tmp);
    ck_assert_int_eq(read_full(fd, tmp, (size_t)len), 0);
    ck_assert_int_eq(sy_buf_append(out, tmp, (size_t)len), 0);
    sy_free(tmp);
    ck_assert_uint_eq(out->len, old + len);
    frames++;
  }
}

START_TEST(test_ws_live_frames) {
  int fd = tcp_connect();
  ck_assert_int_eq(ws_handshake(fd, "/live", "switchyard-live"), 101);
  int last = 0;
  for (int i = 0; i < 3; i++) {
    sy_buf_t m;
    sy_buf_init(&m, 16u << 20);
    ws_read_message(fd, &m);
    int ts = 0;
    ck_assert_msg(sscanf(m.data, "{\"ts\":%d,", &ts) == 1, "frame: %.60s", m.data);
    ck_assert_int_gt(ts, last); /* every message is a newer frame */
    last = ts;
    ck_assert_uint_gt(m.len, 40000);
    ck_assert_str_eq(m.data + m.len - 2, "\"}");
    sy_buf_cleanup(&m);
  }
  close(fd);
}
END_TEST

START_TEST(test_ws_refused) {
  int fd = tcp_connect();
  ck_assert_int_ne(ws_handshake(fd, "/live", NULL), 101); /* no subprotocol */
  close(fd);
  fd = tcp_connect();
  ck_assert_int_ne(ws_handshake(fd, "/other", "switchyard-live"), 101); /* wrong path */
  close(fd);
  /* Nothing is rendered while nobody listens. */
  ck_assert_int_eq(atomic_load(&g_fake.live_calls), 0);
}
END_TEST

START_TEST(test_ws_token) {
  int fd = tcp_connect();
  ck_assert_int_ne(ws_handshake(fd, "/live", "switchyard-live"), 101);
  close(fd);
  fd = tcp_connect();
  ck_assert_int_ne(ws_handshake(fd, "/live?token=wrong", "switchyard-live"), 101);
  close(fd);
  fd = tcp_connect();
  ck_assert_int_eq(ws_handshake(fd, "/live?token=s3cret-token", "switchyard-live"), 101);
  sy_buf_t m;
  sy_buf_init(&m, 16u << 20);
  ws_read_message(fd, &m);
  ck_assert_ptr_nonnull(strstr(m.data, "\"ts\":"));
  sy_buf_cleanup(&m);
  close(fd);
}
END_TEST

/* ============================================================ lifecycle */

START_TEST(test_start_errors) {
  sy_admin_stop(NULL);
  sy_admin_providers_t p = {.ctx = NULL};
  sy_admin_config_t cfg = {.listen_host = "127.0.0.1", .port = 0};
  sy_admin_t *a = NULL, *b = NULL;
  char err[256];
  ck_assert_int_eq(sy_admin_start(&a, &cfg, &p, err, sizeof(err)), 0);
  /* Providers may be absent: probes still answer. */
  g_port = sy_admin_port(a);
  resp_t r;
  get("/readyz", NULL, &r);
  ck_assert_int_eq(r.status, 200);
  sy_buf_cleanup(&r.body);
  get("/metrics", NULL, &r);
  ck_assert_int_eq(r.status, 404);
  sy_buf_cleanup(&r.body);
  /* The same port twice: a clear error, not a silent retry loop. */
  cfg.port = g_port;
  ck_assert_int_eq(sy_admin_start(&b, &cfg, &p, err, sizeof(err)), -EADDRINUSE);
  ck_assert_ptr_null(b);
  ck_assert_ptr_nonnull(strstr(err, "cannot listen"));
  cfg.listen_host = "not-an-ip";
  cfg.port = 0;
  ck_assert_int_eq(sy_admin_start(&b, &cfg, &p, err, sizeof(err)), SY_EINVAL);
  cfg.listen_host = "127.0.0.1";
  cfg.bearer_token = "";
  ck_assert_int_eq(sy_admin_start(&b, &cfg, &p, NULL, 0), SY_EINVAL);
  sy_admin_stop(a);
}
END_TEST

static Suite *admin_suite(void) {
  Suite *s = suite_create("admin");
  TCase *tc = tcase_create("http");
  tcase_add_checked_fixture(tc, setup_open, teardown);
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_health_ready);
  tcase_add_test(tc, test_metrics);
  tcase_add_test(tc, test_debug_routes);
  tcase_add_test(tc, test_unknown_paths);
  tcase_add_test(tc, test_methods);
  tcase_add_test(tc, test_large_and_oversized);
  tcase_add_test(tc, test_keepalive);
  tcase_add_test(tc, test_dashboard_assets);
  suite_add_tcase(s, tc);

  tc = tcase_create("auth");
  tcase_add_checked_fixture(tc, setup_token, teardown);
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_bearer_token);
  tcase_add_test(tc, test_ws_token);
  suite_add_tcase(s, tc);

  tc = tcase_create("websocket");
  tcase_add_checked_fixture(tc, setup_open, teardown);
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_ws_live_frames);
  tcase_add_test(tc, test_ws_refused);
  suite_add_tcase(s, tc);

  tc = tcase_create("lifecycle");
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_start_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = sy_test_run(admin_suite());
  curl_global_cleanup();
  return rc;
}
