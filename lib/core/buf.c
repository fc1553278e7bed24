/* Bounded growable buffer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

void sy_buf_init(sy_buf_t *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

static int reserve(sy_buf_t *b, size_t extra) {
  if (extra > b->max - b->len || b->len + extra < b->len) return SY_ETOOBIG;
  size_t need = b->len + extra + 1; /* + NUL */
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  if (cap > b->max + 1) cap = b->max + 1;
  char *d = sy_realloc(b->data, cap);
  if (!d) return -ENOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

int sy_buf_append(sy_buf_t *b, const void *p, size_t n) {
  int rc = reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int sy_buf_append_str(sy_buf_t *b, const char *s) { return sy_buf_append(b, s, strlen(s)); }

int sy_buf_printf(sy_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[256];
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0) return SY_EINVAL;
  if ((size_t)n < sizeof(tmp)) return sy_buf_append(b, tmp, (size_t)n);
  int rc = reserve(b, (size_t)n);
  if (rc) return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void sy_buf_consume(sy_buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
  } else {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
  }
  if (b->data) b->data[b->len] = '\0';
}

void sy_buf_reset(sy_buf_t *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

void sy_buf_cleanup(sy_buf_t *b) {
  SY_FREE(&b->data);
  b->len = b->cap = 0;
}
