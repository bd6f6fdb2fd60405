"""Subscriptions over the websocket (graphql-transport-ws), as a front end sees them: who may connect,
the caps, live timelines (replaying after a cursor first), query-then-subscribe, reconnecting with a
cursor, and per-event authorization."""

from __future__ import annotations

import asyncio
import base64
from decimal import Decimal
from typing import Any

import pytest
from httpx_ws import WebSocketDisconnect
from sqlalchemy import select

from tandem.auth import mint_token
from tandem.domain.collaboration.comment import add_comment
from tandem.domain.shared import outbox
from tandem.realtime.channels import record_channel
from tandem.schema.node import from_global_id
from tandem.settings import Settings
from tests.conftest import actor_of
from tests.factories.api.crm import log_call, move_stage, new_customer, new_opportunity, post_comment
from tests.factories.realtime import (
    CHANGE_FEED,
    COMMENT_THREAD,
    QUIET,
    TIMELINE,
    StalledClient,
    app_with,
    connect,
    error_codes,
    feed_end,
    shared_relay_paused,
    subscribe_live,
)
from tests.factories.waiting import eventually

COMMENT_EVENTS = """
query ($after: String) {
  changeEvents(after: $after, first: 7, types: ["Comment"]) { endCursor hasMore events { recordId } }
}"""

UPDATE_OPPORTUNITY = """
mutation ($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id version } userErrors { field code } }
}"""

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
    app: Any, settings: Settings, db: Any, gql: Any
) -> None:
    # given
    start = await feed_end(gql, app, as_="rep1@demo.test")
    opportunity = await new_opportunity(gql)
    async with (
        app_with(settings, ws_max_subscriptions=2) as capped,
        connect(capped, gql.token("rep1@demo.test")) as socket,
    ):
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"], "after": start})
        await socket.subscribe("2", TIMELINE, {"recordId": opportunity["id"], "after": start})
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
        await subscribe_live(app, socket, "1", TIMELINE, {"recordId": opportunity["id"]})

        # when the token expires
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.message("1", within=8)

        # then
        assert closed.value.code == 4403
        await move_stage(gql, opportunity, "proposal")
        await app.state.relay.drain()
        with pytest.raises((TimeoutError, WebSocketDisconnect)):
            await socket.receive(within=QUIET)


# ---------------------------------------------------------------------------------------------
# Timelines: live, or replay after a cursor then live
# ---------------------------------------------------------------------------------------------


async def test_a_subscription_without_after_starts_live(app: Any, gql: Any) -> None:
    # given an opportunity with history
    opportunity = await new_opportunity(gql)
    await move_stage(gql, opportunity, "proposal")
    await post_comment(gql, opportunity["id"], "Before anyone listened")
    await app.state.relay.drain()
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        await subscribe_live(app, socket, "1", TIMELINE, {"recordId": opportunity["id"]})
        await subscribe_live(app, socket, "2", CHANGE_FEED, {"types": ["Opportunity"]})
        old = await socket.nothing_more(0.5)

        # when
        await move_stage(gql, opportunity, "negotiation", as_="manager@demo.test")
        await app.state.relay.drain()
        [entry] = await socket.events("1", 1, "recordTimeline")
        [change] = await socket.events("2", 1, "changeFeed")

        # then
        assert await socket.nothing_more() == []
    assert old == []
    assert (entry["kind"], entry["summary"]) == ("stage_moved", "Stage moved from proposal to negotiation")
    assert (change["topic"], change["recordId"]) == ("opportunity.stage_moved", opportunity["id"])


async def test_query_then_subscribe_delivers_every_event_exactly_once(app: Any, gql: Any) -> None:
    # given a writer commenting on an opportunity all along
    opportunity = await new_opportunity(gql)
    start = await feed_end(gql, app, as_="rep1@demo.test")
    written: list[str] = []

    async def writer() -> None:
        for i in range(60):
            written.append(await post_comment(gql, opportunity["id"], f"note {i:02d}"))
            await asyncio.sleep(0.005)

    writing = asyncio.create_task(writer())
    try:
        await eventually(lambda: len(written) >= 10, what="the first comments")
        await app.state.relay.drain()

        # when a client reads the history, then subscribes from the end of what it read
        queried, after = [], start
        while True:
            page = (await gql(COMMENT_EVENTS, {"after": after}))["data"]["changeEvents"]
            queried += [e["recordId"] for e in page["events"]]
            after = page["endCursor"]
            if not page["hasMore"]:
                break
        async with connect(app, gql.token("rep1@demo.test")) as socket:
            await socket.subscribe("1", CHANGE_FEED, {"types": ["Comment"], "after": after})
            await writing
            await app.state.relay.drain()
            live = [e["recordId"] for e in await socket.events("1", len(written) - len(queried), "changeFeed")]

            # then
            assert await socket.nothing_more() == []
    finally:
        await writing
    assert queried and len(queried) < len(written)
    assert queried + live == written


async def test_record_timeline_replays_after_the_cursor_then_streams_live_changes_in_order(
    app: Any, gql: Any
) -> None:
    # given
    start = await feed_end(gql, app, as_="rep1@demo.test")
    opportunity = await new_opportunity(gql)
    await move_stage(gql, opportunity, "proposal")
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"], "after": start})
        replay = await socket.events("1", 2, "recordTimeline")

        # when another client works on the opportunity
        await move_stage(gql, opportunity, "negotiation", as_="manager@demo.test")
        await post_comment(gql, opportunity["id"], "Pricing approved", as_="manager@demo.test")
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


async def test_a_long_replay_is_authorized_and_rendered_a_batch_at_a_time_and_cut_for_each_reader(
    app: Any, db: Any, gql: Any, users: dict
) -> None:
    # given 1,200 repricings of an opportunity, committed before anyone listened
    opportunity = await new_opportunity(gql)
    start = await feed_end(gql, app, as_="rep1@demo.test")
    _, pk = from_global_id(opportunity["id"])
    rep1 = actor_of(users["rep1@demo.test"])
    async with db.write() as session:
        for i in range(1200):
            outbox.record_event(session, rep1, org_id=rep1.org_id, topic="opportunity.updated",
                                record_type="Opportunity", record_id=pk, operation="update",
                                payload={"id": pk, "version": i + 2, "changes": {
                                    "amount": [f"{100_000 + i}.00", f"{100_001 + i}.00"],
                                    "nextStep": [None, f"step {i}"]}})

    async def all_positioned() -> bool:
        await app.state.relay.drain()
        async with db.read() as session:
            return await session.scalar(select(outbox.OutboxEvent.id).where(
                outbox.OutboxEvent.position.is_(None)).limit(1)) is None

    await eventually(all_positioned, what="the relay to position the repricings")
    renders = app.state.realtime.renders

    # when the owner and service (Opportunity.amount denied) replay the timeline from before them
    seen = {}
    for email in ("rep1@demo.test", "service@demo.test"):
        rendered_before = renders.rendered
        async with connect(app, gql.token(email)) as socket:
            await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"], "after": start})
            seen[email] = await socket.events("1", 1200, "recordTimeline")
            assert await socket.nothing_more(0.5) == []
        seen[email, "renderings"] = renders.rendered - rendered_before

    # then each gets every one in order, each cut for them, rendered by batches of 500 (500, 500, 200)
    assert [e["data"]["changes"]["nextStep"] for e in seen["rep1@demo.test"]] == [[None, f"step {i}"]
                                                                                  for i in range(1200)]
    assert seen["rep1@demo.test"][-1]["data"]["changes"]["amount"] == ["101199.00", "101200.00"]
    assert [e["data"]["changes"] for e in seen["service@demo.test"]] == [{"nextStep": [None, f"step {i}"]}
                                                                        for i in range(1200)]
    assert seen["rep1@demo.test", "renderings"] == seen["service@demo.test", "renderings"] == 3


async def test_reconnecting_with_the_last_cursor_delivers_every_missed_event_in_order(app: Any, gql: Any) -> None:
    # given a subscriber that saw one live change, then went away
    opportunity = await new_opportunity(gql)
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        await subscribe_live(app, socket, "1", TIMELINE, {"recordId": opportunity["id"]})
        await move_stage(gql, opportunity, "proposal")
        await app.state.relay.drain()
        [last] = await socket.events("1", 1, "recordTimeline")
    for i in range(50):
        author = ("rep1@demo.test", "manager@demo.test")[i % 2]
        await post_comment(gql, opportunity["id"], f"missed {i:02d}", as_=author)
    await app.state.relay.drain()

    # when
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"], "after": last["cursor"]})
        missed = await socket.events("1", 50, "recordTimeline")
        await post_comment(gql, opportunity["id"], "live again", as_="manager@demo.test")
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
            await subscribe_live(app, socket, "1", TIMELINE, {"recordId": opportunity["id"]})

        # when
        await post_comment(gql, opportunity["id"], "Customer wants a demo", as_="rep1@demo.test")
        await post_comment(gql, opportunity["id"], "I'll join the demo", as_="manager@demo.test")
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
    start = await feed_end(gql, app, as_="manager@demo.test")
    first = await post_comment(gql, opportunity["id"], "First!")
    async with connect(app, gql.token("manager@demo.test")) as socket:
        await socket.subscribe("1", COMMENT_THREAD, {"recordId": opportunity["id"], "after": start})
        [replayed] = await socket.events("1", 1, "commentThread")

        # when
        await move_stage(gql, opportunity, "proposal")
        await post_comment(gql, opportunity["id"], "Second")
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
    await post_comment(gql, opportunity["id"], "internal note")
    await app.state.relay.drain()

    async with connect(app, gql.token(email)) as socket:
        # when
        await socket.subscribe("1", query, {"recordId": opportunity["id"]})
        refused = await socket.message("1")
        await post_comment(gql, opportunity["id"], "another internal note")
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
    start = await feed_end(gql, app, as_="service@demo.test")
    opportunity = await new_opportunity(gql, amount="770000.00")
    async with connect(app, gql.token("service@demo.test")) as socket:
        await socket.subscribe("1", TIMELINE, {"recordId": opportunity["id"], "after": start})
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
        await post_comment(gql, opportunity["id"], "Demo-only note")
        await new_customer(gql, as_="admin@demo.test")
        await app.state.relay.drain()

        # then nothing reaches Acme
        assert await acme.nothing_more() == []

        # and Acme's own change does (the feed is live)
        acme_customer = (await new_customer(gql, as_="rep@acme.test"))["id"]
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
    reading once live while ``backlog`` comments were made on it in one burst."""
    opportunity = await new_opportunity(gql)
    client = StalledClient(app)
    await client.__aenter__()
    await client.send({"type": "connection_init",
                       "payload": {"authorization": f"Bearer {gql.token('rep1@demo.test')}"}})
    assert (await client.receive())["type"] == "connection_ack"
    await subscribe_live(app, client, "1", TIMELINE, {"recordId": opportunity["id"]})
    client.reading.clear()
    _, pk = from_global_id(opportunity["id"])
    rep1 = actor_of(users["rep1@demo.test"])
    async with db.write() as session:
        for i in range(backlog):
            await add_comment(session, rep1, record_type="Opportunity", record_id=pk, body=f"burst {i}")
    await app.state.relay.drain()
    channel = record_channel(rep1.org_id, "Opportunity", pk)
    await eventually(lambda: not app.state.realtime.hub.subscribers(channel),
                     what="the burst to overflow the subscriber's queue and cut it off")
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
    await post_comment(gql, opportunity["id"], "to have a cursor")
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
