/* Command-line flags, Go style (the sims stand in for Go-flagged servers). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void sy_sim_config_usage(FILE *f) {
  fputs("usage: switchyard-sim --listen ADDR:PORT [flags]\n"
        "  --listen ADDR:PORT        address to serve on (required; ADDR may be empty or 0.0.0.0)\n"
        "  --model NAME              served base model (default " SY_SIM_DEFAULT_MODEL ")\n"
        "  --lora a,b,...            LoRA adapters served besides the base model\n"
        "  --max-loras N             adapters loaded at once (default: number of --lora, min 1)\n"
        "  --lora-load-ms F          extra time to first token when a request loads its adapter (default 50)\n"
        "  --instance-id ID          value of the x-sim-instance header (default: the listen address)\n"
        "  --latency-calculator C    constant | per-token (default: per-token, but constant when\n"
        "                            --ttft-ms is given without a --prefill-* flag)\n"
        "  --ttft-ms F               constant calculator: time to first token once running (default 20)\n"
        "  --prefill-overhead-ms F   per-token calculator: fixed prefill cost (default 5)\n"
        "  --prefill-ms-per-token F  per-token calculator: cost per uncached prompt token (default 0.05)\n"
        "  --serial-prefill BOOL     prefills queue for one prefill lane (default true)\n"
        "  --itl-ms F                inter-token latency (default 5)\n"
        "  --itl-load-factor F       ITL x (1 + F x (running-1)), fixed at start (default 0)\n"
        "  --ttft-std-dev-ms F       gaussian jitter of the time to first token (default 0)\n"
        "  --itl-std-dev-ms F        gaussian jitter of each request's ITL (default 0)\n"
        "  --max-num-seqs N          max running requests (default 8)\n"
        "  --max-queue N             max waiting requests; beyond that 503 (default 1000)\n"
        "  --output-tokens N         completion length when the request sets no max_tokens (default 16)\n"
        "  --kv-blocks N             KV-cache capacity in blocks (default 1024)\n"
        "  --block-size N            tokens per KV block (default 16)\n"
        "  --chars-per-token N       prompt bytes per token (default 4)\n"
        "  --prefix-caching BOOL     reuse cached prompt blocks (default true)\n"
        "  --max-body-bytes N        request body limit; beyond that 413 (default 33554432)\n"
        "  --seed N                  seed for ids, generated text and jitter (default: random)\n"
        "  -v N                      log verbosity 0..5 (default 2)\n",
        f);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && errlen) vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return SY_EINVAL;
}

static int set_str(char **dst, const char *v) {
  char *s = sy_strdup(v);
  if (!s) return -ENOMEM;
  sy_free(*dst);
  *dst = s;
  return 0;
}

static int parse_double(const char *v, double *out) {
  char *end = NULL;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || !isfinite(d) || d < 0) return SY_EPARSE;
  *out = d;
  return 0;
}

/* Go's strconv.ParseBool spellings. */
static int parse_bool(const char *v, bool *out) {
  static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
  static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
  for (size_t i = 0; i < SY_ARRAY_LEN(t); i++) {
    if (!strcmp(v, t[i])) return *out = true, 0;
    if (!strcmp(v, f[i])) return *out = false, 0;
  }
  return SY_EPARSE;
}

static bool is_bool_flag(const char *key) { return !strcmp(key, "prefix-caching") || !strcmp(key, "serial-prefill"); }

static int parse_intr(const char *v, long min, long max, int *out) {
  long l;
  if (sy_parse_int(v, min, max, &l)) return SY_EPARSE;
  *out = (int)l;
  return 0;
}

static int parse_listen(sy_sim_config_t *c, const char *v) {
  const char *colon = strrchr(v, ':');
  if (!colon) return SY_EPARSE;
  long port;
  if (sy_parse_int(colon + 1, 1, 65535, &port)) return SY_EPARSE;
  size_t hl = (size_t)(colon - v);
  if (hl >= 64) return SY_EPARSE;
  char *h = sy_strndup(v, hl);
  if (!h) return -ENOMEM;
  sy_free(c->listen_host);
  c->listen_host = h;
  c->listen_port = (int)port;
  return 0;
}

static int parse_loras(sy_sim_config_t *c, const char *v) {
  for (int i = 0; i < c->n_loras; i++) SY_FREE(&c->loras[i]);
  c->n_loras = 0;
  const char *p = v;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    const char *s = p;
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n) {
      if (c->n_loras >= SY_SIM_MAX_LORAS) return SY_ETOOBIG;
      char *name = sy_strndup(s, n);
      if (!name) return -ENOMEM;
      c->loras[c->n_loras++] = name;
    }
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

int sy_sim_config_lora_index(const sy_sim_config_t *c, const char *name) {
  for (int i = 0; i < c->n_loras; i++)
    if (strcmp(c->loras[i], name) == 0) return i;
  return -1;
}

void sy_sim_config_cleanup(sy_sim_config_t *c) {
  if (!c) return;
  SY_FREE(&c->listen_host);
  SY_FREE(&c->model);
  SY_FREE(&c->instance_id);
  for (int i = 0; i < c->n_loras; i++) SY_FREE(&c->loras[i]);
  c->n_loras = 0;
}

int sy_sim_config_parse(sy_sim_config_t *c, int argc, char **argv, char *err, size_t errlen) {
  memset(c, 0, sizeof(*c));
  c->ttft_ms = 20;
  c->itl_ms = 5;
  c->max_num_seqs = 8;
  c->max_queue = 1000;
  c->output_tokens = 16;
  c->kv_blocks = 1024;
  c->block_size = 16;
  c->chars_per_token = 4;
  c->prefill_overhead_ms = 5;
  c->prefill_ms_per_token = 0.05;
  c->lora_load_ms = 50;
  c->prefix_caching = true;
  c->serial_prefill = true;
  c->max_body_bytes = 33554432;
  c->max_loras = -1;
  c->verbosity = SY_LOG_INFO;
  bool have_listen = false, ttft_given = false, prefill_given = false;
  const char *calculator = "";

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || !a[1]) return fail(err, errlen, "unexpected argument %s", a);
    const char *name = a + 1;
    if (*name == '-') name++;
    if (!*name) return fail(err, errlen, "unexpected argument %s", a);
    if (!strcmp(name, "h") || !strcmp(name, "help")) return 1;
    char key[64];
    const char *eq = strchr(name, '=');
    size_t kl = eq ? (size_t)(eq - name) : strlen(name);
    if (kl >= sizeof(key)) return fail(err, errlen, "unknown flag %s", a);
    memcpy(key, name, kl);
    key[kl] = 0;
    const char *v;
    if (eq) {
      v = eq + 1;
    } else if (is_bool_flag(key)) {
      /* Go: a bare boolean flag means true; we also take a following
       * true/false word. */
      bool b;
      v = (i + 1 < argc && parse_bool(argv[i + 1], &b) == 0) ? argv[++i] : "true";
    } else {
      if (i + 1 >= argc) return fail(err, errlen, "flag needs an argument: -%s", key);
      v = argv[++i];
    }

    int rc = 0;
    if (!strcmp(key, "listen")) {
      rc = parse_listen(c, v);
      have_listen = rc == 0;
    } else if (!strcmp(key, "model")) {
      rc = *v ? set_str(&c->model, v) : SY_EPARSE;
    } else if (!strcmp(key, "lora")) {
      rc = parse_loras(c, v);
    } else if (!strcmp(key, "max-loras")) {
      rc = parse_intr(v, 1, 100000, &c->max_loras);
    } else if (!strcmp(key, "instance-id")) {
      rc = *v ? set_str(&c->instance_id, v) : SY_EPARSE;
    } else if (!strcmp(key, "ttft-ms")) {
      rc = parse_double(v, &c->ttft_ms);
      ttft_given = true;
    } else if (!strcmp(key, "latency-calculator")) {
      rc = (!*v || !strcmp(v, "constant") || !strcmp(v, "per-token")) ? 0 : SY_EPARSE;
      calculator = v;
    } else if (!strcmp(key, "itl-ms")) {
      rc = parse_double(v, &c->itl_ms);
    } else if (!strcmp(key, "prefill-overhead-ms")) {
      rc = parse_double(v, &c->prefill_overhead_ms);
      prefill_given = true;
    } else if (!strcmp(key, "prefill-ms-per-token")) {
      rc = parse_double(v, &c->prefill_ms_per_token);
      prefill_given = true;
    } else if (!strcmp(key, "ttft-std-dev-ms")) {
      rc = parse_double(v, &c->ttft_std_ms);
    } else if (!strcmp(key, "itl-std-dev-ms")) {
      rc = parse_double(v, &c->itl_std_ms);
    } else if (!strcmp(key, "itl-load-factor")) {
      rc = parse_double(v, &c->itl_load_factor);
    } else if (!strcmp(key, "lora-load-ms")) {
      rc = parse_double(v, &c->lora_load_ms);
    } else if (!strcmp(key, "prefix-caching")) {
      rc = parse_bool(v, &c->prefix_caching);
    } else if (!strcmp(key, "serial-prefill")) {
      rc = parse_bool(v, &c->serial_prefill);
    } else if (!strcmp(key, "chars-per-token")) {
      rc = parse_intr(v, 1, 64, &c->chars_per_token);
    } else if (!strcmp(key, "max-num-seqs")) {
      rc = parse_intr(v, 1, 1000000, &c->max_num_seqs);
    } else if (!strcmp(key, "max-queue")) {
      rc = parse_intr(v, 0, 10000000, &c->max_queue);
    } else if (!strcmp(key, "output-tokens")) {
      rc = parse_intr(v, 1, SY_SIM_MAX_OUTPUT_TOKENS, &c->output_tokens);
    } else if (!strcmp(key, "kv-blocks")) {
      rc = parse_intr(v, 1, SY_SIM_MAX_KV_BLOCKS, &c->kv_blocks);
    } else if (!strcmp(key, "block-size")) {
      rc = parse_intr(v, 1, 4096, &c->block_size);
    } else if (!strcmp(key, "max-body-bytes")) {
      rc = sy_parse_int(v, 1, 1L << 31, &c->max_body_bytes) ? SY_EPARSE : 0;
    } else if (!strcmp(key, "seed")) {
      char *end = NULL;
      errno = 0;
      unsigned long long s = strtoull(v, &end, 10);
      rc = (errno || end == v || *end || *v == '-') ? SY_EPARSE : 0;
      c->seed = (uint64_t)s;
      c->seed_set = rc == 0;
    } else if (!strcmp(key, "v")) {
      rc = parse_intr(v, 0, 5, &c->verbosity);
    } else {
      return fail(err, errlen, "flag provided but not defined: -%s", key);
    }
    if (rc == -ENOMEM) return fail(err, errlen, "out of memory");
    if (rc) return fail(err, errlen, "invalid value \"%s\" for flag -%s", v, key);
  }

  if (!have_listen) return fail(err, errlen, "--listen ADDR:PORT is required");
  /* llm-d-inference-sim's precedence: an explicit calculator wins; else a
   * TTFT given alone keeps the old constant behaviour. */
  if (*calculator) c->latency = !strcmp(calculator, "constant") ? SY_SIM_LATENCY_CONSTANT : SY_SIM_LATENCY_PER_TOKEN;
  else c->latency = ttft_given && !prefill_given ? SY_SIM_LATENCY_CONSTANT : SY_SIM_LATENCY_PER_TOKEN;
  if (!c->model && set_str(&c->model, SY_SIM_DEFAULT_MODEL)) return fail(err, errlen, "out of memory");
  for (int i = 0; i < c->n_loras; i++) {
    if (!strcmp(c->loras[i], c->model)) return fail(err, errlen, "LoRA %s has the base model's name", c->loras[i]);
    for (int j = 0; j < i; j++)
      if (!strcmp(c->loras[i], c->loras[j])) return fail(err, errlen, "LoRA %s listed twice", c->loras[i]);
  }
  if (c->max_loras < 0) c->max_loras = c->n_loras > 0 ? c->n_loras : 1;
  if (!c->instance_id) {
    char id[96];
    snprintf(id, sizeof(id), "%s:%d", *c->listen_host ? c->listen_host : "0.0.0.0", c->listen_port);
    if (set_str(&c->instance_id, id)) return fail(err, errlen, "out of memory");
  }
  return 0;
}
