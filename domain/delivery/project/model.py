"""Projects, their members and templates as rows; who sees which project; the checks every project service makes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ...shared.actor import Actor
from ...shared.archive import Archivable, listed
from ...shared.base import Base, IdType, JsonType, pk
from ...shared.bus import handles
from ...shared.clock import clock
from ...shared.concurrency import load_for_write as lock_row
from ...shared.dialect import contains_text
from ...shared.errors import NotFound, ValidationFailed
from ...shared.money import quantize
from ...shared.outbox import record_event
from ...shared.pagination import Page, PageRequest, SortKey, paginate
from ...shared.scope import Scope
from ...tenancy.handover import UserDeactivated, hand_over
from ...tenancy.scope import chain_below
from ...tenancy.sharing import RecordShare
from ..calendar import DEFAULT_WEEKEND, WorkCalendar
from ..errors import DeliveryErrorCode

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


class Project(Archivable, Base):
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
    archived: bool | None = False
    """False: leave archived rows out (the default); True: only archived ones; None: both."""


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
        raise ValidationFailed.one("projectId", DeliveryErrorCode.NOT_PROJECT_MANAGER,
                                   f"Only the project's manager may {what}.")


def require_open(project: Project) -> None:
    if project.is_closed:
        raise ValidationFailed.one("projectId", DeliveryErrorCode.PROJECT_CLOSED,
                                   f"Project {project.number} is closed.")


async def list_projects(session: AsyncSession, actor: Actor, flt: ProjectFilter, req: PageRequest, *,
                        sort: str = "CREATED_AT", with_total: bool = False) -> Page[Project]:
    return await paginate(session, filtered_projects(session, actor, flt), entity=Project,
                          sort=PROJECT_SORTS[sort], req=req, with_total=with_total)


def filtered_projects(session: AsyncSession, actor: Actor, flt: ProjectFilter) -> Any:
    """The projects the actor may see that pass the filter (a select, unordered)."""
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
    return listed(stmt, Project, flt.archived)


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


async def project_for_opportunity(session: AsyncSession, org_id: int, opportunity_id: int) -> Project | None:
    return await session.scalar(select(Project).where(Project.org_id == org_id,
                                                      Project.opportunity_id == opportunity_id))


async def share_origin(session: AsyncSession, actor: Actor, project: Project, manager_id: int) -> None:
    """The project's manager reads the customer and the deal the project came from."""
    for record_type, record_id in (("Customer", project.customer_id), ("Opportunity", project.opportunity_id)):
        if record_id is None or await session.scalar(select(RecordShare.id).where(
                RecordShare.org_id == project.org_id, RecordShare.record_type == record_type,
                RecordShare.record_id == record_id, RecordShare.user_id == manager_id).limit(1)):
            continue
        session.add(RecordShare(org_id=project.org_id, record_type=record_type, record_id=record_id,
                                user_id=manager_id, team_id=None, shared_by_id=actor.user_id, created_at=clock.now()))


def calendar_of(project: Project) -> WorkCalendar:
    return WorkCalendar(project.start_date, project.weekend_days, [date.fromisoformat(d) for d in project.holidays])


def add_working_days(project: Project, day: date, days: int) -> date:
    cal = calendar_of(project)
    return cal.date_of(cal.index_of(day) + days) if days else day


def _announce_handover(session: AsyncSession, actor: Actor | None, event: UserDeactivated,
                       key: str) -> Callable[[Project], Awaitable[None]]:
    async def announce(project: Project) -> None:
        await add_member(session, project, project.manager_id if key == "managerId" else project.sales_owner_id)
        project.version += 1
        successor = event.successor_id
        project_event(session, actor, project, "project.reassigned", audience=[successor] if successor else None,
                      **{key: successor, "previous" + key[0].upper() + key[1:]: event.user_id})
    return announce


@handles(UserDeactivated)
async def _hand_over_projects(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    """Open projects the leaving user manages: the successor manages them and joins their members."""
    return await hand_over(session, actor, event, Project, "manager_id", Project.status.in_(OPEN_STATUSES),
                           record_type="Project", announce=_announce_handover(session, actor, event, "managerId"))


@handles(UserDeactivated)
async def _hand_over_sales_ownership(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    return await hand_over(session, actor, event, Project, "sales_owner_id", Project.status.in_(OPEN_STATUSES),
                           record_type="Project",
                           announce=_announce_handover(session, actor, event, "salesOwnerId"))
