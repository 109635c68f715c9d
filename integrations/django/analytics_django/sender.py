"""Events to ingest's `POST /v1/events`, on the sender thread only.

The body follows ingest's native batch API exactly (it rejects unknown keys):
one `pageview` per tracked request, with the visitor's `ip` and `user_agent`
(allowed because the request carries `X-Ingest-Key`), so that ingest derives
the visitor id and the country as if the visitor had called it directly.
"""

import http.client
import json
import socket
from json.encoder import encode_basestring_ascii as _string  # C-accelerated JSON string quoting
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from . import __version__

# Ingest refuses bodies over 64 KiB; stay clear of it.
MAX_BODY_BYTES = 60_000
MAX_PATH = 2048
MAX_USER_AGENT = 1024
MAX_REFERRER = 2048
MAX_APP_FIELD = 64


def event(site, item):
    """The ingest event for one queued tuple (built by the middleware), as a
    dict: the reference that `encode` must match."""
    timestamp_ms, path, method, status, response_ms, ip, user_agent, referrer, authenticated, source, app = item
    body = {
        "site": site,
        "type": "pageview",
        "path": path[:MAX_PATH],
        "source": source,
        "timestamp": timestamp_ms,
        "timing": {"response_ms": response_ms},
        "authenticated": authenticated,
        "ip": ip,
        # Always sent, even empty: without it ingest would take this thread's
        # own User-Agent, and classify the visit as an HTTP library.
        "user_agent": user_agent[:MAX_USER_AGENT],
        "props": {"method": method, "status": status},
    }
    if referrer:
        body["referrer"] = referrer[:MAX_REFERRER]
    fields = _app_fields(app)
    if fields:
        body["app"] = fields
    return body


def _app_fields(app):
    """The `app` object of an event from the (platform, version) the app sent,
    without the empty ones; None when it sent neither."""
    if not app:
        return None
    fields = {name: value[:MAX_APP_FIELD] for name, value in zip(("platform", "version"), app) if value}
    return fields or None


def encode(site, items):
    """Yields (body bytes, event count), each body under MAX_BODY_BYTES. An
    event too large on its own is yielded as (b"", -1) so it is counted.

    `json.dumps(event(site, item))`, written out: a fifth of the cost, which
    the sender thread takes from the same CPUs the requests use. Strings are
    quoted with ASCII escapes (as json.dumps does by default), so the text is
    pure ASCII: its length is its size in bytes, and a body is encoded once."""
    prefix = '{"site":' + _string(site) + ',"type":"pageview","path":'
    parts, size = [], 0
    for timestamp_ms, path, method, status, response_ms, ip, user_agent, referrer, authenticated, source, app in items:
        fields = _app_fields(app)
        part = prefix + _EVENT % (
            _string(path[:MAX_PATH]), _string(source), timestamp_ms, response_ms,
            "true" if authenticated else "false", _string(ip), _string(user_agent[:MAX_USER_AGENT]),
            _string(method), status, ',"referrer":' + _string(referrer[:MAX_REFERRER]) if referrer else "",
            ',"app":{' + ",".join(f'"{k}":{_string(v)}' for k, v in fields.items()) + "}" if fields else "",
        )
        if len(part) + 20 > MAX_BODY_BYTES:
            yield b"", -1
            continue
        if parts and size + len(part) + 1 + 20 > MAX_BODY_BYTES:
            yield _body(parts), len(parts)
            parts, size = [], 0
        parts.append(part)
        size += len(part) + 1
    if parts:
        yield _body(parts), len(parts)


# The rest of an event after its path, in `event()`'s order; %d truncates as
# int() does.
_EVENT = (
    '%s,"source":%s,"timestamp":%d,"timing":{"response_ms":%d},"authenticated":%s,"ip":%s,'
    '"user_agent":%s,"props":{"method":%s,"status":%d}%s%s}'
)


def _body(parts):
    return ('{"events":[' + ",".join(parts) + "]}").encode("ascii")


@dataclass
class Outcome:
    accepted: Optional[int] = None  # set when ingest took the batch (2xx)
    rejected: int = 0  # events ingest refused inside an accepted batch
    refused: bool = False  # 4xx: the batch will never be accepted; do not retry
    retry_after: Optional[float] = None
    error: str = ""


class Ingest:
    """One keep-alive connection to ingest, reopened after any failure."""

    def __init__(self, url, key, timeout):
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._headers = {
            "Content-Type": "application/json",
            "X-Ingest-Key": key,
            "User-Agent": f"analytics-django/{__version__}",
        }
        self._conn = None

    def post(self, body, idempotency_key):
        headers = {**self._headers, "Idempotency-Key": idempotency_key}
        try:
            status, retry_after, data = self._post(body, headers)
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return Outcome(error=f"ingest unreachable: {type(e).__name__}: {e}")
        if 200 <= status < 300:
            try:
                answer = json.loads(data)
                rejected = answer.get("rejected") or []
                accepted = int(answer.get("accepted", 0))
            except (ValueError, AttributeError, TypeError):
                return Outcome(accepted=0, error=f"ingest answered {status} with an unreadable body")
            error = f"ingest rejected an event: {rejected[0].get('error')}" if rejected else ""
            return Outcome(accepted=accepted, rejected=len(rejected), error=error)
        text = data[:300].decode("utf-8", "replace")
        if status == 503 or status == 429 or status >= 500:
            return Outcome(retry_after=_seconds(retry_after), error=f"ingest answered {status}: {text}")
        return Outcome(refused=True, error=f"ingest refused the batch with {status}: {text}")

    def _post(self, body, headers):
        reused = self._conn is not None
        for attempt in (1, 2):
            if self._conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                self._conn = cls(self._host, self._port, timeout=self._timeout)
            try:
                if self._conn.sock is None:
                    self._conn.connect()
                    # http.client writes the headers and a large body in two
                    # sends; with Nagle's algorithm the body then waits for the
                    # peer's delayed ACK of the headers: 40 ms per batch.
                    self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._conn.request("POST", self._path, body, headers)
                response = self._conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server had closed: one fresh try.
                # The idempotency key makes a duplicate harmless.
                self.close()
                if reused and attempt == 1:
                    continue
                raise
            if response.will_close:
                self.close()
            return response.status, response.getheader("Retry-After"), data
        raise AssertionError("unreachable")

    def close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None


def _seconds(value):
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None
