"""Five-field cron expressions (minute hour day month weekday) for SCHEDULED workflow rules, read in an IANA
time zone: ``*``, ``*/15``, ``1-5``, ``1,3``, ``9-17/2``; weekday 0 or 7 is Sunday; when both day and weekday
are restricted either may match (as cron does)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CATCH_UP = timedelta(days=7)
"""A pass looks back at most this far (a scheduler that was down a month fires a rule once, not 30 times)."""
_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _field(spec: str, low: int, high: int) -> set[int]:
    out: set[int] = set()
    for part in spec.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            start, end = (int(x) for x in body.split("-", 1))
        else:
            start = end = int(body)
        if step < 1 or start < low or end > high or start > end:
            raise ValueError(part)
        out.update(range(start, end + 1, step))
    return out


def parse_cron(expression: str) -> tuple[set[int], ...]:
    """The allowed values of each of the five fields; ValueError when it is no cron this reads."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError("five fields: minute hour day month weekday")
    fields = tuple(_field(p, lo, hi) for p, (lo, hi) in zip(parts, _FIELDS, strict=True))
    weekdays = {d % 7 for d in fields[4]}
    return (*fields[:4], weekdays, (parts[2] != "*", parts[4] != "*"))  # type: ignore[return-value]


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def cron_due(expression: str, tz: str | None, after: datetime, until: datetime) -> bool:
    """Whether the cron names a minute in (after, until]."""
    minutes, hours, days, months, weekdays, (dom, dow) = parse_cron(expression)
    where = zone(tz)
    at = max(after, until - CATCH_UP).astimezone(where).replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = until.astimezone(where)
    while at <= end:  # minute by minute: a pass normally covers the scheduler's interval, a catch-up a week
        by_day, by_weekday = at.day in days, (at.isoweekday() % 7) in weekdays
        on_day = (by_day or by_weekday) if dom and dow else (by_day and by_weekday)
        if at.month in months and on_day and at.hour in hours and at.minute in minutes:
            return True
        at += timedelta(minutes=1)
    return False


