"""Tenancy cases of workflow rules: Demo's rule (one that waits for an event nobody emits, so Demo's other
tests never run it). Acme's admin may not change, switch, delete, dry-run or list the runs of Demo's rule,
dry-run a rule of its own on a Demo record, or name a Demo user or assignment rule in an action;
``workflowRules`` holds only Acme's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from . import Case, Records, created, input_of

CREATE_RULE = """
mutation ($input: CreateWorkflowRuleInput!) {
  createWorkflowRule(input: $input) { workflowRule { id version } userErrors { field code } }
}"""
UPDATE_RULE = """
mutation ($input: UpdateWorkflowRuleInput!) {
  updateWorkflowRule(input: $input) { workflowRule { id } userErrors { field code } }
}"""
ENABLE_RULE = """
mutation ($input: SetWorkflowRuleEnabledInput!) {
  setWorkflowRuleEnabled(input: $input) { workflowRule { id } userErrors { field code } }
}"""
DELETE_RULE = """
mutation ($input: DeleteWorkflowRuleInput!) {
  deleteWorkflowRule(input: $input) { deletedId userErrors { field code } }
}"""
TEST_RULE = """
query ($input: TestWorkflowRuleInput!) { testWorkflowRule(input: $input) { matched userErrors { code } } }"""
RUNS = """
query ($rule: ID, $record: ID) {
  workflowRuns(ruleId: $rule, recordId: $record, first: 10) { edges { node { ruleId recordId } } }
}"""
RULES = "{ workflowRules { id name } }"
NEVER = {"name": "Tenancy probe", "objectType": "Opportunity", "trigger": "EVENT", "topic": "tenancy.probe",
         "actions": [{"type": "ADD_COMMENT", "body": "probe"}]}
DRAFT = {**NEVER, "trigger": "UPDATED", "topic": None}


@pytest.fixture(scope="module")
async def demo_workflow_rule(gql) -> AsyncIterator[dict[str, Any]]:
    rule = (await created(gql, CREATE_RULE, "createWorkflowRule", "admin@demo.test", **NEVER))["workflowRule"]
    yield rule
    await created(gql, DELETE_RULE, "deleteWorkflowRule", "admin@demo.test", id=rule["id"], version=rule["version"])


async def records(rule: dict[str, Any]) -> Records:
    return Records(demo={"WorkflowRule": rule["id"]}, demo_version={"WorkflowRule": rule["version"]})


NOT_FOUND_CASES = [
    Case("updateWorkflowRule.id", UPDATE_RULE, "updateWorkflowRule", lambda w, _: input_of(
        id=w.demo["WorkflowRule"], version=w.demo_version["WorkflowRule"], name="Acme was here")),
    Case("setWorkflowRuleEnabled.id", ENABLE_RULE, "setWorkflowRuleEnabled", lambda w, _: input_of(
        id=w.demo["WorkflowRule"], enabled=False)),
    Case("deleteWorkflowRule.id", DELETE_RULE, "deleteWorkflowRule", lambda w, _: input_of(
        id=w.demo["WorkflowRule"], version=w.demo_version["WorkflowRule"])),
    Case("createWorkflowRule.actions.userId", CREATE_RULE, "createWorkflowRule", lambda w, _: input_of(
        **{**DRAFT, "actions": [{"type": "ASSIGN", "to": "USER", "userId": w.demo["User"]}]})),
    Case("createWorkflowRule.actions.assignmentRuleId", CREATE_RULE, "createWorkflowRule", lambda w, _: input_of(
        **{**DRAFT, "objectType": "Lead", "actions": [
            {"type": "ASSIGN", "to": "ASSIGNMENT_RULE", "assignmentRuleId": w.demo["AssignmentRule"]}]})),
    Case("testWorkflowRule.ruleId", TEST_RULE, "testWorkflowRule", lambda w, _: input_of(
        ruleId=w.demo["WorkflowRule"], recordId=w.acme["Opportunity"]), nullable=False),
    Case("testWorkflowRule.recordId", TEST_RULE, "testWorkflowRule", lambda w, _: input_of(
        rule=DRAFT, recordId=w.demo["Opportunity"]), nullable=False),
    Case("workflowRuns.ruleId", RUNS, "workflowRuns", lambda w, _: {"rule": w.demo["WorkflowRule"]}, nullable=False),
    Case("workflowRuns.recordId", RUNS, "workflowRuns", lambda w, _: {"record": w.demo["Opportunity"]},
         nullable=False),
]
UNNAMED_CASES: list[Case] = []
CONNECTION_CASES: list[Case] = []
FILTERED_CASES: list[Case] = []
MODELS: dict[str, Any] = {}
LIST_CASES = [Case("workflowRules", RULES, "workflowRules", lambda w, _: {}, may_be_empty=True)]
NO_ID_QUERIES: set[str] = set()
