#!/usr/bin/env bash
# The set-up scripts' own checks (part of `make test`):
#  1. `up` fails loudly, naming the port, when another process holds a port a
#     service needs, and leaves none of its services running;
#  2. the private stores start from a checkout the postgres user cannot reach
#     (a 0700 parent, as a home directory on Debian 12 or `mktemp -d` is).
# Both run on spare ports and directories of their own, so the stores and
# stacks of `make run` and `make test` are not touched.
set -euo pipefail
REPO=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../.." && pwd -P)
LOCAL=$REPO/deploy/local
fail() { echo "setup-tests: FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
holder=
cleanup() {
  [ -z "$holder" ] || kill "$holder" 2>/dev/null || true
  # The stores of check 2, if it stopped half-way.
  if [ -d "$work/checkout/.local" ]; then
    ANALYTICS_LOCAL_DIR=$work/checkout/.local ANALYTICS_REDIS_PORT=26379 ANALYTICS_AMQP_PORT=25675 \
      ANALYTICS_AMQP_DIST_PORT=35675 ANALYTICS_PG_PORT=25432 "$LOCAL/stores.sh" down >/dev/null 2>&1 || true
  fi
  rm -rf "$work" "/var/tmp/analytics-postgres-$(printf %s "$work/checkout/.local" | sha256sum | cut -c1-12)"
}
trap cleanup EXIT

# 1. A held port. The e2e stack's layout on ports of its own; its stores are
# the shared ones, already up for the tests.
held=29101
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(600)' "$held" &
holder=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$held") 2>/dev/null && break; sleep 0.1; done
export ANALYTICS_STACK_DIR=$work/stack ANALYTICS_BIN_DIR=$REPO/target/debug ANALYTICS_SKIP_BUILD=1 \
  ANALYTICS_KEEP_STORES=1 INGEST_PORT=28081 QUERY_PORT=28082 FORWARDER_PORT=$held AGGREGATOR_PORT=29102 \
  INGEST_OPS_PORT=29103 QUERY_OPS_PORT=29104 ANALYTICS__REDIS__KEY_PREFIX=setup-test: \
  ANALYTICS__AMQP__NAMESPACE=setup-test DEMO_DOMAIN=setup-test.example.com
if out=$("$LOCAL/stack.sh" up 2>&1); then
  "$LOCAL/stack.sh" down >/dev/null 2>&1 || true
  fail "stack.sh up succeeded although port $held was taken"
fi
grep -q "port $held is taken by another process" <<<"$out" || fail "stack.sh up did not name port $held: $out"
for pid_file in "$work/stack/run"/*.pid; do
  [ -e "$pid_file" ] || continue
  ! kill -0 "$(cat "$pid_file")" 2>/dev/null || fail "$(basename "$pid_file" .pid) was left running"
done
kill "$holder"
holder=
unset ANALYTICS_STACK_DIR ANALYTICS_BIN_DIR ANALYTICS_SKIP_BUILD ANALYTICS_KEEP_STORES
echo "setup-tests: a held port fails 'up' by name, nothing left running"

# 2. Stores under a 0700 directory.
chmod 700 "$work"
export ANALYTICS_LOCAL_DIR=$work/checkout/.local ANALYTICS_REDIS_PORT=26379 ANALYTICS_AMQP_PORT=25675 \
  ANALYTICS_AMQP_DIST_PORT=35675 ANALYTICS_PG_PORT=25432
"$LOCAL/stores.sh" up >/dev/null 2>"$work/stores.log" || { cat "$work/stores.log" >&2; fail "stores.sh up under a 0700 dir"; }
/usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p 25432 -U postgres -d postgres -tAc 'SELECT 1' | grep -qx 1 ||
  fail "postgres does not answer"
grep -q "its files are in /var/tmp/analytics-postgres-" "$work/stores.log" || fail "stores.sh did not say where postgres's files went"
"$LOCAL/stores.sh" down >/dev/null 2>&1
echo "setup-tests: the stores start from a checkout under a 0700 directory"
