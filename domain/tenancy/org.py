"""Orgs (tenants) and teams."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk, utcnow
from ..shared.bus import dispatch
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import record_event
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
    """A new tenant (the areas that react to ``OrgCreated`` set it up: the default pipeline, the built-in
    workflow rules)."""
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


async def new_team(session: AsyncSession, actor: Actor, name: str) -> Team:
    """A team of the actor's org (an admin's act); names are unique in an org."""
    v = Validator()
    cleaned = v.text("name", name, max_len=100, required=True)
    v.raise_if_any()
    if await session.scalar(select(Team.id).where(Team.org_id == actor.org_id, Team.name == cleaned)) is not None:
        raise ValidationFailed.one("name", SharedErrorCode.DUPLICATE, "the org has a team of that name")
    team = await create_team(session, actor.org_id, cleaned or "")
    record_event(session, actor, org_id=actor.org_id, topic="team.created", record_type="Team",
                 record_id=team.id, operation="create", payload={"name": team.name})
    return team


async def org_teams(session: AsyncSession, org_id: int) -> list[Team]:
    return list(await session.scalars(select(Team).where(Team.org_id == org_id).order_by(Team.name, Team.id)))


async def teams_by_ids(session: AsyncSession, org_id: int, ids: list[int]) -> dict[int, Team]:
    rows = await session.scalars(select(Team).where(Team.org_id == org_id, Team.id.in_(ids)))
    return {t.id: t for t in rows}
