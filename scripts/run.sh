#!/usr/bin/env bash
# First README command: installs what is missing, builds, and starts bookmcp on the embedded
# profile (data in ./data) serving the sample book over stdio.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
exec "$root/build/bookmcp" --stdio --data-dir "$root/data" --docs "$root/examples/book/docs" "$@"
