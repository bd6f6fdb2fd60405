"""Delivery projects. A won opportunity becomes a project in the same transaction (once: moving it
won → negotiation → won again finds the same project), built from the project template that
matches it, run by the project manager the opportunity names or else the least-loaded one (fewest
open projects), who is told live. Budget and dates come from the opportunity's contract when it has
one, else from the opportunity.

Who sees a project: its manager, its members (anyone assigned a task or added), the sales owner of
the deal it came from, and, by role scope, their managers up the chain (team) or everyone (org)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, JsonType, pk
from ..shared.clock import clock
from ..shared.concurrency import load_for_write as lock_row
from ..shared.dialect import contains_text
from ..shared.errors import FieldErrorCode, NotFound, ValidationFailed, Validator
from ..shared.money import quantize
from ..shared.numbering import next_number
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.payload import camel
from ..shared.scope import RecordShare, Scope, chain_below
from ..tenancy.user import User, get_user
from .calendar import DEFAULT_WEEKEND

DEFAULT_COST_MARGIN = Decimal(10)
DEFAULT_SPI_THRESHOLD = Decimal("0.90")
DEFAULT_CHANGE_THRESHOLD = Decimal(10)
MAX_TEMPLATE_TASKS = 500


class ProjectStatus(StrEnum):
    PLANNING = "planning"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    CLOSED = "closed"


class Health(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


OPEN_STATUSES = (ProjectStatus.PLANNING.value, ProjectStatus.ACTIVE.value, ProjectStatus.ON_HOLD.value)


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (
        UniqueConstraint("org_id", "opportunity_id"),
        Index("ix_project_org_created", "org_id", "created_at", "id"),
        Index("ix_project_manager", "org_id", "manager_id", "status"),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int] = mapped_column(IdType, ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("opportunity.id", ondelete="SET NULL"),
                                                       nullable=True)
    contract_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("contract.id", ondelete="SET NULL"),
                                                    nullable=True)
    template_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("project_template.id", ondelete="SET NULL"),
                                                    nullable=True)
    manager_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    sales_owner_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    health: Mapped[str] = mapped_column(String(10), default=Health.GREEN.value)
    currency: Mapped[str] = mapped_column(String(3))
    budget: Mapped[Decimal]
    cost_margin_percent: Mapped[Decimal]
    """Warn when the forecast cost passes the budget by more than this."""
    spi_threshold: Mapped[Decimal]
    """Warn when the schedule performance index falls below this."""
    change_threshold_percent: Mapped[Decimal]
    """A change request moving the budget by more than this (of the budget) also needs a sales manager."""
    start_date: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date | None] = mapped_column(Date, nullable=True)
    weekend_days: Mapped[list[int]] = mapped_column(JsonType, default=lambda: list(DEFAULT_WEEKEND))
    holidays: Mapped[list[str]] = mapped_column(JsonType, default=list)
    percent_complete: Mapped[Decimal]
    planned_finish: Mapped[date | None] = mapped_column(Date, nullable=True)
    """The baseline: the finish the first schedule gave (change requests move it)."""
    scheduled_finish: Mapped[date | None] = mapped_column(Date, nullable=True)
    forecast_finish: Mapped[date | None] = mapped_column(Date, nullable=True)
    schedule_risk: Mapped[bool] = mapped_column(default=False)
    cost_risk: Mapped[bool] = mapped_column(default=False)
    checked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """When the scheduler last moved its forecast with the calendar (it takes the stalest first)."""
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)

    @property
    def is_closed(self) -> bool:
        return self.status == ProjectStatus.CLOSED


class ProjectMember(Base):
    __tablename__ = "project_member"
    __table_args__ = (UniqueConstraint("project_id", "user_id"), Index("ix_project_member_user", "org_id", "user_id"))

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("project.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id", ondelete="CASCADE"))
    added_at: Mapped[datetime]


class ProjectTemplate(Base):
    """A reusable task list: ``tasks`` is a list of {key, name, durationDays, estimateHours,
    dependsOn: [key], parent: key}; a template matches an opportunity whose name contains one of its
    ``keywords`` (case-insensitive), else the org's default template (if any) applies."""

    __tablename__ = "project_template"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    keywords: Mapped[list[str]] = mapped_column(JsonType, default=list)
    is_default: Mapped[bool] = mapped_column(default=False)
    tasks: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    created_at: Mapped[datetime]


@dataclass
class TemplateTask:
    key: str
    name: str
    duration_days: int = 1
    estimate_hours: Decimal = Decimal(0)
    depends_on: list[str] = field(default_factory=list)
    parent: str | None = None


@dataclass(frozen=True)
class ProjectFilter:
    manager_id: int | None = None
    customer_id: int | None = None
    health: str | None = None
    status: str | None = None
    search: str | None = None


PROJECT_SORTS = {
    "CREATED_AT": SortKey("CREATED_AT", Project.created_at, datetime),
    "NAME": SortKey("NAME", Project.name, str),
}


def project_payload(p: Project) -> dict[str, Any]:
    return {"id": p.id, "number": p.number, "name": p.name, "status": p.status, "health": p.health,
            "customerId": p.customer_id, "opportunityId": p.opportunity_id, "managerId": p.manager_id,
            "budget": str(quantize(p.budget, p.currency)), "currency": p.currency,
            "startDate": p.start_date.isoformat(), "percentComplete": str(p.percent_complete),
            "forecastFinish": p.forecast_finish.isoformat() if p.forecast_finish else None, "version": p.version}


def project_event(session: AsyncSession, actor: Actor | None, p: Project, topic: str, *, operation: str = "update",
                  audience: list[int] | None = None, record: tuple[str, int] | None = None,
                  **extra: Any) -> None:
    """On the project's timeline and the opportunity's it came from (so sales sees delivery)."""
    record_type, record_id = record or ("Project", p.id)
    record_event(session, actor, org_id=p.org_id, topic=topic, record_type=record_type, record_id=record_id,
                 operation=operation, payload={**project_payload(p), **extra}, timeline=("Project", p.id),
                 also=("Opportunity", p.opportunity_id) if p.opportunity_id else None, audience=audience or ())


# --- templates --------------------------------------------------------------------------------


def check_template_tasks(v: Validator, tasks: list[TemplateTask]) -> list[dict[str, Any]]:
    from .schedule import CycleError, Link, Node, schedule

    if not tasks:
        v.add("tasks", FieldErrorCode.REQUIRED, "a template needs at least one task")
    if len(tasks) > MAX_TEMPLATE_TASKS:
        v.add("tasks", FieldErrorCode.INVALID, f"at most {MAX_TEMPLATE_TASKS} tasks")
    keys: dict[str, int] = {}
    out = []
    for i, t in enumerate(tasks):
        tv = v.under("tasks", str(i))
        key = tv.text("key", t.key, max_len=40, required=True) or f"#{i}"
        if key in keys:
            tv.add("key", FieldErrorCode.DUPLICATE, f"key {key!r} is used twice")
        keys[key] = i
        name = tv.text("name", t.name, max_len=200, required=True)
        if not 0 <= t.duration_days <= 3650:
            tv.add("durationDays", FieldErrorCode.INVALID, "durationDays is 0 (a milestone) to 3650")
        if t.estimate_hours < 0 or t.estimate_hours > 100_000:
            tv.add("estimateHours", FieldErrorCode.INVALID, "estimateHours is 0 to 100000")
        out.append({"key": key, "name": name, "durationDays": t.duration_days,
                    "estimateHours": str(t.estimate_hours), "dependsOn": list(t.depends_on), "parent": t.parent})
    for i, t in enumerate(tasks):
        for dep in t.depends_on:
            if dep not in keys:
                v.add(("tasks", str(i), "dependsOn"), FieldErrorCode.INVALID, f"no task with key {dep!r}")
        if t.parent is not None and t.parent not in keys:
            v.add(("tasks", str(i), "parent"), FieldErrorCode.INVALID, f"no task with key {t.parent!r}")
    if not v.errors:
        try:
            schedule([Node(i, t.duration_days) for i, t in enumerate(tasks)],
                     [Link(keys[d], i) for i, t in enumerate(tasks) for d in t.depends_on])
        except CycleError as exc:
            names = ", ".join(tasks[i].key for i in exc.path)
            v.add("tasks", FieldErrorCode.DEPENDENCY_CYCLE, f"the dependencies form a cycle through {names}")
    return out


async def create_template(session: AsyncSession, actor: Actor, *, name: str | None, keywords: list[str],
                          is_default: bool, tasks: list[TemplateTask]) -> ProjectTemplate:
    v = Validator()
    name = v.text("name", name, max_len=200, required=True)
    clean = [k.strip() for k in keywords if k and k.strip()]
    if len(clean) > 50 or any(len(k) > 100 for k in clean):
        v.add("keywords", FieldErrorCode.INVALID, "at most 50 keywords of 100 characters")
    checked = check_template_tasks(v, tasks)
    if name and await session.scalar(select(ProjectTemplate.id).where(ProjectTemplate.org_id == actor.org_id,
                                                                      ProjectTemplate.name == name)):
        v.add("name", FieldErrorCode.DUPLICATE, f"a template named {name!r} exists already")
    v.raise_if_any()
    if is_default:
        for other in await session.scalars(select(ProjectTemplate).where(
                ProjectTemplate.org_id == actor.org_id, ProjectTemplate.is_default.is_(True))):
            other.is_default = False
    template = ProjectTemplate(org_id=actor.org_id, name=name, keywords=clean, is_default=is_default, tasks=checked,
                               created_at=clock.now())
    session.add(template)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="project_template.created", record_type="ProjectTemplate",
                 record_id=template.id, operation="create",
                 payload={"id": template.id, "name": name, "tasks": len(checked), "isDefault": is_default})
    return template


async def matching_template(session: AsyncSession, org_id: int, opportunity_name: str) -> ProjectTemplate | None:
    templates = list(await session.scalars(select(ProjectTemplate).where(ProjectTemplate.org_id == org_id)
                                           .order_by(ProjectTemplate.id)))
    folded = opportunity_name.casefold()
    for t in templates:
        if any(k.casefold() in folded for k in t.keywords):
            return t
    return next((t for t in templates if t.is_default), None)


async def templates_of(session: AsyncSession, actor: Actor) -> list[ProjectTemplate]:
    return list(await session.scalars(select(ProjectTemplate).where(ProjectTemplate.org_id == actor.org_id)
                                      .order_by(ProjectTemplate.name)))


# --- conversion -------------------------------------------------------------------------------


async def least_loaded_manager(session: AsyncSession, org_id: int) -> int | None:
    """The active project manager with the fewest open projects (ties: the longest-serving)."""
    managers = [u for u in await session.scalars(select(User).where(User.org_id == org_id, User.active.is_(True))
                                                 .order_by(User.id)) if "project_manager" in u.roles]
    if not managers:
        return None
    loads = dict((await session.execute(
        select(Project.manager_id, func.count()).where(Project.org_id == org_id, Project.status.in_(OPEN_STATUSES))
        .group_by(Project.manager_id))).all())
    return min(managers, key=lambda u: (loads.get(u.id, 0), u.id)).id


async def project_for_opportunity(session: AsyncSession, org_id: int, opportunity_id: int) -> Project | None:
    return await session.scalar(select(Project).where(Project.org_id == org_id,
                                                      Project.opportunity_id == opportunity_id))


async def convert_won_opportunity(session: AsyncSession, actor: Actor, opportunity: Any) -> Project:
    """The opportunity just moved to won: its project (new, or the one it already has)."""
    from ..contracts.contract import Contract, ContractStatus
    from .task import instantiate_template, reschedule

    existing = await project_for_opportunity(session, actor.org_id, opportunity.id)
    if existing is not None:
        return existing
    contract = await session.scalar(select(Contract).where(
        Contract.org_id == actor.org_id, Contract.opportunity_id == opportunity.id,
        Contract.status.in_([ContractStatus.ACTIVE.value, ContractStatus.SIGNING.value,
                             ContractStatus.APPROVED.value]))
        .order_by(Contract.id.desc()).limit(1))
    manager_id = opportunity.project_manager_id or await least_loaded_manager(session, actor.org_id) \
        or opportunity.owner_id
    template = await matching_template(session, actor.org_id, opportunity.name)
    today = clock.now().date()
    start = (contract.start_date if contract and contract.start_date else None) or today
    deadline = contract.end_date if contract and contract.end_date else None
    _, number = await next_number(session, actor.org_id, "project")
    now = clock.now()
    project = Project(
        org_id=actor.org_id, number=number, name=opportunity.name, customer_id=opportunity.customer_id,
        opportunity_id=opportunity.id, contract_id=contract.id if contract else None,
        template_id=template.id if template else None, manager_id=manager_id, sales_owner_id=opportunity.owner_id,
        status=ProjectStatus.PLANNING.value, health=Health.GREEN.value,
        currency=contract.currency if contract else opportunity.currency,
        budget=contract.amount if contract else opportunity.amount, cost_margin_percent=DEFAULT_COST_MARGIN,
        spi_threshold=DEFAULT_SPI_THRESHOLD, change_threshold_percent=DEFAULT_CHANGE_THRESHOLD, start_date=start,
        deadline=deadline, weekend_days=list(DEFAULT_WEEKEND), holidays=[], percent_complete=Decimal(0),
        created_at=now, updated_at=now)
    session.add(project)
    await session.flush()
    session.add(ProjectMember(org_id=actor.org_id, project_id=project.id, user_id=manager_id, added_at=now))
    await _share_origin(session, actor, project, manager_id)
    if template is not None:
        await instantiate_template(session, actor, project, template)
    await session.flush()
    await reschedule(session, project, baseline=True)
    project_event(session, actor, project, "project.created", operation="create", audience=[manager_id],
                  template=template.name if template else None)
    return project


async def _share_origin(session: AsyncSession, actor: Actor, project: Project, manager_id: int) -> None:
    """The project's manager reads the customer and the deal the project came from."""
    for record_type, record_id in (("Customer", project.customer_id), ("Opportunity", project.opportunity_id)):
        if record_id is None or await session.scalar(select(RecordShare.id).where(
                RecordShare.org_id == project.org_id, RecordShare.record_type == record_type,
                RecordShare.record_id == record_id, RecordShare.user_id == manager_id).limit(1)):
            continue
        session.add(RecordShare(org_id=project.org_id, record_type=record_type, record_id=record_id,
                                user_id=manager_id, team_id=None, shared_by_id=actor.user_id, created_at=clock.now()))


# --- reading ----------------------------------------------------------------------------------


def member_projects(actor: Actor) -> Any:
    return select(ProjectMember.project_id).where(ProjectMember.org_id == actor.org_id,
                                                  ProjectMember.user_id == actor.user_id)


def visible_projects(actor: Actor) -> Any:
    stmt = select(Project).where(Project.org_id == actor.org_id)
    scope = actor.scope("Project")
    if scope is Scope.ORG:
        return stmt
    conditions = [Project.id.in_(member_projects(actor))]
    if scope is Scope.OWN:
        conditions += [Project.manager_id == actor.user_id, Project.sales_owner_id == actor.user_id]
    elif scope is Scope.TEAM:
        chain = chain_below(actor)
        conditions += [Project.manager_id.in_(chain), Project.sales_owner_id.in_(chain)]
    return stmt.where(or_(*conditions)) if conditions else stmt.where(false())


async def get_project(session: AsyncSession, actor: Actor, project_id: int) -> Project:
    found = await session.scalar(visible_projects(actor).where(Project.id == project_id))
    if found is None:
        raise NotFound("Project", project_id)
    return found


async def projects_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Project]:
    return {p.id: p for p in await session.scalars(visible_projects(actor).where(Project.id.in_(ids)))}


async def load_for_write(session: AsyncSession, actor: Actor, project_id: int, version: int | None = None) -> Project:
    return await lock_row(session, visible_projects(actor).where(Project.id == project_id), type_name="Project",
                          record_id=project_id, version=version)


def require_manager(actor: Actor, project: Project, what: str) -> None:
    """Only the project's manager (or an admin) runs it."""
    if actor.user_id != project.manager_id and not actor.has_role("admin"):
        raise ValidationFailed.one("projectId", FieldErrorCode.NOT_PROJECT_MANAGER,
                                   f"Only the project's manager may {what}.")


def require_open(project: Project) -> None:
    if project.is_closed:
        raise ValidationFailed.one("projectId", FieldErrorCode.PROJECT_CLOSED, f"Project {project.number} is closed.")


async def list_projects(session: AsyncSession, actor: Actor, flt: ProjectFilter, req: PageRequest, *,
                        sort: str = "CREATED_AT", with_total: bool = False) -> Page[Project]:
    stmt = visible_projects(actor)
    if flt.manager_id is not None:
        stmt = stmt.where(Project.manager_id == flt.manager_id)
    if flt.customer_id is not None:
        stmt = stmt.where(Project.customer_id == flt.customer_id)
    if flt.health:
        stmt = stmt.where(Project.health == flt.health)
    if flt.status:
        stmt = stmt.where(Project.status == flt.status)
    if flt.search and flt.search.strip():
        stmt = stmt.where(contains_text(session, Project.name, flt.search.strip()))
    return await paginate(session, stmt, entity=Project, sort=PROJECT_SORTS[sort], req=req, with_total=with_total)


async def projects_of_opportunities(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Project]:
    rows = await session.scalars(visible_projects(actor).where(Project.opportunity_id.in_(ids)))
    return {p.opportunity_id: p for p in rows}  # type: ignore[misc]


async def members_of(session: AsyncSession, actor: Actor, project_ids: list[int]) -> dict[int, list[int]]:
    rows = await session.execute(select(ProjectMember.project_id, ProjectMember.user_id).where(
        ProjectMember.org_id == actor.org_id, ProjectMember.project_id.in_(project_ids)).order_by(ProjectMember.id))
    out: dict[int, list[int]] = {i: [] for i in project_ids}
    for project_id, user_id in rows:
        out[project_id].append(user_id)
    return out


async def add_member(session: AsyncSession, project: Project, user_id: int) -> None:
    exists = await session.scalar(select(ProjectMember.id).where(ProjectMember.project_id == project.id,
                                                                 ProjectMember.user_id == user_id))
    if exists is None:
        session.add(ProjectMember(org_id=project.org_id, project_id=project.id, user_id=user_id, added_at=clock.now()))


# --- settings ---------------------------------------------------------------------------------


@dataclass
class ProjectSettings:
    name: str | None = None
    status: ProjectStatus | None = None
    manager_id: int | None = None
    start_date: date | None = None
    deadline: date | None = None
    weekend_days: list[int] | None = None
    holidays: list[date] | None = None
    cost_margin_percent: Decimal | None = None
    spi_threshold: Decimal | None = None
    change_threshold_percent: Decimal | None = None
    description: str | None = None
    set_fields: set[str] = field(default_factory=set)


async def update_project(session: AsyncSession, actor: Actor, project_id: int, version: int,
                         data: ProjectSettings) -> Project:
    """The manager's settings: status (closing freezes time logging), dates, calendar, thresholds."""
    from .task import reschedule

    project = await load_for_write(session, actor, project_id, version)
    require_manager(actor, project, "change its settings")
    v = Validator()
    named = data.set_fields
    if project.is_closed and named - {"status"}:
        raise ValidationFailed.one("projectId", FieldErrorCode.PROJECT_CLOSED, "Reopen the project to change it.")
    if "name" in named:
        project.name = v.text("name", data.name, max_len=200, required=True)  # type: ignore[assignment]
    if "description" in named:
        project.description = v.text("description", data.description, max_len=20_000) or None
    if "manager_id" in named and data.manager_id is not None:
        manager = await get_user(session, actor.org_id, data.manager_id)
        project.manager_id = manager.id
        await add_member(session, project, manager.id)
        await _share_origin(session, actor, project, manager.id)
    if "start_date" in named and data.start_date is not None:
        project.start_date = data.start_date
    if "deadline" in named:
        project.deadline = data.deadline
    if project.deadline and project.deadline < project.start_date:
        v.add("deadline", FieldErrorCode.INVALID_DATE_RANGE, "deadline is before the start date")
    if "weekend_days" in named and data.weekend_days is not None:
        days = sorted(set(data.weekend_days))
        if any(not 0 <= d <= 6 for d in days) or len(days) >= 7:
            v.add("weekendDays", FieldErrorCode.INVALID, "weekend days are 0 (Monday) to 6, leaving a working day")
        project.weekend_days = days
    if "holidays" in named and data.holidays is not None:
        if len(data.holidays) > 1000:
            v.add("holidays", FieldErrorCode.INVALID, "at most 1000 holidays")
        project.holidays = sorted({d.isoformat() for d in data.holidays})
    for key, low, high in (("cost_margin_percent", 0, 1000), ("spi_threshold", 0, 2),
                           ("change_threshold_percent", 0, 1000)):
        value = getattr(data, key)
        if key in named and value is not None:
            if not value.is_finite() or not low <= value <= high:
                v.add(camel(key), FieldErrorCode.INVALID, f"{camel(key)} is between {low} and {high}")
            else:
                setattr(project, key, value)
    if "status" in named and data.status is not None and data.status.value != project.status:
        project.status = data.status.value
        project.closed_at = clock.now() if data.status is ProjectStatus.CLOSED else None
    v.raise_if_any()
    project.version += 1
    project.updated_at = clock.now()
    await session.flush()
    if not project.is_closed:
        await reschedule(session, project)
    project_event(session, actor, project, "project.updated", changes=sorted(camel(k) for k in named))
    return project



def calendar_of(project: Project) -> Any:
    from .calendar import WorkCalendar

    return WorkCalendar(project.start_date, project.weekend_days, [date.fromisoformat(d) for d in project.holidays])


def add_working_days(project: Project, day: date, days: int) -> date:
    cal = calendar_of(project)
    return cal.date_of(cal.index_of(day) + days) if days else day

