#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL 15 cluster, then removes the cluster.
#
#   tests/testing/with_postgres.sh ctest --test-dir build -L store
#
# Exports for the command:
#   BOOKMCP_TEST_DATABASE_URL  postgresql://bookmcp@127.0.0.1:PORT/bookmcp_test (trust auth)
#   BOOKMCP_TEST_PGDATA        the cluster's data directory
#   BOOKMCP_TEST_PG_CTL        a helper that runs pg_ctl on this cluster as its owner (works when
#                              the tests run as root): "$BOOKMCP_TEST_PG_CTL restart -m fast",
#                              "... stop -m fast", "... start". It adds -D, -l, -o and -w.
#
# When run as root the cluster belongs to the 'postgres' user (the server refuses to run as
# root); otherwise to the current user. The cluster listens on 127.0.0.1 at a free port and on
# a unix socket inside its temporary directory, with fsync off (tests only). It is stopped and
# deleted when the command ends, whatever the outcome; the command's exit status is returned.
set -euo pipefail

pg_bin="${BOOKMCP_PG_BIN:-/usr/lib/postgresql/15/bin}"
if [[ $# -eq 0 ]]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
for tool in initdb pg_ctl createdb; do
  [[ -x "$pg_bin/$tool" ]] || { echo "with_postgres.sh: $pg_bin/$tool not found (set BOOKMCP_PG_BIN)" >&2; exit 2; }
done

workdir="$(mktemp -d "${TMPDIR:-/tmp}/bookmcp-pg.XXXXXX")"
pgdata="$workdir/data"
socketdir="$workdir/socket"
logfile="$workdir/postgres.log"
mkdir -p "$socketdir"

as_owner=()
if [[ "$(id -u)" -eq 0 ]]; then
  owner="${BOOKMCP_PG_USER:-postgres}"
  id "$owner" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
  chown -R "$owner" "$workdir"
  chmod 755 "$workdir"
  as_owner=(runuser -u "$owner" --)
fi

cleanup() {
  local status=$?
  if [[ -f "$pgdata/postmaster.pid" ]]; then
    "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$workdir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_is_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

"${as_owner[@]}" "$pg_bin/initdb" -D "$pgdata" -U bookmcp --auth=trust -E UTF8 --locale=C.UTF-8 \
  --no-sync >"$workdir/initdb.log" 2>&1 || { cat "$workdir/initdb.log" >&2; exit 1; }

started=0
for _ in $(seq 1 20); do
  port=$((20000 + RANDOM % 40000))
  port_is_free "$port" || continue
  server_options="-c listen_addresses=127.0.0.1 -p $port -k $socketdir -c fsync=off"
  server_options+=" -c full_page_writes=off -c max_connections=300"
  if "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$pgdata" -l "$logfile" -o "$server_options" -w \
      start >/dev/null 2>&1; then
    started=1
    break
  fi
done
if [[ "$started" -ne 1 ]]; then
  echo "with_postgres.sh: could not start PostgreSQL; log follows" >&2
  cat "$logfile" >&2 || true
  exit 1
fi

"${as_owner[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U bookmcp bookmcp_test

# The helper fault tests use to stop/start/restart this cluster as its owner.
helper="$workdir/pg_ctl"
{
  echo '#!/bin/sh'
  printf 'exec %s %q -D %q -l %q -o %q -w "$@"\n' "${as_owner[*]}" "$pg_bin/pg_ctl" "$pgdata" \
    "$logfile" "$server_options"
} >"$helper"
chmod 755 "$helper"

export BOOKMCP_TEST_DATABASE_URL="postgresql://bookmcp@127.0.0.1:$port/bookmcp_test"
export BOOKMCP_TEST_PGDATA="$pgdata"
export BOOKMCP_TEST_PG_CTL="$helper"
echo "with_postgres.sh: PostgreSQL on 127.0.0.1:$port ($pgdata)" >&2

set +e
"$@"
status=$?
set -e
exit "$status"
