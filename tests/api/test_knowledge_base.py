"""The knowledge base through the API: service drafts an article, submits it, the admin publishes it, and every
reader finds it by a Chinese query in another word order and in full-width letters, or by English words; drafts
stay with service and the admin; status moves the policy does not allow are refused and change nothing; every edit
is a version; a reader's "this helped" counts once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.factories.api.answers import error_code, ok, user_errors
from tests.factories.api.users import ADMIN, FINANCE, MARKETING, PM, REP1, SERVICE
from tests.factories.realtime import positioned

FIELDS = "id title body category tags language status version helpfulCount notHelpfulCount sourceTicketId"
CREATE = f"""
mutation ($input: CreateKnowledgeArticleInput!) {{
  createKnowledgeArticle(input: $input) {{ knowledgeArticle {{ {FIELDS} }} userErrors {{ field code }} }}
}}"""
UPDATE = f"""
mutation ($input: UpdateKnowledgeArticleInput!) {{
  updateKnowledgeArticle(input: $input) {{ knowledgeArticle {{ {FIELDS} }} userErrors {{ field code }} }}
}}"""
SUBMIT = """
mutation ($input: MoveKnowledgeArticleInput!) {
  submitKnowledgeArticle(input: $input) { knowledgeArticle { id status version } userErrors { field code } }
}"""
PUBLISH = """
mutation ($input: MoveKnowledgeArticleInput!) {
  publishKnowledgeArticle(input: $input) { knowledgeArticle { id status version } userErrors { field code } }
}"""
ARCHIVE = """
mutation ($input: MoveKnowledgeArticleInput!) {
  archiveKnowledgeArticle(input: $input) { knowledgeArticle { id status version } userErrors { field code } }
}"""
RATE = """
mutation ($input: RateKnowledgeArticleInput!) {
  rateKnowledgeArticle(input: $input) {
    knowledgeArticle { id helpfulCount notHelpfulCount version } userErrors { field code }
  }
}"""
SEARCH = """
query ($q: String!, $first: Int, $after: String) {
  searchKnowledge(query: $q, first: $first, after: $after) {
    edges { cursor node { id title status } } pageInfo { hasNextPage endCursor } totalCount
  }
}"""
ONE = f"query ($id: ID!) {{ knowledgeArticle(id: $id) {{ {FIELDS} }} }}"
VERSIONS = """
query ($id: ID!) {
  knowledgeArticle(id: $id) { versions { version title body changedFields editedBy { email } editedAt } }
}"""
LIST = """
query ($filter: KnowledgeArticleFilter) {
  knowledgeArticles(first: 100, filter: $filter) { edges { node { id status } } }
}"""
TIMELINE = "query ($r: ID!) { timeline(recordId: $r, first: 50) { edges { node { kind } } } }"


def _tag() -> str:
    return uuid.uuid4().hex[:10]


async def _draft(gql: Any, **input: Any) -> dict[str, Any]:
    data = {"title": "如何重置ＶＰＮ密码", "body": "打开设置，选择 VPN，点击 重置密码。", "category": "网络",
            "tags": ["VPN", "密码"], "language": "zh", **input}
    return ok(await gql(CREATE, {"input": data}, as_=SERVICE), "createKnowledgeArticle")["knowledgeArticle"]


async def _published(gql: Any, **input: Any) -> dict[str, Any]:
    article = await _draft(gql, **input)
    ok(await gql(SUBMIT, {"input": {"id": article["id"]}}, as_=SERVICE), "submitKnowledgeArticle")
    published = ok(await gql(PUBLISH, {"input": {"id": article["id"]}}, as_=ADMIN), "publishKnowledgeArticle")
    assert published["knowledgeArticle"]["status"] == "PUBLISHED"
    return article


async def _found(gql: Any, query: str, as_: str) -> list[str]:
    result = await gql(SEARCH, {"q": query, "first": 100}, as_=as_)
    assert "errors" not in result, result
    return [e["node"]["id"] for e in result["data"]["searchKnowledge"]["edges"]]


async def test_a_published_chinese_article_is_found_in_another_word_order_and_half_width(gql):
    # given an article service drafted, submitted and the admin published; its code word is unique to this test
    code = _tag()
    article = await _published(gql, title=f"如何重置ＶＰＮ密码 {code}")
    # when a reader asks with the words in another order, VPN half-width and lower case
    for reader in (REP1, MARKETING, FINANCE, PM, SERVICE):
        found = await _found(gql, f"密码 vpn 重置 {code}", reader)
        # then they find it
        assert found == [article["id"]], reader
    # and the same in full-width capitals, without spaces
    assert await _found(gql, f"重置ＶＰＮ密码{code.upper()}", REP1) == [article["id"]]


async def test_an_english_article_is_found_by_its_words_best_match_first(gql):
    # given two published articles with the word; one has it in its title
    code = _tag()
    in_title = await _published(gql, title=f"Reset the printer queue {code}", body="Open the spooler.",
                                language="en", tags=["printer"])
    in_body = await _published(gql, title=f"Office equipment {code}", body="If the Printer jams, reset it.",
                               language="en", tags=[])
    # when
    found = await _found(gql, f"PRINTER reset {code}", REP1)
    # then both, the title match first
    assert found == [in_title["id"], in_body["id"]]
    # and a word neither has finds nothing
    assert await _found(gql, f"printer scanner {code}", REP1) == []


async def test_search_pages_are_relay_connections(gql):
    # given three matching articles
    code = _tag()
    ids = {(await _published(gql, title=f"分页 {code} {i}", language="zh"))["id"] for i in range(3)}
    # when paging two at a time
    first = (await gql(SEARCH, {"q": f"分页 {code}", "first": 2}, as_=REP1))["data"]["searchKnowledge"]
    second = (await gql(SEARCH, {"q": f"分页 {code}", "first": 2, "after": first["pageInfo"]["endCursor"]},
                         as_=REP1))["data"]["searchKnowledge"]
    # then every article comes once
    assert first["pageInfo"]["hasNextPage"] is True and first["totalCount"] == 3
    assert second["pageInfo"]["hasNextPage"] is False
    assert {e["node"]["id"] for e in first["edges"] + second["edges"]} == ids
    # and a cursor of another kind is refused
    result = await gql(SEARCH, {"q": code, "first": 2, "after": "bm90IGEgY3Vyc29y"}, as_=REP1)
    assert error_code(result) == "INVALID_CURSOR"


async def test_a_draft_is_found_by_service_and_the_admin_only(gql):
    # given a draft and an article in review
    code = _tag()
    draft = await _draft(gql, title=f"草稿文章 {code}")
    in_review = await _draft(gql, title=f"审核文章 {code}")
    ok(await gql(SUBMIT, {"input": {"id": in_review["id"]}}, as_=SERVICE), "submitKnowledgeArticle")
    # then service and the admin find both
    for who in (SERVICE, ADMIN):
        assert set(await _found(gql, code, who)) == {draft["id"], in_review["id"]}
    # and a rep or marketing neither: not in search, not in the list, NOT_FOUND by id
    for who in (REP1, MARKETING):
        assert await _found(gql, code, who) == []
        listed = (await gql(LIST, {}, as_=who))["data"]["knowledgeArticles"]["edges"]
        assert {e["node"]["id"] for e in listed}.isdisjoint({draft["id"], in_review["id"]})
        assert error_code(await gql(ONE, {"id": draft["id"]}, as_=who)) == "NOT_FOUND"


@pytest.mark.parametrize("move, as_", [(PUBLISH, ADMIN), (ARCHIVE, ADMIN)])
async def test_publishing_and_archiving_is_the_admins_not_services(gql, move, as_):
    # given an article in review
    article = await _draft(gql)
    ok(await gql(SUBMIT, {"input": {"id": article["id"]}}, as_=SERVICE), "submitKnowledgeArticle")
    # when service tries the reviewer's move
    result = await gql(move, {"input": {"id": article["id"]}}, as_=SERVICE)
    # then FORBIDDEN and it stays in review
    assert error_code(result) == "FORBIDDEN"
    assert (await gql(ONE, {"id": article["id"]}, as_=SERVICE))["data"]["knowledgeArticle"]["status"] == "IN_REVIEW"


async def test_a_rep_may_not_write_articles(gql):
    result = await gql(CREATE, {"input": {"title": "x", "body": "y"}}, as_=REP1)
    assert error_code(result) == "FORBIDDEN"


async def test_status_moves_out_of_order_are_refused_and_change_nothing(gql):
    # given a draft
    code = _tag()
    article = await _draft(gql, title=f"未审核 {code}")
    # when the admin publishes it without review
    refused = await gql(PUBLISH, {"input": {"id": article["id"]}}, as_=ADMIN)
    # then
    assert user_errors(refused, "publishKnowledgeArticle") == [(["status"], "INVALID_STATUS_MOVE")]
    after = (await gql(ONE, {"id": article["id"]}, as_=SERVICE))["data"]["knowledgeArticle"]
    assert after == article
    # and an archived article moves nowhere, nor is it edited
    ok(await gql(ARCHIVE, {"input": {"id": article["id"]}}, as_=ADMIN), "archiveKnowledgeArticle")
    archived = (await gql(ONE, {"id": article["id"]}, as_=SERVICE))["data"]["knowledgeArticle"]
    assert user_errors(await gql(SUBMIT, {"input": {"id": article["id"]}}, as_=SERVICE),
                       "submitKnowledgeArticle") == [(["status"], "INVALID_STATUS_MOVE")]
    assert user_errors(await gql(UPDATE, {"input": {"id": article["id"], "version": archived["version"],
                                                     "title": "新标题"}}, as_=SERVICE),
                       "updateKnowledgeArticle") == [(["id"], "ARTICLE_ARCHIVED")]
    assert (await gql(ONE, {"id": article["id"]}, as_=SERVICE))["data"]["knowledgeArticle"] == archived
    # and archived articles leave search
    assert await _found(gql, code, SERVICE) == []


async def test_bad_input_is_a_user_error_and_creates_nothing(gql):
    code = _tag()
    result = await gql(CREATE, {"input": {"title": f"  {code}", "body": " ", "language": "fr"}}, as_=SERVICE)
    assert sorted(user_errors(result, "createKnowledgeArticle")) == [(["body"], "REQUIRED"),
                                                                     (["language"], "INVALID_LANGUAGE")]
    assert await _found(gql, code, SERVICE) == []


async def test_every_edit_is_a_version_with_who_changed_what(gql):
    # given a draft, edited by service
    article = await _draft(gql, title="打印机卡纸", body="第一版")
    edited = ok(await gql(UPDATE, {"input": {"id": article["id"], "version": article["version"],
                                             "body": "第二版：先关机"}}, as_=SERVICE), "updateKnowledgeArticle")
    # when an edit names a stale version
    stale = await gql(UPDATE, {"input": {"id": article["id"], "version": article["version"], "title": "旧"}},
                      as_=SERVICE)
    # then CONFLICT, and the versions tell who wrote what
    assert error_code(stale) == "CONFLICT"
    versions = (await gql(VERSIONS, {"id": article["id"]}, as_=SERVICE))["data"]["knowledgeArticle"]["versions"]
    assert [(v["version"], v["title"], v["body"], v["changedFields"], v["editedBy"]["email"]) for v in versions] == [
        (article["version"], "打印机卡纸", "第一版", ["body", "category", "language", "tags", "title"], SERVICE),
        (edited["knowledgeArticle"]["version"], "打印机卡纸", "第二版：先关机", ["body"], SERVICE),
    ]
    # and a new edit is findable by its words at once
    assert await _found(gql, "关机 打印机", SERVICE) == [article["id"]]


async def test_this_helped_counts_once_per_user(gql):
    # given a published article
    article = await _published(gql, title=f"有用吗 {_tag()}")
    # when a rep says it helped twice, marketing that it did not, then changes their mind
    for _ in range(2):
        ok(await gql(RATE, {"input": {"articleId": article["id"], "helpful": True}}, as_=REP1), "rateKnowledgeArticle")
    ok(await gql(RATE, {"input": {"articleId": article["id"], "helpful": False}}, as_=MARKETING),
       "rateKnowledgeArticle")
    rated = ok(await gql(RATE, {"input": {"articleId": article["id"], "helpful": True}}, as_=MARKETING),
               "rateKnowledgeArticle")["knowledgeArticle"]
    # then two helpful votes, none unhelpful, and the article's version is untouched (a vote is no edit)
    assert (rated["helpfulCount"], rated["notHelpfulCount"], rated["version"]) == (2, 0, 3)


async def test_a_draft_cannot_be_rated_nor_seen_by_a_rep(gql):
    article = await _draft(gql)
    assert error_code(await gql(RATE, {"input": {"articleId": article["id"], "helpful": True}}, as_=REP1)) == \
        "NOT_FOUND"
    assert user_errors(await gql(RATE, {"input": {"articleId": article["id"], "helpful": True}}, as_=SERVICE),
                       "rateKnowledgeArticle") == [(["articleId"], "NOT_PUBLISHED")]


async def test_article_events_reach_its_timeline(gql, app):
    article = await _published(gql, title=f"时间线 {_tag()}")
    await positioned(app)  # the timeline shows events once the relay has positioned them
    kinds = [e["node"]["kind"] for e in
             (await gql(TIMELINE, {"r": article["id"]}, as_=SERVICE))["data"]["timeline"]["edges"]]
    assert sorted(kinds) == ["created", "published", "submitted"]
