"""Payment plans on the domain services: installments by date, milestone or percentage that add up to the
contract amount exactly, locked once invoiced; each test in an org of its own."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.billing.errors import BillingErrorCode
from tandem.domain.billing.invoice import issue_invoice, void_invoice
from tandem.domain.billing.payment_plan import Installment, InstallmentInput, reach_milestone, set_payment_plan
from tandem.domain.contracts.contract import ContractInput, amend_contract
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import SharedErrorCode, ValidationFailed
from tests.factories.checks import count, fails, outbox_count, reload
from tests.factories.quote_to_cash import (
    PDF_V2,
    T0,
    active_contract,
    approved,
    document,
    new_contract,
    new_world,
    planned,
    signed,
)


@pytest.fixture(autouse=True)
def frozen():
    clock.set(T0)
    yield
    clock.set(None)


def by_date(label: str, day: date, **share) -> InstallmentInput:
    return InstallmentInput(label=label, due_date=day, **{k: Decimal(v) for k, v in share.items()})


def thirds() -> list[InstallmentInput]:
    return [by_date("首付", date(2026, 6, 1), percent="33.3333"), by_date("验收", date(2026, 8, 1), percent="33.3333"),
            by_date("尾款", date(2026, 10, 1), percent="33.3334")]


async def installments(db, contract) -> list[tuple]:
    async with db.read() as s:
        rows = await s.scalars(select(Installment).where(Installment.contract_id == contract.id)
                               .order_by(Installment.position))
        return [(i.position, i.label, i.amount, i.status) for i in rows]


@pytest.mark.parametrize(("currency", "amount", "expected"), [
    ("CNY", "100000", ["33333.30", "33333.30", "33333.40"]),
    ("CNY", "1000.01", ["333.34", "333.34", "333.33"]),
    ("CNY", "100", ["33.33", "33.33", "33.34"]),
    ("JPY", "1000", ["333", "333", "334"]),
    ("KWD", "10", ["3.333", "3.333", "3.334"]),
])
async def test_percentages_round_to_the_currency_and_the_last_takes_the_remainder(db, currency, amount, expected):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal(amount), currency=currency)
    # when
    plan = await planned(db, world, contract, *thirds())
    # then
    assert [i.amount for i in plan] == [Decimal(x) for x in expected]
    assert sum(i.amount for i in plan) == Decimal(amount)
    assert [(p, label, a, status) for p, label, a, status in await installments(db, contract)] == [
        (1, "首付", Decimal(expected[0]), "planned"), (2, "验收", Decimal(expected[1]), "planned"),
        (3, "尾款", Decimal(expected[2]), "planned")]


async def test_amounts_that_add_up_to_the_contract_make_the_plan(db):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("100000"))
    # when
    plan = await planned(db, world, contract, by_date("首付", date(2026, 6, 1), amount="30000"),
                         InstallmentInput(label="上线", milestone=" 系统上线 ", amount=Decimal("70000")))
    # then
    assert [(i.trigger, i.due_date, i.milestone, i.amount, i.percent) for i in plan] == [
        ("date", date(2026, 6, 1), None, Decimal("30000"), None),
        ("milestone", None, "系统上线", Decimal("70000"), None)]
    assert await outbox_count(db, world.org_id, "contract.payment_plan_set") == 1


@pytest.mark.parametrize("shares", [
    [{"amount": "30000"}, {"amount": "60000"}],             # short
    [{"amount": "30000"}, {"amount": "70000.01"}],          # a cent over
    [{"percent": "50"}, {"percent": "40"}],                 # 90 %
    [{"percent": "60"}, {"percent": "50"}],                 # 110 %
])
async def test_installments_not_adding_up_to_the_contract_are_refused_and_nothing_is_written(db, shares):
    # given a contract with a plan already
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("100000"))
    await planned(db, world, contract, *thirds())
    before = await outbox_count(db, world.org_id)
    # when
    with fails(BillingErrorCode.INSTALLMENTS_MISMATCH):
        await planned(db, world, contract, *[by_date(f"第{n}期", date(2026, 7, n + 1), **share)
                                             for n, share in enumerate(shares)])
    # then the old plan stands
    assert [a for _, _, a, _ in await installments(db, contract)] == [
        Decimal("33333.30"), Decimal("33333.30"), Decimal("33333.40")]
    assert await outbox_count(db, world.org_id) == before


async def test_mixing_amounts_and_percentages_is_refused(db):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("100000"))
    # when
    with pytest.raises(ValidationFailed) as info:
        await planned(db, world, contract, by_date("首付", date(2026, 6, 1), amount="50000"),
                      by_date("尾款", date(2026, 9, 1), percent="50"))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("installments",), SharedErrorCode.INVALID)]
    assert await count(db, Installment, Installment.contract_id == contract.id) == 0


@pytest.mark.parametrize(("item", "field", "code"), [
    (InstallmentInput(label="x", due_date=date(2026, 7, 1)), "amount", SharedErrorCode.REQUIRED),
    (InstallmentInput(label="x", due_date=date(2026, 7, 1), amount=Decimal(1), percent=Decimal(1)), "amount",
     SharedErrorCode.REQUIRED),
    (InstallmentInput(label="x", amount=Decimal(1)), "dueDate", SharedErrorCode.REQUIRED),
    (InstallmentInput(label="x", milestone="  ", amount=Decimal(1)), "dueDate", SharedErrorCode.REQUIRED),
    (InstallmentInput(label="x", due_date=date(2026, 7, 1), milestone="验收", amount=Decimal(1)), "dueDate",
     SharedErrorCode.REQUIRED),
    (InstallmentInput(label=" ", due_date=date(2026, 7, 1), amount=Decimal(1)), "label", SharedErrorCode.REQUIRED),
    (InstallmentInput(label="x", due_date=date(2026, 7, 1), amount=Decimal(0)), "amount",
     SharedErrorCode.INVALID_AMOUNT),
    (InstallmentInput(label="x", due_date=date(2026, 7, 1), amount=Decimal(-5)), "amount",
     SharedErrorCode.INVALID_AMOUNT),
    (InstallmentInput(label="x", due_date=date(2026, 7, 1), amount=Decimal("0.001")), "amount",
     SharedErrorCode.INVALID_AMOUNT),
])
async def test_bad_installment_is_refused_with_its_code(db, item, field, code):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("100000"))
    # when
    with pytest.raises(ValidationFailed) as info:
        await planned(db, world, contract, by_date("首付", date(2026, 6, 1), amount="99999"), item)
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("installments", "1", field), code)]
    assert await count(db, Installment, Installment.contract_id == contract.id) == 0


@pytest.mark.parametrize("percent", ["0", "-10", "100.01", "33.33333"])
async def test_bad_percentage_is_invalid(db, percent):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("100000"))
    # when
    with pytest.raises(ValidationFailed) as info:
        await planned(db, world, contract, by_date("全款", date(2026, 6, 1), percent=percent))
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(("installments", "0", "percent"),
                                                               SharedErrorCode.INVALID)]


async def test_an_empty_plan_is_required(db):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world)
    # when / then
    with fails(SharedErrorCode.REQUIRED):
        await planned(db, world, contract)


async def test_percentages_too_small_for_the_currency_are_a_mismatch(db):
    # given a contract of 1 yen split in two
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("1"), currency="JPY")
    # when / then: 0.5 yen rounds up to 1, leaving 0 for the last
    with fails(BillingErrorCode.INSTALLMENTS_MISMATCH):
        await planned(db, world, contract, by_date("a", date(2026, 6, 1), percent="50"),
                      by_date("b", date(2026, 7, 1), percent="50"))
    assert await count(db, Installment, Installment.contract_id == contract.id) == 0


async def test_a_plan_is_replaced_while_nothing_is_invoiced(db):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("100000"))
    await planned(db, world, contract, *thirds())
    # when
    await planned(db, world, contract, by_date("全款", date(2026, 7, 1), percent="100"))
    # then
    assert await installments(db, contract) == [(1, "全款", Decimal("100000"), "planned")]


async def test_a_plan_with_an_invoiced_installment_is_locked(db):
    # given an active contract whose first installment is invoiced
    world = await new_world(db)
    contract = await active_contract(db, world, amount=Decimal("100000"))
    plan = await planned(db, world, contract, *thirds())
    async with db.write() as s:
        await issue_invoice(s, world.finance, installment_id=plan[0].id)
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(BillingErrorCode.PLAN_LOCKED):
        await planned(db, world, contract, by_date("全款", date(2026, 7, 1), percent="100"))
    assert [status for *_, status in await installments(db, contract)] == ["invoiced", "planned", "planned"]
    assert await outbox_count(db, world.org_id) == before


async def test_voiding_the_only_invoice_unlocks_the_plan(db):
    # given
    world = await new_world(db)
    contract = await active_contract(db, world, amount=Decimal("100000"))
    plan = await planned(db, world, contract, *thirds())
    async with db.write() as s:
        invoice = await issue_invoice(s, world.finance, installment_id=plan[0].id)
    async with db.write() as s:
        await void_invoice(s, world.finance, invoice.id, reason="开错了")
    # when
    await planned(db, world, contract, by_date("全款", date(2026, 7, 1), percent="100"))
    # then
    assert await installments(db, contract) == [(1, "全款", Decimal("100000"), "planned")]


async def test_a_superseded_contract_takes_no_plan(db):
    # given a contract superseded by its amendment
    world = await new_world(db)
    original = await active_contract(db, world)
    async with db.write() as s:
        amendment = await amend_contract(s, world.rep, original.id, reason="变更", data=ContractInput(
            document=document(PDF_V2), set_fields={"document"}))
    await signed(db, world, await approved(db, world, amendment))
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        await planned(db, world, original, by_date("全款", date(2026, 7, 1), percent="100"))


async def test_a_milestone_installment_is_not_due_until_the_milestone_is_reached(db):
    # given
    world = await new_world(db)
    contract = await active_contract(db, world, amount=Decimal("100000"))
    plan = await planned(db, world, contract, by_date("首付", date(2026, 6, 1), percent="30"),
                         InstallmentInput(label="验收款", milestone="验收", percent=Decimal("70")))
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(BillingErrorCode.NOT_DUE):
        async with db.write() as s:
            await issue_invoice(s, world.finance, installment_id=plan[1].id)
    assert (await reload(db, Installment, plan[1].id)).status == "planned"
    assert await outbox_count(db, world.org_id) == before
    # when the milestone is reached
    async with db.write() as s:
        reached = await reach_milestone(s, world.finance, contract.id, " 验收 ", date(2026, 6, 20))
    # then it falls due that day and can be invoiced
    assert [(i.id, i.due_date, i.milestone_reached_on) for i in reached] == [
        (plan[1].id, date(2026, 6, 20), date(2026, 6, 20))]
    async with db.write() as s:
        invoice = await issue_invoice(s, world.finance, installment_id=plan[1].id, issue_date=date(2026, 6, 20))
    assert (invoice.total, invoice.due_date) == (Decimal("70000"), date(2026, 7, 20))


async def test_a_milestone_reached_without_a_date_is_reached_today(db):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("100"))
    await planned(db, world, contract, InstallmentInput(label="上线款", milestone="上线", amount=Decimal("100")))
    # when
    async with db.write() as s:
        [row] = await reach_milestone(s, world.finance, contract.id, "上线", None)
    # then
    assert row.due_date == T0.date()


@pytest.mark.parametrize("milestone", ["不存在", "验收"])
async def test_reaching_an_unknown_or_already_reached_milestone_is_invalid(db, milestone):
    # given a milestone reached already
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("100"))
    await planned(db, world, contract, InstallmentInput(label="验收款", milestone="验收", amount=Decimal("100")))
    async with db.write() as s:
        await reach_milestone(s, world.finance, contract.id, "验收", date(2026, 6, 1))
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(SharedErrorCode.INVALID):
        async with db.write() as s:
            await reach_milestone(s, world.finance, contract.id, milestone, date(2026, 7, 1))
    assert await outbox_count(db, world.org_id) == before


async def test_setting_a_plan_replaces_nothing_of_another_contract(db):
    # given two contracts with plans
    world = await new_world(db)
    first = await new_contract(db, world, amount=Decimal("100"))
    second = await new_contract(db, world, amount=Decimal("100"))
    await planned(db, world, first, by_date("全款", date(2026, 7, 1), percent="100"))
    await planned(db, world, second, by_date("全款", date(2026, 7, 1), percent="100"))
    # when
    async with db.write() as s:
        await set_payment_plan(s, world.finance, first.id, thirds())
    # then
    assert len(await installments(db, first)) == 3
    assert await installments(db, second) == [(1, "全款", Decimal("100"), "planned")]
