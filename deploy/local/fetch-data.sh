#!/usr/bin/env bash
# Data files the services read at start, fetched once from the npm registry
# into .local/data/ (or $ANALYTICS_DATA_DIR):
#   regexes.yaml          user-agent patterns of the uap-core package (Apache-2.0)
#   country.mmdb          IP to country, ip-location-db's geo-whois-asn-country
#                         (data CC BY 4.0 by the NRO, nro.net)
# and, with --test-cases (`make test` asks; a running stack needs none):
#   uap-core-tests/       uap-core's own test cases with the regexes.yaml they
#                         were written for, as bundled in the uaparser crate on
#                         crates.io (for the aggregator's uap.rs)
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

# uap-core's test cases are not in its npm package; the uaparser crate bundles
# a uap-core checkout with them. Pinned by checksum.
UAP_TESTS_CRATE=uaparser-0.6.4
UAP_TESTS_SHA256=a4c9e1c3f893758f154004195fc2d2c52fbda462df725220ceaef830ac29affa
if [ "${1:-}" = --test-cases ] && [ ! -s "$DATA/uap-core-tests/test_device.yaml" ]; then
  work=$(mktemp -d)
  curl -fsSL --retry 3 -o "$work/crate.tgz" "https://static.crates.io/crates/uaparser/$UAP_TESTS_CRATE.crate"
  echo "$UAP_TESTS_SHA256  $work/crate.tgz" | sha256sum -c --quiet
  core=$UAP_TESTS_CRATE/src/core
  tar xzf "$work/crate.tgz" -C "$work" "$core/regexes.yaml" "$core/tests" "$core/test_resources"
  mkdir -p "$DATA/uap-core-tests.tmp"
  cp "$work/$core/regexes.yaml" "$work/$core"/tests/test_*.yaml "$DATA/uap-core-tests.tmp/"
  for f in firefox_user_agent_strings opera_mini_user_agent_strings podcasting_user_agent_strings pgts_browser_list additional_os_tests; do
    cp "$work/$core/test_resources/$f.yaml" "$DATA/uap-core-tests.tmp/"
  done
  rm -rf "$DATA/uap-core-tests" && mv "$DATA/uap-core-tests.tmp" "$DATA/uap-core-tests"
  rm -rf "$work"
  echo "fetch-data: uap-core-tests from $UAP_TESTS_CRATE" >&2
fi
