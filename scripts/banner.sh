#!/usr/bin/env bash
# Wait for the web app, seed the demo company, and print the URLs and keys.
set -euo pipefail
base=${PUBLIC_BASE_URL:-http://127.0.0.1:8000}
for _ in $(seq 1 120); do
  curl -fs "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
mailroute demo | tee .run/demo.txt
exec sleep infinity
