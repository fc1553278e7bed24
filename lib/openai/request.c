/*
 * OpenAI request bodies: the API from the path, validation, the fields the
 * scheduler needs (model, stream flags, prompt text, cache salt) and the
 * model rewrite. cJSON trees never escape a call: what we keep is copied
 * into the caller's arena before cJSON_Delete.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "openai.h"
#include "openai_int.h"

/* ------------------------------------------------------------ path → API */

#define SUFFIX(s, api) {s, sizeof(s) - 1, api}
static const struct {
  const char *s;
  size_t len;
  sy_openai_api_t api;
} suffixes[] = {
    /* Checked in this order, as upstream does. */
    SUFFIX("/conversations", SY_OPENAI_CONVERSATIONS),
    SUFFIX("/responses", SY_OPENAI_RESPONSES),
    SUFFIX("/chat/completions", SY_OPENAI_CHAT),
    SUFFIX("/completions", SY_OPENAI_COMPLETIONS),
    SUFFIX("/embeddings", SY_OPENAI_EMBEDDINGS),
};
#undef SUFFIX

sy_openai_api_t sy_openai_api_from_path(const char *path, size_t len) {
  if (!path) return SY_OPENAI_COMPLETIONS;
  const char *q = memchr(path, '?', len);
  if (q) len = (size_t)(q - path);
  for (size_t i = 0; i < SY_ARRAY_LEN(suffixes); i++) {
    size_t n = suffixes[i].len;
    if (len >= n && memcmp(path + len - n, suffixes[i].s, n) == 0) return suffixes[i].api;
  }
  return SY_OPENAI_COMPLETIONS;
}

const char *sy_openai_api_name(sy_openai_api_t api) {
  switch (api) {
    case SY_OPENAI_COMPLETIONS: return "completions";
    case SY_OPENAI_CHAT: return "chat_completions";
    case SY_OPENAI_RESPONSES: return "responses";
    case SY_OPENAI_EMBEDDINGS: return "embeddings";
    case SY_OPENAI_CONVERSATIONS: return "conversations";
  }
  return "unknown";
}

/* --------------------------------------------------------------- helpers */

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

cJSON *sy_openai__parse(const char *body, size_t len, size_t *err_off, const char **err_what) {
  size_t i = 0;
  if (!body) len = 0;
  while (i < len && is_ws(body[i])) i++;
  if (i == len) {
    *err_off = len;
    *err_what = "unexpected end of JSON input";
    return NULL;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
  size_t off = (end && end >= body && end <= body + len) ? (size_t)(end - body) : len;
  if (!root) {
    *err_off = off;
    *err_what = "syntax error";
    return NULL;
  }
  while (off < len && is_ws(body[off])) off++;
  if (off < len) {
    cJSON_Delete(root);
    *err_off = off;
    *err_what = "invalid character after top-level value";
    return NULL;
  }
  return root;
}

const cJSON *sy_openai__get(const cJSON *obj, const char *key) {
  const cJSON *found = NULL;
  if (!cJSON_IsObject(obj)) return NULL;
  for (const cJSON *c = obj->child; c; c = c->next)
    if (c->string && strcmp(c->string, key) == 0) found = c;
  return found;
}

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *errbuf, size_t errlen, const char *fmt, ...) {
  if (!errbuf || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, errlen, fmt, ap);
  va_end(ap);
}

/* Compact JSON of `item`, a top-level member value of `root` (the tree of
 * body[0..len)): the value's own text with the whitespace removed, copied
 * from the body. No re-serialisation: strings keep their escapes and numbers
 * their spelling, so the same bytes in always give the same prompt, and it
 * costs one memchr-speed pass instead of a cJSON print. */
static int compact_member(sy_arena_t *arena, const char *body, size_t len, const cJSON *root,
                          const cJSON *item, char **out, size_t *out_len) {
  const char *cur = sy_openai__obj_open(body, len), *end = body + len;
  sy_openai__member_t m;
  for (const cJSON *c = root->child; c && cur; c = c->next) {
    if (!sy_openai__obj_next(&cur, end, &m)) break;
    if (c != item) continue;
    char *buf = sy_arena_alloc(arena, (size_t)(m.val_end - m.val) + 1);
    if (!buf) return -ENOMEM;
    size_t n = sy_openai__minify(buf, m.val, m.val_end);
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
  }
  assert(!"raw JSON walk disagrees with cJSON");
  return SY_EPARSE;
}

static int copy_string(sy_arena_t *arena, const char *s, char **out, size_t *out_len) {
  size_t n = strlen(s);
  *out = sy_arena_strndup(arena, s, n);
  if (!*out) return -ENOMEM;
  if (out_len) *out_len = n;
  return 0;
}

/* Non-empty array whose every element satisfies pred. */
static bool array_all(const cJSON *a, cJSON_bool (*pred)(const cJSON *)) {
  if (!cJSON_IsArray(a) || !a->child) return false;
  for (const cJSON *c = a->child; c; c = c->next)
    if (!pred(c)) return false;
  return true;
}

static cJSON_bool is_token_list(const cJSON *item) {
  return array_all(item, cJSON_IsNumber);
}

/* completions "prompt": a non-empty string, or a non-empty array of strings
 * (joined with " ", as upstream's prefix hashing does), or token ids — an array of integers or an
 * array of such arrays (compact JSON). */
static int completions_prompt(sy_arena_t *arena, const char *body, size_t len, const cJSON *root,
                              const cJSON *p, sy_openai_request_t *out) {
  if (cJSON_IsString(p) && p->valuestring[0])
    return copy_string(arena, p->valuestring, &out->prompt, &out->prompt_len);
  if (array_all(p, cJSON_IsString)) {
    size_t total = 0;
    for (const cJSON *c = p->child; c; c = c->next) total += strlen(c->valuestring) + 1;
    char *buf = sy_arena_alloc(arena, total + 1);
    if (!buf) return -ENOMEM;
    size_t off = 0;
    for (const cJSON *c = p->child; c; c = c->next) {
      size_t n = strlen(c->valuestring);
      if (c != p->child) buf[off++] = ' ';
      memcpy(buf + off, c->valuestring, n);
      off += n;
    }
    buf[off] = '\0';
    out->prompt = buf;
    out->prompt_len = off;
    return 0;
  }
  if (array_all(p, cJSON_IsNumber) || array_all(p, is_token_list))
    return compact_member(arena, body, len, root, p, &out->prompt, &out->prompt_len);
  return SY_EPARSE;
}

/* ------------------------------------------------------------- requests */

int sy_openai_parse_request(sy_arena_t *arena, sy_openai_api_t api, const char *body, size_t len,
                            sy_openai_request_t *out, char *errbuf, size_t errlen) {
  cJSON *root = NULL;
  int rc = 0;
  size_t err_off = 0;
  const char *err_what = NULL;

  memset(out, 0, sizeof(*out));
  out->api = api;
  set_err(errbuf, errlen, "%s", "");

  root = sy_openai__parse(body, len, &err_off, &err_what);
  if (!root || !cJSON_IsObject(root)) {
    if (root)
      set_err(errbuf, errlen, "error unmarshaling request body: %s", "body is not a JSON object");
    else if (err_off >= len)
      set_err(errbuf, errlen, "error unmarshaling request body: %s", err_what);
    else
      set_err(errbuf, errlen, "error unmarshaling request body: %s at offset %zu", err_what, err_off);
    rc = SY_EPARSE;
    goto out;
  }

  /* One pass over the top level; for duplicate keys the last one wins. */
  cJSON *model = NULL, *stream = NULL, *opts = NULL, *salt = NULL, *field = NULL;
  const char *field_name;
  switch (api) {
    case SY_OPENAI_CHAT: field_name = "messages"; break;
    case SY_OPENAI_RESPONSES:
    case SY_OPENAI_EMBEDDINGS: field_name = "input"; break;
    case SY_OPENAI_CONVERSATIONS: field_name = "items"; break;
    case SY_OPENAI_COMPLETIONS:
    default: field_name = "prompt"; break;
  }
  for (cJSON *c = root->child; c; c = c->next) {
    const char *k = c->string;
    if (!k) continue;
    if (strcmp(k, "model") == 0) model = c;
    else if (strcmp(k, "stream") == 0) stream = c;
    else if (strcmp(k, "stream_options") == 0) opts = c;
    else if (strcmp(k, "cache_salt") == 0) salt = c;
    else if (strcmp(k, field_name) == 0) field = c;
  }

  if (!cJSON_IsString(model) || model->valuestring[0] == '\0') {
    set_err(errbuf, errlen, "%s", "model not found in request body");
    rc = SY_EPARSE;
    goto out;
  }

  switch (api) {
    case SY_OPENAI_CHAT:
      if (!cJSON_IsArray(field) || !field->child) {
        set_err(errbuf, errlen, "%s", "invalid chat completions request: must have valid messages field");
        rc = SY_EPARSE;
        goto out;
      }
      rc = compact_member(arena, body, len, root, field, &out->prompt, &out->prompt_len);
      break;
    case SY_OPENAI_RESPONSES:
    case SY_OPENAI_EMBEDDINGS:
      if (!field || cJSON_IsNull(field)) {
        set_err(errbuf, errlen, "invalid %s request: must have input field",
                api == SY_OPENAI_RESPONSES ? "responses" : "embeddings");
        rc = SY_EPARSE;
        goto out;
      }
      if (cJSON_IsString(field))
        rc = copy_string(arena, field->valuestring, &out->prompt, &out->prompt_len);
      else
        rc = compact_member(arena, body, len, root, field, &out->prompt, &out->prompt_len);
      break;
    case SY_OPENAI_CONVERSATIONS:
      if (!cJSON_IsArray(field) || !field->child) {
        set_err(errbuf, errlen, "%s", "invalid conversations request: must have items field");
        rc = SY_EPARSE;
        goto out;
      }
      rc = compact_member(arena, body, len, root, field, &out->prompt, &out->prompt_len);
      break;
    case SY_OPENAI_COMPLETIONS:
    default:
      rc = completions_prompt(arena, body, len, root, field, out);
      if (rc == SY_EPARSE)
        set_err(errbuf, errlen, "%s", "invalid completions request: must have prompt field");
      break;
  }
  if (rc) goto out;

  if ((rc = copy_string(arena, model->valuestring, &out->model, NULL))) goto out;
  if (cJSON_IsString(salt) && (rc = copy_string(arena, salt->valuestring, &out->cache_salt, NULL)))
    goto out;
  out->stream = cJSON_IsTrue(stream);
  out->include_usage = cJSON_IsTrue(sy_openai__get(opts, "include_usage"));

out:
  cJSON_Delete(root);
  if (rc) {
    sy_openai_api_t keep = out->api;
    memset(out, 0, sizeof(*out));
    out->api = keep;
    if (rc == -ENOMEM)
      set_err(errbuf, errlen, "%s", "out of memory parsing request body");
    else if (errbuf && errlen && !errbuf[0]) /* cannot happen: see compact_member */
      set_err(errbuf, errlen, "%s", "error unmarshaling request body: internal scan error");
  }
  return rc;
}

/* ------------------------------------------------------------ rewriting */

/* The body is validated (and its keys decoded) by cJSON, then written out
 * member by member from its own text, whitespace removed: the first "model"
 * gets the new value, later duplicates are dropped, and one is appended when
 * there was none. Nothing else is re-serialised. */
int sy_openai_rewrite_model(sy_arena_t *arena, const char *body, size_t len, const char *model,
                            char **out, size_t *out_len) {
  static const char key[] = "\"model\":";
  cJSON *root = NULL;
  size_t err_off;
  const char *err_what;
  int rc = 0;

  *out = NULL;
  *out_len = 0;
  if (!model) return SY_EINVAL;
  root = sy_openai__parse(body, len, &err_off, &err_what);
  if (!cJSON_IsObject(root)) {
    rc = SY_EPARSE;
    goto out;
  }
  size_t esc = sy_openai__escape(NULL, model);
  /* every member costs at most its own text; plus the new model member,
   * a comma and the braces */
  if (esc > SIZE_MAX - len - sizeof(key) - 8) {
    rc = -ENOMEM;
    goto out;
  }
  char *buf = sy_arena_alloc(arena, len + esc + sizeof(key) + 8);
  if (!buf) {
    rc = -ENOMEM;
    goto out;
  }
  const char *cur = sy_openai__obj_open(body, len), *end = body + len;
  sy_openai__member_t m;
  size_t o = 0;
  bool done = false;
  buf[o++] = '{';
  for (const cJSON *c = root->child; c; c = c->next) {
    if (!cur || !sy_openai__obj_next(&cur, end, &m)) {
      assert(!"raw JSON walk disagrees with cJSON");
      rc = SY_EPARSE;
      goto out;
    }
    bool is_model = c->string && strcmp(c->string, "model") == 0;
    if (is_model && done) continue;
    if (o > 1) buf[o++] = ',';
    if (is_model) {
      memcpy(buf + o, key, sizeof(key) - 1);
      o += sizeof(key) - 1;
      o += sy_openai__escape(buf + o, model);
      done = true;
    } else {
      o += sy_openai__minify(buf + o, m.key, m.key_end);
      buf[o++] = ':';
      o += sy_openai__minify(buf + o, m.val, m.val_end);
    }
  }
  if (!done) {
    if (o > 1) buf[o++] = ',';
    memcpy(buf + o, key, sizeof(key) - 1);
    o += sizeof(key) - 1;
    o += sy_openai__escape(buf + o, model);
  }
  buf[o++] = '}';
  buf[o] = '\0';
  *out = buf;
  *out_len = o;

out:
  cJSON_Delete(root);
  return rc;
}
