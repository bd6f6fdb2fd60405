"""Error codes of the knowledge base; codes several areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class KnowledgeErrorCode(ErrorCode):
    INVALID_STATUS_MOVE = "INVALID_STATUS_MOVE"
    INVALID_LANGUAGE = "INVALID_LANGUAGE"
    ARTICLE_ARCHIVED = "ARTICLE_ARCHIVED"
    NOT_PUBLISHED = "NOT_PUBLISHED"
