"""Ticket queues: one per department (service, sales, marketing, delivery), each worked by a team.

Every new org gets one queue per department (``OrgCreated``); an admin links a queue to the team that
works it. The members of a queue are the active users of its team: they see its tickets and hear, live,
of every ticket handed to it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.bus import handles
from ..shared.clock import clock
from ..shared.errors import NotFound
from ..tenancy.events import OrgCreated
from ..tenancy.user import User


class Department(StrEnum):
    SERVICE = "service"
    SALES = "sales"
    MARKETING = "marketing"
    DELIVERY = "delivery"


DEFAULT_QUEUES = (
    (Department.SERVICE, "客服 Service desk"),
    (Department.SALES, "销售 Sales"),
    (Department.MARKETING, "市场 Marketing"),
    (Department.DELIVERY, "交付 Delivery"),
)
"""The queues every org starts with (migration 0025 holds a copy for orgs that predate it)."""


class TicketQueue(Base):
    __tablename__ = "ticket_queue"
    __table_args__ = (Index("ix_ticket_queue_org", "org_id", "department", "id"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("team.id", ondelete="SET NULL"), nullable=True)
    """The team that works it: its members are the queue's."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]


async def seed_queues(session: AsyncSession, org_id: int) -> list[TicketQueue]:
    now = clock.now()
    queues = [TicketQueue(org_id=org_id, name=name, department=department.value, created_at=now)
              for department, name in DEFAULT_QUEUES]
    session.add_all(queues)
    await session.flush()
    return queues


@handles(OrgCreated)
async def _seed_new_org(session: AsyncSession, actor: Actor | None, event: OrgCreated) -> None:
    await seed_queues(session, event.org_id)


async def get_queue(session: AsyncSession, actor: Actor, queue_id: int) -> TicketQueue:
    found = await session.scalar(select(TicketQueue).where(TicketQueue.org_id == actor.org_id,
                                                           TicketQueue.id == queue_id))
    if found is None:
        raise NotFound("TicketQueue", queue_id)
    return found


async def queue_of_department(session: AsyncSession, org_id: int, department: Department) -> TicketQueue | None:
    return await session.scalar(select(TicketQueue).where(
        TicketQueue.org_id == org_id, TicketQueue.department == department.value).order_by(TicketQueue.id))


async def queues_of(session: AsyncSession, actor: Actor) -> list[TicketQueue]:
    """The org's queues, department by department."""
    return list(await session.scalars(select(TicketQueue).where(TicketQueue.org_id == actor.org_id)
                                      .order_by(TicketQueue.id)))


async def queues_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, TicketQueue]:
    rows = await session.scalars(select(TicketQueue).where(TicketQueue.org_id == actor.org_id,
                                                           TicketQueue.id.in_(ids)))
    return {q.id: q for q in rows}


async def set_queue_team(session: AsyncSession, actor: Actor, queue_id: int, team_id: int | None) -> TicketQueue:
    queue = await get_queue(session, actor, queue_id)
    queue.team_id = team_id
    await session.flush()
    return queue


async def members_of(session: AsyncSession, queue: TicketQueue) -> list[int]:
    """The active users of the queue's team (none without a team)."""
    if queue.team_id is None:
        return []
    return list(await session.scalars(select(User.id).where(
        User.org_id == queue.org_id, User.team_id == queue.team_id, User.active.is_(True)).order_by(User.id)))
