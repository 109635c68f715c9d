#!/usr/bin/env bash
# Private Redis / RabbitMQ / PostgreSQL instances for local development, CI
# and fault-injection tests.
#
# Usage: deploy/local/stores.sh up|down|status|env
#        deploy/local/stores.sh start|stop|kill redis|rabbitmq|postgres
#
#   up          install deps, start every store that is not running, wait until
#               all answer, create database "analytics", write and print
#               $BASE/stores.env. Idempotent and safe to run concurrently.
#   down        graceful stop of all stores (kill -9 after a deadline);
#               data dirs are kept.
#   start NAME  start one store and wait until it answers.
#   stop NAME   graceful stop of one store (kill -9 after a deadline).
#   kill NAME   kill -9 one store (and its child processes): simulated crash.
#   status      one line per store; exit 0 if all run and answer, else 3.
#   env         print $BASE/stores.env (written by `up`).
#
# The instances never use the default ports (6379/5672/5432), so they live
# next to system services. Everything is configured through the environment,
# so a test can run a second, disposable set in another dir on other ports:
#   ANALYTICS_LOCAL_DIR       base dir              (default: <repo>/.local)
#   ANALYTICS_REDIS_PORT      redis port            (default: 16379)
#   ANALYTICS_AMQP_PORT       AMQP port             (default: 15673)
#   ANALYTICS_AMQP_DIST_PORT  Erlang dist port      (default: 25673)
#   ANALYTICS_PG_PORT         postgres port         (default: 15432)
#   ANALYTICS_STORES_TIMEOUT  readiness/stop deadline in seconds (default: 60)
#   ANALYTICS_REDIS_APPENDFSYNC  always (default) or everysec (see redis_launch)
#
# Each store also speaks TLS, with a certificate for localhost/127.0.0.1 from
# a private CA made at the first start ($BASE/tls/ca.crt): Postgres on its
# port (sslmode), Redis on REDIS_PORT+1000 (rediss://), RabbitMQ on
# AMQP_PORT+1000 (amqps://). stores.env names them, for the tests of TLS.
#
# To poke at the private broker:
#   HOME=$BASE/rabbitmq/home /usr/lib/rabbitmq/bin/rabbitmqctl \
#     -n analytics-<AMQP_PORT>@localhost list_queues
# (not /usr/sbin/rabbitmqctl: that wrapper switches to the system cookie)
#
# Processes are only ever signalled by the PID found in *our* pid files, and
# only after checking that the PID really is our store (its working directory
# is our data dir), so a recycled PID or a system service is never touched.
set -euo pipefail

SCRIPT_DIR=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
REPO=$(cd "$SCRIPT_DIR/../.." && pwd -P)

REDIS_PORT=${ANALYTICS_REDIS_PORT:-16379}
AMQP_PORT=${ANALYTICS_AMQP_PORT:-15673}
AMQP_DIST_PORT=${ANALYTICS_AMQP_DIST_PORT:-25673}
PG_PORT=${ANALYTICS_PG_PORT:-15432}
TIMEOUT=${ANALYTICS_STORES_TIMEOUT:-60}
REDIS_TLS_PORT=$((REDIS_PORT + 1000))
AMQPS_PORT=$((AMQP_PORT + 1000))
REDIS_APPENDFSYNC=${ANALYTICS_REDIS_APPENDFSYNC:-always}
[[ $REDIS_APPENDFSYNC =~ ^(always|everysec)$ ]] ||
  { echo "stores: ERROR: ANALYTICS_REDIS_APPENDFSYNC must be always or everysec" >&2; exit 2; }

for v in REDIS_PORT AMQP_PORT AMQP_DIST_PORT PG_PORT TIMEOUT; do
  if ! [[ ${!v} =~ ^[1-9][0-9]{0,4}$ ]] || (( ${!v} > 65535 )); then
    echo "stores: ERROR: bad value '${!v}' for $v (check the ANALYTICS_* variables)" >&2
    exit 2
  fi
done

PG_BIN=/usr/lib/postgresql/15/bin
RMQ_BIN=/usr/lib/rabbitmq/bin
STORES=(redis rabbitmq postgres)

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

log() { echo "stores: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Resolve the base dir to an absolute physical path: the ownership check
# compares it with /proc/PID/cwd, which is always physical. Read-only commands
# (status, env) don't create it.
init_base() {
  local create=$1
  BASE=$(realpath -m "${ANALYTICS_LOCAL_DIR:-$REPO/.local}")
  # RabbitMQ's start scripts don't quote their paths.
  [[ $BASE != *[[:space:]]* ]] || die "base dir must not contain whitespace: '$BASE'"
  if [ "$create" = yes ] && [ ! -d "$BASE" ]; then
    # 755 whatever the umask: the postgres user must be able to traverse it.
    mkdir -p "$BASE" && chmod 755 "$BASE"
  fi
  REDIS_DIR=$BASE/redis
  RMQ_DIR=$BASE/rabbitmq
  RMQ_NODE=analytics-$AMQP_PORT@localhost # port in the name: sets never clash
  PG_DIR=$(pg_dir)
  PG_DATA=$PG_DIR/data
  ENV_FILE=$BASE/stores.env
  TLS_DIR=$BASE/tls
}

# Postgres runs as the "postgres" user, which cannot reach a checkout under a
# 0700 directory (a home directory on Debian 12, a `mktemp -d`). Its files then
# live in /var/tmp instead, named for the checkout so that the same checkout
# always finds them again; `up` says where, and $BASE/postgres links there.
pg_dir() {
  local reach=$BASE
  [ -d "$reach" ] || reach=$(dirname "$reach")
  if id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$reach" 2>/dev/null; then
    echo "/var/tmp/analytics-postgres-$(printf %s "$BASE" | sha256sum | cut -c1-12)"
  else
    echo "$BASE/postgres"
  fi
}

# A private CA and a server certificate for localhost and 127.0.0.1, made
# once: every store's TLS listener presents it.
tls_init() {
  [ -s "$TLS_DIR/server.crt" ] && return 0
  mkdir -p "$TLS_DIR"
  chmod 755 "$TLS_DIR"
  local ext="subjectAltName=DNS:localhost,IP:127.0.0.1
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth"
  (
    cd "$TLS_DIR"
    openssl req -x509 -new -nodes -newkey rsa:2048 -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=analytics local stores CA" &&
      openssl req -new -nodes -newkey rsa:2048 -keyout server.key -out server.csr -subj "/CN=localhost" &&
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt.tmp \
        -days 3650 -extfile <(echo "$ext") &&
      mv server.crt.tmp server.crt
  ) >"$BASE/tls.log" 2>&1 || { cat "$BASE/tls.log" >&2; die "tls: making the certificates failed"; }
}

# Serialise all mutating commands (two concurrent `up`s, `up` racing `stop`).
# Everything we daemonise is started with 9>&- so it does not inherit (and hold
# forever) the lock.
take_lock() {
  exec 9>>"$BASE/stores.lock"
  flock -w $((TIMEOUT * 3)) 9 || die "timed out waiting for $BASE/stores.lock"
}

# Microseconds since the epoch, without forking (the separator is locale-dependent).
now() { echo "${EPOCHREALTIME//[.,]/}"; }
# deadline_passed START_US SECONDS
deadline_passed() { (( $(now) - $1 > $2 * 1000000 )); }

# True if PID exists, is not a zombie, and runs with working dir DIR. Every
# store chdirs into (or is started in) its own dir, which makes this a cheap
# and exact "is this really our process" check. Zombies have no cwd, so they
# count as dead (PID 1 here may not reap them promptly).
pid_in_dir() {
  local pid=$1 dir=$2 cwd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
  [ "$cwd" = "$dir" ]
}

pid_alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# PID and all its descendants, so a kill leaves no orphans behind.
pid_tree() {
  local pid=$1 child
  echo "$pid"
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    pid_tree "$child"
  done
}

# Wait until all given pids are gone; false on deadline.
wait_pids_gone() {
  local secs=$1 start pid; shift
  start=$(now)
  while :; do
    local alive=0
    for pid in "$@"; do pid_alive "$pid" && alive=1; done
    [ $alive -eq 0 ] && return 0
    deadline_passed "$start" "$secs" && return 1
    sleep 0.1
  done
}

# Something (anything, ours or not) accepts connections on 127.0.0.1:PORT?
port_in_use() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# require_port_free NAME PORT ENVVAR
require_port_free() {
  ! port_in_use "$2" || die "$1: port $2 is already in use by another process (choose another with $3)"
}

show_log_tail() { [ -f "$2" ] && { log "$1: last lines of $2:"; tail -n 20 "$2" >&2; }; return 0; }

# ---------------------------------------------------------------------------
# redis
# ---------------------------------------------------------------------------

redis_pid() {
  local pid
  pid=$(cat "$REDIS_DIR/redis.pid" 2>/dev/null) || return 1
  pid_in_dir "$pid" "$REDIS_DIR" && echo "$pid"
}

# timeout: redis-cli waits forever on a hung (e.g. SIGSTOPped) server.
redis_ready() { [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_launch() {
  mkdir -p "$REDIS_DIR"
  rm -f "$REDIS_DIR/redis.pid" # stale after kill -9; redis rewrites it anyway
  require_port_free redis "$REDIS_PORT" ANALYTICS_REDIS_PORT
  # AOF with appendfsync always: Redis writes and fsyncs what a round of
  # its event loop changed before it replies to any of those clients, so
  # nothing ingest acknowledged is lost to a crash of the process or of the
  # machine (one fsync serves every request of the round). With everysec,
  # Redis postpones its write(2) while the once-a-second fsync is still
  # running (up to two seconds, on a busy disk) and replies meanwhile: a
  # kill -9 then loses acknowledged events, as a fault test under load saw.
  # ANALYTICS_REDIS_APPENDFSYNC=everysec trades that for fewer fsyncs.
  # RDB snapshots off (save ""): AOF is enough.
  # Errors before the log file is open go to stdout, hence the same file.
  # shellcheck disable=SC2094
  require_port_free redis-tls "$REDIS_TLS_PORT" ANALYTICS_REDIS_PORT
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" \
    --tls-port "$REDIS_TLS_PORT" --tls-cert-file "$TLS_DIR/server.crt" --tls-key-file "$TLS_DIR/server.key" \
    --tls-ca-cert-file "$TLS_DIR/ca.crt" --tls-auth-clients no \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --appendonly yes --appendfsync "$REDIS_APPENDFSYNC" --save "" \
    </dev/null >>"$REDIS_DIR/redis.log" 2>&1 9>&- \
    || { show_log_tail redis "$REDIS_DIR/redis.log"; die "redis: failed to launch"; }
}

redis_log() { echo "$REDIS_DIR/redis.log"; }
redis_term_signal() { echo TERM; } # graceful: flushes the AOF, then exits

# ---------------------------------------------------------------------------
# rabbitmq
# ---------------------------------------------------------------------------

# The Debian /usr/sbin/rabbitmq-server wrapper switches to the rabbitmq user
# and drops the environment, so we call the real script directly and point
# every path at our dir. RABBITMQ_CONF_ENV_FILE and RABBITMQ_CONFIG_FILE must
# be ours: the system ones set NODENAME=rabbit@localhost and a listener on
# 5672, which would clash with the system broker.
rabbit_env() {
  export HOME=$RMQ_DIR/home # the Erlang cookie lives here; rabbitmqctl needs the same
  export RABBITMQ_NODENAME=$RMQ_NODE
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$AMQP_PORT
  export RABBITMQ_DIST_PORT=$AMQP_DIST_PORT
  export RABBITMQ_MNESIA_BASE=$RMQ_DIR/mnesia
  export RABBITMQ_LOG_BASE=$RMQ_DIR/log
  export RABBITMQ_PID_FILE=$RMQ_DIR/rabbitmq.pid
  export RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ_DIR/enabled_plugins
  export RABBITMQ_CONFIG_FILE=$RMQ_DIR/rabbitmq.conf
  export RABBITMQ_ADVANCED_CONFIG_FILE=$RMQ_DIR/advanced.config # never created
  export RABBITMQ_CONF_ENV_FILE=$RMQ_DIR/rabbitmq-env.conf
  # Like the system config: epmd (if we are the one starting it) and the
  # distribution listener bind to loopback only.
  export ERL_EPMD_ADDRESS=127.0.0.1
  export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

rabbit_pid() {
  local pid
  pid=$(cat "$RMQ_DIR/rabbitmq.pid" 2>/dev/null) || return 1
  pid_in_dir "$pid" "$RMQ_DIR/home" && echo "$pid"
}

# Readiness = a real AMQP 0-9-1 login as guest/guest on vhost "/" followed by
# a clean connection.close, spoken in plain bash over /dev/tcp. It is cheap
# (no Erlang VM like rabbitmqctl), it proves what the services need (listener
# up, boot finished, guest allowed), and it leaves only info lines in the
# broker log (a half-open probe would log a warning every time).
# amqp_expect CLASSMETHOD: read one frame from fd 3, check it is that method.
amqp_expect() {
  local hdr body
  hdr=$(head -c 7 <&3 | od -An -tx1 | tr -d ' \n') # type(1) channel(2) size(4)
  [ "${#hdr}" -eq 14 ] && [ "${hdr:0:2}" = 01 ] || return 1
  body=$(head -c $((16#${hdr:6:8} + 1)) <&3 | od -An -tx1 | tr -d ' \n') # payload + 0xce
  [ "${body:0:8}" = "$1" ]
}
amqp_login_probe() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'AMQP\x00\x00\x09\x01' >&3
  amqp_expect 000a000a || return 1 # connection.start
  # connection.start-ok: client-properties {}, PLAIN, "\0guest\0guest", en_US
  printf '\x01\x00\x00\x00\x00\x00\x24\x00\x0a\x00\x0b\x00\x00\x00\x00\x05PLAIN\x00\x00\x00\x0c\x00guest\x00guest\x05en_US\xce' >&3
  amqp_expect 000a001e || return 1 # connection.tune (a refused login gets connection.close)
  # connection.tune-ok: channel-max 2047, frame-max 131072, heartbeat 0
  printf '\x01\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x1f\x07\xff\x00\x02\x00\x00\x00\x00\xce' >&3
  # connection.open: vhost "/"
  printf '\x01\x00\x00\x00\x00\x00\x08\x00\x0a\x00\x28\x01/\x00\x00\xce' >&3
  amqp_expect 000a0029 || return 1 # connection.open-ok
  # connection.close: 200, "", 0, 0
  printf '\x01\x00\x00\x00\x00\x00\x0b\x00\x0a\x00\x32\x00\xc8\x00\x00\x00\x00\x00\xce' >&3
  amqp_expect 000a0033 # connection.close-ok
}
rabbit_ready() {
  timeout 5 bash -c "$(declare -f amqp_expect amqp_login_probe); amqp_login_probe $AMQP_PORT" 2>/dev/null
}

rabbit_launch() {
  mkdir -p "$RMQ_DIR/home" "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
  echo '[].' >"$RMQ_DIR/enabled_plugins" # no management/prometheus listeners
  cat >"$RMQ_DIR/rabbitmq.conf" <<EOF
# generated by deploy/local/stores.sh (rewritten on every start)
listeners.tcp.local = 127.0.0.1:$AMQP_PORT
listeners.ssl.default = 127.0.0.1:$AMQPS_PORT
ssl_options.cacertfile = $TLS_DIR/ca.crt
ssl_options.certfile = $TLS_DIR/server.crt
ssl_options.keyfile = $TLS_DIR/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
log.file.level = info
EOF
  echo "# generated by deploy/local/stores.sh: keep /etc/rabbitmq/rabbitmq-env.conf out" \
    >"$RMQ_DIR/rabbitmq-env.conf"
  # A pid file left by kill -9 makes the broker/rabbitmqctl think it is
  # running; we already know it is not (rabbit_pid failed).
  rm -f "$RMQ_DIR/rabbitmq.pid"
  require_port_free rabbitmq "$AMQP_PORT" ANALYTICS_AMQP_PORT
  require_port_free rabbitmq-dist "$AMQP_DIST_PORT" ANALYTICS_AMQP_DIST_PORT
  require_port_free rabbitmq-tls "$AMQPS_PORT" ANALYTICS_AMQP_PORT
  # cwd = home dir: that is what rabbit_pid checks.
  ( rabbit_env && cd "$RMQ_DIR/home" && exec "$RMQ_BIN/rabbitmq-server" -detached ) \
    </dev/null >>"$RMQ_DIR/log/startup.log" 2>&1 9>&- \
    || { show_log_tail rabbitmq "$RMQ_DIR/log/startup.log"; die "rabbitmq: failed to launch"; }
}

rabbit_log() { echo "$RMQ_DIR/log/$RMQ_NODE.log"; }
rabbit_term_signal() { echo TERM; } # graceful: RabbitMQ stops cleanly on SIGTERM

# ---------------------------------------------------------------------------
# postgres
# ---------------------------------------------------------------------------

as_postgres() { runuser -u postgres -- "$@"; }

pg_pid() {
  local pid
  pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
  pid_in_dir "$pid" "$PG_DATA" && echo "$pid"
}

# -U/-d: otherwise every probe logs 'FATAL: role "root" does not exist'.
pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -t 2 2>/dev/null; }

# Postgres refuses to run as root, so the cluster is owned by and runs as the
# "postgres" user, which must be able to reach the data dir (see pg_dir).
pg_check_access() {
  id postgres >/dev/null 2>&1 || die "postgres: system user 'postgres' missing (run install-deps.sh)"
  PG_DIR=$(pg_dir)
  PG_DATA=$PG_DIR/data
  as_postgres test -x "$(dirname "$PG_DIR")" || die "postgres: user 'postgres' cannot reach $PG_DIR"
}

pg_init() {
  mkdir -p "$PG_DIR"
  chown postgres:postgres "$PG_DIR"
  chmod 700 "$PG_DIR"
  if [ "$PG_DIR" != "$BASE/postgres" ]; then
    log "postgres: user 'postgres' cannot reach $BASE (a parent directory is 0700); its files are in $PG_DIR"
    [ -e "$BASE/postgres" ] || ln -s "$PG_DIR" "$BASE/postgres"
  fi
  [ -s "$PG_DATA/PG_VERSION" ] && return 0
  log "postgres: initdb $PG_DATA"
  rm -rf "$PG_DATA" # a half-done initdb leaves junk that blocks a retry
  # trust auth: the instance only listens on 127.0.0.1 and holds test data.
  # -N: skip the fsync of the new, empty cluster (the first checkpoint syncs it).
  as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --no-locale -N \
    >"$PG_DIR/initdb.log" 2>&1 9>&- \
    || { show_log_tail postgres "$PG_DIR/initdb.log"; die "postgres: initdb failed"; }
  # Our settings live in a file we regenerate at every start (so port changes
  # apply); postgresql.conf just includes it.
  echo "include_if_exists = 'analytics.conf'" >>"$PG_DATA/postgresql.conf"
}

pg_launch() {
  pg_check_access
  pg_init
  # No unix socket: clients use TCP, and socket paths under a deep checkout
  # would exceed the 107-byte sun_path limit. fsync, synchronous_commit and
  # full_page_writes stay at their (durable) defaults: the aggregator acks a
  # batch once its commit returns, so a commit that a crash could take back
  # would lose acknowledged events. Tests that never crash Postgres turn off
  # synchronous_commit for their own databases only (testkit::Namespace).
  # Memory as a dedicated database server gets it (a quarter of the
  # machine's for Postgres' own cache, and the planner told that the OS
  # caches about half): a segment reads a month of kept events, and with
  # a few hundred MB every such query read its pages through the OS
  # cache, evicting the rollups' (docs/OPERATING.md, Scale).
  local mem_mb
  mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
  cat >"$PG_DATA/analytics.conf" <<EOF
# generated by deploy/local/stores.sh (rewritten on every start)
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
shared_buffers = $(( mem_mb / 4 > 256 ? mem_mb / 4 : 256 ))MB
effective_cache_size = $(( mem_mb / 2 > 512 ? mem_mb / 2 : 512 ))MB
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
EOF
  # Postgres wants its key owned by itself and private.
  install -o postgres -g postgres -m 600 "$TLS_DIR/server.key" "$PG_DATA/server.key"
  install -o postgres -g postgres -m 644 "$TLS_DIR/server.crt" "$PG_DATA/server.crt"
  chown postgres:postgres "$PG_DATA/analytics.conf"
  # Stale postmaster.pid after kill -9: postgres would normally cope, but not
  # if the PID has been recycled by another postgres-owned process.
  rm -f "$PG_DATA/postmaster.pid"
  require_port_free postgres "$PG_PORT" ANALYTICS_PG_PORT
  # -W: don't wait here; `up` starts all stores first and then waits for all.
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -W start \
    </dev/null >/dev/null 2>&1 9>&- \
    || { show_log_tail postgres "$PG_DIR/postgres.log"; die "postgres: pg_ctl start failed"; }
}

pg_log() { echo "$PG_DIR/postgres.log"; }
pg_term_signal() { echo INT; } # "fast" shutdown: does not wait for clients to disconnect

pg_create_db() {
  local psql=(timeout 30 psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -tA)
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'analytics'")" != 1 ]; then
    "${psql[@]}" -c "CREATE DATABASE analytics" >/dev/null
    log "postgres: created database analytics"
  fi
}

# ---------------------------------------------------------------------------
# generic per-store operations (dispatch on NAME)
# ---------------------------------------------------------------------------

fn_prefix() {
  case $1 in
    redis) echo redis ;;
    rabbitmq) echo rabbit ;;
    postgres) echo pg ;;
    *) die "unknown store '$1' (expected: ${STORES[*]})" ;;
  esac
}

store_port() {
  case $1 in redis) echo "$REDIS_PORT" ;; rabbitmq) echo "$AMQP_PORT" ;; postgres) echo "$PG_PORT" ;; esac
}

# Launch NAME unless it is already running (no waiting).
store_launch_if_needed() {
  local name=$1 p
  p=$(fn_prefix "$name")
  if "${p}_pid" >/dev/null; then
    return 0
  fi
  tls_init
  log "$name: starting on port $(store_port "$name")"
  "${p}_launch"
}

# Wait until NAME answers. Fails fast, with the end of its log, if the
# process is gone: its pid file exists but names no live process of ours, or
# after a grace period there still is no live process (postgres removes its
# pid file when it fails to boot; rabbitmq only writes it ~1 s into boot, more
# on a loaded machine).
store_wait_ready() {
  local name=$1 p start pidfile grace
  p=$(fn_prefix "$name")
  case $name in
    redis) pidfile=$REDIS_DIR/redis.pid grace=5 ;;
    rabbitmq) pidfile=$RMQ_DIR/rabbitmq.pid grace=20 ;;
    postgres) pidfile=$PG_DATA/postmaster.pid grace=5 ;;
  esac
  start=$(now)
  until "${p}_ready"; do
    if deadline_passed "$start" "$TIMEOUT"; then
      show_log_tail "$name" "$("${p}_log")"
      "${p}_pid" >/dev/null \
        && die "$name: process runs but does not answer on port $(store_port "$name") after ${TIMEOUT}s (hung? or still running with other ports: 'kill $name' or 'down' with the old ports)"
      die "$name: not ready after ${TIMEOUT}s"
    fi
    if ! "${p}_pid" >/dev/null && { [ -s "$pidfile" ] || deadline_passed "$start" "$grace"; }; then
      sleep 0.5 # the pid file may be written just before the process settles
      if ! "${p}_pid" >/dev/null; then
        show_log_tail "$name" "$("${p}_log")"
        die "$name: process exited during startup"
      fi
    fi
    sleep 0.2
  done
}

store_start() {
  store_launch_if_needed "$1"
  store_wait_ready "$1"
  log "$1: ready on port $(store_port "$1")"
}

# Graceful stop: the store's shutdown signal, then SIGKILL (whole process
# tree) if it is still there after the deadline.
store_stop() {
  local name=$1 p pid pids sig
  p=$(fn_prefix "$name")
  if ! pid=$("${p}_pid"); then
    log "$name: not running"
    return 0
  fi
  mapfile -t pids < <(pid_tree "$pid")
  sig=$("${p}_term_signal")
  log "$name: stopping pid $pid (SIG$sig)"
  kill -s "$sig" "$pid" 2>/dev/null || true
  if ! wait_pids_gone "$TIMEOUT" "${pids[@]}"; then
    log "$name: still running after ${TIMEOUT}s, sending SIGKILL"
    store_kill_pids "$name" "${pids[@]}"
  fi
  log "$name: stopped"
}

# Simulated crash: SIGKILL the main process and its children (postgres
# backends, erl_child_setup) so nothing holds ports or shared memory and a
# following `start` works at once. The system epmd is not our child and is
# left alone. Pid files are left behind on purpose, as after a real crash.
store_kill() {
  local name=$1 p pid pids
  p=$(fn_prefix "$name")
  if ! pid=$("${p}_pid"); then
    log "$name: not running"
    return 0
  fi
  mapfile -t pids < <(pid_tree "$pid")
  log "$name: kill -9 ${pids[*]}"
  store_kill_pids "$name" "${pids[@]}"
}

store_kill_pids() {
  local name=$1; shift
  kill -9 "$@" 2>/dev/null || true
  wait_pids_gone 10 "$@" || die "$name: pids $* survived SIGKILL"
}

store_status() {
  local name=$1 p pid
  p=$(fn_prefix "$name")
  if pid=$("${p}_pid"); then
    if "${p}_ready"; then
      printf '%-9s running       pid %-7s port %s\n' "$name" "$pid" "$(store_port "$name")"
      return 0
    fi
    printf '%-9s not-answering pid %-7s port %s\n' "$name" "$pid" "$(store_port "$name")"
    return 1
  fi
  printf '%-9s stopped       %-11s port %s\n' "$name" "" "$(store_port "$name")"
  return 1
}

# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------

write_env() {
  local amqp="amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f"
  cat >"$ENV_FILE.tmp" <<EOF
ANALYTICS__REDIS__URL=redis://127.0.0.1:$REDIS_PORT
ANALYTICS__AMQP__URL=$amqp
ANALYTICS__POSTGRES__URL=postgres://postgres@127.0.0.1:$PG_PORT/analytics
ANALYTICS_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
ANALYTICS_TEST_AMQP_URL=$amqp
ANALYTICS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres
ANALYTICS_TEST_TLS_CA=$TLS_DIR/ca.crt
ANALYTICS_TEST_REDISS_URL=rediss://127.0.0.1:$REDIS_TLS_PORT
ANALYTICS_TEST_AMQPS_URL=amqps://guest:guest@127.0.0.1:$AMQPS_PORT/%2f
EOF
  mv -f "$ENV_FILE.tmp" "$ENV_FILE" # atomic: readers never see half a file
}

cmd_up() {
  # 9>&-: apt may start system services, which must not inherit our lock.
  "$SCRIPT_DIR/install-deps.sh" >&2 9>&-
  pg_check_access # fail before anything is launched
  tls_init
  local s
  # Launch everything first, then wait: the stores boot in parallel
  # (RabbitMQ takes a few seconds; redis and postgres ~1 s).
  for s in rabbitmq postgres redis; do store_launch_if_needed "$s"; done
  for s in rabbitmq postgres redis; do store_wait_ready "$s"; done
  pg_create_db
  write_env
  cat "$ENV_FILE"
}

cmd_down() {
  local s
  for s in "${STORES[@]}"; do store_stop "$s"; done
}

cmd_status() {
  local s rc=0
  for s in "${STORES[@]}"; do store_status "$s" || rc=3; done
  return $rc
}

cmd_env() {
  [ -f "$ENV_FILE" ] || die "$ENV_FILE does not exist yet: run '$0 up' first"
  cat "$ENV_FILE"
}

usage() {
  cat >&2 <<EOF
usage: $0 up|down|status|env
       $0 start|stop|kill redis|rabbitmq|postgres
EOF
  exit 2
}

main() {
  [ $# -ge 1 ] || usage
  local cmd=$1; shift
  case $cmd in
    up | down | status | env) [ $# -eq 0 ] || usage ;;
    start | stop | kill) [ $# -eq 1 ] || usage; fn_prefix "$1" >/dev/null ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
  case $cmd in status | env) init_base no ;; *) init_base yes ;; esac
  case $cmd in
    up) take_lock; cmd_up ;;
    down) take_lock; cmd_down ;;
    start) take_lock; store_start "$1" ;;
    stop) take_lock; store_stop "$1" ;;
    kill) take_lock; store_kill "$1" ;;
    status) cmd_status ;;
    env) cmd_env ;;
  esac
}

main "$@"
