from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand

from marketdata.models import Market
from marketdata.services import market_create

DEMO_MARKETS: list[dict[str, Any]] = [
    {
        "symbol": "BTC_USDT",
        "base": "BTC",
        "quote": "USDT",
        "tick_size": Decimal("0.01"),
        "lot_size": Decimal("0.00001"),
        "min_notional": Decimal("1"),
        "base_decimals": 8,
        "quote_decimals": 8,
    },
    {
        "symbol": "ETH_USDT",
        "base": "ETH",
        "quote": "USDT",
        "tick_size": Decimal("0.01"),
        "lot_size": Decimal("0.0001"),
        "min_notional": Decimal("1"),
        "base_decimals": 8,
        "quote_decimals": 8,
    },
]


class Command(BaseCommand):
    help = "Create the demo markets BTC_USDT and ETH_USDT if they are missing (idempotent)."

    def handle(self, *args: object, **options: Any) -> None:
        for spec in DEMO_MARKETS:
            if Market.objects.filter(symbol=spec["symbol"]).exists():
                self.stdout.write(f"{spec['symbol']}: already there")
                continue
            # The engine may not run yet: it loads every market from the database at start.
            market_create(**spec, notify_engine=False)
            self.stdout.write(self.style.SUCCESS(f"{spec['symbol']}: created"))
