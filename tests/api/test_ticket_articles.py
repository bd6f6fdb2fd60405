"""Tickets and the knowledge base through the API: a resolution drafts an article (`resolveTicket(...
publishArticle: true)`) in the same transaction, only for a role that may create articles; once published, the
article is suggested for a ticket asking the same (`suggestedArticles(ticketId)`), to whoever may read the ticket."""

from __future__ import annotations

import uuid
from typing import Any

from tests.factories.api.answers import error_code, ok
from tests.factories.api.crm import new_customer
from tests.factories.api.users import ACME_ADMIN, ADMIN, REP2, SERVICE, user_id

CREATE = """
mutation ($input: CreateTicketInput!) {
  createTicket(input: $input) { ticket { id version status } userErrors { field code } }
}"""
ASSIGN = """
mutation ($input: AssignTicketInput!) { assignTicket(input: $input) { ticket { id } userErrors { field code } } }"""
RESOLVE = """
mutation ($input: ResolveTicketInput!) {
  resolveTicket(input: $input) {
    ticket { id status resolution }
    article { id title body language status sourceTicketId author { email } }
    userErrors { field code }
  }
}"""
TICKET = "query ($id: ID!) { ticket(id: $id) { id status resolution } }"
DRAFTS = """
query { knowledgeArticles(first: 100, filter: {status: DRAFT}) { edges { node { id sourceTicketId } } } }"""
SUBMIT = """
mutation ($id: ID!) { submitKnowledgeArticle(input: {id: $id}) { knowledgeArticle { id } userErrors { code } } }"""
PUBLISH = """
mutation ($id: ID!) { publishKnowledgeArticle(input: {id: $id}) { knowledgeArticle { id status } userErrors { code } } }
"""
SUGGESTED = """
query ($t: ID!, $first: Int) { suggestedArticles(ticketId: $t, first: $first) { id title status } }"""


async def _ticket(gql: Any, subject: str, description: str, *, as_: str = SERVICE) -> dict[str, Any]:
    customer = await new_customer(gql, as_=REP2)
    result = await gql(CREATE, {"input": {"customerId": customer["id"], "subject": subject,
                                          "description": description}}, as_=as_)
    return ok(result, "createTicket")["ticket"]


async def test_a_chinese_resolution_drafts_an_article_later_suggested_for_a_ticket_asking_the_same(gql):
    # given a Chinese ticket with a word no other article has
    code = "vpn" + uuid.uuid4().hex[:8]
    ticket = await _ticket(gql, f"{code} 客户端无法连接公司内网",
                           f"用户反馈：{code} 客户端每次登录都提示证书过期，无法连接。")
    # when service resolves it and asks for an article
    resolved = ok(await gql(RESOLVE, {"input": {"ticketId": ticket["id"], "publishArticle": True,
                                                "resolution": "在设置中更新证书后重新登录即可。"}}, as_=SERVICE),
                  "resolveTicket")
    # then the ticket is resolved and a Chinese draft holds the question and the resolution, authored by service
    assert resolved["ticket"]["status"] == "RESOLVED"
    article = resolved["article"]
    assert (article["status"], article["language"], article["sourceTicketId"], article["author"]) == (
        "DRAFT", "zh", ticket["id"], {"email": SERVICE})
    assert article["title"] == f"{code} 客户端无法连接公司内网"
    assert "证书过期" in article["body"] and "更新证书" in article["body"] and article["body"].startswith("## ")
    drafts = (await gql(DRAFTS, as_=SERVICE))["data"]["knowledgeArticles"]["edges"]
    assert {"id": article["id"], "sourceTicketId": ticket["id"]} in [e["node"] for e in drafts]
    # and a draft is suggested to nobody
    asking = await _ticket(gql, f"又是{code}连不上内网！！！", f"{code} 客户端提示证书过期？？ 怎么办…")
    assert article["id"] not in [a["id"] for a in (await gql(SUGGESTED, {"t": asking["id"]}, as_=SERVICE))[
        "data"]["suggestedArticles"]]
    # when it is reviewed and published
    ok(await gql(SUBMIT, {"id": article["id"]}, as_=SERVICE), "submitKnowledgeArticle")
    ok(await gql(PUBLISH, {"id": article["id"]}, as_=ADMIN), "publishKnowledgeArticle")
    # then the agent working a ticket asking the same, in other words and punctuation, has it first
    suggested = (await gql(SUGGESTED, {"t": asking["id"]}, as_=SERVICE))["data"]["suggestedArticles"]
    assert suggested[0] == {"id": article["id"], "title": article["title"], "status": "PUBLISHED"}
    assert len(suggested) <= 5
    assert (await gql(SUGGESTED, {"t": asking["id"], "first": 1}, as_=SERVICE))["data"]["suggestedArticles"] == [
        suggested[0]]


async def test_an_english_resolution_drafts_an_english_article(gql):
    ticket = await _ticket(gql, "Printer offline", "The office printer shows offline since Monday.")
    resolved = ok(await gql(RESOLVE, {"input": {"ticketId": ticket["id"], "resolution": "Restart the spooler.",
                                                "publishArticle": True}}, as_=SERVICE), "resolveTicket")
    assert (resolved["article"]["language"], resolved["article"]["title"]) == ("en", "Printer offline")
    assert "## Question" in resolved["article"]["body"] and "## Resolution" in resolved["article"]["body"]


async def test_without_the_flag_no_article_is_drafted(gql):
    ticket = await _ticket(gql, "无需文章的问题", "一次性问题。")
    resolved = ok(await gql(RESOLVE, {"input": {"ticketId": ticket["id"], "resolution": "已处理。"}}, as_=SERVICE),
                  "resolveTicket")
    assert (resolved["ticket"]["status"], resolved["article"]) == ("RESOLVED", None)
    drafts = (await gql(DRAFTS, as_=SERVICE))["data"]["knowledgeArticles"]["edges"]
    assert ticket["id"] not in [e["node"]["sourceTicketId"] for e in drafts]


async def test_a_role_that_may_not_create_articles_is_refused_and_the_ticket_stays_unresolved(gql):
    # given a ticket assigned to rep2 (a sales rep may resolve tickets, not create articles)
    ticket = await _ticket(gql, "销售处理的工单", "客户询问发票抬头。")
    ok(await gql(ASSIGN, {"input": {"ticketId": ticket["id"], "assigneeId": user_id(gql, REP2)}},
                 as_=SERVICE), "assignTicket")
    # when rep2 resolves it asking for an article
    answer = await gql(RESOLVE, {"input": {"ticketId": ticket["id"], "resolution": "已告知。", "publishArticle": True}},
                       as_=REP2)
    # then the answer is a userError on publishArticle and nothing changed
    payload = answer["data"]["resolveTicket"]
    assert payload["userErrors"] == [{"field": ["publishArticle"], "code": "FORBIDDEN"}]
    assert (payload["ticket"], payload["article"]) == (None, None)
    assert (await gql(TICKET, {"id": ticket["id"]}, as_=SERVICE))["data"]["ticket"]["status"] != "RESOLVED"
    drafts = (await gql(DRAFTS, as_=SERVICE))["data"]["knowledgeArticles"]["edges"]
    assert ticket["id"] not in [e["node"]["sourceTicketId"] for e in drafts]
    # and without the flag rep2 may resolve it
    resolved = ok(await gql(RESOLVE, {"input": {"ticketId": ticket["id"], "resolution": "已告知。"}}, as_=REP2),
                  "resolveTicket")
    assert resolved["ticket"]["status"] == "RESOLVED"


async def test_a_resolution_refused_drafts_no_article(gql):
    ticket = await _ticket(gql, "空的解决方案", "描述。")
    answer = await gql(RESOLVE, {"input": {"ticketId": ticket["id"], "resolution": "  ", "publishArticle": True}},
                       as_=SERVICE)
    assert answer["data"]["resolveTicket"]["userErrors"] == [{"field": ["resolution"], "code": "REQUIRED"}]
    drafts = (await gql(DRAFTS, as_=SERVICE))["data"]["knowledgeArticles"]["edges"]
    assert ticket["id"] not in [e["node"]["sourceTicketId"] for e in drafts]


async def test_suggestions_for_another_orgs_ticket_are_not_found(gql):
    ticket = await _ticket(gql, "别的组织看不到", "租户隔离。")
    assert error_code(await gql(SUGGESTED, {"t": ticket["id"]}, as_=ACME_ADMIN)) == "NOT_FOUND"


async def test_a_ticket_without_words_has_no_suggestions(gql):
    ticket = await _ticket(gql, "？？？！！！……", "")
    answer = await gql(SUGGESTED, {"t": ticket["id"]}, as_=SERVICE)
    assert answer == {"data": {"suggestedArticles": []}}


async def test_a_long_ticket_with_punctuation_is_searched_by_its_most_significant_words(gql):
    text = ("请问“VPN”(虚拟专用网) 连接 AND OR NOT * \" ' : 失败了？" * 200) + "!@#$%^&*()[]{}<>|\\/"
    ticket = await _ticket(gql, "VPN：连接失败？！（紧急）", text)
    answer = await gql(SUGGESTED, {"t": ticket["id"], "first": 50}, as_=SERVICE)
    assert "errors" not in answer, answer
    assert all(a["status"] == "PUBLISHED" for a in answer["data"]["suggestedArticles"])
