"""Action items written into meeting minutes, in Chinese or English, e.g.

    - [ ] @alice 准备报价 due 2026-12-01
    TODO @bob send proposal by 2026-12-03
    待办：@李娜 整理会议纪要 截止 2026-12-05

Pure text rules, no I/O: the service resolves the @handles to users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_ITEM = re.compile(r"^\s*(?:[-*+]\s*\[\s?\]\s*|TODO\b[:：]?\s*|待办\s*[:：]?\s*|行动项\s*[:：]?\s*)(?P<rest>.+)$",
                   re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@(?P<handle>[\w.+\-]+(?:@[\w\-]+(?:\.[\w\-]+)+)?)", re.UNICODE)
_DUE = re.compile(
    r"(?:\b(?:due|by|before)\b|截止(?:日期)?|到期|之前|前)\s*[:：]?\s*(?P<date>\d{4}-\d{1,2}-\d{1,2})"
    r"|(?P<date2>\d{4}-\d{1,2}-\d{1,2})\s*(?:前|之前|截止)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ParsedItem:
    title: str
    handle: str | None
    due: date | None
    line: int


def _date(text: str) -> date | None:
    try:
        y, m, d = (int(p) for p in text.split("-"))
        return date(y, m, d)
    except ValueError:
        return None


def parse_action_items(minutes: str) -> list[ParsedItem]:
    items = []
    for number, line in enumerate(minutes.splitlines(), start=1):
        match = _ITEM.match(line)
        if not match:
            continue
        rest = match.group("rest").strip()
        handle = None
        mention = _MENTION.search(rest)
        if mention:
            handle = mention.group("handle")
            rest = (rest[: mention.start()] + rest[mention.end():]).strip()
        due = None
        due_match = _DUE.search(rest)
        if due_match:
            due = _date(due_match.group("date") or due_match.group("date2"))
            rest = (rest[: due_match.start()] + rest[due_match.end():]).strip()
        title = re.sub(r"\s+", " ", rest).strip(" ,，;；:：")
        if title:
            items.append(ParsedItem(title=title, handle=handle, due=due, line=number))
    return items
