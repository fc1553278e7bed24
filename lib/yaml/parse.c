/* YAML stream -> node tree, driven by libyaml's event API. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "yaml.h"
#include "yaml_int.h"

/* One open collection. Mapping children are stored as alternating
 * key, value in kids[] until the mapping ends. kids[] buffers are kept
 * across uses of the same depth and freed at the end of the parse. */
typedef struct frame {
  sy_yaml_node_t *node;
  sy_yaml_node_t **kids;
  size_t n;
  size_t cap;
  size_t weight;   /* 1 + expanded weight of the children so far */
  unsigned height; /* max height of the children so far */
  const char *anchor;
} frame_t;

typedef struct anchor_ent {
  const char *name; /* NULL = empty slot */
  sy_yaml_node_t *node;
  size_t weight;
  unsigned height;
} anchor_ent_t;

typedef struct pstate {
  sy_yaml_stream_t *s;
  size_t max_depth;
  size_t max_nodes;
  frame_t *stack;
  size_t depth;
  size_t docs_cap;
  sy_yaml_node_t *root;
  yaml_mark_t doc_mark;
  anchor_ent_t *anchors; /* open addressing, power-of-two size */
  size_t anchors_cap;
  size_t anchors_used;
  size_t total; /* nodes so far, aliases weighed expanded */
  sy_yaml_error_t *err;
  const char *name;
} pstate_t;

static const char TAG_NULL[] = "tag:yaml.org,2002:null";

__attribute__((format(printf, 5, 6))) static int fail(pstate_t *p, int line, int column, int rc,
                                                     const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sy_yaml__error_vset(p->err, p->name, line, column, fmt, ap);
  va_end(ap);
  return rc;
}

void sy_yaml__error_vset(sy_yaml_error_t *err, const char *file, int line, int column,
                         const char *fmt, va_list ap) {
  if (!err) return;
  snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
  err->line = line;
  err->column = column;
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

void sy_yaml__error_set(sy_yaml_error_t *err, const char *file, int line, int column,
                        const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sy_yaml__error_vset(err, file, line, column, fmt, ap);
  va_end(ap);
}

const char *sy_yaml_error_str(const sy_yaml_error_t *err, char *buf, size_t n) {
  if (!buf || n == 0) return buf;
  if (!err) {
    buf[0] = '\0';
  } else if (err->line > 0) {
    snprintf(buf, n, "%s:%d:%d: %s", err->file, err->line, err->column, err->msg);
  } else {
    snprintf(buf, n, "%s: %s", err->file, err->msg);
  }
  return buf;
}

/* ---------------------------------------------------------------- anchors */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

static anchor_ent_t *anchor_find(pstate_t *p, const char *name) {
  if (!p->anchors_cap) return NULL;
  size_t mask = p->anchors_cap - 1;
  for (size_t i = hash_str(name) & mask;; i = (i + 1) & mask) {
    anchor_ent_t *e = &p->anchors[i];
    if (!e->name) return NULL;
    if (strcmp(e->name, name) == 0) return e;
  }
}

static int anchor_put(pstate_t *p, const char *name, sy_yaml_node_t *node, size_t weight,
                      unsigned height) {
  anchor_ent_t *e = anchor_find(p, name);
  if (!e) {
    if ((p->anchors_used + 1) * 2 > p->anchors_cap) {
      size_t ncap = p->anchors_cap ? p->anchors_cap * 2 : 16;
      anchor_ent_t *na = sy_calloc(ncap, sizeof(*na));
      if (!na) return -ENOMEM;
      for (size_t i = 0; i < p->anchors_cap; i++) {
        anchor_ent_t *o = &p->anchors[i];
        if (!o->name) continue;
        size_t j = hash_str(o->name) & (ncap - 1);
        while (na[j].name) j = (j + 1) & (ncap - 1);
        na[j] = *o;
      }
      sy_free(p->anchors);
      p->anchors = na;
      p->anchors_cap = ncap;
    }
    size_t mask = p->anchors_cap - 1;
    size_t i = hash_str(name) & mask;
    while (p->anchors[i].name) i = (i + 1) & mask;
    e = &p->anchors[i];
    e->name = name;
    p->anchors_used++;
  }
  /* A later anchor of the same name replaces the earlier one (YAML spec). */
  e->node = node;
  e->weight = weight;
  e->height = height;
  return 0;
}

static void anchors_reset(pstate_t *p) {
  if (p->anchors) memset(p->anchors, 0, p->anchors_cap * sizeof(*p->anchors));
  p->anchors_used = 0;
}

/* ------------------------------------------------------------------ nodes */

static sy_yaml_node_t *node_new(pstate_t *p, sy_yaml_kind_t kind, const yaml_mark_t *m,
                                const yaml_char_t *tag) {
  sy_yaml_node_t *n = sy_arena_calloc(&p->s->arena_, sizeof(*n));
  if (!n) return NULL;
  n->kind = kind;
  n->line = (int)m->line + 1;
  n->column = (int)m->column + 1;
  if (tag) {
    n->tag = sy_arena_strndup(&p->s->arena_, (const char *)tag, strlen((const char *)tag));
    if (!n->tag) return NULL;
  }
  return n;
}

static int count_nodes(pstate_t *p, size_t weight, const yaml_mark_t *m) {
  if (weight > p->max_nodes || p->total > p->max_nodes - weight) {
    return fail(p, (int)m->line + 1, (int)m->column + 1, SY_ETOOBIG,
                "too many nodes: the stream exceeds the limit of %zu (aliases count as copies)",
                p->max_nodes);
  }
  p->total += weight;
  return 0;
}

/* Attaches a finished node to the open collection (or makes it the root). */
static int attach(pstate_t *p, sy_yaml_node_t *node, size_t weight, unsigned height) {
  if (p->depth == 0) {
    p->root = node;
    return 0;
  }
  frame_t *f = &p->stack[p->depth - 1];
  if (f->node->kind == SY_YAML_MAPPING && f->n % 2 == 0) {
    if (node->kind != SY_YAML_SCALAR && node->kind != SY_YAML_NULL) {
      return fail(p, node->line, node->column, SY_EPARSE, "mapping keys must be scalars, not a %s",
                  node->kind == SY_YAML_MAPPING ? "mapping" : "sequence");
    }
    if (node->plain && !node->tag && node->len == 2 && memcmp(node->text, "<<", 2) == 0) {
      return fail(p, node->line, node->column, SY_EPARSE,
                  "merge keys (<<) are not supported; write the fields out");
    }
  }
  if (f->n == f->cap) {
    size_t ncap = f->cap ? f->cap * 2 : 8;
    sy_yaml_node_t **nk = sy_realloc(f->kids, ncap * sizeof(*nk));
    if (!nk) return -ENOMEM;
    f->kids = nk;
    f->cap = ncap;
  }
  f->kids[f->n++] = node;
  f->weight += weight;
  if (height > f->height) f->height = height;
  return 0;
}

int sy_yaml__keycmp(const char *a, size_t alen, const char *b, size_t blen) {
  int c = memcmp(a, b, SY_MIN(alen, blen));
  if (c) return c;
  return alen < blen ? -1 : alen > blen;
}

/* Finishes the mapping in frame f: splits keys and values, builds the sorted
 * index and rejects duplicate keys. */
static int finish_mapping(pstate_t *p, frame_t *f) {
  sy_yaml_node_t *m = f->node;
  size_t n = f->n / 2;
  if (n == 0) return 0;
  sy_arena_t *a = &p->s->arena_;
  m->keys = sy_arena_alloc(a, n * sizeof(*m->keys));
  m->items = sy_arena_alloc(a, n * sizeof(*m->items));
  m->sorted_ = sy_arena_alloc(a, n * sizeof(*m->sorted_));
  if (!m->keys || !m->items || !m->sorted_) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    m->keys[i] = f->kids[2 * i];
    m->items[i] = f->kids[2 * i + 1];
  }
  m->n = n;
  const sy_yaml_node_t *dup = NULL, *first = NULL;
  int rc = sy_yaml__index_mapping(m, &dup, &first);
  if (rc == SY_EPARSE) {
    rc = fail(p, dup->line, dup->column, SY_EPARSE,
              "duplicate mapping key \"%.*s\" (first at line %d column %d)",
              (int)SY_MIN(dup->len, 200), dup->text, first->line, first->column);
  }
  return rc;
}

static int finish_sequence(pstate_t *p, frame_t *f) {
  sy_yaml_node_t *s = f->node;
  if (f->n == 0) return 0;
  s->items = sy_arena_memdup(&p->s->arena_, f->kids, f->n * sizeof(*s->items));
  if (!s->items) return -ENOMEM;
  s->n = f->n;
  return 0;
}

static const char *anchor_copy(pstate_t *p, const yaml_char_t *anchor) {
  return sy_arena_strndup(&p->s->arena_, (const char *)anchor, strlen((const char *)anchor));
}

static int on_collection_start(pstate_t *p, yaml_event_t *ev, sy_yaml_kind_t kind) {
  const yaml_mark_t *m = &ev->start_mark;
  if (p->depth >= p->max_depth) {
    return fail(p, (int)m->line + 1, (int)m->column + 1, SY_ETOOBIG,
                "nesting is deeper than the limit of %zu levels", p->max_depth);
  }
  int rc = count_nodes(p, 1, m);
  if (rc) return rc;
  const yaml_char_t *tag =
      kind == SY_YAML_MAPPING ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
  const yaml_char_t *anchor =
      kind == SY_YAML_MAPPING ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
  sy_yaml_node_t *node = node_new(p, kind, m, tag);
  if (!node) return -ENOMEM;
  frame_t *f = &p->stack[p->depth];
  f->node = node;
  f->n = 0;
  f->weight = 1;
  f->height = 0;
  f->anchor = NULL;
  if (anchor && !(f->anchor = anchor_copy(p, anchor))) return -ENOMEM;
  p->depth++;
  return 0;
}

static int on_collection_end(pstate_t *p) {
  frame_t *f = &p->stack[p->depth - 1];
  int rc = f->node->kind == SY_YAML_MAPPING ? finish_mapping(p, f) : finish_sequence(p, f);
  if (rc) return rc;
  size_t weight = f->weight;
  unsigned height = f->height + 1;
  sy_yaml_node_t *node = f->node;
  if (f->anchor && (rc = anchor_put(p, f->anchor, node, weight, height))) return rc;
  p->depth--;
  return attach(p, node, weight, height);
}

static int on_scalar(pstate_t *p, yaml_event_t *ev) {
  const yaml_mark_t *m = &ev->start_mark;
  int rc = count_nodes(p, 1, m);
  if (rc) return rc;
  const char *text = (const char *)ev->data.scalar.value;
  size_t len = ev->data.scalar.length;
  const yaml_char_t *tag = ev->data.scalar.tag;
  bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  bool is_null = tag ? strcmp((const char *)tag, TAG_NULL) == 0
                     : plain && sy_yaml__text_is_null(text, len);
  sy_yaml_node_t *node = node_new(p, is_null ? SY_YAML_NULL : SY_YAML_SCALAR, m, tag);
  if (!node) return -ENOMEM;
  node->plain = plain;
  node->len = len;
  if (!(node->text = sy_arena_strndup(&p->s->arena_, text ? text : "", len))) return -ENOMEM;
  if (ev->data.scalar.anchor) {
    const char *a = anchor_copy(p, ev->data.scalar.anchor);
    if (!a) return -ENOMEM;
    if ((rc = anchor_put(p, a, node, 1, 0))) return rc;
  }
  return attach(p, node, 1, 0);
}

static int on_alias(pstate_t *p, yaml_event_t *ev) {
  const yaml_mark_t *m = &ev->start_mark;
  const char *name = (const char *)ev->data.alias.anchor;
  anchor_ent_t *e = anchor_find(p, name);
  if (!e) {
    return fail(p, (int)m->line + 1, (int)m->column + 1, SY_EPARSE,
                "alias *%.200s refers to an unknown anchor", name);
  }
  if (p->depth + e->height > p->max_depth) {
    return fail(p, (int)m->line + 1, (int)m->column + 1, SY_ETOOBIG,
                "alias *%.200s nests deeper than the limit of %zu levels", name, p->max_depth);
  }
  int rc = count_nodes(p, e->weight, m);
  if (rc) return rc;
  return attach(p, e->node, e->weight, e->height);
}

static int push_doc(pstate_t *p) {
  if (p->s->n_docs == p->docs_cap) {
    size_t ncap = p->docs_cap ? p->docs_cap * 2 : 4;
    sy_yaml_doc_t *nd = sy_realloc(p->s->docs, ncap * sizeof(*nd));
    if (!nd) return -ENOMEM;
    p->s->docs = nd;
    p->docs_cap = ncap;
  }
  sy_yaml_doc_t *d = &p->s->docs[p->s->n_docs++];
  d->root = (p->root && p->root->kind != SY_YAML_NULL) ? p->root : NULL;
  d->line = (int)p->doc_mark.line + 1;
  d->column = (int)p->doc_mark.column + 1;
  p->root = NULL;
  anchors_reset(p);
  return 0;
}

/* Line/column of a byte offset, for reader errors which carry no mark. */
static void offset_position(const char *data, size_t len, size_t off, int *line, int *col) {
  int l = 1, c = 1;
  for (size_t i = 0; i < off && i < len; i++) {
    if (data[i] == '\n') {
      l++;
      c = 1;
    } else if (((unsigned char)data[i] & 0xC0) != 0x80) {
      c++;
    }
  }
  *line = l;
  *col = c;
}

static int libyaml_error(pstate_t *p, const yaml_parser_t *yp, const char *data, size_t len) {
  const char *problem = yp->problem ? yp->problem : "syntax error";
  switch (yp->error) {
    case YAML_MEMORY_ERROR:
      return fail(p, 0, 0, -ENOMEM, "out of memory");
    case YAML_READER_ERROR: {
      int line, col;
      offset_position(data, len, yp->problem_offset, &line, &col);
      if (yp->problem_value != -1) {
        return fail(p, line, col, SY_EPARSE, "%s: #%X", problem, (unsigned)yp->problem_value);
      }
      return fail(p, line, col, SY_EPARSE, "%s", problem);
    }
    default: {
      int line = (int)yp->problem_mark.line + 1, col = (int)yp->problem_mark.column + 1;
      if (yp->context) {
        return fail(p, line, col, SY_EPARSE, "%s (%s, line %d column %d)", problem, yp->context,
                    (int)yp->context_mark.line + 1, (int)yp->context_mark.column + 1);
      }
      return fail(p, line, col, SY_EPARSE, "%s", problem);
    }
  }
}

int sy_yaml_parse(const char *name, const void *data, size_t len, const sy_yaml_limits_t *limits,
                  sy_yaml_stream_t **out, sy_yaml_error_t *err) {
  size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : SY_YAML_DEFAULT_MAX_BYTES;
  pstate_t p = {0};
  p.max_depth = limits && limits->max_depth ? limits->max_depth : SY_YAML_DEFAULT_MAX_DEPTH;
  p.max_nodes = limits && limits->max_nodes ? limits->max_nodes : SY_YAML_DEFAULT_MAX_NODES;
  p.err = err;
  p.name = name ? name : "<input>";
  *out = NULL;
  if (len > max_bytes) {
    return fail(&p, 0, 0, SY_ETOOBIG, "input is %zu bytes, over the limit of %zu", len, max_bytes);
  }
  if (!data) data = "";

  yaml_parser_t yp;
  yaml_event_t ev;
  bool have_event = false, parser_ok = false;
  int rc = -ENOMEM;
  p.s = sy_calloc(1, sizeof(*p.s));
  if (!p.s) goto out;
  sy_arena_init(&p.s->arena_, 64 * 1024, 0);
  if (!(p.s->name = sy_strdup(p.name))) goto out;
  if (!(p.stack = sy_calloc(p.max_depth, sizeof(*p.stack)))) goto out;
  if (!yaml_parser_initialize(&yp)) goto out;
  parser_ok = true;
  yaml_parser_set_input_string(&yp, data, len);

  for (;;) {
    if (!yaml_parser_parse(&yp, &ev)) {
      rc = libyaml_error(&p, &yp, data, len);
      goto out;
    }
    have_event = true;
    switch (ev.type) {
      case YAML_DOCUMENT_START_EVENT:
        p.doc_mark = ev.start_mark;
        rc = 0;
        break;
      case YAML_DOCUMENT_END_EVENT: rc = push_doc(&p); break;
      case YAML_MAPPING_START_EVENT: rc = on_collection_start(&p, &ev, SY_YAML_MAPPING); break;
      case YAML_SEQUENCE_START_EVENT: rc = on_collection_start(&p, &ev, SY_YAML_SEQUENCE); break;
      case YAML_MAPPING_END_EVENT:
      case YAML_SEQUENCE_END_EVENT: rc = on_collection_end(&p); break;
      case YAML_SCALAR_EVENT: rc = on_scalar(&p, &ev); break;
      case YAML_ALIAS_EVENT: rc = on_alias(&p, &ev); break;
      default: rc = 0; break;
    }
    bool done = ev.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
    have_event = false;
    if (rc) goto out;
    if (done) break;
  }
  *out = p.s;
  p.s = NULL;
  rc = 0;
out:
  if (have_event) yaml_event_delete(&ev);
  if (parser_ok) yaml_parser_delete(&yp);
  if (p.stack) {
    for (size_t i = 0; i < p.max_depth; i++) sy_free(p.stack[i].kids);
    sy_free(p.stack);
  }
  sy_free(p.anchors);
  if (rc == -ENOMEM) fail(&p, 0, 0, rc, "out of memory");
  sy_yaml_stream_free(p.s);
  return rc;
}

void sy_yaml_stream_free(sy_yaml_stream_t *s) {
  if (!s) return;
  sy_arena_cleanup(&s->arena_);
  sy_free(s->docs);
  sy_free(s->name);
  sy_free(s);
}

/* Reads at most max bytes into a NUL-terminated buffer; SY_ETOOBIG when the
 * file holds more. */
static int read_bounded(int fd, size_t max, char **out, size_t *out_len) {
  struct stat st;
  size_t cap = 4096, len = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    if ((uint64_t)st.st_size > max) return SY_ETOOBIG;
    cap = (size_t)st.st_size + 2; /* room for the NUL and to see EOF */
  }
  char *buf = sy_malloc(cap);
  if (!buf) return -ENOMEM;
  for (;;) {
    if (cap - len < 2) {
      if (len > max) break;
      size_t ncap = cap * 2 < max + 2 ? cap * 2 : max + 2;
      if (ncap <= cap) break; /* len > max already */
      char *nb = sy_realloc(buf, ncap);
      if (!nb) {
        sy_free(buf);
        return -ENOMEM;
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = -errno;
      sy_free(buf);
      return e;
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  if (len > max) {
    sy_free(buf);
    return SY_ETOOBIG;
  }
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  return 0;
}

int sy_yaml_read_file(const char *path, size_t max_bytes, char **out, size_t *len,
                      sy_yaml_error_t *err) {
  if (!max_bytes) max_bytes = SY_YAML_DEFAULT_MAX_BYTES;
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = -errno;
    sy_yaml__error_set(err, path, 0, 0, "cannot open: %s", strerror(-e));
    return e;
  }
  int rc = read_bounded(fd, max_bytes, out, len);
  close(fd);
  if (rc == SY_ETOOBIG) {
    sy_yaml__error_set(err, path, 0, 0, "file is larger than the limit of %zu bytes", max_bytes);
  } else if (rc) {
    sy_yaml__error_set(err, path, 0, 0, "cannot read: %s", sy_strerror(rc));
  }
  return rc;
}

int sy_yaml_parse_file(const char *path, const sy_yaml_limits_t *limits, sy_yaml_stream_t **out,
                       sy_yaml_error_t *err) {
  char *buf = NULL;
  size_t len = 0;
  *out = NULL;
  int rc = sy_yaml_read_file(path, limits ? limits->max_bytes : 0, &buf, &len, err);
  if (rc) return rc;
  rc = sy_yaml_parse(path, buf, len, limits, out, err);
  sy_free(buf);
  return rc;
}
