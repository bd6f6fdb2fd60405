"""Tenancy cases of the CRM, the pipeline, users and policy, and collaboration: customers, contacts,
interactions, leads, opportunities, users, teams, the org, comments, meetings and action items,
and the change feed. Demo's comment, meeting and action item are made on a customer of its own (the
seed has none); Acme's on its secret customer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tandem.domain.crm.contact import Contact
from tandem.domain.crm.customer import Customer
from tandem.domain.crm.interaction import Interaction
from tandem.domain.crm.lead import Lead, LeadInput, create_lead
from tandem.domain.pipeline.opportunity import Opportunity
from tandem.domain.tenancy.org import Team
from tandem.domain.tenancy.user import User
from tandem.schema.node import to_global_id
from tests.conftest import actor_of

from . import ACME, Case, Records, created, first_row, input_of

# --- documents -------------------------------------------------------------------------------

ME = "{ me { email } }"
MY_ORG = "{ myOrg { id name } }"
PIPELINE = "{ pipeline { key label probability isWon isClosed } }"
MY_PERMISSIONS = "{ myPermissions { type scope } }"


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

UPDATE_CONTACT = """
mutation ($input: UpdateContactInput!) {
  updateContact(input: $input) { contact { id name } userErrors { field code } }
}"""

UPDATE_LEAD = """
mutation ($input: UpdateLeadInput!) {
  updateLead(input: $input) { lead { id name } userErrors { field code } }
}"""

ARCHIVE_RECORD = """
mutation ($input: ArchiveRecordInput!) {
  archiveRecord(input: $input) { record { id } userErrors { field code } }
}"""

RESTORE_RECORD = """
mutation ($input: RestoreRecordInput!) {
  restoreRecord(input: $input) { record { id } userErrors { field code } }
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

USERS = """
query ($filter: UserFilter) {
  users(first: 100, filter: $filter) { totalCount edges { node { id name manager { id } team { id } } } }
}"""

TEAMS = """
query { teams { id name } }"""

INVITE_USER = """
mutation ($input: InviteUserInput!) {
  inviteUser(input: $input) { user { id manager { id } team { id } } userErrors { field code } }
}"""

UPDATE_USER = """
mutation ($input: UpdateUserInput!) {
  updateUser(input: $input) { user { id name team { id } } userErrors { field code } }
}"""

CREATE_TEAM = """
mutation ($input: CreateTeamInput!) {
  createTeam(input: $input) { team { id name } userErrors { field code } }
}"""

REGISTER_TRUSTED_DOCUMENT = """
mutation ($input: RegisterTrustedDocumentInput!) {
  registerTrustedDocument(input: $input) { trustedDocument { sha256 } userErrors { field code } }
}"""

TRUSTED_DOCUMENTS = """
query { trustedDocuments(first: 100) { totalCount edges { node { sha256 document } } } }"""

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

SLA_POLICIES = "query { slaPolicies { objectType targetHours } }"
SET_WORKING_CALENDAR = """
mutation ($input: SetWorkingCalendarInput!) {
  setWorkingCalendar(input: $input) { workingCalendar { holidays } userErrors { field code } }
}"""
SET_SLA_POLICY = """
mutation ($input: SetSlaPolicyInput!) {
  setSlaPolicy(input: $input) { slaPolicy { id kind } userErrors { field code } }
}"""
DELETE_SLA_POLICY = """
mutation ($input: DeleteSlaPolicyInput!) { deleteSlaPolicy(input: $input) { deletedId userErrors { field code } } }"""
NO_CLOCK = {"objectType": "Competitor", "startOn": ["competitor.created"], "stopOn": ["record.shared"],
            "targetHours": 8, "conditions": {"field": "name", "op": "eq", "value": "租户探针：不存在的对手"}}
"""Demo's SLA policy: on competitors none of which it applies to, so Demo's other tests start no clock."""

DEACTIVATE_USER = """
mutation ($input: DeactivateUserInput!) {
  deactivateUser(input: $input) { user { id active } reassigned { recordType count } userErrors { field code } }
}"""

TOUCH_PRESENCE = """
mutation ($input: TouchPresenceInput!) { touchPresence(input: $input) { recordId present { user { id } } } }"""

LEAVE_PRESENCE = """
mutation ($input: LeavePresenceInput!) { leavePresence(input: $input) { recordId present { user { id } } } }"""

NOTIFICATIONS = """
query { notifications(first: 50) { edges { node { id eventId recordId data } } unreadCount } }"""

TIMELINE = """
query ($recordId: ID!) {
  timeline(recordId: $recordId, last: 50) { edges { cursor node { eventId recordId data } } liveCursor }
}"""

COMMENTS = """
query ($recordId: ID!) {
  comments(recordId: $recordId, first: 100) {
    edges { node { id recordId parentId body author { id } mentions { id } } }
  }
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



# --- the records ------------------------------------------------------------------------------


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
    """Demo's comment, meeting and action item, on a customer of its own (the seed has none), and an SLA policy."""
    customer = (await created(gql, CREATE_CUSTOMER, "createCustomer", "rep1@demo.test",
                              name=f"Demo tenancy probe {uuid.uuid4().hex[:8]}"))["customer"]
    rep1 = to_global_id("User", users["rep1@demo.test"].id)
    made = await collaboration_on(gql, "rep1@demo.test", customer["id"], rep1)
    made["SlaPolicy"] = (await created(gql, SET_SLA_POLICY, "setSlaPolicy", "admin@demo.test", **NO_CLOCK))[
        "slaPolicy"]
    yield made
    await cancel_action_item(gql, "rep1@demo.test", made["ActionItem"])
    await created(gql, DELETE_SLA_POLICY, "deleteSlaPolicy", "admin@demo.test", id=made["SlaPolicy"]["id"])


@pytest.fixture(scope="module")
async def acme_collaboration(gql, db, users) -> AsyncIterator[dict[str, Any]]:
    async with db.read() as session:
        customer = await first_row(session, Customer, users[ACME].org_id, Customer.name == "Acme Secret Customer")
    admin = to_global_id("User", users[ACME].id)
    made = await collaboration_on(gql, ACME, to_global_id("Customer", customer.id), admin)
    yield made
    await cancel_action_item(gql, ACME, made["ActionItem"])


async def records(db, users, demo_collaboration: dict[str, Any], acme_collaboration: dict[str, Any]) -> Records:
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
    demo_version = {t: demo_rows[t].version for t in ("Customer", "Contact", "Lead", "Opportunity")}
    for type_name, made in demo_collaboration.items():
        demo[type_name] = made["id"]
        demo_version[type_name] = made.get("version")
    return Records(
        demo=demo,
        demo_version=demo_version,
        acme={"Customer": to_global_id("Customer", acme_customer.id),
              "Opportunity": to_global_id("Opportunity", acme_opportunity.id),
              "Admin": to_global_id("User", users[ACME].id),
              "Rep": to_global_id("User", users["rep@acme.test"].id),
              "ActionItem": acme_collaboration["ActionItem"]["id"]},
        acme_version={"Customer": acme_customer.version, "Opportunity": acme_opportunity.version,
                      "ActionItem": acme_collaboration["ActionItem"]["version"]},
    )


async def acme_lead(db, users) -> str:
    """A fresh unconverted Acme lead, so a conversion that wrongly succeeds spoils no other test."""
    async with db.write() as session:
        lead = await create_lead(session, actor_of(users[ACME]), LeadInput(name=f"Acme lead {uuid.uuid4().hex[:8]}"))
    return to_global_id("Lead", lead.id)


# --- cases (single lookups and node(id) of every record type come from the registry) ------------

NOT_FOUND_CASES = [
    # lists by a Demo record
    Case("changeEvents(after: Demo cursor)", CHANGE_EVENTS, "changeEvents", lambda w, _: {"after": w.demo_cursor},
         code="INVALID_CURSOR", nullable=False),
    # mutations naming a Demo record directly
    Case("updateCustomer.id", UPDATE_CUSTOMER, "updateCustomer", lambda w, _: input_of(
        id=w.demo["Customer"], version=w.demo_version["Customer"], name="taken over by Acme")),
    Case("updateOpportunity.id", UPDATE_OPPORTUNITY, "updateOpportunity", lambda w, _: input_of(
        id=w.demo["Opportunity"], version=w.demo_version["Opportunity"], name="taken over by Acme")),
    Case("updateContact.id", UPDATE_CONTACT, "updateContact", lambda w, _: input_of(
        id=w.demo["Contact"], version=w.demo_version["Contact"], name="taken over by Acme")),
    Case("updateLead.id", UPDATE_LEAD, "updateLead", lambda w, _: input_of(
        id=w.demo["Lead"], version=w.demo_version["Lead"], status="UNQUALIFIED", disqualifyReason="Acme")),
    Case("moveOpportunityStage.id", MOVE_STAGE, "moveOpportunityStage", lambda w, _: input_of(
        id=w.demo["Opportunity"], version=w.demo_version["Opportunity"], stage="lost", lostReason="Acme")),
    Case("convertLead.leadId", CONVERT_LEAD, "convertLead", lambda w, _: input_of(leadId=w.demo["Lead"])),
    Case("assignRole.userId", ASSIGN_ROLE, "assignRole", lambda w, _: input_of(userId=w.demo["User"], role="admin")),
    Case("revokeRole.userId", REVOKE_ROLE, "revokeRole", lambda w, _: input_of(
        userId=w.demo["User"], role="sales_rep")),
    Case("setManager.userId", SET_MANAGER, "setManager", lambda w, _: input_of(userId=w.demo["User"], managerId=None)),
    Case("updateUser.userId", UPDATE_USER, "updateUser", lambda w, _: input_of(userId=w.demo["User"], name="Acme")),
    Case("deactivateUser.id", DEACTIVATE_USER, "deactivateUser", lambda w, _: input_of(
        id=w.demo["User"], transferOwnershipTo=w.acme["Admin"])),
    Case("deactivateUser.transferOwnershipTo", DEACTIVATE_USER, "deactivateUser", lambda w, _: input_of(
        id=w.acme["Rep"], transferOwnershipTo=w.demo["Manager"])),
    Case("touchPresence.recordId", TOUCH_PRESENCE, "touchPresence", lambda w, _: input_of(
        recordId=w.demo["Customer"], editing=True)),
    Case("leavePresence.recordId", LEAVE_PRESENCE, "leavePresence", lambda w, _: input_of(
        recordId=w.demo["Customer"])),
    Case("timeline(recordId: Demo customer)", TIMELINE, "timeline", lambda w, _: {"recordId": w.demo["Customer"]},
         nullable=False),
    Case("editComment.id", EDIT_COMMENT, "editComment", lambda w, _: input_of(
        id=w.demo["Comment"], version=w.demo_version["Comment"], body="Acme was here")),
    Case("deleteComment.id", DELETE_COMMENT, "deleteComment", lambda w, _: input_of(
        id=w.demo["Comment"], version=w.demo_version["Comment"])),
    Case("updateActionItem.id", UPDATE_ACTION_ITEM, "updateActionItem", lambda w, _: input_of(
        id=w.demo["ActionItem"], version=w.demo_version["ActionItem"], status="CANCELLED")),
    # mutations on Acme's own records naming a Demo record in a nested position
    Case("createCustomer.ownerId", CREATE_CUSTOMER, "createCustomer", lambda w, _: input_of(
        name="Acme customer owned by Demo", ownerId=w.demo["User"])),
    Case("updateCustomer.ownerId", UPDATE_CUSTOMER, "updateCustomer", lambda w, _: input_of(
        id=w.acme["Customer"], version=w.acme_version["Customer"], ownerId=w.demo["User"])),
    Case("createContact.customerId", CREATE_CONTACT, "createContact", lambda w, _: input_of(
        customerId=w.demo["Customer"], name="Acme spy")),
    Case("logInteraction.customerId", LOG_INTERACTION, "logInteraction", lambda w, _: input_of(
        customerId=w.demo["Customer"], kind="CALL", summary="Acme calling")),
    Case("logInteraction.contactId", LOG_INTERACTION, "logInteraction", lambda w, _: input_of(
        customerId=w.acme["Customer"], contactId=w.demo["Contact"], kind="CALL", summary="Acme calling")),
    Case("logInteraction.opportunityId", LOG_INTERACTION, "logInteraction", lambda w, _: input_of(
        customerId=w.acme["Customer"], opportunityId=w.demo["Opportunity"], kind="CALL", summary="Acme calling")),
    Case("createLead.ownerId", CREATE_LEAD, "createLead", lambda w, _: input_of(
        name="Acme lead owned by Demo", ownerId=w.demo["User"])),
    Case("convertLead.customerId", CONVERT_LEAD, "convertLead", lambda w, lead: input_of(
        leadId=lead, customerId=w.demo["Customer"]), needs_lead=True),
    Case("convertLead.ownerId", CONVERT_LEAD, "convertLead", lambda w, lead: input_of(
        leadId=lead, ownerId=w.demo["User"]), needs_lead=True),
    Case("updateLead.ownerId", UPDATE_LEAD, "updateLead", lambda w, lead: input_of(
        id=lead, version=1, ownerId=w.demo["User"]), needs_lead=True),
    Case("createOpportunity.customerId", CREATE_OPPORTUNITY, "createOpportunity", lambda w, _: input_of(
        customerId=w.demo["Customer"], name="Acme deal on a Demo customer")),
    Case("createOpportunity.ownerId", CREATE_OPPORTUNITY, "createOpportunity", lambda w, _: input_of(
        customerId=w.acme["Customer"], name="Acme deal owned by Demo", ownerId=w.demo["User"])),
    Case("updateOpportunity.ownerId", UPDATE_OPPORTUNITY, "updateOpportunity", lambda w, _: input_of(
        id=w.acme["Opportunity"], version=w.acme_version["Opportunity"], ownerId=w.demo["User"])),
    Case("setManager.managerId", SET_MANAGER, "setManager", lambda w, _: input_of(
        userId=w.acme["Rep"], managerId=w.demo["Manager"])),
    Case("updateUser.teamId", UPDATE_USER, "updateUser", lambda w, _: input_of(
        userId=w.acme["Rep"], teamId=w.demo["Team"])),
    Case("inviteUser.managerId", INVITE_USER, "inviteUser", lambda w, _: input_of(
        email=f"acme-{uuid.uuid4().hex[:8]}@acme.test", name="Acme hire", roles=["sales_rep"],
        managerId=w.demo["Manager"])),
    Case("inviteUser.teamId", INVITE_USER, "inviteUser", lambda w, _: input_of(
        email=f"acme-{uuid.uuid4().hex[:8]}@acme.test", name="Acme hire", roles=["sales_rep"], teamId=w.demo["Team"])),
    Case("shareRecord.userId", SHARE_RECORD, "shareRecord", lambda w, _: input_of(
        recordId=w.acme["Customer"], userId=w.demo["User"])),
    Case("shareRecord.teamId", SHARE_RECORD, "shareRecord", lambda w, _: input_of(
        recordId=w.acme["Customer"], teamId=w.demo["Team"])),
    Case("addComment.parentId", ADD_COMMENT, "addComment", lambda w, _: input_of(
        recordId=w.acme["Customer"], parentId=w.demo["Comment"], body="Acme replying")),
    Case("recordMeeting.attendeeIds", RECORD_MEETING, "recordMeeting", lambda w, _: input_of(
        recordId=w.acme["Customer"], title="Acme meeting", attendeeIds=[w.demo["User"]])),
    Case("recordMeeting.actionItems.ownerId", RECORD_MEETING, "recordMeeting", lambda w, _: input_of(
        recordId=w.acme["Customer"], title="Acme meeting", actionItems=[{"title": "x", "ownerId": w.demo["User"]}])),
    Case("updateActionItem.ownerId", UPDATE_ACTION_ITEM, "updateActionItem", lambda w, _: input_of(
        id=w.acme["ActionItem"], version=w.acme_version["ActionItem"], ownerId=w.demo["User"])),
    Case("setSlaPolicy.id", SET_SLA_POLICY, "setSlaPolicy", lambda w, _: input_of(
        id=w.demo["SlaPolicy"], **{**NO_CLOCK, "targetHours": 1})),
    Case("deleteSlaPolicy.id", DELETE_SLA_POLICY, "deleteSlaPolicy", lambda w, _: input_of(id=w.demo["SlaPolicy"])),
    Case("setSlaPolicy.escalations.userId", SET_SLA_POLICY, "setSlaPolicy", lambda w, _: input_of(
        objectType="Opportunity", startOn=["opportunity.created"], stopOn=["interaction.logged"], targetHours=8,
        escalations=[{"afterHours": 0, "to": "USER", "userId": w.demo["User"]}])),
]


UNNAMED_CASES = [
    Case("createCustomer", CREATE_CUSTOMER, "createCustomer", lambda w, _: input_of(name="Acme own customer")),
    Case("createLead", CREATE_LEAD, "createLead", lambda w, _: input_of(name="Acme own lead")),
    Case("setPermission", SET_PERMISSION, "setPermission", lambda w, _: input_of(
        role="tenancy_probe", resource="Customer", action="share", effect="ALLOW")),
    Case("setRowScope", SET_ROW_SCOPE, "setRowScope", lambda w, _: input_of(
        role="tenancy_probe", type="Customer", scope="ORG")),
    Case("setSlaPolicy", SET_SLA_POLICY, "setSlaPolicy", lambda w, _: input_of(
        kind="ACTION_ITEM", escalateAfterHours=48)),
    Case("setWorkingCalendar", SET_WORKING_CALENDAR, "setWorkingCalendar", lambda w, _: input_of(
        holidays=["2026-10-01"])),
    Case("createTeam", CREATE_TEAM, "createTeam", lambda w, _: input_of(name=f"Acme team {uuid.uuid4().hex[:8]}")),
    Case("inviteUser", INVITE_USER, "inviteUser", lambda w, _: input_of(
        email=f"acme-{uuid.uuid4().hex[:8]}@acme.test", name="Acme hire", roles=["finance"])),
    Case("registerTrustedDocument", REGISTER_TRUSTED_DOCUMENT, "registerTrustedDocument", lambda w, _: input_of(
        document=f"{{ me {{ email }} }} # Acme {uuid.uuid4().hex[:8]}")),
]


CONNECTION_CASES = [
    Case("customers", CUSTOMERS, "customers", lambda w, _: {}),
    Case("leads", LEADS, "leads", lambda w, _: {}),
    Case("opportunities", OPPORTUNITIES, "opportunities", lambda w, _: {}),
    Case("users", USERS, "users", lambda w, _: {}),
]

FILTERED_CASES = [
    Case("customers(ownerId: Demo user)", CUSTOMERS, "customers", lambda w, _: {"filter": {"ownerId": w.demo["User"]}}),
    Case("customers(search: Demo name)", CUSTOMERS, "customers", lambda w, _: {"filter": {"search": "华为"}}),
    Case("leads(ownerId: Demo user)", LEADS, "leads", lambda w, _: {"ownerId": w.demo["User"]}),
    Case("opportunities(customerId: Demo customer)", OPPORTUNITIES, "opportunities", lambda w, _: {
        "filter": {"customerId": w.demo["Customer"]}}),
    Case("opportunities(ownerId: Demo user)", OPPORTUNITIES, "opportunities", lambda w, _: {
        "filter": {"ownerId": w.demo["User"]}}),
    Case("users(teamId: Demo team)", USERS, "users", lambda w, _: {"filter": {"teamId": w.demo["Team"]}}),
]

MODELS = {"customers": Customer, "leads": Lead, "opportunities": Opportunity, "users": User}

LIST_CASES = [
    Case("comments(recordId: Acme customer)", COMMENTS, "comments", lambda w, _: {"recordId": w.acme["Customer"]}),
    Case("timeline(recordId: Acme customer)", TIMELINE, "timeline", lambda w, _: {"recordId": w.acme["Customer"]}),
    Case("notifications", NOTIFICATIONS, "notifications", lambda w, _: {}, may_be_empty=True),
    Case("meetings(recordId: Acme customer)", MEETINGS, "meetings", lambda w, _: {"recordId": w.acme["Customer"]}),
    Case("myOpenActionItems", MY_OPEN_ACTION_ITEMS, "myOpenActionItems", lambda w, _: {}),
    Case("changeEvents", CHANGE_EVENTS, "changeEvents", lambda w, _: {}, may_be_empty=True),
    Case("teams", TEAMS, "teams", lambda w, _: {}, may_be_empty=True),
    Case("slaPolicies", SLA_POLICIES, "slaPolicies", lambda w, _: {}, may_be_empty=True),
]

# each has a test of its own in the suite
NO_ID_QUERIES = {"me", "myOrg", "pipeline", "myPermissions", "trustedDocuments", "workingCalendar",
                 "markNotificationsRead"}  # tests/realtime/test_notifications.py: others' ids mark nothing
