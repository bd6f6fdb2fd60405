"""Competitors: everyone reads the list, the admin adds to it."""

from __future__ import annotations

import strawberry

from tandem.domain.pipeline import competitor as service
from tandem.schema.competitor import Competitor, CompetitorPayload, CreateCompetitorInput

from .mutation import run
from .pipeline import CONFIGURE
from .writes import acts


def _payload(m=None, user_errors=None) -> CompetitorPayload:
    return CompetitorPayload(competitor=Competitor.from_model(m) if m else None, user_errors=user_errors or [])


@strawberry.type
class CompetitorQuery:
    @strawberry.field(description="The competitors the org meets, by name.")
    async def competitors(self, info: strawberry.Info) -> list[Competitor]:
        ctx = info.context
        async with ctx.read() as session:
            return [Competitor.from_model(m) for m in await service.list_competitors(session, ctx.actor.org_id)]


@strawberry.type
class CompetitorMutation:
    @acts(*CONFIGURE)
    @strawberry.mutation(description="Add a competitor (admin only).")
    async def create_competitor(self, info: strawberry.Info, input: CreateCompetitorInput) -> CompetitorPayload:
        actor = info.context.actor
        return await run(info, lambda s: service.create_competitor(s, actor, name=input.name, website=input.website),
                         _payload)
