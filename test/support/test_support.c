#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

int sy_test_run(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}

char *sy_test_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = sy_malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) SY_FREE(&buf);
  fclose(f);
  if (!buf) return NULL;
  buf[n] = '\0';
  if (len) *len = (size_t)n;
  return buf;
}

const char *sy_test_data_path(const char *rel) {
  static char path[4096];
  const char *base = getenv("SY_TEST_DATA");
  snprintf(path, sizeof(path), "%s/%s", base ? base : "test/data", rel);
  return path;
}

const char *sy_test_write_temp(const char *name, const char *content) {
  static char path[4096];
  char dir[] = "/tmp/sytestXXXXXX";
  if (!mkdtemp(dir)) return NULL;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  fputs(content, f);
  fclose(f);
  return path;
}
