"""Domain errors: typed codes, translated to GraphQL at one boundary (resolvers/errors.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """Base of every area's error codes (``domain/<area>/errors.py``); a ``FieldError`` carries one.

    Each code is defined once: in its area's enum when one area uses it, in ``SharedErrorCode`` below
    when several do. The GraphQL enum ``UserErrorCode`` (schema/errors.py) is the union of them all."""


class SharedErrorCode(ErrorCode):
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID = "INVALID"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INVALID_CURRENCY = "INVALID_CURRENCY"
    MISMATCHED_RECORD = "MISMATCHED_RECORD"
    DUPLICATE = "DUPLICATE"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_DATE_RANGE = "INVALID_DATE_RANGE"
    INVALID_STATE = "INVALID_STATE"
    SELF_APPROVAL = "SELF_APPROVAL"
    WRONG_APPROVER_ROLE = "WRONG_APPROVER_ROLE"
    NOT_APPROVED = "NOT_APPROVED"
    REASON_REQUIRED = "REASON_REQUIRED"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    ALREADY_ARCHIVED = "ALREADY_ARCHIVED"
    NOT_ARCHIVED = "NOT_ARCHIVED"
    NOT_ARCHIVABLE = "NOT_ARCHIVABLE"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: tuple[str, ...]
    code: ErrorCode
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
    def one(cls, field: str | tuple[str, ...], code: ErrorCode, message: str) -> ValidationFailed:
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

    def add(self, field: str | tuple[str, ...], code: ErrorCode, message: str) -> None:
        path = (field,) if isinstance(field, str) else field
        self.errors.append(FieldError(self.prefix + path, code, message))

    def text(
        self, field: str, value: str | None, *, max_len: int, required: bool = False
    ) -> str | None:
        if value is None:
            if required:
                self.add(field, SharedErrorCode.REQUIRED, f"{field} is required")
            return None
        value = value.strip()
        if required and not value:
            self.add(field, SharedErrorCode.REQUIRED, f"{field} is required")
        elif len(value) > max_len:
            self.add(field, SharedErrorCode.TOO_LONG, f"{field} is longer than {max_len} characters")
        return value

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)
