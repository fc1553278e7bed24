/* Registry, families, children, lock-free updates and the text renderer.
 * See metrics.h for the contract. */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sy_metric_child {
  sy_metric_family_t *fam;
  char **values;            /* fam->nlabels strings, one allocation with the child */
  uint64_t hash;
  _Atomic uint64_t bits;    /* counter/gauge value, or histogram sum, as double bits */
  _Atomic uint64_t buckets[]; /* histogram: per-bucket (not cumulative) counts, +Inf last */
};

struct sy_metric_family {
  sy_metrics_registry_t *reg;
  sy_metric_type_t type;
  char *name;
  char *help;
  size_t nlabels;
  char *labels[SY_METRICS_MAX_LABELS];
  size_t nbuckets;          /* finite bounds; the +Inf bucket is extra */
  double *bounds;
  size_t max_children;

  pthread_mutex_t mu;       /* guards everything below */
  sy_metric_child_t **children; /* creation order, overflow child included */
  size_t nchildren, children_cap;
  size_t nregular;          /* children counted against max_children */
  sy_metric_child_t **table; /* open addressing, size power of two */
  size_t table_size;
  sy_metric_child_t *overflow;
  bool warned;
  _Atomic uint64_t overflows;
};

typedef struct entry {
  sy_metric_family_t *fam;  /* exactly one of fam / fn */
  sy_metrics_collect_fn fn;
  void *ctx;
} entry_t;

struct sy_metrics_registry {
  pthread_mutex_t mu;       /* guards entries */
  pthread_mutex_t render_mu;
  entry_t *entries;
  size_t nentries, entries_cap;
};

struct sy_metrics_writer {
  sy_metrics_registry_t *reg;
  sy_buf_t *out;
  int err;                  /* first error */
  char cur[256];            /* family of the previous sample ("" = none) */
  char **seen;              /* collector family names written in this render */
  size_t nseen, seen_cap;
};

/* ------------------------------------------------------------ doubles */

static inline double bits_to_double(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof(d));
  return d;
}
static inline uint64_t double_to_bits(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof(b));
  return b;
}

static void atomic_add_double(_Atomic uint64_t *p, double delta) {
  uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(p, &old, double_to_bits(bits_to_double(old) + delta),
                                                memory_order_relaxed, memory_order_relaxed)) {
  }
}

char *sy_metrics_format_double(double v, char out[32]) {
  if (isnan(v) || isinf(v) || v == 0) { /* client_golang writes -0 as "0" too */
    snprintf(out, 32, "%s", isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : "0");
    return out;
  }
  char e[32]; /* "-d.dddddddddddddddde+308" is 24 bytes */
  int prec;
  for (prec = 0; prec < 17; prec++) {
    snprintf(e, sizeof(e), "%.*e", prec, v);
    if (strtod(e, NULL) == v) break;
  }
  const char *ep = strchr(e, 'e');
  long exp = ep ? strtol(ep + 1, NULL, 10) : 0;
  /* Go's strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent
   * form when exp < -4 || exp >= 6 (eprec is 6 for shortest 'g'). */
  if (exp < -4 || exp >= 6) {
    snprintf(out, 32, "%s", e);
  } else {
    long decimals = prec - exp;
    if (decimals < 0) decimals = 0;
    snprintf(out, 32, "%.*f", (int)decimals, v);
  }
  return out;
}

/* ---------------------------------------------------------------- names */

static bool valid_name(const char *s, bool colon) {
  if (!s || !*s) return false;
  for (const char *p = s; *p; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
              (p != s && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

static bool valid_metric_name(const char *s) { return valid_name(s, true) && strlen(s) < 200; }
static bool valid_label_name(const char *s) {
  return valid_name(s, false) && strncmp(s, "__", 2) != 0 && strlen(s) < 200;
}

/* ------------------------------------------------------------- registry */

sy_metrics_registry_t *sy_metrics_registry_new(void) {
  sy_metrics_registry_t *reg = sy_calloc(1, sizeof(*reg));
  if (!reg) return NULL;
  pthread_mutex_init(&reg->mu, NULL);
  pthread_mutex_init(&reg->render_mu, NULL);
  return reg;
}

static void family_free(sy_metric_family_t *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nchildren; i++) sy_free(f->children[i]);
  sy_free(f->children);
  sy_free(f->table);
  for (size_t i = 0; i < f->nlabels; i++) sy_free(f->labels[i]);
  sy_free(f->bounds);
  sy_free(f->name);
  sy_free(f->help);
  pthread_mutex_destroy(&f->mu);
  sy_free(f);
}

void sy_metrics_registry_free(sy_metrics_registry_t *reg) {
  if (!reg) return;
  for (size_t i = 0; i < reg->nentries; i++) family_free(reg->entries[i].fam);
  sy_free(reg->entries);
  pthread_mutex_destroy(&reg->mu);
  pthread_mutex_destroy(&reg->render_mu);
  sy_free(reg);
}

static int entry_add(sy_metrics_registry_t *reg, entry_t e) {
  int rc = 0;
  pthread_mutex_lock(&reg->mu);
  if (reg->nentries == reg->entries_cap) {
    size_t cap = reg->entries_cap ? reg->entries_cap * 2 : 16;
    entry_t *n = sy_realloc(reg->entries, cap * sizeof(*n));
    if (!n) {
      rc = -ENOMEM;
      goto out;
    }
    reg->entries = n;
    reg->entries_cap = cap;
  }
  reg->entries[reg->nentries++] = e;
out:
  pthread_mutex_unlock(&reg->mu);
  return rc;
}

/* True when series name `a` is `b` or, if `b_hist`, one of b's
 * _bucket/_sum/_count series. */
static bool series_clash(const char *a, const char *b, bool b_hist) {
  size_t bl = strlen(b);
  if (strncmp(a, b, bl) != 0) return false;
  if (a[bl] == '\0') return true;
  return b_hist && (strcmp(a + bl, "_bucket") == 0 || strcmp(a + bl, "_sum") == 0 ||
                    strcmp(a + bl, "_count") == 0);
}

/* True when a family `name` (a histogram if `hist`) would share a series
 * name with a registered family. Caller holds reg->mu or is the start-up
 * thread. */
static bool name_taken(sy_metrics_registry_t *reg, const char *name, bool hist) {
  for (size_t i = 0; i < reg->nentries; i++) {
    const sy_metric_family_t *f = reg->entries[i].fam;
    if (!f) continue;
    if (series_clash(name, f->name, f->type == SY_METRIC_HISTOGRAM)) return true;
    if (hist && series_clash(f->name, name, true)) return true;
  }
  return false;
}

static sy_metric_child_t *child_new(sy_metric_family_t *f, const char *const *values, uint64_t hash);
static int table_insert(sy_metric_family_t *f, sy_metric_child_t *c);

static int family_new(sy_metrics_registry_t *reg, sy_metric_type_t type, const char *name,
                      const char *help, const char *const *label_names, size_t nlabels,
                      const double *buckets, size_t nbuckets, sy_metric_family_t **out) {
  sy_metric_family_t *f = NULL;
  int rc = SY_EINVAL;
  if (out) *out = NULL;
  if (!reg || !out || !valid_metric_name(name) || nlabels > SY_METRICS_MAX_LABELS ||
      (nlabels && !label_names))
    goto out;
  if (name_taken(reg, name, type == SY_METRIC_HISTOGRAM)) goto out;
  for (size_t i = 0; i < nlabels; i++) {
    if (!valid_label_name(label_names[i])) goto out;
    if (type == SY_METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0) goto out;
    for (size_t j = 0; j < i; j++)
      if (strcmp(label_names[i], label_names[j]) == 0) goto out;
  }
  if (type == SY_METRIC_HISTOGRAM) {
    if (!buckets) goto out;
    if (nbuckets > 0 && isinf(buckets[nbuckets - 1]) && buckets[nbuckets - 1] > 0) nbuckets--;
    if (nbuckets < 1 || nbuckets > SY_METRICS_MAX_BUCKETS) goto out;
    for (size_t i = 0; i < nbuckets; i++) {
      if (!isfinite(buckets[i])) goto out;
      if (i > 0 && !(buckets[i] > buckets[i - 1])) goto out;
    }
  }

  rc = -ENOMEM;
  f = sy_calloc(1, sizeof(*f));
  if (!f) goto out;
  pthread_mutex_init(&f->mu, NULL);
  f->reg = reg;
  f->type = type;
  f->max_children = SY_METRICS_DEFAULT_MAX_CHILDREN;
  f->name = sy_strdup(name);
  f->help = sy_strdup(help ? help : "");
  if (!f->name || !f->help) goto out;
  for (size_t i = 0; i < nlabels; i++) {
    if (!(f->labels[i] = sy_strdup(label_names[i]))) goto out;
    f->nlabels = i + 1;
  }
  if (type == SY_METRIC_HISTOGRAM) {
    f->bounds = sy_malloc(nbuckets * sizeof(double));
    if (!f->bounds) goto out;
    memcpy(f->bounds, buckets, nbuckets * sizeof(double));
    f->nbuckets = nbuckets;
  }
  if (nlabels == 0) {
    sy_metric_child_t *c = child_new(f, NULL, 0);
    if (!c || table_insert(f, c) != 0) {
      sy_free(c);
      goto out;
    }
    f->nregular = 1;
  }
  if ((rc = entry_add(reg, (entry_t){.fam = f})) != 0) goto out;
  *out = f;
  f = NULL;
  rc = 0;
out:
  family_free(f);
  return rc;
}

int sy_metrics_counter_new(sy_metrics_registry_t *reg, const char *name, const char *help,
                           const char *const *label_names, size_t nlabels,
                           sy_metric_family_t **out) {
  return family_new(reg, SY_METRIC_COUNTER, name, help, label_names, nlabels, NULL, 0, out);
}

int sy_metrics_gauge_new(sy_metrics_registry_t *reg, const char *name, const char *help,
                         const char *const *label_names, size_t nlabels,
                         sy_metric_family_t **out) {
  return family_new(reg, SY_METRIC_GAUGE, name, help, label_names, nlabels, NULL, 0, out);
}

int sy_metrics_histogram_new(sy_metrics_registry_t *reg, const char *name, const char *help,
                             const char *const *label_names, size_t nlabels,
                             const double *buckets, size_t nbuckets, sy_metric_family_t **out) {
  return family_new(reg, SY_METRIC_HISTOGRAM, name, help, label_names, nlabels, buckets, nbuckets,
                    out);
}

int sy_metrics_register_collector(sy_metrics_registry_t *reg, sy_metrics_collect_fn fn, void *ctx) {
  if (!reg || !fn) return SY_EINVAL;
  return entry_add(reg, (entry_t){.fn = fn, .ctx = ctx});
}

void sy_metrics_family_set_max_children(sy_metric_family_t *fam, size_t max_children) {
  if (!fam || max_children < 1) return;
  pthread_mutex_lock(&fam->mu);
  fam->max_children = max_children;
  pthread_mutex_unlock(&fam->mu);
}

size_t sy_metrics_family_children(sy_metric_family_t *fam) {
  if (!fam) return 0;
  pthread_mutex_lock(&fam->mu);
  size_t n = fam->nregular;
  pthread_mutex_unlock(&fam->mu);
  return n;
}

uint64_t sy_metrics_family_overflows(sy_metric_family_t *fam) {
  return fam ? atomic_load_explicit(&fam->overflows, memory_order_relaxed) : 0;
}

/* ------------------------------------------------------------- children */

/* Length of `s` capped at SY_METRICS_MAX_VALUE_LEN, not splitting a UTF-8
 * sequence. */
static size_t value_len(const char *s) {
  size_t n = strnlen(s, SY_METRICS_MAX_VALUE_LEN + 1);
  if (n <= SY_METRICS_MAX_VALUE_LEN) return n;
  n = SY_METRICS_MAX_VALUE_LEN;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  return n;
}

static uint64_t values_hash(size_t n, const char *const *values) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    const char *s = values && values[i] ? values[i] : "";
    size_t len = value_len(s);
    for (size_t k = 0; k < len; k++) {
      h ^= (unsigned char)s[k];
      h *= 1099511628211ULL;
    }
    h ^= 0xff; /* separator: never a byte of valid UTF-8 */
    h *= 1099511628211ULL;
  }
  return h;
}

static bool values_eq(const sy_metric_child_t *c, size_t n, const char *const *values) {
  for (size_t i = 0; i < n; i++) {
    const char *s = values && values[i] ? values[i] : "";
    size_t len = value_len(s);
    if (strlen(c->values[i]) != len || memcmp(c->values[i], s, len) != 0) return false;
  }
  return true;
}

static sy_metric_child_t *child_new(sy_metric_family_t *f, const char *const *values, uint64_t hash) {
  size_t nb = f->type == SY_METRIC_HISTOGRAM ? f->nbuckets + 1 : 0;
  size_t head = sizeof(sy_metric_child_t) + nb * sizeof(_Atomic uint64_t);
  size_t ptrs = f->nlabels * sizeof(char *);
  size_t strs = 0;
  for (size_t i = 0; i < f->nlabels; i++) strs += value_len(values && values[i] ? values[i] : "") + 1;
  sy_metric_child_t *c = sy_calloc(1, head + ptrs + strs);
  if (!c) return NULL;
  c->fam = f;
  c->hash = hash;
  c->values = (char **)(void *)((char *)c + head);
  char *p = (char *)c + head + ptrs;
  for (size_t i = 0; i < f->nlabels; i++) {
    const char *s = values && values[i] ? values[i] : "";
    size_t len = value_len(s);
    memcpy(p, s, len);
    p[len] = '\0';
    c->values[i] = p;
    p += len + 1;
  }
  atomic_init(&c->bits, double_to_bits(0.0));
  for (size_t i = 0; i < nb; i++) atomic_init(&c->buckets[i], 0);
  return c;
}

/* Adds `c` to the creation-order list and the hash table. f->mu held. */
static int table_insert(sy_metric_family_t *f, sy_metric_child_t *c) {
  if (f->nchildren == f->children_cap) {
    size_t cap = f->children_cap ? f->children_cap * 2 : 8;
    sy_metric_child_t **n = sy_realloc(f->children, cap * sizeof(*n));
    if (!n) return -ENOMEM;
    f->children = n;
    f->children_cap = cap;
  }
  if ((f->nchildren + 1) * 2 > f->table_size) {
    size_t size = f->table_size ? f->table_size * 2 : 16;
    sy_metric_child_t **t = sy_calloc(size, sizeof(*t));
    if (!t) return -ENOMEM;
    for (size_t i = 0; i < f->nchildren; i++) {
      size_t k = f->children[i]->hash & (size - 1);
      while (t[k]) k = (k + 1) & (size - 1);
      t[k] = f->children[i];
    }
    sy_free(f->table);
    f->table = t;
    f->table_size = size;
  }
  size_t k = c->hash & (f->table_size - 1);
  while (f->table[k]) k = (k + 1) & (f->table_size - 1);
  f->table[k] = c;
  f->children[f->nchildren++] = c;
  return 0;
}

static sy_metric_child_t *table_find(sy_metric_family_t *f, uint64_t hash, const char *const *values) {
  if (!f->table_size) return NULL;
  for (size_t k = hash & (f->table_size - 1); f->table[k]; k = (k + 1) & (f->table_size - 1)) {
    sy_metric_child_t *c = f->table[k];
    if (c->hash == hash && values_eq(c, f->nlabels, values)) return c;
  }
  return NULL;
}

static sy_metric_child_t *child_with(sy_metric_family_t *f, sy_metric_type_t type,
                                     const char *const *values) {
  if (!f || f->type != type) return NULL;
  uint64_t hash = f->nlabels ? values_hash(f->nlabels, values) : 0;
  sy_metric_child_t *c;
  bool warn = false;
  pthread_mutex_lock(&f->mu);
  c = table_find(f, hash, values);
  if (c) goto out;
  if (f->nregular >= f->max_children) {
    atomic_fetch_add_explicit(&f->overflows, 1, memory_order_relaxed);
    if (!f->overflow) {
      const char *ov[SY_METRICS_MAX_LABELS];
      for (size_t i = 0; i < f->nlabels; i++) ov[i] = SY_METRICS_OVERFLOW_VALUE;
      uint64_t oh = values_hash(f->nlabels, ov);
      f->overflow = table_find(f, oh, ov); /* someone used the literal value */
      if (!f->overflow && (f->overflow = child_new(f, ov, oh)) != NULL &&
          table_insert(f, f->overflow) != 0)
        SY_FREE(&f->overflow);
    }
    c = f->overflow;
    if (!f->warned) warn = f->warned = true;
    goto out;
  }
  c = child_new(f, values, hash);
  if (c && table_insert(f, c) != 0) SY_FREE(&c);
  if (c) f->nregular++;
out:
  pthread_mutex_unlock(&f->mu);
  if (warn)
    SY_LOG(SY_LOG_WARN, "metrics: too many label sets, using the overflow series", "metric",
           f->name, "value", SY_METRICS_OVERFLOW_VALUE, NULL);
  return c;
}

sy_metric_child_t *sy_counter_with(sy_metric_family_t *fam, const char *const *values) {
  return child_with(fam, SY_METRIC_COUNTER, values);
}
sy_metric_child_t *sy_gauge_with(sy_metric_family_t *fam, const char *const *values) {
  return child_with(fam, SY_METRIC_GAUGE, values);
}
sy_metric_child_t *sy_histogram_with(sy_metric_family_t *fam, const char *const *values) {
  return child_with(fam, SY_METRIC_HISTOGRAM, values);
}

/* -------------------------------------------------------------- updates */

void sy_counter_add(sy_metric_child_t *c, double delta) {
  if (!c || !(delta >= 0)) return; /* also drops NaN */
  atomic_add_double(&c->bits, delta);
}

void sy_gauge_set(sy_metric_child_t *c, double v) {
  if (c) atomic_store_explicit(&c->bits, double_to_bits(v), memory_order_relaxed);
}

void sy_gauge_add(sy_metric_child_t *c, double delta) {
  if (c) atomic_add_double(&c->bits, delta);
}

void sy_histogram_observe(sy_metric_child_t *c, double v) {
  if (!c) return;
  const sy_metric_family_t *f = c->fam;
  if (f->type != SY_METRIC_HISTOGRAM) return;
  /* first bound >= v; NaN and values above every bound go to +Inf */
  size_t lo = 0, hi = f->nbuckets;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v <= f->bounds[mid])
      hi = mid;
    else
      lo = mid + 1;
  }
  if (isnan(v)) lo = f->nbuckets;
  atomic_fetch_add_explicit(&c->buckets[lo], 1, memory_order_relaxed);
  atomic_add_double(&c->bits, v);
}

double sy_metric_child_value(const sy_metric_child_t *c) {
  return c ? bits_to_double(atomic_load_explicit(&c->bits, memory_order_relaxed)) : 0;
}

uint64_t sy_metric_child_count(const sy_metric_child_t *c) {
  if (!c || c->fam->type != SY_METRIC_HISTOGRAM) return 0;
  uint64_t n = 0;
  for (size_t i = 0; i <= c->fam->nbuckets; i++)
    n += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
  return n;
}

double sy_metric_child_sum(const sy_metric_child_t *c) { return sy_metric_child_value(c); }

/* ------------------------------------------------------------ rendering */

static int put_escaped(sy_buf_t *out, const char *s, bool quote) {
  int rc = 0;
  const char *run = s;
  for (const char *p = s;; p++) {
    const char *rep = NULL;
    if (*p == '\\')
      rep = "\\\\";
    else if (*p == '\n')
      rep = "\\n";
    else if (quote && *p == '"')
      rep = "\\\"";
    else if (*p != '\0')
      continue;
    if (p > run && (rc = sy_buf_append(out, run, (size_t)(p - run))) != 0) return rc;
    if (!rep) return 0;
    if ((rc = sy_buf_append_str(out, rep)) != 0) return rc;
    run = p + 1;
  }
}

static const char *type_name(sy_metric_type_t t) {
  return t == SY_METRIC_COUNTER ? "counter" : t == SY_METRIC_GAUGE ? "gauge" : "histogram";
}

static int put_header(sy_buf_t *out, const char *name, const char *help, sy_metric_type_t t) {
  int rc;
  if ((rc = sy_buf_printf(out, "# HELP %s ", name)) != 0) return rc;
  if ((rc = put_escaped(out, help, false)) != 0) return rc;
  return sy_buf_printf(out, "\n# TYPE %s %s\n", name, type_name(t));
}

/* name{l1="v1",...,extra_name="extra_value"} value\n */
static int put_sample(sy_buf_t *out, const char *name, const char *suffix, const char *const *names,
                      const char *const *values, size_t n, const char *extra_name,
                      const char *extra_value, const char *value) {
  int rc;
  if ((rc = sy_buf_printf(out, "%s%s", name, suffix)) != 0) return rc;
  if (n || extra_name) {
    if ((rc = sy_buf_append(out, "{", 1)) != 0) return rc;
    for (size_t i = 0; i < n; i++) {
      if ((rc = sy_buf_printf(out, "%s%s=\"", i ? "," : "", names[i])) != 0) return rc;
      if ((rc = put_escaped(out, values[i] ? values[i] : "", true)) != 0) return rc;
      if ((rc = sy_buf_append(out, "\"", 1)) != 0) return rc;
    }
    if (extra_name &&
        (rc = sy_buf_printf(out, "%s%s=\"%s\"", n ? "," : "", extra_name, extra_value)) != 0)
      return rc;
    if ((rc = sy_buf_append(out, "}", 1)) != 0) return rc;
  }
  return sy_buf_printf(out, " %s\n", value);
}

static size_t g_sort_nlabels; /* qsort has no context arg; render_mu held */

static int child_cmp(const void *a, const void *b) {
  const sy_metric_child_t *x = *(const sy_metric_child_t *const *)a;
  const sy_metric_child_t *y = *(const sy_metric_child_t *const *)b;
  for (size_t i = 0; i < g_sort_nlabels; i++) {
    int c = strcmp(x->values[i], y->values[i]);
    if (c) return c;
  }
  return 0;
}

static int render_family(sy_metric_family_t *f, sy_buf_t *out) {
  int rc = 0;
  sy_metric_child_t **kids = NULL;
  size_t n;
  pthread_mutex_lock(&f->mu);
  n = f->nchildren;
  if (n) {
    kids = sy_malloc(n * sizeof(*kids));
    if (kids) memcpy(kids, f->children, n * sizeof(*kids));
  }
  pthread_mutex_unlock(&f->mu);
  if (n == 0) return 0;
  if (!kids) return -ENOMEM;
  g_sort_nlabels = f->nlabels;
  qsort(kids, n, sizeof(*kids), child_cmp);

  const char *const *lnames = (const char *const *)f->labels;
  char num[32], le[32];
  if ((rc = put_header(out, f->name, f->help, f->type)) != 0) goto out;
  for (size_t i = 0; i < n; i++) {
    const sy_metric_child_t *c = kids[i];
    const char *const *vals = (const char *const *)c->values;
    if (f->type != SY_METRIC_HISTOGRAM) {
      sy_metrics_format_double(sy_metric_child_value(c), num);
      if ((rc = put_sample(out, f->name, "", lnames, vals, f->nlabels, NULL, NULL, num)) != 0)
        goto out;
      continue;
    }
    uint64_t cum = 0;
    for (size_t b = 0; b <= f->nbuckets; b++) {
      cum += atomic_load_explicit(&c->buckets[b], memory_order_relaxed);
      if (b < f->nbuckets)
        sy_metrics_format_double(f->bounds[b], le);
      else
        snprintf(le, sizeof(le), "+Inf");
      snprintf(num, sizeof(num), "%llu", (unsigned long long)cum);
      if ((rc = put_sample(out, f->name, "_bucket", lnames, vals, f->nlabels, "le", le, num)) != 0)
        goto out;
    }
    /* _count is the +Inf bucket, so the two always agree even while
     * observations race with the render; _sum may lag by one. */
    sy_metrics_format_double(sy_metric_child_value(c), num);
    if ((rc = put_sample(out, f->name, "_sum", lnames, vals, f->nlabels, NULL, NULL, num)) != 0)
      goto out;
    snprintf(num, sizeof(num), "%llu", (unsigned long long)cum);
    if ((rc = put_sample(out, f->name, "_count", lnames, vals, f->nlabels, NULL, NULL, num)) != 0)
      goto out;
  }
out:
  sy_free(kids);
  return rc;
}

static int writer_fail(sy_metrics_writer_t *w, int rc) {
  if (!w->err) w->err = rc;
  return rc;
}

/* True if `name` is already rendered (registered family or an earlier
 * collector family). */
static bool writer_name_used(sy_metrics_writer_t *w, const char *name) {
  pthread_mutex_lock(&w->reg->mu);
  bool taken = name_taken(w->reg, name, false);
  pthread_mutex_unlock(&w->reg->mu);
  if (taken) return true;
  for (size_t i = 0; i < w->nseen; i++)
    if (strcmp(w->seen[i], name) == 0) return true;
  return false;
}

static int write_sample(sy_metrics_writer_t *w, sy_metric_type_t type, const char *name,
                        const char *help, const char *const *label_names,
                        const char *const *label_values, size_t nlabels, double value) {
  int rc;
  if (!w) return SY_EINVAL;
  if (!valid_metric_name(name) || nlabels > SY_METRICS_MAX_LABELS ||
      (nlabels && (!label_names || !label_values)))
    return writer_fail(w, SY_EINVAL);
  for (size_t i = 0; i < nlabels; i++)
    if (!valid_label_name(label_names[i])) return writer_fail(w, SY_EINVAL);
  if (strcmp(w->cur, name) != 0) {
    if (writer_name_used(w, name)) return writer_fail(w, SY_EINVAL);
    if (w->nseen == w->seen_cap) {
      size_t cap = w->seen_cap ? w->seen_cap * 2 : 16;
      char **n = sy_realloc(w->seen, cap * sizeof(*n));
      if (!n) return writer_fail(w, -ENOMEM);
      w->seen = n;
      w->seen_cap = cap;
    }
    if (!(w->seen[w->nseen] = sy_strdup(name))) return writer_fail(w, -ENOMEM);
    w->nseen++;
    snprintf(w->cur, sizeof(w->cur), "%s", name);
    if ((rc = put_header(w->out, name, help ? help : "", type)) != 0) return writer_fail(w, rc);
  }
  char num[32];
  sy_metrics_format_double(value, num);
  rc = put_sample(w->out, name, "", label_names, label_values, nlabels, NULL, NULL, num);
  return rc ? writer_fail(w, rc) : 0;
}

int sy_metrics_write_gauge(sy_metrics_writer_t *w, const char *name, const char *help,
                           const char *const *label_names, const char *const *label_values,
                           size_t nlabels, double value) {
  return write_sample(w, SY_METRIC_GAUGE, name, help, label_names, label_values, nlabels, value);
}

int sy_metrics_write_counter(sy_metrics_writer_t *w, const char *name, const char *help,
                             const char *const *label_names, const char *const *label_values,
                             size_t nlabels, double value) {
  return write_sample(w, SY_METRIC_COUNTER, name, help, label_names, label_values, nlabels, value);
}

int sy_metrics_render(sy_metrics_registry_t *reg, sy_buf_t *out) {
  if (!reg || !out) return SY_EINVAL;
  int rc = 0, cerr = 0;
  entry_t *entries = NULL;
  size_t n;
  sy_metrics_writer_t w = {.reg = reg, .out = out};

  pthread_mutex_lock(&reg->render_mu);
  pthread_mutex_lock(&reg->mu);
  n = reg->nentries;
  if (n && (entries = sy_malloc(n * sizeof(*entries))) != NULL)
    memcpy(entries, reg->entries, n * sizeof(*entries));
  pthread_mutex_unlock(&reg->mu);
  if (n && !entries) {
    rc = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    if (entries[i].fam) {
      if ((rc = render_family(entries[i].fam, out)) != 0) goto out;
      continue;
    }
    w.cur[0] = '\0';
    entries[i].fn(&w, entries[i].ctx);
    if (w.err == -ENOMEM || w.err == SY_ETOOBIG) {
      rc = w.err;
      goto out;
    }
    if (w.err && !cerr) cerr = w.err;
  }
out:
  pthread_mutex_unlock(&reg->render_mu);
  for (size_t i = 0; i < w.nseen; i++) sy_free(w.seen[i]);
  sy_free(w.seen);
  sy_free(entries);
  return rc ? rc : cerr;
}

/* -------------------------------------------------------------- buckets */

int sy_metrics_buckets_exponential(double start, double factor, size_t n, double *out) {
  if (!out || n < 1 || !(start > 0) || !(factor > 1) || !isfinite(start) || !isfinite(factor))
    return SY_EINVAL;
  for (size_t i = 0; i < n; i++) {
    out[i] = start;
    start *= factor;
  }
  return 0;
}

int sy_metrics_buckets_linear(double start, double width, size_t n, double *out) {
  if (!out || n < 1 || !(width > 0) || !isfinite(start) || !isfinite(width)) return SY_EINVAL;
  for (size_t i = 0; i < n; i++) {
    out[i] = start;
    start += width;
  }
  return 0;
}

#define BUCKETS(id, ...)                                                \
  static const double id##_v[] = {__VA_ARGS__};                         \
  const sy_metrics_buckets_t sy_metrics_buckets_##id = {id##_v, SY_ARRAY_LEN(id##_v)}

BUCKETS(request_duration, 0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5,
        6, 8, 10, 15, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700,
        3600);
BUCKETS(request_sizes, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072,
        262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216, 33554432, 67108864,
        134217728, 268435456, 536870912, 1073741824);
BUCKETS(response_sizes, 1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778,
        65536);
BUCKETS(tokens, 1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536,
        131072, 262144, 524288, 1048576);
BUCKETS(output_tokens, 1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192);
BUCKETS(ntpot, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0);
BUCKETS(scheduler_e2e, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1);
BUCKETS(plugin_duration, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1);
BUCKETS(prefix_hit_ratio, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0);
BUCKETS(prefix_hit_bytes, 0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
        65536);
BUCKETS(flow_control_queue, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        2.5, 5.0, 10.0, 30.0, 60.0);
