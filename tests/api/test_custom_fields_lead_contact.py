"""Custom fields of leads and contacts through the API, as customers' and opportunities' work: an admin defines
them, people set them on create and update, each role reads the keys its policy lets it read (in queries and in
the change feed), a required field is required, and a USER field names an active user of the org (each record
type's USER field, customers' and opportunities' too).

Every test works in an org of its own: a required field of the demo org would refuse every other test's leads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import update

from tandem.auth import mint_token
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.schema.node import to_global_id
from tests.factories.api.answers import ok, user_errors
from tests.factories.realtime import feed_end, positioned

DEFINE_FIELD = """
mutation ($input: DefineCustomFieldInput!) {
  defineCustomField(input: $input) { customField { objectType key type required visibleToRoles }
                                     userErrors { field code } }
}"""
CREATE_CUSTOMER = """
mutation ($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id version customFields } userErrors { field code } }
}"""
UPDATE_CUSTOMER = """
mutation ($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id version customFields } userErrors { field code } }
}"""
CUSTOMER = "query ($id: ID!) { customer(id: $id) { id version customFields } }"
CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version customFields } userErrors { field code } }
}"""
UPDATE_OPPORTUNITY = """
mutation ($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id version customFields } userErrors { field code } }
}"""
OPPORTUNITY = "query ($id: ID!) { opportunity(id: $id) { id version customFields } }"
CREATE_LEAD = """
mutation ($input: CreateLeadInput!) {
  createLead(input: $input) { lead { id version customFields } userErrors { field code } }
}"""
UPDATE_LEAD = """
mutation ($input: UpdateLeadInput!) {
  updateLead(input: $input) { lead { id version customFields } userErrors { field code } }
}"""
LEAD = "query ($id: ID!) { lead(id: $id) { id version customFields } }"
LEADS = "{ leads(first: 100) { edges { node { id name customFields } } } }"
CREATE_CONTACT = """
mutation ($input: CreateContactInput!) {
  createContact(input: $input) { contact { id version customFields } userErrors { field code } }
}"""
UPDATE_CONTACT = """
mutation ($input: UpdateContactInput!) {
  updateContact(input: $input) { contact { id version customFields } userErrors { field code } }
}"""
CONTACT = "query ($id: ID!) { node(id: $id) { ... on Contact { id version customFields } } }"
CONTACTS = "query ($id: ID!) { customer(id: $id) { contacts(first: 50) { edges { node { id customFields } } } } }"
CONVERT_LEAD = """
mutation ($input: ConvertLeadInput!) {
  convertLead(input: $input) { lead { id } contact { id customFields } userErrors { field code } }
}"""
FEED = """
query ($after: String, $types: [String!]) { changeEvents(after: $after, first: 200, types: $types) {
  events { topic recordId payload } } }"""


class Org:
    """An org of its own: an admin, a sales manager and their rep, a marketer and a service agent."""

    def __init__(self, client: Any, settings: Any, users: dict[str, Any]) -> None:
        self.client, self.settings, self.users = client, settings, users

    def id(self, who: str) -> str:
        return to_global_id("User", self.users[who].id)

    async def __call__(self, query: str, variables: dict | None = None, *, as_: str = "rep") -> dict[str, Any]:
        token = mint_token(self.settings, self.users[as_])
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                          headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return response.json()

    async def define(self, object_type: str, key: str, kind: str, **fields: Any) -> dict[str, Any]:
        return ok(await self(DEFINE_FIELD, {"input": {"objectType": object_type, "key": key, "label": f"字段 {key}",
                                                      "type": kind, **fields}}, as_="admin"),
                  "defineCustomField")["customField"]

    async def customer(self, *, as_: str = "rep") -> dict[str, Any]:
        return ok(await self(CREATE_CUSTOMER, {"input": {"name": f"客户 {uuid.uuid4().hex[:6]}"}}, as_=as_),
                  "createCustomer")["customer"]


@pytest.fixture
async def org(db, client, settings) -> Org:
    tag = uuid.uuid4().hex[:8]
    async with db.write() as s:
        created = await create_org(s, f"字段 {tag}")

        async def user(name: str, roles: list[str], manager: Any = None) -> Any:
            return await create_user(s, created.id, email=f"{name}-{tag}@fields.test", name=f"{name} 用户",
                                     roles=roles, manager_id=manager.id if manager else None)

        admin = await user("admin", ["admin"])
        manager = await user("manager", ["sales_manager"])
        rep = await user("rep", ["sales_rep"], manager)
        marketing = await user("marketing", ["marketing"])
        service = await user("service", ["service"])
        gone = await user("gone", ["sales_rep"], manager)
        await s.execute(update(User).where(User.id == gone.id).values(active=False))
    return Org(client, settings, {"admin": admin, "manager": manager, "rep": rep, "marketing": marketing,
                                  "service": service, "gone": gone})


@dataclass(frozen=True)
class Kind:
    """A record type with custom fields, as a client writes and reads it."""

    object_type: str
    record_type: str
    create: str
    update: str
    read: str

    @property
    def field(self) -> str:
        return self.record_type[0].lower() + self.record_type[1:]

    async def new(self, org: Org, *, as_: str = "rep", **fields: Any) -> dict[str, Any]:
        return await org(self.create, {"input": await self.input(org, **fields)}, as_=as_)

    async def input(self, org: Org, **fields: Any) -> dict[str, Any]:
        if self.record_type == "Contact":
            return {"customerId": (await org.customer())["id"], "name": "王经理", **fields}
        if self.record_type == "Opportunity":
            return {"customerId": (await org.customer())["id"], "name": "项目", **fields}
        return {"name": f"{self.record_type} 张三", **fields}

    async def get(self, org: Org, record: dict[str, Any], *, as_: str = "rep") -> dict[str, Any]:
        answer = await org(self.read, {"id": record["id"]}, as_=as_)
        data = answer["data"]
        return {"record": data.get("node", data.get(self.field)), "errors": answer.get("errors", [])}


LEAD_KIND = Kind("LEAD", "Lead", CREATE_LEAD, UPDATE_LEAD, LEAD)
CONTACT_KIND = Kind("CONTACT", "Contact", CREATE_CONTACT, UPDATE_CONTACT, CONTACT)
KINDS = {"lead": LEAD_KIND, "contact": CONTACT_KIND}
EVERY_KIND = {**KINDS, "customer": Kind("CUSTOMER", "Customer", CREATE_CUSTOMER, UPDATE_CUSTOMER, CUSTOMER),
              "opportunity": Kind("OPPORTUNITY", "Opportunity", CREATE_OPPORTUNITY, UPDATE_OPPORTUNITY, OPPORTUNITY)}


def created(kind: Kind, answer: dict[str, Any]) -> dict[str, Any]:
    return ok(answer, f"create{kind.record_type}")[kind.field]


def forbidden_fields(answer: dict[str, Any]) -> list[str]:
    return sorted(e["extensions"]["field"] for e in answer["errors"]
                  if e["extensions"]["code"] == "FORBIDDEN_FIELD")


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS.keys())
async def test_a_custom_field_is_set_and_read_and_hidden_from_roles_outside_its_visible_roles(org, app, kind):
    # given a field everyone reads and a 内部评分 only sales managers (and admins) read
    channel, score = "channel", "internalScore"
    await org.define(kind.object_type, channel, "TEXT")
    defined = await org.define(kind.object_type, score, "NUMBER", visibleToRoles=["sales_manager"])
    assert (defined["objectType"], defined["visibleToRoles"]) == (kind.object_type, ["admin", "sales_manager"])
    rep_start = await feed_end(org, app, as_="rep")
    manager_start = await feed_end(org, app, as_="manager")
    # when the rep creates a record with the first, and the manager sets the second
    record = created(kind, await kind.new(org, customFields={channel: "展会 Expo 🎪"}))
    assert record["customFields"] == {channel: "展会 Expo 🎪"}
    updated = ok(await org(kind.update, {"input": {"id": record["id"], "version": record["version"],
                                                   "customFields": {score: 88.5}}}, as_="manager"),
                 f"update{kind.record_type}")[kind.field]
    assert updated["customFields"] == {channel: "展会 Expo 🎪", score: 88.5}
    await positioned(app)
    # then the manager reads both
    managed = await kind.get(org, record, as_="manager")
    assert managed == {"record": {**updated}, "errors": []}
    # and the rep reads the record without the score, reported FORBIDDEN_FIELD
    read = await kind.get(org, record)
    assert read["record"]["customFields"] == {channel: "展会 Expo 🎪"}
    assert forbidden_fields(read) == [f"{kind.record_type}.customFields.{score}"]
    # and neither may the rep write it
    written = await org(kind.update, {"input": {"id": record["id"], "version": updated["version"],
                                                "customFields": {score: 1}}})
    assert [e["extensions"]["code"] for e in written["errors"]] == ["FORBIDDEN"]
    assert (await kind.get(org, record, as_="manager"))["record"] == updated

    # and the change feed carries the score to the manager, never to the rep
    def custom_values(events: list[dict[str, Any]]) -> list[Any]:
        out = []
        for e in events:
            if e["recordId"] != record["id"]:
                continue
            changes = e["payload"].get("changes")
            out.append((e["topic"], changes["customFields"] if changes else e["payload"]["customFields"]))
        return out

    types = [kind.record_type]
    rep_feed = (await org(FEED, {"after": rep_start, "types": types}))["data"]["changeEvents"]["events"]
    manager_feed = (await org(FEED, {"after": manager_start, "types": types}, as_="manager"))["data"]
    prefix = kind.record_type.lower()
    assert custom_values(manager_feed["changeEvents"]["events"]) == [
        (f"{prefix}.created", {channel: "展会 Expo 🎪"}),
        (f"{prefix}.updated", [{channel: "展会 Expo 🎪"}, {channel: "展会 Expo 🎪", score: 88.5}])]
    assert custom_values(rep_feed) == [
        (f"{prefix}.created", {channel: "展会 Expo 🎪"}),
        (f"{prefix}.updated", [{channel: "展会 Expo 🎪"}, {channel: "展会 Expo 🎪"}])]
    assert "88.5" not in str(rep_feed)


async def test_marketing_reads_leads_without_a_field_hidden_from_it_and_a_list_reports_it_once(org):
    # given a lead field only sales roles read, filled on two leads
    await org.define("LEAD", "budget", "MONEY", visibleToRoles=["sales_rep", "sales_manager"])
    for amount in ("120000.00", "80000.50"):
        created(LEAD_KIND, await LEAD_KIND.new(org, customFields={"budget": amount}))
    # when marketing (who reads every lead) lists them
    listed = await org(LEADS, as_="marketing")
    # then each lead comes without the budget, reported once
    nodes = [e["node"] for e in listed["data"]["leads"]["edges"]]
    assert len(nodes) == 2 and all(n["customFields"] == {} for n in nodes)
    assert forbidden_fields(listed) == ["Lead.customFields.budget"]
    # while the rep reads them
    mine = (await org(LEADS))["data"]["leads"]["edges"]
    assert sorted(e["node"]["customFields"]["budget"] for e in mine) == ["120000.00", "80000.50"]


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS.keys())
async def test_a_required_custom_field_is_needed_to_create_and_cannot_be_removed(org, kind):
    # given a required SELECT field
    await org.define(kind.object_type, "tier", "SELECT", options=["重点", "普通"], required=True)
    # when a record is created without it
    refused = await kind.new(org)
    # then it is refused and nothing is created
    assert user_errors(refused, f"create{kind.record_type}") == [(["customFields", "tier"], "REQUIRED")]
    # when it is given, the record is created
    record = created(kind, await kind.new(org, customFields={"tier": "重点"}))
    assert record["customFields"] == {"tier": "重点"}
    # and removing it (null) is refused, the record unchanged
    removed = await org(kind.update, {"input": {"id": record["id"], "version": record["version"],
                                                "customFields": {"tier": None}}})
    assert user_errors(removed, f"update{kind.record_type}") == [(["customFields", "tier"], "REQUIRED")]
    assert (await kind.get(org, record))["record"] == record
    # and an update of other fields keeps it
    changed = ok(await org(kind.update, {"input": {"id": record["id"], "version": record["version"],
                                                   "name": "李四"}}), f"update{kind.record_type}")[kind.field]
    assert changed["customFields"] == {"tier": "重点"}


async def test_a_required_contact_field_refuses_converting_a_lead_into_a_contact_without_it(org):
    # given a required contact field and a lead
    await org.define("CONTACT", "role", "TEXT", required=True)
    lead = created(LEAD_KIND, await LEAD_KIND.new(org))
    # when the rep converts the lead
    refused = await org(CONVERT_LEAD, {"input": {"leadId": lead["id"], "opportunityName": "转化项目"}})
    # then the conversion is refused, naming the contact's field, and the lead is as it was
    assert user_errors(refused, "convertLead") == [(["contact", "customFields", "role"], "REQUIRED")]
    assert (await LEAD_KIND.get(org, lead))["record"] == lead


@pytest.mark.parametrize("kind", EVERY_KIND.values(), ids=EVERY_KIND.keys())
async def test_a_user_field_names_an_active_user_of_the_org(org, gql, kind):
    # given a USER field "客户经理"
    await org.define(kind.object_type, "accountManager", "USER")
    record = created(kind, await kind.new(org, customFields={"accountManager": org.id("manager")}))
    assert record["customFields"] == {"accountManager": org.id("manager")}
    # when it is set to a user of another org, a deactivated user, a customer's id or no id at all
    other_org_user = to_global_id("User", gql.users["rep@acme.test"].id)
    customer = (await org.customer())["id"]
    cases = [(other_org_user, "UNKNOWN_USER"), (to_global_id("User", 999_999_999), "UNKNOWN_USER"),
             (customer, "UNKNOWN_USER"), ("不是用户", "UNKNOWN_USER"), (org.id("gone"), "USER_INACTIVE")]
    for value, code in cases:
        given = {"accountManager": value}
        updated = await org(kind.update, {"input": {"id": record["id"], "version": record["version"],
                                                    "customFields": given}})
        new = await kind.new(org, customFields=given)
        # then each is refused with its code and nothing changes
        assert user_errors(updated, f"update{kind.record_type}") == [(["customFields", "accountManager"], code)], value
        assert user_errors(new, f"create{kind.record_type}") == [(["customFields", "accountManager"], code)], value
        assert (await kind.get(org, record))["record"] == record
    # and another active user of the org is taken
    moved = ok(await org(kind.update, {"input": {"id": record["id"], "version": record["version"],
                                                 "customFields": {"accountManager": org.id("rep")}}}),
               f"update{kind.record_type}")[kind.field]
    assert moved["customFields"] == {"accountManager": org.id("rep")}


async def test_contacts_of_a_customer_carry_their_custom_fields(org):
    # given a contact field and a customer's two contacts, one with a value
    await org.define("CONTACT", "wechat", "TEXT")
    customer = await org.customer()
    for name, fields in (("甲", {"wechat": "wx_甲"}), ("乙", {})):
        ok(await org(CREATE_CONTACT, {"input": {"customerId": customer["id"], "name": name, "customFields": fields}}),
           "createContact")
    # when the customer's contacts are read
    read = await org(CONTACTS, {"id": customer["id"]})
    # then each carries its own
    assert sorted(str(e["node"]["customFields"]) for e in read["data"]["customer"]["contacts"]["edges"]) == [
        "{'wechat': 'wx_甲'}", "{}"]
