/*
 * ext_proc protocol integration test: drives the real `switchyard` binary
 * (SY_SWITCHYARD_BIN) over loopback gRPC with an Envoy-like client
 * (bench/epclient) and checks the endpoint-picker protocol as the reference
 * describes it (shared/reference gaie §2.1–2.5, §2.7, c-dependencies P5–P11):
 *
 *  - FULL_DUPLEX_STREAMED: nothing until the request body ends, then the
 *    request_headers response (destination header + metadata, content-length,
 *    clear_route_cache) and body responses in chunks of 62000 bytes;
 *  - header-only requests, subset hints, model rewrite, error bodies;
 *  - response path (x-went-into-resp-headers, body echo), trailers;
 *  - observability mode, garbage, cancellation, oversized bodies;
 *  - gRPC health Check/Watch and UNIMPLEMENTED for unknown methods; TLS.
 *
 * Servers are started in unchecked fixtures (in Check's parent process, which
 * never touches gRPC: c-dependencies §8); every test runs in a forked child
 * that calls grpc_init itself.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "core.h"
#include "epclient.h"
#include "proc.h"
#include "test_support.h"

/* --------------------------------------------------------------- fixture */

#define POOL "pool-a"
#define NS "default"
#define PORT "8000"

static const char *const POD_IPS[] = {"127.20.0.1", "127.20.0.2", "127.20.0.3"};

typedef struct server {
  sy_proc_t proc;
  int grpc_port, health_port;
  char dir[512];
  char mdir[600];
  char target[64], health_target[64];
  bool secure;
  bool started;
} server_t;

static server_t g_srv;

static const char POOL_YAML[] =
    "apiVersion: inference.networking.k8s.io/v1\n"
    "kind: InferencePool\n"
    "metadata:\n"
    "  name: " POOL "\n"
    "  namespace: " NS "\n"
    "spec:\n"
    "  selector:\n"
    "    matchLabels:\n"
    "      app: vllm\n"
    "  targetPorts:\n"
    "  - number: " PORT "\n"
    "  endpointPickerRef:\n"
    "    name: switchyard\n"
    "    port:\n"
    "      number: 9002\n";

static void write_pods(const char *mdir, const char *ready) {
  sy_buf_t b;
  sy_buf_init(&b, 1 << 20);
  for (size_t i = 0; i < SY_ARRAY_LEN(POD_IPS); i++) {
    sy_buf_printf(&b,
                  "---\n"
                  "apiVersion: v1\n"
                  "kind: Pod\n"
                  "metadata:\n"
                  "  name: vllm-%zu\n"
                  "  namespace: " NS "\n"
                  "  labels:\n"
                  "    app: vllm\n"
                  "status:\n"
                  "  phase: Running\n"
                  "  podIP: %s\n"
                  "  conditions:\n"
                  "  - type: Ready\n"
                  "    status: \"%s\"\n",
                  i, POD_IPS[i], ready);
  }
  char path[700];
  snprintf(path, sizeof(path), "%s/pods.yaml", mdir);
  sy_file_write_atomic(path, b.data, b.len);
  sy_buf_cleanup(&b);
}

static void write_pool(const char *mdir) {
  char path[700];
  snprintf(path, sizeof(path), "%s/pool.yaml", mdir);
  sy_file_write_atomic(path, POOL_YAML, strlen(POOL_YAML));
}

/* Starts switchyard on free ports. with_pool=false leaves the InferencePool
 * out of the manifests (health must say NOT_SERVING). Runs in the parent. */
static void server_start(server_t *s, bool with_pool, const char *ready, bool secure) {
  memset(s, 0, sizeof(*s));
  const char *bin = getenv("SY_SWITCHYARD_BIN");
  if (!bin || !*bin) {
    fprintf(stderr, "SY_SWITCHYARD_BIN is not set\n");
    return;
  }
  if (sy_tmpdir_make("sy-extproc-test-", s->dir, sizeof(s->dir))) return;
  snprintf(s->mdir, sizeof(s->mdir), "%s/manifests", s->dir);
  if (mkdir(s->mdir, 0755) != 0) return;
  if (with_pool) write_pool(s->mdir);
  write_pods(s->mdir, ready);

  s->grpc_port = sy_port_free("127.0.0.1");
  do {
    s->health_port = sy_port_free("127.0.0.1");
  } while (s->health_port == s->grpc_port);
  s->secure = secure;
  snprintf(s->target, sizeof(s->target), "127.0.0.1:%d", s->grpc_port);
  snprintf(s->health_target, sizeof(s->health_target), "127.0.0.1:%d", s->health_port);

  char gp[16], hp[16], log[700];
  snprintf(gp, sizeof(gp), "%d", s->grpc_port);
  snprintf(hp, sizeof(hp), "%d", s->health_port);
  snprintf(log, sizeof(log), "%s/switchyard.log", s->dir);
  char *const argv[] = {(char *)bin,
                        "--grpc-port", gp,
                        "--grpc-health-port", hp,
                        secure ? "--secure-serving=true" : "--secure-serving=false",
                        "--manifests", s->mdir,
                        "--pool-name", POOL,
                        "--pool-namespace", NS,
                        "--grpc-workers", "2",
                        "--metrics-port", "0", /* admin server off: parallel tests would collide on 9090 */
                        "--v", "2",
                        NULL};
  if (sy_proc_spawn(&s->proc, "switchyard", argv, NULL, log)) return;
  if (sy_wait_tcp("127.0.0.1", s->grpc_port, 15000, &s->proc) ||
      sy_wait_tcp("127.0.0.1", s->health_port, 15000, &s->proc)) {
    fprintf(stderr, "switchyard did not open its ports\n");
    sy_proc_dump_log(&s->proc, 40);
    return;
  }
  s->started = true;
}

static void server_stop(server_t *s) {
  if (s->proc.pid) {
    bool alive = sy_proc_alive(&s->proc);
    int code = sy_proc_stop(&s->proc, 5000);
    /* A crash during the tests shows up here. */
    if (!alive || (code != 0 && code != 128 + SIGTERM)) {
      fprintf(stderr, "switchyard %s (exit code %d)\n", alive ? "stopped badly" : "had died", code);
      sy_proc_dump_log(&s->proc, 60);
    }
  }
  if (s->dir[0] && !getenv("SY_KEEP_TMP")) sy_tmpdir_remove(s->dir);
  memset(s, 0, sizeof(*s));
}

static void srv_ready_start(void) { server_start(&g_srv, true, "True", false); }
static void srv_unready_start(void) { server_start(&g_srv, true, "False", false); }
static void srv_nopool_start(void) { server_start(&g_srv, false, "True", false); }
static void srv_tls_start(void) { server_start(&g_srv, true, "True", true); }
static void srv_stop(void) { server_stop(&g_srv); }

/* -------------------------------------------------- per-test (child) side */

static sy_epc_channel_t *g_ch;  /* ext_proc port */
static sy_epc_channel_t *g_hch; /* health port */

static void child_setup(void) {
  grpc_init();
  if (!g_srv.started) return;
  sy_epc_channel_opts_t o = {.tls = g_srv.secure};
  sy_epc_channel_new(&g_ch, g_srv.target, &o);
  sy_epc_channel_new(&g_hch, g_srv.health_target, NULL);
}

static void child_teardown(void) {
  sy_epc_channel_free(g_ch);
  sy_epc_channel_free(g_hch);
  g_ch = g_hch = NULL;
  grpc_shutdown_blocking();
}

/* Waits until the health service reports `want` for service "". */
static void wait_health(int want, int timeout_ms) {
  ck_assert_msg(g_srv.started, "switchyard did not start (see log above)");
  uint64_t end = sy_now_ns() + (uint64_t)timeout_ms * 1000000u;
  int serving = -1;
  grpc_status_code code = GRPC_STATUS_UNKNOWN;
  int rc = 0;
  while (sy_now_ns() < end) {
    rc = sy_epc_health_check(g_hch, "", 2000, &code, &serving);
    if (rc == 0 && code == GRPC_STATUS_OK && serving == want) return;
    sy_sleep_ms(50);
  }
  ck_abort_msg("health Check(\"\") never reported %d (last rc=%d grpc=%s serving=%d)", want, rc,
               sy_epc_status_name(code), serving);
}

static void wait_serving(void) { wait_health(GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING, 15000); }

/* ---------------------------------------------------------- test helpers */

#define RECV_MS 5000
#define SILENCE_MS 300

static const sy_epc_header_t H_POST[] = {
    {":authority", "gateway.example"}, {":method", "POST"},          {":path", "/v1/completions"},
    {":scheme", "http"},               {"content-type", "application/json"},
    {"hi", "mom"},                     {"x-request-id", "test-request-id"},
    {"user-agent", "epclient-test"},
};

static const sy_epc_header_t H_GET[] = {
    {":authority", "gateway.example"}, {":method", "GET"}, {":path", "/v1/models"},
    {":scheme", "http"},               {"x-request-id", "get-request-id"},
};

static const char BODY_STD[] = "{\"max_tokens\":100,\"model\":\"food-review\",\"prompt\":\"test6\",\"temperature\":0}";

static sy_epc_stream_t *open_stream(void) {
  sy_epc_stream_t *s = NULL;
  int rc = sy_epc_stream_open(g_ch, NULL, 60000, &s);
  ck_assert_msg(rc == 0 && s, "stream open failed: %s", sy_strerror(rc));
  return s;
}

static void send_msg(sy_epc_stream_t *s, const sy_epc_req_t *r) {
  int rc = sy_epc_stream_send(s, r);
  ck_assert_msg(rc == 0, "send of kind %d failed: %s", (int)r->kind, sy_strerror(rc));
}

static void send_headers(sy_epc_stream_t *s, sy_epc_kind_t kind, const sy_epc_header_t *h, size_t n,
                         bool eos) {
  sy_epc_req_t r = {.kind = kind, .headers = h, .n_headers = n, .end_of_stream = eos};
  send_msg(s, &r);
}

static void send_body(sy_epc_stream_t *s, sy_epc_kind_t kind, const void *p, size_t n, bool eos) {
  sy_epc_req_t r = {.kind = kind, .body = p, .body_len = n, .end_of_stream = eos};
  send_msg(s, &r);
}

static sy_epc_resp_t *recv_msg(sy_epc_stream_t *s, const char *what) {
  sy_epc_resp_t *r = NULL;
  int rc = sy_epc_stream_recv(s, RECV_MS, &r);
  if (rc == 0 && !r) {
    grpc_status_code code;
    const char *det;
    sy_epc_stream_status(s, 2000, &code, &det);
    ck_abort_msg("expected %s, but the stream ended with %s \"%s\"", what, sy_epc_status_name(code), det);
  }
  ck_assert_msg(rc == 0, "expected %s, got error %s", what, sy_strerror(rc));
  return r;
}

static sy_epc_resp_t *recv_kind(sy_epc_stream_t *s, sy_epc_resp_kind_t want) {
  sy_epc_resp_t *r = recv_msg(s, sy_epc_resp_kind_name(want));
  if (sy_epc_resp_kind(r) != want) {
    int code = 0;
    const uint8_t *b = NULL;
    size_t bl = 0;
    if (sy_epc_resp_immediate(r, &code, &b, &bl) == 0)
      ck_abort_msg("expected %s, got immediate_response %d \"%.*s\"", sy_epc_resp_kind_name(want), code,
                   (int)bl, (const char *)b);
    ck_abort_msg("expected %s, got %s", sy_epc_resp_kind_name(want), sy_epc_resp_kind_name(sy_epc_resp_kind(r)));
  }
  return r;
}

static void expect_silence(sy_epc_stream_t *s, int ms, const char *when) {
  sy_epc_resp_t *r = NULL;
  int rc = sy_epc_stream_recv(s, ms, &r);
  if (rc == 0 && r)
    ck_abort_msg("%s: expected no message, got %s", when, sy_epc_resp_kind_name(sy_epc_resp_kind(r)));
  if (rc == 0 && !r) ck_abort_msg("%s: expected no message, but the stream ended", when);
  ck_assert_int_eq(rc, -ETIMEDOUT);
}

/* The server ends the stream (no further message) with status OK. */
static void expect_end(sy_epc_stream_t *s, grpc_status_code want) {
  sy_epc_resp_t *r = NULL;
  int rc = sy_epc_stream_recv(s, RECV_MS, &r);
  if (rc == 0 && r)
    ck_abort_msg("expected end of stream, got %s", sy_epc_resp_kind_name(sy_epc_resp_kind(r)));
  ck_assert_msg(rc == 0, "expected end of stream, got %s", sy_strerror(rc));
  grpc_status_code code;
  const char *det;
  rc = sy_epc_stream_status(s, RECV_MS, &code, &det);
  ck_assert_msg(rc == 0, "no gRPC status");
  ck_assert_msg(code == want, "gRPC status %s \"%s\", want %s", sy_epc_status_name(code), det,
                sy_epc_status_name(want));
}

static bool is_pod_endpoint(const char *v, size_t n) {
  for (size_t i = 0; i < SY_ARRAY_LEN(POD_IPS); i++) {
    char ep[64];
    int l = snprintf(ep, sizeof(ep), "%s:%s", POD_IPS[i], PORT);
    if ((size_t)l == n && memcmp(ep, v, n) == 0) return true;
  }
  return false;
}

/* Checks a request_headers response against gaie §2.3 and returns the
 * destination ("ip:port") in dest. */
static void check_destination(const sy_epc_resp_t *r, char *dest, size_t destlen) {
  ck_assert_int_eq(sy_epc_resp_kind(r), SY_EPC_RESP_REQUEST_HEADERS);
  ck_assert_msg(sy_epc_resp_clear_route_cache(r), "request_headers response without clear_route_cache");
  const char *v = NULL;
  size_t vl = 0;
  int n = sy_epc_resp_set_header(r, SY_EPC_KEY_DEST, &v, &vl);
  ck_assert_msg(n == 1, "want exactly one %s set_header, got %d", SY_EPC_KEY_DEST, n);
  ck_assert_msg(is_pod_endpoint(v, vl), "destination \"%.*s\" is not a pool endpoint ip:8000", (int)vl, v);
  const char *md = sy_epc_resp_dynmeta_str(r, SY_EPC_NS_LB, SY_EPC_KEY_DEST);
  ck_assert_msg(md, "dynamic_metadata[\"envoy.lb\"][\"%s\"] missing", SY_EPC_KEY_DEST);
  ck_assert_msg(strlen(md) == vl && memcmp(md, v, vl) == 0,
                "header destination \"%.*s\" != metadata destination \"%s\"", (int)vl, v, md);
  snprintf(dest, destlen, "%.*s", (int)vl, v);
}

/* "k1=v1, k2=v2" of every set header, for failure messages. */
static const char *set_headers_str(const sy_epc_resp_t *r) {
  static char out[2048];
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < sy_epc_resp_set_header_count(r) && o < sizeof(out) - 1; i++) {
    const char *k, *v;
    size_t vl;
    if (!sy_epc_resp_set_header_at(r, i, &k, &v, &vl)) continue;
    int w = snprintf(out + o, sizeof(out) - o, "%s%s=%.*s", i ? ", " : "", k, (int)SY_MIN(vl, 80), v);
    if (w < 0) break;
    o += (size_t)w;
  }
  return out;
}

static void check_set_header(const sy_epc_resp_t *r, const char *key, const char *want) {
  const char *v = NULL;
  size_t vl = 0;
  int n = sy_epc_resp_set_header(r, key, &v, &vl);
  ck_assert_msg(n == 1, "want one set_header %s, got %d (set_headers: %s)", key, n, set_headers_str(r));
  ck_assert_msg(vl == strlen(want) && memcmp(v, want, vl) == 0, "set_header %s = \"%.*s\", want \"%s\"", key,
                (int)vl, v, want);
}

static void check_no_set_header(const sy_epc_resp_t *r, const char *key) {
  int n = sy_epc_resp_set_header(r, key, NULL, NULL);
  ck_assert_msg(n == 0, "set_header %s must not be set (system-owned), found %d (set_headers: %s)", key, n,
                set_headers_str(r));
}

/* Reads body responses of `kind` until end_of_stream; appends the bytes to
 * out; records the chunk sizes. */
static void read_streamed_body(sy_epc_stream_t *s, sy_epc_resp_kind_t kind, sy_buf_t *out, size_t *sizes,
                               int max_chunks, int *n_chunks) {
  *n_chunks = 0;
  for (;;) {
    sy_epc_resp_t *r = recv_kind(s, kind);
    const uint8_t *b;
    size_t bl;
    bool eos;
    ck_assert_msg(sy_epc_resp_streamed(r, &b, &bl, &eos) == 0,
                  "%s response without body_mutation.streamed_response", sy_epc_resp_kind_name(kind));
    ck_assert(sy_buf_append(out, b, bl) == 0);
    ck_assert_msg(*n_chunks < max_chunks, "too many body chunks");
    sizes[(*n_chunks)++] = bl;
    sy_epc_resp_free(r);
    if (eos) return;
  }
}

static void check_immediate(const sy_epc_resp_t *r, int want_code, const char *want_body, bool prefix) {
  int code = 0;
  const uint8_t *b = NULL;
  size_t bl = 0;
  ck_assert_msg(sy_epc_resp_immediate(r, &code, &b, &bl) == 0, "expected immediate_response, got %s",
                sy_epc_resp_kind_name(sy_epc_resp_kind(r)));
  ck_assert_msg(code == want_code, "immediate_response status %d, want %d (body \"%.*s\")", code, want_code,
                (int)bl, (const char *)b);
  size_t wl = strlen(want_body);
  if (prefix)
    ck_assert_msg(bl >= wl && memcmp(b, want_body, wl) == 0, "immediate body \"%.*s\" lacks prefix \"%s\"",
                  (int)bl, (const char *)b, want_body);
  else
    ck_assert_msg(bl == wl && memcmp(b, want_body, wl) == 0, "immediate body \"%.*s\", want \"%s\"", (int)bl,
                  (const char *)b, want_body);
  /* gaie §2.5: no headers and no grpc_status are set. */
  const sy_epc_pb_immediate_t *im = r->msg->immediate_response;
  ck_assert_msg(im->grpc_status == NULL, "immediate_response carries a grpc_status");
  ck_assert_msg(sy_epc_resp_set_header_count(r) == 0, "immediate_response carries headers");
}

/* A full POST through the request path: headers (no EOS), body chunks, then
 * the request_headers response and streamed body. Returns the destination
 * and the forwarded body. */
typedef struct post_opts {
  const sy_epc_header_t *headers;
  size_t n_headers;
  const char *body;
  size_t body_len;
  size_t chunk;  /* split the body into chunks of this size (0 = one) */
  bool has_subset;
  const char *const *subset;
  size_t n_subset;
} post_opts_t;

static void post_send(sy_epc_stream_t *s, const post_opts_t *o) {
  sy_epc_req_t h = {.kind = SY_EPC_REQUEST_HEADERS,
                    .headers = o->headers ? o->headers : H_POST,
                    .n_headers = o->headers ? o->n_headers : SY_ARRAY_LEN(H_POST),
                    .has_subset = o->has_subset,
                    .subset = o->subset,
                    .n_subset = o->n_subset};
  send_msg(s, &h);
  size_t chunk = o->chunk ? o->chunk : o->body_len;
  size_t off = 0;
  do {
    size_t n = SY_MIN(chunk, o->body_len - off);
    send_body(s, SY_EPC_REQUEST_BODY, o->body + off, n, off + n == o->body_len);
    off += n;
  } while (off < o->body_len);
}

/* ----------------------------------------------------------------- tests */

START_TEST(test_post_full_duplex) {
  wait_serving();
  sy_epc_stream_t *s = open_stream();
  /* Headers alone: nothing comes back until the body ends (gaie §2.4). */
  send_headers(s, SY_EPC_REQUEST_HEADERS, H_POST, SY_ARRAY_LEN(H_POST), false);
  expect_silence(s, SILENCE_MS, "after request_headers without end_of_stream");
  /* Body split mid-JSON across two chunks. */
  size_t len = strlen(BODY_STD), half = len / 2;
  send_body(s, SY_EPC_REQUEST_BODY, BODY_STD, half, false);
  expect_silence(s, SILENCE_MS, "after a non-final request_body chunk");
  send_body(s, SY_EPC_REQUEST_BODY, BODY_STD + half, len - half, true);

  sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
  char dest[64];
  check_destination(r, dest, sizeof(dest));
  char cl[32];
  snprintf(cl, sizeof(cl), "%zu", len);
  check_set_header(r, "content-length", cl);
  sy_epc_resp_free(r);

  sy_buf_t body;
  sy_buf_init(&body, 1 << 20);
  size_t sizes[8];
  int n;
  read_streamed_body(s, SY_EPC_RESP_REQUEST_BODY, &body, sizes, 8, &n);
  ck_assert_msg(body.len == len && memcmp(body.data, BODY_STD, len) == 0, "forwarded body \"%s\", want \"%s\"",
                body.data, BODY_STD);
  sy_buf_cleanup(&body);

  /* Response path: headers, then an SSE body in two chunks, each echoed. */
  const sy_epc_header_t rh[] = {{":status", "200"}, {"content-type", "text/event-stream"}, {"x-upstream", "vllm"}};
  sy_epc_req_t rhm = {.kind = SY_EPC_RESPONSE_HEADERS, .headers = rh, .n_headers = 3, .served = dest};
  send_msg(s, &rhm);
  r = recv_kind(s, SY_EPC_RESP_RESPONSE_HEADERS);
  check_set_header(r, "x-went-into-resp-headers", "true");
  ck_assert_msg(!sy_epc_resp_clear_route_cache(r), "response_headers response must not clear the route cache");
  sy_epc_resp_free(r);

  const char *c1 = "data: {\"choices\":[{\"text\":\"hi\"}]}\n\n";
  const char *c2 =
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":10,\"total_tokens\":17}}\n\n"
      "data: [DONE]\n\n";
  const char *chunks[] = {c1, c2};
  for (int i = 0; i < 2; i++) {
    bool eos = i == 1;
    send_body(s, SY_EPC_RESPONSE_BODY, chunks[i], strlen(chunks[i]), eos);
    r = recv_kind(s, SY_EPC_RESP_RESPONSE_BODY);
    const uint8_t *b;
    size_t bl;
    bool reos;
    ck_assert(sy_epc_resp_streamed(r, &b, &bl, &reos) == 0);
    ck_assert_msg(bl == strlen(chunks[i]) && memcmp(b, chunks[i], bl) == 0, "response chunk %d not echoed as-is", i);
    ck_assert_msg(reos == eos, "response chunk %d echoed with end_of_stream=%d", i, reos);
    sy_epc_resp_free(r);
  }
  ck_assert_int_eq(sy_epc_stream_half_close(s), 0);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);
}
END_TEST

START_TEST(test_request_headers_reset) {
  wait_serving();
  /* Every incoming non-system request header is re-set with its value
   * (gaie §2.3; the reference hermetic test expects `hi: mom` and
   * `x-request-id: test-request-id` next to the destination, §9.2). */
  sy_epc_stream_t *s = open_stream();
  post_opts_t o = {.body = BODY_STD, .body_len = strlen(BODY_STD)};
  post_send(s, &o);
  sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
  char dest[64];
  check_destination(r, dest, sizeof(dest));
  check_set_header(r, "hi", "mom");
  check_set_header(r, "x-request-id", "test-request-id");
  check_set_header(r, "user-agent", "epclient-test");
  sy_epc_resp_free(r);
  sy_epc_stream_cancel(s);
  sy_epc_stream_free(s);
}
END_TEST

START_TEST(test_request_id_generated) {
  wait_serving();
  /* Without x-request-id the EPP generates a UUIDv4 and sets it (gaie §2.1). */
  const sy_epc_header_t h[] = {{":method", "POST"}, {":path", "/v1/completions"}, {"content-type", "application/json"}};
  sy_epc_stream_t *s = open_stream();
  post_opts_t o = {.headers = h, .n_headers = 3, .body = BODY_STD, .body_len = strlen(BODY_STD)};
  post_send(s, &o);
  sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
  char dest[64];
  check_destination(r, dest, sizeof(dest));
  const char *v = NULL;
  size_t vl = 0;
  ck_assert_msg(sy_epc_resp_set_header(r, "x-request-id", &v, &vl) == 1, "no generated x-request-id set (set_headers: %s)",
                set_headers_str(r));
  ck_assert_msg(vl == 36 && v[8] == '-' && v[13] == '-' && v[14] == '4' && v[18] == '-' && v[23] == '-',
                "x-request-id \"%.*s\" is not a UUIDv4", (int)vl, v);
  sy_epc_resp_free(r);
  sy_epc_stream_cancel(s);
  sy_epc_stream_free(s);
}
END_TEST

START_TEST(test_large_body_chunking) {
  wait_serving();
  /* 150 KiB body → streamed_response chunks of 62000 bytes, EOS on the last. */
  const size_t total = 150 * 1024;
  const char *pre = "{\"max_tokens\":10,\"model\":\"food-review\",\"prompt\":\"";
  const char *post = "\"}";
  char *body = sy_malloc(total + 1);
  ck_assert(body);
  size_t pl = strlen(pre), ql = strlen(post);
  memcpy(body, pre, pl);
  for (size_t i = pl; i < total - ql; i++) body[i] = (char)('a' + (i % 26));
  memcpy(body + total - ql, post, ql);
  body[total] = '\0';

  sy_epc_stream_t *s = open_stream();
  post_opts_t o = {.body = body, .body_len = total, .chunk = 16384};
  post_send(s, &o);
  sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
  char dest[64];
  check_destination(r, dest, sizeof(dest));
  char cl[32];
  snprintf(cl, sizeof(cl), "%zu", total);
  check_set_header(r, "content-length", cl);
  sy_epc_resp_free(r);

  sy_buf_t got;
  sy_buf_init(&got, 1 << 24);
  size_t sizes[16];
  int n;
  read_streamed_body(s, SY_EPC_RESP_REQUEST_BODY, &got, sizes, 16, &n);
  int want_n = (int)((total + SY_EPC_BODY_CHUNK - 1) / SY_EPC_BODY_CHUNK);
  ck_assert_msg(n == want_n, "%d body chunks, want %d of at most %d bytes", n, want_n, SY_EPC_BODY_CHUNK);
  for (int i = 0; i < n; i++) ck_assert_msg(sizes[i] <= SY_EPC_BODY_CHUNK, "chunk %d is %zu bytes", i, sizes[i]);
  ck_assert_msg(got.len == total && memcmp(got.data, body, total) == 0, "reassembled body differs (%zu bytes)",
                got.len);
  sy_buf_cleanup(&got);
  sy_free(body);
  ck_assert_int_eq(sy_epc_stream_half_close(s), 0);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);
}
END_TEST

START_TEST(test_get_headers_only) {
  wait_serving();
  sy_epc_stream_t *s = open_stream();
  send_headers(s, SY_EPC_REQUEST_HEADERS, H_GET, SY_ARRAY_LEN(H_GET), true);
  sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
  char dest[64];
  check_destination(r, dest, sizeof(dest));
  /* Content-Length only when there is a body (gaie §2.3). */
  check_no_set_header(r, "content-length");
  sy_epc_resp_free(r);
  /* Nothing else for the request path. */
  expect_silence(s, SILENCE_MS, "after the header-only response");
  const sy_epc_header_t rh[] = {{":status", "200"}, {"content-type", "application/json"}};
  send_headers(s, SY_EPC_RESPONSE_HEADERS, rh, 2, true);
  r = recv_kind(s, SY_EPC_RESP_RESPONSE_HEADERS);
  check_set_header(r, "x-went-into-resp-headers", "true");
  sy_epc_resp_free(r);
  ck_assert_int_eq(sy_epc_stream_half_close(s), 0);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);
}
END_TEST

/* One POST with a subset hint; returns the destination or the immediate code. */
static int post_with_subset(const char *const *subset, size_t n, bool has, char *dest, size_t destlen,
                            sy_epc_resp_t **imm) {
  sy_epc_stream_t *s = open_stream();
  post_opts_t o = {.body = BODY_STD, .body_len = strlen(BODY_STD), .has_subset = has, .subset = subset, .n_subset = n};
  post_send(s, &o);
  sy_epc_resp_t *r = recv_msg(s, "request_headers or immediate_response");
  int ret = 0;
  if (sy_epc_resp_kind(r) == SY_EPC_RESP_IMMEDIATE) {
    ret = (int)r->msg->immediate_response->status->code;
    *imm = r;
    /* After an ImmediateResponse the server ends the stream with OK. */
    expect_end(s, GRPC_STATUS_OK);
  } else {
    check_destination(r, dest, destlen);
    sy_epc_resp_free(r);
    sy_epc_stream_cancel(s);
  }
  sy_epc_stream_free(s);
  return ret;
}

START_TEST(test_subset_hint) {
  wait_serving();
  char dest[64];
  sy_epc_resp_t *imm = NULL;
  /* A single-entry subset must be obeyed every time. */
  for (size_t p = 0; p < SY_ARRAY_LEN(POD_IPS); p++) {
    char ep[64];
    snprintf(ep, sizeof(ep), "%s:%s", POD_IPS[p], PORT);
    const char *sub[] = {ep};
    for (int i = 0; i < 5; i++) {
      ck_assert_int_eq(post_with_subset(sub, 1, true, dest, sizeof(dest), &imm), 0);
      ck_assert_msg(strcmp(dest, ep) == 0, "subset [%s] routed to %s", ep, dest);
    }
  }
  /* Two of three: never the third. */
  const char *two[] = {"127.20.0.1:8000", "127.20.0.3:8000"};
  for (int i = 0; i < 10; i++) {
    ck_assert_int_eq(post_with_subset(two, 2, true, dest, sizeof(dest), &imm), 0);
    ck_assert_msg(strcmp(dest, "127.20.0.2:8000") != 0, "subset [.1,.3] routed to %s", dest);
  }
}
END_TEST

START_TEST(test_subset_ip_only) {
  wait_serving();
  char dest[64];
  sy_epc_resp_t *imm = NULL;
  /* The full EPP matches on IP only (gaie §2.2): a different port still
   * selects that pod, and the destination carries the pool's targetPort. */
  const char *otherport[] = {"127.20.0.3:9999"};
  int code = post_with_subset(otherport, 1, true, dest, sizeof(dest), &imm);
  ck_assert_msg(code == 0, "subset [127.20.0.3:9999] (pod IP, other port) answered ImmediateResponse %d; the reference "
                "EPP matches the subset on IP only and routes to 127.20.0.3:8000", code);
  ck_assert_msg(strcmp(dest, "127.20.0.3:8000") == 0, "subset [127.20.0.3:9999] routed to %s", dest);
}
END_TEST

START_TEST(test_subset_no_match_503) {
  wait_serving();
  char dest[64];
  sy_epc_resp_t *imm = NULL;
  const char *none[] = {"127.29.9.9:8000"};
  int code = post_with_subset(none, 1, true, dest, sizeof(dest), &imm);
  ck_assert_msg(code == 503, "subset without a pool member: got %s", code ? "another code" : dest);
  check_immediate(imm, 503,
                  "inference error: ServiceUnavailable - failed to find endpoint candidates for serving the request",
                  false);
  sy_epc_resp_free(imm);
  imm = NULL;
  /* Key present with an empty list: no candidates → 503 as well. */
  code = post_with_subset(NULL, 0, true, dest, sizeof(dest), &imm);
  ck_assert_msg(code == 503, "empty subset list: got %s", code ? "another code" : dest);
  check_immediate(imm, 503,
                  "inference error: ServiceUnavailable - failed to find endpoint candidates for serving the request",
                  false);
  sy_epc_resp_free(imm);
}
END_TEST

START_TEST(test_model_rewrite) {
  wait_serving();
  const sy_epc_header_t h[] = {{":method", "POST"},
                               {":path", "/v1/completions"},
                               {"content-type", "application/json"},
                               {"x-request-id", "rw-1"},
                               {"x-gateway-model-name-rewrite", "rewritten-model"},
                               {"x-gateway-inference-objective", "food-review"},
                               {"x-gateway-inference-fairness-id", "tenant-a"},
                               {"content-length", "999"}};
  const char *in = "{\"model\":\"model-to-be-rewritten\",\"prompt\":\"hi\"}";
  const char *want = "{\"model\":\"rewritten-model\",\"prompt\":\"hi\"}";
  sy_epc_stream_t *s = open_stream();
  post_opts_t o = {.headers = h, .n_headers = SY_ARRAY_LEN(h), .body = in, .body_len = strlen(in)};
  post_send(s, &o);
  sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
  char dest[64];
  check_destination(r, dest, sizeof(dest));
  char cl[32];
  snprintf(cl, sizeof(cl), "%zu", strlen(want));
  /* The new length, once: the incoming content-length is system-owned. */
  check_set_header(r, "content-length", cl);
  check_no_set_header(r, "x-gateway-model-name-rewrite");
  check_no_set_header(r, "x-gateway-inference-objective");
  check_no_set_header(r, "x-gateway-inference-fairness-id");
  sy_epc_resp_free(r);
  sy_buf_t body;
  sy_buf_init(&body, 1 << 20);
  size_t sizes[4];
  int n;
  read_streamed_body(s, SY_EPC_RESP_REQUEST_BODY, &body, sizes, 4, &n);
  ck_assert_msg(body.len == strlen(want) && memcmp(body.data, want, body.len) == 0, "rewritten body \"%s\", want \"%s\"",
                body.data, want);
  sy_buf_cleanup(&body);
  sy_epc_stream_cancel(s);
  sy_epc_stream_free(s);
}
END_TEST

START_TEST(test_missing_model_400) {
  wait_serving();
  const char *b = "{\"prompt\":\"hello world\"}";
  sy_epc_stream_t *s = open_stream();
  post_opts_t o = {.body = b, .body_len = strlen(b)};
  post_send(s, &o);
  sy_epc_resp_t *r = recv_msg(s, "immediate_response");
  check_immediate(r, 400, "inference error: BadRequest - model not found in request body", false);
  sy_epc_resp_free(r);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);

  /* Not JSON at all: 400 BadRequest as well (the message text is the
   * parser's own, so only the prefix is fixed). */
  const char *junk = "no healthy upstream";
  s = open_stream();
  post_opts_t o2 = {.body = junk, .body_len = strlen(junk)};
  post_send(s, &o2);
  r = recv_msg(s, "immediate_response");
  check_immediate(r, 400, "inference error: BadRequest - ", true);
  sy_epc_resp_free(r);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);
}
END_TEST

START_TEST(test_trailers) {
  wait_serving();
  sy_epc_stream_t *s = open_stream();
  /* The body never carries EOS: request trailers end it. */
  send_headers(s, SY_EPC_REQUEST_HEADERS, H_POST, SY_ARRAY_LEN(H_POST), false);
  send_body(s, SY_EPC_REQUEST_BODY, BODY_STD, strlen(BODY_STD), false);
  expect_silence(s, SILENCE_MS, "before the request trailers");
  const sy_epc_header_t tr[] = {{"x-trailer", "1"}};
  sy_epc_req_t t = {.kind = SY_EPC_REQUEST_TRAILERS, .headers = tr, .n_headers = 1};
  send_msg(s, &t);
  /* Order is always Header → Body → Trailer (gaie §2.4). */
  sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
  char dest[64];
  check_destination(r, dest, sizeof(dest));
  sy_epc_resp_free(r);
  sy_buf_t body;
  sy_buf_init(&body, 1 << 20);
  for (;;) {
    r = recv_msg(s, "request_body or request_trailers");
    if (sy_epc_resp_kind(r) == SY_EPC_RESP_REQUEST_TRAILERS) break;
    ck_assert_msg(sy_epc_resp_kind(r) == SY_EPC_RESP_REQUEST_BODY, "got %s",
                  sy_epc_resp_kind_name(sy_epc_resp_kind(r)));
    const uint8_t *b;
    size_t bl;
    bool eos;
    ck_assert(sy_epc_resp_streamed(r, &b, &bl, &eos) == 0);
    sy_buf_append(&body, b, bl);
    sy_epc_resp_free(r);
  }
  ck_assert_msg(body.len == strlen(BODY_STD) && memcmp(body.data, BODY_STD, body.len) == 0,
                "body before the trailers response differs: \"%s\"", body.data ? body.data : "");
  sy_buf_cleanup(&body);
  sy_epc_resp_free(r);

  /* Response path of a gRPC-style upstream: body without EOS, then trailers. */
  const sy_epc_header_t rh[] = {{":status", "200"}, {"content-type", "application/json"}};
  send_headers(s, SY_EPC_RESPONSE_HEADERS, rh, 2, false);
  r = recv_kind(s, SY_EPC_RESP_RESPONSE_HEADERS);
  sy_epc_resp_free(r);
  const char *rb = "{\"object\":\"text_completion\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}";
  send_body(s, SY_EPC_RESPONSE_BODY, rb, strlen(rb), false);
  sy_epc_req_t rt = {.kind = SY_EPC_RESPONSE_TRAILERS, .headers = tr, .n_headers = 1};
  send_msg(s, &rt);
  sy_buf_init(&body, 1 << 20);
  for (;;) {
    r = recv_msg(s, "response_body or response_trailers");
    if (sy_epc_resp_kind(r) == SY_EPC_RESP_RESPONSE_TRAILERS) break;
    ck_assert_msg(sy_epc_resp_kind(r) == SY_EPC_RESP_RESPONSE_BODY, "got %s",
                  sy_epc_resp_kind_name(sy_epc_resp_kind(r)));
    const uint8_t *b;
    size_t bl;
    bool eos;
    ck_assert(sy_epc_resp_streamed(r, &b, &bl, &eos) == 0);
    sy_buf_append(&body, b, bl);
    sy_epc_resp_free(r);
  }
  sy_epc_resp_free(r);
  ck_assert_msg(body.len == strlen(rb) && memcmp(body.data, rb, body.len) == 0,
                "response body before the trailers response differs: \"%s\"", body.data ? body.data : "");
  sy_buf_cleanup(&body);
  ck_assert_int_eq(sy_epc_stream_half_close(s), 0);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);
}
END_TEST

START_TEST(test_pipelined_order) {
  wait_serving();
  /* Envoy in FULL_DUPLEX_STREAMED mode does not wait: send the whole
   * exchange at once, then check the responses arrive in order. */
  sy_epc_stream_t *s = open_stream();
  post_opts_t o = {.body = BODY_STD, .body_len = strlen(BODY_STD), .chunk = 20};
  post_send(s, &o);
  const sy_epc_header_t rh[] = {{":status", "200"}, {"content-type", "application/json"}};
  send_headers(s, SY_EPC_RESPONSE_HEADERS, rh, 2, false);
  const char *rb = "{\"id\":\"x\",\"object\":\"text_completion\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}";
  send_body(s, SY_EPC_RESPONSE_BODY, rb, strlen(rb), true);
  ck_assert_int_eq(sy_epc_stream_half_close(s), 0);

  sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
  char dest[64];
  check_destination(r, dest, sizeof(dest));
  sy_epc_resp_free(r);
  sy_buf_t body;
  sy_buf_init(&body, 1 << 20);
  size_t sizes[8];
  int n;
  read_streamed_body(s, SY_EPC_RESP_REQUEST_BODY, &body, sizes, 8, &n);
  ck_assert_msg(body.len == strlen(BODY_STD), "request body length %zu", body.len);
  sy_buf_reset(&body);
  r = recv_kind(s, SY_EPC_RESP_RESPONSE_HEADERS);
  check_set_header(r, "x-went-into-resp-headers", "true");
  sy_epc_resp_free(r);
  read_streamed_body(s, SY_EPC_RESP_RESPONSE_BODY, &body, sizes, 8, &n);
  ck_assert_msg(body.len == strlen(rb) && memcmp(body.data, rb, body.len) == 0, "response body \"%s\"", body.data);
  sy_buf_cleanup(&body);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);
}
END_TEST

START_TEST(test_json_response_multi_chunk) {
  wait_serving();
  /* A non-streamed JSON response in two chunks plus an empty EOS chunk. The
   * reference buffers it and answers once at EOS (gaie §2.4); echoing each
   * chunk is equivalent for Envoy. Either way: the bytes come back
   * unchanged, in order, with end_of_stream on the last message only. */
  sy_epc_stream_t *s = open_stream();
  post_opts_t o = {.body = BODY_STD, .body_len = strlen(BODY_STD)};
  post_send(s, &o);
  sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
  sy_epc_resp_free(r);
  sy_buf_t body;
  sy_buf_init(&body, 1 << 20);
  size_t sizes[8];
  int n;
  read_streamed_body(s, SY_EPC_RESP_REQUEST_BODY, &body, sizes, 8, &n);
  sy_buf_reset(&body);
  const sy_epc_header_t rh[] = {{":status", "200"}, {"content-type", "application/json"}};
  send_headers(s, SY_EPC_RESPONSE_HEADERS, rh, 2, false);
  r = recv_kind(s, SY_EPC_RESP_RESPONSE_HEADERS);
  sy_epc_resp_free(r);
  const char *full = "{\"id\":\"c1\",\"object\":\"text_completion\",\"model\":\"food-review\","
                     "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,\"total_tokens\":11}}";
  size_t fl = strlen(full), cut = fl / 3;
  send_body(s, SY_EPC_RESPONSE_BODY, full, cut, false);
  send_body(s, SY_EPC_RESPONSE_BODY, full + cut, fl - cut, false);
  send_body(s, SY_EPC_RESPONSE_BODY, "", 0, true);
  read_streamed_body(s, SY_EPC_RESP_RESPONSE_BODY, &body, sizes, 8, &n);
  ck_assert_msg(body.len == fl && memcmp(body.data, full, fl) == 0, "response body came back as \"%s\"", body.data);
  sy_buf_cleanup(&body);
  ck_assert_int_eq(sy_epc_stream_half_close(s), 0);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);
}
END_TEST

START_TEST(test_observability_mode) {
  wait_serving();
  sy_epc_stream_t *s = open_stream();
  sy_epc_req_t m = {.kind = SY_EPC_REQUEST_HEADERS, .headers = H_POST, .n_headers = SY_ARRAY_LEN(H_POST),
                    .observability_mode = true};
  send_msg(s, &m);
  sy_epc_req_t b = {.kind = SY_EPC_REQUEST_BODY, .body = BODY_STD, .body_len = strlen(BODY_STD),
                    .end_of_stream = true, .observability_mode = true};
  send_msg(s, &b);
  const sy_epc_header_t rh[] = {{":status", "200"}};
  sy_epc_req_t h2 = {.kind = SY_EPC_RESPONSE_HEADERS, .headers = rh, .n_headers = 1, .observability_mode = true};
  send_msg(s, &h2);
  sy_epc_req_t b2 = {.kind = SY_EPC_RESPONSE_BODY, .body = "{}", .body_len = 2, .end_of_stream = true,
                     .observability_mode = true};
  send_msg(s, &b2);
  expect_silence(s, SILENCE_MS, "in observability mode");
  ck_assert_int_eq(sy_epc_stream_half_close(s), 0);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);
}
END_TEST

/* A complete POST that must succeed: proves the server is still healthy. */
static void post_ok(void) {
  sy_epc_stream_t *s = open_stream();
  post_opts_t o = {.body = BODY_STD, .body_len = strlen(BODY_STD)};
  post_send(s, &o);
  sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
  char dest[64];
  check_destination(r, dest, sizeof(dest));
  sy_epc_resp_free(r);
  sy_buf_t body;
  sy_buf_init(&body, 1 << 20);
  size_t sizes[4];
  int n;
  read_streamed_body(s, SY_EPC_RESP_REQUEST_BODY, &body, sizes, 4, &n);
  sy_buf_cleanup(&body);
  ck_assert_int_eq(sy_epc_stream_half_close(s), 0);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);
}

START_TEST(test_garbage_invalid_argument) {
  wait_serving();
  sy_epc_stream_t *s = open_stream();
  /* Field 2 (request_headers) declared as a 100-byte message, 3 bytes given,
   * plus an invalid wire type: not a ProcessingRequest. */
  const uint8_t junk[] = {0x12, 0x64, 0xff, 0xff, 0xff, 0x07, 0x07};
  ck_assert_int_eq(sy_epc_stream_send_raw(s, junk, sizeof(junk)), 0);
  expect_end(s, GRPC_STATUS_INVALID_ARGUMENT);
  sy_epc_stream_free(s);
  post_ok();
}
END_TEST

START_TEST(test_cancel_mid_stream) {
  wait_serving();
  for (int i = 0; i < 20; i++) {
    sy_epc_stream_t *s = open_stream();
    send_headers(s, SY_EPC_REQUEST_HEADERS, H_POST, SY_ARRAY_LEN(H_POST), false);
    send_body(s, SY_EPC_REQUEST_BODY, BODY_STD, 10, false);
    if (i % 2) {
      /* Cancel after the decision too (response path open). */
      send_body(s, SY_EPC_REQUEST_BODY, BODY_STD + 10, strlen(BODY_STD) - 10, true);
      sy_epc_resp_t *r = recv_kind(s, SY_EPC_RESP_REQUEST_HEADERS);
      sy_epc_resp_free(r);
    }
    sy_epc_stream_cancel(s);
    sy_epc_stream_free(s);
  }
  post_ok();
}
END_TEST

START_TEST(test_oversized_body) {
  wait_serving();
  /* 17 MiB in 1 MiB chunks: over the default 16 MiB limit. The outcome code
   * is not fixed; the server must answer with an ImmediateResponse or an
   * error status (never route it) and keep serving. */
  const size_t chunk = 1 << 20, total = 17 * chunk;
  char *buf = sy_malloc(chunk);
  ck_assert(buf);
  memset(buf, 'x', chunk);
  memcpy(buf, "{\"model\":\"food-review\",\"prompt\":\"", 33);
  sy_epc_stream_t *s = open_stream();
  send_headers(s, SY_EPC_REQUEST_HEADERS, H_POST, SY_ARRAY_LEN(H_POST), false);
  for (size_t off = 0; off < total; off += chunk) {
    sy_epc_req_t b = {.kind = SY_EPC_REQUEST_BODY, .body = buf, .body_len = chunk, .end_of_stream = off + chunk == total};
    if (sy_epc_stream_send(s, &b) != 0) break; /* the server already closed */
  }
  sy_free(buf);
  sy_epc_resp_t *r = NULL;
  int rc = sy_epc_stream_recv(s, 20000, &r);
  ck_assert_msg(rc == 0, "no answer to an oversized body: %s", sy_strerror(rc));
  if (r) {
    int code = 0;
    const uint8_t *b;
    size_t bl;
    ck_assert_msg(sy_epc_resp_immediate(r, &code, &b, &bl) == 0, "oversized body answered with %s",
                  sy_epc_resp_kind_name(sy_epc_resp_kind(r)));
    ck_assert_msg(code >= 400 && code < 600, "oversized body: immediate status %d", code);
    fprintf(stderr, "oversized body: ImmediateResponse %d \"%.*s\"\n", code, (int)bl, (const char *)b);
    sy_epc_resp_free(r);
  } else {
    grpc_status_code code;
    const char *det;
    ck_assert_int_eq(sy_epc_stream_status(s, RECV_MS, &code, &det), 0);
    ck_assert_msg(code != GRPC_STATUS_OK, "oversized body: stream ended OK without an answer");
    fprintf(stderr, "oversized body: gRPC status %s \"%s\"\n", sy_epc_status_name(code), det);
  }
  sy_epc_stream_free(s);
  post_ok();
}
END_TEST

START_TEST(test_concurrent_streams) {
  wait_serving();
  enum { N = 32 };
  sy_epc_stream_t *s[N];
  for (int i = 0; i < N; i++) {
    s[i] = open_stream();
    post_opts_t o = {.body = BODY_STD, .body_len = strlen(BODY_STD)};
    post_send(s[i], &o);
  }
  for (int i = 0; i < N; i++) {
    sy_epc_resp_t *r = recv_kind(s[i], SY_EPC_RESP_REQUEST_HEADERS);
    char dest[64];
    check_destination(r, dest, sizeof(dest));
    sy_epc_resp_free(r);
    sy_buf_t body;
    sy_buf_init(&body, 1 << 20);
    size_t sizes[4];
    int n;
    read_streamed_body(s[i], SY_EPC_RESP_REQUEST_BODY, &body, sizes, 4, &n);
    ck_assert_uint_eq(body.len, strlen(BODY_STD));
    sy_buf_cleanup(&body);
    ck_assert_int_eq(sy_epc_stream_half_close(s[i]), 0);
    expect_end(s[i], GRPC_STATUS_OK);
    sy_epc_stream_free(s[i]);
  }
}
END_TEST

START_TEST(test_health_serving) {
  wait_serving();
  const char *services[] = {"", "readiness", "liveness", "envoy.service.ext_proc.v3.ExternalProcessor"};
  for (size_t i = 0; i < SY_ARRAY_LEN(services); i++) {
    grpc_status_code code;
    int serving = -1;
    int rc = sy_epc_health_check(g_hch, services[i], 3000, &code, &serving);
    ck_assert_msg(rc == 0, "Check(\"%s\"): %s", services[i], sy_strerror(rc));
    ck_assert_msg(code == GRPC_STATUS_OK, "Check(\"%s\"): gRPC %s", services[i], sy_epc_status_name(code));
    ck_assert_msg(serving == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING,
                  "Check(\"%s\") = %d, want SERVING", services[i], serving);
  }
  sy_epc_stream_t *w = NULL;
  ck_assert_int_eq(sy_epc_health_watch(g_hch, "readiness", 10000, &w), 0);
  int serving = -1;
  int rc = sy_epc_health_watch_next(w, 3000, &serving);
  ck_assert_msg(rc == 0, "Watch(readiness): %s", rc == 1 ? "stream ended" : sy_strerror(rc));
  ck_assert_int_eq(serving, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  sy_epc_stream_cancel(w);
  sy_epc_stream_free(w);
}
END_TEST

START_TEST(test_unknown_method_unimplemented) {
  wait_serving();
  /* P5: unknown methods must get UNIMPLEMENTED promptly, not hang. */
  sy_epc_channel_t *chs[] = {g_ch, g_hch};
  for (size_t i = 0; i < 2; i++) {
    grpc_status_code code = GRPC_STATUS_OK;
    uint64_t t0 = sy_now_ns();
    int rc = sy_epc_unary_raw(chs[i], "/foo.Bar/Baz", "", 0, 3000, &code, NULL, NULL);
    uint64_t ms = (sy_now_ns() - t0) / 1000000u;
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(code == GRPC_STATUS_UNIMPLEMENTED, "%s port: /foo.Bar/Baz → %s after %llu ms",
                  i ? "health" : "ext_proc", sy_epc_status_name(code), (unsigned long long)ms);
    ck_assert_msg(ms < 2000, "UNIMPLEMENTED took %llu ms", (unsigned long long)ms);
  }
}
END_TEST

/* A second switchyard on a port in use must fail, not share it: gRPC's
 * default SO_REUSEPORT would let it bind and silently take half of the
 * connections. */
START_TEST(test_port_in_use) {
  wait_serving();
  const char *bin = getenv("SY_SWITCHYARD_BIN");
  int hp = sy_port_free("127.0.0.1");
  ck_assert_int_gt(hp, 0);
  char gp[16], hps[16], log[700];
  snprintf(gp, sizeof(gp), "%d", g_srv.grpc_port);
  snprintf(hps, sizeof(hps), "%d", hp);
  snprintf(log, sizeof(log), "%s/second.log", g_srv.dir);
  char *const argv[] = {(char *)bin, "--grpc-port", gp, "--grpc-health-port", hps, "--secure-serving=false",
                        "--manifests", g_srv.mdir, "--pool-name", POOL, "--pool-namespace", NS,
                        "--metrics-port", "0", NULL};
  sy_proc_t second;
  memset(&second, 0, sizeof(second));
  ck_assert_int_eq(sy_proc_spawn(&second, "switchyard-2", argv, NULL, log), 0);
  int rc = sy_proc_wait(&second, 10000);
  if (rc != 0) sy_proc_stop(&second, 2000);
  ck_assert_msg(rc == 0, "a second switchyard on port %d is still running", g_srv.grpc_port);
  ck_assert_int_eq(sy_proc_exit_code(&second), 1);
  char text[16384];
  FILE *f = fopen(log, "r");
  ck_assert_ptr_nonnull(f);
  size_t n = fread(text, 1, sizeof(text) - 1, f);
  fclose(f);
  text[n] = '\0';
  char want[64];
  snprintf(want, sizeof(want), "cannot listen on 0.0.0.0:%d", g_srv.grpc_port);
  ck_assert_msg(strstr(text, want), "no \"%s\" in the second server's log:\n%s", want, text);
  post_ok(); /* the first one still serves */
}
END_TEST

START_TEST(test_server_survives) {
  /* Last test of the case: after all of the above the process still runs. */
  wait_serving();
  post_ok();
  /* The server is the parent's child: look at /proc rather than waitpid. */
  char path[64], st[512];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)g_srv.proc.pid);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f, "switchyard (pid %d) is gone", (int)g_srv.proc.pid);
  size_t n = fread(st, 1, sizeof(st) - 1, f);
  fclose(f);
  st[n] = '\0';
  const char *rp = strrchr(st, ')');
  ck_assert_msg(rp && rp[1] == ' ' && rp[2] != 'Z', "switchyard (pid %d) has exited", (int)g_srv.proc.pid);
}
END_TEST

/* ------------------------------------------------ no ready endpoints case */

START_TEST(test_no_ready_endpoints) {
  wait_serving(); /* the pool itself is loaded */
  sy_epc_stream_t *s = open_stream();
  post_opts_t o = {.body = BODY_STD, .body_len = strlen(BODY_STD)};
  post_send(s, &o);
  sy_epc_resp_t *r = recv_msg(s, "immediate_response");
  check_immediate(r, 503,
                  "inference error: ServiceUnavailable - failed to find endpoint candidates for serving the request",
                  false);
  sy_epc_resp_free(r);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);

  /* Header-only request with no pods: 500 (gaie §2.4). */
  s = open_stream();
  send_headers(s, SY_EPC_REQUEST_HEADERS, H_GET, SY_ARRAY_LEN(H_GET), true);
  r = recv_msg(s, "immediate_response");
  check_immediate(r, 500, "inference error: Internal - no pods available in datastore", false);
  sy_epc_resp_free(r);
  expect_end(s, GRPC_STATUS_OK);
  sy_epc_stream_free(s);
}
END_TEST

/* ------------------------------------------------------ no pool loaded case */

START_TEST(test_health_not_serving_then_watch) {
  ck_assert_msg(g_srv.started, "switchyard did not start");
  const int NOT_SERVING = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
  const int SERVING = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  const char *services[] = {"", "readiness", "liveness", "envoy.service.ext_proc.v3.ExternalProcessor"};
  for (size_t i = 0; i < SY_ARRAY_LEN(services); i++) {
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    int serving = -1, rc = -1;
    /* Retry briefly until the health port answers at all. */
    for (int k = 0; k < 50; k++) {
      rc = sy_epc_health_check(g_hch, services[i], 2000, &code, &serving);
      if (rc == 0 && code == GRPC_STATUS_OK) break;
      sy_sleep_ms(100);
    }
    ck_assert_msg(rc == 0 && code == GRPC_STATUS_OK, "Check(\"%s\"): rc %d gRPC %s", services[i], rc,
                  sy_epc_status_name(code));
    ck_assert_msg(serving == NOT_SERVING, "Check(\"%s\") without the pool = %d, want NOT_SERVING", services[i],
                  serving);
  }
  sy_epc_stream_t *w = NULL;
  ck_assert_int_eq(sy_epc_health_watch(g_hch, "readiness", 20000, &w), 0);
  int serving = -1;
  int rc = sy_epc_health_watch_next(w, 3000, &serving);
  ck_assert_msg(rc == 0, "Watch: %s", rc == 1 ? "stream ended" : sy_strerror(rc));
  ck_assert_int_eq(serving, NOT_SERVING);
  /* The pool appears in the manifests: the watch must stream SERVING. */
  write_pool(g_srv.mdir);
  uint64_t end = sy_now_ns() + 5000000000ull;
  while (serving != SERVING && sy_now_ns() < end) {
    rc = sy_epc_health_watch_next(w, 5000, &serving);
    ck_assert_msg(rc == 0, "Watch after the pool appeared: %s", rc == 1 ? "stream ended" : sy_strerror(rc));
  }
  ck_assert_msg(serving == SERVING, "Watch never reported SERVING after the pool appeared");
  sy_epc_stream_cancel(w);
  sy_epc_stream_free(w);
  grpc_status_code code;
  ck_assert_int_eq(sy_epc_health_check(g_hch, "readiness", 3000, &code, &serving), 0);
  ck_assert_int_eq(serving, SERVING);
  post_ok();
}
END_TEST

/* ---------------------------------------------------------------- TLS case */

START_TEST(test_tls_get) {
  ck_assert_msg(g_srv.started, "switchyard did not start");
  /* Self-signed certificate, no verification (gaie §2.8). Retry until the
   * pool is loaded; the health port may or may not be TLS. */
  uint64_t end = sy_now_ns() + 15000000000ull;
  for (;;) {
    sy_epc_stream_t *s = open_stream();
    send_headers(s, SY_EPC_REQUEST_HEADERS, H_GET, SY_ARRAY_LEN(H_GET), true);
    sy_epc_resp_t *r = NULL;
    int rc = sy_epc_stream_recv(s, 3000, &r);
    if (rc == 0 && r && sy_epc_resp_kind(r) == SY_EPC_RESP_REQUEST_HEADERS) {
      char dest[64];
      check_destination(r, dest, sizeof(dest));
      sy_epc_resp_free(r);
      sy_epc_stream_free(s);
      break;
    }
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    const char *det = "";
    if (rc == 0 && !r) sy_epc_stream_status(s, 1000, &code, &det);
    sy_epc_resp_free(r);
    sy_epc_stream_free(s);
    ck_assert_msg(sy_now_ns() < end, "no routed answer over TLS (last rc %d, status %s \"%s\")", rc,
                  sy_epc_status_name(code), det);
    sy_sleep_ms(200);
  }
}
END_TEST

/* ------------------------------------------------------------------ main */

static TCase *tcase(const char *name, void (*start)(void)) {
  TCase *tc = tcase_create(name);
  tcase_add_unchecked_fixture(tc, start, srv_stop);
  tcase_add_checked_fixture(tc, child_setup, child_teardown);
  tcase_set_timeout(tc, 90);
  return tc;
}

static Suite *suite(void) {
  Suite *s = suite_create("extproc_protocol");
  TCase *tc = tcase("ready", srv_ready_start);
  tcase_add_test(tc, test_post_full_duplex);
  tcase_add_test(tc, test_request_headers_reset);
  tcase_add_test(tc, test_request_id_generated);
  tcase_add_test(tc, test_large_body_chunking);
  tcase_add_test(tc, test_get_headers_only);
  tcase_add_test(tc, test_subset_hint);
  tcase_add_test(tc, test_subset_ip_only);
  tcase_add_test(tc, test_subset_no_match_503);
  tcase_add_test(tc, test_model_rewrite);
  tcase_add_test(tc, test_missing_model_400);
  tcase_add_test(tc, test_trailers);
  tcase_add_test(tc, test_pipelined_order);
  tcase_add_test(tc, test_json_response_multi_chunk);
  tcase_add_test(tc, test_observability_mode);
  tcase_add_test(tc, test_garbage_invalid_argument);
  tcase_add_test(tc, test_cancel_mid_stream);
  tcase_add_test(tc, test_oversized_body);
  tcase_add_test(tc, test_concurrent_streams);
  tcase_add_test(tc, test_health_serving);
  tcase_add_test(tc, test_unknown_method_unimplemented);
  tcase_add_test(tc, test_port_in_use);
  tcase_add_test(tc, test_server_survives);
  suite_add_tcase(s, tc);

  tc = tcase("unready", srv_unready_start);
  tcase_add_test(tc, test_no_ready_endpoints);
  suite_add_tcase(s, tc);

  tc = tcase("nopool", srv_nopool_start);
  tcase_add_test(tc, test_health_not_serving_then_watch);
  suite_add_tcase(s, tc);

  tc = tcase("tls", srv_tls_start);
  tcase_add_test(tc, test_tls_get);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
