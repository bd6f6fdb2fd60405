"""updateLead and updateContact over HTTP, as the demo's people: edits, status moves, disqualifying with a
reason, handing a lead over; each change on the lead's timeline and in the change feed; row scope, field
write policy, optimistic concurrency; bad input changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.schema.node import to_global_id
from tests.factories.api.answers import error_code, ok, user_errors
from tests.factories.api.crm import new_customer
from tests.factories.api.users import ACME_ADMIN, MANAGER, MARKETING, REP1, REP2, user_id
from tests.factories.names import unique
from tests.factories.realtime import feed_end, positioned

LEAD_FIELDS = "id name company title email phone source status notes disqualifyReason version owner { email }"
CREATE_LEAD = f"""
mutation ($input: CreateLeadInput!) {{
  createLead(input: $input) {{ lead {{ {LEAD_FIELDS} }} userErrors {{ code }} }}
}}"""
UPDATE_LEAD = f"""
mutation ($input: UpdateLeadInput!) {{
  updateLead(input: $input) {{ lead {{ {LEAD_FIELDS} }} userErrors {{ field code }} }}
}}"""
LEAD = f"query ($id: ID!) {{ lead(id: $id) {{ {LEAD_FIELDS} }} }}"
CONVERT = """
mutation ($input: ConvertLeadInput!) { convertLead(input: $input) { lead { id version } userErrors { code } } }"""
TIMELINE = """
query ($r: ID!) { timeline(recordId: $r, first: 50) { edges { node { kind summary data actor { email } } } } }"""
FEED = """
query ($after: String, $types: [String!]) {
  changeEvents(after: $after, first: 100, types: $types) { events { topic recordId payload } endCursor hasMore }
}"""
CONTACT_FIELDS = "id name title phone email isDecisionMaker version"
CREATE_CONTACT = f"""
mutation ($input: CreateContactInput!) {{
  createContact(input: $input) {{ contact {{ {CONTACT_FIELDS} }} userErrors {{ code }} }}
}}"""
UPDATE_CONTACT = f"""
mutation ($input: UpdateContactInput!) {{
  updateContact(input: $input) {{ contact {{ {CONTACT_FIELDS} }} userErrors {{ field code }} }}
}}"""
CONTACT = f"query ($id: ID!) {{ node(id: $id) {{ ... on Contact {{ {CONTACT_FIELDS} }} }} }}"


async def new_lead(gql: Any, *, as_: str = REP1, **overrides: Any) -> dict[str, Any]:
    fields = {"name": unique("王小明"), "company": "华东智造有限公司", "email": "xiaoming@example.cn", **overrides}
    return ok(await gql(CREATE_LEAD, {"input": fields}, as_=as_), "createLead")["lead"]


async def update(gql: Any, lead: dict[str, Any], *, as_: str = REP1, **fields: Any) -> dict[str, Any]:
    return await gql(UPDATE_LEAD, {"input": {"id": lead["id"], "version": lead["version"], **fields}}, as_=as_)


async def read_lead(gql: Any, lead_id: str, *, as_: str = REP1) -> dict[str, Any]:
    return (await gql(LEAD, {"id": lead_id}, as_=as_))["data"]["lead"]


async def timeline(gql: Any, app: Any, record_id: str, *, as_: str = REP1) -> list[dict[str, Any]]:
    """The record's timeline once every event committed so far has its position (on PostgreSQL the relay
    positions them a moment after commit)."""
    await positioned(app)
    answer = await gql(TIMELINE, {"r": record_id}, as_=as_)
    assert "errors" not in answer, answer
    return [e["node"] for e in answer["data"]["timeline"]["edges"]]


# --- edits ---------------------------------------------------------------------------------------


async def test_a_rep_edits_their_lead_and_chinese_text_round_trips(gql, app):
    # given a lead of rep1's
    lead = await new_lead(gql)
    # when they correct its name, company, title and phone (full-width digits) and add notes
    result = await update(gql, lead, name="李雷 🚀", company="深圳前海科技", title="采购总监",
                          phone="＋８６ １３８ ０００ ０１２３", notes="展会上认识，对ERP感兴趣")
    edited = ok(result, "updateLead")["lead"]
    # then the lead reads back exactly so, one version later
    assert {k: edited[k] for k in ("name", "company", "title", "phone", "notes", "version")} == {
        "name": "李雷 🚀", "company": "深圳前海科技", "title": "采购总监", "phone": "+86 138 000 0123",
        "notes": "展会上认识，对ERP感兴趣", "version": lead["version"] + 1}
    assert await read_lead(gql, lead["id"]) == edited
    # and the change is on the lead's timeline, by whom
    [created, changed] = await timeline(gql, app, lead["id"])
    assert changed["kind"] == "updated" and changed["actor"]["email"] == REP1
    assert changed["data"]["changes"]["name"] == [lead["name"], "李雷 🚀"]


async def test_a_named_null_clears_a_field_and_an_unnamed_one_stays(gql):
    # given a lead with a title and a company
    lead = await new_lead(gql, title="经理")
    # when the title is set to null and nothing is said of the company
    edited = ok(await update(gql, lead, title=None), "updateLead")["lead"]
    # then the title is gone and the company kept
    assert (edited["title"], edited["company"]) == (None, lead["company"])


async def test_an_edit_that_changes_nothing_keeps_the_version(gql, app):
    # given a lead
    lead = await new_lead(gql)
    # when it is "edited" to the name it has
    same = ok(await update(gql, lead, name=lead["name"]), "updateLead")["lead"]
    # then nothing was written
    assert same["version"] == lead["version"]
    assert [e["kind"] for e in await timeline(gql, app, lead["id"])] == ["created"]


@pytest.mark.parametrize(("fields", "expected"), [
    ({"name": "  "}, [(["name"], "REQUIRED")]),
    ({"email": "不是邮箱"}, [(["email"], "INVALID_EMAIL")]),
    ({"phone": "call me"}, [(["phone"], "INVALID")]),
    ({"company": "公" * 201}, [(["company"], "TOO_LONG")]),
    ({"status": "CONVERTED"}, [(["status"], "INVALID_STATUS_TRANSITION")]),
    ({"status": "UNQUALIFIED"}, [(["disqualifyReason"], "REASON_REQUIRED")]),
    ({"status": "UNQUALIFIED", "disqualifyReason": "   "}, [(["disqualifyReason"], "REASON_REQUIRED")]),
    ({"disqualifyReason": "预算不足"}, [(["disqualifyReason"], "INVALID")]),
    ({"name": "", "email": "x@"}, [(["name"], "REQUIRED"), (["email"], "INVALID_EMAIL")]),
], ids=["blank-name", "bad-email", "bad-phone", "long-company", "converted-by-hand", "no-reason", "blank-reason",
        "reason-without-disqualifying", "two-at-once"])
async def test_bad_input_is_a_user_error_and_changes_nothing(gql, fields, expected):
    # given a lead
    lead = await new_lead(gql)
    before = await read_lead(gql, lead["id"])
    # when it is edited with bad input
    result = await update(gql, lead, **fields)
    # then each problem is reported by field and code, and the lead is as it was
    assert user_errors(result, "updateLead") == expected
    assert await read_lead(gql, lead["id"]) == before


# --- status -------------------------------------------------------------------------------------


async def test_a_lead_is_worked_disqualified_with_a_reason_and_reopened(gql, app):
    # given a new lead
    lead = await new_lead(gql)
    # when it is contacted, then disqualified with a reason
    lead = ok(await update(gql, lead, status="CONTACTED"), "updateLead")["lead"]
    lead = ok(await update(gql, lead, status="UNQUALIFIED", disqualifyReason="预算不足，明年再联系"),
              "updateLead")["lead"]
    # then it is unqualified and says why
    assert (lead["status"], lead["disqualifyReason"]) == ("UNQUALIFIED", "预算不足，明年再联系")
    # when it is reopened
    lead = ok(await update(gql, lead, status="NEW"), "updateLead")["lead"]
    # then the reason is cleared
    assert (lead["status"], lead["disqualifyReason"]) == ("NEW", None)
    # and every move is on its timeline
    moves = [e["data"]["changes"]["status"] for e in await timeline(gql, app, lead["id"]) if e["kind"] == "updated"]
    assert moves == [["new", "contacted"], ["contacted", "unqualified"], ["unqualified", "new"]]


async def test_a_status_move_outside_the_allowed_ones_is_refused(gql):
    # given a qualified lead
    lead = ok(await update(gql, await new_lead(gql), status="QUALIFIED"), "updateLead")["lead"]
    # when someone moves it back to NEW
    result = await update(gql, lead, status="NEW")
    # then the move is refused and the lead stays qualified
    assert user_errors(result, "updateLead") == [(["status"], "INVALID_STATUS_TRANSITION")]
    assert (await read_lead(gql, lead["id"]))["status"] == "QUALIFIED"


async def test_a_converted_lead_cannot_be_edited(gql):
    # given a converted lead
    lead = await new_lead(gql)
    converted = ok(await gql(CONVERT, {"input": {"leadId": lead["id"], "amount": "50000"}}), "convertLead")["lead"]
    before = await read_lead(gql, lead["id"])
    # when its name is edited
    result = await update(gql, converted, name="改名")
    # then it is refused with its own code, and nothing changed
    assert user_errors(result, "updateLead") == [(["id"], "ALREADY_CONVERTED")]
    assert await read_lead(gql, lead["id"]) == before


# --- concurrency, scope, policy -----------------------------------------------------------------


async def test_an_edit_from_a_stale_version_is_a_conflict(gql):
    # given a lead someone edited after rep1 read it
    lead = await new_lead(gql)
    ok(await update(gql, lead, notes="先到"), "updateLead")
    # when rep1 saves from the version they read
    result = await update(gql, lead, notes="后到")
    # then CONFLICT, and the first edit stands
    assert error_code(result) == "CONFLICT"
    assert (await read_lead(gql, lead["id"]))["notes"] == "先到"


async def test_a_rep_cannot_edit_another_reps_lead(gql):
    # given a lead of rep1's (reps see their own leads only)
    lead = await new_lead(gql)
    # when rep2 edits it
    result = await update(gql, lead, name="抢单", as_=REP2)
    # then it is not found for them, and unchanged
    assert error_code(result) == "NOT_FOUND"
    assert (await read_lead(gql, lead["id"]))["name"] == lead["name"]


async def test_a_rep_may_not_hand_their_lead_over_but_a_manager_may(gql):
    # given a lead of rep1's
    lead = await new_lead(gql)
    # when rep1 gives it to rep2: a rep may not write a lead's owner
    refused = await update(gql, lead, ownerId=user_id(gql, REP2))
    assert (refused["data"], error_code(refused)) == (None, "FORBIDDEN")
    assert (await read_lead(gql, lead["id"]))["owner"]["email"] == REP1
    # when their manager does
    moved = ok(await update(gql, lead, ownerId=user_id(gql, REP2), as_=MANAGER), "updateLead")["lead"]
    # then rep2 owns it and sees it; rep1 no longer does
    assert moved["owner"]["email"] == REP2
    assert (await read_lead(gql, lead["id"], as_=REP2))["id"] == lead["id"]
    assert error_code(await gql(LEAD, {"id": lead["id"]}, as_=REP1)) == "NOT_FOUND"


async def test_an_owner_from_another_org_is_not_found(gql):
    # given a lead, and a user of another org
    lead = await new_lead(gql)
    acme_admin = to_global_id("User", gql.users[ACME_ADMIN].id)
    # when a manager hands the lead to them
    result = await update(gql, lead, ownerId=acme_admin, as_=MANAGER)
    # then that user is not found, and the lead keeps its owner
    assert error_code(result) == "NOT_FOUND"
    assert (await read_lead(gql, lead["id"]))["owner"]["email"] == REP1


async def test_marketing_qualifies_any_lead_of_the_org(gql):
    # given a lead of rep1's (marketing sees every lead)
    lead = await new_lead(gql)
    # when marketing qualifies it
    qualified = ok(await update(gql, lead, status="QUALIFIED", as_=MARKETING), "updateLead")["lead"]
    # then it is qualified
    assert qualified["status"] == "QUALIFIED"


async def test_each_edit_is_in_the_change_feed(gql, app):
    # given the end of the change feed, and a lead
    lead = await new_lead(gql)
    start = await feed_end(gql, app, as_=MANAGER)
    # when it is edited twice
    lead = ok(await update(gql, lead, status="CONTACTED"), "updateLead")["lead"]
    ok(await update(gql, lead, status="UNQUALIFIED", disqualifyReason="没有预算"), "updateLead")
    await positioned(app)
    # then the feed carries both edits, with what changed
    page = (await gql(FEED, {"after": start, "types": ["Lead"]}, as_=MANAGER))["data"]["changeEvents"]
    mine = [e for e in page["events"] if e["recordId"] == lead["id"]]
    assert [e["topic"] for e in mine] == ["lead.updated", "lead.updated"]
    assert mine[1]["payload"]["changes"] == {"status": ["contacted", "unqualified"],
                                             "disqualifyReason": [None, "没有预算"]}


# --- contacts ------------------------------------------------------------------------------------


async def new_contact(gql: Any, customer_id: str, *, as_: str = REP1) -> dict[str, Any]:
    fields = {"customerId": customer_id, "name": unique("张伟"), "email": "zhangwei@example.cn"}
    return ok(await gql(CREATE_CONTACT, {"input": fields}, as_=as_), "createContact")["contact"]


async def test_a_rep_edits_a_contact_of_their_customer(gql, app):
    # given a contact of rep1's customer
    customer = await new_customer(gql)
    contact = await new_contact(gql, customer["id"])
    # when they change the contact's title and make them the decision maker
    edited = ok(await gql(UPDATE_CONTACT, {"input": {"id": contact["id"], "version": contact["version"],
                                                      "title": "首席信息官", "isDecisionMaker": True}}),
                "updateContact")["contact"]
    # then the contact reads back so, one version later
    assert (edited["title"], edited["isDecisionMaker"], edited["version"]) == ("首席信息官", True,
                                                                             contact["version"] + 1)
    assert (await gql(CONTACT, {"id": contact["id"]}))["data"]["node"] == edited
    # and the change is on the customer's timeline
    kinds = [e["kind"] for e in await timeline(gql, app, customer["id"])]
    assert kinds[-2:] == ["contact_added", "updated"]


async def test_a_contact_edit_is_checked_like_a_new_contact_and_changes_nothing_when_bad(gql):
    # given a contact
    contact = await new_contact(gql, (await new_customer(gql))["id"])
    # when its e-mail is made invalid
    result = await gql(UPDATE_CONTACT, {"input": {"id": contact["id"], "version": contact["version"],
                                                  "email": "不是邮箱", "name": " "}})
    # then both problems are reported, and the contact is as it was
    assert user_errors(result, "updateContact") == [(["name"], "REQUIRED"), (["email"], "INVALID_EMAIL")]
    assert (await gql(CONTACT, {"id": contact["id"]}))["data"]["node"] == contact


async def test_a_contact_edit_from_a_stale_version_is_a_conflict(gql):
    contact = await new_contact(gql, (await new_customer(gql))["id"])
    first = {"id": contact["id"], "version": contact["version"]}
    ok(await gql(UPDATE_CONTACT, {"input": {**first, "title": "经理"}}), "updateContact")
    result = await gql(UPDATE_CONTACT, {"input": {**first, "title": "总监"}})
    assert error_code(result) == "CONFLICT"


async def test_a_rep_cannot_edit_a_contact_of_another_reps_customer(gql):
    # given a contact of rep1's customer
    contact = await new_contact(gql, (await new_customer(gql))["id"])
    # when rep2 edits it
    result = await gql(UPDATE_CONTACT, {"input": {"id": contact["id"], "version": contact["version"],
                                                  "name": "别人的"}}, as_=REP2)
    # then it is not found for them, and unchanged
    assert error_code(result) == "NOT_FOUND"
    assert (await gql(CONTACT, {"id": contact["id"]}))["data"]["node"] == contact
