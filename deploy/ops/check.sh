#!/usr/bin/env bash
# The operations check, one entry point for `make test`:
#
#   tools        install/verify kubectl, the Python venv, CRD schemas, promtool (install-tools.sh)
#   k8s          render k8s/overlays/{dev,prod}, validate against Kubernetes and CRD
#                schemas plus policies, with a self-test of broken manifests
#                (validate-k8s.py); PrometheusRule in sync with rules.yml
#   dockerfile   structural lint of deploy/docker/Dockerfile (lint-dockerfile.py)
#   rules        promtool check rules + promtool test rules
#   dashboard    dashboard structure, and every panel query parsed by promtool
#   live         services from target/debug + a real Prometheus (scrape-test.sh):
#                metric names exist, PromQL queue depth = forwarder's, rules
#                evaluate, graceful SIGTERM
#
# Every step runs even when an earlier one failed (except what needs the
# tools); exit status 1 if any failed. Needs `cargo build --bins` first for the
# live step; `--no-live` skips it. Takes about 20 s when the tools are installed.
set -euo pipefail

SCRIPT_DIR=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
REPO=$(cd "$SCRIPT_DIR/../.." && pwd -P)
cd "$REPO"

LIVE=1
for arg in "$@"; do
  case $arg in
    --no-live) LIVE= ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--no-live]" >&2; exit 2 ;;
  esac
done

RESULTS=()
FAILED=0
PASSED=0

# step NAME FUNCTION: run it, time it, remember PASS/FAIL.
step() {
  local name=$1 start=$EPOCHREALTIME status=PASS elapsed
  echo "== $name" >&2
  "$2" || status=FAIL
  elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  RESULTS+=("$(printf '%-11s %s  %5s s' "$name" "$status" "$elapsed")")
  if [ "$status" = PASS ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
}

tools() {
  local out
  out=$("$SCRIPT_DIR/install-tools.sh") || return 1
  eval "$out" # OPS_PYTHON, OPS_KUBECTL, OPS_SCHEMAS
  export OPS_PYTHON
}

k8s() {
  local ok=0
  "$OPS_PYTHON" "$SCRIPT_DIR/gen-prometheusrule.py" --check || ok=1
  "$OPS_PYTHON" "$SCRIPT_DIR/validate-k8s.py" --kubectl "$OPS_KUBECTL" --schemas "$OPS_SCHEMAS" \
    --self-test k8s/overlays/dev k8s/overlays/prod || ok=1
  return $ok
}

dockerfile() { "$OPS_PYTHON" "$SCRIPT_DIR/lint-dockerfile.py"; }

rules() {
  promtool check rules deploy/prometheus/rules.yml >&2 && promtool test rules deploy/prometheus/rules_test.yml >&2
}

dashboard() {
  local tmp rc=0
  tmp=$(mktemp --suffix=.yml)
  "$OPS_PYTHON" "$SCRIPT_DIR/promql.py" lint-dashboard "$tmp" || rc=1
  promtool check rules "$tmp" >/dev/null || { promtool check rules "$tmp" >&2 || true; rc=1; }
  [ $rc -eq 0 ] && echo "dashboard: $(grep -c 'record:' "$tmp") panel queries parse, structure OK" >&2
  rm -f "$tmp"
  return $rc
}

live() { "$SCRIPT_DIR/scrape-test.sh"; }

main() {
  local start=$EPOCHREALTIME
  step tools tools
  if [ "$FAILED" -ne 0 ]; then
    echo "ops-check: tools could not be installed; nothing else can run" >&2
  else
    step k8s k8s
    step dockerfile dockerfile
    step rules rules
    step dashboard dashboard
    if [ -n "$LIVE" ]; then step live live; fi
  fi
  echo >&2
  echo "ops-check summary ($(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s):"
  printf '  %s\n' "${RESULTS[@]}"
  echo "ops-check: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

main
