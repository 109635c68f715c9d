"""What the middleware records for a request, and which requests it skips.
No ingest needed: the sender is pointed at a fake one and the events it
receives are inspected."""

import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from analytics_django import conf
from conftest import current_tracker

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
DART = "Dart/3.4 (dart:io)"
ALLOWED_KEYS = {  # ingest's native event schema (deny_unknown_fields)
    "site", "type", "name", "url", "path", "title", "referrer", "source", "app", "timestamp",
    "timing", "authenticated", "props", "ip", "user_agent",
}


def sent(ingest, n=1):
    assert current_tracker().flush(5), "queue did not empty"
    assert ingest.wait_for(lambda f: len(f.events()) >= n)
    return ingest.events()


def test_a_guest_page_view_carries_everything_ingest_needs(client, analytics, ingest):
    analytics(INGEST_URL=ingest.url, INGEST_KEY="k-123", SITE="site-1")
    before = time.time() * 1000
    r = client.get("/p/home", HTTP_USER_AGENT=CHROME, HTTP_REFERER="https://www.google.com/",
                   REMOTE_ADDR="8.8.8.8")
    assert r.status_code == 200
    [event] = sent(ingest)
    headers = ingest.requests[0][0]
    assert headers["X-Ingest-Key"] == "k-123"
    assert headers["Idempotency-Key"]
    assert set(event) <= ALLOWED_KEYS
    assert event["site"] == "site-1"
    assert event["type"] == "pageview"
    assert event["path"] == "/p/home"
    assert event["source"] == "web"
    assert event["ip"] == "8.8.8.8"
    assert event["user_agent"] == CHROME
    assert event["referrer"] == "https://www.google.com/"
    assert event["authenticated"] is False
    assert event["props"] == {"method": "GET", "status": 200}
    assert before - 1 <= event["timestamp"] <= time.time() * 1000 + 1
    assert isinstance(event["timing"]["response_ms"], int) and event["timing"]["response_ms"] >= 0


@pytest.mark.parametrize("headers", [
    {"HTTP_AUTHORIZATION": "Bearer abc", "HTTP_USER_AGENT": CHROME},
    {"HTTP_X_APP_SOURCE": "ios", "HTTP_USER_AGENT": CHROME},
    {"HTTP_USER_AGENT": DART},
    {"HTTP_USER_AGENT": "MyShop/2.1 react-native okhttp/4"},
], ids=["bearer", "x-app-source", "dart-ua", "react-native-ua"])
def test_app_requests_are_app_and_count_only_under_api(client, analytics, ingest, headers):
    analytics(INGEST_URL=ingest.url)
    client.get("/p/not-api", **headers)  # app traffic outside /api/: not counted, as before
    client.get("/api/ping", **headers)
    events = sent(ingest)
    assert [(e["path"], e["source"]) for e in events] == [("/api/ping", "app")]


def test_the_app_says_its_platform_and_version_in_headers(client, analytics, ingest):
    analytics(INGEST_URL=ingest.url)
    client.get("/api/p/a", HTTP_USER_AGENT=DART, HTTP_X_APP_PLATFORM="ios", HTTP_X_APP_VERSION="2.1.0")
    client.get("/api/p/b", HTTP_USER_AGENT=DART, HTTP_X_APP_VERSION="2.0.0")  # version only
    client.get("/api/p/c", HTTP_USER_AGENT=DART)  # says nothing: no app object
    client.get("/p/web", HTTP_USER_AGENT=CHROME, HTTP_X_APP_PLATFORM="ios")  # web traffic: ignored
    events = sent(ingest, 4)
    assert [(e["path"], e.get("app")) for e in events] == [
        ("/api/p/a", {"platform": "ios", "version": "2.1.0"}),
        ("/api/p/b", {"version": "2.0.0"}),
        ("/api/p/c", None),
        ("/p/web", None),
    ]


def test_the_app_headers_can_be_renamed_and_must_be_header_names(client, analytics, ingest):
    analytics(INGEST_URL=ingest.url, APP_PLATFORM_HEADER="X-Client-OS", APP_VERSION_HEADER="X-Build")
    client.get("/api/p/a", HTTP_USER_AGENT=DART, HTTP_X_CLIENT_OS="android", HTTP_X_BUILD="905",
               HTTP_X_APP_PLATFORM="ios")
    [event] = sent(ingest)
    assert event["app"] == {"platform": "android", "version": "905"}
    with pytest.raises(ImproperlyConfigured, match="APP_VERSION_HEADER"):
        conf.load({"INGEST_URL": "http://x", "INGEST_KEY": "k", "SITE": "s", "APP_VERSION_HEADER": "X Build"})


def test_app_paths_empty_counts_app_traffic_everywhere(client, analytics, ingest):
    analytics(INGEST_URL=ingest.url, APP_PATHS=[])
    client.get("/p/x", HTTP_USER_AGENT=DART)
    assert [e["source"] for e in sent(ingest)] == ["app"]


def test_user_agents_are_remembered_and_the_memory_is_bounded(analytics, ingest, monkeypatch):
    from django.http import HttpResponse
    from django.test import RequestFactory

    from analytics_django import middleware

    analytics(INGEST_URL=ingest.url, APP_PATHS=[])
    monkeypatch.setattr(middleware, "APP_AGENTS_REMEMBERED", 3)
    mw = middleware.AnalyticsMiddleware(lambda request: HttpResponse("x"))
    agents = [CHROME, DART, CHROME, DART, "a", "b", "Flutter/3", "d", DART, CHROME, "Flutter/3"]
    sizes = []
    for agent in agents:
        mw(RequestFactory().get("/p", HTTP_USER_AGENT=agent))
        sizes.append(len(mw._app_agents))
    assert max(sizes) == 3
    events = sent(ingest, len(agents))
    assert [e["source"] for e in events] == ["app" if agent in (DART, "Flutter/3") else "web" for agent in agents]


def test_excluded_paths_methods_and_errors_are_not_counted(client, analytics, ingest):
    analytics(INGEST_URL=ingest.url)
    client.get("/admin/x")
    client.get("/static/app.js")
    client.options("/p/a")
    client.get("/nope")  # 404
    with pytest.raises(RuntimeError):
        client.get("/boom")  # 500 (the test client re-raises)
    client.get("/redirect")  # 302 counts
    client.post("/api/ping", HTTP_USER_AGENT=DART)  # POSTs count, with their method
    client.get("/p/last")
    events = sent(ingest, 3)
    assert [(e["path"], e["props"]["method"], e["props"]["status"]) for e in events] == [
        ("/redirect", "GET", 302), ("/api/ping", "POST", 200), ("/p/last", "GET", 200)]


def test_track_errors_counts_4xx(client, analytics, ingest):
    analytics(INGEST_URL=ingest.url, TRACK_ERRORS=True, EXCLUDED_PATHS=["/static/"])
    client.get("/nope")
    client.get("/admin/x")
    assert [(e["path"], e["props"]["status"]) for e in sent(ingest, 2)] == [("/nope", 404), ("/admin/x", 200)]


class TestClientIp:
    def ip(self, client, ingest, **meta):
        client.get("/p/ip", **meta)
        return sent(ingest)[-1]["ip"]

    def test_forwarded_for_is_ignored_without_trusted_proxies(self, client, analytics, ingest):
        analytics(INGEST_URL=ingest.url)
        assert self.ip(client, ingest, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="8.8.8.8") == "10.0.0.5"

    def test_behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client(self, client, analytics, ingest):
        analytics(INGEST_URL=ingest.url, TRUSTED_PROXIES=["10.0.0.0/8", "192.168.1.1"])
        # The visitor claims 1.1.1.1 themself; the proxy chain appended 8.8.8.8 and 192.168.1.1.
        ip = self.ip(client, ingest, REMOTE_ADDR="10.0.0.5",
                     HTTP_X_FORWARDED_FOR="1.1.1.1, 8.8.8.8, 192.168.1.1")
        assert ip == "8.8.8.8"

    def test_an_untrusted_peer_cannot_spoof(self, client, analytics, ingest):
        analytics(INGEST_URL=ingest.url, TRUSTED_PROXIES=["10.0.0.0/8"])
        assert self.ip(client, ingest, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="8.8.8.8") == "203.0.113.9"

    def test_ports_and_garbage_in_the_header(self, client, analytics, ingest):
        analytics(INGEST_URL=ingest.url, TRUSTED_PROXIES=["10.0.0.0/8"])
        assert self.ip(client, ingest, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="8.8.4.4:5123") == "8.8.4.4"
        assert self.ip(client, ingest, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="evil, 10.0.0.7") == "10.0.0.7"
        assert self.ip(client, ingest, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="[2001:db8::1]:443") == "2001:db8::1"

    def test_unix_socket_peer(self, client, analytics, ingest):
        analytics(INGEST_URL=ingest.url, TRUSTED_PROXIES=["unix"])
        assert self.ip(client, ingest, REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="8.8.8.8") == "8.8.8.8"


class TestAuthenticated:
    def test_an_unresolved_user_is_a_guest_and_the_session_is_never_loaded(self, analytics, ingest, monkeypatch):
        from django.contrib.sessions.backends.cache import SessionStore

        loads = []
        monkeypatch.setattr(SessionStore, "load", lambda self: loads.append(1) or {})
        analytics(INGEST_URL=ingest.url)
        client = Client()
        client.cookies["sessionid"] = "x" * 32
        client.get("/p/with-cookie")
        [event] = sent(ingest)
        assert event["authenticated"] is False
        assert loads == []

    @pytest.mark.django_db
    def test_a_signed_in_user_whose_user_was_resolved_is_skipped(self, client, analytics, ingest, django_user_model):
        analytics(INGEST_URL=ingest.url)
        client.force_login(django_user_model.objects.create(username="u"))
        client.get("/whoami")  # the view resolves request.user
        client.get("/p/after")
        assert [e["path"] for e in sent(ingest)] == ["/p/after"]

    def test_token_auth_like_drf_is_seen(self, client, analytics, ingest):
        analytics(INGEST_URL=ingest.url)
        client.get("/api/token", HTTP_AUTHORIZATION="Bearer good-token")  # signed in: skipped
        client.get("/api/token", HTTP_AUTHORIZATION="Bearer unknown")
        events = sent(ingest)
        assert [(e["path"], e["authenticated"], e["source"]) for e in events] == [("/api/token", False, "app")]

    def test_track_authenticated_sends_the_flag(self, client, analytics, ingest):
        analytics(INGEST_URL=ingest.url, TRACK_AUTHENTICATED=True)
        client.get("/api/token", HTTP_AUTHORIZATION="Bearer good-token")
        assert [e["authenticated"] for e in sent(ingest)] == [True]


@pytest.mark.parametrize("raw, message", [
    ({"INGEST_URL": "http://x", "INGEST_KEY": "k", "SITE": "s", "QUEUE_SIZ": 5}, "unknown keys"),
    ({"INGEST_URL": "http://x", "SITE": "s"}, "INGEST_KEY"),
    ({"INGEST_URL": "ftp://x", "INGEST_KEY": "k", "SITE": "s"}, "http(s) URL"),
    ({"INGEST_URL": "http://x", "INGEST_KEY": "k", "SITE": "s", "TRUSTED_PROXIES": ["nope"]}, "TRUSTED_PROXIES"),
    ({"INGEST_URL": "http://x", "INGEST_KEY": "k", "SITE": "s", "EXCLUDED_PATHS": "/admin/"}, "list"),
    ({"INGEST_URL": "http://x", "INGEST_KEY": "k", "SITE": "s", "BATCH_SIZE": 500}, "BATCH_SIZE"),
    ({"INGEST_URL": "http://x", "INGEST_KEY": "k\r\nEvil: 1", "SITE": "s"}, "INGEST_KEY must not contain"),
])
def test_bad_settings_fail_at_start_naming_the_key(raw, message):
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        conf.load(raw)


def test_settings_accept_base_or_full_url_and_hide_the_key():
    c = conf.load({"INGEST_URL": "http://ingest:8081/", "INGEST_KEY": "secret", "SITE": "s"})
    assert c.ingest_url == "http://ingest:8081/v1/events"
    assert conf.load({"INGEST_URL": "https://i/v1/events", "INGEST_KEY": "k", "SITE": "s"}).ingest_url == "https://i/v1/events"
    assert "secret" not in repr(c)


def test_under_asgi_the_middleware_runs_async(analytics, ingest):
    import asyncio

    from django.test import AsyncClient

    analytics(INGEST_URL=ingest.url)
    response = asyncio.run(AsyncClient().get("/p/async", headers={"User-Agent": CHROME}))
    assert response.status_code == 200
    [event] = sent(ingest)
    assert (event["path"], event["source"], event["user_agent"]) == ("/p/async", "web", CHROME)
