"""The outbox relay: positions committed events, publishes them to broadcaster channels, marks
them published, and prunes what retention lets go.

One relay at a time does the work (a PostgreSQL advisory lock held across position, publish and
mark; an asyncio lock on SQLite), so several processes may run one and each event is published
once. It wakes on PostgreSQL NOTIFY (sent by committing transactions that wrote outbox rows), on
a commit in this process, or every ``idle_seconds``. A relay killed after publishing and before
marking publishes those events again on restart: consumers drop duplicates by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from broadcaster import Broadcast
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tandem.domain.shared import outbox
from tandem.domain.shared.clock import clock

from .channels import ENDS_SESSIONS, SESSIONS_CHANNEL, feed_channel, record_channel, user_channel

log = logging.getLogger("tandem.relay")

RELAY_LOCK = 7_263_002
NOTIFY_CHANNEL = "tandem_outbox"
_SQLITE_RELAY_LOCK = asyncio.Lock()
PUBLISH_CHUNK = 1000
"""Messages per Redis pipeline round trip."""


def event_message(e: outbox.EventRow | outbox.OutboxEvent) -> dict[str, Any]:
    return {
        "id": e.id, "position": e.position, "org": e.org_id, "topic": e.topic, "recordType": e.record_type,
        "recordId": e.record_id, "operation": e.operation, "payload": e.payload, "actor": e.actor_id,
        "at": e.created_at.isoformat(), "timeline": [e.timeline_type, e.timeline_id], "audience": e.audience,
        "also": [e.also_type, e.also_id] if e.also_type else None,
    }


def channels_for(e: outbox.EventRow | outbox.OutboxEvent) -> list[str]:
    names = [feed_channel(e.org_id)]
    if e.timeline_type and e.timeline_id is not None:
        names.append(record_channel(e.org_id, e.timeline_type, e.timeline_id))
    if e.also_type and e.also_id is not None:
        names.append(record_channel(e.org_id, e.also_type, e.also_id))
    names.extend(user_channel(e.org_id, u) for u in e.audience or ())
    if e.topic in ENDS_SESSIONS:
        names.append(SESSIONS_CHANNEL)
    return names


class Relay:
    def __init__(self, engine: AsyncEngine, broadcast: Broadcast, *, idle_seconds: float = 1.0,
                 batch: int = 500, retention: timedelta = timedelta(days=30),
                 prune_every: timedelta = timedelta(minutes=10)) -> None:
        self.engine = engine
        self.broadcast = broadcast
        self.idle_seconds = idle_seconds
        self.batch = batch
        self.retention = retention
        self.prune_every = prune_every
        self.postgres = engine.dialect.name == "postgresql"
        self._wake = asyncio.Event()
        self._local_lock = _SQLITE_RELAY_LOCK  # every relay of this process: SQLite has no advisory locks
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None
        self._last_prune = 0.0
        self._stopping = False
        self.published = 0
        self.on_published: Callable[[list[float]], None] | None = None
        """Told, after each round that published events, each one's lag: seconds from its commit (its
        ``created_at``, taken in the transaction that wrote it) to its publishing (the app's metrics)."""

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        if self.postgres:
            await self._listen()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop the relay's task for sure. A cancellation alone can be lost on Python 3.11: one that lands
        as ``asyncio.timeout`` fires becomes a TimeoutError, which the idle wait suppresses; so the loop also
        checks a flag, and the task is cancelled again until it is done."""
        self._stopping = True
        self._wake.set()
        task = self._task
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; if it drops, the idle poll still finds the events."""
        try:
            conn = await self.engine.connect()
            raw = await conn.get_raw_connection()
            await raw.driver_connection.add_listener(NOTIFY_CHANNEL, lambda *_: self.wake())
            self._listener = conn
        except Exception:  # polling covers it
            log.warning("relay: LISTEN failed; polling every %ss", self.idle_seconds, exc_info=True)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):  # asyncio.timeout never swallows a cancellation
                async with asyncio.timeout(self.idle_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while await self.drain() >= self.batch:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay: drain failed; retrying")
                await asyncio.sleep(self.idle_seconds)

    async def drain(self) -> int:
        """One round: position, publish and mark up to ``batch`` events; returns how many were published."""
        if not self.postgres:
            async with self._local_lock:
                async with AsyncSession(self.engine, expire_on_commit=False) as session:
                    return await self._round(session)
        async with self.engine.connect() as conn:
            if not await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": RELAY_LOCK}):
                await conn.rollback()
                return 0  # another process's relay is at it
            await conn.commit()
            try:
                async with AsyncSession(bind=conn, expire_on_commit=False,
                                        join_transaction_mode="control_fully") as session:
                    return await self._round(session)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RELAY_LOCK})
                await conn.commit()

    async def _round(self, session: AsyncSession) -> int:
        await outbox.assign_positions(session, self.batch)
        await session.commit()
        events = await outbox.unpublished(session, self.batch)
        await session.commit()
        messages = []
        for event in events:
            message = json.dumps(event_message(event), ensure_ascii=False, default=str)
            messages.extend((channel, message) for channel in channels_for(event))
        await self._publish(messages)
        published_at = clock.now()
        await outbox.mark_published(session, [e.id for e in events], published_at)
        await session.commit()
        self.published += len(events)
        if self.on_published is not None and events:
            self.on_published([max(0.0, (published_at - e.created_at).total_seconds()) for e in events])
        await self._maybe_prune(session)
        return len(events)

    async def _publish(self, messages: list[tuple[str, str]]) -> None:
        """In order; in one round trip when the backend can pipeline (ours on Redis can)."""
        publish_many = getattr(getattr(self.broadcast, "_backend", None), "publish_many", None)
        if publish_many is not None:
            for start in range(0, len(messages), PUBLISH_CHUNK):
                await publish_many(messages[start:start + PUBLISH_CHUNK])
            return
        for channel, message in messages:
            await self.broadcast.publish(channel, message)

    async def _maybe_prune(self, session: AsyncSession) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_prune < self.prune_every.total_seconds():
            return
        self._last_prune = now
        removed = await outbox.prune(session, clock.now() - self.retention)
        await session.commit()
        if removed:
            log.info("relay: pruned outbox", extra={"fields": {"events": removed}})
