"""What a root list field (``customers``, ``opportunities``...) was asked for, checked once and shared by
its resolver and the compiled read path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tandem.domain.shared.pagination import PageRequest


@dataclass(frozen=True)
class ListRequest:
    filter: Any
    """The domain's filter of the list."""
    page: PageRequest
    sort: str
    """A key of the domain's sorts of the type (``OPPORTUNITY_SORTS``...)."""
