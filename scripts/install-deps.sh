#!/usr/bin/env bash
# Installs the Debian 12 packages bookmcp needs to build, run and test (`--tests`: also what
# only the tests use). Idempotent: packages already present are left alone. Run as root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev          # Asio + Beast (networking, coroutines); 1.81, not the default 1.74
  nlohmann-json3-dev        # JSON values everywhere in the protocol core
  rapidjson-dev             # reads JSON text into those values, twice as fast as nlohmann's own lexer
  libvalijson-dev           # JSON Schema validation of tool arguments and results
  libspdlog-dev             # logging to stderr
  libjemalloc-dev           # the server programs' allocator (less lock contention than glibc malloc)
  libpqxx-dev libpq-dev     # Postgres client (server profile)
  libsqlite3-dev            # embedded profile storage
  libstemmer-dev            # English stemming for BM25
  libmd4c-dev               # CommonMark parser for the book
  libutf8proc-dev libyaml-cpp-dev # rag/: Unicode folding/NFKC for the tokenizer, YAML front matter
  libgtest-dev libgmock-dev # unit tests
  libcpp-jwt-dev libssl-dev # HS256 JWT bearer tokens; SHA-256 and constant-time compare for API keys
  libhowardhinnant-date-dev tzdata # IANA time zones (Europe/Berlin) for todos; GCC 12 lacks <chrono> zones
  libhnswlib-dev            # rag/: the embedded approximate dense index (HNSW), header-only
  nodejs npm                # end-to-end tests with the official MCP TypeScript SDK
  postgresql                # throwaway clusters for store tests
)

# --tests: also what only the tests need.
if [[ "${1:-}" == --tests ]]; then
  packages+=(
    chromium                # a real browser for the CORS test (tests/e2e/browser.test.mjs)
    libxapian-dev           # bench/rag: Xapian, the lexical peer the retrieval benchmark runs beside bookmcp
    clang libclang-rt-14-dev  # tests/fuzz: libFuzzer harnesses with ASan + UBSan
  )
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

# Node may come from elsewhere (e.g. NodeSource); do not fight an existing one.
if command -v node >/dev/null 2>&1; then
  filtered=()
  for package in "${missing[@]}"; do
    [[ "$package" == nodejs || "$package" == npm ]] || filtered+=("$package")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
