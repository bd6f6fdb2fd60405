"""SLA clocks: moved by the events a unit of work records (the outbox ``settle`` hook the workflow engine
uses), read as each record's SLA status, and passed over by the scheduler for breaches and escalations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...billing.invoice import OPEN_STATUSES, Invoice, InvoiceKind
from ...collaboration.meeting import ActionItem
from ...collaboration.sla import Escalation, SlaKind, SlaPolicy
from ...delivery.calendar import BusinessHours, OrgCalendar, wall_hours
from ...delivery.task import Task, TaskStatus
from ...shared.clock import clock
from ...shared.outbox import OutboxEvent, record_event, settlers
from ...tenancy.user import User
from .. import rule_engine
from ..conditions import Facts, evaluate, fields_of
from .policy import CHANGED, GONE, POLICIES, EscalateTo, SlaCalendar, SlaClock

# --- moving clocks on the events a unit of work records ------------------------------------------


@dataclass
class _Reads:
    policies: dict[int, list[SlaPolicy]] = field(default_factory=dict)
    calendars: dict[int, BusinessHours] = field(default_factory=dict)


async def _hours(session: AsyncSession, reads: _Reads, policy: SlaPolicy, start: datetime, end: datetime) -> float:
    if policy.calendar != SlaCalendar.BUSINESS_HOURS:
        return wall_hours(start, end)
    if policy.org_id not in reads.calendars:
        reads.calendars[policy.org_id] = BusinessHours.of(await session.get(OrgCalendar, policy.org_id))
    return reads.calendars[policy.org_id].hours_between(start, end)


def _concerns(object_type: str, event: OutboxEvent) -> tuple[int, bool] | None:
    """The id of the record of a type an event counts for, and whether it is about the record itself."""
    if event.record_type == object_type:
        return event.record_id, True
    if event.timeline_type == object_type and event.timeline_id is not None:
        return event.timeline_id, False
    if event.also_type == object_type and event.also_id is not None:
        return event.also_id, False
    return None


def _hits(entries: list[str], topic: str, values: tuple[str | None, ...]) -> bool:
    return topic in entries or any(v is not None and v in entries for v in values)


async def _settle(session: AsyncSession, batch: list[tuple[OutboxEvent, int]]) -> None:
    events = [e for e, _ in batch if not e.topic.startswith("sla.") or e.topic in CHANGED]
    if not events:
        return
    reads: _Reads = session.info.setdefault(POLICIES, _Reads())
    if any(e.topic in CHANGED for e in events):
        reads.policies.clear()
    for org_id in {e.org_id for e in events} - set(reads.policies):
        reads.policies[org_id] = [p for p in await session.scalars(
            select(SlaPolicy).where(SlaPolicy.org_id == org_id).order_by(SlaPolicy.position, SlaPolicy.id))
            if p.runs_on_clocks]
    for event in events:
        by_type: dict[str, list[SlaPolicy]] = {}
        for policy in reads.policies[event.org_id]:
            by_type.setdefault(policy.object_type, []).append(policy)
        for object_type, policies in by_type.items():
            found = _concerns(object_type, event)
            if found is not None:
                await _move(session, reads, policies, event, *found)


@dataclass(frozen=True)
class _Hit:
    stop: bool
    pause: bool
    start: bool
    resume: bool


def _hit(policy: SlaPolicy, event: OutboxEvent, values: tuple[str | None, ...], left: tuple[str | None, ...],
         gone: bool) -> _Hit:
    return _Hit(stop=gone or _hits(policy.stop_on, event.topic, values),
                pause=_hits(policy.pause_on, event.topic, values),
                start=_hits(policy.start_on, event.topic, values),
                resume=bool(left) and _hits(policy.pause_on, "", left))


async def _move(session: AsyncSession, reads: _Reads, policies: list[SlaPolicy], event: OutboxEvent,
                record_id: int, own: bool) -> None:
    """Move the record's clock as the event says: under the policy it runs on, or, when it has none yet, start
    it under the first of its type's policies (in order) whose conditions the record matches, when that
    policy's start entries name the event."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    what = rule_engine.fired(event.topic, event.operation, payload)
    values: tuple[str | None, ...] = ()
    left: tuple[str | None, ...] = ()
    if own:
        values = (what.status, what.stage)
        if event.operation == "create":  # a record created in a status or stage is in it from the start
            values += tuple(v for v in (payload.get("status"), payload.get("stage")) if isinstance(v, str))
        before = what.change.get("status") or what.change.get("stage")
        left = (before[0],) if isinstance(before, list) and len(before) == 2 else ()
    gone = own and event.topic.endswith(GONE)
    hits = {p.id: _hit(p, event, values, left, gone) for p in policies}
    if not any(h.stop or h.pause or h.start or h.resume for h in hits.values()):
        return
    object_type = policies[0].object_type
    now = clock.now()
    row = await _clock_of(session, policies, object_type, record_id)
    if row is None:
        if not any(h.start for h in hits.values()):
            return
        policy = await _first_matching(session, policies, record_id, what.change, now)
        if policy is None or not hits[policy.id].start or hits[policy.id].stop:
            return
        pause = hits[policy.id].pause  # created in a pause status or stage: started, and paused from the start
        row = SlaClock(org_id=policy.org_id, policy_id=policy.id, record_type=object_type, record_id=record_id,
                       started_at=now, running_since=None if pause else now, paused_since=now if pause else None,
                       elapsed_hours=0.0, escalated=0)
        session.add(row)
        await session.flush()
        await _clock_event(session, reads, policy, row, "sla.started", now)
        if pause:
            await _clock_event(session, reads, policy, row, "sla.paused", now)
        return
    policy = next(p for p in policies if p.id == row.policy_id)
    hit = hits[policy.id]
    if row.stopped_at is not None:
        return  # a stopped clock stays stopped
    if hit.stop:
        await _accrue(session, reads, policy, row, now)
        row.stopped_at, row.paused_since = now, None
        met = row.breached_at is None and row.elapsed_hours < (policy.target_hours or 0.0) and not gone
        await _clock_event(session, reads, policy, row, "sla.met" if met else "sla.stopped", now)
    elif hit.pause:
        if row.running_since is not None:
            await _accrue(session, reads, policy, row, now)
            row.paused_since = now
            await _clock_event(session, reads, policy, row, "sla.paused", now)
    elif (hit.start or hit.resume) and row.paused_since is not None:
        row.running_since, row.paused_since = now, None
        await _clock_event(session, reads, policy, row, "sla.resumed", now)
    await session.flush()


async def _clock_of(session: AsyncSession, policies: list[SlaPolicy], object_type: str,
                    record_id: int) -> SlaClock | None:
    """The record's clock under one of its type's policies (a record has one at most)."""
    return await session.scalar(select(SlaClock).where(
        SlaClock.policy_id.in_([p.id for p in policies]), SlaClock.record_type == object_type,
        SlaClock.record_id == record_id).order_by(SlaClock.id).limit(1))


async def _clock_event(session: AsyncSession, reads: _Reads, policy: SlaPolicy, row: SlaClock, topic: str,
                       now: datetime) -> None:
    """A clock started, paused, resumed, met or stopped: on the record's timeline and in the change feed, cut per
    reader like any event about the record (the record's own shape: its name)."""
    record = await session.get(rule_engine.catalog().models[policy.object_type], row.record_id)
    if record is None:
        return
    elapsed = await _elapsed(session, reads, policy, row, now)
    facts: dict[str, Any] = {"kind": policy.kind, "targetHours": policy.target_hours,
                             "elapsedHours": round(elapsed, 2)}
    if topic in ("sla.met", "sla.stopped"):
        facts["met"] = topic == "sla.met"
    record_event(session, None, org_id=policy.org_id, topic=topic, record_type=policy.object_type,
                 record_id=row.record_id, operation="update", payload=_payload(record, facts))


async def _accrue(session: AsyncSession, reads: _Reads, policy: SlaPolicy, row: SlaClock, now: datetime) -> None:
    if row.running_since is not None:
        row.elapsed_hours += await _hours(session, reads, policy, row.running_since, now)
        row.running_since = None


async def _applies(session: AsyncSession, policy: SlaPolicy, record_id: int, change: dict[str, Any],
                   now: datetime) -> bool:
    if policy.conditions is None:
        return True
    cat = rule_engine.catalog()
    record = await session.get(cat.models[policy.object_type], record_id)
    if record is None:
        return False
    values = await rule_engine.read_values(session, cat, policy.org_id, policy.object_type, record,
                                           fields_of(policy.conditions))
    return evaluate(policy.conditions, Facts(values, change, now))[0]


async def _first_matching(session: AsyncSession, policies: list[SlaPolicy], record_id: int, change: dict[str, Any],
                          now: datetime) -> SlaPolicy | None:
    """The first of a type's policies (in order) whose conditions the record matches: the one that counts for it."""
    for policy in policies:
        if await _applies(session, policy, record_id, change, now):
            return policy
    return None


async def start_clock(session: AsyncSession, org_id: int, record_type: str, record_id: int) -> str:
    """Start the record's clock under the first of the org's SLA policies of its type that matches it, as a start
    entry does (or resume it when paused): a workflow rule's ``START_SLA``. Returns ``started``, ``resumed`` or
    ``running``; ValueError when no policy applies to the record or its clock has stopped."""
    policies = [p for p in await session.scalars(
        select(SlaPolicy).where(SlaPolicy.org_id == org_id, SlaPolicy.object_type == record_type)
        .order_by(SlaPolicy.position, SlaPolicy.id)) if p.runs_on_clocks]
    now = clock.now()
    reads = _Reads()
    row = await _clock_of(session, policies, record_type, record_id) if policies else None
    policy = next((p for p in policies if row is not None and p.id == row.policy_id), None) or \
        await _first_matching(session, policies, record_id, {}, now)
    if policy is None:
        raise ValueError(f"no SLA policy applies to this {record_type}")
    if row is not None and row.stopped_at is not None:
        raise ValueError("its SLA clock has stopped")
    if row is None:
        row = SlaClock(org_id=org_id, policy_id=policy.id, record_type=record_type, record_id=record_id,
                       started_at=now, running_since=now, paused_since=None, elapsed_hours=0.0, escalated=0)
        session.add(row)
        done = "started"
    elif row.paused_since is not None:
        row.running_since, row.paused_since = now, None
        done = "resumed"
    else:
        return "running"
    await session.flush()
    await _clock_event(session, reads, policy, row, "sla.started" if done == "started" else "sla.resumed", now)
    return done


settlers.append(_settle)


# --- status, breaches and escalations ------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    policy: SlaPolicy
    target: float
    elapsed: float
    remaining: float
    breached: bool
    paused_since: datetime | None
    started_at: datetime | None
    stopped_at: datetime | None


async def _elapsed(session: AsyncSession, reads: _Reads, policy: SlaPolicy, row: SlaClock, now: datetime) -> float:
    running = await _hours(session, reads, policy, row.running_since, now) if row.running_since else 0.0
    return row.elapsed_hours + running


async def statuses_of(session: AsyncSession, org_id: int, record_type: str, ids: list[int]) -> dict[int, Status]:
    """Each record's SLA status by id (absent: no policy applies to it, or its clock never started)."""
    now = clock.now()
    reads = _Reads()
    out: dict[int, Status] = {}
    rows = list(await session.execute(select(SlaClock, SlaPolicy).join(SlaPolicy, SlaPolicy.id == SlaClock.policy_id)
                                      .where(SlaClock.org_id == org_id, SlaClock.record_type == record_type,
                                             SlaClock.record_id.in_(ids))))
    for row, policy in rows:
        elapsed = await _elapsed(session, reads, policy, row, now)
        target = policy.target_hours or 0.0
        out[row.record_id] = Status(policy, target, round(elapsed, 4), round(max(target - elapsed, 0.0), 4),
                                    row.breached_at is not None or elapsed >= target, row.paused_since,
                                    row.started_at, row.stopped_at)
    if record_type in BUILT_IN:
        out.update({k: v for k, v in (await _built_in(session, org_id, record_type, ids, now)).items() if k not in out})
    return out


def _day_after(day: date) -> datetime:
    """A due date has passed at the next day's 00:00 UTC (as the overdue passes count it)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


async def _action_item_times(session: AsyncSession, org_id: int, ids: list[int], policy: SlaPolicy | None,
                             now: datetime) -> dict[int, tuple[datetime, datetime, datetime | None]]:
    out = {}
    for item in await session.scalars(select(ActionItem).where(ActionItem.org_id == org_id, ActionItem.id.in_(ids))):
        due = item.due_at
        if due is None and policy is not None and policy.due_hours:
            due = item.created_at + timedelta(hours=policy.due_hours)
        if due is not None:
            out[item.id] = (item.created_at, due, item.completed_at)
    return out


async def _invoice_times(session: AsyncSession, org_id: int, ids: list[int], policy: SlaPolicy | None,
                         now: datetime) -> dict[int, tuple[datetime, datetime, datetime | None]]:
    out = {}
    for inv in await session.scalars(select(Invoice).where(Invoice.org_id == org_id, Invoice.id.in_(ids),
                                                           Invoice.kind == InvoiceKind.INVOICE.value,
                                                           Invoice.due_date.is_not(None))):
        if inv.issue_date is None:
            continue  # a draft has no due time yet
        done = _day_after(inv.paid_on) if inv.paid_on else inv.voided_at
        if done is None and inv.status not in OPEN_STATUSES:
            done = inv.updated_at
        start = datetime.combine(inv.issue_date, time(0), tzinfo=UTC)
        out[inv.id] = (start, _day_after(inv.due_date), done)  # type: ignore[arg-type]
    return out


async def _task_times(session: AsyncSession, org_id: int, ids: list[int], policy: SlaPolicy | None,
                      now: datetime) -> dict[int, tuple[datetime, datetime, datetime | None]]:
    out = {}
    for task in await session.scalars(select(Task).where(Task.org_id == org_id, Task.id.in_(ids),
                                                         Task.is_summary.is_(False))):
        due = task.due_date or task.baseline_finish
        if due is None:
            continue
        open_ = task.status in (TaskStatus.TODO.value, TaskStatus.IN_PROGRESS.value)
        done = None if open_ else (_day_after(task.actual_finish) if task.actual_finish else task.updated_at)
        out[task.id] = (task.created_at, _day_after(due), done)
    return out


BUILT_IN = {"ActionItem": (SlaKind.ACTION_ITEM, _action_item_times), "Invoice": (SlaKind.INVOICE, _invoice_times),
            "Task": (SlaKind.TASK, _task_times)}
"""The built-in kinds' records: counted around the clock from their start to their due time."""


async def _built_in(session: AsyncSession, org_id: int, record_type: str, ids: list[int],
                    now: datetime) -> dict[int, Status]:
    kind, times = BUILT_IN[record_type]
    policies = list(await session.scalars(select(SlaPolicy).where(SlaPolicy.org_id == org_id,
                                                                  SlaPolicy.kind == kind.value)))
    if any(p.runs_on_clocks for p in policies):
        return {}  # the org's policies of this kind run on clocks
    policy = policies[0] if policies else None
    shown = policy or SlaPolicy(kind=kind.value, object_type=record_type, start_on=[], stop_on=[], pause_on=[],
                                calendar="ALWAYS", escalations=[])
    out = {}
    for pk, (start, due, done) in (await times(session, org_id, ids, policy, now)).items():
        end = done or now
        target, elapsed = wall_hours(start, due), wall_hours(start, end)
        out[pk] = Status(shown, round(target, 4), round(elapsed, 4), round(max(target - elapsed, 0.0), 4), end > due,
                         None, start, done)
    return out


async def _targets(session: AsyncSession, org_id: int, record: Any, escalation: dict[str, Any]) -> list[int]:
    to = escalation.get("to")
    if to == EscalateTo.USER:
        user = await session.scalar(select(User).where(User.org_id == org_id, User.id == escalation.get("userId")))
        return [user.id] if user is not None and user.active else []
    if to == EscalateTo.ROLE:
        users = await session.scalars(select(User).where(User.org_id == org_id, User.active.is_(True))
                                      .order_by(User.id))
        return [u.id for u in users if escalation.get("role") in (u.roles or [])]
    owner_id = getattr(record, "owner_id", None) or getattr(record, "assignee_id", None)
    owner = await session.scalar(select(User).where(User.org_id == org_id, User.id == owner_id)) if owner_id else None
    if owner is None or owner.manager_id is None:
        return []
    boss = await session.scalar(select(User).where(User.org_id == org_id, User.id == owner.manager_id))
    return [boss.id] if boss is not None and boss.active else []


def _payload(record: Any, facts: dict[str, Any]) -> dict[str, Any]:
    """An SLA event's payload: the record's id and name (cut per reader by its type's shape) and the facts."""
    payload = {"id": record.id, **facts}
    if isinstance(getattr(record, "name", None), str):
        payload["name"] = record.name
    return payload


async def run_sla_clocks(session: AsyncSession, now: datetime) -> list[Escalation]:
    """One pass over running clocks: breaches marked, escalations due made (each level once). Idempotent."""
    reads = _Reads()
    cat = rule_engine.catalog()
    rows = list(await session.execute(select(SlaClock, SlaPolicy).join(SlaPolicy, SlaPolicy.id == SlaClock.policy_id)
                                      .where(SlaClock.stopped_at.is_(None), SlaClock.running_since.is_not(None))))
    created: list[Escalation] = []
    for row, policy in rows:
        if not policy.runs_on_clocks or policy.target_hours is None:
            continue
        elapsed = await _elapsed(session, reads, policy, row, now)
        if elapsed < policy.target_hours:
            continue
        if row.breached_at is not None and row.escalated >= len(policy.escalations):
            continue  # breached and escalated as far as the policy goes
        record = await session.get(cat.models[policy.object_type], row.record_id)
        if record is None:  # the record is gone: its clock with it
            row.stopped_at, row.running_since = now, None
            continue
        if row.breached_at is None:
            row.breached_at = now
            owner_id = getattr(record, "owner_id", None) or getattr(record, "assignee_id", None)
            record_event(session, None, org_id=policy.org_id, topic="sla.breached", record_type=policy.object_type,
                         record_id=row.record_id, operation="update", audience=[owner_id] if owner_id else [],
                         payload=_payload(record, {"kind": policy.kind, "targetHours": policy.target_hours,
                                                   "elapsedHours": round(elapsed, 2), "dueAt": now.isoformat()}))
        while row.escalated < len(policy.escalations):
            escalation = policy.escalations[row.escalated]
            if elapsed < policy.target_hours + float(escalation.get("afterHours") or 0):
                break
            row.escalated += 1
            targets = await _targets(session, policy.org_id, record, escalation)
            if not targets:
                continue  # nobody to tell at this level; the next level still comes
            made = Escalation(org_id=policy.org_id, item_kind=f"sla.{policy.kind}"[:40], item_id=row.record_id,
                              level=row.escalated, escalated_to_id=targets[0], record_type=policy.object_type,
                              record_id=row.record_id, created_at=now)
            session.add(made)
            await session.flush()
            payload = _payload(record, {"level": row.escalated, "escalatedToId": targets[0], "kind": policy.kind,
                                        "dueAt": row.breached_at.isoformat(), "targetHours": policy.target_hours,
                                        "elapsedHours": round(elapsed, 2)})
            record_event(session, None, org_id=policy.org_id, topic="sla.escalated", record_type=policy.object_type,
                         record_id=row.record_id, operation="update", audience=targets, payload=payload)
            created.append(made)
    await session.flush()
    return created
