/*
 * A small closed-loop HTTP load generator for the end-to-end benchmark
 * (bench/e2e/run.sh): C concurrent clients, each POSTing the same JSON body
 * over a kept-alive connection as soon as its previous answer arrived, for
 * D seconds (after a warm-up). Prints one summary: requests, errors, req/s,
 * latency percentiles and how many answers each model server gave (by the
 * x-sim-instance response header).
 *
 *   loadgen URL BODY_FILE CONCURRENCY SECONDS [WARMUP_SECONDS]
 *
 * Built by run.sh with cc; only libcurl is needed.
 */
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_SIMS 32

typedef struct client {
  CURL *easy;
  uint64_t started_ns;
  char instance[64];
} client_t;

static char g_inst_names[MAX_SIMS][64];
static long g_inst_count[MAX_SIMS];
static int g_ninst;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t on_body(char *p, size_t s, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return s * n;
}

static size_t on_header(char *buf, size_t s, size_t n, void *ud) {
  client_t *c = ud;
  size_t len = s * n;
  static const char name[] = "x-sim-instance:";
  if (len > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
    const char *v = buf + sizeof(name) - 1;
    const char *end = buf + len;
    while (v < end && *v == ' ') v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n')) end--;
    snprintf(c->instance, sizeof(c->instance), "%.*s", (int)(end - v), v);
  }
  return len;
}

static void count_instance(const char *inst) {
  for (int i = 0; i < g_ninst; i++)
    if (strcmp(g_inst_names[i], inst) == 0) {
      g_inst_count[i]++;
      return;
    }
  if (g_ninst < MAX_SIMS) {
    snprintf(g_inst_names[g_ninst], sizeof(g_inst_names[0]), "%s", inst);
    g_inst_count[g_ninst++] = 1;
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (b) {
    b[n] = 0;
    *len = (size_t)n;
  }
  return b;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s URL BODY_FILE CONCURRENCY SECONDS [WARMUP_SECONDS]\n", argv[0]);
    return 2;
  }
  const char *url = argv[1];
  size_t body_len = 0;
  char *body = read_file(argv[2], &body_len);
  int conc = atoi(argv[3]);
  double secs = atof(argv[4]);
  double warm = argc > 5 ? atof(argv[5]) : 1.0;
  if (!body || conc <= 0 || conc > 4096 || secs <= 0) {
    fprintf(stderr, "loadgen: bad arguments or unreadable body file\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_ALL);
  CURLM *m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  struct curl_slist *hdrs = curl_slist_append(NULL, "content-type: application/json");
  hdrs = curl_slist_append(hdrs, "Expect:");
  client_t *cl = calloc((size_t)conc, sizeof(*cl));
  size_t lat_cap = 1u << 20, nlat = 0;
  uint64_t *lat = malloc(lat_cap * sizeof(*lat));
  if (!cl || !lat) return 1;

  uint64_t t0 = now_ns();
  uint64_t t_measure = t0 + (uint64_t)(warm * 1e9);
  uint64_t t_end = t_measure + (uint64_t)(secs * 1e9);
  long ok = 0, errors = 0, non200 = 0;

  for (int i = 0; i < conc; i++) {
    CURL *e = curl_easy_init();
    cl[i].easy = e;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &cl[i]);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &cl[i]);
    cl[i].started_ns = now_ns();
    curl_multi_add_handle(m, e);
  }

  int running = conc;
  while (running > 0) {
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      client_t *c = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
      uint64_t now = now_ns();
      long code = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
      if (c->started_ns >= t_measure && now <= t_end) {
        if (msg->data.result != CURLE_OK) {
          errors++;
        } else if (code != 200) {
          non200++;
        } else {
          ok++;
          count_instance(c->instance);
          if (nlat < lat_cap) lat[nlat++] = now - c->started_ns;
        }
      }
      curl_multi_remove_handle(m, msg->easy_handle);
      if (now < t_end) {
        c->instance[0] = 0;
        c->started_ns = now_ns();
        curl_multi_add_handle(m, msg->easy_handle);
        running++;
      }
    }
    if (running > 0) curl_multi_poll(m, NULL, 0, 100, NULL);
  }

  qsort(lat, nlat, sizeof(*lat), cmp_u64);
#define PCT(p) (nlat ? (double)lat[(size_t)((double)(nlat - 1) * (p))] / 1e6 : 0.0)
  printf("requests %ld  errors %ld  non-200 %ld  throughput %.1f req/s  concurrency %d  duration %.1fs\n",
         ok, errors, non200, (double)ok / secs, conc, secs);
  printf("latency ms  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", PCT(0.50), PCT(0.90), PCT(0.99),
         PCT(1.0));
  printf("served by  ");
  for (int i = 0; i < g_ninst; i++) printf("%s=%ld  ", g_inst_names[i], g_inst_count[i]);
  printf("\n");

  for (int i = 0; i < conc; i++) curl_easy_cleanup(cl[i].easy);
  curl_multi_cleanup(m);
  curl_slist_free_all(hdrs);
  curl_global_cleanup();
  free(cl);
  free(lat);
  free(body);
  return errors || non200 ? 1 : 0;
}
