#!/usr/bin/env python3
"""Tiny client of the Prometheus HTTP API for scrape-test.sh.

  prom-api.py query BASE_URL PROMQL
      One line per series of the instant query: `<labels as JSON>\\t<value>`.
  prom-api.py rules BASE_URL
      Exit 0 and print the rule count when every rule has been evaluated with
      health "ok"; exit 3 while some have not been evaluated yet; exit 1 and
      name them when a rule fails to evaluate.
"""

import json
import sys
import urllib.parse
import urllib.request


def get(base, path, **params):
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=3) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise SystemExit(f"prometheus: {path}: {body}")
    return body["data"]


def query(base, promql):
    for series in get(base, "/api/v1/query", query=promql)["result"]:
        print(json.dumps(series["metric"], sort_keys=True) + "\t" + series["value"][1])
    return 0


def rules(base):
    found = [r for group in get(base, "/api/v1/rules")["groups"] for r in group["rules"]]
    broken = [f"{r['name']}: {r.get('lastError')}" for r in found if r.get("health") == "err"]
    if broken:
        print("rules failing to evaluate: " + "; ".join(broken), file=sys.stderr)
        return 1
    if not found or any(r.get("health") != "ok" for r in found):
        return 3
    print(len(found))
    return 0


def main(argv):
    if len(argv) == 3 and argv[0] == "query":
        return query(argv[1], argv[2])
    if len(argv) == 2 and argv[0] == "rules":
        return rules(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
