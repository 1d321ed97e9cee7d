#!/bin/sh
# Installs this folder's npm packages exactly as its package-lock.json pins them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../../scripts/npm-ci.sh" "$here"
