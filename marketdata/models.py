"""Assets and markets: the catalogue the engine trades."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from engine_worker.core.types import MarketStatus

AMOUNT = {"max_digits": 38, "decimal_places": 18}


class Asset(models.Model):
    symbol = models.CharField(max_length=16, unique=True)
    decimals = models.PositiveSmallIntegerField(
        default=8,
        validators=[MaxValueValidator(18)],
        help_text="Smallest unit is 10^-decimals; balances are kept in these units.",
    )

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return self.symbol


class Market(models.Model):
    Status = models.TextChoices("Status", [(s.name, s.value) for s in MarketStatus])

    symbol = models.CharField(max_length=32, unique=True)
    base = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="base_markets")
    quote = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="quote_markets")
    tick_size = models.DecimalField(**AMOUNT)
    lot_size = models.DecimalField(**AMOUNT)
    min_quantity = models.DecimalField(**AMOUNT, default=Decimal(0))
    max_quantity = models.DecimalField(**AMOUNT, default=Decimal(1_000_000))
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
