"""More concurrent requests than the pool has connections, while every request must re-read the org's
policy: no request may hold a connection while it waits for another (they would all wait on the pool
until it times out, and answer 500)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tandem.app import create_app
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="SQLite has no connection pool to exhaust here")


async def test_requests_beyond_the_pool_size_all_answer_while_policies_are_reread(settings, gql):
    # given an app with 2 + 2 connections that re-reads the policy on every request
    tight = settings.model_copy(update={"db_pool_size": 2, "policy_poll_seconds": 0.0})
    app = create_app(tight)
    token = gql.token("rep1@demo.test")
    query = {"query": "{ opportunities(first: 5) { edges { node { name customer { name } } } } }"}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            async def ask() -> httpx.Response:
                return await client.post("/graphql", json=query, headers={"authorization": f"Bearer {token}"})

            await ask()  # the document is known valid: the next ones take the compiled path too
            # when 24 requests arrive at once
            answers = await asyncio.wait_for(asyncio.gather(*(ask() for _ in range(24))), timeout=20)
    # then every one is answered, none waited out the pool
    assert [a.status_code for a in answers] == [200] * 24
    assert all("errors" not in a.json() for a in answers)
