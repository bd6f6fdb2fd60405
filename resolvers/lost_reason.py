"""Lost reasons: everyone reads the list, the admin keeps it."""

from __future__ import annotations

import strawberry

from tandem.domain.pipeline import lost_reason as service
from tandem.schema.lost_reason import DefineLostReasonInput, LostReason, LostReasonPayload

from .mutation import run
from .pipeline import CONFIGURE
from .writes import acts


def _payload(m=None, user_errors=None) -> LostReasonPayload:
    return LostReasonPayload(lost_reason=LostReason.from_model(m) if m else None, user_errors=user_errors or [])


@strawberry.type
class LostReasonQuery:
    @strawberry.field(description="The org's reasons deals are lost for, oldest first.")
    async def lost_reasons(self, info: strawberry.Info) -> list[LostReason]:
        ctx = info.context
        async with ctx.read() as session:
            return [LostReason.from_model(m) for m in await service.list_lost_reasons(session, ctx.actor.org_id)]


@strawberry.type
class LostReasonMutation:
    @acts(*CONFIGURE)
    @strawberry.mutation(description="Add a lost reason, or relabel one (admin only).")
    async def define_lost_reason(self, info: strawberry.Info, input: DefineLostReasonInput) -> LostReasonPayload:
        actor = info.context.actor
        return await run(info, lambda s: service.define_lost_reason(s, actor, label=input.label, key=input.key),
                         _payload)
