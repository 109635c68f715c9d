#!/usr/bin/env bash
# `make bench`: runs the benchmarks on this machine and writes their sections
# into docs/BENCHMARKS.md. Each benchmark reports against a ceiling measured
# in the same run. `deploy/bench/run.sh ingest query django` runs only those
# parts and replaces only their sections; the others keep their earlier
# results, each dated with the day and commit it was measured at. Sections:
# ingest, forwarder, aggregator, query, import, segments, steady, overload (Rust)
# and django.
set -euo pipefail
REPO=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../.." && pwd -P)
cd "$REPO"
out=docs/BENCHMARKS.md
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

command -v wrk >/dev/null || deploy/local/install-deps.sh
# The Rust benchmarks: ingest, forwarder, aggregator, query (all when no names are given).
rust=()
for what in "$@"; do [ "$what" = django ] || rust+=("$what"); done
if [ $# -eq 0 ] || [ ${#rust[@]} -gt 0 ]; then
  # The overload section runs the services as their release binaries.
  cargo build --release --bins --quiet
  cargo bench -p analytics-e2e --bench pipeline --quiet -- "${rust[@]}" >"$tmp"
fi
# The Django middleware next to the old one, against the end-to-end stack
# started on the release binaries for the occasion.
if [ $# -eq 0 ] || [[ " $* " == *" django "* ]]; then
  cargo build --release --bins --quiet
  deploy/local/e2e.sh down >/dev/null 2>&1 || true # a test stack on the debug binaries
  export E2E_BIN_DIR=$REPO/target/release
  deploy/local/e2e.sh up >/dev/null
  ANALYTICS_BIN_DIR=$E2E_BIN_DIR integrations/django/bench/run.sh >>"$tmp" || { deploy/local/e2e.sh down >/dev/null; exit 1; }
  deploy/local/e2e.sh down >/dev/null
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
header=$(cat <<HEADER
# Benchmarks

Written by \`make bench\` (\`deploy/bench/run.sh\`); every figure is a ratio to a
ceiling measured in the same run, on the same machine, against the private stores
that \`make up\` starts, as durable as production runs them (Redis with AOF always,
single-node RabbitMQ with quorum queues, Postgres with fsync, synchronous_commit and
full_page_writes on).

- CPU: $(nproc) cores, ${cpu}
- Memory: $(free -g | awk '/^Mem:/ {print $2}') GiB
- Build: release profile; load generator, service and stores share the machine

The CPU above is the last run's. Each section is dated with the day, commit and
CPU it was measured on (sections dated without a CPU ran on a 2-core Intel Xeon VM
before 5b955d7, on 2-core AMD EPYC VMs from then until the stamps named the CPU).
The VMs differ by up to 2.7 times at the raw COPY ceiling: compare ratios, not
rates, across sections.
HEADER
)
stamp="_Measured $(date -u +%Y-%m-%d) at $(git rev-parse --short HEAD 2>/dev/null || echo unknown) on $(nproc) cores of ${cpu}._"

HEADER_TEXT=$header STAMP=$stamp python3 - "$out" "$tmp" <<'PY'
import os, re, sys
out, new = sys.argv[1], sys.argv[2]

def sections(text):
    """Sections by their '## ' heading, in order; text before the first is dropped."""
    parts = re.split(r'(?m)^(?=## )', text)
    return [(p.splitlines()[0], p.rstrip() + "\n") for p in parts if p.startswith("## ")]

old = sections(open(out).read()) if os.path.exists(out) else []
fresh = []
for heading, body in sections(open(new).read()):
    first, rest = body.split("\n", 1)
    fresh.append((heading, f"{first}\n\n{os.environ['STAMP']}\n{rest}"))
merged = dict(old)
order = [h for h, _ in old]
for heading, body in fresh:
    if heading not in merged:
        order.append(heading)
    merged[heading] = body
with open(out, "w") as f:
    f.write(os.environ["HEADER_TEXT"] + "\n\n" + "\n".join(merged[h] for h in order))
PY
echo "bench: wrote $out"
