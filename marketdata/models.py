"""Assets and markets: the catalogue the engine trades."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from engine_worker.core.types import MarketStatus
from marketdata.units import AMOUNT, DEFAULT_DECIMALS, VOLUME, max_price_default


class Asset(models.Model):
    symbol = models.CharField(max_length=16, unique=True)
    decimals = models.PositiveSmallIntegerField(
        default=DEFAULT_DECIMALS,
        validators=[MaxValueValidator(18)],
        help_text="Smallest unit is 10^-decimals; balances are kept in these units.",
    )

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return self.symbol


class Market(models.Model):
    # The functional API over the core's enum: django-stubs types only the class form.
    Status = models.TextChoices("Status", [(s.name, s.value) for s in MarketStatus])  # type: ignore[call-overload]

    symbol = models.CharField(max_length=32, unique=True)
    base = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="base_markets")
    quote = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="quote_markets")
    tick_size = models.DecimalField(**AMOUNT)
    lot_size = models.DecimalField(**AMOUNT)
    min_quantity = models.DecimalField(**AMOUNT, default=Decimal(0))
    max_quantity = models.DecimalField(**AMOUNT, default=Decimal(1_000_000))
    max_price = models.DecimalField(
        **AMOUNT,
        blank=True,
        help_text="Orders above this price are refused. Empty: the highest price whose "
        "notional at the maximum quantity the database can still store.",
    )
    min_notional = models.DecimalField(**AMOUNT, default=Decimal(0))
    maker_fee_bps = models.PositiveIntegerField(default=10, validators=[MaxValueValidator(10_000)])
    taker_fee_bps = models.PositiveIntegerField(default=20, validators=[MaxValueValidator(10_000)])
    status = models.CharField(max_length=16, choices=Status.choices, default=MarketStatus.TRADING)
    shard = models.PositiveSmallIntegerField(default=0, validators=[MinValueValidator(0)])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return self.symbol

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.max_price is None:  # the default depends on the market's other sizes
            self.max_price = max_price_default(Decimal(self.tick_size), Decimal(self.max_quantity))
        super().save(*args, **kwargs)


# -- the time series (on the `timeseries` database alias: marketdata/routers.py) ------------


class Tick(models.Model):
    """One trade of the price feed, as the DB processor wrote it from the engine's stream.

    The key (symbol, time, trade_id) makes writes idempotent (trade ids are unique per
    market) and is the index the kline and trade queries use; it includes the time column,
    as a TimescaleDB hypertable's unique indexes must. On TimescaleDB this table is a
    hypertable (migration 0002), on plain PostgreSQL an ordinary table."""

    pk = models.CompositePrimaryKey("symbol", "time", "trade_id")
    symbol = models.CharField(max_length=32)
    time = models.DateTimeField()
    trade_id = models.BigIntegerField()
    price = models.DecimalField(**AMOUNT)
    quantity = models.DecimalField(**AMOUNT)
    quote_quantity = models.DecimalField(**AMOUNT)
    taker_side = models.CharField(max_length=4)

    def __str__(self) -> str:
        return f"tick {self.symbol} {self.trade_id} {self.quantity}@{self.price}"


class Kline(models.Model):
    """A candle of the plain-PostgreSQL path: the rollup that ``timeseries.ticks_write``
    maintains in the same statement as the ticks (one row per market, interval and bucket).
    On TimescaleDB the candles come from continuous aggregates instead and this table
    stays empty. Open and close are the prices of the bucket's first and last trade
    (lowest and highest trade id), whose ids are kept to merge batches in any order."""

    pk = models.CompositePrimaryKey("symbol", "interval", "open_time")
    symbol = models.CharField(max_length=32)
    interval = models.CharField(max_length=3)
    open_time = models.DateTimeField()
    open = models.DecimalField(**AMOUNT)
    high = models.DecimalField(**AMOUNT)
    low = models.DecimalField(**AMOUNT)
    close = models.DecimalField(**AMOUNT)
    volume = models.DecimalField(**VOLUME)  # sums of amounts: wider than one
    quote_volume = models.DecimalField(**VOLUME)
    trades = models.BigIntegerField()
    open_trade_id = models.BigIntegerField()
    close_trade_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"kline {self.symbol} {self.interval} {self.open_time:%Y-%m-%dT%H:%M}"
