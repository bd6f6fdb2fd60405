"""Interactions: calls, e-mails, meetings, visits, and the signals of interest a customer shows (web visits,
e-mail opens, content downloads) logged against a customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..pipeline.opportunity import get_opportunity
from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.bus import dispatch
from ..shared.clock import clock
from ..shared.errors import NotFound, SharedErrorCode, Validator
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate_many
from .contact import get_contact
from .customer import get_customer, visible_customer_ids
from .events import InteractionLogged

MAX_SUMMARY = 4000


class InteractionKind(StrEnum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    VISIT = "visit"
    WEB_VISIT = "web_visit"
    EMAIL_OPEN = "email_open"
    CONTENT_DOWNLOAD = "content_download"


class Interaction(Base):
    __tablename__ = "interaction"
    __table_args__ = (
        Index("ix_interaction_customer_occurred", "customer_id", "occurred_at", "id"),
        Index("ix_interaction_opportunity_occurred", "opportunity_id", "occurred_at", "id"),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(IdType, ForeignKey("customer.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("contact.id", ondelete="SET NULL"), nullable=True
    )
    opportunity_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("opportunity.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    created_at: Mapped[datetime]


@dataclass
class InteractionInput:
    customer_id: int
    kind: InteractionKind
    summary: str | None
    occurred_at: datetime | None = None
    contact_id: int | None = None
    opportunity_id: int | None = None


INTERACTION_SORT = SortKey("OCCURRED_AT", Interaction.occurred_at, datetime)


async def log_interaction(session: AsyncSession, actor: Actor, data: InteractionInput) -> Interaction:
    customer = await get_customer(session, actor, data.customer_id)
    v = Validator()
    summary = v.text("summary", data.summary, max_len=MAX_SUMMARY, required=True)
    if data.contact_id is not None:
        contact = await get_contact(session, actor, data.contact_id)
        if contact.customer_id != customer.id:
            v.add("contactId", SharedErrorCode.MISMATCHED_RECORD, "the contact belongs to another customer")
    if data.opportunity_id is not None:
        opportunity = await get_opportunity(session, actor, data.opportunity_id)
        if opportunity.customer_id != customer.id:
            v.add("opportunityId", SharedErrorCode.MISMATCHED_RECORD,
                  "the opportunity belongs to another customer")
    now = clock.now()
    occurred_at = data.occurred_at or now
    if occurred_at.tzinfo is None:
        v.add("occurredAt", SharedErrorCode.INVALID, "occurredAt needs a time zone offset")
    v.raise_if_any()
    interaction = Interaction(
        org_id=actor.org_id, customer_id=customer.id, contact_id=data.contact_id,
        opportunity_id=data.opportunity_id, kind=data.kind.value, occurred_at=occurred_at,
        summary=summary, created_by_id=actor.user_id, created_at=now,
    )
    session.add(interaction)
    await session.flush()
    payload = {"id": interaction.id, "customerId": customer.id, "contactId": data.contact_id,
               "opportunityId": data.opportunity_id, "kind": interaction.kind,
               "occurredAt": occurred_at.isoformat(), "summary": summary}
    timeline = ("Opportunity", data.opportunity_id) if data.opportunity_id else ("Customer", customer.id)
    record_event(session, actor, org_id=actor.org_id, topic="interaction.logged", record_type="Interaction",
                 record_id=interaction.id, operation="create", payload=payload, timeline=timeline)
    await dispatch(session, actor, InteractionLogged(actor.org_id, customer.id, interaction.id, interaction.kind))
    return interaction


def visible_interactions(actor: Actor) -> Any:
    """Interactions with the customers the actor may see."""
    stmt = select(Interaction).where(Interaction.org_id == actor.org_id)
    customers = visible_customer_ids(actor)
    return stmt if customers is None else stmt.where(Interaction.customer_id.in_(customers))


async def get_interaction(session: AsyncSession, actor: Actor, interaction_id: int) -> Interaction:
    found = await session.scalar(visible_interactions(actor).where(Interaction.id == interaction_id))
    if found is None:
        raise NotFound("Interaction", interaction_id)
    return found


async def interactions_of(
    session: AsyncSession, actor: Actor, parent: str, parent_ids: list[int], req: PageRequest,
    *, with_total: bool = False,
) -> dict[int, Page[Interaction]]:
    """Interaction history, oldest first (``last: 5`` = the five most recent), of many customers
    (``parent="customer"``) or opportunities (``parent="opportunity"``) in one statement."""
    column = Interaction.customer_id if parent == "customer" else Interaction.opportunity_id
    return await paginate_many(session, visible_interactions(actor), entity=Interaction, parent_col=column,
                               parent_ids=parent_ids, sort=INTERACTION_SORT, req=req, with_total=with_total)
