"""Error codes of the automation area (workflow rules, routing, reminders, SLA policies); codes several
areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class AutomationErrorCode(ErrorCode):
    # workflow rules
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    FIELD_NOT_READABLE = "FIELD_NOT_READABLE"
    INVALID_TRIGGER = "INVALID_TRIGGER"
    INVALID_ACTION = "INVALID_ACTION"
    UNKNOWN_OBJECT_TYPE = "UNKNOWN_OBJECT_TYPE"
    RULE_LOOP = "RULE_LOOP"
    ACTION_FAILED = "ACTION_FAILED"
    # routing (assignment rules)
    INVALID_CONDITION = "INVALID_CONDITION"
    NO_ELIGIBLE_ASSIGNEE = "NO_ELIGIBLE_ASSIGNEE"
    NO_MEMBERS = "NO_MEMBERS"
    INACTIVE_MEMBER = "INACTIVE_MEMBER"
    ORDER_MISMATCH = "ORDER_MISMATCH"
    # follow-up reminders
    DUE_IN_PAST = "DUE_IN_PAST"
    ASSIGNEE_INACTIVE = "ASSIGNEE_INACTIVE"
    ASSIGNEE_CANNOT_SEE_RECORD = "ASSIGNEE_CANNOT_SEE_RECORD"
    # SLA policies: a target that is not a positive number of hours, a start/stop/pause entry that is
    # neither an event topic nor a status or stage value, an escalation without its role or user (or
    # one nobody in the org holds), a policy without its record type or kind, a working calendar with no
    # working day, hours out of order or an unknown time zone
    INVALID_SLA_TARGET = "INVALID_SLA_TARGET"
    INVALID_SLA_EVENT = "INVALID_SLA_EVENT"
    INVALID_ESCALATION = "INVALID_ESCALATION"
    SLA_POLICY_INCOMPLETE = "SLA_POLICY_INCOMPLETE"
    # an SLA policy's start/stop/pause entry naming a topic no event of its record type has (or an SLA
    # clock's own), or a value that is none of the type's statuses or stages; a policy moved to another type
    UNKNOWN_TOPIC = "UNKNOWN_TOPIC"
    UNKNOWN_STATUS = "UNKNOWN_STATUS"
    SLA_OBJECT_TYPE_LOCKED = "SLA_OBJECT_TYPE_LOCKED"
    INVALID_CALENDAR = "INVALID_CALENDAR"
