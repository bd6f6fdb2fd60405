"""The outward rows of delivery events: one writer per event type, from the event alone, so the feed
and delivery's reactions (re-planning, risks) cannot disagree. Logged time and expenses are written
first (the rows of the risks they raise follow them); a new project after its plan is laid out and
baselined, so its row carries the forecast."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..shared.actor import Actor
from ..shared.bus import outward
from .budget import Expense
from .events import ExpenseAdded, ProjectCreated, TimeLogged
from .project import Project, ProjectTemplate, project_event
from .task import Task
from .timesheet import TimeEntry


async def _project(session: AsyncSession, project_id: int) -> Project:
    project = await session.get(Project, project_id)
    assert project is not None
    return project


@outward(ProjectCreated)
async def _project_created_row(session: AsyncSession, actor: Actor | None, event: ProjectCreated,
                               results: list[Any]) -> None:
    project = await _project(session, event.project_id)
    template = await session.get(ProjectTemplate, event.template_id) if event.template_id else None
    project_event(session, actor, project, "project.created", operation="create", audience=[project.manager_id],
                  template=template.name if template else None)


@outward(TimeLogged, first=True)
async def _time_logged_row(session: AsyncSession, actor: Actor | None, event: TimeLogged, results: list[Any]) -> None:
    project = await _project(session, event.project_id)
    entry, task = await session.get(TimeEntry, event.entry_id), await session.get(Task, event.task_id)
    assert entry is not None and task is not None
    project_event(session, actor, project, "time.logged", operation="create", record=("Task", task.id),
                  hours=str(entry.hours), date=entry.work_date.isoformat(), task={"id": task.id, "name": task.name})


@outward(ExpenseAdded, first=True)
async def _expense_added_row(session: AsyncSession, actor: Actor | None, event: ExpenseAdded,
                             results: list[Any]) -> None:
    project = await _project(session, event.project_id)
    expense = await session.get(Expense, event.expense_id)
    assert expense is not None
    project_event(session, actor, project, "expense.added", operation="create", record=("Expense", expense.id),
                  amount=str(expense.amount), category=expense.category, description=expense.description)
