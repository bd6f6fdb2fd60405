"""SLA policies (several per record type and org, tried in order), their inputs, and the SLA status a record
shows."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

import strawberry

from tandem.domain.automation.sla import EscalateTo as _EscalateTo
from tandem.domain.automation.sla import SlaCalendar as _SlaCalendar
from tandem.domain.automation.sla import Status
from tandem.domain.collaboration.sla import KIND_TYPES
from tandem.domain.collaboration.sla import SlaKind as _SlaKind
from tandem.domain.collaboration.sla import SlaPolicy as SlaPolicyModel
from tandem.domain.delivery.calendar import OrgCalendar

from .errors import UserError
from .node import from_global_id, to_global_id
from .scalars import JSON

SlaKind = strawberry.enum(_SlaKind, name="SlaKind", description="The built-in kinds, counted from an item's due time.")
SlaCalendar = strawberry.enum(_SlaCalendar, name="SlaCalendar", description=(
    "BUSINESS_HOURS: the org's working days (weekends and holidays off) and working hours; ALWAYS: around the clock."))
EscalateTo = strawberry.enum(_EscalateTo, name="EscalateTo")

_KINDS = {t: k for k, t in KIND_TYPES.items()}
ENTRIES = ("Event topics (`opportunity.created`, `interaction.logged`: an event about the record or on its "
           "timeline) or status/stage values of the record (`WAITING_ON_CUSTOMER`, `negotiation`).")


@strawberry.type(description="One step of a policy's escalation: so many hours past the breach, to someone.")
class SlaEscalation:
    after_hours: float
    to: EscalateTo
    role: str | None = None
    user_id: strawberry.ID | None = None


@strawberry.type(description="How long records of a type may wait, on which calendar, and who hears of a breach.")
class SlaPolicy:
    id: strawberry.ID | None = strawberry.field(description="Null for a built-in kind's defaults the org never set.")
    object_type: str
    position: int = strawberry.field(description=(
        "Where it stands among the type's policies: the first (lowest position, then oldest) whose conditions "
        "match a record counts for it."))
    kind: SlaKind | None = strawberry.field(description="The built-in kind, for action items, invoices and tasks.")
    conditions: JSON | None
    start_on: list[str] = strawberry.field(description="What starts (or resumes) a record's clock. " + ENTRIES +
                                           " Empty for a built-in kind: counted from the item's due time.")
    stop_on: list[str]
    pause_on: list[str] = strawberry.field(description="What pauses it; leaving a pause status resumes it.")
    target_hours: float | None
    calendar: SlaCalendar
    escalations: list[SlaEscalation]
    due_hours: float | None
    escalate_after_hours: float
    remind_before_hours: float

    @classmethod
    def from_model(cls, m: SlaPolicyModel) -> SlaPolicy:
        return cls(id=to_global_id("SlaPolicy", m.id) if m.id is not None else None, object_type=m.object_type,
                   position=m.position or 0,
                   kind=_KINDS.get(m.object_type) if not m.start_on else None,
                   conditions=m.conditions, start_on=list(m.start_on or []), stop_on=list(m.stop_on or []),
                   pause_on=list(m.pause_on or []), target_hours=m.target_hours,
                   calendar=_SlaCalendar(m.calendar or "ALWAYS"),
                   escalations=[_escalation(e) for e in m.escalations or []], due_hours=m.due_hours,
                   escalate_after_hours=m.escalate_after_hours or 24.0,
                   remind_before_hours=m.remind_before_hours or 24.0)


def _escalation(e: dict[str, Any]) -> SlaEscalation:
    return SlaEscalation(after_hours=float(e.get("afterHours") or 0), to=_EscalateTo(e.get("to", "OWNER_MANAGER")),
                         role=e.get("role"), user_id=to_global_id("User", e["userId"]) if e.get("userId") else None)


@strawberry.type(description="Where a record stands against its SLA policy (hours on the policy's calendar).")
class SlaStatus:
    _policy: strawberry.Private[SlaPolicy]
    target: float
    elapsed: float
    remaining: float
    breached: bool
    paused_since: datetime | None
    started_at: datetime | None
    stopped_at: datetime | None

    @strawberry.field(description="The policy counting it; its conditions and escalations are the admins' to read "
                                  "(null and empty for anyone else).")
    def policy(self, info: strawberry.Info) -> SlaPolicy:
        if info.context.authz.can("Policy", "manage"):
            return self._policy
        return dataclasses.replace(self._policy, conditions=None, escalations=[])

    @classmethod
    def from_status(cls, s: Status) -> SlaStatus:
        return cls(_policy=SlaPolicy.from_model(s.policy), target=s.target, elapsed=s.elapsed, remaining=s.remaining,
                   breached=s.breached, paused_since=s.paused_since, started_at=s.started_at, stopped_at=s.stopped_at)


SLA_STATUS = "The record's SLA clock: target, elapsed and remaining hours, breached, paused (null: no policy applies)."


async def load_sla_status(info: strawberry.Info, global_id: str) -> SlaStatus | None:
    """The one resolver of every record type's ``slaStatus``."""
    type_name, pk = from_global_id(global_id)
    status = await info.context.loaders.sla_status(type_name).load(int(pk))
    return SlaStatus.from_status(status) if status else None


@strawberry.input
class SlaEscalationInput:
    after_hours: float = strawberry.field(description="Hours past the breach (0: at the breach).")
    to: EscalateTo
    role: str | None = None
    user_id: strawberry.ID | None = None


@strawberry.input(description="Either a policy for any record type (objectType, startOn, stopOn, targetHours, ...) or, "
                              "as before, a built-in kind (kind, escalateAfterHours, dueHours). With an id it "
                              "replaces that policy; without, the type's policy with the same conditions, or it "
                              "adds one after the others.")
class SetSlaPolicyInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="The policy to replace.")
    position: int | None = strawberry.field(default=None, description=(
        "Where it stands among the type's policies (lowest first); by default after the others, or where it was."))
    kind: SlaKind | None = None
    escalate_after_hours: float | None = None
    due_hours: float | None = None
    remind_before_hours: float | None = None
    object_type: str | None = strawberry.field(default=None, description="A record type (`Opportunity`, `Lead`...).")
    conditions: JSON | None = strawberry.field(default=None, description="A workflow condition tree: which records.")
    start_on: list[str] | None = strawberry.field(default=None, description=ENTRIES)
    stop_on: list[str] | None = None
    pause_on: list[str] | None = None
    target_hours: float | None = None
    calendar: SlaCalendar | None = None
    escalations: list[SlaEscalationInput] | None = None


@strawberry.type(description="The org's working week, holidays and hours: what BUSINESS_HOURS SLA clocks count.")
class WorkingCalendar:
    weekend_days: list[int] = strawberry.field(description="0 is Monday, 6 Sunday.")
    holidays: list[date]
    day_start_hour: int
    day_end_hour: int
    time_zone: str

    @classmethod
    def from_model(cls, m: OrgCalendar) -> WorkingCalendar:
        return cls(weekend_days=list(m.weekend_days), holidays=[date.fromisoformat(d) for d in m.holidays],
                   day_start_hour=m.day_start_hour, day_end_hour=m.day_end_hour, time_zone=m.time_zone)


@strawberry.input
class SetWorkingCalendarInput:
    weekend_days: list[int] | None = None
    holidays: list[date] | None = None
    day_start_hour: int | None = None
    day_end_hour: int | None = None
    time_zone: str | None = strawberry.field(default=None, description="An IANA time zone, e.g. Asia/Shanghai.")


@strawberry.type
class WorkingCalendarPayload:
    working_calendar: WorkingCalendar | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SlaPolicyPayload:
    sla_policy: SlaPolicy | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class DeleteSlaPolicyInput:
    id: strawberry.ID


@strawberry.type
class DeleteSlaPolicyPayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
