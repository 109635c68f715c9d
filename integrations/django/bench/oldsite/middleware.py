"""The middleware this integration replaces, rebuilt for the benchmark and for
the import test (tests/oldsystem fills a real Visit table with it).

It does what the site's current AnalyticsMiddleware does (as documented, and
as measured in the seed-django baseline): in process_response it checks
`request.user.is_authenticated` (which loads the session), skips excluded
prefixes, detects the source, creates a session when the request has none,
takes the IP from the first X-Forwarded-For entry, looks the country up, parses
the user agent by substring rules, and pushes the visit as JSON onto a Redis
list that it trims to 10,000 entries (LPUSH + LTRIM), swallowing any error.
Sessions are cache sessions on django-redis, in the same Redis.
"""

import json
import logging
import os
import time

from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin
from django_redis import get_redis_connection

logger = logging.getLogger(__name__)

QUEUE_KEY = "analytics:queue"
QUEUE_MAX = 10000
EXCLUDED_PATH_PREFIXES = ("/api/admin/", "/static/", "/media/", "/admin/", "/__debug__/", "/silk/")
APP_UA_MARKERS = ("flutter", "dart", "react-native", "cordova", "ionic", "capacitor")

_geo = None


def get_country(ip):
    """maxminddb on the project's country database when present (opened once
    per process, the cheapest faithful choice); None without it."""
    global _geo
    if _geo is None:
        path = os.environ.get("GEOIP_MMDB", "")
        try:
            import maxminddb

            _geo = maxminddb.open_database(path) if path and os.path.exists(path) else False
        except ImportError:
            _geo = False
    if not _geo or not ip:
        return None
    try:
        record = _geo.get(ip)
    except ValueError:
        return None
    return (record or {}).get("country_code")


def detect_source(request):
    if request.META.get("HTTP_AUTHORIZATION", "").startswith("Bearer "):
        return "app"
    if "HTTP_X_APP_SOURCE" in request.META:
        return "app"
    ua = request.META.get("HTTP_USER_AGENT", "").lower()
    return "app" if any(m in ua for m in APP_UA_MARKERS) else "web"


def get_client_ip(request):
    xff = request.META.get("HTTP_X_FORWARDED_FOR")
    return xff.split(",")[0].strip() if xff else request.META.get("REMOTE_ADDR")


def parse_user_agent(ua_string):
    ua = (ua_string or "").lower()
    if "mobile" in ua or "android" in ua or "iphone" in ua:
        device = "mobile"
    elif "tablet" in ua or "ipad" in ua:
        device = "tablet"
    else:
        device = "desktop"
    browser = "Other"
    for marker, name in (("edg", "Edge"), ("chrome", "Chrome"), ("safari", "Safari"), ("firefox", "Firefox"),
                         ("opera", "Opera"), ("opr", "Opera")):
        if marker in ua:
            browser = name
            break
    os_name = "Other"
    for marker, name in (("windows", "Windows"), ("mac", "macOS"), ("linux", "Linux"), ("android", "Android"),
                         ("iphone", "iOS"), ("ipad", "iOS")):
        if marker in ua:
            os_name = name
            break
    return device, browser, os_name


class OldAnalyticsMiddleware(MiddlewareMixin):
    def process_request(self, request):
        request._start_time = time.time()

    def process_response(self, request, response):
        start = getattr(request, "_start_time", None)
        response_time = round((time.time() - start) * 1000, 2) if start else None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return response
        path = request.path
        if path.startswith(EXCLUDED_PATH_PREFIXES):
            return response
        source = detect_source(request)
        if source == "web" or (source == "app" and path.startswith("/api/")):
            self._track_visit(request, source, response_time)
        return response

    def _track_visit(self, request, source, response_time):
        try:
            if not request.session.session_key:
                request.session.create()
            ip = get_client_ip(request)
            ua_string = request.META.get("HTTP_USER_AGENT", "")
            device, browser, os_name = parse_user_agent(ua_string)
            visit = {
                "source": source,
                "user_id": None,
                "session_key": request.session.session_key,
                "path": request.path,
                "method": request.method,
                "ip_address": ip,
                "country": get_country(ip),
                "device": device,
                "browser": browser,
                "os": os_name,
                "user_agent": ua_string,
                "referrer": request.META.get("HTTP_REFERER", ""),
                "response_time": response_time,
                "timestamp": timezone.now().isoformat(),
            }
            redis = get_redis_connection("default")
            redis.lpush(QUEUE_KEY, json.dumps(visit))
            redis.ltrim(QUEUE_KEY, 0, QUEUE_MAX - 1)
        except Exception as e:
            logger.debug("analytics tracking failed: %s", e)
