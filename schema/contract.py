"""Contracts: approval steps, signatures, the payment plan and the invoices raised against it."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.billing.payment_plan import Installment as InstallmentModel
from tandem.domain.billing.payment_plan import InstallmentStatus as _InstallmentStatus
from tandem.domain.billing.payment_plan import InstallmentTrigger as _InstallmentTrigger
from tandem.domain.contracts.approval import ContractApprovalStep as StepModel
from tandem.domain.contracts.approval import StepStatus as _StepStatus
from tandem.domain.contracts.contract import Contract as ContractModel
from tandem.domain.contracts.contract import ContractStatus as _ContractStatus
from tandem.domain.contracts.signature import SignatureRequest as SignatureModel
from tandem.domain.contracts.signature import SignatureStatus as _SignatureStatus
from tandem.domain.shared.money import quantize

from .archive import ARCHIVED_AT, ARCHIVED_FILTER
from .errors import UserError
from .node import Node, to_global_id
from .quote import Quote
from .scalars import Decimal, rate
from .sla import SLA_STATUS, SlaStatus, load_sla_status
from .user import User, load_user

if TYPE_CHECKING:
    from .customer import Customer
    from .invoice import Invoice
    from .opportunity import Opportunity

ContractStatus = strawberry.enum(_ContractStatus, name="ContractStatus")
ApprovalStepStatus = strawberry.enum(_StepStatus, name="ApprovalStepStatus")
SignatureStatus = strawberry.enum(_SignatureStatus, name="SignatureStatus")
InstallmentStatus = strawberry.enum(_InstallmentStatus, name="InstallmentStatus")
InstallmentTrigger = strawberry.enum(_InstallmentTrigger, name="InstallmentTrigger")
InvoiceRef = Annotated["Invoice", strawberry.lazy(".invoice")]


@strawberry.type
class Party:
    name: str
    role: str


@strawberry.type(description="The attached contract document; signers sign its SHA-256.")
class ContractDocument:
    name: str
    content_type: str
    size: int
    sha256: str
    _contract_id: strawberry.Private[int]

    @strawberry.field(description="The document itself, base64 (loaded only when asked for).")
    async def content_base64(self, info: strawberry.Info) -> str | None:
        from tandem.domain.contracts.contract import document_of

        async with info.context.read() as session:
            _, content = await document_of(session, info.context.actor, self._contract_id)
        return base64.b64encode(content).decode() if content is not None else None


@strawberry.type(description="One step of a contract's approval flow, decided by a holder of its role.")
class ApprovalStep(Node):
    round: int
    position: int
    role: str
    status: ApprovalStepStatus
    decided_at: datetime | None
    comment: str | None
    _decided_by_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, m: StepModel) -> ApprovalStep:
        return cls(id=to_global_id("ApprovalStep", m.id), round=m.round, position=m.position, role=m.role,
                   status=_StepStatus(m.status), decided_at=m.decided_at, comment=m.comment,
                   _decided_by_id=m.decided_by_id)

    @strawberry.field
    async def decided_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._decided_by_id)


@strawberry.type(description="A signing request and, once signed, the signature's evidence.")
class Signature(Node):
    party: str
    signer_name: str
    signer_email: str | None
    status: SignatureStatus
    requested_at: datetime
    signed_at: datetime | None
    signed_ip: str | None
    signed_user_agent: str | None
    signed_document_sha256: str | None
    _signer_user_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, m: SignatureModel) -> Signature:
        return cls(id=to_global_id("Signature", m.id), party=m.party, signer_name=m.signer_name,
                   signer_email=m.signer_email, status=_SignatureStatus(m.status), requested_at=m.requested_at,
                   signed_at=m.signed_at, signed_ip=m.signed_ip, signed_user_agent=m.signed_user_agent,
                   signed_document_sha256=m.signed_document_sha256, _signer_user_id=m.signer_user_id)

    @strawberry.field(description="The signer, when they are a user of the org.")
    async def signer(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._signer_user_id)


@strawberry.type(description="One installment of a contract's payment plan.")
class Installment(Node):
    position: int
    label: str
    trigger: InstallmentTrigger
    due_date: date | None
    milestone: str | None
    milestone_reached_on: date | None
    percent: Decimal | None
    amount: Decimal
    status: InstallmentStatus
    auto_invoice: bool
    _pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: InstallmentModel) -> Installment:
        return cls(id=to_global_id("Installment", m.id), position=m.position, label=m.label,
                   trigger=_InstallmentTrigger(m.trigger), due_date=m.due_date, milestone=m.milestone,
                   milestone_reached_on=m.milestone_reached_on,
                   percent=rate(m.percent) if m.percent is not None else None, amount=quantize(m.amount, m.currency),
                   status=_InstallmentStatus(m.status), auto_invoice=m.auto_invoice, _pk=m.id)

    @strawberry.field(description="The live (not void) invoice raised for it.")
    async def invoice(self, info: strawberry.Info) -> InvoiceRef | None:
        from .invoice import Invoice

        found = await info.context.loaders.invoice_of_installment.load(self._pk)
        return Invoice.from_model(found) if found else None


@strawberry.type(description="A contract: approved step by step, signed by every party, then billed by its plan.")
class Contract(Node):
    number: str | None
    title: str | None
    status: ContractStatus | None
    amount: Decimal | None = strawberry.field(description="Total value, tax included.")
    currency: str | None
    tax_rate: Decimal | None = strawberry.field(description="Percent of tax included in the amount.")
    start_date: date | None
    end_date: date | None
    terms: str | None
    parties: list[Party] | None
    document: ContractDocument | None
    approval_round: int | None
    submitted_at: datetime | None
    approved_at: datetime | None
    activated_at: datetime | None
    amendment_reason: str | None
    terminated_on: date | None
    termination_reason: str | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    _pk: strawberry.Private[int]
    _customer_id: strawberry.Private[int]
    _opportunity_id: strawberry.Private[int | None]
    _quote_id: strawberry.Private[int | None]
    _owner_id: strawberry.Private[int]
    _amends_id: strawberry.Private[int | None]
    archived_at: datetime | None = strawberry.field(default=None, description=ARCHIVED_AT)

    @strawberry.field(description=SLA_STATUS)
    async def sla_status(self, info: strawberry.Info) -> SlaStatus | None:
        return await load_sla_status(info, self.id)

    @classmethod
    def from_model(cls, m: ContractModel) -> Contract:
        doc = None
        if m.document_sha256:
            doc = ContractDocument(name=m.document_name or "", content_type=m.document_content_type or "",
                                   size=m.document_size or 0, sha256=m.document_sha256, _contract_id=m.id)
        return cls(
            archived_at=m.archived_at,
            id=to_global_id("Contract", m.id), number=m.number, title=m.title, status=_ContractStatus(m.status),
            amount=quantize(m.amount, m.currency), currency=m.currency, tax_rate=rate(m.tax_rate),
            start_date=m.start_date, end_date=m.end_date, terms=m.terms,
            parties=[Party(name=p["name"], role=p["role"]) for p in m.parties],
            document=doc, approval_round=m.approval_round, submitted_at=m.submitted_at, approved_at=m.approved_at,
            activated_at=m.activated_at, amendment_reason=m.amendment_reason, terminated_on=m.terminated_on,
            termination_reason=m.termination_reason, version=m.version,
            created_at=m.created_at, updated_at=m.updated_at, _pk=m.id, _customer_id=m.customer_id,
            _opportunity_id=m.opportunity_id, _quote_id=m.quote_id, _owner_id=m.owner_id, _amends_id=m.amends_id,
        )

    @strawberry.field
    async def customer(self, info: strawberry.Info) -> Annotated[Customer, strawberry.lazy(".customer")] | None:
        from .customer import Customer

        found = await info.context.loaders.customer.load(self._customer_id)
        return Customer.from_model(found) if found else None

    @strawberry.field
    async def opportunity(
        self, info: strawberry.Info
    ) -> Annotated[Opportunity, strawberry.lazy(".opportunity")] | None:
        from .opportunity import Opportunity

        if self._opportunity_id is None:
            return None
        found = await info.context.loaders.opportunity.load(self._opportunity_id)
        return Opportunity.from_model(found) if found else None

    @strawberry.field(description="The accepted quote it came from.")
    async def quote(self, info: strawberry.Info) -> Quote | None:
        if self._quote_id is None:
            return None
        found = await info.context.loaders.quote.load(self._quote_id)
        return Quote.from_model(found) if found else None

    @strawberry.field
    async def owner(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._owner_id)

    @strawberry.field(description="The contract this one amends.")
    async def amends(self, info: strawberry.Info) -> Contract | None:
        if self._amends_id is None:
            return None
        found = await info.context.loaders.contract.load(self._amends_id)
        return Contract.from_model(found) if found else None

    @strawberry.field(description="Every approval step of every round, oldest first.")
    async def approval_steps(self, info: strawberry.Info) -> list[ApprovalStep] | None:
        return [ApprovalStep.from_model(s) for s in await info.context.loaders.contract_steps.load(self._pk)]

    @strawberry.field
    async def signatures(self, info: strawberry.Info) -> list[Signature] | None:
        return [Signature.from_model(s) for s in await info.context.loaders.signatures.load(self._pk)]

    @strawberry.field(description="Installments in order; they add up to the amount exactly.")
    async def payment_plan(self, info: strawberry.Info) -> list[Installment] | None:
        return [Installment.from_model(i) for i in await info.context.loaders.installments.load(self._pk)]

    @strawberry.field(description="Invoices and credit notes you may see, oldest first.")
    async def invoices(self, info: strawberry.Info) -> list[InvoiceRef] | None:
        from .invoice import Invoice

        return [Invoice.from_model(i) for i in await info.context.loaders.invoices_of_contract.load(self._pk)]


@strawberry.input
class PartyInput:
    name: str
    role: str = "customer"


@strawberry.input
class DocumentInput:
    name: str
    content_base64: str = strawberry.field(description="The file, base64 (at most 5 MB decoded).")
    content_type: str | None = "application/pdf"


@strawberry.input
class CreateContractInput:
    quote_id: strawberry.ID | None = strawberry.field(
        default=None, description="An accepted quote: customer, opportunity, amount and currency follow it.")
    customer_id: strawberry.ID | None = None
    opportunity_id: strawberry.ID | None = None
    title: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    tax_rate: Decimal | None = None
    start_date: date | None = None
    end_date: date | None = None
    terms: str | None = None
    parties: list[PartyInput] | None = None
    document: DocumentInput | None = None
    owner_id: strawberry.ID | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateContractInput:
    id: strawberry.ID
    version: int
    title: str | None = strawberry.UNSET
    amount: Decimal | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    tax_rate: Decimal | None = strawberry.UNSET
    start_date: date | None = strawberry.UNSET
    end_date: date | None = strawberry.UNSET
    terms: str | None = strawberry.UNSET
    parties: list[PartyInput] | None = strawberry.UNSET
    document: DocumentInput | None = strawberry.UNSET


@strawberry.input
class AmendContractInput:
    contract_id: strawberry.ID
    reason: str
    title: str | None = strawberry.UNSET
    amount: Decimal | None = strawberry.UNSET
    start_date: date | None = strawberry.UNSET
    end_date: date | None = strawberry.UNSET
    terms: str | None = strawberry.UNSET
    document: DocumentInput | None = strawberry.UNSET


@strawberry.input
class TerminateContractInput:
    id: strawberry.ID
    reason: str
    effective_on: date | None = None
    version: int | None = None


@strawberry.input
class SubmitContractInput:
    id: strawberry.ID
    version: int | None = None


@strawberry.input
class ApproveContractStepInput:
    contract_id: strawberry.ID
    step_id: strawberry.ID
    comment: str | None = None
    version: int | None = None


@strawberry.input
class RejectContractStepInput:
    contract_id: strawberry.ID
    step_id: strawberry.ID
    reason: str
    version: int | None = None


@strawberry.input
class RequestSignatureInput:
    contract_id: strawberry.ID
    party: str = "customer"
    user_id: strawberry.ID | None = strawberry.field(default=None, description="A signer who is a user of the org.")
    signer_name: str | None = None
    signer_email: str | None = strawberry.field(default=None, description="Required for an outside signer.")


@strawberry.input
class SignContractInput:
    request_id: strawberry.ID
    document_sha256: str = strawberry.field(description="SHA-256 of the document the signer read.")
    signing_token: str | None = strawberry.field(default=None, description="An outside signer's one-time token.")


@strawberry.input
class InstallmentInput:
    label: str
    due_date: date | None = None
    milestone: str | None = strawberry.field(default=None, description="Due once this named event is reached.")
    percent: Decimal | None = None
    amount: Decimal | None = None


@strawberry.input
class SetPaymentPlanInput:
    contract_id: strawberry.ID
    installments: list[InstallmentInput]
    auto_invoice: bool = strawberry.field(default=False, description="Invoice each installment on its due date.")


@strawberry.input
class ReachPaymentMilestoneInput:
    contract_id: strawberry.ID
    milestone: str
    reached_on: date | None = None


@strawberry.input
class SetContractApprovalFlowInput:
    steps: list[str] = strawberry.field(description="Roles in order, e.g. [\"sales_manager\", \"finance\"].")


@strawberry.input
class ContractFilter:
    status: ContractStatus | None = None
    customer_id: strawberry.ID | None = None
    opportunity_id: strawberry.ID | None = None
    owner_id: strawberry.ID | None = None
    search: str | None = None
    archived: bool | None = strawberry.field(default=False, description=ARCHIVED_FILTER)


@strawberry.type
class ContractPayload:
    contract: Contract | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SignaturePayload:
    signature: Signature | None = None
    contract: Contract | None = None
    signing_token: str | None = strawberry.field(
        default=None, description="For an outside signer: send it to them; it is shown only this once.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PaymentPlanPayload:
    contract: Contract | None = None
    installments: list[Installment] | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ApprovalFlowPayload:
    steps: list[str] | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
