"""The outbox and its relay, on the domain services and Relay itself: an event commits or rolls back
with its change, positions follow commit order (a transaction that commits late is positioned late,
never skipped), several relays publish each event once, a relay killed between publishing and marking
loses nothing, and retention prunes old events.

The session's app runs a relay on the session's database, so tests that count what their relays publish,
race two relays or prune (pruning is global) get a database of their own; the others work in an org of
their own on the session's database."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from broadcaster import Broadcast
from sqlalchemy import func, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from tandem.db import Database, create_engine
from tandem.domain.collaboration.comment import add_comment
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from tandem.domain.pipeline.opportunity import (
    OpportunityInput,
    create_opportunity,
    move_opportunity_stage,
    update_opportunity,
)
from tandem.domain.shared import outbox
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.shared.outbox import OutboxEvent, OutboxState, record_event
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.migrate import upgrade
from tandem.realtime.channels import feed_channel
from tandem.realtime.relay import Relay, channels_for, event_message
from tandem.schema.node import to_global_id
from tandem.settings import Settings
from tests.conftest import PG_URL, GraphQLClient, actor_of
from tests.factories.names import unique
from tests.factories.waiting import eventually

LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)
DEADLINE = 10.0

MOVE_STAGE = """
mutation ($input: MoveOpportunityStageInput!) {
  moveOpportunityStage(input: $input) { opportunity { id stage version } userErrors { field code } }
}"""

CHANGE_EVENTS = """
query ($after: String) {
  changeEvents(after: $after, first: 100) { events { eventId topic } endCursor hasMore }
}"""


# --- factories -------------------------------------------------------------------------------


@dataclass
class Tenant:
    org_id: int
    admin: User
    rep: User
    customer_id: int
    opportunity_id: int

    @property
    def rep_actor(self) -> Actor:
        return actor_of(self.rep)

    @property
    def admin_actor(self) -> Actor:
        return actor_of(self.admin)


async def new_tenant(db: Any) -> Tenant:
    """A fresh org with an admin, a rep, one customer and one opportunity (version 1)."""
    async with db.write() as session:
        org = await create_org(session, unique("Relay org"))
        admin = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@relay.test", name="Admin",
                                  roles=["admin"])
        rep = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@relay.test", name="Rep",
                                roles=["sales_rep"])
        customer = await create_customer(session, actor_of(rep), CustomerInput(name=unique("Customer")))
        opportunity = await create_opportunity(session, actor_of(rep), OpportunityInput(
            customer_id=customer.id, name=unique("Deal"), amount=Decimal("1000.00"), currency="CNY"))
        return Tenant(org.id, admin, rep, customer.id, opportunity.id)


def probe(session: AsyncSession, tenant: Tenant, n: int) -> OutboxEvent:
    """A bare outbox event in the tenant's org, numbered ``n``."""
    return record_event(session, tenant.rep_actor, org_id=tenant.org_id, topic="probe.sent", record_type="Probe",
                        record_id=n, operation="update", payload={"n": n})


async def org_events(db: Any, org_id: int) -> list[OutboxEvent]:
    async with db.read() as session:
        return list(await session.scalars(
            select(OutboxEvent).where(OutboxEvent.org_id == org_id).order_by(OutboxEvent.id)))


async def newest_event(session: AsyncSession, org_id: int) -> OutboxEvent:
    """The org's highest-id outbox row this session sees (its own uncommitted ones included)."""
    return await session.scalar(
        select(OutboxEvent).where(OutboxEvent.org_id == org_id).order_by(OutboxEvent.id.desc()).limit(1))


async def outbox_count(db: Any, org_id: int) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.org_id == org_id))


async def outbox_state(db: Any) -> OutboxState:
    async with db.read() as session:
        return await session.scalar(select(OutboxState).where(OutboxState.id == 1))


async def drained(relay: Relay, db: Any, org_id: int) -> None:
    """Drain with ``relay`` until every event of the org is published."""

    async def done() -> bool:
        await relay.drain()
        return all(e.published_at is not None for e in await org_events(db, org_id))

    await eventually(done, within=DEADLINE, what="the relay to publish the org's events")


@contextmanager
def clock_at(at: datetime) -> Iterator[None]:
    clock.set(at)
    try:
        yield
    finally:
        clock.set(None)


@asynccontextmanager
async def own_relay(settings: Any, **options: Any) -> AsyncIterator[tuple[Relay, Broadcast]]:
    """A relay on an owner engine of its own, publishing to an in-memory broadcaster."""
    engine = create_engine(settings)
    options = {"prune_every": timedelta(days=3650), **options}
    try:
        async with Broadcast("memory://") as broadcast:
            yield Relay(engine, broadcast, **options), broadcast
    finally:
        await engine.dispose()


async def published_so_far(broadcast: Broadcast, subscriber: Any, channel: str) -> list[dict[str, Any]]:
    """Every message on ``channel`` up to now: publishes a marker and reads until it comes back."""
    marker = uuid.uuid4().hex
    await broadcast.publish(channel, json.dumps({"marker": marker}))
    messages = []
    async with asyncio.timeout(DEADLINE):
        while True:
            message = json.loads((await subscriber.get()).message)
            if message.get("marker") == marker:
                return messages
            messages.append(message)


@dataclass
class Private:
    settings: Settings
    db: Database


@pytest.fixture
async def private(settings: Settings) -> AsyncIterator[Private]:
    """A migrated database no relay but the test's touches (SQLite file, or a PostgreSQL database)."""
    with tempfile.TemporaryDirectory() as tmp:
        if PG_URL:
            name = f"tandem_relay_{uuid.uuid4().hex[:12]}"
            url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
            admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'relay.db'}"
        own = settings.model_copy(update={"database_url": url})
        database = Database(create_engine(own))
        try:
            await upgrade(database.engine)
            yield Private(own, database)
        finally:
            await database.dispose()
            if PG_URL:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()


# --- every change writes its event in its own transaction -------------------------------------

OPERATIONS: dict[str, Callable[[AsyncSession, Tenant], Awaitable[Any]]] = {
    "customer.created": lambda s, t: create_customer(s, t.rep_actor, CustomerInput(name=unique("Customer"))),
    "opportunity.created": lambda s, t: create_opportunity(s, t.rep_actor, OpportunityInput(
        customer_id=t.customer_id, name=unique("Deal"), amount=Decimal("5.00"), currency="CNY")),
    "opportunity.stage_moved": lambda s, t: move_opportunity_stage(s, t.rep_actor, t.opportunity_id, 1, "proposal"),
    "opportunity.updated": lambda s, t: update_opportunity(s, t.rep_actor, t.opportunity_id, 1, OpportunityInput(
        next_step="call back", set_fields={"next_step"})),
    "interaction.logged": lambda s, t: log_interaction(s, t.rep_actor, InteractionInput(
        customer_id=t.customer_id, kind=InteractionKind.CALL, summary="Called")),
    "comment.added": lambda s, t: add_comment(s, t.rep_actor, record_type="Opportunity",
                                              record_id=t.opportunity_id, body="Looks good"),
}


class Abandon(Exception):
    """Raised inside a unit of work to roll it back."""


@pytest.mark.parametrize("topic", list(OPERATIONS))
async def test_a_committed_change_commits_exactly_one_outbox_event_with_it(db, topic):
    # given
    tenant = await new_tenant(db)
    before = await outbox_count(db, tenant.org_id)
    # when
    async with db.write() as session:
        await OPERATIONS[topic](session, tenant)
    # then
    events = await org_events(db, tenant.org_id)
    assert len(events) == before + 1
    assert (events[-1].topic, events[-1].actor_id) == (topic, tenant.rep.id)


@pytest.mark.parametrize("topic", list(OPERATIONS))
async def test_a_rolled_back_change_leaves_no_outbox_event(db, topic):
    # given
    tenant = await new_tenant(db)
    before = await outbox_count(db, tenant.org_id)
    # when
    with pytest.raises(Abandon):
        async with db.write() as session:
            await OPERATIONS[topic](session, tenant)
            await session.flush()
            assert (await newest_event(session, tenant.org_id)).topic == topic
            raise Abandon
    # then
    assert await outbox_count(db, tenant.org_id) == before


async def test_a_refused_mutation_writes_no_event_and_an_accepted_one_writes_one(db, gql, settings):
    # given
    tenant = await new_tenant(db)
    client = GraphQLClient(gql.http, settings, {tenant.rep.email: tenant.rep})
    opportunity = to_global_id("Opportunity", tenant.opportunity_id)
    before = await outbox_count(db, tenant.org_id)
    # when
    stale = await client(MOVE_STAGE, {"input": {"id": opportunity, "stage": "proposal", "version": 7}},
                         as_=tenant.rep.email)
    # then
    [error] = stale["errors"]
    assert error["extensions"]["code"] == "CONFLICT"
    assert await outbox_count(db, tenant.org_id) == before
    # when
    moved = await client(MOVE_STAGE, {"input": {"id": opportunity, "stage": "proposal", "version": 1}},
                         as_=tenant.rep.email)
    # then
    assert moved["data"]["moveOpportunityStage"] == {
        "opportunity": {"id": opportunity, "stage": "proposal", "version": 2}, "userErrors": []}
    events = await org_events(db, tenant.org_id)
    assert len(events) == before + 1
    assert (events[-1].topic, events[-1].record_id) == ("opportunity.stage_moved", tenant.opportunity_id)


# --- positions: commit order, nothing skipped ---------------------------------------------------


@pytest.mark.skipif(not PG_URL, reason="needs two open write transactions (PostgreSQL); SQLite has one writer")
async def test_an_event_that_commits_after_a_later_id_is_positioned_after_it_and_not_skipped(db, gql, settings):
    # given
    tenant = await new_tenant(db)
    client = GraphQLClient(gql.http, settings, {tenant.admin.email: tenant.admin})
    async with own_relay(settings) as (relay, _):
        await drained(relay, db, tenant.org_id)
        page = (await client(CHANGE_EVENTS, {}, as_=tenant.admin.email))["data"]["changeEvents"]
        assert page["hasMore"] is False
        async with db.session() as transaction_a:
            # transaction A writes its event first (the lower id) and stays open
            customer_a = await create_customer(transaction_a, tenant.admin_actor, CustomerInput(name=unique("A")))
            await transaction_a.flush()
            event_a = await newest_event(transaction_a, tenant.org_id)
            # transaction B writes its event (a higher id) and commits
            async with db.write() as transaction_b:
                await create_customer(transaction_b, tenant.admin_actor, CustomerInput(name=unique("B")))
                await transaction_b.flush()
                event_b = await newest_event(transaction_b, tenant.org_id)
            assert event_a.id < event_b.id
            # when the relay drains while A is still open
            await drained(relay, db, tenant.org_id)
            # then only B is positioned, and a reader's cursor stops at B
            async with db.read() as session:
                seen = await outbox.events_after(session, tenant.org_id, 0)
            assert event_a.id not in [e.id for e in seen]
            assert seen[-1].id == event_b.id
            position_b = seen[-1].position
            after_b = (await client(CHANGE_EVENTS, {"after": page["endCursor"]}, as_=tenant.admin.email)
                       )["data"]["changeEvents"]
            assert [e["eventId"] for e in after_b["events"]] == [to_global_id("Event", event_b.id)]
            # when A commits and the relay drains again
            await transaction_a.commit()
        await drained(relay, db, tenant.org_id)
    # then A is positioned after B, and readers continuing from B's cursor receive A
    async with db.read() as session:
        position_a = await session.scalar(select(OutboxEvent.position).where(OutboxEvent.id == event_a.id))
        continued = await outbox.events_after(session, tenant.org_id, position_b)
    assert position_a > position_b
    assert [(e.id, e.record_id) for e in continued] == [(event_a.id, customer_a.id)]
    after_a = (await client(CHANGE_EVENTS, {"after": after_b["endCursor"]}, as_=tenant.admin.email)
               )["data"]["changeEvents"]
    assert (after_a["events"], after_a["hasMore"]) == ([{"eventId": to_global_id("Event", event_a.id),
                                                         "topic": "customer.created"}], False)


async def test_positions_follow_commit_order_and_a_reader_continuing_from_its_cursor_misses_nothing(db, app):
    # given (the app's own relay: a second relay on the session's SQLite database would race it)
    tenant = await new_tenant(db)
    relay = app.state.relay
    await drained(relay, db, tenant.org_id)
    async with db.read() as session:
        cursor = (await outbox.events_after(session, tenant.org_id, 0))[-1].position
    committed = []
    for n in range(3):
        async with db.write() as session:
            committed.append(probe(session, tenant, n))
    # when
    await drained(relay, db, tenant.org_id)
    async with db.read() as session:
        first = await outbox.events_after(session, tenant.org_id, cursor)
    for n in range(3, 5):
        async with db.write() as session:
            committed.append(probe(session, tenant, n))
    await drained(relay, db, tenant.org_id)
    async with db.read() as session:
        second = await outbox.events_after(session, tenant.org_id, first[-1].position)
    # then
    assert [e.id for e in first] == [e.id for e in committed[:3]]
    assert [e.id for e in second] == [e.id for e in committed[3:]]
    positions = [e.position for e in first + second]
    assert positions == sorted(positions) and len(set(positions)) == 5
    assert positions[0] > cursor


# --- several relays, killed relays -------------------------------------------------------------


async def test_two_relays_draining_at_once_publish_each_event_exactly_once(private):
    # given
    db, settings = private.db, private.settings
    tenant = await new_tenant(db)
    channel = feed_channel(tenant.org_id)
    async with own_relay(settings, batch=25) as (relay_1, broadcast), own_relay(settings, batch=25) as (relay_2, _):
        relay_2.broadcast = broadcast  # both publish to the same broker, as two processes share Redis
        await drained(relay_1, db, tenant.org_id)
        async with broadcast.subscribe(channel) as subscriber:
            producing = True

            async def produce() -> None:
                nonlocal producing
                for batch in range(20):
                    async with db.write() as session:
                        for n in range(10):
                            probe(session, tenant, batch * 10 + n)
                    await asyncio.sleep(0)
                producing = False

            async def drain(relay: Relay) -> None:
                while producing or not all(e.published_at for e in await org_events(db, tenant.org_id)):
                    await relay.drain()
                    await asyncio.sleep(0)

            # when
            async with asyncio.timeout(DEADLINE):
                outcomes = await asyncio.gather(produce(), drain(relay_1), drain(relay_2), return_exceptions=True)
            assert [repr(o) for o in outcomes if o is not None] == []
            messages = await published_so_far(broadcast, subscriber, channel)
    # then
    events = [e for e in await org_events(db, tenant.org_id) if e.topic == "probe.sent"]
    assert len(events) == 200
    assert sorted(m["id"] for m in messages) == sorted(e.id for e in events)
    assert [m["position"] for m in messages] == sorted(e.position for e in events)
    assert relay_1.published + relay_2.published == len(await org_events(db, tenant.org_id))
    assert relay_1.published > 0 and relay_2.published > 0


async def test_a_relay_killed_after_publishing_and_before_marking_publishes_again_and_nothing_is_lost(private):
    # given
    db, settings = private.db, private.settings
    tenant = await new_tenant(db)
    channel = feed_channel(tenant.org_id)
    async with own_relay(settings) as (relay, broadcast):
        await drained(relay, db, tenant.org_id)
        async with broadcast.subscribe(channel) as subscriber:
            async with db.write() as session:
                written = [probe(session, tenant, n) for n in range(3)]
            # when a relay positions and publishes them, then dies before marking them published
            async with AsyncSession(relay.engine, expire_on_commit=False) as session:
                await outbox.assign_positions(session)
                await session.commit()
                for event in await outbox.unpublished(session):
                    for name in channels_for(event):
                        await broadcast.publish(name, json.dumps(event_message(event), default=str))
                await session.rollback()
            # and a relay restarts
            restarted = Relay(create_engine(settings), broadcast, prune_every=timedelta(days=3650))
            try:
                await drained(restarted, db, tenant.org_id)
            finally:
                await restarted.engine.dispose()
            messages = await published_so_far(broadcast, subscriber, channel)
    # then each event went out twice, and a consumer dropping duplicates by id sees each once, in order
    ids = [e.id for e in written]
    assert sorted(m["id"] for m in messages) == sorted(ids * 2)
    consumed: list[int] = []
    for message in messages:
        if message["id"] not in consumed:
            consumed.append(message["id"])
    assert consumed == ids
    assert all(e.published_at is not None for e in await org_events(db, tenant.org_id))


# --- retention ---------------------------------------------------------------------------------


async def test_the_relay_prunes_events_older_than_retention_and_advances_pruned_through(private):
    # given events created long ago, then a recent one, all published
    db, settings = private.db, private.settings
    tenant = await new_tenant(db)
    with clock_at(LONG_AGO):
        async with db.write() as session:
            old_events = [probe(session, tenant, n) for n in range(3)]
    async with db.write() as session:
        recent_event = probe(session, tenant, 3)
    old, recent = [e.id for e in old_events], recent_event.id
    async with own_relay(settings) as (relay, _):
        await drained(relay, db, tenant.org_id)
    positions = {e.id: e.position for e in await org_events(db, tenant.org_id)}
    # when the relay's pruning job runs with a retention of 30 days
    async with own_relay(settings, retention=timedelta(days=30), prune_every=timedelta(0)) as (relay, _):
        await relay.drain()
    # then
    remaining = [e.id for e in await org_events(db, tenant.org_id)]
    assert [e for e in old if e in remaining] == []
    assert recent in remaining
    state = await outbox_state(db)
    assert max(positions[e] for e in old) <= state.pruned_through < positions[recent]


async def test_pruning_again_with_nothing_older_deletes_nothing_and_never_moves_pruned_through_back(private):
    # given old events already pruned, and recent ones
    db, settings = private.db, private.settings
    tenant = await new_tenant(db)
    with clock_at(LONG_AGO):
        async with db.write() as session:
            probe(session, tenant, 0)
    async with db.write() as session:
        probe(session, tenant, 1)
    async with own_relay(settings) as (relay, _):
        await drained(relay, db, tenant.org_id)
    async with db.write() as session:
        assert await outbox.prune(session, datetime.now(UTC) - timedelta(days=30)) == 3
    pruned = await outbox_state(db)
    kept = [e.id for e in await org_events(db, tenant.org_id)]
    # when pruning runs again with an earlier cut-off
    async with db.write() as session:
        removed = await outbox.prune(session, LONG_AGO)
    # then
    assert removed == 0
    assert (await outbox_state(db)).pruned_through == pruned.pruned_through > 0
    assert [e.id for e in await org_events(db, tenant.org_id)] == kept != []
