"""The `ANALYTICS = {...}` block of settings.py, read once and checked.

Every key has a default except INGEST_URL, INGEST_KEY and SITE. An unknown key
is an error rather than a silently ignored typo.
"""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

# The prefixes today's middleware never tracked.
DEFAULT_EXCLUDED_PATHS = ("/api/admin/", "/static/", "/media/", "/admin/", "/__debug__/", "/silk/")
# App frameworks that name themselves in the user agent (the same list as ingest's).
APP_USER_AGENT_MARKERS = ("flutter", "dart", "react-native", "cordova", "ionic", "capacitor")

DEFAULTS = {
    "ENABLED": True,
    # Path prefixes that are never tracked.
    "EXCLUDED_PATHS": DEFAULT_EXCLUDED_PATHS,
    # App traffic (Bearer token, X-App-Source, app user agent) is tracked only
    # under these prefixes, as before; an empty list tracks it everywhere.
    "APP_PATHS": ("/api/",),
    # Request headers in which the app says what it is; on app traffic they
    # become the event's app.platform and app.version (ios, android, ...; 2.1.0).
    "APP_PLATFORM_HEADER": "X-App-Platform",
    "APP_VERSION_HEADER": "X-App-Version",
    # Methods never tracked: CORS preflights would double every API call.
    "EXCLUDED_METHODS": ("OPTIONS",),
    # Track 4xx and 5xx responses too (by default only status < 400 counts).
    "TRACK_ERRORS": False,
    # Track signed-in users too; by default only guests, as before. Ingest
    # applies the site's own rule to the `authenticated` flag as well.
    "TRACK_AUTHENTICATED": False,
    # Peers whose X-Forwarded-For is believed: IPs, CIDRs, or "unix" for a
    # Unix socket (empty REMOTE_ADDR). Empty: the client is REMOTE_ADDR.
    "TRUSTED_PROXIES": (),
    # Events held in memory per process; past it the oldest are dropped (counted).
    "QUEUE_SIZE": 10000,
    # Seconds between sends of a partial batch.
    "FLUSH_INTERVAL": 1.0,
    # Events per POST (ingest accepts at most 100).
    "BATCH_SIZE": 100,
    # Seconds for one POST to ingest (connect and answer).
    "TIMEOUT": 5.0,
    # Seconds a stopping process keeps trying to deliver what it holds.
    "SHUTDOWN_TIMEOUT": 5.0,
    # Longest wait between two retries, in seconds.
    "MAX_BACKOFF": 30.0,
}
REQUIRED = ("INGEST_URL", "INGEST_KEY", "SITE")


@dataclass(frozen=True)
class Config:
    ingest_url: str
    ingest_key: str
    site: str
    enabled: bool
    excluded_paths: tuple
    app_paths: tuple
    app_platform_meta: str  # request.META key of APP_PLATFORM_HEADER
    app_version_meta: str
    excluded_methods: frozenset
    track_errors: bool
    track_authenticated: bool
    trusted_proxies: tuple  # of ipaddress networks
    trust_unix_socket: bool
    queue_size: int
    flush_interval: float
    batch_size: int
    timeout: float
    shutdown_timeout: float
    max_backoff: float

    def __repr__(self):  # the key never prints
        return f"Config(ingest_url={self.ingest_url!r}, site={self.site!r}, ingest_key=<hidden>)"


def load(raw=None):
    """The checked configuration from `raw`, or from settings.ANALYTICS."""
    if raw is None:
        from django.conf import settings

        raw = getattr(settings, "ANALYTICS", None)
        if raw is None:
            raise ImproperlyConfigured("ANALYTICS is not set in settings.py (see analytics_django's README)")
    if not isinstance(raw, dict):
        raise ImproperlyConfigured("ANALYTICS must be a dict")
    unknown = set(raw) - set(DEFAULTS) - set(REQUIRED)
    if unknown:
        raise ImproperlyConfigured(f"ANALYTICS: unknown keys {sorted(unknown)}")
    values = {**DEFAULTS, **raw}
    if values["ENABLED"]:
        missing = [k for k in REQUIRED if not values.get(k)]
        if missing:
            raise ImproperlyConfigured(f"ANALYTICS: {', '.join(missing)} required")

    networks, unix = _proxies(values["TRUSTED_PROXIES"])
    batch_size = int(values["BATCH_SIZE"])
    if not 1 <= batch_size <= 100:
        raise ImproperlyConfigured("ANALYTICS: BATCH_SIZE must be between 1 and 100")
    if int(values["QUEUE_SIZE"]) < 1:
        raise ImproperlyConfigured("ANALYTICS: QUEUE_SIZE must be at least 1")
    # Both go into request headers; http.client would refuse them only when
    # the sender thread first posts, long after start.
    for name in ("INGEST_KEY", "INGEST_URL"):
        if any(c in str(values.get(name) or "") for c in "\r\n\0"):
            raise ImproperlyConfigured(f"ANALYTICS: {name} must not contain line breaks")
    return Config(
        ingest_url=_events_url(values.get("INGEST_URL") or "http://127.0.0.1:8081"),
        ingest_key=str(values.get("INGEST_KEY") or ""),
        site=str(values.get("SITE") or ""),
        enabled=bool(values["ENABLED"]),
        excluded_paths=_prefixes(values["EXCLUDED_PATHS"], "EXCLUDED_PATHS"),
        app_paths=_prefixes(values["APP_PATHS"], "APP_PATHS"),
        app_platform_meta=_meta_key(values["APP_PLATFORM_HEADER"], "APP_PLATFORM_HEADER"),
        app_version_meta=_meta_key(values["APP_VERSION_HEADER"], "APP_VERSION_HEADER"),
        excluded_methods=frozenset(m.upper() for m in values["EXCLUDED_METHODS"]),
        track_errors=bool(values["TRACK_ERRORS"]),
        track_authenticated=bool(values["TRACK_AUTHENTICATED"]),
        trusted_proxies=networks,
        trust_unix_socket=unix,
        queue_size=int(values["QUEUE_SIZE"]),
        flush_interval=float(values["FLUSH_INTERVAL"]),
        batch_size=batch_size,
        timeout=float(values["TIMEOUT"]),
        shutdown_timeout=float(values["SHUTDOWN_TIMEOUT"]),
        max_backoff=float(values["MAX_BACKOFF"]),
    )


def _meta_key(header, name):
    """Where Django keeps a request header in `request.META`."""
    if not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise ImproperlyConfigured(f"ANALYTICS: {name} must be a header name, not {header!r}")
    return "HTTP_" + header.upper().replace("-", "_")


def _events_url(url):
    """`http://host:port` or the full `.../v1/events` URL both work."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(f"ANALYTICS: INGEST_URL must be an http(s) URL, not {url!r}")
    if parts.path.rstrip("/").endswith("/v1/events"):
        return url
    return url.rstrip("/") + "/v1/events"


def _prefixes(items, name):
    if isinstance(items, str):
        raise ImproperlyConfigured(f"ANALYTICS: {name} must be a list of path prefixes, not a string")
    prefixes = tuple(items)
    for p in prefixes:
        if not p.startswith("/"):
            raise ImproperlyConfigured(f"ANALYTICS: {name}: {p!r} must start with /")
    return prefixes


def _proxies(items):
    if isinstance(items, str):
        raise ImproperlyConfigured("ANALYTICS: TRUSTED_PROXIES must be a list, not a string")
    networks, unix = [], False
    for item in items:
        if item == "unix":
            unix = True
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as e:
            raise ImproperlyConfigured(f"ANALYTICS: TRUSTED_PROXIES: {e}") from None
    return tuple(networks), unix
