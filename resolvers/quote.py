"""Quotes: drafting, discount approval, sending, acceptance, revisions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.domain.sales import quote as service
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.node import decode_id
from tandem.schema.pagination import Connection, wants_total
from tandem.schema.quote import (
    CreateQuoteInput,
    DiscountThreshold,
    DiscountThresholdPayload,
    Quote,
    QuoteActionInput,
    QuoteDecisionInput,
    QuoteFilter,
    QuoteLineInput,
    QuotePayload,
    SetDiscountThresholdInput,
    UpdateQuoteInput,
)
from tandem.schema.scalars import rate

from .lists import ListRequest
from .mutation import named, opt_id, run, run_create, value
from .writes import acts, writes


def _payload(m: service.Quote | None = None, user_errors: list | None = None) -> QuotePayload:
    return QuotePayload(quote=Quote.from_model(m) if m else None, user_errors=user_errors or [])


def _lines(items: list[QuoteLineInput] | None) -> list[service.QuoteLineInput] | None:
    if items is None:
        return None
    return [service.QuoteLineInput(product_id=opt_id("Product", x.product_id), description=x.description,
                                   unit=x.unit, quantity=x.quantity, unit_price=x.unit_price,
                                   discount_percent=x.discount_percent, tax_rate=x.tax_rate) for x in items]


async def _act(info: strawberry.Info, quote_id: str,
               work: Callable[[AsyncSession, int], Awaitable[Any]]) -> QuotePayload:
    pk = decode_id("Quote", quote_id)
    return await run(info, lambda s: work(s, pk), _payload)


def quote_list(ctx: Any, first: int | None = None, after: str | None = None, last: int | None = None,
               before: str | None = None, filter: QuoteFilter | None = None) -> ListRequest:
    """The arguments of ``quotes``, checked (shared by the resolver and the compiled read path)."""
    flt = filter or QuoteFilter()
    ctx.authz.require_read("Quote", [n for n, used in (("status", flt.status), ("opportunity", flt.opportunity_id),
                                                       ("customer", flt.customer_id), ("owner", flt.owner_id),
                                                       ("archivedAt", flt.archived is not False))
                                     if used])
    domain_filter = service.QuoteFilter(
        status=flt.status.value if flt.status else None, opportunity_id=opt_id("Opportunity", flt.opportunity_id),
        customer_id=opt_id("Customer", flt.customer_id), owner_id=opt_id("User", flt.owner_id),
        archived=flt.archived)
    req = PageRequest(first=first, after=after, last=last, before=before, descending=True)
    return ListRequest(domain_filter, req, "CREATED_AT")


@strawberry.type
class QuoteQuery:
    @strawberry.field(description="Quotes you may see, newest first.")
    async def quotes(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                     last: int | None = None, before: str | None = None,
                     filter: QuoteFilter | None = None) -> Connection[Quote]:
        ctx = info.context
        asked = quote_list(ctx, first, after, last, before, filter)
        async with ctx.read() as session:
            page = await service.list_quotes(session, ctx.actor, asked.filter, asked.page,
                                             with_total=wants_total(info))
        return Connection.from_page(page, Quote.from_model)

    @strawberry.field
    async def quote(self, info: strawberry.Info, id: strawberry.ID) -> Quote | None:
        ctx = info.context
        pk = decode_id("Quote", id)
        async with ctx.read() as session:
            return Quote.from_model(await service.get_quote(session, ctx.actor, pk))


@strawberry.type
class QuoteMutation:
    @writes("Quote", "create")
    @strawberry.mutation(description="A draft quote on an opportunity, priced from the price book.")
    async def create_quote(self, info: strawberry.Info, input: CreateQuoteInput) -> QuotePayload:
        actor = info.context.actor
        data = service.QuoteInput(opportunity_id=decode_id("Opportunity", input.opportunity_id), title=input.title,
                                  currency=input.currency, valid_until=input.valid_until, notes=input.notes,
                                  lines=_lines(input.lines))
        return await run_create(info, "createQuote", input, lambda s: service.create_quote(s, actor, data),
                                lambda s, pk: service.get_quote(s, actor, pk), _payload)

    @writes("Quote", "update")
    @strawberry.mutation(description="Edit a draft or rejected quote (lines, when given, replace all lines).")
    async def update_quote(self, info: strawberry.Info, input: UpdateQuoteInput) -> QuotePayload:
        actor = info.context.actor
        pk = decode_id("Quote", input.id)
        data = service.QuoteInput(title=value(input, "title"), currency=value(input, "currency"),
                                  valid_until=value(input, "valid_until"), notes=value(input, "notes"),
                                  lines=_lines(value(input, "lines")), set_fields=named(input))
        return await run(info, lambda s: service.update_quote(s, actor, pk, input.version, data), _payload)

    @acts("Quote", "update")
    @strawberry.mutation(description="Ask the owner's manager to approve the quote's discount.")
    async def submit_quote_for_approval(self, info: strawberry.Info, input: QuoteActionInput) -> QuotePayload:
        actor = info.context.actor
        return await _act(info, input.id, lambda s, pk: service.submit_quote(s, actor, pk, input.version))

    @acts("Quote", "approve")
    @strawberry.mutation(description="Approve a pending quote (a manager above its owner, or an admin).")
    async def approve_quote(self, info: strawberry.Info, input: QuoteDecisionInput) -> QuotePayload:
        actor = info.context.actor
        return await _act(info, input.id, lambda s, pk: service.approve_quote(
            s, actor, pk, input.version, input.comment))

    @acts("Quote", "approve")
    @strawberry.mutation(description="Reject a pending quote with a comment; the owner can edit and resubmit.")
    async def reject_quote(self, info: strawberry.Info, input: QuoteDecisionInput) -> QuotePayload:
        actor = info.context.actor
        return await _act(info, input.id, lambda s, pk: service.reject_quote(
            s, actor, pk, input.version, input.comment))

    @acts("Quote", "update")
    @strawberry.mutation(description="Mark the quote sent to the customer (approved, or within the discount policy).")
    async def send_quote(self, info: strawberry.Info, input: QuoteActionInput) -> QuotePayload:
        actor = info.context.actor
        return await _act(info, input.id, lambda s, pk: service.send_quote(s, actor, pk, input.version))

    @acts("Quote", "update")
    @strawberry.mutation(description="The customer accepted: the opportunity's amount follows the quote's total.")
    async def accept_quote(self, info: strawberry.Info, input: QuoteActionInput) -> QuotePayload:
        actor = info.context.actor
        return await _act(info, input.id, lambda s, pk: service.accept_quote(s, actor, pk, input.version))

    @acts("Quote", "update")
    @strawberry.mutation(description="The customer declined the quote.")
    async def decline_quote(self, info: strawberry.Info, input: QuoteDecisionInput) -> QuotePayload:
        actor = info.context.actor
        return await _act(info, input.id, lambda s, pk: service.decline_quote(
            s, actor, pk, input.version, input.comment))

    @acts("Quote", "create")
    @strawberry.mutation(description="A new draft revision (same number, revision + 1); this one is superseded.")
    async def revise_quote(self, info: strawberry.Info, input: QuoteActionInput) -> QuotePayload:
        actor = info.context.actor
        return await _act(info, input.id, lambda s, pk: service.revise_quote(s, actor, pk, input.version))

    @acts("Policy", "manage")
    @strawberry.mutation(description="The largest line discount a role may quote without approval (admin).")
    async def set_discount_threshold(self, info: strawberry.Info,
                                     input: SetDiscountThresholdInput) -> DiscountThresholdPayload:
        actor = info.context.actor

        def payload(m: service.DiscountThreshold | None = None, user_errors: list | None = None
                    ) -> DiscountThresholdPayload:
            threshold = DiscountThreshold(role=m.role, max_discount_percent=rate(m.max_discount_percent)) if m \
                else None
            return DiscountThresholdPayload(threshold=threshold, user_errors=user_errors or [])

        return await run(info, lambda s: service.set_discount_threshold(
            s, actor, role=input.role, max_discount_percent=input.max_discount_percent), payload)
