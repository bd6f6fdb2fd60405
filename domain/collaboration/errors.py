"""Error codes of the collaboration area; codes several areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class CollaborationErrorCode(ErrorCode):
    NOT_ALLOWED = "NOT_ALLOWED"
