"""Benchmark: the opportunities page query over real HTTP, Tandem against a hand-written SQL floor.

Creates its own PostgreSQL database, migrates it, seeds it (one org and its sales reps through the domain
services; customers and opportunities with COPY; interactions with INSERT ... SELECT generate_series), serves
Tandem and a bare Starlette + asyncpg "floor" app (one SQL statement builds the same JSON) with uvicorn in
subprocesses on free loopback ports, checks that both return the same page, measures both with a closed loop
of httpx clients at each concurrency, and drops the database (also on failure).

The token belongs to a sales rep. When Tandem's row-level authorization limits the rep to what they own
(detected from the first page), the floor applies the same "own" scope so both serve identical pages.

Run from the repository root:

    .venv/bin/python bench/query.py            # one JSON line on stdout, progress on stderr

Environment (all optional):

    TANDEM_BENCH_DATABASE_URL  server to create the bench database on
                               (default postgresql+asyncpg://postgres@127.0.0.1/postgres)
    BENCH_CUSTOMERS            10000
    BENCH_OPPORTUNITIES        50000
    BENCH_INTERACTIONS         200000
    BENCH_USERS                20
    BENCH_SECONDS              8     duration of each measurement
    BENCH_REQUESTS             20000 most requests in one measurement
    BENCH_WARMUP_SECONDS       3     per server, at the highest concurrency, not measured
    BENCH_CONCURRENCY          1,32
    BENCH_SEED                 42    random seed for the data

Other TANDEM_* settings (pool size, statement timeout, ...) reach the Tandem server unchanged;
the floor's asyncpg pool gets the same size as Tandem's SQLAlchemy pool (pool_size + max_overflow).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

REPO = Path(__file__).resolve().parent.parent
# `python bench/query.py` puts bench/ first on the path, where bench/authz.py would shadow the `authz`
# package: drop that folder and put the repo first.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() not in (REPO, REPO / "bench")]

PAGE_SIZE = 100
LAST_INTERACTIONS = 5
PAGE_QUERY = (
    "query Page { opportunities(first: 100) { edges { cursor node { id name stage amount currency "
    "expectedCloseDate probability customer { name } owner { name } interactions(last: 5) { edges { node "
    "{ kind occurredAt summary } } } } } pageInfo { hasNextPage endCursor } } }"
)
NODE_KEYS = {"id", "name", "stage", "amount", "currency", "expectedCloseDate", "probability", "customer", "owner",
             "interactions"}

STAGES = (  # key, probability, closed, weight
    ("initial_contact", 10, False, 30),
    ("proposal", 40, False, 25),
    ("negotiation", 70, False, 15),
    ("won", 100, True, 15),
    ("lost", 0, True, 15),
)
LOST_REASONS = ("价格高于竞争对手", "Budget frozen", "客户选择了自研方案", "Lost to SAP", "项目延期，无限期搁置")
KINDS = ("call", "email", "meeting", "visit", "web_visit")
KIND_WEIGHTS = (30, 30, 15, 10, 15)
SUMMARIES = (
    "首次电话沟通，了解需求",
    "Kick-off meeting with the IT team",
    "现场拜访，演示方案",
    "Sent the revised proposal and pricing sheet",
    "客户访问了产品价格页面",
    "Follow-up call about the security review and data residency questions",
    "与采购部门讨论付款条款和交付周期",
    "Demo of the reporting module for the finance department",
)
CITIES = ("上海", "北京", "深圳", "杭州", "成都", "Berlin", "Austin", "Osaka", "Lyon", "Porto")
SUFFIXES = ("科技有限公司", "信息技术有限公司", " Engineering", " Holdings", "制造股份有限公司", " Logistics")
DEALS = ("ERP 实施项目", "数据中台咨询", "Core integration", "Mobile app rebuild", "Maintenance contract",
         "云迁移", "Plant automation retrofit", "CRM 二次开发")
INDUSTRIES = ("软件", "金融", "制造", "Engineering", "Retail", "电信设备")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


@dataclass(frozen=True)
class Config:
    server_url: str
    customers: int
    opportunities: int
    interactions: int
    users: int
    seconds: float
    max_requests: int
    warmup_seconds: float
    concurrency: tuple[int, ...]
    seed: int

    @classmethod
    def from_env(cls) -> Config:
        levels = tuple(int(x) for x in os.environ.get("BENCH_CONCURRENCY", "1,32").split(",") if x.strip())
        cfg = cls(
            server_url=os.environ.get("TANDEM_BENCH_DATABASE_URL") or "postgresql+asyncpg://postgres@127.0.0.1/postgres",
            customers=env_int("BENCH_CUSTOMERS", 10_000),
            opportunities=env_int("BENCH_OPPORTUNITIES", 50_000),
            interactions=env_int("BENCH_INTERACTIONS", 200_000),
            users=env_int("BENCH_USERS", 20),
            seconds=env_float("BENCH_SECONDS", 8.0),
            max_requests=env_int("BENCH_REQUESTS", 20_000),
            warmup_seconds=env_float("BENCH_WARMUP_SECONDS", 3.0),
            concurrency=levels,
            seed=env_int("BENCH_SEED", 42),
        )
        if cfg.customers < 1 or cfg.opportunities < 1 or cfg.users < 1 or cfg.interactions < 0:
            raise SystemExit("BENCH_CUSTOMERS, BENCH_OPPORTUNITIES and BENCH_USERS must be at least 1")
        if not levels or min(levels) < 1:
            raise SystemExit("BENCH_CONCURRENCY is a comma-separated list of positive integers")
        return cfg


# --------------------------------------------------------------------------- database


def _asyncpg_dsn(sqlalchemy_url: Any) -> str:
    return sqlalchemy_url.set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def bench_database(server_url: str) -> AsyncIterator[Any]:
    """A fresh database on the server; dropped (WITH FORCE) however the block ends."""
    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import create_async_engine

    base = make_url(server_url)
    if base.get_backend_name() != "postgresql":
        raise SystemExit("TANDEM_BENCH_DATABASE_URL must be a postgresql+asyncpg:// URL")
    name = f"tandem_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        log(f"created database {name}")
        try:
            yield base.set(database=name)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            log(f"dropped database {name}")
    finally:
        await admin.dispose()


@dataclass
class Seeded:
    org_id: int
    user: Any  # domain.tenancy.user.User, detached but loaded
    owned_opportunities: int  # how many the token user owns
    rows: dict[str, int]


def _ts(rng: random.Random, now: datetime, days: float) -> datetime:
    """A moment within the last ``days`` days, with microseconds (like real clock readings)."""
    return now - timedelta(seconds=rng.uniform(0, days * 86_400))


# Each interaction is about one of the customer's opportunities (85%) or just the customer; kinds are
# weighted by repetition; occurred_at is spread over the last year, with microseconds.
INTERACTIONS_SQL = """
INSERT INTO interaction (org_id, customer_id, contact_id, opportunity_id, kind, occurred_at, summary,
                         created_by_id, created_at)
SELECT $1,
       CASE WHEN r.linked THEN ($3::bigint[])[r.o] ELSE ($4::bigint[])[r.c] END,
       NULL,
       CASE WHEN r.linked THEN ($2::bigint[])[r.o] END,
       ($6::text[])[r.k], r.at, ($7::text[])[r.s], ($5::bigint[])[r.u], r.at
FROM (
    SELECT random() < 0.85 AS linked,
           1 + floor(random() * cardinality($2::bigint[]))::int AS o,
           1 + floor(random() * cardinality($4::bigint[]))::int AS c,
           1 + floor(random() * cardinality($5::bigint[]))::int AS u,
           1 + floor(random() * cardinality($6::text[]))::int AS k,
           1 + floor(random() * cardinality($7::text[]))::int AS s,
           $9::timestamptz - random() * interval '365 days' AS at
    FROM generate_series(1, $8::int)
) r
"""


async def seed(cfg: Config, settings: Any, dsn: str) -> Seeded:
    from tandem.db import Database, create_engine
    from tandem.domain.tenancy.org import create_org
    from tandem.domain.tenancy.user import create_user
    from tandem.migrate import upgrade

    started = time.perf_counter()
    db = Database(create_engine(settings))
    try:
        await upgrade(db.engine)
        log(f"migrated in {time.perf_counter() - started:.1f}s")
        async with db.write() as session:
            org = await create_org(session, "Bench 华东销售", "CNY")
            users = [
                await create_user(session, org.id, email=f"rep{i:02d}@bench.test", name=f"销售代表 {i:02d} Rep",
                                  roles=["sales_rep"], territory="华东" if i % 2 else None)
                for i in range(cfg.users)
            ]
        org_id = org.id
    finally:
        await db.dispose()
    user_ids = [u.id for u in users]

    rng = random.Random(cfg.seed)
    now = datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        try:  # the rows are consistent by construction: skip the per-row foreign key triggers if allowed
            await conn.execute("SET session_replication_role = replica")
        except asyncpg.InsufficientPrivilegeError:
            log("not a superuser: foreign keys are checked row by row (slower seeding)")
        t = time.perf_counter()
        customers = []
        for i in range(cfg.customers):
            created = _ts(rng, now, 730)
            tags = rng.sample(("重点客户", "华东", "制造", "EMEA", "金融", "software"), rng.randint(0, 2))
            customers.append((
                org_id, f"{rng.choice(CITIES)}{rng.choice(('腾飞', '云帆', 'North', 'Blue', '华信'))}"
                        f"{rng.choice(SUFFIXES)} {i + 1}",
                json.dumps(tags, ensure_ascii=False), rng.choice(INDUSTRIES),
                rng.choice(("strategic", "key", "standard", "standard", "small")),
                rng.choice(("prospect", "customer", "customer", "partner")), rng.choice(user_ids),
                None, "CNY", "{}", 1, created, created,
            ))
        await conn.copy_records_to_table("customer", records=customers, columns=(
            "org_id", "name", "tags", "industry", "tier", "lifecycle_stage", "owner_id", "credit_limit",
            "currency", "custom_fields", "version", "created_at", "updated_at"))
        customer_rows = [(r[0], r[1]) for r in await conn.fetch(
            "SELECT id, owner_id FROM customer WHERE org_id = $1 ORDER BY id", org_id)]
        customer_ids = [c for c, _ in customer_rows]
        log(f"customers: {len(customer_rows)} in {time.perf_counter() - t:.1f}s")

        t = time.perf_counter()
        stage_rows = [s[:3] for s in STAGES]
        stage_weights = [s[3] for s in STAGES]
        opportunities = []
        for i in range(cfg.opportunities):
            customer_id, owner_id = rng.choice(customer_rows)  # the account owner owns the account's deals
            key, probability, closed = rng.choices(stage_rows, stage_weights)[0]
            created = _ts(rng, now, 365)
            changed = min(now, created + timedelta(days=rng.uniform(0, 60)))
            close_date = None if rng.random() < 0.1 else (created + timedelta(days=rng.randint(30, 270))).date()
            opportunities.append((
                org_id, customer_id, owner_id, f"{rng.choice(DEALS)} #{i + 1}", key,
                Decimal(rng.randint(1_000_00, 5_000_000_00)).scaleb(-2), "CNY", close_date, probability, "[]",
                "安排技术交流会" if rng.random() < 0.3 else None,
                rng.choice(LOST_REASONS) if key == "lost" else None, "{}", 1, created, changed, changed,
                changed if closed else None,
            ))
        await conn.copy_records_to_table("opportunity", records=opportunities, columns=(
            "org_id", "customer_id", "owner_id", "name", "stage_key", "amount", "currency", "expected_close_date",
            "probability", "milestones", "next_step", "lost_reason", "custom_fields", "version", "created_at",
            "updated_at", "stage_changed_at", "closed_at"))
        opp_rows = [(r[0], r[1]) for r in await conn.fetch(
            "SELECT id, customer_id FROM opportunity WHERE org_id = $1 ORDER BY id", org_id)]
        log(f"opportunities: {len(opp_rows)} in {time.perf_counter() - t:.1f}s")

        t = time.perf_counter()
        # 200k rows: generated by the server (INSERT ... SELECT generate_series), seeded for repeatability.
        await conn.execute(f"SELECT setseed({rng.random() * 2 - 1})")
        status = await conn.execute(
            INTERACTIONS_SQL, org_id, [o for o, _ in opp_rows], [c for _, c in opp_rows], customer_ids, user_ids,
            [k for k, w in zip(KINDS, KIND_WEIGHTS, strict=True) for _ in range(w)], list(SUMMARIES),
            cfg.interactions, now)
        log(f"interactions: {status.split()[-1]} in {time.perf_counter() - t:.1f}s")

        t = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        log(f"vacuum analyze in {time.perf_counter() - t:.1f}s")
        counts = {}
        for table in ("customer", "opportunity", "interaction"):
            counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE org_id = $1", org_id)
        owned = await conn.fetchval("SELECT count(*) FROM opportunity WHERE org_id = $1 AND owner_id = $2",
                                    org_id, users[0].id)
    finally:
        await conn.close()
    log(f"seeded in {time.perf_counter() - started:.1f}s")
    return Seeded(org_id=org_id, user=users[0], owned_opportunities=owned, rows={
        "customers": counts["customer"], "opportunities": counts["opportunity"],
        "interactions": counts["interaction"]})


# --------------------------------------------------------------------------- the floor


def _b64url(expr: str) -> str:
    """SQL: URL-safe base64 without padding (what schema.node / pagination cursors use)."""
    return f"rtrim(translate(encode(convert_to({expr}, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')"


def _iso(col: str) -> str:
    """SQL: a timestamptz the way Python's datetime.isoformat() writes a UTC datetime."""
    return (f"(to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
            f"date_trunc('second', {col}) = {col} THEN '' ELSE to_char({col} AT TIME ZONE 'UTC', '.US') END "
            f"|| '+00:00')")


# json.dumps(["CREATED_AT", created_at.isoformat(), id], separators=(",", ":")), base64: pagination.encode_cursor
_OPPORTUNITY_CURSOR = _b64url("""'["CREATED_AT","' || """ + _iso("s.created_at") + """ || '",' || s.id || ']'""")

def _shared(record_type: str, alias: str) -> str:
    """SQL: rows shared with the user ($3) through record_share (the bench users have no team)."""
    return (f"{alias}.id IN (SELECT rs.record_id FROM record_share rs WHERE rs.org_id = $1 "
            f"AND rs.record_type = '{record_type}' AND rs.user_id = $3)")


def floor_sql(owner_scoped: bool) -> str:
    """One statement for the whole response.

    The page in Tandem's default order (created_at DESC, id DESC; one row more for hasNextPage), customer and
    owner names, the last five interactions of each opportunity (a correlated LIMIT 5 subquery on
    ix_interaction_opportunity_occurred), global ids, cursors and page info, all built into the response JSON
    by PostgreSQL (building it in Python from plain rows measured slower here).

    ``owner_scoped``: the caller ($3) sees only the opportunities and customers they own or that are shared
    with them, and interactions with those customers: the "own" row scope Tandem's authorization gives a
    sales rep. Otherwise the whole org, as without authorization.
    """
    opportunity_scope = customer_scope = interaction_scope = ""
    if owner_scoped:
        opportunity_scope = f"AND (o.owner_id = $3 OR {_shared('Opportunity', 'o')})"
        customer_scope = f"AND (c.owner_id = $3 OR {_shared('Customer', 'c')})"
        interaction_scope = (f"AND EXISTS (SELECT 1 FROM customer ic WHERE ic.id = i.customer_id AND ic.org_id = $1 "
                             f"AND (ic.owner_id = $3 OR {_shared('Customer', 'ic')}))")
    return f"""
WITH page AS (
    SELECT o.id, o.name, o.stage_key, o.amount, o.currency, o.expected_close_date, o.probability,
           o.customer_id, o.owner_id, o.created_at
    FROM opportunity o
    WHERE o.org_id = $1 {opportunity_scope}
    ORDER BY o.created_at DESC, o.id DESC
    LIMIT $2 + 1
), edges AS (
    SELECT s.created_at, s.id,
           {_OPPORTUNITY_CURSOR} AS cursor,
           json_build_object(
               'id', {_b64url("'Opportunity:' || s.id")},
               'name', s.name,
               'stage', s.stage_key,
               'amount', round(s.amount, 2)::text,
               'currency', s.currency,
               'expectedCloseDate', s.expected_close_date,
               'probability', s.probability,
               'customer', (SELECT json_build_object('name', c.name) FROM customer c
                            WHERE c.id = s.customer_id AND c.org_id = $1 {customer_scope}),
               'owner', (SELECT json_build_object('name', u.name) FROM app_user u
                         WHERE u.id = s.owner_id AND u.org_id = $1),
               'interactions', json_build_object('edges', coalesce((
                   SELECT json_agg(json_build_object('node', json_build_object(
                              'kind', upper(t.kind), 'occurredAt', {_iso("t.occurred_at")}, 'summary', t.summary))
                          ORDER BY t.occurred_at, t.id)
                   FROM (
                       SELECT i.id, i.kind, i.occurred_at, i.summary
                       FROM interaction i
                       WHERE i.opportunity_id = s.id AND i.org_id = $1 {interaction_scope}
                       ORDER BY i.occurred_at DESC, i.id DESC
                       LIMIT {LAST_INTERACTIONS}
                   ) t), '[]'::json))
           ) AS node
    FROM (SELECT * FROM page ORDER BY created_at DESC, id DESC LIMIT $2) s
)
SELECT json_build_object('data', json_build_object('opportunities', json_build_object(
    'edges', coalesce((SELECT json_agg(json_build_object('cursor', e.cursor, 'node', e.node)
                                       ORDER BY e.created_at DESC, e.id DESC) FROM edges e), '[]'::json),
    'pageInfo', json_build_object(
        'hasNextPage', (SELECT count(*) FROM page) > $2,
        'endCursor', (SELECT e.cursor FROM edges e ORDER BY e.created_at, e.id LIMIT 1))
)))::text
"""


def floor_app(dsn: str, org_id: int, owner_id: int | None, pool_min: int, pool_max: int) -> Any:
    """The floor: bare Starlette, an asyncpg pool, one SQL statement per request, its text as the body.
    ``owner_id``: the caller, when the page is limited to what they own (see floor_sql)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    state: dict[str, asyncpg.Pool] = {}
    sql = floor_sql(owner_id is not None)
    args = (org_id, PAGE_SIZE) if owner_id is None else (org_id, PAGE_SIZE, owner_id)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(dsn, min_size=pool_min, max_size=pool_max)
        try:
            yield
        finally:
            await state["pool"].close()

    async def page(request: Request) -> Response:
        await request.body()  # read the (ignored) GraphQL document like a real endpoint would
        body = await state["pool"].fetchval(sql, *args)
        return Response(body.encode(), media_type="application/json")

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/graphql", page, methods=["POST"]), Route("/healthz", healthz)],
                     lifespan=lifespan)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(kind: str, port: int) -> None:
    """Subprocess entry point: one uvicorn worker, same options for both apps, no access log."""
    import uvicorn

    options: dict[str, Any] = {"host": "127.0.0.1", "port": port, "log_level": "warning", "access_log": False,
                               "timeout_graceful_shutdown": 5}
    if kind == "tandem":
        uvicorn.run("tandem.app:create_app", factory=True, **options)
    else:
        owner = os.environ.get("BENCH_FLOOR_OWNER_ID")
        app = floor_app(os.environ["BENCH_FLOOR_DSN"], int(os.environ["BENCH_FLOOR_ORG_ID"]),
                        int(owner) if owner else None,
                        int(os.environ["BENCH_FLOOR_POOL_MIN"]), int(os.environ["BENCH_FLOOR_POOL_MAX"]))
        uvicorn.run(app, **options)


@contextmanager
def server(kind: str, env: dict[str, str]) -> Iterator[str]:
    """Start ``serve(kind)`` in a subprocess on a free loopback port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--port", str(port)],
        cwd=REPO, env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise BenchError(f"{kind} server exited with code {proc.returncode} before it was ready")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{kind} server did not become ready on {url}")
            time.sleep(0.1)
        log(f"{kind} server pid {proc.pid} on {url}")
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --------------------------------------------------------------------------- load


def validate_page(payload: Any, expected_edges: int | None, who: str) -> None:
    """Fail loudly unless ``payload`` is a full, error-free page."""
    if not isinstance(payload, dict):
        raise BenchError(f"{who}: response is not a JSON object: {str(payload)[:300]}")
    if payload.get("errors"):
        raise BenchError(f"{who}: response has errors: {json.dumps(payload['errors'], ensure_ascii=False)[:1000]}")
    try:
        connection = payload["data"]["opportunities"]
        edges = connection["edges"]
        page_info = connection["pageInfo"]
    except (KeyError, TypeError) as exc:
        raise BenchError(f"{who}: unexpected response shape: {str(payload)[:500]}") from exc
    if expected_edges is not None and len(edges) != expected_edges:
        raise BenchError(f"{who}: expected {expected_edges} edges, got {len(edges)}")
    for edge in edges:
        node = edge.get("node") or {}
        if not edge.get("cursor") or set(node) != NODE_KEYS:
            raise BenchError(f"{who}: malformed edge: {str(edge)[:500]}")
        if not node["customer"] or not node["owner"] or len(node["interactions"]["edges"]) > LAST_INTERACTIONS:
            raise BenchError(f"{who}: malformed node: {str(node)[:500]}")
    if not edges:
        raise BenchError(f"{who}: the page is empty")
    if not isinstance(page_info.get("hasNextPage"), bool) or page_info.get("endCursor") != edges[-1]["cursor"]:
        raise BenchError(f"{who}: bad pageInfo: {page_info}")


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if type(a) is not type(b):
        return f"{path or '/'}: {a!r} != {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b) and set(a) != set(b):
            return f"{path or '/'}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}/{i}")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


class Target:
    """One server under load, through one keep-alive client sized for the highest concurrency."""

    def __init__(self, name: str, url: str, headers: dict[str, str], connections: int,
                 expected_edges: int | None) -> None:
        self.name = name
        self.expected_edges = expected_edges
        self.body = json.dumps({"query": PAGE_QUERY, "variables": {}}).encode()
        self.client = httpx.AsyncClient(
            base_url=url, headers={**headers, "content-type": "application/json"}, timeout=60,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    async def fetch(self) -> Any:
        response = await self.client.post("/graphql", content=self.body)
        if response.status_code != 200:
            raise BenchError(f"{self.name}: HTTP {response.status_code}: {response.text[:500]}")
        payload = response.json()
        validate_page(payload, self.expected_edges, self.name)
        return payload

    async def run(self, concurrency: int, seconds: float, max_requests: int) -> dict[str, Any]:
        """Closed loop: ``concurrency`` workers each send the next request when the last one is back."""
        latencies: list[float] = []
        issued = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal issued
            done = 0
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                response = await self.client.post("/graphql", content=self.body)
                elapsed = time.perf_counter() - t0
                if response.status_code != 200 or b'"errors"' in response.content[:64]:
                    raise BenchError(f"{self.name}: HTTP {response.status_code}: {response.text[:500]}")
                if done % 20 == 0:  # full check on a sample; parsing every page would load the client
                    validate_page(response.json(), self.expected_edges, self.name)
                latencies.append(elapsed)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        return summarize(latencies, wall)

    async def close(self) -> None:
        await self.client.aclose()


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(latencies: list[float], wall: float) -> dict[str, Any]:
    if not latencies:
        raise BenchError("no request completed")
    ordered = sorted(latencies)
    return {
        "rps": round(len(ordered) / wall, 1),
        "p50_ms": round(percentile(ordered, 50) * 1000, 2),
        "p99_ms": round(percentile(ordered, 99) * 1000, 2),
        "n": len(ordered),
    }


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


# --------------------------------------------------------------------------- main


async def bench(cfg: Config) -> dict[str, Any]:
    from tandem.auth import mint_token
    from tandem.settings import Settings

    log(f"sizes: {cfg.customers} customers, {cfg.opportunities} opportunities, {cfg.interactions} interactions; "
        f"{cfg.seconds}s per measurement, concurrency {list(cfg.concurrency)}")
    async with bench_database(cfg.server_url) as url:
        database_url = url.render_as_string(hide_password=False)
        settings = Settings(database_url=database_url)
        dsn = _asyncpg_dsn(url)
        seeded = await seed(cfg, settings, dsn)
        token = mint_token(settings, seeded.user, ttl_seconds=3600)
        connections = max(cfg.concurrency)

        tandem_env = {"TANDEM_DATABASE_URL": database_url}
        targets: dict[str, Target] = {}
        try:
            with server("tandem", tandem_env) as tandem_url:
                targets["tandem"] = Target("tandem", tandem_url, {"authorization": f"Bearer {token}"}, connections,
                                           None)
                tandem_page = await targets["tandem"].fetch()
                # With row-level authorization a sales rep sees only what they own: the floor must then filter
                # the same way to return the same page.
                owners = {e["node"]["owner"]["name"] for e in tandem_page["data"]["opportunities"]["edges"]}
                scope = "own" if owners == {seeded.user.name} and cfg.users > 1 else "org"
                log(f"tandem shows the token user {'only their own' if scope == 'own' else 'all the org'} "
                    f"opportunities: floor scope {scope!r}")
                visible = seeded.owned_opportunities if scope == "own" else seeded.rows["opportunities"]
                expected_edges = targets["tandem"].expected_edges = min(PAGE_SIZE, visible)
                validate_page(tandem_page, expected_edges, "tandem")
                floor_env = {"BENCH_FLOOR_DSN": dsn, "BENCH_FLOOR_ORG_ID": str(seeded.org_id),
                             "BENCH_FLOOR_OWNER_ID": str(seeded.user.id) if scope == "own" else "",
                             "BENCH_FLOOR_POOL_MIN": str(settings.db_pool_size),
                             "BENCH_FLOOR_POOL_MAX": str(2 * settings.db_pool_size)}
                with server("floor", floor_env) as floor_url:
                    targets["floor"] = Target("floor", floor_url, {}, connections, expected_edges)
                    floor_page = await targets["floor"].fetch()
                    diff = first_difference(tandem_page, floor_page)
                    if diff:
                        raise BenchError(f"the floor does not return what Tandem returns: {diff}")
                    log(f"both servers return the same page ({expected_edges} edges with cursors, ids, names and "
                        "last interactions)")
                    for name, target in targets.items():
                        warm = await target.run(connections, cfg.warmup_seconds, cfg.max_requests)
                        log(f"warm-up {name}: {warm}")
                    results: dict[str, dict[str, Any]] = {"tandem": {}, "floor": {}}
                    for level in cfg.concurrency:
                        for name, target in targets.items():
                            result = await target.run(level, cfg.seconds, cfg.max_requests)
                            results[name][f"c{level}"] = result
                            log(f"{name} c{level}: {result}")
        finally:
            for target in targets.values():
                await target.close()

    ratios: dict[str, float | None] = {}
    for level in cfg.concurrency:
        key = f"c{level}"
        t, f = results["tandem"][key], results["floor"][key]
        ratios[f"{key}_rps"] = ratio(t["rps"], f["rps"])
        ratios[f"{key}_p50"] = ratio(t["p50_ms"], f["p50_ms"])
        ratios[f"{key}_p99"] = ratio(t["p99_ms"], f["p99_ms"])
    return {
        "benchmark": "query",
        "rows": seeded.rows,
        "tandem": results["tandem"],
        "floor": results["floor"],
        "ratio": ratios,
        "config": {"seconds": cfg.seconds, "max_requests": cfg.max_requests, "page": PAGE_SIZE, "scope": scope,
                   "db_pool": f"{settings.db_pool_size}+{settings.db_pool_size}", "cpus": os.cpu_count()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=("tandem", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    cfg = Config.from_env()
    started = time.perf_counter()
    try:
        import uvloop
    except ImportError:  # the stock loop works too, it just costs the client more CPU
        result = asyncio.run(bench(cfg))
    else:
        result = uvloop.run(bench(cfg))
    log(f"done in {time.perf_counter() - started:.0f}s")
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
