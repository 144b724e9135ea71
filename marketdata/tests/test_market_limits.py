"""Issue 10, item 1: a market's rules never let the engine accept an amount the database
cannot store: sizes in range, and max_price * max_quantity storable. The support command
and the admin refuse the same rules (marketdata.services.market_validate)."""

from __future__ import annotations

import itertools
import os
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from marketdata.models import Market
from marketdata.tests.test_admin import add_form, admin_web  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db

_symbols = itertools.count(1)


def new_symbol() -> str:
    return f"LIM{os.getpid()}X{next(_symbols)}_USDT"


def add_market(symbol: str, *options: str) -> str:
    out = StringIO()
    base = ("--base", "BTC", "--quote", "USDT", "--tick-size", "0.01", "--lot-size", "0.00001")
    call_command("add_market", symbol, *base, *options, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    "options",
    [
        ("--max-quantity", "100000000000000000000"),  # itself past 10^20
        ("--max-quantity", "1e25"),
        ("--min-notional", "1E+999"),
        ("--max-price", "100000000000000000000"),
        ("--max-price", "0.001"),  # below one tick
        ("--max-quantity", "1000000", "--max-price", "100000000000000"),  # notional 10^20
        ("--max-quantity", "10000000000", "--max-price", "10000000001"),
    ],
)
def test_add_market_refuses_rules_that_allow_unstorable_amounts(engine, options):
    symbol = new_symbol()
    with pytest.raises(CommandError, match="amount_out_of_range|max_price"):
        add_market(symbol, *options)
    assert not Market.objects.filter(symbol=symbol).exists()


def test_add_market_derives_or_takes_the_maximum_price(engine):
    derived, given = new_symbol(), new_symbol()
    add_market(derived, "--max-quantity", "1000")
    assert Market.objects.get(symbol=derived).max_price == Decimal("99999999999999999.99")
    add_market(given, "--max-price", "250000")
    assert Market.objects.get(symbol=given).max_price == Decimal(250000)


def test_the_admin_refuses_the_same_rules(admin_web):  # noqa: F811
    symbol = new_symbol()
    response = admin_web.post(
        "/admin/marketdata/market/add/",
        add_form(symbol, max_quantity="1000", max_price="100000000000000000"),
    )
    assert response.status_code == 200  # the form again, with its error
    assert "max_price" in response.context["adminform"].form.errors
    assert not Market.objects.filter(symbol=symbol).exists()
    response = admin_web.post(
        "/admin/marketdata/market/add/", add_form(symbol, max_quantity="1000", max_price="")
    )
    assert response.status_code == 302, (
        response.context and response.context["adminform"].form.errors
    )
    assert Market.objects.get(symbol=symbol).max_price == Decimal("99999999999999999.99")


@pytest.mark.django_db(databases=["default", "timeseries"])
def test_a_candle_sums_volumes_past_one_amount_and_the_ticker_spans_any_prices(client):
    from datetime import UTC, datetime, timedelta

    from marketdata import timeseries
    from marketdata.tests.test_market_data import new_market, trade

    symbol = new_market()
    now = (datetime.now(tz=UTC) - timeseries.EPOCH) // timedelta(milliseconds=1)
    big = "9999999999999999.99"  # x 10000 = a notional just below 10^20
    trades = [trade(symbol, i, now - 1000 + i, big, "10000") for i in (1, 2, 3)]
    trades.append(trade(symbol, 4, now - 990, "0.01", "0.00001"))  # 10^18 times lower
    assert timeseries.ticks_write(trades) == 4  # a numeric(38,18) volume overflowed here
    candle = client.get(f"/api/v1/markets/{symbol}/klines", {"interval": "1m"}).json()[-1]
    assert candle["quote_volume"] == "299999999999999999700.0000001"
    assert client.get(f"/api/v1/markets/{symbol}/ticker").json()["change_percent"] == "-100.00"

    wide = new_market()  # from the smallest storable price up to a large one: 10^36 %
    timeseries.ticks_write(
        [
            trade(wide, 1, now - 1000, "0.000000000000000001", "1"),
            trade(wide, 2, now - 990, big, "0.00001"),
        ]
    )
    response = client.get(f"/api/v1/markets/{wide}/ticker")
    assert response.status_code == 200  # the default context raised: a 500
    assert response.json()["change_percent"] == "999999999999999998999999999999999900.00"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (("--min-quantity", "0.000025"), "min_quantity"),  # 2.5 lots: the engine would take 2
        (("--min-notional", "0.000000001"), "min_notional"),  # below USDT's 8 decimals
    ],
)
def test_add_market_refuses_minimums_between_two_units(engine, options, field):
    symbol = new_symbol()
    with pytest.raises(CommandError, match=f"{field} must be a multiple of"):
        add_market(symbol, *options)
    assert not Market.objects.filter(symbol=symbol).exists()
    add_market(symbol, "--min-quantity", "0.00003", "--min-notional", "5.5")  # whole units
    assert Market.objects.get(symbol=symbol).min_quantity == Decimal("0.00003")
