"""Invoices and credit notes."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.billing.invoice import Invoice as InvoiceModel
from tandem.domain.billing.invoice import InvoiceKind as _InvoiceKind
from tandem.domain.billing.invoice import InvoiceLine as InvoiceLineModel
from tandem.domain.billing.invoice import InvoiceStatus as _InvoiceStatus
from tandem.domain.shared.clock import clock
from tandem.domain.shared.money import quantize

from .errors import UserError
from .node import Node, to_global_id
from .scalars import Decimal, price, rate
from .sla import SLA_STATUS, SlaStatus, load_sla_status

if TYPE_CHECKING:
    from .contract import Contract
    from .customer import Customer
    from .payment import PaymentAllocation

InvoiceKind = strawberry.enum(_InvoiceKind, name="InvoiceKind")
InvoiceStatus = strawberry.enum(_InvoiceStatus, name="InvoiceStatus")


@strawberry.type
class InvoiceLine:
    position: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    net: Decimal
    tax: Decimal
    total: Decimal

    @classmethod
    def from_model(cls, m: InvoiceLineModel, currency: str) -> InvoiceLine:
        return cls(position=m.position, description=m.description, quantity=rate(m.quantity),
                   unit_price=price(m.unit_price), tax_rate=rate(m.tax_rate), net=quantize(m.net, currency),
                   tax=quantize(m.tax, currency), total=quantize(m.total, currency))


@strawberry.type(description="An invoice (numbered when issued, gapless per org) or a credit note.")
class Invoice(Node):
    kind: InvoiceKind | None
    number: str | None = strawberry.field(description="INV-000001 / CN-000001; null while a draft.")
    status: InvoiceStatus | None
    currency: str | None
    issue_date: date | None
    due_date: date | None
    subtotal: Decimal | None
    tax_total: Decimal | None
    total: Decimal | None
    amount_paid: Decimal | None
    amount_credited: Decimal | None
    outstanding: Decimal | None
    days_overdue: int | None
    paid_on: date | None
    notes: str | None
    void_reason: str | None
    voided_at: datetime | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    _pk: strawberry.Private[int]
    _customer_id: strawberry.Private[int]
    _contract_id: strawberry.Private[int | None]
    _credited_invoice_id: strawberry.Private[int | None]

    @strawberry.field(description=SLA_STATUS)
    async def sla_status(self, info: strawberry.Info) -> SlaStatus | None:
        return await load_sla_status(info, self.id)

    @classmethod
    def from_model(cls, m: InvoiceModel) -> Invoice:
        def q(v):
            return quantize(v, m.currency)

        return cls(
            id=to_global_id("Invoice", m.id), kind=_InvoiceKind(m.kind), number=m.number,
            status=_InvoiceStatus(m.status), currency=m.currency, issue_date=m.issue_date, due_date=m.due_date,
            subtotal=q(m.subtotal), tax_total=q(m.tax_total), total=q(m.total), amount_paid=q(m.amount_paid),
            amount_credited=q(m.amount_credited), outstanding=q(m.outstanding),
            days_overdue=m.days_overdue(clock.now().date()), paid_on=m.paid_on, notes=m.notes,
            void_reason=m.void_reason, voided_at=m.voided_at, version=m.version, created_at=m.created_at,
            updated_at=m.updated_at, _pk=m.id, _customer_id=m.customer_id, _contract_id=m.contract_id,
            _credited_invoice_id=m.credited_invoice_id,
        )

    @strawberry.field
    async def lines(self, info: strawberry.Info) -> list[InvoiceLine] | None:
        return [InvoiceLine.from_model(r, self.currency or "")
                for r in await info.context.loaders.invoice_lines.load(self._pk)]

    @strawberry.field
    async def customer(self, info: strawberry.Info) -> Annotated[Customer, strawberry.lazy(".customer")] | None:
        from .customer import Customer

        found = await info.context.loaders.customer.load(self._customer_id)
        return Customer.from_model(found) if found else None

    @strawberry.field
    async def contract(self, info: strawberry.Info) -> Annotated[Contract, strawberry.lazy(".contract")] | None:
        from .contract import Contract

        if self._contract_id is None:
            return None
        found = await info.context.loaders.contract.load(self._contract_id)
        return Contract.from_model(found) if found else None

    @strawberry.field(description="For a credit note: the invoice it credits.")
    async def credited_invoice(self, info: strawberry.Info) -> Invoice | None:
        if self._credited_invoice_id is None:
            return None
        found = await info.context.loaders.invoice.load(self._credited_invoice_id)
        return Invoice.from_model(found) if found else None

    @strawberry.field(description="Payments applied to it (reversed ones included, marked), for finance.")
    async def allocations(
        self, info: strawberry.Info
    ) -> list[Annotated[PaymentAllocation, strawberry.lazy(".payment")]] | None:
        from .payment import PaymentAllocation

        return [PaymentAllocation.from_model(a) for a in
                await info.context.loaders.allocations_of_invoice.load(self._pk)]


@strawberry.input
class InvoiceLineInput:
    description: str
    unit_price: Decimal
    quantity: Decimal | None = None
    tax_rate: Decimal | None = None


@strawberry.input
class CreateInvoiceInput:
    customer_id: strawberry.ID
    lines: list[InvoiceLineInput]
    contract_id: strawberry.ID | None = None
    currency: str | None = None
    notes: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class IssueInvoiceInput:
    installment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Draft and issue the invoice of this installment in one step.")
    invoice_id: strawberry.ID | None = strawberry.field(default=None, description="Or issue this draft.")
    issue_date: date | None = None
    due_date: date | None = strawberry.field(default=None, description="Default: issue date + 30 days.")


@strawberry.input
class VoidInvoiceInput:
    id: strawberry.ID
    reason: str
    version: int | None = None


@strawberry.input
class IssueCreditNoteInput:
    invoice_id: strawberry.ID
    reason: str
    amount: Decimal | None = strawberry.field(default=None, description="Default: all that is outstanding.")


@strawberry.input
class InvoiceFilter:
    status: InvoiceStatus | None = None
    customer_id: strawberry.ID | None = None
    contract_id: strawberry.ID | None = None
    kind: InvoiceKind | None = None
    overdue: bool | None = strawberry.field(default=None, description="Open and past its due date.")


@strawberry.type
class InvoicePayload:
    invoice: Invoice | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
