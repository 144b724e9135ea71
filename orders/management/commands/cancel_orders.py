from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikit.errors import ExchangeError
from orders.services import order_cancel_all


class Command(BaseCommand):
    help = "Cancel every open order of USERNAME (in one market with --symbol)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--symbol")

    def handle(self, *args: object, username: str, symbol: str | None, **o: object) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"unknown user {username!r}")
        try:
            cancelled = order_cancel_all(user_id=user.pk, symbol=symbol.upper() if symbol else None)
        except ExchangeError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        for order in cancelled:
            self.stdout.write(f"cancelled {order['id']} {order['symbol']} {order['side']}")
        self.stdout.write(f"{len(cancelled)} orders cancelled")
