"""Every mutation declares what it writes and passes one check before its resolver: a field the role may
not write refuses the whole mutation with FORBIDDEN and nothing changes. The declarations are read from
the built schema, so a new mutation without one fails here; over HTTP, a write denied by the org's policy
is refused by mutations that used to leave it to the domain (updateTask, updateProject, addExpense,
logTime, createInvoice, recordPayment)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tandem.authz.admin import TYPE_ACTIONS
from tandem.graphql import build_schema
from tandem.resolvers.guard import GUARDED_TYPES, graphql_fields
from tandem.resolvers.writes import declaration
from tandem.schema.node import to_global_id
from tandem.settings import Settings
from tests.factories.api.answers import ok

SCHEMA = build_schema(Settings())
MUTATIONS = {SCHEMA.config.name_converter.get_graphql_name(f): f
             for f in SCHEMA.get_type_by_name("Mutation").fields}  # type: ignore[union-attr]

CREATE_CUSTOMER = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  customer { id } userErrors { code } } }"""
CREATE_OPPORTUNITY = """mutation($input: CreateOpportunityInput!) { createOpportunity(input: $input) {
  opportunity { id version } userErrors { code } } }"""
MOVE = """mutation($input: MoveOpportunityStageInput!) { moveOpportunityStage(input: $input) {
  opportunity { id version project { id tasks { id version } } } userErrors { code } } }"""
SET_PERMISSION = """mutation($input: SetPermissionInput!) { setPermission(input: $input) {
  policyVersion userErrors { field code } } }"""
UPDATE_TASK = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { id version name percentComplete } userErrors { field code } } }"""
UPDATE_PROJECT = """mutation($input: UpdateProjectInput!) { updateProject(input: $input) {
  project { id } userErrors { field code } } }"""
ADD_EXPENSE = """mutation($input: AddExpenseInput!) { addExpense(input: $input) {
  expense { id } userErrors { field code } } }"""
LOG_TIME = """mutation($input: LogTimeInput!) { logTime(input: $input) {
  timeEntry { id } userErrors { field code } } }"""
CREATE_INVOICE = """mutation($input: CreateInvoiceInput!) { createInvoice(input: $input) {
  invoice { id } userErrors { field code } } }"""
RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) { recordPayment(input: $input) {
  payment { id } userErrors { field code } } }"""

TASK = """query($id: ID!) { task(id: $id) { id version name dueDate percentComplete assignee { id } } }"""
PROJECT = """query($id: ID!) { project(id: $id) { id version name deadline expenses { id } } }"""
MY_TIME = """{ myTimeEntries { id hours note } }"""
INVOICES = """query($customer: ID!) { invoices(first: 100, filter: {customerId: $customer}) {
  edges { node { id } } } }"""
PAYMENTS = """query($customer: ID!) { payments(first: 100, filter: {customerId: $customer}) {
  edges { node { id } } } }"""

ADMIN, PM, REP, FINANCE = "admin@demo.test", "pm@demo.test", "rep1@demo.test", "finance@demo.test"


def _codes(result: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors", [])]


# --- the declarations, read from the schema ---------------------------------------------------------


def test_every_mutation_declares_what_it_writes():
    # given every field of the schema's Mutation type
    assert MUTATIONS
    # then each carries exactly one declaration
    undeclared = sorted(name for name, field in MUTATIONS.items() if len(declaration(field)) != 1)
    assert undeclared == []


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_declaration_names_real_actions_and_fields_of_guarded_types(name):
    # given the mutation's declaration and its input
    [declared] = declaration(MUTATIONS[name])
    [argument] = MUTATIONS[name].arguments
    attrs = [f.name for f in dataclasses.fields(argument.type)]  # type: ignore[arg-type]
    # then every action it needs is an action of the policy
    for _, action in declared.needs:
        assert action in (*TYPE_ACTIONS, "manage")
    # and every field it writes is a field of a guarded type (so the policy decides it)
    targets = [*declared.also, *(t for t in map(declared.target, attrs) if t is not None)]
    for target in targets:
        record_type, field = target.split(".", 1)
        assert record_type in GUARDED_TYPES, target
        assert field in graphql_fields(SCHEMA, record_type), target
    # and a declaration that writes no field says who decides instead
    if not declared.writes_fields:
        assert declared.needs or declared.rule


# --- denied writes over HTTP --------------------------------------------------------------------


@asynccontextmanager
async def denied(gql, role: str, resource: str) -> AsyncIterator[None]:
    """The demo org's policy with ``role`` denied a write on ``resource``, restored afterwards."""
    rule = {"role": role, "resource": resource, "action": "write"}
    ok(await gql(SET_PERMISSION, {"input": {**rule, "effect": "DENY"}}, as_=ADMIN), "setPermission")
    try:
        yield
    finally:
        ok(await gql(SET_PERMISSION, {"input": {**rule, "effect": "INHERIT"}}, as_=ADMIN), "setPermission")


@pytest.fixture(scope="module")
async def project(gql, users) -> dict[str, Any]:
    """A deal of rep1's, won, delivered by pm: its project, a task rep1 is assigned and one they are not."""
    tag = uuid.uuid4().hex[:8]
    customer = ok(await gql(CREATE_CUSTOMER, {"input": {"name": f"Writes {tag}"}}, as_=REP),
                   "createCustomer")["customer"]
    opp = ok(await gql(CREATE_OPPORTUNITY, {"input": {
        "customerId": customer["id"], "name": f"Writes ERP {tag}", "amount": "90000.00",
        "projectManagerId": to_global_id("User", users[PM].id)}}, as_=REP), "createOpportunity")["opportunity"]
    for stage in ("proposal", "negotiation", "won"):
        opp = ok(await gql(MOVE, {"input": {"id": opp["id"], "version": opp["version"], "stage": stage}}, as_=REP),
                  "moveOpportunityStage")["opportunity"]
    mine, other = opp["project"]["tasks"][0], opp["project"]["tasks"][1]
    ok(await gql(UPDATE_TASK, {"input": {"id": mine["id"], "version": mine["version"],
                                          "assigneeId": to_global_id("User", users[REP].id)}}, as_=PM), "updateTask")
    return {"customer": customer["id"], "project": opp["project"]["id"], "task": mine["id"], "other": other["id"]}


async def _task(gql, task_id: str) -> dict[str, Any]:
    return (await gql(TASK, {"id": task_id}, as_=PM))["data"]["task"]


async def test_an_assignee_reports_progress_but_may_not_rename_their_task(gql, project):
    # given a task rep1 is assigned
    before = await _task(gql, project["task"])
    # when they rename it
    renamed = await gql(UPDATE_TASK, {"input": {"id": before["id"], "version": before["version"], "name": "Mine now"}},
                        as_=REP)
    # then a sales rep may not write a task's name, and the task is unchanged
    assert (renamed["data"], _codes(renamed)) == (None, ["FORBIDDEN"])
    assert await _task(gql, project["task"]) == before
    # when they report progress on it
    reported = await gql(UPDATE_TASK, {"input": {"id": before["id"], "version": before["version"],
                                                 "percentComplete": 40}}, as_=REP)
    # then they may
    assert ok(reported, "updateTask")["task"]["percentComplete"] == 40


async def test_update_task_refuses_a_field_the_policy_denies_and_writes_nothing(gql, project):
    # given a task, and the project manager denied writing a task's due date
    before = await _task(gql, project["other"])
    async with denied(gql, "project_manager", "Task.dueDate"):
        # when the project manager moves its due date along with its name
        result = await gql(UPDATE_TASK, {"input": {"id": before["id"], "version": before["version"],
                                                   "name": "Renamed", "dueDate": "2031-01-31"}}, as_=PM)
        # then the whole update is refused and nothing is written
        assert (result["data"], _codes(result)) == (None, ["FORBIDDEN"])
        assert await _task(gql, project["other"]) == before
        # while the fields it may write still write
        renamed = await gql(UPDATE_TASK, {"input": {"id": before["id"], "version": before["version"],
                                                    "name": "Renamed"}}, as_=PM)
        assert ok(renamed, "updateTask")["task"]["name"] == "Renamed"


@dataclass(frozen=True)
class Denial:
    """A mutation the domain used to be left to guard, as a role the policy then denies one field of it."""

    mutation: str
    document: str
    user: str
    role: str
    resource: str
    input: Callable[[dict[str, Any]], dict[str, Any]]
    state: Callable[[Any, dict[str, Any]], Any]


async def _project_state(gql, p):
    return (await gql(PROJECT, {"id": p["project"]}, as_=PM))["data"]["project"]


async def _my_time(gql, p):
    return (await gql(MY_TIME, as_=REP))["data"]["myTimeEntries"]


async def _invoices(gql, p):
    return (await gql(INVOICES, {"customer": p["customer"]}, as_=FINANCE))["data"]["invoices"]


async def _payments(gql, p):
    return (await gql(PAYMENTS, {"customer": p["customer"]}, as_=FINANCE))["data"]["payments"]


DENIALS = [
    Denial("updateProject", UPDATE_PROJECT, PM, "project_manager", "Project.deadline",
           lambda p: {"id": p["project"], "version": p["version"], "deadline": "2031-06-30"}, _project_state),
    Denial("addExpense", ADD_EXPENSE, PM, "project_manager", "Project.expenses",
           lambda p: {"projectId": p["project"], "amount": "120.00", "description": "Taxi"}, _project_state),
    Denial("logTime", LOG_TIME, REP, "sales_rep", "TimeEntry.note",
           lambda p: {"taskId": p["task"], "hours": "2", "note": "Workshop"}, _my_time),
    Denial("createInvoice", CREATE_INVOICE, FINANCE, "finance", "Invoice.notes",
           lambda p: {"customerId": p["customer"], "notes": "Net 30",
                      "lines": [{"description": "Consulting", "unitPrice": "500.00"}]}, _invoices),
    Denial("recordPayment", RECORD_PAYMENT, FINANCE, "finance", "Payment.reference",
           lambda p: {"customerId": p["customer"], "amount": "250.00", "reference": "BANK-42"}, _payments),
]


@pytest.mark.parametrize("case", DENIALS, ids=[d.mutation for d in DENIALS])
async def test_a_mutation_refuses_a_field_the_policy_denies_and_writes_nothing(gql, project, case):
    # given how things stand, and the role denied one field the mutation writes
    before = await case.state(gql, project)
    targets = {**project, "version": (await _project_state(gql, project))["version"]}
    async with denied(gql, case.role, case.resource):
        # when a user of that role writes it
        result = await gql(case.document, {"input": case.input(targets)}, as_=case.user)
        # then the mutation is refused whole, and nothing changed
        assert (result["data"], _codes(result)) == (None, ["FORBIDDEN"]), result
        assert await case.state(gql, project) == before
    # and once the policy is restored, the same write goes through
    done = await gql(case.document, {"input": case.input(targets)}, as_=case.user)
    ok(done, case.mutation)
    assert await case.state(gql, project) != before
