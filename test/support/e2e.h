/*
 * The harness shared by the end-to-end tests (test/e2e): one stack of real
 * processes on loopback, curl -> Envoy (rendered from
 * examples/envoy/standalone.yaml, or a config the test brings, such as the
 * Helm chart's) -> switchyard -> switchyard-sim model servers; POSTs through
 * Envoy that keep the routing headers; readers for switchyard's own admin
 * port (/metrics, /debug/endpoints), which the kube integration tests use
 * too; `helm template` with its output captured; and the chain cases every
 * stack must pass.
 *
 * A test owns one sy_e2e_stack_t, fills in what it decides (model, and the
 * switchyard flags it passes to sy_e2e_switchyard_start), and calls the
 * helpers in order: stack_env, stack_ports, stack_sims, sims_start,
 * switchyard_start, envoy_start (or envoy_start_argv); sy_e2e_run runs its
 * suite and cleans up.
 *
 * Errors: this is test code. Functions returning int give 0 or -1 and print
 * the reason to stderr (the message is the diagnostic). sy_e2e_assert_*,
 * sy_e2e_served_by and sy_e2e_require_up use Check's ck_assert, so they run
 * only inside a test.
 *
 * Threads: like proc.h, use it all from the thread that started the
 * processes (Check in no-fork mode); nothing here is thread-safe.
 */
#ifndef SY_TEST_E2E_H
#define SY_TEST_E2E_H

#include <check.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "proc.h"

#define SY_E2E_SIMS_MAX 8

/* ------------------------------------------------------------ environment */

/* "1", "true" or "yes" in any case; false for NULL. */
bool sy_e2e_truthy(const char *s);

/* sy_e2e_truthy($name), or `dflt` when it is unset or empty. */
bool sy_e2e_env_true(const char *name, bool dflt);

/* $env when it names a readable file or directory; otherwise prints why,
 * sets *missing and returns the value anyway (NULL when unset). */
const char *sy_e2e_need_file(const char *env, bool *missing);

/* The exit code for a test whose binaries or tools are missing: 1 when
 * SY_E2E_REQUIRE is true (CI), else 77 (ctest: skipped) with a message. */
int sy_e2e_skip(void);

/* ----------------------------------------------------------- the template */

typedef struct sy_e2e_tpl_var {
  const char *name;
  const char *value;
} sy_e2e_tpl_var_t;

/* Renders `src` into `dst` (written atomically) with the same two rules as
 * hack/lib.sh's sy_render_template, so tests and scripts run one config:
 * ${VAR} substitution (unknown names are errors) and trailing
 * "# when:VAR" / "# unless:VAR" line conditions (sy_e2e_truthy); full-line
 * comments are copied unchanged. 0 or -1. */
int sy_e2e_render_template(const char *src, const char *dst, const sy_e2e_tpl_var_t *vars,
                           size_t nvars);

/* -------------------------------------------------------------- the stack */

typedef struct sy_e2e_sim {
  sy_proc_t proc;
  char name[32]; /* "sim-<i>": process name, log <dir>/<name>.log, Pod name */
  char ip[32];
  char addr[64]; /* ip:port, also the simulator's default instance id */
} sy_e2e_sim_t;

typedef struct sy_e2e_stack {
  /* The test's. */
  char dir[512];         /* temp dir: logs, rendered Envoy config */
  const char *model;     /* served by every simulator */
  bool up;               /* the whole chain answered; tests check it first */
  /* sy_e2e_stack_env: $SY_SWITCHYARD_BIN, $SY_SIM_BIN, $SY_ENVOY_BIN,
   * $SY_ENVOY_TEMPLATE (NULL when unset: only sy_e2e_envoy_start needs it). */
  const char *sy_bin, *sim_bin, *envoy_bin, *envoy_tpl;
  /* sy_e2e_stack_ports: distinct free ports on 127.0.0.1. ready_port is for
   * configs with a separate Envoy readiness listener (the chart's). */
  int grpc_port, health_port, metrics_port, admin_port, listen_port, ready_port;
  char base_url[128];    /* http://127.0.0.1:<listen_port>, Envoy's listener */
  /* sy_e2e_stack_sims. */
  sy_e2e_sim_t sims[SY_E2E_SIMS_MAX];
  int n_sims;
  int sim_port;          /* one port on every simulator address */
  sy_proc_t sy, envoy;
} sy_e2e_stack_t;

/* Reads the three binaries' variables, and the Envoy template's when it is
 * set, into *st; false (reasons printed) when one is missing. */
bool sy_e2e_stack_env(sy_e2e_stack_t *st);

/* Picks the six switchyard and Envoy ports and sets base_url. */
int sy_e2e_stack_ports(sy_e2e_stack_t *st);

/* Names n (<= SY_E2E_SIMS_MAX) simulators sim-0.. on 127.0.0.<ip_base+i>
 * and picks one port free on all of them (a pool has one targetPort).
 * Starts nothing. */
int sy_e2e_stack_sims(sy_e2e_stack_t *st, int ip_base, int n);

/* Starts simulators first..first+n-1 serving st->model with fast, fixed
 * timings (TTFT 2 ms, 5 ms per token), all at once, then waits (15 s each)
 * until every one answers /health. */
int sy_e2e_sims_start(sy_e2e_stack_t *st, int first, int n);

/* Starts switchyard with `argv` (argv[0] st->sy_bin; the flags are the
 * test's), logging to <dir>/switchyard.log, and waits (15 s) until its
 * ext_proc port accepts connections. */
int sy_e2e_switchyard_start(sy_e2e_stack_t *st, char *const argv[]);

/* The same with `env` ("NAME=value" list, NULL-terminated, may be NULL)
 * added to switchyard's environment, as sy_proc_spawn. */
int sy_e2e_switchyard_start_env(sy_e2e_stack_t *st, char *const argv[], char *const env[]);

/* Renders the Envoy template (st->envoy_tpl) to <dir>/envoy.yaml (listener,
 * admin and switchyard ports from st; ext_proc over TLS when `epp_tls`),
 * starts Envoy with one worker, logging to <dir>/envoy.log, and waits (30 s)
 * for the admin /ready. */
int sy_e2e_envoy_start(sy_e2e_stack_t *st, bool epp_tls);

/* Starts Envoy with `argv` exactly (argv[0] st->envoy_bin; the config and
 * flags are the test's), logging to <dir>/envoy.log, and waits (30 s) until
 * GET `ready_url` answers 200. */
int sy_e2e_envoy_start_argv(sy_e2e_stack_t *st, char *const argv[], const char *ready_url);

/* Stops Envoy, switchyard and the simulators (SIGTERM, 5 s, SIGKILL). */
void sy_e2e_stack_stop(sy_e2e_stack_t *st);

/* Prints the tails of the logs of every process started. */
void sy_e2e_stack_dump_logs(const sy_e2e_stack_t *st);

/* Runs `s` in no-fork mode (the stack's processes belong to this thread)
 * with SIGPIPE ignored and curl initialised. After failures it dumps the
 * logs; it keeps st->dir when something failed or SY_E2E_KEEP is true and
 * removes it otherwise. Returns the exit status: 0 or 1. */
int sy_e2e_run(sy_e2e_stack_t *st, Suite *s);

/* -------------------------------------------------------------- commands */

/* Runs argv (argv[0] a path or a name in PATH) to completion with stdin
 * /dev/null, stdout written to `out_path` and stderr to `<out_path>.err`
 * (removed when it stays empty and the command succeeds); kills it after
 * timeout_ms. Returns its exit code (128+signal when a signal ended it), or
 * -1 when it could not run or timed out. On a non-zero result the stderr
 * file is printed. */
int sy_e2e_capture(char *const argv[], const char *out_path, int timeout_ms);

/* `<helm> template <release> <chart> --namespace <ns> <args...>` (args
 * NULL-terminated, may be NULL) through sy_e2e_capture, its output kept as
 * <st->dir>/<name>. Returns the output (sy_malloc'd; sy_free it), or NULL
 * when helm failed (its stderr printed). */
char *sy_e2e_helm_template(const sy_e2e_stack_t *st, const char *helm, const char *chart,
                           const char *release, const char *ns, const char *const *args,
                           const char *name);

/* ------------------------------------------------------ requests via Envoy */

/* One response, with the headers that tell who routed and who served it. */
typedef struct sy_e2e_resp {
  long status;             /* 0 when no response came */
  CURLcode cerr;
  sy_buf_t body;           /* NUL-terminated when not empty */
  char sim_instance[128];  /* x-sim-instance: the simulator that served */
  char dest[128];          /* x-gateway-destination-endpoint: switchyard's pick */
  char upstream[128];      /* x-upstream-host: where Envoy sent it */
  char body_sha[80];       /* x-sim-body-sha256: the request body the sim saw */
  char content_type[128];
  uint64_t t_start_ns, t_first_byte_ns, t_done_ns;
  struct curl_slist *hdrs; /* request headers; freed by cleanup */
} sy_e2e_resp_t;

/* Zeroes *r. A response body over 16 MiB fails the transfer. */
void sy_e2e_resp_init(sy_e2e_resp_t *r);
void sy_e2e_resp_cleanup(sy_e2e_resp_t *r);

/* The body as text, "" when there is none. */
const char *sy_e2e_resp_text(const sy_e2e_resp_t *r);

/* An easy handle that POSTs `len` bytes of JSON `body` to <base_url><path>
 * into *r (sy_e2e_resp_init'ed), for curl_easy_perform or a multi handle
 * (its CURLINFO_PRIVATE is r). The caller keeps `body` alive, passes the
 * result to sy_e2e_req_finish and then curl_easy_cleanup's the handle.
 * NULL when curl cannot make one. */
CURL *sy_e2e_req_new(const char *base_url, const char *path, const char *body, size_t len,
                     long timeout_ms, sy_e2e_resp_t *r);

/* Records the transfer's result (and the status, when it got one) in *r. */
void sy_e2e_req_finish(CURL *c, CURLcode cerr, sy_e2e_resp_t *r);

/* sy_e2e_req_new + perform + finish + cleanup. 0, or -1 when no handle could
 * be made; a failed transfer is 0 with r->cerr set. */
int sy_e2e_post(const char *base_url, const char *path, const char *body, size_t len,
                long timeout_ms, sy_e2e_resp_t *r);

/* ------------------------------------------------------------- assertions */

/* Fails the test unless st->up: the cases after a failed start say why. */
void sy_e2e_require_up(const sy_e2e_stack_t *st);

/* The endpoint switchyard picked served the request: its header (echoed by
 * Envoy), Envoy's upstream host and the simulator's identity agree. */
void sy_e2e_assert_routed(const sy_e2e_resp_t *r);

/* sy_e2e_assert_routed, and the endpoint is one of st's simulators:
 * returns its index. */
int sy_e2e_served_by(const sy_e2e_stack_t *st, const sy_e2e_resp_t *r);

/* A completion streamed as SSE, asked for with max_tokens `tokens`,
 * "stream":true and include_usage: text_completion events, a usage chunk
 * with `tokens` completion tokens, "data: [DONE]" last, and the events
 * spread over at least 40 ms (so nothing on the way buffered the whole
 * stream). Tokenizes r->body in place. */
void sy_e2e_assert_stream(sy_e2e_resp_t *r, int tokens);

/* A TCase "chain" for the test's cases on `st`: `setup` starts the stack
 * once for all of them and `teardown` stops it (an unchecked fixture), 240 s
 * for the whole run, and first the cases every stack must pass: a
 * completion, a chat completion and a streamed completion through Envoy,
 * each answered 200 by one of st's simulators with the OpenAI response
 * shape. One stack per process: `st` is kept for those cases. */
TCase *sy_e2e_chain_tcase(sy_e2e_stack_t *st, void (*setup)(void), void (*teardown)(void));

/* ------------------------------------------------ switchyard's admin port */

/* GET http://127.0.0.1:<port><path> as sy_http_get: the HTTP status or 0,
 * *body sy_malloc'd (sy_free it) or NULL. */
long sy_e2e_admin_get(int port, const char *path, int timeout_ms, char **body);

/* The value of the first sample line of a Prometheus page that starts with
 * `prefix` (name, or name plus leading labels), or -1. */
double sy_e2e_sample_value(const char *page, const char *prefix);

/* sy_e2e_sample_value on the /metrics page at `port` (2 s); -1 when the
 * page cannot be read. */
double sy_e2e_metric(int port, const char *prefix);

/* The endpoints of pool ns/pool (ns NULL: any namespace) in /debug/endpoints
 * at `port` (2 s), as "name@address" sorted and comma-joined in `out`
 * ("" for none). 0; SY_ENOTFOUND when the pool is not listed; -1 (out "")
 * when the page cannot be read or parsed. */
int sy_e2e_endpoints(int port, const char *ns, const char *pool, char *out, size_t n);

#endif /* SY_TEST_E2E_H */
