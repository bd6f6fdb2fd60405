"""Replay-then-live event streams: no gap, no duplicate.

A stream subscribes to its channel first (through the hub), then replays the outbox after the
client's position, then yields live events, dropping any it already yielded (by position). After
the Redis backend reconnects it replays again from the last position it delivered. A subscriber
that stops reading is cut off (Gap) instead of buffering without bound.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .hub import RECONNECT, Gap, Hub

Replay = Callable[[int], Awaitable[list[dict[str, Any]]]]

__all__ = ["Gap", "replay_then_live"]


async def replay_then_live(
    hub: Hub, channel: str, replay: Replay, after: int, *, max_queue: int = 1000,
) -> AsyncIterator[dict[str, Any]]:
    last = after
    async with hub.subscribe(channel, max_queue=max_queue) as subscription:

        async def catch_up() -> AsyncIterator[dict[str, Any]]:
            nonlocal last
            while True:
                batch = await replay(last)
                for event in batch:
                    if event["position"] > last:
                        last = event["position"]
                        yield event
                if not batch:
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
