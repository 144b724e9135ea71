"""What crosses Redis between the order gateway and the engine worker.

Commands travel as JSON objects with a ``kind``; :func:`command_from_wire` checks every
field strictly, because whatever a client can get into a job must never stop the
engine. Replies and read-model entries are already in the REST contract's shapes
(decimal strings, ISO times), so the web process returns them as they are.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from engine_worker.core import commands as c
from engine_worker.core import events as e
from engine_worker.core.types import MarketStatus, OrderType, Side, TimeInForce
from marketdata.units import MarketUnits, format_scaled


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


def market_units_to_wire(units: MarketUnits) -> dict[str, Any]:
    """The market's constructor fields (not its derived caches), decimals as strings."""
    return {
        f.name: format(value, "f") if isinstance(value, Decimal) else value
        for f in fields(units)
        if f.init
        for value in (getattr(units, f.name),)
    }


def market_units_from_wire(wire: dict[str, Any]) -> MarketUnits:
    try:
        return MarketUnits(
            symbol=str(wire["symbol"]),
            base=str(wire["base"]),
            quote=str(wire["quote"]),
            base_decimals=int(wire["base_decimals"]),
            quote_decimals=int(wire["quote_decimals"]),
            tick_size=Decimal(wire["tick_size"]),
            lot_size=Decimal(wire["lot_size"]),
            min_quantity=Decimal(wire["min_quantity"]),
            max_quantity=Decimal(wire["max_quantity"]),
            min_notional=Decimal(wire["min_notional"]),
            maker_fee_bps=int(wire["maker_fee_bps"]),
            taker_fee_bps=int(wire["taker_fee_bps"]),
            status=str(wire["status"]),
            shard=int(wire["shard"]),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise MalformedCommand(f"bad market: {exc}") from exc


def command_to_wire(command: c.Command, **extra: Any) -> dict[str, Any]:
    """``extra`` carries what the core does not need (AddMarket's decimal sizes)."""
    wire = {"kind": type(command).__name__}
    for name in command.__slots__:
        value = getattr(command, name)
        if name == "rules":
            continue
        wire[name] = value.value if hasattr(value, "value") else value
    wire.update(extra)
    return wire


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
            units = market_units_from_wire(_field(wire, "market", dict))
            return c.AddMarket(request_id, ts, units.rules()), units
        if kind == "SetMarketStatus":
            status = MarketStatus(_field(wire, "status", str))
            return c.SetMarketStatus(request_id, ts, _field(wire, "symbol", str), status), None
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
        ), None  # fmt: skip
    if kind == "CancelOrder":
        return c.CancelOrder(
            wire["request_id"], wire["ts"], wire["user_id"], wire["order_id"]
        ), None
    return command_from_wire(wire)


# --- presenters: engine integers -> the REST contract's shapes -------------------------


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    """Exact milliseconds since the epoch (no float rounding)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def iso(ts_ms: int, _last: list[Any] = [None, ""]) -> str:  # noqa: B006 - a one-entry memo
    """Epoch milliseconds as ISO 8601 UTC. A batch's commands share a few timestamps, so
    the last one is remembered."""
    if _last[0] != ts_ms:
        text = datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds")
        _last[0], _last[1] = ts_ms, text.replace("+00:00", "Z")
    return _last[1]


def order_json(order: e.OrderAccepted | e.OrderUpdated, units: MarketUnits) -> dict[str, Any]:
    filled = order.filled_quantity
    average = None
    if filled:
        quote = Decimal(order.filled_quote) * units.quote_unit
        average = format(
            (quote / (Decimal(filled) * units.lot_size)).quantize(units.quote_unit).normalize(),
            "f",
        )
    return {
        "id": order.order_id,
        "client_order_id": order.client_order_id,
        "user_id": order.user_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "time_in_force": order.time_in_force.value,
        "post_only": order.post_only,
        "price": units.ticks_to_price(order.price) if order.type is OrderType.LIMIT else None,
        "quantity": units.lots_to_quantity(order.quantity),
        "filled_quantity": units.lots_to_quantity(filled),
        "filled_quote_quantity": units.quote_units_to_amount(order.filled_quote),
        "average_price": average,
        "status": order.status.value,
        "created_at": iso(order.created_ts),
        "updated_at": iso(order.updated_ts),
        "created_at_ms": order.created_ts,
        "updated_at_ms": order.updated_ts,
        "sequence": order.seq,
    }


def fill_json(trade: e.Trade, units: MarketUnits, *, maker: bool) -> dict[str, Any]:
    """One side of a trade, as the fills list of that side's user shows it."""
    taker_side = trade.taker_side
    side = (Side.SELL if taker_side is Side.BUY else Side.BUY) if maker else taker_side
    fee = trade.maker_fee if maker else trade.taker_fee
    fee_asset = trade.maker_fee_asset if maker else trade.taker_fee_asset
    fee_decimals = units.base_decimals if fee_asset == units.base else units.quote_decimals
    return {
        "id": trade.trade_id * 2 + (0 if maker else 1),
        "trade_id": trade.trade_id,
        "order_id": trade.maker_order_id if maker else trade.taker_order_id,
        "user_id": trade.maker_user_id if maker else trade.taker_user_id,
        "symbol": trade.symbol,
        "side": side.value,
        "role": "maker" if maker else "taker",
        "price": units.ticks_to_price(trade.price),
        "quantity": units.lots_to_quantity(trade.quantity),
        "quote_quantity": units.quote_units_to_amount(trade.quote_amount),
        "fee": format_scaled(fee, fee_decimals),
        "fee_asset": fee_asset,
        "time": iso(trade.ts),
        "time_ms": trade.ts,
    }


def trade_record(trade: e.Trade, units: MarketUnits) -> dict[str, Any]:
    """Both sides of a trade, as the DB processor stores it."""
    base, quote = units.base_decimals, units.quote_decimals
    maker_decimals = base if trade.maker_fee_asset == units.base else quote
    taker_decimals = base if trade.taker_fee_asset == units.base else quote
    return {
        "id": trade.trade_id,
        "symbol": trade.symbol,
        "price": units.ticks_to_price(trade.price),
        "quantity": units.lots_to_quantity(trade.quantity),
        "quote_quantity": units.quote_units_to_amount(trade.quote_amount),
        "taker_side": trade.taker_side.value,
        "maker_order_id": trade.maker_order_id,
        "taker_order_id": trade.taker_order_id,
        "maker_user_id": trade.maker_user_id,
        "taker_user_id": trade.taker_user_id,
        "maker_fee": format_scaled(trade.maker_fee, maker_decimals),
        "maker_fee_asset": trade.maker_fee_asset,
        "taker_fee": format_scaled(trade.taker_fee, taker_decimals),
        "taker_fee_asset": trade.taker_fee_asset,
        "time_ms": trade.ts,
        "sequence": trade.seq,
    }


def public_trade_json(trade: e.Trade, units: MarketUnits) -> dict[str, Any]:
    return {
        "id": trade.trade_id,
        "symbol": trade.symbol,
        "price": units.ticks_to_price(trade.price),
        "quantity": units.lots_to_quantity(trade.quantity),
        "taker_side": trade.taker_side.value,
        "time": iso(trade.ts),
        "time_ms": trade.ts,
        "sequence": trade.seq,
    }


def balance_json(asset: str, available: int, locked: int, decimals: int) -> dict[str, str]:
    return {
        "asset": asset,
        "available": format_scaled(available, decimals),
        "locked": format_scaled(locked, decimals),
    }


def depth_json(
    units: MarketUnits, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> dict[str, list[list[str]]]:
    price, qty = units.ticks_to_price, units.lots_to_quantity
    return {
        "bids": [[price(p), qty(q)] for p, q in bids],
        "asks": [[price(p), qty(q)] for p, q in asks],
    }
