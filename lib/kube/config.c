/* kube config: kubeconfig files (a subset: certificates, tokens, token
 * files), in-cluster service-account config, and the client tools' search
 * order. Blocking file I/O; no shared state, so thread-safe. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core.h"
#include "kube.h"
#include "kube_int.h"
#include "yaml.h"

/* ------------------------------------------------------------ basic utils */

static char *memdup0(const char *p, size_t n) {
  char *d = sy_malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, p, n);
  d[n] = '\0';
  return d;
}

static void scrub_free(char *p, size_t n) {
  if (!p) return;
  explicit_bzero(p, n);
  sy_free(p);
}

void sy_kube_config_free(sy_kube_config_t *cfg) {
  if (!cfg) return;
  sy_free(cfg->server);
  sy_free(cfg->ca_pem);
  sy_free(cfg->cert_pem);
  scrub_free(cfg->key_pem, cfg->key_len);
  if (cfg->token) scrub_free(cfg->token, strlen(cfg->token));
  sy_free(cfg->token_file);
  sy_free(cfg->namespace_name);
  sy_free(cfg->origin);
  sy_free(cfg);
}

int sy_kube__config_copy(const sy_kube_config_t *src, sy_kube_config_t **out) {
  *out = NULL;
  sy_kube_config_t *c = sy_calloc(1, sizeof(*c));
  if (!c) return -ENOMEM;
  bool oom = false;
#define DUPS(f)                              \
  if (src->f) {                              \
    c->f = sy_strdup(src->f);                \
    if (!c->f) oom = true;                   \
  }
#define DUPB(f, l)                           \
  if (src->f) {                              \
    c->f = memdup0(src->f, src->l);          \
    c->l = src->l;                           \
    if (!c->f) oom = true;                   \
  }
  DUPS(server);
  DUPB(ca_pem, ca_len);
  DUPB(cert_pem, cert_len);
  DUPB(key_pem, key_len);
  DUPS(token);
  DUPS(token_file);
  DUPS(namespace_name);
  DUPS(origin);
#undef DUPS
#undef DUPB
  c->insecure = src->insecure;
  if (oom) {
    sy_kube_config_free(c);
    return -ENOMEM;
  }
  *out = c;
  return 0;
}

int sy_kube__read_file(const char *path, size_t max, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return -errno;
  int rc = 0;
  char *buf = NULL;
  size_t n = 0;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = -errno;
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = SY_EINVAL;
    goto out;
  }
  if (st.st_size < 0 || (uint64_t)st.st_size > max) {
    rc = SY_ETOOBIG;
    goto out;
  }
  size_t cap = (size_t)st.st_size + 1;
  buf = sy_malloc(cap);
  if (!buf) {
    rc = -ENOMEM;
    goto out;
  }
  for (;;) {
    if (n + 1 == cap) {
      /* the file grew while we read it */
      if (cap - 1 >= max) {
        rc = SY_ETOOBIG;
        goto out;
      }
      size_t ncap = SY_MIN(cap * 2, max + 1);
      char *nb = sy_realloc(buf, ncap);
      if (!nb) {
        rc = -ENOMEM;
        goto out;
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      goto out;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  buf = NULL;
out:
  if (buf) scrub_free(buf, cap);
  close(fd);
  return rc;
}

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static const char *read_strerror(int rc, char *buf, size_t n) {
  if (rc == SY_EINVAL) return "not a regular file";
  if (rc == SY_ETOOBIG) return "file too large";
  snprintf(buf, n, "%s", rc < 0 && rc > -SY_EBASE ? strerror(-rc) : sy_strerror(rc));
  return buf;
}

/* Trims ASCII whitespace at both ends, in place. */
static char *trim(char *s, size_t *len) {
  size_t n = *len;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
  s[n] = '\0';
  while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
    s++;
    n--;
  }
  *len = n;
  return s;
}

/* Bearer tokens go into a header line: printable ASCII without spaces. */
static bool token_ok(const char *t, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)t[i];
    if (ch < 0x21 || ch > 0x7e) return false;
  }
  return true;
}

static bool looks_pem(const char *p, size_t n) {
  static const char begin[] = "-----BEGIN ";
  if (n < sizeof(begin) - 1) return false;
  for (size_t i = 0; i + sizeof(begin) - 1 <= n; i++) {
    if (p[i] == '-' && memcmp(p + i, begin, sizeof(begin) - 1) == 0) return true;
  }
  return false;
}

/* Standard base64 with padding (Go's encoding/base64.StdEncoding, which is
 * what []byte fields use in JSON/YAML); whitespace anywhere is ignored.
 * 0 with a new NUL-terminated buffer, SY_EPARSE, or -ENOMEM. */
static int b64_decode(const char *in, size_t n, char **out, size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  int rc = 0;
  unsigned char *clean = sy_malloc(n + 1);
  unsigned char *dec = NULL;
  if (!clean) return -ENOMEM;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)in[i];
    if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') continue;
    clean[m++] = ch;
  }
  if (m % 4 != 0 || m > (size_t)1 << 30) {
    rc = SY_EPARSE;
    goto out;
  }
  size_t pad = 0;
  for (size_t i = 0; i < m; i++) {
    unsigned char ch = clean[i];
    if (ch == '=') {
      /* only as the last one or two characters */
      if (i + 2 < m || (i + 2 == m && clean[m - 1] != '=')) {
        rc = SY_EPARSE;
        goto out;
      }
      pad++;
    } else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
                 ch == '/')) {
      rc = SY_EPARSE;
      goto out;
    }
  }
  dec = sy_malloc(m / 4 * 3 + 1);
  if (!dec) {
    rc = -ENOMEM;
    goto out;
  }
  int r = m ? EVP_DecodeBlock(dec, clean, (int)m) : 0;
  if (r < 0 || (size_t)r < pad) {
    rc = SY_EPARSE;
    goto out;
  }
  *outlen = (size_t)r - pad;
  dec[*outlen] = '\0';
  *out = (char *)dec;
  dec = NULL;
out:
  sy_free(clean);
  sy_free(dec);
  return rc;
}

/* ------------------------------------------------------------- kubeconfig */

#define MAX_FILE_BYTES ((size_t)4 * 1024 * 1024)   /* CA bundles, certificates, keys */
#define MAX_TOKEN_BYTES ((size_t)64 * 1024)
#define MAX_KUBECONFIG_BYTES ((size_t)16 * 1024 * 1024)

typedef struct kc {
  const char *name;
  const char *base_dir;
  char *err;
  size_t errlen;
} kc_t;

/* "kubeconfig NAME:LINE:COL: msg" (the position of `at` when given). */
static int kfail(const kc_t *k, const sy_yaml_node_t *at, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int kfail(const kc_t *k, const sy_yaml_node_t *at, int rc, const char *fmt, ...) {
  if (!k->err || !k->errlen) return rc;
  int n;
  if (at) {
    n = snprintf(k->err, k->errlen, "kubeconfig %s:%d:%d: ", k->name, at->line, at->column);
  } else {
    n = snprintf(k->err, k->errlen, "kubeconfig %s: ", k->name);
  }
  if (n >= 0 && (size_t)n < k->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->err + n, k->errlen - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return rc;
}

/* A string field: *out NULL when missing, null or "" (Go: unset). Any
 * scalar counts (its text as written). */
static int get_str(const kc_t *k, const sy_yaml_node_t *map, const char *key, const char *path,
                   const sy_yaml_node_t **node, const char **out) {
  const sy_yaml_node_t *v = sy_yaml_get(map, key);
  *out = NULL;
  if (node) *node = v;
  if (sy_yaml_is_null(v)) return 0;
  if (v->kind != SY_YAML_SCALAR) return kfail(k, v, SY_EINVAL, "%s.%s: must be a string", path, key);
  if (strlen(v->text) != v->len) return kfail(k, v, SY_EINVAL, "%s.%s: contains a NUL character", path, key);
  if (v->len) *out = v->text;
  return 0;
}

/* Finds the entry named `want` in the list `list` ("contexts") and returns
 * its `item` mapping ("context"), with its path ("contexts[2].context") and
 * the entry's name node. SY_ENOTFOUND (err untouched) when absent. Other
 * entries are checked only for shape: a mapping with a name. */
static int find_named(const kc_t *k, const sy_yaml_node_t *root, const char *list, const char *item,
                      const char *want, char *path, size_t pathlen, const sy_yaml_node_t **out) {
  *out = NULL;
  const sy_yaml_node_t *seq = sy_yaml_get(root, list);
  if (sy_yaml_is_null(seq)) return SY_ENOTFOUND;
  if (seq->kind != SY_YAML_SEQUENCE) return kfail(k, seq, SY_EINVAL, "%s: must be a list", list);
  size_t found = SIZE_MAX;
  for (size_t i = 0; i < seq->n; i++) {
    const sy_yaml_node_t *e = seq->items[i];
    char epath[64];
    snprintf(epath, sizeof(epath), "%s[%zu]", list, i);
    if (e->kind != SY_YAML_MAPPING) return kfail(k, e, SY_EINVAL, "%s: must be a mapping", epath);
    const sy_yaml_node_t *nn;
    const char *name;
    int rc = get_str(k, e, "name", epath, &nn, &name);
    if (rc) return rc;
    if (!name) return kfail(k, e, SY_EINVAL, "%s.name: required", epath);
    if (strcmp(name, want) != 0) continue;
    if (found != SIZE_MAX) {
      return kfail(k, nn, SY_EINVAL, "%s.name: duplicate name \"%s\" (also %s[%zu])", epath, want, list, found);
    }
    found = i;
    snprintf(path, pathlen, "%s.%s", epath, item);
    const sy_yaml_node_t *m = sy_yaml_get(e, item);
    if (sy_yaml_is_null(m)) return kfail(k, e, SY_EINVAL, "%s: required", path);
    if (m->kind != SY_YAML_MAPPING) return kfail(k, m, SY_EINVAL, "%s: must be a mapping", path);
    *out = m;
  }
  return found == SIZE_MAX ? SY_ENOTFOUND : 0;
}

/* Resolves a file reference against the kubeconfig's directory. */
static char *resolve_path(const kc_t *k, const char *p) {
  if (p[0] == '/' || !k->base_dir || !k->base_dir[0]) return sy_strdup(p);
  size_t n = strlen(k->base_dir) + strlen(p) + 2;
  char *r = sy_malloc(n);
  if (r) snprintf(r, n, "%s%s%s", k->base_dir, k->base_dir[strlen(k->base_dir) - 1] == '/' ? "" : "/", p);
  return r;
}

/* Loads PEM material from `<key>-data` (base64) or `<file_key>` (a path).
 * Both set is an error (client-go refuses the combination too). */
static int load_pem(const kc_t *k, const sy_yaml_node_t *map, const char *path, const char *file_key,
                    const char *data_key, const char *what, char **out, size_t *outlen) {
  const sy_yaml_node_t *fnode, *dnode;
  const char *file, *data;
  char ebuf[128];
  int rc = get_str(k, map, file_key, path, &fnode, &file);
  if (!rc) rc = get_str(k, map, data_key, path, &dnode, &data);
  if (rc) return rc;
  if (file && data) {
    return kfail(k, dnode, SY_EINVAL, "%s: %s and %s are both set; use one", path, file_key, data_key);
  }
  if (data) {
    rc = b64_decode(data, dnode->len, out, outlen);
    if (rc == SY_EPARSE) return kfail(k, dnode, rc, "%s.%s: not valid base64", path, data_key);
    if (rc) return kfail(k, dnode, rc, "%s.%s: %s", path, data_key, sy_strerror(rc));
    if (*outlen == 0) {
      SY_FREE(out);
      return 0;
    }
    if (!looks_pem(*out, *outlen)) {
      SY_FREE(out);
      *outlen = 0;
      return kfail(k, dnode, SY_EINVAL, "%s.%s: not a PEM %s (no \"-----BEGIN\" line)", path, data_key, what);
    }
    return 0;
  }
  if (file) {
    char *full = resolve_path(k, file);
    if (!full) return kfail(k, fnode, -ENOMEM, "out of memory");
    rc = sy_kube__read_file(full, MAX_FILE_BYTES, out, outlen);
    if (rc) {
      kfail(k, fnode, rc, "%s.%s: cannot read %s: %s", path, file_key, full, read_strerror(rc, ebuf, sizeof(ebuf)));
    } else if (!looks_pem(*out, *outlen)) {
      SY_FREE(out);
      *outlen = 0;
      rc = kfail(k, fnode, SY_EINVAL, "%s.%s: %s is not a PEM %s (no \"-----BEGIN\" line)", path, file_key, full,
                 what);
    }
    sy_free(full);
    return rc;
  }
  return 0;
}

/* "https://host:port" without trailing '/'; a bare "host:port" gets https. */
static int normalize_server(const kc_t *k, const sy_yaml_node_t *at, const char *path, const char *s, char **out) {
  *out = NULL;
  for (const char *p = s; *p; p++) {
    if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
      return kfail(k, at, SY_EINVAL, "%s.server: contains a space or control character", path);
    }
  }
  const char *sep = strstr(s, "://");
  const char *host = s;
  const char *prefix = "https://";
  if (sep) {
    size_t sl = (size_t)(sep - s);
    if (!((sl == 5 && strncasecmp(s, "https", 5) == 0) || (sl == 4 && strncasecmp(s, "http", 4) == 0))) {
      return kfail(k, at, SY_EINVAL, "%s.server: \"%s\": the scheme must be https or http", path, s);
    }
    host = sep + 3;
    prefix = sl == 5 ? "https://" : "http://";
  }
  size_t n = strlen(host);
  while (n && host[n - 1] == '/') n--;
  if (n == 0 || host[0] == '/') return kfail(k, at, SY_EINVAL, "%s.server: \"%s\": no host", path, s);
  size_t total = strlen(prefix) + n + 1;
  char *r = sy_malloc(total);
  if (!r) return kfail(k, at, -ENOMEM, "out of memory");
  snprintf(r, total, "%s%.*s", prefix, (int)n, host);
  *out = r;
  return 0;
}

/* A boolean as kubectl reads it: YAML 1.2 true/false, plus the YAML 1.1
 * plain forms its YAML library also accepts (yes/no/on/off/y/n). */
static int as_bool(const sy_yaml_node_t *n, bool *out) {
  if (sy_yaml_as_bool(n, out) == 0) return 0;
  if (n->kind != SY_YAML_SCALAR || !n->plain || n->tag) return SY_EPARSE;
  static const char *yes[] = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char *no[] = {"n", "N", "no", "No", "NO", "off", "Off", "OFF"};
  for (size_t i = 0; i < SY_ARRAY_LEN(yes); i++) {
    if (strcmp(n->text, yes[i]) == 0) {
      *out = true;
      return 0;
    }
    if (strcmp(n->text, no[i]) == 0) {
      *out = false;
      return 0;
    }
  }
  return SY_EPARSE;
}

static int parse_cluster(const kc_t *k, const sy_yaml_node_t *cl, const char *path, sy_kube_config_t *cfg) {
  const sy_yaml_node_t *sn;
  const char *server;
  int rc = get_str(k, cl, "server", path, &sn, &server);
  if (rc) return rc;
  if (!server) return kfail(k, sn ? sn : cl, SY_EINVAL, "%s.server: required", path);
  rc = normalize_server(k, sn, path, server, &cfg->server);
  if (rc) return rc;

  const sy_yaml_node_t *in = sy_yaml_get(cl, "insecure-skip-tls-verify");
  if (!sy_yaml_is_null(in) && as_bool(in, &cfg->insecure) != 0) {
    return kfail(k, in, SY_EINVAL, "%s.insecure-skip-tls-verify: must be true or false", path);
  }
  rc = load_pem(k, cl, path, "certificate-authority", "certificate-authority-data", "certificate", &cfg->ca_pem,
                &cfg->ca_len);
  if (rc) return rc;
  if (cfg->insecure && cfg->ca_pem) {
    return kfail(k, in, SY_EINVAL,
                 "%s.insecure-skip-tls-verify: cannot be combined with a certificate-authority", path);
  }
  /* tls-server-name, proxy-url, disable-compression, extensions: ignored */
  return 0;
}

static int parse_user(const kc_t *k, const sy_yaml_node_t *u, const char *path, sy_kube_config_t *cfg) {
  static const struct {
    const char *key;
    const char *why;
  } unsupported[] = {
      {"exec", "exec credential plugins are not supported; use token, tokenFile or a client certificate"},
      {"auth-provider", "auth providers are not supported; use token, tokenFile or a client certificate"},
      {"username", "basic authentication is not supported"},
      {"password", "basic authentication is not supported"},
      {"as", "impersonation is not supported"},
      {"as-uid", "impersonation is not supported"},
      {"as-groups", "impersonation is not supported"},
      {"as-user-extra", "impersonation is not supported"},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(unsupported); i++) {
    const sy_yaml_node_t *v = sy_yaml_get(u, unsupported[i].key);
    if (!sy_yaml_is_null(v)) return kfail(k, v, SY_EINVAL, "%s.%s: %s", path, unsupported[i].key, unsupported[i].why);
  }
  int rc = load_pem(k, u, path, "client-certificate", "client-certificate-data", "certificate", &cfg->cert_pem,
                    &cfg->cert_len);
  if (!rc) rc = load_pem(k, u, path, "client-key", "client-key-data", "key", &cfg->key_pem, &cfg->key_len);
  if (rc) return rc;
  if (cfg->cert_pem && !cfg->key_pem) {
    return kfail(k, u, SY_EINVAL, "%s: client-certificate without client-key", path);
  }
  if (cfg->key_pem && !cfg->cert_pem) {
    return kfail(k, u, SY_EINVAL, "%s: client-key without client-certificate", path);
  }

  const sy_yaml_node_t *tn, *fn;
  const char *token, *file;
  rc = get_str(k, u, "token", path, &tn, &token);
  if (!rc) rc = get_str(k, u, "tokenFile", path, &fn, &file);
  if (rc) return rc;
  if (token) {
    if (!token_ok(token, strlen(token))) {
      return kfail(k, tn, SY_EINVAL, "%s.token: contains whitespace or control characters", path);
    }
    cfg->token = sy_strdup(token);
    if (!cfg->token) return kfail(k, tn, -ENOMEM, "out of memory");
  }
  if (file) {
    cfg->token_file = resolve_path(k, file);
    if (!cfg->token_file) return kfail(k, fn, -ENOMEM, "out of memory");
    /* readable now (the client re-reads it on every change) */
    char *buf = NULL;
    size_t len = 0;
    char ebuf[128];
    rc = sy_kube__read_file(cfg->token_file, MAX_TOKEN_BYTES, &buf, &len);
    if (rc) {
      return kfail(k, fn, rc, "%s.tokenFile: cannot read %s: %s", path, cfg->token_file,
                   read_strerror(rc, ebuf, sizeof(ebuf)));
    }
    size_t tl = len;
    char *t = trim(buf, &tl);
    bool ok = token_ok(t, tl);
    scrub_free(buf, len);
    if (!ok) {
      return kfail(k, fn, SY_EINVAL, "%s.tokenFile: %s: %s", path, cfg->token_file,
                   tl ? "contains whitespace or control characters" : "empty");
    }
  }
  return 0;
}

int sy_kube_config_from_kubeconfig(const char *name, const char *data, size_t len, const char *base_dir,
                                   const char *context, sy_kube_config_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (err && errlen) err[0] = '\0';
  kc_t k = {.name = name ? name : "(memory)", .base_dir = base_dir, .err = err, .errlen = errlen};
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t yerr;
  sy_kube_config_t *cfg = NULL;
  int rc = sy_yaml_parse(k.name, data, len, NULL, &s, &yerr);
  if (rc) {
    char buf[1200];
    errf(err, errlen, "kubeconfig %s", sy_yaml_error_str(&yerr, buf, sizeof(buf)));
    return rc;
  }
  if (s->n_docs == 0 || s->docs[0].root == NULL || sy_yaml_is_null(s->docs[0].root)) {
    rc = kfail(&k, NULL, SY_EINVAL, "empty document");
    goto out;
  }
  if (s->n_docs > 1) {
    sy_yaml_node_t at = {.line = s->docs[1].line, .column = s->docs[1].column};
    rc = kfail(&k, &at, SY_EINVAL, "more than one YAML document");
    goto out;
  }
  const sy_yaml_node_t *root = s->docs[0].root;
  if (root->kind != SY_YAML_MAPPING) {
    rc = kfail(&k, root, SY_EINVAL, "not a kubeconfig (the document must be a mapping)");
    goto out;
  }
  const sy_yaml_node_t *kind = sy_yaml_get(root, "kind");
  if (!sy_yaml_is_null(kind) && !sy_yaml_text_eq(kind, "Config")) {
    rc = kfail(&k, kind, SY_EINVAL, "kind: must be Config, not \"%.64s\"",
               kind->kind == SY_YAML_SCALAR ? kind->text : "");
    goto out;
  }

  /* the context */
  const sy_yaml_node_t *ccn = NULL;
  const char *ctx_name = context && context[0] ? context : NULL;
  if (!ctx_name) {
    rc = get_str(&k, root, "current-context", "", &ccn, &ctx_name);
    if (rc) goto out;
    if (!ctx_name) {
      rc = kfail(&k, ccn ? ccn : root, SY_EINVAL, "current-context: not set (and no context was given)");
      goto out;
    }
  }
  char cpath[96], clpath[96], upath[96];
  const sy_yaml_node_t *ctx;
  rc = find_named(&k, root, "contexts", "context", ctx_name, cpath, sizeof(cpath), &ctx);
  if (rc == SY_ENOTFOUND) {
    if (ccn) {
      rc = kfail(&k, ccn, rc, "current-context \"%s\": no such context", ctx_name);
    } else {
      rc = kfail(&k, NULL, rc, "context \"%s\": no such context", ctx_name);
    }
  }
  if (rc) goto out;

  const sy_yaml_node_t *cln, *un, *nsn;
  const char *cluster_name, *user_name, *ns;
  rc = get_str(&k, ctx, "cluster", cpath, &cln, &cluster_name);
  if (!rc) rc = get_str(&k, ctx, "user", cpath, &un, &user_name);
  if (!rc) rc = get_str(&k, ctx, "namespace", cpath, &nsn, &ns);
  if (rc) goto out;
  if (!cluster_name) {
    rc = kfail(&k, cln ? cln : ctx, SY_EINVAL, "%s.cluster: required", cpath);
    goto out;
  }

  cfg = sy_calloc(1, sizeof(*cfg));
  if (!cfg) {
    rc = kfail(&k, NULL, -ENOMEM, "out of memory");
    goto out;
  }
  const sy_yaml_node_t *cl;
  rc = find_named(&k, root, "clusters", "cluster", cluster_name, clpath, sizeof(clpath), &cl);
  if (rc == SY_ENOTFOUND) rc = kfail(&k, cln, rc, "%s.cluster \"%s\": no such cluster", cpath, cluster_name);
  if (!rc) rc = parse_cluster(&k, cl, clpath, cfg);
  if (rc) goto out;

  if (user_name) {
    const sy_yaml_node_t *u;
    rc = find_named(&k, root, "users", "user", user_name, upath, sizeof(upath), &u);
    if (rc == SY_ENOTFOUND) rc = kfail(&k, un, rc, "%s.user \"%s\": no such user", cpath, user_name);
    if (!rc) rc = parse_user(&k, u, upath, cfg);
    if (rc) goto out;
  }
  if (ns) {
    cfg->namespace_name = sy_strdup(ns);
    if (!cfg->namespace_name) {
      rc = kfail(&k, NULL, -ENOMEM, "out of memory");
      goto out;
    }
  }
  size_t on = strlen(k.name) + strlen(ctx_name) + 32;
  cfg->origin = sy_malloc(on);
  if (!cfg->origin) {
    rc = kfail(&k, NULL, -ENOMEM, "out of memory");
    goto out;
  }
  snprintf(cfg->origin, on, "kubeconfig %s (context %s)", k.name, ctx_name);
  *out = cfg;
  cfg = NULL;
out:
  sy_kube_config_free(cfg);
  sy_yaml_stream_free(s);
  return rc;
}

/* ------------------------------------------------------------- in-cluster */

static int join(char *buf, size_t n, const char *dir, const char *file) {
  int w = snprintf(buf, n, "%s/%s", dir, file);
  return w < 0 || (size_t)w >= n ? SY_ETOOBIG : 0;
}

int sy_kube_config_in_cluster(const char *sa_dir, sy_kube_config_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (err && errlen) err[0] = '\0';
  if (!sa_dir) sa_dir = SY_KUBE_SA_DIR;
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  const char *port = getenv("KUBERNETES_SERVICE_PORT");
  char path[4096], ebuf[128];
  char *buf = NULL;
  size_t len = 0;
  int rc = 0;
  sy_kube_config_t *cfg = NULL;
  if (!host || !host[0] || !port || !port[0]) {
    errf(err, errlen,
         "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (not running in a pod?)");
    return SY_ENOTFOUND;
  }
  long pn;
  if (sy_parse_int(port, 1, 65535, &pn) != 0) {
    errf(err, errlen, "in-cluster: KUBERNETES_SERVICE_PORT \"%.32s\": not a port number", port);
    return SY_EINVAL;
  }
  for (const char *p = host; *p; p++) {
    if ((unsigned char)*p <= 0x20 || *p == '/' || *p == '@' || *p == 0x7f) {
      errf(err, errlen, "in-cluster: KUBERNETES_SERVICE_HOST \"%.64s\": not a host name or address", host);
      return SY_EINVAL;
    }
  }
  cfg = sy_calloc(1, sizeof(*cfg));
  if (!cfg) goto oom;
  bool v6 = strchr(host, ':') != NULL && host[0] != '[';
  size_t sn = strlen(host) + 32;
  cfg->server = sy_malloc(sn);
  if (!cfg->server) goto oom;
  snprintf(cfg->server, sn, "https://%s%s%s:%ld", v6 ? "[" : "", host, v6 ? "]" : "", pn);

  /* token: must be readable now; the client re-reads it as it rotates */
  if (join(path, sizeof(path), sa_dir, "token")) goto toolong;
  rc = sy_kube__read_file(path, MAX_TOKEN_BYTES, &buf, &len);
  if (rc) {
    errf(err, errlen, "in-cluster: cannot read the service-account token %s: %s", path,
         read_strerror(rc, ebuf, sizeof(ebuf)));
    goto out;
  }
  size_t tl = len;
  char *t = trim(buf, &tl);
  bool ok = token_ok(t, tl);
  scrub_free(buf, len);
  buf = NULL;
  if (!ok) {
    errf(err, errlen, "in-cluster: service-account token %s: %s", path,
         tl ? "contains whitespace or control characters" : "empty");
    rc = SY_EINVAL;
    goto out;
  }
  cfg->token_file = sy_strdup(path);
  if (!cfg->token_file) goto oom;

  if (join(path, sizeof(path), sa_dir, "ca.crt")) goto toolong;
  rc = sy_kube__read_file(path, MAX_FILE_BYTES, &cfg->ca_pem, &cfg->ca_len);
  if (rc) {
    errf(err, errlen, "in-cluster: cannot read the cluster CA %s: %s", path, read_strerror(rc, ebuf, sizeof(ebuf)));
    goto out;
  }
  if (!looks_pem(cfg->ca_pem, cfg->ca_len)) {
    errf(err, errlen, "in-cluster: cluster CA %s: not PEM (no \"-----BEGIN\" line)", path);
    rc = SY_EINVAL;
    goto out;
  }

  /* namespace: optional */
  if (join(path, sizeof(path), sa_dir, "namespace")) goto toolong;
  if (sy_kube__read_file(path, 4096, &buf, &len) == 0) {
    size_t nl = len;
    char *ns = trim(buf, &nl);
    if (nl) {
      cfg->namespace_name = sy_strndup(ns, nl);
      if (!cfg->namespace_name) goto oom;
    }
  }
  cfg->origin = sy_strdup("in-cluster");
  if (!cfg->origin) goto oom;
  *out = cfg;
  cfg = NULL;
  rc = 0;
  goto out;
toolong:
  errf(err, errlen, "in-cluster: service-account directory path too long");
  rc = SY_EINVAL;
  goto out;
oom:
  errf(err, errlen, "out of memory");
  rc = -ENOMEM;
out:
  sy_free(buf);
  sy_kube_config_free(cfg);
  return rc;
}

/* ------------------------------------------------------------------- load */

static int load_file(const char *path, sy_kube_config_t **out, char *err, size_t errlen) {
  char *data = NULL, *dir = NULL;
  size_t len = 0;
  char ebuf[128];
  int rc = sy_kube__read_file(path, MAX_KUBECONFIG_BYTES, &data, &len);
  if (rc) {
    errf(err, errlen, "kubeconfig %s: cannot read: %s", path, read_strerror(rc, ebuf, sizeof(ebuf)));
    return rc;
  }
  const char *slash = strrchr(path, '/');
  if (slash) {
    dir = slash == path ? sy_strdup("/") : sy_strndup(path, (size_t)(slash - path));
    if (!dir) {
      sy_free(data);
      errf(err, errlen, "out of memory");
      return -ENOMEM;
    }
  }
  rc = sy_kube_config_from_kubeconfig(path, data, len, dir, NULL, out, err, errlen);
  scrub_free(data, len);
  sy_free(dir);
  return rc;
}

int sy_kube__config_load_sa(const char *explicit_path, const char *sa_dir, sy_kube_config_t **out, char *err,
                            size_t errlen) {
  *out = NULL;
  if (err && errlen) err[0] = '\0';
  if (explicit_path && explicit_path[0]) return load_file(explicit_path, out, err, errlen);

  sy_buf_t tried;
  sy_buf_init(&tried, 2048);
  int rc = 0;
  char path[4096];
  struct stat st;

  /* $KUBECONFIG: the first entry that exists */
  const char *env = getenv("KUBECONFIG");
  if (env && env[0]) {
    const char *p = env;
    while (*p) {
      const char *e = strchr(p, ':');
      size_t n = e ? (size_t)(e - p) : strlen(p);
      if (n > 0 && n < sizeof(path)) {
        memcpy(path, p, n);
        path[n] = '\0';
        if (stat(path, &st) == 0) {
          rc = load_file(path, out, err, errlen);
          goto out;
        }
      }
      p += n;
      if (*p == ':') p++;
    }
    (void)sy_buf_printf(&tried, "$KUBECONFIG=%s (no such file); ", env);
  } else {
    (void)sy_buf_append_str(&tried, "$KUBECONFIG (unset); ");
  }

  /* in-cluster */
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  const char *sa = sa_dir ? sa_dir : SY_KUBE_SA_DIR;
  if (host && host[0]) {
    if (join(path, sizeof(path), sa, "token") != 0) {
      (void)sy_buf_append_str(&tried, "in-cluster (service-account path too long); ");
    } else if (access(path, R_OK) == 0) {
      rc = sy_kube_config_in_cluster(sa, out, err, errlen);
      goto out;
    } else {
      (void)sy_buf_printf(&tried, "in-cluster (%s: %s); ", path, strerror(errno));
    }
  } else {
    (void)sy_buf_append_str(&tried, "in-cluster (KUBERNETES_SERVICE_HOST unset); ");
  }

  /* ~/.kube/config */
  const char *home = getenv("HOME");
  if (home && home[0]) {
    if (join(path, sizeof(path), home, ".kube/config") == 0 && stat(path, &st) == 0) {
      rc = load_file(path, out, err, errlen);
      goto out;
    }
    (void)sy_buf_printf(&tried, "%s (no such file)", path);
  } else {
    (void)sy_buf_append_str(&tried, "~/.kube/config ($HOME unset)");
  }
  errf(err, errlen, "no Kubernetes API config found; tried --kubeconfig (not given); %s",
       tried.data ? tried.data : "");
  rc = SY_ENOTFOUND;
out:
  sy_buf_cleanup(&tried);
  return rc;
}

int sy_kube_config_load(const char *explicit_path, sy_kube_config_t **out, char *err, size_t errlen) {
  return sy_kube__config_load_sa(explicit_path, NULL, out, err, errlen);
}
