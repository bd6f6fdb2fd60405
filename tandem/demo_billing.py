"""Demo data from quote to cash: products and price books, quotes in several states, contracts in
every state (draft, pending approval, approved, signing, active, superseded by an amendment,
terminated), payment plans, invoices paid, partly paid and overdue, and an unmatched payment.
Everything goes through the domain services, so the timelines and the change feed show it."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.domain.billing.invoice import issue_invoice
from tandem.domain.billing.payment import AllocationInput, PaymentMethod, allocate_payment, record_payment
from tandem.domain.billing.payment_plan import InstallmentInput, set_payment_plan
from tandem.domain.contracts.approval import approve_step, steps_of, submit_contract
from tandem.domain.contracts.contract import (
    Contract,
    ContractInput,
    DocumentInput,
    amend_contract,
    create_contract,
    terminate_contract,
)
from tandem.domain.contracts.signature import request_signature, sign_contract
from tandem.domain.crm.customer import Customer
from tandem.domain.pipeline.opportunity import Opportunity
from tandem.domain.sales.product import PriceInput, ProductInput, create_price_book, create_product
from tandem.domain.sales.quote import (
    QuoteInput,
    QuoteLineInput,
    accept_quote,
    create_quote,
    send_quote,
    submit_quote,
)
from tandem.domain.shared.actor import Actor


@dataclass
class Cast:
    admin: Actor
    manager: Actor
    rep1: Actor
    rep2: Actor
    finance: Actor


def _doc(title: str) -> DocumentInput:
    body = f"%PDF-1.4\n{title}\n甲方与乙方经友好协商，签订本合同。\n".encode()
    return DocumentInput(name=f"{title}.pdf", content_base64=base64.b64encode(body).decode())


async def _approve(session: AsyncSession, cast: Cast, contract: Contract) -> None:
    await submit_contract(session, cast.rep1 if contract.owner_id == cast.rep1.user_id else cast.rep2,
                          contract.id, None)
    first, second = (await steps_of(session, cast.manager, [contract.id]))[contract.id][-2:]
    await approve_step(session, cast.manager, contract.id, first.id, comment="同意")
    await approve_step(session, cast.finance, contract.id, second.id, comment="付款条件可以")


async def _sign(session: AsyncSession, cast: Cast, contract: Contract, *, customer_signs: bool = True,
                we_sign: bool = True) -> None:
    owner = cast.rep1 if contract.owner_id == cast.rep1.user_id else cast.rep2
    theirs = await request_signature(session, owner, contract.id, party="customer", signer_name="张总",
                                     signer_email=f"ceo{contract.customer_id}@customer.example", signer_user_id=None)
    ours = await request_signature(session, owner, contract.id, party="vendor", signer_name=None, signer_email=None,
                                   signer_user_id=cast.manager.user_id)
    if customer_signs:
        await sign_contract(session, owner, theirs.request.id, document_sha256=contract.document_sha256,
                            signing_token=theirs.signing_token, ip="203.0.113.7", user_agent="Demo signing portal")
    if we_sign:
        await sign_contract(session, cast.manager, ours.request.id, document_sha256=contract.document_sha256,
                            signing_token=None, ip="198.51.100.2", user_agent="Tandem web")


async def seed_quote_to_cash(session: AsyncSession, cast: Cast, customers: list[Customer],
                             opportunities: dict[str, Opportunity], today: date) -> None:
    impl = await create_product(session, cast.finance, ProductInput(
        code="IMPL-DAY", name="实施服务（人天）", unit="人天", default_price=Decimal("3000"), tax_rate=Decimal("6")))
    licence = await create_product(session, cast.finance, ProductInput(
        code="LIC-ERP", name="ERP 软件许可", unit="套", default_price=Decimal("120000"), tax_rate=Decimal("13")))
    support = await create_product(session, cast.finance, ProductInput(
        code="SUP-YEAR", name="Annual support", unit="year", default_price=Decimal("50000"), tax_rate=Decimal("6")))
    await create_price_book(session, cast.finance, name="CNY 标准价", currency="CNY", is_default=True, prices=[
        PriceInput(impl.id, Decimal("3000")), PriceInput(licence.id, Decimal("120000")),
        PriceInput(support.id, Decimal("50000"))])
    await create_price_book(session, cast.finance, name="USD list", currency="USD", is_default=True, prices=[
        PriceInput(impl.id, Decimal("450")), PriceInput(support.id, Decimal("7500"))])

    # quotes: a draft, one waiting for the manager (30 % off), one sent, one accepted
    await create_quote(session, cast.rep1, QuoteInput(opportunity_id=opportunities["数据中台咨询"].id, lines=[
        QuoteLineInput(product_id=impl.id, quantity=Decimal("120"), discount_percent=Decimal("5")),
        QuoteLineInput(description="差旅费（包干）", quantity=Decimal("1"), unit_price=Decimal("24000"))]))
    pending = await create_quote(session, cast.rep1, QuoteInput(
        opportunity_id=opportunities["核心系统集成"].id, lines=[
            QuoteLineInput(product_id=licence.id, quantity=Decimal("10"), discount_percent=Decimal("30")),
            QuoteLineInput(product_id=impl.id, quantity=Decimal("300"))]))
    await submit_quote(session, cast.rep1, pending.id, None)
    sent = await create_quote(session, cast.rep2, QuoteInput(
        opportunity_id=opportunities["Plant automation retrofit"].id, lines=[
            QuoteLineInput(product_id=impl.id, quantity=Decimal("140"), discount_percent=Decimal("8")),
            QuoteLineInput(product_id=support.id, quantity=Decimal("1"))]))
    await send_quote(session, cast.rep2, sent.id, None)
    mobile = opportunities["移动银行 App 改造"]
    accepted = await create_quote(session, cast.rep1, QuoteInput(opportunity_id=mobile.id, lines=[
        QuoteLineInput(description="移动银行 App 改造（固定总价，含税）", quantity=Decimal("1"),
                       unit_price=mobile.amount)]))
    await accept_quote(session, cast.rep1, accepted.id, None)

    # active, from the accepted quote: 3 installments, the first partly paid and 90+ days overdue,
    # the second unpaid and 31-60 days overdue, the third not due yet
    active = await create_contract(session, cast.rep1, ContractInput(
        quote_id=accepted.id, start_date=today - timedelta(days=150), end_date=today + timedelta(days=215),
        document=_doc("移动银行 App 改造合同")))
    await _approve(session, cast, active)
    await _sign(session, cast, active)
    plan = await set_payment_plan(session, cast.finance, active.id, [
        InstallmentInput(label="首付款 30%", due_date=today - timedelta(days=100), percent=Decimal("30")),
        InstallmentInput(label="上线验收 40%", due_date=today - timedelta(days=45), percent=Decimal("40")),
        InstallmentInput(label="质保金 30%", due_date=today + timedelta(days=60), percent=Decimal("30"))])
    first = await issue_invoice(session, cast.finance, installment_id=plan[0].id,
                                issue_date=today - timedelta(days=130), due_date=today - timedelta(days=100))
    await issue_invoice(session, cast.finance, installment_id=plan[1].id, issue_date=today - timedelta(days=75),
                        due_date=today - timedelta(days=45))
    paid = await record_payment(session, cast.finance, customer_id=active.customer_id, payer_name=None,
                                amount=Decimal("100000.00"), currency="CNY", received_on=today - timedelta(days=95),
                                method=PaymentMethod.BANK_TRANSFER, reference="浦发银行 电汇 20260826",
                                notes=None)
    await allocate_payment(session, cast.finance, paid.id, [AllocationInput(invoice_id=first.id)])

    # active and paid on time (rep2's maintenance contract), with one installment still to come
    maintenance = await create_contract(session, cast.rep2, ContractInput(
        opportunity_id=opportunities["Maintenance contract 2027"].id,
        customer_id=opportunities["Maintenance contract 2027"].customer_id, currency="CNY",
        amount=opportunities["Maintenance contract 2027"].amount, tax_rate=Decimal("6"),
        start_date=today - timedelta(days=60), end_date=today + timedelta(days=305),
        document=_doc("Maintenance contract 2027")))
    await _approve(session, cast, maintenance)
    await _sign(session, cast, maintenance)
    halves = await set_payment_plan(session, cast.finance, maintenance.id, [
        InstallmentInput(label="H1", due_date=today - timedelta(days=30), percent=Decimal("50")),
        InstallmentInput(label="H2", due_date=today + timedelta(days=150), percent=Decimal("50"))])
    h1 = await issue_invoice(session, cast.finance, installment_id=halves[0].id,
                             issue_date=today - timedelta(days=60), due_date=today - timedelta(days=30))
    on_time = await record_payment(session, cast.finance, customer_id=maintenance.customer_id, payer_name=None,
                                   amount=h1.total, currency="CNY", received_on=today - timedelta(days=33),
                                   method=PaymentMethod.BANK_TRANSFER, reference="NW-REMIT-0042", notes=None)
    await allocate_payment(session, cast.finance, on_time.id, None, automatic=True)

    # draft, pending approval (step 1 open), approved (awaiting signatures), signing (customer signed)
    await create_contract(session, cast.rep1, ContractInput(
        customer_id=customers[1].id, opportunity_id=opportunities["核心系统集成"].id, title="核心系统集成 框架合同",
        amount=Decimal("2350000.00"), tax_rate=Decimal("6"), document=_doc("核心系统集成 框架合同")))
    pending_contract = await create_contract(session, cast.rep1, ContractInput(
        customer_id=customers[0].id, opportunity_id=opportunities["ERP 实施项目 一期"].id, title="ERP 实施项目 一期",
        amount=Decimal("1200000.00"), tax_rate=Decimal("6"), document=_doc("ERP 实施项目 一期")))
    await submit_contract(session, cast.rep1, pending_contract.id, None)
    approved = await create_contract(session, cast.rep2, ContractInput(
        customer_id=customers[2].id, title="CRM 运维服务", amount=Decimal("36000.00"), tax_rate=Decimal("6"),
        document=_doc("CRM 运维服务")))
    await _approve(session, cast, approved)
    signing = await create_contract(session, cast.rep1, ContractInput(
        customer_id=customers[4].id, opportunity_id=opportunities["API gateway rollout"].id,
        title="API gateway rollout", amount=Decimal("72000.00"), tax_rate=Decimal("6"),
        document=_doc("API gateway rollout")))
    await _approve(session, cast, signing)
    await _sign(session, cast, signing, we_sign=False)

    # superseded: an active support contract amended (price up), the amendment signed
    original = await create_contract(session, cast.rep2, ContractInput(
        customer_id=customers[3].id, title="Northwind support 2026", amount=Decimal("50000.00"),
        tax_rate=Decimal("6"), start_date=today - timedelta(days=200), document=_doc("Northwind support 2026")))
    await _approve(session, cast, original)
    await _sign(session, cast, original)
    amendment = await amend_contract(session, cast.rep2, original.id, reason="增加 24×7 值守",
                                     data=ContractInput(amount=Decimal("62000.00"), document=_doc("Amendment 1"),
                                                        set_fields={"amount", "document"}))
    await _approve(session, cast, amendment)
    await _sign(session, cast, amendment)

    # terminated: the customer cancelled a pilot
    pilot = await create_contract(session, cast.rep2, ContractInput(
        customer_id=customers[2].id, title="CRM 试点", amount=Decimal("20000.00"), tax_rate=Decimal("6"),
        document=_doc("CRM 试点")))
    await _approve(session, cast, pilot)
    await _sign(session, cast, pilot)
    await terminate_contract(session, cast.manager, pilot.id, reason="客户预算取消", effective_on=today,
                             version=None)

    # an unmatched payment for finance to sort out
    await record_payment(session, cast.finance, customer_id=None, payer_name="深圳某某贸易（未识别）",
                         amount=Decimal("12000.00"), currency="CNY", received_on=today - timedelta(days=2),
                         method=PaymentMethod.BANK_TRANSFER, reference="UNKNOWN-7781", notes="附言：合同款")
