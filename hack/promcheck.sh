#!/usr/bin/env bash
# Builds hack/promcheck (a Prometheus text-format validator used by tests)
# once into .cache/tools/promcheck and prints the binary's path. Idempotent:
# rebuilds only when main.go, go.mod or go.sum is newer than the binary.
# Needs Go; modules come from the Go module proxy (GOPROXY) on first build.
#   hack/promcheck.sh            -> /abs/path/.cache/tools/promcheck
#   "$(hack/promcheck.sh)" < page.txt
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/hack/promcheck"
out="$root/.cache/tools/promcheck"

stale=0
if [ ! -x "$out" ]; then
  stale=1
else
  for f in "$src/main.go" "$src/go.mod" "$src/go.sum"; do
    [ "$f" -nt "$out" ] && stale=1
  done
fi
if [ "$stale" = 1 ]; then
  command -v go >/dev/null || { echo "promcheck.sh: go not found" >&2; exit 1; }
  mkdir -p "$(dirname "$out")"
  tmp="$out.tmp.$$"
  (cd "$src" && GOFLAGS=-mod=mod go build -o "$tmp" .) >&2
  mv -f "$tmp" "$out"
fi
echo "$out"
