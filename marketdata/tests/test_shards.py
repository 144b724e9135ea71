"""Until balances are sharded, every market trades on the balance shard: a configuration
that says otherwise is refused wherever it can be made (infra/shards.py)."""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from apikit.errors import InvalidInput
from conftest import ROOT
from engine_worker.worker import ShardNotSupported
from infra.shards import check_settings
from marketdata.models import Asset, Market
from marketdata.services import market_create
from marketdata.tests.test_admin import add_form, admin_web  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

_symbols = itertools.count(1)


def new_symbol() -> str:
    return f"SHD{os.getpid()}X{next(_symbols)}_USDT"


def test_engine_shards_naming_another_shard_refuses_to_start():
    env = {**os.environ, "ENGINE_SHARDS": "BTC_USDT=0,ETH_USDT=1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the production settings, as make run reads them
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Market ETH_USDT cannot trade on engine shard 1" in result.stderr
    assert "BTC_USDT cannot" not in result.stderr
    env["ENGINE_SHARDS"] = "BTC_USDT=0,ETH_USDT=0"
    ok = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr


def test_check_settings(settings):
    settings.ENGINE_SHARDS = {"SOL_USDT": 2}
    with pytest.raises(ImproperlyConfigured, match="SOL_USDT cannot trade on engine shard 2"):
        check_settings()
    settings.ENGINE_DEFAULT_SHARD = 2  # the balance shard follows the default shard
    check_settings()


def test_market_create_refuses_another_shard(engine):
    symbol = new_symbol()
    with pytest.raises(InvalidInput) as refused:
        market_create(
            symbol=symbol, base="BTC", quote="USDT", tick_size=Decimal("0.01"),
            lot_size=Decimal("0.001"), shard=1,
        )  # fmt: skip
    assert refused.value.code == "shard_not_supported"
    assert refused.value.details == {"field": "shard", "symbol": symbol, "shard": 1}
    assert f"Market {symbol} cannot trade on engine shard 1" in refused.value.message
    assert not Market.objects.filter(symbol=symbol).exists()


def test_add_market_refuses_another_shard(engine):
    symbol = new_symbol()
    with pytest.raises(CommandError, match=f"shard_not_supported: Market {symbol} cannot"):
        call_command(
            "add_market", symbol, "--base", "BTC", "--quote", "USDT", "--tick-size", "0.01",
            "--lot-size", "0.001", "--shard", "1", stdout=StringIO(),
        )  # fmt: skip
    assert not Market.objects.filter(symbol=symbol).exists()


def test_admin_form_refuses_another_shard(admin_web):  # noqa: F811
    symbol = new_symbol()
    response = admin_web.post("/admin/marketdata/market/add/", add_form(symbol, shard="3"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["shard"], errors
    assert f"Market {symbol} cannot trade on engine shard 3" in errors["shard"][0]
    assert not Market.objects.filter(symbol=symbol).exists()


def test_engine_refuses_to_start_with_a_market_on_another_shard(engine, caplog):
    """A catalogue from before the check (a row on shard 1): every shard's engine refuses,
    naming the market and its shard, before it recovers anything."""
    symbol = new_symbol()
    Market.objects.create(
        symbol=symbol, base=Asset.objects.get(symbol="BTC"), quote=Asset.objects.get(symbol="USDT"),
        tick_size=Decimal("0.01"), lot_size=Decimal("0.001"), shard=1,
    )  # fmt: skip
    with caplog.at_level(logging.CRITICAL, logger="engine_worker.worker"):
        for shard in ("0", "1"):
            with pytest.raises(ShardNotSupported):
                call_command("run_engine", "--shard", shard, "--burst")
    refusals = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(refusals) == 2
    assert all(f"Market {symbol} cannot trade on engine shard 1" in r for r in refusals)
