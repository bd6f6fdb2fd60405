"""What happens in the pipeline that other areas react to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpportunityWon:
    """An opportunity was created in, or moved to, a won stage (delivery turns it into a project)."""

    org_id: int
    opportunity_id: int
