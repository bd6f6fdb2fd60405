"""Interaction mutations."""

from __future__ import annotations

import strawberry

from tandem.domain.crm import interaction as service
from tandem.schema.interaction import Interaction, InteractionPayload, LogInteractionInput
from tandem.schema.node import decode_id

from .mutation import opt_id, run_create
from .writes import writes


def _payload(m: service.Interaction | None = None, user_errors: list | None = None) -> InteractionPayload:
    return InteractionPayload(interaction=Interaction.from_model(m) if m else None, user_errors=user_errors or [])


@strawberry.type
class InteractionMutation:
    @writes("Interaction", "create")
    @strawberry.mutation
    async def log_interaction(self, info: strawberry.Info, input: LogInteractionInput) -> InteractionPayload:
        actor = info.context.actor
        data = service.InteractionInput(
            customer_id=decode_id("Customer", input.customer_id), kind=input.kind, summary=input.summary,
            occurred_at=input.occurred_at, contact_id=opt_id("Contact", input.contact_id),
            opportunity_id=opt_id("Opportunity", input.opportunity_id),
        )
        return await run_create(
            info, "logInteraction", input,
            lambda s: service.log_interaction(s, actor, data),
            lambda s, pk: service.get_interaction(s, actor, pk),
            _payload,
        )
