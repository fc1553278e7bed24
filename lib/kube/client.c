/* kube client: easy-handle preparation (URL, TLS material, bearer token,
 * HTTP/2) and blocking requests with a small pool of reused easy handles.
 *
 * Thread-safety: the client is shared by any number of threads. Its config
 * copy is immutable; the cached token and the handle pool sit under `mu`.
 * An easy handle is only ever used by one thread at a time (the pool hands
 * it out exclusively). */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core.h"
#include "kube.h"
#include "kube_int.h"

#define POOL_MAX 4
#define TOKEN_MAX_BYTES ((size_t)64 * 1024)

struct sy_kube_client {
  sy_kube_config_t *cfg; /* immutable copy */
  bool curl_inited;
  pthread_mutex_t mu;
  /* token cache (token_file only), under mu */
  char *token;
  bool have_stat;
  dev_t tok_dev;
  ino_t tok_ino;
  off_t tok_size;
  struct timespec tok_mtime;
  uint64_t tok_read_ns;
  unsigned long tok_reads;
  /* idle easy handles, under mu */
  CURL *pool[POOL_MAX];
  size_t n_pool;
};

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------------ token */

/* Trims ASCII whitespace in place; returns the new start. */
static char *trim(char *s, size_t *len) {
  size_t n = *len;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
  s[n] = '\0';
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
    s++;
    n--;
  }
  *len = n;
  return s;
}

/* A token goes into a header line: printable ASCII only. */
static bool token_ok(const char *t, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)t[i];
    if (ch < 0x21 || ch > 0x7e) return false;
  }
  return true;
}

/* Refreshes c->token from the token file when the file changed (or the
 * cached copy is old). Caller holds c->mu. On failure keeps the cached token
 * and returns 0 if there is one; else a negative code with err filled. */
static int token_refresh_locked(sy_kube_client_t *c, char *err, size_t errlen) {
  const char *path = c->cfg->token_file;
  struct stat st;
  int rc = 0;
  char *buf = NULL;
  if (stat(path, &st) != 0) {
    rc = -errno;
    errf(err, errlen, "token file %s: %s", path, strerror(errno));
    goto out;
  }
  uint64_t now = sy_now_ns();
  if (c->token && c->have_stat && st.st_dev == c->tok_dev && st.st_ino == c->tok_ino &&
      st.st_size == c->tok_size && st.st_mtim.tv_sec == c->tok_mtime.tv_sec &&
      st.st_mtim.tv_nsec == c->tok_mtime.tv_nsec && now - c->tok_read_ns < SY_KUBE__TOKEN_MAX_AGE_NS) {
    return 0;
  }
  size_t len = 0;
  rc = sy_kube__read_file(path, TOKEN_MAX_BYTES, &buf, &len);
  if (rc) {
    errf(err, errlen, "token file %s: %s", path,
         rc == SY_ETOOBIG ? "larger than 64 KiB" : rc == SY_EINVAL ? "not a regular file" : sy_strerror(rc));
    goto out;
  }
  c->tok_reads++;
  char *t = trim(buf, &len);
  if (!token_ok(t, len)) {
    rc = SY_EINVAL;
    errf(err, errlen, "token file %s: %s", path, len ? "contains whitespace or control characters" : "empty");
    goto out;
  }
  char *copy = sy_strndup(t, len);
  if (!copy) {
    rc = -ENOMEM;
    errf(err, errlen, "out of memory");
    goto out;
  }
  if (c->token) {
    explicit_bzero(c->token, strlen(c->token));
    sy_free(c->token);
  }
  c->token = copy;
  c->have_stat = true;
  c->tok_dev = st.st_dev;
  c->tok_ino = st.st_ino;
  c->tok_size = st.st_size;
  c->tok_mtime = st.st_mtim;
  c->tok_read_ns = now;
out:
  if (buf) {
    explicit_bzero(buf, len);
    sy_free(buf);
  }
  if (rc && c->token) {
    /* keep serving the last good token (the file may be mid-rotation) */
    return 0;
  }
  return rc;
}

/* Appends "Authorization: Bearer <token>" to *list. Caller holds no lock. */
static int add_auth(sy_kube_client_t *c, struct curl_slist **list, char *err, size_t errlen) {
  const char *static_tok = c->cfg->token;
  if (!c->cfg->token_file && !static_tok) return 0;
  int rc = 0;
  sy_buf_t line;
  sy_buf_init(&line, TOKEN_MAX_BYTES + 64);
  pthread_mutex_lock(&c->mu);
  const char *tok = static_tok;
  if (c->cfg->token_file) {
    rc = token_refresh_locked(c, err, errlen);
    if (rc == 0) {
      tok = c->token;
    } else if (static_tok) {
      rc = 0; /* fall back to the kubeconfig's static token */
    }
  }
  if (rc == 0) rc = sy_buf_printf(&line, "Authorization: Bearer %s", tok);
  pthread_mutex_unlock(&c->mu);
  if (rc == 0) {
    struct curl_slist *l = curl_slist_append(*list, line.data);
    if (!l) {
      rc = -ENOMEM;
    } else {
      *list = l;
    }
  }
  if (rc == -ENOMEM || rc == SY_ETOOBIG) {
    errf(err, errlen, "cannot build the Authorization header: %s", sy_strerror(rc));
  }
  if (line.data) explicit_bzero(line.data, line.cap);
  sy_buf_cleanup(&line);
  return rc;
}

unsigned long sy_kube__client_token_reads(sy_kube_client_t *c) {
  pthread_mutex_lock(&c->mu);
  unsigned long n = c->tok_reads;
  pthread_mutex_unlock(&c->mu);
  return n;
}

/* ----------------------------------------------------------------- client */

int sy_kube_client_new(sy_kube_client_t **out, const sy_kube_config_t *cfg, char *err, size_t errlen) {
  *out = NULL;
  if (!cfg || !cfg->server || !cfg->server[0]) {
    errf(err, errlen, "kube client: no server in the config");
    return SY_EINVAL;
  }
  if ((cfg->cert_pem == NULL) != (cfg->key_pem == NULL)) {
    errf(err, errlen, "kube client: %s: a client certificate needs a key and vice versa",
         cfg->origin ? cfg->origin : "config");
    return SY_EINVAL;
  }
  int rc = 0;
  sy_kube_client_t *c = sy_calloc(1, sizeof(*c));
  if (!c) {
    errf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  pthread_mutex_init(&c->mu, NULL);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    errf(err, errlen, "kube client: curl_global_init failed");
    rc = -EIO;
    goto fail;
  }
  c->curl_inited = true;
  rc = sy_kube__config_copy(cfg, &c->cfg);
  if (rc) {
    errf(err, errlen, "out of memory");
    goto fail;
  }
  if (c->cfg->token_file) {
    /* fail early on a token file that cannot be read (unless a static
     * token can stand in) */
    char msg[256] = "";
    pthread_mutex_lock(&c->mu);
    rc = token_refresh_locked(c, msg, sizeof(msg));
    pthread_mutex_unlock(&c->mu);
    if (rc && !c->cfg->token) {
      errf(err, errlen, "kube client: %s: %s", c->cfg->origin ? c->cfg->origin : "config", msg);
      goto fail;
    }
    rc = 0;
  }
  *out = c;
  return 0;
fail:
  sy_kube_client_free(c);
  return rc;
}

void sy_kube_client_free(sy_kube_client_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n_pool; i++) curl_easy_cleanup(c->pool[i]);
  if (c->token) {
    explicit_bzero(c->token, strlen(c->token));
    sy_free(c->token);
  }
  sy_kube_config_free(c->cfg);
  if (c->curl_inited) curl_global_cleanup();
  pthread_mutex_destroy(&c->mu);
  sy_free(c);
}

const sy_kube_config_t *sy_kube_client_config(const sy_kube_client_t *c) { return c ? c->cfg : NULL; }

int sy_kube__client_prepare(sy_kube_client_t *c, void *easy, const char *path_and_query,
                            const char *content_type, void **headers, char *err, size_t errlen) {
  CURL *e = easy;
  struct curl_slist *list = NULL;
  sy_buf_t url;
  int rc = 0;
  CURLcode cc = CURLE_OK;
  if (headers) *headers = NULL;
  sy_buf_init(&url, 64 * 1024);
  if (!c || !e || !headers || !path_and_query || path_and_query[0] != '/') {
    errf(err, errlen, "kube request: the path must start with '/'");
    rc = SY_EINVAL;
    goto out;
  }
  for (const char *p = path_and_query; *p; p++) {
    if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
      errf(err, errlen, "kube request: the path contains a space or control character");
      rc = SY_EINVAL;
      goto out;
    }
  }
  if (content_type && strpbrk(content_type, "\r\n")) {
    errf(err, errlen, "kube request: bad content type");
    rc = SY_EINVAL;
    goto out;
  }
  const sy_kube_config_t *cfg = c->cfg;
  rc = sy_buf_printf(&url, "%s%s", cfg->server, path_and_query);
  if (rc) {
    errf(err, errlen, "kube request: URL too long");
    goto out;
  }

  struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
  if (l) list = l;
  if (l && content_type) {
    char ct[256];
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    l = curl_slist_append(list, ct);
  }
  if (l) l = curl_slist_append(list, "Expect:"); /* no 100-continue round trip */
  if (!l) {
    errf(err, errlen, "out of memory");
    rc = -ENOMEM;
    goto out;
  }
  rc = add_auth(c, &list, err, errlen);
  if (rc) goto out;

#define SET(opt, val) \
  if (cc == CURLE_OK) cc = curl_easy_setopt(e, opt, val)
  SET(CURLOPT_URL, url.data);
  SET(CURLOPT_PROTOCOLS_STR, "https,http");
  SET(CURLOPT_HTTPHEADER, list);
  SET(CURLOPT_USERAGENT, SY_KUBE__USER_AGENT);
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  SET(CURLOPT_CONNECTTIMEOUT_MS, SY_KUBE__CONNECT_TIMEOUT_MS);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_TCP_KEEPIDLE, 30L);
  SET(CURLOPT_TCP_KEEPINTVL, 15L);
  SET(CURLOPT_TCP_NODELAY, 1L);
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_ACCEPT_ENCODING, ""); /* gzip for large LISTs, like client-go */
  if (cfg->ca_pem) {
    struct curl_blob b = {.data = cfg->ca_pem, .len = cfg->ca_len, .flags = CURL_BLOB_COPY};
    SET(CURLOPT_CAINFO_BLOB, &b);
  }
  if (cfg->cert_pem && cfg->key_pem) {
    struct curl_blob cb = {.data = cfg->cert_pem, .len = cfg->cert_len, .flags = CURL_BLOB_COPY};
    struct curl_blob kb = {.data = cfg->key_pem, .len = cfg->key_len, .flags = CURL_BLOB_COPY};
    SET(CURLOPT_SSLCERTTYPE, "PEM");
    SET(CURLOPT_SSLCERT_BLOB, &cb);
    SET(CURLOPT_SSLKEYTYPE, "PEM");
    SET(CURLOPT_SSLKEY_BLOB, &kb);
  }
  SET(CURLOPT_SSL_VERIFYPEER, cfg->insecure ? 0L : 1L);
  SET(CURLOPT_SSL_VERIFYHOST, cfg->insecure ? 0L : 2L);
#undef SET
  if (cc != CURLE_OK) {
    errf(err, errlen, "kube request: curl refused an option: %s", curl_easy_strerror(cc));
    rc = cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    goto out;
  }
  *headers = list;
  list = NULL;
out:
  if (list) {
    /* the list may hold the token: scrub before freeing */
    for (struct curl_slist *p = list; p; p = p->next) explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(list);
    if (e) curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  }
  sy_buf_cleanup(&url);
  return rc;
}

int sy_kube_client_prepare(sy_kube_client_t *c, void *easy, const char *path_and_query,
                           const char *content_type, void **headers) {
  return sy_kube__client_prepare(c, easy, path_and_query, content_type, headers, NULL, 0);
}

/* --------------------------------------------------------------- response */

void sy_kube_response_init(sy_kube_response_t *r) {
  r->status = 0;
  sy_buf_init(&r->body, SY_KUBE__MAX_BODY);
  r->err[0] = '\0';
}

void sy_kube_response_cleanup(sy_kube_response_t *r) {
  if (!r) return;
  sy_buf_cleanup(&r->body);
  r->status = 0;
  r->err[0] = '\0';
}

static void copy_printable(char *out, size_t outlen, const char *s, size_t n) {
  if (!outlen) return;
  size_t j = 0;
  for (size_t i = 0; i < n && j + 1 < outlen; i++) {
    unsigned char ch = (unsigned char)s[i];
    out[j++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
  }
  out[j] = '\0';
}

void sy_kube__status_message(const char *body, size_t len, char *out, size_t outlen) {
  if (!outlen) return;
  out[0] = '\0';
  if (!body || !len) return;
  cJSON *root = cJSON_ParseWithLength(body, len);
  if (root && cJSON_IsObject(root)) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "message");
    if (!cJSON_IsString(m) || !m->valuestring[0]) m = cJSON_GetObjectItemCaseSensitive(root, "reason");
    if (cJSON_IsString(m) && m->valuestring[0]) {
      copy_printable(out, outlen, m->valuestring, strlen(m->valuestring));
      cJSON_Delete(root);
      return;
    }
  }
  cJSON_Delete(root);
  /* not a Status: a short prefix of the body (proxies answer in text) */
  size_t n = SY_MIN(len, (size_t)200);
  while (n && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' ')) n--;
  copy_printable(out, outlen, body, n);
}

int sy_kube__curl_code(int curl_code) {
  switch ((CURLcode)curl_code) {
    case CURLE_OK: return 0;
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED: return -EPROTO;
    case CURLE_FILESIZE_EXCEEDED: return SY_ETOOBIG;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    case CURLE_ABORTED_BY_CALLBACK: return -ECANCELED;
    default: return -EIO;
  }
}

/* ---------------------------------------------------------------- request */

typedef struct xfer {
  sy_kube_response_t *resp;
  int write_rc; /* why the write callback refused data */
} xfer_t;

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
  xfer_t *x = ud;
  size_t n = size * nmemb;
  int rc = sy_buf_append(&x->resp->body, ptr, n);
  if (rc) {
    x->write_rc = rc;
    return 0; /* CURLE_WRITE_ERROR */
  }
  return n;
}

static CURL *pool_get(sy_kube_client_t *c) {
  CURL *e = NULL;
  pthread_mutex_lock(&c->mu);
  if (c->n_pool) e = c->pool[--c->n_pool];
  pthread_mutex_unlock(&c->mu);
  return e ? e : curl_easy_init();
}

static void pool_put(sy_kube_client_t *c, CURL *e) {
  /* Resetting keeps the connection cache, DNS cache and TLS sessions. */
  curl_easy_reset(e);
  pthread_mutex_lock(&c->mu);
  if (c->n_pool < POOL_MAX) {
    c->pool[c->n_pool++] = e;
    e = NULL;
  }
  pthread_mutex_unlock(&c->mu);
  if (e) curl_easy_cleanup(e);
}

int sy_kube_request(sy_kube_client_t *c, const char *method, const char *path, const char *content_type,
                    const void *body, size_t len, long timeout_ms, sy_kube_response_t *resp) {
  if (!resp) return SY_EINVAL;
  resp->status = 0;
  resp->err[0] = '\0';
  sy_buf_reset(&resp->body);
  if (!c || !method || !path) {
    snprintf(resp->err, sizeof(resp->err), "kube request: missing client, method or path");
    return SY_EINVAL;
  }
  bool is_get = strcmp(method, "GET") == 0, is_head = strcmp(method, "HEAD") == 0;
  bool may_body = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0 ||
                  strcmp(method, "DELETE") == 0;
  if (!is_get && !is_head && !may_body) {
    snprintf(resp->err, sizeof(resp->err), "kube request: unsupported method \"%.32s\"", method);
    return SY_EINVAL;
  }
  if (body == NULL && len > 0) {
    snprintf(resp->err, sizeof(resp->err), "kube request: body length without a body");
    return SY_EINVAL;
  }
  if (body && !may_body) {
    snprintf(resp->err, sizeof(resp->err), "kube request: %s cannot carry a body", method);
    return SY_EINVAL;
  }
  bool send_body = may_body && (body != NULL || strcmp(method, "DELETE") != 0);
  if (send_body && !content_type) content_type = "application/json";
  if (!send_body) content_type = NULL;

  struct curl_slist *headers = NULL;
  char errbuf[CURL_ERROR_SIZE];
  errbuf[0] = '\0';
  xfer_t x = {.resp = resp, .write_rc = 0};
  int rc = 0;
  CURL *e = pool_get(c);
  if (!e) {
    snprintf(resp->err, sizeof(resp->err), "kube request: cannot create a curl handle");
    return -ENOMEM;
  }
  rc = sy_kube__client_prepare(c, e, path, content_type, (void **)&headers, resp->err, sizeof(resp->err));
  if (rc) goto out;

  CURLcode cc = CURLE_OK;
#define SET(opt, val) \
  if (cc == CURLE_OK) cc = curl_easy_setopt(e, opt, val)
  SET(CURLOPT_ERRORBUFFER, errbuf);
  SET(CURLOPT_WRITEFUNCTION, write_cb);
  SET(CURLOPT_WRITEDATA, (void *)&x);
  SET(CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : SY_KUBE__DEFAULT_TIMEOUT_MS);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)SY_KUBE__MAX_BODY);
  if (is_get) {
    SET(CURLOPT_HTTPGET, 1L);
  } else if (is_head) {
    SET(CURLOPT_NOBODY, 1L);
  } else {
    if (send_body) {
      SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
      SET(CURLOPT_POSTFIELDS, body ? (const char *)body : "");
    }
    SET(CURLOPT_CUSTOMREQUEST, method);
  }
#undef SET
  if (cc != CURLE_OK) {
    snprintf(resp->err, sizeof(resp->err), "kube request: curl refused an option: %s", curl_easy_strerror(cc));
    rc = cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    goto out;
  }

  cc = curl_easy_perform(e);
  if (cc != CURLE_OK) {
    rc = sy_kube__curl_code((int)cc);
    if (x.write_rc == SY_ETOOBIG || cc == CURLE_FILESIZE_EXCEEDED) {
      rc = SY_ETOOBIG;
      snprintf(resp->err, sizeof(resp->err), "%.8s %.100s: response body larger than %zu MiB", method, path,
               SY_KUBE__MAX_BODY >> 20);
    } else if (x.write_rc) {
      rc = x.write_rc;
      snprintf(resp->err, sizeof(resp->err), "%.8s %.100s: %s", method, path, sy_strerror(rc));
    } else {
      snprintf(resp->err, sizeof(resp->err), "%.8s %.100s: %.120s", method, path,
               errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
    resp->status = 0;
    goto out;
  }
  long code = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  resp->status = code;
  if (code < 200 || code > 299) sy_kube__status_message(resp->body.data, resp->body.len, resp->err, sizeof(resp->err));
out:
  if (headers) {
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    for (struct curl_slist *p = headers; p; p = p->next) explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(headers);
  }
  pool_put(c, e);
  return rc;
}
