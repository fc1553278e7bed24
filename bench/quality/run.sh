#!/usr/bin/env bash
# Routing-quality benchmark: does switchyard route better than random?
#
#   qgen (open-loop, streaming) --> Envoy --ext_proc--> switchyard (policy P)
#                                     +--> one of SIMS switchyard-sim model servers
#                                          on 127.0.0.101, .102, ...
#
# For every workload (shared-prefix, random, lora) it first measures the
# fleet's throughput ceiling under the random policy (closed loop), then
# runs every policy at RATE_FRACTION of that ceiling, open loop. The model
# servers and switchyard are restarted before every run (cold caches, fresh
# in-flight counts); Envoy stays up. Results: $OUT/results.jsonl (one JSON
# line per run, from bench/quality/qgen.c) and, unless WRITE_DOC=0,
# docs/bench/routing-quality.md (bench/quality/qreport.c).
#
#   bench/quality/run.sh                 the whole benchmark (~10 min on 2 cores)
#   QUICK=1 bench/quality/run.sh         10 s runs, a smoke check of the harness
#
# Policies are data: bench/quality/policies/<name>.yaml is an
# EndpointPickerConfig passed with --config-file. A "# sy-quality: no-config"
# line means "run switchyard without a config" (its built-in default). When
# the binary has no --config-file flag yet, a "# sy-quality-legacy: FLAGS"
# line gives the old flags to use instead; policies without one are skipped.
#
# Knobs (environment; defaults in brackets):
#   POLICIES ["random active-request queue-only default"]  WORKLOADS ["shared-prefix random lora"]
#   POLICIES_<WORKLOAD> overrides POLICIES for one workload (POLICIES_random adds queue-kv by default)
#   SIMS [8]  DURATION [30]  WARMUP [5]  RATE_FRACTION [0.75]  PROBE_DURATION [8]
#   RATE_<WORKLOAD> fixes a workload's rate and skips its probe (RATE_shared_prefix=20, ...)
#   MAX_TOKENS [16]  PREFIX_GROUPS [32]  SYSTEM_TOKENS [2000]  QUESTION_TOKENS [100]  SEED [1]
#   LORA_ADAPTERS [8]  LORA_GROUPS [24]  LORA_SYSTEM_TOKENS [1500]  MAX_LORAS [2]  LORA_LOAD_MS [50]
#   Model-server model: MAX_NUM_SEQS [8]  ITL_MS [5]  KV_BLOCKS [1024]  BLOCK_SIZE [16]
#     PREFILL_MS_PER_TOKEN [0.1]  PREFILL_OVERHEAD_MS [5]  (used when the sim has the flags;
#     otherwise a fixed --ttft-ms TTFT_MS [uncached prefill of the mean prompt])
#   SIM_EXTRA_FLAGS / SIM_LORA_FLAGS: more sim flags (each kept only if the sim knows it)
#   SWITCHYARD_EXTRA_ARGS: more switchyard flags for every run (e.g. --refresh-metrics-interval=10ms)
#   BUILD_DIR [build]  SKIP_BUILD [0]  SWITCHYARD_BIN / SIM_BIN (other binaries; imply SKIP_BUILD)
#   OUT [out/bench-quality]  WRITE_DOC [1]  DOC [docs/bench/routing-quality.md]
#   BUILD_NOTE: free text for the page, saying where SWITCHYARD_BIN/SIM_BIN were built from
#   WAIT_IDLE [0]: 1 waits (up to 15 min) for a 1-minute load average below 1.0 first
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/../../hack/lib.sh"
SY_LOG_TAG=bench-quality
HERE="$SY_ROOT/bench/quality"

QUICK="${QUICK:-0}"
POLICIES="${POLICIES:-random active-request queue-only default}"
# On unique prompts the prefix scorer is idle, so default = queue + kv-cache
# scorers; queue-kv (that pair alone) shows which part of default acts.
POLICIES_random="${POLICIES_random:-${POLICIES/queue-only/queue-only queue-kv}}"
WORKLOADS="${WORKLOADS:-shared-prefix random lora}"
SIMS="${SIMS:-8}"
if [ "$QUICK" = 1 ]; then DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-3}"; PROBE_DURATION="${PROBE_DURATION:-5}"; fi
DURATION="${DURATION:-30}"
WARMUP="${WARMUP:-5}"
PROBE_DURATION="${PROBE_DURATION:-8}"
RATE_FRACTION="${RATE_FRACTION:-0.75}"
MAX_TOKENS="${MAX_TOKENS:-16}"
PREFIX_GROUPS="${PREFIX_GROUPS:-32}"
SYSTEM_TOKENS="${SYSTEM_TOKENS:-2000}"
QUESTION_TOKENS="${QUESTION_TOKENS:-100}"
SEED="${SEED:-1}"
LORA_ADAPTERS="${LORA_ADAPTERS:-8}"
LORA_GROUPS="${LORA_GROUPS:-24}"
LORA_LOAD_MS="${LORA_LOAD_MS:-50}"
LORA_SYSTEM_TOKENS="${LORA_SYSTEM_TOKENS:-1500}"
MAX_LORAS="${MAX_LORAS:-2}"
MAX_NUM_SEQS="${MAX_NUM_SEQS:-8}"
ITL_MS="${ITL_MS:-5}"
KV_BLOCKS="${KV_BLOCKS:-1024}"
BLOCK_SIZE="${BLOCK_SIZE:-16}"
PREFILL_MS_PER_TOKEN="${PREFILL_MS_PER_TOKEN:-0.1}"
PREFILL_OVERHEAD_MS="${PREFILL_OVERHEAD_MS:-5}"
SIM_EXTRA_FLAGS="${SIM_EXTRA_FLAGS:-}"
SIM_LORA_FLAGS="${SIM_LORA_FLAGS:-}"
# shellcheck disable=SC2206
SY_EXTRA=(${SWITCHYARD_EXTRA_ARGS:-})
BUILD_DIR="${BUILD_DIR:-$SY_ROOT/build}"
SKIP_BUILD="${SKIP_BUILD:-0}"
OUT="${OUT:-$SY_ROOT/out/bench-quality}"
WRITE_DOC="${WRITE_DOC:-1}"
DOC="${DOC:-$SY_ROOT/docs/bench/routing-quality.md}"
MODEL=bench-model
POOL=bench-pool
COMMAND_LINE="$(env | { grep -E '^(QUICK|POLICIES[A-Za-z_]*|WORKLOADS|SIMS|DURATION|WARMUP|PROBE_DURATION|RATE_[A-Za-z_]+|MAX_TOKENS|PREFIX_GROUPS|SYSTEM_TOKENS|QUESTION_TOKENS|SEED|LORA_[A-Z_]+|MAX_LORAS|MAX_NUM_SEQS|ITL_MS|KV_BLOCKS|BLOCK_SIZE|PREFILL_[A-Z_]+|TTFT_MS|SIM_[A-Z_]+_FLAGS|SIM_EXTRA_FLAGS|SWITCHYARD_BIN|SIM_BIN|RATE_FRACTION|SWITCHYARD_EXTRA_ARGS)='  || true; } | sort | tr '\n' ' ')bench/quality/run.sh"
# WAIT_IDLE=1: the benchmark measures timing on a shared machine; wait (up
# to 15 min) until the 1-minute load average is below 1.0 before starting.
if [ "${WAIT_IDLE:-0}" = 1 ]; then
  for ((i = 0; i < 90; i++)); do
    awk '{ exit !($1 < 1.0) }' /proc/loadavg && break
    [ "$i" = 0 ] && sy_log "waiting for the machine to be idle (load $(cut -d' ' -f1-3 /proc/loadavg))"
    sleep 10
  done
fi
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
COMMIT_START="$(git -C "$SY_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[ -z "$(git -C "$SY_ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] \
  || COMMIT_START="$COMMIT_START (+ uncommitted changes)"
T_START="$(date +%s)"

# ------------------------------------------------------------------ build
ENVOY="$("$SY_ROOT/hack/envoy.sh")"
[ -z "${SWITCHYARD_BIN:-}${SIM_BIN:-}" ] || SKIP_BUILD=1
if [ "$SKIP_BUILD" != 1 ]; then
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S "$SY_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  sy_log "building switchyard and switchyard-sim in $BUILD_DIR"
  cmake --build "$BUILD_DIR" -j "$(sy_jobs)" --target switchyard switchyard-sim >/dev/null
fi
SWITCHYARD="${SWITCHYARD_BIN:-$BUILD_DIR/cmd/switchyard/switchyard}"
SIM="${SIM_BIN:-$BUILD_DIR/cmd/switchyard-sim/switchyard-sim}"
[ -x "$SWITCHYARD" ] && [ -x "$SIM" ] || sy_die "no $SWITCHYARD or $SIM (build failed?)"
rm -rf "$OUT/runs" "$OUT/manifests"
rm -f "$OUT"/*.log "$OUT/results.jsonl" "$OUT/probes.jsonl"
mkdir -p "$OUT/runs" "$OUT/manifests"
QGEN="$OUT/qgen"
cc -O2 -std=gnu11 -Wall -Wextra -o "$QGEN" "$HERE/qgen.c" -lcurl -lcjson -lm \
  || sy_die "building qgen failed (needs libcurl and libcjson headers)"
QREPORT="$OUT/qreport"
cc -O2 -std=gnu11 -Wall -Wextra -o "$QREPORT" "$HERE/qreport.c" -lcjson -lm \
  || sy_die "building qreport failed (needs libcjson headers)"

# ------------------------------------------------------------------ features
SIM_HELP="$("$SIM" --help 2>&1 || true)"
SY_HELP="$("$SWITCHYARD" --help 2>&1 || true)"
sim_has() { grep -q -- "$1\b" <<<"$SIM_HELP"; }
HAS_CONFIG=0
grep -q -- '--config-file' <<<"$SY_HELP" && HAS_CONFIG=1
SKIPPED_FLAGS=()
# sim_opt_flags OUTVAR FLAG=VALUE...: appends to the array OUTVAR the flags the sim knows.
sim_opt_flags() {
  local -n out="$1"; shift
  local f
  for f in "$@"; do
    if sim_has "${f%%=*}"; then out+=("$f"); else SKIPPED_FLAGS+=("$f"); fi
  done
}

# Mean prompt of the shared-prefix workload, in tokens (4 chars each).
MEAN_PROMPT_TOKENS=$((SYSTEM_TOKENS + QUESTION_TOKENS + 10))
SIM_BASE=(--model "$MODEL" --max-num-seqs "$MAX_NUM_SEQS" --max-queue 100000 --itl-ms "$ITL_MS"
          --kv-blocks "$KV_BLOCKS" --block-size "$BLOCK_SIZE")
if sim_has --prefill-ms-per-token; then
  SIM_LATENCY_MODEL="per-token prefill of uncached tokens"
  # TTFT is the prefill model alone (the sim's --ttft-ms is only a floor).
  sim_opt_flags SIM_BASE "--prefill-ms-per-token=$PREFILL_MS_PER_TOKEN" "--prefill-overhead-ms=$PREFILL_OVERHEAD_MS" \
    "--ttft-ms=${TTFT_MS:-0}" --serial-prefill=true --prefix-caching=true
else
  # Without a prefill model the sim's fixed TTFT stands for an uncached prefill.
  TTFT_MS="${TTFT_MS:-$(awk -v o="$PREFILL_OVERHEAD_MS" -v p="$PREFILL_MS_PER_TOKEN" -v n="$MEAN_PROMPT_TOKENS" \
    'BEGIN { printf("%.0f", o + p * n) }')}"
  SIM_LATENCY_MODEL="fixed TTFT $TTFT_MS ms (this sim has no --prefill-ms-per-token: prefix caching cannot change latency)"
  SIM_BASE+=(--ttft-ms "$TTFT_MS")
  SKIPPED_FLAGS+=("--prefill-ms-per-token=$PREFILL_MS_PER_TOKEN" "--prefill-overhead-ms=$PREFILL_OVERHEAD_MS")
fi
# shellcheck disable=SC2206
EXTRA=($SIM_EXTRA_FLAGS)
[ "${#EXTRA[@]}" -eq 0 ] || sim_opt_flags SIM_BASE "${EXTRA[@]}"
ADAPTERS=()
for ((i = 0; i < LORA_ADAPTERS; i++)); do ADAPTERS+=("adapter-$i"); done
ADAPTER_LIST="$(IFS=,; echo "${ADAPTERS[*]}")"
SIM_LORA=(--lora "$ADAPTER_LIST")
sim_opt_flags SIM_LORA "--max-loras=$MAX_LORAS" "--lora-load-ms=$LORA_LOAD_MS"
# shellcheck disable=SC2206
EXTRA=($SIM_LORA_FLAGS)
[ "${#EXTRA[@]}" -eq 0 ] || sim_opt_flags SIM_LORA "${EXTRA[@]}"

sy_log "switchyard --config-file: $([ "$HAS_CONFIG" = 1 ] && echo yes || echo 'NO (legacy --picker flags)')"
sy_log "sim latency model: $SIM_LATENCY_MODEL"
[ "${#SKIPPED_FLAGS[@]}" -eq 0 ] || sy_log "sim flags this sim does not know (skipped): ${SKIPPED_FLAGS[*]}"

# ------------------------------------------------------------------ processes
# Envoy runs for the whole benchmark (sy_bg); simulators and switchyard are
# per run (run_bg / run_stop).
RUN_PIDS=()
RUN_NAMES=()
run_bg() {
  local name="$1" log="$2"; shift 2
  "$@" >"$log" 2>&1 </dev/null &
  RUN_PIDS+=("$!")
  RUN_NAMES+=("$name")
}
run_stop() {
  local p i alive
  [ "${#RUN_PIDS[@]}" -gt 0 ] || return 0
  for p in "${RUN_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    alive=0
    for p in "${RUN_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${RUN_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait "${RUN_PIDS[@]}" 2>/dev/null || true
  RUN_PIDS=()
  RUN_NAMES=()
}
run_check_alive() {
  local i
  for i in "${!RUN_PIDS[@]}"; do
    kill -0 "${RUN_PIDS[i]}" 2>/dev/null \
      || sy_die_with_log "${RUN_NAMES[i]} exited unexpectedly" "$RUN_LOGDIR/${RUN_NAMES[i]}.log"
  done
}
trap 'rc=$?; trap - EXIT INT TERM; run_stop; sy_stop_all; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ manifests, Envoy
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
  printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: sim-%d\n  namespace: default\n  labels:\n    app: %s\nstatus:\n  podIP: %s\n  conditions:\n  - type: Ready\n    status: "True"\n' \
    "$i" "$POOL" "${SIM_IPS[i]}" >>"$OUT/manifests/pods.yaml"
done

EPP_PORT="$(sy_free_port)"
HEALTH_PORT="$(sy_free_port)"
ADMIN_PORT="$(sy_free_port)"
LISTEN_PORT="$(sy_free_port)"
LISTEN_ADDR=127.0.0.1
EPP_TLS=0
sy_render_template "$SY_ROOT/examples/envoy/standalone.yaml" "$OUT/envoy.yaml" \
  ADMIN_PORT LISTEN_ADDR LISTEN_PORT EPP_PORT EPP_TLS
sy_bg envoy "$OUT/envoy.log" "$ENVOY" -c "$OUT/envoy.yaml" --concurrency 1 \
  --disable-hot-restart --log-level warn
sy_wait_http "http://127.0.0.1:$ADMIN_PORT/ready" 30 "${SY_PIDS[-1]}" \
  || sy_die_with_log "Envoy did not become ready" "$OUT/envoy.log"
URL="http://127.0.0.1:$LISTEN_PORT"

# ------------------------------------------------------------------ one fleet
# policy_args NAME: sets POLICY_ARGS and POLICY_MODE; fails if the policy
# cannot run with this binary.
policy_args() {
  local file="$HERE/policies/$1.yaml" legacy
  [ -f "$file" ] || sy_die "no policy file $file"
  POLICY_ARGS=()
  if grep -q '^# sy-quality: no-config' "$file"; then
    POLICY_MODE="built-in default"
    [ "$HAS_CONFIG" = 1 ] || POLICY_MODE="built-in default (pre-config-file binary)"
  elif [ "$HAS_CONFIG" = 1 ]; then
    POLICY_ARGS=(--config-file "$file")
    POLICY_MODE="--config-file policies/$1.yaml"
  else
    legacy="$(sed -n 's/^# sy-quality-legacy: \(--.*\)$/\1/p' "$file" | head -n1)"
    [ -n "$legacy" ] || return 1
    # shellcheck disable=SC2206
    POLICY_ARGS=($legacy)
    POLICY_MODE="legacy $legacy"
  fi
}

# start_switchyard: starts switchyard with POLICY_ARGS; fails if it exits
# before listening (the failed process is forgotten).
start_switchyard() {
  SY_ARGS_USED="--secure-serving=false --manifests <dir> --pool-name $POOL ${POLICY_ARGS[*]/#$HERE\//} ${SY_EXTRA[*]}"
  run_bg switchyard "$RUN_LOGDIR/switchyard.log" "$SWITCHYARD" --listen-address 127.0.0.1 \
    --grpc-port "$EPP_PORT" --grpc-health-port "$HEALTH_PORT" --secure-serving=false \
    --manifests "$OUT/manifests" --pool-name "$POOL" --pool-namespace default --v 1 "${POLICY_ARGS[@]}" \
    "${SY_EXTRA[@]}"
  if ! sy_wait_tcp 127.0.0.1 "$EPP_PORT" 15 "${RUN_PIDS[-1]}"; then
    kill -KILL "${RUN_PIDS[-1]}" 2>/dev/null || true
    wait "${RUN_PIDS[-1]}" 2>/dev/null || true
    unset 'RUN_PIDS[-1]' 'RUN_NAMES[-1]'
    return 1
  fi
}

# fleet_up WORKLOAD POLICY LOGDIR: fresh simulators + switchyard, ready to serve.
fleet_up() {
  local wl="$1" policy="$2" i code ok=0 ping_model="$MODEL"
  RUN_LOGDIR="$3"
  mkdir -p "$RUN_LOGDIR"
  local sim_args=("${SIM_BASE[@]}")
  [ "$wl" = lora ] && sim_args+=("${SIM_LORA[@]}")
  SIM_ARGS_USED="${sim_args[*]}"
  for i in "${!SIM_IPS[@]}"; do
    run_bg "sim-$i" "$RUN_LOGDIR/sim-$i.log" "$SIM" --listen "${SIM_IPS[i]}:$SIM_PORT" \
      --instance-id "sim-$i" --seed "$((i + 1))" -v 1 "${sim_args[@]}"
  done
  for i in "${!SIM_IPS[@]}"; do
    sy_wait_http "http://${SIM_IPS[i]}:$SIM_PORT/health" 15 "${RUN_PIDS[i]}" \
      || sy_die_with_log "simulator sim-$i did not come up" "$RUN_LOGDIR/sim-$i.log"
  done
  policy_args "$policy" || sy_die "policy $policy cannot run with this binary"
  if ! start_switchyard; then
    # A binary whose --config-file does not know the policy's plugins yet:
    # fall back to the policy's legacy flags, and say so in the results.
    local legacy why
    legacy="$(sed -n 's/^# sy-quality-legacy: \(--.*\)$/\1/p' "$HERE/policies/$policy.yaml" | head -n1)"
    why="$(grep -m1 -o 'unknown plugin type "[^"]*"' "$RUN_LOGDIR/switchyard.log" || true)"
    [ -n "$legacy" ] && [ -n "$why" ] || sy_die_with_log "switchyard did not start" "$RUN_LOGDIR/switchyard.log"
    sy_log "$policy: config rejected ($why); using the legacy flags $legacy"
    mv "$RUN_LOGDIR/switchyard.log" "$RUN_LOGDIR/switchyard-config-rejected.log"
    # shellcheck disable=SC2206
    POLICY_ARGS=($legacy)
    POLICY_MODE="legacy $legacy (config: $why)"
    start_switchyard || sy_die_with_log "switchyard did not start" "$RUN_LOGDIR/switchyard.log"
  fi
  # Through Envoy: a tiny request (one token, its own prompt) until it works.
  for ((i = 0; i < 100; i++)); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'content-type: application/json' \
      -d "{\"model\":\"$ping_model\",\"prompt\":\"ping\",\"max_tokens\":1}" "$URL/v1/completions" || true)"
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.1
  done
  [ "$ok" = 1 ] || sy_die_with_log "requests through Envoy fail (last status $code)" "$RUN_LOGDIR/switchyard.log"
}

# sim_metrics FILE: sums the simulators' prefix-cache counters (if they have them).
sim_metrics() {
  local i hits=0 queries=0 h q m
  for i in "${!SIM_IPS[@]}"; do
    m="$(curl -s --max-time 2 "http://${SIM_IPS[i]}:$SIM_PORT/metrics" || true)"
    h="$(awk '/^vllm:prefix_cache_hits_total[{ ]/ { s += $NF } END { printf("%.0f", s) }' <<<"$m")"
    q="$(awk '/^vllm:prefix_cache_queries_total[{ ]/ { s += $NF; n++ } END { if (n) printf("%.0f", s); else print "-" }' <<<"$m")"
    [ "$q" = - ] && { queries=-; break; }
    hits=$((hits + h))
    queries=$((queries + q))
  done
  printf '{"server_prefix_hits":%s,"server_prefix_queries":%s}\n' \
    "$([ "$queries" = - ] && echo null || echo "$hits")" "$([ "$queries" = - ] && echo null || echo "$queries")" >"$1"
}

# qgen_args WORKLOAD: the workload's generator flags.
qgen_args() {
  case "$1" in
    shared-prefix) QGEN_ARGS=(--workload shared-prefix --model "$MODEL" --groups "$PREFIX_GROUPS"
                              --system-tokens "$SYSTEM_TOKENS" --question-tokens "$QUESTION_TOKENS") ;;
    random) QGEN_ARGS=(--workload random --model "$MODEL" --system-tokens "$SYSTEM_TOKENS"
                       --question-tokens "$QUESTION_TOKENS") ;;
    lora) QGEN_ARGS=(--workload lora --models "$ADAPTER_LIST" --groups "$LORA_GROUPS"
                     --system-tokens "$LORA_SYSTEM_TOKENS" --question-tokens "$QUESTION_TOKENS") ;;
    *) sy_die "unknown workload $1" ;;
  esac
  QGEN_ARGS+=(--max-tokens "$MAX_TOKENS" --seed "$SEED" --timeout 60)
}

# ------------------------------------------------------------------ the runs
for wl in $WORKLOADS; do
  qgen_args "$wl"
  var="RATE_${wl//-/_}"
  rate="${!var:-}"
  if [ -z "$rate" ]; then
    probe_policy=random
    policy_args random || sy_die "the random policy is needed to find the capacity"
    conc=$((SIMS * MAX_NUM_SEQS * 2))
    sy_log "$wl: capacity probe, random policy, closed loop with $conc clients for ${PROBE_DURATION}s"
    fleet_up "$wl" "$probe_policy" "$OUT/runs/$wl.probe"
    "$QGEN" --url "$URL" "${QGEN_ARGS[@]}" --concurrency "$conc" --duration "$PROBE_DURATION" --warmup 2 \
      --label "probe:$wl" --json-out "$OUT/probes.jsonl" >"$OUT/runs/$wl.probe.txt" \
      || sy_die_with_log "qgen failed" "$OUT/runs/$wl.probe.txt"
    run_check_alive
    run_stop
    ceiling="$("$QREPORT" --field "$OUT/probes.jsonl" throughput_rps)" || sy_die "no throughput in $OUT/probes.jsonl"
    rate="$(awk -v c="$ceiling" -v f="$RATE_FRACTION" 'BEGIN { printf("%.1f", c * f) }')"
    sy_log "$wl: random's ceiling $ceiling req/s; running at $rate req/s ($RATE_FRACTION of it)"
  fi
  pvar="POLICIES_${wl//-/_}"
  for policy in ${!pvar:-$POLICIES}; do
    if ! policy_args "$policy"; then
      sy_log "$wl/$policy: SKIPPED (needs --config-file, which this switchyard lacks)"
      printf '{"label":"%s","workload":"%s","skipped":"needs --config-file"}\n' "$policy" "$wl" >>"$OUT/results.jsonl"
      continue
    fi
    tag="$wl.$policy"
    sy_log "$wl/$policy: $rate req/s for ${DURATION}s (+${WARMUP}s warm-up), $POLICY_MODE"
    fleet_up "$wl" "$policy" "$OUT/runs/$tag"
    "$QGEN" --url "$URL" "${QGEN_ARGS[@]}" --rate "$rate" --duration "$DURATION" --warmup "$WARMUP" \
      --label "$policy" --json-out "$OUT/runs/$tag.json" --dump "$OUT/runs/$tag.csv" | tee "$OUT/runs/$tag.txt" \
      | sed -n '1,12p' | grep -v '^{' >&2 || sy_die "qgen failed for $tag"
    run_check_alive
    sim_metrics "$OUT/runs/$tag.server.json"
    run_stop
    "$QREPORT" --merge "$OUT/runs/$tag.json" "$OUT/runs/$tag.server.json" "$POLICY_MODE" "$SIM_ARGS_USED" \
      "$SY_ARGS_USED" >>"$OUT/results.jsonl" || sy_die "merging the results of $tag failed"
  done
done

ELAPSED=$(($(date +%s) - T_START))
sy_log "all runs done in ${ELAPSED}s; results in ${OUT#"$SY_ROOT"/}/results.jsonl"
if [ "$WRITE_DOC" = 1 ]; then
  mkdir -p "$(dirname "$DOC")"
  "$QREPORT" --results "$OUT/results.jsonl" --probes "$OUT/probes.jsonl" --out "$DOC" \
    --command "$COMMAND_LINE" --elapsed "$ELAPSED" --has-config "$HAS_CONFIG" \
    --sim-latency-model "$SIM_LATENCY_MODEL" --skipped-flags "${SKIPPED_FLAGS[*]:-}" \
    --switchyard "$SWITCHYARD" --envoy "$ENVOY" \
    --load "$LOAD_START -> $(cut -d' ' -f1-3 /proc/loadavg)" --build-note "${BUILD_NOTE:-}" \
    --commit "$COMMIT_START" --switchyard-extra "${SWITCHYARD_EXTRA_ARGS:-}"
  sy_log "wrote ${DOC#"$SY_ROOT"/}"
fi
