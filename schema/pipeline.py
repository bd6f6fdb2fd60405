"""The org's pipeline stages."""

from __future__ import annotations

import strawberry

from tandem.domain.pipeline.stage import Stage


@strawberry.type(description="A pipeline stage, in order.")
class PipelineStage:
    key: str
    label: str
    probability: int
    is_won: bool
    is_closed: bool

    @classmethod
    def from_domain(cls, s: Stage) -> PipelineStage:
        return cls(key=s.key, label=s.label, probability=s.probability, is_won=s.is_won, is_closed=s.is_closed)
