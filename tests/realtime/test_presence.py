"""Who else has this record open: a record view touches it, everyone watching sees them arrive, switch
to editing, leave, or time out when their client goes quiet; nobody who may not see the record learns
anything."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from tandem.schema.node import to_global_id
from tests.factories.realtime import app_with, connect

PRESENCE = """
subscription ($r: ID!) { recordPresence(recordId: $r) { recordId present { user { email } editing } } }"""
TOUCH = """
mutation ($r: ID!, $e: Boolean!) { touchPresence(input: {recordId: $r, editing: $e}) {
  present { user { email } editing expiresAt } } }"""
LEAVE = "mutation ($r: ID!) { leavePresence(input: {recordId: $r}) { present { user { email } } } }"
NEW_CUSTOMER = "mutation ($n: String!) { createCustomer(input: {name: $n}) { customer { id } } }"
NEW_OPPORTUNITY = ("mutation ($c: ID!) { createOpportunity(input: {customerId: $c, name: \"ERP 实施\", "
                   "amount: \"1000\"}) { opportunity { id } } }")


@pytest.fixture(autouse=True)
async def _no_presence_of_earlier_runs(settings: Any) -> None:
    """Redis outlives a test run's database, whose record ids the next run hands out again."""
    if settings.redis_url:
        client = Redis.from_url(settings.redis_url)
        keys = [key async for key in client.scan_iter("tandem:presence:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def _who(event: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(p["user"]["email"], p["editing"]) for p in event["present"]]


async def _record(gql: Any, as_: str) -> str:
    """A new opportunity of ``as_``'s (presence lives in Redis across tests in the PostgreSQL run)."""
    customer = await gql(NEW_CUSTOMER, {"n": f"客户{uuid.uuid4().hex[:8]}"}, as_=as_)
    made = await gql(NEW_OPPORTUNITY, {"c": customer["data"]["createCustomer"]["customer"]["id"]}, as_=as_)
    return made["data"]["createOpportunity"]["opportunity"]["id"]


async def test_watchers_see_others_arrive_edit_and_leave(settings, gql, db, users):
    async with app_with(settings, presence_ttl_seconds=30) as app:
        record = await _record(gql, "rep1@demo.test")
        async with connect(app, gql.token("manager@demo.test")) as socket:
            # given the manager watches who has the rep's opportunity open: nobody yet
            await socket.subscribe("p", PRESENCE, {"r": record})
            first = (await socket.events("p", 1, "recordPresence"))[0]
            assert first["recordId"] == record and first["present"] == []

            async def touch(email: str, editing: bool) -> dict:
                return await _call(app, gql, TOUCH, {"r": record, "e": editing}, email)

            # when the rep opens it, then starts editing
            answer = await touch("rep1@demo.test", False)
            assert _who(answer["touchPresence"]) == [("rep1@demo.test", False)]
            assert _who((await socket.events("p", 1, "recordPresence"))[0]) == [("rep1@demo.test", False)]
            await touch("rep1@demo.test", True)
            assert _who((await socket.events("p", 1, "recordPresence"))[0]) == [("rep1@demo.test", True)]
            # a heartbeat that changes nothing is not news
            await touch("rep1@demo.test", True)
            # and the admin opens it too, then the rep closes it
            await touch("admin@demo.test", False)
            assert _who((await socket.events("p", 1, "recordPresence"))[0]) == [
                ("rep1@demo.test", True), ("admin@demo.test", False)]
            left = await _call(app, gql, LEAVE, {"r": record}, "rep1@demo.test")
            assert [p["user"]["email"] for p in left["leavePresence"]["present"]] == ["admin@demo.test"]
            assert _who((await socket.events("p", 1, "recordPresence"))[0]) == [("admin@demo.test", False)]
            assert await socket.nothing_more(0.5) == []


async def test_a_quiet_viewer_times_out(settings, gql):
    async with app_with(settings, presence_ttl_seconds=1) as app:
        record = await _record(gql, "rep1@demo.test")
        async with connect(app, gql.token("manager@demo.test")) as socket:
            await socket.subscribe("p", PRESENCE, {"r": record})
            assert (await socket.events("p", 1, "recordPresence"))[0]["present"] == []
            await _call(app, gql, TOUCH, {"r": record, "e": False}, "rep1@demo.test")
            assert _who((await socket.events("p", 1, "recordPresence"))[0]) == [("rep1@demo.test", False)]
            # when the rep's client stops touching: after the timeout they are gone
            gone = await socket.events("p", 1, "recordPresence")
            assert gone[0]["present"] == []


async def test_presence_on_a_record_you_cannot_see_is_not_found(settings, gql, users):
    async with app_with(settings) as app:
        # rep2 reads only their own opportunities (read:own), so not rep1's; acme's admin is another org
        record = await _record(gql, "rep1@demo.test")
        mine = await _call(app, gql, TOUCH, {"r": record, "e": False}, "rep1@demo.test")
        assert mine["touchPresence"]["present"]
        for outsider in ("admin@acme.test", "rep2@demo.test"):
            answer = await _raw(app, gql, TOUCH, {"r": record, "e": True}, outsider)
            assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND", outsider
        # and what they tried left no trace
        after = await _call(app, gql, TOUCH, {"r": record, "e": False}, "rep1@demo.test")
        assert [p["user"]["email"] for p in after["touchPresence"]["present"]] == ["rep1@demo.test"]
        async with connect(app, gql.token("admin@acme.test")) as socket:
            await socket.subscribe("p", PRESENCE, {"r": record})
            message = await socket.message("p")
            assert message["type"] in ("error", "next")
            errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            assert errors[0]["extensions"]["code"] == "NOT_FOUND"
        # and garbage ids are refused as such
        answer = await _raw(app, gql, TOUCH, {"r": "garbage", "e": False}, "rep1@demo.test")
        assert answer["errors"][0]["extensions"]["code"] in ("BAD_USER_INPUT", "NOT_FOUND")
        answer = await _raw(app, gql, TOUCH, {"r": to_global_id("Opportunity", 10**9), "e": False}, "rep1@demo.test")
        assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def _raw(app: Any, gql: Any, query: str, variables: dict, email: str) -> dict:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tandem.test") as http:
        response = await http.post("/graphql", json={"query": query, "variables": variables},
                                   headers={"authorization": f"Bearer {gql.token(email)}"})
    assert response.status_code == 200, response.text
    return response.json()


async def _call(app: Any, gql: Any, query: str, variables: dict, email: str) -> dict:
    answer = await _raw(app, gql, query, variables, email)
    assert "errors" not in answer, answer
    return answer["data"]
