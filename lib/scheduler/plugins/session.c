/* Session affinity (llm-d, Alpha): session-affinity-scorer (soft) and
 * session-affinity-filter (hard pin, never empty), strategy
 * encoded_endpoint_header: the request header carries base64("<namespace>/
 * <endpoint name>"). Writing the header back on the response is not done
 * here (see plugins/README.md). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "plugins.h"
#include "putil.h"

#define SESSION_DEFAULT_HEADER "x-session-token"
#define SESSION_TOKEN_MAX 1024

typedef struct session {
  char *header; /* lower-case */
} session_t;

static void session_destroy(void *st) {
  session_t *s = st;
  if (!s) return;
  sy_free(s->header);
  sy_free(s);
}

static int session_create(const sy_sched_plugin_args_t *args, void **state, sy_sched_error_t *err) {
  static const char *const keys[] = {"strategy",           "algorithm",          "headerName",
                                     "encodedEndpointHeaderConfig", "profileName", "sessionIdConfig",
                                     "evictionTtlSeconds", "evictionSweepSeconds", "missThreshold",
                                     NULL};
  static const char *const eeh_keys[] = {"header", NULL};
  static const char *const sid_keys[] = {"sources", NULL};
  const sy_yaml_node_t *p = args->params, *eeh = NULL, *sid = NULL;
  const char *strategy = NULL, *algorithm = NULL, *header = NULL, *header_name = NULL, *profile = NULL;
  double ttl = 0, sweep = 0;
  int64_t miss = 0;
  int rc;
  if ((rc = sy_pp_check(args, keys, err)) || (rc = sy_pp_str(args, p, "strategy", &strategy, err)) ||
      (rc = sy_pp_str(args, p, "algorithm", &algorithm, err)) ||
      (rc = sy_pp_str(args, p, "headerName", &header_name, err)) ||
      (rc = sy_pp_str(args, p, "profileName", &profile, err)) ||
      (rc = sy_pp_map(args, p, "encodedEndpointHeaderConfig", eeh_keys, &eeh, err)) ||
      (rc = sy_pp_str(args, eeh, "header", &header, err)) ||
      (rc = sy_pp_map(args, p, "sessionIdConfig", sid_keys, &sid, err)) ||
      (rc = sy_pp_double(args, p, "evictionTtlSeconds", 0, INFINITY, &ttl, err)) ||
      (rc = sy_pp_double(args, p, "evictionSweepSeconds", 0, INFINITY, &sweep, err)) ||
      (rc = sy_pp_int(args, p, "missThreshold", 0, INT32_MAX, &miss, err))) {
    return rc;
  }
  const char *which = strategy ? "strategy" : "algorithm";
  const char *strat = strategy ? strategy : algorithm;
  if (strat && *strat && strcmp(strat, "encoded_endpoint_header") != 0) {
    if (!strcmp(strat, "session_id") || !strcmp(strat, "session_id_header")) {
      return sy_sched_errorf(err, sy_yaml_get(p, which),
                             "%s \"%s\" is not supported (only encoded_endpoint_header)", which,
                             strat);
    }
    return sy_sched_errorf(err, sy_yaml_get(p, which), "unknown %s \"%s\" (encoded_endpoint_header)",
                           which, strat);
  }
  if (!header) header = header_name;
  /* NormalizeHeader: trim, lower-case, empty → the default. */
  while (header && isspace((unsigned char)*header)) header++;
  size_t len = header ? strlen(header) : 0;
  while (len && isspace((unsigned char)header[len - 1])) len--;
  session_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->header = len ? sy_strndup(header, len) : sy_strdup(SESSION_DEFAULT_HEADER);
  if (!s->header) {
    sy_free(s);
    return -ENOMEM;
  }
  for (char *q = s->header; *q; q++) *q = (char)tolower((unsigned char)*q);
  *state = s;
  return 0;
}

/* Decodes the session token into buf; false when absent or malformed. */
static bool session_target(const session_t *s, const sy_sched_cycle_t *c, char *buf, size_t cap) {
  const char *tok = c->req ? sy_sched_request_header(c->req, s->header) : NULL;
  if (!tok || !*tok) return false;
  long n = sy_base64_decode(tok, strlen(tok), buf, cap);
  return n > 0 && (size_t)n == strlen(buf);
}

/* Upstream compares the token with the endpoint's NamespacedName
 * "<namespace>/<pod>-rank-<i>" (ep->name is "<pod>-rank-<i>"). An endpoint
 * without a namespace (hand-built) is matched on the name part alone. */
static bool session_matches(const char *target, const sy_endpoint_t *ep) {
  const char *slash = strchr(target, '/');
  if (!slash || !ep->name) return false;
  if (ep->namespace_name) {
    size_t nl = strlen(ep->namespace_name);
    if ((size_t)(slash - target) != nl || memcmp(target, ep->namespace_name, nl) != 0) return false;
  } else if (slash == target) {
    return false;
  }
  return !strcmp(slash + 1, ep->name);
}

static void session_score(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n, double *scores) {
  char target[SESSION_TOKEN_MAX];
  bool have = session_target(st, c, target, sizeof(target));
  for (size_t i = 0; i < n; i++) scores[i] = have && session_matches(target, cands[i]->ep) ? 1.0 : 0.0;
}

const sy_sched_plugin_type_t sy_plugin_session_affinity_scorer = {
    .type = "session-affinity-scorer",
    .kinds = SY_SCHED_SCORER,
    .create = session_create,
    .destroy = session_destroy,
    .score = session_score,
};

/* Hard pin: the session's endpoint alone when it is a candidate, otherwise
 * every candidate (never empty). */
static size_t session_filter(void *st, sy_sched_cycle_t *c, sy_sched_cand_t **cands, size_t n) {
  char target[SESSION_TOKEN_MAX];
  if (n <= 1 || !session_target(st, c, target, sizeof(target))) return n;
  for (size_t i = 0; i < n; i++) {
    if (session_matches(target, cands[i]->ep)) {
      cands[0] = cands[i];
      return 1;
    }
  }
  return n;
}

const sy_sched_plugin_type_t sy_plugin_session_affinity_filter = {
    .type = "session-affinity-filter",
    .kinds = SY_SCHED_FILTER,
    .create = session_create,
    .destroy = session_destroy,
    .filter = session_filter,
};
