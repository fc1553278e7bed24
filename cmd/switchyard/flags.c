#include "flags.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* Parses a Go-style duration into milliseconds: a sequence of
 * <number><unit> with units ns, us, ms, s, m, h ("1m30s", "1.5s"). */
static int parse_duration_ms(const char *v, long *out) {
  double total = 0;
  const char *p = v;
  if (!*p) return SY_EINVAL;
  while (*p) {
    char *end;
    double n = strtod(p, &end);
    if (end == p) return SY_EINVAL;
    p = end;
    double scale;
    if (!strncmp(p, "ns", 2)) {
      scale = 1e-6, p += 2;
    } else if (!strncmp(p, "us", 2)) {
      scale = 1e-3, p += 2;
    } else if (!strncmp(p, "ms", 2)) {
      scale = 1, p += 2;
    } else if (*p == 's') {
      scale = 1e3, p += 1;
    } else if (*p == 'm') {
      scale = 60e3, p += 1;
    } else if (*p == 'h') {
      scale = 3600e3, p += 1;
    } else {
      return SY_EINVAL;
    }
    total += n * scale;
  }
  if (total < 0 || total > 1e12) return SY_EINVAL;
  *out = (long)(total + 0.5);
  return 0;
}

static int set_value(const sy_flag_t *f, void *opts, const char *v, char *err, size_t errlen) {
  char *p = (char *)opts + f->offset;
  switch (f->type) {
    case SY_FLAG_STR:
      *(const char **)p = v;
      return 0;
    case SY_FLAG_INT: {
      long n;
      if (sy_parse_int(v, -(1L << 40), 1L << 40, &n) != 0) {
        snprintf(err, errlen, "invalid value \"%s\" for flag --%s: not an integer", v, f->name);
        return SY_EINVAL;
      }
      *(long *)p = n;
      return 0;
    }
    case SY_FLAG_DURATION:
      if (parse_duration_ms(v, (long *)p) != 0) {
        snprintf(err, errlen, "invalid value \"%s\" for flag --%s: not a duration (e.g. 50ms, 2s)", v, f->name);
        return SY_EINVAL;
      }
      return 0;
    case SY_FLAG_BOOL:
      if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "t") || !strcmp(v, "TRUE") || !strcmp(v, "True")) {
        *(bool *)p = true;
      } else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "f") || !strcmp(v, "FALSE") ||
                 !strcmp(v, "False")) {
        *(bool *)p = false;
      } else {
        snprintf(err, errlen, "invalid value \"%s\" for flag --%s: not a boolean", v, f->name);
        return SY_EINVAL;
      }
      return 0;
  }
  return SY_EINVAL;
}

int sy_flags_parse(const sy_flag_t *flags, size_t n, void *opts, int argc, char **argv, char *err, size_t errlen) {
  for (size_t i = 0; i < n; i++) {
    if (set_value(&flags[i], opts, flags[i].def, err, errlen) != 0) return SY_EINVAL;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || !a[1]) {
      snprintf(err, errlen, "unexpected argument \"%s\"", a);
      return SY_EINVAL;
    }
    a += a[1] == '-' ? 2 : 1;
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    const sy_flag_t *f = NULL;
    for (size_t k = 0; k < n; k++) {
      if (strlen(flags[k].name) == nlen && !strncmp(flags[k].name, a, nlen)) f = &flags[k];
    }
    if (!f) {
      snprintf(err, errlen, "unknown flag: %s", argv[i]);
      return SY_EINVAL;
    }
    const char *v;
    if (eq) {
      v = eq + 1;
    } else if (f->type == SY_FLAG_BOOL) {
      v = "true";
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      snprintf(err, errlen, "flag needs an argument: --%s", f->name);
      return SY_EINVAL;
    }
    if (set_value(f, opts, v, err, errlen) != 0) return SY_EINVAL;
  }
  return 0;
}

void sy_flags_usage(const sy_flag_t *flags, size_t n, FILE *out) {
  for (size_t i = 0; i < n; i++) {
    const char *t = flags[i].type == SY_FLAG_INT        ? " int"
                    : flags[i].type == SY_FLAG_STR      ? " string"
                    : flags[i].type == SY_FLAG_DURATION ? " duration"
                                                        : "";
    fprintf(out, "  --%s%s\n        %s", flags[i].name, t, flags[i].help);
    if (flags[i].def && flags[i].def[0]) fprintf(out, " (default %s)", flags[i].def);
    fputc('\n', out);
  }
}
