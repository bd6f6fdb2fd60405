"""A record's history as pages: its timeline's events (from the outbox, by position) and its comment
thread (from the comments, oldest first), each with the position a live subscription goes on from, so a
record view can query, then subscribe, and see every later change exactly once."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..shared.outbox import EventRow, OutboxEvent, last_position


async def timeline_events(session: AsyncSession, org_id: int, record: tuple[str, int], *, through: int,
                          after: int | None = None, before: int | None = None, size: int = 20,
                          newest_first: bool = False) -> tuple[list[EventRow], bool]:
    """Up to ``size`` events of a record's timeline with positions in (after, before) and at most
    ``through``, in position order (the newest ``size`` of them when ``newest_first``), and whether the
    range holds more beyond the page."""
    timeline_type, timeline_id = record
    stmt = select(OutboxEvent.__table__).where(
        OutboxEvent.org_id == org_id, OutboxEvent.position.is_not(None), OutboxEvent.position <= through,
        or_((OutboxEvent.timeline_type == timeline_type) & (OutboxEvent.timeline_id == timeline_id),
            (OutboxEvent.also_type == timeline_type) & (OutboxEvent.also_id == timeline_id)))
    if after is not None:
        stmt = stmt.where(OutboxEvent.position > after)
    if before is not None:
        stmt = stmt.where(OutboxEvent.position < before)
    order = OutboxEvent.position.desc() if newest_first else OutboxEvent.position.asc()
    rows = list(await session.execute(stmt.order_by(order).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    if newest_first:
        rows.reverse()
    return rows, more


async def live_position(session: AsyncSession) -> int:
    """The last position given out: every event at or before it is in the outbox's order for good; every
    event positioned later comes after it (positions only grow)."""
    return await last_position(session)


async def settled_position(session: AsyncSession, org_id: int) -> int | None:
    """The last position given out, if every event of the org committed so far has one (else None: the
    relay is about to position some, and a page read now could hold a change the live stream will also
    deliver)."""
    waiting = await session.scalar(select(OutboxEvent.id).where(
        OutboxEvent.org_id == org_id, OutboxEvent.position.is_(None)).limit(1))
    return None if waiting is not None else await last_position(session)
