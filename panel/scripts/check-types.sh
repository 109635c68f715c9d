#!/usr/bin/env bash
# The panel's API types against the query service's OpenAPI document: the
# types in src/lib/query-api.d.ts are generated from /openapi.json by
# openapi-typescript; this regenerates them and fails when they differ from
# the committed file (the API changed and the panel was not updated), then
# type-checks the panel against them.
#
# Usage: panel/scripts/check-types.sh [--write] [SPEC]
#   SPEC     a URL or a file; default $QUERY_URL/openapi.json, with QUERY_URL
#            from the environment or .local/e2e/stack.env
#   --write  replace the committed types instead of comparing
set -euo pipefail
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"

write=
spec=
for arg in "$@"; do
  case "$arg" in
    --write) write=1 ;;
    -h | --help) sed -n '2,12p' "$0" >&2; exit 0 ;;
    *) spec=$arg ;;
  esac
done
if [ -z "$spec" ]; then
  if [ -z "${QUERY_URL:-}" ] && [ -f "$REPO_DIR/.local/e2e/stack.env" ]; then
    QUERY_URL=$(sed -n 's/^QUERY_URL=//p' "$REPO_DIR/.local/e2e/stack.env")
  fi
  [ -n "${QUERY_URL:-}" ] || die "no spec: pass a file or URL, or set QUERY_URL (or run deploy/local/e2e.sh up)"
  spec=${QUERY_URL%/}/openapi.json
fi

ensure_node_modules
committed=$PANEL_DIR/src/lib/query-api.d.ts
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ "$spec" =~ ^https?:// ]]; then
  curl -fsS "$spec" -o "$work/openapi.json" || die "could not read $spec (is the query service running?)"
else
  cp "$spec" "$work/openapi.json"
fi
(cd "$PANEL_DIR" && node_modules/.bin/openapi-typescript "$work/openapi.json" -o "$work/query-api.d.ts" >/dev/null 2>"$work/gen.log") ||
  { cat "$work/gen.log" >&2; die "openapi-typescript failed"; }

if [ -n "$write" ]; then
  cp "$work/query-api.d.ts" "$committed"
  log "wrote $committed"
elif ! diff -u "$committed" "$work/query-api.d.ts" >"$work/drift.diff"; then
  cat "$work/drift.diff" >&2
  die "the query service's API changed: src/lib/query-api.d.ts is out of date. Run panel/scripts/check-types.sh --write, then fix what no longer type-checks."
fi

# The panel's code against the (possibly new) types.
(cd "$PANEL_DIR" && node_modules/.bin/next typegen >/dev/null && node_modules/.bin/tsc --noEmit) ||
  die "the panel does not type-check against the query service's API"
log "API types match $spec and the panel type-checks"
