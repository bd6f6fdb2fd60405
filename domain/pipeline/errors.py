"""Error codes of the pipeline area; codes several areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class PipelineErrorCode(ErrorCode):
    INVALID_STAGE = "INVALID_STAGE"
    INVALID_PROBABILITY = "INVALID_PROBABILITY"
    INVALID_CUSTOM_FIELD = "INVALID_CUSTOM_FIELD"
    UNKNOWN_CUSTOM_FIELD = "UNKNOWN_CUSTOM_FIELD"
    LOST_REASON_REQUIRED = "LOST_REASON_REQUIRED"
    STAGE_UNCHANGED = "STAGE_UNCHANGED"
