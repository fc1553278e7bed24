/* Local manifests: files and directories of YAML/JSON documents. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core.h"
#include "source_int.h"
#include "yaml.h"

uint64_t sy_source__hash(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ull;
  }
  return h;
}

void sy_source__names_free(char **names, size_t n) {
  if (!names) return;
  for (size_t i = 0; i < n; i++) sy_free(names[i]);
  sy_free(names);
}

static bool has_manifest_suffix(const char *name) {
  static const char *const exts[] = {".yaml", ".yml", ".json"};
  size_t len = strlen(name);
  for (size_t i = 0; i < SY_ARRAY_LEN(exts); i++) {
    size_t el = strlen(exts[i]);
    if (len > el && strcmp(name + len - el, exts[i]) == 0) return true;
  }
  return false;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int sy_source__list(const char *path, bool *is_dir, char ***out, size_t *n_out) {
  struct stat st;
  *out = NULL;
  *n_out = 0;
  *is_dir = false;
  if (stat(path, &st) != 0) return -errno;
  if (!S_ISDIR(st.st_mode)) {
    char **names = sy_calloc(1, sizeof(*names));
    if (!names || !(names[0] = sy_strdup(path))) {
      sy_free(names);
      return -ENOMEM;
    }
    *out = names;
    *n_out = 1;
    return 0;
  }
  *is_dir = true;
  DIR *dir = opendir(path);
  if (!dir) return -errno;
  size_t plen = strlen(path);
  const char *sep = (plen > 0 && path[plen - 1] == '/') ? "" : "/";
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *e;
  for (;;) {
    errno = 0;
    if (!(e = readdir(dir))) {
      if (errno) rc = -errno;
      break;
    }
    if (e->d_name[0] == '.' || !has_manifest_suffix(e->d_name)) continue;
    size_t len = plen + strlen(sep) + strlen(e->d_name) + 1;
    char *full = sy_malloc(len);
    if (!full) {
      rc = -ENOMEM;
      break;
    }
    snprintf(full, len, "%s%s%s", path, sep, e->d_name);
    /* Follow symlinks (ConfigMap volumes); skip directories, sockets and
     * entries that vanished since readdir. */
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
      sy_free(full);
      continue;
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      char **nn = sy_realloc(names, ncap * sizeof(*nn));
      if (!nn) {
        sy_free(full);
        rc = -ENOMEM;
        break;
      }
      names = nn;
      cap = ncap;
    }
    names[n++] = full;
  }
  closedir(dir);
  if (rc) {
    sy_source__names_free(names, n);
    return rc;
  }
  if (n > 1) qsort(names, n, sizeof(*names), name_cmp);
  *out = names;
  *n_out = n;
  return 0;
}

/* Parses one buffer into the loader. */
static int load_one(sy_source__loader_t *ld, const char *name, const char *data, size_t len,
                    sy_source_error_t *err) {
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t ye;
  int rc = sy_yaml_parse(name, data, len, NULL, &s, &ye);
  if (rc) {
    sy_source__error_from_yaml(err, &ye);
    return rc;
  }
  rc = sy_source__decode_stream(ld, s);
  sy_yaml_stream_free(s);
  return rc;
}

static int finish(sy_source__loader_t *ld, int rc, const char *name, sy_objset_t **out,
                  sy_source_error_t *err) {
  if (rc == 0) rc = sy_source__loader_finish(ld, out);
  if (rc == -ENOMEM) sy_source__error_set(err, name, 0, 0, "out of memory");
  sy_source__loader_cleanup(ld);
  return rc;
}

int sy_manifests_load_buffer(const char *name, const char *data, size_t len, sy_objset_t **out,
                             sy_source_error_t *err) {
  sy_source__loader_t ld;
  if (!name) name = "<buffer>";
  *out = NULL;
  sy_source__loader_init(&ld, err);
  int rc = load_one(&ld, name, data, len, err);
  return finish(&ld, rc, name, out, err);
}

int sy_source__load(const char *path, sy_objset_t **out, sy_source_error_t *err,
                    uint64_t *content_hash) {
  sy_source__loader_t ld;
  char **names = NULL;
  size_t n = 0;
  bool is_dir;
  uint64_t h = SY_SOURCE_HASH_INIT;
  *out = NULL;
  int rc = sy_source__list(path, &is_dir, &names, &n);
  if (rc) {
    sy_source__error_set(err, path, 0, 0, "cannot read: %s", sy_strerror(rc));
    return rc;
  }
  sy_source__loader_init(&ld, err);
  for (size_t i = 0; i < n && rc == 0; i++) {
    char *buf = NULL;
    size_t len = 0;
    sy_yaml_error_t ye;
    rc = sy_yaml_read_file(names[i], 0, &buf, &len, &ye);
    if (rc) {
      sy_source__error_from_yaml(err, &ye);
      break;
    }
    h = sy_source__hash(h, names[i], strlen(names[i]) + 1);
    h = sy_source__hash(h, &len, sizeof(len));
    h = sy_source__hash(h, buf, len);
    rc = load_one(&ld, names[i], buf, len, err);
    sy_free(buf);
  }
  sy_source__names_free(names, n);
  rc = finish(&ld, rc, path, out, err);
  if (rc == 0 && content_hash) *content_hash = h;
  return rc;
}

int sy_manifests_load(const char *path, sy_objset_t **out, sy_source_error_t *err) {
  return sy_source__load(path, out, err, NULL);
}

int sy_manifests_list(const char *path, char ***out, size_t *n) {
  bool is_dir;
  return sy_source__list(path, &is_dir, out, n);
}

void sy_manifests_list_free(char **names, size_t n) { sy_source__names_free(names, n); }
