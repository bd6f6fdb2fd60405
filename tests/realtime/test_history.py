"""A record view's history: `timeline` and `comments` page through what happened (forward from the start
or back from the newest) and hand over the `liveCursor` to subscribe from; query, then subscribe, while
others keep writing: every change arrives exactly once, in the page or live, never in both."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.factories.api.crm import new_customer
from tests.factories.api.users import REP1
from tests.factories.realtime import COMMENT_THREAD, TIMELINE, connect

TIMELINE_PAGE = """
query ($r: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  timeline(recordId: $r, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { eventId kind summary recordId } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    liveCursor
  }
}"""
COMMENTS_PAGE = """
query ($r: ID!, $first: Int, $after: String, $last: Int) {
  comments(recordId: $r, first: $first, after: $after, last: $last) {
    edges { cursor node { id body } } pageInfo { hasNextPage endCursor } totalCount liveCursor
  }
}"""
ADD_COMMENT = "mutation ($i: AddCommentInput!) { addComment(input: $i) { comment { id } userErrors { code } } }"
UPDATE = ("mutation ($i: UpdateCustomerInput!) { updateCustomer(input: $i) { customer { version } "
          "userErrors { code } } }")


async def _comment(gql: Any, record: str, body: str) -> str:
    made = await gql(ADD_COMMENT, {"i": {"recordId": record, "body": body}}, as_=REP1)
    assert made["data"]["addComment"]["userErrors"] == [], made
    return made["data"]["addComment"]["comment"]["id"]


async def test_the_timeline_pages_forward_and_back(gql):
    # given a customer with a creation and four edits: five entries on its timeline
    customer = await new_customer(gql)
    version = 1
    for n in range(4):
        answer = await gql(UPDATE, {"i": {"id": customer["id"], "version": version, "industry": f"行业{n}"}}, as_=REP1)
        version = answer["data"]["updateCustomer"]["customer"]["version"]

    # when a view pages forward two at a time
    seen, after = [], None
    while True:
        page = (await gql(TIMELINE_PAGE, {"r": customer["id"], "first": 2, "after": after}, as_=REP1))["data"]
        seen += [e["node"]["eventId"] for e in page["timeline"]["edges"]]
        if not page["timeline"]["pageInfo"]["hasNextPage"]:
            break
        after = page["timeline"]["pageInfo"]["endCursor"]
    # then it sees the five entries once each, oldest first, all about the customer
    assert len(seen) == len(set(seen)) == 5
    # and back from the newest: the same entries, the newest two first asked
    newest = (await gql(TIMELINE_PAGE, {"r": customer["id"], "last": 2}, as_=REP1))["data"]["timeline"]
    assert [e["node"]["eventId"] for e in newest["edges"]] == seen[-2:]
    assert newest["pageInfo"]["hasPreviousPage"] is True
    older = (await gql(TIMELINE_PAGE, {"r": customer["id"], "last": 3,
                                       "before": newest["pageInfo"]["startCursor"]}, as_=REP1))["data"]["timeline"]
    assert [e["node"]["eventId"] for e in older["edges"]] == seen[:3]
    assert older["pageInfo"]["hasPreviousPage"] is False and older["pageInfo"]["hasNextPage"] is True
    assert {e["node"]["recordId"] for e in newest["edges"] + older["edges"]} == {customer["id"]}


@pytest.mark.parametrize("given", [
    {"first": 0}, {"first": 101}, {"first": 2, "last": 2}, {"last": 2, "after": "x"},
    {"first": 2, "after": "not-a-cursor"}, {}])
async def test_bad_page_requests_are_refused_as_such(gql, given):
    customer = await new_customer(gql)
    answer = await gql(TIMELINE_PAGE, {"r": customer["id"], **given}, as_=REP1)
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] in ("BAD_USER_INPUT", "INVALID_CURSOR")
    answer = await gql(COMMENTS_PAGE, {"r": customer["id"], **given}, as_=REP1)
    assert answer["errors"][0]["extensions"]["code"] in ("BAD_USER_INPUT", "INVALID_CURSOR")


async def test_comments_page_and_count(gql):
    customer = await new_customer(gql)
    made = [await _comment(gql, customer["id"], f"第{n}条评论") for n in range(5)]
    first = (await gql(COMMENTS_PAGE, {"r": customer["id"], "first": 3}, as_=REP1))["data"]["comments"]
    rest = (await gql(COMMENTS_PAGE, {"r": customer["id"], "first": 3, "after": first["pageInfo"]["endCursor"]},
                      as_=REP1))["data"]["comments"]
    assert [e["node"]["id"] for e in first["edges"] + rest["edges"]] == made
    assert first["totalCount"] == 5 and first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]


async def _writing(gql: Any, record: str, count: int) -> list[str]:
    made = []
    for n in range(count):
        made.append(await _comment(gql, record, f"并发评论 {n}"))
        await asyncio.sleep(0)
    return made


@pytest.mark.parametrize("view", ["comments", "timeline"])
async def test_query_then_subscribe_while_others_write_sees_each_change_exactly_once(app, gql, view):
    # given a record someone keeps commenting on
    customer = await new_customer(gql)
    await _comment(gql, customer["id"], "开场")
    writer = asyncio.create_task(_writing(gql, customer["id"], 30))
    await asyncio.sleep(0.05)
    async with connect(app, gql.token(REP1)) as socket:
        # when a view queries the history, then subscribes from its liveCursor, while the writer goes on
        if view == "comments":
            page = (await gql(COMMENTS_PAGE, {"r": customer["id"], "last": 100}, as_=REP1))["data"]["comments"]
            queried = [e["node"]["id"] for e in page["edges"]]
            await socket.subscribe("s", COMMENT_THREAD, {"recordId": customer["id"], "after": page["liveCursor"]})
        else:
            page = (await gql(TIMELINE_PAGE, {"r": customer["id"], "last": 100}, as_=REP1))["data"]["timeline"]
            queried = [e["node"]["recordId"] for e in page["edges"] if e["node"]["kind"] == "comment"]
            await socket.subscribe("s", TIMELINE, {"recordId": customer["id"], "after": page["liveCursor"]})
        made = await writer
        everything = [*made]
        live: list[str] = []
        # then the page and the live stream together hold every comment once
        while len(queried) + len(live) < len(everything) + 1:
            entry = (await socket.events("s", 1, "commentThread" if view == "comments" else "recordTimeline"))[0]
            if entry["kind"] == "comment":
                live.append(entry["recordId"])
        assert await socket.nothing_more(0.5) == []
    assert not set(queried) & set(live), "a change came twice: in the page and live"
    assert set(everything) <= set(queried) | set(live)
    assert len(queried) + len(live) == len(everything) + 1  # and the first comment, before the writer
