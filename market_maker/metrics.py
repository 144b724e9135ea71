"""The market maker's metrics (docs/operations.md, "Metrics"), served on its own port by
``manage.py run_marketmaker`` (MARKET_MAKER_METRICS_PORT), beside the loop's
(exchange_service_*{service="marketmaker"}: cycle latency, failures)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge

from infra.metrics import MetricSet

ACTIONS = ("placed", "cancelled", "rejected", "crossing")
ROLES = ("maker", "taker")


class MarketMakerMetrics(MetricSet):
    def __init__(self) -> None:
        super().__init__()
        self._orders = self.add(
            Counter(
                "exchange_marketmaker_orders",
                "The bots' orders, by market and action: placed (a quote), cancelled (a "
                "quote), rejected (by the API), crossing (the taker's IOC orders).",
                ["symbol", "action"],
                registry=None,
            )
        )
        self._fills = self.add(
            Counter(
                "exchange_marketmaker_fills",
                "Fills of the bots' orders, by market and role: maker (its quotes, from the "
                "maker's fills) and taker (its crossing orders).",
                ["symbol", "role"],
                registry=None,
            )
        )
        self._open = self.add(
            Gauge(
                "exchange_marketmaker_open_quotes",
                "The maker's quotes resting after its last cycle, by market and side.",
                ["symbol", "side"],
                registry=None,
            )
        )
        self._reference = self.add(
            Gauge(
                "exchange_marketmaker_reference_price",
                "The price the maker quotes around, by market.",
                ["symbol"],
                registry=None,
            )
        )
        self.unavailable = self.add(
            Counter(
                "exchange_marketmaker_unavailable",
                "Cycles cut short because the API or the engine said later (the bot backs off).",
                registry=None,
            )
        )
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (str(id(metric)), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def orders(self, symbol: str, action: str, n: int = 1) -> None:
        if n:
            self._child(self._orders, symbol, action).inc(n)

    def fills(self, symbol: str, role: str, n: int = 1) -> None:
        if n:
            self._child(self._fills, symbol, role).inc(n)

    def quotes(self, symbol: str, bids: int, asks: int, reference: float) -> None:
        self._child(self._open, symbol, "buy").set(bids)
        self._child(self._open, symbol, "sell").set(asks)
        self._child(self._reference, symbol).set(reference)
