"""Customers (accounts)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.crm.customer import Customer as CustomerModel
from tandem.domain.crm.customer import CustomerTier as _CustomerTier
from tandem.domain.crm.customer import LifecycleStage as _LifecycleStage
from tandem.domain.shared.money import quantize
from tandem.domain.shared.pagination import PageRequest

from .archive import ARCHIVED_AT, ARCHIVED_FILTER
from .custom_field import readable_custom_fields
from .errors import UserError
from .node import Node, to_global_id
from .pagination import Connection, wants_total
from .scalars import JSON, Decimal
from .sla import SLA_STATUS, SlaStatus, load_sla_status
from .user import User, load_user

if TYPE_CHECKING:
    from .contact import Contact
    from .intent import CustomerIntent
    from .interaction import Interaction
    from .opportunity import Opportunity
    from .ticket import Ticket

CustomerTier = strawberry.enum(_CustomerTier, name="CustomerTier")
LifecycleStage = strawberry.enum(_LifecycleStage, name="LifecycleStage")

ContactRef = Annotated["Contact", strawberry.lazy(".contact")]
InteractionRef = Annotated["Interaction", strawberry.lazy(".interaction")]
OpportunityRef = Annotated["Opportunity", strawberry.lazy(".opportunity")]
CustomerIntentRef = Annotated["CustomerIntent", strawberry.lazy(".intent")]
TicketRef = Annotated["Ticket", strawberry.lazy(".ticket")]


@strawberry.type(description="An account: a company we sell to.")
class Customer(Node):
    name: str | None
    tags: list[str] | None
    industry: str | None
    tier: CustomerTier | None
    lifecycle_stage: LifecycleStage | None
    credit_limit: Decimal | None
    currency: str | None
    _custom_fields: strawberry.Private[dict | None]

    @strawberry.field(description="Its custom fields (`customFieldDefinitions`), those you may read.")
    def custom_fields(self, info: strawberry.Info) -> JSON | None:
        return readable_custom_fields(info, "Customer", self._custom_fields)

    version: int
    created_at: datetime | None
    updated_at: datetime | None
    _pk: strawberry.Private[int]
    _owner_id: strawberry.Private[int]
    archived_at: datetime | None = strawberry.field(default=None, description=ARCHIVED_AT)

    @strawberry.field(description=SLA_STATUS)
    async def sla_status(self, info: strawberry.Info) -> SlaStatus | None:
        return await load_sla_status(info, self.id)

    @classmethod
    def from_model(cls, m: CustomerModel) -> Customer:
        return cls(
            archived_at=m.archived_at,
            id=to_global_id("Customer", m.id), name=m.name, tags=list(m.tags), industry=m.industry,
            tier=_CustomerTier(m.tier), lifecycle_stage=_LifecycleStage(m.lifecycle_stage),
            credit_limit=None if m.credit_limit is None else quantize(m.credit_limit, m.currency),
            currency=m.currency, _custom_fields=m.custom_fields, version=m.version,
            created_at=m.created_at, updated_at=m.updated_at, _pk=m.id, _owner_id=m.owner_id,
        )

    @strawberry.field
    async def owner(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._owner_id)

    @strawberry.field(description="People at this customer, by name.")
    async def contacts(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Connection[ContactRef] | None:
        from .contact import Contact

        req = PageRequest(first=first, after=after, last=last, before=before)
        page = await info.context.loaders.contacts_of_customer.load((self._pk, req, wants_total(info)))
        return Connection.from_page(page, Contact.from_model)

    @strawberry.field(description="Interaction history, oldest first: `last: 10` is the ten most recent.")
    async def interactions(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Connection[InteractionRef] | None:
        from .interaction import Interaction

        req = PageRequest(first=first, after=after, last=last, before=before)
        page = await info.context.loaders.interactions_of_customer.load((self._pk, req, wants_total(info)))
        return Connection.from_page(page, Interaction.from_model)

    @strawberry.field(description="This customer's opportunities, newest first.")
    async def opportunities(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Connection[OpportunityRef] | None:
        from .opportunity import Opportunity

        req = PageRequest(first=first, after=after, last=last, before=before, descending=True)
        page = await info.context.loaders.opportunities_of_customer.load((self._pk, req, wants_total(info)))
        return Connection.from_page(page, Opportunity.from_model)

    @strawberry.field(description="The customer's tickets you may see, newest first: each with its status and "
                                  "resolution.")
    async def service_history(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Connection[TicketRef] | None:
        from .ticket import Ticket

        req = PageRequest(first=first, after=after, last=last, before=before, descending=True)
        page = await info.context.loaders.tickets_of_customer.load((self._pk, req, wants_total(info)))
        return Connection.from_page(page, Ticket.from_model)

    @strawberry.field(description="How keen the customer looks, from its interactions of the last 30 days.")
    async def intent(self, info: strawberry.Info) -> CustomerIntentRef | None:
        from .intent import CustomerIntent

        found = await info.context.loaders.intent_of_customer.load(self._pk)
        return CustomerIntent.from_domain(found) if found else None


@strawberry.input
class CustomerFilter:
    search: str | None = strawberry.field(default=None, description="Part of the name, any case.")
    tag: str | None = None
    owner_id: strawberry.ID | None = None
    tier: CustomerTier | None = None
    lifecycle_stage: LifecycleStage | None = None
    archived: bool | None = strawberry.field(default=False, description=ARCHIVED_FILTER)


@strawberry.input
class CreateCustomerInput:
    name: str
    tags: list[str] | None = None
    industry: str | None = None
    tier: CustomerTier | None = None
    lifecycle_stage: LifecycleStage | None = None
    owner_id: strawberry.ID | None = None
    credit_limit: Decimal | None = None
    custom_fields: JSON | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of a duplicate."
    )


@strawberry.input
class UpdateCustomerInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; CONFLICT if someone wrote since.")
    name: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    tier: CustomerTier | None = strawberry.UNSET
    lifecycle_stage: LifecycleStage | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    credit_limit: Decimal | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Keys to set; a key set to null is removed."
    )


@strawberry.type
class CustomerPayload:
    customer: Customer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
