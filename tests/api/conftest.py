"""A sandbox: an app and a database of a test module's own, seeded like the session's, for tests whose writes
(generated mutations, regressions of them) must never touch the shared demo data other tests read.

It uses the in-memory broker even when the session uses Redis: Redis pub/sub channels are not per database,
so a second app's events would reach the session's app."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.app import create_app
from tandem.auth import mint_token
from tandem.db import Database, create_engine
from tandem.demo import seed_demo
from tandem.domain.tenancy.user import user_by_email
from tandem.migrate import upgrade
from tandem.settings import Settings
from tests.conftest import PG_URL

SANDBOX_USERS = ("admin@demo.test", "manager@demo.test", "rep1@demo.test", "rep2@demo.test", "pm@demo.test",
                 "finance@demo.test", "service@demo.test", "marketing@demo.test")


class Sandbox:
    """Posts GraphQL to the sandbox app as one of its demo users; answers are returned whatever their status."""

    def __init__(self, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.http = http
        self.tokens = tokens

    async def post(self, query: str, variables: dict[str, Any] | None = None, *, as_: str) -> httpx.Response:
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                    headers={"authorization": f"Bearer {self.tokens[as_]}"})


@pytest.fixture(scope="module")
async def sandbox_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if not PG_URL:
        yield f"sqlite+aiosqlite:///{Path(tmp_path_factory.mktemp('sandbox')) / 'sandbox.db'}"
        return
    name = f"tandem_sandbox_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="module")
async def sandbox(sandbox_database_url: str) -> AsyncIterator[Sandbox]:
    config = Settings(database_url=sandbox_database_url, debug=False, statement_timeout_ms=10_000,
                      query_cost_extension=False)  # as the session's app (tests/conftest.py)
    database = Database(create_engine(config))
    await upgrade(database.engine)
    async with database.write() as session:
        await seed_demo(session)
    async with database.read() as session:
        tokens = {email: mint_token(config, await user_by_email(session, email)) for email in SANDBOX_USERS}
    await database.dispose()
    application = create_app(config)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                     base_url="http://tandem.test", timeout=60) as client:
            yield Sandbox(client, tokens)
