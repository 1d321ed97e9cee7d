#!/usr/bin/env bash
# todo_add and todo_list through a real transport: bookmcp itself (--listen, Postgres) driven
# over WebSocket by bookmcp_load (8 connections, 4 calls in flight each), with pgbench's INSERT
# and SELECT on the same server in the same run (one bookmcp_todo_bench round between the
# WebSocket phases gives pgbench's figures). Client, server and Postgres share the machine.
#
#   bench/todo/websocket.sh [BUILD_DIR] [--rounds R] [--seconds S]
#
# Runs inside a throwaway cluster (tests/testing/with_postgres.sh) unless DATABASE_URL is set.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build}"
[[ $# -gt 0 ]] && shift
rounds=3 seconds=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "usage: bench/todo/websocket.sh [BUILD_DIR] [--rounds R] [--seconds S]" >&2; exit 2 ;;
  esac
done
build="$(cd "$build" && pwd)"
for program in bookmcp bookmcp_load bench/todo/bookmcp_todo_bench; do
  [[ -x $build/$program ]] || { echo "websocket.sh: $build/$program is missing; build it first" >&2; exit 2; }
done
if [[ -z "${DATABASE_URL:-}" && -z "${BOOKMCP_TEST_DATABASE_URL:-}" ]]; then
  exec "$root/tests/testing/with_postgres.sh" "$0" "$build" --rounds "$rounds" --seconds "$seconds"
fi
url="${DATABASE_URL:-$BOOKMCP_TEST_DATABASE_URL}"

work=$(mktemp -d /tmp/bookmcp-todo-ws.XXXXXX)
server_pid=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$build/bookmcp" --listen 127.0.0.1:0 --rate-limit 0 --database-url "$url" --data-dir "$work/data" \
  --log-level warn >"$work/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 300); do
  port=$(ss -ltnp 2>/dev/null | grep "pid=$server_pid," | sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' | head -1 || true)
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "websocket.sh: bookmcp exited:" >&2; cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n $port ]] || { echo "websocket.sh: bookmcp did not listen within 30 s" >&2; exit 1; }

add_args='{"title":"Read chapter 3 and do the exercises","due":"2025-03-14","priority":"high","tags":["bench","chapter-3"]}'
list_args='{"status":"open","sort":"created","limit":20}'
load() {  # load TOOL ARGS: one WebSocket phase; prints calls/s
  "$build/bookmcp_load" --url "ws://127.0.0.1:$port/mcp" --connections 8 --inflight 4 \
    --duration "$seconds" --warmup 1 --tool "$1" --arguments "$2" --server-pid "$server_pid" --json |
    sed -n 's/.*"calls_per_second":\([0-9.]*\).*"server_cpu_us_per_call":\([0-9.]*\).*/\1 \2/p'
}
echo "bookmcp $("$build/bookmcp" --version | cut -d' ' -f2) over WebSocket (8 connections x 4 in flight, $seconds s per phase) beside pgbench -c 8 -j 2; $rounds rounds"
adds=() lists=() pg_adds=() pg_lists=()
for round in $(seq "$rounds"); do
  read -r add add_cpu < <(load todo_add "$add_args")
  read -r list list_cpu < <(load todo_list "$list_args")
  line=$("$build/bench/todo/bookmcp_todo_bench" --database-url "$url" --repeats 1 --seconds "$seconds" 2>/dev/null | grep '^round 1:')
  pg_add=$(sed -n 's/.*pgbench INSERT in BEGIN\/COMMIT [0-9]*, alone \([0-9]*\).*/\1/p' <<<"$line")
  pg_list=$(sed -n 's/.*pgbench SELECT in BEGIN\/COMMIT [0-9]*, alone \([0-9]*\).*/\1/p' <<<"$line")
  printf 'round %d: todo_add %.0f/s (server %.0f us CPU/call) | pgbench INSERT %s/s;  todo_list %.0f/s (server %.0f us CPU/call) | pgbench SELECT %s/s\n' \
    "$round" "$add" "$add_cpu" "$pg_add" "$list" "$list_cpu" "$pg_list"
  adds+=("$add") lists+=("$list") pg_adds+=("$pg_add") pg_lists+=("$pg_list")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
a=$(median "${adds[@]}") pa=$(median "${pg_adds[@]}") l=$(median "${lists[@]}") pl=$(median "${pg_lists[@]}")
echo
echo "medians: writes todo_add $a/s vs pgbench INSERT $pa/s, ratio $(awk -v x="$a" -v y="$pa" 'BEGIN {printf "%.2f", x/y}')"
echo "         reads  todo_list $l/s vs pgbench SELECT $pl/s, ratio $(awk -v x="$l" -v y="$pl" 'BEGIN {printf "%.2f", x/y}')"
