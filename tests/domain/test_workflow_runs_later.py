"""Runs of rules that heard a change and did not match are written just after the change commits (the user's
change does not wait for them): readers of runs see them, a change that rolls back leaves none, a rule deleted
before they are written takes its runs with it, and a process that stops writes what it holds."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tandem.db import Database, create_engine
from tandem.domain.automation.rule import RuleInput, Trigger, WorkflowRun, create_rule, delete_rule
from tandem.domain.automation.rule_engine import catalog
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity, update_opportunity
from tandem.domain.registry import RECORD_TYPES  # noqa: F401  (hands the registry to automation)
from tandem.domain.shared.actor import Actor
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user


async def _deal_with_rules(db, *names):
    """An org, its rep's deal, and rules on deal edits that never match (amount over a trillion)."""
    tag = uuid.uuid4().hex[:6]
    async with db.write() as s:
        org = await create_org(s, f"Later {tag}")
        rep = await create_user(s, org.id, email=f"r-{tag}@later.test", name="销售", roles=["sales_rep"])
        admin = await create_user(s, org.id, email=f"a-{tag}@later.test", name="Admin", roles=["admin"])
        rep_actor = Actor(user_id=rep.id, org_id=org.id, roles=frozenset(rep.roles))
        admin_actor = Actor(user_id=admin.id, org_id=org.id, roles=frozenset(admin.roles))
        customer = await create_customer(s, rep_actor, CustomerInput(name="客户"))
        deal = await create_opportunity(s, rep_actor, OpportunityInput(customer_id=customer.id, name="项目",
                                                                       amount=Decimal("1000")))
        rules = [await create_rule(s, admin_actor, catalog(), RuleInput(
            name=name, object_type="Opportunity", trigger=Trigger.UPDATED,
            conditions={"field": "amount", "op": "gt", "value": "1000000000000"},
            actions=[{"type": "NOTIFY", "to": ["OWNER"], "template": "{{name}}"}]),
            can_read=lambda t, f: True, limited=False) for name in names]
    return org, rep_actor, admin_actor, deal, rules


async def _edit(db, rep, deal, step):
    async with db.write() as s:
        return await update_opportunity(s, rep, deal.id, deal.version, OpportunityInput(
            next_step=step, set_fields={"next_step"}))


async def _runs(db, org_id):
    async with db.read() as s:
        return (await s.scalars(select(WorkflowRun).where(WorkflowRun.org_id == org_id)
                                .order_by(WorkflowRun.id))).all()


async def test_runs_that_matched_nothing_are_there_for_a_reader_once_the_change_commits(db):
    # given
    org, rep, _, deal, [rule] = await _deal_with_rules(db, "大单")
    # when
    await _edit(db, rep, deal, "报价")
    await db.flush_later()  # what a reader of runs does first
    # then
    [run] = await _runs(db, org.id)
    assert (run.rule_id, run.record_id, run.matched, run.actions_done) == (rule.id, deal.id, False, [])
    assert run.condition_results == [{"at": "conditions", "field": "amount", "op": "gt", "result": False}]


async def test_a_change_that_rolls_back_leaves_no_runs(db):
    # given
    org, rep, _, deal, _ = await _deal_with_rules(db, "大单")
    # when
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            await update_opportunity(s, rep, deal.id, deal.version, OpportunityInput(
                next_step="报价", set_fields={"next_step"}))
            raise RuntimeError("the user's unit of work fails after the change")
    await db.flush_later()
    # then
    assert await _runs(db, org.id) == []


async def test_a_rule_deleted_before_its_runs_are_written_takes_them_with_it_and_the_others_stay(db):
    # given
    org, rep, admin, deal, [gone, kept] = await _deal_with_rules(db, "删掉的", "留下的")
    await _edit(db, rep, deal, "报价")
    # when
    async with db.write() as s:
        await delete_rule(s, admin, gone.id, gone.version, limited=False)
    await db.flush_later()
    # then
    assert [r.rule_id for r in await _runs(db, org.id)] == [kept.id]


async def test_a_process_that_stops_writes_the_runs_it_holds(db, settings):
    # given: a second process whose runs would wait a minute
    other = Database(create_engine(settings))
    other.LATER_SECONDS = 60
    org, rep, _, deal, [rule] = await _deal_with_rules(db, "大单")
    await _edit(other, rep, deal, "报价")
    # when
    await other.dispose()
    # then
    async with db.read() as s:
        count = await s.scalar(select(func.count()).select_from(WorkflowRun).where(WorkflowRun.rule_id == rule.id))
    assert count == 1
