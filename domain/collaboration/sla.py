"""SLA policies per item kind and the escalation chain: an overdue item escalates to its owner's
manager, and after a further interval to the next manager up. Each escalation is recorded once
(a unique key makes a repeat a no-op), lands on the record's timeline and reaches the escalated
person live. Reminders go to the owner before the due time. Time comes from the caller (``now``),
so tests move the clock instead of sleeping. Action items and overdue invoices use it (``escalate``
takes any ``Overdue`` item); tasks and tickets plug in the same way.

One table holds every SLA policy, several per record type and org, tried in ``position`` order (``kind`` is
the type's snake-case name): these built-in kinds (one per kind and org) count from the item's due time; a
policy that names ``start_on`` events runs on SLA clocks instead (domain/automation/sla/), and these passes
then leave that org's items of its type alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, JsonType, pk
from ..shared.errors import SharedErrorCode, ValidationFailed
from ..shared.outbox import record_event
from ..tenancy.user import User
from .meeting import ActionItem, ActionItemStatus, action_item_payload

DEFAULT_ESCALATE_AFTER_HOURS = 24.0
DEFAULT_REMIND_BEFORE_HOURS = 24.0
DEFAULT_ESCALATE_AFTER = {"invoice": 168.0, "task": 24.0}
"""An overdue invoice escalates a level a week, an overdue task a day, unless the org's policy says otherwise."""


class SlaKind(StrEnum):
    ACTION_ITEM = "action_item"
    INVOICE = "invoice"
    TASK = "task"


KIND_TYPES = {SlaKind.ACTION_ITEM: "ActionItem", SlaKind.INVOICE: "Invoice", SlaKind.TASK: "Task"}
"""The record type each built-in kind is about."""


def kind_of(object_type: str) -> str:
    """A policy's ``kind``: its record type in snake case (``ActionItem`` -> ``action_item``)."""
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(object_type))


class SlaPolicy(Base):
    __tablename__ = "sla_policy"
    __table_args__ = (Index("ix_sla_policy_org_type", "org_id", "object_type", "position"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    due_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Due time for items created without one (None: such items never fall overdue)."""
    escalate_after_hours: Mapped[float] = mapped_column(Float, default=DEFAULT_ESCALATE_AFTER_HOURS)
    remind_before_hours: Mapped[float] = mapped_column(Float, default=DEFAULT_REMIND_BEFORE_HOURS)
    object_type: Mapped[str] = mapped_column(String(40))
    """The record type it is about (the registry's name)."""
    conditions: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    """Which records it applies to (a workflow condition tree, read when a clock starts)."""
    start_on: Mapped[list[str]] = mapped_column(JsonType, default=list)
    """Events (outbox topics) or status/stage values that start (or resume) a record's clock; empty: a built-in
    kind counting from the item's due time."""
    stop_on: Mapped[list[str]] = mapped_column(JsonType, default=list)
    pause_on: Mapped[list[str]] = mapped_column(JsonType, default=list)
    target_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    calendar: Mapped[str] = mapped_column(String(20), default="ALWAYS")
    """``BUSINESS_HOURS`` (the org's working calendar) or ``ALWAYS`` (around the clock)."""
    escalations: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    """``{afterHours, to: OWNER_MANAGER | ROLE | USER, role?, userId?}`` in order: hours after the breach."""
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    """Where it stands among the org's policies of its type: the first (lowest, then oldest) whose conditions
    match a record is the one that counts for it."""

    @property
    def runs_on_clocks(self) -> bool:
        return bool(self.start_on)


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
        raise ValidationFailed.one("dueHours", SharedErrorCode.INVALID, "dueHours must be positive")
    if escalate_after_hours <= 0:
        raise ValidationFailed.one("escalateAfterHours", SharedErrorCode.INVALID, "escalateAfterHours must be positive")
    policy = await built_in_policy(session, actor.org_id, kind.value)
    if policy is None:
        policy = SlaPolicy(org_id=actor.org_id, kind=kind.value, position=0)
        session.add(policy)
    policy.object_type = KIND_TYPES[kind]
    policy.due_hours = due_hours
    policy.escalate_after_hours = escalate_after_hours
    policy.remind_before_hours = remind_before_hours if remind_before_hours is not None else DEFAULT_REMIND_BEFORE_HOURS
    built_in(policy)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="sla.policy_set", record_type="Org",
                 record_id=actor.org_id, operation="update",
                 payload={"kind": kind.value, "dueHours": due_hours, "escalateAfterHours": escalate_after_hours})
    return policy


def built_in(policy: SlaPolicy) -> None:
    """A built-in kind as a policy of the one shape: counted from the due time, its escalation chain up the
    owner's managers every ``escalate_after_hours``."""
    policy.start_on, policy.stop_on, policy.pause_on, policy.conditions = [], [], [], None
    policy.target_hours = policy.due_hours
    policy.calendar = "ALWAYS"
    policy.escalations = [{"afterHours": policy.escalate_after_hours, "to": "OWNER_MANAGER"}]


async def built_in_policy(session: AsyncSession, org_id: int, kind: str) -> SlaPolicy | None:
    """The org's built-in policy of a kind (counted from due times; at most one), if it set one."""
    rows = await session.scalars(select(SlaPolicy).where(SlaPolicy.org_id == org_id, SlaPolicy.kind == kind)
                                 .order_by(SlaPolicy.id))
    return next((p for p in rows if not p.runs_on_clocks), None)


async def _policies(session: AsyncSession, kind: SlaKind) -> dict[int, SlaPolicy]:
    """Each org's policy of a kind as these passes read it: one on clocks when it has any (then they leave its
    items alone), else its built-in one."""
    out: dict[int, SlaPolicy] = {}
    for p in await session.scalars(select(SlaPolicy).where(SlaPolicy.kind == kind.value).order_by(SlaPolicy.id)):
        if p.org_id not in out or (p.runs_on_clocks and not out[p.org_id].runs_on_clocks):
            out[p.org_id] = p
    return out


def _due(item: ActionItem, policy: SlaPolicy | None) -> datetime | None:
    if item.due_at is not None:
        return item.due_at
    if policy is not None and policy.due_hours:
        return item.created_at + timedelta(hours=policy.due_hours)
    return None


def _on_clocks(policy: SlaPolicy | None) -> bool:
    """The org's policy of this kind runs on SLA clocks (domain/automation/sla.py), not on due times."""
    return policy is not None and policy.runs_on_clocks


@dataclass(frozen=True)
class Overdue:
    """Something past its due time that escalates up its owner's management chain."""

    kind: SlaKind
    id: int
    org_id: int
    owner_id: int
    due: datetime
    record_type: str
    """The type of the item itself (``ActionItem``, ``Invoice``): the events are about it."""
    timeline: tuple[str, int]
    """The record whose timeline shows the escalation."""
    payload: dict[str, Any]
    also: tuple[str, int] | None = None


async def escalate(session: AsyncSession, items: list[Overdue], now: datetime) -> list[Escalation]:
    """Escalate each overdue item one level further when its last escalation (or its due time) is
    at least the kind's interval old: level 1 to the owner's manager, level 2 to theirs, and so on.
    A unique (kind, item, level) makes a repeat a no-op."""
    items = [i for i in items if i.due <= now]
    if not items:
        return []
    kinds = {i.kind for i in items}
    policies = {k: await _policies(session, k) for k in kinds}
    items = [i for i in items if not _on_clocks(policies[i.kind].get(i.org_id))]
    users = {u.id: u for u in await session.scalars(
        select(User).where(User.org_id.in_({i.org_id for i in items})))}
    done: dict[tuple[str, int], list[Escalation]] = {}
    for kind in kinds:
        ids = [i.id for i in items if i.kind == kind]
        for e in await session.scalars(select(Escalation).where(Escalation.item_kind == kind.value,
                                                                Escalation.item_id.in_(ids))):
            done.setdefault((e.item_kind, e.item_id), []).append(e)
    created = []
    for item in items:
        policy = policies[item.kind].get(item.org_id)
        history = sorted(done.get((item.kind.value, item.id), []), key=lambda e: e.level)
        default_after = DEFAULT_ESCALATE_AFTER.get(item.kind, DEFAULT_ESCALATE_AFTER_HOURS)
        after = timedelta(hours=policy.escalate_after_hours if policy else default_after)
        if history and now - history[-1].created_at < after:
            continue
        level = len(history) + 1
        target = users.get(item.owner_id)
        for _ in range(level):
            target = users.get(target.manager_id) if target and target.manager_id else None
        if target is None:
            continue  # nobody further up the chain
        escalation = Escalation(org_id=item.org_id, item_kind=item.kind.value, item_id=item.id, level=level,
                                escalated_to_id=target.id, record_type=item.timeline[0], record_id=item.timeline[1],
                                created_at=now)
        session.add(escalation)
        await session.flush()
        record_event(session, None, org_id=item.org_id, topic="sla.escalated", record_type=item.record_type,
                     record_id=item.id, operation="update", timeline=item.timeline, also=item.also,
                     audience=[target.id],
                     payload={**item.payload, "level": level, "escalatedToId": target.id, "kind": item.kind.value,
                              "dueAt": item.due.isoformat()})
        created.append(escalation)
    await session.flush()
    return created


async def run_sla(session: AsyncSession, now: datetime) -> list[Escalation]:
    """One pass over every org's open action items: reminders and escalations due at ``now``. Idempotent."""
    policies = await _policies(session, SlaKind.ACTION_ITEM)
    items = list(await session.scalars(select(ActionItem).where(
        ActionItem.status == ActionItemStatus.OPEN.value, ActionItem.owner_id.is_not(None))))
    overdue = []
    for item in items:
        policy = policies.get(item.org_id)
        if _on_clocks(policy):
            continue
        due = _due(item, policy)
        if due is None:
            continue
        remind_before = timedelta(hours=policy.remind_before_hours if policy else DEFAULT_REMIND_BEFORE_HOURS)
        if item.reminded_at is None and due - remind_before <= now < due:
            item.reminded_at = now
            record_event(session, None, org_id=item.org_id, topic="action_item.reminder", record_type="ActionItem",
                         record_id=item.id, operation="update", timeline=(item.record_type, item.record_id),
                         audience=[item.owner_id], payload={**action_item_payload(item), "dueAt": due.isoformat()})
        if due <= now:
            overdue.append(Overdue(kind=SlaKind.ACTION_ITEM, id=item.id, org_id=item.org_id,
                                   owner_id=item.owner_id,  # type: ignore[arg-type]
                                   due=due, record_type="ActionItem", timeline=(item.record_type, item.record_id),
                                   payload=action_item_payload(item)))
    created = await escalate(session, overdue, now)
    await session.flush()
    return created


async def escalations_for(session: AsyncSession, actor: Actor) -> list[Escalation]:
    return list(await session.scalars(select(Escalation).where(
        Escalation.org_id == actor.org_id, Escalation.escalated_to_id == actor.user_id,
    ).order_by(Escalation.created_at.desc())))
