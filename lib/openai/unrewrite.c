/* Reverse model rewrite in response bodies (openai.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "openai.h"

#define MAX_MODEL 512

static char *fmt_pat(const char *sep, const char *model, size_t *len) {
  size_t n = strlen("\"model\":") + strlen(sep) + strlen(model) + 3;
  char *p = sy_malloc(n);
  if (!p) return NULL;
  *len = (size_t)snprintf(p, n, "\"model\":%s\"%s\"", sep, model);
  return p;
}

int sy_openai_unrewrite_init(sy_openai_unrewrite_t *u, const char *served, const char *requested) {
  memset(u, 0, sizeof(*u));
  /* one chunk (plus a held prefix) at a time; Envoy bounds the chunks */
  sy_buf_init(&u->out, (size_t)1 << 30);
  sy_buf_init(&u->work, (size_t)1 << 30);
  if (!served || !requested || !*served || strlen(served) > MAX_MODEL || strlen(requested) > MAX_MODEL)
    return SY_EINVAL;
  static const char *const SEP[2] = {"", " "};
  for (int i = 0; i < 2; i++) {
    if (!(u->pat[i] = fmt_pat(SEP[i], served, &u->pat_len[i])) ||
        !(u->rep[i] = fmt_pat(SEP[i], requested, &u->rep_len[i]))) {
      sy_openai_unrewrite_cleanup(u);
      return -ENOMEM;
    }
  }
  if (!(u->carry = sy_malloc(u->pat_len[1]))) {
    sy_openai_unrewrite_cleanup(u);
    return -ENOMEM;
  }
  return 0;
}

void sy_openai_unrewrite_cleanup(sy_openai_unrewrite_t *u) {
  for (int i = 0; i < 2; i++) {
    sy_free(u->pat[i]);
    sy_free(u->rep[i]);
  }
  sy_free(u->carry);
  sy_buf_cleanup(&u->out);
  sy_buf_cleanup(&u->work);
  memset(u, 0, sizeof(*u));
}

/* Does `p` (n bytes, the input's tail) start one of the patterns? */
static bool could_start(const sy_openai_unrewrite_t *u, const char *p, size_t n) {
  for (int i = 0; i < 2; i++)
    if (n < u->pat_len[i] && memcmp(p, u->pat[i], n) == 0) return true;
  return false;
}

/* Scans in[0..n) into u->out; *hold: how many trailing bytes to keep back.
 * 0 or an sy_buf error. */
static int scan(sy_openai_unrewrite_t *u, const char *in, size_t n, bool eos, size_t *hold) {
  size_t i = 0;
  int rc;
  *hold = 0;
  while (i < n) {
    const char *q = memchr(in + i, '"', n - i);
    size_t at = q ? (size_t)(q - in) : n;
    if ((rc = sy_buf_append(&u->out, in + i, at - i))) return rc;
    if (!q) break;
    size_t left = n - at;
    int hit = -1;
    for (int k = 0; k < 2 && hit < 0; k++)
      if (left >= u->pat_len[k] && memcmp(in + at, u->pat[k], u->pat_len[k]) == 0) hit = k;
    if (hit >= 0) {
      if ((rc = sy_buf_append(&u->out, u->rep[hit], u->rep_len[hit]))) return rc;
      i = at + u->pat_len[hit];
    } else if (!eos && could_start(u, in + at, left)) {
      *hold = left;
      break;
    } else {
      if ((rc = sy_buf_append(&u->out, in + at, 1))) return rc;
      i = at + 1;
    }
  }
  return 0;
}

int sy_openai_unrewrite_feed(sy_openai_unrewrite_t *u, const char *data, size_t len, bool eos, const char **out,
                             size_t *out_len) {
  const char *in = data;
  size_t n = len;
  if (u->carry_len) { /* the held bytes go first */
    u->work.len = 0;
    int rc = sy_buf_append(&u->work, u->carry, u->carry_len);
    if (rc || (rc = sy_buf_append(&u->work, data, len))) return rc;
    in = u->work.data;
    n = u->work.len;
  }
  u->out.len = 0;
  size_t hold;
  int rc = scan(u, in, n, eos, &hold);
  if (rc) return rc; /* the held bytes are still held: the caller may flush them */
  /* a held run starts at a quote and is a proper prefix of a pattern */
  if (hold) memcpy(u->carry, in + n - hold, hold); /* in is NULL for an empty chunk */
  u->carry_len = hold;
  *out = u->out.data ? u->out.data : "";
  *out_len = u->out.len;
  return 0;
}
