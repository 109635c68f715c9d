"""The per-process queue between the middleware and ingest.

The middleware calls `Tracker.put` with a tuple; that is all a request pays:
one short lock around a deque append, no I/O. A daemon thread, started on the
first event of each process (so also in each forked gunicorn worker), takes
batches and sends them (`sender.py`). When the queue is full the oldest event
is dropped and counted; the sender thread logs such drops at most once a minute,
so a request never writes a log line either.
"""

import atexit
import logging
import os
import random
import threading
import time
import uuid
from collections import deque

from . import sender

logger = logging.getLogger("analytics_django")

# Each log about trouble (drops, rejections, failures) waits this long after
# the previous one.
REPORT_EVERY_S = 60.0
COUNTERS = (
    "enqueued", "sent", "dropped_queue_full", "rejected", "dropped_at_shutdown", "failed_attempts", "errors",
)


class Tracker:
    def __init__(self, config):
        self.config = config
        self._reset()

    def _reset(self):
        """Fresh state: at creation, and in the child after a fork (the parent's
        events, lock and thread stay the parent's)."""
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._in_flight = 0
        self._flush_waiters = 0
        self._deadline = None
        self.enqueued = 0
        self.sent = 0
        self.dropped_queue_full = 0
        self.rejected = 0
        self.dropped_at_shutdown = 0
        self.failed_attempts = 0
        self.errors = 0  # exceptions inside the middleware (a bug; the response is unaffected)
        self.last_error = ""
        self._last_report = -REPORT_EVERY_S
        self._reported = dict.fromkeys(COUNTERS, 0)

    # ---- request side -------------------------------------------------------

    def put(self, item):
        """Queue one event tuple (see `sender.encode`). Never blocks on I/O."""
        with self._lock:
            queue = self._queue
            if len(queue) >= self.config.queue_size:
                queue.popleft()
                self.dropped_queue_full += 1
            queue.append(item)
            self.enqueued += 1
            full = len(queue) >= self.config.batch_size
            if self._thread is None:
                self._start()
        if full and not self._wake.is_set():
            self._wake.set()

    def _start(self):
        # Called under the lock, once per process.
        self._thread = threading.Thread(target=self._run, name="analytics-django-sender", daemon=True)
        self._thread.start()

    # ---- control ------------------------------------------------------------

    def stats(self):
        with self._lock:
            queued = len(self._queue) + self._in_flight
        values = {name: getattr(self, name) for name in COUNTERS}
        values["queued"] = queued
        values["last_error"] = self.last_error
        return values

    def flush(self, timeout=5.0):
        """Wait until everything queued so far was delivered (or given up on).
        True when the queue is empty in time."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if not self._queue and not self._in_flight:
                return True
            self._flush_waiters += 1
        try:
            self._wake.set()
            with self._idle:
                while self._queue or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._idle.wait(remaining)
            return True
        finally:
            with self._lock:
                self._flush_waiters -= 1

    def stop(self):
        """Ask the sender to deliver what it holds within SHUTDOWN_TIMEOUT, then exit."""
        self._deadline = time.monotonic() + self.config.shutdown_timeout
        self._stop.set()
        self._wake.set()

    def join(self, timeout):
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # ---- sender thread ------------------------------------------------------

    def _run(self):
        ingest = sender.Ingest(self.config.ingest_url, self.config.ingest_key, self.config.timeout)
        try:
            while True:
                self._wake.wait(self.config.flush_interval)
                self._wake.clear()
                while True:
                    batch = self._take()
                    if not batch:
                        break
                    self._deliver(ingest, batch)
                    with self._lock:
                        self._in_flight = 0
                        more = len(self._queue) >= self.config.batch_size
                        hurry = self._stop.is_set() or self._flush_waiters > 0
                        self._idle.notify_all()
                    if not (more or hurry):
                        break
                self._report()
                if self._stop.is_set():
                    return
        except Exception:  # a bug here must not take the site down; say so once
            logger.exception("analytics_django: the sender thread died; events are no longer sent")
        finally:
            ingest.close()
            with self._lock:
                self._idle.notify_all()

    def _take(self):
        with self._lock:
            queue = self._queue
            n = min(len(queue), self.config.batch_size)
            batch = [queue.popleft() for _ in range(n)]
            self._in_flight = n
            return batch

    def _deliver(self, ingest, batch):
        """Send one batch; retry 503, 5xx and connection failures with backoff
        (honouring Retry-After) until delivered, refused (4xx), or shutdown's
        deadline passes."""
        for body, count in sender.encode(self.config.site, batch):
            if count < 0:  # one event alone was over the body limit
                self.rejected += -count
                self.last_error = "an event was larger than ingest's body limit"
                continue
            key = uuid.uuid4().hex  # the same on every retry: ingest counts it once
            delay = 0.5
            while True:
                outcome = ingest.post(body, key)
                if outcome.accepted is not None:
                    self.sent += outcome.accepted
                    if outcome.rejected:
                        self.rejected += outcome.rejected
                        self.last_error = outcome.error
                    break
                if outcome.refused:
                    self.rejected += count
                    self.last_error = outcome.error
                    break
                self.failed_attempts += 1
                self.last_error = outcome.error
                self._report()
                wait = outcome.retry_after if outcome.retry_after is not None else delay
                wait = min(wait, self.config.max_backoff) * random.uniform(0.8, 1.2)
                delay = min(delay * 2, self.config.max_backoff)
                if self._stop.is_set():
                    remaining = self._deadline - time.monotonic()
                    if remaining <= 0:
                        self.dropped_at_shutdown += count
                        break
                    wait = min(wait, remaining)
                    time.sleep(wait)
                else:
                    self._stop.wait(wait)
        if self._stop.is_set() and time.monotonic() > self._deadline:
            # Nothing more will get through in time: count what is left.
            with self._lock:
                self.dropped_at_shutdown += len(self._queue)
                self._queue.clear()

    def _report(self):
        """Log drops, rejections and failures since the last report, at most
        once a minute (first trouble is logged at once)."""
        now = time.monotonic()
        if now - self._last_report < REPORT_EVERY_S and not self._stop.is_set():
            return
        delta = {name: getattr(self, name) - self._reported[name] for name in COUNTERS}
        if not (delta["dropped_queue_full"] or delta["rejected"] or delta["failed_attempts"]
                or delta["dropped_at_shutdown"]):
            return
        parts = []
        if delta["dropped_queue_full"]:
            parts.append(f"{delta['dropped_queue_full']} events dropped because the queue "
                         f"(QUEUE_SIZE={self.config.queue_size}) was full")
        if delta["rejected"]:
            parts.append(f"{delta['rejected']} events refused by ingest")
        if delta["dropped_at_shutdown"]:
            parts.append(f"{delta['dropped_at_shutdown']} events not delivered before shutdown")
        if delta["failed_attempts"]:
            parts.append(f"{delta['failed_attempts']} failed sends, retried")
        if self._stop.is_set():
            since = "at shutdown"
        elif self._last_report > 0:
            since = f"in the last {now - self._last_report:.0f} s"
        else:
            since = "since start"
        logger.warning("analytics_django %s: %s (last error: %s)", since, "; ".join(parts),
                       self.last_error or "none")
        self._reported = {name: getattr(self, name) for name in COUNTERS}
        self._last_report = now


# ---- the process's trackers -------------------------------------------------

_registry = {}
_registry_lock = threading.Lock()


def for_config(config):
    """The process's tracker for this configuration (one sender thread each)."""
    with _registry_lock:
        tracker = _registry.get(config)
        if tracker is None:
            tracker = _registry[config] = Tracker(config)
        return tracker


def all_trackers():
    with _registry_lock:
        return list(_registry.values())


def shutdown(timeout=None):
    """Deliver what is queued (each tracker within its SHUTDOWN_TIMEOUT, or
    `timeout`) and stop the sender threads. Runs at interpreter exit."""
    trackers = [t for t in all_trackers() if t._thread is not None]
    for t in trackers:
        t.stop()
    longest = max((t.config.shutdown_timeout for t in trackers), default=0)
    deadline = time.monotonic() + (timeout if timeout is not None else longest + 0.5)
    for t in trackers:
        t.join(max(0.0, deadline - time.monotonic()))
    with _registry_lock:
        for t in trackers:
            _registry.pop(t.config, None)


def _after_fork_in_child():
    # The lock may have been held by a thread that does not exist here, and
    # the queued events are the parent's to send.
    global _registry_lock
    _registry_lock = threading.Lock()
    for tracker in list(_registry.values()):
        tracker._reset()


atexit.register(shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
