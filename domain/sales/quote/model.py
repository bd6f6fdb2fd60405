"""Quotes as rows: the quote, its lines, the discount thresholds; its payload and event; who sees which quote."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ...shared.actor import Actor
from ...shared.archive import Archivable, listed
from ...shared.base import Base, IdType, pk
from ...shared.bus import handles
from ...shared.concurrency import load_for_write
from ...shared.errors import NotFound
from ...shared.money import CURRENCY_EXPONENTS, quantize
from ...shared.outbox import record_event
from ...shared.pagination import Page, PageRequest, SortKey, paginate
from ...shared.rows import group_by
from ...tenancy.handover import UserDeactivated, hand_over
from ...tenancy.scope import owned_rows

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


class Quote(Archivable, Base):
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
    archived: bool | None = False
    """False: leave archived rows out (the default); True: only archived ones; None: both."""


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


def quote_event(session: AsyncSession, actor: Actor | None, q: Quote, topic: str, operation: str = "update",
           audience: list[int] | None = None, **extra: Any) -> None:
    record_event(session, actor, org_id=q.org_id, topic=topic, record_type="Quote", record_id=q.id,
                 operation=operation, payload={**quote_payload(q), **extra},
                 also=("Opportunity", q.opportunity_id), audience=audience or ())


async def lock_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None) -> Quote:
    return await load_for_write(session, visible_quotes(actor).where(Quote.id == quote_id), type_name="Quote",
                                record_id=quote_id, version=version)


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
    return await paginate(session, filtered_quotes(actor, flt), entity=Quote, sort=QUOTE_SORTS[sort], req=req,
                          with_total=with_total)


def filtered_quotes(actor: Actor, flt: QuoteFilter) -> Any:
    """The quotes the actor may see that pass the filter (a select, unordered)."""
    stmt = visible_quotes(actor)
    if flt.status:
        stmt = stmt.where(Quote.status == flt.status)
    if flt.opportunity_id is not None:
        stmt = stmt.where(Quote.opportunity_id == flt.opportunity_id)
    if flt.customer_id is not None:
        stmt = stmt.where(Quote.customer_id == flt.customer_id)
    if flt.owner_id is not None:
        stmt = stmt.where(Quote.owner_id == flt.owner_id)
    return listed(stmt, Quote, flt.archived)


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-CURRENCY_EXPONENTS.get(currency, 2))


OPEN_QUOTES = (QuoteStatus.DRAFT.value, QuoteStatus.PENDING_APPROVAL.value, QuoteStatus.APPROVED.value,
               QuoteStatus.SENT.value)


@handles(UserDeactivated)
async def _hand_over_quotes(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    return await hand_over(session, actor, event, Quote, "owner_id", Quote.status.in_(OPEN_QUOTES),
                           record_type="Quote", topic="quote.reassigned")
