"""What crosses Redis between the order gateway and the engine worker.

Commands travel as JSON objects with a ``kind``; :func:`command_from_wire` checks every
field strictly, because whatever a client can get into a job must never stop the
engine. Replies and read-model entries are already in the REST contract's shapes
(decimal strings, ISO times), so the web process returns them as they are.
"""

from __future__ import annotations

from decimal import Decimal
from json import dumps
from typing import Any

from engine_worker.core import commands as c
from engine_worker.core import events as e
from engine_worker.core.types import MarketStatus, OrderType, Side, TimeInForce
from marketdata.shapes import (
    balance_body,
    depth_sides,
    fill_body,
    fill_id,
    order_body,
    public_trade_body,
)
from marketdata.units import (
    CONTEXT,
    TEXT_MEMO_LIMIT,
    MarketUnits,
    format_scaled,
    iso,
    market_units_from_wire,
)


class MalformedCommand(ValueError):
    pass


def _field(wire: dict[str, Any], name: str, kind: type, *, optional: bool = False) -> Any:
    value = wire.get(name)
    if value is None and optional:
        return None
    if kind is int and isinstance(value, bool):
        raise MalformedCommand(f"{name} must be an integer")
    if not isinstance(value, kind):
        raise MalformedCommand(f"{name} must be {kind.__name__}")
    return value


def command_from_wire(wire: Any) -> tuple[c.Command, MarketUnits | None]:
    """A command, and for AddMarket the market's decimal units; MalformedCommand if any
    field is missing or of the wrong type."""
    if not isinstance(wire, dict):
        raise MalformedCommand("command must be an object")
    kind = wire.get("kind")
    request_id = _field(wire, "request_id", str)
    ts = _field(wire, "ts", int)
    try:
        if kind == "PlaceOrder":
            return c.PlaceOrder(
                request_id=request_id,
                ts=ts,
                user_id=_field(wire, "user_id", int),
                symbol=_field(wire, "symbol", str),
                side=Side(_field(wire, "side", str)),
                type=OrderType(_field(wire, "type", str)),
                time_in_force=TimeInForce(_field(wire, "time_in_force", str)),
                price=_field(wire, "price", int),
                quantity=_field(wire, "quantity", int),
                post_only=bool(_field(wire, "post_only", bool)),
                client_order_id=_field(wire, "client_order_id", str, optional=True),
                stop_price=_field(wire, "stop_price", int, optional=True) or 0,
            ), None
        if kind == "PlaceOrderList":
            return c.PlaceOrderList(
                request_id=request_id,
                ts=ts,
                user_id=_field(wire, "user_id", int),
                symbol=_field(wire, "symbol", str),
                side=Side(_field(wire, "side", str)),
                quantity=_field(wire, "quantity", int),
                price=_field(wire, "price", int),
                stop_price=_field(wire, "stop_price", int),
                stop_limit_price=_field(wire, "stop_limit_price", int, optional=True),
            ), None
        if kind == "AmendOrder":
            return c.AmendOrder(
                request_id,
                ts,
                _field(wire, "user_id", int),
                _field(wire, "order_id", int),
                _field(wire, "quantity", int, optional=True),
                _field(wire, "price", int, optional=True),
            ), None
        if kind == "CancelOrder":
            return c.CancelOrder(
                request_id, ts, _field(wire, "user_id", int), _field(wire, "order_id", int)
            ), None
        if kind == "CancelAll":
            return c.CancelAll(
                request_id,
                ts,
                _field(wire, "user_id", int),
                _field(wire, "symbol", str, optional=True),
            ), None
        if kind in ("Deposit", "Withdraw"):
            cls = c.Deposit if kind == "Deposit" else c.Withdraw
            return cls(
                request_id,
                ts,
                _field(wire, "user_id", int),
                _field(wire, "asset", str),
                _field(wire, "amount", int),
            ), None
        if kind == "AddMarket":
            try:
                units = market_units_from_wire(_field(wire, "market", dict))
            except ValueError as exc:
                raise MalformedCommand(str(exc)) from exc
            return c.AddMarket(request_id, ts, units.rules()), units
        if kind == "SetMarketStatus":
            status = MarketStatus(_field(wire, "status", str))
            return c.SetMarketStatus(request_id, ts, _field(wire, "symbol", str), status), None
        if kind == "Configure":
            return c.Configure(
                request_id,
                ts,
                _field(wire, "max_open_orders", int),
                _field(wire, "client_order_id_retention", int),
            ), None
        if kind == "SetOrderLimit":
            return c.SetOrderLimit(
                request_id,
                ts,
                _field(wire, "user_id", int),
                _field(wire, "max_open_orders", int, optional=True),
            ), None
    except ValueError as exc:  # enum values, NotAMultiple
        raise MalformedCommand(str(exc)) from exc
    raise MalformedCommand(f"unknown command kind {kind!r}")


_SIDES = {s.value: s for s in Side}
_TYPES = {t.value: t for t in OrderType}
_TIFS = {t.value: t for t in TimeInForce}


def command_from_log(wire: dict[str, Any]) -> tuple[c.Command, MarketUnits | None]:
    """A command from the engine's own log, where every entry passed
    :func:`command_from_wire` once already: the two kinds that make up most of a log are
    rebuilt without checking again (recovery replays millions of them)."""
    kind = wire["kind"]
    if kind == "PlaceOrder":
        return c.PlaceOrder(
            wire["request_id"], wire["ts"], wire["user_id"], wire["symbol"],
            _SIDES[wire["side"]], _TYPES[wire["type"]], _TIFS[wire["time_in_force"]],
            wire["price"], wire["quantity"], wire["post_only"], wire.get("client_order_id"),
            wire.get("stop_price") or 0,
        ), None  # fmt: skip
    if kind == "CancelOrder":
        return c.CancelOrder(
            wire["request_id"], wire["ts"], wire["user_id"], wire["order_id"]
        ), None
    return command_from_wire(wire)


# --- presenters: engine integers -> the REST contract's shapes -------------------------


_QUOTED: dict[str, str] = {}  # short strings (symbols, assets, enum values) -> JSON


def quoted(value: str) -> str:
    """A string as JSON text, remembered: the same few symbols and assets recur."""
    text = _QUOTED.get(value)
    if text is None:
        if len(_QUOTED) > TEXT_MEMO_LIMIT:
            _QUOTED.clear()
        text = _QUOTED[value] = dumps(value)
    return text


OrderEvent = e.OrderAccepted | e.OrderUpdated | e.OrderTriggered
_LIMIT_PRICED = (OrderType.LIMIT, OrderType.STOP_LIMIT)  # the types with a limit price


def _average_price(order: OrderEvent, units: MarketUnits) -> str:
    """The filled quote over the filled quantity, to the quote asset's unit (half even),
    in the one wide context: exact for every storable amount, whatever the decimals."""
    ctx = CONTEXT
    quote = ctx.multiply(Decimal(order.filled_quote), units.quote_unit)
    base = ctx.multiply(Decimal(order.filled_quantity), units.lot_size)
    average = ctx.divide(quote, base).quantize(units.quote_unit, context=ctx)
    return format(average.normalize(ctx), "f")


Rendered = tuple[dict[str, Any], str]  # a body and its JSON text (json.dumps of it)


def order_json_text(order: OrderEvent, units: MarketUnits) -> Rendered:
    """The order as GET /orders/{id} shows it, and that body's JSON text (exactly
    ``json.dumps(body)``), built from the same formatted pieces."""
    filled = order.filled_quantity
    average = _average_price(order, units) if filled else None
    price = units.ticks_to_price(order.price) if order.type in _LIMIT_PRICED else None
    stop_price = units.ticks_to_price(order.stop_price) if order.stop_price else None
    order_list_id = order.order_list_id
    quantity = units.lots_to_quantity(order.quantity)
    filled_quantity = units.lots_to_quantity(filled)
    filled_quote = units.quote_units_to_amount(order.filled_quote)
    created_ts, updated_ts = order.created_ts, order.updated_ts
    created, updated = iso(created_ts), iso(updated_ts)
    client_order_id = order.client_order_id
    side, kind, tif, status = (
        order.side.value,
        order.type.value,
        order.time_in_force.value,
        order.status.value,
    )
    body = order_body(
        id=order.order_id,
        client_order_id=client_order_id,
        user_id=order.user_id,
        symbol=order.symbol,
        side=side,
        type=kind,
        time_in_force=tif,
        post_only=order.post_only,
        price=price,
        stop_price=stop_price,
        quantity=quantity,
        filled_quantity=filled_quantity,
        filled_quote_quantity=filled_quote,
        average_price=average,
        status=status,
        order_list_id=order_list_id,
        created_at_ms=created_ts,
        updated_at_ms=updated_ts,
        sequence=order.seq,
    )
    price_text = "null" if price is None else f'"{price}"'
    stop_text = "null" if stop_price is None else f'"{stop_price}"'
    list_text = "null" if order_list_id is None else str(order_list_id)
    average_text = "null" if average is None else f'"{average}"'
    text = (
        f'{{"id": {order.order_id}, "client_order_id": '
        f"{'null' if client_order_id is None else dumps(client_order_id)}, "
        f'"user_id": {order.user_id}, "symbol": {quoted(order.symbol)}, '
        f'"side": {quoted(side)}, "type": {quoted(kind)}, "time_in_force": {quoted(tif)}, '
        f'"post_only": {"true" if order.post_only else "false"}, '
        f'"price": {price_text}, "stop_price": {stop_text}, "quantity": "{quantity}", '
        f'"filled_quantity": "{filled_quantity}", "filled_quote_quantity": "{filled_quote}", '
        f'"average_price": {average_text}, '
        f'"status": {quoted(status)}, "order_list_id": {list_text}, '
        f'"created_at": "{created}", "updated_at": "{updated}", '
        f'"created_at_ms": {created_ts}, "updated_at_ms": {updated_ts}, '
        f'"sequence": {order.seq}}}'
    )
    return body, text


def trade_bodies(
    trade: e.Trade, units: MarketUnits
) -> tuple[Rendered, Rendered, Rendered, Rendered]:
    """A trade's four shapes, each with its JSON text: the maker's fill, the taker's
    fill (as that user's fills list shows them), the public trade, and the record the
    DB processor stores (both sides). They share every formatted field."""
    price = units.ticks_to_price(trade.price)
    quantity = units.lots_to_quantity(trade.quantity)
    quote_quantity = units.quote_units_to_amount(trade.quote_amount)
    base, quote_decimals = units.base_decimals, units.quote_decimals
    maker_asset, taker_asset = trade.maker_fee_asset, trade.taker_fee_asset
    maker_fee = format_scaled(
        trade.maker_fee, base if maker_asset == units.base else quote_decimals
    )
    taker_fee = format_scaled(
        trade.taker_fee, base if taker_asset == units.base else quote_decimals
    )
    time_text = iso(trade.ts)
    trade_id, ts, seq, symbol = trade.trade_id, trade.ts, trade.seq, trade.symbol
    taker_side = trade.taker_side.value
    maker_side = "sell" if trade.taker_side is Side.BUY else "buy"
    q_symbol, q_maker_asset, q_taker_asset = (
        quoted(symbol),
        quoted(maker_asset),
        quoted(taker_asset),
    )
    q_taker_side, q_maker_side = quoted(taker_side), quoted(maker_side)
    shared = f'"price": "{price}", "quantity": "{quantity}", "quote_quantity": "{quote_quantity}", '
    maker_id, taker_id = fill_id(trade_id, maker=True), fill_id(trade_id, maker=False)
    maker = fill_body(
        trade_id=trade_id, maker=True, order_id=trade.maker_order_id,
        user_id=trade.maker_user_id, symbol=symbol, side=maker_side, price=price,
        quantity=quantity, quote_quantity=quote_quantity, fee=maker_fee,
        fee_asset=maker_asset, time_ms=ts,
    )  # fmt: skip
    maker_text = (
        f'{{"id": {maker_id}, "trade_id": {trade_id}, "order_id": {trade.maker_order_id}, '
        f'"user_id": {trade.maker_user_id}, "symbol": {q_symbol}, "side": {q_maker_side}, '
        f'"role": "maker", {shared}"fee": "{maker_fee}", "fee_asset": {q_maker_asset}, '
        f'"time": "{time_text}", "time_ms": {ts}}}'
    )
    taker = fill_body(
        trade_id=trade_id, maker=False, order_id=trade.taker_order_id,
        user_id=trade.taker_user_id, symbol=symbol, side=taker_side, price=price,
        quantity=quantity, quote_quantity=quote_quantity, fee=taker_fee,
        fee_asset=taker_asset, time_ms=ts,
    )  # fmt: skip
    taker_text = (
        f'{{"id": {taker_id}, "trade_id": {trade_id}, '
        f'"order_id": {trade.taker_order_id}, "user_id": {trade.taker_user_id}, '
        f'"symbol": {q_symbol}, "side": {q_taker_side}, "role": "taker", {shared}'
        f'"fee": "{taker_fee}", "fee_asset": {q_taker_asset}, '
        f'"time": "{time_text}", "time_ms": {ts}}}'
    )
    public = public_trade_body(
        id=trade_id, symbol=symbol, price=price, quantity=quantity,
        taker_side=taker_side, time_ms=ts, sequence=seq,
    )  # fmt: skip
    public_text = (
        f'{{"id": {trade_id}, "symbol": {q_symbol}, "price": "{price}", '
        f'"quantity": "{quantity}", "taker_side": {q_taker_side}, "time": "{time_text}", '
        f'"time_ms": {ts}, "sequence": {seq}}}'
    )
    record = {
        "id": trade_id, "symbol": symbol, "price": price, "quantity": quantity,
        "quote_quantity": quote_quantity, "taker_side": taker_side,
        "maker_order_id": trade.maker_order_id, "taker_order_id": trade.taker_order_id,
        "maker_user_id": trade.maker_user_id, "taker_user_id": trade.taker_user_id,
        "maker_fee": maker_fee, "maker_fee_asset": maker_asset,
        "taker_fee": taker_fee, "taker_fee_asset": taker_asset,
        "time_ms": ts, "sequence": seq,
    }  # fmt: skip
    record_text = (
        f'{{"id": {trade_id}, "symbol": {q_symbol}, {shared}"taker_side": {q_taker_side}, '
        f'"maker_order_id": {trade.maker_order_id}, "taker_order_id": {trade.taker_order_id}, '
        f'"maker_user_id": {trade.maker_user_id}, "taker_user_id": {trade.taker_user_id}, '
        f'"maker_fee": "{maker_fee}", "maker_fee_asset": {q_maker_asset}, '
        f'"taker_fee": "{taker_fee}", "taker_fee_asset": {q_taker_asset}, '
        f'"time_ms": {ts}, "sequence": {seq}}}'
    )
    return (maker, maker_text), (taker, taker_text), (public, public_text), (record, record_text)


def balance_json(asset: str, available: int, locked: int, decimals: int) -> dict[str, Any]:
    return balance_body(
        asset=asset,
        available=format_scaled(available, decimals),
        locked=format_scaled(locked, decimals),
    )


def balance_json_text(asset: str, available: int, locked: int, decimals: int) -> Rendered:
    """:func:`balance_json` and its JSON text."""
    free, held = format_scaled(available, decimals), format_scaled(locked, decimals)
    body = balance_body(asset=asset, available=free, locked=held)
    return body, f'{{"asset": {quoted(asset)}, "available": "{free}", "locked": "{held}"}}'


def encode(value: Any, texts: dict[int, str]) -> str:
    """``json.dumps(value)``, splicing in the text already made for any dict whose
    ``id`` is in ``texts`` (bodies rendered once, then part of replies and records)."""
    kind = type(value)
    if kind is dict:
        found = texts.get(id(value))
        if found is not None:
            return found
        if all(type(k) is str for k in value):
            get = _QUOTED.get
            parts = [
                f"{get(k) or quoted(k)}: {v if type(v) is int else encode(v, texts)}"
                for k, v in value.items()
            ]
            return "{" + ", ".join(parts) + "}"
        return dumps(value)
    if kind is list:
        return "[" + ", ".join([encode(v, texts) for v in value]) + "]"
    if kind is int:
        return str(value)
    return dumps(value)


def depth_json(
    units: MarketUnits, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> dict[str, Any]:
    price, qty = units.ticks_to_price, units.lots_to_quantity
    return depth_sides(
        bids=[[price(p), qty(q)] for p, q in bids],
        asks=[[price(p), qty(q)] for p, q in asks],
    )
