#!/usr/bin/env bash
# Second README command: installs what is missing, builds, and runs every test:
#   1. the normal build: unit, integration (throwaway Postgres) and end-to-end tests via ctest;
#   2. a second build with AddressSanitizer + UndefinedBehaviorSanitizer running the unit tests;
#   3. the libFuzzer harnesses (a clang build), each for a bounded time over its corpus.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh --tests
bash tests/install-node-deps.sh

echo "== build (RelWithDebInfo)"
BUILD_DIR="$root/build" bash scripts/build.sh
echo "== build (ASan + UBSan)"
BUILD_DIR="$root/build-sanitize" BUILD_TYPE=Debug bash scripts/build.sh -DBOOKMCP_SANITIZE=ON -DBOOKMCP_BUILD_BENCH=OFF

jobs="$(nproc)"
run_all() {
  local status=0
  echo "== tests (sanitized unit tests)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS="suppressions=$root/tests/testing/lsan.supp:print_suppressions=0" \
    ctest --test-dir "$root/build-sanitize" --output-on-failure -j "$jobs" -LE 'e2e|bench' || status=1
  echo "== tests (all)"
  ctest --test-dir "$root/build" --output-on-failure -j "$jobs" || status=1
  return $status
}
export -f run_all
export root jobs
status=0
bash tests/testing/with_postgres.sh bash -c run_all || status=1
echo "== fuzzing (tests/fuzz, 20 s per harness)"
bash tests/fuzz/run.sh --seconds 20 || status=1
exit $status
