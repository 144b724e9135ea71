"""Each command is defined once: its core dataclass (engine_worker/core/commands.py). The
web side's constructors (engine_client/commands.py) build exactly those fields, the
engine worker's parser (engine_worker/wire.py) turns them back into the dataclass, and
the parser's fast path for the engine's own log agrees with the checked one. Pure: no
services."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine_client import commands
from engine_worker import wire
from engine_worker.core import commands as c
from engine_worker.core.types import MarketStatus, OrderType, Side, TimeInForce
from marketdata.units import MarketUnits, market_units_to_wire

CONSTRUCTORS = {
    c.PlaceOrder: commands.place_order,
    c.PlaceOrderList: commands.place_order_list,
    c.AmendOrder: commands.amend_order,
    c.CancelOrder: commands.cancel_order,
    c.CancelAll: commands.cancel_all,
    c.Deposit: commands.deposit,
    c.Withdraw: commands.withdraw,
    c.AddMarket: commands.add_market,
    c.SetMarketStatus: commands.set_market_status,
    c.Configure: commands.configure,
    c.SetOrderLimit: commands.set_order_limit,
}
WIRE_ONLY = {c.Deposit: {"decimals"}, c.Withdraw: {"decimals"}}
STAMPS = ("request_id", "ts")

ids = st.integers(1, 2**53)
texts = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=1, max_size=12)

# the values of each constructor's parameters, by name
VALUES: dict[str, st.SearchStrategy[typing.Any]] = {
    "user_id": ids,
    "order_id": ids,
    "symbol": texts,
    "side": st.sampled_from([s.value for s in Side]),
    "type": st.sampled_from([t.value for t in OrderType]),
    "time_in_force": st.sampled_from([t.value for t in TimeInForce]),
    "price": st.integers(0, 10**18),
    "stop_price": st.integers(0, 10**18),
    "stop_limit_price": st.none() | st.integers(1, 10**18),
    "quantity": st.integers(1, 10**18),
    "post_only": st.booleans(),
    "client_order_id": st.none() | st.text(min_size=1, max_size=36),
    "asset": texts,
    "amount": st.integers(1, 10**30),
    "decimals": st.integers(0, 18),
    "status": st.sampled_from([s.value for s in MarketStatus]),
    "max_open_orders": st.integers(0, 10_000),
    "client_order_id_retention": st.integers(0, 10**10),
    "market": st.builds(
        lambda base, quote, decimals: market_units_to_wire(
            MarketUnits(
                symbol=f"{base}_{quote}",
                base=base,
                quote=quote,
                base_decimals=decimals,
                quote_decimals=18,  # holds every tick x lot below
                tick_size=Decimal("0.01"),
                lot_size=Decimal(1).scaleb(-decimals),
                min_quantity=Decimal(1).scaleb(-decimals),
                max_quantity=Decimal(1000),
                min_notional=Decimal(1),
                maker_fee_bps=10,
                taker_fee_bps=20,
                status="trading",
                shard=0,
            )
        ),
        texts,
        texts,
        st.integers(0, 16),
    ),
}


def test_every_core_command_has_one_constructor_with_its_fields():
    assert set(typing.get_args(c.Command)) == set(CONSTRUCTORS)
    for cls, build in CONSTRUCTORS.items():
        fields = [f.name for f in dataclasses.fields(cls) if f.name not in STAMPS]
        if cls is c.AddMarket:
            fields = ["market"]  # the decimal units; the engine derives its integer rules
        params = list(inspect.signature(build).parameters)
        assert sorted(params) == sorted([*fields, *WIRE_ONLY.get(cls, ())]), cls.__name__
        assert all(
            p.kind is p.KEYWORD_ONLY for p in inspect.signature(build).parameters.values()
        ), cls.__name__


@st.composite
def wire_commands(draw: st.DrawFn) -> tuple[type, dict[str, typing.Any], dict[str, typing.Any]]:
    cls = draw(st.sampled_from(list(CONSTRUCTORS)))
    build = CONSTRUCTORS[cls]
    args = {name: draw(VALUES[name]) for name in inspect.signature(build).parameters}
    if cls is c.SetOrderLimit:
        args["max_open_orders"] = draw(st.none() | st.integers(1, 10_000))
    if cls is c.CancelAll:
        args["symbol"] = draw(st.none() | texts)
    if cls is c.AmendOrder:
        args["quantity"] = draw(st.none() | st.integers(1, 10**18))
        args["price"] = draw(st.none() | st.integers(1, 10**18))
    stamped = commands.stamped(build(**args), request_id=draw(texts), ts=draw(ids))
    return cls, args, stamped


@settings(max_examples=500, deadline=None)
@given(wire_commands())
def test_a_constructed_command_parses_to_its_dataclass_field_for_field(case):
    cls, args, stamped = case
    command, units = wire.command_from_wire(stamped)
    assert type(command) is cls
    assert (command.request_id, command.ts) == (stamped["request_id"], stamped["ts"])
    if cls is c.AddMarket:
        assert units is not None and market_units_to_wire(units) == args["market"]
        assert command.rules == units.rules()
        return
    assert units is None
    for name, value in args.items():
        if name in WIRE_ONLY.get(cls, ()):
            continue
        got = getattr(command, name)
        assert (got.value if hasattr(got, "value") else got) == value, name


@settings(max_examples=500, deadline=None)
@given(wire_commands())
def test_the_logs_fast_parser_agrees_with_the_checked_one(case):
    _, _, stamped = case
    assert wire.command_from_log(stamped) == wire.command_from_wire(stamped)


# any JSON value, and the Python values a caller in the process could pass
odd_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.sampled_from([*Side, *OrderType, *TimeInForce, 1.5, Decimal(1)])
)


def _parsed(parse: typing.Callable[[typing.Any], typing.Any], wire_: typing.Any) -> typing.Any:
    try:
        return parse(wire_)
    except wire.MalformedCommand as exc:
        return ("malformed", str(exc))


@settings(max_examples=1000, deadline=None)
@given(wire_commands(), st.data())
def test_the_fast_place_order_parser_refuses_exactly_what_the_checked_one_refuses(case, data):
    """A PlaceOrder with one field changed to any value, or removed: command_from_wire
    (its fast path for PlaceOrder) and the checked parser agree, error message included."""
    _, _, stamped = case
    place = stamped
    if stamped["kind"] != "PlaceOrder":
        place = commands.stamped(
            commands.place_order(
                user_id=1, symbol="A_B", side="buy", type="limit", time_in_force="GTC",
                price=5, quantity=2, post_only=False, client_order_id=None,
            ),
            request_id="r", ts=1,
        )  # fmt: skip
    name = data.draw(st.sampled_from(sorted(place)))
    broken = dict(place)
    if data.draw(st.booleans()):
        del broken[name]
    else:
        broken[name] = data.draw(odd_values)
    for candidate in (place, broken):
        assert _parsed(wire.command_from_wire, candidate) == _parsed(
            wire._checked_command, candidate
        )
