#!/bin/sh
# Installs the npm packages of every Node-based test folder (tests/e2e, tests/conformance, the
# browser tests with the chat widget, the Docusaurus plugin and the sample site they build),
# each exactly as its package-lock.json pins them. Idempotent; safe to call from scripts/test.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for dir in e2e conformance testing/qdrant_crosscheck browser; do
  "$here/$dir/install.sh"
done
