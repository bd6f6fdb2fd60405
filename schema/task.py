"""Tasks, their dependencies, and Gantt bars."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.delivery.task import DependencyKind as _DependencyKind
from tandem.domain.delivery.task import Task as TaskModel
from tandem.domain.delivery.task import TaskDependency as DependencyModel
from tandem.domain.delivery.task import TaskStatus as _TaskStatus

from .errors import UserError
from .node import Node, to_global_id
from .scalars import Decimal, rate
from .sla import SLA_STATUS, SlaStatus, load_sla_status
from .user import User, load_user

if TYPE_CHECKING:
    from .project import Project

TaskStatus = strawberry.enum(_TaskStatus, name="TaskStatus")
DependencyKind = strawberry.enum(_DependencyKind, name="DependencyKind")


@strawberry.type(description="A dependency: the successor waits for the predecessor's finish (FINISH_TO_START) "
                             "or start (START_TO_START), plus `lagDays` working days.")
class TaskDependency:
    predecessor_id: strawberry.ID
    successor_id: strawberry.ID
    kind: DependencyKind
    lag_days: int

    @classmethod
    def from_model(cls, m: DependencyModel) -> TaskDependency:
        return cls(predecessor_id=to_global_id("Task", m.predecessor_id),
                   successor_id=to_global_id("Task", m.successor_id), kind=_DependencyKind(m.kind),
                   lag_days=m.lag_days)


@strawberry.type(description="A unit of work. Dates are scheduled by critical path over the project's working "
                             "days: early/late dates, slack, the critical flag, the baseline and the forecast.")
class Task(Node):
    name: str | None
    description: str | None
    wbs: str | None = strawberry.field(description="Outline number, e.g. \"2.1\".")
    status: TaskStatus | None
    percent_complete: int | None
    estimate_hours: Decimal | None
    duration_days: int | None = strawberry.field(description="Working days; 0 is a milestone.")
    start_no_earlier: date | None
    due_date: date | None
    is_summary: bool | None
    is_milestone: bool | None
    early_start: date | None
    early_finish: date | None
    late_start: date | None
    late_finish: date | None
    slack_days: int | None
    critical: bool | None
    baseline_start: date | None
    baseline_finish: date | None
    forecast_start: date | None
    forecast_finish: date | None
    actual_start: date | None
    actual_finish: date | None
    at_risk: bool | None = strawberry.field(description="Forecast to finish after its due date (or baseline).")
    version: int
    updated_at: datetime | None
    _pk: strawberry.Private[int]
    _project_id: strawberry.Private[int]
    _parent_id: strawberry.Private[int | None]
    _assignee_id: strawberry.Private[int | None]

    @strawberry.field(description=SLA_STATUS)
    async def sla_status(self, info: strawberry.Info) -> SlaStatus | None:
        return await load_sla_status(info, self.id)

    @classmethod
    def from_model(cls, m: TaskModel, wbs: str | None = None) -> Task:
        return cls(
            id=to_global_id("Task", m.id), name=m.name, description=m.description, wbs=wbs,
            status=_TaskStatus(m.status), percent_complete=m.percent_complete,
            estimate_hours=rate(m.estimate_hours), duration_days=m.duration_days,
            start_no_earlier=m.start_no_earlier, due_date=m.due_date, is_summary=m.is_summary,
            is_milestone=m.is_milestone, early_start=m.early_start, early_finish=m.early_finish,
            late_start=m.late_start, late_finish=m.late_finish, slack_days=m.slack_days, critical=m.critical,
            baseline_start=m.baseline_start, baseline_finish=m.baseline_finish, forecast_start=m.forecast_start,
            forecast_finish=m.forecast_finish, actual_start=m.actual_start, actual_finish=m.actual_finish,
            at_risk=m.at_risk, version=m.version, updated_at=m.updated_at, _pk=m.id, _project_id=m.project_id,
            _parent_id=m.parent_id, _assignee_id=m.assignee_id,
        )

    @strawberry.field
    async def assignee(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._assignee_id)

    @strawberry.field
    def parent_id(self) -> strawberry.ID | None:
        return to_global_id("Task", self._parent_id) if self._parent_id else None

    @strawberry.field
    async def project(self, info: strawberry.Info) -> Annotated[Project, strawberry.lazy(".project")] | None:
        from .project import Project

        found = await info.context.loaders.project.load(self._project_id)
        return Project.from_model(found) if found else None


@strawberry.type(description="One bar of a Gantt chart.")
class GanttBar:
    task_id: strawberry.ID
    name: str
    wbs: str
    parent_id: strawberry.ID | None
    is_summary: bool
    is_milestone: bool
    planned_start: date | None = strawberry.field(description="The baseline.")
    planned_finish: date | None
    start: date | None = strawberry.field(description="Scheduled (earliest) start.")
    finish: date | None
    forecast_start: date | None
    forecast_finish: date | None
    progress: int
    critical: bool
    slack_days: int
    at_risk: bool
    assignee_id: strawberry.ID | None
    dependencies: list[TaskDependency] = strawberry.field(description="Links into this bar.")


@strawberry.type
class Gantt:
    project_id: strawberry.ID
    start: date = strawberry.field(description="The first working day of the project.")
    finish: date | None = strawberry.field(description="The scheduled finish.")
    planned_finish: date | None
    forecast_finish: date | None
    deadline: date | None
    working_days: list[int] = strawberry.field(description="Weekdays worked, 0 = Monday.")
    holidays: list[date]
    bars: list[GanttBar]
    critical_path: list[strawberry.ID]


@strawberry.input
class CreateTaskInput:
    project_id: strawberry.ID
    name: str
    parent_id: strawberry.ID | None = None
    description: str | None = None
    assignee_id: strawberry.ID | None = None
    estimate_hours: Decimal | None = None
    duration_days: int | None = strawberry.field(default=None, description="Default 1; or give dueDate.")
    start_no_earlier: date | None = None
    due_date: date | None = None


@strawberry.input
class UpdateTaskInput:
    id: strawberry.ID
    version: int
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    assignee_id: strawberry.ID | None = strawberry.UNSET
    status: TaskStatus | None = strawberry.UNSET
    percent_complete: int | None = strawberry.UNSET
    estimate_hours: Decimal | None = strawberry.UNSET
    duration_days: int | None = strawberry.UNSET
    start_no_earlier: date | None = strawberry.UNSET
    due_date: date | None = strawberry.UNSET


@strawberry.input
class TaskDependencyInput:
    predecessor_id: strawberry.ID
    successor_id: strawberry.ID
    kind: DependencyKind = DependencyKind.FINISH_TO_START  # type: ignore[attr-defined]
    lag_days: int = 0


@strawberry.input
class RemoveTaskDependencyInput:
    predecessor_id: strawberry.ID
    successor_id: strawberry.ID


@strawberry.type
class TaskPayload:
    task: Task | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TaskDependencyPayload:
    dependency: TaskDependency | None = None
    successor: Task | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
