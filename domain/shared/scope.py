"""Row scope: which rows of a type an actor may see, compiled into the SQL WHERE.

own  - rows the actor owns;
team - rows owned by the actor or anyone below them in the management chain (any depth);
org  - every row of the org;
none - no rows.
Rows shared explicitly with the actor (or their team) are visible on top of any scope.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, false, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdType, pk

if TYPE_CHECKING:
    from .actor import Actor


class Scope(StrEnum):
    NONE = "none"
    OWN = "own"
    TEAM = "team"
    ORG = "org"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Scope.NONE: 0, Scope.OWN: 1, Scope.TEAM: 2, Scope.ORG: 3}


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


def chain_below(actor: Actor) -> Any:
    """Ids of the actor and everyone below them in the management chain (recursive, any depth)."""
    return _chain_below(actor.user_id, actor.org_id)


def shared_with(actor: Actor, record_type: str) -> Any:
    return _shared_with(actor.user_id, actor.org_id, actor.team_id, record_type)


def owned_rows(actor: Actor, record_type: str, model: Any) -> Any:
    """The WHERE clause limiting ``model`` (which has ``owner_id``) to the actor's scope, or None."""
    scope = actor.scope(record_type)
    if scope is Scope.ORG:
        return None
    return _owned_rows(scope, actor.user_id, actor.org_id, actor.team_id, record_type, model)


# The clauses are built once per (scope, actor, type) and reused: SQLAlchemy clauses are immutable, and
# the database evaluates the chain and the shares in every statement, so a reused clause is always current
# (a new manager or a new share counts from the next statement). One chain object per actor also lets a
# statement scope several types by the same chain.


@lru_cache(maxsize=1024)
def _chain_below(user_id: int, org_id: int) -> Any:
    from ..tenancy.user import User

    chain = (
        select(User.id.label("id"))
        .where(User.id == user_id, User.org_id == org_id)
        .cte("chain", recursive=True)
    )
    chain = chain.union_all(
        select(User.id).where(User.manager_id == chain.c.id, User.org_id == org_id)
    )
    return select(chain.c.id)


@lru_cache(maxsize=1024)
def _shared_with(user_id: int, org_id: int, team_id: int | None, record_type: str) -> Any:
    who = RecordShare.user_id == user_id
    if team_id is not None:
        who = or_(who, RecordShare.team_id == team_id)
    return select(RecordShare.record_id).where(
        RecordShare.org_id == org_id, RecordShare.record_type == record_type, who
    )


@lru_cache(maxsize=4096)
def _owned_rows(scope: Scope, user_id: int, org_id: int, team_id: int | None, record_type: str, model: Any) -> Any:
    shared = model.id.in_(_shared_with(user_id, org_id, team_id, record_type))
    if scope is Scope.OWN:
        return or_(model.owner_id == user_id, shared)
    if scope is Scope.TEAM:
        return or_(model.owner_id.in_(_chain_below(user_id, org_id)), shared)
    return or_(false(), shared)


async def share_record(session: Any, actor: Actor, *, record_type: str, record_id: int,
                       user_id: int | None, team_id: int | None) -> RecordShare:
    """Share a record the actor can see with a user or a team of the same org."""
    from ..shared.clock import clock
    from ..shared.errors import FieldErrorCode, NotFound, ValidationFailed
    from ..shared.outbox import record_event
    from ..tenancy.org import Team
    from ..tenancy.user import get_user

    if (user_id is None) == (team_id is None):
        raise ValidationFailed.one("userId", FieldErrorCode.REQUIRED, "share with exactly one of userId or teamId")
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
