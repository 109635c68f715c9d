#!/usr/bin/env bash
# Browser tests of the trackers and the panel against the end-to-end stack
# (deploy/local/e2e.sh up must have run): headless Chromium from Debian,
# driven by playwright-core under `node --test`.
#
# It installs what is missing (npm packages with `npm ci`, chromium and fonts
# with apt-get), builds the panel, creates a fresh site so counts are exact,
# fetches Umami's tracker from its npm package (not kept in the repo), starts
# the panel for that site on a free port, runs panel/tests/, and stops what it
# started. Screenshots: target/screenshots/panel-en.png and panel-fa.png.
#
# Usage: panel/scripts/browser-test.sh   (E2E_ENV=path/to/stack.env to use another stack)
set -euo pipefail
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
started=$SECONDS

ENV_FILE=${E2E_ENV:-$REPO_DIR/.local/e2e/stack.env}
[ -f "$ENV_FILE" ] || die "$ENV_FILE not found: run deploy/local/e2e.sh up first"
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a
CTL=${ANALYTICS_CTL:-${ANALYTICS_BIN_DIR:-$REPO_DIR/target/debug}/analytics-ctl}
[ -x "$CTL" ] || die "$CTL not found (build the workspace first)"
UMAMI_VERSION=${UMAMI_VERSION:-2.10.0}
UMAMI_NODE_VERSION=${UMAMI_NODE_VERSION:-0.4.0}

# Debian's chromium (the wrapper in /usr/bin sets flags; the binary is beside it),
# and fonts for Persian text and flag emoji.
missing=()
[ -x /usr/lib/chromium/chromium ] || [ -x /usr/bin/chromium ] || missing+=(chromium)
for pkg in fonts-noto-core fonts-noto-color-emoji; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
    die "could not install ${missing[*]}"
fi
CHROMIUM=${CHROMIUM:-$([ -x /usr/lib/chromium/chromium ] && echo /usr/lib/chromium/chromium || echo /usr/bin/chromium)}

ensure_node_modules
# Its own build directory: a panel started by `make run` keeps serving its own.
export PANEL_DIST_DIR=.next-test
ensure_build

work=$(mktemp -d)
panel_pid=
cleanup() {
  if [ -n "$panel_pid" ] && [ -d "/proc/$panel_pid" ]; then
    # The panel runs in its own session (setsid): its process group is ours alone.
    kill -TERM -- "-$panel_pid" 2>/dev/null || true
    for _ in $(seq 50); do [ -d "/proc/$panel_pid" ] || break; sleep 0.1; done
    kill -KILL -- "-$panel_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Umami's tracker exactly as its npm package ships it, fetched at test time.
(cd "$work" && npm pack "umami@$UMAMI_VERSION" --silent >/dev/null 2>"$work/pack.log") ||
  { cat "$work/pack.log" >&2; die "npm pack umami@$UMAMI_VERSION failed"; }
tar -xzf "$work"/umami-*.tgz -C "$work" package/src/tracker/index.js
UMAMI_TRACKER=$work/package/src/tracker/index.js
# And Umami's Node client, the same way.
mkdir -p "$work/node-client"
(cd "$work/node-client" && npm pack "@umami/node@$UMAMI_NODE_VERSION" --silent >/dev/null 2>"$work/pack.log") ||
  { cat "$work/pack.log" >&2; die "npm pack @umami/node@$UMAMI_NODE_VERSION failed"; }
tar -xzf "$work"/node-client/umami-node-*.tgz -C "$work/node-client" package/dist/index.mjs
UMAMI_NODE=$work/node-client/package/dist/index.mjs

# A fresh site: the tests expect exact counts.
SITE_DOMAIN=panel-$(date +%s)-$RANDOM.e2e.test
"$CTL" site add --domain "$SITE_DOMAIN" --timezone Asia/Tehran >"$work/site.json" || die "analytics-ctl site add failed"
SITE_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/site.json")
SITE_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_token"])' "$work/site.json")
log "site $SITE_ID ($SITE_DOMAIN)"
# Another for the Node client's events, so the browser tests' counts stay exact.
"$CTL" site add --domain "node-$SITE_DOMAIN" --timezone UTC >"$work/node-site.json" || die "analytics-ctl site add failed"
NODE_SITE_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/node-site.json")
NODE_SITE_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_token"])' "$work/node-site.json")

port=$(free_port)
PANEL_URL=http://127.0.0.1:$port
mkdir -p "$REPO_DIR/target"
panel_log=$REPO_DIR/target/panel-browser-test.log
QUERY_URL=$QUERY_URL ANALYTICS_SITE=$SITE_ID ANALYTICS_TOKEN=$SITE_TOKEN ANALYTICS_ADMIN_TOKEN=$ADMIN_TOKEN \
  NEXT_TELEMETRY_DISABLED=1 setsid "$PANEL_DIR/node_modules/.bin/next" start "$PANEL_DIR" -H 127.0.0.1 -p "$port" \
  >"$panel_log" 2>&1 </dev/null &
panel_pid=$!
wait_panel "$PANEL_URL" "$panel_pid" "$panel_log"
log "panel at $PANEL_URL (pid $panel_pid, log $panel_log)"

export PANEL_URL INGEST_URL QUERY_URL SITE_ID SITE_DOMAIN SITE_TOKEN ADMIN_TOKEN CHROMIUM UMAMI_TRACKER
export UMAMI_NODE NODE_SITE_ID NODE_SITE_TOKEN
export SCREENSHOT_DIR=$REPO_DIR/target/screenshots
status=0
(cd "$PANEL_DIR" && node --test --test-reporter=spec --test-timeout=120000 tests/browser.test.mjs tests/umami-node.test.mjs) || status=$?
log "browser tests took $((SECONDS - started)) s; screenshots in $SCREENSHOT_DIR"
exit $status
