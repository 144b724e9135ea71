"""Fill (or repair) the time-series store from the trades table."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketdata import timeseries


@dataclass
class BackfillResult:
    read: int = 0
    written: int = 0
    first: datetime | None = None
    last: datetime | None = None


class Backfill:
    """Copies orders.Trade rows into the ticks (timeseries.ticks_write: idempotent, so a
    rerun or a run beside the live DB processor writes each trade once), in id order and
    batches, then refreshes the TimescaleDB continuous aggregates over the range."""

    def __init__(
        self,
        *,
        symbol: str | None = None,
        batch: int = 10_000,
        refresh: bool = True,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self.symbol = symbol
        self.batch = batch
        self.refresh = refresh
        self.progress = progress

    def run(self) -> BackfillResult:
        from orders.models import Trade

        trades = Trade.objects.order_by("id")
        if self.symbol:
            trades = trades.filter(symbol=self.symbol)
        total = trades.count()
        result = BackfillResult()
        after = None
        fields = ("id", "symbol", "price", "quantity", "quote_quantity", "taker_side", "time")
        while True:
            page = trades if after is None else trades.filter(id__gt=after)
            rows = list(page.values(*fields)[: self.batch])
            if not rows:
                break
            result.written += timeseries.ticks_write(rows)
            result.read += len(rows)
            after = rows[-1]["id"]
            times = [row["time"] for row in rows]
            result.first = min([*times, result.first or times[0]])
            result.last = max([*times, result.last or times[0]])
            if self.progress:
                self.progress(result.read, total, result.written)
        if self.refresh and result.first is not None and timeseries.timescale_enabled():
            timeseries.klines_refresh(result.first - timeseries.INTERVALS["1d"], None)
        return result


class Command(BaseCommand):
    help = (
        "Backfill the price ticks (and so the klines) from the trades table: for a new or "
        "repaired timeseries database. Idempotent; safe beside a running DB processor."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", help="only this market (default: all)")
        parser.add_argument("--batch", type=int, default=10_000, help="trades per statement")
        parser.add_argument(
            "--no-refresh",
            dest="refresh",
            action="store_false",
            help="TimescaleDB: leave the continuous aggregates to their refresh policies",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1")
        symbol = options["symbol"].upper() if options["symbol"] else None
        tty = sys.stderr.isatty() and options["verbosity"] > 0
        started = time.monotonic()
        last_line = [0.0]

        def progress(done: int, total: int, written: int) -> None:
            if options["verbosity"] == 0:
                return
            now = time.monotonic()
            rate = done / max(now - started, 1e-9)
            share = done / total if total else 1.0
            bar = "#" * int(share * 30)
            line = f"[{bar:<30}] {share:6.1%} {done}/{total} trades, {written} new, {rate:,.0f}/s"
            if tty:
                self.stderr.write("\r" + line, ending="")
            elif now - last_line[0] >= 2 or done == total:  # a line every 2 s in logs
                self.stdout.write(line)
                last_line[0] = now

        result = Backfill(
            symbol=symbol, batch=options["batch"], refresh=options["refresh"], progress=progress
        ).run()
        if tty:
            self.stderr.write("")
        self.stdout.write(
            f"{result.read} trades read, {result.written} ticks written "
            f"in {time.monotonic() - started:.1f}s"
        )
