/* Unit tests for lib/openai: path → API, request parsing and validation,
 * model rewrite, usage from JSON responses and from SSE streams. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "openai.h"
#include "test_support.h"

static sy_arena_t arena;
static char err[256];

static void setup(void) {
  sy_arena_init(&arena, 4096, 0);
  err[0] = '\0';
}
static void teardown(void) { sy_arena_cleanup(&arena); }

/* Parses `body` (NUL-terminated) for `api`; returns the rc. */
static int parse(sy_openai_api_t api, const char *body, sy_openai_request_t *r) {
  return sy_openai_parse_request(&arena, api, body, strlen(body), r, err, sizeof(err));
}

/* Asserts that `body` fails for `api` with exactly `msg`. */
#define ASSERT_REJECT(api, body, msg)                     \
  do {                                                    \
    sy_openai_request_t r_;                               \
    ck_assert_int_eq(parse((api), (body), &r_), SY_EPARSE); \
    ck_assert_str_eq(err, (msg));                         \
    ck_assert_ptr_null(r_.model);                         \
  } while (0)

#define ASSERT_PROMPT(r, text)                          \
  do {                                                  \
    ck_assert_uint_eq((r).prompt_len, strlen(text));    \
    ck_assert_mem_eq((r).prompt, (text), strlen(text)); \
    ck_assert_int_eq((r).prompt[(r).prompt_len], '\0'); \
  } while (0)

/* ================================================================ path */

START_TEST(test_path_table) {
  static const struct {
    const char *path;
    sy_openai_api_t api;
  } cases[] = {
      {"/v1/completions", SY_OPENAI_COMPLETIONS},
      {"/v1/chat/completions", SY_OPENAI_CHAT},
      {"/v1/responses", SY_OPENAI_RESPONSES},
      {"/v1/embeddings", SY_OPENAI_EMBEDDINGS},
      {"/v1/conversations", SY_OPENAI_CONVERSATIONS},
      {"/chat/completions", SY_OPENAI_CHAT},
      {"/openai/deployments/x/chat/completions", SY_OPENAI_CHAT},
      {"/v1/chat/completions?api-version=2024", SY_OPENAI_CHAT},
      {"/v1/responses?x=1&y=/chat/completions", SY_OPENAI_RESPONSES},
      {"/v1/conversations?next=/embeddings", SY_OPENAI_CONVERSATIONS},
      {"/v1/embeddings?", SY_OPENAI_EMBEDDINGS},
      {"/v1/completions?q=/responses", SY_OPENAI_COMPLETIONS},
      {"/v1/models", SY_OPENAI_COMPLETIONS},
      {"/v1/chat/completions/", SY_OPENAI_COMPLETIONS},
      {"/v1/Chat/Completions", SY_OPENAI_COMPLETIONS},
      {"/", SY_OPENAI_COMPLETIONS},
      {"", SY_OPENAI_COMPLETIONS},
      {"?/v1/responses", SY_OPENAI_COMPLETIONS},
      {"responses", SY_OPENAI_COMPLETIONS},
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    sy_openai_api_t got = sy_openai_api_from_path(cases[i].path, strlen(cases[i].path));
    ck_assert_msg(got == cases[i].api, "%s: got %s want %s", cases[i].path, sy_openai_api_name(got),
                  sy_openai_api_name(cases[i].api));
  }
}
END_TEST

START_TEST(test_path_length_respected) {
  /* Only `len` bytes count: no NUL needed, nothing read past. */
  const char p[] = "/v1/chat/completionsXYZ";
  ck_assert_int_eq(sy_openai_api_from_path(p, strlen(p) - 3), SY_OPENAI_CHAT);
  ck_assert_int_eq(sy_openai_api_from_path(p, 3), SY_OPENAI_COMPLETIONS);
  ck_assert_int_eq(sy_openai_api_from_path(NULL, 0), SY_OPENAI_COMPLETIONS);
  const char r[] = {'/', 'r', 'e', 's', 'p', 'o', 'n', 's', 'e', 's'}; /* no NUL */
  ck_assert_int_eq(sy_openai_api_from_path(r, sizeof(r)), SY_OPENAI_RESPONSES);
}
END_TEST

START_TEST(test_api_names) {
  const char *names[5];
  for (int i = 0; i < 5; i++) {
    names[i] = sy_openai_api_name((sy_openai_api_t)i);
    ck_assert_ptr_nonnull(names[i]);
    for (int j = 0; j < i; j++) ck_assert_str_ne(names[i], names[j]);
  }
  ck_assert_str_eq(sy_openai_api_name(SY_OPENAI_CHAT), "chat_completions");
  ck_assert_str_eq(sy_openai_api_name((sy_openai_api_t)99), "unknown");
}
END_TEST

/* ============================================================= requests */

START_TEST(test_completions_happy) {
  sy_openai_request_t r;
  ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS,
                         "{\"model\":\"llama\",\"prompt\":\"Once upon a time\",\"max_tokens\":100,"
                         "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                         "\"cache_salt\":\"tenant-a\"}",
                         &r),
                   0);
  ck_assert_str_eq(err, "");
  ck_assert_int_eq(r.api, SY_OPENAI_COMPLETIONS);
  ck_assert_str_eq(r.model, "llama");
  ck_assert(r.stream);
  ck_assert(r.include_usage);
  ASSERT_PROMPT(r, "Once upon a time");
  ck_assert_str_eq(r.cache_salt, "tenant-a");
}
END_TEST

START_TEST(test_completions_prompt_escapes) {
  sy_openai_request_t r;
  ck_assert_int_eq(
      parse(SY_OPENAI_COMPLETIONS, "{\"prompt\":\"a\\nb\\\"c\\u00e9\\/\\t\",\"model\":\"m\"}", &r), 0);
  ASSERT_PROMPT(r, "a\nb\"c\xc3\xa9/\t");
  ck_assert_ptr_null(r.cache_salt);
  ck_assert(!r.stream);
  ck_assert(!r.include_usage);
}
END_TEST

START_TEST(test_completions_prompt_array) {
  sy_openai_request_t r;
  ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[\"ab\",\"\",\"cd \"]}", &r), 0);
  ASSERT_PROMPT(r, "ab  cd "); /* joined with " " like Go strings.Join */
  ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[ 1, 2 ,30000 ]}", &r), 0);
  ASSERT_PROMPT(r, "[1,2,30000]");
  ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[[1, 2],[3]]}", &r), 0);
  ASSERT_PROMPT(r, "[[1,2],[3]]");
}
END_TEST

START_TEST(test_completions_errors) {
  static const char *const bodies[] = {
      "{\"model\":\"m\"}",
      "{\"model\":\"m\",\"prompt\":\"\"}",
      "{\"model\":\"m\",\"prompt\":[]}",
      "{\"model\":\"m\",\"prompt\":null}",
      "{\"model\":\"m\",\"prompt\":5}",
      "{\"model\":\"m\",\"prompt\":true}",
      "{\"model\":\"m\",\"prompt\":{\"text\":\"x\"}}",
      "{\"model\":\"m\",\"prompt\":[\"a\",1]}",
      "{\"model\":\"m\",\"prompt\":[1,\"a\"]}",
      "{\"model\":\"m\",\"prompt\":[[]]}",
      "{\"model\":\"m\",\"prompt\":[[1],2]}",
      "{\"model\":\"m\",\"prompt\":[null]}",
      "{\"model\":\"m\",\"Prompt\":\"x\"}",
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(bodies); i++)
    ASSERT_REJECT(SY_OPENAI_COMPLETIONS, bodies[i], "invalid completions request: must have prompt field");
}
END_TEST

START_TEST(test_chat_happy) {
  sy_openai_request_t r;
  const char *body =
      "{ \"model\" : \"qwen\",\n"
      "  \"messages\": [\n"
      "    {\"role\": \"system\", \"content\": \"You are helpful.\"},\n"
      "    {\"role\": \"user\", \"content\": \"caf\\u00e9 \\\"x\\\"\\n\", \"name\": null, \"n\": 2.5}\n"
      "  ],\n"
      "  \"stream\": true, \"stream_options\": {\"include_usage\": false}, \"temperature\": 0\n}";
  ck_assert_int_eq(parse(SY_OPENAI_CHAT, body, &r), 0);
  ck_assert_int_eq(r.api, SY_OPENAI_CHAT);
  ck_assert_str_eq(r.model, "qwen");
  ck_assert(r.stream);
  ck_assert(!r.include_usage);
  /* the messages' own text without whitespace: escapes kept as written */
  ASSERT_PROMPT(r,
                "[{\"role\":\"system\",\"content\":\"You are helpful.\"},"
                "{\"role\":\"user\",\"content\":\"caf\\u00e9 \\\"x\\\"\\n\",\"name\":null,\"n\":2.5}]");
}
END_TEST

START_TEST(test_chat_errors) {
  static const char *const bodies[] = {
      "{\"model\":\"m\"}",
      "{\"model\":\"m\",\"messages\":[]}",
      "{\"model\":\"m\",\"messages\":{}}",
      "{\"model\":\"m\",\"messages\":\"hi\"}",
      "{\"model\":\"m\",\"messages\":null}",
      "{\"model\":\"m\",\"prompt\":\"hi\"}",
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(bodies); i++)
    ASSERT_REJECT(SY_OPENAI_CHAT, bodies[i], "invalid chat completions request: must have valid messages field");
}
END_TEST

START_TEST(test_responses_and_embeddings) {
  sy_openai_request_t r;
  ck_assert_int_eq(parse(SY_OPENAI_RESPONSES, "{\"model\":\"gpt\",\"input\":\"Tell me a joke\",\"stream\":true}", &r),
                   0);
  ck_assert_str_eq(r.model, "gpt");
  ck_assert(r.stream);
  ASSERT_PROMPT(r, "Tell me a joke");
  ck_assert_int_eq(parse(SY_OPENAI_RESPONSES,
                         "{\"model\":\"gpt\",\"input\":[ {\"role\":\"user\", \"content\":[{\"type\":\"input_text\","
                         "\"text\":\"hi\"}]} ]}",
                         &r),
                   0);
  ASSERT_PROMPT(r, "[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"}]}]");
  /* An empty string is still an input. */
  ck_assert_int_eq(parse(SY_OPENAI_RESPONSES, "{\"model\":\"gpt\",\"input\":\"\"}", &r), 0);
  ASSERT_PROMPT(r, "");

  ck_assert_int_eq(parse(SY_OPENAI_EMBEDDINGS, "{\"model\":\"e5\",\"input\":\"some text\"}", &r), 0);
  ck_assert_int_eq(r.api, SY_OPENAI_EMBEDDINGS);
  ASSERT_PROMPT(r, "some text");
  ck_assert_int_eq(parse(SY_OPENAI_EMBEDDINGS, "{\"model\":\"e5\",\"input\":[\"a\", \"b\"]}", &r), 0);
  ASSERT_PROMPT(r, "[\"a\",\"b\"]");
  ck_assert_int_eq(parse(SY_OPENAI_EMBEDDINGS, "{\"model\":\"e5\",\"input\":[[1, 2]]}", &r), 0);
  ASSERT_PROMPT(r, "[[1,2]]");

  ASSERT_REJECT(SY_OPENAI_RESPONSES, "{\"model\":\"m\"}", "invalid responses request: must have input field");
  ASSERT_REJECT(SY_OPENAI_RESPONSES, "{\"model\":\"m\",\"input\":null}",
                "invalid responses request: must have input field");
  ASSERT_REJECT(SY_OPENAI_RESPONSES, "{\"model\":\"m\",\"prompt\":\"x\"}",
                "invalid responses request: must have input field");
  ASSERT_REJECT(SY_OPENAI_EMBEDDINGS, "{\"model\":\"m\"}", "invalid embeddings request: must have input field");
  ASSERT_REJECT(SY_OPENAI_EMBEDDINGS, "{\"model\":\"m\",\"input\":null}",
                "invalid embeddings request: must have input field");
}
END_TEST

START_TEST(test_conversations) {
  sy_openai_request_t r;
  ck_assert_int_eq(parse(SY_OPENAI_CONVERSATIONS,
                         "{\"model\":\"m\",\"items\":[{\"type\":\"message\",\"role\":\"user\",\"content\":\"Hello!\"}],"
                         "\"metadata\":{\"topic\":\"demo\"}}",
                         &r),
                   0);
  ck_assert_int_eq(r.api, SY_OPENAI_CONVERSATIONS);
  ASSERT_PROMPT(r, "[{\"type\":\"message\",\"role\":\"user\",\"content\":\"Hello!\"}]");
  static const char *const bodies[] = {
      "{\"model\":\"m\"}",
      "{\"model\":\"m\",\"items\":[]}",
      "{\"model\":\"m\",\"items\":{\"a\":1}}",
      "{\"model\":\"m\",\"items\":\"x\"}",
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(bodies); i++)
    ASSERT_REJECT(SY_OPENAI_CONVERSATIONS, bodies[i], "invalid conversations request: must have items field");
}
END_TEST

START_TEST(test_model_errors) {
  static const char *const models[] = {"", "\"model\":5,", "\"model\":\"\",", "\"model\":null,",
                                       "\"model\":[\"m\"],", "\"model\":{\"name\":\"m\"},", "\"Model\":\"m\","};
  /* Each API with an otherwise valid body: the model check comes first. */
  static const char *const rest[] = {
      "\"prompt\":\"x\"}", "\"messages\":[{\"role\":\"user\"}]}", "\"input\":\"x\"}", "\"input\":\"x\"}",
      "\"items\":[{}]}"};
  for (size_t i = 0; i < SY_ARRAY_LEN(models); i++)
    for (int api = 0; api < 5; api++) {
      char body[256];
      snprintf(body, sizeof(body), "{%s%s", models[i], rest[api]);
      ASSERT_REJECT((sy_openai_api_t)api, body, "model not found in request body");
    }
  /* Model before field validation. */
  ASSERT_REJECT(SY_OPENAI_CHAT, "{\"stream\":true}", "model not found in request body");
}
END_TEST

START_TEST(test_unmarshal_errors) {
  ASSERT_REJECT(SY_OPENAI_COMPLETIONS, "", "error unmarshaling request body: unexpected end of JSON input");
  ASSERT_REJECT(SY_OPENAI_COMPLETIONS, " \r\n\t", "error unmarshaling request body: unexpected end of JSON input");
  ASSERT_REJECT(SY_OPENAI_CHAT, "[{\"model\":\"m\"}]", "error unmarshaling request body: body is not a JSON object");
  ASSERT_REJECT(SY_OPENAI_CHAT, "\"model\"", "error unmarshaling request body: body is not a JSON object");
  ASSERT_REJECT(SY_OPENAI_CHAT, "42", "error unmarshaling request body: body is not a JSON object");
  ASSERT_REJECT(SY_OPENAI_CHAT, "null", "error unmarshaling request body: body is not a JSON object");
  ASSERT_REJECT(SY_OPENAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"x\"} {}",
                "error unmarshaling request body: invalid character after top-level value at offset 27");
  static const char *const bad[] = {
      "{",
      "{\"model\":\"m\",",
      "{\"model\":\"m\" \"prompt\":\"x\"}",
      "{'model':'m'}",
      "{\"model\":\"m\",\"prompt\":\"unterminated}",
      "{\"model\":\"m\",\"prompt\":\"x\",}",
      "not json at all",
      "{\"model\":\"m\",\"prompt\":NaN}",
      "\xef\xbb",
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(bad); i++) {
    sy_openai_request_t r;
    ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS, bad[i], &r), SY_EPARSE);
    ck_assert_msg(strncmp(err, "error unmarshaling request body: ", 33) == 0 && strlen(err) > 33, "%s: %s",
                  bad[i], err);
    ck_assert_ptr_null(r.model);
  }
}
END_TEST

START_TEST(test_body_not_nul_terminated) {
  /* The body is parsed by length: a valid prefix is not enough, and bytes
   * after len are never looked at. */
  const char buf[] = "{\"model\":\"m\",\"prompt\":\"x\"}GARBAGE";
  sy_openai_request_t r;
  ck_assert_int_eq(sy_openai_parse_request(&arena, SY_OPENAI_COMPLETIONS, buf, 26, &r, err, sizeof(err)), 0);
  ASSERT_PROMPT(r, "x");
  ck_assert_int_eq(sy_openai_parse_request(&arena, SY_OPENAI_COMPLETIONS, buf, 20, &r, err, sizeof(err)),
                   SY_EPARSE);
  ck_assert_int_eq(sy_openai_parse_request(&arena, SY_OPENAI_COMPLETIONS, NULL, 0, &r, err, sizeof(err)),
                   SY_EPARSE);
}
END_TEST

START_TEST(test_stream_flags) {
  static const struct {
    const char *extra;
    bool stream, usage;
  } cases[] = {
      {"", false, false},
      {",\"stream\":false", false, false},
      {",\"stream\":true", true, false},
      {",\"stream\":\"true\"", false, false},
      {",\"stream\":1", false, false},
      {",\"stream\":null", false, false},
      {",\"stream\":{}", false, false},
      {",\"stream\":true,\"stream_options\":{\"include_usage\":true}", true, true},
      {",\"stream\":true,\"stream_options\":{\"include_usage\":false}", true, false},
      {",\"stream\":true,\"stream_options\":{\"include_usage\":\"yes\"}", true, false},
      {",\"stream\":true,\"stream_options\":{\"include_usage\":1}", true, false},
      {",\"stream\":true,\"stream_options\":true", true, false},
      {",\"stream\":true,\"stream_options\":null", true, false},
      {",\"stream\":true,\"stream_options\":[{\"include_usage\":true}]", true, false},
      {",\"stream_options\":{\"include_usage\":true}", false, true},
      {",\"stream\":true,\"stream\":false", false, false}, /* last duplicate wins */
  };
  for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
    char body[256];
    sy_openai_request_t r;
    snprintf(body, sizeof(body), "{\"model\":\"m\",\"prompt\":\"p\"%s}", cases[i].extra);
    ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS, body, &r), 0);
    ck_assert_msg(r.stream == cases[i].stream, "%s: stream", body);
    ck_assert_msg(r.include_usage == cases[i].usage, "%s: include_usage", body);
  }
}
END_TEST

START_TEST(test_request_misc) {
  sy_openai_request_t r;
  /* duplicate keys: the last wins (Go/Python semantics) */
  ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS, "{\"model\":\"a\",\"prompt\":\"x\",\"model\":\"b\"}", &r), 0);
  ck_assert_str_eq(r.model, "b");
  /* a non-string cache_salt is ignored; an empty one is kept */
  ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS, "{\"model\":\"a\",\"prompt\":\"x\",\"cache_salt\":7}", &r), 0);
  ck_assert_ptr_null(r.cache_salt);
  ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS, "{\"model\":\"a\",\"prompt\":\"x\",\"cache_salt\":\"\"}", &r), 0);
  ck_assert_str_eq(r.cache_salt, "");
  /* unicode model names survive */
  ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS, "{\"model\":\"m\\u00fcnchen/\\ud83d\\ude00\",\"prompt\":\"x\"}", &r),
                   0);
  ck_assert_str_eq(r.model, "m\xc3\xbcnchen/\xf0\x9f\x98\x80");
  /* errbuf may be NULL or tiny */
  const char *b = "{\"prompt\":\"x\"}";
  ck_assert_int_eq(sy_openai_parse_request(&arena, SY_OPENAI_COMPLETIONS, b, strlen(b), &r, NULL, 0), SY_EPARSE);
  char tiny[6];
  ck_assert_int_eq(sy_openai_parse_request(&arena, SY_OPENAI_COMPLETIONS, b, strlen(b), &r, tiny, sizeof(tiny)),
                   SY_EPARSE);
  ck_assert_str_eq(tiny, "model");
  /* an out-of-range api value behaves like completions */
  ck_assert_int_eq(parse((sy_openai_api_t)42, "{\"model\":\"a\",\"prompt\":\"x\"}", &r), 0);
  ASSERT_PROMPT(r, "x");
}
END_TEST

START_TEST(test_request_enomem) {
  sy_arena_t small;
  sy_arena_init(&small, 64, 128);
  sy_openai_request_t r;
  char body[512];
  snprintf(body, sizeof(body), "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"%0200d\"}]}", 0);
  ck_assert_int_eq(sy_openai_parse_request(&small, SY_OPENAI_CHAT, body, strlen(body), &r, err, sizeof(err)),
                   -ENOMEM);
  ck_assert_ptr_null(r.model);
  ck_assert_ptr_null(r.prompt);
  sy_arena_cleanup(&small);
}
END_TEST

/* Builds {"model":"m","messages":[ <depth-deep nested arrays> ]}. */
static char *nested_body(int depth, size_t *len) {
  static const char head[] = "{\"model\":\"m\",\"messages\":[";
  size_t n = sizeof(head) - 1 + 2 * (size_t)depth + 3;
  char *b = sy_malloc(n + 1);
  size_t o = 0;
  memcpy(b, head, sizeof(head) - 1);
  o += sizeof(head) - 1;
  for (int i = 0; i < depth; i++) b[o++] = '[';
  for (int i = 0; i < depth; i++) b[o++] = ']';
  b[o++] = ']';
  b[o++] = '}';
  b[o] = '\0';
  *len = o;
  return b;
}

START_TEST(test_deep_nesting) {
  sy_openai_request_t r;
  size_t len;
  char *b = nested_body(900, &len);
  ck_assert_int_eq(sy_openai_parse_request(&arena, SY_OPENAI_CHAT, b, len, &r, err, sizeof(err)), 0);
  ck_assert_uint_eq(r.prompt_len, 2 + 2 * 900);
  sy_free(b);
  b = nested_body(200000, &len);
  ck_assert_int_eq(sy_openai_parse_request(&arena, SY_OPENAI_CHAT, b, len, &r, err, sizeof(err)), SY_EPARSE);
  ck_assert_msg(strncmp(err, "error unmarshaling request body: ", 33) == 0, "%s", err);
  sy_free(b);
}
END_TEST

START_TEST(test_large_prompt) {
  size_t n = 100 * 1024;
  char *body = sy_malloc(n + 64);
  int h = snprintf(body, 64, "{\"model\":\"m\",\"prompt\":\"");
  for (size_t i = 0; i < n; i++) body[h + (int)i] = (char)('a' + (char)(i % 26));
  memcpy(body + h + n, "\"}", 3);
  sy_openai_request_t r;
  ck_assert_int_eq(parse(SY_OPENAI_COMPLETIONS, body, &r), 0);
  ck_assert_uint_eq(r.prompt_len, n);
  ck_assert_mem_eq(r.prompt, body + h, n);
  sy_free(body);
}
END_TEST

START_TEST(test_compact_is_source_text) {
  /* Compact JSON is the member's own text minus whitespace (bytes <= 32
   * outside strings, as cJSON reads them): numbers keep their spelling,
   * strings their bytes and escapes, braces inside strings are not
   * structure, and a later duplicate key wins. */
  const char body[] = "\xef\xbb\xbf {\"model\":\"m\", \"messages\" :\t[ 1e300 , -0.50,\"a \\\" ] } \\\\\",\n"
                      "\"\x01\x1f raw\", {\"k\" : [ true , null ] } ] ,\"messages\":[ \"last\" ] }";
  sy_openai_request_t r;
  ck_assert_int_eq(sy_openai_parse_request(&arena, SY_OPENAI_CHAT, body, sizeof(body) - 1, &r, err, sizeof(err)), 0);
  ASSERT_PROMPT(r, "[\"last\"]");
  const char *first = strstr(body, "[ 1e300");
  const char *sep = strstr(body, ",\"messages\":[ \"last");
  char body2[256];
  int n = snprintf(body2, sizeof(body2), "{\"model\":\"m\",\"messages\":%.*s}", (int)(sep - first), first);
  ck_assert_int_eq(sy_openai_parse_request(&arena, SY_OPENAI_CHAT, body2, (size_t)n, &r, err, sizeof(err)), 0);
  ASSERT_PROMPT(r, "[1e300,-0.50,\"a \\\" ] } \\\\\",\"\x01\x1f raw\",{\"k\":[true,null]}]");
  /* and cJSON reads the same tree from it */
  cJSON *a = cJSON_ParseWithLength(r.prompt, r.prompt_len);
  cJSON *whole = cJSON_ParseWithLength(body2, (size_t)n);
  ck_assert(cJSON_Compare(a, cJSON_GetObjectItemCaseSensitive(whole, "messages"), true));
  cJSON_Delete(a);
  cJSON_Delete(whole);
}
END_TEST

/* ============================================================== rewrite */

static int rewrite(const char *body, const char *model, char **out, size_t *out_len) {
  return sy_openai_rewrite_model(&arena, body, strlen(body), model, out, out_len);
}

START_TEST(test_rewrite_preserves) {
  char *out;
  size_t len;
  ck_assert_int_eq(rewrite("{ \"model\": \"a\", \"prompt\": \"x\\ny\", \"max_tokens\": 5,\n"
                           "  \"nested\": {\"k\": [1, 2.5, true, null]}, \"stream\": false }",
                           "meta-llama/Llama-3.1-8B", &out, &len),
                   0);
  ck_assert_str_eq(out,
                   "{\"model\":\"meta-llama/Llama-3.1-8B\",\"prompt\":\"x\\ny\",\"max_tokens\":5,"
                   "\"nested\":{\"k\":[1,2.5,true,null]},\"stream\":false}");
  ck_assert_uint_eq(len, strlen(out));
  /* and the result parses back with the new model */
  sy_openai_request_t r;
  ck_assert_int_eq(sy_openai_parse_request(&arena, SY_OPENAI_COMPLETIONS, out, len, &r, err, sizeof(err)), 0);
  ck_assert_str_eq(r.model, "meta-llama/Llama-3.1-8B");
  ASSERT_PROMPT(r, "x\ny");
}
END_TEST

START_TEST(test_rewrite_add_dupes_escape) {
  char *out;
  size_t len;
  ck_assert_int_eq(rewrite("{\"prompt\":\"x\"}", "b", &out, &len), 0);
  ck_assert_str_eq(out, "{\"prompt\":\"x\",\"model\":\"b\"}");
  ck_assert_int_eq(rewrite("{\"model\":\"a\",\"x\":1,\"model\":\"c\",\"model\":7}", "b", &out, &len), 0);
  ck_assert_str_eq(out, "{\"model\":\"b\",\"x\":1}");
  ck_assert_int_eq(rewrite("{}", "we\"ird\n\\\x01", &out, &len), 0);
  ck_assert_str_eq(out, "{\"model\":\"we\\\"ird\\n\\\\\\u0001\"}");
  cJSON *j = cJSON_ParseWithLength(out, len);
  ck_assert_ptr_nonnull(j);
  ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "model")->valuestring, "we\"ird\n\\\x01");
  cJSON_Delete(j);
  /* other members are copied as written (raw control characters too) */
  char body[128];
  int o = snprintf(body, sizeof(body), "{\"model\":\"a\",\"p\":\"");
  for (int i = 0; i < 60; i++) body[o++] = '\x03';
  o += snprintf(body + o, sizeof(body) - (size_t)o, "\"}");
  ck_assert_int_eq(sy_openai_rewrite_model(&arena, body, (size_t)o, "b", &out, &len), 0);
  ck_assert_uint_eq(len, strlen("{\"model\":\"b\",\"p\":\"\"}") + 60);
  ck_assert_str_eq(out + len - 3, "\x03\"}");
  /* long model names */
  char model[3000];
  memset(model, '\x02', sizeof(model) - 1);
  model[sizeof(model) - 1] = '\0';
  ck_assert_int_eq(rewrite("{\"model\":\"a\"}", model, &out, &len), 0);
  ck_assert_uint_eq(len, strlen("{\"model\":\"\"}") + 6 * (sizeof(model) - 1));
}
END_TEST

START_TEST(test_rewrite_errors) {
  char *out = (char *)"x";
  size_t len = 9;
  static const char *const bad[] = {"", "[1,2]", "\"s\"", "42", "null", "{\"model\":", "garbage", "{} {}"};
  for (size_t i = 0; i < SY_ARRAY_LEN(bad); i++) {
    ck_assert_int_eq(rewrite(bad[i], "b", &out, &len), SY_EPARSE);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 0);
  }
  ck_assert_int_eq(rewrite("{}", NULL, &out, &len), SY_EINVAL);
  sy_arena_t small;
  sy_arena_init(&small, 64, 64);
  const char *b = "{\"model\":\"a\",\"prompt\":\"0123456789012345678901234567890123456789\"}";
  ck_assert_int_eq(sy_openai_rewrite_model(&small, b, strlen(b), "b", &out, &len), -ENOMEM);
  sy_arena_cleanup(&small);
}
END_TEST

/* ================================================================ usage */

static sy_openai_usage_t usage_json(const char *body) {
  sy_openai_usage_t u;
  ck_assert_int_eq(sy_openai_usage_from_json(body, strlen(body), &u), 0);
  return u;
}

#define ASSERT_USAGE(u, p, c, t, k)               \
  do {                                            \
    ck_assert((u).found);                         \
    ck_assert_int_eq((u).prompt_tokens, (p));     \
    ck_assert_int_eq((u).completion_tokens, (c)); \
    ck_assert_int_eq((u).total_tokens, (t));      \
    ck_assert_int_eq((u).cached_tokens, (k));     \
  } while (0)

START_TEST(test_usage_chat_and_completion) {
  sy_openai_usage_t u = usage_json(
      "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
      "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"usage: none\"},"
      "\"finish_reason\":\"stop\"}],"
      "\"usage\":{\"prompt_tokens\":12,\"total_tokens\":19,\"completion_tokens\":7,"
      "\"prompt_tokens_details\":{\"cached_tokens\":8},\"input_tokens\":999}}");
  ASSERT_USAGE(u, 12, 7, 19, 8);
  /* upstream's spelling */
  u = usage_json("{\"object\":\"text_completion\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,"
                 "\"total_tokens\":8,\"prompt_token_details\":{\"cached_tokens\":4}}}");
  ASSERT_USAGE(u, 5, 3, 8, 4);
  /* both spellings: upstream's wins */
  u = usage_json("{\"object\":\"chat.completion.chunk\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,"
                 "\"prompt_token_details\":{\"cached_tokens\":4},\"prompt_tokens_details\":{\"cached_tokens\":2}}}");
  ASSERT_USAGE(u, 5, 3, 0, 4);
  /* chat objects do not read input_tokens */
  u = usage_json("{\"object\":\"chat.completion\",\"usage\":{\"input_tokens\":5,\"output_tokens\":3}}");
  ASSERT_USAGE(u, 0, 0, 0, 0);
  /* null details */
  u = usage_json("{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":1,\"prompt_tokens_details\":null}}");
  ASSERT_USAGE(u, 1, 0, 0, 0);
}
END_TEST

START_TEST(test_usage_responses_conversations) {
  sy_openai_usage_t u = usage_json(
      "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":[],"
      "\"usage\":{\"input_tokens\":36,\"input_tokens_details\":{\"cached_tokens\":16},\"output_tokens\":87,"
      "\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":123,\"prompt_tokens\":1}}");
  ASSERT_USAGE(u, 36, 87, 123, 16);
  u = usage_json("{\"object\":\"response.compaction\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4,"
                 "\"prompt_tokens\":9}}");
  ASSERT_USAGE(u, 3, 4, 0, 0);
  u = usage_json("{\"object\":\"conversation\",\"usage\":{\"input_tokens\":2,\"output_tokens\":1,"
                 "\"prompt_token_details\":{\"cached_tokens\":1}}}");
  ASSERT_USAGE(u, 2, 1, 0, 1);
  /* a response.completed event as a JSON body */
  u = usage_json("{\"type\":\"response.completed\",\"sequence_number\":9,\"response\":{\"object\":\"response\","
                 "\"usage\":{\"input_tokens\":10,\"output_tokens\":20,\"total_tokens\":30}}}");
  ASSERT_USAGE(u, 10, 20, 30, 0);
}
END_TEST

START_TEST(test_usage_other_objects) {
  /* embeddings ("list"): prompt_tokens */
  sy_openai_usage_t u = usage_json("{\"object\":\"list\",\"data\":[],\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}");
  ASSERT_USAGE(u, 8, 0, 8, 0);
  /* no object at all, Responses-style names */
  u = usage_json("{\"usage\":{\"input_tokens\":4,\"output_tokens\":6,\"total_tokens\":10}}");
  ASSERT_USAGE(u, 4, 6, 10, 0);
  /* unknown object, prompt-style names take precedence when present */
  u = usage_json("{\"object\":42,\"usage\":{\"prompt_tokens\":1,\"input_tokens\":4,\"output_tokens\":6}}");
  ASSERT_USAGE(u, 1, 0, 0, 0);
  /* odd values */
  u = usage_json("{\"usage\":{\"prompt_tokens\":1e30,\"completion_tokens\":-1e30,\"total_tokens\":\"7\","
                 "\"prompt_tokens_details\":{\"cached_tokens\":2.9}}}");
  ASSERT_USAGE(u, LONG_MAX, LONG_MIN, 0, 2);
  /* usage present but empty still counts as found */
  u = usage_json("{\"usage\":{}}");
  ASSERT_USAGE(u, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_usage_absent_and_errors) {
  static const char *const none[] = {"{}", "{\"usage\":null}", "{\"usage\":5}", "{\"usage\":[1]}", "[1,2]",
                                     "\"usage\"", "{\"choices\":[{\"usage\":{\"prompt_tokens\":1}}]}",
                                     "{\"type\":\"response.created\",\"response\":{\"usage\":{\"input_tokens\":1}}}",
                                     "{\"type\":\"response.completed\",\"response\":{\"usage\":null}}"};
  for (size_t i = 0; i < SY_ARRAY_LEN(none); i++) {
    sy_openai_usage_t u = usage_json(none[i]);
    ck_assert_msg(!u.found, "%s", none[i]);
    ck_assert_int_eq(u.prompt_tokens, 0);
  }
  static const char *const bad[] = {"", "   ", "{", "not json", "{\"usage\":{\"prompt_tokens\":1}", "data: {}"};
  for (size_t i = 0; i < SY_ARRAY_LEN(bad); i++) {
    sy_openai_usage_t u;
    u.found = true;
    ck_assert_int_eq(sy_openai_usage_from_json(bad[i], strlen(bad[i]), &u), SY_EPARSE);
    ck_assert(!u.found);
  }
  sy_openai_usage_t u;
  ck_assert_int_eq(sy_openai_usage_from_json(NULL, 0, &u), SY_EPARSE);
}
END_TEST

/* ================================================================== SSE */

/* A vLLM-style chat stream with include_usage: "usage":null on every chunk,
 * the usage on a final chunk with empty choices, then [DONE]. Contains a
 * multibyte character and a line that mentions usage in content. */
static const char chat_stream[] =
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xc3\xa9 \\\"usage\\\": {\"},\"finish_reason\":null}],"
    "\"usage\":null}\n\n"
    ": keep-alive comment\n\n"
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":17,\"total_tokens\":42,\"completion_tokens\":25,"
    "\"prompt_tokens_details\":{\"cached_tokens\":16}}}\n\n"
    "data: [DONE]\n\n";

/* A Responses API stream: named events, usage:null on response.created,
 * the usage on response.completed. */
static const char responses_stream[] =
    "event: response.created\r\n"
    "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\","
    "\"object\":\"response\",\"status\":\"in_progress\",\"usage\":null}}\r\n\r\n"
    "event: response.output_text.delta\r\n"
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\","
    "\"output_index\":0,\"content_index\":0,\"delta\":\"Hi \xe2\x9c\x93\"}\r\n\r\n"
    "event: response.completed\r\n"
    "data: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\","
    "\"object\":\"response\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":9,"
    "\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":3,\"total_tokens\":12}}}\r\n\r\n";

static sy_openai_usage_t sse_chunks(const char *data, size_t len, size_t max_line, const size_t *cuts,
                                    size_t ncuts) {
  sy_openai_sse_t s;
  sy_openai_sse_init(&s, max_line);
  size_t prev = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : len;
    sy_openai_sse_feed(&s, data + prev, end - prev);
    prev = end;
  }
  sy_openai_usage_t u = s.usage;
  sy_openai_sse_cleanup(&s);
  return u;
}

static sy_openai_usage_t sse_all(const char *data, size_t max_line) {
  return sse_chunks(data, strlen(data), max_line, NULL, 0);
}

static void assert_same_usage(sy_openai_usage_t a, sy_openai_usage_t b, size_t at) {
  ck_assert_msg(a.found == b.found && a.prompt_tokens == b.prompt_tokens &&
                    a.completion_tokens == b.completion_tokens && a.total_tokens == b.total_tokens &&
                    a.cached_tokens == b.cached_tokens,
                "usage differs when split at %zu", at);
}

/* Every single split point, plus 1-byte chunks. */
static void check_all_splits(const char *stream, size_t max_line, sy_openai_usage_t want) {
  size_t len = strlen(stream);
  for (size_t cut = 0; cut <= len; cut++) assert_same_usage(sse_chunks(stream, len, max_line, &cut, 1), want, cut);
  sy_openai_sse_t s;
  sy_openai_sse_init(&s, max_line);
  for (size_t i = 0; i < len; i++) sy_openai_sse_feed(&s, stream + i, 1);
  assert_same_usage(s.usage, want, 1);
  sy_openai_sse_cleanup(&s);
}

START_TEST(test_sse_chat_every_split) {
  sy_openai_usage_t want = sse_all(chat_stream, 4096);
  ASSERT_USAGE(want, 17, 25, 42, 16);
  check_all_splits(chat_stream, 4096, want);
  /* two cuts: every pair on a coarse grid */
  size_t len = strlen(chat_stream);
  for (size_t a = 0; a < len; a += 7)
    for (size_t b = a; b < len; b += 13) {
      size_t cuts[2] = {a, b};
      assert_same_usage(sse_chunks(chat_stream, len, 4096, cuts, 2), want, a * 10000 + b);
    }
}
END_TEST

START_TEST(test_sse_responses_every_split) {
  sy_openai_usage_t want = sse_all(responses_stream, 4096);
  ASSERT_USAGE(want, 9, 3, 12, 0);
  check_all_splits(responses_stream, 4096, want);
}
END_TEST

START_TEST(test_sse_line_variants) {
  /* no space after "data:", CRLF, spaces around the colon */
  sy_openai_usage_t u = sse_all("data:{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\r\n", 256);
  ASSERT_USAGE(u, 1, 2, 0, 0);
  u = sse_all("data: {\"usage\" : \n", 256); /* broken JSON: ignored */
  ck_assert(!u.found);
  u = sse_all("data: {\"x\":1, \"usage\" :\t {\"prompt_tokens\":3}}\n", 256);
  ASSERT_USAGE(u, 3, 0, 0, 0);
  /* not a data line */
  u = sse_all("event: {\"usage\":{\"prompt_tokens\":1}}\n"
              " data: {\"usage\":{\"prompt_tokens\":1}}\n"
              "DATA: {\"usage\":{\"prompt_tokens\":1}}\n"
              "data {\"usage\":{\"prompt_tokens\":1}}\n",
              256);
  ck_assert(!u.found);
  /* a lone CR is not a line end */
  u = sse_all("data: {\"a\":1}\rdata: {\"usage\":{\"prompt_tokens\":1}}\n", 256);
  ck_assert(!u.found);
}
END_TEST

START_TEST(test_sse_first_usage_wins) {
  const char *stream = "data: {\"object\":\"chat.completion.chunk\",\"usage\":{\"prompt_tokens\":5,"
                       "\"completion_tokens\":1}}\n\n"
                       "data: {\"object\":\"chat.completion.chunk\",\"usage\":{\"prompt_tokens\":5,"
                       "\"completion_tokens\":9}}\n\n";
  sy_openai_usage_t u = sse_all(stream, 4096);
  ASSERT_USAGE(u, 5, 1, 0, 0);
  /* feeding after the usage was found changes nothing */
  sy_openai_sse_t s;
  sy_openai_sse_init(&s, 4096);
  sy_openai_sse_feed(&s, stream, strlen(stream));
  sy_openai_sse_feed(&s, stream, strlen(stream));
  sy_openai_sse_finish(&s);
  ASSERT_USAGE(s.usage, 5, 1, 0, 0);
  sy_openai_sse_cleanup(&s);
  sy_openai_sse_cleanup(&s); /* idempotent */
}
END_TEST

START_TEST(test_sse_done) {
  /* [DONE] is skipped, not an error, and does not end scanning */
  sy_openai_usage_t u = sse_all("data: [DONE]\n\ndata:[DONE]\r\n"
                                "data: {\"usage\":{\"prompt_tokens\":2}}\n",
                                256);
  ASSERT_USAGE(u, 2, 0, 0, 0);
  u = sse_all("data: [DONE]\n\n", 256);
  ck_assert(!u.found);
}
END_TEST

START_TEST(test_sse_overlong_line) {
  /* max_line 80: the first usage line is too long and must be skipped
   * entirely (even though it carries usage), the later one counts. */
  char stream[1024];
  int o = snprintf(stream, sizeof(stream), "data: {\"usage\":{\"prompt_tokens\":111},\"pad\":\"");
  for (int i = 0; i < 200; i++) stream[o++] = 'x';
  o += snprintf(stream + o, sizeof(stream) - (size_t)o,
                "\"}\n\ndata: {\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n");
  sy_openai_usage_t u = sse_all(stream, 80);
  ASSERT_USAGE(u, 2, 3, 0, 0);
  check_all_splits(stream, 80, u);
  /* with room for it, the long line is the first usage */
  u = sse_all(stream, 1024);
  ASSERT_USAGE(u, 111, 0, 0, 0);
  check_all_splits(stream, 1024, u);
  /* the limit is inclusive: a line of exactly max_line bytes is kept */
  const char *line = "data: {\"usage\":{\"prompt_tokens\":4}}\n";
  size_t n = strlen(line) - 1;
  ASSERT_USAGE(sse_all(line, n), 4, 0, 0, 0);
  ck_assert(!sse_all(line, n - 1).found);
  check_all_splits(line, n - 1, sse_all(line, n - 1));
}
END_TEST

START_TEST(test_sse_finish) {
  const char *s = "data: {\"usage\":{\"prompt_tokens\":6}}"; /* no newline */
  sy_openai_sse_t sse;
  sy_openai_sse_init(&sse, 256);
  sy_openai_sse_feed(&sse, s, strlen(s));
  ck_assert(!sse.usage.found);
  sy_openai_sse_finish(&sse);
  ASSERT_USAGE(sse.usage, 6, 0, 0, 0);
  sy_openai_sse_cleanup(&sse);
  /* an unterminated over-long line is still ignored */
  sy_openai_sse_init(&sse, 10);
  sy_openai_sse_feed(&sse, s, 5);
  sy_openai_sse_feed(&sse, s + 5, strlen(s) - 5);
  sy_openai_sse_finish(&sse);
  ck_assert(!sse.usage.found);
  sy_openai_sse_cleanup(&sse);
}
END_TEST

START_TEST(test_sse_garbage) {
  sy_openai_sse_t s;
  sy_openai_sse_init(&s, 128);
  uint64_t x = 88172645463325252ull;
  char buf[4096];
  for (int round = 0; round < 64; round++) {
    for (size_t i = 0; i < sizeof(buf); i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      buf[i] = (char)(x & 0xff);
      if ((x >> 8) % 17 == 0) buf[i] = '\n';
    }
    sy_openai_sse_feed(&s, buf, (size_t)(x % sizeof(buf)));
  }
  sy_openai_sse_feed(&s, NULL, 5);
  sy_openai_sse_feed(&s, "", 0);
  sy_openai_sse_feed(&s, "\ndata: {\"usage\":{}} x\n", 22); /* trailing junk after the JSON is tolerated */
  ck_assert(s.usage.found);
  sy_openai_sse_finish(&s);
  sy_openai_sse_cleanup(&s);
  /* embedded NULs and broken JSON */
  const char junk[] = "data: {\"usage\":{\"prompt_tokens\":1\0x}}\ndata: {\"usage\":{\"prompt_tokens\":1}\n";
  ck_assert(!sse_chunks(junk, sizeof(junk) - 1, 128, NULL, 0).found);
}
END_TEST

/* Feeds `in` in pieces of `step` bytes (0: one piece) and returns the
 * concatenated output (static buffer). */
static const char *unrewrite_all(const char *served, const char *req, const char *in, size_t step) {
  static char acc[4096];
  sy_openai_unrewrite_t u;
  ck_assert_int_eq(sy_openai_unrewrite_init(&u, served, req), 0);
  size_t len = strlen(in), off = 0, n_acc = 0;
  do {
    size_t n = step ? step : len;
    if (n > len - off) n = len - off;
    const char *o;
    size_t olen;
    ck_assert_int_eq(sy_openai_unrewrite_feed(&u, in + off, n, off + n == len, &o, &olen), 0);
    ck_assert_uint_lt(n_acc + olen, sizeof(acc));
    memcpy(acc + n_acc, o, olen);
    n_acc += olen;
    off += n;
  } while (off < len);
  acc[n_acc] = '\0';
  ck_assert_uint_eq(u.carry_len, 0);
  sy_openai_unrewrite_cleanup(&u);
  return acc;
}

START_TEST(test_unrewrite) {
  /* both spellings upstream replaces; nothing else */
  ck_assert_str_eq(unrewrite_all("served-m", "asked", "{\"id\":\"x\",\"model\":\"served-m\",\"n\":1}", 0),
                   "{\"id\":\"x\",\"model\":\"asked\",\"n\":1}");
  ck_assert_str_eq(unrewrite_all("served-m", "asked", "{\"model\": \"served-m\"}", 0), "{\"model\": \"asked\"}");
  ck_assert_str_eq(unrewrite_all("served-m", "asked", "{\"model\":\"served-m2\",\"x\":\"served-m\"}", 0),
                   "{\"model\":\"served-m2\",\"x\":\"served-m\"}");
  ck_assert_str_eq(unrewrite_all("m", "a-much-longer-name", "\"model\":\"m\"\"model\":\"m\"", 0),
                   "\"model\":\"a-much-longer-name\"\"model\":\"a-much-longer-name\"");
  /* an SSE stream split at every byte boundary gives the one-piece result */
  const char *sse = "data: {\"id\":\"c\",\"model\":\"served-m\",\"choices\":[{\"text\":\"\\\"model\\\"\"}]}\n\n"
                    "data: {\"id\":\"c\",\"model\": \"served-m\",\"usage\":null}\n\ndata: [DONE]\n\n";
  char want[1024];
  snprintf(want, sizeof(want), "%s", unrewrite_all("served-m", "asked", sse, 0));
  ck_assert_ptr_nonnull(strstr(want, "\"model\":\"asked\""));
  ck_assert_ptr_nonnull(strstr(want, "\"model\": \"asked\""));
  ck_assert_ptr_null(strstr(want, "served-m"));
  for (size_t step = 1; step < strlen(sse); step++)
    ck_assert_msg(strcmp(unrewrite_all("served-m", "asked", sse, step), want) == 0, "step %zu", step);
  /* a prefix left at the end of the stream is emitted as it was */
  ck_assert_str_eq(unrewrite_all("served-m", "asked", "x\"model\":\"serv", 1), "x\"model\":\"serv");
  /* held bytes wait for the next chunk, then go out unchanged */
  sy_openai_unrewrite_t u;
  ck_assert_int_eq(sy_openai_unrewrite_init(&u, "served-m", "asked"), 0);
  const char *o;
  size_t olen;
  ck_assert_int_eq(sy_openai_unrewrite_feed(&u, "ab\"mod", 6, false, &o, &olen), 0);
  ck_assert_uint_eq(olen, 2);
  ck_assert_int_eq(memcmp(o, "ab", 2), 0);
  ck_assert_uint_eq(u.carry_len, 4);
  ck_assert_int_eq(sy_openai_unrewrite_feed(&u, "e", 1, false, &o, &olen), 0);
  ck_assert_uint_eq(olen, 0); /* "mode still starts a pattern */
  ck_assert_int_eq(sy_openai_unrewrite_feed(&u, "x", 1, false, &o, &olen), 0);
  ck_assert_uint_eq(olen, 6);
  ck_assert_int_eq(memcmp(o, "\"modex", 6), 0);
  ck_assert_uint_eq(u.carry_len, 0);
  /* an empty end-of-stream chunk (Envoy sends data == NULL) flushes */
  ck_assert_int_eq(sy_openai_unrewrite_feed(&u, "z\"mo", 4, false, &o, &olen), 0);
  ck_assert_int_eq(sy_openai_unrewrite_feed(&u, NULL, 0, true, &o, &olen), 0);
  ck_assert_uint_eq(olen, 3);
  ck_assert_int_eq(memcmp(o, "\"mo", 3), 0);
  ck_assert_int_eq(sy_openai_unrewrite_feed(&u, NULL, 0, true, &o, &olen), 0);
  ck_assert_uint_eq(olen, 0);
  sy_openai_unrewrite_cleanup(&u);
  /* bad names */
  ck_assert_int_eq(sy_openai_unrewrite_init(&u, "", "x"), SY_EINVAL);
  char big[600];
  memset(big, 'm', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  ck_assert_int_eq(sy_openai_unrewrite_init(&u, big, "x"), SY_EINVAL);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("openai");
  TCase *tc = tcase_create("path");
  tcase_add_test(tc, test_path_table);
  tcase_add_test(tc, test_path_length_respected);
  tcase_add_test(tc, test_api_names);
  suite_add_tcase(s, tc);

  tc = tcase_create("request");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_completions_happy);
  tcase_add_test(tc, test_completions_prompt_escapes);
  tcase_add_test(tc, test_completions_prompt_array);
  tcase_add_test(tc, test_completions_errors);
  tcase_add_test(tc, test_chat_happy);
  tcase_add_test(tc, test_chat_errors);
  tcase_add_test(tc, test_responses_and_embeddings);
  tcase_add_test(tc, test_conversations);
  tcase_add_test(tc, test_model_errors);
  tcase_add_test(tc, test_unmarshal_errors);
  tcase_add_test(tc, test_body_not_nul_terminated);
  tcase_add_test(tc, test_stream_flags);
  tcase_add_test(tc, test_request_misc);
  tcase_add_test(tc, test_request_enomem);
  tcase_add_test(tc, test_deep_nesting);
  tcase_add_test(tc, test_large_prompt);
  tcase_add_test(tc, test_compact_is_source_text);
  suite_add_tcase(s, tc);

  tc = tcase_create("rewrite");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_rewrite_preserves);
  tcase_add_test(tc, test_rewrite_add_dupes_escape);
  tcase_add_test(tc, test_rewrite_errors);
  suite_add_tcase(s, tc);

  tc = tcase_create("usage_json");
  tcase_add_test(tc, test_usage_chat_and_completion);
  tcase_add_test(tc, test_usage_responses_conversations);
  tcase_add_test(tc, test_usage_other_objects);
  tcase_add_test(tc, test_usage_absent_and_errors);
  suite_add_tcase(s, tc);

  tc = tcase_create("sse");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_sse_chat_every_split);
  tcase_add_test(tc, test_sse_responses_every_split);
  tcase_add_test(tc, test_sse_line_variants);
  tcase_add_test(tc, test_sse_first_usage_wins);
  tcase_add_test(tc, test_sse_done);
  tcase_add_test(tc, test_sse_overlong_line);
  tcase_add_test(tc, test_sse_finish);
  tcase_add_test(tc, test_sse_garbage);
  tcase_add_test(tc, test_unrewrite);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sy_test_run(suite()); }
