"""Products and price books (master data for quotes)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tandem.domain.sales.product import PriceBook as PriceBookModel
from tandem.domain.sales.product import PriceBookEntry as PriceBookEntryModel
from tandem.domain.sales.product import Product as ProductModel

from .archive import ARCHIVED_AT
from .errors import UserError
from .node import Node, to_global_id
from .scalars import Decimal, price, rate


@strawberry.type(description="Something we sell: a service day, a licence, a device.")
class Product(Node):
    code: str | None
    name: str | None
    unit: str | None
    default_price: Decimal | None = strawberry.field(description="Unit price in `currency` (up to 4 decimals).")
    currency: str | None
    tax_rate: Decimal | None = strawberry.field(description="Percent, e.g. \"13\" for 13 % VAT.")
    active: bool | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    archived_at: datetime | None = strawberry.field(default=None, description=ARCHIVED_AT)

    @classmethod
    def from_model(cls, m: ProductModel) -> Product:
        return cls(archived_at=m.archived_at, id=to_global_id("Product", m.id), code=m.code, name=m.name, unit=m.unit,
                   default_price=price(m.default_price),
                   currency=m.currency, tax_rate=rate(m.tax_rate), active=m.active, version=m.version,
                   created_at=m.created_at, updated_at=m.updated_at)


@strawberry.type
class PriceBookEntry:
    unit_price: Decimal
    _product_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: PriceBookEntryModel) -> PriceBookEntry:
        return cls(unit_price=price(m.unit_price), _product_id=m.product_id)

    @strawberry.field
    async def product(self, info: strawberry.Info) -> Product | None:
        found = await info.context.loaders.product.load(self._product_id)
        return Product.from_model(found) if found else None


@strawberry.type(description="Prices per product in one currency; the default book of a currency prices quotes.")
class PriceBook(Node):
    name: str | None
    currency: str | None
    is_default: bool | None
    active: bool | None
    _pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: PriceBookModel) -> PriceBook:
        return cls(id=to_global_id("PriceBook", m.id), name=m.name, currency=m.currency, is_default=m.is_default,
                   active=m.active, _pk=m.id)

    @strawberry.field
    async def entries(self, info: strawberry.Info) -> list[PriceBookEntry] | None:
        rows = await info.context.loaders.price_book_entries.load(self._pk)
        return [PriceBookEntry.from_model(r) for r in rows]


@strawberry.input
class CreateProductInput:
    code: str
    name: str
    unit: str | None = None
    default_price: Decimal | None = None
    currency: str | None = strawberry.field(default=None, description="ISO 4217; the org's default if omitted.")
    tax_rate: Decimal | None = None
    active: bool | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateProductInput:
    id: strawberry.ID
    version: int
    code: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    unit: str | None = strawberry.UNSET
    default_price: Decimal | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    tax_rate: Decimal | None = strawberry.UNSET
    active: bool | None = strawberry.field(default=strawberry.UNSET,
                                           description="false deactivates: products are never deleted.")


@strawberry.input
class PriceInput:
    product_id: strawberry.ID
    unit_price: Decimal


@strawberry.input
class CreatePriceBookInput:
    name: str
    currency: str | None = None
    is_default: bool = strawberry.field(default=True, description="Quotes in this currency take prices from it.")
    prices: list[PriceInput] = strawberry.field(default_factory=list)


@strawberry.type
class ProductPayload:
    product: Product | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PriceBookPayload:
    price_book: PriceBook | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
