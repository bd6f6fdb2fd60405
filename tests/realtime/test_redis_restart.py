"""A live timeline survives its broker going away: Redis is stopped mid-stream and started again (a
redis-server of the test's own, on its own port) while events keep coming, and the subscriber still
receives every event exactly once, in order. Pub/sub loses what is published while Redis is down; the
Redis backend tells streams it reconnected and they replay those events from the outbox.

Without Redis the same guarantee is checked on the in-memory broker: doorbells are lost (published
where nobody listens) and the stream is told the broker reconnected, exactly what the Redis backend
does once it has subscribed again.

Each test has a database and an app of its own, so its relay is the only one publishing its events."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from broadcaster import Broadcast
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.app import create_app
from tandem.auth import mint_token
from tandem.db import Database, create_engine
from tandem.domain.collaboration.comment import add_comment
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.shared import outbox
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.migrate import upgrade
from tandem.realtime.channels import record_channel
from tandem.realtime.redis_backend import RECONNECTED
from tandem.realtime.relay import Relay
from tandem.schema.node import from_global_id, to_global_id
from tandem.settings import Settings
from tests.conftest import PG_URL, REDIS_URL, actor_of
from tests.factories.servers import free_port, wait_for_redis
from tests.factories.waiting import eventually

DEADLINE = 20.0
"""Bound on any wait: Redis reconnects with backoff, so allow a few seconds more than usual."""

TEST_BUDGET = 60.0
"""Bound on a whole test, so a hang fails it instead of stalling the run."""

TIMELINE = """
subscription ($recordId: ID!, $after: String) {
  recordTimeline(recordId: $recordId, after: $after) { cursor eventId kind }
}"""


# --- a database, an app, a redis-server and a subscriber of the test's own ------------------------


@pytest.fixture
async def private_settings(settings: Settings) -> AsyncIterator[Settings]:
    """Settings for a migrated database of the test's own (SQLite file, or a PostgreSQL database)."""
    with tempfile.TemporaryDirectory() as tmp:
        name = f"tandem_redis_{uuid.uuid4().hex[:12]}"
        if PG_URL:
            url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
            admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'redis.db'}"
        own = settings.model_copy(update={"database_url": url, "relay_idle_seconds": 0.2})
        engine = create_engine(own)
        try:
            await upgrade(engine)
            await engine.dispose()
            yield own
        finally:
            if PG_URL:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()


class RedisServer:
    """A redis-server process on its own port, stopped and started by the test."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_redis(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@dataclass
class Tenant:
    org_id: int
    rep: User
    opportunity_id: int

    @property
    def opportunity(self) -> str:
        return to_global_id("Opportunity", self.opportunity_id)


async def new_tenant(db: Database) -> Tenant:
    async with db.write() as session:
        org = await create_org(session, f"Redis org {uuid.uuid4().hex[:8]}")
        rep = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@redis.test", name="Rep",
                                roles=["sales_rep"])
        customer = await create_customer(session, actor_of(rep), CustomerInput(name="Customer"))
        opportunity = await create_opportunity(session, actor_of(rep), OpportunityInput(
            customer_id=customer.id, name="Deal", amount=Decimal("1000.00"), currency="CNY"))
        return Tenant(org.id, rep, opportunity.id)


async def comment(db: Database, tenant: Tenant, body: str) -> None:
    async with db.write() as session:
        await add_comment(session, actor_of(tenant.rep), record_type="Opportunity", record_id=tenant.opportunity_id,
                          body=body)


async def timeline_event_ids(db: Database, tenant: Tenant) -> list[int]:
    async with db.read() as session:
        rows = await outbox.events_after(session, tenant.org_id, 0, limit=10_000,
                                         timeline=("Opportunity", tenant.opportunity_id))
    return [r.id for r in rows]


async def published(db: Database, tenant: Tenant) -> bool:
    """Every event of the tenant's org is published."""
    async with db.read() as session:
        return await session.scalar(select(OutboxEvent.id).where(
            OutboxEvent.org_id == tenant.org_id, OutboxEvent.published_at.is_(None)).limit(1)) is None


class Timeline:
    """One recordTimeline subscription over graphql-transport-ws; collects what it receives."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.entries: list[dict[str, Any]] = []

    @property
    def event_ids(self) -> list[int]:
        return [from_global_id(e["eventId"])[1] for e in self.entries]

    async def receive_at_least(self, count: int, seconds: float = DEADLINE) -> None:
        async with asyncio.timeout(seconds):
            while len(self.entries) < count:
                message = await self.ws.receive_json()
                if message["type"] == "ping":
                    await self.ws.send_json({"type": "pong"})
                    continue
                assert message["type"] == "next", message
                assert "errors" not in message["payload"], message
                self.entries.append(message["payload"]["data"]["recordTimeline"])

    async def receive_all_of(self, db: Database, tenant: Tenant) -> None:
        """Once the relay has published every event of the org, read until as many entries arrived as
        the outbox holds for the record (a duplicate shows as a wrong list: it comes before the events
        written later)."""
        await eventually(lambda: published(db, tenant), within=DEADLINE, what="the relay to publish every event")
        await self.receive_at_least(len(await timeline_event_ids(db, tenant)))


@asynccontextmanager
async def subscribed(app: Any, tenant: Tenant) -> AsyncIterator[Timeline]:
    token = mint_token(app.state.settings, tenant.rep)
    async with httpx.AsyncClient(transport=ASGIWebSocketTransport(app), base_url="http://tandem.test") as http, \
            aconnect_ws("/graphql", http, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        ack = await ws.receive_json(timeout=DEADLINE)
        assert ack["type"] == "connection_ack", ack
        await ws.send_json({"id": "1", "type": "subscribe",
                            "payload": {"query": TIMELINE, "variables": {
                                "recordId": tenant.opportunity,
                                # before the org's first event: the replay starts with the opportunity's creation
                                "after": app.state.realtime.cursors.encode(tenant.org_id, 0)}}})
        yield Timeline(ws)


# --- Redis stopped and started mid-stream -------------------------------------------------------


@pytest.mark.skipif(not REDIS_URL, reason="TANDEM_TEST_REDIS_URL not set: the memory-broker test below covers this")
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
async def test_a_subscriber_receives_every_event_once_in_order_across_a_redis_restart(private_settings, redis_server):
    async with asyncio.timeout(TEST_BUDGET):  # the whole test, teardown of its app included
        # given an app on the test's redis-server, and a subscriber to an opportunity's timeline
        settings = private_settings.model_copy(update={"redis_url": redis_server.url})
        async with running(settings) as app:
            owner = Database(create_engine(settings))
            try:
                tenant = await new_tenant(owner)
                async with subscribed(app, tenant) as timeline:
                    await timeline.receive_all_of(owner, tenant)
                    for n in range(5):
                        await comment(owner, tenant, f"before {n}")
                    await timeline.receive_all_of(owner, tenant)
                    # when Redis goes away mid-stream, events keep coming, and Redis comes back
                    await asyncio.to_thread(redis_server.stop)
                    for n in range(5):
                        await comment(owner, tenant, f"while down {n}")
                    await asyncio.to_thread(redis_server.start)
                    for n in range(5):
                        await comment(owner, tenant, f"after {n}")
                    await timeline.receive_all_of(owner, tenant)
                # then
                expected = await timeline_event_ids(owner, tenant)
                assert len(expected) == 16
                assert timeline.event_ids == expected
                assert app.state.broker.redis.reconnects >= 1
            finally:
                await owner.dispose()


# --- the same guarantee on the in-memory broker ---------------------------------------------------


async def test_a_subscriber_replays_what_the_broker_lost_once_told_it_reconnected(private_settings):
    async with asyncio.timeout(TEST_BUDGET):  # the whole test, teardown of its app included
        # given an app on the in-memory broker, and a subscriber to an opportunity's timeline
        settings = private_settings.model_copy(update={"redis_url": None})
        async with running(settings) as app:
            owner = Database(create_engine(settings))
            try:
                tenant = await new_tenant(owner)
                async with subscribed(app, tenant) as timeline:
                    await timeline.receive_all_of(owner, tenant)
                    for n in range(5):
                        await comment(owner, tenant, f"before {n}")
                    await timeline.receive_all_of(owner, tenant)
                    # when events are published while the broker is "down" (nobody hears their doorbells)
                    delivered = len(timeline.entries)
                    await app.state.relay.stop()
                    async with Broadcast("memory://") as nowhere:
                        lost = Relay(create_engine(settings), nowhere, prune_every=timedelta(days=3650))
                        try:
                            for n in range(5):
                                await comment(owner, tenant, f"while down {n}")
                                await lost.drain()
                        finally:
                            await lost.engine.dispose()
                    # and the broker reconnects: it tells the stream, and the relay carries on
                    await app.state.realtime.broadcast.publish(
                        record_channel(tenant.org_id, "Opportunity", tenant.opportunity_id), RECONNECTED)
                    await app.state.relay.start()
                    for n in range(5):
                        await comment(owner, tenant, f"after {n}")
                    await timeline.receive_all_of(owner, tenant)
                # then
                expected = await timeline_event_ids(owner, tenant)
                assert len(expected) == 16
                assert timeline.event_ids == expected
                assert len(timeline.entries) == delivered + 10
            finally:
                await owner.dispose()
