"""Workflow rules: admins for any record, sales managers for their team's records (their rules run only
on records owned by them or someone below them, and they change only the rules they wrote)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry

from tandem.authz.guard import Guard
from tandem.domain.automation import rule as service
from tandem.domain.automation.rule_engine import catalog, dry_run
from tandem.domain.registry import OWNED_TYPES
from tandem.domain.shared.errors import FieldError, Forbidden, NotFound, SharedErrorCode, ValidationFailed
from tandem.domain.shared.pagination import PageRequest
from tandem.domain.shared.scope import Scope
from tandem.domain.tenancy.user import ROLES
from tandem.schema.errors import UserError
from tandem.schema.node import decode_id, from_global_id
from tandem.schema.pagination import Connection, wants_total
from tandem.schema.workflow_rule import (
    CreateWorkflowRuleInput,
    DeleteWorkflowRuleInput,
    DeleteWorkflowRulePayload,
    SetWorkflowRuleEnabledInput,
    TestWorkflowRuleInput,
    UpdateWorkflowRuleInput,
    WorkflowRule,
    WorkflowRulePayload,
    WorkflowRuleTest,
    WorkflowRun,
)

from .mutation import named, run
from .visibility import visible_row
from .writes import acts

TRIGGER_OPTIONS = ("fields_changed", "topic", "stage", "status", "date_field", "offset_hours", "cron", "time_zone")


def _payload(m: service.WorkflowRule | None = None, user_errors: list | None = None) -> WorkflowRulePayload:
    return WorkflowRulePayload(workflow_rule=WorkflowRule.from_model(m) if m else None,
                               user_errors=user_errors or [])


def _limited(info: strawberry.Info, object_type: str) -> bool:
    """Whether the actor may write rules only for their team's records of this type (else FORBIDDEN when
    they may not even do that)."""
    guard = info.context.authz
    scope = guard.scopes[object_type] if object_type in OWNED_TYPES else Scope.NONE
    if guard.can("Policy", "manage") or scope is Scope.ORG:
        return False
    if scope is Scope.NONE:
        raise Forbidden(f"Your role may write rules only for records of its team, and {object_type} has none.")
    return True


def _local_user_ids(actions: Any) -> Any:
    """Actions as the domain takes them: user and assignment rule global ids as ids (NOT_FOUND for another type or
    garbage)."""
    if not isinstance(actions, list):
        return actions
    out = []
    for action in actions:
        if isinstance(action, dict):
            action = dict(action)
            if isinstance(action.get("userId"), str):
                action["userId"] = decode_id("User", action["userId"])
            if isinstance(action.get("users"), list):
                action["users"] = [decode_id("User", u) if isinstance(u, str) else u for u in action["users"]]
            if isinstance(action.get("assignmentRuleId"), str):
                action["assignmentRuleId"] = decode_id("AssignmentRule", action["assignmentRuleId"])
        out.append(action)
    return out


def _options(input_obj: Any) -> dict[str, Any]:
    names = {"fields_changed": "fieldsChanged", "date_field": "dateField", "offset_hours": "offsetHours",
             "time_zone": "timeZone"}
    return {names.get(k, k): v for k in TRIGGER_OPTIONS
            if (v := getattr(input_obj, k)) is not strawberry.UNSET and v is not None}


def _rule_input(input_obj: CreateWorkflowRuleInput) -> service.RuleInput:
    return service.RuleInput(name=input_obj.name, object_type=input_obj.object_type,
                             trigger=service.Trigger(input_obj.trigger), trigger_options=_options(input_obj),
                             conditions=input_obj.conditions, actions=_local_user_ids(input_obj.actions),
                             enabled=input_obj.enabled, position=input_obj.position)


@strawberry.type
class WorkflowRuleQuery:
    @strawberry.field(description="Your org's workflow rules, by record type and order (admins and sales managers).")
    async def workflow_rules(self, info: strawberry.Info, object_type: str | None = None) -> list[WorkflowRule]:
        ctx = info.context
        ctx.authz.require("WorkflowRule", "manage")
        async with ctx.read() as session:
            rules = await service.list_rules(session, ctx.actor.org_id, object_type)
        return [WorkflowRule.from_model(r) for r in rules]

    @strawberry.field(description="Runs of a rule and/or on a record, newest first (a sales manager sees the runs "
                                  "of their own rules).")
    async def workflow_runs(self, info: strawberry.Info, rule_id: strawberry.ID | None = None,
                            record_id: strawberry.ID | None = None, first: int | None = None,
                            after: str | None = None, last: int | None = None,
                            before: str | None = None) -> Connection[WorkflowRun]:
        ctx = info.context
        ctx.authz.require("WorkflowRule", "manage")
        req = PageRequest(first=first, after=after, last=last, before=before)
        req.validate()
        rule = decode_id("WorkflowRule", rule_id) if rule_id is not None else None
        record = None
        if record_id is not None:
            record = from_global_id(record_id)
            await visible_row(info, *record)
        await ctx.db.flush_later()  # runs that matched nothing are written just after their change commits
        async with ctx.read() as session:
            if rule is not None:
                await service.get_rule(session, ctx.actor.org_id, rule)  # NOT_FOUND for another org's
            mine = None if ctx.authz.can("Policy", "manage") else ctx.actor.user_id  # a manager: their rules' runs
            page = await service.list_runs(session, ctx.actor.org_id, req, rule_id=rule, record=record,
                                           author_id=mine, with_total=wants_total(info))
        return Connection.from_page(page, WorkflowRun.from_model)


    @strawberry.field(description="Dry-run a saved or draft rule on a record you may see; nothing is written.")
    async def test_workflow_rule(self, info: strawberry.Info, input: TestWorkflowRuleInput) -> WorkflowRuleTest:
        ctx = info.context
        ctx.authz.require("WorkflowRule", "manage")
        if (input.rule_id is None) == (input.rule is None):
            return WorkflowRuleTest(user_errors=[UserError.from_domain(FieldError(
                ("ruleId",), SharedErrorCode.REQUIRED, "give ruleId or rule (one of them)"))])
        record_type, record_pk = from_global_id(input.record_id)
        record = await visible_row(info, record_type, record_pk)
        async with ctx.read() as session:
            if input.rule_id is not None:
                rule = await service.get_rule(session, ctx.actor.org_id, decode_id("WorkflowRule", input.rule_id))
            else:
                try:
                    rule = service.draft_rule(ctx.actor, catalog(), _rule_input(input.rule),
                                              can_read=ctx.authz.can_read, readers=_readers(ctx))
                except ValidationFailed as exc:
                    return WorkflowRuleTest(user_errors=[UserError.from_domain(e) for e in exc.errors])
            if rule.object_type != record_type:
                raise NotFound(rule.object_type, input.record_id)
            outcome = await dry_run(session, rule, record_type, record)
        return WorkflowRuleTest(matched=outcome.matched, condition_results=outcome.results, actions=outcome.actions)


def _readers(ctx: Any) -> Callable[[str, str], frozenset[str]] | None:
    """The roles of the org's policy that may read a ``Type.field`` (what a rule writes into a record is read
    by whoever reads the record); None when authorization is off (everyone reads everything)."""
    policy = getattr(ctx.authz, "policy", None)
    if policy is None:
        return None
    guards = {role: Guard(policy, frozenset({role})) for role in ROLES}
    return lambda record_type, field: frozenset(r for r, g in guards.items() if g.can_read(record_type, field))


@strawberry.type
class WorkflowRuleMutation:
    @acts("WorkflowRule", "manage")
    @strawberry.mutation(description="A new workflow rule, checked against the registry and what you may read.")
    async def create_workflow_rule(self, info: strawberry.Info, input: CreateWorkflowRuleInput) -> WorkflowRulePayload:
        ctx = info.context
        limited = _limited(info, input.object_type)
        data = _rule_input(input)
        return await run(info, lambda s: service.create_rule(s, ctx.actor, catalog(), data,
                                                             can_read=ctx.authz.can_read, limited=limited,
                                                             readers=_readers(ctx)), _payload)

    @acts("WorkflowRule", "manage")
    @strawberry.mutation(description="A new version of a rule (its `version` goes up).")
    async def update_workflow_rule(self, info: strawberry.Info, input: UpdateWorkflowRuleInput) -> WorkflowRulePayload:
        ctx = info.context
        rule_id = decode_id("WorkflowRule", input.id)
        async with ctx.read() as session:
            current = await service.get_rule(session, ctx.actor.org_id, rule_id)
        limited = _limited(info, current.object_type)
        given = named(input)
        data = service.RuleInput(
            name=input.name if "name" in given else None,
            trigger=service.Trigger(input.trigger) if input.trigger not in (None, strawberry.UNSET) else None,
            trigger_options=_options(input), conditions=input.conditions if "conditions" in given else None,
            actions=_local_user_ids(input.actions) if "actions" in given else None,
            enabled=input.enabled if "enabled" in given else None,
            position=input.position if "position" in given else None,
            set_fields=given | ({"trigger"} if given & set(TRIGGER_OPTIONS) else set()))
        return await run(info, lambda s: service.update_rule(s, ctx.actor, catalog(), rule_id, input.version, data,
                                                             can_read=ctx.authz.can_read, limited=limited,
                                                             readers=_readers(ctx)), _payload)

    @acts("WorkflowRule", "manage")
    @strawberry.mutation(description="Switch a rule on or off.")
    async def set_workflow_rule_enabled(self, info: strawberry.Info,
                                        input: SetWorkflowRuleEnabledInput) -> WorkflowRulePayload:
        ctx = info.context
        rule_id = decode_id("WorkflowRule", input.id)
        async with ctx.read() as session:
            current = await service.get_rule(session, ctx.actor.org_id, rule_id)
        limited = _limited(info, current.object_type)
        return await run(info, lambda s: service.set_rule_enabled(s, ctx.actor, rule_id, input.enabled,
                                                                  limited=limited), _payload)

    @acts("WorkflowRule", "manage")
    @strawberry.mutation(description="Delete a rule (its runs go with it).")
    async def delete_workflow_rule(self, info: strawberry.Info,
                                   input: DeleteWorkflowRuleInput) -> DeleteWorkflowRulePayload:
        ctx = info.context
        rule_id = decode_id("WorkflowRule", input.id)
        async with ctx.read() as session:
            current = await service.get_rule(session, ctx.actor.org_id, rule_id)
        limited = _limited(info, current.object_type)

        def payload(m: Any = None, user_errors: list | None = None) -> DeleteWorkflowRulePayload:
            return DeleteWorkflowRulePayload(deleted_id=input.id if m is not None else None,
                                             user_errors=user_errors or [])

        return await run(info, lambda s: service.delete_rule(s, ctx.actor, rule_id, input.version, limited=limited),
                         payload)


__all__ = ["WorkflowRuleMutation", "WorkflowRuleQuery"]
