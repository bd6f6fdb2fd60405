"""Invoices and credit notes (finance), and what everyone else may read of them."""

from __future__ import annotations

from typing import Any

import strawberry

from tandem.domain.billing import invoice as service
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.invoice import (
    CreateInvoiceInput,
    Invoice,
    InvoiceFilter,
    InvoicePayload,
    IssueCreditNoteInput,
    IssueInvoiceInput,
    VoidInvoiceInput,
)
from tandem.schema.node import decode_id
from tandem.schema.pagination import Connection, wants_total

from .lists import ListRequest
from .mutation import opt_id, run, run_create
from .writes import acts, writes


def _payload(m: service.Invoice | None = None, user_errors: list | None = None) -> InvoicePayload:
    return InvoicePayload(invoice=Invoice.from_model(m) if m else None, user_errors=user_errors or [])


def invoice_list(ctx: Any, first: int | None = None, after: str | None = None, last: int | None = None,
                 before: str | None = None, filter: InvoiceFilter | None = None) -> ListRequest:
    """The arguments of ``invoices``, checked (shared by the resolver and the compiled read path)."""
    flt = filter or InvoiceFilter()
    ctx.authz.require_read("Invoice", [n for n, used in (
        ("status", flt.status), ("customer", flt.customer_id), ("contract", flt.contract_id),
        ("kind", flt.kind), ("dueDate", flt.overdue is not None)) if used])
    domain_filter = service.InvoiceFilter(
        status=flt.status.value if flt.status else None, customer_id=opt_id("Customer", flt.customer_id),
        contract_id=opt_id("Contract", flt.contract_id), kind=flt.kind.value if flt.kind else None,
        overdue=flt.overdue)
    req = PageRequest(first=first, after=after, last=last, before=before, descending=True)
    return ListRequest(domain_filter, req, "CREATED_AT")


@strawberry.type
class InvoiceQuery:
    @strawberry.field(description="Invoices and credit notes you may see, newest first. `overdue: true` lists open "
                                  "invoices past their due date.")
    async def invoices(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None,
                       filter: InvoiceFilter | None = None) -> Connection[Invoice]:
        ctx = info.context
        asked = invoice_list(ctx, first, after, last, before, filter)
        async with ctx.read() as session:
            page = await service.list_invoices(session, ctx.actor, asked.filter, asked.page,
                                               with_total=wants_total(info))
        return Connection.from_page(page, Invoice.from_model)

    @strawberry.field
    async def invoice(self, info: strawberry.Info, id: strawberry.ID) -> Invoice | None:
        ctx = info.context
        pk = decode_id("Invoice", id)
        async with ctx.read() as session:
            return Invoice.from_model(await service.get_invoice(session, ctx.actor, pk))


@strawberry.type
class InvoiceMutation:
    @writes("Invoice", "create")
    @strawberry.mutation(description="A draft invoice of free lines (finance).")
    async def create_invoice(self, info: strawberry.Info, input: CreateInvoiceInput) -> InvoicePayload:
        actor = info.context.actor
        lines = [service.InvoiceLineInput(description=x.description, quantity=x.quantity, unit_price=x.unit_price,
                                          tax_rate=x.tax_rate) for x in input.lines]
        customer_id = decode_id("Customer", input.customer_id)
        contract_id = opt_id("Contract", input.contract_id)
        return await run_create(info, "createInvoice", input, lambda s: service.create_invoice(
            s, actor, customer_id=customer_id, contract_id=contract_id, currency=input.currency, lines=lines,
            notes=input.notes), lambda s, pk: service.get_invoice(s, actor, pk), _payload)

    @acts("Invoice", "issue")
    @strawberry.mutation(description="Issue an invoice: an installment's (drafted and issued at once) or a draft. "
                                     "It gets the org's next number, without gaps, even under concurrent issuing.")
    async def issue_invoice(self, info: strawberry.Info, input: IssueInvoiceInput) -> InvoicePayload:
        actor = info.context.actor
        installment_id = opt_id("Installment", input.installment_id)
        invoice_id = opt_id("Invoice", input.invoice_id)
        return await run(info, lambda s: service.issue_invoice(
            s, actor, installment_id=installment_id, invoice_id=invoice_id, issue_date=input.issue_date,
            due_date=input.due_date), _payload)

    @acts("Invoice", "void")
    @strawberry.mutation(description="Void an invoice nothing is paid on; it keeps its number.")
    async def void_invoice(self, info: strawberry.Info, input: VoidInvoiceInput) -> InvoicePayload:
        actor = info.context.actor
        pk = decode_id("Invoice", input.id)
        return await run(info, lambda s: service.void_invoice(s, actor, pk, reason=input.reason,
                                                              version=input.version), _payload)

    @acts("Invoice", "credit")
    @strawberry.mutation(description="A credit note reversing all (default) or part of an issued invoice's "
                                     "outstanding amount; returns the credit note.")
    async def issue_credit_note(self, info: strawberry.Info, input: IssueCreditNoteInput) -> InvoicePayload:
        actor = info.context.actor
        pk = decode_id("Invoice", input.invoice_id)
        return await run(info, lambda s: service.issue_credit_note(s, actor, pk, amount=input.amount,
                                                                   reason=input.reason), _payload)
