"""Leads: prospects not yet qualified; converting one makes a customer, a contact and an opportunity."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..pipeline.custom_field import check_custom_fields
from ..pipeline.opportunity import Opportunity, OpportunityInput, create_opportunity
from ..shared.actor import Actor
from ..shared.archive import Archivable, listed
from ..shared.base import Base, IdType, pk
from ..shared.bus import dispatch, handles
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.dialect import lock_for_update
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.payload import camel
from ..shared.text import half_width
from ..tenancy.errors import TenancyErrorCode
from ..tenancy.handover import UserDeactivated, hand_over
from ..tenancy.scope import owned_rows
from ..tenancy.user import get_user
from .contact import EMAIL, PHONE, Contact, ContactInput, check_contact_fields, contact_payload, new_contact
from .customer import Customer, CustomerInput, create_customer, get_customer
from .errors import CrmErrorCode
from .events import LeadCreated


class LeadSource(StrEnum):
    WEBSITE = "website"
    REFERRAL = "referral"
    EVENT = "event"
    COLD_CALL = "cold_call"
    ADVERTISING = "advertising"
    PARTNER = "partner"
    OTHER = "other"


class LeadStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    UNQUALIFIED = "unqualified"
    CONVERTED = "converted"


STATUS_MOVES: dict[LeadStatus, frozenset[LeadStatus]] = {
    LeadStatus.NEW: frozenset({LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.UNQUALIFIED}),
    LeadStatus.CONTACTED: frozenset({LeadStatus.QUALIFIED, LeadStatus.UNQUALIFIED}),
    LeadStatus.QUALIFIED: frozenset({LeadStatus.CONTACTED, LeadStatus.UNQUALIFIED}),
    LeadStatus.UNQUALIFIED: frozenset({LeadStatus.NEW, LeadStatus.CONTACTED}),  # reopened
    LeadStatus.CONVERTED: frozenset(),  # only convertLead makes a lead converted, and nothing undoes it
}
"""The statuses a lead may move to by hand from each status."""


class Lead(Archivable, Base):
    __tablename__ = "lead"

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200), nullable=True)
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"), index=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    """Where the prospect is (华东, EMEA...): assignment rules route on it and on ``industry``."""
    industry: Mapped[str | None] = mapped_column(String(100), nullable=True)
    converted_customer_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("customer.id", ondelete="SET NULL"), nullable=True)
    converted_contact_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("contact.id", ondelete="SET NULL"), nullable=True)
    converted_opportunity_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("opportunity.id", ondelete="SET NULL"), nullable=True)
    converted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    disqualify_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why the lead was disqualified (required to make it UNQUALIFIED; cleared when it is reopened)."""
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


@dataclass
class LeadInput:
    name: str | None
    company: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    source: LeadSource = LeadSource.OTHER
    status: LeadStatus = LeadStatus.NEW
    owner_id: int | None = None
    notes: str | None = None
    region: str | None = None
    industry: str | None = None
    disqualify_reason: str | None = None
    custom_fields: dict[str, Any] | None = None
    set_fields: set[str] = field(default_factory=set)
    """For updates: the fields the caller named (a named null clears a nullable field)."""


@dataclass
class ConvertLeadInput:
    lead_id: int
    opportunity_name: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    stage: str | None = None
    expected_close_date: date | None = None
    customer_id: int | None = None
    """Attach to an existing customer instead of creating one."""
    customer_name: str | None = None
    owner_id: int | None = None


@dataclass
class LeadConversion:
    lead: Lead
    customer: Customer
    contact: Contact
    opportunity: Opportunity


LEAD_SORT = SortKey("CREATED_AT", Lead.created_at, datetime)


async def create_lead(session: AsyncSession, actor: Actor, data: LeadInput) -> Lead:
    v = Validator()
    name = v.text("name", data.name, max_len=200, required=True)
    company = v.text("company", data.company, max_len=200)
    title = v.text("title", data.title, max_len=200)
    email = v.text("email", half_width(data.email), max_len=254)
    phone = v.text("phone", half_width(data.phone), max_len=40)
    notes = v.text("notes", data.notes, max_len=4000)
    region = v.text("region", data.region, max_len=100)
    industry = v.text("industry", data.industry, max_len=100)
    if email and not EMAIL.match(email):
        v.add("email", SharedErrorCode.INVALID_EMAIL, "email is not an e-mail address")
    if phone and not PHONE.match(phone):
        v.add("phone", SharedErrorCode.INVALID, "phone may hold digits, spaces, + ( ) - . only")
    if data.status is LeadStatus.CONVERTED:
        v.add("status", SharedErrorCode.INVALID, "a lead becomes converted through convertLead")
    if data.owner_id is not None:
        await get_user(session, actor.org_id, data.owner_id)  # NOT_FOUND for an unknown or foreign user
    custom = await check_custom_fields(session, actor.org_id, v, "lead", data.custom_fields)
    v.raise_if_any()
    now = clock.now()
    lead = Lead(
        org_id=actor.org_id, name=name, company=company or None, title=title or None, email=email or None,
        phone=phone or None, source=data.source.value, status=data.status.value,
        owner_id=data.owner_id or actor.user_id, notes=notes or None, region=region or None,
        industry=industry or None, custom_fields=custom, created_at=now, updated_at=now,
    )
    session.add(lead)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="lead.created", record_type="Lead",
                 record_id=lead.id, operation="create", payload=lead_payload(lead))
    await dispatch(session, actor, LeadCreated(actor.org_id, lead.id, owner_given=data.owner_id is not None))
    return lead


async def update_lead(session: AsyncSession, actor: Actor, lead_id: int, version: int, data: LeadInput) -> Lead:
    """Edit a lead's fields, move its status (disqualifying needs a reason), hand it to another active user.
    A converted lead is final."""
    lead = await load_for_write(session, visible_leads(actor).where(Lead.id == lead_id), type_name="Lead",
                                record_id=lead_id, version=version)
    if lead.status == LeadStatus.CONVERTED:
        raise ValidationFailed.one("id", CrmErrorCode.ALREADY_CONVERTED, "A converted lead cannot be edited.")
    v = Validator()
    named = data.set_fields
    changes: dict[str, Any] = {}
    if "name" in named:
        changes["name"] = v.text("name", data.name, max_len=200, required=True)
    for key, max_len in (("company", 200), ("title", 200), ("notes", 4000), ("region", 100), ("industry", 100)):
        if key in named:
            changes[key] = v.text(key, getattr(data, key), max_len=max_len) or None
    if "email" in named:
        email = v.text("email", half_width(data.email), max_len=254)
        if email and not EMAIL.match(email):
            v.add("email", SharedErrorCode.INVALID_EMAIL, "email is not an e-mail address")
        changes["email"] = email or None
    if "phone" in named:
        phone = v.text("phone", half_width(data.phone), max_len=40)
        if phone and not PHONE.match(phone):
            v.add("phone", SharedErrorCode.INVALID, "phone may hold digits, spaces, + ( ) - . only")
        changes["phone"] = phone or None
    if "source" in named and data.source is not None:
        changes["source"] = data.source.value
    if "owner_id" in named and data.owner_id is not None:
        owner = await get_user(session, actor.org_id, data.owner_id)  # NOT_FOUND for an unknown or foreign user
        if not owner.active:
            v.add("ownerId", TenancyErrorCode.USER_INACTIVE, "a lead's owner must be an active user")
        changes["owner_id"] = owner.id
    status = data.status if "status" in named and data.status is not None else LeadStatus(lead.status)
    reason = (v.text("disqualifyReason", data.disqualify_reason, max_len=2000) if "disqualify_reason" in named
              else lead.disqualify_reason)
    changes.update(status_change(v, LeadStatus(lead.status), status, reason or None))
    if "custom_fields" in named:
        changes["custom_fields"] = await check_custom_fields(session, actor.org_id, v, "lead", data.custom_fields,
                                                             current=lead.custom_fields)
    v.raise_if_any()
    changed = {k: val for k, val in changes.items() if getattr(lead, k) != val}
    if not changed:
        return lead
    before = {k: getattr(lead, k) for k in changed}
    for key, value in changed.items():
        setattr(lead, key, value)
    lead.updated_at = clock.now()
    await flush_or_conflict(session, "Lead")
    record_event(session, actor, org_id=actor.org_id, topic="lead.updated", record_type="Lead",
                 record_id=lead.id, operation="update",
                 payload={"changes": {camel(k): [before[k], after] for k, after in changed.items()},
                          "status": lead.status, "version": lead.version})
    return lead


def status_change(v: Validator, current: LeadStatus, target: LeadStatus, reason: str | None) -> dict[str, Any]:
    """The status and disqualify reason a lead ends with (a rule, no I/O): a move must be one of
    ``STATUS_MOVES``, an unqualified lead has a reason, any other has none."""
    if target is LeadStatus.CONVERTED:
        v.add("status", CrmErrorCode.INVALID_STATUS_TRANSITION, "a lead becomes converted through convertLead")
    elif target is not current and target not in STATUS_MOVES[current]:
        v.add("status", CrmErrorCode.INVALID_STATUS_TRANSITION,
              f"a {current.value} lead cannot become {target.value}")
    if target is LeadStatus.UNQUALIFIED:
        if not reason:
            v.add("disqualifyReason", SharedErrorCode.REASON_REQUIRED, "say why the lead is disqualified")
        return {"status": target.value, "disqualify_reason": reason}
    if reason and current is target:
        v.add("disqualifyReason", SharedErrorCode.INVALID, "only a disqualified lead has a disqualify reason")
    return {"status": target.value, "disqualify_reason": None}


def lead_payload(lead: Lead) -> dict[str, Any]:
    return {"id": lead.id, "name": lead.name, "company": lead.company, "source": lead.source,
            "status": lead.status, "ownerId": lead.owner_id, "region": lead.region, "industry": lead.industry,
            "customFields": lead.custom_fields}


async def convert_lead(session: AsyncSession, actor: Actor, data: ConvertLeadInput) -> LeadConversion:
    """Customer + contact + opportunity from a lead, in the caller's one transaction."""
    lead = await session.scalar(lock_for_update(session, visible_leads(actor).where(Lead.id == data.lead_id)))
    if lead is None:
        raise NotFound("Lead", data.lead_id)
    if lead.status == LeadStatus.CONVERTED:
        raise ValidationFailed.one("leadId", CrmErrorCode.ALREADY_CONVERTED, "This lead was already converted.")
    owner_id = data.owner_id or lead.owner_id
    if data.customer_id is not None:
        customer = await get_customer(session, actor, data.customer_id)
    else:
        customer_name = data.customer_name or lead.company or lead.name
        customer = await create_customer(session, actor, CustomerInput(name=customer_name, owner_id=owner_id))
    v = Validator()
    fields = check_contact_fields(
        v.under("contact"),
        ContactInput(customer_id=customer.id, name=lead.name, title=lead.title, phone=lead.phone, email=lead.email),
    )
    # the new contact has no custom fields of its own: a contact field an org requires refuses the conversion
    fields["custom_fields"] = await check_custom_fields(session, actor.org_id, v.under("contact"), "contact", None)
    v.raise_if_any()
    contact = new_contact(actor, customer.id, fields)
    session.add(contact)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="contact.created", record_type="Contact",
                 record_id=contact.id, operation="create", payload=contact_payload(contact),
                 timeline=("Customer", contact.customer_id))
    opportunity = await create_opportunity(
        session, actor,
        OpportunityInput(
            customer_id=customer.id,
            name=data.opportunity_name or f"{customer.name}",
            amount=data.amount, currency=data.currency, stage=data.stage,
            expected_close_date=data.expected_close_date, owner_id=owner_id,
        ),
    )
    await session.flush()
    now = clock.now()
    lead.status = LeadStatus.CONVERTED.value
    lead.converted_customer_id = customer.id
    lead.converted_contact_id = contact.id
    lead.converted_opportunity_id = opportunity.id
    lead.converted_at = now
    lead.updated_at = now
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="lead.converted", record_type="Lead",
                 record_id=lead.id, operation="update",
                 payload={"customerId": customer.id, "contactId": contact.id, "opportunityId": opportunity.id})
    return LeadConversion(lead, customer, contact, opportunity)


def visible_leads(actor: Actor) -> Any:
    stmt = select(Lead).where(Lead.org_id == actor.org_id)
    scope = owned_rows(actor, "Lead", Lead)
    return stmt if scope is None else stmt.where(scope)


async def get_lead(session: AsyncSession, actor: Actor, lead_id: int) -> Lead:
    lead = await session.scalar(visible_leads(actor).where(Lead.id == lead_id))
    if lead is None:
        raise NotFound("Lead", lead_id)
    return lead


async def leads_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Lead]:
    rows = await session.scalars(visible_leads(actor).where(Lead.id.in_(ids)))
    return {lead.id: lead for lead in rows}


async def list_leads(
    session: AsyncSession, actor: Actor, req: PageRequest, flt: LeadFilter | None = None, *, with_total: bool = False,
) -> Page[Lead]:
    return await paginate(session, filtered_leads(actor, flt or LeadFilter()), entity=Lead,
                          sort=LEAD_SORT, req=req, with_total=with_total)


@dataclass(frozen=True)
class LeadFilter:
    status: str | None = None
    owner_id: int | None = None
    archived: bool | None = False
    """False: leave archived rows out (the default); True: only archived ones; None: both."""


def filtered_leads(actor: Actor, flt: LeadFilter) -> Any:
    """The leads the actor may see that pass the filter (a select, unordered)."""
    stmt = visible_leads(actor)
    if flt.status:
        stmt = stmt.where(Lead.status == flt.status)
    if flt.owner_id is not None:
        stmt = stmt.where(Lead.owner_id == flt.owner_id)
    return listed(stmt, Lead, flt.archived)


@handles(UserDeactivated)
async def _hand_over_leads(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    return await hand_over(session, actor, event, Lead, "owner_id",
                           Lead.status.not_in((LeadStatus.UNQUALIFIED.value, LeadStatus.CONVERTED.value)),
                           record_type="Lead", topic="lead.reassigned")
