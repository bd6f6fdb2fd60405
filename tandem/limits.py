"""Query limits (GitHub/Shopify practice): depth, aliases and a node-cost budget, counted with
fragments expanded. Each fragment is measured once (memoized), so repeated spreads cost nothing
to check, and a fragment cycle is reported instead of recursing forever.

Introspection is measured like any other selection (180 aliases of ``types { fields ... }`` once
made a 6.5 MB answer). Only its ``ofType`` adds no depth: it unwraps a list or non-null modifier of
the same type, and the standard introspection query nests it up to nine times. Nesting type lists
(``fields { type { ofType { fields ... } } }``) is bounded by graphql-core's MaxIntrospectionDepthRule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)

PAGE_ARGS = ("first", "last")
ASSUMED_PAGE = 100  # a page size passed as a variable is assumed to be the maximum
INTROSPECTION_ROOTS = ("__schema", "__type")
UNWRAP = "ofType"


@dataclass(frozen=True)
class Measure:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    cycle: bool = False


class _Cycle(Exception):
    pass


def _multiplier(field: FieldNode) -> int:
    for arg in field.arguments or ():
        if arg.name.value in PAGE_ARGS:
            if isinstance(arg.value, IntValueNode):
                return max(1, min(int(arg.value.value), 10_000))
            if isinstance(arg.value, VariableNode):
                return ASSUMED_PAGE
    return 1


def limits_rule(*, max_depth: int, max_aliases: int, max_cost: int) -> type[ValidationRule]:
    class QueryLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments: dict[str, FragmentDefinitionNode] = {
                d.name.value: d for d in context.document.definitions if isinstance(d, FragmentDefinitionNode)
            }
            self.memo: dict[tuple[str, bool], Measure] = {}

        def _fragment(self, name: str, visiting: frozenset[str], introspecting: bool) -> Measure:
            if name in visiting:
                raise _Cycle(name)
            key = (name, introspecting)
            if key not in self.memo:
                fragment = self.fragments.get(name)
                if fragment is None:
                    return Measure()  # KnownFragmentNames reports it
                self.memo[key] = self._measure(fragment.selection_set, visiting | {name}, introspecting)
            return self.memo[key]

        def _measure(self, selection_set: SelectionSetNode | None, visiting: frozenset[str],
                     introspecting: bool = False) -> Measure:
            depth = aliases = cost = 0
            for sel in selection_set.selections if selection_set else ():
                if isinstance(sel, FieldNode):
                    name = sel.name.value
                    inside = introspecting or name in INTROSPECTION_ROOTS
                    inner = self._measure(sel.selection_set, visiting, inside)
                    depth = max(depth, inner.depth + (0 if introspecting and name == UNWRAP else 1))
                    aliases += inner.aliases + (1 if sel.alias else 0)
                    cost += 1 + _multiplier(sel) * inner.cost
                else:
                    if isinstance(sel, FragmentSpreadNode):
                        inner = self._fragment(sel.name.value, visiting, introspecting)
                    elif isinstance(sel, InlineFragmentNode):
                        inner = self._measure(sel.selection_set, visiting, introspecting)
                    else:  # pragma: no cover
                        continue
                    depth = max(depth, inner.depth)
                    aliases += inner.aliases
                    cost += inner.cost
                if cost > 10 * max_cost:  # far past the limit: stop counting
                    break
            return Measure(depth, aliases, cost)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            try:
                m = self._measure(node.selection_set, frozenset())
            except _Cycle as cycle:
                self.report_error(GraphQLError(f"Fragment {cycle.args[0]!r} spreads itself.", node,
                                               extensions={"code": "QUERY_TOO_COMPLEX"}))
                return
            if m.depth > max_depth:
                self.report_error(GraphQLError(
                    f"Query depth {m.depth} exceeds the limit of {max_depth}.", node,
                    extensions={"code": "QUERY_TOO_DEEP"}))
            if m.aliases > max_aliases:
                self.report_error(GraphQLError(
                    f"Query uses {m.aliases} aliases; the limit is {max_aliases}.", node,
                    extensions={"code": "TOO_MANY_ALIASES"}))
            if m.cost > max_cost:
                self.report_error(GraphQLError(
                    f"Query could return {m.cost} nodes; the limit is {max_cost}.", node,
                    extensions={"code": "QUERY_TOO_COMPLEX"}))

    return QueryLimits
