"""Workflow rules through the API: each trigger kind fires from the change a person makes (the clock
injected), conditions read related records and the change, a rule that triggers itself stops at the limit
while the person's change goes through, a message never shows a recipient a field they may not read, sales
managers write rules for their team only, and bad rules are refused with a code and change nothing.

Every test works in an org of its own (rules are per org), so the demo org's other tests never meet them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tandem.auth import mint_token
from tandem.domain.shared.clock import clock
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tandem.schema.node import to_global_id
from tests.factories.realtime import connect, positioned, subscribe_live

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

RULE_FIELDS = ("id name objectType trigger fieldsChanged stage dateField offsetHours cron timeZone conditions actions "
               "enabled position version limitedToTeam")
CREATE_RULE = f"""
mutation ($input: CreateWorkflowRuleInput!) {{
  createWorkflowRule(input: $input) {{ workflowRule {{ {RULE_FIELDS} }} userErrors {{ field code }} }}
}}"""
UPDATE_RULE = f"""
mutation ($input: UpdateWorkflowRuleInput!) {{
  updateWorkflowRule(input: $input) {{ workflowRule {{ {RULE_FIELDS} }} userErrors {{ field code }} }}
}}"""
ENABLE_RULE = """
mutation ($input: SetWorkflowRuleEnabledInput!) {
  setWorkflowRuleEnabled(input: $input) { workflowRule { id enabled version } userErrors { field code } }
}"""
DELETE_RULE = """
mutation ($input: DeleteWorkflowRuleInput!) {
  deleteWorkflowRule(input: $input) { deletedId userErrors { field code } }
}"""
RULES = f"query ($type: String) {{ workflowRules(objectType: $type) {{ {RULE_FIELDS} }} }}"
RUNS = """
query ($rule: ID, $record: ID, $first: Int, $after: String) {
  workflowRuns(ruleId: $rule, recordId: $record, first: $first, after: $after) {
    edges { cursor node { ruleId recordId trigger topic matched conditionResults actionsDone errors depth } }
    pageInfo { hasNextPage endCursor }
  }
}"""
TEST_RULE = """
query ($input: TestWorkflowRuleInput!) {
  testWorkflowRule(input: $input) { matched conditionResults actions userErrors { field code } }
}"""
CREATE_CUSTOMER = """
mutation ($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }"""
CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version } userErrors { field code } }
}"""
UPDATE_OPPORTUNITY = """
mutation ($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id version nextStep probability owner { email } }
                                     userErrors { field code } }
}"""
MOVE_STAGE = """
mutation ($input: MoveOpportunityStageInput!) {
  moveOpportunityStage(input: $input) { opportunity { id version } userErrors { field code } }
}"""
INBOX = """
query { notifications(first: 50) { edges { node { topic kind summary recordId data } } liveCursor } }"""
MY_NOTIFICATIONS = "subscription { myNotifications { kind summary recordId } }"
ACTION_ITEMS = "query { myOpenActionItems { title dueAt recordId } }"
TIMELINE = """
query ($id: ID!) { timeline(recordId: $id, first: 50) { edges { node { kind summary } } } }"""


class World:
    """An org of its own: an admin, two managers with a rep each, and a service agent."""

    def __init__(self, client: Any, settings: Any, users: dict[str, Any]) -> None:
        self.client, self.settings, self.users = client, settings, users

    def id(self, who: str) -> str:
        return to_global_id("User", self.users[who].id)

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

    async def rule(self, *, as_: str = "admin", **fields: Any) -> dict[str, Any]:
        data = {"name": f"Rule {uuid.uuid4().hex[:6]}", "objectType": "Opportunity", "trigger": "UPDATED", **fields}
        return (await self.ok(CREATE_RULE, {"input": data}, "createWorkflowRule", as_=as_))["workflowRule"]

    async def deal(self, *, as_: str = "rep", amount: str = "100000.00", **fields: Any) -> dict[str, Any]:
        customer = (await self.ok(CREATE_CUSTOMER, {"input": {"name": f"客户 {uuid.uuid4().hex[:4]}",
                                                              **fields.pop("customer", {})}},
                                  "createCustomer", as_=as_))["customer"]
        return (await self.ok(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": "项目 Deal",
                                                             "amount": amount, **fields}},
                              "createOpportunity", as_=as_))["opportunity"]

    async def update(self, deal: dict[str, Any], *, as_: str = "rep", **fields: Any) -> dict[str, Any]:
        updated = (await self.ok(UPDATE_OPPORTUNITY, {"input": {"id": deal["id"], "version": deal["version"],
                                                                **fields}}, "updateOpportunity", as_=as_))
        deal["version"] = updated["opportunity"]["version"]
        return updated["opportunity"]

    async def move(self, deal: dict[str, Any], stage: str, *, as_: str = "rep") -> None:
        moved = await self.ok(MOVE_STAGE, {"input": {"id": deal["id"], "version": deal["version"], "stage": stage}},
                              "moveOpportunityStage", as_=as_)
        deal["version"] = moved["opportunity"]["version"]

    async def runs(self, rule: dict[str, Any], *, as_: str = "admin") -> list[dict[str, Any]]:
        answer = await self(RUNS, {"rule": rule["id"], "first": 50}, as_=as_)
        assert "errors" not in answer, answer
        return [e["node"] for e in answer["data"]["workflowRuns"]["edges"]]

    async def inbox(self, who: str) -> list[dict[str, Any]]:
        answer = await self(INBOX, as_=who)
        assert "errors" not in answer, answer
        return [e["node"] for e in answer["data"]["notifications"]["edges"]]


@pytest.fixture
async def world(db, client, settings) -> World:
    tag = uuid.uuid4().hex[:8]
    async with db.write() as s:
        org = await create_org(s, f"Rules {tag}")

        async def user(name: str, roles: list[str], manager: Any = None) -> Any:
            return await create_user(s, org.id, email=f"{name}-{tag}@rules.test", name=f"{name} 用户", roles=roles,
                                     manager_id=manager.id if manager else None)

        admin = await user("admin", ["admin"])
        manager = await user("manager", ["sales_manager"])
        other_manager = await user("other_manager", ["sales_manager"])
        rep = await user("rep", ["sales_rep"], manager)
        other_rep = await user("other_rep", ["sales_rep"], other_manager)
        service = await user("service", ["service"])
    return World(client, settings, {"admin": admin, "manager": manager, "other_manager": other_manager, "rep": rep,
                                    "other_rep": other_rep, "service": service})


@pytest.fixture
def at_t0():
    clock.set(T0)
    yield T0
    clock.set(None)


DEMO_RULE = {
    "name": "大单进入谈判 Big deal in negotiation",
    "trigger": "STAGE_ENTERED",
    "stage": "negotiation",
    "conditions": {"field": "amount", "op": "gt", "value": "500000"},
    "actions": [
        {"type": "NOTIFY", "to": ["OWNER_MANAGER"], "template": "{{name}} ({{amount}}) entered negotiation"},
        {"type": "CREATE_ACTION_ITEM", "owner": "OWNER", "dueInDays": 2, "title": "Prepare negotiation: {{name}}"},
    ],
}


async def test_a_big_deal_entering_negotiation_notifies_the_manager_live_and_gives_the_rep_an_action_item(
        world, app, at_t0):
    # given the rule, and the manager listening live
    rule = await world.rule(**DEMO_RULE)
    big, small = await world.deal(amount="600000.00"), await world.deal(amount="400000.00")
    async with connect(app, mint_token(world.settings, world.users["manager"])) as socket:
        await subscribe_live(app, socket, "n", MY_NOTIFICATIONS, {})
        # when the rep moves both deals into negotiation
        await world.move(big, "negotiation")
        await world.move(small, "negotiation")
        # then the manager hears about the big one only, live
        [entry] = await socket.events("n", 1, "myNotifications")
        assert entry["recordId"] == big["id"]
        assert entry["summary"] == "项目 Deal (600000.0000) entered negotiation"
        assert await socket.nothing_more(0.5) == []
    # and finds it in the inbox
    [note] = [n for n in await world.inbox("manager") if n["topic"] == "workflow.notified"]
    assert (note["kind"], note["recordId"]) == ("automation", big["id"])
    # and the rep has an action item due in two days
    items = (await world(ACTION_ITEMS, as_="rep"))["data"]["myOpenActionItems"]
    assert [(i["title"], i["dueAt"], i["recordId"]) for i in items] == [
        ("Prepare negotiation: 项目 Deal", (T0 + timedelta(days=2)).isoformat(), big["id"])]
    # and the runs say which matched and what was done
    runs = await world.runs(rule)
    assert sorted((r["recordId"], r["matched"]) for r in runs) == sorted([(big["id"], True), (small["id"], False)])
    done = next(r for r in runs if r["matched"])
    assert [a["type"] for a in done["actionsDone"]] == ["NOTIFY", "CREATE_ACTION_ITEM"]
    assert done["trigger"] == "STAGE_ENTERED" and done["errors"] == []


async def test_created_updated_and_event_triggers_fire_from_the_change(world, app, at_t0):
    # given one rule per trigger kind, each commenting on the deal
    created = await world.rule(trigger="CREATED", actions=[{"type": "ADD_COMMENT", "body": "新商机 created"}])
    updated = await world.rule(trigger="UPDATED", fieldsChanged=["probability"],
                               actions=[{"type": "ADD_COMMENT", "body": "probability changed"}])
    event = await world.rule(trigger="EVENT", topic="opportunity.stage_moved",
                             actions=[{"type": "ADD_COMMENT", "body": "stage moved"}])
    # when the rep creates a deal, edits its next step, then its probability, then moves it
    deal = await world.deal()
    await world.update(deal, nextStep="call")
    await world.update(deal, probability=40)
    await world.move(deal, "proposal")
    # then each rule ran once, on its own kind of change
    assert [len(await world.runs(r)) for r in (created, updated, event)] == [1, 1, 1]
    await positioned(app)  # the timeline reads what the relay has positioned
    timeline = (await world(TIMELINE, {"id": deal["id"]}, as_="rep"))["data"]["timeline"]["edges"]
    comments = [e["node"]["summary"] for e in timeline if e["node"]["kind"] == "comment"]
    assert len(comments) == 3


async def test_a_date_relative_rule_fires_once_when_the_clock_reaches_its_moment(world, app, at_t0):
    # given a rule "3 days before the expected close date, remind the owner", and deals closing on two dates
    rule = await world.rule(trigger="DATE_RELATIVE", dateField="expectedCloseDate", offsetHours=-72,
                            actions=[{"type": "CREATE_ACTION_ITEM", "owner": "OWNER", "dueInDays": 1,
                                      "title": "Closing soon: {{name}}"}])
    assert (rule["dateField"], rule["offsetHours"]) == ("expectedCloseDate", -72)
    soon = await world.deal(expectedCloseDate=(T0 + timedelta(days=4)).date().isoformat())
    later = await world.deal(expectedCloseDate=(T0 + timedelta(days=10)).date().isoformat())
    # when the scheduler passes now, a day later, and again a day later (the first deal's moment: day 1)
    for days in (0, 1, 1.5):
        clock.set(T0 + timedelta(days=days))
        await app.state.scheduler.tick()
    # then the first deal fired once, the other not yet
    runs = await world.runs(rule)
    assert [(r["recordId"], r["trigger"], r["matched"]) for r in runs] == [(soon["id"], "DATE_RELATIVE", True)]
    items = (await world(ACTION_ITEMS, as_="rep"))["data"]["myOpenActionItems"]
    assert [(i["title"], i["recordId"]) for i in items] == [("Closing soon: 项目 Deal", soon["id"])]
    assert later["id"] not in {r["recordId"] for r in runs}


async def test_a_scheduled_rule_runs_at_its_cron_time_in_its_time_zone(world, app, at_t0):
    # given "Mondays at 9:00 Shanghai time, tell the manager about deals without a next step"
    # (T0 is Monday 2026-12-07 09:00 UTC, 17:00 in Shanghai)
    rule = await world.rule(trigger="SCHEDULED", cron="0 9 * * 1", timeZone="Asia/Shanghai",
                            conditions={"field": "nextStep", "op": "isEmpty"},
                            actions=[{"type": "NOTIFY", "to": ["OWNER_MANAGER"], "template": "{{name}}: no next step"}])
    idle, busy = await world.deal(), await world.deal(nextStep="demo")
    # when the scheduler passes on Monday evening and Tuesday morning, then the next Monday at 9:00 Shanghai time
    for moment in (T0, T0 + timedelta(hours=15), T0 + timedelta(days=6, hours=16), T0 + timedelta(days=6, hours=17)):
        clock.set(moment)
        await app.state.scheduler.tick()
    # then it ran once, on both deals, and told the manager about the idle one
    runs = await world.runs(rule)
    assert sorted((r["recordId"], r["matched"]) for r in runs) == sorted([(idle["id"], True), (busy["id"], False)])
    notes = [n for n in await world.inbox("manager") if n["topic"] == "workflow.notified"]
    assert [(n["recordId"], n["summary"]) for n in notes] == [(idle["id"], "项目 Deal: no next step")]


async def test_conditions_read_related_records_and_the_change(world):
    # given a rule on the customer's tier, the owner's manager and the change of the next step
    rule = await world.rule(trigger="UPDATED", conditions={"all": [
        {"field": "customer.tier", "op": "eq", "value": "strategic"},
        {"field": "owner.name", "op": "startsWith", "value": "rep"},
        {"field": "nextStep", "op": "changedTo", "value": "签约"},
        {"not": {"field": "nextStep", "op": "changedFrom", "value": "跟进"}},
    ]}, actions=[{"type": "SET_FIELD", "field": "probability", "value": 90}])
    strategic = await world.deal(customer={"tier": "STRATEGIC"})
    standard = await world.deal(customer={"tier": "STANDARD"})
    # when
    await world.update(strategic, nextStep="签约")
    await world.update(standard, nextStep="签约")
    # then only the strategic customer's deal was raised
    runs = {r["recordId"]: r for r in await world.runs(rule)}
    assert runs[strategic["id"]]["matched"] and not runs[standard["id"]]["matched"]
    assert [c["result"] for c in runs[standard["id"]]["conditionResults"]] == [False, True, True, False]
    raised = (await world(UPDATE_OPPORTUNITY, {"input": {"id": strategic["id"], "version": strategic["version"]}},
                          as_="rep"))
    assert raised["data"]["updateOpportunity"]["opportunity"]["probability"] == 90


async def test_a_rule_triggering_itself_stops_at_the_limit_and_the_change_goes_through(world):
    # given a rule that edits the deal whenever the deal is edited
    rule = await world.rule(trigger="UPDATED", actions=[{"type": "SET_FIELD", "field": "nextStep",
                                                        "value": "{{nextStep}}!"}])
    deal = await world.deal()
    # when the rep edits it
    updated = await world.update(deal, nextStep="go")
    # then the edit and five reactions are kept (in the same commit), and the sixth is refused and recorded
    assert updated["nextStep"] == "go!!!!!"
    runs = await world.runs(rule)
    assert sorted(r["depth"] for r in runs) == [0, 1, 2, 3, 4, 5]
    [stopped] = [r for r in runs if r["errors"]]
    assert (stopped["depth"], stopped["errors"][0]["code"], stopped["actionsDone"]) == (5, "RULE_LOOP", [])


async def test_a_message_never_shows_a_recipient_a_field_they_may_not_read(world):
    # given a rule telling the manager and the service team about a deal's amount (service may not read it)
    await world.rule(trigger="UPDATED", actions=[{
        "type": "NOTIFY", "to": ["OWNER_MANAGER"], "roles": ["service"],
        "template": "{{name}}: amount {{amount}}, tier {{customer.tier}}"}])
    deal = await world.deal(amount="777777.00", customer={"tier": "KEY"})
    # when
    await world.update(deal, nextStep="报价")
    # then each reads it as they may
    [for_manager] = [n for n in await world.inbox("manager") if n["topic"] == "workflow.notified"]
    [for_service] = [n for n in await world.inbox("service") if n["topic"] == "workflow.notified"]
    assert for_manager["summary"] == "项目 Deal: amount 777777.0000, tier key"
    assert for_service["summary"] == "项目 Deal: amount —, tier key"
    assert "777777" not in str(for_service)


async def test_assigning_by_rule_tells_the_new_owner_and_shows_the_owner_as_a_global_id(world):
    # given a rule handing big deals to the rep's manager
    await world.rule(trigger="UPDATED", conditions={"field": "amount", "op": "gte", "value": "1000000"},
                     actions=[{"type": "ASSIGN", "to": "OWNER_MANAGER"}])
    deal = await world.deal()
    # when the rep raises the amount
    updated = await world.update(deal, amount="2000000.00")
    # then the manager owns it and is told, with owners as global ids
    assert updated["owner"]["email"] == world.users["manager"].email
    [note] = [n for n in await world.inbox("manager") if n["topic"] == "workflow.record_updated"]
    assert note["data"]["changes"]["owner"] == [world.id("rep"), world.id("manager")]


async def test_a_manager_writes_rules_for_their_team_only(world):
    # given a sales manager's rule
    rule = await world.rule(as_="manager", trigger="UPDATED",
                            actions=[{"type": "ADD_COMMENT", "body": "team rule"}])
    assert rule["limitedToTeam"] is True
    mine, theirs = await world.deal(as_="rep"), await world.deal(as_="other_rep")
    # when both reps edit their deals
    await world.update(mine, nextStep="a", as_="rep")
    await world.update(theirs, nextStep="b", as_="other_rep")
    # then it ran on the manager's team's deal only
    assert [r["recordId"] for r in await world.runs(rule, as_="manager")] == [mine["id"]]
    # and the manager sees the runs of their own rules only
    admins = await world.rule(trigger="UPDATED", actions=[{"type": "ADD_COMMENT", "body": "org rule"}])
    await world.update(mine, nextStep="c", as_="rep")
    assert len(await world.runs(admins)) == 1 and await world.runs(admins, as_="manager") == []
    # and another manager may not change it, a rep may not write or read rules
    other = await world(ENABLE_RULE, {"input": {"id": rule["id"], "enabled": False}}, as_="other_manager")
    assert other["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    denied = await world(CREATE_RULE, {"input": {"name": "x", "objectType": "Opportunity", "trigger": "CREATED",
                                                 "actions": [{"type": "ADD_COMMENT", "body": "x"}]}}, as_="rep")
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await world(RULES, as_="rep"))["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_rules_are_versioned_switched_off_and_deleted(world):
    rule = await world.rule(trigger="UPDATED", actions=[{"type": "ADD_COMMENT", "body": "v1"}])
    # when the admin edits it, then switches it off
    edited = (await world.ok(UPDATE_RULE, {"input": {"id": rule["id"], "version": rule["version"], "name": "v2",
                                                     "fieldsChanged": ["nextStep"]}},
                             "updateWorkflowRule"))["workflowRule"]
    assert (edited["name"], edited["version"], edited["fieldsChanged"]) == ("v2", rule["version"] + 1, ["nextStep"])
    stale = await world(UPDATE_RULE, {"input": {"id": rule["id"], "version": rule["version"], "name": "v3"}})
    assert stale["errors"][0]["extensions"]["code"] == "CONFLICT"
    off = (await world.ok(ENABLE_RULE, {"input": {"id": rule["id"], "enabled": False}},
                          "setWorkflowRuleEnabled"))["workflowRule"]
    deal = await world.deal()
    await world.update(deal, nextStep="x")
    # then a disabled rule does not run
    assert await world.runs(rule) == []
    # and deleting takes the current version
    deleted = await world.ok(DELETE_RULE, {"input": {"id": rule["id"], "version": off["version"]}},
                             "deleteWorkflowRule")
    assert deleted["deletedId"] == rule["id"]
    assert (await world(RULES, {"type": "Opportunity"}))["data"]["workflowRules"] == []


async def test_a_dry_run_says_what_would_happen_and_writes_nothing(world):
    rule = await world.rule(**DEMO_RULE)
    deal = await world.deal(amount="900000.00")
    # when the admin tests the saved rule and a draft on the deal
    saved = (await world(TEST_RULE, {"input": {"ruleId": rule["id"], "recordId": deal["id"]}}))["data"]
    draft = (await world(TEST_RULE, {"input": {"recordId": deal["id"], "rule": {
        **{k: v for k, v in DEMO_RULE.items() if k != "stage"}, "trigger": "UPDATED", "objectType": "Opportunity",
        "conditions": {"field": "amount", "op": "lt", "value": 1}}}}))["data"]
    # then
    assert saved["testWorkflowRule"]["matched"] is True
    assert [a["type"] for a in saved["testWorkflowRule"]["actions"]] == ["NOTIFY", "CREATE_ACTION_ITEM"]
    assert draft["testWorkflowRule"]["matched"] is False
    assert await world.runs(rule) == []
    assert [n for n in await world.inbox("manager") if n["topic"] == "workflow.notified"] == []


@pytest.mark.parametrize(("fields", "expected"), [
    ({"conditions": {"field": "amout", "op": "gt", "value": 1}}, [(["conditions", "field"], "UNKNOWN_FIELD")]),
    ({"conditions": {"field": "amount", "op": "like", "value": 1}}, [(["conditions"], "INVALID_CONDITION")]),
    ({"conditions": {"any": "amount > 1"}}, [(["conditions", "any"], "INVALID_CONDITION")]),
    ({"actions": []}, [(["actions"], "INVALID_ACTION")]),
    ({"actions": [{"type": "SET_FIELD", "field": "owner", "value": 1}]}, [(["actions", "0", "field"],
                                                                           "UNKNOWN_FIELD")]),
    ({"actions": [{"type": "NOTIFY", "template": "{{secret}}", "to": ["OWNER"]}]},
     [(["actions", "0", "template"], "UNKNOWN_FIELD")]),
    # written into the record for everyone who sees it, while service may not read amounts (a NOTIFY may)
    ({"actions": [{"type": "CREATE_ACTION_ITEM", "owner": "OWNER", "title": "跟进 {{amount}}"}]},
     [(["actions", "0", "title"], "FIELD_NOT_READABLE")]),
    ({"actions": [{"type": "ADD_COMMENT", "body": "金额 {{amount}}"}]}, [(["actions", "0", "body"],
                                                                       "FIELD_NOT_READABLE")]),
    # copied into a field service may read (the next step) from one it may not (the amount)
    ({"actions": [{"type": "SET_FIELD", "field": "nextStep", "value": "报价 {{amount}}"}]},
     [(["actions", "0", "value"], "FIELD_NOT_READABLE")]),
    ({"trigger": "EVENT"}, [(["trigger", "topic"], "INVALID_TRIGGER")]),
    ({"trigger": "SCHEDULED", "cron": "every monday"}, [(["trigger", "cron"], "INVALID_TRIGGER")]),
    ({"trigger": "SCHEDULED", "cron": "0 9 * * 1", "timeZone": "Mars/Olympus"},
     [(["trigger", "timeZone"], "INVALID_TRIGGER")]),
    ({"trigger": "DATE_RELATIVE", "dateField": "name", "offsetHours": 1},
     [(["trigger", "dateField"], "UNKNOWN_FIELD")]),
    ({"trigger": "UPDATED", "cron": "0 9 * * 1"}, [(["trigger", "cron"], "INVALID_TRIGGER")]),
    ({"objectType": "Nothing"}, [(["objectType"], "UNKNOWN_OBJECT_TYPE")]),
])
async def test_a_bad_rule_is_refused_with_a_code_and_nothing_is_saved(world, fields, expected):
    data = {"name": "Bad", "objectType": "Opportunity", "trigger": "UPDATED",
            "actions": [{"type": "ADD_COMMENT", "body": "x"}], **fields}
    answer = await world(CREATE_RULE, {"input": data})
    assert "errors" not in answer, answer
    payload = answer["data"]["createWorkflowRule"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == expected
    assert payload["workflowRule"] is None
    assert (await world(RULES, {"type": "Opportunity"}))["data"]["workflowRules"] == []  # the org's built-ins aside


async def test_a_condition_on_a_field_the_author_may_not_read_is_refused(world):
    # given the service role may not read amounts; an admin grants it rule writing (not reading amounts)
    answer = await world(CREATE_RULE, {"input": {
        "name": "Peek", "objectType": "Opportunity", "trigger": "UPDATED",
        "conditions": {"field": "amount", "op": "gt", "value": 1},
        "actions": [{"type": "ADD_COMMENT", "body": "x"}]}}, as_="service")
    # then a role without rule writing is refused outright
    assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
