"""Quotes on an opportunity: priced lines, totals in Decimal rounded per currency, revisions, and
discount approval by the owner's management chain.

    draft ──submit──▶ pending_approval ──approve──▶ approved ──send──▶ sent ──accept──▶ accepted
      │                     └──reject──▶ rejected (edit → draft)          └──decline──▶ declined
      └──send / accept (only when no line's discount exceeds the owner's threshold)
    approved / sent ──revise──▶ a new draft revision (same number); the old one is superseded

A line's discount above the owner's threshold (per org and role, default 10 %) needs approval by
someone above the owner in the management chain (or an admin) before the quote can be sent or
accepted. Accepting a quote makes the opportunity's amount and currency follow its total, and
supersedes the opportunity's other open quotes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..pipeline.opportunity import Opportunity, get_opportunity
from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.dialect import lock_for_update
from ..shared.errors import FieldErrorCode, NotFound, ValidationFailed, Validator
from ..shared.money import CURRENCY_EXPONENTS, MAX_AMOUNT, check_currency, quantize
from ..shared.numbering import next_number
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.rows import group_by
from ..tenancy.scope import owned_rows
from ..tenancy.user import ROLES, get_user, managers_of
from .product import check_tax_rate, check_unit_price, list_prices, products_by_ids, require_active

DEFAULT_DISCOUNT_THRESHOLD = Decimal(10)
MAX_LINES = 200
MAX_QUANTITY = Decimal(1_000_000_000)
HUNDRED = Decimal(100)


class QuoteStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    SUPERSEDED = "superseded"


OPEN_STATUSES = (QuoteStatus.DRAFT, QuoteStatus.PENDING_APPROVAL, QuoteStatus.APPROVED, QuoteStatus.REJECTED,
                 QuoteStatus.SENT)
EDITABLE = (QuoteStatus.DRAFT, QuoteStatus.REJECTED)


class Quote(Base):
    __tablename__ = "quote"
    __table_args__ = (
        UniqueConstraint("org_id", "number", "revision"),
        Index("ix_quote_org_created", "org_id", "created_at", "id"),
        Index("ix_quote_opportunity", "opportunity_id"),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    opportunity_id: Mapped[int] = mapped_column(IdType, ForeignKey("opportunity.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(IdType, ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"), index=True)
    number: Mapped[str] = mapped_column(String(20))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("quote.id"), nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    gross_total: Mapped[Decimal]
    discount_total: Mapped[Decimal]
    subtotal: Mapped[Decimal]
    """Net of discounts, before tax."""
    tax_total: Mapped[Decimal]
    total: Mapped[Decimal]
    max_discount_percent: Mapped[Decimal]
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decision_comment: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class QuoteLine(Base):
    __tablename__ = "quote_line"

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    quote_id: Mapped[int] = mapped_column(IdType, ForeignKey("quote.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("product.id"), nullable=True, index=True)
    description: Mapped[str] = mapped_column(String(500))
    unit: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[Decimal]
    unit_price: Mapped[Decimal]
    discount_percent: Mapped[Decimal]
    tax_rate: Mapped[Decimal]
    gross: Mapped[Decimal]
    discount: Mapped[Decimal]
    net: Mapped[Decimal]
    tax: Mapped[Decimal]
    total: Mapped[Decimal]


class DiscountThreshold(Base):
    """Largest line discount (percent) a role may quote without approval; role ``*`` is the org default."""

    __tablename__ = "discount_threshold"
    __table_args__ = (UniqueConstraint("org_id", "role"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(40))
    max_discount_percent: Mapped[Decimal]


@dataclass
class QuoteLineInput:
    product_id: int | None = None
    description: str | None = None
    unit: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    discount_percent: Decimal | None = None
    tax_rate: Decimal | None = None


@dataclass
class QuoteInput:
    opportunity_id: int | None = None
    title: str | None = None
    currency: str | None = None
    valid_until: date | None = None
    notes: str | None = None
    lines: list[QuoteLineInput] | None = None
    set_fields: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class QuoteFilter:
    status: str | None = None
    opportunity_id: int | None = None
    customer_id: int | None = None
    owner_id: int | None = None


@dataclass(frozen=True)
class LineAmounts:
    gross: Decimal
    discount: Decimal
    net: Decimal
    tax: Decimal
    total: Decimal


QUOTE_SORTS = {
    "CREATED_AT": SortKey("CREATED_AT", Quote.created_at, datetime),
    "UPDATED_AT": SortKey("UPDATED_AT", Quote.updated_at, datetime),
    "NUMBER": SortKey("NUMBER", Quote.number, str),
    "TOTAL": SortKey("TOTAL", Quote.total, Decimal),
}


def line_amounts(quantity: Decimal, unit_price: Decimal, discount_percent: Decimal, tax_rate: Decimal,
                 currency: str) -> LineAmounts:
    """One line's money, each step rounded half-up to the currency's minor unit (no I/O)."""
    gross = quantize(quantity * unit_price, currency)
    discount = quantize(gross * discount_percent / HUNDRED, currency)
    net = gross - discount
    tax = quantize(net * tax_rate / HUNDRED, currency)
    return LineAmounts(gross, discount, net, tax, net + tax)


def _check_percent(v: Validator, field_name: str, value: Decimal | None, code: FieldErrorCode) -> Decimal | None:
    if value is None:
        return None
    if not value.is_finite() or value < 0 or value > HUNDRED or value != round(value, 4):
        v.add(field_name, code, f"{field_name} is a percentage from 0 to 100")
        return None
    return value


def _check_quantity(v: Validator, quantity: Decimal | None) -> Decimal | None:
    if quantity is None:
        v.add("quantity", FieldErrorCode.REQUIRED, "quantity is required")
        return None
    if not quantity.is_finite() or quantity <= 0 or quantity > MAX_QUANTITY or quantity != round(quantity, 4):
        v.add("quantity", FieldErrorCode.INVALID_QUANTITY, "quantity is a positive number with at most 4 decimals")
        return None
    return quantity


async def _priced_lines(session: AsyncSession, actor: Actor, v: Validator, currency: str,
                        lines: list[QuoteLineInput] | None) -> list[dict[str, Any]]:
    """Validated, priced lines (plain dicts ready for QuoteLine); errors collected on ``v``."""
    if not lines:
        v.add("lines", FieldErrorCode.REQUIRED, "a quote needs at least one line")
        return []
    if len(lines) > MAX_LINES:
        v.add("lines", FieldErrorCode.INVALID, f"at most {MAX_LINES} lines")
        return []
    product_ids = [x.product_id for x in lines if x.product_id is not None]
    products = await products_by_ids(session, actor, product_ids)
    prices = await list_prices(session, actor.org_id, product_ids, currency)
    out = []
    for i, line in enumerate(lines):
        lv = v.under("lines", str(i))
        product = None
        if line.product_id is not None:
            product = require_active(products, line.product_id, ("lines", str(i)))
        description = lv.text("description", line.description if line.description is not None
                              else (product.name if product else None), max_len=500, required=True)
        unit = lv.text("unit", line.unit if line.unit is not None else (product.unit if product else "unit"),
                       max_len=20, required=True)
        quantity = _check_quantity(lv, line.quantity)
        unit_price = line.unit_price
        if unit_price is None and product is not None:
            unit_price = prices.get(product.id)
            if unit_price is None:
                lv.add("unitPrice", FieldErrorCode.NO_PRICE,
                       f"Product {product.code} has no {currency} price: add it to the {currency} price book "
                       "or give unitPrice")
                continue
        if unit_price is None:
            lv.add("unitPrice", FieldErrorCode.REQUIRED, "unitPrice is required for a line without a product")
            continue
        unit_price = check_unit_price(lv, "unitPrice", unit_price)
        discount = _check_percent(lv, "discountPercent", line.discount_percent if line.discount_percent is not None
                                  else Decimal(0), FieldErrorCode.INVALID_DISCOUNT)
        tax_rate = check_tax_rate(lv, "taxRate", line.tax_rate if line.tax_rate is not None
                                  else (product.tax_rate if product else Decimal(0)))
        if None in (quantity, unit_price, discount, tax_rate):
            continue
        amounts = line_amounts(quantity, unit_price, discount, tax_rate, currency)
        if amounts.total > MAX_AMOUNT:
            lv.add("quantity", FieldErrorCode.INVALID_AMOUNT, f"the line total is larger than {MAX_AMOUNT}")
            continue
        out.append({"position": i + 1, "product_id": product.id if product else None, "description": description,
                    "unit": unit, "quantity": quantity, "unit_price": unit_price, "discount_percent": discount,
                    "tax_rate": tax_rate, "gross": amounts.gross, "discount": amounts.discount, "net": amounts.net,
                    "tax": amounts.tax, "total": amounts.total})
    return out


async def discount_threshold(session: AsyncSession, org_id: int, roles: list[str] | frozenset[str]) -> Decimal:
    """The most discount these roles may give without approval: the highest of their roles' thresholds,
    each falling back to the org default (role ``*``), then to 10 %."""
    rows = {r.role: r.max_discount_percent for r in await session.scalars(
        select(DiscountThreshold).where(DiscountThreshold.org_id == org_id))}
    default = rows.get("*", DEFAULT_DISCOUNT_THRESHOLD)
    if "admin" in roles:
        return rows.get("admin", HUNDRED)
    return max((rows.get(r, default) for r in roles), default=default)


async def set_discount_threshold(session: AsyncSession, actor: Actor, *, role: str,
                                 max_discount_percent: Decimal) -> DiscountThreshold:
    v = Validator()
    if role != "*" and role not in ROLES:
        v.add("role", FieldErrorCode.INVALID, f"{role!r} is not a role ({', '.join(ROLES)}) or *")
    pct = _check_percent(v, "maxDiscountPercent", max_discount_percent, FieldErrorCode.INVALID_DISCOUNT)
    v.raise_if_any()
    row = await session.scalar(select(DiscountThreshold).where(DiscountThreshold.org_id == actor.org_id,
                                                               DiscountThreshold.role == role))
    if row is None:
        row = DiscountThreshold(org_id=actor.org_id, role=role, max_discount_percent=pct)
        session.add(row)
    row.max_discount_percent = pct  # type: ignore[assignment]
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="discount_threshold.set", record_type="Org",
                 record_id=actor.org_id, operation="update",
                 payload={"role": role, "maxDiscountPercent": str(pct)})
    return row


async def _owner_threshold(session: AsyncSession, org_id: int, owner_id: int) -> Decimal:
    owner = await get_user(session, org_id, owner_id)
    return await discount_threshold(session, org_id, owner.roles)


def _apply_totals(quote: Quote, lines: list[dict[str, Any]], threshold: Decimal) -> None:
    quote.gross_total = sum((x["gross"] for x in lines), Decimal(0))
    quote.discount_total = sum((x["discount"] for x in lines), Decimal(0))
    quote.subtotal = sum((x["net"] for x in lines), Decimal(0))
    quote.tax_total = sum((x["tax"] for x in lines), Decimal(0))
    quote.total = quote.subtotal + quote.tax_total
    quote.max_discount_percent = max((x["discount_percent"] for x in lines), default=Decimal(0))
    quote.needs_approval = quote.max_discount_percent > threshold


def effective_discount_percent(q: Quote) -> Decimal:
    """The quote's overall discount: discounts / list value, in percent (2 decimals)."""
    if not q.gross_total:
        return Decimal(0)
    return (q.discount_total * HUNDRED / q.gross_total).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def quote_payload(q: Quote) -> dict[str, Any]:
    def money(amount: Decimal) -> str:
        return str(quantize(amount, q.currency))

    return {
        "id": q.id, "number": q.number, "revision": q.revision, "opportunityId": q.opportunity_id,
        "customerId": q.customer_id, "ownerId": q.owner_id, "title": q.title, "status": q.status,
        "currency": q.currency, "subtotal": money(q.subtotal), "discountTotal": money(q.discount_total),
        "taxTotal": money(q.tax_total), "total": money(q.total),
        "maxDiscountPercent": format(q.max_discount_percent.normalize(), "f"), "needsApproval": q.needs_approval,
        "version": q.version,
    }


def _event(session: AsyncSession, actor: Actor | None, q: Quote, topic: str, operation: str = "update",
           audience: list[int] | None = None, **extra: Any) -> None:
    record_event(session, actor, org_id=q.org_id, topic=topic, record_type="Quote", record_id=q.id,
                 operation=operation, payload={**quote_payload(q), **extra},
                 also=("Opportunity", q.opportunity_id), audience=audience or ())


def _replace_lines(session: AsyncSession, quote: Quote, lines: list[dict[str, Any]]) -> None:
    for x in lines:
        session.add(QuoteLine(org_id=quote.org_id, quote_id=quote.id, **x))


async def create_quote(session: AsyncSession, actor: Actor, data: QuoteInput) -> Quote:
    if data.opportunity_id is None:
        raise ValidationFailed.one("opportunityId", FieldErrorCode.REQUIRED, "opportunityId is required")
    opportunity = await get_opportunity(session, actor, data.opportunity_id)
    v = Validator()
    title = v.text("title", data.title if data.title is not None else opportunity.name, max_len=200, required=True)
    currency = check_currency(v, "currency", data.currency, opportunity.currency)
    notes = v.text("notes", data.notes, max_len=20_000)
    if data.valid_until is not None and data.valid_until < clock.now().date():
        v.add("validUntil", FieldErrorCode.INVALID_DATE_RANGE, "validUntil is in the past")
    lines = await _priced_lines(session, actor, v, currency, data.lines)
    v.raise_if_any()
    threshold = await _owner_threshold(session, actor.org_id, opportunity.owner_id)
    _, number = await next_number(session, actor.org_id, "quote")
    now = clock.now()
    quote = Quote(org_id=actor.org_id, opportunity_id=opportunity.id, customer_id=opportunity.customer_id,
                  owner_id=opportunity.owner_id, number=number, revision=1, title=title,
                  status=QuoteStatus.DRAFT.value, currency=currency, valid_until=data.valid_until,
                  notes=notes or None, created_by_id=actor.user_id, created_at=now, updated_at=now)
    _apply_totals(quote, lines, threshold)
    session.add(quote)
    await session.flush()
    _replace_lines(session, quote, lines)
    await session.flush()
    _event(session, actor, quote, "quote.created", "create")
    return quote


async def _load_for_write(session: AsyncSession, actor: Actor, quote_id: int, version: int | None) -> Quote:
    return await load_for_write(session, visible_quotes(actor).where(Quote.id == quote_id), type_name="Quote",
                                record_id=quote_id, version=version)


def _require_status(quote: Quote, allowed: tuple[QuoteStatus, ...], action: str,
                    code: FieldErrorCode = FieldErrorCode.INVALID_STATE) -> None:
    if quote.status not in allowed:
        raise ValidationFailed.one("id", code, f"A {quote.status.replace('_', ' ')} quote cannot be {action}.")


async def update_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int,
                       data: QuoteInput) -> Quote:
    """Edit a draft or rejected quote (a rejected one goes back to draft). Lines, when given, replace
    the old ones. Approved or sent quotes are locked: revise them instead."""
    quote = await _load_for_write(session, actor, quote_id, version)
    _require_status(quote, EDITABLE, "edited; revise it instead", FieldErrorCode.QUOTE_LOCKED)
    v = Validator()
    named = data.set_fields
    if "title" in named:
        quote.title = v.text("title", data.title, max_len=200, required=True)  # type: ignore[assignment]
    if "notes" in named:
        quote.notes = v.text("notes", data.notes, max_len=20_000) or None
    if "valid_until" in named:
        if data.valid_until is not None and data.valid_until < clock.now().date():
            v.add("validUntil", FieldErrorCode.INVALID_DATE_RANGE, "validUntil is in the past")
        quote.valid_until = data.valid_until
    currency = quote.currency
    if "currency" in named and data.currency is not None:
        currency = check_currency(v, "currency", data.currency, quote.currency)
        if currency != quote.currency and "lines" not in named:
            v.add("currency", FieldErrorCode.CURRENCY_MISMATCH, "changing the currency needs the lines re-priced")
    lines = None
    if "lines" in named:
        lines = await _priced_lines(session, actor, v, currency, data.lines)
    v.raise_if_any()
    quote.currency = currency
    if lines is not None:
        for old in await session.scalars(select(QuoteLine).where(QuoteLine.quote_id == quote.id)):
            await session.delete(old)
        await session.flush()
        _replace_lines(session, quote, lines)
        _apply_totals(quote, lines, await _owner_threshold(session, actor.org_id, quote.owner_id))
    quote.status = QuoteStatus.DRAFT.value
    quote.updated_at = clock.now()
    await flush_or_conflict(session, "Quote")
    _event(session, actor, quote, "quote.updated")
    return quote


async def submit_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None) -> Quote:
    quote = await _load_for_write(session, actor, quote_id, version)
    _require_status(quote, EDITABLE, "submitted for approval")
    now = clock.now()
    quote.status = QuoteStatus.PENDING_APPROVAL.value
    quote.submitted_at = now
    quote.decided_by_id = quote.decided_at = quote.decision_comment = None
    quote.updated_at = now
    await flush_or_conflict(session, "Quote")
    approvers = await managers_of(session, actor.org_id, quote.owner_id)
    _event(session, actor, quote, "quote.submitted", audience=approvers[:1])
    return quote


async def _check_approver(session: AsyncSession, actor: Actor, quote: Quote) -> None:
    if actor.user_id == quote.owner_id or actor.user_id == quote.created_by_id:
        raise ValidationFailed.one("id", FieldErrorCode.SELF_APPROVAL, "You cannot approve your own quote.")
    if actor.has_role("admin"):
        return
    if actor.user_id not in await managers_of(session, actor.org_id, quote.owner_id):
        raise ValidationFailed.one("id", FieldErrorCode.NOT_APPROVER,
                                   "Only a manager above the quote's owner (or an admin) may decide on it.")


async def approve_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None,
                        comment: str | None) -> Quote:
    quote = await _load_for_write(session, actor, quote_id, version)
    _require_status(quote, (QuoteStatus.PENDING_APPROVAL,), "approved")
    await _check_approver(session, actor, quote)
    v = Validator()
    comment = v.text("comment", comment, max_len=1000)
    v.raise_if_any()
    now = clock.now()
    quote.status = QuoteStatus.APPROVED.value
    quote.decided_by_id, quote.decided_at, quote.decision_comment = actor.user_id, now, comment or None
    quote.updated_at = now
    await flush_or_conflict(session, "Quote")
    _event(session, actor, quote, "quote.approved", audience=[quote.owner_id], comment=comment or None)
    return quote


async def reject_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None,
                       comment: str | None) -> Quote:
    quote = await _load_for_write(session, actor, quote_id, version)
    _require_status(quote, (QuoteStatus.PENDING_APPROVAL,), "rejected")
    await _check_approver(session, actor, quote)
    v = Validator()
    comment = v.text("comment", comment, max_len=1000, required=True)
    if not comment:
        raise ValidationFailed.one("comment", FieldErrorCode.REASON_REQUIRED, "Say why the quote is rejected.")
    v.raise_if_any()
    now = clock.now()
    quote.status = QuoteStatus.REJECTED.value
    quote.decided_by_id, quote.decided_at, quote.decision_comment = actor.user_id, now, comment
    quote.updated_at = now
    await flush_or_conflict(session, "Quote")
    _event(session, actor, quote, "quote.rejected", audience=[quote.owner_id], comment=comment)
    return quote


def _require_releasable(quote: Quote, action: str) -> None:
    """Sending or accepting: approved, or a draft within the discount policy."""
    if quote.status == QuoteStatus.DRAFT and quote.needs_approval:
        raise ValidationFailed.one("id", FieldErrorCode.DISCOUNT_NEEDS_APPROVAL,
                                   f"A discount of {quote.max_discount_percent.normalize()} % needs approval "
                                   f"before the quote can be {action}.")
    if quote.valid_until is not None and quote.valid_until < clock.now().date():
        raise ValidationFailed.one("id", FieldErrorCode.QUOTE_EXPIRED,
                                   f"The quote expired on {quote.valid_until.isoformat()}; revise it.")


async def send_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None) -> Quote:
    quote = await _load_for_write(session, actor, quote_id, version)
    _require_status(quote, (QuoteStatus.DRAFT, QuoteStatus.APPROVED), "sent")
    _require_releasable(quote, "sent")
    now = clock.now()
    quote.status = QuoteStatus.SENT.value
    quote.sent_at = quote.updated_at = now
    await flush_or_conflict(session, "Quote")
    _event(session, actor, quote, "quote.sent")
    return quote


async def accept_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None) -> Quote:
    """The customer accepted: the opportunity's amount follows the quote's total.

    The opportunity is locked before the quote: accepts of its quotes queue there, so two racing
    accepts end in one accepted quote and ALREADY_ACCEPTED, not in a deadlock over each other's quotes."""
    opportunity_id = await session.scalar(visible_quotes(actor).where(Quote.id == quote_id)
                                          .with_only_columns(Quote.opportunity_id))
    if opportunity_id is None:
        raise NotFound("Quote", quote_id)
    opportunity = await session.scalar(lock_for_update(session, select(Opportunity).where(
        Opportunity.org_id == actor.org_id, Opportunity.id == opportunity_id)))
    assert opportunity is not None
    quote = await _load_for_write(session, actor, quote_id, version)
    others = list(await session.scalars(select(Quote).where(
        Quote.org_id == actor.org_id, Quote.opportunity_id == quote.opportunity_id, Quote.id != quote.id)))
    if quote.status == QuoteStatus.ACCEPTED or any(o.status == QuoteStatus.ACCEPTED for o in others):
        raise ValidationFailed.one("id", FieldErrorCode.ALREADY_ACCEPTED,
                                   "This quote, or another of its opportunity, is accepted already.")
    _require_status(quote, (QuoteStatus.DRAFT, QuoteStatus.APPROVED, QuoteStatus.SENT), "accepted")
    _require_releasable(quote, "accepted")
    now = clock.now()
    quote.status = QuoteStatus.ACCEPTED.value
    quote.accepted_at = quote.updated_at = now
    for other in others:
        if other.status in OPEN_STATUSES:
            other.status = QuoteStatus.SUPERSEDED.value
            other.updated_at = now
    await flush_or_conflict(session, "Quote")
    changes = {}
    if opportunity.amount != quote.total:
        changes["amount"] = [str(quantize(opportunity.amount, opportunity.currency)),
                             str(quantize(quote.total, quote.currency))]
    if opportunity.currency != quote.currency:
        changes["currency"] = [opportunity.currency, quote.currency]
    if changes:
        opportunity.amount, opportunity.currency = quote.total, quote.currency
        opportunity.updated_at = now
        await flush_or_conflict(session, "The opportunity")
        record_event(session, actor, org_id=actor.org_id, topic="opportunity.updated", record_type="Opportunity",
                     record_id=opportunity.id, operation="update",
                     payload={"changes": changes, "version": opportunity.version, "quoteId": quote.id})
    _event(session, actor, quote, "quote.accepted")
    return quote


async def decline_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None,
                        reason: str | None) -> Quote:
    quote = await _load_for_write(session, actor, quote_id, version)
    _require_status(quote, (QuoteStatus.SENT, QuoteStatus.APPROVED), "declined")
    v = Validator()
    reason = v.text("reason", reason, max_len=1000)
    v.raise_if_any()
    quote.status = QuoteStatus.DECLINED.value
    quote.decision_comment = reason or quote.decision_comment
    quote.updated_at = clock.now()
    await flush_or_conflict(session, "Quote")
    _event(session, actor, quote, "quote.declined", reason=reason or None)
    return quote


async def revise_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None) -> Quote:
    """A new draft revision (same number, revision + 1) copying lines; the old one is superseded."""
    old = await _load_for_write(session, actor, quote_id, version)
    _require_status(old, (QuoteStatus.APPROVED, QuoteStatus.SENT, QuoteStatus.DECLINED, QuoteStatus.REJECTED),
                    "revised")
    latest = await session.scalar(select(Quote.revision).where(Quote.org_id == actor.org_id,
                                                               Quote.number == old.number)
                                  .order_by(Quote.revision.desc()).limit(1))
    now = clock.now()
    new = Quote(org_id=old.org_id, opportunity_id=old.opportunity_id, customer_id=old.customer_id,
                owner_id=old.owner_id, number=old.number, revision=(latest or old.revision) + 1, previous_id=old.id,
                title=old.title, status=QuoteStatus.DRAFT.value, currency=old.currency, valid_until=None,
                notes=old.notes, gross_total=old.gross_total, discount_total=old.discount_total,
                subtotal=old.subtotal, tax_total=old.tax_total, total=old.total,
                max_discount_percent=old.max_discount_percent, needs_approval=old.needs_approval,
                created_by_id=actor.user_id, created_at=now, updated_at=now)
    session.add(new)
    old.status = QuoteStatus.SUPERSEDED.value
    old.updated_at = now
    await flush_or_conflict(session, "Quote")
    for line in await session.scalars(select(QuoteLine).where(QuoteLine.quote_id == old.id)
                                       .order_by(QuoteLine.position)):
        session.add(QuoteLine(org_id=new.org_id, quote_id=new.id, position=line.position, product_id=line.product_id,
                              description=line.description, unit=line.unit, quantity=line.quantity,
                              unit_price=line.unit_price, discount_percent=line.discount_percent,
                              tax_rate=line.tax_rate, gross=line.gross, discount=line.discount, net=line.net,
                              tax=line.tax, total=line.total))
    await session.flush()
    _event(session, actor, new, "quote.revised", "create", previousId=old.id)
    return new


def visible_quotes(actor: Actor) -> Any:
    stmt = select(Quote).where(Quote.org_id == actor.org_id)
    scope = owned_rows(actor, "Quote", Quote)
    return stmt if scope is None else stmt.where(scope)


async def get_quote(session: AsyncSession, actor: Actor, quote_id: int) -> Quote:
    found = await session.scalar(visible_quotes(actor).where(Quote.id == quote_id))
    if found is None:
        raise NotFound("Quote", quote_id)
    return found


async def quotes_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Quote]:
    return {q.id: q for q in await session.scalars(visible_quotes(actor).where(Quote.id.in_(ids)))}


async def lines_of(session: AsyncSession, actor: Actor, quote_ids: list[int]) -> dict[int, list[QuoteLine]]:
    rows = await session.scalars(select(QuoteLine).where(QuoteLine.org_id == actor.org_id,
                                                         QuoteLine.quote_id.in_(quote_ids))
                                 .order_by(QuoteLine.quote_id, QuoteLine.position))
    return group_by(quote_ids, rows, lambda r: r.quote_id)


async def list_quotes(session: AsyncSession, actor: Actor, flt: QuoteFilter, req: PageRequest, *,
                      sort: str = "CREATED_AT", with_total: bool = False) -> Page[Quote]:
    stmt = visible_quotes(actor)
    if flt.status:
        stmt = stmt.where(Quote.status == flt.status)
    if flt.opportunity_id is not None:
        stmt = stmt.where(Quote.opportunity_id == flt.opportunity_id)
    if flt.customer_id is not None:
        stmt = stmt.where(Quote.customer_id == flt.customer_id)
    if flt.owner_id is not None:
        stmt = stmt.where(Quote.owner_id == flt.owner_id)
    return await paginate(session, stmt, entity=Quote, sort=QUOTE_SORTS[sort], req=req, with_total=with_total)


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-CURRENCY_EXPONENTS.get(currency, 2))
