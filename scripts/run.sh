#!/usr/bin/env bash
# `make run`: everything on a fresh machine, then the whole stack against the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
bash scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
if [ -f .env ]; then set -a; . ./.env; set +a; fi
export LOG_FORMAT=${LOG_FORMAT:-console}
mkdir -p .run
if [ -z "${MICROSOFT_CLIENT_ID:-}" ]; then
  # Microsoft is the sandbox's TLS listener: it writes its CA where the product reads it (the
  # file exists from now on, so the settings naming it are valid before the sandbox starts).
  export SANDBOX_MICROSOFT_CA_FILE=${SANDBOX_MICROSOFT_CA_FILE:-$PWD/.run/sandbox-microsoft-ca.pem}
  export MICROSOFT_CA_FILE=${MICROSOFT_CA_FILE:-$SANDBOX_MICROSOFT_CA_FILE}
  touch "$SANDBOX_MICROSOFT_CA_FILE"
fi
mailroute migrate
exec honcho -f Procfile.dev start
