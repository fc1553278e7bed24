/* OpenAI request parsing and response/SSE rendering, as vLLM shapes them. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim.h"

/* ------------------------------------------------------------------ JSON */

int sy_sim_json_str(sy_buf_t *b, const char *s, size_t n) {
  int rc = sy_buf_append(b, "\"", 1);
  size_t run = 0; /* bytes that need no escaping, appended in one go */
  for (size_t i = 0; rc == 0 && i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      run++;
      continue;
    }
    if (run) rc = sy_buf_append(b, s + i - run, run);
    run = 0;
    if (rc) break;
    switch (c) {
      case '"': rc = sy_buf_append(b, "\\\"", 2); break;
      case '\\': rc = sy_buf_append(b, "\\\\", 2); break;
      case '\n': rc = sy_buf_append(b, "\\n", 2); break;
      case '\r': rc = sy_buf_append(b, "\\r", 2); break;
      case '\t': rc = sy_buf_append(b, "\\t", 2); break;
      default: rc = sy_buf_printf(b, "\\u%04x", c); break;
    }
  }
  if (rc == 0 && run) rc = sy_buf_append(b, s + n - run, run);
  if (rc == 0) rc = sy_buf_append(b, "\"", 1);
  return rc;
}

static int json_cstr(sy_buf_t *b, const char *s) { return sy_sim_json_str(b, s, strlen(s)); }

/* -------------------------------------------------------------- requests */

static int req_error(sy_sim_error_t *e, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int req_error(sy_sim_error_t *e, int status, const char *type, const char *fmt, ...) {
  e->status = status;
  e->type = type;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof(e->message), fmt, ap);
  va_end(ap);
  return SY_EPARSE;
}

#define BAD(e, ...) req_error((e), 400, "BadRequestError", __VA_ARGS__)

/* Feeds a hasher and keeps its first allocation failure. */
typedef struct prompt_text {
  sy_sim_hasher_t h;
  int cpt; /* chars per token */
  int rc;
} prompt_text_t;

static void feed(prompt_text_t *t, const void *d, size_t n) {
  if (!t->rc && n) t->rc = sy_sim_hasher_feed(&t->h, d, n);
}

/* A token id stands for chars_per_token bytes of text: its little-endian
 * bytes, zero-padded. */
static void feed_id(prompt_text_t *t, double id) {
  unsigned char b[64] = {0};
  uint32_t v = (uint32_t)(int64_t)id;
  for (int i = 0; i < 4 && i < t->cpt; i++) b[i] = (unsigned char)(v >> (8 * i));
  feed(t, b, (size_t)t->cpt);
}

/* The prompt of a completions request: a string, an array of strings, an
 * array of token ids, or an array of token-id arrays. Several prompts are
 * concatenated (the sim answers with one choice); strings next to each other
 * are joined with " ", as the EPP joins them before hashing. */
static int prompt_text(const cJSON *p, prompt_text_t *t, sy_sim_error_t *e) {
  if (cJSON_IsString(p)) {
    size_t n = strlen(p->valuestring);
    if (!n) return BAD(e, "The prompt cannot be empty.");
    feed(t, p->valuestring, n);
    return 0;
  }
  if (!cJSON_IsArray(p) || !cJSON_GetArraySize(p)) return BAD(e, "Either prompt or prompt_embeds must be provided and non-empty.");
  const cJSON *it;
  bool prev_string = false;
  cJSON_ArrayForEach(it, p) {
    if (cJSON_IsString(it)) {
      if (!*it->valuestring) return BAD(e, "The prompt cannot be empty.");
      if (prev_string) feed(t, " ", 1);
      feed(t, it->valuestring, strlen(it->valuestring));
    } else if (cJSON_IsNumber(it)) {
      feed_id(t, it->valuedouble);
    } else if (cJSON_IsArray(it)) {
      const cJSON *tok;
      if (!cJSON_GetArraySize(it)) return BAD(e, "The prompt cannot be empty.");
      cJSON_ArrayForEach(tok, it) {
        if (!cJSON_IsNumber(tok)) return BAD(e, "prompt: token ids must be integers");
        feed_id(t, tok->valuedouble);
      }
    } else {
      return BAD(e, "prompt: must be a string, an array of strings or an array of token ids");
    }
    prev_string = cJSON_IsString(it);
  }
  return 0;
}

/* Chat: each message's role, then its content (a string, or the text of
 * its parts), in order. */
static int messages_text(const cJSON *msgs, prompt_text_t *t, sy_sim_error_t *e) {
  if (!cJSON_IsArray(msgs) || !cJSON_GetArraySize(msgs))
    return BAD(e, "messages: a non-empty array of messages is required");
  const cJSON *m;
  int i = 0;
  cJSON_ArrayForEach(m, msgs) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    if (!cJSON_IsObject(m) || !cJSON_IsString(role)) return BAD(e, "messages[%d]: an object with a string role is required", i);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (content && !cJSON_IsNull(content) && !cJSON_IsString(content) && !cJSON_IsArray(content))
      return BAD(e, "messages[%d].content: must be a string, an array of parts or null", i);
    feed(t, role->valuestring, strlen(role->valuestring));
    if (cJSON_IsString(content)) {
      feed(t, content->valuestring, strlen(content->valuestring));
    } else if (cJSON_IsArray(content)) {
      const cJSON *part;
      cJSON_ArrayForEach(part, content) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(part)) feed(t, part->valuestring, strlen(part->valuestring));
        else if (cJSON_IsString(text)) feed(t, text->valuestring, strlen(text->valuestring));
      }
    }
    i++;
  }
  return 0;
}

static int get_max_tokens(const cJSON *root, const char *key, int *out, sy_sim_error_t *e) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) return BAD(e, "%s: an integer is required", key);
  if (v->valuedouble < 1) return BAD(e, "%s must be at least 1, got %.0f.", key, v->valuedouble);
  *out = v->valuedouble > SY_SIM_MAX_OUTPUT_TOKENS ? SY_SIM_MAX_OUTPUT_TOKENS : (int)v->valuedouble;
  return 0;
}

static int get_bool(const cJSON *obj, const char *key, bool *out, sy_sim_error_t *e) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsBool(v)) return BAD(e, "%s: a boolean is required", key);
  *out = cJSON_IsTrue(v);
  return 0;
}

void sy_sim_request_cleanup(sy_sim_request_t *r) {
  if (!r) return;
  SY_FREE(&r->model);
  SY_FREE(&r->block_hashes);
  r->n_block_hashes = 0;
}

int sy_sim_request_parse(sy_sim_request_t *r, sy_sim_api_t api, const char *body, size_t len,
                         const sy_sim_config_t *c, sy_sim_error_t *e) {
  memset(r, 0, sizeof(*r));
  memset(e, 0, sizeof(*e));
  r->api = api;
  r->lora = -1;
  int rc = 0;
  prompt_text_t text = {.cpt = c->chars_per_token};
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
  if (!root) {
    size_t at = end && end >= body ? (size_t)(end - body) : 0;
    return BAD(e, "Invalid JSON in request body (at byte %zu)", at);
  }
  for (; end && end < body + len; end++) {
    if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
      rc = BAD(e, "Invalid JSON in request body: trailing data at byte %zu", (size_t)(end - body));
      goto out;
    }
  }
  if (!cJSON_IsObject(root)) {
    rc = BAD(e, "The request body must be a JSON object");
    goto out;
  }

  const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
  if (!model || cJSON_IsNull(model)) {
    rc = BAD(e, "model: a model name is required");
    goto out;
  }
  if (!cJSON_IsString(model)) {
    rc = BAD(e, "model: a string is required");
    goto out;
  }
  if (strcmp(model->valuestring, c->model) != 0) {
    r->lora = sy_sim_config_lora_index(c, model->valuestring);
    if (r->lora < 0) {
      rc = req_error(e, 404, "NotFoundError", "The model `%.400s` does not exist.", model->valuestring);
      goto out;
    }
  }

  /* vLLM's cache_salt isolates prefix caching; the EPP seeds its hashes
   * with it too. */
  const cJSON *salt = cJSON_GetObjectItemCaseSensitive(root, "cache_salt");
  if (salt && !cJSON_IsNull(salt) && (!cJSON_IsString(salt) || !*salt->valuestring)) {
    rc = BAD(e, "cache_salt: a non-empty string is required");
    goto out;
  }
  size_t block_chars = (size_t)c->block_size * (size_t)c->chars_per_token;
  rc = sy_sim_hasher_init(&text.h, model->valuestring, cJSON_IsString(salt) ? salt->valuestring : NULL, block_chars,
                          c->prefix_caching ? c->kv_blocks : 0);
  if (rc) goto out;
  if (api == SY_SIM_API_CHAT) {
    rc = messages_text(cJSON_GetObjectItemCaseSensitive(root, "messages"), &text, e);
    if (rc == 0) rc = get_max_tokens(root, "max_tokens", &r->max_tokens, e);
    /* The newer name wins when both are present, as in the OpenAI API. */
    if (rc == 0) rc = get_max_tokens(root, "max_completion_tokens", &r->max_tokens, e);
  } else {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p || cJSON_IsNull(p)) rc = BAD(e, "Either prompt or prompt_embeds must be provided and non-empty.");
    else rc = prompt_text(p, &text, e);
    if (rc == 0) rc = get_max_tokens(root, "max_tokens", &r->max_tokens, e);
  }
  if (rc == 0) rc = text.rc;
  if (rc == 0) rc = get_bool(root, "stream", &r->stream, e);
  if (rc == 0) {
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
      if (!cJSON_IsObject(so)) rc = BAD(e, "stream_options: an object is required");
      else rc = get_bool(so, "include_usage", &r->include_usage, e);
    }
  }
  if (rc) goto out;

  /* The sim has no tokenizer: chars_per_token bytes of text make a token. */
  r->prompt_bytes = text.h.total;
  size_t cpt = (size_t)c->chars_per_token;
  size_t toks = (r->prompt_bytes + cpt - 1) / cpt;
  r->prompt_tokens = toks < 1 ? 1 : (toks > 1000000000u ? 1000000000 : (int)toks);
  r->block_hashes = sy_sim_hasher_take(&text.h, &r->n_block_hashes);
  r->model = sy_strdup(model->valuestring);
  if (!r->model) rc = -ENOMEM;
out:
  sy_sim_hasher_cleanup(&text.h);
  if (rc) sy_sim_request_cleanup(r);
  cJSON_Delete(root);
  return rc;
}

int sy_sim_request_output_tokens(const sy_sim_request_t *r, const sy_sim_config_t *c) {
  int n = r->max_tokens > 0 ? r->max_tokens : c->output_tokens;
  if (n > SY_SIM_MAX_OUTPUT_TOKENS) n = SY_SIM_MAX_OUTPUT_TOKENS;
  return n < 1 ? 1 : n;
}

/* ------------------------------------------------------------- responses */

/* Plain ASCII words: they go into JSON strings without escaping. */
static const char *const words[] = {
    "the",     "model",    "server",  "routes",   "tokens", "quickly", "across", "every",   "replica",
    "while",   "cache",    "blocks",  "stay",     "warm",   "and",     "the",    "queue",   "drains",
    "a",       "request",  "arrives", "prefix",   "hits",   "often",   "keep",   "latency", "low",
    "under",   "load",     "so",      "users",    "see",    "fast",    "first",  "token",   "times",
    "streams", "continue", "steady",  "decoding", "yields", "text",    "from",   "simple",  "filler",
    "words",   "that",     "mean",    "nothing",  "at",     "all",     "but",    "look",    "plausible",
    "enough",  "for",      "tests",   "demos",    "or",     "bench",   "runs",   "today",
};

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

const char *sy_sim_token_word(uint64_t seed, int k, bool *leading_space) {
  if (leading_space) *leading_space = k > 1;
  return words[mix64(seed ^ mix64((uint64_t)k)) % SY_ARRAY_LEN(words)];
}

static int put_token(sy_buf_t *b, uint64_t seed, int k) {
  bool sp;
  const char *w = sy_sim_token_word(seed, k, &sp);
  int rc = sp ? sy_buf_append(b, " ", 1) : 0;
  return rc ? rc : sy_buf_append_str(b, w);
}

static int put_head(sy_buf_t *b, const sy_sim_resp_t *r, const char *object) {
  int rc = sy_buf_append_str(b, "{\"id\":");
  if (!rc) rc = json_cstr(b, r->id);
  if (!rc) rc = sy_buf_printf(b, ",\"object\":\"%s\",\"created\":%ld,\"model\":", object, r->created);
  if (!rc) rc = json_cstr(b, r->model);
  return rc;
}

static int put_usage(sy_buf_t *b, const sy_sim_resp_t *r) {
  return sy_buf_printf(b,
                       "\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d,\"completion_tokens\":%d,"
                       "\"prompt_tokens_details\":{\"cached_tokens\":%d}}",
                       r->prompt_tokens, r->prompt_tokens + r->completion_tokens, r->completion_tokens,
                       r->cached_tokens);
}

int sy_sim_render_error(sy_buf_t *b, int status, const char *type, const char *message) {
  int rc = sy_buf_append_str(b, "{\"error\":{\"message\":");
  if (!rc) rc = json_cstr(b, message);
  if (!rc) rc = sy_buf_append_str(b, ",\"type\":");
  if (!rc) rc = json_cstr(b, type);
  if (!rc) rc = sy_buf_printf(b, ",\"param\":null,\"code\":%d}}", status);
  return rc;
}

int sy_sim_render_detail(sy_buf_t *b, const char *detail) {
  int rc = sy_buf_append_str(b, "{\"detail\":");
  if (!rc) rc = json_cstr(b, detail);
  if (!rc) rc = sy_buf_append_str(b, "}");
  return rc;
}

int sy_sim_render_response(sy_buf_t *b, const sy_sim_resp_t *r) {
  bool chat = r->api == SY_SIM_API_CHAT;
  int rc = put_head(b, r, chat ? "chat.completion" : "text_completion");
  if (!rc)
    rc = sy_buf_append_str(b, chat ? ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\""
                                   : ",\"choices\":[{\"index\":0,\"text\":\"");
  for (int k = 1; !rc && k <= r->completion_tokens; k++) rc = put_token(b, r->text_seed, k);
  if (!rc) rc = sy_buf_append_str(b, chat ? "\"},\"logprobs\":null,\"finish_reason\":\"length\"}],"
                                          : "\",\"logprobs\":null,\"finish_reason\":\"length\"}],");
  if (!rc) rc = put_usage(b, r);
  if (!rc) rc = sy_buf_append_str(b, "}");
  return rc;
}

int sy_sim_render_token_event(sy_buf_t *b, const sy_sim_resp_t *r, int k, bool last) {
  bool chat = r->api == SY_SIM_API_CHAT;
  const char *object = chat ? "chat.completion.chunk" : "text_completion";
  int rc = 0;
  if (chat && k == 1) {
    rc = sy_buf_append_str(b, "data: ");
    if (!rc) rc = put_head(b, r, object);
    if (!rc)
      rc = sy_buf_append_str(b, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                                "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
  }
  if (!rc) rc = sy_buf_append_str(b, "data: ");
  if (!rc) rc = put_head(b, r, object);
  if (!rc) rc = sy_buf_append_str(b, chat ? ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" : ",\"choices\":[{\"index\":0,\"text\":\"");
  if (!rc) rc = put_token(b, r->text_seed, k);
  if (!rc) rc = sy_buf_append_str(b, chat ? "\"},\"logprobs\":null,\"finish_reason\":" : "\",\"logprobs\":null,\"finish_reason\":");
  if (!rc) rc = sy_buf_append_str(b, last ? "\"length\"}]}\n\n" : "null}]}\n\n");
  return rc;
}

int sy_sim_render_usage_event(sy_buf_t *b, const sy_sim_resp_t *r) {
  int rc = sy_buf_append_str(b, "data: ");
  if (!rc) rc = put_head(b, r, r->api == SY_SIM_API_CHAT ? "chat.completion.chunk" : "text_completion");
  if (!rc) rc = sy_buf_append_str(b, ",\"choices\":[],");
  if (!rc) rc = put_usage(b, r);
  if (!rc) rc = sy_buf_append_str(b, "}\n\n");
  return rc;
}

int sy_sim_render_done_event(sy_buf_t *b) { return sy_buf_append_str(b, "data: [DONE]\n\n"); }

static int put_model_card(sy_buf_t *b, const char *id, const char *parent, long created) {
  int rc = sy_buf_append_str(b, "{\"id\":");
  if (!rc) rc = json_cstr(b, id);
  if (!rc) rc = sy_buf_printf(b, ",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"vllm\",\"root\":", created);
  if (!rc) rc = json_cstr(b, id);
  if (!rc) rc = sy_buf_append_str(b, ",\"parent\":");
  if (!rc) rc = parent ? json_cstr(b, parent) : sy_buf_append_str(b, "null");
  if (!rc) rc = sy_buf_append_str(b, "}");
  return rc;
}

int sy_sim_render_models(sy_buf_t *b, const sy_sim_config_t *c, long created) {
  int rc = sy_buf_append_str(b, "{\"object\":\"list\",\"data\":[");
  if (!rc) rc = put_model_card(b, c->model, NULL, created);
  for (int i = 0; !rc && i < c->n_loras; i++) {
    rc = sy_buf_append_str(b, ",");
    if (!rc) rc = put_model_card(b, c->loras[i], c->model, created);
  }
  if (!rc) rc = sy_buf_append_str(b, "]}");
  return rc;
}
