"""SLA policies on any record type, and the SLA clock of each record they apply to.

A policy (``collaboration.sla.SlaPolicy``, one per record type and org) names the events or status/stage
values that start, stop and pause a record's clock (``start_on`` / ``stop_on`` / ``pause_on``), which
records it applies to (a workflow condition tree, read when the clock starts), its target in hours,
whether those are business hours on the org's working calendar (``delivery.calendar.OrgCalendar``) or
hours around the clock, and its escalations: each ``afterHours`` past the breach, to the owner's
manager, the holders of a role, or one user.

Clocks move on the same single hook the workflow engine uses: every event a unit of work records is
settled before it commits (``outbox.settle``). An event counts for a record when it is about the record
or shows on its timeline (an interaction logged on an opportunity counts for the opportunity). A start
entry starts a clock (or resumes a paused one); a pause entry pauses it, and a record leaving a pause
status resumes it; a stop entry stops it for good. The scheduler's pass (``run_sla_clocks``) marks
breaches and escalates, each escalation recorded once (``collaboration.sla.Escalation``), on the
record's timeline and to the escalated person live (``sla.escalated``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..collaboration.meeting import ActionItem
from ..collaboration.sla import KIND_TYPES, Escalation, SlaKind, SlaPolicy, built_in, kind_of
from ..delivery.calendar import BusinessHours, OrgCalendar, wall_hours
from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import OutboxEvent, record_event, settlers
from ..tenancy.user import ROLES, User
from . import rule_engine
from .conditions import Catalog, Facts, evaluate, fields_of, validate_conditions
from .errors import AutomationErrorCode

MAX_ENTRIES = 20
MAX_ESCALATIONS = 10
TOPIC = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
POLICIES = "sla_policies"
"""``session.info`` key: each org's clock policies by record type, read once per unit of work."""


class SlaCalendar(StrEnum):
    BUSINESS_HOURS = "BUSINESS_HOURS"
    ALWAYS = "ALWAYS"


class EscalateTo(StrEnum):
    OWNER_MANAGER = "OWNER_MANAGER"
    ROLE = "ROLE"
    USER = "USER"


class SlaClock(Base):
    """A record's clock under a policy: running since ``running_since`` with ``elapsed_hours`` counted
    before that, paused since ``paused_since``, or stopped at ``stopped_at`` (for good)."""

    __tablename__ = "sla_clock"
    __table_args__ = (UniqueConstraint("policy_id", "record_type", "record_id"),
                      Index("ix_sla_clock_record", "org_id", "record_type", "record_id"))

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    policy_id: Mapped[int] = mapped_column(IdType, ForeignKey("sla_policy.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    started_at: Mapped[datetime]
    running_since: Mapped[datetime | None] = mapped_column(nullable=True)
    paused_since: Mapped[datetime | None] = mapped_column(nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(nullable=True)
    elapsed_hours: Mapped[float] = mapped_column(Float, default=0.0)
    breached_at: Mapped[datetime | None] = mapped_column(nullable=True)
    escalated: Mapped[int] = mapped_column(Integer, default=0)
    """How many of the policy's escalations are done."""


# --- setting a policy ----------------------------------------------------------------------------


@dataclass
class EscalationInput:
    after_hours: float
    to: EscalateTo
    role: str | None = None
    user_id: int | None = None


@dataclass
class PolicyInput:
    object_type: str | None = None
    kind: SlaKind | None = None
    conditions: Any = None
    start_on: list[str] = field(default_factory=list)
    stop_on: list[str] = field(default_factory=list)
    pause_on: list[str] = field(default_factory=list)
    target_hours: float | None = None
    calendar: SlaCalendar | None = None
    escalations: list[EscalationInput] | None = None
    due_hours: float | None = None
    escalate_after_hours: float | None = None
    remind_before_hours: float | None = None


def _entries(v: Validator, key: str, values: list[str]) -> list[str]:
    if len(values) > MAX_ENTRIES:
        v.add(key, AutomationErrorCode.INVALID_SLA_EVENT, f"at most {MAX_ENTRIES} entries")
    out = []
    for i, value in enumerate(values):
        text = (value or "").strip()
        if not text or len(text) > 80 or ("." in text and not TOPIC.match(text)):
            v.add((key, str(i)), AutomationErrorCode.INVALID_SLA_EVENT,
                  "an event topic such as opportunity.created, or a status or stage value")
        out.append(text)
    return list(dict.fromkeys(out))


async def _escalations(session: AsyncSession, v: Validator, org_id: int,
                       given: list[EscalationInput]) -> list[dict[str, Any]]:
    if len(given) > MAX_ESCALATIONS:
        v.add("escalations", AutomationErrorCode.INVALID_ESCALATION, f"at most {MAX_ESCALATIONS} escalations")
    out = []
    for i, e in enumerate(given):
        at = ("escalations", str(i))
        if e.after_hours is None or e.after_hours < 0 or e.after_hours > 24 * 366:
            v.add((*at, "afterHours"), AutomationErrorCode.INVALID_ESCALATION, "afterHours: 0 up to a year")
        entry: dict[str, Any] = {"afterHours": e.after_hours, "to": e.to.value}
        if e.to == EscalateTo.ROLE:
            if e.role not in ROLES:
                v.add((*at, "role"), AutomationErrorCode.INVALID_ESCALATION,
                      f"a ROLE escalation names one of {', '.join(ROLES)}")
            entry["role"] = e.role
        elif e.to == EscalateTo.USER:
            user = await session.scalar(select(User).where(User.org_id == org_id, User.id == e.user_id)) \
                if e.user_id is not None else None
            if e.user_id is not None and user is None:
                raise NotFound("User", e.user_id)  # another org's user is no user at all
            if user is None or not user.active:
                v.add((*at, "userId"), AutomationErrorCode.INVALID_ESCALATION,
                      "a USER escalation names an active user of the org")
            entry["userId"] = e.user_id
        out.append(entry)
    if [x["afterHours"] for x in out] != sorted(x["afterHours"] for x in out):
        v.add("escalations", AutomationErrorCode.INVALID_ESCALATION, "escalations come in order of afterHours")
    return out


async def set_policy(session: AsyncSession, actor: Actor, catalog: Catalog, data: PolicyInput, *,
                     can_read: Callable[[str, str], bool]) -> SlaPolicy:
    """Create or replace the org's policy for a record type (``objectType``), or for a built-in kind in the
    old shape (``kind``, ``dueHours``, ``escalateAfterHours``)."""
    object_type = data.object_type or (KIND_TYPES[data.kind] if data.kind else None)
    if object_type is None:
        raise ValidationFailed.one("objectType", AutomationErrorCode.SLA_POLICY_INCOMPLETE,
                                   "name the record type (objectType)")
    if object_type not in catalog.models:
        raise ValidationFailed.one("objectType", AutomationErrorCode.UNKNOWN_OBJECT_TYPE,
                                   f"{object_type!r} is not a record type")
    v = Validator()
    start_on = _entries(v, "startOn", data.start_on)
    stop_on = _entries(v, "stopOn", data.stop_on)
    pause_on = _entries(v, "pauseOn", data.pause_on)
    validate_conditions(v, catalog, object_type, data.conditions, can_read)
    target = data.target_hours if data.target_hours is not None else data.due_hours
    if target is not None and not 0 < target <= 24 * 366:
        v.add("targetHours" if data.target_hours is not None else "dueHours", AutomationErrorCode.INVALID_SLA_TARGET,
              "the target is a positive number of hours, at most a year")
    if data.escalate_after_hours is not None and data.escalate_after_hours <= 0:
        v.add("escalateAfterHours", SharedErrorCode.INVALID, "escalateAfterHours must be positive")
    built = object_type in KIND_TYPES.values() and not start_on
    if not built:
        if not start_on:
            v.add("startOn", AutomationErrorCode.SLA_POLICY_INCOMPLETE, "name what starts the clock (startOn)")
        if target is None:
            v.add("targetHours", AutomationErrorCode.SLA_POLICY_INCOMPLETE, "name the target (targetHours)")
        if not stop_on:
            v.add("stopOn", AutomationErrorCode.SLA_POLICY_INCOMPLETE, "name what stops the clock (stopOn)")
        if overlap := (set(start_on) & set(stop_on)) | (set(stop_on) & set(pause_on)) | (set(start_on) & set(pause_on)):
            v.add("pauseOn", AutomationErrorCode.INVALID_SLA_EVENT,
                  f"{', '.join(sorted(overlap))} cannot both start, stop or pause the clock")
    escalations = await _escalations(session, v, actor.org_id, data.escalations or [])
    v.raise_if_any()
    kind = kind_of(object_type)
    policy = await session.scalar(select(SlaPolicy).where(SlaPolicy.org_id == actor.org_id, SlaPolicy.kind == kind))
    if policy is None:
        policy = SlaPolicy(org_id=actor.org_id, kind=kind, object_type=object_type)
        session.add(policy)
    if built:  # a built-in kind: due time, escalations up the owner's chain every escalateAfterHours
        policy.due_hours = target
        after = data.escalate_after_hours or next((e["afterHours"] for e in escalations if e["afterHours"]), None)
        policy.escalate_after_hours = after or policy.escalate_after_hours or 24.0
        if data.remind_before_hours is not None or policy.remind_before_hours is None:
            policy.remind_before_hours = data.remind_before_hours or 24.0
        built_in(policy)
    else:
        policy.conditions, policy.start_on, policy.stop_on, policy.pause_on = \
            data.conditions, start_on, stop_on, pause_on
        policy.target_hours = target
        policy.calendar = (data.calendar or SlaCalendar.BUSINESS_HOURS).value
        policy.escalations = escalations
        policy.escalate_after_hours = data.escalate_after_hours or policy.escalate_after_hours or 24.0
        policy.remind_before_hours = policy.remind_before_hours or 24.0
    policy.updated_at = clock.now()
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="sla.policy_set", record_type="Org",
                 record_id=actor.org_id, operation="update",
                 payload={"kind": kind, "objectType": object_type, "targetHours": policy.target_hours,
                          "dueHours": policy.due_hours, "escalateAfterHours": policy.escalate_after_hours})
    return policy


async def list_policies(session: AsyncSession, org_id: int) -> list[SlaPolicy]:
    return list(await session.scalars(select(SlaPolicy).where(SlaPolicy.org_id == org_id)
                                      .order_by(SlaPolicy.object_type, SlaPolicy.id)))


async def get_org_calendar(session: AsyncSession, org_id: int) -> OrgCalendar:
    """The org's working calendar (the default one, unsaved, when it never set one)."""
    row = await session.get(OrgCalendar, org_id)
    return row or OrgCalendar(org_id=org_id, weekend_days=[5, 6], holidays=[], day_start_hour=9, day_end_hour=18,
                              time_zone="UTC")


async def set_org_calendar(session: AsyncSession, actor: Actor, *, weekend_days: list[int] | None = None,
                           holidays: list[str] | None = None, day_start_hour: int | None = None,
                           day_end_hour: int | None = None, time_zone: str | None = None) -> OrgCalendar:
    """The org's working calendar as business-hours SLA clocks count it (holidays as ISO dates); what is not
    given stays as it was."""
    row = await session.get(OrgCalendar, actor.org_id)
    if row is None:
        row = await get_org_calendar(session, actor.org_id)
        session.add(row)
    v = Validator()
    weekend = sorted(set(weekend_days)) if weekend_days is not None else list(row.weekend_days)
    if any(not 0 <= d <= 6 for d in weekend) or len(weekend) >= 7:
        v.add("weekendDays", AutomationErrorCode.INVALID_CALENDAR, "weekend days are 0 (Monday) to 6, leaving a "
                                                                   "working day")
    days = sorted(set(holidays)) if holidays is not None else list(row.holidays)
    if len(days) > 1000:
        v.add("holidays", AutomationErrorCode.INVALID_CALENDAR, "at most 1000 holidays")
    start = day_start_hour if day_start_hour is not None else row.day_start_hour
    end = day_end_hour if day_end_hour is not None else row.day_end_hour
    if not 0 <= start < end <= 24:
        v.add("dayEndHour", AutomationErrorCode.INVALID_CALENDAR, "a working day runs from dayStartHour to a later "
                                                                  "dayEndHour, 0 to 24")
    zone = time_zone if time_zone is not None else row.time_zone
    try:
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        v.add("timeZone", AutomationErrorCode.INVALID_CALENDAR, "an IANA time zone, e.g. Asia/Shanghai")
    v.raise_if_any()
    row.weekend_days, row.holidays, row.day_start_hour, row.day_end_hour, row.time_zone = \
        weekend, days, start, end, zone
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="sla.calendar_set", record_type="Org",
                 record_id=actor.org_id, operation="update",
                 payload={"weekendDays": weekend, "holidays": days, "dayStartHour": start, "dayEndHour": end,
                          "timeZone": zone})
    return row


# --- moving clocks on the events a unit of work records ------------------------------------------


@dataclass
class _Reads:
    policies: dict[int, list[SlaPolicy]] = field(default_factory=dict)
    calendars: dict[int, BusinessHours] = field(default_factory=dict)


async def _hours(session: AsyncSession, reads: _Reads, policy: SlaPolicy, start: datetime, end: datetime) -> float:
    if policy.calendar != SlaCalendar.BUSINESS_HOURS:
        return wall_hours(start, end)
    if policy.org_id not in reads.calendars:
        reads.calendars[policy.org_id] = BusinessHours.of(await session.get(OrgCalendar, policy.org_id))
    return reads.calendars[policy.org_id].hours_between(start, end)


def _concerns(policy: SlaPolicy, event: OutboxEvent) -> tuple[int, bool] | None:
    """The id of the policy's record an event counts for, and whether it is about the record itself."""
    if event.record_type == policy.object_type:
        return event.record_id, True
    if event.timeline_type == policy.object_type and event.timeline_id is not None:
        return event.timeline_id, False
    if event.also_type == policy.object_type and event.also_id is not None:
        return event.also_id, False
    return None


def _hits(entries: list[str], topic: str, values: tuple[str | None, ...]) -> bool:
    return topic in entries or any(v is not None and v in entries for v in values)


async def _settle(session: AsyncSession, batch: list[tuple[OutboxEvent, int]]) -> None:
    events = [e for e, _ in batch if not e.topic.startswith("sla.") or e.topic == "sla.policy_set"]
    if not events:
        return
    reads: _Reads = session.info.setdefault(POLICIES, _Reads())
    if any(e.topic == "sla.policy_set" for e in events):
        reads.policies.clear()
    for org_id in {e.org_id for e in events} - set(reads.policies):
        reads.policies[org_id] = [p for p in await session.scalars(select(SlaPolicy).where(SlaPolicy.org_id == org_id))
                                  if p.runs_on_clocks]
    for event in events:
        for policy in reads.policies[event.org_id]:
            found = _concerns(policy, event)
            if found is not None:
                await _move(session, reads, policy, event, *found)


async def _move(session: AsyncSession, reads: _Reads, policy: SlaPolicy, event: OutboxEvent, record_id: int,
                own: bool) -> None:
    payload = event.payload if isinstance(event.payload, dict) else {}
    what = rule_engine.fired(event.topic, event.operation, payload)
    values = (what.status, what.stage) if own else ()
    left: tuple[str | None, ...] = ()
    if own and ("status" in what.change or "stage" in what.change):
        before = what.change.get("status") or what.change.get("stage")
        left = (before[0],) if isinstance(before, list) and len(before) == 2 else ()
    now = clock.now()
    clock_row = await session.scalar(select(SlaClock).where(
        SlaClock.policy_id == policy.id, SlaClock.record_type == policy.object_type, SlaClock.record_id == record_id))
    if _hits(policy.stop_on, event.topic, values):
        if clock_row is not None and clock_row.stopped_at is None:
            await _accrue(session, reads, policy, clock_row, now)
            clock_row.stopped_at, clock_row.paused_since = now, None
    elif _hits(policy.pause_on, event.topic, values):
        if clock_row is not None and clock_row.stopped_at is None and clock_row.running_since is not None:
            await _accrue(session, reads, policy, clock_row, now)
            clock_row.paused_since = now
    elif _hits(policy.start_on, event.topic, values) or (left and _hits(policy.pause_on, "", left)):
        if clock_row is None and _hits(policy.start_on, event.topic, values):
            if await _applies(session, policy, record_id, what.change, now):
                session.add(SlaClock(org_id=policy.org_id, policy_id=policy.id, record_type=policy.object_type,
                                     record_id=record_id, started_at=now, running_since=now, elapsed_hours=0.0,
                                     escalated=0))
        elif clock_row is not None and clock_row.stopped_at is None and clock_row.paused_since is not None:
            clock_row.running_since, clock_row.paused_since = now, None
    await session.flush()


async def _accrue(session: AsyncSession, reads: _Reads, policy: SlaPolicy, row: SlaClock, now: datetime) -> None:
    if row.running_since is not None:
        row.elapsed_hours += await _hours(session, reads, policy, row.running_since, now)
        row.running_since = None


async def _applies(session: AsyncSession, policy: SlaPolicy, record_id: int, change: dict[str, Any],
                   now: datetime) -> bool:
    if policy.conditions is None:
        return True
    cat = rule_engine.catalog()
    record = await session.get(cat.models[policy.object_type], record_id)
    if record is None:
        return False
    values = await rule_engine.read_values(session, cat, policy.org_id, policy.object_type, record,
                                           fields_of(policy.conditions))
    return evaluate(policy.conditions, Facts(values, change, now))[0]


settlers.append(_settle)


# --- status, breaches and escalations ------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    policy: SlaPolicy
    target: float
    elapsed: float
    remaining: float
    breached: bool
    paused_since: datetime | None
    started_at: datetime | None
    stopped_at: datetime | None


async def _elapsed(session: AsyncSession, reads: _Reads, policy: SlaPolicy, row: SlaClock, now: datetime) -> float:
    running = await _hours(session, reads, policy, row.running_since, now) if row.running_since else 0.0
    return row.elapsed_hours + running


async def statuses_of(session: AsyncSession, org_id: int, record_type: str, ids: list[int]) -> dict[int, Status]:
    """Each record's SLA status by id (absent: no policy applies to it, or its clock never started)."""
    now = clock.now()
    reads = _Reads()
    out: dict[int, Status] = {}
    rows = list(await session.execute(select(SlaClock, SlaPolicy).join(SlaPolicy, SlaPolicy.id == SlaClock.policy_id)
                                      .where(SlaClock.org_id == org_id, SlaClock.record_type == record_type,
                                             SlaClock.record_id.in_(ids))))
    for row, policy in rows:
        elapsed = await _elapsed(session, reads, policy, row, now)
        target = policy.target_hours or 0.0
        out[row.record_id] = Status(policy, target, round(elapsed, 4), round(max(target - elapsed, 0.0), 4),
                                    row.breached_at is not None or elapsed >= target, row.paused_since,
                                    row.started_at, row.stopped_at)
    if record_type == "ActionItem":
        out.update({k: s for k, s in (await _action_items(session, org_id, ids, now)).items() if k not in out})
    return out


async def _action_items(session: AsyncSession, org_id: int, ids: list[int], now: datetime) -> dict[int, Status]:
    """Action items under the built-in kind: counted from creation to their due time."""
    policy = await session.scalar(select(SlaPolicy).where(SlaPolicy.org_id == org_id,
                                                          SlaPolicy.kind == SlaKind.ACTION_ITEM.value))
    if policy is not None and policy.runs_on_clocks:
        return {}
    out = {}
    for item in await session.scalars(select(ActionItem).where(ActionItem.org_id == org_id, ActionItem.id.in_(ids))):
        due = item.due_at
        if due is None and policy is not None and policy.due_hours:
            due = item.created_at + timedelta(hours=policy.due_hours)
        if due is None:
            continue
        end = item.completed_at or now
        target, elapsed = wall_hours(item.created_at, due), wall_hours(item.created_at, end)
        out[item.id] = Status(policy or SlaPolicy(kind=SlaKind.ACTION_ITEM.value, object_type="ActionItem"),
                              round(target, 4), round(elapsed, 4), round(max(target - elapsed, 0.0), 4), end > due,
                              None, item.created_at, item.completed_at)
    return out


async def _targets(session: AsyncSession, org_id: int, record: Any, escalation: dict[str, Any]) -> list[int]:
    to = escalation.get("to")
    if to == EscalateTo.USER:
        user = await session.scalar(select(User).where(User.org_id == org_id, User.id == escalation.get("userId")))
        return [user.id] if user is not None and user.active else []
    if to == EscalateTo.ROLE:
        users = await session.scalars(select(User).where(User.org_id == org_id, User.active.is_(True))
                                      .order_by(User.id))
        return [u.id for u in users if escalation.get("role") in (u.roles or [])]
    owner_id = getattr(record, "owner_id", None) or getattr(record, "assignee_id", None)
    owner = await session.scalar(select(User).where(User.org_id == org_id, User.id == owner_id)) if owner_id else None
    if owner is None or owner.manager_id is None:
        return []
    boss = await session.scalar(select(User).where(User.org_id == org_id, User.id == owner.manager_id))
    return [boss.id] if boss is not None and boss.active else []


async def run_sla_clocks(session: AsyncSession, now: datetime) -> list[Escalation]:
    """One pass over running clocks: breaches marked, escalations due made (each level once). Idempotent."""
    reads = _Reads()
    cat = rule_engine.catalog()
    rows = list(await session.execute(select(SlaClock, SlaPolicy).join(SlaPolicy, SlaPolicy.id == SlaClock.policy_id)
                                      .where(SlaClock.stopped_at.is_(None), SlaClock.running_since.is_not(None))))
    created: list[Escalation] = []
    for row, policy in rows:
        if not policy.runs_on_clocks or policy.target_hours is None:
            continue
        elapsed = await _elapsed(session, reads, policy, row, now)
        if elapsed < policy.target_hours:
            continue
        if row.breached_at is None:
            row.breached_at = now
        while row.escalated < len(policy.escalations):
            escalation = policy.escalations[row.escalated]
            if elapsed < policy.target_hours + float(escalation.get("afterHours") or 0):
                break
            row.escalated += 1
            record = await session.get(cat.models[policy.object_type], row.record_id)
            targets = await _targets(session, policy.org_id, record, escalation) if record is not None else []
            if not targets:
                continue  # nobody to tell at this level; the next level still comes
            made = Escalation(org_id=policy.org_id, item_kind=f"sla.{policy.kind}"[:40], item_id=row.record_id,
                              level=row.escalated, escalated_to_id=targets[0], record_type=policy.object_type,
                              record_id=row.record_id, created_at=now)
            session.add(made)
            await session.flush()
            payload = {"id": row.record_id, "level": row.escalated, "escalatedToId": targets[0],
                       "kind": policy.kind, "dueAt": row.breached_at.isoformat(), "targetHours": policy.target_hours,
                       "elapsedHours": round(elapsed, 2)}
            if isinstance(getattr(record, "name", None), str):
                payload["name"] = record.name
            record_event(session, None, org_id=policy.org_id, topic="sla.escalated", record_type=policy.object_type,
                         record_id=row.record_id, operation="update", audience=targets, payload=payload)
            created.append(made)
    await session.flush()
    return created


__all__ = ["EscalateTo", "EscalationInput", "PolicyInput", "SlaCalendar", "SlaClock", "Status", "list_policies",
           "get_org_calendar", "run_sla_clocks", "set_org_calendar", "set_policy", "statuses_of"]
