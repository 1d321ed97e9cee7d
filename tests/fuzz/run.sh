#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan) into build-fuzz/ and runs each one over
# its corpus for a bounded time; fails on any crash, leak, undefined behaviour, timeout or
# out-of-memory, leaving the input under build-fuzz/fuzz-work/<harness>/artifacts/.
#
#   bash tests/fuzz/run.sh                 # 20 s per harness (the README test command)
#   bash tests/fuzz/run.sh --seconds 900   # a campaign; prints executions and coverage
#   bash tests/fuzz/run.sh --only markdown_fuzz --seconds 60
#
# The corpus a run grows stays in build-fuzz/fuzz-work/ (the repository keeps small seeds in
# tests/fuzz/corpus/ and the inputs of fixed crashes in tests/fuzz/regressions/); the Markdown
# harness also starts from the sample book and, when it is there, ../shared's book.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds=20
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--only HARNESS]" >&2; exit 2 ;;
  esac
done

build="$root/build-fuzz"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
CC=clang CXX=clang++ cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBOOKMCP_FUZZ=ON -DBOOKMCP_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target bookmcp_fuzzers

harnesses=(json_rpc_fuzz json_text_fuzz markdown_fuzz tokenizer_fuzz embeddings_answer_fuzz cursor_fuzz auth_fuzz
           llm_stream_fuzz chat_nollm_fuzz category_fuzz config_fuzz qdrant_answer_fuzz listener_fuzz)
declare -A dictionary=([json_rpc_fuzz]=json.dict [json_text_fuzz]=json.dict [markdown_fuzz]=markdown.dict [tokenizer_fuzz]=
                       [embeddings_answer_fuzz]=json.dict [cursor_fuzz]= [auth_fuzz]=json.dict
                       [llm_stream_fuzz]=json.dict [chat_nollm_fuzz]=markdown.dict
                       [category_fuzz]=category.dict [config_fuzz]=config.dict
                       [qdrant_answer_fuzz]=qdrant.dict [listener_fuzz]=http.dict)
declare -A seeds=([json_rpc_fuzz]=json_rpc [json_text_fuzz]=json_text [markdown_fuzz]=markdown [tokenizer_fuzz]=tokenizer
                  [embeddings_answer_fuzz]=embeddings_answer [cursor_fuzz]=cursor [auth_fuzz]=auth
                  [llm_stream_fuzz]=llm_stream [chat_nollm_fuzz]=chat_nollm [category_fuzz]=category
                  [config_fuzz]=config [qdrant_answer_fuzz]=qdrant_answer
                  [listener_fuzz]=listener)

status=0
printf '%-24s %12s %10s %8s %8s %s\n' harness executions "exec/s" edges corpus outcome
for harness in "${harnesses[@]}"; do
  [[ -n "$only" && "$only" != "$harness" ]] && continue
  work="$build/fuzz-work/$harness"
  mkdir -p "$work/corpus" "$work/artifacts"
  inputs=("$work/corpus" "$root/tests/fuzz/corpus/${seeds[$harness]}")
  [[ -d "$root/tests/fuzz/regressions/${seeds[$harness]}" ]] &&
    inputs+=("$root/tests/fuzz/regressions/${seeds[$harness]}")
  if [[ "$harness" == markdown_fuzz ]]; then
    inputs+=("$root/examples/book/docs")
    [[ -d "$root/../shared/corpora" ]] && inputs+=("$root/../shared/corpora")
  fi
  options=(-max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -max_len=65536
           -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  [[ -n "${dictionary[$harness]}" ]] && options+=(-dict="$root/tests/fuzz/${dictionary[$harness]}")
  log="$work/last-run.log"
  touch "$work/started"
  outcome=ok
  "$build/tests/fuzz/$harness" "${options[@]}" "${inputs[@]}" >"$log" 2>&1 || outcome=FAILED
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)"
  rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)"
  edges="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)"
  corpus="$(find "$work/corpus" -type f | wc -l)"
  printf '%-24s %12s %10s %8s %8s %s\n' "$harness" "$runs" "$rate" "$edges" "$corpus" "$outcome"
  if [[ "$outcome" != ok ]]; then
    status=1
    grep -E 'ERROR|invariant broken|SUMMARY|Test unit written' "$log" | head -20 >&2 || true
    # The input itself, so that a run on another machine (CI) can be reproduced from its log.
    find "$work/artifacts" -type f -newer "$work/started" -size -4097c | while read -r artifact; do
      echo "input $(basename "$artifact") (base64): $(base64 -w0 "$artifact")" >&2
    done
  fi
done
exit $status
