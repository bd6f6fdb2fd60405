"""The compiled read path: a query whose every field is a column, a to-one relation or a nested
connection of the types declared in ``sources`` is answered by one SQL statement that builds the JSON
in the database, instead of one Python object per row and field.

It answers only what it can answer exactly as ordinary execution would, and says None otherwise, so
the caller runs the operation the ordinary way: a document not yet seen valid (validation, limits
and their errors stay with ordinary execution), a field the viewer's role may not read (the
``FORBIDDEN_FIELD`` report stays there too), an argument ordinary execution would refuse, a record
that is not found. Authorization is the same: the rows come from the
services' scoped selects under the request's row-level security, and every field read is checked
against the viewer's guard first.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    parse,
)
from graphql.execution.values import get_argument_values, get_variable_values
from sqlalchemy import Text, cast, event, select
from sqlalchemy.exc import DBAPIError
from strawberry.types.arguments import convert_arguments

from tandem.domain.shared.actor import Actor
from tandem.domain.shared.errors import DomainError
from tandem.domain.shared.pagination import PageRequest, window
from tandem.domain.tenancy.user import User
from tandem.schema.node import decode_id

from .plan import Branch, NotCompilable, Plan, first_denials, read_plan
from .sources import LISTS, SOURCES
from .sql import DIALECTS, Compiler, inline_constants, register

__all__ = ["CompiledReads", "STALE_IDENTITY"]

log = logging.getLogger("tandem.compiled")

_NOT_COMPILABLE = object()

STALE_IDENTITY = object()
"""``answer_known``'s word that the user is no longer who the caller took them for (inactive, gone, or
with other roles, team or email): check them again the ordinary way."""

Answer = tuple[dict[str, Any], dict[str, list[Any]]]


def _identity(actor: Actor) -> tuple[Any, ...]:
    return actor.roles, actor.email, actor.team_id


def _read_identity(roles: Any, email: Any, team_id: Any) -> tuple[Any, ...]:
    """What a statement read of its user (roles come as JSON text: jsonb or SQLite's text)."""
    return frozenset(orjson.loads(roles) if isinstance(roles, str | bytes) else roles), email, team_id


class CompiledReads:
    """Answers the queries it can compile; remembers which documents are valid and their plans."""

    def __init__(self, schema: Any, engine: Any, fetch_one: Callable[[int, str, Any], Awaitable[Any]], *,
                 size: int = 1_000, max_tokens: int = 3_000) -> None:
        self.schema = schema
        self.max_tokens = max_tokens
        self.sql = DIALECTS.get(engine.dialect.name)
        self.fetch_one = fetch_one
        """(org id, driver SQL, parameters) -> the statement's one row or None, in a transaction of its own
        scoped to the org (``Database.fetch_one``)."""
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", register)
        self.graphql_schema = schema._schema
        self.size = size
        self._valid: OrderedDict[str, None] = OrderedDict()
        self._plans: OrderedDict[tuple[str, str | None], Any] = OrderedDict()
        self._statements: OrderedDict[tuple[Any, ...], tuple[str, Any]] = OrderedDict()
        self._operations: OrderedDict[tuple[str, str | None], Any] = OrderedDict()
        self.enabled = True
        self.answered = 0
        """How many operations it answered (the equivalence test reads it)."""
        self.answered_known = 0
        """How many of those ``answer_known`` answered (no session, no separate check of the user)."""

    @staticmethod
    def _key(query: str) -> str:
        return hashlib.blake2b(query.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def _remember(self, cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        if len(cache) > self.size:
            cache.popitem(last=False)

    def remember_valid(self, query: str) -> None:
        """Ordinary execution ran this document (it parsed, passed validation and every limit)."""
        self._remember(self._valid, self._key(query), None)

    def _operation(self, query: str, operation_name: str | None) -> tuple[OperationDefinitionNode, Any] | None:
        """The document's chosen operation and its fragments (parsed once per document and name), or None
        when it does not parse or names no single operation."""
        key = (self._key(query), operation_name)
        if key in self._operations:
            self._operations.move_to_end(key)
            return self._operations[key]
        try:
            document = parse(query, no_location=True, max_tokens=self.max_tokens)
            chosen = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                      and (operation_name is None or (d.name and d.name.value == operation_name))]
            fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
            found = (chosen[0], fragments) if len(chosen) == 1 else None
        except (GraphQLError, RecursionError):
            found = None
        self._remember(self._operations, key, found)
        return found

    def is_query(self, query: str, operation_name: str | None) -> bool:
        """Whether the document's chosen operation is a query (False when unsure: it may not parse)."""
        found = self._operation(query, operation_name)
        return found is not None and found[0].operation.value == "query"

    def _plan(self, query: str, operation_name: str | None) -> tuple[Plan, OperationDefinitionNode] | None:
        key = (self._key(query), operation_name)
        found = self._plans.get(key)
        if found is None:
            found = self._read(query, operation_name)
            self._remember(self._plans, key, found)
        return None if found is _NOT_COMPILABLE else found

    def _read(self, query: str, operation_name: str | None) -> Any:
        found = self._operation(query, operation_name)
        if found is None:
            return _NOT_COMPILABLE
        operation, fragments = found
        try:
            return read_plan(self.graphql_schema, operation, fragments), operation
        except (GraphQLError, NotCompilable, RecursionError):
            return _NOT_COMPILABLE
        except Exception:  # a case the reader does not know: ordinary execution answers, and we hear of it
            log.exception("compiled reads: could not plan a document", extra={"fields": {"query": query[:500]}})
            return _NOT_COMPILABLE

    async def answer(self, ctx: Any, query: str, variables: dict[str, Any] | None,
                     operation_name: str | None) -> tuple[dict[str, Any], dict[str, list[Any]]] | None:
        """The operation's data and the first path of each field the role may not read (as ordinary
        execution reports them: FORBIDDEN_FIELD), or None: run it the ordinary way."""
        if not self.enabled or ctx.actor_or_none is None or ctx.guard is None or self._key(query) not in self._valid:
            return None
        if self.sql is None:
            return None
        planned = self._plan(query, operation_name)
        if planned is None:
            return None
        plan, operation = planned
        denied = {read for read in plan.fields_read if not ctx.guard.can_read(*read)}
        if not denied <= plan.nullable:
            return None  # a denied relation, connection or non-null field
        coerced = get_variable_values(self.graphql_schema, operation.variable_definitions or [], variables or {})
        if isinstance(coerced, list):
            return None
        key = self._statement_key(self._key(query), operation_name, variables, ctx.actor, ctx.guard)
        async with ctx.read() as session:
            try:
                text, identity = await self._run(ctx, session, key, plan, coerced, denied)
            except (DomainError, GraphQLError, ValueError, TypeError):
                return None
            except DBAPIError:  # a timeout, say, or a statement nested deeper than SQLite's parser takes:
                # ordinary execution answers (and meets a timeout again, and reports it)
                await session.rollback()
                return None
        if identity != _identity(ctx.actor):
            return None  # changed since the request checked it: ordinary execution sees the same
        return self._finish(plan, text, denied)

    def _finish(self, plan: Plan, text: str, denied: set[tuple[str, str]]) -> Answer | None:
        data = orjson.loads(text)
        if any(data[root.key] is None for root in plan.roots):
            return None  # not found: ordinary execution says so
        forbidden = first_denials(plan, data, denied) if denied else {}
        if forbidden is None:
            return None
        self.answered += 1
        return data, forbidden

    async def answer_known(self, actor: Actor, guard: Any, query: str, variables: dict[str, Any] | None,
                           operation_name: str | None) -> Answer | object | None:
        """The answer of a statement already built for this document, these variables and this actor
        (who they were when last checked), or None: answer it the ordinary way (``answer`` included).

        No session, no separate check of the user: the statement reads the user's row itself, in the
        same snapshot as the data, and says STALE_IDENTITY when the user is inactive, gone or no longer
        has the roles, team and email the statement was built for."""
        document = self._key(query)
        if not self.enabled or self.sql is None or document not in self._valid:
            return None
        key = self._statement_key(document, operation_name, variables, actor, guard)
        cached = self._statements.get(key) if key is not None else None
        planned = self._plans.get((document, operation_name))
        if cached is None or planned is None or planned is _NOT_COMPILABLE:
            return None
        self._statements.move_to_end(key)
        plan, _operation = planned
        denied = {read for read in plan.fields_read if not guard.can_read(*read)}
        try:
            row = await self.fetch_one(actor.org_id, *cached)
        except Exception:  # a timeout, a lost connection: ordinary execution answers, or reports it
            log.debug("compiled reads: a known statement failed", exc_info=True)
            return None
        if row is None:
            return STALE_IDENTITY
        text, *identity = row
        if _read_identity(*identity) != _identity(actor):
            return STALE_IDENTITY
        answer = self._finish(plan, text, denied)
        self.answered_known += answer is not None
        return answer

    def _statement_key(self, document: str, operation_name: str | None, variables: dict[str, Any] | None,
                       actor: Any, guard: Any) -> tuple[Any, ...] | None:
        """What the statement depends on: the document (its hash), its variables and the actor (ids, roles, team)
        under the org's policy version (which, with the roles, fixes every row scope). None when the
        variables cannot be written canonically or there is no policy version (nothing is kept)."""
        policy = getattr(guard, "policy", None)
        version = "unrestricted" if guard.scopes is None else getattr(policy, "version", None)
        if version is None:
            return None
        try:
            written = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS) if variables else b""
        except (TypeError, orjson.JSONEncodeError):
            return None
        return (document, operation_name, written, actor.org_id, actor.user_id, actor.roles,
                actor.team_id, version)

    async def _run(self, ctx: Any, session: Any, key: tuple[Any, ...] | None, plan: Plan,
                   coerced: dict[str, Any], denied: set[tuple[str, str]]) -> tuple[str, tuple[Any, ...]]:
        """The answer's JSON text and who the user is (read in the same statement, see ``answer_known``).
        A statement built once for a key is kept as the driver's SQL and parameters, so a repeated query
        pays neither building nor compiling it."""
        cached = self._statements.get(key) if key is not None else None
        connection = await session.connection()
        if cached is not None:
            self._statements.move_to_end(key)
            result = await connection.exec_driver_sql(*cached)
        else:
            roots = self._roots(ctx, session, plan, coerced, denied)
            actor = ctx.actor
            result = await connection.execute(inline_constants(
                select(cast(self.sql.object(roots), Text), cast(User.roles, Text), User.email, User.team_id)
                .where(User.id == actor.user_id, User.org_id == actor.org_id, User.active.is_(True))))
            if key is not None:
                self._remember(self._statements, key, (result.context.statement, result.context.parameters[0]))
        row = result.first()
        if row is None:
            return "null", ()
        text, *identity = row
        return text, _read_identity(*identity)

    def _arguments(self, branch: Branch, coerced: dict[str, Any]) -> dict[str, Any]:
        """The field's arguments as its resolver receives them (strawberry's input types)."""
        assert branch.gql_field is not None and branch.node is not None
        raw = get_argument_values(branch.gql_field, branch.node, coerced)
        field = branch.gql_field.extensions["strawberry-definition"]
        converter = self.schema.schema_converter
        return convert_arguments(raw, field.arguments, scalar_registry=converter.scalar_registry,
                                 config=self.schema.config)

    def _pages(self, branch: Branch, coerced: dict[str, Any], out: dict[int, Any]) -> None:
        """The page request of every nested connection under ``branch``, checked as the services check it."""
        source = SOURCES.get(branch.type_name)
        for child in branch.children:
            if not isinstance(child, Branch):
                continue
            if source is not None and child.field in source.nested:
                args = self._arguments(child, coerced)
                nested = source.nested[child.field]
                req = PageRequest(first=args.get("first"), after=args.get("after"), last=args.get("last"),
                                  before=args.get("before"), descending=nested.descending)
                req.validate()
                window(req, nested.sort, SOURCES[nested.target].model.id)  # type: ignore[attr-defined]
                out[id(child)] = req
            self._pages(child, coerced, out)

    def _roots(self, ctx: Any, session: Any, plan: Plan, coerced: dict[str, Any],
               denied: set[tuple[str, str]]) -> list[Any]:
        pages: dict[int, Any] = {}
        for root in plan.roots:
            self._pages(root, coerced, pages)
        compiler = Compiler(self.sql, ctx.actor, pages, denied)
        roots = []
        for root in plan.roots:
            args = self._arguments(root, coerced)
            listed = LISTS.get(root.field)
            if listed is not None:
                asked = listed.asked(ctx, **args)
                asked.page.validate()
                rows = listed.rows(session, ctx.actor, asked.filter)
                model = SOURCES[listed.type_name].model
                expression = compiler.connection(root, rows, model, listed.sorts[asked.sort], asked.page)
            else:
                source = SOURCES[root.type_name]
                table = source.model.__table__  # type: ignore[attr-defined]
                stmt = source.rows(ctx.actor).where(table.c.id == decode_id(root.type_name, args["id"]))
                built = stmt.with_only_columns(compiler.object_json(root, table)).scalar_subquery()
                expression = self.sql.nested(built)
            roots.append((root.key, expression))
        return roots
