#!/usr/bin/env bash
# Builds a pinned kube-apiserver, kubectl and etcd from the Go module proxy,
# once, and caches them OUTSIDE the repository (they are ~100 MB and take
# minutes to build); prints the directory holding bin/kube-apiserver,
# bin/kubectl and bin/etcd.
#
#   hack/kube-tools.sh          -> $SWITCHYARD_TOOLS_CACHE/kube-v1.34.4
#
# kube-apiserver cannot be `go install`ed: k8s.io/kubernetes maps its staging
# modules to ./staging with replace directives at v0.0.0. The standard fix is
# a throwaway main module that requires k8s.io/kubernetes and replaces each
# staging module with its published v0.X.Y. The staging list is derived from
# the kubernetes go.mod, not hard-coded. kubectl is built from the same
# module with the same version ldflags (reusing the compiled packages, so it
# takes a few minutes at most). etcd gets its own module so minimal version
# selection does not move either dependency set.
#
# Idempotent and safe to interrupt: binaries are built to a temporary name
# and renamed into place; a finished cache is recognised by a stamp file.
# A cache stamped before kubectl was added is completed, not rebuilt: any
# missing binary is built on its own.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
cache="${SWITCHYARD_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard}"
dir="$cache/kube-v$K8S_VERSION-etcd-v$ETCD_VERSION"
stamp="$dir/.complete"

if [ -f "$stamp" ] && [ -x "$dir/bin/kube-apiserver" ] && [ -x "$dir/bin/etcd" ] &&
  [ -x "$dir/bin/kubectl" ]; then
  echo "$dir"
  exit 0
fi

command -v go >/dev/null || { echo "kube-tools.sh: go not found" >&2; exit 1; }
mkdir -p "$dir/bin" "$dir/src"
# One builder at a time (parallel test runs share the cache); whoever waited
# finds the work done.
exec 9>"$dir/.lock"
flock 9
if [ -f "$stamp" ] && [ -x "$dir/bin/kube-apiserver" ] && [ -x "$dir/bin/etcd" ] &&
  [ -x "$dir/bin/kubectl" ]; then
  echo "$dir"
  exit 0
fi
log() { echo "kube-tools.sh: $*" >&2; }

# Go builds of this size peak at a few GB; keep parallelism to the machine.
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export GOTOOLCHAIN=local

build_etcd() {
  [ -x "$dir/bin/etcd" ] && return 0
  log "building etcd v$ETCD_VERSION (first run only)"
  local m="$dir/src/etcd"
  rm -rf "$m"; mkdir -p "$m"
  (cd "$m" &&
    go mod init example.invalid/switchyard-etcd >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2 &&
    go build -trimpath -ldflags "-s -w" -o "$dir/bin/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv -f "$dir/bin/etcd.tmp" "$dir/bin/etcd"
}

# The wrapper module in src/k8s; reused when a previous run finished it (its
# go.mod then requires k8s.io/kubernetes, which the last step adds).
k8s_module() {
  local m="$dir/src/k8s" staging="0.${K8S_VERSION#1.}"
  if [ -f "$m/go.mod" ] && grep -q "k8s\.io/kubernetes v$K8S_VERSION\b" "$m/go.mod"; then
    cd "$m"
    return 0
  fi
  rm -rf "$m"; mkdir -p "$m"
  cd "$m"
  go mod init example.invalid/switchyard-k8s >/dev/null 2>&1
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$gomod" ] || { log "cannot find go.mod of k8s.io/kubernetes@v$K8S_VERSION"; exit 1; }
  local mods
  mods="$(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/.*#\1#p' "$gomod")"
  [ -n "$mods" ] || { log "no staging replace directives found in $gomod"; exit 1; }
  for mod in $mods; do
    go mod edit -replace="$mod=$mod@v$staging"
  done
  # Carry over godebug defaults so the binary behaves as upstream's build.
  grep '^godebug' "$gomod" >>go.mod || true
  go get "k8s.io/kubernetes@v$K8S_VERSION" >&2
}

# k8s_build NAME: builds k8s.io/kubernetes/cmd/NAME into bin/NAME.
k8s_build() {
  local name="$1" minor v="v$K8S_VERSION"
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  k8s_module
  # Version ldflags: without them /version says v0.0.0-master and clients
  # that check the server version (helm) break.
  go build -trimpath -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$v \
    -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$minor \
    -X k8s.io/component-base/version.gitTreeState=clean \
    -X k8s.io/client-go/pkg/version.gitVersion=$v \
    -X k8s.io/client-go/pkg/version.gitMajor=1 \
    -X k8s.io/client-go/pkg/version.gitMinor=$minor" \
    -o "$dir/bin/$name.tmp" "k8s.io/kubernetes/cmd/$name" >&2
  mv -f "$dir/bin/$name.tmp" "$dir/bin/$name"
}

build_apiserver() {
  [ -x "$dir/bin/kube-apiserver" ] && return 0
  log "building kube-apiserver v$K8S_VERSION (first run only; ~10-20 min on 2 cores)"
  k8s_build kube-apiserver
}

build_kubectl() {
  [ -x "$dir/bin/kubectl" ] && return 0
  log "building kubectl v$K8S_VERSION (first run only; a few minutes after kube-apiserver)"
  k8s_build kubectl
}

build_etcd
build_apiserver
build_kubectl
touch "$stamp"
echo "$dir"
