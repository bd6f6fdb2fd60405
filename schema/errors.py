"""Business-rule failures reported in mutation payloads."""

from __future__ import annotations

import strawberry

from domain.shared.errors import FieldError, FieldErrorCode

UserErrorCode = strawberry.enum(FieldErrorCode, name="UserErrorCode")


@strawberry.type(description="A business-rule failure on one input field; nothing was written.")
class UserError:
    field: list[str] | None = strawberry.field(description="Path to the input field, e.g. [\"amount\"].")
    code: UserErrorCode
    message: str

    @classmethod
    def from_domain(cls, e: FieldError) -> UserError:
        return cls(field=list(e.field), code=e.code, message=e.message)

