from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikit.errors import ExchangeError
from marketdata.services import market_create
from marketdata.units import DEFAULT_DECIMALS


def decimal_arg(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CommandError(f"not a decimal: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise CommandError(f"must be a non-negative decimal: {text!r}")
    return value


class Command(BaseCommand):
    help = "Create a market (and its missing assets); it trades at once, with no restart."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbol", help="e.g. SOL_USDT")
        parser.add_argument("--base", required=True)
        parser.add_argument("--quote", required=True)
        parser.add_argument("--tick-size", required=True, type=decimal_arg)
        parser.add_argument("--lot-size", required=True, type=decimal_arg)
        parser.add_argument("--min-notional", type=decimal_arg, default=Decimal(0))
        parser.add_argument("--min-quantity", type=decimal_arg, default=Decimal(0))
        parser.add_argument("--max-quantity", type=decimal_arg, default=Decimal(1_000_000))
        parser.add_argument(
            "--max-price",
            type=decimal_arg,
            default=None,
            help="Orders above it are refused (default: the highest price whose notional "
            "at the maximum quantity the database can store).",
        )
        parser.add_argument("--maker-fee-bps", type=int, default=10)
        parser.add_argument("--taker-fee-bps", type=int, default=20)
        parser.add_argument("--base-decimals", type=int, default=DEFAULT_DECIMALS)
        parser.add_argument("--quote-decimals", type=int, default=DEFAULT_DECIMALS)
        parser.add_argument(
            "--shard", type=int, default=None, help="Engine shard (default: ENGINE_SHARDS, else 0)."
        )

    def handle(self, *args: object, **o: Any) -> None:
        try:
            market = market_create(
                symbol=o["symbol"],
                base=o["base"],
                quote=o["quote"],
                tick_size=o["tick_size"],
                lot_size=o["lot_size"],
                min_notional=o["min_notional"],
                min_quantity=o["min_quantity"],
                max_quantity=o["max_quantity"],
                max_price=o["max_price"],
                maker_fee_bps=o["maker_fee_bps"],
                taker_fee_bps=o["taker_fee_bps"],
                base_decimals=o["base_decimals"],
                quote_decimals=o["quote_decimals"],
                shard=o["shard"],
            )
        except ExchangeError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(self.style.SUCCESS(f"market {market.symbol} created and trading"))
