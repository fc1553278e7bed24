/* Unit tests for lib/yaml: tree shape, positions, scalars, limits, errors. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "test_support.h"
#include "yaml.h"

static sy_yaml_stream_t *parse_ok(const char *text) {
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t err;
  int rc = sy_yaml_parse("t.yaml", text, strlen(text), NULL, &s, &err);
  ck_assert_msg(rc == 0, "parse failed: %d %d:%d %s", rc, err.line, err.column, err.msg);
  ck_assert_ptr_nonnull(s);
  return s;
}

static int parse_err(const char *text, const sy_yaml_limits_t *lim, sy_yaml_error_t *err) {
  sy_yaml_stream_t *s = (sy_yaml_stream_t *)1;
  memset(err, 0, sizeof(*err));
  int rc = sy_yaml_parse("t.yaml", text, strlen(text), lim, &s, err);
  ck_assert_int_ne(rc, 0);
  ck_assert_ptr_null(s);
  ck_assert_str_eq(err->file, "t.yaml");
  return rc;
}

static const sy_yaml_node_t *root(const sy_yaml_stream_t *s) {
  ck_assert_uint_ge(s->n_docs, 1);
  return s->docs[0].root;
}

/* ------------------------------------------------------------ tree shape */

START_TEST(test_positions) {
  sy_yaml_stream_t *s = parse_ok("a: 1\n"
                                 "b:\n"
                                 "  c: [x, 'y']\n"
                                 "  d:\n"
                                 "    - k: v\n");
  const sy_yaml_node_t *r = root(s);
  ck_assert_int_eq(r->kind, SY_YAML_MAPPING);
  ck_assert_int_eq(r->line, 1);
  ck_assert_int_eq(r->column, 1);
  ck_assert_uint_eq(r->n, 2);
  ck_assert_int_eq(r->keys[0]->line, 1);
  const sy_yaml_node_t *a = sy_yaml_get(r, "a");
  ck_assert_int_eq(a->line, 1);
  ck_assert_int_eq(a->column, 4);
  const sy_yaml_node_t *b = sy_yaml_get(r, "b");
  ck_assert_int_eq(b->kind, SY_YAML_MAPPING);
  ck_assert_int_eq(b->line, 3);
  ck_assert_int_eq(b->column, 3);
  const sy_yaml_node_t *c = sy_yaml_get(b, "c");
  ck_assert_int_eq(c->kind, SY_YAML_SEQUENCE);
  ck_assert_int_eq(c->line, 3);
  ck_assert_int_eq(c->column, 6);
  ck_assert_uint_eq(c->n, 2);
  ck_assert_int_eq(c->items[1]->column, 10);
  ck_assert(!c->items[1]->plain);
  ck_assert_str_eq(c->items[1]->text, "y");
  const sy_yaml_node_t *v = sy_yaml_path(r, "b.d[0].k");
  ck_assert_ptr_nonnull(v);
  ck_assert_int_eq(v->line, 5);
  ck_assert_int_eq(v->column, 10);
  ck_assert(sy_yaml_text_eq(v, "v"));
  /* keys keep document order */
  ck_assert(sy_yaml_text_eq(b->keys[0], "c"));
  ck_assert(sy_yaml_text_eq(b->keys[1], "d"));
  sy_yaml_stream_free(s);
}
END_TEST

START_TEST(test_multi_doc) {
  sy_yaml_stream_t *s = parse_ok("# leading comment\n"
                                 "a: 1\n"
                                 "---\n"
                                 "b: 2\n"
                                 "---\n"
                                 "# empty\n"
                                 "--- [1, 2]\n"
                                 "...\n");
  ck_assert_uint_eq(s->n_docs, 4);
  ck_assert(sy_yaml_get(s->docs[0].root, "a"));
  ck_assert_int_eq(s->docs[0].line, 2);
  ck_assert(sy_yaml_get(s->docs[1].root, "b"));
  ck_assert_int_eq(s->docs[1].line, 3);
  ck_assert_int_eq(s->docs[1].root->line, 4);
  ck_assert_ptr_null(s->docs[2].root);
  ck_assert_int_eq(s->docs[3].root->kind, SY_YAML_SEQUENCE);
  ck_assert_int_eq(s->docs[3].root->line, 7);
  ck_assert_int_eq(s->docs[3].root->column, 5);
  sy_yaml_stream_free(s);

  s = parse_ok("");
  ck_assert_uint_eq(s->n_docs, 0);
  sy_yaml_stream_free(s);
  s = parse_ok("# only a comment\n");
  ck_assert_uint_eq(s->n_docs, 0);
  sy_yaml_stream_free(s);
}
END_TEST

START_TEST(test_json) {
  sy_yaml_stream_t *s = parse_ok("{\"a\":1,\"b\":[true,null,\"x\",-2.5e3],\"c\":{}}");
  const sy_yaml_node_t *r = root(s);
  int64_t i;
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, "a"), &i), 0);
  ck_assert_int_eq(i, 1);
  bool b;
  ck_assert_int_eq(sy_yaml_as_bool(sy_yaml_path(r, "b[0]"), &b), 0);
  ck_assert(b);
  ck_assert(sy_yaml_is_null(sy_yaml_path(r, "b[1]")));
  ck_assert(sy_yaml_is_string(sy_yaml_path(r, "b[2]")));
  double d;
  ck_assert_int_eq(sy_yaml_as_double(sy_yaml_path(r, "b[3]"), &d), 0);
  ck_assert(d == -2500.0);
  ck_assert_int_eq(sy_yaml_get(r, "c")->kind, SY_YAML_MAPPING);
  ck_assert_uint_eq(sy_yaml_get(r, "c")->n, 0);
  sy_yaml_stream_free(s);
}
END_TEST

START_TEST(test_scalars) {
  sy_yaml_stream_t *s = parse_ok("i: 42\n"
                                 "neg: -7\n"
                                 "hex: 0x1F\n"
                                 "oct: 0o17\n"
                                 "quoted: '42'\n"
                                 "t: true\n"
                                 "T: True\n"
                                 "f: FALSE\n"
                                 "yes: yes\n"
                                 "tilde: ~\n"
                                 "nul: null\n"
                                 "empty:\n"
                                 "qnull: 'null'\n"
                                 "fl: 1.5\n"
                                 "ninf: -.inf\n"
                                 "big: 99999999999999999999\n"
                                 "min: -9223372036854775808\n"
                                 "tagged: !!str 12\n"
                                 "tint: !!int \"12\"\n"
                                 "ver: 1.2.3\n"
                                 "lit: |\n"
                                 "  line1\n"
                                 "  line2\n"
                                 "nulchar: \"a\\0b\"\n");
  const sy_yaml_node_t *r = root(s);
  int64_t i = 0;
  bool b = false;
  double d = 0;
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, "i"), &i), 0);
  ck_assert_int_eq(i, 42);
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, "neg"), &i), 0);
  ck_assert_int_eq(i, -7);
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, "hex"), &i), 0);
  ck_assert_int_eq(i, 31);
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, "oct"), &i), 0);
  ck_assert_int_eq(i, 15);
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, "quoted"), &i), SY_EPARSE);
  ck_assert_int_eq(sy_yaml_type(sy_yaml_get(r, "quoted")), SY_YAML_TYPE_STR);
  ck_assert_int_eq(sy_yaml_as_bool(sy_yaml_get(r, "t"), &b), 0);
  ck_assert(b);
  ck_assert_int_eq(sy_yaml_as_bool(sy_yaml_get(r, "T"), &b), 0);
  ck_assert(b);
  ck_assert_int_eq(sy_yaml_as_bool(sy_yaml_get(r, "f"), &b), 0);
  ck_assert(!b);
  /* YAML 1.2: "yes" is a string, not a boolean */
  ck_assert_int_eq(sy_yaml_as_bool(sy_yaml_get(r, "yes"), &b), SY_EPARSE);
  ck_assert(sy_yaml_is_string(sy_yaml_get(r, "yes")));
  ck_assert(sy_yaml_is_null(sy_yaml_get(r, "tilde")));
  ck_assert(sy_yaml_is_null(sy_yaml_get(r, "nul")));
  ck_assert_ptr_nonnull(sy_yaml_get(r, "empty"));
  ck_assert_int_eq(sy_yaml_get(r, "empty")->kind, SY_YAML_NULL);
  ck_assert(sy_yaml_is_null(sy_yaml_get(r, "missing")));
  ck_assert(!sy_yaml_is_null(sy_yaml_get(r, "qnull")));
  ck_assert(sy_yaml_is_string(sy_yaml_get(r, "qnull")));
  ck_assert_int_eq(sy_yaml_type(sy_yaml_get(r, "fl")), SY_YAML_TYPE_FLOAT);
  ck_assert_int_eq(sy_yaml_as_double(sy_yaml_get(r, "fl"), &d), 0);
  ck_assert(d == 1.5);
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, "fl"), &i), SY_EPARSE);
  ck_assert_int_eq(sy_yaml_as_double(sy_yaml_get(r, "ninf"), &d), 0);
  ck_assert(d < -1e308);
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, "big"), &i), SY_ETOOBIG);
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, "min"), &i), 0);
  ck_assert(i == INT64_MIN);
  ck_assert(sy_yaml_is_string(sy_yaml_get(r, "tagged")));
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, "tint"), &i), 0);
  ck_assert_int_eq(i, 12);
  ck_assert(sy_yaml_is_string(sy_yaml_get(r, "ver")));
  ck_assert_str_eq(sy_yaml_get(r, "lit")->text, "line1\nline2\n");
  const sy_yaml_node_t *nc = sy_yaml_get(r, "nulchar");
  ck_assert_uint_eq(nc->len, 3);
  ck_assert(!sy_yaml_text_eq(nc, "a"));
  /* type errors */
  ck_assert_int_eq(sy_yaml_as_int(r, &i), SY_EPARSE);
  ck_assert_int_eq(sy_yaml_as_int(NULL, &i), SY_EPARSE);
  ck_assert_str_eq(sy_yaml_type_name(sy_yaml_type(r)), "mapping");
  sy_yaml_stream_free(s);
}
END_TEST

START_TEST(test_path) {
  sy_yaml_stream_t *s = parse_ok("status:\n"
                                 "  conditions:\n"
                                 "    - {type: A}\n"
                                 "    - {type: Ready}\n"
                                 "m:\n"
                                 "  - [a, [b, c]]\n"
                                 "dotted.key: 1\n");
  const sy_yaml_node_t *r = root(s);
  ck_assert(sy_yaml_text_eq(sy_yaml_path(r, "status.conditions[1].type"), "Ready"));
  ck_assert(sy_yaml_text_eq(sy_yaml_path(r, "m[0][1][1]"), "c"));
  ck_assert_ptr_null(sy_yaml_path(r, "status.conditions[2]"));
  ck_assert_ptr_null(sy_yaml_path(r, "status.conditions.type"));
  ck_assert_ptr_null(sy_yaml_path(r, "status..conditions"));
  ck_assert_ptr_null(sy_yaml_path(r, "status."));
  ck_assert_ptr_null(sy_yaml_path(r, "status.conditions[x]"));
  ck_assert_ptr_null(sy_yaml_path(r, "status.conditions[1"));
  ck_assert_ptr_null(sy_yaml_path(r, ""));
  ck_assert_ptr_null(sy_yaml_path(NULL, "a"));
  ck_assert_ptr_null(sy_yaml_path(r, "dotted.key"));
  ck_assert_ptr_nonnull(sy_yaml_get(r, "dotted.key"));
  ck_assert_ptr_eq(sy_yaml_path(r, "status"), sy_yaml_get(r, "status"));
  sy_yaml_stream_free(s);
}
END_TEST

START_TEST(test_many_keys) {
  sy_buf_t b;
  sy_buf_init(&b, 1 << 20);
  for (int i = 999; i >= 0; i--) ck_assert_int_eq(sy_buf_printf(&b, "k%d: %d\n", i, i), 0);
  sy_yaml_stream_t *s = parse_ok(b.data);
  const sy_yaml_node_t *r = root(s);
  ck_assert_uint_eq(r->n, 1000);
  for (int i = 0; i < 1000; i++) {
    char key[16];
    snprintf(key, sizeof(key), "k%d", i);
    int64_t v = -1;
    ck_assert_int_eq(sy_yaml_as_int(sy_yaml_get(r, key), &v), 0);
    ck_assert_int_eq(v, i);
  }
  ck_assert_ptr_null(sy_yaml_get(r, "k1000"));
  ck_assert_ptr_null(sy_yaml_get(r, "k"));
  sy_yaml_stream_free(s);
  sy_buf_cleanup(&b);
}
END_TEST

/* ----------------------------------------------------------------- errors */

START_TEST(test_syntax_error) {
  sy_yaml_error_t err;
  char buf[1200];
  int rc = parse_err("a: 1\n"
                     "b: [1, 2\n"
                     "c: 3\n",
                     NULL, &err);
  ck_assert_int_eq(rc, SY_EPARSE);
  ck_assert_int_eq(err.line, 3);
  ck_assert_msg(strstr(err.msg, "flow sequence") != NULL, "%s", err.msg);
  ck_assert_msg(strstr(err.msg, "line 2 column 4") != NULL, "%s", err.msg);

  rc = parse_err("a: 1\n"
                 " b: 2\n",
                 NULL, &err);
  ck_assert_int_eq(rc, SY_EPARSE);
  ck_assert_int_eq(err.line, 2);
  ck_assert_int_eq(err.column, 3);
  ck_assert_str_eq(sy_yaml_error_str(&err, buf, sizeof(buf)),
                   "t.yaml:2:3: mapping values are not allowed in this context");

  rc = parse_err("a: \"unterminated\n", NULL, &err);
  ck_assert_int_eq(rc, SY_EPARSE);
  ck_assert_int_eq(err.line, 2);

  /* invalid UTF-8 on line 2: a reader error, located from the byte offset */
  rc = parse_err("a: 1\nb: \xff\xfe\n", NULL, &err);
  ck_assert_int_eq(rc, SY_EPARSE);
  ck_assert_int_eq(err.line, 2);
  ck_assert_int_eq(err.column, 4);
  ck_assert_msg(strstr(err.msg, "UTF-8") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(test_duplicate_key) {
  sy_yaml_error_t err;
  int rc = parse_err("a: 1\n"
                     "m:\n"
                     "  x: 1\n"
                     "  y: 2\n"
                     "  x: 3\n",
                     NULL, &err);
  ck_assert_int_eq(rc, SY_EPARSE);
  ck_assert_int_eq(err.line, 5);
  ck_assert_int_eq(err.column, 3);
  ck_assert_str_eq(err.msg, "duplicate mapping key \"x\" (first at line 3 column 3)");
  /* same text, different quoting: still the same key */
  rc = parse_err("{a: 1, 'a': 2}", NULL, &err);
  ck_assert_int_eq(err.column, 8);
}
END_TEST

START_TEST(test_bad_keys) {
  sy_yaml_error_t err;
  int rc = parse_err("? [a, b]\n: 1\n", NULL, &err);
  ck_assert_int_eq(rc, SY_EPARSE);
  ck_assert_int_eq(err.line, 1);
  ck_assert_int_eq(err.column, 3);
  ck_assert_str_eq(err.msg, "mapping keys must be scalars, not a sequence");
  rc = parse_err("base: &b {x: 1}\n"
                 "m:\n"
                 "  <<: *b\n",
                 NULL, &err);
  ck_assert_int_eq(err.line, 3);
  ck_assert_msg(strstr(err.msg, "merge keys") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(test_depth_limit) {
  char doc[300];
  /* 64 nested flow sequences: accepted */
  memset(doc, 0, sizeof(doc));
  memset(doc, '[', 64);
  memset(doc + 64, ']', 64);
  sy_yaml_stream_t *s = parse_ok(doc);
  sy_yaml_stream_free(s);
  /* 65: rejected at the 65th '[' (column 65) */
  memset(doc, 0, sizeof(doc));
  memset(doc, '[', 65);
  memset(doc + 65, ']', 65);
  sy_yaml_error_t err;
  ck_assert_int_eq(parse_err(doc, NULL, &err), SY_ETOOBIG);
  ck_assert_int_eq(err.line, 1);
  ck_assert_int_eq(err.column, 65);
  ck_assert_msg(strstr(err.msg, "64 levels") != NULL, "%s", err.msg);
  /* block style, custom limit */
  sy_yaml_limits_t lim = {.max_depth = 2};
  ck_assert_int_eq(parse_err("a:\n  b:\n    c: 1\n", &lim, &err), SY_ETOOBIG);
  ck_assert_int_eq(err.line, 3);
  ck_assert_int_eq(err.column, 5);
  /* an unclosed stream of '[' stops at the limit, not at the end */
  char deep[100001];
  memset(deep, '[', sizeof(deep) - 1);
  deep[sizeof(deep) - 1] = '\0';
  ck_assert_int_eq(parse_err(deep, NULL, &err), SY_ETOOBIG);
  ck_assert_int_eq(err.column, 65);
}
END_TEST

START_TEST(test_aliases) {
  sy_yaml_stream_t *s = parse_ok("base: &b {x: 1, y: [1, 2]}\n"
                                 "use: *b\n"
                                 "s: &s hello\n"
                                 "t: *s\n"
                                 "list: [*b, *s]\n");
  const sy_yaml_node_t *r = root(s);
  ck_assert_ptr_eq(sy_yaml_get(r, "use"), sy_yaml_get(r, "base"));
  ck_assert(sy_yaml_text_eq(sy_yaml_get(r, "t"), "hello"));
  ck_assert_ptr_eq(sy_yaml_path(r, "list[0]"), sy_yaml_get(r, "base"));
  int64_t v;
  ck_assert_int_eq(sy_yaml_as_int(sy_yaml_path(r, "use.y[1]"), &v), 0);
  ck_assert_int_eq(v, 2);
  sy_yaml_stream_free(s);

  sy_yaml_error_t err;
  ck_assert_int_eq(parse_err("a: 1\nb: *nope\n", NULL, &err), SY_EPARSE);
  ck_assert_int_eq(err.line, 2);
  ck_assert_int_eq(err.column, 4);
  ck_assert_str_eq(err.msg, "alias *nope refers to an unknown anchor");
  /* anchors do not cross documents */
  ck_assert_int_eq(parse_err("a: &x 1\n---\nb: *x\n", NULL, &err), SY_EPARSE);
  ck_assert_int_eq(err.line, 3);
  /* an alias inside its own anchor's node is unknown (no cycles) */
  ck_assert_int_eq(parse_err("a: &x [1, *x]\n", NULL, &err), SY_EPARSE);
}
END_TEST

START_TEST(test_billion_laughs) {
  const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                     "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                     "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
  sy_yaml_error_t err;
  uint64_t t0 = sy_now_ns();
  ck_assert_int_eq(parse_err(bomb, NULL, &err), SY_ETOOBIG);
  ck_assert_msg(sy_now_ns() - t0 < 1000000000ull, "took too long");
  ck_assert_int_eq(err.line, 6); /* f's expansion crosses 1,000,000 */
  ck_assert_msg(strstr(err.msg, "too many nodes") != NULL, "%s", err.msg);
  /* an alias cannot smuggle depth past the limit either */
  sy_yaml_limits_t lim = {.max_depth = 3};
  ck_assert_int_eq(parse_err("a: &a [[1]]\nb: [*a]\n", &lim, &err), SY_ETOOBIG);
  ck_assert_int_eq(err.line, 2);
  ck_assert_int_eq(err.column, 5);
}
END_TEST

START_TEST(test_size_limits) {
  sy_yaml_error_t err;
  char buf[1200];
  sy_yaml_limits_t lim = {.max_bytes = 10};
  ck_assert_int_eq(parse_err("a: 12345678901\n", &lim, &err), SY_ETOOBIG);
  ck_assert_int_eq(err.line, 0);
  ck_assert_str_eq(sy_yaml_error_str(&err, buf, sizeof(buf)),
                   "t.yaml: input is 15 bytes, over the limit of 10");
  sy_yaml_limits_t nodes = {.max_nodes = 5};
  ck_assert_int_eq(parse_err("a: [1, 2]\nb: 3\n", &nodes, &err), SY_ETOOBIG);
  ck_assert_int_eq(err.line, 2);
  ck_assert_int_eq(err.column, 1);
  sy_yaml_stream_t *s = NULL;
  ck_assert_int_eq(sy_yaml_parse("t", "a: [1, 2]\n", 10, &nodes, &s, &err), 0);
  sy_yaml_stream_free(s);
}
END_TEST

START_TEST(test_files) {
  sy_yaml_stream_t *s = NULL;
  sy_yaml_error_t err;
  ck_assert_int_eq(sy_yaml_parse_file("/nonexistent/x.yaml", NULL, &s, &err), -ENOENT);
  ck_assert_ptr_null(s);
  ck_assert_str_eq(err.file, "/nonexistent/x.yaml");
  ck_assert_int_eq(err.line, 0);

  const char *p = sy_test_data_path("manifests/bad_syntax.yaml");
  ck_assert_int_eq(sy_yaml_parse_file(p, NULL, &s, &err), SY_EPARSE);
  ck_assert_str_eq(err.file, p);
  ck_assert_int_eq(err.line, 6);

  p = sy_test_data_path("manifests/dir/10-pool.yaml");
  ck_assert_int_eq(sy_yaml_parse_file(p, NULL, &s, &err), 0);
  ck_assert_str_eq(s->name, p);
  ck_assert_uint_eq(s->n_docs, 3);
  ck_assert(sy_yaml_text_eq(sy_yaml_path(s->docs[0].root, "spec.targetPorts[1].number"), "8001"));
  sy_yaml_stream_free(s);

  sy_yaml_limits_t lim = {.max_bytes = 100};
  ck_assert_int_eq(sy_yaml_parse_file(p, &lim, &s, &err), SY_ETOOBIG);
  ck_assert_msg(strstr(err.msg, "larger than the limit of 100") != NULL, "%s", err.msg);

  /* a directory cannot be read as a file */
  ck_assert_int_lt(sy_yaml_parse_file(sy_test_data_path("manifests"), NULL, &s, &err), 0);
}
END_TEST

/* Every allocation failure is reported as -ENOMEM and leaks nothing (ASan
 * checks the latter). */
START_TEST(test_alloc_failures) {
  const char *doc = "a: &x {k: [1, 2, {z: y}]}\nb: *x\n---\nc: 'q'\nd: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n";
  int failures = 0;
  for (long n = 1; n < 200; n++) {
    sy_yaml_stream_t *s = NULL;
    sy_yaml_error_t err;
    sy_alloc_fail_after(n);
    int rc = sy_yaml_parse("t", doc, strlen(doc), NULL, &s, &err);
    sy_alloc_fail_after(0);
    if (rc == 0) {
      ck_assert_ptr_nonnull(s);
      sy_yaml_stream_free(s);
      break;
    }
    ck_assert_int_eq(rc, -ENOMEM);
    ck_assert_ptr_null(s);
    failures++;
  }
  ck_assert_int_gt(failures, 3);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("yaml");
  TCase *tc = tcase_create("tree");
  tcase_add_test(tc, test_positions);
  tcase_add_test(tc, test_multi_doc);
  tcase_add_test(tc, test_json);
  tcase_add_test(tc, test_scalars);
  tcase_add_test(tc, test_path);
  tcase_add_test(tc, test_many_keys);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, test_syntax_error);
  tcase_add_test(tc, test_duplicate_key);
  tcase_add_test(tc, test_bad_keys);
  tcase_add_test(tc, test_files);
  suite_add_tcase(s, tc);
  tc = tcase_create("limits");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_depth_limit);
  tcase_add_test(tc, test_aliases);
  tcase_add_test(tc, test_billion_laughs);
  tcase_add_test(tc, test_size_limits);
  tcase_add_test(tc, test_alloc_failures);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
