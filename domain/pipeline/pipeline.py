"""The admin's configuration of pipelines: one per business line, each with ordered stages (default
probability, won/lost flags, fields required to enter). Deals keep working while stages change: a deal
names its stage by key in its own pipeline, so relabelling or reordering touches no deal, a stage's
won/lost nature cannot change under deals, and a stage with deals leaves only with a stage to move them to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..shared.actor import Actor
from ..shared.base import utcnow
from ..shared.clock import clock
from ..shared.errors import FieldError, ValidationFailed, Validator
from ..shared.outbox import record_event
from .custom_field import definitions_for
from .errors import PipelineErrorCode
from .opportunity import Opportunity, OpportunityStageChange
from .stage import (
    CUSTOM_FIELD_PREFIX,
    REQUIRABLE_FIELDS,
    PipelineStage,
    SalesPipeline,
    Stage,
    pipeline_row,
    stage_rows,
)

KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_STAGES = 30


@dataclass(frozen=True)
class StageDefinition:
    pipeline_id: int
    key: str
    label: str
    order: int
    default_probability: int
    is_won: bool = False
    is_lost: bool = False
    required_fields: tuple[str, ...] = ()


def pipeline_payload(p: SalesPipeline) -> dict[str, Any]:
    return {"id": p.id, "key": p.key, "name": p.name, "isDefault": p.is_default}


def stage_payload(s: PipelineStage) -> dict[str, Any]:
    return {"key": s.key, "label": s.label, "order": s.position + 1, "defaultProbability": s.probability,
            "isWon": s.is_won, "isLost": s.is_closed and not s.is_won, "requiredFields": list(s.required_fields)}


def _slug(name: str) -> str | None:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40]
    return slug if slug and KEY.fullmatch(slug) else None


async def create_pipeline(session: AsyncSession, actor: Actor, *, name: str, key: str | None,
                          is_default: bool = False) -> SalesPipeline:
    """A new pipeline, without stages yet (deals enter it once it has an open, a won and a lost stage)."""
    v = Validator()
    name = v.text("name", name, max_len=100, required=True) or ""
    key = (key or "").strip() or None
    if key is not None and not KEY.fullmatch(key):
        v.add("key", PipelineErrorCode.INVALID_CONFIG_KEY, "key is lower-case letters, digits and _ (at most 40)")
    v.raise_if_any()
    taken = set(await session.scalars(select(SalesPipeline.key).where(SalesPipeline.org_id == actor.org_id)))
    if key is None:
        base = _slug(name) or "pipeline"
        key, n = base, 1
        while key in taken:
            n += 1
            key = f"{base[:36]}_{n}"
    elif key in taken:
        raise ValidationFailed.one("key", PipelineErrorCode.CONFIG_KEY_TAKEN, f"a pipeline is keyed {key!r} already")
    if is_default:
        await session.execute(update(SalesPipeline).where(SalesPipeline.org_id == actor.org_id)
                              .values(is_default=False))
    pipeline = SalesPipeline(org_id=actor.org_id, key=key, name=name, is_default=is_default, created_at=utcnow())
    session.add(pipeline)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="pipeline.created", record_type="Pipeline",
                 record_id=pipeline.id, operation="create", payload=pipeline_payload(pipeline))
    return pipeline


async def list_pipelines(session: AsyncSession, org_id: int) -> list[tuple[SalesPipeline, list[PipelineStage]]]:
    """The org's pipelines (the default first), each with its stages in order."""
    pipelines = list(await session.scalars(select(SalesPipeline).where(SalesPipeline.org_id == org_id)
                                           .order_by(SalesPipeline.is_default.desc(), SalesPipeline.id)))
    stages = await stage_rows(session, org_id, [p.id for p in pipelines])
    return [(p, [s for s in stages if s.pipeline_id == p.id]) for p in pipelines]


async def pipeline_with_stages(session: AsyncSession, org_id: int,
                               pipeline_id: int | None) -> tuple[SalesPipeline, list[PipelineStage]]:
    pipeline = await pipeline_row(session, org_id, pipeline_id)
    return pipeline, await stage_rows(session, org_id, [pipeline.id])


async def _deals_in(session: AsyncSession, pipeline_id: int, key: str) -> int:
    return await session.scalar(select(func.count()).select_from(Opportunity).where(
        Opportunity.pipeline_id == pipeline_id, Opportunity.stage_key == key)) or 0


async def _check_required(session: AsyncSession, org_id: int, v: Validator, names: tuple[str, ...]) -> list[str]:
    custom = await definitions_for(session, org_id, "opportunity")
    out: list[str] = []
    for i, name in enumerate(names):
        name = (name or "").strip()
        known = (name in REQUIRABLE_FIELDS or
                 (name.startswith(CUSTOM_FIELD_PREFIX) and name[len(CUSTOM_FIELD_PREFIX):] in custom))
        if not known:
            v.add(("requiredFields", str(i)), PipelineErrorCode.UNKNOWN_REQUIRED_FIELD,
                  f"{name!r} is not a field a stage can require ({', '.join(sorted(REQUIRABLE_FIELDS))} or "
                  f"customFields.<key> of an opportunity custom field)")
        elif name not in out:
            out.append(name)
    return out


async def define_pipeline_stage(session: AsyncSession, actor: Actor, d: StageDefinition) -> PipelineStage:
    """Create the stage ``d.key`` of the pipeline or change it (label, order, default probability, required
    fields; its won/lost flags only while no deal is in it). ``order`` is its 1-based place: the others move
    up or down to make room. A pipeline has at most one won and one lost stage."""
    pipeline, stages = await pipeline_with_stages(session, actor.org_id, d.pipeline_id)
    v = Validator()
    key = (d.key or "").strip()
    if not KEY.fullmatch(key):
        v.add("key", PipelineErrorCode.INVALID_CONFIG_KEY, "key is lower-case letters, digits and _ (at most 40)")
    label = v.text("label", d.label, max_len=100, required=True) or ""
    if not 0 <= d.default_probability <= 100:
        v.add("defaultProbability", PipelineErrorCode.INVALID_PROBABILITY, "a percentage from 0 to 100")
    if d.is_won and d.is_lost:
        v.add("isLost", PipelineErrorCode.INVALID_STAGE_FLAGS, "a stage is won or lost, not both")
    if d.order < 1:
        v.add("order", PipelineErrorCode.INVALID_STAGE_ORDER, "order is the stage's place, from 1")
    required = await _check_required(session, actor.org_id, v, d.required_fields)
    others = [s for s in stages if s.key != key]
    found = next((s for s in stages if s.key == key), None)
    if found is None and len(stages) >= MAX_STAGES:
        v.add("key", PipelineErrorCode.INVALID_STAGE_ORDER, f"a pipeline has at most {MAX_STAGES} stages")
    if d.is_won and any(s.is_won for s in others):
        won = next(s for s in others if s.is_won)
        v.add("isWon", PipelineErrorCode.DUPLICATE_WON_STAGE, f"{won.label} ({won.key}) is this pipeline's won stage")
    if d.is_lost and any(s.is_closed and not s.is_won for s in others):
        lost = next(s for s in others if s.is_closed and not s.is_won)
        v.add("isLost", PipelineErrorCode.DUPLICATE_LOST_STAGE,
              f"{lost.label} ({lost.key}) is this pipeline's lost stage")
    v.raise_if_any()
    is_closed = d.is_won or d.is_lost
    if found is not None and (found.is_won, found.is_closed) != (d.is_won, is_closed):
        deals = await _deals_in(session, pipeline.id, key)
        if deals:
            raise ValidationFailed.one("isWon" if d.is_won or found.is_won else "isLost",
                                       PipelineErrorCode.STAGE_IN_USE,
                                       f"{deals} deal(s) are in {found.label}: its won/lost nature cannot change "
                                       "under them")
    stage = found or PipelineStage(org_id=actor.org_id, pipeline_id=pipeline.id, key=key)
    stage.label, stage.probability, stage.is_won, stage.is_closed = label, d.default_probability, d.is_won, is_closed
    stage.required_fields = required
    ordered = [s for s in stages if s is not found]
    ordered.insert(min(d.order, len(ordered) + 1) - 1, stage)
    for position, s in enumerate(ordered):
        s.position = position
    session.add(stage)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="pipeline.stage_defined", record_type="Pipeline",
                 record_id=pipeline.id, operation="update",
                 payload={**pipeline_payload(pipeline), "stage": stage_payload(stage)})
    return stage


async def remove_pipeline_stage(session: AsyncSession, actor: Actor, *, pipeline_id: int, key: str,
                                move_to: str | None) -> SalesPipeline:
    """Remove a stage. Its deals, if any, move to ``move_to`` (a stage of the same pipeline and the same
    nature: open, won or lost); without one a stage with deals stays. The won and lost stages stay."""
    pipeline, stages = await pipeline_with_stages(session, actor.org_id, pipeline_id)
    stage = next((s for s in stages if s.key == key), None)
    if stage is None:
        raise ValidationFailed.one("key", PipelineErrorCode.INVALID_STAGE, f"{key!r} is not a stage of this pipeline")
    if stage.is_closed:
        raise ValidationFailed.one("key", PipelineErrorCode.CLOSING_STAGE_NEEDED,
                                   "a pipeline keeps its won and lost stages (redefine them instead)")
    deals = list(await session.scalars(select(Opportunity).where(
        Opportunity.org_id == actor.org_id, Opportunity.pipeline_id == pipeline.id, Opportunity.stage_key == key)
        .order_by(Opportunity.id)))
    target = next((s for s in stages if s.key == move_to and s is not stage), None) if move_to else None
    if deals and target is None:
        field: tuple[str, ...] = ("moveToStage",)
        if move_to is None:
            raise ValidationFailed([FieldError(field, PipelineErrorCode.STAGE_IN_USE,
                                               f"{len(deals)} deal(s) are in {stage.label}: name a stage to move "
                                               "them to")])
        raise ValidationFailed.one(field, PipelineErrorCode.INVALID_STAGE,
                                   f"{move_to!r} is not another stage of this pipeline")
    if target is not None and target.is_closed:
        raise ValidationFailed.one("moveToStage", PipelineErrorCode.INVALID_STAGE,
                                   "deals of an open stage move to another open stage")
    now = clock.now()
    moved = Stage.of(target) if target is not None else None
    for deal in deals:
        assert moved is not None
        deal.stage_key = moved.key
        deal.stage_changed_at = deal.updated_at = now
        session.add(OpportunityStageChange(org_id=actor.org_id, opportunity_id=deal.id, from_stage=key,
                                           to_stage=moved.key, changed_by_id=actor.user_id, changed_at=now,
                                           note=f"{stage.label} removed"))
    await session.flush()
    for deal in deals:
        record_event(session, actor, org_id=actor.org_id, topic="opportunity.stage_moved", record_type="Opportunity",
                     record_id=deal.id, operation="update",
                     payload={"from": key, "to": deal.stage_key, "lostReason": None, "lostReasonId": None,
                              "probability": deal.probability, "version": deal.version})
    await session.delete(stage)
    for position, s in enumerate(s for s in stages if s is not stage):
        s.position = position
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="pipeline.stage_removed", record_type="Pipeline",
                 record_id=pipeline.id, operation="update",
                 payload={**pipeline_payload(pipeline), "stageKey": key, "movedTo": move_to if deals else None,
                          "dealsMoved": len(deals)})
    return pipeline
