"""Who may do what from quote to cash, over HTTP as the demo users: creating products and quotes,
approving discounts, issuing and voiding invoices, recording and allocating payments, reading
receivables; and which rows each role sees (own, team, org, none), by id, by `node(id)` and in lists,
with the fields a role may not read masked. Acme's users see none of Demo's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.factories.api.answers import error_code, ok
from tests.factories.api.crm import new_customer, new_opportunity
from tests.factories.api.quote_to_cash import (
    ALLOCATE_AUTOMATICALLY,
    CREATE_INVOICE,
    CREATE_PRODUCT,
    CREATE_QUOTE,
    ISSUE_INVOICE,
    RECORD_PAYMENT,
    accepted_quote,
    active_contract,
    issue_installment,
    issued_invoice,
    new_payment,
    new_product,
    pending_quote,
    quote_line,
    set_plan,
)
from tests.factories.api.users import ACME_ADMIN, ACME_REP, ADMIN, FINANCE, MANAGER, MARKETING, PM, REP1, REP2, SERVICE
from tests.factories.names import unique

ROLE_OF = {ADMIN: "admin", MANAGER: "sales_manager", REP1: "rep1", REP2: "rep2", PM: "project_manager",
           FINANCE: "finance", SERVICE: "service", MARKETING: "marketing", ACME_ADMIN: "acme-admin",
           ACME_REP: "acme-rep"}


def emails(*users: str) -> list[Any]:
    return [pytest.param(u, id=ROLE_OF[u]) for u in users]


PRODUCTS = "query ($search: String!) { products(first: 10, search: $search) { totalCount } }"
QUOTE = "query ($id: ID!) { quote(id: $id) { status decidedBy { email } } }"
QUOTES_OF_OPPORTUNITY = "query ($id: ID!) { quotes(first: 10, filter: {opportunityId: $id}) { totalCount } }"
APPROVE_QUOTE = """
mutation ($id: ID!) { approveQuote(input: {id: $id}) { quote { status decidedBy { email } } userErrors { code } } }
"""
INVOICE = "query ($id: ID!) { invoice(id: $id) { status outstanding } }"
VOID_INVOICE = """
mutation ($id: ID!) { voidInvoice(input: {id: $id, reason: "开错了"}) { invoice { status } userErrors { code } } }
"""
PAYMENTS_OF_CUSTOMER = "query ($id: ID!) { payments(first: 10, filter: {customerId: $id}) { totalCount } }"
RECEIVABLES = "query ($customerId: ID) { receivables(customerId: $customerId) { currency outstanding openInvoices } }"
NODE = "query ($id: ID!) { record: node(id: $id) { id __typename } }"
BY_ID = {t: f"query ($id: ID!) {{ record: {t.lower()}(id: $id) {{ id }} }}"
         for t in ("Product", "Quote", "Contract", "Invoice", "Payment")}
LISTS = {
    "Quote": "{ records: quotes(first: 100) { edges { node { id owner { email } } } } }",
    "Contract": "{ records: contracts(first: 100) { edges { node { id owner { email } } } } }",
    "Invoice": "{ records: invoices(first: 100) { edges { node { id } } } }",
    "Payment": "{ records: payments(first: 100) { edges { node { id } } } }",
    "Product": "{ records: products(first: 100) { edges { node { id } } } }",
}
SERVICE_CONTRACT = "query ($id: ID!) { contract(id: $id) { number status currency amount paymentPlan { id } } }"
MY_PERMISSIONS = "{ myPermissions { type scope actions readableFields } }"


# ---- who may create, approve, bill and collect --------------------------------------------------------------------


@pytest.mark.parametrize("as_", emails(FINANCE, MANAGER, ADMIN))
async def test_finance_sales_managers_and_admins_may_create_products(gql, as_):
    # given
    code = unique("SKU").replace(" ", "-")
    # when
    result = await gql(CREATE_PRODUCT, {"input": {"code": code, "name": "ERP 软件许可", "defaultPrice": "120000"}},
                       as_=as_)
    # then
    assert ok(result, "createProduct")["product"]["code"] == code
    assert (await gql(PRODUCTS, {"search": code}, as_=FINANCE))["data"]["products"]["totalCount"] == 1


@pytest.mark.parametrize("as_", emails(REP1, PM, SERVICE, MARKETING))
async def test_other_roles_may_not_create_products(gql, as_):
    # given
    code = unique("SKU").replace(" ", "-")
    # when
    result = await gql(CREATE_PRODUCT, {"input": {"code": code, "name": "ERP 软件许可"}}, as_=as_)
    # then
    assert error_code(result) == "FORBIDDEN"
    assert result["data"] is None
    assert (await gql(PRODUCTS, {"search": code}, as_=FINANCE))["data"]["products"]["totalCount"] == 0


@pytest.mark.parametrize("as_", emails(REP1, REP2, MANAGER, ADMIN))
async def test_reps_and_managers_may_quote_their_opportunities(gql, as_):
    # given
    opportunity = await new_opportunity(gql, as_=as_)
    # when
    result = await gql(CREATE_QUOTE, {"input": {"opportunityId": opportunity["id"], "lines": [quote_line()]}}, as_=as_)
    # then
    assert ok(result, "createQuote")["quote"]["status"] == "DRAFT"
    assert (await gql(QUOTES_OF_OPPORTUNITY, {"id": opportunity["id"]}, as_=as_))["data"]["quotes"]["totalCount"] == 1


@pytest.mark.parametrize("as_", emails(PM, FINANCE, SERVICE, MARKETING))
async def test_other_roles_may_not_quote(gql, as_):
    # given
    opportunity = await new_opportunity(gql)
    # when
    result = await gql(CREATE_QUOTE, {"input": {"opportunityId": opportunity["id"], "lines": [quote_line()]}}, as_=as_)
    # then
    assert error_code(result) == "FORBIDDEN"
    assert (await gql(QUOTES_OF_OPPORTUNITY, {"id": opportunity["id"]}, as_=REP1))["data"]["quotes"]["totalCount"] == 0


@pytest.mark.parametrize("as_", emails(MANAGER, ADMIN))
async def test_the_owners_manager_or_an_admin_approves_a_discount(gql, as_):
    # given rep1's quote at 25 % off waits for approval
    quote = await pending_quote(gql)
    # when
    result = await gql(APPROVE_QUOTE, {"id": quote["id"]}, as_=as_)
    # then
    assert ok(result, "approveQuote")["quote"] == {"status": "APPROVED", "decidedBy": {"email": as_}}


@pytest.mark.parametrize("as_", emails(REP1, REP2, PM, FINANCE, SERVICE, MARKETING))
async def test_no_one_else_may_approve_a_discount(gql, as_):
    # given
    quote = await pending_quote(gql)
    # when
    result = await gql(APPROVE_QUOTE, {"id": quote["id"]}, as_=as_)
    # then
    assert error_code(result) == "FORBIDDEN"
    assert (await gql(QUOTE, {"id": quote["id"]}))["data"]["quote"] == {"status": "PENDING_APPROVAL",
                                                                         "decidedBy": None}


async def test_a_peer_rep_cannot_even_see_the_quote_waiting_for_approval(gql):
    # given
    quote = await pending_quote(gql)
    # when
    result = await gql(QUOTE, {"id": quote["id"]}, as_=REP2)
    # then
    assert error_code(result) == "NOT_FOUND"
    assert result["data"] == {"quote": None}


async def _issue(gql: Any, as_: str) -> tuple[dict[str, Any], str, Any]:
    customer = await new_customer(gql)
    draft = ok(await gql(CREATE_INVOICE, {"input": {"customerId": customer["id"], "lines": [
        {"description": "服务费", "unitPrice": "1000.00"}]}}, as_=FINANCE), "createInvoice")["invoice"]
    result = await gql(ISSUE_INVOICE, {"input": {"invoiceId": draft["id"]}}, as_=as_)
    return result, "issueInvoice", (await gql(INVOICE, {"id": draft["id"]}, as_=FINANCE))["data"]["invoice"]


async def _void(gql: Any, as_: str) -> tuple[dict[str, Any], str, Any]:
    invoice = await issued_invoice(gql, (await new_customer(gql))["id"])
    result = await gql(VOID_INVOICE, {"id": invoice["id"]}, as_=as_)
    return result, "voidInvoice", (await gql(INVOICE, {"id": invoice["id"]}, as_=FINANCE))["data"]["invoice"]


async def _record(gql: Any, as_: str) -> tuple[dict[str, Any], str, Any]:
    customer = await new_customer(gql)
    result = await gql(RECORD_PAYMENT, {"input": {"customerId": customer["id"], "amount": "1000.00"}}, as_=as_)
    count = (await gql(PAYMENTS_OF_CUSTOMER, {"id": customer["id"]}, as_=FINANCE))["data"]["payments"]["totalCount"]
    return result, "recordPayment", count


async def _allocate(gql: Any, as_: str) -> tuple[dict[str, Any], str, Any]:
    customer = await new_customer(gql)
    invoice = await issued_invoice(gql, customer["id"])
    payment = await new_payment(gql, customer["id"], "400.00")
    result = await gql(ALLOCATE_AUTOMATICALLY, {"id": payment["id"]}, as_=as_)
    return result, "allocatePayment", (await gql(INVOICE, {"id": invoice["id"]}, as_=FINANCE))["data"]["invoice"]


Action = Callable[[Any, str], Awaitable[tuple[dict[str, Any], str, Any]]]
BILLING: dict[str, tuple[Action, Any, Any]] = {
    # action, what it leaves when done, what is left when refused
    "issue invoice": (_issue, {"status": "ISSUED", "outstanding": "1000.00"}, {"status": "DRAFT",
                                                                               "outstanding": "0.00"}),
    "void invoice": (_void, {"status": "VOID", "outstanding": "0.00"}, {"status": "ISSUED", "outstanding": "1000.00"}),
    "record payment": (_record, 1, 0),
    "allocate payment": (_allocate, {"status": "PARTIALLY_PAID", "outstanding": "600.00"},
                         {"status": "ISSUED", "outstanding": "1000.00"}),
}


@pytest.mark.parametrize("as_", emails(FINANCE, ADMIN))
@pytest.mark.parametrize("action", BILLING.keys())
async def test_finance_and_admins_issue_and_void_invoices_and_record_and_allocate_payments(gql, action, as_):
    # given
    act, done, _ = BILLING[action]
    # when
    result, mutation, after = await act(gql, as_)
    # then
    ok(result, mutation)
    assert after == done


@pytest.mark.parametrize("as_", emails(MANAGER, REP1, PM, SERVICE, MARKETING))
@pytest.mark.parametrize("action", BILLING.keys())
async def test_other_roles_may_not_issue_or_void_invoices_or_record_or_allocate_payments(gql, action, as_):
    # given
    act, _, refused = BILLING[action]
    # when
    result, _, after = await act(gql, as_)
    # then
    assert error_code(result) == "FORBIDDEN"
    assert result["data"] is None
    assert after == refused


@pytest.mark.parametrize("as_", emails(REP1, REP2, MANAGER, FINANCE, ADMIN))
async def test_sales_finance_and_admins_read_receivables(gql, as_):
    # when
    result = await gql(RECEIVABLES, {}, as_=as_)
    # then
    assert "errors" not in result, result
    assert result["data"]["receivables"]["currency"] == "CNY"


@pytest.mark.parametrize("as_", emails(PM, SERVICE, MARKETING))
async def test_other_roles_may_not_read_receivables(gql, as_):
    # when
    result = await gql(RECEIVABLES, {}, as_=as_)
    # then
    assert error_code(result) == "FORBIDDEN"
    assert result["data"] is None


# ---- rows each role sees ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def world(gql) -> dict[str, dict[str, str]]:
    """For rep1 and rep2 each: an accepted quote → an active contract (approval steps, two signatures)
    → a plan of one installment → an issued invoice, half paid. Ids by owner, then by type."""
    product = await new_product(gql)
    out: dict[str, dict[str, str]] = {}
    for rep in (REP1, REP2):
        quote = await accepted_quote(gql, as_=rep)
        contract = await active_contract(gql, as_=rep, quoteId=quote["id"])
        [installment] = await set_plan(gql, contract["id"])
        invoice = await issue_installment(gql, installment["id"])
        payment = await new_payment(gql, quote["customerId"], "5300.00")
        ok(await gql(ALLOCATE_AUTOMATICALLY, {"id": payment["id"]}, as_=FINANCE), "allocatePayment")
        steps = await gql("query ($id: ID!) { contract(id: $id) { approvalSteps { id } } }", {"id": contract["id"]},
                          as_=FINANCE)
        out[rep] = {"Quote": quote["id"], "Contract": contract["id"], "Invoice": invoice["id"],
                    "Payment": payment["id"], "Installment": installment["id"],
                    "Signature": contract["signatures"]["customer"]["requestId"],
                    "ApprovalStep": steps["data"]["contract"]["approvalSteps"][0]["id"],
                    "Product": product["id"], "Customer": quote["customerId"]}
    return out


CONTRACT_AND_PARTS = ("Contract", "Installment", "Signature", "ApprovalStep")
SALES_RECORDS = ("Quote", "Invoice", *CONTRACT_AND_PARTS)
TYPES = (*SALES_RECORDS, "Payment", "Product")
EVERYTHING = {REP1: TYPES, REP2: TYPES}
# Which of rep1's and rep2's records each user sees, by type.
VISIBLE: dict[str, dict[str, tuple[str, ...]]] = {
    ADMIN: EVERYTHING,
    FINANCE: EVERYTHING,
    MANAGER: {REP1: (*SALES_RECORDS, "Product"), REP2: (*SALES_RECORDS, "Product")},
    REP1: {REP1: (*SALES_RECORDS, "Product"), REP2: ("Product",)},
    REP2: {REP1: ("Product",), REP2: (*SALES_RECORDS, "Product")},
    PM: {REP1: ("Product",), REP2: ("Product",)},
    SERVICE: {REP1: ("Contract", "Signature", "ApprovalStep", "Product"),
              REP2: ("Contract", "Signature", "ApprovalStep", "Product")},
    MARKETING: {REP1: (), REP2: ()},
    ACME_ADMIN: {REP1: (), REP2: ()},
    ACME_REP: {REP1: (), REP2: ()},
}
SEEN = [pytest.param(user, owner, t, id=f"{ROLE_OF[user]}-{ROLE_OF[owner]}s-{t}")
        for user, owners in VISIBLE.items() for owner in (REP1, REP2) for t in TYPES if t in owners[owner]]
NOT_SEEN = [pytest.param(user, owner, t, id=f"{ROLE_OF[user]}-{ROLE_OF[owner]}s-{t}")
            for user, owners in VISIBLE.items() for owner in (REP1, REP2) for t in TYPES if t not in owners[owner]]


@pytest.mark.parametrize(("as_", "owner", "type_name"), SEEN)
async def test_record_in_the_roles_scope_is_found_by_id_and_by_node(gql, world, as_, owner, type_name):
    # given
    record_id = world[owner][type_name]
    # when
    by_node = await gql(NODE, {"id": record_id}, as_=as_)
    by_id = await gql(BY_ID[type_name], {"id": record_id}, as_=as_) if type_name in BY_ID else by_node
    # then
    assert "errors" not in by_node, by_node
    assert by_node["data"] == {"record": {"id": record_id, "__typename": type_name}}
    assert by_id["data"]["record"]["id"] == record_id


@pytest.mark.parametrize(("as_", "owner", "type_name"), NOT_SEEN)
async def test_record_out_of_the_roles_scope_is_not_found_by_id_or_by_node(gql, world, as_, owner, type_name):
    # given
    record_id = world[owner][type_name]
    # when
    by_node = await gql(NODE, {"id": record_id}, as_=as_)
    by_id = await gql(BY_ID[type_name], {"id": record_id}, as_=as_) if type_name in BY_ID else by_node
    # then
    for result in (by_node, by_id):
        assert error_code(result) == "NOT_FOUND"
        assert result["data"] == {"record": None}


@pytest.mark.parametrize("as_", emails(*VISIBLE))
@pytest.mark.parametrize("type_name", LISTS.keys())
async def test_lists_hold_exactly_the_records_in_the_roles_scope(gql, world, as_, type_name):
    # given
    expected = {world[owner][type_name] for owner in (REP1, REP2) if type_name in VISIBLE[as_][owner]}
    ours = {world[owner][type_name] for owner in (REP1, REP2)}
    # when
    result = await gql(LISTS[type_name], as_=as_)
    # then
    assert "errors" not in result, result
    listed = {edge["node"]["id"] for edge in result["data"]["records"]["edges"]}
    assert listed & ours == expected


MAY_OWN = {REP1: {REP1}, REP2: {REP2}, MANAGER: {MANAGER, REP1, REP2}}


@pytest.mark.parametrize("as_", emails(*MAY_OWN))
@pytest.mark.parametrize("type_name", ["Quote", "Contract"])
async def test_reps_list_only_their_own_and_managers_their_teams_records(gql, world, as_, type_name):
    # when
    result = await gql(LISTS[type_name], as_=as_)
    # then
    owners = {edge["node"]["owner"]["email"] for edge in result["data"]["records"]["edges"]}
    assert owners <= MAY_OWN[as_]
    assert owners >= MAY_OWN[as_] - {MANAGER}


@pytest.mark.parametrize("type_name", LISTS.keys())
async def test_marketing_lists_nothing_from_quote_to_cash(gql, world, type_name):
    # when
    result = await gql(LISTS[type_name], as_=MARKETING)
    # then
    assert result == {"data": {"records": {"edges": []}}}


async def test_service_sees_a_contract_without_its_amount_or_payment_plan(gql, world):
    # given
    contract_id = world[REP1]["Contract"]
    by_finance = (await gql(SERVICE_CONTRACT, {"id": contract_id}, as_=FINANCE))["data"]["contract"]
    # when
    result = await gql(SERVICE_CONTRACT, {"id": contract_id}, as_=SERVICE)
    # then
    assert result["data"]["contract"] == {**by_finance, "amount": None, "paymentPlan": None}
    assert [(e["extensions"]["code"], e["path"]) for e in result["errors"]] == [
        ("FORBIDDEN_FIELD", ["contract", "amount"]), ("FORBIDDEN_FIELD", ["contract", "paymentPlan"])]
    assert by_finance["amount"] is not None and len(by_finance["paymentPlan"]) == 1


async def test_service_lists_contracts_with_every_amount_masked_and_reported_once(gql, world):
    # when
    result = await gql("{ contracts(first: 100) { edges { node { id amount } } } }", as_=SERVICE)
    # then
    nodes = [edge["node"] for edge in result["data"]["contracts"]["edges"]]
    assert {world[REP1]["Contract"], world[REP2]["Contract"]} <= {n["id"] for n in nodes}
    assert {n["amount"] for n in nodes} == {None}
    assert [e["extensions"]["code"] for e in result["errors"]] == ["FORBIDDEN_FIELD"]


async def test_a_rep_reads_receivables_of_their_own_customers_only(gql, world):
    # given rep1's customer owes half of 10,600.00
    mine, theirs = world[REP1]["Customer"], world[REP2]["Customer"]
    # when
    own = await gql(RECEIVABLES, {"customerId": mine}, as_=REP1)
    peers = await gql(RECEIVABLES, {"customerId": theirs}, as_=REP1)
    # then
    assert own["data"]["receivables"] == {"currency": "CNY", "outstanding": "5300.00", "openInvoices": 1}
    assert error_code(peers) == "NOT_FOUND"


# ---- myPermissions ------------------------------------------------------------------------------------------------

NEW_TYPES = ("Contract", "Invoice", "Payment", "PriceBook", "Product", "Quote")
ALL_ACTIONS = ["create", "update", "delete", "share", "approve", "plan", "terminate", "issue", "void", "credit",
               "allocate", "receivables", "publish"]
PERMISSIONS = {
    # type: (scope, actions) per user
    ADMIN: {t: ("ORG", ALL_ACTIONS) for t in NEW_TYPES},
    MANAGER: {"Contract": ("TEAM", ["create", "update", "plan", "terminate"]), "Invoice": ("TEAM", ["receivables"]),
              "Payment": ("NONE", []), "PriceBook": ("ORG", ["create"]), "Product": ("ORG", ["create", "update"]),
              "Quote": ("TEAM", ["create", "update", "approve"])},
    REP1: {"Contract": ("OWN", ["create", "update", "plan"]), "Invoice": ("OWN", ["receivables"]),
           "Payment": ("NONE", []),
           "PriceBook": ("ORG", []), "Product": ("ORG", []), "Quote": ("OWN", ["create", "update"])},
    FINANCE: {"Contract": ("ORG", ["plan", "terminate"]), "Invoice": ("ORG", ["create", "issue", "void", "credit",
                                                                               "receivables"]),
              "Payment": ("ORG", ["create", "allocate"]), "PriceBook": ("ORG", ["create"]),
              "Product": ("ORG", ["create", "update"]), "Quote": ("ORG", [])},
    SERVICE: {"Contract": ("ORG", []), "Invoice": ("NONE", []), "Payment": ("NONE", []), "PriceBook": ("NONE", []),
              "Product": ("ORG", []), "Quote": ("NONE", [])},
    PM: {**{t: ("NONE", []) for t in NEW_TYPES}, "Product": ("ORG", [])},
    MARKETING: {t: ("NONE", []) for t in NEW_TYPES},
}


@pytest.mark.parametrize("as_", emails(*PERMISSIONS))
async def test_my_permissions_list_the_quote_to_cash_types_with_scope_and_actions(gql, as_):
    # when
    result = await gql(MY_PERMISSIONS, as_=as_)
    # then
    assert "errors" not in result, result
    listed = {p["type"]: (p["scope"], p["actions"]) for p in result["data"]["myPermissions"]}
    assert {t: listed.get(t) for t in NEW_TYPES} == PERMISSIONS[as_]


async def test_my_permissions_tell_service_it_cannot_read_contract_amounts_or_plans(gql):
    # when
    result = await gql(MY_PERMISSIONS, as_=SERVICE)
    # then
    [contract] = [p for p in result["data"]["myPermissions"] if p["type"] == "Contract"]
    assert {"number", "status", "customer"} <= set(contract["readableFields"])
    assert {"amount", "paymentPlan"} & set(contract["readableFields"]) == set()
