/*
 * core — the bottom layer every other module may use: allocation wrappers,
 * error codes, logging, per-stream arenas, bounded buffers, time and a cheap
 * per-thread PRNG. It knows nothing about Kubernetes, Envoy or scheduling.
 *
 * Thread-safety: everything here is safe to call from any thread unless a
 * function's comment says it operates on caller-owned state (arena, buf),
 * in which case the caller must not share that object between threads.
 */
#ifndef SY_CORE_H
#define SY_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- errors */

/* Functions return 0 on success and a negative code on failure: either a
 * negated errno value or one of these. sy_strerror() names any of them. */
enum {
  SY_EBASE = 10000,
  SY_ETOOBIG = -(SY_EBASE + 1),  /* a bounded buffer or limit was exceeded */
  SY_EPARSE = -(SY_EBASE + 2),   /* malformed input */
  SY_EINVAL = -(SY_EBASE + 3),   /* invalid argument or configuration */
  SY_ENOTFOUND = -(SY_EBASE + 4),
  SY_EAGAIN = -(SY_EBASE + 5),   /* need more input */
  SY_EINTERNAL = -(SY_EBASE + 6),
};

/* Returns a static string describing `err` (0, -errno or SY_E*). */
const char *sy_strerror(int err);

/* ------------------------------------------------------------ allocation */

/* Checked allocation wrappers. They return NULL on failure (never abort);
 * callers handle it. sy_free(NULL) is a no-op. The only place raw
 * malloc/free may appear is lib/core (enforced by hack/checksrc). */
void *sy_malloc(size_t n);
void *sy_calloc(size_t count, size_t size);
void *sy_realloc(void *p, size_t n);
void sy_free(void *p);
char *sy_strdup(const char *s);
char *sy_strndup(const char *s, size_t n);
/* Frees *pp and sets it to NULL. */
#define SY_FREE(pp) \
  do {              \
    sy_free(*(pp)); \
    *(pp) = NULL;   \
  } while (0)

/* Test hook: when n > 0, the n-th allocation from now fails (failmalloc). */
void sy_alloc_fail_after(long n);

/* ------------------------------------------------------------------ time */

/* Monotonic clock in nanoseconds / microseconds. */
uint64_t sy_now_ns(void);
static inline uint64_t sy_now_us(void) { return sy_now_ns() / 1000u; }
/* Wall clock, seconds since the epoch with microsecond fraction. */
double sy_wall_time(void);

/* ------------------------------------------------------------------ rand */

/* Fast per-thread xoshiro256** PRNG, seeded from the OS on first use.
 * Not for cryptography. */
uint64_t sy_rand_u64(void);
/* Uniform in [0, n); n must be > 0. */
uint64_t sy_rand_below(uint64_t n);
/* Fills `out` (37 bytes incl. NUL) with a random RFC 4122 version-4 UUID. */
void sy_uuid4(char out[37]);

/* ---------------------------------------------------------------- abseil */

/* Switches off abseil's debug-only mutex deadlock detection, which Debian's
 * abseil build leaves on for every lock libgrpc takes (lib/core/abseil.c).
 * Call before grpc_init(). True when abseil's switch was found. */
bool sy_abseil_deadlock_detection_off(void);

/* --------------------------------------------------------------- logging */

typedef enum sy_log_level {
  SY_LOG_ERROR = 0,
  SY_LOG_WARN = 1,
  SY_LOG_INFO = 2,  /* default, like upstream's -v 2 */
  SY_LOG_VERBOSE = 3,
  SY_LOG_DEBUG = 4,
  SY_LOG_TRACE = 5,
} sy_log_level_t;

typedef enum sy_log_format { SY_LOG_FMT_KV = 0, SY_LOG_FMT_JSON = 1 } sy_log_format_t;

/* Process-wide settings; call before starting threads. */
void sy_log_set_level(int level);
void sy_log_set_format(sy_log_format_t fmt);
extern int sy_log_level_current;

/* One structured line to stderr: ts, level, msg, then "key=value" pairs
 * given as alternating const char * arguments terminated by NULL, e.g.
 *   SY_LOG(SY_LOG_INFO, "endpoint picked", "request_id", id, "endpoint", ep, NULL);
 * The level is checked before any argument is evaluated. */
#define SY_LOG(level, ...)                                      \
  do {                                                          \
    if ((int)(level) <= sy_log_level_current) sy_log_emit((level), __VA_ARGS__); \
  } while (0)
void sy_log_emit(int level, const char *msg, ...);

/* ----------------------------------------------------------------- arena */

/* A bump allocator for request-scoped memory: everything allocated from an
 * arena is released at once by sy_arena_reset/cleanup. Not thread-safe. */
typedef struct sy_arena_block sy_arena_block_t;
typedef struct sy_arena {
  sy_arena_block_t *head;  /* current block; older blocks chained behind it */
  size_t block_size;       /* default size of new blocks */
  size_t total;            /* bytes obtained from the system */
  size_t limit;            /* hard cap on total (0 = unlimited) */
} sy_arena_t;

/* Initialises an arena whose blocks are `block_size` bytes and which refuses
 * to grow past `limit` bytes in total (0 = no limit). No allocation happens
 * until the first sy_arena_alloc. */
void sy_arena_init(sy_arena_t *a, size_t block_size, size_t limit);
/* Returns 16-byte aligned memory, or NULL when out of memory or over limit. */
void *sy_arena_alloc(sy_arena_t *a, size_t n);
void *sy_arena_calloc(sy_arena_t *a, size_t n);
char *sy_arena_strndup(sy_arena_t *a, const char *s, size_t n);
void *sy_arena_memdup(sy_arena_t *a, const void *p, size_t n);
/* Releases all but the first block and rewinds it, for reuse. */
void sy_arena_reset(sy_arena_t *a);
/* Releases every block. The arena may be re-initialised afterwards. */
void sy_arena_cleanup(sy_arena_t *a);

/* ------------------------------------------------------------------- buf */

/* A growable byte buffer with a hard maximum (e.g. request body limit).
 * Not thread-safe. `data` is always NUL-terminated when non-NULL (the NUL is
 * not counted in len), so text can be parsed in place. */
typedef struct sy_buf {
  char *data;
  size_t len;
  size_t cap;
  size_t max;  /* appends that would exceed this fail with SY_ETOOBIG */
} sy_buf_t;

void sy_buf_init(sy_buf_t *b, size_t max);
/* 0, -ENOMEM or SY_ETOOBIG (the buffer is left unchanged on error). */
int sy_buf_append(sy_buf_t *b, const void *p, size_t n);
int sy_buf_append_str(sy_buf_t *b, const char *s);
int sy_buf_printf(sy_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n <= len). */
void sy_buf_consume(sy_buf_t *b, size_t n);
void sy_buf_reset(sy_buf_t *b);
void sy_buf_cleanup(sy_buf_t *b);

/* ------------------------------------------------------------ small utils */

#define SY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SY_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SY_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SY_UNUSED(x) ((void)(x))

/* Case-insensitive ASCII comparison of a length-delimited string with a
 * NUL-terminated one. */
bool sy_str_ieq(const char *a, size_t alen, const char *b);
/* Checks that a TCP socket can bind IPv4 `host` (NULL = any) and `port`, then
 * closes it. libwebsockets retries a listen address it cannot bind instead
 * of failing, so its users probe first. 0, SY_EINVAL (bad address) or -errno. */
int sy_tcp_probe_bind(const char *host, int port);

/* Parses a decimal integer in [min, max]; 0 or SY_EPARSE. */
int sy_parse_int(const char *s, long min, long max, long *out);

/* Kubernetes name rules (apimachinery's validation), on length-delimited
 * strings. DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
bool sy_k8s_dns_label(const char *s, size_t len);
/* DNS-1123 subdomain: labels of that shape joined by '.', at most `max`
 * characters in all (253 for object names; no per-label limit, as upstream). */
bool sy_k8s_dns_subdomain(const char *s, size_t len, size_t max);
/* Label value / name part: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most
 * 63; empty only when allow_empty. */
bool sy_k8s_label_word(const char *s, size_t len, bool allow_empty);
/* Qualified name (label keys, condition types): [subdomain/]word. */
bool sy_k8s_qualified_name(const char *s, size_t len);

#endif /* SY_CORE_H */
