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


def evaluate(tree: Any, facts: Facts) -> tuple[bool, list[dict[str, Any]]]:
    """Whether the tree holds, and each test's result (its path in the tree, field, op, result)."""
    results: list[dict[str, Any]] = []
    if tree is None:
        return True, results
    return _eval(tree, facts, "conditions", results), results


def _eval(node: Any, facts: Facts, at: str, results: list[dict[str, Any]]) -> bool:
    if _is_test(node):
        ok = _test(node, facts)
        results.append({"at": at, "field": node.get("field"), "op": node.get("op"), "result": ok})
        return ok
    [(kind, inner)] = node.items()
    if kind == "not":
        return not _eval(inner, facts, f"{at}.not", results)
    outcomes = [_eval(child, facts, f"{at}.{kind}.{i}", results) for i, child in enumerate(inner)]
    return all(outcomes) if kind == "all" else any(outcomes)


def _test(node: dict[str, Any], facts: Facts) -> bool:
    op, path, expected = node["op"], node["field"], node.get("value")
    if op in CHANGE_OPERATORS:
        key = camel(path)
        if key not in facts.change:
            return False
        change = facts.change[key]
        before, after = change if isinstance(change, list | tuple) and len(change) == 2 else (None, change)
        if op == "changed":
            return True
        return _equal(after if op == "changedTo" else before, expected)
    actual = facts.values.get(path)
    if op == "isEmpty":
        return actual is None or actual == "" or actual == [] or actual == {}
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    if op == "in":
        return any(_equal(actual, e) for e in expected or [])
    if op == "contains":
        if isinstance(actual, list):
            return any(_equal(a, expected) for a in actual)
        return isinstance(actual, str) and isinstance(expected, str) and text_key(expected) in text_key(actual)
    if op == "startsWith":
        return isinstance(actual, str) and isinstance(expected, str) and text_key(actual).startswith(
            text_key(expected))
    if op == "daysSince":
        when = _moment(actual)
        days = _decimal(expected)
        if when is None or days is None:
            return False
        since = facts.now - when if isinstance(when, datetime) else facts.now.date() - when
        return since.days >= days
    order = _compare(actual, expected)
    if order is None:
        return False
    return {"gt": order > 0, "gte": order >= 0, "lt": order < 0, "lte": order <= 0}[op]


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


def _pair(actual: Any, expected: Any) -> tuple[Any, Any] | None:
    """Both values as one comparable kind (numbers as Decimal, dates as dates), or None."""
    if actual is None or expected is None:
        return None
    if isinstance(actual, bool) or isinstance(expected, bool):
        return (actual, expected) if isinstance(actual, bool) and isinstance(expected, bool) else None
    if isinstance(actual, Decimal | int | float) or isinstance(expected, Decimal | int | float):
        a, e = _decimal(actual), _decimal(expected)
        return None if a is None or e is None else (a, e)
    if isinstance(actual, datetime | date):
        e = _moment(expected)
        if e is None:
            return None
        if isinstance(actual, datetime) and not isinstance(e, datetime):
            return actual.date(), e
        if not isinstance(actual, datetime) and isinstance(e, datetime):
            return actual, e.date()
        return actual, e
    if isinstance(actual, str) and isinstance(expected, str):
        a_num, e_num = _decimal(actual), _decimal(expected)
        if a_num is not None and e_num is not None:
            return a_num, e_num  # money and numbers in a change travel as strings
        return actual, expected
    return (actual, expected) if type(actual) is type(expected) else None


def _equal(actual: Any, expected: Any) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    pair = _pair(actual, expected)
    return pair is not None and pair[0] == pair[1]


def _compare(actual: Any, expected: Any) -> int | None:
    pair = _pair(actual, expected)
    if pair is None:
        return None
    try:
        return (pair[0] > pair[1]) - (pair[0] < pair[1])
    except TypeError:
        return None
