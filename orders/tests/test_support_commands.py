"""The cancel_orders support command, through the engine worker."""

from __future__ import annotations

import itertools
import os
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError

from marketdata.services import market_create
from orders.tests.helpers import balances, place

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings) -> None:
    """Sign-ups and log-ins are rate limited per client address and every test client is
    127.0.0.1: each test starts with fresh counts (a candidate for the root conftest.py)."""
    if "throttle" in settings.CACHES:
        caches["throttle"].clear()


_markets = itertools.count(1)


@pytest.fixture
def other_market(engine, db) -> str:
    symbol = f"ETH{os.getpid()}C{next(_markets)}_USDT"
    market_create(
        symbol=symbol, base="ETH", quote="USDT",
        tick_size=Decimal("0.01"), lot_size=Decimal("0.001"), min_notional=Decimal("1"),
    )  # fmt: skip
    return symbol


def username_of(client) -> str:
    return get_user_model().objects.get(pk=client.user_id).username


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def open_ids(client) -> set[int]:
    return {o["id"] for o in client.get("/api/v1/orders?status=open").json()["results"]}


def test_cancel_orders_in_one_market(make_trader, market, other_market):
    trader = make_trader()
    first = place(trader, symbol=market, side="buy", price="100", quantity="1")["order"]
    second = place(trader, symbol=market, side="sell", price="200", quantity="0.5")["order"]
    kept = place(trader, symbol=other_market, side="buy", price="10", quantity="1")["order"]

    output = run("cancel_orders", username_of(trader), "--symbol", market.lower())
    assert output.splitlines()[-1] == "2 orders cancelled"
    assert {f"cancelled {first['id']} {market} buy", f"cancelled {second['id']} {market} sell"} <= (
        set(output.splitlines())
    )
    assert open_ids(trader) == {kept["id"]}
    for order in (first, second):
        assert trader.get(f"/api/v1/orders/{order['id']}").json()["status"] == "cancelled"
    assert balances(trader) == {"BTC": ("1", "0"), "ETH": ("10", "0"), "USDT": ("9990", "10")}


def test_cancel_orders_in_every_market(make_trader, market, other_market):
    trader = make_trader()
    place(trader, symbol=market, side="buy", price="100", quantity="1")
    place(trader, symbol=other_market, side="buy", price="10", quantity="1")
    assert run("cancel_orders", username_of(trader)).endswith("2 orders cancelled\n")
    assert open_ids(trader) == set()
    assert balances(trader)["USDT"] == ("10000", "0")
    assert run("cancel_orders", username_of(trader)) == "0 orders cancelled\n"


def test_other_users_orders_are_left_alone(make_trader, market):
    trader, other = make_trader(), make_trader()
    theirs = place(other, symbol=market, side="buy", price="100", quantity="1")["order"]
    run("cancel_orders", username_of(trader), "--symbol", market)
    assert open_ids(other) == {theirs["id"]}


def test_unknown_user_is_refused(engine):
    with pytest.raises(CommandError, match="unknown user 'nobody-here'"):
        run("cancel_orders", "nobody-here")


def test_unknown_market_is_refused(make_trader):
    with pytest.raises(CommandError, match="unknown_market"):
        run("cancel_orders", username_of(make_trader()), "--symbol", "NOPE_USDT")


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        call_command("cancel_orders", "--help")
    assert exit_.value.code == 0
    assert "--symbol" in capsys.readouterr().out
