#!/usr/bin/env bash
# The Django integration's tests, against the running test stack.
# Called by `make test` after `deploy/local/e2e.sh up`. Creates (once) a venv
# in .local/venv-django with the package installed editable, sources
# .local/e2e/stack.env and runs pytest. Extra arguments go to pytest
# (e.g. `-m "not e2e"` runs only the tests that need no stack).
set -euo pipefail
HERE=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
VENV=${DJANGO_VENV:-$REPO/.local/venv-django}
STACK_ENV=$REPO/.local/e2e/stack.env

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# Reinstall only when the package definition changed.
STAMP=$VENV/.analytics-django-installed
if [ ! -f "$STAMP" ] || [ "$HERE/pyproject.toml" -nt "$STAMP" ]; then
  log=$(mktemp)
  "$VENV/bin/pip" install -q --disable-pip-version-check -e "$HERE[test]" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  rm -f "$log"
  touch "$STAMP"
fi

if [ ! -f "$STACK_ENV" ]; then
  echo "run-tests: $STACK_ENV is missing: start the test stack first (deploy/local/e2e.sh up)" >&2
  exit 1
fi
set -a
# shellcheck disable=SC1090
. "$STACK_ENV"
set +a
# Ingest's health is on its ops port, beside its metrics.
health=${INGEST_METRICS_URL%/metrics}/healthz
if ! curl -sf -o /dev/null "$health"; then
  echo "run-tests: ingest does not answer at $health: start the test stack (deploy/local/e2e.sh up)" >&2
  exit 1
fi
export ANALYTICS_CTL=${ANALYTICS_CTL:-$REPO/target/debug/analytics-ctl}

cd "$HERE"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
