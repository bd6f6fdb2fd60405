"""Follow-up reminders (``scheduleFollowUp``, ``myFollowUps``)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tandem.domain.automation.followup import FollowUp as FollowUpModel
from tandem.domain.automation.followup import FollowUpStatus as _FollowUpStatus
from tandem.domain.shared.clock import clock

from .errors import UserError
from .node import Node, to_global_id
from .pagination import Connection
from .user import User, load_user

FollowUpStatus = strawberry.enum(_FollowUpStatus, name="FollowUpStatus")


@strawberry.type(description="A reminder to follow up on a record, for one assignee; at its due time the "
                             "assignee is notified (`myNotifications`), once.")
class FollowUp(Node):
    due_at: datetime
    note: str
    status: FollowUpStatus
    overdue: bool = strawberry.field(description="Still open and past its due time.")
    created_at: datetime
    completed_at: datetime | None
    version: int
    _record_type: strawberry.Private[str]
    _record_id: strawberry.Private[int]
    _assignee_id: strawberry.Private[int]
    _created_by_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: FollowUpModel, now: datetime | None = None) -> FollowUp:
        now = now or clock.now()
        return cls(id=to_global_id("FollowUp", m.id), due_at=m.due_at, note=m.note, status=_FollowUpStatus(m.status),
                   overdue=m.overdue(now), created_at=m.created_at, completed_at=m.completed_at,
                   version=m.version, _record_type=m.record_type, _record_id=m.record_id, _assignee_id=m.assignee_id,
                   _created_by_id=m.created_by_id)

    @strawberry.field(description="The record to follow up on (null if you may no longer see it).")
    async def record(self, info: strawberry.Info) -> Node | None:
        row = await info.context.loaders.of(self._record_type).load(self._record_id)
        if row is None:
            return None
        return info.schema.get_type_by_name(self._record_type).origin.from_model(row)

    @strawberry.field
    async def assignee(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._assignee_id)

    @strawberry.field
    async def created_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._created_by_id)


@strawberry.input
class ScheduleFollowUpInput:
    record_id: strawberry.ID = strawberry.field(description="Any record with a timeline you may see.")
    due_at: datetime = strawberry.field(description="In the future, with a time zone offset.")
    note: str | None = None
    assignee_id: strawberry.ID | None = strawberry.field(
        default=None, description="An active user who may see the record; default: you.")


@strawberry.input
class CloseFollowUpInput:
    id: strawberry.ID
    version: int | None = strawberry.field(default=None, description="The version you read; CONFLICT if it changed.")


@strawberry.type
class FollowUpPayload:
    follow_up: FollowUp | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


FollowUpConnection = Connection[FollowUp]
