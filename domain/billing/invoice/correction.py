"""Correcting issued invoices: voiding one nothing was paid on, or reversing part of it with a credit note."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from ...shared.actor import Actor
from ...shared.clock import clock
from ...shared.concurrency import flush_or_conflict
from ...shared.errors import SharedErrorCode, ValidationFailed, Validator
from ...shared.money import check_amount
from ...shared.numbering import next_number
from ..errors import BillingErrorCode
from ..payment_plan import Installment, InstallmentStatus
from .issuing import add_lines, new_invoice, split_gross
from .model import HUNDRED, Invoice, InvoiceKind, InvoiceStatus, emit, load_invoice_for_write


async def void_invoice(session: AsyncSession, actor: Actor, invoice_id: int, *, reason: str | None,
                       version: int | None = None) -> Invoice:
    """Void a draft or an issued invoice nothing was paid or credited on. An issued one keeps its
    number (the sequence has no gap); its installment can be invoiced again."""
    invoice = await load_invoice_for_write(session, actor, invoice_id, version)
    if invoice.status == InvoiceStatus.VOID:
        raise ValidationFailed.one("id", BillingErrorCode.INVOICE_VOID, "The invoice is void already.")
    if invoice.amount_paid > 0 or invoice.amount_credited > 0:
        raise ValidationFailed.one("id", BillingErrorCode.HAS_PAYMENTS,
                                   "Payments or credits are applied to this invoice: reverse them (or issue a "
                                   "credit note) instead.")
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        raise ValidationFailed.one("id", SharedErrorCode.INVALID_STATE, "A credit note cannot be voided.")
    v = Validator()
    reason = v.text("reason", reason, max_len=1000)
    v.raise_if_any()
    if not reason:
        raise ValidationFailed.one("reason", SharedErrorCode.REASON_REQUIRED, "Say why the invoice is voided.")
    now = clock.now()
    invoice.status = InvoiceStatus.VOID.value
    invoice.void_reason, invoice.voided_at, invoice.updated_at = reason, now, now
    if invoice.installment_id is not None:
        installment = await session.get(Installment, invoice.installment_id)
        if installment is not None and installment.status == InstallmentStatus.INVOICED:
            installment.status = InstallmentStatus.PLANNED.value
    await flush_or_conflict(session, "Invoice")
    await emit(session, actor, invoice, "invoice.voided", reason=reason)
    return invoice


async def issue_credit_note(session: AsyncSession, actor: Actor, invoice_id: int, *, amount: Decimal | None,
                            reason: str | None) -> Invoice:
    """A credit note reversing ``amount`` (default: all that is outstanding) of an issued invoice."""
    invoice = await load_invoice_for_write(session, actor, invoice_id, None)
    if invoice.kind != InvoiceKind.INVOICE:
        raise ValidationFailed.one("invoiceId", SharedErrorCode.INVALID_STATE, "Credit notes credit invoices only.")
    if invoice.status == InvoiceStatus.VOID:
        raise ValidationFailed.one("invoiceId", BillingErrorCode.INVOICE_VOID, "The invoice is void.")
    if invoice.status == InvoiceStatus.DRAFT:
        raise ValidationFailed.one("invoiceId", BillingErrorCode.INVOICE_NOT_ISSUED, "The invoice is not issued.")
    v = Validator()
    reason = v.text("reason", reason, max_len=1000)
    credit = check_amount(v, "amount", amount if amount is not None else invoice.outstanding, invoice.currency)
    v.raise_if_any()
    if not reason:
        raise ValidationFailed.one("reason", SharedErrorCode.REASON_REQUIRED, "Say why the invoice is credited.")
    assert credit is not None
    if credit <= 0:
        raise ValidationFailed.one("amount", SharedErrorCode.INVALID_AMOUNT, "Nothing to credit.")
    if credit > invoice.outstanding:
        raise ValidationFailed.one("amount", BillingErrorCode.EXCEEDS_OUTSTANDING,
                                   f"Only {invoice.outstanding} {invoice.currency} is outstanding.")
    note = new_invoice(actor, kind=InvoiceKind.CREDIT_NOTE, customer_id=invoice.customer_id,
                contract_id=invoice.contract_id, owner_id=invoice.owner_id, currency=invoice.currency,
                notes=reason)
    note.credited_invoice_id = invoice.id
    session.add(note)
    await session.flush()
    rate = (invoice.tax_total * HUNDRED / invoice.subtotal).quantize(Decimal("0.0001")) if invoice.subtotal else \
        Decimal(0)
    net, tax = split_gross(credit, rate, invoice.currency)
    add_lines(session, note, [{"position": 1, "description": f"Credit for {invoice.number}: {reason}"[:500],
                                "quantity": Decimal(1), "unit_price": net, "tax_rate": rate, "net": net,
                                "tax": tax, "total": credit}])
    sequence_no, number = await next_number(session, actor.org_id, InvoiceKind.CREDIT_NOTE.value)
    today = clock.now().date()
    note.number, note.sequence_no, note.issue_date, note.status = number, sequence_no, today, \
        InvoiceStatus.ISSUED.value
    invoice.amount_credited += credit
    invoice.settle(today)
    invoice.updated_at = clock.now()
    await flush_or_conflict(session, "Invoice")
    await emit(session, actor, note, "credit_note.issued", operation="create", creditedInvoiceId=invoice.id,
               reason=reason)
    await emit(session, actor, invoice, "invoice.credited", amount=str(credit), creditNoteId=note.id)
    return note
