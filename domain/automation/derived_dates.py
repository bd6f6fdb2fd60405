"""Dates a DATE_RELATIVE rule may count from that no column holds: each is a SQL expression over the
record's table, computed by the database in the scheduler's pass (never loaded row by row).

- ``Customer.lastInteractionAt``: when the customer was last contacted, its latest interaction's time,
  or when it was created if it has none yet (a customer nobody ever called is as quiet as one nobody
  called back)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from ..crm.customer import Customer
from ..crm.interaction import Interaction


def _last_interaction_at() -> Any:
    latest = (select(func.max(Interaction.occurred_at))
              .where(Interaction.org_id == Customer.org_id, Interaction.customer_id == Customer.id)
              .correlate(Customer).scalar_subquery())
    return func.coalesce(latest, Customer.created_at)


DERIVED_DATES: dict[tuple[str, str], Callable[[], Any]] = {
    ("Customer", "lastInteractionAt"): _last_interaction_at,
}
"""The expression of each derived date, by record type and the name rules give it."""


def derived_date(object_type: str, name: Any) -> Any | None:
    """The SQL expression of a derived date of the record type (None: no such derived date)."""
    make = DERIVED_DATES.get((object_type, name)) if isinstance(name, str) else None
    return make() if make is not None else None


__all__ = ["DERIVED_DATES", "derived_date"]
