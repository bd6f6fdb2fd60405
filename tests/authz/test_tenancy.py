"""Tenant isolation over the whole API: Acme's admin, given ids taken from org Demo (of every type,
in every position a query or mutation takes one), gets NOT_FOUND for every lookup and every
mutation, sees no Demo row in any connection or list, and changes nothing in Demo. Quote to cash
and project delivery have their cases in test_tenancy_quote_to_cash and test_tenancy_delivery,
which share the helpers here. A last test fails when the schema gains a root field or mutation
without a case in any of them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema
from sqlalchemy import func, or_, select

from authz.store import CasbinRule
from domain.billing.invoice import Invoice
from domain.billing.payment import Payment, PaymentAllocation
from domain.billing.payment_plan import Installment
from domain.collaboration.comment import Comment
from domain.collaboration.meeting import ActionItem, Meeting
from domain.contracts.approval import ContractApprovalStep
from domain.contracts.contract import Contract
from domain.contracts.signature import SignatureRequest
from domain.crm.contact import Contact
from domain.crm.customer import Customer
from domain.crm.interaction import Interaction
from domain.crm.lead import Lead, LeadInput, create_lead
from domain.delivery.budget import Expense
from domain.delivery.change_request import ChangeRequest
from domain.delivery.progress import ProgressReport
from domain.delivery.project import Project, ProjectTemplate
from domain.delivery.task import Task
from domain.delivery.timesheet import TimeEntry, Timesheet
from domain.models import Base
from domain.pipeline.opportunity import Opportunity
from domain.pipeline.stage import PipelineStage
from domain.sales.product import PriceBook, Product
from domain.sales.quote import Quote
from domain.shared.outbox import OutboxEvent
from domain.tenancy.org import Org, Team
from domain.tenancy.user import User
from schema.node import from_global_id, to_global_id
from tests.conftest import actor_of

ACME = "admin@acme.test"
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"

# --- documents -------------------------------------------------------------------------------

ME = "{ me { email } }"
MY_ORG = "{ myOrg { id name } }"
PIPELINE = "{ pipeline { key label probability isWon isClosed } }"
MY_PERMISSIONS = "{ myPermissions { type scope } }"

CUSTOMER = "query ($id: ID!) { customer(id: $id) { id name } }"
LEAD = "query ($id: ID!) { lead(id: $id) { id name } }"
OPPORTUNITY = "query ($id: ID!) { opportunity(id: $id) { id name } }"
NODE = "query ($id: ID!) { node(id: $id) { id __typename } }"

CUSTOMERS = """
query ($filter: CustomerFilter) {
  customers(first: 100, filter: $filter) {
    totalCount
    edges { node {
      id name owner { id }
      contacts(first: 10) { edges { node { id name } } }
      interactions(first: 10) { edges { node { id contact { id } opportunity { id } } } }
      opportunities(first: 10) { edges { node { id name } } }
    } }
  }
}"""

LEADS = """
query ($ownerId: ID) {
  leads(first: 100, ownerId: $ownerId) {
    totalCount
    edges { node { id name owner { id } convertedCustomer { id } convertedOpportunity { id } } }
  }
}"""

OPPORTUNITIES = """
query ($filter: OpportunityFilter) {
  opportunities(first: 100, filter: $filter) {
    totalCount
    edges { node {
      id name owner { id } customer { id name }
      interactions(first: 10) { edges { node { id } } }
      stageHistory { changedBy { id } }
    } }
  }
}"""

CREATE_CUSTOMER = """
mutation ($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id name } userErrors { field code } }
}"""

UPDATE_CUSTOMER = """
mutation ($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id name } userErrors { field code } }
}"""

CREATE_CONTACT = """
mutation ($input: CreateContactInput!) {
  createContact(input: $input) { contact { id name } userErrors { field code } }
}"""

LOG_INTERACTION = """
mutation ($input: LogInteractionInput!) {
  logInteraction(input: $input) { interaction { id } userErrors { field code } }
}"""

CREATE_LEAD = """
mutation ($input: CreateLeadInput!) {
  createLead(input: $input) { lead { id name } userErrors { field code } }
}"""

CONVERT_LEAD = """
mutation ($input: ConvertLeadInput!) {
  convertLead(input: $input) { lead { id } customer { id } opportunity { id } userErrors { field code } }
}"""

CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id name } userErrors { field code } }
}"""

UPDATE_OPPORTUNITY = """
mutation ($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id name } userErrors { field code } }
}"""

MOVE_STAGE = """
mutation ($input: MoveOpportunityStageInput!) {
  moveOpportunityStage(input: $input) { opportunity { id stage } userErrors { field code } }
}"""

ASSIGN_ROLE = """
mutation ($input: AssignRoleInput!) {
  assignRole(input: $input) { user { id roles } userErrors { field code } }
}"""

REVOKE_ROLE = """
mutation ($input: AssignRoleInput!) {
  revokeRole(input: $input) { user { id roles } userErrors { field code } }
}"""

SET_MANAGER = """
mutation ($input: SetManagerInput!) {
  setManager(input: $input) { user { id manager { id } } userErrors { field code } }
}"""

SET_PERMISSION = """
mutation ($input: SetPermissionInput!) {
  setPermission(input: $input) { policyVersion userErrors { field code } }
}"""

SET_ROW_SCOPE = """
mutation ($input: SetRowScopeInput!) {
  setRowScope(input: $input) { policyVersion userErrors { field code } }
}"""

SHARE_RECORD = """
mutation ($input: ShareRecordInput!) {
  shareRecord(input: $input) { recordId userErrors { field code } }
}"""


ADD_COMMENT = """
mutation ($input: AddCommentInput!) {
  addComment(input: $input) { comment { id version } userErrors { field code } }
}"""

EDIT_COMMENT = """
mutation ($input: EditCommentInput!) {
  editComment(input: $input) { comment { id body } userErrors { field code } }
}"""

DELETE_COMMENT = """
mutation ($input: DeleteCommentInput!) {
  deleteComment(input: $input) { comment { id deletedAt } userErrors { field code } }
}"""

RECORD_MEETING = """
mutation ($input: RecordMeetingInput!) {
  recordMeeting(input: $input) { meeting { id actionItems { id version } } userErrors { field code } }
}"""

UPDATE_ACTION_ITEM = """
mutation ($input: UpdateActionItemInput!) {
  updateActionItem(input: $input) { actionItem { id status owner { id } } userErrors { field code } }
}"""

SET_SLA_POLICY = """
mutation ($input: SetSlaPolicyInput!) {
  setSlaPolicy(input: $input) { slaPolicy { kind } userErrors { field code } }
}"""

COMMENTS = """
query ($recordId: ID!) {
  comments(recordId: $recordId) { id recordId parentId body author { id } mentions { id } }
}"""

MEETINGS = """
query ($recordId: ID!) {
  meetings(recordId: $recordId) {
    id recordId title attendees { id } actionItems { id recordId owner { id } }
  }
}"""

MY_OPEN_ACTION_ITEMS = "{ myOpenActionItems { id recordId title owner { id } } }"

CHANGE_EVENTS = """
query ($after: String) {
  changeEvents(first: 500, after: $after) {
    endCursor
    events { eventId recordType recordId topic actor { id } }
  }
}"""


# --- the two orgs ----------------------------------------------------------------------------


@dataclass
class World:
    """Global ids (and versions) of one Demo record of every type, and of Acme's own records."""

    demo: dict[str, str]
    demo_version: dict[str, int]
    acme: dict[str, str]
    acme_version: dict[str, int]
    demo_org_id: int
    acme_org_id: int
    demo_cursor: str = ""


async def created(gql, document: str, field: str, as_: str, /, **input: Any) -> dict[str, Any]:
    result = await gql(document, {"input": input}, as_=as_)
    assert "errors" not in result, result
    assert result["data"][field]["userErrors"] == [], result
    return result["data"][field]


async def collaboration_on(gql, as_: str, customer: str, owner: str) -> dict[str, Any]:
    """A comment, and a meeting with one action item, on ``customer``."""
    comment = (await created(gql, ADD_COMMENT, "addComment", as_, recordId=customer, body="tenancy probe"))["comment"]
    meeting = (await created(gql, RECORD_MEETING, "recordMeeting", as_, recordId=customer, title="Tenancy probe",
                             actionItems=[{"title": "Probe the tenancy", "ownerId": owner}]))["meeting"]
    [item] = meeting["actionItems"]
    return {"Comment": comment, "Meeting": meeting, "ActionItem": item}


async def cancel_action_item(gql, as_: str, item: dict[str, Any]) -> None:
    """Leave no open action item behind for the scheduler or later tests."""
    await created(gql, UPDATE_ACTION_ITEM, "updateActionItem", as_, id=item["id"], status="CANCELLED")


@pytest.fixture(scope="module")
async def demo_collaboration(gql, users) -> AsyncIterator[dict[str, Any]]:
    """Demo's comment, meeting and action item, on a customer of its own (the seed has none)."""
    customer = (await created(gql, CREATE_CUSTOMER, "createCustomer", "rep1@demo.test",
                              name=f"Demo tenancy probe {uuid.uuid4().hex[:8]}"))["customer"]
    rep1 = to_global_id("User", users["rep1@demo.test"].id)
    made = await collaboration_on(gql, "rep1@demo.test", customer["id"], rep1)
    yield made
    await cancel_action_item(gql, "rep1@demo.test", made["ActionItem"])


@pytest.fixture(scope="module")
async def acme_collaboration(gql, db, users) -> AsyncIterator[dict[str, Any]]:
    async with db.read() as session:
        customer = await first_row(session, Customer, users[ACME].org_id, Customer.name == "Acme Secret Customer")
    admin = to_global_id("User", users[ACME].id)
    made = await collaboration_on(gql, ACME, to_global_id("Customer", customer.id), admin)
    yield made
    await cancel_action_item(gql, ACME, made["ActionItem"])


async def first_row(session: Any, model: Any, org_id: int, *where: Any) -> Any:
    return await session.scalar(select(model).where(model.org_id == org_id, *where).order_by(model.id))


@pytest.fixture
async def world(db, gql, users, demo_collaboration, acme_collaboration) -> World:
    demo_org_id = users["admin@demo.test"].org_id
    acme_org_id = users[ACME].org_id
    async with db.read() as session:
        demo_rows = {
            "Customer": await first_row(session, Customer, demo_org_id),
            "Contact": await first_row(session, Contact, demo_org_id),
            "Interaction": await first_row(session, Interaction, demo_org_id),
            "Lead": await first_row(session, Lead, demo_org_id),
            "Opportunity": await first_row(session, Opportunity, demo_org_id),
            "Team": await first_row(session, Team, demo_org_id),
        }
        acme_customer = await first_row(session, Customer, acme_org_id, Customer.name == "Acme Secret Customer")
        acme_opportunity = await first_row(session, Opportunity, acme_org_id, Opportunity.name == "Acme deal")
    demo = {t: to_global_id(t, row.id) for t, row in demo_rows.items()}
    demo["User"] = to_global_id("User", users["rep1@demo.test"].id)
    demo["Manager"] = to_global_id("User", users["manager@demo.test"].id)
    demo["Org"] = to_global_id("Org", demo_org_id)
    demo_version = {t: demo_rows[t].version for t in ("Customer", "Opportunity")}
    for type_name, made in demo_collaboration.items():
        demo[type_name] = made["id"]
        demo_version[type_name] = made.get("version")
    demo_feed = await gql(CHANGE_EVENTS, {}, as_="admin@demo.test")
    return World(
        demo=demo,
        demo_version=demo_version,
        acme={"Customer": to_global_id("Customer", acme_customer.id),
              "Opportunity": to_global_id("Opportunity", acme_opportunity.id),
              "Admin": to_global_id("User", users[ACME].id),
              "Rep": to_global_id("User", users["rep@acme.test"].id),
              "ActionItem": acme_collaboration["ActionItem"]["id"]},
        acme_version={"Customer": acme_customer.version, "Opportunity": acme_opportunity.version,
                      "ActionItem": acme_collaboration["ActionItem"]["version"]},
        demo_org_id=demo_org_id,
        acme_org_id=acme_org_id,
        demo_cursor=demo_feed["data"]["changeEvents"]["endCursor"],
    )


async def acme_lead(db, users) -> str:
    """A fresh unconverted Acme lead, so a conversion that wrongly succeeds spoils no other test."""
    async with db.write() as session:
        lead = await create_lead(session, actor_of(users[ACME]), LeadInput(name=f"Acme lead {uuid.uuid4().hex[:8]}"))
    return to_global_id("Lead", lead.id)


def tenant_tables() -> list[Any]:
    return [t for t in Base.metadata.sorted_tables if "org_id" in t.c]


# What the relay and the scheduler change on their own, in every org, while a test runs: event
# positions and publication marks, reminders (of action items and overdue invoices), escalations
# and the events they record (no actor), and the delivery pass's rescheduling of open projects (the
# scheduled and forecast dates and risk flags it recomputes; baselines are set once and stay).
BACKGROUND_COLUMNS = {"outbox_event": {"position", "published_at"}, "action_item": {"reminded_at"},
                      "invoice": {"reminded_at"},
                      "project": {"percent_complete", "scheduled_finish", "forecast_finish", "schedule_risk",
                                  "cost_risk", "checked_at"},
                      "task": {"early_start", "early_finish", "late_start", "late_finish", "slack_days", "critical",
                               "forecast_start", "forecast_finish", "at_risk"}}
BACKGROUND_TABLES = {"escalation"}


async def org_snapshot(db, org_id: int) -> dict[str, list[tuple]]:
    """Every row the org owns, read through the owner connection: its own row, every tenant table
    and its Casbin policy lines (less what background jobs change by themselves)."""
    org = str(org_id)
    async with db.read() as session:
        snapshot = {"org": [tuple(r) for r in await session.execute(select(Org.__table__).where(Org.id == org_id))]}
        for table in tenant_tables():
            if table.name in BACKGROUND_TABLES:
                continue
            columns = [c for c in table.c if c.name not in BACKGROUND_COLUMNS.get(table.name, ())]
            stmt = select(*columns).where(table.c.org_id == org_id).order_by(*table.primary_key.columns)
            if table.name == "outbox_event":
                stmt = stmt.where(table.c.actor_id.is_not(None))
            snapshot[table.name] = [tuple(r) for r in await session.execute(stmt)]
        rules = select(CasbinRule.__table__).where(or_(
            (CasbinRule.ptype == "p") & (CasbinRule.v1 == org), (CasbinRule.ptype == "g") & (CasbinRule.v2 == org)))
        snapshot["casbin_rule"] = [tuple(r) for r in await session.execute(rules.order_by(CasbinRule.id))]
    return snapshot


def global_ids(value: Any) -> list[str]:
    """Every global id anywhere in a response (`id`, `recordId`, `eventId`, `parentId`, ...)."""
    if isinstance(value, dict):
        return [i for k, v in value.items()
                for i in ([v] if (k == "id" or k.endswith("Id")) and isinstance(v, str) else global_ids(v))]
    if isinstance(value, list):
        return [i for v in value for i in global_ids(v)]
    return []


async def demo_keys(db, demo_org_id: int) -> set[tuple[str, int]]:
    """(type, pk) of every Demo record that has a global id."""
    keys: set[tuple[str, int]] = {("Org", demo_org_id)}
    async with db.read() as session:
        for type_name, model in (("Customer", Customer), ("Contact", Contact), ("Interaction", Interaction),
                                 ("Lead", Lead), ("Opportunity", Opportunity), ("User", User), ("Team", Team),
                                 ("Comment", Comment), ("Meeting", Meeting), ("ActionItem", ActionItem),
                                 ("Event", OutboxEvent), ("Product", Product), ("PriceBook", PriceBook),
                                 ("Quote", Quote), ("Contract", Contract), ("ApprovalStep", ContractApprovalStep),
                                 ("Signature", SignatureRequest), ("Installment", Installment),
                                 ("Invoice", Invoice), ("Payment", Payment),
                                 ("PaymentAllocation", PaymentAllocation), ("Project", Project), ("Task", Task),
                                 ("Timesheet", Timesheet), ("TimeEntry", TimeEntry),
                                 ("ProjectTemplate", ProjectTemplate), ("ChangeRequest", ChangeRequest),
                                 ("Expense", Expense), ("ProgressReport", ProgressReport)):
            pks = await session.scalars(select(model.id).where(model.org_id == demo_org_id))
            keys |= {(type_name, pk) for pk in pks}
    return keys


async def names_of(db, model: Any, org_id: int) -> set[str]:
    async with db.read() as session:
        return set(await session.scalars(select(model.name).where(model.org_id == org_id)))


async def count_of(db, model: Any, org_id: int) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model).where(model.org_id == org_id))


# --- single lookups and mutations on Demo ids: NOT_FOUND -------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    document: str
    field: str
    variables: Callable[[World, str | None], dict[str, Any]]
    needs_lead: bool = False
    code: str = "NOT_FOUND"
    nullable: bool = True

    @property
    def is_mutation(self) -> bool:
        return self.document.lstrip().startswith("mutation")

    @property
    def failed_data(self) -> Any:
        """`data` when the field fails: null up to the root for a non-null field (every payload)."""
        return {self.field: None} if self.nullable and not self.is_mutation else None


def _input(**fields: Any) -> dict[str, Any]:
    return {"input": fields}


NOT_FOUND_CASES = [
    # single lookups
    Case("customer(id)", CUSTOMER, "customer", lambda w, _: {"id": w.demo["Customer"]}),
    Case("lead(id)", LEAD, "lead", lambda w, _: {"id": w.demo["Lead"]}),
    Case("opportunity(id)", OPPORTUNITY, "opportunity", lambda w, _: {"id": w.demo["Opportunity"]}),
    *[Case(f"node(id: {t})", NODE, "node", lambda w, _, t=t: {"id": w.demo[t]})
      for t in ("Customer", "Contact", "Interaction", "Lead", "Opportunity", "User", "Team", "Org", "Comment",
                "Meeting", "ActionItem")],
    Case("comments(recordId)", COMMENTS, "comments", lambda w, _: {"recordId": w.demo["Customer"]}, nullable=False),
    Case("meetings(recordId)", MEETINGS, "meetings", lambda w, _: {"recordId": w.demo["Customer"]}, nullable=False),
    Case("changeEvents(after: Demo cursor)", CHANGE_EVENTS, "changeEvents", lambda w, _: {"after": w.demo_cursor},
         code="INVALID_CURSOR", nullable=False),
    # mutations naming a Demo record directly
    Case("updateCustomer.id", UPDATE_CUSTOMER, "updateCustomer", lambda w, _: _input(
        id=w.demo["Customer"], version=w.demo_version["Customer"], name="taken over by Acme")),
    Case("updateOpportunity.id", UPDATE_OPPORTUNITY, "updateOpportunity", lambda w, _: _input(
        id=w.demo["Opportunity"], version=w.demo_version["Opportunity"], name="taken over by Acme")),
    Case("moveOpportunityStage.id", MOVE_STAGE, "moveOpportunityStage", lambda w, _: _input(
        id=w.demo["Opportunity"], version=w.demo_version["Opportunity"], stage="lost", lostReason="Acme")),
    Case("convertLead.leadId", CONVERT_LEAD, "convertLead", lambda w, _: _input(leadId=w.demo["Lead"])),
    Case("assignRole.userId", ASSIGN_ROLE, "assignRole", lambda w, _: _input(userId=w.demo["User"], role="admin")),
    Case("revokeRole.userId", REVOKE_ROLE, "revokeRole", lambda w, _: _input(
        userId=w.demo["User"], role="sales_rep")),
    Case("setManager.userId", SET_MANAGER, "setManager", lambda w, _: _input(userId=w.demo["User"], managerId=None)),
    Case("shareRecord.recordId(Customer)", SHARE_RECORD, "shareRecord", lambda w, _: _input(
        recordId=w.demo["Customer"], userId=w.acme["Rep"])),
    Case("shareRecord.recordId(Lead)", SHARE_RECORD, "shareRecord", lambda w, _: _input(
        recordId=w.demo["Lead"], userId=w.acme["Rep"])),
    Case("shareRecord.recordId(Opportunity)", SHARE_RECORD, "shareRecord", lambda w, _: _input(
        recordId=w.demo["Opportunity"], userId=w.acme["Rep"])),
    Case("addComment.recordId", ADD_COMMENT, "addComment", lambda w, _: _input(
        recordId=w.demo["Customer"], body="Acme was here")),
    Case("editComment.id", EDIT_COMMENT, "editComment", lambda w, _: _input(
        id=w.demo["Comment"], version=w.demo_version["Comment"], body="Acme was here")),
    Case("deleteComment.id", DELETE_COMMENT, "deleteComment", lambda w, _: _input(
        id=w.demo["Comment"], version=w.demo_version["Comment"])),
    Case("recordMeeting.recordId", RECORD_MEETING, "recordMeeting", lambda w, _: _input(
        recordId=w.demo["Customer"], title="Acme meeting")),
    Case("updateActionItem.id", UPDATE_ACTION_ITEM, "updateActionItem", lambda w, _: _input(
        id=w.demo["ActionItem"], version=w.demo_version["ActionItem"], status="CANCELLED")),
    # mutations on Acme's own records naming a Demo record in a nested position
    Case("createCustomer.ownerId", CREATE_CUSTOMER, "createCustomer", lambda w, _: _input(
        name="Acme customer owned by Demo", ownerId=w.demo["User"])),
    Case("updateCustomer.ownerId", UPDATE_CUSTOMER, "updateCustomer", lambda w, _: _input(
        id=w.acme["Customer"], version=w.acme_version["Customer"], ownerId=w.demo["User"])),
    Case("createContact.customerId", CREATE_CONTACT, "createContact", lambda w, _: _input(
        customerId=w.demo["Customer"], name="Acme spy")),
    Case("logInteraction.customerId", LOG_INTERACTION, "logInteraction", lambda w, _: _input(
        customerId=w.demo["Customer"], kind="CALL", summary="Acme calling")),
    Case("logInteraction.contactId", LOG_INTERACTION, "logInteraction", lambda w, _: _input(
        customerId=w.acme["Customer"], contactId=w.demo["Contact"], kind="CALL", summary="Acme calling")),
    Case("logInteraction.opportunityId", LOG_INTERACTION, "logInteraction", lambda w, _: _input(
        customerId=w.acme["Customer"], opportunityId=w.demo["Opportunity"], kind="CALL", summary="Acme calling")),
    Case("createLead.ownerId", CREATE_LEAD, "createLead", lambda w, _: _input(
        name="Acme lead owned by Demo", ownerId=w.demo["User"])),
    Case("convertLead.customerId", CONVERT_LEAD, "convertLead", lambda w, lead: _input(
        leadId=lead, customerId=w.demo["Customer"]), needs_lead=True),
    Case("convertLead.ownerId", CONVERT_LEAD, "convertLead", lambda w, lead: _input(
        leadId=lead, ownerId=w.demo["User"]), needs_lead=True),
    Case("createOpportunity.customerId", CREATE_OPPORTUNITY, "createOpportunity", lambda w, _: _input(
        customerId=w.demo["Customer"], name="Acme deal on a Demo customer")),
    Case("createOpportunity.ownerId", CREATE_OPPORTUNITY, "createOpportunity", lambda w, _: _input(
        customerId=w.acme["Customer"], name="Acme deal owned by Demo", ownerId=w.demo["User"])),
    Case("updateOpportunity.ownerId", UPDATE_OPPORTUNITY, "updateOpportunity", lambda w, _: _input(
        id=w.acme["Opportunity"], version=w.acme_version["Opportunity"], ownerId=w.demo["User"])),
    Case("setManager.managerId", SET_MANAGER, "setManager", lambda w, _: _input(
        userId=w.acme["Rep"], managerId=w.demo["Manager"])),
    Case("shareRecord.userId", SHARE_RECORD, "shareRecord", lambda w, _: _input(
        recordId=w.acme["Customer"], userId=w.demo["User"])),
    Case("shareRecord.teamId", SHARE_RECORD, "shareRecord", lambda w, _: _input(
        recordId=w.acme["Customer"], teamId=w.demo["Team"])),
    Case("addComment.parentId", ADD_COMMENT, "addComment", lambda w, _: _input(
        recordId=w.acme["Customer"], parentId=w.demo["Comment"], body="Acme replying")),
    Case("recordMeeting.attendeeIds", RECORD_MEETING, "recordMeeting", lambda w, _: _input(
        recordId=w.acme["Customer"], title="Acme meeting", attendeeIds=[w.demo["User"]])),
    Case("recordMeeting.actionItems.ownerId", RECORD_MEETING, "recordMeeting", lambda w, _: _input(
        recordId=w.acme["Customer"], title="Acme meeting", actionItems=[{"title": "x", "ownerId": w.demo["User"]}])),
    Case("updateActionItem.ownerId", UPDATE_ACTION_ITEM, "updateActionItem", lambda w, _: _input(
        id=w.acme["ActionItem"], version=w.acme_version["ActionItem"], ownerId=w.demo["User"])),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in NOT_FOUND_CASES])
async def test_acme_admin_gets_not_found_for_a_demo_id(gql, db, users, world, case):
    # given
    lead = await acme_lead(db, users) if case.needs_lead else None
    demo_before = await org_snapshot(db, world.demo_org_id)
    acme_before = await org_snapshot(db, world.acme_org_id)
    # when
    result = await gql(case.document, case.variables(world, lead), as_=ACME)
    # then
    assert [e["extensions"]["code"] for e in result.get("errors", [])] == [case.code], result
    assert result["data"] == case.failed_data
    assert await org_snapshot(db, world.demo_org_id) == demo_before
    if case.is_mutation:
        assert await org_snapshot(db, world.acme_org_id) == acme_before


# --- mutations naming no Demo id: they change Acme only --------------------------------------

UNNAMED_CASES = [
    Case("createCustomer", CREATE_CUSTOMER, "createCustomer", lambda w, _: _input(name="Acme own customer")),
    Case("createLead", CREATE_LEAD, "createLead", lambda w, _: _input(name="Acme own lead")),
    Case("setPermission", SET_PERMISSION, "setPermission", lambda w, _: _input(
        role="tenancy_probe", resource="Customer", action="share", effect="ALLOW")),
    Case("setRowScope", SET_ROW_SCOPE, "setRowScope", lambda w, _: _input(
        role="tenancy_probe", type="Customer", scope="ORG")),
    Case("setSlaPolicy", SET_SLA_POLICY, "setSlaPolicy", lambda w, _: _input(
        kind="ACTION_ITEM", escalateAfterHours=48)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in UNNAMED_CASES])
async def test_acme_admin_mutation_changes_acme_and_never_demo(gql, db, world, case):
    # given
    demo_before = await org_snapshot(db, world.demo_org_id)
    acme_before = await org_snapshot(db, world.acme_org_id)
    # when
    result = await gql(case.document, case.variables(world, None), as_=ACME)
    # then
    assert "errors" not in result, result
    assert result["data"][case.field]["userErrors"] == []
    assert await org_snapshot(db, world.demo_org_id) == demo_before
    assert await org_snapshot(db, world.acme_org_id) != acme_before


# --- connections: never a Demo row -----------------------------------------------------------

CONNECTION_CASES = [
    Case("customers", CUSTOMERS, "customers", lambda w, _: {}),
    Case("customers(ownerId: Demo user)", CUSTOMERS, "customers", lambda w, _: {"filter": {"ownerId": w.demo["User"]}}),
    Case("customers(search: Demo name)", CUSTOMERS, "customers", lambda w, _: {"filter": {"search": "华为"}}),
    Case("leads", LEADS, "leads", lambda w, _: {}),
    Case("leads(ownerId: Demo user)", LEADS, "leads", lambda w, _: {"ownerId": w.demo["User"]}),
    Case("opportunities", OPPORTUNITIES, "opportunities", lambda w, _: {}),
    Case("opportunities(customerId: Demo customer)", OPPORTUNITIES, "opportunities", lambda w, _: {
        "filter": {"customerId": w.demo["Customer"]}}),
    Case("opportunities(ownerId: Demo user)", OPPORTUNITIES, "opportunities", lambda w, _: {
        "filter": {"ownerId": w.demo["User"]}}),
]

MODELS = {"customers": Customer, "leads": Lead, "opportunities": Opportunity}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CONNECTION_CASES])
async def test_acme_admin_connection_holds_no_demo_rows(gql, db, world, case):
    # given
    model = MODELS[case.field]
    demo_names = await names_of(db, model, world.demo_org_id)
    demo = await demo_keys(db, world.demo_org_id)
    # when
    result = await gql(case.document, case.variables(world, None), as_=ACME)
    # then
    assert "errors" not in result, result
    connection = result["data"][case.field]
    names = {e["node"]["name"] for e in connection["edges"]}
    assert names.isdisjoint(demo_names)
    assert {from_global_id(gid) for gid in global_ids(connection)}.isdisjoint(demo)
    if case.variables(world, None):  # filtered on a Demo id or a Demo name
        assert connection == {"totalCount": 0, "edges": []}
    else:  # the admin's scope is the whole org: every Acme row, nothing else
        assert connection["totalCount"] == await count_of(db, model, world.acme_org_id)
        assert names <= await names_of(db, model, world.acme_org_id)


LIST_CASES = [
    Case("comments(recordId: Acme customer)", COMMENTS, "comments", lambda w, _: {"recordId": w.acme["Customer"]}),
    Case("meetings(recordId: Acme customer)", MEETINGS, "meetings", lambda w, _: {"recordId": w.acme["Customer"]}),
    Case("myOpenActionItems", MY_OPEN_ACTION_ITEMS, "myOpenActionItems", lambda w, _: {}),
    Case("changeEvents", CHANGE_EVENTS, "changeEvents", lambda w, _: {}),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in LIST_CASES])
async def test_acme_admin_list_holds_no_demo_records(gql, db, world, case):
    # given
    demo = await demo_keys(db, world.demo_org_id)
    # when
    result = await gql(case.document, case.variables(world, None), as_=ACME)
    # then
    assert "errors" not in result, result
    ids = {from_global_id(gid) for gid in global_ids(result["data"])}
    assert ids.isdisjoint(demo)
    if case.field != "changeEvents":  # events appear once the relay has positioned them
        assert ids  # Acme's own comment, meeting and action item are there


# --- every root field and mutation has its case ----------------------------------------------

NO_ID_QUERIES = {"me", "myOrg", "pipeline", "myPermissions"}  # tested one by one below


def test_every_query_and_mutation_of_the_schema_has_a_tenancy_case():
    # given: quote to cash and delivery have their own modules, which import this one's helpers
    from tests.authz import test_tenancy_delivery as delivery
    from tests.authz import test_tenancy_quote_to_cash as q2c

    schema = build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    roots = set(schema.query_type.fields) | set(schema.mutation_type.fields)
    # when
    covered = NO_ID_QUERIES | q2c.NO_ID_QUERIES | delivery.NO_ID_QUERIES | {
        c.field for c in NOT_FOUND_CASES + UNNAMED_CASES + CONNECTION_CASES + LIST_CASES + q2c.ALL_CASES
        + delivery.ALL_CASES}
    # then
    assert roots - covered == set()


# --- root fields without ids answer for Acme -------------------------------------------------


async def test_me_is_the_acme_admin(gql, users):
    # when
    result = await gql(ME, as_=ACME)
    # then
    assert result == {"data": {"me": {"email": ACME}}}


async def test_my_org_is_acme(gql, world):
    # when
    result = await gql(MY_ORG, as_=ACME)
    # then
    assert result == {"data": {"myOrg": {"id": to_global_id("Org", world.acme_org_id), "name": "Acme"}}}


async def test_pipeline_is_acmes_stages_only(gql, db, world):
    # given
    async with db.read() as session:
        stages = (await session.scalars(select(PipelineStage).where(PipelineStage.org_id == world.acme_org_id)
                                        .order_by(PipelineStage.position))).all()
    # when
    result = await gql(PIPELINE, as_=ACME)
    # then
    assert result == {"data": {"pipeline": [
        {"key": s.key, "label": s.label, "probability": s.probability, "isWon": s.is_won, "isClosed": s.is_closed}
        for s in stages]}}
    assert len(stages) == 5


async def test_my_permissions_follow_acmes_policy(gql):
    # when
    result = await gql(MY_PERMISSIONS, as_=ACME)
    # then
    assert "errors" not in result, result
    assert {p["type"]: p["scope"] for p in result["data"]["myPermissions"]} == {
        "Contact": "ORG", "Contract": "ORG", "Customer": "ORG", "Interaction": "ORG", "Invoice": "ORG", "Lead": "ORG",
        "Opportunity": "ORG", "Payment": "ORG", "PriceBook": "ORG", "Product": "ORG", "Project": "ORG", "Quote": "ORG",
        "Task": "ORG", "TimeEntry": "ORG", "User": "ORG"}
