"""The engine worker's fast JSON texts are exactly json.dumps of the shapes' bodies.

engine_worker/wire.py renders each order, fill, trade and balance twice, for speed: as a
body (built by its one constructor in marketdata/shapes.py) and as that body's JSON text
written out in one f-string, which the read model, the replies and the event stream carry.
These properties check, on random events and markets, that the two never disagree, and
that ``encode`` (which splices such texts into larger messages) is json.dumps too. Pure:
no services.
"""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine_worker import wire
from engine_worker.core import events as e
from engine_worker.core.types import OrderStatus, OrderType, Side, TimeInForce
from marketdata import shapes
from marketdata.units import MarketUnits, iso

names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8)
# any text a client may send as its client_order_id: JSON escapes must agree too
client_ids = st.none() | st.text(min_size=1, max_size=20).filter(
    lambda t: "\x00" not in t and not any(0xD800 <= ord(c) <= 0xDFFF for c in t)
)
ids = st.integers(1, 2**53)
times = st.integers(0, 4_102_444_800_000)  # to 2100
amounts = st.integers(0, 10**30)


@st.composite
def markets(draw: st.DrawFn) -> MarketUnits:
    base, quote = draw(names), draw(names)
    base_decimals, quote_decimals = draw(st.integers(0, 18)), draw(st.integers(0, 18))
    tick = Decimal(1).scaleb(-draw(st.integers(0, quote_decimals)))
    lot = Decimal(1).scaleb(-draw(st.integers(0, base_decimals)))
    return MarketUnits(
        symbol=f"{base}_{quote}",
        base=base,
        quote=quote,
        base_decimals=base_decimals,
        quote_decimals=quote_decimals,
        tick_size=tick,
        lot_size=lot,
        min_quantity=lot,
        max_quantity=Decimal(1_000_000),
        min_notional=Decimal(0),
        maker_fee_bps=draw(st.integers(0, 100)),
        taker_fee_bps=draw(st.integers(0, 100)),
        status="trading",
        shard=0,
    )


@st.composite
def orders(draw: st.DrawFn, units: MarketUnits) -> wire.OrderEvent:
    kind = draw(st.sampled_from([e.OrderAccepted, e.OrderUpdated, e.OrderTriggered]))
    quantity = draw(st.integers(1, 10**15))
    filled = draw(st.integers(0, quantity))
    order_type = draw(st.sampled_from(list(OrderType)))
    created = draw(times)
    return kind(
        seq=draw(ids),
        order_id=draw(ids),
        user_id=draw(ids),
        symbol=units.symbol,
        side=draw(st.sampled_from(list(Side))),
        type=order_type,
        time_in_force=draw(st.sampled_from(list(TimeInForce))),
        post_only=draw(st.booleans()),
        price=draw(st.integers(1, 10**12))
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        else 0,
        quantity=quantity,
        filled_quantity=filled,
        filled_quote=draw(st.integers(1, 10**20)) if filled else 0,
        status=draw(st.sampled_from(list(OrderStatus))),
        client_order_id=draw(client_ids),
        created_ts=created,
        updated_ts=created + draw(st.integers(0, 10**9)),
        stop_price=draw(st.integers(1, 10**12))
        if order_type in (OrderType.STOP_LIMIT, OrderType.STOP_MARKET)
        else 0,
        order_list_id=draw(st.none() | ids),
    )


@st.composite
def trades(draw: st.DrawFn, units: MarketUnits) -> e.Trade:
    taker_side = draw(st.sampled_from(list(Side)))
    base_fee_to_maker = taker_side is Side.SELL  # the maker buys: its fee is in the base
    return e.Trade(
        seq=draw(ids),
        trade_id=draw(ids),
        symbol=units.symbol,
        price=draw(st.integers(1, 10**12)),
        quantity=draw(st.integers(1, 10**15)),
        quote_amount=draw(amounts),
        taker_side=taker_side,
        maker_order_id=draw(ids),
        taker_order_id=draw(ids),
        maker_user_id=draw(ids),
        taker_user_id=draw(ids),
        maker_fee=draw(amounts),
        maker_fee_asset=units.base if base_fee_to_maker else units.quote,
        taker_fee=draw(amounts),
        taker_fee_asset=units.quote if base_fee_to_maker else units.base,
        ts=draw(times),
    )


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_an_orders_text_is_its_body_as_json(data: st.DataObject) -> None:
    units = data.draw(markets())
    order = data.draw(orders(units))
    body, text = wire.order_json_text(order, units)
    assert text == json.dumps(body)
    assert list(body) == list(
        shapes.order_body(
            **{k: v for k, v in body.items() if k not in ("created_at", "updated_at")}
        )
    )
    assert body["created_at"] == iso(order.created_ts)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_trades_four_texts_are_their_bodies_as_json(data: st.DataObject) -> None:
    units = data.draw(markets())
    trade = data.draw(trades(units))
    (maker, maker_text), (taker, taker_text), (public, public_text), (record, record_text) = (
        wire.trade_bodies(trade, units)
    )
    for body, text in ((maker, maker_text), (taker, taker_text), (public, public_text)):
        assert text == json.dumps(body)
    assert record_text == json.dumps(record)
    assert {maker["id"], taker["id"]} == {
        shapes.fill_id(trade.trade_id, maker=True),
        shapes.fill_id(trade.trade_id, maker=False),
    }
    assert maker["id"] != taker["id"] and maker["id"] // 2 == taker["id"] // 2 == trade.trade_id


@settings(max_examples=300, deadline=None)
@given(names, amounts, amounts, st.integers(0, 18))
def test_a_balances_text_is_its_body_as_json(
    asset: str, available: int, locked: int, decimals: int
) -> None:
    body, text = wire.balance_json_text(asset, available, locked, decimals)
    assert text == json.dumps(body)
    assert body == wire.balance_json(asset, available, locked, decimals)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | client_ids | st.just(""),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.data())
def test_encode_is_json_dumps_with_texts_spliced_in(value: object, data: st.DataObject) -> None:
    assert wire.encode(value, {}) == json.dumps(value)
    units = data.draw(markets())
    order = data.draw(orders(units))
    body, text = wire.order_json_text(order, units)
    message = {"ok": True, "order": body, "fills": [value, body]}
    assert wire.encode(message, {id(body): text}) == json.dumps(message)
