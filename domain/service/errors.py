"""Error codes of the service desk; codes several areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class ServiceErrorCode(ErrorCode):
    INVALID_TRANSITION = "INVALID_TRANSITION"
    SAME_QUEUE = "SAME_QUEUE"
    FORBIDDEN = "FORBIDDEN"
    """The role may not do what an option of the input asks (``publishArticle`` without creating articles)."""
