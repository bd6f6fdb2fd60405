"""Users: one org each, several roles, a manager (the hierarchy), a team, a territory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk, utcnow
from ..shared.dialect import contains_text, dialect_name, json_array_contains, lock_for_update
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.money import MAX_AMOUNT
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.text import half_width
from .errors import TenancyErrorCode
from .org import Team

ROLES = (
    "admin",
    "sales_rep",
    "sales_manager",
    "project_manager",
    "finance",
    "service",
    "marketing",
)


class User(Base):
    __tablename__ = "app_user"
    __table_args__ = (Index("uq_app_user_org_id_external_id", "org_id", "external_id", unique=True),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(default=list)
    manager_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True, index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("team.id", ondelete="SET NULL"), nullable=True
    )
    territory: Mapped[str | None] = mapped_column(String(100), nullable=True)
    capacity: Mapped[int] = mapped_column(Integer, default=10)
    cost_rate: Mapped[Decimal | None] = mapped_column(nullable=True)
    """Labor cost per hour in the org's currency (finance-only): time logged is costed at it."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """The user's id at the identity provider (its token's user claim, e.g. Keycloak's UUID ``sub``): unique in
    an org, set by an admin; a token carrying it signs in as this user (tandem/auth.py)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


async def create_user(
    session: AsyncSession,
    org_id: int,
    *,
    email: str,
    name: str,
    roles: list[str],
    manager_id: int | None = None,
    team_id: int | None = None,
    territory: str | None = None,
    capacity: int = 10,
    external_id: str | None = None,
) -> User:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    user = User(
        org_id=org_id,
        email=email.strip().lower(),
        name=name,
        roles=list(roles),
        manager_id=manager_id,
        team_id=team_id,
        territory=territory,
        capacity=capacity,
        external_id=external_id,
    )
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, org_id: int, user_id: int) -> User:
    user = await session.scalar(select(User).where(User.id == user_id, User.org_id == org_id))
    if user is None:
        raise NotFound("User", user_id)
    return user


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


async def users_by_ids(session: AsyncSession, org_id: int, ids: list[int]) -> dict[int, User]:
    rows = await session.scalars(select(User).where(User.org_id == org_id, User.id.in_(ids)))
    return {u.id: u for u in rows}


async def active_identity(session: AsyncSession, user_id: int, org_id: int) -> Any:
    """(id, org_id, roles, email, team_id) of the user a verified token names, if it still exists and is
    active in that org (columns, not an object: every request asks)."""
    return (await session.execute(
        select(User.id, User.org_id, User.roles, User.email, User.team_id)
        .where(User.id == user_id, User.org_id == org_id, User.active.is_(True))
    )).first()


async def set_roles(session: AsyncSession, actor: Actor, user_id: int, *, add: str | None = None,
                    remove: str | None = None) -> User:
    """Give or take a role; the org always keeps at least one admin."""
    user = await session.scalar(lock_for_update(session, select(User).where(
        User.id == user_id, User.org_id == actor.org_id)))
    if user is None:
        raise NotFound("User", user_id)
    roles = list(user.roles)
    if add is not None:
        if add not in ROLES:
            raise ValidationFailed.one("role", SharedErrorCode.INVALID, f"{add!r} is not one of {', '.join(ROLES)}")
        if add not in roles:
            roles.append(add)
    if remove is not None:
        if remove not in roles:
            raise ValidationFailed.one("role", SharedErrorCode.INVALID, f"the user does not hold {remove!r}")
        roles.remove(remove)
        if remove == "admin":
            admins = await session.scalars(select(User).where(User.org_id == actor.org_id, User.active.is_(True)))
            if not any("admin" in u.roles for u in admins if u.id != user.id):
                raise ValidationFailed.one("role", TenancyErrorCode.LAST_ADMIN, "the org must keep one admin")
    if roles != list(user.roles):
        before = list(user.roles)
        user.roles = roles
        await session.flush()
        record_event(session, actor, org_id=actor.org_id, topic="user.roles_changed", record_type="User",
                     record_id=user.id, operation="update", payload={"roles": [before, roles]})
    return user


async def set_manager(session: AsyncSession, actor: Actor, user_id: int, manager_id: int | None) -> User:
    """Move a user under another manager (the chain that team scopes follow); cycles are refused."""
    user = await get_user(session, actor.org_id, user_id)
    if manager_id is not None:
        boss = await get_user(session, actor.org_id, manager_id)
        seen = {user.id}
        while boss is not None:
            if boss.id in seen:
                raise ValidationFailed.one("managerId", SharedErrorCode.INVALID, "that would make a management cycle")
            seen.add(boss.id)
            boss = await session.get(User, boss.manager_id) if boss.manager_id else None
    if user.manager_id != manager_id:
        record_event(session, actor, org_id=actor.org_id, topic="user.manager_changed", record_type="User",
                     record_id=user.id, operation="update", payload={"managerId": [user.manager_id, manager_id]})
        user.manager_id = manager_id
        await session.flush()
    return user


async def managers_of(session: AsyncSession, org_id: int, user_id: int) -> list[int]:
    """The user's manager, their manager, and so on up the chain (nearest first; cycles stop)."""
    users = {u.id: u.manager_id for u in await session.execute(
        select(User.id, User.manager_id).where(User.org_id == org_id))}
    chain: list[int] = []
    current = users.get(user_id)
    while current is not None and current not in chain and current != user_id:
        chain.append(current)
        current = users.get(current)
    return chain


async def set_cost_rate(session: AsyncSession, actor: Actor, user_id: int, rate: Decimal | None) -> User:
    """A user's labor cost per hour (finance); time logged afterwards is costed at it."""
    user = await session.scalar(lock_for_update(session, select(User).where(User.org_id == actor.org_id,
                                                                           User.id == user_id)))
    if user is None:
        raise NotFound("User", user_id)
    if rate is not None and (not rate.is_finite() or rate < 0 or rate > MAX_AMOUNT or rate != round(rate, 4)):
        raise ValidationFailed.one("costRate", SharedErrorCode.INVALID_AMOUNT,
                                   "costRate is a non-negative amount with at most 4 decimals")
    user.cost_rate = rate
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="user.cost_rate_set", record_type="User",
                 record_id=user.id, operation="update",
                 payload={"id": user.id, "costRate": str(rate) if rate is not None else None})
    return user


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
USER_SORT = SortKey("CREATED_AT", User.created_at, datetime)


@dataclass(frozen=True)
class InviteUser:
    email: str
    name: str
    roles: list[str]
    manager_id: int | None = None
    team_id: int | None = None
    territory: str | None = None
    capacity: int | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class UserChanges:
    """What ``update_user`` changes: a field left None stays as it is (``clear`` names those to empty)."""

    name: str | None = None
    territory: str | None = None
    capacity: int | None = None
    team_id: int | None = None
    external_id: str | None = None
    clear: frozenset[str] = frozenset()


@dataclass(frozen=True)
class UserFilter:
    search: str | None = None
    role: str | None = None
    active: bool | None = None
    team_id: int | None = None


async def _team_of(session: AsyncSession, org_id: int, team_id: int) -> Team:
    team = await session.scalar(select(Team).where(Team.org_id == org_id, Team.id == team_id))
    if team is None:
        raise NotFound("Team", team_id)
    return team


async def _external_id(v: Validator, session: AsyncSession, org_id: int, value: str | None,
                       user_id: int | None = None) -> str | None:
    """An external id as given (stripped), checked: at most 255 characters, no other user of the org has it."""
    external_id = v.text("externalId", value, max_len=255)
    if external_id and await session.scalar(select(User.id).where(
            User.org_id == org_id, User.external_id == external_id, User.id != (user_id or 0))) is not None:
        v.add("externalId", SharedErrorCode.DUPLICATE, "another user of the org has this external id")
    return external_id or None


def _capacity(v: Validator, capacity: int | None) -> None:
    if capacity is not None and not 0 <= capacity <= 1000:
        v.add("capacity", SharedErrorCode.INVALID, "capacity is a number of concurrent tasks, 0 to 1000")


async def invite_user(session: AsyncSession, actor: Actor, data: InviteUser) -> User:
    """A new user of the actor's org (an admin's act), active at once: they sign in through the identity
    provider with this e-mail. The address must be free in every org (it is their login)."""
    v = Validator()
    email = (v.text("email", half_width(data.email), max_len=254, required=True) or "").lower()
    name = v.text("name", data.name, max_len=200, required=True)
    territory = v.text("territory", data.territory, max_len=100)
    if email and not EMAIL.match(email):
        v.add("email", SharedErrorCode.INVALID_EMAIL, "email is not an e-mail address")
    roles = list(dict.fromkeys(r.strip() for r in data.roles))
    if not roles:
        v.add("roles", SharedErrorCode.REQUIRED, "give the user at least one role")
    elif unknown := [r for r in roles if r not in ROLES]:
        v.add("roles", SharedErrorCode.INVALID, f"{', '.join(map(repr, unknown))} is not one of {', '.join(ROLES)}")
    _capacity(v, data.capacity)
    external_id = await _external_id(v, session, actor.org_id, data.external_id)
    if email and EMAIL.match(email) and await user_by_email(session, email) is not None:
        v.add("email", SharedErrorCode.DUPLICATE, "a user with this e-mail exists already")
    v.raise_if_any()
    if data.manager_id is not None:
        await get_user(session, actor.org_id, data.manager_id)  # NOT_FOUND for an unknown or foreign user
    if data.team_id is not None:
        await _team_of(session, actor.org_id, data.team_id)
    def create() -> Any:
        return create_user(session, actor.org_id, email=email, name=name or "", roles=roles,
                           manager_id=data.manager_id, team_id=data.team_id, territory=territory,
                           capacity=data.capacity if data.capacity is not None else 10, external_id=external_id)

    if dialect_name(session) == "postgresql":
        # Row-level security hides other orgs' users from the lookup above: the unique index is what
        # knows an address taken in another org (or by a twin committed meanwhile).
        try:
            async with session.begin_nested():
                user = await create()
        except IntegrityError:
            raise ValidationFailed.one("email", SharedErrorCode.DUPLICATE,
                                       "a user with this e-mail exists already") from None
    else:
        user = await create()
    record_event(session, actor, org_id=actor.org_id, topic="user.invited", record_type="User",
                 record_id=user.id, operation="create",
                 payload={"email": user.email, "name": user.name, "roles": list(user.roles)})
    return user


async def update_user(session: AsyncSession, actor: Actor, user_id: int, data: UserChanges) -> User:
    """A user's name, territory, capacity, team and external id (roles, manager and cost rate have their own
    acts)."""
    user = await session.scalar(lock_for_update(session, select(User).where(
        User.org_id == actor.org_id, User.id == user_id)))
    if user is None:
        raise NotFound("User", user_id)
    v = Validator()
    name = v.text("name", data.name, max_len=200, required=True) if data.name is not None else None
    territory = v.text("territory", data.territory, max_len=100)
    _capacity(v, data.capacity)
    external_id = await _external_id(v, session, actor.org_id, data.external_id, user.id)
    v.raise_if_any()
    if data.team_id is not None:
        await _team_of(session, actor.org_id, data.team_id)
    changed: dict[str, list[Any]] = {}

    def change(attr: str, key: str, value: Any) -> None:
        if getattr(user, attr) != value:
            changed[key] = [getattr(user, attr), value]
            setattr(user, attr, value)

    if name is not None:
        change("name", "name", name)
    if data.territory is not None or "territory" in data.clear:
        change("territory", "territory", territory or None)
    if data.capacity is not None:
        change("capacity", "capacity", data.capacity)
    if data.team_id is not None or "team_id" in data.clear:
        change("team_id", "teamId", data.team_id)
    if data.external_id is not None or "external_id" in data.clear:
        change("external_id", "externalId", external_id)
    if changed:
        await session.flush()
        record_event(session, actor, org_id=actor.org_id, topic="user.updated", record_type="User",
                     record_id=user.id, operation="update", payload={"changes": changed})
    return user


async def list_users(session: AsyncSession, org_id: int, flt: UserFilter, req: PageRequest, *,
                     with_total: bool = False) -> Page[User]:
    """The org's people, oldest first: a directory everyone in the org may page through (what each may
    read of them is the field policy's). ``search`` matches a part of the name or e-mail in any case and
    width (全角 folds to half width)."""
    if flt.role is not None and flt.role not in ROLES:
        raise ValidationFailed.one("role", SharedErrorCode.INVALID, f"role is one of {', '.join(ROLES)}")
    stmt = select(User).where(User.org_id == org_id)
    if flt.active is not None:
        stmt = stmt.where(User.active.is_(flt.active))
    if flt.team_id is not None:
        stmt = stmt.where(User.team_id == flt.team_id)
    if flt.role is not None:
        stmt = stmt.where(json_array_contains(session, User.roles, flt.role))
    needle = (half_width(flt.search) or "").strip()
    if needle:
        stmt = stmt.where(contains_text(session, User.name, needle) | contains_text(session, User.email, needle))
    return await paginate(session, stmt, entity=User, sort=USER_SORT, req=req, with_total=with_total)
