"""Tenancy cases of routing: Demo's assignment rule (one that matches nothing, so Demo's other tests' leads are
not routed), Demo's users and team. Acme's admin may not change, reorder or delete Demo's rule, nor name Demo's
people as members, fallback owner or on leave; ``assignmentRules`` holds only Acme's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tandem.schema.node import to_global_id

from . import Case, Records, created, input_of

CREATE_RULE = """
mutation ($input: CreateAssignmentRuleInput!) {
  createAssignmentRule(input: $input) { assignmentRule { id version } userErrors { field code } }
}"""
UPDATE_RULE = """
mutation ($input: UpdateAssignmentRuleInput!) {
  updateAssignmentRule(input: $input) { assignmentRule { id } userErrors { field code } }
}"""
DELETE_RULE = """
mutation ($input: DeleteAssignmentRuleInput!) {
  deleteAssignmentRule(input: $input) { assignmentRule { id } userErrors { field code } }
}"""
REORDER = """
mutation ($input: ReorderAssignmentRulesInput!) {
  reorderAssignmentRules(input: $input) { assignmentRules { id } userErrors { field code } }
}"""
SET_AVAILABILITY = """
mutation ($input: SetAvailabilityInput!) {
  setAvailability(input: $input) { availability { user { id } } userErrors { field code } }
}"""
SET_FALLBACK = """
mutation ($input: SetAssignmentFallbackInput!) {
  setAssignmentFallback(input: $input) { fallbackOwner { id } userErrors { field code } }
}"""
RULES = "{ assignmentRules { id name members { id } } }"
FALLBACK = "{ assignmentFallback { id } }"

NOWHERE = [{"field": "region", "eq": "租户探针：不存在的区域"}]


@pytest.fixture(scope="module")
async def demo_rule(gql, users) -> AsyncIterator[dict[str, Any]]:
    rep = users["rep1@demo.test"]
    rule = (await created(gql, CREATE_RULE, "createAssignmentRule", "admin@demo.test", name="Tenancy probe",
                          objectType="LEAD", method="ROUND_ROBIN", conditions=NOWHERE,
                          memberIds=[to_global_id("User", rep.id)]))["assignmentRule"]
    yield rule
    await created(gql, DELETE_RULE, "deleteAssignmentRule", "admin@demo.test", id=rule["id"])


async def records(rule: dict[str, Any]) -> Records:
    return Records(demo={"AssignmentRule": rule["id"]}, demo_version={"AssignmentRule": rule["version"]})


NOT_FOUND_CASES = [
    Case("updateAssignmentRule.id", UPDATE_RULE, "updateAssignmentRule", lambda w, _: input_of(
        id=w.demo["AssignmentRule"], version=w.demo_version["AssignmentRule"], name="Acme was here")),
    Case("deleteAssignmentRule.id", DELETE_RULE, "deleteAssignmentRule", lambda w, _: input_of(
        id=w.demo["AssignmentRule"])),
    Case("reorderAssignmentRules.ids", REORDER, "reorderAssignmentRules", lambda w, _: input_of(
        ids=[w.demo["AssignmentRule"]])),
    Case("createAssignmentRule.memberIds", CREATE_RULE, "createAssignmentRule", lambda w, _: input_of(
        name="Acme rule", objectType="LEAD", method="ROUND_ROBIN", memberIds=[w.demo["User"]])),
    Case("createAssignmentRule.teamId", CREATE_RULE, "createAssignmentRule", lambda w, _: input_of(
        name="Acme rule", objectType="LEAD", method="ROUND_ROBIN", teamId=w.demo["Team"])),
    Case("setAvailability.userId", SET_AVAILABILITY, "setAvailability", lambda w, _: input_of(
        userId=w.demo["User"], **{"from": "2030-01-01T00:00:00Z", "until": "2030-01-08T00:00:00Z"})),
    Case("setAssignmentFallback.ownerId", SET_FALLBACK, "setAssignmentFallback", lambda w, _: input_of(
        ownerId=w.demo["User"])),
]
UNNAMED_CASES: list[Case] = []
CONNECTION_CASES: list[Case] = []
FILTERED_CASES: list[Case] = []
MODELS: dict[str, Any] = {}
LIST_CASES = [Case("assignmentRules", RULES, "assignmentRules", lambda w, _: {}, may_be_empty=True)]
NO_ID_QUERIES: set[str] = {"assignmentFallback"}
