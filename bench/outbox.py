# ruff: noqa: E402  (sys.path is fixed before the project imports)
"""Benchmark: the outbox, relay and replay paths.

(a) Relay throughput, events/s through outbox -> relay -> Redis -> one subscriber. E events are written with
    domain.shared.outbox.record_event in batched transactions (owner engine). One realtime.relay.Relay (owner
    engine, a Broadcast on our RedisPubSubBackend, woken by NOTIFY as in the app) publishes them; one
    subscriber on the org's feed channel (realtime.stream.replay_then_live through a realtime.hub.Hub, as
    subscriptions use it, so a Redis reconnect mid-run loses nothing) counts them until all E arrived. Two figures:
      backlog    E events written with no relay running, then a relay starts: start -> last event received
                 (the relay's own rate; the goal applies to this one)
      pipelined  the relay runs while E more events are written: first write -> last event received
(b) Replay speed of a 100,000-event backlog: positioned, published events for another org (INSERT ... SELECT),
    read back
      events_after   with domain.shared.outbox.events_after in batches of 500 through the API's engine
                     (app role, org-scoped session) and realtime.relay.event_message, as a replaying
                     subscription's replay function does
      change_events  through GraphQL `changeEvents(first: 500)` paging over HTTP (the ASGI app in-process)
(c) Subscription replay: S events (BENCH_SUBSCRIPTION_EVENTS) in the outbox of an org of their own, then, in each
    of BENCH_SUBSCRIPTION_ROUNDS rounds (after one unmeasured warm-up), a `changeFeed(after: <a cursor before
    them>)` subscriber over a real websocket (graphql-transport-ws) to the API served by uvicorn in a process of its
    own, as clients meet it (an in-process client would spend a third of the CPU the server gets): events/s from
    subscribing until the S-th event arrived (caught up); the median and the worst round.

    .venv/bin/python bench/outbox.py
    BENCH_ONLY=subscription TANDEM_BENCH_DATABASE_URL=sqlite+aiosqlite:// .venv/bin/python bench/outbox.py

Prints one JSON line on stdout (progress on stderr). Creates its own database and drops it (PostgreSQL: a database
on the server; SQLite, any sqlite URL: a file in a temporary folder).

Environment (all optional):

    TANDEM_BENCH_DATABASE_URL   default postgresql+asyncpg://postgres@127.0.0.1/postgres
    TANDEM_BENCH_REDIS_URL      default redis://127.0.0.1:6379/0
    BENCH_EVENTS                20000   E, for each relay figure
    BENCH_WRITE_BATCH           500     events per writing transaction
    BENCH_BACKLOG               100000  events in the replay backlog
    BENCH_RECORDS               200     opportunities the backlog's events are about
    BENCH_PHASE_SECONDS         60      most seconds any one measurement may take (then it reports the rate of
                                        what it got, with "complete": false)
    BENCH_SUBSCRIPTION_EVENTS   20000   S, events a subscriber replays to catch up
    BENCH_SUBSCRIPTION_ROUNDS   5       rounds of (c)
    BENCH_SUBSCRIPTION_SECONDS  120     most seconds one round may take (then it reports what it got)
    BENCH_ONLY                          "subscription": only (c) (needs no Redis; the only part that runs on SQLite)
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/authz.py would shadow the
# `authz` package; drop the folder so the project's packages resolve.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))

import asyncio
import contextlib
import json
import os
import random
import secrets
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
from broadcaster import Broadcast
from sqlalchemy import insert, make_url, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import connect as ws_connect

from tandem.app import create_app
from tandem.auth import mint_token
from tandem.db import Database, create_engine, outbox_listeners
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.shared import outbox
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.shared.pagination import InvalidCursor
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.migrate import upgrade
from tandem.realtime.channels import feed_channel
from tandem.realtime.cursor import FeedCursors
from tandem.realtime.hub import Hub
from tandem.realtime.redis_backend import RedisPubSubBackend
from tandem.realtime.relay import Relay, event_message
from tandem.realtime.stream import replay_then_live
from tandem.settings import Settings

GOALS = {"relay_events_per_s": 2000, "replay_events_per_s": 20000, "subscription_replay_events_per_s": 5000}
CHANGE_EVENTS = """
query ($after: String) {
  changeEvents(after: $after, first: 500) {
    endCursor hasMore
    events { cursor eventId topic recordType recordId operation occurredAt payload actor { id name } }
  }
}"""
CHANGE_FEED = """
subscription Round%d($after: String) {
  changeFeed(after: $after) { cursor eventId topic recordType recordId operation occurredAt payload actor { id name } }
}"""
"""Named for its round: subscribers of the same document share renderings for a while, so each round renders
for itself."""


def log(message: str) -> None:
    print(f"[outbox] {message}", file=sys.stderr, flush=True)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


@dataclass(frozen=True)
class Config:
    server_url: str
    redis_url: str
    events: int
    write_batch: int
    backlog: int
    records: int
    phase_seconds: float
    subscription_events: int
    subscription_rounds: int
    subscription_seconds: float
    only: str

    @classmethod
    def from_env(cls) -> Config:
        cfg = cls(
            server_url=os.environ.get("TANDEM_BENCH_DATABASE_URL")
            or "postgresql+asyncpg://postgres@127.0.0.1/postgres",
            redis_url=os.environ.get("TANDEM_BENCH_REDIS_URL") or "redis://127.0.0.1:6379/0",
            events=env_int("BENCH_EVENTS", 20_000),
            write_batch=max(1, env_int("BENCH_WRITE_BATCH", 500)),
            backlog=env_int("BENCH_BACKLOG", 100_000),
            records=max(1, env_int("BENCH_RECORDS", 200)),
            phase_seconds=env_float("BENCH_PHASE_SECONDS", 60.0),
            subscription_events=env_int("BENCH_SUBSCRIPTION_EVENTS", 20_000),
            subscription_rounds=env_int("BENCH_SUBSCRIPTION_ROUNDS", 5),
            subscription_seconds=env_float("BENCH_SUBSCRIPTION_SECONDS", 120.0),
            only=os.environ.get("BENCH_ONLY", ""),
        )
        if cfg.events < 1 or cfg.backlog < 1 or cfg.subscription_events < 1 or cfg.subscription_rounds < 1:
            raise SystemExit("BENCH_EVENTS, BENCH_BACKLOG, BENCH_SUBSCRIPTION_EVENTS and BENCH_SUBSCRIPTION_ROUNDS "
                             "must be at least 1")
        if cfg.only not in ("", "subscription"):
            raise SystemExit('BENCH_ONLY must be "subscription" or empty')
        if make_url(cfg.server_url).get_backend_name() == "sqlite" and cfg.only != "subscription":
            raise SystemExit("on SQLite only the subscription replay runs: set BENCH_ONLY=subscription")
        return cfg


def rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 else None


@contextlib.asynccontextmanager
async def bench_database(server_url: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database, dropped (WITH FORCE) however the block ends; or a fresh SQLite file."""
    base = make_url(server_url)
    if base.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="tandem-bench-outbox-") as folder:
            yield f"sqlite+aiosqlite:///{folder}/bench.db"
        return
    if base.get_backend_name() != "postgresql":
        raise SystemExit("TANDEM_BENCH_DATABASE_URL must be a postgresql+asyncpg:// or sqlite+aiosqlite:// URL")
    name = f"tandem_bench_outbox_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        log(f"created database {name}")
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            log(f"dropped database {name}")
    finally:
        await admin.dispose()


@dataclass
class Seeded:
    org_id: int
    admin: User
    rep: User
    opportunity_ids: list[int]


async def seed(db: Database, cfg: Config) -> Seeded:
    """An org (random id: Redis channel names carry it, and Redis is shared), an admin, a rep and
    ``cfg.records`` opportunities; then the seeding's own events are positioned and published."""
    async with db.write() as session:
        if db.engine.dialect.name == "postgresql":
            await session.execute(text("SELECT setval(pg_get_serial_sequence('org', 'id'), :v, false)"),
                                  {"v": random.randint(1_000_000, 1_000_000_000)})
        org = await create_org(session, f"Outbox bench {uuid.uuid4().hex[:6]}")
        tag = uuid.uuid4().hex[:6]
        admin = await create_user(session, org.id, email=f"admin-{tag}@bench.test", name="Bench Admin",
                                  roles=["admin"])
        rep = await create_user(session, org.id, email=f"rep-{tag}@bench.test", name="销售 Bench Rep",
                                roles=["sales_rep"])
        actor = Actor(user_id=rep.id, org_id=org.id, roles=frozenset(rep.roles))
        customer = await create_customer(session, actor, CustomerInput(name="事件客户 Outbox Ltd", industry="软件"))
        opportunity_ids = []
        for i in range(cfg.records):
            opportunity = await create_opportunity(session, actor, OpportunityInput(
                customer_id=customer.id, name=f"项目 {i:04d}", amount=Decimal(10_000 + i),
                expected_close_date=date.today() + timedelta(days=30)))
            opportunity_ids.append(opportunity.id)
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    try:
        relay = Relay(db.engine, broadcast)
        for _ in range(10_000):
            if await relay.drain() < relay.batch:
                break
    finally:
        await broadcast.disconnect()
    log(f"seeded org {org.id}: {cfg.records} opportunities")
    return Seeded(org_id=org.id, admin=admin, rep=rep, opportunity_ids=opportunity_ids)


# --------------------------------------------------------------------------- (a) relay throughput


async def write_events(db: Database, seeded: Seeded, run: str, count: int, batch: int,
                       deadline: float) -> tuple[int, float]:
    """``count`` outbox events through record_event, ``batch`` per transaction, their payloads marked with
    ``run``; (written, seconds)."""
    actor = Actor(user_id=seeded.rep.id, org_id=seeded.org_id, roles=frozenset(seeded.rep.roles))
    ids = seeded.opportunity_ids
    written = 0
    started = time.perf_counter()
    while written < count and time.perf_counter() < deadline:
        async with db.write() as session:
            for k in range(written, min(count, written + batch)):
                record_id = ids[k % len(ids)]
                outbox.record_event(
                    session, actor, org_id=seeded.org_id, topic="opportunity.updated", record_type="Opportunity",
                    record_id=record_id, operation="update",
                    payload={"id": record_id, "version": k + 2, "run": run, "changes": {
                        "amount": [f"{10_000 + k}.00", f"{10_100 + k}.00"], "nextStep": [None, f"跟进 #{k}"]}})
        written = min(count, written + batch)
    return written, time.perf_counter() - started


class FeedCounter:
    """One subscriber on the org's feed channel, counting distinct events of this run."""

    def __init__(self, broadcast: Broadcast, db: Database, org_id: int, after: int, run: str) -> None:
        self.run = run
        self.hub = Hub(broadcast)
        self.db = db
        self.org_id = org_id
        self.after = after
        self.seen: set[int] = set()
        self.replayed = 0
        self.last_at = 0.0
        self.target = 0
        self.done = asyncio.Event()
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _replay(self, last: int) -> list[dict[str, Any]]:
        async with self.db.read(self.org_id) as session:
            rows = await outbox.events_after(session, self.org_id, last, limit=500)
        self.replayed += len(rows)
        self.ready.set()  # the channel is subscribed before the first replay
        return [event_message(r) for r in rows]

    async def _run(self) -> None:
        async for event in replay_then_live(self.hub, feed_channel(self.org_id), self._replay, self.after,
                                            max_queue=10**9):
            if not isinstance(event["payload"], dict) or event["payload"].get("run") != self.run:
                continue  # left over from an earlier phase
            self.seen.add(event["id"])
            self.last_at = time.perf_counter()
            if self.target and len(self.seen) >= self.target:
                self.done.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.ready.wait(), 30)

    async def wait(self, target: int, deadline: float) -> bool:
        self.target = target
        if len(self.seen) >= target:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), max(0.0, deadline - time.perf_counter()))
        return len(self.seen) >= target

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def settle(relay: Relay, written: int, seconds: float = 5.0) -> None:
    """Give the relay a moment to mark what it published (not measured)."""
    for _ in range(int(seconds / 0.05)):
        if relay.published >= written:
            return
        await asyncio.sleep(0.05)


async def stop_relay(relay: Relay) -> int:
    """Relay.stop(), but a cancellation the drain swallows (seen here in about one stop in eight while it is
    busy: the task keeps draining and stop() never returns) is repeated; returns how many extra cancels it
    took."""
    task = relay._task
    extra = 0
    if task is not None:
        task.cancel()
        while not (await asyncio.wait({task}, timeout=5))[0]:
            extra += 1
            log(f"relay did not stop 5 s after cancel(); cancelling again ({extra})")
            task.cancel()
            if extra >= 10:
                raise SystemExit("the relay cannot be stopped")
    await relay.stop()  # the task is done: this only closes the LISTEN connection
    return extra


async def last_position(db: Database) -> int:
    async with db.read() as session:
        return await outbox.last_position(session)


async def relay_figures(cfg: Config, settings: Settings, seeded: Seeded) -> dict[str, Any]:
    db = Database(create_engine(settings))  # the owner, as the relay and jobs work
    backend = RedisPubSubBackend(cfg.redis_url)
    broadcast = Broadcast(backend=backend)
    await broadcast.connect()
    out: dict[str, Any] = {"events": cfg.events, "write_batch": cfg.write_batch}
    recancels = 0
    try:
        # backlog: written first, then one relay drains it
        written, write_s = await write_events(db, seeded, "backlog", cfg.events, cfg.write_batch,
                                              time.perf_counter() + cfg.phase_seconds)
        log(f"backlog: wrote {written} events in {write_s:.1f}s ({rate(written, write_s)}/s)")
        counter = FeedCounter(broadcast, db, seeded.org_id, await last_position(db), "backlog")
        await counter.start()
        relay = Relay(db.engine, broadcast)
        started = time.perf_counter()
        await relay.start()
        relay.wake()
        complete = await counter.wait(written, started + cfg.phase_seconds)
        elapsed = (counter.last_at if complete else time.perf_counter()) - started
        await settle(relay, written)
        recancels = await stop_relay(relay)
        await counter.stop()
        out["backlog"] = {"received": len(counter.seen), "complete": complete, "seconds": round(elapsed, 2),
                          "events_per_s": rate(len(counter.seen), elapsed), "published": relay.published,
                          "write_events_per_s": rate(written, write_s), "via_replay": counter.replayed}
        log(f"backlog: {out['backlog']}")

        # pipelined: the relay runs (woken by NOTIFY and in-process commits) while events are written
        counter = FeedCounter(broadcast, db, seeded.org_id, await last_position(db), "pipelined")
        await counter.start()
        relay = Relay(db.engine, broadcast)
        await relay.start()
        outbox_listeners.append(relay.wake)
        try:
            started = time.perf_counter()
            written, write_s = await write_events(db, seeded, "pipelined", cfg.events, cfg.write_batch,
                                                  started + cfg.phase_seconds)
            complete = await counter.wait(written, started + cfg.phase_seconds)
            elapsed = (counter.last_at if complete else time.perf_counter()) - started
            await settle(relay, written)
        finally:
            outbox_listeners.remove(relay.wake)
            recancels += await stop_relay(relay)
            await counter.stop()
        out["pipelined"] = {"received": len(counter.seen), "complete": complete, "seconds": round(elapsed, 2),
                            "events_per_s": rate(len(counter.seen), elapsed), "published": relay.published,
                            "write_events_per_s": rate(written, write_s), "via_replay": counter.replayed}
        log(f"pipelined: {out['pipelined']}")
        out["redis_reconnects"] = backend.reconnects
        out["relay_stop_extra_cancels"] = recancels
        # A phase cut short by BENCH_PHASE_SECONDS leaves events unpublished: drop them, or the API's own
        # relay would publish them while the replay figures are measured.
        async with db.write() as session:
            dropped = (await session.execute(text("DELETE FROM outbox_event WHERE published_at IS NULL"))).rowcount
        if dropped:
            log(f"dropped {dropped} events left unpublished")
        out["left_unpublished"] = dropped
    finally:
        await broadcast.disconnect()
        await db.dispose()
    return out


# --------------------------------------------------------------------------- (b) replay


BACKLOG_SQL = """
INSERT INTO outbox_event (org_id, topic, record_type, record_id, operation, payload, actor_id, created_at,
                          published_at, position, timeline_type, timeline_id, audience)
SELECT :org, 'opportunity.updated', 'Opportunity', o.id, 'update',
       jsonb_build_object('id', o.id, 'version', g + 1,
                          'changes', jsonb_build_object('amount', jsonb_build_array((10000 + g)::text || '.00',
                                                                                    (10100 + g)::text || '.00'),
                                                        'nextStep', jsonb_build_array(NULL, '跟进 #' || g))),
       :actor, now() - interval '1 hour' + g * interval '1 millisecond', now(), :base + g, 'Opportunity', o.id,
       '[]'::jsonb
FROM generate_series(1, :n) AS g
JOIN LATERAL (SELECT (CAST(:ids AS bigint[]))[1 + (g % cardinality(CAST(:ids AS bigint[])))] AS id) o ON true
"""


async def seed_backlog(db: Database, cfg: Config, seeded: Seeded) -> int:
    """``cfg.backlog`` positioned, published events after whatever is there; returns the org's event count."""
    started = time.perf_counter()
    async with db.write() as session:
        state_position = await outbox.last_position(session)
        await session.execute(text(BACKLOG_SQL), {"org": seeded.org_id, "actor": seeded.rep.id,
                                                  "base": state_position, "n": cfg.backlog,
                                                  "ids": seeded.opportunity_ids})
        await session.execute(text("UPDATE outbox_state SET last_position = :p WHERE id = 1"),
                              {"p": state_position + cfg.backlog})
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE) outbox_event"))
    async with db.read() as session:
        total = await session.scalar(text("SELECT count(*) FROM outbox_event WHERE org_id = :o AND position IS NOT "
                                          "NULL"), {"o": seeded.org_id})
    log(f"backlog of {cfg.backlog} events seeded in {time.perf_counter() - started:.1f}s ({total} in the org)")
    return int(total or 0)


async def replay_events_after(settings: Settings, cfg: Config, org_id: int) -> dict[str, Any]:
    """What a replaying subscription's replay function does, batch after batch, until nothing is left."""
    db = Database(create_engine(settings, app_role=True))
    try:
        read = 0
        last = 0
        batches = 0
        started = time.perf_counter()
        deadline = started + cfg.phase_seconds
        messages: list[dict[str, Any]] = []
        while time.perf_counter() < deadline:
            async with db.read(org_id) as session:
                rows = await outbox.events_after(session, org_id, last, limit=500)
            messages = [event_message(r) for r in rows]
            if not messages:
                break
            batches += 1
            read += len(messages)
            last = messages[-1]["position"]
        elapsed = time.perf_counter() - started
    finally:
        await db.dispose()
    return {"read": read, "batches": batches, "seconds": round(elapsed, 2), "events_per_s": rate(read, elapsed),
            "complete": not messages}


async def replay_change_events(app: Any, token: str, cfg: Config, cursors: FeedCursors,
                               org_id: int) -> dict[str, Any]:
    """Page through `changeEvents(first: 500)` over HTTP until hasMore is false.

    About one cursor in twenty cannot be decoded by the server (realtime/cursor.py splits the MAC off at
    the last "." with rpartition, and 12 random MAC bytes contain a "." that often): when a page's
    endCursor is one of those, the next page starts after the latest event of the page whose cursor
    decodes, and events seen twice are counted once."""
    headers = {"authorization": f"Bearer {token}"}
    seen: set[str] = set()
    detours = 0
    pages = 0
    after = None
    more = True
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers, timeout=60) as client:
        started = time.perf_counter()
        deadline = started + cfg.phase_seconds
        while time.perf_counter() < deadline:
            response = await client.post("/graphql", json={"query": CHANGE_EVENTS, "variables": {"after": after}})
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise SystemExit(f"changeEvents failed: HTTP {response.status_code} {str(body)[:500]}")
            page = body["data"]["changeEvents"]
            pages += 1
            seen.update(e["eventId"] for e in page["events"])
            more = page["hasMore"]
            after = None
            for cursor in [page["endCursor"], *(e["cursor"] for e in reversed(page["events"]))]:
                try:
                    cursors.decode(org_id, cursor)
                except InvalidCursor:
                    continue
                after = cursor
                break
            if after is None:
                raise SystemExit("changeEvents: no cursor of the page can be decoded")
            if after != page["endCursor"]:
                detours += 1
            if not more:
                break
        elapsed = time.perf_counter() - started
    read = len(seen)
    return {"read": read, "pages": pages, "seconds": round(elapsed, 2), "events_per_s": rate(read, elapsed),
            "complete": not more, "undecodable_end_cursors": detours}


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def replay_subscription(url: str, token: str, cfg: Config, after: str, total: int, round_: int,
                              server_pid: int | None = None) -> dict[str, Any]:
    """A `changeFeed(after)` subscription: events/s from subscribing until the ``total``-th event arrived, and
    per second of the server's CPU (what the box's other load does not change)."""
    received = 0
    first_at = None
    cpu_before = cpu_seconds(server_pid) if server_pid else None
    async with ws_connect(url, subprotocols=["graphql-transport-ws"], max_size=None, open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if ack.get("type") != "connection_ack":
            raise SystemExit(f"no connection_ack: {ack}")
        started = time.perf_counter()
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": CHANGE_FEED % round_, "variables": {"after": after}}}))
        deadline = started + cfg.subscription_seconds
        expected = '{"id":"1","type":"next","payload":{"data":'
        while received < total and (left := deadline - time.perf_counter()) > 0:
            try:
                raw = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                break
            if not raw.startswith(expected) or '"errors"' in raw:  # parsed only if it may not be a plain `next`
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                if message.get("type") != "next" or message["payload"].get("errors"):
                    raise SystemExit(f"changeFeed failed: {str(message)[:500]}")
            received += 1
            if first_at is None:
                first_at = time.perf_counter() - started
        elapsed = time.perf_counter() - started
        cpu_after = cpu_seconds(server_pid) if server_pid else None
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
    server_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return {"received": received, "of": total, "seconds": round(elapsed, 2), "events_per_s": rate(received, elapsed),
            "first_event_ms": round(first_at * 1000, 1) if first_at is not None else None,
            "server_cpu_seconds": round(server_cpu, 2) if server_cpu is not None else None,
            "events_per_server_cpu_s": rate(received, server_cpu) if server_cpu else None,
            "complete": received >= total}


@contextlib.asynccontextmanager
async def api_server(settings: Settings) -> AsyncIterator[tuple[str, int]]:
    """The API on ``settings``' database, served by uvicorn in a process of its own (in-memory broker, one
    worker); yields its websocket URL and process id."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TANDEM_DATABASE_URL": settings.database_url, "TANDEM_REDIS_URL": "",
           "TANDEM_JWT_SECRET": settings.jwt_secret, "TANDEM_LOG_LEVEL": "WARNING",
           "TANDEM_RATE_USER_BUCKET": "0", "TANDEM_RATE_ORG_BUCKET": "0"}  # budgets out of the measurement
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "tandem.app:create_app", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log", cwd=REPO, env=env)
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(300):
                if process.returncode is not None:
                    raise SystemExit(f"the API server exited with {process.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("the API server did not get ready in 30 s")
        yield f"ws://127.0.0.1:{port}/graphql", process.pid
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def seed_subscription_backlog(db: Database, seeded: Seeded, count: int) -> int:
    """``count`` positioned, published events of the org after whatever is there (portable inserts, both
    dialects); returns the position before them."""
    actor = seeded.rep.id
    ids = seeded.opportunity_ids
    async with db.write() as session:
        before = await outbox.last_position(session)
        now = clock.now()  # as record_event stamps them
        rows = [{
            "org_id": seeded.org_id, "topic": "opportunity.updated", "record_type": "Opportunity",
            "record_id": ids[k % len(ids)], "operation": "update", "actor_id": actor,
            "payload": {"id": ids[k % len(ids)], "version": k + 2, "changes": {
                "amount": [f"{10_000 + k}.00", f"{10_100 + k}.00"], "nextStep": [None, f"跟进 #{k}"]}},
            "created_at": now, "published_at": now, "position": before + 1 + k,
            "timeline_type": "Opportunity", "timeline_id": ids[k % len(ids)], "audience": [],
        } for k in range(count)]
        for start in range(0, count, 5000):
            await session.execute(insert(outbox.OutboxEvent.__table__), rows[start:start + 5000])
        await session.execute(update(outbox.OutboxState.__table__).where(outbox.OutboxState.id == 1)
                              .values(last_position=before + count))
    return before


async def subscription_figures(cfg: Config, settings: Settings, seeded: Seeded) -> dict[str, Any]:
    """(c): rounds of a subscriber catching up on S events from a cursor before them."""
    owner = Database(create_engine(settings))
    try:
        before = await seed_subscription_backlog(owner, seeded, cfg.subscription_events)
    finally:
        await owner.dispose()
    log(f"subscription: {cfg.subscription_events} events seeded after position {before}")
    token = mint_token(settings, seeded.admin, ttl_seconds=3600)
    after = FeedCursors(settings.jwt_secret).encode(seeded.org_id, before)
    rounds = []
    async with api_server(settings) as (url, pid):
        # not measured: the first subscription of a process compiles its document and fills the pools
        warmup = await replay_subscription(url, token, cfg, after, min(cfg.subscription_events, 1000), 0)
        log(f"subscription warm-up: {warmup}")
        for n in range(cfg.subscription_rounds):
            figures = await replay_subscription(url, token, cfg, after, cfg.subscription_events, n + 1, pid)
            log(f"subscription round {n + 1}: {figures}")
            rounds.append(figures)
    rates = [r["events_per_s"] or 0.0 for r in rounds]
    per_cpu = [r["events_per_server_cpu_s"] for r in rounds if r["events_per_server_cpu_s"]]
    return {"events": cfg.subscription_events, "warmup": warmup, "rounds": rounds,
            "median_events_per_server_cpu_s": statistics.median(per_cpu) if per_cpu else None,
            "median_events_per_s": statistics.median(rates),
            "worst_events_per_s": min(rates), "complete": all(r["complete"] for r in rounds),
            "dialect": make_url(settings.database_url).get_backend_name()}


async def replay_figures(cfg: Config, settings: Settings, seeded: Seeded) -> dict[str, Any]:
    owner = Database(create_engine(settings))
    try:
        total = await seed_backlog(owner, cfg, seeded)
    finally:
        await owner.dispose()
    out: dict[str, Any] = {"backlog": cfg.backlog, "org_events": total}
    out["events_after"] = await replay_events_after(settings, cfg, seeded.org_id)
    log(f"events_after: {out['events_after']}")
    # The API in-process: in-memory broker (nothing here needs Redis), its relay has nothing to publish.
    app = create_app(Settings(database_url=settings.database_url, redis_url=None, jwt_secret=settings.jwt_secret,
                              rate_user_bucket=0, rate_org_bucket=0))  # budgets out of the measurement
    token = mint_token(settings, seeded.admin, ttl_seconds=3600)
    async with app.router.lifespan_context(app):
        out["change_events"] = await replay_change_events(app, token, cfg, FeedCursors(settings.jwt_secret),
                                                          seeded.org_id)
        log(f"change_events: {out['change_events']}")
    return out


# --------------------------------------------------------------------------- main


async def main() -> None:
    cfg = Config.from_env()
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    if cfg.only == "subscription":
        async with bench_database(cfg.server_url) as url:
            settings = Settings(database_url=url, redis_url=None, statement_timeout_ms=60_000,
                                jwt_secret=secrets.token_urlsafe(48))  # the API server refuses the dev secret
            db = Database(create_engine(settings))
            try:
                await upgrade(db.engine)
                seeded = await seed(db, cfg)
            finally:
                await db.dispose()
            subscription = await subscription_figures(cfg, settings, seeded)
        log(f"done in {time.perf_counter() - started:.0f}s")
        print(json.dumps({
            "benchmark": "outbox", "only": "subscription",
            "replay_subscription_events_per_s": subscription["median_events_per_s"],
            "replay_subscription_worst_events_per_s": subscription["worst_events_per_s"],
            "goals": {"subscription_replay_events_per_s": GOALS["subscription_replay_events_per_s"]},
            "goals_met": {"subscription_replay": subscription["complete"] and subscription["worst_events_per_s"]
                          >= GOALS["subscription_replay_events_per_s"]},
            "subscription": subscription,
            "config": {"cpus": os.cpu_count(), "loadavg_at_start": round(load_at_start, 2) if load_at_start else None},
        }, ensure_ascii=False), flush=True)
        return
    from redis import asyncio as aioredis

    redis = aioredis.from_url(cfg.redis_url, socket_connect_timeout=2)
    try:
        await redis.ping()
    except Exception as exc:
        raise SystemExit(f"Redis at {cfg.redis_url} is not reachable: {exc}") from exc
    finally:
        await redis.aclose()
    async with bench_database(cfg.server_url) as url:
        settings = Settings(database_url=url, redis_url=cfg.redis_url, statement_timeout_ms=60_000,
                            jwt_secret=secrets.token_urlsafe(48))  # (c)'s API server refuses the dev secret
        db = Database(create_engine(settings))
        try:
            await upgrade(db.engine)
            seeded = await seed(db, cfg)  # the relay figures' org
            backlog_org = await seed(db, cfg)  # the replay figures' org: only the backlog and its own seeding
            subscription_org = await seed(db, cfg)  # (c)'s org: only its backlog and its own seeding
        finally:
            await db.dispose()
        relay = await relay_figures(cfg, settings, seeded)
        replay = await replay_figures(cfg, settings, backlog_org)
        subscription = await subscription_figures(cfg, settings, subscription_org)
    log(f"done in {time.perf_counter() - started:.0f}s")
    print(json.dumps({
        "benchmark": "outbox",
        "relay_events_per_s": relay["backlog"]["events_per_s"],
        "relay_pipelined_events_per_s": relay["pipelined"]["events_per_s"],
        "replay_events_per_s": replay["events_after"]["events_per_s"],
        "replay_change_events_per_s": replay["change_events"]["events_per_s"],
        "replay_subscription_events_per_s": subscription["median_events_per_s"],
        "replay_subscription_worst_events_per_s": subscription["worst_events_per_s"],
        "goals": GOALS,
        "goals_met": {
            "relay": bool(relay["backlog"]["complete"]
                          and (relay["backlog"]["events_per_s"] or 0) >= GOALS["relay_events_per_s"]),
            "replay": (replay["events_after"]["events_per_s"] or 0) >= GOALS["replay_events_per_s"],
            "replay_change_events": (replay["change_events"]["events_per_s"] or 0) >= GOALS["replay_events_per_s"],
            "subscription_replay": subscription["complete"] and subscription["worst_events_per_s"]
            >= GOALS["subscription_replay_events_per_s"],
        },
        "relay": relay,
        "replay": replay,
        "subscription": subscription,
        "config": {"cpus": os.cpu_count(), "loadavg_at_start": round(load_at_start, 2) if load_at_start else None,
                   "phase_seconds": cfg.phase_seconds},
    }, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
