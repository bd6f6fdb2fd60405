"""Custom scalars: Decimal money (always a string on the wire) and JSON objects; and the one check every
text input passes: no control characters but tab, newline and carriage return, no unpaired surrogates.

String and ID are graphql-core's own scalars, which a schema may not redefine ("Redefinition of reserved
type"), so their input coercion is wrapped in place when this module is imported; JSON is replaced through
``SCALAR_MAP`` and checked deep, keys included. A rejected value fails coercion, so it is a
``BAD_USER_INPUT`` error (naming the variable and the path inside it) before any resolver runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal as PyDecimal
from decimal import InvalidOperation
from typing import Any, NewType

import strawberry
from graphql import GraphQLID, GraphQLScalarType, GraphQLString, TokenKind, ValueNode, value_from_ast_untyped
from strawberry.scalars import JSON

__all__ = ["DECIMAL_SCALAR", "JSON", "JSON_SCALAR", "SCALAR_MAP", "Decimal", "check_text"]

# C0 and C1 controls and DEL, except \t \n \r; any surrogate code point in a str is unpaired.
FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
TEXT_RULE = ("text may not contain control characters other than tab, newline and carriage return, "
             "nor unpaired surrogates")


def check_text(value: str, where: str = "") -> str:
    """``value`` if it is clean text; the error names ``where`` but never echoes the value (it may not even
    encode as UTF-8)."""
    match = FORBIDDEN_TEXT.search(value)
    if match:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}{TEXT_RULE} (found U+{ord(match.group()):04X} at position {match.start()})")
    return value


def _check_json(value: Any, where: str = "", depth: int = 0) -> Any:
    if depth > 100:
        raise ValueError(f"{where or 'JSON'}: JSON values may nest at most 100 levels")
    if isinstance(value, str):
        check_text(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key), f"{where} key" if where else "key")
            _check_json(item, f"{where}.{key}" if where else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]", depth + 1)
    return value


OPENERS = {TokenKind.BRACE_L, TokenKind.BRACKET_L}
CLOSERS = {TokenKind.BRACE_R, TokenKind.BRACKET_R}


def _literal_field(node: ValueNode) -> str:
    """The argument or input field a literal is the value of, read back through the document's tokens
    (a literal node knows neither its parent nor its path); "" when it cannot tell."""
    token = node.loc.start_token.prev if node.loc else None
    nesting = 0
    while token is not None:
        if token.kind in CLOSERS:
            nesting += 1
        elif token.kind in OPENERS and nesting:
            nesting -= 1
        elif token.kind == TokenKind.BRACE_L:
            return ""
        elif token.kind == TokenKind.COLON and not nesting:
            name = token.prev
            return (name.value or "") if name is not None and name.kind == TokenKind.NAME else ""
        token = token.prev
    return ""


def _checked_value(coerce: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def checked(value: Any) -> Any:
        out = coerce(value)
        return check_text(out) if isinstance(out, str) else out

    checked.checks_text = True  # type: ignore[attr-defined]
    return checked


def _checked_literal(coerce: Callable[[ValueNode], Any]) -> Callable[[ValueNode], Any]:
    def checked(node: ValueNode) -> Any:
        out = coerce(node)
        return check_text(out, _literal_field(node)) if isinstance(out, str) else out

    checked.checks_text = True  # type: ignore[attr-defined]
    return checked


def _check_builtin_text(scalar: GraphQLScalarType) -> None:
    if getattr(scalar.coerce_input_value, "checks_text", False):
        return
    scalar.parse_value = scalar.coerce_input_value = _checked_value(scalar.coerce_input_value)  # type: ignore[method-assign]
    assert scalar.coerce_input_literal is not None, "graphql-core 3.3 coerces literals with coerce_input_literal"
    scalar.coerce_input_literal = _checked_literal(scalar.coerce_input_literal)


def _parse_json_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return _check_json(value_from_ast_untyped(node, variables), _literal_field(node))


_check_builtin_text(GraphQLString)
_check_builtin_text(GraphQLID)


def _parse_decimal(value: Any) -> PyDecimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError('Decimal values are sent as strings, e.g. "1200000.00"')
    try:
        parsed = PyDecimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a decimal number") from exc
    if not parsed.is_finite():
        raise ValueError(f"{value!r} is not a finite decimal number")
    return parsed


Decimal = NewType("Decimal", PyDecimal)

DECIMAL_SCALAR = strawberry.scalar(
    name="Decimal",
    description='An exact decimal number serialized as a string, e.g. "1200000.00". Money is never a float.',
    serialize=lambda v: format(v, "f"),
    parse_value=_parse_decimal,
)

JSON_SCALAR = strawberry.scalar(
    name="JSON",
    description=(
        "The `JSON` scalar type represents JSON values as specified by "
        "[ECMA-404](https://ecma-international.org/wp-content/uploads/ECMA-404_2nd_edition_december_2017.pdf)."
    ),
    specified_by_url="https://ecma-international.org/wp-content/uploads/ECMA-404_2nd_edition_december_2017.pdf",
    serialize=lambda v: v,
    parse_value=_check_json,
    parse_literal=_parse_json_literal,
)

SCALAR_MAP = {Decimal: DECIMAL_SCALAR, JSON: JSON_SCALAR}


def price(value: PyDecimal) -> PyDecimal:
    """A unit price as people write it: two decimals unless it is finer (0.125 stays 0.125)."""
    two = value.quantize(PyDecimal("0.01"))
    return two if two == value else value.normalize()


def rate(value: PyDecimal) -> PyDecimal:
    """A percentage or rate without trailing zeros ("13", "6.5")."""
    normal = value.normalize()
    return normal.quantize(PyDecimal(1)) if normal == normal.to_integral_value() else normal
