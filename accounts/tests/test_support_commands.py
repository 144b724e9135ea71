"""The deposit and withdraw support commands, through the engine worker."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from orders.tests.helpers import balances

pytestmark = pytest.mark.django_db


def username_of(client) -> str:
    return get_user_model().objects.get(pk=client.user_id).username


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_deposit_prints_the_new_balance_and_the_api_shows_it(make_trader):
    trader = make_trader()
    name = username_of(trader)
    assert run("deposit", name, "usdt", "12.5") == (
        f"deposited 12.5 USDT for {name}: available 10012.5, locked 0\n"
    )
    assert balances(trader)["USDT"] == ("10012.5", "0")


def test_withdraw_prints_the_new_balance_and_the_api_shows_it(make_trader):
    trader = make_trader()
    name = username_of(trader)
    assert "available 0.75000001, locked 0" in run("withdraw", name, "BTC", "0.24999999")
    assert balances(trader)["BTC"] == ("0.75000001", "0")


def test_withdraw_more_than_available_is_refused(make_trader):
    trader = make_trader()
    with pytest.raises(CommandError, match="insufficient_balance"):
        run("withdraw", username_of(trader), "BTC", "1.00000001")
    assert balances(trader)["BTC"] == ("1", "0")


BAD_AMOUNTS = [
    ("abc", "not a decimal"),
    ("-1", "positive"),
    ("0", "positive"),
    ("NaN", "positive"),
    ("Infinity", "positive"),
    ("0.000000001", "invalid_amount"),  # BTC has 8 decimals
]


@pytest.mark.parametrize("command", ["deposit", "withdraw"])
def test_bad_amount_is_refused_and_changes_nothing(make_trader, command):
    trader = make_trader()
    for amount, message in BAD_AMOUNTS:
        with pytest.raises(CommandError, match=message):
            run(command, username_of(trader), "BTC", amount)
    assert balances(trader)["BTC"] == ("1", "0")


def test_unknown_user_and_unknown_asset_are_refused(make_trader):
    with pytest.raises(CommandError, match="unknown user 'nobody-here'"):
        run("deposit", "nobody-here", "BTC", "1")
    with pytest.raises(CommandError, match="unknown_asset"):
        run("deposit", username_of(make_trader()), "NOPE", "1")


@pytest.mark.parametrize("command", ["deposit", "withdraw"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        call_command(command, "--help")
    assert exit_.value.code == 0
    assert "USERNAME" in capsys.readouterr().out
