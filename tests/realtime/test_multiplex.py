"""Multiplexed subscriptions: subscribers who would receive the same event the same way get the very
same bytes, rendered once; subscribers who may read different fields, see different rows or select
differently never share. Each test works in an org of its own on the session's app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from tandem.auth import mint_token
from tandem.domain.collaboration.comment import add_comment
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity, update_opportunity
from tandem.domain.shared import outbox
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.schema.node import to_global_id
from tests.conftest import actor_of

BASE = "http://tandem.test"
WAIT = 10.0
QUIET = 1.0

TIMELINE = """
subscription ($recordId: ID!, $after: String) {
  recordTimeline(recordId: $recordId, after: $after) { cursor eventId kind summary data actor { name } }
}"""

TIMELINE_WITH_ACTOR_IF = """
subscription ($recordId: ID!, $withActor: Boolean!, $after: String) {
  recordTimeline(recordId: $recordId, after: $after) { eventId kind actor @include(if: $withActor) { name } }
}"""

TIMELINE_WITH_EMAIL = """
subscription ($recordId: ID!, $after: String) {
  recordTimeline(recordId: $recordId, after: $after) { eventId kind actor { name email } }
}"""

CHANGE_FEED = """
subscription ($after: String) {
  changeFeed(types: ["Opportunity"], after: $after) { eventId topic recordId payload }
}"""

OPPORTUNITY = "query ($id: ID!) { opportunity(id: $id) { id name amount } }"

SET_PERMISSION = """
mutation ($input: SetPermissionInput!) {
  setPermission(input: $input) { policyVersion userErrors { field code } }
}"""


# --- an org of the test's own ------------------------------------------------------------------------


@dataclass
class Team:
    org_id: int
    users: dict[str, User]
    customer_id: int
    opportunity_id: int
    start: str
    """A cursor before the org's first event (``changeEvents`` of the empty org ended there): subscribing
    after it replays the opportunity's creation first."""

    @property
    def opportunity(self) -> str:
        return to_global_id("Opportunity", self.opportunity_id)


@pytest.fixture
async def team(db: Any, app: Any) -> Team:
    """A fresh org: an admin, two reps, two finance users and a service user; rep_a owns an opportunity
    (whose creation is already published)."""
    tag = uuid.uuid4().hex[:10]
    async with db.write() as session:
        org = await create_org(session, f"Multiplex {tag}")
        users = {key: await create_user(session, org.id, email=f"{key}.{tag}@multiplex.test", name=f"{key} {tag}",
                                        roles=[role])
                 for key, role in [("admin", "admin"), ("rep_a", "sales_rep"), ("rep_b", "sales_rep"),
                                   ("finance_a", "finance"), ("finance_b", "finance"), ("service", "service")]}
        rep = actor_of(users["rep_a"])
        customer = await create_customer(session, rep, CustomerInput(name=f"Customer {tag}"))
        opportunity = await create_opportunity(session, rep, OpportunityInput(
            customer_id=customer.id, name=f"Deal {tag}", amount=Decimal("510000.00"), currency="CNY"))
    await app.state.relay.drain()
    return Team(org.id, users, customer.id, opportunity.id, app.state.realtime.cursors.encode(org.id, 0))


async def add_a_comment(db: Any, app: Any, team: Team, body: str) -> None:
    async with db.write() as session:
        await add_comment(session, actor_of(team.users["rep_a"]), record_type="Opportunity",
                          record_id=team.opportunity_id, body=body)
    await app.state.relay.drain()


async def feed_end(db: Any, app: Any, team: Team) -> str:
    """A cursor at the end of the org's feed, as the feed itself would hand it out."""
    await app.state.relay.drain()
    async with db.read() as session:
        return app.state.realtime.cursors.encode(team.org_id, await outbox.last_position(session))


# --- a graphql-transport-ws client that keeps the raw text of what it receives ----------------------------


class Socket:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def subscribe(self, query: str, variables: dict[str, Any], op_id: str = "1") -> None:
        await self.ws.send_json({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})

    async def next_text(self, within: float = WAIT) -> str:
        """The raw text of the next ``next`` message (pings answered, anything else fails)."""
        while True:
            text = await asyncio.wait_for(self.ws.receive_text(), within)
            message = json.loads(text)
            if message["type"] == "ping":
                await self.ws.send_json({"type": "pong"})
                continue
            assert message["type"] == "next", message
            return text

    async def next(self, field: str = "recordTimeline") -> dict[str, Any]:
        message = json.loads(await self.next_text())
        assert "errors" not in message["payload"], message
        return message["payload"]["data"][field]

    async def silent(self, seconds: float = QUIET) -> bool:
        try:
            message = await asyncio.wait_for(self.ws.receive_text(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message: {message}")


@contextlib.asynccontextmanager
async def connected(app: Any, settings: Any, user: User) -> AsyncIterator[Socket]:
    async with (
        httpx.AsyncClient(transport=ASGIWebSocketTransport(app), base_url=BASE) as http,
        aconnect_ws(f"{BASE}/graphql", http, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await ws.send_json({"type": "connection_init",
                            "payload": {"authorization": f"Bearer {mint_token(settings, user)}"}})
        ack = await asyncio.wait_for(ws.receive_json(), WAIT)
        assert ack["type"] == "connection_ack", ack
        yield Socket(ws)


# --- one group, one rendering, the same bytes -------------------------------------------------------------


async def test_subscribers_with_the_same_view_receive_the_same_bytes_rendered_once(app, settings, db, team):
    # given two finance users on three sockets, and one more joining from a cursor
    renders = app.state.realtime.renders
    users = team.users
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connected(app, settings, users[key]))
                   for key in ("finance_a", "finance_a", "finance_b")]
        for socket in sockets:
            await socket.subscribe(TIMELINE, {"recordId": team.opportunity, "after": team.start})
        created = [await socket.next() for socket in sockets]
        late = await stack.enter_async_context(connected(app, settings, users["finance_b"]))
        await late.subscribe(TIMELINE, {"recordId": team.opportunity, "after": created[0]["cursor"]})
        await late.silent(0.3)  # nothing to replay: it is live
        rendered_before = renders.rendered

        # when the rep comments
        await add_a_comment(db, app, team, "Pricing approved 价格已批准 ✅")
        received = [await socket.next_text() for socket in [*sockets, late]]

        # then
        assert len(set(received)) == 1
        assert renders.rendered - rendered_before == 1
    entry = json.loads(received[0])["payload"]["data"]["recordTimeline"]
    assert (entry["kind"], entry["data"]["body"], entry["actor"]["name"]) == (
        "comment", "Pricing approved 价格已批准 ✅", users["rep_a"].name)
    assert created[0] == created[1] == created[2]


async def test_subscribers_who_may_read_different_fields_receive_what_each_may_read(app, settings, db, team):
    # given finance (reads amounts) and service (Opportunity.amount denied) on the same timeline
    users = team.users
    async with (
        connected(app, settings, users["finance_a"]) as finance,
        connected(app, settings, users["service"]) as service,
    ):
        for socket in (finance, service):
            await socket.subscribe(TIMELINE, {"recordId": team.opportunity, "after": team.start})
        created_by_finance, created_by_service = await finance.next(), await service.next()

        # when the rep changes the amount
        async with db.write() as session:
            await update_opportunity(session, actor_of(users["rep_a"]), team.opportunity_id, 1, OpportunityInput(
                amount=Decimal("620000.00"), next_step="Send the quote", set_fields={"amount", "next_step"}))
        await app.state.relay.drain()
        seen_by_finance, seen_by_service = await finance.next(), await service.next()

    # then
    assert created_by_finance["data"]["amount"] == "510000.00"
    assert "amount" not in created_by_service["data"]
    assert [Decimal(v) for v in seen_by_finance["data"]["changes"]["amount"]] == [Decimal("510000"),
                                                                                  Decimal("620000")]
    assert seen_by_service["data"]["changes"] == {"next_step": [None, "Send the quote"]}
    assert "620000" not in json.dumps(seen_by_service)


async def test_subscribers_with_the_same_roles_but_different_rows_never_share(app, settings, db, team):
    # given two reps (own scope) on the opportunity feed
    users = team.users
    after = await feed_end(db, app, team)
    async with (
        connected(app, settings, users["rep_a"]) as rep_a,
        connected(app, settings, users["rep_b"]) as rep_b,
    ):
        for socket in (rep_a, rep_b):
            await socket.subscribe(CHANGE_FEED, {"after": after})

        # when each creates an opportunity
        created = {}
        for key in ("rep_a", "rep_b"):
            async with db.write() as session:
                actor = actor_of(users[key])
                customer = await create_customer(session, actor, CustomerInput(name=f"{key}'s customer"))
                opportunity = await create_opportunity(session, actor, OpportunityInput(
                    customer_id=customer.id, name=f"{key}'s deal", amount=Decimal("1000.00"), currency="CNY"))
                created[key] = to_global_id("Opportunity", opportunity.id)
        await app.state.relay.drain()

        # then each receives its own, and nothing of the other's
        seen_by_a, seen_by_b = await rep_a.next("changeFeed"), await rep_b.next("changeFeed")
        assert await rep_a.silent() and await rep_b.silent(0.2)
    assert (seen_by_a["recordId"], seen_by_a["topic"]) == (created["rep_a"], "opportunity.created")
    assert (seen_by_b["recordId"], seen_by_b["topic"]) == (created["rep_b"], "opportunity.created")


async def test_subscribers_whose_selections_differ_by_a_variable_never_share(app, settings, db, team):
    # given the same document, the actor included for one subscriber and not for the other
    users = team.users
    async with (
        connected(app, settings, users["finance_a"]) as with_actor,
        connected(app, settings, users["finance_b"]) as without_actor,
    ):
        await with_actor.subscribe(TIMELINE_WITH_ACTOR_IF, {"recordId": team.opportunity, "withActor": True,
                                                            "after": team.start})
        await without_actor.subscribe(TIMELINE_WITH_ACTOR_IF, {"recordId": team.opportunity, "withActor": False,
                                                               "after": team.start})
        await with_actor.next(), await without_actor.next()

        # when
        await add_a_comment(db, app, team, "Shall we meet?")
        seen_with, seen_without = await with_actor.next(), await without_actor.next()

    # then
    assert seen_with["actor"] == {"name": users["rep_a"].name}
    assert "actor" not in seen_without
    assert seen_with["eventId"] == seen_without["eventId"]


# --- fields the role may not read stay out of the socket, as over HTTP ------------------------------------


async def test_a_user_field_the_role_may_not_read_is_null_in_a_subscription(app, settings, db, client, team):
    # given the org's admin denies finance User.email
    users = team.users
    response = await client.post("/graphql", json={"query": SET_PERMISSION, "variables": {"input": {
        "role": "finance", "resource": "User.email", "action": "read", "effect": "DENY"}}},
        headers={"authorization": f"Bearer {mint_token(settings, users['admin'])}"})
    assert response.json()["data"]["setPermission"]["userErrors"] == [], response.text
    async with (
        connected(app, settings, users["finance_a"]) as finance,
        connected(app, settings, users["service"]) as service,
    ):
        for socket in (finance, service):
            await socket.subscribe(TIMELINE_WITH_EMAIL, {"recordId": team.opportunity, "after": team.start})
            await socket.next_text()

        # when
        await add_a_comment(db, app, team, "Who wrote this?")
        seen_by_finance = json.loads(await finance.next_text())["payload"]
        seen_by_service = await service.next()

    # then
    assert seen_by_finance["data"]["recordTimeline"]["actor"] == {"name": users["rep_a"].name, "email": None}
    assert [e["extensions"] for e in seen_by_finance["errors"]] == [{"code": "FORBIDDEN_FIELD", "field": "User.email"}]
    assert users["rep_a"].email not in json.dumps(seen_by_finance)
    assert seen_by_service["actor"] == {"name": users["rep_a"].name, "email": users["rep_a"].email}


async def test_a_query_over_the_socket_gets_null_for_a_field_the_role_may_not_read(app, settings, team):
    # given
    async with connected(app, settings, team.users["service"]) as service:
        # when service asks for the opportunity's amount over the websocket
        await service.subscribe(OPPORTUNITY, {"id": team.opportunity})
        message = json.loads(await service.next_text())

    # then
    assert message["payload"]["data"]["opportunity"]["amount"] is None
    assert "510000" not in json.dumps(message)
