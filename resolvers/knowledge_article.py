"""Knowledge base: articles (list, one, search) and their mutations."""

from __future__ import annotations

import strawberry

from tandem.domain.knowledge import article as service
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.knowledge_article import (
    CreateKnowledgeArticleInput,
    KnowledgeArticle,
    KnowledgeArticleFilter,
    KnowledgeArticlePayload,
    MoveKnowledgeArticleInput,
    RateKnowledgeArticleInput,
    UpdateKnowledgeArticleInput,
)
from tandem.schema.node import decode_id
from tandem.schema.pagination import Connection, wants_total

from .mutation import named, opt_id, run, run_create, value
from .writes import acts, row_rule, writes

TYPE = "KnowledgeArticle"


def _payload(m: service.KnowledgeArticle | None = None, user_errors: list | None = None) -> KnowledgeArticlePayload:
    return KnowledgeArticlePayload(knowledge_article=KnowledgeArticle.from_model(m) if m else None,
                                   user_errors=user_errors or [])


@strawberry.type
class KnowledgeArticleQuery:
    @strawberry.field(description="Articles the viewer may read, most recently changed first.")
    async def knowledge_articles(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                                 last: int | None = None, before: str | None = None,
                                 filter: KnowledgeArticleFilter | None = None) -> Connection[KnowledgeArticle]:
        ctx = info.context
        f = filter or KnowledgeArticleFilter()
        read = [name for name, given in (("status", f.status), ("language", f.language), ("category", f.category),
                                         ("tags", f.tag)) if given is not None]
        if read:
            ctx.authz.require_read(TYPE, read)
        wanted = service.ArticleFilter(status=f.status.value if f.status else None, language=f.language,
                                       category=f.category, tag=f.tag)
        req = PageRequest(first=first, after=after, last=last, before=before)
        async with ctx.read() as session:
            page = await service.list_articles(session, ctx.actor, filter=wanted, req=req,
                                               with_total=wants_total(info))
        return Connection.from_page(page, KnowledgeArticle.from_model)

    @strawberry.field
    async def knowledge_article(self, info: strawberry.Info, id: strawberry.ID) -> KnowledgeArticle | None:
        ctx = info.context
        pk = decode_id(TYPE, id)
        async with ctx.read() as session:
            return KnowledgeArticle.from_model(await service.get_article(session, ctx.actor, pk))

    @strawberry.field(description="Articles the viewer may read holding every word of `query`, best match first. "
                                  "Chinese is segmented into words (jieba), full-width and half-width forms and "
                                  "case are one: `密码 vpn 重置` finds `如何重置ＶＰＮ密码`.")
    async def search_knowledge(self, info: strawberry.Info, query: str, first: int | None = None,
                               after: str | None = None) -> Connection[KnowledgeArticle]:
        ctx = info.context
        ctx.authz.require_read(TYPE, ["title", "body", "tags", "category"])
        req = PageRequest(first=first if first is not None else (None if after else 10), after=after)
        async with ctx.read() as session:
            page = await service.search_articles(session, ctx.actor, query, req, with_total=wants_total(info))
        return Connection.from_page(page, KnowledgeArticle.from_model)


@strawberry.type
class KnowledgeArticleMutation:
    @writes(TYPE, "create", fields={"source_ticket_id": f"{TYPE}.sourceTicketId"})
    @strawberry.mutation(description="Draft an article (status DRAFT).")
    async def create_knowledge_article(self, info: strawberry.Info,
                                       input: CreateKnowledgeArticleInput) -> KnowledgeArticlePayload:
        actor = info.context.actor
        data = service.ArticleInput(title=input.title, body=input.body, category=input.category, tags=input.tags,
                                    language=input.language,
                                    source_ticket_id=opt_id("Ticket", input.source_ticket_id))
        return await run_create(info, "createKnowledgeArticle", input,
                                lambda s: service.create_article(s, actor, data),
                                lambda s, pk: service.get_article(s, actor, pk), _payload)

    @writes(TYPE, "update")
    @strawberry.mutation(description="Edit an article (not an archived one); each edit is a new version.")
    async def update_knowledge_article(self, info: strawberry.Info,
                                       input: UpdateKnowledgeArticleInput) -> KnowledgeArticlePayload:
        actor = info.context.actor
        pk = decode_id(TYPE, input.id)
        data = service.ArticleInput(title=value(input, "title"), body=value(input, "body"),
                                    category=value(input, "category"), tags=value(input, "tags"),
                                    language=value(input, "language"), set_fields=named(input))
        return await run(info, lambda s: service.update_article(s, actor, pk, input.version, data), _payload)

    @acts(TYPE, "update")
    @strawberry.mutation(description="Submit a draft for review (DRAFT → IN_REVIEW).")
    async def submit_knowledge_article(self, info: strawberry.Info,
                                       input: MoveKnowledgeArticleInput) -> KnowledgeArticlePayload:
        return await _move(info, input, service.ArticleStatus.IN_REVIEW)

    @acts(TYPE, "publish")
    @strawberry.mutation(description="Publish an article in review (IN_REVIEW → PUBLISHED): every reader sees it.")
    async def publish_knowledge_article(self, info: strawberry.Info,
                                        input: MoveKnowledgeArticleInput) -> KnowledgeArticlePayload:
        return await _move(info, input, service.ArticleStatus.PUBLISHED)

    @acts(TYPE, "publish")
    @strawberry.mutation(description="Archive an article: it leaves search and the readers' lists.")
    async def archive_knowledge_article(self, info: strawberry.Info,
                                        input: MoveKnowledgeArticleInput) -> KnowledgeArticlePayload:
        return await _move(info, input, service.ArticleStatus.ARCHIVED)

    @row_rule("any reader of a published article, once per user")
    @strawberry.mutation(description="\"This helped\" (helpful: true) or not, on a published article.")
    async def rate_knowledge_article(self, info: strawberry.Info,
                                     input: RateKnowledgeArticleInput) -> KnowledgeArticlePayload:
        actor = info.context.actor
        pk = decode_id(TYPE, input.article_id)
        return await run(info, lambda s: service.rate_article(s, actor, pk, input.helpful), _payload)


async def _move(info: strawberry.Info, input: MoveKnowledgeArticleInput,
                to: service.ArticleStatus) -> KnowledgeArticlePayload:
    actor = info.context.actor
    pk = decode_id(TYPE, input.id)
    return await run(info, lambda s: service.move_article(s, actor, pk, to, input.version), _payload)
