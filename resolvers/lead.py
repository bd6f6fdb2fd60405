"""Lead queries and mutations."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from tandem.domain.crm import lead as service
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.archive import ARCHIVED_FILTER
from tandem.schema.contact import Contact
from tandem.schema.customer import Customer
from tandem.schema.lead import (
    ConvertLeadInput,
    ConvertLeadPayload,
    CreateLeadInput,
    Lead,
    LeadPayload,
    LeadStatus,
    UpdateLeadInput,
)
from tandem.schema.node import decode_id
from tandem.schema.opportunity import Opportunity
from tandem.schema.pagination import Connection, wants_total

from .lists import ListRequest
from .mutation import named, opt_id, run, run_create, value
from .writes import writes


def _payload(m: service.Lead | None = None, user_errors: list | None = None) -> LeadPayload:
    return LeadPayload(lead=Lead.from_model(m) if m else None, user_errors=user_errors or [])


def _conversion(c: service.LeadConversion | None = None, user_errors: list | None = None) -> ConvertLeadPayload:
    if c is None:
        return ConvertLeadPayload(user_errors=user_errors or [])
    return ConvertLeadPayload(lead=Lead.from_model(c.lead), customer=Customer.from_model(c.customer),
                              contact=Contact.from_model(c.contact),
                              opportunity=Opportunity.from_model(c.opportunity), user_errors=[])


def lead_list(ctx: Any, first: int | None = None, after: str | None = None, last: int | None = None,
              before: str | None = None, status: LeadStatus | None = None,
              owner_id: strawberry.ID | None = None, archived: bool | None = False) -> ListRequest:
    """The arguments of ``leads`` (newest first); FORBIDDEN when a filter reads a field the role may not
    read (shared by the resolver and the compiled read path)."""
    ctx.authz.require_read("Lead", [name for name, used in (
        ("status", status), ("owner", owner_id), ("archivedAt", archived is not False)) if used])
    req = PageRequest(first=first, after=after, last=last, before=before, descending=True)
    return ListRequest(service.LeadFilter(status.value if status else None, opt_id("User", owner_id), archived),
                       req, "CREATED_AT")


@strawberry.type
class LeadQuery:
    @strawberry.field(description="Leads, newest first.")
    async def leads(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None, status: LeadStatus | None = None,
        owner_id: strawberry.ID | None = None,
        archived: Annotated[bool | None, strawberry.argument(description=ARCHIVED_FILTER)] = False,
    ) -> Connection[Lead]:
        ctx = info.context
        asked = lead_list(ctx, first, after, last, before, status, owner_id, archived)
        async with ctx.read() as session:
            page = await service.list_leads(session, ctx.actor, asked.page, asked.filter,
                                            with_total=wants_total(info))
        return Connection.from_page(page, Lead.from_model)

    @strawberry.field
    async def lead(self, info: strawberry.Info, id: strawberry.ID) -> Lead | None:
        ctx = info.context
        actor = ctx.actor
        pk = decode_id("Lead", id)
        async with ctx.read() as session:
            return Lead.from_model(await service.get_lead(session, actor, pk))


@strawberry.type
class LeadMutation:
    @writes("Lead", "create")
    @strawberry.mutation
    async def create_lead(self, info: strawberry.Info, input: CreateLeadInput) -> LeadPayload:
        actor = info.context.actor
        data = service.LeadInput(
            name=input.name, company=input.company, title=input.title, email=input.email, phone=input.phone,
            source=input.source, status=input.status, owner_id=opt_id("User", input.owner_id), notes=input.notes,
            region=input.region, industry=input.industry, custom_fields=input.custom_fields,
        )
        return await run_create(
            info, "createLead", input,
            lambda s: service.create_lead(s, actor, data),
            lambda s, pk: service.get_lead(s, actor, pk),
            _payload,
        )

    @writes("Lead", "update")
    @strawberry.mutation(description="Edit a lead, move its status (disqualify with a reason), hand it to "
                                     "another active user.")
    async def update_lead(self, info: strawberry.Info, input: UpdateLeadInput) -> LeadPayload:
        actor = info.context.actor
        pk = decode_id("Lead", input.id)
        data = service.LeadInput(
            name=value(input, "name"), company=value(input, "company"), title=value(input, "title"),
            email=value(input, "email"), phone=value(input, "phone"), source=value(input, "source"),
            status=value(input, "status"), owner_id=opt_id("User", value(input, "owner_id")),
            notes=value(input, "notes"), region=value(input, "region"), industry=value(input, "industry"),
            disqualify_reason=value(input, "disqualify_reason"), custom_fields=value(input, "custom_fields"),
            set_fields=named(input),
        )
        return await run(info, lambda s: service.update_lead(s, actor, pk, input.version, data), _payload)

    @writes("Opportunity", "create", needs=[("Lead", "update"), ("Contact", "create")], also=["Lead.status"],
            fields={"lead_id": None, "opportunity_name": "Opportunity.name", "customer_id": None,
                    "customer_name": None})
    @strawberry.mutation(description="Customer + contact + opportunity from a lead, in one transaction.")
    async def convert_lead(self, info: strawberry.Info, input: ConvertLeadInput) -> ConvertLeadPayload:
        actor = info.context.actor
        if input.customer_id is None:
            info.context.authz.require("Customer", "create")
        data = service.ConvertLeadInput(
            lead_id=decode_id("Lead", input.lead_id), opportunity_name=input.opportunity_name,
            amount=input.amount, currency=input.currency, stage=input.stage,
            expected_close_date=input.expected_close_date, customer_id=opt_id("Customer", input.customer_id),
            customer_name=input.customer_name, owner_id=opt_id("User", input.owner_id),
        )
        return await run(info, lambda s: service.convert_lead(s, actor, data), _conversion)
