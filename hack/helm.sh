#!/usr/bin/env bash
# Builds a pinned helm v3 from the Go module proxy, once, and caches it
# OUTSIDE the repository next to the kube tools; prints the binary's path.
#
#   hack/helm.sh          -> $SWITCHYARD_TOOLS_CACHE/helm-v3.19.0/helm
#
# helm.sh/helm/v3 has no replace directives, so a plain `go install
# MOD/cmd/helm@VER` works. What `go install` alone gets wrong is the default
# Kubernetes version: without the Makefile's ldflags,
# chartutil.k8sVersionMajor/Minor (the .Capabilities.KubeVersion of `helm
# template`, which never asks a server) and lint/rules.k8sVersion* stay at
# 1.20, so charts with `kubeVersion: ">=1.28"` fail to render. They are set
# here to HELM_K8S_VERSION (default 1.34, the client-go minor helm v3.19 is
# built against and the kube-apiserver of hack/kube-tools.sh), and `helm
# version` reports the real tag (and the commit when the proxy reports one;
# proxy.golang.org gives no VCS origin for helm, so it says "unknown").
#
# Idempotent and safe to interrupt: built to a temporary directory and renamed
# into place; a finished build is recognised by a stamp file holding the build
# settings, so changing HELM_VERSION or HELM_K8S_VERSION rebuilds.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-3.19.0}"
HELM_K8S_VERSION="${HELM_K8S_VERSION:-1.34}"
cache="${SWITCHYARD_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard}"
dir="$cache/helm-v$HELM_VERSION"
stamp="$dir/.complete"
want="helm v$HELM_VERSION k8s $HELM_K8S_VERSION"

if [ -f "$stamp" ] && [ -x "$dir/helm" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$dir/helm"
  exit 0
fi

command -v go >/dev/null || { echo "helm.sh: go not found" >&2; exit 1; }
log() { echo "helm.sh: $*" >&2; }
log "building helm v$HELM_VERSION for Kubernetes $HELM_K8S_VERSION (first run only; ~2 min)"
mkdir -p "$dir"
rm -f "$stamp"

export CGO_ENABLED=0
export GOTOOLCHAIN=local
# `go install pkg@version` runs outside any module: no -mod flag applies.
export GOFLAGS="-buildvcs=false"

mod="helm.sh/helm/v3"
# The tag's commit, for `helm version` (the Makefile takes it from git).
commit="$(go mod download -json "$mod@v$HELM_VERSION" |
  sed -n 's/^[[:space:]]*"Hash": "\([0-9a-f]*\)",\{0,1\}$/\1/p' | head -n1)"
major="${HELM_K8S_VERSION%%.*}" minor="${HELM_K8S_VERSION#*.}"

tmp="$dir/.tmp-bin"
rm -rf "$tmp"
GOBIN="$tmp" go install -trimpath -ldflags "-s -w \
  -X $mod/internal/version.version=v$HELM_VERSION \
  -X $mod/internal/version.gitCommit=${commit:-unknown} \
  -X $mod/internal/version.gitTreeState=clean \
  -X $mod/pkg/chartutil.k8sVersionMajor=$major \
  -X $mod/pkg/chartutil.k8sVersionMinor=$minor \
  -X $mod/pkg/lint/rules.k8sVersionMajor=$major \
  -X $mod/pkg/lint/rules.k8sVersionMinor=$minor" \
  "$mod/cmd/helm@v$HELM_VERSION" >&2
mv -f "$tmp/helm" "$dir/helm"
rm -rf "$tmp"
echo "$want" >"$stamp"
echo "$dir/helm"
