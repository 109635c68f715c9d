"""The running test stack (.local/e2e/stack.env, sourced by run-tests.sh):
a fresh site per test, and the query API polled with a deadline."""

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
NEEDED = ("INGEST_URL", "QUERY_URL", "INGEST_KEY")


def env():
    missing = [k for k in NEEDED if not os.environ.get(k)]
    if missing:
        raise RuntimeError(
            f"the test stack's settings are missing ({', '.join(missing)}): run `deploy/local/e2e.sh up` "
            "and source .local/e2e/stack.env (integrations/django/run-tests.sh does both)")
    return os.environ


def ctl():
    """The analytics-ctl binary the stack was built with."""
    return os.environ.get("ANALYTICS_CTL", str(REPO / "target" / "debug" / "analytics-ctl"))


def create_site():
    """A new site (UTC) that ingest already knows: {id, api_token, domain}."""
    domain = f"dj-{uuid.uuid4().hex[:12]}.test"
    out = subprocess.run([ctl(), "site", "add", "--domain", domain, "--timezone", "UTC"],
                         check=True, capture_output=True, text=True, env=env()).stdout
    site = json.loads(out)
    _wait_until_ingest_knows(site["id"])
    return site


def _wait_until_ingest_knows(site_id, timeout=40):
    # An event without a path: refused as "unknown site" until ingest has
    # loaded the site, then for the missing path. Nothing is counted.
    deadline = time.monotonic() + timeout
    body = json.dumps({"events": [{"site": site_id, "type": "pageview"}]}).encode()
    while True:
        request = urllib.request.Request(env()["INGEST_URL"] + "/v1/events", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                answer = json.loads(r.read())
            if "unknown site" not in json.dumps(answer):
                return
        except urllib.error.HTTPError as e:
            if "unknown site" not in e.read().decode("utf-8", "replace"):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"ingest does not know site {site_id} after {timeout} s")
        time.sleep(0.5)


def query(site, endpoint, **params):
    qs = urllib.parse.urlencode({"site": site["id"], **params})
    request = urllib.request.Request(f"{env()['QUERY_URL']}/api/analytics/{endpoint}/?{qs}",
                                     headers={"Authorization": f"Bearer {site['api_token']}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def breakdown(site, dimension):
    """{value: (pageviews, visitors)} for today."""
    rows = query(site, "breakdown", dimension=dimension, days=1, limit=100)["results"]
    return {row["value"]: (row["pageviews"], row["visitors"]) for row in rows}


def poll(fetch, expected, timeout=30):
    """fetch() until it equals expected (the aggregator applies within ~2 s);
    returns the last value so a failing assert shows it."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.25)
