"""A policy change made through one process reaches another: two app instances in this test
process (own engines, PolicyStores and brokers) stand for two processes. Instance A's admin denies
sales reps Opportunity.amount; instance B must then hide the amount from a rep: through the version
poll when the brokers are in memory, through the Redis announcement when there is Redis (even with
no poll at all), and still after Redis dropped the pub/sub connections."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from redis import asyncio as aioredis

from tandem.app import create_app
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.schema.node import to_global_id
from tests.conftest import GraphQLClient, actor_of
from tests.factories.waiting import eventually, quiet_for

REDIS_URL = os.environ.get("TANDEM_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="the announcement travels through Redis: "
                                                       "set TANDEM_TEST_REDIS_URL")

NEVER = 1e9
"""A poll interval no process outlives (nor any host's uptime): only an invalidation makes B re-read."""

AMOUNT = "query ($id: ID!) { opportunity(id: $id) { amount } }"

DENY_AMOUNT = """
mutation {
  setPermission(input: {role: "sales_rep", resource: "Opportunity.amount", action: "read", effect: DENY}) {
    policyVersion userErrors { field code }
  }
}"""


@dataclass
class Org:
    users: dict[str, User]
    opportunity: str


@dataclass
class Instance:
    app: Any
    gql: GraphQLClient


@pytest.fixture
async def org(db) -> Org:
    """A fresh org (default policy, seeded on its first request): an admin, and a rep with a deal."""
    tag = uuid.uuid4().hex[:10]
    async with db.write() as session:
        org = await create_org(session, f"Reload Org {tag}", "CNY")
        admin = await create_user(session, org.id, email=f"admin-{tag}@reload.test", name="Admin", roles=["admin"])
        rep = await create_user(session, org.id, email=f"rep-{tag}@reload.test", name="Rep", roles=["sales_rep"])
        customer = await create_customer(session, actor_of(rep), CustomerInput(name=f"Reload customer {tag}"))
        opportunity = await create_opportunity(session, actor_of(rep), OpportunityInput(
            customer_id=customer.id, name=f"Reload deal {tag}", amount=Decimal("1000.00")))
    return Org(users={"admin": admin, "rep": rep}, opportunity=to_global_id("Opportunity", opportunity.id))


@asynccontextmanager
async def instance(settings, org: Org, **overrides: Any) -> AsyncIterator[Instance]:
    """One more "process": its own app, lifespan (broker, policy subscription) and HTTP client."""
    app = create_app(settings.model_copy(update=overrides))
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tandem.test") as http):
        yield Instance(app, GraphQLClient(http, settings, org.users))


async def amount_for_rep(at: Instance, org: Org) -> dict[str, Any]:
    return await at.gql(AMOUNT, {"id": org.opportunity}, as_="rep")


def amount_hidden(result: dict[str, Any]) -> bool:
    """The amount came back null, reported once as FORBIDDEN_FIELD."""
    errors = [(e["extensions"], e.get("path")) for e in result.get("errors", [])]
    return result.get("data") == {"opportunity": {"amount": None}} and errors == [
        ({"code": "FORBIDDEN_FIELD", "field": "Opportunity.amount"}, ["opportunity", "amount"])]


async def amount_becomes_hidden(at: Instance, org: Org, *, within: float) -> dict[str, Any]:
    """Ask as the rep until the amount is hidden (failing after ``within`` seconds); that answer."""
    answers: list[dict[str, Any]] = []

    async def hidden() -> bool:
        answers.append(await amount_for_rep(at, org))
        return amount_hidden(answers[-1])

    await eventually(hidden, within=within, every=0.05,
                     what=lambda: f"the amount to be hidden from the rep (last answer: {answers[-1]})")
    return answers[-1]


async def deny_amount(at: Instance) -> None:
    result = await at.gql(DENY_AMOUNT, as_="admin")
    assert "errors" not in result, result
    assert result["data"]["setPermission"]["userErrors"] == []


VISIBLE = {"data": {"opportunity": {"amount": "1000.00"}}}


async def test_change_reaches_another_process_through_the_version_poll(settings, org):
    # given: two processes with in-memory brokers (no announcement crosses), B polling every 0.5 s
    poll = 0.5
    async with (instance(settings, org, redis_url=None, policy_poll_seconds=poll) as a,
                instance(settings, org, redis_url=None, policy_poll_seconds=poll) as b):
        assert await amount_for_rep(b, org) == VISIBLE  # B has the policy cached
        # when
        await deny_amount(a)
        # then
        result_a = await amount_for_rep(a, org)
        assert amount_hidden(result_a), result_a  # the process that made the change: at once
        result = await amount_becomes_hidden(b, org, within=poll + 3.0)
        assert amount_hidden(result), result


@needs_redis
async def test_change_reaches_another_process_through_redis_at_once(settings, org):
    # given: both on Redis, never polling, so only the announcement can tell B
    async with (instance(settings, org, redis_url=REDIS_URL, policy_poll_seconds=NEVER) as a,
                instance(settings, org, redis_url=REDIS_URL, policy_poll_seconds=NEVER) as b):
        assert await amount_for_rep(b, org) == VISIBLE
        # when
        await deny_amount(a)
        # then
        result = await amount_becomes_hidden(b, org, within=3.0)
        assert amount_hidden(result), result


@needs_redis
async def test_change_reaches_another_process_after_redis_dropped_its_subscription(settings, org):
    # given
    async with (instance(settings, org, redis_url=REDIS_URL, policy_poll_seconds=NEVER) as a,
                instance(settings, org, redis_url=REDIS_URL, policy_poll_seconds=NEVER) as b):
        assert await amount_for_rep(b, org) == VISIBLE
        backend = b.app.state.broker.redis
        reconnects = backend.reconnects
        # when: Redis drops every pub/sub connection, and the change is made right away
        redis = aioredis.from_url(REDIS_URL)
        try:
            killed = await redis.client_kill_filter(_type="pubsub")
        finally:
            await redis.aclose()
        await deny_amount(a)
        # then
        assert killed >= 2  # A's and B's subscriptions at least
        await eventually(lambda: backend.reconnects > reconnects, within=10.0, what="B's broker to resubscribe")
        result = await amount_becomes_hidden(b, org, within=5.0)
        assert amount_hidden(result), result


async def test_without_an_announcement_the_poll_interval_holds(settings, org):
    # given: in-memory brokers and no poll: B learns of nothing but its own changes
    async with (instance(settings, org, redis_url=None, policy_poll_seconds=NEVER) as a,
                instance(settings, org, redis_url=None, policy_poll_seconds=NEVER) as b):
        assert await amount_for_rep(b, org) == VISIBLE
        # when
        await deny_amount(a)
        await quiet_for(0.5)
        # then: the cache is trusted for the interval (what TANDEM_POLICY_POLL_SECONDS promises), until
        # something invalidates it
        assert await amount_for_rep(b, org) == VISIBLE
        b.app.state.policies.invalidate(org.users["rep"].org_id)
        assert amount_hidden(await amount_for_rep(b, org))
