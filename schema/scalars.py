"""Custom scalars: Decimal money (always a string on the wire) and JSON objects."""

from __future__ import annotations

from decimal import Decimal as PyDecimal
from decimal import InvalidOperation
from typing import Any, NewType

import strawberry
from strawberry.scalars import JSON

__all__ = ["DECIMAL_SCALAR", "JSON", "SCALAR_MAP", "Decimal"]


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

SCALAR_MAP = {Decimal: DECIMAL_SCALAR}


def price(value: PyDecimal) -> PyDecimal:
    """A unit price as people write it: two decimals unless it is finer (0.125 stays 0.125)."""
    two = value.quantize(PyDecimal("0.01"))
    return two if two == value else value.normalize()


def rate(value: PyDecimal) -> PyDecimal:
    """A percentage or rate without trailing zeros ("13", "6.5")."""
    normal = value.normalize()
    return normal.quantize(PyDecimal(1)) if normal == normal.to_integral_value() else normal
