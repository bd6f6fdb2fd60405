"""Tasks: a work breakdown tree with dependencies (finish-to-start and start-to-start, with lag),
scheduled by critical path over the project's working days after every change: each change here
raises ``PlanChanged`` and progress.py reschedules (schedule.py does the arithmetic; the tasks keep
the results: early/late dates, slack, critical flag, baseline and forecast). Dependencies join leaf
tasks of one project; a cycle is refused with the tasks around it. A task whose forecast finish
passes its due date raises a live warning to the project manager; a finished milestone raises
``MilestoneReached`` for billing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.bus import dispatch, handles
from ..shared.clock import clock
from ..shared.concurrency import check_version
from ..shared.concurrency import load_for_write as lock_row
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.payload import camel, plain
from ..shared.rows import group_by
from ..tenancy.handover import UserDeactivated, hand_over
from ..tenancy.user import get_user
from .errors import DeliveryErrorCode
from .events import MilestoneReached, PlanChanged, ProjectCreated
from .project import (
    Project,
    ProjectStatus,
    ProjectTemplate,
    add_member,
    calendar_of,
    load_for_write,
    project_event,
    require_manager,
    require_open,
    visible_projects,
)
from .schedule import FS, SS, find_cycle

MAX_DURATION = 3650
MAX_LAG = 365
HUNDRED = Decimal(100)


class TaskStatus(StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class DependencyKind(StrEnum):
    FINISH_TO_START = FS
    START_TO_START = SS


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (Index("ix_task_project", "project_id", "parent_id", "position"),
                      Index("ix_task_assignee", "org_id", "assignee_id", "status"))

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("project.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("task.id", ondelete="CASCADE"), nullable=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    percent_complete: Mapped[int] = mapped_column(Integer, default=0)
    estimate_hours: Mapped[Decimal]
    duration_days: Mapped[int] = mapped_column(Integer)
    start_no_earlier: Mapped[date | None] = mapped_column(Date, nullable=True)
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    actual_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    actual_finish: Mapped[date | None] = mapped_column(Date, nullable=True)
    early_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    early_finish: Mapped[date | None] = mapped_column(Date, nullable=True)
    late_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    late_finish: Mapped[date | None] = mapped_column(Date, nullable=True)
    slack_days: Mapped[int] = mapped_column(Integer, default=0)
    critical: Mapped[bool] = mapped_column(default=False)
    baseline_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    baseline_finish: Mapped[date | None] = mapped_column(Date, nullable=True)
    forecast_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    forecast_finish: Mapped[date | None] = mapped_column(Date, nullable=True)
    is_summary: Mapped[bool] = mapped_column(default=False)
    at_risk: Mapped[bool] = mapped_column(default=False)
    """Its forecast finish passes its due date (warned once per slip)."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def is_milestone(self) -> bool:
        return self.duration_days == 0 and not self.is_summary

    @property
    def due(self) -> date | None:
        """What the task is measured against: its due date, else its baseline finish."""
        return self.due_date or self.baseline_finish


class TaskDependency(Base):
    __tablename__ = "task_dependency"
    __table_args__ = (UniqueConstraint("predecessor_id", "successor_id"),
                      Index("ix_task_dependency_project", "project_id"))

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("project.id", ondelete="CASCADE"))
    predecessor_id: Mapped[int] = mapped_column(IdType, ForeignKey("task.id", ondelete="CASCADE"))
    successor_id: Mapped[int] = mapped_column(IdType, ForeignKey("task.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(2))
    lag_days: Mapped[int] = mapped_column(Integer, default=0)


@dataclass
class TaskInput:
    project_id: int | None = None
    parent_id: int | None = None
    name: str | None = None
    description: str | None = None
    assignee_id: int | None = None
    status: TaskStatus | None = None
    percent_complete: int | None = None
    estimate_hours: Decimal | None = None
    duration_days: int | None = None
    start_no_earlier: date | None = None
    due_date: date | None = None
    set_fields: set[str] = field(default_factory=set)


def task_payload(t: Task) -> dict[str, Any]:
    return {"id": t.id, "projectId": t.project_id, "name": t.name, "status": t.status,
            "percentComplete": t.percent_complete, "assigneeId": t.assignee_id,
            "dueDate": t.due.isoformat() if t.due else None,
            "forecastFinish": t.forecast_finish.isoformat() if t.forecast_finish else None, "version": t.version}


def _check(v: Validator, data: TaskInput, named: set[str] | None = None) -> None:
    def given(key: str) -> bool:
        return named is None or key in named

    if given("duration_days") and data.duration_days is not None and not 0 <= data.duration_days <= MAX_DURATION:
        v.add("durationDays", SharedErrorCode.INVALID, f"durationDays is 0 (a milestone) to {MAX_DURATION}")
    if given("percent_complete") and data.percent_complete is not None and not 0 <= data.percent_complete <= 100:
        v.add("percentComplete", SharedErrorCode.INVALID, "percentComplete is 0 to 100")
    if given("estimate_hours") and data.estimate_hours is not None and (
            not data.estimate_hours.is_finite() or not 0 <= data.estimate_hours <= 100_000
            or data.estimate_hours != round(data.estimate_hours, 2)):
        v.add("estimateHours", SharedErrorCode.INVALID, "estimateHours is 0 to 100000, in hundredths")


async def _task_in(session: AsyncSession, actor: Actor, project: Project, task_id: int, field_name: str) -> Task:
    """The task, which must belong to ``project``; NOT_FOUND when its own project is out of the actor's reach."""
    task = await session.scalar(select(Task).where(
        Task.org_id == project.org_id, Task.id == task_id,
        Task.project_id.in_(visible_projects(actor).with_only_columns(Project.id))))
    if task is None:
        raise NotFound("Task", task_id)
    if task.project_id != project.id:
        raise ValidationFailed.one(field_name, DeliveryErrorCode.TASK_OUTSIDE_PROJECT,
                                   f"Task {task.name!r} belongs to another project.")
    return task


async def _check_assignee(session: AsyncSession, project: Project, assignee_id: int | None) -> None:
    if assignee_id is not None:
        await get_user(session, project.org_id, assignee_id)
        await add_member(session, project, assignee_id)


async def create_task(session: AsyncSession, actor: Actor, data: TaskInput) -> Task:
    if data.project_id is None:
        raise ValidationFailed.one("projectId", SharedErrorCode.REQUIRED, "projectId is required")
    project = await load_for_write(session, actor, data.project_id)
    require_manager(actor, project, "plan its tasks")
    require_open(project)
    v = Validator()
    name = v.text("name", data.name, max_len=200, required=True)
    description = v.text("description", data.description, max_len=20_000)
    _check(v, data)
    parent = None
    if data.parent_id is not None:
        parent = await _task_in(session, actor, project, data.parent_id, "parentId")
        if await session.scalar(select(TaskDependency.id).where(
                (TaskDependency.predecessor_id == parent.id) | (TaskDependency.successor_id == parent.id)).limit(1)):
            raise ValidationFailed.one("parentId", DeliveryErrorCode.SUMMARY_TASK,
                                       f"Task {parent.name!r} has dependencies; a summary task cannot.")
    duration = data.duration_days
    if duration is None and data.due_date is not None:
        start = data.start_no_earlier or project.start_date
        if data.due_date < start:
            v.add("dueDate", SharedErrorCode.INVALID_DATE_RANGE, "dueDate is before the task can start")
        duration = max(1, calendar_of(project).working_days_between(start, data.due_date))
    v.raise_if_any()
    await _check_assignee(session, project, data.assignee_id)
    position = (await session.scalar(select(func.max(Task.position)).where(
        Task.project_id == project.id, Task.parent_id.is_(None) if parent is None else Task.parent_id == parent.id))
        or 0) + 1
    now = clock.now()
    task = Task(org_id=actor.org_id, project_id=project.id, parent_id=parent.id if parent else None, position=position,
                name=name, description=description or None, assignee_id=data.assignee_id,
                status=(data.status or TaskStatus.TODO).value, percent_complete=data.percent_complete or 0,
                estimate_hours=data.estimate_hours or Decimal(0),
                duration_days=1 if duration is None else duration, start_no_earlier=data.start_no_earlier,
                due_date=data.due_date, created_at=now, updated_at=now)
    session.add(task)
    if parent is not None and not parent.is_summary:
        parent.is_summary = True
    await session.flush()
    project_event(session, actor, project, "task.created", operation="create", record=("Task", task.id),
                  audience=[task.assignee_id] if task.assignee_id and task.assignee_id != actor.user_id else None,
                  task=task_payload(task))
    await dispatch(session, None, PlanChanged(project.org_id, project.id, baseline_for=frozenset({task.id})))
    return task


async def _load_task(session: AsyncSession, actor: Actor, task_id: int) -> tuple[Task, Project]:
    task = await lock_row(session, select(Task).where(
        Task.org_id == actor.org_id, Task.id == task_id, Task.project_id.in_(
            visible_projects(actor).with_only_columns(Project.id))), type_name="Task", record_id=task_id)
    project = await load_for_write(session, actor, task.project_id)
    return task, project


async def update_task(session: AsyncSession, actor: Actor, task_id: int, version: int, data: TaskInput) -> Task:
    """The manager edits anything; the assignee reports progress (status, percent complete)."""
    task, project = await _load_task(session, actor, task_id)
    check_version(task, version, "Task")
    named = data.set_fields
    progress_only = named <= {"status", "percent_complete"}
    if not (progress_only and actor.user_id == task.assignee_id):
        require_manager(actor, project, "change this task" if not progress_only else "report on a task not yours")
    require_open(project)
    v = Validator()
    _check(v, data, named)
    changes: dict[str, Any] = {}
    if "name" in named:
        changes["name"] = v.text("name", data.name, max_len=200, required=True)
    if "description" in named:
        changes["description"] = v.text("description", data.description, max_len=20_000) or None
    for key in ("duration_days", "estimate_hours", "percent_complete"):
        if key in named and getattr(data, key) is not None:
            changes[key] = getattr(data, key)
    for key in ("start_no_earlier", "due_date", "assignee_id"):
        if key in named:
            changes[key] = getattr(data, key)
    if task.is_summary and {"duration_days", "start_no_earlier"} & set(changes):
        v.add("durationDays", DeliveryErrorCode.SUMMARY_TASK, "a summary task's dates come from its children")
    today = clock.now().date()
    status = data.status if "status" in named and data.status is not None else None
    if status is not None:
        changes["status"] = status.value
        if status is TaskStatus.DONE:
            changes["percent_complete"] = 100
    elif changes.get("percent_complete") == 100:
        changes["status"] = TaskStatus.DONE.value
    elif changes.get("percent_complete") and task.status == TaskStatus.TODO:
        changes["status"] = TaskStatus.IN_PROGRESS.value
    v.raise_if_any()
    if "assignee_id" in changes:
        await _check_assignee(session, project, changes["assignee_id"])
    changed = {k: val for k, val in changes.items() if getattr(task, k) != val}
    if not changed:
        return task
    before = {k: getattr(task, k) for k in changed}
    for key, value in changed.items():
        setattr(task, key, value)
    if task.status in (TaskStatus.IN_PROGRESS, TaskStatus.DONE) and task.actual_start is None:
        task.actual_start = min(today, task.forecast_start or today)
    if task.status == TaskStatus.DONE:
        task.actual_finish = task.actual_finish or today
    else:
        task.actual_finish = None
    if task.status == TaskStatus.TODO and task.percent_complete == 0:
        task.actual_start = None
    task.version += 1
    task.updated_at = clock.now()
    if project.status == ProjectStatus.PLANNING and task.status != TaskStatus.TODO:
        project.status = ProjectStatus.ACTIVE.value
    await session.flush()
    audience = [task.assignee_id] if "assignee_id" in changed and task.assignee_id else None
    project_event(session, actor, project, "task.updated", record=("Task", task.id), audience=audience,
                  task=task_payload(task), changes={camel(k): [plain(before[k]), plain(v2)]
                                                    for k, v2 in changed.items()})
    if task.is_milestone and changed.get("status") == TaskStatus.DONE.value:
        # Delivery meets cash: finishing a milestone (say 上线, go-live) is billing's cue
        await dispatch(session, actor, MilestoneReached(
            project.org_id, project.id, project.contract_id, project.opportunity_id, task.name,
            task.actual_finish or clock.now().date()))
    await dispatch(session, actor, PlanChanged(project.org_id, project.id))
    return task


async def _links(session: AsyncSession, project_id: int) -> list[TaskDependency]:
    return list(await session.scalars(select(TaskDependency).where(TaskDependency.project_id == project_id)
                                      .order_by(TaskDependency.id)))


async def add_dependency(session: AsyncSession, actor: Actor, *, predecessor_id: int, successor_id: int,
                         kind: DependencyKind = DependencyKind.FINISH_TO_START, lag_days: int = 0) -> TaskDependency:
    predecessor, project = await _load_task(session, actor, predecessor_id)
    require_manager(actor, project, "plan its tasks")
    require_open(project)
    successor = await _task_in(session, actor, project, successor_id, "successorId")
    if predecessor.id == successor.id:
        raise ValidationFailed.one("successorId", DeliveryErrorCode.DEPENDENCY_CYCLE, "A task cannot depend on itself.")
    for task, name in ((predecessor, "predecessorId"), (successor, "successorId")):
        if task.is_summary:
            raise ValidationFailed.one(name, DeliveryErrorCode.SUMMARY_TASK,
                                       f"{task.name!r} is a summary task; link its subtasks instead.")
    if not -MAX_LAG <= lag_days <= MAX_LAG:
        raise ValidationFailed.one("lagDays", SharedErrorCode.INVALID, f"lagDays is -{MAX_LAG} to {MAX_LAG}")
    links = await _links(session, project.id)
    if any(x.predecessor_id == predecessor.id and x.successor_id == successor.id for x in links):
        raise ValidationFailed.one("successorId", SharedErrorCode.DUPLICATE, "These tasks are linked already.")
    edges: dict[int, list[int]] = {}
    for x in links:
        edges.setdefault(x.predecessor_id, []).append(x.successor_id)
    path = find_cycle(edges, successor.id, predecessor.id)
    if path is not None:
        names = {t.id: t.name for t in await session.scalars(select(Task).where(Task.id.in_(path)))}
        raise ValidationFailed.one("successorId", DeliveryErrorCode.DEPENDENCY_CYCLE,
                                   "That would close a cycle: " + " → ".join(names[i] for i in path)
                                   + f" → {successor.name}")
    link = TaskDependency(org_id=actor.org_id, project_id=project.id, predecessor_id=predecessor.id,
                          successor_id=successor.id, kind=kind.value, lag_days=lag_days)
    session.add(link)
    await session.flush()
    project_event(session, actor, project, "task.dependency_added", record=("Task", successor.id),
                  dependency={"predecessor": predecessor.name, "successor": successor.name, "kind": kind.value,
                              "lagDays": lag_days})
    await dispatch(session, actor, PlanChanged(project.org_id, project.id))
    return link


async def remove_dependency(session: AsyncSession, actor: Actor, *, predecessor_id: int, successor_id: int) -> Task:
    predecessor, project = await _load_task(session, actor, predecessor_id)
    require_manager(actor, project, "plan its tasks")
    require_open(project)
    successor = await _task_in(session, actor, project, successor_id, "successorId")
    link = await session.scalar(select(TaskDependency).where(TaskDependency.predecessor_id == predecessor.id,
                                                             TaskDependency.successor_id == successor.id))
    if link is None:
        raise ValidationFailed.one("successorId", SharedErrorCode.INVALID, "These tasks are not linked.")
    await session.delete(link)
    await session.flush()
    project_event(session, actor, project, "task.dependency_removed", record=("Task", successor.id),
                  dependency={"predecessor": predecessor.name, "successor": successor.name})
    await dispatch(session, actor, PlanChanged(project.org_id, project.id))
    return successor


async def instantiate_template(session: AsyncSession, actor: Actor | None, project: Project,
                               template: ProjectTemplate) -> list[Task]:
    now = clock.now()
    by_key: dict[str, Task] = {}
    parents = {t["parent"] for t in template.tasks if t.get("parent")}
    for i, spec in enumerate(template.tasks):
        task = Task(org_id=project.org_id, project_id=project.id, position=i + 1, name=spec["name"],
                    status=TaskStatus.TODO.value, percent_complete=0, estimate_hours=Decimal(spec["estimateHours"]),
                    duration_days=int(spec["durationDays"]), is_summary=spec["key"] in parents, created_at=now,
                    updated_at=now)
        session.add(task)
        by_key[spec["key"]] = task
    await session.flush()
    for spec in template.tasks:
        task = by_key[spec["key"]]
        if spec.get("parent"):
            task.parent_id = by_key[spec["parent"]].id
        for dep in spec.get("dependsOn") or ():
            session.add(TaskDependency(org_id=project.org_id, project_id=project.id, predecessor_id=by_key[dep].id,
                                       successor_id=task.id, kind=FS, lag_days=0))
    await session.flush()
    return list(by_key.values())


@handles(ProjectCreated)
async def _plan_new_project(session: AsyncSession, actor: Actor | None, event: ProjectCreated) -> None:
    """A new project gets its template's tasks, if it has a template, and its first schedule as the
    baseline."""
    project = await session.get(Project, event.project_id)
    assert project is not None
    if event.template_id is not None:
        template = await session.get(ProjectTemplate, event.template_id)
        assert template is not None
        await instantiate_template(session, actor, project, template)
    await session.flush()
    await dispatch(session, None, PlanChanged(project.org_id, project.id, baseline=True))


async def tasks_of(session: AsyncSession, actor: Actor, project_ids: list[int]) -> dict[int, list[Task]]:
    rows = await session.scalars(select(Task).where(Task.org_id == actor.org_id, Task.project_id.in_(project_ids))
                                 .order_by(Task.project_id, Task.parent_id.is_not(None), Task.position, Task.id))
    return group_by(project_ids, rows, lambda r: r.project_id)


async def dependencies_of(session: AsyncSession, actor: Actor, project_ids: list[int]
                          ) -> dict[int, list[TaskDependency]]:
    rows = await session.scalars(select(TaskDependency).where(
        TaskDependency.org_id == actor.org_id, TaskDependency.project_id.in_(project_ids)).order_by(TaskDependency.id))
    return group_by(project_ids, rows, lambda r: r.project_id)


async def get_task(session: AsyncSession, actor: Actor, task_id: int) -> Task:
    task = await session.scalar(select(Task).where(Task.org_id == actor.org_id, Task.id == task_id,
                                                   Task.project_id.in_(visible_projects(actor)
                                                                       .with_only_columns(Project.id))))
    if task is None:
        raise NotFound("Task", task_id)
    return task


def wbs_codes(tasks: list[Task]) -> dict[int, str]:
    """Outline numbers ("1", "1.2", "1.2.3") from the tree and each level's positions."""
    children: dict[int | None, list[Task]] = {}
    for t in tasks:
        children.setdefault(t.parent_id, []).append(t)
    out: dict[int, str] = {}

    def walk(parent: int | None, prefix: str) -> None:
        for n, t in enumerate(sorted(children.get(parent, []), key=lambda x: (x.position, x.id)), start=1):
            out[t.id] = f"{prefix}{n}"
            walk(t.id, f"{prefix}{n}.")

    walk(None, "")
    return out


@handles(UserDeactivated)
async def _hand_over_tasks(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    """Open tasks of the leaving user go to the successor, as if reassigned by hand (``task.updated``)."""
    async def announce(task: Task) -> None:
        project = await session.get(Project, task.project_id)
        assert project is not None
        await add_member(session, project, task.assignee_id)
        task.version += 1
        task.updated_at = clock.now()
        project_event(session, actor, project, "task.updated", record=("Task", task.id), audience=[task.assignee_id],
                      task=task_payload(task), changes={"assignee": [event.user_id, task.assignee_id]})

    return await hand_over(session, actor, event, Task, "assignee_id",
                           Task.status.in_((TaskStatus.TODO.value, TaskStatus.IN_PROGRESS.value)),
                           record_type="Task", announce=announce)
