"""Intent signals through the API: web visits, e-mail opens, content downloads and meetings logged as interactions
raise ``Customer.intent``; crossing into HIGH tells the owner live, once; roles that may not read interactions
do not read the intent either."""

from __future__ import annotations

from typing import Any

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


async def _signal(gql: Any, customer_id: str, kind: str, summary: str = "访问了产品页", *, as_: str = SERVICE) -> None:
    result = await gql(LOG_INTERACTION, {"input": {"customerId": customer_id, "kind": kind, "summary": summary}},
                       as_=as_)
    ok(result, "logInteraction")


async def _intent(gql: Any, customer_id: str, as_: str = REP1) -> dict[str, Any]:
    return await gql(INTENT, {"id": customer_id}, as_=as_)


async def _crossings_in_inbox(gql: Any, customer_id: str) -> list[dict[str, Any]]:
    edges = (await gql(INBOX, as_=REP1))["data"]["notifications"]["edges"]
    return [e["node"] for e in edges if e["node"]["topic"] == "intent.high" and e["node"]["recordId"] == customer_id]


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
    # then rep1 heard it live, with the score, once
    assert (entry["kind"], entry["recordType"], entry["recordId"]) == ("intent", "Customer", customer["id"])
    assert entry["data"]["score"] == 60 and entry["data"]["level"] == "high"
    assert "华南电网 意向 shows high intent (score 60)" == entry["summary"]
    assert [e for e in later if e["kind"] == "intent"] == []
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
