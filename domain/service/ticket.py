"""Tickets: a customer's problem, worked in a department's queue, with public replies and internal notes.

A ticket names its customer (and optionally a contact of it, and a contract, project or opportunity of the
same customer), how it came in (channel), a category, a priority and its status. Status moves follow
``MOVES`` (``check_move``, a pure rule): a ticket is resolved only with a resolution (``resolve_ticket``) and
leaves RESOLVED or CLOSED only by being reopened. A hand-off moves it to another department's queue with the
reason on its timeline and the receiving queue's members told live (the event's audience); the next person
there picks it up (the assignee is cleared). Every change is an outbox event on the ticket's timeline; a
reply carries its message (``Ticket.replies``), an internal note its note (``Ticket.internalNotes``), each
delivered only to whoever may read that field (the registry declares both).

Who sees which tickets (the row scope, ``visible_tickets``): ORG every ticket of the org; OWN (TEAM) the
tickets of customers and projects the actor may see, those assigned to them (or anyone below them), and
those in a queue of their team (hand-offs to their department).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..contracts.contract import get_contract
from ..crm.contact import get_contact
from ..crm.customer import get_customer, visible_customer_ids
from ..delivery.project import Project, get_project, visible_projects
from ..pipeline.opportunity import get_opportunity
from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate, paginate_many
from ..shared.payload import camel
from ..shared.scope import Scope
from ..tenancy.errors import TenancyErrorCode
from ..tenancy.scope import chain_below
from ..tenancy.user import get_user
from .errors import ServiceErrorCode
from .queue import Department, TicketQueue, get_queue, members_of, queue_of_department

MAX_SUBJECT = 200
MAX_TEXT = 10000


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    WEB = "web"
    CHAT = "chat"
    VISIT = "visit"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING_CUSTOMER = "pending_customer"
    PENDING_INTERNAL = "pending_internal"
    RESOLVED = "resolved"
    CLOSED = "closed"


_WORKING = {TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING_CUSTOMER, TicketStatus.PENDING_INTERNAL}
MOVES: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.NEW: frozenset(_WORKING - {TicketStatus.NEW} | {TicketStatus.RESOLVED, TicketStatus.CLOSED}),
    TicketStatus.OPEN: frozenset(_WORKING - {TicketStatus.NEW, TicketStatus.OPEN}
                                 | {TicketStatus.RESOLVED, TicketStatus.CLOSED}),
    TicketStatus.PENDING_CUSTOMER: frozenset({TicketStatus.OPEN, TicketStatus.PENDING_INTERNAL,
                                              TicketStatus.RESOLVED, TicketStatus.CLOSED}),
    TicketStatus.PENDING_INTERNAL: frozenset({TicketStatus.OPEN, TicketStatus.PENDING_CUSTOMER,
                                              TicketStatus.RESOLVED, TicketStatus.CLOSED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.CLOSED, TicketStatus.OPEN}),
    TicketStatus.CLOSED: frozenset({TicketStatus.OPEN}),
}
"""The status a ticket may move to from each; RESOLVED/CLOSED -> OPEN is a reopen (``reopen_ticket`` only),
-> RESOLVED needs a resolution (``resolve_ticket`` only)."""
CLOSED_STATES = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})


def check_move(current: TicketStatus, target: TicketStatus, field_name: str = "status") -> None:
    """INVALID_TRANSITION unless a ticket may move from ``current`` to ``target``."""
    if target not in MOVES[current]:
        raise ValidationFailed.one(field_name, ServiceErrorCode.INVALID_TRANSITION,
                                   f"a {current.value} ticket cannot move to {target.value}")


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_org_status", "org_id", "status", "id"),
        Index("ix_ticket_queue", "org_id", "queue_id", "status"),
        Index("ix_ticket_customer", "org_id", "customer_id", "id"),
        Index("ix_ticket_assignee", "org_id", "assignee_id"),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(IdType, ForeignKey("customer.id"))
    contact_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("contact.id"), nullable=True)
    contract_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("contract.id"), nullable=True)
    project_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("project.id"), nullable=True, index=True)
    opportunity_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("opportunity.id"), nullable=True)
    channel: Mapped[str] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    priority: Mapped[str] = mapped_column(String(20), default=Priority.NORMAL.value)
    status: Mapped[str] = mapped_column(String(20), default=TicketStatus.NEW.value)
    subject: Mapped[str] = mapped_column(String(MAX_SUBJECT))
    description: Mapped[str] = mapped_column(Text, default="")
    queue_id: Mapped[int] = mapped_column(IdType, ForeignKey("ticket_queue.id"))
    assignee_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class TicketMessage(Base):
    """A public reply (to the customer) or an internal note (staff only) on a ticket."""

    __tablename__ = "ticket_message"
    __table_args__ = (Index("ix_ticket_message_ticket", "org_id", "ticket_id", "internal", "id"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("ticket.id", ondelete="CASCADE"))
    internal: Mapped[bool]
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    created_at: Mapped[datetime]


# --- who sees which tickets ----------------------------------------------------------------------


def visible_tickets(actor: Actor) -> Any:
    """The tickets the actor may see (a select): see the module's docstring."""
    stmt = select(Ticket).where(Ticket.org_id == actor.org_id)
    scope = actor.scope("Ticket")
    if scope is Scope.ORG:
        return stmt
    if scope is Scope.NONE:
        return stmt.where(false())
    customers = visible_customer_ids(actor)
    conditions = [
        Ticket.customer_id.in_(customers) if customers is not None else Ticket.customer_id.is_not(None),
        Ticket.project_id.in_(visible_projects(actor).with_only_columns(Project.id)),
        Ticket.assignee_id == actor.user_id if scope is Scope.OWN else Ticket.assignee_id.in_(chain_below(actor)),
    ]
    if actor.team_id is not None:
        conditions.append(Ticket.queue_id.in_(select(TicketQueue.id).where(
            TicketQueue.org_id == actor.org_id, TicketQueue.team_id == actor.team_id)))
    return stmt.where(or_(*conditions))


async def get_ticket(session: AsyncSession, actor: Actor, ticket_id: int) -> Ticket:
    found = await session.scalar(visible_tickets(actor).where(Ticket.id == ticket_id))
    if found is None:
        raise NotFound("Ticket", ticket_id)
    return found


async def tickets_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Ticket]:
    return {t.id: t for t in await session.scalars(visible_tickets(actor).where(Ticket.id.in_(ids)))}


async def _for_write(session: AsyncSession, actor: Actor, ticket_id: int, version: int | None) -> Ticket:
    return await load_for_write(session, visible_tickets(actor).where(Ticket.id == ticket_id), type_name="Ticket",
                                record_id=ticket_id, version=version)


@dataclass(frozen=True)
class TicketFilter:
    status: tuple[str, ...] = ()
    queue_id: int | None = None
    assignee_id: int | None = None
    customer_id: int | None = None
    priority: str | None = None


TICKET_ORDER = SortKey("CREATED_AT", Ticket.created_at, datetime)


async def list_tickets(session: AsyncSession, actor: Actor, flt: TicketFilter, req: PageRequest, *,
                       with_total: bool = False) -> Page[Ticket]:
    stmt = visible_tickets(actor)
    if flt.status:
        stmt = stmt.where(Ticket.status.in_(flt.status))
    if flt.queue_id is not None:
        stmt = stmt.where(Ticket.queue_id == flt.queue_id)
    if flt.assignee_id is not None:
        stmt = stmt.where(Ticket.assignee_id == flt.assignee_id)
    if flt.customer_id is not None:
        stmt = stmt.where(Ticket.customer_id == flt.customer_id)
    if flt.priority is not None:
        stmt = stmt.where(Ticket.priority == flt.priority)
    return await paginate(session, stmt, entity=Ticket, sort=TICKET_ORDER, req=req, with_total=with_total)


async def tickets_of_customers(session: AsyncSession, actor: Actor, customer_ids: list[int], req: PageRequest, *,
                               with_total: bool = False) -> dict[int, Page[Ticket]]:
    """A page of each customer's tickets the actor may see (its service history)."""
    return await paginate_many(session, visible_tickets(actor), entity=Ticket, parent_col=Ticket.customer_id,
                               parent_ids=customer_ids, sort=TICKET_ORDER, req=req, with_total=with_total)


async def messages_of(session: AsyncSession, actor: Actor, ticket_ids: list[int], *,
                      internal: bool) -> dict[int, list[TicketMessage]]:
    """The public replies (or the internal notes) of visible tickets, oldest first."""
    visible = await tickets_by_ids(session, actor, ticket_ids)
    out: dict[int, list[TicketMessage]] = {pk: [] for pk in ticket_ids}
    if visible:
        for m in await session.scalars(select(TicketMessage).where(
                TicketMessage.org_id == actor.org_id, TicketMessage.ticket_id.in_(list(visible)),
                TicketMessage.internal.is_(internal)).order_by(TicketMessage.id)):
            out[m.ticket_id].append(m)
    return out


# --- events --------------------------------------------------------------------------------------


def ticket_payload(t: Ticket) -> dict[str, Any]:
    return {"id": t.id, "customerId": t.customer_id, "contactId": t.contact_id, "contractId": t.contract_id,
            "projectId": t.project_id, "opportunityId": t.opportunity_id, "channel": t.channel,
            "category": t.category, "priority": t.priority, "status": t.status, "subject": t.subject,
            "description": t.description, "queueId": t.queue_id, "assigneeId": t.assignee_id,
            "resolution": t.resolution, "version": t.version}


def message_payload(m: TicketMessage) -> dict[str, Any]:
    return {"id": m.id, "body": m.body, "internal": m.internal, "authorId": m.author_id,
            "createdAt": m.created_at.isoformat()}


def _event(session: AsyncSession, actor: Actor, t: Ticket, topic: str, operation: str = "update", *,
           audience: list[int] | None = None, **extra: Any) -> None:
    record_event(session, actor, org_id=t.org_id, topic=topic, record_type="Ticket", record_id=t.id,
                 operation=operation, payload={**ticket_payload(t), **extra},
                 audience=[u for u in dict.fromkeys(audience or []) if u != actor.user_id])


# --- services ------------------------------------------------------------------------------------


@dataclass
class TicketInput:
    customer_id: int | None = None
    contact_id: int | None = None
    contract_id: int | None = None
    project_id: int | None = None
    opportunity_id: int | None = None
    channel: Channel | None = None
    category: str | None = None
    priority: Priority | None = None
    status: TicketStatus | None = None
    subject: str | None = None
    description: str | None = None
    queue_id: int | None = None
    assignee_id: int | None = None
    set_fields: set[str] = field(default_factory=set)
    """For updates: the fields the caller named."""


async def _check_links(session: AsyncSession, actor: Actor, v: Validator, customer_id: int,
                       data: TicketInput, named: set[str] | None = None) -> None:
    """Each linked record must be one the actor may see (NOT_FOUND) and of the ticket's customer."""
    for name, get in (("contact_id", get_contact), ("contract_id", get_contract), ("project_id", get_project),
                      ("opportunity_id", get_opportunity)):
        pk_ = getattr(data, name)
        if pk_ is None or (named is not None and name not in named):
            continue
        linked = await get(session, actor, pk_)
        if linked.customer_id != customer_id:
            v.add(name.replace("_id", "Id"), SharedErrorCode.MISMATCHED_RECORD,
                  f"the {name[:-3]} is not the ticket's customer's")


async def _check_assignee(session: AsyncSession, actor: Actor, v: Validator, assignee_id: int | None) -> None:
    if assignee_id is None:
        return
    user = await get_user(session, actor.org_id, assignee_id)  # NOT_FOUND: unknown or another org's
    if not user.active:
        v.add("assigneeId", TenancyErrorCode.USER_INACTIVE, "the assignee is deactivated")


async def create_ticket(session: AsyncSession, actor: Actor, data: TicketInput) -> Ticket:
    v = Validator()
    subject = v.text("subject", data.subject, max_len=MAX_SUBJECT, required=True)
    description = v.text("description", data.description, max_len=MAX_TEXT) or ""
    category = v.text("category", data.category, max_len=100) or None
    if data.customer_id is None:
        raise ValidationFailed.one("customerId", SharedErrorCode.REQUIRED, "customerId is required")
    customer = await get_customer(session, actor, data.customer_id)
    await _check_links(session, actor, v, customer.id, data)
    if data.queue_id is not None:
        queue = await get_queue(session, actor, data.queue_id)
    else:
        found = await queue_of_department(session, actor.org_id, Department.SERVICE)
        if found is None:
            raise NotFound("TicketQueue")
        queue = found
    await _check_assignee(session, actor, v, data.assignee_id)
    v.raise_if_any()
    now = clock.now()
    ticket = Ticket(org_id=actor.org_id, customer_id=customer.id, contact_id=data.contact_id,
                    contract_id=data.contract_id, project_id=data.project_id, opportunity_id=data.opportunity_id,
                    channel=(data.channel or Channel.EMAIL).value, category=category,
                    priority=(data.priority or Priority.NORMAL).value, status=TicketStatus.NEW.value,
                    subject=subject, description=description, queue_id=queue.id, assignee_id=data.assignee_id,
                    created_by_id=actor.user_id, created_at=now, updated_at=now)
    session.add(ticket)
    await session.flush()
    _event(session, actor, ticket, "ticket.created", "create",
           audience=[data.assignee_id] if data.assignee_id else await members_of(session, queue))
    return ticket


_UPDATABLE = ("contact_id", "contract_id", "project_id", "opportunity_id", "channel", "category", "priority",
              "status", "subject", "description")


async def update_ticket(session: AsyncSession, actor: Actor, ticket_id: int, version: int,
                        data: TicketInput) -> Ticket:
    """Change a ticket's details or move its status (not to RESOLVED, nor out of RESOLVED/CLOSED: resolve and
    reopen do that)."""
    ticket = await _for_write(session, actor, ticket_id, version)
    named = data.set_fields & set(_UPDATABLE)
    v = Validator()
    changes: dict[str, Any] = {}
    if "subject" in named:
        changes["subject"] = v.text("subject", data.subject, max_len=MAX_SUBJECT, required=True)
    if "description" in named:
        changes["description"] = v.text("description", data.description, max_len=MAX_TEXT) or ""
    if "category" in named:
        changes["category"] = v.text("category", data.category, max_len=100) or None
    for name in ("channel", "priority"):
        if name in named and getattr(data, name) is not None:
            changes[name] = getattr(data, name).value
    if "status" in named and data.status is not None:
        current, target = TicketStatus(ticket.status), data.status
        if target != current:
            if target is TicketStatus.RESOLVED or current in CLOSED_STATES and target is TicketStatus.OPEN:
                v.add("status", ServiceErrorCode.INVALID_TRANSITION,
                      f"use {'resolveTicket' if target is TicketStatus.RESOLVED else 'reopenTicket'}")
            elif target not in MOVES[current]:
                v.add("status", ServiceErrorCode.INVALID_TRANSITION,
                      f"a {current.value} ticket cannot move to {target.value}")
            else:
                changes["status"] = target.value
    await _check_links(session, actor, v, ticket.customer_id, data, named)
    for name in ("contact_id", "contract_id", "project_id", "opportunity_id"):
        if name in named:
            changes[name] = getattr(data, name)
    v.raise_if_any()
    changed = {k: val for k, val in changes.items() if getattr(ticket, k) != val}
    if not changed:
        return ticket
    before = {k: getattr(ticket, k) for k in changed}
    for key, val in changed.items():
        setattr(ticket, key, val)
    now = clock.now()
    ticket.updated_at = now
    if changed.get("status") == TicketStatus.CLOSED.value:
        ticket.closed_at = now
    await flush_or_conflict(session, "The ticket")
    _event(session, actor, ticket, "ticket.updated",
           changes={camel(k): [before[k], val] for k, val in changed.items()})
    return ticket


async def reply_to_ticket(session: AsyncSession, actor: Actor, ticket_id: int, body: str | None,
                          internal: bool) -> tuple[Ticket, TicketMessage]:
    """A public reply (a NEW ticket opens with the first one) or an internal note."""
    ticket = await _for_write(session, actor, ticket_id, None)
    v = Validator()
    text = v.text("body", body, max_len=MAX_TEXT, required=True)
    v.raise_if_any()
    now = clock.now()
    message = TicketMessage(org_id=ticket.org_id, ticket_id=ticket.id, internal=internal, body=text,
                            author_id=actor.user_id, created_at=now)
    session.add(message)
    if not internal:
        if ticket.first_response_at is None:
            ticket.first_response_at = now
        if ticket.status == TicketStatus.NEW.value:
            ticket.status = TicketStatus.OPEN.value
    ticket.updated_at = now
    await flush_or_conflict(session, "The ticket")
    audience = [ticket.assignee_id] if ticket.assignee_id else []
    if internal:
        _event(session, actor, ticket, "ticket.noted", audience=audience, note=message_payload(message))
    else:
        _event(session, actor, ticket, "ticket.replied", audience=audience, message=message_payload(message))
    return ticket, message


async def assign_ticket(session: AsyncSession, actor: Actor, ticket_id: int, assignee_id: int | None,
                        version: int | None = None) -> Ticket:
    """Give the ticket to a user of the org (None: back to the queue); the assignee is told."""
    ticket = await _for_write(session, actor, ticket_id, version)
    v = Validator()
    await _check_assignee(session, actor, v, assignee_id)
    v.raise_if_any()
    if ticket.assignee_id == assignee_id:
        return ticket
    previous = ticket.assignee_id
    ticket.assignee_id = assignee_id
    ticket.updated_at = clock.now()
    await flush_or_conflict(session, "The ticket")
    _event(session, actor, ticket, "ticket.assigned", audience=[assignee_id] if assignee_id else [],
           previousAssigneeId=previous)
    return ticket


async def hand_off_ticket(session: AsyncSession, actor: Actor, ticket_id: int, to_queue_id: int,
                          reason: str | None, note: str | None, version: int | None = None) -> Ticket:
    """Move an open ticket to another department's queue, with why (on its timeline) and, optionally, a note
    for the receiving team (an internal note). The ticket waits there for its next assignee; the queue's
    members are told."""
    ticket = await _for_write(session, actor, ticket_id, version)
    queue = await get_queue(session, actor, to_queue_id)  # NOT_FOUND: another org's
    v = Validator()
    why = v.text("reason", reason, max_len=1000, required=True)
    text = v.text("note", note, max_len=MAX_TEXT) or None
    if TicketStatus(ticket.status) in CLOSED_STATES:
        v.add("ticketId", ServiceErrorCode.INVALID_TRANSITION, f"a {ticket.status} ticket cannot be handed off")
    if queue.id == ticket.queue_id:
        v.add("toQueueId", ServiceErrorCode.SAME_QUEUE, "the ticket is in that queue already")
    v.raise_if_any()
    now = clock.now()
    from_queue = ticket.queue_id
    ticket.queue_id, ticket.assignee_id, ticket.updated_at = queue.id, None, now
    message = None
    if text:
        message = TicketMessage(org_id=ticket.org_id, ticket_id=ticket.id, internal=True, body=text,
                                author_id=actor.user_id, created_at=now)
        session.add(message)
    await flush_or_conflict(session, "The ticket")
    _event(session, actor, ticket, "ticket.handed_off", audience=await members_of(session, queue),
           fromQueueId=from_queue, toQueueId=queue.id, department=queue.department, reason=why,
           **({"note": message_payload(message)} if message else {}))
    return ticket


async def resolve_ticket(session: AsyncSession, actor: Actor, ticket_id: int, resolution: str | None,
                         version: int | None = None) -> Ticket:
    ticket = await _for_write(session, actor, ticket_id, version)
    v = Validator()
    text = v.text("resolution", resolution, max_len=MAX_TEXT, required=True)
    v.raise_if_any()
    check_move(TicketStatus(ticket.status), TicketStatus.RESOLVED, "ticketId")
    now = clock.now()
    ticket.status, ticket.resolution, ticket.resolved_at, ticket.updated_at = (
        TicketStatus.RESOLVED.value, text, now, now)
    await flush_or_conflict(session, "The ticket")
    _event(session, actor, ticket, "ticket.resolved", audience=[ticket.assignee_id] if ticket.assignee_id else [])
    return ticket


async def reopen_ticket(session: AsyncSession, actor: Actor, ticket_id: int, reason: str | None,
                        version: int | None = None) -> Ticket:
    """A resolved or closed ticket back to OPEN (its resolution cleared; the events keep it)."""
    ticket = await _for_write(session, actor, ticket_id, version)
    v = Validator()
    why = v.text("reason", reason, max_len=1000) or None
    v.raise_if_any()
    if TicketStatus(ticket.status) not in CLOSED_STATES:
        raise ValidationFailed.one("ticketId", ServiceErrorCode.INVALID_TRANSITION,
                                   f"a {ticket.status} ticket is not resolved or closed")
    ticket.status, ticket.resolution, ticket.resolved_at, ticket.closed_at = (
        TicketStatus.OPEN.value, None, None, None)
    ticket.updated_at = clock.now()
    await flush_or_conflict(session, "The ticket")
    _event(session, actor, ticket, "ticket.reopened", audience=[ticket.assignee_id] if ticket.assignee_id else [],
           reason=why)
    return ticket
