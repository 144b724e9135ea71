"""A small loop base for the long-running services (DB processor, and later the market
maker and the WebSocket bridge), after Zulip's QueueProcessingWorker.

A service implements :meth:`Service.fetch` (wait up to a short time for the next batch)
and :meth:`Service.handle` (process it, return a few counters); the base owns the rest:

- SIGTERM / SIGINT ask for a graceful stop: the batch in hand is finished, then
  :meth:`Service.run` returns (a second signal does not interrupt a batch either: a
  supervisor that must not wait sends SIGKILL, and the services are built to be killed).
- An exception in fetch or handle is logged with its traceback, :meth:`Service.recover`
  is called (drop connections, caches), and the loop backs off (0.5 s doubling to 30 s,
  interrupted by a stop) before it tries again. One success resets the backoff.
- Progress: a line at INFO for every batch that is large or slow, else one line every
  ``progress_interval`` seconds summing the batches since the last line.
- Metrics (:class:`ServiceMetrics`, ``exchange_service_*{service}``): batches, their
  latency and size, failures; the service's entry point registers them with its own.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from typing import Any

from prometheus_client import Counter as MetricCounter
from prometheus_client import Histogram

from infra.metrics import LATENCY_BUCKETS, SIZE_BUCKETS, MetricSet

logger = logging.getLogger(__name__)


class ServiceMetrics(MetricSet):
    """The loop's own metrics, labelled with the service's kind (its class' ``name``:
    dbprocessor, wsbridge, marketmaker)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.batches = self.add(
            MetricCounter(
                "exchange_service_batches",
                "Batches the service handled.",
                ["service"],
                registry=None,
            )
        ).labels(service)
        self.batch_seconds = self.add(
            Histogram(
                "exchange_service_batch_seconds",
                "Time to handle one batch (a DB processor batch, a bridge drain, a market "
                "maker cycle).",
                ["service"],
                buckets=LATENCY_BUCKETS,
                registry=None,
            )
        ).labels(service)
        self.batch_size = self.add(
            Histogram(
                "exchange_service_batch_size",
                "Items per batch (stream entries, Pub/Sub messages, orders placed and cancelled).",
                ["service"],
                buckets=SIZE_BUCKETS,
                registry=None,
            )
        ).labels(service)
        self.failures = self.add(
            MetricCounter(
                "exchange_service_failures",
                "Failed fetches or batches (each followed by a back-off and a retry).",
                ["service"],
                registry=None,
            )
        ).labels(service)


def _seq_field(counters: dict[str, Any]) -> dict[str, Any] | None:
    """The sequence number a progress line is at, as a field of the JSON logs."""
    return {"seq": counters["last_seq"]} if "last_seq" in counters else None


class Service:
    name = "service"
    progress_interval = 10.0  # seconds between progress lines
    large_batch = 1000  # a batch of at least this many items is logged on its own...
    slow_batch = 1.0  # ...and so is one that took at least this many seconds
    backoff_initial = 0.5
    backoff_max = 30.0

    def __init__(self) -> None:
        self.stop_requested = threading.Event()
        self.batches = 0
        self._window: Counter[str] = Counter()
        self._window_batches = 0
        self._window_started = time.monotonic()
        self._failures = 0
        self.metrics = ServiceMetrics(type(self).name)

    # -- to implement -----------------------------------------------------------------

    def setup(self) -> None:
        """Called once before the loop (and again after a failure, before retrying)."""

    def fetch(self) -> Any:
        """The next batch, or an empty/None value after waiting a short while."""
        raise NotImplementedError

    def handle(self, batch: Any) -> dict[str, Any]:
        """Process one batch; return counters for the progress lines (``size`` is the
        number of items in the batch; numbers are summed, anything else is shown last)."""
        raise NotImplementedError

    def recover(self, exc: BaseException) -> None:
        """After a failed fetch or handle: drop whatever may be broken."""

    def describe(self, counters: dict[str, Any]) -> str:
        return " ".join(f"{k}={v}" for k, v in counters.items())

    # -- the loop -----------------------------------------------------------------------

    def stop(self, *_: Any) -> None:
        if not self.stop_requested.is_set():
            logger.info("%s: stop requested, finishing the current batch", self.name)
        self.stop_requested.set()

    def install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)

    def run_once(self) -> dict[str, Any] | None:
        """One fetch and, if it brought anything, one handle. Exceptions propagate."""
        batch = self.fetch()
        if not batch:
            self._maybe_progress(idle=True)
            return None
        started = time.monotonic()
        counters = self.handle(batch)
        elapsed = time.monotonic() - started
        self.batches += 1
        size = int(counters.get("size", len(batch)))
        metrics = self.metrics
        metrics.batches.inc()
        metrics.batch_seconds.observe(elapsed)
        metrics.batch_size.observe(size)
        if size >= self.large_batch or elapsed >= self.slow_batch:
            logger.info(
                "%s: batch of %d in %.0f ms: %s",
                self.name,
                size,
                elapsed * 1000,
                self.describe(counters),
                extra=_seq_field(counters),
            )
        self._accumulate(counters)
        self._maybe_progress()
        return counters

    def run(self, *, max_batches: int | None = None, signals: bool = True) -> None:
        if signals:
            self.install_signal_handlers()
        logger.info("%s: starting", self.name)
        ready = False
        while not self.stop_requested.is_set():
            try:
                if not ready:
                    self.setup()
                    ready = True
                self.run_once()
                self._failures = 0
            except Exception as exc:
                self._failures += 1
                self.metrics.failures.inc()
                delay = min(self.backoff_max, self.backoff_initial * 2 ** (self._failures - 1))
                logger.exception(
                    "%s: failure %d (%s); retrying in %.1f s",
                    self.name,
                    self._failures,
                    type(exc).__name__,
                    delay,
                )
                ready = False
                try:
                    self.recover(exc)
                except Exception:
                    logger.exception("%s: recover failed", self.name)
                self.stop_requested.wait(delay)
            if max_batches is not None and self.batches >= max_batches:
                break
        self._maybe_progress(force=True)
        logger.info("%s: stopped after %d batches", self.name, self.batches)

    # -- progress -----------------------------------------------------------------------

    def _accumulate(self, counters: dict[str, Any]) -> None:
        self._window_batches += 1
        for key, value in counters.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._window[key] += value  # type: ignore[assignment]
        self._last = counters

    def _maybe_progress(self, *, idle: bool = False, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._window_started < self.progress_interval:
            return
        if self._window_batches:
            last = getattr(self, "_last", {})
            summed = dict(self._window)
            # point-in-time values (lag, last_seq) come from the last batch, not summed
            for key in self.point_in_time:
                if key in last:
                    summed[key] = last[key]
            logger.info(
                "%s: %d batches in %.0f s: %s",
                self.name,
                self._window_batches,
                now - self._window_started,
                self.describe(summed),
                extra=_seq_field(summed),
            )
        elif idle and not force:
            self.idle_progress()
        self._window.clear()
        self._window_batches = 0
        self._window_started = now

    point_in_time: tuple[str, ...] = ()

    def idle_progress(self) -> None:
        """Called about every progress_interval seconds while nothing arrives."""
