/* Allocation wrappers: the one place raw malloc/free are allowed. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static atomic_long fail_countdown;

void sy_alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }

static bool should_fail(void) {
  if (atomic_load_explicit(&fail_countdown, memory_order_relaxed) <= 0) return false;
  return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

void *sy_malloc(size_t n) {
  if (should_fail()) return NULL;
  return malloc(n ? n : 1);
}

void *sy_calloc(size_t count, size_t size) {
  if (should_fail()) return NULL;
  return calloc(count ? count : 1, size ? size : 1);
}

void *sy_realloc(void *p, size_t n) {
  if (should_fail()) return NULL;
  return realloc(p, n ? n : 1);
}

void sy_free(void *p) { free(p); }

char *sy_strndup(const char *s, size_t n) {
  char *d = sy_malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *sy_strdup(const char *s) { return s ? sy_strndup(s, strlen(s)) : NULL; }
