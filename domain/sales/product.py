"""Master data for quoting: products (code unique per org) and price books per currency.

A product in use (on a quote line or a price book) can be deactivated, never deleted: old quotes
and invoices keep pointing at it. A quote line's unit price comes from the org's default price
book for the quote's currency, else the product's own price when it is in that currency; a
currency with neither has no price (``NO_PRICE``): prices are never converted silently."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, false, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.archive import Archivable, listed
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.dialect import contains_text
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.money import MAX_AMOUNT, check_currency
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.payload import camel, plain
from ..shared.rows import group_by
from ..shared.scope import Scope
from ..shared.text import half_width
from ..tenancy.org import get_org
from .errors import SalesErrorCode

MAX_TAX_RATE = Decimal(100)
UNIT_PRICE_PLACES = 4  # unit prices may be finer than the currency's minor unit (0.125 per unit)


class Product(Archivable, Base):
    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("org_id", "code"), Index("ix_product_org_name", "org_id", "name"))

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(20))
    default_price: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate: Mapped[Decimal]
    """Percent, e.g. 13 for 13 % VAT."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class PriceBook(Base):
    __tablename__ = "price_book"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    """The book quotes in this currency take prices from (one per org and currency)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class PriceBookEntry(Base):
    __tablename__ = "price_book_entry"
    __table_args__ = (UniqueConstraint("price_book_id", "product_id"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    price_book_id: Mapped[int] = mapped_column(IdType, ForeignKey("price_book.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(IdType, ForeignKey("product.id"), index=True)
    unit_price: Mapped[Decimal]


@dataclass
class ProductInput:
    code: str | None = None
    name: str | None = None
    unit: str | None = None
    default_price: Decimal | None = None
    currency: str | None = None
    tax_rate: Decimal | None = None
    active: bool | None = None
    set_fields: set[str] = field(default_factory=set)


@dataclass
class PriceInput:
    product_id: int
    unit_price: Decimal


PRODUCT_SORTS = {
    "CODE": SortKey("CODE", Product.code, str),
    "NAME": SortKey("NAME", Product.name, str),
    "CREATED_AT": SortKey("CREATED_AT", Product.created_at, datetime),
}


def check_tax_rate(v: Validator, field_name: str, rate: Decimal | None) -> Decimal | None:
    if rate is None:
        return None
    if not rate.is_finite() or rate < 0 or rate > MAX_TAX_RATE or rate != round(rate, 4):
        v.add(field_name, SalesErrorCode.INVALID_TAX_RATE, f"{field_name} is a percentage from 0 to 100")
        return None
    return rate


def check_unit_price(v: Validator, field_name: str, price: Decimal | None) -> Decimal | None:
    """Unit prices are exact to 1/10,000 whatever the currency; totals round to the currency."""
    if price is None:
        return None
    if not price.is_finite() or price < 0 or price > MAX_AMOUNT:
        v.add(field_name, SharedErrorCode.INVALID_AMOUNT, f"{field_name} must be a decimal from 0 to {MAX_AMOUNT}")
        return None
    if price != round(price, UNIT_PRICE_PLACES):
        v.add(field_name, SharedErrorCode.INVALID_AMOUNT, f"{field_name} has more than 4 decimal places")
        return None
    return price


def product_payload(p: Product) -> dict[str, Any]:
    return {"id": p.id, "code": p.code, "name": p.name, "unit": p.unit, "defaultPrice": str(p.default_price),
            "currency": p.currency, "taxRate": str(p.tax_rate), "active": p.active, "version": p.version}


async def _code_taken(session: AsyncSession, org_id: int, code: str, except_id: int | None = None) -> bool:
    stmt = select(Product.id).where(Product.org_id == org_id, Product.code == code)
    if except_id is not None:
        stmt = stmt.where(Product.id != except_id)
    return await session.scalar(stmt) is not None


async def create_product(session: AsyncSession, actor: Actor, data: ProductInput) -> Product:
    org = await get_org(session, actor.org_id)
    v = Validator()
    code = v.text("code", half_width(data.code), max_len=40, required=True)
    name = v.text("name", data.name, max_len=200, required=True)
    unit = v.text("unit", data.unit if data.unit is not None else "unit", max_len=20, required=True)
    currency = check_currency(v, "currency", data.currency, org.default_currency)
    price = check_unit_price(v, "defaultPrice", data.default_price if data.default_price is not None else Decimal(0))
    tax_rate = check_tax_rate(v, "taxRate", data.tax_rate if data.tax_rate is not None else Decimal(0))
    if code and await _code_taken(session, actor.org_id, code):
        v.add("code", SharedErrorCode.DUPLICATE, f"A product with code {code!r} exists already.")
    v.raise_if_any()
    now = clock.now()
    product = Product(org_id=actor.org_id, code=code, name=name, unit=unit, default_price=price, currency=currency,
                      tax_rate=tax_rate, active=True if data.active is None else data.active,
                      created_at=now, updated_at=now)
    session.add(product)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="product.created", record_type="Product",
                 record_id=product.id, operation="create", payload=product_payload(product))
    return product


async def update_product(session: AsyncSession, actor: Actor, product_id: int, version: int,
                         data: ProductInput) -> Product:
    product = await load_for_write(session, select(Product).where(Product.org_id == actor.org_id,
                                                                  Product.id == product_id),
                                   type_name="Product", record_id=product_id, version=version)
    v = Validator()
    named = data.set_fields
    changes: dict[str, Any] = {}
    if "code" in named:
        changes["code"] = v.text("code", half_width(data.code), max_len=40, required=True)
        if changes["code"] and await _code_taken(session, actor.org_id, changes["code"], product.id):
            v.add("code", SharedErrorCode.DUPLICATE, f"A product with code {changes['code']!r} exists already.")
    if "name" in named:
        changes["name"] = v.text("name", data.name, max_len=200, required=True)
    if "unit" in named:
        changes["unit"] = v.text("unit", data.unit, max_len=20, required=True)
    if "currency" in named and data.currency is not None:
        changes["currency"] = check_currency(v, "currency", data.currency, product.currency)
    if "default_price" in named:
        if data.default_price is None:
            v.add("defaultPrice", SharedErrorCode.REQUIRED, "defaultPrice cannot be cleared; set 0 instead")
        else:
            changes["default_price"] = check_unit_price(v, "defaultPrice", data.default_price)
    if "tax_rate" in named:
        if data.tax_rate is None:
            v.add("taxRate", SharedErrorCode.REQUIRED, "taxRate cannot be cleared; set 0 instead")
        else:
            changes["tax_rate"] = check_tax_rate(v, "taxRate", data.tax_rate)
    if "active" in named and data.active is not None:
        changes["active"] = data.active
    v.raise_if_any()
    changed = {k: val for k, val in changes.items() if getattr(product, k) != val}
    if not changed:
        return product
    before = {k: getattr(product, k) for k in changed}
    for key, value in changed.items():
        setattr(product, key, value)
    product.updated_at = clock.now()
    await flush_or_conflict(session, "Product")
    record_event(session, actor, org_id=actor.org_id, topic="product.updated", record_type="Product",
                 record_id=product.id, operation="update",
                 payload={"changes": {camel(k): [plain(before[k]), plain(val)] for k, val in changed.items()},
                          "version": product.version})
    return product




def visible_products(actor: Actor) -> Any:
    """Products are org-wide master data: every row for a role that may read them, none otherwise."""
    stmt = select(Product).where(Product.org_id == actor.org_id)
    return stmt if actor.scope("Product") is not Scope.NONE else stmt.where(false())


async def get_product(session: AsyncSession, actor: Actor, product_id: int) -> Product:
    found = await session.scalar(visible_products(actor).where(Product.id == product_id))
    if found is None:
        raise NotFound("Product", product_id)
    return found


async def products_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Product]:
    rows = await session.scalars(visible_products(actor).where(Product.id.in_(ids)))
    return {p.id: p for p in rows}


async def list_products(session: AsyncSession, actor: Actor, *, search: str | None, active: bool | None,
                        req: PageRequest, sort: str = "CODE", with_total: bool = False,
                        archived: bool | None = False) -> Page[Product]:
    stmt = listed(visible_products(actor), Product, archived)
    if search and search.strip():
        stmt = stmt.where(contains_text(session, Product.name, search.strip())
                          | contains_text(session, Product.code, (half_width(search) or "").strip()))
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    return await paginate(session, stmt, entity=Product, sort=PRODUCT_SORTS[sort], req=req, with_total=with_total)


async def create_price_book(session: AsyncSession, actor: Actor, *, name: str | None, currency: str | None,
                            is_default: bool, prices: list[PriceInput]) -> PriceBook:
    org = await get_org(session, actor.org_id)
    v = Validator()
    name = v.text("name", name, max_len=200, required=True)
    currency = check_currency(v, "currency", currency, org.default_currency)
    if name and await session.scalar(select(PriceBook.id).where(PriceBook.org_id == actor.org_id,
                                                                 PriceBook.name == name)):
        v.add("name", SharedErrorCode.DUPLICATE, f"A price book named {name!r} exists already.")
    products = await products_by_ids(session, actor, [p.product_id for p in prices])
    seen: set[int] = set()
    checked: list[tuple[int, Decimal]] = []
    for i, price in enumerate(prices):
        if price.product_id not in products:
            raise NotFound("Product", price.product_id)
        if price.product_id in seen:
            v.add(("prices", str(i), "productId"), SharedErrorCode.DUPLICATE, "each product once per price book")
        seen.add(price.product_id)
        unit_price = check_unit_price(v.under("prices", str(i)), "unitPrice", price.unit_price)
        if unit_price is not None:
            checked.append((price.product_id, unit_price))
    v.raise_if_any()
    if is_default:
        for other in await session.scalars(select(PriceBook).where(
                PriceBook.org_id == actor.org_id, PriceBook.currency == currency, PriceBook.is_default.is_(True))):
            other.is_default = False
    book = PriceBook(org_id=actor.org_id, name=name, currency=currency, is_default=is_default, active=True,
                     created_at=clock.now())
    session.add(book)
    await session.flush()
    for product_id, unit_price in checked:
        session.add(PriceBookEntry(org_id=actor.org_id, price_book_id=book.id, product_id=product_id,
                                   unit_price=unit_price))
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="price_book.created", record_type="PriceBook",
                 record_id=book.id, operation="create",
                 payload={"id": book.id, "name": book.name, "currency": book.currency, "isDefault": is_default,
                          "prices": len(checked)})
    return book


async def price_books(session: AsyncSession, actor: Actor) -> list[PriceBook]:
    if actor.scope("PriceBook") is Scope.NONE:
        return []
    return list(await session.scalars(select(PriceBook).where(PriceBook.org_id == actor.org_id)
                                      .order_by(PriceBook.currency, PriceBook.name)))


async def entries_of(session: AsyncSession, actor: Actor, book_ids: list[int]) -> dict[int, list[PriceBookEntry]]:
    rows = await session.scalars(select(PriceBookEntry).where(
        PriceBookEntry.org_id == actor.org_id, PriceBookEntry.price_book_id.in_(book_ids)).order_by(PriceBookEntry.id))
    return group_by(book_ids, rows, lambda r: r.price_book_id)


async def list_prices(session: AsyncSession, org_id: int, product_ids: list[int], currency: str) -> dict[int, Decimal]:
    """Unit price per product in ``currency``: the default price book's entry, else the product's own
    price when the product is priced in that currency. Products with neither are absent."""
    out: dict[int, Decimal] = {}
    if not product_ids:
        return out
    rows = await session.execute(
        select(PriceBookEntry.product_id, PriceBookEntry.unit_price)
        .join(PriceBook, PriceBook.id == PriceBookEntry.price_book_id)
        .where(PriceBook.org_id == org_id, PriceBook.currency == currency, PriceBook.is_default.is_(True),
               PriceBook.active.is_(True), PriceBookEntry.product_id.in_(product_ids)))
    for product_id, price in rows:
        out[product_id] = price
    for product in await session.scalars(select(Product).where(Product.org_id == org_id,
                                                               Product.id.in_(product_ids))):
        if product.id not in out and product.currency == currency:
            out[product.id] = product.default_price
    return out


def require_active(products: dict[int, Product], product_id: int, path: tuple[str, ...]) -> Product:
    product = products.get(product_id)
    if product is None:
        raise NotFound("Product", product_id)
    if not product.active:
        raise ValidationFailed.one((*path, "productId"), SalesErrorCode.PRODUCT_INACTIVE,
                                   f"Product {product.code} is inactive.")
    return product


async def price_books_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, PriceBook]:
    if actor.scope("PriceBook") is Scope.NONE:
        return {}
    rows = await session.scalars(select(PriceBook).where(PriceBook.org_id == actor.org_id, PriceBook.id.in_(ids)))
    return {b.id: b for b in rows}
