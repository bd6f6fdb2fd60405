"""How event payloads name fields and write values: GraphQL field names, JSON-ready values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any


def camel(name: str) -> str:
    """The GraphQL field a model attribute, input attribute or payload key names, in any spelling:
    ``owner_id`` / ``ownerId`` / ``owner`` → ``owner``, ``tax_rate`` → ``taxRate``. The one mapping of
    snake_case to GraphQL field names (event payloads, mutation inputs, sort keys, the registry)."""
    head, *rest = name.removesuffix("_id").split("_")
    out = head + "".join(p.title() for p in rest)
    return out[:-2] if out.endswith("Id") and len(out) > 2 else out


def plain(value: Any) -> Any:
    """A value as JSON carries it: decimals and dates as strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
