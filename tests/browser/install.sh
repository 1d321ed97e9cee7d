#!/bin/sh
# Installs and builds what the browser tests need, each npm folder exactly as its
# package-lock.json pins it (npm ci):
#   tests/browser                  playwright-core, axe-core
#   examples/chat/widget           esbuild, marked, DOMPurify; then npm run build -> dist/
#   examples/docusaurus-plugin     the plugin's own test dependencies
#   examples/chat/site             Docusaurus 3 (+ the plugin, copied); then the site's build/,
#                                  with baseUrl /book/ so that the tests cover a site served under
#                                  a path (SITE_BASE_URL overrides it)
# Idempotent: a step whose inputs have not changed since it last ran is skipped. Quiet: one line
# per step; npm's own output only when a step fails. Chromium itself comes from Debian
# (apt-get install chromium), never from a download.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Hash of the files and folders given (paths relative to the repository), node_modules excluded.
fingerprint() {
  (cd "$repo" && find "$@" -type f -not -path '*/node_modules/*' -not -path '*/build/*' \
      -not -path '*/dist/*' -not -path '*/.docusaurus/*' -print0 2>/dev/null |
    sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

# run WHAT COMMAND...: runs quietly; on failure prints the output and stops.
run() {
  what=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "install.sh: $what failed" >&2
    exit 1
  fi
}

# npm_ci DIR STAMP_INPUTS...: npm ci in DIR unless DIR's node_modules was installed from the same
# inputs (its lockfile, and for the site the plugin it copies).
npm_ci() {
  dir=$1
  shift
  want=$(fingerprint "$@")
  stamp="$repo/$dir/node_modules/.bookmcp-install.sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$dir: dependencies up to date"
    return
  fi
  (cd "$repo/$dir" && run "npm ci in $dir" npm ci --no-audit --no-fund)
  echo "$want" >"$stamp"
  echo "$dir: dependencies installed"
}

# build DIR OUTPUT STAMP_INPUTS...: npm run build in DIR unless OUTPUT exists and was built from
# the same inputs (and the same $BUILD_SETTINGS).
build() {
  dir=$1
  output=$2
  shift 2
  want=$(printf '%s %s\n' "$(fingerprint "$@")" "${BUILD_SETTINGS:-}" | sha256sum | cut -d' ' -f1)
  stamp="$repo/$dir/node_modules/.bookmcp-build.sha256"
  if [ -e "$repo/$dir/$output" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$dir: $output up to date"
    return
  fi
  (cd "$repo/$dir" && run "npm run build in $dir" npm run build)
  echo "$want" >"$stamp"
  echo "$dir: $output built"
}

npm_ci tests/browser tests/browser/package-lock.json
npm_ci examples/chat/widget examples/chat/widget/package-lock.json
build examples/chat/widget dist/widget.js examples/chat/widget/src examples/chat/widget/build.mjs \
  examples/chat/widget/package-lock.json
npm_ci examples/docusaurus-plugin examples/docusaurus-plugin/package-lock.json
# The site's copy of the plugin (install-links) is renewed when the plugin changes.
npm_ci examples/chat/site examples/chat/site/package-lock.json examples/docusaurus-plugin/package.json \
  examples/docusaurus-plugin/src
SITE_BASE_URL=${SITE_BASE_URL:-/book/}
export SITE_BASE_URL
BUILD_SETTINGS="SITE_BASE_URL=$SITE_BASE_URL BOOKMCP_CHAT_URL=${BOOKMCP_CHAT_URL:-}"
build examples/chat/site build/index.html examples/chat/site/docusaurus.config.js examples/chat/site/src \
  examples/chat/site/package-lock.json examples/book/docs examples/docusaurus-plugin/src
