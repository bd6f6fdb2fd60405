"""Keyset pagination for root and nested (batched) connections, in SQL, never in Python.

A cursor is opaque to clients: base64 of the sort key name, the sort value and the row id.
Nested connections for many parents at once use a window function, so a page of 100
opportunities with their last 5 interactions costs one statement, not 100.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from .errors import DomainError

T = TypeVar("T")
MAX_PAGE = 100


class InvalidPageRequest(DomainError):
    code = "BAD_USER_INPUT"


class InvalidCursor(DomainError):
    code = "INVALID_CURSOR"


@dataclass(frozen=True)
class SortKey:
    """A named sort order: an expression (not null) plus the row id as tie-breaker."""

    name: str
    expression: Any
    kind: type = str


@dataclass(frozen=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None
    descending: bool = False

    def validate(self) -> None:
        if (self.first is None) == (self.last is None):
            raise InvalidPageRequest("Pass exactly one of `first` or `last` (1 to 100).")
        size = self.first if self.first is not None else self.last
        assert size is not None
        if not 1 <= size <= MAX_PAGE:
            raise InvalidPageRequest(f"`first`/`last` must be between 1 and {MAX_PAGE}, got {size}.")
        if self.first is not None and self.before is not None:
            raise InvalidPageRequest("`before` goes with `last`, not `first`.")
        if self.last is not None and self.after is not None:
            raise InvalidPageRequest("`after` goes with `first`, not `last`.")

    @property
    def size(self) -> int:
        return self.first if self.first is not None else self.last  # type: ignore[return-value]

    @property
    def backward(self) -> bool:
        return self.last is not None


@dataclass
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    total: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


MAX_ID = 2**63 - 1


def _decode_value(value: Any, kind: type) -> Any:
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    if kind is Decimal:
        if not isinstance(value, str):
            raise ValueError
        number = Decimal(value)
        if not number.is_finite():
            raise ValueError
        return number
    if kind is int:
        return int(value)
    if kind is float:  # a relevance rank: the float the database gave, back as JSON kept it
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError
        return float(value)
    if not isinstance(value, str):
        raise ValueError
    return value


def encode_cursor(sort: SortKey, value: Any, row_id: int) -> str:
    raw = json.dumps([sort.name, _encode_value(value), row_id], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(sort: SortKey, cursor: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        if name != sort.name or not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 < row_id <= MAX_ID:
            raise ValueError
        return _decode_value(value, sort.kind), row_id
    except (ValueError, TypeError, ArithmeticError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidCursor("The cursor is not one this connection gave out (or its sort changed).") from exc


def _after(sort: SortKey, id_col: Any, value: Any, row_id: int, forward_asc: bool) -> ColumnElement[bool]:
    if forward_asc:
        return or_(sort.expression > value, and_(sort.expression == value, id_col > row_id))
    return or_(sort.expression < value, and_(sort.expression == value, id_col < row_id))


def window(req: PageRequest, sort: SortKey, id_col: Any) -> tuple[list[ColumnElement[bool]], list[Any]]:
    """Keyset conditions and ORDER BY for the requested direction (reversed for `last`)."""
    asc = not req.descending
    scan_asc = asc != req.backward
    conditions = []
    if req.after is not None:
        value, row_id = decode_cursor(sort, req.after)
        conditions.append(_after(sort, id_col, value, row_id, asc))
    if req.before is not None:
        value, row_id = decode_cursor(sort, req.before)
        conditions.append(_after(sort, id_col, value, row_id, not asc))
    order = [sort.expression.asc(), id_col.asc()] if scan_asc else [sort.expression.desc(), id_col.desc()]
    return conditions, order


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    entity: Any,
    sort: SortKey,
    req: PageRequest,
    with_total: bool = False,
) -> Page[Any]:
    """One page of ``entity`` rows selected by ``stmt`` (already filtered by org and scope)."""
    req.validate()
    id_col = entity.id
    conditions, order = window(req, sort, id_col)
    page_stmt = stmt.add_columns(sort.expression.label("_sort")).where(*conditions).order_by(*order)
    rows = list((await session.execute(page_stmt.limit(req.size + 1))).all())
    more = len(rows) > req.size
    rows = rows[: req.size]
    if req.backward:
        rows.reverse()
    total = None
    if with_total:
        total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return Page(
        items=[r[0] for r in rows],
        cursors=[encode_cursor(sort, r[-1], r[0].id) for r in rows],
        has_next=more if not req.backward else req.before is not None,
        has_previous=more if req.backward else req.after is not None,
        total=total,
    )


async def paginate_many(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    entity: Any,
    parent_col: Any,
    parent_ids: Sequence[int],
    sort: SortKey,
    req: PageRequest,
    with_total: bool = False,
) -> dict[int, Page[Any]]:
    """The same page of children for many parents, in one statement (window function)."""
    req.validate()
    id_col = entity.id
    conditions, order = window(req, sort, id_col)
    ranked = (
        stmt.add_columns(
            sort.expression.label("_sort"),
            func.row_number().over(partition_by=parent_col, order_by=order).label("_rank"),
        )
        .where(parent_col.in_(parent_ids), *conditions)
        .subquery()
    )
    alias = aliased(entity, ranked)
    page_stmt = (
        select(alias, ranked.c._sort, ranked.c._rank)
        .where(ranked.c._rank <= req.size + 1)
        .order_by(ranked.c._rank)
    )
    grouped: dict[int, list[Any]] = {pid: [] for pid in parent_ids}
    parent_key = parent_col.key
    for obj, sort_value, _rank in (await session.execute(page_stmt)).all():
        grouped[getattr(obj, parent_key)].append((obj, sort_value))
    totals: dict[int, int] = {}
    if with_total:
        count_stmt = (
            stmt.with_only_columns(parent_col, func.count())
            .where(parent_col.in_(parent_ids))
            .group_by(parent_col)
            .order_by(None)
        )
        totals = {pid: n for pid, n in (await session.execute(count_stmt)).all()}
    pages: dict[int, Page[Any]] = {}
    for pid, rows in grouped.items():
        more = len(rows) > req.size
        rows = rows[: req.size]
        if req.backward:
            rows.reverse()
        pages[pid] = Page(
            items=[obj for obj, _ in rows],
            cursors=[encode_cursor(sort, value, obj.id) for obj, value in rows],
            has_next=more if not req.backward else req.before is not None,
            has_previous=more if req.backward else req.after is not None,
            total=totals.get(pid, 0) if with_total else None,
        )
    return pages
