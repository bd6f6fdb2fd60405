"""Error codes of the billing area; codes several areas use are ``shared.errors.SharedErrorCode``."""

from __future__ import annotations

from ..shared.errors import ErrorCode


class BillingErrorCode(ErrorCode):
    INSTALLMENTS_MISMATCH = "INSTALLMENTS_MISMATCH"
    PLAN_LOCKED = "PLAN_LOCKED"
    ALREADY_INVOICED = "ALREADY_INVOICED"
    NOT_DUE = "NOT_DUE"
    INVOICE_VOID = "INVOICE_VOID"
    INVOICE_NOT_ISSUED = "INVOICE_NOT_ISSUED"
    HAS_PAYMENTS = "HAS_PAYMENTS"
    EXCEEDS_PAYMENT = "EXCEEDS_PAYMENT"
    EXCEEDS_OUTSTANDING = "EXCEEDS_OUTSTANDING"
    ALREADY_REVERSED = "ALREADY_REVERSED"
    NOTHING_TO_ALLOCATE = "NOTHING_TO_ALLOCATE"
