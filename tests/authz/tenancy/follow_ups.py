"""Tenancy cases of follow-up reminders: Demo's follow-up (on a Demo customer, for Demo's admin) and Acme's (on its
secret customer) — Acme may neither schedule on a Demo record or for a Demo user, nor close Demo's follow-up, and
its ``myFollowUps`` holds only its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tandem.domain.crm.customer import Customer
from tandem.schema.node import to_global_id

from . import ACME, Case, Records, created, first_row, input_of

SCHEDULE_FOLLOW_UP = """
mutation ($input: ScheduleFollowUpInput!) {
  scheduleFollowUp(input: $input) { followUp { id version record { id } assignee { id } } userErrors { field code } }
}"""
COMPLETE_FOLLOW_UP = """
mutation ($input: CloseFollowUpInput!) { completeFollowUp(input: $input) { followUp { id } userErrors { code } } }"""
CANCEL_FOLLOW_UP = """
mutation ($input: CloseFollowUpInput!) { cancelFollowUp(input: $input) { followUp { id } userErrors { code } } }"""
MY_FOLLOW_UPS = """
query { myFollowUps(first: 100) { edges { node { id record { id } assignee { id } createdBy { id } } } } }"""

DUE = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
"""Far ahead: the scheduler's passes in other tests never make these due."""


async def _follow_up_on(gql: Any, as_: str, customer: str) -> dict[str, Any]:
    return (await created(gql, SCHEDULE_FOLLOW_UP, "scheduleFollowUp", as_, recordId=customer, dueAt=DUE,
                          note="Tenancy probe 租户探针"))["followUp"]


@pytest.fixture(scope="module")
async def follow_up_records(gql, db, users) -> AsyncIterator[dict[str, dict[str, Any]]]:
    demo_org = users["admin@demo.test"].org_id
    async with db.read() as session:
        demo_customer = await first_row(session, Customer, demo_org)
        acme_customer = await first_row(session, Customer, users[ACME].org_id, Customer.name == "Acme Secret Customer")
    made = {"demo": await _follow_up_on(gql, "admin@demo.test", to_global_id("Customer", demo_customer.id)),
            "acme": await _follow_up_on(gql, ACME, to_global_id("Customer", acme_customer.id))}
    yield made
    for org, as_ in (("demo", "admin@demo.test"), ("acme", ACME)):
        await created(gql, CANCEL_FOLLOW_UP, "cancelFollowUp", as_, id=made[org]["id"])


async def records(made: dict[str, dict[str, Any]]) -> Records:
    return Records(demo={"FollowUp": made["demo"]["id"]}, demo_version={"FollowUp": made["demo"]["version"]},
                   acme={"FollowUp": made["acme"]["id"]}, acme_version={"FollowUp": made["acme"]["version"]})


NOT_FOUND_CASES = [
    Case("scheduleFollowUp.recordId(Customer)", SCHEDULE_FOLLOW_UP, "scheduleFollowUp", lambda w, _: input_of(
        recordId=w.demo["Customer"], dueAt=DUE)),
    Case("scheduleFollowUp.recordId(Opportunity)", SCHEDULE_FOLLOW_UP, "scheduleFollowUp", lambda w, _: input_of(
        recordId=w.demo["Opportunity"], dueAt=DUE)),
    Case("scheduleFollowUp.assigneeId", SCHEDULE_FOLLOW_UP, "scheduleFollowUp", lambda w, _: input_of(
        recordId=w.acme["Customer"], dueAt=DUE, assigneeId=w.demo["User"])),
    Case("completeFollowUp.id", COMPLETE_FOLLOW_UP, "completeFollowUp", lambda w, _: input_of(id=w.demo["FollowUp"])),
    Case("cancelFollowUp.id", CANCEL_FOLLOW_UP, "cancelFollowUp", lambda w, _: input_of(id=w.demo["FollowUp"])),
]
UNNAMED_CASES: list[Case] = []
CONNECTION_CASES: list[Case] = []
FILTERED_CASES: list[Case] = []
MODELS: dict[str, Any] = {}
LIST_CASES = [Case("myFollowUps", MY_FOLLOW_UPS, "myFollowUps", lambda w, _: {})]
NO_ID_QUERIES: set[str] = set()
