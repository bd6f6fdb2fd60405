"""Replay-then-live event streams: no gap, no duplicate.

A stream subscribes to its channel first (through the hub), then replays the outbox after the
client's position, then yields live events, dropping any it already yielded (by position). A stream
without a position starts live: it asks where the outbox ends only once the channel is subscribed,
so an event positioned after that end (committed, even not yet positioned, when it asked) is
published after the subscription and is replayed or received live, never missed. After the Redis
backend reconnects it replays again from the last position it delivered. A subscriber that stops
reading is cut off (Gap) instead of buffering without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

from .hub import RECONNECT, Gap, Hub, Warm

Replay = Callable[[int], Awaitable[list[dict[str, Any]]]]
End = Callable[[], Awaitable[int]]
"""The position of the last event positioned so far (asked after subscribing)."""

__all__ = ["Gap", "replay_then_live", "replay_then_live_batches"]


async def replay_then_live(
    hub: Hub, channel: str, replay: Replay, after: int | End, *, max_queue: int = 1000, batch: int | None = None,
    warm: Warm | None = None, warm_key: Hashable | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """The events of :func:`replay_then_live_batches`, one by one."""
    async for events in replay_then_live_batches(hub, channel, replay, after, max_queue=max_queue, batch=batch,
                                                 warm=warm, warm_key=warm_key):
        for event in events:
            yield event


async def replay_then_live_batches(
    hub: Hub, channel: str, replay: Replay, after: int | End, *, max_queue: int = 1000, batch: int | None = None,
    warm: Warm | None = None, warm_key: Hashable | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The stream in the batches it comes in: each replayed batch whole (what ``replay`` answered, less
    what was already delivered), each live event alone (a list of one).

    ``replay(last)`` returns the events after ``last``, oldest first, at most ``batch`` of them: a
    shorter answer was the last (without ``batch``, only an empty one is). ``after``: a position, or
    how to ask for the current end (then nothing before it is delivered). ``warm``: see Hub."""
    async with hub.subscribe(channel, max_queue=max_queue, warm=warm, warm_key=warm_key) as subscription:
        last = after if isinstance(after, int) else await after()

        async def catch_up() -> AsyncIterator[list[dict[str, Any]]]:
            """The outbox after ``last``, a batch at a time; the next batch is read while the consumer
            works on this one (its database round trip overlaps the rendering)."""
            nonlocal last
            hub.replays += 1
            ahead: asyncio.Future[list[dict[str, Any]]] | None = asyncio.ensure_future(replay(last))
            try:
                while ahead is not None:
                    events = await ahead
                    ahead = None
                    if events and (batch is None or len(events) >= batch):
                        ahead = asyncio.ensure_future(replay(max(last, events[-1]["position"])))
                    fresh = []
                    for event in events:
                        if event["position"] > last:
                            last = event["position"]
                            fresh.append(event)
                    if fresh:
                        hub.replayed += len(fresh)
                        yield fresh
            finally:
                if ahead is not None:
                    ahead.cancel()

        async for events in catch_up():
            yield events
        while True:
            event = await subscription.get()
            if event is RECONNECT:
                async for replayed in catch_up():
                    yield replayed
                continue
            if event["position"] <= last:
                continue
            last = event["position"]
            yield [event]
