#!/usr/bin/env bash
# Installs the panel's npm packages (npm ci) and builds it (next build), each
# only when needed: node_modules older than package-lock.json, or a source
# file newer than the last build. Used by deploy/local/stack.sh.
set -euo pipefail
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
ensure_node_modules
ensure_build
