"""One per web process: joins each Channels group once, on behalf of all the sockets of
this process subscribed to it, and hands every message to them in a plain loop.

Why not one group membership per socket (the Channels default): a market message for
1,000 sockets would then be 1,000 queue puts and 1,000 task wake-ups in this process
before any byte is written. Here it is one receive and a loop of direct calls; each socket
writes the pre-encoded frame or, if its client is too far behind, is disconnected. The
handler is named after the event type, as Channels does (``md.depth`` -> ``md_depth``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from channels.layers import get_channel_layer

from realtime import metrics

logger = logging.getLogger(__name__)


class Member(Protocol):
    async def deliver(self, handler: str, event: dict[str, Any]) -> None: ...


class Hub:
    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self.members: dict[str, set[Member]] = {}
        self._joined: dict[str, asyncio.Future[None]] = {}
        self.channel: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        self.received = 0

    async def _ensure_started(self) -> None:
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_future()
            try:
                layer = get_channel_layer(self.alias)
                self.channel = await layer.new_channel("wshub.")
                self._task = asyncio.create_task(self._run(layer))
                self._starting.set_result(None)
            except BaseException as exc:
                self._starting.set_exception(exc)
                self._starting = None
                raise
        await asyncio.shield(self._starting)

    async def add(self, group: str, member: Member) -> None:
        """Returns once this process receives the group's messages."""
        await self._ensure_started()
        self.members.setdefault(group, set()).add(member)
        joined = self._joined.get(group)
        if joined is None:
            joined = self._joined[group] = asyncio.get_running_loop().create_future()
            try:
                await get_channel_layer(self.alias).group_add(group, self.channel)
                joined.set_result(None)
            except BaseException as exc:
                joined.set_exception(exc)
                del self._joined[group]
                raise
        await asyncio.shield(joined)

    async def discard(self, group: str, member: Member) -> None:
        members = self.members.get(group)
        if members is None:
            return
        members.discard(member)
        if not members:
            del self.members[group]
            self._joined.pop(group, None)
            try:
                await get_channel_layer(self.alias).group_discard(group, self.channel)
            except Exception:
                logger.exception("hub: could not leave group %s", group)

    async def _run(self, layer: Any) -> None:
        while True:
            try:
                event = await layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub: receive failed")
                await asyncio.sleep(0.5)
                continue
            self.received += 1
            metrics.HUB_EVENTS.counts[()] += 1
            members = self.members.get(event.get("group", ""))
            if not members:
                continue
            handler = event["type"].replace(".", "_")
            for member in tuple(members):
                try:
                    await member.deliver(handler, event)
                except Exception:
                    logger.exception("hub: delivering %s failed", event["type"])


_hubs: dict[int, Hub] = {}


def get_hub() -> Hub:
    """The hub of the running event loop (daphne runs one per process)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(id(loop))
    if hub is None:
        hub = _hubs[id(loop)] = Hub()
    return hub
