#!/usr/bin/env bash
# Installs every system dependency switchyard needs on Debian 12, idempotently.
# Safe to run repeatedly: apt-get only runs when a package is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config ninja-build
  libgrpc-dev protobuf-compiler libprotobuf-dev protobuf-c-compiler libprotobuf-c-dev
  libcurl4-openssl-dev libcjson-dev libyaml-dev libssl-dev libwebsockets-dev
  check libsubunit-dev libxxhash-dev
  clang libclang-rt-14-dev
  python3 python3-pip unzip xz-utils curl procps iproute2
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all Debian packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
