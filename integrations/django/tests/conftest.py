import pytest

import analytics_django
from analytics_django import tracker

from fake_ingest import FakeIngest


@pytest.fixture
def ingest():
    fake = FakeIngest()
    yield fake
    analytics_django.shutdown(timeout=2)  # while the fake still answers
    fake.close()


@pytest.fixture(autouse=True)
def _stop_trackers():
    """Each test's trackers (one per configuration) are stopped after it."""
    yield
    analytics_django.shutdown(timeout=2)


@pytest.fixture
def analytics(settings):
    """Set ANALYTICS for this test: analytics(INGEST_URL=..., QUEUE_SIZE=...)."""

    def configure(**values):
        settings.ANALYTICS = {
            "INGEST_URL": "http://127.0.0.1:9",
            "INGEST_KEY": "test-key",
            "SITE": "test.example",
            "FLUSH_INTERVAL": 0.05,
            "SHUTDOWN_TIMEOUT": 2.0,
            **values,
        }
        return settings.ANALYTICS

    return configure


def current_tracker():
    """The tracker of the current ANALYTICS settings (the middleware's)."""
    from analytics_django import conf

    return tracker.for_config(conf.load())
