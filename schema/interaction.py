"""Interactions logged against a customer (and optionally an opportunity)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.crm.interaction import Interaction as InteractionModel
from tandem.domain.crm.interaction import InteractionKind as _InteractionKind

from .errors import UserError
from .node import Node, to_global_id
from .user import User, load_user

if TYPE_CHECKING:
    from .contact import Contact
    from .customer import Customer
    from .opportunity import Opportunity

InteractionKind = strawberry.enum(_InteractionKind, name="InteractionKind")


@strawberry.type
class Interaction(Node):
    kind: InteractionKind | None
    occurred_at: datetime | None
    summary: str | None
    created_at: datetime | None
    _customer_id: strawberry.Private[int]
    _contact_id: strawberry.Private[int | None]
    _opportunity_id: strawberry.Private[int | None]
    _created_by_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: InteractionModel) -> Interaction:
        return cls(id=to_global_id("Interaction", m.id), kind=_InteractionKind(m.kind), occurred_at=m.occurred_at,
                   summary=m.summary, created_at=m.created_at, _customer_id=m.customer_id,
                   _contact_id=m.contact_id, _opportunity_id=m.opportunity_id, _created_by_id=m.created_by_id)

    @strawberry.field
    async def customer(
        self, info: strawberry.Info
    ) -> Annotated[Customer, strawberry.lazy(".customer")] | None:
        from .customer import Customer

        m = await info.context.loaders.customer.load(self._customer_id)
        return Customer.from_model(m) if m else None

    @strawberry.field
    async def contact(self, info: strawberry.Info) -> Annotated[Contact, strawberry.lazy(".contact")] | None:
        from .contact import Contact

        if self._contact_id is None:
            return None
        m = await info.context.loaders.contact.load(self._contact_id)
        return Contact.from_model(m) if m else None

    @strawberry.field
    async def opportunity(
        self, info: strawberry.Info
    ) -> Annotated[Opportunity, strawberry.lazy(".opportunity")] | None:
        from .opportunity import Opportunity

        if self._opportunity_id is None:
            return None
        m = await info.context.loaders.opportunity.load(self._opportunity_id)
        return Opportunity.from_model(m) if m else None

    @strawberry.field(description="Who logged it.")
    async def logged_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._created_by_id)


@strawberry.input
class LogInteractionInput:
    customer_id: strawberry.ID
    kind: InteractionKind
    summary: str
    occurred_at: datetime | None = None
    contact_id: strawberry.ID | None = None
    opportunity_id: strawberry.ID | None = None
    idempotency_key: str | None = None


@strawberry.type
class InteractionPayload:
    interaction: Interaction | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
