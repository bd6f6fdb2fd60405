"""What a matching workflow rule does, each through the service that owns the effect, so events, the
outbox, timelines and notifications behave as they do for people:

- ``SET_FIELD`` {field, value}: a plain field of the record (a ``workflow.record_updated`` event with the
  change, which rules watching UPDATED hear as any other change);
- ``ASSIGN`` {to: USER|OWNER_MANAGER, userId}: the record's owner (the same event, addressed to the new owner);
  {to: ASSIGNMENT_RULE, assignmentRuleId}: a lead's or opportunity's owner picked by one of the org's assignment
  rules of its kind, as routing picks (round robin, load or territory; capacity and leave respected), the record's
  ``assignment`` saying why (routing's ``<record>.assigned`` event, addressed to the new owner; the owner keeps it
  when the rule finds nobody);
- ``CREATE_ACTION_ITEM`` {title, owner: OWNER|OWNER_MANAGER|USER, userId, dueInHours|dueInDays};
- ``NOTIFY`` {to: [OWNER, OWNER_MANAGER], users, roles, template}: a ``workflow.notified`` event
  addressed to the recipients;
- ``ADD_COMMENT`` {body}: a comment on the record by the rule's author;
- ``ESCALATE`` {levels, template}: a ``workflow.escalated`` event to the owner's managers, nearest first;
- ``ADD_TAG`` {tag}: a tag added to a record that has tags (customers), as SET_FIELD records a change;
- ``START_SLA``: the record's SLA clock started under the org's policy of its type (``sla.start_clock``).

A built-in rule (no author) acts as the system: its events name no actor, and it cannot comment.

Templates hold ``{{field}}`` placeholders (field paths as in conditions). What a rule writes into the
record (a field, an action item's title, a comment) is filled in with what its author may read (checked
when the rule is saved). What it sends to people is never filled in here: the event carries the template
and the values by path, and each recipient's copy is cut to the fields they may read when they read it
(a placeholder they may not read shows as "—"; domain/collaboration/timeline.py fills it in)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Boolean, Date, Integer, Numeric, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..collaboration.comment import add_comment
from ..collaboration.meeting import ActionItem, action_item_payload
from ..collaboration.timeline import fill
from ..shared.actor import Actor
from ..shared.clock import clock
from ..shared.errors import Validator
from ..shared.outbox import record_event
from ..shared.payload import camel, plain
from ..tenancy.user import ROLES, User, managers_of
from .conditions import Catalog, attribute
from .errors import AutomationErrorCode
from .routing import RoutedType, assign_by_rule
from .sla import start_clock

KINDS = ("SET_FIELD", "ASSIGN", "CREATE_ACTION_ITEM", "NOTIFY", "ADD_COMMENT", "ESCALATE", "ADD_TAG", "START_SLA")
MAX_TAG = 50
MAX_ACTIONS = 20
MAX_TEMPLATE = 2000
MAX_RECIPIENTS = 100
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][\w.]*)\s*\}\}")
NOT_SETTABLE = frozenset({"id", "org_id", "version", "owner_id", "created_at", "updated_at", "stage_key",
                          "status", "closed_at"})
"""Fields SET_FIELD leaves to their own services (the owner: ASSIGN; a stage or status: its transitions)."""
RECIPIENTS = ("OWNER", "OWNER_MANAGER")
ROUTED = {kind.record_type: kind for kind in RoutedType}
"""The record types assignment rules route (ASSIGN to ASSIGNMENT_RULE)."""


def placeholders(template: str) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER.findall(template)))


def fields_of(actions: list[dict[str, Any]]) -> list[str]:
    """The field paths the actions' templates read."""
    out: list[str] = []
    for action in actions or []:
        for key in ("template", "title", "body", "value"):
            if isinstance(action.get(key), str):
                out += placeholders(action[key])
    return list(dict.fromkeys(out))


def _column(model: type, name: str) -> Any:
    table = getattr(model, "__table__", None)
    return table.c.get(name) if table is not None else None


Readers = Callable[[str, str], frozenset[str]]
"""``(Type, field) -> the roles of the org's policy that may read it``."""


def _copies_unreadable(readers: Readers | None, sources: tuple[str, ...], audience: frozenset[str]) -> bool:
    """Whether text made of ``sources`` would reach a role of ``audience`` that may not read one of them."""
    return readers is not None and any(not audience <= readers(*g.split(".", 1)) for g in sources)


def validate_actions(v: Validator, catalog: Catalog, object_type: str, actions: Any,
                     can_read: Callable[[str, str], bool], readers: Readers | None = None) -> None:
    """``readers`` (None: authorization is off): what a rule writes into a record is read by whoever reads
    that record or field, so a placeholder in an action item's title or a comment must name a field every
    role may read, and one in a SET_FIELD value a field every role that may read the target field may; a
    NOTIFY or ESCALATE template is cut per recipient instead."""
    if not isinstance(actions, list) or not actions or len(actions) > MAX_ACTIONS:
        v.add("actions", AutomationErrorCode.INVALID_ACTION, f"a rule has 1 to {MAX_ACTIONS} actions")
        return
    model = catalog.models.get(object_type)
    for i, action in enumerate(actions):
        at = ("actions", str(i))
        if not isinstance(action, dict) or action.get("type") not in KINDS:
            v.add(at, AutomationErrorCode.INVALID_ACTION, f"each action is an object with type one of {KINDS}")
            continue
        kind = action["type"]
        for key in ("template", "title", "body", "value"):
            text = action.get(key)
            if isinstance(text, str):
                if len(text) > MAX_TEMPLATE:
                    v.add((*at, key), AutomationErrorCode.INVALID_ACTION, f"at most {MAX_TEMPLATE} characters")
                for path in placeholders(text):
                    governs = catalog.readable_fields(object_type, path)
                    if governs is None:
                        v.add((*at, key), AutomationErrorCode.UNKNOWN_FIELD, f"{object_type} has no field {path!r}")
                    elif not all(can_read(*g.split(".", 1)) for g in governs):
                        v.add((*at, key), AutomationErrorCode.FIELD_NOT_READABLE, f"you may not read {path}")
                    elif key in ("title", "body") and _copies_unreadable(readers, governs, frozenset(ROLES)):
                        v.add((*at, key), AutomationErrorCode.FIELD_NOT_READABLE,
                              f"not every role may read {path}, and this text is written into the record for "
                              "all who see it (a NOTIFY template is cut per recipient)")
                    elif key == "value" and readers is not None and _copies_unreadable(
                            readers, governs, _target_readers(readers, catalog, object_type, action)):
                        v.add((*at, key), AutomationErrorCode.FIELD_NOT_READABLE,
                              f"a role that may read {action.get('field')} may not read {path}")
        if kind == "SET_FIELD":
            _check_set_field(v, at, catalog, object_type, action, can_read)
        elif kind == "ASSIGN":
            if model is None or attribute(model, "ownerId") != "owner_id":
                v.add(at, AutomationErrorCode.INVALID_ACTION, f"{object_type} records have no owner")
            if action.get("to") != "ASSIGNMENT_RULE":
                _check_person(v, at, action, "to")
            elif object_type not in ROUTED:
                v.add((*at, "to"), AutomationErrorCode.INVALID_ACTION,
                      "assignment rules route leads and opportunities only")
            elif isinstance(action.get("assignmentRuleId"), bool) or not isinstance(action.get("assignmentRuleId"),
                                                                                    int):
                v.add((*at, "assignmentRuleId"), AutomationErrorCode.INVALID_ACTION,
                      "name the assignment rule (assignmentRuleId)")
        elif kind == "CREATE_ACTION_ITEM":
            if not isinstance(action.get("title"), str) or not action["title"].strip():
                v.add((*at, "title"), AutomationErrorCode.INVALID_ACTION, "an action item needs a title")
            _check_person(v, at, action, "owner")
            for key in ("dueInHours", "dueInDays"):
                due = action.get(key)
                if due is not None and (isinstance(due, bool) or not isinstance(due, int | float) or
                                        not 0 <= due <= 24 * 366):
                    v.add((*at, key), AutomationErrorCode.INVALID_ACTION, f"{key} is a number of hours or days")
        elif kind in ("NOTIFY", "ESCALATE"):
            if not isinstance(action.get("template"), str) or not action["template"].strip():
                v.add((*at, "template"), AutomationErrorCode.INVALID_ACTION, "a message needs a template")
            if kind == "NOTIFY":
                _check_recipients(v, at, action)
            elif not isinstance(action.get("levels", 1), int) or not 1 <= action.get("levels", 1) <= 10:
                v.add((*at, "levels"), AutomationErrorCode.INVALID_ACTION, "levels is 1 to 10")
        elif kind == "ADD_TAG":
            tag = action.get("tag")
            if model is None or _column(model, "tags") is None:
                v.add(at, AutomationErrorCode.INVALID_ACTION, f"{object_type} records have no tags")
            elif not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > MAX_TAG:
                v.add((*at, "tag"), AutomationErrorCode.INVALID_ACTION, f"a tag is 1 to {MAX_TAG} characters")
        elif kind == "ADD_COMMENT" and (not isinstance(action.get("body"), str) or not action["body"].strip()):
            v.add((*at, "body"), AutomationErrorCode.INVALID_ACTION, "a comment needs a body")


def _target_readers(readers: Readers, catalog: Catalog, object_type: str, action: dict[str, Any]) -> frozenset[str]:
    """The roles that may read the field a SET_FIELD writes (all of them when it names no known field)."""
    field = action.get("field")
    governs = catalog.readable_fields(object_type, field) if isinstance(field, str) else None
    audience = frozenset(ROLES)
    for g in governs or ():
        audience &= readers(*g.split(".", 1))
    return audience


def _check_person(v: Validator, at: tuple[str, ...], action: dict[str, Any], key: str) -> None:
    who = action.get(key, "OWNER" if key == "owner" else None)
    if who not in (*RECIPIENTS, "USER") or (who == "OWNER" and key == "to"):
        v.add((*at, key), AutomationErrorCode.INVALID_ACTION, f"{key} is OWNER_MANAGER or USER (with userId)"
              + (", or ASSIGNMENT_RULE (with assignmentRuleId)" if key == "to" else ""))
    elif who == "USER" and not isinstance(action.get("userId"), int):
        v.add((*at, "userId"), AutomationErrorCode.INVALID_ACTION, "name the user (userId)")


def _check_recipients(v: Validator, at: tuple[str, ...], action: dict[str, Any]) -> None:
    to, users, roles = action.get("to", []), action.get("users", []), action.get("roles", [])
    if (not isinstance(to, list) or any(t not in RECIPIENTS for t in to)
            or not isinstance(users, list) or any(not isinstance(u, int) or isinstance(u, bool) for u in users)
            or not isinstance(roles, list) or any(not isinstance(r, str) for r in roles)):
        v.add((*at, "to"), AutomationErrorCode.INVALID_ACTION,
              "recipients are to: [OWNER, OWNER_MANAGER], users: [ids], roles: [names]")
    elif not (to or users or roles) or len(users) > MAX_RECIPIENTS:
        v.add((*at, "to"), AutomationErrorCode.INVALID_ACTION, "name someone to notify")


def _check_set_field(v: Validator, at: tuple[str, ...], catalog: Catalog, object_type: str,
                     action: dict[str, Any], can_read: Callable[[str, str], bool]) -> None:
    name = action.get("field")
    model = catalog.models.get(object_type)
    attr = attribute(model, name) if isinstance(name, str) and "." not in name else None
    governs = catalog.readable_fields(object_type, name) if isinstance(name, str) else None
    column = _column(model, attr) if model is not None and attr else None
    if governs is None or column is None or attr in NOT_SETTABLE or attr.endswith("_id"):
        v.add((*at, "field"), AutomationErrorCode.UNKNOWN_FIELD, f"SET_FIELD cannot set {object_type}.{name}")
        return
    if not all(can_read(*g.split(".", 1)) for g in governs):
        v.add((*at, "field"), AutomationErrorCode.FIELD_NOT_READABLE, f"you may not read {name}")
    try:
        coerce(column, fill_plain(action.get("value"), {}))
    except (ValueError, TypeError, InvalidOperation):
        v.add((*at, "value"), AutomationErrorCode.INVALID_ACTION, f"not a value {name} can take")


def fill_plain(value: Any, values: dict[str, Any]) -> Any:
    """A SET_FIELD value with its placeholders filled in (a text), or the value as given."""
    if isinstance(value, str) and PLACEHOLDER.search(value):
        return fill(value, {k: plain(v) for k, v in values.items()}, missing="")
    return value


def coerce(column: Any, value: Any) -> Any:
    """``value`` as the column stores it; ValueError when it cannot be."""
    if value is None:
        if not column.nullable:
            raise ValueError("required")
        return None
    kind = column.type
    if isinstance(kind, Boolean):
        if not isinstance(value, bool):
            raise ValueError("not a boolean")
        return value
    if isinstance(kind, Integer) and not isinstance(value, bool):
        return int(Decimal(str(value)))
    if isinstance(kind, Numeric) or type(kind).__name__ == "MoneyType":
        return Decimal(str(value))
    if isinstance(kind, Date):
        return date.fromisoformat(str(value))
    if isinstance(kind, String | Text) and isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
        if getattr(kind, "length", None) and len(text) > kind.length:
            text = text[:kind.length]
        return text
    raise ValueError("not settable")


# --- running ------------------------------------------------------------------------------------


@dataclass
class Target:
    """The record a rule runs on, and what the actions read of it."""

    record_type: str
    record: Any
    values: dict[str, Any]
    """Field values by path (every path the rule's templates name)."""


async def _owner_manager(session: AsyncSession, org_id: int, owner_id: int | None) -> int | None:
    if owner_id is None:
        return None
    owner = await session.get(User, owner_id)  # read once per unit of work (rules testing owner.* read it already)
    return owner.manager_id if owner is not None and owner.org_id == org_id else None


async def _person(session: AsyncSession, org_id: int, action: dict[str, Any], key: str, owner_id: int | None,
                  default: str | None = None) -> int | None:
    who = action.get(key, default)
    if who == "OWNER":
        return owner_id
    if who == "OWNER_MANAGER":
        return await _owner_manager(session, org_id, owner_id)
    user = await session.scalar(select(User.id).where(User.org_id == org_id, User.id == action.get("userId"),
                                                      User.active.is_(True)))
    return user


async def run_action(session: AsyncSession, author: Actor | None, rule: Any, target: Target,
                     action: dict[str, Any]) -> dict[str, Any]:
    """Do one action (``author`` None: a built-in rule, acting as the system); returns what was done (for
    the run's record). Raises ValueError when it cannot."""
    kind = action["type"]
    record = target.record
    owner_id = getattr(record, "owner_id", None)
    org_id = rule.org_id
    if kind == "START_SLA":
        return {"type": kind, "clock": await start_clock(session, org_id, target.record_type, record.id)}
    if kind == "ASSIGN" and action.get("to") == "ASSIGNMENT_RULE":
        assignment = await assign_by_rule(session, author, ROUTED[target.record_type], record,
                                          action["assignmentRuleId"], by=f"workflow rule {rule.name}")
        return {"type": kind, "field": "ownerId", "value": assignment.assignee_id, "previous": owner_id,
                "assignmentRuleId": assignment.rule_id, "method": assignment.method, "reason": assignment.reason}
    if kind in ("SET_FIELD", "ASSIGN", "ADD_TAG"):
        if kind == "ADD_TAG":
            attr = "tags"
            tags = list(getattr(record, attr) or [])
            tag = action["tag"].strip()
            value = tags if tag in tags else [*tags, tag]
        elif kind == "SET_FIELD":
            attr = attribute(type(record), action["field"])
            value = coerce(_column(type(record), attr), fill_plain(action.get("value"), target.values))
        else:
            attr = "owner_id"
            value = await _person(session, org_id, action, "to", owner_id)
            if value is None:
                raise ValueError("nobody to assign to (the owner has no manager?)")
        before = getattr(record, attr)
        if before == value:
            return {"type": kind, "field": camel(attr), "unchanged": True}
        setattr(record, attr, value)
        if hasattr(record, "updated_at"):
            record.updated_at = clock.now()
        await session.flush()
        record_event(session, author, org_id=org_id, topic="workflow.record_updated",
                     record_type=target.record_type, record_id=record.id, operation="update",
                     audience=[value] if kind == "ASSIGN" else [],
                     payload={"rule": rule.name, "changes": {camel(attr): [plain(before), plain(value)]},
                              "version": getattr(record, "version", None)})
        return {"type": kind, "field": camel(attr), "value": plain(value)}
    if kind == "CREATE_ACTION_ITEM":
        if author is None:
            raise ValueError("a built-in rule creates no action items: nobody would be their author")
        assignee = await _person(session, org_id, action, "owner", owner_id, default="OWNER")
        hours = float(action.get("dueInHours") or 0) + 24 * float(action.get("dueInDays") or 0)
        now = clock.now()
        item = ActionItem(org_id=org_id, meeting_id=None, record_type=target.record_type, record_id=record.id,
                          title=fill(action["title"], _plain(target.values), missing="—")[:500],
                          owner_id=assignee, due_at=now + timedelta(hours=hours) if hours else None,
                          created_by_id=author.user_id, created_at=now)
        session.add(item)
        await session.flush()
        record_event(session, author, org_id=org_id, topic="action_item.assigned", record_type="ActionItem",
                     record_id=item.id, operation="create", timeline=(target.record_type, record.id),
                     audience=[assignee] if assignee else [], payload=action_item_payload(item))
        return {"type": kind, "actionItemId": item.id, "ownerId": assignee}
    if kind == "ADD_COMMENT":
        if author is None:
            raise ValueError("a built-in rule writes no comments: nobody would be their author")
        comment = await add_comment(session, author, record_type=target.record_type, record_id=record.id,
                                    body=fill(action["body"], _plain(target.values), missing="—"))
        return {"type": kind, "commentId": comment.id}
    message = {"rule": rule.name, "template": action["template"],
               "values": {p: plain(target.values.get(p)) for p in placeholders(action["template"])}}
    if kind == "NOTIFY":
        recipients = await _recipients(session, org_id, action, owner_id)
        if not recipients:
            raise ValueError("nobody to tell")
        record_event(session, author, org_id=org_id, topic="workflow.notified", record_type=target.record_type,
                     record_id=record.id, operation="notify", audience=recipients, payload=message)
    else:
        chain = await managers_of(session, org_id, owner_id) if owner_id is not None else []
        recipients = chain[:action.get("levels", 1)]
        if not recipients:
            raise ValueError("nobody to tell")
        record_event(session, author, org_id=org_id, topic="workflow.escalated", record_type=target.record_type,
                     record_id=record.id, operation="notify", audience=recipients, payload=message)
    return {"type": kind, "recipients": recipients}


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in values.items()}


async def _recipients(session: AsyncSession, org_id: int, action: dict[str, Any], owner_id: int | None) -> list[int]:
    out: list[int] = []
    if "OWNER" in action.get("to", []) and owner_id is not None:
        out.append(owner_id)
    if "OWNER_MANAGER" in action.get("to", []):
        manager = await _owner_manager(session, org_id, owner_id)
        if manager is not None:
            out.append(manager)
    wanted = [u for u in action.get("users", []) if isinstance(u, int)]
    roles = set(action.get("roles", []))
    if wanted or roles:
        rows = await session.execute(select(User.id, User.roles).where(User.org_id == org_id, User.active.is_(True)))
        out += [uid for uid, user_roles in rows if uid in wanted or roles.intersection(user_roles or [])]
    return list(dict.fromkeys(out))[:MAX_RECIPIENTS]


__all__ = ["KINDS", "Target", "coerce", "fields_of", "placeholders", "run_action", "validate_actions"]
