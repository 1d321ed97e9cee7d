#!/bin/sh
# Installs the peer's npm packages exactly as package-lock.json pins them (npm ci).
# Idempotent: does nothing when node_modules was installed from the current lockfile.
set -eu
cd "$(dirname "$0")"

stamp=node_modules/.bookmcp-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "bench/peers/ts-streamable-http: node_modules is up to date with package-lock.json"
  exit 0
fi

npm ci --no-audit --no-fund
echo "$want" > "$stamp"
