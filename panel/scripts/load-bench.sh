#!/usr/bin/env bash
# The panel's page load in Chromium (scripts/load-bench.mjs) against a running
# query service: builds the panel if needed, starts it for the given site on a
# free port, measures, stops it. Prints the measurements as JSON lines.
#
# Usage: panel/scripts/load-bench.sh <query url> <site> <site token> <admin token> <runs> <path>...
set -euo pipefail
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
[ $# -ge 6 ] || die "usage: load-bench.sh <query url> <site> <site token> <admin token> <runs> <path>..."
query_url=$1 site=$2 token=$3 admin_token=$4 runs=$5
shift 5

ensure_chromium
ensure_node_modules >&2
export PANEL_DIST_DIR=.next-test
ensure_build >&2

port=$(free_port)
log_file=$(mktemp)
QUERY_URL=$query_url ANALYTICS_SITE=$site ANALYTICS_TOKEN=$token ANALYTICS_ADMIN_TOKEN=$admin_token \
  NEXT_TELEMETRY_DISABLED=1 NODE_ENV=production setsid "$PANEL_DIR/node_modules/.bin/next" start "$PANEL_DIR" \
  -H 127.0.0.1 -p "$port" >"$log_file" 2>&1 </dev/null &
panel_pid=$!
trap 'stop_panel_group "$panel_pid"; rm -f "$log_file"' EXIT
wait_panel "http://127.0.0.1:$port" "$panel_pid" "$log_file"
(cd "$PANEL_DIR" && node scripts/load-bench.mjs "http://127.0.0.1:$port" "$query_url" "$admin_token" "$runs" "$@")
