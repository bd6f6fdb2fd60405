"""Follow-up reminders: "call them back on Tuesday" on any record with a timeline, for one assignee.

A follow-up is scheduled on a record the scheduler may see, for an active user of the org who may see
it too; it is open until its assignee (or whoever scheduled it) completes or cancels it. At its due time
the scheduler's pass (``run_follow_ups``) tells the assignee once: a ``follow_up.due`` event addressed to
them, so it lands in their notifications inbox and reaches them live on ``myNotifications``. "Once" is
one conditional update of ``notified_at`` per follow-up, so a pass that runs twice, or two passes at once,
notify nobody twice. An open follow-up past its due time is overdue.

An opportunity's next step (``nextStepAt``) is a follow-up for its owner: setting it schedules one,
moving it or changing the owner reschedules it, clearing it cancels it (``NextStepSet``, raised by the
pipeline). A deactivated assignee's open follow-ups go to their successor. Every change is an outbox event on the
record's timeline and in the change feed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..pipeline.events import NextStepSet
from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.bus import handles
from ..shared.clock import clock
from ..shared.concurrency import check_version, flush_or_conflict, load_for_write
from ..shared.errors import Forbidden, NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..tenancy.handover import UserDeactivated, hand_over
from ..tenancy.user import User, get_user
from .errors import AutomationErrorCode

MAX_NOTE = 2000
NEXT_STEP = "next_step"
"""The ``source`` of the follow-up an opportunity's next step keeps (one open per opportunity)."""


class FollowUpStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class FollowUp(Base):
    __tablename__ = "follow_up"
    __table_args__ = (
        Index("ix_follow_up_assignee", "org_id", "assignee_id", "status", "due_at", "id"),
        Index("ix_follow_up_due", "status", "notified_at", "due_at"),
        Index("ix_follow_up_record", "org_id", "record_type", "record_id"),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    due_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    status: Mapped[str] = mapped_column(String(20), default=FollowUpStatus.OPEN.value)
    source: Mapped[str | None] = mapped_column(String(40), nullable=True)
    """Who keeps it: None for one scheduled by hand, ``next_step`` for an opportunity's next step."""
    created_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    notified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """When the assignee was told it is due (None: not yet; a reschedule clears it)."""
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    def overdue(self, now: datetime) -> bool:
        return self.status == FollowUpStatus.OPEN.value and self.due_at <= now


@dataclass
class FollowUpInput:
    record_type: str
    record_id: int
    due_at: datetime | None
    note: str | None
    assignee_id: int | None = None


AssigneeSees = Callable[[AsyncSession, User], Awaitable[bool]]
"""Whether a user may see the record (the caller's authorization decides, from the registry)."""


def follow_up_payload(f: FollowUp) -> dict[str, Any]:
    return {"id": f.id, "note": f.note, "dueAt": f.due_at.isoformat(), "status": f.status,
            "assigneeId": f.assignee_id, "recordType": f.record_type, "recordId": f.record_id,
            "version": f.version}


def _event(session: AsyncSession, actor: Actor | None, f: FollowUp, topic: str, operation: str,
           audience: list[int], **extra: Any) -> None:
    record_event(session, actor, org_id=f.org_id, topic=topic, record_type="FollowUp", record_id=f.id,
                 operation=operation, timeline=(f.record_type, f.record_id), audience=audience,
                 payload={**follow_up_payload(f), **extra})


def _check_due(v: Validator, due_at: datetime | None, now: datetime) -> None:
    if due_at is None:
        v.add("dueAt", SharedErrorCode.REQUIRED, "dueAt is required")
    elif due_at.tzinfo is None:
        v.add("dueAt", SharedErrorCode.INVALID, "dueAt needs a time zone offset")
    elif due_at <= now:
        v.add("dueAt", AutomationErrorCode.DUE_IN_PAST, "dueAt must be in the future")


async def _check_assignee(session: AsyncSession, actor: Actor, v: Validator, assignee_id: int,
                          sees: AssigneeSees) -> None:
    assignee = await get_user(session, actor.org_id, assignee_id)  # NOT_FOUND: unknown or another org's
    if not assignee.active:
        v.add("assigneeId", AutomationErrorCode.ASSIGNEE_INACTIVE, "the assignee is deactivated")
    elif assignee.id != actor.user_id and not await sees(session, assignee):
        v.add("assigneeId", AutomationErrorCode.ASSIGNEE_CANNOT_SEE_RECORD, "the assignee may not see this record")


async def schedule_follow_up(session: AsyncSession, actor: Actor, data: FollowUpInput,
                             assignee_sees: AssigneeSees) -> FollowUp:
    """A follow-up on a record the actor may see (the caller checked), for ``assignee_id`` (default: the
    actor), due in the future."""
    now = clock.now()
    v = Validator()
    note = v.text("note", data.note, max_len=MAX_NOTE) or ""
    _check_due(v, data.due_at, now)
    assignee_id = data.assignee_id if data.assignee_id is not None else actor.user_id
    await _check_assignee(session, actor, v, assignee_id, assignee_sees)
    v.raise_if_any()
    assert data.due_at is not None
    follow_up = FollowUp(org_id=actor.org_id, record_type=data.record_type, record_id=data.record_id,
                         due_at=data.due_at, note=note, assignee_id=assignee_id, created_by_id=actor.user_id,
                         created_at=now)
    session.add(follow_up)
    await session.flush()
    _event(session, actor, follow_up, "follow_up.scheduled", "create",
           [assignee_id] if assignee_id != actor.user_id else [])
    return follow_up


async def get_follow_up(session: AsyncSession, actor: Actor, follow_up_id: int) -> FollowUp:
    """A follow-up of the actor's org (whether its record is visible is the caller's check)."""
    found = await session.scalar(select(FollowUp).where(FollowUp.org_id == actor.org_id,
                                                        FollowUp.id == follow_up_id))
    if found is None:
        raise NotFound("FollowUp", follow_up_id)
    return found


async def close_follow_up(session: AsyncSession, actor: Actor, follow_up_id: int, status: FollowUpStatus,
                          version: int | None = None) -> FollowUp:
    """Complete (DONE) or cancel (CANCELLED) an open follow-up: its assignee's or its scheduler's act."""
    follow_up = await load_for_write(session, select(FollowUp).where(
        FollowUp.org_id == actor.org_id, FollowUp.id == follow_up_id), type_name="FollowUp", record_id=follow_up_id)
    if version is not None:
        check_version(follow_up, version, "The follow-up")
    if actor.user_id not in (follow_up.assignee_id, follow_up.created_by_id):
        raise Forbidden("Only its assignee or whoever scheduled it may close a follow-up.")
    if follow_up.status != FollowUpStatus.OPEN.value:
        raise ValidationFailed.one("id", SharedErrorCode.INVALID_STATE, f"the follow-up is {follow_up.status}")
    follow_up.status = status.value
    follow_up.completed_at = clock.now()
    await flush_or_conflict(session, "The follow-up")
    others = [u for u in (follow_up.assignee_id, follow_up.created_by_id) if u != actor.user_id]
    _event(session, actor, follow_up, "follow_up.completed" if status is FollowUpStatus.DONE else "follow_up.cancelled",
           "update", list(dict.fromkeys(others)))
    return follow_up


FOLLOW_UP_ORDER = SortKey("DUE_AT", FollowUp.due_at, datetime)


async def follow_ups_of(session: AsyncSession, actor: Actor, req: PageRequest, *,
                        status: FollowUpStatus | None = FollowUpStatus.OPEN, with_total: bool = False,
                        ) -> Page[FollowUp]:
    """A page of the actor's own follow-ups, soonest due first."""
    stmt = select(FollowUp).where(FollowUp.org_id == actor.org_id, FollowUp.assignee_id == actor.user_id)
    if status is not None:
        stmt = stmt.where(FollowUp.status == status.value)
    return await paginate(session, stmt, entity=FollowUp, sort=FOLLOW_UP_ORDER, req=req, with_total=with_total)


async def run_follow_ups(session: AsyncSession, now: datetime, limit: int = 1000) -> list[FollowUp]:
    """Tell each open follow-up's assignee, once, that it is due (every org; the scheduler's pass)."""
    due = list(await session.scalars(select(FollowUp).where(
        FollowUp.status == FollowUpStatus.OPEN.value, FollowUp.notified_at.is_(None), FollowUp.due_at <= now,
    ).order_by(FollowUp.due_at, FollowUp.id).limit(limit)))
    told = []
    for follow_up in due:
        claimed = await session.execute(
            update(FollowUp).where(FollowUp.id == follow_up.id, FollowUp.notified_at.is_(None),
                                   FollowUp.status == FollowUpStatus.OPEN.value)
            .values(notified_at=now).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            continue  # another pass told them already
        follow_up.notified_at = now
        _event(session, None, follow_up, "follow_up.due", "update", [follow_up.assignee_id])
        told.append(follow_up)
    await session.flush()
    return told


@handles(NextStepSet)
async def _keep_next_step(session: AsyncSession, actor: Actor | None, event: NextStepSet) -> FollowUp | None:
    """An opportunity's next step is its owner's follow-up: scheduled, moved, or cancelled with it."""
    current = await session.scalar(select(FollowUp).where(
        FollowUp.org_id == event.org_id, FollowUp.record_type == "Opportunity",
        FollowUp.record_id == event.opportunity_id, FollowUp.source == NEXT_STEP,
        FollowUp.status == FollowUpStatus.OPEN.value))
    now = clock.now()
    note = event.next_step or ""
    if event.next_step_at is None:
        if current is not None:
            current.status = FollowUpStatus.CANCELLED.value
            current.completed_at = now
            await flush_or_conflict(session, "The follow-up")
            _event(session, actor, current, "follow_up.cancelled", "update", [])
        return current
    if current is None:
        current = FollowUp(org_id=event.org_id, record_type="Opportunity", record_id=event.opportunity_id,
                           due_at=event.next_step_at, note=note, assignee_id=event.owner_id, source=NEXT_STEP,
                           created_by_id=actor.user_id if actor else event.owner_id, created_at=now)
        session.add(current)
        await session.flush()
        _event(session, actor, current, "follow_up.scheduled", "create",
               [event.owner_id] if actor is None or event.owner_id != actor.user_id else [])
        return current
    if (current.due_at, current.note, current.assignee_id) == (event.next_step_at, note, event.owner_id):
        return current
    if current.due_at != event.next_step_at:
        current.notified_at = None
    current.due_at, current.note, current.assignee_id = event.next_step_at, note, event.owner_id
    await flush_or_conflict(session, "The follow-up")
    _event(session, actor, current, "follow_up.rescheduled", "update",
           [event.owner_id] if actor is None or event.owner_id != actor.user_id else [])
    return current


@handles(UserDeactivated)
async def _hand_over_follow_ups(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    return await hand_over(session, actor, event, FollowUp, "assignee_id", FollowUp.status == FollowUpStatus.OPEN.value,
                           record_type="FollowUp", topic="follow_up.reassigned",
                           timeline=lambda f: (f.record_type, f.record_id))
