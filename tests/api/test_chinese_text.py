"""Chinese text as people type it: full-width codes and numbers are stored half-width; @mentions end where the
handle does (``@manager请审批``) or match a Chinese display name (``@张伟请看``); Chinese minutes lines become
action items, and a line that cannot be read in full comes back in ``unparsedLines``."""

from __future__ import annotations

import uuid
from typing import Any

from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tests.conftest import GraphQLClient
from tests.factories.realtime import Socket, connect, feed_end

REP1 = "rep1@demo.test"
MANAGER = "manager@demo.test"

CREATE_CUSTOMER = """
mutation ($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }"""
CREATE_CONTACT = """
mutation ($input: CreateContactInput!) {
  createContact(input: $input) { contact { id phone email } userErrors { field code } }
}"""
CREATE_LEAD = """
mutation ($input: CreateLeadInput!) {
  createLead(input: $input) { lead { id phone email } userErrors { field code } }
}"""
CREATE_PRODUCT = """
mutation ($input: CreateProductInput!) {
  createProduct(input: $input) { product { id code currency } userErrors { field code } }
}"""
NODE = """
query ($id: ID!) {
  node(id: $id) {
    ... on Contact { phone email }
    ... on Lead { phone email }
    ... on Product { code currency }
  }
}"""
ADD_COMMENT = """
mutation ($input: AddCommentInput!) {
  addComment(input: $input) { comment { id mentions { email } } userErrors { field code } }
}"""
NOTIFICATIONS = """
subscription ($after: String) { myNotifications(after: $after) { kind recordType recordId actor { email } } }"""
RECORD_MEETING = """
mutation ($input: RecordMeetingInput!) {
  recordMeeting(input: $input) {
    meeting { actionItems { title dueAt sourceLine owner { email } } }
    unparsedLines
    userErrors { field code }
  }
}"""

FULL_WIDTH_PHONE = "０２１－６１２３　４５６７"
FULL_WIDTH_EMAIL = "ｚｈａｏ＠ｙｕｎｆａｎ．ｅｘａｍｐｌｅ"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def ok(result: dict[str, Any], field: str) -> dict[str, Any]:
    payload = result["data"][field]
    assert payload["userErrors"] == [], result
    return payload


async def new_customer(gql: Any, *, as_: str = REP1) -> str:
    result = await gql(CREATE_CUSTOMER, {"input": {"name": unique("客户")}}, as_=as_)
    return ok(result, "createCustomer")["customer"]["id"]


async def read_back(gql: Any, node_id: str, *, as_: str = REP1) -> dict[str, Any]:
    return (await gql(NODE, {"id": node_id}, as_=as_))["data"]["node"]


# ---------------------------------------------------------------------------------------------
# Codes and numbers
# ---------------------------------------------------------------------------------------------


async def test_a_full_width_phone_and_email_of_a_contact_are_stored_half_width(gql: Any) -> None:
    # given
    customer = await new_customer(gql)

    # when
    result = await gql(CREATE_CONTACT, {"input": {"customerId": customer, "name": "张伟", "phone": FULL_WIDTH_PHONE,
                                                  "email": FULL_WIDTH_EMAIL}})

    # then
    contact = ok(result, "createContact")["contact"]
    assert (contact["phone"], contact["email"]) == ("021-6123 4567", "zhao@yunfan.example")
    assert await read_back(gql, contact["id"]) == {"phone": "021-6123 4567", "email": "zhao@yunfan.example"}


async def test_a_full_width_phone_and_email_of_a_lead_are_stored_half_width(gql: Any) -> None:
    # when
    result = await gql(CREATE_LEAD, {"input": {"name": "赵敏", "company": "杭州云帆科技有限公司",
                                               "phone": "＋８６　１３８－００１３－８０００",
                                               "email": FULL_WIDTH_EMAIL}})

    # then
    lead = ok(result, "createLead")["lead"]
    assert await read_back(gql, lead["id"]) == {"phone": "+86 138-0013-8000", "email": "zhao@yunfan.example"}


async def test_a_phone_that_is_not_a_number_is_still_refused(gql: Any) -> None:
    # given
    customer = await new_customer(gql)

    # when
    result = await gql(CREATE_CONTACT, {"input": {"customerId": customer, "name": "张伟", "phone": "请打总机"}})

    # then
    assert result["data"]["createContact"]["userErrors"] == [{"field": ["phone"], "code": "INVALID"}]


async def test_a_full_width_product_code_is_stored_half_width_and_is_the_same_code(gql: Any) -> None:
    # given
    code = unique("SKU-")
    full_width = code.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})

    # when
    created = await gql(CREATE_PRODUCT, {"input": {"code": full_width, "name": "实施服务（人天）",
                                                   "currency": "ｃｎｙ"}}, as_=MANAGER)
    again = await gql(CREATE_PRODUCT, {"input": {"code": code, "name": "实施服务"}}, as_=MANAGER)

    # then
    product = ok(created, "createProduct")["product"]
    assert await read_back(gql, product["id"], as_=MANAGER) == {"code": code, "currency": "CNY"}
    assert again["data"]["createProduct"]["userErrors"] == [{"field": ["code"], "code": "DUPLICATE"}]


# ---------------------------------------------------------------------------------------------
# Mentions
# ---------------------------------------------------------------------------------------------


async def next_about(socket: Socket, record_id: str) -> dict[str, Any]:
    """The next notification about ``record_id`` (a personal stream also carries whatever else concerns the
    user meanwhile, e.g. the scheduler's reminders)."""
    while True:
        [event] = await socket.events("1", 1, "myNotifications")
        if event["recordId"] == record_id:
            return event


async def test_the_manager_is_notified_of_a_mention_followed_by_chinese(app: Any, gql: Any) -> None:
    # given the manager listens to their notifications from now on
    customer = await new_customer(gql)
    after = await feed_end(gql, app, as_=MANAGER)
    async with connect(app, gql.token(MANAGER)) as manager:
        await manager.subscribe("1", NOTIFICATIONS, {"after": after})

        # when
        result = await gql(ADD_COMMENT, {"input": {"recordId": customer, "body": "@manager请审批，谢谢"}})
        comment = ok(result, "addComment")["comment"]
        await app.state.relay.drain()
        notified = await next_about(manager, comment["id"])

    # then
    assert comment["mentions"] == [{"email": MANAGER}]
    assert (notified["recordType"], notified["recordId"], notified["actor"]["email"]) == ("Comment", comment["id"],
                                                                                          REP1)


async def team_with_chinese_names(db: Any, gql: GraphQLClient) -> tuple[GraphQLClient, dict[str, User]]:
    """A fresh org whose people are 张伟, 张 and 李娜 (a rep who comments), and a client posting as any of them."""
    tag = uuid.uuid4().hex[:8]
    async with db.write() as session:
        org = await create_org(session, f"华东团队 {tag}")
        people = {name: await create_user(session, org.id, email=f"{key}-{tag}@cn.test", name=name,
                                          roles=["sales_rep"])
                  for key, name in (("zhangwei", "张伟"), ("zhang", "张"), ("lina", "李娜 (Rep)"))}
    return GraphQLClient(gql.http, gql.settings, {u.email: u for u in people.values()}), people


async def test_a_chinese_display_name_is_mentioned_longest_match_first(db: Any, gql: GraphQLClient) -> None:
    # given
    team, people = await team_with_chinese_names(db, gql)
    author = people["李娜 (Rep)"].email
    customer = await new_customer(team, as_=author)

    # when
    longest = await team(ADD_COMMENT, {"input": {"recordId": customer, "body": "@张伟请看合同"}}, as_=author)
    shorter = await team(ADD_COMMENT, {"input": {"recordId": customer, "body": "@张总请看"}}, as_=author)
    nobody = await team(ADD_COMMENT, {"input": {"recordId": customer, "body": "@王五请看"}}, as_=author)
    theirs = await new_customer(team, as_=people["张"].email)
    by_name = await team(ADD_COMMENT, {"input": {"recordId": theirs, "body": "请@李娜看"}}, as_=people["张"].email)

    # then
    assert ok(longest, "addComment")["comment"]["mentions"] == [{"email": people["张伟"].email}]
    assert ok(shorter, "addComment")["comment"]["mentions"] == [{"email": people["张"].email}]
    assert ok(nobody, "addComment")["comment"]["mentions"] == []
    assert ok(by_name, "addComment")["comment"]["mentions"] == [{"email": author}]


# ---------------------------------------------------------------------------------------------
# Meeting minutes
# ---------------------------------------------------------------------------------------------


async def record(gql: Any, minutes: str, *, as_: str = REP1, record_id: str | None = None) -> dict[str, Any]:
    record_id = record_id or await new_customer(gql, as_=as_)
    result = await gql(RECORD_MEETING, {"input": {"recordId": record_id, "title": "周会", "minutes": minutes,
                                                  "heldAt": "2026-12-07T02:00:00Z"}}, as_=as_)
    return ok(result, "recordMeeting")


def items_of(payload: dict[str, Any]) -> list[tuple[str, str | None, str | None, int]]:
    return [(i["title"], i["owner"]["email"] if i["owner"] else None, i["dueAt"], i["sourceLine"])
            for i in payload["meeting"]["actionItems"]]


async def test_a_chinese_minutes_line_becomes_an_action_item_of_the_manager(gql: Any) -> None:
    # when
    payload = await record(gql, "# 周会\n"
                                "待办：@manager整理会议纪要 截止 2026-12-11\n"
                                "行动项：@rep2 回访客户 2026-12-18前")

    # then
    assert items_of(payload) == [("整理会议纪要", MANAGER, "2026-12-11T23:59:59+00:00", 2),
                                 ("回访客户", "rep2@demo.test", "2026-12-18T23:59:59+00:00", 3)]
    assert payload["unparsedLines"] == []


async def test_a_month_and_day_fall_due_in_the_meetings_year(gql: Any) -> None:
    # when
    payload = await record(gql, "待办：@王经理 审批折扣 到期：12月11日")

    # then: 王经理 is the manager's name before the bracketed note "(Sales Manager)"
    assert items_of(payload) == [("审批折扣", MANAGER, "2026-12-11T23:59:59+00:00", 1)]


async def test_action_item_lines_that_cannot_be_read_in_full_are_reported_not_dropped(gql: Any) -> None:
    # given
    minutes = "\n".join([
        "待办：@nobody 跟进报价 截止 2026-12-11",
        "待办：@manager 签合同 截止 2026-13-01",
        "TODO: @manager",
        "待办：@manager整理会议纪要 截止 2026-12-11",
        "普通要点，不是待办",
    ])

    # when
    payload = await record(gql, minutes)

    # then: what could be read became an action item all the same
    assert payload["unparsedLines"] == minutes.splitlines()[:3]
    assert items_of(payload) == [("跟进报价", None, "2026-12-11T23:59:59+00:00", 1), ("签合同", MANAGER, None, 2),
                                 ("整理会议纪要", MANAGER, "2026-12-11T23:59:59+00:00", 4)]


async def test_english_minutes_read_as_before(gql: Any) -> None:
    # when
    payload = await record(gql, "- [ ] @rep2 send proposal due 2026-12-03\n"
                                "TODO @manager@demo.test approve by 2026-12-04")

    # then
    assert items_of(payload) == [("send proposal", "rep2@demo.test", "2026-12-03T23:59:59+00:00", 1),
                                 ("approve", MANAGER, "2026-12-04T23:59:59+00:00", 2)]
    assert payload["unparsedLines"] == []
