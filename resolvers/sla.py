"""SLA policies on any record type and the org's working calendar (admins)."""

from __future__ import annotations

import strawberry

from tandem.domain.automation import sla as service
from tandem.domain.automation.rule_engine import catalog
from tandem.domain.collaboration.sla import SlaKind
from tandem.schema.node import decode_id, to_global_id
from tandem.schema.sla import (
    DeleteSlaPolicyInput,
    DeleteSlaPolicyPayload,
    SetSlaPolicyInput,
    SetWorkingCalendarInput,
    SlaPolicy,
    SlaPolicyPayload,
    WorkingCalendar,
    WorkingCalendarPayload,
)

from .mutation import run
from .writes import acts


def _payload(m=None, user_errors=None) -> SlaPolicyPayload:
    return SlaPolicyPayload(sla_policy=SlaPolicy.from_model(m) if m else None, user_errors=user_errors or [])


def _input(input: SetSlaPolicyInput) -> service.PolicyInput:
    return service.PolicyInput(
        id=decode_id("SlaPolicy", input.id) if input.id is not None else None, position=input.position,
        object_type=input.object_type, kind=SlaKind(input.kind) if input.kind else None, conditions=input.conditions,
        start_on=list(input.start_on or []), stop_on=list(input.stop_on or []), pause_on=list(input.pause_on or []),
        target_hours=input.target_hours,
        calendar=service.SlaCalendar(input.calendar) if input.calendar else None,
        escalations=[service.EscalationInput(after_hours=e.after_hours, to=service.EscalateTo(e.to), role=e.role,
                                             user_id=decode_id("User", e.user_id) if e.user_id else None)
                     for e in input.escalations] if input.escalations is not None else None,
        due_hours=input.due_hours, escalate_after_hours=input.escalate_after_hours,
        remind_before_hours=input.remind_before_hours)


@strawberry.type
class SlaQuery:
    @strawberry.field(description="Your org's SLA policies by record type, each type's in the order they are tried "
                                  "(admins).")
    async def sla_policies(self, info: strawberry.Info) -> list[SlaPolicy]:
        ctx = info.context
        ctx.authz.require("Policy", "manage")
        async with ctx.read() as session:
            rows = await service.list_policies(session, ctx.actor.org_id)
        return [SlaPolicy.from_model(r) for r in rows]

    @strawberry.field(description="The org's working calendar, as business-hours SLA clocks count it (admins).")
    async def working_calendar(self, info: strawberry.Info) -> WorkingCalendar:
        ctx = info.context
        ctx.authz.require("Policy", "manage")
        async with ctx.read() as session:
            return WorkingCalendar.from_model(await service.get_org_calendar(session, ctx.actor.org_id))


@strawberry.type
class SlaMutation:
    @acts("Policy", "manage")
    @strawberry.mutation(description="Set an SLA policy for a record type: which records (conditions), what starts, "
                                     "pauses and stops a record's clock, its target in hours, the calendar and the "
                                     "escalations (admins). With an id it replaces that policy. The old shape (kind, "
                                     "escalateAfterHours, dueHours) still sets a built-in kind.")
    async def set_sla_policy(self, info: strawberry.Info, input: SetSlaPolicyInput) -> SlaPolicyPayload:
        ctx = info.context
        data = _input(input)
        return await run(info, lambda s: service.set_policy(s, ctx.actor, catalog(), data,
                                                            can_read=ctx.authz.can_read), _payload)

    @acts("Policy", "manage")
    @strawberry.mutation(description="Delete an SLA policy and its records' clocks (admins); escalations made stay.")
    async def delete_sla_policy(self, info: strawberry.Info, input: DeleteSlaPolicyInput) -> DeleteSlaPolicyPayload:
        ctx = info.context
        pk = decode_id("SlaPolicy", input.id)
        return await run(info, lambda s: service.delete_policy(s, ctx.actor, pk),
                         lambda m=None, user_errors=None: DeleteSlaPolicyPayload(
                             deleted_id=to_global_id("SlaPolicy", m.id) if m else None, user_errors=user_errors or []))

    @acts("Policy", "manage")
    @strawberry.mutation(description="Set the org's working week, holidays, hours and time zone (admins); what is "
                                     "not given stays as it was.")
    async def set_working_calendar(self, info: strawberry.Info,
                                   input: SetWorkingCalendarInput) -> WorkingCalendarPayload:
        ctx = info.context
        return await run(info, lambda s: service.set_org_calendar(
            s, ctx.actor, weekend_days=input.weekend_days,
            holidays=[d.isoformat() for d in input.holidays] if input.holidays is not None else None,
            day_start_hour=input.day_start_hour, day_end_hour=input.day_end_hour, time_zone=input.time_zone),
            lambda m=None, user_errors=None: WorkingCalendarPayload(
                working_calendar=WorkingCalendar.from_model(m) if m else None, user_errors=user_errors or []))
