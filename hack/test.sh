#!/usr/bin/env bash
# README command 2 (and the CI entry point, .ci/run): the whole test suite.
#
#  1. Debian packages (hack/install-deps.sh), real Envoy (hack/envoy.sh),
#     real etcd + kube-apiserver + kubectl (hack/kube-tools.sh; exported to
#     the tests as SY_KUBE_TOOLS unless already set), helm (hack/helm.sh;
#     SY_HELM) and the upstream GAIE / Gateway API CRDs and charts from the Go
#     module cache (hack/upstream-crds.sh; SY_UPSTREAM_*)
#  2. hack/checksrc (banned functions in lib/ and cmd/)
#  3. build/       -DSY_WERROR=ON, then ctest: unit, fuzz corpus replay,
#                  integration and e2e (real Envoy)
#  4. build-asan/  the same under AddressSanitizer + UBSan (leaks checked,
#                  child processes too)              skip with SY_TEST_ASAN=0
#  5. build-fuzz/  clang libFuzzer targets, short smoke runs (ctest -L fuzz)
#                  when clang is installed           skip with SY_TEST_FUZZ=0
# Every stage runs even if an earlier independent one failed; a summary is
# printed at the end and the exit status is non-zero if anything failed.
# SY_JOBS caps parallelism (default 2). SY_BUILD_PREFIX renames the build
# directories (default "build": build/, build-asan/, build-fuzz/). Extra
# arguments go to every ctest run, e.g. hack/test.sh -R datastore.
set -uo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/lib.sh"
SY_LOG_TAG=test
cd "$SY_ROOT"

JOBS="$(sy_jobs)"
B="${SY_BUILD_PREFIX:-build}"
CTEST_ARGS=("$@")
RESULTS=()
FAILED=0
T0=$SECONDS

# stage NAME CMD...: runs CMD, records PASS/FAIL and the time it took.
stage() {
  local name="$1"; shift
  local t=$SECONDS rc
  printf '\n==== %s\n' "$name" >&2
  "$@"
  rc=$?
  local dt=$((SECONDS - t))
  if [ "$rc" -eq 0 ]; then
    RESULTS+=("$(printf 'PASS  %-28s %4ds' "$name" "$dt")")
  else
    RESULTS+=("$(printf 'FAIL  %-28s %4ds  (exit %d)' "$name" "$dt" "$rc")")
    FAILED=1
  fi
  return "$rc"
}
skip() { RESULTS+=("$(printf 'SKIP  %-28s        %s' "$1" "$2")"); }

configure_build() {  # DIR CMAKE-ARGS...
  local dir="$1"; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null && cmake --build "$dir" -j "$JOBS"
}

run_ctest() {  # DIR CTEST-ARGS...
  local dir="$1"; shift
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS" "$@" "${CTEST_ARGS[@]}"
}

# Tests spawn switchyard / simulators: sanitizer reports in those children
# must fail the test, so report to stderr and exit non-zero.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}"
# The e2e tests fail, rather than skip, when Envoy is missing.
export SY_E2E_REQUIRE=1

stage "install deps" "$SY_ROOT/hack/install-deps.sh" || true
stage "fetch envoy" "$SY_ROOT/hack/envoy.sh" >/dev/null || true

# etcd + kube-apiserver for the tests against a real control plane
# (test/support/kubeapi.h). Built once from the Go module proxy and cached
# outside the repository. With SY_E2E_REQUIRE=1 those tests fail without it,
# so a failure here fails the run too.
kube_tools() {
  if [ -z "${SY_KUBE_TOOLS:-}" ]; then
    SY_KUBE_TOOLS="$("$SY_ROOT/hack/kube-tools.sh")" || return 1
  fi
  [ -x "$SY_KUBE_TOOLS/bin/kube-apiserver" ] && [ -x "$SY_KUBE_TOOLS/bin/etcd" ] || {
    echo "test.sh: $SY_KUBE_TOOLS lacks bin/kube-apiserver or bin/etcd" >&2
    return 1
  }
  export SY_KUBE_TOOLS
  echo "SY_KUBE_TOOLS=$SY_KUBE_TOOLS" >&2
}
stage "build kube-apiserver" kube_tools || true

# helm, for the tests that render and install charts: built once from the Go
# module proxy and cached next to the kube tools.
helm_tool() {
  if [ -z "${SY_HELM:-}" ]; then
    SY_HELM="$("$SY_ROOT/hack/helm.sh")" || return 1
  fi
  [ -x "$SY_HELM" ] || { echo "test.sh: $SY_HELM is not executable" >&2; return 1; }
  export SY_HELM
  echo "SY_HELM=$SY_HELM" >&2
}
stage "build helm" helm_tool || true

# The pinned upstream CRDs (and GAIE's charts) in the Go module cache, for
# test_crd_compat and the chart tests; a variable already set is kept.
upstream_crds() {
  local out line name
  out="$("$SY_ROOT/hack/upstream-crds.sh")" || return 1
  while IFS= read -r line; do
    name="${line%%=*}"
    [ -n "${!name:-}" ] || export "$line"
    echo "$name=${!name}" >&2
  done <<<"$out"
}
stage "upstream CRDs" upstream_crds || true
stage "browser deps" "$SY_ROOT/hack/browser-deps.sh" || true
stage "build promcheck" "$SY_ROOT/hack/promcheck.sh" >/dev/null || true
stage "checksrc" "$SY_ROOT/hack/checksrc" || true

if stage "build $B/ (werror)" configure_build "$B" -DSY_WERROR=ON; then
  stage "ctest $B/" run_ctest "$B" || true
else
  skip "ctest $B/" "build failed"
fi

if [ "${SY_TEST_ASAN:-1}" != 0 ]; then
  if stage "build $B-asan/" configure_build "$B-asan" -DSY_SANITIZE=address -DSY_WERROR=ON; then
    stage "ctest $B-asan/" run_ctest "$B-asan" || true
  else
    skip "ctest $B-asan/" "build failed"
  fi
else
  skip "asan" "SY_TEST_ASAN=0"
fi

if [ "${SY_TEST_FUZZ:-1}" = 0 ]; then
  skip "fuzz" "SY_TEST_FUZZ=0"
elif ! command -v clang >/dev/null; then
  skip "fuzz" "clang not installed"
else
  # Only the fuzz targets are built here: everything else was covered above.
  mapfile -t FUZZ_TARGETS < <(ls test/fuzz/fuzz_*.c 2>/dev/null | xargs -r -n1 basename | sed 's/\.c$//')
  if [ "${#FUZZ_TARGETS[@]}" -eq 0 ]; then
    skip "fuzz" "no test/fuzz/fuzz_*.c targets"
  else
    build_fuzz() {
      CC=clang cmake -S . -B "$B-fuzz" -G Ninja -DSY_FUZZ=ON -DSY_SANITIZE=address \
        -DSY_WERROR=ON >/dev/null && cmake --build "$B-fuzz" -j "$JOBS" --target "${FUZZ_TARGETS[@]}"
    }
    if stage "build $B-fuzz/ (clang)" build_fuzz; then
      stage "fuzz smoke" ctest --test-dir "$B-fuzz" --output-on-failure -j "$JOBS" -L fuzz || true
    else
      skip "fuzz smoke" "build failed"
    fi
  fi
fi

echo >&2
echo "==== summary (hack/test.sh, $((SECONDS - T0))s total)" >&2
printf '  %s\n' "${RESULTS[@]}" >&2
if [ "$FAILED" -ne 0 ]; then
  echo "test.sh: FAILED" >&2
  exit 1
fi
echo "test.sh: all passed" >&2
