"""Customer queries and mutations: parse input, call the domain, map to schema types."""

from __future__ import annotations

from typing import Any

import strawberry

from tandem.domain.crm import customer as service
from tandem.domain.shared.pagination import PageRequest
from tandem.domain.shared.payload import camel
from tandem.schema.customer import (
    CreateCustomerInput,
    Customer,
    CustomerFilter,
    CustomerPayload,
    UpdateCustomerInput,
)
from tandem.schema.node import decode_id
from tandem.schema.ordering import CustomerOrder, OrderDirection
from tandem.schema.pagination import Connection, wants_total

from .lists import ListRequest
from .mutation import named, opt_id, run, run_create, value
from .writes import writes


def _payload(m: service.Customer | None = None, user_errors: list | None = None) -> CustomerPayload:
    return CustomerPayload(customer=Customer.from_model(m) if m else None, user_errors=user_errors or [])


def customer_list(ctx: Any, first: int | None = None, after: str | None = None, last: int | None = None,
                  before: str | None = None, filter: CustomerFilter | None = None,
                  order_by: CustomerOrder | None = None) -> ListRequest:
    """The arguments of ``customers``; FORBIDDEN when a filter or the sort reads a field the role may not
    read (shared by the resolver and the compiled read path)."""
    flt = filter or CustomerFilter()
    order = order_by or CustomerOrder()
    req = PageRequest(first=first, after=after, last=last, before=before,
                      descending=order.direction == OrderDirection.DESC)
    domain_filter = service.CustomerFilter(
        search=flt.search, tag=flt.tag, owner_id=opt_id("User", flt.owner_id),
        tier=flt.tier.value if flt.tier else None,
        lifecycle_stage=flt.lifecycle_stage.value if flt.lifecycle_stage else None, archived=flt.archived,
    )
    ctx.authz.require_read("Customer", [
        name for name, used in (("name", flt.search), ("tags", flt.tag), ("owner", flt.owner_id),
                                ("tier", flt.tier), ("lifecycleStage", flt.lifecycle_stage),
                                ("archivedAt", flt.archived is not False)) if used
    ] + [camel(order.field.value.lower())])
    return ListRequest(domain_filter, req, order.field.value)


@strawberry.type
class CustomerQuery:
    @strawberry.field
    async def customers(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None, filter: CustomerFilter | None = None,
        order_by: CustomerOrder | None = None,
    ) -> Connection[Customer]:
        ctx = info.context
        asked = customer_list(ctx, first, after, last, before, filter, order_by)
        async with ctx.read() as session:
            page = await service.list_customers(session, ctx.actor, asked.filter, asked.page, sort=asked.sort,
                                                with_total=wants_total(info))
        return Connection.from_page(page, Customer.from_model)

    @strawberry.field
    async def customer(self, info: strawberry.Info, id: strawberry.ID) -> Customer | None:
        ctx = info.context
        pk = decode_id("Customer", id)
        actor = ctx.actor
        async with ctx.read() as session:
            return Customer.from_model(await service.get_customer(session, actor, pk))


@strawberry.type
class CustomerMutation:
    @writes("Customer", "create")
    @strawberry.mutation
    async def create_customer(self, info: strawberry.Info, input: CreateCustomerInput) -> CustomerPayload:
        actor = info.context.actor
        data = service.CustomerInput(
            name=input.name, tags=input.tags, industry=input.industry, tier=input.tier,
            lifecycle_stage=input.lifecycle_stage, owner_id=opt_id("User", input.owner_id),
            credit_limit=input.credit_limit, custom_fields=input.custom_fields,
        )
        return await run_create(
            info, "createCustomer", input,
            lambda s: service.create_customer(s, actor, data),
            lambda s, pk: service.get_customer(s, actor, pk),
            _payload,
        )

    @writes("Customer", "update")
    @strawberry.mutation
    async def update_customer(self, info: strawberry.Info, input: UpdateCustomerInput) -> CustomerPayload:
        actor = info.context.actor
        pk = decode_id("Customer", input.id)
        data = service.CustomerInput(
            name=value(input, "name"), tags=value(input, "tags"), industry=value(input, "industry"),
            tier=value(input, "tier"), lifecycle_stage=value(input, "lifecycle_stage"),
            owner_id=opt_id("User", value(input, "owner_id")), credit_limit=value(input, "credit_limit"),
            custom_fields=value(input, "custom_fields"), set_fields=named(input),
        )
        return await run(info, lambda s: service.update_customer(s, actor, pk, input.version, data), _payload)
