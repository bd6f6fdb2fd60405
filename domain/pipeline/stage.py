"""Per-org pipelines (one per business line, one of them the default) and their ordered stages: default
probability, won/lost flags and the fields a deal needs before it may enter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk, utcnow
from ..shared.bus import handles
from ..shared.errors import FieldError, NotFound
from ..tenancy.events import OrgCreated
from .errors import PipelineErrorCode

DEFAULT_PIPELINE_KEY = "default"


class SalesPipeline(Base):
    """A pipeline of the org (a business line's sales process); exactly one is the default."""

    __tablename__ = "pipeline"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PipelineStage(Base):
    __tablename__ = "pipeline_stage"
    __table_args__ = (UniqueConstraint("pipeline_id", "key"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    pipeline_id: Mapped[int] = mapped_column(IdType, ForeignKey("pipeline.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    probability: Mapped[int] = mapped_column(Integer)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    required_fields: Mapped[list[str]] = mapped_column(default=list)
    """Opportunity fields (``expectedCloseDate``, ``customFields.budgetCode``) a deal must have to enter."""


CUSTOM_FIELD_PREFIX = "customFields."

REQUIRABLE_FIELDS: dict[str, Callable[[Any], bool]] = {
    "amount": lambda o: o.amount is not None and o.amount != 0,
    "expectedCloseDate": lambda o: o.expected_close_date is not None,
    "nextStep": lambda o: bool(o.next_step),
    "projectManager": lambda o: o.project_manager_id is not None,
    "milestones": lambda o: bool(o.milestones),
    "competitors": lambda o: bool(o.competitor_ids),
}
"""Opportunity fields a stage may require before a deal enters it, each with its "is it filled in" (besides
``customFields.<key>`` of an opportunity custom field)."""


def _filled(deal: Any, name: str) -> bool:
    if name.startswith(CUSTOM_FIELD_PREFIX):
        return (deal.custom_fields or {}).get(name[len(CUSTOM_FIELD_PREFIX):]) not in (None, "", [])
    check = REQUIRABLE_FIELDS.get(name)
    return check(deal) if check is not None else True


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    probability: int
    is_won: bool
    is_closed: bool
    required_fields: tuple[str, ...] = ()

    @property
    def is_lost(self) -> bool:
        return self.is_closed and not self.is_won

    def missing(self, deal: Any) -> list[FieldError]:
        """What this stage requires that the deal lacks: one STAGE_FIELDS_MISSING per field, at the path the API
        names it by (``expectedCloseDate``, ``customFields.budgetCode``)."""
        return [FieldError(tuple(name.split(".")), PipelineErrorCode.STAGE_FIELDS_MISSING,
                           f"{self.label} ({self.key}) needs {name} filled in first")
                for name in self.required_fields if not _filled(deal, name)]

    @classmethod
    def of(cls, row: PipelineStage) -> Stage:
        return cls(row.key, row.label, row.probability, row.is_won, row.is_closed, tuple(row.required_fields or ()))


DEFAULT_STAGES = (
    Stage("initial_contact", "初步接触", 10, False, False),
    Stage("proposal", "方案报价", 40, False, False),
    Stage("negotiation", "谈判中", 70, False, False),
    Stage("won", "已签约", 100, True, True),
    Stage("lost", "输单", 0, False, True),
)


class Pipeline:
    """A pipeline's stages in order, looked up by key."""

    def __init__(self, stages: list[Stage], *, id: int | None = None, key: str = DEFAULT_PIPELINE_KEY,
                 name: str = "") -> None:
        self.id = id
        self.key = key
        self.name = name
        self.stages = stages
        self._by_key = {s.key: s for s in stages}

    def get(self, key: str) -> Stage | None:
        return self._by_key.get(key)

    @property
    def first(self) -> Stage:
        return self.stages[0]

    def keys(self) -> list[str]:
        return [s.key for s in self.stages]

    @property
    def complete(self) -> bool:
        """Deals can run through it: one won stage, one lost stage and at least one open stage."""
        return (sum(s.is_won for s in self.stages) == 1 and sum(s.is_lost for s in self.stages) == 1
                and any(not s.is_closed for s in self.stages))


async def seed_default_pipeline(session: AsyncSession, org_id: int) -> SalesPipeline:
    pipeline = SalesPipeline(org_id=org_id, key=DEFAULT_PIPELINE_KEY, name="默认销售流程", is_default=True,
                             created_at=utcnow())
    session.add(pipeline)
    await session.flush()
    for position, stage in enumerate(DEFAULT_STAGES):
        session.add(
            PipelineStage(
                org_id=org_id,
                pipeline_id=pipeline.id,
                key=stage.key,
                label=stage.label,
                position=position,
                probability=stage.probability,
                is_won=stage.is_won,
                is_closed=stage.is_closed,
                required_fields=[],
            )
        )
    await session.flush()
    return pipeline


@handles(OrgCreated)
async def _seed_new_org(session: AsyncSession, actor: Actor | None, event: OrgCreated) -> None:
    await seed_default_pipeline(session, event.org_id)


async def pipeline_row(session: AsyncSession, org_id: int, pipeline_id: int | None = None) -> SalesPipeline:
    """The org's pipeline ``pipeline_id`` (NOT_FOUND when it is none of the org's), or its default."""
    stmt = select(SalesPipeline).where(SalesPipeline.org_id == org_id)
    if pipeline_id is None:
        stmt = stmt.where(SalesPipeline.is_default.is_(True))
    else:
        stmt = stmt.where(SalesPipeline.id == pipeline_id)
    found = await session.scalar(stmt.limit(1))
    if found is None:
        raise NotFound("Pipeline", pipeline_id)
    return found


async def stage_rows(session: AsyncSession, org_id: int, pipeline_ids: list[int]) -> list[PipelineStage]:
    """The stages of these pipelines, each pipeline's in order."""
    return list(await session.scalars(
        select(PipelineStage).where(PipelineStage.org_id == org_id, PipelineStage.pipeline_id.in_(pipeline_ids))
        .order_by(PipelineStage.pipeline_id, PipelineStage.position, PipelineStage.id)
    ))


async def get_pipeline(session: AsyncSession, org_id: int, pipeline_id: int | None = None) -> Pipeline:
    """A pipeline of the org with its stages in order: ``pipeline_id``'s, or the default one."""
    row = await pipeline_row(session, org_id, pipeline_id)
    stages = await stage_rows(session, org_id, [row.id])
    return Pipeline([Stage.of(r) for r in stages], id=row.id, key=row.key, name=row.name)
