"""Settings of the old site. OLD_DATABASE_URL (Postgres) holds the Visit
table, OLD_REDIS_URL the queue and the sessions, GEOIP_MMDB the country
database the old middleware looked addresses up in."""

import os
from urllib.parse import urlparse

_db = urlparse(os.environ["OLD_DATABASE_URL"])

SECRET_KEY = "analytics-old-system-test-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oldsystem.analytics",
]
# Django's stock stack with the old middleware appended last, as it was.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "oldsite.middleware.OldAnalyticsMiddleware",
]
ROOT_URLCONF = "oldsystem.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "postgres",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname,
        "PORT": _db.port or 5432,
    }
}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ["OLD_REDIS_URL"],
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
