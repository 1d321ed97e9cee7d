#!/usr/bin/env bash
# First README command: installs what is missing, builds, and starts bookmcp on the embedded
# profile (data in ./data) serving the sample book, over stdio by default. Arguments replace
# the transport: `bash scripts/run.sh --listen 127.0.0.1:8765` serves WebSocket + HTTP instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
transport=(--stdio)
if (($#)); then transport=("$@"); fi
exec "$root/build/bookmcp" "${transport[@]}" --data-dir "$root/data" --docs "$root/examples/book/docs"
