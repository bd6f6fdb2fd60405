"""Records shared explicitly with a user or a team, widening their row scope for that record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed
from ..shared.outbox import record_event
from .org import Team
from .user import get_user


class RecordShare(Base):
    """A record shared explicitly with a user or a team, widening their scope for that record."""

    __tablename__ = "record_share"
    __table_args__ = (Index("ix_record_share_lookup", "org_id", "record_type", "user_id", "team_id"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id", ondelete="CASCADE"),
                                                nullable=True)
    team_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("team.id", ondelete="CASCADE"), nullable=True)
    shared_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    created_at: Mapped[datetime]


async def share_record(session: AsyncSession, actor: Actor, *, record_type: str, record_id: int,
                       user_id: int | None, team_id: int | None) -> RecordShare:
    """Share a record the actor can see with a user or a team of the same org."""
    if (user_id is None) == (team_id is None):
        raise ValidationFailed.one("userId", SharedErrorCode.REQUIRED, "share with exactly one of userId or teamId")
    if user_id is not None:
        await get_user(session, actor.org_id, user_id)
    else:
        team = await session.get(Team, team_id)
        if team is None or team.org_id != actor.org_id:
            raise NotFound("Team", team_id)
    existing = await session.scalar(select(RecordShare).where(
        RecordShare.org_id == actor.org_id, RecordShare.record_type == record_type,
        RecordShare.record_id == record_id, RecordShare.user_id.is_(None) if user_id is None
        else RecordShare.user_id == user_id, RecordShare.team_id.is_(None) if team_id is None
        else RecordShare.team_id == team_id))
    if existing is not None:
        return existing
    share = RecordShare(org_id=actor.org_id, record_type=record_type, record_id=record_id, user_id=user_id,
                        team_id=team_id, shared_by_id=actor.user_id, created_at=clock.now())
    session.add(share)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="record.shared", record_type=record_type,
                 record_id=record_id, operation="update", payload={"userId": user_id, "teamId": team_id})
    return share
