"""Error codes of the crm area; codes several areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class CrmErrorCode(ErrorCode):
    ALREADY_CONVERTED = "ALREADY_CONVERTED"
    INVALID_STATUS_TRANSITION = "INVALID_STATUS_TRANSITION"
