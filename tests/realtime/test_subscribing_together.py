"""Connections and subscriptions opening at once share their lookups (realtime/batches.py: the user of
each token, whether the record is visible, the replay) but never an answer: each subscriber is let in or
refused by what it may see when it asks, however many ask with it and whatever was asked before."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from httpx_ws import WebSocketDisconnect
from sqlalchemy import delete, update

from tandem.auth import mint_token
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.sharing import RecordShare, share_record
from tandem.domain.tenancy.user import User, create_user
from tandem.schema.node import to_global_id
from tests.conftest import actor_of
from tests.factories.realtime import TIMELINE, connect

SET_PERMISSION = """
mutation ($input: SetPermissionInput!) {
  setPermission(input: $input) { policyVersion userErrors { field code } }
}"""


@dataclass
class Team:
    org_id: int
    users: dict[str, User]
    opportunity_id: int
    start: str
    """A cursor before the org's first event (``changeEvents`` of the empty org ended there)."""

    @property
    def opportunity(self) -> str:
        return to_global_id("Opportunity", self.opportunity_id)


@pytest.fixture
async def team(db: Any, app: Any) -> Team:
    """A fresh org: an admin, two reps (own scope) and two finance users (org scope); rep_a owns an
    opportunity whose creation is published (the one entry a timeline subscriber replays)."""
    tag = uuid.uuid4().hex[:10]
    async with db.write() as session:
        org = await create_org(session, f"Together {tag}")
        users = {key: await create_user(session, org.id, email=f"{key}.{tag}@together.test", name=f"{key} {tag}",
                                        roles=[role])
                 for key, role in [("admin", "admin"), ("rep_a", "sales_rep"), ("rep_b", "sales_rep"),
                                   ("finance_a", "finance"), ("finance_b", "finance")]}
        rep = actor_of(users["rep_a"])
        customer = await create_customer(session, rep, CustomerInput(name=f"Customer {tag}"))
        opportunity = await create_opportunity(session, rep, OpportunityInput(
            customer_id=customer.id, name=f"Deal {tag}", amount=Decimal("42000.00"), currency="CNY"))
    await app.state.relay.drain()
    return Team(org.id, users, opportunity.id, app.state.realtime.cursors.encode(org.id, 0))


async def first_answer(app: Any, settings: Any, user: User, team: Team) -> tuple[str, Any]:
    """Subscribe to the opportunity's timeline as ``user``, after the org's start: ("next", the replayed
    entry's kind) or ("error", the error's code)."""
    async with connect(app, mint_token(settings, user)) as socket:
        await socket.subscribe("1", TIMELINE, {"recordId": team.opportunity, "after": team.start})
        message = await socket.message("1")
    assert message["type"] == "next", message
    if "errors" in message["payload"]:
        [error] = message["payload"]["errors"]
        return "error", error["extensions"]["code"]
    return "next", message["payload"]["data"]["recordTimeline"]["kind"]


async def test_subscribers_opening_at_once_are_each_let_in_by_the_rows_they_see(app, settings, team):
    # given rep_a owns the opportunity, rep_b (own scope) does not, finance sees the org's
    users = team.users
    who = ["rep_b", "finance_a", "rep_a", "finance_b", "rep_b", "finance_a", "rep_a", "rep_b"]

    # when they all subscribe at once
    answers = await asyncio.gather(*(first_answer(app, settings, users[key], team) for key in who))

    # then
    assert dict(zip(who, answers, strict=True)) == {
        "rep_a": ("next", "created"), "finance_a": ("next", "created"),
        "finance_b": ("next", "created"), "rep_b": ("error", "NOT_FOUND")}
    assert [a for k, a in zip(who, answers, strict=True) if k == "rep_b"] == [("error", "NOT_FOUND")] * 3


async def test_a_share_lets_the_next_subscription_in_and_its_removal_keeps_the_next_out(app, settings, db, team):
    # given rep_b is refused
    rep_b = team.users["rep_b"]
    assert await first_answer(app, settings, rep_b, team) == ("error", "NOT_FOUND")

    # when rep_a shares the opportunity with rep_b
    async with db.write() as session:
        await share_record(session, actor_of(team.users["rep_a"]), record_type="Opportunity",
                           record_id=team.opportunity_id, user_id=rep_b.id, team_id=None)
    shared = await first_answer(app, settings, rep_b, team)
    # and when the share is removed
    async with db.write() as session:
        await session.execute(delete(RecordShare).where(RecordShare.org_id == team.org_id))
    unshared = await first_answer(app, settings, rep_b, team)

    # then
    assert shared == ("next", "created")
    assert unshared == ("error", "NOT_FOUND")


async def test_a_role_denied_the_org_read_is_refused_on_its_next_subscription(app, settings, client, team):
    # given finance_a is let in
    users = team.users
    assert await first_answer(app, settings, users["finance_a"], team) == ("next", "created")

    # when the org's admin denies finance the org-wide read of opportunities
    response = await client.post("/graphql", json={"query": SET_PERMISSION, "variables": {"input": {
        "role": "finance", "resource": "Opportunity", "action": "read:org", "effect": "DENY"}}},
        headers={"authorization": f"Bearer {mint_token(settings, users['admin'])}"})
    assert response.json()["data"]["setPermission"]["userErrors"] == [], response.text
    answers = await asyncio.gather(*(first_answer(app, settings, users[key], team)
                                     for key in ("finance_a", "finance_b", "rep_a")))

    # then finance is refused, the owner still let in
    assert answers == [("error", "NOT_FOUND"), ("error", "NOT_FOUND"), ("next", "created")]


async def test_a_user_deactivated_is_refused_on_the_next_connection(app, settings, db, team):
    # given finance_a connects
    finance = team.users["finance_a"]
    assert await first_answer(app, settings, finance, team) == ("next", "created")

    # when the user is deactivated and connects again (its token still valid)
    async with db.write() as session:
        await session.execute(update(User).where(User.id == finance.id).values(active=False))
    async with connect(app) as socket:
        await socket.send({"type": "connection_init",
                           "payload": {"authorization": f"Bearer {mint_token(settings, finance)}"}})

        # then
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive()
    assert closed.value.code == 4403
