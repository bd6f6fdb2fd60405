"""Customers (accounts): who we sell to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..pipeline.custom_field import check_custom_fields
from ..shared.actor import Actor
from ..shared.archive import Archivable, listed
from ..shared.base import Base, IdType, pk
from ..shared.bus import handles
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.dialect import contains_text, json_array_contains
from ..shared.errors import NotFound, SharedErrorCode, Validator
from ..shared.money import check_amount, quantize
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.references import reads
from ..tenancy.handover import UserDeactivated, hand_over
from ..tenancy.org import get_org
from ..tenancy.scope import owned_rows
from ..tenancy.user import get_user

MAX_TAGS = 20


class CustomerTier(StrEnum):
    STRATEGIC = "strategic"
    KEY = "key"
    STANDARD = "standard"
    SMALL = "small"


class LifecycleStage(StrEnum):
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    PARTNER = "partner"
    CHURNED = "churned"


class Customer(Archivable, Base):
    __tablename__ = "customer"

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(default=list)
    industry: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tier: Mapped[str] = mapped_column(String(20), default=CustomerTier.STANDARD.value)
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default=LifecycleStage.PROSPECT.value)
    owner_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"), index=True)
    credit_limit: Mapped[Decimal | None] = mapped_column(nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


@dataclass
class CustomerInput:
    name: str | None = None
    tags: list[str] | None = None
    industry: str | None = None
    tier: CustomerTier | None = None
    lifecycle_stage: LifecycleStage | None = None
    owner_id: int | None = None
    credit_limit: Decimal | None = None
    custom_fields: dict[str, Any] | None = None
    set_fields: set[str] = field(default_factory=set)
    """For updates: the fields the caller named (a named null clears a nullable field)."""


@dataclass(frozen=True)
class CustomerFilter:
    search: str | None = None
    tag: str | None = None
    owner_id: int | None = None
    tier: str | None = None
    lifecycle_stage: str | None = None
    archived: bool | None = False
    """False: leave archived rows out (the default); True: only archived ones; None: both."""


CUSTOMER_SORTS = {
    "NAME": SortKey("NAME", Customer.name, str),
    "CREATED_AT": SortKey("CREATED_AT", Customer.created_at, datetime),
    "UPDATED_AT": SortKey("UPDATED_AT", Customer.updated_at, datetime),
}


def _check_tags(v: Validator, tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    cleaned: list[str] = []
    for i, tag in enumerate(tags):
        tag = tag.strip()
        if not tag:
            v.add(("tags", str(i)), SharedErrorCode.REQUIRED, "a tag must not be empty")
        elif len(tag) > 50:
            v.add(("tags", str(i)), SharedErrorCode.TOO_LONG, "a tag is at most 50 characters")
        elif tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        v.add("tags", SharedErrorCode.INVALID, f"at most {MAX_TAGS} tags")
    return cleaned


async def _check_owner(session: AsyncSession, actor: Actor, v: Validator, owner_id: int | None) -> None:
    if owner_id is None:
        return
    await get_user(session, actor.org_id, owner_id)  # NOT_FOUND for an unknown or foreign user


async def create_customer(session: AsyncSession, actor: Actor, data: CustomerInput) -> Customer:
    org = await get_org(session, actor.org_id)
    v = Validator()
    name = v.text("name", data.name, max_len=200, required=True)
    industry = v.text("industry", data.industry, max_len=100)
    tags = _check_tags(v, data.tags) or []
    credit_limit = check_amount(v, "creditLimit", data.credit_limit, org.default_currency)
    await _check_owner(session, actor, v, data.owner_id)
    custom = await check_custom_fields(session, actor.org_id, v, "customer", data.custom_fields)
    v.raise_if_any()
    now = clock.now()
    customer = Customer(
        org_id=actor.org_id,
        name=name,
        tags=tags,
        industry=industry or None,
        tier=(data.tier or CustomerTier.STANDARD).value,
        lifecycle_stage=(data.lifecycle_stage or LifecycleStage.PROSPECT).value,
        owner_id=data.owner_id or actor.user_id,
        credit_limit=credit_limit,
        currency=org.default_currency,
        custom_fields=custom,
        created_at=now,
        updated_at=now,
    )
    session.add(customer)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="customer.created", record_type="Customer",
                 record_id=customer.id, operation="create", payload=customer_payload(customer))
    return customer


async def update_customer(
    session: AsyncSession, actor: Actor, customer_id: int, version: int, data: CustomerInput
) -> Customer:
    customer = await load_for_write(session, visible_customers(actor).where(Customer.id == customer_id),
                                    type_name="Customer", record_id=customer_id, version=version)
    v = Validator()
    named = data.set_fields
    changes: dict[str, Any] = {}
    if "name" in named:
        changes["name"] = v.text("name", data.name, max_len=200, required=True)
    if "industry" in named:
        changes["industry"] = v.text("industry", data.industry, max_len=100) or None
    if "tags" in named:
        changes["tags"] = _check_tags(v, data.tags) or []
    if "tier" in named and data.tier is not None:
        changes["tier"] = data.tier.value
    if "lifecycle_stage" in named and data.lifecycle_stage is not None:
        changes["lifecycle_stage"] = data.lifecycle_stage.value
    if "owner_id" in named and data.owner_id is not None:
        await _check_owner(session, actor, v, data.owner_id)
        changes["owner_id"] = data.owner_id
    if "credit_limit" in named:
        changes["credit_limit"] = check_amount(v, "creditLimit", data.credit_limit, customer.currency)
    if "custom_fields" in named:
        changes["custom_fields"] = await check_custom_fields(
            session, actor.org_id, v, "customer", data.custom_fields, current=customer.custom_fields
        )
    v.raise_if_any()
    changed = {k: val for k, val in changes.items() if getattr(customer, k) != val}
    if not changed:
        return customer
    before = {k: getattr(customer, k) for k in changed}
    for key, value in changed.items():
        setattr(customer, key, value)
    customer.updated_at = clock.now()
    await flush_or_conflict(session, "Customer")
    record_event(session, actor, org_id=actor.org_id, topic="customer.updated", record_type="Customer",
                 record_id=customer.id, operation="update",
                 payload={"changes": {k: [_plain(before[k], customer.currency), _plain(v2, customer.currency)]
                                      for k, v2 in changed.items()},
                          "version": customer.version})
    return customer


def _plain(value: Any, currency: str) -> Any:
    return str(quantize(value, currency)) if isinstance(value, Decimal) else value


def customer_payload(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id, "name": c.name, "tags": c.tags, "industry": c.industry, "tier": c.tier,
        "lifecycleStage": c.lifecycle_stage, "ownerId": c.owner_id,
        "creditLimit": _plain(c.credit_limit, c.currency), "currency": c.currency,
        "customFields": c.custom_fields, "version": c.version,
    }


def customer_scope(actor: Actor) -> Any:
    """The WHERE clause for the customers the actor may see (None = the whole org)."""
    return owned_rows(actor, "Customer", Customer)


def visible_customers(actor: Actor) -> Any:
    stmt = select(Customer).where(Customer.org_id == actor.org_id)
    scope = customer_scope(actor)
    return stmt if scope is None else stmt.where(scope)


def visible_customer_ids(actor: Actor) -> Any:
    """None when every customer of the org is visible, else a subquery of visible ids."""
    scope = customer_scope(actor)
    if scope is None:
        return None
    return select(Customer.id).where(Customer.org_id == actor.org_id, scope)


@reads("Customer")
async def get_customer(
    session: AsyncSession, actor: Actor, customer_id: int
) -> Customer:
    customer = await session.scalar(visible_customers(actor).where(Customer.id == customer_id))
    if customer is None:
        raise NotFound("Customer", customer_id)
    return customer


async def customers_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Customer]:
    rows = await session.scalars(visible_customers(actor).where(Customer.id.in_(ids)))
    return {c.id: c for c in rows}


async def list_customers(
    session: AsyncSession,
    actor: Actor,
    flt: CustomerFilter,
    req: PageRequest,
    *,
    sort: str = "NAME",
    with_total: bool = False,
) -> Page[Customer]:
    return await paginate(session, filtered_customers(session, actor, flt), entity=Customer,
                          sort=CUSTOMER_SORTS[sort], req=req, with_total=with_total)


def filtered_customers(session: AsyncSession, actor: Actor, flt: CustomerFilter) -> Any:
    """The customers the actor may see that pass the filter (a select, unordered)."""
    stmt = visible_customers(actor)
    if flt.search:
        stmt = stmt.where(contains_text(session, Customer.name, flt.search.strip()))
    if flt.tag:
        stmt = stmt.where(json_array_contains(session, Customer.tags, flt.tag.strip()))
    if flt.owner_id is not None:
        stmt = stmt.where(Customer.owner_id == flt.owner_id)
    if flt.tier:
        stmt = stmt.where(Customer.tier == flt.tier)
    if flt.lifecycle_stage:
        stmt = stmt.where(Customer.lifecycle_stage == flt.lifecycle_stage)
    return listed(stmt, Customer, flt.archived)


@handles(UserDeactivated)
async def _hand_over_customers(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    return await hand_over(session, actor, event, Customer, "owner_id",
                           record_type="Customer", topic="customer.reassigned")
