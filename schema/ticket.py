"""Service desk: tickets, their queues and messages (``tickets``, ``createTicket``, ``handOffTicket``...)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.service.queue import Department as _Department
from tandem.domain.service.queue import TicketQueue as TicketQueueModel
from tandem.domain.service.ticket import Channel as _Channel
from tandem.domain.service.ticket import Priority as _Priority
from tandem.domain.service.ticket import Ticket as TicketModel
from tandem.domain.service.ticket import TicketMessage as TicketMessageModel
from tandem.domain.service.ticket import TicketStatus as _TicketStatus

from .errors import UserError
from .node import Node, to_global_id
from .user import Team, User, load_user

if TYPE_CHECKING:
    from .contact import Contact
    from .contract import Contract
    from .customer import Customer
    from .knowledge_article import KnowledgeArticle
    from .opportunity import Opportunity
    from .project import Project

TicketChannel = strawberry.enum(_Channel, name="TicketChannel")
TicketPriority = strawberry.enum(_Priority, name="TicketPriority")
TicketStatus = strawberry.enum(_TicketStatus, name="TicketStatus")
Department = strawberry.enum(_Department, name="Department")


@strawberry.type(description="A department's queue of tickets; its members are its team's.")
class TicketQueue(Node):
    name: str
    department: Department
    _team_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, m: TicketQueueModel) -> TicketQueue:
        return cls(id=to_global_id("TicketQueue", m.id), name=m.name, department=_Department(m.department),
                   _team_id=m.team_id)

    @strawberry.field(description="The team that works it (null: none yet).")
    async def team(self, info: strawberry.Info) -> Team | None:
        if self._team_id is None:
            return None
        m = await info.context.loaders.team.load(self._team_id)
        return Team.from_model(m) if m else None


@strawberry.type(description="A public reply to the customer or an internal note for staff.")
class TicketMessage:
    id: strawberry.ID
    body: str
    internal: bool
    created_at: datetime
    _author_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: TicketMessageModel) -> TicketMessage:
        return cls(id=to_global_id("TicketMessage", m.id), body=m.body, internal=m.internal,
                   created_at=m.created_at, _author_id=m.author_id)

    @strawberry.field
    async def author(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._author_id)


@strawberry.type(description="A customer's problem, worked in a department's queue.")
class Ticket(Node):
    subject: str | None
    description: str | None
    channel: TicketChannel | None
    category: str | None
    priority: TicketPriority | None
    status: TicketStatus | None
    resolution: str | None
    created_at: datetime | None
    updated_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    version: int
    _pk: strawberry.Private[int]
    _customer_id: strawberry.Private[int]
    _contact_id: strawberry.Private[int | None]
    _contract_id: strawberry.Private[int | None]
    _project_id: strawberry.Private[int | None]
    _opportunity_id: strawberry.Private[int | None]
    _queue_id: strawberry.Private[int]
    _assignee_id: strawberry.Private[int | None]
    _created_by_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: TicketModel) -> Ticket:
        return cls(id=to_global_id("Ticket", m.id), subject=m.subject, description=m.description,
                   channel=_Channel(m.channel), category=m.category, priority=_Priority(m.priority),
                   status=_TicketStatus(m.status), resolution=m.resolution, created_at=m.created_at,
                   updated_at=m.updated_at, first_response_at=m.first_response_at, resolved_at=m.resolved_at,
                   closed_at=m.closed_at, version=m.version, _pk=m.id, _customer_id=m.customer_id,
                   _contact_id=m.contact_id, _contract_id=m.contract_id, _project_id=m.project_id,
                   _opportunity_id=m.opportunity_id, _queue_id=m.queue_id, _assignee_id=m.assignee_id,
                   _created_by_id=m.created_by_id)

    @strawberry.field
    async def customer(self, info: strawberry.Info) -> Annotated[Customer, strawberry.lazy(".customer")] | None:
        from .customer import Customer

        m = await info.context.loaders.customer.load(self._customer_id)
        return Customer.from_model(m) if m else None

    @strawberry.field(description="Whom to contact at the customer.")
    async def contact(self, info: strawberry.Info) -> Annotated[Contact, strawberry.lazy(".contact")] | None:
        from .contact import Contact

        m = await info.context.loaders.contact.load(self._contact_id) if self._contact_id else None
        return Contact.from_model(m) if m else None

    @strawberry.field
    async def contract(self, info: strawberry.Info) -> Annotated[Contract, strawberry.lazy(".contract")] | None:
        from .contract import Contract

        m = await info.context.loaders.contract.load(self._contract_id) if self._contract_id else None
        return Contract.from_model(m) if m else None

    @strawberry.field
    async def project(self, info: strawberry.Info) -> Annotated[Project, strawberry.lazy(".project")] | None:
        from .project import Project

        m = await info.context.loaders.project.load(self._project_id) if self._project_id else None
        return Project.from_model(m) if m else None

    @strawberry.field
    async def opportunity(
        self, info: strawberry.Info,
    ) -> Annotated[Opportunity, strawberry.lazy(".opportunity")] | None:
        from .opportunity import Opportunity

        m = await info.context.loaders.opportunity.load(self._opportunity_id) if self._opportunity_id else None
        return Opportunity.from_model(m) if m else None

    @strawberry.field(description="The queue working it.")
    async def queue(self, info: strawberry.Info) -> TicketQueue | None:
        m = await info.context.loaders.of("TicketQueue").load(self._queue_id)
        return TicketQueue.from_model(m) if m else None

    @strawberry.field
    async def assignee(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._assignee_id)

    @strawberry.field(name="createdBy")
    async def created_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._created_by_id)

    @strawberry.field(description="Public replies to the customer, oldest first.")
    async def replies(self, info: strawberry.Info) -> list[TicketMessage] | None:
        return [TicketMessage.from_model(m) for m in await info.context.loaders.ticket_replies.load(self._pk)]

    @strawberry.field(description="Internal notes, oldest first: staff only, never sent to the customer.")
    async def internal_notes(self, info: strawberry.Info) -> list[TicketMessage] | None:
        return [TicketMessage.from_model(m) for m in await info.context.loaders.ticket_notes.load(self._pk)]


@strawberry.input
class TicketFilter:
    status: list[TicketStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    queue_id: strawberry.ID | None = None
    assignee_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None
    priority: TicketPriority | None = None


@strawberry.input
class CreateTicketInput:
    customer_id: strawberry.ID
    subject: str
    description: str | None = None
    contact_id: strawberry.ID | None = None
    contract_id: strawberry.ID | None = None
    project_id: strawberry.ID | None = None
    opportunity_id: strawberry.ID | None = None
    channel: TicketChannel | None = strawberry.field(default=None, description="Default EMAIL.")
    category: str | None = None
    priority: TicketPriority | None = strawberry.field(default=None, description="Default NORMAL.")
    queue_id: strawberry.ID | None = strawberry.field(default=None, description="Default: the service queue.")
    assignee_id: strawberry.ID | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of a duplicate.")


@strawberry.input
class UpdateTicketInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; CONFLICT if someone wrote since.")
    subject: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    contact_id: strawberry.ID | None = strawberry.UNSET
    contract_id: strawberry.ID | None = strawberry.UNSET
    project_id: strawberry.ID | None = strawberry.UNSET
    opportunity_id: strawberry.ID | None = strawberry.UNSET
    channel: TicketChannel | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    priority: TicketPriority | None = strawberry.UNSET
    status: TicketStatus | None = strawberry.field(
        default=strawberry.UNSET, description="A move among NEW, OPEN, the PENDING ones and CLOSED "
                                              "(INVALID_TRANSITION otherwise: resolve and reopen have their own).")


@strawberry.input
class ReplyToTicketInput:
    ticket_id: strawberry.ID
    body: str
    internal: bool = strawberry.field(default=False, description="An internal note (staff only) rather than a "
                                                                 "reply to the customer.")


@strawberry.input
class AssignTicketInput:
    ticket_id: strawberry.ID
    assignee_id: strawberry.ID | None = strawberry.field(description="Null: back to the queue.")
    version: int | None = None


@strawberry.input
class ResolveTicketInput:
    ticket_id: strawberry.ID
    resolution: str
    publish_article: bool = strawberry.field(
        default=False, description="Also draft a knowledge article (DRAFT) from the question and the resolution, "
                                   "in the same transaction; FORBIDDEN unless your role may create articles.")
    version: int | None = None


@strawberry.input
class ReopenTicketInput:
    ticket_id: strawberry.ID
    reason: str | None = None
    version: int | None = None


@strawberry.input
class HandOffTicketInput:
    ticket_id: strawberry.ID
    to_queue_id: strawberry.ID
    reason: str = strawberry.field(description="Why (on the ticket's timeline).")
    note: str | None = strawberry.field(default=None, description="For the receiving team: an internal note.")
    version: int | None = None


@strawberry.type
class TicketPayload:
    ticket: Ticket | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ResolveTicketPayload:
    ticket: Ticket | None = None
    article: Annotated[KnowledgeArticle, strawberry.lazy(".knowledge_article")] | None = strawberry.field(
        default=None, description="The article drafted with `publishArticle: true` (else null).")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReplyToTicketPayload:
    ticket: Ticket | None = None
    message: TicketMessage | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
