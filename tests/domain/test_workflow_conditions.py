"""Workflow rule conditions: the interpreter on its own (no I/O), validation against the registry and the
author's read permissions, and a rule running in the unit of work of a change."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.automation.conditions import Facts, evaluate, validate_conditions
from tandem.domain.automation.rule import RuleInput, Trigger, WorkflowRun, create_rule
from tandem.domain.automation.rule_cron import cron_due, parse_cron
from tandem.domain.automation.rule_engine import catalog
from tandem.domain.crm.customer import CustomerInput, CustomerTier, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity, update_opportunity
from tandem.domain.registry import RECORD_TYPES  # noqa: F401  (hands the registry to automation)
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.errors import ValidationFailed, Validator
from tandem.domain.shared.notification import Notification
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _facts(values=None, change=None):
    return Facts(values or {}, change or {}, NOW)


@pytest.mark.parametrize(("tree", "values", "expected"), [
    ({"field": "amount", "op": "gt", "value": "500000"}, {"amount": Decimal("500000.01")}, True),
    ({"field": "amount", "op": "gt", "value": 500000}, {"amount": Decimal("500000.00")}, False),
    ({"field": "amount", "op": "gte", "value": "500000"}, {"amount": Decimal("500000.0000")}, True),
    ({"field": "amount", "op": "eq", "value": "0.1"}, {"amount": Decimal("0.10")}, True),
    ({"field": "tier", "op": "in", "value": ["A", "B"]}, {"tier": "B"}, True),
    ({"field": "tier", "op": "ne", "value": "A"}, {"tier": None}, True),
    ({"field": "name", "op": "contains", "value": "华为"}, {"name": "深圳华为项目"}, True),
    ({"field": "name", "op": "startsWith", "value": "ACME"}, {"name": "acme rollout"}, True),
    ({"field": "name", "op": "startsWith", "value": "ＡＣＭＥ"}, {"name": "acme　华东扩容"}, True),  # full-width input
    ({"field": "name", "op": "contains", "value": "ｅｒｐ二期"}, {"name": "华为ERP二期实施"}, True),
    ({"field": "tags", "op": "contains", "value": "vip"}, {"tags": ["vip", "new"]}, True),
    ({"field": "nextStep", "op": "isEmpty"}, {"nextStep": ""}, True),
    ({"field": "expectedCloseDate", "op": "lt", "value": "2026-12-31"}, {"expectedCloseDate": date(2026, 12, 1)}, True),
    ({"field": "stageChangedAt", "op": "daysSince", "value": 3},
     {"stageChangedAt": datetime(2026, 12, 4, 11, 0, tzinfo=UTC)}, True),
    ({"field": "stageChangedAt", "op": "daysSince", "value": 3},
     {"stageChangedAt": datetime(2026, 12, 4, 13, 0, tzinfo=UTC)}, False),
    ({"not": {"field": "tier", "op": "eq", "value": "A"}}, {"tier": "A"}, False),
    ({"any": [{"field": "tier", "op": "eq", "value": "A"}, {"field": "amount", "op": "lt", "value": 10}]},
     {"tier": "C", "amount": Decimal(5)}, True),
    ({"all": [{"field": "tier", "op": "eq", "value": "A"}, {"field": "amount", "op": "lt", "value": 10}]},
     {"tier": "C", "amount": Decimal(5)}, False),
    ({"field": "amount", "op": "gt", "value": "abc"}, {"amount": Decimal(5)}, False),
])
def test_the_interpreter_reads_values(tree, values, expected):
    # when
    matched, results = evaluate(tree, _facts(values))
    # then
    assert matched is expected
    assert all(set(r) == {"at", "field", "op", "result"} for r in results)


@pytest.mark.parametrize(("op", "value", "expected"), [
    ("changed", None, True), ("changedTo", "negotiation", True), ("changedFrom", "proposal", True),
    ("changedFrom", "negotiation", False),
])
def test_change_tests_read_the_change(op, value, expected):
    # given
    tree = {"field": "stage", "op": op, **({"value": value} if value is not None else {})}
    # when
    matched, _ = evaluate(tree, _facts(change={"stage": ["proposal", "negotiation"]}))
    # then
    assert matched is expected


def test_a_change_test_on_a_field_that_did_not_change_is_false():
    matched, [result] = evaluate({"field": "amount", "op": "changed"}, _facts(change={"stage": ["a", "b"]}))
    assert (matched, result["result"]) == (False, False)


def test_each_test_reports_its_result_by_its_place_in_the_tree():
    # when
    _, results = evaluate({"all": [{"field": "tier", "op": "eq", "value": "A"},
                                   {"not": {"field": "amount", "op": "gt", "value": 1}}]},
                          _facts({"tier": "A", "amount": Decimal(2)}))
    # then
    assert results == [{"at": "conditions.all.0", "field": "tier", "op": "eq", "result": True},
                       {"at": "conditions.all.1.not", "field": "amount", "op": "gt", "result": True}]


def _codes(tree, can_read=lambda t, f: True, object_type="Opportunity"):
    v = Validator()
    validate_conditions(v, catalog(), object_type, tree, can_read)
    return [(".".join(e.field), e.code.value) for e in v.errors]


@pytest.mark.parametrize(("tree", "expected"), [
    ({"field": "amount", "op": "gt", "value": "500000"}, []),
    ({"all": [{"field": "customer.tier", "op": "eq", "value": "A"}, {"field": "owner.team", "op": "isEmpty"}]}, []),
    ({"field": "amout", "op": "gt", "value": 1}, [("conditions.field", "UNKNOWN_FIELD")]),
    ({"field": "customer.nope", "op": "eq", "value": 1}, [("conditions.field", "UNKNOWN_FIELD")]),
    ({"field": "name.first", "op": "eq", "value": 1}, [("conditions.field", "UNKNOWN_FIELD")]),
    ({"field": "amount", "op": "matches", "value": ".*"}, [("conditions", "INVALID_CONDITION")]),
    ({"field": "amount", "op": "in", "value": "A"}, [("conditions.value", "INVALID_CONDITION")]),
    ({"field": "amount", "op": "gt"}, [("conditions.value", "INVALID_CONDITION")]),
    ({"all": []}, [("conditions.all", "INVALID_CONDITION")]),
    ({"all": [1]}, [("conditions.all.0", "INVALID_CONDITION")]),
    ({"and": [{"field": "amount", "op": "isEmpty"}]}, [("conditions", "INVALID_CONDITION")]),
    ("__import__('os')", [("conditions", "INVALID_CONDITION")]),
    ({"field": "customer.tier", "op": "changed"}, [("conditions.field", "INVALID_CONDITION")]),
])
def test_validation_names_the_bad_part(tree, expected):
    assert _codes(tree) == expected


def test_a_deep_tree_is_refused():
    tree: dict = {"field": "amount", "op": "isEmpty"}
    for _ in range(20):
        tree = {"not": tree}
    assert ("conditions" + ".not" * 11, "INVALID_CONDITION") in _codes(tree)


def test_a_field_the_author_may_not_read_is_refused_even_through_a_relation():
    # given
    hidden = {("Customer", "creditLimit"), ("Opportunity", "amount")}

    def can_read(type_name, field):
        return (type_name, field) not in hidden

    # then
    assert _codes({"field": "customer.creditLimit", "op": "gt", "value": 1}, can_read) == [
        ("conditions.field", "FIELD_NOT_READABLE")]
    assert _codes({"field": "amount", "op": "gt", "value": 1}, can_read) == [
        ("conditions.field", "FIELD_NOT_READABLE")]
    assert _codes({"field": "customer.tier", "op": "eq", "value": "A"}, can_read) == []


async def _world(db):
    tag = uuid.uuid4().hex[:6]
    async with db.write() as s:
        org = await create_org(s, f"Rules {tag}")
        manager = await create_user(s, org.id, email=f"m-{tag}@rules.test", name="经理", roles=["sales_manager"])
        rep = await create_user(s, org.id, email=f"r-{tag}@rules.test", name="销售", roles=["sales_rep"],
                                manager_id=manager.id)
        admin = await create_user(s, org.id, email=f"a-{tag}@rules.test", name="Admin", roles=["admin"])
    actors = {u: Actor(user_id=x.id, org_id=org.id, roles=frozenset(x.roles))
              for u, x in (("manager", manager), ("rep", rep), ("admin", admin))}
    return org, actors


async def test_a_rule_runs_in_the_unit_of_work_of_the_change_it_reacts_to(db):
    # given
    org, actors = await _world(db)
    async with db.write() as s:
        customer = await create_customer(s, actors["rep"], CustomerInput(name="大客户", tier=CustomerTier.KEY))
        opportunity = await create_opportunity(s, actors["rep"], OpportunityInput(
            customer_id=customer.id, name="扩容", amount=Decimal("100000")))
        rule = await create_rule(s, actors["admin"], catalog(), RuleInput(
            name="Big A deals", object_type="Opportunity", trigger=Trigger.UPDATED,
            trigger_options={"fieldsChanged": ["amount"]},
            conditions={"all": [{"field": "amount", "op": "gt", "value": "500000"},
                                {"field": "customer.tier", "op": "eq", "value": "key"}]},
            actions=[{"type": "NOTIFY", "to": ["OWNER_MANAGER"], "template": "{{name}}: {{amount}}"}]),
            can_read=lambda t, f: True, limited=False)
    # when
    async with db.write() as s:
        await update_opportunity(s, actors["rep"], opportunity.id, opportunity.version, OpportunityInput(
            amount=Decimal("600000"), set_fields={"amount"}))
    # then
    async with db.read() as s:
        [run] = (await s.scalars(select(WorkflowRun).where(WorkflowRun.rule_id == rule.id))).all()
        [note] = (await s.scalars(select(Notification).where(Notification.org_id == org.id,
                                                             Notification.topic == "workflow.notified"))).all()
    assert run.matched and run.errors == [] and [a["type"] for a in run.actions_done] == ["NOTIFY"]
    assert note.user_id == actors["manager"].user_id
    assert note.payload["values"] == {"name": "扩容", "amount": "600000.0000"}


async def test_a_rule_whose_action_triggers_itself_stops_at_the_depth_limit(db):
    # given: a rule that appends to the next step whenever the deal changes
    org, actors = await _world(db)
    async with db.write() as s:
        customer = await create_customer(s, actors["rep"], CustomerInput(name="循环"))
        opportunity = await create_opportunity(s, actors["rep"], OpportunityInput(customer_id=customer.id,
                                                                                  name="Loop"))
        await create_rule(s, actors["admin"], catalog(), RuleInput(
            name="Append", object_type="Opportunity", trigger=Trigger.UPDATED,
            actions=[{"type": "SET_FIELD", "field": "nextStep", "value": "{{nextStep}}+"}]),
            can_read=lambda t, f: True, limited=False)
    # when
    async with db.write() as s:
        updated = await update_opportunity(s, actors["rep"], opportunity.id, opportunity.version, OpportunityInput(
            next_step="call", set_fields={"next_step"}))
    # then: the user's change and five reactions are kept; the sixth is refused and recorded
    async with db.read() as s:
        runs = (await s.scalars(select(WorkflowRun).where(WorkflowRun.org_id == org.id)
                                .order_by(WorkflowRun.id))).all()
    assert [r.depth for r in runs] == [0, 1, 2, 3, 4, 5]
    assert [r.errors[0]["code"] for r in runs if r.errors] == ["RULE_LOOP"]
    assert runs[-1].actions_done == []
    assert updated.next_step == "call+++++"


async def test_a_rule_input_with_bad_parts_is_refused_whole(db):
    _, actors = await _world(db)
    with pytest.raises(ValidationFailed) as failed:
        async with db.write() as s:
            await create_rule(s, actors["admin"], catalog(), RuleInput(
                name="Bad", object_type="Opportunity", trigger=Trigger.UPDATED,
                conditions={"field": "nope", "op": "eq", "value": 1},
                actions=[{"type": "LAUNCH"}]), can_read=lambda t, f: True, limited=False)
    assert {(".".join(e.field), e.code.value) for e in failed.value.errors} == {
        ("conditions.field", "UNKNOWN_FIELD"), ("actions.0", "INVALID_ACTION")}


@pytest.mark.parametrize(("cron", "zone_name", "after", "until", "expected"), [
    # Monday 2026-12-07 01:00 UTC is 09:00 in Shanghai
    ("0 9 * * 1", "Asia/Shanghai", datetime(2026, 12, 7, 0, 59, tzinfo=UTC), datetime(2026, 12, 7, 1, 0, tzinfo=UTC),
     True),
    ("0 9 * * 1", "Asia/Shanghai", datetime(2026, 12, 7, 1, 0, tzinfo=UTC), datetime(2026, 12, 7, 2, 0, tzinfo=UTC),
     False),
    ("0 9 * * 1", None, datetime(2026, 12, 7, 0, 0, tzinfo=UTC), datetime(2026, 12, 7, 9, 0, tzinfo=UTC), True),
    ("*/15 8-18 * * 1-5", None, datetime(2026, 12, 5, 0, 0, tzinfo=UTC), datetime(2026, 12, 6, 23, 59, tzinfo=UTC),
     False),  # a weekend
    ("0 0 1 * *", None, datetime(2026, 11, 30, 23, 0, tzinfo=UTC), datetime(2026, 12, 1, 0, 0, tzinfo=UTC), True),
])
def test_a_cron_names_the_minutes_of_its_time_zone(cron, zone_name, after, until, expected):
    assert cron_due(cron, zone_name, after, until) is expected


@pytest.mark.parametrize("cron", ["", "* * * *", "61 * * * *", "* 24 * * *", "*/0 * * * *", "a b c d e", "5-1 * * * *"])
def test_a_cron_this_does_not_read_is_refused(cron):
    with pytest.raises(ValueError):
        parse_cron(cron)
