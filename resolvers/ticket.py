"""Service desk queries and mutations: parse input, call the domain, map to schema types."""

from __future__ import annotations

from typing import Any

import strawberry

from tandem.domain.service import queue as queues
from tandem.domain.service import ticket as service
from tandem.domain.service import ticket_articles
from tandem.domain.service.errors import ServiceErrorCode
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.errors import UserError, UserErrorCode
from tandem.schema.knowledge_article import KnowledgeArticle
from tandem.schema.node import decode_id
from tandem.schema.pagination import Connection, wants_total
from tandem.schema.ticket import (
    AssignTicketInput,
    CreateTicketInput,
    HandOffTicketInput,
    ReopenTicketInput,
    ReplyToTicketInput,
    ReplyToTicketPayload,
    ResolveTicketInput,
    ResolveTicketPayload,
    Ticket,
    TicketFilter,
    TicketMessage,
    TicketPayload,
    TicketQueue,
    UpdateTicketInput,
)

from .mutation import named, opt_id, run, run_create, value
from .writes import writes

LINKS = {"contact_id": "Contact", "contract_id": "Contract", "project_id": "Project",
         "opportunity_id": "Opportunity"}
# Inputs that name a ticket, a queue or why: the type action covers them (no field of their own to write).
_NAMES = {"ticket_id": None, "body": None, "reason": None, "note": None, "internal": None, "idempotency_key": None}


def _payload(m: service.Ticket | None = None, user_errors: list | None = None) -> TicketPayload:
    return TicketPayload(ticket=Ticket.from_model(m) if m else None, user_errors=user_errors or [])


def _reply_payload(result: tuple[service.Ticket, service.TicketMessage] | None = None,
                   user_errors: list | None = None) -> ReplyToTicketPayload:
    if result is None:
        return ReplyToTicketPayload(user_errors=user_errors or [])
    ticket, message = result
    return ReplyToTicketPayload(ticket=Ticket.from_model(ticket), message=TicketMessage.from_model(message))


def _resolve_payload(result: service.Ticket | tuple[service.Ticket, Any] | None = None,
                     user_errors: list | None = None) -> ResolveTicketPayload:
    ticket, article = result if isinstance(result, tuple) else (result, None)
    return ResolveTicketPayload(ticket=Ticket.from_model(ticket) if ticket else None,
                                article=KnowledgeArticle.from_model(article) if article else None,
                                user_errors=user_errors or [])


# What a drafted article writes: the role must be allowed to create articles with these fields.
_ARTICLE_FIELDS = ("title", "body", "language", "sourceTicketId")


def _data(input_obj: Any, *, update: bool) -> service.TicketInput:
    get = (lambda name: value(input_obj, name)) if update else (lambda name: getattr(input_obj, name, None))
    return service.TicketInput(
        customer_id=None if update else decode_id("Customer", input_obj.customer_id),
        **{name: opt_id(type_name, get(name)) for name, type_name in LINKS.items()},
        channel=get("channel"), category=get("category"), priority=get("priority"),
        status=get("status") if update else None, subject=get("subject"), description=get("description"),
        queue_id=None if update else opt_id("TicketQueue", input_obj.queue_id),
        assignee_id=None if update else opt_id("User", input_obj.assignee_id),
        set_fields=named(input_obj) if update else set(),
    )


@strawberry.type
class TicketQuery:
    @strawberry.field(description="Tickets you may see, newest first.")
    async def tickets(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                      last: int | None = None, before: str | None = None,
                      filter: TicketFilter | None = None) -> Connection[Ticket]:
        ctx = info.context
        flt = filter or TicketFilter()
        ctx.authz.require_read("Ticket", [name for name, used in (
            ("status", flt.status), ("queue", flt.queue_id), ("assignee", flt.assignee_id),
            ("customer", flt.customer_id), ("priority", flt.priority)) if used])
        domain_filter = service.TicketFilter(
            status=tuple(s.value for s in flt.status or ()), queue_id=opt_id("TicketQueue", flt.queue_id),
            assignee_id=opt_id("User", flt.assignee_id), customer_id=opt_id("Customer", flt.customer_id),
            priority=flt.priority.value if flt.priority else None)
        req = PageRequest(first=first, after=after, last=last, before=before, descending=True)
        async with ctx.read() as session:
            page = await service.list_tickets(session, ctx.actor, domain_filter, req, with_total=wants_total(info))
        return Connection.from_page(page, Ticket.from_model)

    @strawberry.field
    async def ticket(self, info: strawberry.Info, id: strawberry.ID) -> Ticket | None:
        ctx = info.context
        pk = decode_id("Ticket", id)
        async with ctx.read() as session:
            return Ticket.from_model(await service.get_ticket(session, ctx.actor, pk))

    @strawberry.field(description="Published articles you may read that best match the ticket's subject and "
                                  "description (any of its most significant words), best first; NOT_FOUND for a "
                                  "ticket you may not see.")
    async def suggested_articles(self, info: strawberry.Info, ticket_id: strawberry.ID,
                                 first: int | None = 5) -> list[KnowledgeArticle]:
        ctx = info.context
        pk = decode_id("Ticket", ticket_id)
        ctx.authz.require_read("Ticket", ["subject", "description"])
        ctx.authz.require_read("KnowledgeArticle", ["title", "body", "tags", "category"])
        limit = max(0, min(5 if first is None else first, 50))
        async with ctx.read() as session:
            found = await ticket_articles.suggested_articles(session, ctx.actor, pk, limit)
        return [KnowledgeArticle.from_model(a) for a in found]

    @strawberry.field(description="The org's ticket queues, one per department (and any added since).")
    async def ticket_queues(self, info: strawberry.Info) -> list[TicketQueue]:
        ctx = info.context
        async with ctx.read() as session:
            return [TicketQueue.from_model(q) for q in await queues.queues_of(session, ctx.actor)]


@strawberry.type
class TicketMutation:
    @writes("Ticket", "create", fields={"customer_id": "Ticket.customer", "queue_id": "Ticket.queue"})
    @strawberry.mutation(description="Open a ticket for a customer (in the service queue unless `queueId` says).")
    async def create_ticket(self, info: strawberry.Info, input: CreateTicketInput) -> TicketPayload:
        actor = info.context.actor
        data = _data(input, update=False)
        return await run_create(info, "createTicket", input, lambda s: service.create_ticket(s, actor, data),
                                lambda s, pk: service.get_ticket(s, actor, pk), _payload)

    @writes("Ticket", "update")
    @strawberry.mutation(description="Change a ticket's details or move its status.")
    async def update_ticket(self, info: strawberry.Info, input: UpdateTicketInput) -> TicketPayload:
        actor = info.context.actor
        pk = decode_id("Ticket", input.id)
        data = _data(input, update=True)
        return await run(info, lambda s: service.update_ticket(s, actor, pk, input.version, data), _payload)

    @writes("Ticket", "update", fields=_NAMES, also=("Ticket.replies",))
    @strawberry.mutation(description="Reply to the customer, or (`internal: true`) add a note for staff only.")
    async def reply_to_ticket(self, info: strawberry.Info, input: ReplyToTicketInput) -> ReplyToTicketPayload:
        actor = info.context.actor
        pk = decode_id("Ticket", input.ticket_id)
        if input.internal:
            info.context.authz.require_write("Ticket", ["internalNotes"])
        return await run(info, lambda s: service.reply_to_ticket(s, actor, pk, input.body, input.internal),
                         _reply_payload)

    @writes("Ticket", "update", fields=_NAMES)
    @strawberry.mutation(description="Give a ticket to someone (null: back to its queue); they are told.")
    async def assign_ticket(self, info: strawberry.Info, input: AssignTicketInput) -> TicketPayload:
        actor = info.context.actor
        pk = decode_id("Ticket", input.ticket_id)
        assignee = opt_id("User", input.assignee_id)
        return await run(info, lambda s: service.assign_ticket(s, actor, pk, assignee, input.version), _payload)

    @writes("Ticket", "update", fields={**_NAMES, "publish_article": None},
            also=("Ticket.status", "Ticket.resolution"))
    @strawberry.mutation(description="Resolve a ticket with its resolution; `publishArticle: true` also drafts a "
                                     "knowledge article from it (returned as `article`).")
    async def resolve_ticket(self, info: strawberry.Info, input: ResolveTicketInput) -> ResolveTicketPayload:
        actor = info.context.actor
        authz = info.context.authz
        pk = decode_id("Ticket", input.ticket_id)
        if not input.publish_article:
            return await run(info, lambda s: service.resolve_ticket(s, actor, pk, input.resolution, input.version),
                             _resolve_payload)
        if not (authz.can("KnowledgeArticle", "create")
                and all(authz.can_write("KnowledgeArticle", f) for f in _ARTICLE_FIELDS)):
            return _resolve_payload(user_errors=[UserError(
                field=["publishArticle"], code=UserErrorCode(ServiceErrorCode.FORBIDDEN.value),
                message="Your role may not create knowledge articles; resolve without publishArticle.")])
        return await run(info, lambda s: ticket_articles.resolve_and_draft_article(s, actor, pk, input.resolution,
                                                                           input.version), _resolve_payload)

    @writes("Ticket", "update", fields=_NAMES, also=("Ticket.status",))
    @strawberry.mutation(description="Reopen a resolved or closed ticket.")
    async def reopen_ticket(self, info: strawberry.Info, input: ReopenTicketInput) -> TicketPayload:
        actor = info.context.actor
        pk = decode_id("Ticket", input.ticket_id)
        return await run(info, lambda s: service.reopen_ticket(s, actor, pk, input.reason, input.version), _payload)

    @writes("Ticket", "update", fields={**_NAMES, "to_queue_id": "Ticket.queue"})
    @strawberry.mutation(description="Hand a ticket to another department's queue, saying why; the queue's "
                                     "members are told live.")
    async def hand_off_ticket(self, info: strawberry.Info, input: HandOffTicketInput) -> TicketPayload:
        actor = info.context.actor
        pk = decode_id("Ticket", input.ticket_id)
        to_queue = decode_id("TicketQueue", input.to_queue_id)
        if input.note:
            info.context.authz.require_write("Ticket", ["internalNotes"])
        return await run(info, lambda s: service.hand_off_ticket(s, actor, pk, to_queue, input.reason, input.note,
                                                                 input.version), _payload)
