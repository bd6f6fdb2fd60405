"""Assignment rules: the admins' routing configuration (rules, their order, the fallback owner, users' leave)."""

from __future__ import annotations

import strawberry

from tandem.domain.automation import routing as service
from tandem.domain.tenancy.user import User as UserModel
from tandem.schema.assignment_rule import (
    AssignmentFallbackPayload,
    AssignmentObjectType,
    AssignmentRule,
    AssignmentRulePayload,
    AssignmentRulesPayload,
    Availability,
    AvailabilityPayload,
    CreateAssignmentRuleInput,
    DeleteAssignmentRuleInput,
    ReorderAssignmentRulesInput,
    SetAssignmentFallbackInput,
    SetAvailabilityInput,
    UpdateAssignmentRuleInput,
)
from tandem.schema.node import decode_id
from tandem.schema.user import User

from .mutation import named, opt_id, run, value
from .writes import acts

RULES = "AssignmentRule"
"""The policy object of routing configuration: admins (``*``) manage it; no other role has a rule for it."""


def _rule_payload(m: service.AssignmentRule | None = None, user_errors: list | None = None) -> AssignmentRulePayload:
    return AssignmentRulePayload(assignment_rule=AssignmentRule.from_model(m) if m else None,
                                 user_errors=user_errors or [])


def _rules_payload(rules: list | None = None, user_errors: list | None = None) -> AssignmentRulesPayload:
    return AssignmentRulesPayload(assignment_rules=[AssignmentRule.from_model(m) for m in rules or []],
                                  user_errors=user_errors or [])


def _member_ids(gids: list[strawberry.ID] | None) -> list[int] | None:
    return None if gids is None else [decode_id("User", gid) for gid in gids]


@strawberry.type
class AssignmentRuleQuery:
    @strawberry.field(description="The org's assignment rules in the order they are tried (admins).")
    async def assignment_rules(self, info: strawberry.Info,
                               object_type: AssignmentObjectType | None = None) -> list[AssignmentRule]:
        ctx = info.context
        ctx.authz.require(RULES, "read")
        async with ctx.read() as session:
            rules = await service.assignment_rules(session, ctx.actor.org_id,
                                                   service.RoutedType(object_type) if object_type else None)
        return [AssignmentRule.from_model(m) for m in rules]

    @strawberry.field(description="Who takes records no rule could route (null: their creators keep them; admins).")
    async def assignment_fallback(self, info: strawberry.Info) -> User | None:
        ctx = info.context
        ctx.authz.require(RULES, "read")
        async with ctx.read() as session:
            m = await service.assignment_fallback(session, ctx.actor.org_id)
        return User.from_model(m) if m else None


@strawberry.type
class AssignmentRuleMutation:
    @acts(RULES, "manage")
    @strawberry.mutation(description="A routing rule for new leads or opportunities, tried after the org's others "
                                     "(admins).")
    async def create_assignment_rule(self, info: strawberry.Info,
                                     input: CreateAssignmentRuleInput) -> AssignmentRulePayload:
        actor = info.context.actor
        data = service.AssignmentRuleInput(
            name=input.name, object_type=service.RoutedType(input.object_type), conditions=input.conditions,
            method=service.AssignmentMethod(input.method), member_ids=_member_ids(input.member_ids),
            team_id=opt_id("Team", input.team_id), respect_capacity=input.respect_capacity,
            skip_unavailable=input.skip_unavailable, response_hours=input.response_hours)
        return await run(info, lambda s: service.create_assignment_rule(s, actor, data), _rule_payload)

    @acts(RULES, "manage")
    @strawberry.mutation(description="Change a routing rule (admins).")
    async def update_assignment_rule(self, info: strawberry.Info,
                                     input: UpdateAssignmentRuleInput) -> AssignmentRulePayload:
        actor = info.context.actor
        pk = decode_id("AssignmentRule", input.id)
        object_type, method = value(input, "object_type"), value(input, "method")
        data = service.AssignmentRuleInput(
            name=value(input, "name"), object_type=service.RoutedType(object_type) if object_type else None,
            conditions=value(input, "conditions"), method=service.AssignmentMethod(method) if method else None,
            member_ids=_member_ids(value(input, "member_ids")), team_id=opt_id("Team", value(input, "team_id")),
            respect_capacity=value(input, "respect_capacity"), skip_unavailable=value(input, "skip_unavailable"),
            response_hours=value(input, "response_hours"), set_fields=named(input))
        return await run(info, lambda s: service.update_assignment_rule(s, actor, pk, input.version, data),
                         _rule_payload)

    @acts(RULES, "manage")
    @strawberry.mutation(description="Delete a routing rule; records it routed keep their owner and reason (admins).")
    async def delete_assignment_rule(self, info: strawberry.Info,
                                     input: DeleteAssignmentRuleInput) -> AssignmentRulePayload:
        actor = info.context.actor
        pk = decode_id("AssignmentRule", input.id)
        return await run(info, lambda s: service.delete_assignment_rule(s, actor, pk), _rule_payload)

    @acts(RULES, "manage")
    @strawberry.mutation(description="The order the org's routing rules are tried in (admins).")
    async def reorder_assignment_rules(self, info: strawberry.Info,
                                       input: ReorderAssignmentRulesInput) -> AssignmentRulesPayload:
        actor = info.context.actor
        ids = [decode_id("AssignmentRule", gid) for gid in input.ids]
        return await run(info, lambda s: service.reorder_assignment_rules(s, actor, ids), _rules_payload)

    @acts(RULES, "manage")
    @strawberry.mutation(description="Who takes records no rule could route (admins).")
    async def set_assignment_fallback(self, info: strawberry.Info,
                                      input: SetAssignmentFallbackInput) -> AssignmentFallbackPayload:
        actor = info.context.actor
        owner_id = opt_id("User", input.owner_id)

        def payload(m: UserModel | None = None, user_errors: list | None = None) -> AssignmentFallbackPayload:
            return AssignmentFallbackPayload(fallback_owner=User.from_model(m) if m else None,
                                             user_errors=user_errors or [])

        return await run(info, lambda s: service.set_assignment_fallback(s, actor, owner_id), payload)

    @acts(RULES, "manage")
    @strawberry.mutation(description="A user's leave: routing passes them over from `from` until `until` (admins).")
    async def set_availability(self, info: strawberry.Info, input: SetAvailabilityInput) -> AvailabilityPayload:
        actor = info.context.actor
        user_id = decode_id("User", input.user_id)

        def payload(m: UserModel | None = None, user_errors: list | None = None) -> AvailabilityPayload:
            if m is None:
                return AvailabilityPayload(user_errors=user_errors or [])
            return AvailabilityPayload(availability=Availability(
                user=User.from_model(m), away_from=input.from_, away_until=input.until))

        return await run(info, lambda s: service.set_availability(s, actor, user_id, input.from_, input.until),
                         payload)
