# ruff: noqa: E402  (sys.path is fixed before the project imports)
"""What authorization costs: 500 opportunities (five pages of 100) with every field, read as a
sales_manager through the ASGI app with authorization on (row scope by management chain, field
guard, Casbin decisions) and off (org isolation only), alternating in the same run.

    python bench/authz.py            # embedded SQLite in a temp dir
    TANDEM_BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/postgres python bench/authz.py

Prints one JSON line: median and p90 milliseconds per five-page walk for each, and their ratio.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `authz` package; drop the folder so the project's packages resolve.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from domain.crm.customer import CustomerInput, create_customer
from domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from domain.pipeline.opportunity import OpportunityInput, create_opportunity
from domain.shared.actor import Actor
from domain.tenancy.org import create_org
from domain.tenancy.user import create_user
from tandem.app import create_app
from tandem.auth import mint_token
from tandem.db import Database, create_engine
from tandem.migrate import upgrade
from tandem.settings import Settings

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "25"))
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


async def walk(client: httpx.AsyncClient, token: str) -> tuple[float, int]:
    started = time.perf_counter()
    after, rows = None, 0
    for _ in range(5):
        response = await client.post("/graphql", json={"query": PAGE, "variables": {"after": after}},
                                     headers={"authorization": f"Bearer {token}"})
        body = response.json()
        if response.status_code != 200 or "errors" in body:
            raise SystemExit(f"bench query failed: {response.status_code} {str(body)[:500]}")
        page = body["data"]["opportunities"]
        rows += len(page["edges"])
        after = page["pageInfo"]["endCursor"]
    return (time.perf_counter() - started) * 1000, rows


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
        settings = Settings(database_url=url, statement_timeout_ms=60_000)
        db = Database(create_engine(settings))
        await upgrade(db.engine)
        log("seeding ...")
        manager_id = await seed(db)
        async with db.read() as session:
            from domain.tenancy.user import User

            manager = await session.get(User, manager_id)
        await db.dispose()
        token = mint_token(settings, manager)
        apps = {"on": create_app(settings), "off": create_app(settings, authorization=False)}
        timings: dict[str, list[float]] = {"on": [], "off": []}
        async with apps["on"].router.lifespan_context(apps["on"]), \
                apps["off"].router.lifespan_context(apps["off"]):
            clients = {k: httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://bench")
                       for k, a in apps.items()}
            for key in ("on", "off"):  # warm up both, and check they see the same 500 rows
                for _ in range(2):
                    _, rows = await walk(clients[key], token)
                if rows != 500:
                    raise SystemExit(f"authorization {key}: expected 500 rows, saw {rows}")
            for i in range(ROUNDS):
                for key in (("on", "off") if i % 2 == 0 else ("off", "on")):
                    ms, _ = await walk(clients[key], token)
                    timings[key].append(ms)
            for c in clients.values():
                await c.aclose()

        def figures(values: list[float]) -> dict[str, float]:
            ordered = sorted(values)
            return {"median_ms": round(statistics.median(ordered), 2),
                    "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2)}

        on, off = figures(timings["on"]), figures(timings["off"])
        print(json.dumps({
            "benchmark": "authz", "database": make_url(url).get_backend_name(), "rows": 500, "pages": 5,
            "role": "sales_manager", "rounds": ROUNDS, "authorization_on": on, "authorization_off": off,
            "ratio_median": round(on["median_ms"] / off["median_ms"], 3), "goal_ratio": 1.10,
        }))
    finally:
        if admin_engine is not None:
            async with admin_engine.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin_engine.dispose()
        tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
