"""Quotes, their lines, and the discount approval that guards them."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.sales.quote import Quote as QuoteModel
from tandem.domain.sales.quote import QuoteLine as QuoteLineModel
from tandem.domain.sales.quote import QuoteStatus as _QuoteStatus
from tandem.domain.sales.quote import effective_discount_percent
from tandem.domain.shared.money import quantize

from .archive import ARCHIVED_AT, ARCHIVED_FILTER
from .errors import UserError
from .node import Node, to_global_id
from .product import Product
from .scalars import Decimal, price, rate
from .sla import SLA_STATUS, SlaStatus, load_sla_status
from .user import User, load_user

if TYPE_CHECKING:
    from .customer import Customer
    from .opportunity import Opportunity

QuoteStatus = strawberry.enum(_QuoteStatus, name="QuoteStatus")


@strawberry.type(description="A priced line; money is rounded half-up to the quote currency at each step.")
class QuoteLine:
    position: int
    description: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal
    tax_rate: Decimal
    gross: Decimal = strawberry.field(description="quantity × unitPrice")
    discount: Decimal
    net: Decimal = strawberry.field(description="gross − discount")
    tax: Decimal
    total: Decimal = strawberry.field(description="net + tax")
    _product_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, m: QuoteLineModel, currency: str) -> QuoteLine:
        def q(v):
            return quantize(v, currency)

        return cls(position=m.position, description=m.description, unit=m.unit, quantity=rate(m.quantity),
                   unit_price=price(m.unit_price), discount_percent=rate(m.discount_percent), tax_rate=rate(m.tax_rate),
                   gross=q(m.gross), discount=q(m.discount), net=q(m.net), tax=q(m.tax), total=q(m.total),
                   _product_id=m.product_id)

    @strawberry.field
    async def product(self, info: strawberry.Info) -> Product | None:
        if self._product_id is None:
            return None
        found = await info.context.loaders.product.load(self._product_id)
        return Product.from_model(found) if found else None


@strawberry.type(description="A priced offer on an opportunity. Revisions share a number.")
class Quote(Node):
    number: str | None
    revision: int | None
    title: str | None
    status: QuoteStatus | None
    currency: str | None
    valid_until: date | None
    notes: str | None
    gross_total: Decimal | None = strawberry.field(description="List value before discounts.")
    discount_total: Decimal | None
    subtotal: Decimal | None = strawberry.field(description="Net of discounts, before tax.")
    tax_total: Decimal | None
    total: Decimal | None
    discount_percent: Decimal | None = strawberry.field(description="Overall discount: discounts ÷ list value.")
    max_discount_percent: Decimal | None = strawberry.field(description="The largest line discount.")
    needs_approval: bool | None = strawberry.field(
        description="A line's discount exceeds the owner's threshold: approval is needed before sending.")
    submitted_at: datetime | None
    decided_at: datetime | None
    decision_comment: str | None
    sent_at: datetime | None
    accepted_at: datetime | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    _pk: strawberry.Private[int]
    _opportunity_id: strawberry.Private[int]
    _customer_id: strawberry.Private[int]
    _owner_id: strawberry.Private[int]
    _decided_by_id: strawberry.Private[int | None]
    _previous_id: strawberry.Private[int | None]
    archived_at: datetime | None = strawberry.field(default=None, description=ARCHIVED_AT)

    @strawberry.field(description=SLA_STATUS)
    async def sla_status(self, info: strawberry.Info) -> SlaStatus | None:
        return await load_sla_status(info, self.id)

    @classmethod
    def from_model(cls, m: QuoteModel) -> Quote:
        def q(v):
            return quantize(v, m.currency)

        return cls(
            archived_at=m.archived_at,
            id=to_global_id("Quote", m.id), number=m.number, revision=m.revision, title=m.title,
            status=_QuoteStatus(m.status), currency=m.currency, valid_until=m.valid_until, notes=m.notes,
            gross_total=q(m.gross_total), discount_total=q(m.discount_total), subtotal=q(m.subtotal),
            tax_total=q(m.tax_total), total=q(m.total), discount_percent=effective_discount_percent(m),
            max_discount_percent=rate(m.max_discount_percent), needs_approval=m.needs_approval,
            submitted_at=m.submitted_at,
            decided_at=m.decided_at, decision_comment=m.decision_comment, sent_at=m.sent_at,
            accepted_at=m.accepted_at, version=m.version, created_at=m.created_at, updated_at=m.updated_at,
            _pk=m.id, _opportunity_id=m.opportunity_id, _customer_id=m.customer_id, _owner_id=m.owner_id,
            _decided_by_id=m.decided_by_id, _previous_id=m.previous_id,
        )

    @strawberry.field
    async def lines(self, info: strawberry.Info) -> list[QuoteLine] | None:
        rows = await info.context.loaders.quote_lines.load(self._pk)
        return [QuoteLine.from_model(r, self.currency or "") for r in rows]

    @strawberry.field
    async def opportunity(
        self, info: strawberry.Info
    ) -> Annotated[Opportunity, strawberry.lazy(".opportunity")] | None:
        from .opportunity import Opportunity

        found = await info.context.loaders.opportunity.load(self._opportunity_id)
        return Opportunity.from_model(found) if found else None

    @strawberry.field
    async def customer(self, info: strawberry.Info) -> Annotated[Customer, strawberry.lazy(".customer")] | None:
        from .customer import Customer

        found = await info.context.loaders.customer.load(self._customer_id)
        return Customer.from_model(found) if found else None

    @strawberry.field
    async def owner(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._owner_id)

    @strawberry.field(description="Who approved or rejected the discount.")
    async def decided_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._decided_by_id)

    @strawberry.field(description="The revision this one replaced.")
    async def previous_revision(self, info: strawberry.Info) -> Quote | None:
        if self._previous_id is None:
            return None
        found = await info.context.loaders.quote.load(self._previous_id)
        return Quote.from_model(found) if found else None


@strawberry.input
class QuoteLineInput:
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="Price, unit, description and tax rate default from the product.")
    description: str | None = None
    unit: str | None = None
    quantity: Decimal = strawberry.field(description="Positive, up to 4 decimals.")
    unit_price: Decimal | None = strawberry.field(
        default=None, description="Default: the default price book of the quote's currency, else the product's "
                                  "own price in that currency.")
    discount_percent: Decimal | None = None
    tax_rate: Decimal | None = None


@strawberry.input
class CreateQuoteInput:
    opportunity_id: strawberry.ID
    lines: list[QuoteLineInput]
    title: str | None = None
    currency: str | None = strawberry.field(default=None, description="Default: the opportunity's currency.")
    valid_until: date | None = None
    notes: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateQuoteInput:
    id: strawberry.ID
    version: int
    title: str | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    valid_until: date | None = strawberry.UNSET
    notes: str | None = strawberry.UNSET
    lines: list[QuoteLineInput] | None = strawberry.field(default=strawberry.UNSET,
                                                          description="Replaces every line.")


@strawberry.input
class QuoteActionInput:
    id: strawberry.ID
    version: int | None = strawberry.field(default=None, description="The version you read (CONFLICT if stale).")


@strawberry.input
class QuoteDecisionInput:
    id: strawberry.ID
    comment: str | None = strawberry.field(default=None, description="Required to reject.")
    version: int | None = None


@strawberry.input
class SetDiscountThresholdInput:
    role: str = strawberry.field(description="A role, or \"*\" for the org default.")
    max_discount_percent: Decimal


@strawberry.input
class QuoteFilter:
    status: QuoteStatus | None = None
    opportunity_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None
    owner_id: strawberry.ID | None = None
    archived: bool | None = strawberry.field(default=False, description=ARCHIVED_FILTER)


@strawberry.type
class QuotePayload:
    quote: Quote | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DiscountThreshold:
    role: str
    max_discount_percent: Decimal


@strawberry.type
class DiscountThresholdPayload:
    threshold: DiscountThreshold | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
