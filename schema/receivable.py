"""Receivables: outstanding amounts, aging, DSO and on-time payment rate."""

from __future__ import annotations

from datetime import date

import strawberry

from tandem.domain.billing.invoice import Invoice as InvoiceModel
from tandem.domain.billing.receivable import Receivables as ReceivablesModel
from tandem.domain.shared.money import quantize

from .invoice import Invoice
from .node import to_global_id
from .scalars import Decimal


@strawberry.type(description="Outstanding amounts by days past due.")
class Aging:
    current: Decimal = strawberry.field(description="Not yet due.")
    days_1_to_30: Decimal
    days_31_to_60: Decimal
    days_61_to_90: Decimal
    over_90: Decimal


@strawberry.type
class ReceivableInvoice:
    invoice: Invoice
    outstanding: Decimal
    days_overdue: int


@strawberry.type(description="Receivables in one currency, over the invoices you may see.")
class Receivables:
    currency: str
    as_of: date
    customer_id: strawberry.ID | None
    outstanding: Decimal
    overdue: Decimal
    open_invoices: int
    overdue_invoices: int
    aging: Aging
    invoiced_in_period: Decimal = strawberry.field(description="Invoiced over the last `periodDays` (for DSO).")
    period_days: int
    dso: Decimal | None = strawberry.field(
        description="Days sales outstanding: outstanding ÷ invoiced in the period × period days; null without sales.")
    due_invoices: int = strawberry.field(description="Invoices whose due date has passed (paid or not).")
    paid_on_time: int
    on_time_rate: Decimal | None = strawberry.field(description="paidOnTime ÷ dueInvoices, 0 to 1; null if none.")
    customer_credit: Decimal = strawberry.field(description="Payments received but not allocated.")
    invoices: list[ReceivableInvoice] = strawberry.field(description="Open invoices, most overdue first.")

    @classmethod
    def from_domain(cls, r: ReceivablesModel, invoices: list[InvoiceModel]) -> Receivables:
        def q(v):
            return quantize(v, r.currency)

        return cls(
            currency=r.currency, as_of=r.as_of,
            customer_id=to_global_id("Customer", r.customer_id) if r.customer_id else None,
            outstanding=q(r.outstanding), overdue=q(r.overdue), open_invoices=r.open_invoices,
            overdue_invoices=r.overdue_invoices,
            aging=Aging(current=q(r.aging.current), days_1_to_30=q(r.aging.days_1_30),
                        days_31_to_60=q(r.aging.days_31_60), days_61_to_90=q(r.aging.days_61_90),
                        over_90=q(r.aging.over_90)),
            invoiced_in_period=q(r.invoiced_in_period), period_days=r.period_days, dso=r.dso,
            due_invoices=r.due_invoices, paid_on_time=r.paid_on_time, on_time_rate=r.on_time_rate,
            customer_credit=q(r.customer_credit),
            invoices=[ReceivableInvoice(invoice=Invoice.from_model(i), outstanding=q(i.outstanding),
                                        days_overdue=i.days_overdue(r.as_of)) for i in invoices],
        )
