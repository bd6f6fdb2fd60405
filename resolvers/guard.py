"""Field-level read permissions, enforced at one point for every field of every record type.

A field the actor may not read resolves to null, and the response reports it once per
``Type.field`` (code FORBIDDEN_FIELD), however many rows carried it.

graphql-core asks the execution's middleware manager, for every field it executes, which resolver to
call. During an HTTP request the execution swaps in ``DeniedReads``: it answers with the field's own
resolver, or, for a ``Type.field`` the guard denies, with one that resolves to null and reports it. It
decides each resolver once per request (the guard's decisions come memoized from the policy), so a
field executed on every row costs one dict lookup, as it would without authorization.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema, default_field_resolver
from graphql.execution import MiddlewareManager
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from tandem.authz.guard import Guard
from tandem.domain.registry import GUARDED_TYPES, RECORD_TYPES

# Types whose fields the guard decides: those the policy governs, and those with fields derived from
# a guarded field (the registry declares both).
CHECKED_TYPES = GUARDED_TYPES | frozenset(name for name, t in RECORD_TYPES.items() if t.derived)

current_guard: ContextVar[Guard | None] = ContextVar("tandem_guard", default=None)
"""The guard of the request being executed (set by the HTTP endpoint around execution)."""

Resolver = Callable[..., Any]


def graphql_fields(schema: Any, type_name: str) -> list[str]:
    """The GraphQL field names of a strawberry type (private attributes excluded)."""
    convert = schema.config.name_converter.get_graphql_name
    definition = schema.get_type_by_name(type_name)
    return [convert(f) for f in definition.fields if not f.python_name.startswith("_")]


def _own_resolver(resolve: Resolver | None) -> Resolver:
    """A resolver object no other field shares (so it names exactly one ``Type.field``)."""
    inner = resolve or default_field_resolver

    def resolve_field(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        return inner(root, info, **args)

    return resolve_field


_indexes: WeakKeyDictionary[GraphQLSchema, dict[Resolver, tuple[str, str]]] = WeakKeyDictionary()


def guarded_resolvers(schema: GraphQLSchema) -> dict[Resolver, tuple[str, str]]:
    """The resolver of every field of every guarded type, mapped to its ``(Type, field)``; built once
    per schema. A resolver missing or shared with another field gets one of its own first."""
    index = _indexes.get(schema)
    if index is None:
        index = {}
        seen: set[Resolver] = {f.resolve for t in schema.type_map.values() if isinstance(t, GraphQLObjectType)
                               and t.name not in CHECKED_TYPES for f in t.fields.values() if f.resolve}
        for type_name in sorted(CHECKED_TYPES):
            graphql_type = schema.type_map.get(type_name)
            if not isinstance(graphql_type, GraphQLObjectType):
                continue  # not (yet) in this schema
            for field_name, field in graphql_type.fields.items():
                if field.resolve is None or field.resolve in seen:
                    field.resolve = _own_resolver(field.resolve)
                seen.add(field.resolve)
                index[field.resolve] = (type_name, field_name)
        _indexes[schema] = index
    return index


def _denied(type_name: str, field_name: str) -> Resolver:
    def resolve_denied(_root: Any, info: GraphQLResolveInfo, **_args: Any) -> None:
        info.context.forbid_field(type_name, field_name, info.path.as_list())
        return None

    return resolve_denied


class _Choices(dict[Resolver, Resolver]):
    """Resolver -> the resolver to call instead, decided on first use."""

    def __init__(self, guard: Guard, index: dict[Resolver, tuple[str, str]],
                 inner: MiddlewareManager | None) -> None:
        super().__init__()
        self._guard = guard
        self._index = index
        self._inner = inner

    def __missing__(self, field_resolver: Resolver) -> Resolver:
        field = self._index.get(field_resolver)
        if field is not None and not self._guard.can_read(*field):
            chosen = _denied(*field)
        elif self._inner is not None:
            chosen = self._inner.get_field_resolver(field_resolver)
        else:
            chosen = field_resolver
        self[field_resolver] = chosen
        return chosen


class DeniedReads(MiddlewareManager):
    """One request's choice of resolver per field: its own, or a null for a field the guard denies."""

    def __init__(self, guard: Guard, index: dict[Resolver, tuple[str, str]],
                 inner: MiddlewareManager | None) -> None:
        super().__init__(*(inner.middlewares if inner is not None else ()))
        # Asked once per field per row: a bound dict lookup answers without running any Python code
        # once the field's resolver has been seen (cheaper than graphql-core's own manager).
        self.get_field_resolver = _Choices(guard, index, inner).__getitem__  # type: ignore[method-assign]


class FieldGuardExecution(StrawberryGraphQLCoreExecutionContext):
    """Executes an operation; during an HTTP request (``current_guard`` set), through ``DeniedReads``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        guard = current_guard.get()
        if guard is not None:
            self.middleware_manager = DeniedReads(guard, guarded_resolvers(self.schema), self.middleware_manager)
