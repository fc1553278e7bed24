/* Command-line flags, Go style (the sims stand in for Go-flagged servers). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void sy_sim_config_usage(FILE *f) {
  fputs("usage: switchyard-sim --listen ADDR:PORT [flags]\n"
        "  --listen ADDR:PORT      address to serve on (required; ADDR may be empty or 0.0.0.0)\n"
        "  --model NAME            served base model (default " SY_SIM_DEFAULT_MODEL ")\n"
        "  --lora a,b,...          LoRA adapters served besides the base model\n"
        "  --max-loras N           max_lora label of vllm:lora_requests_info (default: number of --lora, min 1)\n"
        "  --instance-id ID        value of the x-sim-instance header (default: the listen address)\n"
        "  --ttft-ms F             time to first token once running (default 20)\n"
        "  --itl-ms F              inter-token latency (default 5)\n"
        "  --max-num-seqs N        max running requests (default 8)\n"
        "  --max-queue N           max waiting requests; beyond that 503 (default 1000)\n"
        "  --output-tokens N       completion length when the request sets no max_tokens (default 16)\n"
        "  --kv-blocks N           KV-cache capacity in blocks (default 1024)\n"
        "  --block-size N          tokens per KV block (default 16)\n"
        "  --max-body-bytes N      request body limit; beyond that 413 (default 33554432)\n"
        "  --seed N                seed for ids and generated text (default: random)\n"
        "  -v N                    log verbosity 0..5 (default 2)\n",
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
  c->max_body_bytes = 33554432;
  c->max_loras = -1;
  c->verbosity = SY_LOG_INFO;
  bool have_listen = false;

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
      rc = parse_intr(v, 0, 100000, &c->max_loras);
    } else if (!strcmp(key, "instance-id")) {
      rc = *v ? set_str(&c->instance_id, v) : SY_EPARSE;
    } else if (!strcmp(key, "ttft-ms")) {
      rc = parse_double(v, &c->ttft_ms);
    } else if (!strcmp(key, "itl-ms")) {
      rc = parse_double(v, &c->itl_ms);
    } else if (!strcmp(key, "max-num-seqs")) {
      rc = parse_intr(v, 1, 1000000, &c->max_num_seqs);
    } else if (!strcmp(key, "max-queue")) {
      rc = parse_intr(v, 0, 10000000, &c->max_queue);
    } else if (!strcmp(key, "output-tokens")) {
      rc = parse_intr(v, 1, SY_SIM_MAX_OUTPUT_TOKENS, &c->output_tokens);
    } else if (!strcmp(key, "kv-blocks")) {
      rc = parse_intr(v, 1, 100000000, &c->kv_blocks);
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
