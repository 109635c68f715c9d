#!/usr/bin/env bash
# The tracker check, one entry point for `make test`:
#
#   deps    npm ci of the pinned terser, when node_modules is missing or was
#           installed from another package-lock.json
#   drift   tracker/script.js rebuilt to a temporary file must equal the served
#           services/ingest/assets/script.js (run tracker/build.sh after editing)
#   size    the served file under 1500 bytes with gzip -9
#   tests   node --test tracker/test/: the source and the served file in a fake
#           browser, asserting the exact bodies they send
#
# Needs Node.js (18 or later) and npm. Exit status 1 if a step failed.
set -euo pipefail

TRACKER=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
REPO=$(cd "$TRACKER/.." && pwd -P)
SERVED=$REPO/services/ingest/assets/script.js
MAX_GZIP=1500
cd "$REPO"

for tool in node npm gzip; do
  command -v "$tool" >/dev/null || { echo "tracker: $tool not found (apt-get install nodejs npm)" >&2; exit 1; }
done

# The copy of the lock file taken after the last npm ci says whether
# node_modules still matches it.
stamp=$TRACKER/node_modules/.installed-package-lock.json
if ! cmp -s "$TRACKER/package-lock.json" "$stamp" || [ ! -x "$TRACKER/node_modules/.bin/terser" ]; then
  npm ci --prefix "$TRACKER" --no-audit --no-fund --loglevel=error >/dev/null
  cp "$TRACKER/package-lock.json" "$stamp"
fi

failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$TRACKER/build.sh" "$tmp/script.js"
if cmp -s "$tmp/script.js" "$SERVED"; then
  echo "tracker: drift ok"
else
  echo "tracker: drift FAILED: $SERVED is not the build of tracker/script.js (run tracker/build.sh)" >&2
  diff <(tr ';' '\n' <"$SERVED") <(tr ';' '\n' <"$tmp/script.js") | head -20 >&2 || true
  failed=1
fi

size=$(gzip -9 -n -c "$SERVED" | wc -c)
if [ "$size" -lt "$MAX_GZIP" ]; then
  echo "tracker: size ok ($size bytes gzip -9, limit $MAX_GZIP)"
else
  echo "tracker: size FAILED: $size bytes gzip -9, must stay under $MAX_GZIP" >&2
  failed=1
fi

if node --test "$TRACKER/test/tracker.test.js" >"$tmp/tests.log" 2>&1; then
  echo "tracker: tests ok ($(grep -m1 '^# pass' "$tmp/tests.log" | cut -d' ' -f3) passed)"
else
  cat "$tmp/tests.log" >&2
  echo "tracker: tests FAILED" >&2
  failed=1
fi

exit "$failed"
