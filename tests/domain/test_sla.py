import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tandem.domain.collaboration.meeting import ActionItemInput, ActionItemStatus, record_meeting, update_action_item
from tandem.domain.collaboration.sla import Escalation, SlaKind, run_sla, set_sla_policy
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _actor(user):
    return Actor(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles))


async def _chain(db):
    """vp ← director ← manager ← rep, in an org of its own, with a customer and an SLA policy."""
    async with db.write() as s:
        org = await create_org(s, f"SLA {uuid.uuid4().hex[:6]}")
        tag = uuid.uuid4().hex[:6]
        vp = await create_user(s, org.id, email=f"vp-{tag}@sla.test", name="VP", roles=["sales_manager"])
        director = await create_user(s, org.id, email=f"dir-{tag}@sla.test", name="Director",
                                     roles=["sales_manager"], manager_id=vp.id)
        manager = await create_user(s, org.id, email=f"mgr-{tag}@sla.test", name="Manager",
                                    roles=["sales_manager"], manager_id=director.id)
        rep = await create_user(s, org.id, email=f"rep-{tag}@sla.test", name="Rep", roles=["sales_rep"],
                                manager_id=manager.id)
        customer = await create_customer(s, _actor(rep), CustomerInput(name="客户"))
        await set_sla_policy(s, _actor(vp), kind=SlaKind.ACTION_ITEM, due_hours=None, escalate_after_hours=24,
                             remind_before_hours=12)
        meeting, [item], _ = await record_meeting(
            s, _actor(rep), record_type="Customer", record_id=customer.id, title="周会", minutes="",
            attendee_ids=[], action_items=[ActionItemInput(title="准备报价", owner_id=rep.id,
                                                           due_at=T0 + timedelta(days=1))])
    return {"vp": vp, "director": director, "manager": manager, "rep": rep, "item": item, "org": org}


async def _tick(db, at):
    clock.set(at)
    try:
        async with db.write() as s:
            return await run_sla(s, at)
    finally:
        clock.set(None)


async def _escalations(db, item_id):
    async with db.read() as s:
        rows = await s.scalars(select(Escalation).where(Escalation.item_kind == SlaKind.ACTION_ITEM.value,
                                                        Escalation.item_id == item_id).order_by(Escalation.level))
        return [(e.level, e.escalated_to_id) for e in rows]


async def _events(db, org_id, topic):
    async with db.read() as s:
        return list(await s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == org_id,
                                                               OutboxEvent.topic == topic)
                                 .order_by(OutboxEvent.id)))


async def test_overdue_item_escalates_up_the_chain_once_per_level(db):
    # given an item due at T0 + 1 day owned by a rep three levels below a VP
    c = await _chain(db)
    item = c["item"]
    # when the scheduler runs before the due time, nothing escalates
    assert await _tick(db, T0 + timedelta(hours=20)) == []
    # when it runs just after the due time: level 1, to the rep's manager
    await _tick(db, T0 + timedelta(days=1, minutes=1))
    assert await _escalations(db, item.id) == [(1, c["manager"].id)]
    # running again within the interval changes nothing (idempotent)
    await _tick(db, T0 + timedelta(days=1, hours=2))
    await _tick(db, T0 + timedelta(days=1, hours=3))
    assert await _escalations(db, item.id) == [(1, c["manager"].id)]
    # after a further 24 h: the next manager up, then the next
    await _tick(db, T0 + timedelta(days=2, minutes=2))
    await _tick(db, T0 + timedelta(days=3, minutes=3))
    assert await _escalations(db, item.id) == [(1, c["manager"].id), (2, c["director"].id), (3, c["vp"].id)]
    # and nobody is above the VP: no fourth level
    await _tick(db, T0 + timedelta(days=9))
    assert len(await _escalations(db, item.id)) == 3
    # each escalation is on the record's timeline and addressed to the escalated person
    events = await _events(db, c["org"].id, "sla.escalated")
    assert [(e.payload["level"], e.audience) for e in events] == [
        (1, [c["manager"].id]), (2, [c["director"].id]), (3, [c["vp"].id])]
    assert {(e.timeline_type, e.timeline_id) for e in events} == {("Customer", item.record_id)}


async def test_owner_is_reminded_once_before_the_due_time(db):
    # given an item due at T0 + 1 day and a 12 h reminder window
    c = await _chain(db)
    # when the scheduler runs 13 h before, then 11 h before, then 10 h before
    await _tick(db, T0 + timedelta(hours=11))
    await _tick(db, T0 + timedelta(hours=13))
    await _tick(db, T0 + timedelta(hours=14))
    # then exactly one reminder went to the owner
    reminders = await _events(db, c["org"].id, "action_item.reminder")
    assert [e.audience for e in reminders] == [[c["rep"].id]]


async def test_a_done_item_never_escalates(db):
    # given an item marked done before its due time
    c = await _chain(db)
    async with db.write() as s:
        await update_action_item(s, _actor(c["rep"]), c["item"].id, version=None, status=ActionItemStatus.DONE,
                                 due_at=None, owner_id=None, set_fields={"status"})
    # when the scheduler runs long after
    await _tick(db, T0 + timedelta(days=5))
    # then
    async with db.read() as s:
        count = await s.scalar(select(func.count()).select_from(Escalation).where(
            Escalation.item_kind == SlaKind.ACTION_ITEM.value, Escalation.item_id == c["item"].id))
    assert count == 0
