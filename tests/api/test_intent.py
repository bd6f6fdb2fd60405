"""Intent signals through the API: web visits, e-mail opens, content downloads and meetings logged as interactions
raise ``Customer.intent``; crossing into HIGH tells the owner live, once, through the org's built-in rule, whose
template an admin edits and which an admin switches off; roles that may not read interactions do not read the
intent either."""

from __future__ import annotations

import uuid
from typing import Any

from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import GraphQLClient
from tests.factories.api.answers import ok
from tests.factories.api.crm import LOG_INTERACTION, new_customer
from tests.factories.api.users import FINANCE, MANAGER, MARKETING, REP1, SERVICE
from tests.factories.realtime import connect, subscribe_live

INTENT = """
query ($id: ID!) {
  customer(id: $id) { name intent { score level signals { kind count lastAt } } }
}"""
INBOX = """
query { notifications(first: 100) { edges { node { topic kind summary recordId data } } } }"""
MY_NOTIFICATIONS = """subscription { myNotifications { kind summary recordType recordId data } }"""
HIGH_INTENT_RULE = "客户购买意向转高提醒 Customer shows high intent"


async def _signal(gql: Any, customer_id: str, kind: str, summary: str = "访问了产品页", *, as_: str = SERVICE) -> None:
    result = await gql(LOG_INTERACTION, {"input": {"customerId": customer_id, "kind": kind, "summary": summary}},
                       as_=as_)
    ok(result, "logInteraction")


async def _intent(gql: Any, customer_id: str, as_: str = REP1) -> dict[str, Any]:
    return await gql(INTENT, {"id": customer_id}, as_=as_)


async def _crossings_in_inbox(gql: Any, customer_id: str) -> list[dict[str, Any]]:
    edges = (await gql(INBOX, as_=REP1))["data"]["notifications"]["edges"]
    return [e["node"] for e in edges
            if e["node"]["topic"] == "workflow.notified" and e["node"]["recordId"] == customer_id]


async def test_intent_rises_with_signals_by_kind(gql):
    # given rep1's new customer: no signals
    customer = await new_customer(gql, name="云帆科技 意向客户")
    fresh = (await _intent(gql, customer["id"]))["data"]["customer"]["intent"]
    assert fresh == {"score": 0, "level": "LOW", "signals": []}
    # when service logs web visits, an e-mail open and a content download, and rep1 a call (no signal)
    for kind in ("WEB_VISIT", "WEB_VISIT", "EMAIL_OPEN", "CONTENT_DOWNLOAD"):
        await _signal(gql, customer["id"], kind)
    await _signal(gql, customer["id"], "CALL", "电话沟通", as_=REP1)
    # then the score is their weights' sum (5 + 5 + 3 + 15), MEDIUM, signal by signal
    intent = (await _intent(gql, customer["id"]))["data"]["customer"]["intent"]
    assert (intent["score"], intent["level"]) == (28, "MEDIUM")
    assert [(s["kind"], s["count"]) for s in intent["signals"]] == [
        ("CONTENT_DOWNLOAD", 1), ("WEB_VISIT", 2), ("EMAIL_OPEN", 1)]


async def test_crossing_into_high_intent_tells_the_owner_live_once(gql, app):
    # given rep1's customer with one meeting (MEDIUM)
    customer = await new_customer(gql, name="华南电网 意向")
    await _signal(gql, customer["id"], "MEETING", "技术交流会")
    async with connect(app, gql.token(REP1)) as socket:
        await subscribe_live(app, socket, "n", MY_NOTIFICATIONS, {})
        # when a second meeting takes it to HIGH, and more signals follow
        await _signal(gql, customer["id"], "MEETING", "方案评审会")
        [entry] = await socket.events("n", 1, "myNotifications")
        await _signal(gql, customer["id"], "CONTENT_DOWNLOAD", "下载白皮书")
        await _signal(gql, customer["id"], "WEB_VISIT")
        later = [m["payload"]["data"]["myNotifications"] for m in await socket.nothing_more() if m.get("id") == "n"]
    # then rep1 heard it live, once, in the built-in rule's words
    assert (entry["kind"], entry["recordType"], entry["recordId"]) == ("automation", "Customer", customer["id"])
    assert entry["data"]["rule"] == HIGH_INTENT_RULE
    assert entry["summary"] == ("客户「华南电网 意向」购买意向转高，请尽快跟进。"
                                "华南电网 意向 shows high intent: time to follow up.")
    assert later == []
    assert len(await _crossings_in_inbox(gql, customer["id"])) == 1
    assert (await _intent(gql, customer["id"]))["data"]["customer"]["intent"]["level"] == "HIGH"


async def test_roles_that_may_not_read_interactions_do_not_read_intent(gql):
    # given a customer with a signal
    customer = await new_customer(gql)
    await _signal(gql, customer["id"], "MEETING", "拜访")
    # then the manager reads its intent; finance and marketing, who read the customer, do not
    assert (await _intent(gql, customer["id"], MANAGER))["data"]["customer"]["intent"]["score"] == 30
    for role in (FINANCE, MARKETING):
        answer = await _intent(gql, customer["id"], role)
        assert answer["data"]["customer"] == {"name": customer["name"], "intent": None}, role
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["FORBIDDEN_FIELD"]


RULES = "query { workflowRules(objectType: \"Customer\") { id name builtIn enabled version actions } }"
UPDATE_RULE = """
mutation ($input: UpdateWorkflowRuleInput!) {
  updateWorkflowRule(input: $input) { workflowRule { version } userErrors { field code } }
}"""
ENABLE_RULE = """
mutation ($input: SetWorkflowRuleEnabledInput!) {
  setWorkflowRuleEnabled(input: $input) { workflowRule { enabled } userErrors { field code } }
}"""


async def test_an_admin_edits_the_high_intent_notice_and_switching_it_off_stops_it(db, gql):
    # given an org of its own (its rules are its own), seeded with the built-in high intent rule
    tag = uuid.uuid4().hex[:8]
    async with db.write() as s:
        org = await create_org(s, f"意向 {tag}")
        people = {name: await create_user(s, org.id, email=f"{name}-{tag}@intent.test", name=f"{name} 用户",
                                          roles=[role]) for name, role in (("admin", "admin"), ("rep", "sales_rep"))}
    team = GraphQLClient(gql.http, gql.settings, {u.email: u for u in people.values()})
    admin, rep = people["admin"].email, people["rep"].email
    [rule] = [r for r in (await team(RULES, as_=admin))["data"]["workflowRules"] if r["name"] == HIGH_INTENT_RULE]
    assert (rule["builtIn"], rule["enabled"]) == (True, True)
    assert rule["actions"][0]["to"] == ["OWNER"]

    # when the admin rewords its template, and a customer of the rep crosses into HIGH
    ok(await team(UPDATE_RULE, {"input": {"id": rule["id"], "version": rule["version"], "actions": [
        {"type": "NOTIFY", "to": ["OWNER"], "template": "{{name}}：意向高，今天就打电话"}]}}, as_=admin),
       "updateWorkflowRule")
    keen = await new_customer(team, as_=rep, name="杭州云帆")
    for summary in ("技术交流会", "方案评审会"):
        await _signal(team, keen["id"], "MEETING", summary, as_=rep)

    # then the rep reads the new words
    assert await _notices(team, rep) == [(keen["id"], "杭州云帆：意向高，今天就打电话")]

    # when the admin switches the rule off, and another customer crosses into HIGH
    ok(await team(ENABLE_RULE, {"input": {"id": rule["id"], "enabled": False}}, as_=admin), "setWorkflowRuleEnabled")
    quiet = await new_customer(team, as_=rep, name="宁波港")
    for summary in ("技术交流会", "方案评审会"):
        await _signal(team, quiet["id"], "MEETING", summary, as_=rep)

    # then nobody is told, though the customer is HIGH
    assert await _notices(team, rep) == [(keen["id"], "杭州云帆：意向高，今天就打电话")]
    assert (await _intent(team, quiet["id"], rep))["data"]["customer"]["intent"]["level"] == "HIGH"


def gql_as(team: GraphQLClient) -> GraphQLClient:
    return team


async def _notices(team: GraphQLClient, who: str) -> list[tuple[str, str]]:
    edges = (await team(INBOX, as_=who))["data"]["notifications"]["edges"]
    return [(e["node"]["recordId"], e["node"]["summary"]) for e in edges if e["node"]["topic"] == "workflow.notified"]
