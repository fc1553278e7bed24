/*
 * loopback_floor — the machine's own floor under the ext_proc "added
 * latency": one plain TCP round trip on 127.0.0.1 between two processes,
 * shaped like the measured span (a 4 KiB request written, a ~500-byte answer
 * read back), both sides sleeping in epoll_wait between messages as gRPC's
 * poller does, one request every --gap-us (1000 = the 1,000 streams/s
 * operating point). No gRPC, no HTTP/2, no decision: whatever this takes,
 * no ext_proc server on this machine can beat.
 *
 *   loopback_floor [--gap-us 1000] [--count 3000] [--placement any|same|split]
 *
 * placement: any = where the scheduler puts them; same = both on CPU 0;
 * split = client on CPU 0, server on CPU 1 (the cross-vCPU wake-up cost).
 * Prints one line: placement, p50, p90, p99 in µs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { REQ_BYTES = 4200, RESP_BYTES = 480 };

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void die(const char *what) {
  fprintf(stderr, "loopback_floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) die("sched_setaffinity");
}

/* Waits for the socket to be readable, then reads exactly n bytes (more
 * epoll rounds if the data comes in pieces). Returns false on EOF. */
static bool read_exact(int ep, int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    struct epoll_event ev;
    if (epoll_wait(ep, &ev, 1, -1) < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
    if (r == 0) return false;
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      die("recv");
    }
    got += (size_t)r;
  }
  return true;
}

static void write_all(int fd, const char *buf, size_t n) {
  while (n) {
    ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("send");
    }
    buf += w;
    n -= (size_t)w;
  }
}

static int epoll_for(int fd) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
  return ep;
}

static void nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) die("TCP_NODELAY");
}

static void serve(int ls, int cpu) {
  pin(cpu);
  int fd = accept(ls, NULL, NULL);
  if (fd < 0) die("accept");
  nodelay(fd);
  int ep = epoll_for(fd);
  static char buf[REQ_BYTES];
  while (read_exact(ep, fd, buf, REQ_BYTES)) write_all(fd, buf, RESP_BYTES);
  exit(0);
}

int main(int argc, char **argv) {
  long gap_us = 1000, count = 3000;
  const char *placement = "any";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--gap-us")) gap_us = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--count")) count = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--placement")) placement = argv[i + 1];
    else {
      fprintf(stderr, "usage: loopback_floor [--gap-us 1000] [--count 3000] [--placement any|same|split]\n");
      return 2;
    }
  }
  int client_cpu = -1, server_cpu = -1;
  if (!strcmp(placement, "same")) client_cpu = server_cpu = 0;
  else if (!strcmp(placement, "split")) client_cpu = 0, server_cpu = 1;
  else if (strcmp(placement, "any") != 0) {
    fprintf(stderr, "loopback_floor: --placement must be any, same or split\n");
    return 2;
  }
  if (count < 10 || gap_us < 0) {
    fprintf(stderr, "loopback_floor: --count must be >= 10 and --gap-us >= 0\n");
    return 2;
  }

  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof(a);
  if (bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 1) != 0 ||
      getsockname(ls, (struct sockaddr *)&a, &alen) != 0)
    die("listen");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) serve(ls, server_cpu);
  close(ls);

  pin(client_cpu);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) die("connect");
  nodelay(fd);
  int ep = epoll_for(fd);
  static char req[REQ_BYTES], resp[RESP_BYTES];
  memset(req, 'x', sizeof(req));
  uint64_t *lat = calloc((size_t)count, sizeof(*lat));
  if (!lat) die("calloc");
  /* Warm-up round trips are not counted. */
  for (long i = -50; i < count; i++) {
    if (gap_us > 0) {
      struct timespec ts = {.tv_sec = gap_us / 1000000, .tv_nsec = (gap_us % 1000000) * 1000};
      nanosleep(&ts, NULL);
    }
    uint64_t t0 = now_ns();
    write_all(fd, req, sizeof(req));
    if (!read_exact(ep, fd, resp, sizeof(resp))) {
      fprintf(stderr, "loopback_floor: server closed the connection\n");
      return 1;
    }
    if (i >= 0) lat[i] = now_ns() - t0;
  }
  close(fd);
  int st;
  waitpid(pid, &st, 0);
  qsort(lat, (size_t)count, sizeof(*lat), cmp_u64);
  printf("loopback floor placement=%s gap=%ldus n=%ld p50=%.1f p90=%.1f p99=%.1f (us)\n", placement, gap_us, count,
         (double)lat[count / 2] / 1e3, (double)lat[count * 9 / 10] / 1e3, (double)lat[count * 99 / 100] / 1e3);
  free(lat);
  return 0;
}
