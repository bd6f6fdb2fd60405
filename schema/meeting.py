"""Meetings and action items (SLA policies: schema/sla.py)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tandem.domain.collaboration.meeting import ActionItem as ActionItemModel
from tandem.domain.collaboration.meeting import ActionItemStatus as _ActionItemStatus
from tandem.domain.collaboration.meeting import Meeting as MeetingModel

from .errors import UserError
from .node import Node, to_global_id
from .sla import SLA_STATUS, SlaStatus, load_sla_status
from .user import User, load_user

ActionItemStatus = strawberry.enum(_ActionItemStatus, name="ActionItemStatus")


@strawberry.type
class ActionItem(Node):
    title: str
    status: ActionItemStatus
    due_at: datetime | None
    record_id: strawberry.ID
    created_at: datetime
    completed_at: datetime | None
    version: int
    source_line: int | None = strawberry.field(description="The minutes line it was taken from, if any.")
    _owner_id: strawberry.Private[int | None]

    @strawberry.field(description=SLA_STATUS)
    async def sla_status(self, info: strawberry.Info) -> SlaStatus | None:
        return await load_sla_status(info, self.id)

    @classmethod
    def from_model(cls, m: ActionItemModel) -> ActionItem:
        return cls(id=to_global_id("ActionItem", m.id), title=m.title, status=_ActionItemStatus(m.status),
                   due_at=m.due_at, record_id=to_global_id(m.record_type, m.record_id), created_at=m.created_at,
                   completed_at=m.completed_at, version=m.version, source_line=m.source_line, _owner_id=m.owner_id)

    @strawberry.field
    async def owner(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._owner_id)


@strawberry.type
class Meeting(Node):
    title: str
    minutes: str
    held_at: datetime
    record_id: strawberry.ID
    _pk: strawberry.Private[int]
    _attendees: strawberry.Private[list[int]]
    _items: strawberry.Private[list[ActionItemModel]]

    @classmethod
    def from_model(cls, m: MeetingModel, items: list[ActionItemModel]) -> Meeting:
        return cls(id=to_global_id("Meeting", m.id), title=m.title, minutes=m.minutes, held_at=m.held_at,
                   record_id=to_global_id(m.record_type, m.record_id), _pk=m.id, _attendees=list(m.attendee_ids),
                   _items=items)

    @strawberry.field
    async def attendees(self, info: strawberry.Info) -> list[User]:
        users = [await load_user(info, u) for u in self._attendees]
        return [u for u in users if u is not None]

    @strawberry.field
    def action_items(self) -> list[ActionItem]:
        return [ActionItem.from_model(i) for i in self._items]


@strawberry.input
class ActionItemInput:
    title: str
    owner_id: strawberry.ID | None = None
    due_at: datetime | None = None


@strawberry.input
class RecordMeetingInput:
    record_id: strawberry.ID
    title: str
    minutes: str | None = strawberry.field(
        default=None, description="Markdown. Lines like `- [ ] @alice 准备报价 due 2026-12-01`, "
                                  "`TODO: @bob send proposal by 2026-12-03` or "
                                  "`待办：@张伟整理会议纪要 截止 2026-12-11` become action items.")
    attendee_ids: list[strawberry.ID] | None = None
    action_items: list[ActionItemInput] | None = None
    held_at: datetime | None = None


@strawberry.input
class UpdateActionItemInput:
    id: strawberry.ID
    version: int | None = None
    status: ActionItemStatus | None = strawberry.UNSET
    due_at: datetime | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET


@strawberry.type
class MeetingPayload:
    meeting: Meeting | None = None
    unparsed_lines: list[str] = strawberry.field(
        default_factory=list, description="Minutes lines that look like action items but could not be read in "
        "full (an @mention nobody answers to, a date that does not exist, no title), as written. What could be "
        "read became an action item all the same.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ActionItemPayload:
    action_item: ActionItem | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
