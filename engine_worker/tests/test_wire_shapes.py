"""The engine worker's bodies are the shapes' bodies, and their texts are those bodies.

engine_worker/wire.py renders each order, fill, trade and balance for speed: it calls the
shape's constructor (marketdata/shapes.py) with the fields in order, not by name, does
the decimal arithmetic on integers (the average price), and encodes the body with orjson
(``wire.dumps``), whose text the read model, the replies and the event stream carry.
These properties check, on random events and markets, that each body equals the keyword
call of its constructor with each field worked out independently (Decimal for the
average), and that each text is exactly the body's JSON (json.dumps, compact); and that
``dumps`` writes whatever json.dumps writes, big ints and lone surrogates included. Pure:
no services.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine_worker import wire
from engine_worker.core import events as e
from engine_worker.core.types import OrderStatus, OrderType, Side, TimeInForce
from marketdata import shapes
from marketdata.units import CONTEXT, MarketUnits, format_scaled, iso

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


def as_json(body: Any) -> bytes:
    """The body's JSON as the standard library writes it, compact and in UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def decimal_average(order: wire.OrderEvent, units: MarketUnits) -> str:
    """The average fill price as Decimal arithmetic gives it (the quote unit, half even)."""
    quote = CONTEXT.multiply(Decimal(order.filled_quote), units.quote_unit)
    base = CONTEXT.multiply(Decimal(order.filled_quantity), units.lot_size)
    average = CONTEXT.divide(quote, base).quantize(units.quote_unit, context=CONTEXT)
    return format(average.normalize(CONTEXT), "f")


def times_unit(count: int, unit: Decimal) -> str:
    """``count`` ticks or lots as the decimal string they are, by Decimal arithmetic."""
    return format(CONTEXT.multiply(count, unit).normalize(CONTEXT), "f")


def scaled(units: int, decimals: int) -> str:
    """``units`` of an asset with ``decimals`` as a decimal string, by Decimal arithmetic."""
    return format(Decimal(units).scaleb(-decimals, CONTEXT).normalize(CONTEXT), "f")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_an_orders_text_is_its_body_as_json(data: st.DataObject) -> None:
    units = data.draw(markets())
    order = data.draw(orders(units))
    body, text = wire.order_json_text(order, units)
    assert text == as_json(body)
    priced = order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    assert body == shapes.order_body(
        id=order.order_id,
        client_order_id=order.client_order_id,
        user_id=order.user_id,
        symbol=order.symbol,
        side=order.side.value,
        type=order.type.value,
        time_in_force=order.time_in_force.value,
        post_only=order.post_only,
        price=times_unit(order.price, units.tick_size) if priced else None,
        stop_price=times_unit(order.stop_price, units.tick_size) if order.stop_price else None,
        quantity=times_unit(order.quantity, units.lot_size),
        filled_quantity=times_unit(order.filled_quantity, units.lot_size),
        filled_quote_quantity=scaled(order.filled_quote, units.quote_decimals),
        average_price=decimal_average(order, units) if order.filled_quantity else None,
        status=order.status.value,
        order_list_id=order.order_list_id,
        created_at_ms=order.created_ts,
        updated_at_ms=order.updated_ts,
        sequence=order.seq,
    )
    assert body["created_at"] == iso(order.created_ts)
    assert body["updated_at"] == iso(order.updated_ts)  # the same text when the times agree
    assert wire.order_json_text(order, units) == (body, text)  # again, from the market's memo


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_trades_texts_are_their_bodies_as_json(data: st.DataObject) -> None:
    units = data.draw(markets())
    trade = data.draw(trades(units))
    (maker, maker_text), (taker, taker_text), (public, public_text), record = wire.trade_bodies(
        trade, units
    )
    for body, text in ((maker, maker_text), (taker, taker_text), (public, public_text)):
        assert text == as_json(body)
    price = times_unit(trade.price, units.tick_size)
    quantity = times_unit(trade.quantity, units.lot_size)
    quote_quantity = scaled(trade.quote_amount, units.quote_decimals)

    def fee(amount: int, asset: str) -> str:
        return scaled(amount, units.base_decimals if asset == units.base else units.quote_decimals)

    maker_fee = fee(trade.maker_fee, trade.maker_fee_asset)
    taker_fee = fee(trade.taker_fee, trade.taker_fee_asset)
    taker_side = trade.taker_side.value
    common = {"symbol": units.symbol, "price": price, "quantity": quantity, "time_ms": trade.ts}
    assert maker == shapes.fill_body(
        trade_id=trade.trade_id,
        maker=True,
        order_id=trade.maker_order_id,
        user_id=trade.maker_user_id,
        side="sell" if taker_side == "buy" else "buy",
        quote_quantity=quote_quantity,
        fee=maker_fee,
        fee_asset=trade.maker_fee_asset,
        **common,
    )
    assert taker == shapes.fill_body(
        trade_id=trade.trade_id,
        maker=False,
        order_id=trade.taker_order_id,
        user_id=trade.taker_user_id,
        side=taker_side,
        quote_quantity=quote_quantity,
        fee=taker_fee,
        fee_asset=trade.taker_fee_asset,
        **common,
    )
    assert public == shapes.public_trade_body(
        id=trade.trade_id, taker_side=taker_side, sequence=trade.seq, **common
    )
    assert record == {
        "id": trade.trade_id,
        "symbol": units.symbol,
        "price": price,
        "quantity": quantity,
        "quote_quantity": quote_quantity,
        "taker_side": taker_side,
        "maker_order_id": trade.maker_order_id,
        "taker_order_id": trade.taker_order_id,
        "maker_user_id": trade.maker_user_id,
        "taker_user_id": trade.taker_user_id,
        "maker_fee": maker_fee,
        "maker_fee_asset": trade.maker_fee_asset,
        "taker_fee": taker_fee,
        "taker_fee_asset": trade.taker_fee_asset,
        "time_ms": trade.ts,
        "sequence": trade.seq,
    }
    assert json.loads(wire.dumps(record)) == record
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
    assert text == as_json(body)
    assert body == wire.balance_json(asset, available, locked, decimals)
    assert body == shapes.balance_body(
        asset=asset, available=scaled(available, decimals), locked=scaled(locked, decimals)
    )
    assert format_scaled(available, decimals) == scaled(available, decimals)


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_what_orjson_refuses_is_rendered_by_the_fallback(data: st.DataObject) -> None:
    """An id past 64 bits (nothing bounds a command's user_id): the renderers call orjson
    themselves and must fall back to dumps as it does."""
    units = data.draw(markets())
    order = data.draw(orders(units))
    order.user_id = 2**70 + order.user_id
    body, text = wire.order_json_text(order, units)
    assert text == as_json(body) == wire.dumps(body)
    trade = data.draw(trades(units))
    trade.maker_user_id = 2**70
    (maker, maker_text), (taker, taker_text), (public, public_text), _ = wire.trade_bodies(
        trade, units
    )
    for body, text in ((maker, maker_text), (taker, taker_text), (public, public_text)):
        assert text == as_json(body)


@settings(max_examples=500, deadline=None)
@given(st.integers(-(10**40), 10**40), st.integers(0, 40))
def test_format_scaled_is_decimal_arithmetic(units: int, decimals: int) -> None:
    assert format_scaled(units, decimals) == scaled(units, decimals)


# any asset text (the balance texts splice the amounts after the asset's encoded text)
asset_texts = names | st.text(max_size=8) | st.just("lone \ud800 surrogate")


@settings(max_examples=300, deadline=None)
@given(asset_texts, amounts, amounts, st.integers(0, 18))
def test_a_balances_spliced_texts_are_its_body_and_user_event_as_json(
    asset: str, available: int, locked: int, decimals: int
) -> None:
    body = wire.balance_json(asset, available, locked, decimals)
    text, event_text = wire.balance_texts(asset, body["available"], body["locked"])
    assert text == wire.dumps(body)
    assert json.loads(text) == body
    assert event_text == wire.dumps({"event": "balance", **body})
    if "\ud800" not in asset:  # as_json cannot encode a lone surrogate to UTF-8
        assert text == as_json(body)
        assert event_text == as_json({"event": "balance", **body})
    # and again, from the memo of the asset's text
    assert wire.balance_texts(asset, body["available"], body["locked"]) == (text, event_text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | client_ids
    | st.just("")
    | st.just("lone \ud800 surrogate"),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    | st.dictionaries(st.integers(-(2**40), 2**40), inner, max_size=3),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_dumps_writes_what_json_dumps_writes(value: object) -> None:
    assert json.loads(wire.dumps(value)) == json.loads(json.dumps(value))


@settings(max_examples=200, deadline=None)
@given(json_values, json_values)
def test_raw_texts_are_spliced_whatever_the_fallback(value: object, inner: object) -> None:
    """A reply or record holds its orders and fills as texts (wire.Raw); dumps splices them
    as they are, also when what is around them needs the fallback (a big int, a lone
    surrogate, an int key): the text reads as the value with each text's own."""
    text = wire.dumps(inner)
    expected = json.loads(json.dumps({"v": value, "raw": [inner, inner]}))
    assert json.loads(wire.dumps({"v": value, "raw": [wire.Raw(text), wire.Raw(text)]})) == (
        expected
    )
