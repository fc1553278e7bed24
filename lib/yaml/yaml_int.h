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
/* Fills m->sorted_ (allocated, m->n entries; keys set) with the key order.
 * SY_EPARSE with *dup / *first set when a key repeats; -ENOMEM. */
int sy_yaml__index_mapping(sy_yaml_node_t *m, const sy_yaml_node_t **dup, const sy_yaml_node_t **first);
/* Core-schema null: "", "~", "null", "Null", "NULL". */
bool sy_yaml__text_is_null(const char *s, size_t len);

#endif
