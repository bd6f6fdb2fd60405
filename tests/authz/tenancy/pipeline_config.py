"""Tenancy cases of the pipeline configuration: each org's pipeline, lost reason and competitor (made by its admin).
Acme may not define or remove stages of Demo's pipeline nor put a deal into it; what Acme configures changes only
Acme; its lists hold only its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from . import ACME, Case, Records, created, input_of

CREATE_PIPELINE = """
mutation ($input: CreatePipelineInput!) {
  createPipeline(input: $input) { pipeline { id } userErrors { field code } }
}"""
DEFINE_STAGE = """
mutation ($input: DefinePipelineStageInput!) {
  definePipelineStage(input: $input) { pipeline { id } userErrors { field code } }
}"""
REMOVE_STAGE = """
mutation ($input: RemovePipelineStageInput!) {
  removePipelineStage(input: $input) { pipeline { id } userErrors { field code } }
}"""
CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id } userErrors { code } }
}"""
DEFINE_LOST_REASON = """
mutation ($input: DefineLostReasonInput!) {
  defineLostReason(input: $input) { lostReason { id } userErrors { code } }
}"""
CREATE_COMPETITOR = """
mutation ($input: CreateCompetitorInput!) {
  createCompetitor(input: $input) { competitor { id } userErrors { code } }
}"""
DEFINE_FIELD = """
mutation ($input: DefineCustomFieldInput!) {
  defineCustomField(input: $input) { customField { key } userErrors { field code } }
}"""
PIPELINES = "query { pipelines { id } }"
LOST_REASONS = "query { lostReasons { id } }"
COMPETITORS = "query { competitors { id } }"


def _tag() -> str:
    return uuid.uuid4().hex[:8]


async def _configuration(gql: Any, as_: str) -> dict[str, str]:
    pipeline = (await created(gql, CREATE_PIPELINE, "createPipeline", as_, name=f"租户流程 {_tag()}"))["pipeline"]
    await created(gql, DEFINE_STAGE, "definePipelineStage", as_, pipelineId=pipeline["id"], key="probe", label="探针",
                  order=1, defaultProbability=10)
    reason = (await created(gql, DEFINE_LOST_REASON, "defineLostReason", as_, label=f"租户原因 {_tag()}"))
    competitor = (await created(gql, CREATE_COMPETITOR, "createCompetitor", as_, name=f"租户对手 {_tag()}"))
    return {"Pipeline": pipeline["id"], "LostReason": reason["lostReason"]["id"],
            "Competitor": competitor["competitor"]["id"]}


@pytest.fixture(scope="module")
async def pipeline_config_records(gql) -> AsyncIterator[dict[str, dict[str, str]]]:
    yield {"demo": await _configuration(gql, "admin@demo.test"), "acme": await _configuration(gql, ACME)}


async def records(made: dict[str, dict[str, str]]) -> Records:
    return Records(demo=made["demo"], acme=made["acme"])


NOT_FOUND_CASES = [
    Case("definePipelineStage.pipelineId", DEFINE_STAGE, "definePipelineStage", lambda w, _: input_of(
        pipelineId=w.demo["Pipeline"], key="acme", label="Acme", order=1, defaultProbability=5)),
    Case("removePipelineStage.pipelineId", REMOVE_STAGE, "removePipelineStage", lambda w, _: input_of(
        pipelineId=w.demo["Pipeline"], key="probe")),
    Case("createOpportunity.pipelineId", CREATE_OPPORTUNITY, "createOpportunity", lambda w, _: input_of(
        customerId=w.acme["Customer"], name="Acme deal", pipelineId=w.demo["Pipeline"])),
]
UNNAMED_CASES = [
    Case("createPipeline", CREATE_PIPELINE, "createPipeline", lambda w, _: input_of(name=f"Acme {_tag()}")),
    Case("defineLostReason", DEFINE_LOST_REASON, "defineLostReason", lambda w, _: input_of(label=f"Acme {_tag()}")),
    Case("createCompetitor", CREATE_COMPETITOR, "createCompetitor", lambda w, _: input_of(name=f"Acme {_tag()}")),
    Case("defineCustomField", DEFINE_FIELD, "defineCustomField", lambda w, _: input_of(
        objectType="OPPORTUNITY", key=f"acme{_tag()}", label="Acme", type="TEXT", visibleToRoles=["sales_manager"])),
]
CONNECTION_CASES: list[Case] = []
FILTERED_CASES: list[Case] = []
MODELS: dict[str, Any] = {}
LIST_CASES = [Case("pipelines", PIPELINES, "pipelines", lambda w, _: {}),
              Case("lostReasons", LOST_REASONS, "lostReasons", lambda w, _: {}),
              Case("competitors", COMPETITORS, "competitors", lambda w, _: {})]
NO_ID_QUERIES: set[str] = {"customFieldDefinitions"}
