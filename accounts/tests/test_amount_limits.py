"""Issue 10, item 1: deposits and withdrawals move only storable amounts (the support
commands and the admin share accounts.services), and no deposit takes an asset's
balances past what the database stores (the engine worker refuses it)."""

from __future__ import annotations

import itertools
import os
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.tests.test_admin import messages_of, page
from marketdata.models import Asset
from orders.tests.helpers import balances

pytestmark = pytest.mark.django_db

_assets = itertools.count(1)


def username_of(client) -> str:
    return get_user_model().objects.get(pk=client.user_id).username


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("command", ["deposit", "withdraw"])
@pytest.mark.parametrize(
    "amount", ["100000000000000000000", "1e20", "1E+999999999", "100000000000000000000.5"]
)
def test_an_amount_the_database_cannot_store_is_refused(make_trader, command, amount):
    trader = make_trader()
    with pytest.raises(CommandError, match="amount_out_of_range"):
        run(command, username_of(trader), "BTC", amount)
    assert balances(trader)["BTC"] == ("1", "0")


def test_no_deposit_takes_an_assets_balances_past_what_is_storable(make_trader):
    # a fresh 18-decimal asset: its total across all balances starts at 0
    asset = Asset.objects.create(symbol=f"WEI{os.getpid()}X{next(_assets)}", decimals=18)
    whale, other = make_trader(), make_trader()
    most = "99999999999999999999.999999999999999999"
    assert f"available {most}, locked 0" in run("deposit", username_of(whale), asset.symbol, most)
    with pytest.raises(CommandError, match="balance_limit"):
        run("deposit", username_of(other), asset.symbol, "0.000000000000000001")
    assert asset.symbol not in balances(other)
    run("withdraw", username_of(whale), asset.symbol, "1")
    assert "available 1, locked 0" in run("deposit", username_of(other), asset.symbol, "1")


@pytest.fixture
def admin_web(engine, django_user_model) -> Client:
    django_user_model.objects.create_superuser("root", "root@example.com", "admin-pass-9")
    web = Client()
    assert web.login(username="root", password="admin-pass-9")
    return web


def test_the_admin_refuses_unstorable_amounts_and_balances(admin_web, make_trader):
    asset = Asset.objects.create(symbol=f"WEI{os.getpid()}X{next(_assets)}", decimals=18)
    trader = make_trader()
    most = "99999999999999999999.999999999999999999"
    for amount, wanted in [("1e20", "error"), (most, "success"), ("1", "error")]:
        response = admin_web.post(
            page(trader.user_id) + "deposit/", {"asset": asset.symbol, "amount": amount},
            follow=True,
        )  # fmt: skip
        assert [level for level, _ in messages_of(response)] == [wanted], amount
    assert "balance_limit" in messages_of(response)[0][1]
    assert balances(trader)[asset.symbol] == (most, "0")
