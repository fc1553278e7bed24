#!/usr/bin/env bash
# Runs the ext_proc benchmark matrix of docs/BENCHMARKS.md against a fresh
# switchyard serving a static pool of 8 ready pods from local manifests.
#
#   bench/run_extproc_bench.sh [BUILD_DIR] [what...]
#     what: closed open rss profile latency (default: closed open)
#     latency: SY_BENCH_RUNS (5) fresh-server runs at 1,000 streams/s; with
#     SY_BENCH_BASELINE=/path/to/other/switchyard each run is paired with
#     one of that binary (alternating), for an A/B on the same machine state;
#     each pair is preceded by the machine's loopback floor (loopback_floor:
#     a plain TCP round trip of the same shape, scheduler-placed and split
#     across the two vCPUs).
#
# Env: SY_BENCH_DIR (scratch, default /tmp/sy-bench), SY_BENCH_PORT (19002),
#      SY_BENCH_IDLE_PCT (wait until the CPUs are this % idle before each run,
#      default 90; the machine is shared), SY_BENCH_DURATION (10),
#      SY_BENCH_PICKER (least-request: the first picker the issue's targets
#      name; "default" runs the built-in default profile).
set -euo pipefail
BUILD="${1:-build}"
shift || true
WHAT="${*:-closed open}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SY="$ROOT/$BUILD/cmd/switchyard/switchyard"
BENCH="$ROOT/$BUILD/bench/extproc_bench"
DIR="${SY_BENCH_DIR:-/tmp/sy-bench}"
PORT="${SY_BENCH_PORT:-19002}"
IDLE_PCT="${SY_BENCH_IDLE_PCT:-90}"
DUR="${SY_BENCH_DURATION:-10}"
PICKER="${SY_BENCH_PICKER:-least-request}"
PICKER_ARGS=()
[ "$PICKER" = default ] || PICKER_ARGS=(--picker "$PICKER")
FLOOR="$ROOT/$BUILD/bench/loopback_floor"
[ -x "$SY" ] && [ -x "$BENCH" ] || { echo "build switchyard and extproc_bench in $BUILD first" >&2; exit 1; }

mkdir -p "$DIR/manifests"
cat >"$DIR/manifests/pool.yaml" <<'EOF'
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: bench-pool
  namespace: default
spec:
  selector:
    matchLabels:
      app: vllm
  targetPorts:
  - number: 8000
EOF
: >"$DIR/manifests/pods.yaml"
for i in 1 2 3 4 5 6 7 8; do
  cat >>"$DIR/manifests/pods.yaml" <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: vllm-$i
  namespace: default
  labels:
    app: vllm
status:
  podIP: 127.20.0.$i
  conditions:
  - type: Ready
    status: "True"
EOF
done

SPID=""
start_server() {
  "${SY_SERVER:-$SY}" --grpc-port "$PORT" --grpc-health-port "$((PORT + 1))" --secure-serving=false --metrics-port 0 \
    --manifests "$DIR/manifests" --pool-name bench-pool --grpc-workers 2 --v 1 ${PICKER_ARGS[@]+"${PICKER_ARGS[@]}"} \
    >"$DIR/switchyard.log" 2>&1 &
  SPID=$!
  sleep 1
}
stop_server() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null || true; SPID=""; }
trap stop_server EXIT

# Other work shares this machine: wait (up to 5 min) until the CPUs were at
# least SY_BENCH_IDLE_PCT % idle over the last 2 seconds.
cpu_idle_pct() {
  local a b
  a=($(head -1 /proc/stat)); sleep 2; b=($(head -1 /proc/stat))
  local tot=0 i
  for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
  echo $(( tot > 0 ? 100 * (b[4] - a[4]) / tot : 0 ))
}
wait_idle() {
  local tries=0 idle
  while idle=$(cpu_idle_pct) && [ "$idle" -lt "$IDLE_PCT" ] && [ $tries -lt 150 ]; do
    tries=$((tries + 1))
  done
  echo "# cpu idle before run: ${idle}% (loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
}

run() {
  wait_idle
  echo "\$ extproc_bench $*"
  "$BENCH" --target "127.0.0.1:$PORT" --server-pid "$SPID" "$@"
  echo
}

for w in $WHAT; do
  case "$w" in
    closed)
      start_server
      for c in 1 16 64 256; do
        run --concurrency "$c" --threads 1 --channels 1 --duration "$DUR" --warmup 2
        run --concurrency "$c" --threads 2 --channels 2 --duration "$DUR" --warmup 2
      done
      stop_server ;;
    open)
      start_server
      for r in 1000 5000; do
        run --rate "$r" --threads 1 --channels 1 --duration "$DUR" --warmup 2
      done
      stop_server ;;
    latency)
      echo "# picker: $PICKER"
      for i in $(seq 1 "${SY_BENCH_RUNS:-5}"); do
        if [ -x "$FLOOR" ]; then
          wait_idle
          "$FLOOR" --placement any
          "$FLOOR" --placement split
        fi
        for bin in ${SY_BENCH_BASELINE:+"$SY_BENCH_BASELINE"} "$SY"; do
          SY_SERVER="$bin" start_server
          echo "# server: $bin (run $i)"
          run --rate 1000 --threads 1 --channels 1 --duration "$DUR" --warmup 2 | grep -E "^#|^\\$|added|server pid"
          stop_server
        done
      done ;;
    rss)
      start_server
      run --concurrency 64 --threads 2 --channels 2 --streams 1000000 --report-every 10
      stop_server ;;
    profile)
      start_server
      wait_idle
      perf record -e cpu-clock -F 4000 -g -p "$SPID" -o "$DIR/perf.data" -- sleep 12 &
      PERF=$!
      sleep 0.5
      "$BENCH" --target "127.0.0.1:$PORT" --server-pid "$SPID" --concurrency 64 --threads 2 --channels 2 \
        --duration 10 --warmup 1
      wait "$PERF" || true
      perf report -i "$DIR/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep "%" | head -15
      perf report -i "$DIR/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
        | grep '%' | head -40
      perf report -i "$DIR/perf.data" --no-children --dsos switchyard --sort symbol --stdio -g none 2>/dev/null \
        | grep '%' | head -15
      perf report -i "$DIR/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep '%'
      stop_server ;;
    *) echo "unknown: $w" >&2; exit 2 ;;
  esac
done
