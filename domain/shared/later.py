"""Rows that record what was looked at without changing anything (a workflow rule that heard a change and did
not match it), written after the unit of work commits instead of inside it: the user's change does not wait
for them, and many units' rows are written together.

A unit of work that takes such rows marks its session (``take_later``; ``tandem.db.Database.write`` does) and
hands them, once committed, to its database, which writes them shortly after in a transaction per org
(``Database.flush_later``: readers of such rows call it first, so in one process they see every one). A
session not so marked (a scheduler pass, a script) writes them at once, in its own transaction. If the change
rolls back, its rows are never written; if the process dies in between, they are lost: nothing depended on
them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

LATER = "write_later"
"""``session.info`` key: the rows waiting for the commit, by writer."""

Writer = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]
"""Writes rows (each with its ``org_id``) in the session's transaction."""


def take_later(session: AsyncSession) -> None:
    """Mark the session's unit of work as one that writes such rows after it commits."""
    session.info[LATER] = {}


def taken(session: AsyncSession) -> dict[Writer, list[dict[str, Any]]]:
    """The rows the unit of work left to write after its commit (and unmark it)."""
    return session.info.pop(LATER, None) or {}


async def write_later(session: AsyncSession, writer: Writer, rows: list[dict[str, Any]]) -> None:
    waiting = session.info.get(LATER)
    if waiting is None:
        await writer(session, rows)
        return
    waiting.setdefault(writer, []).extend(rows)
