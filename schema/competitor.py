"""Competitors met in deals."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tandem.domain.pipeline.competitor import Competitor as CompetitorModel

from .errors import UserError
from .node import Node, to_global_id


@strawberry.type(description="A competitor the org meets in deals (`Opportunity.competitors`).")
class Competitor(Node):
    name: str
    website: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, m: CompetitorModel) -> Competitor:
        return cls(id=to_global_id("Competitor", m.id), name=m.name, website=m.website, created_at=m.created_at)


@strawberry.input(description="A new competitor (admin only); names are unique in the org, in any width or case.")
class CreateCompetitorInput:
    name: str
    website: str | None = None


@strawberry.type
class CompetitorPayload:
    competitor: Competitor | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
