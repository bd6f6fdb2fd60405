"""Error codes of the tenancy area; codes several areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class TenancyErrorCode(ErrorCode):
    LAST_ADMIN = "LAST_ADMIN"
    SELF_DEACTIVATION = "SELF_DEACTIVATION"
    USER_INACTIVE = "USER_INACTIVE"
