"""Tenancy cases of the knowledge base: Demo's published article (written by its service, published by its admin)
and Acme's draft. Acme may not edit, move or rate Demo's article; what Acme writes changes only Acme; its list and
its search hold only its own articles, even for words Demo's article has too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tandem.domain.knowledge.article import KnowledgeArticle

from . import ACME, Case, Records, created, input_of

CREATE = """
mutation ($input: CreateKnowledgeArticleInput!) {
  createKnowledgeArticle(input: $input) { knowledgeArticle { id version } userErrors { field code } }
}"""
UPDATE = """
mutation ($input: UpdateKnowledgeArticleInput!) {
  updateKnowledgeArticle(input: $input) { knowledgeArticle { id } userErrors { field code } }
}"""
MOVES = {name: f"""
mutation ($input: MoveKnowledgeArticleInput!) {{
  {name}(input: $input) {{ knowledgeArticle {{ id }} userErrors {{ field code }} }}
}}""" for name in ("submitKnowledgeArticle", "publishKnowledgeArticle", "archiveKnowledgeArticle")}
RATE = """
mutation ($input: RateKnowledgeArticleInput!) {
  rateKnowledgeArticle(input: $input) { knowledgeArticle { id } userErrors { field code } }
}"""
ARTICLES = "query { knowledgeArticles(first: 100) { edges { node { id title } } totalCount } }"
SEARCH = 'query { searchKnowledge(query: "租户 知识库", first: 100) { edges { node { id title } } } }'


async def _article(gql: Any, as_: str, *, publish_as: str | None = None) -> dict[str, Any]:
    article = (await created(gql, CREATE, "createKnowledgeArticle", as_, title="租户知识库探针",
                             body="只属于本组织的文章", language="zh"))["knowledgeArticle"]
    if publish_as:
        await created(gql, MOVES["submitKnowledgeArticle"], "submitKnowledgeArticle", as_, id=article["id"])
        await created(gql, MOVES["publishKnowledgeArticle"], "publishKnowledgeArticle", publish_as, id=article["id"])
    return article


@pytest.fixture(scope="module")
async def knowledge_records(gql) -> AsyncIterator[dict[str, dict[str, Any]]]:
    yield {"demo": await _article(gql, "service@demo.test", publish_as="admin@demo.test"),
           "acme": await _article(gql, ACME)}


async def records(made: dict[str, dict[str, Any]]) -> Records:
    return Records(demo={"KnowledgeArticle": made["demo"]["id"]}, acme={"KnowledgeArticle": made["acme"]["id"]})


NOT_FOUND_CASES = [
    Case("updateKnowledgeArticle.id", UPDATE, "updateKnowledgeArticle", lambda w, _: input_of(
        id=w.demo["KnowledgeArticle"], version=1, title="Acme was here")),
    *[Case(f"{name}.id", document, name, lambda w, _: input_of(id=w.demo["KnowledgeArticle"]))
      for name, document in MOVES.items()],
    Case("rateKnowledgeArticle.articleId", RATE, "rateKnowledgeArticle", lambda w, _: input_of(
        articleId=w.demo["KnowledgeArticle"], helpful=True)),
]
UNNAMED_CASES = [
    Case("createKnowledgeArticle", CREATE, "createKnowledgeArticle", lambda w, _: input_of(
        title="Acme article", body="Acme only", language="en")),
]
CONNECTION_CASES = [Case("knowledgeArticles", ARTICLES, "knowledgeArticles", lambda w, _: {})]
FILTERED_CASES: list[Case] = []
MODELS: dict[str, Any] = {"knowledgeArticles": KnowledgeArticle}
LIST_CASES = [Case("searchKnowledge", SEARCH, "searchKnowledge", lambda w, _: {})]
NO_ID_QUERIES: set[str] = set()
