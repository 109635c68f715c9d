#!/usr/bin/env bash
# `make bench`: runs every benchmark on this machine and rewrites
# docs/BENCHMARKS.md with the results and the conditions they were taken in.
# Each benchmark reports against a ceiling measured in the same run.
set -euo pipefail
REPO=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../.." && pwd -P)
cd "$REPO"
out=docs/BENCHMARKS.md
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

cargo bench -p analytics-testkit --bench pipeline --quiet -- "$@" >"$tmp"

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (\`deploy/bench/run.sh\`); every figure is a ratio to a"
  echo "ceiling measured in the same run, on the same machine, against the private stores"
  echo "that \`make up\` starts (Redis with AOF everysec, single-node RabbitMQ, Postgres with"
  echo "fsync off)."
  echo
  echo "- Date: $(date -u +%Y-%m-%d) ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo "- CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "- Memory: $(free -g | awk '/^Mem:/ {print $2}') GiB"
  echo "- Build: release profile; load generator, service and stores share the machine"
  echo
  cat "$tmp"
} >"$out"
echo "bench: wrote $out"
