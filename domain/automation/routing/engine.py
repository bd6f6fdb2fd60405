"""Routing a new record: the first matching rule picks an owner by its method; the assignment explains it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...crm.customer import Customer
from ...crm.events import LeadCreated
from ...crm.lead import Lead, LeadStatus
from ...pipeline.events import OpportunityCreated
from ...pipeline.opportunity import Opportunity
from ...shared.actor import Actor
from ...shared.bus import handles
from ...shared.clock import clock
from ...shared.dialect import lock_for_update
from ...shared.outbox import record_event
from ...shared.text import half_width
from ...tenancy.user import User
from ..errors import AutomationErrorCode
from .config import assignment_fallback, assignment_rules, conditions_hold, same_text_key
from .model import (
    ROUTING_FIELDS,
    TERRITORY_FIELDS,
    Assignment,
    AssignmentMethod,
    AssignmentRule,
    RoutedType,
    UserAvailability,
)


async def facts_of(session: AsyncSession, kind: RoutedType, record: Any) -> dict[str, Any]:
    """The values conditions and territories read, by routing field."""
    if kind is RoutedType.LEAD:
        return {name: getattr(record, name) for name in ROUTING_FIELDS[kind]}
    customer = await session.get(Customer, record.customer_id)
    custom = (customer.custom_fields or {}) if customer else {}
    return {"region": custom.get("region"), "industry": customer.industry if customer else None,
            "tier": customer.tier if customer else None, "stage": record.stage_key, "currency": record.currency}


_SEPARATORS = re.compile(r"[,，、;；/|]")


def territories(user: User) -> list[str]:
    """The territories a user covers (``User.territory`` may list several: ``华东、华南``)."""
    return [t.strip() for t in _SEPARATORS.split(half_width(user.territory) or "") if t.strip()]


def territory_match(user: User, facts: dict[str, Any]) -> str | None:
    """Why ``user``'s territory covers the record ("territory 华东 matches region 华东"), or None."""
    for name in TERRITORY_FIELDS:
        value = facts.get(name)
        if value is None or not str(value).strip():
            continue
        for territory in territories(user):
            if same_text_key(territory) == same_text_key(value):
                return f"territory {territory} matches {name} {str(value).strip()}"
    return None


def _read_once(session: AsyncSession) -> dict[Any, Any]:
    """What routing read in the session's current transaction (the org's rules, a rule's members, the org's leave,
    which rule rows it holds locked): a unit of work creating many records reads each once."""
    transaction = session.sync_session.get_transaction()
    held = session.info.get("routing")
    if held is None or held[0] is not transaction:
        held = session.info["routing"] = (transaction, {})
    return held[1]


async def _members(session: AsyncSession, rule: AssignmentRule) -> list[User]:
    cache = _read_once(session)
    if ("members", rule.id) not in cache:
        cache["members", rule.id] = await _members_of(session, rule)
    return cache["members", rule.id]


async def _leave(session: AsyncSession, org_id: int) -> dict[int, UserAvailability]:
    cache = _read_once(session)
    if ("leave", org_id) not in cache:
        rows = await session.scalars(select(UserAvailability).where(UserAvailability.org_id == org_id))
        cache["leave", org_id] = {r.user_id: r for r in rows}
    return cache["leave", org_id]


async def _members_of(session: AsyncSession, rule: AssignmentRule) -> list[User]:
    """The rule's candidates in turn order: its members as listed, else its team's (else, for territory, every
    active user with a territory)."""
    if rule.member_ids:
        users = {u.id: u for u in await session.scalars(
            select(User).where(User.org_id == rule.org_id, User.id.in_(rule.member_ids)))}
        return [users[i] for i in rule.member_ids if i in users]
    stmt = select(User).where(User.org_id == rule.org_id)
    if rule.team_id is not None:
        stmt = stmt.where(User.team_id == rule.team_id)
    elif rule.method == AssignmentMethod.TERRITORY.value:
        stmt = stmt.where(User.territory.is_not(None), User.active.is_(True))
    else:
        return []
    return list(await session.scalars(stmt.order_by(User.id)))


async def open_counts(session: AsyncSession, kind: RoutedType, org_id: int, user_ids: list[int]) -> dict[int, int]:
    """Open leads (not converted or unqualified) or open opportunities (not closed) each user owns."""
    if kind is RoutedType.LEAD:
        model: Any = Lead
        still_open = Lead.status.not_in((LeadStatus.CONVERTED.value, LeadStatus.UNQUALIFIED.value))
    else:
        model, still_open = Opportunity, Opportunity.closed_at.is_(None)
    rows = await session.execute(select(model.owner_id, func.count()).where(
        model.org_id == org_id, model.owner_id.in_(user_ids), still_open).group_by(model.owner_id))
    return {owner: n for owner, n in rows}


@dataclass
class Choice:
    """Who a rule picked, or why nobody (``assignee`` None)."""

    assignee: User | None
    reason: str


def _away(row: UserAvailability | None, at: datetime) -> bool:
    return row is not None and row.away_from <= at < row.away_until


async def choose(session: AsyncSession, rule: AssignmentRule, kind: RoutedType, facts: dict[str, Any],
                 at: datetime, *, exclude: int | None = None, advance: bool = True) -> Choice:
    """Pick the rule's assignee for a record with these facts. The caller holds the rule row locked when
    ``advance`` (round robin and territory move the rule's turn on)."""
    members = await _members(session, rule)
    passed: list[str] = []
    candidates: list[User] = []
    matched: dict[int, str] = {}
    for user in members:
        if rule.method == AssignmentMethod.TERRITORY.value:
            why = territory_match(user, facts)
            if why is None:
                continue
            matched[user.id] = why
        candidates.append(user)
    if rule.method == AssignmentMethod.TERRITORY.value and not candidates:
        shown = ", ".join(f"{n} {facts[n]}" for n in TERRITORY_FIELDS if facts.get(n)) or "no region, industry or tier"
        return Choice(None, f"no member's territory covers {shown}")
    away = await _leave(session, rule.org_id) if rule.skip_unavailable else {}
    counts = await open_counts(session, kind, rule.org_id, [u.id for u in candidates]) \
        if rule.respect_capacity or rule.method == AssignmentMethod.LOAD_BALANCED.value else {}
    what = "leads" if kind is RoutedType.LEAD else "opportunities"

    def eligible(user: User) -> bool:
        if user.id == exclude:  # the owner a lead is being taken from
            return False
        if not user.active:
            passed.append(f"{user.name} is inactive")
            return False
        if _away(away.get(user.id), at):
            passed.append(f"{user.name} is on leave until {away[user.id].away_until:%Y-%m-%d %H:%M} UTC")
            return False
        if rule.respect_capacity and counts.get(user.id, 0) >= user.capacity:
            passed.append(f"{user.name} is at capacity ({counts.get(user.id, 0)} of {user.capacity} open {what})")
            return False
        return True

    def skipped() -> str:
        return f"; passed over: {'; '.join(passed)}" if passed else ""

    if rule.method == AssignmentMethod.LOAD_BALANCED.value:
        pool = [u for u in candidates if eligible(u)]
        if not pool:
            return Choice(None, f"no member can take it{skipped()}")
        best = min(pool, key=lambda u: (counts.get(u.id, 0) / max(u.capacity, 1), counts.get(u.id, 0)))
        load = counts.get(best.id, 0)
        return Choice(best, f"load balanced: {best.name} has the lightest load ({load} of {best.capacity} open "
                            f"{what}){skipped()}")
    n = len(candidates)
    for step in range(n):
        user = candidates[(rule.turn + step) % n]
        if eligible(user):
            if advance:
                rule.turn += step + 1
            if rule.method == AssignmentMethod.TERRITORY.value:
                return Choice(user, f"{matched[user.id]}: {user.name}{skipped()}")
            return Choice(user, f"round robin: {user.name}'s turn{skipped()}")
    return Choice(None, f"no member can take it{skipped()}" if n else "the rule has no members")


async def route(session: AsyncSession, actor: Actor | None, kind: RoutedType, record: Any) -> Assignment | None:
    """Give a new record its owner by the org's rules; None (the creator's choice stands, unexplained) when no rule
    of its kind matches and the org has no fallback owner."""
    cache = _read_once(session)
    if ("rules", record.org_id, kind) not in cache:
        cache["rules", record.org_id, kind] = await assignment_rules(session, record.org_id, kind)
    rules = cache["rules", record.org_id, kind]
    if not rules:
        return None
    facts = await facts_of(session, kind, record)
    now = clock.now()
    rule = next((r for r in rules if conditions_hold(r.conditions, facts)), None)
    code: str | None = None
    method: str | None = None
    if rule is None:
        choice = Choice(None, "no assignment rule matched")
    else:
        # the turn is read and moved on under the rule row's lock (held to the end of the transaction): parallel
        # creations queue here
        if ("locked", rule.id) not in cache:
            cache["locked", rule.id] = await session.scalar(lock_for_update(session, select(AssignmentRule).where(
                AssignmentRule.id == rule.id)).execution_options(populate_existing=True)) or rule
        rule = cache["locked", rule.id]
        choice = await choose(session, rule, kind, facts, now)
        if choice.assignee is not None:
            method = rule.method
        else:
            code = AutomationErrorCode.NO_ELIGIBLE_ASSIGNEE.value
            choice.reason = f"rule {rule.name}: {choice.reason}"
    if choice.assignee is None:
        fallback = await assignment_fallback(session, record.org_id)
        if rule is None and (fallback is None or not fallback.active):
            return None
        if fallback is not None and fallback.active:
            choice = Choice(fallback, f"{choice.reason}; fallback owner {fallback.name}")
        else:
            creator = await session.get(User, record.owner_id)
            name = creator.name if creator else "the creator"
            choice = Choice(creator, f"{choice.reason}; {name} (the creator) keeps it")
        code = code or (AutomationErrorCode.NO_ELIGIBLE_ASSIGNEE.value if rule is not None else None)
    assert choice.assignee is not None
    hours = rule.response_hours if rule is not None and method is not None and kind is RoutedType.LEAD else None
    return await assign(session, actor, kind, record, choice.assignee, rule=rule, method=method,
                        reason=choice.reason, code=code, at=now, response_hours=hours)


async def assign_by_rule(session: AsyncSession, actor: Actor | None, kind: RoutedType, record: Any, rule_id: int, *,
                         by: str) -> Assignment:
    """Hand an existing record to the member assignment rule ``rule_id`` picks by its method, as routing does (the
    rule's turn, capacity and leave; its conditions are the caller's to have checked), and record why, naming
    ``by`` (a workflow rule's ASSIGN). ValueError, and the owner keeps the record, when the rule is gone, routes
    another kind of record, or finds nobody."""
    cache = _read_once(session)
    rule = cache.get(("locked", rule_id))
    if rule is None:  # the turn moves on under the rule row's lock, held to the end of the transaction, as in ``route``
        rule = await session.scalar(lock_for_update(session, select(AssignmentRule).where(
            AssignmentRule.org_id == record.org_id, AssignmentRule.id == rule_id))
            .execution_options(populate_existing=True))
        if rule is not None:
            cache["locked", rule_id] = rule
    if rule is None or rule.object_type != kind.value:
        raise ValueError(f"assignment rule {rule_id} is gone or routes another kind of record")
    now = clock.now()
    choice = await choose(session, rule, kind, await facts_of(session, kind, record), now)
    if choice.assignee is None:
        raise ValueError(f"rule {rule.name}: {choice.reason}")
    return await assign(session, actor, kind, record, choice.assignee, rule=rule, method=rule.method,
                        reason=f"{by}: {choice.reason}", code=None, at=now,
                        response_hours=rule.response_hours if kind is RoutedType.LEAD else None)


async def assign(session: AsyncSession, actor: Actor | None, kind: RoutedType, record: Any, assignee: User, *,
                 rule: AssignmentRule | None, method: str | None, reason: str, code: str | None, at: datetime,
                 response_hours: float | None, audience: Sequence[int] = ()) -> Assignment:
    """Make ``assignee`` the record's owner and record why (an ``Assignment`` and a ``<record>.assigned`` event
    addressed to the new owner, unless they routed it themselves, and to ``audience``)."""
    previous = record.owner_id
    record.owner_id = assignee.id
    assignment = Assignment(
        org_id=record.org_id, record_type=kind.record_type, record_id=record.id, rule_id=rule.id if rule else None,
        rule_name=rule.name if rule else None, method=method, reason=reason[:1000], code=code,
        assignee_id=assignee.id, previous_owner_id=previous, assigned_at=at,
        response_due_at=at + timedelta(hours=response_hours) if response_hours else None)
    session.add(assignment)
    await session.flush()  # the owner's change (its new version, for the event) and the assignment, in one flush
    told = [assignee.id] if actor is None or assignee.id != actor.user_id else []
    record_event(session, actor, org_id=record.org_id,
                 topic="lead.assigned" if kind is RoutedType.LEAD else "opportunity.assigned",
                 record_type=kind.record_type,
                 record_id=record.id, operation="update", payload=assignment_payload(assignment, record),
                 audience=list(dict.fromkeys([*told, *audience])))
    return assignment


def assignment_payload(assignment: Assignment, record: Any) -> dict[str, Any]:
    return {"ownerId": assignment.assignee_id, "previousOwnerId": assignment.previous_owner_id,
            "version": record.version, "rule": assignment.rule_name, "method": assignment.method,
            "reason": assignment.reason, "code": assignment.code, "assignedAt": assignment.assigned_at.isoformat()}


@handles(LeadCreated)
async def _route_lead(session: AsyncSession, actor: Actor | None, event: LeadCreated) -> None:
    if event.owner_given:
        return
    lead = await session.get(Lead, event.lead_id)
    if lead is not None:
        await route(session, actor, RoutedType.LEAD, lead)


@handles(OpportunityCreated)
async def _route_opportunity(session: AsyncSession, actor: Actor | None, event: OpportunityCreated) -> None:
    if event.owner_given:
        return
    opportunity = await session.get(Opportunity, event.opportunity_id)
    if opportunity is not None:
        await route(session, actor, RoutedType.OPPORTUNITY, opportunity)


async def assignments_of(session: AsyncSession, org_id: int, record_type: str,
                         record_ids: list[int]) -> dict[int, Assignment]:
    """Each record's current assignment (its newest), for the records that were routed."""
    newest = (select(func.max(Assignment.id)).where(
        Assignment.org_id == org_id, Assignment.record_type == record_type, Assignment.record_id.in_(record_ids))
        .group_by(Assignment.record_id))
    rows = await session.scalars(select(Assignment).where(Assignment.id.in_(newest)))
    return {a.record_id: a for a in rows}
