/*
 * gRPC C-core transport for the ext_proc and health services.
 *
 * Threads: `workers` threads, each blocking on its own completion queue.
 * Every call is bound to the queue of the worker that accepted it, so all
 * events of one call arrive on one thread and per-call state needs no lock.
 *
 * Only worker 0's queue polls (does the socket I/O); the others are
 * GRPC_CQ_NON_POLLING and just receive completions. With several polling
 * threads, gRPC's epoll1 engine hands the poller role from thread to thread
 * on every event (a futex wake-up each time): at 1,000 streams/s that was
 * 12 context switches per stream instead of 3-4, and ~30 us more added
 * latency. New calls go to the accepting queue (worker 0) first, so worker 0
 * keeps only PRIMARY_PROCESS_SLOTS requests posted: at low load every call
 * stays on the I/O thread (no hand-off at all), under load the overflow
 * lands on the other workers. docs/BENCHMARKS.md has the numbers.
 *
 * Per Process call (a bidi stream) the core allows one outstanding op of each
 * kind, so we keep exactly one RECV_MESSAGE posted, a FIFO of packed
 * responses with one SEND_MESSAGE in flight, and a RECV_CLOSE_ON_SERVER that
 * completes when the call is over. The call is freed only when that has
 * completed and no batch is pending.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "extproc_int.h"
#include "pb.h"

#define PROCESS_SLOTS 64
#define PRIMARY_PROCESS_SLOTS 2 /* on worker 0 when there are others */
#define CHECK_SLOTS 4
#define WATCH_SLOTS 2
#define GENERIC_SLOTS 2
#define WATCH_POLL_MS 200

#define METHOD_PROCESS "/envoy.service.ext_proc.v3.ExternalProcessor/Process"
#define METHOD_CHECK "/grpc.health.v1.Health/Check"
#define METHOD_WATCH "/grpc.health.v1.Health/Watch"
#define SERVICE_EXTPROC SY_EXTPROC_SERVICE

typedef enum tag_kind {
  TAG_SLOT = 1, /* a requested call arrived (or the request failed) */
  TAG_RECV,
  TAG_SEND,
  TAG_CLOSE,
  TAG_UNARY, /* Check / UNIMPLEMENTED answer finished */
  TAG_WATCH_SEND,
  TAG_WATCH_CLOSE,
} tag_kind_t;

typedef struct tag {
  tag_kind_t kind;
  void *owner;
} tag_t;

typedef struct worker worker_t;
typedef struct srv_side srv_side_t;

typedef enum slot_kind { SLOT_PROCESS, SLOT_CHECK, SLOT_WATCH, SLOT_GENERIC } slot_kind_t;

typedef struct slot {
  tag_t tag;
  slot_kind_t kind;
  worker_t *w;
  srv_side_t *side;
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
  grpc_call_details details; /* generic slots only */
} slot_t;

/* One grpc_server: the ext_proc port, or the health port. */
struct srv_side {
  grpc_server *server;
  void *m_process; /* NULL on the health side */
  void *m_check;   /* NULL on the ext_proc side unless --health-checking */
  void *m_watch;
};

typedef struct outq {
  grpc_byte_buffer **items;
  size_t head, len, cap;
} outq_t;

typedef struct pcall {
  tag_t recv_tag, send_tag, close_tag;
  worker_t *w;
  grpc_call *call;
  grpc_byte_buffer *recv_bb;
  grpc_byte_buffer *inflight;
  int cancelled;
  bool recv_pending, send_pending, close_done;
  bool half_closed, failed, md_sent, status_sent;
  outq_t q;
  sy_extproc_stream_t *stream;
  struct pcall *prev, *next; /* worker's list, for drain accounting */
} pcall_t;

typedef struct unary {
  tag_t tag;
  grpc_call *call;
  grpc_byte_buffer *resp;
  int cancelled;
  grpc_slice details;
  bool has_details;
} unary_t;

typedef struct watch {
  tag_t send_tag, close_tag;
  worker_t *w;
  grpc_call *call;
  grpc_byte_buffer *inflight;
  char service[256]; /* the watched service name */
  int last_status;
  int cancelled;
  bool send_pending, close_done, md_sent;
  struct watch *prev, *next;
} watch_t;

struct worker {
  sy_extproc_server_t *srv;
  grpc_completion_queue *cq;
  pthread_t thread;
  watch_t *watches;
};

struct sy_extproc_server {
  sy_extproc_server_config_t cfg;
  const sy_extproc_director_ops_t *dir;
  void *dir_ctx;
  sy_extproc_ready_fn ready;
  void *ready_ctx;
  srv_side_t ext, health;
  worker_t *workers;
  int n_workers;
  grpc_completion_queue *shutdown_cq;
  atomic_bool stopping;  /* no re-posting of slots */
  atomic_bool draining;  /* health reports NOT_SERVING */
  atomic_long open_streams;
  bool started;
};

/* ------------------------------------------------------------ out queue */

static int outq_push(outq_t *q, grpc_byte_buffer *bb) {
  if (q->len == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 4;
    grpc_byte_buffer **n = sy_malloc(cap * sizeof(*n));
    if (!n) return -ENOMEM;
    for (size_t i = 0; i < q->len; i++) n[i] = q->items[(q->head + i) % q->cap];
    sy_free(q->items);
    q->items = n;
    q->head = 0;
    q->cap = cap;
  }
  q->items[(q->head + q->len) % q->cap] = bb;
  q->len++;
  return 0;
}

static grpc_byte_buffer *outq_pop(outq_t *q) {
  if (!q->len) return NULL;
  grpc_byte_buffer *bb = q->items[q->head];
  q->head = (q->head + 1) % q->cap;
  q->len--;
  return bb;
}

static void outq_cleanup(outq_t *q) {
  grpc_byte_buffer *bb;
  while ((bb = outq_pop(q))) grpc_byte_buffer_destroy(bb);
  SY_FREE(&q->items);
}

static grpc_byte_buffer *pack_message(const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  grpc_slice slice = grpc_slice_malloc(n);
  protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(slice));
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return bb;
}

/* ------------------------------------------------------------- slots */

static void post_slot(slot_t *s) {
  sy_extproc_server_t *srv = s->w->srv;
  grpc_call_error e;
  s->call = NULL;
  s->payload = NULL;
  grpc_metadata_array_init(&s->md);
  void *method = s->kind == SLOT_PROCESS ? s->side->m_process : s->kind == SLOT_CHECK ? s->side->m_check : s->side->m_watch;
  if (s->kind == SLOT_GENERIC) {
    grpc_call_details_init(&s->details);
    e = grpc_server_request_call(s->side->server, &s->call, &s->details, &s->md, s->w->cq, s->w->cq, &s->tag);
  } else {
    e = grpc_server_request_registered_call(s->side->server, method, &s->call, &s->deadline, &s->md,
                                            s->kind == SLOT_PROCESS ? NULL : &s->payload, s->w->cq, s->w->cq,
                                            &s->tag);
  }
  if (e != GRPC_CALL_OK) {
    SY_LOG(SY_LOG_ERROR, "grpc request_call failed", NULL);
    grpc_metadata_array_destroy(&s->md);
    if (s->kind == SLOT_GENERIC) grpc_call_details_destroy(&s->details);
    sy_free(s);
  }
  SY_UNUSED(srv);
}

static void new_slot(worker_t *w, srv_side_t *side, slot_kind_t kind) {
  slot_t *s = sy_calloc(1, sizeof(*s));
  if (!s) return;
  s->tag.kind = TAG_SLOT;
  s->tag.owner = s;
  s->kind = kind;
  s->w = w;
  s->side = side;
  post_slot(s);
}

/* ------------------------------------------------------- Process calls */

static void pcall_pump(pcall_t *c);

static void pcall_emit(void *ctx, const void *resp) {
  pcall_t *c = ctx;
  grpc_byte_buffer *bb = pack_message(resp);
  if (!bb || outq_push(&c->q, bb) != 0) {
    if (bb) grpc_byte_buffer_destroy(bb);
    c->failed = true;
    grpc_call_cancel_with_status(c->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
  }
}

static void pcall_post_recv(pcall_t *c) {
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->recv_bb;
  c->recv_bb = NULL;
  if (grpc_call_start_batch(c->call, &op, 1, &c->recv_tag, NULL) == GRPC_CALL_OK) {
    c->recv_pending = true;
  } else {
    c->failed = true;
  }
}

static void pcall_maybe_free(pcall_t *c) {
  if (!c->close_done || c->recv_pending || c->send_pending) return;
  sy_extproc_server_t *srv = c->w->srv;
  sy_extproc_stream_free(c->stream);
  outq_cleanup(&c->q);
  if (c->recv_bb) grpc_byte_buffer_destroy(c->recv_bb);
  grpc_call_unref(c->call);
  sy_free(c);
  atomic_fetch_sub(&srv->open_streams, 1);
}

static void pcall_pump(pcall_t *c) {
  if (c->send_pending || c->failed || c->status_sent) return;
  grpc_op ops[3];
  size_t n = 0;
  memset(ops, 0, sizeof(ops));
  if (!c->md_sent) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    n++;
  }
  grpc_byte_buffer *bb = outq_pop(&c->q);
  if (bb) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = bb;
    n++;
    c->inflight = bb;
  } else if (c->half_closed || sy_extproc_stream_done(c->stream)) {
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
    n++;
    c->status_sent = true;
  } else {
    return;
  }
  if (grpc_call_start_batch(c->call, ops, n, &c->send_tag, NULL) == GRPC_CALL_OK) {
    c->send_pending = true;
    c->md_sent = true;
  } else {
    c->failed = true;
  }
}

static void pcall_start(worker_t *w, grpc_call *call) {
  sy_extproc_server_t *srv = w->srv;
  pcall_t *c = sy_calloc(1, sizeof(*c));
  if (!c) {
    grpc_call_cancel_with_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
    grpc_call_unref(call);
    return;
  }
  c->w = w;
  c->call = call;
  c->recv_tag = (tag_t){TAG_RECV, c};
  c->send_tag = (tag_t){TAG_SEND, c};
  c->close_tag = (tag_t){TAG_CLOSE, c};
  c->stream = sy_extproc_stream_new(&srv->cfg.stream, srv->dir, srv->dir_ctx, pcall_emit, c);
  atomic_fetch_add(&srv->open_streams, 1);
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->cancelled;
  if (!c->stream || grpc_call_start_batch(call, &op, 1, &c->close_tag, NULL) != GRPC_CALL_OK) {
    /* Without the close batch nothing will ever complete: free now. */
    grpc_call_cancel_with_status(call, GRPC_STATUS_INTERNAL, "cannot start stream", NULL);
    sy_extproc_stream_free(c->stream);
    grpc_call_unref(call);
    sy_free(c);
    atomic_fetch_sub(&srv->open_streams, 1);
    return;
  }
  pcall_post_recv(c);
}

static void pcall_on_recv(pcall_t *c, bool ok) {
  bool want_recv = false;
  c->recv_pending = false;
  if (!ok) {
    c->failed = true;
  } else if (!c->recv_bb) {
    c->half_closed = true;
    sy_extproc_stream_on_half_close(c->stream);
  } else if (!c->failed && !c->status_sent) {
    grpc_byte_buffer_reader r;
    int rc = SY_EPARSE;
    if (grpc_byte_buffer_reader_init(&r, c->recv_bb)) {
      grpc_slice s = grpc_byte_buffer_reader_readall(&r);
      grpc_byte_buffer_reader_destroy(&r);
      rc = sy_extproc_stream_on_message(c->stream, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
      grpc_slice_unref(s);
    }
    grpc_byte_buffer_destroy(c->recv_bb);
    c->recv_bb = NULL;
    if (rc == SY_EPARSE) {
      grpc_call_cancel_with_status(c->call, GRPC_STATUS_INVALID_ARGUMENT, "malformed ProcessingRequest", NULL);
      c->failed = true;
    } else if (!sy_extproc_stream_done(c->stream)) {
      want_recv = true;
    }
  } else {
    grpc_byte_buffer_destroy(c->recv_bb);
    c->recv_bb = NULL;
  }
  /* Answer first: the data plane is waiting for it. Posting the next read
   * before the send delayed the answer measurably. */
  pcall_pump(c);
  if (want_recv) pcall_post_recv(c);
  pcall_maybe_free(c);
}

static void pcall_on_send(pcall_t *c, bool ok) {
  c->send_pending = false;
  if (c->inflight) {
    grpc_byte_buffer_destroy(c->inflight);
    c->inflight = NULL;
  }
  if (!ok) c->failed = true;
  pcall_pump(c);
  pcall_maybe_free(c);
}

static void pcall_on_close(pcall_t *c) {
  c->close_done = true;
  if (c->cancelled) c->failed = true;
  pcall_maybe_free(c);
}

/* ------------------------------------------------------ health service */

static int health_status(sy_extproc_server_t *srv, const char *service, size_t len) {
  if (atomic_load(&srv->draining)) return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
  switch (srv->ready(srv->ready_ctx, service, len)) {
    case SY_HEALTH_SERVING: return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    case SY_HEALTH_UNKNOWN: return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    case SY_HEALTH_NOT_SERVING: break;
  }
  return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static grpc_byte_buffer *health_response(int status) {
  Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  r.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
  return pack_message(&r.base);
}

/* Decodes a HealthCheckRequest's service name into buf. false on garbage. */
static bool health_service(grpc_byte_buffer *payload, char *buf, size_t cap) {
  buf[0] = '\0';
  if (!payload) return true;
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, payload)) return false;
  grpc_slice s = grpc_byte_buffer_reader_readall(&r);
  grpc_byte_buffer_reader_destroy(&r);
  Grpc__Health__V1__HealthCheckRequest *req =
      grpc__health__v1__health_check_request__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
  grpc_slice_unref(s);
  if (!req) return false;
  snprintf(buf, cap, "%s", req->service ? req->service : "");
  grpc__health__v1__health_check_request__free_unpacked(req, NULL);
  return true;
}

static void unary_answer(grpc_call *call, grpc_byte_buffer *resp, grpc_status_code code, const char *details) {
  unary_t *u = sy_calloc(1, sizeof(*u));
  if (!u) {
    if (resp) grpc_byte_buffer_destroy(resp);
    grpc_call_cancel(call, NULL);
    grpc_call_unref(call);
    return;
  }
  u->tag = (tag_t){TAG_UNARY, u};
  u->call = call;
  u->resp = resp;
  grpc_op ops[4];
  size_t n = 0;
  memset(ops, 0, sizeof(ops));
  ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (resp) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = resp;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = code;
  if (details) {
    u->details = grpc_slice_from_copied_string(details);
    u->has_details = true;
    ops[n].data.send_status_from_server.status_details = &u->details;
  }
  n++;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n++].data.recv_close_on_server.cancelled = &u->cancelled;
  if (grpc_call_start_batch(call, ops, n, &u->tag, NULL) != GRPC_CALL_OK) {
    if (resp) grpc_byte_buffer_destroy(resp);
    if (u->has_details) grpc_slice_unref(u->details);
    grpc_call_unref(call);
    sy_free(u);
  }
}

static void unary_done(unary_t *u) {
  if (u->resp) grpc_byte_buffer_destroy(u->resp);
  if (u->has_details) grpc_slice_unref(u->details);
  grpc_call_unref(u->call);
  sy_free(u);
}

static void on_check(worker_t *w, grpc_call *call, grpc_byte_buffer *payload) {
  char service[256];
  if (!health_service(payload, service, sizeof(service))) {
    unary_answer(call, NULL, GRPC_STATUS_INVALID_ARGUMENT, "malformed HealthCheckRequest");
    return;
  }
  unary_answer(call, health_response(health_status(w->srv, service, strlen(service))), GRPC_STATUS_OK, NULL);
}

static void watch_unlink(watch_t *x) {
  if (x->prev) x->prev->next = x->next;
  else x->w->watches = x->next;
  if (x->next) x->next->prev = x->prev;
}

static void watch_maybe_free(watch_t *x) {
  if (!x->close_done || x->send_pending) return;
  watch_unlink(x);
  grpc_call_unref(x->call);
  sy_free(x);
}

static void watch_send(watch_t *x, int status) {
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof(ops));
  if (!x->md_sent) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  x->inflight = health_response(status);
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n++].data.send_message.send_message = x->inflight;
  if (grpc_call_start_batch(x->call, ops, n, &x->send_tag, NULL) == GRPC_CALL_OK) {
    x->send_pending = true;
    x->md_sent = true;
    x->last_status = status;
  } else {
    grpc_byte_buffer_destroy(x->inflight);
    x->inflight = NULL;
  }
}

static void on_watch(worker_t *w, grpc_call *call, grpc_byte_buffer *payload) {
  char service[256];
  if (!health_service(payload, service, sizeof(service))) {
    unary_answer(call, NULL, GRPC_STATUS_INVALID_ARGUMENT, "malformed HealthCheckRequest");
    return;
  }
  watch_t *x = sy_calloc(1, sizeof(*x));
  if (!x) {
    unary_answer(call, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  x->w = w;
  x->call = call;
  memcpy(x->service, service, SY_MIN(strlen(service) + 1, sizeof(x->service)));
  x->service[sizeof(x->service) - 1] = '\0';
  x->send_tag = (tag_t){TAG_WATCH_SEND, x};
  x->close_tag = (tag_t){TAG_WATCH_CLOSE, x};
  x->next = w->watches;
  if (w->watches) w->watches->prev = x;
  w->watches = x;
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &x->cancelled;
  if (grpc_call_start_batch(call, &op, 1, &x->close_tag, NULL) != GRPC_CALL_OK) {
    watch_unlink(x);
    grpc_call_cancel(call, NULL);
    grpc_call_unref(call);
    sy_free(x);
    return;
  }
  watch_send(x, health_status(w->srv, service, strlen(service)));
}

/* Called every WATCH_POLL_MS: pushes status changes to open Watch streams. */
static void watches_poll(worker_t *w) {
  for (watch_t *x = w->watches; x; x = x->next) {
    if (x->send_pending || x->close_done) continue;
    int st = health_status(w->srv, x->service, strlen(x->service));
    if (st != x->last_status) watch_send(x, st);
  }
}

/* --------------------------------------------------------------- workers */

static void on_slot(worker_t *w, slot_t *s, bool ok) {
  sy_extproc_server_t *srv = w->srv;
  if (!ok || !s->call) { /* server shutting down */
    grpc_metadata_array_destroy(&s->md);
    if (s->kind == SLOT_GENERIC) grpc_call_details_destroy(&s->details);
    if (s->payload) grpc_byte_buffer_destroy(s->payload);
    sy_free(s);
    return;
  }
  grpc_call *call = s->call;
  grpc_byte_buffer *payload = s->payload;
  grpc_metadata_array_destroy(&s->md);
  switch (s->kind) {
    case SLOT_PROCESS:
      pcall_start(w, call);
      break;
    case SLOT_CHECK:
      on_check(w, call, payload);
      break;
    case SLOT_WATCH:
      on_watch(w, call, payload);
      break;
    case SLOT_GENERIC:
      grpc_call_details_destroy(&s->details);
      unary_answer(call, NULL, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
      break;
  }
  if (payload) grpc_byte_buffer_destroy(payload);
  if (atomic_load(&srv->stopping)) {
    sy_free(s);
  } else {
    post_slot(s);
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  gpr_timespec next_poll = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(WATCH_POLL_MS, GPR_TIMESPAN));
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(w->cq, next_poll, NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
      watches_poll(w);
      next_poll = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(WATCH_POLL_MS, GPR_TIMESPAN));
      continue;
    }
    tag_t *t = ev.tag;
    bool ok = ev.success != 0;
    switch (t->kind) {
      case TAG_SLOT: on_slot(w, t->owner, ok); break;
      case TAG_RECV: pcall_on_recv(t->owner, ok); break;
      case TAG_SEND: pcall_on_send(t->owner, ok); break;
      case TAG_CLOSE: pcall_on_close(t->owner); break;
      case TAG_UNARY: unary_done(t->owner); break;
      case TAG_WATCH_SEND: {
        watch_t *x = t->owner;
        x->send_pending = false;
        grpc_byte_buffer_destroy(x->inflight);
        x->inflight = NULL;
        watch_maybe_free(x);
        break;
      }
      case TAG_WATCH_CLOSE: {
        watch_t *x = t->owner;
        x->close_done = true;
        watch_maybe_free(x);
        break;
      }
    }
  }
  return NULL;
}

/* ----------------------------------------------------------- lifecycle */

static int add_port(grpc_server *server, const char *host, int port, bool secure, const char *cert, const char *key,
                    char *errbuf, size_t errlen) {
  char addr[300];
  snprintf(addr, sizeof(addr), "%s:%d", host, port);
  grpc_server_credentials *creds;
  if (secure) {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    creds = grpc_ssl_server_credentials_create_ex(NULL, &pair, 1, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, NULL);
  } else {
    creds = grpc_insecure_server_credentials_create();
  }
  if (!creds) {
    snprintf(errbuf, errlen, "cannot create server credentials for %s", addr);
    return SY_EINVAL;
  }
  int bound = grpc_server_add_http2_port(server, addr, creds);
  grpc_server_credentials_release(creds);
  if (bound == 0) {
    snprintf(errbuf, errlen, "cannot listen on %s (address in use or invalid)", addr);
    return -EADDRINUSE;
  }
  return 0;
}

static grpc_server *create_grpc_server(const sy_extproc_server_config_t *cfg) {
  grpc_arg args[6];
  memset(args, 0, sizeof(args));
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = (char *)GRPC_ARG_MAX_CONCURRENT_STREAMS;
  args[0].value.integer = 10000;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[1].value.integer = (int)cfg->max_recv_message;
  args[2].type = GRPC_ARG_INTEGER;
  args[2].key = (char *)GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS;
  args[2].value.integer = 1;
  args[3].type = GRPC_ARG_INTEGER;
  args[3].key = (char *)GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS;
  args[3].value.integer = 5000;
  /* Each ext_proc message is on the request's critical path: ask chttp2 to
   * write immediately rather than combine for throughput. */
  args[4].type = GRPC_ARG_STRING;
  args[4].key = (char *)GRPC_ARG_OPTIMIZATION_TARGET;
  args[4].value.string = (char *)"latency";
  /* gRPC sets SO_REUSEPORT by default: a second switchyard on the same port
   * would then start "fine" and silently take half of the connections.
   * Fail the bind instead, as a Go EPP does. */
  args[5].type = GRPC_ARG_INTEGER;
  args[5].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
  args[5].value.integer = 0;
  grpc_channel_args ca = {SY_ARRAY_LEN(args), args};
  return grpc_server_create(&ca, NULL);
}

static void free_server(sy_extproc_server_t *srv) {
  if (srv->ext.server) grpc_server_destroy(srv->ext.server);
  if (srv->health.server) grpc_server_destroy(srv->health.server);
  for (int i = 0; i < srv->n_workers; i++) {
    if (srv->workers[i].cq) grpc_completion_queue_destroy(srv->workers[i].cq);
  }
  if (srv->shutdown_cq) grpc_completion_queue_destroy(srv->shutdown_cq);
  sy_free(srv->workers);
  sy_free(srv);
  grpc_shutdown();
}

int sy_extproc_server_start(sy_extproc_server_t **out, const sy_extproc_server_config_t *cfg,
                            const sy_extproc_director_ops_t *dir, void *dir_ctx, sy_extproc_ready_fn ready,
                            void *ready_ctx, char *errbuf, size_t errlen) {
  if (!sy_abseil_deadlock_detection_off()) SY_LOG(SY_LOG_DEBUG, "abseil deadlock detection switch not found", NULL);
  grpc_init();
  sy_extproc_server_t *srv = sy_calloc(1, sizeof(*srv));
  if (!srv) {
    grpc_shutdown();
    return -ENOMEM;
  }
  srv->cfg = *cfg;
  if (srv->cfg.workers <= 0) srv->cfg.workers = 2;
  if (!srv->cfg.max_recv_message) srv->cfg.max_recv_message = 16u << 20;
  srv->dir = dir;
  srv->dir_ctx = dir_ctx;
  srv->ready = ready;
  srv->ready_ctx = ready_ctx;

  char *cert = NULL, *key = NULL;
  int rc = 0;
  if (cfg->secure) {
    rc = cfg->cert_path && cfg->cert_path[0] ? sy_extproc__load_cert(cfg->cert_path, &cert, &key, errbuf, errlen)
                                             : sy_extproc__self_signed(&cert, &key);
    if (rc) {
      if (!errbuf[0]) snprintf(errbuf, errlen, "cannot create TLS certificate: %s", sy_strerror(rc));
      free_server(srv);
      return rc;
    }
  }

  srv->ext.server = create_grpc_server(&srv->cfg);
  srv->health.server = create_grpc_server(&srv->cfg);
  srv->ext.m_process = grpc_server_register_method(srv->ext.server, METHOD_PROCESS, NULL, GRPC_SRM_PAYLOAD_NONE, 0);
  if (cfg->health_on_grpc_port) {
    srv->ext.m_check = grpc_server_register_method(srv->ext.server, METHOD_CHECK, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    srv->ext.m_watch = grpc_server_register_method(srv->ext.server, METHOD_WATCH, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
  }
  srv->health.m_check = grpc_server_register_method(srv->health.server, METHOD_CHECK, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
  srv->health.m_watch = grpc_server_register_method(srv->health.server, METHOD_WATCH, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);

  srv->n_workers = srv->cfg.workers;
  srv->workers = sy_calloc((size_t)srv->n_workers, sizeof(worker_t));
  if (!srv->workers) {
    sy_free(cert);
    sy_free(key);
    free_server(srv);
    return -ENOMEM;
  }
  for (int i = 0; i < srv->n_workers; i++) {
    srv->workers[i].srv = srv;
    if (i == 0) {
      srv->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
    } else {
      grpc_completion_queue_attributes attr = {.version = 1, .cq_completion_type = GRPC_CQ_NEXT,
                                               .cq_polling_type = GRPC_CQ_NON_POLLING};
      srv->workers[i].cq = grpc_completion_queue_create(grpc_completion_queue_factory_lookup(&attr), &attr, NULL);
    }
    grpc_server_register_completion_queue(srv->ext.server, srv->workers[i].cq, NULL);
    grpc_server_register_completion_queue(srv->health.server, srv->workers[i].cq, NULL);
  }
  srv->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_server_register_completion_queue(srv->ext.server, srv->shutdown_cq, NULL);
  grpc_server_register_completion_queue(srv->health.server, srv->shutdown_cq, NULL);

  const char *host = cfg->listen_host && cfg->listen_host[0] ? cfg->listen_host : "0.0.0.0";
  errbuf[0] = '\0';
  rc = add_port(srv->ext.server, host, cfg->grpc_port, cfg->secure, cert, key, errbuf, errlen);
  /* The health port is plaintext, like upstream's (kubelet gRPC probes). */
  if (!rc) rc = add_port(srv->health.server, host, cfg->health_port, false, NULL, NULL, errbuf, errlen);
  sy_free(cert);
  sy_free(key);
  if (rc) {
    free_server(srv);
    return rc;
  }
  grpc_server_start(srv->ext.server);
  grpc_server_start(srv->health.server);
  srv->started = true;

  for (int i = 0; i < srv->n_workers; i++) {
    worker_t *w = &srv->workers[i];
    int process_slots = i == 0 && srv->n_workers > 1 ? PRIMARY_PROCESS_SLOTS : PROCESS_SLOTS;
    for (int k = 0; k < process_slots; k++) new_slot(w, &srv->ext, SLOT_PROCESS);
    for (int k = 0; k < GENERIC_SLOTS; k++) new_slot(w, &srv->ext, SLOT_GENERIC);
    if (cfg->health_on_grpc_port) {
      for (int k = 0; k < CHECK_SLOTS; k++) new_slot(w, &srv->ext, SLOT_CHECK);
      for (int k = 0; k < WATCH_SLOTS; k++) new_slot(w, &srv->ext, SLOT_WATCH);
    }
    for (int k = 0; k < CHECK_SLOTS; k++) new_slot(w, &srv->health, SLOT_CHECK);
    for (int k = 0; k < WATCH_SLOTS; k++) new_slot(w, &srv->health, SLOT_WATCH);
    for (int k = 0; k < GENERIC_SLOTS; k++) new_slot(w, &srv->health, SLOT_GENERIC);
  }
  for (int i = 0; i < srv->n_workers; i++) {
    if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
      snprintf(errbuf, errlen, "cannot start worker thread");
      /* Workers already running will be shut down by stop(). */
      srv->n_workers = i;
      sy_extproc_server_stop(srv, 0);
      return SY_EINTERNAL;
    }
  }
  *out = srv;
  return 0;
}

long sy_extproc_server_open_streams(const sy_extproc_server_t *srv) { return atomic_load(&srv->open_streams); }

void sy_extproc_server_stop(sy_extproc_server_t *srv, unsigned drain_ms) {
  if (!srv) return;
  atomic_store(&srv->draining, true);
  atomic_store(&srv->stopping, true);
  int tag_ext = 1, tag_health = 2;
  grpc_server_shutdown_and_notify(srv->ext.server, srv->shutdown_cq, &tag_ext);
  grpc_server_shutdown_and_notify(srv->health.server, srv->shutdown_cq, &tag_health);
  /* Let in-flight requests finish (Envoy keeps its streams open until the
   * HTTP exchange is over), then cut whatever is left. */
  uint64_t deadline = sy_now_ns() + (uint64_t)drain_ms * 1000000u;
  while (atomic_load(&srv->open_streams) > 0 && sy_now_ns() < deadline) usleep(10000);
  grpc_server_cancel_all_calls(srv->ext.server);
  grpc_server_cancel_all_calls(srv->health.server);
  grpc_completion_queue_pluck(srv->shutdown_cq, &tag_ext, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_completion_queue_pluck(srv->shutdown_cq, &tag_health, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  for (int i = 0; i < srv->n_workers; i++) grpc_completion_queue_shutdown(srv->workers[i].cq);
  for (int i = 0; i < srv->n_workers; i++) pthread_join(srv->workers[i].thread, NULL);
  /* Drain anything left in queues of workers that never started. */
  for (int i = srv->n_workers; i < srv->cfg.workers && srv->workers; i++) {
    if (!srv->workers[i].cq) continue;
    grpc_completion_queue_shutdown(srv->workers[i].cq);
    while (grpc_completion_queue_next(srv->workers[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {
    }
  }
  grpc_completion_queue_shutdown(srv->shutdown_cq);
  srv->n_workers = srv->cfg.workers;
  free_server(srv);
}
