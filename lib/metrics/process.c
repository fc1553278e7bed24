/* The standard process_* metrics (client_golang's process collector names
 * and help texts), read from /proc/self at render time. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"

/* Reads a small /proc file into buf (NUL-terminated). 0 or -errno. */
static int read_small(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return -errno;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  return 0;
}

static double boot_time(void) {
  char buf[8192];
  if (read_small("/proc/stat", buf, sizeof(buf)) != 0) return -1;
  const char *p = strstr(buf, "\nbtime ");
  return p ? strtod(p + 7, NULL) : -1;
}

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the descriptor opendir itself holds */
}

static void collect_process(sy_metrics_writer_t *w, void *ctx) {
  SY_UNUSED(ctx);
  char buf[1024];
  long ticks = sysconf(_SC_CLK_TCK);
  long page = sysconf(_SC_PAGESIZE);
  if (read_small("/proc/self/stat", buf, sizeof(buf)) == 0 && ticks > 0) {
    /* Fields after the parenthesised comm (which may contain spaces):
     * 3 state ... 14 utime 15 stime ... 22 starttime 23 vsize 24 rss. */
    const char *p = strrchr(buf, ')');
    unsigned long long f[25] = {0};
    int field = 3, ok = 0;
    if (p) {
      p += 2; /* ") " */
      while (*p && field <= 24) {
        while (*p == ' ') p++;
        if (field != 3) f[field] = strtoull(p, NULL, 10);
        while (*p && *p != ' ') p++;
        field++;
      }
      ok = field > 24;
    }
    if (ok) {
      sy_metrics_write_counter(w, "process_cpu_seconds_total",
                               "Total user and system CPU time spent in seconds.", NULL, NULL, 0,
                               (double)(f[14] + f[15]) / (double)ticks);
      if (page > 0)
        sy_metrics_write_gauge(w, "process_resident_memory_bytes", "Resident memory size in bytes.",
                               NULL, NULL, 0, (double)f[24] * (double)page);
      sy_metrics_write_gauge(w, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                             NULL, NULL, 0, (double)f[23]);
      double bt = boot_time();
      if (bt > 0)
        sy_metrics_write_gauge(w, "process_start_time_seconds",
                               "Start time of the process since unix epoch in seconds.", NULL, NULL,
                               0, bt + (double)f[22] / (double)ticks);
    }
  }
  int fds = open_fds();
  if (fds >= 0)
    sy_metrics_write_gauge(w, "process_open_fds", "Number of open file descriptors.", NULL, NULL, 0,
                           fds);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    sy_metrics_write_gauge(w, "process_max_fds", "Maximum number of open file descriptors.", NULL,
                           NULL, 0, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
}

int sy_metrics_register_process_collector(sy_metrics_registry_t *reg) {
  return sy_metrics_register_collector(reg, collect_process, NULL);
}
