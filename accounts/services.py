"""Account operations: sign-up, tokens, deposits and withdrawals (through the engine)."""

from __future__ import annotations

import logging
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, user_logged_in
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Field
from rest_framework.authtoken.models import Token

from apikit.errors import Conflict, EngineRejected, ExchangeError, InvalidInput, LockedOut
from engine_client import commands
from engine_client.gateway import engine_call, log_fields
from marketdata.selectors import asset_decimals_get
from marketdata.units import (
    AMOUNT_DECIMALS,
    AMOUNT_LIMIT,
    NotAMultiple,
    asset_unit,
    exact_units,
    is_storable,
)

logger = logging.getLogger(__name__)


class NotAuthenticated(ExchangeError):
    http_status = 401
    code = "invalid_credentials"


def username_reserved(username: str) -> bool:
    """Whether sign-up refuses ``username``: it matches a pattern of
    settings.RESERVED_USERNAMES (the fee account, the market maker's accounts, ...),
    ignoring case."""
    name = username.casefold()
    return any(fnmatchcase(name, pattern.casefold()) for pattern in settings.RESERVED_USERNAMES)


def user_register(*, username: str, password: str, email: str = "") -> tuple[Any, str]:
    """Create the user and its token; then credit the sign-up demo funds, if any are
    configured (settings.SIGNUP_DEMO_FUNDS: none by default). The username is checked as
    it will be stored: Django normalises it (NFKC), so a look-alike ("ｍａｒｋｅｔｍａｋｅｒ")
    is the name it stands for, and its length and characters are those of the result."""
    User = get_user_model()
    username = User.normalize_username(username)
    field = User._meta.get_field(User.USERNAME_FIELD)
    if not isinstance(field, Field):
        raise TypeError(f"{User.__name__}.USERNAME_FIELD is not a column")
    try:
        field.clean(username, None)  # max_length and the field's validators
    except ValidationError as exc:
        raise InvalidInput(
            "username: " + " ".join(exc.messages), details={"username": exc.messages}
        ) from exc
    if username_reserved(username):
        raise InvalidInput(
            "This username is reserved.",
            code="username_reserved",
            details={"username": ["This username is reserved."]},
        )
    # one name, whatever its case: "Alice" cannot sign up beside "alice" and pass for her
    # (a race of two such sign-ups at once can still make both; log-in stays exact)
    if User._default_manager.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exists():
        raise Conflict("This username is taken.", code="username_taken")
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


def token_obtain(*, request: Any, username: str, password: str) -> str:
    """The user's token for a username and password. ``request`` (the Django request) is
    what django-axes counts failures against: after settings.AXES_FAILURE_LIMIT failures
    the account is locked (LockedOut, 429) for the cool-off, whatever the password."""
    user = authenticate(request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise LockedOut(
                "Too many failed log-ins for this account; try again later.",
                details={"retry_after": int(settings.AXES_COOLOFF_TIME.total_seconds())},
            )
        raise NotAuthenticated("Wrong username or password.")
    # a log-in: resets the account's failure count (axes) and sets last_login
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def token_revoke(*, user: User) -> None:
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
        units = exact_units(amount, asset_unit(decimals))
    except NotAMultiple as exc:
        raise InvalidInput(
            f"{asset} amounts have at most {decimals} decimals.", code="invalid_amount"
        ) from exc
    return units, decimals


def _move(kind: str, *, user_id: int, asset: str, amount: Decimal) -> dict[str, Any]:
    units, decimals = _asset_units(asset, amount)
    command = commands.deposit if kind == "Deposit" else commands.withdraw
    reply = engine_call(command(user_id=user_id, asset=asset, amount=units, decimals=decimals))
    if not reply["ok"]:
        raise EngineRejected(reply["message"], code=reply["code"])
    logger.info(
        "request %s: %s %s %s for user %d",
        reply["request_id"],
        kind,
        amount,
        asset,
        user_id,
        extra=log_fields(reply),
    )
    return reply["balance"]


def balance_deposit(*, user_id: int, asset: str, amount: Decimal) -> dict[str, Any]:
    """Credit ``amount`` of ``asset``; returns the new balance."""
    return _move("Deposit", user_id=user_id, asset=asset, amount=amount)


def balance_withdraw(*, user_id: int, asset: str, amount: Decimal) -> dict[str, Any]:
    """Debit ``amount`` of ``asset`` from what is available; returns the new balance."""
    return _move("Withdraw", user_id=user_id, asset=asset, amount=amount)
