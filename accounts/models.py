"""Accounts use Django's User and DRF's Token; the exchange's own fee account is a
system user created by this app's migration (see FEE_ACCOUNT_USERNAME).

Balances, the ledger and transfers are the DB processor's persisted copy of what the
engine did (it is their only writer). User references carry no database constraint:
the engine's command log is the authority, and it may name an account the database does
not hold (a bot or benchmark account), which must not stop persistence."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from marketdata.units import AMOUNT


def _user() -> models.ForeignKey:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )


class Balance(models.Model):
    user = _user()
    asset = models.CharField(max_length=16)
    available = models.DecimalField(**AMOUNT)
    locked = models.DecimalField(**AMOUNT)
    sequence = models.BigIntegerField(help_text="Engine sequence number of the last change.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "asset"], name="balance_user_asset")]
        ordering = ["user_id", "asset"]

    def __str__(self) -> str:
        return f"{self.user_id} {self.asset}"


class LedgerEntry(models.Model):
    """One balance movement. Deposits, withdrawals, trades and fees change the total;
    lock and unlock move funds between available and locked."""

    class Cause(models.TextChoices):
        DEPOSIT = "deposit"
        WITHDRAWAL = "withdrawal"
        LOCK = "lock"
        UNLOCK = "unlock"
        TRADE = "trade"
        FEE = "fee"

    user = _user()
    asset = models.CharField(max_length=16)
    cause = models.CharField(max_length=16, choices=Cause.choices)
    delta_available = models.DecimalField(**AMOUNT)
    delta_locked = models.DecimalField(**AMOUNT)
    sequence = models.BigIntegerField()
    trade_id = models.BigIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    time = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "asset", "id"], name="ledger_user_asset")]
        ordering = ["-id"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.cause} {self.asset} {self.user_id} @{self.sequence}"


class Transfer(models.Model):
    """A deposit or a withdrawal the engine applied."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit"
        WITHDRAWAL = "withdrawal"

    user = _user()
    asset = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(**AMOUNT)
    sequence = models.BigIntegerField(unique=True)
    time = models.DateTimeField()

    class Meta:
        ordering = ["-sequence"]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.asset} for {self.user_id}"
