"""The benchmark's site: a trivial page behind Django's stock middleware stack.
BENCH_MODE=off (no tracking), new (analytics_django, first in the stack) or
old (the rebuilt old middleware, appended last as it was). Nothing else differs."""

import os

SECRET_KEY = "analytics-django-bench-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
MODE = os.environ.get("BENCH_MODE", "off")
if MODE == "new":
    MIDDLEWARE.insert(0, "analytics_django.middleware.AnalyticsMiddleware")
elif MODE == "old":
    MIDDLEWARE.append("oldsite.middleware.OldAnalyticsMiddleware")

ROOT_URLCONF = "benchsite.urls"
WSGI_APPLICATION = "benchsite.wsgi.application"
DATABASES = {}
USE_TZ = True

# Sessions as the old system kept them: cache sessions on django-redis.
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:16379/7"),
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"

ANALYTICS = {
    "INGEST_URL": os.environ.get("INGEST_URL", "http://127.0.0.1:8081"),
    "INGEST_KEY": os.environ.get("INGEST_KEY", ""),
    "SITE": os.environ.get("BENCH_SITE", ""),
    "ENABLED": MODE == "new",
}
