/* Unit tests for lib/kube config loading: kubeconfig documents (file and
 * inline variants, contexts, relative paths, every located error), the
 * search order of sy_kube_config_load ($KUBECONFIG, in-cluster, ~/.kube)
 * and in-cluster service-account config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core.h"
#include "kube.h"
#include "kube_int.h"
#include "test_support.h"

#define NODIR "/nonexistent-sy-kube-dir"

/* ================================================================ helpers */

static char *data_file(const char *rel, size_t *len) {
  char p[4096];
  snprintf(p, sizeof(p), "%s", sy_test_data_path(rel));
  char *d = sy_test_read_file(p, len);
  ck_assert_msg(d != NULL, "cannot read %s", p);
  return d;
}

static void data_dir(char *out, size_t n) {
  snprintf(out, n, "%s", sy_test_data_path("kube"));
}

static int parse(const char *yaml, const char *context, sy_kube_config_t **out, char *err, size_t errlen) {
  return sy_kube_config_from_kubeconfig("t.yaml", yaml, strlen(yaml), NODIR, context, out, err, errlen);
}

static void write_file(const char *dir, const char *name, const char *content) {
  char p[4096];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  ck_assert_ptr_nonnull(f);
  fputs(content, f);
  fclose(f);
}

static void make_tmpdir(char *dir) {
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* A service-account dir holding the fixtures' CA, a token and a namespace. */
static void make_sa_dir(char *dir, const char *ns) {
  make_tmpdir(dir);
  char *ca = data_file("kube/ca.crt", NULL);
  write_file(dir, "ca.crt", ca);
  sy_free(ca);
  write_file(dir, "token", "sa-token-1\n");
  if (ns) write_file(dir, "namespace", ns);
}

static void clear_env(void) {
  unsetenv("KUBECONFIG");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

/* ============================================================ kubeconfig */

START_TEST(test_files_variant) {
  char path[4096], dir[4096];
  snprintf(path, sizeof(path), "%s", sy_test_data_path("kube/config-files.yaml"));
  data_dir(dir, sizeof(dir));
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  int rc = sy_kube_config_load(path, &cfg, err, sizeof(err));
  ck_assert_msg(rc == 0, "rc %d: %s", rc, err);
  ck_assert_str_eq(cfg->server, "https://127.0.0.1:6443");
  size_t ca_len, cert_len, key_len;
  char *ca = data_file("kube/ca.crt", &ca_len);
  char *cert = data_file("kube/client.crt", &cert_len);
  char *key = data_file("kube/client.key", &key_len);
  ck_assert_uint_eq(cfg->ca_len, ca_len);
  ck_assert_mem_eq(cfg->ca_pem, ca, ca_len);
  ck_assert_uint_eq(cfg->cert_len, cert_len);
  ck_assert_mem_eq(cfg->cert_pem, cert, cert_len);
  ck_assert_uint_eq(cfg->key_len, key_len);
  ck_assert_mem_eq(cfg->key_pem, key, key_len);
  ck_assert_ptr_null(cfg->token);
  char tok[4200];
  snprintf(tok, sizeof(tok), "%s/token", dir);
  ck_assert_str_eq(cfg->token_file, tok);
  ck_assert(!cfg->insecure);
  ck_assert_str_eq(cfg->namespace_name, "team-a");
  ck_assert_ptr_nonnull(strstr(cfg->origin, "config-files.yaml (context files)"));
  ck_assert_ptr_nonnull(strstr(cfg->origin, "kubeconfig "));

  /* a deep copy holds the same values in new memory */
  sy_kube_config_t *cp = NULL;
  ck_assert_int_eq(sy_kube__config_copy(cfg, &cp), 0);
  ck_assert_str_eq(cp->server, cfg->server);
  ck_assert_ptr_ne(cp->server, cfg->server);
  ck_assert_mem_eq(cp->key_pem, key, key_len);
  ck_assert_str_eq(cp->token_file, cfg->token_file);
  ck_assert_str_eq(cp->origin, cfg->origin);
  sy_kube_config_free(cp);

  sy_free(ca);
  sy_free(cert);
  sy_free(key);
  sy_kube_config_free(cfg);
}
END_TEST

START_TEST(test_data_variant) {
  char path[4096];
  snprintf(path, sizeof(path), "%s", sy_test_data_path("kube/config-data.yaml"));
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  int rc = sy_kube_config_load(path, &cfg, err, sizeof(err));
  ck_assert_msg(rc == 0, "rc %d: %s", rc, err);
  ck_assert_str_eq(cfg->server, "https://127.0.0.1:39311");
  size_t ca_len, cert_len, key_len;
  char *ca = data_file("kube/ca.crt", &ca_len);
  char *cert = data_file("kube/client.crt", &cert_len);
  char *key = data_file("kube/client.key", &key_len);
  ck_assert_uint_eq(cfg->ca_len, ca_len);
  ck_assert_mem_eq(cfg->ca_pem, ca, ca_len);
  ck_assert_int_eq(cfg->ca_pem[ca_len], '\0');
  ck_assert_uint_eq(cfg->cert_len, cert_len);
  ck_assert_mem_eq(cfg->cert_pem, cert, cert_len);
  ck_assert_uint_eq(cfg->key_len, key_len);
  ck_assert_mem_eq(cfg->key_pem, key, key_len);
  ck_assert_str_eq(cfg->token, "static-token-456");
  ck_assert_ptr_null(cfg->token_file);
  ck_assert_ptr_null(cfg->namespace_name);
  ck_assert_ptr_nonnull(strstr(cfg->origin, "(context kind-test)"));
  sy_free(ca);
  sy_free(cert);
  sy_free(key);
  sy_kube_config_free(cfg);
}
END_TEST

/* Base64 wrapped over lines (a YAML block scalar) and every padding length. */
START_TEST(test_base64_whitespace_and_padding) {
  size_t ca_len;
  char *ca = data_file("kube/ca.crt", &ca_len);
  unsigned char enc[4096];
  int n = EVP_EncodeBlock(enc, (const unsigned char *)ca, (int)ca_len);
  ck_assert_int_gt(n, 0);
  sy_buf_t doc;
  sy_buf_init(&doc, 1 << 20);
  sy_buf_append_str(&doc, "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
                          "clusters:\n- name: k\n  cluster:\n    server: h:1\n    certificate-authority-data: |\n");
  for (int i = 0; i < n; i += 60) sy_buf_printf(&doc, "      %.*s\n", SY_MIN(60, n - i), (const char *)enc + i);
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  ck_assert_msg(parse(doc.data, NULL, &cfg, err, sizeof(err)) == 0, "%s", err);
  ck_assert_uint_eq(cfg->ca_len, ca_len);
  ck_assert_mem_eq(cfg->ca_pem, ca, ca_len);
  ck_assert_str_eq(cfg->server, "https://h:1"); /* no scheme: https */
  ck_assert_ptr_null(cfg->cert_pem);
  ck_assert_ptr_null(cfg->token);
  sy_kube_config_free(cfg);
  sy_buf_cleanup(&doc);
  sy_free(ca);

  /* PEM text of 28, 29 and 30 bytes: zero, two and one '=' of padding */
  static const char *pems[] = {"-----BEGIN X-----\nabcdefghij", "-----BEGIN X-----\nabcdefghijk",
                               "-----BEGIN X-----\nabcdefghijkl"};
  for (size_t i = 0; i < SY_ARRAY_LEN(pems); i++) {
    size_t pl = strlen(pems[i]);
    n = EVP_EncodeBlock(enc, (const unsigned char *)pems[i], (int)pl);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
             "clusters: [{name: k, cluster: {server: 'https://h', certificate-authority-data: %.*s}}]\n",
             n, (const char *)enc);
    cfg = NULL;
    ck_assert_msg(parse(yaml, NULL, &cfg, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(cfg->ca_len, pl);
    ck_assert_mem_eq(cfg->ca_pem, pems[i], pl);
    sy_kube_config_free(cfg);
  }
}
END_TEST

#define TWO_CONTEXTS                                                        \
  "apiVersion: v1\n"                                                        \
  "current-context: a\n"                                                    \
  "contexts:\n"                                                             \
  "- {name: a, context: {cluster: ca, user: ua, namespace: ns-a}}\n"        \
  "- {name: b, context: {cluster: cb, user: ub}}\n"                         \
  "- {name: c, context: {cluster: cb}}\n"                                   \
  "clusters:\n"                                                             \
  "- {name: ca, cluster: {server: 'https://a.example:6443/'}}\n"            \
  "- {name: cb, cluster: {server: 'http://b.example/prefix//', insecure-skip-tls-verify: true}}\n" \
  "users:\n"                                                                \
  "- {name: ua, user: {token: tok-a}}\n"                                    \
  "- {name: ub, user: {tokenFile: /dev/null/x, token: tok-b}}\n"           \
  "- {name: junk, user: {exec: {command: never-looked-at}}}\n"

START_TEST(test_contexts) {
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  /* current-context */
  ck_assert_msg(parse(TWO_CONTEXTS, NULL, &cfg, err, sizeof(err)) == 0, "%s", err);
  ck_assert_str_eq(cfg->server, "https://a.example:6443");
  ck_assert_str_eq(cfg->token, "tok-a");
  ck_assert_str_eq(cfg->namespace_name, "ns-a");
  ck_assert(!cfg->insecure);
  ck_assert_str_eq(cfg->origin, "kubeconfig t.yaml (context a)");
  sy_kube_config_free(cfg);
  /* explicit context; "" means current-context too */
  ck_assert_msg(parse(TWO_CONTEXTS, "", &cfg, err, sizeof(err)) == 0, "%s", err);
  ck_assert_str_eq(cfg->token, "tok-a");
  sy_kube_config_free(cfg);
  ck_assert_msg(parse(TWO_CONTEXTS, "c", &cfg, err, sizeof(err)) == 0, "%s", err);
  ck_assert_str_eq(cfg->server, "http://b.example/prefix");
  ck_assert(cfg->insecure);
  ck_assert_ptr_null(cfg->token);
  ck_assert_ptr_null(cfg->token_file);
  ck_assert_ptr_null(cfg->namespace_name);
  ck_assert_str_eq(cfg->origin, "kubeconfig t.yaml (context c)");
  sy_kube_config_free(cfg);
  /* context b: its tokenFile cannot be read */
  ck_assert_int_ne(parse(TWO_CONTEXTS, "b", &cfg, err, sizeof(err)), 0);
  ck_assert_ptr_null(cfg);
  ck_assert_ptr_nonnull(strstr(err, "kubeconfig t.yaml:12:"));
  ck_assert_ptr_nonnull(strstr(err, "users[1].user.tokenFile: cannot read /dev/null/x"));
}
END_TEST

START_TEST(test_relative_paths) {
  char dir[4096];
  data_dir(dir, sizeof(dir));
  size_t len;
  char *doc = data_file("kube/config-files.yaml", &len);
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  /* base_dir given */
  ck_assert_msg(sy_kube_config_from_kubeconfig("mem", doc, len, dir, NULL, &cfg, err, sizeof(err)) == 0, "%s", err);
  ck_assert_ptr_nonnull(cfg->ca_pem);
  sy_kube_config_free(cfg);
  /* base_dir with a trailing slash */
  char slash[4200];
  snprintf(slash, sizeof(slash), "%s/", dir);
  ck_assert_msg(sy_kube_config_from_kubeconfig("mem", doc, len, slash, NULL, &cfg, err, sizeof(err)) == 0, "%s",
                err);
  char want[4300];
  snprintf(want, sizeof(want), "%s/token", dir);
  ck_assert_str_eq(cfg->token_file, want);
  sy_kube_config_free(cfg);
  /* NULL base_dir: the current directory */
  char cwd[4096];
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
  ck_assert_int_eq(chdir(dir), 0);
  int rc = sy_kube_config_from_kubeconfig("mem", doc, len, NULL, NULL, &cfg, err, sizeof(err));
  ck_assert_int_eq(chdir(cwd), 0);
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_str_eq(cfg->token_file, "token");
  ck_assert_ptr_nonnull(cfg->key_pem);
  sy_kube_config_free(cfg);
  /* elsewhere: the first relative reference fails, naming the resolved path */
  rc = sy_kube_config_from_kubeconfig("mem", doc, len, NODIR, NULL, &cfg, err, sizeof(err));
  ck_assert_int_eq(rc, -ENOENT);
  ck_assert_ptr_nonnull(strstr(err, "kubeconfig mem:14:28: clusters[1].cluster.certificate-authority: cannot read "
                                    NODIR "/ca.crt: No such file or directory"));
  sy_free(doc);
}
END_TEST

/* ----------------------------------------------------------- error cases */

#define HEAD "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
#define CL "clusters:\n- name: k\n  cluster:\n    server: https://h:1\n"
#define US "users:\n- name: u\n  user:\n    token: t\n"
#define PEM_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="

static const struct bad_case {
  const char *yaml;
  const char *context;
  int rc;
  const char *want;
} bad_cases[] = {
    {HEAD CL "users:\n- name: u\n  user:\n    client-certificate-data: abc!\n    client-key-data: abc=\n", NULL,
     SY_EPARSE,
     "kubeconfig t.yaml:12:30: users[0].user.client-certificate-data: not valid base64"},
    {HEAD CL "users:\n- name: u\n  user:\n    client-certificate-data: " PEM_B64 "\n    client-key-data: abc\n", NULL,
     SY_EPARSE, "kubeconfig t.yaml:13:22: users[0].user.client-key-data: not valid base64"},
    {HEAD CL "users:\n- name: u\n  user:\n    client-key-data: ab=c\n", NULL, SY_EPARSE,
     "t.yaml:12:22: users[0].user.client-key-data: not valid base64"},
    {HEAD CL "users:\n- name: u\n  user:\n    client-key-data: '=abc'\n", NULL, SY_EPARSE,
     "users[0].user.client-key-data: not valid base64"},
    {"current-context: x\n" CL US, NULL, SY_ENOTFOUND,
     "kubeconfig t.yaml:1:18: current-context \"x\": no such context"},
    {HEAD CL US, "nope", SY_ENOTFOUND, "kubeconfig t.yaml: context \"nope\": no such context"},
    {HEAD "clusters:\n- name: other\n  cluster: {server: 'https://o'}\n- name: k\n  cluster:\n"
          "    insecure-skip-tls-verify: true\n" US,
     NULL, SY_EINVAL, "kubeconfig t.yaml:10:5: clusters[1].cluster.server: required"},
    {HEAD CL "users:\n- name: u\n  user:\n    exec:\n      command: aws\n", NULL, SY_EINVAL,
     "kubeconfig t.yaml:13:7: users[0].user.exec: exec credential plugins are not supported"},
    {HEAD CL "users:\n- name: u\n  user:\n    auth-provider: {name: gcp}\n", NULL, SY_EINVAL,
     "kubeconfig t.yaml:12:20: users[0].user.auth-provider: auth providers are not supported"},
    {HEAD CL "users:\n- name: u\n  user:\n    username: admin\n    password: pw\n", NULL, SY_EINVAL,
     "t.yaml:12:15: users[0].user.username: basic authentication is not supported"},
    {HEAD CL "users:\n- name: u\n  user:\n    as: someone-else\n", NULL, SY_EINVAL,
     "t.yaml:12:9: users[0].user.as: impersonation is not supported"},
    {HEAD CL "    certificate-authority: ca.pem\n" US, NULL, -ENOENT,
     "kubeconfig t.yaml:9:28: clusters[0].cluster.certificate-authority: cannot read " NODIR
     "/ca.pem: No such file or directory"},
    {HEAD CL "    certificate-authority: /dev/null\n" US, NULL, SY_EINVAL,
     "t.yaml:9:28: clusters[0].cluster.certificate-authority: cannot read /dev/null: not a regular file"},
    {HEAD "clusters:\n- name: j\n  cluster: {server: 'https://h'}\n" US, NULL, SY_ENOTFOUND,
     "kubeconfig t.yaml:4:22: contexts[0].context.cluster \"k\": no such cluster"},
    {HEAD CL "users:\n- name: v\n  user: {token: t}\n", NULL, SY_ENOTFOUND,
     "kubeconfig t.yaml:4:31: contexts[0].context.user \"u\": no such user"},
    {HEAD "- name: c\n  context: {cluster: k}\n" CL US, NULL, SY_EINVAL,
     "kubeconfig t.yaml:5:9: contexts[1].name: duplicate name \"c\" (also contexts[0])"},
    {HEAD CL "users:\n- name: u\n  user:\n    client-certificate-data: " PEM_B64 "\n", NULL, SY_EINVAL,
     "kubeconfig t.yaml:12:5: users[0].user: client-certificate without client-key"},
    {HEAD CL "users:\n- name: u\n  user:\n    client-key-data: " PEM_B64 "\n", NULL, SY_EINVAL,
     "kubeconfig t.yaml:12:5: users[0].user: client-key without client-certificate"},
    {"current-context: [\n", NULL, SY_EPARSE, "kubeconfig t.yaml:2:1: "},
    {HEAD CL "    insecure-skip-tls-verify: \"yes\"\n" US, NULL, SY_EINVAL,
     "kubeconfig t.yaml:9:31: clusters[0].cluster.insecure-skip-tls-verify: must be true or false"},
    {HEAD "clusters:\n- name: k\n  cluster:\n    server: ftp://h\n" US, NULL, SY_EINVAL,
     "kubeconfig t.yaml:8:13: clusters[0].cluster.server: \"ftp://h\": the scheme must be https or http"},
    {HEAD "clusters:\n- name: k\n  cluster:\n    server: https:///x\n" US, NULL, SY_EINVAL,
     "t.yaml:8:13: clusters[0].cluster.server: \"https:///x\": no host"},
    {HEAD "clusters:\n- name: k\n  cluster:\n    server: {a: 1}\n" US, NULL, SY_EINVAL,
     "kubeconfig t.yaml:8:13: clusters[0].cluster.server: must be a string"},
    {"current-context: c\ncontexts: {a: 1}\n", NULL, SY_EINVAL, "kubeconfig t.yaml:2:11: contexts: must be a list"},
    {"", NULL, SY_EINVAL, "kubeconfig t.yaml: empty document"},
    {"# only a comment\n", NULL, SY_EINVAL, "kubeconfig t.yaml: empty document"},
    {"- a\n- b\n", NULL, SY_EINVAL, "kubeconfig t.yaml:1:1: not a kubeconfig"},
    {HEAD CL US "---\nkind: Config\n", NULL, SY_EINVAL, "kubeconfig t.yaml:13:1: more than one YAML document"},
    {HEAD CL "users:\n- name: u\n  user:\n    client-certificate-data: aGVsbG8=\n", NULL, SY_EINVAL,
     "t.yaml:12:30: users[0].user.client-certificate-data: not a PEM certificate"},
    {HEAD CL "    certificate-authority: ca.pem\n    certificate-authority-data: " PEM_B64 "\n" US, NULL, SY_EINVAL,
     "t.yaml:10:33: clusters[0].cluster: certificate-authority and certificate-authority-data are both set"},
    {HEAD CL "    certificate-authority-data: " PEM_B64 "\n    insecure-skip-tls-verify: true\n" US, NULL, SY_EINVAL,
     "t.yaml:10:31: clusters[0].cluster.insecure-skip-tls-verify: cannot be combined with a certificate-authority"},
    {"contexts: []\n", NULL, SY_EINVAL, "kubeconfig t.yaml:1:1: current-context: not set"},
    {"current-context: ''\n", NULL, SY_EINVAL, "kubeconfig t.yaml:1:18: current-context: not set"},
    {"kind: Pod\ncurrent-context: c\n", NULL, SY_EINVAL, "kubeconfig t.yaml:1:7: kind: must be Config, not \"Pod\""},
    {HEAD CL "users:\n- name: u\n  user:\n    token: \"a b\"\n", NULL, SY_EINVAL,
     "t.yaml:12:12: users[0].user.token: contains whitespace or control characters"},
    {HEAD CL "users:\n- name: u\n  user:\n    tokenFile: tok\n", NULL, -ENOENT,
     "t.yaml:12:16: users[0].user.tokenFile: cannot read " NODIR "/tok: No such file or directory"},
    {"current-context: c\ncontexts:\n- name: c\n  context: {user: u}\n" CL US, NULL, SY_EINVAL,
     "kubeconfig t.yaml:4:12: contexts[0].context.cluster: required"},
    {"current-context: c\ncontexts:\n- name: c\n" CL US, NULL, SY_EINVAL,
     "kubeconfig t.yaml:3:3: contexts[0].context: required"},
    {"current-context: c\ncontexts:\n- name: c\n  context: [1]\n" CL US, NULL, SY_EINVAL,
     "kubeconfig t.yaml:4:12: contexts[0].context: must be a mapping"},
    {"current-context: c\ncontexts:\n- context: {cluster: k}\n" CL US, NULL, SY_EINVAL,
     "kubeconfig t.yaml:3:3: contexts[0].name: required"},
    {"current-context: c\ncontexts:\n- just-a-string\n", NULL, SY_EINVAL,
     "kubeconfig t.yaml:3:3: contexts[0]: must be a mapping"},
    {HEAD CL "users:\n- name: u\n  user:\n    token: \"a\\0b\"\n", NULL, SY_EINVAL,
     "t.yaml:12:12: users[0].user.token: contains a NUL character"},
};

START_TEST(test_bad_kubeconfig) {
  const struct bad_case *c = &bad_cases[_i];
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  int rc = parse(c->yaml, c->context, &cfg, err, sizeof(err));
  ck_assert_ptr_null(cfg);
  ck_assert_msg(rc == c->rc, "case %d: rc %d (%s), want %d; err: %s", _i, rc, sy_strerror(rc), c->rc, err);
  ck_assert_msg(strstr(err, c->want) != NULL, "case %d:\n got: %s\nwant: %s", _i, err, c->want);
}
END_TEST

/* Fields kubectl knows but we do not use are accepted silently. */
START_TEST(test_ignored_fields) {
  const char *doc = "apiVersion: v1\nkind: Config\npreferences: {}\nextensions: []\n"
                    "current-context: c\n"
                    "contexts: [{name: c, context: {cluster: k, user: u, extensions: []}}]\n"
                    "clusters: [{name: k, cluster: {server: 'https://h', tls-server-name: x, proxy-url: 'http://p',"
                    " disable-compression: true, certificate-authority: '', future-field: {a: 1},"
                    " insecure-skip-tls-verify: on}}]\n"
                    "users: [{name: u, user: {token: t, exec: null, client-certificate-data: '', extensions: []}}]\n";
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  ck_assert_msg(parse(doc, NULL, &cfg, err, sizeof(err)) == 0, "%s", err);
  ck_assert_ptr_null(cfg->ca_pem);
  ck_assert_ptr_null(cfg->cert_pem);
  ck_assert_str_eq(cfg->token, "t");
  ck_assert(cfg->insecure); /* YAML 1.1 "on", as kubectl reads it */
  sy_kube_config_free(cfg);
}
END_TEST

START_TEST(test_alloc_failures) {
  size_t len;
  char *doc = data_file("kube/config-data.yaml", &len);
  int failures = 0;
  for (long n = 1; n < 1000; n++) {
    sy_kube_config_t *cfg = NULL;
    char err[512];
    sy_alloc_fail_after(n);
    int rc = sy_kube_config_from_kubeconfig("d.yaml", doc, len, NODIR, NULL, &cfg, err, sizeof(err));
    sy_alloc_fail_after(0);
    if (rc == 0) {
      ck_assert_ptr_nonnull(cfg->key_pem);
      sy_kube_config_free(cfg);
      break;
    }
    ck_assert_msg(rc == -ENOMEM, "n=%ld rc=%d: %s", n, rc, err);
    ck_assert_ptr_null(cfg);
    failures++;
  }
  ck_assert_int_gt(failures, 5);
  sy_free(doc);
}
END_TEST

/* ================================================================== load */

START_TEST(test_load_explicit_missing) {
  clear_env();
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  int rc = sy_kube_config_load(NODIR "/kc", &cfg, err, sizeof(err));
  ck_assert_int_eq(rc, -ENOENT);
  ck_assert_ptr_null(cfg);
  ck_assert_str_eq(err, "kubeconfig " NODIR "/kc: cannot read: No such file or directory");
  /* a directory is not a kubeconfig */
  rc = sy_kube_config_load("/", &cfg, err, sizeof(err));
  ck_assert_int_eq(rc, SY_EINVAL);
  ck_assert_str_eq(err, "kubeconfig /: cannot read: not a regular file");
}
END_TEST

START_TEST(test_load_kubeconfig_env) {
  clear_env();
  char path[4096], env[8192];
  snprintf(path, sizeof(path), "%s", sy_test_data_path("kube/config-files.yaml"));
  /* the first entry is missing and one is empty: the first existing wins */
  snprintf(env, sizeof(env), NODIR "/a::%s:%s", path, sy_test_data_path("kube/config-data.yaml"));
  setenv("KUBECONFIG", env, 1);
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1); /* not consulted */
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  int rc = sy_kube_config_load(NULL, &cfg, err, sizeof(err));
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_str_eq(cfg->server, "https://127.0.0.1:6443");
  ck_assert_str_eq(cfg->namespace_name, "team-a");
  sy_kube_config_free(cfg);
  /* an explicit path wins over $KUBECONFIG */
  rc = sy_kube_config_load(sy_test_data_path("kube/config-data.yaml"), &cfg, err, sizeof(err));
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_str_eq(cfg->server, "https://127.0.0.1:39311");
  sy_kube_config_free(cfg);
  /* an existing but broken entry is an error, not skipped */
  char dir[] = "/tmp/sykubeXXXXXX";
  make_tmpdir(dir);
  write_file(dir, "bad", "current-context: nope\n");
  snprintf(env, sizeof(env), "%s/bad:%s", dir, path);
  setenv("KUBECONFIG", env, 1);
  rc = sy_kube_config_load(NULL, &cfg, err, sizeof(err));
  ck_assert_int_eq(rc, SY_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(err, "/bad:1:18: current-context \"nope\": no such context"));
  clear_env();
}
END_TEST

START_TEST(test_load_nothing_found) {
  clear_env();
  char home[] = "/tmp/sykubeXXXXXX";
  make_tmpdir(home);
  setenv("HOME", home, 1);
  setenv("KUBECONFIG", NODIR "/a:" NODIR "/b", 1);
  sy_kube_config_t *cfg = NULL;
  char err[1024] = "";
  int rc = sy_kube__config_load_sa(NULL, NODIR, &cfg, err, sizeof(err));
  ck_assert_int_eq(rc, SY_ENOTFOUND);
  ck_assert_ptr_null(cfg);
  ck_assert_ptr_nonnull(strstr(err, "no Kubernetes API config found"));
  ck_assert_ptr_nonnull(strstr(err, "$KUBECONFIG=" NODIR "/a:" NODIR "/b (no such file)"));
  ck_assert_ptr_nonnull(strstr(err, "in-cluster (KUBERNETES_SERVICE_HOST unset)"));
  char want[4200];
  snprintf(want, sizeof(want), "%s/.kube/config (no such file)", home);
  ck_assert_msg(strstr(err, want) != NULL, "%s", err);
  /* in-cluster env set but no token */
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  rc = sy_kube__config_load_sa(NULL, NODIR, &cfg, err, sizeof(err));
  ck_assert_int_eq(rc, SY_ENOTFOUND);
  ck_assert_msg(strstr(err, "in-cluster (" NODIR "/token: No such file or directory)") != NULL, "%s", err);

  /* ~/.kube/config is the last resort */
  char kd[4200];
  snprintf(kd, sizeof(kd), "%s/.kube", home);
  ck_assert_int_eq(mkdir(kd, 0700), 0);
  char *doc = data_file("kube/config-data.yaml", NULL);
  write_file(kd, "config", doc);
  sy_free(doc);
  rc = sy_kube__config_load_sa(NULL, NODIR, &cfg, err, sizeof(err));
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_str_eq(cfg->server, "https://127.0.0.1:39311");
  ck_assert_ptr_nonnull(strstr(cfg->origin, "/.kube/config (context kind-test)"));
  sy_kube_config_free(cfg);
  clear_env();
}
END_TEST

START_TEST(test_load_in_cluster_order) {
  clear_env();
  char sa[] = "/tmp/sykubeXXXXXX";
  make_sa_dir(sa, "prod\n");
  char home[] = "/tmp/sykubeXXXXXX";
  make_tmpdir(home);
  setenv("HOME", home, 1);
  setenv("KUBECONFIG", NODIR "/missing", 1);
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  int rc = sy_kube__config_load_sa(NULL, sa, &cfg, err, sizeof(err));
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_str_eq(cfg->origin, "in-cluster");
  ck_assert_str_eq(cfg->server, "https://10.96.0.1:443");
  ck_assert_str_eq(cfg->namespace_name, "prod");
  sy_kube_config_free(cfg);
  /* in-cluster detected, but a broken one is an error (no fall-through) */
  unsetenv("KUBERNETES_SERVICE_PORT");
  rc = sy_kube__config_load_sa(NULL, sa, &cfg, err, sizeof(err));
  ck_assert_int_eq(rc, SY_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(err, "KUBERNETES_SERVICE_PORT"));
  clear_env();
}
END_TEST

/* ============================================================ in-cluster */

START_TEST(test_in_cluster_ipv4) {
  clear_env();
  char sa[] = "/tmp/sykubeXXXXXX";
  make_sa_dir(sa, "  team-b \n");
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  int rc = sy_kube_config_in_cluster(sa, &cfg, err, sizeof(err));
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_str_eq(cfg->server, "https://10.96.0.1:6443");
  char tok[4200];
  snprintf(tok, sizeof(tok), "%s/token", sa);
  ck_assert_str_eq(cfg->token_file, tok);
  ck_assert_ptr_null(cfg->token);
  size_t ca_len;
  char *ca = data_file("kube/ca.crt", &ca_len);
  ck_assert_uint_eq(cfg->ca_len, ca_len);
  ck_assert_mem_eq(cfg->ca_pem, ca, ca_len);
  sy_free(ca);
  ck_assert_str_eq(cfg->namespace_name, "team-b");
  ck_assert_ptr_null(cfg->cert_pem);
  ck_assert(!cfg->insecure);
  ck_assert_str_eq(cfg->origin, "in-cluster");
  sy_kube_config_free(cfg);
  clear_env();
}
END_TEST

START_TEST(test_in_cluster_ipv6) {
  clear_env();
  char sa[] = "/tmp/sykubeXXXXXX";
  make_sa_dir(sa, NULL); /* no namespace file: NULL, not an error */
  setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  int rc = sy_kube_config_in_cluster(sa, &cfg, err, sizeof(err));
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_str_eq(cfg->server, "https://[fd00:10:96::1]:443");
  ck_assert_ptr_null(cfg->namespace_name);
  sy_kube_config_free(cfg);
  /* already bracketed: kept */
  setenv("KUBERNETES_SERVICE_HOST", "[::1]", 1);
  rc = sy_kube_config_in_cluster(sa, &cfg, err, sizeof(err));
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_str_eq(cfg->server, "https://[::1]:443");
  sy_kube_config_free(cfg);
  clear_env();
}
END_TEST

START_TEST(test_in_cluster_errors) {
  clear_env();
  char sa[] = "/tmp/sykubeXXXXXX";
  make_sa_dir(sa, "ns");
  sy_kube_config_t *cfg = NULL;
  char err[512] = "";
  ck_assert_int_eq(sy_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), SY_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(err, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set"));
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "https", 1);
  ck_assert_int_eq(sy_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), SY_EINVAL);
  ck_assert_str_eq(err, "in-cluster: KUBERNETES_SERVICE_PORT \"https\": not a port number");
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  setenv("KUBERNETES_SERVICE_HOST", "evil/path", 1);
  ck_assert_int_eq(sy_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), SY_EINVAL);
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  /* no CA */
  char p[4200];
  snprintf(p, sizeof(p), "%s/ca.crt", sa);
  ck_assert_int_eq(unlink(p), 0);
  ck_assert_int_eq(sy_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), -ENOENT);
  ck_assert_ptr_nonnull(strstr(err, "in-cluster: cannot read the cluster CA"));
  ck_assert_ptr_nonnull(strstr(err, "/ca.crt: No such file or directory"));
  write_file(sa, "ca.crt", "not pem");
  ck_assert_int_eq(sy_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), SY_EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "not PEM"));
  /* empty token */
  write_file(sa, "token", " \n");
  ck_assert_int_eq(sy_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), SY_EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "/token: empty"));
  /* no token */
  snprintf(p, sizeof(p), "%s/token", sa);
  ck_assert_int_eq(unlink(p), 0);
  ck_assert_int_eq(sy_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), -ENOENT);
  ck_assert_ptr_nonnull(strstr(err, "in-cluster: cannot read the service-account token"));
  ck_assert_ptr_null(cfg);
  clear_env();
}
END_TEST

/* ================================================================ suite */

static Suite *suite(void) {
  Suite *s = suite_create("kube_config");
  TCase *tc = tcase_create("kubeconfig");
  tcase_add_test(tc, test_files_variant);
  tcase_add_test(tc, test_data_variant);
  tcase_add_test(tc, test_base64_whitespace_and_padding);
  tcase_add_test(tc, test_contexts);
  tcase_add_test(tc, test_relative_paths);
  tcase_add_loop_test(tc, test_bad_kubeconfig, 0, (int)SY_ARRAY_LEN(bad_cases));
  tcase_add_test(tc, test_ignored_fields);
  tcase_add_test(tc, test_alloc_failures);
  suite_add_tcase(s, tc);
  tc = tcase_create("load");
  tcase_add_test(tc, test_load_explicit_missing);
  tcase_add_test(tc, test_load_kubeconfig_env);
  tcase_add_test(tc, test_load_nothing_found);
  tcase_add_test(tc, test_load_in_cluster_order);
  suite_add_tcase(s, tc);
  tc = tcase_create("in_cluster");
  tcase_add_test(tc, test_in_cluster_ipv4);
  tcase_add_test(tc, test_in_cluster_ipv6);
  tcase_add_test(tc, test_in_cluster_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
