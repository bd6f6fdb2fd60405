"""Each user's inbox: the events addressed to them (an outbox event's ``audience``: mentions, assignments,
reminders, escalations, approvals...), one row per recipient, kept after the outbox prunes its events and
marked read by the recipient. Written with the event, in the same transaction; what a recipient may read
of a row is decided when they read it, as for the event itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdType, JsonType, pk
from .clock import clock
from .pagination import Page, PageRequest, SortKey, paginate

NOTIFICATION_TOPICS = ("action_item.", "comment.", "meeting.", "sla.", "quote.", "contract.", "invoice.",
                       "credit_note.", "payment.", "project.", "task.", "timesheet.", "change.", "follow_up.",
                       "intent.", "ticket.", "lead.assigned", "lead.response_overdue", "opportunity.assigned",
                       "workflow.")
"""Events addressed to a user (their ``audience``) of these kinds are their notifications."""


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_inbox", "org_id", "user_id", "created_at", "id"),
                      Index("ix_notification_unread", "org_id", "user_id", "read_at"))

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(IdType)
    """The outbox event it copies (the event itself may be pruned since)."""
    topic: Mapped[str] = mapped_column(String(80))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    timeline_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    timeline_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    actor_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)

    event: Mapped[Any] = relationship(
        "OutboxEvent", primaryjoin="foreign(Notification.event_id) == OutboxEvent.id", lazy="noload")
    """Sets ``event_id`` when the row and its event are written together (no foreign key: the outbox prunes)."""


def is_notification(topic: str, audience: Sequence[int]) -> bool:
    return bool(audience) and topic.startswith(NOTIFICATION_TOPICS)


def add_notifications(session: AsyncSession, event: Any) -> None:
    """One inbox row per recipient of an outbox event addressed to people (called by ``record_event``,
    once the event has its id)."""
    for user_id in dict.fromkeys(event.audience):
        session.add(Notification(
            org_id=event.org_id, user_id=user_id, event=event, topic=event.topic, record_type=event.record_type,
            record_id=event.record_id, timeline_type=event.timeline_type, timeline_id=event.timeline_id,
            payload=event.payload, actor_id=event.actor_id, created_at=event.created_at))


INBOX_ORDER = SortKey("received", Notification.created_at, datetime)


async def inbox(session: AsyncSession, org_id: int, user_id: int, req: PageRequest, *, unread_only: bool = False,
                with_total: bool = False) -> Page[Notification]:
    """A page of a user's notifications, newest first."""
    stmt = select(Notification).where(Notification.org_id == org_id, Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    req = PageRequest(first=req.first, after=req.after, last=req.last, before=req.before, descending=True)
    return await paginate(session, stmt, entity=Notification, sort=INBOX_ORDER, req=req, with_total=with_total)


async def unread_count(session: AsyncSession, org_id: int, user_id: int) -> int:
    return await session.scalar(select(func.count()).select_from(Notification).where(
        Notification.org_id == org_id, Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


async def mark_read(session: AsyncSession, org_id: int, user_id: int, *, ids: Sequence[int] = (),
                    up_to: int | None = None) -> int:
    """Mark the user's own notifications read: those of ``ids``, and every one received up to and
    including ``up_to`` (an id of theirs); others' ids are ignored. Returns how many were unread."""
    mine = (Notification.org_id == org_id) & (Notification.user_id == user_id) & Notification.read_at.is_(None)
    marked = 0
    now = clock.now()
    if ids:
        result = await session.execute(update(Notification).where(mine, Notification.id.in_(list(ids)))
                                       .values(read_at=now).execution_options(synchronize_session=False))
        marked += result.rowcount or 0
    if up_to is not None:
        anchor = await session.scalar(select(Notification.created_at).where(
            Notification.org_id == org_id, Notification.user_id == user_id, Notification.id == up_to))
        if anchor is not None:
            older = (Notification.created_at < anchor) | ((Notification.created_at == anchor)
                                                           & (Notification.id <= up_to))
            result = await session.execute(update(Notification).where(mine, older)
                                           .values(read_at=now).execution_options(synchronize_session=False))
            marked += result.rowcount or 0
    return marked
