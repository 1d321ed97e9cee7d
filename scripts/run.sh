#!/usr/bin/env bash
# First README command: installs what is missing, builds, and starts bookmcp on the embedded
# profile (data in ./data) serving the sample book, over stdio by default. Arguments replace
# the transport: `bash scripts/run.sh --listen 127.0.0.1:8765` serves WebSocket + HTTP instead.
# `bash scripts/run.sh --chat` starts bookmcp, the chat backend and the sample site with the chat
# widget on loopback instead (scripts/run-chat.sh) and prints the URL to open.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ "${1:-}" == --chat ]]; then
  shift
  exec bash "$root/scripts/run-chat.sh" "$@"
fi
bash "$root/scripts/install-deps.sh"
TARGETS=bookmcp bash "$root/scripts/build.sh"
transport=(--stdio)
if (($#)); then transport=("$@"); fi
exec "$root/build/bookmcp" "${transport[@]}" --data-dir "$root/data" --docs "$root/examples/book/docs"
