"""Workflow rule conditions: a JSON expression tree, checked when a rule is saved and read by a small
interpreter when it runs (never ``eval``).

A tree is ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` or a test
``{"field": "customer.tier", "op": "eq", "value": "A"}``. A field is a path of the rule's record type as the
API names it, through the records its id fields name (``owner.team``); the registry says which paths exist
(``Catalog.steps``) and which ``Type.field`` permissions each needs. Tests on the change itself
(``changed``, ``changedTo``, ``changedFrom``) read what the triggering event changed. Numbers and money
compare as ``Decimal``; dates and times as dates and times; ``daysSince`` is whole days up to now."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..shared.errors import Validator
from ..shared.payload import camel
from ..shared.text import text_key
from .errors import AutomationErrorCode

OPERATORS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "startsWith", "isEmpty",
                       "changed", "changedTo", "changedFrom", "daysSince"})
NO_VALUE = frozenset({"isEmpty", "changed"})
CHANGE_OPERATORS = frozenset({"changed", "changedTo", "changedFrom"})
MAX_NODES = 100
MAX_DEPTH = 10
MAX_PATH = 4


@dataclass(frozen=True)
class Catalog:
    """What the record-type registry knows, handed down by it (automation sits below the registry):
    each record type's model, and the ``(type, key)`` steps of a field path (None: no such field)."""

    models: Mapping[str, type]
    steps: Callable[[str, str], list[tuple[str, str]] | None]
    governs: Callable[[str, str], tuple[str, ...]]
    """The ``Type.field`` values whose read permission the key of a type needs."""

    def readable_fields(self, object_type: str, path: str) -> tuple[str, ...] | None:
        """Every ``Type.field`` a path reads (None: no such path)."""
        steps = self.steps(object_type, path) if len(path.split(".")) <= MAX_PATH else None
        if steps is None or any(attribute(self.models.get(t), k) is None for t, k in steps):
            return None
        return tuple(dict.fromkeys(g for t, k in steps for g in self.governs(t, k)))


def attribute(model: type | None, key: str) -> str | None:
    """The model attribute a registry key names (``ownerId`` -> ``owner_id``, ``stage`` -> ``stage_key``)."""
    if model is None:
        return None
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()
    for name in (snake, f"{snake}_key"):
        if hasattr(model, name) and not name.startswith("_"):
            return name
    return None


def _nodes(tree: Any, at: tuple[str, ...], depth: int = 0) -> Iterator[tuple[tuple[str, ...], Any, int]]:
    yield at, tree, depth
    if isinstance(tree, dict) and len(tree) == 1:
        [(kind, inner)] = tree.items()
        if kind in ("all", "any") and isinstance(inner, list):
            for i, child in enumerate(inner):
                yield from _nodes(child, (*at, kind, str(i)), depth + 1)
        elif kind == "not":
            yield from _nodes(inner, (*at, "not"), depth + 1)


def fields_of(tree: Any) -> list[str]:
    """The field paths a tree reads (tests on the change included)."""
    return list(dict.fromkeys(node["field"] for _, node, _ in _nodes(tree, ()) if _is_test(node)
                              and isinstance(node.get("field"), str)))


def _is_test(node: Any) -> bool:
    return isinstance(node, dict) and "op" in node


def validate_conditions(v: Validator, catalog: Catalog, object_type: str, tree: Any,
                        can_read: Callable[[str, str], bool]) -> None:
    """Adds INVALID_CONDITION for a malformed tree, UNKNOWN_FIELD for a path the registry does not know
    and FIELD_NOT_READABLE for one the rule's author may not read (``can_read(type, field)``)."""
    if tree is None:
        return
    count = 0
    for at, node, depth in _nodes(tree, ("conditions",)):
        count += 1
        if count > MAX_NODES or depth > MAX_DEPTH:
            v.add(at, AutomationErrorCode.INVALID_CONDITION,
                  f"a condition tree has at most {MAX_NODES} nodes, {MAX_DEPTH} levels deep")
            return
        if not isinstance(node, dict):
            v.add(at, AutomationErrorCode.INVALID_CONDITION, "each condition is a JSON object")
            continue
        if _is_test(node):
            _check_test(v, at, node, catalog, object_type, can_read)
            continue
        if len(node) != 1 or next(iter(node)) not in ("all", "any", "not"):
            v.add(at, AutomationErrorCode.INVALID_CONDITION,
                  "a condition is {all: [...]}, {any: [...]}, {not: {...}} or {field, op, value}")
            continue
        [(kind, inner)] = node.items()
        if kind in ("all", "any") and not (isinstance(inner, list) and inner):
            v.add((*at, kind), AutomationErrorCode.INVALID_CONDITION, f"{kind} takes a non-empty list")


def _check_test(v: Validator, at: tuple[str, ...], node: dict[str, Any], catalog: Catalog, object_type: str,
                can_read: Callable[[str, str], bool]) -> None:
    op, path = node.get("op"), node.get("field")
    extra = set(node) - {"field", "op", "value"}
    if op not in OPERATORS or not isinstance(path, str) or extra:
        v.add(at, AutomationErrorCode.INVALID_CONDITION,
              f"a test is {{field, op, value}} with op one of {', '.join(sorted(OPERATORS))}")
        return
    value = node.get("value")
    if op not in NO_VALUE and "value" not in node:
        v.add((*at, "value"), AutomationErrorCode.INVALID_CONDITION, f"{op} needs a value")
    elif op == "in" and not isinstance(value, list):
        v.add((*at, "value"), AutomationErrorCode.INVALID_CONDITION, "in takes a list of values")
    elif op == "daysSince" and (_decimal(value) is None):
        v.add((*at, "value"), AutomationErrorCode.INVALID_CONDITION, "daysSince takes a number of days")
    elif op in ("gt", "gte", "lt", "lte") and (not isinstance(value, str | int | float) or isinstance(value, bool)):
        v.add((*at, "value"), AutomationErrorCode.INVALID_CONDITION, f"{op} compares with a number, date or text")
    governs = catalog.readable_fields(object_type, path)
    if governs is None:
        v.add((*at, "field"), AutomationErrorCode.UNKNOWN_FIELD, f"{object_type} has no field {path!r}")
        return
    if op in CHANGE_OPERATORS and "." in path:
        v.add((*at, "field"), AutomationErrorCode.INVALID_CONDITION, f"{op} tests a field of the record itself")
    denied = [g for g in governs if not can_read(*g.split(".", 1))]
    if denied:
        v.add((*at, "field"), AutomationErrorCode.FIELD_NOT_READABLE,
              f"you may not read {', '.join(denied)}, so a rule cannot test it")


# --- the interpreter ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What a rule is evaluated against: field values by path, the change (``{field: [before, after]}``,
    fields named as the API names them) and now."""

    values: Mapping[str, Any]
    change: Mapping[str, Any]
    now: datetime


Check = Callable[[Facts], tuple[bool, list[dict[str, Any]]]]
"""A compiled tree: whether it holds on the facts, and each test's result."""


def compile_conditions(tree: Any) -> Check:
    """The tree (a saved one: validated) as a function of the facts. A rule's tree is compiled once when its
    rules are loaded: the paths in the tree and the values it compares with are read and parsed then (a number,
    a date, text as ``text_key`` compares it), not each time the rule hears a change."""
    if tree is None:
        return lambda facts: (True, [])
    check = _compile(tree, "conditions")

    def run(facts: Facts) -> tuple[bool, list[dict[str, Any]]]:
        results: list[dict[str, Any]] = []
        return check(facts, results), results
    return run


def evaluate(tree: Any, facts: Facts) -> tuple[bool, list[dict[str, Any]]]:
    """Whether the tree holds, and each test's result (its path in the tree, field, op, result)."""
    return compile_conditions(tree)(facts)


_Node = Callable[[Facts, list[dict[str, Any]]], bool]


def _compile(node: Any, at: str) -> _Node:
    if _is_test(node):
        test = _compile_test(node)
        field, op = node.get("field"), node.get("op")

        def run_test(facts: Facts, results: list[dict[str, Any]]) -> bool:
            ok = test(facts)
            results.append({"at": at, "field": field, "op": op, "result": ok})
            return ok
        return run_test
    [(kind, inner)] = node.items()
    if kind == "not":
        child = _compile(inner, f"{at}.not")
        return lambda facts, results: not child(facts, results)
    children = [_compile(c, f"{at}.{kind}.{i}") for i, c in enumerate(inner)]
    combine = all if kind == "all" else any
    # every test runs (no short cut), so a run shows each one's result
    return lambda facts, results: combine([c(facts, results) for c in children])


@dataclass(frozen=True)
class _Expected:
    """A value a test compares with, parsed once: as a number and as a moment when it reads as one."""

    value: Any
    number: Decimal | None
    moment: datetime | date | None

    @classmethod
    def of(cls, value: Any) -> _Expected:
        return cls(value, _decimal(value), _moment(value))


def _compile_test(node: dict[str, Any]) -> Callable[[Facts], bool]:
    op, path, raw = node["op"], node["field"], node.get("value")
    if op in CHANGE_OPERATORS:
        key, expected = camel(path), _Expected.of(raw)

        def on_change(facts: Facts) -> bool:
            if key not in facts.change:
                return False
            change = facts.change[key]
            before, after = change if isinstance(change, list | tuple) and len(change) == 2 else (None, change)
            if op == "changed":
                return True
            return _equal(after if op == "changedTo" else before, expected)
        return on_change
    if op == "isEmpty":
        return lambda facts: _empty(facts.values.get(path))
    if op in ("contains", "startsWith"):
        expected = _Expected.of(raw)
        needle = text_key(raw) if isinstance(raw, str) else None
        if op == "startsWith":
            return lambda facts: (needle is not None and isinstance(actual := facts.values.get(path), str)
                                  and text_key(actual).startswith(needle))

        def contains(facts: Facts) -> bool:
            actual = facts.values.get(path)
            if isinstance(actual, list):
                return any(_equal(a, expected) for a in actual)
            return needle is not None and isinstance(actual, str) and needle in text_key(actual)
        return contains
    if op == "daysSince":
        days = _decimal(raw)

        def days_since(facts: Facts) -> bool:
            when = _moment(facts.values.get(path))
            if when is None or days is None:
                return False
            since = facts.now - when if isinstance(when, datetime) else facts.now.date() - when
            return since.days >= days
        return days_since
    if op == "in":
        options = [_Expected.of(e) for e in raw or []]
        return lambda facts: any(_equal(facts.values.get(path), e) for e in options)
    expected = _Expected.of(raw)
    if op == "eq":
        return lambda facts: _equal(facts.values.get(path), expected)
    if op == "ne":
        return lambda facts: not _equal(facts.values.get(path), expected)
    holds = {"gt": lambda o: o > 0, "gte": lambda o: o >= 0, "lt": lambda o: o < 0, "lte": lambda o: o <= 0}[op]

    def ordered(facts: Facts) -> bool:
        order = _compare(facts.values.get(path), expected)
        return order is not None and holds(order)
    return ordered


def _empty(actual: Any) -> bool:
    return actual is None or actual == "" or actual == [] or actual == {}


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _moment(value: Any) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.date() if len(value) == 10 else parsed
    return None


def _pair(actual: Any, expected: _Expected) -> tuple[Any, Any] | None:
    """Both values as one comparable kind (numbers as Decimal, dates as dates), or None."""
    e = expected.value
    if actual is None or e is None:
        return None
    if isinstance(actual, bool) or isinstance(e, bool):
        return (actual, e) if isinstance(actual, bool) and isinstance(e, bool) else None
    if isinstance(actual, Decimal | int | float) or isinstance(e, Decimal | int | float):
        a = actual if isinstance(actual, Decimal) else _decimal(actual)
        return None if a is None or expected.number is None else (a, expected.number)
    if isinstance(actual, datetime | date):
        m = expected.moment
        if m is None:
            return None
        if isinstance(actual, datetime) and not isinstance(m, datetime):
            return actual.date(), m
        if not isinstance(actual, datetime) and isinstance(m, datetime):
            return actual, m.date()
        return actual, m
    if isinstance(actual, str) and isinstance(e, str):
        if expected.number is not None:
            a_num = _decimal(actual)
            if a_num is not None:
                return a_num, expected.number  # money and numbers in a change travel as strings
        return actual, e
    return (actual, e) if type(actual) is type(e) else None


def _equal(actual: Any, expected: _Expected) -> bool:
    if actual is None or expected.value is None:
        return actual is None and expected.value is None
    pair = _pair(actual, expected)
    return pair is not None and pair[0] == pair[1]


def _compare(actual: Any, expected: _Expected) -> int | None:
    pair = _pair(actual, expected)
    if pair is None:
        return None
    try:
        return (pair[0] > pair[1]) - (pair[0] < pair[1])
    except TypeError:
        return None
