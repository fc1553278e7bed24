#include "director.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "openai.h"

struct sy_director {
  sy_director_hooks_t hooks;
  atomic_uint_fast64_t decisions, completed;
  atomic_uint_fast64_t err[6]; /* 400 413 429 500 503 other */
  char *pool_name;
  char *pool_namespace;
  sy_datastore_t *ds;
  sy_sched_t *sched;
};

/* Per-request state handed back to finish(): the endpoint whose in-flight
 * counts we raised, with a reference so it outlives any snapshot. */
typedef struct handle {
  sy_endpoint_state_t *state;
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
  if (!d->pool_name || !d->pool_namespace) {
    sy_director_free(d);
    return -ENOMEM;
  }
  *out = d;
  return 0;
}

void sy_director_free(sy_director_t *d) {
  if (!d) return;
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
                        sy_director_event_t *ev);

static int decide(void *ctx, const sy_extproc_request_t *req, sy_extproc_decision_t *out) {
  sy_director_t *d = ctx;
  sy_director_event_t ev;
  memset(&ev, 0, sizeof(ev));
  ev.model = ev.target_model = "";
  int rc = decide_inner(d, req, out, &ev);
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
  return rc;
}

static int decide_inner(sy_director_t *d, const sy_extproc_request_t *req, sy_extproc_decision_t *out,
                        sy_director_event_t *ev) {
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

  sy_snapshot_t *snap = sy_datastore_acquire(d->ds);
  const sy_pool_snap_t *pool = sy_snapshot_pool(snap, d->pool_namespace, d->pool_name);
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
        if (!target || !ev->rewrite_object) {
          sy_snapshot_release(snap);
          return -ENOMEM;
        }
      }
    }
    if (target && strcmp(target, oreq.model) != 0) {
      char *nb;
      size_t nlen;
      int rrc = sy_openai_rewrite_model(a, req->body, req->body_len, target, &nb, &nlen);
      if (rrc) {
        sy_snapshot_release(snap);
        return rrc;
      }
      out->body = nb;
      out->body_len = nlen;
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
  if (priority < 0 && sy_sched_saturation(d->sched, a, now, cands, n) >= 1.0) {
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
  rc = sy_sched_schedule(d->sched, a, now, &sreq, cands, n, &res);
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
  SY_LOG(SY_LOG_DEBUG, "endpoint picked", "request_id", req->request_id, "pool", d->pool_name, "namespace",
         d->pool_namespace, "model", oreq.model, "endpoint", out->destination, NULL);
out:
  sy_snapshot_release(snap);
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
  sy_sched_complete(d->sched, &done);
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
