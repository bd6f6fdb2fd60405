"""Contact mutations."""

from __future__ import annotations

import strawberry

from tandem.domain.crm import contact as service
from tandem.schema.contact import Contact, ContactPayload, CreateContactInput, UpdateContactInput
from tandem.schema.node import decode_id

from .mutation import named, run, run_create, value
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
            custom_fields=input.custom_fields,
        )
        return await run_create(
            info, "createContact", input,
            lambda s: service.create_contact(s, actor, data),
            lambda s, pk: service.get_contact(s, actor, pk),
            _payload,
        )

    @writes("Contact", "update")
    @strawberry.mutation
    async def update_contact(self, info: strawberry.Info, input: UpdateContactInput) -> ContactPayload:
        actor = info.context.actor
        pk = decode_id("Contact", input.id)
        data = service.ContactUpdate(
            name=value(input, "name"), title=value(input, "title"), phone=value(input, "phone"),
            email=value(input, "email"), is_decision_maker=value(input, "is_decision_maker"),
            custom_fields=value(input, "custom_fields"), set_fields=named(input),
        )
        return await run(info, lambda s: service.update_contact(s, actor, pk, input.version, data), _payload)
