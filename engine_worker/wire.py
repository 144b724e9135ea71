"""What crosses Redis between the order gateway and the engine worker.

Commands travel as JSON objects with a ``kind``; :func:`command_from_wire` checks every
field strictly, because whatever a client can get into a job must never stop the
engine. Replies and read-model entries are already in the REST contract's shapes
(decimal strings, ISO times), so the web process returns them as they are.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from engine_worker.core import commands as c
from engine_worker.core import events as e
from engine_worker.core.types import MarketStatus, OrderType, Side, TimeInForce
from marketdata.shapes import (
    balance_body,
    depth_sides,
    fill_body,
    order_body,
    public_trade_body,
)
from marketdata.units import (
    TEXT_MEMO_LIMIT,
    MarketUnits,
    format_scaled,
    market_units_from_wire,
)


class MalformedCommand(ValueError):
    pass


_SIDES = {s.value: s for s in Side}
_TYPES = {t.value: t for t in OrderType}
_TIFS = {t.value: t for t in TimeInForce}


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
    if type(wire) is dict and wire.get("kind") == "PlaceOrder":
        order = _place_order(wire)
        if order is not None:
            return order, None
    return _checked_command(wire)


def _place_order(wire: dict[str, Any]) -> c.PlaceOrder | None:
    """The most frequent command when every field is exactly of its type and value (as
    JSON parses them), checked in one expression; None otherwise, and the checked parser
    decides (and says which field is wrong)."""
    get = wire.get
    request_id, ts, user_id, symbol = get("request_id"), get("ts"), get("user_id"), get("symbol")
    side, kind, tif = get("side"), get("type"), get("time_in_force")
    price, quantity, post_only = get("price"), get("quantity"), get("post_only")
    client_order_id, stop_price = get("client_order_id"), get("stop_price")
    if not (
        type(request_id) is str
        and type(ts) is int
        and type(user_id) is int
        and type(symbol) is str
        and type(side) is str
        and type(kind) is str
        and type(tif) is str
        and type(price) is int
        and type(quantity) is int
        and type(post_only) is bool
        and (client_order_id is None or type(client_order_id) is str)
        and (stop_price is None or type(stop_price) is int)
    ):
        return None
    side, kind, tif = _SIDES.get(side), _TYPES.get(kind), _TIFS.get(tif)
    if side is None or kind is None or tif is None:
        return None
    order = _new_place_order(c.PlaceOrder)  # each field stored: no dataclass __init__
    order.request_id, order.ts, order.user_id, order.symbol = request_id, ts, user_id, symbol
    order.side, order.type, order.time_in_force = side, kind, tif
    order.price, order.quantity, order.post_only = price, quantity, post_only
    order.client_order_id, order.stop_price = client_order_id, stop_price or 0
    return order


# PlaceOrder's allocator: object.__new__ in pure Python; compiled, the native class's own
# (object.__new__ refuses those), as engine_worker/core/engine.py does for the events
_new_place_order = c.PlaceOrder.__new__


def _checked_command(wire: Any) -> tuple[c.Command, MarketUnits | None]:
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


def dumps(value: Any) -> bytes:
    """``value`` as JSON text (UTF-8), by orjson: compact, non-ASCII unescaped. ``value``
    may hold :class:`Raw` texts, written as they are (a body encoded once already). What
    orjson refuses, :func:`_refused` rewrites first: an int past 64 bits (a 38-digit
    amount in a command), a lone surrogate (a string nothing checked), a key that is not
    a string (the limits' users); the text is json.dumps' but for escapes. Every reader
    parses it with json.loads."""
    try:
        return _orjson_dumps(value)
    except TypeError:  # orjson.JSONEncodeError
        try:
            return _orjson_dumps(_refused(value))
        except (TypeError, RecursionError):  # a key with a lone surrogate, a deep nesting:
            # json.dumps, which knows no Raw (none of the worker's bodies has either)
            return _stdlib_dumps(value, separators=(",", ":"), ensure_ascii=False).encode(
                "utf-8", "surrogatepass"
            )


#: Text already JSON, spliced into what :func:`dumps` writes (an order's or a fill's
#: text, rendered once for the read model, in a reply and a record)
Raw = orjson.Fragment
_INT64 = (-(2**63), 2**64 - 1)  # what orjson writes of an int


def _refused(value: Any) -> Any:
    """``value`` with what orjson refuses as :data:`Raw` texts json.dumps writes (ints past
    64 bits, strings with a lone surrogate) and each key a string (as json.dumps makes
    it)."""
    if isinstance(value, dict):
        return {_key(key): _refused(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_refused(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = _INT64
        return value if low <= value <= high else Raw(str(value).encode())
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate
            return Raw(_stdlib_dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return value


def _key(key: Any) -> str:
    """A dict key as json.dumps writes it: a str (a StrEnum as its value), else its JSON."""
    if type(key) is str:
        return key
    return str.__str__(key) if isinstance(key, str) else _stdlib_dumps(key)


_orjson_dumps = orjson.dumps
_stdlib_dumps = json.dumps

OrderEvent = e.OrderAccepted | e.OrderUpdated | e.OrderTriggered
_LIMIT_PRICED = (OrderType.LIMIT, OrderType.STOP_LIMIT)  # the types with a limit price


def average_price(filled_quote: int, filled_lots: int, units: MarketUnits) -> str:
    """The filled quote over the filled quantity, to the quote asset's unit, rounded half
    even; by integers only, so exact for any amount. In quote units the average is
    ``filled_quote / (filled_lots * lot)`` with ``lot = m * 10**-k`` lots' worth of base:
    ``filled_quote * 10**k / (filled_lots * m)``."""
    mantissa, exponent = units.lot_scale
    denominator = filled_lots * mantissa
    whole, rest = divmod(filled_quote * 10**exponent, denominator)
    if rest:
        twice = 2 * rest
        if twice > denominator or (twice == denominator and whole & 1):
            whole += 1
    return format_scaled(whole, units.quote_decimals)


Rendered = tuple[dict[str, Any], bytes]  # a body and its JSON text (dumps of it)


def order_body_of(order: OrderEvent, units: MarketUnits) -> dict[str, Any]:
    """The order as GET /orders/{id} shows it. The enumerations go in as they are: each
    is a str (StrEnum), its value."""
    filled = order.filled_quantity
    filled_quote = order.filled_quote
    kind = order.type
    stop_price = order.stop_price
    # in order_body's order (marketdata/shapes.py: the renderer passes them by position)
    return order_body(
        order.order_id,
        order.client_order_id,
        order.user_id,
        order.symbol,
        order.side,
        kind,
        order.time_in_force,
        order.post_only,
        units.ticks_to_price(order.price) if kind in _LIMIT_PRICED else None,
        units.ticks_to_price(stop_price) if stop_price else None,
        units.lots_to_quantity(order.quantity),
        units.lots_to_quantity(filled),
        format_scaled(filled_quote, units.quote_decimals) if filled_quote else "0",
        average_price(filled_quote, filled, units) if filled else None,
        order.status,
        order.order_list_id,
        order.created_ts,
        order.updated_ts,
        order.seq,
    )


def order_json_text(order: OrderEvent, units: MarketUnits) -> Rendered:
    """The order as GET /orders/{id} shows it, and that body's JSON text (orjson called
    here, dumps only if it refuses: one call fewer per order on the hot path)."""
    body = order_body_of(order, units)
    try:
        return body, _orjson_dumps(body)
    except TypeError:  # orjson.JSONEncodeError: dumps' fallback decides
        return body, dumps(body)


def trade_bodies(
    trade: e.Trade, units: MarketUnits
) -> tuple[Rendered, Rendered, Rendered, dict[str, Any]]:
    """A trade's four shapes, the first three with their JSON text: the maker's fill, the
    taker's fill (as that user's fills list shows them), the public trade, and the record
    the DB processor stores (both sides). They share every formatted field."""
    price = units.ticks_to_price(trade.price)
    quantity = units.lots_to_quantity(trade.quantity)
    quote_decimals = units.quote_decimals
    quote_quantity = format_scaled(trade.quote_amount, quote_decimals)
    base, base_decimals = units.base, units.base_decimals
    maker_asset, taker_asset = trade.maker_fee_asset, trade.taker_fee_asset
    maker_fee = format_scaled(
        trade.maker_fee, base_decimals if maker_asset == base else quote_decimals
    )
    taker_fee = format_scaled(
        trade.taker_fee, base_decimals if taker_asset == base else quote_decimals
    )
    trade_id, ts, seq, symbol = trade.trade_id, trade.ts, trade.seq, trade.symbol
    taker_side = trade.taker_side
    maker_side = Side.SELL if taker_side is Side.BUY else Side.BUY
    maker_order, taker_order = trade.maker_order_id, trade.taker_order_id
    maker_user, taker_user = trade.maker_user_id, trade.taker_user_id
    # in fill_body's and public_trade_body's order (marketdata/shapes.py)
    maker = fill_body(
        trade_id, True, maker_order, maker_user, symbol, maker_side, price, quantity,
        quote_quantity, maker_fee, maker_asset, ts,
    )  # fmt: skip
    taker = fill_body(
        trade_id, False, taker_order, taker_user, symbol, taker_side, price, quantity,
        quote_quantity, taker_fee, taker_asset, ts,
    )  # fmt: skip
    public = public_trade_body(trade_id, symbol, price, quantity, taker_side, ts, seq)
    record = {
        "id": trade_id, "symbol": symbol, "price": price, "quantity": quantity,
        "quote_quantity": quote_quantity, "taker_side": taker_side,
        "maker_order_id": maker_order, "taker_order_id": taker_order,
        "maker_user_id": maker_user, "taker_user_id": taker_user,
        "maker_fee": maker_fee, "maker_fee_asset": maker_asset,
        "taker_fee": taker_fee, "taker_fee_asset": taker_asset,
        "time_ms": ts, "sequence": seq,
    }  # fmt: skip
    try:  # orjson here, dumps only if it refuses (as order_json_text)
        texts = _orjson_dumps(maker), _orjson_dumps(taker), _orjson_dumps(public)
    except TypeError:  # orjson.JSONEncodeError
        texts = dumps(maker), dumps(taker), dumps(public)
    return (maker, texts[0]), (taker, texts[1]), (public, texts[2]), record


def event_prefix(kind: str) -> bytes:
    """The head of a user event's text, ``{"event":"<kind>",``: the event is its body's
    JSON object with this first field (the body's text without its ``{`` follows)."""
    return b'{"event":"' + kind.encode() + b'",'


_BALANCE_EVENT = event_prefix("balance")
# asset -> the text of its balance up to the available amount, and its user event's
_BALANCE_HEADS: dict[str, tuple[bytes, bytes]] = {}


def balance_texts(asset: str, available: str, locked: str) -> tuple[bytes, bytes]:
    """The JSON text of ``balance_body(asset, available, locked)`` (dumps of it) and of
    its user event (``{"event":"balance",...}``), without building the body: the amounts
    are decimal strings (digits, a point, a minus), which JSON writes as they are, after
    the asset's text, encoded once and remembered."""
    heads = _BALANCE_HEADS.get(asset)
    if heads is None:
        head = dumps(balance_body(asset, "", ""))[: -len(b'","locked":""}')]
        if len(_BALANCE_HEADS) > TEXT_MEMO_LIMIT:
            _BALANCE_HEADS.clear()
        heads = _BALANCE_HEADS[asset] = (head, _BALANCE_EVENT + head[1:])
    tail = (available + '","locked":"' + locked + '"}').encode()
    return heads[0] + tail, heads[1] + tail


def balance_json(asset: str, available: int, locked: int, decimals: int) -> dict[str, Any]:
    return balance_body(asset, format_scaled(available, decimals), format_scaled(locked, decimals))


def balance_json_text(asset: str, available: int, locked: int, decimals: int) -> Rendered:
    """:func:`balance_json` and its JSON text."""
    body = balance_json(asset, available, locked, decimals)
    return body, dumps(body)


def depth_json(
    units: MarketUnits, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> dict[str, Any]:
    price, qty = units.ticks_to_price, units.lots_to_quantity
    return depth_sides(
        bids=[[price(p), qty(q)] for p, q in bids],
        asks=[[price(p), qty(q)] for p, q in asks],
    )
