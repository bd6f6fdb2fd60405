"""Invoices and credit notes as rows: lines, payload and events, the row lock, who sees which invoice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ...contracts.contract import Contract
from ...shared.actor import Actor
from ...shared.base import Base, IdType, pk
from ...shared.bus import handles, outward
from ...shared.clock import clock
from ...shared.concurrency import load_for_write
from ...shared.errors import NotFound
from ...shared.money import quantize
from ...shared.outbox import record_event
from ...shared.pagination import Page, PageRequest, SortKey, paginate
from ...shared.rows import group_by
from ...tenancy.handover import UserDeactivated, hand_over
from ...tenancy.scope import owned_rows
from ..events import InvoiceOverdue

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


def money_text(amount: Decimal, currency: str) -> str:
    """An amount as events show it: at the currency's precision, however the database returned it."""
    return str(quantize(amount, currency))


def invoice_payload(i: Invoice) -> dict[str, Any]:
    return {
        "id": i.id, "kind": i.kind, "number": i.number, "customerId": i.customer_id,
        "contractId": i.contract_id, "ownerId": i.owner_id, "status": i.status, "currency": i.currency,
        "issueDate": i.issue_date.isoformat() if i.issue_date else None,
        "dueDate": i.due_date.isoformat() if i.due_date else None,
        "total": money_text(i.total, i.currency), "amountPaid": money_text(i.amount_paid, i.currency),
        "amountCredited": money_text(i.amount_credited, i.currency),
        "outstanding": money_text(i.outstanding, i.currency),
        "version": i.version,
    }


def invoice_event(session: AsyncSession, actor: Actor | None, i: Invoice, topic: str, *, operation: str = "update",
                  audience: list[int] | None = None, opportunity_id: int | None = None, **extra: Any) -> None:
    """On the contract's timeline (and its opportunity's), or the invoice's own without a contract."""
    timeline = ("Contract", i.contract_id) if i.contract_id else ("Invoice", i.id)
    record_event(session, actor, org_id=i.org_id, topic=topic, record_type="Invoice", record_id=i.id,
                 operation=operation, payload={**invoice_payload(i), **extra}, timeline=timeline,
                 also=("Opportunity", opportunity_id) if opportunity_id else None, audience=audience or ())


async def opportunity_of(session: AsyncSession, i: Invoice) -> int | None:
    if i.contract_id is None:
        return None
    return await session.scalar(select(Contract.opportunity_id).where(Contract.id == i.contract_id))


async def emit(session: AsyncSession, actor: Actor | None, i: Invoice, topic: str, **kw: Any) -> None:
    invoice_event(session, actor, i, topic, opportunity_id=await opportunity_of(session, i), **kw)


@outward(InvoiceOverdue)
async def _overdue_row(session: AsyncSession, actor: Actor | None, event: InvoiceOverdue, results: list[Any]) -> None:
    invoice = await session.get(Invoice, event.invoice_id)
    assert invoice is not None
    invoice_event(session, actor, invoice, "invoice.overdue", audience=[invoice.owner_id],
                  opportunity_id=event.opportunity_id, daysOverdue=event.days_overdue)


async def load_invoice_for_write(session: AsyncSession, actor: Actor, invoice_id: int, version: int | None) -> Invoice:
    return await load_for_write(session, visible_invoices(actor).where(Invoice.id == invoice_id), type_name="Invoice",
                                record_id=invoice_id, version=version)


async def lock_invoice(session: AsyncSession, actor: Actor, invoice_id: int) -> Invoice:
    return await load_invoice_for_write(session, actor, invoice_id, None)


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
    stmt = filtered_invoices(actor, flt)
    if sort == "DUE_DATE":
        stmt = stmt.where(Invoice.due_date.is_not(None))
    return await paginate(session, stmt, entity=Invoice, sort=INVOICE_SORTS[sort], req=req, with_total=with_total)


def filtered_invoices(actor: Actor, flt: InvoiceFilter) -> Any:
    """The invoices and credit notes the actor may see that pass the filter (a select, unordered; invoices
    are never archived)."""
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
    return stmt


OPEN_INVOICES = (InvoiceStatus.DRAFT.value, InvoiceStatus.ISSUED.value, InvoiceStatus.PARTIALLY_PAID.value)


@handles(UserDeactivated)
async def _hand_over_invoices(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    return await hand_over(session, actor, event, Invoice, "owner_id", Invoice.status.in_(OPEN_INVOICES),
                           record_type="Invoice", topic="invoice.reassigned")
