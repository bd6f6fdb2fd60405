"""Action items written into meeting minutes, in Chinese or English, e.g.

    - [ ] @alice 准备报价 due 2026-12-01
    TODO: @bob send proposal by 2026-12-03
    待办：@manager整理会议纪要 截止 2026-12-11
    行动项：@张伟 回访客户 2026-12-11前
    待办：@李娜 发合同 到期：12月11日

A line is an action item when it starts with an open check box (``- [ ]``, ``* [ ]``) or a marker
(``TODO``, ``待办``, ``行动项``, with or without a colon, half- or full-width). The first @mention is its owner
(the handle grammar is ``domain.shared.text.find_mentions``); a deadline word (``due``, ``by``, ``before``,
``截止``, ``到期``, or ``前`` after the date) with a date (``2026-12-11``, ``2026/12/11``, ``2026年12月11日``,
``12月11日``: the first such day on or after the meeting) is its due date; what is left is its title.

A line that is an action item but cannot be read in full (a date that does not exist, no title) is listed
in ``unclear``, so the caller can tell the user rather than drop it. Pure text rules, no I/O: the service
resolves the @handles to users."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from ..shared.text import find_mentions

_ITEM = re.compile(r"^\s*(?:[-*+]\s*\[\s?\]\s*|TODO\b\s*[:：]?\s*|待办\s*[:：]?\s*|行动项\s*[:：]?\s*)(?P<rest>.+)$",
                   re.IGNORECASE)
_SEP = r"\s*[-/.－／]\s*"
_DATE = rf"\d{{4}}{_SEP}\d{{1,2}}{_SEP}\d{{1,2}}|(?:\d{{4}}\s*年\s*)?\d{{1,2}}\s*月\s*\d{{1,2}}\s*[日号]"
_DUE = re.compile(
    rf"(?:(?<![A-Za-z])(?:due|by|before)(?![A-Za-z])|截止(?:日期)?|到期(?:日)?|之前|前)\s*[:：]?\s*(?P<date>{_DATE})"
    rf"|(?P<date2>{_DATE})\s*(?:之前|前|截止|到期)",
    re.IGNORECASE,
)
_DATE_PARTS = re.compile(r"(?:(?P<y>\d{4})\s*[-/.－／年]\s*)?(?P<m>\d{1,2})\s*[-/.－／月]\s*(?P<d>\d{1,2})")


@dataclass(frozen=True)
class ParsedItem:
    title: str
    handle: str | None
    due: date | None
    line: int


@dataclass(frozen=True)
class ParsedMinutes:
    items: list[ParsedItem] = field(default_factory=list)
    unclear: list[int] = field(default_factory=list)
    """Numbers of the action-item lines that could not be read in full."""


def _date(text: str, today: date | None) -> date | None:
    parts = _DATE_PARTS.match(text)
    if parts is None:
        return None
    month, day = int(parts["m"]), int(parts["d"])
    try:
        if parts["y"]:
            return date(int(parts["y"]), month, day)
        if today is None:
            return None
        due = date(today.year, month, day)
        return due if due >= today else date(today.year + 1, month, day)
    except ValueError:
        return None


def parse_minutes(minutes: str, names: Iterable[str] = (), today: date | None = None) -> ParsedMinutes:
    """The action items in ``minutes``. ``names`` are the handles the org's users answer to (they tell where a
    Chinese display name ends); ``today`` is the meeting's day, the year of a date written without one."""
    known = set(names)
    parsed = ParsedMinutes()
    for number, line in enumerate(minutes.splitlines(), start=1):
        match = _ITEM.match(line)
        if not match:
            continue
        rest = match.group("rest").strip()
        clear = True
        handle = None
        mentions = find_mentions(rest, known)
        if mentions:
            handle = mentions[0].handle
            rest = (rest[: mentions[0].start] + rest[mentions[0].end:]).strip()
        due = None
        due_match = _DUE.search(rest)
        if due_match:
            due = _date(due_match.group("date") or due_match.group("date2"), today)
            clear = due is not None
            rest = (rest[: due_match.start()] + rest[due_match.end():]).strip()
        title = re.sub(r"\s+", " ", rest).strip(" ,，;；:：")
        if title:
            parsed.items.append(ParsedItem(title=title, handle=handle, due=due, line=number))
        if not (title and clear):
            parsed.unclear.append(number)
    return parsed
