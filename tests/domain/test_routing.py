"""Lead and opportunity routing by assignment rules, called on the domain directly: who gets a new record and
why, round robin's fairness under parallel creations, capacity, leave, territories, the fallback owner and the
lead response SLA (with the clock set)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tandem.domain.automation.errors import AutomationErrorCode
from tandem.domain.automation.routing import (
    Assignment,
    AssignmentMethod,
    AssignmentRuleInput,
    RoutedType,
    assignments_of,
    create_assignment_rule,
    run_lead_response,
    set_assignment_fallback,
    set_availability,
)
from tandem.domain.collaboration.comment import add_comment
from tandem.domain.crm.customer import CustomerInput, CustomerTier, create_customer
from tandem.domain.crm.lead import Lead, LeadInput, LeadSource, create_lead
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.shared.notification import Notification
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import PG_URL, actor_of
from tests.factories.checks import fails

MONDAY = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@dataclass
class SalesOrg:
    """An admin, a marketer who takes in web leads, a manager and five reps reporting to them."""

    org_id: int
    admin: Actor
    marketing: Actor
    manager: Actor
    reps: list[Actor]


async def new_sales_org(db: Any, *, territories: tuple[str | None, ...] = (None,) * 5,
                        capacity: int = 1000) -> SalesOrg:
    tag = uuid.uuid4().hex[:10]
    async with db.write() as s:
        org = await create_org(s, f"路由 {tag}", "CNY")

        async def user(key: str, name: str, roles: list[str], manager: Actor | None = None,
                       territory: str | None = None) -> Actor:
            u = await create_user(s, org.id, email=f"{key}-{tag}@routing.test", name=name, roles=roles,
                                  manager_id=manager.user_id if manager else None, territory=territory,
                                  capacity=capacity)
            return actor_of(u)

        admin = await user("admin", "管理员", ["admin"])
        marketing = await user("marketing", "市场部", ["marketing"])
        manager = await user("manager", "王经理", ["sales_manager"])
        names = ("张伟", "李娜", "王芳", "刘洋", "陈静")
        reps = [await user(f"rep{n}", names[n], ["sales_rep"], manager, territories[n]) for n in range(5)]
    return SalesOrg(org.id, admin, marketing, manager, reps)


async def rule(db: Any, org: SalesOrg, **fields: Any) -> Any:
    data = {"name": "网站线索", "object_type": RoutedType.LEAD, "method": AssignmentMethod.ROUND_ROBIN,
            "member_ids": [r.user_id for r in org.reps], **fields}
    async with db.write() as s:
        return await create_assignment_rule(s, org.admin, AssignmentRuleInput(**data))


async def lead(db: Any, org: SalesOrg, **fields: Any) -> tuple[Lead, Assignment | None]:
    async with db.write() as s:
        created = await create_lead(s, org.marketing, LeadInput(**{"name": "赵敏", **fields}))
    async with db.read() as s:
        found = await assignments_of(s, org.org_id, "Lead", [created.id])
        fresh = await s.get(Lead, created.id)
    return fresh, found.get(created.id)


# --- round robin ------------------------------------------------------------------------------------


async def test_round_robin_deals_leads_to_each_rep_in_turn(db: Any) -> None:
    # given
    org = await new_sales_org(db)
    await rule(db, org)

    # when
    routed = [await lead(db, org) for _ in range(7)]

    # then
    owners = [lead.owner_id for lead, _ in routed]
    assert owners == [r.user_id for r in org.reps] + [org.reps[0].user_id, org.reps[1].user_id]
    first = routed[0][1]
    assert (first.rule_name, first.method, first.reason) == ("网站线索", "round_robin", "round robin: 张伟's turn")


@pytest.mark.parametrize("leads", [1000 if PG_URL else 100])
async def test_round_robin_stays_fair_when_ten_clients_create_leads_at_once(db: Any, leads: int) -> None:
    # given five reps and ten clients creating leads in parallel sessions
    org = await new_sales_org(db)
    await rule(db, org)

    async def client(n: int) -> None:
        for _ in range(leads // 10):
            async with db.write() as s:
                await create_lead(s, org.marketing, LeadInput(name=f"客户 {n}"))

    # when
    await asyncio.gather(*(client(n) for n in range(10)))

    # then every rep got the same number, give or take one
    async with db.read() as s:
        owners = Counter((await s.scalars(select(Lead.owner_id).where(Lead.org_id == org.org_id))).all())
    assert sum(owners.values()) == leads
    assert set(owners) == {r.user_id for r in org.reps}
    assert max(owners.values()) - min(owners.values()) <= 1


# --- capacity, leave, load ----------------------------------------------------------------------------


async def test_a_rep_at_capacity_is_passed_over_with_the_reason_shown(db: Any) -> None:
    # given reps who can hold one open lead each, and 张伟 holding one already
    org = await new_sales_org(db, capacity=1)
    await rule(db, org, member_ids=[org.reps[0].user_id, org.reps[1].user_id])
    async with db.write() as s:
        await create_lead(s, org.marketing, LeadInput(name="旧线索", owner_id=org.reps[0].user_id))

    # when the next two leads come in
    second, why = await lead(db, org)
    third, none = await lead(db, org)

    # then 李娜 takes the first; nobody can take the second, so its creator keeps it
    assert second.owner_id == org.reps[1].user_id
    assert why.reason == "round robin: 李娜's turn; passed over: 张伟 is at capacity (1 of 1 open leads)"
    assert third.owner_id == org.marketing.user_id
    assert none.code == AutomationErrorCode.NO_ELIGIBLE_ASSIGNEE.value
    assert none.method is None
    assert none.reason == ("rule 网站线索: no member can take it; passed over: "
                           "张伟 is at capacity (1 of 1 open leads); 李娜 is at capacity (1 of 1 open leads); "
                           "市场部 (the creator) keeps it")


async def test_a_rep_on_leave_gets_nothing_until_they_are_back(db: Any) -> None:
    # given 张伟 on leave this week
    org = await new_sales_org(db)
    await rule(db, org, member_ids=[org.reps[0].user_id, org.reps[1].user_id])
    async with db.write() as s:
        await set_availability(s, org.admin, org.reps[0].user_id, MONDAY, MONDAY + timedelta(days=5))
    clock.set(MONDAY + timedelta(days=1))
    try:
        # when
        during = [await lead(db, org) for _ in range(2)]
        clock.set(MONDAY + timedelta(days=5))
        after, _ = await lead(db, org)
    finally:
        clock.set(None)

    # then
    assert [lead.owner_id for lead, _ in during] == [org.reps[1].user_id] * 2
    assert during[0][1].reason == "round robin: 李娜's turn; passed over: 张伟 is on leave until 2026-06-06 09:00 UTC"
    assert after.owner_id == org.reps[0].user_id


async def test_leave_counts_only_when_the_rule_skips_the_unavailable(db: Any) -> None:
    org = await new_sales_org(db)
    await rule(db, org, member_ids=[org.reps[0].user_id], skip_unavailable=False)
    async with db.write() as s:
        await set_availability(s, org.admin, org.reps[0].user_id, MONDAY, MONDAY + timedelta(days=5))
    clock.set(MONDAY + timedelta(days=1))
    try:
        routed, _ = await lead(db, org)
    finally:
        clock.set(None)
    assert routed.owner_id == org.reps[0].user_id


async def test_load_balancing_gives_the_lead_to_the_rep_with_the_fewest_open_leads(db: Any) -> None:
    # given 张伟 holds two open leads, 李娜 one, 王芳 none
    org = await new_sales_org(db)
    async with db.write() as s:
        for rep, n in ((org.reps[0], 2), (org.reps[1], 1)):
            for _ in range(n):
                await create_lead(s, org.marketing, LeadInput(name="旧线索", owner_id=rep.user_id))
    await rule(db, org, method=AssignmentMethod.LOAD_BALANCED, member_ids=[r.user_id for r in org.reps[:3]])

    # when
    routed = [await lead(db, org) for _ in range(3)]

    # then 王芳 first, then 王芳 and 李娜 tie on load and 李娜... each time the lightest load
    assert routed[0][0].owner_id == org.reps[2].user_id
    assert routed[0][1].reason == "load balanced: 王芳 has the lightest load (0 of 1000 open leads)"
    assert Counter(lead.owner_id for lead, _ in routed) == {org.reps[2].user_id: 2, org.reps[1].user_id: 1}


# --- territories, conditions, order -------------------------------------------------------------------


async def test_territory_routes_a_lead_by_its_chinese_region_and_says_why(db: Any) -> None:
    # given 张伟 covers 华东 and 华南, 李娜 华北
    org = await new_sales_org(db, territories=("华东、华南", "华北", None, None, None))
    await rule(db, org, name="区域分配", method=AssignmentMethod.TERRITORY, member_ids=[])

    # when
    east, east_why = await lead(db, org, region="华东")
    north, north_why = await lead(db, org, region="华北")
    west, west_why = await lead(db, org, region="西南")

    # then
    assert east.owner_id == org.reps[0].user_id
    assert east_why.reason == "territory 华东 matches region 华东: 张伟"
    assert (east_why.rule_name, east_why.method) == ("区域分配", "territory")
    assert north.owner_id == org.reps[1].user_id
    assert west.owner_id == org.marketing.user_id
    assert west_why.code == AutomationErrorCode.NO_ELIGIBLE_ASSIGNEE.value
    assert west_why.reason.startswith("rule 区域分配: no member's territory covers region 西南")


async def test_territories_and_regions_typed_in_full_width_forms_still_match(db: Any) -> None:
    # given 张伟 covers ＥＭＥＡ／华东 (typed with a Chinese input method: full-width letters and slash)
    org = await new_sales_org(db, territories=("ＥＭＥＡ／华东", None, None, None, None))
    await rule(db, org, name="区域分配", method=AssignmentMethod.TERRITORY, member_ids=[])
    # when leads come in from "emea" and "华东　" (an ideographic space after it)
    emea, emea_why = await lead(db, org, region="emea")
    east, _ = await lead(db, org, region="华东　")
    # then both are his, and the reason names the territory as he wrote it
    assert emea.owner_id == east.owner_id == org.reps[0].user_id
    assert emea_why.reason == "territory EMEA matches region emea: 张伟"


async def test_the_first_matching_rule_wins_and_unmatched_leads_go_to_the_fallback_owner(db: Any) -> None:
    # given a rule for referrals before a catch-all for 制造 leads, and the manager as fallback
    org = await new_sales_org(db)
    await rule(db, org, name="推荐", conditions=[{"field": "source", "eq": "REFERRAL"}],
               member_ids=[org.reps[0].user_id])
    await rule(db, org, name="制造业", conditions=[{"field": "industry", "in": ["制造", "能源"]}],
               member_ids=[org.reps[1].user_id])
    async with db.write() as s:
        await set_assignment_fallback(s, org.admin, org.manager.user_id)

    # when
    referral, _ = await lead(db, org, source=LeadSource.REFERRAL, industry="制造")
    factory, _ = await lead(db, org, industry="能源")
    other, why = await lead(db, org, industry="教育")

    # then
    assert referral.owner_id == org.reps[0].user_id
    assert factory.owner_id == org.reps[1].user_id
    assert other.owner_id == org.manager.user_id
    assert (why.reason, why.code, why.rule_name) == ("no assignment rule matched; fallback owner 王经理", None, None)


async def test_a_lead_given_an_owner_or_in_an_org_without_rules_is_not_routed(db: Any) -> None:
    org = await new_sales_org(db)
    unrouted, none = await lead(db, org)
    assert (unrouted.owner_id, none) == (org.marketing.user_id, None)
    await rule(db, org)
    named, still_none = await lead(db, org, owner_id=org.reps[3].user_id)
    assert (named.owner_id, still_none) == (org.reps[3].user_id, None)


async def test_an_opportunity_without_an_owner_is_routed_by_its_customers_tier(db: Any) -> None:
    # given 陈静 covers strategic customers
    org = await new_sales_org(db, territories=(None, None, None, None, "strategic"))
    await rule(db, org, name="战略客户", object_type=RoutedType.OPPORTUNITY, method=AssignmentMethod.TERRITORY,
               member_ids=[r.user_id for r in org.reps])
    async with db.write() as s:
        customer = await create_customer(s, org.manager, CustomerInput(name="中石化", tier=CustomerTier.STRATEGIC))
        # when
        opportunity = await create_opportunity(s, org.manager, OpportunityInput(customer_id=customer.id,
                                                                                 name="炼化项目"))
    # then
    async with db.read() as s:
        found = (await assignments_of(s, org.org_id, "Opportunity", [opportunity.id]))[opportunity.id]
    assert opportunity.owner_id == org.reps[4].user_id
    assert found.reason == "territory strategic matches tier strategic: 陈静"


async def test_a_routed_lead_says_so_on_its_timeline_and_tells_its_new_owner(db: Any) -> None:
    org = await new_sales_org(db, territories=("华东", None, None, None, None))
    await rule(db, org, method=AssignmentMethod.TERRITORY)
    routed, _ = await lead(db, org, region="华东")
    async with db.read() as s:
        events = (await s.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == org.org_id, OutboxEvent.record_id == routed.id,
            OutboxEvent.record_type == "Lead").order_by(OutboxEvent.id))).all()
        inbox = (await s.scalars(select(Notification.topic).where(
            Notification.user_id == org.reps[0].user_id))).all()
    assert [e.topic for e in events] == ["lead.created", "lead.assigned"]
    assigned = events[1].payload
    assert (assigned["ownerId"], assigned["previousOwnerId"]) == (org.reps[0].user_id, org.marketing.user_id)
    assert assigned["reason"] == "territory 华东 matches region 华东: 张伟"
    assert inbox == ["lead.assigned"]


# --- configuration errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "code"), [
    ({"conditions": [{"field": "budget", "eq": "1"}]}, AutomationErrorCode.UNKNOWN_FIELD),
    ({"conditions": [{"field": "region", "like": "华%"}]}, AutomationErrorCode.INVALID_CONDITION),
    ({"conditions": "region = 华东"}, AutomationErrorCode.INVALID_CONDITION),
    ({"conditions": [{"field": "region", "in": []}]}, AutomationErrorCode.INVALID_CONDITION),
    ({"member_ids": []}, AutomationErrorCode.NO_MEMBERS),
    ({"response_hours": 0}, "INVALID"),
    ({"object_type": RoutedType.OPPORTUNITY, "response_hours": 4}, "INVALID"),
])
async def test_a_bad_rule_is_refused_with_its_code(db: Any, fields: dict[str, Any], code: str) -> None:
    org = await new_sales_org(db)
    with fails(code):
        await rule(db, org, **fields)


# --- lead response SLA --------------------------------------------------------------------------------


async def test_a_lead_not_touched_in_time_goes_to_the_next_rep_and_the_manager_is_told(db: Any) -> None:
    # given a rule giving reps 4 hours to respond; one lead left alone, one commented on by its owner
    org = await new_sales_org(db)
    await rule(db, org, member_ids=[r.user_id for r in org.reps[:3]], response_hours=4)
    clock.set(MONDAY)
    try:
        ignored, _ = await lead(db, org, name="没人理")
        handled, _ = await lead(db, org, name="已联系")
        clock.set(MONDAY + timedelta(hours=1))
        async with db.write() as s:
            await add_comment(s, org.reps[1], record_type="Lead", record_id=handled.id, body="已电话联系")

        # when the scheduler runs before and after the 4 hours
        clock.set(MONDAY + timedelta(hours=3))
        async with db.write() as s:
            early = await run_lead_response(s, clock.now())
        clock.set(MONDAY + timedelta(hours=5))
        async with db.write() as s:
            late = await run_lead_response(s, clock.now())
        async with db.write() as s:
            again = await run_lead_response(s, clock.now())
    finally:
        clock.set(None)

    # then only the untouched lead moves on, once, to the next rep in turn
    assert (early, late, again) == (0, 1, 0)
    async with db.read() as s:
        moved = await s.get(Lead, ignored.id)
        kept = await s.get(Lead, handled.id)
        now_assigned = (await assignments_of(s, org.org_id, "Lead", [ignored.id]))[ignored.id]
        told = (await s.scalars(select(Notification).where(Notification.user_id == org.manager.user_id))).all()
    assert moved.owner_id == org.reps[2].user_id
    assert kept.owner_id == org.reps[1].user_id
    assert now_assigned.reason == "张伟 did not respond within 4 h; round robin: 王芳's turn"
    assert [(n.topic, n.record_id) for n in told] == [("lead.assigned", ignored.id)]
