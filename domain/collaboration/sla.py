"""SLA policies per item kind and the escalation chain: an overdue item escalates to its owner's
manager, and after a further interval to the next manager up. Each escalation is recorded once
(a unique key makes a repeat a no-op), lands on the record's timeline and reaches the escalated
person live. Reminders go to the owner before the due time. Time comes from the caller (``now``),
so tests move the clock instead of sleeping. Action items now; tasks and tickets plug in later."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.errors import FieldErrorCode, ValidationFailed
from ..shared.outbox import record_event
from ..tenancy.user import User
from .meeting import ActionItem, ActionItemStatus, action_item_payload

DEFAULT_ESCALATE_AFTER_HOURS = 24.0
DEFAULT_REMIND_BEFORE_HOURS = 24.0


class SlaKind(StrEnum):
    ACTION_ITEM = "action_item"


class SlaPolicy(Base):
    __tablename__ = "sla_policy"
    __table_args__ = (UniqueConstraint("org_id", "kind"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    due_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Due time for items created without one (None: such items never fall overdue)."""
    escalate_after_hours: Mapped[float] = mapped_column(Float, default=DEFAULT_ESCALATE_AFTER_HOURS)
    remind_before_hours: Mapped[float] = mapped_column(Float, default=DEFAULT_REMIND_BEFORE_HOURS)


class Escalation(Base):
    __tablename__ = "escalation"
    __table_args__ = (UniqueConstraint("item_kind", "item_id", "level"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    item_kind: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[int] = mapped_column(IdType)
    level: Mapped[int] = mapped_column(Integer)
    escalated_to_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    created_at: Mapped[datetime]


async def set_sla_policy(session: AsyncSession, actor: Actor, *, kind: SlaKind, due_hours: float | None,
                         escalate_after_hours: float, remind_before_hours: float | None = None) -> SlaPolicy:
    if due_hours is not None and due_hours <= 0:
        raise ValidationFailed.one("dueHours", FieldErrorCode.INVALID, "dueHours must be positive")
    if escalate_after_hours <= 0:
        raise ValidationFailed.one("escalateAfterHours", FieldErrorCode.INVALID, "escalateAfterHours must be positive")
    policy = await session.scalar(select(SlaPolicy).where(SlaPolicy.org_id == actor.org_id,
                                                          SlaPolicy.kind == kind.value))
    if policy is None:
        policy = SlaPolicy(org_id=actor.org_id, kind=kind.value)
        session.add(policy)
    policy.due_hours = due_hours
    policy.escalate_after_hours = escalate_after_hours
    policy.remind_before_hours = remind_before_hours if remind_before_hours is not None else DEFAULT_REMIND_BEFORE_HOURS
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="sla.policy_set", record_type="Org",
                 record_id=actor.org_id, operation="update",
                 payload={"kind": kind.value, "dueHours": due_hours, "escalateAfterHours": escalate_after_hours})
    return policy


async def _policies(session: AsyncSession) -> dict[int, SlaPolicy]:
    rows = await session.scalars(select(SlaPolicy).where(SlaPolicy.kind == SlaKind.ACTION_ITEM.value))
    return {p.org_id: p for p in rows}


def _due(item: ActionItem, policy: SlaPolicy | None) -> datetime | None:
    if item.due_at is not None:
        return item.due_at
    if policy is not None and policy.due_hours:
        return item.created_at + timedelta(hours=policy.due_hours)
    return None


async def run_sla(session: AsyncSession, now: datetime) -> list[Escalation]:
    """One pass over every org: reminders and escalations due at ``now``. Idempotent."""
    policies = await _policies(session)
    items = list(await session.scalars(select(ActionItem).where(
        ActionItem.status == ActionItemStatus.OPEN.value, ActionItem.owner_id.is_not(None))))
    if not items:
        return []
    users = {u.id: u for u in await session.scalars(
        select(User).where(User.org_id.in_({i.org_id for i in items})))}
    done: dict[int, list[Escalation]] = {}
    for e in await session.scalars(select(Escalation).where(
            Escalation.item_kind == SlaKind.ACTION_ITEM.value, Escalation.item_id.in_([i.id for i in items]))):
        done.setdefault(e.item_id, []).append(e)
    created = []
    for item in items:
        policy = policies.get(item.org_id)
        due = _due(item, policy)
        if due is None:
            continue
        remind_before = timedelta(hours=policy.remind_before_hours if policy else DEFAULT_REMIND_BEFORE_HOURS)
        if item.reminded_at is None and due - remind_before <= now < due:
            item.reminded_at = now
            record_event(session, None, org_id=item.org_id, topic="action_item.reminder", record_type="ActionItem",
                         record_id=item.id, operation="update", timeline=(item.record_type, item.record_id),
                         audience=[item.owner_id], payload={**action_item_payload(item), "dueAt": due.isoformat()})
        if now < due:
            continue
        history = sorted(done.get(item.id, []), key=lambda e: e.level)
        after = timedelta(hours=policy.escalate_after_hours if policy else DEFAULT_ESCALATE_AFTER_HOURS)
        if history and now - history[-1].created_at < after:
            continue
        level = len(history) + 1
        target = users.get(item.owner_id)  # type: ignore[arg-type]
        for _ in range(level):
            target = users.get(target.manager_id) if target and target.manager_id else None
        if target is None:
            continue  # nobody further up the chain
        escalation = Escalation(org_id=item.org_id, item_kind=SlaKind.ACTION_ITEM.value, item_id=item.id, level=level,
                                escalated_to_id=target.id, record_type=item.record_type, record_id=item.record_id,
                                created_at=now)
        session.add(escalation)
        await session.flush()
        record_event(session, None, org_id=item.org_id, topic="sla.escalated", record_type="ActionItem",
                     record_id=item.id, operation="update", timeline=(item.record_type, item.record_id),
                     audience=[target.id],
                     payload={**action_item_payload(item), "level": level, "escalatedToId": target.id,
                              "dueAt": due.isoformat()})
        created.append(escalation)
    await session.flush()
    return created


async def escalations_for(session: AsyncSession, actor: Actor) -> list[Escalation]:
    return list(await session.scalars(select(Escalation).where(
        Escalation.org_id == actor.org_id, Escalation.escalated_to_id == actor.user_id,
    ).order_by(Escalation.created_at.desc())))
