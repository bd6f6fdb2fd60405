"""Intent signals: how keen a customer looks, scored from the interactions that show interest.

The formula, computed in SQL over the customer's interactions of the last ``WINDOW_DAYS`` (30) days up to now:

    score = min(100, floor( Σ weight(kind) × recency(occurredAt) ))

    weight:   meeting 30, content download 15, web visit 5, e-mail open 3 (calls, e-mails and visits
              are the rep's own doing, not a signal from the customer, and count nothing)
    recency:  1 for a signal of the last 7 days, ½ for one 8 to 30 days old, nothing older

    level:    HIGH from 60, MEDIUM from 25, else LOW

So two meetings this week make a customer HIGH; the same two meetings three weeks ago only MEDIUM, and a
month later they have faded out. Each signal kind also reports its count and latest time in the window.

Crossing into HIGH when an interaction is logged is an ``intent.high`` event on the customer's timeline,
addressed to nobody: the org's built-in workflow rule watching it (seeded_rules.py) tells the owner, live,
with a template an admin may edit, and switching the rule off stops the notice. Once per crossing: the
interaction crosses when the score without it was below HIGH and with it is not; while the customer stays
HIGH, further signals raise nothing; once it has faded below, the next crossing is an event again. The
customer's row is locked while deciding, so two signals logged at once cannot both cross, or both miss it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..crm.customer import Customer
from ..crm.events import InteractionLogged
from ..crm.interaction import Interaction, InteractionKind
from ..shared.actor import Actor
from ..shared.bus import handles
from ..shared.clock import clock
from ..shared.dialect import lock_for_update
from ..shared.outbox import record_event

WINDOW_DAYS = 30
RECENT_DAYS = 7
WEIGHTS: dict[str, int] = {
    InteractionKind.MEETING.value: 30,
    InteractionKind.CONTENT_DOWNLOAD.value: 15,
    InteractionKind.WEB_VISIT.value: 5,
    InteractionKind.EMAIL_OPEN.value: 3,
}
HIGH = 60
MEDIUM = 25
MAX_SCORE = 100


class IntentLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def level_of(score: int) -> IntentLevel:
    return IntentLevel.HIGH if score >= HIGH else IntentLevel.MEDIUM if score >= MEDIUM else IntentLevel.LOW


@dataclass(frozen=True)
class Signal:
    kind: str
    count: int
    last_at: datetime


@dataclass(frozen=True)
class Intent:
    customer_id: int
    score: int = 0
    signals: list[Signal] = field(default_factory=list)
    """One per signal kind seen in the window, strongest weight first."""

    @property
    def level(self) -> IntentLevel:
        return level_of(self.score)


def _score(doubled: Any) -> int:
    """The score of a sum of doubled points (recency ½ counts 1 of 2)."""
    return min(MAX_SCORE, math.floor((doubled or 0) / 2))


async def _points(session: AsyncSession, org_id: int, customer_ids: list[int], now: datetime,
                  without: int | None = None) -> tuple[dict[int, int], dict[int, int], dict[int, list[Signal]]]:
    """Per customer: the doubled points of its signals in the window, the same without interaction
    ``without``, and the signals by kind (one grouped statement)."""
    weight = case(*((Interaction.kind == kind, literal(w)) for kind, w in WEIGHTS.items()), else_=literal(0))
    points = weight * case((Interaction.occurred_at >= now - timedelta(days=RECENT_DAYS), literal(2)),
                           else_=literal(1))
    excluded = case((Interaction.id == (without or 0), literal(0)), else_=points)
    rows = await session.execute(
        select(Interaction.customer_id, Interaction.kind, func.count(), func.max(Interaction.occurred_at),
               func.sum(points), func.sum(excluded))
        .where(Interaction.org_id == org_id, Interaction.customer_id.in_(customer_ids),
               Interaction.kind.in_(list(WEIGHTS)), Interaction.occurred_at > now - timedelta(days=WINDOW_DAYS),
               Interaction.occurred_at <= now)
        .group_by(Interaction.customer_id, Interaction.kind))
    total: dict[int, int] = {}
    before: dict[int, int] = {}
    signals: dict[int, list[Signal]] = {}
    for customer_id, kind, count, last_at, with_it, without_it in rows:
        total[customer_id] = total.get(customer_id, 0) + int(with_it or 0)
        before[customer_id] = before.get(customer_id, 0) + int(without_it or 0)
        if isinstance(last_at, str):  # SQLite hands an aggregate's datetime back as text
            last_at = datetime.fromisoformat(last_at)
        if last_at.tzinfo is None:
            last_at = last_at.replace(tzinfo=now.tzinfo)
        signals.setdefault(customer_id, []).append(Signal(kind=kind, count=count, last_at=last_at))
    for found in signals.values():
        found.sort(key=lambda s: (-WEIGHTS[s.kind], s.kind))
    return total, before, signals


async def intents_of(session: AsyncSession, actor: Actor, customer_ids: list[int],
                     now: datetime | None = None) -> dict[int, Intent]:
    """The intent of each customer (the caller passes customers the actor may see)."""
    total, _, signals = await _points(session, actor.org_id, customer_ids, now or clock.now())
    return {cid: Intent(cid, _score(total.get(cid)), signals.get(cid, [])) for cid in customer_ids}


def intent_payload(customer: Customer, intent: Intent) -> dict[str, Any]:
    return {"id": customer.id, "name": customer.name, "ownerId": customer.owner_id, "score": intent.score,
            "level": intent.level.value,
            "signals": [{"kind": s.kind, "count": s.count, "lastAt": s.last_at.isoformat()} for s in intent.signals]}


@handles(InteractionLogged)
async def _notice_high_intent(session: AsyncSession, actor: Actor | None, event: InteractionLogged) -> bool:
    """Record ``intent.high`` when this interaction takes the customer into HIGH intent (workflow rules watching
    it tell people); returns whether it did."""
    if event.kind not in WEIGHTS:
        return False
    customer = await session.scalar(lock_for_update(session, select(Customer).where(
        Customer.org_id == event.org_id, Customer.id == event.customer_id)))
    if customer is None:
        return False
    total, before, signals = await _points(session, event.org_id, [customer.id], clock.now(),
                                           without=event.interaction_id)
    intent = Intent(customer.id, _score(total.get(customer.id)), signals.get(customer.id, []))
    if intent.level is not IntentLevel.HIGH or level_of(_score(before.get(customer.id))) is IntentLevel.HIGH:
        return False
    record_event(session, actor, org_id=event.org_id, topic="intent.high", record_type="Customer",
                 record_id=customer.id, operation="update", audience=[], payload=intent_payload(customer, intent))
    return True
