"""The pool hands out working connections: one that died while it sat idle (the database restarted, a
proxy dropped it) is found out by a ping before use and replaced, so the client never sees it."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text

from tandem.db import PING_AFTER_IDLE_SECONDS

PG_URL = os.environ.get("TANDEM_TEST_DATABASE_URL")
postgres_only = pytest.mark.skipif(not PG_URL, reason="a PostgreSQL server's backends; set TANDEM_TEST_DATABASE_URL")


@postgres_only
async def test_a_connection_killed_while_idle_in_the_pool_is_replaced_before_a_request_uses_it(app, db, gql):
    # given the API answered, so its pool holds connections
    for _ in range(3):
        answer = await gql("{ me { name } }")
        assert "errors" not in answer and answer["data"]["me"]["name"]
    # when the database ends every one of the API's connections while they sit idle
    async with db.engine.connect() as conn:
        killed = (await conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND application_name = 'tandem' AND state = 'idle'"))).scalar_one()
    assert killed > 0
    await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
    # then the next requests are answered as before: the dead connections failed their ping and were replaced
    for _ in range(3):
        answer = await gql("{ me { name } }")
        assert "errors" not in answer and answer["data"]["me"]["name"]
