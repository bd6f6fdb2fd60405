"""Payments on the domain services: recording, allocation by hand and oldest-first, other currencies,
over-payment, unmatched payments and reversal; each test in an org of its own."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.billing.errors import BillingErrorCode
from tandem.domain.billing.invoice import Invoice, InvoiceLineInput, create_invoice, issue_credit_note, void_invoice
from tandem.domain.billing.payment import (
    AllocationInput,
    Payment,
    PaymentAllocation,
    PaymentFilter,
    PaymentMethod,
    allocate_payment,
    list_payments,
    match_payment,
    record_payment,
    reverse_allocation,
)
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import SharedErrorCode, ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.shared.pagination import PageRequest
from tests.factories.checks import count, fails, outbox_count, reload
from tests.factories.quote_to_cash import T0, TODAY, World, billed, days_ago, new_world


@pytest.fixture(autouse=True)
def frozen():
    clock.set(T0)
    yield
    clock.set(None)


async def received(db, world: World, amount: str, *, currency: str | None = None, customer: bool = True,
                   on: date | None = None, payer: str | None = None) -> Payment:
    async with db.write() as s:
        return await record_payment(s, world.finance, customer_id=world.customer.id if customer else None,
                                    payer_name=payer, amount=Decimal(amount), currency=currency, received_on=on,
                                    method=PaymentMethod.BANK_TRANSFER, reference="BANK-1", notes=None)


async def allocate(db, world: World, payment: Payment, *items: AllocationInput, automatic: bool = False):
    async with db.write() as s:
        return await allocate_payment(s, world.finance, payment.id, list(items) or None, automatic=automatic)


def allocation_to(invoice: Invoice, amount: str | None = None, rate: str | None = None) -> AllocationInput:
    return AllocationInput(invoice_id=invoice.id, amount=Decimal(amount) if amount else None,
                           exchange_rate=Decimal(rate) if rate else None)


async def one_invoice(db, world: World, amount: str = "5000", currency: str | None = None) -> Invoice:
    [invoice] = await billed(db, world, (Decimal(amount), days_ago(10), TODAY + timedelta(days=20)), currency=currency)
    return invoice


async def money(db, invoice: Invoice, payment: Payment) -> tuple:
    i = await reload(db, Invoice, invoice.id)
    p = await reload(db, Payment, payment.id)
    return i.status, i.amount_paid, i.outstanding, p.allocated, p.unallocated


async def unmatched(db, world: World) -> list[int]:
    async with db.read() as s:
        page = await list_payments(s, world.finance, PaymentFilter(unmatched=True), PageRequest(first=50))
    return [p.id for p in page.items]


# --- recording ---------------------------------------------------------------------------------------


async def test_a_payment_takes_the_customers_name_currency_and_today(db):
    # given
    world = await new_world(db)
    # when
    payment = await received(db, world, "1000")
    # then
    stored = await reload(db, Payment, payment.id)
    assert (stored.payer_name, stored.currency, stored.received_on, stored.method, stored.amount,
            stored.allocated, stored.unallocated) == (world.customer.name, "CNY", TODAY, "bank_transfer",
                                                      Decimal("1000"), Decimal(0), Decimal("1000"))
    assert await outbox_count(db, world.org_id, "payment.recorded") == 1


@pytest.mark.parametrize(("kw", "field", "code"), [
    ({"amount": None}, "amount", SharedErrorCode.REQUIRED),
    ({"amount": Decimal(0)}, "amount", SharedErrorCode.INVALID_AMOUNT),
    ({"amount": Decimal(-100)}, "amount", SharedErrorCode.INVALID_AMOUNT),
    ({"amount": Decimal("10.001")}, "amount", SharedErrorCode.INVALID_AMOUNT),
    ({"amount": Decimal("10.5"), "currency": "JPY"}, "amount", SharedErrorCode.INVALID_AMOUNT),
    ({"currency": "YUAN"}, "currency", SharedErrorCode.INVALID_CURRENCY),
    ({"received_on": TODAY + timedelta(days=1)}, "receivedOn", SharedErrorCode.INVALID_DATE_RANGE),
    ({"customer_id": None}, "payerName", SharedErrorCode.REQUIRED),
    ({"reference": "x" * 201}, "reference", SharedErrorCode.TOO_LONG),
])
async def test_bad_payment_is_refused_with_its_code_and_nothing_is_written(db, kw, field, code):
    # given
    world = await new_world(db)
    before = await outbox_count(db, world.org_id)
    args = {"customer_id": world.customer.id, "payer_name": None, "amount": Decimal("100"), "currency": None,
            "received_on": None, "method": None, "reference": None, "notes": None, **kw}
    # when
    with pytest.raises(ValidationFailed) as info:
        async with db.write() as s:
            await record_payment(s, world.finance, **args)
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [((field,), code)]
    assert await count(db, Payment, Payment.org_id == world.org_id) == 0
    assert await outbox_count(db, world.org_id) == before


# --- allocation by hand ---------------------------------------------------------------------------------


async def test_a_partial_allocation_leaves_the_invoice_partially_paid(db):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "2000")
    # when
    [allocation] = await allocate(db, world, payment, allocation_to(invoice, "1500.50"))
    # then
    assert await money(db, invoice, payment) == (
        "partially_paid", Decimal("1500.50"), Decimal("3499.50"), Decimal("1500.50"), Decimal("499.50"))
    stored = await reload(db, PaymentAllocation, allocation.id)
    assert (stored.amount, stored.payment_amount, stored.exchange_rate, stored.created_by_id) == (
        Decimal("1500.50"), Decimal("1500.50"), None, world.finance.user_id)
    assert (await reload(db, Invoice, invoice.id)).paid_on is None


async def test_paying_in_full_marks_the_invoice_paid_on_the_day_the_money_came(db):
    # given a payment received three days ago
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "5000", on=days_ago(3))
    # when, with no amount named
    await allocate(db, world, payment, allocation_to(invoice))
    # then
    stored = await reload(db, Invoice, invoice.id)
    assert (stored.status, stored.paid_on, stored.outstanding) == ("paid", days_ago(3), Decimal(0))


@pytest.mark.parametrize("kind", ["void", "draft", "credit_note"])
async def test_paying_an_invoice_not_open_is_refused_and_nothing_is_written(db, kind):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    async with db.write() as s:
        if kind == "void":
            await void_invoice(s, world.finance, invoice.id, reason="作废")
        elif kind == "draft":
            invoice = await create_invoice(s, world.finance, customer_id=world.customer.id, contract_id=None,
                                           currency=None, notes=None, lines=[InvoiceLineInput(description="x",
                                                                                              unit_price=Decimal(100))])
        else:
            invoice = await issue_credit_note(s, world.finance, invoice.id, amount=Decimal(100), reason="折让")
    payment = await received(db, world, "100")
    before = await outbox_count(db, world.org_id)
    code = {"void": BillingErrorCode.INVOICE_VOID, "draft": BillingErrorCode.INVOICE_NOT_ISSUED,
            "credit_note": SharedErrorCode.INVALID_STATE}[kind]
    # when
    with pytest.raises(ValidationFailed) as info:
        await allocate(db, world, payment, allocation_to(invoice, "100"))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("allocations", "0", "invoiceId"), code)]
    assert (await reload(db, Payment, payment.id)).allocated == Decimal(0)
    assert (await reload(db, Invoice, invoice.id)).amount_paid == Decimal(0)
    assert await count(db, PaymentAllocation, PaymentAllocation.payment_id == payment.id) == 0
    assert await outbox_count(db, world.org_id) == before


@pytest.mark.parametrize(("paid", "allocated", "code"), [
    ("1000", "1000.01", BillingErrorCode.EXCEEDS_PAYMENT),
    ("9000", "5000.01", BillingErrorCode.EXCEEDS_OUTSTANDING),
])
async def test_allocating_more_than_the_payment_or_the_outstanding_is_refused(db, paid, allocated, code):
    # given an invoice of 5,000
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, paid)
    before = await outbox_count(db, world.org_id)
    # when
    with pytest.raises(ValidationFailed) as info:
        await allocate(db, world, payment, allocation_to(invoice, allocated))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("allocations", "0", "amount"), code)]
    assert await money(db, invoice, payment) == ("issued", Decimal(0), Decimal("5000"), Decimal(0), Decimal(paid))
    assert await outbox_count(db, world.org_id) == before


async def test_allocations_that_together_exceed_the_payment_are_refused_whole(db):
    # given two invoices of 5,000 and a payment of 8,000
    world = await new_world(db)
    first, second = await billed(db, world, (Decimal(5000), days_ago(10), TODAY), (Decimal(5000), days_ago(5), TODAY))
    payment = await received(db, world, "8000")
    # when
    with pytest.raises(ValidationFailed) as info:
        await allocate(db, world, payment, allocation_to(second, "4000"), allocation_to(first, "4000.01"))
    # then the second one named fails, and nothing is allocated
    assert [(e.field, e.code) for e in info.value.errors] == [(("allocations", "0", "amount"),
                                                               BillingErrorCode.EXCEEDS_PAYMENT)]
    assert await count(db, PaymentAllocation, PaymentAllocation.payment_id == payment.id) == 0
    assert [(await reload(db, Invoice, i.id)).status for i in (first, second)] == ["issued", "issued"]


async def test_every_bad_allocation_is_reported_at_once(db):
    # given a void invoice and an open one
    world = await new_world(db)
    void, open_ = await billed(db, world, (Decimal(5000), days_ago(10), TODAY), (Decimal(5000), days_ago(5), TODAY))
    async with db.write() as s:
        await void_invoice(s, world.finance, void.id, reason="作废")
    payment = await received(db, world, "9000")
    # when
    with pytest.raises(ValidationFailed) as info:
        await allocate(db, world, payment, allocation_to(void, "1"), allocation_to(open_, "6000"))
    # then
    assert sorted((e.field, e.code) for e in info.value.errors) == [
        (("allocations", "0", "invoiceId"), BillingErrorCode.INVOICE_VOID),
        (("allocations", "1", "amount"), BillingErrorCode.EXCEEDS_OUTSTANDING)]


async def test_an_invoice_named_twice_is_a_duplicate(db):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "100")
    # when / then
    with fails(SharedErrorCode.DUPLICATE):
        await allocate(db, world, payment, allocation_to(invoice, "50"), allocation_to(invoice, "50"))
    assert (await reload(db, Payment, payment.id)).allocated == Decimal(0)


async def test_a_payment_cannot_settle_another_customers_invoice(db):
    # given another customer's invoice
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    async with db.write() as s:
        other = await create_customer(s, world.rep, CustomerInput(name="另一客户"))
        payment = await record_payment(s, world.finance, customer_id=other.id, payer_name=None, amount=Decimal(100),
                                       currency=None, received_on=None, method=None, reference=None, notes=None)
    # when / then
    with fails(SharedErrorCode.MISMATCHED_RECORD):
        await allocate(db, world, payment, allocation_to(invoice, "100"))
    assert (await reload(db, Invoice, invoice.id)).amount_paid == Decimal(0)


async def test_a_used_up_payment_has_nothing_to_allocate(db):
    # given
    world = await new_world(db)
    first, second = await billed(db, world, (Decimal(5000), days_ago(10), TODAY), (Decimal(5000), days_ago(5), TODAY))
    payment = await received(db, world, "100")
    await allocate(db, world, payment, allocation_to(first))
    # when / then
    with fails(BillingErrorCode.NOTHING_TO_ALLOCATE):
        await allocate(db, world, payment, allocation_to(second, "1"))


# --- other currencies -------------------------------------------------------------------------------


async def test_a_payment_in_another_currency_needs_the_exchange_rate(db):
    # given a CNY invoice and a USD payment
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "500", currency="USD")
    before = await outbox_count(db, world.org_id)
    # when
    with pytest.raises(ValidationFailed) as info:
        await allocate(db, world, payment, allocation_to(invoice, "1000"))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("allocations", "0", "exchangeRate"),
                                                               SharedErrorCode.CURRENCY_MISMATCH)]
    assert await money(db, invoice, payment) == ("issued", Decimal(0), Decimal("5000"), Decimal(0), Decimal("500"))
    assert await outbox_count(db, world.org_id) == before


@pytest.mark.parametrize("rate", ["0", "-7.1", "NaN", "1000001", "7.123456789"])
async def test_a_bad_exchange_rate_is_invalid(db, rate):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "500", currency="USD")
    # when
    with pytest.raises(ValidationFailed) as info:
        await allocate(db, world, payment, allocation_to(invoice, "1000", rate))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("allocations", "0", "exchangeRate"),
                                                               SharedErrorCode.INVALID)]


async def test_with_the_rate_a_foreign_payment_settles_in_the_invoice_currency(db):
    # given a CNY invoice of 5,000 and a USD payment of 1,000
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "1000", currency="USD")
    # when 3,550 CNY is allocated at 7.1 CNY per USD
    [allocation] = await allocate(db, world, payment, allocation_to(invoice, "3550", "7.1"))
    # then the payment gives 500 USD
    stored = await reload(db, PaymentAllocation, allocation.id)
    assert (stored.amount, stored.payment_amount, Decimal(stored.exchange_rate)) == (
        Decimal("3550"), Decimal("500"), Decimal("7.1"))
    assert await money(db, invoice, payment) == (
        "partially_paid", Decimal("3550"), Decimal("1450"), Decimal("500"), Decimal("500"))
    # when the rest of the invoice is taken from the rest of the payment, no amount named
    await allocate(db, world, payment, allocation_to(invoice, None, "7.25"))
    # then 1,450 CNY costs 200 USD
    assert await money(db, invoice, payment) == (
        "paid", Decimal("5000"), Decimal(0), Decimal("700"), Decimal("300"))


async def test_the_rest_of_a_foreign_payment_never_overdraws_it_by_rounding(db):
    # given a USD invoice and 100.05 CNY left of a payment, at 0.1405 USD per CNY (14.057 USD)
    world = await new_world(db)
    invoice = await one_invoice(db, world, "50", currency="USD")
    payment = await received(db, world, "100.05")
    # when the rest is allocated, no amount named
    [allocation] = await allocate(db, world, payment, allocation_to(invoice, None, "0.1405"))
    # then 14.05 USD is what the payment can buy (14.06 would cost 100.07 CNY)
    stored = await reload(db, PaymentAllocation, allocation.id)
    assert (stored.amount, stored.payment_amount) == (Decimal("14.05"), Decimal("100.00"))
    assert (await reload(db, Payment, payment.id)).unallocated == Decimal("0.05")


# --- automatic allocation, over-payment, unmatched ---------------------------------------------------------


async def test_automatic_allocation_pays_the_oldest_due_first(db):
    # given three invoices issued in one order, due in another, and a USD one
    world = await new_world(db)
    late, oldest, middle = await billed(db, world, (Decimal(1000), days_ago(40), TODAY + timedelta(days=5)),
                                        (Decimal(2000), days_ago(30), days_ago(20)),
                                        (Decimal(3000), days_ago(20), days_ago(10)))
    dollars = await one_invoice(db, world, "100", currency="USD")
    payment = await received(db, world, "3500")
    # when
    made = await allocate(db, world, payment, automatic=True)
    # then
    assert [(a.invoice_id, a.amount) for a in made] == [(oldest.id, Decimal(2000)), (middle.id, Decimal(1500))]
    assert [(await reload(db, Invoice, i.id)).status for i in (oldest, middle, late, dollars)] == [
        "paid", "partially_paid", "issued", "issued"]
    assert (await reload(db, Payment, payment.id)).unallocated == Decimal(0)


async def test_over_payment_stays_on_the_payment_as_the_customers_credit(db):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "6200")
    # when
    await allocate(db, world, payment, automatic=True)
    # then
    assert await money(db, invoice, payment) == ("paid", Decimal("5000"), Decimal(0), Decimal("5000"),
                                                 Decimal("1200"))
    assert await unmatched(db, world) == [payment.id]
    # and nothing is left to allocate it to
    with fails(BillingErrorCode.NOTHING_TO_ALLOCATE):
        await allocate(db, world, payment, automatic=True)


async def test_automatic_allocation_with_allocations_named_is_invalid(db):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "100")
    # when / then
    with fails(SharedErrorCode.INVALID):
        await allocate(db, world, payment, allocation_to(invoice), automatic=True)


async def test_an_unmatched_payment_is_listed_until_matched_and_allocated(db):
    # given a payment nobody could place, and one fully allocated
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    stray = await received(db, world, "5000", customer=False, payer="HUAWEI TECH CO LTD")
    done = await received(db, world, "1")
    await allocate(db, world, done, allocation_to(invoice))
    assert await unmatched(db, world) == [stray.id]
    # when it is allocated automatically before matching
    with fails(SharedErrorCode.INVALID):
        await allocate(db, world, stray, automatic=True)
    # when matched to the customer, then allocated
    async with db.write() as s:
        matched = await match_payment(s, world.finance, stray.id, world.customer.id)
    await allocate(db, world, stray, automatic=True)
    # then
    assert (matched.customer_id, matched.payer_name) == (world.customer.id, "HUAWEI TECH CO LTD")
    assert await unmatched(db, world) == [stray.id]  # 1 CNY of it is left: the invoice needed 4,999
    assert (await reload(db, Payment, stray.id)).unallocated == Decimal(1)


async def test_an_allocated_payment_cannot_change_customer(db):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "100")
    await allocate(db, world, payment, allocation_to(invoice))
    async with db.write() as s:
        other = await create_customer(s, world.rep, CustomerInput(name="另一客户"))
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await match_payment(s, world.finance, payment.id, other.id)
    assert (await reload(db, Payment, payment.id)).customer_id == world.customer.id


# --- reversal ---------------------------------------------------------------------------------------


async def test_reversal_restores_the_invoice_and_the_payment_and_keeps_the_record(db):
    # given an invoice paid by two payments
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    first = await received(db, world, "3000", on=days_ago(5))
    second = await received(db, world, "2000", on=days_ago(1))
    [a] = await allocate(db, world, first, allocation_to(invoice))
    [b] = await allocate(db, world, second, allocation_to(invoice))
    assert (await reload(db, Invoice, invoice.id)).paid_on == days_ago(1)
    # when the second is reversed
    async with db.write() as s:
        await reverse_allocation(s, world.finance, b.id, reason="退票")
    # then
    assert await money(db, invoice, second) == ("partially_paid", Decimal("3000"), Decimal("2000"), Decimal(0),
                                                 Decimal("2000"))
    assert (await reload(db, Invoice, invoice.id)).paid_on is None
    stored = await reload(db, PaymentAllocation, b.id)
    assert (stored.reversed_at, stored.reversed_by_id, stored.reversal_reason, stored.amount) == (
        T0, world.finance.user_id, "退票", Decimal("2000"))
    # when the first is reversed too
    async with db.write() as s:
        await reverse_allocation(s, world.finance, a.id, reason="错配")
    # then the invoice is back to issued, and both allocations are still on record
    assert await money(db, invoice, first) == ("issued", Decimal(0), Decimal("5000"), Decimal(0), Decimal("3000"))
    assert await count(db, PaymentAllocation, PaymentAllocation.invoice_id == invoice.id) == 2


async def test_reversing_a_foreign_allocation_gives_back_the_payments_own_currency(db):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "1000", currency="USD")
    [allocation] = await allocate(db, world, payment, allocation_to(invoice, "3550", "7.1"))
    # when
    async with db.write() as s:
        await reverse_allocation(s, world.finance, allocation.id, reason="汇率错误")
    # then
    assert await money(db, invoice, payment) == ("issued", Decimal(0), Decimal("5000"), Decimal(0), Decimal("1000"))


async def test_reversing_twice_is_already_reversed(db):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "5000")
    [allocation] = await allocate(db, world, payment, allocation_to(invoice))
    async with db.write() as s:
        await reverse_allocation(s, world.finance, allocation.id, reason="退票")
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(BillingErrorCode.ALREADY_REVERSED):
        async with db.write() as s:
            await reverse_allocation(s, world.finance, allocation.id, reason="再退")
    assert await money(db, invoice, payment) == ("issued", Decimal(0), Decimal("5000"), Decimal(0), Decimal("5000"))
    assert (await reload(db, PaymentAllocation, allocation.id)).reversal_reason == "退票"
    assert await outbox_count(db, world.org_id) == before


@pytest.mark.parametrize("reason", [None, "", "  "])
async def test_reversal_needs_a_reason(db, reason):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "5000")
    [allocation] = await allocate(db, world, payment, allocation_to(invoice))
    # when / then
    with fails(SharedErrorCode.REASON_REQUIRED):
        async with db.write() as s:
            await reverse_allocation(s, world.finance, allocation.id, reason=reason)
    assert await money(db, invoice, payment) == ("paid", Decimal("5000"), Decimal(0), Decimal("5000"), Decimal(0))


async def test_a_reversed_payment_can_be_allocated_again(db):
    # given
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "5000")
    [allocation] = await allocate(db, world, payment, allocation_to(invoice))
    async with db.write() as s:
        await reverse_allocation(s, world.finance, allocation.id, reason="错配")
    # when
    await allocate(db, world, payment, automatic=True)
    # then
    assert await money(db, invoice, payment) == ("paid", Decimal("5000"), Decimal(0), Decimal("5000"), Decimal(0))
    async with db.read() as s:
        rows = list(await s.scalars(select(PaymentAllocation).where(PaymentAllocation.payment_id == payment.id)
                                    .order_by(PaymentAllocation.id)))
    assert [(r.amount, r.reversed_at is None) for r in rows] == [(Decimal("5000"), False), (Decimal("5000"), True)]


async def test_payment_events_carry_amounts_at_the_currency_precision(db):
    # given a payment recorded, then (read back from the database) allocated
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "6000.5")
    await allocate(db, world, payment, allocation_to(invoice))
    # when
    async with db.read() as s:
        payloads = list(await s.scalars(select(OutboxEvent.payload).where(
            OutboxEvent.org_id == world.org_id, OutboxEvent.record_type == "Payment").order_by(OutboxEvent.id)))
    # then
    assert [(p["amount"], p["allocated"], p["unallocated"]) for p in payloads] == [
        ("6000.50", "0.00", "6000.50"), ("6000.50", "5000.00", "1000.50")]


async def test_an_exchange_rate_is_kept_to_its_last_decimal(db):
    # given a CNY invoice and a USD payment
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    payment = await received(db, world, "1000", currency="USD")
    # when it is allocated at a rate with 8 decimals
    [allocation] = await allocate(db, world, payment, allocation_to(invoice, "712.35", "7.12345678"))
    # then the rate stored is the rate used, to the last decimal
    stored = await reload(db, PaymentAllocation, allocation.id)
    assert Decimal(stored.exchange_rate) == Decimal("7.12345678")
    assert stored.payment_amount == Decimal("100.00")


async def test_allocating_an_unmatched_payment_by_hand_matches_it_to_the_invoices_customer(db):
    # given a payment nobody placed yet and the customer's invoice
    world = await new_world(db)
    invoice = await one_invoice(db, world)
    stray = await received(db, world, "5000", customer=False, payer="华为 (汇款)")
    # when finance allocates it to that invoice by hand
    await allocate(db, world, stray, allocation_to(invoice))
    # then the payment is the invoice's customer's, and no longer unmatched
    assert (await reload(db, Payment, stray.id)).customer_id == world.customer.id
    assert await unmatched(db, world) == []
