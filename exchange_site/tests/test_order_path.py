"""One order's synchronous path through the web process, as package hops.

A profiler hook records, for every call of a function of the repository, the nearest
calling function of the repository; a hop is a call whose caller lives in another package
(node as in test_import_graph.py). docs/architecture.md, "One order, hop by hop", lists
the hops this test prints and counts.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import pytest

from exchange_site.tests.test_import_graph import node_of, packages

pytestmark = pytest.mark.django_db


def package_hops(call: Any) -> list[tuple[str, str, str]]:
    """Run ``call()`` and return its hops (caller node, callee node, callee function) in
    call order, consecutive repeats of a hop kept once."""
    tops = packages()
    hops: list[tuple[str, str, str]] = []

    def project_node(frame: FrameType | None) -> tuple[str | None, FrameType | None]:
        while frame is not None:
            node = node_of(frame.f_globals.get("__name__", ""), tops)
            if node and ".tests" not in frame.f_globals.get("__name__", ""):
                return node, frame
            frame = frame.f_back
        return None, None

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event != "call":
            return
        callee = node_of(frame.f_globals.get("__name__", ""), tops)
        if callee is None:
            return
        caller, _ = project_node(frame.f_back)
        if caller is None or caller == callee:
            return
        hop = (caller, callee, f"{frame.f_globals['__name__']}.{frame.f_code.co_name}")
        if not hops or hops[-1][:2] != hop[:2]:
            hops.append(hop)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return hops


def test_an_order_enters_each_package_it_needs_once(make_trader, market, capsys):
    trader = make_trader()
    order = {"symbol": market, "side": "buy", "type": "limit", "price": "100", "quantity": "1"}
    trader.post("/api/v1/orders", order, format="json")  # warm: first-call imports, caches
    responses = []
    hops = package_hops(
        lambda: responses.append(trader.post("/api/v1/orders", order, format="json"))
    )
    assert responses[0].status_code == 201, responses[0].content
    with capsys.disabled():
        print(f"\n{len(hops)} hops:")
        for caller, callee, function in hops:
            print(f"  {caller} -> {callee}: {function}")
    pairs = [(a, b) for a, b, _ in hops]
    assert pairs.count(("orders", "marketdata")) <= 2, hops  # the serializer's amounts, units
    assert ("engine_client", "marketdata") not in pairs, hops  # the shard comes with the call
    assert len(hops) <= 12, hops
