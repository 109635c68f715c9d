"""`AnalyticsMiddleware`: one event per tracked request, queued in memory.

What a request pays: a few attribute reads and one deque append under a short
lock. The middleware never opens a connection, never writes a log line, never
creates, loads or touches the session, and never adds a header, so the response
of an anonymous request is byte for byte what it is without the middleware.

Put it first in MIDDLEWARE, so that the response time covers the whole stack
and the user is read after every other middleware and the view are done.
"""

import functools
import ipaddress
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import MiddlewareNotUsed
from django.utils.functional import LazyObject, empty

from . import conf, tracker

APP_AGENTS_REMEMBERED = 4096


class AnalyticsMiddleware:
    """Which requests count, and what their event says.

    The source rules are today's: a Bearer Authorization header, an
    X-App-Source header or an app framework in the user agent mean `app`, and
    app traffic counts only under APP_PATHS; excluded prefixes never count;
    only guests count unless TRACK_AUTHENTICATED; nor do EXCLUDED_METHODS and,
    unless TRACK_ERRORS, responses with status >= 400.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        config = conf.load()
        if not config.enabled:
            raise MiddlewareNotUsed("ANALYTICS['ENABLED'] is False")
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)
        self.tracker = tracker.for_config(config)
        # What the hot path reads, bound once: every request pays for lookups.
        self._put = self.tracker.put
        self._excluded_paths = config.excluded_paths
        self._excluded_methods = config.excluded_methods
        self._app_paths = config.app_paths
        self._app_platform_meta = config.app_platform_meta
        self._app_version_meta = config.app_version_meta
        self._track_errors = config.track_errors
        self._track_authenticated = config.track_authenticated
        # None: the client is REMOTE_ADDR, read inline (a call costs more).
        self._client_ip = ClientAddress(config) if config.trusted_proxies or config.trust_unix_socket else None
        # Whether a user agent names an app framework, per user agent seen:
        # one dict lookup instead of lower-casing and six searches per request.
        self._app_agents = {}

    def __call__(self, request):
        if self._async:
            return self.__acall__(request)
        started, wall = time.perf_counter(), time.time()
        response = self.get_response(request)
        self._observe(request, response, started, wall)
        return response

    async def __acall__(self, request):
        started, wall = time.perf_counter(), time.time()
        response = await self.get_response(request)
        self._observe(request, response, started, wall)
        return response

    def _observe(self, request, response, started, wall):
        """Queue the request's event (a tuple, see `sender.event`) if it counts."""
        try:
            path = request.path
            if path.startswith(self._excluded_paths):
                return
            method = request.method
            if method in self._excluded_methods:
                return
            status = response.status_code
            if status >= 400 and not self._track_errors:
                return
            meta = request.META
            user_agent = meta.get("HTTP_USER_AGENT", "")
            app_agent = self._app_agents.get(user_agent)
            if app_agent is None:
                app_agent = self._learn_agent(user_agent)
            if app_agent or meta.get("HTTP_AUTHORIZATION", "").startswith("Bearer ") or "HTTP_X_APP_SOURCE" in meta:
                if self._app_paths and not path.startswith(self._app_paths):
                    return
                source = "app"
                # What the app says about itself, when it does.
                app = (meta.get(self._app_platform_meta, ""), meta.get(self._app_version_meta, ""))
            else:
                source = "web"
                app = None
            authenticated = is_authenticated(request)
            if authenticated and not self._track_authenticated:
                return
            self._put((
                int(wall * 1000),
                path,
                method,
                status,
                int((time.perf_counter() - started) * 1000 + 0.5),
                (meta.get("REMOTE_ADDR") or "") if self._client_ip is None else self._client_ip(meta),
                user_agent,
                meta.get("HTTP_REFERER", ""),
                authenticated,
                source,
                app,
            ))
        except Exception:  # tracking must never break a response
            self.tracker.errors += 1

    def _learn_agent(self, user_agent):
        """`is_app_user_agent`, remembered for this user agent."""
        app = is_app_user_agent(user_agent)
        if len(self._app_agents) >= APP_AGENTS_REMEMBERED:
            self._app_agents.clear()  # random user agents must not grow it without bound
        self._app_agents[user_agent] = app
        return app


class ClientAddress:
    """REMOTE_ADDR, unless the peer is a trusted proxy: then the nearest
    address in X-Forwarded-For that is not itself a trusted proxy (walking from
    the right, so a client cannot choose it by sending the header itself)."""

    def __init__(self, config):
        self._networks = config.trusted_proxies
        self._unix = config.trust_unix_socket
        self._trusted = functools.lru_cache(maxsize=1024)(self._is_trusted)

    def __call__(self, meta):
        remote = meta.get("REMOTE_ADDR") or ""
        if not self._trusted(remote):
            return remote
        forwarded = meta.get("HTTP_X_FORWARDED_FOR")
        if not forwarded:
            return remote
        client = remote
        for hop in reversed(forwarded.split(",")):
            hop = _strip_port(hop.strip())
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break  # garbage: trust nothing further left
            client = hop
            if not self._trusted(hop):
                break
        return client

    def _is_trusted(self, address):
        if address == "":
            return self._unix
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)


def is_authenticated(request):
    """Whether the request's user is signed in, as far as it is already known.

    It never resolves `request.user` itself: with a session cookie that would
    load the session (a database or cache round trip on the request path), and
    it would mark the session accessed, which makes SessionMiddleware add
    `Vary: Cookie` when the middleware sits inside it. So:

    * `request.user` already resolved (by DRF's authentication, which every API
      view runs, by `login_required`, a template, a permission check...): its
      `is_authenticated`.
    * never resolved: False. Nothing in the request depended on who the user
      is, so the page is the one a guest gets; a signed-in user on such a page
      counts as a guest (and with no session cookie they cannot be signed in
      through sessions at all).
    """
    user = request.__dict__.get("user")
    if user is None:
        return False
    if issubclass(type(user), LazyObject):  # type(), not isinstance: no evaluation
        # object.__getattribute__ skips LazyObject's own, which is Python code.
        user = object.__getattribute__(user, "_wrapped")
        if user is empty:
            return False
    return bool(getattr(user, "is_authenticated", False))


def is_app_user_agent(user_agent):
    # Lower-casing then plain substring tests: a case-insensitive regex over
    # a whole user agent costs ten times more.
    lowered = user_agent.lower()
    for marker in conf.APP_USER_AGENT_MARKERS:
        if marker in lowered:
            return True
    return False


def _strip_port(hop):
    """`1.2.3.4:5678` and `[2001:db8::1]:443`, as some proxies write them."""
    if hop.startswith("["):
        return hop[1 : hop.find("]")] if "]" in hop else hop
    if hop.count(":") == 1:
        return hop.split(":", 1)[0]
    return hop
