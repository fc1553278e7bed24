/* yaml — declarations shared between the module's files (not public). */
#ifndef SY_YAML_INT_H
#define SY_YAML_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "yaml.h"

/* Fills err (NULL-safe). */
void sy_yaml__error_vset(sy_yaml_error_t *err, const char *file, int line, int column,
                         const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
void sy_yaml__error_set(sy_yaml_error_t *err, const char *file, int line, int column,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Byte-wise order of length-delimited strings (mapping key index). */
int sy_yaml__keycmp(const char *a, size_t alen, const char *b, size_t blen);
/* Core-schema null: "", "~", "null", "Null", "NULL". */
bool sy_yaml__text_is_null(const char *s, size_t len);

#endif
