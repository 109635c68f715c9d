"""Under gunicorn (sync and gthread, the app loaded before the fork), every
tracked request arrives exactly once, including the ones still queued when
the workers are told to stop; and a forked child never resends its parent's
queue."""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analytics_django import conf, tracker

HERE = Path(__file__).resolve().parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("gunicorn did not start")


@pytest.mark.parametrize("workers", [["-w", "2"], ["-k", "gthread", "-w", "2", "--threads", "4"]],
                         ids=["sync", "gthread"])
def test_gunicorn_workers_deliver_everything_and_flush_on_shutdown(ingest, workers):
    port = free_port()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="testproject.settings", TEST_INGEST_URL=ingest.url,
               TEST_SITE="gunicorn.test", TEST_FLUSH_INTERVAL="60")  # only full batches or shutdown send
    proc = subprocess.Popen([GUNICORN, "testproject.wsgi", "--preload", "-b", f"127.0.0.1:{port}", *workers,
                             "--log-level", "warning"], cwd=HERE, env=env)
    try:
        wait_up(port, proc)
        n = 250
        for i in range(n):
            # A new connection each time, so both workers get requests.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", f"/p/{i}", headers={"User-Agent": "Mozilla/5.0 Chrome/126.0"})
            assert conn.getresponse().read()
            conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    paths = sorted(e["path"] for e in ingest.events())
    assert paths == sorted(f"/p/{i}" for i in range(n)), "lost or duplicated events"
    batches = [len(body["events"]) for _, body, _, _ in ingest.requests]
    assert any(b < 100 for b in batches), f"nothing was flushed at shutdown: {batches}"


def test_a_forked_child_sends_its_own_events_not_its_parents(ingest):
    cfg = conf.load({"INGEST_URL": ingest.url, "INGEST_KEY": "k", "SITE": "s", "FLUSH_INTERVAL": 60})
    t = tracker.for_config(cfg)
    event = lambda path: (int(time.time() * 1000), path, "GET", 200, 1, "8.8.8.8", "UA", "", False, "web", None)
    for i in range(3):
        t.put(event(f"/parent/{i}"))  # the sender thread is running, these wait for the interval
    pid = os.fork()
    if pid == 0:  # the child: its own state, its own thread
        code = 1
        try:
            child = tracker.for_config(cfg)
            ok = child.stats()["queued"] == 0
            child.put(event("/child/0"))
            child.put(event("/child/1"))
            code = 0 if ok and child.flush(5) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert t.flush(5)
    assert sorted(e["path"] for e in ingest.events()) == [
        "/child/0", "/child/1", "/parent/0", "/parent/1", "/parent/2"]
