"""SLA policies: the enums of their shape, each record's SLA clock row, setting (several per record type,
tried in ``position`` order) and deleting a policy (checked as workflow rules' conditions are; its start, stop
and pause entries against the topics and status or stage values its record type has) and the org's working
calendar. What moves the clocks is ``clocks``."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ...collaboration.sla import KIND_TYPES, SlaKind, SlaPolicy, built_in, built_in_policy, kind_of
from ...delivery.calendar import OrgCalendar
from ...pipeline.stage import PipelineStage
from ...shared.actor import Actor
from ...shared.base import Base, IdType, pk
from ...shared.clock import clock
from ...shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ...shared.outbox import record_event
from ...tenancy.user import ROLES, User
from ..conditions import Catalog, validate_conditions
from ..errors import AutomationErrorCode

MAX_ENTRIES = 20
MAX_ESCALATIONS = 10
TOPIC = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
GONE = (".archived", ".deleted")
"""Topic endings that stop a record's clock whatever the policy says (an archived record waits on nobody)."""
POLICIES = "sla_policies"
"""``session.info`` key: each org's clock policies by record type, read once per unit of work."""
CHANGED = ("sla.policy_set", "sla.policy_deleted")
"""Topics after which the policies read in a unit of work are read again."""

TopicsOf = Callable[[str], frozenset[str]]
_topics_of: TopicsOf | None = None


def install(topics_of: TopicsOf) -> None:
    """The registry's topics by record type: those about a record of the type or that may show on its timeline
    (domain/registry hands them down when it is imported; automation sits below it)."""
    global _topics_of
    _topics_of = topics_of


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
    id: int | None = None
    """The policy to replace (None: the type's policy with the same conditions, or a new one after the others)."""
    position: int | None = None
    """Where it stands among the type's policies (lowest first); None: after the others, or where it was."""
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


def statuses(model: type) -> frozenset[str] | None:
    """The status values a record type's rows take: the ``<Type>Status`` enum its model's module defines (or the
    one status enum defined there); empty without a status; None when its values are not known."""
    if not hasattr(model, "status"):
        return frozenset()
    module = vars(sys.modules[model.__module__])
    found = [v for k, v in module.items() if isinstance(v, type) and issubclass(v, StrEnum) and k.endswith("Status")
             and v.__module__ == model.__module__]
    chosen = module.get(f"{model.__name__}Status") or (found[0] if len(found) == 1 else None)
    return frozenset(m.value for m in chosen) if isinstance(chosen, type) and issubclass(chosen, StrEnum) else None


async def _values(session: AsyncSession, org_id: int, model: type) -> frozenset[str] | None:
    """Every status or stage value a record of the model can be in (None: not known, anything goes)."""
    found = statuses(model)
    if found is None:
        return None
    if hasattr(model, "stage_key"):  # stages are each org's own, in its pipelines
        found |= frozenset(await session.scalars(select(PipelineStage.key).where(PipelineStage.org_id == org_id)))
    return found


async def _check_entries(session: AsyncSession, v: Validator, org_id: int, catalog: Catalog, object_type: str,
                         entries: dict[str, list[str]]) -> None:
    """UNKNOWN_TOPIC for a topic no event about a record of the type (or on its timeline) has, or an SLA clock's
    own; UNKNOWN_STATUS for a value that is none of the type's statuses or stages."""
    topics = _topics_of(object_type) if _topics_of is not None else None
    values: frozenset[str] | None = None
    read = False
    for key, given in entries.items():
        for i, entry in enumerate(given):
            if not entry or (("." in entry) and not TOPIC.match(entry)):
                continue  # INVALID_SLA_EVENT already
            if "." in entry:
                if entry.startswith("sla.") or (topics is not None and entry not in topics):
                    v.add((key, str(i)), AutomationErrorCode.UNKNOWN_TOPIC,
                          f"no {object_type} event has the topic {entry!r}")
                continue
            if not read:
                values, read = await _values(session, org_id, catalog.models[object_type]), True
            if values is not None and entry not in values:
                v.add((key, str(i)), AutomationErrorCode.UNKNOWN_STATUS,
                      f"{entry!r} is no status or stage of a {object_type}")


async def _policy_for_write(session: AsyncSession, actor: Actor, policy_id: int) -> SlaPolicy:
    policy = await session.scalar(select(SlaPolicy).where(SlaPolicy.org_id == actor.org_id,
                                                          SlaPolicy.id == policy_id))
    if policy is None:
        raise NotFound("SlaPolicy", policy_id)
    return policy


async def set_policy(session: AsyncSession, actor: Actor, catalog: Catalog, data: PolicyInput, *,
                     can_read: Callable[[str, str], bool]) -> SlaPolicy:
    """Set a policy for a record type (``objectType``): the one named by ``id``, replaced whole (its record type
    stays); else the type's policy with the same conditions, replaced; else a new one after the others. The old
    shape (``kind``, ``dueHours``, ``escalateAfterHours``) sets the kind's built-in policy."""
    existing = await _policy_for_write(session, actor, data.id) if data.id is not None else None
    object_type = data.object_type or (KIND_TYPES[data.kind] if data.kind else None) or \
        (existing.object_type if existing else None)
    if object_type is None:
        raise ValidationFailed.one("objectType", AutomationErrorCode.SLA_POLICY_INCOMPLETE,
                                   "name the record type (objectType)")
    if object_type not in catalog.models:
        raise ValidationFailed.one("objectType", AutomationErrorCode.UNKNOWN_OBJECT_TYPE,
                                   f"{object_type!r} is not a record type")
    if existing is not None and object_type != existing.object_type:
        raise ValidationFailed.one("objectType", AutomationErrorCode.SLA_OBJECT_TYPE_LOCKED,
                                   f"the policy is about {existing.object_type} records; set a new one instead")
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
    if data.position is not None and not 0 <= data.position <= 10_000:
        v.add("position", SharedErrorCode.INVALID, "position: 0 to 10000")
    built = object_type in KIND_TYPES.values() and not start_on
    if built and existing is not None and existing.runs_on_clocks:
        v.add("startOn", AutomationErrorCode.SLA_POLICY_INCOMPLETE, "name what starts the clock (startOn)")
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
        await _check_entries(session, v, actor.org_id, catalog, object_type,
                             {"startOn": start_on, "stopOn": stop_on, "pauseOn": pause_on})
    escalations = await _escalations(session, v, actor.org_id, data.escalations or [])
    v.raise_if_any()
    kind = kind_of(object_type)
    policy = existing
    if policy is None and built:
        policy = await built_in_policy(session, actor.org_id, kind)
    if policy is None and not built:
        same = await session.scalars(select(SlaPolicy).where(SlaPolicy.org_id == actor.org_id,
                                                             SlaPolicy.object_type == object_type)
                                     .order_by(SlaPolicy.position, SlaPolicy.id))
        policy = next((p for p in same if p.runs_on_clocks and p.conditions == data.conditions), None)
    if policy is None:
        last = await session.scalar(select(func.max(SlaPolicy.position)).where(
            SlaPolicy.org_id == actor.org_id, SlaPolicy.object_type == object_type))
        policy = SlaPolicy(org_id=actor.org_id, kind=kind, object_type=object_type,
                           position=data.position if data.position is not None else
                           (last + 1 if last is not None else 0))
        session.add(policy)
    elif data.position is not None:
        policy.position = data.position
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
                          "dueHours": policy.due_hours, "escalateAfterHours": policy.escalate_after_hours,
                          "position": policy.position})
    return policy


async def delete_policy(session: AsyncSession, actor: Actor, policy_id: int) -> SlaPolicy:
    """Delete one of the org's policies and its records' clocks (their SLA status goes with it; escalations made
    stay). Records it counted for are counted by the next policy that matches them once a start entry comes."""
    policy = await _policy_for_write(session, actor, policy_id)
    await session.execute(delete(SlaClock).where(SlaClock.org_id == actor.org_id, SlaClock.policy_id == policy.id))
    await session.delete(policy)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="sla.policy_deleted", record_type="Org",
                 record_id=actor.org_id, operation="update",
                 payload={"kind": policy.kind, "objectType": policy.object_type, "position": policy.position})
    return policy


async def list_policies(session: AsyncSession, org_id: int) -> list[SlaPolicy]:
    """The org's policies by record type, each type's in the order they are tried."""
    return list(await session.scalars(select(SlaPolicy).where(SlaPolicy.org_id == org_id)
                                      .order_by(SlaPolicy.object_type, SlaPolicy.position, SlaPolicy.id)))


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
