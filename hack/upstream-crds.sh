#!/usr/bin/env bash
# Locates pinned upstream CRDs (and GAIE's Helm charts) in the Go module
# cache, downloading the module zips through the Go proxy when missing (`go
# mod download` checks them against the checksum database). Nothing is
# copied into the repository: the printed directories are in the read-only
# module cache, which is fine for `kubectl apply -f DIR` and for the tests.
#
#   hack/upstream-crds.sh            prints one NAME=DIR line per directory:
#     SY_UPSTREAM_GAIE_CRDS          GAIE vGAIE_VERSION config/crd/bases
#                                    (InferencePool v1, InferencePoolImport,
#                                    and the inference.networking.x-k8s.io
#                                    v1alpha2 InferenceObjective and
#                                    InferenceModelRewrite)
#     SY_UPSTREAM_GAIE_CHARTS        GAIE vGAIE_VERSION config/charts
#                                    (inferencepool, standalone, epplib, ...)
#     SY_UPSTREAM_GAIE_LATEST_CRDS   GAIE vGAIE_LATEST_VERSION config/crd/bases
#                                    (InferencePool v1 as at HEAD, where
#                                    endpointPickerRef is optional, and
#                                    InferencePoolImport; nothing else)
#     SY_UPSTREAM_GATEWAY_CRDS       Gateway API config/crd/standard
#     SY_UPSTREAM_GATEWAY_EXP_CRDS   Gateway API config/crd/experimental
#   hack/upstream-crds.sh --export   the same as `export NAME=DIR` lines, for
#                                    eval "$(hack/upstream-crds.sh --export)"
#   hack/upstream-crds.sh NAME       just that directory
#
# Versions: GAIE_VERSION (default 1.5.0, the last release that ships the
# objective and rewrite CRDs and the charts; 1.6 moved them to llm-d-router),
# GAIE_LATEST_VERSION (default 1.6.0, the newest release the proxy serves)
# and GATEWAY_API_VERSION (default 1.4.1, the newest 1.4.x on the proxy;
# from 1.5 the standard dir also holds a ValidatingAdmissionPolicy that
# refuses older CRD bundles). Only the Go module proxy is contacted.
set -euo pipefail

GAIE_VERSION="${GAIE_VERSION:-1.5.0}"
GAIE_LATEST_VERSION="${GAIE_LATEST_VERSION:-1.6.0}"
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-1.4.1}"
log() { echo "upstream-crds.sh: $*" >&2; }

command -v go >/dev/null || { log "go not found"; exit 1; }
export GOTOOLCHAIN=local
cd / # outside any module: `go mod download MOD@VER` then needs no go.mod

# moddir MOD VERSION: the module's directory in the module cache.
moddir() {
  local out d
  if ! out="$(go mod download -json "$1@v$2")"; then
    log "go mod download $1@v$2 failed:"
    echo "$out" >&2
    return 1
  fi
  d="$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  if [ -z "$d" ] || [ ! -d "$d" ]; then
    log "no module directory for $1@v$2:"
    echo "$out" >&2
    return 1
  fi
  echo "$d"
}

# need DIR FILE...: every FILE exists in DIR (the zip may change layout).
need() {
  local d="$1" f; shift
  for f in "$@"; do
    [ -f "$d/$f" ] || { log "missing $d/$f"; return 1; }
  done
}

gaie="$(moddir sigs.k8s.io/gateway-api-inference-extension "$GAIE_VERSION")"
latest="$(moddir sigs.k8s.io/gateway-api-inference-extension "$GAIE_LATEST_VERSION")"
gw="$(moddir sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION")"

names=(SY_UPSTREAM_GAIE_CRDS SY_UPSTREAM_GAIE_CHARTS SY_UPSTREAM_GAIE_LATEST_CRDS
  SY_UPSTREAM_GATEWAY_CRDS SY_UPSTREAM_GATEWAY_EXP_CRDS)
dirs=("$gaie/config/crd/bases" "$gaie/config/charts" "$latest/config/crd/bases"
  "$gw/config/crd/standard" "$gw/config/crd/experimental")

need "${dirs[0]}" inference.networking.k8s.io_inferencepools.yaml
if [ "${GAIE_VERSION%%.*}" = 1 ] && [ "$(echo "$GAIE_VERSION" | cut -d. -f2)" -lt 6 ]; then
  need "${dirs[0]}" inference.networking.x-k8s.io_inferenceobjectives.yaml \
    inference.networking.x-k8s.io_inferencemodelrewrites.yaml
  need "${dirs[1]}" inferencepool/Chart.yaml standalone/Chart.yaml epplib/Chart.yaml
fi
need "${dirs[2]}" inference.networking.k8s.io_inferencepools.yaml
need "${dirs[3]}" gateway.networking.k8s.io_gatewayclasses.yaml \
  gateway.networking.k8s.io_gateways.yaml gateway.networking.k8s.io_httproutes.yaml
[ -d "${dirs[4]}" ] || { log "missing ${dirs[4]}"; exit 1; }

case "${1:-}" in
  "")
    for i in "${!names[@]}"; do echo "${names[$i]}=${dirs[$i]}"; done ;;
  --export)
    for i in "${!names[@]}"; do echo "export ${names[$i]}=${dirs[$i]}"; done ;;
  *)
    for i in "${!names[@]}"; do
      if [ "${names[$i]}" = "$1" ]; then echo "${dirs[$i]}"; exit 0; fi
    done
    log "unknown name $1 (want one of: ${names[*]})"
    exit 2 ;;
esac
