# ruff: noqa: E402  (sys.path is fixed before the project imports)
"""What automation costs, part by part; each part is a function returning its figures, and the script
prints them all as one JSON line.

Part ``workflow_rules``: the latency of ``updateOpportunity`` (a rep edits a deal's next step, through the
ASGI app) in an org with no rules and in an org with 200 enabled rules on opportunities, of which 5 match
the edit (each notifies the rep's manager) and 195 do not: 120 hear the edit and test it (a related
customer field, the amount, the change) without matching, 75 wait for other triggers (a stage, a creation,
another field). Both orgs live in one database and one app; each round edits one deal in each, taking turns
which goes first, so both meet the same load. Every run is recorded (matched or not), as in production.

    python bench/rules.py            # embedded SQLite in a temp dir
    TANDEM_BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/postgres python bench/rules.py

``workflow_rules``: median and p90 milliseconds per edit for each org, ``ratio_median`` (the goal: at most
1.25) and ``ratio_paired_median`` (the median of each round's ratio, steadier on a busy machine).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import asyncio
import gc
import json
import os
import statistics
import tempfile
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.app import create_app
from tandem.auth import mint_token
from tandem.db import Database, create_engine
from tandem.domain.automation.routing import (
    AssignmentMethod,
    AssignmentRuleInput,
    RoutedType,
    create_assignment_rule,
)
from tandem.domain.automation.rule import RuleInput, Trigger, create_rule
from tandem.domain.automation.rule_engine import catalog
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.crm.lead import Lead, LeadInput, create_lead
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.registry import RECORD_TYPES  # noqa: F401  (hands the registry to automation)
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.migrate import upgrade
from tandem.schema.node import to_global_id
from tandem.settings import Settings

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
UPDATE = """
mutation Edit($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id version } userErrors { code } }
}"""


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def figures(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2)}


async def outbox_published(db: Database) -> None:
    async with asyncio.timeout(120):
        while True:
            async with db.read() as session:
                left = await session.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None)))
            if not left:
                return
            await asyncio.sleep(0.2)


# --- part: workflow rules --------------------------------------------------------------------------


def _rules(stage_keys: list[str], matching: int = 5) -> list[RuleInput]:
    """200 rules on opportunities: 5 that match an edit of the next step (with ``matching=0``: 5 more that do
    not), 120 that hear it and do not match, 75 that wait for something else."""
    notify = [{"type": "NOTIFY", "to": ["OWNER_MANAGER"], "template": "{{name}}: {{nextStep}} ({{amount}})"}]
    rules = [RuleInput(name=f"match {i}", object_type="Opportunity", trigger=Trigger.UPDATED,
                       trigger_options={"fieldsChanged": ["nextStep"]},
                       conditions={"all": [{"field": "amount", "op": "gte",
                                            "value": "1000" if i < matching else "1000000000000"},
                                           {"field": "nextStep", "op": "changed"}]}, actions=notify)
             for i in range(5)]
    tests = [
        {"field": "customer.tier", "op": "eq", "value": "strategic"},
        {"field": "amount", "op": "gt", "value": "100000000"},
        {"all": [{"field": "nextStep", "op": "changedTo", "value": "never"}, {"field": "probability", "op": "lt",
                                                                              "value": 5}]},
        {"any": [{"field": "owner.territory", "op": "eq", "value": "nowhere"},
                 {"field": "name", "op": "startsWith", "value": "zzz"}]},
    ]
    rules += [RuleInput(name=f"miss {i}", object_type="Opportunity", trigger=Trigger.UPDATED,
                        conditions=tests[i % len(tests)], actions=notify) for i in range(120)]
    others: list[tuple[Trigger, dict[str, Any]]] = [
        (Trigger.STAGE_ENTERED, {"stage": stage_keys[-1]}), (Trigger.CREATED, {}),
        (Trigger.UPDATED, {"fieldsChanged": ["amount"]}), (Trigger.EVENT, {"topic": "opportunity.reassigned"}),
    ]
    rules += [RuleInput(name=f"other {i}", object_type="Opportunity", trigger=others[i % len(others)][0],
                        trigger_options=others[i % len(others)][1], actions=notify) for i in range(75)]
    return rules


async def _org(db: Database, rules: bool, matching: int = 5) -> tuple[User, int]:
    """An org with a manager and a rep owning one deal (and 200 rules, ``matching`` of them matching an edit, or
    none); the rep and the deal id."""
    tag = uuid.uuid4().hex[:8]
    async with db.write() as session:
        org = await create_org(session, f"Rules bench {tag}")
        admin = await create_user(session, org.id, email=f"admin-{tag}@bench.test", name="Admin", roles=["admin"])
        manager = await create_user(session, org.id, email=f"mgr-{tag}@bench.test", name="经理",
                                    roles=["sales_manager"])
        rep = await create_user(session, org.id, email=f"rep-{tag}@bench.test", name="销售", roles=["sales_rep"],
                                manager_id=manager.id)
        actor = Actor(user_id=rep.id, org_id=org.id, roles=frozenset(rep.roles))
        customer = await create_customer(session, actor, CustomerInput(name=f"客户 {tag}"))
        deal = await create_opportunity(session, actor, OpportunityInput(
            customer_id=customer.id, name="项目 bench", amount=Decimal("250000.00")))
        if rules:
            author = Actor(user_id=admin.id, org_id=org.id, roles=frozenset(admin.roles))
            for rule in _rules(["won"], matching):
                await create_rule(session, author, catalog(), rule, can_read=lambda t, f: True, limited=False)
    return rep, deal.id


async def workflow_rules(db: Database, app: Any, settings: Settings) -> dict[str, Any]:
    plain_rep, plain_deal = await _org(db, rules=False)
    busy_rep, busy_deal = await _org(db, rules=True)
    idle_rep, idle_deal = await _org(db, rules=True, matching=0)
    await outbox_published(db)
    sides = {"no_rules": (mint_token(settings, plain_rep), plain_deal),
             "rules_200": (mint_token(settings, busy_rep), busy_deal),
             "rules_200_none_match": (mint_token(settings, idle_rep), idle_deal)}
    versions = {k: 1 for k in sides}
    timings: dict[str, list[float]] = {k: [] for k in sides}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:

        async def edit(key: str, n: int) -> float:
            token, deal = sides[key]
            started = time.perf_counter()
            response = await client.post("/graphql", headers={"authorization": f"Bearer {token}"}, json={
                "query": UPDATE, "variables": {"input": {"id": to_global_id("Opportunity", deal),
                                                         "version": versions[key], "nextStep": f"步骤 {n}"}}})
            elapsed = (time.perf_counter() - started) * 1000
            body = response.json()
            payload = (body.get("data") or {}).get("updateOpportunity") or {}
            if response.status_code != 200 or "errors" in body or payload.get("userErrors"):
                raise SystemExit(f"bench edit failed: {response.status_code} {str(body)[:500]}")
            versions[key] = payload["opportunity"]["version"]
            return elapsed

        for n in range(10):  # warm up
            for key in sides:
                await edit(key, n)
        gc.collect()
        gc.freeze()
        for n in range(ROUNDS):
            order = list(sides)[n % 3:] + list(sides)[:n % 3]
            for key in order:
                timings[key].append(await edit(key, 100 + n))
        gc.unfreeze()
    await app.state.db.flush_later()  # runs that matched nothing are written just after the change commits
    async with db.read() as session:
        runs = await session.scalar(text("SELECT count(*) FROM workflow_run"))
    none, busy = figures(timings["no_rules"]), figures(timings["rules_200"])
    idle = figures(timings["rules_200_none_match"])
    paired = statistics.median(b / a for a, b in zip(timings["no_rules"], timings["rules_200"], strict=True))
    return {"rounds": ROUNDS, "rules": 200, "matching": 5, "no_rules": none, "rules_200": busy,
            "ratio_median": round(busy["median_ms"] / none["median_ms"], 3), "goal_ratio": 1.25,
            "ratio_paired_median": round(paired, 3),
            # the same 200 rules with none matching: what hearing and testing them costs, without the 5 matches'
            # notifications
            "rules_200_none_match": idle, "ratio_none_match_median": round(idle["median_ms"] / none["median_ms"], 3),
            "runs_recorded": runs}


async def routing(db: Database, app: Any, settings: Settings) -> dict[str, Any]:
    """Route 10,000 leads (BENCH_LEADS) through 20 assignment rules: 19 territory/round-robin rules each for one
    region and a catch-all last, 20 reps; leads created 100 per transaction through the domain service (the
    routing reaction runs in each creation's unit of work). Leads per second, beside the same leads created in an
    org without rules (``unrouted_leads_per_second``), and how evenly they spread over the reps."""
    leads = int(os.environ.get("BENCH_LEADS", "10000"))
    tag = uuid.uuid4().hex[:8]
    regions = [f"区域{n}" for n in range(19)]
    async with db.write() as session:
        org = await create_org(session, f"Routing bench {tag}")
        admin = await create_user(session, org.id, email=f"admin-{tag}@route.bench", name="Admin", roles=["admin"])
        web = await create_user(session, org.id, email=f"web-{tag}@route.bench", name="Web", roles=["marketing"])
        reps = [await create_user(session, org.id, email=f"rep{n}-{tag}@route.bench", name=f"销售{n}",
                                  roles=["sales_rep"], territory=regions[n % 19]) for n in range(20)]
        author = Actor(user_id=admin.id, org_id=org.id, roles=frozenset(admin.roles))
        for n, region in enumerate(regions):
            await create_assignment_rule(session, author, AssignmentRuleInput(
                name=f"{region}", object_type=RoutedType.LEAD, method=AssignmentMethod.ROUND_ROBIN,
                conditions=[{"field": "region", "eq": region}], member_ids=[reps[n].id, reps[(n + 1) % 20].id],
                respect_capacity=False))
        await create_assignment_rule(session, author, AssignmentRuleInput(
            name="其他", object_type=RoutedType.LEAD, method=AssignmentMethod.ROUND_ROBIN,
            member_ids=[r.id for r in reps], respect_capacity=False))
        plain_org = await create_org(session, f"Routing bench plain {tag}")
        plain_web = await create_user(session, plain_org.id, email=f"web-plain-{tag}@route.bench", name="Web",
                                      roles=["marketing"])

    async def batch(creator: Actor, first: int) -> float:
        started = time.perf_counter()
        async with db.write() as session:
            for n in range(first, min(first + 100, leads)):
                await create_lead(session, creator, LeadInput(name=f"线索 {n}", region=(regions + ["其他"])[n % 20]))
        return time.perf_counter() - started

    # the two orgs take turns batch by batch (which goes first alternating), so both meet the same load
    sides = [Actor(user_id=plain_web.id, org_id=plain_org.id, roles=frozenset(plain_web.roles)),
             Actor(user_id=web.id, org_id=org.id, roles=frozenset(web.roles))]
    spent = [0.0, 0.0]
    for k, first in enumerate(range(0, leads, 100)):
        for side in ((0, 1) if k % 2 == 0 else (1, 0)):
            spent[side] += await batch(sides[side], first)
    plain, elapsed = spent
    async with db.read() as session:
        counts = [n for _, n in (await session.execute(select(Lead.owner_id, func.count()).where(
            Lead.org_id == org.id).group_by(Lead.owner_id))).all()]
    return {"leads": leads, "rules": 20, "reps": 20, "seconds": round(elapsed, 2),
            "leads_per_second": round(leads / elapsed, 1),
            "unrouted_leads_per_second": round(leads / plain, 1), "per_rep_min": min(counts),
            "per_rep_max": max(counts)}


PARTS = {"workflow_rules": workflow_rules, "routing": routing}
"""Each part of the benchmark: ``(db, app, settings) -> figures``."""


async def main() -> None:
    base = os.environ.get("TANDEM_BENCH_DATABASE_URL")
    only = [p for p in os.environ.get("BENCH_ONLY", "").split(",") if p] or list(PARTS)
    tmp = tempfile.TemporaryDirectory()
    admin_engine = None
    if base:
        name = f"tandem_bench_rules_{uuid.uuid4().hex[:8]}"
        admin_engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with admin_engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    try:
        settings = Settings(database_url=url, statement_timeout_ms=60_000, rate_user_bucket=0, rate_org_bucket=0)
        db = Database(create_engine(settings))
        await upgrade(db.engine)
        app = create_app(settings)
        out: dict[str, Any] = {"benchmark": "rules", "database": make_url(url).get_backend_name()}
        async with app.router.lifespan_context(app):
            for part in only:
                log(f"{part} ...")
                out[part] = await PARTS[part](db, app, settings)
        await db.dispose()
        print(json.dumps(out, ensure_ascii=False))
    finally:
        if admin_engine is not None:
            async with admin_engine.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin_engine.dispose()
        tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
