"""Pipelines (one per business line) and their ordered stages."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tandem.domain.pipeline.stage import PipelineStage as StageModel
from tandem.domain.pipeline.stage import SalesPipeline, Stage

from .errors import UserError
from .node import Node, to_global_id


@strawberry.type(description="A pipeline stage, in order.")
class PipelineStage:
    key: str
    label: str
    probability: int = strawberry.field(description="The default probability of a deal entering it (0-100).")
    is_won: bool
    is_closed: bool = strawberry.field(description="Won or lost: a deal in it is closed.")
    order: int | None = strawberry.field(default=None, description="Its place in the pipeline, from 1.")
    default_probability: int | None = strawberry.field(default=None, description="Same as `probability`.")
    is_lost: bool = False
    required_fields: list[str] = strawberry.field(
        default_factory=list,
        description="What a deal needs filled in before it may enter: `amount`, `expectedCloseDate`, `nextStep`, "
                    "`projectManager`, `milestones`, `competitors` or `customFields.<key>`.")

    @classmethod
    def from_domain(cls, s: Stage, order: int | None = None) -> PipelineStage:
        return cls(key=s.key, label=s.label, probability=s.probability, is_won=s.is_won, is_closed=s.is_closed,
                   order=order, default_probability=s.probability, is_lost=s.is_lost,
                   required_fields=list(s.required_fields))

    @classmethod
    def from_model(cls, m: StageModel, order: int) -> PipelineStage:
        return cls.from_domain(Stage.of(m), order)


@strawberry.type(description="A sales pipeline (a business line's process); one of the org's is the default, "
                             "which deals enter when none is named.")
class Pipeline(Node):
    key: str
    name: str
    is_default: bool
    created_at: datetime
    stages: list[PipelineStage] = strawberry.field(description="Its stages, in order.")
    _pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: SalesPipeline, stages: list[StageModel] | None = None) -> Pipeline:
        return cls(id=to_global_id("Pipeline", m.id), key=m.key, name=m.name, is_default=m.is_default,
                   created_at=m.created_at,
                   stages=[PipelineStage.from_model(s, i + 1) for i, s in enumerate(stages or [])], _pk=m.id)


@strawberry.input(description="A new pipeline (admin only); it takes deals once it has an open, a won and a lost "
                              "stage.")
class CreatePipelineInput:
    name: str
    key: str | None = strawberry.field(default=None, description="Lower-case letters, digits and _; made from the "
                                                                 "name if omitted.")
    is_default: bool = strawberry.field(default=False, description="Make it the org's default pipeline.")


@strawberry.input(description="Create or change the stage `key` of a pipeline (admin only). Relabelling, reordering "
                              "or new required fields leave the deals in it as they are.")
class DefinePipelineStageInput:
    pipeline_id: strawberry.ID
    key: str
    label: str
    order: int = strawberry.field(description="Its place, from 1; the other stages make room.")
    default_probability: int
    is_won: bool = False
    is_lost: bool = False
    required_fields: list[str] = strawberry.field(default_factory=list)


@strawberry.input(description="Remove a stage (admin only); a stage with deals needs `moveToStage`, another open "
                              "stage of the pipeline, for them.")
class RemovePipelineStageInput:
    pipeline_id: strawberry.ID
    key: str
    move_to_stage: str | None = None


@strawberry.type
class PipelinePayload:
    pipeline: Pipeline | None = None
    stage: PipelineStage | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
