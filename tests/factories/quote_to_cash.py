"""Quote-to-cash records built through the domain services: a fresh org of its own per test (a ``World``, so
outbox counts and document numbers start from nothing), and products, quotes, contracts (approved, signed),
payment plans and issued invoices in it."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tandem.domain.billing.invoice import Invoice, issue_invoice
from tandem.domain.billing.payment_plan import Installment, InstallmentInput, set_payment_plan
from tandem.domain.contracts.approval import approve_step, steps_of, submit_contract
from tandem.domain.contracts.contract import Contract, ContractInput, DocumentInput, create_contract, get_contract
from tandem.domain.contracts.signature import request_signature, sign_contract
from tandem.domain.crm.customer import Customer, CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import Opportunity, OpportunityInput, create_opportunity
from tandem.domain.sales.product import Product, ProductInput, create_product
from tandem.domain.sales.quote import Quote, QuoteInput, QuoteLineInput, accept_quote, create_quote
from tandem.domain.shared.actor import Actor
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import actor_of

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TODAY = T0.date()
PDF = "%PDF-1.4 合同正文 v1".encode()
PDF_V2 = "%PDF-1.4 合同正文 v2".encode()


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def document(content: bytes = PDF, name: str = "合同.pdf") -> DocumentInput:
    return DocumentInput(name=name, content_base64=b64(content))


@dataclass
class World:
    """One org: vp ← manager ← rep and peer (sales), an unrelated manager, finance, an admin; a customer
    and an opportunity owned by the rep; a product at 1,000 CNY + 6 % tax."""

    org_id: int
    admin: Actor
    vp: Actor
    manager: Actor
    rep: Actor
    peer: Actor
    other_manager: Actor
    finance: Actor
    customer: Customer
    opportunity: Opportunity
    product: Product


async def new_world(db: Any, *, currency: str = "CNY") -> World:
    tag = uuid.uuid4().hex[:10]
    async with db.write() as s:
        org = await create_org(s, f"Q2C {tag}", currency)

        async def user(key: str, roles: list[str], manager_id: int | None = None) -> Actor:
            u = await create_user(s, org.id, email=f"{key}-{tag}@q2c.test", name=key, roles=roles,
                                  manager_id=manager_id)
            return actor_of(u)

        admin = await user("admin", ["admin"])
        vp = await user("vp", ["sales_manager"])
        manager = await user("manager", ["sales_manager"], vp.user_id)
        rep = await user("rep", ["sales_rep"], manager.user_id)
        peer = await user("peer", ["sales_rep"], manager.user_id)
        other_manager = await user("other", ["sales_manager"])
        finance = await user("finance", ["finance"])
        customer = await create_customer(s, rep, CustomerInput(name=f"客户 {tag}"))
        opportunity = await create_opportunity(s, rep, OpportunityInput(customer_id=customer.id, name="ERP 实施",
                                                                        amount=Decimal("50000")))
        product = await create_product(s, manager, ProductInput(code="IMPL", name="实施服务", unit="人天",
                                                                default_price=Decimal("1000"),
                                                                tax_rate=Decimal("6")))
    return World(org.id, admin, vp, manager, rep, peer, other_manager, finance, customer, opportunity, product)


async def new_product(db: Any, world: World, **overrides: Any) -> Product:
    data = {"code": f"P-{uuid.uuid4().hex[:8]}", "name": "咨询", "unit": "人天", "default_price": Decimal("100"),
            "tax_rate": Decimal("0"), **overrides}
    async with db.write() as s:
        return await create_product(s, world.manager, ProductInput(**data))


def quote_line(product: Product | None = None, **overrides: Any) -> QuoteLineInput:
    return QuoteLineInput(product_id=product.id if product else None, **{"quantity": Decimal("1"), **overrides})


async def new_quote(db: Any, world: World, *lines: QuoteLineInput, by: Actor | None = None,
                    opportunity_id: int | None = None, **overrides: Any) -> Quote:
    async with db.write() as s:
        return await create_quote(s, by or world.rep, QuoteInput(
            opportunity_id=opportunity_id or world.opportunity.id,
            lines=list(lines) or [quote_line(world.product, quantity=Decimal("10"))], **overrides))


async def accepted_quote(db: Any, world: World, *lines: QuoteLineInput, **overrides: Any) -> Quote:
    quote = await new_quote(db, world, *lines, **overrides)
    async with db.write() as s:
        return await accept_quote(s, world.rep, quote.id, None)


async def new_contract(db: Any, world: World, *, by: Actor | None = None, **overrides: Any) -> Contract:
    """A draft contract straight for the world's customer, with its document attached."""
    data = {"customer_id": world.customer.id, "title": "实施合同", "amount": Decimal("100000"),
            "tax_rate": Decimal("6"), "document": document(), **overrides}
    async with db.write() as s:
        return await create_contract(s, by or world.rep, ContractInput(**data))


async def approved(db: Any, world: World, contract: Contract) -> Contract:
    """Submitted and approved by every step of the default flow (sales_manager, then finance)."""
    async with db.write() as s:
        await submit_contract(s, world.rep, contract.id, None)
    async with db.read() as s:
        steps = (await steps_of(s, world.rep, [contract.id]))[contract.id]
    open_round = [step for step in steps if step.status in ("pending", "waiting")]
    deciders = {"sales_manager": world.manager, "finance": world.finance}
    for step in open_round:
        async with db.write() as s:
            contract = await approve_step(s, deciders[step.role], contract.id, step.id, comment=None)
    return contract


async def signed(db: Any, world: World, contract: Contract) -> Contract:
    """Signed by the vendor (the manager, signed in) and the customer (outside, by token): active."""
    async with db.write() as s:
        outside = await request_signature(s, world.rep, contract.id, party="customer", signer_name="张三",
                                          signer_email="zhang@customer.test", signer_user_id=None)
        ours = await request_signature(s, world.rep, contract.id, party="vendor", signer_name=None, signer_email=None,
                                       signer_user_id=world.manager.user_id)
    async with db.write() as s:
        await sign_contract(s, world.rep, outside.request.id, document_sha256=contract.document_sha256,
                            signing_token=outside.signing_token, ip="10.0.0.1", user_agent="pytest")
    async with db.write() as s:
        await sign_contract(s, world.manager, ours.request.id, document_sha256=contract.document_sha256,
                            signing_token=None, ip="10.0.0.2", user_agent="pytest")
    async with db.read() as s:
        return await get_contract(s, world.rep, contract.id)


async def active_contract(db: Any, world: World, **overrides: Any) -> Contract:
    contract = await new_contract(db, world, **overrides)
    return await signed(db, world, await approved(db, world, contract))


async def planned(db: Any, world: World, contract: Contract, *installments: InstallmentInput,
                  auto_invoice: bool = False) -> list[Installment]:
    async with db.write() as s:
        return await set_payment_plan(s, world.finance, contract.id, list(installments), auto_invoice=auto_invoice)


async def billed(db: Any, world: World, *rows: tuple[Decimal, date, date], currency: str | None = None,
                 tax_rate: Decimal = Decimal("0")) -> list[Invoice]:
    """Issued invoices, one per (amount, issue date, due date), from one active contract whose plan
    has one installment each."""
    overrides: dict[str, Any] = {"amount": sum((r[0] for r in rows), Decimal(0)), "tax_rate": tax_rate}
    if currency is not None:
        overrides["currency"] = currency
    contract = await active_contract(db, world, **overrides)
    plan = await planned(db, world, contract, *[InstallmentInput(label=f"第{n + 1}期", due_date=due, amount=amount)
                                                for n, (amount, _, due) in enumerate(rows)])
    out = []
    for installment, (_, issued_on, due) in zip(plan, rows, strict=True):
        async with db.write() as s:
            out.append(await issue_invoice(s, world.finance, installment_id=installment.id, issue_date=issued_on,
                                           due_date=due))
    return out


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)
