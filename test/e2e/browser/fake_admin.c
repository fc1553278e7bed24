/*
 * fake_admin — starts the admin server with fake providers whose data
 * changes every frame, for the dashboard browser test (until switchyard
 * itself feeds the providers).
 *
 *   fake_admin [--port P] [--endpoints N] [--interval-ms MS] [--token T]
 *
 * Prints "listening <port>" on stdout once serving, then runs until
 * SIGTERM/SIGINT or until stdin reaches EOF (so a dying parent takes it along).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "core.h"

typedef struct fake {
  int endpoints;
  atomic_ulong frame;
  unsigned long decision_seq;
} fake_t;

static const char *const SCORERS[] = {"queue-scorer", "kv-cache-utilization-scorer", "prefix-cache-scorer"};

static double wave(unsigned long t, int i, double period) {
  /* Cheap deterministic 0..1 triangle wave, phase-shifted per endpoint. */
  double x = (double)((t * 7 + (unsigned long)i * 13) % (unsigned long)period) / period;
  return x < 0.5 ? 2 * x : 2 * (1 - x);
}

static int fake_metrics(void *ctx, sy_buf_t *out) {
  fake_t *f = ctx;
  int rc = sy_buf_append_str(out, "# HELP fake_frames_total Frames produced.\n# TYPE fake_frames_total counter\n");
  if (!rc) rc = sy_buf_printf(out, "fake_frames_total %lu\n", atomic_load(&f->frame));
  return rc;
}

static bool fake_ready(void *ctx) {
  SY_UNUSED(ctx);
  return true;
}

static int fake_debug(void *ctx, const char *what, sy_buf_t *out) {
  fake_t *f = ctx;
  if (strcmp(what, "routes") == 0) return sy_buf_append_str(out, "[]");
  if (strcmp(what, "endpoints") == 0) {
    int rc = sy_buf_append_str(out, "[");
    for (int i = 0; !rc && i < f->endpoints; i++)
      rc = sy_buf_printf(out, "%s{\"name\":\"pod-%03d\",\"address\":\"10.0.%d.%d:8000\"}", i ? "," : "", i, i / 250,
                         i % 250 + 1);
    return rc ? rc : sy_buf_append_str(out, "]");
  }
  return sy_buf_printf(out, "{\"what\":\"%s\"}", what);
}

static int fake_live(void *ctx, sy_buf_t *out) {
  fake_t *f = ctx;
  unsigned long t = atomic_fetch_add(&f->frame, 1) + 1;
  int rc = sy_buf_printf(out, "{\"ts\":%.3f,\"pools\":[{\"namespace\":\"default\",\"name\":\"vllm-llama3-8b-instruct\","
                              "\"endpoints\":[",
                         sy_wall_time());
  for (int i = 0; !rc && i < f->endpoints; i++) {
    rc = sy_buf_printf(out,
                       "%s{\"name\":\"pod-%03d\",\"address\":\"10.0.%d.%d:8000\",\"waiting\":%lu,\"running\":%lu,"
                       "\"kv_usage\":%.3f,\"in_flight\":%lu,\"prefix_hit_rate\":%.3f,\"stale_ms\":%lu}",
                       i ? "," : "", i, i / 250, i % 250 + 1, (t + (unsigned long)i) % 7, (t * 3 + (unsigned long)i) % 40,
                       wave(t, i, 50), (t + (unsigned long)i * 5) % 23, wave(t, i * 3, 80), 20 + (t * 11 + (unsigned long)i) % 60);
  }
  if (!rc) rc = sy_buf_printf(out, "]}],\"decisions_per_sec\":%.1f,\"errors_by_code\":{\"429\":%lu,\"503\":%lu},"
                                   "\"recent_decisions\":[",
                              100.0 + (double)(t % 17) * 3.5, t / 3, t / 10);
  for (int d = 0; !rc && d < 5; d++) {
    unsigned long id = ++f->decision_seq;
    rc = sy_buf_printf(out, "%s{\"request_id\":\"req-%08lu\",\"endpoint\":\"pod-%03d\",\"scores\":{", d ? "," : "", id,
                       (int)(id % (unsigned long)f->endpoints));
    for (size_t s = 0; !rc && s < SY_ARRAY_LEN(SCORERS); s++)
      rc = sy_buf_printf(out, "%s\"%s\":%.3f", s ? "," : "", SCORERS[s], wave(id, (int)s * 17, 30));
    if (!rc) rc = sy_buf_append_str(out, "}}");
  }
  if (!rc) rc = sy_buf_append_str(out, "],\"routes\":[]}");
  return rc;
}

int main(int argc, char **argv) {
  int port = 0, endpoints = 100;
  long v;
  unsigned interval = 200;
  const char *token = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--port") == 0 && sy_parse_int(argv[i + 1], 0, 65535, &v) == 0) port = (int)v;
    else if (strcmp(argv[i], "--endpoints") == 0 && sy_parse_int(argv[i + 1], 1, 10000, &v) == 0) endpoints = (int)v;
    else if (strcmp(argv[i], "--interval-ms") == 0 && sy_parse_int(argv[i + 1], 10, 60000, &v) == 0) interval = (unsigned)v;
    else if (strcmp(argv[i], "--token") == 0) token = argv[i + 1];
    else {
      fprintf(stderr, "fake_admin: bad argument %s\n", argv[i]);
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  fake_t f = {.endpoints = endpoints};
  atomic_init(&f.frame, 0);
  sy_admin_providers_t p = {
      .metrics = fake_metrics, .ready = fake_ready, .debug_json = fake_debug, .live_json = fake_live, .ctx = &f};
  sy_admin_config_t cfg = {.listen_host = "127.0.0.1", .port = port, .bearer_token = token, .live_interval_ms = interval};
  sy_admin_t *a = NULL;
  char err[256];
  int rc = sy_admin_start(&a, &cfg, &p, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "fake_admin: %s\n", err);
    return 1;
  }
  printf("listening %d\n", sy_admin_port(a));
  fflush(stdout);

  /* Wait for a signal or stdin EOF. */
  for (;;) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    if (sigtimedwait(&set, NULL, &ts) > 0) break;
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    if (poll(&pfd, 1, 0) == 1) {
      char b[64];
      ssize_t n = read(0, b, sizeof(b));
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
    }
  }
  sy_admin_stop(a);
  return 0;
}
