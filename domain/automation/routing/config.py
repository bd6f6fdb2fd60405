"""Routing configuration (admins): rules, their order and conditions, users' leave, the fallback owner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...shared.actor import Actor
from ...shared.clock import clock
from ...shared.concurrency import check_version
from ...shared.dialect import lock_for_update
from ...shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ...shared.outbox import record_event
from ...shared.text import text_key
from ...tenancy.org import Team
from ...tenancy.user import User
from ..errors import AutomationErrorCode
from .model import (
    MAX_CLAUSES,
    MAX_MEMBERS,
    MAX_RESPONSE_HOURS,
    MAX_RULES,
    ROUTING_FIELDS,
    AssignmentFallback,
    AssignmentMethod,
    AssignmentRule,
    RoutedType,
    UserAvailability,
)


@dataclass
class AssignmentRuleInput:
    name: str | None = None
    object_type: RoutedType | None = None
    conditions: Any = None
    method: AssignmentMethod | None = None
    member_ids: list[int] | None = None
    team_id: int | None = None
    respect_capacity: bool | None = None
    skip_unavailable: bool | None = None
    response_hours: float | None = None
    set_fields: set[str] = field(default_factory=set)
    """On update: the fields the caller named (a named None clears ``team_id`` / ``response_hours``)."""


def check_conditions(v: Validator, object_type: RoutedType | None, conditions: Any) -> list[dict[str, Any]]:
    """The conditions in their stored form, or errors on ``conditions``/``conditions.<n>``."""
    if conditions is None:
        return []
    if isinstance(conditions, dict):
        conditions = [conditions]
    if not isinstance(conditions, list) or len(conditions) > MAX_CLAUSES:
        v.add("conditions", AutomationErrorCode.INVALID_CONDITION,
              f"conditions are a list of at most {MAX_CLAUSES} clauses {{field, eq}} or {{field, in}}")
        return []
    fields = ROUTING_FIELDS[object_type] if object_type else ()
    out: list[dict[str, Any]] = []
    for n, clause in enumerate(conditions):
        where = ("conditions", str(n))
        if not isinstance(clause, dict) or set(clause) not in ({"field", "eq"}, {"field", "in"}):
            v.add(where, AutomationErrorCode.INVALID_CONDITION,
                  "a clause is {field, eq: value} or {field, in: [values]}")
            continue
        name = clause["field"]
        if object_type is not None and name not in fields:
            v.add(where + ("field",), AutomationErrorCode.UNKNOWN_FIELD,
                  f"{name!r} is not a routing field of a {object_type.value}: one of {', '.join(fields)}")
            continue
        if "eq" in clause:
            values = [clause["eq"]]
        else:
            values = clause["in"] if isinstance(clause["in"], list) else None
        if not values or any(not isinstance(x, str | int | float | bool) or isinstance(x, str) and len(x) > 200
                             for x in values) or len(values) > 100:
            v.add(where, AutomationErrorCode.INVALID_CONDITION,
                  "a clause compares with one value or a list of 1 to 100 values (text of at most 200 characters)")
            continue
        out.append({"field": name, "eq": values[0]} if "eq" in clause else {"field": name, "in": list(values)})
    return out


def same_text_key(value: Any) -> str:
    """How routing compares text: as people type it (``shared.text.text_key``: full-width forms, case)."""
    return text_key(str(value))


def conditions_hold(conditions: Sequence[dict[str, Any]], facts: dict[str, Any]) -> bool:
    """Every clause holds for the record's facts (no clause: it always does)."""
    for clause in conditions:
        value = facts.get(clause["field"])
        if value is None:
            return False
        wanted = [clause["eq"]] if "eq" in clause else clause["in"]
        if same_text_key(value) not in {same_text_key(w) for w in wanted}:
            return False
    return True


async def _check_members(session: AsyncSession, actor: Actor, v: Validator, member_ids: list[int]) -> None:
    if len(member_ids) > MAX_MEMBERS:
        v.add("memberIds", SharedErrorCode.INVALID, f"a rule has at most {MAX_MEMBERS} members")
        return
    users = {u.id: u for u in await session.scalars(
        select(User).where(User.org_id == actor.org_id, User.id.in_(member_ids)))}
    for n, member_id in enumerate(member_ids):
        user = users.get(member_id)
        if user is None:
            raise NotFound("User", member_id)
        if not user.active:
            v.add(("memberIds", str(n)), AutomationErrorCode.INACTIVE_MEMBER, f"{user.name} is inactive")


async def _apply(session: AsyncSession, actor: Actor, rule: AssignmentRule, data: AssignmentRuleInput,
                 named: set[str] | None) -> None:
    """Validate ``data`` onto ``rule`` (every field when ``named`` is None: a new rule)."""
    def given(name: str) -> bool:
        return named is None or name in named

    v = Validator()
    if given("name"):
        rule.name = v.text("name", data.name, max_len=200, required=True) or ""
    object_type = RoutedType(rule.object_type) if rule.object_type else None
    if given("object_type"):
        if data.object_type is None:
            v.add("objectType", SharedErrorCode.REQUIRED, "objectType is required")
        else:
            object_type = data.object_type
            rule.object_type = object_type.value
    if given("method"):
        if data.method is None:
            v.add("method", SharedErrorCode.REQUIRED, "method is required")
        else:
            rule.method = data.method.value
    if given("conditions") or given("object_type"):
        rule.conditions = check_conditions(v, object_type, data.conditions if given("conditions") else rule.conditions)
    if given("member_ids"):
        member_ids = list(dict.fromkeys(data.member_ids or []))
        await _check_members(session, actor, v, member_ids)
        rule.member_ids = member_ids
    if given("team_id"):
        if data.team_id is not None and await session.scalar(
                select(Team.id).where(Team.org_id == actor.org_id, Team.id == data.team_id)) is None:
            raise NotFound("Team", data.team_id)
        rule.team_id = data.team_id
    if given("respect_capacity") and data.respect_capacity is not None:
        rule.respect_capacity = data.respect_capacity
    if given("skip_unavailable") and data.skip_unavailable is not None:
        rule.skip_unavailable = data.skip_unavailable
    if given("response_hours"):
        hours = data.response_hours
        if hours is not None and not 0 < hours <= MAX_RESPONSE_HOURS:
            v.add("responseHours", SharedErrorCode.INVALID,
                  f"responseHours is above 0 and at most {MAX_RESPONSE_HOURS}")
        rule.response_hours = hours
    if not rule.member_ids and rule.team_id is None and rule.method != AssignmentMethod.TERRITORY.value:
        v.add("memberIds", AutomationErrorCode.NO_MEMBERS, "name the members (memberIds) or a team (teamId)")
    if rule.response_hours is not None and rule.object_type != RoutedType.LEAD.value:
        v.add("responseHours", SharedErrorCode.INVALID, "a response time applies to leads only")
    v.raise_if_any()


def _announce(session: AsyncSession, actor: Actor, rule: AssignmentRule, change: str) -> None:
    record_event(session, actor, org_id=actor.org_id, topic="assignment_rule.changed", record_type="Org",
                 record_id=actor.org_id, operation="update",
                 payload={"name": rule.name, "change": change, "position": rule.position})


async def create_assignment_rule(session: AsyncSession, actor: Actor, data: AssignmentRuleInput) -> AssignmentRule:
    """A new rule, tried after the org's others."""
    count, last = (await session.execute(select(func.count(), func.max(AssignmentRule.position))
                                         .where(AssignmentRule.org_id == actor.org_id))).one()
    if count >= MAX_RULES:
        raise ValidationFailed.one("name", SharedErrorCode.INVALID, f"an org has at most {MAX_RULES} assignment rules")
    now = clock.now()
    rule = AssignmentRule(org_id=actor.org_id, object_type="", method="", member_ids=[], conditions=[],
                          respect_capacity=True, skip_unavailable=True, position=(last or 0) + 1, turn=0,
                          version=1, created_at=now, updated_at=now)
    await _apply(session, actor, rule, data, None)
    session.add(rule)
    await session.flush()
    _announce(session, actor, rule, "created")
    return rule


async def _rule_for_write(session: AsyncSession, actor: Actor, rule_id: int, version: int | None) -> AssignmentRule:
    rule = await session.scalar(lock_for_update(session, select(AssignmentRule).where(
        AssignmentRule.org_id == actor.org_id, AssignmentRule.id == rule_id)).execution_options(populate_existing=True))
    if rule is None:
        raise NotFound("AssignmentRule", rule_id)
    if version is not None:
        check_version(rule, version, "The assignment rule")
    return rule


async def update_assignment_rule(session: AsyncSession, actor: Actor, rule_id: int, version: int | None,
                                 data: AssignmentRuleInput) -> AssignmentRule:
    rule = await _rule_for_write(session, actor, rule_id, version)
    await _apply(session, actor, rule, data, data.set_fields)
    rule.version += 1
    rule.updated_at = clock.now()
    await session.flush()
    _announce(session, actor, rule, "updated")
    return rule


async def delete_assignment_rule(session: AsyncSession, actor: Actor, rule_id: int) -> AssignmentRule:
    rule = await _rule_for_write(session, actor, rule_id, None)
    await session.delete(rule)
    await session.flush()
    _announce(session, actor, rule, "deleted")
    return rule


async def reorder_assignment_rules(session: AsyncSession, actor: Actor, rule_ids: list[int]) -> list[AssignmentRule]:
    """Put the org's rules in this order (every rule named once)."""
    rules = {r.id: r for r in await session.scalars(lock_for_update(session, select(AssignmentRule).where(
        AssignmentRule.org_id == actor.org_id)))}
    for rule_id in rule_ids:
        if rule_id not in rules:
            raise NotFound("AssignmentRule", rule_id)
    if len(rule_ids) != len(set(rule_ids)) or set(rule_ids) != set(rules):
        raise ValidationFailed.one("ids", AutomationErrorCode.ORDER_MISMATCH,
                                   f"name each of the org's {len(rules)} assignment rules once")
    for position, rule_id in enumerate(rule_ids, start=1):
        rules[rule_id].position = position
    await session.flush()
    if rule_ids:
        _announce(session, actor, rules[rule_ids[0]], "reordered")
    return [rules[i] for i in rule_ids]


async def assignment_rules(session: AsyncSession, org_id: int, object_type: RoutedType | None = None
                           ) -> list[AssignmentRule]:
    """The org's rules in the order they are tried."""
    stmt = select(AssignmentRule).where(AssignmentRule.org_id == org_id)
    if object_type is not None:
        stmt = stmt.where(AssignmentRule.object_type == object_type.value)
    return list(await session.scalars(stmt.order_by(AssignmentRule.position, AssignmentRule.id)))


async def set_availability(session: AsyncSession, actor: Actor, user_id: int, away_from: datetime | None,
                           away_until: datetime | None) -> User:
    """A user's leave (both times), or none (neither)."""
    user = await session.scalar(select(User).where(User.org_id == actor.org_id, User.id == user_id))
    if user is None:
        raise NotFound("User", user_id)
    if (away_from is None) != (away_until is None):
        raise ValidationFailed.one("until" if away_until is None else "from", SharedErrorCode.REQUIRED,
                                   "give both from and until (or neither, to clear the leave)")
    if away_from is not None and away_until is not None and away_until <= away_from:
        raise ValidationFailed.one("until", SharedErrorCode.INVALID_DATE_RANGE, "until is after from")
    row = await session.get(UserAvailability, user.id)
    if away_from is None or away_until is None:
        if row is not None:
            await session.delete(row)
    elif row is None:
        session.add(UserAvailability(user_id=user.id, org_id=actor.org_id, away_from=away_from,
                                     away_until=away_until, updated_at=clock.now()))
    else:
        row.away_from, row.away_until, row.updated_at = away_from, away_until, clock.now()
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="user.availability_set", record_type="User",
                 record_id=user.id, operation="update",
                 payload={"from": away_from.isoformat() if away_from else None,
                          "until": away_until.isoformat() if away_until else None})
    return user


async def availability_of(session: AsyncSession, org_id: int, user_ids: list[int]) -> dict[int, UserAvailability]:
    rows = await session.scalars(select(UserAvailability).where(
        UserAvailability.org_id == org_id, UserAvailability.user_id.in_(user_ids)))
    return {r.user_id: r for r in rows}


async def set_assignment_fallback(session: AsyncSession, actor: Actor, owner_id: int | None) -> User | None:
    """Who takes the records no rule could route (None: their creators keep them)."""
    row = await session.get(AssignmentFallback, actor.org_id)
    if owner_id is None:
        if row is not None:
            await session.delete(row)
        await session.flush()
        return None
    user = await session.scalar(select(User).where(User.org_id == actor.org_id, User.id == owner_id))
    if user is None:
        raise NotFound("User", owner_id)
    if not user.active:
        raise ValidationFailed.one("ownerId", AutomationErrorCode.INACTIVE_MEMBER, f"{user.name} is inactive")
    if row is None:
        session.add(AssignmentFallback(org_id=actor.org_id, owner_id=user.id, updated_at=clock.now()))
    else:
        row.owner_id, row.updated_at = user.id, clock.now()
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="assignment_rule.changed", record_type="Org",
                 record_id=actor.org_id, operation="update", payload={"name": user.name, "change": "fallback"})
    return user


async def assignment_fallback(session: AsyncSession, org_id: int) -> User | None:
    row = await session.get(AssignmentFallback, org_id)
    return None if row is None else await session.get(User, row.owner_id)
