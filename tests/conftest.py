"""Real services only. SQLite file + in-memory broker by default; PostgreSQL and Redis when
TANDEM_TEST_DATABASE_URL / TANDEM_TEST_REDIS_URL are set. Each run creates its own database
and drops it afterwards."""

from __future__ import annotations

import os
import tempfile
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
from tandem.domain.shared.actor import Actor
from tandem.domain.tenancy.user import User, user_by_email
from tandem.migrate import upgrade
from tandem.settings import Settings

PG_URL = os.environ.get("TANDEM_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TANDEM_TEST_REDIS_URL")


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    if not PG_URL:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'test.db'}"
        return
    name = f"tandem_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # The apps' background scheduler reads the domain clock, which tests set to drive SLA, overdue and
    # delivery passes themselves: left ticking every 30 s it would run the same pass at the same moment
    # (a race the test loses with StaleDataError). Tests run passes when they mean to.
    # Answers leave out their extensions.cost (whose budget left differs from one answer to the next), so that
    # tests compare whole answers; tests/api/test_rate_limits.py turns it on in apps of its own.
    # The session's apps have no cost budgets either: the suite fires thousands of requests a second as the
    # same few users (the tenancy world alone costs more than a user's bucket); tests/api/test_rate_limits.py
    # gives its apps budgets of their own.
    return Settings(database_url=database_url, redis_url=REDIS_URL, debug=False, statement_timeout_ms=10_000,
                    scheduler_interval_seconds=24 * 3600, query_cost_extension=False, rate_user_bucket=0,
                    rate_org_bucket=0)


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(create_engine(settings))
    await upgrade(database.engine)
    async with database.write() as session:
        await seed_demo(session)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def app(settings: Settings, db: Database) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tandem.test") as c:
        yield c


@pytest.fixture(scope="session")
async def users(db: Database) -> dict[str, User]:
    emails = ["admin@demo.test", "manager@demo.test", "rep1@demo.test", "rep2@demo.test", "pm@demo.test",
              "finance@demo.test", "service@demo.test", "marketing@demo.test", "admin@acme.test", "rep@acme.test"]
    async with db.read() as session:
        return {e: await user_by_email(session, e) for e in emails}


def actor_of(user: User) -> Actor:
    return Actor(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles), email=user.email)


class GraphQLClient:
    """Posts GraphQL documents as a given demo user, the way a front end would."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings, users: dict[str, User]) -> None:
        self.http = http
        self.settings = settings
        self.users = users

    def token(self, email: str) -> str:
        return mint_token(self.settings, self.users[email])

    async def raw(self, query: str, variables: dict | None = None, *, as_: str | None = "rep1@demo.test",
                  headers: dict | None = None) -> httpx.Response:
        h = {"authorization": f"Bearer {self.token(as_)}"} if as_ else {}
        h.update(headers or {})
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=h)

    async def __call__(self, query: str, variables: dict | None = None, *, as_: str | None = "rep1@demo.test",
                       headers: dict | None = None) -> dict[str, Any]:
        response = await self.raw(query, variables, as_=as_, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def gql(client: httpx.AsyncClient, settings: Settings, users: dict[str, User]) -> GraphQLClient:
    return GraphQLClient(client, settings, users)
