"""The old system's own Visit table, imported (issue: bring the history
along). Requests through the rebuilt old middleware and its drain
(tests/oldsystem) fill a real `analytics_visit` table in Postgres;
`analytics-ctl import django` brings it into a new site. Per day, the
pages, countries, sources and visitors of the rollups must equal SQL over
the source table (crawlers aside, which the new system does not count),
after a run stopped half-way and its continuation, and again after a
further run."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

import stack

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
REQUESTS = 600
COUNTED = "FROM analytics_visit WHERE user_agent NOT LIKE '%%Googlebot%%'"
DAY = "(timestamp AT TIME ZONE 'UTC')::date::text"
# The new system splits the web by the user agent: phones are mobile web.
SOURCE = "CASE WHEN source = 'app' THEN 'app' WHEN user_agent ~ '(iPhone|Android)' THEN 'mobile_web' ELSE 'web' END"


@pytest.fixture
def old_database():
    """A database of its own for the old site, dropped afterwards."""
    url = stack.env()["ANALYTICS__POSTGRES__URL"]
    name = f"old_django_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def fill(old_url):
    """The old site's traffic, drained into its table; the rows stored."""
    redis = stack.env()["ANALYTICS__REDIS__URL"].rstrip("/")
    env = {
        **os.environ,
        "OLD_DATABASE_URL": old_url,
        # A database number of its own on the stack's Redis, for the old queue and sessions.
        "OLD_REDIS_URL": f"{redis}/8",
        "GEOIP_MMDB": os.environ.get("ANALYTICS__INGEST__GEOIP_DATABASE", ""),
        "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent / "bench")]),
    }
    out = subprocess.run([sys.executable, "-m", "oldsystem.fill", str(REQUESTS)], cwd=HERE, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["stored"]


def import_django(old_url, site, *args):
    env = {**stack.env(), "ANALYTICS__IMPORT__UA_REGEXES": stack.env()["ANALYTICS__AGGREGATOR__UA_REGEXES"],
           "ANALYTICS__IMPORT__CHUNK_ROWS": "64"}
    out = subprocess.run([stack.ctl(), "import", "django", "--database-url", old_url, "--site", site["id"], *args],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def source_figures(old_url):
    """(dimension, day, value) -> (pageviews, visitors), by SQL over the Visit table."""
    figures = {}
    with psycopg.connect(old_url) as db:
        for dimension, value in [("page", "path"), ("country", "coalesce(upper(country), 'unknown')"),
                                 ("source", SOURCE)]:
            rows = db.execute(f"SELECT {DAY}, {value}, count(*), count(DISTINCT session_key) {COUNTED} GROUP BY 1, 2")
            figures.update({(dimension, day, v): (n, who) for day, v, n, who in rows})
    return figures


def rollup_figures(site):
    """The same, from the new site's rollups."""
    sums = "sum(pageviews)::int8, round(hll_cardinality(hll_union_agg(visitors)))::int8"
    figures = {}
    with psycopg.connect(stack.env()["ANALYTICS__POSTGRES__URL"]) as db:
        for dimension in ("page", "country"):
            rows = db.execute(f"SELECT local_day::text, value, {sums} FROM daily_dimensions "
                              "WHERE site_id = %s AND dimension = %s GROUP BY 1, 2", (site["id"], dimension))
            figures.update({(dimension, day, v): (n, who) for day, v, n, who in rows})
        rows = db.execute(f"SELECT local_day::text, source, {sums} FROM daily_totals WHERE site_id = %s GROUP BY 1, 2",
                          (site["id"],))
        figures.update({("source", day, v): (n, who) for day, v, n, who in rows})
    return figures


def test_the_old_visit_table_imports_equal_per_day_page_country_and_source(old_database):
    site = stack.create_site()
    stored = fill(old_database)
    expected = source_figures(old_database)
    assert stored > REQUESTS // 2, "the old middleware stored most requests"
    assert {v for d, _, v in expected if d == "source"} == {"app", "web", "mobile_web"}
    assert not any(v.startswith(("/static/", "/admin/")) for d, _, v in expected if d == "page"), "excluded by the old system"
    assert len({day for _, day, _ in expected}) == 8
    assert len({v for d, _, v in expected if d == "country"} - {"unknown"}) >= 3, "countries from addresses"

    half = import_django(old_database, site, "--max-rows", str(stored // 2))
    assert half["rows_read"] == stored // 2, half
    rest = import_django(old_database, site)
    assert half["rows_read"] + rest["rows_read"] == stored, rest
    crawled = half["dropped"].get("crawler", 0) + rest["dropped"].get("crawler", 0)
    with psycopg.connect(old_database) as db:
        assert crawled == db.execute("SELECT count(*) FROM analytics_visit WHERE user_agent LIKE '%Googlebot%'").fetchone()[0]
    assert rollup_figures(site) == expected

    again = import_django(old_database, site)
    assert again["rows_read"] == 0, again
    assert rollup_figures(site) == expected
