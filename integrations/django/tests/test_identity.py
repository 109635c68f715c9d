"""Anonymous responses are byte for byte the same with and without the
middleware (status line, every header in order, body): no Set-Cookie, no
Vary: Cookie, no session created or loaded."""

import logging

import pytest
from django.contrib.sessions.backends.cache import SessionStore

import analytics_django
from conftest import current_tracker
from wsgi_util import application, call, environ, no_db_signals

CASES = {
    "page, no cookie": dict(path="/"),
    "page, head": dict(method="HEAD", path="/p/x"),
    "page behind a proxy": dict(path="/p/y", headers={"X-Forwarded-For": "1.2.3.4"}),
    "page with a referrer and a query": dict(path="/p/z", query="utm_source=news",
                                             headers={"Referer": "https://www.google.com/"}),
    "app call": dict(path="/api/ping", headers={"Authorization": "Bearer abc", "User-Agent": "Dart/3.4 (dart:io)"}),
    "app call with X-App-Source": dict(path="/api/p/feed", headers={"X-App-Source": "android"}),
    "token view (DRF-like), unknown token": dict(path="/api/token", headers={"Authorization": "Bearer nope"}),
    "stale session cookie": dict(path="/p/a", headers={"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}),
    "other cookies": dict(path="/p/b", headers={"Cookie": "theme=dark; _ga=GA1.2.3"}),
    "view that reads the user": dict(path="/whoami"),
    "redirect": dict(path="/redirect"),
    "not found": dict(path="/nope"),
    "excluded path": dict(path="/admin/x"),
    "post without csrf": dict(method="POST", path="/api/ping", body=b"{}", headers={"Content-Type": "application/json"}),
    "options": dict(method="OPTIONS", path="/api/ping"),
    "server error": dict(path="/boom"),
}


@pytest.fixture
def apps(analytics, ingest):
    analytics(INGEST_URL=ingest.url)
    logging.getLogger("django.request").disabled = True  # the 500 case logs a traceback
    with no_db_signals():
        yield application(False), application(True)
    logging.getLogger("django.request").disabled = False


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_response_is_byte_identical(apps, case, monkeypatch):
    off, on = apps
    loads, saves = [], []
    monkeypatch.setattr(SessionStore, "load", lambda self: loads.append(1) or {})
    real_save = SessionStore.save
    monkeypatch.setattr(SessionStore, "save", lambda self, *a, **k: saves.append(1) or real_save(self, *a, **k))
    without = call(off, environ(**CASES[case]))
    loads_off = len(loads)
    with_mw = call(on, environ(**CASES[case]))
    assert with_mw == without
    assert len(loads) - loads_off == loads_off, "the middleware loaded a session"
    assert saves == []
    assert not any(h.lower() == "set-cookie" for h, _ in with_mw[1])


def test_the_tracked_cases_were_really_tracked(apps, ingest):
    _, on = apps
    for case in CASES.values():
        call(on, environ(**case))
    assert current_tracker().flush(5)
    tracked = {e["path"] for e in ingest.events()}
    assert tracked == {"/", "/p/x", "/p/y", "/p/z", "/api/ping", "/api/p/feed", "/api/token", "/p/a", "/p/b",
                       "/whoami", "/redirect"}
    assert analytics_django.stats()["errors"] == 0
