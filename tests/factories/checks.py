"""What domain tests check against: a service call failing with exactly one code, and counts and fresh copies
of rows read back from the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tandem.domain.shared.errors import ErrorCode, ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent


@contextmanager
def fails(code: ErrorCode) -> Iterator[None]:
    """The block raises ValidationFailed with exactly this one code."""
    with pytest.raises(ValidationFailed) as info:
        yield
    assert [e.code for e in info.value.errors] == [code]


async def outbox_count(db: Any, org_id: int, topic: str | None = None) -> int:
    """How many outbox events the org has (of ``topic``)."""
    async with db.read() as s:
        stmt = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.org_id == org_id)
        if topic is not None:
            stmt = stmt.where(OutboxEvent.topic == topic)
        return await s.scalar(stmt)


async def count(db: Any, model: Any, *where: Any) -> int:
    """How many rows of ``model`` match ``where``."""
    async with db.read() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


async def reload(db: Any, model: Any, ident: int) -> Any:
    """The row as the database holds it now."""
    async with db.read() as s:
        return await s.get(model, ident)


async def waiting_on_locks(db: Any, sessions: int) -> bool:
    """At least ``sessions`` sessions of the test database wait on a lock now (PostgreSQL only): what a test
    racing transactions waits for before it lets the lock go."""
    async with db.read() as s:
        waiting = await s.scalar(text("SELECT count(*) FROM pg_stat_activity "
                                      "WHERE datname = current_database() AND wait_event_type = 'Lock'"))
    return waiting >= sessions
