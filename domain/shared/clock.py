"""The clock every rule reads, settable in tests."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    def __init__(self, fixed: datetime | None = None) -> None:
        self._fixed = fixed

    def now(self) -> datetime:
        return self._fixed or datetime.now(UTC)

    def set(self, at: datetime | None) -> None:
        self._fixed = at


clock = Clock()
