"""Running workflow rules: every event a unit of work records (``outbox.record_event``, the one point
every change passes) is matched, before the unit of work commits, against the enabled rules of its
record type; a rule whose trigger fires is evaluated, its run recorded, and its actions done in the same
transaction. Whatever the actions change is recorded as events too and runs the rules again, up to
``MAX_DEPTH`` reactions deep: a rule that would fire beyond it records RULE_LOOP and does nothing, and the
change that started it commits as usual.

Triggers read from an event (any record type, no code per type): ``<type>.created`` is CREATED; a
``.updated`` event (its ``changes``; a rule's own ``workflow.record_updated`` too) and a stage move are
UPDATED; a stage move is STAGE_ENTERED; a change of ``status`` (or an event whose payload carries the new
``status``) is STATUS_CHANGED; the exact topic is EVENT. The registry is handed down once (``install``):
automation sits below it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..shared.actor import Actor
from ..shared.clock import clock
from ..shared.errors import DomainError
from ..shared.outbox import DEPTH, OutboxEvent, settlers
from ..shared.payload import camel
from ..tenancy.scope import chain_below
from ..tenancy.user import User
from . import actions as rule_actions
from .conditions import Catalog, Facts, evaluate, fields_of
from .errors import AutomationErrorCode
from .rule import Trigger, WorkflowRule, WorkflowRun

MAX_DEPTH = 5
"""How many reactions deep rules may run: a user's change, a rule's action, a rule reacting to that..."""
UNWATCHED = frozenset({"WorkflowRule", "WorkflowRun"})

_catalog: Catalog | None = None


def install(catalog: Catalog) -> None:
    """The registry's facts (domain/registry hands them down when it is imported)."""
    global _catalog
    _catalog = catalog


def catalog() -> Catalog:
    if _catalog is None:
        raise RuntimeError("the record-type registry is not loaded (import tandem.domain.registry)")
    return _catalog


@dataclass(frozen=True)
class Fired:
    """What an event is, as triggers see it."""

    kinds: frozenset[str]
    change: dict[str, Any]
    stage: str | None = None
    status: str | None = None


def fired(topic: str, operation: str, payload: dict[str, Any]) -> Fired:
    kinds: set[str] = {Trigger.EVENT.value}
    action = topic.rsplit(".", 1)[-1]
    change: dict[str, Any] = {}
    stage = status = None
    if action == "created" or operation == "create" and action not in ("updated", "stage_moved"):
        kinds.add(Trigger.CREATED.value)
    if action in ("updated", "record_updated"):
        kinds.add(Trigger.UPDATED.value)
        raw = payload.get("changes")
        if isinstance(raw, dict):
            change = {camel(k): v for k, v in raw.items()}
    if action == "stage_moved":
        kinds |= {Trigger.UPDATED.value, Trigger.STAGE_ENTERED.value}
        stage = payload.get("to")
        change = {"stage": [payload.get("from"), stage]}
    if "status" in change:
        kinds.add(Trigger.STATUS_CHANGED.value)
        after = change["status"]
        status = after[-1] if isinstance(after, list) else after
    elif action not in ("created", "updated") and operation == "update" and isinstance(payload.get("status"), str):
        kinds.add(Trigger.STATUS_CHANGED.value)
        status = payload["status"]
        change = {"status": [None, status]}
    return Fired(frozenset(kinds), change, stage, status)


def triggers(rule: WorkflowRule, topic: str, event: Fired) -> bool:
    if rule.trigger not in event.kinds:
        return False
    options = rule.trigger_options or {}
    if rule.trigger == Trigger.EVENT:
        return options.get("topic") == topic
    if rule.trigger == Trigger.UPDATED and options.get("fieldsChanged"):
        return any(camel(f) in event.change for f in options["fieldsChanged"])
    if rule.trigger == Trigger.STAGE_ENTERED and options.get("stage"):
        return options["stage"] == event.stage
    if rule.trigger == Trigger.STATUS_CHANGED and options.get("status"):
        return options["status"] == event.status
    return True


@dataclass
class _Reads:
    """Rows read while settling one batch (related records, authors), by model and id."""

    rows: dict[tuple[type, int], Any] = field(default_factory=dict)
    authors: dict[int, Actor | None] = field(default_factory=dict)


async def read_values(session: AsyncSession, cat: Catalog, org_id: int, record_type: str, record: Any,
                      paths: list[str], reads: _Reads | None = None) -> dict[str, Any]:
    """Each path's value on the record, following id fields to the records they name (same org)."""
    reads = reads or _Reads()
    out: dict[str, Any] = {}
    for path in paths:
        steps = cat.steps(record_type, path)
        if steps is None:
            continue
        row = record
        for i, (type_name, key) in enumerate(steps):
            attr = rule_actions.attribute(cat.models.get(type_name), key)
            value = getattr(row, attr) if attr and row is not None else None
            if i == len(steps) - 1:
                out[path] = value
                break
            model = cat.models.get(steps[i + 1][0])
            if model is None or value is None:
                out[path] = None
                break
            found = reads.rows.get((model, value))
            if found is None:
                found = await session.scalar(select(model).where(model.org_id == org_id, model.id == value))
                reads.rows[(model, value)] = found
            row = found
    return out


async def _author(session: AsyncSession, reads: _Reads, org_id: int, user_id: int) -> Actor | None:
    if user_id not in reads.authors:
        user = await session.scalar(select(User).where(User.org_id == org_id, User.id == user_id))
        reads.authors[user_id] = None if user is None or not user.active else Actor(
            user_id=user.id, org_id=org_id, roles=frozenset(user.roles or []), email=user.email, team_id=user.team_id)
    return reads.authors[user_id]


async def _in_reach(session: AsyncSession, author: Actor, record: Any) -> bool:
    """A team rule runs on records owned by its author or someone below them."""
    owner = getattr(record, "owner_id", None)
    if owner is None:
        return False
    return owner in set(await session.scalars(chain_below(author)))


@dataclass
class Outcome:
    matched: bool
    results: list[dict[str, Any]]
    actions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def decide(rule: WorkflowRule, values: dict[str, Any], change: dict[str, Any], now: datetime) -> Outcome:
    matched, results = evaluate(rule.conditions, Facts(values, change, now))
    return Outcome(matched, results)


async def _settle(session: AsyncSession, batch: list[tuple[OutboxEvent, int]]) -> None:
    if _catalog is None:
        return
    cat = _catalog
    watched = [(e, d) for e, d in batch if e.record_type in cat.models and e.record_type not in UNWATCHED]
    if not watched:
        return
    by_org: dict[int, list[WorkflowRule]] = {}
    for org_id in {e.org_id for e, _ in watched}:
        by_org[org_id] = list(await session.scalars(
            select(WorkflowRule).where(WorkflowRule.org_id == org_id, WorkflowRule.enabled.is_(True),
                                       WorkflowRule.trigger.not_in([Trigger.DATE_RELATIVE, Trigger.SCHEDULED]))
            .order_by(WorkflowRule.position, WorkflowRule.id)))
    reads = _Reads()
    runs: list[WorkflowRun] = []
    for event, depth in watched:
        payload = event.payload if isinstance(event.payload, dict) else {}
        what = fired(event.topic, event.operation, payload)
        rules = [r for r in by_org[event.org_id] if r.object_type == event.record_type
                 and triggers(r, event.topic, what)]
        if not rules:
            continue
        model = cat.models[event.record_type]
        record = await session.scalar(select(model).where(model.org_id == event.org_id, model.id == event.record_id))
        if record is None:
            continue
        for rule in rules:
            run = await _run(session, cat, reads, rule, event, what, record, depth)
            if run is not None:
                runs.append(run)
    session.add_all(runs)
    if runs:
        await session.flush()


async def _run(session: AsyncSession, cat: Catalog, reads: _Reads, rule: WorkflowRule, event: OutboxEvent,
               what: Fired, record: Any, depth: int) -> WorkflowRun | None:
    author = await _author(session, reads, rule.org_id, rule.author_id)
    if author is None or (rule.limited and not await _in_reach(session, author, record)):
        return None
    paths = list(dict.fromkeys(fields_of(rule.conditions) + rule_actions.fields_of(rule.actions)))
    values = await read_values(session, cat, rule.org_id, event.record_type, record, paths, reads)
    outcome = decide(rule, values, what.change, clock.now())
    if outcome.matched and depth >= MAX_DEPTH:
        outcome.errors.append({"code": AutomationErrorCode.RULE_LOOP.value,
                               "message": f"stopped: rules ran {MAX_DEPTH} reactions deep"})
    elif outcome.matched:
        target = rule_actions.Target(event.record_type, record, values)
        before = session.info.get(DEPTH, 0)
        session.info[DEPTH] = depth + 1
        try:
            for i, action in enumerate(rule.actions):
                try:
                    outcome.actions.append(await rule_actions.run_action(session, author, rule, target, action))
                except (ValueError, DomainError) as exc:
                    outcome.errors.append({"code": AutomationErrorCode.ACTION_FAILED.value, "action": i,
                                           "message": str(getattr(exc, "message", exc))})
        finally:
            session.info[DEPTH] = before
    return WorkflowRun(org_id=rule.org_id, rule_id=rule.id, rule_version=rule.version,
                       record_type=event.record_type, record_id=record.id, trigger=rule.trigger, topic=event.topic,
                       matched=outcome.matched, condition_results=outcome.results, actions_done=outcome.actions,
                       errors=outcome.errors, depth=depth, at=clock.now())


async def dry_run(session: AsyncSession, rule: WorkflowRule, record_type: str, record: Any) -> Outcome:
    """What the rule would decide on the record as it is now (no change, nothing written): whether it
    matches, each test's result, and the actions it would take."""
    cat = catalog()
    paths = list(dict.fromkeys(fields_of(rule.conditions) + rule_actions.fields_of(rule.actions)))
    values = await read_values(session, cat, rule.org_id, record_type, record, paths)
    outcome = decide(rule, values, {}, clock.now())
    if outcome.matched:
        outcome.actions = [{"type": a.get("type"), "wouldRun": True} for a in rule.actions]
    return outcome


settlers.append(_settle)
