"""Progress reports and delay-risk warnings.

A progress report (status text + RAG health) lands on the project's timeline and on the
originating opportunity's, so sales sees delivery. Risks are checked after every change that can
move the schedule or the cost, and by the scheduler as days pass: a task whose forecast finish
passes its due date, a project whose forecast passes its deadline or whose SPI falls below its
threshold, a forecast cost over the budget's margin — each warns the project manager live, once
per slip. Overdue tasks nobody finishes escalate up the assignee's chain (collaboration/sla.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import ForeignKey, String, Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from ..collaboration.sla import Escalation, Overdue, SlaKind, escalate
from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.errors import FieldErrorCode, Validator
from ..shared.rows import group_by
from .project import Health, Project, ProjectStatus, load_for_write, project_event, require_open
from .task import Task, TaskStatus, task_payload


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
    from .project import require_manager

    project = await load_for_write(session, actor, project_id)
    require_manager(actor, project, "report its progress")
    require_open(project)
    v = Validator()
    text = v.text("status", status_text, max_len=10_000, required=True)
    if health is None:
        v.add("health", FieldErrorCode.REQUIRED, "health is GREEN, AMBER or RED")
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
    from .budget import cost_figures

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


def _due_at(task: Task) -> datetime:
    return datetime.combine(task.due + timedelta(days=1), time(0), tzinfo=UTC)  # type: ignore[operator]


async def run_delivery(session: AsyncSession, now: datetime, *, limit: int = 200) -> list[Escalation]:
    """Scheduler pass: forecasts move with the calendar, so reschedule open projects, warn about new
    risks, and escalate overdue tasks (assignee, else manager, then up their chain)."""
    from .task import reschedule

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

