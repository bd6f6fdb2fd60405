"""The broker behind broadcaster: in-memory on the embedded default, Redis in production."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from broadcaster import Broadcast

from .redis_backend import RECONNECTED, RedisPubSubBackend

log = logging.getLogger("tandem.realtime")

POLICY_CHANNEL = "tandem:policy"


class Broker:
    """A Broadcast (doorbell only: the outbox is the truth) plus a health check."""

    def __init__(self, redis_url: str | None) -> None:
        self.redis = RedisPubSubBackend(redis_url) if redis_url else None
        self.broadcast = Broadcast(backend=self.redis) if self.redis else Broadcast("memory://")
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        await self.broadcast.connect()

    async def disconnect(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.broadcast.disconnect()

    async def ping(self) -> bool:
        return True if self.redis is None else await self.redis.ping()

    async def announce_policy_change(self, org_id: int) -> None:
        try:
            await self.broadcast.publish(POLICY_CHANNEL, str(org_id))
        except Exception:  # the version row is polled anyway; a lost doorbell only delays
            log.warning("could not announce a policy change", exc_info=True)

    def follow_policy_changes(self, invalidate: Callable[[int | None], None]) -> None:
        """Call ``invalidate(org_id)`` whenever any process announces a policy change
        (``invalidate(None)`` after a reconnect: anything may have been missed)."""

        async def listen() -> None:
            async with self.broadcast.subscribe(POLICY_CHANNEL) as subscriber:
                async for event in subscriber:  # type: ignore[union-attr]
                    if event is None:
                        return
                    if event.message == RECONNECTED:
                        invalidate(None)
                    elif str(event.message).isdigit():
                        invalidate(int(event.message))

        self._tasks.append(asyncio.create_task(listen(), name="policy-changes"))
