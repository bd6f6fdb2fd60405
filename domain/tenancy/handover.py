"""A leaving user's open work goes to a successor, and the user stops being able to sign in.

``deactivate_user`` raises ``UserDeactivated``; each area that keeps records a user owns reacts with
``hand_over`` (its leads, opportunities, quotes, contracts, invoices, projects, tasks, action items still
open move to the successor, each with its own ``<record>.reassigned`` event) and returns what it moved.
Without a successor the reactions only count: a user who still owns open work cannot be deactivated
until someone is named to take it over (nothing is left orphaned, nothing is moved silently)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..shared.actor import Actor
from ..shared.bus import dispatch, outward
from ..shared.concurrency import flush_or_conflict
from ..shared.dialect import lock_for_update
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed
from ..shared.outbox import record_event
from ..shared.payload import camel
from .errors import TenancyErrorCode
from .user import User


@dataclass(frozen=True)
class UserDeactivated:
    """An admin deactivated a user; ``successor_id`` takes over their open records (None: only count them)."""

    org_id: int
    user_id: int
    successor_id: int | None


@dataclass(frozen=True)
class Handed:
    """What one reaction moved (or, without a successor, found open): ``count`` records of ``record_type``."""

    record_type: str
    count: int


async def hand_over(session: AsyncSession, actor: Actor | None, event: UserDeactivated, model: Any, attr: str,
                    *still_open: Any, record_type: str, topic: str = "",
                    timeline: Callable[[Any], tuple[str, int]] | None = None,
                    announce: Callable[[Any], Awaitable[None]] | None = None) -> Handed:
    """Move the rows of ``model`` whose ``attr`` names the leaving user and that match ``still_open`` to the
    successor. Each move is announced by ``announce(row)`` or else as one ``topic`` event
    (``{"ownerId": new, "previousOwnerId": old, "version": n}``, named after ``attr``; ``timeline`` names the
    record whose timeline shows it, default the row). Versioned rows bump their version, so an editor
    holding the old one gets CONFLICT."""
    column = getattr(model, attr)
    stmt = select(model).where(model.org_id == event.org_id, column == event.user_id, *still_open).order_by(model.id)
    if event.successor_id is None:
        return Handed(record_type, await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = (await session.scalars(lock_for_update(session, stmt))).all()
    for row in rows:
        setattr(row, attr, event.successor_id)
    await flush_or_conflict(session, record_type)
    key = camel(attr) + "Id"
    for row in rows:
        if announce is not None:
            await announce(row)
            continue
        payload = {key: event.successor_id, "previous" + key[0].upper() + key[1:]: event.user_id,
                   "version": row.version}
        record_event(session, actor, org_id=event.org_id, topic=topic,
                     record_type=record_type, record_id=row.id, operation="update", payload=payload,
                     timeline=timeline(row) if timeline else None)
    return Handed(record_type, len(rows))


async def deactivate_user(session: AsyncSession, actor: Actor, user_id: int,
                          successor_id: int | None) -> tuple[User, list[Handed]]:
    """Deactivate a user of the actor's org (an admin's act): they can no longer sign in, their tokens stop
    working on the next request, their open records move to ``successor_id`` and the people who reported
    to them report to the successor. Refused for oneself, for the org's last admin, for a user already
    inactive, and, without a successor, for a user who still owns open records."""
    user = await session.scalar(lock_for_update(session, select(User).where(
        User.org_id == actor.org_id, User.id == user_id)))
    if user is None:
        raise NotFound("User", user_id)
    if user.id == actor.user_id:
        raise ValidationFailed.one("id", TenancyErrorCode.SELF_DEACTIVATION,
                                   "you cannot deactivate yourself; ask another admin")
    if not user.active:
        raise ValidationFailed.one("id", TenancyErrorCode.USER_INACTIVE, "the user is inactive already")
    if "admin" in user.roles:
        active = await session.scalars(select(User).where(User.org_id == actor.org_id, User.active.is_(True)))
        if not any("admin" in u.roles for u in active if u.id != user.id):
            raise ValidationFailed.one("id", TenancyErrorCode.LAST_ADMIN, "the org must keep one active admin")
    if successor_id is not None:
        successor = await session.scalar(select(User).where(User.org_id == actor.org_id, User.id == successor_id))
        if successor is None:
            raise NotFound("User", successor_id)
        if successor.id == user.id:
            raise ValidationFailed.one("transferOwnershipTo", SharedErrorCode.INVALID,
                                       "name someone other than the user who leaves")
        if not successor.active:
            raise ValidationFailed.one("transferOwnershipTo", TenancyErrorCode.USER_INACTIVE,
                                       "the successor is inactive")
    else:
        found = [h for h in await dispatch(session, actor, UserDeactivated(actor.org_id, user.id, None))
                 if isinstance(h, Handed) and h.count]
        if found:
            owned = ", ".join(f"{h.count} {h.record_type}" for h in found)
            raise ValidationFailed.one("transferOwnershipTo", SharedErrorCode.REQUIRED,
                                       f"the user still owns open records ({owned}): name who takes them over")
    user.active = False
    await session.flush()
    if successor_id is None:
        record_event(session, actor, org_id=actor.org_id, topic="user.deactivated", record_type="User",
                     record_id=user.id, operation="update", payload={"active": False})
        return user, []
    await session.execute(update(User).where(User.org_id == actor.org_id, User.manager_id == user.id)
                          .values(manager_id=successor_id).execution_options(synchronize_session=False))
    handed = [h for h in await dispatch(session, actor, UserDeactivated(actor.org_id, user.id, successor_id))
              if isinstance(h, Handed)]
    return user, handed


@outward(UserDeactivated)
async def _write_deactivated(session: AsyncSession, actor: Actor | None, event: UserDeactivated,
                             results: list[Any]) -> None:
    if event.successor_id is None:  # the count before a refusal or a deactivation without open work
        return
    record_event(session, actor, org_id=event.org_id, topic="user.deactivated", record_type="User",
                 record_id=event.user_id, operation="update",
                 payload={"active": False, "successorId": event.successor_id})
