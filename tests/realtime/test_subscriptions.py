"""Subscriptions over the websocket (graphql-transport-ws), as a front end sees them: who may connect,
the caps, replay-then-live timelines, reconnecting with a cursor, and per-event authorization."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from domain.collaboration.comment import add_comment
from realtime.channels import record_channel
from schema.node import from_global_id
from tandem.app import create_app
from tandem.auth import mint_token
from tandem.db import outbox_listeners
from tandem.settings import Settings
from tests.conftest import actor_of

BASE = "http://tandem.test"
PROTOCOL = "graphql-transport-ws"
WAIT = 10.0
"""Deadline for anything we expect to arrive."""
QUIET = 1.5
"""How long we listen to conclude that nothing more arrives."""

TIMELINE = """
subscription ($recordId: ID!, $after: String) {
  recordTimeline(recordId: $recordId, after: $after) {
    cursor kind summary recordType recordId data actor { email }
  }
}"""

COMMENT_THREAD = """
subscription ($recordId: ID!, $after: String) {
  commentThread(recordId: $recordId, after: $after) { cursor kind recordType recordId data actor { email } }
}"""

CHANGE_FEED = """
subscription ($types: [String!], $after: String) {
  changeFeed(types: $types, after: $after) {
    cursor topic recordType recordId operation payload actor { email }
  }
}"""

FEED_PAGE = """
query ($after: String) { changeEvents(after: $after, first: 500) { endCursor hasMore } }"""

CREATE_CUSTOMER = """
mutation ($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { field code } }
}"""

CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version } userErrors { field code } }
}"""

UPDATE_OPPORTUNITY = """
mutation ($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id version } userErrors { field code } }
}"""

MOVE_STAGE = """
mutation ($input: MoveOpportunityStageInput!) {
  moveOpportunityStage(input: $input) { opportunity { id version } userErrors { field code } }
}"""

ADD_COMMENT = """
mutation ($input: AddCommentInput!) {
  addComment(input: $input) { comment { id } userErrors { field code } }
}"""

LOG_INTERACTION = """
mutation ($input: LogInteractionInput!) {
  logInteraction(input: $input) { interaction { id } userErrors { field code } }
}"""


# ---------------------------------------------------------------------------------------------
# A graphql-transport-ws client with a deadline on every receive
# ---------------------------------------------------------------------------------------------


class Socket:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.held: dict[str | None, list[dict[str, Any]]] = defaultdict(list)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_json(message)

    async def receive(self, within: float = WAIT) -> dict[str, Any]:
        return await asyncio.wait_for(self.ws.receive_json(), within)

    async def init(self, token: str) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        return await self.receive()

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any]) -> None:
        await self.send({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})

    async def message(self, op_id: str, within: float = WAIT) -> dict[str, Any]:
        """The next message of one operation (others are held for their own readers)."""
        if self.held[op_id]:
            return self.held[op_id].pop(0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            message = await self.receive(max(0.0, deadline - loop.time()))
            if message.get("id") == op_id:
                return message
            self.held[message.get("id")].append(message)

    async def events(self, op_id: str, count: int, field: str) -> list[dict[str, Any]]:
        """``count`` events of a subscription; fails on an error, a completion or a missing event."""
        out = []
        for _ in range(count):
            message = await self.message(op_id)
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            out.append(message["payload"]["data"][field])
        return out

    async def nothing_more(self, seconds: float = QUIET) -> list[dict[str, Any]]:
        """Whatever arrives within ``seconds`` (a test expecting silence asserts this is empty)."""
        got = [m for messages in self.held.values() for m in messages]
        self.held.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                got.append(await self.receive(left))
            except TimeoutError:
                break
        return got


@contextlib.asynccontextmanager
async def connect(app: Any, token: str | None = None, *, subprotocols: list[str] | None = None,
                  ) -> AsyncIterator[Socket]:
    """A websocket to ``/graphql``; with ``token``, initialised and acknowledged."""
    async with (
        httpx.AsyncClient(transport=ASGIWebSocketTransport(app), base_url=BASE) as http,
        aconnect_ws(f"{BASE}/graphql", http, subprotocols=[PROTOCOL] if subprotocols is None else subprotocols)
        as ws,
    ):
        socket = Socket(ws)
        if token is not None:
            ack = await socket.init(token)
            assert ack["type"] == "connection_ack", ack
        yield socket


@contextlib.asynccontextmanager
async def app_with(settings: Settings, **overrides: Any) -> AsyncIterator[Any]:
    """An app of its own, with other settings, for the length of a test."""
    application = create_app(settings.model_copy(update=overrides))
    async with application.router.lifespan_context(application):
        try:
            yield application
        finally:
            await halt(application.state.relay)


async def halt(relay: Any) -> None:
    """Stop a relay's task for sure. ``Relay.stop()`` alone can hang on Python 3.11: a wake-up
    that lands as the task is cancelled makes ``asyncio.wait_for`` swallow the cancellation."""
    task = relay._task
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)


@contextlib.asynccontextmanager
async def shared_relay_paused(shared: Any) -> AsyncIterator[None]:
    """The session app's relay sits out: with the in-memory broker an event reaches only the
    subscribers of the app whose relay published it, so a test app must publish its own."""
    relay = shared.state.relay
    outbox_listeners.remove(relay.wake)
    await halt(relay)
    await relay.stop()
    try:
        yield
    finally:
        outbox_listeners.append(relay.wake)
        await relay.start()


class StalledClient:
    """A graphql-transport-ws client driven at the ASGI level that can stop reading: the server's
    sends then block, as they do when a client stops reading its TCP socket."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.to_server: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_server: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reading = asyncio.Event()
        self.reading.set()
        self.task: asyncio.Task[None] | None = None

    async def _server_sends(self, message: dict[str, Any]) -> None:
        await self.reading.wait()
        await self.from_server.put(message)

    async def __aenter__(self) -> StalledClient:
        scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "http_version": "1.1",
                 "path": "/graphql", "raw_path": b"/graphql", "root_path": "", "query_string": b"",
                 "headers": [(b"host", b"tandem.test")], "client": ("127.0.0.1", 50000),
                 "server": ("tandem.test", 80), "subprotocols": [PROTOCOL], "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.to_server.get, self._server_sends))
        await self.to_server.put({"type": "websocket.connect"})
        accept = await asyncio.wait_for(self.from_server.get(), WAIT)
        assert accept["type"] == "websocket.accept", accept
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reading.set()
        await self.to_server.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, WAIT)

    async def send(self, message: dict[str, Any]) -> None:
        await self.to_server.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self, within: float = WAIT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.from_server.get(), within)
        assert raw["type"] == "websocket.send", raw
        return json.loads(raw["text"])


# ---------------------------------------------------------------------------------------------
# Factories: records made over HTTP by the demo users, the way another client would
# ---------------------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


async def new_customer(gql: Any, *, as_: str = "rep1@demo.test", **overrides: Any) -> str:
    result = await gql(CREATE_CUSTOMER, {"input": {"name": unique("Customer"), **overrides}}, as_=as_)
    payload = result["data"]["createCustomer"]
    assert payload["userErrors"] == [], payload
    return payload["customer"]["id"]


async def new_opportunity(gql: Any, *, as_: str = "rep1@demo.test", **overrides: Any) -> dict[str, Any]:
    """A fresh opportunity (in initial_contact) on a fresh customer; ``customerId`` included."""
    customer_id = overrides.pop("customerId", None) or await new_customer(gql, as_=as_)
    fields = {"customerId": customer_id, "name": unique("Deal"), "amount": "125000.00", "currency": "CNY",
              **overrides}
    result = await gql(CREATE_OPPORTUNITY, {"input": fields}, as_=as_)
    payload = result["data"]["createOpportunity"]
    assert payload["userErrors"] == [], payload
    return {**payload["opportunity"], "customerId": customer_id, "name": fields["name"]}


async def move_stage(gql: Any, opportunity: dict[str, Any], stage: str, *, as_: str = "rep1@demo.test") -> None:
    result = await gql(MOVE_STAGE, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                              "stage": stage}}, as_=as_)
    payload = result["data"]["moveOpportunityStage"]
    assert payload["userErrors"] == [], payload
    opportunity["version"] = payload["opportunity"]["version"]


async def comment(gql: Any, record_id: str, body: str, *, as_: str = "rep1@demo.test") -> str:
    result = await gql(ADD_COMMENT, {"input": {"recordId": record_id, "body": body}}, as_=as_)
    payload = result["data"]["addComment"]
    assert payload["userErrors"] == [], payload
    return payload["comment"]["id"]


async def log_call(gql: Any, opportunity: dict[str, Any], summary: str, *, as_: str = "rep1@demo.test") -> None:
    result = await gql(LOG_INTERACTION, {"input": {"customerId": opportunity["customerId"], "kind": "CALL",
                                                   "opportunityId": opportunity["id"], "summary": summary}}, as_=as_)
    assert result["data"]["logInteraction"]["userErrors"] == [], result


async def feed_end(gql: Any, app: Any, *, as_: str) -> str:
    """The change feed's current end, read the way a client would (so a test hears only new events)."""
    await app.state.relay.drain()
    after = None
    while True:
        page = (await gql(FEED_PAGE, {"after": after}, as_=as_))["data"]["changeEvents"]
        after = page["endCursor"]
        if not page["hasMore"]:
            return after


def error_codes(message: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in message["payload"]["errors"]]


# ---------------------------------------------------------------------------------------------
# Connecting
# ---------------------------------------------------------------------------------------------

OTHER_SECRET = "another-deployment-secret-0123456789-0123456789"

BAD_AUTH = {
    "no payload": lambda settings, user: None,
    "no token": lambda settings, user: {},
    "not a bearer": lambda settings, user: {"authorization": f"Basic {mint_token(settings, user)}"},
    "garbage": lambda settings, user: {"authorization": "Bearer not-a-jwt"},
    "other secret": lambda settings, user: {"authorization": "Bearer " + mint_token(
        settings.model_copy(update={"jwt_secret": OTHER_SECRET}), user)},
    "expired": lambda settings, user: {"authorization": f"Bearer {mint_token(settings, user, ttl_seconds=-60)}"},
}


@pytest.mark.parametrize("auth", BAD_AUTH.values(), ids=BAD_AUTH.keys())
async def test_connection_without_a_valid_token_is_closed_forbidden(
    app: Any, settings: Settings, users: dict, auth: Any
) -> None:
    # given
    payload = auth(settings, users["rep1@demo.test"])
    init = {"type": "connection_init"} if payload is None else {"type": "connection_init", "payload": payload}

    async with connect(app) as socket:
        # when
        await socket.send(init)

        # then
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive()
    assert closed.value.code == 4403


async def test_subscribing_before_connection_init_is_closed_unauthorized(app: Any, gql: Any) -> None:
    # given
    opportunity = await new_opportunity(gql)

    async with connect(app) as socket:
        # when
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"]})

        # then
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive()
    assert closed.value.code == 4401


async def test_connection_without_init_within_the_timeout_is_closed(settings: Settings, db: Any) -> None:
    # given
    async with app_with(settings, ws_init_timeout_seconds=0.5) as app, connect(app) as socket:
        # when nothing is sent, then
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive(within=5)
    assert closed.value.code == 4408


async def test_legacy_graphql_ws_subprotocol_is_not_offered(app: Any, gql: Any) -> None:
    # given
    token = gql.token("rep1@demo.test")

    async with connect(app, subprotocols=["graphql-ws"]) as socket:
        # when
        await socket.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})

        # then
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive()
        assert socket.ws.subprotocol is None
    assert closed.value.code == 4406


async def test_subscriptions_beyond_the_per_connection_cap_are_refused(
    settings: Settings, db: Any, gql: Any
) -> None:
    # given
    opportunity = await new_opportunity(gql)
    async with app_with(settings, ws_max_subscriptions=2) as app, connect(app, gql.token("rep1@demo.test")) as socket:
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"]})
        await socket.subscribe("2", TIMELINE, {"recordId": opportunity["id"]})
        [first] = await socket.events("1", 1, "recordTimeline")
        [second] = await socket.events("2", 1, "recordTimeline")

        # when
        await socket.subscribe("3", TIMELINE, {"recordId": opportunity["id"]})

        # then
        refused = await socket.message("3")
        assert refused["type"] == "error"
        assert len(refused["payload"]) == 1
        assert first["kind"] == second["kind"] == "created"
        assert await socket.nothing_more(0.5) == []


async def test_connections_beyond_the_per_user_cap_are_refused(settings: Settings, db: Any, gql: Any) -> None:
    # given
    rep1 = gql.token("rep1@demo.test")
    async with app_with(settings, ws_max_connections_per_user=2) as app:
        async with connect(app, rep1), connect(app, rep1):
            async with connect(app) as extra:
                # when
                await extra.send({"type": "connection_init", "payload": {"authorization": f"Bearer {rep1}"}})

                # then
                with pytest.raises(WebSocketDisconnect) as closed:
                    await extra.receive()
            assert closed.value.code == 4403
            async with connect(app, gql.token("rep2@demo.test")):
                pass  # another user has connections of their own

        # and a closed connection frees its place
        async with connect(app, rep1), connect(app, rep1):
            pass


async def test_expired_token_closes_the_socket_and_nothing_follows(
    app: Any, gql: Any, settings: Settings, users: dict
) -> None:
    # given
    opportunity = await new_opportunity(gql)
    token = mint_token(settings, users["rep1@demo.test"], ttl_seconds=3)
    async with connect(app, token) as socket:
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"]})
        [created] = await socket.events("1", 1, "recordTimeline")

        # when the token expires
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.message("1", within=8)

        # then
        assert closed.value.code == 4403
        await move_stage(gql, opportunity, "proposal")
        await app.state.relay.drain()
        with pytest.raises((TimeoutError, WebSocketDisconnect)):
            await socket.receive(within=QUIET)
    assert created["kind"] == "created"


# ---------------------------------------------------------------------------------------------
# Timelines: replay, then live
# ---------------------------------------------------------------------------------------------


async def test_record_timeline_replays_history_then_streams_live_changes_in_order(app: Any, gql: Any) -> None:
    # given
    opportunity = await new_opportunity(gql)
    await move_stage(gql, opportunity, "proposal")
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"]})
        replay = await socket.events("1", 2, "recordTimeline")

        # when another client works on the opportunity
        await move_stage(gql, opportunity, "negotiation", as_="manager@demo.test")
        await comment(gql, opportunity["id"], "Pricing approved", as_="manager@demo.test")
        await log_call(gql, opportunity, "Called the CIO about the rollout")
        await app.state.relay.drain()
        live = await socket.events("1", 3, "recordTimeline")

        # then
        assert await socket.nothing_more() == []
    assert [(e["kind"], e["summary"], e["actor"]["email"]) for e in replay] == [
        ("created", f"Opportunity {opportunity['name']} created in initial_contact", "rep1@demo.test"),
        ("stage_moved", "Stage moved from initial_contact to proposal", "rep1@demo.test"),
    ]
    assert [(e["kind"], e["summary"], e["actor"]["email"]) for e in live] == [
        ("stage_moved", "Stage moved from proposal to negotiation", "manager@demo.test"),
        ("comment", "Comment added", "manager@demo.test"),
        ("interaction", "Call: Called the CIO about the rollout", "rep1@demo.test"),
    ]
    assert live[1]["data"]["body"] == "Pricing approved"
    cursors = [e["cursor"] for e in replay + live]
    assert len(set(cursors)) == len(cursors)


async def test_reconnecting_with_the_last_cursor_delivers_every_missed_event_in_order(app: Any, gql: Any) -> None:
    # given a subscriber that saw the history and one live change, then went away
    opportunity = await new_opportunity(gql)
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"]})
        await socket.events("1", 1, "recordTimeline")
        await move_stage(gql, opportunity, "proposal")
        await app.state.relay.drain()
        [last] = await socket.events("1", 1, "recordTimeline")
    for i in range(50):
        await comment(gql, opportunity["id"], f"missed {i:02d}", as_=("rep1@demo.test", "manager@demo.test")[i % 2])
    await app.state.relay.drain()

    # when
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"], "after": last["cursor"]})
        missed = await socket.events("1", 50, "recordTimeline")
        await comment(gql, opportunity["id"], "live again", as_="manager@demo.test")
        await app.state.relay.drain()
        [live] = await socket.events("1", 1, "recordTimeline")

        # then
        assert await socket.nothing_more() == []
    assert last["kind"] == "stage_moved"
    assert [e["data"]["body"] for e in missed] == [f"missed {i:02d}" for i in range(50)]
    assert live["data"]["body"] == "live again"
    assert len({e["cursor"] for e in [last, *missed, live]}) == 52


async def test_two_people_on_one_opportunity_see_each_others_changes_live(app: Any, gql: Any) -> None:
    # given rep1 and their manager both watching rep1's opportunity
    opportunity = await new_opportunity(gql)
    async with (
        connect(app, gql.token("rep1@demo.test")) as rep1,
        connect(app, gql.token("manager@demo.test")) as manager,
    ):
        for socket in (rep1, manager):
            await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"]})
            await socket.events("1", 1, "recordTimeline")

        # when
        await comment(gql, opportunity["id"], "Customer wants a demo", as_="rep1@demo.test")
        await comment(gql, opportunity["id"], "I'll join the demo", as_="manager@demo.test")
        await move_stage(gql, opportunity, "proposal", as_="manager@demo.test")
        await app.state.relay.drain()
        seen_by_rep1 = await rep1.events("1", 3, "recordTimeline")
        seen_by_manager = await manager.events("1", 3, "recordTimeline")

        # then
        assert await rep1.nothing_more() == []
        assert await manager.nothing_more(0.2) == []
    expected = [
        ("comment", "rep1@demo.test", "Customer wants a demo"),
        ("comment", "manager@demo.test", "I'll join the demo"),
        ("stage_moved", "manager@demo.test", None),
    ]
    for seen in (seen_by_rep1, seen_by_manager):
        assert [(e["kind"], e["actor"]["email"], e["data"].get("body")) for e in seen] == expected
    assert [e["cursor"] for e in seen_by_rep1] == [e["cursor"] for e in seen_by_manager]


async def test_comment_thread_carries_only_comments(app: Any, gql: Any) -> None:
    # given
    opportunity = await new_opportunity(gql)
    first = await comment(gql, opportunity["id"], "First!")
    async with connect(app, gql.token("manager@demo.test")) as socket:
        await socket.subscribe("1", COMMENT_THREAD, {"recordId": opportunity["id"]})
        [replayed] = await socket.events("1", 1, "commentThread")

        # when
        await move_stage(gql, opportunity, "proposal")
        await comment(gql, opportunity["id"], "Second")
        await app.state.relay.drain()
        [live] = await socket.events("1", 1, "commentThread")

        # then
        assert await socket.nothing_more() == []
    assert (replayed["recordId"], replayed["data"]["body"]) == (first, "First!")
    assert (live["kind"], live["data"]["body"]) == ("comment", "Second")


# ---------------------------------------------------------------------------------------------
# Authorization, per event
# ---------------------------------------------------------------------------------------------

OUT_OF_REACH = {
    "peer rep, timeline": ("rep2@demo.test", TIMELINE),
    "peer rep, comment thread": ("rep2@demo.test", COMMENT_THREAD),
    "other org, timeline": ("admin@acme.test", TIMELINE),
    "other org, comment thread": ("rep@acme.test", COMMENT_THREAD),
}


@pytest.mark.parametrize(("email", "query"), OUT_OF_REACH.values(), ids=OUT_OF_REACH.keys())
async def test_subscribing_to_a_record_out_of_reach_is_not_found_and_yields_nothing(
    app: Any, gql: Any, email: str, query: str
) -> None:
    # given rep1's opportunity, with history
    opportunity = await new_opportunity(gql)
    await comment(gql, opportunity["id"], "internal note")
    await app.state.relay.drain()

    async with connect(app, gql.token(email)) as socket:
        # when
        await socket.subscribe("1", query, {"recordId": opportunity["id"]})
        refused = await socket.message("1")
        await comment(gql, opportunity["id"], "another internal note")
        await app.state.relay.drain()

        # then
        assert refused["type"] == "next"
        assert refused["payload"]["data"] is None
        assert error_codes(refused) == ["NOT_FOUND"]
        assert [m["type"] for m in await socket.nothing_more()] == ["complete"]


async def test_change_feed_cuts_fields_the_role_may_not_read(app: Any, gql: Any) -> None:
    # given service (Opportunity.amount denied) and rep1 (the owner) on the opportunity feed
    service_after = await feed_end(gql, app, as_="service@demo.test")
    rep1_after = await feed_end(gql, app, as_="rep1@demo.test")
    async with (
        connect(app, gql.token("service@demo.test")) as service,
        connect(app, gql.token("rep1@demo.test")) as rep1,
    ):
        await service.subscribe("1", CHANGE_FEED, {"types": ["Opportunity"], "after": service_after})
        await rep1.subscribe("1", CHANGE_FEED, {"types": ["Opportunity"], "after": rep1_after})

        # when rep1 creates an opportunity, changes its amount and next step, and moves it
        opportunity = await new_opportunity(gql, amount="880000.00")
        result = await gql(UPDATE_OPPORTUNITY, {"input": {
            "id": opportunity["id"], "version": opportunity["version"], "amount": "990000.00",
            "nextStep": "Send the revised quote"}})
        opportunity["version"] = result["data"]["updateOpportunity"]["opportunity"]["version"]
        await move_stage(gql, opportunity, "proposal")
        await app.state.relay.drain()
        seen_by_service = await service.events("1", 3, "changeFeed")
        seen_by_rep1 = await rep1.events("1", 3, "changeFeed")

    # then
    for seen in (seen_by_service, seen_by_rep1):
        assert [(e["recordId"], e["topic"]) for e in seen] == [
            (opportunity["id"], "opportunity.created"), (opportunity["id"], "opportunity.updated"),
            (opportunity["id"], "opportunity.stage_moved"),
        ]
    created, updated, moved = seen_by_service
    assert "amount" not in created["payload"]
    assert "customFields" not in created["payload"]
    assert created["payload"]["name"] == opportunity["name"]
    assert updated["payload"]["changes"] == {"next_step": [None, "Send the revised quote"]}
    assert "amount" not in moved["payload"]
    created, updated, moved = seen_by_rep1
    assert created["payload"]["amount"] == "880000.00"
    assert [Decimal(v) for v in updated["payload"]["changes"]["amount"]] == [Decimal("880000"), Decimal("990000")]


async def test_timeline_cuts_fields_the_role_may_not_read(app: Any, gql: Any) -> None:
    # given
    opportunity = await new_opportunity(gql, amount="770000.00")
    async with connect(app, gql.token("service@demo.test")) as socket:
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"]})
        [created] = await socket.events("1", 1, "recordTimeline")

        # when
        result = await gql(UPDATE_OPPORTUNITY, {"input": {
            "id": opportunity["id"], "version": opportunity["version"], "amount": "660000.00"}})
        assert result["data"]["updateOpportunity"]["userErrors"] == []
        await app.state.relay.drain()
        [updated] = await socket.events("1", 1, "recordTimeline")

    # then
    assert "amount" not in created["data"]
    assert updated["data"]["changes"] == {}
    assert "660000" not in updated["summary"] and "770000" not in updated["summary"]


async def test_change_feed_never_carries_another_orgs_events(app: Any, gql: Any) -> None:
    # given Acme's admin listening to everything Acme may read
    after = await feed_end(gql, app, as_="admin@acme.test")
    async with connect(app, gql.token("admin@acme.test")) as acme:
        await acme.subscribe("1", CHANGE_FEED, {"after": after})

        # when Demo works
        opportunity = await new_opportunity(gql)
        await move_stage(gql, opportunity, "proposal")
        await comment(gql, opportunity["id"], "Demo-only note")
        await new_customer(gql, as_="admin@demo.test")
        await app.state.relay.drain()

        # then nothing reaches Acme
        assert await acme.nothing_more() == []

        # and Acme's own change does (the feed is live)
        acme_customer = await new_customer(gql, as_="rep@acme.test")
        await app.state.relay.drain()
        [event] = await acme.events("1", 1, "changeFeed")
        assert (event["recordId"], event["topic"]) == (acme_customer, "customer.created")
        assert await acme.nothing_more(0.5) == []


# ---------------------------------------------------------------------------------------------
# Slow subscribers and bad cursors
# ---------------------------------------------------------------------------------------------


async def stalled_subscriber_with_backlog(app: Any, db: Any, gql: Any, users: dict, backlog: int,
                                          ) -> tuple[StalledClient, dict[str, Any]]:
    """(client, opportunity): a client subscribed to the opportunity's timeline that stopped
    reading after the replay while ``backlog`` comments were made on it in one burst."""
    opportunity = await new_opportunity(gql)
    client = StalledClient(app)
    await client.__aenter__()
    await client.send({"type": "connection_init",
                       "payload": {"authorization": f"Bearer {gql.token('rep1@demo.test')}"}})
    assert (await client.receive())["type"] == "connection_ack"
    await client.send({"id": "1", "type": "subscribe",
                       "payload": {"query": TIMELINE, "variables": {"recordId": opportunity["id"]}}})
    assert (await client.receive())["payload"]["data"]["recordTimeline"]["kind"] == "created"
    client.reading.clear()
    _, pk = from_global_id(opportunity["id"])
    rep1 = actor_of(users["rep1@demo.test"])
    async with db.write() as session:
        for i in range(backlog):
            await add_comment(session, rep1, record_type="Opportunity", record_id=pk, body=f"burst {i}")
    await app.state.relay.drain()
    await asyncio.sleep(0.3)  # the broker hands the burst to subscribers
    return client, opportunity


async def test_subscriber_that_stops_reading_gets_a_gap_error(
    app: Any, settings: Settings, db: Any, gql: Any, users: dict
) -> None:
    # given
    async with shared_relay_paused(app), app_with(settings, ws_max_queue=5) as small:
        client, _ = await stalled_subscriber_with_backlog(small, db, gql, users, backlog=100)
        try:
            # when it reads again
            client.reading.set()
            messages = []
            while not messages or messages[-1]["type"] == "next" and "errors" not in messages[-1]["payload"]:
                messages.append(await client.receive())
            ending = [messages.pop()]
            if ending[0]["type"] == "next":
                ending.append(await client.receive())
        finally:
            await client.__aexit__()

    # then
    assert error_codes(ending[0]) == ["SUBSCRIPTION_GAP"]
    assert [m["type"] for m in ending[1:]] == ["complete"]
    assert len(messages) < 100


async def test_stalled_subscriber_buffers_no_more_than_max_queue_events(
    app: Any, settings: Settings, db: Any, gql: Any, users: dict
) -> None:
    # given
    async with shared_relay_paused(app), app_with(settings, ws_max_queue=5) as small:
        client, opportunity = await stalled_subscriber_with_backlog(small, db, gql, users, backlog=100)
        try:
            # when nobody reads, then what the process holds for the subscriber stays bounded
            _, pk = from_global_id(opportunity["id"])
            channel = record_channel(users["rep1@demo.test"].org_id, "Opportunity", pk)
            held = [len(s.queue) for s in small.state.realtime.hub._subscribers.get(channel, ())]
            undelivered = [q.qsize() for q in small.state.broker.broadcast._subscribers.get(channel, ())]
        finally:
            await client.__aexit__()
    assert max(held + undelivered, default=0) <= 5


def tampered(cursor: str) -> str:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    body, mac = raw[:-13], raw[-12:]  # ``body.mac``, the mac 12 bytes that may themselves hold a "."
    org, _, position = body.partition(b":")
    forged = org + b":" + str(int(position) - 1).encode() + b"." + mac
    return base64.urlsafe_b64encode(forged).decode().rstrip("=")


BAD_CURSORS = {
    "tampered position": lambda own, foreign: tampered(own),
    "another org's": lambda own, foreign: foreign,
    "garbage": lambda own, foreign: "bm90LWEtY3Vyc29y",
}


@pytest.mark.parametrize("bad", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
@pytest.mark.parametrize("query", [TIMELINE, COMMENT_THREAD, CHANGE_FEED], ids=["timeline", "thread", "feed"])
async def test_subscribing_after_a_bad_cursor_is_invalid_cursor(app: Any, gql: Any, bad: Any, query: str) -> None:
    # given
    opportunity = await new_opportunity(gql)
    await comment(gql, opportunity["id"], "to have a cursor")
    own = await feed_end(gql, app, as_="rep1@demo.test")
    foreign = await feed_end(gql, app, as_="rep@acme.test")

    async with connect(app, gql.token("rep1@demo.test")) as socket:
        # when
        await socket.subscribe("1", query, {"recordId": opportunity["id"], "after": bad(own, foreign)})

        # then
        refused = await socket.message("1")
        assert refused["payload"]["data"] is None
        assert error_codes(refused) == ["INVALID_CURSOR"]
        assert [m["type"] for m in await socket.nothing_more(0.5)] == ["complete"]
