"""Reads about users and their balances."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from infra import keys
from marketdata.selectors import read_model
from marketdata.shapes import balance_body


def fee_account_id() -> int:
    """The user id fees are credited to. The migration creates the account; should it be
    missing (a flushed database), it is created again rather than stopping the engine."""
    user, _ = get_user_model().objects.get_or_create(
        username=settings.FEE_ACCOUNT_USERNAME, defaults={"is_active": False, "password": "!"}
    )
    return user.pk


def balance_list(*, user_id: int) -> list[dict[str, Any]]:
    """The user's balances from the engine's read model, by asset."""
    raw = read_model().hgetall(keys.rm_balances(user_id))
    return sorted((json.loads(v) for v in raw.values()), key=lambda b: b["asset"])


def balance_get(*, user_id: int, asset: str) -> dict[str, Any]:
    raw = read_model().hget(keys.rm_balances(user_id), asset)
    return json.loads(raw) if raw else balance_body(asset=asset, available="0", locked="0")
