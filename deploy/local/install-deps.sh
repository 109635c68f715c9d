#!/usr/bin/env bash
# Installs the Debian packages the local/CI store setup (stores.sh) and the
# load tests need. Idempotent and fast: when everything is present it only runs
# `dpkg -s` per package (no apt-get update, no network).
#
# Note: on Debian, installing redis-server / rabbitmq-server / postgresql also
# enables and starts their *system* services on the default ports. That is
# harmless: stores.sh runs its own private instances on other ports.
set -euo pipefail

PACKAGES=(
  redis-server redis-tools
  rabbitmq-server
  postgresql postgresql-15-hll postgresql-contrib
  wrk prometheus
  curl ca-certificates openssl
)

# Node.js builds the tracker and the panel; a machine that has its own node
# (nvm, NodeSource) keeps it.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already present"
  exit 0
fi

# We are normally root (CI containers, dev VM); fall back to sudo otherwise.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: missing ${missing[*]} and not root (no sudo available)" >&2
    exit 1
  fi
fi

# Quiet apt; its output goes to stderr only when it fails, to keep the one-line
# contract on stdout. DPkg::Lock::Timeout waits for a concurrent apt/dpkg run
# instead of failing immediately.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${SUDO[@]}" apt-get update -qq \
       && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends \
            -o DPkg::Lock::Timeout=300 "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-deps: FAILED installing ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installed ${missing[*]}"
