"""Opportunities: a deal moving through the org's pipeline, with every stage change recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.archive import Archivable, listed
from ..shared.base import Base, IdType, pk
from ..shared.bus import dispatch, handles
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.dialect import contains_text
from ..shared.errors import FieldError, NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.money import check_amount, check_currency, quantize
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate, paginate_many
from ..shared.references import referenced
from ..shared.rows import group_by
from ..tenancy.handover import UserDeactivated, hand_over
from ..tenancy.org import get_org
from ..tenancy.scope import owned_rows
from ..tenancy.user import get_user
from .competitor import competitors_named
from .custom_field import check_custom_fields
from .errors import PipelineErrorCode
from .events import NextStepSet, OpportunityCreated, OpportunityWon
from .lost_reason import lost_reason_named
from .stage import Pipeline, Stage, get_pipeline

MAX_MILESTONES = 50


class Opportunity(Archivable, Base):
    __tablename__ = "opportunity"
    __table_args__ = (
        Index("ix_opportunity_org_created", "org_id", "created_at", "id"),
        Index("ix_opportunity_org_stage", "org_id", "stage_key"),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(IdType, ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    pipeline_id: Mapped[int] = mapped_column(IdType, ForeignKey("pipeline.id"), index=True)
    stage_key: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    expected_close_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    probability: Mapped[int] = mapped_column(Integer)
    milestones: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    next_step: Mapped[str | None] = mapped_column(String(500), nullable=True)
    next_step_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """When the next step is due: its owner's follow-up (domain/automation/followup.py)."""
    lost_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    """The reason as text: what was written, or the label of ``lost_reason_id`` when only that was given."""
    lost_reason_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("lost_reason.id"), nullable=True)
    competitor_ids: Mapped[list[int]] = mapped_column(default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    project_manager_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    """Who will run the delivery project once it is won (else the least-loaded project manager)."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    stage_changed_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __mapper_args__ = {"version_id_col": version}

    def move_to(self, stage: Stage, *, by: Actor, at: datetime, lost_reason: str | None) -> OpportunityStageMoved:
        """Apply a stage move (no I/O) and return the event that records it."""
        if stage.key == self.stage_key:
            raise ValidationFailed.one("stage", PipelineErrorCode.STAGE_UNCHANGED,
                                       f"The opportunity is already in {stage.key!r}.")
        if missing := self.missing_for(stage):
            raise ValidationFailed(missing)
        reason = (lost_reason or "").strip()
        if stage.is_lost and not reason:
            raise ValidationFailed.one("lostReason", PipelineErrorCode.LOST_REASON_REQUIRED,
                                       "Moving an opportunity to a lost stage needs a reason.")
        if len(reason) > 500:
            raise ValidationFailed.one("lostReason", SharedErrorCode.TOO_LONG, "lostReason is at most 500 characters")
        old = self.stage_key
        self.stage_key = stage.key
        self.probability = stage.probability
        self.lost_reason = reason if stage.is_lost else None
        self.closed_at = at if stage.is_closed else None
        self.stage_changed_at = at
        self.updated_at = at
        return OpportunityStageMoved(self.id, old, stage.key, by.user_id, at, self.lost_reason)

    def missing_for(self, stage: Stage) -> list[FieldError]:
        """What the stage requires that this deal lacks (one STAGE_FIELDS_MISSING each)."""
        return stage.missing(self)


class OpportunityStageChange(Base):
    """One row per stage move: who moved it, when, from where to where (cycle-time analytics)."""

    __tablename__ = "opportunity_stage_change"
    __table_args__ = (Index("ix_stage_change_opportunity", "opportunity_id", "changed_at"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    opportunity_id: Mapped[int] = mapped_column(IdType, ForeignKey("opportunity.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(40), nullable=True)
    to_stage: Mapped[str] = mapped_column(String(40))
    changed_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    changed_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True)
class OpportunityStageMoved:
    opportunity_id: int
    from_stage: str | None
    to_stage: str
    by: int
    at: datetime
    lost_reason: str | None = None


@dataclass
class Milestone:
    name: str
    due_date: date | None = None
    done: bool = False


@dataclass
class OpportunityInput:
    customer_id: int | None = None
    name: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    stage: str | None = None
    lost_reason: str | None = None
    expected_close_date: date | None = None
    probability: int | None = None
    owner_id: int | None = None
    next_step: str | None = None
    next_step_at: datetime | None = None
    milestones: list[Milestone] | None = None
    custom_fields: dict[str, Any] | None = None
    project_manager_id: int | None = None
    pipeline_id: int | None = None
    lost_reason_id: int | None = None
    competitor_ids: list[int] | None = None
    set_fields: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class OpportunityFilter:
    stage: str | None = None
    owner_id: int | None = None
    customer_id: int | None = None
    search: str | None = None
    archived: bool | None = False
    """False: leave archived rows out (the default); True: only archived ones; None: both."""


OPPORTUNITY_SORTS = {
    "CREATED_AT": SortKey("CREATED_AT", Opportunity.created_at, datetime),
    "UPDATED_AT": SortKey("UPDATED_AT", Opportunity.updated_at, datetime),
    "NAME": SortKey("NAME", Opportunity.name, str),
    "AMOUNT": SortKey("AMOUNT", Opportunity.amount, Decimal),
    "EXPECTED_CLOSE_DATE": SortKey(
        "EXPECTED_CLOSE_DATE",
        func.coalesce(Opportunity.expected_close_date, literal(date(9999, 12, 31), Date)),
        date,
    ),
}


def _check_milestones(v: Validator, milestones: list[Milestone] | None) -> list[dict[str, Any]] | None:
    if milestones is None:
        return None
    if len(milestones) > MAX_MILESTONES:
        v.add("milestones", SharedErrorCode.INVALID, f"at most {MAX_MILESTONES} milestones")
    out = []
    for i, m in enumerate(milestones):
        name = v.under("milestones", str(i)).text("name", m.name, max_len=200, required=True)
        out.append({"name": name, "dueDate": m.due_date.isoformat() if m.due_date else None, "done": m.done})
    return out


def _check_probability(v: Validator, probability: int | None) -> int | None:
    if probability is not None and not 0 <= probability <= 100:
        v.add("probability", PipelineErrorCode.INVALID_PROBABILITY, "probability is a percentage from 0 to 100")
        return None
    return probability


def _stage(v: Validator, pipeline: Pipeline, key: str | None) -> Stage:
    if key is None:
        return pipeline.first
    stage = pipeline.get(key)
    if stage is None:
        v.add("stage", PipelineErrorCode.INVALID_STAGE,
              f"{key!r} is not a stage of this pipeline ({', '.join(pipeline.keys())})")
        return pipeline.first
    return stage


async def _check_owner(session: AsyncSession, actor: Actor, v: Validator, owner_id: int | None) -> None:
    if owner_id is None:
        return
    await get_user(session, actor.org_id, owner_id)  # NOT_FOUND for an unknown or foreign user


def opportunity_payload(o: Opportunity) -> dict[str, Any]:
    return {
        "id": o.id, "customerId": o.customer_id, "ownerId": o.owner_id, "name": o.name, "stage": o.stage_key,
        "amount": str(quantize(o.amount, o.currency)), "currency": o.currency,
        "expectedCloseDate": o.expected_close_date.isoformat() if o.expected_close_date else None,
        "probability": o.probability, "nextStep": o.next_step,
        "nextStepAt": o.next_step_at.isoformat() if o.next_step_at else None, "lostReason": o.lost_reason,
        "milestones": o.milestones, "customFields": o.custom_fields, "version": o.version,
        "pipelineId": o.pipeline_id, "lostReasonId": o.lost_reason_id, "competitorIds": list(o.competitor_ids or []),
    }


async def create_opportunity(session: AsyncSession, actor: Actor, data: OpportunityInput) -> Opportunity:
    if data.customer_id is None:
        raise ValidationFailed.one("customerId", SharedErrorCode.REQUIRED, "customerId is required")
    customer = await referenced(session, actor, "Customer", data.customer_id)
    org = await get_org(session, actor.org_id)
    pipeline = await get_pipeline(session, actor.org_id, data.pipeline_id)
    if not pipeline.complete:
        raise ValidationFailed.one("pipelineId", PipelineErrorCode.PIPELINE_INCOMPLETE,
                                   f"{pipeline.name} needs one won, one lost and an open stage before deals enter it")
    v = Validator()
    name = v.text("name", data.name, max_len=200, required=True)
    currency = check_currency(v, "currency", data.currency, org.default_currency)
    amount = check_amount(v, "amount", data.amount if data.amount is not None else Decimal(0), currency)
    stage = _stage(v, pipeline, data.stage)
    probability = _check_probability(v, data.probability)
    next_step = v.text("nextStep", data.next_step, max_len=500)
    _check_next_step_at(v, data.next_step_at)
    milestones = _check_milestones(v, data.milestones) or []
    await _check_owner(session, actor, v, data.owner_id)
    await _check_owner(session, actor, v, data.project_manager_id)
    custom = await check_custom_fields(session, actor.org_id, v, "opportunity", data.custom_fields)
    lost_reason = v.text("lostReason", data.lost_reason, max_len=500)
    reason = await lost_reason_named(session, actor, v, data.lost_reason_id)
    lost_reason = lost_reason or (reason.label if reason else None)
    if stage.is_lost and not lost_reason:
        v.add("lostReason", PipelineErrorCode.LOST_REASON_REQUIRED, "An opportunity created as lost needs a reason.")
    competitor_ids = await competitors_named(session, actor, v, data.competitor_ids)
    v.raise_if_any()
    now = clock.now()
    opportunity = Opportunity(
        org_id=actor.org_id, customer_id=customer.id, owner_id=data.owner_id or actor.user_id, name=name,
        stage_key=stage.key, amount=amount, currency=currency, expected_close_date=data.expected_close_date,
        probability=stage.probability if probability is None else probability, milestones=milestones,
        next_step=next_step or None, next_step_at=data.next_step_at,
        lost_reason=lost_reason if stage.is_lost else None, custom_fields=custom,
        project_manager_id=data.project_manager_id, pipeline_id=pipeline.id,
        lost_reason_id=reason.id if reason and stage.is_lost else None, competitor_ids=competitor_ids or [],
        created_at=now, updated_at=now, stage_changed_at=now, closed_at=now if stage.is_closed else None,
    )
    if missing := opportunity.missing_for(stage):
        raise ValidationFailed(missing)
    session.add(opportunity)
    await session.flush()
    session.add(OpportunityStageChange(org_id=actor.org_id, opportunity_id=opportunity.id, from_stage=None,
                                       to_stage=stage.key, changed_by_id=actor.user_id, changed_at=now))
    record_event(session, actor, org_id=actor.org_id, topic="opportunity.created", record_type="Opportunity",
                 record_id=opportunity.id, operation="create", payload=opportunity_payload(opportunity))
    await dispatch(session, actor, OpportunityCreated(actor.org_id, opportunity.id,
                                                      owner_given=data.owner_id is not None))
    if opportunity.next_step_at is not None:
        await dispatch(session, actor, _next_step_set(opportunity))
    if stage.is_won:
        await dispatch(session, actor, OpportunityWon(actor.org_id, opportunity.id))
    return opportunity


async def _load_for_write(session: AsyncSession, actor: Actor, opportunity_id: int, version: int) -> Opportunity:
    return await load_for_write(session, visible_opportunities(actor).where(Opportunity.id == opportunity_id),
                                type_name="Opportunity", record_id=opportunity_id, version=version)


async def update_opportunity(
    session: AsyncSession, actor: Actor, opportunity_id: int, version: int, data: OpportunityInput
) -> Opportunity:
    opportunity = await _load_for_write(session, actor, opportunity_id, version)
    v = Validator()
    named = data.set_fields
    changes: dict[str, Any] = {}
    if "name" in named:
        changes["name"] = v.text("name", data.name, max_len=200, required=True)
    currency = opportunity.currency
    if "currency" in named and data.currency is not None:
        currency = changes["currency"] = check_currency(v, "currency", data.currency, opportunity.currency)
    if "amount" in named:
        if data.amount is None:
            v.add("amount", SharedErrorCode.REQUIRED, "amount cannot be cleared; set 0 instead")
        else:
            changes["amount"] = check_amount(v, "amount", data.amount, currency)
    elif "currency" in named:
        changes["amount"] = check_amount(v, "amount", opportunity.amount, currency)
    if "expected_close_date" in named:
        changes["expected_close_date"] = data.expected_close_date
    if "probability" in named and data.probability is not None:
        changes["probability"] = _check_probability(v, data.probability)
    if "next_step" in named:
        changes["next_step"] = v.text("nextStep", data.next_step, max_len=500) or None
    if "next_step_at" in named:
        changes["next_step_at"] = _check_next_step_at(v, data.next_step_at)
    if "owner_id" in named and data.owner_id is not None:
        await _check_owner(session, actor, v, data.owner_id)
        changes["owner_id"] = data.owner_id
    if "project_manager_id" in named:
        await _check_owner(session, actor, v, data.project_manager_id)
        changes["project_manager_id"] = data.project_manager_id
    if "milestones" in named:
        changes["milestones"] = _check_milestones(v, data.milestones) or []
    if "competitor_ids" in named:
        changes["competitor_ids"] = await competitors_named(session, actor, v, data.competitor_ids or [])
    if "custom_fields" in named:
        changes["custom_fields"] = await check_custom_fields(
            session, actor.org_id, v, "opportunity", data.custom_fields, current=opportunity.custom_fields
        )
    v.raise_if_any()
    changed = {k: val for k, val in changes.items() if getattr(opportunity, k) != val}
    if not changed:
        return opportunity
    before = {k: getattr(opportunity, k) for k in changed}
    for key, value in changed.items():
        setattr(opportunity, key, value)
    opportunity.updated_at = clock.now()
    await flush_or_conflict(session, "Opportunity")
    record_event(session, actor, org_id=actor.org_id, topic="opportunity.updated", record_type="Opportunity",
                 record_id=opportunity.id, operation="update",
                 payload={"changes": {k: [_plain(before[k], currency), _plain(val, currency)]
                                      for k, val in changed.items()},
                          "version": opportunity.version})
    if changed.keys() & {"next_step", "next_step_at", "owner_id"} and (
            opportunity.next_step_at is not None or "next_step_at" in changed):
        await dispatch(session, actor, _next_step_set(opportunity))
    return opportunity


def _check_next_step_at(v: Validator, at: datetime | None) -> datetime | None:
    if at is not None and at.tzinfo is None:
        v.add("nextStepAt", SharedErrorCode.INVALID, "nextStepAt needs a time zone offset")
    return at


def _next_step_set(o: Opportunity) -> NextStepSet:
    return NextStepSet(org_id=o.org_id, opportunity_id=o.id, owner_id=o.owner_id, next_step=o.next_step,
                       next_step_at=o.next_step_at)


def _plain(value: Any, currency: str) -> Any:
    if isinstance(value, Decimal):
        return str(quantize(value, currency))
    if isinstance(value, date):
        return value.isoformat()
    return value


async def move_opportunity_stage(
    session: AsyncSession, actor: Actor, opportunity_id: int, version: int, stage_key: str,
    lost_reason: str | None = None, lost_reason_id: int | None = None,
) -> Opportunity:
    opportunity = await _load_for_write(session, actor, opportunity_id, version)
    pipeline = await get_pipeline(session, actor.org_id, opportunity.pipeline_id)
    stage = pipeline.get(stage_key)
    if stage is None:
        raise ValidationFailed.one("stage", PipelineErrorCode.INVALID_STAGE,
                                   f"{stage_key!r} is not a stage of this pipeline ({', '.join(pipeline.keys())})")
    v = Validator()
    reason = await lost_reason_named(session, actor, v, lost_reason_id)
    v.raise_if_any()
    if reason is not None and not (lost_reason or "").strip():
        lost_reason = reason.label
    moved = opportunity.move_to(stage, by=actor, at=clock.now(), lost_reason=lost_reason)
    opportunity.lost_reason_id = reason.id if reason is not None and stage.is_lost else None
    await flush_or_conflict(session, "Opportunity")
    session.add(OpportunityStageChange(org_id=actor.org_id, opportunity_id=opportunity.id,
                                       from_stage=moved.from_stage, to_stage=moved.to_stage,
                                       changed_by_id=actor.user_id, changed_at=moved.at, note=moved.lost_reason))
    record_event(session, actor, org_id=actor.org_id, topic="opportunity.stage_moved", record_type="Opportunity",
                 record_id=opportunity.id, operation="update",
                 payload={"from": moved.from_stage, "to": moved.to_stage, "lostReason": moved.lost_reason,
                          "lostReasonId": opportunity.lost_reason_id,
                          "probability": opportunity.probability, "version": opportunity.version})
    if stage.is_won:
        await dispatch(session, actor, OpportunityWon(actor.org_id, opportunity.id))
    return opportunity


def visible_opportunities(actor: Actor) -> Any:
    stmt = select(Opportunity).where(Opportunity.org_id == actor.org_id)
    scope = owned_rows(actor, "Opportunity", Opportunity)
    return stmt if scope is None else stmt.where(scope)


async def get_opportunity(session: AsyncSession, actor: Actor, opportunity_id: int) -> Opportunity:
    found = await session.scalar(visible_opportunities(actor).where(Opportunity.id == opportunity_id))
    if found is None:
        raise NotFound("Opportunity", opportunity_id)
    return found


async def opportunities_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Opportunity]:
    rows = await session.scalars(visible_opportunities(actor).where(Opportunity.id.in_(ids)))
    return {o.id: o for o in rows}


def filtered_opportunities(session: AsyncSession, actor: Actor, flt: OpportunityFilter) -> Any:
    """The opportunities the actor may see that pass the filter (a select, unordered)."""
    stmt = visible_opportunities(actor)
    if flt.stage:
        stmt = stmt.where(Opportunity.stage_key == flt.stage)
    if flt.owner_id is not None:
        stmt = stmt.where(Opportunity.owner_id == flt.owner_id)
    if flt.customer_id is not None:
        stmt = stmt.where(Opportunity.customer_id == flt.customer_id)
    if flt.search:
        stmt = stmt.where(contains_text(session, Opportunity.name, flt.search.strip()))
    return listed(stmt, Opportunity, flt.archived)


async def list_opportunities(
    session: AsyncSession, actor: Actor, flt: OpportunityFilter, req: PageRequest,
    *, sort: str = "CREATED_AT", with_total: bool = False,
) -> Page[Opportunity]:
    return await paginate(session, filtered_opportunities(session, actor, flt), entity=Opportunity,
                          sort=OPPORTUNITY_SORTS[sort], req=req, with_total=with_total)


async def opportunities_of_customers(
    session: AsyncSession, actor: Actor, customer_ids: list[int], req: PageRequest, *, with_total: bool = False,
) -> dict[int, Page[Opportunity]]:
    return await paginate_many(session, listed(visible_opportunities(actor), Opportunity, False), entity=Opportunity,
                               parent_col=Opportunity.customer_id, parent_ids=customer_ids,
                               sort=OPPORTUNITY_SORTS["CREATED_AT"], req=req, with_total=with_total)


async def stage_history_of(
    session: AsyncSession, actor: Actor, opportunity_ids: list[int]
) -> dict[int, list[OpportunityStageChange]]:
    stmt = select(OpportunityStageChange).where(
        OpportunityStageChange.org_id == actor.org_id, OpportunityStageChange.opportunity_id.in_(opportunity_ids)
    )
    scope = owned_rows(actor, "Opportunity", Opportunity)
    if scope is not None:
        visible = select(Opportunity.id).where(Opportunity.org_id == actor.org_id, scope)
        stmt = stmt.where(OpportunityStageChange.opportunity_id.in_(visible))
    rows = await session.scalars(stmt.order_by(OpportunityStageChange.changed_at, OpportunityStageChange.id))
    return group_by(opportunity_ids, rows, lambda r: r.opportunity_id)


@handles(UserDeactivated)
async def _hand_over_opportunities(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    return await hand_over(session, actor, event, Opportunity, "owner_id", Opportunity.closed_at.is_(None),
                           record_type="Opportunity", topic="opportunity.reassigned")


@handles(UserDeactivated)
async def _hand_over_deliveries(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    """Open opportunities the leaving user was to run the delivery of."""
    return await hand_over(session, actor, event, Opportunity, "project_manager_id", Opportunity.closed_at.is_(None),
                           record_type="Opportunity", topic="opportunity.reassigned")
