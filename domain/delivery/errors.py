"""Error codes of the delivery area; codes several areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class DeliveryErrorCode(ErrorCode):
    DEPENDENCY_CYCLE = "DEPENDENCY_CYCLE"
    TASK_OUTSIDE_PROJECT = "TASK_OUTSIDE_PROJECT"
    SUMMARY_TASK = "SUMMARY_TASK"
    NOT_PROJECT_MANAGER = "NOT_PROJECT_MANAGER"
    NOT_PROJECT_MEMBER = "NOT_PROJECT_MEMBER"
    PROJECT_CLOSED = "PROJECT_CLOSED"
    INVALID_HOURS = "INVALID_HOURS"
    TOO_MANY_HOURS = "TOO_MANY_HOURS"
    TIMESHEET_LOCKED = "TIMESHEET_LOCKED"
    NOTHING_TO_SUBMIT = "NOTHING_TO_SUBMIT"
