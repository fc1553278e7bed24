// qreport: writes docs/bench/routing-quality.md from bench/quality/run.sh's
// results, and merges one run's JSON files into a results line.
//
//   qreport --results results.jsonl [--probes probes.jsonl] --out page.md
//           [--command S] [--elapsed S] [--has-config 0|1]
//           [--sim-latency-model S] [--skipped-flags S] [--switchyard PATH]
//           [--envoy PATH] [--load S] [--build-note S]
//           [--switchyard-extra S] [--commit S]
//   qreport --merge RUN.json SERVER.json MODE SIM_ARGS SWITCHYARD_ARGS
//           prints RUN.json's last line updated with SERVER.json's keys and
//           policy (= label), mode, sim_args and switchyard_args.
//   qreport --field FILE KEY
//           prints number KEY of FILE's last JSON line.
//
// Input: results.jsonl (one qgen JSON line per run, merged with the run's
// policy mode and the simulators' prefix-cache counters) and probes.jsonl (the
// closed-loop capacity probes). Only numbers found in those files are printed;
// a missing measurement is shown as "n/a", never estimated.
//
// Build: cc -O2 -std=gnu11 -Wall -Wextra -o qreport qreport.c -lcjson
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROWS 4096
#define MAX_LINE (1 << 20)
#define SMALL 256
#define CELL 1024

static char g_root[PATH_MAX + 16];  // the repository: <dir of this binary>/../..

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "qreport: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

// ------------------------------------------------------------------ output

static FILE *g_out;

// w: one line of the page.
static void w(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(g_out, fmt, ap);
  va_end(ap);
  fputc('\n', g_out);
}

// ------------------------------------------------------------------ input

typedef struct {
  cJSON *rows[MAX_ROWS];
  int n;
} rows_t;

// load: one JSON object per non-blank line of PATH (a missing file is empty).
static void load(const char *path, rows_t *out) {
  out->n = 0;
  if (!path || !path[0]) return;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char *line = malloc(MAX_LINE);
  if (!line) die("out of memory");
  while (fgets(line, MAX_LINE, f)) {
    size_t len = strlen(line);
    if (len == MAX_LINE - 1 && line[len - 1] != '\n') die("%s: line too long", path);
    const char *p = line;
    while (isspace((unsigned char)*p)) p++;
    if (!*p) continue;
    if (out->n == MAX_ROWS) die("%s: too many lines", path);
    cJSON *j = cJSON_Parse(p);
    if (!j) die("%s: bad JSON line: %.80s", path, p);
    out->rows[out->n++] = j;
  }
  free(line);
  fclose(f);
}

// ------------------------------------------------------------------ JSON helpers

// field: KEY of object O, or NULL when O is not an object, KEY is absent or null
// (Python's r.get(k) returning None).
static cJSON *field(const cJSON *o, const char *key) {
  if (!cJSON_IsObject(o)) return NULL;
  cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNull(v) ? NULL : v;
}

static bool has_key(const cJSON *o, const char *key) {
  return cJSON_IsObject(o) && cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

// number: *out = KEY of O as a number; false when missing, null or not a number.
static bool number(const cJSON *o, const char *key, double *out) {
  cJSON *v = field(o, key);
  if (!cJSON_IsNumber(v)) return false;
  *out = v->valuedouble;
  return true;
}

static const char *string(const cJSON *o, const char *key, const char *dflt) {
  cJSON *v = field(o, key);
  return cJSON_IsString(v) ? v->valuestring : dflt;
}

// truthy: Python's bool() of a JSON value (NULL = None).
static bool truthy(const cJSON *v) {
  if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return false;
  if (cJSON_IsNumber(v)) return v->valuedouble != 0;
  if (cJSON_IsString(v)) return v->valuestring[0] != '\0';
  if (cJSON_IsArray(v) || cJSON_IsObject(v)) return v->child != NULL;
  return true;
}

// float_repr: Python's repr() of a float: the shortest digits that read back
// as V, fixed notation for exponents -4..15, else d.ddde+XX.
static void float_repr(double v, char *buf, size_t n) {
  if (isnan(v)) { snprintf(buf, n, "nan"); return; }
  if (isinf(v)) { snprintf(buf, n, v < 0 ? "-inf" : "inf"); return; }
  char e[64];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(e, sizeof e, "%.*e", prec - 1, v);
    if (strtod(e, NULL) == v) break;
  }
  // e = [-]d[.ddd]e[+-]XX
  bool neg = e[0] == '-';
  const char *p = neg ? e + 1 : e;
  char digits[32];
  size_t nd = 0;
  for (; *p && *p != 'e'; p++)
    if (isdigit((unsigned char)*p) && nd < sizeof digits - 1) digits[nd++] = *p;
  digits[nd] = '\0';
  int exp10 = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = '\0';
  char out[64];
  size_t o = 0;
  if (neg) out[o++] = '-';
  if (exp10 >= -4 && exp10 < 16) {
    if (exp10 < 0) {
      out[o++] = '0';
      out[o++] = '.';
      for (int i = 0; i < -exp10 - 1; i++) out[o++] = '0';
      for (size_t i = 0; i < nd; i++) out[o++] = digits[i];
    } else {
      for (int i = 0; i <= exp10; i++) out[o++] = (size_t)i < nd ? digits[i] : '0';
      out[o++] = '.';
      if ((size_t)exp10 + 1 < nd)
        for (size_t i = (size_t)exp10 + 1; i < nd; i++) out[o++] = digits[i];
      else
        out[o++] = '0';
    }
    out[o] = '\0';
  } else {
    out[o++] = digits[0];
    if (nd > 1) {
      out[o++] = '.';
      for (size_t i = 1; i < nd; i++) out[o++] = digits[i];
    }
    snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
  }
  snprintf(buf, n, "%s", out);
}

// py_number: a JSON number as Python prints it. qgen writes whole numbers
// without a fraction (cJSON), so Python reads those as int.
static void py_number(double v, char *buf, size_t n) {
  if (v == floor(v) && fabs(v) < 9007199254740992.0)
    snprintf(buf, n, "%.0f", v);
  else
    float_repr(v, buf, n);
}

// py_str: str() of a JSON value as Python's "{}".format() prints it; NULL is None.
static void py_str(const cJSON *v, char *buf, size_t n) {
  if (!v || cJSON_IsNull(v)) snprintf(buf, n, "None");
  else if (cJSON_IsTrue(v)) snprintf(buf, n, "True");
  else if (cJSON_IsFalse(v)) snprintf(buf, n, "False");
  else if (cJSON_IsNumber(v)) py_number(v->valuedouble, buf, n);
  else if (cJSON_IsString(v)) snprintf(buf, n, "%s", v->valuestring);
  else snprintf(buf, n, "?");
}

// num/pct: a measurement or "n/a".
static const char *num(char *buf, size_t n, const cJSON *v, int decimals) {
  if (cJSON_IsNumber(v)) snprintf(buf, n, "%.*f", decimals, v->valuedouble);
  else snprintf(buf, n, "n/a");
  return buf;
}

static const char *pct_d(char *buf, size_t n, bool have, double v) {
  if (have) snprintf(buf, n, "%.1f%%", v * 100);
  else snprintf(buf, n, "n/a");
  return buf;
}

static const char *pct(char *buf, size_t n, const cJSON *v) {
  return pct_d(buf, n, cJSON_IsNumber(v), cJSON_IsNumber(v) ? v->valuedouble : 0);
}

// server_hit: the sims' hits ÷ queries, when queries is nonzero.
static bool server_hit(const cJSON *r, double *out) {
  double h, q;
  if (!number(r, "server_prefix_queries", &q) || q == 0) return false;
  if (!number(r, "server_prefix_hits", &h)) return false;
  *out = h / q;
  return true;
}

// hit_rate: client-side (usage / x-sim-cached-tokens) if reported, else the sims' counters.
static bool hit_rate(const cJSON *r, double *out) {
  if (number(r, "cache_hit_rate", out)) return true;
  return server_hit(r, out);
}

// strip: Python's str.strip() (ASCII whitespace) into BUF.
static const char *strip(const char *s, char *buf, size_t n) {
  while (*s && (isspace((unsigned char)*s) || (*s >= 0x1c && *s <= 0x1f))) s++;
  size_t len = strlen(s);
  while (len && (isspace((unsigned char)s[len - 1]) || (s[len - 1] >= 0x1c && s[len - 1] <= 0x1f))) len--;
  if (len >= n) len = n - 1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  return buf;
}

// ------------------------------------------------------------------ processes

// sh: the stripped stdout of ARGV run in the repository (10 s limit), or "".
static void sh(char *const argv[], char *buf, size_t n) {
  buf[0] = '\0';
  int fd[2];
  if (pipe(fd) != 0) return;
  pid_t pid = fork();
  if (pid < 0) {
    close(fd[0]);
    close(fd[1]);
    return;
  }
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], 1);
    close(fd[1]);
    FILE *null = freopen("/dev/null", "w", stderr);
    (void)null;
    if (chdir(g_root) != 0) _exit(127);
    alarm(10);
    execvp(argv[0], argv);
    _exit(127);
  }
  close(fd[1]);
  size_t got = 0;
  char tmp[4096];
  ssize_t k;
  while ((k = read(fd[0], tmp, sizeof tmp)) != 0) {
    if (k < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (ssize_t i = 0; i < k && got < n - 1; i++) buf[got++] = tmp[i];
  }
  buf[got] = '\0';
  close(fd[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  char *s = malloc(n);
  if (!s) die("out of memory");
  strip(buf, s, n);
  snprintf(buf, n, "%s", s);
  free(s);
}

// envoy_version: the first "/X.Y.Z/" in S, or "?".
static void envoy_version(const char *s, char *buf, size_t n) {
  for (const char *p = strchr(s, '/'); p; p = strchr(p + 1, '/')) {
    const char *q = p + 1;
    int parts = 0;
    while (parts < 3) {
      if (!isdigit((unsigned char)*q)) break;
      while (isdigit((unsigned char)*q)) q++;
      parts++;
      if (parts < 3) {
        if (*q != '.') break;
        q++;
      }
    }
    if (parts == 3 && *q == '/') {
      snprintf(buf, n, "%.*s", (int)(q - p - 1), p + 1);
      return;
    }
  }
  snprintf(buf, n, "?");
}

static void cpu_model(char *buf, size_t n) {
  buf[0] = '\0';
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *c = strchr(line, ':');
      if (c) strip(c + 1, buf, n);
      break;
    }
  }
  fclose(f);
}

// ------------------------------------------------------------------ the report

typedef struct {
  const char *results, *probes, *out, *command, *elapsed, *has_config, *sim_latency_model;
  const char *skipped_flags, *switchyard, *envoy, *load, *build_note, *switchyard_extra, *commit;
} args_t;

static rows_t g_rows, g_probes;
static args_t a;

// by: the last row for (WL, LABEL), like Python's dict keyed by both.
static cJSON *by(const char *wl, const char *label) {
  cJSON *found = NULL;
  for (int i = 0; i < g_rows.n; i++) {
    const char *rw = string(g_rows.rows[i], "workload", ""), *rl = string(g_rows.rows[i], "label", "");
    if (strcmp(rw, wl) == 0 && strcmp(rl, label) == 0) found = g_rows.rows[i];
  }
  return found;
}

// get: number KEY1[.KEY2] of the (WL, POL) run, unless missing or skipped.
static bool get(const char *wl, const char *pol, const char *key1, const char *key2, double *out) {
  cJSON *r = by(wl, pol);
  if (!r || has_key(r, "skipped")) return false;
  cJSON *v = field(r, key1);
  if (key2) v = field(v, key2);
  if (!cJSON_IsNumber(v)) return false;
  *out = v->valuedouble;
  return true;
}

typedef struct {
  char check[CELL], target[SMALL], measured[CELL], result[CELL];
} check_t;

static bool g_no_profile, g_fixed_ttft;

// gated: PASS/FAIL, or why it is not judged.
static void gated(int ok, bool ttft_check, char *buf, size_t n) {
  if (ok < 0) {
    snprintf(buf, n, "n/a");
    return;
  }
  char why[SMALL] = "";
  if (g_no_profile) snprintf(why, sizeof why, "default ≠ scheduler profile");
  if (g_fixed_ttft && ttft_check)
    snprintf(why + strlen(why), sizeof why - strlen(why), "%ssim has no cache latency model", why[0] ? "; " : "");
  if (why[0])
    snprintf(buf, n, "not judged (%s); would be %s", why, ok ? "PASS" : "FAIL");
  else
    snprintf(buf, n, "%s", ok ? "**PASS**" : "**FAIL**");
}

static int cmp_double(const void *x, const void *y) {
  double a1 = *(const double *)x, b1 = *(const double *)y;
  return (a1 > b1) - (a1 < b1);
}

// rates_of: the distinct "rate" values of WL's runs, ascending, as "a, b".
static bool rates_of(const char *wl, char *buf, size_t n) {
  double v[MAX_ROWS];
  int nv = 0;
  for (int i = 0; i < g_rows.n; i++) {
    double r;
    if (strcmp(string(g_rows.rows[i], "workload", ""), wl) != 0 || !number(g_rows.rows[i], "rate", &r)) continue;
    bool seen = false;
    for (int k = 0; k < nv; k++) seen = seen || v[k] == r;
    if (!seen) v[nv++] = r;
  }
  qsort(v, (size_t)nv, sizeof v[0], cmp_double);
  buf[0] = '\0';
  for (int k = 0; k < nv; k++) {
    char s[64];
    py_number(v[k], s, sizeof s);
    snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", k ? ", " : "", s);
  }
  return nv > 0;
}

static void ratio_cell(double x, double y, const char *unit, int decimals, char *buf, size_t n) {
  snprintf(buf, n, "%.3f (%.*f%s ÷ %.*f%s)", x / y, decimals, x, unit, decimals, y, unit);
}

static void report(void) {
  load(a.results, &g_rows);
  load(a.probes, &g_probes);
  // workloads in order of first appearance
  const char *workloads[MAX_ROWS];
  int nwl = 0;
  for (int i = 0; i < g_rows.n; i++) {
    const char *wl = string(g_rows.rows[i], "workload", "");
    bool seen = false;
    for (int k = 0; k < nwl; k++) seen = seen || strcmp(workloads[k], wl) == 0;
    if (!seen) workloads[nwl++] = wl;
  }

  // ---- the three checks the issue asks for. A check whose precondition is
  // missing (default is not the scheduler profile; the sim has no cache
  // latency model) shows its number but no PASS/FAIL.
  static char dmode[MAX_LINE];
  dmode[0] = '\0';
  bool first = true;
  for (int i = 0; i < g_rows.n; i++) {
    if (strcmp(string(g_rows.rows[i], "label", ""), "default") != 0) continue;
    snprintf(dmode + strlen(dmode), sizeof dmode - strlen(dmode), "%s%s", first ? "" : " ",
             string(g_rows.rows[i], "mode", ""));
    first = false;
  }
  g_fixed_ttft = strstr(a.sim_latency_model, "fixed TTFT") != NULL;
  g_no_profile = strcmp(a.has_config, "1") != 0 || strstr(dmode, "pre-config-file") != NULL;

  check_t checks[8];
  int nc = 0;
  check_t *c;
  double d, q;
  bool hd, hq;

  c = &checks[nc++];
  snprintf(c->check, sizeof c->check, "shared-prefix TTFT p90, default ÷ random");
  snprintf(c->target, sizeof c->target, "≤ 0.333");
  hd = get("shared-prefix", "default", "ttft_ms", "p90", &d);
  hq = get("shared-prefix", "random", "ttft_ms", "p90", &q);
  if (hd && hq && q != 0) {
    ratio_cell(d, q, " ms", 0, c->measured, sizeof c->measured);
    gated(d / q <= 1.0 / 3, true, c->result, sizeof c->result);
  } else {
    snprintf(c->measured, sizeof c->measured, "n/a");
    gated(-1, true, c->result, sizeof c->result);
  }

  c = &checks[nc++];
  snprintf(c->check, sizeof c->check, "shared-prefix prefix-cache hit rate, default");
  snprintf(c->target, sizeof c->target, "≥ 80%%");
  cJSON *dr = by("shared-prefix", "default");
  double hr = 0;
  bool hhr = dr && !has_key(dr, "skipped") && hit_rate(dr, &hr);
  pct_d(c->measured, sizeof c->measured, hhr, hr);
  gated(hhr ? hr >= 0.80 : -1, false, c->result, sizeof c->result);

  const char *keys[2] = {"ttft_ms", "e2e_ms"}, *labels[2] = {"TTFT p90", "E2E p90"};
  for (int k = 0; k < 2; k++) {
    c = &checks[nc++];
    snprintf(c->check, sizeof c->check, "no-shared-prefix %s, default ÷ queue-only", labels[k]);
    snprintf(c->target, sizeof c->target, "≤ 1.10");
    hd = get("random", "default", keys[k], "p90", &d);
    hq = get("random", "queue-only", keys[k], "p90", &q);
    if (hd && hq && q != 0) {
      ratio_cell(d, q, " ms", 0, c->measured, sizeof c->measured);
      gated(d / q <= 1.10, false, c->result, sizeof c->result);
    } else {
      snprintf(c->measured, sizeof c->measured, "n/a");
      gated(-1, false, c->result, sizeof c->result);
    }
  }

  const char *best_pol = NULL;
  double best = 0;
  const char *load_only[2] = {"active-request", "queue-only"};
  for (int k = 0; k < 2; k++) {
    double v;
    if (get("random", load_only[k], "ttft_ms", "p90", &v) && (!best_pol || v < best)) {
      best_pol = load_only[k];
      best = v;
    }
  }
  if (best_pol && get("random", "default", "ttft_ms", "p90", &d)) {
    c = &checks[nc++];
    snprintf(c->check, sizeof c->check,
             "(info) no-shared-prefix TTFT p90, default ÷ best load-only policy (%s)", best_pol);
    snprintf(c->target, sizeof c->target, "—");
    ratio_cell(d, best, " ms", 0, c->measured, sizeof c->measured);
    snprintf(c->result, sizeof c->result, "—");
  }

  c = &checks[nc++];
  snprintf(c->check, sizeof c->check, "no-shared-prefix throughput, default ÷ queue-only");
  snprintf(c->target, sizeof c->target, "≥ 0.90");
  hd = get("random", "default", "throughput_rps", NULL, &d);
  hq = get("random", "queue-only", "throughput_rps", NULL, &q);
  if (hd && hq && q != 0) {
    snprintf(c->measured, sizeof c->measured, "%.3f (%.2f ÷ %.2f req/s)", d / q, d, q);
    gated(d / q >= 0.90, false, c->result, sizeof c->result);
  } else {
    snprintf(c->measured, sizeof c->measured, "n/a");
    gated(-1, false, c->result, sizeof c->result);
  }

  // ---- the setting
  char now[64];
  time_t t = time(NULL);
  strftime(now, sizeof now, "%Y-%m-%d %H:%M UTC", gmtime(&t));
  char commit[SMALL], dirty[64] = "";
  if (a.commit[0]) {
    snprintf(commit, sizeof commit, "%s", a.commit);
  } else {
    char *rev[] = {"git", "rev-parse", "--short", "HEAD", NULL};
    char *st[] = {"git", "status", "--porcelain", "--untracked-files=no", NULL};
    char status[SMALL];
    sh(rev, commit, sizeof commit);
    sh(st, status, sizeof status);
    if (status[0]) snprintf(dirty, sizeof dirty, " (+ uncommitted changes)");
  }
  char cpu[SMALL];
  cpu_model(cpu, sizeof cpu);
  char envoy_out[4096] = "", envoy_v[64];
  if (a.envoy[0]) {
    char *ev[] = {(char *)a.envoy, "--version", NULL};
    sh(ev, envoy_out, sizeof envoy_out);
  }
  envoy_version(envoy_out, envoy_v, sizeof envoy_v);

  int nservers = 0;
  for (int i = 0; i < g_rows.n; i++) {
    cJSON *inst = field(g_rows.rows[i], "instances");
    if (truthy(inst)) {
      nservers = cJSON_GetArraySize(inst);
      break;
    }
  }
  char nserv[32];
  if (nservers) snprintf(nserv, sizeof nserv, "%d", nservers);
  else snprintf(nserv, sizeof nserv, "N");

  w("# Routing quality: switchyard vs random");
  w("");
  w("Generated by `bench/quality/run.sh` (do not edit by hand; re-run it). "
    "%s on commit `%s`%s; the whole benchmark took %s s.", now, commit, dirty, a.elapsed);
  w("");
  w("Does switchyard's scheduling beat random routing? Open-loop streaming load "
    "through real Envoy → switchyard (ext_proc) → %s `switchyard-sim` model servers, "
    "once per routing policy and workload, each policy starting from cold simulators.", nserv);
  w("");
  w("## Verdict");
  w("");
  w("| check (from the issue) | target | measured | result |");
  w("|---|---|---|---|");
  for (int i = 0; i < nc; i++)
    w("| %s | %s | %s | %s |", checks[i].check, checks[i].target, checks[i].measured, checks[i].result);
  w("");
  if (strcmp(a.has_config, "1") != 0) {
    w("> **Caveat:** this switchyard binary has no `--config-file` yet, so the policies ran with the "
      "legacy `--picker` flags where one exists (see the *mode* column), policies without one were "
      "skipped, and *default* is whatever the binary does without flags — not the queue + "
      "kv-cache + prefix-cache profile.");
    w("");
  }
  if (a.sim_latency_model[0] && strstr(a.sim_latency_model, "fixed TTFT")) {
    w("> **Caveat:** the simulator had no prefix-cache latency model (%s"
      "), so cache-aware routing cannot lower TTFT in these numbers.", a.sim_latency_model);
    w("");
  }

  w("## Results");
  w("");
  w("Latencies in ms, measured from each request's *scheduled* arrival. TTFT = first SSE event with "
    "content. Throughput counts completions inside the measured window. Hit rate = Σ cached prompt "
    "tokens ÷ Σ prompt tokens (from `usage.prompt_tokens_details.cached_tokens` or `x-sim-cached-tokens`; "
    "*server* = the sims' `vllm:prefix_cache_hits_total ÷ queries_total`, warm-up included). "
    "*inst/group* = distinct servers per prompt group (1 = perfect affinity). *repeats* = consecutive "
    "requests sent to the same server as the one before (random ≈ 1/servers, round-robin 0; much "
    "higher on a no-affinity workload means herding between metric refreshes).");
  for (int k = 0; k < nwl; k++) {
    const char *wl = workloads[k];
    w("");
    cJSON *p = NULL;  // the last probe of this workload
    for (int i = 0; i < g_probes.n; i++)
      if (strcmp(string(g_probes.rows[i], "workload", ""), wl) == 0) p = g_probes.rows[i];
    char rates[4096];
    bool have_rates = rates_of(wl, rates, sizeof rates);
    w("### Workload `%s`", wl);
    w("");
    if (truthy(p)) {
      char conc[64], dur[64];
      cJSON *tp = field(p, "throughput_rps");
      py_str(field(p, "concurrency"), conc, sizeof conc);
      w("Random's ceiling (closed loop, %s clients, %s s): **%.1f req/s**; runs at **%s req/s** "
        "Poisson.", conc, num(dur, sizeof dur, field(p, "duration_s"), 0),
        truthy(tp) && cJSON_IsNumber(tp) ? tp->valuedouble : 0.0, rates);
    } else if (have_rates) {
      w("Rate fixed by the command line: %s req/s Poisson.", rates);
    }
    w("");
    w("| policy | ok / errors | TTFT p50 | TTFT p90 | TTFT p99 | E2E p50 | E2E p90 | req/s | out tok/s "
      "| hit rate | server hit | inst/group | repeats | requests per server (min–max) | mode |");
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (int i = 0; i < g_rows.n; i++) {
      cJSON *r = g_rows.rows[i];
      if (strcmp(string(r, "workload", ""), wl) != 0) continue;
      char label[SMALL];
      py_str(field(r, "label"), label, sizeof label);
      if (has_key(r, "skipped")) {
        char sk[CELL];
        py_str(field(r, "skipped"), sk, sizeof sk);
        w("| %s | skipped: %s | | | | | | | | | | | | | |", label, sk);
        continue;
      }
      cJSON *tt = field(r, "ttft_ms"), *e2 = field(r, "e2e_ms"), *inst = field(r, "instances");
      char spread[SMALL] = "n/a";
      int ni = cJSON_GetArraySize(inst);
      if (cJSON_IsObject(inst) && ni > 0) {
        double mn = inst->child->valuedouble, mx = mn;
        for (cJSON *x = inst->child; x; x = x->next) {
          if (x->valuedouble < mn) mn = x->valuedouble;
          if (x->valuedouble > mx) mx = x->valuedouble;
        }
        char smin[64], smax[64];
        py_number(mn, smin, sizeof smin);
        py_number(mx, smax, sizeof smax);
        snprintf(spread, sizeof spread, "%s–%s (%d servers)", smin, smax, ni);
      }
      char ok[64], errs[64], c1[64], c2[64], c3[64], c4[64], c5[64], c6[64], c7[64], c8[64], c9[64],
          c10[64], c11[64];
      double sh_v = 0;
      bool sh_ok = server_hit(r, &sh_v);
      py_str(field(r, "ok"), ok, sizeof ok);
      py_str(field(r, "errors"), errs, sizeof errs);
      w("| %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", label, ok, errs,
        num(c1, 64, field(tt, "p50"), 0), num(c2, 64, field(tt, "p90"), 0), num(c3, 64, field(tt, "p99"), 0),
        num(c4, 64, field(e2, "p50"), 0), num(c5, 64, field(e2, "p90"), 0),
        num(c6, 64, field(r, "throughput_rps"), 2), num(c7, 64, field(r, "output_tps"), 0),
        pct(c8, 64, field(r, "cache_hit_rate")), pct_d(c9, 64, sh_ok, sh_v),
        num(c10, 64, field(r, "instances_per_group"), 2), pct(c11, 64, field(r, "repeat_pick_rate")), spread,
        string(r, "mode", ""));
    }
    for (int i = 0; i < g_rows.n; i++) {
      cJSON *r = g_rows.rows[i];
      const char *fe = string(r, "first_error", "");
      if (strcmp(string(r, "workload", ""), wl) != 0 || !fe[0]) continue;
      char label[SMALL];
      py_str(field(r, "label"), label, sizeof label);
      char *e = strdup(fe);
      if (!e) die("out of memory");
      for (char *x = e; *x; x++)
        if (*x == '`') *x = '\'';
      w("");
      w("First error under `%s`: `%s`", label, e);
      free(e);
    }
  }

  struct utsname u;
  if (uname(&u) != 0) snprintf(u.release, sizeof u.release, "?");
  char cmd[4096], extra[4096], extra_cell[4100] = "", skipped[4096];
  strip(a.command, cmd, sizeof cmd);
  if (strip(a.switchyard_extra, extra, sizeof extra)[0]) snprintf(extra_cell, sizeof extra_cell, " %s", extra);
  w("");
  w("## Setup");
  w("");
  w("- Command: `%s`", cmd);
  w("- Machine: %ld logical CPUs (%s), Linux %s; **everything shares them**: the load generator, Envoy "
    "(`--concurrency 1`), switchyard and all simulators. Absolute numbers are therefore modest; the "
    "comparison between policies on the same box is the point. Load average (1/5/15 min) at start → "
    "end: %s.", sysconf(_SC_NPROCESSORS_ONLN), cpu[0] ? cpu : "?", u.release, a.load[0] ? a.load : "?");
  if (a.build_note[0]) w("- Binaries: %s", a.build_note);
  w("- Envoy %s (`--concurrency 1`) from `examples/envoy/standalone.yaml`, plaintext ext_proc; switchyard "
    "`--secure-serving=false --manifests <generated dir> --pool-name bench-pool --config-file "
    "bench/quality/policies/<policy>.yaml%s` (no `--config-file` for *default*; see *mode*).", envoy_v, extra_cell);
  w("- Simulator latency model: %s.", a.sim_latency_model[0] ? a.sim_latency_model : "?");
  for (int k = 0; k < nwl; k++) {
    for (int i = 0; i < g_rows.n; i++) {
      cJSON *r = g_rows.rows[i], *sa = field(r, "sim_args");
      if (strcmp(string(r, "workload", ""), workloads[k]) != 0 || !truthy(sa)) continue;
      char s[CELL * 4];
      py_str(sa, s, sizeof s);
      w("- Simulator flags (`%s`): `%s`", workloads[k], s);
      break;
    }
  }
  if (strip(a.skipped_flags, skipped, sizeof skipped)[0])
    w("- Simulator flags requested but unknown to this simulator (left out): `%s`", a.skipped_flags);
  w("- `--config-file` support in this switchyard: %s.", strcmp(a.has_config, "1") == 0 ? "yes" : "**no**");
  w("");
  w("## Method");
  w("");
  w("Modelled on llm-d's and GAIE's benchmarks (inference-perf `shared_prefix` data, Poisson arrivals, "
    "streaming completions with `ignore_eos`), scaled to one small machine:");
  w("");
  w("- **shared-prefix**: G prompt groups, each a long system prompt of pseudo-random words "
    "(~4 characters per token) shared by the group, plus a unique ~100-token question (±20%%); each "
    "request picks its group uniformly. Deterministic under `--seed`.");
  w("- **random** (no shared prefix): the same length distribution, every prompt unique.");
  w("- **lora**: the shared-prefix shape with shorter prefixes; group g is served by adapter g mod K "
    "(`model` = adapter name); every simulator lists all adapters with a small `--max-loras`.");
  w("- Per workload, random's throughput ceiling is measured first (closed loop, 2 clients per server "
    "slot); every policy then runs open loop at a fixed fraction of it (`RATE_FRACTION`), after a "
    "short warm-up whose requests are not measured.");
  w("- The simulators make prefix caching decide latency and capacity (when they have the prefill "
    "model; see the flags above): one serial prefill lane per server charging only *uncached* prompt "
    "tokens, a KV cache too small to hold every group's prefix on every server, cheap decode. "
    "`bench/quality/README.md` explains the numbers.");
  w("- The simulators and switchyard are restarted before every run, so every policy starts with cold "
    "caches and fresh counters; Envoy stays up.");
  w("- Policies are EndpointPickerConfig files in `bench/quality/policies/`: *random* (`random-picker`), "
    "*active-request* (`active-request-scorer` + `max-score-picker`: fewest in-flight requests, the "
    "round-robin equivalent), *queue-only* (`queue-scorer` + `max-score-picker`) and *default* "
    "(no config: switchyard's built-in profile). On the no-shared-prefix workload also *queue-kv* "
    "(`queue-scorer` 2 + `kv-cache-utilization-scorer` 2: the default profile minus the prefix "
    "scorer, which has nothing to match there), to show which part of *default* acts.");
  w("- `queue-scorer` sees only `vllm:num_requests_waiting`. A request waiting for its server's prefill "
    "lane is already *running* (as in vLLM), so the queue has a signal only once a server's slots or KV "
    "cache are full; below that, *queue-only* is decided by tie-breaking.");
  w("");
  w("Raw data of this run: `out/bench-quality/results.jsonl`, per-request CSVs and logs in "
    "`out/bench-quality/runs/` (not committed).");
  w("");
  w("## Reproduce");
  w("");
  w("```sh");
  w("bench/quality/run.sh                        # everything, ~10 min on 2 cores; rewrites this page");
  w("QUICK=1 bench/quality/run.sh                # 10 s runs: a smoke check of the harness");
  w("WORKLOADS=shared-prefix POLICIES='random default' bench/quality/run.sh");
  w("RATE_shared_prefix=30 bench/quality/run.sh  # fixed rate, no capacity probe");
  w("```");
  w("");
  w("See `bench/quality/README.md` for every knob and for running `qgen` by hand.");
}

// ------------------------------------------------------------------ merge / field

static cJSON *last_line(const char *path) {
  rows_t *r = malloc(sizeof *r);
  if (!r) die("out of memory");
  load(path, r);
  if (r->n == 0) die("%s: no JSON line", path);
  cJSON *last = r->rows[r->n - 1];
  for (int i = 0; i < r->n - 1; i++) cJSON_Delete(r->rows[i]);
  free(r);
  return last;
}

// set: KEY = V in O, in place when KEY exists (like Python's dict update).
static void set(cJSON *o, const char *key, cJSON *v) {
  if (cJSON_GetObjectItemCaseSensitive(o, key)) cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
  else cJSON_AddItemToObject(o, key, v);
}

static int merge(char **argv) {
  cJSON *r = last_line(argv[0]), *server = last_line(argv[1]);
  if (!cJSON_IsObject(r) || !cJSON_IsObject(server)) die("merge: not JSON objects");
  for (cJSON *x = server->child; x; x = x->next) set(r, x->string, cJSON_Duplicate(x, 1));
  set(r, "policy", cJSON_CreateString(string(r, "label", "")));
  set(r, "mode", cJSON_CreateString(argv[2]));
  set(r, "sim_args", cJSON_CreateString(argv[3]));
  set(r, "switchyard_args", cJSON_CreateString(argv[4]));
  char *s = cJSON_PrintUnformatted(r);
  if (!s) die("out of memory");
  printf("%s\n", s);
  cJSON_free(s);
  cJSON_Delete(r);
  cJSON_Delete(server);
  return 0;
}

static int print_field(const char *path, const char *key) {
  cJSON *r = last_line(path);
  double v;
  if (!number(r, key, &v)) die("%s: no number %s", path, key);
  char s[64];
  py_number(v, s, sizeof s);
  printf("%s\n", s);
  cJSON_Delete(r);
  return 0;
}

// ------------------------------------------------------------------ main

static void set_root(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    snprintf(g_root, sizeof g_root, ".");
    return;
  }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash) *slash = '\0';
  snprintf(g_root, sizeof g_root, "%s/../..", exe);
}

int main(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "--merge") == 0) return merge(argv + 2);
  if (argc == 4 && strcmp(argv[1], "--field") == 0) return print_field(argv[2], argv[3]);
  a = (args_t){.command = "bench/quality/run.sh", .elapsed = "?", .has_config = "0",
               .sim_latency_model = "", .skipped_flags = "", .switchyard = "", .envoy = "", .load = "",
               .build_note = "", .switchyard_extra = "", .commit = ""};
  struct {
    const char *name;
    const char **dst;
  } opts[] = {
      {"--results", &a.results},
      {"--probes", &a.probes},
      {"--out", &a.out},
      {"--command", &a.command},
      {"--elapsed", &a.elapsed},
      {"--has-config", &a.has_config},
      {"--sim-latency-model", &a.sim_latency_model},
      {"--skipped-flags", &a.skipped_flags},
      {"--switchyard", &a.switchyard},
      {"--envoy", &a.envoy},
      {"--load", &a.load},
      {"--build-note", &a.build_note},
      {"--switchyard-extra", &a.switchyard_extra},
      {"--commit", &a.commit},
  };
  for (int i = 1; i < argc; i++) {
    size_t k, nopts = sizeof opts / sizeof opts[0];
    for (k = 0; k < nopts; k++) {
      size_t len = strlen(opts[k].name);
      if (strcmp(argv[i], opts[k].name) == 0) {
        if (i + 1 >= argc) die("%s needs a value", argv[i]);
        *opts[k].dst = argv[++i];
        break;
      }
      if (strncmp(argv[i], opts[k].name, len) == 0 && argv[i][len] == '=') {
        *opts[k].dst = argv[i] + len + 1;
        break;
      }
    }
    if (k == nopts) die("unknown argument %s (see the top of bench/quality/qreport.c)", argv[i]);
  }
  if (!a.results || !a.out) die("--results and --out are required");
  set_root();
  static char page[1 << 22];
  g_out = fmemopen(page, sizeof page, "w");
  if (!g_out) die("fmemopen: %s", strerror(errno));
  report();
  if (ferror(g_out) || ftell(g_out) >= (long)sizeof page - 1) die("the page is too long");
  fclose(g_out);
  FILE *f = fopen(a.out, "w");
  if (!f) die("cannot write %s: %s", a.out, strerror(errno));
  fputs(page, f);
  if (fclose(f) != 0) die("cannot write %s: %s", a.out, strerror(errno));
  for (int i = 0; i < g_rows.n; i++) cJSON_Delete(g_rows.rows[i]);
  for (int i = 0; i < g_probes.n; i++) cJSON_Delete(g_probes.rows[i]);
  return 0;
}
