"""manage.py run_wsbridge: Redis Pub/Sub (the engine's md.* and user.*) -> Channels groups."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from infra import metrics
from realtime import conf
from realtime.bridge import WsBridge


class Command(BaseCommand):
    help = (
        "Run the WebSocket bridge: pattern-subscribe to the engine's md.* and user.* "
        "channels and send coalesced messages to the Channels groups the /ws/v1 sockets "
        "of every web process listen on. One per deployment."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--coalesce-ms",
            type=float,
            default=None,
            help="Per-market coalescing window in ms (default WS_COALESCE_MS, 100; 0: off).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        window = options["coalesce_ms"]
        if window is None:
            window = conf.coalesce_ms()
        if window < 0:
            raise CommandError("--coalesce-ms must be 0 or more.")
        bridge = WsBridge(redis_url=settings.REDIS_URL, window_ms=window)
        metrics.serve("wsbridge", collectors=[bridge.metrics, bridge.bridge_metrics])
        try:
            bridge.run()
        finally:
            bridge.close()
