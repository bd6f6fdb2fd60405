"""Error codes of the contracts area; codes several areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class ContractErrorCode(ErrorCode):
    QUOTE_NOT_ACCEPTED = "QUOTE_NOT_ACCEPTED"
    CONTRACT_SIGNED = "CONTRACT_SIGNED"
    APPROVAL_OUT_OF_ORDER = "APPROVAL_OUT_OF_ORDER"
    ALREADY_SIGNED = "ALREADY_SIGNED"
    NOT_SIGNER = "NOT_SIGNER"
    DOCUMENT_CHANGED = "DOCUMENT_CHANGED"
    DOCUMENT_REQUIRED = "DOCUMENT_REQUIRED"
