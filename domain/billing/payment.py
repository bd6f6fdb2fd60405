"""Payments received and their allocation to invoices.

A payment (amount, date, method, reference, payer) is allocated to one or more issued invoices,
by hand or automatically oldest-due first. An allocation can neither exceed what is left of the
payment nor what is outstanding on the invoice; a payment in another currency than the invoice
needs the exchange rate used. What is not allocated stays on the payment: the customer's credit,
or, for a payment no customer was matched to, an unmatched payment for finance to sort out.
Every allocation is kept (who, when) and can be reversed (who, when, why); nothing is deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, false, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..crm.customer import get_customer
from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.dialect import lock_for_update
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.money import check_amount, check_currency, quantize
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.rows import group_by
from ..shared.scope import Scope
from ..shared.text import half_width
from ..tenancy.org import get_org
from .allocation import AllocationInput, InvoiceBalance, PaymentBalance, check_request, plan_allocation
from .errors import BillingErrorCode
from .invoice import OPEN_STATUSES, Invoice, InvoiceKind, emit, lock_invoice


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "bank_transfer"
    CASH = "cash"
    CHECK = "check"
    CARD = "card"
    ALIPAY = "alipay"
    WECHAT_PAY = "wechat_pay"
    OTHER = "other"


class Payment(Base):
    __tablename__ = "payment"
    __table_args__ = (Index("ix_payment_org_created", "org_id", "created_at", "id"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("customer.id", ondelete="SET NULL"),
                                                    nullable=True, index=True)
    payer_name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    allocated: Mapped[Decimal]
    """Of ``amount``, what live allocations use (in the payment's currency)."""
    received_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    notes: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    recorded_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}

    @property
    def unallocated(self) -> Decimal:
        return self.amount - self.allocated


class PaymentAllocation(Base):
    __tablename__ = "payment_allocation"
    __table_args__ = (Index("ix_payment_allocation_payment", "payment_id"),
                      Index("ix_payment_allocation_invoice", "invoice_id"))

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    payment_id: Mapped[int] = mapped_column(IdType, ForeignKey("payment.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(IdType, ForeignKey("invoice.id", ondelete="CASCADE"))
    amount: Mapped[Decimal]
    """In the invoice's currency."""
    currency: Mapped[str] = mapped_column(String(3))
    payment_amount: Mapped[Decimal]
    """In the payment's currency (differs only with an exchange rate)."""
    payment_currency: Mapped[str] = mapped_column(String(3))
    exchange_rate: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """Invoice currency units per payment currency unit, exactly as used (up to 8 decimals; kept as
    text because money columns hold 4)."""
    created_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    created_at: Mapped[datetime]
    reversed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reversed_by_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    reversal_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)


@dataclass(frozen=True)
class PaymentFilter:
    customer_id: int | None = None
    unmatched: bool | None = None
    """True: payments without a customer or with money not allocated yet."""


PAYMENT_SORTS = {
    "CREATED_AT": SortKey("CREATED_AT", Payment.created_at, datetime),
    "RECEIVED_ON": SortKey("RECEIVED_ON", Payment.received_on, date),
    "AMOUNT": SortKey("AMOUNT", Payment.amount, Decimal),
}


def payment_payload(p: Payment) -> dict[str, Any]:
    def money(amount: Decimal) -> str:
        return str(quantize(amount, p.currency))

    return {"id": p.id, "customerId": p.customer_id, "payerName": p.payer_name, "amount": money(p.amount),
            "currency": p.currency, "allocated": money(p.allocated), "unallocated": money(p.unallocated),
            "receivedOn": p.received_on.isoformat(), "method": p.method, "reference": p.reference,
            "version": p.version}


def _payment_event(session: AsyncSession, actor: Actor, p: Payment, topic: str, operation: str = "update",
                   **extra: Any) -> None:
    record_event(session, actor, org_id=p.org_id, topic=topic, record_type="Payment", record_id=p.id,
                 operation=operation, payload={**payment_payload(p), **extra},
                 also=("Customer", p.customer_id) if p.customer_id else None)


async def record_payment(session: AsyncSession, actor: Actor, *, customer_id: int | None, payer_name: str | None,
                         amount: Decimal | None, currency: str | None, received_on: date | None,
                         method: PaymentMethod | None, reference: str | None, notes: str | None) -> Payment:
    customer = await get_customer(session, actor, customer_id) if customer_id is not None else None
    org = await get_org(session, actor.org_id)
    v = Validator()
    payer = v.text("payerName", payer_name if payer_name is not None else (customer.name if customer else None),
                   max_len=200, required=True)
    currency = check_currency(v, "currency", currency, customer.currency if customer else org.default_currency)
    if amount is None:
        v.add("amount", SharedErrorCode.REQUIRED, "amount is required")
    amount = check_amount(v, "amount", amount, currency)
    if amount is not None and amount <= 0:
        v.add("amount", SharedErrorCode.INVALID_AMOUNT, "a payment is a positive amount")
    received = received_on or clock.now().date()
    if received > clock.now().date():
        v.add("receivedOn", SharedErrorCode.INVALID_DATE_RANGE, "receivedOn is in the future")
    reference = v.text("reference", half_width(reference), max_len=200)
    notes = v.text("notes", notes, max_len=2000)
    v.raise_if_any()
    now = clock.now()
    payment = Payment(org_id=actor.org_id, customer_id=customer.id if customer else None, payer_name=payer,
                      amount=amount, currency=currency, allocated=Decimal(0), received_on=received,
                      method=(method or PaymentMethod.BANK_TRANSFER).value, reference=reference or None,
                      notes=notes or None, recorded_by_id=actor.user_id, created_at=now, updated_at=now)
    session.add(payment)
    await session.flush()
    _payment_event(session, actor, payment, "payment.recorded", "create")
    return payment


async def _load_payment(session: AsyncSession, actor: Actor, payment_id: int) -> Payment:
    return await load_for_write(session, visible_payments(actor).where(Payment.id == payment_id), type_name="Payment",
                                record_id=payment_id)


async def allocate_payment(session: AsyncSession, actor: Actor, payment_id: int,
                           allocations: list[AllocationInput] | None, *, automatic: bool = False
                           ) -> list[PaymentAllocation]:
    """Apply a payment to invoices: the given ones, or (``automatic``) the customer's open invoices
    in the payment's currency, oldest due first, until the payment is used up (see allocation.py)."""
    payment = await _load_payment(session, actor, payment_id)
    balance = PaymentBalance(payment.unallocated, payment.currency, payment.customer_id)
    check_request(balance, allocations, automatic=automatic)
    invoices = await _lock_invoices(session, actor, payment, allocations, automatic=automatic)
    planned = plan_allocation(balance, [_invoice_balance(i) for i in invoices.values()], allocations,
                              automatic=automatic)
    if payment.customer_id is None:  # allocating an unmatched payment matches it to the invoices' customer
        payment.customer_id = planned[0].customer_id
    now = clock.now()
    made = []
    for plan in planned:
        invoice = invoices[plan.invoice_id]
        rate = format(plan.exchange_rate.normalize(), "f") if plan.exchange_rate is not None else None
        allocation = PaymentAllocation(org_id=actor.org_id, payment_id=payment.id, invoice_id=invoice.id,
                                       amount=plan.amount, currency=invoice.currency,
                                       payment_amount=plan.payment_amount, payment_currency=payment.currency,
                                       exchange_rate=rate, created_by_id=actor.user_id, created_at=now)
        session.add(allocation)
        invoice.amount_paid += plan.amount
        invoice.settle(payment.received_on)
        invoice.updated_at = now
        payment.allocated += plan.payment_amount
        made.append(allocation)
    payment.updated_at = now
    await flush_or_conflict(session, "The payment or an invoice")
    for allocation, plan in zip(made, planned, strict=True):
        invoice = invoices[plan.invoice_id]
        amount = str(quantize(plan.amount, invoice.currency))
        await emit(session, actor, invoice, "invoice.payment_allocated", amount=amount, paymentId=payment.id,
                   allocationId=allocation.id)
    _payment_event(session, actor, payment, "payment.allocated",
                   allocations=[{"id": a.id, "invoiceId": a.invoice_id, "amount": str(quantize(a.amount, a.currency))}
                                for a in made])
    return made


async def _lock_invoices(session: AsyncSession, actor: Actor, payment: Payment,
                         allocations: list[AllocationInput] | None, *, automatic: bool) -> dict[int, Invoice]:
    """The invoices named, locked in id order; or (``automatic``) the customer's open invoices in
    the payment's currency."""
    if automatic:
        ids = list(await session.scalars(select(Invoice.id).where(
            Invoice.org_id == actor.org_id, Invoice.customer_id == payment.customer_id,
            Invoice.kind == InvoiceKind.INVOICE.value, Invoice.status.in_(OPEN_STATUSES),
            Invoice.currency == payment.currency).order_by(Invoice.due_date, Invoice.sequence_no, Invoice.id)))
    else:
        ids = sorted(a.invoice_id for a in allocations or ())
    return {i: await lock_invoice(session, actor, i) for i in ids}


def _invoice_balance(invoice: Invoice) -> InvoiceBalance:
    return InvoiceBalance(id=invoice.id, number=invoice.number, customer_id=invoice.customer_id,
                          currency=invoice.currency, outstanding=invoice.outstanding, due_date=invoice.due_date,
                          sequence_no=invoice.sequence_no, kind=invoice.kind, status=invoice.status)


async def reverse_allocation(session: AsyncSession, actor: Actor, allocation_id: int, *,
                             reason: str | None) -> PaymentAllocation:
    allocation = await session.scalar(lock_for_update(session, select(PaymentAllocation).where(
        PaymentAllocation.org_id == actor.org_id, PaymentAllocation.id == allocation_id)))
    if allocation is None:
        raise NotFound("PaymentAllocation", allocation_id)
    if allocation.reversed_at is not None:
        raise ValidationFailed.one("allocationId", BillingErrorCode.ALREADY_REVERSED,
                                   "This allocation is reversed already.")
    v = Validator()
    reason = v.text("reason", reason, max_len=1000)
    v.raise_if_any()
    if not reason:
        raise ValidationFailed.one("reason", SharedErrorCode.REASON_REQUIRED, "Say why the allocation is reversed.")
    payment = await _load_payment(session, actor, allocation.payment_id)
    invoice = await lock_invoice(session, actor, allocation.invoice_id)
    now = clock.now()
    allocation.reversed_at, allocation.reversed_by_id, allocation.reversal_reason = now, actor.user_id, reason
    payment.allocated -= allocation.payment_amount
    payment.updated_at = now
    invoice.amount_paid -= allocation.amount
    invoice.paid_on = None
    invoice.settle(None)
    invoice.updated_at = now
    await flush_or_conflict(session, "The payment or an invoice")
    await emit(session, actor, invoice, "invoice.allocation_reversed",
               amount=str(quantize(allocation.amount, allocation.currency)),
               paymentId=payment.id, allocationId=allocation.id, reason=reason)
    _payment_event(session, actor, payment, "payment.allocation_reversed", allocationId=allocation.id,
                   reason=reason)
    return allocation


async def match_payment(session: AsyncSession, actor: Actor, payment_id: int, customer_id: int) -> Payment:
    """Name the customer of an unmatched payment (before any allocation)."""
    payment = await _load_payment(session, actor, payment_id)
    customer = await get_customer(session, actor, customer_id)
    if payment.customer_id == customer.id:
        return payment
    if payment.allocated > 0:
        raise ValidationFailed.one("paymentId", SharedErrorCode.INVALID_STATE,
                                   "Reverse the payment's allocations before changing its customer.")
    payment.customer_id = customer.id
    payment.updated_at = clock.now()
    await flush_or_conflict(session, "The payment or an invoice")
    _payment_event(session, actor, payment, "payment.matched")
    return payment


def visible_payments(actor: Actor) -> Any:
    """Payments have no owner: a role reads all of the org's (finance) or none."""
    stmt = select(Payment).where(Payment.org_id == actor.org_id)
    return stmt if actor.scope("Payment") is Scope.ORG else stmt.where(false())


async def get_payment(session: AsyncSession, actor: Actor, payment_id: int) -> Payment:
    found = await session.scalar(visible_payments(actor).where(Payment.id == payment_id))
    if found is None:
        raise NotFound("Payment", payment_id)
    return found


async def payments_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Payment]:
    return {p.id: p for p in await session.scalars(visible_payments(actor).where(Payment.id.in_(ids)))}


async def list_payments(session: AsyncSession, actor: Actor, flt: PaymentFilter, req: PageRequest, *,
                        sort: str = "CREATED_AT", with_total: bool = False) -> Page[Payment]:
    stmt = visible_payments(actor)
    if flt.customer_id is not None:
        stmt = stmt.where(Payment.customer_id == flt.customer_id)
    if flt.unmatched is True:
        stmt = stmt.where(Payment.customer_id.is_(None) | (Payment.allocated < Payment.amount))
    elif flt.unmatched is False:
        stmt = stmt.where(Payment.customer_id.is_not(None), Payment.allocated >= Payment.amount)
    return await paginate(session, stmt, entity=Payment, sort=PAYMENT_SORTS[sort], req=req, with_total=with_total)


async def allocations_of_payments(session: AsyncSession, actor: Actor,
                                  ids: list[int]) -> dict[int, list[PaymentAllocation]]:
    if actor.scope("Payment") is not Scope.ORG:
        return {i: [] for i in ids}
    rows = await session.scalars(select(PaymentAllocation).where(
        PaymentAllocation.org_id == actor.org_id, PaymentAllocation.payment_id.in_(ids))
        .order_by(PaymentAllocation.payment_id, PaymentAllocation.id))
    return group_by(ids, rows, lambda r: r.payment_id)


async def allocations_of_invoices(session: AsyncSession, actor: Actor,
                                  ids: list[int]) -> dict[int, list[PaymentAllocation]]:
    if actor.scope("Payment") is not Scope.ORG:
        return {i: [] for i in ids}
    rows = await session.scalars(select(PaymentAllocation).where(
        PaymentAllocation.org_id == actor.org_id, PaymentAllocation.invoice_id.in_(ids))
        .order_by(PaymentAllocation.invoice_id, PaymentAllocation.id))
    return group_by(ids, rows, lambda r: r.invoice_id)
