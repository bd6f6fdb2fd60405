"""Optimistic concurrency, one way for every record people edit together.

``load_for_write`` locks the row (``FOR UPDATE`` on PostgreSQL), reloads it from the database over
whatever the session holds (so the version compared is the committed one, not a stale copy), and
raises NOT_FOUND when the actor cannot see it, CONFLICT when it is not the version the caller read.
``flush_or_conflict`` flushes and turns a lost race on a ``version_id_col`` into CONFLICT."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from .dialect import lock_for_update
from .errors import Conflict, NotFound


async def load_for_write(session: AsyncSession, stmt: Any, *, type_name: str, record_id: int,
                         version: int | None = None) -> Any:
    """The one row ``stmt`` selects (already limited to what the actor may see), locked and fresh."""
    row = await session.scalar(lock_for_update(session, stmt).execution_options(populate_existing=True))
    if row is None:
        raise NotFound(type_name, record_id)
    if version is not None:
        check_version(row, version, type_name)
    return row


def check_version(row: Any, version: int, what: str) -> None:
    """CONFLICT unless ``row`` is still at the version the caller read."""
    if row.version != version:
        raise Conflict(f"{what} was changed by someone else (now version {row.version}).")


async def flush_or_conflict(session: AsyncSession, what: str) -> None:
    """Flush; someone else's write to a versioned row in between is a CONFLICT about ``what``."""
    try:
        await session.flush()
    except StaleDataError as exc:
        raise Conflict(f"{what} was changed by someone else.") from exc
