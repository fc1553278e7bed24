#include "director.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "openai.h"

/* Gateway mode: one scheduler per InferencePool, in an insert-only open
 * addressing table so lookups take no lock (creation takes `mu`). */
#define POOL_SCHED_SLOTS 1024

typedef struct pool_sched {
  char *key; /* "namespace/name" */
  sy_sched_t *sched;
} pool_sched_t;

struct sy_director {
  sy_director_hooks_t hooks;
  atomic_uint_fast64_t decisions, completed;
  atomic_uint_fast64_t err[6]; /* 400 413 429 500 503 other */
  char *pool_name;
  char *pool_namespace;
  sy_datastore_t *ds;
  sy_sched_t *sched;
  bool gateway;
  sy_director_routes_t routes;
  pthread_mutex_t mu;
  _Atomic(pool_sched_t *) scheds[POOL_SCHED_SLOTS];
};

/* Per-request state handed back to finish(): the endpoint whose in-flight
 * counts we raised, with a reference so it outlives any snapshot. */
typedef struct handle {
  sy_endpoint_state_t *state;
  sy_sched_t *sched; /* the scheduler that picked (gateway mode: the pool's) */
  long tokens; /* added to in_flight_tokens */
  uint64_t start_ns;
  const char *model, *target_model; /* in the stream's arena (alive until finish) */
} handle_t;

int sy_director_new(sy_director_t **out, const sy_director_config_t *cfg, sy_datastore_t *ds, sy_sched_t *sched) {
  sy_director_t *d = sy_calloc(1, sizeof(*d));
  if (!d) return -ENOMEM;
  d->pool_name = sy_strdup(cfg->pool_name ? cfg->pool_name : "");
  d->pool_namespace = sy_strdup(cfg->pool_namespace ? cfg->pool_namespace : "default");
  d->ds = ds;
  d->sched = sched;
  d->hooks = cfg->hooks;
  pthread_mutex_init(&d->mu, NULL);
  if (cfg->routes) {
    d->gateway = true;
    d->routes = *cfg->routes;
  }
  if (!d->pool_name || !d->pool_namespace) {
    sy_director_free(d);
    return -ENOMEM;
  }
  *out = d;
  return 0;
}

void sy_director_free(sy_director_t *d) {
  if (!d) return;
  for (size_t i = 0; i < POOL_SCHED_SLOTS; i++) {
    pool_sched_t *p = atomic_load(&d->scheds[i]);
    if (!p) continue;
    sy_sched_free(p->sched);
    sy_free(p->key);
    sy_free(p);
  }
  pthread_mutex_destroy(&d->mu);
  sy_free(d->pool_name);
  sy_free(d->pool_namespace);
  sy_free(d);
}

void sy_director_stats(const sy_director_t *d, sy_director_stats_t *o) {
  o->decisions = atomic_load(&d->decisions);
  o->completed = atomic_load(&d->completed);
  o->errors_400 = atomic_load(&d->err[0]);
  o->errors_413 = atomic_load(&d->err[1]);
  o->errors_429 = atomic_load(&d->err[2]);
  o->errors_500 = atomic_load(&d->err[3]);
  o->errors_503 = atomic_load(&d->err[4]);
  o->errors_other = atomic_load(&d->err[5]);
}

static void count_outcome(sy_director_t *d, const sy_extproc_decision_t *out, int rc) {
  int code = rc ? 500 : out->http_status;
  if (code == 0) {
    atomic_fetch_add_explicit(&d->decisions, 1, memory_order_relaxed);
    return;
  }
  int i = code == 400 ? 0 : code == 413 ? 1 : code == 429 ? 2 : code == 500 ? 3 : code == 503 ? 4 : 5;
  atomic_fetch_add_explicit(&d->err[i], 1, memory_order_relaxed);
}

static void fail(sy_extproc_decision_t *out, int status, const char *kind, const char *msg) {
  out->http_status = status;
  out->error_kind = kind;
  out->error_msg = msg;
}

/* Does subset entry `want` name endpoint e? As the full upstream EPP does,
 * only the IP counts: "ip:port" (or "[v6]:port") matches every target port
 * of that pod, and a bare IP is accepted too. */
static bool subset_match(const char *want, const sy_endpoint_t *e) {
  size_t len = strlen(want);
  const char *colon = strrchr(want, ':');
  if (want[0] == '[') { /* [v6]:port or [v6] */
    const char *close = strchr(want, ']');
    if (!close) return false;
    want++;
    len = (size_t)(close - want);
  } else if (colon && strchr(want, ':') == colon) { /* v4:port */
    len = (size_t)(colon - want);
  } /* else: a bare IPv4 or an unbracketed IPv6 address */
  return strlen(e->ip) == len && memcmp(want, e->ip, len) == 0;
}

static const char *join_destination(sy_arena_t *a, const sy_sched_result_t *r) {
  size_t len = 0;
  for (size_t i = 0; i < r->n; i++) len += strlen(r->endpoints[i]->address) + 1;
  char *s = sy_arena_alloc(a, len + 1);
  if (!s) return NULL;
  size_t off = 0;
  for (size_t i = 0; i < r->n; i++) {
    size_t n = strlen(r->endpoints[i]->address);
    if (i) s[off++] = ',';
    memcpy(s + off, r->endpoints[i]->address, n);
    off += n;
  }
  s[off] = '\0';
  return s;
}

static int decide_inner(sy_director_t *d, const sy_extproc_request_t *req, sy_extproc_decision_t *out,
                        sy_director_event_t *ev, sy_snapshot_t **held);
static int decide_gateway(sy_director_t *d, const sy_extproc_request_t *req, sy_extproc_decision_t *out,
                          sy_director_event_t *ev, sy_snapshot_t **held);

static int decide(void *ctx, const sy_extproc_request_t *req, sy_extproc_decision_t *out) {
  sy_director_t *d = ctx;
  sy_director_event_t ev;
  memset(&ev, 0, sizeof(ev));
  ev.model = ev.target_model = "";
  /* The snapshot the decision was made on is held until the hook has run:
   * ev.endpoint points into it, and a publish in between would free it. */
  sy_snapshot_t *held = NULL;
  int rc = d->gateway ? decide_gateway(d, req, out, &ev, &held) : decide_inner(d, req, out, &ev, &held);
  count_outcome(d, out, rc);
  if (rc || out->http_status) {
    char code[16];
    snprintf(code, sizeof(code), "%d", rc ? 500 : out->http_status);
    SY_LOG(SY_LOG_VERBOSE, "request rejected", "request_id", req->request_id, "pool", d->pool_name, "namespace",
           d->pool_namespace, "status", code, "kind", rc ? "Internal" : out->error_kind, "msg",
           rc ? sy_strerror(rc) : out->error_msg, NULL);
  }
  if (d->hooks.decided) {
    ev.status = rc ? 500 : out->http_status;
    ev.error_kind = rc ? "Internal" : out->error_kind;
    ev.request_bytes = req->body_len;
    d->hooks.decided(d->hooks.ctx, &ev);
  }
  sy_snapshot_release(held);
  return rc;
}

static int decide_pool(sy_director_t *d, const sy_extproc_request_t *req, sy_extproc_decision_t *out,
                       sy_director_event_t *ev, const char *pool_ns, const char *pool_name, sy_sched_t *sched,
                       sy_snapshot_t **held);

static int decide_inner(sy_director_t *d, const sy_extproc_request_t *req, sy_extproc_decision_t *out,
                        sy_director_event_t *ev, sy_snapshot_t **held) {
  return decide_pool(d, req, out, ev, d->pool_namespace, d->pool_name, d->sched, held);
}

/* Decides on the snapshot *held, acquiring it when NULL; the caller
 * releases *held (after the decided hook, which reads ev->endpoint). */
static int decide_pool(sy_director_t *d, const sy_extproc_request_t *req, sy_extproc_decision_t *out,
                       sy_director_event_t *ev, const char *pool_ns, const char *pool_name, sy_sched_t *sched,
                       sy_snapshot_t **held) {
  sy_arena_t *a = req->arena;
  char errbuf[256];
  sy_openai_request_t oreq;
  memset(&oreq, 0, sizeof(oreq));

  /* Parse before taking the snapshot: a bad request costs no locking. */
  if (!req->headers_only) {
    sy_openai_api_t api = sy_openai_api_from_path(req->path, strlen(req->path));
    int rc = sy_openai_parse_request(a, api, req->body, req->body_len, &oreq, errbuf, sizeof(errbuf));
    if (rc == SY_EPARSE) {
      fail(out, 400, "BadRequest", sy_arena_strndup(a, errbuf, strlen(errbuf)));
      return 0;
    }
    if (rc) return rc;
    ev->model = ev->target_model = oreq.model;
    out->stream = oreq.stream;
    out->body = req->body;
    out->body_len = req->body_len;
  }

  if (!*held) *held = sy_datastore_acquire(d->ds);
  const sy_pool_snap_t *pool = sy_snapshot_pool(*held, pool_ns, pool_name);
  if (!req->headers_only) {
    /* Model rewrite, as upstream: the header overrides, then the pool's
     * InferenceModelRewrites. The snapshot outlives this call only through
     * the arena copy. */
    const char *target = req->model_rewrite;
    if (!target && pool) {
      const char *object = NULL;
      target = sy_pool_model_rewrite(pool, oreq.model, sy_rand_u64(), &object);
      if (target) {
        ev->rewrite_object = sy_arena_strndup(a, object, strlen(object));
        target = sy_arena_strndup(a, target, strlen(target));
        if (!target || !ev->rewrite_object) return -ENOMEM;
      }
    }
    if (target && strcmp(target, oreq.model) != 0) {
      char *nb;
      size_t nlen;
      int rrc = sy_openai_rewrite_model(a, req->body, req->body_len, target, &nb, &nlen);
      if (rrc) return rrc;
      out->body = nb;
      out->body_len = nlen;
      out->model_requested = oreq.model;
      out->model_served = target;
      oreq.model = (char *)target;
      ev->target_model = oreq.model;
    }
  }
  size_t n_all = pool ? pool->n_endpoints : 0;
  int rc = 0;

  if (req->headers_only) {
    /* As upstream: a body-less request goes to a random endpoint of the
     * pool, without subset, scheduling or admission. */
    if (n_all == 0) {
      fail(out, 500, "Internal", "no pods available in datastore");
      goto out;
    }
    const sy_endpoint_t *e = &pool->endpoints[sy_rand_below(n_all)];
    out->destination = sy_arena_strndup(a, e->address, strlen(e->address));
    if (!out->destination) rc = -ENOMEM;
    goto out;
  }

  const sy_endpoint_t **cands = sy_arena_alloc(a, sizeof(*cands) * (n_all ? n_all : 1));
  if (!cands) {
    rc = -ENOMEM;
    goto out;
  }
  size_t n = 0;
  for (size_t i = 0; i < n_all; i++) {
    const sy_endpoint_t *e = &pool->endpoints[i];
    if (req->subset_present) {
      bool hit = false;
      for (size_t k = 0; k < req->n_subset && !hit; k++) hit = subset_match(req->subset[k], e);
      if (!hit) continue;
    }
    cands[n++] = e;
  }
  if (n == 0) {
    fail(out, 503, "ServiceUnavailable", "failed to find endpoint candidates for serving the request");
    goto out;
  }

  /* Legacy admission (upstream's default): only sheddable requests
   * (priority < 0) are checked, and dropped with 429 when the pool is
   * saturated. */
  int priority = sy_pool_objective_priority(pool, req->objective);
  ev->priority = priority;
  uint64_t now = sy_now_ns();
  if (priority < 0 && sy_sched_saturation(sched, a, now, cands, n) >= 1.0) {
    fail(out, 429, "ResourceExhausted", "system saturated, sheddable request dropped");
    goto out;
  }

  sy_sched_header_t *hdrs = sy_arena_alloc(a, sizeof(*hdrs) * (req->n_headers ? req->n_headers : 1));
  if (!hdrs) {
    rc = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < req->n_headers; i++) {
    hdrs[i].key = req->header_keys[i];
    hdrs[i].value = req->header_values[i];
  }
  sy_sched_request_t sreq = {.request_id = req->request_id,
                             .model = oreq.model,
                             .prompt = oreq.prompt,
                             .prompt_len = oreq.prompt_len,
                             .cache_salt = oreq.cache_salt,
                             .priority = priority,
                             .headers = hdrs,
                             .n_headers = req->n_headers};
  sy_sched_result_t res;
  rc = sy_sched_schedule(sched, a, now, &sreq, cands, n, &res);
  ev->schedule_seconds = (double)(sy_now_ns() - now) / 1e9;
  if (rc == SY_ENOTFOUND) {
    rc = 0;
    fail(out, 429, "ResourceExhausted", "failed to find target endpoint");
    goto out;
  }
  if (rc) goto out;
  out->destination = join_destination(a, &res);
  handle_t *h = sy_arena_alloc(a, sizeof(*h));
  if (!out->destination || !h) {
    rc = -ENOMEM;
    goto out;
  }
  if (res.n_headers) {
    const char **k = sy_arena_alloc(a, sizeof(char *) * res.n_headers);
    const char **v = sy_arena_alloc(a, sizeof(char *) * res.n_headers);
    if (!k || !v) {
      rc = -ENOMEM;
      goto out;
    }
    for (size_t i = 0; i < res.n_headers; i++) {
      k[i] = res.headers[i].key;
      v[i] = res.headers[i].value;
    }
    out->set_keys = k;
    out->set_values = v;
    out->n_set = res.n_headers;
  }
  const sy_endpoint_t *primary = res.endpoints[0];
  h->state = sy_endpoint_state_ref(primary->state);
  h->sched = sched;
  h->tokens = res.prompt_tokens_estimate;
  h->start_ns = now;
  h->model = ev->model;
  h->target_model = ev->target_model;
  ev->endpoint = primary;
  ev->prefix_known = res.prefix_known;
  ev->prefix_hit_ratio = res.prefix_hit_ratio;
  ev->prefix_hit_bytes = res.prefix_hit_bytes;
  atomic_fetch_add_explicit(&h->state->in_flight, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->state->in_flight_tokens, h->tokens, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->state->picked, 1, memory_order_relaxed);
  if (res.prefix_known) {
    atomic_fetch_add_explicit(&h->state->prefix_milli, (uint64_t)(res.prefix_hit_ratio * 1000.0 + 0.5),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&h->state->prefix_samples, 1, memory_order_relaxed);
  }
  out->handle = h;
  SY_LOG(SY_LOG_DEBUG, "endpoint picked", "request_id", req->request_id, "pool", pool_name, "namespace",
         pool_ns, "model", oreq.model, "endpoint", out->destination, NULL);
out:
  return rc;
}


/* ------------------------------------------------------------ gateway mode */

/* The scheduler of pool ns/name, created on first use. Lock-free lookup;
 * NULL only when it cannot be built (the caller then uses d->sched). */
static sy_sched_t *pool_sched(sy_director_t *d, const char *ns, const char *name) {
  char key[512];
  int klen = snprintf(key, sizeof(key), "%s/%s", ns, name);
  if (klen < 0 || (size_t)klen >= sizeof(key)) return NULL;
  size_t h = (size_t)XXH3_64bits(key, (size_t)klen);
  for (size_t i = 0; i < POOL_SCHED_SLOTS; i++) {
    pool_sched_t *p = atomic_load_explicit(&d->scheds[(h + i) % POOL_SCHED_SLOTS], memory_order_acquire);
    if (!p) break; /* not there: create it under the lock */
    if (!strcmp(p->key, key)) return p->sched;
  }
  sy_sched_t *found = NULL;
  pthread_mutex_lock(&d->mu);
  for (size_t i = 0; i < POOL_SCHED_SLOTS && !found; i++) {
    _Atomic(pool_sched_t *) *slot = &d->scheds[(h + i) % POOL_SCHED_SLOTS];
    pool_sched_t *p = atomic_load_explicit(slot, memory_order_acquire);
    if (p) {
      if (!strcmp(p->key, key)) found = p->sched; /* another thread won the race */
      continue;
    }
    pool_sched_t *n = sy_calloc(1, sizeof(*n));
    sy_sched_error_t err;
    if (!n || !(n->key = sy_strdup(key)) ||
        sy_sched_new_from_config(&n->sched, d->routes.sched_origin, d->routes.sched_text, d->routes.sched_len, &err)) {
      if (n) sy_free(n->key);
      sy_free(n);
      break;
    }
    atomic_store_explicit(slot, n, memory_order_release);
    SY_LOG(SY_LOG_INFO, "scheduler created for pool", "pool", key, NULL);
    found = n->sched;
  }
  pthread_mutex_unlock(&d->mu);
  return found; /* NULL: cannot build one, or the table is full */
}

static const char *header_of(const sy_extproc_request_t *req, const char *key) {
  for (size_t i = 0; i < req->n_headers; i++)
    if (sy_str_ieq(req->header_keys[i], strlen(req->header_keys[i]), key)) return req->header_values[i];
  return NULL;
}

/* Growable (arena) list of header edits for one decision. */
typedef struct edits {
  const char **set_k, **set_v, **rm;
  size_t n_set, n_rm, cap;
  const char **rset_k, **rset_v, **radd_k, **radd_v, **rrm;
  size_t n_rset, n_radd, n_rrm;
} edits_t;

static int edits_init(sy_arena_t *a, edits_t *e, size_t cap) {
  memset(e, 0, sizeof(*e));
  e->cap = cap;
  const char ***all[] = {&e->set_k, &e->set_v, &e->rm, &e->rset_k, &e->rset_v, &e->radd_k, &e->radd_v, &e->rrm};
  for (size_t i = 0; i < SY_ARRAY_LEN(all); i++)
    if (!(*all[i] = sy_arena_alloc(a, sizeof(char *) * cap))) return -ENOMEM;
  return 0;
}

/* An arena copy: the decision outlives the route table it came from (the
 * response edits are applied when the response arrives, after any number
 * of table publishes), so nothing in it may point into the table. */
static const char *adup(sy_arena_t *a, const char *s) { return s ? sy_arena_strndup(a, s, strlen(s)) : NULL; }

/* Applies one filter's request/response header edits, copying every name
 * and value into the arena. "add" on the request side joins with the
 * received value (HTTP list semantics). */
static int edits_apply(sy_arena_t *a, edits_t *e, const sy_extproc_request_t *req, const sy_gw_filter_t *f) {
  const sy_gw_header_mod_t *m = &f->headers;
  if (f->type == SY_GW_FILTER_REQUEST_HEADER) {
    for (size_t i = 0; i < m->n_set && e->n_set < e->cap; i++) {
      if (!(e->set_k[e->n_set] = adup(a, m->set[i].name)) || !(e->set_v[e->n_set] = adup(a, m->set[i].value)))
        return -ENOMEM;
      e->n_set++;
    }
    for (size_t i = 0; i < m->n_add && e->n_set < e->cap; i++) {
      const char *cur = header_of(req, m->add[i].name), *v = m->add[i].value;
      size_t cl = cur ? strlen(cur) : 0, vl = strlen(v);
      char *j = sy_arena_alloc(a, cl + vl + 2);
      if (!j || !(e->set_k[e->n_set] = adup(a, m->add[i].name))) return -ENOMEM;
      if (cl) {
        memcpy(j, cur, cl);
        j[cl++] = ',';
      }
      memcpy(j + cl, v, vl + 1);
      e->set_v[e->n_set++] = j;
    }
    for (size_t i = 0; i < m->n_remove && e->n_rm < e->cap; i++)
      if (!(e->rm[e->n_rm++] = adup(a, m->remove[i]))) return -ENOMEM;
  } else if (f->type == SY_GW_FILTER_RESPONSE_HEADER) {
    for (size_t i = 0; i < m->n_set && e->n_rset < e->cap; i++) {
      if (!(e->rset_k[e->n_rset] = adup(a, m->set[i].name)) || !(e->rset_v[e->n_rset] = adup(a, m->set[i].value)))
        return -ENOMEM;
      e->n_rset++;
    }
    for (size_t i = 0; i < m->n_add && e->n_radd < e->cap; i++) {
      if (!(e->radd_k[e->n_radd] = adup(a, m->add[i].name)) || !(e->radd_v[e->n_radd] = adup(a, m->add[i].value)))
        return -ENOMEM;
      e->n_radd++;
    }
    for (size_t i = 0; i < m->n_remove && e->n_rrm < e->cap; i++)
      if (!(e->rrm[e->n_rrm++] = adup(a, m->remove[i]))) return -ENOMEM;
  }
  return 0;
}

/* Sets header `key` to `ms` (when set: >= 0, or > 0 unless zero_ok), else
 * removes a value the client sent. */
static int edits_timeout(sy_arena_t *a, edits_t *e, const sy_extproc_request_t *req, const char *key, int64_t ms,
                         bool zero_ok) {
  if (ms > 0 || (ms == 0 && zero_ok)) {
    if (e->n_set >= e->cap) return 0;
    char num[24];
    snprintf(num, sizeof(num), "%lld", (long long)ms);
    if (!(e->set_v[e->n_set] = adup(a, num))) return -ENOMEM;
    e->set_k[e->n_set++] = key;
  } else if (header_of(req, key) && e->n_rm < e->cap) {
    e->rm[e->n_rm++] = key;
  }
  return 0;
}

static size_t filter_edit_count(const sy_gw_filter_t *f, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    if (f[i].type == SY_GW_FILTER_REQUEST_HEADER || f[i].type == SY_GW_FILTER_RESPONSE_HEADER)
      c += f[i].headers.n_set + f[i].headers.n_add + f[i].headers.n_remove;
  return c;
}

static int decide_gateway(sy_director_t *d, const sy_extproc_request_t *req, sy_extproc_decision_t *out,
                          sy_director_event_t *ev, sy_snapshot_t **held) {
  sy_arena_t *a = req->arena;
  sy_gw_table_t *table = d->routes.acquire(d->routes.ctx);
  if (!table) {
    fail(out, 503, "ServiceUnavailable", "no route table yet");
    return 0;
  }
  /* The request as the route table sees it. */
  const char *host = header_of(req, ":authority");
  if (!host) host = header_of(req, "host");
  if (!host) host = "";
  const char *port_hdr = header_of(req, SY_HDR_LISTENER_PORT);
  int32_t port = port_hdr ? (int32_t)strtol(port_hdr, NULL, 10) : d->routes.default_port;
  const char *q = strchr(req->path, '?');
  size_t path_len = q ? (size_t)(q - req->path) : strlen(req->path);
  sy_gw_req_header_t *hdrs = sy_arena_alloc(a, sizeof(*hdrs) * (req->n_headers ? req->n_headers : 1));
  if (!hdrs) {
    sy_gw_table_unref(table);
    return -ENOMEM;
  }
  for (size_t i = 0; i < req->n_headers; i++)
    hdrs[i] = (sy_gw_req_header_t){req->header_keys[i], strlen(req->header_keys[i]), req->header_values[i],
                                   strlen(req->header_values[i])};
  sy_gw_request_t gr = {.port = port,
                        .host = host,
                        .host_len = strlen(host),
                        .method = req->method,
                        .method_len = strlen(req->method),
                        .path = req->path,
                        .path_len = path_len,
                        .query = q ? q + 1 : "",
                        .query_len = q ? strlen(q + 1) : 0,
                        .headers = hdrs,
                        .n_headers = req->n_headers};
  sy_gw_match_info_t info;
  const sy_gw_rule_t *rule = sy_gw_table_lookup(table, &gr, &info);
  int rc = 0;
  if (!rule) {
    fail(out, 404, "NotFound", "no route matches the request");
    goto done;
  }
  if (rule->redirect) {
    char loc[2048];
    int n = sy_gw_redirect_location(&rule->redirect->redirect, "http", host, strlen(host), port, req->path, path_len,
                                    info.prefix_len, gr.query, gr.query_len, loc, sizeof(loc));
    if (n < 0) {
      fail(out, 500, "Internal", "redirect location too long");
      goto done;
    }
    out->http_status = rule->redirect->redirect.status_code;
    out->location = sy_arena_strndup(a, loc, (size_t)n);
    out->error_kind = "Redirect";
    out->error_msg = out->location;
    if (!out->location) rc = -ENOMEM;
    goto done;
  }
  const sy_gw_backend_t *be = NULL;
  sy_gw_pick_t pick = sy_gw_rule_pick(rule, sy_rand_u64(), &be);
  if (pick == SY_GW_PICK_500 || rule->filter_error) {
    fail(out, 500, "Internal", "the route's backends are not resolved");
    goto done;
  }
  if (pick == SY_GW_PICK_503) {
    fail(out, 503, "ServiceUnavailable", "the Service has no ready endpoints");
    goto done;
  }

  /* Header filters (rule, then backend) and URLRewrite. */
  edits_t e;
  size_t cap = 10 + filter_edit_count(rule->filters, rule->n_filters) + filter_edit_count(be->filters, be->n_filters);
  if ((rc = edits_init(a, &e, cap))) goto done;
  for (size_t i = 0; i < rule->n_filters && !rc; i++) rc = edits_apply(a, &e, req, &rule->filters[i]);
  for (size_t i = 0; i < be->n_filters && !rc; i++) rc = edits_apply(a, &e, req, &be->filters[i]);
  if (rc) goto done;
  if (rule->rewrite) {
    const sy_gw_url_rewrite_t *rw = &rule->rewrite->rewrite;
    if (rw->hostname && e.n_set < e.cap) {
      e.set_k[e.n_set] = ":authority";
      if (!(e.set_v[e.n_set++] = adup(a, rw->hostname))) {
        rc = -ENOMEM;
        goto done;
      }
    }
    if (rw->path.type != SY_GW_PATHMOD_NONE && e.n_set < e.cap) {
      size_t plen = strlen(req->path) + strlen(rw->path.value ? rw->path.value : "") + 2;
      char *np = sy_arena_alloc(a, plen + (q ? strlen(q) : 0));
      int n = np ? sy_gw_path_rewrite(&rw->path, req->path, path_len, info.prefix_len, np, plen) : -ENOMEM;
      if (n < 0) {
        rc = n == -ENOMEM ? n : 0;
        if (!rc) fail(out, 500, "Internal", "rewritten path too long");
        goto done;
      }
      if (q) memcpy(np + n, q, strlen(q) + 1); /* keep the query */
      e.set_k[e.n_set] = ":path";
      e.set_v[e.n_set++] = np;
    }
  }

  bool h2c = false;
  if (be->type == SY_GW_BACKEND_SERVICE) {
    const char *ep = be->endpoints[sy_rand_below(be->n_endpoints)];
    out->destination = sy_arena_strndup(a, ep, strlen(ep));
    out->body = req->body;
    out->body_len = req->body_len;
    if (!out->destination) rc = -ENOMEM;
  } else {
    sy_sched_t *sched = pool_sched(d, be->namespace_name, be->name);
    rc = decide_pool(d, req, out, ev, be->namespace_name, be->name, sched ? sched : d->sched, held);
    if (!rc && !out->http_status) {
      /* h2c pools: tell the data plane to use its HTTP/2 cleartext cluster
       * (the same snapshot the endpoint was picked from) */
      const sy_pool_snap_t *ps = sy_snapshot_pool(*held, be->namespace_name, be->name);
      if (ps && ps->app_h2c && e.n_set < e.cap) {
        e.set_k[e.n_set] = SY_HDR_UPSTREAM_PROTOCOL;
        e.set_v[e.n_set++] = "h2c";
        h2c = true;
      }
    }
  }
  if (rc || out->http_status) goto done;
  /* The header is ours to set: a client's own must not pick the data
   * plane's HTTP/2 cluster for a backend that speaks HTTP/1.1. */
  if (!h2c && header_of(req, SY_HDR_UPSTREAM_PROTOCOL) && e.n_rm < e.cap) e.rm[e.n_rm++] = SY_HDR_UPSTREAM_PROTOCOL;
  /* HTTPRoute timeouts, enforced by the data plane's router: request is the
   * whole exchange ("0s" disables it), backendRequest each attempt. A
   * client's own value never applies. */
  if ((rc = edits_timeout(a, &e, req, SY_HDR_RQ_TIMEOUT, rule->timeout_request_ms, true)) ||
      (rc = edits_timeout(a, &e, req, SY_HDR_RQ_PER_TRY_TIMEOUT, rule->timeout_backend_ms, false)))
    goto done;
  /* merge the scheduler's headers (e.g. x-prefiller-host-port) with ours */
  for (size_t i = 0; i < out->n_set && e.n_set < e.cap; i++) {
    e.set_k[e.n_set] = out->set_keys[i];
    e.set_v[e.n_set++] = out->set_values[i];
  }
  out->set_keys = e.set_k;
  out->set_values = e.set_v;
  out->n_set = e.n_set;
  out->remove = e.rm;
  out->n_remove = e.n_rm;
  out->resp_set_keys = e.rset_k;
  out->resp_set_values = e.rset_v;
  out->n_resp_set = e.n_rset;
  out->resp_add_keys = e.radd_k;
  out->resp_add_values = e.radd_v;
  out->n_resp_add = e.n_radd;
  out->resp_remove = e.rrm;
  out->n_resp_remove = e.n_rrm;
done:
  sy_gw_table_unref(table);
  return rc;
}

static void finish(void *ctx, void *handle, int response_status, const sy_extproc_usage_t *usage) {
  sy_director_t *d = ctx;
  handle_t *h = handle;
  if (!h || !h->state) return;
  atomic_fetch_add_explicit(&d->completed, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&h->state->in_flight, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&h->state->in_flight_tokens, h->tokens, memory_order_relaxed);
  sy_sched_completion_t done = {.state = h->state,
                                .status = response_status,
                                .prompt_tokens = usage && usage->found ? usage->prompt_tokens : h->tokens,
                                .completion_tokens = usage && usage->found ? usage->completion_tokens : 0};
  sy_sched_complete(h->sched ? h->sched : d->sched, &done);
  if (d->hooks.done) {
    sy_director_done_t dn = {.model = h->model,
                             .target_model = h->target_model,
                             .duration_seconds = (double)(sy_now_ns() - h->start_ns) / 1e9,
                             .status = response_status,
                             .usage_found = usage && usage->found,
                             .prompt_tokens = usage ? usage->prompt_tokens : 0,
                             .completion_tokens = usage ? usage->completion_tokens : 0,
                             .cached_tokens = usage ? usage->cached_tokens : 0,
                             .response_bytes = usage ? usage->response_bytes : 0};
    d->hooks.done(d->hooks.ctx, &dn);
  }
  sy_endpoint_state_unref(h->state);
  h->state = NULL;
}

const sy_extproc_director_ops_t sy_director_ops = {.decide = decide, .finish = finish};
