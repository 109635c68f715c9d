#!/usr/bin/env bash
# Live half of deploy/ops/check.sh: the four services (debug binaries) run
# against the private stores in a namespace of their own, then
#   1. every metric name the alert rules and the dashboard use must appear on
#      some service's /metrics (deploy/ops/promql.py check);
#   2. a real Prometheus (Debian's /usr/bin/prometheus) scrapes them every
#      second with the alert rules loaded; PromQL for the Redis queue depth
#      must return exactly the N events we queued, the same number the
#      forwarder's own /metrics shows; every job is `up`; every rule
#      evaluates without error;
#   3. SIGTERM stops each service with exit status 0 within its grace
#      period (what the Kubernetes terminationGracePeriodSeconds rely on).
#
# The namespace: a fresh database (dropped at the end), a random Redis key
# prefix and AMQP namespace (their keys, queues and exchanges are deleted at
# the end), free ports (bound and released by the kernel's port 0). The
# forwarder's AMQP URL points at a closed port, so it never claims and the
# queue depth stays exactly N. Only processes started here are stopped, by PID.
#
# Env: ANALYTICS_BIN_DIR (default target/debug), OPS_PYTHON (the venv's python,
# from install-tools.sh), OPSCHECK_KEEP=1 keeps the work dir for debugging.
set -euo pipefail

SCRIPT_DIR=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
REPO=$(cd "$SCRIPT_DIR/../.." && pwd -P)
BIN=${ANALYTICS_BIN_DIR:-$REPO/target/debug}
PY=${OPS_PYTHON:-$REPO/.local/ops/venv/bin/python}
PROMETHEUS=${PROMETHEUS_BIN:-/usr/bin/prometheus}
SERVICES=(ingest query forwarder aggregator)
GRACE_SECONDS=2 # ANALYTICS__SHUTDOWN__GRACE_SECONDS for this run: a short test
DEADLINE_SECONDS=${OPSCHECK_DEADLINE:-40}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/analytics-opscheck.XXXXXX")
# The start time in the name lets a later run sweep what an interrupted run left.
ID=opscheck_${EPOCHSECONDS}_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
STALE_SECONDS=3600
DB=$ID
PREFIX="$ID:"
declare -A PID=() PORT=() OPS=()
PROM_PID=
CREATED_DB=

log() { echo "scrape-test: $*" >&2; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
fail() { log "FAIL: $*"; exit 1; }

# ---------------------------------------------------------------------------
# cleanup: only what this run started or created
# ---------------------------------------------------------------------------

# stop_pid NAME PID: SIGTERM, wait up to grace + 5 s, then SIGKILL. Sets
# STOPPED to the exit status, or "killed". Runs in this shell (never in $(...)):
# only the shell that started a process can `wait` for its status.
STOPPED=
stop_pid() {
  local name=$1 pid=$2 start=$SECONDS
  STOPPED=0
  kill -TERM "$pid" 2>/dev/null || true
  # A child that exited stays a zombie until waited for: state Z means gone.
  while [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" != Z ]; do
    if [ $((SECONDS - start)) -gt $((GRACE_SECONDS + 5)) ]; then
      log "$name (pid $pid) still running $((GRACE_SECONDS + 5)) s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      STOPPED=killed
      return 0
    fi
    sleep 0.1
  done
  wait "$pid" 2>/dev/null || STOPPED=$?
}

drop_database() {
  [ -n "$CREATED_DB" ] || return 0
  psql_admin -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 \
    || log "could not drop database $DB"
}

drop_redis_keys() {
  [ -n "${ANALYTICS__REDIS__URL:-}" ] || return 0
  redis-cli -u "$ANALYTICS__REDIS__URL" --scan --pattern "$PREFIX*" 2>/dev/null \
    | while read -r key; do redis-cli -u "$ANALYTICS__REDIS__URL" UNLINK "$key" >/dev/null; done || true
}

# The aggregator declared <ID>.events(.dlx) and their quorum queues.
drop_amqp_topology() {
  [ -n "${ANALYTICS__AMQP__URL:-}" ] || return 0
  "$PY" - "$ANALYTICS__AMQP__URL" "$ID" <<'PY' 2>/dev/null || log "could not delete the AMQP queues of $ID"
import sys, pika
conn = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
channel, ns = conn.channel(), sys.argv[2]
for queue in (f"{ns}.events.aggregate", f"{ns}.events.dead"):
    channel.queue_delete(queue)
for exchange in (f"{ns}.events", f"{ns}.events.dlx"):
    channel.exchange_delete(exchange)
conn.close()
PY
}

cleanup() {
  local rc=$? name
  for name in "${!PID[@]}"; do stop_pid "$name" "${PID[$name]}"; done
  if [ -n "$PROM_PID" ]; then stop_pid prometheus "$PROM_PID"; fi
  drop_database
  drop_redis_keys
  drop_amqp_topology
  if [ $rc -ne 0 ]; then
    for name in "${SERVICES[@]}" prometheus; do
      [ -s "$WORK/$name.log" ] && { log "--- last lines of $name.log"; tail -n 15 "$WORK/$name.log" >&2; }
    done
  fi
  if [ -n "${OPSCHECK_KEEP:-}" ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

psql_admin() { psql -X -q -tA -v ON_ERROR_STOP=1 "$ANALYTICS_TEST_POSTGRES_URL" "$@"; }

# N ports that were free a moment ago: all bound to port 0 at once (so they
# differ), then released. The last one stays closed: the forwarder's broker.
free_ports() {
  "$PY" - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# wait_http URL WHAT [PID]: poll until 200, with a deadline; fail early if PID died.
wait_http() {
  local url=$1 what=$2 pid=${3:-} start=$SECONDS
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then fail "$what exited (see its log)"; fi
    [ $((SECONDS - start)) -lt "$DEADLINE_SECONDS" ] || fail "$what: no 200 from $url after ${DEADLINE_SECONDS}s"
    sleep 0.1
  done
}

# prom_query PROMQL: "labels-json<TAB>value" per series of the instant query.
prom_query() { "$PY" "$SCRIPT_DIR/prom-api.py" query "http://127.0.0.1:${PORT[prometheus]}" "$1"; }

# ---------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------

require_binaries() {
  local s
  for s in "${SERVICES[@]}" ctl; do
    [ -x "$BIN/analytics-$s" ] || fail "$BIN/analytics-$s missing: build first (cargo build --bins)"
  done
  [ -x "$PROMETHEUS" ] || fail "$PROMETHEUS missing (Debian package prometheus; deploy/ops/install-tools.sh)"
}

start_stores() {
  "$REPO/deploy/local/stores.sh" up >/dev/null
  set -a
  # shellcheck disable=SC1091
  . "${ANALYTICS_LOCAL_DIR:-$REPO/.local}/stores.env"
  set +a
}

# Databases and Redis keys of runs that were killed before their cleanup (an
# hour old: a concurrent run's namespace is never touched). Their AMQP queues
# cannot be listed without the management plugin and are left: they are empty.
sweep_stale() {
  local name key cutoff=$((EPOCHSECONDS - STALE_SECONDS))
  for name in $(psql_admin -c "SELECT datname FROM pg_database WHERE datname ~ '^opscheck_[0-9]+_'"); do
    [ "$(cut -d_ -f2 <<<"$name")" -lt "$cutoff" ] || continue
    psql_admin -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null && log "dropped stale database $name"
  done
  redis-cli -u "$ANALYTICS__REDIS__URL" --scan --pattern 'opscheck_*' | while read -r key; do
    if [[ $key =~ ^opscheck_([0-9]+)_ ]] && [ "${BASH_REMATCH[1]}" -lt "$cutoff" ]; then
      redis-cli -u "$ANALYTICS__REDIS__URL" UNLINK "$key" >/dev/null
    fi
  done
}

create_namespace() {
  psql_admin -c "CREATE DATABASE \"$DB\"" >/dev/null
  CREATED_DB=1
  export ANALYTICS__POSTGRES__URL=${ANALYTICS__POSTGRES__URL%/*}/$DB
  export ANALYTICS__REDIS__KEY_PREFIX=$PREFIX
  export ANALYTICS__AMQP__NAMESPACE=$ID
  export ANALYTICS__SHUTDOWN__GRACE_SECONDS=$GRACE_SECONDS
  export ANALYTICS__HTTP__HOST=127.0.0.1
  # The services run from a scratch directory, so data files get absolute paths.
  "$REPO/deploy/local/fetch-data.sh"
  export ANALYTICS__AGGREGATOR__UA_REGEXES=$REPO/.local/data/regexes.yaml
  export ANALYTICS_CONFIG_DIR=$WORK/no-config # no config/*.toml from the checkout
  "$BIN/analytics-ctl" migrate >/dev/null
  "$BIN/analytics-ctl" site add --domain opscheck.example --timezone UTC >"$WORK/site.json"
}

start_services() {
  local ports s
  read -r -a ports <<<"$(free_ports 8)"
  PORT=([ingest]=${ports[0]} [query]=${ports[1]} [forwarder]=${ports[2]} [aggregator]=${ports[3]}
        [prometheus]=${ports[4]} [closed]=${ports[5]})
  # /metrics, /healthz, /readyz: ingest and query apart from their API.
  OPS=([ingest]=${ports[6]} [query]=${ports[7]} [forwarder]=${ports[2]} [aggregator]=${ports[3]})
  for s in "${SERVICES[@]}"; do
    (
      cd "$WORK"
      export ANALYTICS__HTTP__PORT=${PORT[$s]} ANALYTICS__OPS__PORT=${OPS[$s]}
      if [ "$s" = forwarder ]; then
        # Nothing listens there: the forwarder never claims, the list stays put.
        export ANALYTICS__AMQP__URL="amqp://guest:guest@127.0.0.1:${PORT[closed]}/%2f"
        export ANALYTICS__FORWARDER__DEPTH_INTERVAL_MS=200
        export ANALYTICS__FORWARDER__INSTANCE_ID=$ID
      fi
      exec "$BIN/analytics-$s" >"$WORK/$s.log" 2>&1 </dev/null
    ) &
    PID[$s]=$!
  done
  for s in "${SERVICES[@]}"; do wait_http "http://127.0.0.1:${OPS[$s]}/healthz" "$s" "${PID[$s]}"; done
  # Forwarder excepted: its broker is closed on purpose, so it is not ready.
  for s in ingest query aggregator; do wait_http "http://127.0.0.1:${OPS[$s]}/readyz" "$s readiness" "${PID[$s]}"; done
  log "services up: ingest :${PORT[ingest]} query :${PORT[query]} forwarder :${PORT[forwarder]} aggregator :${PORT[aggregator]}"
}

# Requests that make labelled series appear (a histogram vector has no series
# before its first observation), without adding anything to the queue.
exercise_services() {
  local site token code
  site=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/site.json")
  token=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_token"])' "$WORK/site.json")
  code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
    "http://127.0.0.1:${PORT[query]}/api/analytics/overview/?site=$site")
  [ "$code" = 200 ] || fail "query overview answered $code"
  code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '{"events": not json' "http://127.0.0.1:${PORT[ingest]}/v1/events")
  [ "$code" = 400 ] || fail "ingest answered $code to malformed JSON (expected 400)"
}

check_metric_names() {
  local s
  mkdir -p "$WORK/metrics"
  for s in "${SERVICES[@]}"; do
    curl -fsS --max-time 5 "http://127.0.0.1:${OPS[$s]}/metrics" >"$WORK/metrics/$s.txt" \
      || fail "GET /metrics of $s failed"
  done
  "$PY" "$SCRIPT_DIR/promql.py" check "$WORK/metrics/"*.txt
}

start_prometheus() {
  local s
  mkdir -p "$WORK/prometheus"
  {
    echo "global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }"
    echo "rule_files: ['$REPO/deploy/prometheus/rules.yml']"
    echo "scrape_configs:"
    # Job names as the ServiceMonitor makes them (the Services' app.kubernetes.io/name).
    for s in "${SERVICES[@]}"; do
      echo "  - job_name: analytics-$s"
      echo "    static_configs: [{ targets: ['127.0.0.1:${OPS[$s]}'] }]"
    done
  } >"$WORK/prometheus.yml"
  "$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
    --web.listen-address="127.0.0.1:${PORT[prometheus]}" --log.level=warn \
    >"$WORK/prometheus.log" 2>&1 </dev/null &
  PROM_PID=$!
  wait_http "http://127.0.0.1:${PORT[prometheus]}/-/ready" prometheus "$PROM_PID"
}

# The forwarder reads LLEN every 200 ms and Prometheus scrapes every second,
# but only about 5 s after start (its target discovery is throttled to one
# update per 5 s): poll until PromQL shows N (deadline, no fixed sleep).
check_queue_depth() {
  local n=$((RANDOM % 90 + 10)) start=$SECONDS started=$EPOCHREALTIME got from_metrics
  seq "$n" | sed 's/^/x/' | xargs redis-cli -u "$ANALYTICS__REDIS__URL" LPUSH "${PREFIX}queue" >/dev/null
  log "queued $n items in ${PREFIX}queue"
  while :; do
    got=$(prom_query "analytics_queue_depth{job=\"analytics-forwarder\", queue=\"redis\"}" | cut -f2)
    [ "$got" = "$n" ] && break
    [ $((SECONDS - start)) -lt "$DEADLINE_SECONDS" ] \
      || fail "Prometheus reports analytics_queue_depth{queue=\"redis\"} = '${got}' after ${DEADLINE_SECONDS}s, expected $n"
    sleep 0.2
  done
  from_metrics=$(curl -fsS "http://127.0.0.1:${PORT[forwarder]}/metrics" \
    | awk '/^analytics_queue_depth\{.*queue="redis"/ {print $2}')
  [ "$from_metrics" = "$n" ] || fail "forwarder /metrics says $from_metrics, Prometheus says $n"
  log "PromQL analytics_queue_depth{queue=\"redis\"} = $got = forwarder /metrics (after $(elapsed "$started") s)"
}

check_targets_and_rules() {
  local up start=$SECONDS
  # Each target's first scrape comes at its own offset: poll until all four are in.
  until up=$(prom_query 'sum by (job) (up{job=~"analytics-.*"})') \
      && [ "$(grep -c '	1$' <<<"$up")" -eq "${#SERVICES[@]}" ]; do
    [ $((SECONDS - start)) -lt "$DEADLINE_SECONDS" ] || fail "not every job is up in Prometheus: ${up//$'\n'/; }"
    sleep 0.2
  done
  # Every rule must have been evaluated at least once, with health "ok".
  local rc
  while :; do
    rc=0
    "$PY" "$SCRIPT_DIR/prom-api.py" rules "http://127.0.0.1:${PORT[prometheus]}" >"$WORK/rules.count" || rc=$?
    [ $rc -eq 0 ] && break
    [ $rc -eq 3 ] || fail "alert rules do not evaluate in Prometheus"
    [ $((SECONDS - start)) -lt "$DEADLINE_SECONDS" ] || fail "rules not all evaluated after ${DEADLINE_SECONDS}s"
    sleep 0.2
  done
  log "all 4 jobs up; $(cat "$WORK/rules.count") alert rules load and evaluate in Prometheus"
}

check_graceful_stop() {
  local s failed=
  for s in "${SERVICES[@]}"; do
    stop_pid "$s" "${PID[$s]}"
    unset "PID[$s]"
    if [ "$STOPPED" != 0 ]; then
      log "$s did not exit cleanly on SIGTERM (status $STOPPED)"
      failed=1
    fi
  done
  [ -z "$failed" ] || fail "a service failed its graceful stop"
  log "SIGTERM: all 4 services exited 0 within ${GRACE_SECONDS}+5 s"
}

main() {
  require_binaries
  start_stores
  sweep_stale
  create_namespace
  start_services
  exercise_services
  check_metric_names
  start_prometheus
  check_queue_depth
  check_targets_and_rules
  check_graceful_stop
}

main "$@"
