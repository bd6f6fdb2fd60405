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

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

from .hub import RECONNECT, Gap, Hub, Warm

Replay = Callable[[int], Awaitable[list[dict[str, Any]]]]
End = Callable[[], Awaitable[int]]
"""The position of the last event positioned so far (asked after subscribing)."""

__all__ = ["Gap", "replay_then_live"]


async def replay_then_live(
    hub: Hub, channel: str, replay: Replay, after: int | End, *, max_queue: int = 1000, batch: int | None = None,
    warm: Warm | None = None, warm_key: Hashable | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """``replay(last)`` returns the events after ``last``, oldest first, at most ``batch`` of them: a
    shorter answer was the last (without ``batch``, only an empty one is). ``after``: a position, or
    how to ask for the current end (then nothing before it is delivered). ``warm``: see Hub."""
    async with hub.subscribe(channel, max_queue=max_queue, warm=warm, warm_key=warm_key) as subscription:
        last = after if isinstance(after, int) else await after()

        async def catch_up() -> AsyncIterator[dict[str, Any]]:
            nonlocal last
            hub.replays += 1
            while True:
                events = await replay(last)
                for event in events:
                    if event["position"] > last:
                        last = event["position"]
                        hub.replayed += 1
                        yield event
                if not events or (batch is not None and len(events) < batch):
                    return

        async for event in catch_up():
            yield event
        while True:
            event = await subscription.get()
            if event is RECONNECT:
                async for replayed in catch_up():
                    yield replayed
                continue
            if event["position"] <= last:
                continue
            last = event["position"]
            yield event
