"""Pipelines and their stages: everyone reads them, the admin configures them."""

from __future__ import annotations

import strawberry

from tandem.domain.pipeline import pipeline as service
from tandem.schema.node import decode_id
from tandem.schema.pipeline import (
    CreatePipelineInput,
    DefinePipelineStageInput,
    Pipeline,
    PipelinePayload,
    PipelineStage,
    RemovePipelineStageInput,
)

from .mutation import run
from .writes import acts

CONFIGURE = ("Pipeline", "manage")
"""The type-level action of every configuration mutation (pipelines, custom fields, lost reasons, competitors):
the default policy gives it to admins only."""


def _payload(result=None, user_errors=None) -> PipelinePayload:
    if result is None:
        return PipelinePayload(user_errors=user_errors or [])
    pipeline, stages, stage = result
    shown = Pipeline.from_model(pipeline, stages)
    return PipelinePayload(pipeline=shown, stage=next((s for s in shown.stages if stage and s.key == stage.key), None))


@strawberry.type
class PipelineQuery:
    @strawberry.field(description="The org's pipelines, the default first, each with its stages in order.")
    async def pipelines(self, info: strawberry.Info) -> list[Pipeline]:
        ctx = info.context
        async with ctx.read() as session:
            found = await service.list_pipelines(session, ctx.actor.org_id)
        return [Pipeline.from_model(p, stages) for p, stages in found]


@strawberry.type
class PipelineMutation:
    @acts(*CONFIGURE)
    @strawberry.mutation(description="Add a pipeline for a business line (admin only).")
    async def create_pipeline(self, info: strawberry.Info, input: CreatePipelineInput) -> PipelinePayload:
        actor = info.context.actor

        async def work(session):
            pipeline = await service.create_pipeline(session, actor, name=input.name, key=input.key,
                                                     is_default=input.is_default)
            return pipeline, [], None

        return await run(info, work, _payload)

    @acts(*CONFIGURE)
    @strawberry.mutation(description="Create or change a stage of a pipeline (admin only): its label, place, default "
                                     "probability, won/lost flag and the fields a deal needs to enter it.")
    async def define_pipeline_stage(self, info: strawberry.Info, input: DefinePipelineStageInput) -> PipelinePayload:
        actor = info.context.actor
        definition = service.StageDefinition(
            pipeline_id=decode_id("Pipeline", input.pipeline_id), key=input.key, label=input.label, order=input.order,
            default_probability=input.default_probability, is_won=input.is_won, is_lost=input.is_lost,
            required_fields=tuple(input.required_fields))

        async def work(session):
            stage = await service.define_pipeline_stage(session, actor, definition)
            pipeline, stages = await service.pipeline_with_stages(session, actor.org_id, definition.pipeline_id)
            return pipeline, stages, stage

        return await run(info, work, _payload)

    @acts(*CONFIGURE)
    @strawberry.mutation(description="Remove a stage (admin only); its deals move to `moveToStage`.")
    async def remove_pipeline_stage(self, info: strawberry.Info, input: RemovePipelineStageInput) -> PipelinePayload:
        actor = info.context.actor
        pipeline_id = decode_id("Pipeline", input.pipeline_id)

        async def work(session):
            await service.remove_pipeline_stage(session, actor, pipeline_id=pipeline_id, key=input.key,
                                                move_to=input.move_to_stage)
            pipeline, stages = await service.pipeline_with_stages(session, actor.org_id, pipeline_id)
            return pipeline, stages, None

        return await run(info, work, _payload)


__all__ = ["PipelineMutation", "PipelineQuery", "PipelineStage"]
