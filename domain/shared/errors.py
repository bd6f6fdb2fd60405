"""Domain errors: typed codes, translated to GraphQL at one boundary (resolvers/errors.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FieldErrorCode(StrEnum):
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID = "INVALID"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INVALID_CURRENCY = "INVALID_CURRENCY"
    INVALID_STAGE = "INVALID_STAGE"
    INVALID_PROBABILITY = "INVALID_PROBABILITY"
    INVALID_CUSTOM_FIELD = "INVALID_CUSTOM_FIELD"
    UNKNOWN_CUSTOM_FIELD = "UNKNOWN_CUSTOM_FIELD"
    LOST_REASON_REQUIRED = "LOST_REASON_REQUIRED"
    STAGE_UNCHANGED = "STAGE_UNCHANGED"
    ALREADY_CONVERTED = "ALREADY_CONVERTED"
    MISMATCHED_RECORD = "MISMATCHED_RECORD"
    DUPLICATE = "DUPLICATE"
    LAST_ADMIN = "LAST_ADMIN"
    NOT_ALLOWED = "NOT_ALLOWED"
    # quote to cash
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_DISCOUNT = "INVALID_DISCOUNT"
    INVALID_TAX_RATE = "INVALID_TAX_RATE"
    INVALID_DATE_RANGE = "INVALID_DATE_RANGE"
    PRODUCT_INACTIVE = "PRODUCT_INACTIVE"
    NO_PRICE = "NO_PRICE"
    INVALID_STATE = "INVALID_STATE"
    QUOTE_LOCKED = "QUOTE_LOCKED"
    DISCOUNT_NEEDS_APPROVAL = "DISCOUNT_NEEDS_APPROVAL"
    NOT_APPROVER = "NOT_APPROVER"
    SELF_APPROVAL = "SELF_APPROVAL"
    ALREADY_ACCEPTED = "ALREADY_ACCEPTED"
    QUOTE_EXPIRED = "QUOTE_EXPIRED"
    QUOTE_NOT_ACCEPTED = "QUOTE_NOT_ACCEPTED"
    CONTRACT_SIGNED = "CONTRACT_SIGNED"
    APPROVAL_OUT_OF_ORDER = "APPROVAL_OUT_OF_ORDER"
    WRONG_APPROVER_ROLE = "WRONG_APPROVER_ROLE"
    NOT_APPROVED = "NOT_APPROVED"
    ALREADY_SIGNED = "ALREADY_SIGNED"
    NOT_SIGNER = "NOT_SIGNER"
    DOCUMENT_CHANGED = "DOCUMENT_CHANGED"
    DOCUMENT_REQUIRED = "DOCUMENT_REQUIRED"
    REASON_REQUIRED = "REASON_REQUIRED"
    INSTALLMENTS_MISMATCH = "INSTALLMENTS_MISMATCH"
    PLAN_LOCKED = "PLAN_LOCKED"
    ALREADY_INVOICED = "ALREADY_INVOICED"
    NOT_DUE = "NOT_DUE"
    INVOICE_VOID = "INVOICE_VOID"
    INVOICE_NOT_ISSUED = "INVOICE_NOT_ISSUED"
    HAS_PAYMENTS = "HAS_PAYMENTS"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    EXCEEDS_PAYMENT = "EXCEEDS_PAYMENT"
    EXCEEDS_OUTSTANDING = "EXCEEDS_OUTSTANDING"
    ALREADY_REVERSED = "ALREADY_REVERSED"
    NOTHING_TO_ALLOCATE = "NOTHING_TO_ALLOCATE"
    # project delivery
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


@dataclass(frozen=True, slots=True)
class FieldError:
    field: tuple[str, ...]
    code: FieldErrorCode
    message: str


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, str]:
        """graphql-core copies this onto the GraphQL error, so every transport shows the code."""
        return {"code": self.code}


class NotFound(DomainError):
    """The record does not exist, belongs to another org or is out of the actor's scope."""

    code = "NOT_FOUND"

    def __init__(self, record_type: str, ident: object = None) -> None:
        super().__init__(f"{record_type} not found")
        self.record_type = record_type
        self.ident = ident


class Conflict(DomainError):
    """Someone else wrote the record since the caller read it."""

    code = "CONFLICT"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"


class ValidationFailed(DomainError):
    """One or more business-rule failures on the input, reported as userErrors."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors

    @classmethod
    def one(cls, field: str | tuple[str, ...], code: FieldErrorCode, message: str) -> ValidationFailed:
        path = (field,) if isinstance(field, str) else field
        return cls([FieldError(path, code, message)])


class Validator:
    """Collects field errors so a caller hears about all of them at once."""

    def __init__(self, prefix: tuple[str, ...] = (), errors: list[FieldError] | None = None) -> None:
        self.prefix = prefix
        self.errors: list[FieldError] = [] if errors is None else errors

    def under(self, *prefix: str) -> Validator:
        """A validator whose field paths start with ``prefix``, sharing this one's errors."""
        return Validator(self.prefix + prefix, self.errors)

    def add(self, field: str | tuple[str, ...], code: FieldErrorCode, message: str) -> None:
        path = (field,) if isinstance(field, str) else field
        self.errors.append(FieldError(self.prefix + path, code, message))

    def text(
        self, field: str, value: str | None, *, max_len: int, required: bool = False
    ) -> str | None:
        if value is None:
            if required:
                self.add(field, FieldErrorCode.REQUIRED, f"{field} is required")
            return None
        value = value.strip()
        if required and not value:
            self.add(field, FieldErrorCode.REQUIRED, f"{field} is required")
        elif len(value) > max_len:
            self.add(field, FieldErrorCode.TOO_LONG, f"{field} is longer than {max_len} characters")
        return value

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)
