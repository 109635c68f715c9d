#!/usr/bin/env bash
# Data files the services read at start, fetched once from the npm registry
# into .local/data/ (or $ANALYTICS_DATA_DIR):
#   regexes.yaml          user-agent patterns of the uap-core package (Apache-2.0)
#   country.mmdb          IP to country, ip-location-db's geo-whois-asn-country
#                         (data CC BY 4.0 by the NRO, nro.net)
# Idempotent: a file already present is kept.
set -euo pipefail
REPO=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../.." && pwd -P)
DATA=${ANALYTICS_DATA_DIR:-$REPO/.local/data}
UAP_VERSION=0.18.0
GEO_VERSION=2.3.2026061719
mkdir -p "$DATA"

if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi

# fetch PACKAGE FILE_IN_PACKAGE TARGET
fetch() {
  local package=$1 inner=$2 target=$DATA/$3 work
  [ -s "$target" ] && return 0
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$package" >/dev/null && tar xzf ./*.tgz)
  cp "$work/package/$inner" "$target.tmp" && mv "$target.tmp" "$target"
  rm -rf "$work"
  echo "fetch-data: $3 from $package" >&2
}

fetch "uap-core@$UAP_VERSION" regexes.yaml regexes.yaml
fetch "@ip-location-db/geo-whois-asn-country-mmdb@$GEO_VERSION" geo-whois-asn-country.mmdb country.mmdb
