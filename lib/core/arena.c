/* Bump arena for request-scoped memory. */
#include <string.h>

#include "core.h"

#define ARENA_ALIGN 16u

struct sy_arena_block {
  sy_arena_block_t *prev;
  size_t size; /* usable bytes in mem[] */
  size_t used;
  _Alignas(16) unsigned char mem[];
};

void sy_arena_init(sy_arena_t *a, size_t block_size, size_t limit) {
  a->head = NULL;
  a->block_size = block_size ? block_size : 4096;
  a->total = 0;
  a->limit = limit;
}

static sy_arena_block_t *block_new(sy_arena_t *a, size_t min) {
  size_t size = min > a->block_size ? min : a->block_size;
  if (a->limit && a->total + size > a->limit) return NULL;
  sy_arena_block_t *b = sy_malloc(sizeof(*b) + size);
  if (!b) return NULL;
  b->size = size;
  b->used = 0;
  b->prev = a->head;
  a->head = b;
  a->total += size;
  return b;
}

void *sy_arena_alloc(sy_arena_t *a, size_t n) {
  size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (need < n) return NULL; /* overflow */
  sy_arena_block_t *b = a->head;
  if (!b || b->size - b->used < need) {
    /* Large requests get their own block behind the current one so the
     * current block's free space is not wasted. */
    if (b && need > a->block_size / 2) {
      if (a->limit && a->total + need > a->limit) return NULL;
      sy_arena_block_t *big = sy_malloc(sizeof(*big) + need);
      if (!big) return NULL;
      big->size = need;
      big->used = need;
      big->prev = b->prev;
      b->prev = big;
      a->total += need;
      return big->mem;
    }
    b = block_new(a, need);
    if (!b) return NULL;
  }
  void *p = b->mem + b->used;
  b->used += need;
  return p;
}

void *sy_arena_calloc(sy_arena_t *a, size_t n) {
  void *p = sy_arena_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

void *sy_arena_memdup(sy_arena_t *a, const void *src, size_t n) {
  void *p = sy_arena_alloc(a, n ? n : 1);
  if (p && n) memcpy(p, src, n);
  return p;
}

char *sy_arena_strndup(sy_arena_t *a, const char *s, size_t n) {
  char *p = sy_arena_alloc(a, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void sy_arena_reset(sy_arena_t *a) {
  sy_arena_block_t *b = a->head;
  if (!b) return;
  /* keep the oldest block of the default size, free the rest */
  sy_arena_block_t *keep = NULL;
  while (b) {
    sy_arena_block_t *prev = b->prev;
    if (!keep && prev == NULL && b->size == a->block_size) {
      keep = b;
    } else {
      a->total -= b->size;
      sy_free(b);
    }
    b = prev;
  }
  a->head = keep;
  if (keep) {
    keep->used = 0;
    keep->prev = NULL;
  }
}

void sy_arena_cleanup(sy_arena_t *a) {
  sy_arena_block_t *b = a->head;
  while (b) {
    sy_arena_block_t *prev = b->prev;
    sy_free(b);
    b = prev;
  }
  a->head = NULL;
  a->total = 0;
}
