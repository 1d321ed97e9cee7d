# Sourced by the benchmark scripts (bench/network/run.sh, bench/chat/run.sh): a scratch folder
# and the servers a run starts, all removed or stopped when the script exits, however it exits.
#
#   source "$repo/bench/common/processes.sh"
#   bench_work_dir NAME      # sets $work to a new /tmp/bookmcp-NAME.XXXXXX, removed at exit
#   start NAME COMMAND...    # sets $pid and $port (see below)
#   stop PID

started=()
bench_cleanup() {
  for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  [[ -n ${work:-} ]] && rm -rf "$work"
}

bench_work_dir() {
  work=$(mktemp -d "/tmp/bookmcp-$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# start NAME COMMAND...: starts a program that prints "listening on [http://]HOST:PORT[/...]"
# (on stdout or stderr; its output goes to $work/NAME.log); sets $pid and $port. Waits at most
# 30 s; exits the script when the program dies first or never says where it listens.
start() {
  local name=$1; shift
  local log=$work/$name.log
  "$@" </dev/null >"$log" 2>&1 &
  pid=$!
  started+=("$pid")
  for _ in $(seq 300); do
    port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$log" | head -1)
    [[ -n $port ]] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "run.sh: $name exited early:" >&2; tail -20 "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "run.sh: $name did not report its port within 30 s" >&2; tail -20 "$log" >&2; exit 1
}

stop() {  # stop PID: SIGTERM, then SIGKILL after 5 s
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
