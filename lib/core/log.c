/* One structured line per event, to stderr. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core.h"

int sy_log_level_current = SY_LOG_INFO;
static sy_log_format_t log_format = SY_LOG_FMT_KV;

void sy_log_set_level(int level) { sy_log_level_current = level; }
void sy_log_set_format(sy_log_format_t fmt) { log_format = fmt; }

static const char *level_name(int level) {
  switch (level) {
    case SY_LOG_ERROR: return "error";
    case SY_LOG_WARN: return "warn";
    case SY_LOG_INFO: return "info";
    case SY_LOG_VERBOSE: return "verbose";
    case SY_LOG_DEBUG: return "debug";
    default: return "trace";
  }
}

static void put_json_str(sy_buf_t *b, const char *s) {
  sy_buf_append(b, "\"", 1);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      sy_buf_append(b, e, 2);
    } else if (c < 0x20) {
      sy_buf_printf(b, "\\u%04x", c);
    } else {
      sy_buf_append(b, s, 1);
    }
  }
  sy_buf_append(b, "\"", 1);
}

static void put_kv_val(sy_buf_t *b, const char *s) {
  if (!s) s = "";
  bool quote = !*s || strpbrk(s, " \t\"=\n") != NULL;
  if (quote) {
    put_json_str(b, s);
  } else {
    sy_buf_append_str(b, s);
  }
}

void sy_log_emit(int level, const char *msg, ...) {
  sy_buf_t b;
  sy_buf_init(&b, 16384);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[96];
  snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
  va_list ap;
  va_start(ap, msg);
  if (log_format == SY_LOG_FMT_JSON) {
    sy_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", when, level_name(level));
    put_json_str(&b, msg);
    for (;;) {
      const char *k = va_arg(ap, const char *);
      if (!k) break;
      const char *v = va_arg(ap, const char *);
      sy_buf_append(&b, ",", 1);
      put_json_str(&b, k);
      sy_buf_append(&b, ":", 1);
      put_json_str(&b, v ? v : "");
    }
    sy_buf_append(&b, "}\n", 2);
  } else {
    sy_buf_printf(&b, "ts=%s level=%s msg=", when, level_name(level));
    put_kv_val(&b, msg);
    for (;;) {
      const char *k = va_arg(ap, const char *);
      if (!k) break;
      const char *v = va_arg(ap, const char *);
      sy_buf_printf(&b, " %s=", k);
      put_kv_val(&b, v);
    }
    sy_buf_append(&b, "\n", 1);
  }
  va_end(ap);
  if (b.data) fwrite(b.data, 1, b.len, stderr);
  sy_buf_cleanup(&b);
}
