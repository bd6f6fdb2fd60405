"""Tenancy cases from quote to cash: products, price books, quotes, contracts (their approval steps,
signatures and installments), invoices, payments and allocations. Acme's own records are made through
the API by its admin; Demo's are the seed's, one of each kind and state."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tandem.domain.billing.invoice import Invoice
from tandem.domain.billing.payment import Payment, PaymentAllocation
from tandem.domain.billing.payment_plan import Installment
from tandem.domain.contracts.approval import ContractApprovalStep
from tandem.domain.contracts.contract import Contract
from tandem.domain.contracts.signature import SignatureRequest
from tandem.domain.crm.customer import Customer
from tandem.domain.pipeline.opportunity import Opportunity
from tandem.domain.sales.product import PriceBook, Product
from tandem.domain.sales.quote import Quote
from tandem.schema.node import from_global_id, to_global_id

from . import ACME, ACME_REP, USER_ERRORS, Case, Records, created, first_row, input_of
from .crm import ASSIGN_ROLE, REVOKE_ROLE

# --- documents -------------------------------------------------------------------------------

CONTRACT_APPROVAL_FLOW = "{ contractApprovalFlow }"

RECEIVABLES = """
query ($customerId: ID) {
  receivables(customerId: $customerId) {
    currency customerId outstanding openInvoices
    invoices { outstanding invoice { id customer { id } contract { id } } }
  }
}"""

PRODUCTS = """
query ($search: String) {
  products(first: 100, search: $search) { totalCount edges { node { id code name } } }
}"""

PRICE_BOOKS = "{ priceBooks { id name currency entries { unitPrice product { id } } } }"

QUOTES = """
query ($filter: QuoteFilter) {
  quotes(first: 100, filter: $filter) {
    totalCount
    edges { node {
      id title opportunity { id } customer { id } owner { id } decidedBy { id } previousRevision { id }
      lines { product { id } }
    } }
  }
}"""

CONTRACTS = """
query ($filter: ContractFilter) {
  contracts(first: 100, filter: $filter) {
    totalCount
    edges { node {
      id title customer { id } opportunity { id } quote { id } owner { id } amends { id }
      approvalSteps { id decidedBy { id } } signatures { id signer { id } } paymentPlan { id invoice { id } }
      invoices { id }
    } }
  }
}"""

INVOICES = """
query ($filter: InvoiceFilter) {
  invoices(first: 100, filter: $filter) {
    totalCount
    edges { node {
      id number customer { id } contract { id } creditedInvoice { id }
      allocations { id payment { id } invoice { id } createdBy { id } }
    } }
  }
}"""

PAYMENTS = """
query ($filter: PaymentFilter) {
  payments(first: 100, filter: $filter) {
    totalCount
    edges { node { id payerName customer { id } allocations { id invoice { id } } } }
  }
}"""

CREATE_PRODUCT = f"""
mutation ($input: CreateProductInput!) {{ createProduct(input: $input) {{ product {{ id }} {USER_ERRORS} }} }}"""
UPDATE_PRODUCT = f"""
mutation ($input: UpdateProductInput!) {{ updateProduct(input: $input) {{ product {{ id name }} {USER_ERRORS} }} }}"""
CREATE_PRICE_BOOK = f"""
mutation ($input: CreatePriceBookInput!) {{
  createPriceBook(input: $input) {{ priceBook {{ id entries {{ product {{ id }} }} }} {USER_ERRORS} }}
}}"""
CREATE_QUOTE = f"""
mutation ($input: CreateQuoteInput!) {{ createQuote(input: $input) {{ quote {{ id version }} {USER_ERRORS} }} }}"""
UPDATE_QUOTE = f"""
mutation ($input: UpdateQuoteInput!) {{ updateQuote(input: $input) {{ quote {{ id title }} {USER_ERRORS} }} }}"""
SET_DISCOUNT_THRESHOLD = f"""
mutation ($input: SetDiscountThresholdInput!) {{
  setDiscountThreshold(input: $input) {{ threshold {{ role maxDiscountPercent }} {USER_ERRORS} }}
}}"""
CREATE_CONTRACT = f"""
mutation ($input: CreateContractInput!) {{
  createContract(input: $input) {{ contract {{ id version }} {USER_ERRORS} }}
}}"""
UPDATE_CONTRACT = f"""
mutation ($input: UpdateContractInput!) {{
  updateContract(input: $input) {{ contract {{ id title }} {USER_ERRORS} }}
}}"""
AMEND_CONTRACT = f"""
mutation ($input: AmendContractInput!) {{ amendContract(input: $input) {{ contract {{ id }} {USER_ERRORS} }} }}"""
TERMINATE_CONTRACT = f"""
mutation ($input: TerminateContractInput!) {{
  terminateContract(input: $input) {{ contract {{ id status }} {USER_ERRORS} }}
}}"""
SUBMIT_CONTRACT = f"""
mutation ($input: SubmitContractInput!) {{
  submitContract(input: $input) {{ contract {{ id status approvalSteps {{ id status }} }} {USER_ERRORS} }}
}}"""
APPROVE_CONTRACT_STEP = f"""
mutation ($input: ApproveContractStepInput!) {{
  approveContractStep(input: $input) {{ contract {{ id status approvalSteps {{ id status }} }} {USER_ERRORS} }}
}}"""
REJECT_CONTRACT_STEP = f"""
mutation ($input: RejectContractStepInput!) {{
  rejectContractStep(input: $input) {{ contract {{ id status }} {USER_ERRORS} }}
}}"""
REQUEST_SIGNATURE = f"""
mutation ($input: RequestSignatureInput!) {{
  requestSignature(input: $input) {{ signature {{ id }} signingToken {USER_ERRORS} }}
}}"""
SIGN_CONTRACT = f"""
mutation ($input: SignContractInput!) {{
  signContract(input: $input) {{ signature {{ id status }} {USER_ERRORS} }}
}}"""
SET_PAYMENT_PLAN = f"""
mutation ($input: SetPaymentPlanInput!) {{
  setPaymentPlan(input: $input) {{ installments {{ id }} {USER_ERRORS} }}
}}"""
REACH_PAYMENT_MILESTONE = f"""
mutation ($input: ReachPaymentMilestoneInput!) {{
  reachPaymentMilestone(input: $input) {{ installments {{ id }} {USER_ERRORS} }}
}}"""
SET_CONTRACT_APPROVAL_FLOW = f"""
mutation ($input: SetContractApprovalFlowInput!) {{
  setContractApprovalFlow(input: $input) {{ steps {USER_ERRORS} }}
}}"""
CREATE_INVOICE = f"""
mutation ($input: CreateInvoiceInput!) {{ createInvoice(input: $input) {{ invoice {{ id }} {USER_ERRORS} }} }}"""
ISSUE_INVOICE = f"""
mutation ($input: IssueInvoiceInput!) {{
  issueInvoice(input: $input) {{ invoice {{ id number status }} {USER_ERRORS} }}
}}"""
VOID_INVOICE = f"""
mutation ($input: VoidInvoiceInput!) {{ voidInvoice(input: $input) {{ invoice {{ id status }} {USER_ERRORS} }} }}"""
ISSUE_CREDIT_NOTE = f"""
mutation ($input: IssueCreditNoteInput!) {{ issueCreditNote(input: $input) {{ invoice {{ id }} {USER_ERRORS} }} }}"""
RECORD_PAYMENT = f"""
mutation ($input: RecordPaymentInput!) {{ recordPayment(input: $input) {{ payment {{ id }} {USER_ERRORS} }} }}"""
ALLOCATE_PAYMENT = f"""
mutation ($input: AllocatePaymentInput!) {{
  allocatePayment(input: $input) {{ allocations {{ id }} {USER_ERRORS} }}
}}"""
REVERSE_PAYMENT_ALLOCATION = f"""
mutation ($input: ReversePaymentAllocationInput!) {{
  reversePaymentAllocation(input: $input) {{ allocations {{ id }} {USER_ERRORS} }}
}}"""
MATCH_PAYMENT = f"""
mutation ($input: MatchPaymentInput!) {{
  matchPayment(input: $input) {{ payment {{ id customer {{ id }} }} {USER_ERRORS} }}
}}"""

# quote actions: input type, the Demo quote they would apply to, whether they take a comment
QUOTE_ACTIONS = {
    "submitQuoteForApproval": ("QuoteActionInput", "DraftQuote", False),
    "approveQuote": ("QuoteDecisionInput", "PendingQuote", True),
    "rejectQuote": ("QuoteDecisionInput", "PendingQuote", True),
    "sendQuote": ("QuoteActionInput", "DraftQuote", False),
    "acceptQuote": ("QuoteActionInput", "SentQuote", False),
    "declineQuote": ("QuoteDecisionInput", "SentQuote", True),
    "reviseQuote": ("QuoteActionInput", "SentQuote", False),
}


def quote_action(field: str) -> str:
    input_type = QUOTE_ACTIONS[field][0]
    return f"mutation ($input: {input_type}!) {{ {field}(input: $input) {{ quote {{ id status }} {USER_ERRORS} }} }}"


# --- the records ------------------------------------------------------------------------------


def _document(title: str) -> dict[str, str]:
    return {"name": f"{title}.pdf", "contentBase64": base64.b64encode(f"%PDF-1.4\n{title}\n".encode()).decode()}


async def _approved_contract(gql, customer: str, admin: str) -> str:
    """A contract of Acme's rep, approved by Acme's admin, who holds the approvers' roles only
    for as long as it takes (the org's policy is left as it was)."""
    contract = (await created(gql, CREATE_CONTRACT, "createContract", ACME_REP, customerId=customer,
                              title="Acme approved probe", amount="2000", document=_document("Acme approved")))
    submitted = await created(gql, SUBMIT_CONTRACT, "submitContract", ACME_REP, id=contract["contract"]["id"])
    roles = ("sales_manager", "finance")
    try:
        for role in roles:
            await created(gql, ASSIGN_ROLE, "assignRole", ACME, userId=admin, role=role)
        for step in submitted["contract"]["approvalSteps"]:
            await created(gql, APPROVE_CONTRACT_STEP, "approveContractStep", ACME,
                          contractId=contract["contract"]["id"], stepId=step["id"])
    finally:
        for role in roles:
            await gql(REVOKE_ROLE, input_of(userId=admin, role=role), as_=ACME)
    return contract["contract"]["id"]


@pytest.fixture(scope="module")
async def acme_q2c(gql, db, users) -> AsyncIterator[dict[str, str]]:
    """Global ids of Acme's product, price book, draft quote, contract pending approval (and its open
    step), approved contract, issued invoice, unmatched payment and a customer's payment."""
    acme_org_id = users[ACME].org_id
    async with db.read() as session:
        customer = await first_row(session, Customer, acme_org_id, Customer.name == "Acme Secret Customer")
        opportunity = await first_row(session, Opportunity, acme_org_id, Opportunity.name == "Acme deal")
    customer_id, opportunity_id = to_global_id("Customer", customer.id), to_global_id("Opportunity", opportunity.id)
    tag = uuid.uuid4().hex[:8]
    product = (await created(gql, CREATE_PRODUCT, "createProduct", ACME, code=f"ACME-{tag}",
                             name=f"Acme probe product {tag}", defaultPrice="100"))["product"]
    book = (await created(gql, CREATE_PRICE_BOOK, "createPriceBook", ACME, name=f"Acme probe book {tag}",
                          isDefault=False, prices=[{"productId": product["id"], "unitPrice": "90"}]))["priceBook"]
    quote = (await created(gql, CREATE_QUOTE, "createQuote", ACME, opportunityId=opportunity_id,
                           lines=[{"productId": product["id"], "quantity": "2"}]))["quote"]
    pending = (await created(gql, CREATE_CONTRACT, "createContract", ACME, customerId=customer_id,
                             title="Acme pending probe", amount="1000", document=_document("Acme pending")))
    submitted = await created(gql, SUBMIT_CONTRACT, "submitContract", ACME, id=pending["contract"]["id"])
    draft = (await created(gql, CREATE_INVOICE, "createInvoice", ACME, customerId=customer_id,
                           lines=[{"description": "Acme probe work", "unitPrice": "500"}]))["invoice"]
    invoice = (await created(gql, ISSUE_INVOICE, "issueInvoice", ACME, invoiceId=draft["id"]))["invoice"]
    payment = (await created(gql, RECORD_PAYMENT, "recordPayment", ACME, payerName="Unknown Acme payer",
                             amount="50"))["payment"]
    customer_payment = (await created(gql, RECORD_PAYMENT, "recordPayment", ACME, customerId=customer_id,
                                      amount="50"))["payment"]
    yield {
        "Customer": customer_id,
        "Opportunity": opportunity_id,
        "Product": product["id"],
        "PriceBook": book["id"],
        "Quote": quote["id"],
        "PendingContract": pending["contract"]["id"],
        "ApprovalStep": submitted["contract"]["approvalSteps"][0]["id"],
        "ApprovedContract": await _approved_contract(gql, customer_id, to_global_id("User", users[ACME].id)),
        "Invoice": invoice["id"],
        "Payment": payment["id"],
        "CustomerPayment": customer_payment["id"],
    }


def demo_rows(org_id: int) -> dict[str, tuple[Any, ...]]:
    """Which Demo row each key names: (model, conditions); the seed has them all."""
    contracts_active = select(Contract.id).where(Contract.org_id == org_id, Contract.status == "active")
    return {
        "Product": (Product,),
        "PriceBook": (PriceBook,),
        "DraftQuote": (Quote, Quote.status == "draft"),
        "PendingQuote": (Quote, Quote.status == "pending_approval"),
        "SentQuote": (Quote, Quote.status == "sent"),
        "AcceptedQuote": (Quote, Quote.status == "accepted"),
        "DraftContract": (Contract, Contract.status == "draft"),
        "PendingContract": (Contract, Contract.status == "pending_approval"),
        "ApprovedContract": (Contract, Contract.status == "approved"),
        "ActiveContract": (Contract, Contract.status == "active"),
        "ApprovalStep": (ContractApprovalStep, ContractApprovalStep.status == "pending"),
        "Signature": (SignatureRequest, SignatureRequest.status == "pending"),
        "Installment": (Installment, Installment.status == "planned", Installment.contract_id.in_(contracts_active)),
        "Invoice": (Invoice, Invoice.kind == "invoice", Invoice.status == "issued", Invoice.amount_paid == 0),
        "Payment": (Payment, Payment.customer_id.is_(None)),
        "PaymentAllocation": (PaymentAllocation, PaymentAllocation.reversed_at.is_(None)),
        "Customer": (Customer,),
        "Opportunity": (Opportunity,),
    }


GLOBAL_TYPES = {ContractApprovalStep: "ApprovalStep", SignatureRequest: "Signature"}


async def records(db, users, acme_q2c: dict[str, str]) -> Records:
    demo_org_id = users["admin@demo.test"].org_id
    demo: dict[str, str] = {}
    demo_version: dict[str, int] = {}
    async with db.read() as session:
        for key, (model, *where) in demo_rows(demo_org_id).items():
            row = await first_row(session, model, demo_org_id, *where)
            assert row is not None, f"the Demo seed has no {key}"
            demo[key] = to_global_id(GLOBAL_TYPES.get(model, model.__name__), row.id)
            if hasattr(row, "version"):
                demo_version[key] = row.version
        acme_quote = await session.get(Quote, from_global_id(acme_q2c["Quote"])[1])
    demo["User"] = to_global_id("User", users["rep1@demo.test"].id)
    # the quote and contract node(id) and the single lookups take
    demo["Quote"], demo["Contract"] = demo["DraftQuote"], demo["ActiveContract"]
    return Records(demo=demo, demo_version=demo_version,
                   acme={**acme_q2c, "Admin": to_global_id("User", users[ACME].id),
                         "Rep": to_global_id("User", users[ACME_REP].id)},
                   acme_version={"Quote": acme_quote.version})


# --- cases ------------------------------------------------------------------------------------

IN_30_DAYS = (date.today() + timedelta(days=30)).isoformat()
NOT_FOUND_CASES = [
    # lookups by a Demo record
    Case("receivables(customerId)", RECEIVABLES, "receivables", lambda w, _: {"customerId": w.demo["Customer"]},
         nullable=False),
    # mutations naming a Demo record directly
    Case("updateProduct.id", UPDATE_PRODUCT, "updateProduct", lambda w, _: input_of(
        id=w.demo["Product"], version=w.demo_version["Product"], name="taken over by Acme")),
    Case("createQuote.opportunityId", CREATE_QUOTE, "createQuote", lambda w, _: input_of(
        opportunityId=w.demo["Opportunity"], lines=[{"description": "Acme offer", "quantity": "1", "unitPrice": "1"}])),
    Case("updateQuote.id", UPDATE_QUOTE, "updateQuote", lambda w, _: input_of(
        id=w.demo["DraftQuote"], version=w.demo_version["DraftQuote"], title="taken over by Acme")),
    *[Case(f"{f}.id", quote_action(f), f, lambda w, _, key=key, comment=comment: input_of(
        id=w.demo[key], **({"comment": "Acme decides"} if comment else {})))
      for f, (_, key, comment) in QUOTE_ACTIONS.items()],
    Case("createContract.quoteId", CREATE_CONTRACT, "createContract", lambda w, _: input_of(
        quoteId=w.demo["AcceptedQuote"])),
    Case("createContract.customerId", CREATE_CONTRACT, "createContract", lambda w, _: input_of(
        customerId=w.demo["Customer"], title="Acme contract with a Demo customer", amount="1000")),
    Case("updateContract.id", UPDATE_CONTRACT, "updateContract", lambda w, _: input_of(
        id=w.demo["DraftContract"], version=w.demo_version["DraftContract"], title="taken over by Acme")),
    Case("amendContract.contractId", AMEND_CONTRACT, "amendContract", lambda w, _: input_of(
        contractId=w.demo["ActiveContract"], reason="Acme amends", amount="1")),
    Case("terminateContract.id", TERMINATE_CONTRACT, "terminateContract", lambda w, _: input_of(
        id=w.demo["ActiveContract"], reason="Acme terminates")),
    Case("submitContract.id", SUBMIT_CONTRACT, "submitContract", lambda w, _: input_of(id=w.demo["DraftContract"])),
    Case("approveContractStep.contractId", APPROVE_CONTRACT_STEP, "approveContractStep", lambda w, _: input_of(
        contractId=w.demo["PendingContract"], stepId=w.demo["ApprovalStep"])),
    Case("rejectContractStep.contractId", REJECT_CONTRACT_STEP, "rejectContractStep", lambda w, _: input_of(
        contractId=w.demo["PendingContract"], stepId=w.demo["ApprovalStep"], reason="Acme rejects")),
    Case("requestSignature.contractId", REQUEST_SIGNATURE, "requestSignature", lambda w, _: input_of(
        contractId=w.demo["ApprovedContract"], signerName="Acme spy", signerEmail="spy@acme.test")),
    Case("signContract.requestId", SIGN_CONTRACT, "signContract", lambda w, _: input_of(
        requestId=w.demo["Signature"], documentSha256="0" * 64)),
    Case("setPaymentPlan.contractId", SET_PAYMENT_PLAN, "setPaymentPlan", lambda w, _: input_of(
        contractId=w.demo["ApprovedContract"],
        installments=[{"label": "all", "dueDate": IN_30_DAYS, "percent": "100"}])),
    Case("reachPaymentMilestone.contractId", REACH_PAYMENT_MILESTONE, "reachPaymentMilestone", lambda w, _: input_of(
        contractId=w.demo["ActiveContract"], milestone="go-live")),
    Case("createInvoice.customerId", CREATE_INVOICE, "createInvoice", lambda w, _: input_of(
        customerId=w.demo["Customer"], lines=[{"description": "Acme bill", "unitPrice": "1"}])),
    Case("issueInvoice.installmentId", ISSUE_INVOICE, "issueInvoice", lambda w, _: input_of(
        installmentId=w.demo["Installment"])),
    Case("issueInvoice.invoiceId", ISSUE_INVOICE, "issueInvoice", lambda w, _: input_of(invoiceId=w.demo["Invoice"])),
    Case("voidInvoice.id", VOID_INVOICE, "voidInvoice", lambda w, _: input_of(id=w.demo["Invoice"], reason="Acme")),
    Case("issueCreditNote.invoiceId", ISSUE_CREDIT_NOTE, "issueCreditNote", lambda w, _: input_of(
        invoiceId=w.demo["Invoice"], reason="Acme credits")),
    Case("recordPayment.customerId", RECORD_PAYMENT, "recordPayment", lambda w, _: input_of(
        customerId=w.demo["Customer"], amount="10")),
    Case("allocatePayment.paymentId", ALLOCATE_PAYMENT, "allocatePayment", lambda w, _: input_of(
        paymentId=w.demo["Payment"], allocations=[{"invoiceId": w.demo["Invoice"]}])),
    Case("reversePaymentAllocation.allocationId", REVERSE_PAYMENT_ALLOCATION, "reversePaymentAllocation",
         lambda w, _: input_of(allocationId=w.demo["PaymentAllocation"], reason="Acme reverses")),
    Case("matchPayment.paymentId", MATCH_PAYMENT, "matchPayment", lambda w, _: input_of(
        paymentId=w.demo["Payment"], customerId=w.acme["Customer"])),
    # mutations on Acme's own records naming a Demo record in a nested position
    Case("createPriceBook.prices.productId", CREATE_PRICE_BOOK, "createPriceBook", lambda w, _: input_of(
        name="Acme book of Demo prices", isDefault=False, prices=[{"productId": w.demo["Product"], "unitPrice": "1"}])),
    Case("createQuote.lines.productId", CREATE_QUOTE, "createQuote", lambda w, _: input_of(
        opportunityId=w.acme["Opportunity"], lines=[{"productId": w.demo["Product"], "quantity": "1"}])),
    Case("updateQuote.lines.productId", UPDATE_QUOTE, "updateQuote", lambda w, _: input_of(
        id=w.acme["Quote"], version=w.acme_version["Quote"],
        lines=[{"productId": w.demo["Product"], "quantity": "1"}])),
    Case("createContract.opportunityId", CREATE_CONTRACT, "createContract", lambda w, _: input_of(
        customerId=w.acme["Customer"], opportunityId=w.demo["Opportunity"], amount="1000")),
    Case("createContract.ownerId", CREATE_CONTRACT, "createContract", lambda w, _: input_of(
        customerId=w.acme["Customer"], ownerId=w.demo["User"], amount="1000")),
    Case("approveContractStep.stepId", APPROVE_CONTRACT_STEP, "approveContractStep", lambda w, _: input_of(
        contractId=w.acme["PendingContract"], stepId=w.demo["ApprovalStep"])),
    Case("rejectContractStep.stepId", REJECT_CONTRACT_STEP, "rejectContractStep", lambda w, _: input_of(
        contractId=w.acme["PendingContract"], stepId=w.demo["ApprovalStep"], reason="Acme rejects")),
    Case("requestSignature.userId", REQUEST_SIGNATURE, "requestSignature", lambda w, _: input_of(
        contractId=w.acme["ApprovedContract"], userId=w.demo["User"])),
    Case("createInvoice.contractId", CREATE_INVOICE, "createInvoice", lambda w, _: input_of(
        customerId=w.acme["Customer"], contractId=w.demo["ActiveContract"],
        lines=[{"description": "Acme bill", "unitPrice": "1"}])),
    Case("allocatePayment.allocations.invoiceId", ALLOCATE_PAYMENT, "allocatePayment", lambda w, _: input_of(
        paymentId=w.acme["Payment"], allocations=[{"invoiceId": w.demo["Invoice"], "exchangeRate": "1"}])),
    Case("matchPayment.customerId", MATCH_PAYMENT, "matchPayment", lambda w, _: input_of(
        paymentId=w.acme["Payment"], customerId=w.demo["Customer"])),
]



def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


UNNAMED_CASES = [
    Case("createProduct", CREATE_PRODUCT, "createProduct", lambda w, _: input_of(
        code=_unique("ACME").replace(" ", "-"), name=_unique("Acme own product"), defaultPrice="10")),
    Case("createPriceBook", CREATE_PRICE_BOOK, "createPriceBook", lambda w, _: input_of(
        name=_unique("Acme own book"), isDefault=False)),
    Case("setDiscountThreshold", SET_DISCOUNT_THRESHOLD, "setDiscountThreshold", lambda w, _: input_of(
        role="sales_rep", maxDiscountPercent="12")),
    Case("setContractApprovalFlow", SET_CONTRACT_APPROVAL_FLOW, "setContractApprovalFlow", lambda w, _: input_of(
        steps=["sales_manager", "finance"])),
    Case("recordPayment", RECORD_PAYMENT, "recordPayment", lambda w, _: input_of(payerName="Acme payer", amount="5")),
    # the same mutations as the NOT_FOUND cases, with Acme's ids only: they succeed
    Case("createQuote(Acme ids)", CREATE_QUOTE, "createQuote", lambda w, _: input_of(
        opportunityId=w.acme["Opportunity"], lines=[{"productId": w.acme["Product"], "quantity": "1"}])),
    Case("createContract(Acme ids)", CREATE_CONTRACT, "createContract", lambda w, _: input_of(
        customerId=w.acme["Customer"], opportunityId=w.acme["Opportunity"], ownerId=w.acme["Rep"], amount="1000")),
    Case("createInvoice(Acme ids)", CREATE_INVOICE, "createInvoice", lambda w, _: input_of(
        customerId=w.acme["Customer"], contractId=w.acme["PendingContract"],
        lines=[{"description": "Acme bill", "unitPrice": "1"}])),
    Case("recordPayment(Acme customer)", RECORD_PAYMENT, "recordPayment", lambda w, _: input_of(
        customerId=w.acme["Customer"], amount="5")),
    Case("createPriceBook(Acme product)", CREATE_PRICE_BOOK, "createPriceBook", lambda w, _: input_of(
        name=_unique("Acme priced book"), isDefault=False,
        prices=[{"productId": w.acme["Product"], "unitPrice": "1"}])),
    Case("updateQuote(Acme ids)", UPDATE_QUOTE, "updateQuote", lambda w, _: input_of(
        id=w.acme["Quote"], version=w.acme_version["Quote"],
        lines=[{"productId": w.acme["Product"], "quantity": "3"}])),
    Case("requestSignature(Acme ids)", REQUEST_SIGNATURE, "requestSignature", lambda w, _: input_of(
        contractId=w.acme["ApprovedContract"], userId=w.acme["Rep"])),
    Case("allocatePayment(Acme ids)", ALLOCATE_PAYMENT, "allocatePayment", lambda w, _: input_of(
        paymentId=w.acme["CustomerPayment"], allocations=[{"invoiceId": w.acme["Invoice"], "amount": "1"}])),
    Case("matchPayment(Acme ids)", MATCH_PAYMENT, "matchPayment", lambda w, _: input_of(
        paymentId=w.acme["Payment"], customerId=w.acme["Customer"])),
]


CONNECTION_CASES = [
    Case("products", PRODUCTS, "products", lambda w, _: {}),
    Case("quotes", QUOTES, "quotes", lambda w, _: {}),
    Case("contracts", CONTRACTS, "contracts", lambda w, _: {}),
    Case("invoices", INVOICES, "invoices", lambda w, _: {}),
    Case("payments", PAYMENTS, "payments", lambda w, _: {}),
]

MODELS = {"products": Product, "quotes": Quote, "contracts": Contract, "invoices": Invoice, "payments": Payment}

MODELS = {"products": Product, "quotes": Quote, "contracts": Contract, "invoices": Invoice, "payments": Payment}

FILTERED_CASES = [
    Case("products(search: Demo name)", PRODUCTS, "products", lambda w, _: {"search": "实施服务"}),
    *[Case(f"quotes({f}: Demo)", QUOTES, "quotes", lambda w, _, f=f, k=k: {"filter": {f: w.demo[k]}})
      for f, k in (("opportunityId", "Opportunity"), ("customerId", "Customer"), ("ownerId", "User"))],
    *[Case(f"contracts({f}: Demo)", CONTRACTS, "contracts", lambda w, _, f=f, k=k: {"filter": {f: w.demo[k]}})
      for f, k in (("customerId", "Customer"), ("opportunityId", "Opportunity"), ("ownerId", "User"))],
    Case("contracts(search: Demo title)", CONTRACTS, "contracts", lambda w, _: {"filter": {"search": "移动银行"}}),
    *[Case(f"invoices({f}: Demo)", INVOICES, "invoices", lambda w, _, f=f, k=k: {"filter": {f: w.demo[k]}})
      for f, k in (("customerId", "Customer"), ("contractId", "ActiveContract"))],
    Case("payments(customerId: Demo)", PAYMENTS, "payments", lambda w, _: {
        "filter": {"customerId": w.demo["Customer"]}}),
]


LIST_CASES = [
    Case("priceBooks", PRICE_BOOKS, "priceBooks", lambda w, _: {}),
    Case("receivables", RECEIVABLES, "receivables", lambda w, _: {}),
    Case("receivables(customerId: Acme customer)", RECEIVABLES, "receivables", lambda w, _: {
        "customerId": w.acme["Customer"]}),
    Case("payments(unmatched)", PAYMENTS, "payments", lambda w, _: {"filter": {"unmatched": True}}),
]


NO_ID_QUERIES = {"contractApprovalFlow"}  # a test of its own in the suite
