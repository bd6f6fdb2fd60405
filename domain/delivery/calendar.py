"""Working-day calendars: which days count (weekends and holidays are configurable per project),
and the mapping between dates and working-day indices the scheduler computes in (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

DEFAULT_WEEKEND = (5, 6)  # Saturday, Sunday (Monday is 0)


class WorkCalendar:
    """Day 0 is the first working day on or after ``origin``. Indices grow one per working day."""

    def __init__(self, origin: date, weekend: Iterable[int] = DEFAULT_WEEKEND, holidays: Iterable[date] = ()) -> None:
        self.weekend = frozenset(weekend)
        if len(self.weekend) >= 7:
            raise ValueError("a week needs at least one working day")
        self.holidays = frozenset(holidays)
        self.origin = self.next_working_day(origin)
        self._dates: list[date] = [self.origin]

    def is_working(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        while not self.is_working(day):
            day += timedelta(days=1)
        return day

    def date_of(self, index: int) -> date:
        """The date of working day ``index`` (negative indices count back from the origin)."""
        if index < 0:
            day, left = self.origin, -index
            while left:
                day -= timedelta(days=1)
                if self.is_working(day):
                    left -= 1
            return day
        while len(self._dates) <= index:
            self._dates.append(self.next_working_day(self._dates[-1] + timedelta(days=1)))
        return self._dates[index]

    def index_of(self, day: date) -> int:
        """The index of ``day``, or of the next working day when ``day`` is not one."""
        day = self.next_working_day(day)
        if day < self.origin:
            index, cursor = 0, self.origin
            while cursor > day:
                cursor -= timedelta(days=1)
                if self.is_working(cursor):
                    index -= 1
            return index
        if day > self._dates[-1]:
            # Jump close by whole weeks, then walk: cheap even for long projects.
            per_week = 7 - len(self.weekend)
            guess = max(len(self._dates) - 1, ((day - self.origin).days // 7) * per_week - len(self.holidays) - 1)
            self.date_of(max(guess, 0))
            while self._dates[-1] < day:
                self.date_of(len(self._dates))
        lo, hi = 0, len(self._dates) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self._dates[mid] < day:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def working_days_between(self, start: date, end: date) -> int:
        """Working days from ``start`` to ``end`` inclusive (0 if end is before start)."""
        if end < start:
            return 0
        return self.index_of(end + timedelta(days=1)) - self.index_of(start)
