/*
 * Process and network helpers for integration and end-to-end tests: start
 * real binaries (switchyard, switchyard-sim, Envoy) with their output in a
 * log file, find free loopback ports, wait until something is listening or
 * answering HTTP, and stop processes with a timeout.
 *
 * Children are started with PR_SET_PDEATHSIG(SIGKILL), so they die with the
 * test process even when it crashes or is killed by a ctest timeout: no
 * orphaned simulators or Envoys. Use them from the thread that spawned them
 * (the death signal is tied to that thread). Not thread-safe.
 */
#ifndef SY_TEST_PROC_H
#define SY_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct sy_proc {
  pid_t pid;           /* 0 when not started */
  char name[64];       /* for messages, e.g. "sim-1" */
  char log_path[512];  /* stdout+stderr of the child */
  bool exited;         /* true once reaped */
  int status;          /* raw waitpid() status, valid when exited */
} sy_proc_t;

/* Starts argv[0] (a path, or a name looked up in PATH) with argv, in a new
 * process whose stdin is /dev/null and whose stdout and stderr are appended
 * to `log_path` (created; may be NULL for /dev/null). `env` is a
 * NULL-terminated list of "NAME=value" strings added to (or overriding) the
 * current environment; it may be NULL. Returns 0, or -errno when the fork or
 * the log file failed. A failing exec shows as exit code 127 plus a line in
 * the log. */
int sy_proc_spawn(sy_proc_t *p, const char *name, char *const argv[], char *const env[],
                  const char *log_path);

/* Non-blocking check: true while the process runs (reaps it if it ended). */
bool sy_proc_alive(sy_proc_t *p);

/* Sends `sig` (no-op once exited). 0 or -errno. */
int sy_proc_signal(sy_proc_t *p, int sig);

/* Waits up to timeout_ms (< 0: forever) for the process to end.
 * 0 when it has ended (p->status set), -ETIMEDOUT otherwise. */
int sy_proc_wait(sy_proc_t *p, int timeout_ms);

/* SIGTERM, wait up to grace_ms, then SIGKILL and reap. Returns the exit code
 * as sy_proc_exit_code() does. Safe on a process never started (returns 0). */
int sy_proc_stop(sy_proc_t *p, int grace_ms);

/* After the process ended: its exit code, or 128+signal when a signal ended
 * it (shell convention). -1 while it runs. */
int sy_proc_exit_code(const sy_proc_t *p);

/* Prints the last `max_lines` lines of the log to stderr with a header, for
 * failure diagnostics. */
void sy_proc_dump_log(const sy_proc_t *p, int max_lines);

/* A TCP port that is free on `ip` right now (bind to port 0, read it back,
 * close). Racy by nature, but fine on loopback. Returns the port or -errno. */
int sy_port_free(const char *ip);

/* A TCP port free on every one of the n addresses (for pods that share one
 * targetPort on different loopback IPs). The port or -errno. */
int sy_port_free_on_all(const char *const *ips, size_t n);

/* n different TCP ports free on `ip` (sy_port_free alone can hand out a
 * port it just probed again, once the probe is closed). 0 or -errno. */
int sy_port_free_distinct(const char *ip, int *out, size_t n);

/* Waits until ip:port accepts a TCP connection. When `watch` is not NULL and
 * that process ends first, gives up early. 0, -ETIMEDOUT or -ESRCH. */
int sy_wait_tcp(const char *ip, int port, int timeout_ms, sy_proc_t *watch);

/* Waits until GET url answers HTTP 200 (libcurl). Same results as
 * sy_wait_tcp. */
int sy_wait_http_200(const char *url, int timeout_ms, sy_proc_t *watch);

/* One GET; returns the HTTP status, or 0 when no response came. */
long sy_http_get_status(const char *url, int timeout_ms);

/* One GET that keeps the body: *body gets a NUL-terminated sy_malloc'd copy
 * (NULL when no response; at most 16 MiB). Returns the HTTP status, or 0. */
long sy_http_get(const char *url, int timeout_ms, char **body);

/* Sleeps for ms milliseconds (restarts on EINTR). */
void sy_sleep_ms(int ms);

/* Makes a fresh directory under $TMPDIR (default /tmp) named
 * <prefix>XXXXXX; writes its path to out. 0 or -errno. */
int sy_tmpdir_make(const char *prefix, char *out, size_t outlen);

/* Removes a directory tree made by sy_tmpdir_make (best effort). */
void sy_tmpdir_remove(const char *path);

/* Writes `len` bytes to `path` atomically: a temporary file next to it,
 * then rename(2), so a poller never sees a half-written file. 0 or -errno. */
int sy_file_write_atomic(const char *path, const void *data, size_t len);

#endif /* SY_TEST_PROC_H */
