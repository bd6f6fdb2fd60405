"""Working-day calendars: which days count (weekends and holidays are configurable per project),
and the mapping between dates and working-day indices the scheduler computes in (no I/O); and the org's
working calendar (``OrgCalendar``: working week, holidays, business hours) that SLA clocks count in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.base import Base, IdType, JsonType

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


# --- the org's working calendar: business hours for SLA clocks -----------------------------------

DEFAULT_DAY_START = 9
DEFAULT_DAY_END = 18


class OrgCalendar(Base):
    """An org's working week and holidays, and its business hours in its time zone (one row per org; an org
    without one works 09:00-18:00 UTC Monday to Friday). SLA clocks on ``BUSINESS_HOURS`` count these hours."""

    __tablename__ = "org_calendar"

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), primary_key=True)
    weekend_days: Mapped[list[int]] = mapped_column(JsonType, default=lambda: list(DEFAULT_WEEKEND))
    holidays: Mapped[list[str]] = mapped_column(JsonType, default=list)
    day_start_hour: Mapped[int] = mapped_column(Integer, default=DEFAULT_DAY_START)
    day_end_hour: Mapped[int] = mapped_column(Integer, default=DEFAULT_DAY_END)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")


@dataclass(frozen=True)
class BusinessHours:
    """Working days (weekend and holidays) and the hours of a working day, in a time zone (no I/O)."""

    weekend: frozenset[int] = frozenset(DEFAULT_WEEKEND)
    holidays: frozenset[date] = frozenset()
    day_start: int = DEFAULT_DAY_START
    day_end: int = DEFAULT_DAY_END
    zone: tzinfo = UTC

    @classmethod
    def of(cls, row: OrgCalendar | None) -> BusinessHours:
        if row is None:
            return cls()
        try:
            zone: tzinfo = ZoneInfo(row.time_zone)
        except (ValueError, ZoneInfoNotFoundError):
            zone = UTC
        return cls(frozenset(row.weekend_days or ()), frozenset(date.fromisoformat(d) for d in row.holidays or ()),
                   row.day_start_hour, row.day_end_hour, zone)

    def is_working(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def hours_between(self, start: datetime, end: datetime) -> float:
        """Business hours from ``start`` to ``end`` (0 if end is not after start)."""
        if end <= start:
            return 0.0
        s, e = start.astimezone(self.zone), end.astimezone(self.zone)
        seconds = 0.0
        day = s.date()
        while day <= e.date():
            if self.is_working(day):
                opens = datetime.combine(day, time(), self.zone) + timedelta(hours=self.day_start)
                closes = datetime.combine(day, time(), self.zone) + timedelta(hours=self.day_end)
                lo, hi = max(opens, s), min(closes, e)
                if hi > lo:
                    seconds += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return seconds / 3600


def wall_hours(start: datetime, end: datetime) -> float:
    """Hours around the clock from ``start`` to ``end`` (0 if end is not after start)."""
    return max((end - start).total_seconds(), 0.0) / 3600
