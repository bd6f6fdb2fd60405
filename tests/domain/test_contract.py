"""Contracts on the domain services: creation (from an accepted quote or directly), the document and its
hash, the approval flow by role, e-signature, edits and amendments; each test in an org of its own."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.contracts.approval import (
    ContractApprovalStep,
    approve_step,
    reject_step,
    set_approval_flow,
    steps_of,
    submit_contract,
)
from tandem.domain.contracts.contract import (
    Contract,
    ContractInput,
    DocumentInput,
    amend_contract,
    create_contract,
    document_of,
    update_contract,
)
from tandem.domain.contracts.errors import ContractErrorCode
from tandem.domain.contracts.signature import SignatureRequest, request_signature, sign_contract, signatures_of
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.sales.errors import SalesErrorCode
from tandem.domain.sales.quote import send_quote
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import NotFound, SharedErrorCode, ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent
from tests.conftest import PG_URL
from tests.factories.checks import count, fails, outbox_count, reload, waiting_on_locks
from tests.factories.quote_to_cash import (
    PDF,
    PDF_V2,
    T0,
    World,
    accepted_quote,
    active_contract,
    approved,
    b64,
    document,
    new_contract,
    new_quote,
    new_world,
    signed,
)
from tests.factories.waiting import eventually


@pytest.fixture(autouse=True)
def frozen():
    clock.set(T0)
    yield
    clock.set(None)


async def state(db, contract: Contract) -> tuple[str, int]:
    stored = await reload(db, Contract, contract.id)
    return stored.status, stored.version


async def steps(db, world: World, contract: Contract) -> list[ContractApprovalStep]:
    async with db.read() as s:
        return (await steps_of(s, world.rep, [contract.id]))[contract.id]


async def submitted(db, world: World, **overrides) -> Contract:
    contract = await new_contract(db, world, **overrides)
    async with db.write() as s:
        return await submit_contract(s, world.rep, contract.id, None)


async def outside_signer(db, world: World, contract: Contract):
    async with db.write() as s:
        return await request_signature(s, world.rep, contract.id, party="customer", signer_name="李四",
                                       signer_email="li@customer.test", signer_user_id=None)


# --- creation -----------------------------------------------------------------------------------


async def test_contract_from_an_accepted_quote_follows_the_quote(db):
    # given a quote of 10 days at 1,000 + 6 %, accepted
    world = await new_world(db)
    quote = await accepted_quote(db, world)
    # when
    async with db.write() as s:
        contract = await create_contract(s, world.rep, ContractInput(quote_id=quote.id, document=document()))
    # then
    stored = await reload(db, Contract, contract.id)
    assert (stored.number, stored.status, stored.customer_id, stored.opportunity_id, stored.quote_id,
            stored.owner_id, stored.title) == ("C-000001", "draft", world.customer.id, world.opportunity.id, quote.id,
                                               world.rep.user_id, "ERP 实施")
    assert (stored.amount, stored.currency, stored.tax_rate) == (Decimal("10600"), "CNY", Decimal("6"))
    assert (stored.document_name, stored.document_size, stored.document_sha256) == (
        "合同.pdf", len(PDF), hashlib.sha256(PDF).hexdigest())
    assert [p["role"] for p in stored.parties] == ["customer", "vendor"]
    async with db.read() as s:
        _, content = await document_of(s, world.rep, contract.id)
    assert content == PDF


@pytest.mark.parametrize("reach", ["draft", "sent"])
async def test_contract_from_a_quote_not_accepted_is_refused_and_nothing_is_written(db, reach):
    # given
    world = await new_world(db)
    quote = await new_quote(db, world)
    if reach == "sent":
        async with db.write() as s:
            await send_quote(s, world.rep, quote.id, None)
    before = await outbox_count(db, world.org_id)
    # when
    with fails(ContractErrorCode.QUOTE_NOT_ACCEPTED):
        async with db.write() as s:
            await create_contract(s, world.rep, ContractInput(quote_id=quote.id, document=document()))
    # then
    assert await count(db, Contract, Contract.org_id == world.org_id) == 0
    assert await outbox_count(db, world.org_id) == before
    # and no contract number was used up
    assert (await new_contract(db, world)).number == "C-000001"


async def test_contract_in_another_currency_than_its_quote_is_a_mismatch(db):
    # given
    world = await new_world(db)
    quote = await accepted_quote(db, world)
    # when / then
    with fails(SharedErrorCode.CURRENCY_MISMATCH):
        async with db.write() as s:
            await create_contract(s, world.rep, ContractInput(quote_id=quote.id, currency="USD"))
    assert await count(db, Contract, Contract.org_id == world.org_id) == 0


async def test_contract_with_an_opportunity_of_another_customer_is_mismatched(db):
    # given an opportunity of another customer
    world = await new_world(db)
    async with db.write() as s:
        other = await create_customer(s, world.rep, CustomerInput(name="别的客户"))
        opp = await create_opportunity(s, world.rep, OpportunityInput(customer_id=other.id, name="别的"))
    # when / then
    with fails(SharedErrorCode.MISMATCHED_RECORD):
        await new_contract(db, world, opportunity_id=opp.id)
    assert await count(db, Contract, Contract.org_id == world.org_id) == 0


@pytest.mark.parametrize(("overrides", "field", "code"), [
    ({"amount": None}, ("amount",), SharedErrorCode.REQUIRED),
    ({"amount": Decimal("-1")}, ("amount",), SharedErrorCode.INVALID_AMOUNT),
    ({"amount": Decimal("100.001")}, ("amount",), SharedErrorCode.INVALID_AMOUNT),
    ({"amount": Decimal("100.5"), "currency": "JPY"}, ("amount",), SharedErrorCode.INVALID_AMOUNT),
    ({"currency": "EURO"}, ("currency",), SharedErrorCode.INVALID_CURRENCY),
    ({"tax_rate": Decimal("100.5")}, ("taxRate",), SalesErrorCode.INVALID_TAX_RATE),
    ({"start_date": date(2026, 7, 1), "end_date": date(2026, 6, 30)}, ("endDate",),
     SharedErrorCode.INVALID_DATE_RANGE),
    ({"title": ""}, ("title",), SharedErrorCode.REQUIRED),
    ({"document": DocumentInput(name="合同.pdf", content_base64="not base64!")}, ("document", "contentBase64"),
     SharedErrorCode.INVALID),
    ({"document": DocumentInput(name="合同.pdf", content_base64="")}, ("document", "contentBase64"),
     SharedErrorCode.REQUIRED),
    ({"document": DocumentInput(name=None, content_base64=b64(PDF))}, ("document", "name"),
     SharedErrorCode.REQUIRED),
])
async def test_bad_contract_input_is_refused_with_its_code_and_nothing_is_written(db, overrides, field, code):
    # given
    world = await new_world(db)
    before = await outbox_count(db, world.org_id)
    # when
    with pytest.raises(ValidationFailed) as info:
        await new_contract(db, world, **overrides)
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(field, code)]
    assert await count(db, Contract, Contract.org_id == world.org_id) == 0
    assert await outbox_count(db, world.org_id) == before


async def test_contract_of_another_orgs_customer_is_not_found(db):
    # given
    world = await new_world(db)
    other = await new_world(db)
    # when / then
    with pytest.raises(NotFound):
        await new_contract(db, world, customer_id=other.customer.id)
    assert await count(db, Contract, Contract.org_id == world.org_id) == 0


# --- submission and approval --------------------------------------------------------------------


async def test_submitting_without_a_document_is_refused_and_nothing_is_written(db):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world, document=None)
    before = await outbox_count(db, world.org_id)
    # when
    with fails(ContractErrorCode.DOCUMENT_REQUIRED):
        async with db.write() as s:
            await submit_contract(s, world.rep, contract.id, None)
    # then
    stored = await reload(db, Contract, contract.id)
    assert (stored.status, stored.approval_round, stored.version) == ("draft", 0, contract.version)
    assert await steps(db, world, contract) == []
    assert await outbox_count(db, world.org_id) == before


async def test_submitting_a_contract_of_nothing_is_refused(db):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world, amount=Decimal("0"))
    # when / then
    with fails(SharedErrorCode.INVALID_AMOUNT):
        async with db.write() as s:
            await submit_contract(s, world.rep, contract.id, None)
    assert await state(db, contract) == ("draft", contract.version)


async def test_submitting_opens_the_default_flow_and_tells_the_first_approver(db):
    # given / when
    world = await new_world(db)
    contract = await submitted(db, world)
    # then
    assert [(x.round, x.position, x.role, x.status) for x in await steps(db, world, contract)] == [
        (1, 1, "sales_manager", "pending"), (1, 2, "finance", "waiting")]
    async with db.read() as s:
        event = await s.scalar(select(OutboxEvent).where(OutboxEvent.org_id == world.org_id,
                                                         OutboxEvent.topic == "contract.submitted"))
    assert event.audience == [world.manager.user_id]


async def test_a_pending_contract_cannot_be_submitted_again(db):
    # given
    world = await new_world(db)
    contract = await submitted(db, world)
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await submit_contract(s, world.rep, contract.id, None)
    assert len(await steps(db, world, contract)) == 2


async def test_steps_are_approved_in_order_by_their_roles(db):
    # given
    world = await new_world(db)
    contract = await submitted(db, world)
    first, second = await steps(db, world, contract)
    # when
    async with db.write() as s:
        after_first = await approve_step(s, world.manager, contract.id, first.id, comment="同意")
    async with db.write() as s:
        after_second = await approve_step(s, world.finance, contract.id, second.id, comment=None)
    # then
    assert (after_first.status, after_second.status, after_second.approved_at) == (
        "pending_approval", "approved", T0)
    assert [(x.status, x.decided_by_id, x.comment) for x in await steps(db, world, contract)] == [
        ("approved", world.manager.user_id, "同意"), ("approved", world.finance.user_id, None)]
    assert await outbox_count(db, world.org_id, "contract.approved") == 1


async def test_approving_out_of_order_is_refused_and_nothing_is_written(db):
    # given
    world = await new_world(db)
    contract = await submitted(db, world)
    first, second = await steps(db, world, contract)
    before = await outbox_count(db, world.org_id)
    # when finance decides before the sales manager
    for act in (approve_step, reject_step):
        with fails(ContractErrorCode.APPROVAL_OUT_OF_ORDER):
            async with db.write() as s:
                kw = {"comment": None} if act is approve_step else {"reason": "no"}
                await act(s, world.finance, contract.id, second.id, **kw)
    # then
    assert [x.status for x in await steps(db, world, contract)] == ["pending", "waiting"]
    assert await state(db, contract) == ("pending_approval", contract.version)
    assert await outbox_count(db, world.org_id) == before


async def test_a_decided_step_cannot_be_decided_again(db):
    # given
    world = await new_world(db)
    contract = await submitted(db, world)
    first, _ = await steps(db, world, contract)
    async with db.write() as s:
        await approve_step(s, world.manager, contract.id, first.id, comment=None)
    # when / then
    with fails(ContractErrorCode.APPROVAL_OUT_OF_ORDER):
        async with db.write() as s:
            await approve_step(s, world.vp, contract.id, first.id, comment=None)
    assert [(x.status, x.decided_by_id) for x in await steps(db, world, contract)] == [
        ("approved", world.manager.user_id), ("pending", None)]


@pytest.mark.parametrize("who", ["finance", "peer", "admin"])
async def test_a_step_is_decided_only_by_its_role(db, who):
    # given
    world = await new_world(db)
    contract = await submitted(db, world)
    first, _ = await steps(db, world, contract)
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(SharedErrorCode.WRONG_APPROVER_ROLE):
        async with db.write() as s:
            await approve_step(s, getattr(world, who), contract.id, first.id, comment=None)
    assert [x.status for x in await steps(db, world, contract)] == ["pending", "waiting"]
    assert await outbox_count(db, world.org_id) == before


@pytest.mark.parametrize("relation", ["owner", "author"])
async def test_a_manager_cannot_approve_a_contract_they_own_or_wrote(db, relation):
    # given a contract the manager owns (written by the rep) or wrote (owned by the rep)
    world = await new_world(db)
    if relation == "owner":
        contract = await new_contract(db, world, owner_id=world.manager.user_id)
    else:
        contract = await new_contract(db, world, by=world.manager)
    async with db.write() as s:
        await submit_contract(s, world.rep, contract.id, None)
    first, _ = await steps(db, world, contract)
    # when / then
    with fails(SharedErrorCode.SELF_APPROVAL):
        async with db.write() as s:
            await approve_step(s, world.manager, contract.id, first.id, comment=None)
    assert [x.status for x in await steps(db, world, contract)] == ["pending", "waiting"]
    # and another sales manager may
    async with db.write() as s:
        await approve_step(s, world.vp, contract.id, first.id, comment=None)


async def test_rejection_sends_the_contract_back_to_draft_and_resubmission_opens_a_new_round(db):
    # given the first step approved
    world = await new_world(db)
    contract = await submitted(db, world)
    first, second = await steps(db, world, contract)
    async with db.write() as s:
        await approve_step(s, world.manager, contract.id, first.id, comment=None)
    # when finance rejects
    async with db.write() as s:
        rejected = await reject_step(s, world.finance, contract.id, second.id, reason="付款条件不可接受")
    # then
    assert rejected.status == "draft"
    assert [(x.status, x.comment) for x in await steps(db, world, contract)] == [
        ("approved", None), ("rejected", "付款条件不可接受")]
    # when resubmitted
    async with db.write() as s:
        again = await submit_contract(s, world.rep, contract.id, None)
    # then a fresh round starts at the first step
    assert again.approval_round == 2
    assert [(x.round, x.role, x.status) for x in await steps(db, world, contract)] == [
        (1, "sales_manager", "approved"), (1, "finance", "rejected"),
        (2, "sales_manager", "pending"), (2, "finance", "waiting")]
    # and the old round's steps are closed
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await approve_step(s, world.manager, contract.id, first.id, comment=None)


async def test_rejection_at_the_first_step_cancels_the_waiting_ones(db):
    # given
    world = await new_world(db)
    contract = await submitted(db, world)
    first, _ = await steps(db, world, contract)
    # when
    async with db.write() as s:
        await reject_step(s, world.manager, contract.id, first.id, reason="金额有误")
    # then
    assert [x.status for x in await steps(db, world, contract)] == ["rejected", "cancelled"]
    assert (await reload(db, Contract, contract.id)).status == "draft"


@pytest.mark.parametrize("reason", [None, "", "  "])
async def test_rejection_needs_a_reason(db, reason):
    # given
    world = await new_world(db)
    contract = await submitted(db, world)
    first, _ = await steps(db, world, contract)
    # when / then
    with fails(SharedErrorCode.REASON_REQUIRED):
        async with db.write() as s:
            await reject_step(s, world.manager, contract.id, first.id, reason=reason)
    assert [x.status for x in await steps(db, world, contract)] == ["pending", "waiting"]


async def test_an_orgs_own_flow_decides_the_steps(db):
    # given finance alone approves
    world = await new_world(db)
    async with db.write() as s:
        await set_approval_flow(s, world.admin, ["finance"])
    contract = await submitted(db, world)
    [only] = await steps(db, world, contract)
    # when
    async with db.write() as s:
        result = await approve_step(s, world.finance, contract.id, only.id, comment=None)
    # then
    assert (only.role, result.status) == ("finance", "approved")


@pytest.mark.parametrize(("flow", "field", "code"), [
    ([], ("steps",), SharedErrorCode.REQUIRED),
    (["finance", "cfo"], ("steps", "1"), SharedErrorCode.INVALID),
])
async def test_bad_flow_is_refused(db, flow, field, code):
    # given
    world = await new_world(db)
    # when
    with pytest.raises(ValidationFailed) as info:
        async with db.write() as s:
            await set_approval_flow(s, world.admin, flow)
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [(field, code)]


# --- edits ----------------------------------------------------------------------------------------


async def test_a_draft_is_edited_and_its_new_document_rehashed(db):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world)
    # when
    async with db.write() as s:
        await update_contract(s, world.rep, contract.id, contract.version, ContractInput(
            amount=Decimal("120000"), document=document(PDF_V2, "合同 v2.pdf"), set_fields={"amount", "document"}))
    # then
    stored = await reload(db, Contract, contract.id)
    assert (stored.amount, stored.document_name, stored.document_sha256, stored.version) == (
        Decimal("120000"), "合同 v2.pdf", hashlib.sha256(PDF_V2).hexdigest(), contract.version + 1)


async def test_a_contract_being_approved_cannot_be_edited(db):
    # given
    world = await new_world(db)
    contract = await submitted(db, world)
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await update_contract(s, world.rep, contract.id, contract.version,
                                  ContractInput(amount=Decimal("1"), set_fields={"amount"}))
    assert (await reload(db, Contract, contract.id)).amount == Decimal("100000")


async def test_editing_an_approved_contract_sends_it_back_to_draft_and_cancels_open_signing(db):
    # given an approved contract with a signing request out
    world = await new_world(db)
    contract = await approved(db, world, await new_contract(db, world))
    requested = await outside_signer(db, world, contract)
    # when
    async with db.write() as s:
        await update_contract(s, world.rep, contract.id, contract.version,
                              ContractInput(terms="付款 30 天", set_fields={"terms"}))
    # then
    stored = await reload(db, Contract, contract.id)
    assert (stored.status, stored.approved_at, stored.terms) == ("draft", None, "付款 30 天")
    request = await reload(db, SignatureRequest, requested.request.id)
    assert (request.status, request.token_sha256) == ("cancelled", None)
    # and the cancelled request cannot be signed
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await sign_contract(s, world.rep, requested.request.id, document_sha256=contract.document_sha256,
                                signing_token=requested.signing_token, ip=None, user_agent=None)


@pytest.mark.parametrize("reach", ["signing", "active"])
async def test_a_signed_contract_cannot_be_edited_or_resubmitted(db, reach):
    # given
    world = await new_world(db)
    contract = await approved(db, world, await new_contract(db, world))
    if reach == "signing":
        requested = await outside_signer(db, world, contract)
        await outside_signer(db, world, contract)
        async with db.write() as s:
            await sign_contract(s, world.rep, requested.request.id, document_sha256=contract.document_sha256,
                                signing_token=requested.signing_token, ip=None, user_agent=None)
    else:
        contract = await signed(db, world, contract)
    status, version = await state(db, contract)
    assert status == reach
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(ContractErrorCode.CONTRACT_SIGNED):
        async with db.write() as s:
            await update_contract(s, world.rep, contract.id, version, ContractInput(
                document=document(PDF_V2), set_fields={"document"}))
    with fails(ContractErrorCode.CONTRACT_SIGNED):
        async with db.write() as s:
            await submit_contract(s, world.rep, contract.id, None)
    stored = await reload(db, Contract, contract.id)
    assert (stored.status, stored.version, stored.document_sha256) == (
        reach, version, hashlib.sha256(PDF).hexdigest())
    assert await outbox_count(db, world.org_id) == before


# --- signatures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reach", ["draft", "pending_approval"])
async def test_signing_cannot_be_requested_before_approval(db, reach):
    # given
    world = await new_world(db)
    contract = await (submitted(db, world) if reach == "pending_approval" else new_contract(db, world))
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(SharedErrorCode.NOT_APPROVED):
        await outside_signer(db, world, contract)
    assert await count(db, SignatureRequest, SignatureRequest.contract_id == contract.id) == 0
    assert await outbox_count(db, world.org_id) == before


async def test_first_signature_freezes_the_contract_and_the_last_makes_it_active(db):
    # given
    world = await new_world(db)
    contract = await approved(db, world, await new_contract(db, world))
    outside = await outside_signer(db, world, contract)
    async with db.write() as s:
        ours = await request_signature(s, world.rep, contract.id, party="vendor", signer_name=None,
                                       signer_email=None, signer_user_id=world.vp.user_id)
    # then the outside signer got a token and only its hash is kept; the user signs signed in
    assert outside.signing_token and ours.signing_token is None
    assert outside.request.token_sha256 == hashlib.sha256(outside.signing_token.encode()).hexdigest()
    assert (ours.request.signer_name, ours.request.signer_email) == ("vp", world.vp.email)
    # when the customer signs (the hash given in upper case)
    async with db.write() as s:
        await sign_contract(s, world.rep, outside.request.id, document_sha256=contract.document_sha256.upper(),
                            signing_token=outside.signing_token, ip="203.0.113.9", user_agent="Mozilla/5.0")
    # then
    assert (await reload(db, Contract, contract.id)).status == "signing"
    done = await reload(db, SignatureRequest, outside.request.id)
    assert (done.status, done.signed_at, done.signed_ip, done.signed_user_agent, done.signed_document_sha256,
            done.token_sha256) == ("signed", T0, "203.0.113.9", "Mozilla/5.0", contract.document_sha256, None)
    # when we sign
    async with db.write() as s:
        await sign_contract(s, world.vp, ours.request.id, document_sha256=contract.document_sha256,
                            signing_token=None, ip=None, user_agent=None)
    # then
    stored = await reload(db, Contract, contract.id)
    assert (stored.status, stored.activated_at) == ("active", T0)
    assert await outbox_count(db, world.org_id, "contract.activated") == 1


async def test_signing_twice_is_already_signed(db):
    # given
    world = await new_world(db)
    contract = await approved(db, world, await new_contract(db, world))
    outside = await outside_signer(db, world, contract)
    await outside_signer(db, world, contract)
    async with db.write() as s:
        await sign_contract(s, world.rep, outside.request.id, document_sha256=contract.document_sha256,
                            signing_token=outside.signing_token, ip="10.0.0.1", user_agent=None)
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(ContractErrorCode.ALREADY_SIGNED):
        async with db.write() as s:
            await sign_contract(s, world.rep, outside.request.id, document_sha256=contract.document_sha256,
                                signing_token=outside.signing_token, ip="10.0.0.2", user_agent=None)
    assert (await reload(db, SignatureRequest, outside.request.id)).signed_ip == "10.0.0.1"
    assert await outbox_count(db, world.org_id) == before


@pytest.mark.parametrize("token", [None, "", "guessed-token", "other"])
async def test_outside_signer_with_a_bad_token_is_not_the_signer(db, token):
    # given two outside requests
    world = await new_world(db)
    contract = await approved(db, world, await new_contract(db, world))
    mine = await outside_signer(db, world, contract)
    other = await outside_signer(db, world, contract)
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(ContractErrorCode.NOT_SIGNER):
        async with db.write() as s:
            await sign_contract(s, world.rep, mine.request.id, document_sha256=contract.document_sha256,
                                signing_token=other.signing_token if token == "other" else token, ip=None,
                                user_agent=None)
    assert (await reload(db, SignatureRequest, mine.request.id)).status == "pending"
    assert await state(db, contract) == ("approved", contract.version)
    assert await outbox_count(db, world.org_id) == before


async def test_only_the_named_user_signs_for_us(db):
    # given
    world = await new_world(db)
    contract = await approved(db, world, await new_contract(db, world))
    async with db.write() as s:
        ours = await request_signature(s, world.rep, contract.id, party="vendor", signer_name=None, signer_email=None,
                                       signer_user_id=world.vp.user_id)
    # when / then: someone else, even an admin
    for who in (world.rep, world.admin):
        with fails(ContractErrorCode.NOT_SIGNER):
            async with db.write() as s:
                await sign_contract(s, who, ours.request.id, document_sha256=contract.document_sha256,
                                    signing_token=None, ip=None, user_agent=None)
    assert (await reload(db, SignatureRequest, ours.request.id)).status == "pending"


async def test_signing_a_document_other_than_the_current_one_is_refused(db):
    # given the customer saw version 1, then the contract went back for version 2 and was approved again
    world = await new_world(db)
    contract = await approved(db, world, await new_contract(db, world))
    seen = contract.document_sha256
    async with db.write() as s:
        contract = await update_contract(s, world.rep, contract.id, contract.version, ContractInput(
            document=document(PDF_V2), set_fields={"document"}))
    contract = await approved(db, world, contract)
    outside = await outside_signer(db, world, contract)
    before = await outbox_count(db, world.org_id)
    # when / then
    for digest in (seen, None, "0" * 64):
        with fails(ContractErrorCode.DOCUMENT_CHANGED):
            async with db.write() as s:
                await sign_contract(s, world.rep, outside.request.id, document_sha256=digest,
                                    signing_token=outside.signing_token, ip=None, user_agent=None)
    assert (await reload(db, SignatureRequest, outside.request.id)).status == "pending"
    assert await outbox_count(db, world.org_id) == before
    # and version 2 signs
    async with db.write() as s:
        await sign_contract(s, world.rep, outside.request.id, document_sha256=hashlib.sha256(PDF_V2).hexdigest(),
                            signing_token=outside.signing_token, ip=None, user_agent=None)


@pytest.mark.skipif(not PG_URL, reason="needs concurrent write transactions (PostgreSQL); SQLite has one writer")
async def test_a_signature_racing_an_edit_waits_for_it_and_is_refused_instead_of_deadlocking(db):
    # given an approved contract with a signing request out, and the contract busy
    world = await new_world(db)
    contract = await approved(db, world, await new_contract(db, world))
    outside = await outside_signer(db, world, contract)

    async def edit() -> Contract:
        async with db.write() as s:
            return await update_contract(s, world.rep, contract.id, contract.version,
                                         ContractInput(terms="付款 45 天", set_fields={"terms"}))

    async def sign() -> SignatureRequest:
        async with db.write() as s:
            return await sign_contract(s, world.rep, outside.request.id, document_sha256=contract.document_sha256,
                                       signing_token=outside.signing_token, ip=None, user_agent=None)

    async with db.write() as s:
        await s.scalar(select(Contract).where(Contract.id == contract.id).with_for_update())
        editing = asyncio.create_task(edit())
        await eventually(lambda: waiting_on_locks(db, 1), what="the edit to wait on the contract's lock")
        signing = asyncio.create_task(sign())
        await eventually(lambda: waiting_on_locks(db, 2), what="the signature to wait behind the edit")
    # when the edit (first in line) and the signature go ahead
    edited, refused = await asyncio.gather(editing, signing, return_exceptions=True)
    # then the edit wins, and the signature is told its request was cancelled
    assert isinstance(edited, Contract), edited
    assert isinstance(refused, ValidationFailed), refused
    assert [e.code for e in refused.errors] == [SharedErrorCode.INVALID_STATE]
    assert (await reload(db, Contract, contract.id)).status == "draft"
    assert (await reload(db, SignatureRequest, outside.request.id)).status == "cancelled"


@pytest.mark.parametrize(("name", "email", "field", "code"), [
    ("王五", None, "signerEmail", SharedErrorCode.REQUIRED),
    ("王五", "not-an-email", "signerEmail", SharedErrorCode.INVALID_EMAIL),
    ("王五", "@customer.test", "signerEmail", SharedErrorCode.INVALID_EMAIL),
    (None, "wang@customer.test", "signerName", SharedErrorCode.REQUIRED),
])
async def test_outside_signer_needs_a_name_and_an_email(db, name, email, field, code):
    # given
    world = await new_world(db)
    contract = await approved(db, world, await new_contract(db, world))
    # when
    with pytest.raises(ValidationFailed) as info:
        async with db.write() as s:
            await request_signature(s, world.rep, contract.id, party="customer", signer_name=name, signer_email=email,
                                    signer_user_id=None)
    # then
    assert [(e.field, e.code) for e in info.value.errors] == [((field,), code)]
    assert await count(db, SignatureRequest, SignatureRequest.contract_id == contract.id) == 0


# --- amendments -----------------------------------------------------------------------------------


async def test_an_amendment_supersedes_the_original_once_it_is_active(db):
    # given an active contract
    world = await new_world(db)
    original = await active_contract(db, world)
    # when amended
    async with db.write() as s:
        amendment = await amend_contract(s, world.rep, original.id, reason="增加二期范围", data=ContractInput(
            amount=Decimal("150000"), document=document(PDF_V2), set_fields={"amount", "document"}))
    # then the amendment is a new draft, and the original stays in force meanwhile
    assert (amendment.number, amendment.status, amendment.amends_id, amendment.amount,
            amendment.amendment_reason) == ("C-000002", "draft", original.id, Decimal("150000"), "增加二期范围")
    amendment = await approved(db, world, amendment)
    assert (await reload(db, Contract, original.id)).status == "active"
    # when the amendment is signed by all
    await signed(db, world, amendment)
    # then
    assert [(await reload(db, Contract, c.id)).status for c in (original, amendment)] == ["superseded", "active"]
    async with db.read() as s:
        event = await s.scalar(select(OutboxEvent).where(OutboxEvent.org_id == world.org_id,
                                                         OutboxEvent.topic == "contract.superseded"))
    assert (event.record_id, event.payload["amendedById"]) == (original.id, amendment.id)
    async with db.read() as s:
        signatures = (await signatures_of(s, world.rep, [amendment.id]))[amendment.id]
    assert {x.signed_document_sha256 for x in signatures} == {hashlib.sha256(PDF_V2).hexdigest()}


@pytest.mark.parametrize("reach", ["draft", "approved"])
async def test_only_an_active_contract_can_be_amended(db, reach):
    # given
    world = await new_world(db)
    contract = await new_contract(db, world)
    if reach == "approved":
        contract = await approved(db, world, contract)
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await amend_contract(s, world.rep, contract.id, reason="x", data=ContractInput())
    assert await count(db, Contract, Contract.org_id == world.org_id) == 1


@pytest.mark.parametrize("reason", [None, " "])
async def test_an_amendment_needs_a_reason(db, reason):
    # given
    world = await new_world(db)
    contract = await active_contract(db, world)
    before = await outbox_count(db, world.org_id)
    # when / then
    with fails(SharedErrorCode.REASON_REQUIRED):
        async with db.write() as s:
            await amend_contract(s, world.rep, contract.id, reason=reason, data=ContractInput())
    assert await count(db, Contract, Contract.org_id == world.org_id) == 1
    assert await outbox_count(db, world.org_id) == before


async def test_a_superseded_contract_cannot_be_amended_again(db):
    # given
    world = await new_world(db)
    original = await active_contract(db, world)
    async with db.write() as s:
        amendment = await amend_contract(s, world.rep, original.id, reason="变更", data=ContractInput(
            document=document(PDF_V2), set_fields={"document"}))
    await signed(db, world, await approved(db, world, amendment))
    # when / then
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await amend_contract(s, world.rep, original.id, reason="再变更", data=ContractInput())


async def test_an_amendment_without_changes_keeps_the_originals_terms(db):
    # given
    world = await new_world(db)
    original = await active_contract(db, world, terms="原条款", start_date=date(2026, 6, 1))
    # when
    async with db.write() as s:
        amendment = await amend_contract(s, world.rep, original.id, reason="补充签约方", data=ContractInput())
    # then
    assert (amendment.amount, amendment.currency, amendment.tax_rate, amendment.terms, amendment.start_date,
            amendment.customer_id, amendment.owner_id, amendment.document_sha256) == (
        original.amount, "CNY", original.tax_rate, "原条款", date(2026, 6, 1), world.customer.id, world.rep.user_id,
        None)
    # and, having no document, it cannot be submitted until one is attached
    with fails(ContractErrorCode.DOCUMENT_REQUIRED):
        async with db.write() as s:
            await submit_contract(s, world.rep, amendment.id, None)


async def test_an_accepted_quote_makes_one_contract(db):
    # given a contract made from an accepted quote
    world = await new_world(db)
    quote = await accepted_quote(db, world)
    await new_contract(db, world, quote_id=quote.id)
    before = await count(db, Contract, Contract.org_id == world.org_id)
    # when a second one is made from it
    with fails(SharedErrorCode.DUPLICATE):
        await new_contract(db, world, quote_id=quote.id)
    # then nothing was written
    assert await count(db, Contract, Contract.org_id == world.org_id) == before


async def test_a_contract_has_one_open_amendment_at_a_time(db):
    # given an active contract with an amendment in draft
    world = await new_world(db)
    original = await active_contract(db, world)
    async with db.write() as s:
        await amend_contract(s, world.rep, original.id, reason="二期", data=ContractInput(
            amount=Decimal("150000"), set_fields={"amount"}))
    # when a second amendment is started
    with fails(SharedErrorCode.INVALID_STATE):
        async with db.write() as s:
            await amend_contract(s, world.rep, original.id, reason="三期", data=ContractInput(
                amount=Decimal("180000"), set_fields={"amount"}))
    # then only the first exists
    assert await count(db, Contract, Contract.amends_id == original.id) == 1
