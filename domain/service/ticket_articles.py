"""Tickets and the knowledge base: a resolution drafts an article, and the articles that may answer a ticket."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..knowledge import article as knowledge
from ..shared.actor import Actor
from .ticket import Ticket, get_ticket, resolve_ticket


def article_draft(ticket: Ticket, resolution: str, source_ticket_id: int) -> knowledge.ArticleInput:
    """The article a resolution drafts: the ticket's subject as its title, the question (the description, else
    the subject) and the resolution as Markdown, in the language the text is written in."""
    question = (ticket.description or "").strip() or ticket.subject
    language = knowledge.guess_language(" ".join((ticket.subject, question, resolution)))
    heads = ("问题", "解决方法") if language == "zh" else ("Question", "Resolution")
    body = f"## {heads[0]}\n\n{question}\n\n## {heads[1]}\n\n{resolution}\n"
    return knowledge.ArticleInput(title=ticket.subject, body=body, language=language,
                                  source_ticket_id=source_ticket_id)


async def resolve_and_draft_article(session: AsyncSession, actor: Actor, ticket_id: int, resolution: str | None,
                                    version: int | None = None) -> tuple[Ticket, knowledge.KnowledgeArticle]:
    """Resolve the ticket and draft a knowledge article (DRAFT, authored by the actor) from its question and
    resolution, in one unit of work: the caller's transaction keeps both or neither. Whether the actor may
    create articles is the caller's check (the policy's), made before."""
    ticket = await resolve_ticket(session, actor, ticket_id, resolution, version)
    article = await knowledge.create_article(session, actor, article_draft(ticket, ticket.resolution or "",
                                                                           ticket.id))
    return ticket, article


async def suggested_articles(session: AsyncSession, actor: Actor, ticket_id: int, limit: int = 5
                             ) -> list[knowledge.KnowledgeArticle]:
    """Published articles the actor may read, best match for the ticket's subject and description first
    (NotFound for a ticket the actor may not see)."""
    ticket = await get_ticket(session, actor, ticket_id)
    return await knowledge.suggest_articles(session, actor, f"{ticket.subject}\n{ticket.description or ''}",
                                            limit)
