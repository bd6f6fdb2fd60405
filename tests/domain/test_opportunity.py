"""Opportunity rules, called on the domain services directly with a real database session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.custom_field import CustomFieldType, define_custom_field
from tandem.domain.pipeline.errors import PipelineErrorCode
from tandem.domain.pipeline.opportunity import (
    Opportunity,
    OpportunityInput,
    create_opportunity,
    get_opportunity,
    move_opportunity_stage,
    stage_history_of,
    update_opportunity,
)
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import Clock, clock
from tandem.domain.shared.errors import Conflict, ErrorCode, SharedErrorCode, ValidationFailed
from tandem.domain.shared.money import MAX_AMOUNT
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import actor_of
from tests.factories.names import unique

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Tenant:
    org_id: int
    rep: Actor
    manager: Actor
    customer_id: int


async def new_tenant(db: Any, *, custom_fields: tuple[dict[str, Any], ...] = ()) -> Tenant:
    """A fresh org (default pipeline) with a manager, a rep and one customer."""
    async with db.write() as session:
        org = await create_org(session, unique("Org"), "CNY")
        manager = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@opp.test", name="Manager",
                                    roles=["sales_manager"])
        rep = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@opp.test", name="Rep",
                                roles=["sales_rep"], manager_id=manager.id)
        for definition in custom_fields:
            await define_custom_field(session, org.id, entity="opportunity", **definition)
        customer = await create_customer(session, actor_of(rep), CustomerInput(name=unique("Customer")))
        return Tenant(org.id, actor_of(rep), actor_of(manager), customer.id)


def opportunity_input(tenant: Tenant, **overrides: Any) -> OpportunityInput:
    fields: dict[str, Any] = {"customer_id": tenant.customer_id, "name": unique("Deal"),
                              "amount": Decimal("1000.00"), "currency": "CNY"}
    return OpportunityInput(**{**fields, **overrides})


def changes(**fields: Any) -> OpportunityInput:
    """An update input naming exactly ``fields``."""
    return OpportunityInput(**fields, set_fields=set(fields))


async def new_opportunity(db: Any, tenant: Tenant, **overrides: Any) -> Opportunity:
    async with db.write() as session:
        return await create_opportunity(session, tenant.rep, opportunity_input(tenant, **overrides))


async def move(db: Any, actor: Actor, opportunity: Opportunity, stage: str, lost_reason: str | None = None
               ) -> Opportunity:
    async with db.write() as session:
        return await move_opportunity_stage(session, actor, opportunity.id, opportunity.version, stage, lost_reason)


async def reload(db: Any, tenant: Tenant, opportunity_id: int) -> Opportunity:
    async with db.read() as session:
        return await get_opportunity(session, tenant.rep, opportunity_id)


async def outbox_topics(db: Any, opportunity_id: int) -> list[tuple[str, str, int | None]]:
    async with db.read() as session:
        rows = await session.execute(
            select(OutboxEvent.topic, OutboxEvent.operation, OutboxEvent.actor_id)
            .where(OutboxEvent.record_type == "Opportunity", OutboxEvent.record_id == opportunity_id)
            .order_by(OutboxEvent.id)
        )
        return [tuple(r) for r in rows]


async def outbox_count(db: Any, org_id: int) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.org_id == org_id))


async def opportunity_count(db: Any, org_id: int) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.org_id == org_id))


def codes(exc: ValidationFailed) -> list[tuple[tuple[str, ...], ErrorCode]]:
    return [(e.field, e.code) for e in exc.errors]


@pytest.fixture
def frozen_clock() -> Iterator[Clock]:
    clock.set(T0)
    yield clock
    clock.set(None)


# --- stage changes ---------------------------------------------------------------------------


async def test_creating_an_opportunity_records_a_first_stage_change_from_none(db, frozen_clock):
    # given
    tenant = await new_tenant(db)
    # when
    opportunity = await new_opportunity(db, tenant)
    # then
    async with db.read() as session:
        history = (await stage_history_of(session, tenant.rep, [opportunity.id]))[opportunity.id]
    assert [(h.from_stage, h.to_stage, h.changed_by_id, h.changed_at) for h in history] == [
        (None, "initial_contact", tenant.rep.user_id, T0),
    ]
    assert (opportunity.stage_key, opportunity.probability, opportunity.version) == ("initial_contact", 10, 1)


async def test_every_stage_move_is_recorded_with_who_and_when_in_order(db, frozen_clock):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    moves = [("proposal", tenant.manager), ("negotiation", tenant.rep), ("proposal", tenant.rep),
             ("negotiation", tenant.manager), ("won", tenant.manager)]
    # when
    for minutes, (stage, actor) in enumerate(moves, start=1):
        frozen_clock.set(T0 + timedelta(minutes=minutes))
        opportunity = await move(db, actor, opportunity, stage)
    # then
    async with db.read() as session:
        history = (await stage_history_of(session, tenant.rep, [opportunity.id]))[opportunity.id]
    assert [(h.from_stage, h.to_stage, h.changed_by_id, h.changed_at) for h in history] == [
        (None, "initial_contact", tenant.rep.user_id, T0),
        ("initial_contact", "proposal", tenant.manager.user_id, T0 + timedelta(minutes=1)),
        ("proposal", "negotiation", tenant.rep.user_id, T0 + timedelta(minutes=2)),
        ("negotiation", "proposal", tenant.rep.user_id, T0 + timedelta(minutes=3)),
        ("proposal", "negotiation", tenant.manager.user_id, T0 + timedelta(minutes=4)),
        ("negotiation", "won", tenant.manager.user_id, T0 + timedelta(minutes=5)),
    ]
    assert opportunity.version == 6


async def test_moving_to_lost_without_a_reason_is_refused(db):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    for reason in (None, "", "   "):
        # when
        with pytest.raises(ValidationFailed) as caught:
            await move(db, tenant.rep, opportunity, "lost", reason)
        # then
        assert codes(caught.value) == [(("lostReason",), PipelineErrorCode.LOST_REASON_REQUIRED)]
    unchanged = await reload(db, tenant, opportunity.id)
    assert (unchanged.stage_key, unchanged.version, unchanged.lost_reason) == ("initial_contact", 1, None)


async def test_moving_to_lost_records_the_reason(db, frozen_clock):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    frozen_clock.set(T0 + timedelta(days=3))
    # when
    await move(db, tenant.rep, opportunity, "lost", "  价格高于竞争对手 ")
    # then
    lost = await reload(db, tenant, opportunity.id)
    assert (lost.stage_key, lost.lost_reason, lost.probability, lost.closed_at) == (
        "lost", "价格高于竞争对手", 0, T0 + timedelta(days=3))
    async with db.read() as session:
        history = (await stage_history_of(session, tenant.rep, [opportunity.id]))[opportunity.id]
    assert [(h.to_stage, h.note) for h in history] == [("initial_contact", None), ("lost", "价格高于竞争对手")]


async def test_moving_to_the_same_stage_is_refused(db):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    opportunity = await move(db, tenant.rep, opportunity, "proposal")
    # when
    with pytest.raises(ValidationFailed) as caught:
        await move(db, tenant.rep, opportunity, "proposal")
    # then
    assert codes(caught.value) == [(("stage",), PipelineErrorCode.STAGE_UNCHANGED)]
    assert (await reload(db, tenant, opportunity.id)).version == 2


async def test_moving_to_an_unknown_stage_is_refused(db):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    # when
    with pytest.raises(ValidationFailed) as caught:
        await move(db, tenant.rep, opportunity, "closed_won")
    # then
    assert codes(caught.value) == [(("stage",), PipelineErrorCode.INVALID_STAGE)]


@pytest.mark.parametrize(("stage", "probability"), [
    ("proposal", 40), ("negotiation", 70), ("won", 100), ("lost", 0),
])
async def test_probability_follows_the_stage_default_on_move(db, stage, probability):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant, probability=25)
    assert opportunity.probability == 25
    # when
    moved = await move(db, tenant.rep, opportunity, stage, "budget cut" if stage == "lost" else None)
    # then
    assert (await reload(db, tenant, moved.id)).probability == probability


async def test_reopening_a_lost_opportunity_clears_lost_reason_and_closed_at(db):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    opportunity = await move(db, tenant.rep, opportunity, "lost", "no budget")
    assert opportunity.closed_at is not None
    # when
    await move(db, tenant.manager, opportunity, "proposal")
    # then
    reopened = await reload(db, tenant, opportunity.id)
    assert (reopened.stage_key, reopened.lost_reason, reopened.closed_at, reopened.probability) == (
        "proposal", None, None, 40)


async def test_winning_sets_closed_at_and_full_probability(db, frozen_clock):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    frozen_clock.set(T0 + timedelta(days=30))
    # when
    await move(db, tenant.rep, opportunity, "won")
    # then
    won = await reload(db, tenant, opportunity.id)
    assert (won.stage_key, won.probability, won.closed_at, won.stage_changed_at) == (
        "won", 100, T0 + timedelta(days=30), T0 + timedelta(days=30))


# --- optimistic concurrency -------------------------------------------------------------------


async def test_update_with_a_stale_version_raises_conflict(db):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    async with db.write() as session:
        updated = await update_opportunity(session, tenant.rep, opportunity.id, 1, changes(next_step="Send quote"))
    assert updated.version == 2
    # when
    with pytest.raises(Conflict) as caught:
        async with db.write() as session:
            await update_opportunity(session, tenant.manager, opportunity.id, 1, changes(name="Overwritten"))
    # then
    assert caught.value.code == "CONFLICT"
    current = await reload(db, tenant, opportunity.id)
    assert (current.name, current.next_step, current.version) == (opportunity.name, "Send quote", 2)


async def test_move_with_a_stale_version_raises_conflict(db):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    await move(db, tenant.rep, opportunity, "proposal")
    # when
    with pytest.raises(Conflict):
        await move(db, tenant.manager, opportunity, "negotiation")  # still holds version 1
    # then
    assert (await reload(db, tenant, opportunity.id)).stage_key == "proposal"


# --- one transaction, one outbox row ---------------------------------------------------------


async def test_validation_failure_inside_a_unit_of_work_leaves_nothing_written(db):
    # given
    tenant = await new_tenant(db)
    outbox_before = await outbox_count(db, tenant.org_id)
    opportunities_before = await opportunity_count(db, tenant.org_id)
    # when: the first write succeeds, the second breaks a rule, in the same transaction
    with pytest.raises(ValidationFailed) as caught:
        async with db.write() as session:
            opportunity = await create_opportunity(session, tenant.rep, opportunity_input(tenant))
            await move_opportunity_stage(session, tenant.rep, opportunity.id, opportunity.version, "lost", None)
    # then
    assert codes(caught.value) == [(("lostReason",), PipelineErrorCode.LOST_REASON_REQUIRED)]
    assert await opportunity_count(db, tenant.org_id) == opportunities_before
    assert await outbox_count(db, tenant.org_id) == outbox_before
    assert await outbox_topics(db, opportunity.id) == []


async def test_invalid_create_writes_no_opportunity_and_no_outbox_row(db):
    # given
    tenant = await new_tenant(db)
    outbox_before = await outbox_count(db, tenant.org_id)
    # when
    with pytest.raises(ValidationFailed) as caught:
        async with db.write() as session:
            await create_opportunity(session, tenant.rep, opportunity_input(tenant, currency="XYZ", name=" "))
    # then
    assert codes(caught.value) == [(("name",), SharedErrorCode.REQUIRED),
                                   (("currency",), SharedErrorCode.INVALID_CURRENCY)]
    assert await opportunity_count(db, tenant.org_id) == 0
    assert await outbox_count(db, tenant.org_id) == outbox_before


async def test_create_update_and_move_each_write_exactly_one_outbox_row(db):
    # given
    tenant = await new_tenant(db)
    rep, manager = tenant.rep.user_id, tenant.manager.user_id
    # when / then: create
    opportunity = await new_opportunity(db, tenant)
    assert await outbox_topics(db, opportunity.id) == [("opportunity.created", "create", rep)]
    # when / then: update
    async with db.write() as session:
        opportunity = await update_opportunity(session, tenant.manager, opportunity.id, opportunity.version,
                                               changes(amount=Decimal("2000.00")))
    assert await outbox_topics(db, opportunity.id) == [("opportunity.created", "create", rep),
                                                       ("opportunity.updated", "update", manager)]
    # when / then: move
    await move(db, tenant.rep, opportunity, "proposal")
    assert await outbox_topics(db, opportunity.id) == [("opportunity.created", "create", rep),
                                                       ("opportunity.updated", "update", manager),
                                                       ("opportunity.stage_moved", "update", rep)]


async def test_outbox_row_commits_or_rolls_back_with_the_change(db):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    # when: the move succeeds but its transaction is abandoned afterwards
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await move_opportunity_stage(session, tenant.rep, opportunity.id, 1, "proposal")
            raise RuntimeError("crash before commit")
    # then
    assert await outbox_topics(db, opportunity.id) == [("opportunity.created", "create", tenant.rep.user_id)]
    assert (await reload(db, tenant, opportunity.id)).stage_key == "initial_contact"


async def test_update_that_changes_nothing_writes_no_outbox_row(db):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant, next_step="Call back")
    # when
    async with db.write() as session:
        same = await update_opportunity(session, tenant.rep, opportunity.id, 1,
                                        changes(next_step="Call back", amount=Decimal("1000")))
    # then
    assert same.version == 1
    assert await outbox_topics(db, opportunity.id) == [("opportunity.created", "create", tenant.rep.user_id)]


# --- money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "currency"), [
    (Decimal("1234567890123.45"), "CNY"),
    (Decimal("0.01"), "USD"),
    (MAX_AMOUNT, "JPY"),
    (MAX_AMOUNT, "CNY"),
    (Decimal("1.234"), "KWD"),
], ids=str)
async def test_amount_round_trips_exactly_as_decimal(db, amount, currency):
    # given
    tenant = await new_tenant(db)
    # when
    created = await new_opportunity(db, tenant, amount=amount, currency=currency)
    # then
    stored = await reload(db, tenant, created.id)
    assert isinstance(stored.amount, Decimal)
    assert (stored.amount, stored.currency) == (amount, currency)


async def test_amount_survives_update_as_decimal(db):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant)
    # when
    async with db.write() as session:
        await update_opportunity(session, tenant.rep, opportunity.id, 1, changes(amount=Decimal("1234567890123.45")))
    # then
    stored = await reload(db, tenant, opportunity.id)
    assert isinstance(stored.amount, Decimal)
    assert stored.amount == Decimal("1234567890123.45")


@pytest.mark.parametrize(("amount", "currency"), [
    (Decimal("100.5"), "JPY"),
    (Decimal("100.00001"), "JPY"),
    (Decimal("1.2345"), "KWD"),
    (Decimal("10.001"), "CNY"),
    (Decimal("-1.00"), "CNY"),
    (MAX_AMOUNT + 1, "CNY"),
    (Decimal("NaN"), "CNY"),
    (Decimal("Infinity"), "USD"),
], ids=str)
async def test_amount_not_allowed_for_its_currency_is_refused(db, amount, currency):
    # given
    tenant = await new_tenant(db)
    # when
    with pytest.raises(ValidationFailed) as caught:
        await new_opportunity(db, tenant, amount=amount, currency=currency)
    # then
    assert codes(caught.value) == [(("amount",), SharedErrorCode.INVALID_AMOUNT)]
    assert await opportunity_count(db, tenant.org_id) == 0


@pytest.mark.parametrize(("amount", "currency"), [
    (Decimal("100"), "JPY"), (Decimal("1.234"), "KWD"), (Decimal("1.230"), "KWD"), (Decimal("10.5"), "CNY"),
], ids=str)
async def test_amount_within_the_currency_minor_unit_is_accepted(db, amount, currency):
    # given
    tenant = await new_tenant(db)
    # when
    created = await new_opportunity(db, tenant, amount=amount, currency=currency)
    # then
    assert (await reload(db, tenant, created.id)).amount == amount


async def test_changing_currency_revalidates_the_existing_amount(db):
    # given
    tenant = await new_tenant(db)
    opportunity = await new_opportunity(db, tenant, amount=Decimal("100.50"), currency="CNY")
    # when
    with pytest.raises(ValidationFailed) as caught:
        async with db.write() as session:
            await update_opportunity(session, tenant.rep, opportunity.id, 1, changes(currency="JPY"))
    # then
    assert codes(caught.value) == [(("amount",), SharedErrorCode.INVALID_AMOUNT)]


# --- custom fields ---------------------------------------------------------------------------

TYPED_FIELDS = (
    {"key": "decision_maker", "label": "Decision maker", "type": CustomFieldType.TEXT},
    {"key": "seats", "label": "Seats", "type": CustomFieldType.NUMBER},
    {"key": "budget", "label": "Budget", "type": CustomFieldType.MONEY},
    {"key": "tender", "label": "Public tender", "type": CustomFieldType.BOOLEAN},
    {"key": "kickoff", "label": "Kick-off", "type": CustomFieldType.DATE},
    {"key": "competitor", "label": "Competitor", "type": CustomFieldType.CHOICE,
     "choices": ["SAP", "Oracle", "用友", "金蝶", "Other"]},
)


async def test_custom_fields_of_every_type_are_stored(db):
    # given
    tenant = await new_tenant(db, custom_fields=TYPED_FIELDS)
    values = {"decision_maker": "王总", "seats": 250, "budget": "1200000.00", "tender": False,
              "kickoff": "2026-07-01", "competitor": "用友"}
    # when
    created = await new_opportunity(db, tenant, custom_fields=values)
    # then
    assert (await reload(db, tenant, created.id)).custom_fields == values


@pytest.mark.parametrize(("key", "value"), [
    ("decision_maker", 42),
    ("decision_maker", "x" * 2001),
    ("seats", "250"),
    ("seats", True),
    ("budget", 1200000.5),
    ("budget", "12 万"),
    ("budget", "NaN"),
    ("tender", "true"),
    ("tender", 1),
    ("kickoff", "2026-13-01"),
    ("kickoff", 20260701),
    ("competitor", "IBM"),
    ("competitor", "sap"),
])
async def test_custom_field_of_the_wrong_type_is_refused(db, key, value):
    # given
    tenant = await new_tenant(db, custom_fields=TYPED_FIELDS)
    # when
    with pytest.raises(ValidationFailed) as caught:
        await new_opportunity(db, tenant, custom_fields={key: value})
    # then
    assert codes(caught.value) == [(("customFields", key), PipelineErrorCode.INVALID_CUSTOM_FIELD)]


async def test_unknown_custom_field_is_refused(db):
    # given
    tenant = await new_tenant(db, custom_fields=TYPED_FIELDS)
    # when
    with pytest.raises(ValidationFailed) as caught:
        await new_opportunity(db, tenant, custom_fields={"region": "华东"})
    # then
    assert codes(caught.value) == [(("customFields", "region"), PipelineErrorCode.UNKNOWN_CUSTOM_FIELD)]


async def test_custom_field_set_to_null_is_removed_and_others_kept(db):
    # given
    tenant = await new_tenant(db, custom_fields=TYPED_FIELDS)
    opportunity = await new_opportunity(db, tenant, custom_fields={"decision_maker": "王总", "competitor": "SAP"})
    # when
    async with db.write() as session:
        await update_opportunity(session, tenant.rep, opportunity.id, 1,
                                 changes(custom_fields={"decision_maker": None, "seats": 12}))
    # then
    assert (await reload(db, tenant, opportunity.id)).custom_fields == {"competitor": "SAP", "seats": 12}


async def test_required_custom_field_must_be_present_on_create(db):
    # given
    tenant = await new_tenant(db, custom_fields=(
        {"key": "budget", "label": "Budget", "type": CustomFieldType.MONEY, "required": True},
    ))
    # when
    with pytest.raises(ValidationFailed) as caught:
        await new_opportunity(db, tenant, custom_fields={})
    # then
    assert codes(caught.value) == [(("customFields", "budget"), SharedErrorCode.REQUIRED)]
    assert await opportunity_count(db, tenant.org_id) == 0


async def test_required_custom_field_cannot_be_removed(db):
    # given
    tenant = await new_tenant(db, custom_fields=(
        {"key": "budget", "label": "Budget", "type": CustomFieldType.MONEY, "required": True},
    ))
    opportunity = await new_opportunity(db, tenant, custom_fields={"budget": "500000"})
    # when
    with pytest.raises(ValidationFailed) as caught:
        async with db.write() as session:
            await update_opportunity(session, tenant.rep, opportunity.id, 1, changes(custom_fields={"budget": None}))
    # then
    assert codes(caught.value) == [(("customFields", "budget"), SharedErrorCode.REQUIRED)]
    assert (await reload(db, tenant, opportunity.id)).custom_fields == {"budget": "500000"}
