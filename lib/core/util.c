/* Errors, time, PRNG, UUIDs, small string helpers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#include "core.h"

const char *sy_strerror(int err) {
  switch (err) {
    case 0: return "success";
    case SY_ETOOBIG: return "size limit exceeded";
    case SY_EPARSE: return "malformed input";
    case SY_EINVAL: return "invalid argument";
    case SY_ENOTFOUND: return "not found";
    case SY_EAGAIN: return "need more data";
    case SY_EINTERNAL: return "internal error";
    default: break;
  }
  if (err < 0 && err > -SY_EBASE) return strerror(-err);
  return "unknown error";
}

uint64_t sy_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double sy_wall_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Thread_local uint64_t rng[4];
static _Thread_local bool rng_seeded;

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sy_rand_u64(void) {
  if (!rng_seeded) {
    if (getrandom(rng, sizeof(rng), 0) != (ssize_t)sizeof(rng)) {
      uint64_t t = sy_now_ns() ^ (uint64_t)(uintptr_t)&rng;
      for (int i = 0; i < 4; i++) rng[i] = (t = t * 6364136223846793005u + 1442695040888963407u);
    }
    if (!(rng[0] | rng[1] | rng[2] | rng[3])) rng[0] = 1;
    rng_seeded = true;
  }
  uint64_t result = rotl(rng[1] * 5, 7) * 9;
  uint64_t t = rng[1] << 17;
  rng[2] ^= rng[0];
  rng[3] ^= rng[1];
  rng[1] ^= rng[2];
  rng[0] ^= rng[3];
  rng[2] ^= t;
  rng[3] = rotl(rng[3], 45);
  return result;
}

uint64_t sy_rand_below(uint64_t n) {
  /* Lemire's nearly-divisionless method would be faster; modulo bias is
   * negligible for the small n used here (endpoint counts). */
  return sy_rand_u64() % n;
}

void sy_uuid4(char out[37]) {
  uint64_t hi = sy_rand_u64(), lo = sy_rand_u64();
  hi = (hi & ~0xF000ull) | 0x4000ull;                   /* version 4 */
  lo = (lo & ~(0xC0ull << 56)) | (0x80ull << 56);        /* variant 10 */
  snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32), (unsigned)((hi >> 16) & 0xFFFF),
           (unsigned)(hi & 0xFFFF), (unsigned)(lo >> 48), (unsigned long long)(lo & 0xFFFFFFFFFFFFull));
}

bool sy_str_ieq(const char *a, size_t alen, const char *b) {
  size_t i = 0;
  for (; i < alen; i++) {
    char x = a[i], y = b[i];
    if (!y) return false;
    if (x >= 'A' && x <= 'Z') x = (char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (char)(y + 32);
    if (x != y) return false;
  }
  return b[i] == '\0';
}

int sy_parse_int(const char *s, long min, long max, long *out) {
  if (!s || !*s) return SY_EPARSE;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < min || v > max) return SY_EPARSE;
  *out = v;
  return 0;
}

int sy_tcp_probe_bind(const char *host, int port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (host && inet_pton(AF_INET, host, &sa.sin_addr) != 1) return SY_EINVAL;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1, rc = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) rc = -errno;
  close(fd);
  return rc;
}

/* ------------------------------------------------------- Kubernetes names */

static bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool any_alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

static bool dns_label_shape(const char *s, size_t len) {
  if (len == 0 || !lower_alnum(s[0]) || !lower_alnum(s[len - 1])) return false;
  for (size_t i = 0; i < len; i++)
    if (!lower_alnum(s[i]) && s[i] != '-') return false;
  return true;
}

bool sy_k8s_dns_label(const char *s, size_t len) { return len <= 63 && dns_label_shape(s, len); }

bool sy_k8s_dns_subdomain(const char *s, size_t len, size_t max) {
  if (len == 0 || len > max) return false;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '.') {
      if (!dns_label_shape(s + start, i - start)) return false;
      start = i + 1;
    }
  }
  return true;
}

bool sy_k8s_label_word(const char *s, size_t len, bool allow_empty) {
  if (len == 0) return allow_empty;
  if (len > 63 || !any_alnum(s[0]) || !any_alnum(s[len - 1])) return false;
  for (size_t i = 0; i < len; i++)
    if (!any_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') return false;
  return true;
}

bool sy_k8s_qualified_name(const char *s, size_t len) {
  const char *slash = memchr(s, '/', len);
  if (!slash) return sy_k8s_label_word(s, len, false);
  size_t plen = (size_t)(slash - s);
  return sy_k8s_dns_subdomain(s, plen, 253) && sy_k8s_label_word(slash + 1, len - plen - 1, false);
}
