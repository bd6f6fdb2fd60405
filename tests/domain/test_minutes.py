from datetime import date

import pytest

from tandem.domain.collaboration.minutes import ParsedItem, parse_minutes
from tandem.domain.shared.text import find_mentions, handle_keys

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

# the handles of users 张伟 (zhang@x.test), 张 (zh@x.test) and manager@x.test "王经理 (Sales Manager)"
NAMES = handle_keys("zhang@x.test", "张伟") | handle_keys("zh@x.test", "张") | handle_keys(
    "manager@x.test", "王经理 (Sales Manager)")
MEETING_DAY = date(2026, 12, 7)


def test_minutes_lines_become_action_items_in_chinese_and_english():
    # when
    parsed = parse_minutes(MINUTES)
    # then
    assert parsed.items == [
        ParsedItem(title="准备报价", handle="alice", due=date(2026, 12, 1), line=3),
        ParsedItem(title="send proposal", handle="bob", due=date(2026, 12, 3), line=4),
        ParsedItem(title="整理会议纪要", handle="李娜", due=date(2026, 12, 5), line=5),
        ParsedItem(title="提交方案", handle="rep2", due=date(2026, 12, 9), line=6),
        ParsedItem(title="无人认领的事项", handle=None, due=None, line=7),
    ]
    assert parsed.unclear == []


@pytest.mark.parametrize("line", ["", "plain text", "- a bullet", "- [x] done already", "TODO"])
def test_lines_that_are_not_open_tasks_are_ignored(line):
    assert parse_minutes(line).items == []
    assert parse_minutes(line).unclear == []


def test_an_impossible_date_leaves_the_item_without_due_date_and_the_line_unclear():
    parsed = parse_minutes("- [ ] @alice 准备报价 due 2026-02-30")
    [item] = parsed.items
    assert (item.title, item.due) == ("准备报价", None)
    assert parsed.unclear == [1]


CHINESE_LINES = {
    "latin handle then chinese": ("待办：@manager整理会议纪要 截止 2026-12-11", "整理会议纪要", "manager",
                                  date(2026, 12, 11)),
    "half-width colon": ("待办:@manager请审批，谢谢", "请审批，谢谢", "manager", None),
    "action item marker": ("行动项：@张伟 回访客户 2026-12-11前", "回访客户", "张伟", date(2026, 12, 11)),
    "full-width colon after TODO": ("TODO：@rep2 send deck due 2026-12-11", "send deck", "rep2",
                                    date(2026, 12, 11)),
    "display name runs into the text": ("待办：@张伟请看合同 到期：2026/12/11", "请看合同", "张伟", date(2026, 12, 11)),
    "name before a bracketed note": ("待办：@王经理审批折扣 截止日期 2026年12月11日", "审批折扣", "王经理",
                                     date(2026, 12, 11)),
    "month and day: this year": ("待办：@张伟 发合同 到期：12月11日", "发合同", "张伟", date(2026, 12, 11)),
    "month and day: next year": ("待办：@张伟 年度回顾 1月5日前", "年度回顾", "张伟", date(2027, 1, 5)),
    "full-width digits": ("- [ ] @bob 准备报价 due ２０２６－１２－０１", "准备报价", "bob", date(2026, 12, 1)),
}


@pytest.mark.parametrize(("line", "title", "handle", "due"), CHINESE_LINES.values(), ids=CHINESE_LINES.keys())
def test_chinese_minutes_lines(line, title, handle, due):
    # when
    parsed = parse_minutes(line, NAMES, today=MEETING_DAY)
    # then
    assert parsed.items == [ParsedItem(title=title, handle=handle, due=due, line=1)]
    assert parsed.unclear == []


@pytest.mark.parametrize("line", ["待办：@manager", "TODO: @bob due 2026-12-11", "待办：@张伟 截止 2026-13-01 跟进",
                                  "待办：@张伟 跟进 到期：12月11日"])
def test_action_item_lines_that_cannot_be_read_in_full_are_unclear(line):
    # when: the last has no meeting day to take the year from
    parsed = parse_minutes(line, NAMES)
    # then
    assert parsed.unclear == [1]


MENTIONS = {
    "latin handle ends at chinese": ("@manager请审批，谢谢", ["manager"]),
    "longest display name": ("@张伟请看", ["张伟"]),
    "shorter display name": ("@张三请看", ["张"]),
    "unknown chinese name": ("@某人请看，谢谢", ["某人请看"]),
    "after chinese text": ("请@manager看一下", ["manager"]),
    "e-mail address is not a mention": ("写信给 ops@manager", []),
    "e-mail handle": ("@rep2@demo.test 请看", ["rep2@demo.test"]),
    "sentence end": ("Please check this, @rep2.", ["rep2"]),
    "full-width at sign and letters": ("＠ＲＥＰ２ 请看", ["ＲＥＰ２"]),
}


@pytest.mark.parametrize(("text", "handles"), MENTIONS.values(), ids=MENTIONS.keys())
def test_handle_grammar(text, handles):
    assert [m.handle for m in find_mentions(text, NAMES)] == handles
