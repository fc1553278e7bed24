/* libFuzzer target: OpenAI response usage, JSON bodies and SSE streams
 * (lib/openai).
 *
 * Input: one selector byte, then the response body.
 *   bit 0     0 = JSON body (sy_openai_usage_from_json), 1 = SSE stream
 *   bits 1-3  SSE chunking: 1, 2, 3, 5, 17, 64, 4096 bytes, or 7 = sizes
 *             taken from the data itself
 *   bit 6     small max_line (64) instead of 64 KiB
 *   bit 7     instead: the reverse model rewrite (served "m" -> "req-model"),
 *             chunked as above; chunked output must equal one-shot output
 * ASCII '0' is a JSON body, '1' an SSE stream fed byte by byte, '9' in
 * 16-byte... see the table; 'O' data-driven chunks with max_line 64.
 *
 * SSE invariant (abort on violation): the usage found is the same whether
 * the stream is fed in one piece or chunked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok) {
  if (!ok) abort();
}

static bool same(const sy_openai_usage_t *a, const sy_openai_usage_t *b) {
  return a->found == b->found && a->prompt_tokens == b->prompt_tokens &&
         a->completion_tokens == b->completion_tokens && a->total_tokens == b->total_tokens &&
         a->cached_tokens == b->cached_tokens;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  uint8_t sel = data[0];
  const char *body = (const char *)data + 1;
  size_t len = size - 1;

  if (!(sel & 1)) {
    sy_openai_usage_t u;
    int rc = sy_openai_usage_from_json(body, len, &u);
    check(rc == 0 || (rc == SY_EPARSE && !u.found));
    return 0;
  }

  static const size_t sizes[] = {1, 2, 3, 5, 17, 64, 4096, 0};
  size_t chunk = sizes[(sel >> 1) & 7];

  if (sel & 0x80) {
    sy_openai_unrewrite_t whole, parts;
    check(sy_openai_unrewrite_init(&whole, "m", "req-model") == 0);
    check(sy_openai_unrewrite_init(&parts, "m", "req-model") == 0);
    const char *o;
    size_t want_len, olen, got_len = 0;
    check(sy_openai_unrewrite_feed(&whole, body, len, true, &o, &want_len) == 0);
    check(whole.carry_len == 0);
    char *got = malloc(want_len + 1);
    check(got != NULL);
    size_t off = 0;
    do {
      size_t n = chunk ? chunk : off < len ? 1u + (size_t)((uint8_t)body[off] % 31u) : 0;
      if (n > len - off) n = len - off;
      check(sy_openai_unrewrite_feed(&parts, body + off, n, off + n == len, &o, &olen) == 0);
      check(got_len + olen <= want_len);
      memcpy(got + got_len, o, olen);
      got_len += olen;
      off += n;
    } while (off < len);
    check(parts.carry_len == 0);
    check(got_len == want_len && memcmp(got, whole.out.data ? whole.out.data : "", got_len) == 0);
    free(got);
    sy_openai_unrewrite_cleanup(&whole);
    sy_openai_unrewrite_cleanup(&parts);
    return 0;
  }
  size_t max_line = (sel & 0x40) ? 64 : 65536;

  sy_openai_sse_t whole, parts;
  sy_openai_sse_init(&whole, max_line);
  sy_openai_sse_init(&parts, max_line);
  sy_openai_sse_feed(&whole, body, len);
  for (size_t off = 0; off < len;) {
    size_t n = chunk ? chunk : 1u + (size_t)((uint8_t)body[off] % 31u);
    if (n > len - off) n = len - off;
    sy_openai_sse_feed(&parts, body + off, n);
    off += n;
  }
  check(same(&whole.usage, &parts.usage));
  sy_openai_sse_finish(&whole);
  sy_openai_sse_finish(&parts);
  check(same(&whole.usage, &parts.usage));
  sy_openai_sse_cleanup(&whole);
  sy_openai_sse_cleanup(&parts);
  return 0;
}
