"""Workflow rules: per org, on one record type, a trigger, a condition tree and a list of actions,
versioned, ordered and switched on and off; and the record of every run.

Saving a rule checks its trigger, its conditions (against the registry and the author's read
permissions: ``can_read``) and its actions; a rule an author may only write for their team's records
(``limited``) runs only on records owned by the author or someone below them. Every change to a rule is
an outbox event (``workflow_rule.*``). What runs a rule is ``rule_engine``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..collaboration.sla import SlaPolicy
from ..shared.actor import Actor
from ..shared.base import Base, IdType, UtcDateTime, pk
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict, load_for_write
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..tenancy.user import User
from .actions import validate_actions
from .conditions import Catalog, attribute, validate_conditions
from .derived_dates import DERIVED_DATES
from .errors import AutomationErrorCode
from .routing.model import AssignmentRule, RoutedType
from .rule_cron import parse_cron, zone

MAX_RULES_PER_ORG = 1000
AUTHORED = frozenset({"CREATE_ACTION_ITEM", "ADD_COMMENT"})
"""Actions whose results name their author: a built-in rule (no author) cannot take them."""


class Trigger(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    STAGE_ENTERED = "STAGE_ENTERED"
    STATUS_CHANGED = "STATUS_CHANGED"
    EVENT = "EVENT"
    DATE_RELATIVE = "DATE_RELATIVE"
    SCHEDULED = "SCHEDULED"


class WorkflowRule(Base):
    __tablename__ = "workflow_rule"
    __table_args__ = (Index("ix_workflow_rule_org_type", "org_id", "object_type", "enabled"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    object_type: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(20))
    trigger_options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """``fieldsChanged`` (UPDATED), ``stage`` (STAGE_ENTERED), ``status`` (STATUS_CHANGED), ``topic`` (EVENT),
    ``dateField`` and ``offsetHours`` (DATE_RELATIVE), ``cron`` and ``timeZone`` (SCHEDULED)."""
    conditions: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    """Rules of one record type run in this order (then by id)."""
    author_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    """Who wrote it; None for a built-in rule, which acts as the system (seeded_rules.py)."""
    built_in: Mapped[bool] = mapped_column(Boolean, default=False)
    """Seeded for every org (seeded_rules.py); edited, switched off or deleted like any other."""
    limited: Mapped[bool] = mapped_column(Boolean, default=False)
    """Runs only on records owned by the author or someone below them (a sales manager's team rule)."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    checked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    """DATE_RELATIVE and SCHEDULED: how far the scheduler's passes have covered (rule_schedule.py)."""

    __mapper_args__ = {"version_id_col": version}


class WorkflowRun(Base):
    __tablename__ = "workflow_run"
    __table_args__ = (Index("ix_workflow_run_rule", "org_id", "rule_id", "at", "id"),
                      Index("ix_workflow_run_record", "org_id", "record_type", "record_id", "at"))

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(IdType, ForeignKey("workflow_rule.id", ondelete="CASCADE"))
    rule_version: Mapped[int] = mapped_column(Integer)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    trigger: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str | None] = mapped_column(String(80), nullable=True)
    matched: Mapped[bool] = mapped_column(Boolean)
    condition_results: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    actions_done: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime]


@dataclass
class RuleInput:
    name: str | None = None
    object_type: str | None = None
    trigger: Trigger | None = None
    trigger_options: dict[str, Any] = field(default_factory=dict)
    conditions: Any = None
    actions: Any = None
    enabled: bool | None = None
    position: int | None = None
    set_fields: set[str] = field(default_factory=set)


def rule_payload(rule: WorkflowRule) -> dict[str, Any]:
    return {"id": rule.id, "name": rule.name, "objectType": rule.object_type, "trigger": rule.trigger,
            "enabled": rule.enabled, "position": rule.position, "authorId": rule.author_id, "version": rule.version,
            "builtIn": rule.built_in}


async def _check_people(session: AsyncSession, org_id: int, actions: list[dict[str, Any]]) -> None:
    """NOT_FOUND for a user an action names who is not of the org."""
    named = {u for a in actions for u in [a.get("userId"), *(a.get("users") or [])] if isinstance(u, int)}
    if named:
        found = set(await session.scalars(select(User.id).where(User.org_id == org_id, User.id.in_(named))))
        if named - found:
            raise NotFound("User", min(named - found))


async def _check_sla(session: AsyncSession, org_id: int, object_type: str, actions: list[dict[str, Any]]) -> None:
    """INVALID_ACTION for a START_SLA on a record type the org has no SLA policy with clocks for."""
    starts = [i for i, a in enumerate(actions or []) if isinstance(a, dict) and a.get("type") == "START_SLA"]
    if starts:
        policies = await session.scalars(select(SlaPolicy).where(SlaPolicy.org_id == org_id,
                                                                 SlaPolicy.object_type == object_type))
        if not any(p.runs_on_clocks for p in policies):
            raise ValidationFailed.one(("actions", str(starts[0])), AutomationErrorCode.INVALID_ACTION,
                                       f"the org has no SLA policy for {object_type} records (setSlaPolicy first)")


async def _check_assignment_rules(session: AsyncSession, org_id: int, object_type: str,
                                  actions: list[dict[str, Any]]) -> None:
    """NOT_FOUND for an assignment rule an ASSIGN names that is not of the org; INVALID_ACTION for one that routes
    another kind of record than the rule's."""
    named = {i: a["assignmentRuleId"] for i, a in enumerate(actions or []) if isinstance(a, dict)
             and a.get("type") == "ASSIGN" and a.get("to") == "ASSIGNMENT_RULE"
             and isinstance(a.get("assignmentRuleId"), int)}
    if not named:
        return
    found: dict[int, str] = {rule_id: kind for rule_id, kind in await session.execute(
        select(AssignmentRule.id, AssignmentRule.object_type).where(AssignmentRule.org_id == org_id,
                                                                   AssignmentRule.id.in_(set(named.values()))))}
    for i, rule_id in named.items():
        if rule_id not in found:
            raise NotFound("AssignmentRule", rule_id)
        if RoutedType(found[rule_id]).record_type != object_type:
            raise ValidationFailed.one(("actions", str(i), "assignmentRuleId"), AutomationErrorCode.INVALID_ACTION,
                                       f"assignment rule {rule_id} routes {found[rule_id]}s, not {object_type} records")


def _is_date_field(catalog: Catalog, object_type: str, name: Any) -> bool:
    if (object_type, name) in DERIVED_DATES:
        return True
    if not isinstance(name, str) or "." in name or catalog.readable_fields(object_type, name) is None:
        return False
    model = catalog.models[object_type]
    column = model.__table__.c.get(attribute(model, name) or "")
    return column is not None and isinstance(column.type, Date | DateTime | UtcDateTime)


def _check(v: Validator, catalog: Catalog, object_type: str, data: RuleInput, trigger: str,
           can_read: Callable[[str, str], bool],
           readers: Callable[[str, str], frozenset[str]] | None = None) -> dict[str, Any]:
    """The rule's trigger options, after checking them, its conditions and its actions."""
    options: dict[str, Any] = {}
    given = {k: val for k, val in data.trigger_options.items() if val is not None}
    allowed = {Trigger.UPDATED: {"fieldsChanged"}, Trigger.STAGE_ENTERED: {"stage"},
               Trigger.STATUS_CHANGED: {"status"}, Trigger.EVENT: {"topic"},
               Trigger.DATE_RELATIVE: {"dateField", "offsetHours"},
               Trigger.SCHEDULED: {"cron", "timeZone"}}.get(Trigger(trigger), set())
    for key, val in given.items():
        if key not in allowed:
            v.add(("trigger", key), AutomationErrorCode.INVALID_TRIGGER, f"{trigger} takes no {key}")
        elif key == "fieldsChanged":
            if not isinstance(val, list) or not val:
                v.add(("trigger", key), AutomationErrorCode.INVALID_TRIGGER, "fieldsChanged lists fields")
                continue
            for i, name in enumerate(val):
                if "." in name or catalog.readable_fields(object_type, name) is None:
                    v.add(("trigger", key, str(i)), AutomationErrorCode.UNKNOWN_FIELD,
                          f"{object_type} has no field {name!r}")
            options[key] = list(val)
        elif key == "offsetHours":
            if isinstance(val, bool) or not isinstance(val, int | float) or abs(val) > 24 * 366:
                v.add(("trigger", key), AutomationErrorCode.INVALID_TRIGGER, "offsetHours: hours, at most a year")
            options[key] = val
        elif key == "dateField":
            if not _is_date_field(catalog, object_type, val):
                v.add(("trigger", key), AutomationErrorCode.UNKNOWN_FIELD,
                      f"{object_type} has no date field {val!r}")
            options[key] = val
        elif key == "cron":
            try:
                parse_cron(val)
            except ValueError:
                v.add(("trigger", key), AutomationErrorCode.INVALID_TRIGGER,
                      "cron is five fields: minute hour day month weekday (*, 1-5, */15, 1,3)")
            options[key] = val
        elif key == "timeZone":
            try:
                zone(val)
            except ValueError:
                v.add(("trigger", key), AutomationErrorCode.INVALID_TRIGGER, "an IANA time zone, e.g. Asia/Shanghai")
            options[key] = val
        else:
            text = v.text(key, val, max_len=80, required=True)
            options[key] = text
    if trigger == Trigger.EVENT and "topic" not in options:
        v.add(("trigger", "topic"), AutomationErrorCode.INVALID_TRIGGER, "an EVENT rule names its topic")
    if trigger == Trigger.DATE_RELATIVE and "dateField" not in options:
        v.add(("trigger", "dateField"), AutomationErrorCode.INVALID_TRIGGER,
              "a DATE_RELATIVE rule names its date field")
    if trigger == Trigger.SCHEDULED and "cron" not in options:
        v.add(("trigger", "cron"), AutomationErrorCode.INVALID_TRIGGER, "a SCHEDULED rule names its cron")
    validate_conditions(v, catalog, object_type, data.conditions, can_read)
    validate_actions(v, catalog, object_type, data.actions, can_read, readers)
    return options


async def create_rule(session: AsyncSession, actor: Actor, catalog: Catalog, data: RuleInput, *,
                      can_read: Callable[[str, str], bool], limited: bool,
                      readers: Callable[[str, str], frozenset[str]] | None = None) -> WorkflowRule:
    v = Validator()
    name = v.text("name", data.name, max_len=200, required=True)
    object_type = data.object_type or ""
    if object_type not in catalog.models:
        raise ValidationFailed.one("objectType", AutomationErrorCode.UNKNOWN_OBJECT_TYPE,
                                   f"{object_type!r} is not a record type rules can watch")
    if data.trigger is None:
        raise ValidationFailed.one("trigger", SharedErrorCode.REQUIRED, "trigger is required")
    options = _check(v, catalog, object_type, data, data.trigger, can_read, readers)
    v.raise_if_any()
    await _check_people(session, actor.org_id, data.actions)
    await _check_assignment_rules(session, actor.org_id, object_type, data.actions)
    await _check_sla(session, actor.org_id, object_type, data.actions)
    count = len(list(await session.scalars(select(WorkflowRule.id).where(WorkflowRule.org_id == actor.org_id)
                                           .limit(MAX_RULES_PER_ORG + 1))))
    if count >= MAX_RULES_PER_ORG:
        raise ValidationFailed.one("name", SharedErrorCode.INVALID, f"an org has at most {MAX_RULES_PER_ORG} rules")
    now = clock.now()
    rule = WorkflowRule(org_id=actor.org_id, name=name, object_type=object_type, trigger=data.trigger.value,
                        trigger_options=options, conditions=data.conditions, actions=list(data.actions or []),
                        enabled=True if data.enabled is None else data.enabled, position=data.position or 0,
                        author_id=actor.user_id, limited=limited, created_at=now, updated_at=now)
    session.add(rule)
    await session.flush()
    _rule_event(session, actor, rule, "workflow_rule.created", "create")
    return rule


def draft_rule(actor: Actor, catalog: Catalog, data: RuleInput, *,
               can_read: Callable[[str, str], bool],
               readers: Callable[[str, str], frozenset[str]] | None = None) -> WorkflowRule:
    """A rule checked as ``create_rule`` checks it, not saved (a dry run's)."""
    v = Validator()
    name = v.text("name", data.name, max_len=200, required=True)
    object_type = data.object_type or ""
    if object_type not in catalog.models:
        raise ValidationFailed.one("objectType", AutomationErrorCode.UNKNOWN_OBJECT_TYPE,
                                   f"{object_type!r} is not a record type rules can watch")
    trigger = data.trigger or Trigger.UPDATED
    options = _check(v, catalog, object_type, data, trigger, can_read, readers)
    v.raise_if_any()
    now = clock.now()
    return WorkflowRule(id=0, org_id=actor.org_id, name=name, object_type=object_type, trigger=trigger.value,
                        trigger_options=options, conditions=data.conditions, actions=list(data.actions or []),
                        enabled=True, position=0, author_id=actor.user_id, limited=False, version=0,
                        created_at=now, updated_at=now)


async def _for_write(session: AsyncSession, actor: Actor, rule_id: int, version: int | None,
                     limited: bool) -> WorkflowRule:
    stmt = select(WorkflowRule).where(WorkflowRule.org_id == actor.org_id, WorkflowRule.id == rule_id)
    if limited:  # a sales manager changes only the rules they wrote
        stmt = stmt.where(WorkflowRule.author_id == actor.user_id)
    return await load_for_write(session, stmt, type_name="WorkflowRule", record_id=rule_id, version=version)


async def update_rule(session: AsyncSession, actor: Actor, catalog: Catalog, rule_id: int, version: int,
                      data: RuleInput, *, can_read: Callable[[str, str], bool], limited: bool,
                      readers: Callable[[str, str], frozenset[str]] | None = None) -> WorkflowRule:
    """A new version of the rule; conditions and actions are checked again as the editor may read."""
    rule = await _for_write(session, actor, rule_id, version, limited)
    named = data.set_fields
    v = Validator()
    merged = RuleInput(
        trigger_options=data.trigger_options if "trigger" in named else dict(rule.trigger_options),
        conditions=data.conditions if "conditions" in named else rule.conditions,
        actions=data.actions if "actions" in named else rule.actions)
    trigger = data.trigger.value if "trigger" in named and data.trigger is not None else rule.trigger
    options = _check(v, catalog, rule.object_type, merged, trigger, can_read, readers)
    name = v.text("name", data.name, max_len=200, required=True) if "name" in named else rule.name
    if rule.author_id is None:  # a built-in rule acts as the system: nobody would author its items or comments
        for i, action in enumerate(merged.actions if isinstance(merged.actions, list) else []):
            if isinstance(action, dict) and action.get("type") in AUTHORED:
                v.add(("actions", str(i)), AutomationErrorCode.INVALID_ACTION,
                      "a built-in rule has no author to create action items or comments as")
    v.raise_if_any()
    await _check_people(session, actor.org_id, merged.actions)
    await _check_assignment_rules(session, actor.org_id, rule.object_type, merged.actions)
    await _check_sla(session, actor.org_id, rule.object_type, merged.actions)
    rule.name, rule.trigger, rule.trigger_options = name or rule.name, trigger, options
    rule.conditions, rule.actions = merged.conditions, list(merged.actions or [])
    if "enabled" in named and data.enabled is not None:
        rule.enabled = data.enabled
    if "position" in named and data.position is not None:
        rule.position = data.position
    rule.updated_at = clock.now()
    await flush_or_conflict(session, "WorkflowRule")
    _rule_event(session, actor, rule, "workflow_rule.updated", "update")
    return rule


async def set_rule_enabled(session: AsyncSession, actor: Actor, rule_id: int, enabled: bool, *,
                           limited: bool) -> WorkflowRule:
    rule = await _for_write(session, actor, rule_id, None, limited)
    if rule.enabled != enabled:
        rule.enabled = enabled
        rule.updated_at = clock.now()
        if enabled:
            rule.checked_until = rule.updated_at  # a rule switched back on starts from now, not from when it stopped
        await flush_or_conflict(session, "WorkflowRule")
        _rule_event(session, actor, rule, "workflow_rule.enabled" if enabled else "workflow_rule.disabled",
                    "update")
    return rule


async def delete_rule(session: AsyncSession, actor: Actor, rule_id: int, version: int, *,
                      limited: bool) -> WorkflowRule:
    rule = await _for_write(session, actor, rule_id, version, limited)
    _rule_event(session, actor, rule, "workflow_rule.deleted", "delete")
    await session.delete(rule)
    await session.flush()
    return rule


def _rule_event(session: AsyncSession, actor: Actor, rule: WorkflowRule, topic: str, operation: str) -> None:
    record_event(session, actor, org_id=rule.org_id, topic=topic, record_type="WorkflowRule",
                 record_id=rule.id, operation=operation, payload=rule_payload(rule))


async def get_rule(session: AsyncSession, org_id: int, rule_id: int) -> WorkflowRule:
    rule = await session.scalar(select(WorkflowRule).where(WorkflowRule.org_id == org_id,
                                                           WorkflowRule.id == rule_id))
    if rule is None:
        raise NotFound("WorkflowRule", rule_id)
    return rule


async def list_rules(session: AsyncSession, org_id: int, object_type: str | None = None) -> list[WorkflowRule]:
    stmt = select(WorkflowRule).where(WorkflowRule.org_id == org_id)
    if object_type:
        stmt = stmt.where(WorkflowRule.object_type == object_type)
    return list(await session.scalars(stmt.order_by(WorkflowRule.object_type, WorkflowRule.position,
                                                    WorkflowRule.id)))


RUN_ORDER = SortKey("at", WorkflowRun.at, datetime)


async def list_runs(session: AsyncSession, org_id: int, req: PageRequest, *, rule_id: int | None = None,
                    record: tuple[str, int] | None = None, author_id: int | None = None,
                    with_total: bool = False) -> Page[WorkflowRun]:
    """Runs newest first, of one rule and/or on one record (of the rules ``author_id`` wrote, when given)."""
    stmt = select(WorkflowRun).where(WorkflowRun.org_id == org_id)
    if author_id is not None:
        stmt = stmt.where(WorkflowRun.rule_id.in_(select(WorkflowRule.id).where(WorkflowRule.org_id == org_id,
                                                                                 WorkflowRule.author_id == author_id)))
    if rule_id is not None:
        stmt = stmt.where(WorkflowRun.rule_id == rule_id)
    if record is not None:
        stmt = stmt.where(WorkflowRun.record_type == record[0], WorkflowRun.record_id == record[1])
    req = PageRequest(first=req.first, after=req.after, last=req.last, before=req.before, descending=True)
    return await paginate(session, stmt, entity=WorkflowRun, sort=RUN_ORDER, req=req, with_total=with_total)


__all__ = ["RuleInput", "Trigger", "WorkflowRule", "WorkflowRun", "create_rule", "delete_rule", "draft_rule",
           "get_rule", "list_rules", "list_runs", "rule_payload", "set_rule_enabled", "update_rule"]
