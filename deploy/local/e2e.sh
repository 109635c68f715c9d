#!/usr/bin/env bash
# The end-to-end test stack: the four services from target/debug on their own
# ports, sharing the private stores of stack.sh but with their own Redis key
# prefix and AMQP names, so a developer's `make run` and `make test` can run
# side by side without taking each other's events. State: .local/e2e/
# (stack.env there has the URLs, the demo site, its token and the keys).
#
# Usage: deploy/local/e2e.sh up|down|status
set -euo pipefail
REPO=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../.." && pwd -P)

export ANALYTICS_STACK_DIR=$REPO/.local/e2e
# E2E_BIN_DIR=target/release for benchmarks.
export ANALYTICS_BIN_DIR=${E2E_BIN_DIR:-$REPO/target/debug}
export ANALYTICS_SKIP_BUILD=1
export ANALYTICS_KEEP_STORES=1
export INGEST_PORT=${E2E_INGEST_PORT:-18081} QUERY_PORT=${E2E_QUERY_PORT:-18082}
export FORWARDER_PORT=${E2E_FORWARDER_PORT:-19101} AGGREGATOR_PORT=${E2E_AGGREGATOR_PORT:-19102}
export INGEST_OPS_PORT=${E2E_INGEST_OPS_PORT:-19103} QUERY_OPS_PORT=${E2E_QUERY_OPS_PORT:-19104}
export DEMO_DOMAIN=e2e.example.com DEMO_TIMEZONE=Asia/Tehran
export ANALYTICS__REDIS__KEY_PREFIX=e2e: ANALYTICS__AMQP__NAMESPACE=e2e
# The browser tests load dashboards (each a dozen answers and more) as fast as
# a machine renders them, for many sites with one admin token: past the
# default 50 per second and 200 at once, a fast machine got 429s and a blank
# page. The limit itself is tested on its own (services/query/tests/it/auth.rs).
export ANALYTICS__QUERY__RATE_LIMIT_PER_SECOND=${E2E_QUERY_RATE_LIMIT:-1000} ANALYTICS__QUERY__RATE_LIMIT_BURST=${E2E_QUERY_RATE_BURST:-5000}

case "${1:-}" in
  up | down | status) exec "$REPO/deploy/local/stack.sh" "$1" ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
