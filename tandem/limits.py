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
    DocumentNode,
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


# --- query cost (extensions.cost, the rate limits' currency) -----------------------------------------

MUTATION_COST = 10
"""What each root field of a mutation costs besides its selection (a write is dearer than a read)."""
COST_CAP = 10**9
"""Estimates stop growing here (literal page sizes nested deep multiply fast)."""


@dataclass(frozen=True)
class CostPlan:
    """A document's cost estimate before it runs: a constant part, plus terms whose page size is a variable
    (``first: $n``) or that repeat a fragment's part; ``base``: what the operation costs besides its
    objects (mutations). Built once per document (``cost_plan``), evaluated per request's variables."""

    constant: int = 0
    terms: tuple[tuple[int, str | None, int, CostPlan], ...] = ()
    """(factor, page-size variable or None, the variable's default, inner part)."""
    base: int = 0

    def requested(self, variables: dict[str, Any] | None) -> int:
        if not self.terms:
            return max(1, min(COST_CAP, self.base + self.constant))
        return max(1, min(COST_CAP, self.base + self._value(variables or {}, {})))

    def _value(self, variables: dict[str, Any], memo: dict[int, int]) -> int:
        if not self.terms:
            return self.constant
        found = memo.get(id(self))
        if found is not None:
            return found
        total = self.constant
        for factor, variable, default, inner in self.terms:
            page = 1
            if variable is not None:
                given = variables.get(variable, default)
                page = max(1, min(int(given), 10_000)) if isinstance(given, int) and not isinstance(given, bool) \
                    else default
            total = min(COST_CAP, total + factor * page * inner._value(variables, memo))
        memo[id(self)] = total
        return total

    def actual(self, objects: int) -> int:
        """The cost of an answer whose ``data`` holds ``objects`` JSON objects (``objects_in``), the root
        included: each object but the root 1, plus the base; 1 when there is no ``data`` (nothing ran)."""
        return max(1, self.base + objects - 1) if objects else 1


ONE = CostPlan()
"""The plan of a document that does not parse, names no operation or spreads itself (validation reports
those), and of an unknown fragment's part: nothing beyond the minimum of 1."""


def objects_in(text: bytes, start: int = 0) -> int:
    """How many JSON objects compact JSON text holds from ``start`` on, counted as the ``{"`` that open them
    (inside a string a quote is escaped, so only a string ending in ``{`` adds one more): a scan at the
    speed of ``bytes.count``, where walking a decoded page of 1,500 objects took longer than decoding it."""
    return text.count(b'{"', start)


def cost_plan(document: DocumentNode, operation_name: str | None, *, max_nodes: int | None = None) -> CostPlan:
    """The cost model (README "Query cost and rate limits"): a field with a selection (an object) costs 1
    plus its selection; a field with ``first``/``last`` costs 1 plus that many times its selection (a page
    size given as a variable is read from the request's variables; unset, the variable's default, else
    100); a scalar costs 0; each root field of a mutation costs ``MUTATION_COST`` more. Fragments count
    wherever they are spread. Every operation costs at least 1.

    An operation the query limits refuse (more than ``max_nodes`` nodes, counted as ``limits_rule`` does)
    never runs: it costs 1, and the client hears QUERY_TOO_COMPLEX rather than that it cannot pay."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                  and (operation_name is None or (d.name is not None and d.name.value == operation_name))]
    if len(operations) != 1:
        return ONE
    operation = operations[0]
    defaults: dict[str, int] = {}
    for definition in operation.variable_definitions or ():
        value = definition.default_value
        defaults[definition.variable.name.value] = (max(1, min(int(value.value), 10_000))
                                                    if isinstance(value, IntValueNode) else ASSUMED_PAGE)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, tuple[CostPlan, int]] = {}

    def fragment(name: str, visiting: frozenset[str]) -> tuple[CostPlan, int]:
        if name in visiting:
            raise _Cycle(name)
        if name not in memo:
            found = fragments.get(name)
            memo[name] = (ONE, 0) if found is None else selection(found.selection_set, visiting | {name})
        return memo[name]

    def selection(selection_set: SelectionSetNode | None, visiting: frozenset[str]) -> tuple[CostPlan, int]:
        """The selection's cost plan, and its nodes as the query limits count them."""
        constant = nodes = 0
        terms: list[tuple[int, str | None, int, CostPlan]] = []

        def add(factor: int, variable: str | None, default: int, inner: CostPlan) -> None:
            nonlocal constant
            if inner.terms:
                terms.append((factor, variable, default, inner))
            elif variable is None:
                constant = min(COST_CAP, constant + factor * inner.constant)
            elif inner.constant:
                terms.append((factor, variable, default, inner))

        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                nodes += 1
                if sel.selection_set is None:
                    continue  # a scalar
                constant = min(COST_CAP, constant + 1)
                inner, inner_nodes = selection(sel.selection_set, visiting)
                page = _page(sel)
                if isinstance(page, str):
                    add(1, page, defaults.get(page, ASSUMED_PAGE), inner)
                    nodes = min(COST_CAP, nodes + ASSUMED_PAGE * inner_nodes)
                else:
                    add(page, None, 0, inner)
                    nodes = min(COST_CAP, nodes + page * inner_nodes)
            elif isinstance(sel, FragmentSpreadNode | InlineFragmentNode):
                inner, inner_nodes = (fragment(sel.name.value, visiting) if isinstance(sel, FragmentSpreadNode)
                                      else selection(sel.selection_set, visiting))
                add(1, None, 0, inner)
                nodes = min(COST_CAP, nodes + inner_nodes)
        return CostPlan(constant, tuple(terms)), nodes

    try:
        plan, nodes = selection(operation.selection_set, frozenset())
    except (_Cycle, RecursionError):
        return ONE  # validation reports it
    if max_nodes is not None and nodes > max_nodes:
        return ONE
    base = 0
    if operation.operation.value == "mutation":
        base = MUTATION_COST * sum(isinstance(s, FieldNode) for s in operation.selection_set.selections)
    return CostPlan(plan.constant, plan.terms, base)


def _page(field: FieldNode) -> int | str:
    """A field's page size: a literal ``first``/``last``, a variable's name, or 1."""
    for arg in field.arguments or ():
        if arg.name.value in PAGE_ARGS:
            if isinstance(arg.value, IntValueNode):
                return max(1, min(int(arg.value.value), 10_000))
            if isinstance(arg.value, VariableNode):
                return arg.value.name.value
    return 1
