/* Shared helpers for Check-based tests. */
#ifndef SY_TEST_SUPPORT_H
#define SY_TEST_SUPPORT_H

#include <check.h>
#include <stddef.h>

/* Runs `s` with Check and returns the process exit status (0 when every
 * test passed). Use as: return sy_test_run(my_suite()); */
int sy_test_run(Suite *s);

/* Reads a whole file into a malloc'd NUL-terminated buffer (sy_free it).
 * Returns NULL on failure. */
char *sy_test_read_file(const char *path, size_t *len);

/* Path of a file under test/data (SY_TEST_DATA env, set by ctest). Static
 * buffer: copy it before the next call. */
const char *sy_test_data_path(const char *rel);

/* Writes `content` to a new file in a fresh temp dir; returns its path
 * (static buffer). */
const char *sy_test_write_temp(const char *name, const char *content);

#endif
