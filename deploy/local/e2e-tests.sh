#!/usr/bin/env bash
# The end-to-end part of `make test`: the test stack (e2e.sh) restarted on
# the binaries just built, then the checks that need a whole running stack:
# the panel's API types against the live /openapi.json, the browser tests of
# the trackers and the panel, and the Django integration's tests. The stack
# is stopped again however they end.
set -euo pipefail
REPO=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../.." && pwd -P)
E2E=$REPO/deploy/local/e2e.sh

"$E2E" down >/dev/null 2>&1 || true
trap '"$E2E" down >/dev/null 2>&1 || true' EXIT
"$E2E" up >/dev/null

"$REPO/panel/scripts/check-types.sh"
"$REPO/panel/scripts/browser-test.sh"
"$REPO/integrations/django/run-tests.sh"
