"""Row scope in SQL: the WHERE clause limiting a type's rows to what an actor may see, from their
scope (domain/shared/scope.py), the management chain below them and the records shared with them."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import false, or_, select

from ..shared.actor import Actor
from ..shared.scope import Scope
from .sharing import RecordShare
from .user import User


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
