"""Time: entries per user, task and day, costed at the user's cost rate when logged; a week's entries
on a project are submitted together and approved (or sent back) by the project's manager.

Rules: people log their own time on projects they work on (members); hours are positive, at most
24 in a day per user across all projects; a closed project takes no time; a submitted or approved
week is locked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, MoneyType, pk
from ..shared.bus import dispatch
from ..shared.clock import clock
from ..shared.dialect import lock_for_update
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.money import quantize
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.rows import group_by
from ..shared.scope import Scope
from ..tenancy.user import User
from .errors import DeliveryErrorCode
from .events import TimeLogged
from .project import Project, ProjectMember, ProjectStatus, get_project, load_for_write, project_event, require_open
from .task import Task, TaskStatus

MAX_HOURS_PER_DAY = Decimal(24)


class EntryStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


LOCKED = (EntryStatus.SUBMITTED.value, EntryStatus.APPROVED.value)


class TimeEntry(Base):
    __tablename__ = "time_entry"
    __table_args__ = (Index("ix_time_entry_user_day", "org_id", "user_id", "work_date"),
                      Index("ix_time_entry_project", "project_id", "work_date"))

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("project.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(IdType, ForeignKey("task.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    work_date: Mapped[date] = mapped_column(Date)
    hours: Mapped[Decimal]
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    cost: Mapped[Decimal]
    """hours × the user's cost rate when logged (in the project's currency)."""
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    timesheet_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("timesheet.id", ondelete="SET NULL"),
                                                     nullable=True)
    created_at: Mapped[datetime]


class Timesheet(Base):
    """One user's week (Monday to Sunday) on one project."""

    __tablename__ = "timesheet"
    __table_args__ = (UniqueConstraint("project_id", "user_id", "week_start"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("project.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    week_start: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    hours: Mapped[Decimal]
    cost: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    submitted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    comment: Mapped[str | None] = mapped_column(String(1000), nullable=True)


@dataclass(frozen=True)
class TimesheetFilter:
    project_id: int | None = None
    user_id: int | None = None
    status: str | None = None
    week_start: date | None = None


TIMESHEET_SORTS = {"WEEK": SortKey("WEEK", Timesheet.week_start, date)}


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def _project_of_task(session: AsyncSession, actor: Actor, task_id: int) -> tuple[Task, Project]:
    task = await session.scalar(select(Task).where(Task.org_id == actor.org_id, Task.id == task_id))
    if task is None:
        raise NotFound("Task", task_id)
    project = await load_for_write(session, actor, task.project_id)  # NOT_FOUND when out of reach
    return task, project


async def _is_member(session: AsyncSession, project: Project, user_id: int) -> bool:
    return user_id == project.manager_id or await session.scalar(select(ProjectMember.id).where(
        ProjectMember.project_id == project.id, ProjectMember.user_id == user_id)) is not None


async def log_time(session: AsyncSession, actor: Actor, *, task_id: int, work_date: date | None,
                   hours: Decimal | None, note: str | None, project_id: int | None = None) -> TimeEntry:
    task, project = await _project_of_task(session, actor, task_id)
    if project_id is not None and project_id != project.id:
        await get_project(session, actor, project_id)  # NOT_FOUND for a project out of reach (another org's)
        raise ValidationFailed.one("taskId", DeliveryErrorCode.TASK_OUTSIDE_PROJECT,
                                   f"Task {task.name!r} belongs to project {project.number}.")
    require_open(project)
    if not await _is_member(session, project, actor.user_id):
        raise ValidationFailed.one("taskId", DeliveryErrorCode.NOT_PROJECT_MEMBER,
                                   f"You do not work on project {project.number}.")
    if task.status == TaskStatus.CANCELLED:
        raise ValidationFailed.one("taskId", SharedErrorCode.INVALID_STATE, "The task is cancelled.")
    v = Validator()
    day = work_date or clock.now().date()
    if day > clock.now().date() + timedelta(days=1):
        v.add("date", SharedErrorCode.INVALID_DATE_RANGE, "time cannot be logged ahead")
    note = v.text("note", note, max_len=1000)
    if hours is None or not hours.is_finite() or hours <= 0 or hours > MAX_HOURS_PER_DAY or hours != round(hours, 2):
        v.add("hours", DeliveryErrorCode.INVALID_HOURS, "hours is more than 0 and at most 24, in hundredths")
    v.raise_if_any()
    assert hours is not None
    user = await session.scalar(lock_for_update(session, select(User).where(User.id == actor.user_id)))
    assert user is not None  # the row lock serializes one user's concurrent logging
    logged = await session.scalar(select(type_coerce(func.coalesce(func.sum(TimeEntry.hours), 0), MoneyType()))
                                  .where(TimeEntry.org_id == actor.org_id, TimeEntry.user_id == actor.user_id,
                                         TimeEntry.work_date == day)) or Decimal(0)
    if logged + hours > MAX_HOURS_PER_DAY:
        raise ValidationFailed.one("hours", DeliveryErrorCode.TOO_MANY_HOURS,
                                   f"{logged.normalize()} h are logged on {day} already; a day has 24.")
    week = monday_of(day)
    sheet = await session.scalar(select(Timesheet).where(Timesheet.project_id == project.id,
                                                         Timesheet.user_id == actor.user_id,
                                                         Timesheet.week_start == week))
    if sheet is not None and sheet.status in LOCKED:
        raise ValidationFailed.one("date", DeliveryErrorCode.TIMESHEET_LOCKED,
                                   f"Your week of {week} on this project is {sheet.status}.")
    rate = user.cost_rate or Decimal(0)
    entry = TimeEntry(org_id=actor.org_id, project_id=project.id, task_id=task.id, user_id=actor.user_id,
                      work_date=day, hours=hours, note=note or None,
                      cost=quantize(hours * rate, project.currency), currency=project.currency,
                      status=EntryStatus.DRAFT.value, created_at=clock.now())
    session.add(entry)
    started = task.status == TaskStatus.TODO
    if started:
        task.status = TaskStatus.IN_PROGRESS.value
        task.actual_start = task.actual_start or day
    if project.status == ProjectStatus.PLANNING:  # work has started
        project.status = ProjectStatus.ACTIVE.value
    await session.flush()
    await dispatch(session, actor, TimeLogged(project.org_id, project.id, task.id, started, entry.id))
    return entry


async def _entries(session: AsyncSession, project_id: int, user_id: int, week: date) -> list[TimeEntry]:
    return list(await session.scalars(select(TimeEntry).where(
        TimeEntry.project_id == project_id, TimeEntry.user_id == user_id, TimeEntry.work_date >= week,
        TimeEntry.work_date < week + timedelta(days=7)).order_by(TimeEntry.work_date, TimeEntry.id)))


async def submit_timesheet(session: AsyncSession, actor: Actor, *, project_id: int, week_start: date) -> Timesheet:
    project = await load_for_write(session, actor, project_id)
    week = monday_of(week_start)
    # the user-row lock log_time takes: an entry logged meanwhile is either in this week's sheet or refused
    await session.scalar(lock_for_update(session, select(User.id).where(User.id == actor.user_id)))
    entries = [e for e in await _entries(session, project.id, actor.user_id, week)]
    sheet = await session.scalar(lock_for_update(session, select(Timesheet).where(
        Timesheet.project_id == project.id, Timesheet.user_id == actor.user_id, Timesheet.week_start == week)))
    if sheet is not None and sheet.status in LOCKED:
        raise ValidationFailed.one("weekStart", DeliveryErrorCode.TIMESHEET_LOCKED, f"This week is {sheet.status}.")
    if not entries:
        raise ValidationFailed.one("weekStart", DeliveryErrorCode.NOTHING_TO_SUBMIT,
                                   f"No time is logged on {project.number} in the week of {week}.")
    now = clock.now()
    if sheet is None:
        sheet = Timesheet(org_id=actor.org_id, project_id=project.id, user_id=actor.user_id, week_start=week,
                          status=EntryStatus.SUBMITTED.value, hours=Decimal(0), cost=Decimal(0),
                          currency=project.currency)
        session.add(sheet)
        await session.flush()
    sheet.status, sheet.submitted_at = EntryStatus.SUBMITTED.value, now
    sheet.decided_by_id = sheet.decided_at = sheet.comment = None
    sheet.hours = sum((e.hours for e in entries), Decimal(0))
    sheet.cost = sum((e.cost for e in entries), Decimal(0))
    for e in entries:
        e.status, e.timesheet_id = EntryStatus.SUBMITTED.value, sheet.id
    await session.flush()
    project_event(session, actor, project, "timesheet.submitted", record=("Timesheet", sheet.id),
                  audience=[project.manager_id], weekStart=week.isoformat(), hours=str(sheet.hours),
                  userId=actor.user_id)
    return sheet


async def decide_timesheet(session: AsyncSession, actor: Actor, timesheet_id: int, *, approve: bool,
                           comment: str | None) -> Timesheet:
    sheet = await session.scalar(lock_for_update(session, select(Timesheet).where(
        Timesheet.org_id == actor.org_id, Timesheet.id == timesheet_id)))
    if sheet is None:
        raise NotFound("Timesheet", timesheet_id)
    project = await load_for_write(session, actor, sheet.project_id)
    if actor.user_id != project.manager_id and not actor.has_role("admin"):
        raise ValidationFailed.one("timesheetId", DeliveryErrorCode.NOT_PROJECT_MANAGER,
                                   "Only the project's manager approves its timesheets.")
    if sheet.user_id == actor.user_id:
        raise ValidationFailed.one("timesheetId", SharedErrorCode.SELF_APPROVAL, "You cannot approve your own time.")
    if sheet.status != EntryStatus.SUBMITTED:
        raise ValidationFailed.one("timesheetId", SharedErrorCode.INVALID_STATE, f"The timesheet is {sheet.status}.")
    v = Validator()
    comment = v.text("comment", comment, max_len=1000)
    v.raise_if_any()
    if not approve and not comment:
        raise ValidationFailed.one("comment", SharedErrorCode.REASON_REQUIRED, "Say why the week is sent back.")
    status = EntryStatus.APPROVED if approve else EntryStatus.REJECTED
    sheet.status, sheet.decided_by_id, sheet.decided_at, sheet.comment = (status.value, actor.user_id, clock.now(),
                                                                          comment or None)
    for e in await _entries(session, sheet.project_id, sheet.user_id, sheet.week_start):
        if e.timesheet_id == sheet.id:
            e.status = (EntryStatus.APPROVED if approve else EntryStatus.DRAFT).value
    await session.flush()
    project_event(session, actor, project, "timesheet.approved" if approve else "timesheet.rejected",
                  record=("Timesheet", sheet.id),
                  audience=[sheet.user_id], weekStart=sheet.week_start.isoformat(), hours=str(sheet.hours),
                  userId=sheet.user_id, comment=comment or None)
    return sheet


def visible_timesheets(actor: Actor) -> Any:
    """Your own weeks, those of the projects you manage, or (finance, admin) all of them."""
    stmt = select(Timesheet).where(Timesheet.org_id == actor.org_id)
    if actor.scope("TimeEntry") is Scope.ORG:
        return stmt
    managed = select(Project.id).where(Project.org_id == actor.org_id, Project.manager_id == actor.user_id)
    return stmt.where(or_(Timesheet.user_id == actor.user_id, Timesheet.project_id.in_(managed)))


def visible_entries(actor: Actor) -> Any:
    stmt = select(TimeEntry).where(TimeEntry.org_id == actor.org_id)
    if actor.scope("TimeEntry") is Scope.ORG:
        return stmt
    managed = select(Project.id).where(Project.org_id == actor.org_id, Project.manager_id == actor.user_id)
    return stmt.where(or_(TimeEntry.user_id == actor.user_id, TimeEntry.project_id.in_(managed)))


async def list_timesheets(session: AsyncSession, actor: Actor, flt: TimesheetFilter, req: PageRequest, *,
                          with_total: bool = False) -> Page[Timesheet]:
    stmt = visible_timesheets(actor)
    if flt.project_id is not None:
        stmt = stmt.where(Timesheet.project_id == flt.project_id)
    if flt.user_id is not None:
        stmt = stmt.where(Timesheet.user_id == flt.user_id)
    if flt.status:
        stmt = stmt.where(Timesheet.status == flt.status)
    if flt.week_start is not None:
        stmt = stmt.where(Timesheet.week_start == monday_of(flt.week_start))
    return await paginate(session, stmt, entity=Timesheet, sort=TIMESHEET_SORTS["WEEK"], req=req,
                          with_total=with_total)


async def entries_of_timesheets(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, list[TimeEntry]]:
    rows = await session.scalars(visible_entries(actor).where(TimeEntry.timesheet_id.in_(ids))
                                 .order_by(TimeEntry.work_date, TimeEntry.id))
    return group_by(ids, rows, lambda r: r.timesheet_id)


async def my_entries(session: AsyncSession, actor: Actor, *, since: date, until: date) -> list[TimeEntry]:
    return list(await session.scalars(select(TimeEntry).where(
        TimeEntry.org_id == actor.org_id, TimeEntry.user_id == actor.user_id, TimeEntry.work_date >= since,
        TimeEntry.work_date <= until).order_by(TimeEntry.work_date, TimeEntry.id)))


async def labor_cost(session: AsyncSession, project_ids: list[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """(hours, cost) logged per project."""
    if not project_ids:
        return {}
    rows = await session.execute(select(
        TimeEntry.project_id, type_coerce(func.coalesce(func.sum(TimeEntry.hours), 0), MoneyType()),
        type_coerce(func.coalesce(func.sum(TimeEntry.cost), 0), MoneyType()))
        .where(TimeEntry.project_id.in_(project_ids)).group_by(TimeEntry.project_id))
    return {pid: (hours, cost) for pid, hours, cost in rows}

