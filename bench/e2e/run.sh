#!/usr/bin/env bash
# End-to-end load run: closed-loop clients -> real Envoy -> ext_proc ->
# switchyard -> N switchyard-sim model servers, all on loopback. Reports
# throughput, latency percentiles, the spread over model servers, and the
# CPU time switchyard and Envoy spent per request.
#
#   bench/e2e/run.sh
# Knobs (environment): CONCURRENCY (64), DURATION seconds (10), WARMUP (2),
# SIMS (3), TTFT_MS (1), ITL_MS (1), MAX_TOKENS (4), EPP_TLS (1),
# PICKER (switchyard's default), BUILD_DIR (build).
# Output: out/bench-e2e/ (logs, rendered Envoy config, result.txt).
# The simulators are fast on purpose, so the numbers show the routing path's
# cost; the 2-core CI box runs clients, Envoy, switchyard and simulators at
# once, so treat absolute numbers as relative.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/../../hack/lib.sh"
SY_LOG_TAG=bench-e2e

CONCURRENCY="${CONCURRENCY:-64}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
SIMS="${SIMS:-3}"
TTFT_MS="${TTFT_MS:-1}"
ITL_MS="${ITL_MS:-1}"
MAX_TOKENS="${MAX_TOKENS:-4}"
EPP_TLS="${EPP_TLS:-1}"
BUILD_DIR="${BUILD_DIR:-$SY_ROOT/build}"
OUT="$SY_ROOT/out/bench-e2e"
MODEL=bench-model
POOL=bench-pool

ENVOY="$("$SY_ROOT/hack/envoy.sh")"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S "$SY_ROOT" -B "$BUILD_DIR" -G Ninja >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$(sy_jobs)" --target switchyard switchyard-sim >/dev/null
SWITCHYARD="$BUILD_DIR/cmd/switchyard/switchyard"
SIM="$BUILD_DIR/cmd/switchyard-sim/switchyard-sim"
mkdir -p "$OUT/manifests"
rm -f "$OUT"/*.log "$OUT"/manifests/*
LOADGEN="$OUT/loadgen"
cc -O2 -std=gnu11 -Wall -Wextra -o "$LOADGEN" "$SY_ROOT/bench/e2e/loadgen.c" -lcurl

sy_trap_cleanup

# ------------------------------------------------------------------ model servers + manifests
SIM_IPS=()
for ((i = 0; i < SIMS; i++)); do SIM_IPS+=("127.0.0.$((101 + i))"); done
SIM_PORT="$(sy_free_port "${SIM_IPS[0]}")"
{
  printf 'apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n'
  printf 'metadata:\n  name: %s\n  namespace: default\n' "$POOL"
  printf 'spec:\n  selector:\n    matchLabels:\n      app: %s\n' "$POOL"
  printf '  targetPorts:\n  - number: %s\n' "$SIM_PORT"
} >"$OUT/manifests/pool.yaml"
: >"$OUT/manifests/pods.yaml"
for i in "${!SIM_IPS[@]}"; do
  sy_bg "sim-$i" "$OUT/sim-$i.log" "$SIM" --listen "${SIM_IPS[i]}:$SIM_PORT" --model "$MODEL" \
    --ttft-ms "$TTFT_MS" --itl-ms "$ITL_MS" --max-num-seqs 1024 --max-queue 100000
  printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: sim-%d\n  namespace: default\n  labels:\n    app: %s\nstatus:\n  podIP: %s\n  conditions:\n  - type: Ready\n    status: "True"\n' \
    "$i" "$POOL" "${SIM_IPS[i]}" >>"$OUT/manifests/pods.yaml"
done
for i in "${!SIM_IPS[@]}"; do
  sy_wait_http "http://${SIM_IPS[i]}:$SIM_PORT/health" 15 "${SY_PIDS[i]}" \
    || sy_die_with_log "simulator ${SIM_IPS[i]}:$SIM_PORT did not come up" "$OUT/sim-$i.log"
done

# ------------------------------------------------------------------ switchyard + Envoy
EPP_PORT="$(sy_free_port)"
HEALTH_PORT="$(sy_free_port)"
SY_ARGS=(--listen-address 127.0.0.1 --grpc-port "$EPP_PORT" --grpc-health-port "$HEALTH_PORT"
         --manifests "$OUT/manifests" --pool-name "$POOL" --pool-namespace default -v 1)
[ "$EPP_TLS" = 1 ] || SY_ARGS+=(--secure-serving=false)
SY_ARGS+=(--metrics-port 0)
[ -z "${PICKER:-}" ] || SY_ARGS+=(--picker "$PICKER")
sy_bg switchyard "$OUT/switchyard.log" "$SWITCHYARD" "${SY_ARGS[@]}"
SY_PID="${SY_PIDS[-1]}"
sy_wait_tcp 127.0.0.1 "$EPP_PORT" 15 "$SY_PID" \
  || sy_die_with_log "switchyard did not start" "$OUT/switchyard.log"

ADMIN_PORT="$(sy_free_port)"
LISTEN_PORT="$(sy_free_port)"
LISTEN_ADDR=127.0.0.1
sy_render_template "$SY_ROOT/examples/envoy/standalone.yaml" "$OUT/envoy.yaml" \
  ADMIN_PORT LISTEN_ADDR LISTEN_PORT EPP_PORT EPP_TLS
sy_bg envoy "$OUT/envoy.log" "$ENVOY" -c "$OUT/envoy.yaml" --concurrency 1 \
  --disable-hot-restart --log-level warn
ENVOY_PID="${SY_PIDS[-1]}"
sy_wait_http "http://127.0.0.1:$ADMIN_PORT/ready" 30 "$ENVOY_PID" \
  || sy_die_with_log "Envoy did not become ready" "$OUT/envoy.log"

URL="http://127.0.0.1:$LISTEN_PORT/v1/completions"
printf '{"model":"%s","prompt":"Benchmark prompt: the quick brown fox jumps over the lazy dog.","max_tokens":%s}' \
  "$MODEL" "$MAX_TOKENS" >"$OUT/body.json"
for ((i = 0; i < 100; i++)); do
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'content-type: application/json' \
    --data-binary @"$OUT/body.json" "$URL" || true)"
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || sy_die_with_log "requests through Envoy fail (status $code)" "$OUT/switchyard.log"

# ------------------------------------------------------------------ load
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ="$(getconf CLK_TCK)"
sy_cpu0="$(cpu_ticks "$SY_PID")"
envoy_cpu0="$(cpu_ticks "$ENVOY_PID")"
sy_log "load: $CONCURRENCY clients for ${DURATION}s (+${WARMUP}s warm-up), $SIMS simulators, EPP TLS=$EPP_TLS"
set +e
"$LOADGEN" "$URL" "$OUT/body.json" "$CONCURRENCY" "$DURATION" "$WARMUP" | tee "$OUT/result.txt"
lg_rc=${PIPESTATUS[0]}
set -e
sy_cpu1="$(cpu_ticks "$SY_PID")"
envoy_cpu1="$(cpu_ticks "$ENVOY_PID")"
reqs="$(awk '/^requests/ { print $2 }' "$OUT/result.txt")"
awk -v s="$((sy_cpu1 - sy_cpu0))" -v e="$((envoy_cpu1 - envoy_cpu0))" -v hz="$HZ" -v n="${reqs:-0}" \
  -v d="$((DURATION + WARMUP))" 'BEGIN {
    # CPU is measured over warm-up + run; requests only over the run, so
    # scale the request count to the whole window.
    total = (n > 0) ? n * d / (d - '"$WARMUP"') : 0
    printf("cpu        switchyard %.2fs (%.0f us/request)  envoy %.2fs (%.0f us/request)\n",
           s / hz, total ? s / hz / total * 1e6 : 0, e / hz, total ? e / hz / total * 1e6 : 0)
  }' | tee -a "$OUT/result.txt"
sy_check_alive "$OUT"
sy_log "results in ${OUT#"$SY_ROOT"/}/result.txt"
exit "$lg_rc"
