#!/usr/bin/env bash
# Network benchmark driver: bookmcp (the conformance fixtures program, or bookmcp itself) against
# the TypeScript SDK peer, R times, medians at the end; then the idle WebSocket memory test.
# Builds nothing: pass a build directory that has bookmcp_load and the server program.
#
#   bench/network/run.sh BUILD_DIR [--runs R] [--duration S] [--inflight M] [--connections N]
#                        [--idle N] [--no-idle] [--server fixtures|bookmcp] [--tool NAME]
#                        [--arguments JSON] [--threads T] [--results FILE]
#
# Every process it starts is killed when it exits, however it exits.
#
# The fixtures' echo runs inline (on the I/O thread that read the call, as the peer runs every
# handler on its event loop); with the fixtures and echo, each run also measures HTTP with
# echo_on_worker, the same handler handed to a worker thread as handlers that may block are.
#
# Each run also measures protocol 2026-07-28 (bookmcp_load --stateless: no initialize, no
# session; each request carries params._meta and the MCP-Protocol-Version, Mcp-Method and
# Mcp-Name headers) beside the handshake era (2025-11-25), over HTTP and over WebSocket, with
# the same connections; the two HTTP modes run back to back, in alternating order from run to
# run, so that the machine's noise falls on both. The summary gives stateless / handshake.
#
# WebSocket calls in flight per connection default to 1 (64 in flight at 64 connections, one
# call at a time per client as a chat backend sends them): by Little's law 40,000 calls/s with
# 256 in flight (--inflight 4) means 6.4 ms mean latency, so "p99 under 5 ms" presumes ~64.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
peer_dir=$(cd "$here/../peers/ts-streamable-http" && pwd)

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 1 ]] || usage
build=$(cd "$1" && pwd) || usage
shift
runs=5 duration=5 inflight=1 connections=64 idle=10000 server=fixtures tool=echo
arguments='{"text":"hi"}' threads=1 results=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --inflight) inflight=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --no-idle) idle=0; shift ;;
    --server) server=$2; shift 2 ;;
    --tool) tool=$2; shift 2 ;;
    --arguments) arguments=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    *) usage ;;
  esac
done

load=$build/bookmcp_load
case "$server" in
  fixtures) server_cmd=("$build/mcp_conformance_fixtures" --listen 127.0.0.1:0) ;;
  bookmcp) server_cmd=("$build/bookmcp" --listen 127.0.0.1:0 --rate-limit 0) ;;
  *) echo "run.sh: --server is fixtures or bookmcp" >&2; exit 2 ;;
esac
for program in "$load" "${server_cmd[0]}"; do
  [[ -x $program ]] || { echo "run.sh: $program is missing; build it first (ninja bookmcp_load ${server_cmd[0]##*/})" >&2; exit 2; }
done
command -v node >/dev/null || { echo "run.sh: node is required for the TypeScript peer" >&2; exit 2; }
[[ -d $peer_dir/node_modules/@modelcontextprotocol/sdk ]] ||
  { echo "run.sh: the peer's packages are missing; run $peer_dir/install.sh" >&2; exit 2; }

source "$here/../common/processes.sh"
bench_work_dir network-bench

start "$server" "${server_cmd[@]}"; server_pid=$pid server_port=$port
start peer node "$peer_dir/server.mjs" --port 0; peer_pid=$pid peer_port=$port
echo "server: ${server_cmd[*]} (pid $server_pid, port $server_port)"
echo "peer:   node $peer_dir/server.mjs (pid $peer_pid, port $peer_port; SDK $(node -p "require('$peer_dir/node_modules/@modelcontextprotocol/sdk/package.json').version"))"
echo "nproc $(nproc); $runs runs of $duration s each; $connections connections; WebSocket $inflight in flight per connection"
echo

common=(--duration "$duration" --warmup 1 --tool "$tool" --arguments "$arguments" --threads "$threads" --json)
lines=$work/results.jsonl
: >"$lines"
# measure LABEL ARGS...: one load run; its JSON line, labelled, goes to $lines.
measure() {
  local label=$1; shift
  local out
  out=$("$load" "${common[@]}" "$@") || true  # errors are in the JSON; keep going (the call's own options win)
  [[ $label == warmup* ]] && return 0
  [[ -n $out ]] || out='{"calls_per_second":0,"errors":1,"first_error":"bookmcp_load printed nothing"}'
  echo "{\"label\":\"$label\",\"result\":$out}" >>"$lines"
  node -e '
    const [label, text] = process.argv.slice(1); const r = JSON.parse(text);
    const f = (x) => (x ?? 0).toFixed(0);
    console.log(`  ${label.padEnd(24)} ${f(r.calls_per_second).padStart(8)} calls/s  median ${f(r.median_us).padStart(6)} us  p99 ${f(r.p99_us).padStart(6)} us` +
                `  server ${f(r.server_cpu_us_per_call).padStart(4)} us CPU/call  errors ${r.errors}` +
                (r.first_error ? `  (${r.first_error})` : ""));' "$label" "$out"
}

ws_url="ws://127.0.0.1:$server_port/mcp" http_url="http://127.0.0.1:$server_port/mcp" peer_url="http://127.0.0.1:$peer_port/mcp"
# Unrecorded first pass: Node's JIT (and bookmcp's allocator) reach their steady state here;
# without it the peer's first runs are several times slower than its later ones.
echo "warm-up pass (not recorded)"
measure warmup-ws --url "$ws_url" --connections "$connections" --inflight "$inflight"
measure warmup-http --url "$http_url" --connections "$connections" --inflight 1
measure warmup-http-stateless --url "$http_url" --connections "$connections" --inflight 1 --stateless
measure warmup-ws-stateless --url "$ws_url" --connections "$connections" --inflight "$inflight" --stateless
measure warmup-peer --url "$peer_url" --connections "$connections" --inflight 1
for run in $(seq "$runs"); do
  echo "run $run/$runs"
  measure "bookmcp websocket" --url "$ws_url" --connections "$connections" --inflight "$inflight" --server-pid "$server_pid"
  measure "bookmcp ws, stateless" --url "$ws_url" --connections "$connections" --inflight "$inflight" --server-pid "$server_pid" --stateless
  # Handshake era and 2026-07-28 over HTTP back to back, the first of the pair alternating.
  if (( run % 2 )); then
    measure "bookmcp http" --url "$http_url" --connections "$connections" --inflight 1 --server-pid "$server_pid"
    measure "bookmcp http, stateless" --url "$http_url" --connections "$connections" --inflight 1 --server-pid "$server_pid" --stateless
  else
    measure "bookmcp http, stateless" --url "$http_url" --connections "$connections" --inflight 1 --server-pid "$server_pid" --stateless
    measure "bookmcp http" --url "$http_url" --connections "$connections" --inflight 1 --server-pid "$server_pid"
  fi
  if [[ $server == fixtures && $tool == echo ]]; then
    measure "bookmcp http, worker" --url "$http_url" --connections "$connections" --inflight 1 --server-pid "$server_pid" --tool echo_on_worker
  fi
  measure "ts-sdk http" --url "$peer_url" --connections "$connections" --inflight 1 --server-pid "$peer_pid"
done
stop "$peer_pid"
stop "$server_pid"

idle_line=""
if [[ $idle -gt 0 ]]; then
  echo
  echo "idle WebSocket memory: $idle connections to a fresh server"
  start "$server-idle" "${server_cmd[@]}"
  idle_line=$("$load" --url "ws://127.0.0.1:$port/mcp" --idle "$idle" --server-pid "$pid" --settle 3 --json) || true
  stop "$pid"
fi

echo
node -e '
  const fs = require("fs");
  const [file, idleText, resultsFile] = process.argv.slice(1);
  const rows = fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const median = (v) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const labels = [...new Set(rows.map((r) => r.label))];
  const summary = {};
  console.log("medians over " + rows.filter((r) => r.label === labels[0]).length + " runs");
  console.log("  " + "".padEnd(24) + "calls/s".padStart(9) + "median us".padStart(11) + "p99 us".padStart(9) + "CPU us/call".padStart(13) + "errors".padStart(8));
  for (const label of labels) {
    const mine = rows.filter((r) => r.label === label).map((r) => r.result);
    const s = { calls_per_second: median(mine.map((r) => r.calls_per_second ?? 0)), median_us: median(mine.map((r) => r.median_us ?? 0)),
                p99_us: median(mine.map((r) => r.p99_us ?? 0)), server_cpu_us_per_call: median(mine.map((r) => r.server_cpu_us_per_call ?? 0)),
                errors: mine.reduce((a, r) => a + (r.errors ?? 0), 0) };
    summary[label] = s;
    console.log("  " + label.padEnd(24) + s.calls_per_second.toFixed(0).padStart(9) + s.median_us.toFixed(0).padStart(11) +
                s.p99_us.toFixed(0).padStart(9) + s.server_cpu_us_per_call.toFixed(1).padStart(13) + String(s.errors).padStart(8));
  }
  const ratio = summary["bookmcp http"].calls_per_second / Math.max(1, summary["ts-sdk http"].calls_per_second);
  const cpuRatio = summary["ts-sdk http"].server_cpu_us_per_call / Math.max(1e-9, summary["bookmcp http"].server_cpu_us_per_call);
  console.log(`  HTTP ratio bookmcp / ts-sdk: ${ratio.toFixed(1)}x calls/s   (goal >= 10x); ${cpuRatio.toFixed(1)}x less server CPU per call`);
  // Stateless (2026-07-28) against the handshake era, same run: the ratio of the medians, and
  // the median of the per-run ratios (each pair measured back to back, so it shares the noise).
  const pairedRatio = (a, b, field) => {
    const runsOf = (label) => rows.filter((r) => r.label === label).map((r) => r.result[field] ?? 0);
    const x = runsOf(a), y = runsOf(b);
    return median(x.slice(0, Math.min(x.length, y.length)).map((v, i) => v / Math.max(1e-9, y[i])));
  };
  const stateless = {};
  for (const [mode, handshakeLabel, statelessLabel] of [["http", "bookmcp http", "bookmcp http, stateless"],
                                                        ["websocket", "bookmcp websocket", "bookmcp ws, stateless"]]) {
    const h = summary[handshakeLabel], n = summary[statelessLabel];
    if (!h || !n) continue;
    const s = stateless[mode] = {
      calls_ratio: n.calls_per_second / Math.max(1, h.calls_per_second),
      calls_ratio_paired: pairedRatio(statelessLabel, handshakeLabel, "calls_per_second"),
      cpu_ratio: n.server_cpu_us_per_call / Math.max(1e-9, h.server_cpu_us_per_call),
      cpu_ratio_paired: pairedRatio(statelessLabel, handshakeLabel, "server_cpu_us_per_call"),
    };
    if (mode === "http") s.ratio_to_ts_sdk = n.calls_per_second / Math.max(1, summary["ts-sdk http"].calls_per_second);
    console.log(`  ${mode === "http" ? "HTTP" : "WebSocket"} stateless (2026-07-28) / handshake (2025-11-25): ${s.calls_ratio.toFixed(2)}x calls/s ` +
                `(per-run median ${s.calls_ratio_paired.toFixed(2)}x), ${s.cpu_ratio.toFixed(2)}x server CPU per call ` +
                `(per-run median ${s.cpu_ratio_paired.toFixed(2)}x)   (goal: calls/s >= 1x)` +
                (s.ratio_to_ts_sdk !== undefined ? `; stateless / ts-sdk ${s.ratio_to_ts_sdk.toFixed(1)}x` : ""));
  }
  const ws = summary["bookmcp websocket"];
  console.log(`  WebSocket: ${ws.calls_per_second.toFixed(0)} calls/s, p99 ${(ws.p99_us / 1000).toFixed(2)} ms   (goal > 40000 calls/s, p99 < 5 ms)`);
  let idle = null;
  if (idleText) {
    idle = JSON.parse(idleText);
    console.log(`  idle WebSocket: ${idle.held}/${idle.requested} held, ${(idle.bytes_per_connection / 1024).toFixed(1)} KiB per connection ` +
                `(server VmRSS ${idle.server_rss_before_kib} -> ${idle.server_rss_after_kib} KiB; goal < 64 KiB)` +
                (idle.first_error ? `; first error: ${idle.first_error}` : ""));
  }
  if (resultsFile) fs.writeFileSync(resultsFile, JSON.stringify({ runs: rows, medians: summary, http_ratio: ratio, http_cpu_ratio: cpuRatio, stateless, idle }, null, 2) + "\n");
' "$lines" "$idle_line" "$results"
