# ruff: noqa: E402  (sys.path is fixed before the project imports)
"""What authorization costs: 500 opportunities (five pages of 100) with every field, read as a
sales_manager through the ASGI app with authorization on (row scope by management chain, field
guard, Casbin decisions) and off (org isolation only), alternating in the same run.

Both apps start once the seeding's outbox events are published (so neither relay works during the
measurement), with the heap as it stands then frozen out of the garbage collector's way. Each round
walks both, taking turns page by page; a walk's time is the sum of its five requests (the client's
parsing of the responses is not counted).

    python bench/authz.py            # embedded SQLite in a temp dir
    TANDEM_BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/postgres python bench/authz.py

Prints one JSON line: median and p90 milliseconds per five-page walk for each, and their ratio
(``ratio_median``, the goal); ``ratio_paired_median`` is the median of each round's on/off ratio, which
drifts less when other processes load the machine; ``cpu_ratio_median`` compares the process's CPU time.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `authz` package; drop the folder so the project's packages resolve.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import asyncio
import gc
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.app import create_app
from tandem.auth import mint_token
from tandem.db import Database, create_engine
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tandem.migrate import upgrade
from tandem.settings import Settings

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "40"))
PAGE = """
query Page($after: String) {
  opportunities(first: 100, after: $after) {
    edges { node {
      id name stage amount currency expectedCloseDate probability nextStep lostReason customFields version
      createdAt updatedAt stageChangedAt closedAt milestones { name dueDate done }
      owner { id name email }
      customer { id name tags industry tier lifecycleStage creditLimit currency customFields version }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


async def seed(db: Database) -> int:
    """An org with a manager over five reps, 50 customers, 500 opportunities; returns the manager id."""
    async with db.write() as session:
        org = await create_org(session, f"Bench {uuid.uuid4().hex[:6]}")
        manager = await create_user(session, org.id, email=f"mgr-{uuid.uuid4().hex[:8]}@bench.test",
                                    name="Manager", roles=["sales_manager"])
        reps = [await create_user(session, org.id, email=f"rep{i}-{uuid.uuid4().hex[:8]}@bench.test",
                                  name=f"Rep {i}", roles=["sales_rep"], manager_id=manager.id) for i in range(5)]
        now = datetime.now(UTC)
        for c in range(50):
            rep = reps[c % len(reps)]
            actor = Actor(user_id=rep.id, org_id=org.id, roles=frozenset(rep.roles))
            customer = await create_customer(session, actor, CustomerInput(
                name=f"客户 {c:03d}", tags=["bench"], industry="软件", credit_limit=Decimal("100000.00")))
            for o in range(10):
                opportunity = await create_opportunity(session, actor, OpportunityInput(
                    customer_id=customer.id, name=f"项目 {c:03d}-{o}", amount=Decimal(1000 * (o + 1)) + Decimal("0.5"),
                    expected_close_date=date.today() + timedelta(days=o)))
                await log_interaction(session, actor, InteractionInput(
                    customer_id=customer.id, opportunity_id=opportunity.id, kind=InteractionKind.CALL,
                    summary="跟进", occurred_at=now - timedelta(days=o)))
        return manager.id


async def outbox_published(db: Database) -> None:
    """Wait (up to two minutes) until the apps' relays have published every seeded event."""
    async with asyncio.timeout(120):
        while True:
            async with db.read() as session:
                left = await session.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None)))
            if not left:
                return
            await asyncio.sleep(0.2)


async def page(client: httpx.AsyncClient, token: str, after: str | None) -> tuple[float, float, dict[str, Any]]:
    """One page through the app: wall and CPU milliseconds of the request, and the page."""
    wall, cpu = time.perf_counter(), time.process_time()
    response = await client.post("/graphql", json={"query": PAGE, "variables": {"after": after}},
                                 headers={"authorization": f"Bearer {token}"})
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise SystemExit(f"bench query failed: {response.status_code} {str(body)[:500]}")
    return wall * 1000, cpu * 1000, body["data"]["opportunities"]


async def walk(clients: dict[str, httpx.AsyncClient], token: str, first: str) -> dict[str, tuple[float, float, int]]:
    """Both apps walk the five pages, page by page, taking turns (``first`` goes first on pages 1, 3, 5), so
    each page's two requests meet the same load on the machine. Per app: wall ms, CPU ms, rows."""
    order = [first, *(k for k in clients if k != first)]
    totals = {k: [0.0, 0.0, 0] for k in clients}
    after: dict[str, str | None] = dict.fromkeys(clients)
    for n in range(5):
        for key in order if n % 2 == 0 else reversed(order):
            wall, cpu, found = await page(clients[key], token, after[key])
            totals[key][0] += wall
            totals[key][1] += cpu
            totals[key][2] += len(found["edges"])
            after[key] = found["pageInfo"]["endCursor"]
    return {k: (wall, cpu, int(rows)) for k, (wall, cpu, rows) in totals.items()}


async def main() -> None:
    base = os.environ.get("TANDEM_BENCH_DATABASE_URL")
    tmp = tempfile.TemporaryDirectory()
    admin_engine = None
    if base:
        name = f"tandem_bench_authz_{uuid.uuid4().hex[:8]}"
        admin_engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with admin_engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    try:
        # no query cost budgets: one user's closed loop is what they would throttle, in one app more than the other
        settings = Settings(database_url=url, statement_timeout_ms=60_000, rate_user_bucket=0, rate_org_bucket=0)
        db = Database(create_engine(settings))
        await upgrade(db.engine)
        log("seeding ...")
        manager_id = await seed(db)
        async with db.read() as session:
            from tandem.domain.tenancy.user import User

            manager = await session.get(User, manager_id)
        token = mint_token(settings, manager)
        apps = {"on": create_app(settings), "off": create_app(settings, authorization=False)}
        timings: dict[str, list[float]] = {"on": [], "off": []}
        cpu: dict[str, list[float]] = {"on": [], "off": []}
        async with apps["on"].router.lifespan_context(apps["on"]), \
                apps["off"].router.lifespan_context(apps["off"]):
            await outbox_published(db)
            await db.dispose()
            clients = {k: httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://bench")
                       for k, a in apps.items()}
            for _ in range(2):  # warm up both, and check they see the same 500 rows
                for key, (_, _, rows) in (await walk(clients, token, "on")).items():
                    if rows != 500:
                        raise SystemExit(f"authorization {key}: expected 500 rows, saw {rows}")
            gc.collect()
            gc.freeze()
            for i in range(ROUNDS):
                for key, (wall, cpu_ms, _) in (await walk(clients, token, "on" if i % 2 == 0 else "off")).items():
                    timings[key].append(wall)
                    cpu[key].append(cpu_ms)
            gc.unfreeze()
            for c in clients.values():
                await c.aclose()

        def figures(values: list[float]) -> dict[str, float]:
            ordered = sorted(values)
            return {"median_ms": round(statistics.median(ordered), 2),
                    "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2)}

        on, off = figures(timings["on"]), figures(timings["off"])
        paired = statistics.median(a / b for a, b in zip(timings["on"], timings["off"], strict=True))
        cpu_ratio = statistics.median(cpu["on"]) / statistics.median(cpu["off"])
        print(json.dumps({
            "benchmark": "authz", "database": make_url(url).get_backend_name(), "rows": 500, "pages": 5,
            "role": "sales_manager", "rounds": ROUNDS, "authorization_on": on, "authorization_off": off,
            "ratio_median": round(on["median_ms"] / off["median_ms"], 3), "goal_ratio": 1.10,
            "ratio_paired_median": round(paired, 3), "cpu_ratio_median": round(cpu_ratio, 3),
        }))
    finally:
        if admin_engine is not None:
            async with admin_engine.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin_engine.dispose()
        tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
