"""Delivery projects: templates, progress reports, budget and earned value, expenses, change requests."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as PyDecimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.delivery.budget import CostFigures as CostFiguresModel
from tandem.domain.delivery.budget import Expense as ExpenseModel
from tandem.domain.delivery.change_request import ChangeRequest as ChangeModel
from tandem.domain.delivery.change_request import ChangeStatus as _ChangeStatus
from tandem.domain.delivery.progress import ProgressReport as ReportModel
from tandem.domain.delivery.project import Health as _Health
from tandem.domain.delivery.project import Project as ProjectModel
from tandem.domain.delivery.project import ProjectStatus as _ProjectStatus
from tandem.domain.delivery.project import ProjectTemplate as TemplateModel
from tandem.domain.shared.money import quantize

from .archive import ARCHIVED_AT, ARCHIVED_FILTER
from .errors import UserError
from .node import Node, to_global_id
from .scalars import Decimal, rate
from .sla import SLA_STATUS, SlaStatus, load_sla_status
from .task import Task
from .user import User, load_user

if TYPE_CHECKING:
    from .contract import Contract
    from .customer import Customer
    from .opportunity import Opportunity

Health = strawberry.enum(_Health, name="Health")
ProjectStatus = strawberry.enum(_ProjectStatus, name="ProjectStatus")
ChangeStatus = strawberry.enum(_ChangeStatus, name="ChangeStatus")


@strawberry.type(description="Budget against actual cost, and earned value: PV, EV, AC, CPI = EV/AC, SPI = EV/PV.")
class CostFigures:
    currency: str
    budget: Decimal
    labor_hours: Decimal
    labor_cost: Decimal
    expenses: Decimal
    actual_cost: Decimal
    percent_complete: Decimal
    planned_percent: Decimal = strawberry.field(description="Share of the work the baseline planned by today.")
    planned_value: Decimal
    earned_value: Decimal
    cpi: Decimal | None
    spi: Decimal | None
    estimate_at_completion: Decimal
    variance_at_completion: Decimal
    cost_risk: bool = strawberry.field(description="EAC exceeds the budget by more than the project's margin.")
    schedule_risk: bool = strawberry.field(description="SPI is below the project's threshold.")

    @classmethod
    def from_domain(cls, f: CostFiguresModel) -> CostFigures:
        return cls(currency=f.currency, budget=f.budget, labor_hours=rate(f.labor_hours), labor_cost=f.labor_cost,
                   expenses=f.expenses, actual_cost=f.actual_cost, percent_complete=f.percent_complete,
                   planned_percent=f.planned_percent, planned_value=f.planned_value, earned_value=f.earned_value,
                   cpi=f.cpi, spi=f.spi, estimate_at_completion=f.estimate_at_completion,
                   variance_at_completion=f.variance_at_completion, cost_risk=f.cost_risk,
                   schedule_risk=f.schedule_risk)


@strawberry.type
class ProgressReport(Node):
    health: Health
    status: str
    percent_complete: Decimal
    reported_at: datetime
    _by: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: ReportModel) -> ProgressReport:
        return cls(id=to_global_id("ProgressReport", m.id), health=_Health(m.health), status=m.status_text,
                   percent_complete=m.percent_complete.quantize(PyDecimal("0.01")), reported_at=m.reported_at,
                   _by=m.reported_by_id)

    @strawberry.field
    async def reported_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._by)


@strawberry.type
class Expense(Node):
    amount: Decimal
    currency: str
    spent_on: date
    category: str
    description: str

    @classmethod
    def from_model(cls, m: ExpenseModel) -> Expense:
        return cls(id=to_global_id("Expense", m.id), amount=quantize(m.amount, m.currency), currency=m.currency,
                   spent_on=m.spent_on, category=m.category, description=m.description)


@strawberry.type(description="A scope, budget or schedule change: the project manager approves, and a sales "
                             "manager too above the project's threshold.")
class ChangeRequest(Node):
    title: str
    reason: str
    scope_change: str | None
    budget_delta: Decimal
    schedule_delta_days: int
    needs_sales_approval: bool
    status: ChangeStatus
    requested_at: datetime
    manager_decided_at: datetime | None
    sales_decided_at: datetime | None
    decision_comment: str | None
    budget_before: Decimal | None
    deadline_before: date | None
    deadline_after: date | None
    _requested_by: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: ChangeModel, currency: str) -> ChangeRequest:
        return cls(id=to_global_id("ChangeRequest", m.id), title=m.title, reason=m.reason,
                   scope_change=m.scope_change, budget_delta=quantize(m.budget_delta, currency),
                   schedule_delta_days=m.schedule_delta_days, needs_sales_approval=m.needs_sales_approval,
                   status=_ChangeStatus(m.status), requested_at=m.requested_at,
                   manager_decided_at=m.manager_decided_at, sales_decided_at=m.sales_decided_at,
                   decision_comment=m.decision_comment,
                   budget_before=quantize(m.budget_before, currency) if m.budget_before is not None else None,
                   deadline_before=m.deadline_before, deadline_after=m.deadline_after,
                   _requested_by=m.requested_by_id)

    @strawberry.field
    async def requested_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._requested_by)


@strawberry.type(description="A delivery project: the work a won deal turned into.")
class Project(Node):
    number: str | None
    name: str | None
    description: str | None
    status: ProjectStatus | None
    health: Health | None
    currency: str | None
    budget: Decimal | None
    percent_complete: Decimal | None = strawberry.field(description="Weighted by task estimates.")
    start_date: date | None
    deadline: date | None
    planned_finish: date | None = strawberry.field(description="The baseline finish.")
    scheduled_finish: date | None
    forecast_finish: date | None
    schedule_risk: bool | None
    cost_risk: bool | None
    cost_margin_percent: Decimal | None
    spi_threshold: Decimal | None
    change_threshold_percent: Decimal | None
    weekend_days: list[int] | None
    holidays: list[date] | None
    version: int
    created_at: datetime | None
    closed_at: datetime | None
    _pk: strawberry.Private[int]
    _customer_id: strawberry.Private[int]
    _opportunity_id: strawberry.Private[int | None]
    _contract_id: strawberry.Private[int | None]
    _manager_id: strawberry.Private[int]
    _sales_owner_id: strawberry.Private[int]
    archived_at: datetime | None = strawberry.field(default=None, description=ARCHIVED_AT)

    @strawberry.field(description=SLA_STATUS)
    async def sla_status(self, info: strawberry.Info) -> SlaStatus | None:
        return await load_sla_status(info, self.id)

    @classmethod
    def from_model(cls, m: ProjectModel) -> Project:
        return cls(
            archived_at=m.archived_at,
            id=to_global_id("Project", m.id), number=m.number, name=m.name, description=m.description,
            status=_ProjectStatus(m.status), health=_Health(m.health), currency=m.currency,
            budget=quantize(m.budget, m.currency), percent_complete=m.percent_complete.quantize(PyDecimal("0.01")),
            start_date=m.start_date, deadline=m.deadline, planned_finish=m.planned_finish,
            scheduled_finish=m.scheduled_finish, forecast_finish=m.forecast_finish, schedule_risk=m.schedule_risk,
            cost_risk=m.cost_risk, cost_margin_percent=rate(m.cost_margin_percent),
            spi_threshold=m.spi_threshold.quantize(PyDecimal("0.01")),
            change_threshold_percent=rate(m.change_threshold_percent), weekend_days=list(m.weekend_days),
            holidays=[date.fromisoformat(d) for d in m.holidays], version=m.version, created_at=m.created_at,
            closed_at=m.closed_at, _pk=m.id, _customer_id=m.customer_id, _opportunity_id=m.opportunity_id,
            _contract_id=m.contract_id, _manager_id=m.manager_id, _sales_owner_id=m.sales_owner_id,
        )

    @strawberry.field
    async def manager(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._manager_id)

    @strawberry.field(description="The sales owner of the deal it came from.")
    async def sales_owner(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._sales_owner_id)

    @strawberry.field
    async def customer(self, info: strawberry.Info) -> Annotated[Customer, strawberry.lazy(".customer")] | None:
        from .customer import Customer

        found = await info.context.loaders.customer.load(self._customer_id)
        return Customer.from_model(found) if found else None

    @strawberry.field
    async def opportunity(
        self, info: strawberry.Info
    ) -> Annotated[Opportunity, strawberry.lazy(".opportunity")] | None:
        from .opportunity import Opportunity

        if self._opportunity_id is None:
            return None
        found = await info.context.loaders.opportunity.load(self._opportunity_id)
        return Opportunity.from_model(found) if found else None

    @strawberry.field
    async def contract(self, info: strawberry.Info) -> Annotated[Contract, strawberry.lazy(".contract")] | None:
        from .contract import Contract

        if self._contract_id is None:
            return None
        found = await info.context.loaders.contract.load(self._contract_id)
        return Contract.from_model(found) if found else None

    @strawberry.field(description="Every task, in outline order.")
    async def tasks(self, info: strawberry.Info) -> list[Task] | None:
        from tandem.domain.delivery.task import wbs_codes

        rows = await info.context.loaders.tasks_of_project.load(self._pk)
        codes = wbs_codes(rows)
        return [Task.from_model(t, codes.get(t.id)) for t in sorted(rows, key=lambda t: _outline(codes.get(t.id)))]

    @strawberry.field
    async def members(self, info: strawberry.Info) -> list[User] | None:
        ids = await info.context.loaders.members_of_project.load(self._pk)
        found = [await load_user(info, i) for i in ids]
        return [u for u in found if u is not None]

    @strawberry.field(description="Budget, actual cost and earned-value figures as of today.")
    async def costs(self, info: strawberry.Info) -> CostFigures | None:
        return CostFigures.from_domain(await info.context.loaders.project_costs.load(self._pk))

    @strawberry.field(description="Progress reports, newest first.")
    async def progress_reports(self, info: strawberry.Info) -> list[ProgressReport] | None:
        return [ProgressReport.from_model(r) for r in await info.context.loaders.reports_of_project.load(self._pk)]

    @strawberry.field
    async def expenses(self, info: strawberry.Info) -> list[Expense] | None:
        return [Expense.from_model(e) for e in await info.context.loaders.expenses_of_project.load(self._pk)]

    @strawberry.field(description="Change requests, oldest first: the project's change history.")
    async def change_requests(self, info: strawberry.Info) -> list[ChangeRequest] | None:
        rows = await info.context.loaders.changes_of_project.load(self._pk)
        return [ChangeRequest.from_model(c, self.currency or "") for c in rows]


def _outline(code: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in code.split(".")) if code else (0,)


@strawberry.type
class ProjectTemplate(Node):
    name: str
    keywords: list[str]
    is_default: bool
    task_count: int

    @classmethod
    def from_model(cls, m: TemplateModel) -> ProjectTemplate:
        return cls(id=to_global_id("ProjectTemplate", m.id), name=m.name, keywords=list(m.keywords),
                   is_default=m.is_default, task_count=len(m.tasks))


@strawberry.input
class TemplateTaskInput:
    key: str
    name: str
    duration_days: int = 1
    estimate_hours: Decimal = strawberry.field(default_factory=lambda: PyDecimal(0))  # type: ignore[arg-type]
    depends_on: list[str] = strawberry.field(default_factory=list)
    parent: str | None = None


@strawberry.input
class CreateProjectTemplateInput:
    name: str
    tasks: list[TemplateTaskInput]
    keywords: list[str] = strawberry.field(default_factory=list,
                                           description="It applies to won deals whose name contains one.")
    is_default: bool = strawberry.field(default=False, description="Applies when no template's keyword matches.")


@strawberry.input
class UpdateProjectInput:
    id: strawberry.ID
    version: int
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: ProjectStatus | None = strawberry.UNSET
    manager_id: strawberry.ID | None = strawberry.UNSET
    start_date: date | None = strawberry.UNSET
    deadline: date | None = strawberry.UNSET
    weekend_days: list[int] | None = strawberry.UNSET
    holidays: list[date] | None = strawberry.UNSET
    cost_margin_percent: Decimal | None = strawberry.UNSET
    spi_threshold: Decimal | None = strawberry.UNSET
    change_threshold_percent: Decimal | None = strawberry.UNSET


@strawberry.input
class ReportProgressInput:
    project_id: strawberry.ID
    status: str
    health: Health


@strawberry.input
class AddExpenseInput:
    project_id: strawberry.ID
    amount: Decimal
    description: str
    category: str | None = None
    spent_on: date | None = None


@strawberry.input
class RequestChangeInput:
    project_id: strawberry.ID
    title: str
    reason: str
    scope_change: str | None = None
    budget_delta: Decimal | None = None
    schedule_delta_days: int | None = strawberry.field(default=None, description="Working days the deadline moves.")


@strawberry.input
class DecideChangeInput:
    id: strawberry.ID
    comment: str | None = strawberry.field(default=None, description="Required to reject.")


@strawberry.input
class ProjectFilter:
    manager_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None
    health: Health | None = None
    status: ProjectStatus | None = None
    search: str | None = None
    archived: bool | None = strawberry.field(default=False, description=ARCHIVED_FILTER)


@strawberry.type
class ProjectPayload:
    project: Project | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ProjectTemplatePayload:
    template: ProjectTemplate | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ProgressReportPayload:
    report: ProgressReport | None = None
    project: Project | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ExpensePayload:
    expense: Expense | None = None
    project: Project | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ChangeRequestPayload:
    change_request: ChangeRequest | None = None
    project: Project | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
