"""SQL that differs between PostgreSQL and SQLite, one small function per concern."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, func, literal, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def json_array_contains(session: AsyncSession, column: Any, value: str | int) -> ColumnElement[bool]:
    """``value`` is an element of the JSON array in ``column``."""
    if dialect_name(session) == "postgresql":
        element = str(value) if isinstance(value, int) else f'"{_json_escape(value)}"'
        return column.op("@>")(func.cast(literal(f"[{element}]"), JSONB))
    each = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == value))


def _json_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


FOLD = "tandem_casefold"
"""SQLite function registered on every connection (tandem/db.py): Unicode case folding, since
SQLite's own LIKE and lower() fold ASCII only."""


def contains_text(session: AsyncSession, column: Any, needle: str) -> ColumnElement[bool]:
    """Case-insensitive (Unicode) substring match, with LIKE wildcards in ``needle`` taken literally."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if dialect_name(session) == "sqlite":
        return getattr(func, FOLD)(column).like(f"%{escaped.casefold()}%", escape="\\")
    return column.ilike(f"%{escaped}%", escape="\\")


def lock_for_update(session: AsyncSession, stmt: Any) -> Any:
    """SELECT ... FOR UPDATE on PostgreSQL; SQLite serializes writers, so a plain SELECT."""
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update()
    return stmt


async def set_statement_timeout(session: AsyncSession, ms: int) -> None:
    if dialect_name(session) == "postgresql":
        await session.execute(text("SELECT set_config('statement_timeout', :v, true)"), {"v": str(ms)})


async def insert_if_absent(session: AsyncSession, table: Any, values: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (both dialects): a concurrent twin's row wins quietly."""
    insert = postgresql_insert if dialect_name(session) == "postgresql" else sqlite_insert
    await session.execute(insert(table).values(**values).on_conflict_do_nothing())
