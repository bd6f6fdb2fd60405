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

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..shared.actor import Actor
from ..shared.clock import clock
from ..shared.dialect import bulk_insert
from ..shared.errors import DomainError
from ..shared.later import write_later
from ..shared.outbox import DEPTH, OutboxEvent, settlers
from ..shared.payload import camel
from ..tenancy.scope import chain_below
from ..tenancy.user import User
from . import actions as rule_actions
from .conditions import Catalog, Check, Facts, compile_conditions, fields_of
from .errors import AutomationErrorCode
from .rule import Trigger, WorkflowRule, WorkflowRun

MAX_DEPTH = 5
"""How many reactions deep rules may run: a user's change, a rule's action, a rule reacting to that..."""
UNWATCHED = frozenset({"WorkflowRule", "WorkflowRun"})
CHANGES_RECORD = frozenset({"SET_FIELD", "ASSIGN", "ADD_TAG"})
"""Actions that change the record itself: the rules after them read its values afresh."""

RULES = "workflow_rules"
"""``session.info`` key: the enabled rules of each org by record type, read once per unit of work."""
READS = "workflow_reads"
"""``session.info`` key: related rows, authors and field values read once per unit of work."""

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


def triggers(rule: Rule, topic: str, event: Fired) -> bool:
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
class Reads:
    """Rows read while settling one batch (related records, authors), by model and id."""

    rows: dict[tuple[type, int], Any] = field(default_factory=dict)
    authors: dict[int, Actor | None] = field(default_factory=dict)
    values: dict[tuple[str, int, str], Any] = field(default_factory=dict)
    """Field values read, by record type, record id and path (many rules test the same fields)."""


async def read_values(session: AsyncSession, cat: Catalog, org_id: int, record_type: str, record: Any,
                      paths: list[str], reads: Reads | None = None) -> dict[str, Any]:
    """Each path's value on the record, following id fields to the records they name (same org)."""
    reads = reads or Reads()
    out: dict[str, Any] = {}
    for path in paths:
        known = (record_type, record.id, path)
        if known in reads.values:
            out[path] = reads.values[known]
            continue
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
            row = await _row(session, reads, model, org_id, value)
        reads.values[known] = out.get(path)
    return out


async def _row(session: AsyncSession, reads: Reads, model: type, org_id: int, pk: int) -> Any:
    """A row of the org by id: from the unit of work when it holds it (the record just changed), else read once."""
    key = (model, pk)
    if key not in reads.rows:
        row = await session.get(model, pk)
        reads.rows[key] = row if row is not None and row.org_id == org_id else None
    return reads.rows[key]


async def _author(session: AsyncSession, reads: Reads, org_id: int, user_id: int) -> Actor | None:
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


@dataclass(frozen=True)
class Rule:
    """An enabled rule as the engine runs it: a copy of its row, with the field paths it reads."""

    id: int
    org_id: int
    name: str
    object_type: str
    trigger: str
    trigger_options: dict[str, Any]
    conditions: Any
    actions: list[dict[str, Any]]
    author_id: int | None
    """None: a built-in rule, acting as the system."""
    limited: bool
    version: int
    paths: list[str]
    check: Check
    """Its conditions, compiled."""


def runnable(r: WorkflowRule) -> Rule:
    paths = list(dict.fromkeys(fields_of(r.conditions) + rule_actions.fields_of(r.actions)))
    return Rule(r.id, r.org_id, r.name, r.object_type, r.trigger, dict(r.trigger_options or {}), r.conditions,
                list(r.actions or []), r.author_id, r.limited, r.version, paths, compile_conditions(r.conditions))


@dataclass
class RuleSet:
    """The enabled rules of one record type, in order, indexed by what they listen for."""

    rules: list[Rule] = field(default_factory=list)
    by_trigger: dict[str, list[int]] = field(default_factory=dict)
    """Positions in ``rules`` of the rules of each trigger (EVENT rules by their topic instead)."""
    by_topic: dict[str, list[int]] = field(default_factory=dict)

    def add(self, rule: Rule) -> None:
        if rule.trigger == Trigger.EVENT:
            self.by_topic.setdefault((rule.trigger_options or {}).get("topic") or "", []).append(len(self.rules))
        else:
            self.by_trigger.setdefault(rule.trigger, []).append(len(self.rules))
        self.rules.append(rule)

    def hearing(self, topic: str, event: Fired) -> list[Rule]:
        """The rules the event triggers, in order (only those listening for one of its kinds are tested)."""
        found: list[int] = []
        for kind in event.kinds:
            found += self.by_topic.get(topic, []) if kind == Trigger.EVENT else self.by_trigger.get(kind, [])
        return [self.rules[i] for i in sorted(found) if triggers(self.rules[i], topic, event)]


_RULES_CACHE: OrderedDict[int, tuple[tuple[Any, ...], dict[str, RuleSet]]] = OrderedDict()
_RULES_CACHE_MAX = 1000


async def _enabled_rules(session: AsyncSession, org_id: int) -> dict[str, RuleSet]:
    """The org's enabled rules by record type, in order. Kept per process between units of work and
    checked against the table each time (how many rules, the highest id, the sum of versions: any
    create, edit, switch or delete changes it), so every process runs the rules as they stand."""
    live = WorkflowRule.trigger.not_in([Trigger.DATE_RELATIVE, Trigger.SCHEDULED])
    mine = (WorkflowRule.org_id == org_id)
    stamp = tuple((await session.execute(select(func.count(), func.max(WorkflowRule.id),
                                                func.sum(WorkflowRule.version)).where(mine))).one())
    found = _RULES_CACHE.get(org_id)
    if found is not None and found[0] == stamp:
        _RULES_CACHE.move_to_end(org_id)
        return found[1]
    by_type: dict[str, RuleSet] = {}
    if stamp[0]:
        rows = await session.scalars(select(WorkflowRule).where(mine, WorkflowRule.enabled.is_(True), live)
                                     .order_by(WorkflowRule.position, WorkflowRule.id))
        for r in rows:
            by_type.setdefault(r.object_type, RuleSet()).add(runnable(r))
    _RULES_CACHE[org_id] = (stamp, by_type)
    if len(_RULES_CACHE) > _RULES_CACHE_MAX:
        _RULES_CACHE.popitem(last=False)
    return by_type


@dataclass
class Outcome:
    matched: bool
    results: list[dict[str, Any]]
    actions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def decide(rule: Rule | WorkflowRule, values: dict[str, Any], change: dict[str, Any], now: datetime) -> Outcome:
    check = rule.check if isinstance(rule, Rule) else compile_conditions(rule.conditions)
    matched, results = check(Facts(values, change, now))
    return Outcome(matched, results)


async def _settle(session: AsyncSession, batch: list[tuple[OutboxEvent, int]]) -> None:
    if _catalog is None:
        return
    cat = _catalog
    watched = [(e, d) for e, d in batch if e.record_type in cat.models and e.record_type not in UNWATCHED]
    if not watched:
        return
    cached: dict[int, dict[str, RuleSet]] = session.info.setdefault(RULES, {})
    if any(e.record_type == "WorkflowRule" for e, _ in batch):
        cached.clear()  # a rule changed in this unit of work
    for org_id in {e.org_id for e, _ in watched} - set(cached):
        cached[org_id] = await _enabled_rules(session, org_id)
    reads: Reads = session.info.setdefault(READS, Reads())
    acted: list[dict[str, Any]] = []
    heard: list[dict[str, Any]] = []
    for event, depth in watched:
        ruleset = cached[event.org_id].get(event.record_type)
        if ruleset is None:
            continue
        payload = event.payload if isinstance(event.payload, dict) else {}
        what = fired(event.topic, event.operation, payload)
        rules = ruleset.hearing(event.topic, what)
        if not rules:
            continue
        record = await _row(session, reads, cat.models[event.record_type], event.org_id, event.record_id)
        if record is None:
            continue
        values: dict[str, Any] | None = None
        for rule in rules:
            if values is None:  # every path the rules read, at once (again after a rule's actions changed things)
                paths = list(dict.fromkeys(p for r in rules for p in r.paths))
                values = await read_values(session, cat, event.org_id, event.record_type, record, paths, reads)
            run = await run_rule(session, cat, reads, rule, event.record_type, record, what.change, event.topic,
                                 depth, values)
            if run is None:
                continue
            if run["matched"] or run["errors"]:
                acted.append(run)
                if any(a.get("type") in CHANGES_RECORD and not a.get("unchanged") for a in run["actions_done"]):
                    values = None
            else:
                heard.append(run)
    if acted:  # what rules did commits with it, in one statement
        await session.execute(WorkflowRun.__table__.insert(), acted)
    if heard:  # most rules hear a change and do not match: their runs change nothing, so they wait for the commit
        await write_later(session, record_heard, heard)


async def record_heard(session: AsyncSession, runs: list[dict[str, Any]]) -> None:
    """Insert runs that did nothing, in one statement, after their change committed: a run whose rule was
    deleted meanwhile is dropped with it."""
    rule_ids = {r["rule_id"] for r in runs}
    alive = set(await session.scalars(select(WorkflowRule.id).where(WorkflowRule.id.in_(rule_ids))))
    kept = [r for r in runs if r["rule_id"] in alive]
    await bulk_insert(session, WorkflowRun.__table__, kept)


async def run_rule(session: AsyncSession, cat: Catalog, reads: Reads, rule: Rule, record_type: str, record: Any,
                   change: dict[str, Any], topic: str | None, depth: int,
                   values: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Evaluate the rule on the record, do its actions if it matches; the run's row (None: the rule does
    not reach the record, or its author left). ``values``: the record's values already read (at least the
    rule's paths)."""
    author = None
    if rule.limited and rule.author_id is not None:
        author = await _author(session, reads, rule.org_id, rule.author_id)
    if rule.limited and (author is None or not await _in_reach(session, author, record)):
        return None
    if values is None:
        values = await read_values(session, cat, rule.org_id, record_type, record, rule.paths, reads)
    now = clock.now()
    outcome = decide(rule, values, change, now)
    if outcome.matched and author is None and rule.author_id is not None:  # read only now: most do not match
        author = await _author(session, reads, rule.org_id, rule.author_id)
        if author is None:
            return None  # its author left the org: it no longer acts
    if outcome.matched and depth >= MAX_DEPTH:
        outcome.errors.append({"code": AutomationErrorCode.RULE_LOOP.value,
                               "message": f"stopped: rules ran {MAX_DEPTH} reactions deep"})
    elif outcome.matched:
        target = rule_actions.Target(record_type, record, values)
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
            reads.values.clear()  # what the actions changed is read afresh
    return {"org_id": rule.org_id, "rule_id": rule.id, "rule_version": rule.version,
            "record_type": record_type, "record_id": record.id, "trigger": rule.trigger, "topic": topic,
            "matched": outcome.matched, "condition_results": outcome.results, "actions_done": outcome.actions,
            "errors": outcome.errors, "depth": depth, "at": now}


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
