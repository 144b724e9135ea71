"""Liveness of every dependency (/healthz) and Prometheus metrics (/metrics)."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from infra import keys
from marketdata.selectors import read_model
from persistence.deadletters import dead_letter_counts


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
    status = dependency_status()
    for name, up in status.items():
        lines.append(f'exchange_dependency_up{{dependency="{name}"}} {int(up)}')
    if status.get("postgres"):
        lines += dead_letter_lines()
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")


def dead_letter_lines() -> list[str]:
    """Per shard (every configured one, and any other that has some), the stream entries
    the DB processor could not persist (docs/event-stream.md, "Dead letters")."""
    try:
        counts = dead_letter_counts()
    except Exception:  # noqa: BLE001 - the database went away: the gauge is left out
        return []
    lines = [
        "# HELP exchange_dead_letters Event-stream entries the DB processor could not "
        "persist, waiting for an operator (manage.py dead_letters).",
        "# TYPE exchange_dead_letters gauge",
    ]
    for shard in sorted(_shards() | set(counts)):
        lines.append(f'exchange_dead_letters{{shard="{shard}"}} {counts.get(shard, 0)}')
    return lines
