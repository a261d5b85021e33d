#!/usr/bin/env bash
# `make test`: services up, dependencies installed, Chromium for the browser tests, the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
bash scripts/venv.sh
if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing Chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "==> installing Node.js for the example producer's test"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
fi
producer=examples/node-producer
if [ ! -f "$producer/node_modules/.package-lock.json" ] \
  || [ "$producer/package-lock.json" -nt "$producer/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$producer" --quiet --no-audit --no-fund
fi
exec .venv/bin/pytest "$@"
