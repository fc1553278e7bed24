/* switchyard-sim: flags, signals, and the server loop. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "server.h"
#include "sim.h"

typedef struct sig_waiter {
  sigset_t set;
  sy_sim_server_t *srv;
  int signo;
} sig_waiter_t;

/* Signals are handled synchronously on their own thread: lws may only be
 * poked from outside its thread through lws_cancel_service, which is not
 * async-signal-safe. */
static void *sig_thread(void *arg) {
  sig_waiter_t *w = arg;
  int sig = 0;
  if (sigwait(&w->set, &sig) == 0) w->signo = sig;
  sy_sim_server_stop(w->srv);
  return NULL;
}

int main(int argc, char **argv) {
  sy_sim_config_t cfg;
  char err[256] = "";
  int rc = sy_sim_config_parse(&cfg, argc, argv, err, sizeof(err));
  if (rc == 1) {
    sy_sim_config_usage(stdout);
    sy_sim_config_cleanup(&cfg);
    return 0;
  }
  if (rc) {
    fprintf(stderr, "switchyard-sim: %s\n", err);
    sy_sim_config_usage(stderr);
    sy_sim_config_cleanup(&cfg);
    return 2;
  }
  sy_log_set_level(cfg.verbosity);
  cJSON_Hooks hooks = {.malloc_fn = sy_malloc, .free_fn = sy_free};
  cJSON_InitHooks(&hooks);

  /* Block before any thread exists so every thread inherits the mask. */
  sig_waiter_t w = {.srv = NULL, .signo = 0};
  sigemptyset(&w.set);
  sigaddset(&w.set, SIGINT);
  sigaddset(&w.set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &w.set, NULL);
  signal(SIGPIPE, SIG_IGN);

  sy_sim_server_t *srv = NULL;
  rc = sy_sim_server_new(&srv, &cfg);
  if (rc) {
    char port[16];
    snprintf(port, sizeof(port), "%d", cfg.listen_port);
    SY_LOG(SY_LOG_ERROR, "cannot start server", "host", cfg.listen_host, "port", port, "err", sy_strerror(rc), NULL);
    sy_sim_config_cleanup(&cfg);
    return 1;
  }
  w.srv = srv;
  pthread_t tid;
  if (pthread_create(&tid, NULL, sig_thread, &w) != 0) {
    SY_LOG(SY_LOG_ERROR, "cannot start signal thread", NULL);
    sy_sim_server_free(srv);
    sy_sim_config_cleanup(&cfg);
    return 1;
  }

  char listen[96], ttft[64], itl[32], seqs[16];
  snprintf(listen, sizeof(listen), "%s:%d", cfg.listen_host, cfg.listen_port);
  if (cfg.latency == SY_SIM_LATENCY_CONSTANT) snprintf(ttft, sizeof(ttft), "%g", cfg.ttft_ms);
  else snprintf(ttft, sizeof(ttft), "%g+%g/token", cfg.prefill_overhead_ms, cfg.prefill_ms_per_token);
  snprintf(itl, sizeof(itl), "%g", cfg.itl_ms);
  snprintf(seqs, sizeof(seqs), "%d", cfg.max_num_seqs);
  SY_LOG(SY_LOG_INFO, "switchyard-sim serving", "listen", listen, "model", cfg.model, "instance", cfg.instance_id,
         "ttft_ms", ttft, "itl_ms", itl, "max_num_seqs", seqs, NULL);

  rc = sy_sim_server_run(srv);
  if (rc) SY_LOG(SY_LOG_ERROR, "event loop failed", "err", sy_strerror(rc), NULL);
  /* Wakes the signal thread if the loop ended on its own; harmless (the
   * signal is blocked everywhere) when it has already returned. */
  pthread_kill(tid, SIGTERM);
  pthread_join(tid, NULL);
  SY_LOG(SY_LOG_INFO, "switchyard-sim stopping", NULL);
  sy_sim_server_free(srv);
  sy_sim_config_cleanup(&cfg);
  return rc ? 1 : 0;
}
