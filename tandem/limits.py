"""Query limits (GitHub/Shopify practice): depth, aliases and a node-cost budget, counted with
fragments expanded. Each fragment is measured once (memoized), so repeated spreads cost nothing
to check, and a fragment cycle is reported instead of recursing forever."""

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
            self.memo: dict[str, Measure] = {}

        def _fragment(self, name: str, visiting: frozenset[str]) -> Measure:
            if name in visiting:
                raise _Cycle(name)
            if name not in self.memo:
                fragment = self.fragments.get(name)
                if fragment is None:
                    return Measure()  # KnownFragmentNames reports it
                self.memo[name] = self._measure(fragment.selection_set, visiting | {name})
            return self.memo[name]

        def _measure(self, selection_set: SelectionSetNode | None, visiting: frozenset[str]) -> Measure:
            depth = aliases = cost = 0
            for sel in selection_set.selections if selection_set else ():
                if isinstance(sel, FieldNode):
                    if sel.name.value.startswith("__") and sel.selection_set is not None:
                        continue  # introspection is bounded by the schema itself
                    inner = self._measure(sel.selection_set, visiting)
                    depth = max(depth, 1 + inner.depth)
                    aliases += inner.aliases + (1 if sel.alias else 0)
                    cost += 1 + _multiplier(sel) * inner.cost
                else:
                    if isinstance(sel, FragmentSpreadNode):
                        inner = self._fragment(sel.name.value, visiting)
                    elif isinstance(sel, InlineFragmentNode):
                        inner = self._measure(sel.selection_set, visiting)
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
