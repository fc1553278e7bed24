#!/usr/bin/env bash
# Kubernetes controller acceptance benchmark (issue 4; docs/BENCHMARKS.md,
# "Kubernetes controller"): builds switchyard and kube_bench, fetches the
# apiserver binaries (hack/kube-tools.sh, cached), waits for an idle machine
# and runs bench/kube/kube_bench once per requested run.
#
#   bench/kube/run.sh [BUILD_DIR] [-- kube_bench flags...]
#
# Env: SY_BENCH_RUNS (1), SY_BENCH_DIR (scratch + results, default
#      /tmp/sy-kube-bench), SY_BENCH_IDLE_PCT (wait until the CPUs are this %
#      idle before each run, default 90; the machine is shared).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-build-kbench}"
shift || true
[ "${1:-}" = "--" ] && shift
DIR="${SY_BENCH_DIR:-/tmp/sy-kube-bench}"
RUNS="${SY_BENCH_RUNS:-1}"
IDLE_PCT="${SY_BENCH_IDLE_PCT:-90}"
cd "$ROOT"

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DSY_WERROR=ON
fi
cmake --build "$BUILD" --target switchyard kube_bench -j2
SY_KUBE_TOOLS="$(hack/kube-tools.sh)"
export SY_KUBE_TOOLS

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

mkdir -p "$DIR"
for run in $(seq 1 "$RUNS"); do
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  {
    echo "# $(date -u +%FT%TZ) switchyard at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(
      git status --porcelain -- lib cmd 2>/dev/null | grep -q . && echo ' + uncommitted changes under lib/ or cmd/')"
    wait_idle
  } | tee "$DIR/run-$stamp.md"
  echo "\$ kube_bench --switchyard $BUILD/cmd/switchyard/switchyard --config-dir config $*" | tee -a "$DIR/run-$stamp.md"
  "$BUILD/bench/kube_bench" --switchyard "$BUILD/cmd/switchyard/switchyard" --config-dir config \
    --work-dir "$DIR/work-$stamp" "$@" 2>&1 | tee -a "$DIR/run-$stamp.md"
  echo "# result: $DIR/run-$stamp.md"
done
