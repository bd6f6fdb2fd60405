"""Contacts: the people at a customer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.crm.contact import Contact as ContactModel

from .archive import ARCHIVED_AT
from .errors import UserError
from .node import Node, to_global_id

if TYPE_CHECKING:
    from .customer import Customer


@strawberry.type
class Contact(Node):
    name: str | None
    title: str | None
    phone: str | None
    email: str | None
    is_decision_maker: bool | None
    created_at: datetime | None
    _customer_id: strawberry.Private[int]
    version: int = strawberry.field(default=1)
    archived_at: datetime | None = strawberry.field(default=None, description=ARCHIVED_AT)

    @classmethod
    def from_model(cls, m: ContactModel) -> Contact:
        return cls(archived_at=m.archived_at, version=m.version, id=to_global_id("Contact", m.id), name=m.name,
                   title=m.title, phone=m.phone, email=m.email, is_decision_maker=m.is_decision_maker,
                   created_at=m.created_at, _customer_id=m.customer_id)

    @strawberry.field
    async def customer(
        self, info: strawberry.Info
    ) -> Annotated[Customer, strawberry.lazy(".customer")] | None:
        from .customer import Customer

        m = await info.context.loaders.customer.load(self._customer_id)
        return Customer.from_model(m) if m else None


@strawberry.input
class CreateContactInput:
    customer_id: strawberry.ID
    name: str
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    is_decision_maker: bool = False
    idempotency_key: str | None = None


@strawberry.input(description="Fields to change; a field left out stays as it is, a nullable one set to null is "
                               "cleared.")
class UpdateContactInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; CONFLICT if someone wrote since.")
    name: str | None = strawberry.UNSET
    title: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    is_decision_maker: bool | None = strawberry.UNSET


@strawberry.type
class ContactPayload:
    contact: Contact | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
