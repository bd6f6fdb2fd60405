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
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from broadcaster import Broadcast

from .redis_backend import RECONNECTED

RECONNECT = {"reconnected": True}

Warm = Callable[[dict[str, Any]], tuple[Hashable, Callable[[], Awaitable[Any]]] | None]
"""What a subscriber will need ready to deliver an event: (a key, how to get it ready), or None."""


class Gap(Exception):
    """The subscriber fell too far behind; it must resubscribe from its last cursor."""


class Subscription:
    def __init__(self, max_queue: int, warm: Warm | None = None, warm_key: Hashable | None = None) -> None:
        self.max_queue = max_queue
        self.warm = warm
        self.warm_key = self if warm_key is None else warm_key
        """Subscribers with the same ``warm_key`` would warm the same for any item: one is asked."""
        self.queue: deque[dict[str, Any]] = deque()
        self.gapped = False
        self._waiter: asyncio.Future[None] | None = None
        """The future ``get`` waits on while the queue is empty (a bare future, not an Event: at ten
        thousand subscribers per event, an Event's waiter bookkeeping is a tenth of the fan-out)."""

    def offer(self, item: dict[str, Any]) -> bool:
        """Queue an item; False once the subscriber has fallen behind (it is offered nothing more)."""
        if self.gapped:
            return False
        if len(self.queue) >= self.max_queue:
            self.gapped = True
            self.queue.clear()
        else:
            self.queue.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return not self.gapped

    async def get(self) -> dict[str, Any]:
        while not self.queue and not self.gapped:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
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
        self.replays = 0
        """Catch-up passes the streams over this hub ran (at the start, and again after a reconnect)."""
        self.replayed = 0
        """Events those passes delivered from the outbox."""

    def subscribers(self, channel: str) -> int:
        return len(self._subscribers.get(channel, ()))

    def stats(self) -> tuple[int, int, int]:
        """(channels read, subscriptions, groups): a group is the subscribers of a channel that warm the
        same (one multiplexed rendering serves them all). Counted when asked, off the fan-out's path."""
        channels = list(self._subscribers.values())
        return (len(channels), sum(len(members) for members in channels),
                sum(len({s.warm_key for s in members}) for members in channels))

    @asynccontextmanager
    async def subscribe(self, channel: str, *, max_queue: int, warm: Warm | None = None,
                        warm_key: Hashable | None = None) -> AsyncIterator[Subscription]:
        """``warm``, ``warm_key``: see :meth:`_read` and :class:`Subscription`."""
        subscription = Subscription(max_queue, warm, warm_key)
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
        """Offer each message to every subscriber of the channel, once what they will need to deliver it
        is ready: each distinct thing their ``warm`` names (a multiplexed rendering) is got ready once,
        before any of them wakes. Ten thousand subscribers then wake once each and find it done, instead
        of all waking to wait for the first one's rendering and waking again when it is done."""
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
                if item is not RECONNECT:
                    await _warm(self._subscribers.get(channel, ()), item)
                members = self._subscribers.get(channel, set())
                for subscription in list(members):  # also any who joined while it warmed
                    if not subscription.offer(item):
                        # Cut off now, even while its task is stuck sending to a client that stopped reading.
                        members.discard(subscription)


async def _warm(subscriptions: Any, item: dict[str, Any]) -> None:
    asked: dict[Hashable, Warm] = {}
    for subscription in list(subscriptions):
        if subscription.warm is not None:
            asked.setdefault(subscription.warm_key, subscription.warm)
    ready: dict[Hashable, Callable[[], Awaitable[Any]]] = {}
    for warm in asked.values():
        if (found := warm(item)) is not None:
            ready.setdefault(*found)
    if ready:
        # A failure is the subscribers' to meet (each asks again); a hung rendering has the database's timeouts.
        await asyncio.gather(*(get_ready() for get_ready in ready.values()), return_exceptions=True)
