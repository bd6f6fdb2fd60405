"""Follow-up rules on a real database: due-time notification once, input codes, and an opportunity's next step."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tandem.domain.automation.errors import AutomationErrorCode
from tandem.domain.automation.followup import (
    FollowUp,
    FollowUpInput,
    FollowUpStatus,
    close_follow_up,
    run_follow_ups,
    schedule_follow_up,
)
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity, update_opportunity
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import Forbidden, SharedErrorCode, ValidationFailed
from tandem.domain.shared.notification import Notification
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.handover import Handed, deactivate_user
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tests.conftest import actor_of
from tests.factories.names import unique

T0 = datetime(2031, 5, 6, 9, 0, tzinfo=UTC)


@dataclass
class Tenant:
    org_id: int
    rep: Actor
    peer: Actor
    customer_id: int


async def _everyone_sees(_session: Any, _user: Any) -> bool:
    return True


async def _nobody_else_sees(_session: Any, _user: Any) -> bool:
    return False


@pytest.fixture
async def tenant(db: Any) -> Tenant:
    async with db.write() as s:
        org = await create_org(s, unique("Follow-up org"), "CNY")
        rep = await create_user(s, org.id, email=f"{uuid.uuid4().hex}@fu.test", name="王芳", roles=["sales_rep"])
        peer = await create_user(s, org.id, email=f"{uuid.uuid4().hex}@fu.test", name="李雷", roles=["sales_rep"])
        customer = await create_customer(s, actor_of(rep), CustomerInput(name="华东电力"))
        return Tenant(org.id, actor_of(rep), actor_of(peer), customer.id)


async def _schedule(db: Any, t: Tenant, *, due_at: Any = T0 + timedelta(days=1), note: str = "回访：确认报价",
                    assignee_id: int | None = None, sees: Any = _everyone_sees) -> FollowUp:
    clock.set(T0)
    try:
        async with db.write() as s:
            return await schedule_follow_up(s, t.rep, FollowUpInput("Customer", t.customer_id, due_at, note,
                                                                    assignee_id), sees)
    finally:
        clock.set(None)


async def _tick(db: Any, at: datetime, org_id: int) -> list[FollowUp]:
    """The org's follow-ups a scheduler pass at ``at`` found due (the pass covers every org: other tests'
    follow-ups in the shared database fall due too)."""
    clock.set(at)
    try:
        async with db.write() as s:
            return [f for f in await run_follow_ups(s, at) if f.org_id == org_id]
    finally:
        clock.set(None)


async def _events(db: Any, org_id: int, topic: str) -> list[OutboxEvent]:
    async with db.read() as s:
        return list(await s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == org_id, OutboxEvent.topic == topic)
                                    .order_by(OutboxEvent.id)))


async def _inbox(db: Any, user_id: int, topic: str) -> list[Notification]:
    async with db.read() as s:
        return list(await s.scalars(select(Notification).where(Notification.user_id == user_id,
                                                               Notification.topic == topic)))


async def test_a_follow_up_tells_its_assignee_once_at_its_due_time_and_not_before(db, tenant):
    # given a follow-up for the peer, due a day after T0
    follow_up = await _schedule(db, tenant, assignee_id=tenant.peer.user_id)
    # when the scheduler runs a minute before it is due
    assert await _tick(db, T0 + timedelta(days=1, minutes=-1), tenant.org_id) == []
    # then the peer has heard nothing of it being due
    assert await _inbox(db, tenant.peer.user_id, "follow_up.due") == []
    # when it runs at the due time, and again, and again later
    assert [f.id for f in await _tick(db, T0 + timedelta(days=1), tenant.org_id)] == [follow_up.id]
    assert await _tick(db, T0 + timedelta(days=1, minutes=1), tenant.org_id) == []
    assert await _tick(db, T0 + timedelta(days=3), tenant.org_id) == []
    # then the peer was told exactly once, on the customer's timeline
    [due] = await _events(db, tenant.org_id, "follow_up.due")
    assert (due.audience, due.timeline_type, due.timeline_id) == ([tenant.peer.user_id], "Customer",
                                                                   tenant.customer_id)
    assert due.payload["note"] == "回访：确认报价"
    [notification] = await _inbox(db, tenant.peer.user_id, "follow_up.due")
    assert notification.record_type == "FollowUp"


async def test_a_cancelled_follow_up_tells_nobody(db, tenant):
    follow_up = await _schedule(db, tenant)
    async with db.write() as s:
        closed = await close_follow_up(s, tenant.rep, follow_up.id, FollowUpStatus.CANCELLED)
    assert closed.status == "cancelled"
    assert await _tick(db, T0 + timedelta(days=2), tenant.org_id) == []


async def test_only_the_assignee_or_its_scheduler_closes_a_follow_up(db, tenant):
    follow_up = await _schedule(db, tenant)
    async with db.write() as s:
        with pytest.raises(Forbidden):
            await close_follow_up(s, tenant.peer, follow_up.id, FollowUpStatus.DONE)
    async with db.write() as s:
        await close_follow_up(s, tenant.rep, follow_up.id, FollowUpStatus.DONE)
    async with db.write() as s:
        with pytest.raises(ValidationFailed) as again:
            await close_follow_up(s, tenant.rep, follow_up.id, FollowUpStatus.DONE)
    assert [e.code for e in again.value.errors] == [SharedErrorCode.INVALID_STATE]


@pytest.mark.parametrize(("due_at", "code"), [
    (T0 - timedelta(minutes=1), AutomationErrorCode.DUE_IN_PAST),
    (T0, AutomationErrorCode.DUE_IN_PAST),
    (datetime(2031, 5, 7, 9, 0), SharedErrorCode.INVALID),  # no time zone
    (None, SharedErrorCode.REQUIRED),
])
async def test_a_due_time_not_in_the_future_is_refused(db, tenant, due_at, code):
    with pytest.raises(ValidationFailed) as refused:
        await _schedule(db, tenant, due_at=due_at)
    assert [(e.field, e.code) for e in refused.value.errors] == [(("dueAt",), code)]


async def test_an_assignee_who_may_not_see_the_record_is_refused(db, tenant):
    with pytest.raises(ValidationFailed) as refused:
        await _schedule(db, tenant, assignee_id=tenant.peer.user_id, sees=_nobody_else_sees)
    assert [e.code for e in refused.value.errors] == [AutomationErrorCode.ASSIGNEE_CANNOT_SEE_RECORD]


async def test_a_deactivated_assignee_is_refused(db, tenant):
    async with db.write() as s:
        (await s.get(User, tenant.peer.user_id)).active = False
    with pytest.raises(ValidationFailed) as refused:
        await _schedule(db, tenant, assignee_id=tenant.peer.user_id)
    assert [e.code for e in refused.value.errors] == [AutomationErrorCode.ASSIGNEE_INACTIVE]


async def _next_step_follow_ups(db: Any, opportunity_id: int) -> list[FollowUp]:
    async with db.read() as s:
        return list(await s.scalars(select(FollowUp).where(FollowUp.record_type == "Opportunity",
                                                           FollowUp.record_id == opportunity_id).order_by(FollowUp.id)))


async def test_an_opportunitys_next_step_is_its_owners_follow_up(db, tenant):
    # given an opportunity created with a next step on Friday
    friday = T0 + timedelta(days=4)
    async with db.write() as s:
        opportunity = await create_opportunity(s, tenant.rep, OpportunityInput(
            customer_id=tenant.customer_id, name="配电自动化", next_step="安排技术交流会", next_step_at=friday))
    [first] = await _next_step_follow_ups(db, opportunity.id)
    assert (first.assignee_id, first.due_at, first.note, first.status) == (
        tenant.rep.user_id, friday, "安排技术交流会", "open")
    # when the next step moves to Monday
    monday = friday + timedelta(days=3)
    async with db.write() as s:
        opportunity = await update_opportunity(s, tenant.rep, opportunity.id, opportunity.version, OpportunityInput(
            next_step_at=monday, set_fields={"next_step_at"}))
    # then the same follow-up moves with it
    [moved] = await _next_step_follow_ups(db, opportunity.id)
    assert (moved.id, moved.due_at) == (first.id, monday)
    # when the next step loses its time, the follow-up is cancelled
    async with db.write() as s:
        await update_opportunity(s, tenant.rep, opportunity.id, opportunity.version, OpportunityInput(
            next_step_at=None, set_fields={"next_step_at"}))
    [cancelled] = await _next_step_follow_ups(db, opportunity.id)
    assert cancelled.status == "cancelled"
    assert [e.topic for e in await _events(db, tenant.org_id, "follow_up.rescheduled")] == ["follow_up.rescheduled"]


async def test_a_deactivated_assignees_open_follow_ups_go_to_their_successor(db, tenant):
    # given an open follow-up of the peer
    follow_up = await _schedule(db, tenant, assignee_id=tenant.peer.user_id)
    async with db.write() as s:
        admin = await create_user(s, tenant.org_id, email=f"{uuid.uuid4().hex}@fu.test", name="Admin", roles=["admin"])
    # when an admin deactivates the peer without a successor, it is refused; with the rep, it is handed over
    async with db.write() as s:
        with pytest.raises(ValidationFailed):
            await deactivate_user(s, actor_of(admin), tenant.peer.user_id, None)
    async with db.write() as s:
        _, handed = await deactivate_user(s, actor_of(admin), tenant.peer.user_id, tenant.rep.user_id)
    # then
    assert Handed("FollowUp", 1) in handed
    async with db.read() as s:
        assert (await s.get(FollowUp, follow_up.id)).assignee_id == tenant.rep.user_id
    [moved] = await _events(db, tenant.org_id, "follow_up.reassigned")
    assert moved.payload == {"assigneeId": tenant.rep.user_id, "previousAssigneeId": tenant.peer.user_id,
                             "version": 2}
