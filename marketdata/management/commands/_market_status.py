"""Shared by halt_market and resume_market."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikit.errors import ExchangeError
from engine_worker.core.types import MarketStatus
from marketdata.models import Market
from marketdata.services import market_set_status


class MarketStatusCommand(BaseCommand):
    status: MarketStatus

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbol")

    def handle(self, *args: object, symbol: str, **options: object) -> None:
        market = Market.objects.filter(symbol=symbol.upper()).first()
        if market is None:
            raise CommandError(f"unknown market {symbol!r}")
        try:
            market_set_status(market=market, status=self.status)
        except ExchangeError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(self.style.SUCCESS(f"{market.symbol} is now {self.status.value}"))
