"""Quote to cash, live over the websocket (graphql-transport-ws): the approver hears of a discount
to approve, an opportunity's timeline follows its quotes and contracts, a contract's timeline its
invoices and payments; and each subscriber receives only what their role may read of it."""

from __future__ import annotations

from typing import Any

from tests.factories.api.answers import ok
from tests.factories.api.crm import new_customer, new_opportunity
from tests.factories.api.quote_to_cash import (
    ALLOCATE_AUTOMATICALLY,
    APPROVE_QUOTE,
    SUBMIT_CONTRACT,
    accepted_quote,
    active_contract,
    approved_contract,
    issue_installment,
    issued_invoice,
    new_contract,
    new_payment,
    new_quote,
    pending_quote,
    request_signatures,
    set_plan,
    sign,
)
from tests.factories.api.users import FINANCE, MANAGER, MARKETING, REP1, SERVICE, user_id
from tests.factories.realtime import CHANGE_FEED, TIMELINE, Socket, connect, feed_end

NOTIFICATIONS = """
subscription ($after: String) {
  myNotifications(after: $after) { cursor kind recordType recordId data actor { email } }
}"""
SUBMIT_QUOTE = """
mutation ($id: ID!) { submitQuoteForApproval(input: {id: $id}) { quote { status } userErrors { code } } }
"""
ACCEPT_QUOTE = """
mutation ($id: ID!) { acceptQuote(input: {id: $id}) { quote { status } userErrors { field code } } }
"""
TERMINATE = """
mutation ($id: ID!) {
  terminateContract(input: {id: $id, reason: "客户取消"}) { contract { status } userErrors { field code } }
}"""


def _seen(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, str | None, str]]:
    """What a person reads of timeline entries: kind, what it is about, its state, and who acted."""
    return [(e["kind"], e["recordType"], e["recordId"], e["data"].get("status"), e["actor"]["email"])
            for e in entries]


async def _next_about(socket: Socket, op_id: str, field: str, record_id: str) -> dict[str, Any]:
    """The next event of a subscription about ``record_id`` (personal streams also carry whatever
    else concerns the user meanwhile, e.g. the scheduler's reminders)."""
    while True:
        [event] = await socket.events(op_id, 1, field)
        if event["recordId"] == record_id:
            return event


async def test_the_manager_is_notified_live_of_a_discount_to_approve(app, gql):
    # given the manager listens to their notifications from now on
    after = await feed_end(gql, app, as_=MANAGER)
    async with connect(app, gql.token(MANAGER)) as manager:
        await manager.subscribe("1", NOTIFICATIONS, {"after": after})

        # when rep1 submits a quote at 25 % off
        quote = await pending_quote(gql)
        await app.state.relay.drain()
        notified = await _next_about(manager, "1", "myNotifications", quote["id"])

    # then
    assert _seen([notified]) == [("approval", "Quote", quote["id"], "pending_approval", REP1)]
    assert notified["data"]["maxDiscountPercent"] == "25"


async def test_the_opportunity_timeline_follows_its_quote_and_contract_live(app, gql):
    # given rep1 watches a fresh opportunity since before it was created
    after = await feed_end(gql, app, as_=REP1)
    opportunity = await new_opportunity(gql)
    async with connect(app, gql.token(REP1)) as rep1:
        await rep1.subscribe("1", TIMELINE, {"recordId": opportunity["id"], "after": after})
        [created] = await rep1.events("1", 1, "recordTimeline")

        # when a quote at 25 % off is submitted, approved by the manager and accepted; then contracted
        quote = await pending_quote(gql, opportunityId=opportunity["id"], customerId=opportunity["customerId"])
        ok(await gql(APPROVE_QUOTE, {"id": quote["id"]}, as_=MANAGER), "approveQuote")
        ok(await gql(ACCEPT_QUOTE, {"id": quote["id"]}), "acceptQuote")
        contract = await new_contract(gql, quoteId=quote["id"])
        ok(await gql(SUBMIT_CONTRACT, {"id": contract["id"]}), "submitContract")
        await app.state.relay.drain()
        live = await rep1.events("1", 7, "recordTimeline")

        # then
        assert await rep1.nothing_more() == []
    assert _seen([created]) == [("created", "Opportunity", opportunity["id"], None, REP1)]
    assert _seen(live) == [
        ("quote", "Quote", quote["id"], "draft", REP1),
        ("approval", "Quote", quote["id"], "pending_approval", REP1),
        ("approval", "Quote", quote["id"], "approved", MANAGER),
        ("updated", "Opportunity", opportunity["id"], None, REP1),
        ("quote", "Quote", quote["id"], "accepted", REP1),
        ("contract", "Contract", contract["id"], "draft", REP1),
        ("approval", "Contract", contract["id"], "pending_approval", REP1),
    ]
    accepted = live[4]["data"]
    assert (accepted["total"], accepted["currency"]) == ("7950.00", "CNY")
    assert live[5]["data"]["amount"] == "7950.00"
    assert len({e["cursor"] for e in [created, *live]}) == 8


async def test_finance_sees_invoices_and_payments_on_the_contract_timeline(app, gql):
    # given an active contract of 10,600.00 in two halves, watched by finance from now on
    contract = await active_contract(gql)
    first, _ = await set_plan(gql, contract["id"], [
        {"label": "首付 50%", "dueDate": "2030-01-31", "percent": "50"},
        {"label": "尾款 50%", "dueDate": "2030-06-30", "percent": "50"}])
    after = await feed_end(gql, app, as_=FINANCE)
    async with connect(app, gql.token(FINANCE)) as finance:
        await finance.subscribe("1", TIMELINE, {"recordId": contract["id"], "after": after})

        # when the first half is invoiced and 3,000.00 of it paid; then the contract is terminated
        invoice = await issue_installment(gql, first["id"])
        payment = await new_payment(gql, contract["customerId"], "3000.00")
        ok(await gql(ALLOCATE_AUTOMATICALLY, {"id": payment["id"]}, as_=FINANCE), "allocatePayment")
        ok(await gql(TERMINATE, {"id": contract["id"]}, as_=FINANCE), "terminateContract")
        await app.state.relay.drain()
        issued, allocated, terminated = await finance.events("1", 3, "recordTimeline")

    # then the payment itself is not on the contract's timeline, only its effect on the invoice
    assert _seen([issued, allocated, terminated]) == [
        ("invoice", "Invoice", invoice["id"], "issued", FINANCE),
        ("payment", "Invoice", invoice["id"], "partially_paid", FINANCE),
        ("contract", "Contract", contract["id"], "terminated", FINANCE),
    ]
    assert (issued["data"]["number"], issued["data"]["total"]) == (invoice["number"], "5300.00")
    assert (allocated["data"]["amount"], allocated["data"]["outstanding"]) == ("3000.00", "2300.00")


async def test_service_follows_a_contract_live_without_amounts_or_invoices(app, gql):
    # given an approved contract watched by service and by finance from now on
    contract = await approved_contract(gql)
    service_after = await feed_end(gql, app, as_=SERVICE)
    finance_after = await feed_end(gql, app, as_=FINANCE)
    async with connect(app, gql.token(SERVICE)) as service, connect(app, gql.token(FINANCE)) as finance:
        await service.subscribe("1", TIMELINE, {"recordId": contract["id"], "after": service_after})
        await finance.subscribe("1", TIMELINE, {"recordId": contract["id"], "after": finance_after})

        # when it is signed, planned, invoiced, then terminated
        requests = await request_signatures(gql, {**contract, "managerId": user_id(gql, MANAGER)})
        await sign(gql, requests["customer"])
        await sign(gql, requests["vendor"], as_=MANAGER)
        [installment] = await set_plan(gql, contract["id"])
        invoice = await issue_installment(gql, installment["id"])
        ok(await gql(TERMINATE, {"id": contract["id"]}, as_=FINANCE), "terminateContract")
        await app.state.relay.drain()
        by_finance = await finance.events("1", 8, "recordTimeline")
        by_service = await service.events("1", 7, "recordTimeline")

        # then
        assert await service.nothing_more() == []
    contract_events = [e for e in by_finance if e["recordType"] == "Contract"]
    assert [e["recordType"] for e in by_finance].count("Invoice") == 1
    assert [e["recordId"] for e in by_finance if e["recordType"] == "Invoice"] == [invoice["id"]]
    assert [(e["kind"], e["cursor"]) for e in by_service] == [(e["kind"], e["cursor"]) for e in contract_events]
    assert [e["kind"] for e in by_service] == ["signature", "signature", "signature", "signature", "contract",
                                               "payment_plan", "contract"]
    for seen, full in zip(by_service, contract_events, strict=True):
        assert "amount" not in seen["data"]
        assert full["data"]["amount"] == "10600.00"
        # the payment plan (its installments, and how many a termination cancelled) is Contract.paymentPlan's
        assert seen["data"] == {k: v for k, v in full["data"].items()
                                if k not in ("amount", "installments", "cancelledInstallments")}
    assert "installments" not in by_service[5]["data"]
    assert [i["amount"] for i in by_finance[5]["data"]["installments"]] == ["10600.00"]


async def test_marketing_hears_nothing_on_the_invoice_change_feed(app, gql):
    # given marketing and finance listen to invoice changes from now on
    marketing_after = await feed_end(gql, app, as_=MARKETING)
    finance_after = await feed_end(gql, app, as_=FINANCE)
    async with connect(app, gql.token(MARKETING)) as marketing, connect(app, gql.token(FINANCE)) as finance:
        await marketing.subscribe("1", CHANGE_FEED, {"types": ["Invoice"], "after": marketing_after})
        await finance.subscribe("1", CHANGE_FEED, {"types": ["Invoice"], "after": finance_after})

        # when finance drafts and issues an invoice
        customer = await new_customer(gql)
        invoice = await issued_invoice(gql, customer["id"])
        await app.state.relay.drain()
        drafted = await _next_about(finance, "1", "changeFeed", invoice["id"])
        issued = await _next_about(finance, "1", "changeFeed", invoice["id"])

        # then finance hears both, marketing nothing
        assert await marketing.nothing_more() == []
    assert [(e["topic"], e["payload"]["status"]) for e in (drafted, issued)] == [("invoice.drafted", "draft"),
                                                                                   ("invoice.issued", "issued")]


async def test_a_quote_on_another_reps_opportunity_stays_off_a_peers_change_feed(app, gql):
    # given rep2 listens to quote changes from now on
    after = await feed_end(gql, app, as_="rep2@demo.test")
    async with connect(app, gql.token("rep2@demo.test")) as rep2:
        await rep2.subscribe("1", CHANGE_FEED, {"types": ["Quote"], "after": after})

        # when rep1 drafts a quote and rep2 one of their own
        await new_quote(gql)
        theirs = await new_quote(gql, as_="rep2@demo.test")
        await app.state.relay.drain()
        [heard] = await rep2.events("1", 1, "changeFeed")

        # then
        assert await rep2.nothing_more() == []
    assert (heard["topic"], heard["recordId"]) == ("quote.created", theirs["id"])


async def test_an_accepted_quote_contract_shows_on_the_opportunity_timeline_replayed(app, gql):
    # given rep1 contracted an accepted quote before anyone watched
    after = await feed_end(gql, app, as_=REP1)
    quote = await accepted_quote(gql)
    contract = await new_contract(gql, quoteId=quote["id"])
    await app.state.relay.drain()
    async with connect(app, gql.token(REP1)) as rep1:
        # when rep1 opens the opportunity's timeline from a cursor taken before
        await rep1.subscribe("1", TIMELINE, {"recordId": quote["opportunityId"], "after": after})
        replayed = await rep1.events("1", 5, "recordTimeline")

        # then
        assert await rep1.nothing_more() == []
    assert [(e["kind"], e["recordType"], e["data"].get("status")) for e in replayed] == [
        ("created", "Opportunity", None), ("quote", "Quote", "draft"), ("updated", "Opportunity", None),
        ("quote", "Quote", "accepted"), ("contract", "Contract", "draft")]
    assert replayed[4]["recordId"] == contract["id"]
