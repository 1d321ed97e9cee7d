#!/usr/bin/env bash
# Fails when a folder includes a header of a folder it must not depend on
# (docs/architecture.md: app -> transport -> mcp; app -> tools -> rag -> store; tools -> mcp, store).
set -euo pipefail
root="${1:?repository root}"
status=0
check() {
  local folder="$1"; shift
  for forbidden in "$@"; do
    if hits=$(grep -rnE "#include [\"<]${forbidden}/" "$root/$folder" --include='*.hpp' --include='*.cpp' 2>/dev/null); then
      echo "layering violation: $folder/ must not include $forbidden/:"
      echo "$hits"
      status=1
    fi
  done
}
check mcp transport tools rag store app boost/beast
check transport tools rag store app
check tools transport app boost/beast
check rag mcp tools transport app
check store mcp rag tools transport app
[ $status -eq 0 ] && echo "layering respected"
exit $status
