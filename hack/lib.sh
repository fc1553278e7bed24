# shellcheck shell=bash
# Shared helpers for the hack/ scripts. Source it; it only defines functions
# and SY_ROOT, so sourcing it has no side effects.

SY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SY_ENVOY_VERSION="1.39.3"

sy_log() { printf '%s: %s\n' "${SY_LOG_TAG:-hack}" "$*" >&2; }
sy_die() { sy_log "error: $*"; exit 1; }

# Parallel jobs: the machine's cores, capped by SY_JOBS (default 2, the size
# of the CI runner).
sy_jobs() {
  local n cap="${SY_JOBS:-2}"
  n="$(nproc 2>/dev/null || echo 2)"
  [ "$n" -gt "$cap" ] && n="$cap"
  echo "$n"
}

# sy_render_template SRC DST VAR...
# Writes SRC to DST with two rules (the C tests implement the same two, see
# test/e2e/test_e2e_envoy.c):
#  - ${VAR} becomes the value of shell variable VAR, for each VAR named;
#    any other ${NAME} is an error, so a typo never reaches Envoy;
#  - a line ending in "# when:VAR" is kept only if VAR is 1/true/yes, a line
#    ending in "# unless:VAR" only otherwise; the marker itself is removed.
#  Full-line comments (first non-blank is '#') are copied unchanged.
sy_render_template() {
  local src="$1" dst="$2"; shift 2
  local envs=() v
  for v in "$@"; do envs+=("SYTPL_$v=${!v-}"); done
  env "${envs[@]}" awk -v names="$*" '
    BEGIN { n = split(names, list, " "); for (i = 1; i <= n; i++) known[list[i]] = 1 }
    function val(k) { return ENVIRON["SYTPL_" k] }
    function truthy(s) { s = tolower(s); return s == "1" || s == "true" || s == "yes" }
    /^[ \t]*#/ { print; next }   # full-line comments are copied verbatim
    {
      line = $0
      if (match(line, /#[ ]*(when|unless):[A-Za-z_][A-Za-z0-9_]*[ ]*$/)) {
        tag = substr(line, RSTART, RLENGTH)
        sub(/^#[ ]*/, "", tag); sub(/[ ]*$/, "", tag)
        split(tag, kv, ":")
        if (!(kv[2] in known)) { printf("template: %s:%d: unknown variable %s\n", FILENAME, FNR, kv[2]) > "/dev/stderr"; bad = 1 }
        want = truthy(val(kv[2]))
        if ((kv[1] == "when" && !want) || (kv[1] == "unless" && want)) next
        line = substr(line, 1, RSTART - 1)
        sub(/[ ]+$/, "", line)
      }
      out = ""
      while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
        name = substr(line, RSTART + 2, RLENGTH - 3)
        if (!(name in known)) { printf("template: %s:%d: unknown variable ${%s}\n", FILENAME, FNR, name) > "/dev/stderr"; bad = 1 }
        out = out substr(line, 1, RSTART - 1) val(name)
        line = substr(line, RSTART + RLENGTH)
      }
      print out line
    }
    END { exit bad }
  ' "$src" > "$dst.tmp" && mv "$dst.tmp" "$dst" || { rm -f "$dst.tmp"; return 1; }
}

# sy_wait_tcp HOST PORT TIMEOUT_S [PID]: waits until HOST:PORT accepts a TCP
# connection; fails early if PID (when given) has exited.
sy_wait_tcp() {
  local host="$1" port="$2" timeout="$3" pid="${4:-}" i
  for ((i = 0; i < timeout * 10; i++)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

# sy_wait_http URL TIMEOUT_S [PID]: waits until GET URL answers 200.
sy_wait_http() {
  local url="$1" timeout="$2" pid="${3:-}" i
  for ((i = 0; i < timeout * 10; i++)); do
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

# sy_free_port [IP]: prints a TCP port that is free on IP (default 127.0.0.1).
sy_free_port() {
  python3 -c 'import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "${1:-127.0.0.1}"
}

# ---------------------------------------------------------------- background processes
# sy_bg NAME LOG CMD... starts CMD in the background with stdout+stderr in
# LOG and remembers it; sy_stop_all stops everything started so, newest
# first (SIGTERM, then SIGKILL after 10 s). sy_trap_cleanup installs traps
# so that any exit, Ctrl-C or SIGTERM stops them: no orphans.
SY_PIDS=()
SY_PNAMES=()
sy_bg() {
  local name="$1" log="$2"; shift 2
  "$@" >"$log" 2>&1 </dev/null &
  SY_PIDS+=("$!")
  SY_PNAMES+=("$name")
}

sy_stop_all() {
  local i p alive
  [ "${#SY_PIDS[@]}" -gt 0 ] || return 0
  sy_log "stopping ${SY_PNAMES[*]}"
  for ((i = ${#SY_PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${SY_PIDS[i]}" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do
    alive=0
    for p in "${SY_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for i in "${!SY_PIDS[@]}"; do
    if kill -0 "${SY_PIDS[i]}" 2>/dev/null; then
      sy_log "${SY_PNAMES[i]} (pid ${SY_PIDS[i]}) ignored SIGTERM; killing it"
      kill -KILL "${SY_PIDS[i]}" 2>/dev/null || true
    fi
  done
  wait "${SY_PIDS[@]}" 2>/dev/null || true
  SY_PIDS=()
  SY_PNAMES=()
}

sy_trap_cleanup() {
  trap 'rc=$?; trap - EXIT INT TERM; sy_stop_all; exit $rc' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# sy_check_alive LOGDIR: fails (with the log tail) if a started process died.
sy_check_alive() {
  local i
  for i in "${!SY_PIDS[@]}"; do
    if ! kill -0 "${SY_PIDS[i]}" 2>/dev/null; then
      sy_die_with_log "${SY_PNAMES[i]} exited unexpectedly" "$1/${SY_PNAMES[i]}.log"
    fi
  done
}

# sy_die_with_log MSG LOG: logs MSG and the last lines of LOG, exits 1.
sy_die_with_log() {
  sy_log "error: $1; last lines of $2:"
  tail -n 30 "$2" >&2 || true
  exit 1
}
