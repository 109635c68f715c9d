#!/usr/bin/env bash
# Benchmark of the Django middleware (make bench): gunicorn + wrk, tracking
# off vs analytics_django vs the rebuilt old middleware, in one run. Needs the
# test stack (deploy/local/e2e.sh up) for ingest, and the private Redis on
# 16379 for the old middleware (db 7, flushed before and after). Prints a
# Markdown section on stdout. About 5 minutes; knobs: DUR LAT_DUR REPS.
set -euo pipefail
HERE=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")" && pwd -P)
REPO=$(cd "$HERE/../../.." && pwd -P)
VENV=${DJANGO_VENV:-$REPO/.local/venv-django}
STACK_ENV=$REPO/.local/e2e/stack.env

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2; }
command -v redis-cli >/dev/null || { echo "bench: redis-cli missing (make stores installs it)" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
log=$(mktemp)
"$VENV/bin/pip" install -q --disable-pip-version-check -e "$HERE/..[test]" gunicorn redis django-redis maxminddb \
  >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
rm -f "$log"

if [ ! -f "$STACK_ENV" ]; then
  echo "bench: $STACK_ENV missing: start the test stack first (deploy/local/e2e.sh up)" >&2
  exit 1
fi
set -a
# shellcheck disable=SC1090
. "$STACK_ENV"
set +a
# Ingest's health is on its ops port, beside its metrics.
curl -sf -o /dev/null "${INGEST_METRICS_URL%/metrics}/healthz" || { echo "bench: ingest does not answer at $INGEST_METRICS_URL" >&2; exit 1; }
redis-cli -p "${BENCH_REDIS_PORT:-16379}" ping >/dev/null || { echo "bench: no Redis on ${BENCH_REDIS_PORT:-16379}" >&2; exit 1; }
export ANALYTICS_CTL=${ANALYTICS_CTL:-${ANALYTICS_BIN_DIR:-$REPO/target/debug}/analytics-ctl}

exec "$VENV/bin/python" "$HERE/bench.py"
