"""The market catalogue's admin: a market added there trades at once; the status
actions go through the engine."""

from __future__ import annotations

import itertools
import os

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from apikit.errors import EngineUnavailable
from marketdata.models import Asset, Market
from orders.tests.helpers import place

pytestmark = pytest.mark.django_db


_symbols = itertools.count(1)


@pytest.fixture
def admin_web(engine, django_user_model) -> Client:
    django_user_model.objects.create_superuser("root", "root@example.com", "admin-pass-9")
    web = Client()
    assert web.login(username="root", password="admin-pass-9")
    return web


def new_symbol() -> str:
    return f"ADM{os.getpid()}X{next(_symbols)}_USDT"


def add_form(symbol: str, **overrides) -> dict:
    form = {
        "symbol": symbol,
        "base": Asset.objects.get(symbol="BTC").pk,
        "quote": Asset.objects.get(symbol="USDT").pk,
        "tick_size": "0.01",
        "lot_size": "0.0001",
        "min_quantity": "0",
        "max_quantity": "1000",
        "min_notional": "1",
        "maker_fee_bps": "10",
        "taker_fee_bps": "20",
        "shard": "0",
    }
    return {**form, **overrides}


def set_status(web: Client, action: str, symbol: str) -> list[tuple[str, str]]:
    market = Market.objects.get(symbol=symbol)
    response = web.post(
        "/admin/marketdata/market/",
        {"action": action, "_selected_action": [market.pk]},
        follow=True,
    )
    assert response.status_code == 200
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def order_response(trader, symbol: str):
    body = {"symbol": symbol, "side": "buy", "type": "limit", "price": "100", "quantity": "0.1"}
    return trader.post("/api/v1/orders", body, format="json")


def test_market_added_in_admin_trades_at_once(
    admin_web, make_trader, django_capture_on_commit_callbacks
):
    symbol = new_symbol()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_web.post(
            "/admin/marketdata/market/add/", add_form(symbol.lower(), lot_size="0.001")
        )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert len(callbacks) == 1  # the engine is told once the transaction commits
    market = Market.objects.get(symbol=symbol)
    assert (market.status, str(market.lot_size.normalize())) == ("trading", "0.001")
    order = place(make_trader(), symbol=symbol, side="buy", price="100", quantity="0.1")["order"]
    assert order["status"] == "new"


def test_market_is_kept_when_the_engine_cannot_be_told(
    admin_web, monkeypatch, django_capture_on_commit_callbacks
):
    def engine_down(*args, **kwargs):
        raise EngineUnavailable("Engine shard 0 is not running.")

    monkeypatch.setattr("marketdata.services.engine_call", engine_down)
    symbol = new_symbol()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_web.post("/admin/marketdata/market/add/", add_form(symbol))
    assert response.status_code == 302
    assert Market.objects.filter(symbol=symbol).exists()
    # The message is queued for the next page the admin sees.
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("engine_unavailable" in t and symbol in t for t in texts), texts


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lot_size": "0.000000001"}, None),  # finer than BTC's 8 decimals
        ({"tick_size": "0.0000001", "lot_size": "0.00001"}, None),  # tick * lot: 12 decimals
        ({"tick_size": "0"}, "tick_size"),
        ({"tick_size": "abc"}, "tick_size"),
        ({"quote": None}, "quote"),  # same as base
        ({"symbol": "BTC USDT"}, "symbol"),
        ({"symbol": "BTC_USDT"}, "symbol"),  # exists
        ({"taker_fee_bps": "10001"}, "taker_fee_bps"),
        ({"maker_fee_bps": "-1"}, "maker_fee_bps"),
        ({"min_quantity": "5", "max_quantity": "1"}, "max_quantity"),
    ],
)
def test_bad_market_is_a_form_error(admin_web, overrides, field):
    if overrides.get("quote", "") is None:
        overrides = {"quote": Asset.objects.get(symbol="BTC").pk}
    symbol = new_symbol()
    response = admin_web.post("/admin/marketdata/market/add/", {**add_form(symbol), **overrides})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field or "__all__"], errors
    assert not Market.objects.filter(symbol=symbol).exists()


def test_market_sizes_and_assets_are_read_only_once_created(admin_web, market):
    pk = Market.objects.get(symbol=market).pk
    response = admin_web.get(f"/admin/marketdata/market/{pk}/change/")
    assert response.status_code == 200
    readonly = set(response.context["adminform"].readonly_fields)
    assert {"symbol", "base", "quote", "tick_size", "lot_size", "status"} <= readonly
    assert list(response.context["adminform"].form.fields) == []
    admin_web.post(f"/admin/marketdata/market/{pk}/change/", {"tick_size": "1", "lot_size": "1"})
    assert str(Market.objects.get(pk=pk).tick_size.normalize()) == "0.01"


def test_halt_resume_and_cancel_only_actions(admin_web, make_trader, market):
    trader = make_trader()
    assert set_status(admin_web, "halt", market) == [("success", f"{market}: now halted.")]
    assert Market.objects.get(symbol=market).status == "halted"
    response = order_response(trader, market)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "market_halted"

    set_status(admin_web, "resume", market)
    assert Market.objects.get(symbol=market).status == "trading"
    response = order_response(trader, market)
    assert response.status_code == 201, response.content
    order_id = response.json()["order"]["id"]

    set_status(admin_web, "cancel_only", market)
    response = order_response(trader, market)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "market_cancel_only"
    assert trader.delete(f"/api/v1/orders/{order_id}").json()["status"] == "cancelled"
    set_status(admin_web, "resume", market)


def test_status_action_error_is_a_message(admin_web, market, monkeypatch):
    def engine_down(*args, **kwargs):
        raise EngineUnavailable("Engine shard 0 is not running.")

    monkeypatch.setattr("marketdata.services.engine_call", engine_down)
    [(level, text)] = set_status(admin_web, "halt", market)
    assert level == "error"
    assert "engine_unavailable" in text


def test_asset_admin_creates_assets_and_keeps_decimals_read_only(admin_web):
    symbol = f"A{os.getpid()}X{next(_symbols)}"
    response = admin_web.post(
        "/admin/marketdata/asset/add/", {"symbol": symbol.lower(), "decimals": "6"}
    )
    assert response.status_code == 302
    asset = Asset.objects.get(symbol=symbol)
    assert asset.decimals == 6
    page = admin_web.get(f"/admin/marketdata/asset/{asset.pk}/change/")
    assert {"symbol", "decimals"} <= set(page.context["adminform"].readonly_fields)
    admin_web.post(f"/admin/marketdata/asset/{asset.pk}/change/", {"decimals": "2"})
    assert Asset.objects.get(pk=asset.pk).decimals == 6
    assert b"BTC" in admin_web.get("/admin/marketdata/asset/").content


def test_market_list_shows_status(admin_web, market):
    response = admin_web.get("/admin/marketdata/market/")
    assert response.status_code == 200
    assert market.encode() in response.content
    assert b"Halt selected markets" in response.content
