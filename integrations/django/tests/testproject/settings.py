"""A small Django project for the tests: the stock middleware stack with the
analytics middleware first, cache sessions, and a few views."""

import os

SECRET_KEY = "analytics-django-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "analytics_django",
]
STOCK_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ANALYTICS_MIDDLEWARE = "analytics_django.middleware.AnalyticsMiddleware"
MIDDLEWARE = [ANALYTICS_MIDDLEWARE, *STOCK_MIDDLEWARE]
ROOT_URLCONF = "testproject.urls"
WSGI_APPLICATION = "testproject.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TEST_SQLITE", ":memory:"),
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Overridden per test; from the environment for the gunicorn tests.
ANALYTICS = {
    "INGEST_URL": os.environ.get("TEST_INGEST_URL", "http://127.0.0.1:9"),
    "INGEST_KEY": os.environ.get("TEST_INGEST_KEY", "test-key"),
    "SITE": os.environ.get("TEST_SITE", "test.example"),
    "FLUSH_INTERVAL": float(os.environ.get("TEST_FLUSH_INTERVAL", "0.2")),
    "SHUTDOWN_TIMEOUT": 5.0,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"analytics_django": {"handlers": ["console"], "level": "INFO"}},
}
