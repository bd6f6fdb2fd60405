"""Benchmark: ``searchKnowledge`` over HTTP on SQLite and PostgreSQL.

For each backend: a fresh database (a temporary SQLite file; a new PostgreSQL database), migrated, the demo orgs
seeded, then BENCH_ARTICLES published articles of generated text, mixed Chinese and English, written straight into
the tables and the search index (the index rows built by domain/knowledge/search.py, as the service writes them).
Tandem is then served by uvicorn on a free loopback port (in this process), and a sales rep asks BENCH_QUERIES
searches of one or two words (Chinese and English, each of which some articles hold), one at a time, first 10.

Run from the repository root:

    .venv/bin/python bench/search.py            # one JSON line on stdout, progress on stderr

Environment (all optional):

    BENCH_ARTICLES             100000
    BENCH_QUERIES              300
    BENCH_BACKENDS             sqlite,postgresql
    TANDEM_BENCH_DATABASE_URL  server to create the bench database on
                               (default postgresql+asyncpg://postgres@127.0.0.1/postgres)
    BENCH_SEED                 42
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import insert, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.app import create_app
from tandem.auth import mint_token
from tandem.db import Database, create_engine
from tandem.demo import seed_demo
from tandem.domain.knowledge import search
from tandem.domain.knowledge.article import KnowledgeArticle
from tandem.domain.shared.clock import clock
from tandem.domain.tenancy.user import user_by_email
from tandem.migrate import upgrade
from tandem.settings import Settings

ZH = ("密码 重置 网络 打印机 邮箱 账号 登录 权限 合同 发票 报销 审批 客户 项目 交付 服务器 数据库 备份 系统 升级 "
      "安装 配置 故障 错误 超时 连接 无法 如何 设置 管理 流程 申请 退款 订单 支付 物流 仓库 库存 报表 导出 "
      "手机 电脑 显示器 会议室 预订 培训 证书 安全 病毒 防火墙").split()
EN = ("password reset network printer email account login permission contract invoice expense approval customer "
      "project delivery server database backup system upgrade install configure failure error timeout connect "
      "cannot how settings manage process request refund order payment shipping warehouse stock report export "
      "phone laptop monitor meeting room booking training certificate security virus firewall vpn").split()
QUERY = "query ($q: String!) { searchKnowledge(query: $q, first: 10) { edges { node { id title } } } }"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _article(rng: random.Random) -> tuple[str, str, str, list[str]]:
    if rng.random() < 0.5:
        words = ZH
        title = "".join(rng.choices(words, k=rng.randint(3, 6)))
        body = "，".join("".join(rng.choices(words, k=rng.randint(3, 8))) for _ in range(rng.randint(5, 12))) + "。"
        return "zh", title, body, rng.sample(words, 2)
    words = EN
    title = " ".join(rng.choices(words, k=rng.randint(3, 7))).capitalize()
    body = ". ".join(" ".join(rng.choices(words, k=rng.randint(5, 12))) for _ in range(rng.randint(4, 10))) + "."
    return "en", title, body, rng.sample(words, 2)


async def _seed_articles(db: Database, org_id: int, author_id: int, n: int, rng: random.Random) -> None:
    batch = 2000
    now = clock.now()
    dialect = db.engine.dialect.name
    for start in range(0, n, batch):
        rows = []
        for _ in range(min(batch, n - start)):
            language, title, body, tags = _article(rng)
            rows.append({"org_id": org_id, "title": title, "body": body, "category": "bench", "tags": tags,
                         "language": language, "status": "PUBLISHED", "author_id": author_id, "helpful_count": 0,
                         "not_helpful_count": 0, "version": 1, "created_at": now, "updated_at": now,
                         "published_at": now})
        async with db.write(org_id) as session:
            ids = list(await session.scalars(insert(KnowledgeArticle).returning(KnowledgeArticle.id), rows))
            if dialect == "postgresql":
                await session.execute(text(
                    "INSERT INTO knowledge_search (article_id, org_id, document) "
                    "VALUES (:id, :org, CAST(:doc AS tsvector))"),
                    [{"id": pk, "org": org_id,
                      "doc": search.tsvector_literal(r["title"], " ".join(["bench", *r["tags"]]), r["body"])}
                     for pk, r in zip(ids, rows, strict=True)])
            else:
                await session.execute(text(
                    "INSERT INTO knowledge_search (rowid, org_id, title, tags, body) "
                    "VALUES (:id, :org, :title, :tags, :body)"),
                    [{"id": pk, "org": org_id, "title": " ".join(search.words(r["title"])),
                      "tags": " ".join(search.words(" ".join(["bench", *r["tags"]]))),
                      "body": " ".join(search.words(r["body"]))} for pk, r in zip(ids, rows, strict=True)])
        _log(f"  seeded {start + len(rows)}/{n}")
    if dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE knowledge_article"))
            await conn.execute(text("ANALYZE knowledge_search"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _measure(settings: Settings, token: str, queries: list[str]) -> dict[str, Any]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn has no event to wait on)
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     headers={"authorization": f"Bearer {token}"}, timeout=30) as client:
            for q in queries[:20]:  # warm up
                (await client.post("/graphql", json={"query": QUERY, "variables": {"q": q}})).raise_for_status()
            times, hits = [], 0
            for q in queries:
                started = time.perf_counter()
                response = await client.post("/graphql", json={"query": QUERY, "variables": {"q": q}})
                times.append((time.perf_counter() - started) * 1000)
                body = response.json()
                assert "errors" not in body, body
                hits += bool(body["data"]["searchKnowledge"]["edges"])
    finally:
        server.should_exit = True
        await serving
    times.sort()
    return {"queries": len(queries), "with_results": hits, "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2)}


async def _backend(url: str, n: int, queries: list[str], seed: int) -> dict[str, Any]:
    settings = Settings(database_url=url, debug=False, scheduler_interval_seconds=24 * 3600,
                        query_cost_extension=False, rate_user_bucket=0, rate_org_bucket=0)
    db = Database(create_engine(settings))
    try:
        await upgrade(db.engine)
        async with db.write() as session:
            await seed_demo(session)
        async with db.read() as session:
            admin = await user_by_email(session, "admin@demo.test")
            rep = await user_by_email(session, "rep1@demo.test")
        started = time.perf_counter()
        await _seed_articles(db, admin.org_id, admin.id, n, random.Random(seed))
        seeded = time.perf_counter() - started
        async with db.read(admin.org_id) as session:
            count = await session.scalar(select(text("count(*)")).select_from(KnowledgeArticle))
        figures = await _measure(settings, mint_token(settings, rep), queries)
        return {"articles": count, "seed_s": round(seeded, 1), **figures}
    finally:
        await db.dispose()


async def main() -> None:
    n = _env_int("BENCH_ARTICLES", 100_000)
    rng = random.Random(_env_int("BENCH_SEED", 42))
    queries = [rng.choice(ZH) if i % 4 == 0 else
               " ".join(rng.sample(ZH, 2)) if i % 4 == 1 else
               rng.choice(EN) if i % 4 == 2 else " ".join(rng.sample(EN, 2))
               for i in range(_env_int("BENCH_QUERIES", 300))]
    out: dict[str, Any] = {"bench": "search", "articles": n}
    for backend in os.environ.get("BENCH_BACKENDS", "sqlite,postgresql").split(","):
        _log(f"{backend}: seeding {n} articles")
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                out["sqlite"] = await _backend(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", n, queries,
                                               _env_int("BENCH_SEED", 42))
            continue
        server = os.environ.get("TANDEM_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1/postgres")
        name = f"tandem_bench_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
            out["postgresql"] = await _backend(url, n, queries, _env_int("BENCH_SEED", 42))
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
