#!/usr/bin/env bash
# Runs bookmcp_todo_bench against a throwaway PostgreSQL 15 cluster (tests/testing/with_postgres.sh).
#
#   bench/todo/run.sh [BUILD_DIR] [bench options...]     e.g. bench/todo/run.sh build --repeats 5
#
# With DATABASE_URL set, runs against that server instead (the bench only touches rows of owners
# named "bench-..." and deletes them at the end).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build}"
[[ $# -gt 0 ]] && shift
bench="$build/bench/todo/bookmcp_todo_bench"
[[ -x "$bench" ]] || { echo "run.sh: $bench not found; build the bookmcp_todo_bench target" >&2; exit 2; }
if [[ -n "${DATABASE_URL:-}" ]]; then
  exec "$bench" "$@"
fi
exec "$root/tests/testing/with_postgres.sh" sh -c 'exec "$0" --database-url "$BOOKMCP_TEST_DATABASE_URL" "$@"' "$bench" "$@"
