"""SLA policies on any record through the API: an admin sets one for opportunities, a new deal's clock
counts business hours across a weekend, pauses while the deal waits on the customer, breaches and
reaches the rep's manager live once; the old built-in shape still works; bad policies are refused with a
code; ``slaStatus`` is a field the policy guards like any other. Several policies per record type, the first
whose conditions match a deal counting for it, updated and deleted by id; a clock's moves on the deal's timeline
and in the change feed, cut per reader. Each test works in an org of its own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tandem.auth import mint_token
from tandem.domain.shared.clock import clock
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.factories.realtime import connect, feed_end, positioned, subscribe_live

FRIDAY_2PM = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
MONDAY_NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TUESDAY_9AM = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)

POLICY_FIELDS = ("id position objectType kind conditions startOn stopOn pauseOn targetHours calendar "
                 "escalations { afterHours to role userId } dueHours escalateAfterHours")
SET_POLICY = f"""
mutation ($input: SetSlaPolicyInput!) {{
  setSlaPolicy(input: $input) {{ slaPolicy {{ {POLICY_FIELDS} }} userErrors {{ field code }} }}
}}"""
POLICIES = f"query {{ slaPolicies {{ {POLICY_FIELDS} }} }}"
CREATE_CUSTOMER = """
mutation ($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }"""
CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version } userErrors { field code } }
}"""
MOVE_STAGE = """
mutation ($input: MoveOpportunityStageInput!) {
  moveOpportunityStage(input: $input) { opportunity { id version } userErrors { field code } }
}"""
STATUS = """
query ($id: ID!) { node(id: $id) { ... on Opportunity { name slaStatus {
  target elapsed remaining breached pausedSince policy { objectType targetHours escalations { to } } } } } }"""
SET_PERMISSION = """
mutation ($input: SetPermissionInput!) { setPermission(input: $input) { policyVersion userErrors { field code } } }"""
SET_CALENDAR = """
mutation ($input: SetWorkingCalendarInput!) {
  setWorkingCalendar(input: $input) {
    workingCalendar { weekendDays holidays dayStartHour dayEndHour timeZone } userErrors { field code }
  }
}"""
CALENDAR = "query { workingCalendar { weekendDays holidays dayStartHour dayEndHour timeZone } }"
ESCALATIONS = "subscription { slaEscalations { kind summary recordId data } }"
TIMELINE = "query ($id: ID!) { timeline(recordId: $id, first: 50) { edges { node { kind summary } } } }"
ARCHIVE = "mutation ($input: ArchiveRecordInput!) { archiveRecord(input: $input) { userErrors { field code } } }"
INBOX = "query { notifications(first: 50) { edges { node { topic recordId } } } }"
DELETE_POLICY = """
mutation ($input: DeleteSlaPolicyInput!) { deleteSlaPolicy(input: $input) { deletedId userErrors { field code } } }"""
LOG_CALL = """
mutation ($input: LogInteractionInput!) { logInteraction(input: $input) { userErrors { field code } } }"""
FEED = """
query ($after: String) { changeEvents(after: $after, first: 500) { events { topic recordId payload } endCursor } }"""

FIRST_TOUCH = {
    "objectType": "Opportunity", "startOn": ["opportunity.created"], "stopOn": ["interaction.logged"],
    "pauseOn": ["proposal"], "targetHours": 8, "calendar": "BUSINESS_HOURS",
    "escalations": [{"afterHours": 0, "to": "OWNER_MANAGER"}],
}


class World:
    def __init__(self, client: Any, settings: Any, users: dict[str, Any]) -> None:
        self.client, self.settings, self.users = client, settings, users

    async def __call__(self, query: str, variables: dict | None = None, *, as_: str = "admin") -> dict[str, Any]:
        token = mint_token(self.settings, self.users[as_])
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                          headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return response.json()

    async def ok(self, query: str, variables: dict, mutation: str, *, as_: str = "admin") -> dict[str, Any]:
        answer = await self(query, variables, as_=as_)
        assert "errors" not in answer, answer
        payload = answer["data"][mutation]
        assert payload.get("userErrors", []) == [], payload
        return payload

    async def deal(self, name: str = "数据中台项目", amount: str | None = None) -> dict[str, Any]:
        customer = (await self.ok(CREATE_CUSTOMER, {"input": {"name": f"客户 {uuid.uuid4().hex[:4]}"}},
                                  "createCustomer", as_="rep"))["customer"]
        deal = (await self.ok(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": name,
                                                             "amount": amount}},
                              "createOpportunity", as_="rep"))["opportunity"]
        return {**deal, "customerId": customer["id"]}

    async def move(self, deal: dict[str, Any], stage: str) -> None:
        moved = await self.ok(MOVE_STAGE, {"input": {"id": deal["id"], "version": deal["version"], "stage": stage}},
                              "moveOpportunityStage", as_="rep")
        deal["version"] = moved["opportunity"]["version"]

    async def status(self, deal: dict[str, Any], *, as_: str = "rep") -> dict[str, Any]:
        return await self(STATUS, {"id": deal["id"]}, as_=as_)


@pytest.fixture
async def world(db, client, settings) -> World:
    tag = uuid.uuid4().hex[:8]
    async with db.write() as s:
        org = await create_org(s, f"SLA {tag}")

        async def user(name: str, roles: list[str], manager: Any = None) -> Any:
            return await create_user(s, org.id, email=f"{name}-{tag}@sla.test", name=f"{name} 用户", roles=roles,
                                     manager_id=manager.id if manager else None)

        admin = await user("admin", ["admin"])
        manager = await user("manager", ["sales_manager"])
        rep = await user("rep", ["sales_rep"], manager)
        service = await user("service", ["service"])
        other_rep = await user("other", ["sales_rep"])
    yield World(client, settings, {"admin": admin, "manager": manager, "rep": rep, "service": service,
                                   "other_rep": other_rep})
    clock.set(None)


async def _tick(app: Any, at: datetime) -> None:
    clock.set(at)
    await app.state.scheduler.tick()


async def test_a_new_deal_counts_business_hours_pauses_breaches_and_reaches_the_manager_live_once(world, app):
    # given the admin's policy: a new opportunity gets a first interaction within 8 business hours
    clock.set(FRIDAY_2PM - timedelta(hours=1))
    policy = (await world.ok(SET_POLICY, {"input": FIRST_TOUCH}, "setSlaPolicy"))["slaPolicy"]
    assert policy["escalations"] == [{"afterHours": 0.0, "to": "OWNER_MANAGER", "role": None, "userId": None}]
    assert (await world(POLICIES))["data"]["slaPolicies"] == [policy]
    # when the rep creates a deal Friday 14:00
    clock.set(FRIDAY_2PM)
    deal = await world.deal()
    # then on Monday noon 7 of its 8 business hours are gone (4 on Friday, none over the weekend)
    clock.set(MONDAY_NOON)
    status = (await world.status(deal))["data"]["node"]["slaStatus"]
    assert (status["target"], status["elapsed"], status["remaining"], status["breached"]) == (8, 7, 1, False)
    # when the deal waits on the customer's answer to the proposal until Tuesday 09:00
    await world.move(deal, "proposal")
    clock.set(MONDAY_NOON + timedelta(hours=5))
    paused = (await world.status(deal))["data"]["node"]["slaStatus"]
    assert (paused["elapsed"], paused["pausedSince"]) == (7, MONDAY_NOON.isoformat())
    clock.set(TUESDAY_9AM)
    await world.move(deal, "negotiation")
    async with connect(app, mint_token(world.settings, world.users["manager"])) as socket:
        await subscribe_live(app, socket, "e", ESCALATIONS, {})
        # and the scheduler passes at 10:30 and again at 15:00
        await _tick(app, TUESDAY_9AM + timedelta(hours=1, minutes=30))
        await _tick(app, TUESDAY_9AM + timedelta(hours=6))
        # then the rep's manager hears of the breach live, once
        [entry] = await socket.events("e", 1, "slaEscalations")
        assert (entry["recordId"], entry["data"]["level"], entry["data"]["name"]) == (deal["id"], 1, "数据中台项目")
        assert await socket.nothing_more(0.5) == []
    clock.set(TUESDAY_9AM + timedelta(hours=6))
    status = (await world.status(deal, as_="manager"))["data"]["node"]["slaStatus"]
    assert (status["breached"], status["remaining"], status["pausedSince"]) == (True, 0, None)
    inbox = [e["node"] for e in (await world(INBOX, as_="manager"))["data"]["notifications"]["edges"]]
    assert [n["recordId"] for n in inbox if n["topic"] == "sla.escalated"] == [deal["id"]]
    # and the deal's timeline shows its clock start, pause, resume, the breach and the escalation; the rep was
    # told of the breach
    timeline = [e["node"] for e in (await world(TIMELINE, {"id": deal["id"]}, as_="rep"))["data"]["timeline"]["edges"]]
    assert [(n["kind"], n["summary"]) for n in timeline if n["kind"] in ("sla", "escalation")] == [
        ("sla", "SLA started: 数据中台项目 (8.0 h target)"),
        ("sla", "SLA paused: 数据中台项目 (7.0 h of 8.0 h)"),
        ("sla", "SLA resumed: 数据中台项目 (7.0 h of 8.0 h)"),
        ("sla", "SLA breached: 数据中台项目 is past its 8.0 h target"),
        ("escalation", "Escalated (level 1): 数据中台项目 is overdue")]
    inbox = [e["node"] for e in (await world(INBOX, as_="rep"))["data"]["notifications"]["edges"]]
    assert [n["recordId"] for n in inbox if n["topic"] == "sla.breached"] == [deal["id"]]


async def test_an_archived_deal_stops_its_clock(world, app):
    # given a deal under the policy, archived on Monday noon
    clock.set(FRIDAY_2PM)
    await world.ok(SET_POLICY, {"input": FIRST_TOUCH}, "setSlaPolicy")
    deal = await world.deal()
    clock.set(MONDAY_NOON)
    await world.ok(ARCHIVE, {"input": {"id": deal["id"]}}, "archiveRecord", as_="rep")
    # when the scheduler passes on Tuesday afternoon
    await _tick(app, TUESDAY_9AM + timedelta(hours=6))
    # then its clock stood still at 7 hours: no breach, nobody told
    status = (await world.status(deal))["data"]["node"]["slaStatus"]
    assert (status["elapsed"], status["breached"]) == (7, False)
    inbox = [e["node"] for e in (await world(INBOX, as_="manager"))["data"]["notifications"]["edges"]]
    assert [n for n in inbox if n["topic"].startswith("sla.")] == []


async def test_the_old_built_in_shape_still_sets_action_item_slas(world):
    # when an admin sets the action-item SLA as clients did before
    answer = await world.ok(SET_POLICY, {"input": {"kind": "ACTION_ITEM", "escalateAfterHours": 12, "dueHours": 48}},
                            "setSlaPolicy")
    # then it is a policy on action items with its target and one escalation to the owner's manager
    policy = answer["slaPolicy"]
    assert (policy["kind"], policy["objectType"], policy["targetHours"], policy["dueHours"],
            policy["escalateAfterHours"], policy["startOn"]) == ("ACTION_ITEM", "ActionItem", 48, 48, 12, [])
    assert [(e["afterHours"], e["to"]) for e in policy["escalations"]] == [(12, "OWNER_MANAGER")]


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"objectType": "Spaceship"}, ["objectType"], "UNKNOWN_OBJECT_TYPE"),
    ({"targetHours": -1}, ["targetHours"], "INVALID_SLA_TARGET"),
    ({"stopOn": []}, ["stopOn"], "SLA_POLICY_INCOMPLETE"),
    ({"startOn": ["opportunity..created"]}, ["startOn", "0"], "INVALID_SLA_EVENT"),
    ({"conditions": {"field": "galaxy", "op": "eq", "value": "x"}}, ["conditions", "field"], "UNKNOWN_FIELD"),
    ({"conditions": {"all": []}}, ["conditions", "all"], "INVALID_CONDITION"),
    ({"escalations": [{"afterHours": 0, "to": "ROLE"}]}, ["escalations", "0", "role"], "INVALID_ESCALATION"),
    # a topic no opportunity event has (an invoice's, an SLA clock's own, a made-up one)
    ({"startOn": ["invoice.issued"]}, ["startOn", "0"], "UNKNOWN_TOPIC"),
    ({"stopOn": ["sla.breached"]}, ["stopOn", "0"], "UNKNOWN_TOPIC"),
    ({"stopOn": ["interaction.logged", "opportunity.teleported"]}, ["stopOn", "1"], "UNKNOWN_TOPIC"),
    # a value that is none of the org's stages (a lead's status, a typo)
    ({"pauseOn": ["contacted"]}, ["pauseOn", "0"], "UNKNOWN_STATUS"),
    ({"pauseOn": ["proposal", "propsal"]}, ["pauseOn", "1"], "UNKNOWN_STATUS"),
])
async def test_a_bad_policy_is_refused_with_its_code_and_changes_nothing(world, change, field, code):
    # when an admin sets a bad policy
    answer = await world(SET_POLICY, {"input": {**FIRST_TOUCH, **change}})
    # then it is refused with a code, and the org has no policy
    assert answer["data"]["setSlaPolicy"]["userErrors"] == [{"field": field, "code": code}]
    assert (await world(POLICIES))["data"]["slaPolicies"] == []


async def test_a_lead_policy_takes_lead_statuses_and_topics_only(world):
    lead_policy = {"objectType": "Lead", "startOn": ["lead.created"], "pauseOn": ["contacted"],
                   "stopOn": ["qualified", "lead.converted"], "targetHours": 24, "calendar": "ALWAYS"}
    assert (await world.ok(SET_POLICY, {"input": lead_policy}, "setSlaPolicy"))["slaPolicy"]["pauseOn"] == ["contacted"]
    answer = await world(SET_POLICY, {"input": {**lead_policy, "conditions": {"field": "source", "op": "eq",
                                                                              "value": "web"},
                                                "startOn": ["opportunity.created"], "pauseOn": ["negotiation"]}})
    assert answer["data"]["setSlaPolicy"]["userErrors"] == [{"field": ["startOn", "0"], "code": "UNKNOWN_TOPIC"},
                                                            {"field": ["pauseOn", "0"], "code": "UNKNOWN_STATUS"}]
    assert len((await world(POLICIES))["data"]["slaPolicies"]) == 1


async def test_holidays_on_the_working_calendar_do_not_count(world):
    # given the admin's policy, and Monday 7 December a holiday
    clock.set(FRIDAY_2PM - timedelta(hours=1))
    await world.ok(SET_POLICY, {"input": FIRST_TOUCH}, "setSlaPolicy")
    calendar = await world.ok(SET_CALENDAR, {"input": {"holidays": ["2026-12-07"]}}, "setWorkingCalendar")
    assert calendar["workingCalendar"] == {"weekendDays": [5, 6], "holidays": ["2026-12-07"], "dayStartHour": 9,
                                           "dayEndHour": 18, "timeZone": "UTC"}
    clock.set(FRIDAY_2PM)
    deal = await world.deal()
    # when Tuesday 10:30 comes
    clock.set(TUESDAY_9AM + timedelta(hours=1, minutes=30))
    status = (await world.status(deal))["data"]["node"]["slaStatus"]
    # then 4 hours on Friday and 1.5 on Tuesday have run
    assert (status["elapsed"], status["remaining"], status["breached"]) == (5.5, 2.5, False)


@pytest.mark.parametrize(("change", "field"), [
    ({"weekendDays": [0, 1, 2, 3, 4, 5, 6]}, ["weekendDays"]),
    ({"dayStartHour": 18, "dayEndHour": 9}, ["dayEndHour"]),
    ({"timeZone": "Mars/Olympus"}, ["timeZone"]),
])
async def test_a_bad_working_calendar_is_refused(world, change, field):
    answer = await world(SET_CALENDAR, {"input": change})
    assert answer["data"]["setWorkingCalendar"]["userErrors"] == [{"field": field, "code": "INVALID_CALENDAR"}]
    assert (await world(CALENDAR))["data"]["workingCalendar"]["weekendDays"] == [5, 6]


async def test_only_admins_configure_slas(world):
    for query, variables in ((SET_POLICY, {"input": FIRST_TOUCH}), (POLICIES, None),
                             (SET_CALENDAR, {"input": {"holidays": []}}), (CALENDAR, None)):
        answer = await world(query, variables, as_="manager")
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["FORBIDDEN"]
    assert (await world(POLICIES))["data"]["slaPolicies"] == []


async def test_sla_status_is_guarded_like_any_field(world):
    # given a deal under the policy, and service agents denied Opportunity.slaStatus
    clock.set(FRIDAY_2PM)
    await world.ok(SET_POLICY, {"input": FIRST_TOUCH}, "setSlaPolicy")
    deal = await world.deal()
    await world.ok(SET_PERMISSION, {"input": {"role": "service", "resource": "Opportunity.slaStatus",
                                              "action": "read", "effect": "DENY"}}, "setPermission")
    # when a service agent reads the deal
    answer = await world.status(deal, as_="service")
    # then the name shows, the status is null with FORBIDDEN_FIELD
    assert answer["data"]["node"] == {"name": "数据中台项目", "slaStatus": None}
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["FORBIDDEN_FIELD"]
    # and the rep still sees it, without the policy's escalations (the admins' to read)
    status = (await world.status(deal))["data"]["node"]["slaStatus"]
    assert (status["target"], status["policy"]) == (8, {"objectType": "Opportunity", "targetHours": 8,
                                                         "escalations": []})
    admin_view = (await world.status(deal, as_="admin"))["data"]["node"]["slaStatus"]
    assert admin_view["policy"]["escalations"] == [{"to": "OWNER_MANAGER"}]


BIG_DEALS = {**FIRST_TOUCH, "conditions": {"field": "amount", "op": "gt", "value": "500000"}, "targetHours": 24,
             "calendar": "ALWAYS", "escalations": []}
OTHER_DEALS = {**FIRST_TOUCH, "targetHours": 72, "calendar": "ALWAYS", "escalations": []}


async def _target(world: World, deal: dict[str, Any]) -> float | None:
    status = (await world.status(deal))["data"]["node"]["slaStatus"]
    return status["target"] if status else None


async def test_several_policies_per_type_the_first_matching_counts_updated_and_deleted_by_id(world):
    # given deals over 500,000 answered within 24 hours, the others within 72, in that order
    clock.set(FRIDAY_2PM)
    big = (await world.ok(SET_POLICY, {"input": BIG_DEALS}, "setSlaPolicy"))["slaPolicy"]
    other = (await world.ok(SET_POLICY, {"input": OTHER_DEALS}, "setSlaPolicy"))["slaPolicy"]
    listed = (await world(POLICIES))["data"]["slaPolicies"]
    assert [(p["id"], p["position"], p["targetHours"]) for p in listed] == [(big["id"], 0, 24), (other["id"], 1, 72)]
    # when the rep opens a 800,000 deal and a 100,000 one
    large, small = await world.deal("政府云平台", "800000"), await world.deal("小项目", "100000")
    # then each counts under the first policy that matches it
    assert (await _target(world, large), await _target(world, small)) == (24, 72)
    # when the admin gives big deals 12 hours (by id; the conditions stay as given) and puts the others first
    changed = await world.ok(SET_POLICY, {"input": {**BIG_DEALS, "id": big["id"], "targetHours": 12}}, "setSlaPolicy")
    assert (changed["slaPolicy"]["id"], changed["slaPolicy"]["position"]) == (big["id"], 0)
    await world.ok(SET_POLICY, {"input": {**BIG_DEALS, "id": big["id"], "targetHours": 12, "position": 5}},
                   "setSlaPolicy")
    listed = (await world(POLICIES))["data"]["slaPolicies"]
    assert [(p["id"], p["position"], p["targetHours"]) for p in listed] == [(other["id"], 1, 72), (big["id"], 5, 12)]
    # then the running clock reads the new target, and a new big deal is counted by the catch-all now first
    assert await _target(world, large) == 12
    assert await _target(world, await world.deal("另一个大项目", "900000")) == 72
    # when the admin deletes the big-deal policy
    deleted = await world.ok(DELETE_POLICY, {"input": {"id": big["id"]}}, "deleteSlaPolicy")
    # then it is gone with its clocks; the other stands
    assert deleted["deletedId"] == big["id"]
    assert [p["id"] for p in (await world(POLICIES))["data"]["slaPolicies"]] == [other["id"]]
    assert (await _target(world, large), await _target(world, small)) == (None, 72)
    # and deleting it again, or updating it, finds nothing
    again = await world(DELETE_POLICY, {"input": {"id": big["id"]}})
    assert [e["extensions"]["code"] for e in again["errors"]] == ["NOT_FOUND"]
    gone = await world(SET_POLICY, {"input": {**BIG_DEALS, "id": big["id"]}})
    assert [e["extensions"]["code"] for e in gone["errors"]] == ["NOT_FOUND"]


async def test_setting_the_same_conditions_again_replaces_that_policy(world):
    # given the catch-all policy
    first = (await world.ok(SET_POLICY, {"input": OTHER_DEALS}, "setSlaPolicy"))["slaPolicy"]
    # when an admin sets a policy with the same (no) conditions without an id
    again = (await world.ok(SET_POLICY, {"input": {**OTHER_DEALS, "targetHours": 48}}, "setSlaPolicy"))["slaPolicy"]
    # then it replaced that policy rather than adding one
    assert again["id"] == first["id"]
    assert [(p["id"], p["targetHours"]) for p in (await world(POLICIES))["data"]["slaPolicies"]] == [(first["id"], 48)]


async def test_a_policy_keeps_its_record_type_and_only_admins_delete(world):
    policy = (await world.ok(SET_POLICY, {"input": OTHER_DEALS}, "setSlaPolicy"))["slaPolicy"]
    moved = await world(SET_POLICY, {"input": {"id": policy["id"], "objectType": "Lead", "startOn": ["lead.created"],
                                               "stopOn": ["qualified"], "targetHours": 8}})
    assert moved["data"]["setSlaPolicy"]["userErrors"] == [{"field": ["objectType"], "code": "SLA_OBJECT_TYPE_LOCKED"}]
    refused = await world(DELETE_POLICY, {"input": {"id": policy["id"]}}, as_="manager")
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    assert [(p["objectType"], p["targetHours"]) for p in (await world(POLICIES))["data"]["slaPolicies"]] == [
        ("Opportunity", 72)]


async def _feed(world: World, after: str, as_: str) -> list[dict[str, Any]]:
    events = (await world(FEED, {"after": after}, as_=as_))["data"]["changeEvents"]["events"]
    return [e for e in events if e["topic"].startswith("sla.")]


async def test_a_clocks_moves_are_on_the_deals_timeline_and_in_the_change_feed_cut_per_reader(world, app):
    # given the first-touch policy, service agents denied Opportunity.name and slaStatus, and where each reader's
    # feed ends
    clock.set(FRIDAY_2PM)
    await world.ok(SET_POLICY, {"input": FIRST_TOUCH}, "setSlaPolicy")
    for field in ("name", "slaStatus"):
        await world.ok(SET_PERMISSION, {"input": {"role": "service", "resource": f"Opportunity.{field}",
                                                  "action": "read", "effect": "DENY"}}, "setPermission")
    ends = {who: await feed_end(world, app, as_=who) for who in ("rep", "service", "other_rep")}
    # when the rep's new deal waits on the customer from Monday noon to Tuesday 09:00, and a call at 09:30 answers
    deal = await world.deal()
    clock.set(MONDAY_NOON)
    await world.move(deal, "proposal")
    clock.set(TUESDAY_9AM)
    await world.move(deal, "negotiation")
    clock.set(TUESDAY_9AM + timedelta(minutes=30))
    await world.ok(LOG_CALL, {"input": {"customerId": deal["customerId"], "opportunityId": deal["id"], "kind": "CALL",
                                        "summary": "首次电话"}}, "logInteraction", as_="rep")
    await positioned(app)
    # then the rep's feed has the clock started, paused, resumed and met within its 8 hours, each about the deal
    feed = await _feed(world, ends["rep"], "rep")
    assert [(e["topic"], e["recordId"], e["payload"]["elapsedHours"]) for e in feed] == [
        ("sla.started", deal["id"], 0), ("sla.paused", deal["id"], 7), ("sla.resumed", deal["id"], 7),
        ("sla.met", deal["id"], 7.5)]
    assert feed[-1]["payload"] == {"id": deal["id"], "name": "数据中台项目", "kind": "opportunity", "targetHours": 8,
                                   "elapsedHours": 7.5, "met": True}
    # and the deal's timeline tells the same story
    timeline = [e["node"] for e in (await world(TIMELINE, {"id": deal["id"]}, as_="rep"))["data"]["timeline"]["edges"]]
    assert [n["summary"] for n in timeline if n["kind"] == "sla"] == [
        "SLA started: 数据中台项目 (8.0 h target)", "SLA paused: 数据中台项目 (7.0 h of 8.0 h)",
        "SLA resumed: 数据中台项目 (7.0 h of 8.0 h)", "SLA met: 数据中台项目 (7.5 h of 8.0 h)"]
    # the service agent receives each move without the name and figures it may not read; another rep, who may not
    # see the deal, none of them
    service = await _feed(world, ends["service"], "service")
    assert [(e["topic"], e["payload"]) for e in service] == [
        (topic, {"id": deal["id"], "kind": "opportunity"}) for topic in ("sla.started", "sla.paused", "sla.resumed",
                                                                         "sla.met")]
    service_timeline = (await world(TIMELINE, {"id": deal["id"]}, as_="service"))["data"]["timeline"]["edges"]
    assert [e["node"]["summary"] for e in service_timeline if e["node"]["kind"] == "sla"] == [
        "SLA started: this record", "SLA paused: this record", "SLA resumed: this record", "SLA met: this record"]
    assert await _feed(world, ends["other_rep"], "other_rep") == []
