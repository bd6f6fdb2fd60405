"""Knowledge base articles, their versions and "this helped" counts."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from tandem.domain.knowledge.article import KnowledgeArticle as ArticleModel
from tandem.domain.knowledge.article import KnowledgeArticleVersion as VersionModel
from tandem.domain.knowledge.article import versions_of

from .errors import UserError
from .node import Node, to_global_id
from .user import User, load_user


@strawberry.enum(description="DRAFT → IN_REVIEW (submit) → PUBLISHED (publish); any but ARCHIVED → ARCHIVED.")
class KnowledgeArticleStatus(Enum):
    DRAFT = "DRAFT"
    IN_REVIEW = "IN_REVIEW"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


@strawberry.type(description="The article's title and body as one edit left them.")
class KnowledgeArticleVersion:
    version: int
    title: str
    body: str
    changed_fields: list[str] = strawberry.field(description="The fields this edit changed (all, for the first).")
    edited_at: datetime
    _edited_by_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: VersionModel) -> KnowledgeArticleVersion:
        return cls(version=m.version, title=m.title, body=m.body, changed_fields=list(m.changed),
                   edited_at=m.edited_at, _edited_by_id=m.edited_by_id)

    @strawberry.field(description="Who made this edit.")
    async def edited_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._edited_by_id)


@strawberry.type(description="A knowledge base article (body in Markdown). Every staff role reads published ones; "
                             "service and the admin see drafts too.")
class KnowledgeArticle(Node):
    title: str | None
    body: str | None = strawberry.field(description="Markdown.")
    category: str | None
    tags: list[str] | None
    language: str | None = strawberry.field(description="`zh` or `en`.")
    status: KnowledgeArticleStatus | None
    source_ticket_id: strawberry.ID | None = strawberry.field(
        description="The ticket the article was drafted from, if any.")
    helpful_count: int | None = strawberry.field(description="Readers who said \"this helped\" (one vote each).")
    not_helpful_count: int | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    published_at: datetime | None
    _pk: strawberry.Private[int]
    _author_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: ArticleModel) -> KnowledgeArticle:
        return cls(id=to_global_id("KnowledgeArticle", m.id), title=m.title, body=m.body, category=m.category,
                   tags=list(m.tags), language=m.language, status=KnowledgeArticleStatus(m.status),
                   source_ticket_id=to_global_id("Ticket", m.source_ticket_id) if m.source_ticket_id else None,
                   helpful_count=m.helpful_count, not_helpful_count=m.not_helpful_count, version=m.version,
                   created_at=m.created_at, updated_at=m.updated_at, published_at=m.published_at, _pk=m.id,
                   _author_id=m.author_id)

    @strawberry.field(description="Who wrote the first version.")
    async def author(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._author_id)

    @strawberry.field(description="Every version, oldest first: who changed what, and when.")
    async def versions(self, info: strawberry.Info) -> list[KnowledgeArticleVersion] | None:
        ctx = info.context
        async with ctx.read() as session:
            found = await versions_of(session, ctx.actor, [self._pk])
        return [KnowledgeArticleVersion.from_model(v) for v in found[self._pk]]


@strawberry.input(description="Narrow the list; every given condition must hold.")
class KnowledgeArticleFilter:
    status: KnowledgeArticleStatus | None = None
    language: str | None = None
    category: str | None = None
    tag: str | None = None


@strawberry.input(description="A new article (a DRAFT). `language` defaults to zh.")
class CreateKnowledgeArticleInput:
    title: str
    body: str
    category: str | None = None
    tags: list[str] | None = None
    language: str | None = None
    source_ticket_id: strawberry.ID | None = None
    idempotency_key: str | None = None


@strawberry.input(description="Change an article; an absent field stays. Every edit is kept as a version.")
class UpdateKnowledgeArticleInput:
    id: strawberry.ID
    version: int
    title: str | None = strawberry.UNSET
    body: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    language: str | None = strawberry.UNSET


@strawberry.input(description="Move an article (submit, publish, archive); `version`, when given, must be current.")
class MoveKnowledgeArticleInput:
    id: strawberry.ID
    version: int | None = None


@strawberry.input(description="\"This helped\" (or not): one vote per user and article; voting again changes it.")
class RateKnowledgeArticleInput:
    article_id: strawberry.ID
    helpful: bool


@strawberry.type
class KnowledgeArticlePayload:
    knowledge_article: KnowledgeArticle | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
