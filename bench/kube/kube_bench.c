/*
 * kube_bench — acceptance benchmark of the Kubernetes controller (issue 4):
 * switchyard's watch-based controller (lib/kube) against a REAL etcd +
 * kube-apiserver (test/support/kubeapi), with a namespace of --pods pods of
 * which --selected match the InferencePool's selector.
 *
 * Phases (all timings from CLOCK_MONOTONIC unless said otherwise):
 *
 *   setup    CRDs, RBAC, namespace, pool; every pod POSTed and then its
 *            status PATCHed Running/Ready with a distinct 127.1.x.y podIP,
 *            from --setup-threads threads with keep-alive connections.
 *   sync     switchyard spawned --sync-runs times at --sync-v 2 (its INFO
 *            lines give the LIST time), then once more at --v 1: that one
 *            runs the phases below. "Initial sync" = fork/exec ->
 *            /debug/pools reports ready_endpoints == --selected (polled
 *            every 5 ms). A start slower than 5 s gets diagnostics: the
 *            switchyard_kube_* counters, gdb thread stacks and `ss` sockets.
 *   idle     --idle-seconds with no API writes: CPU and RSS at rest.
 *   latency  --samples status patches of selected pods (NotReady, then the
 *            same pod Ready again): t0 just before the PATCH is handed to
 *            libcurl, then /debug/pools polled every 1 ms until
 *            ready_endpoints changes. /debug/pools reads the same published
 *            snapshot the ext_proc hot path acquires, so "visible there" is
 *            "routable".
 *   churn    --churn-rate pod updates/s for --churn-seconds: 90 % of them on
 *            non-selected pods, 10 % on selected ones; each is, at random,
 *            an annotation patch or a Ready/NotReady flip of the status
 *            (every one a real change, so every one is a watch event).
 *            2 threads on a fixed schedule, each owning half of the pods.
 *            switchyard's, the apiserver's and etcd's CPU from
 *            /proc/PID/stat over exactly that window, RSS from
 *            /proc/PID/status after it. No polling of switchyard during the
 *            window (its admin server would be measured too).
 *
 * Pod IPs are in 127.1.0.0/16 (loopback): the model-server scraper, if it is
 * left on (--scrape), dials every endpoint, and nothing listens there.
 * By default scraping is off (a config with `dataLayer: {sources: []}`).
 *
 * Output: progress on stderr, a markdown table on stdout. Exit 0 when every
 * phase ran and the final snapshot matched the written state (targets met
 * or not), 77 when the apiserver binaries are missing, 1 otherwise.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "kubeapi.h"
#include "proc.h"

#define NS "bench"
#define POOL "pool"
#define TARGET_P99_MS 100.0
#define TARGET_RSS_MIB 64.0
#define MAX_BODY (1u << 20)

/* ----------------------------------------------------------------- options */

typedef struct opts {
  const char *switchyard;
  const char *config_dir;
  int pods, selected, samples, setup_threads, sync_runs, verbosity, sync_verbosity;
  double churn_rate, churn_seconds, idle_seconds;
  bool scrape, admin_token;
  const char *perf_out, *work_dir;
  const char *apiserver_url; /* for diagnostics */
  double idle_pct, hold_s;
  char *sy_env[9]; /* NAME=VALUE for switchyard only, NULL-terminated */
  int n_sy_env;
} opts_t;

static opts_t O = {
    .pods = 5000,
    .selected = 500,
    .samples = 300,
    .setup_threads = 4,
    .sync_runs = 3,
    .verbosity = 1,
    .sync_verbosity = 2,
    .churn_rate = 50,
    .churn_seconds = 30,
    .idle_seconds = 10,
    .idle_pct = 90,
};

static void usage(void) {
  fprintf(stderr,
          "usage: kube_bench --switchyard PATH [--config-dir DIR] [options]\n"
          "  --pods N             pods in the pool's namespace (5000)\n"
          "  --selected N         of which match the pool selector app=vllm (500)\n"
          "  --samples N          change->routable samples, alternating NotReady/Ready (300)\n"
          "  --churn-rate R       pod updates per second in the churn phase (50)\n"
          "  --churn-seconds S    length of the churn phase (30)\n"
          "  --idle-seconds S     idle window after sync (10)\n"
          "  --setup-threads N    threads creating pods (4)\n"
          "  --sync-runs N        fresh switchyard starts timed at --sync-v, whose INFO lines\n"
          "                       give the LIST time (3); then one more start at --v, timed\n"
          "                       too, runs the other phases\n"
          "  --sync-v N           --v of the --sync-runs starts (2)\n"
          "  --v N                verbosity of that last switchyard (1: warnings only; at 2 it\n"
          "                       logs a line per reconcile)\n"
          "  --scrape             keep the model-server scraper on (default: off)\n"
          "  --admin-token        run switchyard as admin instead of the RBAC-bound SA\n"
          "  --perf FILE          perf record --call-graph dwarf switchyard during the churn\n"
          "  --work-dir DIR       keep switchyard's logs there (default: a temp dir, removed)\n"
          "  --idle-pct P         before each timed start and phase, wait (up to 5 min) until\n"
          "                       the machine was P %% idle over 2 s (90; 0 = do not wait)\n"
          "  --sy-env NAME=VALUE  extra environment for switchyard only (repeatable, 8 max)\n"
          "  --hold S             after the idle window, print switchyard's pid and wait S s\n"
          "                       (to attach gdb, perf or heaptrack)\n"
          "env: SY_KUBE_TOOLS (hack/kube-tools.sh), SY_SWITCHYARD_BIN, SY_CONFIG_DIR\n");
}

static int parse_opts(int argc, char **argv) {
  enum { O_SY = 1, O_CFG, O_PODS, O_SEL, O_SAMPLES, O_RATE, O_CSEC, O_IDLE, O_THREADS, O_RUNS, O_V, O_SCRAPE,
         O_ADMIN, O_PERF, O_WORK, O_IDLEPCT, O_ENV, O_HOLD, O_SYNCV, O_HELP };
  static const struct option LONG[] = {
      {"switchyard", required_argument, NULL, O_SY},   {"config-dir", required_argument, NULL, O_CFG},
      {"pods", required_argument, NULL, O_PODS},        {"selected", required_argument, NULL, O_SEL},
      {"samples", required_argument, NULL, O_SAMPLES},  {"churn-rate", required_argument, NULL, O_RATE},
      {"churn-seconds", required_argument, NULL, O_CSEC}, {"idle-seconds", required_argument, NULL, O_IDLE},
      {"setup-threads", required_argument, NULL, O_THREADS}, {"sync-runs", required_argument, NULL, O_RUNS},
      {"v", required_argument, NULL, O_V},              {"scrape", no_argument, NULL, O_SCRAPE},
      {"admin-token", no_argument, NULL, O_ADMIN},      {"perf", required_argument, NULL, O_PERF},
      {"work-dir", required_argument, NULL, O_WORK},
      {"idle-pct", required_argument, NULL, O_IDLEPCT},
      {"sy-env", required_argument, NULL, O_ENV},
      {"hold", required_argument, NULL, O_HOLD},
      {"sync-v", required_argument, NULL, O_SYNCV},
      {"help", no_argument, NULL, O_HELP},              {NULL, 0, NULL, 0}};
  O.switchyard = getenv("SY_SWITCHYARD_BIN");
  O.config_dir = getenv("SY_CONFIG_DIR");
  int c;
  while ((c = getopt_long(argc, argv, "", LONG, NULL)) != -1) {
    switch (c) {
      case O_SY: O.switchyard = optarg; break;
      case O_CFG: O.config_dir = optarg; break;
      case O_PODS: O.pods = (int)strtol(optarg, NULL, 10); break;
      case O_SEL: O.selected = (int)strtol(optarg, NULL, 10); break;
      case O_SAMPLES: O.samples = (int)strtol(optarg, NULL, 10); break;
      case O_RATE: O.churn_rate = strtod(optarg, NULL); break;
      case O_CSEC: O.churn_seconds = strtod(optarg, NULL); break;
      case O_IDLE: O.idle_seconds = strtod(optarg, NULL); break;
      case O_THREADS: O.setup_threads = (int)strtol(optarg, NULL, 10); break;
      case O_RUNS: O.sync_runs = (int)strtol(optarg, NULL, 10); break;
      case O_V: O.verbosity = (int)strtol(optarg, NULL, 10); break;
      case O_SCRAPE: O.scrape = true; break;
      case O_ADMIN: O.admin_token = true; break;
      case O_PERF: O.perf_out = optarg; break;
      case O_WORK: O.work_dir = optarg; break;
      case O_IDLEPCT: O.idle_pct = strtod(optarg, NULL); break;
      case O_HOLD: O.hold_s = strtod(optarg, NULL); break;
      case O_SYNCV: O.sync_verbosity = (int)strtol(optarg, NULL, 10); break;
      case O_ENV:
        if (O.n_sy_env >= 8 || !strchr(optarg, '=')) {
          fprintf(stderr, "kube_bench: --sy-env wants NAME=VALUE, at most 8 times\n");
          return -1;
        }
        O.sy_env[O.n_sy_env++] = optarg;
        break;
      case O_HELP: usage(); exit(0);
      default: usage(); return -1;
    }
  }
  if (!O.switchyard || !O.config_dir) {
    fprintf(stderr, "kube_bench: --switchyard and --config-dir (or SY_SWITCHYARD_BIN, SY_CONFIG_DIR) are required\n");
    return -1;
  }
  if (O.pods < 2 || O.pods > 60000 || O.selected < 1 || O.selected >= O.pods || O.samples < 2 ||
      O.setup_threads < 1 || O.setup_threads > 32 || O.sync_runs < 1 || O.churn_rate <= 0 || O.churn_seconds <= 0 ||
      O.idle_seconds < 0) {
    fprintf(stderr, "kube_bench: an option is out of range\n");
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ clocks */

static double now_s(void) { return (double)sy_now_ns() / 1e9; }

static double real_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until the monotonic time `t` (seconds). */
static void sleep_until(double t) {
  struct timespec ts = {(time_t)t, (long)((t - floor(t)) * 1e9)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

/* -------------------------------------------------------------------- /proc */

/* utime + stime of the whole process, seconds. -1 when unreadable. */
static double proc_cpu_s(pid_t pid) {
  char path[64], buf[2048];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  if (!p) return -1;
  /* fields after the comm: 3 state ... 14 utime 15 stime */
  unsigned long long ut = 0, st = 0;
  int field = 2;
  for (const char *s = p + 1; *s && field < 15;) {
    while (*s == ' ') s++;
    field++;
    if (field == 14) ut = strtoull(s, NULL, 10);
    if (field == 15) st = strtoull(s, NULL, 10);
    while (*s && *s != ' ') s++;
  }
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

typedef struct mem {
  double rss_mib, hwm_mib, anon_mib;
  int threads;
} mem_t;

static mem_t proc_mem(pid_t pid) {
  mem_t m = {-1, -1, -1, -1};
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return m;
  while (fgets(line, sizeof(line), f)) {
    if (!strncmp(line, "VmRSS:", 6)) m.rss_mib = strtod(line + 6, NULL) / 1024.0;
    if (!strncmp(line, "VmHWM:", 6)) m.hwm_mib = strtod(line + 6, NULL) / 1024.0;
    if (!strncmp(line, "RssAnon:", 8)) m.anon_mib = strtod(line + 8, NULL) / 1024.0;
    if (!strncmp(line, "Threads:", 8)) m.threads = (int)strtol(line + 8, NULL, 10);
  }
  fclose(f);
  return m;
}

/* Whole-machine busy and total CPU seconds (all CPUs) from /proc/stat. */
static void sys_cpu(double *busy, double *total) {
  *busy = *total = 0;
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return;
  unsigned long long v[10] = {0};
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                 &v[5], &v[6], &v[7], &v[8], &v[9]);
  fclose(f);
  if (n < 8) return;
  unsigned long long tot = 0;
  for (int i = 0; i < 8; i++) tot += v[i]; /* guest time is inside user */
  double hz = (double)sysconf(_SC_CLK_TCK);
  *total = (double)tot / hz;
  *busy = (double)(tot - v[3] - v[4]) / hz;
}

/* Waits (up to 5 min) until the machine was at least --idle-pct % idle
 * over 2 s; returns the last idle % seen. Other work shares this machine. */
static double wait_idle(const char *what) {
  double idle = 100;
  for (int tries = 0; O.idle_pct > 0 && tries < 150; tries++) {
    double b0, t0, b1, t1;
    sys_cpu(&b0, &t0);
    sy_sleep_ms(2000);
    sys_cpu(&b1, &t1);
    idle = t1 > t0 ? 100.0 * (1.0 - (b1 - b0) / (t1 - t0)) : 100;
    if (idle >= O.idle_pct) break;
  }
  fprintf(stderr, "# machine %.0f %% idle before %s\n", idle, what);
  return idle;
}

/* ------------------------------------------------------------------- http */

enum { CT_NONE, CT_JSON, CT_MERGE };

typedef struct http {
  CURL *c;
  struct curl_slist *hdrs[3];
  sy_buf_t resp;
  char base[128];
  char url[1024];
  CURLcode last_cc; /* of the last http_do */
} http_t;

static size_t http_write(char *p, size_t size, size_t nmemb, void *ud) {
  http_t *h = ud;
  size_t n = size * nmemb;
  return sy_buf_append(&h->resp, p, n) == 0 ? n : 0;
}

/* A keep-alive client for `base` ("https://127.0.0.1:N" or
 * "http://127.0.0.1:N"); token and ca_file may be NULL. */
static int http_init(http_t *h, const char *base, const char *token, const char *ca_file) {
  memset(h, 0, sizeof(*h));
  snprintf(h->base, sizeof(h->base), "%s", base);
  sy_buf_init(&h->resp, 64u << 20);
  if (!(h->c = curl_easy_init())) return -ENOMEM;
  static const char *const CT[3] = {NULL, "Content-Type: application/json",
                                    "Content-Type: application/merge-patch+json"};
  char auth[4200];
  if (token) snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
  for (int i = 0; i < 3; i++) {
    struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
    if (token && l) l = curl_slist_append(l, auth);
    if (CT[i] && l) l = curl_slist_append(l, CT[i]);
    if (!l) return -ENOMEM;
    h->hdrs[i] = l;
  }
  curl_easy_setopt(h->c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h->c, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(h->c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, http_write);
  curl_easy_setopt(h->c, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(h->c, CURLOPT_TCP_NODELAY, 1L);
  /* one request at a time per connection; HTTP/1.1 keeps the comparison
   * with kubelet-like clients simple */
  curl_easy_setopt(h->c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  if (ca_file) curl_easy_setopt(h->c, CURLOPT_CAINFO, ca_file);
  return 0;
}

static void http_cleanup(http_t *h) {
  if (h->c) curl_easy_cleanup(h->c);
  for (int i = 0; i < 3; i++) curl_slist_free_all(h->hdrs[i]);
  sy_buf_cleanup(&h->resp);
  memset(h, 0, sizeof(*h));
}

/* Sets up one request (body borrowed until it completes). */
static void http_prepare(http_t *h, const char *method, const char *path, int ct, const char *body) {
  sy_buf_reset(&h->resp);
  snprintf(h->url, sizeof(h->url), "%s%s", h->base, path);
  curl_easy_setopt(h->c, CURLOPT_URL, h->url);
  curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, h->hdrs[ct]);
  if (!strcmp(method, "GET")) {
    curl_easy_setopt(h->c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h->c, CURLOPT_CUSTOMREQUEST, NULL);
  } else {
    curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
    curl_easy_setopt(h->c, CURLOPT_CUSTOMREQUEST, method);
  }
}

static long http_status(http_t *h) {
  long code = 0;
  curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

/* One blocking request: the HTTP status, 0 on a transport error. The
 * response body is in h->resp (NUL-terminated when not empty). */
static long http_do(http_t *h, const char *method, const char *path, int ct, const char *body) {
  http_prepare(h, method, path, ct, body);
  CURLcode cc = curl_easy_perform(h->c);
  h->last_cc = cc;
  sy_buf_append(&h->resp, "", 1);
  return cc == CURLE_OK ? http_status(h) : 0;
}

/* Retries transport errors, 429 and 5xx a few times. */
static long http_do_retry(http_t *h, const char *method, const char *path, int ct, const char *body) {
  long code = 0;
  for (int attempt = 0; attempt < 6; attempt++) {
    code = http_do(h, method, path, ct, body);
    if (code != 0 && code != 429 && code < 500) return code;
    sy_sleep_ms(100 << attempt);
  }
  return code;
}

/* -------------------------------------------------------------- the pods */

typedef struct pod {
  char name[80];
  char ip[20];
  int svc;       /* index into SVC (0 = the vllm deployment) */
  bool selected;
  _Atomic bool ready;
} pod_t;

static const char *const SVC[] = {"vllm-llama-3-1-8b-instruct", "checkout", "catalog", "frontend", "search",
                                  "auth", "payments", "ingest", "recommender", "notifications"};
#define N_SVC SY_ARRAY_LEN(SVC)

static pod_t *g_pods;
static int *g_sel_idx;   /* indices of selected pods */
static int *g_other_idx; /* indices of the others */

/* Deterministic hex, for checksums and container ids. */
static void hexid(char *out, size_t len, uint64_t seed) {
  static const char H[] = "0123456789abcdef";
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  for (size_t i = 0; i < len; i++) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    out[i] = H[x & 15];
  }
  out[len] = '\0';
}

/* Kubernetes' suffix alphabet (no vowels), 5 characters, unique per i. */
static void suffix5(char out[6], unsigned i) {
  static const char A[] = "bcdfghjklmnpqrstvwxz2456789";
  unsigned x = (i * 7919u + 104729u) % (27u * 27u * 27u * 27u * 27u);
  for (int k = 4; k >= 0; k--) {
    out[k] = A[x % 27u];
    x /= 27u;
  }
  out[5] = '\0';
}

static void pods_init(void) {
  g_pods = sy_calloc((size_t)O.pods, sizeof(*g_pods));
  g_sel_idx = sy_calloc((size_t)O.selected, sizeof(int));
  g_other_idx = sy_calloc((size_t)(O.pods - O.selected), sizeof(int));
  if (!g_pods || !g_sel_idx || !g_other_idx) {
    fprintf(stderr, "kube_bench: out of memory\n");
    exit(1);
  }
  /* every (pods/selected)-th pod is selected, so they are spread over the
   * name space and the LIST pages */
  int stride = O.pods / O.selected, ns = 0, no = 0;
  for (int i = 0; i < O.pods; i++) {
    pod_t *p = &g_pods[i];
    p->selected = (i % stride == 0) && ns < O.selected;
    p->svc = p->selected ? 0 : 1 + (int)((unsigned)i % (N_SVC - 1));
    char sfx[6], hash[11];
    suffix5(sfx, (unsigned)i);
    hexid(hash, 10, (uint64_t)p->svc);
    snprintf(p->name, sizeof(p->name), "%s-%s-%s", SVC[p->svc], hash, sfx);
    snprintf(p->ip, sizeof(p->ip), "127.1.%d.%d", i / 250, i % 250 + 1);
    if (p->selected) g_sel_idx[ns++] = i;
    else g_other_idx[no++] = i;
  }
  if (ns != O.selected) {
    fprintf(stderr, "kube_bench: internal: %d selected, want %d\n", ns, O.selected);
    exit(1);
  }
}

/* The pod as a Deployment would create it: ~3.5 KB of JSON, plus the
 * managedFields and status the apiserver adds. */
static int pod_json(sy_buf_t *b, int i) {
  const pod_t *p = &g_pods[i];
  bool v = p->selected;
  const char *svc = SVC[p->svc];
  char hash[11], cfgsum[65], rsuid[37];
  hexid(hash, 10, (uint64_t)p->svc);
  hexid(cfgsum, 64, (uint64_t)p->svc + 1000u);
  hexid(rsuid, 36, (uint64_t)p->svc + 2000u);
  rsuid[8] = rsuid[13] = rsuid[18] = rsuid[23] = '-';
  sy_buf_reset(b);
  int rc = sy_buf_printf(
      b,
      "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"" NS "\","
      "\"labels\":{\"app\":\"%s\",\"app.kubernetes.io/name\":\"%s\",\"app.kubernetes.io/instance\":\"%s-prod\","
      "\"app.kubernetes.io/component\":\"%s\",\"app.kubernetes.io/part-of\":\"%s\","
      "\"app.kubernetes.io/version\":\"%s\",\"pod-template-hash\":\"%s\",\"team\":\"%s\"%s},"
      "\"annotations\":{\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"%d\","
      "\"prometheus.io/path\":\"/metrics\",\"kubectl.kubernetes.io/restartedAt\":\"2026-11-20T10:15:00Z\","
      "\"checksum/config\":\"%s\",\"cluster-autoscaler.kubernetes.io/safe-to-evict\":\"false\","
      "\"kubectl.kubernetes.io/default-container\":\"%s\"},"
      "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"%s-%s\","
      "\"uid\":\"%s\",\"controller\":true,\"blockOwnerDeletion\":true}]},",
      p->name, v ? "vllm" : "other", svc, svc, v ? "inference-server" : "web", v ? "llm-serving" : "shop",
      v ? "v0.10.1" : "1.42.7", hash, v ? "ml-platform" : "commerce",
      v ? ",\"inference.networking.k8s.io/engine-type\":\"vllm\"" : "", v ? 8000 : 9090, cfgsum,
      v ? "vllm" : "app", svc, hash, rsuid);
  if (rc) return rc;
  rc = sy_buf_printf(
      b,
      "\"spec\":{\"nodeName\":\"node-%03d\",\"terminationGracePeriodSeconds\":30,\"restartPolicy\":\"Always\","
      "\"dnsPolicy\":\"ClusterFirst\",\"schedulerName\":\"default-scheduler\",\"enableServiceLinks\":false,"
      "\"containers\":[{\"name\":\"%s\",\"image\":\"%s\",\"imagePullPolicy\":\"IfNotPresent\","
      "\"args\":[%s],"
      "\"ports\":[{\"name\":\"http\",\"containerPort\":%d,\"protocol\":\"TCP\"}],"
      "\"env\":[{\"name\":\"POD_IP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status.podIP\"}}},"
      "{\"name\":\"POD_NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},"
      "{\"name\":\"LOG_LEVEL\",\"value\":\"info\"},{\"name\":\"OTEL_EXPORTER_OTLP_ENDPOINT\","
      "\"value\":\"http://otel-collector.observability.svc:4317\"},{\"name\":\"OTEL_SERVICE_NAME\",\"value\":\"%s\"},"
      "{\"name\":\"HF_HOME\",\"value\":\"/cache/hf\"},{\"name\":\"GOMAXPROCS\",\"value\":\"4\"}],"
      "\"resources\":{\"requests\":{\"cpu\":\"%s\",\"memory\":\"%s\"},\"limits\":{\"memory\":\"%s\"%s}},"
      "\"readinessProbe\":{\"httpGet\":{\"path\":\"%s\",\"port\":%d,\"scheme\":\"HTTP\"},\"periodSeconds\":5,"
      "\"timeoutSeconds\":1,\"successThreshold\":1,\"failureThreshold\":3},"
      "\"livenessProbe\":{\"httpGet\":{\"path\":\"%s\",\"port\":%d,\"scheme\":\"HTTP\"},\"periodSeconds\":10,"
      "\"timeoutSeconds\":1,\"successThreshold\":1,\"failureThreshold\":6},"
      "\"volumeMounts\":[{\"name\":\"cache\",\"mountPath\":\"/cache\"},{\"name\":\"config\",\"mountPath\":\"/etc/app\","
      "\"readOnly\":true}],\"terminationMessagePath\":\"/dev/termination-log\","
      "\"terminationMessagePolicy\":\"File\"},"
      "{\"name\":\"log-shipper\",\"image\":\"fluent/fluent-bit:3.1.9\",\"imagePullPolicy\":\"IfNotPresent\","
      "\"args\":[\"--config=/etc/app/fluent-bit.conf\"],"
      "\"resources\":{\"requests\":{\"cpu\":\"50m\",\"memory\":\"64Mi\"},\"limits\":{\"memory\":\"128Mi\"}},"
      "\"volumeMounts\":[{\"name\":\"config\",\"mountPath\":\"/etc/app\",\"readOnly\":true}],"
      "\"terminationMessagePath\":\"/dev/termination-log\",\"terminationMessagePolicy\":\"File\"}],"
      "\"volumes\":[{\"name\":\"cache\",\"emptyDir\":{\"sizeLimit\":\"%s\"}},"
      "{\"name\":\"config\",\"configMap\":{\"name\":\"%s-config\",\"defaultMode\":420}}],"
      "\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
      "\"tolerationSeconds\":300},{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
      "\"effect\":\"NoExecute\",\"tolerationSeconds\":300}%s]}}",
      i % 50, v ? "vllm" : "app", v ? "vllm/vllm-openai:v0.10.1" : "registry.example.com/shop/app:1.42.7",
      v ? "\"--model\",\"meta-llama/Llama-3.1-8B-Instruct\",\"--port\",\"8000\",\"--max-model-len\",\"8192\","
          "\"--gpu-memory-utilization\",\"0.9\",\"--enable-prefix-caching\",\"--disable-log-requests\""
        : "\"serve\",\"--listen=:9090\",\"--config=/etc/app/config.yaml\"",
      v ? 8000 : 9090, svc, v ? "4" : "250m", v ? "16Gi" : "256Mi", v ? "32Gi" : "512Mi",
      v ? ",\"nvidia.com/gpu\":\"1\"" : "", v ? "/health" : "/readyz", v ? 8000 : 9090, v ? "/health" : "/livez",
      v ? 8000 : 9090, v ? "40Gi" : "1Gi", svc,
      v ? ",{\"key\":\"nvidia.com/gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}" : "");
  return rc;
}

/* The conditions a kubelet reports, Ready/ContainersReady = ready. */
static int conditions_json(sy_buf_t *b, bool ready, const char *when) {
  const char *r = ready ? "True" : "False";
  return sy_buf_printf(b,
                       "\"conditions\":[{\"type\":\"PodReadyToStartContainers\",\"status\":\"True\","
                       "\"lastTransitionTime\":\"2026-11-20T10:15:03Z\"},"
                       "{\"type\":\"Initialized\",\"status\":\"True\",\"lastTransitionTime\":\"2026-11-20T10:15:01Z\"},"
                       "{\"type\":\"Ready\",\"status\":\"%s\",\"lastTransitionTime\":\"%s\"},"
                       "{\"type\":\"ContainersReady\",\"status\":\"%s\",\"lastTransitionTime\":\"%s\"},"
                       "{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":\"2026-11-20T10:15:00Z\"}]",
                       r, when, r, when);
}

static void now_rfc3339(char out[32]) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The full first status: Running, IPs, conditions, container statuses. */
static int status_full_json(sy_buf_t *b, int i) {
  const pod_t *p = &g_pods[i];
  char cid1[65], cid2[65], img1[65], img2[65], when[32];
  hexid(cid1, 64, (uint64_t)i * 2u);
  hexid(cid2, 64, (uint64_t)i * 2u + 1u);
  hexid(img1, 64, (uint64_t)p->svc + 3000u);
  hexid(img2, 64, 4000u);
  now_rfc3339(when);
  sy_buf_reset(b);
  int rc = sy_buf_printf(b,
                         "{\"status\":{\"phase\":\"Running\",\"hostIP\":\"127.2.0.%d\",\"hostIPs\":[{\"ip\":\"127.2.0.%d\"}],"
                         "\"podIP\":\"%s\",\"podIPs\":[{\"ip\":\"%s\"}],\"startTime\":\"2026-11-20T10:15:00Z\",",
                         i % 50 + 1, i % 50 + 1, p->ip, p->ip);
  rc = rc ? rc : conditions_json(b, true, when);
  rc = rc ? rc
          : sy_buf_printf(b,
                          ",\"containerStatuses\":[{\"name\":\"%s\",\"ready\":true,\"started\":true,\"restartCount\":0,"
                          "\"image\":\"%s\",\"imageID\":\"docker.io/library/app@sha256:%s\","
                          "\"containerID\":\"containerd://%s\",\"state\":{\"running\":{\"startedAt\":\"2026-11-20T10:15:02Z\"}}},"
                          "{\"name\":\"log-shipper\",\"ready\":true,\"started\":true,\"restartCount\":0,"
                          "\"image\":\"fluent/fluent-bit:3.1.9\",\"imageID\":\"docker.io/fluent/fluent-bit@sha256:%s\","
                          "\"containerID\":\"containerd://%s\",\"state\":{\"running\":{\"startedAt\":\"2026-11-20T10:15:02Z\"}}}]}}",
                          p->selected ? "vllm" : "app",
                          p->selected ? "vllm/vllm-openai:v0.10.1" : "registry.example.com/shop/app:1.42.7", img1, cid1,
                          img2, cid2);
  return rc;
}

/* A readiness flip as a kubelet's status manager writes it. */
static int status_ready_json(sy_buf_t *b, bool ready) {
  char when[32];
  now_rfc3339(when);
  sy_buf_reset(b);
  int rc = sy_buf_append_str(b, "{\"status\":{");
  rc = rc ? rc : conditions_json(b, ready, when);
  return rc ? rc : sy_buf_append_str(b, "}}");
}

static void pod_path(char *out, size_t n, int i, bool status) {
  snprintf(out, n, "/api/v1/namespaces/" NS "/pods/%s%s", g_pods[i].name, status ? "/status" : "");
}

/* ------------------------------------------------------------------ setup */

typedef struct setup_ctx {
  sy_kubeapi_t *k;
  _Atomic int next;
  _Atomic int failed;
  _Atomic int done;
} setup_ctx_t;

static void *setup_worker(void *arg) {
  setup_ctx_t *s = arg;
  http_t h;
  sy_buf_t b;
  sy_buf_init(&b, MAX_BODY);
  if (http_init(&h, s->k->server, s->k->admin_token, s->k->ca_file) != 0) {
    atomic_fetch_add(&s->failed, 1);
    return NULL;
  }
  char path[256];
  for (;;) {
    int i = atomic_fetch_add(&s->next, 1);
    if (i >= O.pods || atomic_load(&s->failed) > 0) break;
    long code = pod_json(&b, i) == 0 ? http_do_retry(&h, "POST", "/api/v1/namespaces/" NS "/pods", CT_JSON, b.data) : -1;
    if (code != 201 && code != 409) {
      fprintf(stderr, "kube_bench: create pod %s: HTTP %ld %.300s\n", g_pods[i].name, code,
              h.resp.data ? h.resp.data : "");
      atomic_fetch_add(&s->failed, 1);
      break;
    }
    pod_path(path, sizeof(path), i, true);
    code = status_full_json(&b, i) == 0 ? http_do_retry(&h, "PATCH", path, CT_MERGE, b.data) : -1;
    if (code != 200) {
      fprintf(stderr, "kube_bench: status of %s: HTTP %ld %.300s\n", g_pods[i].name, code, h.resp.data ? h.resp.data : "");
      atomic_fetch_add(&s->failed, 1);
      break;
    }
    atomic_store(&g_pods[i].ready, true);
    int d = atomic_fetch_add(&s->done, 1) + 1;
    if (d % 1000 == 0) fprintf(stderr, "#   %d pods ready\n", d);
  }
  http_cleanup(&h);
  sy_buf_cleanup(&b);
  return NULL;
}

static char g_dir[512], g_kubeconfig[700];

static const char POOL_YAML[] =
    "apiVersion: inference.networking.k8s.io/v1\n"
    "kind: InferencePool\n"
    "metadata:\n  name: " POOL "\n  namespace: " NS "\n"
    "spec:\n"
    "  selector: {matchLabels: {app: vllm}}\n"
    "  targetPorts: [{number: 8000}]\n";

static int apply_file_in_ns(sy_kubeapi_t *k, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "kube_bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  sy_buf_t b;
  sy_buf_init(&b, 1u << 22);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) sy_buf_append(&b, chunk, n);
  fclose(f);
  sy_buf_append(&b, "", 1);
  char *text = sy_kubeapi_subst(b.data, "namespace: default", "namespace: " NS);
  int rc = text ? sy_kubeapi_apply_yaml(k, text) : -ENOMEM;
  sy_free(text);
  sy_buf_cleanup(&b);
  return rc;
}

typedef struct setup_result {
  double cluster_s, create_s;
} setup_result_t;

static int setup(sy_kubeapi_t *k, setup_result_t *res) {
  double t0 = now_s();
  int rc = sy_kubeapi_start(k);
  if (rc) return rc;
  char path[1024];
  static const char *const crds[] = {"inference.networking.k8s.io_inferencepools.yaml",
                                     "llm-d.ai_inferenceobjectives.yaml", "llm-d.ai_inferencemodelrewrites.yaml",
                                     "inference.networking.x-k8s.io_inferenceobjectives.yaml",
                                     "inference.networking.x-k8s.io_inferencemodelrewrites.yaml"};
  for (size_t i = 0; i < SY_ARRAY_LEN(crds); i++) {
    snprintf(path, sizeof(path), "%s/crd/%s", O.config_dir, crds[i]);
    if ((rc = sy_kubeapi_apply_yaml_file(k, path))) return rc;
  }
  if ((rc = sy_kubeapi_create_namespace(k, NS))) return rc;
  static const char *const rbac[] = {"service_account.yaml", "role.yaml", "role_binding.yaml"};
  for (size_t i = 0; i < SY_ARRAY_LEN(rbac); i++) {
    snprintf(path, sizeof(path), "%s/rbac/%s", O.config_dir, rbac[i]);
    if ((rc = apply_file_in_ns(k, path))) return rc;
  }
  if ((rc = sy_kubeapi_apply_yaml(k, POOL_YAML))) return rc;
  char token[4096];
  if (O.admin_token) {
    snprintf(token, sizeof(token), "%s", k->admin_token);
  } else if ((rc = sy_kubeapi_sa_token(k, NS, "switchyard-epp", token, sizeof(token)))) {
    return rc;
  }
  snprintf(g_kubeconfig, sizeof(g_kubeconfig), "%s/kubeconfig", g_dir);
  if ((rc = sy_kubeapi_write_kubeconfig(k, token, g_kubeconfig))) return rc;
  res->cluster_s = now_s() - t0;
  fprintf(stderr, "# control plane up and configured in %.1f s (apiserver start %.1f s)\n", res->cluster_s,
          k->last_start_s);

  setup_ctx_t s = {.k = k};
  atomic_init(&s.next, 0);
  atomic_init(&s.failed, 0);
  atomic_init(&s.done, 0);
  pthread_t th[32];
  double t1 = now_s();
  int started = 0;
  for (int i = 0; i < O.setup_threads; i++) {
    if (pthread_create(&th[i], NULL, setup_worker, &s) != 0) break;
    started++;
  }
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
  res->create_s = now_s() - t1;
  if (atomic_load(&s.failed) || atomic_load(&s.done) != O.pods) {
    fprintf(stderr, "kube_bench: setup failed (%d of %d pods done)\n", atomic_load(&s.done), O.pods);
    return -EIO;
  }
  fprintf(stderr, "# %d pods created and patched Running/Ready in %.1f s (%.0f pods/s, %d threads)\n", O.pods,
          res->create_s, O.pods / res->create_s, started);
  return 0;
}

/* ------------------------------------------------------------- switchyard */

static const char CONFIG_NO_SCRAPE[] =
    "apiVersion: llm-d.ai/v1alpha1\n"
    "kind: EndpointPickerConfig\n"
    "plugins:\n"
    "- type: queue-scorer\n"
    "- type: kv-cache-utilization-scorer\n"
    "- type: max-score-picker\n"
    "schedulingProfiles:\n"
    "- name: default\n"
    "  plugins:\n"
    "  - pluginRef: queue-scorer\n"
    "  - pluginRef: kv-cache-utilization-scorer\n"
    "  - pluginRef: max-score-picker\n"
    "dataLayer:\n"
    "  sources: []\n";

typedef struct sy {
  sy_proc_t proc;
  int admin_port;
  http_t admin;
  double spawn_mono, spawn_real;
} sy_t;

static int sy_start(sy_t *s, int run, int verbosity) {
  memset(s, 0, sizeof(*s));
  s->admin_port = sy_port_free("127.0.0.1");
  if (s->admin_port <= 0) return -EIO;
  char admin[16], logp[700], v[16];
  snprintf(admin, sizeof(admin), "%d", s->admin_port);
  snprintf(v, sizeof(v), "%d", verbosity);
  snprintf(logp, sizeof(logp), "%s/switchyard-%d.log", g_dir, run);
  char *argv[40];
  int n = 0;
  argv[n++] = (char *)O.switchyard;
  argv[n++] = "--kubeconfig";
  argv[n++] = g_kubeconfig;
  argv[n++] = "--pool-name";
  argv[n++] = POOL;
  argv[n++] = "--pool-namespace";
  argv[n++] = NS;
  argv[n++] = "--grpc-port";
  argv[n++] = "0";
  argv[n++] = "--grpc-health-port";
  argv[n++] = "0";
  argv[n++] = "--metrics-port";
  argv[n++] = admin;
  argv[n++] = "--listen-address";
  argv[n++] = "127.0.0.1";
  argv[n++] = "--drain-seconds";
  argv[n++] = "0";
  argv[n++] = "--v";
  argv[n++] = v;
  if (!O.scrape) {
    argv[n++] = "--config-text";
    argv[n++] = (char *)CONFIG_NO_SCRAPE;
  }
  argv[n] = NULL;
  char base[64];
  snprintf(base, sizeof(base), "http://127.0.0.1:%d", s->admin_port);
  int rc = http_init(&s->admin, base, NULL, NULL);
  if (rc) return rc;
  curl_easy_setopt(s->admin.c, CURLOPT_TIMEOUT_MS, 2000L);
  s->spawn_real = real_s();
  s->spawn_mono = now_s();
  return sy_proc_spawn(&s->proc, "switchyard", argv, O.n_sy_env ? O.sy_env : NULL, logp);
}

static void sy_stop(sy_t *s) {
  sy_proc_stop(&s->proc, 5000);
  http_cleanup(&s->admin);
}

/* ready_endpoints and pods_selected of our pool from /debug/pools: 0 and
 * the values, 1 when the pool is not (yet) there, -1 when no answer. */
static int sy_pool_counts(sy_t *s, long *ready, long *selected) {
  long code = http_do(&s->admin, "GET", "/debug/pools", CT_NONE, NULL);
  if (code != 200) return -1;
  const char *r = strstr(s->admin.resp.data, "\"ready_endpoints\":");
  const char *p = strstr(s->admin.resp.data, "\"pods_selected\":");
  if (!r || !p) return 1;
  *ready = strtol(r + 18, NULL, 10);
  *selected = strtol(p + 16, NULL, 10);
  return 0;
}

/* A counter from /metrics ("name{labels}" prefix), -1 when absent. */
static double sy_metric(sy_t *s, const char *prefix) {
  if (http_do(&s->admin, "GET", "/metrics", CT_NONE, NULL) != 200) return -1;
  const char *body = s->admin.resp.data;
  size_t pl = strlen(prefix);
  for (const char *p = body; (p = strstr(p, prefix)) != NULL; p += pl) {
    if ((p == body || p[-1] == '\n') && p[pl] == ' ') return strtod(p + pl + 1, NULL);
  }
  return -1;
}

/* The wall-clock time (epoch seconds) of the first log line containing all
 * of `a` and `b` (b may be NULL), 0 when there is none. */
static double log_time(const sy_t *s, const char *a, const char *b) {
  FILE *f = fopen(s->proc.log_path, "r");
  if (!f) return 0;
  char line[2048];
  double t = 0;
  while (!t && fgets(line, sizeof(line), f)) {
    if (!strstr(line, a) || (b && !strstr(line, b))) continue;
    const char *ts = strstr(line, "ts=");
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int us = 0;
    if (ts && sscanf(ts + 3, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec, &us) == 7) {
      tm.tm_year -= 1900;
      tm.tm_mon -= 1;
      t = (double)timegm(&tm) + us / 1e6;
    }
  }
  fclose(f);
  return t;
}

/* ----------------------------------------------------------------- stats */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p) {
  if (!n) return NAN;
  size_t r = (size_t)ceil(p / 100.0 * (double)n);
  if (r < 1) r = 1;
  if (r > n) r = n;
  return v[r - 1];
}

/* ---------------------------------------------------------------- phases */

typedef struct sync_result {
  double ready_ms, admin_ms, watching_ms, list_done_ms, synced_ms;
  double cpu_s;
  mem_t mem;
  long selected;
} sync_result_t;

/* true when switchyard exited because its admin port was taken meanwhile
 * (sy_port_free is racy on a shared machine) */
static bool lost_port_race(sy_t *s) {
  if (sy_proc_alive(&s->proc)) return false;
  FILE *f = fopen(s->proc.log_path, "r");
  char line[512];
  bool hit = false;
  while (f && fgets(line, sizeof(line), f)) hit = hit || strstr(line, "Address already in use") != NULL;
  if (f) fclose(f);
  return hit;
}

static int measure_sync_once(sy_t *s, int run, int verbosity, sync_result_t *r) {
  memset(r, 0, sizeof(*r));
  int rc = sy_start(s, run, verbosity);
  if (rc) return rc;
  double t0 = s->spawn_mono, next = t0;
  long ready = -1, sel = -1;
  bool admin_up = false;
  /* what /debug/pools said, each time it changed: shown when slow */
  struct {
    double ms;
    int st;
    long ready;
    int cc;
  } tl[32];
  int ntl = 0, nfail = 0;
  bool diag_done = false;
  for (;;) {
    int st = sy_pool_counts(s, &ready, &sel);
    double t = now_s();
    nfail += st < 0;
    int cc = st < 0 ? (int)s->admin.last_cc : 0;
    if (ntl < 32 && (!ntl || tl[ntl - 1].st != st || tl[ntl - 1].ready != (st == 0 ? ready : -1) || tl[ntl - 1].cc != cc)) {
      tl[ntl].ms = (t - t0) * 1e3;
      tl[ntl].st = st;
      tl[ntl].ready = st == 0 ? ready : -1;
      tl[ntl].cc = cc;
      ntl++;
    }
    if (st >= 0 && !admin_up) {
      admin_up = true;
      r->admin_ms = (t - t0) * 1e3;
    }
    if (st == 0 && ready == O.selected) {
      r->ready_ms = (t - t0) * 1e3;
      break;
    }
    if (!diag_done && t - t0 > 5) {
      /* stuck: what do the counters say, and where are switchyard's threads? */
      diag_done = true;
      fprintf(stderr, "#   sync run %d not done after 5 s; switchyard's kube counters now:\n", run);
      if (http_do(&s->admin, "GET", "/metrics", CT_NONE, NULL) == 200) {
        for (char *l = s->admin.resp.data, *e; l && *l; l = e ? e + 1 : NULL) {
          e = strchr(l, '\n');
          if (!strncmp(l, "switchyard_kube_", 16)) fprintf(stderr, "#     %.*s\n", (int)(e ? e - l : (long)strlen(l)), l);
        }
      }
      char pid[16], out[700];
      snprintf(pid, sizeof(pid), "%d", (int)s->proc.pid);
      snprintf(out, sizeof(out), "%s/stacks-%d.txt", g_dir, run);
      char *argv[] = {"gdb", "-p", pid, "-batch", "-ex", "thread apply all bt", NULL};
      sy_proc_t gdb;
      if (sy_proc_spawn(&gdb, "gdb", argv, NULL, out) == 0) {
        sy_proc_wait(&gdb, 30000);
        sy_proc_stop(&gdb, 1000);
        fprintf(stderr, "#   thread stacks: %s\n", out);
      }
      snprintf(out, sizeof(out), "%s/sockets-%d.txt", g_dir, run);
      char *ss_argv[] = {"ss", "-tinpe", NULL};
      sy_proc_t ss;
      if (sy_proc_spawn(&ss, "ss", ss_argv, NULL, out) == 0) {
        sy_proc_wait(&ss, 10000);
        sy_proc_stop(&ss, 1000);
        fprintf(stderr, "#   sockets: %s (switchyard pid %d, apiserver %s)\n", out, (int)s->proc.pid, O.apiserver_url);
      }
    }
    if (lost_port_race(s)) return -EAGAIN;
    if (!sy_proc_alive(&s->proc) || t - t0 > 120) {
      fprintf(stderr, "kube_bench: switchyard %s (ready %ld)\n", sy_proc_alive(&s->proc) ? "did not sync in 120 s" : "died", ready);
      sy_proc_dump_log(&s->proc, 40);
      return -EIO;
    }
    next += 0.005;
    sleep_until(next > t ? next : t);
  }
  r->cpu_s = proc_cpu_s(s->proc.pid);
  r->mem = proc_mem(s->proc.pid);
  if (r->ready_ms > 5000) { /* unusually slow: show what was seen, and what switchyard complained about */
    fprintf(stderr, "#   slow sync: %d failed polls; /debug/pools over time:\n", nfail);
    for (int i = 0; i < ntl; i++)
      fprintf(stderr, "#     %8.0f ms: %s ready_endpoints=%ld curl=%d\n", tl[i].ms,
              tl[i].st < 0 ? "no answer" : tl[i].st ? "no pool" : "pool", tl[i].ready, tl[i].cc);
    if (http_do(&s->admin, "GET", "/metrics", CT_NONE, NULL) == 200) {
      for (char *l = s->admin.resp.data, *e; l && *l; l = e ? e + 1 : NULL) {
        e = strchr(l, '\n');
        if (!strncmp(l, "switchyard_kube_", 16)) fprintf(stderr, "#     %.*s\n", (int)(e ? e - l : (long)strlen(l)), l);
      }
    }
    FILE *f = fopen(s->proc.log_path, "r");
    char line[1024];
    int shown = 0;
    while (f && fgets(line, sizeof(line), f) && shown < 20) {
      if (strstr(line, "level=warn") || strstr(line, "level=error")) {
        fprintf(stderr, "#   switchyard: %s", line);
        shown++;
      }
    }
    if (f) fclose(f);
  }
  r->selected = sel;
  double w = log_time(s, "watching the API server", NULL);
  double l = log_time(s, "kube list complete", "reflector=pods");
  double y = log_time(s, "kube informer synced", NULL);
  r->watching_ms = w ? (w - s->spawn_real) * 1e3 : NAN;
  r->list_done_ms = l ? (l - s->spawn_real) * 1e3 : NAN;
  r->synced_ms = y ? (y - s->spawn_real) * 1e3 : NAN;
  fprintf(stderr,
          "# sync run %d: %.0f ms to %ld ready endpoints (admin up %.0f ms, informer started %.0f ms, pods LIST done "
          "%.0f ms, informer synced %.0f ms); CPU %.2f s; RSS %.1f MiB (peak %.1f)\n",
          run, r->ready_ms, ready, r->admin_ms, r->watching_ms, r->list_done_ms, r->synced_ms, r->cpu_s,
          r->mem.rss_mib, r->mem.hwm_mib);
  return 0;
}

static int measure_sync(sy_t *s, int run, int verbosity, sync_result_t *r) {
  int rc = measure_sync_once(s, run, verbosity, r);
  for (int attempt = 0; rc == -EAGAIN && attempt < 3; attempt++) {
    fprintf(stderr, "# sync run %d: the admin port was taken meanwhile; starting again\n", run);
    sy_stop(s);
    unlink(s->proc.log_path);
    rc = measure_sync_once(s, run, verbosity, r);
  }
  return rc;
}

typedef struct window {
  double wall_s, sy_cpu_s, api_cpu_s, etcd_cpu_s, self_cpu_s, sys_busy_s;
  double other_s; /* busy CPU of everything else on the machine */
} window_t;

typedef struct win_mark {
  double t, sy, api, etcd, self, busy, total;
} win_mark_t;

static win_mark_t mark(pid_t sy, const sy_kubeapi_t *k) {
  win_mark_t m;
  m.t = now_s();
  m.sy = proc_cpu_s(sy);
  m.api = proc_cpu_s(k->apiserver.pid);
  m.etcd = proc_cpu_s(k->etcd.pid);
  m.self = proc_cpu_s(getpid());
  sys_cpu(&m.busy, &m.total);
  return m;
}

static window_t window_of(win_mark_t a, win_mark_t b) {
  window_t w = {b.t - a.t, b.sy - a.sy, b.api - a.api, b.etcd - a.etcd, b.self - a.self, b.busy - a.busy, 0};
  w.other_s = w.sys_busy_s - w.sy_cpu_s - w.api_cpu_s - w.etcd_cpu_s - w.self_cpu_s;
  if (w.other_s < 0) w.other_s = 0;
  return w;
}

typedef struct lat_result {
  double *all, *down, *up, *rtt;
  size_t n, n_down, n_up;
  int before_response; /* visible before the PATCH response arrived */
} lat_result_t;

static int measure_latency(sy_t *s, sy_kubeapi_t *k, lat_result_t *r) {
  memset(r, 0, sizeof(*r));
  size_t n = (size_t)O.samples;
  r->all = sy_calloc(n, sizeof(double));
  r->down = sy_calloc(n, sizeof(double));
  r->up = sy_calloc(n, sizeof(double));
  r->rtt = sy_calloc(n, sizeof(double));
  if (!r->all || !r->down || !r->up || !r->rtt) return -ENOMEM;
  http_t api;
  int rc = http_init(&api, k->server, k->admin_token, k->ca_file);
  CURLM *multi = curl_multi_init();
  if (rc || !multi) return -ENOMEM;
  sy_buf_t body;
  sy_buf_init(&body, MAX_BODY);
  char path[256];
  /* warm the connection (TLS handshake) */
  http_do(&api, "GET", "/api/v1/namespaces/" NS "/pods?limit=1", CT_NONE, NULL);
  int pod = -1;
  for (size_t i = 0; i < n && !rc; i++) {
    bool down = (i % 2) == 0;
    if (down) pod = g_sel_idx[sy_rand_below((uint64_t)O.selected)];
    long base = -1, sel = -1;
    if (sy_pool_counts(s, &base, &sel) != 0) {
      rc = -EIO;
      break;
    }
    pod_path(path, sizeof(path), pod, true);
    status_ready_json(&body, !down);
    http_prepare(&api, "PATCH", path, CT_MERGE, body.data);
    double t0 = now_s(), t_resp = 0, t_vis = 0;
    curl_multi_add_handle(multi, api.c);
    int running = 1;
    curl_multi_perform(multi, &running);
    double next = t0;
    long cur = base;
    while (!t_vis || !t_resp) {
      if (!t_resp) {
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
          if (m->msg != CURLMSG_DONE) continue;
          t_resp = now_s();
          long code = m->data.result == CURLE_OK ? http_status(&api) : 0;
          if (code != 200) {
            fprintf(stderr, "kube_bench: latency PATCH %s: HTTP %ld\n", g_pods[pod].name, code);
            rc = -EIO;
          }
        }
      }
      if (rc) break;
      if (!t_vis) {
        if (sy_pool_counts(s, &cur, &sel) == 0 && cur != base) t_vis = now_s();
      }
      if (now_s() - t0 > 10) {
        fprintf(stderr, "kube_bench: change not visible after 10 s (sample %zu, count %ld)\n", i, cur);
        rc = -ETIMEDOUT;
        break;
      }
      if (t_vis && t_resp) break;
      next += 0.001;
      double t = now_s();
      if (!t_resp && t_vis) {
        curl_multi_poll(multi, NULL, 0, 5, NULL);
      } else {
        sleep_until(next > t ? next : t);
      }
    }
    curl_multi_remove_handle(multi, api.c);
    if (rc) break;
    if (cur != base + (down ? -1 : 1)) {
      fprintf(stderr, "kube_bench: sample %zu: count %ld -> %ld, expected %+d\n", i, base, cur, down ? -1 : 1);
      rc = -EIO;
      break;
    }
    atomic_store(&g_pods[pod].ready, !down);
    double d = (t_vis - t0) * 1e3;
    r->all[r->n++] = d;
    if (down) r->down[r->n_down++] = d;
    else r->up[r->n_up++] = d;
    r->rtt[i] = (t_resp - t0) * 1e3;
    if (t_vis < t_resp) r->before_response++;
    /* a random gap so samples do not line up with any periodic work */
    sy_sleep_ms(10 + (int)sy_rand_below(30));
  }
  curl_multi_cleanup(multi);
  http_cleanup(&api);
  sy_buf_cleanup(&body);
  if (rc) return rc;
  qsort(r->all, r->n, sizeof(double), cmp_double);
  qsort(r->down, r->n_down, sizeof(double), cmp_double);
  qsort(r->up, r->n_up, sizeof(double), cmp_double);
  qsort(r->rtt, r->n, sizeof(double), cmp_double);
  return 0;
}

/* ------------------------------------------------------------------ churn */

typedef struct churn_ctx {
  sy_kubeapi_t *k;
  int part, parts;
  double t0, rate; /* this thread's rate */
  int count;
  /* results */
  int sent, errors, sel_flips, sel_annot, other_status, other_annot;
  double max_lag_ms;
  _Atomic bool *abort;
} churn_ctx_t;

static void *churn_worker(void *arg) {
  churn_ctx_t *c = arg;
  http_t h;
  sy_buf_t b;
  sy_buf_init(&b, MAX_BODY);
  if (http_init(&h, c->k->server, c->k->admin_token, c->k->ca_file) != 0) return NULL;
  http_do(&h, "GET", "/api/v1/namespaces/" NS "/pods?limit=1", CT_NONE, NULL); /* TLS handshake off the clock */
  char path[256];
  int n_other = O.pods - O.selected;
  for (int i = 0; i < c->count && !atomic_load(c->abort); i++) {
    double due = c->t0 + ((double)i + (double)c->part / c->parts) / c->rate;
    double t = now_s();
    if (t < due) sleep_until(due);
    else if ((t - due) * 1e3 > c->max_lag_ms) c->max_lag_ms = (t - due) * 1e3;
    /* pods of this thread only (position in the selected / other list
     * % parts == part): no two threads touch the same pod */
    bool selected = sy_rand_below(100) < 10;
    int n_list = selected ? O.selected : n_other;
    int j = (int)sy_rand_below((uint64_t)n_list);
    j = j - j % c->parts + c->part;
    if (j >= n_list) j -= c->parts;
    int pod = selected ? g_sel_idx[j] : g_other_idx[j];
    bool status = sy_rand_below(2) == 0;
    long code;
    if (status) {
      /* a readiness flip, as a kubelet writes it (always a real change) */
      bool to = !atomic_load(&g_pods[pod].ready);
      pod_path(path, sizeof(path), pod, true);
      status_ready_json(&b, to);
      code = http_do(&h, "PATCH", path, CT_MERGE, b.data);
      if (code == 200) atomic_store(&g_pods[pod].ready, to);
      if (selected) c->sel_flips++;
      else c->other_status++;
    } else {
      pod_path(path, sizeof(path), pod, false);
      sy_buf_reset(&b);
      sy_buf_printf(&b,
                    "{\"metadata\":{\"annotations\":{\"bench.switchyard.io/heartbeat\":\"%d-%d\","
                    "\"deployment.kubernetes.io/revision\":\"%d\"}}}",
                    c->part, i, 1 + i % 7);
      code = http_do(&h, "PATCH", path, CT_MERGE, b.data);
      if (selected) c->sel_annot++;
      else c->other_annot++;
    }
    c->sent++;
    if (code != 200) {
      c->errors++;
      if (c->errors < 5) fprintf(stderr, "kube_bench: churn PATCH %s: HTTP %ld\n", path, code);
    }
  }
  http_cleanup(&h);
  sy_buf_cleanup(&b);
  return NULL;
}

typedef struct churn_result {
  window_t w;
  int sent, errors, sel_flips, sel_annot, other_status, other_annot;
  double max_lag_ms, events;
  mem_t mem;
  double converge_ms;
  long expected, got;
} churn_result_t;

static int measure_churn(sy_t *s, sy_kubeapi_t *k, churn_result_t *r) {
  memset(r, 0, sizeof(*r));
  enum { PARTS = 2 };
  churn_ctx_t c[PARTS];
  pthread_t th[PARTS];
  _Atomic bool abort_flag;
  atomic_init(&abort_flag, false);
  int total = (int)lround(O.churn_rate * O.churn_seconds);
  double ev0 = sy_metric(s, "switchyard_kube_watch_events_total{resource=\"pods\"}");
  double t0 = now_s() + 0.5; /* threads warm their connections first */
  for (int i = 0; i < PARTS; i++) {
    memset(&c[i], 0, sizeof(c[i]));
    c[i].k = k;
    c[i].part = i;
    c[i].parts = PARTS;
    c[i].t0 = t0;
    c[i].rate = O.churn_rate / PARTS;
    c[i].count = total / PARTS + (i < total % PARTS);
    c[i].abort = &abort_flag;
  }
  sy_proc_t perf;
  memset(&perf, 0, sizeof(perf));
  for (int i = 0; i < PARTS; i++) {
    if (pthread_create(&th[i], NULL, churn_worker, &c[i]) != 0) return -EIO;
  }
  sleep_until(t0);
  win_mark_t a = mark(s->proc.pid, k);
  if (O.perf_out) {
    char pid[16], secs[32];
    snprintf(pid, sizeof(pid), "%d", (int)s->proc.pid);
    snprintf(secs, sizeof(secs), "%.1f", O.churn_seconds);
    /* DWARF unwinding: the Release build has no frame pointers */
    char *argv[] = {"perf", "record", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384", "-p", pid, "-o", (char *)O.perf_out,
                    "--", "sleep", secs, NULL};
    char logp[700];
    snprintf(logp, sizeof(logp), "%s/perf.log", g_dir);
    if (sy_proc_spawn(&perf, "perf", argv, NULL, logp) != 0) fprintf(stderr, "kube_bench: cannot start perf\n");
  }
  for (int i = 0; i < PARTS; i++) pthread_join(th[i], NULL);
  /* the window ends at the scheduled end of the churn (or later, when the
   * generator lagged) */
  sleep_until(t0 + O.churn_seconds);
  win_mark_t b = mark(s->proc.pid, k);
  r->w = window_of(a, b);
  r->mem = proc_mem(s->proc.pid);
  if (perf.pid > 0) sy_proc_wait(&perf, 30000);
  for (int i = 0; i < PARTS; i++) {
    r->sent += c[i].sent;
    r->errors += c[i].errors;
    r->sel_flips += c[i].sel_flips;
    r->sel_annot += c[i].sel_annot;
    r->other_status += c[i].other_status;
    r->other_annot += c[i].other_annot;
    if (c[i].max_lag_ms > r->max_lag_ms) r->max_lag_ms = c[i].max_lag_ms;
  }
  double ev1 = sy_metric(s, "switchyard_kube_watch_events_total{resource=\"pods\"}");
  r->events = ev0 >= 0 && ev1 >= 0 ? ev1 - ev0 : NAN;
  /* consistency: the snapshot must match what we wrote */
  long expected = 0;
  for (int i = 0; i < O.selected; i++) expected += atomic_load(&g_pods[g_sel_idx[i]].ready);
  r->expected = expected;
  double t1 = now_s();
  long ready = -1, sel = -1;
  while (now_s() - t1 < 10) {
    if (sy_pool_counts(s, &ready, &sel) == 0 && ready == expected) break;
    sy_sleep_ms(5);
  }
  r->got = ready;
  r->converge_ms = (now_s() - t1) * 1e3;
  return 0;
}

/* ------------------------------------------------------------------- main */

static const char *met(bool ok) { return ok ? "**met**" : "**missed**"; }

int main(int argc, char **argv) {
  if (parse_opts(argc, argv) != 0) return 2;
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  pods_init();
  if (O.work_dir) {
    snprintf(g_dir, sizeof(g_dir), "%s", O.work_dir);
    if (mkdir(g_dir, 0755) != 0 && errno != EEXIST) {
      fprintf(stderr, "kube_bench: %s: %s\n", g_dir, strerror(errno));
      return 1;
    }
  } else if (sy_tmpdir_make("sy-kbench-", g_dir, sizeof(g_dir)) != 0) {
    return 1;
  }

  int exit_code = 1;
  sy_kubeapi_t K;
  memset(&K, 0, sizeof(K));
  sy_t s;
  memset(&s, 0, sizeof(s));
  setup_result_t su;
  sync_result_t *sr = sy_calloc((size_t)O.sync_runs + 1, sizeof(*sr));
  lat_result_t lr;
  memset(&lr, 0, sizeof(lr));
  churn_result_t cr;
  window_t idle = {0}, latw = {0};
  mem_t idle_mem = {0}, after_lat = {0};
  double idle_before_sync = 100, idle_before_lat = 100, idle_before_churn = 100;
  if (!sr) goto out;

  int rc = setup(&K, &su);
  O.apiserver_url = K.server;
  if (rc == SY_KUBEAPI_SKIP) {
    exit_code = 77;
    goto out;
  }
  if (rc) goto out;

  /* sync, --sync-runs times at --v 2 (LIST time from the log), then the
   * switchyard that stays, at --v O.verbosity */
  for (int run = 0; run <= O.sync_runs; run++) {
    char what[64];
    snprintf(what, sizeof(what), "sync run %d", run);
    double id = wait_idle(what);
    if (id < idle_before_sync) idle_before_sync = id;
    if (measure_sync(&s, run, run < O.sync_runs ? O.sync_verbosity : O.verbosity, &sr[run]) != 0) goto out;
    if (run < O.sync_runs) sy_stop(&s);
  }

  /* idle */
  sy_sleep_ms(1000);
  win_mark_t a = mark(s.proc.pid, &K);
  sy_sleep_ms((int)(O.idle_seconds * 1000));
  win_mark_t b = mark(s.proc.pid, &K);
  idle = window_of(a, b);
  idle_mem = proc_mem(s.proc.pid);
  fprintf(stderr, "# idle %.0f s: switchyard CPU %.2f %%, RSS %.1f MiB (peak %.1f, anon %.1f, %d threads)\n",
          idle.wall_s, 100 * idle.sy_cpu_s / idle.wall_s, idle_mem.rss_mib, idle_mem.hwm_mib, idle_mem.anon_mib,
          idle_mem.threads);

  if (O.hold_s > 0) {
    fprintf(stderr, "# holding %.0f s: switchyard pid %d, admin port %d, apiserver %s\n", O.hold_s, (int)s.proc.pid,
            s.admin_port, K.server);
    sy_sleep_ms((int)(O.hold_s * 1000));
  }

  /* change -> routable */
  idle_before_lat = wait_idle("the latency phase");
  a = mark(s.proc.pid, &K);
  if (measure_latency(&s, &K, &lr) != 0) goto out;
  b = mark(s.proc.pid, &K);
  latw = window_of(a, b);
  after_lat = proc_mem(s.proc.pid);
  fprintf(stderr,
          "# latency: %zu samples in %.1f s: p50 %.2f p90 %.2f p99 %.2f max %.2f ms (PATCH rtt p50 %.2f); other "
          "load %.0f %% of a CPU\n",
          lr.n, latw.wall_s, pct(lr.all, lr.n, 50), pct(lr.all, lr.n, 90), pct(lr.all, lr.n, 99), lr.all[lr.n - 1],
          pct(lr.rtt, lr.n, 50), 100 * latw.other_s / latw.wall_s);

  /* churn */
  idle_before_churn = wait_idle("the churn phase");
  if (measure_churn(&s, &K, &cr) != 0) goto out;
  fprintf(stderr,
          "# churn: %d updates in %.1f s (%d errors, max lag %.1f ms): switchyard CPU %.2f %%, apiserver %.1f %%, "
          "etcd %.1f %%, other load %.0f %%; RSS %.1f MiB (peak %.1f); converged %ld/%ld\n",
          cr.sent, cr.w.wall_s, cr.errors, cr.max_lag_ms, 100 * cr.w.sy_cpu_s / cr.w.wall_s,
          100 * cr.w.api_cpu_s / cr.w.wall_s, 100 * cr.w.etcd_cpu_s / cr.w.wall_s, 100 * cr.w.other_s / cr.w.wall_s,
          cr.mem.rss_mib, cr.mem.hwm_mib,
          cr.got, cr.expected);

  double lists = sy_metric(&s, "switchyard_kube_lists_total{resource=\"pods\"}");
  double relists = sy_metric(&s, "switchyard_kube_relists_expired_total{resource=\"pods\"}");
  double rejected = sy_metric(&s, "switchyard_kube_rejected_total{resource=\"pods\"}");
  double errors = sy_metric(&s, "switchyard_kube_request_errors_total{resource=\"pods\"}");
  bool alive = sy_proc_alive(&s.proc);

  /* --------------------------------------------------------------- table */
  double ready[64], list[64];
  int nr = O.sync_runs < 64 ? O.sync_runs : 64;
  for (int i = 0; i < nr; i++) {
    ready[i] = sr[i].ready_ms;
    list[i] = sr[i].list_done_ms - sr[i].watching_ms;
  }
  qsort(ready, (size_t)nr, sizeof(double), cmp_double);
  qsort(list, (size_t)nr, sizeof(double), cmp_double);
  double p99 = pct(lr.all, lr.n, 99);
  double peak = cr.mem.hwm_mib;
  char runs[512] = "";
  for (int i = 0; i < nr; i++) {
    size_t len = strlen(runs);
    snprintf(runs + len, sizeof(runs) - len, "%s%.0f", i ? ", " : "", sr[i].ready_ms);
  }
  const sync_result_t *last = &sr[nr - 1], *kept = &sr[O.sync_runs];
  printf("\n| metric | result | target |\n|---|---|---|\n");
  printf("| setup: %d pods POSTed + status PATCHed Running/Ready (%d threads) | %.1f s (%.0f pods/s); control plane "
         "%.1f s |  |\n",
         O.pods, O.setup_threads, su.create_s, O.pods / su.create_s, su.cluster_s);
  printf("| initial sync: exec → /debug/pools ready_endpoints = %d, %d fresh starts at --v %d (median; machine ≥ "
         "%.0f %% idle before each) | **%.0f ms** (runs: %s) |  |\n",
         O.selected, nr, O.sync_verbosity, idle_before_sync, pct(ready, (size_t)nr, 50), runs);
  printf("| initial sync of the switchyard used below (--v %d) | %.0f ms; %.2f s CPU; RSS %.1f MiB at that moment |  "
         "|\n",
         O.verbosity, kept->ready_ms, kept->cpu_s, kept->mem.rss_mib);
  printf("| … of which the pods LIST (%d pods paginated; log: informer started → LIST complete; median) | %.0f "
         "ms |  |\n",
         O.pods, pct(list, (size_t)nr, 50));
  printf("| … exec → informer started / pods LIST complete / informer synced / %d ready seen (last --v 2 start) | "
         "%.0f / %.0f / %.0f / %.0f ms |  |\n",
         O.selected, last->watching_ms, last->list_done_ms, last->synced_ms, last->ready_ms);
  printf("| change → routable, N=%zu (%zu NotReady + %zu Ready) p50 / p90 / p99 / max | **%.1f / %.1f / %.1f / %.1f "
         "ms** | p99 ≤ %.0f ms: %s |\n",
         lr.n, lr.n_down, lr.n_up, pct(lr.all, lr.n, 50), pct(lr.all, lr.n, 90), p99, lr.all[lr.n - 1],
         TARGET_P99_MS, met(p99 <= TARGET_P99_MS));
  printf("| … NotReady p50 / p99; Ready p50 / p99 | %.1f / %.1f; %.1f / %.1f ms |  |\n", pct(lr.down, lr.n_down, 50),
         pct(lr.down, lr.n_down, 99), pct(lr.up, lr.n_up, 50), pct(lr.up, lr.n_up, 99));
  printf("| … machine idle before the phase; other processes' CPU during it (of one CPU) | %.0f %%; %.0f %% |  |\n",
         idle_before_lat, 100 * latw.other_s / latw.wall_s);
  printf("| … the PATCH's own round trip p50 / p99 (visible before its response: %d of %zu) | %.1f / %.1f ms |  |\n",
         lr.before_response, lr.n, pct(lr.rtt, lr.n, 50), pct(lr.rtt, lr.n, 99));
  printf("| controller CPU idle (%.0f s, no writes) | %.2f %% of a core |  |\n", idle.wall_s,
         100 * idle.sy_cpu_s / idle.wall_s);
  printf("| controller CPU @ %.0f pod updates/s for %.0f s (%d sent, %d errors, max send lag %.0f ms; %.0f watch "
         "events) | **%.1f %% of a core** (%.0f µs per event) |  |\n",
         O.churn_rate, O.churn_seconds, cr.sent, cr.errors, cr.max_lag_ms, cr.events,
         100 * cr.w.sy_cpu_s / cr.w.wall_s, cr.events > 0 ? 1e6 * cr.w.sy_cpu_s / cr.events : NAN);
  printf("| … same window: kube-apiserver / etcd / bench client / other processes (of one CPU; machine %.0f %% idle "
         "before) | %.1f %% / %.1f %% / %.1f %% / %.0f %% |  |\n",
         idle_before_churn, 100 * cr.w.api_cpu_s / cr.w.wall_s, 100 * cr.w.etcd_cpu_s / cr.w.wall_s,
         100 * cr.w.self_cpu_s / cr.w.wall_s, 100 * cr.w.other_s / cr.w.wall_s);
  printf("| … churn mix: non-selected Ready flips / annotation patches; selected Ready flips / annotation patches | %d / %d; %d / %d |  "
         "|\n",
         cr.other_status, cr.other_annot, cr.sel_flips, cr.sel_annot);
  printf("| RSS after sync, idle (VmRSS / VmHWM) | %.1f / %.1f MiB |  |\n", idle_mem.rss_mib, idle_mem.hwm_mib);
  printf("| RSS after the latency phase | %.1f / %.1f MiB |  |\n", after_lat.rss_mib, after_lat.hwm_mib);
  printf("| RSS at the end of the churn (VmRSS / VmHWM = peak of the whole run) | %.1f / **%.1f MiB** | ≤ %.0f MiB: "
         "%s |\n",
         cr.mem.rss_mib, peak, TARGET_RSS_MIB, met(peak <= TARGET_RSS_MIB));
  printf("| after the churn: snapshot = written state (ready endpoints) | %ld = %ld (%s, %.0f ms) |  |\n", cr.got,
         cr.expected, cr.got == cr.expected ? "yes" : "NO", cr.converge_ms);
  printf("| pods LISTs / relists after 410 / rejected / request errors (last start) | %.0f / %.0f / %.0f / %.0f |  "
         "|\n",
         lists, relists, rejected, errors);
  printf("\nswitchyard %s; scraping %s%s%s\n", alive ? "ran to the end" : "DIED",
         O.scrape ? "on" : "off (dataLayer.sources: [])", O.work_dir ? "; switchyard log: " : "",
         O.work_dir ? s.proc.log_path : "");
  fflush(stdout);
  exit_code = alive && cr.got == cr.expected && cr.errors == 0 ? 0 : 1;
out:
  sy_stop(&s);
  sy_kubeapi_stop(&K);
  if (exit_code != 0 && exit_code != 77 && !O.work_dir) {
    fprintf(stderr, "kube_bench: logs kept in %s\n", g_dir);
  } else if (!O.work_dir) {
    sy_tmpdir_remove(g_dir);
  }
  sy_free(lr.all);
  sy_free(lr.down);
  sy_free(lr.up);
  sy_free(lr.rtt);
  sy_free(sr);
  sy_free(g_pods);
  sy_free(g_sel_idx);
  sy_free(g_other_idx);
  curl_global_cleanup();
  return exit_code;
}
