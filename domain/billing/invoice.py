"""Invoices and credit notes. An invoice is drafted from a contract's installment (or from free
lines), and gets its number when issued: per-org, gapless and safe under concurrent issuing
(shared/numbering.py). Status follows the money:

    draft ──issue──▶ issued ──payments──▶ partially_paid ──▶ paid
      │                 │
      └──void──▶ void ◀─┘ (only while nothing is paid; a voided invoice keeps its number)

A credit note (its own CN- numbering) reverses all or part of an issued invoice's outstanding
amount; an invoice settled by credit alone ends ``credited``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..contracts.contract import Contract, ContractStatus
from ..crm.customer import get_customer
from ..sales.product import check_tax_rate, check_unit_price
from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.dialect import lock_for_update
from ..shared.errors import FieldErrorCode, NotFound, ValidationFailed, Validator
from ..shared.money import MAX_AMOUNT, check_amount, check_currency, quantize
from ..shared.numbering import next_number
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.rows import group_by
from ..tenancy.org import get_org
from ..tenancy.scope import owned_rows
from .payment_plan import Installment, InstallmentStatus

DEFAULT_PAYMENT_TERMS_DAYS = 30
HUNDRED = Decimal(100)
MAX_LINES = 200


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    CREDITED = "credited"
    VOID = "void"


OPEN_STATUSES = (InvoiceStatus.ISSUED.value, InvoiceStatus.PARTIALLY_PAID.value)


class Invoice(Base):
    __tablename__ = "invoice"
    __table_args__ = (
        Index("ix_invoice_org_number", "org_id", "kind", "number", unique=True),
        Index("ix_invoice_org_created", "org_id", "created_at", "id"),
        Index("ix_invoice_open", "org_id", "status", "due_date"),
        Index("ix_invoice_installment", "installment_id"),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    sequence_no: Mapped[int | None] = mapped_column(Integer, nullable=True)
    customer_id: Mapped[int] = mapped_column(IdType, ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    contract_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("contract.id", ondelete="SET NULL"),
                                                    nullable=True, index=True)
    installment_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("installment.id", ondelete="SET NULL"),
                                                       nullable=True)
    credited_invoice_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("invoice.id"), nullable=True)
    owner_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"), index=True)
    """The account owner (the contract's owner): who is reminded when it is overdue."""
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    issue_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    subtotal: Mapped[Decimal]
    tax_total: Mapped[Decimal]
    total: Mapped[Decimal]
    amount_paid: Mapped[Decimal]
    amount_credited: Mapped[Decimal]
    paid_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    """The day the last amount due was received (the invoice became paid)."""
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}

    @property
    def outstanding(self) -> Decimal:
        if self.kind != InvoiceKind.INVOICE or self.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            return Decimal(0)
        return self.total - self.amount_paid - self.amount_credited

    def days_overdue(self, today: date) -> int:
        if self.outstanding <= 0 or self.due_date is None or today <= self.due_date:
            return 0
        return (today - self.due_date).days

    def settle(self, paid_on: date | None) -> None:
        """Status from the money (no I/O): paid, credited, partially paid or issued."""
        if self.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            return
        outstanding = self.total - self.amount_paid - self.amount_credited
        if outstanding <= 0:
            self.status = (InvoiceStatus.PAID if self.amount_paid > 0 else InvoiceStatus.CREDITED).value
            self.paid_on = self.paid_on or paid_on
        else:
            self.status = (InvoiceStatus.PARTIALLY_PAID if self.amount_paid + self.amount_credited > 0
                           else InvoiceStatus.ISSUED).value
            self.paid_on = None


class InvoiceLine(Base):
    __tablename__ = "invoice_line"

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(IdType, ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal]
    unit_price: Mapped[Decimal]
    tax_rate: Mapped[Decimal]
    net: Mapped[Decimal]
    tax: Mapped[Decimal]
    total: Mapped[Decimal]


@dataclass
class InvoiceLineInput:
    description: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    tax_rate: Decimal | None = None


@dataclass(frozen=True)
class InvoiceFilter:
    status: str | None = None
    customer_id: int | None = None
    contract_id: int | None = None
    kind: str | None = None
    overdue: bool | None = None


INVOICE_SORTS = {
    "CREATED_AT": SortKey("CREATED_AT", Invoice.created_at, datetime),
    "DUE_DATE": SortKey("DUE_DATE", Invoice.due_date, date),
    "TOTAL": SortKey("TOTAL", Invoice.total, Decimal),
}


def _money(amount: Decimal, currency: str) -> str:
    """An amount as events show it: at the currency's precision, however the database returned it."""
    return str(quantize(amount, currency))


def invoice_payload(i: Invoice) -> dict[str, Any]:
    return {
        "id": i.id, "kind": i.kind, "number": i.number, "customerId": i.customer_id,
        "contractId": i.contract_id, "ownerId": i.owner_id, "status": i.status, "currency": i.currency,
        "issueDate": i.issue_date.isoformat() if i.issue_date else None,
        "dueDate": i.due_date.isoformat() if i.due_date else None,
        "total": _money(i.total, i.currency), "amountPaid": _money(i.amount_paid, i.currency),
        "amountCredited": _money(i.amount_credited, i.currency), "outstanding": _money(i.outstanding, i.currency),
        "version": i.version,
    }


def invoice_event(session: AsyncSession, actor: Actor | None, i: Invoice, topic: str, *, operation: str = "update",
                  audience: list[int] | None = None, opportunity_id: int | None = None, **extra: Any) -> None:
    """On the contract's timeline (and its opportunity's), or the invoice's own without a contract."""
    timeline = ("Contract", i.contract_id) if i.contract_id else ("Invoice", i.id)
    record_event(session, actor, org_id=i.org_id, topic=topic, record_type="Invoice", record_id=i.id,
                 operation=operation, payload={**invoice_payload(i), **extra}, timeline=timeline,
                 also=("Opportunity", opportunity_id) if opportunity_id else None, audience=audience or ())


async def _opportunity_of(session: AsyncSession, i: Invoice) -> int | None:
    if i.contract_id is None:
        return None
    return await session.scalar(select(Contract.opportunity_id).where(Contract.id == i.contract_id))


async def emit(session: AsyncSession, actor: Actor | None, i: Invoice, topic: str, **kw: Any) -> None:
    invoice_event(session, actor, i, topic, opportunity_id=await _opportunity_of(session, i), **kw)


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


def _add_lines(session: AsyncSession, invoice: Invoice, lines: list[dict[str, Any]]) -> None:
    invoice.subtotal = sum((x["net"] for x in lines), Decimal(0))
    invoice.tax_total = sum((x["tax"] for x in lines), Decimal(0))
    invoice.total = invoice.subtotal + invoice.tax_total
    for x in lines:
        session.add(InvoiceLine(org_id=invoice.org_id, invoice_id=invoice.id, **x))


def _new(actor: Actor, *, kind: InvoiceKind, customer_id: int, contract_id: int | None, owner_id: int,
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
            raise ValidationFailed.one("contractId", FieldErrorCode.MISMATCHED_RECORD,
                                       "The contract belongs to another customer.")
    org = await get_org(session, actor.org_id)
    v = Validator()
    currency = check_currency(v, "currency", currency, contract.currency if contract else org.default_currency)
    notes = v.text("notes", notes, max_len=10_000)
    if not lines:
        v.add("lines", FieldErrorCode.REQUIRED, "an invoice needs at least one line")
    if len(lines) > MAX_LINES:
        v.add("lines", FieldErrorCode.INVALID, f"at most {MAX_LINES} lines")
    checked = []
    for n, line in enumerate(lines[:MAX_LINES]):
        lv = v.under("lines", str(n))
        description = lv.text("description", line.description, max_len=500, required=True)
        quantity = line.quantity if line.quantity is not None else Decimal(1)
        if not quantity.is_finite() or quantity <= 0 or quantity != round(quantity, 4):
            lv.add("quantity", FieldErrorCode.INVALID_QUANTITY, "quantity is a positive number")
            continue
        if line.unit_price is None:
            lv.add("unitPrice", FieldErrorCode.REQUIRED, "unitPrice is required")
            continue
        price = check_unit_price(lv, "unitPrice", line.unit_price)
        rate = check_tax_rate(lv, "taxRate", line.tax_rate if line.tax_rate is not None else Decimal(0))
        if price is None or rate is None:
            continue
        x = _line(n + 1, description or "", quantity, price, rate, currency)
        if x["total"] > MAX_AMOUNT:
            lv.add("unitPrice", FieldErrorCode.INVALID_AMOUNT, "the line total is too large")
            continue
        checked.append(x)
    v.raise_if_any()
    invoice = _new(actor, kind=InvoiceKind.INVOICE, customer_id=customer.id,
                   contract_id=contract.id if contract else None,
                   owner_id=contract.owner_id if contract else customer.owner_id, currency=currency, notes=notes)
    session.add(invoice)
    await session.flush()
    _add_lines(session, invoice, checked)
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
        raise ValidationFailed.one("installmentId", FieldErrorCode.INVALID_STATE,
                                   "The installment was cancelled when its contract was terminated.")
    if installment.status == InstallmentStatus.INVOICED:
        raise ValidationFailed.one("installmentId", FieldErrorCode.ALREADY_INVOICED,
                                   f"Installment {installment.position} ({installment.label}) is invoiced already.")
    contract = await _contract(session, actor, installment.contract_id)
    if contract.status != ContractStatus.ACTIVE:
        raise ValidationFailed.one("installmentId", FieldErrorCode.NOT_APPROVED,
                                   f"Contract {contract.number} is {contract.status}; invoice only signed, active "
                                   "contracts.")
    if installment.due_date is None:
        raise ValidationFailed.one("installmentId", FieldErrorCode.NOT_DUE,
                                   f"Installment {installment.label} waits for milestone {installment.milestone!r}.")
    invoice = _new(actor, kind=InvoiceKind.INVOICE, customer_id=contract.customer_id, contract_id=contract.id,
                   owner_id=contract.owner_id, currency=contract.currency, installment_id=installment.id)
    session.add(invoice)
    await session.flush()
    net, tax = split_gross(installment.amount, contract.tax_rate, contract.currency)
    count = await session.scalar(select(Installment.position).where(Installment.contract_id == contract.id)
                                 .order_by(Installment.position.desc()).limit(1))
    description = f"{contract.number} {contract.title}: {installment.label} ({installment.position}/{count})"
    _add_lines(session, invoice, [{"position": 1, "description": description[:500], "quantity": Decimal(1),
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
        raise ValidationFailed.one("installmentId", FieldErrorCode.REQUIRED, "give installmentId or invoiceId")
    if installment_id is not None:
        invoice = await _draft_from_installment(session, who, installment_id)
    else:
        invoice = await _load_for_write(session, who, invoice_id, None)  # type: ignore[arg-type]
        if invoice.status != InvoiceStatus.DRAFT:
            raise ValidationFailed.one("invoiceId", FieldErrorCode.INVALID_STATE,
                                       f"Invoice {invoice.number} is {invoice.status}, not a draft.")
    issued_on = issue_date or clock.now().date()
    due = due_date or issued_on + timedelta(days=DEFAULT_PAYMENT_TERMS_DAYS)
    if due < issued_on:
        raise ValidationFailed.one("dueDate", FieldErrorCode.INVALID_DATE_RANGE, "dueDate is before the issue date")
    if invoice.total <= 0:
        raise ValidationFailed.one("invoiceId", FieldErrorCode.INVALID_AMOUNT, "An invoice needs a positive total.")
    sequence_no, number = await next_number(session, who.org_id, invoice.kind)
    invoice.number, invoice.sequence_no = number, sequence_no
    invoice.status = InvoiceStatus.ISSUED.value
    invoice.issue_date, invoice.due_date = issued_on, due
    invoice.updated_at = clock.now()
    await flush_or_conflict(session, "Invoice")
    await emit(session, actor, invoice, "invoice.issued", audience=[invoice.owner_id])
    return invoice


async def _load_for_write(session: AsyncSession, actor: Actor, invoice_id: int, version: int | None) -> Invoice:
    return await load_for_write(session, visible_invoices(actor).where(Invoice.id == invoice_id), type_name="Invoice",
                                record_id=invoice_id, version=version)


async def lock_invoice(session: AsyncSession, actor: Actor, invoice_id: int) -> Invoice:
    return await _load_for_write(session, actor, invoice_id, None)


async def void_invoice(session: AsyncSession, actor: Actor, invoice_id: int, *, reason: str | None,
                       version: int | None = None) -> Invoice:
    """Void a draft or an issued invoice nothing was paid or credited on. An issued one keeps its
    number (the sequence has no gap); its installment can be invoiced again."""
    invoice = await _load_for_write(session, actor, invoice_id, version)
    if invoice.status == InvoiceStatus.VOID:
        raise ValidationFailed.one("id", FieldErrorCode.INVOICE_VOID, "The invoice is void already.")
    if invoice.amount_paid > 0 or invoice.amount_credited > 0:
        raise ValidationFailed.one("id", FieldErrorCode.HAS_PAYMENTS,
                                   "Payments or credits are applied to this invoice: reverse them (or issue a "
                                   "credit note) instead.")
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        raise ValidationFailed.one("id", FieldErrorCode.INVALID_STATE, "A credit note cannot be voided.")
    v = Validator()
    reason = v.text("reason", reason, max_len=1000)
    v.raise_if_any()
    if not reason:
        raise ValidationFailed.one("reason", FieldErrorCode.REASON_REQUIRED, "Say why the invoice is voided.")
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
    invoice = await _load_for_write(session, actor, invoice_id, None)
    if invoice.kind != InvoiceKind.INVOICE:
        raise ValidationFailed.one("invoiceId", FieldErrorCode.INVALID_STATE, "Credit notes credit invoices only.")
    if invoice.status == InvoiceStatus.VOID:
        raise ValidationFailed.one("invoiceId", FieldErrorCode.INVOICE_VOID, "The invoice is void.")
    if invoice.status == InvoiceStatus.DRAFT:
        raise ValidationFailed.one("invoiceId", FieldErrorCode.INVOICE_NOT_ISSUED, "The invoice is not issued.")
    v = Validator()
    reason = v.text("reason", reason, max_len=1000)
    credit = check_amount(v, "amount", amount if amount is not None else invoice.outstanding, invoice.currency)
    v.raise_if_any()
    if not reason:
        raise ValidationFailed.one("reason", FieldErrorCode.REASON_REQUIRED, "Say why the invoice is credited.")
    assert credit is not None
    if credit <= 0:
        raise ValidationFailed.one("amount", FieldErrorCode.INVALID_AMOUNT, "Nothing to credit.")
    if credit > invoice.outstanding:
        raise ValidationFailed.one("amount", FieldErrorCode.EXCEEDS_OUTSTANDING,
                                   f"Only {invoice.outstanding} {invoice.currency} is outstanding.")
    note = _new(actor, kind=InvoiceKind.CREDIT_NOTE, customer_id=invoice.customer_id,
                contract_id=invoice.contract_id, owner_id=invoice.owner_id, currency=invoice.currency,
                notes=reason)
    note.credited_invoice_id = invoice.id
    session.add(note)
    await session.flush()
    rate = (invoice.tax_total * HUNDRED / invoice.subtotal).quantize(Decimal("0.0001")) if invoice.subtotal else \
        Decimal(0)
    net, tax = split_gross(credit, rate, invoice.currency)
    _add_lines(session, note, [{"position": 1, "description": f"Credit for {invoice.number}: {reason}"[:500],
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


def visible_invoices(actor: Actor) -> Any:
    stmt = select(Invoice).where(Invoice.org_id == actor.org_id)
    scope = owned_rows(actor, "Invoice", Invoice)
    return stmt if scope is None else stmt.where(scope)


async def get_invoice(session: AsyncSession, actor: Actor, invoice_id: int) -> Invoice:
    found = await session.scalar(visible_invoices(actor).where(Invoice.id == invoice_id))
    if found is None:
        raise NotFound("Invoice", invoice_id)
    return found


async def invoices_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Invoice]:
    return {i.id: i for i in await session.scalars(visible_invoices(actor).where(Invoice.id.in_(ids)))}


async def lines_of(session: AsyncSession, actor: Actor, invoice_ids: list[int]) -> dict[int, list[InvoiceLine]]:
    rows = await session.scalars(select(InvoiceLine).where(InvoiceLine.org_id == actor.org_id,
                                                           InvoiceLine.invoice_id.in_(invoice_ids))
                                 .order_by(InvoiceLine.invoice_id, InvoiceLine.position))
    return group_by(invoice_ids, rows, lambda r: r.invoice_id)


async def invoices_of_contracts(session: AsyncSession, actor: Actor,
                                contract_ids: list[int]) -> dict[int, list[Invoice]]:
    rows = await session.scalars(visible_invoices(actor).where(Invoice.contract_id.in_(contract_ids))
                                 .order_by(Invoice.contract_id, Invoice.created_at, Invoice.id))
    return group_by(contract_ids, rows, lambda r: r.contract_id)


async def live_invoices_of_installments(session: AsyncSession, actor: Actor,
                                       installment_ids: list[int]) -> dict[int, Invoice]:
    rows = await session.scalars(visible_invoices(actor).where(Invoice.installment_id.in_(installment_ids),
                                                               Invoice.status != InvoiceStatus.VOID.value))
    return {i.installment_id: i for i in rows}  # type: ignore[misc]


async def list_invoices(session: AsyncSession, actor: Actor, flt: InvoiceFilter, req: PageRequest, *,
                        sort: str = "CREATED_AT", with_total: bool = False) -> Page[Invoice]:
    stmt = visible_invoices(actor)
    if flt.status:
        stmt = stmt.where(Invoice.status == flt.status)
    if flt.customer_id is not None:
        stmt = stmt.where(Invoice.customer_id == flt.customer_id)
    if flt.contract_id is not None:
        stmt = stmt.where(Invoice.contract_id == flt.contract_id)
    if flt.kind:
        stmt = stmt.where(Invoice.kind == flt.kind)
    if flt.overdue is not None:
        overdue = (Invoice.kind == InvoiceKind.INVOICE.value) & Invoice.status.in_(OPEN_STATUSES) & (
            Invoice.due_date < clock.now().date())
        stmt = stmt.where(overdue if flt.overdue else ~overdue)
    if sort == "DUE_DATE":
        stmt = stmt.where(Invoice.due_date.is_not(None))
    return await paginate(session, stmt, entity=Invoice, sort=INVOICE_SORTS[sort], req=req, with_total=with_total)


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

