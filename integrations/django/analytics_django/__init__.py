"""Server-side visit tracking for Django, off the request path.

    MIDDLEWARE = ["analytics_django.middleware.AnalyticsMiddleware", ...]
    ANALYTICS = {"INGEST_URL": ..., "INGEST_KEY": ..., "SITE": ...}

`stats()` reports this process's counters, `flush()` waits for the queue to
empty, `shutdown()` delivers what is left and stops (it also runs at exit).
"""

__version__ = "0.1.0"


def stats():
    """Counters of this process, summed over its trackers: `queued` (waiting or
    in flight), `enqueued`, `sent` (accepted by ingest), `dropped_queue_full`,
    `rejected` (refused by ingest: 4xx or per-event errors),
    `dropped_at_shutdown`, `failed_attempts` (sends retried: 503, 5xx,
    unreachable), `errors` (exceptions in the middleware), and `last_error`."""
    from . import tracker

    total = dict.fromkeys((*tracker.COUNTERS, "queued"), 0)
    total["last_error"] = ""
    for t in tracker.all_trackers():
        for name, value in t.stats().items():
            if name == "last_error":
                total[name] = value or total[name]
            else:
                total[name] += value
    return total


def flush(timeout=5.0):
    """Block until every event queued so far is delivered or given up on;
    True when all trackers emptied within `timeout` seconds."""
    import time

    from . import tracker

    deadline = time.monotonic() + timeout
    return all([t.flush(max(0.0, deadline - time.monotonic())) for t in tracker.all_trackers()])


def shutdown(timeout=None):
    """Deliver what is queued (within SHUTDOWN_TIMEOUT) and stop sending."""
    from . import tracker

    tracker.shutdown(timeout)
