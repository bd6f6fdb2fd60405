"""Drafting and issuing invoices: from free lines or from a contract's installment, numbered when
issued; the scheduler's automatic invoicing of due installments."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...contracts.contract import Contract, ContractStatus
from ...crm.customer import get_customer
from ...sales.product import check_tax_rate, check_unit_price
from ...shared.actor import Actor
from ...shared.clock import clock
from ...shared.concurrency import flush_or_conflict
from ...shared.dialect import lock_for_update
from ...shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ...shared.money import MAX_AMOUNT, check_currency, quantize
from ...shared.numbering import next_number
from ...tenancy.org import get_org
from ..errors import BillingErrorCode
from ..payment_plan import Installment, InstallmentStatus
from .model import (
    DEFAULT_PAYMENT_TERMS_DAYS,
    HUNDRED,
    MAX_LINES,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceLineInput,
    InvoiceStatus,
    emit,
    load_invoice_for_write,
)


def _line(position: int, description: str, quantity: Decimal, unit_price: Decimal, tax_rate: Decimal,
          currency: str) -> dict[str, Any]:
    net = quantize(quantity * unit_price, currency)
    tax = quantize(net * tax_rate / HUNDRED, currency)
    return {"position": position, "description": description, "quantity": quantity, "unit_price": unit_price,
            "tax_rate": tax_rate, "net": net, "tax": tax, "total": net + tax}


def split_gross(total: Decimal, tax_rate: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """(net, tax) of a tax-inclusive amount; net + tax == total exactly."""
    net = quantize(total * HUNDRED / (HUNDRED + tax_rate), currency)
    return net, total - net


def add_lines(session: AsyncSession, invoice: Invoice, lines: list[dict[str, Any]]) -> None:
    invoice.subtotal = sum((x["net"] for x in lines), Decimal(0))
    invoice.tax_total = sum((x["tax"] for x in lines), Decimal(0))
    invoice.total = invoice.subtotal + invoice.tax_total
    for x in lines:
        session.add(InvoiceLine(org_id=invoice.org_id, invoice_id=invoice.id, **x))


def new_invoice(actor: Actor, *, kind: InvoiceKind, customer_id: int, contract_id: int | None, owner_id: int,
         currency: str, installment_id: int | None = None, notes: str | None = None) -> Invoice:
    now = clock.now()
    zero = Decimal(0)
    return Invoice(org_id=actor.org_id, kind=kind.value, customer_id=customer_id, contract_id=contract_id,
                   installment_id=installment_id, owner_id=owner_id, currency=currency,
                   status=InvoiceStatus.DRAFT.value, subtotal=zero, tax_total=zero, total=zero, amount_paid=zero,
                   amount_credited=zero, notes=notes, created_by_id=actor.user_id, created_at=now, updated_at=now)


async def create_invoice(session: AsyncSession, actor: Actor, *, customer_id: int, contract_id: int | None,
                         currency: str | None, lines: list[InvoiceLineInput], notes: str | None) -> Invoice:
    """A draft invoice of free lines (services outside a plan, expenses re-billed)."""
    customer = await get_customer(session, actor, customer_id)
    contract = None
    if contract_id is not None:
        contract = await _contract(session, actor, contract_id)
        if contract.customer_id != customer.id:
            raise ValidationFailed.one("contractId", SharedErrorCode.MISMATCHED_RECORD,
                                       "The contract belongs to another customer.")
    org = await get_org(session, actor.org_id)
    v = Validator()
    currency = check_currency(v, "currency", currency, contract.currency if contract else org.default_currency)
    notes = v.text("notes", notes, max_len=10_000)
    if not lines:
        v.add("lines", SharedErrorCode.REQUIRED, "an invoice needs at least one line")
    if len(lines) > MAX_LINES:
        v.add("lines", SharedErrorCode.INVALID, f"at most {MAX_LINES} lines")
    checked = []
    for n, line in enumerate(lines[:MAX_LINES]):
        lv = v.under("lines", str(n))
        description = lv.text("description", line.description, max_len=500, required=True)
        quantity = line.quantity if line.quantity is not None else Decimal(1)
        if not quantity.is_finite() or quantity <= 0 or quantity != round(quantity, 4):
            lv.add("quantity", SharedErrorCode.INVALID_QUANTITY, "quantity is a positive number")
            continue
        if line.unit_price is None:
            lv.add("unitPrice", SharedErrorCode.REQUIRED, "unitPrice is required")
            continue
        price = check_unit_price(lv, "unitPrice", line.unit_price)
        rate = check_tax_rate(lv, "taxRate", line.tax_rate if line.tax_rate is not None else Decimal(0))
        if price is None or rate is None:
            continue
        x = _line(n + 1, description or "", quantity, price, rate, currency)
        if x["total"] > MAX_AMOUNT:
            lv.add("unitPrice", SharedErrorCode.INVALID_AMOUNT, "the line total is too large")
            continue
        checked.append(x)
    v.raise_if_any()
    invoice = new_invoice(actor, kind=InvoiceKind.INVOICE, customer_id=customer.id,
                   contract_id=contract.id if contract else None,
                   owner_id=contract.owner_id if contract else customer.owner_id, currency=currency, notes=notes)
    session.add(invoice)
    await session.flush()
    add_lines(session, invoice, checked)
    await session.flush()
    await emit(session, actor, invoice, "invoice.drafted", operation="create")
    return invoice


async def _contract(session: AsyncSession, actor: Actor, contract_id: int) -> Contract:
    # Finance issues invoices for every contract of the org; reading them is authorized by the caller.
    contract = await session.scalar(select(Contract).where(Contract.org_id == actor.org_id,
                                                           Contract.id == contract_id))
    if contract is None:
        raise NotFound("Contract", contract_id)
    return contract


async def _draft_from_installment(session: AsyncSession, actor: Actor, installment_id: int) -> Invoice:
    installment = await session.scalar(lock_for_update(session, select(Installment).where(
        Installment.org_id == actor.org_id, Installment.id == installment_id)))
    if installment is None:
        raise NotFound("Installment", installment_id)
    if installment.status == InstallmentStatus.CANCELLED:
        raise ValidationFailed.one("installmentId", SharedErrorCode.INVALID_STATE,
                                   "The installment was cancelled when its contract was terminated.")
    if installment.status == InstallmentStatus.INVOICED:
        raise ValidationFailed.one("installmentId", BillingErrorCode.ALREADY_INVOICED,
                                   f"Installment {installment.position} ({installment.label}) is invoiced already.")
    contract = await _contract(session, actor, installment.contract_id)
    if contract.status != ContractStatus.ACTIVE:
        raise ValidationFailed.one("installmentId", SharedErrorCode.NOT_APPROVED,
                                   f"Contract {contract.number} is {contract.status}; invoice only signed, active "
                                   "contracts.")
    if installment.due_date is None:
        raise ValidationFailed.one("installmentId", BillingErrorCode.NOT_DUE,
                                   f"Installment {installment.label} waits for milestone {installment.milestone!r}.")
    invoice = new_invoice(actor, kind=InvoiceKind.INVOICE, customer_id=contract.customer_id, contract_id=contract.id,
                   owner_id=contract.owner_id, currency=contract.currency, installment_id=installment.id)
    session.add(invoice)
    await session.flush()
    net, tax = split_gross(installment.amount, contract.tax_rate, contract.currency)
    count = await session.scalar(select(Installment.position).where(Installment.contract_id == contract.id)
                                 .order_by(Installment.position.desc()).limit(1))
    description = f"{contract.number} {contract.title}: {installment.label} ({installment.position}/{count})"
    add_lines(session, invoice, [{"position": 1, "description": description[:500], "quantity": Decimal(1),
                                   "unit_price": net, "tax_rate": contract.tax_rate, "net": net, "tax": tax,
                                   "total": net + tax}])
    installment.status = InstallmentStatus.INVOICED.value
    await session.flush()
    return invoice


async def issue_invoice(session: AsyncSession, actor: Actor | None, *, installment_id: int | None = None,
                        invoice_id: int | None = None, issue_date: date | None = None,
                        due_date: date | None = None, org_actor: Actor | None = None) -> Invoice:
    """Issue a draft invoice, or draft and issue one for an installment, in one transaction: the
    number is taken here, so a failure or rollback never leaves a gap."""
    who = actor or org_actor
    assert who is not None
    if (installment_id is None) == (invoice_id is None):
        raise ValidationFailed.one("installmentId", SharedErrorCode.REQUIRED, "give installmentId or invoiceId")
    if installment_id is not None:
        invoice = await _draft_from_installment(session, who, installment_id)
    else:
        invoice = await load_invoice_for_write(session, who, invoice_id, None)  # type: ignore[arg-type]
        if invoice.status != InvoiceStatus.DRAFT:
            raise ValidationFailed.one("invoiceId", SharedErrorCode.INVALID_STATE,
                                       f"Invoice {invoice.number} is {invoice.status}, not a draft.")
    issued_on = issue_date or clock.now().date()
    due = due_date or issued_on + timedelta(days=DEFAULT_PAYMENT_TERMS_DAYS)
    if due < issued_on:
        raise ValidationFailed.one("dueDate", SharedErrorCode.INVALID_DATE_RANGE, "dueDate is before the issue date")
    if invoice.total <= 0:
        raise ValidationFailed.one("invoiceId", SharedErrorCode.INVALID_AMOUNT, "An invoice needs a positive total.")
    sequence_no, number = await next_number(session, who.org_id, invoice.kind)
    invoice.number, invoice.sequence_no = number, sequence_no
    invoice.status = InvoiceStatus.ISSUED.value
    invoice.issue_date, invoice.due_date = issued_on, due
    invoice.updated_at = clock.now()
    await flush_or_conflict(session, "Invoice")
    await emit(session, actor, invoice, "invoice.issued", audience=[invoice.owner_id])
    return invoice


async def issue_due_installments(session: AsyncSession, today: date) -> list[Invoice]:
    """Scheduler: installments of active contracts marked for automatic invoicing whose due date has
    come are invoiced and issued (as the contract's owner's org, by the system)."""

    rows = list(await session.execute(
        select(Installment.id, Installment.org_id, Contract.created_by_id)
        .join(Contract, Contract.id == Installment.contract_id)
        .where(Installment.auto_invoice.is_(True), Installment.status == InstallmentStatus.PLANNED.value,
               Installment.due_date.is_not(None), Installment.due_date <= today,
               Contract.status == ContractStatus.ACTIVE.value)
        .order_by(Installment.org_id, Installment.due_date, Installment.id).limit(500)))
    issued = []
    for installment_id, org_id, author_id in rows:
        system = Actor(user_id=author_id, org_id=org_id)
        issued.append(await issue_invoice(session, None, installment_id=installment_id, issue_date=today,
                                          org_actor=system))
    return issued
