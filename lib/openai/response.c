/*
 * OpenAI responses: token usage from a JSON body or from an SSE stream.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "openai.h"
#include "openai_int.h"

/* Integral value of a JSON number, clamped into long (no UB on NaN/huge). */
static long to_long(double d) {
  if (isnan(d)) return 0;
  if (d >= 9.2e18) return LONG_MAX;
  if (d <= -9.2e18) return LONG_MIN;
  return (long)d;
}

/* Reads obj[key] when it is a number. */
static bool get_long(const cJSON *obj, const char *key, long *out) {
  const cJSON *n = sy_openai__get(obj, key);
  if (!cJSON_IsNumber(n)) return false;
  *out = to_long(n->valuedouble);
  return true;
}

static bool has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

enum names { NAMES_INPUT, NAMES_PROMPT, NAMES_EITHER };

/* Fills *u from `holder`, an object with an object-valued "usage". */
static void read_usage(const cJSON *holder, sy_openai_usage_t *u) {
  const cJSON *usage = sy_openai__get(holder, "usage");
  const cJSON *obj = sy_openai__get(holder, "object");
  enum names names = NAMES_EITHER;
  if (cJSON_IsString(obj)) {
    const char *o = obj->valuestring;
    if (has_prefix(o, "response") || has_prefix(o, "conversation"))
      names = NAMES_INPUT;
    else if (!strcmp(o, "chat.completion") || !strcmp(o, "chat.completion.chunk") ||
             !strcmp(o, "text_completion"))
      names = NAMES_PROMPT;
  }
  memset(u, 0, sizeof(*u));
  u->found = true;
  if (names != NAMES_INPUT) {
    get_long(usage, "prompt_tokens", &u->prompt_tokens);
    get_long(usage, "completion_tokens", &u->completion_tokens);
  }
  if (names == NAMES_INPUT ||
      (names == NAMES_EITHER && !sy_openai__get(usage, "prompt_tokens") &&
       !sy_openai__get(usage, "completion_tokens"))) {
    get_long(usage, "input_tokens", &u->prompt_tokens);
    get_long(usage, "output_tokens", &u->completion_tokens);
  }
  get_long(usage, "total_tokens", &u->total_tokens);
  /* Upstream reads "prompt_token_details"; OpenAI and vLLM actually send
   * "prompt_tokens_details", and the Responses API "input_tokens_details". */
  static const char *const details[] = {"prompt_token_details", "prompt_tokens_details",
                                        "input_tokens_details"};
  for (size_t i = 0; i < SY_ARRAY_LEN(details); i++)
    if (get_long(sy_openai__get(usage, details[i]), "cached_tokens", &u->cached_tokens)) break;
}

/* Usage carried by one parsed JSON value: a top-level "usage" object, or a
 * Responses API "response.completed" event's response.usage. */
static bool usage_from_tree(const cJSON *root, sy_openai_usage_t *u) {
  if (cJSON_IsObject(sy_openai__get(root, "usage"))) {
    read_usage(root, u);
    return true;
  }
  const cJSON *type = sy_openai__get(root, "type");
  if (cJSON_IsString(type) && strcmp(type->valuestring, "response.completed") == 0) {
    const cJSON *resp = sy_openai__get(root, "response");
    if (cJSON_IsObject(sy_openai__get(resp, "usage"))) {
      read_usage(resp, u);
      return true;
    }
  }
  return false;
}

int sy_openai_usage_from_json(const char *body, size_t len, sy_openai_usage_t *out) {
  size_t err_off;
  const char *err_what;
  memset(out, 0, sizeof(*out));
  cJSON *root = sy_openai__parse(body, len, &err_off, &err_what);
  if (!root) return SY_EPARSE;
  usage_from_tree(root, out);
  cJSON_Delete(root);
  return 0;
}

/* ------------------------------------------------------------------ SSE */

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Cheap pre-filter: does the text contain "usage" as a key whose value is an
 * object? Most stream chunks have no usage or "usage":null, and skipping
 * them saves a JSON parse per token. (A key spelled with escapes would be
 * missed; no real server does that.) */
static bool may_have_usage(const char *p, size_t n) {
  static const char key[] = "\"usage\"";
  const char *end = p + n;
  while (p < end) {
    const char *k = memmem(p, (size_t)(end - p), key, sizeof(key) - 1);
    if (!k) return false;
    const char *q = k + sizeof(key) - 1;
    while (q < end && is_ws(*q)) q++;
    if (q < end && *q == ':') {
      q++;
      while (q < end && is_ws(*q)) q++;
      if (q < end && *q == '{') return true;
    }
    p = k + sizeof(key) - 1;
  }
  return false;
}

/* One complete line, without its '\n'. */
static void sse_line(sy_openai_sse_t *s, const char *p, size_t n) {
  if (n && p[n - 1] == '\r') n--;
  if (n < 5 || memcmp(p, "data:", 5) != 0) return;
  p += 5;
  n -= 5;
  if (n && *p == ' ') {
    p++;
    n--;
  }
  if (n == 6 && memcmp(p, "[DONE]", 6) == 0) return;
  if (!may_have_usage(p, n)) return;
  cJSON *root = cJSON_ParseWithLength(p, n);
  if (!root) return;
  sy_openai_usage_t u;
  if (usage_from_tree(root, &u)) s->usage = u;
  cJSON_Delete(root);
}

void sy_openai_sse_init(sy_openai_sse_t *s, size_t max_line) {
  sy_buf_init(&s->line, max_line);
  s->skipping = false;
  memset(&s->usage, 0, sizeof(s->usage));
}

void sy_openai_sse_feed(sy_openai_sse_t *s, const char *data, size_t len) {
  if (!data) return;
  while (len && !s->usage.found) {
    const char *nl = memchr(data, '\n', len);
    size_t seg = nl ? (size_t)(nl - data) : len;
    if (s->skipping) {
      /* inside an over-long line: drop bytes up to its end */
      if (nl) s->skipping = false;
    } else if (nl && s->line.len == 0) {
      /* whole line inside this chunk: no copy */
      if (seg <= s->line.max) sse_line(s, data, seg);
    } else if (sy_buf_append(&s->line, data, seg) != 0) {
      /* over-long (or out of memory): forget it, skip to its end */
      sy_buf_reset(&s->line);
      s->skipping = (nl == NULL);
    } else if (nl) {
      sse_line(s, s->line.data, s->line.len);
      sy_buf_reset(&s->line);
    }
    if (!nl) break;
    data = nl + 1;
    len -= seg + 1;
  }
  if (s->usage.found) sy_buf_cleanup(&s->line); /* nothing more to look at */
}

void sy_openai_sse_finish(sy_openai_sse_t *s) {
  if (!s->usage.found && !s->skipping && s->line.len) sse_line(s, s->line.data, s->line.len);
  sy_buf_reset(&s->line);
  s->skipping = false;
}

void sy_openai_sse_cleanup(sy_openai_sse_t *s) {
  sy_buf_cleanup(&s->line);
  s->skipping = false;
}
