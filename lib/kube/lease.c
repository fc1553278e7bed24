/* Leader election on a coordination.k8s.io/v1 Lease, after client-go's
 * leaderelection package (same record fields, defaults and expiry rule).
 *
 * One thread per election. Every request is a blocking sy_kube_request with
 * a timeout below the renew deadline; the thread sleeps on a condition
 * variable so stop is prompt. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "kube.h"

#define LEASE_API "/apis/coordination.k8s.io/v1/namespaces/"

/* What the Lease says, as last read. */
typedef struct record {
  char holder[256];
  char rv[64];
  char acquire[40];
  char renew[40];
  long duration_s;
  long transitions;
} record_t;

struct sy_kube_lease {
  sy_kube_client_t *client;
  char *ns, *name, *identity;
  char path[512];
  unsigned duration_ms, deadline_ms, retry_ms;
  void (*on_change)(void *ctx, bool leader);
  void *ctx;
  pthread_t thread;
  bool started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop; /* under mu */
  atomic_bool leader;
  /* election thread only */
  record_t observed;
  bool have_observed;
  uint64_t observed_at_ns; /* local time the observed record last changed */
};

/* ----------------------------------------------------------------- helpers */

/* RFC 3339 with microseconds, as metav1.MicroTime serialises. */
static void micro_time(char *buf, size_t n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + len, n - len, ".%06uZ", (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

static void copy_str(char *dst, size_t n, const cJSON *j) {
  snprintf(dst, n, "%s", cJSON_IsString(j) ? j->valuestring : "");
}

/* Parses a Lease into r. false when it is not one. */
static bool parse_record(const char *body, size_t len, record_t *r) {
  memset(r, 0, sizeof(*r));
  cJSON *root = cJSON_ParseWithLength(body ? body : "", len);
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
  const cJSON *spec = cJSON_GetObjectItemCaseSensitive(root, "spec");
  bool ok = cJSON_IsObject(meta);
  if (ok) {
    copy_str(r->rv, sizeof(r->rv), cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion"));
    copy_str(r->holder, sizeof(r->holder), cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity"));
    copy_str(r->acquire, sizeof(r->acquire), cJSON_GetObjectItemCaseSensitive(spec, "acquireTime"));
    copy_str(r->renew, sizeof(r->renew), cJSON_GetObjectItemCaseSensitive(spec, "renewTime"));
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(spec, "leaseDurationSeconds");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
    r->duration_s = cJSON_IsNumber(d) ? (long)d->valuedouble : 0;
    r->transitions = cJSON_IsNumber(t) ? (long)t->valuedouble : 0;
  }
  cJSON_Delete(root);
  return ok && r->rv[0];
}

/* The Lease object we write: `rv` empty for create. */
static char *lease_body(const sy_kube_lease_t *l, const char *rv, const char *holder, long duration_s,
                        const char *acquire, const char *renew, long transitions) {
  cJSON *root = cJSON_CreateObject();
  cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
  cJSON *spec = cJSON_AddObjectToObject(root, "spec");
  char *out = NULL;
  if (root && meta && spec && cJSON_AddStringToObject(root, "apiVersion", "coordination.k8s.io/v1") &&
      cJSON_AddStringToObject(root, "kind", "Lease") && cJSON_AddStringToObject(meta, "name", l->name) &&
      cJSON_AddStringToObject(meta, "namespace", l->ns) && (!rv[0] || cJSON_AddStringToObject(meta, "resourceVersion", rv)) &&
      cJSON_AddStringToObject(spec, "holderIdentity", holder) &&
      cJSON_AddNumberToObject(spec, "leaseDurationSeconds", (double)duration_s) &&
      cJSON_AddStringToObject(spec, "acquireTime", acquire) && cJSON_AddStringToObject(spec, "renewTime", renew) &&
      cJSON_AddNumberToObject(spec, "leaseTransitions", (double)transitions)) {
    out = cJSON_PrintUnformatted(root);
  }
  cJSON_Delete(root);
  return out;
}

static long request_timeout_ms(const sy_kube_lease_t *l) { return SY_MAX(1000L, (long)l->deadline_ms / 2); }

/* Sends the record; true on 200/201 (our write won). */
static bool write_record(sy_kube_lease_t *l, const char *method, const char *path, char *body) {
  if (!body) return false;
  sy_kube_response_t r;
  sy_kube_response_init(&r);
  int rc = sy_kube_request(l->client, method, path, "application/json", body, strlen(body), request_timeout_ms(l), &r);
  bool ok = rc == 0 && (r.status == 200 || r.status == 201);
  if (ok) {
    parse_record(r.body.data, r.body.len, &l->observed);
    l->have_observed = true;
    l->observed_at_ns = sy_now_ns();
  } else if (rc != 0 || r.status != 409) {
    char st[16];
    snprintf(st, sizeof(st), "%ld", r.status);
    SY_LOG(SY_LOG_WARN, "leader election: writing the lease failed", "lease", l->name, "status", st, "error",
           r.err[0] ? r.err : sy_strerror(rc), NULL);
  }
  cJSON_free(body);
  sy_kube_response_cleanup(&r);
  return ok;
}

/* client-go's tryAcquireOrRenew: true when we hold the lease afterwards. */
static bool try_acquire_or_renew(sy_kube_lease_t *l) {
  char now[40];
  micro_time(now, sizeof(now));
  long duration_s = (long)((l->duration_ms + 999) / 1000);
  sy_kube_response_t r;
  sy_kube_response_init(&r);
  int rc = sy_kube_request(l->client, "GET", l->path, NULL, NULL, 0, request_timeout_ms(l), &r);
  if (rc == 0 && r.status == 404) {
    sy_kube_response_cleanup(&r);
    char coll[512];
    snprintf(coll, sizeof(coll), LEASE_API "%s/leases", l->ns);
    return write_record(l, "POST", coll, lease_body(l, "", l->identity, duration_s, now, now, 0));
  }
  record_t cur;
  if (rc != 0 || r.status != 200 || !parse_record(r.body.data, r.body.len, &cur)) {
    char st[16];
    snprintf(st, sizeof(st), "%ld", r.status);
    SY_LOG(SY_LOG_WARN, "leader election: cannot read the lease", "lease", l->name, "status", st, "error",
           r.err[0] ? r.err : sy_strerror(rc ? rc : SY_EPARSE), NULL);
    sy_kube_response_cleanup(&r);
    return false;
  }
  sy_kube_response_cleanup(&r);
  uint64_t t = sy_now_ns();
  /* Expiry is judged by when *we* saw the record change, not by its
   * timestamps: replicas' clocks need not agree. */
  if (!l->have_observed || strcmp(cur.rv, l->observed.rv) != 0) {
    l->observed = cur;
    l->have_observed = true;
    l->observed_at_ns = t;
  }
  bool mine = strcmp(cur.holder, l->identity) == 0;
  long held_s = cur.duration_s > 0 ? cur.duration_s : duration_s;
  if (cur.holder[0] && !mine && l->observed_at_ns + (uint64_t)held_s * 1000000000ull > t) return false;
  const char *acquire = mine && cur.acquire[0] ? cur.acquire : now;
  long transitions = mine ? cur.transitions : cur.transitions + 1;
  return write_record(l, "PUT", l->path, lease_body(l, cur.rv, l->identity, duration_s, acquire, now, transitions));
}

static void set_leader(sy_kube_lease_t *l, bool leader) {
  if (atomic_exchange(&l->leader, leader) == leader) return;
  SY_LOG(SY_LOG_INFO, leader ? "leader election: became leader" : "leader election: lost leadership", "lease",
         l->name, "identity", l->identity, NULL);
  if (l->on_change) l->on_change(l->ctx, leader);
}

/* Waits up to ms (jittered by +0..20 % when jitter) or until stop. true when
 * stopping. */
static bool nap(sy_kube_lease_t *l, unsigned ms, bool jitter) {
  if (jitter) ms += (unsigned)sy_rand_below(ms / 5 + 1);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)ms * 1000000ull;
  ts.tv_sec += (time_t)(ns / 1000000000ull);
  ts.tv_nsec = (long)(ns % 1000000000ull);
  pthread_mutex_lock(&l->mu);
  while (!l->stop && pthread_cond_timedwait(&l->cv, &l->mu, &ts) == 0) {
  }
  bool stop = l->stop;
  pthread_mutex_unlock(&l->mu);
  return stop;
}

static bool stopping(sy_kube_lease_t *l) {
  pthread_mutex_lock(&l->mu);
  bool s = l->stop;
  pthread_mutex_unlock(&l->mu);
  return s;
}

static void *run(void *arg) {
  sy_kube_lease_t *l = arg;
  uint64_t last_renew = 0;
  while (!stopping(l)) {
    if (!atomic_load(&l->leader)) {
      if (try_acquire_or_renew(l)) {
        last_renew = sy_now_ns();
        set_leader(l, true);
        continue; /* renew on the leader's schedule */
      }
      if (nap(l, l->retry_ms, true)) break;
      continue;
    }
    if (nap(l, l->retry_ms, false)) break;
    if (try_acquire_or_renew(l)) {
      last_renew = sy_now_ns();
    } else if (sy_now_ns() - last_renew >= (uint64_t)l->deadline_ms * 1000000ull) {
      set_leader(l, false); /* could not renew in time: another may take over */
    }
  }
  return NULL;
}

/* ReleaseOnCancel: clear the holder so a successor need not wait for expiry. */
static void release(sy_kube_lease_t *l) {
  if (!atomic_load(&l->leader) || !l->have_observed) return;
  char now[40];
  micro_time(now, sizeof(now));
  if (write_record(l, "PUT", l->path, lease_body(l, l->observed.rv, "", 1, now, now, l->observed.transitions)))
    SY_LOG(SY_LOG_INFO, "leader election: released the lease", "lease", l->name, NULL);
  set_leader(l, false);
}

int sy_kube_lease_start(sy_kube_lease_t **out, sy_kube_client_t *client, const sy_kube_lease_config_t *cfg,
                        char *err, size_t errlen) {
  *out = NULL;
  if (!cfg->namespace_name || !cfg->namespace_name[0] || !cfg->name || !cfg->name[0]) {
    snprintf(err, errlen, "lease namespace and name are required");
    return SY_EINVAL;
  }
  sy_kube_lease_t *l = sy_calloc(1, sizeof(*l));
  if (!l) return -ENOMEM;
  l->client = client;
  l->duration_ms = cfg->lease_duration_ms ? cfg->lease_duration_ms : 15000;
  l->deadline_ms = cfg->renew_deadline_ms ? cfg->renew_deadline_ms : 10000;
  l->retry_ms = cfg->retry_period_ms ? cfg->retry_period_ms : 2000;
  l->on_change = cfg->on_change;
  l->ctx = cfg->ctx;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  if (l->deadline_ms >= l->duration_ms || l->retry_ms >= l->deadline_ms) {
    snprintf(err, errlen, "leader election: want retry period < renew deadline < lease duration");
    sy_kube_lease_stop(l);
    return SY_EINVAL;
  }
  char id[320];
  if (cfg->identity && cfg->identity[0]) {
    snprintf(id, sizeof(id), "%s", cfg->identity);
  } else {
    char host[256] = "switchyard", uuid[40];
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    sy_uuid4(uuid);
    snprintf(id, sizeof(id), "%s_%s", host, uuid);
  }
  if (!(l->ns = sy_strdup(cfg->namespace_name)) || !(l->name = sy_strdup(cfg->name)) || !(l->identity = sy_strdup(id))) {
    sy_kube_lease_stop(l);
    return -ENOMEM;
  }
  snprintf(l->path, sizeof(l->path), LEASE_API "%s/leases/%s", l->ns, l->name);
  if (pthread_create(&l->thread, NULL, run, l) != 0) {
    snprintf(err, errlen, "leader election: cannot start its thread");
    sy_kube_lease_stop(l);
    return -EAGAIN;
  }
  l->started = true;
  SY_LOG(SY_LOG_INFO, "leader election: started", "lease", l->name, "namespace", l->ns, "identity", l->identity, NULL);
  *out = l;
  return 0;
}

bool sy_kube_lease_is_leader(const sy_kube_lease_t *l) { return l && atomic_load(&((sy_kube_lease_t *)l)->leader); }

const char *sy_kube_lease_identity(const sy_kube_lease_t *l) { return l ? l->identity : NULL; }

void sy_kube_lease_release(sy_kube_lease_t *l) {
  if (!l || !l->started) return;
  pthread_mutex_lock(&l->mu);
  l->stop = true;
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  pthread_join(l->thread, NULL);
  l->started = false;
  release(l);
}

void sy_kube_lease_stop(sy_kube_lease_t *l) {
  if (!l) return;
  sy_kube_lease_release(l);
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
  sy_free(l->ns);
  sy_free(l->name);
  sy_free(l->identity);
  sy_free(l);
}
