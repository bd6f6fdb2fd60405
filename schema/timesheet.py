"""Time entries and weekly timesheets."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from tandem.domain.delivery.timesheet import EntryStatus as _EntryStatus
from tandem.domain.delivery.timesheet import TimeEntry as EntryModel
from tandem.domain.delivery.timesheet import Timesheet as TimesheetModel
from tandem.domain.shared.money import quantize

from .errors import UserError
from .node import Node, to_global_id
from .scalars import Decimal, rate
from .user import User, load_user

EntryStatus = strawberry.enum(_EntryStatus, name="TimeEntryStatus")


@strawberry.type(description="Hours one person worked on a task on a day.")
class TimeEntry(Node):
    date: date
    hours: Decimal
    note: str | None
    status: EntryStatus
    cost: Decimal | None = strawberry.field(description="hours × the cost rate when logged (finance only).")
    task_id: strawberry.ID
    project_id: strawberry.ID
    created_at: datetime
    _user_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: EntryModel) -> TimeEntry:
        return cls(id=to_global_id("TimeEntry", m.id), date=m.work_date, hours=rate(m.hours), note=m.note,
                   status=_EntryStatus(m.status), cost=quantize(m.cost, m.currency),
                   task_id=to_global_id("Task", m.task_id), project_id=to_global_id("Project", m.project_id),
                   created_at=m.created_at, _user_id=m.user_id)

    @strawberry.field
    async def user(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._user_id)


@strawberry.type(description="One person's week (Monday to Sunday) on one project, submitted for approval.")
class Timesheet(Node):
    week_start: date
    status: EntryStatus
    hours: Decimal
    submitted_at: datetime | None
    decided_at: datetime | None
    comment: str | None
    project_id: strawberry.ID
    _pk: strawberry.Private[int]
    _user_id: strawberry.Private[int]
    _decided_by: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, m: TimesheetModel) -> Timesheet:
        return cls(id=to_global_id("Timesheet", m.id), week_start=m.week_start, status=_EntryStatus(m.status),
                   hours=rate(m.hours), submitted_at=m.submitted_at, decided_at=m.decided_at, comment=m.comment,
                   project_id=to_global_id("Project", m.project_id), _pk=m.id, _user_id=m.user_id,
                   _decided_by=m.decided_by_id)

    @strawberry.field
    async def user(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._user_id)

    @strawberry.field
    async def decided_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._decided_by)

    @strawberry.field
    async def entries(self, info: strawberry.Info) -> list[TimeEntry] | None:
        return [TimeEntry.from_model(e) for e in await info.context.loaders.entries_of_timesheet.load(self._pk)]


@strawberry.input
class LogTimeInput:
    task_id: strawberry.ID
    hours: Decimal
    date: date | None = strawberry.field(default=None, description="Default: today.")
    note: str | None = None
    project_id: strawberry.ID | None = strawberry.field(
        default=None, description="When given, the task must belong to it (TASK_OUTSIDE_PROJECT).")


@strawberry.input
class SubmitTimesheetInput:
    project_id: strawberry.ID
    week_start: date = strawberry.field(description="Any day of the week; the week starts on Monday.")


@strawberry.input
class DecideTimesheetInput:
    timesheet_id: strawberry.ID
    comment: str | None = strawberry.field(default=None, description="Required to reject.")


@strawberry.input
class TimesheetFilter:
    project_id: strawberry.ID | None = None
    user_id: strawberry.ID | None = None
    status: EntryStatus | None = None
    week_start: date | None = None


@strawberry.type
class TimeEntryPayload:
    time_entry: TimeEntry | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TimesheetPayload:
    timesheet: Timesheet | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
