"""End to end over HTTP, as the demo users would click through it: a quote with a big discount →
the manager approves → the customer accepts → the contract is approved (sales_manager, then finance)
and signed by both parties → a plan of 3 installments → invoices → one partial payment → the
receivables show the right aging. Plus who may do what along the way."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from tests.factories.api.answers import ok
from tests.factories.api.users import user_id

DOC = "合同正文 — Contract body, full-width ＡＢＣ".encode()

CREATE_CUSTOMER = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  customer { id name } userErrors { code } } }"""
CREATE_OPPORTUNITY = """mutation($input: CreateOpportunityInput!) { createOpportunity(input: $input) {
  opportunity { id amount } userErrors { code } } }"""
CREATE_PRODUCT = """mutation($input: CreateProductInput!) { createProduct(input: $input) {
  product { id code name defaultPrice taxRate } userErrors { field code } } }"""
CREATE_QUOTE = """mutation($input: CreateQuoteInput!) { createQuote(input: $input) {
  quote { id number revision status subtotal taxTotal total discountPercent needsApproval version
          lines { description quantity unitPrice discountPercent gross discount net tax total } }
  userErrors { field code } } }"""
SEND = """mutation($id: ID!) { sendQuote(input: {id: $id}) { quote { status } userErrors { field code } } }"""
SUBMIT = """mutation($id: ID!) { submitQuoteForApproval(input: {id: $id}) { quote { status } userErrors { code } } }"""
APPROVE = """mutation($id: ID!, $c: String) { approveQuote(input: {id: $id, comment: $c}) {
  quote { status decisionComment decidedBy { email } } userErrors { code } } }"""
ACCEPT = """mutation($id: ID!) { acceptQuote(input: {id: $id}) {
  quote { status opportunity { amount currency } } userErrors { code } } }"""
CREATE_CONTRACT = """mutation($input: CreateContractInput!) { createContract(input: $input) {
  contract { id number status amount currency taxRate document { name size sha256 } customer { name } }
  userErrors { field code } } }"""
SUBMIT_CONTRACT = """mutation($id: ID!) { submitContract(input: {id: $id}) {
  contract { status approvalSteps { id position role status } } userErrors { field code } } }"""
APPROVE_STEP = """mutation($c: ID!, $s: ID!) { approveContractStep(input: {contractId: $c, stepId: $s}) {
  contract { status } userErrors { field code } } }"""
REQUEST_SIGNATURE = """mutation($input: RequestSignatureInput!) { requestSignature(input: $input) {
  signature { id status signerName } signingToken userErrors { field code } } }"""
SIGN = """mutation($input: SignContractInput!) { signContract(input: $input) {
  signature { status signedAt signedUserAgent signedDocumentSha256 } contract { status }
  userErrors { field code } } }"""
SET_PLAN = """mutation($input: SetPaymentPlanInput!) { setPaymentPlan(input: $input) {
  installments { id position label amount dueDate } userErrors { field code } } }"""
ISSUE = """mutation($input: IssueInvoiceInput!) { issueInvoice(input: $input) {
  invoice { id number status total outstanding dueDate } userErrors { field code } } }"""
RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) { recordPayment(input: $input) {
  payment { id amount allocated unallocated } userErrors { field code } } }"""
ALLOCATE = """mutation($input: AllocatePaymentInput!) { allocatePayment(input: $input) {
  payment { allocated unallocated } allocations { amount invoice { number status outstanding } }
  userErrors { field code } } }"""
RECEIVABLES = """query($c: ID) { receivables(customerId: $c) {
  currency outstanding overdue openInvoices overdueInvoices dso onTimeRate dueInvoices
  aging { current days1To30 days31To60 days61To90 over90 }
  invoices { outstanding daysOverdue invoice { number } } } }"""
CONTRACT = """query($id: ID!) { contract(id: $id) { number status amount
  signatures { signerName status signedIp signedDocumentSha256 }
  paymentPlan { label amount status invoice { number status } } invoices { number status } } }"""


async def test_quote_to_receivables_through_graphql(gql):
    rep, manager, finance = "rep1@demo.test", "manager@demo.test", "finance@demo.test"
    tag = uuid.uuid4().hex[:6]
    today = datetime.now(UTC).date()
    # given a rep's customer and opportunity, and a product at 6 % VAT
    customer = ok(await gql(CREATE_CUSTOMER, {"input": {"name": f"深圳市腾飞科技 {tag}"}}, as_=rep),
                   "createCustomer")["customer"]
    opportunity = ok(await gql(CREATE_OPPORTUNITY, {"input": {
        "customerId": customer["id"], "name": "ERP 实施", "amount": "100000.00"}}, as_=rep),
        "createOpportunity")["opportunity"]
    product = ok(await gql(CREATE_PRODUCT, {"input": {"code": f"IMPL-{tag}", "name": "实施服务（人天）",
                                                       "unit": "人天", "defaultPrice": "3000", "taxRate": "6"}},
                            as_=finance), "createProduct")["product"]
    assert (product["defaultPrice"], product["taxRate"]) == ("3000.00", "6")

    # when the rep quotes 100 days at 25 % off
    quote = ok(await gql(CREATE_QUOTE, {"input": {"opportunityId": opportunity["id"], "lines": [
        {"productId": product["id"], "quantity": "100", "discountPercent": "25"}]}}, as_=rep),
        "createQuote")["quote"]
    # then the totals are exact and the discount needs approval before it can be sent
    assert (quote["subtotal"], quote["taxTotal"], quote["total"], quote["discountPercent"]) == (
        "225000.00", "13500.00", "238500.00", "25.00")
    assert quote["lines"][0]["unitPrice"] == "3000.00" and quote["needsApproval"] is True
    sent = await gql(SEND, {"id": quote["id"]}, as_=rep)
    assert sent["data"]["sendQuote"]["userErrors"] == [{"field": ["id"], "code": "DISCOUNT_NEEDS_APPROVAL"}]
    # a rep may not approve, not even after submitting
    assert ok(await gql(SUBMIT, {"id": quote["id"]}, as_=rep), "submitQuoteForApproval")["quote"]["status"] == \
        "PENDING_APPROVAL"
    denied = await gql(APPROVE, {"id": quote["id"]}, as_=rep)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    approved = ok(await gql(APPROVE, {"id": quote["id"], "c": "战略客户，同意"}, as_=manager), "approveQuote")
    assert approved["quote"]["status"] == "APPROVED"
    assert approved["quote"]["decidedBy"]["email"] == manager
    accepted = ok(await gql(ACCEPT, {"id": quote["id"]}, as_=rep), "acceptQuote")
    assert accepted["quote"]["opportunity"] == {"amount": "238500.00", "currency": "CNY"}

    # the contract: from the accepted quote, approved by the manager then finance
    contract = ok(await gql(CREATE_CONTRACT, {"input": {"quoteId": quote["id"], "document": {
        "name": "合同.pdf", "contentBase64": base64.b64encode(DOC).decode()}}}, as_=rep), "createContract")["contract"]
    sha = hashlib.sha256(DOC).hexdigest()
    assert (contract["amount"], contract["status"], contract["document"]["sha256"]) == ("238500.00", "DRAFT", sha)
    assert contract["customer"]["name"] == customer["name"]
    steps = ok(await gql(SUBMIT_CONTRACT, {"id": contract["id"]}, as_=rep),
                "submitContract")["contract"]["approvalSteps"]
    assert [(s["role"], s["status"]) for s in steps] == [("sales_manager", "PENDING"), ("finance", "WAITING")]
    early = await gql(APPROVE_STEP, {"c": contract["id"], "s": steps[1]["id"]}, as_=finance)
    assert early["data"]["approveContractStep"]["userErrors"] == [{"field": ["stepId"],
                                                                   "code": "APPROVAL_OUT_OF_ORDER"}]
    ok(await gql(APPROVE_STEP, {"c": contract["id"], "s": steps[0]["id"]}, as_=manager), "approveContractStep")
    done = ok(await gql(APPROVE_STEP, {"c": contract["id"], "s": steps[1]["id"]}, as_=finance),
               "approveContractStep")
    assert done["contract"]["status"] == "APPROVED"

    # signed by the customer's signatory (with a one-time token) and by our manager
    outside = ok(await gql(REQUEST_SIGNATURE, {"input": {"contractId": contract["id"], "signerName": "张总",
                                                          "signerEmail": f"zhang-{tag}@customer.test"}}, as_=rep),
                  "requestSignature")
    ours = ok(await gql(REQUEST_SIGNATURE, {"input": {"contractId": contract["id"], "party": "vendor",
                                                       "userId": user_id(gql, manager)}},
                         as_=rep), "requestSignature")
    assert outside["signingToken"] and ours["signingToken"] is None
    signed = ok(await gql(SIGN, {"input": {"requestId": outside["signature"]["id"], "documentSha256": sha,
                                            "signingToken": outside["signingToken"]}}, as_=rep,
                           headers={"user-agent": "SigningPortal/1.0"}), "signContract")
    assert signed["signature"]["signedUserAgent"] == "SigningPortal/1.0"
    assert signed["contract"]["status"] == "SIGNING"
    twice = await gql(SIGN, {"input": {"requestId": outside["signature"]["id"], "documentSha256": sha,
                                       "signingToken": outside["signingToken"]}}, as_=rep)
    assert twice["data"]["signContract"]["userErrors"][0]["code"] == "ALREADY_SIGNED"
    active = ok(await gql(SIGN, {"input": {"requestId": ours["signature"]["id"], "documentSha256": sha}},
                           as_=manager), "signContract")
    assert active["contract"]["status"] == "ACTIVE"

    # a plan of 3 installments; the first two fell due 95 and 40 days ago
    due1, due2, due3 = today - timedelta(days=95), today - timedelta(days=40), today + timedelta(days=60)
    wrong = await gql(SET_PLAN, {"input": {"contractId": contract["id"], "installments": [
        {"label": "首付", "dueDate": str(due1), "amount": "100000.00"}]}}, as_=finance)
    assert wrong["data"]["setPaymentPlan"]["userErrors"] == [{"field": ["installments"],
                                                              "code": "INSTALLMENTS_MISMATCH"}]
    plan = ok(await gql(SET_PLAN, {"input": {"contractId": contract["id"], "installments": [
        {"label": "首付款 30%", "dueDate": str(due1), "percent": "30"},
        {"label": "验收款 60%", "dueDate": str(due2), "percent": "60"},
        {"label": "质保金 10%", "dueDate": str(due3), "percent": "10"}]}}, as_=finance),
        "setPaymentPlan")["installments"]
    assert [i["amount"] for i in plan] == ["71550.00", "143100.00", "23850.00"]
    # only finance issues invoices
    forbidden = await gql(ISSUE, {"input": {"installmentId": plan[0]["id"]}}, as_=rep)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    first = ok(await gql(ISSUE, {"input": {"installmentId": plan[0]["id"], "issueDate": str(due1 - timedelta(30)),
                                            "dueDate": str(due1)}}, as_=finance), "issueInvoice")["invoice"]
    second = ok(await gql(ISSUE, {"input": {"installmentId": plan[1]["id"], "issueDate": str(due2 - timedelta(30)),
                                             "dueDate": str(due2)}}, as_=finance), "issueInvoice")["invoice"]
    assert int(second["number"].split("-")[1]) == int(first["number"].split("-")[1]) + 1
    assert (first["status"], first["total"]) == ("ISSUED", "71550.00")

    # one partial payment, allocated oldest due first
    payment = ok(await gql(RECORD_PAYMENT, {"input": {"customerId": customer["id"], "amount": "50000.00",
                                                       "reference": f"招商银行 {tag}"}}, as_=finance),
                  "recordPayment")["payment"]
    allocated = ok(await gql(ALLOCATE, {"input": {"paymentId": payment["id"], "automatic": True}}, as_=finance),
                    "allocatePayment")
    assert allocated["payment"] == {"allocated": "50000.00", "unallocated": "0.00"}
    assert allocated["allocations"] == [{"amount": "50000.00", "invoice": {
        "number": first["number"], "status": "PARTIALLY_PAID", "outstanding": "21550.00"}}]

    # then the receivables: 21,550 is 95 days overdue (90+), 143,100 is 40 days overdue (31–60)
    figures = (await gql(RECEIVABLES, {"c": customer["id"]}, as_=finance))["data"]["receivables"]
    assert figures["aging"] == {"current": "0.00", "days1To30": "0.00", "days31To60": "143100.00",
                                "days61To90": "0.00", "over90": "21550.00"}
    assert (figures["outstanding"], figures["overdue"], figures["openInvoices"]) == ("164650.00", "164650.00", 2)
    assert figures["onTimeRate"] == "0.0000" and figures["dueInvoices"] == 2
    assert [(i["invoice"]["number"], i["daysOverdue"]) for i in figures["invoices"]] == [
        (first["number"], 95), (second["number"], 40)]
    # the rep reads their contract's payment status (but not the payments themselves)
    seen = (await gql(CONTRACT, {"id": contract["id"]}, as_=rep))["data"]["contract"]
    assert [(i["label"], i["status"], (i["invoice"] or {}).get("status")) for i in seen["paymentPlan"]] == [
        ("首付款 30%", "INVOICED", "PARTIALLY_PAID"), ("验收款 60%", "INVOICED", "ISSUED"),
        ("质保金 10%", "PLANNED", None)]
    assert [s["signedDocumentSha256"] for s in seen["signatures"]] == [sha, sha]
    assert (await gql("{ payments(first: 5) { edges { node { id } } } }", as_=rep))["data"]["payments"]["edges"] == []


async def test_marketing_sees_none_of_quote_to_cash_and_service_sees_no_amounts(gql):
    # given contracts exist (the demo data has contracts in every state)
    listing = "{ contracts(first: 50) { edges { node { number amount status } } } }"
    by_finance = (await gql(listing, as_="finance@demo.test"))["data"]["contracts"]["edges"]
    assert by_finance, "the demo data should hold contracts"
    # when marketing and service list them
    by_marketing = await gql(listing, as_="marketing@demo.test")
    by_service = await gql(listing, as_="service@demo.test")
    # then marketing sees nothing; service sees every contract with its amount masked
    assert by_marketing["data"]["contracts"]["edges"] == []
    assert [e["node"]["amount"] for e in by_service["data"]["contracts"]["edges"]] == [None] * len(by_finance)
    assert [e["extensions"]["code"] for e in by_service["errors"]] == ["FORBIDDEN_FIELD"]
    for query in ("{ invoices(first: 5) { edges { node { id } } } }", "{ quotes(first: 5) { edges { node { id } } } }",
                  "{ payments(first: 5) { edges { node { id } } } }"):
        result = await gql(query, as_="marketing@demo.test")
        assert list(result["data"].values())[0]["edges"] == []
