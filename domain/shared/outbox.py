"""The transactional outbox: every domain change writes its event in the same transaction.

Event ids come from a sequence and commit out of order, so readers never page by id. The relay
gives each committed event a ``position`` in the order it sees them committed (one relay at a
time assigns positions); cursors and replays use positions, so a reader that has seen position N
has seen everything up to N. The relay (realtime/) publishes; nothing in the domain publishes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from .actor import Actor
from .base import Base, IdType, JsonType, pk
from .clock import clock
from .dialect import dialect_name, json_array_contains
from .notification import add_notifications, is_notification


class OutboxEvent(Base):
    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_event_org_id_id", "org_id", "id"),
        Index("ix_outbox_event_position", "position", unique=True),
        Index("ix_outbox_event_org_position", "org_id", "position"),
        Index("ix_outbox_event_timeline", "org_id", "timeline_type", "timeline_id", "position"),
        Index("ix_outbox_event_also", "org_id", "also_type", "also_id", "position"),
        Index("ix_outbox_event_unpositioned", "id", postgresql_where=text("position IS NULL"),
              sqlite_where=text("position IS NULL")),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(80))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    operation: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    actor_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)
    position: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), nullable=True)
    timeline_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    timeline_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    also_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    also_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    """A second timeline that shows the event too (a quote's moves on its opportunity's timeline)."""
    audience: Mapped[list[int]] = mapped_column(JsonType, default=list)
    """Users this event concerns directly (mentions, assignments, escalations)."""


class OutboxState(Base):
    """One row: the last position assigned and how far retention has pruned."""

    __tablename__ = "outbox_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_position: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    pruned_through: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


RECORDED = "outbox_recorded"
"""``session.info`` key: the events recorded and not yet settled, each with the reaction depth that caused it."""
DEPTH = "outbox_depth"
"""``session.info`` key: how many settling reactions deep the events now recorded are (0: the caller's own)."""

Settler = Callable[[AsyncSession, list[tuple["OutboxEvent", int]]], Awaitable[None]]
settlers: list[Settler] = []
"""Reactions to every recorded event, run by ``settle`` before the unit of work commits (workflow rules
register one): each gets the events recorded since the last round, with the depth that caused them."""


async def settle(session: AsyncSession) -> None:
    """Let every settler react to what the unit of work recorded, round after round, until nothing new is
    recorded (a settler stops its own chains; see ``DEPTH``). The unit of work calls it just before it
    commits (tandem/db.py ``Database.write``); the events stay in the same transaction."""
    while batch := session.info.pop(RECORDED, None):
        for settler in settlers:
            await settler(session, batch)


def record_event(
    session: AsyncSession,
    actor: Actor | None,
    *,
    org_id: int,
    topic: str,
    record_type: str,
    record_id: int,
    operation: str,
    payload: dict[str, Any],
    timeline: tuple[str, int] | None = None,
    audience: Sequence[int] = (),
    also: tuple[str, int] | None = None,
) -> OutboxEvent:
    """Add an outbox row to the caller's transaction; it commits or rolls back with the change.
    ``timeline`` names the record whose shared timeline shows the event (default: the record);
    ``also`` a second record whose timeline shows it too (e.g. the opportunity a quote belongs to)."""
    timeline_type, timeline_id = timeline or (record_type, record_id)
    event = OutboxEvent(
        org_id=org_id, topic=topic, record_type=record_type, record_id=record_id, operation=operation,
        payload=payload, actor_id=actor.user_id if actor else None, created_at=clock.now(),
        timeline_type=timeline_type, timeline_id=timeline_id, audience=list(audience),
        also_type=also[0] if also else None, also_id=also[1] if also else None,
    )
    session.add(event)
    session.info["outbox"] = True
    session.info.setdefault(RECORDED, []).append((event, session.info.get(DEPTH, 0)))
    if is_notification(topic, event.audience):
        add_notifications(session, event)
    return event


async def _state(session: AsyncSession) -> OutboxState:
    stmt = select(OutboxState).where(OutboxState.id == 1)
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update()
    state = await session.scalar(stmt)
    if state is None:
        state = OutboxState(id=1, last_position=0, pruned_through=0)
        session.add(state)
        await session.flush()
    return state


async def assign_positions(session: AsyncSession, limit: int = 1000) -> int:
    """Give committed, unpositioned events the next positions, in id order. The caller holds the
    relay lock (one assigner at a time); returns how many got a position.

    One UPDATE for the whole batch (both dialects): the batch is the ``limit`` lowest unpositioned
    ids this statement's snapshot sees committed, numbered in id order after the last position."""
    state = await _state(session)
    batch = (
        select(OutboxEvent.id, func.row_number().over(order_by=OutboxEvent.id).label("n"))
        .where(OutboxEvent.position.is_(None)).order_by(OutboxEvent.id).limit(limit)
        .subquery("batch")  # not a CTE: Python's sqlite3 gives no rowcount for a statement opening with WITH
    )
    result = await session.execute(
        update(OutboxEvent).where(OutboxEvent.id == batch.c.id)
        .values(position=literal(state.last_position, BigInteger()) + batch.c.n)
        .execution_options(synchronize_session=False)
    )
    count = result.rowcount
    if count < 0:
        raise RuntimeError("the driver reported no row count for the position update")
    if count:
        state.last_position += count
        await session.flush()
    return count


EventRow = Row[Any]
"""An outbox event read for publishing or replaying: its columns as attributes (``.id``, ``.position``,
``.payload``...), no ORM instance (they are read by the thousand; building instances costs a third more)."""

_EVENTS = select(OutboxEvent.__table__)


async def unpublished(session: AsyncSession, limit: int = 1000) -> list[EventRow]:
    return list(await session.execute(
        _EVENTS.where(OutboxEvent.position.is_not(None), OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.position).limit(limit)
    ))


async def mark_published(session: AsyncSession, ids: Sequence[int], at: datetime) -> None:
    if ids:
        await session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(published_at=at)
                              .execution_options(synchronize_session=False))


async def backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """Committed events not yet published: how many, and when the oldest of them was recorded. Published
    positions are a prefix (the relay publishes in position order), so the backlog is the unpositioned
    events and those after the last published position: two index ranges, however long the outbox."""
    done = (select(OutboxEvent.position).where(OutboxEvent.published_at.is_not(None))
            .order_by(OutboxEvent.position.desc()).limit(1).scalar_subquery())
    waiting = or_(OutboxEvent.position.is_(None), OutboxEvent.position > func.coalesce(done, 0))
    count, oldest = (await session.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(waiting))).one()
    return count, oldest


async def pruned_through(session: AsyncSession) -> int:
    return (await session.scalar(select(OutboxState.pruned_through).where(OutboxState.id == 1))) or 0


async def last_position(session: AsyncSession) -> int:
    return (await session.scalar(select(OutboxState.last_position).where(OutboxState.id == 1))) or 0


async def prune(session: AsyncSession, older_than: datetime) -> int:
    """Delete published events created before ``older_than``; cursors at or below the highest
    pruned position then get CURSOR_EXPIRED instead of a silent gap."""
    state = await _state(session)
    cut = await session.scalar(
        select(func.max(OutboxEvent.position)).where(
            OutboxEvent.created_at < older_than, OutboxEvent.published_at.is_not(None))
    )
    if cut is None:
        return 0
    result = await session.execute(delete(OutboxEvent).where(OutboxEvent.position <= cut))
    state.pruned_through = max(state.pruned_through, cut)
    await session.flush()
    return result.rowcount or 0


async def events_after(
    session: AsyncSession,
    org_id: int,
    position: int,
    *,
    limit: int = 500,
    timeline: tuple[str, int] | None = None,
    record_types: Sequence[str] | None = None,
    user_id: int | None = None,
    topics: Sequence[str] | None = None,
) -> list[EventRow]:
    """An org's positioned events after ``position``, oldest first, optionally for one timeline,
    some record types, some topics, or those concerning one user."""
    stmt = _EVENTS.where(
        OutboxEvent.org_id == org_id, OutboxEvent.position.is_not(None), OutboxEvent.position > position
    )
    if timeline is not None:
        stmt = stmt.where(or_(
            (OutboxEvent.timeline_type == timeline[0]) & (OutboxEvent.timeline_id == timeline[1]),
            (OutboxEvent.also_type == timeline[0]) & (OutboxEvent.also_id == timeline[1]),
        ))
    if record_types:
        stmt = stmt.where(OutboxEvent.record_type.in_(record_types))
    if topics:
        stmt = stmt.where(or_(*(OutboxEvent.topic.startswith(t) for t in topics)))
    if user_id is not None:
        stmt = stmt.where(json_array_contains(session, OutboxEvent.audience, user_id))
    return list(await session.execute(stmt.order_by(OutboxEvent.position).limit(limit)))
