/* Prometheus text exposition format 0.0.4: a bounded one-pass parser.
 *
 * Speed comes from not parsing what nobody asked for: each line is found with
 * memchr, and a sample line is parsed in full only when its name equals a
 * wanted name (checked as "the byte at the wanted length is '{' or a blank",
 * then memcmp). Everything is bounded by the caller's limits; no allocation.
 */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "scrape.h"

/* ------------------------------------------------------------ char classes */

enum {
  C_NAME_START = 1,  /* metric name first char: [a-zA-Z_:] */
  C_NAME = 2,        /* metric name: [a-zA-Z0-9_:] */
  C_LNAME_START = 4, /* label name first char: [a-zA-Z_] */
  C_LNAME = 8,       /* label name: [a-zA-Z0-9_] */
  C_BLANK = 16,      /* ' ' '\t' */
};

#define ALPHA (C_NAME_START | C_NAME | C_LNAME_START | C_LNAME)
static const uint8_t cls[256] = {
    ['a' ... 'z'] = ALPHA,
    ['A' ... 'Z'] = ALPHA,
    ['_'] = ALPHA,
    ['0' ... '9'] = C_NAME | C_LNAME,
    [':'] = C_NAME_START | C_NAME,
    [' '] = C_BLANK,
    ['\t'] = C_BLANK,
};
#undef ALPHA

#define IS(c, k) (cls[(unsigned char)(c)] & (k))

static const char *skip_blank(const char *p, const char *end) {
  while (p < end && IS(*p, C_BLANK)) p++;
  return p;
}

/* ------------------------------------------------------------------ numbers */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* strtod in the C locale whatever setlocale() did; s is NUL-terminated and
 * already validated, so it must be consumed whole. */
static bool strtod_c(const char *s, size_t n, double *out) {
  pthread_once(&c_locale_once, c_locale_init);
  char *end = NULL;
  double v = c_locale ? strtod_l(s, &end, c_locale) : strtod(s, &end);
  if (end != s + n) return false;
  *out = v;
  return true;
}

static bool ieq(const char *s, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n != m) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != lit[i]) return false;
  }
  return true;
}

bool sy_prom_parse_double(const char *s, size_t n, double *out) {
  static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  if (n == 0 || n > 128) return false;
  const char *p = s, *end = s + n;
  bool neg = false;
  if (*p == '+' || *p == '-') {
    neg = *p == '-';
    p++;
  }
  if (p == end) return false;
  if (!(*p >= '0' && *p <= '9') && *p != '.') {
    size_t r = (size_t)(end - p);
    if (ieq(p, r, "inf") || ieq(p, r, "infinity")) {
      *out = neg ? -INFINITY : INFINITY;
      return true;
    }
    if (ieq(p, r, "nan")) {
      *out = NAN;
      return true;
    }
    return false;
  }
  uint64_t mant = 0;
  int sig = 0, exp10 = 0;
  bool digits = false, lost = false;
  for (; p < end && *p >= '0' && *p <= '9'; p++) {
    digits = true;
    if (mant == 0 && *p == '0') continue;
    if (sig < 19) {
      mant = mant * 10 + (uint64_t)(*p - '0');
      sig++;
    } else {
      exp10++;
      lost = true;
    }
  }
  if (p < end && *p == '.') {
    for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
      digits = true;
      if (mant == 0 && *p == '0') {
        exp10--;
        continue;
      }
      if (sig < 19) {
        mant = mant * 10 + (uint64_t)(*p - '0');
        sig++;
        exp10--;
      } else {
        lost = true;
      }
    }
  }
  if (!digits) return false;
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    bool eneg = false;
    if (p < end && (*p == '+' || *p == '-')) {
      eneg = *p == '-';
      p++;
    }
    if (p == end || !(*p >= '0' && *p <= '9')) return false;
    int e = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
      if (e < 100000) e = e * 10 + (*p - '0');
    }
    exp10 += eneg ? -e : e;
  }
  if (p != end) return false;
  double v;
  if (mant == 0) {
    v = 0.0;
  } else if (!lost && sig <= 15 && exp10 >= -22 && exp10 <= 22) {
    /* Clinger's fast path: mant and 10^|e| are exact doubles, so one
     * correctly rounded operation gives the correctly rounded result. */
    v = (double)mant;
    v = exp10 < 0 ? v / p10[-exp10] : v * p10[exp10];
  } else {
    char buf[136];
    memcpy(buf, s, n);
    buf[n] = '\0';
    return strtod_c(buf, n, out);
  }
  *out = neg ? -v : v;
  return true;
}

/* Go's strconv.ParseInt(s, 10, 64). */
static bool parse_i64(const char *p, const char *end, int64_t *out) {
  bool neg = false;
  if (p < end && (*p == '+' || *p == '-')) {
    neg = *p == '-';
    p++;
  }
  if (p == end) return false;
  uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9') return false;
    uint64_t d = (uint64_t)(*p - '0');
    if (v > (lim - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = neg ? (v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v) : (int64_t)v;
  return true;
}

/* ------------------------------------------------------------------- labels */

size_t sy_prom_label_unescape(const sy_prom_label_t *l, char *out, size_t cap) {
  size_t n = 0;
  const char *p = l->value, *end = l->value + l->value_len;
  while (p < end) {
    char c = *p++;
    if (c == '\\' && p < end) {
      c = *p++;
      if (c == 'n') c = '\n';
    }
    if (n + 1 < cap) out[n] = c;
    n++;
  }
  if (cap) out[n < cap ? n : cap - 1] = '\0';
  return n;
}

bool sy_prom_label_value_eq(const sy_prom_label_t *l, const char *v, size_t n) {
  if (!l->escaped) return l->value_len == n && memcmp(l->value, v, n) == 0;
  const char *p = l->value, *end = l->value + l->value_len;
  size_t i = 0;
  while (p < end) {
    char c = *p++;
    if (c == '\\' && p < end) {
      c = *p++;
      if (c == 'n') c = '\n';
    }
    if (i >= n || v[i] != c) return false;
    i++;
  }
  return i == n;
}

static bool want_matches(const sy_prom_want_t *w, const sy_prom_sample_t *s) {
  for (size_t m = 0; m < w->n_matchers; m++) {
    const sy_prom_matcher_t *mt = &w->matchers[m];
    bool ok = false;
    for (size_t i = 0; i < s->n_labels; i++) {
      const sy_prom_label_t *l = &s->labels[i];
      if (l->name_len == mt->name_len && memcmp(l->name, mt->name, mt->name_len) == 0) {
        ok = sy_prom_label_value_eq(l, mt->value, mt->value_len);
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

/* ------------------------------------------------------------------- lines */

/* Parses one sample line [p, end) (no '\n'; leading blanks skipped by the
 * caller, first byte is a name start). Returns NULL or a static reason. */
static const char *parse_sample(const char *p, const char *end, uint32_t max_labels, sy_prom_label_t *labels,
                                sy_prom_sample_t *s) {
  const char *q = p;
  while (q < end && IS(*q, C_NAME)) q++;
  s->name = p;
  s->name_len = (size_t)(q - p);
  s->n_labels = 0;
  s->labels = labels;
  s->has_timestamp = false;
  s->timestamp_ms = 0;
  q = skip_blank(q, end);
  if (q < end && *q == '{') {
    q++;
    for (;;) {
      q = skip_blank(q, end);
      if (q == end) return "unterminated label set";
      if (*q == '}') {
        q++;
        break;
      }
      if (!IS(*q, C_LNAME_START)) return "invalid label name";
      if (s->n_labels >= max_labels) return "too many labels";
      sy_prom_label_t *l = &labels[s->n_labels];
      l->name = q;
      while (q < end && IS(*q, C_LNAME)) q++;
      l->name_len = (size_t)(q - l->name);
      q = skip_blank(q, end);
      if (q == end || *q != '=') return "expected '=' after label name";
      q = skip_blank(q + 1, end);
      if (q == end || *q != '"') return "expected '\"' to open label value";
      q++;
      l->value = q;
      l->escaped = false;
      for (;;) {
        const char *stop = q;
        while (stop < end && *stop != '"' && *stop != '\\') stop++;
        if (stop == end) return "unterminated label value";
        if (*stop == '"') {
          q = stop;
          break;
        }
        /* backslash */
        if (stop + 1 == end) return "unterminated label value";
        char e = stop[1];
        if (e != '\\' && e != '"' && e != 'n') return "invalid escape in label value";
        l->escaped = true;
        q = stop + 2;
      }
      l->value_len = (size_t)(q - l->value);
      q++; /* closing quote */
      s->n_labels++;
      q = skip_blank(q, end);
      if (q == end) return "unterminated label set";
      if (*q == ',') {
        q++;
        continue;
      }
      if (*q == '}') {
        q++;
        break;
      }
      return "expected ',' or '}' after label value";
    }
    q = skip_blank(q, end);
  } else if (q == p + s->name_len) {
    return "expected blank after metric name";
  }
  if (q == end) return "missing value";
  const char *v = q;
  while (q < end && !IS(*q, C_BLANK)) q++;
  if (!sy_prom_parse_double(v, (size_t)(q - v), &s->value)) return "invalid value";
  q = skip_blank(q, end);
  if (q < end) {
    const char *t = q;
    while (q < end && !IS(*q, C_BLANK)) q++;
    if (!parse_i64(t, q, &s->timestamp_ms)) return "invalid timestamp";
    s->has_timestamp = true;
    q = skip_blank(q, end);
    if (q < end) return "unexpected text after timestamp";
  }
  return NULL;
}

/* Validates a '#' line in strict mode: HELP and TYPE need a valid metric name
 * (TYPE a known type; HELP only the escapes \\ and \n); other comments are
 * free text. */
static const char *check_comment(const char *p, const char *end) {
  p = skip_blank(p + 1, end);
  const char *w = p;
  while (p < end && !IS(*p, C_BLANK)) p++;
  size_t wl = (size_t)(p - w);
  bool help = wl == 4 && memcmp(w, "HELP", 4) == 0;
  bool type = wl == 4 && memcmp(w, "TYPE", 4) == 0;
  if (!help && !type) return NULL;
  p = skip_blank(p, end);
  if (p == end || !IS(*p, C_NAME_START)) return "invalid metric name in HELP/TYPE";
  while (p < end && IS(*p, C_NAME)) p++;
  if (p < end && !IS(*p, C_BLANK)) return "invalid metric name in HELP/TYPE";
  p = skip_blank(p, end);
  if (help) {
    for (; p < end; p++) {
      if (*p == '\\') {
        if (p + 1 == end || (p[1] != '\\' && p[1] != 'n')) return "invalid escape in HELP";
        p++;
      }
    }
    return NULL;
  }
  const char *t = p;
  while (p < end && !IS(*p, C_BLANK)) p++;
  size_t tl = (size_t)(p - t);
  static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
  bool known = false;
  for (size_t i = 0; i < SY_ARRAY_LEN(types); i++) {
    if (tl == strlen(types[i]) && memcmp(t, types[i], tl) == 0) known = true;
  }
  if (!known) return "unknown TYPE";
  if (skip_blank(p, end) != end) return "unexpected text after TYPE";
  return NULL;
}

static void garbage(sy_prom_stats_t *st, uint32_t line_no, const char *why) {
  st->garbage++;
  if (!st->first_garbage_reason) {
    st->first_garbage_reason = why;
    st->first_garbage_line = line_no;
  }
}

/* What the line loop needs; shared by the one-shot and streaming fronts. */
typedef struct pstate {
  const sy_prom_want_t *wants;
  size_t n_wants;
  sy_prom_sample_fn fn;
  void *ctx;
  size_t max_line;
  uint32_t max_labels;
  bool strict;
  sy_prom_stats_t *st;
  uint32_t *line_no;
} pstate_t;

/* Parses the lines of [p, end). Every line but possibly the last ends with
 * '\n'; an unterminated last line is garbage (a truncated page). Returns 0
 * or the callback's non-zero return. */
static int parse_lines(const pstate_t *ps, const char *p, const char *end) {
  sy_prom_stats_t *st = ps->st;
  sy_prom_label_t labels[SY_PROM_MAX_LABELS_CAP];
  sy_prom_sample_t s;
  while (p < end) {
    uint32_t line_no = ++*ps->line_no;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    const char *next = nl ? nl + 1 : end;
    if (le > p && le[-1] == '\r') le--;
    const char *q = skip_blank(p, le);
    if (q == le) { /* blank line */
      p = next;
      continue;
    }
    st->lines++;
    if ((size_t)(le - p) > ps->max_line) {
      st->too_long++;
      garbage(st, line_no, "line too long");
      p = next;
      continue;
    }
    if (!nl) {
      garbage(st, line_no, "unterminated last line (truncated page?)");
      break;
    }
    if (*q == '#') {
      const char *why = ps->strict ? check_comment(q, le) : NULL;
      if (why) garbage(st, line_no, why);
      else st->comments++;
      p = next;
      continue;
    }
    if (!IS(*q, C_NAME_START)) {
      garbage(st, line_no, "invalid metric name");
      p = next;
      continue;
    }
    /* wanted? "the byte at the wanted length ends a name" first, then memcmp */
    size_t first = SIZE_MAX;
    size_t avail = (size_t)(le - q);
    for (size_t i = 0; i < ps->n_wants; i++) {
      size_t L = ps->wants[i].name_len;
      if (avail > L && (q[L] == '{' || IS(q[L], C_BLANK)) && memcmp(q, ps->wants[i].name, L) == 0) {
        first = i;
        break;
      }
    }
    if (first == SIZE_MAX && ps->n_wants && !ps->strict) {
      st->skipped++;
      p = next;
      continue;
    }
    const char *why = parse_sample(q, le, ps->max_labels, labels, &s);
    if (why) {
      garbage(st, line_no, why);
      p = next;
      continue;
    }
    st->samples++;
    s.line_no = line_no;
    if (ps->n_wants == 0) {
      int rc = ps->fn(ps->ctx, SIZE_MAX, &s);
      if (rc) return rc;
    } else if (first != SIZE_MAX) {
      for (size_t i = first; i < ps->n_wants; i++) {
        const sy_prom_want_t *w = &ps->wants[i];
        if (w->name_len != s.name_len || memcmp(w->name, s.name, s.name_len) != 0) continue;
        if (!want_matches(w, &s)) continue;
        int rc = ps->fn(ps->ctx, i, &s);
        if (rc) return rc;
      }
    }
    p = next;
  }
  return 0;
}

static void resolve_limits(const sy_prom_limits_t *lim, sy_prom_limits_t *out) {
  out->max_page_bytes = lim && lim->max_page_bytes ? lim->max_page_bytes : SY_PROM_DEFAULT_MAX_PAGE;
  out->max_line_bytes = lim && lim->max_line_bytes ? lim->max_line_bytes : SY_PROM_DEFAULT_MAX_LINE;
  out->max_labels = lim && lim->max_labels ? lim->max_labels : SY_PROM_DEFAULT_MAX_LABELS;
  if (out->max_labels > SY_PROM_MAX_LABELS_CAP) out->max_labels = SY_PROM_MAX_LABELS_CAP;
  out->strict = lim && lim->strict;
}

static int final_rc(const sy_prom_stats_t *st) {
  return (st->garbage && !st->samples && !st->comments && !st->skipped) ? SY_EPARSE : 0;
}

int sy_prom_parse(const char *page, size_t len, const sy_prom_limits_t *lim, const sy_prom_want_t *wants,
                  size_t n_wants, sy_prom_sample_fn fn, void *ctx, sy_prom_stats_t *stats) {
  sy_prom_stats_t local;
  sy_prom_stats_t *st = stats ? stats : &local;
  memset(st, 0, sizeof(*st));
  if ((!page && len) || (n_wants && !wants) || !fn) return SY_EINVAL;
  sy_prom_limits_t l;
  resolve_limits(lim, &l);
  if (len > l.max_page_bytes) return SY_ETOOBIG;
  uint32_t line_no = 0;
  pstate_t ps = {wants, n_wants, fn, ctx, l.max_line_bytes, l.max_labels, l.strict, st, &line_no};
  int rc = parse_lines(&ps, page, page + len);
  return rc ? rc : final_rc(st);
}

/* ------------------------------------------------------------------ stream */

static pstate_t stream_state(sy_prom_stream_t *s) {
  return (pstate_t){s->wants,           s->n_wants,          s->fn,          s->ctx, s->lim.max_line_bytes,
                    s->lim.max_labels, s->lim.strict, &s->stats, &s->line_no};
}

/* Tracks an over-long partial line whose bytes are dropped: is it blank
 * (only ' ' and '\t', plus possibly one final '\r')? */
static void overflow_scan(sy_prom_stream_t *s, const char *p, const char *end) {
  for (; p < end; p++) {
    if (*p != ' ' && *p != '\t') s->ov_nonblank++;
    s->ov_last_cr = *p == '\r';
  }
}

/* The over-long line ended: count it as the one-shot parser would. */
static void overflow_done(sy_prom_stream_t *s) {
  uint32_t line_no = ++s->line_no;
  if (s->ov_nonblank > (s->ov_last_cr ? 1u : 0u)) {
    s->stats.lines++;
    s->stats.too_long++;
    garbage(&s->stats, line_no, "line too long");
  }
  s->overflow = false;
  s->ov_nonblank = 0;
  s->ov_last_cr = false;
}

/* Keeps [p, end) (a line start without its '\n') for the next feed; a line
 * that can no longer be of legal length is tracked, not stored. */
static int carry_add(sy_prom_stream_t *s, const char *p, const char *end) {
  size_t n = (size_t)(end - p);
  if (s->overflow) {
    overflow_scan(s, p, end);
    return 0;
  }
  /* legal: max_line bytes plus one '\r' */
  if (s->carry.len + n > s->lim.max_line_bytes + 1) {
    s->overflow = true;
    overflow_scan(s, s->carry.data ? s->carry.data : "", (s->carry.data ? s->carry.data : "") + s->carry.len);
    overflow_scan(s, p, end);
    sy_buf_reset(&s->carry);
    return 0;
  }
  return sy_buf_append(&s->carry, p, n);
}

void sy_prom_stream_init(sy_prom_stream_t *s, const sy_prom_limits_t *lim, const sy_prom_want_t *wants,
                         size_t n_wants, sy_prom_sample_fn fn, void *ctx) {
  memset(s, 0, sizeof(*s));
  resolve_limits(lim, &s->lim);
  s->wants = wants;
  s->n_wants = n_wants;
  s->fn = fn;
  s->ctx = ctx;
  sy_buf_init(&s->carry, s->lim.max_line_bytes + 2);
  if ((n_wants && !wants) || !fn) s->rc = SY_EINVAL;
}

void sy_prom_stream_reset(sy_prom_stream_t *s) {
  sy_buf_t carry = s->carry;
  sy_prom_limits_t lim = s->lim;
  const sy_prom_want_t *wants = s->wants;
  size_t n_wants = s->n_wants;
  sy_prom_sample_fn fn = s->fn;
  void *ctx = s->ctx;
  memset(s, 0, sizeof(*s));
  s->lim = lim;
  s->wants = wants;
  s->n_wants = n_wants;
  s->fn = fn;
  s->ctx = ctx;
  s->carry = carry;
  sy_buf_reset(&s->carry);
}

int sy_prom_stream_feed(sy_prom_stream_t *s, const char *data, size_t len) {
  if (s->rc) return s->rc;
  if (!data && len) return s->rc = SY_EINVAL;
  if (len > s->lim.max_page_bytes - s->total) return s->rc = SY_ETOOBIG;
  s->total += len;
  pstate_t ps = stream_state(s);
  const char *p = data, *end = data + len;
  if (s->carry.len || s->overflow) { /* finish the partial line first */
    const char *nl = memchr(p, '\n', len);
    if (!nl) return s->rc = carry_add(s, p, end);
    int rc = carry_add(s, p, nl);
    if (rc) return s->rc = rc;
    if (s->overflow) {
      overflow_done(s);
    } else {
      rc = sy_buf_append(&s->carry, "\n", 1);
      if (!rc) rc = parse_lines(&ps, s->carry.data, s->carry.data + s->carry.len);
      sy_buf_reset(&s->carry);
      if (rc) return s->rc = rc;
    }
    p = nl + 1;
  }
  if (p == end) return 0;
  const char *last = memrchr(p, '\n', (size_t)(end - p));
  if (last) {
    int rc = parse_lines(&ps, p, last + 1);
    if (rc) return s->rc = rc;
    p = last + 1;
  }
  if (p < end) {
    int rc = carry_add(s, p, end);
    if (rc) return s->rc = rc;
  }
  return 0;
}

int sy_prom_stream_end(sy_prom_stream_t *s, sy_prom_stats_t *stats) {
  if (!s->rc) {
    if (s->overflow) {
      overflow_done(s);
    } else if (s->carry.len) {
      pstate_t ps = stream_state(s);
      s->rc = parse_lines(&ps, s->carry.data, s->carry.data + s->carry.len);
      sy_buf_reset(&s->carry);
    }
  }
  if (stats) *stats = s->stats;
  return s->rc ? s->rc : final_rc(&s->stats);
}

void sy_prom_stream_cleanup(sy_prom_stream_t *s) { sy_buf_cleanup(&s->carry); }
