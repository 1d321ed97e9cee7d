#!/bin/sh
# Installs the conformance suite's npm packages exactly as package-lock.json pins them
# (@modelcontextprotocol/conformance 0.1.13 and the client SDK it drives, 1.32.2).
# Idempotent: does nothing when node_modules was installed from the current lockfile.
set -eu
cd "$(dirname "$0")"

stamp=node_modules/.bookmcp-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "tests/conformance: node_modules is up to date with package-lock.json"
  exit 0
fi

npm ci --no-audit --no-fund
echo "$want" > "$stamp"
