"""Per-process fan-out with bounded queues.

One broadcaster subscription per channel per process, drained continuously; each subscriber has
a bounded queue of its own. A subscriber that stops reading overflows its queue and is marked
gapped (its queue is dropped): it never makes the process buffer without bound, nor slows the
others. This is also where every subscriber of a channel shares one decode of each message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from broadcaster import Broadcast

from .redis_backend import RECONNECTED

RECONNECT = {"reconnected": True}


class Gap(Exception):
    """The subscriber fell too far behind; it must resubscribe from its last cursor."""


class Subscription:
    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.queue: deque[dict[str, Any]] = deque()
        self.gapped = False
        self._ready = asyncio.Event()

    def offer(self, item: dict[str, Any]) -> None:
        if self.gapped:
            return
        if len(self.queue) >= self.max_queue:
            self.gapped = True
            self.queue.clear()
        else:
            self.queue.append(item)
        self._ready.set()

    async def get(self) -> dict[str, Any]:
        while not self.queue and not self.gapped:
            self._ready.clear()
            await self._ready.wait()
        if self.gapped:
            raise Gap(f"more than {self.max_queue} events behind")
        return self.queue.popleft()


class Hub:
    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast
        self._subscribers: dict[str, set[Subscription]] = {}
        self._readers: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._closing: dict[str, asyncio.Task[None]] = {}
        """Readers cancelled and still unsubscribing: a new reader of the channel subscribes after."""

    def subscribers(self, channel: str) -> int:
        return len(self._subscribers.get(channel, ()))

    @asynccontextmanager
    async def subscribe(self, channel: str, *, max_queue: int) -> AsyncIterator[Subscription]:
        subscription = Subscription(max_queue)
        members = self._subscribers.setdefault(channel, set())
        members.add(subscription)
        reader = self._readers.get(channel)
        if reader is None:
            ready = asyncio.Event()
            reader = self._readers[channel] = (
                asyncio.create_task(self._read(channel, ready, self._closing.get(channel)), name=f"hub:{channel}"),
                ready)
        try:
            # Every subscriber, not only the one that started the reader, waits until the channel is
            # subscribed before it replays: an event published in between would be in neither.
            await reader[1].wait()
            yield subscription
        finally:
            members.discard(subscription)
            if not members and self._subscribers.get(channel) is members:
                del self._subscribers[channel]
                task, _ = self._readers.pop(channel)
                task.cancel()
                self._closing[channel] = task
                task.add_done_callback(lambda done: self._closed(channel, done))
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _closed(self, channel: str, task: asyncio.Task[None]) -> None:
        if self._closing.get(channel) is task:
            del self._closing[channel]

    async def _read(self, channel: str, ready: asyncio.Event, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:  # let the channel's last reader unsubscribe first, or it would undo this one
            try:
                await asyncio.wait({previous})
            except asyncio.CancelledError:  # closed before it subscribed: done only once that one is
                await asyncio.wait({previous})
                raise
        async with self.broadcast.subscribe(channel) as source:
            ready.set()
            while True:
                message = await source.get()
                item = RECONNECT if message.message == RECONNECTED else json.loads(message.message)
                for subscription in list(self._subscribers.get(channel, ())):
                    subscription.offer(item)
