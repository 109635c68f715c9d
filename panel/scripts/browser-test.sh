#!/usr/bin/env bash
# Browser tests of the trackers and the panel against the end-to-end stack
# (deploy/local/e2e.sh up must have run): headless Chromium from Debian,
# driven by playwright-core under `node --test`.
#
# It installs what is missing (npm packages with `npm ci`, chromium and fonts
# with apt-get), builds the panel, creates a fresh site so counts are exact,
# fetches Umami's tracker from its npm package (not kept in the repo), starts
# the panel for that site on a free port (and a second one with PANEL_PASSWORD
# for the login tests), runs panel/tests/, and stops what it started.
# Screenshots: target/screenshots/panel-en.png and panel-fa.png.
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

ensure_chromium
ensure_node_modules
# Its own build directory: a panel started by `make run` keeps serving its own.
export PANEL_DIST_DIR=.next-test
ensure_build

work=$(mktemp -d)
panel_pid=
login_panel_pid=
cleanup() {
  stop_panel_group "$panel_pid"
  stop_panel_group "$login_panel_pid"
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

# For tests/views.test.mjs: a site where it is about noon now (an Etc/GMT
# zone, whose sign is inverted: Etc/GMT-3 is UTC+3), so that 14 hours ago was
# yesterday there and half an hour ago today, whenever the tests run; and a
# site with more than a million pageviews a day (rollups written by
# `simulate --backfill-days`), whose figures must shorten to fit their cards.
offset=$((12 - 10#$(date -u +%H)))
if [ $offset -gt 0 ]; then RANGE_TIMEZONE=Etc/GMT-$offset; elif [ $offset -lt 0 ]; then RANGE_TIMEZONE=Etc/GMT+$((-offset)); else RANGE_TIMEZONE=UTC; fi
"$CTL" site add --domain "range-$SITE_DOMAIN" --timezone "$RANGE_TIMEZONE" >"$work/range-site.json" || die "analytics-ctl site add failed"
RANGE_SITE_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/range-site.json")
"$CTL" site add --domain "big-$SITE_DOMAIN" --timezone UTC >"$work/big-site.json" || die "analytics-ctl site add failed"
BIG_SITE_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/big-site.json")
"$CTL" simulate --site "$BIG_SITE_ID" --backfill-days 2 --pageviews-per-day 1200000 >/dev/null || die "analytics-ctl simulate failed"
# A site with history imported from the old Django Visit table (five
# pageviews at noon UTC three days ago, `analytics-ctl import django`), whose
# chart must say so. The table is made in the stack's database for the
# import and dropped after it.
"$CTL" site add --domain "import-$SITE_DOMAIN" --timezone UTC >"$work/import-site.json" || die "analytics-ctl site add failed"
IMPORT_SITE_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/import-site.json")
IMPORT_DAY=$(date -u -d '3 days ago' +%F)
legacy=legacy_visit_$$_$RANDOM
psql -q -v ON_ERROR_STOP=1 "$ANALYTICS__POSTGRES__URL" >/dev/null <<SQL || die "creating the legacy Visit table failed"
CREATE TABLE $legacy (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, source varchar(8) NOT NULL,
  user_id bigint, session_key varchar(64), path varchar(2048) NOT NULL, method varchar(16) NOT NULL, ip_address inet,
  country varchar(8), device varchar(16) NOT NULL, browser varchar(32) NOT NULL, os varchar(32) NOT NULL,
  user_agent text NOT NULL, referrer text NOT NULL, response_time double precision, timestamp timestamptz NOT NULL);
INSERT INTO $legacy (source, session_key, path, method, device, browser, os, user_agent, referrer, timestamp)
SELECT 'web', 'session' || i, '/imported', 'GET', 'desktop', 'Chrome', 'Windows',
       'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
       '', timestamptz '$IMPORT_DAY 12:00:00+00' + i * interval '1 minute'
FROM generate_series(1, 5) AS i;
SQL
ANALYTICS__IMPORT__UA_REGEXES=$ANALYTICS__AGGREGATOR__UA_REGEXES \
  "$CTL" import django --database-url "$ANALYTICS__POSTGRES__URL" --table "$legacy" --site "$IMPORT_SITE_ID" >/dev/null ||
  die "analytics-ctl import django failed"
psql -q "$ANALYTICS__POSTGRES__URL" -c "DROP TABLE $legacy" >/dev/null

# A site with a goal and a saved funnel, for the goals, properties and
# funnels tabs (tests/views.test.mjs sends its visitors).
"$CTL" site add --domain "kept-$SITE_DOMAIN" --timezone UTC >"$work/kept-site.json" || die "analytics-ctl site add failed"
KEPT_SITE_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/kept-site.json")
"$CTL" goal add --site "$KEPT_SITE_ID" --event signup >/dev/null || die "analytics-ctl goal add failed"
"$CTL" funnel add --site "$KEPT_SITE_ID" --name "Pricing to signup" --step page==/pricing --step event==signup >/dev/null ||
  die "analytics-ctl funnel add failed"

port=$(free_port)
PANEL_URL=http://127.0.0.1:$port
mkdir -p "$REPO_DIR/target"
panel_log=$REPO_DIR/target/panel-browser-test.log
# No login (whatever this shell has in PANEL_PASSWORD), and Clear cache more
# often than the 3 a minute a person gets: its tests press it often.
QUERY_URL=$QUERY_URL ANALYTICS_SITE=$SITE_ID ANALYTICS_TOKEN=$SITE_TOKEN ANALYTICS_ADMIN_TOKEN=$ADMIN_TOKEN \
  PANEL_PASSWORD= PANEL_CLEAR_CACHE_PER_MINUTE=60 NEXT_TELEMETRY_DISABLED=1 \
  setsid "$PANEL_DIR/node_modules/.bin/next" start "$PANEL_DIR" -H 127.0.0.1 -p "$port" \
  >"$panel_log" 2>&1 </dev/null &
panel_pid=$!
wait_panel "$PANEL_URL" "$panel_pid" "$panel_log"
log "panel at $PANEL_URL (pid $panel_pid, log $panel_log)"

# A second panel, with a password, for tests/login.test.mjs: the same build on
# another port. It shows the Node client's site: that test reads the query
# service uncached, so this panel's renders cannot leave early numbers in the
# cache the first panel's exact counts are read through.
PANEL_PASSWORD=pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
login_port=$(free_port)
PANEL_LOGIN_URL=http://127.0.0.1:$login_port
login_panel_log=$REPO_DIR/target/panel-login-test.log
QUERY_URL=$QUERY_URL ANALYTICS_SITE=$NODE_SITE_ID ANALYTICS_TOKEN=$NODE_SITE_TOKEN ANALYTICS_ADMIN_TOKEN=$ADMIN_TOKEN \
  PANEL_PASSWORD=$PANEL_PASSWORD NEXT_TELEMETRY_DISABLED=1 \
  setsid "$PANEL_DIR/node_modules/.bin/next" start "$PANEL_DIR" -H 127.0.0.1 -p "$login_port" \
  >"$login_panel_log" 2>&1 </dev/null &
login_panel_pid=$!
wait_panel "$PANEL_LOGIN_URL" "$login_panel_pid" "$login_panel_log"
log "panel with a password at $PANEL_LOGIN_URL (pid $login_panel_pid, log $login_panel_log)"

export PANEL_URL INGEST_URL QUERY_URL SITE_ID SITE_DOMAIN SITE_TOKEN ADMIN_TOKEN CHROMIUM UMAMI_TRACKER
export UMAMI_NODE NODE_SITE_ID NODE_SITE_TOKEN PANEL_LOGIN_URL PANEL_PASSWORD RANGE_SITE_ID RANGE_TIMEZONE BIG_SITE_ID
export IMPORT_SITE_ID IMPORT_DAY KEPT_SITE_ID
export SCREENSHOT_DIR=$REPO_DIR/target/screenshots
status=0
(cd "$PANEL_DIR" && node --test --test-reporter=spec --test-timeout=120000 tests/browser.test.mjs tests/umami-node.test.mjs \
  tests/login.test.mjs tests/views.test.mjs) || status=$?
log "browser tests took $((SECONDS - started)) s; screenshots in $SCREENSHOT_DIR"
exit $status
