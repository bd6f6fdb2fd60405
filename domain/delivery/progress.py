"""Progress reports, the schedule and its delay-risk warnings.

``reschedule`` runs the critical path again and keeps each task's dates; it answers ``PlanChanged``
(tasks, links, dates or the calendar changed), ``TimeLogged`` (a task started) and, with
``check_risks`` alone, ``ExpenseAdded`` — the modules below (projects, tasks, time, budget) raise
those events instead of importing this one.

A progress report (status text + RAG health) lands on the project's timeline and on the
originating opportunity's, so sales sees delivery. Risks are checked after every change that can
move the schedule or the cost, and by the scheduler as days pass: a task whose forecast finish
passes its due date, a project whose forecast passes its deadline or whose SPI falls below its
threshold, a forecast cost over the budget's margin — each warns the project manager live, once
per slip. Overdue tasks nobody finishes escalate up the assignee's chain (collaboration/sla.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import ForeignKey, String, Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from ..collaboration.sla import Escalation, Overdue, SlaKind, escalate
from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.bus import handles
from ..shared.clock import clock
from ..shared.errors import SharedErrorCode, Validator
from ..shared.rows import group_by
from .budget import cost_figures
from .events import ExpenseAdded, PlanChanged, TimeLogged
from .project import (
    Health,
    Project,
    ProjectStatus,
    calendar_of,
    load_for_write,
    project_event,
    require_manager,
    require_open,
)
from .schedule import CycleError, Link, Node, schedule
from .task import Task, TaskDependency, TaskStatus, task_payload


class ProgressReport(Base):
    __tablename__ = "progress_report"

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("project.id", ondelete="CASCADE"), index=True)
    health: Mapped[str] = mapped_column(String(10))
    status_text: Mapped[str] = mapped_column(Text)
    percent_complete: Mapped[Decimal]
    reported_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    reported_at: Mapped[datetime]


async def report_progress(session: AsyncSession, actor: Actor, *, project_id: int, status_text: str | None,
                          health: Health | None) -> ProgressReport:
    """The project's manager reports where delivery stands."""
    project = await load_for_write(session, actor, project_id)
    require_manager(actor, project, "report its progress")
    require_open(project)
    v = Validator()
    text = v.text("status", status_text, max_len=10_000, required=True)
    if health is None:
        v.add("health", SharedErrorCode.REQUIRED, "health is GREEN, AMBER or RED")
    v.raise_if_any()
    assert health is not None
    report = ProgressReport(org_id=actor.org_id, project_id=project.id, health=health.value, status_text=text,
                            percent_complete=project.percent_complete, reported_by_id=actor.user_id,
                            reported_at=clock.now())
    session.add(report)
    project.health = health.value
    if project.status == ProjectStatus.PLANNING:
        project.status = ProjectStatus.ACTIVE.value
    await session.flush()
    project_event(session, actor, project, "project.progress_reported", status=text, reportId=report.id,
                  audience=[project.sales_owner_id] if project.sales_owner_id != actor.user_id else None)
    return report


async def check_risks(session: AsyncSession, project: Project, *, actor: Actor | None = None,
                      tasks: list[Task] | None = None) -> None:
    """Warn (once per slip) about tasks forecast past their due date and a project at risk. ``tasks``:
    the project's tasks, when the caller has just loaded (and rescheduled) them."""
    if project.is_closed:
        return
    if tasks is None:
        tasks = list(await session.scalars(select(Task).where(Task.project_id == project.id)))
    newly_late, recovered = [], []
    for t in tasks:
        if t.is_summary or t.status in (TaskStatus.DONE, TaskStatus.CANCELLED):
            late = False
        else:
            late = bool(t.due and t.forecast_finish and t.forecast_finish > t.due)
        if late and not t.at_risk:
            newly_late.append(t)
        elif t.at_risk and not late:
            recovered.append(t)
    if newly_late or recovered:  # background flags: no version bump, nobody's edit conflicts
        await session.execute(update(Task).where(Task.id.in_([t.id for t in newly_late])).values(at_risk=True))
        await session.execute(update(Task).where(Task.id.in_([t.id for t in recovered])).values(at_risk=False))
        for t in newly_late:
            set_committed_value(t, "at_risk", True)
        for t in recovered:
            set_committed_value(t, "at_risk", False)
    for t in newly_late:
        days = (t.forecast_finish - t.due).days  # type: ignore[operator]
        project_event(session, actor, project, "task.delay_risk", record=("Task", t.id),
                      audience=sorted({project.manager_id, *([t.assignee_id] if t.assignee_id else [])}),
                      task=task_payload(t), daysLate=days)
    figures = await cost_figures(session, project, tasks)
    deadline = project.deadline or project.planned_finish
    schedule_risk = bool(deadline and project.forecast_finish and project.forecast_finish > deadline) \
        or figures.schedule_risk
    if schedule_risk and not project.schedule_risk:
        project_event(session, actor, project, "project.schedule_risk", audience=[project.manager_id],
                      spi=str(figures.spi) if figures.spi is not None else None,
                      deadline=deadline.isoformat() if deadline else None)
    if figures.cost_risk and not project.cost_risk:
        project_event(session, actor, project, "project.cost_risk", audience=[project.manager_id],
                      estimateAtCompletion=str(figures.estimate_at_completion), budget=str(figures.budget))
    project.schedule_risk, project.cost_risk = schedule_risk, figures.cost_risk
    await session.flush()


async def reschedule(session: AsyncSession, project: Project, *, baseline: bool = False,
                     baseline_for: set[int] | None = None, actor: Actor | None = None) -> None:
    """Schedule the project again and store every task's dates (one UPDATE statement for all rows),
    the project's roll-ups, and the delay risks this uncovers."""
    tasks = list(await session.scalars(select(Task).where(Task.project_id == project.id)
                                       .execution_options(populate_existing=True)))
    links = [Link(*row) for row in await session.execute(  # plain rows: no ORM objects for thousands of links
        select(TaskDependency.predecessor_id, TaskDependency.successor_id, TaskDependency.kind,
               TaskDependency.lag_days).where(TaskDependency.project_id == project.id))]
    cal = calendar_of(project)
    today = cal.index_of(clock.now().date())
    nodes = [Node(id=t.id, duration=t.duration_days, parent_id=t.parent_id,
                  not_before=cal.index_of(t.start_no_earlier) if t.start_no_earlier else None,
                  percent=t.percent_complete, done=t.status == TaskStatus.DONE,
                  started=t.status == TaskStatus.IN_PROGRESS,
                  actual_start=cal.index_of(t.actual_start) if t.actual_start else None,
                  # exclusive: the first working day after it (a Saturday finish frees Monday)
                  actual_finish=cal.index_of(t.actual_finish + timedelta(days=1)) if t.actual_finish else None)
             for t in tasks if t.status != TaskStatus.CANCELLED]
    try:
        plan = schedule(nodes, links, today=today)
    except CycleError as exc:  # refused at insert; a corrupt graph is a bug, not a user error
        raise RuntimeError(f"project {project.id} has a dependency cycle") from exc

    def finish_date(start: int, finish: int) -> date:
        """Finishes are exclusive indices; a milestone (start == finish) falls at the end of the
        working day before it."""
        return cal.date_of(finish - 1 if finish > start else max(start - 1, 0))

    def start_date(start: int, finish: int) -> date:
        return cal.date_of(start) if finish > start else finish_date(start, finish)

    rows = []
    for t in tasks:
        timing = plan.timings.get(t.id)
        if timing is None:
            continue
        row = {
            "id": t.id, "early_start": start_date(timing.early_start, timing.early_finish),
            "early_finish": finish_date(timing.early_start, timing.early_finish),
            "late_start": start_date(timing.late_start, timing.late_finish),
            "late_finish": finish_date(timing.late_start, timing.late_finish),
            "slack_days": timing.slack, "critical": timing.critical,
            "forecast_start": start_date(timing.forecast_start, timing.forecast_finish),
            "forecast_finish": finish_date(timing.forecast_start, timing.forecast_finish),
        }
        if baseline or t.baseline_start is None or (baseline_for and t.id in baseline_for):
            row["baseline_start"], row["baseline_finish"] = row["early_start"], row["early_finish"]
        rows.append(row)
    if rows:
        await session.execute(update(Task), rows)  # ORM bulk UPDATE by primary key: executemany
        by_id = {t.id: t for t in tasks}
        for row in rows:  # keep the loaded objects in step, without marking them dirty
            for key, value in row.items():
                if key != "id":
                    set_committed_value(by_id[row["id"]], key, value)
    leaves = [t for t in tasks if not t.is_summary and t.status != TaskStatus.CANCELLED]
    weights = [(t.estimate_hours if any(x.estimate_hours for x in leaves) else Decimal(t.duration_days or 1),
                t.percent_complete) for t in leaves]
    total = sum((w for w, _ in weights), Decimal(0))
    project.percent_complete = (sum((w * p for w, p in weights), Decimal(0)) / total).quantize(Decimal("0.01")) \
        if total else Decimal(0)
    if leaves:
        project.scheduled_finish = finish_date(0, plan.finish)
        project.forecast_finish = finish_date(0, plan.forecast_finish)
    else:
        project.scheduled_finish = project.forecast_finish = project.start_date
    if baseline or project.planned_finish is None:
        project.planned_finish = project.scheduled_finish
    await session.flush()
    await check_risks(session, project, actor=actor, tasks=tasks)



@handles(PlanChanged)
async def _replan(session: AsyncSession, actor: Actor | None, event: PlanChanged) -> None:
    project = await session.get(Project, event.project_id)
    assert project is not None
    await reschedule(session, project, baseline=event.baseline, baseline_for=set(event.baseline_for) or None,
                     actor=actor)


@handles(TimeLogged)
async def _time_logged(session: AsyncSession, actor: Actor | None, event: TimeLogged) -> None:
    """The forecast moves only when a task starts; the cost moves every time."""
    project = await session.get(Project, event.project_id)
    assert project is not None
    if event.task_started:
        await reschedule(session, project, actor=actor)
    else:
        await check_risks(session, project, actor=actor)


@handles(ExpenseAdded)
async def _expense_added(session: AsyncSession, actor: Actor | None, event: ExpenseAdded) -> None:
    project = await session.get(Project, event.project_id)
    assert project is not None
    await check_risks(session, project, actor=actor)


def _due_at(task: Task) -> datetime:
    return datetime.combine(task.due + timedelta(days=1), time(0), tzinfo=UTC)  # type: ignore[operator]


async def run_delivery(session: AsyncSession, now: datetime, *, limit: int = 200) -> list[Escalation]:
    """Scheduler pass: forecasts move with the calendar, so reschedule open projects, warn about new
    risks, and escalate overdue tasks (assignee, else manager, then up their chain)."""
    open_statuses = [ProjectStatus.ACTIVE.value, ProjectStatus.PLANNING.value]
    projects = list(await session.scalars(select(Project).where(Project.status.in_(open_statuses))
                                          .order_by(Project.checked_at.is_not(None), Project.checked_at, Project.id)
                                          .limit(limit)))
    for project in projects:  # the stalest first, so every project's turn comes
        await reschedule(session, project)
    if projects:
        await session.execute(update(Project).where(Project.id.in_([p.id for p in projects])).values(checked_at=now))
    # Overdue tasks of every open project, not only of the batch rescheduled above: a due date does
    # not depend on the forecast, and no overdue task waits for its project's turn.
    rows = await session.execute(select(Task, Project.manager_id).join(Project, Project.id == Task.project_id).where(
        Project.status.in_(open_statuses), Task.is_summary.is_(False),
        Task.status.in_([TaskStatus.TODO.value, TaskStatus.IN_PROGRESS.value]),
        func.coalesce(Task.due_date, Task.baseline_finish) < now.date()).order_by(Task.id))
    items = [Overdue(kind=SlaKind.TASK, id=t.id, org_id=t.org_id, owner_id=t.assignee_id or manager_id,
                     due=_due_at(t), record_type="Task", timeline=("Project", t.project_id),
                     payload={**task_payload(t), "title": t.name, "projectId": t.project_id})
             for t, manager_id in rows]
    return await escalate(session, items, now)


async def reports_of(session: AsyncSession, actor: Actor, project_ids: list[int]) -> dict[int, list[ProgressReport]]:
    rows = await session.scalars(select(ProgressReport).where(
        ProgressReport.org_id == actor.org_id, ProgressReport.project_id.in_(project_ids))
        .order_by(ProgressReport.project_id, ProgressReport.reported_at.desc(), ProgressReport.id.desc()))
    return group_by(project_ids, rows, lambda r: r.project_id)

