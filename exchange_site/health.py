"""Liveness of every dependency (/healthz) and Prometheus metrics (/metrics)."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from engine_worker import keys
from marketdata.selectors import read_model


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
    lines = [
        "# HELP exchange_dependency_up Whether a dependency answers (1) or not (0).",
        "# TYPE exchange_dependency_up gauge",
    ]
    for name, up in dependency_status().items():
        lines.append(f'exchange_dependency_up{{dependency="{name}"}} {int(up)}')
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
