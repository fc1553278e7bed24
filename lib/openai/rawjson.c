/*
 * Raw JSON text walking, for the hot path: compact copies of member values
 * straight from the request bytes (no re-serialisation) and the model
 * splice. These helpers only ever see text that cJSON has already accepted,
 * and follow cJSON's lexical rules (any byte <= 32 outside a string is
 * whitespace; a UTF-8 BOM may open the text). They are still bounds-safe on
 * any input: nothing is read outside [p, end).
 */
#include <string.h>

#include "openai_int.h"

static bool jws(char c) { return (unsigned char)c <= 32; }

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && jws(*p)) p++;
  return p;
}

/* p[0] is '"'. Returns one past the closing quote (or end). A quote closes
 * the string when an even number of backslashes precede it. */
static const char *skip_string(const char *p, const char *end) {
  const char *s = p + 1, *q = s;
  while (q < end) {
    q = memchr(q, '"', (size_t)(end - q));
    if (!q) return end;
    size_t bs = 0;
    for (const char *b = q; b > s && b[-1] == '\\'; b--) bs++;
    if (!(bs & 1)) return q + 1;
    q++;
  }
  return end;
}

/* One value starting at p: a string, a container, or a bare scalar. */
static const char *skip_value(const char *p, const char *end) {
  size_t depth = 0;
  while (p < end) {
    char c = *p;
    if (c == '"') {
      p = skip_string(p, end);
      if (depth == 0) return p;
      continue;
    }
    if (c == '[' || c == '{') {
      depth++;
    } else if (c == ']' || c == '}') {
      if (depth == 0) return p; /* ends a bare scalar */
      if (--depth == 0) return p + 1;
    } else if (depth == 0 && (c == ',' || jws(c))) {
      return p;
    }
    p++;
  }
  return end;
}

const char *sy_openai__obj_open(const char *body, size_t len) {
  const char *p = body, *end = body + len;
  if (!body) return NULL;
  if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) p += 3;
  p = skip_ws(p, end);
  return (p < end && *p == '{') ? p + 1 : NULL;
}

bool sy_openai__obj_next(const char **cur, const char *end, sy_openai__member_t *m) {
  const char *p = skip_ws(*cur, end);
  if (p < end && *p == ',') p = skip_ws(p + 1, end);
  if (p >= end || *p != '"') return false;
  m->key = p;
  p = m->key_end = skip_string(p, end);
  p = skip_ws(p, end);
  if (p >= end || *p != ':') return false;
  p = skip_ws(p + 1, end);
  m->val = p;
  p = m->val_end = skip_value(p, end);
  if (m->val_end == m->val) return false;
  *cur = p;
  return true;
}

size_t sy_openai__minify(char *out, const char *p, const char *end) {
  char *o = out;
  while (p < end) {
    if (*p == '"') {
      const char *q = skip_string(p, end);
      memcpy(o, p, (size_t)(q - p));
      o += q - p;
      p = q;
    } else {
      if (!jws(*p)) *o++ = *p;
      p++;
    }
  }
  return (size_t)(o - out);
}

size_t sy_openai__escape(char *out, const char *s) {
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;
#define PUT(ch)                \
  do {                         \
    if (out) out[n] = (ch);    \
    n++;                       \
  } while (0)
  PUT('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      PUT('\\');
      PUT((char)c);
    } else if (c < 0x20) {
      PUT('\\');
      switch (c) {
        case '\b': PUT('b'); break;
        case '\f': PUT('f'); break;
        case '\n': PUT('n'); break;
        case '\r': PUT('r'); break;
        case '\t': PUT('t'); break;
        default:
          PUT('u');
          PUT('0');
          PUT('0');
          PUT(hex[c >> 4]);
          PUT(hex[c & 15]);
      }
    } else {
      PUT((char)c);
    }
  }
  PUT('"');
#undef PUT
  return n;
}
