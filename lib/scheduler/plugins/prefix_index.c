/* The approximate prefix-cache index and prompt block hashing (see
 * prefix_index.h). Written from the upstream algorithm's description.
 *
 * Layout
 *  - eps[id]: tracked endpoints (id < SY_PFX_MAX_ENDPOINTS), found by
 *    address through ep_tab (open addressing, linear probing, ids + 1).
 *  - per endpoint: nodes[] (hash + LRU links, free list through `next`) and
 *    idx[] (open addressing over node indices + 1) for hash → node.
 *  - rev[]: open addressing hash → holder set, a small array of endpoint
 *    ids (inline up to 4, else heap). Contiguous ids keep the match walk to
 *    one probe plus a short linear scan per block.
 * Every table uses linear probing with backward-shift deletion (no
 * tombstones) and is kept at most half full. Slots are chosen from a
 * per-index random seed mixed into the (public) xxhash values, so crafted
 * prompts cannot aim at one probe chain.
 */
#include "prefix_index.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core.h"

#define NIL UINT32_MAX
#define EP_TAB_SIZE (2u * SY_PFX_MAX_ENDPOINTS) /* power of two, load <= 1/2 */
#define REV_MIN_SIZE 4096u
#define REV_INLINE 4u
#define NODES_MIN 64u
#define SEEN_GRANULARITY_NS 1000000000ull /* refresh last_seen at most once a second per endpoint */

/* ---------------------------------------------------------------- hashing */

size_t sy_pfx_block_count(size_t len, size_t block_chars, size_t max_blocks) {
  if (block_chars == 0 || len < block_chars) return 0;
  size_t n = len / block_chars;
  return n < max_blocks ? n : max_blocks;
}

size_t sy_pfx_hash_prompt(const char *model, size_t model_len, const char *salt, size_t salt_len, const char *prompt,
                          size_t len, size_t block_chars, size_t max_blocks, uint64_t *out) {
  size_t n = sy_pfx_block_count(len, block_chars, max_blocks);
  if (n == 0) return 0;
  XXH64_state_t st;
  XXH64_reset(&st, 0);
  if (model_len) XXH64_update(&st, model, model_len);
  if (salt && salt_len) XXH64_update(&st, salt, salt_len);
  uint64_t prev = XXH64_digest(&st);
  /* One-shot XXH64 over (block ‖ LE64(prev)) copied into a stack buffer is
   * ~4x faster than the streaming API for typical 64-byte blocks. */
  unsigned char buf[2048 + 8];
  bool copy = block_chars <= sizeof(buf) - 8;
  for (size_t i = 0; i < n; i++) {
    const char *block = prompt + i * block_chars;
    unsigned char le[8];
    for (int b = 0; b < 8; b++) le[b] = (unsigned char)(prev >> (8 * b));
    if (copy) {
      memcpy(buf, block, block_chars);
      memcpy(buf + block_chars, le, sizeof(le));
      prev = XXH64(buf, block_chars + sizeof(le), 0);
    } else {
      XXH64_reset(&st, 0);
      XXH64_update(&st, block, block_chars);
      XXH64_update(&st, le, sizeof(le));
      prev = XXH64_digest(&st);
    }
    out[i] = prev;
  }
  return n;
}

/* ------------------------------------------------------------ structures */

typedef struct node {
  uint64_t hash;
  uint32_t prev, next; /* LRU: prev toward head (most recent); free list via next */
} node_t;

typedef struct ep {
  char *addr;
  uint64_t ahash;
  uint16_t id;
  uint32_t cap;   /* LRU capacity */
  uint32_t count; /* live nodes */
  uint32_t head, tail, free_head;
  node_t *nodes;
  uint32_t n_nodes, nodes_alloc; /* high-water mark, allocated */
  uint32_t *idx;                 /* node index + 1; 0 = empty */
  uint32_t idx_mask;
  atomic_uint_fast64_t last_seen;
} ep_t;

typedef struct rev {
  uint64_t hash;
  uint16_t n;   /* 0 = empty slot */
  uint16_t cap; /* <= REV_INLINE: ids inline */
  union {
    uint16_t in[REV_INLINE];
    uint16_t *ext;
  } u;
} rev_t;

struct sy_pfx_index {
  pthread_rwlock_t lock;
  uint64_t seed;
  ep_t *eps[SY_PFX_MAX_ENDPOINTS];
  uint16_t ep_tab[EP_TAB_SIZE]; /* id + 1; 0 = empty */
  size_t n_eps;
  rev_t *rev;
  size_t rev_mask, rev_used;
  atomic_size_t total;
  uint64_t next_purge_ns, last_add_ns;
};

static inline uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}
static inline size_t slot_of(const sy_pfx_index_t *ix, uint64_t h, size_t mask) {
  return (size_t)mix64(h ^ ix->seed) & mask;
}
/* Backward-shift deletion: may the entry at j whose home is k move to the
 * hole at i? Only when k is not cyclically within (i, j]. */
static inline bool can_shift(size_t i, size_t j, size_t k) {
  return i <= j ? (k <= i || k > j) : (k <= i && k > j);
}
static inline uint16_t *rev_ids(rev_t *r) { return r->cap > REV_INLINE ? r->u.ext : r->u.in; }

/* ------------------------------------------------------------ endpoints */

static uint64_t addr_hash(const char *addr) { return XXH3_64bits(addr, strlen(addr)); }

static ep_t *ep_find(const sy_pfx_index_t *ix, const char *addr, uint64_t ah) {
  size_t mask = EP_TAB_SIZE - 1;
  for (size_t i = slot_of(ix, ah, mask);; i = (i + 1) & mask) {
    uint16_t v = ix->ep_tab[i];
    if (!v) return NULL;
    ep_t *e = ix->eps[v - 1];
    if (e->ahash == ah && !strcmp(e->addr, addr)) return e;
  }
}

static void ep_tab_remove(sy_pfx_index_t *ix, const ep_t *e) {
  size_t mask = EP_TAB_SIZE - 1;
  size_t i = slot_of(ix, e->ahash, mask);
  while (ix->ep_tab[i] != e->id + 1u) i = (i + 1) & mask;
  for (size_t j = i;;) {
    j = (j + 1) & mask;
    uint16_t v = ix->ep_tab[j];
    if (!v) break;
    size_t k = slot_of(ix, ix->eps[v - 1]->ahash, mask);
    if (can_shift(i, j, k)) {
      ix->ep_tab[i] = v;
      i = j;
    }
  }
  ix->ep_tab[i] = 0;
}

/* ---------------------------------------------------------- reverse map */

static rev_t *rev_find(const sy_pfx_index_t *ix, uint64_t h) {
  for (size_t i = slot_of(ix, h, ix->rev_mask);; i = (i + 1) & ix->rev_mask) {
    rev_t *r = &ix->rev[i];
    if (!r->n) return NULL;
    if (r->hash == h) return r;
  }
}

static int rev_resize(sy_pfx_index_t *ix, size_t size) {
  rev_t *t = sy_calloc(size, sizeof(*t));
  if (!t) return -ENOMEM;
  rev_t *old = ix->rev;
  size_t old_size = old ? ix->rev_mask + 1 : 0;
  ix->rev = t;
  ix->rev_mask = size - 1;
  for (size_t i = 0; i < old_size; i++) {
    if (!old[i].n) continue;
    size_t j = slot_of(ix, old[i].hash, ix->rev_mask);
    while (t[j].n) j = (j + 1) & ix->rev_mask;
    t[j] = old[i];
  }
  sy_free(old);
  return 0;
}

/* Room for one more hash in the reverse map. */
static int rev_reserve(sy_pfx_index_t *ix) {
  size_t size = ix->rev_mask + 1;
  if ((ix->rev_used + 1) * 2 <= size) return 0;
  return rev_resize(ix, size * 2);
}

/* Adds endpoint `id` to hash h's set (the caller knows it is not there). */
static int rev_add(sy_pfx_index_t *ix, uint64_t h, uint16_t id) {
  size_t i = slot_of(ix, h, ix->rev_mask);
  while (ix->rev[i].n && ix->rev[i].hash != h) i = (i + 1) & ix->rev_mask;
  rev_t *r = &ix->rev[i];
  if (!r->n) {
    r->hash = h;
    r->n = 1;
    r->cap = REV_INLINE;
    r->u.in[0] = id;
    ix->rev_used++;
    return 0;
  }
  if (r->n == r->cap) {
    uint16_t ncap = (uint16_t)(r->cap * 2); /* n <= SY_PFX_MAX_ENDPOINTS, so cap <= 4096 */
    uint16_t *a = sy_malloc(sizeof(uint16_t) * ncap);
    if (!a) return -ENOMEM;
    memcpy(a, rev_ids(r), sizeof(uint16_t) * r->n);
    if (r->cap > REV_INLINE) sy_free(r->u.ext);
    r->u.ext = a;
    r->cap = ncap;
  }
  rev_ids(r)[r->n++] = id;
  return 0;
}

static void rev_delete_slot(sy_pfx_index_t *ix, size_t i) {
  size_t mask = ix->rev_mask;
  for (size_t j = i;;) {
    j = (j + 1) & mask;
    if (!ix->rev[j].n) break;
    size_t k = slot_of(ix, ix->rev[j].hash, mask);
    if (can_shift(i, j, k)) {
      ix->rev[i] = ix->rev[j];
      i = j;
    }
  }
  memset(&ix->rev[i], 0, sizeof(rev_t));
  ix->rev_used--;
}

/* Removes endpoint `id` from hash h's set (and the set when empty). */
static void rev_del(sy_pfx_index_t *ix, uint64_t h, uint16_t id) {
  size_t i = slot_of(ix, h, ix->rev_mask);
  while (ix->rev[i].n && ix->rev[i].hash != h) i = (i + 1) & ix->rev_mask;
  rev_t *r = &ix->rev[i];
  if (!r->n) return; /* not reached while the invariants hold */
  uint16_t *ids = rev_ids(r);
  for (uint16_t k = 0; k < r->n; k++) {
    if (ids[k] == id) {
      ids[k] = ids[--r->n];
      break;
    }
  }
  if (r->n == 0) {
    if (r->cap > REV_INLINE) sy_free(r->u.ext);
    rev_delete_slot(ix, i);
    return;
  }
  if (r->cap > REV_INLINE && r->n <= r->cap / 4) { /* shrink with hysteresis */
    uint16_t ncap = (uint16_t)(r->cap / 2);
    if (ncap <= REV_INLINE) {
      uint16_t tmp[REV_INLINE];
      memcpy(tmp, r->u.ext, sizeof(uint16_t) * r->n);
      sy_free(r->u.ext);
      memcpy(r->u.in, tmp, sizeof(tmp));
      r->cap = REV_INLINE;
    } else {
      uint16_t *a = sy_realloc(r->u.ext, sizeof(uint16_t) * ncap);
      if (a) {
        r->u.ext = a;
        r->cap = ncap;
      }
    }
  }
}

/* ---------------------------------------------------- per-endpoint LRU */

static uint32_t idx_find(const sy_pfx_index_t *ix, const ep_t *e, uint64_t h) {
  if (!e->idx) return NIL;
  for (size_t i = slot_of(ix, h, e->idx_mask);; i = (i + 1) & e->idx_mask) {
    uint32_t v = e->idx[i];
    if (!v) return NIL;
    if (e->nodes[v - 1].hash == h) return v - 1;
  }
}

static void idx_insert(const sy_pfx_index_t *ix, ep_t *e, uint32_t ni) {
  size_t i = slot_of(ix, e->nodes[ni].hash, e->idx_mask);
  while (e->idx[i]) i = (i + 1) & e->idx_mask;
  e->idx[i] = ni + 1;
}

static void idx_remove(const sy_pfx_index_t *ix, ep_t *e, uint32_t ni) {
  size_t mask = e->idx_mask;
  size_t i = slot_of(ix, e->nodes[ni].hash, mask);
  while (e->idx[i] != ni + 1) i = (i + 1) & mask;
  for (size_t j = i;;) {
    j = (j + 1) & mask;
    uint32_t v = e->idx[j];
    if (!v) break;
    size_t k = slot_of(ix, e->nodes[v - 1].hash, mask);
    if (can_shift(i, j, k)) {
      e->idx[i] = v;
      i = j;
    }
  }
  e->idx[i] = 0;
}

static void lru_unlink(ep_t *e, uint32_t ni) {
  node_t *n = &e->nodes[ni];
  if (n->prev != NIL) e->nodes[n->prev].next = n->next;
  else e->head = n->next;
  if (n->next != NIL) e->nodes[n->next].prev = n->prev;
  else e->tail = n->prev;
}

static void lru_push_front(ep_t *e, uint32_t ni) {
  node_t *n = &e->nodes[ni];
  n->prev = NIL;
  n->next = e->head;
  if (e->head != NIL) e->nodes[e->head].prev = ni;
  e->head = ni;
  if (e->tail == NIL) e->tail = ni;
}

static void evict_tail(sy_pfx_index_t *ix, ep_t *e) {
  uint32_t ni = e->tail;
  idx_remove(ix, e, ni);
  rev_del(ix, e->nodes[ni].hash, e->id);
  lru_unlink(e, ni);
  e->nodes[ni].next = e->free_head;
  e->free_head = ni;
  e->count--;
  atomic_fetch_sub_explicit(&ix->total, 1, memory_order_relaxed);
}

/* Grows nodes[] (doubling, up to cap) and rebuilds idx[] at twice that. */
static int ep_grow(sy_pfx_index_t *ix, ep_t *e) {
  uint32_t want = e->nodes_alloc ? e->nodes_alloc * 2 : NODES_MIN;
  if (want > e->cap) want = e->cap;
  if (want <= e->nodes_alloc) return SY_ETOOBIG; /* not reached: count < cap */
  size_t size = 1;
  while (size < (size_t)want * 2) size <<= 1;
  uint32_t *idx = NULL; /* allocated first: the table must stay at most half full */
  if (!e->idx || size > (size_t)e->idx_mask + 1) {
    idx = sy_calloc(size, sizeof(uint32_t));
    if (!idx) return -ENOMEM;
  }
  node_t *nodes = sy_realloc(e->nodes, sizeof(node_t) * want);
  if (!nodes) {
    sy_free(idx);
    return -ENOMEM;
  }
  e->nodes = nodes;
  e->nodes_alloc = want;
  if (idx) {
    sy_free(e->idx);
    e->idx = idx;
    e->idx_mask = (uint32_t)(size - 1);
    for (uint32_t ni = e->head; ni != NIL; ni = e->nodes[ni].next) idx_insert(ix, e, ni);
  }
  return 0;
}

static void ep_drop(sy_pfx_index_t *ix, ep_t *e) {
  for (uint32_t ni = e->head; ni != NIL; ni = e->nodes[ni].next) rev_del(ix, e->nodes[ni].hash, e->id);
  atomic_fetch_sub_explicit(&ix->total, e->count, memory_order_relaxed);
  ep_tab_remove(ix, e);
  ix->eps[e->id] = NULL;
  ix->n_eps--;
  sy_free(e->nodes);
  sy_free(e->idx);
  sy_free(e->addr);
  sy_free(e);
}

static void rev_maybe_shrink(sy_pfx_index_t *ix) {
  size_t size = ix->rev_mask + 1;
  if (size <= REV_MIN_SIZE || ix->rev_used * 8 > size) return;
  size_t want = size;
  while (want > REV_MIN_SIZE && ix->rev_used * 4 < want) want /= 2;
  (void)rev_resize(ix, want); /* on failure keep the larger table */
}

static uint32_t clamp_cap(uint64_t c) {
  if (c < 1) return 1;
  return c > SY_PFX_MAX_CAPACITY ? SY_PFX_MAX_CAPACITY : (uint32_t)c;
}

static ep_t *ep_get(sy_pfx_index_t *ix, const char *addr, uint64_t now_ns) {
  uint64_t ah = addr_hash(addr);
  ep_t *e = ep_find(ix, addr, ah);
  if (e) return e;
  if (ix->n_eps >= SY_PFX_MAX_ENDPOINTS) { /* drop the endpoint seen least recently */
    ep_t *old = NULL;
    for (size_t i = 0; i < SY_PFX_MAX_ENDPOINTS; i++) {
      ep_t *x = ix->eps[i];
      if (x && (!old || atomic_load_explicit(&x->last_seen, memory_order_relaxed) <
                            atomic_load_explicit(&old->last_seen, memory_order_relaxed))) {
        old = x;
      }
    }
    ep_drop(ix, old);
  }
  e = sy_calloc(1, sizeof(*e));
  char *a = sy_strdup(addr);
  if (!e || !a) {
    sy_free(e);
    sy_free(a);
    return NULL;
  }
  uint16_t id = 0;
  while (ix->eps[id]) id++;
  e->addr = a;
  e->ahash = ah;
  e->id = id;
  e->cap = 1;
  e->head = e->tail = e->free_head = NIL;
  atomic_init(&e->last_seen, now_ns);
  ix->eps[id] = e;
  ix->n_eps++;
  size_t mask = EP_TAB_SIZE - 1;
  size_t i = slot_of(ix, ah, mask);
  while (ix->ep_tab[i]) i = (i + 1) & mask;
  ix->ep_tab[i] = (uint16_t)(id + 1);
  return e;
}

/* Inserts or refreshes one hash for e. */
static int ep_add_hash(sy_pfx_index_t *ix, ep_t *e, uint64_t h) {
  uint32_t ni = idx_find(ix, e, h);
  if (ni != NIL) {
    if (e->head != ni) {
      lru_unlink(e, ni);
      lru_push_front(e, ni);
    }
    return 0;
  }
  while (e->count >= e->cap) evict_tail(ix, e);
  if (atomic_load_explicit(&ix->total, memory_order_relaxed) >= SY_PFX_MAX_ENTRIES) {
    if (!e->count) return SY_ETOOBIG;
    evict_tail(ix, e);
  }
  if (e->free_head == NIL && e->n_nodes == e->nodes_alloc) {
    int rc = ep_grow(ix, e);
    if (rc) return rc;
  }
  int rc = rev_reserve(ix);
  if (rc) return rc;
  rc = rev_add(ix, h, e->id);
  if (rc) return rc;
  if (e->free_head != NIL) {
    ni = e->free_head;
    e->free_head = e->nodes[ni].next;
  } else {
    ni = e->n_nodes++;
  }
  e->nodes[ni].hash = h;
  lru_push_front(e, ni);
  idx_insert(ix, e, ni);
  e->count++;
  atomic_fetch_add_explicit(&ix->total, 1, memory_order_relaxed);
  return 0;
}

/* ----------------------------------------------------------------- API */

sy_pfx_index_t *sy_pfx_index_new(void) {
  sy_pfx_index_t *ix = sy_calloc(1, sizeof(*ix));
  if (!ix) return NULL;
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  /* Decisions take the lock shared all the time; without writer preference
   * the index updates could starve. */
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  int rc = pthread_rwlock_init(&ix->lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  if (rc != 0) {
    sy_free(ix);
    return NULL;
  }
  ix->seed = sy_rand_u64();
  atomic_init(&ix->total, 0);
  if (rev_resize(ix, REV_MIN_SIZE) != 0) {
    pthread_rwlock_destroy(&ix->lock);
    sy_free(ix);
    return NULL;
  }
  return ix;
}

void sy_pfx_index_free(sy_pfx_index_t *ix) {
  if (!ix) return;
  for (size_t i = 0; i < SY_PFX_MAX_ENDPOINTS; i++) {
    ep_t *e = ix->eps[i];
    if (!e) continue;
    sy_free(e->nodes);
    sy_free(e->idx);
    sy_free(e->addr);
    sy_free(e);
  }
  for (size_t i = 0; i <= ix->rev_mask; i++) {
    if (ix->rev[i].n && ix->rev[i].cap > REV_INLINE) sy_free(ix->rev[i].u.ext);
  }
  sy_free(ix->rev);
  pthread_rwlock_destroy(&ix->lock);
  sy_free(ix);
}

void sy_pfx_index_match(sy_pfx_index_t *ix, const uint64_t *hashes, size_t n, const char *const *addrs,
                        size_t n_addrs, uint32_t *counts, uint16_t *scratch, uint64_t now_ns) {
  memset(counts, 0, sizeof(*counts) * n_addrs);
  if (n == 0 || n_addrs == 0) return;
  /* first[id] = 1 + index of the first candidate with endpoint id */
  uint16_t first[SY_PFX_MAX_ENDPOINTS];
  bool any = false;
  pthread_rwlock_rdlock(&ix->lock);
  if (ix->n_eps == 0) goto out;
  memset(first, 0, sizeof(first));
  for (size_t i = 0; i < n_addrs; i++) {
    ep_t *e = ep_find(ix, addrs[i], addr_hash(addrs[i]));
    if (!e) {
      scratch[i] = UINT16_MAX;
      continue;
    }
    scratch[i] = e->id;
    if (!first[e->id]) first[e->id] = (uint16_t)(i + 1 > UINT16_MAX ? UINT16_MAX : i + 1);
    any = true;
    uint64_t seen = atomic_load_explicit(&e->last_seen, memory_order_relaxed);
    if (now_ns > seen + SEEN_GRANULARITY_NS) atomic_store_explicit(&e->last_seen, now_ns, memory_order_relaxed);
  }
  if (!any) goto out;
  /* Consecutive blocks of one prompt usually have the same holder set (in
   * the same order): count runs of identical sets, then credit each holder
   * once per run. */
  const uint16_t *run_ids = NULL;
  uint16_t run_n = 0;
  uint32_t run = 0;
  for (size_t b = 0; b <= n; b++) {
    rev_t *r = b < n ? rev_find(ix, hashes[b]) : NULL; /* NULL: no endpoint holds it, the prefix ends */
    const uint16_t *ids = r ? rev_ids(r) : NULL;
    if (r && run && r->n == run_n && !memcmp(ids, run_ids, sizeof(uint16_t) * run_n)) {
      run++;
      continue;
    }
    for (uint16_t k = 0; k < run_n; k++) {
      uint16_t f = first[run_ids[k]];
      if (f && f != UINT16_MAX) counts[f - 1] += run;
    }
    if (!r) break;
    run_ids = ids;
    run_n = r->n;
    run = 1;
  }
  /* Duplicated addresses, and candidates past index 65534, copy the first's count. */
  for (size_t i = 0; i < n_addrs; i++) {
    if (scratch[i] == UINT16_MAX) continue;
    uint16_t f = first[scratch[i]];
    if (f == UINT16_MAX) continue; /* not reached for realistic candidate counts */
    if (f - 1u != i) counts[i] = counts[f - 1];
  }
out:
  pthread_rwlock_unlock(&ix->lock);
}

static size_t purge_locked(sy_pfx_index_t *ix, uint64_t cutoff_ns) {
  size_t dropped = 0;
  for (size_t i = 0; i < SY_PFX_MAX_ENDPOINTS && ix->n_eps; i++) {
    ep_t *e = ix->eps[i];
    if (e && atomic_load_explicit(&e->last_seen, memory_order_relaxed) < cutoff_ns) {
      ep_drop(ix, e);
      dropped++;
    }
  }
  if (dropped) rev_maybe_shrink(ix);
  return dropped;
}

int sy_pfx_index_add(sy_pfx_index_t *ix, const uint64_t *hashes, size_t n, const sy_pfx_target_t *targets,
                     size_t n_targets, uint64_t now_ns) {
  int rc = 0;
  pthread_rwlock_wrlock(&ix->lock);
  for (size_t t = 0; t < n_targets; t++) {
    if (!targets[t].addr) continue;
    bool dup = false;
    for (size_t u = 0; u < t; u++) dup = dup || (targets[u].addr && !strcmp(targets[u].addr, targets[t].addr));
    if (dup) continue;
    ep_t *e = ep_get(ix, targets[t].addr, now_ns);
    if (!e) {
      rc = -ENOMEM;
      continue;
    }
    atomic_store_explicit(&e->last_seen, now_ns, memory_order_relaxed);
    e->cap = clamp_cap(targets[t].capacity);
    while (e->count > e->cap) evict_tail(ix, e);
    /* Inserting more hashes than fit evicts the earliest ones of this same
     * request again: skip straight to the ones that survive. */
    size_t from = n > e->cap ? n - e->cap : 0;
    for (size_t i = from; i < n; i++) {
      int r = ep_add_hash(ix, e, hashes[i]);
      if (r) {
        rc = r == SY_ETOOBIG ? 0 : r;
        break;
      }
    }
  }
  /* Lazy purge of endpoints that vanished (no background thread). */
  if (ix->last_add_ns && now_ns > ix->last_add_ns + SY_PFX_PURGE_AGE_NS) {
    ix->next_purge_ns = now_ns + SY_PFX_PURGE_INTERVAL_NS; /* idle gap: let live endpoints show up first */
  }
  if (!ix->next_purge_ns) ix->next_purge_ns = now_ns + SY_PFX_PURGE_INTERVAL_NS;
  if (now_ns > ix->last_add_ns) ix->last_add_ns = now_ns;
  if (now_ns >= ix->next_purge_ns) {
    if (now_ns > SY_PFX_PURGE_AGE_NS) purge_locked(ix, now_ns - SY_PFX_PURGE_AGE_NS);
    ix->next_purge_ns = now_ns + SY_PFX_PURGE_INTERVAL_NS;
  }
  pthread_rwlock_unlock(&ix->lock);
  return rc;
}

size_t sy_pfx_index_purge(sy_pfx_index_t *ix, uint64_t cutoff_ns) {
  pthread_rwlock_wrlock(&ix->lock);
  size_t d = purge_locked(ix, cutoff_ns);
  pthread_rwlock_unlock(&ix->lock);
  return d;
}

size_t sy_pfx_index_size(const sy_pfx_index_t *ix) {
  return ix ? atomic_load_explicit(&ix->total, memory_order_relaxed) : 0;
}

size_t sy_pfx_index_endpoints(sy_pfx_index_t *ix) {
  pthread_rwlock_rdlock(&ix->lock);
  size_t n = ix->n_eps;
  pthread_rwlock_unlock(&ix->lock);
  return n;
}

size_t sy_pfx_index_ep_entries(sy_pfx_index_t *ix, const char *addr) {
  pthread_rwlock_rdlock(&ix->lock);
  ep_t *e = ep_find(ix, addr, addr_hash(addr));
  size_t n = e ? e->count : 0;
  pthread_rwlock_unlock(&ix->lock);
  return n;
}

uint64_t sy_pfx_index_ep_capacity(sy_pfx_index_t *ix, const char *addr) {
  pthread_rwlock_rdlock(&ix->lock);
  ep_t *e = ep_find(ix, addr, addr_hash(addr));
  uint64_t c = e ? e->cap : 0;
  pthread_rwlock_unlock(&ix->lock);
  return c;
}

bool sy_pfx_index_holds(sy_pfx_index_t *ix, const char *addr, uint64_t hash) {
  pthread_rwlock_rdlock(&ix->lock);
  ep_t *e = ep_find(ix, addr, addr_hash(addr));
  bool b = e && idx_find(ix, e, hash) != NIL;
  pthread_rwlock_unlock(&ix->lock);
  return b;
}

size_t sy_pfx_index_holders(sy_pfx_index_t *ix, uint64_t hash) {
  pthread_rwlock_rdlock(&ix->lock);
  rev_t *r = rev_find(ix, hash);
  size_t n = r ? r->n : 0;
  pthread_rwlock_unlock(&ix->lock);
  return n;
}

size_t sy_pfx_index_hashes(sy_pfx_index_t *ix) {
  pthread_rwlock_rdlock(&ix->lock);
  size_t n = ix->rev_used;
  pthread_rwlock_unlock(&ix->lock);
  return n;
}

#define CHECK(cond)                 \
  do {                              \
    if (!(cond)) {                  \
      rc = -__LINE__;               \
      goto out;                     \
    }                               \
  } while (0)

int sy_pfx_index_check(sy_pfx_index_t *ix) {
  int rc = 0;
  pthread_rwlock_rdlock(&ix->lock);
  size_t n_eps = 0, entries = 0, used = 0, members = 0;
  for (size_t i = 0; i < SY_PFX_MAX_ENDPOINTS; i++) {
    ep_t *e = ix->eps[i];
    if (!e) continue;
    n_eps++;
    CHECK(e->id == i);
    CHECK(ep_find(ix, e->addr, e->ahash) == e);
    CHECK(e->count <= e->cap && e->cap <= SY_PFX_MAX_CAPACITY);
    CHECK(e->n_nodes <= e->nodes_alloc && e->nodes_alloc <= SY_PFX_MAX_CAPACITY);
    uint32_t c = 0, prev = NIL;
    for (uint32_t ni = e->head; ni != NIL; ni = e->nodes[ni].next) {
      CHECK(ni < e->n_nodes && c < e->count);
      CHECK(e->nodes[ni].prev == prev);
      CHECK(idx_find(ix, e, e->nodes[ni].hash) == ni);
      rev_t *r = rev_find(ix, e->nodes[ni].hash);
      CHECK(r != NULL);
      bool found = false;
      for (uint16_t k = 0; k < r->n; k++) found = found || rev_ids(r)[k] == e->id;
      CHECK(found);
      prev = ni;
      c++;
    }
    CHECK(c == e->count && e->tail == prev);
    uint32_t freec = 0;
    for (uint32_t ni = e->free_head; ni != NIL; ni = e->nodes[ni].next) {
      CHECK(ni < e->n_nodes && freec < e->n_nodes);
      freec++;
    }
    CHECK(freec + c == e->n_nodes);
    if (e->idx) {
      size_t live = 0;
      for (size_t s = 0; s <= e->idx_mask; s++) live += e->idx[s] != 0;
      CHECK(live == c && live * 2 <= (size_t)e->idx_mask + 1);
    } else {
      CHECK(c == 0);
    }
    entries += c;
  }
  CHECK(n_eps == ix->n_eps);
  CHECK(entries == atomic_load_explicit(&ix->total, memory_order_relaxed) && entries <= SY_PFX_MAX_ENTRIES);
  size_t tab = 0;
  for (size_t i = 0; i < EP_TAB_SIZE; i++) tab += ix->ep_tab[i] != 0;
  CHECK(tab == n_eps);
  for (size_t i = 0; i <= ix->rev_mask; i++) {
    rev_t *r = &ix->rev[i];
    if (!r->n) continue;
    used++;
    CHECK(rev_find(ix, r->hash) == r);
    CHECK(r->n <= r->cap);
    for (uint16_t k = 0; k < r->n; k++) {
      uint16_t id = rev_ids(r)[k];
      CHECK(id < SY_PFX_MAX_ENDPOINTS && ix->eps[id]);
      CHECK(idx_find(ix, ix->eps[id], r->hash) != NIL);
      for (uint16_t k2 = 0; k2 < k; k2++) CHECK(rev_ids(r)[k2] != id);
    }
    members += r->n;
  }
  CHECK(used == ix->rev_used && used * 2 <= ix->rev_mask + 1);
  CHECK(members == entries);
out:
  pthread_rwlock_unlock(&ix->lock);
  return rc;
}
