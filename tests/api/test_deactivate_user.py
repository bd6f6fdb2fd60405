"""An admin deactivates a user who leaves: their open work goes to the successor they name, their tokens
stop working on the next request, and their open websockets close at once (code 4403)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx_ws import WebSocketDisconnect

from tandem.auth import mint_token
from tandem.domain.tenancy.user import user_by_email
from tests.factories.realtime import CHANGE_FEED, app_with, connect, shared_relay_paused

INVITE = "mutation ($i: InviteUserInput!) { inviteUser(input: $i) { user { id } userErrors { code } } }"
DEACTIVATE = ("mutation ($i: DeactivateUserInput!) { deactivateUser(input: $i) { user { id active } "
              "reassigned { recordType count } userErrors { field code message } } }")
MINE = "{ me { email } customers(first: 5) { edges { node { name owner { email } } } } }"


async def _rep(gql: Any, db: Any, settings: Any, name: str) -> tuple[str, str]:
    """A new rep of the demo org: (global id, token)."""
    email = f"{name}.{uuid.uuid4().hex[:8]}@demo.test"
    made = await gql(INVITE, {"i": {"email": email, "name": name, "roles": ["sales_rep"]}}, as_="admin@demo.test")
    assert made["data"]["inviteUser"]["userErrors"] == []
    async with db.read() as session:
        model = await user_by_email(session, email)
    return made["data"]["inviteUser"]["user"]["id"], mint_token(settings, model)


async def _as(client: Any, token: str, query: str, variables: dict | None = None) -> dict:
    response = await client.post("/graphql", headers={"authorization": f"Bearer {token}"},
                                 json={"query": query, "variables": variables or {}})
    assert response.status_code in (200, 401), response.text
    return response.json()


async def test_a_leaving_rep_hands_over_their_customers_and_is_shut_out_at_once(app, gql, db, settings, client):
    # given a rep who created two customers and asked the same question twice (it is kept and answered fast)
    leaver_id, leaver = await _rep(gql, db, settings, "离职销售")
    successor_id, successor = await _rep(gql, db, settings, "接手销售")
    for name in ("华为技术有限公司", "上海浦东发展银行"):
        made = await _as(client, leaver, "mutation ($i: CreateCustomerInput!) { createCustomer(input: $i) "
                                         "{ userErrors { code } } }", {"i": {"name": f"{name}{uuid.uuid4().hex[:4]}"}})
        assert made["data"]["createCustomer"]["userErrors"] == []
    for _ in range(2):
        before = await _as(client, leaver, MINE)
        assert len(before["data"]["customers"]["edges"]) == 2

    async with connect(app, leaver) as socket:
        await socket.subscribe("f", CHANGE_FEED, {})
        # when the admin deactivates them, naming the successor
        done = await gql(DEACTIVATE, {"i": {"id": leaver_id, "transferOwnershipTo": successor_id}},
                         as_="admin@demo.test")
        # then their open websocket is closed, forbidden
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                await socket.receive()
        assert closed.value.code == 4403

    payload = done["data"]["deactivateUser"]
    assert payload["userErrors"] == []
    assert payload["user"] == {"id": leaver_id, "active": False}
    assert payload["reassigned"] == [{"recordType": "Customer", "count": 2}]
    # and their token no longer answers, not even the question that was kept
    after = await _as(client, leaver, MINE)
    assert after.get("data") is None or after["data"].get("me") is None
    assert after["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # and a new websocket of theirs is refused
    async with connect(app) as socket:
        await socket.send({"type": "connection_init", "payload": {"authorization": f"Bearer {leaver}"}})
        with pytest.raises(WebSocketDisconnect) as refused:
            await socket.receive()
    assert refused.value.code == 4403
    # and the successor owns the customers
    theirs = await _as(client, successor, MINE)
    edges = theirs["data"]["customers"]["edges"]
    assert len(edges) == 2 and {e["node"]["owner"]["email"] for e in edges} == {theirs["data"]["me"]["email"]}


async def test_a_user_who_still_owns_work_is_not_deactivated_without_a_successor(gql, db, settings, client):
    leaver_id, leaver = await _rep(gql, db, settings, "张三")
    await _as(client, leaver, "mutation { createLead(input: {name: \"李四\"}) { userErrors { code } } }")
    refused = await gql(DEACTIVATE, {"i": {"id": leaver_id}}, as_="admin@demo.test")
    payload = refused["data"]["deactivateUser"]
    assert payload["user"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["transferOwnershipTo"], "REQUIRED")]
    assert "1 Lead" in payload["userErrors"][0]["message"]
    # and they still work
    assert (await _as(client, leaver, MINE))["data"]["me"] is not None


@pytest.mark.parametrize("who", ["manager@demo.test", "rep1@demo.test", "finance@demo.test"])
async def test_only_an_admin_deactivates(gql, db, settings, client, who):
    target_id, target = await _rep(gql, db, settings, "王五")
    answer = await gql(DEACTIVATE, {"i": {"id": target_id}}, as_=who)
    assert answer["data"] is None or answer["data"]["deactivateUser"] is None
    assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await _as(client, target, MINE))["data"]["me"] is not None


@pytest.mark.parametrize("given", [{"id": "garbage"}, {"id": "VXNlcjox", "transferOwnershipTo": "Q3VzdG9tZXI6MQ=="},
                                   {"id": "VXNlcjo5OTk5OTk5OQ=="}, {"id": None}, {}])
async def test_bad_input_is_refused_specifically(gql, given):
    answer = await gql(DEACTIVATE, {"i": given}, as_="admin@demo.test")
    errors = answer.get("errors") or answer["data"]["deactivateUser"]["userErrors"]
    code = errors[0].get("code") or errors[0]["extensions"]["code"]
    assert code in ("BAD_USER_INPUT", "NOT_FOUND"), answer
    # nothing was deactivated: the demo users still work
    assert (await gql(MINE, as_="rep1@demo.test"))["data"]["me"] is not None


async def test_a_deactivation_made_on_one_app_closes_the_socket_held_by_another(app, gql, db, settings):
    """The admin's request goes to one app, the leaver's socket is held by another on the same database;
    the other's relay publishes (through Redis in the PostgreSQL run) and the socket closes."""
    leaver_id, leaver = await _rep(gql, db, settings, "赵六")
    async with shared_relay_paused(app), app_with(settings) as other, connect(other, leaver) as socket:
        await socket.subscribe("f", CHANGE_FEED, {})
        done = await gql(DEACTIVATE, {"i": {"id": leaver_id}}, as_="admin@demo.test")
        assert done["data"]["deactivateUser"]["userErrors"] == []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                await socket.receive()
        assert closed.value.code == 4403
