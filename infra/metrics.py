"""Prometheus metrics, shared by every service (docs/operations.md, "Metrics").

Each long-running service exposes its own metrics (prometheus-client's default registry
of its process) on its own port, started by :func:`serve`: the engine worker
(``ENGINE_METRICS_PORT`` + shard), the DB processor (``DBPROCESSOR_METRICS_PORT`` +
shard), the WebSocket bridge (``WSBRIDGE_METRICS_PORT``) and the market maker
(``MARKET_MAKER_METRICS_PORT``), all on ``METRICS_ADDR``; the web service answers
``/metrics`` on its own port (exchange_site/health.py). Not prometheus-client's
multiprocess mode across services: they are separate programs (separate containers under
docker/), a shared directory would have to outlive and be wiped with each of them, and the
scrape-time gauges (lag, resting orders) are custom collectors, which that mode cannot
aggregate. Inside the web service it is used: its gunicorn processes' counters and
histograms are summed (deploy/gunicorn.conf.py). One scrape target per service also gives
Prometheus' own ``up`` per service, which is what the "engine down" alert needs.

Cheap on the hot path: labelled children are bound once (per shard, per symbol), batches
are counted once per batch, and counts that change per command or per socket frame are
:class:`Tally` ints, read only when Prometheus scrapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# No "<name>_created" series beside each counter and histogram: they double a scrape and
# no dashboard or alert here reads them.
disable_created_metrics()

# Seconds: from a fraction of a millisecond (an engine batch) to the reply timeout.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Items per batch (commands, stream entries, Pub/Sub messages).
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def serve(service: str, *, offset: int = 0, collectors: Iterable[Collector] = ()) -> int | None:
    """Register ``collectors`` (the service's :class:`MetricSet`) in the default registry
    and start this process's metrics endpoint (a thread of prometheus-client's) on
    ``settings.METRICS_PORTS[service] + offset``; returns the port, or None when the
    service's port is 0 (off) or taken. A port in use is logged as an ERROR and the
    service runs on without metrics: its ``up`` is then 0 in Prometheus, which alerts."""
    for collector in collectors:
        REGISTRY.register(collector)
    base = int(settings.METRICS_PORTS.get(service) or 0)
    if base <= 0:
        logger.info("%s: metrics endpoint off (its port is 0)", service)
        return None
    port = base + offset
    addr = settings.METRICS_ADDR
    try:
        start_http_server(port, addr=addr)
    except OSError as exc:
        logger.error(  # noqa: TRY400 - the cause is the message; no traceback needed
            "%s: cannot serve metrics on %s:%d (%s); running without them", service, addr, port, exc
        )
        return None
    logger.info("%s: metrics on http://%s:%d/metrics", service, addr, port)
    return port


class MetricSet(Collector):
    """One service object's metrics, created unregistered (``registry=None``) so that
    tests may make many such objects; the service's entry point registers the set once
    (:func:`serve`). Subclasses create their metrics with :meth:`add`."""

    def __init__(self) -> None:
        self._members: list[Any] = []

    def add(self, metric: Any) -> Any:
        self._members.append(metric)
        return metric

    def describe(self) -> Iterable[Metric]:
        return [family for member in self._members for family in member.describe()]

    def collect(self) -> Iterable[Metric]:
        return [family for member in self._members for family in member.collect()]


class Tally(Collector):
    """A counter family kept as plain ints, for counts that change per command or per
    frame: ``tally.counts[labels] += 1`` costs a dict update, no lock and no label lookup.
    Only for counts written by one thread (the engine's job, the web process' event loop);
    a scrape reads a copy of the dict (one C call, so never a dict changing under it).
    ``preset`` label tuples are exported at 0 before their first count."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...] = (),
        *,
        preset: Iterable[tuple[str, ...]] = (),
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.counts: dict[tuple[str, ...], int] = dict.fromkeys(preset, 0)
        if not labelnames:
            self.counts.setdefault((), 0)
        if registry is not None:
            registry.register(self)

    def add(self, labels: tuple[str, ...], amount: int = 1) -> None:
        counts = self.counts
        counts[labels] = counts.get(labels, 0) + amount

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for labels, value in list(self.counts.items()):
            family.add_metric(labels, value)
        return [family]


class ScrapeGauges(Collector):
    """Gauges computed when Prometheus scrapes, by ``read``: it yields (name, labels,
    value) for the families declared in ``families`` (name -> (documentation,
    labelnames)). A failing ``read`` (Redis away) leaves those gauges out of that scrape
    and is logged once per failure streak; the rest of the scrape is unaffected."""

    def __init__(
        self,
        families: dict[str, tuple[str, tuple[str, ...]]],
        read: Callable[[], Iterator[tuple[str, tuple[str, ...], float]]],
        *,
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.families = families
        self.read = read
        self._failing = False
        if registry is not None:
            registry.register(self)

    def _empty(self) -> dict[str, GaugeMetricFamily]:
        return {
            name: GaugeMetricFamily(name, doc, labels=labels)
            for name, (doc, labels) in self.families.items()
        }

    def describe(self) -> Iterable[Metric]:
        return list(self._empty().values())

    def collect(self) -> Iterable[Metric]:
        out = self._empty()
        try:
            for name, labels, value in self.read():
                out[name].add_metric(labels, value)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail with its source
            if not self._failing:
                logger.warning("metrics: %s unavailable (%s)", ", ".join(self.families), exc)
            self._failing = True
            return []
        self._failing = False
        return list(out.values())


def unregister(collector: Any) -> None:
    """Take a collector out of the default registry (tests that make several)."""
    try:
        REGISTRY.unregister(collector)
    except KeyError:
        pass
