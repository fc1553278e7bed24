/* libFuzzer target: bytes -> kubeconfig -> sy_kube_config_t. Exercises the
 * YAML tree walk, context/cluster/user lookup, base64 decoding, server
 * normalisation and every located error path; ASan/UBSan catch the bugs.
 * Relative file references resolve under a directory that does not exist,
 * so inputs cannot make it read real files through them (absolute paths
 * may name real files: only regular files are read, never devices or
 * FIFOs, and the reads are bounded). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NODIR "/nonexistent-sy-fuzz-kubeconfig"

static void check(const sy_kube_config_t *cfg) {
  /* invariants of a successful load */
  if (!cfg->server || strncmp(cfg->server, "http", 4) != 0) __builtin_trap();
  size_t n = strlen(cfg->server);
  if (n == 0 || cfg->server[n - 1] == '/') __builtin_trap();
  if ((cfg->ca_pem == NULL) != (cfg->ca_len == 0)) __builtin_trap();
  if ((cfg->cert_pem == NULL) != (cfg->key_pem == NULL)) __builtin_trap();
  if (cfg->insecure && cfg->ca_pem) __builtin_trap();
  if (cfg->ca_pem && cfg->ca_pem[cfg->ca_len] != '\0') __builtin_trap();
  if (!cfg->origin) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *contexts[] = {NULL, "c"};
  for (size_t i = 0; i < sizeof(contexts) / sizeof(contexts[0]); i++) {
    sy_kube_config_t *cfg = NULL;
    char err[512];
    err[0] = '\0';
    int rc = sy_kube_config_from_kubeconfig("fuzz.yaml", (const char *)data, size, NODIR, contexts[i], &cfg, err,
                                            sizeof(err));
    if (rc == 0) {
      check(cfg);
      sy_kube_config_free(cfg);
    } else {
      /* every failure explains itself and names the document */
      if (cfg != NULL || strncmp(err, "kubeconfig fuzz.yaml", 20) != 0) __builtin_trap();
    }
  }
  return 0;
}
