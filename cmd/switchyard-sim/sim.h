/*
 * switchyard-sim — a vLLM-compatible model-server simulator. This header
 * holds the pure parts shared by the server and the unit tests: flags,
 * request parsing, and the rendering of response bodies, SSE events and
 * /metrics. Nothing here does I/O or reads a clock; callers pass times in.
 *
 * Thread-safety: none needed; everything runs on the lws service thread.
 */
#ifndef SY_SIM_H
#define SY_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core.h"
#include "model.h"

/* ---------------------------------------------------------------- config */

#define SY_SIM_MAX_OUTPUT_TOKENS 4096
#define SY_SIM_DEFAULT_MODEL "meta-llama/Llama-3.1-8B-Instruct"

typedef struct sy_sim_config {
  char *listen_host; /* "" = all interfaces */
  int listen_port;
  char *model;
  char *loras[SY_SIM_MAX_LORAS];
  int n_loras;
  int max_loras; /* adapters loaded at once (GPU slots); the max_lora label */
  char *instance_id;
  sy_sim_latency_t latency; /* resolved from --latency-calculator / the flags given */
  double ttft_ms, itl_ms;
  double prefill_overhead_ms, prefill_ms_per_token;
  double ttft_std_ms, itl_std_ms, itl_load_factor;
  double lora_load_ms;
  bool prefix_caching, serial_prefill;
  int max_num_seqs, max_queue;
  int output_tokens;
  int kv_blocks, block_size;
  int chars_per_token; /* prompt bytes per token (the sim has no tokenizer) */
  long max_body_bytes;
  uint64_t seed;
  bool seed_set;
  int verbosity; /* sy_log level, 0..5 */
} sy_sim_config_t;

/* Parses Go-style flags (`--flag value`, `--flag=value`, one or two
 * dashes). Returns 0, 1 when --help was given (nothing else is parsed), or
 * SY_EINVAL with a message in err. Allocates strings: call
 * sy_sim_config_cleanup in every case. */
int sy_sim_config_parse(sy_sim_config_t *c, int argc, char **argv, char *err, size_t errlen);
void sy_sim_config_cleanup(sy_sim_config_t *c);
void sy_sim_config_usage(FILE *f);
/* Adapter index of `name`, or -1. */
int sy_sim_config_lora_index(const sy_sim_config_t *c, const char *name);

/* -------------------------------------------------------------- requests */

typedef enum sy_sim_api {
  SY_SIM_API_COMPLETIONS = 0, /* POST /v1/completions */
  SY_SIM_API_CHAT,            /* POST /v1/chat/completions */
} sy_sim_api_t;

typedef struct sy_sim_request {
  sy_sim_api_t api;
  char *model; /* as requested (base model or adapter name) */
  int lora;    /* adapter index, -1 = base model */
  bool stream;
  bool include_usage; /* stream_options.include_usage */
  int max_tokens;     /* 0 when the request did not say */
  size_t prompt_bytes; /* of the prompt text (see sy_sim_request_parse) */
  int prompt_tokens;   /* >= 1: prompt_bytes / chars_per_token, rounded up */
  uint64_t *block_hashes; /* chained hashes of the full blocks (owned) */
  int n_block_hashes;
} sy_sim_request_t;

/* An error to send back: HTTP status, OpenAI error type and message. */
typedef struct sy_sim_error {
  int status;
  const char *type;
  char message[512];
} sy_sim_error_t;

/* Parses and validates a request body for `api` against the models `c`
 * serves, and hashes its prompt text into blocks of block_size ×
 * chars_per_token bytes (sy_sim_hasher_t, seeded by the requested model or
 * adapter name plus `cache_salt`). The prompt text: completions, the
 * `prompt` string, or an array's strings joined with " " (as the EPP joins
 * them), token ids contributing chars_per_token bytes each (the id's
 * little-endian bytes, zero-padded); chat, every message's role followed by
 * its content (string, or the text parts concatenated), in order, without
 * separators. 0 on success (call sy_sim_request_cleanup later); SY_EPARSE
 * with *err set (400 malformed/invalid, 404 unknown model); -ENOMEM. */
int sy_sim_request_parse(sy_sim_request_t *r, sy_sim_api_t api, const char *body, size_t len,
                         const sy_sim_config_t *c, sy_sim_error_t *err);
void sy_sim_request_cleanup(sy_sim_request_t *r);

/* Output tokens for a request: its max_tokens capped at
 * SY_SIM_MAX_OUTPUT_TOKENS, else the configured default. */
int sy_sim_request_output_tokens(const sy_sim_request_t *r, const sy_sim_config_t *c);

/* ------------------------------------------------------------- rendering */

/* What every response body of one request shares. */
typedef struct sy_sim_resp {
  sy_sim_api_t api;
  const char *id;    /* "cmpl-…" / "chatcmpl-…" */
  const char *model; /* echoed from the request */
  long created;      /* unix seconds */
  uint64_t text_seed;
  int prompt_tokens;
  int completion_tokens;
  int cached_tokens; /* usage.prompt_tokens_details.cached_tokens */
} sy_sim_resp_t;

/* Text of generated token k (1-based): a filler word, with a leading space
 * from the second token on. Deterministic in (seed, k). */
const char *sy_sim_token_word(uint64_t seed, int k, bool *leading_space);

/* All return 0, -ENOMEM or SY_ETOOBIG (the buffer's max). They append. */
int sy_sim_render_error(sy_buf_t *b, int status, const char *type, const char *message);
int sy_sim_render_detail(sy_buf_t *b, const char *detail); /* {"detail":...} */
int sy_sim_render_response(sy_buf_t *b, const sy_sim_resp_t *r);
/* One "data: {chunk}\n\n" event for token k; the first chat token is
 * preceded by the role-only chunk. `last` sets finish_reason. */
int sy_sim_render_token_event(sy_buf_t *b, const sy_sim_resp_t *r, int k, bool last);
int sy_sim_render_usage_event(sy_buf_t *b, const sy_sim_resp_t *r);
int sy_sim_render_done_event(sy_buf_t *b);
int sy_sim_render_models(sy_buf_t *b, const sy_sim_config_t *c, long created);
/* Prometheus text format 0.0.4. */
int sy_sim_render_metrics(sy_buf_t *b, const sy_sim_model_t *m, const sy_sim_config_t *c, uint64_t now_ns,
                          double wall_now);

/* --------------------------------------------------------- chunked body */

/* Decoder for a chunked request body. lws 4.1 does not decode chunked
 * uploads: it hands the raw framing to LWS_CALLBACK_HTTP_BODY. */
typedef struct sy_sim_chunked {
  int state;
  uint64_t remain; /* data bytes left in the current chunk */
  int digits;      /* hex digits seen in the size line */
  size_t line;     /* bytes of the current size or trailer line */
  bool done;       /* the last chunk and the trailer section have been read */
} sy_sim_chunked_t;

typedef int (*sy_sim_chunked_sink_t)(void *ctx, const char *data, size_t n);

void sy_sim_chunked_init(sy_sim_chunked_t *d);
/* Feeds raw bytes; payload goes to sink(ctx, …) (a non-zero return from the
 * sink is passed back). Returns 0 (check d->done) or SY_EPARSE on bad
 * framing. Bytes after the end of the body are ignored. */
int sy_sim_chunked_feed(sy_sim_chunked_t *d, const char *in, size_t len, sy_sim_chunked_sink_t sink, void *ctx);

/* Appends `s` (n bytes) as a JSON string literal, quotes included. */
int sy_sim_json_str(sy_buf_t *b, const char *s, size_t n);

#endif /* SY_SIM_H */
