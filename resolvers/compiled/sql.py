"""The plan as one SQL statement that builds the answer's JSON in the database (PostgreSQL).

Rows come from the same scoped selects the services use (``sources``), under the session's row-level
security; pages use the services' keyset window (``domain.shared.pagination.window``). Values are
written the way ordinary execution writes them: global ids and cursors as unpadded URL-safe base64,
datetimes as Python's ``isoformat()`` of a UTC time, money quantized to its currency, enums by name.
"""

from __future__ import annotations

import json
from functools import reduce
from typing import Any

from sqlalchemy import Integer, Text, case, cast, func, literal_column, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by

from tandem.domain.shared.actor import Actor
from tandem.domain.shared.money import CURRENCY_EXPONENTS
from tandem.domain.shared.pagination import PageRequest, SortKey, window

from .plan import Branch, Leaf
from .sources import SOURCES, Column


def lit(value: str) -> Any:
    """A string constant written into the statement (keys, type names, formats: never user input)."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


def cat(*parts: Any) -> Any:
    return reduce(lambda a, b: a.op("||")(b), parts)


def b64(text_value: Any) -> Any:
    """Unpadded URL-safe base64 of the UTF-8 text (PostgreSQL wraps base64 lines: newlines go)."""
    encoded = func.encode(func.convert_to(text_value, lit("UTF8")), lit("base64"))
    return func.rtrim(func.translate(encoded, literal_column("E'+/\\n'", Text), lit("-_")), lit("="))


def iso(moment: Any) -> Any:
    """``datetime.isoformat()`` of a UTC time: microseconds only when there are some."""
    utc = func.timezone(lit("UTC"), moment)
    fraction = case((func.date_trunc(lit("second"), moment) == moment, lit("")),
                    else_=func.to_char(utc, lit(".US")))
    return cat(func.to_char(utc, lit('YYYY-MM-DD"T"HH24:MI:SS')), fraction, lit("+00:00"))


def day(value: Any) -> Any:
    """``date.isoformat()``; asyncpg reads PostgreSQL's infinite dates as ``date.max`` and ``date.min``
    (a sort key's stand-in for no date is written as one)."""
    return case((value == literal_column("'infinity'::date"), lit("9999-12-31")),
                (value == literal_column("'-infinity'::date"), lit("0001-01-01")),
                else_=func.to_char(value, lit("YYYY-MM-DD")))


def _scale(currency: Any) -> Any:
    special = [(currency == lit(code), literal_column(str(n), Integer))
               for code, n in sorted(CURRENCY_EXPONENTS.items()) if n != 2]
    return case(*special, else_=literal_column("2", Integer)) if special else literal_column("2", Integer)


def value(kind: Column, columns: Any, type_name: str) -> Any:
    col = columns[kind.attr]
    if kind.kind == "id":
        return b64(cat(lit(f"{type_name}:"), cast(col, Text)))
    if kind.kind == "datetime":
        return iso(col)
    if kind.kind == "date":
        return day(col)
    if kind.kind == "money":
        return cast(func.round(col, _scale(columns[kind.currency])), Text)
    if kind.kind == "enum":
        assert kind.enum is not None
        return case(*[(col == lit(m.value), lit(m.name)) for m in kind.enum])
    return col


def json_object(pairs: list[tuple[str, Any]]) -> Any:
    return func.json_build_object(*[x for key, v in pairs for x in (lit(key), v)])


def cursor(sort: SortKey, sort_value: Any, row_id: Any) -> Any:
    """``pagination.encode_cursor``: base64 of ``["NAME",value,id]`` as compact JSON."""
    if sort.kind.__name__ == "datetime":
        written = cat(lit('"'), iso(sort_value), lit('"'))
    elif sort.kind.__name__ == "date":
        written = cat(lit('"'), day(sort_value), lit('"'))
    elif sort.kind.__name__ == "Decimal":
        written = cat(lit('"'), cast(sort_value, Text), lit('"'))
    elif sort.kind is int:
        written = cast(sort_value, Text)
    else:
        written = cast(func.to_json(sort_value), Text)
    head = "[" + json.dumps(sort.name, ensure_ascii=False) + ","
    return b64(cat(lit(head), written, lit(","), cast(row_id, Text), lit("]")))


class Compiler:
    """Builds the JSON expression of each root field for one actor."""

    def __init__(self, actor: Actor, arguments: dict[int, Any]) -> None:
        self.actor = actor
        self.arguments = arguments
        """id(Branch) -> the domain's page request/sort/statement for connections (worked out before)."""

    def object_json(self, branch: Branch, row: Any) -> Any:
        """The JSON object of one row of ``row`` (a table or a page of it, its columns named as the
        model's attributes)."""
        source = SOURCES[branch.type_name]
        columns = row.c
        pairs: list[tuple[str, Any]] = []
        for child in branch.children:
            if isinstance(child, Leaf):
                if child.field == "__typename":
                    pairs.append((child.key, lit(branch.type_name)))
                else:
                    pairs.append((child.key, value(source.columns[child.field], columns, branch.type_name)))
            elif child.field in source.to_one:
                pairs.append((child.key, self.to_one(child, row, columns[source.to_one[child.field].fk])))
            else:
                nested = source.nested[child.field]
                page = self.arguments[id(child)]
                target = SOURCES[nested.target]
                rows = target.rows(self.actor).where(getattr(target.model, nested.parent) == columns["id"])
                pairs.append((child.key, self.connection(child, rows, target.model, nested.sort, page, outer=row)))
        return json_object(pairs)

    def to_one(self, branch: Branch, outer: Any, fk: Any) -> Any:
        source = SOURCES[branch.type_name]
        table = source.model.__table__  # type: ignore[attr-defined]
        stmt = source.rows(self.actor).where(table.c.id == fk)
        return stmt.with_only_columns(self.object_json(branch, table)).correlate(outer).scalar_subquery()

    def connection(self, branch: Branch, rows: Any, model: type, sort: SortKey, req: PageRequest,
                   outer: Any = None) -> Any:
        """One page of ``rows`` as a Relay connection (edges, pageInfo, totalCount as asked)."""
        conditions, order = window(req, sort, model.id)  # type: ignore[attr-defined]
        ranked = (rows.add_columns(sort.expression.label("_sort"), func.row_number().over(order_by=order).label("_n"))
                  .where(*conditions).order_by(*order).limit(req.size + 1))
        if outer is not None:
            rows, ranked = rows.correlate(outer), ranked.correlate(outer)
        page = ranked.subquery()
        shown = page.c._n <= req.size
        display = page.c._n.desc() if req.backward else page.c._n.asc()
        row_cursor = cursor(sort, page.c._sort, page.c.id)
        more = func.count() > req.size
        pairs: list[tuple[str, Any]] = []
        for child in branch.children:
            if child.field == "__typename":
                pairs.append((child.key, lit(branch.type_name)))
            elif child.field == "totalCount":
                counted = rows.with_only_columns(func.count()).order_by(None)
                pairs.append((child.key, counted.scalar_subquery()))
            elif child.field == "pageInfo":
                cursors = func.json_agg(aggregate_order_by(row_cursor, display)).filter(shown)
                parts = {"__typename": lit(child.type_name),
                         "hasNextPage": more if not req.backward else (true() if req.before is not None else ~true()),
                         "hasPreviousPage": more if req.backward else (true() if req.after is not None else ~true()),
                         "startCursor": cursors.op("->>")(0), "endCursor": cursors.op("->>")(-1)}
                pairs.append((child.key, json_object([(p.key, parts[p.field]) for p in child.children])))
            else:  # edges
                edge: list[tuple[str, Any]] = []
                for part in child.children:
                    if part.field == "__typename":
                        edge.append((part.key, lit(child.type_name)))
                    elif part.field == "cursor":
                        edge.append((part.key, row_cursor))
                    else:
                        edge.append((part.key, self.object_json(part, page)))
                edges = func.json_agg(aggregate_order_by(json_object(edge), display)).filter(shown)
                pairs.append((child.key, func.coalesce(edges, literal_column("'[]'::json"))))
        built = select(json_object(pairs)).select_from(page)
        return (built.correlate(outer) if outer is not None else built).scalar_subquery()
