"""Receivables: what customers owe, how late, and how well they pay. Aggregated in SQL over the
invoices the actor may see, per currency (amounts in different currencies are never added up).

- outstanding and overdue totals, aging buckets by days past due (current, 1–30, 31–60, 61–90, 90+);
- DSO over the last ``period_days``: receivables now ÷ invoiced in the period × days in the period;
- on-time payment rate: of the invoices that fell due up to today, the share paid in full by their
  due date;
- the customer's credit: payments received but not allocated to any invoice.

Overdue invoices raise a reminder to the account owner once, and escalate through the SLA
mechanism (collaboration/sla.py) to the owner's manager, then up the chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, case, func, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..collaboration.sla import Escalation, Overdue, SlaKind, escalate
from ..contracts.contract import Contract
from ..shared.actor import Actor
from ..shared.base import MoneyType
from ..shared.bus import dispatch
from ..shared.clock import clock
from .events import InvoiceOverdue
from .invoice import (
    OPEN_STATUSES,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    invoice_payload,
    visible_invoices,
)
from .payment import Payment

BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")
DEFAULT_PERIOD_DAYS = 90


@dataclass
class Aging:
    current: Decimal = Decimal(0)
    days_1_30: Decimal = Decimal(0)
    days_31_60: Decimal = Decimal(0)
    days_61_90: Decimal = Decimal(0)
    over_90: Decimal = Decimal(0)


@dataclass
class Receivables:
    currency: str
    as_of: date
    customer_id: int | None
    outstanding: Decimal = Decimal(0)
    overdue: Decimal = Decimal(0)
    open_invoices: int = 0
    overdue_invoices: int = 0
    aging: Aging = field(default_factory=Aging)
    invoiced_in_period: Decimal = Decimal(0)
    period_days: int = DEFAULT_PERIOD_DAYS
    dso: Decimal | None = None
    due_invoices: int = 0
    paid_on_time: int = 0
    on_time_rate: Decimal | None = None
    customer_credit: Decimal = Decimal(0)


def _money(expr: Any) -> Any:
    return type_coerce(func.coalesce(func.sum(expr), 0), MoneyType())


async def receivables(session: AsyncSession, actor: Actor, *, customer_id: int | None, currency: str,
                      as_of: date | None = None, period_days: int = DEFAULT_PERIOD_DAYS,
                      visible: Any = None) -> Receivables:
    """``visible`` is the statement of invoices the actor may see (billing/invoice.visible_invoices)."""
    today = as_of or clock.now().date()
    base = (visible if visible is not None else visible_invoices(actor)).where(
        Invoice.kind == InvoiceKind.INVOICE.value, Invoice.currency == currency).subquery()
    inv = base.c
    if customer_id is not None:
        where = [inv.customer_id == customer_id]
    else:
        where = []
    outstanding = inv.total - inv.amount_paid - inv.amount_credited
    is_open = inv.status.in_(OPEN_STATUSES)
    bucket = case(
        (inv.due_date >= today, "current"),
        (inv.due_date >= today - timedelta(days=30), "days_1_30"),
        (inv.due_date >= today - timedelta(days=60), "days_31_60"),
        (inv.due_date >= today - timedelta(days=90), "days_61_90"),
        else_="over_90",
    )
    out = Receivables(currency=currency, as_of=today, customer_id=customer_id, period_days=period_days)
    rows = await session.execute(select(bucket.label("bucket"), _money(outstanding), func.count())
                                 .where(is_open, *where).group_by(bucket))
    for name, amount, count in rows:
        setattr(out.aging, name, amount)
        out.outstanding += amount
        out.open_invoices += count
        if name != "current":
            out.overdue += amount
            out.overdue_invoices += count
    since = today - timedelta(days=period_days)
    out.invoiced_in_period = await session.scalar(select(_money(inv.total)).where(
        inv.status != InvoiceStatus.VOID.value, inv.status != InvoiceStatus.DRAFT.value,
        inv.issue_date > since, inv.issue_date <= today, *where)) or Decimal(0)
    if out.invoiced_in_period > 0:
        out.dso = (out.outstanding / out.invoiced_in_period * period_days).quantize(Decimal("0.1"),
                                                                                    rounding=ROUND_HALF_UP)
    due, on_time = (await session.execute(select(
        func.count(), func.coalesce(func.sum(case((and_(inv.paid_on.is_not(None), inv.paid_on <= inv.due_date), 1),
                                                  else_=0)), 0))
        .where(inv.status.in_([*OPEN_STATUSES, InvoiceStatus.PAID.value]), inv.due_date < today, *where))).one()
    out.due_invoices, out.paid_on_time = int(due), int(on_time)
    if due:
        out.on_time_rate = (Decimal(on_time) / Decimal(due)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    credit = select(_money(Payment.amount - Payment.allocated)).where(
        Payment.org_id == actor.org_id, Payment.currency == currency, Payment.customer_id.is_not(None))
    if customer_id is not None:
        credit = credit.where(Payment.customer_id == customer_id)
    out.customer_credit = await session.scalar(credit) or Decimal(0)
    return out


async def open_invoices(session: AsyncSession, actor: Actor, *, customer_id: int | None, currency: str,
                        limit: int = 100, visible: Any = None) -> list[Invoice]:
    """The open invoices behind the figures, most overdue first."""
    stmt = (visible if visible is not None else visible_invoices(actor)).where(
        Invoice.kind == InvoiceKind.INVOICE.value, Invoice.currency == currency,
        Invoice.status.in_(OPEN_STATUSES))
    if customer_id is not None:
        stmt = stmt.where(Invoice.customer_id == customer_id)
    return list(await session.scalars(stmt.order_by(Invoice.due_date, Invoice.id).limit(limit)))


def _due_at(d: date) -> datetime:
    """An invoice is overdue once its due date has passed (the next day, 00:00 UTC)."""
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=UTC)


async def run_overdue(session: AsyncSession, now: datetime) -> list[Escalation]:
    """Scheduler pass over every org: a reminder to the account owner the first time an invoice is
    overdue, then escalations up the owner's chain (idempotent)."""
    today = now.date()
    rows = list(await session.execute(
        select(Invoice, Contract.opportunity_id).outerjoin(Contract, Contract.id == Invoice.contract_id)
        .where(Invoice.kind == InvoiceKind.INVOICE.value, Invoice.status.in_(OPEN_STATUSES),
               Invoice.due_date < today)
        .order_by(Invoice.id).limit(5000)))
    items = []
    reminded: list[int] = []
    for invoice, opportunity_id in rows:
        also = ("Opportunity", opportunity_id) if opportunity_id else None
        if invoice.reminded_at is None:
            reminded.append(invoice.id)
            await dispatch(session, None, InvoiceOverdue(invoice.org_id, invoice.id, opportunity_id,
                                                          invoice.days_overdue(today)))
        timeline = ("Contract", invoice.contract_id) if invoice.contract_id else ("Invoice", invoice.id)
        items.append(Overdue(kind=SlaKind.INVOICE, id=invoice.id, org_id=invoice.org_id, owner_id=invoice.owner_id,
                             due=_due_at(invoice.due_date), record_type="Invoice", timeline=timeline,
                             payload={**invoice_payload(invoice), "title": invoice.number}, also=also))
    if reminded:  # a background mark: no version bump, so nobody's edit conflicts with it
        await session.execute(update(Invoice).where(Invoice.id.in_(reminded)).values(reminded_at=now))
    return await escalate(session, items, now)

