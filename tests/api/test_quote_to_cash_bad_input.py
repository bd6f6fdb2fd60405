"""Bad input from quote to cash, over HTTP: each gets its own code and changes nothing (every test
reads the records again to prove it; the server never answers 500). Plans that do not add up, money
applied where it cannot go, approvals and signatures out of turn, signed contracts, currencies,
Decimals that are not, foreign and garbage ids, stale versions, and idempotent retries."""

from __future__ import annotations

import base64
import uuid
from datetime import date
from typing import Any

import pytest

from tests.factories.api.answers import error_code, ok, user_errors
from tests.factories.api.crm import new_customer, new_opportunity
from tests.factories.api.quote_to_cash import (
    APPROVE_STEP,
    CREATE_CONTRACT,
    CREATE_INVOICE,
    CREATE_PRODUCT,
    CREATE_QUOTE,
    DOCUMENT_SHA256,
    ISSUE_INVOICE,
    RECORD_PAYMENT,
    SET_PLAN,
    SIGN,
    active_contract,
    approved_contract,
    document,
    issued_invoice,
    new_contract,
    new_payment,
    new_product,
    new_quote,
    pending_quote,
    quote_line,
    request_signatures,
    set_plan,
    sign,
    submitted_contract,
)
from tests.factories.api.users import ACME_ADMIN, ADMIN, FINANCE, MANAGER, REP1, SERVICE, user_id
from tests.factories.names import unique

CONTRACT = """
query ($id: ID!) {
  contract(id: $id) {
    status title amount currency version document { sha256 }
    paymentPlan { id amount }
    approvalSteps { role status decidedBy { email } }
    signatures { status signedAt }
  }
}"""
CONTRACTS_OF_CUSTOMER = "query ($id: ID!) { contracts(first: 10, filter: {customerId: $id}) { totalCount } }"
UPDATE_CONTRACT = """
mutation ($input: UpdateContractInput!) {
  updateContract(input: $input) { contract { title amount version } userErrors { field code } }
}"""
REJECT_STEP = """
mutation ($contractId: ID!, $stepId: ID!, $reason: String!) {
  rejectContractStep(input: {contractId: $contractId, stepId: $stepId, reason: $reason}) {
    contract { status } userErrors { field code }
  }
}"""
QUOTE = """
query ($id: ID!) { quote(id: $id) { status title total version decidedBy { email } lines { quantity } } }
"""
QUOTES_OF_OPPORTUNITY = """
query ($id: ID!) { quotes(first: 10, filter: {opportunityId: $id}) { totalCount edges { node { id number } } } }
"""
UPDATE_QUOTE = """
mutation ($input: UpdateQuoteInput!) {
  updateQuote(input: $input) { quote { title version } userErrors { field code } }
}
"""
APPROVE_QUOTE = """
mutation ($input: QuoteDecisionInput!) { approveQuote(input: $input) { quote { status } userErrors { field code } } }
"""
REJECT_QUOTE = """
mutation ($input: QuoteDecisionInput!) { rejectQuote(input: $input) { quote { status } userErrors { field code } } }
"""
PRODUCT = "query ($id: ID!) { product(id: $id) { code name version } }"
PRODUCTS = "query ($search: String!) { products(first: 10, search: $search) { totalCount } }"
UPDATE_PRODUCT = """
mutation ($input: UpdateProductInput!) {
  updateProduct(input: $input) { product { name version } userErrors { field code } }
}
"""
INVOICE = "query ($id: ID!) { invoice(id: $id) { status total amountPaid outstanding version } }"
INVOICES_OF_CUSTOMER = "query ($id: ID!) { invoices(first: 10, filter: {customerId: $id}) { totalCount } }"
VOID_INVOICE = """
mutation ($input: VoidInvoiceInput!) { voidInvoice(input: $input) { invoice { status } userErrors { field code } } }
"""
PAYMENT = "query ($id: ID!) { payment(id: $id) { amount currency allocated unallocated allocations { id } } }"
PAYMENTS_OF_CUSTOMER = "query ($id: ID!) { payments(first: 10, filter: {customerId: $id}) { totalCount } }"
ALLOCATE = """
mutation ($input: AllocatePaymentInput!) {
  allocatePayment(input: $input) { payment { allocated } allocations { amount } userErrors { field code } }
}"""
RECEIVABLES = "query ($currency: String) { receivables(currency: $currency) { currency outstanding } }"
CREDIT = """
mutation ($input: IssueCreditNoteInput!) { issueCreditNote(input: $input) { invoice { id } userErrors { field code } } }
"""
NODE = "query ($id: ID!) { record: node(id: $id) { id } }"
ACME_RECORDS = """
{
  opportunities(first: 1, filter: {search: "Acme deal"}) { edges { node { id customer { id } } } }
}"""


def _global_id(type_name: str, pk: object) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


async def _read(gql: Any, query: str, record_id: str, *, as_: str = FINANCE) -> Any:
    result = await gql(query, {"id": record_id}, as_=as_)
    assert "errors" not in result, result
    return next(iter(result["data"].values()))


async def _count(gql: Any, query: str, record_id: str, *, as_: str = FINANCE) -> int:
    return (await _read(gql, query, record_id, as_=as_))["totalCount"]


async def _allocate(gql: Any, payment_id: str, *allocations: dict[str, Any]) -> dict[str, Any]:
    return await gql(ALLOCATE, {"input": {"paymentId": payment_id, "allocations": list(allocations)}}, as_=FINANCE)


# ---- payment plans -----------------------------------------------------------------------------------------------


PLANS_THAT_DO_NOT_ADD_UP = {
    "one amount short": [{"amount": "10000.00"}],
    "two amounts over": [{"amount": "6000.00"}, {"amount": "6000.00"}],
    "one cent short": [{"amount": "5300.00"}, {"amount": "5299.99"}],
    "percentages to 90": [{"percent": "50"}, {"percent": "40"}],
    "percentages to 110": [{"percent": "60"}, {"percent": "50"}],
}


@pytest.mark.parametrize("shares", PLANS_THAT_DO_NOT_ADD_UP.values(), ids=PLANS_THAT_DO_NOT_ADD_UP.keys())
async def test_installments_that_do_not_add_up_to_the_contract_are_installments_mismatch(gql, shares):
    # given a contract of 10,600.00
    contract = await new_contract(gql)
    installments = [{"label": f"第 {n + 1} 期", "dueDate": date.today().isoformat(), **share}
                    for n, share in enumerate(shares)]
    # when
    result = await gql(SET_PLAN, {"input": {"contractId": contract["id"], "installments": installments}},
                       as_=FINANCE)
    # then
    assert user_errors(result, "setPaymentPlan") == [(["installments"], "INSTALLMENTS_MISMATCH")]
    after = await _read(gql, CONTRACT, contract["id"])
    assert (after["paymentPlan"], after["version"]) == ([], contract["version"])


# ---- invoices and payments ---------------------------------------------------------------------------------------


async def test_paying_a_void_invoice_is_invoice_void_and_applies_nothing(gql):
    # given a void invoice and a payment from its customer
    customer = await new_customer(gql)
    invoice = await issued_invoice(gql, customer["id"], total="1000.00")
    ok(await gql(VOID_INVOICE, {"input": {"id": invoice["id"], "reason": "开错了"}}, as_=FINANCE), "voidInvoice")
    payment = await new_payment(gql, customer["id"], "1000.00")
    # when
    result = await _allocate(gql, payment["id"], {"invoiceId": invoice["id"], "amount": "1000.00"})
    # then
    assert user_errors(result, "allocatePayment") == [(["allocations", "0", "invoiceId"], "INVOICE_VOID")]
    assert await _read(gql, INVOICE, invoice["id"]) == {
        "status": "VOID", "total": "1000.00", "amountPaid": "0.00", "outstanding": "0.00",
        "version": invoice["version"] + 1}
    assert await _read(gql, PAYMENT, payment["id"]) == {
        "amount": "1000.00", "currency": "CNY", "allocated": "0.00", "unallocated": "1000.00", "allocations": []}


async def test_allocating_more_than_is_left_of_the_payment_is_exceeds_payment_and_applies_nothing(gql):
    # given two invoices of 1,000.00 and a payment of 1,500.00
    customer = await new_customer(gql)
    first = await issued_invoice(gql, customer["id"], total="1000.00")
    second = await issued_invoice(gql, customer["id"], total="1000.00")
    payment = await new_payment(gql, customer["id"], "1500.00")
    # when both are to be paid in full
    result = await _allocate(gql, payment["id"], {"invoiceId": first["id"], "amount": "1000.00"},
                             {"invoiceId": second["id"], "amount": "1000.00"})
    # then the second line is refused, and the first is not applied either
    assert user_errors(result, "allocatePayment") == [(["allocations", "1", "amount"], "EXCEEDS_PAYMENT")]
    for invoice in (first, second):
        after = await _read(gql, INVOICE, invoice["id"])
        assert (after["status"], after["outstanding"], after["version"]) == ("ISSUED", "1000.00", invoice["version"])
    assert (await _read(gql, PAYMENT, payment["id"]))["unallocated"] == "1500.00"


async def test_allocating_more_than_the_whole_payment_is_exceeds_payment(gql):
    # given
    customer = await new_customer(gql)
    invoice = await issued_invoice(gql, customer["id"], total="1000.00")
    payment = await new_payment(gql, customer["id"], "300.00")
    # when
    result = await _allocate(gql, payment["id"], {"invoiceId": invoice["id"], "amount": "500.00"})
    # then
    assert user_errors(result, "allocatePayment") == [(["allocations", "0", "amount"], "EXCEEDS_PAYMENT")]
    assert (await _read(gql, INVOICE, invoice["id"]))["outstanding"] == "1000.00"
    assert (await _read(gql, PAYMENT, payment["id"]))["allocated"] == "0.00"


@pytest.mark.parametrize("amount", ["1000.01", "2000.00"], ids=["one-cent-over", "double"])
async def test_allocating_more_than_is_outstanding_is_exceeds_outstanding(gql, amount):
    # given
    customer = await new_customer(gql)
    invoice = await issued_invoice(gql, customer["id"], total="1000.00")
    payment = await new_payment(gql, customer["id"], "5000.00")
    # when
    result = await _allocate(gql, payment["id"], {"invoiceId": invoice["id"], "amount": amount})
    # then
    assert user_errors(result, "allocatePayment") == [(["allocations", "0", "amount"], "EXCEEDS_OUTSTANDING")]
    assert (await _read(gql, INVOICE, invoice["id"]))["outstanding"] == "1000.00"
    assert (await _read(gql, PAYMENT, payment["id"]))["allocated"] == "0.00"


async def test_allocating_a_usd_payment_to_a_cny_invoice_without_a_rate_is_currency_mismatch(gql):
    # given
    customer = await new_customer(gql)
    invoice = await issued_invoice(gql, customer["id"], total="1000.00")
    payment = await new_payment(gql, customer["id"], "200.00", currency="USD")
    # when
    result = await _allocate(gql, payment["id"], {"invoiceId": invoice["id"]})
    # then
    assert user_errors(result, "allocatePayment") == [(["allocations", "0", "exchangeRate"], "CURRENCY_MISMATCH")]
    assert (await _read(gql, INVOICE, invoice["id"]))["outstanding"] == "1000.00"
    assert await _read(gql, PAYMENT, payment["id"]) == {
        "amount": "200.00", "currency": "USD", "allocated": "0.00", "unallocated": "200.00", "allocations": []}


@pytest.mark.parametrize("rate", ["0", "-7.1"], ids=["zero", "negative"])
async def test_exchange_rate_that_is_not_positive_is_invalid(gql, rate):
    # given
    customer = await new_customer(gql)
    invoice = await issued_invoice(gql, customer["id"], total="1000.00")
    payment = await new_payment(gql, customer["id"], "100.00", currency="USD")
    # when
    result = await _allocate(gql, payment["id"], {"invoiceId": invoice["id"], "exchangeRate": rate})
    # then
    assert user_errors(result, "allocatePayment") == [(["allocations", "0", "exchangeRate"], "INVALID")]
    assert (await _read(gql, PAYMENT, payment["id"]))["allocated"] == "0.00"


async def test_allocating_to_one_invoice_twice_in_a_request_is_duplicate(gql):
    # given
    customer = await new_customer(gql)
    invoice = await issued_invoice(gql, customer["id"], total="1000.00")
    payment = await new_payment(gql, customer["id"], "1000.00")
    # when
    result = await _allocate(gql, payment["id"], {"invoiceId": invoice["id"], "amount": "100.00"},
                             {"invoiceId": invoice["id"], "amount": "200.00"})
    # then
    assert user_errors(result, "allocatePayment") == [(["allocations"], "DUPLICATE")]
    assert (await _read(gql, INVOICE, invoice["id"]))["outstanding"] == "1000.00"


@pytest.mark.parametrize(("amount", "code"), [("1000.01", "EXCEEDS_OUTSTANDING"), ("0", "INVALID_AMOUNT"),
                                             ("-5.00", "INVALID_AMOUNT")], ids=["over", "zero", "negative"])
async def test_credit_note_beyond_what_is_outstanding_or_not_positive_is_refused(gql, amount, code):
    # given
    customer = await new_customer(gql)
    invoice = await issued_invoice(gql, customer["id"], total="1000.00")
    # when
    result = await gql(CREDIT, {"input": {"invoiceId": invoice["id"], "reason": "折让", "amount": amount}},
                       as_=FINANCE)
    # then
    assert user_errors(result, "issueCreditNote") == [(["amount"], code)]
    after = await _read(gql, INVOICE, invoice["id"])
    assert (after["status"], after["outstanding"], after["version"]) == ("ISSUED", "1000.00", invoice["version"])
    assert await _count(gql, INVOICES_OF_CUSTOMER, customer["id"]) == 1


@pytest.mark.parametrize("amount", ["100000000000000.00", "1e30", "10.001"], ids=["too-large", "exponent", "mills"])
async def test_payment_amount_beyond_the_largest_or_finer_than_cents_is_invalid_amount(gql, amount):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(RECORD_PAYMENT, {"input": {"customerId": customer["id"], "amount": amount}}, as_=FINANCE)
    # then
    assert user_errors(result, "recordPayment") == [(["amount"], "INVALID_AMOUNT")]
    assert await _count(gql, PAYMENTS_OF_CUSTOMER, customer["id"]) == 0


async def test_replanning_once_an_installment_is_invoiced_is_plan_locked(gql):
    # given
    contract = await active_contract(gql)
    set_plan_input = {"contractId": contract["id"], "installments": [
        {"label": "全款", "dueDate": date.today().isoformat(), "percent": "100"}]}
    [installment] = ok(await gql(SET_PLAN, {"input": set_plan_input}, as_=FINANCE), "setPaymentPlan")["installments"]
    ok(await gql(ISSUE_INVOICE, {"input": {"installmentId": installment["id"]}}, as_=FINANCE), "issueInvoice")
    # when
    result = await gql(SET_PLAN, {"input": {**set_plan_input, "installments": [
        {"label": "一半", "dueDate": date.today().isoformat(), "percent": "50"},
        {"label": "一半", "dueDate": date.today().isoformat(), "percent": "50"}]}}, as_=FINANCE)
    # then
    assert user_errors(result, "setPaymentPlan") == [(["contractId"], "PLAN_LOCKED")]
    assert (await _read(gql, CONTRACT, contract["id"]))["paymentPlan"] == [{"id": installment["id"],
                                                                           "amount": "10600.00"}]


async def test_invoicing_an_installment_of_a_contract_not_signed_is_not_approved(gql):
    # given
    contract = await approved_contract(gql)
    [installment] = await set_plan(gql, contract["id"])
    # when
    result = await gql(ISSUE_INVOICE, {"input": {"installmentId": installment["id"]}}, as_=FINANCE)
    # then
    assert user_errors(result, "issueInvoice") == [(["installmentId"], "NOT_APPROVED")]
    assert await _count(gql, INVOICES_OF_CUSTOMER, contract["customerId"]) == 0


async def test_contract_from_a_quote_not_accepted_is_quote_not_accepted(gql):
    # given
    quote = await new_quote(gql)
    # when
    result = await gql(CREATE_CONTRACT, {"input": {"quoteId": quote["id"], "document": document()}})
    # then
    assert user_errors(result, "createContract") == [(["quoteId"], "QUOTE_NOT_ACCEPTED")]
    assert await _count(gql, CONTRACTS_OF_CUSTOMER, quote["customerId"]) == 0


# ---- approvals and signatures ------------------------------------------------------------------------------------


async def test_signing_twice_is_already_signed_and_keeps_the_first_signature(gql):
    # given the customer has signed; our side has not
    contract = await approved_contract(gql)
    requests = await request_signatures(gql, {**contract, "managerId": user_id(gql, MANAGER)})
    first = await sign(gql, requests["customer"])
    # when the same token is used again
    result = await gql(SIGN, {"input": {**requests["customer"], "documentSha256": DOCUMENT_SHA256}}, as_=REP1)
    # then
    assert user_errors(result, "signContract") == [(["requestId"], "ALREADY_SIGNED")]
    after = await _read(gql, CONTRACT, contract["id"])
    assert (after["status"], after["version"]) == ("SIGNING", first["contract"]["version"])
    assert after["signatures"] == [{"status": "SIGNED", "signedAt": first["signature"]["signedAt"]},
                                   {"status": "PENDING", "signedAt": None}]


async def test_approving_the_second_step_before_the_first_is_approval_out_of_order(gql):
    # given
    contract = await submitted_contract(gql)
    # when finance approves its step while the manager's is open
    result = await gql(APPROVE_STEP, {"contractId": contract["id"], "stepId": contract["steps"][1]["id"]},
                       as_=FINANCE)
    # then
    assert user_errors(result, "approveContractStep") == [(["stepId"], "APPROVAL_OUT_OF_ORDER")]
    after = await _read(gql, CONTRACT, contract["id"])
    assert (after["status"], after["version"]) == ("PENDING_APPROVAL", contract["version"])
    assert after["approvalSteps"] == [{"role": "sales_manager", "status": "PENDING", "decidedBy": None},
                                      {"role": "finance", "status": "WAITING", "decidedBy": None}]


@pytest.mark.parametrize("approver", [FINANCE, SERVICE], ids=["finance", "service"])
async def test_approving_a_step_without_its_role_is_wrong_approver_role(gql, approver):
    # given the sales manager's step is open
    contract = await submitted_contract(gql)
    # when someone who may see the contract but is no sales manager approves it
    result = await gql(APPROVE_STEP, {"contractId": contract["id"], "stepId": contract["steps"][0]["id"]},
                       as_=approver)
    # then
    assert user_errors(result, "approveContractStep") == [(["stepId"], "WRONG_APPROVER_ROLE")]
    after = await _read(gql, CONTRACT, contract["id"])
    assert [s["status"] for s in after["approvalSteps"]] == ["PENDING", "WAITING"]
    assert after["version"] == contract["version"]


CHANGES_TO_A_SIGNED_CONTRACT = {
    "title": {"title": "改个名字"},
    "amount": {"amount": "1.00"},
    "document": {"document": document(b"%PDF-1.4 a different text")},
}


@pytest.mark.parametrize("change", CHANGES_TO_A_SIGNED_CONTRACT.values(), ids=CHANGES_TO_A_SIGNED_CONTRACT.keys())
async def test_editing_a_signed_contract_is_contract_signed_and_changes_nothing(gql, change):
    # given
    contract = await active_contract(gql)
    before = await _read(gql, CONTRACT, contract["id"])
    # when
    result = await gql(UPDATE_CONTRACT, {"input": {"id": contract["id"], "version": before["version"], **change}})
    # then
    assert user_errors(result, "updateContract") == [(["id"], "CONTRACT_SIGNED")]
    assert await _read(gql, CONTRACT, contract["id"]) == before


@pytest.mark.parametrize("comment", [None, "", "   "], ids=["none", "empty", "blank"])
async def test_rejecting_a_quote_without_a_comment_is_reason_required(gql, comment):
    # given
    quote = await pending_quote(gql)
    # when
    result = await gql(REJECT_QUOTE, {"input": {"id": quote["id"], "comment": comment}}, as_=MANAGER)
    # then
    assert user_errors(result, "rejectQuote") == [(["comment"], "REASON_REQUIRED")]
    after = await _read(gql, QUOTE, quote["id"], as_=REP1)
    assert (after["status"], after["decidedBy"], after["version"]) == ("PENDING_APPROVAL", None, quote["version"])


async def test_rejecting_a_contract_step_without_a_reason_is_reason_required(gql):
    # given
    contract = await submitted_contract(gql)
    # when
    result = await gql(REJECT_STEP, {"contractId": contract["id"], "stepId": contract["steps"][0]["id"],
                                     "reason": "  "}, as_=MANAGER)
    # then
    assert user_errors(result, "rejectContractStep") == [(["reason"], "REASON_REQUIRED")]
    after = await _read(gql, CONTRACT, contract["id"])
    assert (after["status"], [s["status"] for s in after["approvalSteps"]]) == ("PENDING_APPROVAL",
                                                                                ["PENDING", "WAITING"])


# ---- quotes ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", ["-1", "0", "0.00001"], ids=["negative", "zero", "five-decimals"])
async def test_quote_line_with_a_quantity_that_is_not_positive_is_invalid_quantity(gql, quantity):
    # given
    opportunity = await new_opportunity(gql)
    # when
    result = await gql(CREATE_QUOTE, {"input": {"opportunityId": opportunity["id"],
                                                "lines": [quote_line(), quote_line(quantity=quantity)]}})
    # then
    assert user_errors(result, "createQuote") == [(["lines", "1", "quantity"], "INVALID_QUANTITY")]
    assert await _count(gql, QUOTES_OF_OPPORTUNITY, opportunity["id"], as_=REP1) == 0


@pytest.mark.parametrize("discount", ["100.01", "250", "-5"], ids=["just-over", "far-over", "negative"])
async def test_quote_line_discount_outside_0_to_100_is_invalid_discount(gql, discount):
    # given
    opportunity = await new_opportunity(gql)
    # when
    result = await gql(CREATE_QUOTE, {"input": {"opportunityId": opportunity["id"],
                                                "lines": [quote_line(discountPercent=discount)]}})
    # then
    assert user_errors(result, "createQuote") == [(["lines", "0", "discountPercent"], "INVALID_DISCOUNT")]
    assert await _count(gql, QUOTES_OF_OPPORTUNITY, opportunity["id"], as_=REP1) == 0


async def test_discount_over_100_on_an_edit_is_invalid_discount_and_keeps_the_lines(gql):
    # given
    quote = await new_quote(gql)
    # when
    result = await gql(UPDATE_QUOTE, {"input": {"id": quote["id"], "version": quote["version"],
                                                "lines": [quote_line(quantity="3", discountPercent="101")]}})
    # then
    assert user_errors(result, "updateQuote") == [(["lines", "0", "discountPercent"], "INVALID_DISCOUNT")]
    after = await _read(gql, QUOTE, quote["id"], as_=REP1)
    assert (after["lines"], after["total"], after["version"]) == ([{"quantity": "10"}], "10600.00", quote["version"])


async def test_create_quote_retried_with_its_idempotency_key_returns_the_first_quote(gql):
    # given
    opportunity = await new_opportunity(gql)
    data = {"opportunityId": opportunity["id"], "lines": [quote_line()], "idempotencyKey": str(uuid.uuid4())}
    first = ok(await gql(CREATE_QUOTE, {"input": data}), "createQuote")["quote"]
    # when the client retries
    retried = ok(await gql(CREATE_QUOTE, {"input": data}), "createQuote")["quote"]
    # then
    assert retried == first
    listed = await _read(gql, QUOTES_OF_OPPORTUNITY, opportunity["id"], as_=REP1)
    assert listed == {"totalCount": 1, "edges": [{"node": {"id": first["id"], "number": first["number"]}}]}


async def test_create_quote_with_a_used_idempotency_key_and_another_input_is_refused(gql):
    # given
    opportunity = await new_opportunity(gql)
    data = {"opportunityId": opportunity["id"], "lines": [quote_line()], "idempotencyKey": str(uuid.uuid4())}
    ok(await gql(CREATE_QUOTE, {"input": data}), "createQuote")
    # when
    result = await gql(CREATE_QUOTE, {"input": {**data, "lines": [quote_line(quantity="11")]}})
    # then
    assert error_code(result) == "IDEMPOTENCY_KEY_REUSED"
    assert await _count(gql, QUOTES_OF_OPPORTUNITY, opportunity["id"], as_=REP1) == 1


# ---- Decimals and currencies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1000.5, 1000.0, "abc", "1,000.00", "NaN", True],
                         ids=["float", "whole-float", "letters", "thousands-separator", "nan", "boolean"])
async def test_payment_amount_that_is_not_a_decimal_string_is_bad_user_input(gql, amount):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(RECORD_PAYMENT, {"input": {"customerId": customer["id"], "amount": amount}}, as_=FINANCE)
    # then
    assert error_code(result) == "BAD_USER_INPUT"
    assert result.get("data") is None
    assert await _count(gql, PAYMENTS_OF_CUSTOMER, customer["id"]) == 0


@pytest.mark.parametrize("quantity", [1.5, "abc"], ids=["float", "letters"])
async def test_quote_quantity_that_is_not_a_decimal_string_is_bad_user_input(gql, quantity):
    # given
    opportunity = await new_opportunity(gql)
    # when
    result = await gql(CREATE_QUOTE, {"input": {"opportunityId": opportunity["id"],
                                                "lines": [quote_line(quantity=quantity)]}})
    # then
    assert error_code(result) == "BAD_USER_INPUT"
    assert await _count(gql, QUOTES_OF_OPPORTUNITY, opportunity["id"], as_=REP1) == 0


@pytest.mark.parametrize("percent", [50.0, "half"], ids=["float", "letters"])
async def test_installment_percent_that_is_not_a_decimal_string_is_bad_user_input(gql, percent):
    # given
    contract = await new_contract(gql)
    installments = [{"label": "一期", "dueDate": date.today().isoformat(), "percent": percent}]
    # when
    result = await gql(SET_PLAN, {"input": {"contractId": contract["id"], "installments": installments}},
                       as_=FINANCE)
    # then
    assert error_code(result) == "BAD_USER_INPUT"
    assert (await _read(gql, CONTRACT, contract["id"]))["paymentPlan"] == []


@pytest.mark.parametrize("currency", ["XYZ", "RMB", "US", "€"], ids=["xyz", "rmb", "two-letters", "sign"])
async def test_payment_in_an_unknown_currency_is_invalid_currency(gql, currency):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(RECORD_PAYMENT, {"input": {"customerId": customer["id"], "amount": "100.00",
                                                  "currency": currency}}, as_=FINANCE)
    # then
    assert user_errors(result, "recordPayment") == [(["currency"], "INVALID_CURRENCY")]
    assert await _count(gql, PAYMENTS_OF_CUSTOMER, customer["id"]) == 0


async def test_product_quote_and_contract_in_an_unknown_currency_are_invalid_currency(gql):
    # given
    code = unique("SKU").replace(" ", "-")
    opportunity = await new_opportunity(gql)
    # when
    product = await gql(CREATE_PRODUCT, {"input": {"code": code, "name": "Widget", "currency": "XYZ"}},
                        as_=FINANCE)
    quote = await gql(CREATE_QUOTE, {"input": {"opportunityId": opportunity["id"], "currency": "RMB",
                                               "lines": [quote_line()]}})
    contract = await gql(CREATE_CONTRACT, {"input": {"customerId": opportunity["customerId"], "amount": "100.00",
                                                     "currency": "ABC", "document": document()}})
    # then
    assert user_errors(product, "createProduct") == [(["currency"], "INVALID_CURRENCY")]
    assert user_errors(quote, "createQuote") == [(["currency"], "INVALID_CURRENCY")]
    assert user_errors(contract, "createContract") == [(["currency"], "INVALID_CURRENCY")]
    assert (await gql(PRODUCTS, {"search": code}, as_=FINANCE))["data"]["products"]["totalCount"] == 0
    assert await _count(gql, QUOTES_OF_OPPORTUNITY, opportunity["id"], as_=REP1) == 0
    assert await _count(gql, CONTRACTS_OF_CUSTOMER, opportunity["customerId"]) == 0


@pytest.mark.parametrize("arguments", ["periodDays: 0", "periodDays: 4000", "first: 101", "first: -1"],
                         ids=["no-period", "period-too-long", "page-too-large", "negative-page"])
async def test_receivables_with_a_period_or_page_out_of_range_is_bad_user_input(gql, arguments):
    # when
    result = await gql(f"{{ receivables({arguments}) {{ currency }} }}", as_=FINANCE)
    # then
    assert error_code(result) == "BAD_USER_INPUT"
    assert result["data"] is None


@pytest.mark.parametrize("currency", ["XYZ", "RMB", "€"], ids=["xyz", "rmb", "sign"])
async def test_receivables_in_an_unknown_currency_is_bad_user_input(gql, currency):
    # when
    result = await gql(RECEIVABLES, {"currency": currency}, as_=FINANCE)
    # then
    assert error_code(result) == "BAD_USER_INPUT"
    assert result["data"] is None


# ---- products ----------------------------------------------------------------------------------------------------


async def test_product_with_a_code_in_use_is_duplicate_and_not_created(gql):
    # given
    product = await new_product(gql)
    # when
    result = await gql(CREATE_PRODUCT, {"input": {"code": product["code"], "name": "Another"}}, as_=MANAGER)
    # then
    assert user_errors(result, "createProduct") == [(["code"], "DUPLICATE")]
    assert (await gql(PRODUCTS, {"search": product["code"]}, as_=FINANCE))["data"]["products"]["totalCount"] == 1


# ---- documents ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["not base64!!", "QUJ", "合同"], ids=["punctuation", "bad-padding", "cjk"])
async def test_contract_document_that_is_not_base64_is_invalid(gql, content):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(CREATE_CONTRACT, {"input": {"customerId": customer["id"], "amount": "100.00",
                                                   "document": {"name": "合同.pdf", "contentBase64": content}}})
    # then
    assert user_errors(result, "createContract") == [(["document", "contentBase64"], "INVALID")]
    assert await _count(gql, CONTRACTS_OF_CUSTOMER, customer["id"]) == 0


async def test_replacing_a_contract_document_with_bad_base64_is_invalid_and_keeps_the_document(gql):
    # given
    contract = await new_contract(gql)
    before = await _read(gql, CONTRACT, contract["id"])
    # when
    result = await gql(UPDATE_CONTRACT, {"input": {"id": contract["id"], "version": contract["version"],
                                                   "document": {"name": "v2.pdf", "contentBase64": "%%%"}}})
    # then
    assert user_errors(result, "updateContract") == [(["document", "contentBase64"], "INVALID")]
    assert await _read(gql, CONTRACT, contract["id"]) == before


# ---- stale versions ----------------------------------------------------------------------------------------------


async def test_updating_a_quote_from_a_stale_version_is_conflict(gql):
    # given someone changed the quote after we read version 1
    quote = await new_quote(gql)
    ok(await gql(UPDATE_QUOTE, {"input": {"id": quote["id"], "version": quote["version"], "title": "First"}}),
       "updateQuote")
    # when
    result = await gql(UPDATE_QUOTE, {"input": {"id": quote["id"], "version": quote["version"], "title": "Second"}})
    # then
    assert error_code(result) == "CONFLICT"
    after = await _read(gql, QUOTE, quote["id"], as_=REP1)
    assert (after["title"], after["version"]) == ("First", quote["version"] + 1)


async def test_approving_a_quote_from_a_stale_version_is_conflict(gql):
    # given the manager read the quote as a draft; the rep has submitted it since
    quote = await pending_quote(gql)
    # when
    result = await gql(APPROVE_QUOTE, {"input": {"id": quote["id"], "version": quote["version"] - 1}}, as_=MANAGER)
    # then
    assert error_code(result) == "CONFLICT"
    after = await _read(gql, QUOTE, quote["id"], as_=REP1)
    assert (after["status"], after["decidedBy"]) == ("PENDING_APPROVAL", None)


async def test_updating_a_product_from_a_stale_version_is_conflict(gql):
    # given
    product = await new_product(gql)
    ok(await gql(UPDATE_PRODUCT, {"input": {"id": product["id"], "version": product["version"], "name": "New"}},
                 as_=FINANCE), "updateProduct")
    # when
    result = await gql(UPDATE_PRODUCT, {"input": {"id": product["id"], "version": product["version"],
                                                  "name": "Newer"}}, as_=MANAGER)
    # then
    assert error_code(result) == "CONFLICT"
    assert await _read(gql, PRODUCT, product["id"]) == {"code": product["code"], "name": "New",
                                                        "version": product["version"] + 1}


async def test_updating_a_contract_from_a_stale_version_is_conflict(gql):
    # given
    contract = await new_contract(gql)
    ok(await gql(UPDATE_CONTRACT, {"input": {"id": contract["id"], "version": contract["version"],
                                             "title": "第一版"}}), "updateContract")
    # when
    result = await gql(UPDATE_CONTRACT, {"input": {"id": contract["id"], "version": contract["version"],
                                                   "amount": "99.00"}})
    # then
    assert error_code(result) == "CONFLICT"
    after = await _read(gql, CONTRACT, contract["id"])
    assert (after["title"], after["amount"], after["version"]) == ("第一版", "10600.00", contract["version"] + 1)


async def test_voiding_an_invoice_from_a_stale_version_is_conflict(gql):
    # given
    customer = await new_customer(gql)
    invoice = await issued_invoice(gql, customer["id"])
    stale = invoice["version"] - 1
    # when
    result = await gql(VOID_INVOICE, {"input": {"id": invoice["id"], "reason": "重复", "version": stale}}, as_=FINANCE)
    # then
    assert error_code(result) == "CONFLICT"
    assert (await _read(gql, INVOICE, invoice["id"]))["status"] == "ISSUED"


# ---- another org's ids and garbage ids ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def acme(gql) -> dict[str, Any]:
    """Quote-to-cash records of Acme, made by Acme's admin."""
    found = (await gql(ACME_RECORDS, as_=ACME_ADMIN))["data"]["opportunities"]["edges"][0]["node"]
    customer_id = found["customer"]["id"]
    product = await new_product(gql, as_=ACME_ADMIN, name="Acme consulting day")
    quote = await new_quote(gql, as_=ACME_ADMIN, opportunityId=found["id"], customerId=customer_id,
                            lines=[quote_line(productId=product["id"], unitPrice="450.00", discountPercent="30")])
    ok(await gql("""mutation ($id: ID!) { submitQuoteForApproval(input: {id: $id}) { userErrors { code } } }""",
                 {"id": quote["id"]}, as_=ACME_ADMIN), "submitQuoteForApproval")
    contract = await new_contract(gql, as_=ACME_ADMIN, customerId=customer_id)
    invoice = await issued_invoice(gql, customer_id, as_=ACME_ADMIN)
    payment = await new_payment(gql, customer_id, "10.00", as_=ACME_ADMIN)
    return {"Opportunity": found["id"], "Customer": customer_id, "Product": product["id"], "Quote": quote["id"],
            "Contract": contract["id"], "Invoice": invoice["id"], "Payment": payment["id"],
            "invoice": await _read(gql, INVOICE, invoice["id"], as_=ACME_ADMIN)}


READ_BY_ID = {t: f"query ($id: ID!) {{ record: {t.lower()}(id: $id) {{ id }} }}"
              for t in ("Product", "Quote", "Contract", "Invoice", "Payment")}


@pytest.mark.parametrize("as_", [ADMIN, FINANCE], ids=["admin", "finance"])
@pytest.mark.parametrize("type_name", READ_BY_ID.keys())
async def test_reading_another_orgs_quote_to_cash_record_is_not_found(gql, acme, type_name, as_):
    # when
    by_field = await gql(READ_BY_ID[type_name], {"id": acme[type_name]}, as_=as_)
    by_node = await gql(NODE, {"id": acme[type_name]}, as_=as_)
    # then
    for result in (by_field, by_node):
        assert error_code(result) == "NOT_FOUND"
        assert result["data"] == {"record": None}


async def test_quoting_another_orgs_opportunity_or_product_is_not_found(gql, acme):
    # given
    opportunity = await new_opportunity(gql)
    # when
    on_theirs = await gql(CREATE_QUOTE, {"input": {"opportunityId": acme["Opportunity"], "lines": [quote_line()]}})
    with_their_product = await gql(CREATE_QUOTE, {"input": {"opportunityId": opportunity["id"], "lines": [
        quote_line(productId=acme["Product"])]}})
    # then
    assert error_code(on_theirs) == error_code(with_their_product) == "NOT_FOUND"
    assert await _count(gql, QUOTES_OF_OPPORTUNITY, opportunity["id"], as_=REP1) == 0
    assert await _count(gql, QUOTES_OF_OPPORTUNITY, acme["Opportunity"], as_=ACME_ADMIN) == 1


async def test_contract_invoice_and_payment_for_another_orgs_customer_are_not_found(gql, acme):
    # when
    contract = await gql(CREATE_CONTRACT, {"input": {"customerId": acme["Customer"], "amount": "100.00"}}, as_=ADMIN)
    invoice = await gql(CREATE_INVOICE, {"input": {"customerId": acme["Customer"], "lines": [
        {"description": "x", "unitPrice": "1"}]}}, as_=FINANCE)
    payment = await gql(RECORD_PAYMENT, {"input": {"customerId": acme["Customer"], "amount": "100.00"}}, as_=FINANCE)
    # then
    assert [error_code(r) for r in (contract, invoice, payment)] == ["NOT_FOUND"] * 3
    assert await _count(gql, CONTRACTS_OF_CUSTOMER, acme["Customer"], as_=ACME_ADMIN) == 1
    assert await _count(gql, INVOICES_OF_CUSTOMER, acme["Customer"], as_=ACME_ADMIN) == 1
    assert await _count(gql, PAYMENTS_OF_CUSTOMER, acme["Customer"], as_=ACME_ADMIN) == 1


async def test_acting_on_another_orgs_quote_invoice_and_payment_is_not_found(gql, acme):
    # given a payment of our own
    customer = await new_customer(gql)
    ours = await new_payment(gql, customer["id"], "10.00")
    # when
    approve = await gql(APPROVE_QUOTE, {"input": {"id": acme["Quote"]}}, as_=ADMIN)
    void = await gql(VOID_INVOICE, {"input": {"id": acme["Invoice"], "reason": "x"}}, as_=FINANCE)
    pay_theirs = await _allocate(gql, ours["id"], {"invoiceId": acme["Invoice"]})
    use_their_payment = await _allocate(gql, acme["Payment"], {"invoiceId": acme["Invoice"]})
    # then
    assert [error_code(r) for r in (approve, void, pay_theirs, use_their_payment)] == ["NOT_FOUND"] * 4
    assert (await _read(gql, QUOTE, acme["Quote"], as_=ACME_ADMIN))["status"] == "PENDING_APPROVAL"
    assert await _read(gql, INVOICE, acme["Invoice"], as_=ACME_ADMIN) == acme["invoice"]
    assert (await _read(gql, PAYMENT, acme["Payment"], as_=ACME_ADMIN))["allocated"] == "0.00"
    assert (await _read(gql, PAYMENT, ours["id"]))["allocated"] == "0.00"


GARBAGE_IDS = {
    "garbage": lambda type_name: "garbage",
    "empty": lambda type_name: "",
    "not a number": lambda type_name: _global_id(type_name, "abc"),
    "another type": lambda type_name: _global_id("Customer", 1),
    "negative": lambda type_name: _global_id(type_name, -1),
    "huge": lambda type_name: _global_id(type_name, 10**30),
}


@pytest.mark.parametrize("type_name", READ_BY_ID.keys())
@pytest.mark.parametrize("garbage", GARBAGE_IDS.values(), ids=GARBAGE_IDS.keys())
async def test_malformed_id_is_not_found(gql, type_name, garbage):
    # when
    result = await gql(READ_BY_ID[type_name], {"id": garbage(type_name)}, as_=ADMIN)
    # then
    assert error_code(result) == "NOT_FOUND"
    assert result["data"] == {"record": None}


async def test_mutations_with_malformed_ids_are_not_found_and_change_nothing(gql):
    # given
    contract = await submitted_contract(gql)
    # when
    results = [
        await gql(APPROVE_STEP, {"contractId": contract["id"], "stepId": "garbage"}, as_=MANAGER),
        await gql(APPROVE_STEP, {"contractId": contract["id"], "stepId": contract["id"]}, as_=MANAGER),
        await gql(APPROVE_STEP, {"contractId": _global_id("Contract", "x"), "stepId": contract["steps"][0]["id"]},
                  as_=MANAGER),
        await gql(SET_PLAN, {"input": {"contractId": "garbage", "installments": []}}, as_=FINANCE),
        await gql(ALLOCATE, {"input": {"paymentId": _global_id("Payment", "1.5"), "automatic": True}}, as_=FINANCE),
    ]
    # then
    assert [error_code(r) for r in results] == ["NOT_FOUND"] * len(results)
    assert [s["status"] for s in (await _read(gql, CONTRACT, contract["id"]))["approvalSteps"]] == ["PENDING",
                                                                                                  "WAITING"]
