#!/bin/sh
# ctest entry point: node dashboard.test.mjs, skipped (77) without node.
# Env: SY_FAKE_ADMIN_BIN or SY_SWITCHYARD_BIN (+ SY_SWITCHYARD_ARGS) or
# SY_ADMIN_URL; SY_ARTIFACT_DIR for dashboard.png.
command -v node >/dev/null 2>&1 || { echo "SKIP: node not installed"; exit 77; }
exec node "$(dirname "$0")/dashboard.test.mjs" "$@"
