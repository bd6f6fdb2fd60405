"""Quote-to-cash records made over the GraphQL API by the demo users, the way a front end would: products,
quotes (pending, accepted), contracts (submitted, approved, signed), payment plans, invoices and payments."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import date
from typing import Any

from tests.factories.api.answers import ok
from tests.factories.api.crm import new_customer, new_opportunity
from tests.factories.api.users import FINANCE, MANAGER, REP1, user_id
from tests.factories.names import unique

DOCUMENT = "%PDF-1.4 合同正文 — 甲方与乙方".encode()
DOCUMENT_SHA256 = hashlib.sha256(DOCUMENT).hexdigest()

CREATE_PRODUCT = """
mutation ($input: CreateProductInput!) {
  createProduct(input: $input) { product { id code name defaultPrice currency version } userErrors { field code } }
}"""
CREATE_QUOTE = """
mutation ($input: CreateQuoteInput!) {
  createQuote(input: $input) {
    quote { id number revision status total version needsApproval }
    userErrors { field code }
  }
}"""
SUBMIT_QUOTE = """
mutation ($id: ID!) { submitQuoteForApproval(input: {id: $id}) { quote { status version } userErrors { code } } }
"""
APPROVE_QUOTE = """
mutation ($id: ID!) { approveQuote(input: {id: $id}) { quote { status version } userErrors { field code } } }
"""
ACCEPT_QUOTE = """
mutation ($id: ID!) { acceptQuote(input: {id: $id}) { quote { status version } userErrors { field code } } }
"""
CREATE_CONTRACT = """
mutation ($input: CreateContractInput!) {
  createContract(input: $input) { contract { id number status amount currency version } userErrors { field code } }
}"""
SUBMIT_CONTRACT = """
mutation ($id: ID!) {
  submitContract(input: {id: $id}) { contract { status version approvalSteps { id role status } } userErrors { code } }
}"""
APPROVE_STEP = """
mutation ($contractId: ID!, $stepId: ID!) {
  approveContractStep(input: {contractId: $contractId, stepId: $stepId}) {
    contract { status version } userErrors { field code }
  }
}"""
REQUEST_SIGNATURE = """
mutation ($input: RequestSignatureInput!) {
  requestSignature(input: $input) { signature { id status } signingToken userErrors { field code } }
}"""
SIGN = """
mutation ($input: SignContractInput!) {
  signContract(input: $input) { signature { id status signedAt } contract { status version } userErrors { field code } }
}"""
SET_PLAN = """
mutation ($input: SetPaymentPlanInput!) {
  setPaymentPlan(input: $input) { installments { id label amount status } userErrors { field code } }
}"""
CREATE_INVOICE = """
mutation ($input: CreateInvoiceInput!) {
  createInvoice(input: $input) { invoice { id status total } userErrors { field code } }
}"""
ISSUE_INVOICE = """
mutation ($input: IssueInvoiceInput!) {
  issueInvoice(input: $input) {
    invoice { id number status total outstanding currency version } userErrors { field code }
  }
}"""
RECORD_PAYMENT = """
mutation ($input: RecordPaymentInput!) {
  recordPayment(input: $input) { payment { id amount currency allocated unallocated } userErrors { field code } }
}"""
ALLOCATE_AUTOMATICALLY = """
mutation ($id: ID!) {
  allocatePayment(input: {paymentId: $id, automatic: true}) { payment { allocated } userErrors { field code } }
}"""


def document(content: bytes = DOCUMENT) -> dict[str, str]:
    return {"name": "合同.pdf", "contentBase64": base64.b64encode(content).decode()}


async def new_product(gql: Any, *, as_: str = FINANCE, **overrides: Any) -> dict[str, Any]:
    fields = {"code": unique("SKU").replace(" ", "-"), "name": "实施服务（人天）", "unit": "人天",
              "defaultPrice": "1000", "taxRate": "6", **overrides}
    return ok(await gql(CREATE_PRODUCT, {"input": fields}, as_=as_), "createProduct")["product"]


def quote_line(**overrides: Any) -> dict[str, Any]:
    """A quote line without a product: 10 × 1,000.00 at 6 % tax (10,600.00), no discount."""
    return {"description": "实施服务", "quantity": "10", "unitPrice": "1000.00", "taxRate": "6", **overrides}


async def new_quote(gql: Any, *, as_: str = REP1, **overrides: Any) -> dict[str, Any]:
    """A draft quote (on a fresh opportunity of ``as_`` unless ``opportunityId`` is given); ``opportunityId``
    and ``customerId`` included."""
    if "opportunityId" in overrides:
        opportunity = {"id": overrides.pop("opportunityId"), "customerId": overrides.pop("customerId", None)}
    else:
        opportunity = await new_opportunity(gql, as_=as_)
    fields = {"opportunityId": opportunity["id"], "lines": [quote_line()], **overrides}
    quote = ok(await gql(CREATE_QUOTE, {"input": fields}, as_=as_), "createQuote")["quote"]
    return {**quote, "opportunityId": opportunity["id"], "customerId": opportunity["customerId"]}


async def pending_quote(gql: Any, *, as_: str = REP1, **overrides: Any) -> dict[str, Any]:
    """A quote at 25 % off, submitted to the owner's manager."""
    quote = await new_quote(gql, as_=as_, lines=[quote_line(discountPercent="25")], **overrides)
    submitted = ok(await gql(SUBMIT_QUOTE, {"id": quote["id"]}, as_=as_), "submitQuoteForApproval")["quote"]
    assert submitted["status"] == "PENDING_APPROVAL"
    return {**quote, **submitted}


async def accepted_quote(gql: Any, *, as_: str = REP1, **overrides: Any) -> dict[str, Any]:
    quote = await new_quote(gql, as_=as_, **overrides)
    accepted = ok(await gql(ACCEPT_QUOTE, {"id": quote["id"]}, as_=as_), "acceptQuote")["quote"]
    return {**quote, **accepted}


async def new_contract(gql: Any, *, as_: str = REP1, **overrides: Any) -> dict[str, Any]:
    """A draft contract of 10,600.00 CNY (6 % tax included) with its document, for a fresh customer
    of ``as_`` unless ``customerId`` or ``quoteId`` is given; ``customerId`` included."""
    if "customerId" not in overrides and "quoteId" not in overrides:
        overrides["customerId"] = (await new_customer(gql, as_=as_))["id"]
    fields = {"title": unique("合同"), "document": document(), **overrides}
    if "quoteId" not in fields:
        fields = {"amount": "10600.00", "taxRate": "6", **fields}
    contract = ok(await gql(CREATE_CONTRACT, {"input": fields}, as_=as_), "createContract")["contract"]
    return {**contract, "customerId": overrides.get("customerId")}


async def submitted_contract(gql: Any, *, as_: str = REP1, **overrides: Any) -> dict[str, Any]:
    """A contract awaiting its approval steps (sales_manager, then finance); ``steps`` included."""
    contract = await new_contract(gql, as_=as_, **overrides)
    submitted = ok(await gql(SUBMIT_CONTRACT, {"id": contract["id"]}, as_=as_), "submitContract")["contract"]
    assert [(s["role"], s["status"]) for s in submitted["approvalSteps"]] == [("sales_manager", "PENDING"),
                                                                               ("finance", "WAITING")]
    return {**contract, "status": submitted["status"], "version": submitted["version"],
            "steps": submitted["approvalSteps"]}


async def approved_contract(gql: Any, *, as_: str = REP1, **overrides: Any) -> dict[str, Any]:
    contract = await submitted_contract(gql, as_=as_, **overrides)
    first, second = contract["steps"]
    ok(await gql(APPROVE_STEP, {"contractId": contract["id"], "stepId": first["id"]}, as_=MANAGER),
       "approveContractStep")
    done = ok(await gql(APPROVE_STEP, {"contractId": contract["id"], "stepId": second["id"]}, as_=FINANCE),
              "approveContractStep")["contract"]
    assert done["status"] == "APPROVED"
    return {**contract, **done}


async def request_signatures(gql: Any, contract: dict[str, Any], *, as_: str = REP1) -> dict[str, Any]:
    """The customer's signatory (with a one-time token) and our manager are asked to sign."""
    theirs = ok(await gql(REQUEST_SIGNATURE, {"input": {
        "contractId": contract["id"], "signerName": "张总", "signerEmail": f"{uuid.uuid4().hex[:8]}@customer.test"}},
        as_=as_), "requestSignature")
    ours = ok(await gql(REQUEST_SIGNATURE, {"input": {
        "contractId": contract["id"], "party": "vendor", "userId": contract["managerId"]}}, as_=as_),
        "requestSignature")
    return {"customer": {"requestId": theirs["signature"]["id"], "signingToken": theirs["signingToken"]},
            "vendor": {"requestId": ours["signature"]["id"]}}


async def sign(gql: Any, request: dict[str, Any], *, as_: str = REP1) -> dict[str, Any]:
    result = await gql(SIGN, {"input": {**request, "documentSha256": DOCUMENT_SHA256}}, as_=as_)
    return ok(result, "signContract")


async def active_contract(gql: Any, *, as_: str = REP1, **overrides: Any) -> dict[str, Any]:
    """Approved and signed by both parties; ``signatures`` (request ids) included."""
    contract = await approved_contract(gql, as_=as_, **overrides)
    requests = await request_signatures(gql, {**contract, "managerId": user_id(gql, MANAGER)}, as_=as_)
    await sign(gql, requests["customer"], as_=as_)
    active = (await sign(gql, requests["vendor"], as_=MANAGER))["contract"]
    assert active["status"] == "ACTIVE"
    return {**contract, **active, "signatures": requests}


async def set_plan(gql: Any, contract_id: str, installments: list[dict[str, Any]] | None = None, *,
                   as_: str = FINANCE) -> list[dict[str, Any]]:
    """Default: one installment of 100 %, due today."""
    items = installments or [{"label": "全款", "dueDate": date.today().isoformat(), "percent": "100"}]
    result = await gql(SET_PLAN, {"input": {"contractId": contract_id, "installments": items}}, as_=as_)
    return ok(result, "setPaymentPlan")["installments"]


async def issue_installment(gql: Any, installment_id: str, *, as_: str = FINANCE) -> dict[str, Any]:
    result = await gql(ISSUE_INVOICE, {"input": {"installmentId": installment_id}}, as_=as_)
    return ok(result, "issueInvoice")["invoice"]


async def issued_invoice(gql: Any, customer_id: str, *, total: str = "1000.00", as_: str = FINANCE,
                         **overrides: Any) -> dict[str, Any]:
    """An issued invoice of one line of ``total`` without tax, for the customer."""
    fields = {"customerId": customer_id, "lines": [{"description": "服务费", "unitPrice": total}], **overrides}
    draft = ok(await gql(CREATE_INVOICE, {"input": fields}, as_=as_), "createInvoice")["invoice"]
    result = await gql(ISSUE_INVOICE, {"input": {"invoiceId": draft["id"]}}, as_=as_)
    return ok(result, "issueInvoice")["invoice"]


async def new_payment(gql: Any, customer_id: str | None, amount: str, *, as_: str = FINANCE,
                      **overrides: Any) -> dict[str, Any]:
    fields = {"customerId": customer_id, "amount": amount, "reference": unique("电汇"), **overrides}
    return ok(await gql(RECORD_PAYMENT, {"input": fields}, as_=as_), "recordPayment")["payment"]
