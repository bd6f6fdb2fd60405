from datetime import date

import pytest

from domain.collaboration.minutes import ParsedItem, parse_action_items

MINUTES = """# 周会纪要
讨论了报价策略。
- [ ] @alice 准备报价 due 2026-12-01
TODO @bob send proposal by 2026-12-03
待办：@李娜 整理会议纪要 截止 2026-12-05
* [ ] @rep2 2026-12-09前 提交方案
- [ ] 无人认领的事项
- 普通要点，不是待办
- [x] 已完成的不算
"""


def test_minutes_lines_become_action_items_in_chinese_and_english():
    # when
    items = parse_action_items(MINUTES)
    # then
    assert items == [
        ParsedItem(title="准备报价", handle="alice", due=date(2026, 12, 1), line=3),
        ParsedItem(title="send proposal", handle="bob", due=date(2026, 12, 3), line=4),
        ParsedItem(title="整理会议纪要", handle="李娜", due=date(2026, 12, 5), line=5),
        ParsedItem(title="提交方案", handle="rep2", due=date(2026, 12, 9), line=6),
        ParsedItem(title="无人认领的事项", handle=None, due=None, line=7),
    ]


@pytest.mark.parametrize("line", ["", "plain text", "- a bullet", "- [x] done already", "TODO"])
def test_lines_that_are_not_open_tasks_are_ignored(line):
    assert parse_action_items(line) == []


def test_an_impossible_date_leaves_the_item_without_due_date():
    [item] = parse_action_items("- [ ] @alice 准备报价 due 2026-02-30")
    assert (item.title, item.due) == ("准备报价", None)
