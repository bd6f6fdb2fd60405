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
    INVALID_CONDITION = "INVALID_CONDITION"
