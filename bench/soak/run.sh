#!/usr/bin/env bash
# Soak test: bookmcp under paced mixed load for a long while, over Streamable HTTP, WebSocket
# and a `bookmcp --stdio` child on the same Postgres database, with periodic re-indexing and
# Postgres restarts. Bounded (--minutes), not part of CI. See bench/soak/README.md.
#
#   bench/soak/run.sh [--minutes 30] [--rate-fraction 0.5] [--out DIR] [--logs DIR]
#                     [--book DIR] [--build-dir DIR] [--no-build]
#
# Builds bookmcp and bookmcp_soak (in build-soak unless --build-dir), starts a throwaway
# Postgres 15 cluster (tests/testing/with_postgres.sh), copies the book to a temporary folder,
# starts `bookmcp --listen` on it, measures the server's capacity with a 10 s closed-loop run of
# the soak's mix over HTTP, then runs the soak at --rate-fraction of that capacity. Writes
# DIR/soak.csv (one row per minute) and DIR/soak.png (its plot; gnuplot-nox is installed with
# apt-get when gnuplot is missing); the summary, the failed calls and the servers' logs go to
# --logs (default: a new /tmp/bookmcp-soak-logs.* folder, kept). Prints PASS/FAIL per goal and
# exits 1 when a goal is not met. Everything it starts is stopped and removed when it exits,
# however it exits (Ctrl-C included).
#
# Schedule: with 10 minutes or more, warm-up is the first 5 minutes, Postgres restarts every 5
# minutes at 2:30, 7:30, ... (mid-cycle: the first minute after warm-up, minute 6, and the last
# minute are free of restarts), a page of the book is edited every minute at :20 (both servers
# run with --reindex-interval 60s), and index_documents is called every minute at :40. With
# fewer minutes (a quick check), warm-up is 1 minute and Postgres restarts every minute at :45.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

usage() { sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
minutes=30 fraction=0.5 out="" logs="" book="" build="$root/build-soak" do_build=1
args=("$@")
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --rate-fraction) fraction=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --logs) logs=$2; shift 2 ;;
    --book) book=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown option $1" >&2; usage ;;
  esac
done
[[ $minutes =~ ^[0-9]+$ && $minutes -ge 2 ]] || { echo "run.sh: --minutes takes a whole number, at least 2" >&2; exit 2; }

# ---- outside the database: build, gnuplot, then run again inside with_postgres.sh ----------
if [[ -z ${SOAK_RUN_INSIDE_POSTGRES:-} ]]; then
  if [[ $do_build -eq 1 ]]; then
    if [[ ! -f $build/build.ninja && ! -f $build/Makefile ]]; then
      cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBOOKMCP_BUILD_TESTS=OFF \
        -DBOOKMCP_BUILD_BENCH=ON >/dev/null
    fi
    cmake --build "$build" --target bookmcp bookmcp_soak -j2
  fi
  for program in bookmcp bookmcp_soak; do
    [[ -x $build/$program ]] || { echo "run.sh: $build/$program is missing (build it, or drop --no-build)" >&2; exit 2; }
  done
  if ! command -v gnuplot >/dev/null; then
    echo "run.sh: installing gnuplot-nox for the plot" >&2
    { apt-get install -y -q gnuplot-nox >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q gnuplot-nox >/dev/null 2>&1; }; } ||
      echo "run.sh: could not install gnuplot-nox; there will be no plot" >&2
  fi
  export SOAK_RUN_INSIDE_POSTGRES=1
  exec "$root/tests/testing/with_postgres.sh" "$0" "${args[@]}" --no-build
fi

# ---- inside: $BOOKMCP_TEST_DATABASE_URL and $BOOKMCP_TEST_PG_CTL are set ---------------------
: "${BOOKMCP_TEST_DATABASE_URL:?run.sh: not inside with_postgres.sh}"
: "${BOOKMCP_TEST_PG_CTL:?run.sh: not inside with_postgres.sh}"

if [[ -z $book ]]; then
  book=$root/../shared/corpora/physical-ai-book
  [[ -d $book ]] || book=$root/examples/book/docs
fi
[[ -d $book ]] || { echo "run.sh: no book at $book" >&2; exit 2; }
book=$(cd "$book" && pwd)
[[ -n $out ]] || out=$(mktemp -d /tmp/bookmcp-soak.XXXXXX)
[[ -n $logs ]] || logs=$(mktemp -d /tmp/bookmcp-soak-logs.XXXXXX)
mkdir -p "$out" "$logs"
out=$(cd "$out" && pwd) logs=$(cd "$logs" && pwd)

# What was built: the commit and any uncommitted change to the server's sources.
{
  echo "commit $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "bookmcp built $(date -u -r "$build/bookmcp" '+%Y-%m-%d %H:%M UTC')"
  git -C "$root" status --short -- app mcp rag store tools transport third_party CMakeLists.txt 2>/dev/null |
    sed 's/^/uncommitted: /'
} >"$logs/build.txt"

work=$(mktemp -d /tmp/bookmcp-soak-work.XXXXXX)
server_pid="" driver_pid=""
stop_process() {  # SIGTERM, then SIGKILL after 15 s (the server's shutdown grace is 10 s)
  local pid=$1
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local status=$?
  # The driver ends its stdio child itself (and were the driver killed, the child would see
  # the end of its input and exit after its shutdown grace).
  stop_process "$driver_pid"
  stop_process "$server_pid"
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp -r "$book" "$work/book"
echo "book: $book ($(find "$work/book" -name '*.md*' | wc -l) pages), copied to $work/book"
echo "database: $BOOKMCP_TEST_DATABASE_URL"

"$build/bookmcp" --listen 127.0.0.1:0 --docs "$work/book" --data-dir "$work/server-data" \
  --database-url "$BOOKMCP_TEST_DATABASE_URL" --reindex-interval 60s --rate-limit 0 --log-level warn \
  >"$logs/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 300); do
  port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$logs/server.log" | head -1)
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "run.sh: bookmcp exited early:" >&2; tail -20 "$logs/server.log" >&2; exit 1; }
  sleep 0.1
done
if [[ -z $port ]]; then
  # --log-level warn may hide the "listening on" line: ask the kernel.
  port=$(ss -ltnpH 2>/dev/null | grep "pid=$server_pid," | sed -n 's/.*127\.0\.0\.1:\([0-9]*\) .*/\1/p' | head -1)
fi
[[ -n $port ]] || { echo "run.sh: bookmcp did not report its port" >&2; tail -20 "$logs/server.log" >&2; exit 1; }
url="http://127.0.0.1:$port/mcp"
database_port=$(sed -n 's|.*@[^:/]*:\([0-9]*\)/.*|\1|p' <<<"$BOOKMCP_TEST_DATABASE_URL")
echo "server: bookmcp --listen 127.0.0.1:$port (pid $server_pid), todos on Postgres, --reindex-interval 60s"

# ---- capacity: 10 s closed loop over HTTP with the soak's mix --------------------------------
capacity_json=$("$build/bookmcp_soak" capacity --url "$url" --seconds 10 --connections 32 --docs "$work/book")
echo "$capacity_json" >"$logs/capacity.json"
capacity=$(sed -n 's/.*"calls_per_second":\([0-9.e+-]*\).*/\1/p' <<<"$capacity_json")
[[ -n $capacity ]] || { echo "run.sh: the capacity run printed no figure: $capacity_json" >&2; exit 1; }
rate=$(awk -v c="$capacity" -v f="$fraction" 'BEGIN { printf "%.0f", c * f }')
echo "capacity: $capacity calls/s (HTTP, 32 connections, closed loop: $capacity_json)"
echo "soak rate: $rate calls/s ($fraction of capacity), for $minutes minutes"
sleep 5

if [[ $minutes -ge 10 ]]; then
  schedule=(--warmup-minutes 5 --restart-every 300 --restart-offset 150)
else
  schedule=(--warmup-minutes 1 --restart-every 60 --restart-offset 45)
fi
set +e
"$build/bookmcp_soak" soak --url "$url" --server-pid "$server_pid" --rate "$rate" --minutes "$minutes" \
  "${schedule[@]}" --docs "$work/book" --edit-every 60 --index-every 60 \
  --restart-command "$BOOKMCP_TEST_PG_CTL restart -m fast >>'$logs/pg_restart.log' 2>&1" --restart-grace 15 \
  --capacity "$capacity" --database-port "${database_port:-0}" --csv "$out/soak.csv" --summary "$logs/summary.json" \
  --failures-log "$logs/failures.log" --stdio-stderr "$logs/stdio.log" \
  -- "$build/bookmcp" --stdio --docs "$work/book" --data-dir "$work/stdio-data" \
  --database-url "$BOOKMCP_TEST_DATABASE_URL" --reindex-interval 60s --user soak-stdio --log-level warn &
driver_pid=$!
wait "$driver_pid"
status=$?
driver_pid=""
set -e

echo
echo "server log: $(grep -ci 'error' "$logs/server.log" || true) lines naming an error, $(wc -l <"$logs/server.log") lines ($logs/server.log)"
echo "stdio log:  $(grep -ci 'error' "$logs/stdio.log" || true) lines naming an error, $(wc -l <"$logs/stdio.log") lines ($logs/stdio.log)"

if command -v gnuplot >/dev/null && [[ -s $out/soak.csv ]]; then
  warm=$([[ $minutes -ge 10 ]] && echo 5 || echo 1)
  gnuplot -e "csv='$out/soak.csv'; png='$out/soak.png'; warm=$warm; rate='$rate'; capacity='$(printf %.0f "$capacity")'; cores=$(nproc)" \
    "$here/plot.gp" && echo "plot: $out/soak.png"
fi
echo "per-minute figures: $out/soak.csv; summary and logs: $logs"
exit "$status"
