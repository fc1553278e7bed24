/* libFuzzer target for the ext_proc message handler: the input is split into
 * length-prefixed ProcessingRequest messages fed to one stream with a
 * director that routes or rejects depending on the request. */
#include <stdint.h>
#include <string.h>

#include "extproc.h"

static int decide(void *ctx, const sy_extproc_request_t *req, sy_extproc_decision_t *out) {
  static int token;
  SY_UNUSED(ctx);
  if (req->body_len % 3 == 1) {
    out->http_status = 503;
    out->error_kind = "ServiceUnavailable";
    out->error_msg = "none";
    return 0;
  }
  out->destination = "10.0.0.1:8000";
  out->stream = req->body_len % 2;
  out->handle = &token;
  return 0;
}

static void finish(void *ctx, void *handle, int status, const sy_extproc_usage_t *u) {
  SY_UNUSED(ctx);
  SY_UNUSED(handle);
  SY_UNUSED(status);
  SY_UNUSED(u);
}

static const sy_extproc_director_ops_t OPS = {decide, finish};

static void emit(void *ctx, const void *msg) {
  SY_UNUSED(ctx);
  SY_UNUSED(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const sy_extproc_config_t cfg = {.max_request_body = 1 << 16, .max_usage_body = 1 << 12};
  sy_extproc_stream_t *st = sy_extproc_stream_new(&cfg, &OPS, NULL, emit, NULL);
  if (!st) return 0;
  size_t off = 0;
  while (off + 2 <= size) {
    size_t len = (size_t)data[off] | ((size_t)data[off + 1] << 8);
    off += 2;
    if (len > size - off) len = size - off;
    sy_extproc_stream_on_message(st, data + off, len);
    off += len;
  }
  if (size && (data[0] & 1)) sy_extproc_stream_on_half_close(st);
  sy_extproc_stream_free(st);
  return 0;
}
