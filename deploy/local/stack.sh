#!/usr/bin/env bash
# The whole stack on one machine: private stores (stores.sh), the four services
# from target/release, a demo site, and (for `run`) simulated traffic.
#
# Usage: deploy/local/stack.sh up|down|run|status
#   up      build release binaries, start stores and services in the
#           background, create the demo site once, write .local/stack.env
#   down    stop exactly what `up` started (services by their pid files, then
#           the stores), nothing else
#   run     `up`, then simulated traffic in the foreground; Ctrl-C runs `down`
#   status  one line per service
#
# Ports (override with the same variables): INGEST_PORT=8081 QUERY_PORT=8082
# and their internal ops ports (/metrics, /readyz) INGEST_OPS_PORT=9103
# QUERY_OPS_PORT=9104; FORWARDER_PORT=9101 AGGREGATOR_PORT=9102 (ops only);
# the admin panel PANEL_PORT=3000 (on 127.0.0.1 unless PANEL_PASSWORD is set,
# then on PANEL_HOST, default 0.0.0.0).
# Store ports: see stores.sh.
# A second stack can share the stores: ANALYTICS_STACK_DIR (its pid files, logs,
# secrets and stack.env) and ANALYTICS_KEEP_STORES=1 (its `down` leaves the
# stores running); e2e.sh is that second stack for the tests.
set -euo pipefail

SCRIPT_DIR=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
REPO=$(cd "$SCRIPT_DIR/../.." && pwd -P)
BASE=${ANALYTICS_LOCAL_DIR:-$REPO/.local}
BIN=${ANALYTICS_BIN_DIR:-$REPO/target/release}
STACK_DIR=${ANALYTICS_STACK_DIR:-$BASE}
RUN_DIR=$STACK_DIR/run
LOG_DIR=$STACK_DIR/logs
SERVICES=(ingest forwarder aggregator query)
DEMO_DOMAIN=${DEMO_DOMAIN:-demo.example.com}
DEMO_TIMEZONE=${DEMO_TIMEZONE:-Asia/Tehran}

declare -A PORT=(
  [ingest]=${INGEST_PORT:-8081}
  [query]=${QUERY_PORT:-8082}
  [forwarder]=${FORWARDER_PORT:-9101}
  [aggregator]=${AGGREGATOR_PORT:-9102}
)
# Where each serves /metrics, /healthz and /readyz: ingest and query apart
# from their public API, the other two on their only port.
declare -A OPS_PORT=(
  [ingest]=${INGEST_OPS_PORT:-9103}
  [query]=${QUERY_OPS_PORT:-9104}
  [forwarder]=${PORT[forwarder]}
  [aggregator]=${PORT[aggregator]}
)

log() { echo "stack: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pid_of() {
  local file=$RUN_DIR/$1.pid pid exe
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  # Ours only if the process still runs our binary (or the one a rebuild
  # replaced, which Linux marks "(deleted)"): a recycled pid is left alone.
  # /proc/PID/exe is the physical path: compare with BIN resolved (a target/
  # that is a symlink, a shared CARGO_TARGET_DIR).
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "${exe% (deleted)}" = "$(realpath -m "$BIN")/analytics-$1" ] && echo "$pid"
}

ctl() { "$BIN/analytics-ctl" "$@"; }

# The admin panel (panel/, Next.js) of the demo site, on PANEL_PORT (3000). A
# second stack (ANALYTICS_STACK_DIR, e.g. e2e.sh) starts none unless PANEL_PORT
# is set: the browser tests start their own panel for their own sites.
PANEL_DIR=$REPO/panel
if [ -n "${PANEL_PORT:-}" ] || [ "$STACK_DIR" = "$BASE" ]; then PANEL_PORT=${PANEL_PORT:-3000}; else PANEL_PORT=; fi

panel_enabled() {
  [ -n "$PANEL_PORT" ] && node -e 'const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 20 || (a == 20 && b >= 9) ? 0 : 1)' 2>/dev/null
}

panel_pid() {
  local file=$RUN_DIR/panel.pid pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  # Ours only if still a node process started in panel/ (Next.js renames its
  # process title, so the command line cannot tell).
  [ -n "$pid" ] && [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = node ] &&
    [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$PANEL_DIR" ] && echo "$pid"
}

# npm ci and next build when needed (panel/scripts/build.sh), then next start in
# its own session, so that `down` stops its whole process group and nothing else.
start_panel() {
  if ! panel_enabled; then
    [ -z "$PANEL_PORT" ] || log "panel skipped: it needs Node.js 20.9 or newer (node, npm)"
    return 0
  fi
  if panel_pid >/dev/null; then log "panel already running"; return 0; fi
  "$PANEL_DIR/scripts/build.sh" || die "the panel did not build"
  # Without PANEL_PASSWORD the panel has no login: this machine only. With
  # it, PANEL_HOST (every interface unless set) like any other server.
  local host=127.0.0.1 probe=127.0.0.1
  [ -z "${PANEL_PASSWORD:-}" ] || host=${PANEL_HOST:-0.0.0.0}
  case $host in 0.0.0.0 | ::) ;; *) probe=$host ;; esac
  (
    cd "$PANEL_DIR"
    QUERY_URL=$QUERY_URL ANALYTICS_SITE=$DEMO_SITE ANALYTICS_TOKEN=$DEMO_TOKEN ANALYTICS_ADMIN_TOKEN=$ADMIN_TOKEN \
      PANEL_PASSWORD=${PANEL_PASSWORD:-} NEXT_TELEMETRY_DISABLED=1 \
      exec setsid node_modules/.bin/next start -H "$host" -p "$PANEL_PORT"
  ) >>"$LOG_DIR/panel.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/panel.pid"
  if [ -n "${PANEL_PASSWORD:-}" ]; then
    log "panel started on $host:$PANEL_PORT with a login (pid $!, log $LOG_DIR/panel.log)"
  else
    log "panel started on 127.0.0.1:$PANEL_PORT only, no login: PANEL_PASSWORD is not set (pid $!, log $LOG_DIR/panel.log)"
  fi
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "http://$probe:$PANEL_PORT/api/health" 2>/dev/null; do
    panel_pid >/dev/null || { tail -n 20 "$LOG_DIR/panel.log" >&2; die "the panel exited"; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$LOG_DIR/panel.log" >&2; die "the panel did not answer in 60 s"; }
    sleep 0.2
  done
}

stop_panel() {
  local pid deadline=$((SECONDS + 20))
  if pid=$(panel_pid); then
    kill -TERM -- "-$pid" 2>/dev/null || true
    while [ -d "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    [ ! -d "/proc/$pid" ] || kill -KILL -- "-$pid" 2>/dev/null || true
    log "panel stopped"
  fi
  rm -f "$RUN_DIR/panel.pid"
}

# Random secrets for this machine's stack, made once and kept in .local/.
secrets() {
  local file=$STACK_DIR/secrets.env
  if [ ! -f "$file" ]; then
    umask 077
    {
      echo "INGEST_KEY=ik_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "ADMIN_TOKEN=adm_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    } >"$file"
  fi
  # shellcheck disable=SC1090
  . "$file"
}

# The demo site is created once; its token is only known at creation, so it is
# kept in .local/demo-site.json. If the database was wiped, it is made again.
demo_site() {
  local file=$STACK_DIR/demo-site.json id
  if [ -f "$file" ]; then
    id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$file")
    # Read the whole list first: `ctl ... | grep -q` let grep exit at the
    # first match, and ctl, still printing, died of the broken pipe (with
    # pipefail, the site then looked missing and was added again).
    local sites
    sites=$(ctl site list)
    if grep -qF "\"$id\"" <<<"$sites"; then return 0; fi
  fi
  ctl site add --domain "$DEMO_DOMAIN" --timezone "$DEMO_TIMEZONE" >"$file.new" \
    || die "could not create the demo site (does $DEMO_DOMAIN exist without its token? remove it or set DEMO_DOMAIN)"
  mv "$file.new" "$file"
}

# Whether something listens on 127.0.0.1:$1 (or any address) already.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Whether process $1 holds the socket listening on port $2: the listening
# sockets of /proc/net/tcp{,6} (state 0A) on that port, matched by inode
# against the process's open files.
listens() {
  local pid=$1 hex inode
  hex=$(printf '%04X' "$2")
  for inode in $(awk -v port=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == port { print $10 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    [ -n "$(find "/proc/$pid/fd" -lname "socket:\[$inode\]" 2>/dev/null | head -n 1)" ] && return 0
  done
  return 1
}

# Before anything starts: a port another process holds fails `up` at once,
# naming it, rather than leaving a service that could not bind.
ports_free() {
  local name=$1 port
  pid_of "$name" >/dev/null && return 0
  for port in "${PORT[$name]}" "${OPS_PORT[$name]}"; do
    ! port_taken "$port" ||
      die "$name: port $port is taken by another process (stop it, or set ${name^^}_PORT / ${name^^}_OPS_PORT)"
  done
}

start_service() {
  local name=$1 port=${PORT[$1]}
  if pid_of "$name" >/dev/null; then log "$name already running"; return 0; fi
  ANALYTICS__HTTP__PORT=$port ANALYTICS__HTTP__HOST=127.0.0.1 \
    ANALYTICS__OPS__PORT=${OPS_PORT[$name]} ANALYTICS__OPS__HOST=127.0.0.1 \
    nohup "$BIN/analytics-$name" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
  log "$name started (pid $!, port $port, log $LOG_DIR/$name.log)"
}

# Ready when /readyz answers 200 and the answer came from the process this
# script started: another process on the same port would answer too.
wait_ready() {
  local name=$1 url="http://127.0.0.1:${OPS_PORT[$1]}/readyz" deadline=$((SECONDS + 60)) pid
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    pid_of "$name" >/dev/null || { tail -n 20 "$LOG_DIR/$name.log" >&2; die "$name exited"; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$LOG_DIR/$name.log" >&2; die "$name not ready after 60 s"; }
    sleep 0.2
  done
  pid=$(pid_of "$name") || { tail -n 20 "$LOG_DIR/$name.log" >&2; die "$name exited"; }
  for port in "${PORT[$name]}" "${OPS_PORT[$name]}"; do
    listens "$pid" "$port" || die "$name (pid $pid) is not the process listening on port $port"
  done
}

write_env() {
  local token site
  site=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$STACK_DIR/demo-site.json")
  token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_token"])' "$STACK_DIR/demo-site.json")
  {
    # Every service setting this stack runs with, so `analytics-ctl` and
    # scripts that source this file see the same stores and names.
    env | grep '^ANALYTICS__' | sort
    echo "INGEST_URL=http://127.0.0.1:${PORT[ingest]}"
    echo "QUERY_URL=http://127.0.0.1:${PORT[query]}"
    for name in "${SERVICES[@]}"; do
      echo "${name^^}_METRICS_URL=http://127.0.0.1:${OPS_PORT[$name]}/metrics"
    done
    echo "DEMO_SITE=$site"
    echo "DEMO_DOMAIN=$DEMO_DOMAIN"
    echo "DEMO_TOKEN=$token"
    echo "ADMIN_TOKEN=$ADMIN_TOKEN"
    echo "INGEST_KEY=$INGEST_KEY"
    if panel_enabled; then echo "PANEL_URL=http://127.0.0.1:$PANEL_PORT"; fi
  } >"$STACK_DIR/stack.env"
}

cmd_up() {
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  for name in "${SERVICES[@]}"; do ports_free "$name"; done
  "$SCRIPT_DIR/stores.sh" up >/dev/null
  ANALYTICS_DATA_DIR=$BASE/data "$SCRIPT_DIR/fetch-data.sh"
  if [ -z "${ANALYTICS_SKIP_BUILD:-}" ]; then
    log "building release binaries (a first build takes about 6 minutes on 2 cores)"
    (cd "$REPO" && cargo build --release --bins --quiet)
  fi
  set -a
  # shellcheck disable=SC1091
  . "$BASE/stores.env"
  secrets
  ANALYTICS__INGEST__INGEST_KEY=$INGEST_KEY
  ANALYTICS__QUERY__ADMIN_TOKEN=$ADMIN_TOKEN
  # Absolute, so the services find it whatever directory this runs from.
  ANALYTICS__AGGREGATOR__UA_REGEXES=$BASE/data/regexes.yaml
  ANALYTICS__INGEST__GEOIP_DATABASE=$BASE/data/country.mmdb
  set +a
  ctl migrate >/dev/null
  demo_site
  for name in "${SERVICES[@]}"; do start_service "$name"; done
  for name in "${SERVICES[@]}"; do wait_ready "$name"; done
  write_env
  # shellcheck disable=SC1091
  . "$STACK_DIR/stack.env"
  start_panel
  cat <<MSG

  The stack is up. Settings: $STACK_DIR/stack.env (set -a; . that file)

  Ingest        $INGEST_URL/v1/events
  Query         $QUERY_URL/api/analytics/overview/?site=$DEMO_SITE
  Metrics       $INGEST_METRICS_URL  $QUERY_METRICS_URL
                $FORWARDER_METRICS_URL  $AGGREGATOR_METRICS_URL
  Demo site     $DEMO_SITE ($DEMO_DOMAIN, $DEMO_TIMEZONE)
  Demo token    $DEMO_TOKEN
  Panel         ${PANEL_URL:-not started}

  curl -H "Authorization: Bearer $DEMO_TOKEN" "$QUERY_URL/api/analytics/overview/?site=$DEMO_SITE"

MSG
}

stop_pid() {
  local name=$1 pid=$2 deadline=$((SECONDS + 20))
  kill -TERM "$pid" 2>/dev/null || return 0
  while [ -d "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if [ -d "/proc/$pid" ]; then log "$name did not stop in 20 s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
}

cmd_down() {
  local pid
  if [ -f "$RUN_DIR/simulate.pid" ]; then
    pid=$(cat "$RUN_DIR/simulate.pid")
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$BIN/analytics-ctl" ] && stop_pid simulate "$pid"
    rm -f "$RUN_DIR/simulate.pid"
  fi
  stop_panel
  for name in "${SERVICES[@]}"; do
    if pid=$(pid_of "$name"); then stop_pid "$name" "$pid"; log "$name stopped"; fi
    rm -f "$RUN_DIR/$name.pid"
  done
  [ -z "${ANALYTICS_KEEP_STORES:-}" ] || return 0
  "$SCRIPT_DIR/stores.sh" down
  # The fault tests' own store set, if `make test` started one.
  if [ -d "$REPO/.local/faults" ]; then
    (set -a; . "$SCRIPT_DIR/fault-stores.env"; ANALYTICS_LOCAL_DIR=$REPO/$ANALYTICS_LOCAL_DIR; "$SCRIPT_DIR/stores.sh" down)
  fi
}

cmd_status() {
  local pid
  for name in "${SERVICES[@]}"; do
    if pid=$(pid_of "$name"); then echo "$name running pid $pid port ${PORT[$name]}"; else echo "$name stopped"; fi
  done
  if pid=$(panel_pid); then echo "panel running pid $pid port $PANEL_PORT"; elif [ -n "$PANEL_PORT" ]; then echo "panel stopped"; fi
  "$SCRIPT_DIR/stores.sh" status || true
}

cmd_run() {
  cmd_up
  trap 'echo; cmd_down; exit 0' INT TERM
  set -a
  # shellcheck disable=SC1091
  . "$STACK_DIR/stack.env"
  set +a
  log "sending demo traffic (Ctrl-C stops everything)"
  "$BIN/analytics-ctl" simulate --rate "${DEMO_RATE:-20}" &
  echo $! >"$RUN_DIR/simulate.pid"
  wait $! || true
  cmd_down
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  run) cmd_run ;;
  status) cmd_status ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
