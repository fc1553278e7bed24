/*
 * sched_bench — in-process cost of one scheduling decision with a given
 * EndpointPickerConfig (default: the built-in default profile) over N
 * endpoints with realistic metrics and a warm prefix index, for a given
 * prompt size. Reports p50/p90/p99 of sy_sched_schedule wall time.
 *
 *   sched_bench [--endpoints 100] [--prompt-kib 4] [--iterations 20000]
 *               [--groups 32] [--config-file F]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "datastore.h"
#include "scheduler.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  sy_buf_t b;
  sy_buf_init(&b, 4u << 20);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) sy_buf_append(&b, tmp, n);
  fclose(f);
  *len = b.len;
  return b.data;
}

int main(int argc, char **argv) {
  long endpoints = 100, kib = 4, iters = 20000, groups = 32;
  const char *config_file = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--endpoints")) endpoints = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--prompt-kib")) kib = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--iterations")) iters = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--groups")) groups = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--config-file")) config_file = argv[i + 1];
    else {
      fprintf(stderr, "usage: sched_bench [--endpoints N] [--prompt-kib K] [--iterations N] [--groups G] [--config-file F]\n");
      return 2;
    }
  }
  sy_log_set_level(SY_LOG_WARN);

  /* A pool of N ready endpoints, built through the real controller path. */
  sy_buf_t m;
  sy_buf_init(&m, 64u << 20);
  sy_buf_append_str(&m, "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: p}\n"
                        "spec: {selector: {matchLabels: {app: m}}, targetPorts: [{number: 8000}]}\n");
  for (long i = 0; i < endpoints; i++)
    sy_buf_printf(&m, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: pod-%ld, labels: {app: m}}\n"
                      "status: {podIP: 10.%ld.%ld.%ld, conditions: [{type: Ready, status: \"True\"}]}\n",
                  i, (i >> 16) & 255, (i >> 8) & 255, i & 255);
  sy_objset_t *set = NULL;
  sy_source_error_t serr;
  if (sy_manifests_load_buffer("bench", m.data, m.len, &set, &serr) != 0) {
    fprintf(stderr, "manifests: %s\n", serr.msg);
    return 1;
  }
  sy_buf_cleanup(&m);
  sy_snapshot_t *snap = sy_controller_build_snapshot(set, NULL);
  sy_objset_free(set);
  const sy_pool_snap_t *pool = sy_snapshot_pool(snap, "default", "p");
  const sy_endpoint_t **eps = sy_calloc((size_t)endpoints, sizeof(*eps));
  for (long i = 0; i < endpoints; i++) {
    eps[i] = &pool->endpoints[i];
    sy_endpoint_metrics_t em = {.update_ns = sy_now_ns(), .has_waiting = true, .has_running = true, .has_kv = true,
                                .waiting = (double)(i % 7), .running = (double)(i % 5), .kv_usage = (double)(i % 10) / 10.0,
                                .block_size = 16, .num_blocks = 8192, .max_lora = 4};
    sy_endpoint_metrics_store(eps[i]->state, &em);
    atomic_store(&eps[i]->state->in_flight, (int)(i % 3));
  }

  sy_sched_t *s = NULL;
  sy_sched_error_t err;
  size_t clen = 0;
  char *ctext = config_file ? read_file(config_file, &clen) : NULL;
  if (sy_sched_new_from_config(&s, config_file, ctext, clen, &err) != 0) {
    fprintf(stderr, "config: %s:%d: %s\n", err.file, err.line, err.msg);
    return 1;
  }

  /* Prompts: G shared prefixes of ~90% of the prompt plus a unique tail. */
  size_t plen = (size_t)kib * 1024;
  char *prompt = sy_malloc(plen + 1);
  uint64_t *lat = sy_calloc((size_t)iters, sizeof(uint64_t));
  sy_arena_t arena;
  sy_arena_init(&arena, 1 << 20, 0);
  static const char *const words[] = {"alpha ", "bravo ", "charlie ", "delta ", "echo ", "foxtrot ", "golf "};
  for (long it = -iters / 10; it < iters; it++) { /* first 10%: warm-up, not measured */
    long g = (it < 0 ? -it : it) % groups;
    size_t shared = plen * 9 / 10, off = 0;
    uint64_t x = (uint64_t)g * 2654435761u + 1;
    while (off < plen) {
      if (off == shared) x = (uint64_t)it * 11400714819323198485ull + 7;
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      const char *w = words[x % 7];
      size_t wl = SY_MIN(strlen(w), plen - off);
      memcpy(prompt + off, w, wl);
      off += wl;
    }
    prompt[plen] = '\0';
    sy_sched_request_t req = {.request_id = "bench", .model = "meta-llama/Llama-3.1-8B-Instruct", .prompt = prompt,
                              .prompt_len = plen};
    sy_sched_result_t res;
    uint64_t t0 = sy_now_ns();
    int rc = sy_sched_schedule(s, &arena, t0, &req, eps, (size_t)endpoints, &res);
    uint64_t dt = sy_now_ns() - t0;
    if (rc != 0) {
      fprintf(stderr, "schedule failed: %s\n", sy_strerror(rc));
      return 1;
    }
    if (it >= 0) lat[it] = dt;
    sy_arena_reset(&arena);
  }
  qsort(lat, (size_t)iters, sizeof(uint64_t), cmp_u64);
  printf("sched_bench config=%s endpoints=%ld prompt=%ldKiB groups=%ld iterations=%ld  p50=%.1fus p90=%.1fus p99=%.1fus\n",
         config_file ? config_file : "default", endpoints, kib, groups, iters, lat[iters / 2] / 1e3,
         lat[iters * 9 / 10] / 1e3, lat[iters * 99 / 100] / 1e3);
  sy_sched_plugin_stats_t st[64];
  size_t ns = sy_sched_stats(s, st, 64);
  for (size_t i = 0; i < ns && i < 64; i++)
    printf("  %-32s %-12s %8.2f us/call\n", st[i].name, st[i].extension,
           st[i].calls ? (double)st[i].total_ns / (double)st[i].calls / 1e3 : 0.0);
  sy_arena_cleanup(&arena);
  sy_sched_free(s);
  sy_free(lat);
  sy_free(prompt);
  sy_free(eps);
  sy_free(ctext);
  sy_snapshot_release(snap);
  return 0;
}
