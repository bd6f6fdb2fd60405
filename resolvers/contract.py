"""Contracts: drafting, the approval flow, e-signature, amendments and the payment plan."""

from __future__ import annotations

from typing import Any

import strawberry

from tandem.domain.billing import payment_plan as plans
from tandem.domain.contracts import approval, signature
from tandem.domain.contracts import contract as service
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.contract import (
    AmendContractInput,
    ApprovalFlowPayload,
    ApproveContractStepInput,
    Contract,
    ContractFilter,
    ContractPayload,
    CreateContractInput,
    DocumentInput,
    Installment,
    PartyInput,
    PaymentPlanPayload,
    ReachPaymentMilestoneInput,
    RejectContractStepInput,
    RequestSignatureInput,
    SetContractApprovalFlowInput,
    SetPaymentPlanInput,
    Signature,
    SignaturePayload,
    SignContractInput,
    SubmitContractInput,
    TerminateContractInput,
    UpdateContractInput,
)
from tandem.schema.node import decode_id
from tandem.schema.pagination import Connection, wants_total

from .lists import ListRequest
from .mutation import named, opt_id, run, run_create, value
from .writes import acts, row_rule, writes


def _payload(m: service.Contract | None = None, user_errors: list | None = None) -> ContractPayload:
    return ContractPayload(contract=Contract.from_model(m) if m else None, user_errors=user_errors or [])


def _document(d: DocumentInput | None) -> service.DocumentInput | None:
    if d is None or d is strawberry.UNSET:
        return None
    return service.DocumentInput(name=d.name, content_base64=d.content_base64, content_type=d.content_type)


def _parties(items: list[PartyInput] | None) -> list[service.Party] | None:
    if items is None or items is strawberry.UNSET:
        return None
    return [service.Party(name=p.name, role=p.role) for p in items]


def _client(info: strawberry.Info) -> tuple[str | None, str | None]:
    """The signer's IP and user agent, as the HTTP request or websocket shows them."""
    request = info.context.request
    if request is None:
        return None, None
    forwarded = request.headers.get("x-forwarded-for")
    ip = forwarded.split(",")[0].strip() if forwarded else (request.client.host if request.client else None)
    return ip, request.headers.get("user-agent")


def contract_list(ctx: Any, first: int | None = None, after: str | None = None, last: int | None = None,
                  before: str | None = None, filter: ContractFilter | None = None) -> ListRequest:
    """The arguments of ``contracts``, checked (shared by the resolver and the compiled read path)."""
    flt = filter or ContractFilter()
    ctx.authz.require_read("Contract", [n for n, used in (
        ("status", flt.status), ("customer", flt.customer_id), ("opportunity", flt.opportunity_id),
        ("owner", flt.owner_id), ("title", flt.search), ("archivedAt", flt.archived is not False)) if used])
    domain_filter = service.ContractFilter(
        status=flt.status.value if flt.status else None, customer_id=opt_id("Customer", flt.customer_id),
        opportunity_id=opt_id("Opportunity", flt.opportunity_id), owner_id=opt_id("User", flt.owner_id),
        search=flt.search, archived=flt.archived)
    req = PageRequest(first=first, after=after, last=last, before=before, descending=True)
    return ListRequest(domain_filter, req, "CREATED_AT")


@strawberry.type
class ContractQuery:
    @strawberry.field(description="Contracts you may see, newest first.")
    async def contracts(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                        last: int | None = None, before: str | None = None,
                        filter: ContractFilter | None = None) -> Connection[Contract]:
        ctx = info.context
        asked = contract_list(ctx, first, after, last, before, filter)
        async with ctx.read() as session:
            page = await service.list_contracts(session, ctx.actor, asked.filter, asked.page,
                                                with_total=wants_total(info))
        return Connection.from_page(page, Contract.from_model)

    @strawberry.field
    async def contract(self, info: strawberry.Info, id: strawberry.ID) -> Contract | None:
        ctx = info.context
        pk = decode_id("Contract", id)
        async with ctx.read() as session:
            return Contract.from_model(await service.get_contract(session, ctx.actor, pk))

    @strawberry.field(description="The roles that approve a contract, in order.")
    async def contract_approval_flow(self, info: strawberry.Info) -> list[str]:
        ctx = info.context
        async with ctx.read() as session:
            return await approval.approval_flow(session, ctx.actor.org_id)


@strawberry.type
class ContractMutation:
    @writes("Contract", "create")
    @strawberry.mutation(description="A draft contract, from an accepted quote or directly for a customer.")
    async def create_contract(self, info: strawberry.Info, input: CreateContractInput) -> ContractPayload:
        actor = info.context.actor
        data = service.ContractInput(
            quote_id=opt_id("Quote", input.quote_id), customer_id=opt_id("Customer", input.customer_id),
            opportunity_id=opt_id("Opportunity", input.opportunity_id), title=input.title, amount=input.amount,
            currency=input.currency, tax_rate=input.tax_rate, start_date=input.start_date, end_date=input.end_date,
            terms=input.terms, parties=_parties(input.parties), document=_document(input.document),
            owner_id=opt_id("User", input.owner_id))
        return await run_create(info, "createContract", input, lambda s: service.create_contract(s, actor, data),
                                lambda s, pk: service.get_contract(s, actor, pk), _payload)

    @writes("Contract", "update")
    @strawberry.mutation(description="Edit an unsigned contract; editing an approved one sends it back to draft.")
    async def update_contract(self, info: strawberry.Info, input: UpdateContractInput) -> ContractPayload:
        actor = info.context.actor
        pk = decode_id("Contract", input.id)
        data = service.ContractInput(
            title=value(input, "title"), amount=value(input, "amount"), currency=value(input, "currency"),
            tax_rate=value(input, "tax_rate"), start_date=value(input, "start_date"),
            end_date=value(input, "end_date"), terms=value(input, "terms"), parties=_parties(input.parties),
            document=_document(input.document), set_fields=named(input))
        return await run(info, lambda s: service.update_contract(s, actor, pk, input.version, data), _payload)

    @writes("Contract", "create", fields={"contract_id": None, "reason": "Contract.amendmentReason"})
    @strawberry.mutation(description="Amend an active contract: a new draft that supersedes it once signed.")
    async def amend_contract(self, info: strawberry.Info, input: AmendContractInput) -> ContractPayload:
        actor = info.context.actor
        pk = decode_id("Contract", input.contract_id)
        data = service.ContractInput(
            title=value(input, "title"), amount=value(input, "amount"), start_date=value(input, "start_date"),
            end_date=value(input, "end_date"), terms=value(input, "terms"), document=_document(input.document),
            set_fields=named(input, skip=("contract_id", "reason")))
        return await run(info, lambda s: service.amend_contract(s, actor, pk, reason=input.reason, data=data),
                         _payload)

    @acts("Contract", "terminate")
    @strawberry.mutation(description="End an active contract early; installments not yet invoiced are cancelled.")
    async def terminate_contract(self, info: strawberry.Info, input: TerminateContractInput) -> ContractPayload:
        actor = info.context.actor
        pk = decode_id("Contract", input.id)
        return await run(info, lambda s: service.terminate_contract(s, actor, pk, reason=input.reason,
                                                                    effective_on=input.effective_on,
                                                                    version=input.version), _payload)

    @acts("Contract", "update")
    @strawberry.mutation(description="Start the approval flow (the document must be attached).")
    async def submit_contract(self, info: strawberry.Info, input: SubmitContractInput) -> ContractPayload:
        actor = info.context.actor
        pk = decode_id("Contract", input.id)
        return await run(info, lambda s: approval.submit_contract(s, actor, pk, input.version), _payload)

    @row_rule("a holder of the open step's role")
    @strawberry.mutation(description="Approve the open step (you must hold its role; steps go in order).")
    async def approve_contract_step(self, info: strawberry.Info, input: ApproveContractStepInput) -> ContractPayload:
        actor = info.context.actor
        pk = decode_id("Contract", input.contract_id)
        step = decode_id("ApprovalStep", input.step_id)
        return await run(info, lambda s: approval.approve_step(s, actor, pk, step, comment=input.comment,
                                                               version=input.version), _payload)

    @row_rule("a holder of the open step's role")
    @strawberry.mutation(description="Reject the open step with a reason: the contract goes back to draft.")
    async def reject_contract_step(self, info: strawberry.Info, input: RejectContractStepInput) -> ContractPayload:
        actor = info.context.actor
        pk = decode_id("Contract", input.contract_id)
        step = decode_id("ApprovalStep", input.step_id)
        return await run(info, lambda s: approval.reject_step(s, actor, pk, step, reason=input.reason,
                                                              version=input.version), _payload)

    @acts("Contract", "update")
    @strawberry.mutation(description="Ask someone to sign an approved contract. An outside signer gets a one-time "
                                     "`signingToken` (returned only here).")
    async def request_signature(self, info: strawberry.Info, input: RequestSignatureInput) -> SignaturePayload:
        actor = info.context.actor
        pk = decode_id("Contract", input.contract_id)
        user_id = opt_id("User", input.user_id)

        async def work(s):
            requested = await signature.request_signature(
                s, actor, pk, party=input.party, signer_name=input.signer_name, signer_email=input.signer_email,
                signer_user_id=user_id)
            return requested, await service.get_contract(s, actor, pk)

        def payload(result=None, user_errors=None) -> SignaturePayload:
            if result is None:
                return SignaturePayload(user_errors=user_errors or [])
            requested, contract = result
            return SignaturePayload(signature=Signature.from_model(requested.request),
                                    contract=Contract.from_model(contract), signing_token=requested.signing_token)

        return await run(info, work, payload)

    @row_rule("the named signer, or whoever holds an outside signer's token")
    @strawberry.mutation(description="Sign: as the named user, or with an outside signer's token. Records time, IP, "
                                     "user agent and the document's SHA-256; the last signature activates it.")
    async def sign_contract(self, info: strawberry.Info, input: SignContractInput) -> SignaturePayload:
        actor = info.context.actor
        pk = decode_id("Signature", input.request_id)
        ip, agent = _client(info)

        async def work(s):
            signed = await signature.sign_contract(s, actor, pk, document_sha256=input.document_sha256,
                                                   signing_token=input.signing_token, ip=ip, user_agent=agent)
            contract = await service.contracts_by_ids(s, actor, [signed.contract_id])
            return signed, contract.get(signed.contract_id)

        def payload(result=None, user_errors=None) -> SignaturePayload:
            if result is None:
                return SignaturePayload(user_errors=user_errors or [])
            signed, contract = result
            return SignaturePayload(signature=Signature.from_model(signed),
                                    contract=Contract.from_model(contract) if contract else None)

        return await run(info, work, payload)

    @acts("Contract", "plan")
    @strawberry.mutation(description="Set the installments (by date or milestone, amount or percent); they must add "
                                     "up to the contract amount. Replaceable until one is invoiced.")
    async def set_payment_plan(self, info: strawberry.Info, input: SetPaymentPlanInput) -> PaymentPlanPayload:
        actor = info.context.actor
        pk = decode_id("Contract", input.contract_id)
        items = [plans.InstallmentInput(label=i.label, due_date=i.due_date, milestone=i.milestone, percent=i.percent,
                                        amount=i.amount) for i in input.installments]

        async def work(s):
            rows = await plans.set_payment_plan(s, actor, pk, items, auto_invoice=input.auto_invoice)
            return rows, await service.get_contract(s, actor, pk)

        return await run(info, work, _plan_payload)

    @acts("Contract", "plan")
    @strawberry.mutation(description="A named payment milestone was reached: its installments fall due.")
    async def reach_payment_milestone(self, info: strawberry.Info,
                                      input: ReachPaymentMilestoneInput) -> PaymentPlanPayload:
        actor = info.context.actor
        pk = decode_id("Contract", input.contract_id)

        async def work(s):
            rows = await plans.reach_milestone(s, actor, pk, input.milestone, input.reached_on)
            return rows, await service.get_contract(s, actor, pk)

        return await run(info, work, _plan_payload)

    @acts("Policy", "manage")
    @strawberry.mutation(description="The roles that approve contracts, in order (admin).")
    async def set_contract_approval_flow(self, info: strawberry.Info,
                                         input: SetContractApprovalFlowInput) -> ApprovalFlowPayload:
        actor = info.context.actor
        return await run(info, lambda s: approval.set_approval_flow(s, actor, input.steps),
                         lambda steps=None, user_errors=None: ApprovalFlowPayload(steps=steps,
                                                                                  user_errors=user_errors or []))


def _plan_payload(result=None, user_errors=None) -> PaymentPlanPayload:
    if result is None:
        return PaymentPlanPayload(user_errors=user_errors or [])
    rows, contract = result
    return PaymentPlanPayload(contract=Contract.from_model(contract),
                              installments=[Installment.from_model(r) for r in rows])
