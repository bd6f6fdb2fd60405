"""What happens in the pipeline that other areas react to."""

from __future__ import annotations

from dataclasses import dataclass


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
