from __future__ import annotations

import itertools
import os

import pytest
from rest_framework.test import APIClient

_names = itertools.count(1)


@pytest.fixture
def make_trader(engine, db):
    """Sign up a new user through the API (demo funds included) and return a client
    authenticated with its token, as a bot would be."""

    def make() -> APIClient:
        client = APIClient()
        name = f"trader{os.getpid()}x{next(_names)}"
        response = client.post(
            "/api/v1/auth/register", {"username": name, "password": "correct-horse-9"}, format="json"
        )
        assert response.status_code == 201, response.content
        client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
        client.user_id = response.json()["user_id"]
        return client

    return make


def balances(client: APIClient) -> dict[str, tuple[str, str]]:
    response = client.get("/api/v1/balances")
    assert response.status_code == 200
    return {b["asset"]: (b["available"], b["locked"]) for b in response.json()}


def place(client: APIClient, **order) -> dict:
    order.setdefault("symbol", "BTC_USDT")
    order.setdefault("type", "limit")
    response = client.post("/api/v1/orders", order, format="json")
    assert response.status_code == 201, response.content
    return response.json()


_markets = itertools.count(1)


@pytest.fixture
def market(engine, db) -> str:
    """A fresh BTC/USDT-like market of this test's own, added while the engine runs (so
    no test sees another's orders): tick 0.01, lot 0.00001, fees 10/20 bps."""
    from decimal import Decimal

    from marketdata.services import market_create

    symbol = f"BTC{os.getpid()}T{next(_markets)}_USDT"
    market_create(
        symbol=symbol,
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00001"),
        min_notional=Decimal("1"),
        maker_fee_bps=10,
        taker_fee_bps=20,
    )
    return symbol
