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
exec .venv/bin/pytest "$@"
