"""Leads and their conversion."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.crm.lead import Lead as LeadModel
from tandem.domain.crm.lead import LeadSource as _LeadSource
from tandem.domain.crm.lead import LeadStatus as _LeadStatus

from .archive import ARCHIVED_AT
from .assignment_rule import Assignment, load_assignment
from .custom_field import readable_custom_fields
from .errors import UserError
from .node import Node, from_global_id, to_global_id
from .scalars import JSON, Decimal
from .sla import SLA_STATUS, SlaStatus, load_sla_status
from .user import User, load_user

if TYPE_CHECKING:
    from .contact import Contact
    from .customer import Customer
    from .opportunity import Opportunity

LeadSource = strawberry.enum(_LeadSource, name="LeadSource")
LeadStatus = strawberry.enum(_LeadStatus, name="LeadStatus")


@strawberry.type
class Lead(Node):
    name: str | None
    company: str | None
    title: str | None
    email: str | None
    phone: str | None
    source: LeadSource | None
    status: LeadStatus | None
    notes: str | None
    converted_at: datetime | None
    disqualify_reason: str | None
    region: str | None
    industry: str | None
    _custom_fields: strawberry.Private[dict | None]

    @strawberry.field(description="Its custom fields (`customFieldDefinitions`), those you may read.")
    def custom_fields(self, info: strawberry.Info) -> JSON | None:
        return readable_custom_fields(info, "Lead", self._custom_fields)

    version: int
    created_at: datetime | None
    _owner_id: strawberry.Private[int]
    _customer_id: strawberry.Private[int | None]
    _opportunity_id: strawberry.Private[int | None]
    archived_at: datetime | None = strawberry.field(default=None, description=ARCHIVED_AT)

    @strawberry.field(description=SLA_STATUS)
    async def sla_status(self, info: strawberry.Info) -> SlaStatus | None:
        return await load_sla_status(info, self.id)

    @classmethod
    def from_model(cls, m: LeadModel) -> Lead:
        return cls(region=m.region, industry=m.industry, _custom_fields=m.custom_fields, archived_at=m.archived_at,
                   disqualify_reason=m.disqualify_reason, id=to_global_id("Lead", m.id), name=m.name,
                   company=m.company, title=m.title, email=m.email,
                   phone=m.phone, source=_LeadSource(m.source), status=_LeadStatus(m.status), notes=m.notes,
                   converted_at=m.converted_at, version=m.version, created_at=m.created_at, _owner_id=m.owner_id,
                   _customer_id=m.converted_customer_id, _opportunity_id=m.converted_opportunity_id)

    @strawberry.field
    async def owner(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._owner_id)

    @strawberry.field(description="How the lead got its owner: the assignment rule, its method and why (null: "
                                  "never routed).")
    async def assignment(self, info: strawberry.Info) -> Assignment | None:
        return await load_assignment(info, "Lead", int(from_global_id(self.id)[1]))

    @strawberry.field
    async def converted_customer(
        self, info: strawberry.Info
    ) -> Annotated[Customer, strawberry.lazy(".customer")] | None:
        from .customer import Customer

        if self._customer_id is None:
            return None
        m = await info.context.loaders.customer.load(self._customer_id)
        return Customer.from_model(m) if m else None

    @strawberry.field
    async def converted_opportunity(
        self, info: strawberry.Info
    ) -> Annotated[Opportunity, strawberry.lazy(".opportunity")] | None:
        from .opportunity import Opportunity

        if self._opportunity_id is None:
            return None
        m = await info.context.loaders.opportunity.load(self._opportunity_id)
        return Opportunity.from_model(m) if m else None


@strawberry.input
class CreateLeadInput:
    name: str
    company: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    source: LeadSource = _LeadSource.OTHER
    status: LeadStatus = _LeadStatus.NEW
    owner_id: strawberry.ID | None = None
    notes: str | None = None
    region: str | None = strawberry.field(default=None, description="Where the prospect is (华东...): routed on.")
    industry: str | None = None
    custom_fields: JSON | None = strawberry.field(
        default=None,
        description="Values of the org's lead custom fields (`customFieldDefinitions(objectType: LEAD)`).")
    idempotency_key: str | None = None


@strawberry.input(description="Fields to change; a field left out stays as it is, a nullable one set to null is "
                               "cleared. A converted lead cannot be edited.")
class UpdateLeadInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; CONFLICT if someone wrote since.")
    name: str | None = strawberry.UNSET
    company: str | None = strawberry.UNSET
    title: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    source: LeadSource | None = strawberry.UNSET
    status: LeadStatus | None = strawberry.field(
        default=strawberry.UNSET, description="NEW, CONTACTED, QUALIFIED or UNQUALIFIED (disqualified: needs "
                                              "disqualifyReason); CONVERTED only through convertLead.")
    owner_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET,
                                                      description="An active user of the org.")
    notes: str | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    disqualify_reason: str | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Keys to set; a key set to null is removed."
    )


@strawberry.input
class ConvertLeadInput:
    lead_id: strawberry.ID
    opportunity_name: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    stage: str | None = None
    expected_close_date: date | None = None
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Attach to this existing customer instead of creating one."
    )
    customer_name: str | None = None
    owner_id: strawberry.ID | None = None


@strawberry.type
class LeadPayload:
    lead: Lead | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ConvertLeadPayload:
    lead: Lead | None = None
    customer: Annotated[Customer, strawberry.lazy(".customer")] | None = None
    contact: Annotated[Contact, strawberry.lazy(".contact")] | None = None
    opportunity: Annotated[Opportunity, strawberry.lazy(".opportunity")] | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
