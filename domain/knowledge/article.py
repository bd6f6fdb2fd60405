"""Knowledge articles: written by service (DRAFT, then IN_REVIEW), published or archived by the role the policy
names (``KnowledgeArticle publish``: the admin by default), every version kept with who wrote it, "this helped"
votes once per user, and found by ``search``.

Who sees which rows: every role with ``KnowledgeArticle read:*`` reads PUBLISHED articles; drafts, articles in
review and archived ones only a role with ``KnowledgeDraft read:org`` too (service, admin): ``visible_articles``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.payload import camel
from ..shared.scope import Scope
from ..shared.text import text_key
from . import search
from .errors import KnowledgeErrorCode

DRAFTS = "KnowledgeDraft"
"""The policy object whose ``read:org`` lets a role see articles that are not published (service, admin)."""
LANGUAGES = ("zh", "en")
MAX_TAGS = 20
SUGGEST_WORDS = 12
"""A suggestion's query keeps at most this many words of the text it starts from."""


class ArticleStatus(StrEnum):
    DRAFT = "DRAFT"
    IN_REVIEW = "IN_REVIEW"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


MOVES: dict[ArticleStatus, frozenset[ArticleStatus]] = {
    ArticleStatus.DRAFT: frozenset({ArticleStatus.IN_REVIEW, ArticleStatus.ARCHIVED}),
    ArticleStatus.IN_REVIEW: frozenset({ArticleStatus.PUBLISHED, ArticleStatus.ARCHIVED}),
    ArticleStatus.PUBLISHED: frozenset({ArticleStatus.ARCHIVED}),
    ArticleStatus.ARCHIVED: frozenset(),
}
"""The status moves allowed: submit (DRAFT → IN_REVIEW), publish (IN_REVIEW → PUBLISHED), archive (any but ARCHIVED)."""


class KnowledgeArticle(Base):
    __tablename__ = "knowledge_article"
    __table_args__ = (Index("ix_knowledge_article_org_status", "org_id", "status", "updated_at"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20))
    source_ticket_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    """The ticket the article was drafted from (a plain id: tickets come in their own area)."""
    author_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    not_helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __mapper_args__ = {"version_id_col": version}


class KnowledgeArticleVersion(Base):
    """The article's text as one edit left it: who, when, and which fields the edit changed."""

    __tablename__ = "knowledge_article_version"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int] = mapped_column(IdType, ForeignKey("knowledge_article.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    changed: Mapped[list[str]] = mapped_column(JSON, default=list)
    edited_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    edited_at: Mapped[datetime]


class KnowledgeVote(Base):
    """One user's "this helped" (or not) on an article; voting again changes the vote."""

    __tablename__ = "knowledge_vote"
    __table_args__ = (UniqueConstraint("article_id", "user_id"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int] = mapped_column(IdType, ForeignKey("knowledge_article.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id", ondelete="CASCADE"))
    helpful: Mapped[bool] = mapped_column(Boolean)
    voted_at: Mapped[datetime]


@dataclass
class ArticleInput:
    title: str | None = None
    body: str | None = None
    category: str | None = None
    tags: list[str] | None = None
    language: str | None = None
    source_ticket_id: int | None = None
    set_fields: set[str] = field(default_factory=set)
    """On update: the fields the caller gave (an absent field stays)."""


@dataclass(frozen=True)
class ArticleFilter:
    status: str | None = None
    language: str | None = None
    category: str | None = None
    tag: str | None = None


# --- rules without I/O -------------------------------------------------------------------------


def check_move(current: str, wanted: ArticleStatus) -> None:
    """INVALID_STATUS_MOVE unless ``current`` may become ``wanted``."""
    if wanted not in MOVES[ArticleStatus(current)]:
        raise ValidationFailed.one("status", KnowledgeErrorCode.INVALID_STATUS_MOVE,
                                   f"An article {current} cannot become {wanted}.")


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")


def guess_language(text: str | None) -> str:
    """``zh`` when the text has a CJK character, else ``en``."""
    return "zh" if _CJK.search(text or "") else "en"


def _clean_tags(v: Validator, tags: list[str] | None) -> list[str]:
    """Tags trimmed, each once in any width or case, at most ``MAX_TAGS`` of 50 characters."""
    out: dict[str, str] = {}
    for i, tag in enumerate(tags or []):
        cleaned = v.text(f"tags.{i}", tag, max_len=50) or ""
        if cleaned:
            out.setdefault(text_key(cleaned), cleaned)
    if len(out) > MAX_TAGS:
        v.add("tags", SharedErrorCode.TOO_LONG, f"at most {MAX_TAGS} tags")
    return list(out.values())


def article_payload(a: KnowledgeArticle) -> dict[str, Any]:
    return {"id": a.id, "version": a.version, "title": a.title, "category": a.category, "tags": list(a.tags),
            "language": a.language, "status": a.status, "sourceTicketId": a.source_ticket_id,
            "authorId": a.author_id}


# --- reads -------------------------------------------------------------------------------------


def visible_articles(actor: Actor) -> Any:
    """The org's articles the actor may read: none without ``read`` on articles, else the published ones, and
    every status for a role that may read drafts."""
    stmt = select(KnowledgeArticle).where(KnowledgeArticle.org_id == actor.org_id)
    if actor.scope("KnowledgeArticle") is Scope.NONE:
        return stmt.where(false())
    if actor.scope(DRAFTS) is Scope.NONE:
        return stmt.where(KnowledgeArticle.status == ArticleStatus.PUBLISHED.value)
    return stmt


async def get_article(session: AsyncSession, actor: Actor, article_id: int) -> KnowledgeArticle:
    found = await session.scalar(visible_articles(actor).where(KnowledgeArticle.id == article_id))
    if found is None:
        raise NotFound("KnowledgeArticle", article_id)
    return found


async def articles_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, KnowledgeArticle]:
    rows = await session.scalars(visible_articles(actor).where(KnowledgeArticle.id.in_(ids)))
    return {a.id: a for a in rows}


UPDATED = SortKey("updatedAt", KnowledgeArticle.updated_at, datetime)


async def list_articles(session: AsyncSession, actor: Actor, *, filter: ArticleFilter, req: PageRequest,
                        with_total: bool = False) -> Page[KnowledgeArticle]:
    stmt = visible_articles(actor)
    if filter.status:
        stmt = stmt.where(KnowledgeArticle.status == filter.status)
    if filter.language:
        stmt = stmt.where(KnowledgeArticle.language == filter.language)
    if filter.category:
        stmt = stmt.where(KnowledgeArticle.category == filter.category.strip())
    page = await paginate(session, stmt, entity=KnowledgeArticle, sort=UPDATED,
                          req=PageRequest(req.first, req.after, req.last, req.before, descending=True),
                          with_total=with_total and not filter.tag)
    if filter.tag:  # tags are few per article: kept in JSON, filtered on the page
        wanted = text_key(filter.tag)
        keep = [(a, c) for a, c in zip(page.items, page.cursors, strict=True)
                if any(text_key(t) == wanted for t in a.tags)]
        page.items, page.cursors = [a for a, _ in keep], [c for _, c in keep]
    return page


RELEVANCE = "relevance"


async def search_articles(session: AsyncSession, actor: Actor, query: str, req: PageRequest,
                          with_total: bool = False) -> Page[KnowledgeArticle]:
    """The articles the actor may read holding every word of ``query``, best match first; archived ones never."""
    terms = search.query_words(query)
    req = PageRequest(req.first, req.after, req.last, req.before, descending=True)
    if not terms:
        req.validate()
        return Page(items=[], cursors=[], has_next=False, has_previous=False, total=0 if with_total else None)
    found = search.matches(session, actor.org_id, terms)
    stmt = (visible_articles(actor).join(found, found.c.id == KnowledgeArticle.id)
            .where(KnowledgeArticle.status != ArticleStatus.ARCHIVED.value))
    return await paginate(session, stmt, entity=KnowledgeArticle, sort=SortKey(RELEVANCE, found.c.rank, float),
                          req=req, with_total=with_total)


async def suggest_articles(session: AsyncSession, actor: Actor, text: str, limit: int = 5
                           ) -> list[KnowledgeArticle]:
    """Published articles the actor may read that share any of the most significant words of ``text`` (at most
    ``SUGGEST_WORDS``), the best match first; none for text without words."""
    terms = search.significant_words(text, SUGGEST_WORDS)
    if not terms or limit <= 0:
        return []
    found = search.matches(session, actor.org_id, terms, any_word=True)
    stmt = (visible_articles(actor).join(found, found.c.id == KnowledgeArticle.id)
            .where(KnowledgeArticle.status == ArticleStatus.PUBLISHED.value)
            .order_by(found.c.rank.desc(), KnowledgeArticle.id.desc()).limit(limit))
    return list(await session.scalars(stmt))


async def versions_of(session: AsyncSession, actor: Actor, article_ids: list[int]
                      ) -> dict[int, list[KnowledgeArticleVersion]]:
    rows = await session.scalars(select(KnowledgeArticleVersion).where(
        KnowledgeArticleVersion.org_id == actor.org_id, KnowledgeArticleVersion.article_id.in_(article_ids))
        .order_by(KnowledgeArticleVersion.article_id, KnowledgeArticleVersion.version))
    out: dict[int, list[KnowledgeArticleVersion]] = {pk: [] for pk in article_ids}
    for r in rows:
        out[r.article_id].append(r)
    return out


async def my_votes(session: AsyncSession, actor: Actor, article_ids: list[int]) -> dict[int, bool]:
    rows = await session.execute(select(KnowledgeVote.article_id, KnowledgeVote.helpful).where(
        KnowledgeVote.org_id == actor.org_id, KnowledgeVote.user_id == actor.user_id,
        KnowledgeVote.article_id.in_(article_ids)))
    return {a: h for a, h in rows.all()}


# --- writes ------------------------------------------------------------------------------------


def _validate(v: Validator, data: ArticleInput, *, creating: bool) -> dict[str, Any]:
    named = data.set_fields if not creating else {"title", "body", "category", "tags", "language",
                                                   "source_ticket_id"}
    out: dict[str, Any] = {}
    if "title" in named:
        out["title"] = v.text("title", data.title, max_len=300, required=True)
    if "body" in named:
        out["body"] = v.text("body", data.body, max_len=100_000, required=True)
    if "category" in named:
        out["category"] = v.text("category", data.category, max_len=100) or None
    if "tags" in named:
        out["tags"] = _clean_tags(v, data.tags)
    if "language" in named:
        language = (data.language or ("zh" if creating else "")).strip().lower()
        if language not in LANGUAGES:
            v.add("language", KnowledgeErrorCode.INVALID_LANGUAGE, "language is zh or en")
        out["language"] = language
    if "source_ticket_id" in named:
        out["source_ticket_id"] = data.source_ticket_id
    return out


async def _reindex(session: AsyncSession, a: KnowledgeArticle) -> None:
    await search.index_article(session, article_id=a.id, org_id=a.org_id, title=a.title, tags=list(a.tags),
                               category=a.category, body=a.body)


def _keep_version(session: AsyncSession, actor: Actor, a: KnowledgeArticle, changed: list[str]) -> None:
    session.add(KnowledgeArticleVersion(org_id=a.org_id, article_id=a.id, version=a.version, title=a.title,
                                        body=a.body, changed=changed, edited_by_id=actor.user_id,
                                        edited_at=a.updated_at))


async def create_article(session: AsyncSession, actor: Actor, data: ArticleInput) -> KnowledgeArticle:
    v = Validator()
    values = _validate(v, data, creating=True)
    v.raise_if_any()
    now = clock.now()
    article = KnowledgeArticle(org_id=actor.org_id, status=ArticleStatus.DRAFT.value, author_id=actor.user_id,
                               helpful_count=0, not_helpful_count=0, created_at=now, updated_at=now, **values)
    session.add(article)
    await session.flush()
    _keep_version(session, actor, article, sorted(camel(k) for k in values if values[k] not in (None, [])))
    await _reindex(session, article)
    record_event(session, actor, org_id=actor.org_id, topic="knowledge_article.created",
                 record_type="KnowledgeArticle", record_id=article.id, operation="create",
                 payload=article_payload(article))
    return article


async def _for_write(session: AsyncSession, actor: Actor, article_id: int, version: int | None) -> KnowledgeArticle:
    return await load_for_write(session, visible_articles(actor).where(KnowledgeArticle.id == article_id),
                                type_name="KnowledgeArticle", record_id=article_id, version=version)


async def update_article(session: AsyncSession, actor: Actor, article_id: int, version: int,
                         data: ArticleInput) -> KnowledgeArticle:
    article = await _for_write(session, actor, article_id, version)
    if article.status == ArticleStatus.ARCHIVED:
        raise ValidationFailed.one("id", KnowledgeErrorCode.ARTICLE_ARCHIVED, "An archived article is not edited.")
    v = Validator()
    values = _validate(v, data, creating=False)
    v.raise_if_any()
    changed = {k: val for k, val in values.items() if getattr(article, k) != val}
    if not changed:
        return article
    before = {k: getattr(article, k) for k in changed}
    for key, val in changed.items():
        setattr(article, key, val)
    article.updated_at = clock.now()
    await flush_or_conflict(session, "KnowledgeArticle")
    _keep_version(session, actor, article, sorted(camel(k) for k in changed))
    if changed.keys() & {"title", "body", "tags", "category"}:
        await _reindex(session, article)
    record_event(session, actor, org_id=actor.org_id, topic="knowledge_article.updated",
                 record_type="KnowledgeArticle", record_id=article.id, operation="update",
                 payload={"changes": {camel(k): [before[k], val] for k, val in changed.items() if k != "body"},
                          "changed": sorted(camel(k) for k in changed), "version": article.version})
    return article


async def move_article(session: AsyncSession, actor: Actor, article_id: int, to: ArticleStatus,
                       version: int | None = None) -> KnowledgeArticle:
    """Submit (to IN_REVIEW), publish or archive: INVALID_STATUS_MOVE, and nothing changed, for another move."""
    article = await _for_write(session, actor, article_id, version)
    before = article.status
    check_move(before, to)
    article.status = to.value
    now = clock.now()
    article.updated_at = now
    if to is ArticleStatus.PUBLISHED:
        article.published_at = now
    await flush_or_conflict(session, "KnowledgeArticle")
    record_event(session, actor, org_id=actor.org_id,
                 topic=("knowledge_article.submitted" if to is ArticleStatus.IN_REVIEW else
                        "knowledge_article.published" if to is ArticleStatus.PUBLISHED else
                        "knowledge_article.archived"),
                 record_type="KnowledgeArticle", record_id=article.id, operation="update",
                 payload={**article_payload(article), "from": before})
    return article


async def rate_article(session: AsyncSession, actor: Actor, article_id: int, helpful: bool) -> KnowledgeArticle:
    """The actor's vote on a published article they may read: once per user (voting again replaces it)."""
    article = await get_article(session, actor, article_id)
    if article.status != ArticleStatus.PUBLISHED:
        raise ValidationFailed.one("articleId", KnowledgeErrorCode.NOT_PUBLISHED, "Only published articles are rated.")
    vote = await session.scalar(select(KnowledgeVote).where(KnowledgeVote.article_id == article_id,
                                                            KnowledgeVote.user_id == actor.user_id))
    delta = {True: 0, False: 0}
    if vote is None:
        session.add(KnowledgeVote(org_id=actor.org_id, article_id=article_id, user_id=actor.user_id,
                                  helpful=helpful, voted_at=clock.now()))
        delta[helpful] += 1
    elif vote.helpful != helpful:
        delta[vote.helpful] -= 1
        delta[helpful] += 1
        vote.helpful, vote.voted_at = helpful, clock.now()
    if delta[True] or delta[False]:
        # counts move without the article's version: a vote is no edit
        await session.execute(update(KnowledgeArticle).where(KnowledgeArticle.id == article_id).values(
            helpful_count=KnowledgeArticle.helpful_count + delta[True],
            not_helpful_count=KnowledgeArticle.not_helpful_count + delta[False]).execution_options(
            synchronize_session=False))
        await session.flush()
        await session.refresh(article)
        record_event(session, actor, org_id=actor.org_id, topic="knowledge_article.rated",
                     record_type="KnowledgeArticle", record_id=article.id, operation="update",
                     payload={"id": article.id, "version": article.version, "helpfulCount": article.helpful_count,
                              "notHelpfulCount": article.not_helpful_count})
    return article
