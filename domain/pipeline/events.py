"""What happens in the pipeline that other areas react to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class OpportunityWon:
    """An opportunity was created in, or moved to, a won stage (delivery turns it into a project)."""

    org_id: int
    opportunity_id: int


@dataclass(frozen=True)
class OpportunityCreated:
    """An opportunity was created (automation routes it to an owner unless ``owner_given``: the creator or the
    converted lead named one)."""

    org_id: int
    opportunity_id: int
    owner_given: bool


@dataclass(frozen=True)
class NextStepSet:
    """An opportunity's next step, its time or its owner changed (automation keeps the owner's follow-up);
    ``next_step_at`` None: the next step has no time any more."""

    org_id: int
    opportunity_id: int
    owner_id: int
    next_step: str | None
    next_step_at: datetime | None
