"""Per-user, per-asset balances: ``available`` can be spent, ``locked`` backs open orders."""

from __future__ import annotations


class Balance:
    """One account in one asset. Compared and hashed by identity: the engine keeps
    one object per (user, asset) for ever, and orders keep references to theirs."""

    __slots__ = ("user_id", "asset", "available", "locked")

    def __init__(self, user_id: int, asset: str, available: int = 0, locked: int = 0) -> None:
        self.user_id = user_id
        self.asset = asset
        self.available = available
        self.locked = locked

    def __repr__(self) -> str:
        return f"Balance(user={self.user_id}, {self.asset}, {self.available}/{self.locked})"
