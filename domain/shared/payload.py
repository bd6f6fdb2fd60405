"""How event payloads name fields and write values: GraphQL field names, JSON-ready values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any


def camel(name: str) -> str:
    """The GraphQL field a model attribute is: ``owner_id`` → ``owner``, ``tax_rate`` → ``taxRate``."""
    head, *rest = name.removesuffix("_id").split("_")
    return head + "".join(p.title() for p in rest)


def plain(value: Any) -> Any:
    """A value as JSON carries it: decimals and dates as strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
