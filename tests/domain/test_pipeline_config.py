"""Pipeline configuration rules, on the domain services with a real database: stage order and nature,
required fields, removing a stage with deals, the default pipeline, custom field definitions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.custom_field import CustomFieldDefinition, CustomFieldType, define_custom_field
from tandem.domain.pipeline.errors import PipelineErrorCode
from tandem.domain.pipeline.opportunity import (
    OpportunityInput,
    OpportunityStageChange,
    create_opportunity,
    get_opportunity,
    move_opportunity_stage,
)
from tandem.domain.pipeline.pipeline import (
    StageDefinition,
    create_pipeline,
    define_pipeline_stage,
    list_pipelines,
    remove_pipeline_stage,
)
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.errors import ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import actor_of
from tests.factories.names import unique


@dataclass
class Org:
    admin: Actor
    rep: Actor
    customer_id: int


async def new_org(db: Any) -> Org:
    async with db.write() as session:
        org = await create_org(session, unique("Org"), "CNY")
        admin = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@cfg.test", name="管理员", roles=["admin"])
        rep = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@cfg.test", name="销售", roles=["sales_rep"])
        customer = await create_customer(session, actor_of(rep), CustomerInput(name=unique("客户")))
        return Org(actor_of(admin), actor_of(rep), customer.id)


def stage(pipeline_id: int, key: str, order: int, **fields: Any) -> StageDefinition:
    return StageDefinition(pipeline_id=pipeline_id, key=key, label=fields.pop("label", key), order=order,
                           default_probability=fields.pop("probability", 10), **fields)


async def business_line(db: Any, org: Org, *, is_default: bool = False) -> int:
    """A pipeline with stages a (open), won and lost."""
    async with db.write() as session:
        pipeline = await create_pipeline(session, org.admin, name=unique("业务线"), key=None, is_default=is_default)
        for definition in (stage(pipeline.id, "a", 1), stage(pipeline.id, "won", 2, is_won=True, probability=100),
                           stage(pipeline.id, "lost", 3, is_lost=True, probability=0)):
            await define_pipeline_stage(session, org.admin, definition)
        return pipeline.id


async def keys(db: Any, org: Org, pipeline_id: int) -> list[tuple[str, int]]:
    async with db.read() as session:
        found = dict((p.id, stages) for p, stages in await list_pipelines(session, org.admin.org_id))
    return [(s.key, s.position) for s in found[pipeline_id]]


def codes(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[tuple[str, ...], str]]:
    return [(e.field, e.code.value) for e in exc.value.errors]


async def test_a_stage_takes_the_place_it_names_and_the_others_make_room(db):
    # given a pipeline a, won, lost
    org = await new_org(db)
    pipeline_id = await business_line(db, org)
    # when a stage is added second, and then "lost" is moved first and relabelled
    async with db.write() as session:
        await define_pipeline_stage(session, org.admin, stage(pipeline_id, "b", 2))
        await define_pipeline_stage(session, org.admin, stage(pipeline_id, "lost", 1, is_lost=True, label="丢单"))
    # then the order is as asked, numbered without gaps
    assert await keys(db, org, pipeline_id) == [("lost", 0), ("a", 1), ("b", 2), ("won", 3)]
    # and an order past the end puts the stage last
    async with db.write() as session:
        await define_pipeline_stage(session, org.admin, stage(pipeline_id, "c", 99))
    assert (await keys(db, org, pipeline_id))[-1] == ("c", 4)


async def test_a_deal_created_into_a_stage_needs_its_required_fields(db):
    # given a required-to-enter stage b needing an expected close date
    org = await new_org(db)
    pipeline_id = await business_line(db, org)
    async with db.write() as session:
        await define_pipeline_stage(session, org.admin, stage(pipeline_id, "b", 2,
                                                             required_fields=("expectedCloseDate",)))
    # when a deal is created straight into it without one
    with pytest.raises(ValidationFailed) as refused:
        async with db.write() as session:
            await create_opportunity(session, org.rep, OpportunityInput(
                customer_id=org.customer_id, name="直接进入", stage="b", pipeline_id=pipeline_id))
    # then it is refused for that field
    assert codes(refused) == [(("expectedCloseDate",), PipelineErrorCode.STAGE_FIELDS_MISSING.value)]


async def test_removing_a_stage_moves_its_deals_with_their_history(db):
    # given a deal in stage b
    org = await new_org(db)
    pipeline_id = await business_line(db, org)
    async with db.write() as session:
        await define_pipeline_stage(session, org.admin, stage(pipeline_id, "b", 2))
        deal = await create_opportunity(session, org.rep, OpportunityInput(
            customer_id=org.customer_id, name="迁移", stage="b", pipeline_id=pipeline_id))
    # when b is removed, its deals going to a
    async with db.write() as session:
        await remove_pipeline_stage(session, org.admin, pipeline_id=pipeline_id, key="b", move_to="a")
    # then the deal is in a, its history says why, an event says so, and it moves on as before
    async with db.read() as session:
        moved = await get_opportunity(session, org.rep, deal.id)
        history = list(await session.scalars(select(OpportunityStageChange).where(
            OpportunityStageChange.opportunity_id == deal.id).order_by(OpportunityStageChange.id)))
        topics = list(await session.scalars(select(OutboxEvent.topic).where(
            OutboxEvent.org_id == org.rep.org_id, OutboxEvent.record_id == deal.id,
            OutboxEvent.record_type == "Opportunity").order_by(OutboxEvent.id)))
    assert moved.stage_key == "a"
    assert [(h.from_stage, h.to_stage, h.note) for h in history] == [(None, "b", None), ("b", "a", "b removed")]
    assert topics[-1] == "opportunity.stage_moved"
    async with db.write() as session:
        won = await move_opportunity_stage(session, org.rep, deal.id, moved.version, "won")
    assert won.stage_key == "won"
    # and the won and lost stages stay
    with pytest.raises(ValidationFailed) as refused:
        async with db.write() as session:
            await remove_pipeline_stage(session, org.admin, pipeline_id=pipeline_id, key="won", move_to="a")
    assert codes(refused) == [(("key",), PipelineErrorCode.CLOSING_STAGE_NEEDED.value)]


async def test_a_new_default_pipeline_takes_new_deals_and_old_ones_stay(db):
    # given a deal in the org's first default pipeline
    org = await new_org(db)
    async with db.write() as session:
        old = await create_opportunity(session, org.rep, OpportunityInput(customer_id=org.customer_id, name="旧"))
    # when another pipeline becomes the default
    pipeline_id = await business_line(db, org, is_default=True)
    async with db.write() as session:
        new = await create_opportunity(session, org.rep, OpportunityInput(customer_id=org.customer_id, name="新"))
        defaults = [p.id for p, _ in await list_pipelines(session, org.admin.org_id) if p.is_default]
    # then it is the only default, new deals enter it, and the old deal keeps its own
    assert defaults == [pipeline_id]
    assert (new.pipeline_id, new.stage_key) == (pipeline_id, "a")
    assert old.pipeline_id != pipeline_id and old.stage_key == "initial_contact"
    async with db.write() as session:
        moved = await move_opportunity_stage(session, org.rep, old.id, old.version, "proposal")
    assert moved.stage_key == "proposal"


async def test_custom_fields_of_the_first_types_keep_working_under_their_new_names(db):
    # given fields defined with the first names (choice, boolean)
    org = await new_org(db)
    async with db.write() as session:
        await define_custom_field(session, org.admin.org_id, entity="opportunity", key="region", label="区域",
                                  type=CustomFieldType.CHOICE, choices=["华东", "华北"])
        await define_custom_field(session, org.admin.org_id, entity="opportunity", key="vip", label="VIP",
                                  type=CustomFieldType.BOOLEAN)
        stored = {d.key: d.type for d in await session.scalars(select(CustomFieldDefinition).where(
            CustomFieldDefinition.org_id == org.admin.org_id))}
    # then they are SELECT and BOOL, and values are checked as before
    assert stored == {"region": "select", "vip": "bool"}
    async with db.write() as session:
        deal = await create_opportunity(session, org.rep, OpportunityInput(
            customer_id=org.customer_id, name="字段", custom_fields={"region": "华东", "vip": True}))
    assert deal.custom_fields == {"region": "华东", "vip": True}
    with pytest.raises(ValidationFailed) as refused:
        async with db.write() as session:
            await create_opportunity(session, org.rep, OpportunityInput(
                customer_id=org.customer_id, name="字段", custom_fields={"region": "华南"}))
    assert codes(refused) == [(("customFields", "region"), PipelineErrorCode.INVALID_CUSTOM_FIELD.value)]
