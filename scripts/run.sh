#!/usr/bin/env bash
# `make run`: everything on a fresh machine, then the whole stack against the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
bash scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
if [ -f .env ]; then set -a; . ./.env; set +a; fi
export LOG_FORMAT=${LOG_FORMAT:-console}
mailroute migrate
mkdir -p .run
exec honcho -f Procfile.dev start
