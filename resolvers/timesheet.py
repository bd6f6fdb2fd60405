"""Time logging and weekly timesheets."""

from __future__ import annotations

from datetime import date, timedelta

import strawberry

from tandem.domain.delivery import timesheet as service
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import DomainError
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.node import decode_id
from tandem.schema.pagination import Connection, wants_total
from tandem.schema.timesheet import (
    DecideTimesheetInput,
    LogTimeInput,
    SubmitTimesheetInput,
    TimeEntry,
    TimeEntryPayload,
    Timesheet,
    TimesheetFilter,
    TimesheetPayload,
)

from .mutation import opt_id, run
from .writes import acts, row_rule, writes


def _payload(m: service.Timesheet | None = None, user_errors: list | None = None) -> TimesheetPayload:
    return TimesheetPayload(timesheet=Timesheet.from_model(m) if m else None, user_errors=user_errors or [])


@strawberry.type
class TimesheetQuery:
    @strawberry.field(description="Weekly timesheets: your own, those of projects you manage, or (finance) all.")
    async def timesheets(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                         last: int | None = None, before: str | None = None,
                         filter: TimesheetFilter | None = None) -> Connection[Timesheet]:
        ctx = info.context
        flt = filter or TimesheetFilter()
        domain_filter = service.TimesheetFilter(
            project_id=opt_id("Project", flt.project_id), user_id=opt_id("User", flt.user_id),
            status=flt.status.value if flt.status else None, week_start=flt.week_start)
        req = PageRequest(first=first, after=after, last=last, before=before, descending=True)
        async with ctx.read() as session:
            page = await service.list_timesheets(session, ctx.actor, domain_filter, req, with_total=wants_total(info))
        return Connection.from_page(page, Timesheet.from_model)

    @strawberry.field(description="Your own time entries between two days (default: this week).")
    async def my_time_entries(self, info: strawberry.Info, since: date | None = None,
                              until: date | None = None) -> list[TimeEntry]:
        ctx = info.context
        today = clock.now().date()
        since = since or today - timedelta(days=today.weekday())
        until = until or since + timedelta(days=6)
        if until < since or (until - since).days > 366:
            raise DomainError("`since` to `until` is at most a year, in order.")
        async with ctx.read() as session:
            return [TimeEntry.from_model(e) for e in await service.my_entries(session, ctx.actor, since=since,
                                                                              until=until)]


@strawberry.type
class TimesheetMutation:
    @writes("TimeEntry", "create", fields={"task_id": "TimeEntry.taskId", "project_id": "TimeEntry.projectId"})
    @strawberry.mutation(description="Log your own hours on a task of a project you work on (at most 24 h a day).")
    async def log_time(self, info: strawberry.Info, input: LogTimeInput) -> TimeEntryPayload:
        actor = info.context.actor
        task_id = decode_id("Task", input.task_id)
        project_id = opt_id("Project", input.project_id)
        return await run(info, lambda s: service.log_time(s, actor, task_id=task_id, work_date=input.date,
                                                          hours=input.hours, note=input.note, project_id=project_id),
                         lambda m=None, user_errors=None: TimeEntryPayload(
                             time_entry=TimeEntry.from_model(m) if m else None, user_errors=user_errors or []))

    @acts("TimeEntry", "create")
    @strawberry.mutation(description="Submit your week on a project to its manager; the week is then locked.")
    async def submit_timesheet(self, info: strawberry.Info, input: SubmitTimesheetInput) -> TimesheetPayload:
        actor = info.context.actor
        pk = decode_id("Project", input.project_id)
        return await run(info, lambda s: service.submit_timesheet(s, actor, project_id=pk,
                                                                  week_start=input.week_start), _payload)

    @row_rule("the project's manager, for a week not their own")
    @strawberry.mutation(description="Approve a submitted week (the project's manager; not your own).")
    async def approve_timesheet(self, info: strawberry.Info, input: DecideTimesheetInput) -> TimesheetPayload:
        actor = info.context.actor
        pk = decode_id("Timesheet", input.timesheet_id)
        return await run(info, lambda s: service.decide_timesheet(s, actor, pk, approve=True, comment=input.comment),
                         _payload)

    @row_rule("the project's manager, for a week not their own")
    @strawberry.mutation(description="Send a week back with a comment; its entries can be edited and resubmitted.")
    async def reject_timesheet(self, info: strawberry.Info, input: DecideTimesheetInput) -> TimesheetPayload:
        actor = info.context.actor
        pk = decode_id("Timesheet", input.timesheet_id)
        return await run(info, lambda s: service.decide_timesheet(s, actor, pk, approve=False, comment=input.comment),
                         _payload)
