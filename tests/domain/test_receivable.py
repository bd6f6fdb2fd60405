"""Receivables on the domain services: aging buckets at their boundaries, DSO, on-time rate, customer
credit, one currency at a time; and the overdue run (reminder, then escalation up the chain); each test in
an org of its own."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.billing.invoice import Invoice, issue_credit_note, void_invoice
from tandem.domain.billing.payment import AllocationInput, allocate_payment, record_payment
from tandem.domain.billing.receivable import open_invoices, receivables, run_overdue
from tandem.domain.collaboration.sla import Escalation, SlaKind, set_sla_policy
from tandem.domain.shared.clock import clock
from tandem.domain.shared.outbox import OutboxEvent
from tests.factories.checks import reload
from tests.factories.quote_to_cash import T0, TODAY, World, billed, days_ago, new_world


@pytest.fixture(autouse=True)
def frozen():
    clock.set(T0)
    yield
    clock.set(None)


async def figures(db, world: World, currency: str = "CNY", **kw):
    async with db.read() as s:
        return await receivables(s, world.finance, customer_id=kw.pop("customer_id", world.customer.id),
                                 currency=currency, **kw)


async def pay(db, world: World, invoice: Invoice, amount: str, on: date, currency: str = "CNY") -> None:
    async with db.write() as s:
        payment = await record_payment(s, world.finance, customer_id=world.customer.id, payer_name=None,
                                       amount=Decimal(amount), currency=currency, received_on=on, method=None,
                                       reference=None, notes=None)
        await allocate_payment(s, world.finance, payment.id, [AllocationInput(invoice_id=invoice.id)])


def aging(r) -> tuple:
    return r.aging.current, r.aging.days_1_30, r.aging.days_31_60, r.aging.days_61_90, r.aging.over_90


# --- aging --------------------------------------------------------------------------------------------


async def test_aging_buckets_at_their_boundaries(db):
    # given invoices 0, 1, 30, 31, 60, 61, 90 and 91 days past due, and one due next week;
    # each amount a power of two so every bucket's sum names its invoices
    world = await new_world(db)
    days = [0, 1, 30, 31, 60, 61, 90, 91]
    rows = [(Decimal(2 ** k), days_ago(n + 10), days_ago(n)) for k, n in enumerate(days)]
    rows.append((Decimal(256), TODAY, TODAY + timedelta(days=7)))
    invoices = await billed(db, world, *rows)
    # when
    r = await figures(db, world)
    # then
    assert [i.days_overdue(TODAY) for i in invoices] == [*days, 0]
    assert aging(r) == (Decimal(1 + 256), Decimal(2 + 4), Decimal(8 + 16), Decimal(32 + 64), Decimal(128))
    assert (r.outstanding, r.overdue, r.open_invoices, r.overdue_invoices) == (
        Decimal(511), Decimal(254), 9, 7)
    # and a day later everything moves one day on
    later = await figures(db, world, as_of=TODAY + timedelta(days=1))
    assert aging(later) == (Decimal(256), Decimal(1 + 2), Decimal(4 + 8), Decimal(16 + 32), Decimal(64 + 128))


async def test_only_what_is_still_owed_is_aged(db):
    # given invoices 40 days late: one partly paid, one partly credited, one paid, one credited, one void
    world = await new_world(db)
    partly_paid, partly_credited, paid, credited, void = await billed(
        db, world, *[(Decimal(1000), days_ago(70), days_ago(40)) for _ in range(5)])
    await pay(db, world, partly_paid, "300", days_ago(1))
    await pay(db, world, paid, "1000", days_ago(1))
    async with db.write() as s:
        await issue_credit_note(s, world.finance, partly_credited.id, amount=Decimal(250), reason="折让")
        await issue_credit_note(s, world.finance, credited.id, amount=None, reason="全额冲红")
        await void_invoice(s, world.finance, void.id, reason="作废")
    # when
    r = await figures(db, world)
    # then
    assert (r.aging.days_31_60, r.outstanding, r.open_invoices) == (Decimal(700 + 750), Decimal(1450), 2)
    async with db.read() as s:
        listed = await open_invoices(s, world.finance, customer_id=world.customer.id, currency="CNY")
    assert [i.id for i in listed] == [partly_paid.id, partly_credited.id]


async def test_a_customer_without_invoices_has_empty_figures(db):
    # given
    world = await new_world(db)
    # when
    r = await figures(db, world)
    # then
    assert (r.outstanding, r.overdue, r.open_invoices, r.invoiced_in_period, r.dso, r.due_invoices,
            r.on_time_rate, r.customer_credit) == (Decimal(0), Decimal(0), 0, Decimal(0), None, 0, None, Decimal(0))
    assert aging(r) == (Decimal(0),) * 5


# --- DSO and on-time rate -------------------------------------------------------------------------------


async def test_dso_and_on_time_rate(db):
    # given, on 1 June:
    #   A 1,000 issued 1 Apr, due 1 May, paid 25 Apr (on time)
    #   E 1,000 issued 10 Apr, due 20 Apr, paid 1 May (late)
    #   B 3,000 issued 1 May, due 15 May, 1,000 paid 20 May (still owed, late)
    #   C 2,000 issued 20 May, due 19 June (not due yet)
    #   D   500 issued 1 Jan, due 1 Feb, unpaid (before the 90-day period)
    world = await new_world(db)
    a, e, b, c, d = await billed(db, world, (Decimal(1000), date(2026, 4, 1), date(2026, 5, 1)),
                                 (Decimal(1000), date(2026, 4, 10), date(2026, 4, 20)),
                                 (Decimal(3000), date(2026, 5, 1), date(2026, 5, 15)),
                                 (Decimal(2000), date(2026, 5, 20), date(2026, 6, 19)),
                                 (Decimal(500), date(2026, 1, 1), date(2026, 2, 1)))
    await pay(db, world, a, "1000", date(2026, 4, 25))
    await pay(db, world, e, "1000", date(2026, 5, 1))
    await pay(db, world, b, "1000", date(2026, 5, 20))
    # when
    r = await figures(db, world)
    # then receivables 4,500 over 7,000 invoiced in 90 days: 57.857… days
    assert (r.outstanding, r.invoiced_in_period, r.period_days, r.dso) == (
        Decimal(4500), Decimal(7000), 90, Decimal("57.9"))
    # and of the 4 invoices that fell due, 1 was paid by its due date
    assert (r.due_invoices, r.paid_on_time, r.on_time_rate) == (4, 1, Decimal("0.25"))
    assert aging(r) == (Decimal(2000), Decimal(2000), Decimal(0), Decimal(0), Decimal(500))
    # when the period is 30 days: only C was invoiced in it
    short = await figures(db, world, period_days=30)
    assert (short.invoiced_in_period, short.dso) == (Decimal(2000), Decimal("67.5"))


async def test_paid_on_the_due_date_is_on_time(db):
    # given two invoices due 20 May: one paid that day, one the day after
    world = await new_world(db)
    on_time, late = await billed(db, world, (Decimal(100), date(2026, 5, 1), date(2026, 5, 20)),
                                 (Decimal(100), date(2026, 5, 1), date(2026, 5, 20)))
    await pay(db, world, on_time, "100", date(2026, 5, 20))
    await pay(db, world, late, "100", date(2026, 5, 21))
    # when
    r = await figures(db, world)
    # then
    assert (r.due_invoices, r.paid_on_time, r.on_time_rate, r.outstanding) == (2, 1, Decimal("0.5"), Decimal(0))
    assert r.dso == Decimal("0.0")


# --- currencies and credit --------------------------------------------------------------------------------


async def test_each_currency_has_its_own_figures(db):
    # given a CNY invoice 10 days late, a USD one 40 days late and a USD over-payment
    world = await new_world(db)
    [yuan] = await billed(db, world, (Decimal(1000), days_ago(30), days_ago(10)))
    [dollars] = await billed(db, world, (Decimal(300), days_ago(60), days_ago(40)), currency="USD")
    await pay(db, world, dollars, "350", days_ago(1), currency="USD")
    async with db.write() as s:
        await record_payment(s, world.finance, customer_id=world.customer.id, payer_name=None, amount=Decimal(80),
                             currency="USD", received_on=None, method=None, reference=None, notes=None)
    # when
    cny = await figures(db, world, "CNY")
    usd = await figures(db, world, "USD")
    # then amounts in different currencies are never added up
    assert (cny.outstanding, cny.aging.days_1_30, cny.customer_credit, cny.invoiced_in_period) == (
        Decimal(1000), Decimal(1000), Decimal(0), Decimal(1000))
    assert (usd.outstanding, usd.aging.days_31_60, usd.customer_credit, usd.invoiced_in_period) == (
        Decimal(0), Decimal(0), Decimal(50 + 80), Decimal(300))
    assert (yuan.currency, dollars.currency) == ("CNY", "USD")


async def test_customer_credit_counts_only_that_customers_unallocated_money(db):
    # given an over-payment, an unmatched payment and another org's customer credit
    world = await new_world(db)
    other = await new_world(db)
    [invoice] = await billed(db, world, (Decimal(1000), days_ago(5), TODAY))
    await pay(db, world, invoice, "1200", days_ago(1))
    async with db.write() as s:
        await record_payment(s, world.finance, customer_id=None, payer_name="不明来款", amount=Decimal(999),
                             currency=None, received_on=None, method=None, reference=None, notes=None)
        await record_payment(s, other.finance, customer_id=other.customer.id, payer_name=None, amount=Decimal(77),
                             currency=None, received_on=None, method=None, reference=None, notes=None)
    # when
    mine = await figures(db, world)
    org_wide = await figures(db, world, customer_id=None)
    # then
    assert (mine.customer_credit, mine.outstanding) == (Decimal(200), Decimal(0))
    assert org_wide.customer_credit == Decimal(200)


# --- overdue: reminder and escalation -----------------------------------------------------------------------


async def overdue_run(db, at):
    clock.set(at)
    async with db.write() as s:
        return await run_overdue(s, at)


async def escalations(db, invoice: Invoice) -> list[tuple[int, int]]:
    async with db.read() as s:
        rows = await s.scalars(select(Escalation).where(Escalation.item_kind == "invoice",
                                                        Escalation.item_id == invoice.id).order_by(Escalation.level))
        return [(e.level, e.escalated_to_id) for e in rows]


async def topic_events(db, world: World, topic: str) -> list[OutboxEvent]:
    async with db.read() as s:
        return list(await s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == world.org_id,
                                                              OutboxEvent.topic == topic).order_by(OutboxEvent.id)))


async def test_an_overdue_invoice_reminds_its_owner_once_and_escalates_up_the_chain(db):
    # given an invoice of the rep's (rep ← manager ← vp) due yesterday
    world = await new_world(db)
    [invoice] = await billed(db, world, (Decimal(1000), days_ago(31), days_ago(1)))
    # when the overdue run passes
    await overdue_run(db, T0)
    # then the owner is reminded and the owner's manager gets level 1
    [reminder] = await topic_events(db, world, "invoice.overdue")
    assert (reminder.record_id, reminder.audience, reminder.payload["daysOverdue"]) == (
        invoice.id, [world.rep.user_id], 1)
    assert (await reload(db, Invoice, invoice.id)).reminded_at == T0
    assert await escalations(db, invoice) == [(1, world.manager.user_id)]
    [escalated] = await topic_events(db, world, "sla.escalated")
    assert (escalated.record_type, escalated.record_id, escalated.audience, escalated.timeline_type,
            escalated.timeline_id, escalated.payload["level"]) == (
        "Invoice", invoice.id, [world.manager.user_id], "Contract", invoice.contract_id, 1)
    # when it runs again, and again up to a minute before a week has passed
    await overdue_run(db, T0)
    await overdue_run(db, T0 + timedelta(hours=167, minutes=59))
    # then nothing more happens
    assert len(await topic_events(db, world, "invoice.overdue")) == 1
    assert await escalations(db, invoice) == [(1, world.manager.user_id)]
    # when a week (168 h) has passed
    await overdue_run(db, T0 + timedelta(hours=168))
    # then the next manager up gets level 2
    assert await escalations(db, invoice) == [(1, world.manager.user_id), (2, world.vp.user_id)]
    # when another week passes, there is nobody above the vp
    await overdue_run(db, T0 + timedelta(hours=336))
    assert await escalations(db, invoice) == [(1, world.manager.user_id), (2, world.vp.user_id)]
    assert len(await topic_events(db, world, "invoice.overdue")) == 1
    assert len(await topic_events(db, world, "sla.escalated")) == 2


async def test_an_orgs_invoice_policy_sets_the_escalation_interval(db):
    # given invoices escalate a level a day in this org
    world = await new_world(db)
    async with db.write() as s:
        await set_sla_policy(s, world.admin, kind=SlaKind.INVOICE, due_hours=None, escalate_after_hours=24)
    [invoice] = await billed(db, world, (Decimal(1000), days_ago(31), days_ago(1)))
    await overdue_run(db, T0)
    # when
    await overdue_run(db, T0 + timedelta(hours=24))
    # then
    assert await escalations(db, invoice) == [(1, world.manager.user_id), (2, world.vp.user_id)]


async def test_invoices_not_overdue_or_settled_are_left_alone(db):
    # given one due today, one paid late, one credited, one void
    world = await new_world(db)
    due_today, paid, credited, void = await billed(db, world, (Decimal(100), days_ago(30), TODAY),
                                                   *[(Decimal(100), days_ago(40), days_ago(10)) for _ in range(3)])
    await pay(db, world, paid, "100", days_ago(2))
    async with db.write() as s:
        await issue_credit_note(s, world.finance, credited.id, amount=None, reason="冲红")
        await void_invoice(s, world.finance, void.id, reason="作废")
    # when
    await overdue_run(db, T0)
    # then
    assert await topic_events(db, world, "invoice.overdue") == []
    assert [await escalations(db, i) for i in (due_today, paid, credited, void)] == [[], [], [], []]
    assert (await reload(db, Invoice, due_today.id)).reminded_at is None
    # and the one due today is overdue tomorrow
    await overdue_run(db, T0 + timedelta(days=1))
    assert await escalations(db, due_today) == [(1, world.manager.user_id)]


async def test_a_partly_paid_overdue_invoice_still_escalates(db):
    # given
    world = await new_world(db)
    [invoice] = await billed(db, world, (Decimal(1000), days_ago(40), days_ago(10)))
    await pay(db, world, invoice, "999.99", days_ago(1))
    # when
    await overdue_run(db, T0)
    # then
    [reminder] = await topic_events(db, world, "invoice.overdue")
    assert (reminder.payload["daysOverdue"], reminder.payload["outstanding"]) == (10, "0.01")
    assert await escalations(db, invoice) == [(1, world.manager.user_id)]
