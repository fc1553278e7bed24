/*
 * extproc_bench — an ext_proc load generator that speaks to an endpoint
 * picker the way Envoy does in FULL_DUPLEX_STREAMED mode (reference gaie
 * §2.4). One stream per HTTP request:
 *
 *   request_headers (8 headers, no EOS) + request_body (JSON completions
 *   request, prompt of --prompt-kib KiB, EOS)   → wait for the request_headers
 *   response and the request_body response(s) up to end_of_stream;
 *   response_headers + response_body (small JSON with usage, EOS) + half-close
 *   → wait for both echoes and the final status.
 *
 * Modes: closed loop with --concurrency streams in flight (reports streams/s),
 * or open loop at --rate streams/s (reports latency; stream time is counted
 * from the scheduled start, so queueing in the generator is not hidden).
 *
 * "Added latency" is the time from starting the send of the last
 * request_body message to receiving the request_headers response: the
 * routing decision latency Envoy would add to the request.
 *
 * gRPC C-core async API: one completion queue per client thread (--threads),
 * --channels separate HTTP/2 connections. With --server-pid the server's RSS
 * and CPU time are read from /proc before and after.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "core.h"
#include "epclient.h"

/* -------------------------------------------------------------- options */

typedef struct opts {
  const char *target;
  int concurrency;
  double rate;        /* > 0: open loop */
  double duration;    /* seconds of measurement (when streams == 0) */
  double warmup;      /* seconds not measured (duration mode only) */
  long streams;       /* total streams (0 = by duration) */
  int prompt_kib;
  int channels;
  int threads;
  int server_pid;
  int max_inflight;   /* open loop cap */
  double report_every;/* progress line interval, seconds (0 = none) */
  bool tls;
  const char *model;
} opts_t;

static opts_t O = {
    .target = "127.0.0.1:9002",
    .concurrency = 16,
    .duration = 10,
    .warmup = 1,
    .prompt_kib = 4,
    .channels = 1,
    .threads = 1,
    .max_inflight = 20000,
    .model = "food-review",
};

/* ------------------------------------------------------------ histogram */

#define HSUB_BITS 6
#define HSUB (1 << HSUB_BITS)
#define HBUCKETS ((64 - HSUB_BITS + 1) * HSUB)

typedef struct hist {
  uint64_t n, sum, min, max;
  uint64_t b[HBUCKETS];
} hist_t;

static int hist_idx(uint64_t v) {
  if (v < HSUB) return (int)v;
  int e = 63 - __builtin_clzll(v);
  int sub = (int)((v >> (e - HSUB_BITS)) & (HSUB - 1));
  return (e - HSUB_BITS + 1) * HSUB + sub;
}

static uint64_t hist_val(int idx) {
  if (idx < HSUB) return (uint64_t)idx;
  int e = idx / HSUB + HSUB_BITS - 1;
  uint64_t sub = (uint64_t)(idx % HSUB);
  uint64_t lo = (HSUB + sub) << (e - HSUB_BITS);
  return lo + ((1ull << (e - HSUB_BITS)) >> 1);
}

static void hist_add(hist_t *h, uint64_t v) {
  if (h->n == 0 || v < h->min) h->min = v;
  if (v > h->max) h->max = v;
  h->n++;
  h->sum += v;
  h->b[hist_idx(v)]++;
}

static void hist_merge(hist_t *into, const hist_t *h) {
  if (!h->n) return;
  if (into->n == 0 || h->min < into->min) into->min = h->min;
  if (h->max > into->max) into->max = h->max;
  into->n += h->n;
  into->sum += h->sum;
  for (int i = 0; i < HBUCKETS; i++) into->b[i] += h->b[i];
}

static uint64_t hist_pct(const hist_t *h, double p) {
  if (!h->n) return 0;
  uint64_t rank = (uint64_t)(p / 100.0 * (double)h->n + 0.5);
  if (rank < 1) rank = 1;
  if (rank > h->n) rank = h->n;
  uint64_t c = 0;
  for (int i = 0; i < HBUCKETS; i++) {
    c += h->b[i];
    if (c >= rank) {
      uint64_t v = hist_val(i);
      return v > h->max ? h->max : (v < h->min ? h->min : v);
    }
  }
  return h->max;
}

static void hist_print(const char *name, const hist_t *h) {
  if (!h->n) {
    printf("%-22s (no samples)\n", name);
    return;
  }
  printf("%-22s n=%" PRIu64 " p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f mean=%.1f (us)\n", name, h->n,
         hist_pct(h, 50) / 1e3, hist_pct(h, 90) / 1e3, hist_pct(h, 99) / 1e3, hist_pct(h, 99.9) / 1e3,
         h->max / 1e3, (double)h->sum / (double)h->n / 1e3);
}

/* ------------------------------------------------------------- payloads */

static grpc_slice P_REQ_HDRS, P_REQ_BODY, P_RESP_HDRS, P_RESP_BODY;

static grpc_slice encode_slice(const sy_epc_req_t *r) {
  sy_buf_t b;
  sy_buf_init(&b, (size_t)1 << 30);
  if (sy_epc_req_encode(r, &b) != 0) {
    fprintf(stderr, "encode failed\n");
    exit(2);
  }
  grpc_slice s = grpc_slice_from_copied_buffer(b.data, b.len);
  sy_buf_cleanup(&b);
  return s;
}

static void build_payloads(void) {
  /* JSON completions request with sorted keys (as the reference re-serialises). */
  sy_buf_t body;
  sy_buf_init(&body, (size_t)1 << 30);
  sy_buf_printf(&body, "{\"max_tokens\":16,\"model\":\"%s\",\"prompt\":\"", O.model);
  static const char words[] = "the quick brown fox jumps over the lazy dog ";
  size_t want = (size_t)O.prompt_kib * 1024;
  for (size_t i = 0; i < want; i++) sy_buf_append(&body, &words[i % (sizeof(words) - 1)], 1);
  sy_buf_append_str(&body, "\",\"temperature\":0}");
  char clen[32];
  snprintf(clen, sizeof(clen), "%zu", body.len);

  const sy_epc_header_t rh[] = {
      {":authority", "inference-gateway.example"},
      {":method", "POST"},
      {":path", "/v1/completions"},
      {":scheme", "http"},
      {"content-type", "application/json"},
      {"content-length", clen},
      {"x-request-id", "0d0f0a8e-6c7b-4b7f-9a55-3f1d8d2b1c11"},
      {"x-forwarded-proto", "http"},
      {"user-agent", "extproc_bench/1"},
  };
  sy_epc_req_t m = {.kind = SY_EPC_REQUEST_HEADERS, .headers = rh, .n_headers = SY_ARRAY_LEN(rh)};
  P_REQ_HDRS = encode_slice(&m);
  sy_epc_req_t b = {.kind = SY_EPC_REQUEST_BODY, .body = body.data, .body_len = body.len, .end_of_stream = true};
  P_REQ_BODY = encode_slice(&b);
  sy_buf_cleanup(&body);

  const char *resp =
      "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"food-review\","
      "\"choices\":[{\"index\":0,\"text\":\" ok\",\"finish_reason\":\"length\"}],"
      "\"usage\":{\"prompt_tokens\":1024,\"completion_tokens\":16,\"total_tokens\":1040}}";
  char rlen[32];
  snprintf(rlen, sizeof(rlen), "%zu", strlen(resp));
  const sy_epc_header_t sh[] = {
      {":status", "200"},
      {"content-type", "application/json"},
      {"content-length", rlen},
      {"date", "Mon, 24 Nov 2026 10:00:00 GMT"},
      {"x-envoy-upstream-service-time", "12"},
  };
  sy_epc_req_t h2 = {.kind = SY_EPC_RESPONSE_HEADERS, .headers = sh, .n_headers = SY_ARRAY_LEN(sh)};
  P_RESP_HDRS = encode_slice(&h2);
  sy_epc_req_t b2 = {.kind = SY_EPC_RESPONSE_BODY, .body = resp, .body_len = strlen(resp), .end_of_stream = true};
  P_RESP_BODY = encode_slice(&b2);
}

/* -------------------------------------------------------------- streams */

enum { PH_REQ_HDRS, PH_REQ_BODY, PH_RESP_HDRS, PH_RESP_BODY, PH_END, PH_FAILED };
enum { CK_REQ_HDRS = 1, CK_REQ_BODY, CK_RESP_HDRS, CK_RESP_BODY };

typedef struct bstream {
  int phase;
  uint64_t t_sched;     /* scheduled (open loop) or actual start */
  uint64_t t_start;     /* actual start */
  uint64_t t_body_sent; /* send start of the last request_body */
  uint64_t t_hdr_resp;  /* request_headers response received */
  bool measured;
  sy_epc_astream_t *s;
  struct bstream *prev, *next; /* the worker's live streams */
} bstream_t;

typedef struct worker {
  int id;
  pthread_t th;
  grpc_completion_queue *cq;
  sy_epc_channel_t **chans;
  int nchans, rr;
  int conc;       /* closed loop: streams in flight */
  double rate;    /* open loop: this worker's share */
  hist_t added, total, total_act, lag;
  uint64_t completed, ok, errors, immediate, bad_msgs, measured_done;
  int inflight;
  bstream_t *live; /* list head, for cancelling leftovers at the end */
  bool joined;
} worker_t;

static uint64_t T_BEGIN, T_MEAS, T_END;  /* ns */
static atomic_long g_claimed;            /* streams claimed (streams mode) */
static atomic_long g_done;               /* streams finished (progress) */
static atomic_int g_stop;

static bool claim_stream(uint64_t now) {
  if (atomic_load(&g_stop)) return false;
  if (O.streams > 0) return atomic_fetch_add(&g_claimed, 1) < O.streams;
  return now < T_END;
}

static void start_stream(worker_t *w, uint64_t t_sched) {
  bstream_t *b = sy_calloc(1, sizeof(*b));
  if (!b) abort();
  b->t_sched = t_sched;
  b->measured = O.streams > 0 || t_sched >= T_MEAS;
  b->t_start = sy_now_ns();
  if (w->rate > 0 && b->measured) hist_add(&w->lag, b->t_start > t_sched ? b->t_start - t_sched : 0);
  sy_epc_channel_t *ch = w->chans[w->rr++ % w->nchans];
  sy_epc_astream_t *s = NULL;
  if (sy_epc_astream_start(ch, w->cq, NULL, 30000, b, &s) != 0) {
    w->errors++;
    sy_free(b);
    return;
  }
  w->inflight++;
  b->s = s;
  b->next = w->live;
  if (w->live) w->live->prev = b;
  w->live = b;
  sy_epc_astream_send(s, P_REQ_HDRS, CK_REQ_HDRS);
  sy_epc_astream_send(s, P_REQ_BODY, CK_REQ_BODY);
}

static void fail(worker_t *w, bstream_t *b, sy_epc_astream_t *s) {
  if (b->phase != PH_FAILED) w->bad_msgs++;
  b->phase = PH_FAILED;
  sy_epc_astream_cancel(s);
}

static void on_message(worker_t *w, bstream_t *b, sy_epc_astream_t *s, const uint8_t *p, size_t n) {
  sy_epc_resp_t *r = NULL;
  if (sy_epc_resp_decode(p, n, &r) != 0) {
    fail(w, b, s);
    return;
  }
  sy_epc_resp_kind_t k = sy_epc_resp_kind(r);
  const uint8_t *bd;
  size_t bl;
  bool eos = false;
  if (k == SY_EPC_RESP_IMMEDIATE) {
    w->immediate++;
    b->phase = PH_FAILED;
    goto out;
  }
  switch (b->phase) {
    case PH_REQ_HDRS:
      if (k != SY_EPC_RESP_REQUEST_HEADERS || sy_epc_resp_set_header(r, SY_EPC_KEY_DEST, NULL, NULL) != 1) {
        fail(w, b, s);
        break;
      }
      b->t_hdr_resp = sy_now_ns();
      if (b->t_body_sent && b->measured) hist_add(&w->added, b->t_hdr_resp - b->t_body_sent);
      b->phase = PH_REQ_BODY;
      break;
    case PH_REQ_BODY:
      if (k != SY_EPC_RESP_REQUEST_BODY || sy_epc_resp_streamed(r, &bd, &bl, &eos) != 0) {
        fail(w, b, s);
        break;
      }
      if (eos) {
        b->phase = PH_RESP_HDRS;
        sy_epc_astream_send(s, P_RESP_HDRS, CK_RESP_HDRS);
        sy_epc_astream_send(s, P_RESP_BODY, CK_RESP_BODY);
        sy_epc_astream_half_close(s);
      }
      break;
    case PH_RESP_HDRS:
      if (k != SY_EPC_RESP_RESPONSE_HEADERS) {
        fail(w, b, s);
        break;
      }
      b->phase = PH_RESP_BODY;
      break;
    case PH_RESP_BODY:
      if (k != SY_EPC_RESP_RESPONSE_BODY || sy_epc_resp_streamed(r, &bd, &bl, &eos) != 0) {
        fail(w, b, s);
        break;
      }
      if (eos) b->phase = PH_END;
      break;
    default:
      fail(w, b, s);
  }
out:
  sy_epc_resp_free(r);
}

static void on_done(worker_t *w, bstream_t *b, sy_epc_astream_t *s, grpc_status_code st, uint64_t now) {
  w->inflight--;
  w->completed++;
  atomic_fetch_add(&g_done, 1);
  if (st == GRPC_STATUS_OK && b->phase == PH_END) {
    w->ok++;
    if (b->measured) {
      hist_add(&w->total, now - b->t_sched);
      hist_add(&w->total_act, now - b->t_start);
    }
    if (O.streams > 0 || (now >= T_MEAS && now <= T_END)) w->measured_done++;
  } else {
    w->errors++;
  }
  if (b->prev) b->prev->next = b->next;
  else w->live = b->next;
  if (b->next) b->next->prev = b->prev;
  sy_free(b);
  sy_epc_astream_free(s);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  uint64_t next = T_BEGIN;
  double gap_ns = w->rate > 0 ? 1e9 / w->rate : 0;
  uint64_t ticks = 0;

  if (w->rate <= 0) {
    for (int i = 0; i < w->conc; i++)
      if (claim_stream(sy_now_ns())) start_stream(w, sy_now_ns());
  }
  bool draining = false;
  uint64_t drain_deadline = 0;
  for (;;) {
    uint64_t now = sy_now_ns();
    if (!draining && ((O.streams == 0 && now >= T_END) || atomic_load(&g_stop) ||
                      (O.streams > 0 && w->rate <= 0 && w->inflight == 0))) {
      draining = true;
      drain_deadline = now + 15000000000ull;
    }
    if (w->rate > 0 && !draining) {
      /* Open loop: start every stream whose time has come. */
      while (next <= now) {
        if (!claim_stream(now)) {
          if (O.streams > 0) {
            draining = true;
            drain_deadline = now + 15000000000ull;
          }
          break;
        }
        if (w->inflight < O.max_inflight)
          start_stream(w, next);
        else
          w->errors++; /* dropped: generator saturated */
        ticks++;
        next = T_BEGIN + (uint64_t)((double)ticks * gap_ns);
      }
    }
    if (draining && (w->inflight == 0 || now >= drain_deadline)) break;
    uint64_t dl = draining ? drain_deadline : (w->rate > 0 ? next : now + 100000000ull);
    if (O.streams == 0 && !draining && dl > T_END) dl = T_END;
    sy_epc_event_t ev;
    sy_epc_cq_next(w->cq, dl, &ev);
    now = sy_now_ns();
    bstream_t *b = ev.user;
    switch (ev.type) {
      case SY_EPC_EV_SENT:
        if (ev.cookie == CK_REQ_BODY) {
          b->t_body_sent = ev.send_start_ns;
          if (b->t_hdr_resp && b->measured) hist_add(&w->added, b->t_hdr_resp - b->t_body_sent);
        }
        break;
      case SY_EPC_EV_MESSAGE:
        on_message(w, b, ev.stream, ev.data, ev.len);
        break;
      case SY_EPC_EV_DONE:
        on_done(w, b, ev.stream, ev.status, now);
        if (w->rate <= 0 && !draining && claim_stream(now)) start_stream(w, now);
        break;
      default:
        break;
    }
  }
  if (w->inflight) {
    fprintf(stderr, "worker %d: %d streams still in flight at the end (cancelled, counted as errors)\n", w->id,
            w->inflight);
    w->errors += (uint64_t)w->inflight;
    for (bstream_t *b = w->live; b; b = b->next) sy_epc_astream_cancel(b->s);
  }
  return NULL;
}

/* --------------------------------------------------------------- /proc */

typedef struct pstat {
  long rss_kb, hwm_kb;
  double cpu_s;
  int threads;
} pstat_t;

static bool read_pstat(int pid, pstat_t *ps) {
  memset(ps, 0, sizeof(*ps));
  char path[64], line[512];
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return false;
  while (fgets(line, sizeof(line), f)) {
    if (!strncmp(line, "VmRSS:", 6)) ps->rss_kb = strtol(line + 6, NULL, 10);
    if (!strncmp(line, "VmHWM:", 6)) ps->hwm_kb = strtol(line + 6, NULL, 10);
    if (!strncmp(line, "Threads:", 8)) ps->threads = (int)strtol(line + 8, NULL, 10);
  }
  fclose(f);
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  f = fopen(path, "r");
  if (!f) return false;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (!p) return false;
  /* After ")": state(3) ppid(4) ... utime(14) stime(15). */
  unsigned long ut = 0, st = 0;
  int field = 2;
  for (char *q = p + 1; *q && field < 15;) {
    while (*q == ' ') q++;
    if (!*q) break;
    field++;
    char *end;
    unsigned long v = strtoul(q, &end, 10);
    if (field == 14) ut = v;
    if (field == 15) st = v;
    while (*end && *end != ' ') end++;
    q = end;
  }
  ps->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
  return true;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

/* ---------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr,
          "usage: extproc_bench [--target host:port] [--concurrency C | --rate R]\n"
          "                     [--duration S [--warmup S] | --streams N] [--prompt-kib K]\n"
          "                     [--channels N] [--threads T] [--server-pid PID]\n"
          "                     [--max-inflight N] [--report-every S] [--tls] [--model NAME]\n");
}

int main(int argc, char **argv) {
  static const struct option lo[] = {
      {"target", required_argument, NULL, 't'},     {"concurrency", required_argument, NULL, 'c'},
      {"rate", required_argument, NULL, 'r'},       {"duration", required_argument, NULL, 'd'},
      {"warmup", required_argument, NULL, 'w'},     {"streams", required_argument, NULL, 'n'},
      {"prompt-kib", required_argument, NULL, 'k'}, {"channels", required_argument, NULL, 'C'},
      {"threads", required_argument, NULL, 'T'},    {"server-pid", required_argument, NULL, 'p'},
      {"max-inflight", required_argument, NULL, 'm'}, {"report-every", required_argument, NULL, 'R'},
      {"tls", no_argument, NULL, 'S'},              {"model", required_argument, NULL, 'M'},
      {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    switch (c) {
      case 't': O.target = optarg; break;
      case 'c': O.concurrency = (int)strtol(optarg, NULL, 10); break;
      case 'r': O.rate = strtod(optarg, NULL); break;
      case 'd': O.duration = strtod(optarg, NULL); break;
      case 'w': O.warmup = strtod(optarg, NULL); break;
      case 'n': O.streams = strtol(optarg, NULL, 10); break;
      case 'k': O.prompt_kib = (int)strtol(optarg, NULL, 10); break;
      case 'C': O.channels = (int)strtol(optarg, NULL, 10); break;
      case 'T': O.threads = (int)strtol(optarg, NULL, 10); break;
      case 'p': O.server_pid = (int)strtol(optarg, NULL, 10); break;
      case 'm': O.max_inflight = (int)strtol(optarg, NULL, 10); break;
      case 'R': O.report_every = strtod(optarg, NULL); break;
      case 'S': O.tls = true; break;
      case 'M': O.model = optarg; break;
      default: usage(); return c == 'h' ? 0 : 2;
    }
  }
  if (O.concurrency < 1 || O.channels < 1 || O.threads < 1 || O.prompt_kib < 0) {
    usage();
    return 2;
  }
  if (O.channels < O.threads) O.channels = O.threads;
  if (O.streams > 0) O.warmup = 0;

  sy_abseil_deadlock_detection_off(); /* as in the server, and in Envoy's release abseil */
  grpc_init();
  build_payloads();

  sy_epc_channel_t **chans = sy_calloc((size_t)O.channels, sizeof(*chans));
  for (int i = 0; i < O.channels; i++) {
    sy_epc_channel_opts_t co = {.tls = O.tls, .own_connection = true};
    if (sy_epc_channel_new(&chans[i], O.target, &co) != 0 || sy_epc_channel_wait_ready(chans[i], 5000) != 0) {
      fprintf(stderr, "cannot connect to %s\n", O.target);
      return 1;
    }
  }

  pstat_t ps0 = {0}, ps1 = {0};
  bool have_ps = O.server_pid > 0 && read_pstat(O.server_pid, &ps0);
  if (O.server_pid > 0 && !have_ps) fprintf(stderr, "cannot read /proc/%d\n", O.server_pid);

  worker_t *ws = sy_calloc((size_t)O.threads, sizeof(*ws));
  T_BEGIN = sy_now_ns();
  T_MEAS = T_BEGIN + (uint64_t)(O.warmup * 1e9);
  T_END = O.streams > 0 ? UINT64_MAX : T_MEAS + (uint64_t)(O.duration * 1e9);
  double cpu0 = self_cpu_s();
  pstat_t psm = {0};
  bool have_psm = false;
  for (int i = 0; i < O.threads; i++) {
    worker_t *w = &ws[i];
    w->id = i;
    w->cq = grpc_completion_queue_create_for_next(NULL);
    /* Channels are dealt out round-robin to the threads. */
    w->chans = sy_calloc((size_t)O.channels, sizeof(*w->chans));
    for (int k = i; k < O.channels; k += O.threads) w->chans[w->nchans++] = chans[k];
    w->conc = O.concurrency / O.threads + (i < O.concurrency % O.threads ? 1 : 0);
    w->rate = O.rate > 0 ? O.rate / O.threads : 0;
    pthread_create(&w->th, NULL, worker_main, w);
  }
  /* Progress and the server's stats at the start of measurement. */
  uint64_t last_rep = T_BEGIN;
  long last_done = 0;
  for (;;) {
    bool all_done = true;
    for (int i = 0; i < O.threads; i++) {
      if (ws[i].joined) continue;
      if (pthread_tryjoin_np(ws[i].th, NULL) == 0)
        ws[i].joined = true;
      else
        all_done = false;
    }
    if (all_done) break;
    usleep(20000);
    uint64_t now = sy_now_ns();
    if (!have_psm && O.server_pid > 0 && now >= T_MEAS) have_psm = read_pstat(O.server_pid, &psm);
    if (O.report_every > 0 && now - last_rep >= (uint64_t)(O.report_every * 1e9)) {
      long d = atomic_load(&g_done);
      pstat_t p = {0};
      if (O.server_pid > 0) read_pstat(O.server_pid, &p);
      printf("progress t=%.1fs done=%ld rate=%.0f/s server_rss=%ldkB server_cpu=%.2fs\n", (now - T_BEGIN) / 1e9, d,
             (double)(d - last_done) / ((now - last_rep) / 1e9), p.rss_kb, p.cpu_s);
      fflush(stdout);
      last_rep = now;
      last_done = d;
    }
  }
  /* pthread_tryjoin_np joined them; nothing left to join. */
  uint64_t t_fin = sy_now_ns();
  double cpu1 = self_cpu_s();
  if (have_ps) read_pstat(O.server_pid, &ps1);
  if (!have_psm) psm = ps0;

  hist_t added = {0}, total = {0}, total_act = {0}, lag = {0};
  uint64_t completed = 0, ok = 0, errors = 0, imm = 0, bad = 0, measured = 0;
  for (int i = 0; i < O.threads; i++) {
    hist_merge(&added, &ws[i].added);
    hist_merge(&total, &ws[i].total);
    hist_merge(&lag, &ws[i].lag);
    hist_merge(&total_act, &ws[i].total_act);
    completed += ws[i].completed;
    ok += ws[i].ok;
    errors += ws[i].errors;
    imm += ws[i].immediate;
    bad += ws[i].bad_msgs;
    measured += ws[i].measured_done;
  }
  double window = O.streams > 0 ? (t_fin - T_BEGIN) / 1e9 : O.duration;

  printf("target=%s mode=%s %s=%g threads=%d channels=%d prompt_kib=%d %s=%g%s\n", O.target,
         O.rate > 0 ? "open" : "closed", O.rate > 0 ? "rate" : "concurrency",
         O.rate > 0 ? O.rate : (double)O.concurrency, O.threads, O.channels, O.prompt_kib,
         O.streams > 0 ? "streams" : "duration_s", O.streams > 0 ? (double)O.streams : O.duration,
         O.tls ? " tls" : "");
  printf("streams: completed=%" PRIu64 " ok=%" PRIu64 " errors=%" PRIu64 " (immediate=%" PRIu64
         " protocol=%" PRIu64 ") measured=%" PRIu64 " in %.2fs → %.0f streams/s\n",
         completed, ok, errors, imm, bad, measured, window, (double)measured / window);
  hist_print("added latency", &added);
  hist_print(O.rate > 0 ? "stream time (sched)" : "stream time", &total);
  if (O.rate > 0) {
    hist_print("stream time (actual)", &total_act);
    hist_print("start lag (generator)", &lag);
  }
  printf("client cpu=%.2fs (%.1f us/stream)\n", cpu1 - cpu0, completed ? (cpu1 - cpu0) * 1e6 / (double)completed : 0);
  if (have_ps) {
    double dcpu = ps1.cpu_s - psm.cpu_s;
    printf("server pid=%d rss_before=%ldkB rss_after=%ldkB hwm=%ldkB threads=%d cpu_delta=%.2fs (%.1f us/stream)\n",
           O.server_pid, ps0.rss_kb, ps1.rss_kb, ps1.hwm_kb, ps1.threads, dcpu,
           measured ? dcpu * 1e6 / (double)measured : 0);
  }
  fflush(stdout);

  for (int i = 0; i < O.threads; i++) {
    grpc_completion_queue_shutdown(ws[i].cq);
    sy_epc_event_t ev;
    for (;;) {
      sy_epc_cq_next(ws[i].cq, 0, &ev);
      if (ev.type == SY_EPC_EV_SHUTDOWN) break;
      if (ev.type == SY_EPC_EV_DONE) {
        sy_free(ev.user); /* leftovers were cancelled by their worker */
        sy_epc_astream_free(ev.stream);
      }
    }
    grpc_completion_queue_destroy(ws[i].cq);
    sy_free(ws[i].chans);
  }
  for (int i = 0; i < O.channels; i++) sy_epc_channel_free(chans[i]);
  sy_free(chans);
  sy_free(ws);
  grpc_slice_unref(P_REQ_HDRS);
  grpc_slice_unref(P_REQ_BODY);
  grpc_slice_unref(P_RESP_HDRS);
  grpc_slice_unref(P_RESP_BODY);
  grpc_shutdown_blocking();
  return errors ? 1 : 0;
}
