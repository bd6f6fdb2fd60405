"""A query operation read as a tree the compiler can turn into one SQL statement, or ``NotCompilable``.

The tree keeps the response's keys in the order the document asks for them (aliases included), so
the JSON the database builds has the same shape, key for key, as ordinary execution's answer. What
the tree does not cover (directives, fragments on interfaces, a field selected twice under one key,
fields without a declaration in ``sources``) is not compiled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from .sources import LISTS, ONES, SOURCES

KEY = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


class NotCompilable(Exception):
    """This operation runs through ordinary execution."""


@dataclass(frozen=True)
class Leaf:
    key: str
    field: str
    """A column field of the object, ``__typename``, or a part of a connection (``cursor``,
    ``hasNextPage``, ``totalCount``...)."""


@dataclass(frozen=True)
class Branch:
    key: str
    field: str
    type_name: str
    children: tuple[Any, ...]
    """Leaf and Branch items, in response order."""
    node: FieldNode | None = None
    gql_field: GraphQLField | None = None


@dataclass(frozen=True)
class Plan:
    roots: tuple[Branch, ...]
    fields_read: frozenset[tuple[str, str]]
    """Every (Type, field) the answer reads: the guard decides each."""
    nullable: frozenset[tuple[str, str]]
    """The column fields a null may stand in for (a denied non-null field would null its parent)."""


def _named(graphql_type: Any) -> Any:
    while isinstance(graphql_type, GraphQLNonNull | GraphQLList):
        graphql_type = graphql_type.of_type
    return graphql_type


class _Reader:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.fields_read: set[tuple[str, str]] = set()
        self.nullable: set[tuple[str, str]] = set()

    def fields(self, selection_set: SelectionSetNode | None, type_name: str) -> list[FieldNode]:
        """The field nodes of a selection set on ``type_name``, fragments spread, in document order."""
        if selection_set is None:
            raise NotCompilable("a selection set is missing")
        out: list[FieldNode] = []
        for selection in selection_set.selections:
            if selection.directives:
                raise NotCompilable("directives")
            if isinstance(selection, FieldNode):
                out.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if selection.type_condition is not None and selection.type_condition.name.value != type_name:
                    raise NotCompilable("a fragment on another type")
                out += self.fields(selection.selection_set, type_name)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None or fragment.directives or fragment.type_condition.name.value != type_name:
                    raise NotCompilable("a fragment on another type")
                out += self.fields(fragment.selection_set, type_name)
        keys = [(f.alias or f.name).value for f in out]
        if len(set(keys)) != len(keys):
            raise NotCompilable("a response key selected twice")
        if not all(KEY.fullmatch(k) for k in keys):
            raise NotCompilable("an unexpected key")
        return out

    def object(self, node: FieldNode, field: GraphQLField, type_name: str) -> Branch:
        """An object of a declared type: its columns, to-one relations and nested connections."""
        source = SOURCES[type_name]
        graphql_type = self.schema.type_map[type_name]
        assert isinstance(graphql_type, GraphQLObjectType)
        children: list[Any] = []
        for child in self.fields(node.selection_set, type_name):
            key, name = (child.alias or child.name).value, child.name.value
            if name == "__typename":
                children.append(Leaf(key, name))
                continue
            child_field = graphql_type.fields.get(name)
            if child_field is None:
                raise NotCompilable(f"{type_name}.{name}")
            self.fields_read.add((type_name, name))
            if name in source.columns:
                if child.arguments or child.selection_set:
                    raise NotCompilable(f"{type_name}.{name} with arguments")
                if not isinstance(child_field.type, GraphQLNonNull):
                    self.nullable.add((type_name, name))
                children.append(Leaf(key, name))
            elif name in source.to_one:
                if child.arguments:
                    raise NotCompilable(f"{type_name}.{name} with arguments")
                target = source.to_one[name].target
                children.append(replace(self.object(child, child_field, target), key=key))
            elif name in source.nested:
                children.append(self.connection(child, child_field, source.nested[name].target))
            else:
                raise NotCompilable(f"{type_name}.{name}")
        return Branch(node.alias.value if node.alias else node.name.value, node.name.value, type_name,
                      tuple(children), node, field)

    def connection(self, node: FieldNode, field: GraphQLField, node_type: str) -> Branch:
        """A Relay connection: edges (cursor, node), pageInfo, totalCount, in the document's order."""
        connection_type = _named(field.type)
        children: list[Any] = []
        for child in self.fields(node.selection_set, connection_type.name):
            key, name = (child.alias or child.name).value, child.name.value
            if name in ("__typename", "totalCount"):
                children.append(Leaf(key, name))
            elif name == "pageInfo":
                page_info = _named(connection_type.fields[name].type)
                parts = [Leaf((f.alias or f.name).value, f.name.value)
                         for f in self.fields(child.selection_set, page_info.name)]
                if any(p.field not in ("__typename", "hasNextPage", "hasPreviousPage", "startCursor", "endCursor")
                       for p in parts):
                    raise NotCompilable("pageInfo")
                children.append(Branch(key, name, page_info.name, tuple(parts)))
            elif name == "edges":
                edge_type = _named(connection_type.fields[name].type)
                parts = []
                for part in self.fields(child.selection_set, edge_type.name):
                    part_key, part_name = (part.alias or part.name).value, part.name.value
                    if part_name in ("__typename", "cursor"):
                        parts.append(Leaf(part_key, part_name))
                    elif part_name == "node":
                        parts.append(replace(self.object(part, edge_type.fields["node"], node_type), key=part_key))
                    else:
                        raise NotCompilable(f"{edge_type.name}.{part_name}")
                children.append(Branch(key, name, edge_type.name, tuple(parts)))
            else:
                raise NotCompilable(f"{connection_type.name}.{name}")
        return Branch((node.alias or node.name).value, node.name.value, connection_type.name, tuple(children),
                      node, field)


def read_plan(schema: GraphQLSchema, operation: OperationDefinitionNode,
              fragments: dict[str, FragmentDefinitionNode]) -> Plan:
    """The operation's tree, or NotCompilable."""
    if operation.operation.value != "query" or operation.directives:
        raise NotCompilable("not a query")
    reader = _Reader(schema, fragments)
    query_type = schema.query_type
    assert query_type is not None
    roots = []
    for node in reader.fields(operation.selection_set, query_type.name):
        name = node.name.value
        if name in LISTS:
            roots.append(reader.connection(node, query_type.fields[name], LISTS[name].type_name))
        elif name in ONES:
            roots.append(reader.object(node, query_type.fields[name], ONES[name]))
        else:
            raise NotCompilable(f"Query.{name}")  # __typename, __schema and every other root field too
    return Plan(tuple(roots), frozenset(reader.fields_read), frozenset(reader.nullable))


def first_denials(plan: Plan, data: dict[str, Any], denied: set[tuple[str, str]]) -> dict[str, list[Any]] | None:
    """Where ordinary execution would first report each denied ``Type.field`` (its FORBIDDEN_FIELD path),
    in the order it would report them; None when that order is not certain here.

    Certain means: one root field, and every denied field is a column of the root's own rows (the
    object, or the nodes of the connection's edges). Those resolve without waiting, row 0 first and
    field by field in document order, before any related record is loaded; a denied field that also
    appears deeper was already reported at the top. No rows, no reports."""
    if len(plan.roots) != 1:
        return None
    root = plan.roots[0]
    value = data.get(root.key)
    if value is None:
        return None
    if root.field in ONES:
        levels = [([root.key], root, value)]
    else:  # a connection: its edges' nodes, edges aliases and node aliases in document order
        levels = [([root.key, edges.key, 0, node.key], node, value[edges.key][0] if value[edges.key] else None)
                  for edges in root.children if isinstance(edges, Branch) and edges.field == "edges"
                  for node in edges.children if isinstance(node, Branch)]
        levels = [(prefix, node, row[prefix[-1]] if row is not None else None) for prefix, node, row in levels]
    found: dict[str, list[Any]] = {}
    for prefix, branch, row in levels:
        for child in branch.children:
            if isinstance(child, Leaf) and (branch.type_name, child.field) in denied:
                name = f"{branch.type_name}.{child.field}"
                if row is not None and name not in found:
                    found[name] = [*prefix, child.key]
    top = {(b.type_name, c.field) for _, b, _ in levels for c in b.children if isinstance(c, Leaf)}
    return found if denied <= top else None
