/* Go-style command-line flags (--name value, --name=value, -name, bools as
 * --name / --name=false), table-driven so every flag has a type, a default
 * and help text in one place. */
#ifndef SY_FLAGS_H
#define SY_FLAGS_H

#include <stddef.h>
#include <stdio.h>

/* SY_FLAG_DURATION: a Go duration ("50ms", "2s", "1m", "1.5s") stored as
 * long milliseconds. */
typedef enum sy_flag_type { SY_FLAG_STR, SY_FLAG_INT, SY_FLAG_BOOL, SY_FLAG_DURATION } sy_flag_type_t;

typedef struct sy_flag {
  const char *name;
  sy_flag_type_t type;
  size_t offset; /* into the options struct: const char *, long (int, duration) or bool */
  const char *def;
  const char *help;
} sy_flag_t;

/* Applies defaults, then argv. 0, or SY_EINVAL with a message in err. String
 * values point into argv or the defaults (not copied). */
int sy_flags_parse(const sy_flag_t *flags, size_t n, void *opts, int argc, char **argv, char *err, size_t errlen);
void sy_flags_usage(const sy_flag_t *flags, size_t n, FILE *out);

#endif
