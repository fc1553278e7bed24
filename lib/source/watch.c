/* Polling watcher for local manifests. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core.h"
#include "source_int.h"

struct sy_manifests_watch {
  char *path;
  unsigned poll_ms;
  sy_manifests_on_load_fn on_load;
  sy_manifests_on_error_fn on_error;
  void *ctx;

  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop; /* guarded by mu */

  /* watcher-thread state */
  uint64_t fingerprint;
  bool racy;           /* a file changed too recently to trust its mtime */
  bool last_failed;    /* the last load failed: publish the next success */
  uint64_t published;  /* content hash of the last published set */
  sy_source_error_t last_err; /* the last error reported (when last_failed) */
};

/* Files modified this close to "now" may be modified again within the same
 * filesystem timestamp tick (coarse, ~1-10 ms), which stat cannot see; such
 * a fingerprint is re-checked by loading again on the next poll. */
#define RACY_WINDOW_NS (100ull * 1000 * 1000)

static uint64_t ts_ns(const struct timespec *t) {
  return (uint64_t)t->tv_sec * 1000000000ull + (uint64_t)t->tv_nsec;
}

/* Hash of names + identity + size + mtime/ctime of every file a load would
 * read (or of the error when the path is unreadable). */
static uint64_t fingerprint(const char *path, bool *racy) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t now_ns = ts_ns(&now);
  uint64_t h = SY_SOURCE_HASH_INIT;
  char **names = NULL;
  size_t n = 0;
  bool is_dir;
  *racy = false;
  int rc = sy_source__list(path, &is_dir, &names, &n);
  if (rc) return sy_source__hash(h, &rc, sizeof(rc));
  h = sy_source__hash(h, &n, sizeof(n));
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    h = sy_source__hash(h, names[i], strlen(names[i]) + 1);
    if (stat(names[i], &st) != 0) {
      int e = errno;
      h = sy_source__hash(h, &e, sizeof(e));
      continue;
    }
    uint64_t v[6] = {(uint64_t)st.st_dev,     (uint64_t)st.st_ino,  (uint64_t)st.st_size,
                     ts_ns(&st.st_mtim),      ts_ns(&st.st_ctim),   (uint64_t)st.st_mode};
    h = sy_source__hash(h, v, sizeof(v));
    for (int k = 3; k <= 4; k++) {
      if (v[k] + RACY_WINDOW_NS >= now_ns && v[k] <= now_ns + RACY_WINDOW_NS) *racy = true;
    }
  }
  sy_source__names_free(names, n);
  return h;
}

/* One reload on the watcher thread. `changed` is false for a racy re-check
 * of an unchanged fingerprint: then a repeat of the same error is not
 * reported again. */
static void reload(sy_manifests_watch_t *w, bool changed) {
  sy_objset_t *set = NULL;
  sy_source_error_t err;
  uint64_t hash = 0;
  memset(&err, 0, sizeof(err));
  int rc = sy_source__load(w->path, &set, &err, &hash);
  if (rc) {
    bool repeat = w->last_failed && !changed && memcmp(&err, &w->last_err, sizeof(err)) == 0;
    w->last_failed = true;
    w->last_err = err;
    if (w->on_error && !repeat) w->on_error(w->ctx, &err);
    return;
  }
  if (!w->last_failed && hash == w->published) {
    sy_objset_free(set); /* touched or re-checked, but the same bytes */
    return;
  }
  w->last_failed = false;
  w->published = hash;
  if (w->on_load) w->on_load(w->ctx, set);
  else sy_objset_free(set);
}

static void *watch_main(void *arg) {
  sy_manifests_watch_t *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t ns = (uint64_t)deadline.tv_nsec + (uint64_t)w->poll_ms * 1000000ull;
    deadline.tv_sec += (time_t)(ns / 1000000000ull);
    deadline.tv_nsec = (long)(ns % 1000000000ull);
    while (!w->stop) {
      int rc = pthread_cond_timedwait(&w->cv, &w->mu, &deadline);
      if (rc == ETIMEDOUT) break;
    }
    if (w->stop) break;
    pthread_mutex_unlock(&w->mu);

    bool racy;
    uint64_t fp = fingerprint(w->path, &racy);
    if (fp != w->fingerprint || w->racy) {
      bool changed = fp != w->fingerprint;
      w->fingerprint = fp;
      w->racy = racy;
      reload(w, changed);
    }

    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

int sy_manifests_watch_start(sy_manifests_watch_t **out, const char *path, unsigned poll_ms,
                             sy_manifests_on_load_fn on_load, sy_manifests_on_error_fn on_error,
                             void *ctx, sy_source_error_t *err) {
  sy_manifests_watch_t *w = NULL;
  sy_objset_t *set = NULL;
  pthread_condattr_t ca;
  bool ca_ok = false, mu_ok = false, cv_ok = false;
  int rc = -ENOMEM;
  *out = NULL;
  if (!path) {
    sy_source__error_set(err, "", 0, 0, "no path given");
    return SY_EINVAL;
  }
  if (!(w = sy_calloc(1, sizeof(*w))) || !(w->path = sy_strdup(path))) {
    sy_source__error_set(err, path, 0, 0, "out of memory");
    goto fail;
  }
  w->poll_ms = poll_ms ? poll_ms : 1000;
  w->on_load = on_load;
  w->on_error = on_error;
  w->ctx = ctx;

  w->fingerprint = fingerprint(path, &w->racy);
  if ((rc = sy_source__load(path, &set, err, &w->published))) goto fail;

  if ((rc = -pthread_condattr_init(&ca))) goto sys_fail;
  ca_ok = true;
  if ((rc = -pthread_condattr_setclock(&ca, CLOCK_MONOTONIC))) goto sys_fail;
  if ((rc = -pthread_cond_init(&w->cv, &ca))) goto sys_fail;
  cv_ok = true;
  if ((rc = -pthread_mutex_init(&w->mu, NULL))) goto sys_fail;
  mu_ok = true;

  /* Hold the lock across the first callback so the thread cannot publish a
   * newer set before the caller has received the first one. */
  pthread_mutex_lock(&w->mu);
  if ((rc = -pthread_create(&w->thread, NULL, watch_main, w))) {
    pthread_mutex_unlock(&w->mu);
    goto sys_fail;
  }
  if (on_load) on_load(ctx, set);
  else sy_objset_free(set);
  pthread_mutex_unlock(&w->mu);
  pthread_condattr_destroy(&ca);
  *out = w;
  return 0;

sys_fail:
  sy_source__error_set(err, path, 0, 0, "cannot start the watcher: %s", sy_strerror(rc));
fail:
  sy_objset_free(set);
  if (ca_ok) pthread_condattr_destroy(&ca);
  if (cv_ok) pthread_cond_destroy(&w->cv);
  if (mu_ok) pthread_mutex_destroy(&w->mu);
  if (w) sy_free(w->path);
  sy_free(w);
  return rc;
}

void sy_manifests_watch_stop(sy_manifests_watch_t *w) {
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  w->stop = true;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  sy_free(w->path);
  sy_free(w);
}
