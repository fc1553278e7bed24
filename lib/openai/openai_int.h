/*
 * openai internals shared by request.c and response.c. Not a public header.
 */
#ifndef SY_OPENAI_INT_H
#define SY_OPENAI_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Parses exactly one JSON value from body[0..len) (surrounding whitespace
 * allowed, anything else after the value is an error). Returns the tree
 * (cJSON_Delete it) or NULL; on NULL, *err_off is the byte offset of the
 * problem and *err_what a static description. The input need not be
 * NUL-terminated. */
cJSON *sy_openai__parse(const char *body, size_t len, size_t *err_off, const char **err_what);

/* Looks a key up in an object, case-sensitively; the LAST duplicate wins,
 * as with Go's encoding/json and Python's json (cJSON's own lookup returns
 * the first). NULL when `obj` is not an object or has no such key. */
const cJSON *sy_openai__get(const cJSON *obj, const char *key);

/* ---- rawjson.c: walking JSON text that cJSON has already accepted ---- */

typedef struct sy_openai__member {
  const char *key, *key_end; /* the key as written, quotes included */
  const char *val, *val_end; /* the value as written, trimmed */
} sy_openai__member_t;

/* Cursor just past the '{' of the object text body[0..len), or NULL. */
const char *sy_openai__obj_open(const char *body, size_t len);
/* Advances *cur over the next member of the object; false at its end. The
 * i-th member is the i-th child of cJSON's tree of the same text. */
bool sy_openai__obj_next(const char **cur, const char *end, sy_openai__member_t *m);
/* Copies [p, end) to out without whitespace outside strings; returns the
 * bytes written (at most end - p). Strings are copied verbatim. */
size_t sy_openai__minify(char *out, const char *p, const char *end);
/* Writes s as a quoted JSON string to out (when out is not NULL); returns
 * its length. */
size_t sy_openai__escape(char *out, const char *s);

#endif /* SY_OPENAI_INT_H */
