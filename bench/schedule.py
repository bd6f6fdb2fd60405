# ruff: noqa: E402  (sys.path is fixed before the project imports)
"""Benchmark: scheduling a large project, and its Gantt chart over HTTP.

Creates its own database (PostgreSQL by default; SQLite with BENCH_EMBEDDED=1), migrates it, wins an
opportunity so a project exists, then writes T tasks (default 5,000) and D finish-to-start dependencies
(default 10,000, random but acyclic, with a few start-to-start links and lags) straight into the tables.
It measures:

  schedule_ms   domain.delivery.task.reschedule: load the tasks and links, critical path forward and
                backward, forecast, and write every task's dates back (one executemany), in one
                transaction; median of BENCH_ROUNDS
  cpm_ms        the pure critical-path computation alone (domain.delivery.schedule.schedule), median
  gantt_ms      `gantt(projectId)` over HTTP against a uvicorn server (subprocess) serving Tandem, as the
                project manager: every bar with its dates, progress, dependencies and critical flag; median

    .venv/bin/python bench/schedule.py
    BENCH_EMBEDDED=1 .venv/bin/python bench/schedule.py

Prints one JSON line on stdout (progress on stderr). Drops its database afterwards.

Environment (all optional): TANDEM_BENCH_DATABASE_URL (default postgresql+asyncpg://postgres@127.0.0.1/postgres),
BENCH_TASKS (5000), BENCH_DEPENDENCIES (10000), BENCH_ROUNDS (5), BENCH_SEED (7).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() not in (REPO, REPO / "bench")]

import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from sqlalchemy import insert, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.auth import mint_token
from tandem.db import Database, create_engine
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.delivery.progress import reschedule
from tandem.domain.delivery.project import Project
from tandem.domain.delivery.schedule import FS, SS, Link, Node, schedule
from tandem.domain.delivery.task import Task, TaskDependency, TaskStatus
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.shared.actor import Actor
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tandem.migrate import upgrade
from tandem.settings import Settings

GANTT = """query($id: ID!) { gantt(projectId: $id) { finish criticalPath
  bars { taskId name wbs start finish forecastStart forecastFinish plannedStart plannedFinish progress critical
         slackDays dependencies { predecessorId kind lagDays } } } }"""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def create_database(embedded: bool, tmp: str) -> tuple[str, str | None]:
    if embedded:
        return f"sqlite+aiosqlite:///{tmp}/bench.db", None
    server = os.environ.get("TANDEM_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1/postgres")
    name = f"tandem_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False), name


async def drop_database(name: str | None) -> None:
    if name is None:
        return
    server = os.environ.get("TANDEM_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1/postgres")
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()
    log(f"dropped database {name}")


def random_graph(n_tasks: int, n_links: int, rng: random.Random) -> list[tuple[int, int, str, int]]:
    """Acyclic links (from a lower to a higher index), mostly to near neighbours like real plans."""
    links: set[tuple[int, int]] = set()
    while len(links) < n_links:
        a = rng.randrange(n_tasks - 1)
        b = min(n_tasks - 1, a + 1 + int(rng.expovariate(1 / 25)))
        links.add((a, b))
    return [(a, b, SS if rng.random() < 0.05 else FS, rng.choice((0, 0, 0, 1, 2))) for a, b in sorted(links)]


async def seed(db: Database, n_tasks: int, n_links: int, rng: random.Random) -> tuple[Actor, int, list]:
    async with db.write() as s:
        org = await create_org(s, "Bench", "CNY")
        pm = await create_user(s, org.id, email=f"pm-{uuid.uuid4().hex[:6]}@bench.test", name="PM",
                               roles=["project_manager"])
        rep = await create_user(s, org.id, email=f"rep-{uuid.uuid4().hex[:6]}@bench.test", name="Rep",
                                roles=["sales_rep"])
        rep_actor = Actor(user_id=rep.id, org_id=org.id, roles=frozenset(rep.roles))
        customer = await create_customer(s, rep_actor, CustomerInput(name="大型客户"))
        await create_opportunity(s, rep_actor, OpportunityInput(
            customer_id=customer.id, name="Programme", amount=Decimal("20000000"), stage="won",
            project_manager_id=pm.id))
    async with db.read() as s:
        project = await s.scalar(select(Project).where(Project.org_id == org.id))
    now = datetime.now(UTC)
    rows = [{"org_id": org.id, "project_id": project.id, "position": i + 1, "name": f"任务 {i + 1}",
             "status": TaskStatus.TODO.value, "percent_complete": rng.choice((0, 0, 0, 25, 50, 100)),
             "estimate_hours": Decimal(rng.randrange(4, 80)), "duration_days": rng.randrange(0, 15),
             "slack_days": 0, "critical": False, "is_summary": False, "at_risk": False, "version": 1,
             "created_at": now, "updated_at": now} for i in range(n_tasks)]
    async with db.write(org.id) as s:
        await s.execute(insert(Task), rows)
    async with db.read() as s:
        ids = list(await s.scalars(select(Task.id).where(Task.project_id == project.id).order_by(Task.position)))
    graph = random_graph(n_tasks, n_links, rng)
    async with db.write(org.id) as s:
        await s.execute(insert(TaskDependency), [
            {"org_id": org.id, "project_id": project.id, "predecessor_id": ids[a], "successor_id": ids[b],
             "kind": kind, "lag_days": lag} for a, b, kind, lag in graph])
    pm_actor = Actor(user_id=pm.id, org_id=org.id, roles=frozenset(pm.roles), email=pm.email)
    return pm_actor, project.id, graph


async def time_reschedule(db: Database, org_id: int, project_id: int, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        async with db.write(org_id) as s:
            project = await s.get(Project, project_id)
            await reschedule(s, project)
        out.append((time.perf_counter() - start) * 1000)
    return out


def time_cpm(n_tasks: int, graph: list, rounds: int) -> list[float]:
    rng = random.Random(1)
    nodes = [Node(i, rng.randrange(0, 15)) for i in range(n_tasks)]
    links = [Link(a, b, kind, lag) for a, b, kind, lag in graph]
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        schedule(nodes, links, today=3)
        out.append((time.perf_counter() - start) * 1000)
    return out


def serve(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "TANDEM_DATABASE_URL": url, "PYTHONPATH": str(REPO), "TANDEM_LOG_LEVEL": "WARNING",
           "TANDEM_MAX_QUERY_COST": "10000000", "TANDEM_STATEMENT_TIMEOUT_MS": "60000"}
    env.pop("TANDEM_REDIS_URL", None)
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "tandem.app:create_app", "--factory", "--port",
                             str(port), "--log-level", "warning", "--no-access-log"], cwd=REPO, env=env,
                            stdout=sys.stderr, stderr=sys.stderr)


async def time_gantt(url: str, token: str, project_gid: str, rounds: int, n_tasks: int) -> tuple[list[float], int]:
    port = free_port()
    proc = serve(url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            headers = {"authorization": f"Bearer {token}"}
            out, bars = [], 0
            for i in range(rounds + 1):
                start = time.perf_counter()
                response = await client.post("/graphql", json={"query": GANTT, "variables": {"id": project_gid}},
                                             headers=headers)
                elapsed = (time.perf_counter() - start) * 1000
                body = response.json()
                assert response.status_code == 200 and "errors" not in body, body
                bars = len(body["data"]["gantt"]["bars"])
                assert bars == n_tasks, bars
                if i:  # the first request warms the server up
                    out.append(elapsed)
            return out, bars
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def main() -> None:
    embedded = os.environ.get("BENCH_EMBEDDED") == "1"
    n_tasks = int(os.environ.get("BENCH_TASKS", "5000"))
    n_links = int(os.environ.get("BENCH_DEPENDENCIES", "10000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    rng = random.Random(int(os.environ.get("BENCH_SEED", "7")))
    with tempfile.TemporaryDirectory() as tmp:
        url, name = await create_database(embedded, tmp)
        try:
            settings = Settings(database_url=url)
            db = Database(create_engine(settings))
            await upgrade(db.engine)
            log(f"seeding {n_tasks} tasks and {n_links} dependencies")
            pm, project_id, graph = await seed(db, n_tasks, n_links, rng)
            schedule_ms = await time_reschedule(db, pm.org_id, project_id, rounds)
            log(f"reschedule: {[round(x) for x in schedule_ms]} ms")
            cpm_ms = time_cpm(n_tasks, graph, rounds)
            async with db.read() as s:
                from tandem.domain.tenancy.user import User

                pm_user = await s.get(User, pm.user_id)
            await db.dispose()
            from tandem.schema.node import to_global_id

            token = mint_token(settings, pm_user)
            gantt_ms, bars = await time_gantt(url, token, to_global_id("Project", project_id), rounds, n_tasks)
            log(f"gantt: {[round(x) for x in gantt_ms]} ms")
        finally:
            await drop_database(name)
    print(json.dumps({
        "benchmark": "schedule", "database": "sqlite" if embedded else "postgresql", "tasks": n_tasks,
        "dependencies": n_links, "rounds": rounds,
        "schedule_ms": {"median": round(statistics.median(schedule_ms), 1), "min": round(min(schedule_ms), 1)},
        "cpm_ms": {"median": round(statistics.median(cpm_ms), 1)},
        "gantt_http_ms": {"median": round(statistics.median(gantt_ms), 1), "min": round(min(gantt_ms), 1),
                          "bars": bars},
        "config": {"cpus": os.cpu_count(), "loadavg_at_start": round(os.getloadavg()[0], 2)},
    }))


if __name__ == "__main__":
    asyncio.run(main())
