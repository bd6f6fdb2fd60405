"""Error codes of the sales area; codes several areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class SalesErrorCode(ErrorCode):
    INVALID_DISCOUNT = "INVALID_DISCOUNT"
    INVALID_TAX_RATE = "INVALID_TAX_RATE"
    PRODUCT_INACTIVE = "PRODUCT_INACTIVE"
    NO_PRICE = "NO_PRICE"
    QUOTE_LOCKED = "QUOTE_LOCKED"
    DISCOUNT_NEEDS_APPROVAL = "DISCOUNT_NEEDS_APPROVAL"
    NOT_APPROVER = "NOT_APPROVER"
    ALREADY_ACCEPTED = "ALREADY_ACCEPTED"
    QUOTE_EXPIRED = "QUOTE_EXPIRED"
