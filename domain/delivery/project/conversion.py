"""A won opportunity becomes a delivery project, in the same transaction, once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...contracts.contract import Contract, ContractStatus
from ...pipeline.events import OpportunityWon
from ...pipeline.opportunity import Opportunity
from ...shared.actor import Actor
from ...shared.bus import dispatch, handles
from ...shared.clock import clock
from ...shared.numbering import next_number
from ...tenancy.user import User
from ..calendar import DEFAULT_WEEKEND
from ..events import ProjectCreated
from .model import (
    DEFAULT_CHANGE_THRESHOLD,
    DEFAULT_COST_MARGIN,
    DEFAULT_SPI_THRESHOLD,
    OPEN_STATUSES,
    Health,
    Project,
    ProjectMember,
    ProjectStatus,
    project_for_opportunity,
    share_origin,
)
from .template import matching_template


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


async def convert_won_opportunity(session: AsyncSession, actor: Actor, opportunity: Any) -> Project:
    """The opportunity just moved to won: its project (new, or the one it already has)."""
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
    await share_origin(session, actor, project, manager_id)
    await dispatch(session, actor, ProjectCreated(project.org_id, project.id, template.id if template else None))
    return project


@handles(OpportunityWon)
async def _deliver_won_deal(session: AsyncSession, actor: Actor | None, event: OpportunityWon) -> None:
    """A won deal becomes a delivery project, in the same transaction (once per opportunity)."""
    assert actor is not None, "an opportunity is won by someone"
    opportunity = await session.get(Opportunity, event.opportunity_id)
    assert opportunity is not None
    await convert_won_opportunity(session, actor, opportunity)
