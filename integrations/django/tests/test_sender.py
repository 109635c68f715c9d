"""The queue and the sender thread against a fake ingest: batching, retries
with backoff, refusals, drops when full, and the body limit."""

import logging
import time

import pytest

from analytics_django import conf, tracker
from fake_ingest import FakeIngest, closed_port_url


def config(url, **values):
    return conf.load({"INGEST_URL": url, "INGEST_KEY": "k", "SITE": "s", "FLUSH_INTERVAL": 0.05,
                      "SHUTDOWN_TIMEOUT": 2.0, **values})


def item(path, user_agent="Mozilla/5.0", referrer=""):
    return (int(time.time() * 1000), path, "GET", 200, 1, "8.8.8.8", user_agent, referrer, False, "web", None)


@pytest.fixture
def make_tracker():
    made = []

    def make(cfg):
        t = tracker.Tracker(cfg)
        made.append(t)
        return t

    yield make
    for t in made:
        t.stop()
        t.join(3)


def test_events_go_in_batches_of_at_most_100(ingest, make_tracker):
    t = make_tracker(config(ingest.url))
    for i in range(250):
        t.put(item(f"/p/{i}"))
    assert t.flush(5)
    assert [e["path"] for e in ingest.events()] == [f"/p/{i}" for i in range(250)]
    assert max(len(body["events"]) for _, body, _, _ in ingest.requests) <= 100
    assert t.stats()["sent"] == 250 and t.stats()["queued"] == 0


def test_503_is_retried_after_retry_after_with_the_same_idempotency_key(ingest, make_tracker):
    ingest.script = [(503, {"Retry-After": "0"}, {"error": "busy"}), (503, {"Retry-After": "0"}, {"error": "busy"})]
    t = make_tracker(config(ingest.url))
    t.put(item("/p/retried"))
    assert t.flush(5)
    assert len(ingest.requests) == 3
    keys = {headers["Idempotency-Key"] for headers, _, _, _ in ingest.requests}
    assert len(keys) == 1, "a retry must carry the first attempt's key"
    assert [e["path"] for e in ingest.events()] == ["/p/retried"]
    s = t.stats()
    assert (s["sent"], s["failed_attempts"], s["rejected"]) == (1, 2, 0)


def test_an_unreachable_ingest_is_retried_until_it_comes_up(make_tracker):
    url = closed_port_url()
    t = make_tracker(config(url))
    t.put(item("/p/waited"))
    deadline = time.monotonic() + 5
    while t.stats()["failed_attempts"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert t.stats()["failed_attempts"] >= 2
    assert "unreachable" in t.stats()["last_error"]
    fake = FakeIngest(port=int(url.rsplit(":", 1)[1]))
    try:
        assert t.flush(10)
        assert [e["path"] for e in fake.events()] == ["/p/waited"]
    finally:
        fake.close()


def test_a_4xx_is_not_retried_and_is_counted(ingest, make_tracker, caplog):
    ingest.script = [(400, {}, {"error": "site: unknown site"})]
    t = make_tracker(config(ingest.url))
    with caplog.at_level(logging.WARNING, logger="analytics_django"):
        t.put(item("/p/a"))
        t.put(item("/p/b"))
        assert t.flush(5)
        t.put(item("/p/c"))
        assert t.flush(5)
    s = t.stats()
    assert (s["rejected"], s["sent"], s["failed_attempts"]) == (2, 1, 0)
    assert "unknown site" in s["last_error"]
    assert [e["path"] for e in ingest.events()] == ["/p/c"]


def test_per_event_rejections_are_counted(ingest, make_tracker):
    ingest.script = [(202, {}, {"accepted": 1, "rejected": [{"index": 1, "error": "timestamp: outside"}]})]
    t = make_tracker(config(ingest.url))
    t.put(item("/p/a"))
    t.put(item("/p/b"))
    assert t.flush(5)
    assert (t.stats()["sent"], t.stats()["rejected"]) == (1, 1)


def test_a_full_queue_drops_the_oldest_counts_it_and_logs_once(make_tracker, caplog):
    url = closed_port_url()
    t = make_tracker(config(url, QUEUE_SIZE=10))
    with caplog.at_level(logging.WARNING, logger="analytics_django"):
        for i in range(1000):
            t.put(item(f"/p/{i}"))
        deadline = time.monotonic() + 5
        while t.stats()["failed_attempts"] < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    s = t.stats()
    assert s["enqueued"] == 1000
    # The sender may hold one batch taken before the queue filled up.
    assert 1000 - 10 - 10 <= s["dropped_queue_full"] <= 1000 - 10
    warnings = [r for r in caplog.records if "dropped because the queue" in r.getMessage()]
    assert len(warnings) == 1, "drops are logged at most once a minute"
    fake = FakeIngest(port=int(url.rsplit(":", 1)[1]))
    try:
        assert t.flush(10)
        paths = [e["path"] for e in fake.events()]
    finally:
        fake.close()
    assert len(paths) == 1000 - s["dropped_queue_full"]
    assert paths[-10:] == [f"/p/{i}" for i in range(990, 1000)], "the newest events survive"


def test_bodies_stay_under_ingest_limit(ingest, make_tracker):
    t = make_tracker(config(ingest.url))
    for i in range(100):
        t.put(item(f"/p/{i}/" + "x" * 1500, user_agent="U" * 900))
    t.put(item("/p/huge", user_agent="U" * 100, referrer="r" * 100_000))  # referrer is cut, still sent
    assert t.flush(5)
    assert len(ingest.events()) == 101
    assert max(size for _, _, size, _ in ingest.requests) < 64 * 1024
    assert len(ingest.requests) >= 3


def test_shutdown_delivers_what_is_queued(ingest):
    t = tracker.Tracker(config(ingest.url, FLUSH_INTERVAL=60))
    for i in range(30):
        t.put(item(f"/p/{i}"))
    t.stop()
    t.join(5)
    assert len(ingest.events()) == 30


def test_shutdown_gives_up_at_its_deadline(make_tracker):
    t = tracker.Tracker(config(closed_port_url(), SHUTDOWN_TIMEOUT=0.3))
    for i in range(5):
        t.put(item(f"/p/{i}"))
    started = time.monotonic()
    t.stop()
    t.join(5)
    assert time.monotonic() - started < 2
    assert t.stats()["dropped_at_shutdown"] == 5


@pytest.mark.parametrize("fields", [
    ("/p/ü\"\\\n", "GET", "Mozilla/5.0 \"quoted\" \u2028", "", False, "web", None),
    ("/api/x", "POST", "", "https://ref.example/?q=1&r=\u00e9", True, "app", ("ios", "2.1.0")),
    ("/api/y", "GET", "okhttp/4.12.0", "", False, "app", ("", "3.0 \"beta\"\u00e9")),
    ("/api/z", "GET", "Dart/3.4", "", False, "app", ("", "")),
    ("/" + "x" * 5000, "PATCH", "U" * 5000, "r" * 5000, False, "web", None),
])
def test_the_fast_encoder_matches_json_dumps(fields):
    from analytics_django import sender
    import json

    path, method, ua, referrer, authenticated, source, app = fields
    item = (1700000000123, path, method, 201, 17, "2001:db8::1", ua, referrer, authenticated, source, app)
    [(body, count)] = list(sender.encode("site-\u00e9", [item]))
    assert count == 1
    assert json.loads(body) == {"events": [sender.event("site-\u00e9", item)]}
