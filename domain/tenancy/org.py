"""Orgs (tenants) and teams."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.base import Base, IdType, pk, utcnow
from ..shared.bus import dispatch
from ..shared.errors import NotFound
from .events import OrgCreated


class Org(Base):
    __tablename__ = "org"

    id: Mapped[int] = pk()
    name: Mapped[str] = mapped_column(String(200))
    default_currency: Mapped[str] = mapped_column(String(3), default="CNY")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(Base):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))


async def create_org(session: AsyncSession, name: str, default_currency: str = "CNY") -> Org:
    """A new tenant (the areas that react to ``OrgCreated`` set it up: the default pipeline)."""
    org = Org(name=name, default_currency=default_currency)
    session.add(org)
    await session.flush()
    await dispatch(session, None, OrgCreated(org.id))
    return org


async def get_org(session: AsyncSession, org_id: int) -> Org:
    org = await session.get(Org, org_id)
    if org is None:
        raise NotFound("Org", org_id)
    return org


async def create_team(session: AsyncSession, org_id: int, name: str) -> Team:
    team = Team(org_id=org_id, name=name)
    session.add(team)
    await session.flush()
    return team


async def teams_by_ids(session: AsyncSession, org_id: int, ids: list[int]) -> dict[int, Team]:
    rows = await session.scalars(select(Team).where(Team.org_id == org_id, Team.id.in_(ids)))
    return {t.id: t for t in rows}
