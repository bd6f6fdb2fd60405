"""Per-org configurable pipeline: ordered stages with default probability and won/closed flags."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.bus import handles
from ..tenancy.events import OrgCreated


class PipelineStage(Base):
    __tablename__ = "pipeline_stage"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    probability: Mapped[int] = mapped_column(Integer)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    probability: int
    is_won: bool
    is_closed: bool

    @property
    def is_lost(self) -> bool:
        return self.is_closed and not self.is_won


DEFAULT_STAGES = (
    Stage("initial_contact", "初步接触", 10, False, False),
    Stage("proposal", "方案报价", 40, False, False),
    Stage("negotiation", "谈判中", 70, False, False),
    Stage("won", "已签约", 100, True, True),
    Stage("lost", "输单", 0, False, True),
)


class Pipeline:
    """An org's stages in order, looked up by key."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages
        self._by_key = {s.key: s for s in stages}

    def get(self, key: str) -> Stage | None:
        return self._by_key.get(key)

    @property
    def first(self) -> Stage:
        return self.stages[0]

    def keys(self) -> list[str]:
        return [s.key for s in self.stages]


async def seed_default_pipeline(session: AsyncSession, org_id: int) -> None:
    for position, stage in enumerate(DEFAULT_STAGES):
        session.add(
            PipelineStage(
                org_id=org_id,
                key=stage.key,
                label=stage.label,
                position=position,
                probability=stage.probability,
                is_won=stage.is_won,
                is_closed=stage.is_closed,
            )
        )
    await session.flush()


@handles(OrgCreated)
async def _seed_new_org(session: AsyncSession, actor: Actor | None, event: OrgCreated) -> None:
    await seed_default_pipeline(session, event.org_id)


async def get_pipeline(session: AsyncSession, org_id: int) -> Pipeline:
    rows = await session.scalars(
        select(PipelineStage).where(PipelineStage.org_id == org_id).order_by(PipelineStage.position)
    )
    return Pipeline(
        [Stage(r.key, r.label, r.probability, r.is_won, r.is_closed) for r in rows]
    )
