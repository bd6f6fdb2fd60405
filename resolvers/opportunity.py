"""Opportunity queries and mutations."""

from __future__ import annotations

from typing import Any

import strawberry

from tandem.domain.pipeline import opportunity as service
from tandem.domain.pipeline.stage import get_pipeline
from tandem.domain.shared.pagination import PageRequest
from tandem.domain.shared.payload import camel
from tandem.schema.node import decode_id
from tandem.schema.opportunity import (
    CreateOpportunityInput,
    MilestoneInput,
    MoveOpportunityStageInput,
    Opportunity,
    OpportunityFilter,
    OpportunityPayload,
    UpdateOpportunityInput,
)
from tandem.schema.ordering import OpportunityOrder, OrderDirection
from tandem.schema.pagination import Connection, wants_total
from tandem.schema.pipeline import PipelineStage

from .lists import ListRequest
from .mutation import named, opt_id, run, run_create, value
from .writes import writes


def _payload(m: service.Opportunity | None = None, user_errors: list | None = None) -> OpportunityPayload:
    return OpportunityPayload(opportunity=Opportunity.from_model(m) if m else None, user_errors=user_errors or [])


CONFIG_REFERENCES = {"pipeline_id": "Opportunity.pipeline", "lost_reason_id": "Opportunity.lostReasonOption",
                     "competitor_ids": "Opportunity.competitors"}
"""Input attributes naming configuration records, and the Opportunity field each writes."""


def _ids(type_name: str, gids: list[str] | None) -> list[int] | None:
    return None if gids is None else [decode_id(type_name, gid) for gid in gids]


def _milestones(items: list[MilestoneInput] | None) -> list[service.Milestone] | None:
    if items is None:
        return None
    return [service.Milestone(name=m.name, due_date=m.due_date, done=m.done) for m in items]


def opportunity_list(ctx: Any, first: int | None = None, after: str | None = None, last: int | None = None,
                     before: str | None = None, filter: OpportunityFilter | None = None,
                     order_by: OpportunityOrder | None = None) -> ListRequest:
    """The arguments of ``opportunities``; FORBIDDEN when a filter or the sort reads a field the role may
    not read (shared by the resolver and the compiled read path)."""
    ctx.actor  # noqa: B018 - UNAUTHENTICATED before anything about the arguments
    flt = filter or OpportunityFilter()
    order = order_by or OpportunityOrder()
    req = PageRequest(first=first, after=after, last=last, before=before,
                      descending=order.direction == OrderDirection.DESC)
    domain_filter = service.OpportunityFilter(
        stage=flt.stage, owner_id=opt_id("User", flt.owner_id),
        customer_id=opt_id("Customer", flt.customer_id), search=flt.search, archived=flt.archived,
    )
    ctx.authz.require_read("Opportunity", [
        name for name, used in (("stage", flt.stage), ("owner", flt.owner_id), ("customer", flt.customer_id),
                                ("name", flt.search), ("archivedAt", flt.archived is not False)) if used
    ] + [camel(order.field.value.lower())])
    return ListRequest(domain_filter, req, order.field.value)


@strawberry.type
class OpportunityQuery:
    @strawberry.field
    async def opportunities(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None, filter: OpportunityFilter | None = None,
        order_by: OpportunityOrder | None = None,
    ) -> Connection[Opportunity]:
        ctx = info.context
        asked = opportunity_list(ctx, first, after, last, before, filter, order_by)
        async with ctx.read() as session:
            page = await service.list_opportunities(session, ctx.actor, asked.filter, asked.page, sort=asked.sort,
                                                    with_total=wants_total(info))
        return Connection.from_page(page, Opportunity.from_model)

    @strawberry.field
    async def opportunity(self, info: strawberry.Info, id: strawberry.ID) -> Opportunity | None:
        ctx = info.context
        actor = ctx.actor
        pk = decode_id("Opportunity", id)
        async with ctx.read() as session:
            return Opportunity.from_model(await service.get_opportunity(session, actor, pk))

    @strawberry.field(description="The org's pipeline stages, in order.")
    async def pipeline(self, info: strawberry.Info) -> list[PipelineStage]:
        ctx = info.context
        actor = ctx.actor
        async with ctx.read() as session:
            pipeline = await get_pipeline(session, actor.org_id)
        return [PipelineStage.from_domain(s) for s in pipeline.stages]


@strawberry.type
class OpportunityMutation:
    @writes("Opportunity", "create", fields=CONFIG_REFERENCES)
    @strawberry.mutation
    async def create_opportunity(self, info: strawberry.Info, input: CreateOpportunityInput) -> OpportunityPayload:
        actor = info.context.actor
        data = service.OpportunityInput(
            customer_id=decode_id("Customer", input.customer_id), name=input.name, amount=input.amount,
            currency=input.currency, stage=input.stage, lost_reason=input.lost_reason,
            expected_close_date=input.expected_close_date, probability=input.probability,
            owner_id=opt_id("User", input.owner_id), next_step=input.next_step, next_step_at=input.next_step_at,
            milestones=_milestones(input.milestones), custom_fields=input.custom_fields,
            project_manager_id=opt_id("User", input.project_manager_id),
            pipeline_id=opt_id("Pipeline", input.pipeline_id),
            lost_reason_id=opt_id("LostReason", input.lost_reason_id),
            competitor_ids=_ids("Competitor", input.competitor_ids),
        )
        return await run_create(
            info, "createOpportunity", input,
            lambda s: service.create_opportunity(s, actor, data),
            lambda s, pk: service.get_opportunity(s, actor, pk),
            _payload,
        )

    @writes("Opportunity", "update", fields=CONFIG_REFERENCES)
    @strawberry.mutation
    async def update_opportunity(self, info: strawberry.Info, input: UpdateOpportunityInput) -> OpportunityPayload:
        actor = info.context.actor
        pk = decode_id("Opportunity", input.id)
        data = service.OpportunityInput(
            name=value(input, "name"), amount=value(input, "amount"), currency=value(input, "currency"),
            expected_close_date=value(input, "expected_close_date"), probability=value(input, "probability"),
            owner_id=opt_id("User", value(input, "owner_id")), next_step=value(input, "next_step"),
            next_step_at=value(input, "next_step_at"),
            milestones=_milestones(value(input, "milestones")), custom_fields=value(input, "custom_fields"),
            project_manager_id=opt_id("User", value(input, "project_manager_id")),
            competitor_ids=_ids("Competitor", value(input, "competitor_ids")), set_fields=named(input),
        )
        return await run(info, lambda s: service.update_opportunity(s, actor, pk, input.version, data), _payload)

    @writes("Opportunity", "update")
    @strawberry.mutation(description="Move to another pipeline stage; `lost` needs `lostReason`.")
    async def move_opportunity_stage(
        self, info: strawberry.Info, input: MoveOpportunityStageInput
    ) -> OpportunityPayload:
        actor = info.context.actor
        pk = decode_id("Opportunity", input.id)
        return await run(
            info,
            lambda s: service.move_opportunity_stage(s, actor, pk, input.version, input.stage,
                                                     value(input, "lost_reason"),
                                                     opt_id("LostReason", value(input, "lost_reason_id"))),
            _payload,
        )
