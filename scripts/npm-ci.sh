#!/bin/sh
# Installs a folder's npm packages exactly as its package-lock.json pins them (npm ci).
# Idempotent: does nothing when node_modules was installed from the current lockfile.
# usage: scripts/npm-ci.sh DIR
set -eu
cd "$1"
stamp=node_modules/.bookmcp-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$1: node_modules is up to date with package-lock.json"
  exit 0
fi
npm ci --no-audit --no-fund
echo "$want" > "$stamp"
