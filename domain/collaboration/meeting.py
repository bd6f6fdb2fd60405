"""Meetings on a record, their minutes, and the action items that come out of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.bus import handles
from ..shared.clock import clock
from ..shared.concurrency import check_version, flush_or_conflict, load_for_write
from ..shared.errors import Validator
from ..shared.outbox import record_event
from ..shared.rows import group_by
from ..shared.text import handle_key
from ..tenancy.handover import UserDeactivated, hand_over
from ..tenancy.user import get_user
from .comment import handle_directory
from .minutes import parse_minutes

MAX_MINUTES = 50_000


class ActionItemStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Meeting(Base):
    __tablename__ = "meeting"
    __table_args__ = (Index("ix_meeting_record", "org_id", "record_type", "record_id"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    title: Mapped[str] = mapped_column(String(200))
    minutes: Mapped[str] = mapped_column(Text, default="")
    attendee_ids: Mapped[list[int]] = mapped_column(default=list)
    held_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    created_at: Mapped[datetime]


class ActionItem(Base):
    __tablename__ = "action_item"
    __table_args__ = (
        Index("ix_action_item_owner", "org_id", "owner_id", "status"),
        Index("ix_action_item_due", "status", "due_at"),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    meeting_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("meeting.id", ondelete="CASCADE"),
                                                   nullable=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    title: Mapped[str] = mapped_column(String(500))
    owner_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=ActionItemStatus.OPEN.value)
    source_line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class RecordedMeeting(NamedTuple):
    meeting: Meeting
    action_items: list[ActionItem]
    unparsed_lines: list[str]
    """Minutes lines that look like action items but could not be read in full: an @mention nobody answers
    to, a date that does not exist, no title. What could be read became an action item all the same."""


@dataclass
class ActionItemInput:
    title: str | None
    owner_id: int | None = None
    due_at: datetime | None = None


def _end_of_day(d: date) -> datetime:
    return datetime.combine(d, time(23, 59, 59), tzinfo=UTC)


def action_item_payload(item: ActionItem) -> dict[str, Any]:
    return {"id": item.id, "title": item.title, "ownerId": item.owner_id,
            "dueAt": item.due_at.isoformat() if item.due_at else None, "status": item.status,
            "meetingId": item.meeting_id, "recordType": item.record_type, "recordId": item.record_id,
            "version": item.version}


async def record_meeting(
    session: AsyncSession, actor: Actor, *, record_type: str, record_id: int, title: str | None,
    minutes: str | None, attendee_ids: list[int], action_items: list[ActionItemInput], held_at: datetime | None = None,
) -> RecordedMeeting:
    """A meeting on a record the caller may see; its action items come from the input list and from
    task lines in the minutes. Each owner is told live (outbox event with them in the audience)."""
    v = Validator()
    title = v.text("title", title, max_len=200, required=True)
    minutes = v.text("minutes", minutes, max_len=MAX_MINUTES) or ""
    for uid in attendee_ids:
        await get_user(session, actor.org_id, uid)  # NOT_FOUND for an unknown or foreign user
    drafts: list[tuple[str, int | None, datetime | None, int | None]] = []
    for i, item in enumerate(action_items):
        item_title = v.under("actionItems", str(i)).text("title", item.title, max_len=500, required=True)
        if item.owner_id is not None:
            await get_user(session, actor.org_id, item.owner_id)
        drafts.append((item_title or "", item.owner_id, item.due_at, None))
    now = clock.now()
    directory = await handle_directory(session, actor.org_id)
    parsed = parse_minutes(minutes, directory, today=(held_at or now).date())
    unclear = set(parsed.unclear)
    for p in parsed.items:
        owner = directory.get(handle_key(p.handle)) if p.handle else None
        if p.handle and owner is None:
            unclear.add(p.line)
        drafts.append((p.title[:500], owner, _end_of_day(p.due) if p.due else None, p.line))
    v.raise_if_any()
    meeting = Meeting(org_id=actor.org_id, record_type=record_type, record_id=record_id, title=title,
                      minutes=minutes, attendee_ids=list(dict.fromkeys(attendee_ids)), held_at=held_at or now,
                      created_by_id=actor.user_id, created_at=now)
    session.add(meeting)
    await session.flush()
    items = []
    for item_title, owner_id, due_at, line in drafts:
        item = ActionItem(org_id=actor.org_id, meeting_id=meeting.id, record_type=record_type, record_id=record_id,
                          title=item_title, owner_id=owner_id, due_at=due_at, source_line=line,
                          created_by_id=actor.user_id, created_at=now)
        session.add(item)
        items.append(item)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="meeting.recorded", record_type="Meeting",
                 record_id=meeting.id, operation="create", timeline=(record_type, record_id),
                 audience=[a for a in meeting.attendee_ids if a != actor.user_id],
                 payload={"id": meeting.id, "title": title, "attendeeIds": meeting.attendee_ids,
                          "actionItems": len(items)})
    for item in items:
        record_event(session, actor, org_id=actor.org_id, topic="action_item.assigned", record_type="ActionItem",
                     record_id=item.id, operation="create", timeline=(record_type, record_id),
                     audience=[item.owner_id] if item.owner_id else [], payload=action_item_payload(item))
    lines = minutes.splitlines()
    return RecordedMeeting(meeting, items, [lines[n - 1] for n in sorted(unclear)])


async def update_action_item(
    session: AsyncSession, actor: Actor, item_id: int, *, version: int | None, status: ActionItemStatus | None,
    due_at: datetime | None, owner_id: int | None, set_fields: set[str],
) -> ActionItem:
    item = await load_for_write(session, select(ActionItem).where(ActionItem.id == item_id,
                                                                  ActionItem.org_id == actor.org_id),
                                type_name="ActionItem", record_id=item_id)
    if version is not None:
        check_version(item, version, "The action item")
    before = action_item_payload(item)
    if "owner_id" in set_fields and owner_id is not None:
        await get_user(session, actor.org_id, owner_id)
        item.owner_id = owner_id
    if "due_at" in set_fields:
        item.due_at = due_at
        item.reminded_at = None
    if "status" in set_fields and status is not None:
        item.status = status.value
        item.completed_at = clock.now() if status is ActionItemStatus.DONE else None
    await flush_or_conflict(session, "The action item")
    after = action_item_payload(item)
    changes = {k: [before[k], after[k]] for k in ("ownerId", "dueAt", "status") if before[k] != after[k]}
    if changes:
        record_event(session, actor, org_id=actor.org_id, topic="action_item.updated", record_type="ActionItem",
                     record_id=item.id, operation="update", timeline=(item.record_type, item.record_id),
                     audience=[u for u in {item.owner_id, *(changes.get("ownerId") or [])} if u],
                     payload={**after, "changes": changes})
    return item


async def meetings_on(session: AsyncSession, actor: Actor, record_type: str, record_id: int) -> list[Meeting]:
    return list(await session.scalars(select(Meeting).where(
        Meeting.org_id == actor.org_id, Meeting.record_type == record_type, Meeting.record_id == record_id,
    ).order_by(Meeting.held_at.desc(), Meeting.id.desc())))


async def action_items_of_meetings(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, list[ActionItem]]:
    rows = await session.scalars(select(ActionItem).where(
        ActionItem.org_id == actor.org_id, ActionItem.meeting_id.in_(ids)).order_by(ActionItem.id))
    return group_by(ids, rows, lambda r: r.meeting_id)


async def action_items_of(session: AsyncSession, actor: Actor, owner_id: int,
                          status: ActionItemStatus | None = ActionItemStatus.OPEN) -> list[ActionItem]:
    stmt = select(ActionItem).where(ActionItem.org_id == actor.org_id, ActionItem.owner_id == owner_id)
    if status is not None:
        stmt = stmt.where(ActionItem.status == status.value)
    return list(await session.scalars(stmt.order_by(ActionItem.due_at.is_(None), ActionItem.due_at, ActionItem.id)))


@handles(UserDeactivated)
async def _hand_over_action_items(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    return await hand_over(session, actor, event, ActionItem, "owner_id",
                           ActionItem.status == ActionItemStatus.OPEN.value,
                           record_type="ActionItem", topic="action_item.reassigned",
                           timeline=lambda item: (item.record_type, item.record_id))
