"""What happens in delivery that other areas (and delivery's own reactions) respond to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class MilestoneReached:
    """A milestone task of a project was finished (billing makes the installments of the deal's
    contracts that wait for a milestone of that name fall due)."""

    org_id: int
    project_id: int
    contract_id: int | None
    opportunity_id: int | None
    name: str
    reached_on: date


@dataclass(frozen=True)
class ProjectCreated:
    """A project was opened from a won deal; its template's tasks (if it has one) are laid out."""

    org_id: int
    project_id: int
    template_id: int | None


@dataclass(frozen=True)
class PlanChanged:
    """Something the schedule depends on changed (tasks, links, dates, the calendar): the project is
    scheduled again, its forecast and risks follow. ``baseline`` re-baselines every task,
    ``baseline_for`` only the tasks named (new ones)."""

    org_id: int
    project_id: int
    baseline: bool = False
    baseline_for: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class TimeLogged:
    """Time was logged on a task; ``task_started`` when that moved the task from to-do to in progress."""

    org_id: int
    project_id: int
    task_id: int
    task_started: bool
    entry_id: int


@dataclass(frozen=True)
class ExpenseAdded:
    org_id: int
    project_id: int
    expense_id: int
