"""Batched reads for DataLoaders: child rows grouped by their parent's id."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def group_by(parent_ids: Sequence[int], rows: Iterable[T], parent: Callable[[T], int | None]) -> dict[int, list[T]]:
    """Every parent id, with its rows in the order they came (an empty list for none)."""
    out: dict[int, list[T]] = {i: [] for i in parent_ids}
    for row in rows:
        out[parent(row)].append(row)  # type: ignore[index]
    return out
