"""Products and price books."""

from __future__ import annotations

from typing import Annotated

import strawberry

from tandem.domain.sales import product as service
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.archive import ARCHIVED_FILTER
from tandem.schema.node import decode_id
from tandem.schema.pagination import Connection, wants_total
from tandem.schema.product import (
    CreatePriceBookInput,
    CreateProductInput,
    PriceBook,
    PriceBookPayload,
    Product,
    ProductPayload,
    UpdateProductInput,
)

from .mutation import named, run, run_create, value
from .writes import writes


def _payload(m: service.Product | None = None, user_errors: list | None = None) -> ProductPayload:
    return ProductPayload(product=Product.from_model(m) if m else None, user_errors=user_errors or [])


def _book_payload(m: service.PriceBook | None = None, user_errors: list | None = None) -> PriceBookPayload:
    return PriceBookPayload(price_book=PriceBook.from_model(m) if m else None, user_errors=user_errors or [])


@strawberry.type
class ProductQuery:
    @strawberry.field(description="Products by code; `search` matches code or name.")
    async def products(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None, search: str | None = None,
                       active: bool | None = None,
                       archived: Annotated[bool | None, strawberry.argument(description=ARCHIVED_FILTER)] = False,
                       ) -> Connection[Product]:
        ctx = info.context
        if search:
            ctx.authz.require_read("Product", ["code", "name"])
        if active is not None:
            ctx.authz.require_read("Product", ["active"])
        if archived is not False:
            ctx.authz.require_read("Product", ["archivedAt"])
        req = PageRequest(first=first, after=after, last=last, before=before)
        async with ctx.read() as session:
            page = await service.list_products(session, ctx.actor, search=search, active=active, req=req,
                                               with_total=wants_total(info), archived=archived)
        return Connection.from_page(page, Product.from_model)

    @strawberry.field
    async def product(self, info: strawberry.Info, id: strawberry.ID) -> Product | None:
        ctx = info.context
        pk = decode_id("Product", id)
        async with ctx.read() as session:
            return Product.from_model(await service.get_product(session, ctx.actor, pk))

    @strawberry.field(description="The org's price books, by currency.")
    async def price_books(self, info: strawberry.Info) -> list[PriceBook]:
        ctx = info.context
        async with ctx.read() as session:
            return [PriceBook.from_model(b) for b in await service.price_books(session, ctx.actor)]


@strawberry.type
class ProductMutation:
    @writes("Product", "create")
    @strawberry.mutation(description="A product; its code is unique in the org.")
    async def create_product(self, info: strawberry.Info, input: CreateProductInput) -> ProductPayload:
        actor = info.context.actor
        data = service.ProductInput(code=input.code, name=input.name, unit=input.unit,
                                    default_price=input.default_price, currency=input.currency,
                                    tax_rate=input.tax_rate, active=input.active)
        return await run_create(info, "createProduct", input, lambda s: service.create_product(s, actor, data),
                                lambda s, pk: service.get_product(s, actor, pk), _payload)

    @writes("Product", "update")
    @strawberry.mutation(description="Change a product; `active: false` deactivates it (products are never "
                                     "deleted, old quotes keep pointing at them).")
    async def update_product(self, info: strawberry.Info, input: UpdateProductInput) -> ProductPayload:
        actor = info.context.actor
        pk = decode_id("Product", input.id)
        data = service.ProductInput(code=value(input, "code"), name=value(input, "name"), unit=value(input, "unit"),
                                    default_price=value(input, "default_price"), currency=value(input, "currency"),
                                    tax_rate=value(input, "tax_rate"), active=value(input, "active"),
                                    set_fields=named(input))
        return await run(info, lambda s: service.update_product(s, actor, pk, input.version, data), _payload)

    @writes("PriceBook", "create", fields={"prices": "PriceBook.entries"})
    @strawberry.mutation(description="A price book for one currency with a price per product.")
    async def create_price_book(self, info: strawberry.Info, input: CreatePriceBookInput) -> PriceBookPayload:
        actor = info.context.actor
        prices = [service.PriceInput(product_id=decode_id("Product", p.product_id), unit_price=p.unit_price)
                  for p in input.prices]
        return await run(info, lambda s: service.create_price_book(
            s, actor, name=input.name, currency=input.currency, is_default=input.is_default, prices=prices),
            _book_payload)
