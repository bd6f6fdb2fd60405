"""Products and price books on the domain services, each test in an org of its own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.sales.errors import SalesErrorCode
from tandem.domain.sales.product import (
    PriceBook,
    PriceBookEntry,
    PriceInput,
    Product,
    ProductInput,
    create_price_book,
    create_product,
    list_prices,
    update_product,
)
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import Conflict, NotFound, SharedErrorCode, ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent
from tests.factories.checks import count, fails, outbox_count, reload
from tests.factories.quote_to_cash import T0, new_product, new_world


@pytest.fixture(autouse=True)
def frozen():
    clock.set(T0)
    yield
    clock.set(None)


async def test_product_is_created_with_the_org_currency_and_defaults(db):
    # given
    world = await new_world(db)
    before = await outbox_count(db, world.org_id, "product.created")
    # when
    async with db.write() as s:
        product = await create_product(s, world.manager, ProductInput(code=" LIC-01 ", name="软件许可 🚀"))
    # then
    stored = await reload(db, Product, product.id)
    assert (stored.code, stored.name, stored.unit, stored.currency, stored.default_price, stored.tax_rate,
            stored.active) == ("LIC-01", "软件许可 🚀", "unit", "CNY", Decimal(0), Decimal(0), True)
    assert await outbox_count(db, world.org_id, "product.created") == before + 1


async def test_duplicate_product_code_is_refused_and_nothing_is_written(db):
    # given a product IMPL (the world has one)
    world = await new_world(db)
    before = await outbox_count(db, world.org_id)
    # when another product takes the same code, spaces around it or not
    with fails(SharedErrorCode.DUPLICATE):
        async with db.write() as s:
            await create_product(s, world.manager, ProductInput(code="  IMPL ", name="另一个"))
    # then
    assert await count(db, Product, Product.org_id == world.org_id) == 1
    assert await outbox_count(db, world.org_id) == before


async def test_same_product_code_in_another_org_is_fine(db):
    # given
    world = await new_world(db)
    other = await new_world(db)
    # when
    async with db.write() as s:
        product = await create_product(s, other.manager, ProductInput(code="X-1", name="x"))
        mine = await create_product(s, world.manager, ProductInput(code="X-1", name="x"))
    # then
    assert (product.code, mine.code) == ("X-1", "X-1")
    assert product.id != mine.id


async def test_renaming_a_product_code_to_a_taken_one_is_duplicate(db):
    # given
    world = await new_world(db)
    other = await new_product(db, world, code="OTHER")
    before = await outbox_count(db, world.org_id)
    # when
    with fails(SharedErrorCode.DUPLICATE):
        async with db.write() as s:
            await update_product(s, world.manager, other.id, other.version,
                                 ProductInput(code="IMPL", set_fields={"code"}))
    # then
    assert (await reload(db, Product, other.id)).code == "OTHER"
    assert await outbox_count(db, world.org_id) == before


@pytest.mark.parametrize(("data", "code"), [
    ({"code": "", "name": "x"}, SharedErrorCode.REQUIRED),
    ({"code": "A", "name": "  "}, SharedErrorCode.REQUIRED),
    ({"code": "A" * 41, "name": "x"}, SharedErrorCode.TOO_LONG),
    ({"code": "A", "name": "x", "currency": "RMB"}, SharedErrorCode.INVALID_CURRENCY),
    ({"code": "A", "name": "x", "default_price": Decimal("-1")}, SharedErrorCode.INVALID_AMOUNT),
    ({"code": "A", "name": "x", "default_price": Decimal("0.00001")}, SharedErrorCode.INVALID_AMOUNT),
    ({"code": "A", "name": "x", "default_price": Decimal("NaN")}, SharedErrorCode.INVALID_AMOUNT),
    ({"code": "A", "name": "x", "default_price": Decimal("1e15")}, SharedErrorCode.INVALID_AMOUNT),
    ({"code": "A", "name": "x", "tax_rate": Decimal("-0.5")}, SalesErrorCode.INVALID_TAX_RATE),
    ({"code": "A", "name": "x", "tax_rate": Decimal("100.01")}, SalesErrorCode.INVALID_TAX_RATE),
    ({"code": "A", "name": "x", "tax_rate": Decimal("6.00001")}, SalesErrorCode.INVALID_TAX_RATE),
    ({"code": "A", "name": "x", "tax_rate": Decimal("Infinity")}, SalesErrorCode.INVALID_TAX_RATE),
])
async def test_bad_product_input_is_refused_with_its_code_and_nothing_is_written(db, data, code):
    # given
    world = await new_world(db)
    before = await outbox_count(db, world.org_id)
    # when
    with fails(code):
        async with db.write() as s:
            await create_product(s, world.manager, ProductInput(**data))
    # then
    assert await count(db, Product, Product.org_id == world.org_id) == 1
    assert await outbox_count(db, world.org_id) == before


async def test_unit_price_may_be_finer_than_the_currency(db):
    # given
    world = await new_world(db)
    # when
    product = await new_product(db, world, default_price=Decimal("0.1255"))
    # then
    assert (await reload(db, Product, product.id)).default_price == Decimal("0.1255")


async def test_all_errors_of_a_product_are_reported_at_once(db):
    # given
    world = await new_world(db)
    # when
    with pytest.raises(ValidationFailed) as info:
        async with db.write() as s:
            await create_product(s, world.manager, ProductInput(code="IMPL", name="", tax_rate=Decimal(101)))
    # then
    assert sorted((e.field, e.code) for e in info.value.errors) == [
        (("code",), SharedErrorCode.DUPLICATE), (("name",), SharedErrorCode.REQUIRED),
        (("taxRate",), SalesErrorCode.INVALID_TAX_RATE)]


async def test_updating_with_a_stale_version_is_a_conflict(db):
    # given a product someone else changed
    world = await new_world(db)
    async with db.write() as s:
        await update_product(s, world.manager, world.product.id, world.product.version,
                             ProductInput(name="实施服务 A", set_fields={"name"}))
    # when
    with pytest.raises(Conflict):
        async with db.write() as s:
            await update_product(s, world.admin, world.product.id, world.product.version,
                                 ProductInput(name="实施服务 B", set_fields={"name"}))
    # then
    stored = await reload(db, Product, world.product.id)
    assert (stored.name, stored.version) == ("实施服务 A", world.product.version + 1)


async def test_update_changes_only_named_fields_and_records_before_and_after(db):
    # given
    world = await new_world(db)
    # when
    async with db.write() as s:
        product = await update_product(s, world.manager, world.product.id, world.product.version,
                                       ProductInput(default_price=Decimal("1200"), name="ignored",
                                                    set_fields={"default_price"}))
    # then
    stored = await reload(db, Product, product.id)
    assert (stored.name, stored.default_price, stored.version) == ("实施服务", Decimal("1200"), 2)
    async with db.read() as s:
        event = await s.scalar(select(OutboxEvent).where(OutboxEvent.org_id == world.org_id,
                                                         OutboxEvent.topic == "product.updated"))
    assert event.payload["changes"] == {"defaultPrice": ["1000.0000", "1200"]}


async def test_clearing_the_price_or_tax_is_required_not_null(db):
    # given
    world = await new_world(db)
    # when
    with pytest.raises(ValidationFailed) as info:
        async with db.write() as s:
            await update_product(s, world.manager, world.product.id, world.product.version,
                                 ProductInput(set_fields={"default_price", "tax_rate"}))
    # then
    assert sorted((e.field, e.code) for e in info.value.errors) == [
        (("defaultPrice",), SharedErrorCode.REQUIRED), (("taxRate",), SharedErrorCode.REQUIRED)]
    assert (await reload(db, Product, world.product.id)).default_price == Decimal("1000")


async def test_product_of_another_org_is_not_found(db):
    # given
    world = await new_world(db)
    other = await new_world(db)
    # when / then
    with pytest.raises(NotFound):
        async with db.write() as s:
            await update_product(s, world.manager, other.product.id, other.product.version,
                                 ProductInput(name="mine", set_fields={"name"}))
    assert (await reload(db, Product, other.product.id)).name == "实施服务"


async def test_price_book_default_price_wins_over_the_products_own(db):
    # given a CNY default book pricing IMPL at 900, a USD book and a product without an entry
    world = await new_world(db)
    extra = await new_product(db, world, default_price=Decimal("50"))
    usd_only = await new_product(db, world, currency="USD", default_price=Decimal("70"))
    async with db.write() as s:
        await create_price_book(s, world.admin, name="标准价", currency="CNY", is_default=True,
                                prices=[PriceInput(world.product.id, Decimal("900"))])
        await create_price_book(s, world.admin, name="US list", currency="USD", is_default=True,
                                prices=[PriceInput(world.product.id, Decimal("140.5"))])
    # when
    async with db.read() as s:
        cny = await list_prices(s, world.org_id, [world.product.id, extra.id, usd_only.id], "CNY")
        usd = await list_prices(s, world.org_id, [world.product.id, extra.id, usd_only.id], "USD")
        jpy = await list_prices(s, world.org_id, [world.product.id, extra.id, usd_only.id], "JPY")
    # then prices are never converted: a currency with neither an entry nor the product's own is absent
    assert cny == {world.product.id: Decimal("900"), extra.id: Decimal("50")}
    assert usd == {world.product.id: Decimal("140.5"), usd_only.id: Decimal("70")}
    assert jpy == {}


async def test_a_non_default_price_book_does_not_price_quotes(db):
    # given
    world = await new_world(db)
    async with db.write() as s:
        await create_price_book(s, world.admin, name="促销", currency="CNY", is_default=False,
                                prices=[PriceInput(world.product.id, Decimal("1"))])
    # when
    async with db.read() as s:
        prices = await list_prices(s, world.org_id, [world.product.id], "CNY")
    # then
    assert prices == {world.product.id: Decimal("1000")}


async def test_a_new_default_book_replaces_the_old_default_of_that_currency_only(db):
    # given
    world = await new_world(db)
    async with db.write() as s:
        old = await create_price_book(s, world.admin, name="2025", currency="CNY", is_default=True,
                                      prices=[PriceInput(world.product.id, Decimal("800"))])
        usd = await create_price_book(s, world.admin, name="USD", currency="USD", is_default=True, prices=[])
    # when
    async with db.write() as s:
        new = await create_price_book(s, world.admin, name="2026", currency="CNY", is_default=True,
                                      prices=[PriceInput(world.product.id, Decimal("950"))])
    # then
    assert [(await reload(db, PriceBook, b.id)).is_default for b in (old, usd, new)] == [False, True, True]
    async with db.read() as s:
        assert await list_prices(s, world.org_id, [world.product.id], "CNY") == {world.product.id: Decimal("950")}


async def test_price_book_refuses_a_product_twice_a_duplicate_name_and_a_bad_price(db):
    # given
    world = await new_world(db)
    async with db.write() as s:
        await create_price_book(s, world.admin, name="标准价", currency="CNY", is_default=False, prices=[])
    before = await outbox_count(db, world.org_id)
    # when
    with pytest.raises(ValidationFailed) as info:
        async with db.write() as s:
            await create_price_book(s, world.admin, name="标准价", currency="CNY", is_default=True, prices=[
                PriceInput(world.product.id, Decimal("900")), PriceInput(world.product.id, Decimal("-1"))])
    # then
    assert sorted((e.field, e.code) for e in info.value.errors) == [
        (("name",), SharedErrorCode.DUPLICATE),
        (("prices", "1", "productId"), SharedErrorCode.DUPLICATE),
        (("prices", "1", "unitPrice"), SharedErrorCode.INVALID_AMOUNT)]
    assert await count(db, PriceBook, PriceBook.org_id == world.org_id) == 1
    assert await count(db, PriceBookEntry, PriceBookEntry.org_id == world.org_id) == 0
    assert await outbox_count(db, world.org_id) == before


async def test_price_book_with_another_orgs_product_is_not_found(db):
    # given
    world = await new_world(db)
    other = await new_world(db)
    # when / then
    with pytest.raises(NotFound):
        async with db.write() as s:
            await create_price_book(s, world.admin, name="x", currency="CNY", is_default=True,
                                    prices=[PriceInput(other.product.id, Decimal("1"))])
    assert await count(db, PriceBook, PriceBook.org_id == world.org_id) == 0
