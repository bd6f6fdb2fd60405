"""Contact mutations."""

from __future__ import annotations

import strawberry

from tandem.domain.crm import contact as service
from tandem.schema.contact import Contact, ContactPayload, CreateContactInput
from tandem.schema.node import decode_id

from .mutation import run_create
from .writes import writes


def _payload(m: service.Contact | None = None, user_errors: list | None = None) -> ContactPayload:
    return ContactPayload(contact=Contact.from_model(m) if m else None, user_errors=user_errors or [])


@strawberry.type
class ContactMutation:
    @writes("Contact", "create")
    @strawberry.mutation
    async def create_contact(self, info: strawberry.Info, input: CreateContactInput) -> ContactPayload:
        actor = info.context.actor
        data = service.ContactInput(
            customer_id=decode_id("Customer", input.customer_id), name=input.name, title=input.title,
            phone=input.phone, email=input.email, is_decision_maker=input.is_decision_maker,
        )
        return await run_create(
            info, "createContact", input,
            lambda s: service.create_contact(s, actor, data),
            lambda s, pk: service.get_contact(s, actor, pk),
            _payload,
        )
