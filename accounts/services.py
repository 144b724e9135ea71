"""Account operations: sign-up, tokens, deposits and withdrawals (through the engine)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from engine_worker.gateway import engine_call
from exchange_site.errors import Conflict, EngineRejected, ExchangeError, InvalidInput
from marketdata.selectors import asset_decimals_get
from marketdata.units import (
    AMOUNT_DECIMALS,
    AMOUNT_LIMIT,
    CONTEXT,
    NotAMultiple,
    exact_units,
    is_storable,
)

logger = logging.getLogger(__name__)


class NotAuthenticated(ExchangeError):
    http_status = 401
    code = "invalid_credentials"


def user_register(*, username: str, password: str, email: str = "") -> tuple[Any, str]:
    """Create the user and its token; then credit the sign-up demo funds."""
    User = get_user_model()
    candidate = User(username=username, email=email)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), details={"password": exc.messages}) from exc
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=password)
            token = Token.objects.create(user=user)
    except IntegrityError as exc:
        raise Conflict("This username is taken.", code="username_taken") from exc
    logger.info("user %s registered (id %d)", username, user.pk)
    for asset, amount in settings.SIGNUP_DEMO_FUNDS.items():
        try:
            balance_deposit(user_id=user.pk, asset=asset, amount=amount)
        except ExchangeError as exc:  # the account exists; support can credit it later
            logger.warning("user %d: demo deposit of %s %s failed: %s", user.pk, amount, asset, exc)
    return user, token.key


def token_obtain(*, username: str, password: str) -> str:
    user = authenticate(username=username, password=password)
    if user is None:
        raise NotAuthenticated("Wrong username or password.")
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def token_revoke(*, user: AbstractBaseUser) -> None:
    Token.objects.filter(user=user).delete()


def _asset_units(asset: str, amount: Decimal) -> tuple[int, int]:
    """The amount in the asset's units. Only amounts the database stores pass (the API,
    the admin and the support commands all come here); whether the resulting balance is
    still storable is the engine worker's to say (``balance_limit``)."""
    if not is_storable(amount):
        raise InvalidInput(
            f"Amounts are below {AMOUNT_LIMIT:f} with at most {AMOUNT_DECIMALS} decimals.",
            code="amount_out_of_range",
            details={"amount": str(amount)},
        )
    decimals = asset_decimals_get(asset)
    try:
        units = exact_units(amount, Decimal(1).scaleb(-decimals, CONTEXT))
    except NotAMultiple as exc:
        raise InvalidInput(
            f"{asset} amounts have at most {decimals} decimals.", code="invalid_amount"
        ) from exc
    return units, decimals


def _move(kind: str, *, user_id: int, asset: str, amount: Decimal) -> dict[str, Any]:
    units, decimals = _asset_units(asset, amount)
    reply = engine_call(
        {"kind": kind, "user_id": user_id, "asset": asset, "amount": units, "decimals": decimals}
    )
    if not reply["ok"]:
        raise EngineRejected(reply["message"], code=reply["code"])
    logger.info(
        "request %s: %s %s %s for user %d", reply["request_id"], kind, amount, asset, user_id
    )
    return reply["balance"]


def balance_deposit(*, user_id: int, asset: str, amount: Decimal) -> dict[str, Any]:
    """Credit ``amount`` of ``asset``; returns the new balance."""
    return _move("Deposit", user_id=user_id, asset=asset, amount=amount)


def balance_withdraw(*, user_id: int, asset: str, amount: Decimal) -> dict[str, Any]:
    """Debit ``amount`` of ``asset`` from what is available; returns the new balance."""
    return _move("Withdraw", user_id=user_id, asset=asset, amount=amount)
