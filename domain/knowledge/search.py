"""Full-text search of knowledge articles, Chinese first.

Text is normalized the way people's typing is compared everywhere (``shared.text.text_key``: NFKC, so
full-width ``ＶＰＮ`` is ``vpn``; case folded), then segmented into words by jieba (search mode for what is
indexed: the words and the shorter words inside them; precise mode for a query). The index holds words joined
by spaces, so the database never segments anything itself:

- PostgreSQL: ``knowledge_search.document``, a ``tsvector`` written as a literal (title words weighted A,
  category and tags B, body D; positions kept), under a GIN index; a query is the ``tsquery`` of its words
  ANDed, ranked by ``ts_rank``.
- SQLite: ``knowledge_search``, an FTS5 table (``rowid`` = article id; title, tags, body), ranked by ``bm25``
  with the same column weights.

Both tables are written here and by migration 0026, not mapped (an FTS5 table cannot be): ``UNMAPPED_TABLES``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import jieba
import jieba.analyse
from sqlalchemy import Text, cast, column, func, literal, literal_column, select, table, text
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from ..shared.dialect import dialect_name
from ..shared.text import text_key

jieba.setLogLevel(logging.WARNING)

SEARCH_TABLE = "knowledge_search"
UNMAPPED_TABLES = frozenset({SEARCH_TABLE} | {f"{SEARCH_TABLE}_{s}" for s in ("data", "idx", "content", "docsize",
                                                                             "config")})
"""Tables of the search index (an FTS5 table and its shadow tables on SQLite), kept by raw SQL: no model names them."""

_WORD = re.compile(r"\w")
_MAX_POSITION = 16383  # PostgreSQL keeps positions up to this
_MAX_POSITIONS_PER_WORD = 256
TITLE_WEIGHT, TAGS_WEIGHT, BODY_WEIGHT = 10.0, 4.0, 1.0  # bm25 column weights on SQLite (A, B, D on PostgreSQL)


def words(value: str | None, *, query: bool = False) -> list[str]:
    """The words of ``value`` as the index keeps them: normalized, segmented, punctuation and spaces dropped."""
    normalized = text_key(value or "")
    if not normalized:
        return []
    cut = jieba.cut(normalized) if query else jieba.cut_for_search(normalized)
    return [w for w in (t.strip() for t in cut) if w and _WORD.search(w)]


def query_words(query: str | None) -> list[str]:
    """A query's words, each once, in order."""
    return list(dict.fromkeys(words(query, query=True)))


def significant_words(value: str | None, limit: int = 12) -> list[str]:
    """At most ``limit`` of the words that say most about ``value`` (TF-IDF over jieba's words, common words
    such as 的 or "the" dropped), most significant first: a query for text of any length or punctuation."""
    normalized = text_key(value or "")
    if not normalized:
        return []
    return [w for w in jieba.analyse.extract_tags(normalized, topK=limit) if _WORD.search(w)][:limit]


def _quote(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(title: str, tags: str, body: str) -> str:
    """``'word':1A,4A 'other':2B ...``: every word with its positions and weight, as PostgreSQL reads it."""
    positions: dict[str, list[str]] = {}
    position = 0
    for text_, weight in ((title, "A"), (tags, "B"), (body, "")):
        for word in words(text_):
            position = min(position + 1, _MAX_POSITION)
            seen = positions.setdefault(word, [])
            if len(seen) < _MAX_POSITIONS_PER_WORD:
                seen.append(f"{position}{weight}")
    return " ".join(f"{_quote(w)}:{','.join(p)}" for w, p in positions.items())


def tsquery_literal(query_terms: list[str], *, any_word: bool = False) -> str:
    return (" | " if any_word else " & ").join(_quote(w) for w in query_terms)


def fts5_query(query_terms: list[str], *, any_word: bool = False) -> str:
    """Every word as an FTS5 string (a phrase of whatever FTS5 splits it into), all of them required (or, with
    ``any_word``, any of them)."""
    return (" OR " if any_word else " ").join('"' + w.replace('"', '""') + '"' for w in query_terms)


async def index_article(session: AsyncSession, *, article_id: int, org_id: int, title: str, tags: list[str],
                        category: str | None, body: str) -> None:
    """Write (or rewrite) an article's entry in the search index, in the caller's transaction."""
    tag_text = " ".join([category or "", *tags])
    if dialect_name(session) == "postgresql":
        await session.execute(text(
            f"INSERT INTO {SEARCH_TABLE} (article_id, org_id, document) VALUES (:id, :org, CAST(:doc AS tsvector)) "
            "ON CONFLICT (article_id) DO UPDATE SET document = EXCLUDED.document"),
            {"id": article_id, "org": org_id, "doc": tsvector_literal(title, tag_text, body)})
        return
    await session.execute(text(f"DELETE FROM {SEARCH_TABLE} WHERE rowid = :id"), {"id": article_id})
    await session.execute(text(
        f"INSERT INTO {SEARCH_TABLE} (rowid, org_id, title, tags, body) VALUES (:id, :org, :title, :tags, :body)"),
        {"id": article_id, "org": org_id, "title": " ".join(words(title)), "tags": " ".join(words(tag_text)),
         "body": " ".join(words(body))})


def matches(session: AsyncSession, org_id: int, query_terms: list[str], *, any_word: bool = False) -> Any:
    """A subquery of ``(id, rank)``: the org's articles holding every word (with ``any_word``, any of them),
    higher rank for a better match."""
    if dialect_name(session) == "postgresql":
        index = table(SEARCH_TABLE, column("article_id"), column("org_id"), column("document"))
        tsquery = cast(literal(tsquery_literal(query_terms, any_word=any_word), Text()), TSQUERY)
        return (select(index.c.article_id.label("id"),
                       func.ts_rank(index.c.document, tsquery, 1).label("rank"))
                .where(index.c.org_id == org_id, index.c.document.op("@@")(tsquery))
                .subquery("knowledge_match"))
    index = table(SEARCH_TABLE, column("rowid"), column("org_id"))
    fts = literal_column(SEARCH_TABLE)
    rank = -func.bm25(fts, 0.0, TITLE_WEIGHT, TAGS_WEIGHT, BODY_WEIGHT)
    return (select(index.c.rowid.label("id"), rank.label("rank"))
            .where(fts.op("MATCH")(fts5_query(query_terms, any_word=any_word)), index.c.org_id == org_id)
            .subquery("knowledge_match"))
