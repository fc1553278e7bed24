#!/usr/bin/env bash
# Installs what the dashboard browser test needs, idempotently:
#   - Debian's chromium (only when not installed; never Playwright's download)
#   - test/e2e/browser/node_modules (playwright-core, pinned in package.json)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "browser-deps: installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium
else
  echo "browser-deps: chromium present"
fi

cd "$root/test/e2e/browser"
if [ -d node_modules/playwright-core ]; then
  echo "browser-deps: node_modules present"
  exit 0
fi
# playwright-core never downloads a browser; this keeps any other package
# from trying either.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
