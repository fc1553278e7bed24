/* Chunked transfer-coding decoder (RFC 9112 §7.1) for request bodies. */
#include "sim.h"

enum {
  CK_SIZE = 0, /* hex digits of the chunk size */
  CK_EXT,      /* chunk extensions, ignored up to the end of the line */
  CK_SIZE_LF,  /* CR seen, LF expected */
  CK_DATA,
  CK_DATA_CR, /* CRLF after the chunk data */
  CK_DATA_LF,
  CK_TRAILER,    /* start of a trailer line, or the final empty line */
  CK_TRAILER_LN, /* inside a trailer field line */
  CK_END_LF,     /* CR of the final empty line seen */
  CK_DONE,
};

#define LINE_MAX_BYTES 4096 /* size line with extensions, or one trailer field */

void sy_sim_chunked_init(sy_sim_chunked_t *d) {
  d->state = CK_SIZE;
  d->remain = 0;
  d->digits = 0;
  d->line = 0;
  d->done = false;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* End of a size line: a zero size starts the trailer section. */
static int size_line_done(sy_sim_chunked_t *d) {
  if (!d->digits) return SY_EPARSE;
  d->line = 0;
  d->state = d->remain ? CK_DATA : CK_TRAILER;
  return 0;
}

int sy_sim_chunked_feed(sy_sim_chunked_t *d, const char *in, size_t len, sy_sim_chunked_sink_t sink, void *ctx) {
  size_t i = 0;
  while (i < len && d->state != CK_DONE) {
    char c = in[i];
    switch (d->state) {
      case CK_SIZE: {
        int v = hexval(c);
        if (v >= 0) {
          if (d->digits >= 15) return SY_EPARSE; /* would overflow */
          d->remain = d->remain * 16 + (uint64_t)v;
          d->digits++;
        } else if (c == ';' || c == ' ' || c == '\t') {
          d->state = CK_EXT;
        } else if (c == '\r') {
          d->state = CK_SIZE_LF;
        } else if (c == '\n') {
          if (size_line_done(d)) return SY_EPARSE;
        } else {
          return SY_EPARSE;
        }
        i++;
        break;
      }
      case CK_EXT:
        if (++d->line > LINE_MAX_BYTES) return SY_EPARSE;
        if (c == '\r') d->state = CK_SIZE_LF;
        else if (c == '\n' && size_line_done(d)) return SY_EPARSE;
        i++;
        break;
      case CK_SIZE_LF:
        if (c != '\n' || size_line_done(d)) return SY_EPARSE;
        i++;
        break;
      case CK_DATA: {
        size_t n = len - i;
        if ((uint64_t)n > d->remain) n = (size_t)d->remain;
        if (sink) {
          int rc = sink(ctx, in + i, n);
          if (rc) return rc;
        }
        d->remain -= n;
        i += n;
        if (!d->remain) d->state = CK_DATA_CR;
        break;
      }
      case CK_DATA_CR:
        if (c == '\r') d->state = CK_DATA_LF;
        else if (c == '\n') d->state = CK_SIZE, d->digits = 0;
        else return SY_EPARSE;
        i++;
        break;
      case CK_DATA_LF:
        if (c != '\n') return SY_EPARSE;
        d->state = CK_SIZE;
        d->digits = 0;
        i++;
        break;
      case CK_TRAILER:
        if (c == '\r') d->state = CK_END_LF;
        else if (c == '\n') d->state = CK_DONE;
        else d->state = CK_TRAILER_LN, d->line = 1;
        i++;
        break;
      case CK_TRAILER_LN:
        if (++d->line > LINE_MAX_BYTES) return SY_EPARSE;
        if (c == '\n') d->state = CK_TRAILER;
        i++;
        break;
      case CK_END_LF:
        if (c != '\n') return SY_EPARSE;
        d->state = CK_DONE;
        i++;
        break;
      default:
        return SY_EPARSE;
    }
  }
  d->done = d->state == CK_DONE;
  return 0;
}
