"""Quotes on the domain services: pricing and rounding, bad input, the discount policy, approval by the
owner's chain, the quote's life (send, accept, decline, revise), each test in an org of its own."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.pipeline.opportunity import Opportunity, OpportunityInput, create_opportunity
from tandem.domain.sales.errors import SalesErrorCode
from tandem.domain.sales.product import PriceInput, ProductInput, create_price_book, update_product
from tandem.domain.sales.quote import (
    LineAmounts,
    Quote,
    QuoteInput,
    QuoteLine,
    QuoteStatus,
    accept_quote,
    approve_quote,
    create_quote,
    decline_quote,
    line_amounts,
    lines_of,
    reject_quote,
    revise_quote,
    send_quote,
    set_discount_threshold,
    submit_quote,
    update_quote,
)
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import Conflict, NotFound, SharedErrorCode, ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent
from tests.conftest import PG_URL
from tests.factories.checks import count, fails, outbox_count, reload, waiting_on_locks
from tests.factories.quote_to_cash import T0, TODAY, World, new_product, new_quote, new_world, quote_line
from tests.factories.waiting import eventually


@pytest.fixture(autouse=True)
def frozen():
    clock.set(T0)
    yield
    clock.set(None)


def discounted(world: World, percent: str, quantity: str = "10") -> list:
    return [quote_line(world.product, quantity=Decimal(quantity), discount_percent=Decimal(percent))]


async def pending(db, world: World, percent: str = "25") -> Quote:
    quote = await new_quote(db, world, *discounted(world, percent))
    async with db.write() as s:
        return await submit_quote(s, world.rep, quote.id, None)


async def approved(db, world: World, percent: str = "25") -> Quote:
    quote = await pending(db, world, percent)
    async with db.write() as s:
        return await approve_quote(s, world.manager, quote.id, None, "同意")


async def state(db, quote: Quote) -> tuple[str, int]:
    stored = await reload(db, Quote, quote.id)
    return stored.status, stored.version


# --- pricing and rounding -----------------------------------------------------------------------


async def test_quote_prices_lines_from_the_product_and_totals_them(db):
    # given
    world = await new_world(db)
    # when 10 days of IMPL at 1,000 with 5 % off, and a free line of 2.5 units at 99.99 with 13 % tax
    quote = await new_quote(db, world, quote_line(world.product, quantity=Decimal("10"), discount_percent=Decimal("5")),
                            quote_line(description="差旅费", unit="次", quantity=Decimal("2.5"),
                                       unit_price=Decimal("99.99"), tax_rate=Decimal("13")))
    # then
    stored = await reload(db, Quote, quote.id)
    assert (stored.number, stored.revision, stored.status, stored.currency) == ("Q-000001", 1, "draft", "CNY")
    assert (stored.gross_total, stored.discount_total, stored.subtotal, stored.tax_total, stored.total) == (
        Decimal("10249.98"), Decimal("500"), Decimal("9749.98"), Decimal("602.50"), Decimal("10352.48"))
    async with db.read() as s:
        first, second = (await lines_of(s, world.rep, [quote.id]))[quote.id]
    assert (first.description, first.unit, first.unit_price, first.tax_rate, first.net, first.tax) == (
        "实施服务", "人天", Decimal("1000"), Decimal("6"), Decimal("9500"), Decimal("570"))
    assert (second.product_id, second.gross, second.tax, second.total) == (
        None, Decimal("249.98"), Decimal("32.50"), Decimal("282.48"))


@pytest.mark.parametrize(("currency", "quantity", "price", "discount", "tax", "expected"), [
    # JPY has no minor unit: 0.5 yen rounds up (half-even would give 100)
    ("JPY", "1", "100.5", "0", "10", LineAmounts(Decimal(101), Decimal(0), Decimal(101), Decimal(10), Decimal(111))),
    ("JPY", "3", "333.5", "10", "6", LineAmounts(Decimal(1001), Decimal(100), Decimal(901), Decimal(54),
                                                 Decimal(955))),
    # KWD has three decimals
    ("KWD", "1", "1.0005", "0", "5", LineAmounts(Decimal("1.001"), Decimal(0), Decimal("1.001"), Decimal("0.050"),
                                                 Decimal("1.051"))),
    ("KWD", "2", "0.3335", "50", "0", LineAmounts(Decimal("0.667"), Decimal("0.334"), Decimal("0.333"), Decimal(0),
                                                  Decimal("0.333"))),
    # CNY has two
    ("CNY", "1", "0.125", "0", "0", LineAmounts(Decimal("0.13"), Decimal(0), Decimal("0.13"), Decimal(0),
                                                Decimal("0.13"))),
    ("CNY", "1", "99.99", "12.5", "13", LineAmounts(Decimal("99.99"), Decimal("12.50"), Decimal("87.49"),
                                                    Decimal("11.37"), Decimal("98.86"))),
])
def test_line_amounts_round_half_up_to_the_currency_at_each_step(currency, quantity, price, discount, tax, expected):
    # when
    amounts = line_amounts(Decimal(quantity), Decimal(price), Decimal(discount), Decimal(tax), currency)
    # then
    assert amounts == expected
    places = {"JPY": 0, "KWD": 3, "CNY": 2}[currency]
    assert {a.as_tuple().exponent for a in (amounts.gross, amounts.discount, amounts.net, amounts.tax,
                                            amounts.total)} == {-places}


@pytest.mark.parametrize(("currency", "price", "total"), [
    ("JPY", "0.5", Decimal("3")),     # each line 1 yen; the sum of the unrounded lines (1.5) would give 2
    ("KWD", "0.0005", Decimal("0.003")),
    ("CNY", "0.125", Decimal("0.39")),  # 3 × 0.13, not round(0.375) = 0.38
])
async def test_quote_total_is_the_sum_of_rounded_lines_in_its_currency(db, currency, price, total):
    # given
    world = await new_world(db)
    lines = [quote_line(description=f"项 {n}", unit_price=Decimal(price)) for n in range(3)]
    # when
    quote = await new_quote(db, world, *lines, currency=currency)
    # then
    stored = await reload(db, Quote, quote.id)
    assert (stored.currency, stored.subtotal, stored.total) == (currency, total, total)


async def test_a_price_book_prices_a_quote_in_its_currency(db):
    # given a default KWD price book
    world = await new_world(db)
    async with db.write() as s:
        await create_price_book(s, world.admin, name="Kuwait", currency="KWD", is_default=True,
                                prices=[PriceInput(world.product.id, Decimal("45.1235"))])
    # when
    quote = await new_quote(db, world, quote_line(world.product, quantity=Decimal("3")), currency="kwd")
    # then 135.3705 rounds half-up to 135.371, plus 6 % tax 8.12226 → 8.122
    assert (quote.currency, quote.subtotal, quote.tax_total, quote.total) == (
        "KWD", Decimal("135.371"), Decimal("8.122"), Decimal("143.493"))


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "field", "code"), [
    ({"quantity": None}, "quantity", SharedErrorCode.REQUIRED),
    ({"quantity": Decimal("0")}, "quantity", SharedErrorCode.INVALID_QUANTITY),
    ({"quantity": Decimal("-1")}, "quantity", SharedErrorCode.INVALID_QUANTITY),
    ({"quantity": Decimal("1.00001")}, "quantity", SharedErrorCode.INVALID_QUANTITY),
    ({"quantity": Decimal("NaN")}, "quantity", SharedErrorCode.INVALID_QUANTITY),
    ({"quantity": Decimal("Infinity")}, "quantity", SharedErrorCode.INVALID_QUANTITY),
    ({"quantity": Decimal("1000000001")}, "quantity", SharedErrorCode.INVALID_QUANTITY),
    ({"discount_percent": Decimal("-0.01")}, "discountPercent", SalesErrorCode.INVALID_DISCOUNT),
    ({"discount_percent": Decimal("100.01")}, "discountPercent", SalesErrorCode.INVALID_DISCOUNT),
    ({"discount_percent": Decimal("5.00001")}, "discountPercent", SalesErrorCode.INVALID_DISCOUNT),
    ({"discount_percent": Decimal("NaN")}, "discountPercent", SalesErrorCode.INVALID_DISCOUNT),
    ({"tax_rate": Decimal("-1")}, "taxRate", SalesErrorCode.INVALID_TAX_RATE),
    ({"tax_rate": Decimal("101")}, "taxRate", SalesErrorCode.INVALID_TAX_RATE),
    ({"unit_price": Decimal("-0.01")}, "unitPrice", SharedErrorCode.INVALID_AMOUNT),
    ({"unit_price": Decimal("0.00001")}, "unitPrice", SharedErrorCode.INVALID_AMOUNT),
    ({"description": " "}, "description", SharedErrorCode.REQUIRED),
    ({"description": "x" * 501}, "description", SharedErrorCode.TOO_LONG),
    ({"quantity": Decimal("1000000000"), "unit_price": Decimal("1000000")}, "quantity",
     SharedErrorCode.INVALID_AMOUNT),
])
async def test_bad_quote_line_is_refused_with_its_code_and_nothing_is_written(db, overrides, field, code):
    # given a good first line and a bad second one
    world = await new_world(db)
    before = await outbox_count(db, world.org_id)
    # when
    with pytest.raises(ValidationFailed) as info:
        await new_quote(db, world, quote_line(world.product), quote_line(world.product, **overrides))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("lines", "1", field), code)]
    assert await count(db, Quote, Quote.org_id == world.org_id) == 0
    assert await count(db, QuoteLine, QuoteLine.org_id == world.org_id) == 0
    assert await outbox_count(db, world.org_id) == before
    # and the quote number was not used up
    assert (await new_quote(db, world)).number == "Q-000001"


async def test_quote_without_lines_is_required(db):
    # given
    world = await new_world(db)
    # when
    with pytest.raises(ValidationFailed) as info:
        async with db.write() as s:
            await create_quote(s, world.rep, QuoteInput(opportunity_id=world.opportunity.id, lines=[]))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("lines",), SharedErrorCode.REQUIRED)]
    assert await count(db, Quote, Quote.org_id == world.org_id) == 0


async def test_free_line_without_a_price_is_required(db):
    # given
    world = await new_world(db)
    # when
    with pytest.raises(ValidationFailed) as info:
        await new_quote(db, world, quote_line(description="额外服务"))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("lines", "0", "unitPrice"), SharedErrorCode.REQUIRED)]


async def test_every_bad_line_is_reported_at_once(db):
    # given
    world = await new_world(db)
    # when
    with pytest.raises(ValidationFailed) as info:
        await new_quote(db, world, quote_line(world.product, quantity=Decimal(0)), quote_line(world.product),
                        quote_line(world.product, discount_percent=Decimal(101), tax_rate=Decimal(-1)))
    # then
    assert sorted((e.field, e.code) for e in info.value.errors) == [
        (("lines", "0", "quantity"), SharedErrorCode.INVALID_QUANTITY),
        (("lines", "2", "discountPercent"), SalesErrorCode.INVALID_DISCOUNT),
        (("lines", "2", "taxRate"), SalesErrorCode.INVALID_TAX_RATE)]


async def test_inactive_product_on_a_quote_line_is_refused(db):
    # given IMPL deactivated, and a quote made before
    world = await new_world(db)
    old = await new_quote(db, world)
    async with db.write() as s:
        await update_product(s, world.manager, world.product.id, world.product.version,
                             ProductInput(active=False, set_fields={"active"}))
    before = await outbox_count(db, world.org_id)
    # when
    with pytest.raises(ValidationFailed) as info:
        await new_quote(db, world, quote_line(world.product))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("lines", "0", "productId"),
                                                               SalesErrorCode.PRODUCT_INACTIVE)]
    assert await count(db, Quote, Quote.org_id == world.org_id) == 1
    assert await outbox_count(db, world.org_id) == before
    # and the old quote keeps its line
    async with db.read() as s:
        [kept] = (await lines_of(s, world.rep, [old.id]))[old.id]
    assert kept.product_id == world.product.id


async def test_inactive_product_cannot_be_added_by_editing_a_draft(db):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world, quote_line(description="咨询", unit_price=Decimal("100")))
    retired = await new_product(db, world, active=False)
    # when
    with fails(SalesErrorCode.PRODUCT_INACTIVE):
        async with db.write() as s:
            await update_quote(s, world.rep, quote.id, quote.version,
                               QuoteInput(lines=[quote_line(retired)], set_fields={"lines"}))
    # then
    assert await state(db, quote) == ("draft", quote.version)


async def test_product_without_a_price_in_the_quote_currency_is_no_price(db):
    # given IMPL is priced in CNY only
    world = await new_world(db)
    before = await outbox_count(db, world.org_id)
    # when the quote is in USD
    with pytest.raises(ValidationFailed) as info:
        await new_quote(db, world, quote_line(world.product), currency="USD")
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("lines", "0", "unitPrice"), SalesErrorCode.NO_PRICE)]
    assert await count(db, Quote, Quote.org_id == world.org_id) == 0
    assert await outbox_count(db, world.org_id) == before


async def test_product_without_a_list_price_may_be_quoted_at_a_given_price(db):
    # given
    world = await new_world(db)
    # when
    quote = await new_quote(db, world, quote_line(world.product, unit_price=Decimal("150")), currency="USD")
    # then the product's tax rate still applies
    assert (quote.currency, quote.subtotal, quote.tax_total) == ("USD", Decimal("150"), Decimal("9"))


async def test_product_of_another_org_on_a_line_is_not_found(db):
    # given
    world = await new_world(db)
    other = await new_world(db)
    # when / then
    with pytest.raises(NotFound):
        await new_quote(db, world, quote_line(other.product))
    assert await count(db, Quote, Quote.org_id == world.org_id) == 0


@pytest.mark.parametrize(("overrides", "field", "code"), [
    ({"currency": "XYZ"}, "currency", SharedErrorCode.INVALID_CURRENCY),
    ({"valid_until": TODAY - timedelta(days=1)}, "validUntil", SharedErrorCode.INVALID_DATE_RANGE),
    ({"title": "x" * 201}, "title", SharedErrorCode.TOO_LONG),
])
async def test_bad_quote_header_is_refused(db, overrides, field, code):
    # given
    world = await new_world(db)
    # when
    with pytest.raises(ValidationFailed) as info:
        await new_quote(db, world, quote_line(description="咨询", unit_price=Decimal("1")), **overrides)
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [((field,), code)]
    assert await count(db, Quote, Quote.org_id == world.org_id) == 0


# --- discount policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(("percent", "needs"), [("10", False), ("10.0001", True), ("0", False), ("100", True)])
async def test_default_threshold_is_ten_percent(db, percent, needs):
    # given
    world = await new_world(db)
    # when
    quote = await new_quote(db, world, *discounted(world, percent))
    # then
    assert (quote.max_discount_percent, quote.needs_approval) == (Decimal(percent), needs)


async def test_org_default_threshold_applies_to_roles_without_their_own(db):
    # given an org default of 5 %
    world = await new_world(db)
    async with db.write() as s:
        await set_discount_threshold(s, world.admin, role="*", max_discount_percent=Decimal("5"))
    # when
    within = await new_quote(db, world, *discounted(world, "5"))
    above = await new_quote(db, world, *discounted(world, "6"))
    # then
    assert (within.needs_approval, above.needs_approval) == (False, True)


async def test_role_threshold_overrides_the_org_default(db):
    # given reps may give 15 %, everyone else 5 %
    world = await new_world(db)
    async with db.write() as s:
        await set_discount_threshold(s, world.admin, role="*", max_discount_percent=Decimal("5"))
        await set_discount_threshold(s, world.admin, role="sales_rep", max_discount_percent=Decimal("15"))
    # when
    within = await new_quote(db, world, *discounted(world, "15"))
    above = await new_quote(db, world, *discounted(world, "15.5"))
    # then
    assert (within.needs_approval, above.needs_approval) == (False, True)


async def test_threshold_follows_the_opportunity_owner_not_the_author(db):
    # given managers may give 30 %, reps the default 10 %
    world = await new_world(db)
    async with db.write() as s:
        await set_discount_threshold(s, world.admin, role="sales_manager", max_discount_percent=Decimal("30"))
    # when the manager quotes 20 % on the rep's opportunity
    quote = await new_quote(db, world, *discounted(world, "20"), by=world.manager)
    # then the rep's threshold decides
    assert (quote.owner_id, quote.created_by_id, quote.needs_approval) == (world.rep.user_id, world.manager.user_id,
                                                                           True)


async def test_editing_lines_recomputes_the_need_for_approval(db):
    # given a quote within policy
    world = await new_world(db)
    quote = await new_quote(db, world, *discounted(world, "5"))
    # when its discount is raised
    async with db.write() as s:
        quote = await update_quote(s, world.rep, quote.id, quote.version,
                                   QuoteInput(lines=discounted(world, "12"), set_fields={"lines"}))
    # then
    stored = await reload(db, Quote, quote.id)
    assert (stored.needs_approval, stored.max_discount_percent, stored.subtotal) == (
        True, Decimal("12"), Decimal("8800"))
    assert await count(db, QuoteLine, QuoteLine.quote_id == quote.id) == 1


@pytest.mark.parametrize(("role", "percent", "field", "code"), [
    ("wizard", "5", "role", SharedErrorCode.INVALID),
    ("sales_rep", "100.5", "maxDiscountPercent", SalesErrorCode.INVALID_DISCOUNT),
    ("sales_rep", "-1", "maxDiscountPercent", SalesErrorCode.INVALID_DISCOUNT),
])
async def test_bad_threshold_is_refused(db, role, percent, field, code):
    # given
    world = await new_world(db)
    before = await outbox_count(db, world.org_id)
    # when
    with pytest.raises(ValidationFailed) as info:
        async with db.write() as s:
            await set_discount_threshold(s, world.admin, role=role, max_discount_percent=Decimal(percent))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [((field,), code)]
    assert await outbox_count(db, world.org_id) == before


async def test_discount_above_policy_cannot_be_sent_or_accepted_before_approval(db):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world, *discounted(world, "25"))
    before = await outbox_count(db, world.org_id)
    # when / then
    for act in (send_quote, accept_quote):
        with fails(SalesErrorCode.DISCOUNT_NEEDS_APPROVAL):
            async with db.write() as s:
                await act(s, world.rep, quote.id, None)
    assert await state(db, quote) == ("draft", quote.version)
    assert await outbox_count(db, world.org_id) == before


async def test_discount_within_policy_may_be_sent_without_approval(db):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world, *discounted(world, "10"))
    # when
    async with db.write() as s:
        await send_quote(s, world.rep, quote.id, quote.version)
    # then
    stored = await reload(db, Quote, quote.id)
    assert (stored.status, stored.sent_at) == ("sent", T0)


# --- approval -----------------------------------------------------------------------------------


async def test_submitting_tells_the_owners_manager(db):
    # given
    world = await new_world(db)
    # when
    quote = await pending(db, world)
    # then
    async with db.read() as s:
        event = await s.scalar(select(OutboxEvent).where(OutboxEvent.org_id == world.org_id,
                                                         OutboxEvent.topic == "quote.submitted"))
    assert (event.record_id, event.audience, event.also_type, event.also_id) == (
        quote.id, [world.manager.user_id], "Opportunity", world.opportunity.id)


@pytest.mark.parametrize("who", ["manager", "vp", "admin"])
async def test_someone_above_the_owner_or_an_admin_may_approve(db, who):
    # given
    world = await new_world(db)
    quote = await pending(db, world)
    approver = getattr(world, who)
    # when
    async with db.write() as s:
        await approve_quote(s, approver, quote.id, quote.version, "战略客户")
    # then
    stored = await reload(db, Quote, quote.id)
    assert (stored.status, stored.decided_by_id, stored.decided_at, stored.decision_comment) == (
        "approved", approver.user_id, T0, "战略客户")


@pytest.mark.parametrize(("who", "code"), [
    ("peer", SalesErrorCode.NOT_APPROVER),
    ("other_manager", SalesErrorCode.NOT_APPROVER),
    ("finance", SalesErrorCode.NOT_APPROVER),
    ("rep", SharedErrorCode.SELF_APPROVAL),
])
async def test_approval_by_anyone_else_is_refused_and_nothing_is_written(db, who, code):
    # given
    world = await new_world(db)
    quote = await pending(db, world)
    before = await outbox_count(db, world.org_id)
    # when / then
    for act in (approve_quote, reject_quote):
        with fails(code):
            async with db.write() as s:
                await act(s, getattr(world, who), quote.id, None, "理由")
    assert await state(db, quote) == ("pending_approval", quote.version)
    assert await outbox_count(db, world.org_id) == before


async def test_a_manager_who_wrote_the_quote_cannot_approve_it(db):
    # given the manager quoted on the rep's opportunity
    world = await new_world(db)
    quote = await new_quote(db, world, *discounted(world, "30"), by=world.manager)
    async with db.write() as s:
        await submit_quote(s, world.manager, quote.id, None)
    # when / then
    with fails(SharedErrorCode.SELF_APPROVAL):
        async with db.write() as s:
            await approve_quote(s, world.manager, quote.id, None, None)
    # and the vp may
    async with db.write() as s:
        assert (await approve_quote(s, world.vp, quote.id, None, None)).status == "approved"


async def test_an_admin_who_owns_the_quote_cannot_approve_it(db):
    # given an admin's own opportunity
    world = await new_world(db)
    async with db.write() as s:
        opp = await create_opportunity(s, world.admin, OpportunityInput(customer_id=world.customer.id, name="自营"))
    quote = await new_quote(db, world, *discounted(world, "100"), by=world.admin, opportunity_id=opp.id)
    # then an admin's own threshold is 100 %
    assert quote.needs_approval is False
    async with db.write() as s:
        await submit_quote(s, world.admin, quote.id, None)
    # when / then
    with fails(SharedErrorCode.SELF_APPROVAL):
        async with db.write() as s:
            await approve_quote(s, world.admin, quote.id, None, None)


async def test_a_draft_cannot_be_approved(db):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world, *discounted(world, "25"))
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await approve_quote(s, world.manager, quote.id, None, None)
    assert await state(db, quote) == ("draft", quote.version)


@pytest.mark.parametrize("comment", [None, "", "   "])
async def test_rejection_needs_a_reason(db, comment):
    # given
    world = await new_world(db)
    quote = await pending(db, world)
    # when / then
    with fails(SharedErrorCode.REASON_REQUIRED):
        async with db.write() as s:
            await reject_quote(s, world.manager, quote.id, None, comment)
    assert await state(db, quote) == ("pending_approval", quote.version)


async def test_a_rejected_quote_is_edited_back_to_draft_and_resubmitted(db):
    # given
    world = await new_world(db)
    quote = await pending(db, world)
    async with db.write() as s:
        quote = await reject_quote(s, world.manager, quote.id, None, "折扣太大")
    assert (quote.status, quote.decision_comment) == ("rejected", "折扣太大")
    # when the rep lowers the discount
    async with db.write() as s:
        quote = await update_quote(s, world.rep, quote.id, quote.version,
                                   QuoteInput(lines=discounted(world, "8"), set_fields={"lines"}))
    # then it is a draft within policy again, which may go straight to the customer
    assert (quote.status, quote.needs_approval) == ("draft", False)
    async with db.write() as s:
        assert (await send_quote(s, world.rep, quote.id, None)).status == "sent"


async def test_resubmitting_clears_the_last_decision(db):
    # given
    world = await new_world(db)
    quote = await pending(db, world)
    async with db.write() as s:
        await reject_quote(s, world.manager, quote.id, None, "再议")
    # when
    async with db.write() as s:
        quote = await submit_quote(s, world.rep, quote.id, None)
    # then
    assert (quote.status, quote.decided_by_id, quote.decided_at, quote.decision_comment) == (
        "pending_approval", None, None, None)


# --- locked, stale, revised -----------------------------------------------------------------------


@pytest.mark.parametrize("reach", ["pending", "approved", "sent", "accepted"])
async def test_a_quote_past_draft_is_locked_and_nothing_is_written(db, reach):
    # given
    world = await new_world(db)
    quote = await pending(db, world) if reach == "pending" else await approved(db, world)
    if reach in ("sent", "accepted"):
        async with db.write() as s:
            quote = await (send_quote if reach == "sent" else accept_quote)(s, world.rep, quote.id, None)
    before = await outbox_count(db, world.org_id)
    status, version = await state(db, quote)
    # when
    with fails(SalesErrorCode.QUOTE_LOCKED):
        async with db.write() as s:
            await update_quote(s, world.rep, quote.id, version, QuoteInput(title="改价", lines=discounted(world, "0"),
                                                                           set_fields={"title", "lines"}))
    # then
    stored = await reload(db, Quote, quote.id)
    assert (stored.status, stored.version, stored.title, stored.subtotal) == (
        status, version, "ERP 实施", Decimal("7500"))
    assert await count(db, QuoteLine, QuoteLine.quote_id == quote.id) == 1
    assert await outbox_count(db, world.org_id) == before


async def test_editing_with_a_stale_version_is_a_conflict(db):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world)
    async with db.write() as s:
        await update_quote(s, world.rep, quote.id, quote.version, QuoteInput(title="第一版", set_fields={"title"}))
    # when / then
    with pytest.raises(Conflict):
        async with db.write() as s:
            await update_quote(s, world.manager, quote.id, quote.version,
                               QuoteInput(title="第二版", set_fields={"title"}))
    assert (await reload(db, Quote, quote.id)).title == "第一版"


async def test_changing_the_currency_without_lines_is_a_mismatch(db):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world)
    # when / then
    with fails(SharedErrorCode.CURRENCY_MISMATCH):
        async with db.write() as s:
            await update_quote(s, world.rep, quote.id, quote.version,
                               QuoteInput(currency="USD", set_fields={"currency"}))
    assert (await reload(db, Quote, quote.id)).currency == "CNY"


async def test_revising_makes_the_next_revision_with_the_same_number_and_supersedes(db):
    # given an approved quote
    world = await new_world(db)
    old = await approved(db, world)
    # when
    async with db.write() as s:
        new = await revise_quote(s, world.rep, old.id, None)
    # then
    previous = await reload(db, Quote, old.id)
    stored = await reload(db, Quote, new.id)
    assert (previous.status, stored.status) == ("superseded", "draft")
    assert (stored.number, stored.revision, stored.previous_id) == (old.number, 2, old.id)
    assert (stored.total, stored.needs_approval, stored.decided_by_id) == (old.total, True, None)
    async with db.read() as s:
        lines = await lines_of(s, world.rep, [old.id, new.id])
    assert [(x.product_id, x.quantity, x.discount_percent, x.total) for x in lines[new.id]] == [
        (x.product_id, x.quantity, x.discount_percent, x.total) for x in lines[old.id]]
    # and the approval does not carry over to the new revision
    with fails(SalesErrorCode.DISCOUNT_NEEDS_APPROVAL):
        async with db.write() as s:
            await send_quote(s, world.rep, new.id, None)


async def test_revising_again_counts_on_from_the_latest_revision(db):
    # given revision 2, sent
    world = await new_world(db)
    first = await new_quote(db, world)
    async with db.write() as s:
        await send_quote(s, world.rep, first.id, None)
    async with db.write() as s:
        second = await revise_quote(s, world.rep, first.id, None)
    async with db.write() as s:
        await send_quote(s, world.rep, second.id, None)
    # when
    async with db.write() as s:
        third = await revise_quote(s, world.rep, second.id, None)
    # then
    assert [(q.number, q.revision) for q in (first, second, third)] == [("Q-000001", 1), ("Q-000001", 2),
                                                                         ("Q-000001", 3)]


@pytest.mark.parametrize("reach", ["draft", "pending", "superseded"])
async def test_only_a_decided_or_sent_quote_can_be_revised(db, reach):
    # given
    world = await new_world(db)
    quote = await (pending(db, world) if reach == "pending" else new_quote(db, world))
    if reach == "superseded":
        async with db.write() as s:
            await send_quote(s, world.rep, quote.id, None)
        async with db.write() as s:
            await revise_quote(s, world.rep, quote.id, None)
    before = await count(db, Quote, Quote.org_id == world.org_id)
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await revise_quote(s, world.rep, quote.id, None)
    assert await count(db, Quote, Quote.org_id == world.org_id) == before


# --- accept, decline, expire ----------------------------------------------------------------------


async def test_accepting_supersedes_the_other_open_quotes_and_sets_the_opportunity_amount(db):
    # given a draft, a sent and a declined quote on one opportunity
    world = await new_world(db)
    chosen = await new_quote(db, world,
                             quote_line(world.product, quantity=Decimal("12"), discount_percent=Decimal("2.5")))
    sent = await new_quote(db, world)
    declined = await new_quote(db, world)
    async with db.write() as s:
        await send_quote(s, world.rep, sent.id, None)
        await send_quote(s, world.rep, declined.id, None)
    async with db.write() as s:
        await decline_quote(s, world.rep, declined.id, None, "预算不足")
    # when
    async with db.write() as s:
        await accept_quote(s, world.rep, chosen.id, chosen.version)
    # then
    assert [(await reload(db, Quote, q.id)).status for q in (chosen, sent, declined)] == [
        "accepted", "superseded", "declined"]
    opportunity = await reload(db, Opportunity, world.opportunity.id)
    assert (opportunity.amount, opportunity.currency) == (Decimal("12402.00"), "CNY")
    async with db.read() as s:
        event = await s.scalar(select(OutboxEvent).where(OutboxEvent.org_id == world.org_id,
                                                         OutboxEvent.topic == "opportunity.updated"))
    assert event.payload["changes"] == {"amount": ["50000.00", "12402.00"]}


async def test_accepting_a_quote_in_another_currency_moves_the_opportunity_to_it(db):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world, quote_line(world.product, unit_price=Decimal("200")), currency="USD")
    # when
    async with db.write() as s:
        await accept_quote(s, world.rep, quote.id, None)
    # then
    opportunity = await reload(db, Opportunity, world.opportunity.id)
    assert (opportunity.amount, opportunity.currency) == (Decimal("212"), "USD")


async def test_accepting_a_quote_twice_is_already_accepted(db):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world)
    async with db.write() as s:
        quote = await accept_quote(s, world.rep, quote.id, None)
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(SalesErrorCode.ALREADY_ACCEPTED):
        async with db.write() as s:
            await accept_quote(s, world.rep, quote.id, None)
    assert await state(db, quote) == ("accepted", quote.version)
    assert await outbox_count(db, world.org_id) == before


async def test_a_second_quote_cannot_be_accepted_on_the_same_opportunity(db):
    # given an accepted quote, then a new one on the same opportunity
    world = await new_world(db)
    first = await new_quote(db, world)
    async with db.write() as s:
        await accept_quote(s, world.rep, first.id, None)
    late = await new_quote(db, world, quote_line(world.product, quantity=Decimal("99")))
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(SalesErrorCode.ALREADY_ACCEPTED):
        async with db.write() as s:
            await accept_quote(s, world.rep, late.id, None)
    assert await state(db, late) == ("draft", late.version)
    assert (await reload(db, Opportunity, world.opportunity.id)).amount == first.total
    assert await outbox_count(db, world.org_id) == before


async def test_a_quote_superseded_by_the_accepted_one_is_already_accepted(db):
    # given two quotes, one accepted (which superseded the other)
    world = await new_world(db)
    chosen = await new_quote(db, world)
    other = await new_quote(db, world)
    async with db.write() as s:
        await accept_quote(s, world.rep, chosen.id, None)
    # when / then
    with fails(SalesErrorCode.ALREADY_ACCEPTED):
        async with db.write() as s:
            await accept_quote(s, world.rep, other.id, None)
    assert [(await reload(db, Quote, q.id)).status for q in (chosen, other)] == ["accepted", "superseded"]


@pytest.mark.skipif(not PG_URL, reason="needs concurrent write transactions (PostgreSQL); SQLite has one writer")
async def test_two_racing_accepts_on_one_opportunity_end_in_one_accepted_quote(db):
    # given two quotes of one opportunity, and both accepts arriving while the opportunity is busy
    world = await new_world(db)
    first = await new_quote(db, world)
    second = await new_quote(db, world, quote_line(world.product, quantity=Decimal("20")))

    async def accept(quote: Quote) -> Quote:
        async with db.write() as s:
            return await accept_quote(s, world.rep, quote.id, None)

    async with db.write() as s:
        await s.scalar(select(Opportunity).where(Opportunity.id == world.opportunity.id).with_for_update())
        racing = [asyncio.create_task(accept(q)) for q in (first, second)]
        await eventually(lambda: waiting_on_locks(db, 2), what="both accepts to wait on the opportunity's lock")
    # when the opportunity is free again
    results = await asyncio.gather(*racing, return_exceptions=True)
    # then one quote is accepted and the other is told so: no deadlock, no internal error
    accepted = [r for r in results if isinstance(r, Quote)]
    refused = [r for r in results if not isinstance(r, Quote)]
    assert len(accepted) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], ValidationFailed)
    assert [e.code for e in refused[0].errors] == [SalesErrorCode.ALREADY_ACCEPTED]
    statuses = sorted([(await reload(db, Quote, q.id)).status for q in (first, second)])
    assert statuses == ["accepted", "superseded"]
    assert (await reload(db, Opportunity, world.opportunity.id)).amount == accepted[0].total


@pytest.mark.parametrize("reach", ["pending", "rejected", "declined"])
async def test_a_quote_not_released_cannot_be_accepted(db, reach):
    # given
    world = await new_world(db)
    quote = await pending(db, world)
    if reach == "rejected":
        async with db.write() as s:
            await reject_quote(s, world.manager, quote.id, None, "不行")
    if reach == "declined":
        async with db.write() as s:
            await approve_quote(s, world.manager, quote.id, None, None)
        async with db.write() as s:
            await decline_quote(s, world.rep, quote.id, None, None)
    status, version = await state(db, quote)
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await accept_quote(s, world.rep, quote.id, None)
    assert await state(db, quote) == (status, version)


async def test_a_draft_cannot_be_declined(db):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world)
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await decline_quote(s, world.rep, quote.id, None, "no")
    assert await state(db, quote) == ("draft", quote.version)


async def test_a_quote_is_valid_through_its_last_day_and_expired_after(db):
    # given a quote valid 5 days
    world = await new_world(db)
    quote = await new_quote(db, world, valid_until=TODAY + timedelta(days=5))
    other = await new_quote(db, world, valid_until=TODAY + timedelta(days=5))
    # when on day 6
    clock.set(T0 + timedelta(days=6))
    before = await outbox_count(db, world.org_id)
    for act in (send_quote, accept_quote):
        with fails(SalesErrorCode.QUOTE_EXPIRED):
            async with db.write() as s:
                await act(s, world.rep, quote.id, None)
    # then
    assert await state(db, quote) == ("draft", quote.version)
    assert await outbox_count(db, world.org_id) == before
    # and on its last day it could still be accepted
    clock.set(T0 + timedelta(days=5))
    async with db.write() as s:
        assert (await accept_quote(s, world.rep, other.id, None)).status == "accepted"


async def test_a_sent_quote_that_expired_is_revised_to_a_new_open_one(db):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world, valid_until=TODAY)
    async with db.write() as s:
        await send_quote(s, world.rep, quote.id, None)
    clock.set(T0 + timedelta(days=1))
    # when
    async with db.write() as s:
        new = await revise_quote(s, world.rep, quote.id, None)
    # then
    assert (new.valid_until, new.revision) == (None, 2)
    async with db.write() as s:
        assert (await accept_quote(s, world.rep, new.id, None)).status == QuoteStatus.ACCEPTED


async def test_quote_events_carry_amounts_at_the_currency_precision(db):
    # given a JPY quote created, then (read back from the database) sent
    world = await new_world(db)
    quote = await new_quote(db, world, quote_line(description="许可", unit_price=Decimal("100.5")), currency="JPY")
    async with db.write() as s:
        await send_quote(s, world.rep, quote.id, None)
    # when
    async with db.read() as s:
        payloads = list(await s.scalars(select(OutboxEvent.payload).where(
            OutboxEvent.org_id == world.org_id, OutboxEvent.record_type == "Quote").order_by(OutboxEvent.id)))
    # then both events show the same figures, whole yen
    assert [(p["status"], p["subtotal"], p["total"]) for p in payloads] == [("draft", "101", "101"),
                                                                            ("sent", "101", "101")]
