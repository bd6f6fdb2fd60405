"""Your inbox: what is addressed to you (here, @mentions) is kept as notifications — still there after the
outbox prunes its events —, counted while unread, marked read one by one or up to the newest seen, and
followed live from the page's liveCursor without a gap or a repeat. Nobody marks anyone else's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from tandem.domain.shared.outbox import OutboxEvent
from tandem.schema.node import from_global_id, to_global_id
from tests.factories.api.crm import new_customer
from tests.factories.api.users import REP1
from tests.factories.realtime import connect

MANAGER = "manager@demo.test"
INBOX = """
query ($first: Int, $after: String, $unread: Boolean) {
  notifications(first: $first, after: $after, unreadOnly: $unread) {
    edges { cursor node { id eventId topic kind summary recordType recordId data read readAt actor { email } } }
    pageInfo { hasNextPage endCursor } unreadCount liveCursor
  }
}"""
MARK = """
mutation ($i: MarkNotificationsReadInput!) {
  markNotificationsRead(input: $i) { marked unreadCount userErrors { field code } }
}"""
ADD_COMMENT = "mutation ($i: AddCommentInput!) { addComment(input: $i) { comment { id } userErrors { code } } }"
MY_NOTIFICATIONS = """
subscription ($after: String) { myNotifications(after: $after) { eventId kind recordId } }"""


async def _mention(gql: Any, record: str, text: str) -> str:
    made = await gql(ADD_COMMENT, {"i": {"recordId": record, "body": f"@manager {text}"}}, as_=REP1)
    assert made["data"]["addComment"]["userErrors"] == [], made
    return made["data"]["addComment"]["comment"]["id"]


async def _inbox(gql: Any, **variables: Any) -> dict[str, Any]:
    answer = await gql(INBOX, {"first": 50, **variables}, as_=MANAGER)
    assert "errors" not in answer, answer
    return answer["data"]["notifications"]


async def test_a_mention_lands_in_the_inbox_and_is_marked_read(gql):
    # given the rep mentions the manager twice on a customer
    customer = await new_customer(gql)
    unread_before = (await _inbox(gql))["unreadCount"]
    first = await _mention(gql, customer["id"], "请看一下报价")
    second = await _mention(gql, customer["id"], "客户催了")

    # then the manager's inbox holds both, newest first, unread, with who and what
    inbox = await _inbox(gql)
    mine = [e["node"] for e in inbox["edges"] if e["node"]["recordId"] in (first, second)]
    assert [n["recordId"] for n in mine] == [second, first]
    assert all(n["topic"] == "comment.added" and not n["read"] and n["actor"]["email"] == REP1 for n in mine)
    assert "客户催了" in mine[0]["data"]["body"]
    assert inbox["unreadCount"] == unread_before + 2

    # when the manager marks the older one read, then everything up to the newer one
    marked = (await gql(MARK, {"i": {"ids": [mine[1]["id"]]}}, as_=MANAGER))["data"]["markNotificationsRead"]
    assert (marked["marked"], marked["unreadCount"], marked["userErrors"]) == (1, unread_before + 1, [])
    unread = await _inbox(gql, unread=True)
    assert mine[1]["id"] not in {e["node"]["id"] for e in unread["edges"]}
    marked = (await gql(MARK, {"i": {"upTo": mine[0]["id"]}}, as_=MANAGER))["data"]["markNotificationsRead"]
    # (other tests share the demo manager: what reached them after the newer mention stays unread)
    edges = (await _inbox(gql))["edges"]
    place = next(n for n, e in enumerate(edges) if e["node"]["id"] == mine[0]["id"])
    newer_unread = sum(not e["node"]["read"] for e in edges[:place])
    assert marked["unreadCount"] == newer_unread
    assert all(e["node"]["read"] and e["node"]["readAt"] for e in edges[place:])


async def test_the_inbox_outlives_the_outbox(gql, db):
    customer = await new_customer(gql)
    comment = await _mention(gql, customer["id"], "保留通知")
    node = next(e["node"] for e in (await _inbox(gql))["edges"] if e["node"]["recordId"] == comment)
    # when retention drops the event from the outbox
    async with db.write() as session:
        await session.execute(delete(OutboxEvent).where(OutboxEvent.id == from_global_id(node["eventId"])[1]))
    # then the notification is still there, the same
    again = next(e["node"] for e in (await _inbox(gql))["edges"] if e["node"]["recordId"] == comment)
    assert again == node


async def test_nobody_marks_anyone_elses_and_bad_input_is_named(gql):
    customer = await new_customer(gql)
    comment = await _mention(gql, customer["id"], "别人的通知")
    node = next(e["node"] for e in (await _inbox(gql))["edges"] if e["node"]["recordId"] == comment)
    # when another user of the org and another org's admin try to mark it read
    for someone in ("rep2@demo.test", "admin@acme.test"):
        answer = await gql(MARK, {"i": {"ids": [node["id"]], "upTo": node["id"]}}, as_=someone)
        assert answer["data"]["markNotificationsRead"]["marked"] == 0
    # then it is still unread for the manager
    still = next(e["node"] for e in (await _inbox(gql))["edges"] if e["node"]["id"] == node["id"])
    assert still["read"] is False
    # and they see none of the manager's notifications
    theirs = await gql(INBOX, {"first": 50}, as_="admin@acme.test")
    assert node["id"] not in {e["node"]["id"] for e in theirs["data"]["notifications"]["edges"]}
    # bad input: nothing named, a garbage or foreign-typed id, a bad page
    empty = await gql(MARK, {"i": {}}, as_=MANAGER)
    assert empty["data"]["markNotificationsRead"]["userErrors"] == [{"field": ["ids"], "code": "REQUIRED"}]
    for bad in ("garbage", to_global_id("Customer", 1)):
        answer = await gql(MARK, {"i": {"ids": [bad]}}, as_=MANAGER)
        assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    answer = await gql(INBOX, {"first": 0}, as_=MANAGER)
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_query_then_subscribe_gets_the_next_one_once(app, gql):
    customer = await new_customer(gql)
    older = await _mention(gql, customer["id"], "之前的")
    page = await _inbox(gql)
    assert older in {e["node"]["recordId"] for e in page["edges"]}
    async with connect(app, gql.token(MANAGER)) as socket:
        await socket.subscribe("n", MY_NOTIFICATIONS, {"after": page["liveCursor"]})
        newer = await _mention(gql, customer["id"], "之后的")
        [entry] = await socket.events("n", 1, "myNotifications")
        assert entry["recordId"] == newer
        assert await socket.nothing_more(0.5) == []
