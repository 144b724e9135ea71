"""Orders and trades as the DB processor persisted them from the engine's event stream.

Ids are the engine's own. User references carry no database constraint (see
accounts/models.py)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from engine_worker.core.types import OrderStatus
from marketdata.units import AMOUNT


def _user(related_name: str = "+") -> models.ForeignKey:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name=related_name,
    )


class Order(models.Model):
    # The functional API over the core's enum: django-stubs types only the class form.
    Status = models.TextChoices("Status", [(s.name, s.value) for s in OrderStatus])  # type: ignore[call-overload]

    id = models.BigIntegerField(primary_key=True)
    user = _user()
    client_order_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - the API says null, and "" is not an id
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    type = models.CharField(max_length=16)
    time_in_force = models.CharField(max_length=3)
    post_only = models.BooleanField(default=False)
    price = models.DecimalField(**AMOUNT, null=True, blank=True)
    stop_price = models.DecimalField(
        **AMOUNT, null=True, blank=True, help_text="A stop order's trigger price."
    )
    order_list_id = models.BigIntegerField(
        null=True, blank=True, help_text="The OCO list it belongs to: its limit order's id."
    )
    priority = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="An open order's place in its price level's queue (null when closed, "
        "and for open rows from before priorities: their id); recovery restores the book "
        "in this order.",
    )
    quantity = models.DecimalField(**AMOUNT)
    filled_quantity = models.DecimalField(**AMOUNT)
    filled_quote_quantity = models.DecimalField(**AMOUNT, default=0)
    average_price = models.DecimalField(**AMOUNT, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    sequence = models.BigIntegerField(help_text="Engine sequence number of the last change.")

    class Meta:
        indexes = [
            models.Index(fields=["user", "-id"], name="order_user_id"),
            models.Index(fields=["user", "status"], name="order_user_status"),
            models.Index(fields=["status", "symbol"], name="order_status_symbol"),
            models.Index(fields=["order_list_id"], name="order_list"),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"order {self.id} {self.symbol} {self.side} {self.status}"


class Trade(models.Model):
    """One trade, both sides."""

    id = models.BigIntegerField(primary_key=True)
    symbol = models.CharField(max_length=32)
    price = models.DecimalField(**AMOUNT)
    quantity = models.DecimalField(**AMOUNT)
    quote_quantity = models.DecimalField(**AMOUNT)
    taker_side = models.CharField(max_length=4)
    maker_order_id = models.BigIntegerField()
    taker_order_id = models.BigIntegerField()
    maker_user = _user()
    taker_user = _user()
    maker_fee = models.DecimalField(**AMOUNT)
    maker_fee_asset = models.CharField(max_length=16)
    taker_fee = models.DecimalField(**AMOUNT)
    taker_fee_asset = models.CharField(max_length=16)
    time = models.DateTimeField()
    sequence = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["symbol", "-id"], name="trade_symbol_id"),
            models.Index(fields=["maker_user", "-id"], name="trade_maker_id"),
            models.Index(fields=["taker_user", "-id"], name="trade_taker_id"),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"trade {self.id} {self.symbol} {self.quantity}@{self.price}"


class OrderLimit(models.Model):
    """A user's own limit of open orders per market, in place of the default
    (settings.MAX_OPEN_ORDERS_PER_MARKET). This row is the source of truth; the engine
    holds it as state, set by a logged SetOrderLimit when an operator changes it
    (services.order_limit_set) and again at every engine start if they differ."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="order_limit",
    )
    max_open_orders = models.PositiveIntegerField(
        validators=[MinValueValidator(1)],
        help_text="Open orders this user may have in each market.",
    )

    class Meta:
        db_table = "accounts_orderlimit"  # created by accounts (0003) before the move

    def __str__(self) -> str:
        return f"{self.user_id}: {self.max_open_orders} open orders per market"
