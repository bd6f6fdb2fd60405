"""Lead conversion: customer + contact + opportunity in one transaction, called on the domain directly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from tandem.domain.crm.contact import Contact
from tandem.domain.crm.customer import Customer, CustomerInput, create_customer
from tandem.domain.crm.errors import CrmErrorCode
from tandem.domain.crm.lead import ConvertLeadInput, Lead, LeadInput, LeadSource, convert_lead, create_lead, get_lead
from tandem.domain.pipeline.errors import PipelineErrorCode
from tandem.domain.pipeline.opportunity import Opportunity
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.errors import ErrorCode, NotFound, SharedErrorCode, ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import actor_of
from tests.factories.names import unique


@dataclass
class Tenant:
    org_id: int
    rep: Actor


async def new_tenant(db: Any) -> Tenant:
    async with db.write() as session:
        org = await create_org(session, unique("Org"), "CNY")
        rep = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@lead.test", name="Rep",
                                roles=["sales_rep"])
        return Tenant(org.id, actor_of(rep))


async def new_lead(db: Any, tenant: Tenant, **overrides: Any) -> Lead:
    fields: dict[str, Any] = {"name": "赵敏", "company": unique("杭州云帆科技有限公司"), "title": "CTO",
                              "email": "zhao@yunfan.example", "phone": "+86 138 0013 8000",
                              "source": LeadSource.EVENT}
    async with db.write() as session:
        return await create_lead(session, tenant.rep, LeadInput(**{**fields, **overrides}))


def conversion_input(lead: Lead, **overrides: Any) -> ConvertLeadInput:
    fields: dict[str, Any] = {"lead_id": lead.id, "opportunity_name": "ERP 实施项目", "amount": Decimal("1200000.00"),
                              "currency": "CNY"}
    return ConvertLeadInput(**{**fields, **overrides})


async def convert(db: Any, tenant: Tenant, lead: Lead, **overrides: Any) -> Any:
    async with db.write() as session:
        return await convert_lead(session, tenant.rep, conversion_input(lead, **overrides))


async def rows_in_org(db: Any, model: Any, org_id: int) -> list[Any]:
    async with db.read() as session:
        return list(await session.scalars(select(model).where(model.org_id == org_id).order_by(model.id)))


async def count_in_org(db: Any, model: Any, org_id: int) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model).where(model.org_id == org_id))


async def reload_lead(db: Any, tenant: Tenant, lead_id: int) -> Lead:
    async with db.read() as session:
        return await get_lead(session, tenant.rep, lead_id)


def codes(exc: ValidationFailed) -> list[tuple[tuple[str, ...], ErrorCode]]:
    return [(e.field, e.code) for e in exc.errors]


async def test_convert_lead_creates_customer_contact_and_opportunity_and_links_them(db):
    # given
    tenant = await new_tenant(db)
    lead = await new_lead(db, tenant)
    # when
    result = await convert(db, tenant, lead)
    # then
    [customer] = await rows_in_org(db, Customer, tenant.org_id)
    [contact] = await rows_in_org(db, Contact, tenant.org_id)
    [opportunity] = await rows_in_org(db, Opportunity, tenant.org_id)
    assert (result.customer.id, result.contact.id, result.opportunity.id) == (customer.id, contact.id, opportunity.id)
    assert (customer.name, customer.owner_id) == (lead.company, tenant.rep.user_id)
    assert (contact.customer_id, contact.name, contact.title, contact.email, contact.phone) == (
        customer.id, "赵敏", "CTO", "zhao@yunfan.example", "+86 138 0013 8000")
    assert (opportunity.customer_id, opportunity.name, opportunity.amount, opportunity.currency,
            opportunity.stage_key, opportunity.owner_id) == (
        customer.id, "ERP 实施项目", Decimal("1200000.00"), "CNY", "initial_contact", tenant.rep.user_id)
    converted = await reload_lead(db, tenant, lead.id)
    assert (converted.status, converted.converted_customer_id, converted.converted_contact_id,
            converted.converted_opportunity_id, converted.version) == (
        "converted", customer.id, contact.id, opportunity.id, 2)
    assert converted.converted_at is not None


async def test_convert_lead_records_an_outbox_event_for_every_record_it_writes(db):
    # given
    tenant = await new_tenant(db)
    lead = await new_lead(db, tenant)
    # when
    await convert(db, tenant, lead)
    # then
    async with db.read() as session:
        topics = list(await session.scalars(
            select(OutboxEvent.topic).where(OutboxEvent.org_id == tenant.org_id).order_by(OutboxEvent.id)))
    assert sorted(topics) == sorted(["lead.created", "customer.created", "contact.created", "opportunity.created",
                                     "lead.converted"])


async def test_converting_a_lead_twice_is_refused(db):
    # given
    tenant = await new_tenant(db)
    lead = await new_lead(db, tenant)
    await convert(db, tenant, lead)
    # when
    with pytest.raises(ValidationFailed) as caught:
        await convert(db, tenant, lead, opportunity_name="Second try")
    # then
    assert codes(caught.value) == [(("leadId",), CrmErrorCode.ALREADY_CONVERTED)]
    assert await count_in_org(db, Customer, tenant.org_id) == 1
    assert await count_in_org(db, Contact, tenant.org_id) == 1
    assert await count_in_org(db, Opportunity, tenant.org_id) == 1


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"currency": "XYZ"}, [(("currency",), SharedErrorCode.INVALID_CURRENCY)]),
    ({"currency": "JPY", "amount": Decimal("100.5")}, [(("amount",), SharedErrorCode.INVALID_AMOUNT)]),
    ({"stage": "closed"}, [(("stage",), PipelineErrorCode.INVALID_STAGE)]),
    ({"stage": "lost"}, [(("lostReason",), PipelineErrorCode.LOST_REASON_REQUIRED)]),
], ids=["currency", "amount", "stage", "lost"])
async def test_failed_conversion_leaves_nothing_behind_and_the_lead_unconverted(db, overrides, expected):
    # given
    tenant = await new_tenant(db)
    lead = await new_lead(db, tenant)
    outbox_before = await count_in_org(db, OutboxEvent, tenant.org_id)
    # when
    with pytest.raises(ValidationFailed) as caught:
        await convert(db, tenant, lead, **overrides)
    # then
    assert codes(caught.value) == expected
    assert await count_in_org(db, Customer, tenant.org_id) == 0
    assert await count_in_org(db, Contact, tenant.org_id) == 0
    assert await count_in_org(db, Opportunity, tenant.org_id) == 0
    assert await count_in_org(db, OutboxEvent, tenant.org_id) == outbox_before
    unconverted = await reload_lead(db, tenant, lead.id)
    assert (unconverted.status, unconverted.converted_customer_id, unconverted.converted_contact_id,
            unconverted.converted_opportunity_id, unconverted.converted_at, unconverted.version) == (
        "new", None, None, None, None, 1)


async def test_failed_conversion_can_be_retried(db):
    # given
    tenant = await new_tenant(db)
    lead = await new_lead(db, tenant)
    with pytest.raises(ValidationFailed):
        await convert(db, tenant, lead, currency="XYZ")
    # when
    result = await convert(db, tenant, lead, currency="USD")
    # then
    assert result.opportunity.currency == "USD"
    assert await count_in_org(db, Customer, tenant.org_id) == 1


async def test_converting_onto_an_existing_customer_reuses_it(db):
    # given
    tenant = await new_tenant(db)
    async with db.write() as session:
        existing = await create_customer(session, tenant.rep, CustomerInput(name=unique("华为技术有限公司")))
    lead = await new_lead(db, tenant)
    # when
    result = await convert(db, tenant, lead, customer_id=existing.id)
    # then
    [customer] = await rows_in_org(db, Customer, tenant.org_id)
    assert customer.id == existing.id == result.customer.id
    assert (result.contact.customer_id, result.opportunity.customer_id) == (existing.id, existing.id)
    assert (await reload_lead(db, tenant, lead.id)).converted_customer_id == existing.id


async def test_converting_onto_another_orgs_customer_is_not_found(db, users):
    # given
    tenant = await new_tenant(db)
    lead = await new_lead(db, tenant)
    acme = actor_of(users["rep@acme.test"])
    async with db.write() as session:
        foreign = await create_customer(session, acme, CustomerInput(name=unique("Acme customer")))
    # when
    with pytest.raises(NotFound):
        await convert(db, tenant, lead, customer_id=foreign.id)
    # then
    assert (await reload_lead(db, tenant, lead.id)).status == "new"
    assert await count_in_org(db, Opportunity, tenant.org_id) == 0
