"""Workflow rules and their runs (``createWorkflowRule``, ``workflowRules``, ``workflowRuns``, ``testWorkflowRule``).

Conditions and actions are JSON (the README's "Workflow rules" shows both); user ids in actions are
global ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from tandem.domain.automation.rule import Trigger as _Trigger
from tandem.domain.automation.rule import WorkflowRule as WorkflowRuleModel
from tandem.domain.automation.rule import WorkflowRun as WorkflowRunModel

from .errors import UserError
from .node import Node, to_global_id
from .scalars import JSON
from .user import User, load_user

WorkflowTrigger = strawberry.enum(_Trigger, name="WorkflowTrigger", description=(
    "What starts a rule: a record CREATED; UPDATED (optionally only when `fieldsChanged` changed); "
    "STAGE_ENTERED (optionally `stage`); STATUS_CHANGED (optionally `status`); EVENT (any event `topic`, "
    "e.g. `quote.sent`); DATE_RELATIVE (`offsetHours` before (negative) or after a `dateField`); SCHEDULED "
    "(a five-field `cron` in `timeZone`, UTC by default, on every record the conditions select)."))


@strawberry.type(description="A workflow rule: when its trigger fires on a record of `objectType` and its "
                             "conditions hold, its actions run in the same transaction as the change.")
class WorkflowRule(Node):
    name: str
    object_type: str
    trigger: WorkflowTrigger
    fields_changed: list[str] | None
    topic: str | None
    stage: str | None
    status: str | None
    date_field: str | None
    offset_hours: float | None
    cron: str | None
    time_zone: str | None
    conditions: JSON | None = strawberry.field(description="The condition tree (`all`/`any`/`not`/tests).")
    actions: JSON = strawberry.field(description="The actions, in order.")
    enabled: bool
    position: int = strawberry.field(description="Rules of a record type run in this order.")
    limited_to_team: bool = strawberry.field(description="Runs only on records of its author's team (a "
                                                         "sales manager's rule).")
    built_in: bool = strawberry.field(description="Seeded for every org (the built-in reminders); edited, "
                                                  "switched off or deleted like any other rule. It has no author.")
    version: int
    created_at: datetime
    updated_at: datetime
    _author_id: strawberry.Private[int | None]

    @strawberry.field
    async def author(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._author_id)

    @classmethod
    def from_model(cls, m: WorkflowRuleModel) -> WorkflowRule:
        options = m.trigger_options or {}
        return cls(id=to_global_id("WorkflowRule", m.id), name=m.name, object_type=m.object_type,
                   trigger=_Trigger(m.trigger), fields_changed=options.get("fieldsChanged"),
                   topic=options.get("topic"), stage=options.get("stage"), status=options.get("status"),
                   date_field=options.get("dateField"), offset_hours=options.get("offsetHours"),
                   cron=options.get("cron"), time_zone=options.get("timeZone"),
                   conditions=m.conditions, actions=global_user_ids(m.actions), enabled=m.enabled,
                   position=m.position, limited_to_team=m.limited, built_in=m.built_in, version=m.version,
                   created_at=m.created_at,
                   updated_at=m.updated_at, _author_id=m.author_id)


def global_user_ids(actions: list[Any]) -> list[Any]:
    """Actions as the API shows them: user and assignment rule ids as global ids."""
    out = []
    for action in actions or []:
        if isinstance(action, dict):
            action = dict(action)
            if isinstance(action.get("userId"), int):
                action["userId"] = to_global_id("User", action["userId"])
            if isinstance(action.get("users"), list):
                action["users"] = [to_global_id("User", u) if isinstance(u, int) else u for u in action["users"]]
            if isinstance(action.get("assignmentRuleId"), int):
                action["assignmentRuleId"] = to_global_id("AssignmentRule", action["assignmentRuleId"])
        out.append(action)
    return out


@strawberry.type(description="One evaluation of a rule on a record: whether it matched, each condition's result, "
                             "what its actions did and what failed (RULE_LOOP, ACTION_FAILED).")
class WorkflowRun:
    id: strawberry.ID
    rule_id: strawberry.ID
    rule_version: int
    record_type: str
    record_id: strawberry.ID
    trigger: WorkflowTrigger
    topic: str | None
    matched: bool
    condition_results: JSON
    actions_done: JSON
    errors: JSON
    depth: int = strawberry.field(description="0: started by a person's change; n: by a rule's action n deep.")
    at: datetime

    @classmethod
    def from_model(cls, m: WorkflowRunModel) -> WorkflowRun:
        return cls(id=to_global_id("WorkflowRun", m.id), rule_id=to_global_id("WorkflowRule", m.rule_id),
                   rule_version=m.rule_version, record_type=m.record_type,
                   record_id=to_global_id(m.record_type, m.record_id), trigger=_Trigger(m.trigger), topic=m.topic,
                   matched=m.matched, condition_results=m.condition_results,
                   actions_done=global_user_ids(m.actions_done), errors=m.errors, depth=m.depth, at=m.at)


@strawberry.input(description="A new workflow rule. `conditions`: e.g. `{all: [{field: \"amount\", op: \"gt\", "
                              "value: \"500000\"}, {field: \"stage\", op: \"changedTo\", value: \"negotiation\"}]}`; "
                              "`actions`: e.g. `[{type: \"NOTIFY\", to: [\"OWNER_MANAGER\"], template: \"{{name}} "
                              "is in negotiation\"}]`.")
class CreateWorkflowRuleInput:
    name: str
    object_type: str = strawberry.field(description="A record type, e.g. `Opportunity`, `Lead`, `Quote`.")
    trigger: WorkflowTrigger
    fields_changed: list[str] | None = None
    topic: str | None = None
    stage: str | None = None
    status: str | None = None
    date_field: str | None = None
    offset_hours: float | None = None
    cron: str | None = None
    time_zone: str | None = None
    conditions: JSON | None = None
    actions: JSON
    enabled: bool | None = None
    position: int | None = None


@strawberry.input(description="A new version of a rule: only the fields given change; `version` is the one read.")
class UpdateWorkflowRuleInput:
    id: strawberry.ID
    version: int
    name: str | None = strawberry.UNSET
    trigger: WorkflowTrigger | None = strawberry.UNSET
    fields_changed: list[str] | None = strawberry.UNSET
    topic: str | None = strawberry.UNSET
    stage: str | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
    date_field: str | None = strawberry.UNSET
    offset_hours: float | None = strawberry.UNSET
    cron: str | None = strawberry.UNSET
    time_zone: str | None = strawberry.UNSET
    conditions: JSON | None = strawberry.UNSET
    actions: JSON | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    position: int | None = strawberry.UNSET


@strawberry.input
class SetWorkflowRuleEnabledInput:
    id: strawberry.ID
    enabled: bool


@strawberry.input
class DeleteWorkflowRuleInput:
    id: strawberry.ID
    version: int


@strawberry.input(description="Dry-run a saved rule (`ruleId`) or a draft (`rule`) on a record as it is now; "
                              "nothing is written.")
class TestWorkflowRuleInput:
    rule_id: strawberry.ID | None = None
    rule: CreateWorkflowRuleInput | None = None
    record_id: strawberry.ID


@strawberry.type
class WorkflowRulePayload:
    workflow_rule: WorkflowRule | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteWorkflowRulePayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="What a rule would decide on a record now (no change, nothing written).")
class WorkflowRuleTest:
    matched: bool | None = None
    condition_results: JSON | None = None
    actions: JSON | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
