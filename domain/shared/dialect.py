"""SQL that differs between PostgreSQL and SQLite, one small function per concern."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import JSON, ColumnElement, exists, func, literal, select, text
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


async def bulk_insert(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """Many rows (the same keys each) into one table in one statement, each column's binding done by its type
    once per value, without the executemany machinery around it: PostgreSQL takes each column as one array
    (``INSERT ... SELECT FROM unnest(...)``, JSON as text cast back), SQLite the driver's executemany."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    columns = [c for c in table.columns if c.name in rows[0]]
    names = ", ".join(c.name for c in columns)
    postgres = dialect.name == "postgresql"
    binders = []
    for column in columns:
        if isinstance(column.type.dialect_impl(dialect), JSON):
            binders.append(_json_text)
        else:
            binders.append(column.type.dialect_impl(dialect).bind_processor(dialect))
    values = [[row[c.name] if bind is None else bind(row[c.name]) for c, bind in zip(columns, binders, strict=True)]
              for row in rows]
    if not postgres:
        marks = ", ".join("?" for _ in columns)
        await connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})",
                                         [tuple(v) for v in values])
        return
    arrays, selected = [], []
    for n, column in enumerate(columns, start=1):
        is_json = binders[n - 1] is _json_text
        arrays.append(f"${n}::{'text' if is_json else column.type.compile(dialect=dialect)}[]")
        selected.append(f"c{n}::jsonb" if is_json else f"c{n}")
    sql = (f"INSERT INTO {table.name} ({names}) SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) "
           f"AS u({', '.join(f'c{n}' for n in range(1, len(columns) + 1))})")
    await connection.exec_driver_sql(sql, tuple(list(col) for col in zip(*values, strict=True)))


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()
