"""The facade's pure parts, without HTTP or services: Binance's bodies from ours, the
quote-amount sizing, the error translation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apikit.errors import Conflict, EngineRejected, EngineTimeout, InvalidInput, NotFound
from binance_api import errors, shapes
from binance_api.params import Params
from marketdata.units import MarketUnits


def units(**sizes: str) -> MarketUnits:
    values = {
        "tick_size": "0.01",
        "lot_size": "0.001",
        "min_quantity": "0",
        "max_quantity": "1000",
        "min_notional": "5",
        **sizes,
    }
    return MarketUnits(
        symbol="BTC_USDT",
        base="BTC",
        quote="USDT",
        base_decimals=8,
        quote_decimals=6,
        maker_fee_bps=10,
        taker_fee_bps=20,
        status="cancel_only",
        shard=0,
        max_price=Decimal("1000000"),
        **{k: Decimal(v) for k, v in values.items()},
    )


def test_symbol_info_filters_are_the_engines_rules():
    info = shapes.symbol_info(units(min_quantity="0.003"), max_open_orders=7)
    assert info["symbol"] == "BTCUSDT" and info["status"] == "BREAK"
    assert (info["baseAssetPrecision"], info["quotePrecision"]) == (8, 6)
    filters = {f["filterType"]: f for f in info["filters"]}
    assert filters["PRICE_FILTER"] == {
        "filterType": "PRICE_FILTER",
        "minPrice": "0.01",
        "maxPrice": "1000000",
        "tickSize": "0.01",
    }
    assert filters["LOT_SIZE"]["minQty"] == "0.003"
    assert filters["LOT_SIZE"]["maxQty"] == "1000" and filters["LOT_SIZE"]["stepSize"] == "0.001"
    assert filters["MARKET_LOT_SIZE"] == {**filters["LOT_SIZE"], "filterType": "MARKET_LOT_SIZE"}
    assert filters["NOTIONAL"]["minNotional"] == "5"
    assert filters["NOTIONAL"]["maxNotional"] == "1000000000"
    assert filters["MAX_NUM_ORDERS"]["maxNumOrders"] == 7
    unlimited = shapes.symbol_info(units(), max_open_orders=0)
    assert "MAX_NUM_ORDERS" not in {f["filterType"] for f in unlimited["filters"]}
    # no min_quantity: the engine's least is one lot
    assert {f["filterType"]: f for f in unlimited["filters"]}["LOT_SIZE"]["minQty"] == "0.001"


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        ("0.0009", "0"),  # not one lot (0.00001 x 100 = 0.001)
        ("5", "0.05"),  # the whole first level
        ("5.001", "0.05"),  # 0.001 buys no lot at 110 (0.0011)
        ("5.0011", "0.05001"),  # ... until it buys one
        ("15.5", "0.14545"),  # 0.05 for 5, then 10.5 / 110 = 0.0954545... -> 0.09545
        ("100000", "0.15"),  # more than the book: every level
    ],
)
def test_lots_for_quote_walks_the_book_exactly(quote, expected):
    asks = [["100", "0.05"], ["110", "0.1"]]
    quantity = shapes.lots_for_quote(asks, Decimal(quote), units(lot_size="0.00001"))
    assert quantity == Decimal(expected)


def test_order_shapes():
    order = {
        "id": 7,
        "client_order_id": "c",
        "user_id": 1,
        "symbol": "BTC_USDT",
        "side": "buy",
        "type": "limit",
        "time_in_force": "GTC",
        "post_only": True,
        "price": "10",
        "quantity": "1",
        "filled_quantity": "0",
        "filled_quote_quantity": "0",
        "average_price": None,
        "status": "cancelled",
        "created_at_ms": 1,
        "updated_at_ms": 2,
        "sequence": 3,
    }
    assert shapes.order(order)["type"] == "LIMIT_MAKER"
    assert shapes.order(order)["status"] == "CANCELED"
    assert shapes.order(order)["isWorking"] is False
    cancelled = shapes.cancelled_order(order, client_order_id="x")
    assert (cancelled["origClientOrderId"], cancelled["clientOrderId"]) == ("c", "x")
    assert cancelled["transactTime"] == 2
    market = {**order, "type": "market", "price": None, "post_only": False}
    assert shapes.new_order(market, [], response_type="RESULT")["price"] == "0"
    assert shapes.commission_rate(15) == "0.0015"


@pytest.mark.parametrize(
    ("error", "placing", "expected"),
    [
        (EngineRejected("x", code="insufficient_balance"), True, (-2010, 400)),
        (EngineRejected("x", code="market_halted"), False, (-2011, 400)),
        (Conflict("x", code="duplicate_client_order_id"), True, (-2010, 400)),
        (InvalidInput("x", code="invalid_price"), True, (-1013, 400)),
        (InvalidInput("x", code="invalid_interval"), False, (-1120, 400)),
        (NotFound("x", code="unknown_market"), False, (-1121, 400)),
        (NotFound("x", code="unknown_order"), False, (-2013, 400)),
        (EngineTimeout("x"), True, (-1007, 504)),
    ],
)
def test_our_errors_as_binances(error, placing, expected):
    translated = errors.from_exchange_error(error, placing=placing)
    assert (translated.code, translated.status) == expected


def test_params_refuse_unstorable_text_and_duplicates():
    with pytest.raises(errors.BinanceError) as raised:
        Params({"symbol": ["BTC\x00USDT"]})
    assert raised.value.code == -1100
    with pytest.raises(errors.BinanceError) as raised:
        Params({"limit": ["1", "2"]}).text("limit")
    assert raised.value.code == -1101
    assert Params({"limit": [""]}).text("limit") is None  # empty is absent


def test_stop_orders_and_lists_placed_through_api_v1_show_as_binance_does():
    """Orders placed through /api/v1 (stop orders, OCO lists) are the user's orders on
    /api/v3 too: a pending stop is NEW, a stop-limit is STOP_LOSS_LIMIT with its stopPrice,
    an OCO order has its list's id."""
    ours = {
        "id": 7, "client_order_id": None, "user_id": 1, "symbol": "BTC_USDT", "side": "sell",
        "type": "stop_limit", "time_in_force": "GTC", "post_only": False, "price": "94",
        "stop_price": "95", "quantity": "0.5", "filled_quantity": "0",
        "filled_quote_quantity": "0", "average_price": None, "status": "pending",
        "order_list_id": 6, "created_at_ms": 1, "updated_at_ms": 2, "sequence": 3,
    }  # fmt: skip
    body = shapes.order(ours)
    assert (body["type"], body["status"], body["stopPrice"], body["price"]) == (
        "STOP_LOSS_LIMIT", "NEW", "95", "94",
    )  # fmt: skip
    assert body["orderListId"] == 6 and body["isWorking"] is False  # not triggered yet
    assert shapes.order({**ours, "status": "new"})["isWorking"] is True
    market = shapes.order({**ours, "type": "stop_market", "price": None, "order_list_id": None})
    assert (market["type"], market["orderListId"], market["price"]) == ("STOP_LOSS", -1, "0")
    assert shapes.cancelled_order({**ours, "status": "cancelled"})["status"] == "CANCELED"
