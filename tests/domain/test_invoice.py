"""Invoices and credit notes on the domain services: issuing from installments, gapless per-org numbering
(also under concurrent issuers on PostgreSQL), voiding, credit notes and the scheduler's automatic
invoicing; each test in an org of its own."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.billing.errors import BillingErrorCode
from tandem.domain.billing.invoice import (
    Invoice,
    InvoiceLine,
    InvoiceLineInput,
    create_invoice,
    issue_credit_note,
    issue_due_installments,
    issue_invoice,
    void_invoice,
)
from tandem.domain.billing.payment import AllocationInput, allocate_payment, record_payment
from tandem.domain.billing.payment_plan import Installment, InstallmentInput, reach_milestone
from tandem.domain.contracts.signature import request_signature, sign_contract
from tandem.domain.sales.errors import SalesErrorCode
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import SharedErrorCode, ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent
from tests.conftest import PG_URL
from tests.factories.checks import count, fails, outbox_count, reload, waiting_on_locks
from tests.factories.quote_to_cash import T0, TODAY, World, active_contract, approved, new_contract, new_world, planned
from tests.factories.waiting import eventually


@pytest.fixture(autouse=True)
def frozen():
    clock.set(T0)
    yield
    clock.set(None)


def halves(first: date = TODAY, second: date = TODAY + timedelta(days=30)) -> list[InstallmentInput]:
    return [InstallmentInput(label="首付", due_date=first, percent=Decimal("50")),
            InstallmentInput(label="尾款", due_date=second, percent=Decimal("50"))]


async def plan_of(db, world: World, n: int = 2, amount: str = "106000", **overrides) -> list[Installment]:
    """An active contract (6 % tax included) split in ``n`` equal installments due today."""
    contract = await active_contract(db, world, amount=Decimal(amount), **overrides)
    share = Decimal(amount) / n
    return await planned(db, world, contract, *[InstallmentInput(label=f"第{k + 1}期", due_date=TODAY, amount=share)
                                                for k in range(n)])


async def issue(db, world: World, installment: Installment, **kw) -> Invoice:
    async with db.write() as s:
        return await issue_invoice(s, world.finance, installment_id=installment.id, **kw)


async def pay(db, world: World, invoice: Invoice, amount: str) -> None:
    async with db.write() as s:
        payment = await record_payment(s, world.finance, customer_id=world.customer.id, payer_name=None,
                                       amount=Decimal(amount), currency=invoice.currency, received_on=None,
                                       method=None, reference=None, notes=None)
        await allocate_payment(s, world.finance, payment.id, [AllocationInput(invoice_id=invoice.id)])


async def credit(db, world: World, invoice: Invoice, amount: str | None, reason: str | None = "折让") -> Invoice:
    async with db.write() as s:
        return await issue_credit_note(s, world.finance, invoice.id, amount=Decimal(amount) if amount else None,
                                       reason=reason)


# --- issuing ------------------------------------------------------------------------------------


async def test_issuing_an_installment_numbers_dates_and_splits_the_tax(db):
    # given an active contract of 106,000 tax included (6 %), in two halves
    world = await new_world(db)
    first, second = await plan_of(db, world)
    # when
    invoice = await issue(db, world, first)
    # then
    stored = await reload(db, Invoice, invoice.id)
    assert (stored.number, stored.sequence_no, stored.kind, stored.status, stored.currency) == (
        "INV-000001", 1, "invoice", "issued", "CNY")
    assert (stored.issue_date, stored.due_date) == (TODAY, TODAY + timedelta(days=30))
    assert (stored.subtotal, stored.tax_total, stored.total, stored.outstanding) == (
        Decimal("50000"), Decimal("3000"), Decimal("53000"), Decimal("53000"))
    assert (stored.owner_id, stored.customer_id, stored.installment_id) == (world.rep.user_id, world.customer.id,
                                                                            first.id)
    async with db.read() as s:
        [row] = await s.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id))
    assert row.description.endswith("第1期 (1/2)")
    assert (await reload(db, Installment, first.id)).status == "invoiced"
    assert (await reload(db, Installment, second.id)).status == "planned"
    async with db.read() as s:
        event = await s.scalar(select(OutboxEvent).where(OutboxEvent.org_id == world.org_id,
                                                         OutboxEvent.topic == "invoice.issued"))
    assert (event.audience, event.timeline_type, event.timeline_id) == (
        [world.rep.user_id], "Contract", first.contract_id)


async def test_numbers_are_per_org_and_per_kind(db):
    # given two orgs
    world = await new_world(db)
    other = await new_world(db)
    mine = await plan_of(db, world)
    theirs = await plan_of(db, other)
    # when
    a = await issue(db, world, mine[0])
    b = await issue(db, other, theirs[0])
    c = await issue(db, world, mine[1])
    note = await credit(db, world, a, "100")
    # then
    assert [x.number for x in (a, b, c, note)] == ["INV-000001", "INV-000001", "INV-000002", "CN-000001"]


@pytest.mark.parametrize("reach", ["draft", "approved", "signing"])
async def test_an_installment_of_a_contract_not_active_is_not_invoiced_and_nothing_is_written(db, reach):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("106000"))
    if reach != "draft":
        contract = await approved(db, world, contract)
    if reach == "signing":
        async with db.write() as s:
            requested = await request_signature(s, world.rep, contract.id, party="customer", signer_name="张三",
                                                signer_email="z@c.test", signer_user_id=None)
            await request_signature(s, world.rep, contract.id, party="vendor", signer_name=None, signer_email=None,
                                    signer_user_id=world.manager.user_id)
        async with db.write() as s:
            await sign_contract(s, world.rep, requested.request.id, document_sha256=contract.document_sha256,
                                signing_token=requested.signing_token, ip=None, user_agent=None)
    first, _ = await planned(db, world, contract, *halves())
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(SharedErrorCode.NOT_APPROVED):
        await issue(db, world, first)
    assert await count(db, Invoice, Invoice.org_id == world.org_id) == 0
    assert (await reload(db, Installment, first.id)).status == "planned"
    assert await outbox_count(db, world.org_id) == before


async def test_an_installment_is_invoiced_once(db):
    # given
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    await issue(db, world, first)
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(BillingErrorCode.ALREADY_INVOICED):
        await issue(db, world, first)
    assert await count(db, Invoice, Invoice.org_id == world.org_id) == 1
    assert await outbox_count(db, world.org_id) == before


async def test_a_due_date_before_the_issue_date_is_refused_and_takes_no_number(db):
    # given
    world = await new_world(db)
    first, second = await plan_of(db, world)
    # when
    with fails(SharedErrorCode.INVALID_DATE_RANGE):
        await issue(db, world, first, issue_date=date(2026, 6, 10), due_date=date(2026, 6, 9))
    # then
    assert await count(db, Invoice, Invoice.org_id == world.org_id) == 0
    assert (await reload(db, Installment, first.id)).status == "planned"
    assert (await issue(db, world, second)).number == "INV-000001"


async def test_issue_needs_exactly_one_of_installment_or_invoice(db):
    # given
    world = await new_world(db)
    # when / then
    with fails(SharedErrorCode.REQUIRED):
        async with db.write() as s:
            await issue_invoice(s, world.finance)


# --- drafts of free lines ---------------------------------------------------------------------------


async def test_a_draft_of_free_lines_has_no_number_until_issued(db):
    # given
    world = await new_world(db)
    async with db.write() as s:
        draft = await create_invoice(s, world.finance, customer_id=world.customer.id, contract_id=None, currency=None,
                                     notes="差旅", lines=[
                                         InvoiceLineInput(description="机票", unit_price=Decimal("1234.5")),
                                         InvoiceLineInput(description="酒店", quantity=Decimal("3"),
                                                          unit_price=Decimal("333.335"), tax_rate=Decimal("6"))])
    # then
    assert (draft.number, draft.status, draft.subtotal, draft.tax_total, draft.total) == (
        None, "draft", Decimal("2234.51"), Decimal("60.00"), Decimal("2294.51"))
    # when
    async with db.write() as s:
        issued = await issue_invoice(s, world.finance, invoice_id=draft.id, due_date=TODAY + timedelta(days=15))
    # then
    assert (issued.number, issued.status, issued.due_date) == ("INV-000001", "issued", date(2026, 6, 16))
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await issue_invoice(s, world.finance, invoice_id=draft.id)


@pytest.mark.parametrize(("line", "field", "code"), [
    (InvoiceLineInput(description="x", quantity=Decimal(0), unit_price=Decimal(1)), "quantity",
     SharedErrorCode.INVALID_QUANTITY),
    (InvoiceLineInput(description="x", quantity=Decimal("-2"), unit_price=Decimal(1)), "quantity",
     SharedErrorCode.INVALID_QUANTITY),
    (InvoiceLineInput(description="x"), "unitPrice", SharedErrorCode.REQUIRED),
    (InvoiceLineInput(description="x", unit_price=Decimal("-1")), "unitPrice", SharedErrorCode.INVALID_AMOUNT),
    (InvoiceLineInput(description="x", unit_price=Decimal(1), tax_rate=Decimal(101)), "taxRate",
     SalesErrorCode.INVALID_TAX_RATE),
    (InvoiceLineInput(description=" ", unit_price=Decimal(1)), "description", SharedErrorCode.REQUIRED),
])
async def test_bad_invoice_line_is_refused_and_nothing_is_written(db, line, field, code):
    # given
    world = await new_world(db)
    before = await outbox_count(db, world.org_id)
    # when
    with pytest.raises(ValidationFailed) as info:
        async with db.write() as s:
            await create_invoice(s, world.finance, customer_id=world.customer.id, contract_id=None, currency=None,
                                 notes=None, lines=[InvoiceLineInput(description="ok", unit_price=Decimal(1)), line])
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("lines", "1", field), code)]
    assert await count(db, Invoice, Invoice.org_id == world.org_id) == 0
    assert await outbox_count(db, world.org_id) == before


async def test_a_draft_of_nothing_cannot_be_issued(db):
    # given
    world = await new_world(db)
    async with db.write() as s:
        draft = await create_invoice(s, world.finance, customer_id=world.customer.id, contract_id=None, currency=None,
                                     notes=None, lines=[InvoiceLineInput(description="赠送", unit_price=Decimal(0))])
    # when / then
    with fails(SharedErrorCode.INVALID_AMOUNT):
        async with db.write() as s:
            await issue_invoice(s, world.finance, invoice_id=draft.id)
    stored = await reload(db, Invoice, draft.id)
    assert (stored.status, stored.number) == ("draft", None)


# --- voiding ------------------------------------------------------------------------------------------


async def test_voiding_keeps_the_number_and_frees_the_installment_for_a_new_invoice(db):
    # given
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    invoice = await issue(db, world, first)
    # when
    async with db.write() as s:
        await void_invoice(s, world.finance, invoice.id, reason="抬头错误")
    # then
    stored = await reload(db, Invoice, invoice.id)
    assert (stored.status, stored.number, stored.void_reason, stored.voided_at, stored.outstanding) == (
        "void", "INV-000001", "抬头错误", T0, Decimal(0))
    assert (await reload(db, Installment, first.id)).status == "planned"
    # and the installment's new invoice takes the next number; none is reused
    again = await issue(db, world, first)
    assert (again.number, again.installment_id) == ("INV-000002", first.id)


async def test_voiding_a_draft_leaves_no_number(db):
    # given
    world = await new_world(db)
    async with db.write() as s:
        draft = await create_invoice(s, world.finance, customer_id=world.customer.id, contract_id=None, currency=None,
                                     notes=None, lines=[InvoiceLineInput(description="x", unit_price=Decimal(5))])
    # when
    async with db.write() as s:
        await void_invoice(s, world.finance, draft.id, reason="不需要")
    # then
    stored = await reload(db, Invoice, draft.id)
    assert (stored.status, stored.number) == ("void", None)


@pytest.mark.parametrize("applied", ["payment", "credit"])
async def test_an_invoice_with_money_on_it_cannot_be_voided(db, applied):
    # given
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    invoice = await issue(db, world, first)
    if applied == "payment":
        await pay(db, world, invoice, "1000")
    else:
        await credit(db, world, invoice, "1000")
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(BillingErrorCode.HAS_PAYMENTS):
        async with db.write() as s:
            await void_invoice(s, world.finance, invoice.id, reason="作废")
    assert (await reload(db, Invoice, invoice.id)).status == "partially_paid"
    assert (await reload(db, Installment, first.id)).status == "invoiced"
    assert await outbox_count(db, world.org_id) == before


async def test_voiding_twice_is_invoice_void(db):
    # given
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    invoice = await issue(db, world, first)
    async with db.write() as s:
        voided = await void_invoice(s, world.finance, invoice.id, reason="作废")
    # when / then
    with fails(BillingErrorCode.INVOICE_VOID):
        async with db.write() as s:
            await void_invoice(s, world.finance, invoice.id, reason="再作废")
    stored = await reload(db, Invoice, invoice.id)
    assert (stored.void_reason, stored.version) == ("作废", voided.version)


@pytest.mark.parametrize("reason", [None, "", "   "])
async def test_voiding_needs_a_reason(db, reason):
    # given
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    invoice = await issue(db, world, first)
    # when / then
    with fails(SharedErrorCode.REASON_REQUIRED):
        async with db.write() as s:
            await void_invoice(s, world.finance, invoice.id, reason=reason)
    assert (await reload(db, Invoice, invoice.id)).status == "issued"


async def test_a_credit_note_cannot_be_voided(db):
    # given
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    note = await credit(db, world, await issue(db, world, first), "100")
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await void_invoice(s, world.finance, note.id, reason="x")


# --- credit notes ---------------------------------------------------------------------------------------


async def test_a_partial_credit_note_leaves_the_invoice_partially_paid(db):
    # given an invoice of 53,000 (6 % tax included)
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    invoice = await issue(db, world, first)
    # when 10,600 is credited
    note = await credit(db, world, invoice, "10600", reason="服务折让")
    # then
    stored = await reload(db, Invoice, invoice.id)
    assert (stored.status, stored.amount_credited, stored.outstanding) == (
        "partially_paid", Decimal("10600"), Decimal("42400"))
    stored_note = await reload(db, Invoice, note.id)
    assert (stored_note.kind, stored_note.number, stored_note.status, stored_note.credited_invoice_id,
            stored_note.subtotal, stored_note.tax_total, stored_note.total, stored_note.outstanding) == (
        "credit_note", "CN-000001", "issued", invoice.id, Decimal("10000"), Decimal("600"), Decimal("10600"),
        Decimal(0))


async def test_a_full_credit_note_leaves_the_invoice_credited(db):
    # given
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    invoice = await issue(db, world, first)
    # when nothing is named, all that is outstanding is credited
    note = await credit(db, world, invoice, None)
    # then
    stored = await reload(db, Invoice, invoice.id)
    assert (stored.status, stored.outstanding, note.total) == ("credited", Decimal(0), Decimal("53000"))


async def test_crediting_the_rest_of_a_partly_paid_invoice_leaves_it_paid(db):
    # given
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    invoice = await issue(db, world, first)
    await pay(db, world, invoice, "50000")
    # when
    await credit(db, world, invoice, "3000")
    # then
    stored = await reload(db, Invoice, invoice.id)
    assert (stored.status, stored.paid_on, stored.outstanding) == ("paid", TODAY, Decimal(0))


@pytest.mark.parametrize("paid", ["0", "50000"])
async def test_crediting_more_than_is_outstanding_is_refused_and_nothing_is_written(db, paid):
    # given
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    invoice = await issue(db, world, first)
    if paid != "0":
        await pay(db, world, invoice, paid)
    before = await outbox_count(db, world.org_id)
    status = (await reload(db, Invoice, invoice.id)).status
    # when / then
    with fails(BillingErrorCode.EXCEEDS_OUTSTANDING):
        await credit(db, world, invoice, str(Decimal("53000") - Decimal(paid) + Decimal("0.01")))
    stored = await reload(db, Invoice, invoice.id)
    assert (stored.status, stored.amount_credited) == (status, Decimal(0))
    assert await count(db, Invoice, Invoice.org_id == world.org_id, Invoice.kind == "credit_note") == 0
    assert await outbox_count(db, world.org_id) == before
    # and no credit note number was used up
    assert (await credit(db, world, invoice, "1")).number == "CN-000001"


@pytest.mark.parametrize(("amount", "reason", "code"), [
    ("0", "x", SharedErrorCode.INVALID_AMOUNT),
    ("-5", "x", SharedErrorCode.INVALID_AMOUNT),
    ("1.001", "x", SharedErrorCode.INVALID_AMOUNT),
    ("5", None, SharedErrorCode.REASON_REQUIRED),
])
async def test_bad_credit_note_is_refused(db, amount, reason, code):
    # given
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    invoice = await issue(db, world, first)
    # when / then
    with fails(code):
        async with db.write() as s:
            await issue_credit_note(s, world.finance, invoice.id, amount=Decimal(amount), reason=reason)
    assert (await reload(db, Invoice, invoice.id)).amount_credited == Decimal(0)


async def test_void_or_draft_invoices_take_no_credit_note(db):
    # given a void invoice and a draft
    world = await new_world(db)
    first, _ = await plan_of(db, world)
    invoice = await issue(db, world, first)
    async with db.write() as s:
        await void_invoice(s, world.finance, invoice.id, reason="作废")
        draft = await create_invoice(s, world.finance, customer_id=world.customer.id, contract_id=None, currency=None,
                                     notes=None, lines=[InvoiceLineInput(description="x", unit_price=Decimal(5))])
    # when / then
    with fails(BillingErrorCode.INVOICE_VOID):
        await credit(db, world, invoice, "1")
    with fails(BillingErrorCode.INVOICE_NOT_ISSUED):
        await credit(db, world, draft, "1")
    assert await count(db, Invoice, Invoice.org_id == world.org_id, Invoice.kind == "credit_note") == 0


# --- the scheduler ------------------------------------------------------------------------------------


async def test_scheduler_invoices_automatic_installments_that_fell_due_once(db):
    # given an automatic plan: one due today, one next month, one waiting for a milestone
    world = await new_world(db)
    contract = await active_contract(db, world, amount=Decimal("300"))
    due, later, milestone = await planned(db, world, contract,
                                          InstallmentInput(label="首付", due_date=TODAY, amount=Decimal(100)),
                                          InstallmentInput(label="二期", due_date=date(2026, 7, 1),
                                                           amount=Decimal(100)),
                                          InstallmentInput(label="验收", milestone="验收", amount=Decimal(100)),
                                          auto_invoice=True)
    # when the scheduler runs today, and again
    async with db.write() as s:
        first_run = [i for i in await issue_due_installments(s, TODAY) if i.org_id == world.org_id]
    async with db.write() as s:
        second_run = [i for i in await issue_due_installments(s, TODAY) if i.org_id == world.org_id]
    # then only the one due was invoiced, once
    assert [(i.installment_id, i.number, i.issue_date, i.status) for i in first_run] == [
        (due.id, "INV-000001", TODAY, "issued")]
    assert second_run == []
    # when the milestone is reached and a month passes
    async with db.write() as s:
        await reach_milestone(s, world.finance, contract.id, "验收", date(2026, 6, 15))
    async with db.write() as s:
        third_run = [i for i in await issue_due_installments(s, date(2026, 7, 1)) if i.org_id == world.org_id]
    # then both are invoiced, oldest due first
    assert [(i.installment_id, i.number) for i in third_run] == [(milestone.id, "INV-000002"),
                                                                 (later.id, "INV-000003")]


async def test_scheduler_leaves_manual_plans_alone(db):
    # given a manual plan due today
    world = await new_world(db)
    contract = await active_contract(db, world, amount=Decimal("100"))
    await planned(db, world, contract, InstallmentInput(label="全款", due_date=TODAY, amount=Decimal(100)))
    # when
    async with db.write() as s:
        issued = [i for i in await issue_due_installments(s, TODAY) if i.org_id == world.org_id]
    # then
    assert issued == []


# --- gapless numbering ------------------------------------------------------------------------------


async def test_a_rolled_back_issue_gives_its_number_back(db):
    # given
    world = await new_world(db)
    first, second = await plan_of(db, world)
    # when a transaction takes a number and rolls back
    taken = []
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            taken.append((await issue_invoice(s, world.finance, installment_id=first.id)).number)
            raise RuntimeError("the caller failed after issuing")
    # then the next issue gets that number
    assert taken == ["INV-000001"]
    assert (await issue(db, world, second)).number == "INV-000001"
    assert (await reload(db, Installment, first.id)).status == "planned"


@pytest.mark.skipif(not PG_URL, reason="needs concurrent write transactions (PostgreSQL); SQLite has one writer")
@pytest.mark.parametrize("sequence", ["new", "existing"])
async def test_twenty_concurrent_issues_take_exactly_consecutive_numbers(db, sequence):
    # given 20 installments (and, for an existing sequence, one invoice issued before)
    world = await new_world(db)
    plan = await plan_of(db, world, n=21, amount="21000")
    start = 1
    if sequence == "existing":
        await issue(db, world, plan.pop())
        start = 2

    async def one(installment: Installment) -> Invoice:
        async with db.write() as s:
            return await issue_invoice(s, world.finance, installment_id=installment.id)

    # when each is issued in its own transaction, all at once
    invoices = await asyncio.gather(*(one(i) for i in plan[:20]))
    # then no number is duplicated or skipped
    assert sorted(i.sequence_no for i in invoices) == list(range(start, start + 20))
    async with db.read() as s:
        stored = list(await s.scalars(select(Invoice.number).where(Invoice.org_id == world.org_id)
                                      .order_by(Invoice.sequence_no)))
    assert stored == [f"INV-{n:06d}" for n in range(1, start + 20)]


@pytest.mark.skipif(not PG_URL, reason="needs concurrent write transactions (PostgreSQL); SQLite has one writer")
async def test_an_issuer_waiting_on_a_transaction_that_rolls_back_gets_its_number(db):
    # given
    world = await new_world(db)
    first, second = await plan_of(db, world)
    took: list[str] = []
    holding = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        with pytest.raises(RuntimeError):
            async with db.write() as s:
                took.append((await issue_invoice(s, world.finance, installment_id=first.id)).number)
                holding.set()
                await release.wait()
                raise RuntimeError("rolled back")

    async def waiter() -> Invoice:
        await holding.wait()
        return await issue(db, world, second)

    # when a second issuer comes while the first holds number 1
    held = asyncio.create_task(holder())
    waiting = asyncio.create_task(waiter())
    await holding.wait()
    await eventually(lambda: waiting_on_locks(db, 1), what="the second issuer to wait on the first one's lock")
    # then it waits rather than taking number 2
    assert not waiting.done()
    # when the first rolls back
    release.set()
    await held
    # then the waiter gets number 1
    assert took == ["INV-000001"]
    assert (await waiting).number == "INV-000001"


async def test_invoice_events_carry_amounts_at_the_currency_precision(db):
    # given a JPY invoice issued, then (read back from the database) credited
    world = await new_world(db)
    [first] = await plan_of(db, world, n=1, amount="1060", currency="JPY")
    invoice = await issue(db, world, first)
    await credit(db, world, invoice, "60")
    # when
    async with db.read() as s:
        payloads = list(await s.scalars(select(OutboxEvent.payload).where(
            OutboxEvent.org_id == world.org_id, OutboxEvent.record_id == invoice.id,
            OutboxEvent.record_type == "Invoice").order_by(OutboxEvent.id)))
    # then
    assert [(p["total"], p["amountCredited"], p["outstanding"]) for p in payloads] == [
        ("1060", "0", "1060"), ("1060", "60", "1000")]
