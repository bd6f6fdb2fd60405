"""The whole walk from quote to receivables on the domain services, in a fresh org of its own:
quote with a big discount → manager approves → customer accepts → contract approved step by step and
signed → plan of 3 installments → invoices → one partial payment → receivables show the aging."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tandem.domain.billing.errors import BillingErrorCode
from tandem.domain.billing.invoice import InvoiceStatus, issue_invoice
from tandem.domain.billing.payment import AllocationInput, PaymentMethod, allocate_payment, record_payment
from tandem.domain.billing.payment_plan import InstallmentInput, set_payment_plan
from tandem.domain.billing.receivable import receivables
from tandem.domain.contracts.approval import approve_step, steps_of, submit_contract
from tandem.domain.contracts.contract import ContractInput, ContractStatus, DocumentInput, create_contract
from tandem.domain.contracts.errors import ContractErrorCode
from tandem.domain.contracts.signature import request_signature, sign_contract
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity, get_opportunity
from tandem.domain.sales.errors import SalesErrorCode
from tandem.domain.sales.product import ProductInput, create_product
from tandem.domain.sales.quote import QuoteInput, QuoteLineInput, QuoteStatus, accept_quote, approve_quote, create_quote
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import ErrorCode, SharedErrorCode, ValidationFailed
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import actor_of

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.4 contract body \xe5\x90\x88\xe5\x90\x8c"


@pytest.fixture
def frozen():
    clock.set(T0)
    yield
    clock.set(None)


async def new_org_people(db: Any) -> dict[str, Actor]:
    tag = uuid.uuid4().hex[:8]
    async with db.write() as s:
        org = await create_org(s, f"Q2C {tag}", "CNY")
        manager = await create_user(s, org.id, email=f"m-{tag}@q2c.test", name="经理", roles=["sales_manager"])
        rep = await create_user(s, org.id, email=f"r-{tag}@q2c.test", name="销售", roles=["sales_rep"],
                                manager_id=manager.id)
        finance = await create_user(s, org.id, email=f"f-{tag}@q2c.test", name="财务", roles=["finance"])
    return {"manager": actor_of(manager), "rep": actor_of(rep), "finance": actor_of(finance)}


def _raises(code: ErrorCode):
    class _Check:
        def __enter__(self):
            return self

        def __exit__(self, kind, exc, tb):
            assert isinstance(exc, ValidationFailed), exc
            assert [e.code for e in exc.errors] == [code]
            return True

    return _Check()


async def test_quote_to_receivables_walk(db, frozen):
    # given a rep's opportunity and a product at 13 % VAT
    who = await new_org_people(db)
    rep, manager, finance = who["rep"], who["manager"], who["finance"]
    async with db.write() as s:
        customer = await create_customer(s, rep, CustomerInput(name="华为技术有限公司"))
        opp = await create_opportunity(s, rep, OpportunityInput(customer_id=customer.id, name="ERP 实施",
                                                                amount=Decimal("100000")))
        product = await create_product(s, manager, ProductInput(code="IMPL", name="实施服务", unit="人天",
                                                                default_price=Decimal("3000"),
                                                                tax_rate=Decimal("6")))
    # when the rep quotes 100 days at a 25 % discount
    async with db.write() as s:
        quote = await create_quote(s, rep, QuoteInput(opportunity_id=opp.id, lines=[
            QuoteLineInput(product_id=product.id, quantity=Decimal("100"), discount_percent=Decimal("25"))]))
    # then the totals are exact and the quote needs approval
    assert (quote.subtotal, quote.tax_total, quote.total) == (Decimal("225000.00"), Decimal("13500.00"),
                                                              Decimal("238500.00"))
    assert quote.needs_approval
    async with db.write() as s:
        with _raises(SalesErrorCode.DISCOUNT_NEEDS_APPROVAL):
            await accept_quote(s, rep, quote.id, None)
    async with db.write() as s:
        from tandem.domain.sales.quote import submit_quote
        await submit_quote(s, rep, quote.id, None)
    async with db.write() as s:
        with _raises(SharedErrorCode.SELF_APPROVAL):
            await approve_quote(s, rep, quote.id, None, "ok")
    async with db.write() as s:
        await approve_quote(s, manager, quote.id, None, "战略客户")
    async with db.write() as s:
        quote = await accept_quote(s, rep, quote.id, None)
    assert quote.status == QuoteStatus.ACCEPTED
    async with db.read() as s:
        assert (await get_opportunity(s, rep, opp.id)).amount == Decimal("238500.00")

    # contract from the accepted quote, approved by sales_manager then finance, signed by two parties
    async with db.write() as s:
        contract = await create_contract(s, rep, ContractInput(quote_id=quote.id, document=DocumentInput(
            name="合同.pdf", content_base64=base64.b64encode(PDF).decode())))
    assert contract.amount == Decimal("238500.00") and contract.tax_rate == Decimal("6.0000")
    assert contract.document_sha256 == hashlib.sha256(PDF).hexdigest()
    async with db.write() as s:
        await submit_contract(s, rep, contract.id, None)
    async with db.read() as s:
        first, second = (await steps_of(s, rep, [contract.id]))[contract.id]
    async with db.write() as s:
        with _raises(ContractErrorCode.APPROVAL_OUT_OF_ORDER):
            await approve_step(s, finance, contract.id, second.id, comment=None)
    async with db.write() as s:
        with _raises(SharedErrorCode.WRONG_APPROVER_ROLE):
            await approve_step(s, finance, contract.id, first.id, comment=None)
    async with db.write() as s:
        await approve_step(s, manager, contract.id, first.id, comment="同意")
    async with db.write() as s:
        contract = await approve_step(s, finance, contract.id, second.id, comment="付款条件可以")
    assert contract.status == ContractStatus.APPROVED
    async with db.write() as s:
        outside = await request_signature(s, rep, contract.id, party="customer", signer_name="张三",
                                          signer_email="zhang@huawei.test", signer_user_id=None)
        ours = await request_signature(s, rep, contract.id, party="vendor", signer_name=None, signer_email=None,
                                       signer_user_id=manager.user_id)
    async with db.write() as s:
        with _raises(ContractErrorCode.DOCUMENT_CHANGED):
            await sign_contract(s, rep, outside.request.id, document_sha256="0" * 64,
                                signing_token=outside.signing_token, ip="10.0.0.1", user_agent="pytest")
    async with db.write() as s:
        await sign_contract(s, rep, outside.request.id, document_sha256=contract.document_sha256,
                            signing_token=outside.signing_token, ip="10.0.0.1", user_agent="pytest")
    async with db.write() as s:
        with _raises(ContractErrorCode.ALREADY_SIGNED):
            await sign_contract(s, rep, outside.request.id, document_sha256=contract.document_sha256,
                                signing_token=outside.signing_token, ip="10.0.0.1", user_agent="pytest")
    async with db.write() as s:
        await sign_contract(s, manager, ours.request.id, document_sha256=contract.document_sha256,
                            signing_token=None, ip="10.0.0.2", user_agent="pytest")
    async with db.read() as s:
        from tandem.domain.contracts.contract import get_contract
        contract = await get_contract(s, rep, contract.id)
    assert contract.status == ContractStatus.ACTIVE

    # a plan of 3 installments by percentage: the remainder lands on the last
    async with db.write() as s:
        with _raises(BillingErrorCode.INSTALLMENTS_MISMATCH):
            await set_payment_plan(s, finance, contract.id, [
                InstallmentInput(label="首付", due_date=date(2026, 6, 1), amount=Decimal("100000")),
                InstallmentInput(label="尾款", due_date=date(2026, 7, 1), amount=Decimal("100000"))])
    async with db.write() as s:
        plan = await set_payment_plan(s, finance, contract.id, [
            InstallmentInput(label="首付 30%", due_date=date(2026, 3, 1), percent=Decimal("33.33")),
            InstallmentInput(label="验收 30%", due_date=date(2026, 5, 1), percent=Decimal("33.33")),
            InstallmentInput(label="尾款", due_date=date(2026, 9, 1), percent=Decimal("33.34"))])
    assert [i.amount for i in plan] == [Decimal("79492.05"), Decimal("79492.05"), Decimal("79515.90")]
    assert sum(i.amount for i in plan) == contract.amount

    # invoices for the first two (issued in the past: 92 and 31 days overdue on T0), one partial payment
    async with db.write() as s:
        first_invoice = await issue_invoice(s, finance, installment_id=plan[0].id, issue_date=date(2026, 2, 1),
                                            due_date=date(2026, 3, 1))
        second_invoice = await issue_invoice(s, finance, installment_id=plan[1].id, issue_date=date(2026, 4, 1),
                                             due_date=date(2026, 5, 1))
    assert first_invoice.number and second_invoice.number
    assert int(second_invoice.number.split("-")[1]) == int(first_invoice.number.split("-")[1]) + 1
    async with db.write() as s:
        payment = await record_payment(s, finance, customer_id=customer.id, payer_name=None,
                                       amount=Decimal("50000"), currency="CNY", received_on=date(2026, 5, 20),
                                       method=PaymentMethod.BANK_TRANSFER, reference="BANK-001", notes=None)
        with _raises(BillingErrorCode.EXCEEDS_PAYMENT):
            await allocate_payment(s, finance, payment.id, [AllocationInput(invoice_id=first_invoice.id,
                                                                            amount=Decimal("60000"))])
    async with db.write() as s:
        await allocate_payment(s, finance, payment.id, None, automatic=True)
    async with db.read() as s:
        from tandem.domain.billing.invoice import get_invoice
        first_invoice = await get_invoice(s, finance, first_invoice.id)
        figures = await receivables(s, finance, customer_id=customer.id, currency="CNY")
    assert first_invoice.status == InvoiceStatus.PARTIALLY_PAID
    assert first_invoice.outstanding == Decimal("29492.05")
    # then: 29,492.05 is 92 days overdue (over 90), 79,492.05 is 31 days overdue (31–60)
    assert figures.outstanding == Decimal("108984.10")
    assert (figures.aging.current, figures.aging.days_1_30, figures.aging.days_31_60, figures.aging.days_61_90,
            figures.aging.over_90) == (Decimal(0), Decimal(0), Decimal("79492.05"), Decimal(0),
                                       Decimal("29492.05"))
    assert figures.on_time_rate == Decimal(0)
    assert figures.dso is not None
