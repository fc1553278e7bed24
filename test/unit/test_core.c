/* Unit tests for lib/core: arena, bounded buffer, failmalloc hook, PRNG,
 * UUIDs, string helpers, error strings. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core.h"
#include "test_support.h"

START_TEST(test_arena_alignment_and_reset) {
  sy_arena_t a;
  sy_arena_init(&a, 1024, 0);
  for (int i = 1; i < 200; i++) {
    void *p = sy_arena_alloc(&a, (size_t)i);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    memset(p, 0xab, (size_t)i);
  }
  /* a large allocation gets its own block and stays usable */
  char *big = sy_arena_alloc(&a, 100000);
  ck_assert_ptr_nonnull(big);
  memset(big, 1, 100000);
  char *s = sy_arena_strndup(&a, "hello world", 5);
  ck_assert_str_eq(s, "hello");
  size_t before = a.total;
  ck_assert_uint_gt(before, 100000);
  sy_arena_reset(&a);
  ck_assert_uint_le(a.total, 1024);
  ck_assert_ptr_nonnull(sy_arena_alloc(&a, 10));
  sy_arena_cleanup(&a);
  ck_assert_uint_eq(a.total, 0);
}
END_TEST

START_TEST(test_arena_limit) {
  sy_arena_t a;
  sy_arena_init(&a, 1024, 4096);
  int ok = 0;
  while (sy_arena_alloc(&a, 512) != NULL) ok++;
  ck_assert_int_ge(ok, 4);
  ck_assert_int_le(ok, 8);
  ck_assert_ptr_null(sy_arena_alloc(&a, 10000)); /* over the cap */
  ck_assert_uint_le(a.total, 4096);
  sy_arena_cleanup(&a);
}
END_TEST

START_TEST(test_buf_bounded) {
  sy_buf_t b;
  sy_buf_init(&b, 10);
  ck_assert_int_eq(sy_buf_append(&b, "hello", 5), 0);
  ck_assert_int_eq(sy_buf_append_str(&b, "world"), 0);
  ck_assert_uint_eq(b.len, 10);
  ck_assert_str_eq(b.data, "helloworld");
  ck_assert_int_eq(sy_buf_append(&b, "!", 1), SY_ETOOBIG); /* over max: unchanged */
  ck_assert_str_eq(b.data, "helloworld");
  sy_buf_consume(&b, 5);
  ck_assert_str_eq(b.data, "world");
  ck_assert_int_eq(sy_buf_printf(&b, "%d", 42), 0);
  ck_assert_str_eq(b.data, "world42");
  ck_assert_int_eq(sy_buf_printf(&b, "%s", "toolong"), SY_ETOOBIG);
  sy_buf_reset(&b);
  ck_assert_uint_eq(b.len, 0);
  sy_buf_cleanup(&b);
  ck_assert_ptr_null(b.data);

  sy_buf_init(&b, 1 << 20);
  char big[600];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  ck_assert_int_eq(sy_buf_printf(&b, "%s|%s", big, big), 0); /* longer than the stack scratch */
  ck_assert_uint_eq(b.len, 2 * 599 + 1);
  sy_buf_cleanup(&b);
}
END_TEST

START_TEST(test_failmalloc) {
  sy_alloc_fail_after(2);
  void *a = sy_malloc(8);
  void *b = sy_malloc(8); /* the 2nd allocation from now fails */
  void *c = sy_malloc(8);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_null(b);
  ck_assert_ptr_nonnull(c);
  sy_free(a);
  sy_free(c);
  sy_buf_t buf;
  sy_buf_init(&buf, 100);
  sy_alloc_fail_after(1);
  ck_assert_int_eq(sy_buf_append(&buf, "x", 1), -ENOMEM);
  ck_assert_uint_eq(buf.len, 0);
  sy_buf_cleanup(&buf);
}
END_TEST

START_TEST(test_uuid_and_rand) {
  char a[37], b[37];
  sy_uuid4(a);
  sy_uuid4(b);
  ck_assert_int_eq(strlen(a), 36);
  ck_assert_str_ne(a, b);
  ck_assert_int_eq(a[8], '-');
  ck_assert_int_eq(a[14], '4');
  ck_assert(strchr("89ab", a[19]) != NULL);
  int hist[4] = {0};
  for (int i = 0; i < 40000; i++) hist[sy_rand_below(4)]++;
  for (int i = 0; i < 4; i++) ck_assert_int_gt(hist[i], 9000);
}
END_TEST

START_TEST(test_strings_and_errors) {
  ck_assert(sy_str_ieq("X-Request-ID", 12, "x-request-id"));
  ck_assert(!sy_str_ieq("x-request", 9, "x-request-id"));
  ck_assert(!sy_str_ieq("x-request-idd", 13, "x-request-id"));
  long v;
  ck_assert_int_eq(sy_parse_int("9002", 1, 65535, &v), 0);
  ck_assert_int_eq(v, 9002);
  ck_assert_int_eq(sy_parse_int("70000", 1, 65535, &v), SY_EPARSE);
  ck_assert_int_eq(sy_parse_int("12x", 0, 100, &v), SY_EPARSE);
  ck_assert_int_eq(sy_parse_int("", 0, 100, &v), SY_EPARSE);
  ck_assert_str_eq(sy_strerror(SY_ETOOBIG), "size limit exceeded");
  ck_assert_str_eq(sy_strerror(-ENOENT), strerror(ENOENT));
}
END_TEST

START_TEST(test_k8s_names) {
  char l63[64], l64[65], big[300];
  memset(l63, 'a', 63);
  l63[63] = '\0';
  memset(l64, 'a', 64);
  l64[64] = '\0';
  ck_assert(sy_k8s_dns_label(l63, 63));
  ck_assert(!sy_k8s_dns_label(l64, 64)); /* namespaces: at most 63 */
  ck_assert(sy_k8s_dns_label("a-1", 3));
  ck_assert(!sy_k8s_dns_label("-a", 2) && !sy_k8s_dns_label("a-", 2) && !sy_k8s_dns_label("A", 1));
  ck_assert(!sy_k8s_dns_label("", 0) && !sy_k8s_dns_label("a.b", 3));
  ck_assert(sy_k8s_dns_subdomain("a.b-c.d", 7, 253));
  ck_assert(sy_k8s_dns_subdomain(l64, 64, 253)); /* apimachinery: no per-label limit */
  ck_assert(!sy_k8s_dns_subdomain("a..b", 4, 253) && !sy_k8s_dns_subdomain(".a", 2, 253));
  ck_assert(!sy_k8s_dns_subdomain("a.", 2, 253) && !sy_k8s_dns_subdomain("a_b", 3, 253));
  memset(big, 'a', sizeof(big));
  ck_assert(sy_k8s_dns_subdomain(big, 253, 253));
  ck_assert(!sy_k8s_dns_subdomain(big, 254, 253));
  ck_assert(sy_k8s_label_word("", 0, true) && !sy_k8s_label_word("", 0, false));
  ck_assert(sy_k8s_label_word("A_b.c-9", 7, false));
  ck_assert(!sy_k8s_label_word("_a", 2, false) && !sy_k8s_label_word(l64, 64, false));
  ck_assert(sy_k8s_qualified_name("app", 3));
  ck_assert(sy_k8s_qualified_name("example.com/App_1", 17));
  ck_assert(!sy_k8s_qualified_name("Example.com/app", 15)); /* prefix is a subdomain */
  ck_assert(!sy_k8s_qualified_name("example.com/", 12) && !sy_k8s_qualified_name("/app", 4));
  ck_assert(!sy_k8s_qualified_name("a/b/c", 5));
  /* lengths are honoured: an embedded NUL is not a terminator */
  ck_assert(!sy_k8s_dns_label("ab\0c", 4));
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_arena_alignment_and_reset);
  tcase_add_test(tc, test_arena_limit);
  tcase_add_test(tc, test_buf_bounded);
  tcase_add_test(tc, test_failmalloc);
  tcase_add_test(tc, test_uuid_and_rand);
  tcase_add_test(tc, test_strings_and_errors);
  tcase_add_test(tc, test_k8s_names);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
