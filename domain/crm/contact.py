"""Contacts: the people at a customer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..pipeline.custom_field import check_custom_fields
from ..shared.actor import Actor
from ..shared.archive import Archivable, listed
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.errors import NotFound, SharedErrorCode, Validator
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate_many
from ..shared.payload import camel
from ..shared.text import half_width
from .customer import get_customer, visible_customer_ids

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^[0-9+()\-. ]{3,40}$")


class Contact(Archivable, Base):
    __tablename__ = "contact"

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(IdType, ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    is_decision_maker: Mapped[bool] = mapped_column(Boolean, default=False)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


@dataclass
class ContactInput:
    customer_id: int
    name: str | None
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    is_decision_maker: bool = False
    custom_fields: dict[str, Any] | None = None


@dataclass
class ContactUpdate:
    name: str | None = None
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    is_decision_maker: bool | None = None
    custom_fields: dict[str, Any] | None = None
    set_fields: set[str] = field(default_factory=set)
    """The fields the caller named (a named null clears a nullable field)."""


CONTACT_SORTS = {"NAME": SortKey("NAME", Contact.name, str),
                 "CREATED_AT": SortKey("CREATED_AT", Contact.created_at, datetime)}


def check_contact_fields(v: Validator, data: ContactInput) -> dict[str, Any]:
    name = v.text("name", data.name, max_len=200, required=True)
    title = v.text("title", data.title, max_len=200)
    phone = v.text("phone", half_width(data.phone), max_len=40)
    email = v.text("email", half_width(data.email), max_len=254)
    if phone and not PHONE.match(phone):
        v.add("phone", SharedErrorCode.INVALID, "phone may hold digits, spaces, + ( ) - . only")
    if email and not EMAIL.match(email):
        v.add("email", SharedErrorCode.INVALID_EMAIL, "email is not an e-mail address")
    return {"name": name, "title": title or None, "phone": phone or None, "email": email or None,
            "is_decision_maker": bool(data.is_decision_maker)}


def new_contact(actor: Actor, customer_id: int, fields: dict[str, Any]) -> Contact:
    return Contact(org_id=actor.org_id, customer_id=customer_id, created_at=clock.now(), **fields)


async def create_contact(session: AsyncSession, actor: Actor, data: ContactInput) -> Contact:
    customer = await get_customer(session, actor, data.customer_id)
    v = Validator()
    fields = check_contact_fields(v, data)
    fields["custom_fields"] = await check_custom_fields(session, actor.org_id, v, "contact", data.custom_fields)
    v.raise_if_any()
    contact = new_contact(actor, customer.id, fields)
    session.add(contact)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="contact.created", record_type="Contact",
                 record_id=contact.id, operation="create", payload=contact_payload(contact),
                 timeline=("Customer", contact.customer_id))
    return contact


async def update_contact(session: AsyncSession, actor: Actor, contact_id: int, version: int,
                         data: ContactUpdate) -> Contact:
    """Edit a contact of a customer the actor may see, checked as a new contact's fields are."""
    contact = await load_for_write(session, visible_contacts(actor).where(Contact.id == contact_id),
                                   type_name="Contact", record_id=contact_id, version=version)
    named = data.set_fields
    merged = ContactInput(customer_id=contact.customer_id, **{
        key: getattr(data if key in named else contact, key) for key in CONTACT_FIELDS})
    v = Validator()
    fields = check_contact_fields(v, merged)
    if "custom_fields" in named:
        fields["custom_fields"] = await check_custom_fields(session, actor.org_id, v, "contact", data.custom_fields,
                                                            current=contact.custom_fields)
    v.raise_if_any()
    changed = {k: val for k, val in fields.items() if k in named and getattr(contact, k) != val}
    if not changed:
        return contact
    before = {k: getattr(contact, k) for k in changed}
    for key, value in changed.items():
        setattr(contact, key, value)
    await flush_or_conflict(session, "Contact")
    record_event(session, actor, org_id=actor.org_id, topic="contact.updated", record_type="Contact",
                 record_id=contact.id, operation="update",
                 payload={"changes": {camel(k): [before[k], after] for k, after in changed.items()},
                          "customerId": contact.customer_id, "version": contact.version},
                 timeline=("Customer", contact.customer_id), also=("Contact", contact.id))
    return contact


CONTACT_FIELDS = ("name", "title", "phone", "email", "is_decision_maker")


def contact_payload(c: Contact) -> dict[str, Any]:
    return {"id": c.id, "customerId": c.customer_id, "name": c.name, "title": c.title, "phone": c.phone,
            "email": c.email, "isDecisionMaker": c.is_decision_maker, "customFields": c.custom_fields,
            "version": c.version}


def visible_contacts(actor: Actor) -> Any:
    """Contacts of the customers the actor may see."""
    stmt = select(Contact).where(Contact.org_id == actor.org_id)
    customers = visible_customer_ids(actor)
    return stmt if customers is None else stmt.where(Contact.customer_id.in_(customers))


async def get_contact(session: AsyncSession, actor: Actor, contact_id: int) -> Contact:
    contact = await session.scalar(visible_contacts(actor).where(Contact.id == contact_id))
    if contact is None:
        raise NotFound("Contact", contact_id)
    return contact


async def contacts_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Contact]:
    rows = await session.scalars(visible_contacts(actor).where(Contact.id.in_(ids)))
    return {c.id: c for c in rows}


async def contacts_of_customers(
    session: AsyncSession, actor: Actor, customer_ids: list[int], req: PageRequest, *, with_total: bool = False
) -> dict[int, Page[Contact]]:
    return await paginate_many(session, listed(visible_contacts(actor), Contact, False), entity=Contact,
                               parent_col=Contact.customer_id,
                               parent_ids=customer_ids, sort=CONTACT_SORTS["NAME"], req=req,
                               with_total=with_total)
