"""Shared by deposit and withdraw."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikit.errors import ExchangeError


class BalanceMoveCommand(BaseCommand):
    move: Callable[..., dict[str, Any]]
    verb: str

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("asset")
        parser.add_argument("amount")

    def handle(self, *args: object, username: str, asset: str, amount: str, **o: object) -> None:
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise CommandError(f"not a decimal amount: {amount!r}") from None
        if not value.is_finite() or value <= 0:
            raise CommandError("the amount must be a positive decimal")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"unknown user {username!r}")
        try:
            balance = type(self).move(user_id=user.pk, asset=asset.upper(), amount=value)
        except ExchangeError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(
            f"{self.verb} {value} {asset.upper()} for {username}: "
            f"available {balance['available']}, locked {balance['locked']}"
        )
