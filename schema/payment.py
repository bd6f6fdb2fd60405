"""Payments received and their allocations to invoices."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as PyDecimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.billing.payment import Payment as PaymentModel
from tandem.domain.billing.payment import PaymentAllocation as AllocationModel
from tandem.domain.billing.payment import PaymentMethod as _PaymentMethod
from tandem.domain.shared.money import quantize

from .errors import UserError
from .invoice import Invoice
from .node import Node, to_global_id
from .scalars import Decimal
from .user import User, load_user

if TYPE_CHECKING:
    from .customer import Customer

PaymentMethod = strawberry.enum(_PaymentMethod, name="PaymentMethod")


@strawberry.type(description="Part of a payment applied to an invoice; reversed ones are kept, with who and why.")
class PaymentAllocation(Node):
    amount: Decimal = strawberry.field(description="In the invoice's currency.")
    currency: str
    payment_amount: Decimal = strawberry.field(description="In the payment's currency.")
    payment_currency: str
    exchange_rate: Decimal | None
    created_at: datetime
    reversed_at: datetime | None
    reversal_reason: str | None
    _invoice_id: strawberry.Private[int]
    _payment_id: strawberry.Private[int]
    _created_by_id: strawberry.Private[int]
    _reversed_by_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, m: AllocationModel) -> PaymentAllocation:
        return cls(id=to_global_id("PaymentAllocation", m.id), amount=quantize(m.amount, m.currency),
                   currency=m.currency, payment_amount=quantize(m.payment_amount, m.payment_currency),
                   payment_currency=m.payment_currency,
                   exchange_rate=PyDecimal(m.exchange_rate) if m.exchange_rate is not None else None,
                   created_at=m.created_at, reversed_at=m.reversed_at, reversal_reason=m.reversal_reason,
                   _invoice_id=m.invoice_id, _payment_id=m.payment_id, _created_by_id=m.created_by_id,
                   _reversed_by_id=m.reversed_by_id)

    @strawberry.field
    async def invoice(self, info: strawberry.Info) -> Invoice | None:
        found = await info.context.loaders.invoice.load(self._invoice_id)
        return Invoice.from_model(found) if found else None

    @strawberry.field
    async def payment(self, info: strawberry.Info) -> Payment | None:
        found = await info.context.loaders.payment.load(self._payment_id)
        return Payment.from_model(found) if found else None

    @strawberry.field
    async def created_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._created_by_id)

    @strawberry.field
    async def reversed_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._reversed_by_id)


@strawberry.type(description="Money received. What is not allocated is the customer's credit (or, without a "
                             "customer, an unmatched payment for finance).")
class Payment(Node):
    payer_name: str | None
    amount: Decimal | None
    currency: str | None
    allocated: Decimal | None
    unallocated: Decimal | None
    received_on: date | None
    method: PaymentMethod | None
    reference: str | None
    notes: str | None
    version: int
    created_at: datetime | None
    _pk: strawberry.Private[int]
    _customer_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, m: PaymentModel) -> Payment:
        return cls(id=to_global_id("Payment", m.id), payer_name=m.payer_name, amount=quantize(m.amount, m.currency),
                   currency=m.currency, allocated=quantize(m.allocated, m.currency),
                   unallocated=quantize(m.unallocated, m.currency), received_on=m.received_on,
                   method=_PaymentMethod(m.method), reference=m.reference, notes=m.notes, version=m.version,
                   created_at=m.created_at, _pk=m.id, _customer_id=m.customer_id)

    @strawberry.field
    async def customer(self, info: strawberry.Info) -> Annotated[Customer, strawberry.lazy(".customer")] | None:
        from .customer import Customer

        if self._customer_id is None:
            return None
        found = await info.context.loaders.customer.load(self._customer_id)
        return Customer.from_model(found) if found else None

    @strawberry.field
    async def allocations(self, info: strawberry.Info) -> list[PaymentAllocation] | None:
        return [PaymentAllocation.from_model(a) for a in
                await info.context.loaders.allocations_of_payment.load(self._pk)]


@strawberry.input
class RecordPaymentInput:
    amount: Decimal
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Leave out when the payer is not known yet: the payment is listed as unmatched.")
    payer_name: str | None = None
    currency: str | None = None
    received_on: date | None = None
    method: PaymentMethod | None = None
    reference: str | None = None
    notes: str | None = None
    allocate_automatically: bool = strawberry.field(
        default=False, description="Apply it to the customer's open invoices, oldest due first.")
    idempotency_key: str | None = None


@strawberry.input
class AllocationInput:
    invoice_id: strawberry.ID
    amount: Decimal | None = strawberry.field(
        default=None, description="In the invoice's currency. Default: as much as is outstanding and left.")
    exchange_rate: Decimal | None = strawberry.field(
        default=None, description="Invoice-currency units per payment-currency unit; required across currencies.")


@strawberry.input
class AllocatePaymentInput:
    payment_id: strawberry.ID
    allocations: list[AllocationInput] | None = None
    automatic: bool = strawberry.field(default=False, description="Oldest due first, instead of `allocations`.")


@strawberry.input
class ReversePaymentAllocationInput:
    allocation_id: strawberry.ID
    reason: str


@strawberry.input
class MatchPaymentInput:
    payment_id: strawberry.ID
    customer_id: strawberry.ID


@strawberry.input
class PaymentFilter:
    customer_id: strawberry.ID | None = None
    unmatched: bool | None = strawberry.field(
        default=None, description="true: payments without a customer or with money not yet allocated.")


@strawberry.type
class PaymentPayload:
    payment: Payment | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AllocationPayload:
    payment: Payment | None = None
    allocations: list[PaymentAllocation] | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
