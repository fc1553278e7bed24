/* libFuzzer target: OpenAI request bodies (lib/openai).
 *
 * Input: one selector byte, then the body.
 *   bits 0-2  API = (bits % 5): 0 completions, 1 chat, 2 responses,
 *             3 embeddings, 4 conversations (ASCII '0'..'4' pick them)
 *   bit 3     tight arena (256 bytes) to exercise -ENOMEM paths ('8', '9')
 * The body is also fed to sy_openai_api_from_path.
 *
 * Invariants (abort on violation), checked against an independent cJSON
 * parse of the same body:
 *   - errors are SY_EPARSE with a message, or -ENOMEM;
 *   - the prompt is the field's string, the strings joined with " ", or compact
 *     JSON that parses back to the same tree as the field;
 *   - the rewritten body has exactly the new model and otherwise the same
 *     members in the same order, and parses to the same prompt and flags. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char new_model[] = "rewritten/model-\xc3\xa9\"\\\x01";

static void check(bool ok) {
  if (!ok) abort();
}

static bool is_model(const cJSON *c) { return c->string && strcmp(c->string, "model") == 0; }

/* Exact structural equality, order and duplicates included; with
 * skip_model, top-level "model" members are ignored on both sides. */
static bool same_tree(const cJSON *a, const cJSON *b, bool skip_model) {
  if (!a || !b) return a == b;
  if ((a->type & 0xff) != (b->type & 0xff)) return false;
  if (cJSON_IsNumber(a)) return a->valuedouble == b->valuedouble;
  if (cJSON_IsString(a)) return strcmp(a->valuestring, b->valuestring) == 0;
  if (!cJSON_IsArray(a) && !cJSON_IsObject(a)) return true;
  const cJSON *x = a->child, *y = b->child;
  for (;;) {
    while (skip_model && x && is_model(x)) x = x->next;
    while (skip_model && y && is_model(y)) y = y->next;
    if (!x || !y) return x == y;
    if (cJSON_IsObject(a) && strcmp(x->string, y->string) != 0) return false;
    if (!same_tree(x, y, false)) return false;
    x = x->next;
    y = y->next;
  }
}

static const cJSON *last_member(const cJSON *obj, const char *key) {
  const cJSON *found = NULL;
  for (const cJSON *c = obj->child; c; c = c->next)
    if (strcmp(c->string, key) == 0) found = c;
  return found;
}

static void check_prompt(sy_openai_api_t api, const cJSON *root, const sy_openai_request_t *r) {
  static const char *const field_names[] = {"prompt", "messages", "input", "input", "items"};
  const cJSON *f = last_member(root, field_names[api]);
  check(f != NULL);
  if (cJSON_IsString(f)) {
    check(strlen(f->valuestring) == r->prompt_len && memcmp(f->valuestring, r->prompt, r->prompt_len) == 0);
  } else if (api == SY_OPENAI_COMPLETIONS && cJSON_IsString(f->child)) {
    size_t off = 0; /* the strings joined with " " */
    for (const cJSON *c = f->child; c; c = c->next) {
      if (c != f->child) {
        check(off < r->prompt_len && r->prompt[off] == ' ');
        off++;
      }
      size_t n = strlen(c->valuestring);
      check(off + n <= r->prompt_len && memcmp(r->prompt + off, c->valuestring, n) == 0);
      off += n;
    }
    check(off == r->prompt_len);
  } else {
    cJSON *p = cJSON_ParseWithLength(r->prompt, r->prompt_len);
    check(p != NULL && same_tree(p, f, false));
    cJSON_Delete(p);
  }
  check(r->prompt[r->prompt_len] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  uint8_t sel = data[0];
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  sy_openai_api_t api = (sy_openai_api_t)((sel & 7) % 5);
  bool tight = (sel & 8) != 0;

  check(sy_openai_api_from_path(body, len) <= SY_OPENAI_CONVERSATIONS);

  sy_arena_t arena;
  sy_arena_init(&arena, tight ? 64 : 4096, tight ? 256 : 0);
  char err[160];
  sy_openai_request_t r;
  int rc = sy_openai_parse_request(&arena, api, body, len, &r, err, sizeof(err));
  check(r.api == api);
  cJSON *root = NULL;
  if (rc == 0) {
    check(r.model && r.model[0] && r.prompt);
    root = cJSON_ParseWithLength(body, len);
    check(cJSON_IsObject(root));
    check(strcmp(r.model, last_member(root, "model")->valuestring) == 0);
    check_prompt(api, root, &r);
  } else {
    check(rc == SY_EPARSE || rc == -ENOMEM);
    check(err[0] != '\0' && !r.model && !r.prompt);
  }

  char *out = NULL;
  size_t out_len = 0;
  int w = sy_openai_rewrite_model(&arena, body, len, new_model, &out, &out_len);
  check(w == 0 || w == SY_EPARSE || w == -ENOMEM);
  if (w == 0) {
    check(out && out[out_len] == '\0');
    cJSON *o = cJSON_ParseWithLength(out, out_len);
    check(cJSON_IsObject(o));
    int models = 0;
    for (const cJSON *c = o->child; c; c = c->next)
      if (is_model(c)) models++, check(cJSON_IsString(c) && strcmp(c->valuestring, new_model) == 0);
    check(models == 1);
    if (!root) root = cJSON_ParseWithLength(body, len);
    check(same_tree(root, o, true));
    cJSON_Delete(o);
  }
  if (rc == 0 && w == 0) {
    sy_openai_request_t r2;
    int rc2 = sy_openai_parse_request(&arena, api, out, out_len, &r2, err, sizeof(err));
    check(rc2 == 0 || rc2 == -ENOMEM);
    if (rc2 == 0) {
      check(strcmp(r2.model, new_model) == 0);
      check(r2.stream == r.stream && r2.include_usage == r.include_usage);
      check(r2.prompt_len == r.prompt_len && memcmp(r2.prompt, r.prompt, r.prompt_len) == 0);
      check((r2.cache_salt == NULL) == (r.cache_salt == NULL));
    }
  }
  cJSON_Delete(root);
  sy_arena_cleanup(&arena);
  return 0;
}
