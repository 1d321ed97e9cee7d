#!/usr/bin/env bash
# `bash scripts/run.sh --chat`: installs what is missing, builds bookmcp and bookmcp-chat, builds
# the chat widget and the sample book's Docusaurus site (with the plugin), and starts on loopback:
#   bookmcp       127.0.0.1:8765  (the sample book; MCP for the chat backend, JWT HS256)
#   bookmcp-chat  127.0.0.1:8788  (no LLM configured: answers quoted from the book; set
#                                  LLM_BASE_URL + LLM_MODEL, or OPENAI_API_KEY, for a model)
#   the site      127.0.0.1:3000  (docusaurus serve of the built site)
# Data in ./data (the MCP JWT secret is made there on first run). Ctrl-C stops all three.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
book_port="${BOOK_PORT:-8765}"
chat_port="${CHAT_PORT:-8788}"
site_port="${SITE_PORT:-3000}"
bash "$root/scripts/install-deps.sh"
TARGETS="bookmcp bookmcp-chat" bash "$root/scripts/build.sh"
SITE_BASE_URL=/ BOOKMCP_CHAT_URL="http://127.0.0.1:$chat_port" sh "$root/tests/browser/install.sh"

data="$root/data"
mkdir -p "$data/chat"
secret="$data/mcp-jwt-secret"
if [[ ! -s "$secret" ]]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret")
fi

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

"$root/build/bookmcp" --listen "127.0.0.1:$book_port" --data-dir "$data" \
  --docs "$root/examples/book/docs" --jwt-secret-file "$secret" &
pids+=($!)
"$root/build/examples/chat/bookmcp-chat" --listen "127.0.0.1:$chat_port" \
  --mcp-url "ws://127.0.0.1:$book_port/mcp" --data-dir "$data/chat" --mcp-jwt-secret-file "$secret" \
  --allowed-origin "http://127.0.0.1:$site_port" --widget-dir "$root/examples/chat/widget/dist" --log-format text &
pids+=($!)
(cd "$root/examples/chat/site" && exec npx docusaurus serve --port "$site_port" --host 127.0.0.1 --no-open) &
pids+=($!)

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 300); do
  listening "$chat_port" && listening "$site_port" && break
  sleep 0.2
done
echo
echo "Open http://127.0.0.1:$site_port/docs/intro and press the chat button (or Ctrl+Shift+L)."
echo "Ctrl-C stops bookmcp, bookmcp-chat and the site."
wait -n "${pids[@]}"
