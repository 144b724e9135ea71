"""The market support commands: add_market, halt_market, resume_market."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from marketdata.models import Asset, Market
from orders.tests.helpers import place

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
_symbols = itertools.count(1)


def new_symbol() -> str:
    return f"CMD{os.getpid()}X{next(_symbols)}_USDT"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def order(trader, symbol: str):
    body = {"symbol": symbol, "side": "buy", "type": "limit", "price": "100", "quantity": "0.1"}
    return trader.post("/api/v1/orders", body, format="json")


def test_added_market_trades_at_once(make_trader):
    symbol = new_symbol()
    output = run(
        "add_market", symbol.lower(), "--base", "btc", "--quote", "USDT",
        "--tick-size", "0.5", "--lot-size", "0.01", "--min-notional", "5",
        "--maker-fee-bps", "5", "--taker-fee-bps", "7",
    )  # fmt: skip
    assert output == f"market {symbol} created and trading\n"
    market = Market.objects.get(symbol=symbol)
    assert (market.base.symbol, market.quote.symbol, market.taker_fee_bps) == ("BTC", "USDT", 7)
    placed = place(make_trader(), symbol=symbol, side="buy", price="100.5", quantity="0.1")
    assert placed["order"]["status"] == "new"
    assert order(make_trader(), symbol).status_code == 201


def test_added_market_creates_missing_assets_with_their_decimals(make_trader):
    base = f"C{os.getpid()}X{next(_symbols)}"
    symbol = f"{base}_USDT"
    run("add_market", symbol, "--base", base, "--quote", "USDT", "--tick-size", "0.01",
        "--lot-size", "1", "--base-decimals", "0")  # fmt: skip
    assert Asset.objects.get(symbol=base).decimals == 0
    # Nobody holds the new asset, so a sell is refused by the engine, not by the API.
    trader = make_trader()
    body = {"symbol": symbol, "side": "sell", "type": "limit", "price": "1", "quantity": "2"}
    response = trader.post("/api/v1/orders", body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (
        422,
        "insufficient_balance",
    )


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (["--tick-size", "0.01", "--lot-size", "0.000000001"], "invalid_input"),  # 9 > 8 decimals
        (["--tick-size", "0.0000001", "--lot-size", "0.00001"], "invalid_input"),  # tick*lot 1e-12
        (["--tick-size", "0", "--lot-size", "0.001"], "tick_size must be positive"),
        (["--tick-size", "abc", "--lot-size", "0.001"], "not a decimal"),
        (["--tick-size", "-1", "--lot-size", "0.001"], "non-negative"),
    ],
)
def test_sizes_that_do_not_fit_are_refused(engine, sizes, message):
    symbol = new_symbol()
    with pytest.raises(CommandError, match=message):
        run("add_market", symbol, "--base", "BTC", "--quote", "USDT", *sizes)
    assert not Market.objects.filter(symbol=symbol).exists()


def test_existing_symbol_is_refused(engine, market):
    with pytest.raises(CommandError, match="market_exists"):
        run("add_market", market, "--base", "BTC", "--quote", "USDT",
            "--tick-size", "0.01", "--lot-size", "0.001")  # fmt: skip


def test_missing_required_option_is_refused(engine):
    with pytest.raises(CommandError, match="--lot-size"):
        run("add_market", new_symbol(), "--base", "BTC", "--quote", "USDT", "--tick-size", "1")


def test_halt_then_resume(make_trader, market):
    trader = make_trader()
    assert run("halt_market", market.lower()) == f"{market} is now halted\n"
    assert Market.objects.get(symbol=market).status == "halted"
    response = order(trader, market)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "market_halted")

    assert run("resume_market", market) == f"{market} is now trading\n"
    assert Market.objects.get(symbol=market).status == "trading"
    assert order(trader, market).status_code == 201


@pytest.mark.parametrize("command", ["halt_market", "resume_market"])
def test_unknown_market_is_refused(engine, command):
    with pytest.raises(CommandError, match="unknown market 'NOPE_USDT'"):
        run(command, "NOPE_USDT")


@pytest.mark.parametrize("command", ["add_market", "halt_market", "resume_market"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        call_command(command, "--help")
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_bad_input_exits_non_zero_from_the_command_line(engine):
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "halt_market", "NOPE_USDT"],
        cwd=ROOT,
        env=engine.env,  # the test database and Redis
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "unknown market 'NOPE_USDT'" in result.stderr
