"""Business-rule failures reported in mutation payloads."""

from __future__ import annotations

from enum import StrEnum

import strawberry

from tandem.domain.automation.errors import AutomationErrorCode
from tandem.domain.billing.errors import BillingErrorCode
from tandem.domain.collaboration.errors import CollaborationErrorCode
from tandem.domain.contracts.errors import ContractErrorCode
from tandem.domain.crm.errors import CrmErrorCode
from tandem.domain.delivery.errors import DeliveryErrorCode
from tandem.domain.knowledge.errors import KnowledgeErrorCode
from tandem.domain.pipeline.errors import PipelineErrorCode
from tandem.domain.sales.errors import SalesErrorCode
from tandem.domain.service.errors import ServiceErrorCode
from tandem.domain.shared.errors import ErrorCode, FieldError, SharedErrorCode
from tandem.domain.tenancy.errors import TenancyErrorCode

AREA_ERROR_CODES: tuple[type[ErrorCode], ...] = (
    SharedErrorCode, TenancyErrorCode, CollaborationErrorCode, PipelineErrorCode, CrmErrorCode, SalesErrorCode,
    ContractErrorCode, DeliveryErrorCode, BillingErrorCode, AutomationErrorCode, KnowledgeErrorCode, ServiceErrorCode,
)
"""Every area's error codes; UserErrorCode is their union."""

_PUBLISHED_RUNS: tuple[ErrorCode, ...] = (
    SharedErrorCode.INVALID_CURRENCY, PipelineErrorCode.STAGE_UNCHANGED, CrmErrorCode.ALREADY_CONVERTED,
    SharedErrorCode.DUPLICATE, TenancyErrorCode.LAST_ADMIN, CollaborationErrorCode.NOT_ALLOWED,
    SharedErrorCode.INVALID_QUANTITY, SalesErrorCode.INVALID_TAX_RATE, SharedErrorCode.INVALID_DATE_RANGE,
    SalesErrorCode.NO_PRICE, SharedErrorCode.INVALID_STATE, SalesErrorCode.NOT_APPROVER,
    SharedErrorCode.SELF_APPROVAL, SalesErrorCode.QUOTE_EXPIRED, ContractErrorCode.APPROVAL_OUT_OF_ORDER,
    SharedErrorCode.NOT_APPROVED, ContractErrorCode.DOCUMENT_REQUIRED, SharedErrorCode.REASON_REQUIRED,
    BillingErrorCode.HAS_PAYMENTS, SharedErrorCode.CURRENCY_MISMATCH, BillingErrorCode.NOTHING_TO_ALLOCATE,
    DeliveryErrorCode.NOTHING_TO_SUBMIT,
)
"""The order schema.graphql prints UserErrorCode's values in. It predates the split by area (codes
were added feature by feature), so the areas interleave: each entry ends a run that takes its area's
codes, in their order, up to and including it. Codes added after these follow, area by area."""


def _user_error_codes() -> list[ErrorCode]:
    left = {area: list(area) for area in AREA_ERROR_CODES}
    ordered: list[ErrorCode] = []
    for end in _PUBLISHED_RUNS:
        codes = left[type(end)]
        cut = codes.index(end) + 1
        ordered += codes[:cut]
        del codes[:cut]
    for area in AREA_ERROR_CODES:
        ordered += left[area]
    return ordered


UserErrorCode = strawberry.enum(
    StrEnum("UserErrorCode", [(code.name, code.value) for code in _user_error_codes()]),  # type: ignore[misc]
    name="UserErrorCode",
)


@strawberry.type(description="A business-rule failure on one input field; nothing was written.")
class UserError:
    field: list[str] | None = strawberry.field(description="Path to the input field, e.g. [\"amount\"].")
    code: UserErrorCode
    message: str

    @classmethod
    def from_domain(cls, e: FieldError) -> UserError:
        return cls(field=list(e.field), code=UserErrorCode(e.code.value), message=e.message)
