/* Unit tests for lib/kube's client: easy-handle preparation (headers, the
 * bearer token re-read after rotation) and sy_kube_request against a tiny
 * canned HTTP/1.1 responder on loopback (one request per connection; not an
 * API server), plus transport errors, limits and concurrent use. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "kube.h"
#include "kube_int.h"
#include "test_support.h"

/* ================================================================ server */

typedef struct srv {
  int fd;
  int port;
  pthread_t th;
  atomic_bool stop;
  const char *response; /* raw bytes sent after each request; NULL: never answer */
  pthread_mutex_t mu;
  char last[16384]; /* the last request, headers and body */
  size_t last_len;
  int n_reqs;
} srv_t;

static void *srv_main(void *arg) {
  srv_t *s = arg;
  while (!atomic_load(&s->stop)) {
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    if (poll(&p, 1, 20) <= 0) continue;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) continue;
    char req[16384];
    size_t n = 0;
    size_t need = 0; /* total bytes once the headers are known */
    while (n < sizeof(req) - 1) {
      ssize_t r = recv(c, req + n, sizeof(req) - 1 - n, 0);
      if (r <= 0) break;
      n += (size_t)r;
      req[n] = '\0';
      char *end = strstr(req, "\r\n\r\n");
      if (!end) continue;
      if (!need) {
        size_t cl = 0;
        for (char *h = req; h && h < end; h = strstr(h, "\r\n") ? strstr(h, "\r\n") + 2 : NULL) {
          if (strncasecmp(h, "Content-Length:", 15) == 0) cl = strtoul(h + 15, NULL, 10);
        }
        need = (size_t)(end + 4 - req) + cl;
      }
      if (n >= need) break;
    }
    pthread_mutex_lock(&s->mu);
    memcpy(s->last, req, n);
    s->last[n] = '\0';
    s->last_len = n;
    s->n_reqs++;
    pthread_mutex_unlock(&s->mu);
    if (s->response) {
      size_t len = strlen(s->response), off = 0;
      while (off < len) {
        ssize_t w = send(c, s->response + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
      }
    } else {
      /* hang until told to stop */
      while (!atomic_load(&s->stop)) usleep(10000);
    }
    close(c);
  }
  return NULL;
}

static void srv_start(srv_t *s, const char *response) {
  memset(s, 0, sizeof(*s));
  s->response = response;
  pthread_mutex_init(&s->mu, NULL);
  s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(s->fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ck_assert_int_eq(listen(s->fd, 64), 0);
  socklen_t al = sizeof(a);
  getsockname(s->fd, (struct sockaddr *)&a, &al);
  s->port = ntohs(a.sin_port);
  ck_assert_int_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(srv_t *s) {
  atomic_store(&s->stop, true);
  pthread_join(s->th, NULL);
  close(s->fd);
  pthread_mutex_destroy(&s->mu);
}

static int closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  socklen_t al = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &al);
  close(fd);
  return ntohs(a.sin_port);
}

/* A config for http://127.0.0.1:port; token/token_file borrowed. */
static sy_kube_config_t cfg_for(int port, char *server, size_t n, char *token, char *token_file) {
  snprintf(server, n, "http://127.0.0.1:%d", port);
  return (sy_kube_config_t){.server = server, .token = token, .token_file = token_file, .origin = "test"};
}

static sy_kube_client_t *client_for(const sy_kube_config_t *cfg) {
  sy_kube_client_t *c = NULL;
  char err[256] = "";
  int rc = sy_kube_client_new(&c, cfg, err, sizeof(err));
  ck_assert_msg(rc == 0, "client_new: %s", err);
  return c;
}

static const char *find_header(void *headers, const char *prefix) {
  for (struct curl_slist *l = headers; l; l = l->next) {
    if (strncmp(l->data, prefix, strlen(prefix)) == 0) return l->data;
  }
  return NULL;
}

static void write_file(const char *path, const char *content) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fputs(content, f);
  fclose(f);
}

#define OK_JSON                                                                       \
  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n" \
  "Connection: close\r\n\r\n{\"kind\":\"PodList\"}"

/* ================================================================ prepare */

START_TEST(test_prepare_headers) {
  char server[64];
  sy_kube_config_t cfg = cfg_for(1, server, sizeof(server), "static-tok", NULL);
  sy_kube_client_t *c = client_for(&cfg);
  const sy_kube_config_t *cc = sy_kube_client_config(c);
  ck_assert_ptr_ne(cc, &cfg);
  ck_assert_str_eq(cc->server, server);
  ck_assert_str_eq(cc->token, "static-tok");
  CURL *e = curl_easy_init();
  void *h = NULL;
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/api/v1/pods?watch=1", NULL, &h), 0);
  ck_assert_str_eq(find_header(h, "Authorization:"), "Authorization: Bearer static-tok");
  ck_assert_str_eq(find_header(h, "Accept:"), "Accept: application/json");
  ck_assert_ptr_null(find_header(h, "Content-Type:"));
  curl_slist_free_all(h);
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/x", "application/merge-patch+json", &h), 0);
  ck_assert_str_eq(find_header(h, "Content-Type:"), "Content-Type: application/merge-patch+json");
  curl_slist_free_all(h);
  /* bad paths */
  h = (void *)1;
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "api/v1", NULL, &h), SY_EINVAL);
  ck_assert_ptr_null(h);
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/a b", NULL, &h), SY_EINVAL);
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/a\r\nX: y", NULL, &h), SY_EINVAL);
  char err[256];
  ck_assert_int_eq(sy_kube__client_prepare(c, e, "/x", "a\r\nb", &h, err, sizeof(err)), SY_EINVAL);
  ck_assert_str_eq(err, "kube request: bad content type");
  curl_easy_cleanup(e);
  sy_kube_client_free(c);

  /* no credentials: no Authorization header */
  cfg = cfg_for(1, server, sizeof(server), NULL, NULL);
  c = client_for(&cfg);
  e = curl_easy_init();
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/version", NULL, &h), 0);
  ck_assert_ptr_null(find_header(h, "Authorization:"));
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  sy_kube_client_free(c);
  sy_kube_client_free(NULL);
}
END_TEST

START_TEST(test_token_rotation) {
  char dir[] = "/tmp/sykubeXXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char tok[4200], tmp[4200];
  snprintf(tok, sizeof(tok), "%s/token", dir);
  snprintf(tmp, sizeof(tmp), "%s/token.new", dir);
  write_file(tok, "  tok-1\n");
  char server[64];
  sy_kube_config_t cfg = cfg_for(1, server, sizeof(server), NULL, tok);
  sy_kube_client_t *c = client_for(&cfg);
  ck_assert_uint_eq(sy_kube__client_token_reads(c), 1);
  CURL *e = curl_easy_init();
  void *h = NULL;
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/a", NULL, &h), 0);
  ck_assert_str_eq(find_header(h, "Authorization:"), "Authorization: Bearer tok-1");
  curl_slist_free_all(h);
  ck_assert_uint_eq(sy_kube__client_token_reads(c), 1); /* unchanged: cached */

  /* rotation by rename (new inode), like kubelet's projected volumes */
  write_file(tmp, "tok-2-rotated\n");
  ck_assert_int_eq(rename(tmp, tok), 0);
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/a", NULL, &h), 0);
  ck_assert_str_eq(find_header(h, "Authorization:"), "Authorization: Bearer tok-2-rotated");
  curl_slist_free_all(h);
  ck_assert_uint_eq(sy_kube__client_token_reads(c), 2);

  /* rewritten in place with the same size: the mtime tells */
  write_file(tok, "tok-3-rotated\n");
  struct timespec ts[2] = {{.tv_sec = 1000000, .tv_nsec = 0}, {.tv_sec = 1000000, .tv_nsec = 0}};
  ck_assert_int_eq(utimensat(AT_FDCWD, tok, ts, 0), 0);
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/a", NULL, &h), 0);
  ck_assert_str_eq(find_header(h, "Authorization:"), "Authorization: Bearer tok-3-rotated");
  curl_slist_free_all(h);
  ck_assert_uint_eq(sy_kube__client_token_reads(c), 3);

  /* gone or garbage mid-rotation: the last good token is kept */
  ck_assert_int_eq(unlink(tok), 0);
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/a", NULL, &h), 0);
  ck_assert_str_eq(find_header(h, "Authorization:"), "Authorization: Bearer tok-3-rotated");
  curl_slist_free_all(h);
  write_file(tok, "\n");
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/a", NULL, &h), 0);
  ck_assert_str_eq(find_header(h, "Authorization:"), "Authorization: Bearer tok-3-rotated");
  curl_slist_free_all(h);
  write_file(tok, "tok-4\n");
  ck_assert_int_eq(sy_kube_client_prepare(c, e, "/a", NULL, &h), 0);
  ck_assert_str_eq(find_header(h, "Authorization:"), "Authorization: Bearer tok-4");
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  sy_kube_client_free(c);

  /* an unreadable token file fails client creation with a message... */
  ck_assert_int_eq(unlink(tok), 0);
  sy_kube_client_t *c2 = NULL;
  char err[256] = "";
  ck_assert_int_eq(sy_kube_client_new(&c2, &cfg, err, sizeof(err)), -ENOENT);
  ck_assert_ptr_null(c2);
  ck_assert_ptr_nonnull(strstr(err, "kube client: test: token file "));
  ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
  /* ...unless a static token can stand in */
  cfg.token = "fallback";
  c2 = client_for(&cfg);
  e = curl_easy_init();
  ck_assert_int_eq(sy_kube_client_prepare(c2, e, "/a", NULL, &h), 0);
  ck_assert_str_eq(find_header(h, "Authorization:"), "Authorization: Bearer fallback");
  curl_slist_free_all(h);
  write_file(tok, "from-file\n"); /* the file wins once readable */
  ck_assert_int_eq(sy_kube_client_prepare(c2, e, "/a", NULL, &h), 0);
  ck_assert_str_eq(find_header(h, "Authorization:"), "Authorization: Bearer from-file");
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  sy_kube_client_free(c2);
}
END_TEST

START_TEST(test_client_new_errors) {
  sy_kube_client_t *c = (sy_kube_client_t *)1;
  char err[256] = "";
  sy_kube_config_t cfg = {.server = NULL};
  ck_assert_int_eq(sy_kube_client_new(&c, &cfg, err, sizeof(err)), SY_EINVAL);
  ck_assert_ptr_null(c);
  ck_assert_str_eq(err, "kube client: no server in the config");
  ck_assert_int_eq(sy_kube_client_new(&c, NULL, err, sizeof(err)), SY_EINVAL);
  cfg = (sy_kube_config_t){.server = "https://h", .cert_pem = "-----BEGIN", .cert_len = 10, .origin = "o"};
  ck_assert_int_eq(sy_kube_client_new(&c, &cfg, err, sizeof(err)), SY_EINVAL);
  ck_assert_str_eq(err, "kube client: o: a client certificate needs a key and vice versa");
}
END_TEST

/* =============================================================== request */

START_TEST(test_request_ok) {
  srv_t s;
  srv_start(&s, OK_JSON);
  char server[64];
  sy_kube_config_t cfg = cfg_for(s.port, server, sizeof(server), "tok", NULL);
  sy_kube_client_t *c = client_for(&cfg);
  sy_kube_response_t r;
  sy_kube_response_init(&r);
  int rc = sy_kube_request(c, "GET", "/api/v1/namespaces/ns/pods?limit=5", NULL, NULL, 0, 5000, &r);
  ck_assert_msg(rc == 0, "rc %d: %s", rc, r.err);
  ck_assert_int_eq(r.status, 200);
  ck_assert_str_eq(r.body.data, "{\"kind\":\"PodList\"}");
  ck_assert_str_eq(r.err, "");
  pthread_mutex_lock(&s.mu);
  ck_assert_ptr_nonnull(strstr(s.last, "GET /api/v1/namespaces/ns/pods?limit=5 HTTP/1.1\r\n"));
  ck_assert_ptr_nonnull(strstr(s.last, "\r\nAuthorization: Bearer tok\r\n"));
  ck_assert_ptr_nonnull(strstr(s.last, "\r\nAccept: application/json\r\n"));
  ck_assert_ptr_nonnull(strstr(s.last, "\r\nUser-Agent: switchyard/0.1\r\n"));
  ck_assert_ptr_null(strstr(s.last, "Content-Type:"));
  pthread_mutex_unlock(&s.mu);

  /* the same response struct reused: reset first */
  rc = sy_kube_request(c, "PATCH", "/apis/x/v1/y", "application/merge-patch+json", "{\"a\":1}", 7, 0, &r);
  ck_assert_int_eq(rc, 0);
  ck_assert_uint_eq(r.body.len, 18);
  pthread_mutex_lock(&s.mu);
  ck_assert_ptr_nonnull(strstr(s.last, "PATCH /apis/x/v1/y HTTP/1.1\r\n"));
  ck_assert_ptr_nonnull(strstr(s.last, "\r\nContent-Type: application/merge-patch+json\r\n"));
  ck_assert_ptr_nonnull(strstr(s.last, "\r\nContent-Length: 7\r\n"));
  ck_assert_ptr_nonnull(strstr(s.last, "\r\n\r\n{\"a\":1}"));
  pthread_mutex_unlock(&s.mu);

  rc = sy_kube_request(c, "POST", "/apis/x/v1/y", NULL, "{}", 2, 0, &r);
  ck_assert_int_eq(rc, 0);
  pthread_mutex_lock(&s.mu);
  ck_assert_ptr_nonnull(strstr(s.last, "POST /apis/x/v1/y HTTP/1.1\r\n"));
  ck_assert_ptr_nonnull(strstr(s.last, "\r\nContent-Type: application/json\r\n"));
  ck_assert_ptr_null(strstr(s.last, "Expect:"));
  pthread_mutex_unlock(&s.mu);

  rc = sy_kube_request(c, "PUT", "/apis/x/v1/y", NULL, "{}", 2, 0, &r);
  ck_assert_int_eq(rc, 0);
  pthread_mutex_lock(&s.mu);
  ck_assert_ptr_nonnull(strstr(s.last, "PUT /apis/x/v1/y HTTP/1.1\r\n"));
  pthread_mutex_unlock(&s.mu);

  rc = sy_kube_request(c, "DELETE", "/apis/x/v1/y", NULL, NULL, 0, 0, &r);
  ck_assert_int_eq(rc, 0);
  pthread_mutex_lock(&s.mu);
  ck_assert_ptr_nonnull(strstr(s.last, "DELETE /apis/x/v1/y HTTP/1.1\r\n"));
  ck_assert_ptr_null(strstr(s.last, "Content-Type:"));
  ck_assert_int_eq(s.n_reqs, 5);
  pthread_mutex_unlock(&s.mu);

  /* argument errors */
  ck_assert_int_eq(sy_kube_request(c, "BREW", "/x", NULL, NULL, 0, 0, &r), SY_EINVAL);
  ck_assert_str_eq(r.err, "kube request: unsupported method \"BREW\"");
  ck_assert_int_eq(sy_kube_request(c, "GET", "/x", NULL, "{}", 2, 0, &r), SY_EINVAL);
  ck_assert_int_eq(sy_kube_request(c, "POST", "/x", NULL, NULL, 3, 0, &r), SY_EINVAL);
  ck_assert_int_eq(sy_kube_request(c, "GET", "x", NULL, NULL, 0, 0, &r), SY_EINVAL);
  ck_assert_str_eq(r.err, "kube request: the path must start with '/'");
  ck_assert_int_eq(r.status, 0);

  sy_kube_response_cleanup(&r);
  sy_kube_client_free(c);
  srv_stop(&s);
}
END_TEST

#define NOT_FOUND                                                                                    \
  "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 141\r\n"              \
  "Connection: close\r\n\r\n"                                                                        \
  "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"pods \\\"x\\\" " \
  "not found\",\"reason\":\"NotFound\",\"code\":404,\"details\":{\"name\":\"x\"}}"

START_TEST(test_request_status) {
  ck_assert_uint_eq(strlen(strstr(NOT_FOUND, "\r\n\r\n") + 4), 141);
  srv_t s;
  srv_start(&s, NOT_FOUND);
  char server[64];
  sy_kube_config_t cfg = cfg_for(s.port, server, sizeof(server), NULL, NULL);
  sy_kube_client_t *c = client_for(&cfg);
  sy_kube_response_t r;
  sy_kube_response_init(&r);
  int rc = sy_kube_request(c, "GET", "/api/v1/namespaces/ns/pods/x", NULL, NULL, 0, 5000, &r);
  ck_assert_int_eq(rc, 0);
  ck_assert_int_eq(r.status, 404);
  ck_assert_str_eq(r.err, "pods \"x\" not found");
  ck_assert_uint_eq(r.body.len, 141);
  sy_kube_response_cleanup(&r);
  sy_kube_client_free(c);
  srv_stop(&s);
}
END_TEST

START_TEST(test_status_message) {
  char out[64];
  const char *st = "{\"kind\":\"Status\",\"reason\":\"Expired\",\"code\":410}";
  sy_kube__status_message(st, strlen(st), out, sizeof(out));
  ck_assert_str_eq(out, "Expired");
  st = "{\"message\":\"\",\"reason\":\"Forbidden\"}";
  sy_kube__status_message(st, strlen(st), out, sizeof(out));
  ck_assert_str_eq(out, "Forbidden");
  st = "<html>\n<body>502 Bad Gateway</body>\n</html>\n";
  sy_kube__status_message(st, strlen(st), out, sizeof(out));
  ck_assert_str_eq(out, "<html> <body>502 Bad Gateway</body> </html>");
  st = "{\"message\":\"a\\nb\"}";
  sy_kube__status_message(st, strlen(st), out, sizeof(out));
  ck_assert_str_eq(out, "a b");
  sy_kube__status_message(NULL, 0, out, sizeof(out));
  ck_assert_str_eq(out, "");
  /* truncated to the buffer */
  char small[8];
  st = "{\"message\":\"a long message indeed\"}";
  sy_kube__status_message(st, strlen(st), small, sizeof(small));
  ck_assert_str_eq(small, "a long ");
  ck_assert_int_eq(sy_kube__curl_code(CURLE_OPERATION_TIMEDOUT), -ETIMEDOUT);
  ck_assert_int_eq(sy_kube__curl_code(CURLE_PEER_FAILED_VERIFICATION), -EPROTO);
  ck_assert_int_eq(sy_kube__curl_code(CURLE_RECV_ERROR), -EIO);
  ck_assert_int_eq(sy_kube__curl_code(CURLE_OK), 0);
}
END_TEST

START_TEST(test_request_transport_errors) {
  char server[64];
  sy_kube_config_t cfg = cfg_for(closed_port(), server, sizeof(server), "tok", NULL);
  sy_kube_client_t *c = client_for(&cfg);
  sy_kube_response_t r;
  sy_kube_response_init(&r);
  int rc = sy_kube_request(c, "GET", "/api/v1/pods", NULL, NULL, 0, 5000, &r);
  ck_assert_int_eq(rc, -ECONNREFUSED);
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strncmp(r.err, "GET /api/v1/pods: ", 18) == 0 && strstr(r.err, "127.0.0.1") != NULL, "%s", r.err);
  sy_kube_client_free(c);

  /* no answer: the total timeout */
  srv_t s;
  srv_start(&s, NULL);
  cfg = cfg_for(s.port, server, sizeof(server), NULL, NULL);
  c = client_for(&cfg);
  uint64_t t0 = sy_now_ns();
  rc = sy_kube_request(c, "GET", "/slow", NULL, NULL, 0, 200, &r);
  uint64_t ms = (sy_now_ns() - t0) / 1000000u;
  ck_assert_int_eq(rc, -ETIMEDOUT);
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strstr(r.err, "GET /slow: ") == r.err, "%s", r.err);
  ck_assert_uint_lt(ms, 3000);
  sy_kube_client_free(c);
  srv_stop(&s);

  /* a body over 64 MiB is refused from its Content-Length */
  srv_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 67108865\r\nConnection: close\r\n\r\nxxxx");
  cfg = cfg_for(s.port, server, sizeof(server), NULL, NULL);
  c = client_for(&cfg);
  rc = sy_kube_request(c, "GET", "/big", NULL, NULL, 0, 5000, &r);
  ck_assert_int_eq(rc, SY_ETOOBIG);
  ck_assert_str_eq(r.err, "GET /big: response body larger than 64 MiB");
  ck_assert_int_eq(r.status, 0);
  sy_kube_client_free(c);
  srv_stop(&s);

  /* unsupported scheme never reaches the network */
  cfg = (sy_kube_config_t){.server = "file:///etc"};
  c = client_for(&cfg);
  rc = sy_kube_request(c, "GET", "/passwd", NULL, NULL, 0, 1000, &r);
  ck_assert_int_lt(rc, 0);
  ck_assert_int_eq(r.status, 0);
  ck_assert_uint_eq(r.body.len, 0);
  sy_kube_client_free(c);
  sy_kube_response_cleanup(&r);
}
END_TEST

typedef struct worker {
  sy_kube_client_t *c;
  int ok;
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = arg;
  sy_kube_response_t r;
  sy_kube_response_init(&r);
  for (int i = 0; i < 10; i++) {
    if (sy_kube_request(w->c, "GET", "/api", NULL, NULL, 0, 5000, &r) == 0 && r.status == 200) w->ok++;
  }
  sy_kube_response_cleanup(&r);
  return NULL;
}

START_TEST(test_request_concurrent) {
  char dir[] = "/tmp/sykubeXXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char tok[4200];
  snprintf(tok, sizeof(tok), "%s/token", dir);
  write_file(tok, "shared\n");
  srv_t s;
  srv_start(&s, OK_JSON);
  char server[64];
  sy_kube_config_t cfg = cfg_for(s.port, server, sizeof(server), NULL, tok);
  sy_kube_client_t *c = client_for(&cfg);
  enum { N = 6 };
  pthread_t th[N];
  worker_t w[N];
  for (int i = 0; i < N; i++) {
    w[i] = (worker_t){.c = c};
    ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    ck_assert_int_eq(w[i].ok, 10);
  }
  pthread_mutex_lock(&s.mu);
  ck_assert_int_eq(s.n_reqs, N * 10);
  ck_assert_ptr_nonnull(strstr(s.last, "\r\nAuthorization: Bearer shared\r\n"));
  pthread_mutex_unlock(&s.mu);
  sy_kube_client_free(c);
  srv_stop(&s);
}
END_TEST

/* ================================================================ suite */

static Suite *suite(void) {
  Suite *s = suite_create("kube_client");
  TCase *tc = tcase_create("prepare");
  tcase_add_test(tc, test_prepare_headers);
  tcase_add_test(tc, test_token_rotation);
  tcase_add_test(tc, test_client_new_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("request");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_request_ok);
  tcase_add_test(tc, test_request_status);
  tcase_add_test(tc, test_status_message);
  tcase_add_test(tc, test_request_transport_errors);
  tcase_add_test(tc, test_request_concurrent);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
