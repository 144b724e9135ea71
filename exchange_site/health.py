"""Liveness of every dependency (/healthz) and Prometheus metrics (/metrics)."""

from __future__ import annotations

import http.client
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from infra import keys
from infra.metrics import ScrapeGauges
from marketdata.selectors import read_model
from persistence.deadletters import dead_letter_counts

logger = logging.getLogger(__name__)


def _shards() -> set[int]:
    return {settings.ENGINE_DEFAULT_SHARD, *settings.ENGINE_SHARDS.values()}


def dependency_status() -> dict[str, bool]:
    status: dict[str, bool] = {}
    for alias in ("default", "timeseries"):
        if alias not in settings.DATABASES and alias == "timeseries":
            status["timeseries"] = status["postgres"]
            continue
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
            status["postgres" if alias == "default" else alias] = True
        except Exception:  # noqa: BLE001 - any failure means down
            status["postgres" if alias == "default" else alias] = False
    try:
        redis = read_model()
        redis.ping()
        status["redis"] = True
        for shard in sorted(_shards()):
            status[f"engine.{shard}"] = bool(redis.exists(keys.alive(shard)))
    except Exception:  # noqa: BLE001
        status["redis"] = False
        for shard in sorted(_shards()):
            status[f"engine.{shard}"] = False
    return status


def healthz(request: HttpRequest) -> JsonResponse:
    status = dependency_status()
    healthy = all(status.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": status},
        status=200 if healthy else 503,
    )


def metrics(request: HttpRequest) -> HttpResponse:
    """The web processes' metrics (HTTP, gateway), the WebSocket process's
    (:func:`websocket_metrics`), then the deployment's, read when scraped
    (:data:`DEPLOYMENT`). ``?process=own``: this process's alone (prometheus-client's
    default registry, with its process_* and python_*)."""
    if request.GET.get("process") == "own":
        return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
    body = generate_latest(web_registry()) + websocket_metrics() + generate_latest(DEPLOYMENT)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def web_registry() -> CollectorRegistry:
    """The counts of every web process: under gunicorn (deploy/gunicorn.conf.py) each of
    its processes writes them to files in PROMETHEUS_MULTIPROC_DIR, summed here by
    prometheus-client's multiprocess collector (counters and histograms added up; it has
    no process_* or python_*, which are one process's each); otherwise (one process, the
    tests) this process's default registry."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Summed(path))
    return registry


class _Summed(Collector):
    """Every process's counts summed, and the families no process has counted yet (a
    labelled counter with no child: the exceptions by view before any exception), empty,
    as one process's own registry shows them (the files know only what was counted)."""

    def __init__(self, path: str) -> None:
        self.summed = MultiProcessCollector(None, path=path)

    def collect(self) -> Iterator[Metric]:
        summed = list(self.summed.collect())
        yield from summed
        names = {family.name for family in summed}
        for family in REGISTRY.collect():
            if not family.samples and family.name not in names:
                yield family


WEBSOCKET_PREFIX = "exchange_ws_"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def websocket_metrics() -> bytes:
    """The ``exchange_ws_*`` metrics of the process serving the WebSockets, when that is
    another one (settings.WEBSOCKET_METRICS: ``unix:<socket>`` or ``host:port`` of its
    HTTP, `make run`'s daphne behind the front proxy), asked for with ``?process=own``;
    nothing when unset or when it does not answer (logged)."""
    where = settings.WEBSOCKET_METRICS
    if not where:
        return b""
    host = next((h.lstrip(".") for h in settings.ALLOWED_HOSTS if h != "*"), "localhost")
    try:
        if where.startswith("unix:"):
            conn: http.client.HTTPConnection = _UnixConnection(where[5:], timeout=2)
        else:
            name, _, port = where.rpartition(":")
            conn = http.client.HTTPConnection(name, int(port), timeout=2)
        conn.request("GET", "/metrics?process=own", headers={"Host": host})
        response = conn.getresponse()
        text = response.read().decode()
        conn.close()
        if response.status != 200:
            raise OSError(f"status {response.status}")
    except (OSError, ValueError) as exc:
        logger.warning("metrics: the WebSocket process's metrics are missing (%s)", exc)
        return b""
    families = [
        family
        for family in text_string_to_metric_families(text)
        if family.name.startswith(WEBSOCKET_PREFIX)
    ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


def deployment_gauges() -> Iterator[tuple[str, tuple[str, ...], float]]:
    """The dependencies' health, the dead letters per shard (every configured shard, and
    any other that has some) and each shard's last reconcile, as (name, labels, value)."""
    status = dependency_status()
    for name, up in status.items():
        yield "exchange_dependency_up", (name,), float(up)
    if status.get("postgres"):
        try:
            counts = dead_letter_counts()
        except Exception:  # noqa: BLE001 - the database went away: the gauge is left out
            counts = None
        if counts is not None:
            for shard in sorted(_shards() | set(counts)):
                yield "exchange_dead_letters", (str(shard),), float(counts.get(shard, 0))
    if status.get("redis"):
        yield from reconcile_gauges(read_model())


def reconcile_gauges(redis: Any) -> Iterator[tuple[str, tuple[str, ...], float]]:
    for shard in sorted(_shards()):
        outcome = {
            k.decode(): v.decode() for k, v in redis.hgetall(keys.reconcile_result(shard)).items()
        }
        if not outcome:
            continue  # never run on this shard
        labels = (str(shard),)
        yield "exchange_reconcile_last_run_timestamp_seconds", labels, float(outcome["last_run"])
        yield "exchange_reconcile_finished", labels, float(outcome.get("finished", "0"))
        yield "exchange_reconcile_differences", labels, float(outcome.get("differences", "0"))
        if "last_success" in outcome:
            yield (
                "exchange_reconcile_last_success_timestamp_seconds",
                labels,
                float(outcome["last_success"]),
            )


# Read when /metrics is scraped, from the web process (any of them: every one answers
# the same). Its own registry: the engine and the other services load the same apps but
# must not export these.
DEPLOYMENT = CollectorRegistry(auto_describe=True)
ScrapeGauges(
    {
        "exchange_dependency_up": (
            "Whether a dependency answers (1) or not (0): postgres, timeseries, redis, and "
            "engine.<shard> (its heartbeat key).",
            ("dependency",),
        ),
        "exchange_dead_letters": (
            "Event-stream entries the DB processor could not persist, waiting for an "
            "operator (manage.py dead_letters).",
            ("shard",),
        ),
        "exchange_reconcile_last_run_timestamp_seconds": (
            "When manage.py reconcile last ran on the shard (Unix time).",
            ("shard",),
        ),
        "exchange_reconcile_finished": (
            "Whether the shard's last reconcile finished (1) or could not (0: the engine "
            "did not answer or the database did not catch up).",
            ("shard",),
        ),
        "exchange_reconcile_differences": (
            "Differences the shard's last finished reconcile found (0 when it did not finish).",
            ("shard",),
        ),
        "exchange_reconcile_last_success_timestamp_seconds": (
            "When a reconcile of the shard last finished with no differences (Unix time).",
            ("shard",),
        ),
    },
    deployment_gauges,
    registry=DEPLOYMENT,
)
