"""A broadcaster backend on redis-py asyncio PubSub that survives Redis going away.

broadcaster 0.3.1's own Redis backend races its listener against the first SUBSCRIBE with
redis-py >= 8 (the first subscription never delivers) and never reconnects. This one awaits each
SUBSCRIBE before returning, reads in one task, and when the connection drops it reconnects with
exponential backoff, re-subscribes every channel, then puts a RECONNECTED event on each channel so
live streams re-replay from their last delivered event id (messages published while Redis was
unreachable are lost by pub/sub; the outbox still has them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("tandem.realtime.redis")

RECONNECTED = "__tandem_reconnected__"
_PUBLISH_MANY = "for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return #ARGV / 2"
"""PUBLISH channel message [channel message ...], in order, in one command."""
_DROPPED = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


class RedisPubSubBackend(BroadcastBackend):
    def __init__(self, url: str, *, min_backoff: float = 0.05, max_backoff: float = 5.0) -> None:
        self._url = url
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._publish_script: Any = None
        self._scripting = True
        self.reconnects = 0

    async def connect(self) -> None:
        self._client = aioredis.from_url(self._url, decode_responses=True, socket_connect_timeout=2,
                                         health_check_interval=5)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._reader = asyncio.create_task(self._read(), name="redis-pubsub-reader")

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        try:
            await self._pubsub.subscribe(channel)
        except _DROPPED:
            log.warning("subscribe while Redis is unreachable; will subscribe on reconnect")
        self._subscribed.set()

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        try:
            await self._pubsub.unsubscribe(channel)
        except _DROPPED:
            pass

    async def publish(self, channel: str, message: Any) -> None:
        assert self._client is not None
        await self._client.publish(channel, message)

    async def publish_many(self, messages: Sequence[tuple[str, Any]]) -> None:
        """PUBLISH each (channel, message) in order, in one round trip: one script call (one reply to
        read instead of one per message), or a pipeline where scripting is not allowed."""
        assert self._client is not None
        if self._publish_script is None and self._scripting:
            self._publish_script = self._client.register_script(_PUBLISH_MANY)
        if self._publish_script is not None:
            try:
                await self._publish_script(keys=[], args=[part for pair in messages for part in pair])
                return
            except ResponseError as exc:
                # EVAL refused (some managed Redis): a pipeline will do. The error quotes the arguments
                # (event payloads), so only its kind is logged.
                log.warning("redis refused the publishing script (%s); pipelining instead", type(exc).__name__)
                self._publish_script, self._scripting = None, False
        async with self._client.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(channel, message)
            await pipe.execute()

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def ping(self) -> bool:
        try:
            return bool(self._client is not None and await self._client.ping())
        except _DROPPED:
            return False

    async def _read(self) -> None:
        while True:
            if not self._channels:
                self._subscribed.clear()
                await self._subscribed.wait()
                continue
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except _DROPPED as exc:
                log.warning("redis pub/sub connection lost: %s", exc)
                await self._reconnect()
                continue
            except RuntimeError:  # not subscribed yet (no connection)
                await asyncio.sleep(self._min_backoff)
                continue
            if message is not None and message.get("type") == "message":
                await self._queue.put(Event(message["channel"], message["data"]))

    async def _reconnect(self) -> None:
        backoff = self._min_backoff
        while True:
            await asyncio.sleep(backoff)
            try:
                await self._pubsub.aclose()
            except _DROPPED:
                pass
            try:
                assert self._client is not None
                self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                channels = sorted(self._channels)
                if channels:
                    await self._pubsub.subscribe(*channels)
                self.reconnects += 1
                log.info("redis pub/sub reconnected", extra={"fields": {"channels": len(channels)}})
                for channel in channels:
                    await self._queue.put(Event(channel, RECONNECTED))
                return
            except _DROPPED:
                backoff = min(backoff * 2, self._max_backoff)
