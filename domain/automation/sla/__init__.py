"""SLA policies on any record type, and the SLA clock of each record they apply to.

A policy (``collaboration.sla.SlaPolicy``; several per record type and org, tried in ``position`` order: the
first whose conditions match a record counts for it) names the events or status/stage
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
record's timeline and to the escalated person live (``sla.escalated``). A clock starting, pausing, resuming,
stopping (``sla.met`` within its target, else ``sla.stopped``) and breaching is an event about the record, on
its timeline and in the change feed."""

from __future__ import annotations

from .clocks import Status, run_sla_clocks, start_clock, statuses_of
from .policy import (
    EscalateTo,
    EscalationInput,
    PolicyInput,
    SlaCalendar,
    SlaClock,
    delete_policy,
    get_org_calendar,
    install,
    list_policies,
    set_org_calendar,
    set_policy,
)

__all__ = ["EscalateTo", "EscalationInput", "PolicyInput", "SlaCalendar", "SlaClock", "Status", "delete_policy",
           "get_org_calendar", "install", "list_policies", "run_sla_clocks", "set_org_calendar", "set_policy",
           "start_clock", "statuses_of"]
