/*
 * openai — parsing of OpenAI-style request bodies (what the scheduler needs:
 * model, stream flag, prompt text) and of responses (token usage from JSON
 * bodies and from SSE streams). Pure functions over bytes: no I/O.
 *
 * Memory: request results live in the caller's arena (one per ext_proc
 * stream). cJSON trees are never kept: fields are copied out and the tree is
 * freed before returning.
 */
#ifndef SY_OPENAI_H
#define SY_OPENAI_H

#include <stdbool.h>
#include <stddef.h>

#include "core.h"

typedef enum sy_openai_api {
  SY_OPENAI_COMPLETIONS = 0, /* /v1/completions (also the fallback) */
  SY_OPENAI_CHAT,            /* /v1/chat/completions */
  SY_OPENAI_RESPONSES,       /* /v1/responses */
  SY_OPENAI_EMBEDDINGS,      /* /v1/embeddings */
  SY_OPENAI_CONVERSATIONS,   /* /v1/conversations */
} sy_openai_api_t;

/* The API is chosen by the suffix of the request path (query string
 * ignored), as upstream does; anything unknown is COMPLETIONS. */
sy_openai_api_t sy_openai_api_from_path(const char *path, size_t len);
const char *sy_openai_api_name(sy_openai_api_t api);

typedef struct sy_openai_request {
  sy_openai_api_t api;
  char *model;         /* never NULL on success */
  bool stream;         /* "stream": true */
  bool include_usage;  /* "stream_options": {"include_usage": true} */
  /* The text the prefix-cache scorer hashes: completions → the prompt (an
   * array of strings is joined with " ", as upstream); chat → the compact JSON of
   * "messages"; responses → "input" (string, or compact JSON when not a
   * string); embeddings → "input" likewise; conversations → compact JSON of
   * "items". "Compact JSON" is the member's own text from the body with the
   * whitespace removed (escapes and number spellings kept as sent; not a
   * re-serialisation). Completions token ids (an array of integers, or of
   * arrays of integers) are accepted too, as compact JSON. Always
   * NUL-terminated, but prompt_len is authoritative (a string may hold a
   * raw NUL byte). */
  char *prompt;
  size_t prompt_len;
  char *cache_salt; /* "cache_salt" when present, else NULL */
} sy_openai_request_t;

/* Parses a request body. On success returns 0 and fills *out (strings in
 * `arena`). On failure returns SY_EPARSE and writes a message into errbuf
 * with upstream's wording:
 *   "model not found in request body"
 *   "error unmarshaling request body: <detail>"
 *   "invalid chat completions request: must have valid messages field"
 *   "invalid completions request: must have prompt field"
 *   "invalid responses request: must have input field"
 *   "invalid embeddings request: must have input field"
 *   "invalid conversations request: must have items field"
 * -ENOMEM when the arena is exhausted. */
int sy_openai_parse_request(sy_arena_t *arena, sy_openai_api_t api, const char *body, size_t len,
                            sy_openai_request_t *out, char *errbuf, size_t errlen);

/* Returns in *out a copy of `body` whose top-level "model" is `model`
 * (re-serialised compactly), allocated from `arena`. SY_EPARSE if the body is
 * not a JSON object. The first "model" member keeps its place (later
 * duplicates are dropped; one is appended when absent); every other member is
 * copied as written, minus whitespace. *out is NUL-terminated, *out_len is
 * authoritative. SY_EINVAL for a NULL model, -ENOMEM when the arena is
 * exhausted. */
int sy_openai_rewrite_model(sy_arena_t *arena, const char *body, size_t len, const char *model,
                            char **out, size_t *out_len);

typedef struct sy_openai_usage {
  bool found;
  long prompt_tokens;     /* or input_tokens (Responses API) */
  long completion_tokens; /* or output_tokens */
  long total_tokens;
  long cached_tokens;     /* usage.prompt_token_details.cached_tokens, else
                           * prompt_tokens_details (OpenAI/vLLM spelling), else
                           * input_tokens_details (Responses API) */
} sy_openai_usage_t;

/* Reads "usage" from a complete JSON response body. Returns 0 (usage.found
 * tells whether it was there) or SY_EPARSE for a body that is not JSON. */
int sy_openai_usage_from_json(const char *body, size_t len, sy_openai_usage_t *out);

/* Incremental SSE scanner for streamed responses: feed it body chunks as
 * they pass through; it reassembles "data: ..." lines across chunk borders
 * (each line bounded by max_line; longer lines are skipped, not an error),
 * ignores "[DONE]", and keeps the first usage found (Responses API: the
 * "response.completed" event's response.usage). Not thread-safe. */
typedef struct sy_openai_sse {
  sy_buf_t line;
  bool skipping; /* inside an over-long line */
  sy_openai_usage_t usage;
} sy_openai_sse_t;

void sy_openai_sse_init(sy_openai_sse_t *s, size_t max_line);
void sy_openai_sse_feed(sy_openai_sse_t *s, const char *data, size_t len);
/* End of stream: examines a last line that had no terminating newline (a
 * stream cut short). Optional; sy_openai_sse_feed alone only looks at
 * complete lines. */
void sy_openai_sse_finish(sy_openai_sse_t *s);
void sy_openai_sse_cleanup(sy_openai_sse_t *s);

/* Streaming reverse of a model rewrite, as upstream: in response bodies
 * `"model":"<served>"` and `"model": "<served>"` become the same with
 * <requested>. Chunk borders may split a pattern: the few bytes that could
 * start one are held back until the next chunk decides (or the end of the
 * stream flushes them). */
typedef struct sy_openai_unrewrite {
  char *pat[2], *rep[2]; /* owned */
  size_t pat_len[2], rep_len[2];
  char *carry;           /* owned, < the longest pattern */
  size_t carry_len;
  sy_buf_t out, work;
} sy_openai_unrewrite_t;

/* 0, SY_EINVAL (empty or over-long names) or -ENOMEM. */
int sy_openai_unrewrite_init(sy_openai_unrewrite_t *u, const char *served, const char *requested);
/* Transforms one chunk; *out (valid until the next call) may be shorter
 * than `len` by what is held back, and is empty (*out_len 0) when all of it
 * is. With eos the held bytes are flushed. 0, -ENOMEM or SY_ETOOBIG (a
 * chunk over 1 GiB). */
int sy_openai_unrewrite_feed(sy_openai_unrewrite_t *u, const char *data, size_t len, bool eos, const char **out,
                             size_t *out_len);
void sy_openai_unrewrite_cleanup(sy_openai_unrewrite_t *u);

#endif /* SY_OPENAI_H */
