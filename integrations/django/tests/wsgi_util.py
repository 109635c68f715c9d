"""Calling the test project's WSGI application directly: what gunicorn would
write to the socket (status line, header list, body), minus Date and Server."""

import contextlib
import io

from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import override_settings
from django.conf import settings

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def application(with_analytics):
    stock = settings.STOCK_MIDDLEWARE
    middleware = [settings.ANALYTICS_MIDDLEWARE, *stock] if with_analytics else list(stock)
    with override_settings(MIDDLEWARE=middleware):
        return WSGIHandler()


def environ(method="GET", path="/", query="", body=b"", headers=None, remote="8.8.8.8"):
    env = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote,
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": CHROME,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE",) else "HTTP_" + key] = value
    return env


def call(app, env):
    """(status, [(header, value)...], body bytes) exactly as produced."""
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, list(headers)

    chunks = app(env, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return captured["status"], captured["headers"], body


@contextlib.contextmanager
def no_db_signals():
    """As Django's test client does: no connection housekeeping per request
    (it would trip over the test database's transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
