"""Two app processes (two uvicorn servers on their own ports) sharing one PostgreSQL database and one
Redis: a mutation on one server reaches a subscriber on the other, and with a relay in each process
every event is published once and delivered once.

Only the PostgreSQL + Redis run can show this. On the embedded default (SQLite, in-memory broker) the
relay runs in-process and the broker does not cross processes, so there is nothing to check there."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import asyncio as aioredis
from sqlalchemy import select
from websockets.asyncio.client import connect

from tandem.auth import mint_token
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.shared import outbox
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.realtime.channels import feed_channel
from tandem.realtime.cursor import FeedCursors
from tandem.schema.node import from_global_id, to_global_id
from tests.conftest import PG_URL, REDIS_URL, actor_of
from tests.factories.servers import free_port
from tests.factories.waiting import eventually

pytestmark = pytest.mark.skipif(
    not (PG_URL and REDIS_URL),
    reason="needs TANDEM_TEST_DATABASE_URL and TANDEM_TEST_REDIS_URL: processes share PostgreSQL and Redis")

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 20.0
BURST = 30
TEST_BUDGET = 60.0
"""Bound on a whole test, so a hang fails it instead of stalling the run."""

TIMELINE = """
subscription ($recordId: ID!, $after: String) {
  recordTimeline(recordId: $recordId, after: $after) { cursor eventId kind }
}"""

ADD_COMMENT = """
mutation ($input: AddCommentInput!) {
  addComment(input: $input) { comment { id } userErrors { field code } }
}"""


# --- two servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def launch(database_url: str, log: Path) -> Server:
    port = free_port()
    env = {**os.environ, "TANDEM_DATABASE_URL": database_url, "TANDEM_REDIS_URL": REDIS_URL or "",
           "TANDEM_LOG_LEVEL": "WARNING", "TANDEM_RELAY_IDLE_SECONDS": "0.5"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tandem.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(port, process, log)


async def ready(server: Server) -> None:
    async with httpx.AsyncClient(timeout=2) as http:

        async def answers() -> bool:
            assert server.process.poll() is None, server.log.read_text()
            try:
                return (await http.get(f"{server.http}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(answers, within=30.0, every=0.1,
                         what=lambda: f"server on {server.port} to be ready:\n{server.log.read_text()}")


@pytest.fixture(scope="module")
def two_servers(database_url: str, db: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two uvicorn processes on the test database (migrated and seeded by ``db``) and the test Redis."""
    logs = tmp_path_factory.mktemp("servers")
    servers: list[Server] = []
    try:
        for n in (1, 2):
            servers.append(launch(database_url, logs / f"server{n}.log"))
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
async def servers(two_servers: list[Server]) -> list[Server]:
    await asyncio.gather(*(ready(s) for s in two_servers))
    return two_servers


# --- a tenant, a subscriber, the outbox's truth --------------------------------------------------


@dataclass
class Tenant:
    org_id: int
    rep: User
    opportunity_id: int
    token: str
    start: str
    """A cursor before the org's first event (``changeEvents`` of the empty org ended there)."""

    @property
    def opportunity(self) -> str:
        return to_global_id("Opportunity", self.opportunity_id)


async def new_tenant(db: Any, settings: Any) -> Tenant:
    async with db.write() as session:
        org = await create_org(session, f"Two processes {uuid.uuid4().hex[:8]}")
        rep = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@procs.test", name="Rep",
                                roles=["sales_rep"])
        customer = await create_customer(session, actor_of(rep), CustomerInput(name="Customer"))
        opportunity = await create_opportunity(session, actor_of(rep), OpportunityInput(
            customer_id=customer.id, name="Deal", amount=Decimal("1000.00"), currency="CNY"))
    return Tenant(org.id, rep, opportunity.id, mint_token(settings, rep),
                  FeedCursors(settings.jwt_secret).encode(org.id, 0))


async def all_published(db: Any, tenant: Tenant) -> None:
    async def nothing_pending() -> bool:
        async with db.read() as session:
            return await session.scalar(select(OutboxEvent.id).where(
                OutboxEvent.org_id == tenant.org_id, OutboxEvent.published_at.is_(None)).limit(1)) is None

    await eventually(nothing_pending, within=DEADLINE, every=0.05, what="the relays to publish everything")


async def timeline_event_ids(db: Any, tenant: Tenant) -> list[int]:
    async with db.read() as session:
        rows = await outbox.events_after(session, tenant.org_id, 0, limit=10_000,
                                         timeline=("Opportunity", tenant.opportunity_id))
    return [r.id for r in rows]


class Timeline:
    """A recordTimeline subscription on one server, over a real websocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.entries: list[dict[str, Any]] = []

    @property
    def event_ids(self) -> list[int]:
        return [from_global_id(e["eventId"])[1] for e in self.entries]

    async def receive_at_least(self, count: int) -> None:
        async with asyncio.timeout(DEADLINE):
            while len(self.entries) < count:
                message = json.loads(await self.ws.recv())
                if message["type"] == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                    continue
                assert message["type"] == "next", message
                assert "errors" not in message["payload"], message
                self.entries.append(message["payload"]["data"]["recordTimeline"])


async def subscribe(stack: AsyncExitStack, server: Server, tenant: Tenant) -> Timeline:
    ws = await stack.enter_async_context(connect(server.ws, subprotocols=["graphql-transport-ws"], open_timeout=10))
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {tenant.token}"}}))
    async with asyncio.timeout(DEADLINE):
        ack = json.loads(await ws.recv())
    assert ack["type"] == "connection_ack", ack
    await ws.send(json.dumps({"id": "1", "type": "subscribe",
                              "payload": {"query": TIMELINE, "variables": {"recordId": tenant.opportunity,
                                                                           "after": tenant.start}}}))
    return Timeline(ws)


class FeedTap:
    """A raw Redis subscriber to the org's feed channel: counts what the relays publish."""

    def __init__(self, client: Any, pubsub: Any, channel: str) -> None:
        self.client, self.pubsub, self.channel = client, pubsub, channel

    async def published_so_far(self) -> list[int]:
        """Event ids published on the channel up to now (publishes a marker and reads until it)."""
        marker = uuid.uuid4().hex
        await self.client.publish(self.channel, json.dumps({"marker": marker}))
        ids = []
        async with asyncio.timeout(DEADLINE):
            while True:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                data = json.loads(message["data"])
                if data.get("marker") == marker:
                    return ids
                ids.append(data["id"])


async def feed_tap(stack: AsyncExitStack, org_id: int) -> FeedTap:
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    stack.push_async_callback(client.aclose)
    pubsub = client.pubsub()
    stack.push_async_callback(pubsub.aclose)
    await pubsub.subscribe(feed_channel(org_id))
    return FeedTap(client, pubsub, feed_channel(org_id))


async def add_comment(http: httpx.AsyncClient, server: Server, tenant: Tenant, body: str) -> None:
    response = await http.post(f"{server.http}/graphql", headers={"authorization": f"Bearer {tenant.token}"},
                               json={"query": ADD_COMMENT,
                                     "variables": {"input": {"recordId": tenant.opportunity, "body": body}}})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["addComment"]["userErrors"] == [], response.text


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    """Closes the test's websockets and Redis connections, last opened first."""
    async with AsyncExitStack() as s:
        yield s


# --- tests ---------------------------------------------------------------------------------------


async def test_a_mutation_on_one_server_reaches_a_subscriber_on_the_other(servers, db, settings, stack):
    async with asyncio.timeout(TEST_BUDGET):
        # given a subscriber on server 2 that has replayed the opportunity's timeline
        first, second = servers
        tenant = await new_tenant(db, settings)
        timeline = await subscribe(stack, second, tenant)
        await all_published(db, tenant)
        await timeline.receive_at_least(1)
        # when someone comments through server 1
        async with httpx.AsyncClient(timeout=10) as http:
            await add_comment(http, first, tenant, "Seen from the other server?")
        # then
        await timeline.receive_at_least(2)
        assert [e["kind"] for e in timeline.entries] == ["created", "comment"]
        assert timeline.event_ids == await timeline_event_ids(db, tenant)


async def test_a_burst_across_both_servers_is_published_once_and_delivered_once(servers, db, settings, stack):
    async with asyncio.timeout(TEST_BUDGET):
        # given subscribers on both servers and a tap on Redis
        tenant = await new_tenant(db, settings)
        await all_published(db, tenant)
        feed = await feed_tap(stack, tenant.org_id)
        subscribers = [await subscribe(stack, server, tenant) for server in servers]
        for timeline in subscribers:
            await timeline.receive_at_least(1)
        # when 30 comments arrive at once, alternating between the servers
        async with httpx.AsyncClient(timeout=20) as http:
            await asyncio.gather(*(add_comment(http, servers[n % 2], tenant, f"burst {n}") for n in range(BURST)))
        await all_published(db, tenant)
        expected = await timeline_event_ids(db, tenant)
        for timeline in subscribers:
            await timeline.receive_at_least(len(expected))
        published = await feed.published_so_far()
        # then every event went out once, and each subscriber got each once, in order
        assert len(expected) == 1 + BURST
        assert sorted(published) == sorted(expected[1:])
        for timeline in subscribers:
            assert timeline.event_ids == expected
