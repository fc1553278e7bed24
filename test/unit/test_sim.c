/* Unit tests for switchyard-sim's pure parts: engine model, flags, request
 * parsing, rendering, chunked decoding and /metrics. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim.h"
#include "test_support.h"

#define MS 1000000ull

static sy_sim_model_params_t params(void) {
  return (sy_sim_model_params_t){
      .ttft_ms = 20, .itl_ms = 5, .max_num_seqs = 2, .max_queue = 2, .kv_blocks = 100, .block_size = 16, .n_loras = 2};
}

static sy_sim_req_t mk(int prompt, int out, int lora) {
  sy_sim_req_t r;
  memset(&r, 0, sizeof(r));
  r.prompt_tokens = prompt;
  r.output_tokens = out;
  r.lora = lora;
  return r;
}

/* ----------------------------------------------------------------- model */

START_TEST(model_rejects_bad_params) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  p.max_num_seqs = 0;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), SY_EINVAL);
  p = params();
  p.itl_ms = -1;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), SY_EINVAL);
  p = params();
  p.n_loras = SY_SIM_MAX_LORAS + 1;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), SY_EINVAL);
}
END_TEST

START_TEST(model_slots_queue_fifo) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  sy_sim_req_t a = mk(10, 3, -1), b = mk(10, 3, -1), c = mk(10, 3, 0), d = mk(10, 3, 1), e = mk(10, 3, -1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &a, 0), 1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &b, 0), 1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &c, 1 * MS), 0);
  ck_assert_int_eq(sy_sim_model_submit(&m, &d, 2 * MS), 0);
  ck_assert_int_eq(sy_sim_model_submit(&m, &e, 3 * MS), SY_ETOOBIG);
  ck_assert_int_eq(e.state, SY_SIM_REQ_NEW);
  ck_assert_int_eq(m.n_running, 2);
  ck_assert_int_eq(m.n_waiting, 2);
  ck_assert_int_eq(m.lora_waiting[0], 1);
  ck_assert_int_eq(m.lora_waiting[1], 1);
  ck_assert_ptr_null(sy_sim_model_admit(&m, 5 * MS));

  sy_sim_model_finish(&m, &b, 30 * MS);
  ck_assert_int_eq(b.state, SY_SIM_REQ_DONE);
  ck_assert_ptr_eq(sy_sim_model_admit(&m, 30 * MS), &c); /* FIFO head first */
  ck_assert_ptr_null(sy_sim_model_admit(&m, 30 * MS));
  ck_assert_int_eq(c.start_ns, 30 * MS);
  ck_assert_int_eq(m.lora_running[0], 1);
  ck_assert_int_eq(m.lora_waiting[0], 0);

  /* Aborting a waiting request unlinks it. */
  sy_sim_model_abort(&m, &d, 31 * MS);
  ck_assert_int_eq(m.n_waiting, 0);
  ck_assert_int_eq(m.lora_waiting[1], 0);
  ck_assert_uint_eq(m.finished_abort, 1);
  sy_sim_model_abort(&m, &d, 31 * MS); /* no-op once done */
  ck_assert_uint_eq(m.finished_abort, 1);

  sy_sim_model_finish(&m, &a, 40 * MS);
  sy_sim_model_finish(&m, &c, 70 * MS);
  ck_assert_int_eq(m.n_running, 0);
  ck_assert_int_eq(m.lora_running[0], 0);
  ck_assert_uint_eq(m.finished_length, 3);
  ck_assert_uint_eq(m.generation_tokens_total, 9);
  ck_assert_uint_eq(m.prompt_tokens_total, 30);
  ck_assert_uint_eq(m.ttft.count, 3);
  ck_assert_uint_eq(m.e2e.count, 3);
  ck_assert_uint_eq(m.queue_time.count, 3);
}
END_TEST

START_TEST(model_latency) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  ck_assert_uint_eq(sy_sim_model_token_offset_ns(&m, 1), 20 * MS);
  ck_assert_uint_eq(sy_sim_model_token_offset_ns(&m, 4), 35 * MS);
  sy_sim_req_t r = mk(16, 4, -1);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 100 * MS), 0); /* not submitted */
  ck_assert_int_eq(sy_sim_model_submit(&m, &r, 1000 * MS), 1);
  ck_assert_uint_eq(sy_sim_model_token_due_ns(&m, &r, 1), 1020 * MS);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 1019 * MS), 0);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 1020 * MS), 1);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 1024 * MS), 1);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 1025 * MS), 2);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 5000 * MS), 4); /* capped */

  /* Zero ITL: all tokens at the first. */
  p.itl_ms = 0;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  r = mk(16, 7, -1);
  sy_sim_model_submit(&m, &r, 0);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 19 * MS), 0);
  ck_assert_int_eq(sy_sim_model_tokens_at(&m, &r, 20 * MS), 7);

  /* TTFT counts queueing: arrival at 0, started at 50 ms, first token at 70. */
  p = params();
  p.max_num_seqs = 1;
  sy_sim_model_init(&m, &p);
  sy_sim_req_t a = mk(1, 1, -1), b = mk(1, 1, -1);
  sy_sim_model_submit(&m, &a, 0);
  sy_sim_model_submit(&m, &b, 0);
  sy_sim_model_finish(&m, &a, 50 * MS);
  ck_assert_ptr_eq(sy_sim_model_admit(&m, 50 * MS), &b);
  sy_sim_model_first_token(&m, &b, 70 * MS);
  sy_sim_model_first_token(&m, &b, 80 * MS); /* idempotent */
  ck_assert_uint_eq(m.ttft.count, 2);
  ck_assert(m.ttft.sum > 0.069 && m.ttft.sum < 0.121);
}
END_TEST

START_TEST(model_kv_blocks) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  p.max_num_seqs = 10;
  p.max_queue = 10;
  p.kv_blocks = 10;
  p.block_size = 16;
  p.itl_ms = 1;
  ck_assert_int_eq(sy_sim_model_init(&m, &p), 0);
  ck_assert_int_eq(sy_sim_model_blocks_for(&m, 0), 0);
  ck_assert_int_eq(sy_sim_model_blocks_for(&m, 1), 1);
  ck_assert_int_eq(sy_sim_model_blocks_for(&m, 16), 1);
  ck_assert_int_eq(sy_sim_model_blocks_for(&m, 17), 2);

  sy_sim_req_t a = mk(64, 32, -1), b = mk(64, 32, -1), c = mk(64, 1, -1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &a, 0), 1); /* 4 blocks */
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, 0), 4);
  ck_assert_int_eq(sy_sim_model_submit(&m, &b, 0), 1); /* 8 blocks */
  ck_assert(sy_sim_model_kv_usage(&m, 0) > 0.79 && sy_sim_model_kv_usage(&m, 0) < 0.81);
  /* 4 more blocks do not fit: queued although slots are free. */
  ck_assert_int_eq(sy_sim_model_submit(&m, &c, 0), 0);
  /* Decode grows the running requests: 64 + 17 tokens = 6 blocks each. */
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, 36 * MS), 12);
  ck_assert(sy_sim_model_kv_usage(&m, 36 * MS) == 1.0); /* clamped */
  sy_sim_model_finish(&m, &a, 60 * MS);
  ck_assert_ptr_eq(sy_sim_model_admit(&m, 60 * MS), &c);

  /* An idle engine takes an oversized prompt rather than block forever. */
  sy_sim_model_finish(&m, &b, 61 * MS);
  sy_sim_model_finish(&m, &c, 62 * MS);
  sy_sim_req_t huge = mk(100000, 1, -1);
  ck_assert_int_eq(sy_sim_model_submit(&m, &huge, 70 * MS), 1);
  ck_assert(sy_sim_model_kv_usage(&m, 70 * MS) == 1.0);
  sy_sim_model_abort(&m, &huge, 71 * MS);
  ck_assert_int_eq(sy_sim_model_blocks_used(&m, 71 * MS), 0);
}
END_TEST

START_TEST(model_abort_running_counts_tokens) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  sy_sim_model_init(&m, &p);
  sy_sim_req_t r = mk(8, 100, -1);
  sy_sim_model_submit(&m, &r, 0);
  sy_sim_model_abort(&m, &r, 30 * MS); /* tokens at 20, 25 and 30 ms */
  ck_assert_uint_eq(m.generation_tokens_total, 3);
  ck_assert_uint_eq(m.prompt_tokens_total, 8);
  ck_assert_int_eq(m.n_running, 0);
}
END_TEST

START_TEST(hist_buckets) {
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  sy_sim_model_init(&m, &p);
  sy_sim_hist_observe(&m.ttft, 0.001); /* on the edge: le="0.001" */
  sy_sim_hist_observe(&m.ttft, 0.0011);
  sy_sim_hist_observe(&m.ttft, 99999);
  ck_assert_uint_eq(m.ttft.counts[0], 1);
  ck_assert_uint_eq(m.ttft.counts[1], 1);
  ck_assert_uint_eq(m.ttft.counts[m.ttft.n_bounds], 1);
  ck_assert_uint_eq(m.ttft.count, 3);
}
END_TEST

/* ----------------------------------------------------------------- flags */

static int parse(sy_sim_config_t *c, const char *const *args, int n, char *err) {
  char *argv[32];
  argv[0] = (char *)"switchyard-sim";
  for (int i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
  return sy_sim_config_parse(c, n + 1, argv, err, 256);
}

START_TEST(flags_defaults_and_forms) {
  sy_sim_config_t c;
  char err[256];
  const char *a[] = {"--listen", "127.0.0.2:8000"};
  ck_assert_int_eq(parse(&c, a, 2, err), 0);
  ck_assert_str_eq(c.listen_host, "127.0.0.2");
  ck_assert_int_eq(c.listen_port, 8000);
  ck_assert_str_eq(c.model, SY_SIM_DEFAULT_MODEL);
  ck_assert_str_eq(c.instance_id, "127.0.0.2:8000");
  ck_assert(c.ttft_ms == 20 && c.itl_ms == 5);
  ck_assert_int_eq(c.max_num_seqs, 8);
  ck_assert_int_eq(c.max_queue, 1000);
  ck_assert_int_eq(c.kv_blocks, 1024);
  ck_assert_int_eq(c.block_size, 16);
  ck_assert_int_eq(c.max_body_bytes, 33554432);
  ck_assert_int_eq(c.max_loras, 1);
  ck_assert(!c.seed_set);
  sy_sim_config_cleanup(&c);

  const char *b[] = {"-listen=:9000",  "--model=m",   "--lora", " x , y,,z ", "--instance-id=pod-1",
                     "--ttft-ms", "1.5", "--itl-ms=0", "-v",     "4",          "--seed=42",
                     "--max-num-seqs=3", "--kv-blocks", "7"};
  ck_assert_int_eq(parse(&c, b, 14, err), 0);
  ck_assert_str_eq(c.listen_host, "");
  ck_assert_int_eq(c.listen_port, 9000);
  ck_assert_str_eq(c.model, "m");
  ck_assert_int_eq(c.n_loras, 3);
  ck_assert_str_eq(c.loras[0], "x");
  ck_assert_str_eq(c.loras[1], "y");
  ck_assert_str_eq(c.loras[2], "z");
  ck_assert_int_eq(c.max_loras, 3);
  ck_assert_int_eq(sy_sim_config_lora_index(&c, "z"), 2);
  ck_assert_int_eq(sy_sim_config_lora_index(&c, "m"), -1);
  ck_assert_str_eq(c.instance_id, "pod-1");
  ck_assert(c.ttft_ms == 1.5 && c.itl_ms == 0);
  ck_assert_int_eq(c.verbosity, 4);
  ck_assert(c.seed_set && c.seed == 42);
  ck_assert_int_eq(c.max_num_seqs, 3);
  ck_assert_int_eq(c.kv_blocks, 7);
  sy_sim_config_cleanup(&c);
}
END_TEST

START_TEST(flags_errors) {
  sy_sim_config_t c;
  char err[256];
  const char *none[] = {"--model", "x"};
  ck_assert_int_eq(parse(&c, none, 2, err), SY_EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "--listen"));
  sy_sim_config_cleanup(&c);
  const char *cases[][2] = {
      {"--listen", "nohostport"}, {"--listen", "1.2.3.4:0"}, {"--ttft-ms", "-1"},
      {"--itl-ms", "abc"},        {"--max-num-seqs", "0"},  {"--output-tokens", "5000"},
      {"--bogus", "1"},           {"--seed", "-3"},         {"-v", "9"},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    const char *a[] = {"--listen=127.0.0.1:1", cases[i][0], cases[i][1]};
    ck_assert_msg(parse(&c, a, 3, err) == SY_EINVAL, "case %zu accepted", i);
    sy_sim_config_cleanup(&c);
  }
  const char *missing[] = {"--listen=127.0.0.1:1", "--model"};
  ck_assert_int_eq(parse(&c, missing, 2, err), SY_EINVAL);
  sy_sim_config_cleanup(&c);
  const char *dup[] = {"--listen=127.0.0.1:1", "--lora=a,a"};
  ck_assert_int_eq(parse(&c, dup, 2, err), SY_EINVAL);
  sy_sim_config_cleanup(&c);
  const char *help[] = {"--help"};
  ck_assert_int_eq(parse(&c, help, 1, err), 1);
  sy_sim_config_cleanup(&c);
}
END_TEST

/* ------------------------------------------------------------- requests */

static sy_sim_config_t test_cfg(void) {
  sy_sim_config_t c;
  char err[256];
  const char *a[] = {"--listen=127.0.0.1:1", "--model=base", "--lora=l1,l2", "--output-tokens=7"};
  ck_assert_int_eq(parse(&c, a, 4, err), 0);
  return c;
}

static int preq(sy_sim_request_t *r, sy_sim_api_t api, const char *body, sy_sim_error_t *e, const sy_sim_config_t *c) {
  return sy_sim_request_parse(r, api, body, strlen(body), c, e);
}

START_TEST(request_completions) {
  sy_sim_config_t c = test_cfg();
  sy_sim_request_t r;
  sy_sim_error_t e;
  ck_assert_int_eq(preq(&r, SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"abcdefghi\"}", &e, &c), 0);
  ck_assert_str_eq(r.model, "base");
  ck_assert_int_eq(r.lora, -1);
  ck_assert_int_eq(r.prompt_tokens, 3); /* 9 bytes / 4, rounded up */
  ck_assert(!r.stream && !r.include_usage);
  ck_assert_int_eq(r.max_tokens, 0);
  ck_assert_int_eq(sy_sim_request_output_tokens(&r, &c), 7);
  sy_sim_request_cleanup(&r);

  ck_assert_int_eq(preq(&r, SY_SIM_API_COMPLETIONS,
                        "{\"model\":\"l2\",\"prompt\":[\"abcd\",\"efgh\"],\"max_tokens\":9000,\"stream\":true,"
                        "\"stream_options\":{\"include_usage\":true}}  \n",
                        &e, &c),
                   0);
  ck_assert_int_eq(r.lora, 1);
  ck_assert_int_eq(r.prompt_tokens, 2);
  ck_assert(r.stream && r.include_usage);
  ck_assert_int_eq(sy_sim_request_output_tokens(&r, &c), SY_SIM_MAX_OUTPUT_TOKENS);
  sy_sim_request_cleanup(&r);

  ck_assert_int_eq(preq(&r, SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":[[1,2,3],[4]],\"max_tokens\":2}",
                        &e, &c),
                   0);
  ck_assert_int_eq(r.prompt_tokens, 4);
  ck_assert_int_eq(sy_sim_request_output_tokens(&r, &c), 2);
  sy_sim_request_cleanup(&r);
  sy_sim_config_cleanup(&c);
}
END_TEST

START_TEST(request_chat) {
  sy_sim_config_t c = test_cfg();
  sy_sim_request_t r;
  sy_sim_error_t e;
  const char *body =
      "{\"model\":\"l1\",\"max_tokens\":3,\"max_completion_tokens\":5,\"messages\":["
      "{\"role\":\"system\",\"content\":\"abcd\"},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"efgh\"},{\"type\":\"image_url\"}]},"
      "{\"role\":\"assistant\",\"content\":null}]}";
  ck_assert_int_eq(preq(&r, SY_SIM_API_CHAT, body, &e, &c), 0);
  ck_assert_int_eq(r.lora, 0);
  ck_assert_int_eq(r.prompt_bytes, 8);
  ck_assert_int_eq(r.prompt_tokens, 2);
  ck_assert_int_eq(r.max_tokens, 5);
  sy_sim_request_cleanup(&r);
  sy_sim_config_cleanup(&c);
}
END_TEST

START_TEST(request_errors) {
  sy_sim_config_t c = test_cfg();
  static const struct {
    sy_sim_api_t api;
    const char *body;
    int status;
  } cases[] = {
      {SY_SIM_API_COMPLETIONS, "", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":", 400},
      {SY_SIM_API_COMPLETIONS, "{} x", 400},
      {SY_SIM_API_COMPLETIONS, "[]", 400},
      {SY_SIM_API_COMPLETIONS, "{\"prompt\":\"x\"}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":7,\"prompt\":\"x\"}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"other\",\"prompt\":\"x\"}", 404},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\"}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"\"}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":[]}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":{}}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"x\",\"max_tokens\":0}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"x\",\"max_tokens\":1.5}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"x\",\"stream\":\"yes\"}", 400},
      {SY_SIM_API_COMPLETIONS, "{\"model\":\"base\",\"prompt\":\"x\",\"stream_options\":3}", 400},
      {SY_SIM_API_CHAT, "{\"model\":\"base\"}", 400},
      {SY_SIM_API_CHAT, "{\"model\":\"base\",\"messages\":[]}", 400},
      {SY_SIM_API_CHAT, "{\"model\":\"base\",\"messages\":[{\"content\":\"x\"}]}", 400},
      {SY_SIM_API_CHAT, "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    sy_sim_request_t r;
    sy_sim_error_t e;
    ck_assert_msg(preq(&r, cases[i].api, cases[i].body, &e, &c) == SY_EPARSE, "case %zu accepted", i);
    ck_assert_msg(e.status == cases[i].status, "case %zu: status %d", i, e.status);
    ck_assert(e.message[0] && e.type);
    ck_assert_ptr_null(r.model);
  }
  sy_sim_request_t r;
  sy_sim_error_t e;
  preq(&r, SY_SIM_API_COMPLETIONS, "{\"model\":\"nope\",\"prompt\":\"x\"}", &e, &c);
  ck_assert_str_eq(e.message, "The model `nope` does not exist.");
  ck_assert_str_eq(e.type, "NotFoundError");
  sy_sim_config_cleanup(&c);
}
END_TEST

/* ------------------------------------------------------------ rendering */

static cJSON *parse_json(const sy_buf_t *b) {
  cJSON *j = cJSON_ParseWithLength(b->data, b->len);
  ck_assert_msg(j != NULL, "not JSON: %s", b->data);
  return j;
}

static sy_sim_resp_t resp_fixture(sy_sim_api_t api) {
  return (sy_sim_resp_t){.api = api,
                         .id = "cmpl-x",
                         .model = "m\"odel",
                         .created = 123,
                         .text_seed = 99,
                         .prompt_tokens = 4,
                         .completion_tokens = 3};
}

START_TEST(render_responses) {
  sy_buf_t b;
  sy_buf_init(&b, 1 << 20);
  sy_sim_resp_t r = resp_fixture(SY_SIM_API_COMPLETIONS);
  ck_assert_int_eq(sy_sim_render_response(&b, &r), 0);
  cJSON *j = parse_json(&b);
  ck_assert_str_eq(cJSON_GetObjectItem(j, "object")->valuestring, "text_completion");
  ck_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, "m\"odel");
  cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
  ck_assert_str_eq(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "length");
  ck_assert(cJSON_IsNull(cJSON_GetObjectItem(ch, "logprobs")));
  const char *text = cJSON_GetObjectItem(ch, "text")->valuestring;
  char want[128];
  snprintf(want, sizeof(want), "%s %s %s", sy_sim_token_word(99, 1, NULL), sy_sim_token_word(99, 2, NULL),
           sy_sim_token_word(99, 3, NULL));
  ck_assert_str_eq(text, want);
  cJSON *u = cJSON_GetObjectItem(j, "usage");
  ck_assert_int_eq(cJSON_GetObjectItem(u, "total_tokens")->valueint, 7);
  cJSON_Delete(j);

  sy_buf_reset(&b);
  r.api = SY_SIM_API_CHAT;
  ck_assert_int_eq(sy_sim_render_response(&b, &r), 0);
  j = parse_json(&b);
  ck_assert_str_eq(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion");
  ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
  cJSON *msg = cJSON_GetObjectItem(ch, "message");
  ck_assert_str_eq(cJSON_GetObjectItem(msg, "role")->valuestring, "assistant");
  ck_assert_str_eq(cJSON_GetObjectItem(msg, "content")->valuestring, want);
  cJSON_Delete(j);

  sy_buf_reset(&b);
  ck_assert_int_eq(sy_sim_render_error(&b, 404, "NotFoundError", "no \"such\" model"), 0);
  j = parse_json(&b);
  cJSON *err = cJSON_GetObjectItem(j, "error");
  ck_assert_int_eq(cJSON_GetObjectItem(err, "code")->valueint, 404);
  ck_assert_str_eq(cJSON_GetObjectItem(err, "message")->valuestring, "no \"such\" model");
  cJSON_Delete(j);
  sy_buf_cleanup(&b);
}
END_TEST

START_TEST(render_stream_events) {
  sy_buf_t b;
  sy_buf_init(&b, 1 << 20);
  sy_sim_resp_t r = resp_fixture(SY_SIM_API_CHAT);
  ck_assert_int_eq(sy_sim_render_token_event(&b, &r, 1, false), 0);
  /* First chat token: a role-only chunk, then the content chunk. */
  char *second = strstr(b.data, "\n\ndata: ");
  ck_assert_ptr_nonnull(second);
  ck_assert(strncmp(b.data, "data: {", 7) == 0);
  *second = 0;
  cJSON *j = cJSON_Parse(b.data + 6);
  cJSON *delta = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "delta");
  ck_assert_str_eq(cJSON_GetObjectItem(delta, "role")->valuestring, "assistant");
  ck_assert_str_eq(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion.chunk");
  cJSON_Delete(j);
  sy_buf_reset(&b);

  ck_assert_int_eq(sy_sim_render_token_event(&b, &r, 3, true), 0);
  ck_assert(b.len > 8 && strcmp(b.data + b.len - 2, "\n\n") == 0);
  b.data[b.len - 2] = 0;
  j = cJSON_Parse(b.data + 6);
  cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
  ck_assert_str_eq(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "length");
  char want[64];
  snprintf(want, sizeof(want), " %s", sy_sim_token_word(99, 3, NULL));
  ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "delta"), "content")->valuestring, want);
  cJSON_Delete(j);
  sy_buf_reset(&b);

  r.api = SY_SIM_API_COMPLETIONS;
  ck_assert_int_eq(sy_sim_render_usage_event(&b, &r), 0);
  b.data[b.len - 2] = 0;
  j = cJSON_Parse(b.data + 6);
  ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "choices")), 0);
  ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens")->valueint, 3);
  cJSON_Delete(j);
  sy_buf_reset(&b);
  ck_assert_int_eq(sy_sim_render_done_event(&b), 0);
  ck_assert_str_eq(b.data, "data: [DONE]\n\n");
  sy_buf_cleanup(&b);
}
END_TEST

START_TEST(render_bounded) {
  sy_buf_t b;
  sy_buf_init(&b, 64);
  sy_sim_resp_t r = resp_fixture(SY_SIM_API_COMPLETIONS);
  r.completion_tokens = 4096;
  ck_assert_int_eq(sy_sim_render_response(&b, &r), SY_ETOOBIG);
  sy_buf_cleanup(&b);
}
END_TEST

START_TEST(render_models_and_json_escape) {
  sy_sim_config_t c = test_cfg();
  sy_buf_t b;
  sy_buf_init(&b, 1 << 16);
  ck_assert_int_eq(sy_sim_render_models(&b, &c, 5), 0);
  cJSON *j = parse_json(&b);
  cJSON *data = cJSON_GetObjectItem(j, "data");
  ck_assert_int_eq(cJSON_GetArraySize(data), 3);
  ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 2), "id")->valuestring, "l2");
  ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 2), "parent")->valuestring, "base");
  cJSON_Delete(j);
  sy_buf_reset(&b);
  const char raw[] = "a\"b\\c\n\x01z";
  ck_assert_int_eq(sy_sim_json_str(&b, raw, sizeof(raw) - 1), 0);
  ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\u0001z\"");
  sy_buf_cleanup(&b);
  sy_sim_config_cleanup(&c);
}
END_TEST

START_TEST(token_words_deterministic) {
  bool sp;
  ck_assert_str_eq(sy_sim_token_word(1, 5, &sp), sy_sim_token_word(1, 5, NULL));
  ck_assert(sp);
  sy_sim_token_word(1, 1, &sp);
  ck_assert(!sp);
  int differ = 0;
  for (int k = 1; k < 50; k++) differ += strcmp(sy_sim_token_word(1, k, NULL), sy_sim_token_word(2, k, NULL)) != 0;
  ck_assert_int_gt(differ, 10);
}
END_TEST

/* -------------------------------------------------------------- chunked */

static int sink(void *ctx, const char *d, size_t n) { return sy_buf_append(ctx, d, n); }

START_TEST(chunked_any_split) {
  const char wire[] = "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: v\r\n\r\nNEXT";
  size_t len = sizeof(wire) - 1;
  for (size_t cut = 0; cut <= len; cut++) {
    sy_sim_chunked_t d;
    sy_buf_t out;
    sy_buf_init(&out, 1024);
    sy_sim_chunked_init(&d);
    ck_assert_int_eq(sy_sim_chunked_feed(&d, wire, cut, sink, &out), 0);
    ck_assert_int_eq(sy_sim_chunked_feed(&d, wire + cut, len - cut, sink, &out), 0);
    ck_assert(d.done);
    ck_assert_str_eq(out.data, "Wikipedia in\r\n\r\nchunks.");
    sy_buf_cleanup(&out);
  }
  /* Byte by byte, bare LF line ends. */
  const char lf[] = "3\nabc\n0\n\n";
  sy_sim_chunked_t d;
  sy_buf_t out;
  sy_buf_init(&out, 1024);
  sy_sim_chunked_init(&d);
  for (size_t i = 0; i < sizeof(lf) - 1; i++) {
    ck_assert(!d.done);
    ck_assert_int_eq(sy_sim_chunked_feed(&d, lf + i, 1, sink, &out), 0);
  }
  ck_assert(d.done);
  ck_assert_str_eq(out.data, "abc");
  sy_buf_cleanup(&out);
}
END_TEST

START_TEST(chunked_bad) {
  const char *bad[] = {"x\r\n", "\r\n", "3\r\nabcX", "3\r\nabc\rX", "1234567890abcdef0\r\n", "3\rX"};
  for (size_t i = 0; i < SY_ARRAY_LEN(bad); i++) {
    sy_sim_chunked_t d;
    sy_sim_chunked_init(&d);
    ck_assert_msg(sy_sim_chunked_feed(&d, bad[i], strlen(bad[i]), NULL, NULL) == SY_EPARSE, "case %zu", i);
  }
  /* A sink error stops decoding. */
  sy_sim_chunked_t d;
  sy_buf_t small;
  sy_buf_init(&small, 2);
  sy_sim_chunked_init(&d);
  ck_assert_int_eq(sy_sim_chunked_feed(&d, "3\r\nabc\r\n", 8, sink, &small), SY_ETOOBIG);
  sy_buf_cleanup(&small);
}
END_TEST

/* -------------------------------------------------------------- metrics */

START_TEST(metrics_text) {
  sy_sim_config_t c = test_cfg();
  sy_sim_model_t m;
  sy_sim_model_params_t p = params();
  p.max_num_seqs = 1;
  sy_sim_model_init(&m, &p);
  sy_sim_req_t a = mk(16, 2, 1), b = mk(16, 2, 0);
  sy_sim_model_submit(&m, &a, 0);
  sy_sim_model_submit(&m, &b, 0);
  sy_sim_model_first_token(&m, &a, 20 * MS);
  sy_buf_t out;
  sy_buf_init(&out, 1 << 20);
  ck_assert_int_eq(sy_sim_render_metrics(&out, &m, &c, 20 * MS, 1700000000.5), 0);
  const char *t = out.data;
  ck_assert_ptr_nonnull(strstr(t, "# TYPE vllm:num_requests_running gauge\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:num_requests_running{model_name=\"base\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:num_requests_waiting{model_name=\"base\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:kv_cache_usage_perc{model_name=\"base\"} 0.02\n")); /* 2 of 100 */
  ck_assert_ptr_nonnull(strstr(
      t, "vllm:lora_requests_info{max_lora=\"2\",running_lora_adapters=\"l2\",waiting_lora_adapters=\"l1\"} "
         "1700000000.500000\n"));
  ck_assert_ptr_nonnull(strstr(t, "block_size=\"16\""));
  ck_assert_ptr_nonnull(strstr(t, "num_gpu_blocks=\"100\""));
  ck_assert_ptr_nonnull(strstr(t, "# TYPE vllm:prompt_tokens_total counter\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:prompt_tokens_total{model_name=\"base\"} 16\n"));
  ck_assert_ptr_nonnull(strstr(t, "# TYPE vllm:time_to_first_token_seconds histogram\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:time_to_first_token_seconds_bucket{model_name=\"base\",le=\"0.01\"} 0\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:time_to_first_token_seconds_bucket{model_name=\"base\",le=\"0.02\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:time_to_first_token_seconds_bucket{model_name=\"base\",le=\"1.0\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:time_to_first_token_seconds_bucket{model_name=\"base\",le=\"+Inf\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "vllm:time_to_first_token_seconds_count{model_name=\"base\"} 1\n"));
  ck_assert_ptr_nonnull(
      strstr(t, "vllm:request_success_total{finished_reason=\"length\",model_name=\"base\"} 0\n"));
  /* Every sample line is "name{labels} value" or "name value". */
  for (const char *line = t; *line;) {
    const char *nl = strchr(line, '\n');
    ck_assert_ptr_nonnull(nl);
    if (*line != '#') ck_assert_ptr_nonnull(memchr(line, ' ', (size_t)(nl - line)));
    line = nl + 1;
  }
  sy_buf_cleanup(&out);
  sy_sim_config_cleanup(&c);
}
END_TEST

static Suite *sim_suite(void) {
  Suite *s = suite_create("sim");
  TCase *tc = tcase_create("model");
  tcase_add_test(tc, model_rejects_bad_params);
  tcase_add_test(tc, model_slots_queue_fifo);
  tcase_add_test(tc, model_latency);
  tcase_add_test(tc, model_kv_blocks);
  tcase_add_test(tc, model_abort_running_counts_tokens);
  tcase_add_test(tc, hist_buckets);
  suite_add_tcase(s, tc);
  tc = tcase_create("flags");
  tcase_add_test(tc, flags_defaults_and_forms);
  tcase_add_test(tc, flags_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("request");
  tcase_add_test(tc, request_completions);
  tcase_add_test(tc, request_chat);
  tcase_add_test(tc, request_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("render");
  tcase_add_test(tc, render_responses);
  tcase_add_test(tc, render_stream_events);
  tcase_add_test(tc, render_bounded);
  tcase_add_test(tc, render_models_and_json_escape);
  tcase_add_test(tc, token_words_deterministic);
  suite_add_tcase(s, tc);
  tc = tcase_create("chunked");
  tcase_add_test(tc, chunked_any_split);
  tcase_add_test(tc, chunked_bad);
  suite_add_tcase(s, tc);
  tc = tcase_create("metrics");
  tcase_add_test(tc, metrics_text);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(sim_suite()); }
