"""The plan as one SQL statement that builds the answer's JSON in the database (PostgreSQL or SQLite).

Rows come from the same scoped selects the services use (``sources``), under the session's row-level
security; pages use the services' keyset window (``domain.shared.pagination.window``). Values are
written the way ordinary execution writes them: global ids and cursors as unpadded URL-safe base64,
datetimes as Python's ``isoformat()`` of a UTC time, money quantized to its currency, enums by name.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import reduce
from typing import Any

from sqlalchemy import BindParameter, Integer, Text, case, cast, func, literal, literal_column, null, select
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg
from sqlalchemy.sql.visitors import replacement_traverse

from tandem.domain.shared.actor import Actor
from tandem.domain.shared.base import MONEY_SCALE
from tandem.domain.shared.money import CURRENCY_EXPONENTS, quantize
from tandem.domain.shared.pagination import PageRequest, SortKey, window
from tandem.schema.scalars import rate

from .plan import Branch, Leaf
from .sources import SOURCES, Column


def lit(value: str) -> Any:
    """A string constant written into the statement (keys, type names, formats: never user input)."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


def cat(*parts: Any) -> Any:
    """``a || b || c``, written flat (SQLite's parser has a small stack for parentheses)."""
    return reduce(lambda a, b: a.concat(b), parts)


class Postgres:
    """PostgreSQL builds everything itself."""

    def object(self, pairs: list[tuple[str, Any]]) -> Any:
        return func.json_build_object(*[x for key, v in pairs for x in (lit(key), v)])

    def array(self, item: Any, display: list[Any] | None, shown: Any) -> Any:
        """The JSON array of ``item`` over the rows ``shown`` (all when None), in ``display`` order (null if none)."""
        built = func.json_agg(aggregate_order_by(item, *display) if display else item)
        return built if shown is None else built.filter(shown)

    def empty_array(self) -> Any:
        return literal_column("'[]'::json")

    def end_cursor(self, sort: SortKey, page: Any, backward: bool, shown: Any, *, last: bool) -> Any:
        """The cursor of the first or last row shown (in display order: by ``_n``, descending when
        paging backward), written once from that row's sort value and id, not once per row."""
        greatest = last != backward  # the row shown with the greatest _n, else the row with _n = 1
        order = page.c._n.desc() if greatest else page.c._n

        def pick(column: Any) -> Any:
            return array_agg(aggregate_order_by(column, order)).filter(shown)[1]

        return cursor(self, sort, pick(page.c._sort), pick(page.c.id))

    def nested(self, subquery: Any) -> Any:
        return subquery

    def boolean(self, value: Any) -> Any:
        return value

    def b64(self, text_value: Any) -> Any:
        """Unpadded URL-safe base64 of the UTF-8 text (PostgreSQL wraps base64 lines: newlines go)."""
        encoded = func.encode(func.convert_to(text_value, lit("UTF8")), lit("base64"))
        return func.rtrim(func.translate(encoded, literal_column("E'+/\\n'", Text), lit("-_")), lit("="))

    def iso(self, moment: Any) -> Any:
        """``datetime.isoformat()`` of a UTC time: microseconds only when there are some (one ``to_char``
        that always writes them, and a zero fraction taken out again)."""
        written = func.to_char(func.timezone(lit("UTC"), moment), lit('YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))
        return func.replace(written, lit(".000000+"), lit("+"))

    def day(self, value: Any) -> Any:
        """``date.isoformat()``; asyncpg reads PostgreSQL's infinite dates as ``date.max`` and
        ``date.min`` (a sort key's stand-in for no date is written as one)."""
        return case((value == literal_column("'infinity'::date"), lit("9999-12-31")),
                    (value == literal_column("'-infinity'::date"), lit("0001-01-01")),
                    else_=func.to_char(value, lit("YYYY-MM-DD")))

    def money(self, amount: Any, currency: Any) -> Any:
        """Rounded to the currency's minor unit: one IN list per exponent other than 2 (hashed by
        PostgreSQL), not one comparison per currency."""
        by_exponent: dict[int, list[str]] = {}
        for code, n in sorted(CURRENCY_EXPONENTS.items()):
            if n != 2:
                by_exponent.setdefault(n, []).append(code)
        special = [(currency.in_([lit(code) for code in codes]), literal_column(str(n), Integer))
                   for n, codes in sorted(by_exponent.items())]
        return cast(func.round(amount, case(*special, else_=literal_column("2", Integer))), Text)

    def decimal(self, amount: Any) -> Any:
        """``str()`` of the stored Decimal (NUMERIC(20, 4) reads back with its four places)."""
        return cast(amount, Text)

    def rate(self, amount: Any) -> Any:
        """``schema.scalars.rate`` of the stored Decimal: no trailing zeros ("13", "6.5")."""
        return cast(func.trim_scale(amount), Text)

    def json_string(self, text_value: Any) -> Any:
        return cast(func.to_json(text_value), Text)


class Sqlite(Postgres):
    """SQLite's JSON functions; what it cannot write exactly (base64, money kept as 1/10,000 units,
    datetimes) is written by the Python functions ``register`` adds to each connection."""

    def object(self, pairs: list[tuple[str, Any]]) -> Any:
        return func.json_object(*[x for key, v in pairs for x in (lit(key), v)])

    def array(self, item: Any, display: list[Any] | None, shown: Any) -> Any:
        built = func.json_group_array(item)  # rows arrive in display order (see connection)
        return built if shown is None else built.filter(shown)

    def empty_array(self) -> Any:
        return func.json(lit("[]"))

    def end_cursor(self, sort: SortKey, page: Any, backward: bool, shown: Any, *, last: bool) -> Any:
        """From the array of every row's cursor (rows arrive in display order, see ``connection``)."""
        cursors = self.array(cursor(self, sort, page.c._sort, page.c.id), None, shown)
        return func.json_extract(cursors, lit("$[#-1]" if last else "$[0]"))

    def nested(self, subquery: Any) -> Any:
        return func.json(subquery)

    def boolean(self, value: Any) -> Any:
        return case((value.is_(None), None), (value, func.json(lit("true"))), else_=func.json(lit("false")))

    def b64(self, text_value: Any) -> Any:
        return func.tandem_b64(text_value)

    def iso(self, moment: Any) -> Any:
        return func.tandem_iso(moment)

    def day(self, value: Any) -> Any:
        return value

    def money(self, amount: Any, currency: Any) -> Any:
        return func.tandem_money(amount, currency)

    def decimal(self, amount: Any) -> Any:
        return func.tandem_decimal(amount)

    def rate(self, amount: Any) -> Any:
        return func.tandem_rate(amount)

    def json_string(self, text_value: Any) -> Any:
        return func.json_quote(text_value)


def _b64(text_value: str | None) -> str | None:
    return None if text_value is None else base64.urlsafe_b64encode(text_value.encode()).decode().rstrip("=")


def _iso(stored: str | None) -> str | None:
    return None if stored is None else datetime.fromisoformat(stored).replace(tzinfo=UTC).isoformat()


def _money(units: int | None, currency: str | None) -> str | None:
    return None if units is None else str(quantize(Decimal(int(units)).scaleb(-MONEY_SCALE), currency or ""))


def _decimal(units: int | None) -> str | None:
    return None if units is None else str(Decimal(int(units)).scaleb(-MONEY_SCALE))


def _rate(units: int | None) -> str | None:
    return None if units is None else str(rate(Decimal(int(units)).scaleb(-MONEY_SCALE)))


def register(dbapi_connection: Any, _record: Any = None) -> None:
    """The SQLite functions the compiled statements call (on every new connection)."""
    for name, arity, function in (("tandem_b64", 1, _b64), ("tandem_iso", 1, _iso), ("tandem_money", 2, _money),
                                  ("tandem_decimal", 1, _decimal), ("tandem_rate", 1, _rate)):
        dbapi_connection.create_function(name, arity, function, deterministic=True)


DIALECTS = {"postgresql": Postgres(), "sqlite": Sqlite()}


def value(sql: Postgres, kind: Column, columns: Any, type_name: str) -> Any:
    col = columns[kind.attr]
    if kind.kind == "id":
        return sql.b64(cat(lit(f"{type_name}:"), cast(col, Text)))
    if kind.kind == "datetime":
        return sql.iso(col)
    if kind.kind == "date":
        return sql.day(col)
    if kind.kind == "money":
        return sql.money(col, columns[kind.currency])
    if kind.kind == "rate":
        return sql.rate(col)
    if kind.kind == "bool":
        return sql.boolean(col)
    if kind.kind == "enum":
        assert kind.enum is not None
        return case(*[(col == lit(m.value), lit(m.name)) for m in kind.enum])
    return col


def cursor(sql: Postgres, sort: SortKey, sort_value: Any, row_id: Any) -> Any:
    """``pagination.encode_cursor``: base64 of ``["NAME",value,id]`` as compact JSON."""
    if sort.kind is datetime:
        written = cat(lit('"'), sql.iso(sort_value), lit('"'))
    elif sort.kind is date:
        written = cat(lit('"'), sql.day(sort_value), lit('"'))
    elif sort.kind is Decimal:
        written = cat(lit('"'), sql.decimal(sort_value), lit('"'))
    elif sort.kind is int:
        written = cast(sort_value, Text)
    else:
        written = sql.json_string(sort_value)
    head = "[" + json.dumps(sort.name, ensure_ascii=False) + ","
    return sql.b64(cat(lit(head), written, lit(","), cast(row_id, Text), lit("]")))


NAME_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,79}")
"""A text parameter written into a kept statement: a name (a record type, a stage key, an enum value),
never free text, which stays a parameter (so no quoting of user input is ever relied on)."""


def inline_constants(statement: Any) -> Any:
    """The statement with its integer parameters (ids, page sizes, limits) and its name-like text ones (the
    record types of the sharing checks, stage keys) written into it. A statement is kept per document,
    variables and user, so they never vary for it; with no parameter left PostgreSQL plans a kept statement
    once per connection (a prepared statement without parameters has only its generic plan) instead of
    again on every execution, which cost it 0.4 ms for one record and 1 ms for a page. Free text (a search)
    stays a parameter."""
    def inline(element: Any, **_kw: Any) -> Any:
        if not isinstance(element, BindParameter) or element.callable is not None:
            return None
        if type(element.value) is int:
            return literal_column(str(element.value), element.type)
        if type(element.value) is str and NAME_LIKE.fullmatch(element.value):
            return literal_column("'" + element.value + "'", element.type)
        return None

    return replacement_traverse(statement, {}, inline)


class Compiler:
    """Builds the JSON expression of each root field for one actor."""

    def __init__(self, sql: Postgres, actor: Actor, arguments: dict[int, Any],
                 denied: set[tuple[str, str]] | None = None) -> None:
        self.sql = sql
        self.actor = actor
        self.denied = denied or set()
        """(Type, field) the role may not read: written as null, never read from the database."""
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
                elif (branch.type_name, child.field) in self.denied:
                    pairs.append((child.key, null()))
                else:
                    pairs.append((child.key, value(self.sql, source.columns[child.field], columns, branch.type_name)))
            elif child.field in source.to_one:
                pairs.append((child.key, self.to_one(child, row, columns[source.to_one[child.field].fk])))
            else:
                nested = source.nested[child.field]
                page = self.arguments[id(child)]
                target = SOURCES[nested.target]
                rows = (nested.rows or target.rows)(self.actor).where(
                    getattr(target.model, nested.parent) == columns["id"])
                pairs.append((child.key, self.connection(child, rows, target.model, nested.sort, page, outer=row)))
        return self.sql.object(pairs)

    def to_one(self, branch: Branch, outer: Any, fk: Any) -> Any:
        source = SOURCES[branch.type_name]
        table = source.model.__table__  # type: ignore[attr-defined]
        stmt = source.rows(self.actor).where(table.c.id == fk)
        built = stmt.with_only_columns(self.object_json(branch, table)).correlate(outer).scalar_subquery()
        return self.sql.nested(built)

    def read_columns(self, branch: Branch, model: type) -> set[str]:
        """The columns of ``model`` the connection ``branch`` reads from its rows (its nodes' fields,
        the currencies of their money, the keys of their relations), the id always."""
        needed = {"id"}
        for child in branch.children:
            if child.field != "edges":
                continue
            for part in child.children:
                if part.field != "node" or not isinstance(part, Branch):
                    continue
                source = SOURCES[part.type_name]
                for leaf in part.children:
                    if isinstance(leaf, Leaf):
                        declared = source.columns.get(leaf.field)
                        if declared is not None and (part.type_name, leaf.field) not in self.denied:
                            needed.add(declared.attr)
                            if declared.kind == "money":
                                needed.add(declared.currency)
                    elif leaf.field in source.to_one:
                        needed.add(source.to_one[leaf.field].fk)
        return needed

    def connection(self, branch: Branch, rows: Any, model: type, sort: SortKey, req: PageRequest,
                   outer: Any = None) -> Any:
        """One page of ``rows`` as a Relay connection (edges, pageInfo, totalCount as asked)."""
        conditions, order = window(req, sort, model.id)  # type: ignore[attr-defined]
        table = model.__table__  # type: ignore[attr-defined]
        rows = rows.with_only_columns(*[c for c in table.c if c.key in self.read_columns(branch, model)],
                                      maintain_column_froms=True)
        # Page info needs one row more than the page and each row's place (_n); edges alone need neither: the
        # page's rows, shown in the sort's own direction.
        numbered = any(child.field == "pageInfo" for child in branch.children)
        added = [sort.expression.label("_sort")]
        if numbered:
            added.append(func.row_number().over(order_by=order).label("_n"))
        size = req.size + 1 if numbered else req.size
        ranked = rows.add_columns(*added).where(*conditions).order_by(*order).limit(size)
        if outer is not None:
            rows, ranked = rows.correlate(outer), ranked.correlate(outer)
        page = ranked.subquery()

        def in_display_order(page: Any) -> list[Any]:
            if numbered:
                return [page.c._n.desc() if req.backward else page.c._n.asc()]
            return [page.c._sort.desc(), page.c.id.desc()] if req.descending else [page.c._sort.asc(), page.c.id.asc()]

        display = in_display_order(page)
        if isinstance(self.sql, Sqlite):  # its aggregates take rows in the order they come
            page = select(page).order_by(*display).subquery()
            display = in_display_order(page)
        shown = page.c._n <= req.size if numbered else None
        row_cursor = cursor(self.sql, sort, page.c._sort, page.c.id)
        more = self.sql.boolean(func.count() > req.size)
        sql = self.sql
        pairs: list[tuple[str, Any]] = []
        for child in branch.children:
            if child.field == "__typename":
                pairs.append((child.key, lit(branch.type_name)))
            elif child.field == "totalCount":
                counted = rows.with_only_columns(func.count()).order_by(None)
                pairs.append((child.key, counted.scalar_subquery()))
            elif child.field == "pageInfo":
                after = sql.boolean(literal(req.after is not None))
                before = sql.boolean(literal(req.before is not None))
                parts = {"__typename": lit(child.type_name),
                         "hasNextPage": more if not req.backward else before,
                         "hasPreviousPage": more if req.backward else after,
                         "startCursor": sql.end_cursor(sort, page, req.backward, shown, last=False),
                         "endCursor": sql.end_cursor(sort, page, req.backward, shown, last=True)}
                pairs.append((child.key, sql.object([(p.key, parts[p.field]) for p in child.children])))
            else:  # edges
                edge: list[tuple[str, Any]] = []
                for part in child.children:
                    if part.field == "__typename":
                        edge.append((part.key, lit(child.type_name)))
                    elif part.field == "cursor":
                        edge.append((part.key, row_cursor))
                    else:
                        edge.append((part.key, self.object_json(part, page)))
                edges = sql.array(sql.object(edge), display, shown)
                pairs.append((child.key, func.coalesce(edges, sql.empty_array())))
        built = select(sql.object(pairs))
        if any(child.field in ("edges", "pageInfo") for child in branch.children):
            built = built.select_from(page)  # aggregates over the page: one row, rows or not
        # else only totalCount and __typename: no page to read (and no row to lose when it is empty)
        return sql.nested((built.correlate(outer) if outer is not None else built).scalar_subquery())
