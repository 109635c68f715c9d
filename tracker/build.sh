#!/usr/bin/env bash
# Minifies tracker/script.js into the file the ingest service serves at
# GET /js/script.js (services/ingest/assets/script.js), or into the path given
# as the first argument (check.sh builds to a temporary file to detect drift).
# Needs the pinned terser: `npm ci --prefix tracker` (check.sh does it).
set -euo pipefail

TRACKER=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
REPO=$(cd "$TRACKER/.." && pwd -P)
OUT=${1:-$REPO/services/ingest/assets/script.js}

# --ecma 2017: the output may use arrows and the like (every current browser);
# passes=2 finds a few more bytes. The banner names the source for whoever opens
# the served file. Written through a temporary file, so a failed build never
# leaves a half-written script to be served.
trap 'rm -f "$OUT.tmp"' EXIT
{
  echo '/* analytics tracker: minified from tracker/script.js by tracker/build.sh */'
  "$TRACKER/node_modules/.bin/terser" "$TRACKER/script.js" \
    --ecma 2017 \
    --compress passes=2 \
    --mangle \
    --comments false
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
