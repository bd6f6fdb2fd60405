"""Replay-then-live event streams: no gap, no duplicate.

A stream subscribes to its channel first (through the hub), then replays the outbox after the
client's position, then yields live events, dropping any it already yielded (by position). After
the Redis backend reconnects it replays again from the last position it delivered. A subscriber
that stops reading is cut off (Gap) instead of buffering without bound.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

from .hub import RECONNECT, Gap, Hub, Warm

Replay = Callable[[int], Awaitable[list[dict[str, Any]]]]

__all__ = ["Gap", "replay_then_live"]


async def replay_then_live(
    hub: Hub, channel: str, replay: Replay, after: int, *, max_queue: int = 1000, batch: int | None = None,
    warm: Warm | None = None, warm_key: Hashable | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """``replay(last)`` returns the events after ``last``, oldest first, at most ``batch`` of them: a
    shorter answer was the last (without ``batch``, only an empty one is). ``warm``: see Hub."""
    last = after
    async with hub.subscribe(channel, max_queue=max_queue, warm=warm, warm_key=warm_key) as subscription:

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
