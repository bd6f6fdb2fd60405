"""Field-level read permissions, enforced at one point for every field of every record type.

A field the actor may not read resolves to null, and the response reports it once per
``Type.field`` (code FORBIDDEN_FIELD), however many rows carried it. A request whose roles may
read every field of every guarded type (decided once per policy version) skips the per-field hook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from graphql import GraphQLResolveInfo
from strawberry.extensions import SchemaExtension

from authz.guard import Guard

GUARDED_TYPES = frozenset({"Customer", "Contact", "Interaction", "Lead", "Opportunity", "User"})

current_guard: ContextVar[Guard | None] = ContextVar("tandem_guard", default=None)
"""The guard of the request being executed (set by the HTTP endpoint around execution)."""


def graphql_fields(schema: Any, type_name: str) -> list[str]:
    """The GraphQL field names of a strawberry type (private attributes excluded)."""
    convert = schema.config.name_converter.get_graphql_name
    definition = schema.get_type_by_name(type_name)
    return [convert(f) for f in definition.fields if not f.python_name.startswith("_")]


class FieldGuard(SchemaExtension):
    def resolve(self, _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo, *args: Any,
                **kwargs: Any) -> Any:
        type_name = info.parent_type.name
        if type_name in GUARDED_TYPES:
            guard = info.context.guard
            if guard is not None and not guard.can_read(type_name, info.field_name):
                info.context.forbid_field(type_name, info.field_name, info.path.as_list())
                return None
        return _next(root, info, *args, **kwargs)


class _Unguarded(SchemaExtension):
    """Nothing to hide for this request."""


def field_guard(fields: Mapping[str, Sequence[str]]) -> Callable[[], SchemaExtension]:
    """The extension factory: the per-field hook only for requests that have something to hide.
    ``fields`` maps each guarded type to its GraphQL field names (filled once the schema is built)."""

    def factory() -> SchemaExtension:
        guard = current_guard.get()
        if guard is None or guard.reads_all(fields):
            return _Unguarded()
        return FieldGuard()

    return factory
