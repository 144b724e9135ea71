"""A small /ws/v1 client: keeps a local order book from the depth snapshot and updates,
checks the sequence numbers, and re-subscribes (for a fresh snapshot) on a gap.

    .venv/bin/python docs/examples/ws_client.py [--url ws://127.0.0.1:8000/ws/v1]
        [--symbol BTC_USDT] [--token TOKEN]

With --token it also authenticates and prints its own orders, fills and balances.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from decimal import Decimal

from websockets.asyncio.client import connect


class Book:
    def __init__(self) -> None:
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.sequence: int | None = None  # None: waiting for a snapshot

    def reset(self, snapshot: dict) -> None:
        self.bids = {p: q for p, q in snapshot["data"]["bids"]}
        self.asks = {p: q for p, q in snapshot["data"]["asks"]}
        self.sequence = snapshot["sequence"]

    def apply(self, update: dict) -> bool:
        """Apply an update; False on a gap (the book is then unusable until a snapshot)."""
        if self.sequence is None or update["first_sequence"] != self.sequence + 1:
            self.sequence = None
            return False
        for side, levels in (("bids", self.bids), ("asks", self.asks)):
            for price, quantity in update["data"][side]:
                if Decimal(quantity) == 0:
                    levels.pop(price, None)  # "0" removes the level
                else:
                    levels[price] = quantity
        self.sequence = update["sequence"]
        return True

    def top(self) -> str:
        bid = max(self.bids, key=Decimal, default=None)
        ask = min(self.asks, key=Decimal, default=None)
        return (
            f"seq {self.sequence}: best bid {bid} ({self.bids.get(bid)})"
            f" / best ask {ask} ({self.asks.get(ask)})"
        )


async def main(url: str, symbol: str, token: str | None) -> None:
    channel = f"depth.{symbol}"
    book = Book()
    async with connect(url) as ws:
        if token:
            await ws.send(json.dumps({"op": "auth", "token": token}))
        channels = [channel, f"trades.{symbol}"] + (["user"] if token else [])
        await ws.send(json.dumps({"op": "subscribe", "channels": channels}))
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "ping":
                await ws.send(json.dumps({"op": "pong"}))
            elif kind == "error":
                print("error:", frame["code"], frame["message"])
            elif frame.get("channel") == channel:
                if kind == "snapshot":
                    book.reset(frame)  # a snapshot may come at any time: it replaces the book
                elif not book.apply(frame):
                    print("gap: re-subscribing for a fresh snapshot")
                    await ws.send(json.dumps({"op": "unsubscribe", "channels": [channel]}))
                    await ws.send(json.dumps({"op": "subscribe", "channels": [channel]}))
                    continue
                print(book.top())
            elif frame.get("channel") == f"trades.{symbol}":
                for trade in frame["data"]:
                    print(f"trade {trade['id']}: {trade['quantity']} @ {trade['price']}")
            elif frame.get("channel") == "user":
                print("mine:", frame["data"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/v1")
    parser.add_argument("--symbol", default="BTC_USDT")
    parser.add_argument("--token")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.symbol, args.token))
