"""Intent scores on a real database: weights, recency, the window, and crossing into HIGH once (an event the
org's built-in rule tells the owner of)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tandem.domain.automation.intent import IntentLevel, intents_of, level_of
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import actor_of
from tests.factories.names import unique

NOW = datetime(2031, 6, 2, 9, 0, tzinfo=UTC)
K = InteractionKind


@dataclass
class Tenant:
    org_id: int
    owner: Actor
    marketer: Actor
    customer_id: int


@pytest.fixture
async def tenant(db: Any) -> Tenant:
    async with db.write() as s:
        org = await create_org(s, unique("Intent org"), "CNY")
        owner = await create_user(s, org.id, email=f"{uuid.uuid4().hex}@intent.test", name="张伟",
                                  roles=["sales_rep"])
        marketer = await create_user(s, org.id, email=f"{uuid.uuid4().hex}@intent.test", name="Marketing",
                                     roles=["sales_manager"])
        customer = await create_customer(s, actor_of(owner), CustomerInput(name="西部数据港"))
        return Tenant(org.id, actor_of(owner), actor_of(marketer), customer.id)


async def _log(db: Any, t: Tenant, kind: InteractionKind, days_ago: float = 0) -> None:
    clock.set(NOW)
    try:
        async with db.write() as s:
            await log_interaction(s, t.marketer, InteractionInput(
                customer_id=t.customer_id, kind=kind, summary=f"{kind.value} 信号",
                occurred_at=NOW - timedelta(days=days_ago)))
    finally:
        clock.set(None)


async def _intent(db: Any, t: Tenant) -> Any:
    async with db.read() as s:
        return (await intents_of(s, t.owner, [t.customer_id], NOW))[t.customer_id]


async def _crossings(db: Any, t: Tenant) -> list[OutboxEvent]:
    async with db.read() as s:
        return list(await s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == t.org_id,
                                                               OutboxEvent.topic == "intent.high")))


def test_levels_follow_the_thresholds():
    assert [level_of(s) for s in (0, 24, 25, 59, 60, 100)] == [
        IntentLevel.LOW, IntentLevel.LOW, IntentLevel.MEDIUM, IntentLevel.MEDIUM, IntentLevel.HIGH, IntentLevel.HIGH]


async def test_a_customer_without_signals_is_low(db, tenant):
    await _log(db, tenant, K.CALL)  # the rep's own doing: no signal
    intent = await _intent(db, tenant)
    assert (intent.score, intent.level, intent.signals) == (0, IntentLevel.LOW, [])


async def test_signals_are_weighted_by_kind_and_halved_after_a_week(db, tenant):
    # given a meeting this week, a download two weeks ago, two web visits and an e-mail open today,
    # and a meeting too old to count
    await _log(db, tenant, K.MEETING, days_ago=1)
    await _log(db, tenant, K.CONTENT_DOWNLOAD, days_ago=14)
    await _log(db, tenant, K.WEB_VISIT)
    await _log(db, tenant, K.WEB_VISIT, days_ago=0.5)
    await _log(db, tenant, K.EMAIL_OPEN)
    await _log(db, tenant, K.MEETING, days_ago=31)
    # when
    intent = await _intent(db, tenant)
    # then 30 + 15/2 + 5 + 5 + 3 = 50.5, floored
    assert (intent.score, intent.level) == (50, IntentLevel.MEDIUM)
    assert [(s.kind, s.count, s.last_at) for s in intent.signals] == [
        ("meeting", 1, NOW - timedelta(days=1)), ("content_download", 1, NOW - timedelta(days=14)),
        ("web_visit", 2, NOW), ("email_open", 1, NOW)]


async def _notices(db: Any, t: Tenant) -> list[OutboxEvent]:
    async with db.read() as s:
        return list(await s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == t.org_id,
                                                               OutboxEvent.topic == "workflow.notified")))


async def test_crossing_into_high_tells_the_owner_once(db, tenant):
    # given a MEDIUM customer (one meeting)
    await _log(db, tenant, K.MEETING)
    assert await _crossings(db, tenant) == []
    # when a second meeting takes it to 60
    await _log(db, tenant, K.MEETING)
    # then the crossing is recorded, with the score, addressed to nobody
    [crossing] = await _crossings(db, tenant)
    assert crossing.audience == []
    assert (crossing.record_type, crossing.record_id) == ("Customer", tenant.customer_id)
    payload = crossing.payload
    assert (payload["score"], payload["level"], payload["name"]) == (60, "high", "西部数据港")
    # when more signals come while it stays HIGH
    await _log(db, tenant, K.CONTENT_DOWNLOAD)
    await _log(db, tenant, K.WEB_VISIT)
    # then nobody is told again
    assert len(await _crossings(db, tenant)) == 1
    # and the owner was told once, by the org's built-in rule
    [notice] = await _notices(db, tenant)
    assert (notice.audience, notice.record_id) == ([tenant.owner.user_id], tenant.customer_id)
    assert notice.payload["rule"] == "客户购买意向转高提醒 Customer shows high intent"


async def test_a_customer_whose_intent_faded_crosses_again(db, tenant):
    # given a customer that crossed into HIGH with two meetings 6 days ago
    await _log(db, tenant, K.MEETING, days_ago=6)
    await _log(db, tenant, K.MEETING, days_ago=6)
    assert len(await _crossings(db, tenant)) == 1
    # when, two days later, those meetings count half (MEDIUM) and a new meeting takes it back to HIGH
    later = NOW + timedelta(days=2)
    clock.set(later)
    try:
        async with db.write() as s:
            await log_interaction(s, tenant.marketer, InteractionInput(
                customer_id=tenant.customer_id, kind=K.MEETING, summary="第三次会议", occurred_at=later))
    finally:
        clock.set(None)
    # then that is a new crossing, told again
    crossings = await _crossings(db, tenant)
    assert [c.payload["score"] for c in crossings] == [60, 60]
