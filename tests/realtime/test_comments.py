"""Comments on any record: threads, @mentions, edits with history, soft delete, and who may comment.
Over HTTP as the demo users; the rules also on the domain services directly."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tandem.domain.collaboration.comment import Comment, add_comment, delete_comment, edit_comment, mentioned_users
from tandem.domain.collaboration.errors import CollaborationErrorCode
from tandem.domain.shared.errors import Conflict, SharedErrorCode, ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent
from tandem.schema.node import from_global_id
from tests.conftest import actor_of
from tests.factories.api.crm import new_customer, new_opportunity
from tests.factories.api.users import REP1
from tests.factories.names import unique

COMMENT_FIELDS = """
  id recordId parentId body version createdAt editedAt deletedAt
  author { email } mentions { email } edits { previousBody editedBy { email } }
"""

ADD_COMMENT = f"""
mutation ($input: AddCommentInput!) {{
  addComment(input: $input) {{ comment {{ {COMMENT_FIELDS} }} userErrors {{ field code }} }}
}}"""

EDIT_COMMENT = f"""
mutation ($input: EditCommentInput!) {{
  editComment(input: $input) {{ comment {{ {COMMENT_FIELDS} }} userErrors {{ field code }} }}
}}"""

DELETE_COMMENT = f"""
mutation ($input: DeleteCommentInput!) {{
  deleteComment(input: $input) {{ comment {{ {COMMENT_FIELDS} }} userErrors {{ field code }} }}
}}"""

THREAD = (f"query ($recordId: ID!) {{ comments(recordId: $recordId, first: 100) "
          f"{{ edges {{ node {{ {COMMENT_FIELDS} }} }} }} }}")

CREATE_LEAD = """
mutation ($input: CreateLeadInput!) { createLead(input: $input) { lead { id } userErrors { code } } }"""

MAX_BODY = 10_000


async def new_customer_id(gql: Any, *, as_: str = REP1) -> str:
    return (await new_customer(gql, as_=as_))["id"]


async def new_opportunity_id(gql: Any, *, as_: str = REP1) -> str:
    return (await new_opportunity(gql, as_=as_))["id"]


async def new_lead_id(gql: Any, *, as_: str = REP1) -> str:
    result = await gql(CREATE_LEAD, {"input": {"name": unique("Lead"), "company": "Fabrikam"}}, as_=as_)
    assert result["data"]["createLead"]["userErrors"] == [], result
    return result["data"]["createLead"]["lead"]["id"]


RECORDS = {"opportunity": new_opportunity_id, "customer": new_customer_id, "lead": new_lead_id}


async def try_comment(gql: Any, record_id: str, body: str, *, as_: str = "rep1@demo.test", **overrides: Any,
              ) -> dict[str, Any]:
    """The addComment payload (comment and userErrors)."""
    result = await gql(ADD_COMMENT, {"input": {"recordId": record_id, "body": body, **overrides}}, as_=as_)
    assert "errors" not in result, result
    return result["data"]["addComment"]


async def posted(gql: Any, record_id: str, body: str, *, as_: str = "rep1@demo.test", **overrides: Any,
                 ) -> dict[str, Any]:
    """A comment that must be accepted."""
    payload = await try_comment(gql, record_id, body, as_=as_, **overrides)
    assert payload["userErrors"] == [], payload
    return payload["comment"]


async def thread(gql: Any, record_id: str, *, as_: str = "rep1@demo.test") -> list[dict[str, Any]]:
    result = await gql(THREAD, {"recordId": record_id}, as_=as_)
    assert "errors" not in result, result
    return [edge["node"] for edge in result["data"]["comments"]["edges"]]


async def written_for(db: Any, record_id: str) -> tuple[int, int]:
    """(comments, comment events) stored for a record, read as the database owner."""
    record_type, pk = from_global_id(record_id)
    async with db.read() as session:
        comments = await session.scalar(select(func.count()).select_from(Comment).where(
            Comment.record_type == record_type, Comment.record_id == pk))
        events = await session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.timeline_type == record_type, OutboxEvent.timeline_id == pk,
            OutboxEvent.topic.startswith("comment.")))
    return comments, events


async def event_of(db: Any, comment_id: str, topic: str) -> OutboxEvent:
    _, pk = from_global_id(comment_id)
    async with db.read() as session:
        [event] = (await session.scalars(select(OutboxEvent).where(
            OutboxEvent.record_type == "Comment", OutboxEvent.record_id == pk, OutboxEvent.topic == topic))).all()
    return event


def codes(result: dict[str, Any]) -> list[str] | dict[str, Any]:
    """The error codes of a response (the whole response when it has none, to show what came instead)."""
    if "errors" not in result:
        return result
    return [e["extensions"]["code"] for e in result["errors"]]


# ---------------------------------------------------------------------------------------------
# Adding comments and replies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", RECORDS.values(), ids=RECORDS.keys())
async def test_comment_on_a_record(gql: Any, make: Any) -> None:
    # given
    record_id = await make(gql)

    # when
    comment = await posted(gql, record_id, "Spoke with procurement today.")

    # then
    assert comment["recordId"] == record_id
    assert comment["parentId"] is None
    assert comment["body"] == "Spoke with procurement today."
    assert comment["author"] == {"email": "rep1@demo.test"}
    assert comment["version"] == 1
    assert (comment["editedAt"], comment["deletedAt"], comment["edits"]) == (None, None, [])
    assert [c["id"] for c in await thread(gql, record_id)] == [comment["id"]]


async def test_reply_to_a_comment_on_the_same_record(gql: Any) -> None:
    # given
    opportunity = await new_opportunity_id(gql)
    question = await posted(gql, opportunity, "Who signs off on the budget?")

    # when
    reply = await posted(gql, opportunity, "The CFO, next Tuesday.", as_="manager@demo.test", parentId=question["id"])

    # then
    assert reply["parentId"] == question["id"]
    assert reply["recordId"] == opportunity


async def test_reply_to_a_comment_on_another_record_is_mismatched(gql: Any, db: Any) -> None:
    # given
    elsewhere = await posted(gql, await new_opportunity_id(gql), "On another deal")
    opportunity = await new_opportunity_id(gql)

    # when
    payload = await try_comment(gql, opportunity, "Misplaced reply", parentId=elsewhere["id"])

    # then
    assert payload["comment"] is None
    assert payload["userErrors"] == [{"field": ["parentId"], "code": "MISMATCHED_RECORD"}]
    assert await written_for(db, opportunity) == (0, 0)


@pytest.mark.parametrize("body", ["", "   ", "\n\t "], ids=["empty", "spaces", "whitespace"])
async def test_blank_comment_is_required(gql: Any, db: Any, body: str) -> None:
    # given
    opportunity = await new_opportunity_id(gql)

    # when
    payload = await try_comment(gql, opportunity, body)

    # then
    assert payload["comment"] is None
    assert payload["userErrors"] == [{"field": ["body"], "code": "REQUIRED"}]
    assert await written_for(db, opportunity) == (0, 0)


@pytest.mark.parametrize("char", ["a", "字", "😀"], ids=["ascii", "chinese", "emoji"])
async def test_comment_longer_than_the_limit_is_too_long(gql: Any, db: Any, char: str) -> None:
    # given
    opportunity = await new_opportunity_id(gql)

    # when
    at_limit = await try_comment(gql, opportunity, char * MAX_BODY)
    over_limit = await try_comment(gql, opportunity, char * (MAX_BODY + 1))

    # then
    assert at_limit["userErrors"] == []
    assert at_limit["comment"]["body"] == char * MAX_BODY
    assert over_limit["comment"] is None
    assert over_limit["userErrors"] == [{"field": ["body"], "code": "TOO_LONG"}]
    assert await written_for(db, opportunity) == (1, 1)


BODIES = {
    "markdown": "# Plan\n\n- [x] **Kick-off** with _IT_\n- [ ] `deploy.sh --prod`\n\n```python\nprint('hi')\n```\n\n"
                "| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted  \nwith a hard break\n\n[spec](https://example.com/a_b)",
    "chinese": "客户希望下周三之前收到报价单，预算约 ¥1,200,000。请王经理确认折扣。",
    "full-width": "ＡＢＣ１２３　全角スペースと（括弧）！？",
    "emoji": "Deal closed 🎉👍🏽 👨‍👩‍👧‍👦 🇨🇳 ❤️",
    "combining": "Cafe\u0301 vs Café, ﬁ ligature, Å",
    "html-like": "<script>alert(1)</script> & &amp; \"double\" 'single' \\backslash",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
async def test_comment_body_round_trips_unchanged(gql: Any, body: str) -> None:
    # given
    opportunity = await new_opportunity_id(gql)

    # when
    comment = await posted(gql, opportunity, body)

    # then
    assert comment["body"] == body
    [stored] = await thread(gql, opportunity, as_="manager@demo.test")
    assert stored["body"] == body


# ---------------------------------------------------------------------------------------------
# Mentions
# ---------------------------------------------------------------------------------------------

MENTIONS = {
    "local part": ("Please check, @rep2", ["rep2@demo.test"]),
    "e-mail": ("Please check, @rep2@demo.test", ["rep2@demo.test"]),
    "any case": ("Please check, @REP2", ["rep2@demo.test"]),
    "name without spaces": ("Please check, @SamRep2", ["rep2@demo.test"]),
    "end of sentence": ("Please check this, @rep2.", ["rep2@demo.test"]),
    "in parentheses": ("Pricing is final (cc @rep2)", ["rep2@demo.test"]),
    "full-width comma": ("@rep2，请看一下报价", ["rep2@demo.test"]),
    "two people": ("@manager and @finance: approve?", ["finance@demo.test", "manager@demo.test"]),
    "repeated": ("@rep2 @rep2 @Rep2", ["rep2@demo.test"]),
    "unknown handle": ("@nobody knows", []),
    "e-mail address in text": ("Write to ops@rep2 for access", []),
    "another org's user": ("@rep@acme.test and @rep, see this", []),
    "oneself": ("Note to self @rep1", []),
}


@pytest.mark.parametrize(("body", "expected"), MENTIONS.values(), ids=MENTIONS.keys())
async def test_mentions_resolve_to_users_of_the_org(gql: Any, db: Any, users: dict, body: str,
                                                    expected: list[str]) -> None:
    # given
    opportunity = await new_opportunity_id(gql)

    # when
    comment = await posted(gql, opportunity, body)

    # then
    assert sorted(u["email"] for u in comment["mentions"]) == expected
    event = await event_of(db, comment["id"], "comment.added")
    assert sorted(event.audience) == sorted(users[email].id for email in expected)


async def test_editing_in_a_mention_notifies_only_the_newly_mentioned(gql: Any, db: Any, users: dict) -> None:
    # given
    opportunity = await new_opportunity_id(gql)
    comment = await posted(gql, opportunity, "@rep2 can you take this?")

    # when
    result = await gql(EDIT_COMMENT, {"input": {"id": comment["id"], "version": comment["version"],
                                                "body": "@rep2 can you take this? @manager FYI"}})

    # then
    edited = result["data"]["editComment"]["comment"]
    assert sorted(u["email"] for u in edited["mentions"]) == ["manager@demo.test", "rep2@demo.test"]
    event = await event_of(db, comment["id"], "comment.edited")
    assert event.audience == [users["manager@demo.test"].id]


# ---------------------------------------------------------------------------------------------
# Editing and deleting
# ---------------------------------------------------------------------------------------------


async def test_edit_keeps_every_earlier_body(gql: Any) -> None:
    # given
    opportunity = await new_opportunity_id(gql)
    comment = await posted(gql, opportunity, "Budget is 1.2M")

    # when
    first = await gql(EDIT_COMMENT, {"input": {"id": comment["id"], "version": 1, "body": "Budget is 1.3M"}})
    second = await gql(EDIT_COMMENT, {"input": {"id": comment["id"], "version": 2, "body": "Budget is 1.35M"}})

    # then
    assert first["data"]["editComment"]["userErrors"] == []
    edited = second["data"]["editComment"]["comment"]
    assert edited["body"] == "Budget is 1.35M"
    assert edited["version"] == 3
    assert edited["editedAt"] is not None
    assert edited["edits"] == [
        {"previousBody": "Budget is 1.2M", "editedBy": {"email": "rep1@demo.test"}},
        {"previousBody": "Budget is 1.3M", "editedBy": {"email": "rep1@demo.test"}},
    ]


async def test_edit_with_a_stale_version_is_a_conflict(gql: Any) -> None:
    # given
    opportunity = await new_opportunity_id(gql)
    comment = await posted(gql, opportunity, "First draft")
    await gql(EDIT_COMMENT, {"input": {"id": comment["id"], "version": 1, "body": "Second draft"}})

    # when
    result = await gql(EDIT_COMMENT, {"input": {"id": comment["id"], "version": 1, "body": "Overwrite"}})

    # then
    assert codes(result) == ["CONFLICT"]
    [stored] = await thread(gql, opportunity)
    assert (stored["body"], stored["version"]) == ("Second draft", 2)


@pytest.mark.parametrize("email", ["manager@demo.test", "finance@demo.test", "service@demo.test"])
async def test_only_the_author_may_edit_or_delete(gql: Any, email: str) -> None:
    # given rep1's comment on an opportunity the others may see
    opportunity = await new_opportunity_id(gql)
    comment = await posted(gql, opportunity, "Mine")

    # when
    edit = await gql(EDIT_COMMENT, {"input": {"id": comment["id"], "version": 1, "body": "Theirs"}}, as_=email)
    delete = await gql(DELETE_COMMENT, {"input": {"id": comment["id"], "version": 1}}, as_=email)

    # then
    for payload in (edit["data"]["editComment"], delete["data"]["deleteComment"]):
        assert payload["comment"] is None
        assert payload["userErrors"] == [{"field": ["id"], "code": "NOT_ALLOWED"}]
    [stored] = await thread(gql, opportunity)
    assert (stored["body"], stored["version"], stored["edits"]) == ("Mine", 1, [])


async def test_admin_may_edit_anyones_comment(gql: Any) -> None:
    # given
    opportunity = await new_opportunity_id(gql)
    comment = await posted(gql, opportunity, "Call me at +86 138 0013 8000")

    # when
    result = await gql(EDIT_COMMENT, {"input": {"id": comment["id"], "version": 1, "body": "[phone removed]"}},
                       as_="admin@demo.test")

    # then
    edited = result["data"]["editComment"]["comment"]
    assert edited["body"] == "[phone removed]"
    assert edited["author"] == {"email": "rep1@demo.test"}
    assert edited["edits"] == [
        {"previousBody": "Call me at +86 138 0013 8000", "editedBy": {"email": "admin@demo.test"}}]


async def test_delete_hides_the_body_and_keeps_the_history(gql: Any, db: Any) -> None:
    # given
    opportunity = await new_opportunity_id(gql)
    comment = await posted(gql, opportunity, "Wrong thread, sorry")
    after = await posted(gql, opportunity, "Next comment")

    # when
    result = await gql(DELETE_COMMENT, {"input": {"id": comment["id"], "version": 1}})

    # then
    deleted = result["data"]["deleteComment"]["comment"]
    assert deleted["body"] is None
    assert deleted["deletedAt"] is not None
    assert deleted["edits"] == [{"previousBody": "Wrong thread, sorry", "editedBy": {"email": "rep1@demo.test"}}]
    assert [(c["id"], c["body"]) for c in await thread(gql, opportunity)] == [
        (comment["id"], None), (after["id"], "Next comment")]
    event = await event_of(db, comment["id"], "comment.deleted")
    assert event.payload["body"] is None


async def test_a_deleted_comment_cannot_be_edited_or_deleted_again(gql: Any) -> None:
    # given
    opportunity = await new_opportunity_id(gql)
    comment = await posted(gql, opportunity, "Gone soon")
    deleted = (await gql(DELETE_COMMENT, {"input": {"id": comment["id"], "version": 1}}))["data"]["deleteComment"]
    version = deleted["comment"]["version"]

    # when
    edit = await gql(EDIT_COMMENT, {"input": {"id": comment["id"], "version": version, "body": "Back"}})
    again = await gql(DELETE_COMMENT, {"input": {"id": comment["id"], "version": version}})

    # then
    assert edit["data"]["editComment"]["userErrors"] == [{"field": ["id"], "code": "NOT_ALLOWED"}]
    assert again["data"]["deleteComment"]["userErrors"] == [{"field": ["id"], "code": "NOT_ALLOWED"}]
    [stored] = await thread(gql, opportunity)
    assert stored["body"] is None


# ---------------------------------------------------------------------------------------------
# The thread, and who may comment
# ---------------------------------------------------------------------------------------------


async def test_thread_lists_comments_oldest_first_with_replies(gql: Any) -> None:
    # given
    opportunity = await new_opportunity_id(gql)
    first = await posted(gql, opportunity, "1")
    second = await posted(gql, opportunity, "2", as_="manager@demo.test")
    reply = await posted(gql, opportunity, "re: 1", as_="manager@demo.test", parentId=first["id"])
    fourth = await posted(gql, opportunity, "4")

    # when
    comments = await thread(gql, opportunity, as_="manager@demo.test")

    # then
    assert [(c["id"], c["parentId"], c["body"]) for c in comments] == [
        (first["id"], None, "1"), (second["id"], None, "2"), (reply["id"], first["id"], "re: 1"),
        (fourth["id"], None, "4"),
    ]


OUT_OF_REACH = {
    "peer rep, opportunity": ("rep2@demo.test", new_opportunity_id),
    "peer rep, customer": ("rep2@demo.test", new_customer_id),
    "peer rep, lead": ("rep2@demo.test", new_lead_id),
    "other org, opportunity": ("rep@acme.test", new_opportunity_id),
    "other org admin, customer": ("admin@acme.test", new_customer_id),
}


@pytest.mark.parametrize(("email", "make"), OUT_OF_REACH.values(), ids=OUT_OF_REACH.keys())
async def test_commenting_on_a_record_out_of_reach_is_not_found_and_writes_nothing(
    gql: Any, db: Any, email: str, make: Any
) -> None:
    # given rep1's record with one comment
    record_id = await make(gql)
    comment = await posted(gql, record_id, "Internal")

    # when
    added = await gql(ADD_COMMENT, {"input": {"recordId": record_id, "body": "Let me in"}}, as_=email)
    replied = await gql(ADD_COMMENT, {"input": {"recordId": record_id, "body": "Me too",
                                                "parentId": comment["id"]}}, as_=email)
    listed = await gql(THREAD, {"recordId": record_id}, as_=email)

    # then
    assert codes(added) == codes(replied) == codes(listed) == ["NOT_FOUND"]
    assert added["data"] is replied["data"] is listed["data"] is None
    assert await written_for(db, record_id) == (1, 1)


@pytest.mark.parametrize("email", ["rep2@demo.test", "admin@acme.test"], ids=["peer rep", "other org admin"])
async def test_a_comment_on_a_record_out_of_reach_cannot_be_edited_deleted_or_replied_to(
    gql: Any, db: Any, email: str
) -> None:
    # given a comment on rep1's opportunity, and a record of the caller's own
    opportunity = await new_opportunity_id(gql)
    comment = await posted(gql, opportunity, "Demo-only")
    own_record = await new_opportunity_id(gql, as_=email)

    # when
    edit = await gql(EDIT_COMMENT, {"input": {"id": comment["id"], "version": 1, "body": "Was here"}}, as_=email)
    delete = await gql(DELETE_COMMENT, {"input": {"id": comment["id"], "version": 1}}, as_=email)
    reply = await gql(ADD_COMMENT, {"input": {"recordId": own_record, "body": "Re", "parentId": comment["id"]}},
                      as_=email)

    # then
    assert codes(edit) == ["NOT_FOUND"]
    assert codes(delete) == ["NOT_FOUND"]
    assert codes(reply) == ["NOT_FOUND"]
    [stored] = await thread(gql, opportunity)
    assert (stored["body"], stored["version"], stored["deletedAt"]) == ("Demo-only", 1, None)
    assert await written_for(db, own_record) == (0, 0)
    [stored] = await thread(gql, opportunity)
    assert (stored["body"], stored["version"], stored["deletedAt"]) == ("Demo-only", 1, None)


# ---------------------------------------------------------------------------------------------
# The rules, on the domain services
# ---------------------------------------------------------------------------------------------


async def test_service_refuses_a_missing_body_and_a_parent_on_another_record(gql: Any, db: Any, users: dict) -> None:
    # given
    rep1 = actor_of(users["rep1@demo.test"])
    _, opportunity = from_global_id(await new_opportunity_id(gql))
    _, other = from_global_id(await new_opportunity_id(gql))
    async with db.write() as session:
        parent = await add_comment(session, rep1, record_type="Opportunity", record_id=other, body="Elsewhere")

    # when
    with pytest.raises(ValidationFailed) as refused:
        async with db.write() as session:
            await add_comment(session, rep1, record_type="Opportunity", record_id=opportunity, body=None,
                              parent_id=parent.id)

    # then
    assert [(e.field, e.code) for e in refused.value.errors] == [
        (("body",), SharedErrorCode.REQUIRED), (("parentId",), SharedErrorCode.MISMATCHED_RECORD)]


async def test_service_edit_rules(gql: Any, db: Any, users: dict) -> None:
    # given
    rep1, manager, admin = (actor_of(users[e]) for e in ("rep1@demo.test", "manager@demo.test", "admin@demo.test"))
    _, opportunity = from_global_id(await new_opportunity_id(gql))
    async with db.write() as session:
        comment = await add_comment(session, rep1, record_type="Opportunity", record_id=opportunity, body="v1")

    # when / then: a stale version
    with pytest.raises(Conflict):
        async with db.write() as session:
            await edit_comment(session, rep1, comment.id, comment.version + 1, "v2")

    # when / then: someone else's comment
    with pytest.raises(ValidationFailed) as refused:
        async with db.write() as session:
            await delete_comment(session, manager, comment.id, comment.version)
    assert [(e.field, e.code) for e in refused.value.errors] == [(("id",), CollaborationErrorCode.NOT_ALLOWED)]

    # when / then: an admin may
    async with db.write() as session:
        edited = await edit_comment(session, admin, comment.id, comment.version, "v2 (moderated)")
    assert (edited.body, edited.version, edited.author_id) == ("v2 (moderated)", 2, rep1.user_id)


async def test_service_resolves_mentions_within_the_org_only(db: Any, users: dict) -> None:
    # given
    rep1 = actor_of(users["rep1@demo.test"])
    acme_rep = actor_of(users["rep@acme.test"])
    body = "@rep2 @admin @rep @admin@acme.test @rep1"

    # when
    async with db.read() as session:
        for_demo = await mentioned_users(session, rep1, body)
        for_acme = await mentioned_users(session, acme_rep, body)

    # then
    assert for_demo == sorted([users["rep2@demo.test"].id, users["admin@demo.test"].id])
    assert for_acme == [users["admin@acme.test"].id]
