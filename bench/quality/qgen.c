/*
 * qgen: the routing-quality load generator (bench/quality/run.sh drives it).
 *
 * Sends streaming OpenAI completions (or chat) requests through the gateway,
 * open loop (Poisson or fixed-interval arrivals at --rate for --duration
 * seconds, after --warmup seconds whose requests are not measured) or closed
 * loop (--concurrency N clients, to find the fleet's throughput ceiling).
 * All prompts are synthetic and deterministic under --seed:
 *
 *   shared-prefix  G groups; each has a long "system prompt" (--system-tokens,
 *                  ~4 characters per token) of pseudo-random words; a request
 *                  picks a group uniformly and appends a unique question
 *                  (--question-tokens, +-20%)
 *   random         the same length distribution, but every prompt is unique
 *   lora           shared-prefix whose group g is served by adapter
 *                  --models[g % K] (model = adapter name)
 *
 * Per request it measures TTFT (scheduled arrival to the first SSE event
 * carrying content), E2E latency, output tokens, status, prompt and cached
 * tokens (usage.prompt_tokens_details.cached_tokens of the usage chunk, else
 * the x-sim-cached-tokens response header) and the serving instance
 * (x-sim-instance). Latencies are taken from the *scheduled* arrival time,
 * so a generator that falls behind shows up as latency instead of hiding it.
 *
 * Output: human-readable summary on stdout, then one JSON line on stdout and
 * (with --json-out FILE) appended to FILE. Exit status 1 when no measured
 * request succeeded, 2 on bad arguments. --dump FILE writes one CSV row per
 * measured request. --dry-run generates the whole schedule and every body and
 * prints a checksum, without any network I/O (checks determinism).
 *
 * Built by bench/quality/run.sh with cc, linking libcurl and libcjson.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_INSTANCES 64
#define MAX_MODELS 64
#define MAX_SSE_LINE (1u << 20) /* one SSE line; longer is an error */
#define ERR_SAMPLE 256

/* ------------------------------------------------------------------ options */

enum workload { WL_SHARED, WL_RANDOM, WL_LORA };
enum api { API_COMPLETIONS, API_CHAT };

static struct {
  const char *url; /* base URL, e.g. http://127.0.0.1:8081 */
  enum api api;
  enum workload workload;
  const char *model;
  char *models[MAX_MODELS];
  int nmodels;
  int groups;
  int system_tokens;
  int question_tokens;
  double rate;
  bool poisson;
  double duration;
  double warmup;
  int concurrency; /* > 0: closed loop */
  int max_tokens;
  uint64_t seed;
  double timeout;
  int max_inflight;
  const char *label;
  const char *json_out;
  const char *dump;
  bool dry_run;
  long print_body;
} opt = {
    .api = API_COMPLETIONS,
    .workload = WL_SHARED,
    .model = "meta-llama/Llama-3.1-8B-Instruct",
    .groups = 32,
    .system_tokens = 2000,
    .question_tokens = 100,
    .rate = 10,
    .poisson = true,
    .duration = 30,
    .warmup = 5,
    .max_tokens = 16,
    .seed = 1,
    .timeout = 60,
    .max_inflight = 2048,
    .label = "",
    .print_body = -1,
};

static const char *workload_name(enum workload w) {
  return w == WL_SHARED ? "shared-prefix" : w == WL_RANDOM ? "random" : "lora";
}

/* ------------------------------------------------------------------ helpers */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *msg) {
  fprintf(stderr, "qgen: %s\n", msg);
  exit(2);
}

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz ? sz : 1);
  if (!p) die("out of memory");
  return p;
}

/* splitmix64: tiny, good enough, and fully deterministic. */
static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

typedef struct {
  uint64_t s;
} rng_t;

static uint64_t rng_next(rng_t *r) {
  r->s += 0x9e3779b97f4a7c15u;
  uint64_t z = r->s;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static double rng_unit(rng_t *r) { /* [0, 1) */
  return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static uint32_t rng_below(rng_t *r, uint32_t n) { return (uint32_t)(rng_unit(r) * n); }

static rng_t rng_for(uint64_t stream, uint64_t index) {
  rng_t r = {mix64(mix64(opt.seed ^ (stream * 0x100000001b3u)) ^ index)};
  return r;
}

/* Growable string with a hard cap. */
typedef struct {
  char *p;
  size_t len, cap, max;
} buf_t;

static bool buf_append(buf_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->max) return false;
  if (b->len + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + n + 1) nc *= 2;
    if (nc > b->max) nc = b->max;
    char *np = realloc(b->p, nc);
    if (!np) return false;
    b->p = np;
    b->cap = nc;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
  return true;
}

static void buf_free(buf_t *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ prompts */

/* A fixed vocabulary of pronounceable pseudo-words, the same for every seed. */
#define VOCAB 1024
static char g_vocab[VOCAB][12];

static void vocab_init(void) {
  static const char cons[] = "bcdfghjklmnprstvwz";
  static const char vow[] = "aeiou";
  rng_t r = {0x5717c4a2d00du};
  for (int i = 0; i < VOCAB; i++) {
    int syl = 1 + (int)rng_below(&r, 4), n = 0;
    for (int s = 0; s < syl && n < 9; s++) {
      g_vocab[i][n++] = cons[rng_below(&r, sizeof(cons) - 1)];
      g_vocab[i][n++] = vow[rng_below(&r, sizeof(vow) - 1)];
      if (rng_below(&r, 3) == 0 && n < 10) g_vocab[i][n++] = cons[rng_below(&r, sizeof(cons) - 1)];
    }
    g_vocab[i][n] = 0;
  }
}

/* Appends words to b until it grew by at least nchars characters. */
static void gen_text(buf_t *b, rng_t *r, size_t nchars) {
  size_t start = b->len;
  int words = 0;
  while (b->len - start < nchars) {
    const char *w = g_vocab[rng_below(r, VOCAB)];
    if (words > 0 && !buf_append(b, " ", 1)) die("prompt too long");
    if (!buf_append(b, w, strlen(w))) die("prompt too long");
    if (++words % 17 == 0 && !buf_append(b, ".", 1)) die("prompt too long");
  }
}

typedef struct {
  int group;        /* -1 for the random workload */
  const char *model;
  char *body;       /* JSON request body */
  size_t body_len;
  size_t prompt_chars;
} gen_req_t;

/* Streams of the seeded generator (see rng_for). */
enum { S_CHOICE = 1, S_PREFIX, S_QUESTION, S_ARRIVAL, S_UNIQUE };

/* Builds request i's body: deterministic under --seed, independent of timing. */
static void gen_request(long i, gen_req_t *out) {
  rng_t pick = rng_for(S_CHOICE, (uint64_t)i);
  int group = opt.workload == WL_RANDOM ? -1 : (int)rng_below(&pick, (uint32_t)opt.groups);
  double jitter = 0.8 + 0.4 * rng_unit(&pick);
  buf_t sys = {.max = 64u << 20}, q = {.max = 64u << 20};
  rng_t pr = group >= 0 ? rng_for(S_PREFIX, (uint64_t)group) : rng_for(S_UNIQUE, (uint64_t)i);
  char head[64];
  /* The group's name starts the system prompt, so groups differ from byte 0. */
  if (group >= 0)
    snprintf(head, sizeof(head), "System prompt of group %d. ", group);
  else
    snprintf(head, sizeof(head), "System prompt of request %ld. ", i);
  buf_append(&sys, head, strlen(head));
  gen_text(&sys, &pr, (size_t)opt.system_tokens * 4);
  rng_t qr = rng_for(S_QUESTION, (uint64_t)i);
  snprintf(head, sizeof(head), "Question %ld: ", i);
  buf_append(&q, head, strlen(head));
  gen_text(&q, &qr, (size_t)(opt.question_tokens * 4 * jitter));
  buf_append(&q, "?", 1);

  const char *model = opt.model;
  if (opt.workload == WL_LORA) model = opt.models[group % opt.nmodels];

  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "model", model);
  if (opt.api == API_CHAT) {
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "system");
    cJSON_AddStringToObject(m, "content", sys.p);
    cJSON_AddItemToArray(msgs, m);
    m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", q.p);
    cJSON_AddItemToArray(msgs, m);
  } else {
    buf_t p = {.max = 128u << 20};
    buf_append(&p, sys.p, sys.len);
    buf_append(&p, "\n\n", 2);
    buf_append(&p, q.p, q.len);
    cJSON_AddStringToObject(root, "prompt", p.p);
    buf_free(&p);
  }
  cJSON_AddNumberToObject(root, "max_tokens", opt.max_tokens);
  cJSON_AddBoolToObject(root, "ignore_eos", 1);
  cJSON_AddBoolToObject(root, "stream", 1);
  cJSON *so = cJSON_AddObjectToObject(root, "stream_options");
  cJSON_AddBoolToObject(so, "include_usage", 1);
  out->body = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!out->body) die("out of memory");
  out->body_len = strlen(out->body);
  out->group = group;
  out->model = model;
  out->prompt_chars = sys.len + q.len + (opt.api == API_CHAT ? 0 : 2);
  buf_free(&sys);
  buf_free(&q);
}

/* ------------------------------------------------------------------ requests */

typedef struct req {
  long idx;
  int group;
  const char *model;
  char *body;
  size_t body_len;
  size_t prompt_chars;
  CURL *easy;
  uint64_t sched_ns, first_ns, done_ns;
  bool measured;
  bool done;
  /* response */
  long http;
  int curl_rc;
  bool saw_done, saw_usage, bad_event;
  long content_events;
  long prompt_tokens, completion_tokens, cached_usage, cached_hdr;
  char instance[64];
  buf_t line; /* partial SSE line */
  char err[ERR_SAMPLE];
} req_t;

static size_t on_header(char *buf, size_t s, size_t n, void *ud) {
  req_t *r = ud;
  size_t len = s * n;
  const char *colon = memchr(buf, ':', len);
  if (!colon) return len;
  size_t nlen = (size_t)(colon - buf);
  const char *v = colon + 1, *end = buf + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
  int vlen = (int)(end - v);
  if (nlen == 14 && strncasecmp(buf, "x-sim-instance", 14) == 0) {
    snprintf(r->instance, sizeof(r->instance), "%.*s", vlen, v);
  } else if (nlen == 19 && strncasecmp(buf, "x-sim-cached-tokens", 19) == 0) {
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%.*s", vlen, v);
    char *e = NULL;
    long x = strtol(tmp, &e, 10);
    if (e != tmp && x >= 0) r->cached_hdr = x;
  }
  return len;
}

static const char *content_of(const cJSON *choice) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(choice, "text");
  if (cJSON_IsString(t)) return t->valuestring;
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(choice, "delta");
  const cJSON *c = d ? cJSON_GetObjectItemCaseSensitive(d, "content") : NULL;
  return cJSON_IsString(c) ? c->valuestring : NULL;
}

static void on_event(req_t *r, const char *data, size_t len) {
  if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
    r->saw_done = true;
    return;
  }
  cJSON *j = cJSON_ParseWithLength(data, len);
  if (!j) {
    r->bad_event = true;
    return;
  }
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
  if (cJSON_IsArray(choices) && cJSON_GetArraySize(choices) > 0) {
    const char *c = content_of(cJSON_GetArrayItem(choices, 0));
    if (c && *c) {
      if (!r->first_ns) r->first_ns = now_ns();
      r->content_events++;
    }
  }
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
  if (cJSON_IsObject(u)) {
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details");
    const cJSON *cached = cJSON_IsObject(pd) ? cJSON_GetObjectItemCaseSensitive(pd, "cached_tokens") : NULL;
    if (cJSON_IsNumber(pt)) r->prompt_tokens = (long)pt->valuedouble;
    if (cJSON_IsNumber(ct)) r->completion_tokens = (long)ct->valuedouble;
    if (cJSON_IsNumber(cached)) r->cached_usage = (long)cached->valuedouble;
    r->saw_usage = true;
  }
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  if (e && !r->err[0]) snprintf(r->err, sizeof(r->err), "%.*s", (int)(len < 200 ? len : 200), data);
  cJSON_Delete(j);
}

static size_t on_body(char *p, size_t s, size_t n, void *ud) {
  req_t *r = ud;
  size_t len = s * n, i = 0;
  long code = 0;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) { /* keep a sample of the error body */
    size_t have = strlen(r->err);
    if (have + 1 < sizeof(r->err)) {
      size_t take = len < sizeof(r->err) - 1 - have ? len : sizeof(r->err) - 1 - have;
      memcpy(r->err + have, p, take);
      r->err[have + take] = 0;
    }
    return len;
  }
  while (i < len) {
    const char *nl = memchr(p + i, '\n', len - i);
    size_t chunk = nl ? (size_t)(nl - (p + i)) : len - i;
    if (!buf_append(&r->line, p + i, chunk)) {
      snprintf(r->err, sizeof(r->err), "SSE line longer than %u bytes", MAX_SSE_LINE);
      return 0; /* aborts the transfer */
    }
    i += chunk;
    if (!nl) break;
    i++; /* the '\n' */
    char *l = r->line.p ? r->line.p : (char *)"";
    size_t ll = r->line.len;
    if (ll && l[ll - 1] == '\r') ll--;
    if (ll > 5 && strncmp(l, "data:", 5) == 0) {
      const char *d = l + 5;
      if (*d == ' ') d++;
      on_event(r, d, ll - (size_t)(d - l));
    }
    r->line.len = 0;
  }
  return len;
}

/* ------------------------------------------------------------------ stats */

typedef struct {
  char name[64];
  long requests;
} inst_t;

static inst_t g_inst[MAX_INSTANCES];
static int g_ninst;

static int instance_slot(const char *name) {
  for (int i = 0; i < g_ninst; i++)
    if (strcmp(g_inst[i].name, name) == 0) return i;
  if (g_ninst == MAX_INSTANCES) return -1;
  snprintf(g_inst[g_ninst].name, sizeof(g_inst[0].name), "%s", name);
  return g_ninst++;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p) {
  if (!n) return NAN;
  size_t k = (size_t)ceil(p * (double)n);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1];
}

static double mean(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i];
  return n ? s / (double)n : NAN;
}

static void json_num(cJSON *o, const char *k, double v) {
  if (isnan(v))
    cJSON_AddNullToObject(o, k);
  else
    cJSON_AddNumberToObject(o, k, round(v * 1000) / 1000);
}

/* ------------------------------------------------------------------ main loop */

static req_t **g_reqs;
static long g_nreqs, g_cap_reqs;
static CURLM *g_multi;
static struct curl_slist *g_hdrs;
static char g_endpoint[1024];
static CURL *g_free[4096];
static int g_nfree;
static long g_inflight, g_dropped;
static uint64_t g_t0, g_t_measure, g_t_end;
static double g_max_lag_ms;

static void launch(long idx, uint64_t sched_ns) {
  if (g_nreqs == g_cap_reqs) {
    g_cap_reqs = g_cap_reqs ? g_cap_reqs * 2 : 1024;
    g_reqs = realloc(g_reqs, (size_t)g_cap_reqs * sizeof(*g_reqs));
    if (!g_reqs) die("out of memory");
  }
  req_t *r = xcalloc(1, sizeof(*r));
  g_reqs[g_nreqs++] = r;
  r->idx = idx;
  r->sched_ns = sched_ns;
  r->measured = sched_ns >= g_t_measure && sched_ns < g_t_end;
  r->prompt_tokens = r->completion_tokens = r->cached_usage = r->cached_hdr = -1;
  r->line.max = MAX_SSE_LINE;
  gen_req_t g;
  gen_request(idx, &g);
  r->group = g.group;
  r->model = g.model;
  r->body = g.body;
  r->body_len = g.body_len;
  r->prompt_chars = g.prompt_chars;
  double lag = (double)(now_ns() - sched_ns) / 1e6;
  if (lag > g_max_lag_ms) g_max_lag_ms = lag;
  if (g_inflight >= opt.max_inflight) { /* open loop: never wait for capacity */
    r->done = true;
    r->done_ns = now_ns();
    snprintf(r->err, sizeof(r->err), "dropped: %d requests in flight", opt.max_inflight);
    g_dropped++;
    free(r->body);
    r->body = NULL;
    return;
  }
  CURL *e = g_nfree ? g_free[--g_nfree] : curl_easy_init();
  if (!e) die("curl_easy_init failed");
  curl_easy_reset(e);
  r->easy = e;
  curl_easy_setopt(e, CURLOPT_URL, g_endpoint);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, g_hdrs);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(opt.timeout * 1000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  if (curl_multi_add_handle(g_multi, e) != CURLM_OK) die("curl_multi_add_handle failed");
  g_inflight++;
}

static void finish(CURLMsg *msg) {
  req_t *r = NULL;
  curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
  r->done_ns = now_ns();
  r->done = true;
  r->curl_rc = (int)msg->data.result;
  curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &r->http);
  if (r->curl_rc != CURLE_OK && !r->err[0])
    snprintf(r->err, sizeof(r->err), "curl: %s", curl_easy_strerror(msg->data.result));
  curl_multi_remove_handle(g_multi, msg->easy_handle);
  if (g_nfree < (int)(sizeof(g_free) / sizeof(g_free[0])))
    g_free[g_nfree++] = msg->easy_handle;
  else
    curl_easy_cleanup(msg->easy_handle);
  r->easy = NULL;
  free(r->body);
  r->body = NULL;
  buf_free(&r->line);
  g_inflight--;
}

static bool req_ok(const req_t *r) {
  return r->done && r->easy == NULL && r->curl_rc == CURLE_OK && r->http == 200 && r->first_ns &&
         !r->bad_event && !r->err[0] && r->saw_done;
}

static long req_output_tokens(const req_t *r) {
  return r->completion_tokens >= 0 ? r->completion_tokens : r->content_events;
}

static long req_cached(const req_t *r) { return r->cached_usage >= 0 ? r->cached_usage : r->cached_hdr; }

static long req_prompt_tokens(const req_t *r) {
  return r->prompt_tokens >= 0 ? r->prompt_tokens : (long)((r->prompt_chars + 3) / 4);
}

static void run(void) {
  rng_t arr = rng_for(S_ARRIVAL, 0);
  double t_next = 0; /* seconds since t0 of the next open-loop arrival */
  long next_idx = 0;
  bool issuing = true;
  g_t0 = now_ns();
  g_t_measure = g_t0 + (uint64_t)(opt.warmup * 1e9);
  g_t_end = g_t_measure + (uint64_t)(opt.duration * 1e9);
  uint64_t drain_deadline = g_t_end + (uint64_t)(opt.timeout * 1e9) + 2000000000u;

  if (opt.concurrency > 0) {
    for (int i = 0; i < opt.concurrency; i++) launch(next_idx++, now_ns());
  }
  for (;;) {
    uint64_t now = now_ns();
    if (opt.concurrency == 0) {
      while (issuing) {
        uint64_t at = g_t0 + (uint64_t)(t_next * 1e9);
        if (at >= g_t_end) {
          issuing = false;
          break;
        }
        if (at > now) break;
        launch(next_idx++, at);
        t_next += opt.poisson ? -log(1.0 - rng_unit(&arr)) / opt.rate : 1.0 / opt.rate;
      }
    } else if (now >= g_t_end) {
      issuing = false;
    }
    int running = 0;
    curl_multi_perform(g_multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(g_multi, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      finish(msg);
      if (opt.concurrency > 0 && issuing && now_ns() < g_t_end) launch(next_idx++, now_ns());
    }
    if (!issuing && g_inflight == 0) break;
    now = now_ns();
    if (!issuing && now > drain_deadline) break; /* curl timeouts should have fired */
    long wait_ms = 50;
    if (issuing && opt.concurrency == 0) {
      uint64_t at = g_t0 + (uint64_t)(t_next * 1e9);
      wait_ms = at > now ? (long)((at - now + 999999) / 1000000) : 0;
      if (wait_ms > 50) wait_ms = 50;
    }
    if (wait_ms > 0) curl_multi_poll(g_multi, NULL, 0, (int)wait_ms, NULL);
  }
}

/* ------------------------------------------------------------------ report */

/* Prints the summary; returns the number of measured requests that succeeded. */
static size_t report(void) {
  size_t n = 0, nok = 0;
  long e_transport = 0, e_http = 0, e_stream = 0, e_dropped = 0, e_unfinished = 0;
  double *ttft = xcalloc((size_t)g_nreqs, sizeof(double));
  double *e2e = xcalloc((size_t)g_nreqs, sizeof(double));
  double *tpot = xcalloc((size_t)g_nreqs, sizeof(double));
  size_t ntpot = 0;
  long long sum_prompt = 0, sum_cached = 0, sum_prompt_with_cache = 0, sum_out = 0;
  long with_cache_info = 0, window_done = 0;
  long long window_out = 0;
  char first_err[ERR_SAMPLE + 64] = "";
  int ngroups = opt.workload == WL_RANDOM ? 0 : opt.groups;
  uint64_t *group_inst = xcalloc((size_t)(ngroups ? ngroups : 1), sizeof(uint64_t));

  for (long i = 0; i < g_nreqs; i++) {
    req_t *r = g_reqs[i];
    bool ok = req_ok(r);
    /* Throughput: completions inside the measurement window, whenever sent. */
    if (ok && r->done_ns >= g_t_measure && r->done_ns < g_t_end) {
      window_done++;
      window_out += req_output_tokens(r);
    }
    if (!r->measured) continue;
    n++;
    if (r->instance[0]) {
      int s = instance_slot(r->instance);
      if (s >= 0) {
        g_inst[s].requests++;
        if (r->group >= 0 && r->group < ngroups) group_inst[r->group] |= 1ull << s;
      }
    }
    if (!ok) {
      if (!r->done || r->easy) e_unfinished++;
      else if (strncmp(r->err, "dropped", 7) == 0) e_dropped++;
      else if (r->curl_rc != CURLE_OK) e_transport++;
      else if (r->http != 200) e_http++;
      else e_stream++;
      if (!first_err[0]) {
        snprintf(first_err, sizeof(first_err), "request %ld: HTTP %ld: %s", r->idx, r->http,
                 r->err[0] ? r->err : (!r->first_ns ? "no content event" : "stream ended without [DONE]"));
        for (char *c = first_err; *c; c++)
          if (*c == '\n' || *c == '\r') *c = ' ';
      }
      continue;
    }
    nok++;
    ttft[nok - 1] = (double)(r->first_ns - r->sched_ns) / 1e6;
    e2e[nok - 1] = (double)(r->done_ns - r->sched_ns) / 1e6;
    long out = req_output_tokens(r);
    if (out > 1) tpot[ntpot++] = (double)(r->done_ns - r->first_ns) / 1e6 / (double)(out - 1);
    sum_out += out;
    long pt = req_prompt_tokens(r);
    sum_prompt += pt;
    long c = req_cached(r);
    if (c >= 0) {
      with_cache_info++;
      sum_cached += c;
      sum_prompt_with_cache += pt;
    }
  }
  /* Consecutive measured requests (in arrival order) served by the same
   * instance: ~1/N for random, 0 for round-robin, high when a policy herds
   * onto one server between metric refreshes. */
  long pairs = 0, repeats = 0;
  const char *prev = NULL;
  for (long i = 0; i < g_nreqs; i++) {
    req_t *r = g_reqs[i];
    if (!r->measured || !r->instance[0]) continue;
    if (prev) {
      pairs++;
      if (strcmp(prev, r->instance) == 0) repeats++;
    }
    prev = r->instance;
  }
  double repeat_rate = pairs ? (double)repeats / (double)pairs : NAN;
  qsort(ttft, nok, sizeof(double), cmp_double);
  qsort(e2e, nok, sizeof(double), cmp_double);
  double rps = (double)window_done / opt.duration, tps = (double)window_out / opt.duration;
  double hit = sum_prompt_with_cache > 0 ? (double)sum_cached / (double)sum_prompt_with_cache : NAN;
  long errors = (long)(n - nok);
  double spread = NAN;
  if (ngroups) {
    int used = 0, total = 0;
    for (int g = 0; g < ngroups; g++)
      if (group_inst[g]) {
        used++;
        total += __builtin_popcountll(group_inst[g]);
      }
    if (used) spread = (double)total / used;
  }

  /* human text */
  printf("qgen %s: workload=%s api=%s ", opt.label, workload_name(opt.workload),
         opt.api == API_CHAT ? "chat" : "completions");
  if (opt.concurrency)
    printf("closed-loop concurrency=%d", opt.concurrency);
  else
    printf("rate=%.2f/s %s", opt.rate, opt.poisson ? "poisson" : "fixed");
  printf(" duration=%gs warmup=%gs max_tokens=%d seed=%" PRIu64 "\n", opt.duration, opt.warmup,
         opt.max_tokens, opt.seed);
  printf("  requests    %zu measured, %zu ok, %ld errors (http %ld, transport %ld, stream %ld, "
         "dropped %ld, unfinished %ld)\n",
         n, nok, errors, e_http, e_transport, e_stream, e_dropped, e_unfinished);
  if (first_err[0]) printf("  first error %s\n", first_err);
  printf("  TTFT ms     p50 %.1f  p90 %.1f  p99 %.1f  mean %.1f\n", pct(ttft, nok, .5),
         pct(ttft, nok, .9), pct(ttft, nok, .99), mean(ttft, nok));
  printf("  E2E ms      p50 %.1f  p90 %.1f  p99 %.1f  mean %.1f\n", pct(e2e, nok, .5), pct(e2e, nok, .9),
         pct(e2e, nok, .99), mean(e2e, nok));
  printf("  TPOT ms     mean %.2f\n", mean(tpot, ntpot));
  printf("  throughput  %.2f req/s, %.1f output tok/s (completions inside the %gs window)\n", rps, tps,
         opt.duration);
  if (isnan(hit))
    printf("  prefix hits n/a (no cached-token information in responses)\n");
  else
    printf("  prefix hits %.1f%% (%lld cached of %lld prompt tokens; %ld of %zu responses reported it)\n",
           hit * 100, sum_cached, sum_prompt_with_cache, with_cache_info, nok);
  if (!isnan(spread)) printf("  affinity    %.2f instances per group on average\n", spread);
  if (!isnan(repeat_rate))
    printf("  repeats     %.1f%% of consecutive requests went to the same instance\n", repeat_rate * 100);
  printf("  instances  ");
  for (int i = 0; i < g_ninst; i++) printf(" %s=%ld", g_inst[i].name, g_inst[i].requests);
  printf("\n  generator   max send lag %.1f ms\n", g_max_lag_ms);

  /* JSON line */
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "label", opt.label);
  cJSON_AddStringToObject(j, "workload", workload_name(opt.workload));
  cJSON_AddStringToObject(j, "api", opt.api == API_CHAT ? "chat" : "completions");
  if (opt.concurrency)
    cJSON_AddNumberToObject(j, "concurrency", opt.concurrency);
  else
    json_num(j, "rate", opt.rate);
  cJSON_AddStringToObject(j, "arrival", opt.concurrency ? "closed" : opt.poisson ? "poisson" : "fixed");
  json_num(j, "duration_s", opt.duration);
  json_num(j, "warmup_s", opt.warmup);
  cJSON_AddNumberToObject(j, "max_tokens", opt.max_tokens);
  cJSON_AddNumberToObject(j, "seed", (double)opt.seed);
  cJSON_AddNumberToObject(j, "requests", (double)n);
  cJSON_AddNumberToObject(j, "ok", (double)nok);
  cJSON_AddNumberToObject(j, "errors", (double)errors);
  cJSON_AddNumberToObject(j, "dropped", (double)e_dropped);
  if (first_err[0]) cJSON_AddStringToObject(j, "first_error", first_err);
  cJSON *t = cJSON_AddObjectToObject(j, "ttft_ms");
  json_num(t, "p50", pct(ttft, nok, .5));
  json_num(t, "p90", pct(ttft, nok, .9));
  json_num(t, "p99", pct(ttft, nok, .99));
  json_num(t, "mean", mean(ttft, nok));
  t = cJSON_AddObjectToObject(j, "e2e_ms");
  json_num(t, "p50", pct(e2e, nok, .5));
  json_num(t, "p90", pct(e2e, nok, .9));
  json_num(t, "p99", pct(e2e, nok, .99));
  json_num(t, "mean", mean(e2e, nok));
  json_num(j, "tpot_ms_mean", mean(tpot, ntpot));
  json_num(j, "throughput_rps", rps);
  json_num(j, "output_tps", tps);
  cJSON_AddNumberToObject(j, "output_tokens", (double)sum_out);
  cJSON_AddNumberToObject(j, "prompt_tokens", (double)sum_prompt);
  cJSON_AddNumberToObject(j, "cached_tokens", (double)sum_cached);
  cJSON_AddNumberToObject(j, "responses_with_cache_info", (double)with_cache_info);
  json_num(j, "cache_hit_rate", hit);
  json_num(j, "instances_per_group", spread);
  json_num(j, "repeat_pick_rate", repeat_rate);
  json_num(j, "max_send_lag_ms", g_max_lag_ms);
  cJSON *inst = cJSON_AddObjectToObject(j, "instances");
  for (int i = 0; i < g_ninst; i++) cJSON_AddNumberToObject(inst, g_inst[i].name, (double)g_inst[i].requests);
  char *line = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!line) die("out of memory");
  printf("%s\n", line);
  if (opt.json_out) {
    FILE *f = fopen(opt.json_out, "a");
    if (!f || fprintf(f, "%s\n", line) < 0 || fclose(f) != 0) {
      fprintf(stderr, "qgen: cannot write %s: %s\n", opt.json_out, strerror(errno));
      exit(1);
    }
  }
  free(line);

  if (opt.dump) {
    FILE *f = fopen(opt.dump, "w");
    if (!f) {
      fprintf(stderr, "qgen: cannot write %s: %s\n", opt.dump, strerror(errno));
      exit(1);
    }
    fprintf(f, "idx,group,model,instance,ok,http,sched_ms,ttft_ms,e2e_ms,output_tokens,prompt_tokens,"
               "cached_tokens\n");
    for (long i = 0; i < g_nreqs; i++) {
      req_t *r = g_reqs[i];
      if (!r->measured) continue;
      fprintf(f, "%ld,%d,%s,%s,%d,%ld,%.3f,%.3f,%.3f,%ld,%ld,%ld\n", r->idx, r->group, r->model,
              r->instance, req_ok(r), r->http, (double)(r->sched_ns - g_t0) / 1e6,
              r->first_ns ? (double)(r->first_ns - r->sched_ns) / 1e6 : -1.0,
              r->done_ns ? (double)(r->done_ns - r->sched_ns) / 1e6 : -1.0, req_output_tokens(r),
              req_prompt_tokens(r), req_cached(r));
    }
    fclose(f);
  }
  free(ttft);
  free(e2e);
  free(tpot);
  free(group_inst);
  return nok;
}

/* Generates the schedule and bodies of the first --duration+--warmup seconds
 * (open loop) and prints a checksum: same seed, same output. */
static void dry_run(void) {
  rng_t arr = rng_for(S_ARRIVAL, 0);
  double t = 0, total = opt.warmup + opt.duration;
  long count = 0;
  uint64_t h = 1469598103934665603u;
  double chars = 0;
  long per_group_max = 0;
  long *per_group = xcalloc((size_t)opt.groups, sizeof(long));
  while (t < total && count < 10000000) {
    gen_req_t g;
    gen_request(count, &g);
    for (size_t i = 0; i < g.body_len; i++) h = (h ^ (unsigned char)g.body[i]) * 1099511628211u;
    uint64_t tus = (uint64_t)(t * 1e6);
    for (int i = 0; i < 8; i++) h = (h ^ ((tus >> (8 * i)) & 0xff)) * 1099511628211u;
    chars += (double)g.prompt_chars;
    if (g.group >= 0 && ++per_group[g.group] > per_group_max) per_group_max = per_group[g.group];
    free(g.body);
    count++;
    t += opt.poisson ? -log(1.0 - rng_unit(&arr)) / opt.rate : 1.0 / opt.rate;
  }
  printf("dry-run workload=%s requests=%ld mean_prompt_chars=%.0f max_per_group=%ld checksum=%016" PRIx64
         "\n",
         workload_name(opt.workload), count, count ? chars / (double)count : 0, per_group_max, h);
  free(per_group);
}

static void usage(FILE *f) {
  fputs("usage: qgen --url BASE_URL [flags]\n"
        "  --url URL              gateway base URL, e.g. http://127.0.0.1:8081\n"
        "  --api completions|chat (default completions)\n"
        "  --workload W           shared-prefix | random | lora (default shared-prefix)\n"
        "  --model NAME           model of shared-prefix/random requests\n"
        "  --models a,b,...       adapters of the lora workload (group g uses models[g %% K])\n"
        "  --groups G             prompt groups (default 32)\n"
        "  --system-tokens N      shared system-prompt length, ~4 chars/token (default 2000)\n"
        "  --question-tokens N    unique question length, +-20%% (default 100)\n"
        "  --rate R               open-loop arrivals per second (default 10)\n"
        "  --arrival poisson|fixed (default poisson)\n"
        "  --concurrency N        closed loop with N clients instead of --rate\n"
        "  --duration S           measured seconds (default 30)\n"
        "  --warmup S             unmeasured seconds first (default 5)\n"
        "  --max-tokens N         output tokens per request (default 16; ignore_eos)\n"
        "  --seed N               workload seed (default 1)\n"
        "  --timeout S            per-request timeout (default 60)\n"
        "  --max-inflight N       open loop: drop (count as error) beyond N in flight (default 2048)\n"
        "  --label TEXT           label of the JSON line\n"
        "  --json-out FILE        append the JSON line to FILE\n"
        "  --dump FILE            per-request CSV of the measured requests\n"
        "  --dry-run              generate schedule and bodies only; print a checksum\n"
        "  --print-body I         print request I's body and exit\n",
        f);
}

static double num_arg(const char *name, const char *v, double min, double max) {
  char *e = NULL;
  errno = 0;
  double d = strtod(v, &e);
  if (errno || e == v || *e || !isfinite(d) || d < min || d > max) {
    fprintf(stderr, "qgen: bad value for --%s: %s\n", name, v);
    exit(2);
  }
  return d;
}

static void parse_args(int argc, char **argv) {
  static const struct option lo[] = {
      {"url", 1, 0, 'u'},           {"api", 1, 0, 'a'},       {"workload", 1, 0, 'w'},
      {"model", 1, 0, 'm'},         {"models", 1, 0, 'M'},    {"groups", 1, 0, 'g'},
      {"system-tokens", 1, 0, 's'}, {"question-tokens", 1, 0, 'q'},
      {"rate", 1, 0, 'r'},          {"arrival", 1, 0, 'A'},   {"concurrency", 1, 0, 'c'},
      {"duration", 1, 0, 'd'},      {"warmup", 1, 0, 'W'},    {"max-tokens", 1, 0, 'o'},
      {"seed", 1, 0, 'S'},          {"timeout", 1, 0, 't'},   {"max-inflight", 1, 0, 'i'},
      {"label", 1, 0, 'l'},         {"json-out", 1, 0, 'j'},  {"dump", 1, 0, 'D'},
      {"dry-run", 0, 0, 'n'},       {"print-body", 1, 0, 'p'}, {"help", 0, 0, 'h'},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    switch (c) {
    case 'u': opt.url = optarg; break;
    case 'a':
      if (strcmp(optarg, "completions") == 0) opt.api = API_COMPLETIONS;
      else if (strcmp(optarg, "chat") == 0) opt.api = API_CHAT;
      else die("--api must be completions or chat");
      break;
    case 'w':
      if (strcmp(optarg, "shared-prefix") == 0) opt.workload = WL_SHARED;
      else if (strcmp(optarg, "random") == 0) opt.workload = WL_RANDOM;
      else if (strcmp(optarg, "lora") == 0) opt.workload = WL_LORA;
      else die("--workload must be shared-prefix, random or lora");
      break;
    case 'm': opt.model = optarg; break;
    case 'M': {
      char *save = NULL;
      opt.nmodels = 0;
      for (char *t = strtok_r(optarg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (opt.nmodels == MAX_MODELS) die("too many --models");
        opt.models[opt.nmodels++] = t;
      }
      break;
    }
    case 'g': opt.groups = (int)num_arg("groups", optarg, 1, 100000); break;
    case 's': opt.system_tokens = (int)num_arg("system-tokens", optarg, 0, 4000000); break;
    case 'q': opt.question_tokens = (int)num_arg("question-tokens", optarg, 1, 4000000); break;
    case 'r': opt.rate = num_arg("rate", optarg, 0.001, 100000); break;
    case 'A':
      if (strcmp(optarg, "poisson") == 0) opt.poisson = true;
      else if (strcmp(optarg, "fixed") == 0) opt.poisson = false;
      else die("--arrival must be poisson or fixed");
      break;
    case 'c': opt.concurrency = (int)num_arg("concurrency", optarg, 1, 4096); break;
    case 'd': opt.duration = num_arg("duration", optarg, 0.1, 86400); break;
    case 'W': opt.warmup = num_arg("warmup", optarg, 0, 86400); break;
    case 'o': opt.max_tokens = (int)num_arg("max-tokens", optarg, 1, 1000000); break;
    case 'S': opt.seed = (uint64_t)num_arg("seed", optarg, 0, 9007199254740992.0); break;
    case 't': opt.timeout = num_arg("timeout", optarg, 0.1, 86400); break;
    case 'i': opt.max_inflight = (int)num_arg("max-inflight", optarg, 1, 1000000); break;
    case 'l': opt.label = optarg; break;
    case 'j': opt.json_out = optarg; break;
    case 'D': opt.dump = optarg; break;
    case 'n': opt.dry_run = true; break;
    case 'p': opt.print_body = (long)num_arg("print-body", optarg, 0, 1e12); break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
  }
  if (optind < argc) die("unexpected arguments (see --help)");
  if (opt.workload == WL_LORA && opt.nmodels == 0) die("--workload lora needs --models");
  if (!opt.url && !opt.dry_run && opt.print_body < 0) die("--url is required");
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  vocab_init();
  if (opt.print_body >= 0) {
    gen_req_t g;
    gen_request(opt.print_body, &g);
    printf("%s\n", g.body);
    free(g.body);
    return 0;
  }
  if (opt.dry_run) {
    dry_run();
    return 0;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  snprintf(g_endpoint, sizeof(g_endpoint), "%s%s", opt.url,
           opt.api == API_CHAT ? "/v1/chat/completions" : "/v1/completions");
  if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) die("curl_global_init failed");
  g_multi = curl_multi_init();
  if (!g_multi) die("curl_multi_init failed");
  curl_multi_setopt(g_multi, CURLMOPT_MAXCONNECTS, 1024L);
  g_hdrs = curl_slist_append(NULL, "content-type: application/json");
  g_hdrs = curl_slist_append(g_hdrs, "accept: text/event-stream");
  g_hdrs = curl_slist_append(g_hdrs, "Expect:");
  if (!g_hdrs) die("out of memory");
  run();
  size_t nok = report();
  long unfinished = 0;
  for (long i = 0; i < g_nreqs; i++) {
    req_t *r = g_reqs[i];
    if (r->easy) {
      curl_multi_remove_handle(g_multi, r->easy);
      curl_easy_cleanup(r->easy);
      unfinished++;
    }
    free(r->body);
    buf_free(&r->line);
    free(r);
  }
  free(g_reqs);
  while (g_nfree) curl_easy_cleanup(g_free[--g_nfree]);
  curl_multi_cleanup(g_multi);
  curl_slist_free_all(g_hdrs);
  curl_global_cleanup();
  (void)unfinished;
  return nok > 0 ? 0 : 1; /* errors are reported; only "nothing worked" fails */
}
