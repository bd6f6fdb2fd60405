"""Competitors the org meets in its deals: records an opportunity refers to (``competitor_ids``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk, utcnow
from ..shared.errors import SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import record_event
from ..shared.text import text_key
from .errors import PipelineErrorCode


class Competitor(Base):
    __tablename__ = "competitor"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def competitor_payload(c: Competitor) -> dict:
    return {"id": c.id, "name": c.name, "website": c.website}


async def create_competitor(session: AsyncSession, actor: Actor, *, name: str, website: str | None) -> Competitor:
    v = Validator()
    name = v.text("name", name, max_len=200, required=True) or ""
    website = v.text("website", website, max_len=300) or None
    if website and not website.lower().startswith(("http://", "https://")):
        v.add("website", SharedErrorCode.INVALID, "website is an http(s) address")
    v.raise_if_any()
    rows = await session.scalars(select(Competitor).where(Competitor.org_id == actor.org_id))
    wanted = text_key(name)
    if any(text_key(c.name) == wanted for c in rows):
        raise ValidationFailed.one("name", PipelineErrorCode.COMPETITOR_EXISTS, f"{name!r} is a competitor already")
    competitor = Competitor(org_id=actor.org_id, name=name, website=website, created_at=utcnow())
    session.add(competitor)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="competitor.created", record_type="Competitor",
                 record_id=competitor.id, operation="create", payload=competitor_payload(competitor))
    return competitor


async def list_competitors(session: AsyncSession, org_id: int) -> list[Competitor]:
    return list(await session.scalars(select(Competitor).where(Competitor.org_id == org_id)
                                      .order_by(Competitor.name, Competitor.id)))


async def competitors_named(session: AsyncSession, actor: Actor, v: Validator,
                            ids: list[int] | None) -> list[int] | None:
    """The ids given, once each in order (None when not given); UNKNOWN_COMPETITOR for any not the org's."""
    if ids is None:
        return None
    wanted = list(dict.fromkeys(ids))
    found = await competitors_by_ids(session, actor, wanted)
    for i, competitor_id in enumerate(wanted):
        if competitor_id not in found:
            v.add(("competitorIds", str(i)), PipelineErrorCode.UNKNOWN_COMPETITOR, "No such competitor in your org")
    return wanted


async def competitors_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Competitor]:
    rows = await session.scalars(select(Competitor).where(Competitor.org_id == actor.org_id, Competitor.id.in_(ids)))
    return {c.id: c for c in rows}
