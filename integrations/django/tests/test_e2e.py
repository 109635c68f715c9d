"""Against the real ingest, forwarder, aggregator and query API of the test
stack: what the middleware sends arrives, with the right path, source,
country and visitor. Each test has its own site, so every count is exact."""

import uuid

import pytest
from django.test import Client

import analytics_django
from conftest import current_tracker
import stack

pytestmark = pytest.mark.e2e

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")
DART = "Dart/3.4 (dart:io)"


@pytest.fixture
def site(analytics):
    """A fresh site, and the middleware pointed at the real ingest for it."""
    env = stack.env()
    created = stack.create_site()
    analytics(INGEST_URL=env["INGEST_URL"], INGEST_KEY=env["INGEST_KEY"], SITE=created["id"])
    return created


def delivered(n):
    assert current_tracker().flush(15), f"not delivered: {analytics_django.stats()}"
    s = current_tracker().stats()
    assert (s["sent"], s["rejected"]) == (n, 0), s


def test_pageviews_arrive_with_path_source_country_and_visitor(site):
    path = f"/p/{uuid.uuid4().hex}"
    for _ in range(3):
        Client().get(path, REMOTE_ADDR="8.8.8.8", HTTP_USER_AGENT=CHROME)
    for _ in range(2):
        Client().get(path, REMOTE_ADDR="81.2.69.160", HTTP_USER_AGENT=IPHONE)
    delivered(5)
    assert stack.poll(lambda: stack.breakdown(site, "page"), {path: (5, 2)}) == {path: (5, 2)}
    assert stack.breakdown(site, "source") == {"web": (3, 1), "mobile_web": (2, 1)}
    assert stack.breakdown(site, "country") == {"US": (3, 1), "GB": (2, 1)}
    today = stack.query(site, "overview")["today"]
    assert (today["pageviews"], today["visitors"]) == (5, 2)


def test_app_calls_are_app(site):
    path = f"/api/p/{uuid.uuid4().hex}"
    Client().get(path, REMOTE_ADDR="9.9.9.9", HTTP_USER_AGENT=DART, HTTP_AUTHORIZATION="Bearer t")
    Client().get(path, REMOTE_ADDR="9.9.9.9", HTTP_USER_AGENT=CHROME, HTTP_X_APP_SOURCE="ios")
    Client().get(f"/p/{uuid.uuid4().hex}", REMOTE_ADDR="9.9.9.9", HTTP_USER_AGENT=DART)  # app, not /api/: skipped
    delivered(2)
    expected = {"app": (2, 2)}  # two user agents: two visitors
    assert stack.poll(lambda: stack.breakdown(site, "source"), expected) == expected
    assert stack.breakdown(site, "page") == {path: (2, 2)}


def test_the_apps_platform_and_version_reach_the_rollups(site):
    path = f"/api/p/{uuid.uuid4().hex}"
    Client().get(path, REMOTE_ADDR="9.9.9.9", HTTP_USER_AGENT=DART, HTTP_X_APP_PLATFORM="ios", HTTP_X_APP_VERSION="2.1.0")
    Client().get(path, REMOTE_ADDR="9.9.9.8", HTTP_USER_AGENT=DART, HTTP_X_APP_PLATFORM="android",
                 HTTP_X_APP_VERSION="2.0.0")
    Client().get(path, REMOTE_ADDR="9.9.9.7", HTTP_USER_AGENT=DART)  # says nothing: an unknown device
    delivered(3)
    versions = {"2.1.0": (1, 1), "2.0.0": (1, 1)}
    assert stack.poll(lambda: stack.breakdown(site, "app_version"), versions) == versions
    assert stack.breakdown(site, "device") == {"mobile": (2, 2), "unknown": (1, 1)}
    assert stack.breakdown(site, "os") == {"iOS": (1, 1), "Android": (1, 1), "Other": (1, 1)}
    # Every tracked response reports its status and time: release health per version.
    health = {r["version"]: (r["requests"], r["server_error_rate"], r["response"]["count"])
              for r in stack.query(site, "app-versions", days=1)["results"]}
    assert health == {"2.1.0": (1, 0.0, 1), "2.0.0": (1, 0.0, 1)}


def test_a_visitor_is_one_visitor_with_or_without_cookies(site):
    """The old middleware made a session, and so a visitor, per cookieless
    request; here the visitor is (site, IP, user agent) under a daily salt."""
    path = f"/p/{uuid.uuid4().hex}"
    for i in range(4):
        client = Client()
        if i % 2:
            client.cookies["sessionid"] = uuid.uuid4().hex  # a different (stale) cookie each time
        client.get(path, REMOTE_ADDR="8.8.4.4", HTTP_USER_AGENT=CHROME)
    delivered(4)
    assert stack.poll(lambda: stack.breakdown(site, "page"), {path: (4, 1)}) == {path: (4, 1)}


def test_forwarded_for_counts_only_behind_a_trusted_proxy(site, analytics, settings):
    analytics(**{**settings.ANALYTICS, "TRUSTED_PROXIES": ["10.0.0.0/8"]})
    trusted, untrusted = f"/p/{uuid.uuid4().hex}", f"/p/{uuid.uuid4().hex}"
    Client().get(trusted, REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="81.2.69.160", HTTP_USER_AGENT=CHROME)
    Client().get(untrusted, REMOTE_ADDR="192.168.7.7", HTTP_X_FORWARDED_FOR="8.8.8.8", HTTP_USER_AGENT=CHROME)
    delivered(2)
    expected = {"GB": (1, 1), "unknown": (1, 1)}  # the untrusted peer's own, private, address
    assert stack.poll(lambda: stack.breakdown(site, "country"), expected) == expected


def test_signed_in_users_are_not_sent_by_default(site):
    path = "/api/token"
    Client().get(path, REMOTE_ADDR="8.8.8.8", HTTP_USER_AGENT=CHROME, HTTP_AUTHORIZATION="Bearer good-token")
    Client().get(path, REMOTE_ADDR="8.8.8.8", HTTP_USER_AGENT=CHROME, HTTP_AUTHORIZATION="Bearer guest")
    delivered(1)
    assert stack.poll(lambda: stack.breakdown(site, "page"), {path: (1, 1)}) == {path: (1, 1)}
