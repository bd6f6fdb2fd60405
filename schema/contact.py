"""Contacts: the people at a customer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.crm.contact import Contact as ContactModel

from .archive import ARCHIVED_AT
from .custom_field import readable_custom_fields
from .errors import UserError
from .node import Node, to_global_id
from .scalars import JSON

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
    _custom_fields: strawberry.Private[dict | None]
    version: int = strawberry.field(default=1)
    archived_at: datetime | None = strawberry.field(default=None, description=ARCHIVED_AT)

    @strawberry.field(description="Its custom fields (`customFieldDefinitions`), those you may read.")
    def custom_fields(self, info: strawberry.Info) -> JSON | None:
        return readable_custom_fields(info, "Contact", self._custom_fields)

    @classmethod
    def from_model(cls, m: ContactModel) -> Contact:
        return cls(archived_at=m.archived_at, version=m.version, id=to_global_id("Contact", m.id), name=m.name,
                   title=m.title, phone=m.phone, email=m.email, is_decision_maker=m.is_decision_maker,
                   created_at=m.created_at, _customer_id=m.customer_id, _custom_fields=m.custom_fields)

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
    custom_fields: JSON | None = strawberry.field(
        default=None,
        description="Values of the org's contact custom fields (`customFieldDefinitions(objectType: CONTACT)`).")
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
    custom_fields: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Keys to set; a key set to null is removed."
    )


@strawberry.type
class ContactPayload:
    contact: Contact | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
