"""SLA policies on any record: a clock per record started, paused, resumed and stopped by the events the
unit of work records, business hours on the org's working calendar, breaches escalated once by the
scheduler with the injected clock."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

import tandem.domain.registry  # noqa: F401  (hands the registry to automation)
from tandem.domain.automation.rule_engine import catalog
from tandem.domain.automation.sla import (
    EscalateTo,
    EscalationInput,
    PolicyInput,
    SlaCalendar,
    SlaClock,
    delete_policy,
    set_org_calendar,
    set_policy,
    start_clock,
    statuses_of,
)
from tandem.domain.billing.invoice import Invoice
from tandem.domain.collaboration.sla import Escalation, SlaKind, SlaPolicy, set_sla_policy
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from tandem.domain.crm.lead import Lead, LeadInput, LeadStatus, create_lead, update_lead
from tandem.domain.delivery.calendar import BusinessHours
from tandem.domain.delivery.task import Task
from tandem.domain.pipeline.opportunity import (
    Opportunity,
    OpportunityInput,
    create_opportunity,
    move_opportunity_stage,
)
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import ValidationFailed
from tandem.domain.shared.notification import Notification
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tandem.scheduler import Scheduler

FRIDAY_2PM = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
MONDAY = datetime(2026, 12, 7, tzinfo=UTC)
TUESDAY = datetime(2026, 12, 8, tzinfo=UTC)


def _actor(user):
    return Actor(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles))


def _always(*_):
    return True


FIRST_TOUCH = PolicyInput(object_type="Opportunity", start_on=["opportunity.created"], stop_on=["interaction.logged"],
                          pause_on=["proposal"], target_hours=8, calendar=SlaCalendar.BUSINESS_HOURS,
                          escalations=[EscalationInput(after_hours=0, to=EscalateTo.OWNER_MANAGER)])


async def _org(db, policy=FIRST_TOUCH):
    tag = uuid.uuid4().hex[:6]
    clock.set(FRIDAY_2PM - timedelta(hours=1))
    try:
        async with db.write() as s:
            org = await create_org(s, f"SLA policies {tag}")
            admin = await create_user(s, org.id, email=f"admin-{tag}@sla.test", name="管理员", roles=["admin"])
            manager = await create_user(s, org.id, email=f"mgr-{tag}@sla.test", name="经理",
                                        roles=["sales_manager"])
            rep = await create_user(s, org.id, email=f"rep-{tag}@sla.test", name="销售", roles=["sales_rep"],
                                    manager_id=manager.id)
            customer = await create_customer(s, _actor(rep), CustomerInput(name="华为"))
            await set_policy(s, _actor(admin), catalog(), policy, can_read=_always)
    finally:
        clock.set(None)
    return {"org": org, "admin": admin, "manager": manager, "rep": rep, "customer": customer}


async def _at(db, when, work):
    clock.set(when)
    try:
        async with db.write() as s:
            return await work(s)
    finally:
        clock.set(None)


async def _tick(db, when):
    clock.set(when)
    try:
        return await Scheduler(db.engine).tick()
    finally:
        clock.set(None)


async def _new_deal(db, o, when, name="数据中台项目"):
    return await _at(db, when, lambda s: create_opportunity(s, _actor(o["rep"]), OpportunityInput(
        customer_id=o["customer"].id, name=name, amount=None)))


async def _move(db, o, deal_id, when, stage):
    async def work(s):
        deal = await s.get(Opportunity, deal_id)
        return await move_opportunity_stage(s, _actor(o["rep"]), deal_id, deal.version, stage)
    return await _at(db, when, work)


async def _status(db, o, deal_id, when):
    clock.set(when)
    try:
        async with db.read() as s:
            return (await statuses_of(s, o["org"].id, "Opportunity", [deal_id])).get(deal_id)
    finally:
        clock.set(None)


async def _escalations(db, deal_id):
    async with db.read() as s:
        rows = await s.scalars(select(Escalation).where(Escalation.item_kind == "sla.opportunity",
                                                        Escalation.item_id == deal_id).order_by(Escalation.level))
        return [(e.level, e.escalated_to_id) for e in rows]


def test_business_hours_skip_weekends_holidays_and_nights():
    # given a Monday-to-Friday 09:00-18:00 calendar with Monday 7 December off
    hours = BusinessHours(holidays=frozenset({date(2026, 12, 7)}))
    # then Friday 14:00 to Tuesday 10:30 is 4 hours on Friday and 1.5 on Tuesday
    assert hours.hours_between(FRIDAY_2PM, TUESDAY + timedelta(hours=10, minutes=30)) == 5.5
    # and in Shanghai's time zone the same day's 09:00 is 01:00 UTC
    shanghai = BusinessHours(zone=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert shanghai.hours_between(MONDAY, MONDAY + timedelta(hours=2)) == 1.0


async def test_a_new_deal_breaches_after_8_business_hours_across_a_weekend_and_escalates_once(db):
    # given a policy: a new opportunity gets a first interaction within 8 business hours
    o = await _org(db)
    deal = await _new_deal(db, o, FRIDAY_2PM)
    # when Monday 12:00 comes (4 hours on Friday, none on the weekend, 3 on Monday)
    status = await _status(db, o, deal.id, MONDAY + timedelta(hours=12))
    # then 7 of 8 hours are gone and it is not breached
    assert (status.target, status.elapsed, status.remaining, status.breached) == (8, 7, 1, False)
    await _tick(db, MONDAY + timedelta(hours=12))
    assert await _escalations(db, deal.id) == []
    # when the deal waits on the customer (proposal) from Monday 12:00 to Tuesday 09:00
    await _move(db, o, deal.id, MONDAY + timedelta(hours=12), "proposal")
    paused = await _status(db, o, deal.id, MONDAY + timedelta(hours=17))
    assert (paused.elapsed, paused.paused_since) == (7, MONDAY + timedelta(hours=12))
    await _tick(db, MONDAY + timedelta(hours=17))
    assert await _escalations(db, deal.id) == []
    await _move(db, o, deal.id, TUESDAY + timedelta(hours=9), "negotiation")
    # then at Tuesday 10:30 it has run 8.5 hours: breached, escalated to the rep's manager
    await _tick(db, TUESDAY + timedelta(hours=10, minutes=30))
    assert await _escalations(db, deal.id) == [(1, o["manager"].id)]
    # and again later: nothing more
    await _tick(db, TUESDAY + timedelta(hours=15))
    assert await _escalations(db, deal.id) == [(1, o["manager"].id)]
    breached = await _status(db, o, deal.id, TUESDAY + timedelta(hours=15))
    assert (breached.breached, breached.remaining, breached.paused_since) == (True, 0, None)
    async with db.read() as s:
        [event] = await s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == o["org"].id,
                                                            OutboxEvent.topic == "sla.escalated"))
        [note] = await s.scalars(select(Notification).where(Notification.org_id == o["org"].id,
                                                            Notification.topic == "sla.escalated"))
    # on the deal's timeline, to the manager's inbox
    assert (event.timeline_type, event.timeline_id, event.audience) == ("Opportunity", deal.id, [o["manager"].id])
    assert note.user_id == o["manager"].id


async def test_a_stop_event_on_the_deals_timeline_stops_its_clock(db):
    # given a new deal under the policy
    o = await _org(db)
    deal = await _new_deal(db, o, FRIDAY_2PM)
    # when the rep logs a call on it Friday 16:00
    await _at(db, FRIDAY_2PM + timedelta(hours=2), lambda s: log_interaction(s, _actor(o["rep"]), InteractionInput(
        customer_id=o["customer"].id, opportunity_id=deal.id, kind=InteractionKind.CALL, summary="首次电话")))
    # then the clock stopped at 2 hours, and Tuesday brings no breach
    await _tick(db, TUESDAY + timedelta(hours=17))
    status = await _status(db, o, deal.id, TUESDAY + timedelta(hours=17))
    assert (status.elapsed, status.breached, status.stopped_at) == (2, False, FRIDAY_2PM + timedelta(hours=2))
    assert await _escalations(db, deal.id) == []


async def test_conditions_pick_the_deals_a_policy_applies_to_and_holidays_do_not_count(db):
    # given a policy only for deals named like 政府*, and Monday a holiday
    policy = PolicyInput(**{**FIRST_TOUCH.__dict__, "conditions": {"field": "name", "op": "startsWith",
                                                                   "value": "政府"}})
    o = await _org(db, policy)
    await _at(db, FRIDAY_2PM, lambda s: set_org_calendar(s, _actor(o["admin"]), holidays=["2026-12-07"]))
    plain = await _new_deal(db, o, FRIDAY_2PM, "数据中台")
    public = await _new_deal(db, o, FRIDAY_2PM, "政府云平台")
    # when Tuesday 10:30 comes
    when = TUESDAY + timedelta(hours=10, minutes=30)
    # then only the government deal has a clock, at 4 + 1.5 hours
    assert await _status(db, o, plain.id, when) is None
    status = await _status(db, o, public.id, when)
    assert (status.elapsed, status.breached) == (5.5, False)


async def test_old_built_in_policies_are_policies_of_the_one_kind(db):
    # given an org setting its action-item SLA the old way
    o = await _org(db)
    async with db.write() as s:
        await set_sla_policy(s, _actor(o["admin"]), kind=SlaKind.ACTION_ITEM, due_hours=48, escalate_after_hours=12)
        policy = await s.scalar(select(SlaPolicy).where(SlaPolicy.org_id == o["org"].id,
                                                        SlaPolicy.kind == "action_item"))
    # then it reads as a policy on ActionItem with a target and one escalation to the owner's manager
    assert (policy.object_type, policy.target_hours, policy.start_on) == ("ActionItem", 48, [])
    assert policy.escalations == [{"afterHours": 12, "to": "OWNER_MANAGER"}]
    # and set in the new shape it keeps counting from the due time
    async with db.write() as s:
        again = await set_policy(s, _actor(o["admin"]), catalog(), PolicyInput(object_type="ActionItem",
                                 target_hours=24, escalations=[EscalationInput(6, EscalateTo.OWNER_MANAGER)]),
                                 can_read=_always)
    assert (again.id, again.due_hours, again.escalate_after_hours) == (policy.id, 24, 6)


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"object_type": "Spaceship"}, "objectType", "UNKNOWN_OBJECT_TYPE"),
    ({"object_type": None}, "objectType", "SLA_POLICY_INCOMPLETE"),
    ({"target_hours": 0}, "targetHours", "INVALID_SLA_TARGET"),
    ({"start_on": []}, "startOn", "SLA_POLICY_INCOMPLETE"),
    ({"stop_on": ["Interaction..logged"]}, "stopOn.0", "INVALID_SLA_EVENT"),
    ({"conditions": {"field": "nope", "op": "eq", "value": 1}}, "conditions.field", "UNKNOWN_FIELD"),
    ({"conditions": {"field": "name", "op": "like", "value": 1}}, "conditions", "INVALID_CONDITION"),
    ({"escalations": [EscalationInput(0, EscalateTo.ROLE, role="astronaut")]}, "escalations.0.role",
     "INVALID_ESCALATION"),
    ({"escalations": [EscalationInput(0, EscalateTo.USER, user_id=None)]}, "escalations.0.userId",
     "INVALID_ESCALATION"),
    ({"start_on": ["lead.created"]}, "startOn.0", "UNKNOWN_TOPIC"),
    ({"stop_on": ["sla.met"]}, "stopOn.0", "UNKNOWN_TOPIC"),
    ({"pause_on": ["qualified"]}, "pauseOn.0", "UNKNOWN_STATUS"),
])
async def test_bad_policies_are_refused_with_a_code_and_change_nothing(db, change, field, code):
    # given an org with its first-touch policy
    o = await _org(db)
    # when an admin sets a bad one
    with pytest.raises(ValidationFailed) as caught:
        async with db.write() as s:
            await set_policy(s, _actor(o["admin"]), catalog(), PolicyInput(**{**FIRST_TOUCH.__dict__, **change}),
                             can_read=_always)
    # then the error names the field and its code, and the policy stands as it was
    assert (".".join(caught.value.errors[0].field), caught.value.errors[0].code.value) == (field, code)
    async with db.read() as s:
        [policy] = await s.scalars(select(SlaPolicy).where(SlaPolicy.org_id == o["org"].id))
    assert (policy.target_hours, policy.stop_on) == (8, ["interaction.logged"])


async def test_a_field_the_author_may_not_read_cannot_be_tested(db):
    o = await _org(db)
    data = PolicyInput(**{**FIRST_TOUCH.__dict__, "conditions": {"field": "amount", "op": "gt", "value": 100}})
    with pytest.raises(ValidationFailed) as caught:
        async with db.write() as s:
            await set_policy(s, _actor(o["admin"]), catalog(), data,
                             can_read=lambda t, f: f != "amount")
    assert caught.value.errors[0].code.value == "FIELD_NOT_READABLE"
    async with db.read() as s:
        assert await s.scalar(select(SlaClock).where(SlaClock.org_id == o["org"].id)) is None


async def test_later_escalations_reach_a_user_and_a_role_each_once_on_a_clock_around_the_clock(db):
    # given a policy around the clock: 4 hours, then the manager, 2 hours later the admin, 4 later finance
    o = await _org(db)
    async with db.write() as s:
        finance = await create_user(s, o["org"].id, email=f"fin-{uuid.uuid4().hex[:6]}@sla.test", name="财务",
                                    roles=["finance"])
    steps = [EscalationInput(0, EscalateTo.OWNER_MANAGER), EscalationInput(2, EscalateTo.USER, user_id=o["admin"].id),
             EscalationInput(4, EscalateTo.ROLE, role="finance")]
    await _at(db, FRIDAY_2PM, lambda s: set_policy(s, _actor(o["admin"]), catalog(), PolicyInput(
        **{**FIRST_TOUCH.__dict__, "target_hours": 4, "calendar": SlaCalendar.ALWAYS, "escalations": steps}),
        can_read=_always))
    deal = await _new_deal(db, o, FRIDAY_2PM)
    # when the scheduler passes Friday evening at 19:00, 20:30, 23:00 and 23:30 (evenings count on this calendar)
    for hours in (5, 6.5, 9, 9.5):
        await _tick(db, FRIDAY_2PM + timedelta(hours=hours))
    # then each level went once, in order
    assert await _escalations(db, deal.id) == [(1, o["manager"].id), (2, o["admin"].id), (3, finance.id)]


async def test_a_deal_created_waiting_on_the_customer_starts_paused_and_runs_once_it_moves_on(db):
    # given the policy, and a deal created in the proposal stage Friday 14:00
    o = await _org(db)
    deal = await _at(db, FRIDAY_2PM, lambda s: create_opportunity(s, _actor(o["rep"]), OpportunityInput(
        customer_id=o["customer"].id, name="等客户回复", stage="proposal")))
    # then Monday noon it has not run, paused since it was created
    paused = await _status(db, o, deal.id, MONDAY + timedelta(hours=12))
    assert (paused.elapsed, paused.paused_since) == (0, FRIDAY_2PM)
    # when it moves to negotiation Monday 12:00
    await _move(db, o, deal.id, MONDAY + timedelta(hours=12), "negotiation")
    # then by 15:00 it has run 3 hours
    status = await _status(db, o, deal.id, MONDAY + timedelta(hours=15))
    assert (status.elapsed, status.paused_since) == (3, None)


@pytest.mark.parametrize("record_type", ["Invoice", "Task"])
async def test_built_in_kinds_show_their_due_time_as_sla_status(db, record_type):
    # given the demo's issued invoices and scheduled tasks (built-in kinds: counted to the due date)
    model = Invoice if record_type == "Invoice" else Task
    due_column = model.due_date if record_type == "Invoice" else model.baseline_finish
    async with db.read() as s:
        rows = list(await s.scalars(select(model).where(due_column.is_not(None)).order_by(model.id).limit(20)))
        assert rows
        statuses = await statuses_of(s, rows[0].org_id, record_type, [r.id for r in rows])
    # then each has a status whose target ends the day after its due date
    assert statuses
    for pk, status in statuses.items():
        row = next(r for r in rows if r.id == pk)
        due = row.due_date or getattr(row, "baseline_finish", None)
        ends = datetime.combine(due + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        assert abs(status.started_at + timedelta(hours=status.target) - ends) < timedelta(seconds=1)
        assert status.breached == ((status.stopped_at or datetime.now(UTC)) > ends)


async def test_lead_status_values_pause_and_stop_its_clock(db):
    # given a lead policy around the clock: contacted waits on the prospect, qualified stops it
    o = await _org(db)
    await _at(db, FRIDAY_2PM, lambda s: set_policy(s, _actor(o["admin"]), catalog(), PolicyInput(
        object_type="Lead", start_on=["lead.created"], pause_on=["contacted"], stop_on=["qualified", "unqualified"],
        target_hours=24, calendar=SlaCalendar.ALWAYS), can_read=_always))
    lead = await _at(db, FRIDAY_2PM, lambda s: create_lead(s, _actor(o["rep"]), LeadInput(name="王先生")))

    async def status_to(when, status, **more):
        async def work(s):
            row = await s.get(Lead, lead.id)
            return await update_lead(s, _actor(o["rep"]), lead.id, row.version, LeadInput(
                name=None, status=status, set_fields={"status", *more}, **more))
        return await _at(db, when, work)

    # when it is contacted after 2 hours and qualified 10 hours later
    await status_to(FRIDAY_2PM + timedelta(hours=2), LeadStatus.CONTACTED)
    async with db.read() as s:
        clock.set(FRIDAY_2PM + timedelta(hours=5))
        paused = (await statuses_of(s, o["org"].id, "Lead", [lead.id]))[lead.id]
        clock.set(None)
    await status_to(FRIDAY_2PM + timedelta(hours=12), LeadStatus.QUALIFIED)
    # then it ran 2 hours, paused from then on, and stopped when qualified
    assert (paused.elapsed, paused.paused_since) == (2, FRIDAY_2PM + timedelta(hours=2))
    async with db.read() as s:
        row = await s.scalar(select(SlaClock).where(SlaClock.record_type == "Lead", SlaClock.record_id == lead.id))
    assert (row.elapsed_hours, row.stopped_at) == (2, FRIDAY_2PM + timedelta(hours=12))


async def test_the_first_matching_policy_counts_and_another_policys_entries_leave_its_clock_alone(db):
    # given 政府* deals counted around the clock for 4 hours from creation, and every deal from its first call
    government = PolicyInput(**{**FIRST_TOUCH.__dict__, "conditions": {"field": "name", "op": "startsWith",
                                                                       "value": "政府"},
                                "target_hours": 4, "calendar": SlaCalendar.ALWAYS})
    o = await _org(db, government)
    await _at(db, FRIDAY_2PM, lambda s: set_policy(s, _actor(o["admin"]), catalog(), PolicyInput(
        object_type="Opportunity", start_on=["interaction.logged"], stop_on=["won"], target_hours=40),
        can_read=_always))
    public, plain = await _new_deal(db, o, FRIDAY_2PM, "政府云平台"), await _new_deal(db, o, FRIDAY_2PM, "数据中台")
    # when the rep calls on both an hour later
    for deal in (public, plain):
        await _at(db, FRIDAY_2PM + timedelta(hours=1), lambda s, d=deal: log_interaction(
            s, _actor(o["rep"]), InteractionInput(customer_id=o["customer"].id, opportunity_id=d.id,
                                                  kind=InteractionKind.CALL, summary="电话")))
    # then the government deal's 4-hour clock stopped at the call; the other's 40-hour clock started with it
    when = FRIDAY_2PM + timedelta(hours=3)
    public_status, plain_status = await _status(db, o, public.id, when), await _status(db, o, plain.id, when)
    assert (public_status.target, public_status.elapsed, public_status.stopped_at) == (
        4, 1, FRIDAY_2PM + timedelta(hours=1))
    assert (plain_status.target, plain_status.elapsed, plain_status.stopped_at) == (40, 2, None)
    # and each record has one clock, recorded on its timeline as events about it
    async with db.read() as s:
        clocks = list(await s.scalars(select(SlaClock).where(SlaClock.org_id == o["org"].id)))
        events = list(await s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == o["org"].id,
                                                                OutboxEvent.topic.like("sla.%"),
                                                                OutboxEvent.topic != "sla.policy_set")
                                      .order_by(OutboxEvent.id)))
    assert sorted(c.record_id for c in clocks) == sorted([public.id, plain.id])
    assert [(e.topic, e.record_id, e.timeline_type, e.timeline_id) for e in events] == [
        ("sla.started", public.id, "Opportunity", public.id), ("sla.met", public.id, "Opportunity", public.id),
        ("sla.started", plain.id, "Opportunity", plain.id)]


async def test_start_sla_uses_the_first_matching_policy_and_a_deleted_policy_takes_its_clocks(db):
    # given a catch-all policy, then one for 政府* deals at the same position, then moved before the catch-all
    catch_all = PolicyInput(**{**FIRST_TOUCH.__dict__, "target_hours": 30})
    o = await _org(db, catch_all)
    government = await _at(db, FRIDAY_2PM, lambda s: set_policy(s, _actor(o["admin"]), catalog(), PolicyInput(
        **{**FIRST_TOUCH.__dict__, "start_on": ["opportunity.reassigned"], "target_hours": 5, "position": 0,
           "conditions": {"field": "name", "op": "startsWith", "value": "政府"}}), can_read=_always))
    async with db.read() as s:
        order = [(p.target_hours, p.position) for p in await s.scalars(
            select(SlaPolicy).where(SlaPolicy.org_id == o["org"].id).order_by(SlaPolicy.position, SlaPolicy.id))]
    assert order == [(30, 0), (5, 0)]  # the same position: the older first
    async with db.read() as s:
        first = await s.scalar(select(SlaPolicy).where(SlaPolicy.org_id == o["org"].id,
                                                       SlaPolicy.target_hours == 30))
    await _at(db, FRIDAY_2PM, lambda s: set_policy(s, _actor(o["admin"]), catalog(), PolicyInput(
        **{**catch_all.__dict__, "id": first.id, "position": 3}), can_read=_always))  # the catch-all after it
    # when a government deal is created
    public = await _new_deal(db, o, FRIDAY_2PM, "政府云平台")
    # then its creation started nothing (its policy starts on reassignment); START_SLA starts it
    assert await _status(db, o, public.id, FRIDAY_2PM) is None
    assert await _at(db, FRIDAY_2PM, lambda s: start_clock(s, o["org"].id, "Opportunity", public.id)) == "started"
    assert (await _status(db, o, public.id, FRIDAY_2PM + timedelta(hours=1))).target == 5
    # when the admin deletes that policy, its clocks go with it
    await _at(db, FRIDAY_2PM, lambda s: delete_policy(s, _actor(o["admin"]), government.id))
    assert await _status(db, o, public.id, FRIDAY_2PM + timedelta(hours=1)) is None
