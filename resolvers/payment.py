"""Payments and their allocation (finance)."""

from __future__ import annotations

import strawberry

from tandem.domain.billing import payment as service
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.node import decode_id
from tandem.schema.pagination import Connection, wants_total
from tandem.schema.payment import (
    AllocatePaymentInput,
    AllocationPayload,
    MatchPaymentInput,
    Payment,
    PaymentAllocation,
    PaymentFilter,
    PaymentPayload,
    RecordPaymentInput,
    ReversePaymentAllocationInput,
)

from .mutation import opt_id, run, run_create
from .writes import acts, writes


def _payload(m: service.Payment | None = None, user_errors: list | None = None) -> PaymentPayload:
    return PaymentPayload(payment=Payment.from_model(m) if m else None, user_errors=user_errors or [])


def _allocation_payload(result=None, user_errors=None) -> AllocationPayload:
    if result is None:
        return AllocationPayload(user_errors=user_errors or [])
    payment, allocations = result
    return AllocationPayload(payment=Payment.from_model(payment),
                             allocations=[PaymentAllocation.from_model(a) for a in allocations])


@strawberry.type
class PaymentQuery:
    @strawberry.field(description="Payments received, newest first; `unmatched: true` lists what finance must "
                                  "still match or allocate.")
    async def payments(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None,
                       filter: PaymentFilter | None = None) -> Connection[Payment]:
        ctx = info.context
        flt = filter or PaymentFilter()
        unmatched = flt.unmatched is not None  # reads whether a customer is matched and what is unallocated
        ctx.authz.require_read("Payment", [n for n, used in (
            ("customer", flt.customer_id or unmatched), ("unallocated", unmatched)) if used])
        domain_filter = service.PaymentFilter(customer_id=opt_id("Customer", flt.customer_id), unmatched=flt.unmatched)
        req = PageRequest(first=first, after=after, last=last, before=before, descending=True)
        async with ctx.read() as session:
            page = await service.list_payments(session, ctx.actor, domain_filter, req, with_total=wants_total(info))
        return Connection.from_page(page, Payment.from_model)

    @strawberry.field
    async def payment(self, info: strawberry.Info, id: strawberry.ID) -> Payment | None:
        ctx = info.context
        pk = decode_id("Payment", id)
        async with ctx.read() as session:
            return Payment.from_model(await service.get_payment(session, ctx.actor, pk))


@strawberry.type
class PaymentMutation:
    @writes("Payment", "create", fields={"allocate_automatically": None})
    @strawberry.mutation(description="Record money received; optionally allocate it at once, oldest due first.")
    async def record_payment(self, info: strawberry.Info, input: RecordPaymentInput) -> PaymentPayload:
        actor = info.context.actor
        if input.allocate_automatically:
            info.context.authz.require("Payment", "allocate")
        customer_id = opt_id("Customer", input.customer_id)

        async def work(s):
            payment = await service.record_payment(
                s, actor, customer_id=customer_id, payer_name=input.payer_name, amount=input.amount,
                currency=input.currency, received_on=input.received_on,
                method=service.PaymentMethod(input.method.value) if input.method else None,
                reference=input.reference, notes=input.notes)
            if input.allocate_automatically:
                await service.allocate_payment(s, actor, payment.id, None, automatic=True)
            return payment

        return await run_create(info, "recordPayment", input, work, lambda s, pk: service.get_payment(s, actor, pk),
                                _payload)

    @acts("Payment", "allocate")
    @strawberry.mutation(description="Apply a payment to invoices: the ones given, or `automatic` oldest due first. "
                                     "Nothing is applied if any line is refused.")
    async def allocate_payment(self, info: strawberry.Info, input: AllocatePaymentInput) -> AllocationPayload:
        actor = info.context.actor
        pk = decode_id("Payment", input.payment_id)
        items = None
        if input.allocations is not None:
            items = [service.AllocationInput(invoice_id=decode_id("Invoice", a.invoice_id), amount=a.amount,
                                             exchange_rate=a.exchange_rate) for a in input.allocations]

        async def work(s):
            made = await service.allocate_payment(s, actor, pk, items, automatic=input.automatic)
            return await service.get_payment(s, actor, pk), made

        return await run(info, work, _allocation_payload)

    @acts("Payment", "allocate")
    @strawberry.mutation(description="Undo an allocation (kept, marked reversed, with who and why).")
    async def reverse_payment_allocation(self, info: strawberry.Info,
                                         input: ReversePaymentAllocationInput) -> AllocationPayload:
        actor = info.context.actor
        pk = decode_id("PaymentAllocation", input.allocation_id)

        async def work(s):
            reversed_ = await service.reverse_allocation(s, actor, pk, reason=input.reason)
            return await service.get_payment(s, actor, reversed_.payment_id), [reversed_]

        return await run(info, work, _allocation_payload)

    @writes("Payment", "allocate", fields={"payment_id": None})
    @strawberry.mutation(description="Name the customer of an unmatched payment.")
    async def match_payment(self, info: strawberry.Info, input: MatchPaymentInput) -> PaymentPayload:
        actor = info.context.actor
        pk = decode_id("Payment", input.payment_id)
        customer_id = decode_id("Customer", input.customer_id)
        return await run(info, lambda s: service.match_payment(s, actor, pk, customer_id), _payload)
