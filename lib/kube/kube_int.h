/* kube — declarations shared between the module's files (not public).
 *
 * Owned by config.c / client.c; event.c and informer.c may use anything
 * here. Nothing in this header includes curl.h: easy handles and header
 * lists travel as void * like in kube.h. */
#ifndef SY_KUBE_INT_H
#define SY_KUBE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "kube.h"

/* Response bodies of sy_kube_request are bounded by this (kube.h: 64 MiB). */
#define SY_KUBE__MAX_BODY ((size_t)64 * 1024 * 1024)
#define SY_KUBE__USER_AGENT "switchyard/0.1"
#define SY_KUBE__CONNECT_TIMEOUT_MS 10000L
#define SY_KUBE__DEFAULT_TIMEOUT_MS 30000L
/* A token file is re-read when its inode, size or mtime changes, and at
 * least this often anyway (client-go's cachingTokenSource: 1 minute). */
#define SY_KUBE__TOKEN_MAX_AGE_NS ((uint64_t)60 * 1000000000u)

/* --------------------------------------------------------------- config.c */

/* Deep copy of `src` (every string and PEM blob). 0 or -ENOMEM. */
int sy_kube__config_copy(const sy_kube_config_t *src, sy_kube_config_t **out);

/* sy_kube_config_load with the service-account directory used for the
 * in-cluster step overridable (NULL = SY_KUBE_SA_DIR), for tests. */
int sy_kube__config_load_sa(const char *explicit_path, const char *sa_dir, sy_kube_config_t **out,
                            char *err, size_t errlen);

/* Reads a small regular file (not a FIFO or device: it never blocks) of at
 * most `max` bytes into a new NUL-terminated buffer. 0, SY_ETOOBIG, SY_EINVAL
 * (not a regular file) or -errno. */
int sy_kube__read_file(const char *path, size_t max, char **out, size_t *len);

/* --------------------------------------------------------------- client.c */

/* sy_kube_client_prepare, with a message in err (may be NULL) on failure:
 * an unreadable token file with no token cached yet, a bad path, or a curl
 * option the library refused. */
int sy_kube__client_prepare(sy_kube_client_t *c, void *easy, const char *path_and_query,
                            const char *content_type, void **headers, char *err, size_t errlen);

/* Extracts the human-readable part of an error response: a Status object's
 * "message" (else its "reason"); for a body that is not a Status, a short
 * printable prefix of the body. Writes "" when there is nothing. Pure. */
void sy_kube__status_message(const char *body, size_t len, char *out, size_t outlen);

/* Maps a CURLcode (passed as int) to a negative switchyard code:
 * timeouts -ETIMEDOUT, connect failures -ECONNREFUSED, resolve failures
 * -EHOSTUNREACH, TLS failures -EPROTO, size limits SY_ETOOBIG, out of memory
 * -ENOMEM, aborted by a callback -ECANCELED, anything else -EIO. */
int sy_kube__curl_code(int curl_code);

/* Test hook: how many times the client has (re-)read its token file. */
unsigned long sy_kube__client_token_reads(sy_kube_client_t *c);

#endif /* SY_KUBE_INT_H */
