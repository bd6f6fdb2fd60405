"""Relay cursor connections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from tandem.domain.shared.pagination import Page

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of results. `first` or `last` (1 to 100) is required.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int | None = strawberry.field(
        description="Number of matching records; computed only when asked for."
    )

    @classmethod
    def from_page(cls, page: Page[Any], convert: Callable[[Any], T]) -> Connection[T]:
        return cls(
            edges=[Edge(cursor=c, node=convert(item)) for item, c in zip(page.items, page.cursors, strict=True)],
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            total_count=page.total,
        )


def _asks_for(selections: list[Any], name: str) -> bool:
    for sel in selections:
        if isinstance(sel, SelectedField) and sel.name == name:
            return True
        if isinstance(sel, FragmentSpread | InlineFragment) and _asks_for(sel.selections, name):
            return True
    return False


def wants_total(info: strawberry.Info) -> bool:
    """Did the query select ``totalCount`` on this connection (fragments included)? Worked out once
    per field of the document, not once per parent row."""
    nodes = info._raw_info.field_nodes
    cache = info.context.__dict__.setdefault("_wants_total", {})
    key = tuple(id(n) for n in nodes)
    found = cache.get(key)
    if found is None:
        found = cache[key] = any(_asks_for(field.selections, "totalCount") for field in info.selected_fields)
    return found
