#include "proc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

extern char **environ;

static uint64_t now_ms(void) { return sy_now_ns() / 1000000u; }

void sy_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* In the child: apply "NAME=value" overrides to the environment. */
static void child_apply_env(char *const env[]) {
  if (!env) return;
  for (size_t i = 0; env[i]; i++) {
    const char *eq = strchr(env[i], '=');
    if (!eq) continue;
    char name[256];
    size_t n = (size_t)(eq - env[i]);
    if (n == 0 || n >= sizeof(name)) continue;
    memcpy(name, env[i], n);
    name[n] = '\0';
    setenv(name, eq + 1, 1);
  }
}

int sy_proc_spawn(sy_proc_t *p, const char *name, char *const argv[], char *const env[],
                  const char *log_path) {
  memset(p, 0, sizeof(*p));
  snprintf(p->name, sizeof(p->name), "%s", name ? name : argv[0]);
  snprintf(p->log_path, sizeof(p->log_path), "%s", log_path ? log_path : "/dev/null");

  int logfd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logfd < 0) return -errno;
  int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (nullfd < 0) {
    int e = errno;
    close(logfd);
    return -e;
  }
  pid_t parent = getpid();
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(logfd);
    close(nullfd);
    return -e;
  }
  if (pid == 0) {
    /* Child: die with the parent; own process group so a terminal ^C to the
     * test does not hit it twice; stdio to the log. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    setpgid(0, 0);
    dup2(nullfd, STDIN_FILENO);
    dup2(logfd, STDOUT_FILENO);
    dup2(logfd, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    child_apply_env(env);
    execvp(argv[0], argv);
    dprintf(STDERR_FILENO, "sy_proc_spawn: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(logfd);
  close(nullfd);
  p->pid = pid;
  return 0;
}

static bool reap(sy_proc_t *p, int flags) {
  if (p->pid <= 0 || p->exited) return p->exited;
  int st = 0;
  pid_t r;
  do {
    r = waitpid(p->pid, &st, flags);
  } while (r < 0 && errno == EINTR);
  if (r == p->pid) {
    p->exited = true;
    p->status = st;
  } else if (r < 0 && errno == ECHILD) {
    /* Not our child (or already reaped elsewhere): treat as gone. */
    p->exited = true;
    p->status = 0;
  }
  return p->exited;
}

bool sy_proc_alive(sy_proc_t *p) {
  if (p->pid <= 0) return false;
  return !reap(p, WNOHANG);
}

int sy_proc_signal(sy_proc_t *p, int sig) {
  if (p->pid <= 0 || p->exited) return 0;
  return kill(p->pid, sig) == 0 ? 0 : -errno;
}

int sy_proc_wait(sy_proc_t *p, int timeout_ms) {
  if (p->pid <= 0) return 0;
  if (timeout_ms < 0) return reap(p, 0) ? 0 : -ETIMEDOUT;
  uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
  int nap = 1;
  for (;;) {
    if (reap(p, WNOHANG)) return 0;
    if (now_ms() >= deadline) return -ETIMEDOUT;
    sy_sleep_ms(nap);
    if (nap < 20) nap *= 2;
  }
}

int sy_proc_exit_code(const sy_proc_t *p) {
  if (p->pid <= 0) return 0;
  if (!p->exited) return -1;
  if (WIFEXITED(p->status)) return WEXITSTATUS(p->status);
  if (WIFSIGNALED(p->status)) return 128 + WTERMSIG(p->status);
  return -1;
}

int sy_proc_stop(sy_proc_t *p, int grace_ms) {
  if (p->pid <= 0) return 0;
  if (!p->exited) {
    sy_proc_signal(p, SIGTERM);
    if (sy_proc_wait(p, grace_ms) != 0) {
      fprintf(stderr, "proc: %s (pid %d) ignored SIGTERM for %d ms; SIGKILL\n", p->name,
              (int)p->pid, grace_ms);
      sy_proc_signal(p, SIGKILL);
      sy_proc_wait(p, -1);
    }
  }
  return sy_proc_exit_code(p);
}

void sy_proc_dump_log(const sy_proc_t *p, int max_lines) {
  if (!p->log_path[0] || strcmp(p->log_path, "/dev/null") == 0) return;
  FILE *f = fopen(p->log_path, "r");
  if (!f) return;
  /* Two passes: count lines, then print the tail. Logs here are small. */
  long total = 0;
  int c;
  while ((c = fgetc(f)) != EOF)
    if (c == '\n') total++;
  rewind(f);
  long skip = total > max_lines ? total - max_lines : 0;
  fprintf(stderr, "----- %s log (%s), last %ld lines -----\n", p->name, p->log_path,
          total - skip);
  char line[4096];
  long n = 0;
  while (fgets(line, sizeof(line), f)) {
    size_t len = strlen(line);
    bool eol = len > 0 && line[len - 1] == '\n';
    if (n >= skip) fputs(line, stderr);
    if (eol) n++;
  }
  fprintf(stderr, "----- end of %s log -----\n", p->name);
  fclose(f);
}

/* ------------------------------------------------------------------ ports */

static int bind_probe(const char *ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
    close(fd);
    return -EINVAL;
  }
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  socklen_t sl = sizeof(sa);
  if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  close(fd);
  return ntohs(sa.sin_port);
}

int sy_port_free(const char *ip) { return bind_probe(ip, 0); }

int sy_port_free_on_all(const char *const *ips, size_t n) {
  if (n == 0) return -EINVAL;
  for (int attempt = 0; attempt < 100; attempt++) {
    int port = bind_probe(ips[0], 0);
    if (port < 0) return port;
    bool ok = true;
    for (size_t i = 1; i < n && ok; i++) ok = bind_probe(ips[i], port) == port;
    if (ok) return port;
  }
  return -EADDRINUSE;
}

int sy_port_free_distinct(const char *ip, int *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    bool dup = true;
    for (int tries = 0; dup && tries < 50; tries++) {
      out[i] = bind_probe(ip, 0);
      if (out[i] < 0) return out[i];
      dup = false;
      for (size_t j = 0; j < i; j++) dup |= out[j] == out[i];
    }
    if (dup) return -EADDRINUSE;
  }
  return 0;
}

/* ------------------------------------------------------------------ waits */

static bool tcp_accepts(const char *ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  bool ok = inet_pton(AF_INET, ip, &sa.sin_addr) == 1 &&
            connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
  close(fd);
  return ok;
}

int sy_wait_tcp(const char *ip, int port, int timeout_ms, sy_proc_t *watch) {
  uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    if (tcp_accepts(ip, port)) return 0;
    if (watch && !sy_proc_alive(watch)) return -ESRCH;
    if (now_ms() >= deadline) return -ETIMEDOUT;
    sy_sleep_ms(20);
  }
}

static size_t discard_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
  SY_UNUSED(ptr);
  SY_UNUSED(ud);
  return size * nmemb;
}

long sy_http_get_status(const char *url, int timeout_ms) {
  CURL *c = curl_easy_init();
  if (!c) return 0;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
  long code = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  return code;
}

static size_t keep_cb(char *p, size_t size, size_t n, void *ud) {
  sy_buf_t *b = ud;
  return sy_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

long sy_http_get(const char *url, int timeout_ms, char **body) {
  *body = NULL;
  CURL *c = curl_easy_init();
  if (!c) return 0;
  sy_buf_t b;
  sy_buf_init(&b, 16u << 20);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  long code = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  if (code && sy_buf_append(&b, "", 1) == 0) {
    *body = b.data;
  } else {
    sy_buf_cleanup(&b);
  }
  return code;
}

int sy_wait_http_200(const char *url, int timeout_ms, sy_proc_t *watch) {
  uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    if (sy_http_get_status(url, 1000) == 200) return 0;
    if (watch && !sy_proc_alive(watch)) return -ESRCH;
    if (now_ms() >= deadline) return -ETIMEDOUT;
    sy_sleep_ms(50);
  }
}

/* ------------------------------------------------------------------ files */

int sy_tmpdir_make(const char *prefix, char *out, size_t outlen) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  int n = snprintf(out, outlen, "%s/%sXXXXXX", base, prefix);
  if (n < 0 || (size_t)n >= outlen) return -ENAMETOOLONG;
  return mkdtemp(out) ? 0 : -errno;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  SY_UNUSED(st);
  SY_UNUSED(flag);
  SY_UNUSED(ftw);
  remove(path);
  return 0;
}

void sy_tmpdir_remove(const char *path) {
  if (path && *path) nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int sy_file_write_atomic(const char *path, const void *data, size_t len) {
  char tmp[1024];
  const char *slash = strrchr(path, '/');
  int n = slash ? snprintf(tmp, sizeof(tmp), "%.*s/.%s.tmp", (int)(slash - path), path, slash + 1)
                : snprintf(tmp, sizeof(tmp), ".%s.tmp", path);
  if (n < 0 || (size_t)n >= sizeof(tmp)) return -ENAMETOOLONG;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      unlink(tmp);
      return -e;
    }
    p += w;
    left -= (size_t)w;
  }
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return -e;
  }
  return 0;
}
